//! Every gate checked before a claim: when it fires the cycle is skipped with a named
//! reason (stdout of `oc run-next`, JSON `event` of `oc run-next` and of `oc-goal`), the
//! task stays Ready for AI and no execution is recorded.

mod support;

use std::process::{Child, Command};
use std::time::Duration;

use chrono::Timelike;
use serde_json::Value;
use support::{World, events_named, executions};

/// An agent that makes a valid change, so a cycle that gets past the gates executes.
const AGENT: &str = "printf 'change by %s\\n' \"$OC_TASK_ID\" > CHANGES.md";

/// Asserts one skipped cycle, both via `oc run-next` and via one `oc-goal` cycle, and that
/// `task` was neither claimed nor executed.
fn assert_skip(w: &World, event: &str, reason: &str, task: &str) {
    let (line, events) = w.run_next_json();
    assert!(
        line.starts_with(&format!("skipped: {reason} (")),
        "oc run-next printed {line:?}, expected a {reason} skip"
    );
    assert!(
        events_named(&events, event)
            .iter()
            .any(|e| e["reason"] == reason),
        "no {event} event with reason {reason} in {events:#?}"
    );

    let mut lane = w.spawn_lane("slot1", &["--max-cycles", "1"], &[]);
    let status = lane
        .wait_exit(Duration::from_secs(60))
        .expect("oc-goal --max-cycles 1 exits");
    assert!(status.success(), "oc-goal: {status}\n{}", lane.log_text());
    let events = lane.events();
    assert!(
        events_named(&events, event)
            .iter()
            .any(|e| e["reason"] == reason),
        "oc-goal logged no {event} event with reason {reason}:\n{}",
        lane.log_text()
    );
    assert!(
        events_named(&events, "task_claimed").is_empty(),
        "oc-goal claimed a task:\n{}",
        lane.log_text()
    );

    assert_untouched(w, task);
}

fn assert_untouched(w: &World, task: &str) {
    let json: Value = w.task_json(task);
    assert_eq!(json["state"], "Ready for AI", "{json:#}");
    assert!(executions(&json).is_empty(), "{json:#}");
}

/// A copy of /bin/sleep named `kodo`, running for as long as this value lives.
struct FakeKodo(Child);

impl FakeKodo {
    fn start(w: &World) -> Self {
        let path = w.path().join("kodo");
        std::fs::copy("/bin/sleep", &path).expect("copy /bin/sleep");
        // Another test thread forking while the copy was open for writing can hold the
        // file busy (ETXTBSY) for a moment; retry until it is free.
        let mut started = None;
        let ok = support::wait_until(Duration::from_secs(10), || {
            match Command::new(&path).arg("300").spawn() {
                Ok(child) => {
                    started = Some(child);
                    true
                }
                Err(e) if e.raw_os_error() == Some(nix::libc::ETXTBSY) => false,
                Err(e) => panic!("start fake kodo: {e}"),
            }
        });
        assert!(ok, "fake kodo stayed busy");
        FakeKodo(started.expect("fake kodo"))
    }
}

impl Drop for FakeKodo {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn kodo_concurrency_cap() {
    let mut w = World::new();
    w.config.max_concurrent_kodo = 1;
    w.use_agent(AGENT);
    let id = w.add_goal("Wait for kodo");

    let kodo = FakeKodo::start(&w);
    assert_skip(&w, "watch_skip_kodo_gate", "kodo_concurrency_cap", &id);

