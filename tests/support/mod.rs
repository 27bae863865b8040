//! Shared helpers for the integration tests: a throwaway world (temp dir, bare git repos,
//! config file, state directory, scripted agents) and ways to drive the real binaries.
//!
//! Every command gets its config and state directory through its own environment, never
//! through the test process's, so tests running in parallel cannot see each other.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

#[path = "../support_plane/mod.rs"]
pub mod fake_plane;

pub const OC: &str = env!("CARGO_BIN_EXE_oc");
pub const OC_GOAL: &str = env!("CARGO_BIN_EXE_oc-goal");

/// Absolute path of a file under `shared/testdata/` (beside the repository).
#[macro_export]
macro_rules! testdata {
    ($rel:literal) => {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/testdata/", $rel)
    };
}

/// The task branch the lane pushes for task `id` titled with `slug`.
pub fn task_branch(id: &str, slug: &str) -> String {
    format!("oc/{}-{slug}", id.to_ascii_lowercase())
}

/// How long a single `oc` command may take before the test gives up on it.
pub const COMMAND_DEADLINE: Duration = Duration::from_secs(120);

/// Polls `cond` every 50 ms until it holds or `timeout` passes; returns whether it held.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A process that exists and is not a zombie (what `ps` would show as running).
pub fn pid_alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            // The state letter follows the last ')' (the command name may contain spaces).
            let state = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next())
                .unwrap_or("X");
            state != "Z" && state != "X"
        }
        Err(_) => false,
    }
}

/// Live (non-zombie) processes whose process group is `pgid`.
pub fn group_members(pgid: i32) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                return false;
            };
            let Some((_, rest)) = stat.rsplit_once(')') else {
                return false;
            };
            let fields: Vec<&str> = rest.split_whitespace().collect();
            // fields[0] = state, [1] = ppid, [2] = pgrp
            fields.len() > 2
                && fields[0] != "Z"
                && fields[0] != "X"
                && fields[2].parse::<i32>() == Ok(pgid)
        })
        .collect()
}

/// Reads a pid written by an agent script.
pub fn read_pid(path: &Path) -> i32 {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("pid in {}: {e}", path.display()))
}

/// Quotes a string for YAML (a JSON string is a valid YAML flow scalar).
pub fn yaml_str(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}

/// Quotes a string for a POSIX shell.
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// One repo entry of the config.
#[derive(Debug, Clone)]
pub struct RepoSpec {
    pub clone_url: PathBuf,
    pub validation_commands: Vec<String>,
    /// Extra `key: value` lines (raw YAML values), e.g. `max_daily_executions: 1`.
    pub extra: Vec<(String, String)>,
}

/// The config file, built up by a test and rendered to YAML.
#[derive(Debug, Clone)]
pub struct ConfigSpec {
    pub agent_command: Vec<String>,
    pub agent_timeout_seconds: u64,
    /// Extra raw lines under `agent:` (e.g. `quota_cooldown_seconds: 60`).
    pub agent_extra: Vec<(String, String)>,
    /// 0 everywhere except the kodo-gate test: other tests must not see its fake kodo.
    pub max_concurrent_kodo: u32,
    pub min_kodo_available_mb: u64,
    /// `limits:` entries as raw YAML values.
    pub limits: BTreeMap<String, String>,
    pub repos: BTreeMap<String, RepoSpec>,
    /// Raw top-level YAML appended at the end (maintenance_windows, cost_per_execution_usd…).
    pub extra: String,
    /// The `board:` mapping as flow YAML.
    pub board: String,
}

