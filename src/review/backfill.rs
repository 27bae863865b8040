//! Backfill: open PRs on `await_review` repos that have no review state get one — when
//! they belong to a task.

use rusqlite::Connection;

use super::store::{self, PrReview};
use crate::board::Board;
use crate::config::Config;
use crate::github::{GitHub, Pull, RepoSlug};

/// The task a PR belongs to: our marker `<!-- operations-center:task=ID -->` or a line
/// `Task: ID` in its body, naming a task the board knows.
pub fn linked_task(board: &dyn Board, pr: &Pull) -> Option<String> {
    let body = pr.body.as_deref()?;
    let from_marker = body
        .split("<!-- operations-center:task=")
        .nth(1)
        .and_then(|rest| rest.split("-->").next().map(|id| id.trim().to_string()));
    let from_line = body.lines().find_map(|l| {
        l.trim()
            .strip_prefix("Task:")
            .map(|id| id.trim().trim_matches('`').to_string())
    });
    [from_marker, from_line]
        .into_iter()
        .flatten()
        .filter(|id| !id.is_empty() && !id.contains(char::is_whitespace))
        .find(|id| board.get(id).is_ok())
        .and_then(|id| board.get(&id).ok().map(|t| t.id))
}

/// What the backfill did.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Backfill {
    pub created: Vec<String>,
    pub left_alone: Vec<String>,
}

/// Open PRs on `await_review` repos with no state get one — when they belong to a task.
/// A human's PR with no link to a task is not ours to review or merge (§12 #25).
pub fn backfill(
    config: &Config,
    conn: &Connection,
    board: &dyn Board,
    gh: &GitHub,
) -> anyhow::Result<Backfill> {
    let mut out = Backfill::default();
    for (key, repo) in config.repos.iter().filter(|(_, r)| r.await_review) {
        let Some((owner, name)) = repo.github_slug() else {
            tracing::warn!(event = "review_repo_without_github", repo = %key, "repo {key} has await_review but no GitHub repository (github_repo)");
            continue;
        };
        let slug = RepoSlug { owner, name };
        let pulls = match gh.open_pulls(&slug) {
            Ok(p) => p,
            Err(e) => {
                // One unreachable repo must not keep the others from being backfilled.
                tracing::warn!(event = "review_backfill_failed", repo = %key, error = %e, "backfill of {key}: {e}");
                continue;
            }
        };
        for pr in pulls {
            let id = format!("{key}#{}", pr.number);
            if store::get(conn, key, pr.number)?.is_some() {
                continue;
            }
            let task = linked_task(board, &pr);
            if pr.draft == Some(true) || task.is_none() {
                tracing::info!(event = "review_skip_unlinked_pr", pr = %id, author = %pr.user.login, "{id} by {} is not linked to a task; left alone", pr.user.login);
                out.left_alone.push(id);
                continue;
            }
            let state = PrReview::new(
                key,
                pr.number,
                task,
                &pr.head.ref_name,
                &pr.base.ref_name,
                &pr.head.sha,
            );
            if store::insert_new(conn, &state)? {
                tracing::info!(event = "review_backfill", pr = %id, task_id = state.task_id.as_deref().unwrap_or(""), "{id}: review state created");
                out.created.push(id);
            }
        }
    }
    Ok(out)
}