    // Once that kodo is gone the same cycle claims and runs the task.
    drop(kodo);
    assert_eq!(w.run_next(), format!("executed {id}: Review (executed)"));
}

#[test]
fn low_memory() {
    let mut w = World::new();
    w.config.min_kodo_available_mb = 100_000_000;
    w.use_agent(AGENT);
    let id = w.add_goal("Needs memory");
    assert_skip(&w, "watch_skip_kodo_gate", "low_memory", &id);
}

#[test]
fn hourly_budget() {
    let mut w = World::new();
    w.config
        .limits
        .insert("max_exec_per_hour".into(), "1".into());
    w.use_agent(AGENT);
    let first = w.add_goal("First change");
    assert_eq!(w.run_next(), format!("executed {first}: Review (executed)"));
    let second = w.add_goal("Second change");
    assert_skip(&w, "watch_skip_budget", "hourly_budget_exhausted", &second);
}

#[test]
fn daily_budget() {
    let mut w = World::new();
    w.config
        .limits
        .insert("max_exec_per_day".into(), "1".into());
    w.use_agent(AGENT);
    let first = w.add_goal("First change");
    assert_eq!(w.run_next(), format!("executed {first}: Review (executed)"));
    let second = w.add_goal("Second change");
    assert_skip(&w, "watch_skip_budget", "daily_budget_exhausted", &second);
}

#[test]
fn budget_knob_from_the_environment() {
    let mut w = World::new();
    w.use_agent(AGENT);
    let first = w.add_goal("First change");
    assert_eq!(w.run_next(), format!("executed {first}: Review (executed)"));
    let second = w.add_goal("Second change");
    let (line, events) = w.run_next_json_env(&[("OPERATIONS_CENTER_MAX_EXEC_PER_HOUR", "1")]);
    assert!(
        line.starts_with("skipped: hourly_budget_exhausted ("),
        "{line}"
    );
    assert!(
        events_named(&events, "watch_skip_budget")
            .iter()
            .any(|e| e["reason"] == "hourly_budget_exhausted"),
        "{events:#?}"
    );
    assert_untouched(&w, &second);
}

#[test]
fn per_repo_daily_cap_passes_over_that_repo_only() {
    let mut w = World::new();
    let other = w.bare_repo("other");
    w.config
        .repos
        .get_mut("demo")
        .unwrap()
        .extra
        .push(("max_daily_executions".into(), "1".into()));
    w.config.repos.insert(
        "other".into(),
        support::RepoSpec {
            clone_url: other.clone(),
            validation_commands: vec!["test -f CHANGES.md".into()],
            extra: Vec::new(),
        },
    );
    w.use_agent(AGENT);
    let first = w.add_goal("First demo change");
    assert_eq!(w.run_next(), format!("executed {first}: Review (executed)"));

    // The demo task is more urgent, but demo has used its daily execution.
    let capped = w.add_task(
        "Second demo change",
        &[
            "--repo",
            "demo",
            "--priority",
            "urgent",
            "--body",
            "## Goal\nMore.",
        ],
    );
    let elsewhere = w.add_task(
        "Change in the other repo",
        &["--repo", "other", "--body", "## Goal\nOther."],
    );
    let (line, events) = w.run_next_json();
    assert_eq!(line, format!("executed {elsewhere}: Review (executed)"));
    assert!(
        events_named(&events, "skip_repo_budget")
            .iter()
            .any(|e| e["repo"] == "demo"),
        "{events:#?}"
    );
    assert_untouched(&w, &capped);
    assert_eq!(w.task_state(&elsewhere), "Review");
    assert_eq!(w.oc_branches(&other).len(), 1);
}

#[test]
fn maintenance_window() {
    let mut w = World::new();
    // A two-hour window starting this hour, so an hour boundary during the test is covered.
    let hour = chrono::Utc::now().hour();
    w.config.extra = format!(
        "maintenance_windows:\n  - start_hour: {hour}\n    end_hour: {}\n",
        (hour + 2) % 24
    );
    w.use_agent(AGENT);
    let id = w.add_goal("During maintenance");
    assert_skip(&w, "watch_maintenance_window", "maintenance_window", &id);
}

#[test]
fn disk_space() {
    let mut w = World::new();
    w.config
        .limits
        .insert("min_free_disk_mb".into(), "1000000000".into());
    w.use_agent(AGENT);
    let id = w.add_goal("Needs disk");
    assert_skip(&w, "watch_skip_disk_space", "disk_space_exhausted", &id);
}