impl ConfigSpec {
    pub fn render(&self) -> String {
        let mut y = format!("board: {}\nagent:\n  backend: command\n", self.board);
        let command: Vec<String> = self.agent_command.iter().map(|c| yaml_str(c)).collect();
        y.push_str(&format!("  command: [{}]\n", command.join(", ")));
        y.push_str(&format!(
            "  timeout_seconds: {}\n",
            self.agent_timeout_seconds
        ));
        for (k, v) in &self.agent_extra {
            y.push_str(&format!("  {k}: {v}\n"));
        }
        y.push_str(&format!(
            "max_concurrent_kodo: {}\nmin_kodo_available_mb: {}\n",
            self.max_concurrent_kodo, self.min_kodo_available_mb
        ));
        if !self.limits.is_empty() {
            y.push_str("limits:\n");
            for (k, v) in &self.limits {
                y.push_str(&format!("  {k}: {v}\n"));
            }
        }
        y.push_str("repos:\n");
        for (key, repo) in &self.repos {
            y.push_str(&format!("  {key}:\n"));
            y.push_str(&format!(
                "    clone_url: {}\n",
                yaml_str(&repo.clone_url.to_string_lossy())
            ));
            let validation: Vec<String> = repo
                .validation_commands
                .iter()
                .map(|c| yaml_str(c))
                .collect();
            y.push_str(&format!(
                "    validation_commands: [{}]\n",
                validation.join(", ")
            ));
            for (k, v) in &repo.extra {
                y.push_str(&format!("    {k}: {v}\n"));
            }
        }
        y.push_str(&self.extra);
        y
    }
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// One test's world: a temp dir holding the bare repos, config, state dir and agents.
pub struct World {
    pub dir: tempfile::TempDir,
    pub state: PathBuf,
    pub config_path: PathBuf,
    /// The `demo` bare repo (a `main` branch with README.md).
    pub remote: PathBuf,
    /// An empty git config so the user's own settings (signing, hooks) stay out.
    pub gitconfig: PathBuf,
    pub config: ConfigSpec,
    /// The fake Plane behind the board when the world runs on the Plane backend.
    pub plane: Option<fake_plane::FakePlane>,
}

/// Env var naming the board backend the scenario tests run on: `local` (default) or
/// `plane` (a fake Plane per world). scripts/test-all runs the scenarios on both.
pub const BOARD_ENV: &str = "OC_TEST_BOARD";
/// The credential file (beside the config, in `credentials/`) holding the Plane key, so
/// the binaries and in-process library calls find it alike.
pub const PLANE_CREDENTIAL: &str = "plane-token";

pub fn plane_backend_selected() -> bool {
    std::env::var(BOARD_ENV).is_ok_and(|v| v == "plane")
}

/// The `board:` flow mapping for a fake Plane at `base_url`.
pub fn plane_board_yaml(base_url: &str, extra: &str) -> String {
    format!(
        "{{backend: plane, base_url: {base_url}, workspace_slug: {}, project_id: {}, credential: {PLANE_CREDENTIAL}, sync_interval_seconds: 0, claim_settle_ms: 50{extra}}}",
        fake_plane::WORKSPACE_SLUG,
        fake_plane::PROJECT_ID
    )
}

impl World {
    /// A world with a `demo` repo (validation `test -f CHANGES.md`) and `agent` as the agent.
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("oc-it-")
            .tempdir()
            .expect("temp dir");
        let gitconfig = dir.path().join("gitconfig");
        std::fs::write(&gitconfig, "").unwrap();
        let state = dir.path().join("state");
        let config_path = dir.path().join("config.yaml");
        let mut world = World {
            state,
            config_path,
            remote: PathBuf::new(),
            gitconfig,
            config: ConfigSpec {
                agent_command: vec!["/bin/true".into()],
                agent_timeout_seconds: 60,
                agent_extra: Vec::new(),
                max_concurrent_kodo: 0,
                min_kodo_available_mb: 0,
                limits: BTreeMap::new(),
                repos: BTreeMap::new(),
                extra: String::new(),
                board: "{backend: local}".into(),
            },
            dir,
            plane: None,
        };
        if plane_backend_selected() {
            world.use_plane(fake_plane::FakePlane::with_rate_limit(
                1_000_000,
                Duration::from_secs(60),
            ));
        }
        world.remote = world.bare_repo("demo");
        world.config.repos.insert(
            "demo".into(),
            RepoSpec {
                clone_url: world.remote.clone(),
                validation_commands: vec!["test -f CHANGES.md".into()],
                extra: Vec::new(),
            },
        );
        // Every command reads the config (it names the board backend).
        world.write_config();
        world
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A world on a fresh fake Plane with no rate limit to speak of (tests that want one
    /// set it), its config written. Under `OC_TEST_BOARD=plane` the world's own fake is kept.
    pub fn on_plane() -> Self {
        let mut w = Self::new();
        if w.plane.is_none() {
            w.use_plane(fake_plane::FakePlane::with_rate_limit(
                1_000_000,
                Duration::from_secs(60),
            ));
        }
        w.write_config();
        w
    }

    /// Puts the board on `fake` (call `write_config` afterwards if the config was written).
    pub fn use_plane(&mut self, fake: fake_plane::FakePlane) {
        let credentials = self.path().join("credentials");
        std::fs::create_dir_all(&credentials).unwrap();
        std::fs::write(
            credentials.join(PLANE_CREDENTIAL),
            format!("{}\n", fake_plane::API_KEY),
        )
        .unwrap();
        self.config.board = plane_board_yaml(&fake.base_url(), "");
        self.plane = Some(fake);
    }

    pub fn fake_plane(&self) -> &fake_plane::FakePlane {
        self.plane
            .as_ref()
            .expect("this world runs on the Plane backend")
    }

    /// Writes the config file from `self.config`.
    pub fn write_config(&self) {
        std::fs::write(&self.config_path, self.config.render()).expect("write config");
    }

    /// Sets the agent to a new `#!/bin/sh` script with `body` and writes the config.
    pub fn use_agent(&mut self, body: &str) -> PathBuf {
        let path = self.script("agent.sh", body);
        self.config.agent_command = vec![path.to_string_lossy().into_owned()];
        self.write_config();
        path
    }

    /// Writes an executable `#!/bin/sh` script into the temp dir.
    pub fn script(&self, name: &str, body: &str) -> PathBuf {
        let path = self.path().join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write script");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    /// A bare repo `<tmp>/<name>.git` with a `main` branch holding README.md.
    pub fn bare_repo(&self, name: &str) -> PathBuf {
        let bare = self.path().join(format!("{name}.git"));
        let seed = self.path().join(format!("{name}-seed"));
        self.git(
            self.path(),
            &[
                "init",
                "--quiet",
                "--bare",
                "-b",
                "main",
                &bare.to_string_lossy(),
            ],
        );
        self.git(
            self.path(),
            &[
                "clone",
                "--quiet",
                &bare.to_string_lossy(),
                &seed.to_string_lossy(),
            ],
        );
        std::fs::write(seed.join("README.md"), format!("# {name}\n")).unwrap();
        self.git(&seed, &["checkout", "--quiet", "-b", "main"]);
        self.git(&seed, &["add", "README.md"]);
        self.git(
            &seed,
            &[
                "-c",
                "user.name=Test Seeder",
                "-c",
                "user.email=seeder@example.com",
                "commit",
                "--quiet",
                "-m",
                "Initial commit",
            ],
        );
        self.git(&seed, &["push", "--quiet", "origin", "main"]);
        bare
    }

    fn git_command(&self, cwd: &Path) -> Command {
        let mut c = Command::new("git");
        c.current_dir(cwd)
            .env("GIT_CONFIG_GLOBAL", &self.gitconfig)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_TERMINAL_PROMPT", "0")
            .stdin(Stdio::null());
        c
    }

    /// Runs git and returns stdout; panics on failure.
    pub fn git(&self, cwd: &Path, args: &[&str]) -> String {
        let out = self.git_command(cwd).args(args).output().expect("run git");
        assert!(
            out.status.success(),
            "git {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs git and returns (success, stdout).
    pub fn git_try(&self, cwd: &Path, args: &[&str]) -> (bool, String) {
        let out = self.git_command(cwd).args(args).output().expect("run git");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    }

    /// Branch names (without `refs/heads/`) in a bare repo.
    pub fn remote_branches(&self, bare: &Path) -> Vec<String> {
        self.git(
            self.path(),
            &["ls-remote", "--heads", &bare.to_string_lossy()],
        )
        .lines()
        .filter_map(|l| l.split_once("refs/heads/").map(|(_, b)| b.to_string()))
        .collect()
    }

    /// Branches under `oc/` in a bare repo.
    pub fn oc_branches(&self, bare: &Path) -> Vec<String> {
        self.remote_branches(bare)
            .into_iter()
            .filter(|b| b.starts_with("oc/"))
            .collect()
    }

    /// A command for one of our binaries with this world's config and state dir, and
    /// nothing inherited that could steer it elsewhere (journald, sd_notify, knobs).
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("OPERATIONS_CENTER_") {
                c.env_remove(&name);
            }
        }
        for name in [
            "JOURNAL_STREAM",
            "NOTIFY_SOCKET",
            "WATCHDOG_USEC",
            "WATCHDOG_PID",
            "STATE_DIRECTORY",
            "CONFIGURATION_DIRECTORY",
            "RUNTIME_DIRECTORY",
            "CREDENTIALS_DIRECTORY",
        ] {
            c.env_remove(name);
        }
        c.env("OPERATIONS_CENTER_CONFIG", &self.config_path)
            .env("OPERATIONS_CENTER_STATE_DIR", &self.state)
            .env("GIT_CONFIG_GLOBAL", &self.gitconfig)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .current_dir(self.path())
            .stdin(Stdio::null());
        c
    }

    /// Runs `oc <args>` to completion (bounded by [`COMMAND_DEADLINE`]).
    pub fn oc(&self, args: &[&str]) -> Output {
        self.oc_env(args, &[])
    }

    /// Runs `oc <args>` with extra environment variables.
    pub fn oc_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut c = self.command(OC);
        c.args(args);
        for (k, v) in env {
            c.env(k, v);
        }
        self.output(c, COMMAND_DEADLINE)
    }

    /// Runs a command with its output in files (no pipe can hang it), killing it at the
    /// deadline.
    pub fn output(&self, mut c: Command, deadline: Duration) -> Output {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let out_path = self.path().join(format!("cmd-{n}.stdout"));
        let err_path = self.path().join(format!("cmd-{n}.stderr"));
        c.stdout(File::create(&out_path).unwrap())
            .stderr(File::create(&err_path).unwrap());
        let mut child = c.spawn().expect("spawn command");
        let mut status = None;
        wait_until(deadline, || {
            status = child.try_wait().expect("try_wait");
            status.is_some()
        });
        let status = match status {
            Some(s) => s,
            None => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "{c:?} did not finish within {deadline:?}; stderr:\n{}",
                    std::fs::read_to_string(&err_path).unwrap_or_default()
                );
            }
        };
        Output {
            status,
            stdout: std::fs::read(&out_path).unwrap_or_default(),
            stderr: std::fs::read(&err_path).unwrap_or_default(),
        }
    }

