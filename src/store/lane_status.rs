//! What each lane instance is doing, for `oc status` (the seed's watch-all-status). Written
//! by the lane itself every cycle; systemd's view (running or not) is added by the reader.

use rusqlite::{Connection, params};

use super::now;

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct LaneStatus {
    pub lane: String,
    pub role: String,
    pub slot: String,
    pub pid: i64,
    pub cycle: u64,
    pub state: String,
    pub last_action: String,
    pub task_id: Option<String>,
    pub task_kind: Option<String>,
    pub follow_ups: u64,
    pub blocked_triaged: u64,
    pub proposed: u64,
    pub started_at: i64,
    pub updated_at: i64,
}

pub fn write(conn: &Connection, s: &LaneStatus) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO lane_status (lane, role, slot, pid, cycle, state, last_action, task_id, task_kind,
             follow_ups, blocked_triaged, proposed, started_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
         ON CONFLICT (lane) DO UPDATE SET role = excluded.role, slot = excluded.slot, pid = excluded.pid,
             cycle = excluded.cycle, state = excluded.state, last_action = excluded.last_action,
             task_id = excluded.task_id, task_kind = excluded.task_kind, follow_ups = excluded.follow_ups,
             blocked_triaged = excluded.blocked_triaged, proposed = excluded.proposed,
             started_at = excluded.started_at, updated_at = excluded.updated_at",
        params![
            s.lane,
            s.role,
            s.slot,
            s.pid,
            s.cycle as i64,
            s.state,
            s.last_action,
            s.task_id,
            s.task_kind,
            s.follow_ups as i64,
            s.blocked_triaged as i64,
            s.proposed as i64,
            s.started_at,
            now()
        ],
    )?;
    Ok(())
}

pub fn all(conn: &Connection) -> rusqlite::Result<Vec<LaneStatus>> {
    let mut stmt = conn.prepare(
        "SELECT lane, role, slot, pid, cycle, state, last_action, task_id, task_kind, follow_ups,
                blocked_triaged, proposed, started_at, updated_at
         FROM lane_status ORDER BY lane",
    )?;
    stmt.query_map([], |r| {
        Ok(LaneStatus {
            lane: r.get(0)?,
            role: r.get(1)?,
            slot: r.get(2)?,
            pid: r.get(3)?,
            cycle: r.get::<_, i64>(4)? as u64,
            state: r.get(5)?,
            last_action: r.get(6)?,
            task_id: r.get(7)?,
            task_kind: r.get(8)?,
            follow_ups: r.get::<_, i64>(9)? as u64,
            blocked_triaged: r.get::<_, i64>(10)? as u64,
            proposed: r.get::<_, i64>(11)? as u64,
            started_at: r.get(12)?,
            updated_at: r.get(13)?,
        })
    })?
    .collect()
}
