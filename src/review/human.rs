//! The human-review phase: approvals (👍, `/lgtm` on the first line, an APPROVED review),
//! feedback (comments, inline comments, "Request changes" reviews) turned into a revision
//! pushed to the PR branch, CI-green merges of autonomy PRs, and the timeout with its
//! explicit-approval reminder.

use super::cycle::{Reviewer, Target, short};
use super::pass::Revision;
use super::policy::{self, CiState};
use super::store::{self, PrReview};
use crate::github::Pull;
use crate::store::{executions, now};

/// At most one explicit-approval reminder per this many seconds.
const REMINDER_EVERY_SECS: i64 = 86_400;

impl Reviewer<'_> {
    pub(super) fn human_review(
        &self,
        t: &Target<'_>,
        s: &mut PrReview,
        pr: &Pull,
    ) -> anyhow::Result<String> {
        let rv = &self.config.reviewer;
        let human = |login: &str, body: &str| {
            !policy::is_bot(rv, login, body) && policy::is_allowed(rv, login)
        };
        let reactions = self.gh.reactions(&t.slug, s.pr_number)?;
        if let Some(r) = reactions
            .iter()
            .find(|r| r.content == "+1" && human(&r.user.login, ""))
        {
            tracing::info!(event = "review_approved", pr = %s.key(), by = %r.user.login, "{}: 👍 from {}", s.key(), r.user.login);
            return self.merge(t, s, pr, "thumbs_up_reaction");
        }
        let comments = self.gh.issue_comments(&t.slug, s.pr_number)?;
        let reviews = self.gh.reviews(&t.slug, s.pr_number)?;
        let inline = self.gh.review_comments(&t.slug, s.pr_number)?;

        let mut feedback: Vec<String> = Vec::new();
        let mut seen: Vec<String> = Vec::new();
        let mut approval: Option<(&str, String)> = None;
        for c in &comments {
            let id = format!("issue:{}", c.id);
            let body = c.body.clone().unwrap_or_default();
            if s.processed(&id) || policy::is_bot(rv, &c.user.login, &body) {
                continue;
            }
            if !policy::is_allowed(rv, &c.user.login) {
                continue;
            }
            seen.push(id);
            if policy::is_lgtm_comment(&body) {
                approval.get_or_insert(("lgtm_comment", c.user.login.clone()));
            } else if !body.trim().is_empty() {
                feedback.push(format!("@{} commented:\n{}", c.user.login, body.trim()));
            }
        }
        for r in &reviews {
            let id = format!("review:{}", r.id);
            let Some(user) = &r.user else { continue };
            let body = r.body.clone().unwrap_or_default();
            if s.processed(&id) || !human(&user.login, &body) {
                continue;
            }
            seen.push(id);
            match r.state.as_str() {
                "APPROVED" => {
                    approval.get_or_insert(("approved_review", user.login.clone()));
                }
                // A plain "Request changes" with no text still asks for a revision.
                "CHANGES_REQUESTED" => feedback.push(format!(
                    "@{} requested changes:\n{}",
                    user.login,
                    if body.trim().is_empty() {
                        "(no summary; see the inline comments)"
                    } else {
                        body.trim()
                    }
                )),
                "COMMENTED" if !body.trim().is_empty() => {
                    feedback.push(format!("@{} reviewed:\n{}", user.login, body.trim()))
                }
                _ => {}
            }
        }
        for c in &inline {
            let id = format!("review_comment:{}", c.id);
            if s.processed(&id) || !human(&c.user.login, &c.body) {
                continue;
            }
            seen.push(id);
            let place = c
                .path
                .as_deref()
                .map(|p| format!("[{p}] "))
                .unwrap_or_default();
            feedback.push(format!("@{} on {place}:\n{}", c.user.login, c.body.trim()));
        }

        if let Some((reason, by)) = approval {
            s.processed_ids.extend(seen);
            store::save(self.conn, s)?;
            tracing::info!(event = "review_approved", pr = %s.key(), by = %by, reason, "{}: approved by {by} ({reason})", s.key());
            return self.merge(t, s, pr, reason);
        }

        if !feedback.is_empty() {
            if s.human_review_loops >= rv.max_human_review_loops {
                s.processed_ids.extend(seen);
                store::save(self.conn, s)?;
                self.post_once(
                    t,
                    s,
                    "merging-max-loops",
                    &format!(
                        "**Auto-merging** — reached max human review loops ({}).",
                        rv.max_human_review_loops
                    ),
                )?;
                return self.merge(t, s, pr, "max_human_loops");
            }
            let backend = self.config.agent_for("review").backend;
            if let Some((until, _)) = executions::backend_paused(self.conn, backend.as_str())? {
                // Out of quota: the comments stay unprocessed until the agent can run.
                store::save(self.conn, s)?;
                return Ok(format!(
                    "feedback waiting: {} paused until {}",
                    backend.as_str(),
                    crate::store::rfc3339(until)
                ));
            }
            let loop_no = s.human_review_loops + 1;
            let text = feedback.join("\n\n");
            let revision = self.passes().revise(
                &s.repo_key,
                t.repo,
                &self.task_label(s),
                &s.branch,
                &self.original_goal(s, pr),
                &text,
                &format!(
                    "Address review feedback on PR #{} (round {loop_no})",
                    s.pr_number
                ),
                &crate::lanes::new_run_id(),
            )?;
            let reply = match &revision {
                Revision::Failed(why) => {
                    // Nothing consumed: the same comments are taken up next cycle.
                    store::save(self.conn, s)?;
                    return Ok(format!("revision failed ({why}); retry next cycle"));
                }
                Revision::Pushed(sha) => {
                    s.head_sha = sha.clone();
                    tracing::info!(
                        event = "review_revision_pushed",
                        pr = %s.key(),
                        sha = %sha,
                        branch = %s.branch,
                        round = loop_no,
                        "{}: revision {sha} for review feedback pushed to {}",
                        s.key(),
                        s.branch
                    );
                    format!(
                        "Revision pushed to `{}` in {}. React with 👍 or comment `/lgtm` to merge, or leave another comment for further changes.",
                        s.branch,
                        short(sha)
                    )
                }
                Revision::NoChanges => "Revision attempted, but the agent made no changes for this feedback. Please clarify, approve with 👍 or `/lgtm`, or close the PR.".to_string(),
            };
            s.human_review_loops = loop_no;
            s.processed_ids.extend(seen);
            // State first: a crash before the reply loses a comment, never repeats a push.
            store::save(self.conn, s)?;
            self.post_once(t, s, &format!("revision-h{loop_no}"), &reply)?;
            return Ok(format!("revision round {loop_no}"));
        }
        if !seen.is_empty() {
            s.processed_ids.extend(seen);
        }

        if t.repo.auto_merge_on_ci_green && self.is_autonomy(s) {
            if let CiState::Green = self.ci(t, &s.head_sha)? {
                self.post_once(
                    t,
                    s,
                    "merging-ci-green",
                    "CI is green on every check — merging.",
                )?;
                return self.merge(t, s, pr, "auto_merge_on_ci_green");
            }
        }

        let entered = s.phase2_entered_at.unwrap_or(s.created_at);
        let elapsed = now() - entered;
        if elapsed >= rv.human_review_timeout_seconds as i64 {
            if t.repo.require_explicit_approval {
                let due = s
                    .last_reminder_at
                    .is_none_or(|at| now() - at >= REMINDER_EVERY_SECS);
                if due {
                    let day = now() / REMINDER_EVERY_SECS;
                    s.last_reminder_at = Some(now());
                    store::save(self.conn, s)?;
                    self.post_once(
                        t,
                        s,
                        &format!("reminder-{day}"),
                        "This PR requires explicit approval before merging. React with 👍 or comment `/lgtm` to proceed.",
                    )?;
                    return Ok("waiting for explicit approval (reminder posted)".into());
                }
                store::save(self.conn, s)?;
                return Ok("waiting for explicit approval".into());
            }
            self.post_once(
                t,
                s,
                "merging-timeout",
                &format!(
                    "**Auto-merging** — human review timed out after {}h with no open comments.",
                    elapsed / 3600
                ),
            )?;
            return self.merge(t, s, pr, "human_review_timeout");
        }
        store::save(self.conn, s)?;
        Ok("waiting for human review".into())
    }

    fn is_autonomy(&self, s: &PrReview) -> bool {
        s.task_id
            .as_deref()
            .and_then(|id| self.board.get(id).ok())
            .is_some_and(|t| t.label("source") == Some("autonomy"))
    }
}
