//! Runs: which lane process holds which task, where its workspace is, and which process
//! group its agent runs in. A run whose lane process is gone is dead, and recovery puts its
//! task back at once instead of waiting for a Running timeout.

use std::path::PathBuf;

use rusqlite::{Connection, params};

use super::now;
use crate::daemon::procs::ProcessIdentity;

#[derive(Debug, Clone)]
pub struct NewRun {
    pub run_id: String,
    pub lane: String,
    pub workspace: PathBuf,
    /// The caps the claim must fit in, checked in the claim's transaction (None: no caps).
    pub budget: Option<super::budget::Limits>,
}

#[derive(Debug, Clone)]
pub struct ActiveRun {
    pub run_id: String,
    pub task_id: String,
    pub lane: String,
    pub host: String,
    pub owner: ProcessIdentity,
    pub agent: Option<ProcessIdentity>,
    pub workspace: Option<PathBuf>,
    pub started_at: i64,
}

impl ActiveRun {
    /// A run is alive while its lane process (same pid, same start time) exists on this host.
    pub fn is_alive(&self) -> bool {
        self.host != crate::daemon::procs::hostname() || self.owner.is_alive()
    }
}

/// Refuses the claim when a cap is used up, else registers the run (its reservation).
/// `tx` must be an IMMEDIATE transaction: the write lock makes both one decision across
/// every process on the host.
pub fn insert_within_budget(
    tx: &rusqlite::Transaction<'_>,
    run: &NewRun,
    task_id: &str,
    repo: Option<&str>,
) -> rusqlite::Result<Result<(), super::budget::Exhausted>> {
    if let Some(limits) = &run.budget
        && let Some(over) = super::budget::check(tx, limits, repo)?
    {
        return Ok(Err(over));
    }
    insert(tx, run, task_id, repo)?;
    Ok(Ok(()))
}

/// Registers a run for the current process; called in the claim's transaction. Until its
/// agent starts, the open run is a budget reservation on `repo` (see [`super::budget`]).
pub fn insert(
    conn: &Connection,
    run: &NewRun,
    task_id: &str,
    repo: Option<&str>,
) -> rusqlite::Result<()> {
    let me = ProcessIdentity::current();
    conn.execute(
        "INSERT INTO runs (run_id, task_id, lane, host, pid, pid_start, workspace, started_at, repo)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            run.run_id,
            task_id,
            run.lane,
            crate::daemon::procs::hostname(),
            me.pid,
            me.start_ticks,
            run.workspace.to_string_lossy(),
            now(),
            repo
        ],
    )?;
    Ok(())
}

pub fn set_agent(conn: &Connection, run_id: &str, agent: &ProcessIdentity) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE runs SET agent_pgid = ?2, agent_start = ?3 WHERE run_id = ?1",
        params![run_id, agent.pid, agent.start_ticks],
    )?;
    Ok(())
}

/// Closes a run (and so its budget reservation, if its agent never started).
pub fn finish(conn: &Connection, run_id: &str, outcome: &str) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE runs SET finished_at = ?2, outcome = ?3 WHERE run_id = ?1 AND finished_at IS NULL",
        params![run_id, now(), outcome],
    )?;
    Ok(())
}

pub fn active(conn: &Connection) -> rusqlite::Result<Vec<ActiveRun>> {
    let mut stmt = conn.prepare(
        "SELECT run_id, task_id, lane, host, pid, pid_start, agent_pgid, agent_start, workspace, started_at
         FROM runs WHERE finished_at IS NULL ORDER BY started_at",
    )?;
    stmt.query_map([], |r| {
        let agent_pgid: Option<i32> = r.get(6)?;
        let agent_start: Option<u64> = r.get(7)?;
        let workspace: Option<String> = r.get(8)?;
        Ok(ActiveRun {
            run_id: r.get(0)?,
            task_id: r.get(1)?,
            lane: r.get(2)?,
            host: r.get(3)?,
            owner: ProcessIdentity {
                pid: r.get(4)?,
                start_ticks: r.get(5)?,
            },
            agent: agent_pgid
                .zip(agent_start)
                .map(|(pid, start_ticks)| ProcessIdentity { pid, start_ticks }),
            workspace: workspace.map(PathBuf::from),
            started_at: r.get(9)?,
        })
    })?
    .collect()
}
