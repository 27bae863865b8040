//! `check_run` and `check_suite` payloads → one `ci_events` row per delivery.

use rusqlite::{Connection, OptionalExtension, params};
use std::borrow::Cow;

use serde::{Deserialize, Serialize};

/// What we keep of a check run or check suite event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CiEvent {
    pub event: String,
    pub action: Option<String>,
    pub repo: String,
    pub head_sha: String,
    pub pr_numbers: Vec<u64>,
    pub check_name: Option<String>,
    pub status: Option<String>,
    pub conclusion: Option<String>,
}

/// A stored event, as `oc ci-events` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct StoredCiEvent {
    pub delivery_id: String,
    #[serde(flatten)]
    pub event: CiEvent,
    pub received_at: String,
}

// Typed views of only the fields we keep. Deserialising into them skips the rest of the
// payload without building it (an 8 KB delivery as a `serde_json::Value` tree cost more
// than verifying and storing it).
#[derive(Deserialize)]
struct Payload<'a> {
    #[serde(borrow, default)]
    action: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    repository: Option<Repository<'a>>,
    #[serde(borrow, default)]
    check_run: Option<Check<'a>>,
    #[serde(borrow, default)]
    check_suite: Option<Check<'a>>,
}

#[derive(Deserialize)]
struct Repository<'a> {
    #[serde(borrow, default)]
    full_name: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Check<'a> {
    #[serde(borrow, default)]
    head_sha: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    name: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    status: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    conclusion: Option<Cow<'a, str>>,
    #[serde(default)]
    pull_requests: Option<Vec<PullRequestRef>>,
    #[serde(borrow, default)]
    app: Option<App<'a>>,
}

#[derive(Deserialize)]
struct PullRequestRef {
    #[serde(default)]
    number: Option<u64>,
}

#[derive(Deserialize)]
struct App<'a> {
    #[serde(borrow, default)]
    name: Option<Cow<'a, str>>,
}

/// Parses a `check_run` or `check_suite` body; the error is the reason for a 400.
pub fn parse(event: &str, body: &[u8]) -> Result<CiEvent, String> {
    let payload: Payload<'_> = serde_json::from_slice(body).map_err(|e| {
        if e.classify() == serde_json::error::Category::Data {
            format!("invalid payload: not a JSON object with the expected fields ({e})")
        } else {
            format!("invalid JSON: {e}")
        }
    })?;
    let check = match event {
        "check_run" => payload.check_run,
        _ => payload.check_suite,
    }
    .ok_or_else(|| format!("invalid payload: no `{event}` object"))?;
    let owned = |v: Option<Cow<'_, str>>| v.map(Cow::into_owned);
    let repo = payload
        .repository
        .and_then(|r| r.full_name)
        .ok_or("invalid payload: no repository.full_name")?
        .into_owned();
    let head_sha =
        owned(check.head_sha).ok_or_else(|| format!("invalid payload: no {event}.head_sha"))?;
    let pr_numbers = check
        .pull_requests
        .unwrap_or_default()
        .into_iter()
        .filter_map(|pr| pr.number)
        .collect();
    let check_name = if event == "check_run" {
        owned(check.name)
    } else {
        // A suite has no name of its own; the app that runs it is what people recognise.
        Some(owned(check.app.and_then(|a| a.name)).unwrap_or_else(|| "check_suite".into()))
    };
    Ok(CiEvent {
        event: event.to_string(),
        action: owned(payload.action),
        repo,
        head_sha,
        pr_numbers,
        check_name,
        status: owned(check.status),
        conclusion: owned(check.conclusion),
    })
}

