//! A bad config is one clear message naming file, line and column, and exit 78 (EX_CONFIG)
//! from `oc config validate` and from the lane daemon alike, so systemd does not restart-loop.

mod support;

use std::process::Output;
use std::time::Duration;

use support::{OC_GOAL, World};

const EX_CONFIG: i32 = 78;

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The `error: …` line of a failed command.
fn error_line(out: &Output) -> String {
    let text = stderr(out);
    text.lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("no `error: ` line in stderr:\n{text}"))
        .to_string()
}

fn validate(w: &World, env: &[(&str, &str)]) -> Output {
    w.oc_env(&["config", "validate"], env)
}

fn lane(w: &World, env: &[(&str, &str)]) -> Output {
    let mut c = w.command(OC_GOAL);
    c.args(["--slot", "slot1", "--max-cycles", "1"]);
    for (k, v) in env {
        c.env(k, v);
    }
    w.output(c, Duration::from_secs(60))
}

/// Writes `text` as the config and checks both binaries reject it the same way; returns
/// the error line.
fn rejected(w: &World, text: &str, env: &[(&str, &str)]) -> String {
    std::fs::write(&w.config_path, text).unwrap();
    let out = validate(w, env);
    assert_eq!(
        out.status.code(),
        Some(EX_CONFIG),
        "oc config validate: {}\n{}",
        out.status,
        stderr(&out)
    );
    let message = error_line(&out);
    let daemon = lane(w, env);
    assert_eq!(
        daemon.status.code(),
        Some(EX_CONFIG),
        "oc-goal: {}\n{}",
        daemon.status,
        stderr(&daemon)
    );
    assert_eq!(error_line(&daemon), message, "oc-goal says something else");
    message
}

/// The line number in `error: <file>:<line>:<col>: …`.
fn line_of(message: &str, file: &str) -> usize {
    let rest = message
        .split_once(&format!("{file}:"))
        .unwrap_or_else(|| panic!("{message:?} does not name {file}"))
        .1;
    rest.split(':')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no line number in {message:?}"))
}

#[test]
fn valid_config_passes() {
    let w = World::new();
    w.write_config();
    let out = validate(&w, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("OK"), "{stdout}");
}

#[test]
fn unknown_key_names_file_line_and_column() {
    let w = World::new();
    let text = format!(
        "board: {{backend: local}}\n\
         agent: {{backend: command, command: [/bin/true]}}\n\
         repos:\n  \
           demo:\n    \
             clone_url: {}\n    \
             validaton_commands: [\"true\"]\n",
        support::yaml_str(&w.remote.to_string_lossy())
    );
    assert_eq!(
        text.lines().nth(5).unwrap().trim(),
        "validaton_commands: [\"true\"]"
    );
    let message = rejected(&w, &text, &[]);
    let path = w.config_path.display().to_string();
    assert!(
        message.starts_with(&format!("error: {path}:6:5: ")),
        "{message}"
    );
    assert!(message.contains("validaton_commands"), "{message}");
}

#[test]
fn wrong_type_names_its_line() {
    let w = World::new();
    let text = format!(
        "board: {{backend: local}}\n\
         agent: {{backend: command, command: [/bin/true]}}\n\
         limits:\n  \
           max_exec_per_hour: lots\n\
         repos:\n  \
           demo:\n    \
             clone_url: {}\n",
        support::yaml_str(&w.remote.to_string_lossy())
    );
    let message = rejected(&w, &text, &[]);
    assert_eq!(line_of(&message, "config.yaml"), 4, "{message}");
    assert!(message.contains("max_exec_per_hour"), "{message}");
}

#[test]
fn missing_clone_url_names_the_repo() {
    let w = World::new();
    let text = "board: {backend: local}\n\
                agent: {backend: command, command: [/bin/true]}\n\
                repos:\n  \
                  demo:\n    \
                    default_branch: main\n    \
                    validation_commands: [\"true\"]\n";
    let message = rejected(&w, text, &[]);
    let line = line_of(&message, "config.yaml");
    assert!(
        (4..=6).contains(&line),
        "line {line} is not the demo repo's (lines 4-6): {message}"
    );
    assert!(message.contains("clone_url"), "{message}");
}

#[test]
fn invalid_environment_knob_names_the_variable() {
    let w = World::new();
    w.write_config();
    let text = std::fs::read_to_string(&w.config_path).unwrap();
    let message = rejected(&w, &text, &[("OPERATIONS_CENTER_MAX_EXEC_PER_DAY", "lots")]);
    assert!(
        message.starts_with("error: OPERATIONS_CENTER_MAX_EXEC_PER_DAY"),
        "{message}"
    );
    assert!(message.contains("lots"), "{message}");
}

