//! The goal lane end to end through `oc run-next`: real git with a bare repo, scripted
//! agents replaying real kodo/Claude output, and the board as `oc task show` reports it.

mod support;

use serde_json::Value;
use support::{World, bullet, comment_starting, executions, sh_quote, task_branch};

const RESULT: &str = "[Goal] Execution result";

/// An agent that writes CHANGES.md (after printing `replay`, if given) and exits 0.
fn writing_agent(replay: Option<&str>) -> String {
    let mut body = String::new();
    if let Some(path) = replay {
        body.push_str(&format!("cat {}\n", sh_quote(path)));
    }
    body.push_str("printf '# Changes\\n\\n- %s\\n' \"$OC_TASK_ID\" > CHANGES.md\n");
    body
}

fn single_execution(task: &Value) -> Value {
    let runs = executions(task);
    assert_eq!(runs.len(), 1, "expected one execution: {runs:#?}");
    runs[0].clone()
}

fn cost(execution: &Value) -> f64 {
    execution["cost_usd"].as_f64().expect("cost_usd")
}

#[test]
fn success_pushes_branch_and_moves_to_review() {
    let mut w = World::new();
    w.config.extra = "cost_per_execution_usd: 0.15\n".into();
    let seen = w.path().join("seen");
    std::fs::create_dir(&seen).unwrap();
    let seen_q = sh_quote(&seen.to_string_lossy());
    w.use_agent(&format!(
        "set -e\n\
         cp \"$OC_GOAL_FILE\" {seen_q}/goal.md\n\
         printf '%s\\n' \"$OC_GOAL_FILE\" > {seen_q}/goal_path\n\
         printf '%s\\n' \"$OC_WORKSPACE\" > {seen_q}/workspace\n\
         pwd -P > {seen_q}/cwd\n\
         {}",
        writing_agent(None)
    ));
    let id = w.add_goal("Add a changelog");
    assert_eq!(id, w.nth_id(1, &id));

    let line = w.run_next();
    assert_eq!(line, format!("executed {id}: Review (executed)"));

    // The agent ran in the clone and got the goal in a file outside it.
    let goal = std::fs::read_to_string(seen.join("goal.md")).unwrap();
    assert!(
        goal.contains("Add a CHANGES.md file describing the release."),
        "{goal}"
    );
    let goal_path = std::fs::read_to_string(seen.join("goal_path")).unwrap();
    let workspace = std::fs::read_to_string(seen.join("workspace")).unwrap();
    let cwd = std::fs::read_to_string(seen.join("cwd")).unwrap();
    assert!(
        !goal_path.trim().starts_with(workspace.trim()),
        "goal file {goal_path} inside the clone {workspace}"
    );
    assert_eq!(
        std::fs::canonicalize(workspace.trim()).ok(),
        std::fs::canonicalize(cwd.trim()).ok(),
        "agent cwd is the clone"
    );

    // The branch is in the bare repo with the agent's change, committed under the title.
    let branch = task_branch(&id, "add-a-changelog");
    let branch = branch.as_str();
    assert_eq!(w.oc_branches(&w.remote), vec![branch.to_string()]);
    let remote = w.remote.to_string_lossy().into_owned();
    let subject = w.git(
        w.path(),
        &["--git-dir", &remote, "log", "-1", "--format=%s", branch],
    );
    assert_eq!(subject.trim(), "Add a changelog");
    let changes = w.git(
        w.path(),
        &[
            "--git-dir",
            &remote,
            "show",
            &format!("{branch}:CHANGES.md"),
        ],
    );
    assert_eq!(changes, format!("# Changes\n\n- {id}\n"));
    let parent = w.git(
        w.path(),
        &["--git-dir", &remote, "rev-parse", &format!("{branch}~1")],
    );
    let main = w.git(w.path(), &["--git-dir", &remote, "rev-parse", "main"]);
    assert_eq!(parent, main, "the branch starts from main");

    let task = w.task_json(&id);
    assert_eq!(task["state"], "Review");
    let comment = comment_starting(&task, RESULT);
    assert_eq!(bullet(&comment, "branch_pushed").as_deref(), Some("true"));
    assert_eq!(
        bullet(&comment, "validation_passed").as_deref(),
        Some("true")
    );
    assert_eq!(bullet(&comment, "result_status").as_deref(), Some("review"));
    assert_eq!(bullet(&comment, "branch").as_deref(), Some(branch));
    assert_eq!(
        bullet(&comment, "cost_usd").as_deref(),
        Some("0.1500 (configured)")
    );

    let run = single_execution(&task);
    assert_eq!(run["charged"], true);
    assert_eq!(run["backend"], "command");
    assert_eq!(run["outcome"], "success");
    assert_eq!(run["cost_source"], "configured");
    assert!((cost(&run) - 0.15).abs() < 1e-9, "{run}");

    // Nothing is left behind in the state directory's workspaces.
    assert!(w.workspaces().is_empty(), "{:?}", w.workspaces());
}

