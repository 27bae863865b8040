//! Timeouts, kill -9 and SIGTERM: whatever stops a run, the task ends in a state a person
//! can act on, the agent and everything it started is gone, and so is the workspace.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use support::{World, bullet, comment_starting, executions, group_members, pid_alive, read_pid};

/// How long the agents below would run if nobody stopped them.
const AGENT_SECONDS: u64 = 300;

/// An agent that makes the change the `demo` repo's validation wants, at once.
const QUICK_AGENT: &str = "printf 'change by %s\\n' \"$OC_TASK_ID\" > CHANGES.md";

/// Shell that writes the pid of the shell running it, as the test sees it, to `path`
/// (a path without spaces): the agent runs in its own PID namespace, where `$$`
/// and `$!` are other numbers. /proc/self, read by the shell itself, is the test's view.
fn own_pid_to(path: &str) -> String {
    format!("read -r pid rest < /proc/self/stat; echo $pid > {path}.tmp; mv {path}.tmp {path}")
}

/// An agent that records its pid and its child's, says it has started, then waits.
///
/// It does a second of "work" before announcing itself: the lane records the agent's
/// process group right after starting it and nothing outside the database shows when that
/// happened, so the pause keeps the kill in the test from landing before it.
fn long_agent(w: &mut World) -> std::path::PathBuf {
    let marks = w.path().join("marks");
    std::fs::create_dir(&marks).unwrap();
    let m = support::sh_quote(&marks.to_string_lossy());
    w.use_agent(&format!(
        "{}\n\
         sh -c '{}; exec sleep {AGENT_SECONDS}' &\n\
         sleep 1\n\
         while [ ! -f {m}/child.pid ]; do sleep 0.05; done\n\
         touch {m}/started\n\
         wait",
        own_pid_to(&format!("{m}/agent.pid")),
        own_pid_to(&format!("{m}/child.pid")),
    ));
    marks
}

fn wait_for_start(marks: &Path, lane: &support::Lane) {
    assert!(
        support::wait_until(Duration::from_secs(60), || marks.join("started").exists()),
        "the agent never started; lane log:\n{}",
        lane.log_text()
    );
}

#[test]
fn timeout_blocks_and_kills_the_whole_process_group() {
    let mut w = World::new();
    w.config.agent_timeout_seconds = 2;
    let marks = w.path().join("marks");
    std::fs::create_dir(&marks).unwrap();
    let m = support::sh_quote(&marks.to_string_lossy());
    w.use_agent(&format!(
        "{}\n\
         sh -c 'trap \"\" TERM; {}; sleep {AGENT_SECONDS}' &\n\
         sleep {AGENT_SECONDS}",
        own_pid_to(&format!("{m}/agent.pid")),
        own_pid_to(&format!("{m}/child.pid")),
    ));
    let id = w.add_goal("Takes forever");

    let started = Instant::now();
    let line = w.run_next();
    let took = started.elapsed();
    assert!(
        line.starts_with(&format!("executed {id}: Blocked")),
        "{line}"
    );
    assert!(
        took < Duration::from_secs(60),
        "the run took {took:?} with a 2 s timeout"
    );

    let task = w.task_json(&id);
    assert_eq!(task["state"], "Blocked");
    let comment = comment_starting(&task, "[Goal] Execution result");
    assert_eq!(
        bullet(&comment, "blocked_classification").as_deref(),
        Some("timeout")
    );
    let runs = executions(&task);
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["outcome"], "timeout");

    let agent = read_pid(&marks.join("agent.pid"));
    let child = read_pid(&marks.join("child.pid"));
    assert!(!pid_alive(agent), "agent {agent} still alive");
    assert!(!pid_alive(child), "TERM-ignoring child {child} still alive");
    assert!(
        group_members(agent).is_empty(),
        "processes left in the agent's group: {:?}",
        group_members(agent)
    );
    assert!(w.workspaces().is_empty(), "{:?}", w.workspaces());
}

