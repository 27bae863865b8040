//! Executions (one row per agent run, counted once) and backend cool-downs.

use rusqlite::{Connection, OptionalExtension, params};

use super::now;

/// Real attempts at one task (for the retry cap): charged executions that ran to an end.
/// An interrupted one (the lane was stopped or died) was no attempt, even if it cost money.
pub fn task_attempts(conn: &Connection, task_id: &str, since: i64) -> rusqlite::Result<u32> {
    conn.query_row(
        "SELECT COUNT(*) FROM executions WHERE charged = 1 AND task_id = ?1 AND started_at > ?2
           AND outcome IS NOT 'interrupted'",
        params![task_id, since],
        |r| r.get(0),
    )
}

/// Records an execution when the agent starts; charged until proven an infra failure.
pub fn start(
    conn: &Connection,
    run_id: &str,
    task_id: &str,
    repo: &str,
    backend: &str,
) -> rusqlite::Result<i64> {
    conn.execute(
        "INSERT INTO executions (run_id, task_id, repo, backend, started_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![run_id, task_id, repo, backend, now()],
    )?;
    Ok(conn.last_insert_rowid())
}

pub struct Finish<'a> {
    pub charged: bool,
    pub outcome: &'a str,
    pub cost_usd: f64,
    pub cost_source: &'a str,
}

pub fn finish(conn: &Connection, id: i64, finish: &Finish<'_>) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE executions SET finished_at = ?2, charged = ?3, outcome = ?4, cost_usd = ?5, cost_source = ?6
         WHERE id = ?1",
        params![
            id,
            now(),
            finish.charged,
            finish.outcome,
            finish.cost_usd,
            finish.cost_source
        ],
    )?;
    Ok(())
}

/// Closes the still-open executions of a run whose lane stopped or died mid-run: outcome
/// `interrupted`, charged nothing unless the agent's output had reported a cost (then that
/// cost, and it counts against the budgets: the money was spent).
pub fn close_interrupted(
    conn: &Connection,
    run_id: &str,
    reported_cost: Option<f64>,
) -> rusqlite::Result<usize> {
    conn.execute(
        "UPDATE executions SET finished_at = ?2, outcome = 'interrupted', charged = ?3,
             cost_usd = ?4, cost_source = ?5
         WHERE run_id = ?1 AND finished_at IS NULL",
        params![
            run_id,
            now(),
            reported_cost.is_some(),
            reported_cost.unwrap_or(0.0),
            if reported_cost.is_some() {
                "reported"
            } else {
                "none"
            }
        ],
    )
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ExecutionRow {
    pub run_id: String,
    pub task_id: String,
    pub repo: Option<String>,
    pub backend: String,
    pub started_at: i64,
    pub charged: bool,
    pub outcome: Option<String>,
    pub cost_usd: Option<f64>,
    pub cost_source: Option<String>,
}

pub fn for_task(conn: &Connection, task_id: &str) -> rusqlite::Result<Vec<ExecutionRow>> {
    let mut stmt = conn.prepare(
        "SELECT run_id, task_id, repo, backend, started_at, charged, outcome, cost_usd, cost_source
         FROM executions WHERE task_id = ?1 ORDER BY id",
    )?;
    stmt.query_map([task_id], |r| {
        Ok(ExecutionRow {
            run_id: r.get(0)?,
            task_id: r.get(1)?,
            repo: r.get(2)?,
            backend: r.get(3)?,
            started_at: r.get(4)?,
            charged: r.get(5)?,
            outcome: r.get(6)?,
            cost_usd: r.get(7)?,
            cost_source: r.get(8)?,
        })
    })?
    .collect()
}

/// Pauses a backend (after a quota/capacity failure) until `until`.
pub fn pause_backend(
    conn: &Connection,
    backend: &str,
    until: i64,
    reason: &str,
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO backend_pauses (backend, until, reason) VALUES (?1, ?2, ?3)
         ON CONFLICT (backend) DO UPDATE SET until = excluded.until, reason = excluded.reason",
        params![backend, until, reason],
    )?;
    Ok(())
}

/// The pause in force for a backend, if any: (until, reason).
pub fn backend_paused(conn: &Connection, backend: &str) -> rusqlite::Result<Option<(i64, String)>> {
    conn.query_row(
        "SELECT until, reason FROM backend_pauses WHERE backend = ?1 AND until > ?2",
        params![backend, now()],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()
}
