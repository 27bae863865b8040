//! Budgets across slots: two goal lanes (two processes) racing over more Ready tasks than a
//! cap allows never run more executions than the cap, whichever cap it is.

mod support;

use std::time::Duration;

use support::World;

/// Rounds per cap; each one is a fresh board, two lanes started together.
const ROUNDS: usize = 4;
const CAP: usize = 1;
const TASKS: usize = 4;

/// A world whose agent records each run in a ledger and takes a moment, so the two lanes'
/// runs overlap.
fn world() -> (World, std::path::PathBuf) {
    let mut w = World::new();
    let ledger = w.path().join("ledger.txt");
    std::fs::write(&ledger, "").unwrap();
    w.config
        .limits
        .insert("watch_interval_seconds".into(), "{goal: 1}".into());
    w.use_agent(&format!(
        "echo \"$OC_TASK_ID\" >> {}\n\
         sleep 0.3\n\
         printf 'change by %s\\n' \"$OC_TASK_ID\" > CHANGES.md",
        support::sh_quote(&ledger.to_string_lossy())
    ));
    (w, ledger)
}

/// Runs two lanes of three cycles each at once; returns how many agents ran.
fn race(w: &World, ledger: &std::path::Path) -> usize {
    for n in 1..=TASKS {
        w.add_goal(&format!("Change number {n}"));
    }
    let knobs = [("OPERATIONS_CENTER_MIN_WATCH_INTERVAL_SECONDS", "1")];
    let mut lanes = [
        w.spawn_lane("slot1", &["--max-cycles", "3"], &knobs),
        w.spawn_lane("slot2", &["--max-cycles", "3"], &knobs),
    ];
    for lane in &mut lanes {
        let status = lane
            .wait_exit(Duration::from_secs(120))
            .unwrap_or_else(|| panic!("lane did not finish its cycles:\n{}", lane.log_text()));
        assert!(status.success(), "{}", lane.log_text());
    }
    std::fs::read_to_string(ledger).unwrap().lines().count()
}

#[test]
fn two_lanes_never_pass_the_hourly_limit_together() {
    for round in 1..=ROUNDS {
        let (mut w, ledger) = world();
        w.config
            .limits
            .insert("max_exec_per_hour".into(), CAP.to_string());
        w.write_config();
        let ran = race(&w, &ledger);
        assert_eq!(
            ran, CAP,
            "round {round}: {ran} executions with max_exec_per_hour {CAP}"
        );
        assert_eq!(w.task_list(Some("Ready for AI")).len(), TASKS - CAP);
    }
}

#[test]
fn two_lanes_never_pass_a_repo_daily_cap_together() {
    for round in 1..=ROUNDS {
        let (mut w, ledger) = world();
        w.config
            .repos
            .get_mut("demo")
            .unwrap()
            .extra
            .push(("max_daily_executions".into(), CAP.to_string()));
        w.write_config();
        let ran = race(&w, &ledger);
        assert_eq!(
            ran, CAP,
            "round {round}: {ran} executions with max_daily_executions {CAP}"
        );
        assert_eq!(w.task_list(Some("Ready for AI")).len(), TASKS - CAP);
    }
}