#[test]
fn kill_9_of_the_lane_is_recovered_by_the_next_cycle() {
    let mut w = World::new();
    let marks = long_agent(&mut w);
    let id = w.add_goal("Interrupted by a crash");

    let mut lane = w.spawn_lane("slot1", &[], &[]);
    wait_for_start(&marks, &lane);
    let agent = read_pid(&marks.join("agent.pid"));
    let child = read_pid(&marks.join("child.pid"));
    let task = w.task_json(&id);
    let run_id = executions(&task)[0]["run_id"]
        .as_str()
        .expect("run_id")
        .to_string();
    let workspace = w.workspace_for(&run_id);
    assert!(
        workspace.is_dir(),
        "{} missing mid-run",
        workspace.display()
    );

    lane.signal(Signal::SIGKILL);
    let status = lane.wait_exit(Duration::from_secs(30)).expect("killed");
    assert!(!status.success());
    // Nobody has cleaned up yet: the task still looks Running. The agent dies with its
    // lane (parent-death signal), and so does everything it started (its PID namespace
    // ends with it), before any recovery.
    assert_eq!(w.task_state(&id), "Running");
    assert!(
        support::wait_until(Duration::from_secs(10), || !pid_alive(agent)),
        "agent {agent} outlived its lane"
    );
    assert!(
        support::wait_until(Duration::from_secs(10), || !pid_alive(child)),
        "agent child {child} outlived the lane"
    );

    // The next cycle of any lane notices the dead run. The crash was no execution: it is
    // closed as interrupted and not charged, so with a budget of one per hour the same
    // cycle claims the task again (an agent that finishes at once, this time).
    w.use_agent(QUICK_AGENT);
    let (line, events) = w.run_next_json_env(&[("OPERATIONS_CENTER_MAX_EXEC_PER_HOUR", "1")]);
    assert_eq!(line, format!("executed {id}: Review (executed)"));
    assert!(
        support::events_named(&events, "watch_requeue_interrupted")
            .iter()
            .any(|e| e["task_id"] == id.as_str()),
        "{events:#?}"
    );

    let task = w.task_json(&id);
    assert_eq!(task["state"], "Review");
    let comment = comment_starting(&task, "[Goal] Re-queued after interrupted execution");
    assert!(comment.contains(&run_id), "{comment}");
    let runs = executions(&task);
    assert_eq!(runs[0]["run_id"], run_id.as_str());
    assert_eq!(runs[0]["outcome"], "interrupted", "{runs:#?}");
    assert_eq!(runs[0]["charged"], false, "{runs:#?}");
    assert!(!workspace.exists(), "{} still there", workspace.display());
    assert!(!pid_alive(agent), "agent {agent} still alive");
    assert!(!pid_alive(child), "agent child {child} still alive");
    assert!(group_members(agent).is_empty());
}

#[test]
fn sigterm_mid_run_requeues_and_exits_zero() {
    let mut w = World::new();
    let marks = long_agent(&mut w);
    let id = w.add_goal("Interrupted by a stop");

    let mut lane = w.spawn_lane("slot1", &[], &[]);
    wait_for_start(&marks, &lane);
    let agent = read_pid(&marks.join("agent.pid"));
    let child = read_pid(&marks.join("child.pid"));
    let run_id = executions(&w.task_json(&id))[0]["run_id"]
        .as_str()
        .expect("run_id")
        .to_string();
    let workspace = w.workspace_for(&run_id);
    assert!(workspace.is_dir());

    lane.signal(Signal::SIGTERM);
    let status = lane
        .wait_exit(Duration::from_secs(60))
        .unwrap_or_else(|| panic!("oc-goal did not stop on SIGTERM:\n{}", lane.log_text()));
    assert_eq!(status.code(), Some(0), "{}", lane.log_text());

    let task = w.task_json(&id);
    assert_eq!(task["state"], "Ready for AI");
    comment_starting(&task, "[Goal] Re-queued after interrupted execution");
    assert!(!workspace.exists(), "{} still there", workspace.display());
    assert!(!pid_alive(agent), "agent {agent} still alive");
    assert!(!pid_alive(child), "agent child {child} still alive");
    assert!(group_members(agent).is_empty());
}

