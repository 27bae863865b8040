//! The dedup table `ingest_dedup`: which error already has a task, since when, how often
//! it was reported. Replaces the original's `state/error_ingest_dedup.json`.

use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// Characters of the text that identify an error (the seed's `text[:200]`).
const KEY_CHARS: usize = 200;

/// sha256 hex of the repo key and the first 200 characters (not bytes) of the trimmed text.
pub fn dedup_key(repo_key: &str, text: &str) -> String {
    let head: String = text.trim().chars().take(KEY_CHARS).collect();
    let mut hasher = Sha256::new();
    hasher.update(repo_key.as_bytes());
    // NUL cannot occur in a repo key, so (a, bc) and (ab, c) hash differently.
    hasher.update([0u8]);
    hasher.update(head.as_bytes());
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A report that falls inside the window of an existing task.
pub(super) struct Hit {
    pub task_id: String,
    pub count: i64,
}

/// Inside `tx`: if `key` has a task created less than `window` ago, count this report
/// and return that task.
pub(super) fn hit(
    tx: &Transaction<'_>,
    key: &str,
    now: i64,
    window: Duration,
) -> rusqlite::Result<Option<Hit>> {
    let window = i64::try_from(window.as_secs()).unwrap_or(i64::MAX);
    let row: Option<(Option<String>, i64)> = tx
        .query_row(
            "SELECT task_id, first_seen FROM ingest_dedup WHERE key = ?1",
            [key],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let Some((Some(task_id), first_seen)) = row else {
        return Ok(None);
    };
    if now.saturating_sub(first_seen) >= window {
        return Ok(None);
    }
    let count = tx.query_row(
        "UPDATE ingest_dedup SET count = count + 1, last_seen = ?2 WHERE key = ?1 RETURNING count",
        params![key, now],
        |r| r.get(0),
    )?;
    Ok(Some(Hit { task_id, count }))
}

/// Inside `tx`: `key` is now tracked by the new task `task_id`; its window starts now.
pub(super) fn record(
    tx: &Transaction<'_>,
    key: &str,
    repo_key: &str,
    task_id: &str,
    now: i64,
) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO ingest_dedup (key, repo_key, task_id, first_seen, last_seen, count)
         VALUES (?1, ?2, ?3, ?4, ?4, 1)
         ON CONFLICT (key) DO UPDATE SET repo_key = excluded.repo_key,
             task_id = excluded.task_id, first_seen = excluded.first_seen,
             last_seen = excluded.last_seen, count = 1",
        params![key, repo_key, task_id, now],
    )?;
    Ok(())
}

/// One row of `oc ingest-dedup list`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DedupEntry {
    pub key: String,
    pub repo_key: String,
    pub task_id: Option<String>,
    /// When the current task was created (RFC 3339).
    pub first_seen: String,
    pub last_seen: String,
    /// Reports for the current task, the first included.
    pub count: i64,
}

/// Every entry, most recently seen first.
pub fn list(db: &Connection) -> rusqlite::Result<Vec<DedupEntry>> {
    let mut stmt = db.prepare(
        "SELECT key, repo_key, task_id, first_seen, last_seen, count FROM ingest_dedup
         ORDER BY last_seen DESC, key",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(DedupEntry {
            key: r.get(0)?,
            repo_key: r.get(1)?,
            task_id: r.get(2)?,
            first_seen: crate::store::rfc3339(r.get(3)?),
            last_seen: crate::store::rfc3339(r.get(4)?),
            count: r.get(5)?,
        })
    })?;
    rows.collect()
}

/// Forgets every entry, or those of one repo key; returns how many went. The next report
/// of a forgotten error creates a new task.
pub fn reset(db: &Connection, repo_key: Option<&str>) -> rusqlite::Result<usize> {
    let tx = db.unchecked_transaction()?;
    let forgotten = tx.execute(
        "DELETE FROM ingest_dedup WHERE ?1 IS NULL OR repo_key = ?1",
        [repo_key],
    )?;
    tx.execute(
        "UPDATE ingest_generation SET generation = generation + 1 WHERE id = 1",
        [],
    )?;
    tx.commit()?;
    Ok(forgotten)
}

/// How many resets happened (see the `ingest_generation` table).
pub fn generation(db: &Connection) -> rusqlite::Result<i64> {
    db.query_row(
        "SELECT generation FROM ingest_generation WHERE id = 1",
        [],
        |r| r.get(0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_counts_characters_not_bytes_and_ignores_the_rest() {
        let long_a = format!("{}{}", "é".repeat(200), "tail one");
        let long_b = format!("{}{}", "é".repeat(200), "tail two");
        assert_eq!(dedup_key("r", &long_a), dedup_key("r", &long_b));
        let short_a = format!("{}x", "é".repeat(199));
        let short_b = format!("{}y", "é".repeat(199));
        assert_ne!(dedup_key("r", &short_a), dedup_key("r", &short_b));
        assert_ne!(dedup_key("a", "bc"), dedup_key("ab", "c"));
        assert_eq!(dedup_key("r", " x \n"), dedup_key("r", "x"));
        assert_eq!(dedup_key("r", "x").len(), 64);
    }

    #[test]
    fn window_is_counted_from_the_task_and_reset_forgets() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = crate::store::open(dir.path()).unwrap();
        let window = Duration::from_secs(10);
        let tx = db.transaction().unwrap();
        assert!(hit(&tx, "k", 100, window).unwrap().is_none());
        record(&tx, "k", "shop", "T-1", 100).unwrap();
        assert_eq!(hit(&tx, "k", 105, window).unwrap().unwrap().count, 2);
        assert_eq!(hit(&tx, "k", 109, window).unwrap().unwrap().task_id, "T-1");
        assert!(hit(&tx, "k", 110, window).unwrap().is_none());
        record(&tx, "k", "shop", "T-2", 110).unwrap();
        record(&tx, "j", "api", "T-3", 110).unwrap();
        tx.commit().unwrap();
        let entries = list(&db).unwrap();
        let k = entries.iter().find(|e| e.key == "k").unwrap();
        assert_eq!((k.task_id.as_deref(), k.count), (Some("T-2"), 1));
        assert_eq!(reset(&db, Some("shop")).unwrap(), 1);
        assert_eq!(reset(&db, None).unwrap(), 1);
        assert!(list(&db).unwrap().is_empty());
    }
}
