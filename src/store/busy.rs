//! What a connection does while another process holds the database's write lock (a long
//! `oc` command, a backup, `sqlite3` left open): every statement on every connection waits
//! here, so no caller needs retries of its own.
//!
//! One-shot commands give up after [`PATIENCE`] with "database is locked". Lane daemons call
//! [`wait_until_shutdown`] at start: they wait as long as the lock is held — a lock is
//! transient, and exiting into systemd's start limit is worse than waiting — pinging the
//! watchdog and logging `state_db_busy`, until SIGTERM asks them to stop.

use std::cell::Cell;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::daemon::shutdown::Shutdown;

/// How long a one-shot command waits for the lock (the former busy timeout).
pub const PATIENCE: Duration = Duration::from_secs(30);
/// A wait this long is logged (contention between lanes lasts milliseconds).
const REPORT_AFTER: Duration = Duration::from_secs(2);
/// While the wait goes on, it is logged again this often.
const REPORT_EVERY: Duration = Duration::from_secs(60);
const PING_EVERY: Duration = Duration::from_secs(1);
/// Pauses between tries (as SQLite's own busy timeout), then 100 ms.
const DELAYS_MS: [u64; 12] = [1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100];

static LANE_SHUTDOWN: OnceLock<Shutdown> = OnceLock::new();

/// Makes every connection of this process wait for a held lock until `shutdown` is
/// requested, instead of failing after [`PATIENCE`]. For lane daemons; idempotent.
pub fn wait_until_shutdown(shutdown: &Shutdown) {
    let _ = LANE_SHUTDOWN.set(shutdown.clone());
}

struct Wait {
    started: Instant,
    next_report: Instant,
    last_ping: Instant,
    reported: bool,
}

thread_local! {
    static WAIT: Cell<Option<Wait>> = const { Cell::new(None) };
}

/// The busy handler of every connection [`super::open`] makes: SQLite calls it with the
/// number of calls so far for one lock; true means "try again".
pub(super) fn handler(calls: i32) -> bool {
    let now = Instant::now();
    let mut wait = WAIT.with(Cell::take).filter(|_| calls > 0).unwrap_or(Wait {
        started: now,
        next_report: now + REPORT_AFTER,
        last_ping: now,
        reported: false,
    });
    let waited = now - wait.started;
    let lane = LANE_SHUTDOWN.get();
    let go_on = match lane {
        Some(shutdown) => !shutdown.requested(),
        None => waited < PATIENCE,
    };
    if !go_on {
        if wait.reported {
            tracing::warn!(
                event = "state_db_busy_gave_up",
                waited_ms = waited.as_millis() as u64,
                "gave up waiting for the state database after {}s",
                waited.as_secs()
            );
        }
        return false;
    }
    if now >= wait.next_report {
        tracing::warn!(
            event = "state_db_busy",
            waited_ms = waited.as_millis() as u64,
            "the state database is locked by another process ({}s so far); waiting{}",
            waited.as_secs(),
            if lane.is_some() {
                " until it is released"
            } else {
                ""
            }
        );
        if lane.is_some() {
            crate::daemon::notify::status(
                "waiting for the state database (locked by another process)",
            );
        }
        wait.reported = true;
        wait.next_report = now + REPORT_EVERY;
    }
    if now - wait.last_ping >= PING_EVERY {
        // The lane's own loop is stuck in this statement: keep systemd's watchdog fed.
        crate::daemon::notify::ping();
        wait.last_ping = now;
    }
    let delay = DELAYS_MS[(calls.max(0) as usize).min(DELAYS_MS.len() - 1)];
    WAIT.with(|w| w.set(Some(wait)));
    std::thread::sleep(Duration::from_millis(delay));
    true
}

/// Whether an error is the database being locked (what the handler above gave up on, or a
/// lock conflict SQLite reports without waiting). Board errors carry theirs as the source.
pub fn is_busy(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        matches!(
            cause
                .downcast_ref::<rusqlite::Error>()
                .and_then(rusqlite::Error::sqlite_error_code),
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
        )
    })
}
