//! Writes to Plane that could not be delivered (Plane down or throttled past the retries),
//! kept in the state database and replayed in order by the next lane cycle or `oc
//! plane-sync`, whenever the mirror's own sync is due or not. Comments carry an
//! external id, so a replay after a lost answer adopts the comment instead of repeating it.

use rusqlite::{Connection, OptionalExtension, params};

use crate::board::State;
use crate::store::now;

#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    Comment { body: String, external_id: String },
    Move { state: State },
    Release { run_id: String, state: State },
}

#[derive(Debug, Clone)]
pub struct Pending {
    pub seq: i64,
    pub item_id: String,
    pub write: Write,
}

pub fn push(conn: &Connection, item_id: &str, write: &Write, error: &str) -> rusqlite::Result<()> {
    let (kind, body, external_id, state, run_id) = match write {
        Write::Comment { body, external_id } => (
            "comment",
            Some(body.as_str()),
            Some(external_id.as_str()),
            None,
            None,
        ),
        Write::Move { state } => ("move", None, None, Some(state.name()), None),
        Write::Release { run_id, state } => (
            "release",
            None,
            None,
            Some(state.name()),
            Some(run_id.as_str()),
        ),
    };
    conn.execute(
        "INSERT INTO plane_outbox (item_id, kind, body, external_id, state, run_id, created_at, last_error)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![item_id, kind, body, external_id, state, run_id, now(), error],
    )?;
    Ok(())
}

/// Whether writes for this item wait in the outbox (new ones must queue behind them).
pub fn has_pending(conn: &Connection, item_id: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM plane_outbox WHERE item_id = ?1)",
        [item_id],
        |r| r.get(0),
    )
}

pub fn pending(conn: &Connection) -> rusqlite::Result<Vec<Pending>> {
    let mut stmt = conn.prepare(
        "SELECT seq, item_id, kind, body, external_id, state, run_id FROM plane_outbox ORDER BY seq",
    )?;
    let rows = stmt.query_map([], |r| {
        let kind: String = r.get(2)?;
        let state: Option<String> = r.get(5)?;
        let state = state
            .as_deref()
            .and_then(State::parse)
            .unwrap_or(State::ReadyForAi);
        let write = match kind.as_str() {
            "comment" => Write::Comment {
                body: r.get::<_, Option<String>>(3)?.unwrap_or_default(),
                external_id: r.get::<_, Option<String>>(4)?.unwrap_or_default(),
            },
            "move" => Write::Move { state },
            _ => Write::Release {
                run_id: r.get::<_, Option<String>>(6)?.unwrap_or_default(),
                state,
            },
        };
        Ok(Pending {
            seq: r.get(0)?,
            item_id: r.get(1)?,
            write,
        })
    })?;
    rows.collect()
}

pub fn done(conn: &Connection, seq: i64) -> rusqlite::Result<()> {
    conn.execute("DELETE FROM plane_outbox WHERE seq = ?1", [seq])?;
    Ok(())
}

pub fn failed(conn: &Connection, seq: i64, error: &str) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE plane_outbox SET attempts = attempts + 1, last_error = ?2 WHERE seq = ?1",
        params![seq, error],
    )?;
    Ok(())
}

pub fn count(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("SELECT COUNT(*) FROM plane_outbox", [], |r| r.get(0))
}

/// Writes waiting, when the oldest was queued, and the last error it met.
#[derive(Debug, Clone, Default)]
pub struct Backlog {
    pub count: i64,
    pub oldest_at: Option<i64>,
    pub last_error: Option<String>,
}

pub fn backlog(conn: &Connection) -> rusqlite::Result<Backlog> {
    let count = count(conn)?;
    let oldest: Option<(i64, Option<String>)> = conn
        .query_row(
            "SELECT created_at, last_error FROM plane_outbox ORDER BY seq LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    Ok(Backlog {
        count,
        oldest_at: oldest.as_ref().map(|o| o.0),
        last_error: oldest.and_then(|o| o.1),
    })
}
