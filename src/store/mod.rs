//! The one SQLite database in the state directory. Many units open it at once, so it runs
//! in WAL mode with a busy timeout, and every multi-step change is one transaction.

pub mod budget;
pub mod busy;
pub mod executions;
pub mod runs;

use std::path::{Path, PathBuf};

use rusqlite::Connection;

pub const DB_FILE: &str = "operations-center.db";

/// Schema migrations, applied in order; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE tasks (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    title       TEXT NOT NULL,
    state       TEXT NOT NULL,
    priority    TEXT,
    description TEXT NOT NULL DEFAULT '',
    labels      TEXT NOT NULL DEFAULT '[]',
    kind        TEXT,
    repo        TEXT,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    -- urgency in seconds: static score * 1 day - created_at, so ordering by it equals
    -- ordering by (score + age in days) at any moment, and an index can serve it
    rank_key    INTEGER NOT NULL,
    claimed_by  TEXT
);
CREATE INDEX tasks_claim ON tasks (state, kind, rank_key DESC, id);
CREATE TABLE comments (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id    INTEGER NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    author     TEXT NOT NULL,
    body       TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX comments_task ON comments (task_id, id);
CREATE TABLE runs (
    run_id       TEXT PRIMARY KEY,
    task_id      TEXT NOT NULL,
    lane         TEXT NOT NULL,
    host         TEXT NOT NULL,
    pid          INTEGER NOT NULL,
    pid_start    INTEGER NOT NULL,
    agent_pgid   INTEGER,
    agent_start  INTEGER,
    workspace    TEXT,
    started_at   INTEGER NOT NULL,
    finished_at  INTEGER,
    outcome      TEXT
);
CREATE INDEX runs_active ON runs (finished_at);
CREATE TABLE executions (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id      TEXT NOT NULL,
    task_id     TEXT NOT NULL,
    repo        TEXT,
    backend     TEXT NOT NULL,
    started_at  INTEGER NOT NULL,
    finished_at INTEGER,
    charged     INTEGER NOT NULL DEFAULT 1,
    outcome     TEXT,
    cost_usd    REAL,
    cost_source TEXT
);
CREATE INDEX executions_time ON executions (started_at);
CREATE TABLE backend_pauses (
    backend TEXT PRIMARY KEY,
    until   INTEGER NOT NULL,
    reason  TEXT NOT NULL
);
"#,
    r#"
-- Check runs and suites from GitHub webhooks; a redelivery (same delivery id) is one row.
CREATE TABLE ci_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id TEXT NOT NULL UNIQUE,
    event       TEXT NOT NULL,
    action      TEXT,
    repo        TEXT NOT NULL,
    head_sha    TEXT NOT NULL,
    pr_numbers  TEXT NOT NULL DEFAULT '[]',
    check_name  TEXT,
    status      TEXT,
    conclusion  TEXT,
    received_at INTEGER NOT NULL
);
CREATE INDEX ci_events_sha ON ci_events (repo, head_sha);
-- Error-ingest dedup: key = hash of (repo key, first 200 characters of the text).
CREATE TABLE ingest_dedup (
    key        TEXT PRIMARY KEY,
    repo_key   TEXT NOT NULL,
    task_id    TEXT,
    first_seen INTEGER NOT NULL,
    last_seen  INTEGER NOT NULL,
    count      INTEGER NOT NULL DEFAULT 1
);
-- Where the log tailer stopped in each file (inode and device detect rotation).
CREATE TABLE log_offsets (
    path       TEXT PRIMARY KEY,
    device     INTEGER NOT NULL,
    inode      INTEGER NOT NULL,
    offset     INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
"#,
    r#"
-- The Plane board's local mirror: lanes read it instead of polling Plane, so the API
-- budget does not grow with the number of lanes. Times as Plane sent them, plus
-- microseconds (UTC) for comparisons.
CREATE TABLE plane_items (
    id          TEXT PRIMARY KEY,
    sequence_id INTEGER,
    title       TEXT NOT NULL,
    -- the suite's state name; NULL for a project state the suite does not use (Todo…)
    state       TEXT,
    plane_state TEXT NOT NULL DEFAULT '',
    priority    TEXT,
    description TEXT NOT NULL DEFAULT '',
    labels      TEXT NOT NULL DEFAULT '[]',
    kind        TEXT,
    repo        TEXT,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    updated_us  INTEGER NOT NULL,
    rank_key    INTEGER NOT NULL,
    -- this host's winning claim (run id) and the round it won (updated_us seen Ready)
    claimed_by  TEXT,
    claim_since INTEGER,
    synced_at   INTEGER NOT NULL
);
CREATE INDEX plane_items_claim ON plane_items (state, kind, rank_key DESC, id);
CREATE INDEX plane_items_seq ON plane_items (sequence_id);
-- One row: the mirror's progress and the lease that lets one process at a time sync.
CREATE TABLE plane_sync (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    project      TEXT,
    watermark_us INTEGER NOT NULL DEFAULT 0,
    last_sync    INTEGER NOT NULL DEFAULT 0,
    last_full    INTEGER NOT NULL DEFAULT 0,
    lease_holder TEXT,
    lease_until  INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT
);
INSERT INTO plane_sync (id) VALUES (1);
-- Every request to Plane from every process on this host, per minute, and the last
-- rate-limit headers Plane sent.
CREATE TABLE plane_requests (
    minute    INTEGER PRIMARY KEY,
    requests  INTEGER NOT NULL DEFAULT 0,
    throttled INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE plane_rate (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    remaining   INTEGER,
    reset       INTEGER,
    observed_at INTEGER NOT NULL
);
-- Writes to Plane that failed on a transient error (down, throttled), retried in order at
-- the next sync: a result comment or a final state is never lost to an outage.
CREATE TABLE plane_outbox (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    item_id     TEXT NOT NULL,
    kind        TEXT NOT NULL,  -- comment | move | release
    body        TEXT,
    external_id TEXT,
    state       TEXT,
    run_id      TEXT,
    created_at  INTEGER NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT
);
CREATE INDEX plane_outbox_item ON plane_outbox (item_id);
-- Claims this host's runs made on Plane, with the round each one contended in (the
-- item's updated_at seen Ready): a release checks the markers of that round.
CREATE TABLE plane_claims (
    run_id   TEXT PRIMARY KEY,
    item_id  TEXT NOT NULL,
    round_us INTEGER NOT NULL,
    -- 1 once this run read the markers and won: its release need not read them again
    won      INTEGER NOT NULL DEFAULT 0
);
-- Bumped by `oc ingest-dedup reset`; part of an ingested task's external id, so after a
-- reset the same error makes a new Plane item instead of adopting the old one.
CREATE TABLE ingest_generation (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    generation INTEGER NOT NULL
);
INSERT INTO ingest_generation (id, generation) VALUES (1, 0);
"#,
    // Migration 4 (review lane): per-PR review state and the outcome feedback records.
    r#"
CREATE TABLE pr_reviews (
    repo_key           TEXT NOT NULL,
    pr_number          INTEGER NOT NULL,
    task_id            TEXT,
    branch             TEXT NOT NULL,
    base               TEXT NOT NULL,
    head_sha           TEXT NOT NULL DEFAULT '',
    -- self_review | awaiting_ci | human_review | merged | closed
    phase              TEXT NOT NULL,
    self_review_loops  INTEGER NOT NULL DEFAULT 0,
    human_review_loops INTEGER NOT NULL DEFAULT 0,
    -- JSON list of "issue:<id>", "review:<id>", "review_comment:<id>" already acted on
    processed_ids      TEXT NOT NULL DEFAULT '[]',
    no_verdict_count   INTEGER NOT NULL DEFAULT 0,
    next_attempt_at    INTEGER NOT NULL DEFAULT 0,
    phase2_entered_at  INTEGER,
    last_reminder_at   INTEGER,
    merge_reason       TEXT,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    PRIMARY KEY (repo_key, pr_number)
);
CREATE INDEX pr_reviews_phase ON pr_reviews (phase);
CREATE TABLE review_feedback (
    task_id            TEXT PRIMARY KEY,
    pr_number          INTEGER,
    outcome            TEXT NOT NULL,
    merge_reason       TEXT,
    self_review_loops  INTEGER NOT NULL DEFAULT 0,
    human_review_loops INTEGER NOT NULL DEFAULT 0,
    family             TEXT,
    confidence         REAL,
    note               TEXT,
    recorded_at        INTEGER NOT NULL
);
"#,
    r#"
-- The review lane looks CI checks up by head SHA and compares the repository ignoring
-- case, which an index on (repo, head_sha) cannot serve: every lookup scanned the table.
DROP INDEX IF EXISTS ci_events_sha;
CREATE INDEX ci_events_head_sha ON ci_events (head_sha);
"#,
    r#"
-- Budgets are decided in the claim's transaction: a claimed run that has not started its
-- agent yet holds a reservation (an open run without an execution), counted per repo.
ALTER TABLE runs ADD COLUMN repo TEXT;
CREATE INDEX executions_run ON executions (run_id);
"#,
];

/// Opens (and creates or migrates) the state database under `state_dir`.
pub fn open(state_dir: &Path) -> anyhow::Result<Connection> {
    std::fs::create_dir_all(state_dir).map_err(|e| {
        anyhow::anyhow!("cannot create state directory {}: {e}", state_dir.display())
    })?;
    let path = db_path(state_dir);
    let mut conn = Connection::open(&path)
        .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", path.display()))?;
    // Waits for a lock held by another process (bounded, or for lanes until shutdown).
    conn.busy_handler(Some(busy::handler))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    migrate(&mut conn)?;
    Ok(conn)
}

pub fn db_path(state_dir: &Path) -> PathBuf {
    state_dir.join(DB_FILE)
}

fn migrate(conn: &mut Connection) -> anyhow::Result<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let applied: usize = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(applied) {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", index + 1)?;
    }
    tx.commit()?;
    Ok(())
}

/// Seconds since the Unix epoch; the database stores every time this way.
pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// RFC 3339 rendering of a stored time, for JSON and humans.
pub fn rfc3339(ts: i64) -> String {
    chrono::DateTime::from_timestamp(ts, 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}
