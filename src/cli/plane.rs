//! `oc doctor`, `oc plane-status` and `oc plane-sync`: is the Plane board usable, how
//! fresh is the mirror, and how much of the API budget is used.

use std::path::Path;

use clap::Args;
use rusqlite::{Connection, OpenFlags};

use super::Common;
use crate::board::State;
use crate::board::plane::{PlaneBoard, PlaneError, mirror};
use crate::config::{BoardBackend, Config};
use crate::store::{self, now, rfc3339};

/// Plane's default per-key budget (`API_KEY_RATE_LIMIT`).
const DEFAULT_BUDGET_PER_MINUTE: i64 = 60;

#[derive(Debug, Args)]
pub struct PlaneStatusArgs {
    /// Machine-readable output
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct PlaneSyncArgs {
    /// Re-read every work item (and states and labels), not only what changed
    #[arg(long)]
    full: bool,
}

/// The group a missing state belongs in (several share `started`; names are what count).
fn group_for(state: State) -> &'static str {
    match state {
        State::Backlog => "backlog",
        State::ReadyForAi => "unstarted",
        State::Done => "completed",
        State::Cancelled => "cancelled",
        _ => "started",
    }
}

struct Report {
    failed: bool,
}

impl Report {
    fn ok(&mut self, what: &str) {
        println!("ok    {what}");
    }
    fn fail(&mut self, what: &str) {
        self.failed = true;
        println!("FAIL  {what}");
    }
    fn note(&mut self, what: &str) {
        println!("      {what}");
    }
}

/// `oc doctor`: exit 0 when the board is usable, 1 with the fixes when it is not.
pub fn doctor(common: &Common) -> anyhow::Result<bool> {
    let config = common.load_config()?;
    let mut r = Report { failed: false };
    r.ok(&format!(
        "config {}",
        config
            .source
            .as_deref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "(built-in defaults)".into())
    ));
    if config.board.backend == BoardBackend::Local {
        r.ok("board: embedded (state database); nothing remote to check");
        return Ok(true);
    }
    let board = &config.board;
    let opener = match crate::board::BoardOpener::new(&config) {
        Ok(opener) => opener,
        Err(e) => {
            let message = match e.downcast_ref::<crate::config::ConfigError>() {
                Some(c) => c.message.clone(),
                None => format!("{e:#}"),
            };
            r.fail(&format!("API key: {message}"));
            return Ok(false);
        }
    };
    let key_from = opener.key_from().unwrap_or_default().to_string();
    r.ok(&format!("API key from {key_from}"));
    let plane = opener.open_plane(&common.state_dir_for_writing()?)?;
    let client = plane.client();
    let base = board.base_url.as_deref().unwrap_or_default();
    let project = format!(
        "workspace {} project {}",
        board.workspace_slug.as_deref().unwrap_or_default(),
        board.project_id.as_deref().unwrap_or_default()
    );
    // Plane answers 403 for a refused key and for a workspace or project out of reach
    // alike: the key alone first, then the workspace, then the project.
    let refused = |r: &mut Report, status: u16| {
        r.fail(&format!(
            "Plane refused the API key ({status}): check {key_from}; create a key under Profile Settings → Personal Access Tokens"
        ))
    };
    match client.me() {
        Ok(user) => r.ok(&format!("reached {base}, key accepted (user {user})")),
        Err(PlaneError::Auth { status, .. }) => {
            refused(&mut r, status);
            return Ok(false);
        }
        Err(e) => {
            r.fail(&format!("cannot use {base}: {e}"));
            return Ok(false);
        }
    }
    let workspace = board.workspace_slug.as_deref().unwrap_or_default();
    match client.check_workspace() {
        Ok(()) => r.ok(&format!("workspace {workspace} (board.workspace_slug)")),
        Err(e) => {
            r.fail(&e.to_string());
            return Ok(false);
        }
    }
    let states = match client.list_states() {
        Ok(states) => {
            r.ok(&format!("{project} found (board.project_id)"));
            states
        }
        Err(PlaneError::Auth { status, .. }) => {
            refused(&mut r, status);
            return Ok(false);
        }
        Err(PlaneError::NotFound(_)) => {
            r.fail(&format!(
                "{project} not found on {base}: check board.workspace_slug and board.project_id (both are in the project's URL)"
            ));
            return Ok(false);
        }
        Err(e) => {
            r.fail(&e.to_string());
            return Ok(false);
        }
    };
    let map = crate::board::plane::StateMap::new(states);
    let missing = map.missing();
    if missing.is_empty() {
        r.ok("every state the lanes use exists (matched by name, case-insensitively)");
    } else {
        for state in &missing {
            r.fail(&format!(
                "state {:?} is missing: create it in Project settings → States (group: {}), or:",
                state.name(),
                group_for(*state)
            ));
            r.note(&format!(
                "curl -X POST -H \"X-API-Key: $KEY\" -H 'Content-Type: application/json' -d '{{\"name\": \"{}\", \"group\": \"{}\", \"color\": \"#60646C\"}}' {}/api/v1/workspaces/{}/projects/{}/states/",
                state.name(),
                group_for(*state),
                base.trim_end_matches('/'),
                board.workspace_slug.as_deref().unwrap_or_default(),
                board.project_id.as_deref().unwrap_or_default()
            ));
        }
    }
    match client.list_labels() {
        Ok(labels) => {
            let names: Vec<&str> = labels.iter().map(|l| l.name.as_str()).collect();
            let wanted = label_vocabulary(&config);
            let absent: Vec<&String> = wanted
                .iter()
                .filter(|w| !names.contains(&w.as_str()))
                .collect();
            r.ok(&format!("{} labels on the project", labels.len()));
            if !absent.is_empty() {
                let list: Vec<&str> = absent.iter().map(|s| s.as_str()).collect();
                r.note(&format!(
                    "not there yet (created on first use): {}",
                    list.join(", ")
                ));
            }
        }
        Err(e) => r.fail(&format!("cannot list labels: {e}")),
    }
    let stats = client.stats();
    match (stats.remaining, stats.reset) {
        (Some(remaining), Some(reset)) => r.ok(&format!(
            "rate budget: {remaining} requests left in this window (resets {})",
            rfc3339(reset)
        )),
        _ => r.note("rate budget: Plane sent no X-RateLimit headers"),
    }
    record(&plane, &stats);
    Ok(!r.failed)
}

