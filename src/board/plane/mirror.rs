//! The local mirror of the Plane board (tables `plane_items`, `plane_sync`) and the request
//! meter (`plane_requests`, `plane_rate`). Lanes pick work from the mirror, so polling costs
//! no API requests; only the sync, claims and write-backs reach Plane.

use rusqlite::{Connection, OptionalExtension, params};

use super::types::RateStats;
use crate::board::description::{kind_of, label_value, parse_task};
use crate::board::{State, Task, urgency};
use crate::store::now;

pub const ITEM_COLUMNS: &str =
    "id, title, state, priority, description, labels, created_at, updated_at, plane_state";

/// Plane datetimes carry an offset (the key owner's timezone): microseconds since the epoch.
pub fn micros(stamp: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(stamp.trim())
        .map(|t| t.timestamp_micros())
        .unwrap_or(0)
}

pub fn row_to_task(r: &rusqlite::Row<'_>) -> rusqlite::Result<Task> {
    let state: Option<String> = r.get(2)?;
    let labels: String = r.get(5)?;
    Ok(Task {
        id: r.get(0)?,
        title: r.get(1)?,
        state: state
            .as_deref()
            .and_then(State::parse)
            .unwrap_or(State::Backlog),
        priority: r.get(3)?,
        description: r.get(4)?,
        labels: serde_json::from_str(&labels).unwrap_or_default(),
        created_at: r.get(6)?,
        updated_at: r.get(7)?,
    })
}

/// One work item as the mirror keeps it.
pub struct Mirrored<'a> {
    pub task: &'a Task,
    /// The suite's state, `None` when the item sits in a state the suite does not use.
    pub state: Option<State>,
    /// Plane's own name for the state, for display.
    pub plane_state: &'a str,
    pub sequence_id: Option<i64>,
}

/// Inserts or refreshes a row; an older version never overwrites a newer one (a sync page
/// read before one of our own writes may arrive after it).
pub fn upsert(conn: &Connection, m: &Mirrored<'_>) -> rusqlite::Result<()> {
    let task = m.task;
    let kind = kind_of(&task.labels, &task.description).map(str::to_string);
    let repo = parse_task(&task.description, &task.labels)
        .map(|p| p.repo)
        .ok()
        .or_else(|| label_value(&task.labels, "repo").map(str::to_string));
    let created_secs = micros(&task.created_at) / 1_000_000;
    let rank = urgency::rank_key(task.priority.as_deref(), &task.title, created_secs);
    conn.execute(
        "INSERT INTO plane_items (id, sequence_id, title, state, plane_state, priority, description,
             labels, kind, repo, created_at, updated_at, updated_us, rank_key, synced_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)
         ON CONFLICT (id) DO UPDATE SET
             sequence_id = excluded.sequence_id, title = excluded.title, state = excluded.state,
             plane_state = excluded.plane_state, priority = excluded.priority,
             description = excluded.description, labels = excluded.labels, kind = excluded.kind,
             repo = excluded.repo, created_at = excluded.created_at,
             updated_at = excluded.updated_at, updated_us = excluded.updated_us,
             rank_key = excluded.rank_key, synced_at = excluded.synced_at
         WHERE excluded.updated_us >= plane_items.updated_us",
        params![
            task.id,
            m.sequence_id,
            task.title,
            m.state.map(State::name),
            m.plane_state,
            task.priority,
            task.description,
            serde_json::to_string(&task.labels).expect("labels serialise"),
            kind,
            repo,
            task.created_at,
            task.updated_at,
            micros(&task.updated_at),
            rank,
            now()
        ],
    )?;
    Ok(())
}

pub fn get(conn: &Connection, id: &str) -> rusqlite::Result<Option<Task>> {
    conn.query_row(
        &format!("SELECT {ITEM_COLUMNS} FROM plane_items WHERE id = ?1"),
        [id],
        row_to_task,
    )
    .optional()
}

/// `PROJ-12`, `#12` or `12` → the id of the item with that sequence number.
pub fn id_by_sequence(conn: &Connection, reference: &str) -> rusqlite::Result<Option<String>> {
    let digits: String = reference
        .trim()
        .rsplit(['-', '#'])
        .next()
        .unwrap_or_default()
        .to_string();
    let Ok(n) = digits.parse::<i64>() else {
        return Ok(None);
    };
    conn.query_row(
        "SELECT id FROM plane_items WHERE sequence_id = ?1",
        [n],
        |r| r.get(0),
    )
    .optional()
}