    /// Runs `oc <args>`, asserts exit 0, returns trimmed stdout.
    pub fn oc_ok(&self, args: &[&str]) -> String {
        let out = self.oc(args);
        assert!(
            out.status.success(),
            "oc {args:?} failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// `oc task add --title T --repo demo --body '## Goal …' <extra>`; returns the id.
    /// The id the n-th task added to a fresh world gets (`T-n` on the embedded board); on
    /// Plane ids are UUIDs, so there the given id is returned as is.
    pub fn nth_id(&self, n: usize, id: &str) -> String {
        if self.plane.is_some() {
            id.to_string()
        } else {
            format!("T-{n}")
        }
    }

    pub fn add_task(&self, title: &str, extra: &[&str]) -> String {
        let mut args = vec!["task", "add", "--title", title];
        args.extend_from_slice(extra);
        let id = self.oc_ok(&args);
        if self.plane.is_some() {
            // A Plane work item's UUID, and the item really is on the fake.
            assert_eq!(id.len(), 36, "unexpected id {id:?}");
            assert!(
                self.fake_plane()
                    .world(|w| w.items.iter().any(|i| i.id == id)),
                "{id} is not on the fake Plane"
            );
        } else {
            assert!(id.starts_with("T-"), "unexpected id {id:?}");
        }
        id
    }

    /// A goal task on repo `demo` with a plain goal.
    pub fn add_goal(&self, title: &str) -> String {
        self.add_task(
            title,
            &[
                "--repo",
                "demo",
                "--body",
                "## Goal\nAdd a CHANGES.md file describing the release.",
            ],
        )
    }

    /// `oc task show ID --json`.
    pub fn task_json(&self, id: &str) -> Value {
        let text = self.oc_ok(&["task", "show", id, "--json"]);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("task show JSON: {e}\n{text}"))
    }

    pub fn task_state(&self, id: &str) -> String {
        self.task_json(id)["state"]
            .as_str()
            .expect("state")
            .to_string()
    }

    /// `oc task list --json`, optionally filtered by state.
    pub fn task_list(&self, state: Option<&str>) -> Vec<Value> {
        let mut args = vec!["task", "list", "--json"];
        if let Some(s) = state {
            args.extend(["--state", s]);
        }
        let text = self.oc_ok(&args);
        serde_json::from_str::<Value>(&text)
            .unwrap_or_else(|e| panic!("task list JSON: {e}\n{text}"))
            .as_array()
            .cloned()
            .expect("array")
    }

    /// `oc run-next`: asserts exit 0 and returns its one stdout line.
    pub fn run_next(&self) -> String {
        self.oc_ok(&["run-next"])
    }

    /// `oc --log-format json run-next`: (stdout line, JSON log events).
    pub fn run_next_json(&self) -> (String, Vec<Value>) {
        self.run_next_json_env(&[])
    }

    pub fn run_next_json_env(&self, env: &[(&str, &str)]) -> (String, Vec<Value>) {
        let out = self.oc_env(&["--log-format", "json", "run-next"], env);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "oc run-next failed: {stderr}");
        (
            String::from_utf8_lossy(&out.stdout).trim().to_string(),
            json_lines(&stderr),
        )
    }

