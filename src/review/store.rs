//! Per-PR review state (`pr_reviews`) and outcome feedback (`review_feedback`) in the
//! state database. One row per (repo key, PR number); a restart resumes from it.

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::store::now;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    SelfReview,
    /// The self-review said LGTM; waiting for CI on the head commit before merging.
    AwaitingCi,
    HumanReview,
    Merged,
    Closed,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::SelfReview => "self_review",
            Phase::AwaitingCi => "awaiting_ci",
            Phase::HumanReview => "human_review",
            Phase::Merged => "merged",
            Phase::Closed => "closed",
        }
    }

    pub fn parse(s: &str) -> Phase {
        match s {
            "awaiting_ci" => Phase::AwaitingCi,
            "human_review" => Phase::HumanReview,
            "merged" => Phase::Merged,
            "closed" => Phase::Closed,
            _ => Phase::SelfReview,
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, Phase::Merged | Phase::Closed)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct PrReview {
    pub repo_key: String,
    pub pr_number: u64,
    pub task_id: Option<String>,
    pub branch: String,
    pub base: String,
    pub head_sha: String,
    pub phase: Phase,
    pub self_review_loops: u32,
    pub human_review_loops: u32,
    pub processed_ids: Vec<String>,
    pub no_verdict_count: u32,
    pub next_attempt_at: i64,
    pub phase2_entered_at: Option<i64>,
    pub last_reminder_at: Option<i64>,
    pub merge_reason: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl PrReview {
    pub fn new(
        repo_key: &str,
        pr_number: u64,
        task_id: Option<String>,
        branch: &str,
        base: &str,
        head_sha: &str,
    ) -> Self {
        let t = now();
        Self {
            repo_key: repo_key.to_string(),
            pr_number,
            task_id,
            branch: branch.to_string(),
            base: base.to_string(),
            head_sha: head_sha.to_string(),
            phase: Phase::SelfReview,
            self_review_loops: 0,
            human_review_loops: 0,
            processed_ids: Vec::new(),
            no_verdict_count: 0,
            next_attempt_at: 0,
            phase2_entered_at: None,
            last_reminder_at: None,
            merge_reason: None,
            created_at: t,
            updated_at: t,
        }
    }

    /// `demo#12`, for logs.
    pub fn key(&self) -> String {
        format!("{}#{}", self.repo_key, self.pr_number)
    }

    pub fn processed(&self, id: &str) -> bool {
        self.processed_ids.iter().any(|p| p == id)
    }
}

const COLUMNS: &str =
    "repo_key, pr_number, task_id, branch, base, head_sha, phase, self_review_loops,
    human_review_loops, processed_ids, no_verdict_count, next_attempt_at, phase2_entered_at,
    last_reminder_at, merge_reason, created_at, updated_at";

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<PrReview> {
    let processed: String = r.get(9)?;
    Ok(PrReview {
        repo_key: r.get(0)?,
        pr_number: r.get::<_, i64>(1)? as u64,
        task_id: r.get(2)?,
        branch: r.get(3)?,
        base: r.get(4)?,
        head_sha: r.get(5)?,
        phase: Phase::parse(&r.get::<_, String>(6)?),
        self_review_loops: r.get(7)?,
        human_review_loops: r.get(8)?,
        processed_ids: serde_json::from_str(&processed).unwrap_or_default(),
        no_verdict_count: r.get(10)?,
        next_attempt_at: r.get(11)?,
        phase2_entered_at: r.get(12)?,
        last_reminder_at: r.get(13)?,
        merge_reason: r.get(14)?,
        created_at: r.get(15)?,
        updated_at: r.get(16)?,
    })
}

/// Creates the state unless the PR has one already; returns whether it was created.
pub fn insert_new(conn: &Connection, s: &PrReview) -> rusqlite::Result<bool> {
    let n = conn.execute(
        &format!(
            "INSERT OR IGNORE INTO pr_reviews ({COLUMNS})
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)"
        ),
        params![
            s.repo_key,
            s.pr_number as i64,
            s.task_id,
            s.branch,
            s.base,
            s.head_sha,
            s.phase.as_str(),
            s.self_review_loops,
            s.human_review_loops,
            serde_json::to_string(&s.processed_ids).unwrap_or_else(|_| "[]".into()),
            s.no_verdict_count,
            s.next_attempt_at,
            s.phase2_entered_at,
            s.last_reminder_at,
            s.merge_reason,
            s.created_at,
            s.updated_at
        ],
    )?;
    Ok(n == 1)
}

/// Saves every field; a terminal phase already stored is never overwritten (the race of
/// two reviewers: the one that finalised wins).
pub fn save(conn: &Connection, s: &PrReview) -> rusqlite::Result<bool> {
    let n = conn.execute(
        "UPDATE pr_reviews SET task_id = ?3, branch = ?4, base = ?5, head_sha = ?6, phase = ?7,
            self_review_loops = ?8, human_review_loops = ?9, processed_ids = ?10,
            no_verdict_count = ?11, next_attempt_at = ?12, phase2_entered_at = ?13,
            last_reminder_at = ?14, merge_reason = ?15, updated_at = ?16
         WHERE repo_key = ?1 AND pr_number = ?2 AND phase NOT IN ('merged', 'closed')",
        params![
            s.repo_key,
            s.pr_number as i64,
            s.task_id,
            s.branch,
            s.base,
            s.head_sha,
            s.phase.as_str(),
            s.self_review_loops,
            s.human_review_loops,
            serde_json::to_string(&s.processed_ids).unwrap_or_else(|_| "[]".into()),
            s.no_verdict_count,
            s.next_attempt_at,
            s.phase2_entered_at,
            s.last_reminder_at,
            s.merge_reason,
            now()
        ],
    )?;
    Ok(n == 1)
}

pub fn get(
    conn: &Connection,
    repo_key: &str,
    pr_number: u64,
) -> rusqlite::Result<Option<PrReview>> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM pr_reviews WHERE repo_key = ?1 AND pr_number = ?2"),
        params![repo_key, pr_number as i64],
        from_row,
    )
    .optional()
}

