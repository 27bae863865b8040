//! What an agent, a bootstrap and a validation command (and a git hook the agent leaves
//! for the lane's own git) can get from the lane that runs them: nothing secret, only
//! what the config passes on by name. And whatever an agent detaches with `setsid` ends
//! with its run, however the run ends.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::Signal;
use support::{World, pid_alive, read_pid, sh_quote, yaml_str};

/// Secrets the lane holds: in its environment and as credential files.
const ENV_SECRETS: [(&str, &str); 5] = [
    ("PLANE_API_TOKEN", "plane-env-secret-7c1f0e"),
    ("GITHUB_TOKEN", "github-env-secret-93ab51"),
    ("GH_TOKEN", "gh-env-secret-0d44e2"),
    (
        "OPERATIONS_CENTER_WEBHOOK_SECRET",
        "webhook-env-secret-5be7a9",
    ),
    ("MY_GIT_TOKEN", "git-token-env-secret-a81c3d"),
];
const FILE_SECRETS: [(&str, &str); 3] = [
    ("oc_plane-token", "plane-file-secret-41d2c8"),
    ("oc_github-token", "github-file-secret-e0f6b7"),
    ("oc_webhook-secret", "webhook-file-secret-2a9d13"),
];

/// A script that tries the three ways to a secret and writes what it got to `<out>/<$1>`:
/// its own environment, the environment of every process it can read in /proc (the
/// lane's among them), and the credential files (the lane's directory, systemd's, ours).
fn probe_script(w: &World, out: &Path, creds: &Path) -> PathBuf {
    let (o, c) = (
        sh_quote(&out.to_string_lossy()),
        sh_quote(&creds.to_string_lossy()),
    );
    w.script(
        "probe.sh",
        &format!(
            "f={o}/$1\n\
             {{\n\
             echo '== own environment'; env\n\
             echo '== /proc/self/environ'; tr '\\0' '\\n' < /proc/self/environ\n\
             echo '== /proc/*/environ'\n\
             for e in /proc/[0-9]*/environ; do tr '\\0' '\\n' < \"$e\"; done\n\
             echo '== credential files'\n\
             cat {c}/* /run/credentials/*/* /etc/operations-center/credentials/*\n\
             }} > \"$f\" 2>&1\n\
             echo done >> \"$f\""
        ),
    )
}

#[test]
fn agent_bootstrap_and_validation_get_no_secret_of_the_lane() {
    let mut w = World::new();
    let out = w.path().join("probes");
    std::fs::create_dir(&out).unwrap();
    let creds = w.path().join("lane-credentials");
    std::fs::create_dir(&creds).unwrap();
    for (name, value) in FILE_SECRETS {
        std::fs::write(creds.join(name), value).unwrap();
    }
    let probe = probe_script(&w, &out, &creds);
    let p = sh_quote(&probe.to_string_lossy());
    w.config.extra.push_str("git:\n  token_env: MY_GIT_TOKEN\n");
    let demo = w.config.repos.get_mut("demo").unwrap();
    demo.extra.push((
        "bootstrap_commands".into(),
        format!("[{}]", yaml_str(&format!("sh {p} bootstrap"))),
    ));
    demo.validation_commands
        .insert(0, format!("sh {p} validation"));
    demo.extra
        .push(("pass_env".into(), "[DEMO_PASSED_ON]".into()));
    // The agent also leaves a git hook: the lane's own `git commit` then runs it.
    w.use_agent(&format!(
        "sh {p} agent\n\
         printf '#!/bin/sh\\nsh {p} git-hook\\n' > .git/hooks/post-commit\n\
         chmod +x .git/hooks/post-commit\n\
         printf '# Changes\\n' > CHANGES.md"
    ));
    let id = w.add_goal("Try to steal the lane's secrets");

    let mut env: Vec<(&str, &str)> = ENV_SECRETS.to_vec();
    let creds_dir = creds.to_string_lossy().into_owned();
    env.push(("CREDENTIALS_DIRECTORY", &creds_dir));
    env.push(("DEMO_PASSED_ON", "passed-by-name-1f3e"));
    env.push(("ANTHROPIC_API_KEY", "model-key-for-the-agent-77aa"));
    env.push(("NOT_PASSED_ON", "not-passed-6b2c"));
    let (line, _) = w.run_next_json_env(&env);
    assert!(
        line.starts_with(&format!("executed {id}: Review")),
        "{line}"
    );

    for who in ["agent", "bootstrap", "validation", "git-hook"] {
        let got = std::fs::read_to_string(out.join(who))
            .unwrap_or_else(|e| panic!("the {who} probe did not run: {e}"));
        assert!(got.ends_with("done\n"), "{who}: {got}");
        for (name, secret) in ENV_SECRETS.iter().chain(FILE_SECRETS.iter()) {
            assert!(
                !got.contains(secret),
                "the {who} obtained {name} ({secret}):\n{got}"
            );
        }
        // The probe could read /proc environments at all (its own, at least)…
        let own = got.split("== /proc/self/environ").nth(1).expect("section");
        assert!(own.contains("PATH="), "{who}: {got}");
        // …and the variable its repo passes on by name reached the task's commands (the
        // lane's git, which runs the hook, is no task command).
        assert_eq!(
            got.contains("DEMO_PASSED_ON=passed-by-name-1f3e"),
            who != "git-hook",
            "{who}: {got}"
        );
        let own_env = got.split("== /proc/self/environ").next().unwrap();
        assert!(!own_env.contains("NOT_PASSED_ON"), "{who}: {own_env}");
        assert!(
            !own_env.contains("CREDENTIALS_DIRECTORY"),
            "{who}: {own_env}"
        );
    }
    // The agent also receives its model key (agent.pass_env's default); the commands
    // around it do not.
    let agent = std::fs::read_to_string(out.join("agent")).unwrap();
    assert!(agent.contains("ANTHROPIC_API_KEY=model-key-for-the-agent-77aa"));
    let validation = std::fs::read_to_string(out.join("validation")).unwrap();
    assert!(
        !validation.contains("model-key-for-the-agent"),
        "{validation}"
    );
}

