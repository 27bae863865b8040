//! Reading and checking the file. Errors carry file:line:column.

use std::fmt;
use std::path::{Path, PathBuf};

use super::input;
use super::locate::locate;
use super::{AgentBackend, BoardBackend, Config, env, paths};
use crate::board::TASK_KINDS;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// File name, or the environment variable that was wrong.
    pub origin: String,
    pub position: Option<(usize, usize)>,
    pub message: String,
}

impl ConfigError {
    /// An error about the file as a whole (cannot read it, not a regular file…).
    pub(super) fn file(file: &Path, message: String) -> Self {
        Self {
            origin: file.display().to_string(),
            position: None,
            message,
        }
    }

    pub(super) fn at(file: &Path, position: (usize, usize), message: String) -> Self {
        Self {
            origin: file.display().to_string(),
            position: Some(position),
            message,
        }
    }

    pub(super) fn env(name: &str, message: String) -> Self {
        Self {
            origin: name.to_string(),
            position: None,
            message,
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some((line, column)) => {
                write!(f, "{}:{line}:{column}: {}", self.origin, self.message)
            }
            None => write!(f, "{}: {}", self.origin, self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Loads the config named by flag/env, or the installed file; built-in defaults when the
/// installed file does not exist. Environment knobs are applied last.
pub fn load_default(flag: Option<PathBuf>) -> Result<Config, ConfigError> {
    let (path, explicit) = paths::config_path(flag);
    if !explicit && !path.exists() {
        let mut config = Config::default();
        env::apply(&mut config)?;
        return Ok(config);
    }
    load(&path)
}

pub fn load(path: &Path) -> Result<Config, ConfigError> {
    // Relative paths inside the file are taken from its directory, so it needs one.
    let path = &paths::absolute(path.to_path_buf());
    let text = input::read(path)?;
    let mut config = parse_str(&text, path)?;
    env::apply(&mut config)?;
    Ok(config)
}

/// Parses and checks YAML text; `path` names it in errors and anchors relative paths.
pub fn parse_str(text: &str, path: &Path) -> Result<Config, ConfigError> {
    // An empty file is a valid "all defaults" config.
    let mut config: Config = if text.trim().is_empty() {
        Config::default()
    } else {
        if let Some(position) = input::too_deep(text) {
            return Err(ConfigError::at(
                path,
                position,
                format!(
                    "`[`/`{{` nested more than {} deep; a config never needs that — is this the right file?",
                    input::MAX_FLOW_DEPTH
                ),
            ));
        }
        input::check_duplicate_keys(text, path)?;
        yaml_serde::from_str(text).map_err(|e| {
            let position = e
                .location()
                .map(|l| (l.line(), l.column()))
                .unwrap_or((1, 1));
            ConfigError::at(path, position, strip_location(&e.to_string()))
        })?
    };
    config.source = Some(path.to_path_buf());
    check(&config, text, path)?;
    resolve_relative_paths(&mut config, path);
    Ok(config)
}

/// yaml_serde appends " at line L column C"; we print the position in front instead.
fn strip_location(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(index) => message[..index].to_string(),
        None => message.to_string(),
    }
}

fn check(config: &Config, text: &str, path: &Path) -> Result<(), ConfigError> {
    let fail = |keys: &[&str], message: String| ConfigError::at(path, locate(text, keys), message);

    if config.agent.backend == AgentBackend::Command && config.agent.command.is_empty() {
        return Err(fail(
            &["agent", "backend"],
            "agent.backend is `command` but agent.command is empty; give the program and its arguments, e.g. command: [/usr/local/bin/my-agent, --flag]".into(),
        ));
    }
    for (kind, profile) in &config.agent.profiles {
        if !TASK_KINDS.contains(&kind.as_str()) {
            return Err(fail(
                &["agent", "profiles", kind],
                format!(
                    "unknown task kind `{kind}` in agent.profiles; expected one of {TASK_KINDS:?}"
                ),
            ));
        }
        let backend = profile.backend.unwrap_or(config.agent.backend);
        let command = profile.command.as_ref().unwrap_or(&config.agent.command);
        if backend == AgentBackend::Command && command.is_empty() {
            return Err(fail(
                &["agent", "profiles", kind],
                format!("agent profile `{kind}` uses backend `command` but has no command"),
            ));
        }
    }
    for kind in config.kodo_profiles.keys() {
        if kind != "default" && !TASK_KINDS.contains(&kind.as_str()) {
            return Err(fail(
                &["kodo_profiles", kind],
                format!(
                    "unknown task kind `{kind}` in kodo_profiles; expected `default` or one of {TASK_KINDS:?}"
                ),
            ));
        }
    }
    for (index, window) in config.maintenance_windows.iter().enumerate() {
        let keys = ["maintenance_windows", "start_hour"];
        let problem = if window.start_hour > 23 {
            Some(format!(
                "start_hour must be 0..=23, got {}",
                window.start_hour
            ))
        } else if window.end_hour > 24 {
            Some(format!("end_hour must be 0..=24, got {}", window.end_hour))
        } else {
            window
                .days
                .iter()
                .find(|d| **d > 6)
                .map(|d| format!("days are 0 (Monday) to 6 (Sunday), got {d}"))
        };
        if let Some(problem) = problem {
            let mut position = locate(text, &keys);
            // Point at the entry itself when there are several.
            position.0 += nth_entry_offset(text, index);
            return Err(ConfigError::at(
                path,
                position,
                format!("maintenance_windows[{index}]: {problem}"),
            ));
        }
    }
    for (key, repo) in &config.repos {
        if key.trim().is_empty() || key.contains(char::is_whitespace) {
            return Err(fail(
                &["repos", key],
                format!("repo key {key:?} must be one word (it is used in `repo: <key>` labels)"),
            ));
        }
        if repo.clone_url.trim().is_empty() {
            return Err(fail(
                &["repos", key, "clone_url"],
                format!("repos.{key}.clone_url is empty"),
            ));
        }
        if repo.validation_timeout_seconds == 0 {
            return Err(fail(
                &["repos", key, "validation_timeout_seconds"],
                "validation_timeout_seconds must be at least 1".into(),
            ));
        }
    }
    check_board(config, &fail)?;
    if config.cost_per_execution_usd.is_nan() || config.cost_per_execution_usd < 0.0 {
        return Err(fail(
            &["cost_per_execution_usd"],
            "cost_per_execution_usd must be zero or more".into(),
        ));
    }
    Ok(())
}

/// `backend: plane` needs where the board is and how to authenticate.
fn check_board(
    config: &Config,
    fail: &dyn Fn(&[&str], String) -> ConfigError,
) -> Result<(), ConfigError> {
    let board = &config.board;
    if board.backend != BoardBackend::Plane {
        for (key, set) in [
            ("base_url", board.base_url.is_some()),
            ("workspace_slug", board.workspace_slug.is_some()),
            ("project_id", board.project_id.is_some()),
        ] {
            if set {
                return Err(fail(
                    &["board", key],
                    format!(
                        "board.{key} is only used with `backend: plane`; set backend: plane or remove it"
                    ),
                ));
            }
        }
        return Ok(());
    }
    let required = [
        ("base_url", &board.base_url, "https://plane.example.com"),
        ("workspace_slug", &board.workspace_slug, "my-workspace"),
        (
            "project_id",
            &board.project_id,
            "<project UUID from the project's URL>",
        ),
    ];
    for (key, value, example) in required {
        if value.as_deref().is_none_or(|v| v.trim().is_empty()) {
            return Err(fail(
                &["board", "backend"],
                format!(
                    "board.backend is `plane` but board.{key} is missing; e.g. {key}: {example}"
                ),
            ));
        }
    }
    let base = board.base_url.as_deref().unwrap_or_default().trim();
    if !(base.starts_with("http://") || base.starts_with("https://")) {
        return Err(fail(
            &["board", "base_url"],
            format!("board.base_url {base:?} must start with http:// or https://"),
        ));
    }
    for (key, value) in [
        ("workspace_slug", &board.workspace_slug),
        ("project_id", &board.project_id),
    ] {
        if value.as_deref().is_some_and(|v| v.contains('/')) {
            return Err(fail(
                &["board", key],
                format!("board.{key} must not contain `/`"),
            ));
        }
    }
    if board
        .credential
        .as_deref()
        .is_some_and(|c| c.contains('/') || c.trim().is_empty())
    {
        return Err(fail(
            &["board", "credential"],
            "board.credential is a file name (e.g. plane-token), not a path".into(),
        ));
    }
    if board.sync_interval_seconds > board.full_resync_seconds {
        return Err(fail(
            &["board", "sync_interval_seconds"],
            "board.sync_interval_seconds must not exceed board.full_resync_seconds".into(),
        ));
    }
    Ok(())
}

/// Lines from the first `- start_hour` to the `index`-th list entry (0 for the first).
fn nth_entry_offset(text: &str, index: usize) -> usize {
    let (first_line, _) = locate(text, &["maintenance_windows", "start_hour"]);
    text.lines()
        .enumerate()
        .skip(first_line - 1)
        .filter(|(_, l)| l.trim_start().starts_with("- "))
        .nth(index)
        .map(|(n, _)| n + 1 - first_line)
        .unwrap_or(0)
}

/// Relative paths in the file are taken from the file's directory, whatever the working
/// directory of the process (docs/configuration.md lists the keys). Programs without a `/`
/// are looked up in PATH as usual; clone URLs with a `:` are URLs (or `host:path`).
fn resolve_relative_paths(config: &mut Config, path: &Path) {
    let dir = paths::absolute(path.parent().unwrap_or(Path::new("")).to_path_buf());
    let program = |program: &mut String| {
        if program.contains('/') && !Path::new(program.as_str()).is_absolute() {
            *program = dir.join(&*program).to_string_lossy().into_owned();
        }
    };
    program(&mut config.kodo.binary);
    program(&mut config.claude.binary);
    let commands = std::iter::once(&mut config.agent.command)
        .chain(
            config
                .agent
                .profiles
                .values_mut()
                .filter_map(|p| p.command.as_mut()),
        )
        .chain(config.ci_webhook.trigger_command.as_mut());
    for command in commands {
        if let Some(first) = command.first_mut() {
            program(first);
        }
    }
    let file = |file: &mut PathBuf| {
        if file.is_relative() {
            *file = dir.join(&*file);
        }
    };
    for repo in config.repos.values_mut() {
        let url = &mut repo.clone_url;
        if !url.contains(':') && Path::new(url.as_str()).is_relative() {
            *url = dir.join(&*url).to_string_lossy().into_owned();
        }
        if let Some(local) = repo.local_path.as_mut() {
            file(local);
        }
    }
    for source in &mut config.error_ingest.log_sources {
        file(&mut source.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        parse_str(text, Path::new("/etc/oc/config.yaml"))
    }

    #[test]
    fn unknown_key_names_file_line_and_column() {
        let err = parse("board:\n  backend: local\nrepos:\n  demo:\n    clone_url: /x\n    validaton_commands: []\n")
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with(
                "/etc/oc/config.yaml:6:5: repos.demo: unknown field `validaton_commands`"
            ),
            "{text}"
        );
    }

    #[test]
    fn wrong_type_is_located() {
        let err = parse("max_concurrent_kodo: many\n").unwrap_err();
        assert_eq!(err.position.map(|p| p.0), Some(1), "{err}");
        assert!(err.message.contains("invalid type"), "{err}");
    }

    #[test]
    fn missing_clone_url_is_located_at_the_repo() {
        let err = parse("repos:\n  demo:\n    default_branch: main\n").unwrap_err();
        assert!(err.to_string().contains("config.yaml:3:"), "{err}");
        assert!(err.message.contains("clone_url"), "{err}");
    }

    #[test]
    fn command_backend_needs_a_command() {
        let err = parse("agent:\n  backend: command\n").unwrap_err();
        assert_eq!(err.position, Some((2, 3)), "{err}");
    }

    #[test]
    fn bad_maintenance_window_points_at_its_entry() {
        let err = parse("maintenance_windows:\n  - start_hour: 2\n    end_hour: 4\n  - start_hour: 30\n    end_hour: 4\n")
            .unwrap_err();
        assert_eq!(err.position.map(|p| p.0), Some(4), "{err}");
    }

    #[test]
    fn full_example_parses_with_defaults() {
        let c = parse(
            "board: {backend: local}\nagent:\n  backend: command\n  command: [./agent.sh]\n  timeout_seconds: 30\nrepos:\n  demo:\n    clone_url: /srv/demo.git\n    validation_commands: [\"test -f README\"]\n",
        )
        .unwrap();
        assert_eq!(c.repos["demo"].default_branch, "main");
        assert_eq!(c.limits.max_exec_per_hour, 10);
        assert_eq!(c.max_concurrent_kodo, 1);
        assert_eq!(c.min_kodo_available_mb, 400);
        assert_eq!(c.agent_for("goal").timeout.as_secs(), 30);
    }
}