/// The PRs still under review, oldest first.
pub fn active(conn: &Connection) -> rusqlite::Result<Vec<PrReview>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM pr_reviews WHERE phase NOT IN ('merged', 'closed')
         ORDER BY created_at, repo_key, pr_number"
    ))?;
    let rows = stmt.query_map([], from_row)?;
    rows.collect()
}

pub fn all(conn: &Connection) -> rusqlite::Result<Vec<PrReview>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {COLUMNS} FROM pr_reviews ORDER BY created_at, repo_key, pr_number"
    ))?;
    let rows = stmt.query_map([], from_row)?;
    rows.collect()
}

/// One outcome of a proposal, for the autonomy pipeline (original-behaviour §9.8).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Feedback {
    pub task_id: String,
    pub pr_number: Option<u64>,
    pub outcome: String,
    pub merge_reason: Option<String>,
    pub self_review_loops: u32,
    pub human_review_loops: u32,
    pub family: Option<String>,
    pub confidence: Option<f64>,
    pub note: Option<String>,
    pub recorded_at: String,
}

pub const OUTCOMES: [&str; 3] = ["merged", "escalated", "abandoned"];

/// Stores a record; an existing one for the task is replaced only with `overwrite`.
/// Returns whether it was written.
pub fn record_feedback(conn: &Connection, f: &Feedback, overwrite: bool) -> rusqlite::Result<bool> {
    let verb = if overwrite {
        "INSERT OR REPLACE"
    } else {
        "INSERT OR IGNORE"
    };
    let n = conn.execute(
        &format!(
            "{verb} INTO review_feedback (task_id, pr_number, outcome, merge_reason,
                self_review_loops, human_review_loops, family, confidence, note, recorded_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
        ),
        params![
            f.task_id,
            f.pr_number.map(|n| n as i64),
            f.outcome,
            f.merge_reason,
            f.self_review_loops,
            f.human_review_loops,
            f.family,
            f.confidence,
            f.note,
            now()
        ],
    )?;
    Ok(n == 1)
}

fn feedback_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Feedback> {
    Ok(Feedback {
        task_id: r.get(0)?,
        pr_number: r.get::<_, Option<i64>>(1)?.map(|n| n as u64),
        outcome: r.get(2)?,
        merge_reason: r.get(3)?,
        self_review_loops: r.get(4)?,
        human_review_loops: r.get(5)?,
        family: r.get(6)?,
        confidence: r.get(7)?,
        note: r.get(8)?,
        recorded_at: crate::store::rfc3339(r.get(9)?),
    })
}

const FEEDBACK_COLUMNS: &str = "task_id, pr_number, outcome, merge_reason, self_review_loops,
    human_review_loops, family, confidence, note, recorded_at";

pub fn feedback(conn: &Connection, task_id: &str) -> rusqlite::Result<Option<Feedback>> {
    conn.query_row(
        &format!("SELECT {FEEDBACK_COLUMNS} FROM review_feedback WHERE task_id = ?1"),
        [task_id],
        feedback_row,
    )
    .optional()
}

pub fn feedback_list(conn: &Connection, limit: u32) -> rusqlite::Result<Vec<Feedback>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {FEEDBACK_COLUMNS} FROM review_feedback ORDER BY recorded_at DESC, rowid DESC LIMIT ?1"
    ))?;
    let rows = stmt.query_map([limit], feedback_row)?;
    rows.collect()
}
