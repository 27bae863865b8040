//! One review cycle over every PR under review: the self-review phase, waiting for CI, and
//! the steps every phase shares (merge, escalation, finalisation, bot comments). Every step
//! re-reads the PR from GitHub and saves the state before the next, so a restart resumes
//! where the last process stopped; bot comments carry a key so that a repeated step never
//! posts the same comment twice.

use std::collections::BTreeMap;
use std::path::Path;

use rusqlite::Connection;

use super::pass::{BranchUpdate, Passes, Revision};
use super::policy::{self, CiState, Verdict};
use super::store::{self, Feedback, Phase, PrReview};
use crate::agent::classify::RunClass;
use crate::board::{Board, State};
use crate::config::{Config, RepoConfig};
use crate::daemon::shutdown::Shutdown;
use crate::github::{GitHub, IssueComment, MergeOutcome, Pull, RepoSlug};
use crate::store::{executions, now};

/// The longest wait between two retries of a run that gave no verdict.
const MAX_BACKOFF_SECS: i64 = 6 * 3600;
/// Who writes the board comments.
const AUTHOR: &str = "operations-center";

pub struct Reviewer<'a> {
    pub config: &'a Config,
    pub state_dir: &'a Path,
    pub board: &'a dyn Board,
    pub conn: &'a Connection,
    pub gh: &'a GitHub,
    pub shutdown: &'a Shutdown,
    pub keepalive: &'a dyn Fn(),
}

/// What one cycle did, for the status line and the CLI.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct CycleReport {
    pub open: usize,
    pub actions: Vec<String>,
}

/// A PR the lane should look at, with its repo.
pub(super) struct Target<'c> {
    pub(super) repo: &'c RepoConfig,
    pub(super) slug: RepoSlug,
}

