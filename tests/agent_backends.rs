//! The kodo and claude backends end to end: the lane builds each CLI's real command line,
//! feeds the goal the way that CLI takes it, and reads cost and capacity from its output.
//! The CLIs are stand-ins that check what they are given and replay real output.

mod support;

use support::{World, bullet, comment_starting, executions, sh_quote, yaml_str};

const KODO_FULL_SUCCESS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/testdata/kodo/full-success/kodo-stdout.log"
);

/// Config for a non-`command` backend; the rest as the support world sets it up.
fn write_config(w: &World, agent_yaml: &str) {
    let text = format!(
        "board: {}\n{agent_yaml}max_concurrent_kodo: 0\nmin_kodo_available_mb: 0\nrepos:\n  demo:\n    clone_url: {}\n    validation_commands: [\"test -f CHANGES.md\"]\n",
        w.config.board,
        yaml_str(&w.remote.to_string_lossy())
    );
    std::fs::write(&w.config_path, text).unwrap();
}

#[test]
fn kodo_gets_the_originals_command_line_and_its_cost_is_recorded() {
    let w = World::new();
    let kodo = w.script(
        "kodo",
        &format!(
            r#"set -eu
# The original's command line (original-behaviour §5.3), in this order.
[ "$1" = --goal-file ] || {{ echo "expected --goal-file, got $*" >&2; exit 1; }}
goal=$2
[ "$3" = --project ] && [ "$4" = "$PWD" ] || {{ echo "--project must be the clone (cwd): $*" >&2; exit 1; }}
shift 4
[ "$*" = "--team quick --cycles 1 --exchanges 7 --orchestrator claude-code:sonnet --effort minimal --yes" ] || {{ echo "unexpected tail: $*" >&2; exit 1; }}
case "$goal" in "$PWD"/*) echo "goal file inside the repo" >&2; exit 1;; esac
grep -q 'Write the changelog entry' "$goal"
echo "kodo did it" > CHANGES.md
cat {}
"#,
            sh_quote(KODO_FULL_SUCCESS)
        ),
    );
    write_config(
        &w,
        &format!(
            "agent:\n  backend: kodo\nkodo:\n  binary: {}\n  team: quick\n  cycles: 1\n  exchanges: 7\n  orchestrator: claude-code:sonnet\n  effort: minimal\n",
            yaml_str(&kodo.to_string_lossy())
        ),
    );
    let id = w.add_task(
        "Changelog entry",
        &[
            "--repo",
            "demo",
            "--body",
            "## Goal\nWrite the changelog entry for the release.",
        ],
    );
    let line = w.run_next();
    assert_eq!(line, format!("executed {id}: Review (executed)"));
    let task = w.task_json(&id);
    let runs = executions(&task);
    assert_eq!(runs[0]["backend"], "kodo");
    assert_eq!(runs[0]["cost_source"], "reported");
    assert!(
        (runs[0]["cost_usd"].as_f64().unwrap() - 0.4495).abs() < 1e-9,
        "{runs:?}"
    );
    let comment = comment_starting(&task, "[Goal] Execution result");
    assert_eq!(bullet(&comment, "branch_pushed").as_deref(), Some("true"));
}

#[test]
fn kodo_profile_per_task_kind_replaces_the_defaults() {
    let w = World::new();
    let kodo = w.script(
        "kodo",
        r#"echo "$*" > "$OC_WORKSPACE/../../args.txt"; echo x > CHANGES.md; echo 'Done: 1/1 stage completed, 1 cycle, 2 exchanges, $0.0100, 3s'"#,
    );
    write_config(
        &w,
        &format!(
            "agent:\n  backend: kodo\nkodo:\n  binary: {}\nkodo_profiles:\n  goal: {{team: saga, cycles: 5, exchanges: 9, orchestrator: codex:gpt-5.4, effort: thorough, timeout_seconds: 60}}\n",
            yaml_str(&kodo.to_string_lossy())
        ),
    );
    let id = w.add_goal("Profiled run");
    assert!(w.run_next().starts_with(&format!("executed {id}: Review")));
    let args = std::fs::read_to_string(w.state.join("workspaces/args.txt")).unwrap();
    assert!(
        args.ends_with("--team saga --cycles 5 --exchanges 9 --orchestrator codex:gpt-5.4 --effort thorough --yes\n"),
        "{args}"
    );
}

#[test]
fn claude_reads_the_goal_on_stdin_and_reports_total_cost() {
    let w = World::new();
    let claude = w.script(
        "claude",
        r#"set -eu
[ "$1 $2 $3" = "-p --output-format json" ] || { echo "unexpected: $*" >&2; exit 1; }
prompt=$(cat)
case "$prompt" in *"Write the changelog entry"*) ;; *) echo "goal not on stdin" >&2; exit 1;; esac
echo "claude did it" > CHANGES.md
printf '%s\n' '{"type":"result","subtype":"success","is_error":false,"duration_ms":5123,"num_turns":4,"result":"Added CHANGES.md","session_id":"s-1","total_cost_usd":0.0421,"usage":{"input_tokens":1200,"output_tokens":300}}'
"#,
    );
    write_config(
        &w,
        &format!(
            "agent:\n  backend: claude\nclaude:\n  binary: {}\n",
            yaml_str(&claude.to_string_lossy())
        ),
    );
    let id = w.add_task(
        "Changelog by claude",
        &[
            "--repo",
            "demo",
            "--body",
            "## Goal\nWrite the changelog entry for the release.",
        ],
    );
    assert_eq!(w.run_next(), format!("executed {id}: Review (executed)"));
    let runs = executions(&w.task_json(&id));
    assert_eq!(runs[0]["backend"], "claude");
    assert!(
        (runs[0]["cost_usd"].as_f64().unwrap() - 0.0421).abs() < 1e-9,
        "{runs:?}"
    );
    assert_eq!(runs[0]["charged"], true);
}

#[test]
fn claude_out_of_usage_is_not_charged_and_pauses_the_backend() {
    let w = World::new();
    let claude = w.script(
        "claude",
        r#"cat >/dev/null
printf '%s\n' '{"type":"result","subtype":"error_during_execution","is_error":true,"result":"You'"'"'re out of extra usage · resets 4:20am","total_cost_usd":0}'
"#,
    );
    write_config(
        &w,
        &format!(
            "agent:\n  backend: claude\n  quota_cooldown_seconds: 600\nclaude:\n  binary: {}\n",
            yaml_str(&claude.to_string_lossy())
        ),
    );
    let id = w.add_goal("Needs capacity");
    assert_eq!(
        w.run_next(),
        format!("executed {id}: Ready for AI (capacity_exhausted, capacity_exhausted)")
    );
    let runs = executions(&w.task_json(&id));
    assert_eq!(runs[0]["charged"], false);
    assert!(
        w.run_next().starts_with("skipped: backend_paused ("),
        "the claude backend pauses"
    );
}
