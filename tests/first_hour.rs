//! What a newcomer hits in the first hour: relative paths on the command line and in the
//! config, the goal file of a free-text task, a push into a repository the lane may not
//! write.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use support::{COMMAND_DEADLINE, OC, OC_GOAL, World, bullet, comment_starting, sh_quote};

/// `cmd` with no config or state dir from the environment: only its flags name them.
fn bare(w: &World, program: &str, cwd: &Path) -> Command {
    let mut c = w.command(program);
    c.env_remove("OPERATIONS_CENTER_CONFIG")
        .env_remove("OPERATIONS_CENTER_STATE_DIR")
        .current_dir(cwd);
    c
}

fn run_ok(w: &World, c: Command) -> String {
    let description = format!("{c:?}");
    let out = w.output(c, COMMAND_DEADLINE);
    assert!(
        out.status.success(),
        "{description} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn relative_state_dir_and_bare_config_name_work_from_the_config_directory() {
    let w = World::new();
    // The operator's directory: config.yaml, the agent beside it, the repo one level up,
    // all named relative to the config file.
    let site = w.path().join("site");
    std::fs::create_dir(&site).unwrap();
    let agent = site.join("agent.sh");
    std::fs::write(
        &agent,
        "#!/bin/sh\nprintf '# Changes\\n' > CHANGES.md\necho ran > \"$OC_GOAL_FILE.ran\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&agent, PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::write(
        site.join("config.yaml"),
        "board: {backend: local}\n\
         agent: {backend: command, command: [./agent.sh], timeout_seconds: 60}\n\
         max_concurrent_kodo: 0\nmin_kodo_available_mb: 0\n\
         repos:\n  demo:\n    clone_url: ../demo.git\n    validation_commands: [\"test -f CHANGES.md\"]\n",
    )
    .unwrap();
    let flags = ["--config", "config.yaml", "--state-dir", "./state"];

    let mut add = bare(&w, OC, &site);
    add.args(flags).args([
        "task",
        "add",
        "--repo",
        "demo",
        "--title",
        "Relative paths",
        "--body",
        "## Goal\nAdd CHANGES.md.",
    ]);
    let id = run_ok(&w, add);

    // The lane daemon itself, one cycle, started from the config's directory.
    let mut lane = bare(&w, OC_GOAL, &site);
    lane.args(flags)
        .args(["--slot", "slot1", "--max-cycles", "1"]);
    run_ok(&w, lane);

    let mut show = bare(&w, OC, &site);
    show.args(flags).args(["task", "show", &id, "--json"]);
    let task: serde_json::Value = serde_json::from_str(&run_ok(&w, show)).unwrap();
    let result = comment_starting(&task, "[Goal] Execution result");
    assert_eq!(task["state"], "Review", "{result}");
    assert_eq!(bullet(&result, "branch_pushed").as_deref(), Some("true"));
    assert!(
        w.oc_branches(&w.remote)
            .iter()
            .any(|b| b.starts_with(&format!("oc/{}-", id.to_ascii_lowercase()))),
        "no task branch in {}",
        w.remote.display()
    );

    // And from elsewhere: the same file named by a relative path from its parent.
    let mut add = bare(&w, OC, w.path());
    add.args(["--config", "site/config.yaml", "--state-dir", "site/state"])
        .args([
            "task",
            "add",
            "--repo",
            "demo",
            "--title",
            "From elsewhere",
            "--body",
            "## Goal\nAgain.",
        ]);
    let second = run_ok(&w, add);
    let mut run = bare(&w, OC, w.path());
    run.args([
        "--config",
        "site/config.yaml",
        "--state-dir",
        "site/state",
        "run-next",
    ]);
    let line = run_ok(&w, run);
    assert_eq!(line, format!("executed {second}: Review (executed)"));
}

#[test]
fn free_text_goal_file_has_one_constraints_section() {
    let mut w = World::new();
    let seen = w.path().join("goal-seen.md");
    w.use_agent(&format!(
        "cp \"$OC_GOAL_FILE\" {}\nprintf '# Changes\\n' > CHANGES.md\n",
        sh_quote(&seen.to_string_lossy())
    ));
    // Free text (no `## Goal`), the repo from the label, constraints in their section.
    let id = w.add_task(
        "Tidy the changelog",
        &[
            "--repo",
            "demo",
            "--body",
            "Add a CHANGES.md for the release.\n\n## Constraints\n- Touch nothing else.\n",
        ],
    );
    assert_eq!(w.run_next(), format!("executed {id}: Review (executed)"));
    let goal = std::fs::read_to_string(&seen).unwrap();
    assert_eq!(goal.matches("## Constraints").count(), 1, "{goal}");
    assert_eq!(goal.matches("- Touch nothing else.").count(), 1, "{goal}");
    assert!(goal.contains("Add a CHANGES.md for the release."), "{goal}");
}

#[test]
fn push_into_a_read_only_repository_names_the_path_and_the_fix() {
    let mut w = World::new();
    w.use_agent("printf '# Changes\\n' > CHANGES.md\n");
    let id = w.add_goal("Push somewhere read-only");
    let remote = w.remote.to_string_lossy().into_owned();

    let root = nix::unistd::geteuid().is_root();
    let out = if root {
        // What a unit's ReadWritePaths= sandbox does: the repository mounted read-only, in
        // a mount namespace of this command only.
        let mut c = w.command("unshare");
        c.args([
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            "mount --bind \"$1\" \"$1\" && mount -o remount,bind,ro \"$1\" && shift && exec \"$@\"",
            "sh",
            &remote,
            OC,
            "run-next",
        ]);
        w.output(c, COMMAND_DEADLINE)
    } else {
        // Without root: the objects directory not writable by the lane's user.
        let objects = w.remote.join("objects");
        std::fs::set_permissions(&objects, PermissionsExt::from_mode(0o555)).unwrap();
        let out = w.oc(&["run-next"]);
        std::fs::set_permissions(&objects, PermissionsExt::from_mode(0o755)).unwrap();
        out
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let task = w.task_json(&id);
    assert_eq!(task["state"], "Blocked");
    let result = comment_starting(&task, "[Goal] Execution result");
    assert_eq!(
        bullet(&result, "blocked_classification").as_deref(),
        Some("repo_not_writable"),
        "{result}"
    );
    let summary = bullet(&result, "summary").unwrap();
    if root {
        assert_eq!(
            summary,
            format!(
                "cannot push: {remote} is read-only for this lane (Read-only file system); a unit may write only under its ReadWritePaths=. Allow it with `systemctl edit oc-goal@.service` → `[Service] ReadWritePaths={remote}`, restart the lane, then move the task back to Ready for AI"
            )
        );
    } else {
        assert!(
            summary.contains(&format!("{remote} is not writable by user")),
            "{summary}"
        );
    }
}
