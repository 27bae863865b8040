//! The janitor (daily timer): retention for run reports, finished workspaces, recorded CI
//! events and spent error-ingest dedup keys, and pruning of stale local task branches. It
//! never touches anything a live unit uses: a workspace owned by a live run, a lane's
//! status file, a checked-out branch, or a branch whose task is still open (the original
//! deleted live watchers' pid files, §12 #36).

use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::board::{Board, State, parse_local_id};
use crate::config::Config;
use crate::daemon::shutdown::Shutdown;
use crate::workspace::git::Git;
use crate::workspace::{self, REPORTS_DIR};

#[derive(Debug, Default, Clone, PartialEq, serde::Serialize)]
pub struct JanitorReport {
    pub reports_removed: usize,
    pub workspaces_removed: usize,
    pub branches_pruned: Vec<String>,
    pub runs_forgotten: usize,
    pub ci_events_forgotten: usize,
    pub ingest_keys_forgotten: usize,
}

pub fn run(
    config: &Config,
    state_dir: &Path,
    shutdown: &Shutdown,
) -> anyhow::Result<JanitorReport> {
    let retention = Duration::from_secs(u64::from(config.limits.retention_days) * 86400);
    // The janitor runs without network: a Plane board is read from the local mirror.
    let board = crate::board::open_offline(config, state_dir)?;
    let board = board.as_ref();
    let mut report = JanitorReport {
        reports_removed: remove_old_reports(state_dir, retention),
        ..Default::default()
    };
    report.workspaces_removed = remove_unowned_workspaces(board, state_dir)?;
    let now = crate::store::now();
    let cutoff = now - retention.as_secs() as i64;
    report.runs_forgotten = board.conn().execute(
        "DELETE FROM runs WHERE finished_at IS NOT NULL AND finished_at < ?1",
        [cutoff],
    )?;
    // A commit's events go together, once its newest is past retention: dropping only the
    // older ones could hide a failed check behind a later green one. Without them the
    // review lane asks GitHub's API, as for a commit the webhook never saw.
    report.ci_events_forgotten = board.conn().execute(
        "DELETE FROM ci_events WHERE head_sha IN (
             SELECT head_sha FROM ci_events GROUP BY head_sha HAVING MAX(received_at) < ?1)",
        [cutoff],
    )?;
    // A key still inside its dedup window keeps a recurring error from becoming a new task.
    let keys_kept_for = retention.max(crate::ingest::longest_window(config));
    report.ingest_keys_forgotten = board.conn().execute(
        "DELETE FROM ingest_dedup WHERE last_seen < ?1",
        [now - keys_kept_for.as_secs() as i64],
    )?;
    for (key, repo) in &config.repos {
        if let Some(path) = &repo.local_path {
            match prune_task_branches(board, path, retention, shutdown, state_dir) {
                Ok(pruned) => report
                    .branches_pruned
                    .extend(pruned.into_iter().map(|b| format!("{key}:{b}"))),
                Err(e) => tracing::warn!(
                    event = "janitor_branch_prune_failed",
                    repo = %key,
                    error = %e,
                    "cannot prune task branches in {}: {e}",
                    path.display()
                ),
            }
        }
    }
    tracing::info!(
        event = "janitor_run",
        retention_days = config.limits.retention_days,
        reports_removed = report.reports_removed,
        workspaces_removed = report.workspaces_removed,
        branches_pruned = report.branches_pruned.len(),
        runs_forgotten = report.runs_forgotten,
        ci_events_forgotten = report.ci_events_forgotten,
        ingest_keys_forgotten = report.ingest_keys_forgotten,
        "janitor: removed {} report(s), {} workspace(s), pruned {} branch(es), forgot {} CI \
         event(s) and {} ingest dedup key(s)",
        report.reports_removed,
        report.workspaces_removed,
        report.branches_pruned.len(),
        report.ci_events_forgotten,
        report.ingest_keys_forgotten
    );
    Ok(report)
}

fn older_than(path: &Path, age: Duration) -> bool {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .is_some_and(|elapsed| elapsed > age)
}

