//! `oc status` and `oc heartbeat-check` after one-shot commands: `oc run-next` and
//! `oc run` leave a status file (`goal@cli`) that is a finished run, not a dead lane — and
//! not forever — while a lane daemon that died is still reported dead.

mod support;

use serde_json::Value;
use support::World;

/// A pid that no process has any more.
fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

/// A status file as a lane of an older version left it (no `one_shot`, no `pid_start`).
fn leave_status(w: &World, lane: &str, slot: &str, updated_ago: i64) {
    let dir = w.state.join("run").join("lanes");
    std::fs::create_dir_all(&dir).unwrap();
    let now = chrono::Utc::now().timestamp();
    let status = serde_json::json!({
        "lane": lane, "role": "goal", "slot": slot, "pid": dead_pid(), "cycle": 1,
        "state": "active", "last_action": "task_claimed", "task_id": "T-9",
        "task_kind": "goal", "follow_ups": 0, "blocked_triaged": 0, "proposed": 0,
        "started_at": now - updated_ago - 10, "updated_at": now - updated_ago,
    });
    std::fs::write(dir.join(format!("{lane}.json")), status.to_string()).unwrap();
}

fn lanes(w: &World) -> Vec<Value> {
    let status: Value = serde_json::from_str(&w.oc_ok(&["status", "--json"])).unwrap();
    status["lanes"].as_array().cloned().unwrap()
}

#[test]
fn one_shot_runs_are_finished_runs_not_dead_lanes() {
    let mut w = World::new();
    w.use_agent("printf 'change by %s\\n' \"$OC_TASK_ID\" > CHANGES.md");
    let id = w.add_goal("Run by hand");
    assert_eq!(w.run_next(), format!("executed {id}: Review (executed)"));

    // What run-next did is shown, as a finished run; heartbeat-check has nothing to report.
    let listed = lanes(&w);
    let cli = listed
        .iter()
        .find(|l| l["lane"] == "goal@cli")
        .unwrap_or_else(|| panic!("goal@cli not listed: {listed:#?}"));
    assert_eq!(cli["health"], "finished", "{cli:#}");
    assert_eq!(cli["status"]["state"], "finished", "{cli:#}");
    assert_eq!(
        cli["status"]["last_action"],
        format!("executed {id} → Review"),
        "{cli:#}"
    );
    let out = w.oc(&["heartbeat-check"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "heartbeat-check failed:\n{text}");
    assert!(!text.contains("goal@cli"), "{text}");

    // A one-shot killed mid-run an hour and more ago (an older version's file): gone from
    // the listing too, while a lane daemon that died is still a dead lane.
    leave_status(&w, "goal@cli", "cli", 2 * 3600);
    leave_status(&w, "goal@slot9", "slot9", 30);
    let listed = lanes(&w);
    assert!(
        listed.iter().all(|l| l["lane"] != "goal@cli"),
        "{listed:#?}"
    );
    let out = w.oc(&["heartbeat-check"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("DEAD   goal@slot9"), "{text}");
    assert!(!text.contains("goal@cli"), "{text}");
}