    /// Workspace directories present under the state dir.
    pub fn workspaces(&self) -> Vec<PathBuf> {
        match std::fs::read_dir(self.state.join("workspaces")) {
            Ok(entries) => entries.filter_map(Result::ok).map(|e| e.path()).collect(),
            Err(_) => Vec::new(),
        }
    }

    pub fn workspace_for(&self, run_id: &str) -> PathBuf {
        self.state.join("workspaces").join(format!("oc-{run_id}"))
    }

    /// Starts the goal lane daemon with JSON logs captured to a file.
    pub fn spawn_lane(&self, slot: &str, extra_args: &[&str], env: &[(&str, &str)]) -> Lane {
        let log = self.path().join(format!("oc-goal-{slot}.log"));
        let stdout = self.path().join(format!("oc-goal-{slot}.stdout"));
        let mut c = self.command(OC_GOAL);
        c.args(["--slot", slot, "--log-format", "json"])
            .args(extra_args)
            .stdout(File::create(&stdout).unwrap())
            .stderr(File::create(&log).unwrap());
        for (k, v) in env {
            c.env(k, v);
        }
        let child = c.spawn().expect("spawn oc-goal");
        Lane {
            child,
            log,
            status: None,
        }
    }
}

impl Default for World {
    fn default() -> Self {
        Self::new()
    }
}

