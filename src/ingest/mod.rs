//! Production error ingest (original-behaviour §9.1): runtime errors of the managed
//! applications become goal tasks on the board, once per error and dedup window.
//!
//! Two producers share this domain: the `POST /ingest` webhook (`oc-ingest`) and the log
//! tailer (`oc-ingest-tail`). They are separate processes on one database, so the dedup
//! check, the task creation and the dedup record happen inside one IMMEDIATE transaction:
//! two reports of the same error, from whichever process, never both create a task.
//!
//! Decisions (the original's behaviour unless said otherwise):
//! - A task goes to **Ready for AI** (as the original) when its repo key is configured under
//!   `repos`, so a lane picks it up; with an **unknown repo key** it is still created (a
//!   report must not be lost) but in **Backlog**, with a note, because no lane could run
//!   it. Only a missing key (none given, no `error_ingest.default_repo_key`), a key that is
//!   not one word, or an empty text are client errors.
//! - Labels `task-kind: goal`, `repo: <key>`, `source: error-ingest` and `priority: high`
//!   (the original's priority for error/critical reports, which is what the default log
//!   pattern matches).
//! - Dedup key: sha256 hex of (repo key, first 200 characters of the trimmed text). The
//!   window runs from the task's creation: a recurring error gets one task per window, so
//!   a fix that did not hold resurfaces. `count` counts the reports for the current task.
//! - The webhook's window is the `dedup_window_seconds` of the first log source with the
//!   same repo key, else 3600 s (the original's fixed webhook window).

mod dedup;
pub mod sources;
pub mod tail;
mod task;

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, Transaction, TransactionBehavior};

use crate::board::{Board, BoardError};
use crate::config::Config;

pub use dedup::{DedupEntry, dedup_key, list, reset};

/// The webhook's window when no log source names its repo key.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(3600);

/// The result of one report: the task that now tracks this error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submitted {
    pub task_id: String,
    /// True when the error was already reported within the window (no new task).
    pub duplicate: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("the error text is empty")]
    EmptyText,
    #[error("no repo key given and error_ingest.default_repo_key is not set")]
    NoRepoKey,
    #[error(
        "repo key {0:?} is not configured and not one word of letters, digits, '.', '_', '-' or '/'"
    )]
    InvalidRepoKey(String),
    #[error("state database: {0:#}")]
    Store(anyhow::Error),
    #[error("state database: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("board: {0}")]
    Board(#[from] BoardError),
}

impl IngestError {
    /// True when the report itself is at fault (HTTP 400); false for storage trouble (500).
    pub fn is_client_error(&self) -> bool {
        matches!(
            self,
            IngestError::EmptyText | IngestError::NoRepoKey | IngestError::InvalidRepoKey(_)
        )
    }
}

/// Files one error report (the webhook's entry point): opens the board, dedups, creates
/// the task. See the module docs for the rules.
pub fn submit(
    config: &Config,
    state_dir: &Path,
    repo_key: Option<&str>,
    text: &str,
) -> Result<Submitted, IngestError> {
    Ingestor::open(config, state_dir)?.submit(&Report {
        repo_key,
        text,
        window: None,
        origin: "webhook",
    })
}

/// One error report.
#[derive(Debug, Clone, Copy)]
pub struct Report<'a> {
    pub repo_key: Option<&'a str>,
    pub text: &'a str,
    /// None: the webhook's window for the repo key (see [`webhook_window`]).
    pub window: Option<Duration>,
    /// Where it came from, for the task's context and the log (`webhook`, `log:<path>`).
    pub origin: &'a str,
}

/// An open board and database, kept by the long-running tailer between reports. The dedup
/// table lives in the board's state database; for the local board the task insert joins
/// the dedup transaction, and a Plane create is made idempotent by its external id.
pub struct Ingestor<'a> {
    config: &'a Config,
    board: Box<dyn Board>,
}

impl<'a> Ingestor<'a> {
    pub fn open(config: &'a Config, state_dir: &Path) -> Result<Self, IngestError> {
        let board = crate::board::open(config, state_dir).map_err(IngestError::Store)?;
        Ok(Self { config, board })
    }

    fn parts(&self) -> (&dyn Board, &Connection) {
        (self.board.as_ref(), self.board.conn())
    }

    /// The state database (log offsets live here too).
    pub fn db(&self) -> &Connection {
        self.parts().1
    }

    pub fn submit(&self, report: &Report<'_>) -> Result<Submitted, IngestError> {
        let text = report.text.trim();
        if text.is_empty() {
            return Err(IngestError::EmptyText);
        }
        let repo = resolve_repo(self.config, report.repo_key)?;
        let window = report
            .window
            .unwrap_or_else(|| webhook_window(self.config, &repo));
        let key = dedup_key(&repo, text);
        let (board, db) = self.parts();
        // IMMEDIATE takes the write lock before the dedup lookup, so a second process
        // reporting the same error waits and then sees this one's record.
        let tx = Transaction::new_unchecked(db, TransactionBehavior::Immediate)?;
        let now = crate::store::now();
        if let Some(hit) = dedup::hit(&tx, &key, now, window)? {
            tx.commit()?;
            return Ok(log_duplicate(hit, &repo, report.origin, &key));
        }
        let known_repo = self.config.repos.contains_key(&repo);
        let mut new_task = task::build(&task::Fields {
            repo: &repo,
            text,
            origin: report.origin,
            dedup_key: &key,
            now,
            known_repo,
        });
        // The same key in the same window-sized period (and since the same reset) names
        // the same Plane item: a repeated create adopts it through Plane's 409.
        let period = now / window.as_secs().max(1) as i64;
        let generation = dedup::generation(&tx)?;
        new_task.external = Some((
            crate::board::plane::board::EXTERNAL_SOURCE.to_string(),
            format!("error-ingest:{key}:{period}:{generation}"),
        ));
        let created = if board.is_remote() {
            // No write lock across an HTTP request (a throttled Plane can take a minute):
            // create outside the transaction, then record unless another process did.
            drop(tx);
            let created = board.add(new_task)?;
            let tx = Transaction::new_unchecked(db, TransactionBehavior::Immediate)?;
            if let Some(hit) = dedup::hit(&tx, &key, now, window)? {
                tx.commit()?;
                return Ok(log_duplicate(hit, &repo, report.origin, &key));
            }
            dedup::record(&tx, &key, &repo, &created.id, now)?;
            tx.commit()?;
            created
        } else {
            let created = board.add(new_task)?;
            dedup::record(&tx, &key, &repo, &created.id, now)?;
            // Dropping `tx` on an error above rolls the task back with it: no task
            // without its dedup record, and no record for a task never created.
            tx.commit()?;
            created
        };
        tracing::info!(
            event = "ingest_task_created",
            task_id = %created.id,
            repo = %repo,
            origin = report.origin,
            dedup_key = %key,
            state = %created.state,
            known_repo,
            "created {} for an error in {repo}: {}",
            created.id,
            created.title
        );
        Ok(Submitted {
            task_id: created.id,
            duplicate: false,
        })
    }
}