#[test]
fn await_review_moves_success_to_in_review() {
    let mut w = World::new();
    w.config
        .repos
        .get_mut("demo")
        .unwrap()
        .extra
        .push(("await_review".into(), "true".into()));
    w.use_agent(&writing_agent(None));
    let id = w.add_goal("Hand over for review");
    assert_eq!(w.run_next(), format!("executed {id}: In Review (executed)"));
    let task = w.task_json(&id);
    assert_eq!(task["state"], "In Review");
    let comment = comment_starting(&task, RESULT);
    assert_eq!(bullet(&comment, "branch_pushed").as_deref(), Some("true"));
    assert_eq!(
        w.oc_branches(&w.remote),
        vec![task_branch(&id, "hand-over-for-review")]
    );
}

#[test]
fn kodo_done_line_gives_the_reported_cost() {
    let mut w = World::new();
    w.config.extra = "cost_per_execution_usd: 0.15\n".into();
    w.use_agent(&writing_agent(Some(testdata!(
        "kodo/full-success/kodo-stdout.log"
    ))));
    let id = w.add_goal("Replay a full kodo success");
    assert_eq!(w.run_next(), format!("executed {id}: Review (executed)"));

    let task = w.task_json(&id);
    let run = single_execution(&task);
    assert_eq!(run["charged"], true);
    assert_eq!(run["cost_source"], "reported");
    assert!((cost(&run) - 0.4495).abs() < 1e-9, "{run}");
    let comment = comment_starting(&task, RESULT);
    assert_eq!(
        bullet(&comment, "cost_usd").as_deref(),
        Some("0.4495 (reported)")
    );
}

#[test]
fn claude_json_result_gives_the_reported_cost() {
    let mut w = World::new();
    w.config.extra = "cost_per_execution_usd: 0.15\n".into();
    w.use_agent(&format!(
        "echo '{{\"type\":\"result\",\"subtype\":\"success\",\"is_error\":false,\"duration_ms\":5123,\"num_turns\":3,\"result\":\"Added CHANGES.md\",\"session_id\":\"3f1c\",\"total_cost_usd\":0.0123}}'\n{}",
        writing_agent(None)
    ));
    let id = w.add_goal("Replay a claude success");
    assert_eq!(w.run_next(), format!("executed {id}: Review (executed)"));

    let run = single_execution(&w.task_json(&id));
    assert_eq!(run["charged"], true);
    assert_eq!(run["cost_source"], "reported");
    assert!((cost(&run) - 0.0123).abs() < 1e-9, "{run}");
}