#[test]
fn config_error_is_reported_once() {
    // One clear message (DESIGN §3), not the same error twice on stderr.
    let w = World::new();
    std::fs::write(&w.config_path, "board: {backend: local}\nbogus_key: 1\n").unwrap();
    for out in [validate(&w, &[]), lane(&w, &[])] {
        assert_eq!(out.status.code(), Some(EX_CONFIG));
        let text = stderr(&out);
        let needle = format!("{}:2:1:", w.config_path.display());
        assert_eq!(
            text.matches(&needle).count(),
            1,
            "the error should appear once on stderr:\n{text}"
        );
    }
}

/// Runs both binaries with `OPERATIONS_CENTER_CONFIG=<config>` and checks they reject it
/// with exit 78 and the same message; returns the error line.
fn rejected_path(w: &World, config: &std::path::Path) -> String {
    let env = [("OPERATIONS_CENTER_CONFIG", config.to_str().unwrap())];
    let out = validate(w, &env);
    assert_eq!(out.status.code(), Some(EX_CONFIG), "{}", stderr(&out));
    let message = error_line(&out);
    let daemon = lane(w, &env);
    assert_eq!(daemon.status.code(), Some(EX_CONFIG), "{}", stderr(&daemon));
    assert_eq!(error_line(&daemon), message, "oc-goal says something else");
    message
}

#[test]
fn deeply_nested_brackets_are_refused_before_parsing() {
    // 200 KB of `[` once kept the parser busy for 26 s per binary; now the nesting is
    // bounded before the parser sees the text, whatever the file's size.
    let w = World::new();
    let text = format!(
        "board: {{backend: local}}\nrepos: {}\n",
        "[".repeat(200_000)
    );
    let message = rejected(&w, &text, &[]);
    let path = w.config_path.display().to_string();
    // The 65th `[` of line 2 is the first one too deep.
    assert!(
        message.starts_with(&format!("error: {path}:2:72: ")),
        "{message}"
    );
    assert!(message.contains("nested more than 64 deep"), "{message}");
}

#[test]
fn device_and_fifo_are_refused_as_not_regular_files() {
    let w = World::new();
    let message = rejected_path(&w, std::path::Path::new("/dev/zero"));
    assert_eq!(
        message,
        "error: /dev/zero: the config must be a regular file, this is a character device; point --config or OPERATIONS_CENTER_CONFIG at a YAML file"
    );

    // Nobody ever writes into this FIFO: reading it would block forever.
    let fifo = w.path().join("config.fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    let message = rejected_path(&w, &fifo);
    assert!(
        message.starts_with(&format!("error: {}: ", fifo.display())),
        "{message}"
    );
    assert!(message.contains("this is a FIFO (named pipe)"), "{message}");
}

#[test]
fn oversized_file_is_refused() {
    // Valid YAML (comments only) of 1 MiB + 1 byte: too large to be a config.
    let w = World::new();
    let mut text =
        "# padding padding padding padding padding padding padding padding\n".repeat(16 * 1024);
    text.truncate(1024 * 1024);
    text.push('\n');
    assert_eq!(text.len(), 1024 * 1024 + 1);
    let message = rejected(&w, &text, &[]);
    let path = w.config_path.display().to_string();
    assert_eq!(
        message,
        format!(
            "error: {path}: the config is larger than 1024 KiB (1048577 bytes on disk); a config is a few KiB — is this the right file?"
        )
    );
}

#[test]
fn duplicate_keys_are_refused_with_both_lines() {
    let w = World::new();
    let url = support::yaml_str(&w.remote.to_string_lossy());
    let path = w.config_path.display().to_string();
    // Two `repos.demo`: YAML would silently keep the second.
    let text = format!(
        "board: {{backend: local}}\n\
         repos:\n  \
           demo:\n    \
             clone_url: {url}\n  \
           demo:\n    \
             clone_url: {url}\n    \
             default_branch: develop\n"
    );
    let message = rejected(&w, &text, &[]);
    assert_eq!(
        message,
        format!(
            "error: {path}:5:3: `repos.demo` is given twice (first at line 3, column 3, again here); YAML would silently keep only the second — merge them or rename one"
        )
    );

    // Deeper: the same variable twice in a repo's `env`.
    let text = format!(
        "repos:\n  \
           demo:\n    \
             clone_url: {url}\n    \
             env:\n      \
               RUST_LOG: info\n      \
               RUST_LOG: debug\n"
    );
    let message = rejected(&w, &text, &[]);
    assert!(
        message.starts_with(&format!(
            "error: {path}:6:7: `repos.demo.env.RUST_LOG` is given twice (first at line 5, column 7"
        )),
        "{message}"
    );
}
