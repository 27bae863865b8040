//! Timeouts, kill -9 and SIGTERM: whatever stops a run, the task ends in a state a person
//! can act on, the agent and everything it started is gone, and so is the workspace.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use support::{World, bullet, comment_starting, executions, group_members, pid_alive, read_pid};

/// How long the agents below would run if nobody stopped them.
const AGENT_SECONDS: u64 = 300;

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

    // The next cycle of any lane notices the dead run. Its execution was charged, so with a
    // budget of one per hour the cycle then stops at the budget gate.
    let (line, events) = w.run_next_json_env(&[("OPERATIONS_CENTER_MAX_EXEC_PER_HOUR", "1")]);
    assert!(
        line.starts_with("skipped: hourly_budget_exhausted ("),
        "{line}"
    );
    assert!(
        support::events_named(&events, "watch_requeue_interrupted")
            .iter()
            .any(|e| e["task_id"] == id.as_str()),
        "{events:#?}"
    );

    let task = w.task_json(&id);
    assert_eq!(task["state"], "Ready for AI");
    let comment = comment_starting(&task, "[Goal] Re-queued after interrupted execution");
    assert!(comment.contains(&run_id), "{comment}");
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
