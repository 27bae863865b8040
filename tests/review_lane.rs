//! The review lane end to end against the fake GitHub and real git: the goal lane opens the
//! PR, `oc-review` self-reviews, revises on the PR branch, escalates, merges — checked as a
//! user would: the PR on GitHub, the commits in the bare repo, the task on the board, the
//! comments (each posted once), the feedback record.

#[path = "support/mod.rs"]
mod support;
#[path = "support_github/mod.rs"]
mod support_github;
#[path = "support_http/mod.rs"]
mod support_http;

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;
use support::{World, comments, wait_until};
use support_github::{FakeGitHub, TOKEN};

const OC_REVIEW: &str = env!("CARGO_BIN_EXE_oc-review");
const FULL: &str = "acme/demo";
const TOKEN_ENV: &str = "OC_TEST_GITHUB_TOKEN";
const OC_CI_WEBHOOK: &str = env!("CARGO_BIN_EXE_oc-ci-webhook");
const WEBHOOK_SECRET: &str = "oc-test-secret";

/// The agent for every lane: the goal run writes CHANGES.md (and appends to an existing
/// requirements.txt); a conflict resolution drops the conflict markers; a self-review answers the
/// next line of `verdicts` (LGTM, CONCERNS, QUOTA = Claude's out-of-usage no-op, SLEEP =
/// hangs until stopped); a revision appends to REVISION.md and keeps its goal file.
const AGENT: &str = r##"
DIR="$(dirname "$0")"
case "$OC_TASK_KIND" in
review)
  if grep -q '^# Conflict resolution' "$OC_GOAL_FILE"; then
    n=$(cat "$DIR/resolutions" 2>/dev/null || echo 0); echo $((n+1)) > "$DIR/resolutions"
    for f in $(grep -rl '^<<<<<<<' --exclude-dir=.git .); do
      sed -i -e '/^<<<<<<< /d' -e '/^=======$/d' -e '/^>>>>>>> /d' "$f"
    done
  elif grep -q '^# Self-review' "$OC_GOAL_FILE"; then
    n=$(cat "$DIR/reviews" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "$DIR/reviews"
    v=$(sed -n "${n}p" "$DIR/verdicts" 2>/dev/null); [ -z "$v" ] && v=LGTM
    case "$v" in
      QUOTA) cat "$DIR/quota.txt"; exit 0;;
      SLEEP) touch "$DIR/agent-started"; sleep 60; echo LGTM;;
      CONCERNS) printf 'CONCERNS\n- the change needs a changelog heading\n' > "$OC_VERDICT_FILE"; echo "wrote verdict";;
      *) printf 'LGTM\n' > "$OC_VERDICT_FILE"; echo "wrote verdict";;
    esac
  else
    n=$(cat "$DIR/revisions" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "$DIR/revisions"
    cp "$OC_GOAL_FILE" "$DIR/revision-goal-$n.md"
    echo "revision $n" >> REVISION.md
  fi;;
*) echo "# Changes" > CHANGES.md
   if [ -f requirements.txt ]; then echo "flask==3.0" >> requirements.txt; fi;;
esac
"##;

struct Env {
    w: World,
    fake: FakeGitHub,
}

/// A world whose `demo` repo is an await_review repo on the fake GitHub as `acme/demo`.
/// `repo_extra` are raw `key: value` lines for the repo, `reviewer` raw lines under
/// `reviewer:`.
fn setup(verdicts: &[&str], repo_extra: &[(&str, &str)], reviewer: &[(&str, &str)]) -> Env {
    let mut w = World::new();
    let fake = FakeGitHub::start();
    fake.add_repo("acme", "demo", &w.remote);
    let repo = w.config.repos.get_mut("demo").unwrap();
    repo.extra.push(("await_review".into(), "true".into()));
    repo.extra.push(("github_repo".into(), "acme/demo".into()));
    for (k, v) in repo_extra {
        repo.extra.push((k.to_string(), v.to_string()));
    }
    w.config
        .limits
        .insert("min_watch_interval_seconds".into(), "0".into());
    w.config
        .limits
        .insert("watch_interval_seconds".into(), "{review: 0}".into());
    let mut extra = format!(
        "git:\n  token_env: {TOKEN_ENV}\n  api_base_url: {}\nreviewer:\n  bot_logins: [oc-bot, ci-bot]\n",
        fake.base_url()
    );
    for (k, v) in reviewer {
        extra.push_str(&format!("  {k}: {v}\n"));
    }
    w.config.extra = extra;
    std::fs::write(w.path().join("verdicts"), verdicts.join("\n") + "\n").unwrap();
    std::fs::copy(
        testdata!("agents/claude_code_extra_usage.stdout.txt"),
        w.path().join("quota.txt"),
    )
    .unwrap();
    w.use_agent(AGENT);
    Env { w, fake }
}