/// Three kill -9 crashes in a row (the report): each is recovered as an
/// interrupted execution that costs nothing — except what the agent had reported it spent
/// ($0.42 before the third crash) — and none counts against the retry cap, so the task is
/// Ready for AI, not Blocked `retry_cap_exceeded`, and then runs.
#[test]
fn three_crashes_are_interrupted_runs_not_attempts() {
    let mut w = World::new();
    let id = w.add_goal("Crashes three times");
    let mut run_ids = Vec::new();
    for n in 1..=3 {
        let marks = w.path().join(format!("marks-{n}"));
        std::fs::create_dir(&marks).unwrap();
        let m = support::sh_quote(&marks.to_string_lossy());
        let report_cost = if n == 3 {
            "echo '{\"type\":\"result\",\"subtype\":\"success\",\"total_cost_usd\":0.42}'\n"
        } else {
            ""
        };
        w.use_agent(&format!(
            "{report_cost}sleep {AGENT_SECONDS} &\n\
             sleep 1\n\
             touch {m}/started\n\
             wait"
        ));
        // Each new lane first recovers the run the last one left, then claims the task.
        let mut lane = w.spawn_lane("slot1", &[], &[]);
        wait_for_start(&marks, &lane);
        let runs = executions(&w.task_json(&id));
        assert_eq!(runs.len(), n, "{runs:#?}\n{}", lane.log_text());
        run_ids.push(runs[n - 1]["run_id"].as_str().unwrap().to_string());
        lane.signal(Signal::SIGKILL);
        lane.wait_exit(Duration::from_secs(30)).expect("killed");
    }

    // A cycle that recovers the last crash and then stops at a zero budget shows the
    // counter: only the execution with a reported cost is charged.
    let (line, events) = w.run_next_json_env(&[("OPERATIONS_CENTER_MAX_EXEC_PER_HOUR", "0")]);
    assert_eq!(
        line,
        "skipped: hourly_budget_exhausted (1 executions in the last hour, limit 0)"
    );
    assert!(
        support::events_named(&events, "execution_interrupted")
            .iter()
            .any(|e| e["run_id"] == run_ids[2].as_str()),
        "{events:#?}"
    );
    let task = w.task_json(&id);
    assert_eq!(task["state"], "Ready for AI");
    let runs = executions(&task);
    let seen: Vec<(String, bool, f64, String)> = runs
        .iter()
        .map(|r| {
            (
                r["outcome"].as_str().unwrap_or("running").to_string(),
                r["charged"].as_bool().unwrap(),
                r["cost_usd"].as_f64().unwrap_or(-1.0),
                r["cost_source"].as_str().unwrap_or("-").to_string(),
            )
        })
        .collect();
    let interrupted = |charged, cost, source: &str| {
        ("interrupted".to_string(), charged, cost, source.to_string())
    };
    assert_eq!(
        seen,
        vec![
            interrupted(false, 0.0, "none"),
            interrupted(false, 0.0, "none"),
            interrupted(true, 0.42, "reported"),
        ]
    );
    let shown = w.oc_ok(&["task", "show", &id]);
    assert_eq!(
        shown
            .matches("interrupted, cost $0.0000 (none), not charged")
            .count(),
        2,
        "{shown}"
    );

    // With a retry cap of one, any crash counted as an attempt would block the task.
    w.use_agent(QUICK_AGENT);
    let out = w.oc_env(
        &["run-next"],
        &[
            ("OPERATIONS_CENTER_MAX_RETRIES_PER_TASK", "1"),
            ("OPERATIONS_CENTER_MAX_EXEC_PER_HOUR", "2"),
        ],
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("executed {id}: Review (executed)"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