pub fn list(conn: &Connection, state: Option<State>) -> rusqlite::Result<Vec<Task>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {ITEM_COLUMNS} FROM plane_items WHERE ?1 IS NULL OR state = ?1
         ORDER BY sequence_id, id"
    ))?;
    let rows = stmt.query_map([state.map(State::name)], row_to_task)?;
    rows.collect()
}

/// Ready for AI items of `kinds`, most urgent first (ties: older first).
pub fn ready_candidates(
    conn: &Connection,
    kinds: &[&str],
) -> rusqlite::Result<Vec<(String, Option<String>, String)>> {
    let placeholders = vec!["?"; kinds.len()].join(", ");
    let mut stmt = conn.prepare(&format!(
        "SELECT id, repo, description FROM plane_items
         WHERE state = 'Ready for AI' AND kind IN ({placeholders})
         ORDER BY rank_key DESC, sequence_id ASC"
    ))?;
    let args: Vec<&dyn rusqlite::ToSql> = kinds.iter().map(|k| k as &dyn rusqlite::ToSql).collect();
    let rows = stmt.query_map(args.as_slice(), |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    rows.collect()
}

/// The `updated_at` (microseconds) the mirror holds for an item.
pub fn updated_us(conn: &Connection, id: &str) -> rusqlite::Result<Option<i64>> {
    conn.query_row(
        "SELECT updated_us FROM plane_items WHERE id = ?1",
        [id],
        |r| r.get(0),
    )
    .optional()
}

/// An item id from what a user typed: the UUID itself, or `PROJ-12` / `#12` / `12`.
pub fn resolve(conn: &Connection, reference: &str) -> rusqlite::Result<Option<String>> {
    let reference = reference.trim();
    let exists: Option<String> = conn
        .query_row(
            "SELECT id FROM plane_items WHERE id = ?1",
            [reference],
            |r| r.get(0),
        )
        .optional()?;
    if exists.is_some() {
        return Ok(exists);
    }
    id_by_sequence(conn, reference)
}

/// The suite state the mirror holds for an item.
pub fn state_of(conn: &Connection, id: &str) -> rusqlite::Result<Option<State>> {
    let state: Option<Option<String>> = conn
        .query_row("SELECT state FROM plane_items WHERE id = ?1", [id], |r| {
            r.get(0)
        })
        .optional()?;
    Ok(state.flatten().as_deref().and_then(State::parse))
}

/// Records that `run_id` (of this host) claims `id`, contending in `round_us`.
pub fn record_claim(
    conn: &Connection,
    id: &str,
    run_id: &str,
    round_us: i64,
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT OR REPLACE INTO plane_claims (run_id, item_id, round_us) VALUES (?1, ?2, ?3)",
        params![run_id, id, round_us],
    )?;
    conn.execute(
        "UPDATE plane_items SET claimed_by = ?2, claim_since = ?3 WHERE id = ?1",
        params![id, run_id, round_us],
    )?;
    Ok(())
}

/// Forgets a claim of `run_id` (lost, released, or finished).
pub fn forget_claim(conn: &Connection, id: &str, run_id: &str) -> rusqlite::Result<()> {
    conn.execute("DELETE FROM plane_claims WHERE run_id = ?1", [run_id])?;
    // Only this run's mark: another lane of this host may hold the item now.
    conn.execute(
        "UPDATE plane_items SET claimed_by = NULL, claim_since = NULL WHERE id = ?1 AND claimed_by = ?2",
        params![id, run_id],
    )?;
    Ok(())
}

/// Clears whatever claim mark an item carries (it left Running).
pub fn clear_claim_mark(conn: &Connection, id: &str) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE plane_items SET claimed_by = NULL, claim_since = NULL WHERE id = ?1",
        [id],
    )?;
    Ok(())
}

/// Marks that `run_id` read the markers of its round and won.
pub fn claim_won(conn: &Connection, run_id: &str) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE plane_claims SET won = 1 WHERE run_id = ?1",
        [run_id],
    )?;
    Ok(())
}

