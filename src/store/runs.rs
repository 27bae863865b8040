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

/// Registers a run for the current process; called in the claim's transaction.
pub fn insert(conn: &Connection, run: &NewRun, task_id: &str) -> rusqlite::Result<()> {
    let me = ProcessIdentity::current();
    conn.execute(
        "INSERT INTO runs (run_id, task_id, lane, host, pid, pid_start, workspace, started_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            run.run_id,
            task_id,
            run.lane,
            crate::daemon::procs::hostname(),
            me.pid,
            me.start_ticks,
            run.workspace.to_string_lossy(),
            now()
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