impl Reviewer<'_> {
    pub(super) fn passes(&self) -> Passes<'_> {
        Passes {
            config: self.config,
            state_dir: self.state_dir,
            conn: self.conn,
            shutdown: self.shutdown,
            keepalive: self.keepalive,
        }
    }

    pub fn cycle(&self) -> anyhow::Result<CycleReport> {
        let mut report = CycleReport::default();
        let active = store::active(self.conn)?;
        report.open = active.len();
        for state in active {
            if self.shutdown.requested() {
                break;
            }
            (self.keepalive)();
            let key = state.key();
            match self.review(state) {
                Ok(action) => report.actions.push(format!("{key}: {action}")),
                Err(e) => {
                    tracing::warn!(event = "review_error", pr = %key, error = %format!("{e:#}"), "{key}: {e:#}");
                    report.actions.push(format!("{key}: error"));
                }
            }
        }
        Ok(report)
    }

    fn target(&self, s: &PrReview) -> anyhow::Result<Target<'_>> {
        let repo =
            self.config.repos.get(&s.repo_key).ok_or_else(|| {
                anyhow::anyhow!("repo key {} is no longer configured", s.repo_key)
            })?;
        let (owner, name) = repo.github_slug().ok_or_else(|| {
            anyhow::anyhow!(
                "repo {} has no GitHub repository (set github_repo)",
                s.repo_key
            )
        })?;
        Ok(Target {
            repo,
            slug: RepoSlug { owner, name },
        })
    }

    /// One step for one PR; returns a short description of what happened.
    fn review(&self, mut s: PrReview) -> anyhow::Result<String> {
        let t = self.target(&s)?;
        let pr = self.gh.pull(&t.slug, s.pr_number)?;
        if pr.is_merged() {
            self.finalize(&mut s, &pr, Phase::Merged, "merged_outside")?;
            return Ok("merged outside the lane".into());
        }
        if pr.state == "closed" {
            self.finalize(&mut s, &pr, Phase::Closed, "closed")?;
            return Ok("closed".into());
        }
        s.head_sha = pr.head.sha.clone();
        s.branch = pr.head.ref_name.clone();
        match s.phase {
            Phase::SelfReview => self.self_review(&t, &mut s, &pr),
            Phase::AwaitingCi => self.awaiting_ci(&t, &mut s, &pr),
            Phase::HumanReview => self.human_review(&t, &mut s, &pr),
            Phase::Merged | Phase::Closed => Ok("done".into()),
        }
    }

    pub(super) fn original_goal(&self, s: &PrReview, pr: &Pull) -> String {
        s.task_id
            .as_deref()
            .and_then(|id| self.board.get(id).ok())
            .map(|t| format!("{}\n\n{}", t.title, t.description))
            .unwrap_or_else(|| format!("{}\n\n{}", pr.title, pr.body.clone().unwrap_or_default()))
    }

    pub(super) fn task_label(&self, s: &PrReview) -> String {
        s.task_id
            .clone()
            .unwrap_or_else(|| format!("pr-{}", s.pr_number))
    }

    fn self_review(&self, t: &Target<'_>, s: &mut PrReview, pr: &Pull) -> anyhow::Result<String> {
        if now() < s.next_attempt_at {
            return Ok("waiting (backoff after a run without verdict)".into());
        }
        let backend = self.config.agent_for("review").backend;
        if let Some((until, _)) = executions::backend_paused(self.conn, backend.as_str())? {
            // Out of quota (seen by any lane): no run can give a verdict before the reset.
            return Ok(format!(
                "waiting: {} paused until {}",
                backend.as_str(),
                crate::store::rfc3339(until)
            ));
        }
        let run_id = crate::lanes::new_run_id();
        tracing::info!(
            event = "review_self_review_start",
            pr = %s.key(),
            pass = s.self_review_loops + 1,
            branch = %s.branch,
            "{}: self-review pass {} on {}",
            s.key(),
            s.self_review_loops + 1,
            s.branch
        );
        let result = self.passes().self_review(
            &s.repo_key,
            t.repo,
            &self.task_label(s),
            &s.branch,
            &s.base,
            &pr.title,
            &self.original_goal(s, pr),
            &run_id,
        )?;
        let Some(verdict) = result.verdict else {
            // No verdict (quota, crash, timeout, unreadable answer): try again later, with
            // a growing wait, instead of re-running the agent every poll (§12 #25).
            s.no_verdict_count += 1;
            let base = self.config.reviewer.no_verdict_backoff_seconds.max(1) as i64;
            let mut wait = base
                .saturating_mul(1 << (s.no_verdict_count - 1).min(16))
                .min(MAX_BACKOFF_SECS);
            if result.class == RunClass::CapacityExhausted {
                // The backend is paused for every lane (pass.rs); do not come back before.
                wait = wait.max(self.config.agent.quota_cooldown_seconds as i64);
            }
            s.next_attempt_at = now() + wait;
            store::save(self.conn, s)?;
            tracing::warn!(
                event = "review_no_verdict",
                pr = %s.key(),
                class = result.class.as_str(),
                retry_in_seconds = wait,
                "{}: self-review gave no verdict ({}: {}); retrying in {wait}s",
                s.key(),
                result.class.as_str(),
                result.reason
            );
            return Ok(format!(
                "no verdict ({}), retry in {wait}s",
                result.class.as_str()
            ));
        };
        s.no_verdict_count = 0;
        s.next_attempt_at = 0;
        s.self_review_loops += 1;
        match verdict {
            Verdict::Lgtm => {
                self.transition(s, Phase::AwaitingCi, "self-review LGTM")?;
                self.awaiting_ci(t, s, pr)
            }
            Verdict::Concerns(items) => {
                let list = bullets(&items);
                store::save(self.conn, s)?;
                self.post_once(
                    t,
                    s,
                    &format!("self-review-{}", s.self_review_loops),
                    &format!(
                        "**Self-review (pass {}) — concerns:**\n\n{list}",
                        s.self_review_loops
                    ),
                )?;
                if s.self_review_loops >= self.config.reviewer.max_self_review_loops {
                    self.escalate(
                        t,
                        s,
                        &format!(
                            "Self-review flagged concerns after {} pass(es) and could not resolve them:\n{list}",
                            s.self_review_loops
                        ),
                    )?;
                    return Ok("escalated to human review".into());
                }
                let message = format!(
                    "Address self-review concerns on PR #{} (pass {})",
                    s.pr_number, s.self_review_loops
                );
                let revision = self.passes().revise(
                    &s.repo_key,
                    t.repo,
                    &self.task_label(s),
                    &s.branch,
                    &self.original_goal(s, pr),
                    &format!("Address the following self-review concerns:\n{list}"),
                    &message,
                    &run_id,
                )?;
                match revision {
                    Revision::Pushed(sha) => {
                        s.head_sha = sha.clone();
                        store::save(self.conn, s)?;
                        tracing::info!(
                            event = "review_revision_pushed",
                            pr = %s.key(),
                            sha = %sha,
                            branch = %s.branch,
                            "{}: revision {sha} pushed to {}",
                            s.key(),
                            s.branch
                        );
                        Ok(format!("concerns; revision {sha} pushed"))
                    }
                    Revision::NoChanges => {
                        self.escalate(
                            t,
                            s,
                            &format!("Self-review flagged concerns, but the revision pass produced no changes:\n{list}"),
                        )?;
                        Ok("escalated: revision changed nothing".into())
                    }
                    Revision::Failed(why) => {
                        store::save(self.conn, s)?;
                        Ok(format!("revision failed ({why}); retry next cycle"))
                    }
                }
            }
        }
    }

    fn awaiting_ci(&self, t: &Target<'_>, s: &mut PrReview, pr: &Pull) -> anyhow::Result<String> {
        match self.ci(t, &s.head_sha)? {
            CiState::Green | CiState::None => {
                self.post_once(t, s, "merging-self-review", "Self-review passed — merging.")?;
                self.merge(t, s, pr, "self_review_lgtm")
            }
            CiState::Pending(names) => {
                store::save(self.conn, s)?;
                Ok(format!("waiting for checks: {}", names.join(", ")))
            }
            CiState::Failing(failures) => {
                self.escalate(
                    t,
                    s,
                    &format!(
                        "Self-review passed, but CI is failing on {}:\n{}",
                        short(&s.head_sha),
                        bullets(&failures)
                    ),
                )?;
                Ok("escalated: CI failing".into())
            }
        }
    }

    /// Checks on `sha`: the webhook's records when it has any for this commit, else the
    /// check runs and commit statuses from the API.
    pub(super) fn ci(&self, t: &Target<'_>, sha: &str) -> anyhow::Result<CiState> {
        let mut checks = webhook_checks(self.conn, &t.slug.to_string(), sha)?;
        if checks.is_empty() {
            for run in self.gh.check_runs(&t.slug, sha)? {
                checks.push(policy::Check {
                    completed: run.status == "completed",
                    name: run.name,
                    conclusion: run.conclusion,
                });
            }
            let combined = self.gh.combined_status(&t.slug, sha)?;
            for st in combined.statuses {
                let completed = st.state != "pending";
                checks.push(policy::Check {
                    name: st.context,
                    completed,
                    conclusion: completed.then_some(st.state),
                });
            }
        }
        Ok(policy::ci_state(t.repo, &checks))
    }

    /// Squash-merge with the head SHA guard. Merged by us or by someone else first: done.
    pub(super) fn merge(
        &self,
        t: &Target<'_>,
        s: &mut PrReview,
        pr: &Pull,
        reason: &str,
    ) -> anyhow::Result<String> {
        // GitHub computed a conflict with the base: bring the branch up to date first.
        if pr.mergeable == Some(false) {
            return self.update_branch(t, s);
        }
        let outcome = self.gh.merge(
            &t.slug,
            s.pr_number,
            &s.head_sha,
            &format!("{} (#{})", pr.title, s.pr_number),
        )?;
        match outcome {
            MergeOutcome::Merged { .. } | MergeOutcome::AlreadyMerged => {
                let reason = if outcome == MergeOutcome::AlreadyMerged {
                    "already_merged"
                } else {
                    reason
                };
                self.finalize(s, pr, Phase::Merged, reason)?;
                Ok(format!("merged ({reason})"))
            }
            MergeOutcome::HeadChanged(msg) | MergeOutcome::NotMergeable(msg) => {
                store::save(self.conn, s)?;
                tracing::warn!(event = "review_merge_refused", pr = %s.key(), reason, "{}: merge refused: {msg}", s.key());
                Ok(format!("merge refused: {msg}"))
            }
        }
    }

    /// The PR conflicts with its base: merge the base in; dependency-manifest conflicts are
    /// re-resolved by the agent without a human; others go to (or stay with) a human.
    fn update_branch(&self, t: &Target<'_>, s: &mut PrReview) -> anyhow::Result<String> {
        let update = self.passes().update_branch(
            &s.repo_key,
            t.repo,
            &self.task_label(s),
            &s.branch,
            &s.base,
            &crate::lanes::new_run_id(),
        )?;
        match update {
            BranchUpdate::Pushed { sha, resolved } => {
                s.head_sha = sha.clone();
                store::save(self.conn, s)?;
                let how = if resolved.is_empty() {
                    "clean".to_string()
                } else {
                    format!("re-resolved {}", resolved.join(", "))
                };
                tracing::info!(
                    event = "review_branch_updated",
                    pr = %s.key(),
                    sha = %sha,
                    "{}: merged {} into {} ({how}); merging next cycle",
                    s.key(),
                    s.base,
                    s.branch
                );
                Ok(format!("branch updated to {} ({how})", short(&sha)))
            }
            BranchUpdate::Conflicts(files) => {
                let why = format!(
                    "The branch conflicts with `{}` in:\n{}",
                    s.base,
                    bullets(&files)
                );
                if s.phase == Phase::HumanReview {
                    store::save(self.conn, s)?;
                    self.post_once(
                        t,
                        s,
                        &format!("conflicts-{}", short(&s.head_sha)),
                        &format!("{why}\n\nPlease resolve them on the branch; the merge follows once it is clean."),
                    )?;
                } else {
                    self.escalate(t, s, &why)?;
                }
                Ok("merge conflicts; left to a human".into())
            }
        }
    }

    pub(super) fn escalate(
        &self,
        t: &Target<'_>,
        s: &mut PrReview,
        why: &str,
    ) -> anyhow::Result<()> {
        s.phase2_entered_at = Some(now());
        self.transition(s, Phase::HumanReview, "escalated")?;
        self.post_once(
            t,
            s,
            "escalated",
            &format!(
                "**Escalated to human review.** {why}\n\nPlease review and comment (a revision is pushed to this branch), request changes, or approve with 👍 or a comment starting with `/lgtm`."
            ),
        )?;
        if let Some(task) = &s.task_id {
            store::record_feedback(self.conn, &self.feedback(s, task, "escalated", None), true)?;
        }
        Ok(())
    }

    fn feedback(&self, s: &PrReview, task: &str, outcome: &str, reason: Option<&str>) -> Feedback {
        Feedback {
            task_id: task.to_string(),
            pr_number: Some(s.pr_number),
            outcome: outcome.to_string(),
            merge_reason: reason.map(str::to_string),
            self_review_loops: s.self_review_loops,
            human_review_loops: s.human_review_loops,
            family: None,
            confidence: None,
            note: None,
            recorded_at: String::new(),
        }
    }

    fn transition(&self, s: &mut PrReview, to: Phase, why: &str) -> anyhow::Result<bool> {
        let from = s.phase;
        s.phase = to;
        let saved = store::save(self.conn, s)?;
        if saved {
            tracing::info!(
                event = "review_phase",
                pr = %s.key(),
                from = from.as_str(),
                to = to.as_str(),
                why,
                "{}: {} → {} ({why})",
                s.key(),
                from.as_str(),
                to.as_str()
            );
        }
        Ok(saved)
    }

    /// The terminal step, done once: the conditional save lets only one reviewer (of two
    /// racing) move the task and write the feedback.
    fn finalize(
        &self,
        s: &mut PrReview,
        pr: &Pull,
        phase: Phase,
        reason: &str,
    ) -> anyhow::Result<()> {
        s.merge_reason = Some(reason.to_string());
        if !self.transition(s, phase, reason)? {
            return Ok(());
        }
        let Some(task) = s.task_id.clone() else {
            return Ok(());
        };
        let (state, outcome, verb) = match phase {
            Phase::Merged => (State::Done, "merged", "merged"),
            _ => (State::Cancelled, "abandoned", "closed without merging"),
        };
        self.board.move_to(&task, state)?;
        self.board.comment(
            &task,
            AUTHOR,
            &format!(
                "[Review] PR #{} {verb} ({reason})\n- pr_url: {}\n- branch: {}\n- self_review_loops: {}\n- human_review_loops: {}",
                s.pr_number, pr.html_url, s.branch, s.self_review_loops, s.human_review_loops
            ),
        )?;
        store::record_feedback(
            self.conn,
            &self.feedback(s, &task, outcome, Some(reason)),
            true,
        )?;
        Ok(())
    }

    /// Posts a bot comment unless one with the same key is already on the PR.
    pub(super) fn post_once(
        &self,
        t: &Target<'_>,
        s: &PrReview,
        key: &str,
        body: &str,
    ) -> anyhow::Result<bool> {
        let tag = format!(
            "<!-- oc-review-key: {}#{}:{key} -->",
            s.repo_key, s.pr_number
        );
        let existing: Vec<IssueComment> = self.gh.issue_comments(&t.slug, s.pr_number)?;
        if existing
            .iter()
            .any(|c| c.body.as_deref().is_some_and(|b| b.contains(&tag)))
        {
            return Ok(false);
        }
        let marker = &self.config.reviewer.bot_comment_marker;
        self.gh
            .create_comment(&t.slug, s.pr_number, &format!("{marker}\n{body}\n\n{tag}"))?;
        Ok(true)
    }
}