/// Stores the event; false when this delivery id was recorded before (a redelivery).
pub fn record(
    conn: &Connection,
    delivery_id: &str,
    event: &CiEvent,
    now: i64,
) -> rusqlite::Result<bool> {
    // Cached: the receiver records thousands of events a second through one connection.
    let mut insert = conn.prepare_cached(
        "INSERT INTO ci_events (delivery_id, event, action, repo, head_sha, pr_numbers,
                                check_name, status, conclusion, received_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT (delivery_id) DO NOTHING",
    )?;
    let inserted = insert.execute(params![
        delivery_id,
        event.event,
        event.action,
        event.repo,
        event.head_sha,
        serde_json::to_string(&event.pr_numbers).unwrap_or_else(|_| "[]".into()),
        event.check_name,
        event.status,
        event.conclusion,
        now,
    ])?;
    Ok(inserted == 1)
}

/// The newest `limit` events, newest first.
pub fn list(conn: &Connection, limit: usize) -> rusqlite::Result<Vec<StoredCiEvent>> {
    let mut stmt = conn.prepare(
        "SELECT delivery_id, event, action, repo, head_sha, pr_numbers, check_name, status,
                conclusion, received_at
         FROM ci_events ORDER BY id DESC LIMIT ?1",
    )?;
    let rows = stmt.query_map([limit as i64], |r| {
        let prs: String = r.get(5)?;
        Ok(StoredCiEvent {
            delivery_id: r.get(0)?,
            event: CiEvent {
                event: r.get(1)?,
                action: r.get(2)?,
                repo: r.get(3)?,
                head_sha: r.get(4)?,
                pr_numbers: serde_json::from_str(&prs).unwrap_or_default(),
                check_name: r.get(6)?,
                status: r.get(7)?,
                conclusion: r.get(8)?,
            },
            received_at: crate::store::rfc3339(r.get(9)?),
        })
    })?;
    rows.collect()
}

/// The number of rows for one delivery id (0 or 1; for tests and checks).
pub fn count_delivery(conn: &Connection, delivery_id: &str) -> rusqlite::Result<u64> {
    conn.query_row(
        "SELECT COUNT(*) FROM ci_events WHERE delivery_id = ?1",
        [delivery_id],
        |r| r.get(0),
    )
    .optional()
    .map(|n| n.unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/../shared/testdata/github/webhooks/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn check_run_completed() {
        let e = parse("check_run", &fixture("check_run.completed.json")).unwrap();
        assert_eq!(e.repo, "Codertocat/Hello-World");
        assert_eq!(e.action.as_deref(), Some("completed"));
        assert_eq!(e.conclusion.as_deref(), Some("success"));
        assert_eq!(e.status.as_deref(), Some("completed"));
        assert_eq!(e.pr_numbers, vec![2]);
        assert_eq!(e.head_sha.len(), 40);
        assert!(e.check_name.is_some());
    }

    #[test]
    fn check_run_created_has_no_conclusion() {
        let e = parse("check_run", &fixture("check_run.created.json")).unwrap();
        assert_eq!(e.status.as_deref(), Some("queued"));
        assert_eq!(e.conclusion, None);
    }

    #[test]
    fn check_suite_uses_the_app_name() {
        let e = parse("check_suite", &fixture("check_suite.completed.json")).unwrap();
        assert_eq!(e.conclusion.as_deref(), Some("success"));
        assert!(e.check_name.as_deref().is_some_and(|n| !n.is_empty()));
    }

    #[test]
    fn bad_payloads_say_why() {
        assert!(
            parse("check_run", b"{not json")
                .unwrap_err()
                .contains("invalid JSON")
        );
        assert!(
            parse("check_run", b"[1]")
                .unwrap_err()
                .contains("not a JSON object")
        );
        assert!(parse("check_run", b"{}").unwrap_err().contains("check_run"));
    }

    #[test]
    fn a_delivery_is_recorded_once() {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::store::open(dir.path()).unwrap();
        let e = parse("check_run", &fixture("check_run.completed.json")).unwrap();
        assert!(record(&conn, "d-1", &e, 1).unwrap());
        assert!(!record(&conn, "d-1", &e, 2).unwrap());
        assert_eq!(count_delivery(&conn, "d-1").unwrap(), 1);
        let listed = list(&conn, 10).unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].event, e);
    }
}