#[test]
fn validation_failure_blocks_and_pushes_a_draft_branch() {
    let mut w = World::new();
    let check = "echo 'lint: CHANGES.md is missing' >&2; test -f CHANGES.md";
    w.config.repos.get_mut("demo").unwrap().validation_commands = vec![check.into()];
    w.use_agent("echo 'notes' > NOTES.md");
    let id = w.add_goal("Write release notes");

    let line = w.run_next();
    assert!(
        line.starts_with(&format!("executed {id}: Blocked")),
        "{line}"
    );
    let task = w.task_json(&id);
    assert_eq!(task["state"], "Blocked");
    let comment = comment_starting(&task, RESULT);
    assert_eq!(
        bullet(&comment, "blocked_classification").as_deref(),
        Some("validation_failure")
    );
    assert_eq!(
        bullet(&comment, "validation_passed").as_deref(),
        Some("false")
    );
    assert_eq!(bullet(&comment, "branch_pushed").as_deref(), Some("false"));
    assert_eq!(
        bullet(&comment, "draft_branch_pushed").as_deref(),
        Some("true")
    );
    // The failing command and what it printed, inside the code block.
    let block = comment
        .split("```")
        .nth(1)
        .unwrap_or_else(|| panic!("no code block in:\n{comment}"));
    assert!(
        block.contains(check),
        "command missing from block:\n{block}"
    );
    assert!(
        block.contains("lint: CHANGES.md is missing"),
        "output missing from block:\n{block}"
    );

    // The draft branch carries the agent's work.
    let branch = task_branch(&id, "write-release-notes");
    let branch = branch.as_str();
    assert_eq!(w.oc_branches(&w.remote), vec![branch.to_string()]);
    let remote = w.remote.to_string_lossy().into_owned();
    let notes = w.git(
        w.path(),
        &["--git-dir", &remote, "show", &format!("{branch}:NOTES.md")],
    );
    assert_eq!(notes, "notes\n");
    assert_eq!(single_execution(&task)["charged"], true);
}

#[test]
fn no_change_with_passing_validation_is_done() {
    let mut w = World::new();
    w.config.repos.get_mut("demo").unwrap().validation_commands = vec!["test -f README.md".into()];
    w.use_agent("echo 'nothing to do here'");
    let id = w.add_goal("Already done");

    assert_eq!(w.run_next(), format!("executed {id}: Done (no_op)"));
    let task = w.task_json(&id);
    assert_eq!(task["state"], "Done");
    let comment = comment_starting(&task, RESULT);
    assert_eq!(
        bullet(&comment, "validation_passed").as_deref(),
        Some("true")
    );
    assert_eq!(bullet(&comment, "branch_pushed").as_deref(), Some("false"));
    assert!(w.oc_branches(&w.remote).is_empty(), "no branch for a no-op");
}

/// An agent that prints a capacity-exhausted capture and exits 0 returns its task to
/// Ready for AI without charging it, and pauses the backend.
fn assert_quota_noop(capture: &str) {
    let mut w = World::new();
    w.use_agent(&format!("cat {}\nexit 0", sh_quote(capture)));
    let id = w.add_goal("Out of quota");

    let line = w.run_next();
    assert!(
        line.starts_with(&format!("executed {id}: Ready for AI")),
        "{line}"
    );
    let task = w.task_json(&id);
    assert_eq!(task["state"], "Ready for AI");
    let comment = comment_starting(&task, RESULT);
    assert!(
        comment.to_lowercase().contains("capacity"),
        "comment does not mention capacity:\n{comment}"
    );
    assert_eq!(
        bullet(&comment, "result_status").as_deref(),
        Some("ready_for_ai")
    );
    let run = single_execution(&task);
    assert_eq!(run["charged"], false, "{run}");
    assert!(w.oc_branches(&w.remote).is_empty(), "no branch for a no-op");

    // The backend is paused: the next cycle does not hand the task to it again.
    let (line, events) = w.run_next_json();
    assert!(line.starts_with("skipped: backend_paused ("), "{line}");
    assert!(
        support::events_named(&events, "watch_skip_backend_paused")
            .iter()
            .any(|e| e["reason"] == "backend_paused"),
        "{events:#?}"
    );
    let task = w.task_json(&id);
    assert_eq!(task["state"], "Ready for AI");
    assert_eq!(executions(&task).len(), 1);
}

#[test]
fn kodo_quota_noop_requeues_uncharged_and_pauses_backend() {
    assert_quota_noop(testdata!("kodo/quota-noop/kodo-stdout.log"));
}

#[test]
fn claude_out_of_extra_usage_requeues_uncharged_and_pauses_backend() {
    assert_quota_noop(testdata!("agents/claude_code_extra_usage.stdout.txt"));
}