pub(super) fn bullets(items: &[String]) -> String {
    items
        .iter()
        .map(|i| format!("- {i}"))
        .collect::<Vec<_>>()
        .join("\n")
}

pub(super) fn short(sha: &str) -> &str {
    &sha[..sha.len().min(12)]
}

/// Check runs the webhook recorded for a repository (any case) and head SHA, oldest first.
const WEBHOOK_CHECKS: &str = "SELECT check_name, status, conclusion FROM ci_events
     WHERE repo = ?1 COLLATE NOCASE AND head_sha = ?2 AND event = 'check_run'
       AND check_name IS NOT NULL
     ORDER BY id";

/// The newest state of each check run the webhook recorded for `sha`.
fn webhook_checks(
    conn: &Connection,
    full_name: &str,
    sha: &str,
) -> rusqlite::Result<Vec<policy::Check>> {
    let mut stmt = conn.prepare(WEBHOOK_CHECKS)?;
    let rows = stmt.query_map([full_name, sha], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, Option<String>>(1)?,
            r.get::<_, Option<String>>(2)?,
        ))
    })?;
    let mut latest: BTreeMap<String, policy::Check> = BTreeMap::new();
    for row in rows {
        let (name, status, conclusion) = row?;
        latest.insert(
            name.clone(),
            policy::Check {
                name,
                completed: status.as_deref() == Some("completed"),
                conclusion,
            },
        );
    }
    Ok(latest.into_values().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ci_check_lookup_searches_an_index_instead_of_scanning_every_event() {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::store::open(dir.path()).unwrap();
        let mut stmt = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {WEBHOOK_CHECKS}"))
            .unwrap();
        let plan: Vec<String> = stmt
            .query_map(["octo/demo", "abc"], |r| r.get(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(
            plan.iter()
                .any(|step| step.contains("USING INDEX ci_events_head_sha")),
            "{plan:?}"
        );
    }
}