/// (round, won) of `run_id`'s claim on `id`, when this host recorded that claim.
pub fn claim_round(
    conn: &Connection,
    id: &str,
    run_id: &str,
) -> rusqlite::Result<Option<(i64, bool)>> {
    conn.query_row(
        "SELECT round_us, won FROM plane_claims WHERE run_id = ?1 AND item_id = ?2",
        params![run_id, id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()
}

/// Running items untouched since `older_than` whose claim has no live run here. A claim
/// this host does not know (another host's, or one that crashed before it was recorded)
/// only counts as stale after `foreign_older_than`, so a restart here never re-queues
/// another host's live run.
pub fn stale_running(
    conn: &Connection,
    older_than: i64,
    foreign_older_than: i64,
) -> rusqlite::Result<Vec<Task>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {ITEM_COLUMNS} FROM plane_items t
         WHERE state = 'Running'
           AND NOT EXISTS (SELECT 1 FROM runs r WHERE r.run_id = t.claimed_by AND r.finished_at IS NULL)
           AND NOT EXISTS (SELECT 1 FROM plane_outbox o WHERE o.item_id = t.id)
           AND updated_us < 1000000 * CASE
                 WHEN EXISTS (SELECT 1 FROM runs r WHERE r.run_id = t.claimed_by AND r.task_id = t.id)
                 THEN ?1 ELSE ?2 END
         ORDER BY sequence_id"
    ))?;
    let rows = stmt.query_map(params![older_than, foreign_older_than], row_to_task)?;
    rows.collect()
}

// ---- sync progress and lease --------------------------------------------------------

#[derive(Debug, Clone, Default)]
pub struct SyncState {
    pub project: Option<String>,
    pub watermark_us: i64,
    pub last_sync: i64,
    pub last_full: i64,
    pub last_error: Option<String>,
    pub items: i64,
}

pub fn sync_state(conn: &Connection) -> rusqlite::Result<SyncState> {
    conn.query_row(
        "SELECT project, watermark_us, last_sync, last_full, last_error,
                (SELECT COUNT(*) FROM plane_items)
         FROM plane_sync WHERE id = 1",
        [],
        |r| {
            Ok(SyncState {
                project: r.get(0)?,
                watermark_us: r.get(1)?,
                last_sync: r.get(2)?,
                last_full: r.get(3)?,
                last_error: r.get(4)?,
                items: r.get(5)?,
            })
        },
    )
}

/// Takes the sync lease when the mirror is older than `interval` and nobody else holds
/// it: at most one process per host talks to Plane for the mirror at a time.
pub fn take_lease(
    conn: &Connection,
    holder: &str,
    interval: i64,
    lease_secs: i64,
) -> rusqlite::Result<bool> {
    let t = now();
    let changed = conn.execute(
        "UPDATE plane_sync SET lease_holder = ?1, lease_until = ?2
         WHERE id = 1 AND last_sync <= ?3 AND (lease_until < ?4 OR lease_holder = ?1)",
        params![holder, t + lease_secs, t - interval, t],
    )?;
    Ok(changed == 1)
}

/// Ends a sync: records progress (or the error) and frees the lease.
pub fn finish_sync(
    conn: &Connection,
    project: &str,
    watermark_us: i64,
    full: bool,
    error: Option<&str>,
) -> rusqlite::Result<()> {
    let t = now();
    conn.execute(
        "UPDATE plane_sync SET project = ?1, watermark_us = MAX(watermark_us, ?2), last_sync = ?3,
             last_full = CASE WHEN ?4 THEN ?3 ELSE last_full END, last_error = ?5,
             lease_holder = NULL, lease_until = 0
         WHERE id = 1",
        params![project, watermark_us, t, full && error.is_none(), error],
    )?;
    Ok(())
}

/// A different project than the mirror holds: start over.
pub fn reset_if_other_project(conn: &Connection, project: &str) -> rusqlite::Result<bool> {
    let held: Option<String> =
        conn.query_row("SELECT project FROM plane_sync WHERE id = 1", [], |r| {
            r.get(0)
        })?;
    if held.as_deref().is_none_or(|p| p == project) {
        return Ok(false);
    }
    conn.execute_batch(
        "DELETE FROM plane_items;
         UPDATE plane_sync SET project = NULL, watermark_us = 0, last_sync = 0, last_full = 0;",
    )?;
    Ok(true)
}