#[test]
fn success_that_quotes_the_quota_text_is_a_success() {
    let mut w = World::new();
    w.use_agent(&writing_agent(Some(testdata!(
        "kodo/success-quoting-quota-text/kodo-stdout.log"
    ))));
    let id = w.add_goal("Review a quota-exhausted PR");
    assert_eq!(w.run_next(), format!("executed {id}: Review (executed)"));
    let task = w.task_json(&id);
    assert_eq!(task["state"], "Review");
    let run = single_execution(&task);
    assert_eq!(run["charged"], true);
    assert!((cost(&run) - 0.2089).abs() < 1e-9, "{run}");
    // Not paused: the next cycle gets past every gate and finds nothing to do.
    let line = w.run_next();
    assert!(line.starts_with("idle:"), "{line}");
}

#[test]
fn description_without_execution_or_repo_label_is_blocked() {
    let mut w = World::new();
    w.use_agent(&writing_agent(None));
    let id = w.add_task("No repo anywhere", &["--body", "Please improve things."]);

    let line = w.run_next();
    assert!(
        line.starts_with(&format!("executed {id}: Blocked")),
        "{line}"
    );
    let task = w.task_json(&id);
    assert_eq!(task["state"], "Blocked");
    let comment = comment_starting(&task, "[Goal] Execution failed");
    assert!(
        comment.contains(
            "Missing '## Execution' section and no 'repo: <key>' label found on the task"
        ),
        "{comment}"
    );
    assert!(executions(&task).is_empty(), "{task:#}");
    assert!(w.oc_branches(&w.remote).is_empty());
}

#[test]
fn unknown_repo_key_is_blocked() {
    let mut w = World::new();
    w.use_agent(&writing_agent(None));
    let id = w.add_task(
        "Wrong repo",
        &[
            "--body",
            "## Execution\nrepo: nosuchrepo\n\n## Goal\nDo it.",
        ],
    );

    let line = w.run_next();
    assert!(
        line.starts_with(&format!("executed {id}: Blocked")),
        "{line}"
    );
    let task = w.task_json(&id);
    assert_eq!(task["state"], "Blocked");
    let comment = comment_starting(&task, "[Goal] Execution failed");
    assert!(comment.contains("Unknown repo key"), "{comment}");
    assert!(comment.contains("nosuchrepo"), "{comment}");
    assert!(executions(&task).is_empty(), "{task:#}");
}

/// The executed task ids, in order, of `n` `oc run-next` calls.
fn run_order(w: &World, n: usize) -> Vec<String> {
    (0..n)
        .map(|_| {
            let line = w.run_next();
            line.strip_prefix("executed ")
                .and_then(|rest| rest.split(':').next())
                .unwrap_or_else(|| panic!("not an execution: {line}"))
                .to_string()
        })
        .collect()
}

#[test]
fn most_urgent_task_runs_first() {
    let mut w = World::new();
    w.config.repos.get_mut("demo").unwrap().validation_commands = vec![];
    w.use_agent("exit 0");
    let body = ["--repo", "demo", "--body", "## Goal\nSomething small."];
    // Scores: priority (urgent 4, high 3, medium 2, low 1) + title boost ([Regression] 3).
    let plain = w.add_task("Tidy the docs", &body); // 0
    let high = w.add_task(
        "Speed up the build",
        &[&body[..], &["--priority", "high"]].concat(),
    ); // 3
    let regression = w.add_task(
        "[Regression] Login fails after upgrade",
        &[&body[..], &["--priority", "low"]].concat(),
    ); // 3 + 1 = 4
    assert_eq!(run_order(&w, 3), vec![regression, high, plain]);
}

#[test]
fn equal_urgency_goes_to_the_older_task() {
    let mut w = World::new();
    w.config.repos.get_mut("demo").unwrap().validation_commands = vec![];
    w.use_agent("exit 0");
    let body = ["--repo", "demo", "--body", "## Goal\nSomething small."];
    let plain = w.add_task("Tidy the docs", &body); // 0
    let high = w.add_task(
        "Speed up the build",
        &[&body[..], &["--priority", "high"]].concat(),
    ); // 3
    let regression = w.add_task("[Regression] Login fails after upgrade", &body); // 3, newer
    let systemic = w.add_task(
        "[Systemic] Flaky network calls",
        &[&body[..], &["--priority", "medium"]].concat(),
    ); // 2 + 2 = 4
    assert_eq!(run_order(&w, 4), vec![systemic, high, regression, plain]);
}
