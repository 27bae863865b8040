//! Opening the PR for a goal-lane run on an `await_review` repo, and handing it to the
//! review lane (its state row is created in the same breath).

use rusqlite::Connection;

use super::policy::pr_title;
use super::store::{self, PrReview};
use crate::config::{Config, RepoConfig};
use crate::github::{GitHub, Pull, RepoSlug};

pub struct PrRequest<'a> {
    pub repo_key: &'a str,
    pub repo: &'a RepoConfig,
    pub task_id: &'a str,
    pub title: &'a str,
    pub goal: &'a str,
    pub branch: &'a str,
    pub base: &'a str,
    pub run_id: &'a str,
}

/// The PR body: what the task asked, the link back to it, and the bot marker.
pub fn pr_body(config: &Config, req: &PrRequest<'_>) -> String {
    let goal: String = req.goal.trim().chars().take(1500).collect();
    format!(
        "{goal}\n\n---\nTask: {}\nRun: {}\n\nOpened by operations-center; the review lane will self-review it, then wait for human review.\n\n{}\n<!-- operations-center:task={} -->\n",
        req.task_id, req.run_id, config.reviewer.bot_comment_marker, req.task_id
    )
}

/// Opens the PR (or finds the open one for this branch, on a retry) and stores its review
/// state. Errors leave no state behind.
pub fn open_pr(config: &Config, conn: &Connection, req: &PrRequest<'_>) -> anyhow::Result<Pull> {
    let (owner, name) = req.repo.github_slug().ok_or_else(|| {
        anyhow::anyhow!(
            "repo {} has no GitHub repository (set github_repo)",
            req.repo_key
        )
    })?;
    let slug = RepoSlug { owner, name };
    let gh = GitHub::from_config(config)?;
    // A retried task pushes to the same branch; its PR is still open: reuse it.
    let existing = gh
        .open_pulls(&slug)?
        .into_iter()
        .find(|p| p.head.ref_name == req.branch);
    let pr = match existing {
        Some(p) => p,
        None => gh.create_pull(
            &slug,
            &pr_title(req.title),
            req.branch,
            req.base,
            &pr_body(config, req),
        )?,
    };
    let state = PrReview::new(
        req.repo_key,
        pr.number,
        Some(req.task_id.to_string()),
        req.branch,
        req.base,
        &pr.head.sha,
    );
    store::insert_new(conn, &state)?;
    tracing::info!(
        event = "review_pr_opened",
        task_id = %req.task_id,
        pr = %format!("{}#{}", req.repo_key, pr.number),
        url = %pr.html_url,
        "opened PR #{} for {}: {}",
        pr.number,
        req.task_id,
        pr.html_url
    );
    Ok(pr)
}