/// After a full read: rows Plane no longer lists (deleted, archived) leave the mirror.
pub fn remove_missing(conn: &Connection, seen: &[String]) -> rusqlite::Result<usize> {
    let tx = rusqlite::Transaction::new_unchecked(conn, rusqlite::TransactionBehavior::Immediate)?;
    tx.execute_batch(
        "CREATE TEMP TABLE IF NOT EXISTS seen_items (id TEXT PRIMARY KEY); DELETE FROM seen_items;",
    )?;
    {
        let mut insert = tx.prepare("INSERT OR IGNORE INTO seen_items (id) VALUES (?1)")?;
        for id in seen {
            insert.execute([id])?;
        }
    }
    let removed = tx.execute(
        "DELETE FROM plane_items WHERE id NOT IN (SELECT id FROM seen_items)",
        [],
    )?;
    tx.execute_batch("DELETE FROM seen_items;")?;
    tx.commit()?;
    Ok(removed)
}

// ---- request meter ------------------------------------------------------------------

/// Adds what a client sent since `before` to this minute's count, and keeps the newest
/// rate-limit headers.
pub fn record_requests(
    conn: &Connection,
    before: &RateStats,
    after: &RateStats,
) -> rusqlite::Result<()> {
    let requests = after.requests.saturating_sub(before.requests);
    let throttled = after.throttled.saturating_sub(before.throttled);
    if requests == 0 {
        return Ok(());
    }
    let t = now();
    conn.execute(
        "INSERT INTO plane_requests (minute, requests, throttled) VALUES (?1, ?2, ?3)
         ON CONFLICT (minute) DO UPDATE SET requests = requests + excluded.requests,
             throttled = throttled + excluded.throttled",
        params![t / 60, requests as i64, throttled as i64],
    )?;
    if after.remaining.is_some() || after.reset.is_some() {
        conn.execute(
            "INSERT INTO plane_rate (id, remaining, reset, observed_at) VALUES (1, ?1, ?2, ?3)
             ON CONFLICT (id) DO UPDATE SET remaining = excluded.remaining,
                 reset = excluded.reset, observed_at = excluded.observed_at",
            params![after.remaining.map(|r| r as i64), after.reset, t],
        )?;
    }
    // Keep a day of history.
    conn.execute(
        "DELETE FROM plane_requests WHERE minute < ?1",
        [t / 60 - 24 * 60],
    )?;
    Ok(())
}

/// What `oc status` and `oc plane-status` show about the API budget.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Usage {
    /// Requests in the last complete minute.
    pub last_minute: i64,
    /// Average per minute over the last 15 minutes.
    pub per_minute_15m: f64,
    pub throttled_15m: i64,
    /// `X-RateLimit-Remaining`/`-Reset` of the newest answer, when Plane sent them.
    pub remaining: Option<i64>,
    pub reset: Option<i64>,
    pub observed_at: Option<i64>,
}

pub fn usage(conn: &Connection) -> rusqlite::Result<Usage> {
    let minute = now() / 60;
    let (last, sum15, throttled15): (i64, i64, i64) = conn.query_row(
        "SELECT COALESCE(SUM(CASE WHEN minute = ?1 - 1 THEN requests END), 0),
                COALESCE(SUM(requests), 0), COALESCE(SUM(throttled), 0)
         FROM plane_requests WHERE minute > ?1 - 15",
        [minute],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    let rate: Option<(Option<i64>, Option<i64>, i64)> = conn
        .query_row(
            "SELECT remaining, reset, observed_at FROM plane_rate WHERE id = 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let (remaining, reset, observed_at) = match rate {
        Some((rem, reset, at)) => (rem, reset, Some(at)),
        None => (None, None, None),
    };
    Ok(Usage {
        last_minute: last,
        per_minute_15m: sum15 as f64 / 15.0,
        throttled_15m: throttled15,
        remaining,
        reset,
        observed_at,
    })
}