fn log_duplicate(hit: dedup::Hit, repo: &str, origin: &str, key: &str) -> Submitted {
    tracing::info!(
        event = "ingest_duplicate",
        task_id = %hit.task_id,
        repo = %repo,
        origin,
        dedup_key = %key,
        count = hit.count,
        "duplicate of {} (seen {} times)",
        hit.task_id,
        hit.count
    );
    Submitted {
        task_id: hit.task_id,
        duplicate: true,
    }
}

/// The given key, else `error_ingest.default_repo_key`; it must be usable in a label and
/// in the `## Execution` YAML.
fn resolve_repo(config: &Config, given: Option<&str>) -> Result<String, IngestError> {
    let key = given
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .or_else(|| Some(config.error_ingest.default_repo_key.trim()).filter(|k| !k.is_empty()))
        .ok_or(IngestError::NoRepoKey)?;
    if config.repos.contains_key(key) || plain_key(key) {
        Ok(key.to_string())
    } else {
        Err(IngestError::InvalidRepoKey(key.to_string()))
    }
}

/// One word that YAML reads back as the same plain string.
fn plain_key(key: &str) -> bool {
    key.len() <= 100
        && key.starts_with(|c: char| c.is_ascii_alphanumeric())
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/'))
}

/// The webhook's dedup window for `repo`: that of the first log source with the same repo
/// key (so both producers agree), else [`DEFAULT_WINDOW`].
pub fn webhook_window(config: &Config, repo: &str) -> Duration {
    config
        .error_ingest
        .log_sources
        .iter()
        .find(|s| s.repo_key == repo)
        .map_or(DEFAULT_WINDOW, |s| {
            Duration::from_secs(s.dedup_window_seconds)
        })
}

/// The longest dedup window any producer uses: keys younger than this are still in use.
pub fn longest_window(config: &Config) -> Duration {
    config
        .error_ingest
        .log_sources
        .iter()
        .map(|s| Duration::from_secs(s.dedup_window_seconds))
        .fold(DEFAULT_WINDOW, Duration::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(yaml: &str) -> Config {
        crate::config::parse_str(yaml, Path::new("/x/config.yaml")).unwrap()
    }

    #[test]
    fn repo_key_falls_back_to_the_default_and_must_be_one_word() {
        let c = config("error_ingest:\n  default_repo_key: shop\n");
        assert_eq!(resolve_repo(&c, None).unwrap(), "shop");
        assert_eq!(resolve_repo(&c, Some("  ")).unwrap(), "shop");
        assert_eq!(resolve_repo(&c, Some("api")).unwrap(), "api");
        let err = resolve_repo(&c, Some("a b")).unwrap_err();
        assert!(err.is_client_error(), "{err}");
        assert!(matches!(
            resolve_repo(&Config::default(), None),
            Err(IngestError::NoRepoKey)
        ));
        assert!(!plain_key("#x") && !plain_key("-") && plain_key("org/repo-1.x"));
    }

    #[test]
    fn webhook_window_follows_the_log_source_of_the_repo() {
        let c = config(
            "error_ingest:\n  log_sources:\n    - path: /a.log\n      repo_key: shop\n      dedup_window_seconds: 60\n",
        );
        assert_eq!(webhook_window(&c, "shop"), Duration::from_secs(60));
        assert_eq!(webhook_window(&c, "other"), DEFAULT_WINDOW);
    }

    #[test]
    fn same_error_is_one_task_within_the_window_and_rolls_back_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let c = config("error_ingest:\n  default_repo_key: shop\n");
        let first = submit(&c, dir.path(), None, "ERROR boom\n  at x").unwrap();
        assert!(!first.duplicate);
        let again = submit(&c, dir.path(), Some("shop"), "  ERROR boom\n  at x\n").unwrap();
        assert_eq!(
            again,
            Submitted {
                task_id: first.task_id.clone(),
                duplicate: true
            }
        );
        let other = submit(&c, dir.path(), Some("api"), "ERROR boom\n  at x").unwrap();
        assert!(!other.duplicate && other.task_id != first.task_id);
        let board = crate::board::local::LocalBoard::open(dir.path()).unwrap();
        let task = board.get(&other.task_id).unwrap();
        assert_eq!(
            task.state,
            crate::board::State::Backlog,
            "repo api is not configured"
        );
        assert!(matches!(
            submit(&c, dir.path(), None, " \n "),
            Err(IngestError::EmptyText)
        ));
    }
}