/// An agent body that detaches a sleeper into its own session (as a daemonizing tool
/// would: `setsid`, `cd /`), records the sleeper's pid, then runs `rest`.
fn detaching_agent(w: &mut World, rest: &str) -> PathBuf {
    let marks = w.path().join("marks");
    std::fs::create_dir(&marks).unwrap();
    let m = sh_quote(&marks.to_string_lossy());
    // /proc/self/stat, read by the shell itself, gives the pid as the test sees it (the
    // agent's own $$ may be a pid in another namespace).
    w.use_agent(&format!(
        "cd / && setsid sh -c 'read -r pid _ < /proc/self/stat; echo $pid > {m}/detached.tmp; \
         mv {m}/detached.tmp {m}/detached.pid; exec sleep 300' &\n\
         cd \"$OC_WORKSPACE\"\n\
         while [ ! -f {m}/detached.pid ]; do sleep 0.05; done\n\
         {rest}"
    ));
    marks
}

fn gone(pid: i32) -> bool {
    support::wait_until(Duration::from_secs(20), || !pid_alive(pid))
}

/// A lane daemon whose agent has detached a `setsid` child and is still running; the
/// child's pid as the test sees it.
fn lane_with_detached_child(w: &World, marks: &std::path::Path) -> (support::Lane, i32) {
    let lane = w.spawn_lane("slot1", &[], &[]);
    assert!(
        support::wait_until(Duration::from_secs(60), || marks
            .join("detached.pid")
            .exists()),
        "the agent never started:\n{}",
        lane.log_text()
    );
    let detached = read_pid(&marks.join("detached.pid"));
    (lane, detached)
}

#[test]
fn a_detached_process_ends_with_the_run() {
    let mut w = World::new();
    let marks = detaching_agent(&mut w, "printf '# Changes\\n' > CHANGES.md");
    let id = w.add_goal("Leave a daemon behind");
    let line = w.run_next();
    assert!(
        line.starts_with(&format!("executed {id}: Review")),
        "{line}"
    );
    let detached = read_pid(&marks.join("detached.pid"));
    assert!(gone(detached), "setsid child {detached} outlived the run");
}

#[test]
fn a_detached_process_ends_when_the_lane_is_stopped() {
    let mut w = World::new();
    let marks = detaching_agent(&mut w, "sleep 300");
    let id = w.add_goal("Stopped mid-run");
    let (mut lane, detached) = lane_with_detached_child(&w, &marks);
    lane.signal(Signal::SIGTERM);
    let status = lane.wait_exit(Duration::from_secs(60)).expect("stopped");
    assert_eq!(status.code(), Some(0), "{}", lane.log_text());
    assert_eq!(w.task_state(&id), "Ready for AI");
    assert!(gone(detached), "setsid child {detached} outlived the stop");
}

#[test]
fn a_detached_process_ends_when_the_lane_is_killed() {
    let mut w = World::new();
    let marks = detaching_agent(&mut w, "sleep 300");
    let id = w.add_goal("Crashed mid-run");
    let (mut lane, detached) = lane_with_detached_child(&w, &marks);
    lane.signal(Signal::SIGKILL);
    lane.wait_exit(Duration::from_secs(30)).expect("killed");
    // Recovery by the next cycle closes the crashed run (interrupted, not charged, so the
    // budget of one lets the task run again, with an agent that finishes at once); by then
    // nothing of the crashed run is left.
    w.use_agent("printf '# Changes\\n' > CHANGES.md");
    let (line, _) = w.run_next_json_env(&[("OPERATIONS_CENTER_MAX_EXEC_PER_HOUR", "1")]);
    assert_eq!(line, format!("executed {id}: Review (executed)"));
    assert!(
        gone(detached),
        "setsid child {detached} outlived the lane and its recovery"
    );
}
