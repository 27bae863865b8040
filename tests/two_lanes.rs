//! Two goal lanes (slot1, slot2) racing over one board: every task runs exactly once.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use nix::sys::signal::Signal;
use support::{World, events_named};

const TASKS: usize = 50;

#[test]
fn two_lanes_run_every_task_exactly_once() {
    let mut w = World::new();
    w.config
        .limits
        .insert("max_exec_per_hour".into(), "1000".into());
    w.config
        .limits
        .insert("max_exec_per_day".into(), "1000".into());
    w.config
        .limits
        .insert("watch_interval_seconds".into(), "{goal: 1}".into());
    let ledger = w.path().join("ledger.txt");
    std::fs::write(&ledger, "").unwrap();
    w.use_agent(&format!(
        "echo \"$OC_TASK_ID\" >> {}\n\
         printf 'change by %s\\n' \"$OC_TASK_ID\" > CHANGES.md",
        support::sh_quote(&ledger.to_string_lossy())
    ));
    let ids: Vec<String> = (1..=TASKS)
        .map(|n| w.add_goal(&format!("Change number {n}")))
        .collect();

    let knobs = [("OPERATIONS_CENTER_MIN_WATCH_INTERVAL_SECONDS", "1")];
    let mut lanes = [
        w.spawn_lane("slot1", &[], &knobs),
        w.spawn_lane("slot2", &[], &knobs),
    ];

    let mut in_review = 0;
    let finished = support::wait_until(Duration::from_secs(110), || {
        in_review = w.task_list(Some("Review")).len();
        in_review == TASKS
    });
    assert!(
        finished,
        "{in_review}/{TASKS} tasks in Review; board: {:#?}\nslot1:\n{}\nslot2:\n{}",
        w.task_list(None)
            .iter()
            .map(|t| format!("{} {}", t["id"], t["state"]))
            .collect::<Vec<_>>(),
        lanes[0].log_text(),
        lanes[1].log_text()
    );

    for lane in &lanes {
        lane.signal(Signal::SIGTERM);
    }
    for lane in &mut lanes {
        let status = lane
            .wait_exit(Duration::from_secs(30))
            .unwrap_or_else(|| panic!("lane did not stop on SIGTERM:\n{}", lane.log_text()));
        assert_eq!(status.code(), Some(0), "{}", lane.log_text());
    }

    // Each task's agent ran exactly once.
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for line in std::fs::read_to_string(&ledger).unwrap().lines() {
        *counts.entry(line.to_string()).or_default() += 1;
    }
    for id in &ids {
        assert_eq!(
            counts.get(id),
            Some(&1),
            "{id} ran {:?} times",
            counts.get(id)
        );
    }
    assert_eq!(
        counts.len(),
        TASKS,
        "unexpected ids in the ledger: {counts:?}"
    );

    // Both lanes took part, and between them ran each task once.
    let mut ran: Vec<String> = Vec::new();
    for lane in &lanes {
        let events = lane.events();
        let ends = events_named(&events, "run_end");
        assert!(!ends.is_empty(), "a lane ran nothing:\n{}", lane.log_text());
        ran.extend(
            ends.iter()
                .map(|e| e["task_id"].as_str().unwrap().to_string()),
        );
    }
    ran.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(ran, expected);

    assert_eq!(w.oc_branches(&w.remote).len(), TASKS);
    assert!(w.workspaces().is_empty(), "{:?}", w.workspaces());
}
