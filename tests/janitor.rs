//! The janitor: old reports and unowned workspaces go, stale task branches of finished
//! tasks are pruned from a repo's local checkout, and nothing a live lane uses is touched.

mod support;

use support::World;

fn janitor(w: &World, retention_days: &str) -> serde_json::Value {
    let out = w.oc_env(
        &["janitor"],
        &[("OPERATIONS_CENTER_RETENTION_DAYS", retention_days)],
    );
    assert!(
        out.status.success(),
        "oc janitor failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("janitor prints a JSON report")
}

/// A `local_path` checkout of the demo repo with task branches whose last commit is old.
fn checkout_with_branches(w: &World, branches: &[&str]) -> std::path::PathBuf {
    let checkout = w.path().join("checkout");
    w.git(
        w.path(),
        &["clone", "-q", &w.remote.to_string_lossy(), "checkout"],
    );
    for branch in branches {
        w.git(&checkout, &["branch", branch]);
    }
    // Backdate each branch's tip so it is older than any retention.
    for branch in branches {
        let mut cmd = w.command("git");
        cmd.current_dir(&checkout)
            .env("GIT_COMMITTER_DATE", "2020-01-01T00:00:00Z")
            .env("GIT_AUTHOR_DATE", "2020-01-01T00:00:00Z")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args(["commit", "-q", "--allow-empty", "-m", "old work"]);
        w.git(&checkout, &["checkout", "-q", branch]);
        assert!(cmd.status().unwrap().success());
    }
    w.git(&checkout, &["checkout", "-q", "main"]);
    checkout
}

#[test]
fn removes_old_reports_and_orphaned_workspaces_but_keeps_live_ones() {
    let mut w = World::new();
    w.use_agent("echo x > CHANGES.md");
    let id = w.add_goal("Produce a report");
    assert!(w.run_next().starts_with(&format!("executed {id}")));
    let reports = w.state.join("reports");
    assert_eq!(std::fs::read_dir(&reports).unwrap().count(), 1);

    // An orphan (no run owns it) and a workspace held by a live lane process.
    let orphan = w.state.join("workspaces/oc-0123456789ab");
    std::fs::create_dir_all(orphan.join("repo")).unwrap();

    // Retention 1 day: the fresh report stays, the orphan goes.
    let report = janitor(&w, "1");
    assert_eq!(report["reports_removed"], 0);
    assert_eq!(report["workspaces_removed"], 1);
    assert!(!orphan.exists());
    assert_eq!(std::fs::read_dir(&reports).unwrap().count(), 1);

    // Retention 0: every finished report is past it.
    let report = janitor(&w, "0");
    assert_eq!(report["reports_removed"], 1);
    assert_eq!(std::fs::read_dir(&reports).unwrap().count(), 0);
}

#[test]
fn never_touches_the_workspace_or_status_of_a_running_lane() {
    let mut w = World::new();
    let marks = w.path().join("marks");
    std::fs::create_dir(&marks).unwrap();
    w.use_agent(&format!(
        "touch {}/started\nsleep 300",
        support::sh_quote(&marks.to_string_lossy())
    ));
    let id = w.add_goal("Long running");
    let lane = w.spawn_lane("slot1", &[], &[]);
    assert!(support::wait_until(
        std::time::Duration::from_secs(60),
        || marks.join("started").exists()
    ));
    let live = w.workspaces();
    assert_eq!(live.len(), 1, "one workspace for the running task");
    let status_file = w.state.join("run/lanes/goal@slot1.json");
    assert!(status_file.exists(), "the lane publishes its status");

    let report = janitor(&w, "0");
    assert_eq!(report["workspaces_removed"], 0);
    assert!(live[0].exists(), "live workspace kept");
    assert!(status_file.exists(), "live lane's status file kept");
    assert_eq!(w.task_state(&id), "Running");
    drop(lane);
}

#[test]
fn prunes_branches_of_finished_tasks_only() {
    let mut w = World::new();
    let done = w.add_goal("Finished work");
    w.oc_ok(&["task", "move", &done, "done"]);
    let open = w.add_goal("Open work");
    let done_branch = format!("oc/{}-finished-work", done.to_lowercase());
    let open_branch = format!("oc/{}-open-work", open.to_lowercase());
    let gone_branch = "oc/t-999-deleted-task";
    let checkout = checkout_with_branches(
        &w,
        &[&done_branch, &open_branch, gone_branch, "feature/keep-me"],
    );
    w.config.repos.get_mut("demo").unwrap().extra.push((
        "local_path".into(),
        support::yaml_str(&checkout.to_string_lossy()),
    ));
    w.write_config();

    let report = janitor(&w, "1");
    let mut pruned: Vec<String> = report["branches_pruned"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b.as_str().unwrap().to_string())
        .collect();
    pruned.sort();
    let mut expected = vec![format!("demo:{done_branch}"), format!("demo:{gone_branch}")];
    expected.sort();
    assert_eq!(pruned, expected);
    let left = w.git(
        &checkout,
        &["for-each-ref", "--format=%(refname:short)", "refs/heads/"],
    );
    assert!(
        left.contains(&open_branch),
        "open task's branch kept: {left}"
    );
    assert!(
        left.contains("feature/keep-me"),
        "non-task branch kept: {left}"
    );
    assert!(!left.contains(&done_branch), "{left}");
}

#[test]
fn forgets_ci_events_and_spent_ingest_keys_past_retention() {
    let w = World::new();
    w.oc_ok(&["ci-events"]); // creates the state database
    // The receivers' tables, written as if days had passed: one old and one fresh row each.
    let db = rusqlite::Connection::open(w.state.join("operations-center.db")).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let ten_days_ago = now - 10 * 86_400;
    // Commit `aaa` is done with; `bbb` has an old failed check and a fresh re-run of
    // another: its old event stays, or the review lane would see only the green one.
    for (delivery, sha, at) in [
        ("old-delivery", "aaa", ten_days_ago),
        ("old-failure", "bbb", ten_days_ago),
        ("new-delivery", "bbb", now),
    ] {
        db.execute(
            "INSERT INTO ci_events (delivery_id, event, repo, head_sha, received_at)
             VALUES (?1, 'check_run', 'octo/demo', ?2, ?3)",
            rusqlite::params![delivery, sha, at],
        )
        .unwrap();
    }
    for (key, at) in [("old-key", ten_days_ago), ("new-key", now)] {
        db.execute(
            "INSERT INTO ingest_dedup (key, repo_key, first_seen, last_seen)
             VALUES (?1, 'demo', ?2, ?2)",
            rusqlite::params![key, at],
        )
        .unwrap();
    }

    let report = janitor(&w, "7");
    assert_eq!(report["ci_events_forgotten"], 1);
    assert_eq!(report["ingest_keys_forgotten"], 1);
    let events = w.oc_ok(&["ci-events", "--json"]);
    assert!(
        events.contains("new-delivery")
            && events.contains("old-failure")
            && !events.contains("old-delivery"),
        "{events}"
    );
    let keys: Vec<String> = db
        .prepare("SELECT key FROM ingest_dedup")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(keys, ["new-key"]);
}