/// Counts the doctor's own requests like every other process's.
fn record(plane: &PlaneBoard, stats: &crate::board::plane::RateStats) {
    let _ = mirror::record_requests(crate::board::Board::conn(plane), &Default::default(), stats);
}

fn label_vocabulary(config: &Config) -> Vec<String> {
    let mut v: Vec<String> = crate::board::TASK_KINDS
        .iter()
        .map(|k| format!("task-kind: {k}"))
        .collect();
    v.extend(config.repos.keys().map(|k| format!("repo: {k}")));
    v
}

/// `oc plane-sync`: refresh the mirror now.
pub fn sync(common: &Common, args: PlaneSyncArgs) -> anyhow::Result<()> {
    let config = plane_config(common)?;
    let opener = crate::board::BoardOpener::new(&config)?;
    let plane = opener.open_plane(&common.state_dir_for_writing()?)?;
    // Writes held back by an outage go first, so the mirror then reads them back.
    let (delivered, result) = plane.sync_all(args.full);
    if delivered > 0 {
        println!("delivered {delivered} queued write(s) to Plane");
    }
    let report = result?;
    println!(
        "{} sync: {} item(s) read in {} page(s), {} removed",
        if report.full { "full" } else { "incremental" },
        report.items_read,
        report.pages,
        report.removed
    );
    Ok(())
}

fn plane_config(common: &Common) -> anyhow::Result<Config> {
    let config = common.load_config()?;
    if config.board.backend != BoardBackend::Plane {
        return Err(super::UserError(
            "the board is the embedded one (board.backend: local); nothing to sync".into(),
        )
        .into());
    }
    Ok(config)
}

