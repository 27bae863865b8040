//! Execution budgets (per hour, per day, per repo per day), decided in the same write
//! transaction as the claim, so lanes in several processes cannot all pass a limit at once.
//!
//! What counts: charged executions in the window, plus reservations — runs that claimed a
//! task and have not started their agent yet (open, no execution row). A reservation ends
//! when the agent starts (its execution counts instead) or when the run is closed, also by
//! crash recovery, so a lane that dies never holds budget.

use std::collections::BTreeMap;

use rusqlite::{Connection, params};

use super::now;

/// The caps one claim must fit in (from `limits:` and each repo's `max_daily_executions`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Limits {
    pub per_hour: u32,
    pub per_day: u32,
    /// Repo key → executions allowed in 24 hours.
    pub repo_daily: BTreeMap<String, u32>,
}

/// A cap that is used up.
#[derive(Debug, Clone, PartialEq)]
pub enum Exhausted {
    Hourly { used: u32, limit: u32 },
    Daily { used: u32, limit: u32 },
    Repo { repo: String, used: u32, cap: u32 },
}

impl Exhausted {
    /// The skip reason lanes log (`reason=` of `watch_skip_budget` / `skip_repo_budget`).
    pub fn reason(&self) -> &'static str {
        match self {
            Exhausted::Hourly { .. } => "hourly_budget_exhausted",
            Exhausted::Daily { .. } => "daily_budget_exhausted",
            Exhausted::Repo { .. } => "repo_budget_exhausted",
        }
    }

    pub fn detail(&self) -> String {
        match self {
            Exhausted::Hourly { used, limit } => {
                format!("{used} executions in the last hour, limit {limit}")
            }
            Exhausted::Daily { used, limit } => {
                format!("{used} executions in the last 24 h, limit {limit}")
            }
            Exhausted::Repo { repo, used, cap } => {
                format!("repo {repo} used {used} of {cap} daily executions")
            }
        }
    }
}

/// Charged executions plus reservations since `since`, for every repo or one.
fn used(conn: &Connection, since: i64, repo: Option<&str>) -> rusqlite::Result<u32> {
    conn.query_row(
        "SELECT (SELECT COUNT(*) FROM executions
                 WHERE charged = 1 AND started_at > ?1 AND (?2 IS NULL OR repo = ?2))
              + (SELECT COUNT(*) FROM runs r
                 WHERE r.finished_at IS NULL AND (?2 IS NULL OR r.repo = ?2)
                   AND NOT EXISTS (SELECT 1 FROM executions e WHERE e.run_id = r.run_id))",
        params![since, repo],
        |r| r.get(0),
    )
}

/// Executions and reservations of one repo in the last 24 hours.
pub fn repo_used_last_day(conn: &Connection, repo: &str) -> rusqlite::Result<u32> {
    used(conn, now() - 86400, Some(repo))
}

/// Whether one more run on `repo` fits. Call it inside the IMMEDIATE transaction that then
/// registers the run (the reservation): the write lock makes check and reservation one step.
pub fn check(
    conn: &Connection,
    limits: &Limits,
    repo: Option<&str>,
) -> rusqlite::Result<Option<Exhausted>> {
    let t = now();
    let hour = used(conn, t - 3600, None)?;
    if hour >= limits.per_hour {
        return Ok(Some(Exhausted::Hourly {
            used: hour,
            limit: limits.per_hour,
        }));
    }
    let day = used(conn, t - 86400, None)?;
    if day >= limits.per_day {
        return Ok(Some(Exhausted::Daily {
            used: day,
            limit: limits.per_day,
        }));
    }
    if let Some(repo) = repo
        && let Some(&cap) = limits.repo_daily.get(repo)
    {
        let used = used(conn, t - 86400, Some(repo))?;
        if used >= cap {
            return Ok(Some(Exhausted::Repo {
                repo: repo.to_string(),
                used,
                cap,
            }));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::runs::{self, NewRun};

    fn run(id: &str) -> NewRun {
        NewRun {
            run_id: id.into(),
            lane: "goal@t".into(),
            workspace: "/nonexistent".into(),
            budget: None,
        }
    }

    #[test]
    fn reservations_count_until_the_agent_starts_or_the_run_ends() {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::store::open(dir.path()).unwrap();
        let limits = Limits {
            per_hour: 2,
            per_day: 10,
            repo_daily: [("demo".to_string(), 1)].into(),
        };
        runs::insert(&conn, &run("a"), "T-1", Some("demo")).unwrap();
        // a's reservation uses demo's one daily execution, and one of the hour's two.
        assert_eq!(
            check(&conn, &limits, Some("demo"))
                .unwrap()
                .unwrap()
                .reason(),
            "repo_budget_exhausted"
        );
        assert_eq!(check(&conn, &limits, Some("other")).unwrap(), None);
        runs::insert(&conn, &run("b"), "T-2", Some("other")).unwrap();
        assert_eq!(
            check(&conn, &limits, Some("other")).unwrap(),
            Some(Exhausted::Hourly { used: 2, limit: 2 })
        );
        // The agent of a starts: its execution replaces the reservation (still 2).
        crate::store::executions::start(&conn, "a", "T-1", "demo", "command").unwrap();
        assert_eq!(used(&conn, now() - 3600, None).unwrap(), 2);
        // b ends before its agent: its reservation is gone.
        runs::finish(&conn, "b", "blocked").unwrap();
        assert_eq!(used(&conn, now() - 3600, None).unwrap(), 1);
        assert_eq!(check(&conn, &limits, Some("other")).unwrap(), None);
    }
}