fn remove_old_reports(state_dir: &Path, retention: Duration) -> usize {
    let Ok(entries) = std::fs::read_dir(state_dir.join(REPORTS_DIR)) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        if path.is_dir() && older_than(&path, retention) && std::fs::remove_dir_all(&path).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// Workspaces no live run owns (see [`workspace::unowned`]).
fn remove_unowned_workspaces(board: &dyn Board, state_dir: &Path) -> anyhow::Result<usize> {
    let mut removed = 0;
    for path in workspace::unowned(state_dir, board.conn())? {
        if workspace::remove(&path).is_ok() {
            tracing::info!(event = "janitor_workspace_removed", path = %path.display(), "removed workspace {}", path.display());
            removed += 1;
        }
    }
    Ok(removed)
}

/// Local `oc/<task>-…` branches in a repo's `local_path` whose task is finished (Done,
/// Cancelled) or gone, whose last commit is older than the retention, and which are not
/// checked out.
fn prune_task_branches(
    board: &dyn Board,
    repo: &Path,
    retention: Duration,
    shutdown: &Shutdown,
    state_dir: &Path,
) -> anyhow::Result<Vec<String>> {
    let git = Git::new(
        shutdown,
        Duration::from_secs(60),
        state_dir.join("janitor-git"),
        || {},
    );
    let listing = git.run(
        repo,
        &[
            "for-each-ref",
            "--format=%(refname:short) %(committerdate:unix) %(HEAD)",
            "refs/heads/oc/",
        ],
    )?;
    let cutoff = crate::store::now() - retention.as_secs() as i64;
    let mut pruned = Vec::new();
    for line in listing.lines() {
        let mut cols = line.split_whitespace();
        let (Some(branch), Some(date)) = (cols.next(), cols.next()) else {
            continue;
        };
        let checked_out = cols.next() == Some("*");
        let old = date.parse::<i64>().is_ok_and(|d| d < cutoff);
        if checked_out || !old || !task_finished(board, branch) {
            continue;
        }
        git.run(repo, &["branch", "-D", "--quiet", branch])?;
        tracing::info!(event = "janitor_branch_pruned", repo = %repo.display(), branch, "pruned stale task branch {branch}");
        pruned.push(branch.to_string());
    }
    let _ = std::fs::remove_dir_all(state_dir.join("janitor-git"));
    Ok(pruned)
}

/// `oc/t-17-fix-it` → task T-17 (`oc/<uuid>-fix-it` on Plane): finished when Done or
/// Cancelled, or when no such task exists. A branch naming no task is left alone.
fn task_finished(board: &dyn Board, branch: &str) -> bool {
    let Some(id) = branch.strip_prefix("oc/").and_then(task_id_of_branch) else {
        return false;
    };
    match board.get(&id) {
        Ok(task) => matches!(task.state, State::Done | State::Cancelled),
        Err(crate::board::BoardError::NotFound(_)) => true,
        Err(_) => false,
    }
}

fn task_id_of_branch(rest: &str) -> Option<String> {
    let uuid: String = rest.chars().take(36).collect();
    let is_uuid = crate::board::looks_like_uuid(&uuid);
    if is_uuid {
        return Some(uuid);
    }
    let digits: String = rest
        .strip_prefix("t-")
        .or_else(|| rest.strip_prefix("T-"))?
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    parse_local_id(&digits).map(crate::board::format_local_id)
}

#[cfg(test)]
mod branch_tests {
    use super::task_id_of_branch;

    #[test]
    fn branch_names_map_back_to_their_task() {
        assert_eq!(task_id_of_branch("t-17-fix-it").as_deref(), Some("T-17"));
        assert_eq!(
            task_id_of_branch("2d7c9e41-5a3b-4c6d-8e9f-0a1b2c3d4e5f-fix").as_deref(),
            Some("2d7c9e41-5a3b-4c6d-8e9f-0a1b2c3d4e5f")
        );
        // A hex-looking prefix that is not a whole UUID names no task.
        assert_eq!(task_id_of_branch("2d7c9e41-fix"), None);
        assert_eq!(task_id_of_branch("feature"), None);
    }
}