/// A running `oc-goal`. Dropping it stops it (SIGTERM, then SIGKILL) if the test did not.
pub struct Lane {
    pub child: Child,
    pub log: PathBuf,
    status: Option<ExitStatus>,
}

impl Lane {
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Every JSON log line so far.
    pub fn events(&self) -> Vec<Value> {
        json_lines(&self.log_text())
    }

    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid()), signal)
            .expect("signal oc-goal");
    }

    /// Waits for the process to exit; None if it is still running at the deadline.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        if self.status.is_none() {
            let child = &mut self.child;
            let mut status = None;
            wait_until(timeout, || {
                status = child.try_wait().expect("try_wait");
                status.is_some()
            });
            self.status = status;
        }
        self.status
    }
}

impl Drop for Lane {
    fn drop(&mut self) {
        if self.status.is_some() {
            return;
        }
        if let Ok(None) = self.child.try_wait() {
            self.signal(nix::sys::signal::Signal::SIGTERM);
            if self.wait_exit(Duration::from_secs(15)).is_none() {
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
    }
}

/// The JSON objects among the lines of a log.
pub fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l.trim()).ok())
        .filter(Value::is_object)
        .collect()
}

/// Events named `name`.
pub fn events_named<'a>(events: &'a [Value], name: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| e["event"].as_str() == Some(name))
        .collect()
}

/// The comments of a task (from `task show --json`) as (author, body).
pub fn comments(task: &Value) -> Vec<(String, String)> {
    task["comments"]
        .as_array()
        .expect("comments array")
        .iter()
        .map(|c| {
            (
                c["author"].as_str().unwrap_or_default().to_string(),
                c["body"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// The last comment whose body starts with `prefix`.
pub fn comment_starting(task: &Value, prefix: &str) -> String {
    comments(task)
        .into_iter()
        .rev()
        .map(|(_, body)| body)
        .find(|b| b.starts_with(prefix))
        .unwrap_or_else(|| {
            panic!(
                "no comment starting with {prefix:?}; comments: {:#?}",
                comments(task)
            )
        })
}

/// The value of the `- key: value` bullet in a comment.
pub fn bullet(body: &str, key: &str) -> Option<String> {
    let prefix = format!("- {key}:");
    body.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map(|v| v.trim().to_string())
}

/// The executions of a task (from `task show --json`).
pub fn executions(task: &Value) -> Vec<Value> {
    task["executions"]
        .as_array()
        .expect("executions array")
        .clone()
}