/// What the mirror and the budget look like, from the state database alone.
#[derive(Debug, serde::Serialize)]
pub struct PlaneSummary {
    pub base_url: String,
    pub items: i64,
    pub last_sync: Option<String>,
    pub last_full_sync: Option<String>,
    pub last_error: Option<String>,
    pub requests_last_minute: i64,
    pub requests_per_minute_15m: f64,
    pub throttled_15m: i64,
    pub remaining: Option<i64>,
    pub reset: Option<String>,
    pub budget_per_minute: i64,
    /// Writes to Plane waiting in the outbox (held back by an outage).
    pub outbox: i64,
    /// When the oldest of them was queued, and its age in seconds.
    pub outbox_oldest: Option<String>,
    pub outbox_oldest_age_seconds: Option<i64>,
    pub outbox_last_error: Option<String>,
}

/// Read-only (works for any user who can read the database; `None` when it cannot).
pub fn summary(config: &Config, state_dir: &Path) -> Option<PlaneSummary> {
    if config.board.backend != BoardBackend::Plane {
        return None;
    }
    let conn =
        Connection::open_with_flags(store::db_path(state_dir), OpenFlags::SQLITE_OPEN_READ_ONLY)
            .ok()?;
    let st = mirror::sync_state(&conn).ok()?;
    let usage = mirror::usage(&conn).ok()?;
    let queued = crate::board::plane::outbox::backlog(&conn).ok()?;
    let when = |t: i64| (t > 0).then(|| format!("{} ({} ago)", rfc3339(t), age(now() - t)));
    Some(PlaneSummary {
        base_url: config.board.base_url.clone().unwrap_or_default(),
        items: st.items,
        last_sync: when(st.last_sync),
        last_full_sync: when(st.last_full),
        last_error: st.last_error,
        requests_last_minute: usage.last_minute,
        requests_per_minute_15m: usage.per_minute_15m,
        throttled_15m: usage.throttled_15m,
        remaining: usage.remaining,
        reset: usage.reset.map(rfc3339),
        budget_per_minute: DEFAULT_BUDGET_PER_MINUTE,
        outbox: queued.count,
        outbox_oldest: queued.oldest_at.map(rfc3339),
        outbox_oldest_age_seconds: queued.oldest_at.map(|t| (now() - t).max(0)),
        outbox_last_error: queued.last_error,
    })
}

fn age(secs: i64) -> String {
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s => format!("{}h", s / 3600),
    }
}

pub fn print_summary(s: &PlaneSummary) {
    println!("board: Plane {} · mirror {} item(s)", s.base_url, s.items);
    println!(
        "  last sync {} · last full sync {}",
        s.last_sync.as_deref().unwrap_or("never"),
        s.last_full_sync.as_deref().unwrap_or("never")
    );
    if let Some(e) = &s.last_error {
        println!("  last sync error: {e}");
    }
    match (s.outbox, &s.outbox_oldest, s.outbox_oldest_age_seconds) {
        (0, _, _) => println!("  outbox: empty (every write reached Plane)"),
        (n, Some(at), Some(secs)) => println!(
            "  outbox: {n} write(s) waiting for Plane, oldest queued {at} ({} ago){} · deliver now: oc plane-sync",
            age(secs),
            s.outbox_last_error
                .as_deref()
                .map(|e| format!(", last error: {e}"))
                .unwrap_or_default()
        ),
        (n, _, _) => println!("  outbox: {n} write(s) waiting for Plane"),
    }
    let remaining = match (&s.remaining, &s.reset) {
        (Some(r), Some(reset)) => format!("{r} left (Plane, resets {reset})"),
        _ => "unknown (no X-RateLimit headers yet)".into(),
    };
    println!(
        "  API: {} request(s) last minute, {:.1}/min over 15 min (budget {}/min per key), {} throttled · remaining {}",
        s.requests_last_minute,
        s.requests_per_minute_15m,
        s.budget_per_minute,
        s.throttled_15m,
        remaining
    );
}

/// `oc plane-status`.
pub fn status(common: &Common, args: PlaneStatusArgs) -> anyhow::Result<()> {
    let config = plane_config(common)?;
    let Some(summary) = summary(&config, &common.state_dir()) else {
        return Err(super::UserError(format!(
            "cannot read the state database in {} (no sync yet, or no permission)",
            common.state_dir().display()
        ))
        .into());
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print_summary(&summary);
    }
    Ok(())
}