impl Env {
    /// Runs the goal lane on a new task; returns (task id, PR number).
    fn goal_to_pr(&self, title: &str, labels: &[&str]) -> (String, u64) {
        let mut args = vec![
            "--repo",
            "demo",
            "--body",
            "## Goal\nAdd a CHANGES.md file describing the release.",
        ];
        for l in labels {
            args.extend(["--label", l]);
        }
        let id = self.w.add_task(title, &args);
        let out = self.w.oc_env(&["run-next"], &[(TOKEN_ENV, TOKEN)]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains("In Review"),
            "goal run: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let pr = self
            .fake
            .pulls(FULL)
            .into_iter()
            .rfind(|p| {
                p.body
                    .as_deref()
                    .unwrap_or("")
                    .contains(&format!("Task: {id}"))
            })
            .expect("the goal lane opened a PR");
        (id, pr.number)
    }

    fn review_command(&self, cycles: u64) -> Command {
        let mut c = self.w.command(OC_REVIEW);
        c.args(["--log-format", "json", "--max-cycles", &cycles.to_string()])
            .env(TOKEN_ENV, TOKEN);
        c
    }

    /// Runs `oc-review` for `cycles` cycles; returns its JSON log events.
    fn review(&self, cycles: u64) -> Vec<Value> {
        let out = self
            .w
            .output(self.review_command(cycles), Duration::from_secs(120));
        assert_ok(&out);
        support::json_lines(&String::from_utf8_lossy(&out.stderr))
    }

    fn pr_comments(&self, n: u64) -> Vec<(String, String)> {
        self.fake
            .comments(FULL, n)
            .into_iter()
            .map(|c| (c.user, c.body))
            .collect()
    }

    /// How many PR comments contain `needle`.
    fn count_comments(&self, n: u64, needle: &str) -> usize {
        self.pr_comments(n)
            .iter()
            .filter(|(_, b)| b.contains(needle))
            .count()
    }

    fn review_state(&self, n: u64) -> Option<Value> {
        self.w
            .oc_ok(&["reviews"])
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .find(|v| v["pr_number"] == n)
    }

    fn phase(&self, n: u64) -> String {
        self.review_state(n).expect("review state")["phase"]
            .as_str()
            .unwrap()
            .to_string()
    }

    fn board_comments_starting(&self, task: &str, prefix: &str) -> Vec<String> {
        comments(&self.w.task_json(task))
            .into_iter()
            .map(|(_, b)| b)
            .filter(|b| b.starts_with(prefix))
            .collect()
    }

    fn branch_log(&self, branch: &str) -> String {
        self.w.git(
            &self.w.remote,
            &["log", "--format=%s", &format!("refs/heads/{branch}")],
        )
    }

    fn counter(&self, name: &str) -> u32 {
        std::fs::read_to_string(self.w.path().join(name))
            .map(|s| s.trim().parse().unwrap())
            .unwrap_or(0)
    }

    fn feedback(&self, task: &str) -> Value {
        serde_json::from_str(&self.w.oc_ok(&["feedback", "show", task])).unwrap()
    }
}

fn assert_ok(out: &Output) {
    assert!(
        out.status.success(),
        "exit {}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

fn phase_events(events: &[Value]) -> Vec<(String, String)> {
    support::events_named(events, "review_phase")
        .iter()
        .map(|e| {
            (
                e["from"].as_str().unwrap_or("").to_string(),
                e["to"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[test]
fn self_review_lgtm_merges_and_the_task_is_done() {
    let e = setup(&["LGTM"], &[], &[]);
    let (task, n) = e.goal_to_pr("Add a changelog", &[]);
    let pr = e.fake.pull(FULL, n);
    assert_eq!(pr.title, "Add a changelog");
    assert_eq!(pr.user, support_github::BOT_LOGIN);
    let body = pr.body.clone().unwrap();
    assert!(body.contains("<!-- operations-center:bot -->"), "{body}");
    assert_eq!(e.w.task_state(&task), "In Review");
    let result = e.board_comments_starting(&task, "[Goal] Execution result");
    assert!(
        result[0].contains(&format!("- pr_url: https://github.com/{FULL}/pull/{n}")),
        "{result:?}"
    );

    let events = e.review(1);
    let pr = e.fake.pull(FULL, n);
    assert!(pr.merged, "PR merged on GitHub");
    let main_files = e.w.git(&e.w.remote, &["ls-tree", "--name-only", "main"]);
    assert!(main_files.contains("CHANGES.md"), "{main_files}");
    assert_eq!(e.w.task_state(&task), "Done");
    let merged = e.board_comments_starting(&task, "[Review] PR #");
    assert_eq!(merged.len(), 1, "{merged:?}");
    assert!(
        merged[0].contains("merged (self_review_lgtm)"),
        "{merged:?}"
    );
    assert_eq!(e.count_comments(n, "Self-review passed — merging."), 1);
    assert_eq!(
        phase_events(&events),
        vec![
            ("self_review".to_string(), "awaiting_ci".to_string()),
            ("awaiting_ci".to_string(), "merged".to_string())
        ]
    );
    let f = e.feedback(&task);
    assert_eq!(f["outcome"], "merged");
    assert_eq!(f["pr_number"], n);
    assert_eq!(f["merge_reason"], "self_review_lgtm");
}

#[test]
fn concerns_twice_go_to_human_review_after_a_pushed_revision() {
    let e = setup(&["CONCERNS", "CONCERNS"], &[], &[]);
    let (task, n) = e.goal_to_pr("Add a changelog", &[]);
    let branch = e.fake.pull(FULL, n).head_ref;

    e.review(1);
    // The revision ran on the PR's own branch and was pushed there (§12 #25).
    let log = e.branch_log(&branch);
    assert!(
        log.lines()
            .next()
            .unwrap()
            .starts_with(&format!("Address self-review concerns on PR #{n} (pass 1)")),
        "{log}"
    );
    let files = e.w.git(&e.w.remote, &["ls-tree", "--name-only", &branch]);
    assert!(files.contains("REVISION.md"), "{files}");
    assert_eq!(e.phase(n), "self_review");
    assert_eq!(
        e.fake.head_sha(FULL, n),
        e.w.git(&e.w.remote, &["rev-parse", &branch]).trim()
    );

    let events = e.review(2);
    assert_eq!(e.phase(n), "human_review");
    assert_eq!(
        phase_events(&events),
        vec![("self_review".to_string(), "human_review".to_string())]
    );
    assert_eq!(
        e.count_comments(n, "**Self-review (pass 1) — concerns:**"),
        1
    );
    assert_eq!(
        e.count_comments(n, "**Self-review (pass 2) — concerns:**"),
        1
    );
    assert_eq!(e.count_comments(n, "**Escalated to human review.**"), 1);
    assert_eq!(e.counter("revisions"), 1, "one revision between the passes");
    assert!(!e.fake.pull(FULL, n).merged);
    assert_eq!(e.w.task_state(&task), "In Review");
    assert_eq!(e.feedback(&task)["outcome"], "escalated");
}

#[test]
fn a_plain_request_changes_review_pushes_a_revision_to_the_pr_branch() {
    let e = setup(&["CONCERNS"], &[], &[("max_self_review_loops", "1")]);
    let (_task, n) = e.goal_to_pr("Add a changelog", &[]);
    let branch = e.fake.pull(FULL, n).head_ref;
    e.review(1);
    assert_eq!(e.phase(n), "human_review");
    let before = e.w.git(&e.w.remote, &["rev-parse", &branch]);

    e.fake.review_as(FULL, n, "alice", "CHANGES_REQUESTED", "");
    e.fake
        .review_comment_as(FULL, n, "alice", "CHANGES.md", "Use a level-2 heading");
    e.review(2);
    let after = e.w.git(&e.w.remote, &["rev-parse", &branch]);
    assert_ne!(
        before, after,
        "a revision commit was pushed to the PR branch"
    );
    let log = e.branch_log(&branch);
    assert!(
        log.lines()
            .next()
            .unwrap()
            .starts_with(&format!("Address review feedback on PR #{n} (round 1)")),
        "{log}"
    );
    let goal = std::fs::read_to_string(e.w.path().join("revision-goal-1.md")).unwrap();
    assert!(goal.contains("@alice requested changes"), "{goal}");
    assert!(goal.contains("[CHANGES.md]"), "{goal}");
    assert!(goal.contains("Use a level-2 heading"), "{goal}");
    assert_eq!(
        e.counter("revisions"),
        1,
        "the processed review is not redone"
    );
    assert_eq!(e.count_comments(n, "Revision pushed to"), 1);
    assert_eq!(e.review_state(n).unwrap()["human_review_loops"], 1);
    assert!(!e.fake.pull(FULL, n).merged);
}

#[test]
fn lgtm_first_line_merges_and_bot_thumbs_up_is_ignored() {
    let e = setup(&["CONCERNS"], &[], &[("max_self_review_loops", "1")]);
    let (task, n) = e.goal_to_pr("Add a changelog", &[]);
    e.review(1);
    assert_eq!(e.phase(n), "human_review");

    e.fake.react_as(FULL, n, "ci-bot", "+1");
    e.fake.react_as(FULL, n, "renovate[bot]", "+1");
    e.fake.comment_as(FULL, n, "ci-bot", "/lgtm");
    e.review(1);
    assert!(!e.fake.pull(FULL, n).merged, "bots do not approve");
    assert_eq!(e.counter("revisions"), 0);

    // Not an approval (§10.2 case 43): taken as review feedback instead.
    e.fake.comment_as(FULL, n, "bob", "please /lgtm this");
    e.review(1);
    assert!(!e.fake.pull(FULL, n).merged);
    assert_eq!(e.counter("revisions"), 1);

    e.fake.comment_as(
        FULL,
        n,
        "alice",
        "/LGTM  \n\nOperator approval — all checks pass.",
    );
    e.review(1);
    assert!(e.fake.pull(FULL, n).merged);
    assert_eq!(e.w.task_state(&task), "Done");
    let merged = e.board_comments_starting(&task, "[Review] PR #");
    assert!(merged[0].contains("(lgtm_comment)"), "{merged:?}");
}

#[test]
fn allowed_reviewer_logins_restrict_who_approves() {
    let e = setup(
        &["CONCERNS"],
        &[],
        &[
            ("max_self_review_loops", "1"),
            ("allowed_reviewer_logins", "[carol]"),
        ],
    );
    let (task, n) = e.goal_to_pr("Add a changelog", &[]);
    e.review(1);
    e.fake.react_as(FULL, n, "alice", "+1");
    e.fake.comment_as(FULL, n, "alice", "/lgtm");
    e.review(1);
    assert!(
        !e.fake.pull(FULL, n).merged,
        "alice is not an allowed reviewer"
    );
    assert_eq!(e.counter("revisions"), 0, "nor is her comment feedback");
    e.fake.react_as(FULL, n, "carol", "+1");
    e.review(1);
    assert!(e.fake.pull(FULL, n).merged);
    let merged = e.board_comments_starting(&task, "[Review] PR #");
    assert!(merged[0].contains("(thumbs_up_reaction)"), "{merged:?}");
}

#[test]
fn human_review_timeout_merges_when_nobody_objects() {
    let e = setup(
        &["CONCERNS"],
        &[],
        &[
            ("max_self_review_loops", "1"),
            ("human_review_timeout_seconds", "0"),
        ],
    );
    let (task, n) = e.goal_to_pr("Add a changelog", &[]);
    e.review(2);
    assert!(e.fake.pull(FULL, n).merged);
    assert_eq!(e.w.task_state(&task), "Done");
    assert_eq!(e.count_comments(n, "human review timed out"), 1);
    assert_eq!(e.feedback(&task)["merge_reason"], "human_review_timeout");
}

#[test]
fn explicit_approval_blocks_the_timeout_merge_with_one_reminder_a_day() {
    let e = setup(
        &["CONCERNS"],
        &[("require_explicit_approval", "true")],
        &[
            ("max_self_review_loops", "1"),
            ("human_review_timeout_seconds", "0"),
        ],
    );
    let (task, n) = e.goal_to_pr("Add a changelog", &[]);
    e.review(4);
    assert!(!e.fake.pull(FULL, n).merged);
    assert_eq!(
        e.count_comments(n, "This PR requires explicit approval before merging."),
        1
    );
    e.review(2);
    assert_eq!(
        e.count_comments(n, "This PR requires explicit approval before merging."),
        1,
        "a restart does not remind again the same day"
    );
    e.fake.react_as(FULL, n, "alice", "+1");
    e.review(1);
    assert!(e.fake.pull(FULL, n).merged);
    assert_eq!(e.w.task_state(&task), "Done");
}

#[test]
fn a_pending_check_is_not_green() {
    let e = setup(&["LGTM"], &[], &[]);
    let (task, n) = e.goal_to_pr("Add a changelog", &[]);
    let sha = e.fake.head_sha(FULL, n);
    e.fake
        .set_check_run(FULL, &sha, "build", "completed", Some("success"));
    e.fake.set_check_run(FULL, &sha, "e2e", "in_progress", None);
    e.review(2);
    assert!(!e.fake.pull(FULL, n).merged, "e2e still runs");
    assert_eq!(e.phase(n), "awaiting_ci");
    e.fake
        .set_check_run(FULL, &sha, "e2e", "completed", Some("success"));
    e.review(1);
    assert!(e.fake.pull(FULL, n).merged);
    assert_eq!(e.w.task_state(&task), "Done");
}

#[test]
fn auto_merge_on_ci_green_waits_for_every_check_of_an_autonomy_pr() {
    let e = setup(
        &["CONCERNS"],
        &[("auto_merge_on_ci_green", "true")],
        &[("max_self_review_loops", "1")],
    );
    let (task, n) = e.goal_to_pr("Add a changelog", &["source: autonomy"]);
    e.review(1);
    assert_eq!(e.phase(n), "human_review");
    let sha = e.fake.head_sha(FULL, n);
    e.fake.set_check_run(FULL, &sha, "build", "queued", None);
    e.fake.add_status(FULL, &sha, "ci/legacy", "success");
    e.review(1);
    assert!(!e.fake.pull(FULL, n).merged, "a queued check is not green");
    e.fake
        .set_check_run(FULL, &sha, "build", "completed", Some("success"));
    e.review(1);
    assert!(e.fake.pull(FULL, n).merged);
    assert_eq!(e.feedback(&task)["merge_reason"], "auto_merge_on_ci_green");
}

#[test]
fn an_ignored_failing_check_does_not_block_the_merge() {
    let e = setup(&["LGTM"], &[("ci_ignored_checks", "[legacy]")], &[]);
    let (task, n) = e.goal_to_pr("Add a changelog", &[]);
    let sha = e.fake.head_sha(FULL, n);
    e.fake
        .set_check_run(FULL, &sha, "build", "completed", Some("success"));
    e.fake.set_check_run(
        FULL,
        &sha,
        "Legacy Integration",
        "completed",
        Some("failure"),
    );
    e.review(1);
    assert!(e.fake.pull(FULL, n).merged);
    assert_eq!(e.w.task_state(&task), "Done");
}

#[test]
fn a_failing_check_escalates_instead_of_merging() {
    let e = setup(&["LGTM"], &[], &[]);
    let (_task, n) = e.goal_to_pr("Add a changelog", &[]);
    let sha = e.fake.head_sha(FULL, n);
    e.fake
        .set_check_run(FULL, &sha, "build", "completed", Some("failure"));
    e.review(1);
    assert!(!e.fake.pull(FULL, n).merged);
    assert_eq!(e.phase(n), "human_review");
    assert_eq!(e.count_comments(n, "- build: failure"), 1);
}

#[test]
fn two_reviewers_started_together_merge_once_and_the_task_is_done() {
    let e = setup(&["CONCERNS"], &[], &[("max_self_review_loops", "1")]);
    let (task, n) = e.goal_to_pr("Add a changelog", &[]);
    e.review(1);
    e.fake.comment_as(FULL, n, "alice", "/lgtm");
    let quiet = || {
        let mut c = e.review_command(1);
        c.stdout(Stdio::null()).stderr(Stdio::null());
        c.spawn().unwrap()
    };
    let mut a = quiet();
    let mut b = quiet();
    let finished = wait_until(Duration::from_secs(60), || {
        a.try_wait().unwrap().is_some() && b.try_wait().unwrap().is_some()
    });
    if !finished {
        let _ = a.kill();
        let _ = b.kill();
    }
    let (sa, sb) = (a.wait().unwrap(), b.wait().unwrap());
    assert!(finished, "both reviewers finish");
    // The state directory's review lock lets one work; the other either found it taken
    // (exit 75, having done nothing) or started after the first had finished.
    let codes = [sa.code(), sb.code()];
    assert!(
        codes.iter().all(|c| matches!(c, Some(0) | Some(75))) && codes.contains(&Some(0)),
        "{codes:?}"
    );
    assert_eq!(e.fake.merges(), 1, "one merge");
    assert!(e.fake.pull(FULL, n).merged);
    assert_eq!(e.w.task_state(&task), "Done");
    assert_eq!(e.board_comments_starting(&task, "[Review] PR #").len(), 1);
    assert_eq!(e.feedback(&task)["outcome"], "merged");
}

#[test]
fn a_pr_merged_by_someone_else_counts_as_merged() {
    let e = setup(&["CONCERNS"], &[], &[("max_self_review_loops", "1")]);
    let (task, n) = e.goal_to_pr("Add a changelog", &[]);
    e.review(1);
    e.fake.merge_outside(FULL, n, "alice");
    e.review(1);
    assert_eq!(e.w.task_state(&task), "Done");
    assert_eq!(e.phase(n), "merged");
    assert_eq!(e.feedback(&task)["outcome"], "merged");
}

#[test]
fn a_human_pr_is_left_alone_unless_it_is_linked_to_a_task() {
    let e = setup(&["LGTM"], &[], &[]);
    // Two branches pushed by a human.
    let clone = e.w.path().join("human");
    e.w.git(
        e.w.path(),
        &[
            "clone",
            "--quiet",
            &e.w.remote.to_string_lossy(),
            &clone.to_string_lossy(),
        ],
    );
    for b in ["human/one", "human/two"] {
        e.w.git(&clone, &["checkout", "--quiet", "-B", b, "origin/main"]);
        std::fs::write(clone.join(format!("{}.txt", b.replace('/', "-"))), "x\n").unwrap();
        e.w.git(&clone, &["add", "."]);
        e.w.git(
            &clone,
            &[
                "-c",
                "user.name=H",
                "-c",
                "user.email=h@example.com",
                "commit",
                "--quiet",
                "-m",
                b,
            ],
        );
        e.w.git(&clone, &["push", "--quiet", "origin", b]);
    }
    let task = e.w.add_task(
        "Tidy the docs",
        &[
            "--repo",
            "demo",
            "--state",
            "In Review",
            "--body",
            "## Goal\nTidy.",
        ],
    );
    let alone = e
        .fake
        .open_pr_as(FULL, "alice", "human/one", "My own change", "Just a fix.");
    let linked = e.fake.open_pr_as(
        FULL,
        "alice",
        "human/two",
        "Docs",
        &format!("Tidies the docs.\n\nTask: {task}"),
    );
    let events = e.review(2);
    assert!(e.review_state(alone).is_none());
    assert!(e.fake.comments(FULL, alone).is_empty());
    assert!(!e.fake.pull(FULL, alone).merged);
    assert_eq!(
        support::events_named(&events, "review_skip_unlinked_pr").len(),
        1
    );
    assert!(e.fake.pull(FULL, linked).merged);
    assert_eq!(e.w.task_state(&task), "Done");
}

#[test]
fn backfill_command_creates_state_for_linked_prs_only() {
    let e = setup(&["LGTM"], &[], &[]);
    let (_task, n) = e.goal_to_pr("Add a changelog", &[]);
    e.fake
        .open_pr_as(FULL, "alice", "main", "Unlinked", "no task here");
    // The goal lane already made the state; backfill finds nothing new for it.
    let out = e.w.oc_env(&["backfill-pr-reviews"], &[(TOKEN_ENV, TOKEN)]);
    assert_ok(&out);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["created"], serde_json::json!([]));
    assert_eq!(report["left_alone"], serde_json::json!(["demo#2"]));
    assert_eq!(e.phase(n), "self_review");
}

#[test]
fn a_run_without_verdict_backs_off_instead_of_rerunning_every_cycle() {
    let e = setup(
        &["QUOTA", "LGTM"],
        &[],
        &[("no_verdict_backoff_seconds", "3600")],
    );
    let (task, n) = e.goal_to_pr("Add a changelog", &[]);
    let events = e.review(3);
    assert_eq!(e.counter("reviews"), 1, "one agent run in three cycles");
    assert_eq!(support::events_named(&events, "review_no_verdict").len(), 1);
    let state = e.review_state(n).unwrap();
    assert_eq!(state["no_verdict_count"], 1);
    // The quota no-op pauses the backend for every lane, as the goal lane's does.
    let ev = support::events_named(&events, "review_no_verdict");
    assert_eq!(ev[0]["class"], "capacity_exhausted");
    assert_eq!(state["self_review_loops"], 0);
    assert!(!e.fake.pull(FULL, n).merged);
    assert_eq!(e.w.task_state(&task), "In Review");
}

#[test]
fn restart_mid_review_resumes_without_duplicate_comments() {
    let e = setup(&["CONCERNS", "SLEEP", "CONCERNS"], &[], &[]);
    let (task, n) = e.goal_to_pr("Add a changelog", &[]);
    e.review(1);
    assert_eq!(
        e.count_comments(n, "**Self-review (pass 1) — concerns:**"),
        1
    );

    // Stopped in the middle of the second self-review pass.
    let mut child = e
        .review_command(5)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = e.w.path().join("agent-started");
    assert!(wait_until(Duration::from_secs(60), || started.exists()));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let mut status = None;
    assert!(wait_until(Duration::from_secs(30), || {
        status = child.try_wait().unwrap();
        status.is_some()
    }));
    assert!(status.unwrap().success());
    let state = e.review_state(n).unwrap();
    assert_eq!(state["phase"], "self_review");
    assert_eq!(
        state["self_review_loops"], 1,
        "the interrupted pass counts for nothing"
    );

    e.review(2);
    assert_eq!(e.phase(n), "human_review");
    assert_eq!(
        e.count_comments(n, "**Self-review (pass 1) — concerns:**"),
        1
    );
    assert_eq!(
        e.count_comments(n, "**Self-review (pass 2) — concerns:**"),
        1
    );
    assert_eq!(e.count_comments(n, "**Escalated to human review.**"), 1);
    assert_eq!(e.w.task_state(&task), "In Review");
}

#[test]
fn feedback_can_be_recorded_by_hand() {
    let w = World::new();
    w.write_config();
    assert_eq!(
        w.oc_ok(&[
            "feedback",
            "record",
            "--task-id",
            "T-9",
            "--outcome",
            "abandoned",
            "--pr-number",
            "7",
            "--family",
            "lint_fix",
            "--confidence",
            "0.8",
        ]),
        "recorded abandoned for T-9"
    );
    let again = w.oc(&[
        "feedback",
        "record",
        "--task-id",
        "T-9",
        "--outcome",
        "merged",
    ]);
    assert_eq!(again.status.code(), Some(2), "no silent overwrite");
    let bad = w.oc(&["feedback", "record", "--task-id", "T-8", "--outcome", "won"]);
    assert_eq!(bad.status.code(), Some(2));
    let f: Value = serde_json::from_str(&w.oc_ok(&["feedback", "show", "T-9"])).unwrap();
    assert_eq!(f["outcome"], "abandoned");
    assert_eq!(f["pr_number"], 7);
    assert_eq!(f["family"], "lint_fix");
    assert_eq!(f["confidence"], 0.8);
    let list = w.oc_ok(&["feedback", "list"]);
    assert!(list.lines().nth(1).unwrap().contains("T-9"), "{list}");
}

/// GitHub's check_run delivery (the octokit fixture) for our repo, commit and check.
fn check_run_delivery(sha: &str, name: &str, status: &str, conclusion: Option<&str>) -> Vec<u8> {
    let text =
        std::fs::read_to_string(testdata!("github/webhooks/check_run.completed.json")).unwrap();
    let mut v: Value = serde_json::from_str(&text).unwrap();
    v["action"] = Value::from(if status == "completed" {
        "completed"
    } else {
        "created"
    });
    v["repository"]["full_name"] = Value::from(FULL);
    v["check_run"]["head_sha"] = Value::from(sha);
    v["check_run"]["name"] = Value::from(name);
    v["check_run"]["status"] = Value::from(status);
    v["check_run"]["conclusion"] = conclusion.map(Value::from).unwrap_or(Value::Null);
    serde_json::to_vec(&v).unwrap()
}

#[test]
fn ci_events_from_the_webhook_gate_the_merge_and_wake_the_lane() {
    let mut e = setup(&["LGTM"], &[], &[]);
    // A long interval: only the webhook's wake-up can make the lane look again in time.
    e.w.config
        .limits
        .insert("watch_interval_seconds".into(), "{review: 3600}".into());
    e.w.write_config();
    let (task, n) = e.goal_to_pr("Add a changelog", &[]);
    let sha = e.fake.head_sha(FULL, n);
    let mut cmd = e.w.command(OC_CI_WEBHOOK);
    cmd.env("OPERATIONS_CENTER_WEBHOOK_SECRET", WEBHOOK_SECRET);
    let receiver = support_http::Receiver::spawn_activated(cmd, e.w.path());
    // Ready once it has opened the database and says so (a loaded machine can take a while).
    assert!(
        wait_until(Duration::from_secs(60), || receiver
            .log()
            .contains("http_listening")),
        "receiver not ready: {}",
        receiver.log()
    );
    let deliver = |id: &str, body: Vec<u8>| {
        let sig = support_http::sign(WEBHOOK_SECRET.as_bytes(), &body);
        let r = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap()
            .post(format!("http://{}/webhook", receiver.addr))
            .header("X-GitHub-Event", "check_run")
            .header("X-GitHub-Delivery", id)
            .header("X-Hub-Signature-256", sig)
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .unwrap_or_else(|e| panic!("delivery {id}: {e}; receiver log:\n{}", receiver.log()));
        assert_eq!(r.status().as_u16(), 200, "{:?}", r.text());
    };
    // The API has no checks at all; the webhook says one is running.
    deliver(
        "d-1",
        check_run_delivery(&sha, "build", "in_progress", None),
    );
    let log = e.w.path().join("oc-review-webhook.log");
    let mut c = e.review_command(2);
    c.stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap());
    let mut lane = c.spawn().unwrap();
    let events = || support::json_lines(&std::fs::read_to_string(&log).unwrap_or_default());
    assert!(wait_until(Duration::from_secs(60), || {
        events().iter().any(|ev| ev["to"] == "awaiting_ci")
    }));
    assert!(
        !e.fake.pull(FULL, n).merged,
        "a running check (seen by the webhook) is not green"
    );
    deliver(
        "d-2",
        check_run_delivery(&sha, "build", "completed", Some("success")),
    );
    let merged = wait_until(Duration::from_secs(60), || e.fake.pull(FULL, n).merged);
    if !merged {
        let _ = lane.kill();
    }
    let status = lane.wait().unwrap();
    assert!(
        merged,
        "woken by the webhook and merged; log:\n{:#?}",
        events()
    );
    assert!(status.success());
    assert_eq!(e.w.task_state(&task), "Done");
    assert!(
        !e.fake
            .requests()
            .iter()
            .any(|r| r.path.ends_with("/check-runs")),
        "the webhook's records were used; no check-run polling"
    );
}

/// Commits `content` to `file` on main in the bare repo (another change landing on the base).
fn commit_on_main(w: &World, file: &str, content: &str) {
    let clone = w.path().join(format!("main-{}", file.replace('/', "-")));
    if !clone.exists() {
        w.git(
            w.path(),
            &[
                "clone",
                "--quiet",
                &w.remote.to_string_lossy(),
                &clone.to_string_lossy(),
            ],
        );
    }
    w.git(&clone, &["pull", "--quiet", "origin", "main"]);
    std::fs::write(clone.join(file), content).unwrap();
    w.git(&clone, &["add", file]);
    w.git(
        &clone,
        &[
            "-c",
            "user.name=H",
            "-c",
            "user.email=h@example.com",
            "commit",
            "--quiet",
            "-m",
            &format!("update {file}"),
        ],
    );
    w.git(&clone, &["push", "--quiet", "origin", "HEAD:main"]);
}

#[test]
fn a_conflict_only_in_dependency_manifests_is_re_resolved_without_a_human() {
    let e = setup(&["LGTM"], &[], &[]);
    commit_on_main(&e.w, "requirements.txt", "requests==2.32\n");
    let (task, n) = e.goal_to_pr("Add a changelog", &[]);
    // Meanwhile main moves on in the same manifest: the PR now conflicts.
    commit_on_main(&e.w, "requirements.txt", "requests==2.32\nnumpy==2.1\n");
    let events = e.review(2);
    assert_eq!(e.counter("resolutions"), 1);
    assert_eq!(
        support::events_named(&events, "review_branch_updated").len(),
        1
    );
    assert!(e.fake.pull(FULL, n).merged, "merged without a human");
    assert_eq!(e.w.task_state(&task), "Done");
    let req = e.w.git(&e.w.remote, &["show", "main:requirements.txt"]);
    for pkg in ["requests==2.32", "numpy==2.1", "flask==3.0"] {
        assert!(req.contains(pkg), "{pkg} in {req}");
    }
    assert!(!req.contains("<<<<<<<"), "{req}");
    assert_eq!(e.count_comments(n, "Escalated"), 0);
}

#[test]
fn a_conflict_in_code_goes_to_a_human() {
    let e = setup(&["LGTM"], &[], &[]);
    let (_task, n) = e.goal_to_pr("Add a changelog", &[]);
    commit_on_main(&e.w, "CHANGES.md", "# Release notes\n");
    e.review(2);
    assert_eq!(e.counter("resolutions"), 0, "no agent for code conflicts");
    assert!(!e.fake.pull(FULL, n).merged);
    assert_eq!(e.phase(n), "human_review");
    assert_eq!(e.count_comments(n, "- CHANGES.md"), 1);
}

#[test]
fn a_pr_that_cannot_be_opened_blocks_the_task_instead_of_stranding_it() {
    let e = setup(&["LGTM"], &[], &[]);
    let id = e.w.add_goal("Add a changelog");
    // No token in the environment: the branch is pushed but no PR can be opened.
    let out = e.w.oc(&["run-next"]);
    assert_ok(&out);
    assert_eq!(e.w.task_state(&id), "Blocked");
    let result = e.board_comments_starting(&id, "[Goal] Execution result");
    assert!(
        result[0].contains("- blocked_classification: pr_open_failed"),
        "{result:?}"
    );
    assert!(result[0].contains("no GitHub token"), "{result:?}");
    assert!(!result[0].contains(TOKEN));
    assert!(e.fake.pulls(FULL).is_empty());
}

#[test]
fn a_misspelt_review_key_is_a_config_error_with_its_position() {
    let mut w = World::new();
    w.config.extra = "reviewer:\n  max_self_review_loop: 2\n".into();
    w.write_config();
    let lines = std::fs::read_to_string(&w.config_path).unwrap();
    let line = lines
        .lines()
        .position(|l| l.contains("max_self_review_loop"))
        .unwrap()
        + 1;
    let out = w.output(w.command(OC_REVIEW), Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(78));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("config.yaml:{line}:3:")) && err.contains("max_self_review_loop"),
        "{err}"
    );
    // And a review lane without a token is a config error too, not a restart loop.
    w.config.extra = "reviewer: {max_self_review_loops: 2}\n".into();
    w.write_config();
    let out = w.output(w.command(OC_REVIEW), Duration::from_secs(60));
    assert_eq!(
        out.status.code(),
        Some(78),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_pr_closed_without_merging_cancels_the_task() {
    let e = setup(&["CONCERNS"], &[], &[("max_self_review_loops", "1")]);
    let (task, n) = e.goal_to_pr("Add a changelog", &[]);
    e.review(1);
    e.fake.close_outside(FULL, n);
    e.review(1);
    assert_eq!(e.w.task_state(&task), "Cancelled");
    assert_eq!(e.phase(n), "closed");
    let closed = e.board_comments_starting(&task, "[Review] PR #");
    assert!(closed[0].contains("closed without merging"), "{closed:?}");
    assert_eq!(e.feedback(&task)["outcome"], "abandoned");
    assert_eq!(e.fake.merges(), 0);
}

#[test]
fn a_second_review_lane_on_the_same_state_refuses_to_start() {
    let mut e = setup(&[], &[], &[]);
    // The first lane does one cycle, then waits a minute holding its lock.
    e.w.config
        .limits
        .insert("watch_interval_seconds".into(), "{review: 60}".into());
    e.w.write_config();
    let mut first = e.review_command(2);
    first
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(e.w.path().join("first.stderr")).unwrap());
    let mut first = first.spawn().expect("start the first oc-review");
    let lock = e.w.state.join("oc-review.lock");
    let holds = || std::fs::read_to_string(&lock).is_ok_and(|t| t.trim() == first.id().to_string());
    assert!(
        wait_until(Duration::from_secs(30), holds),
        "the first lane never took its lock: {}",
        std::fs::read_to_string(e.w.path().join("first.stderr")).unwrap_or_default()
    );

    let second = e.w.output(e.review_command(1), Duration::from_secs(60));
    let err = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(75), "{err}");
    assert!(
        err.contains("another oc-review is already running")
            && err.contains(&format!("pid {}", first.id())),
        "{err}"
    );

    // Once the first has stopped, the next one starts and works.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(first.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    first.wait().unwrap();
    e.review(1);
}
