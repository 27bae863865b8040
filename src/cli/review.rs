//! `oc-review` (the review lane daemon) and `oc backfill-pr-reviews`.

use std::cell::RefCell;
use std::process::ExitCode;

use clap::Parser;

use super::{Common, finish};
use crate::config::{Config, ConfigError};
use crate::daemon::logging;
use crate::daemon::notify::Notifier;
use crate::daemon::shutdown::Shutdown;
use crate::github::GitHub;
use crate::review::{self, Reviewer};
use crate::status::file::{self as status_file, LaneStatus};

#[derive(Debug, Parser)]
#[command(
    version,
    about = "operations-center review lane: self-review, human review and merge of the PRs it opened",
    after_help = "Exit status: 75 when another oc-review already runs on this state directory (it \
                  holds <state dir>/oc-review.lock); 78 for a config error or a missing GitHub token."
)]
pub struct ReviewCli {
    #[command(flatten)]
    common: Common,
    /// Stop after this many cycles (for tests and one-off runs)
    #[arg(long)]
    max_cycles: Option<u64>,
}

/// Main of `oc-review`.
pub fn review_main() -> ExitCode {
    // First of all: no process of our uid (an agent) may read our environment or memory.
    crate::daemon::sandbox::protect_process();
    let cli = ReviewCli::parse();
    logging::init(cli.common.log_format);
    finish(watch(&cli.common, cli.max_cycles))
}

/// The GitHub client, or a config error (exit 78: no restart loop on a missing token).
fn github(config: &Config) -> anyhow::Result<GitHub> {
    if crate::github::token(config).is_none() {
        return Err(ConfigError {
            origin: "git.token_env".into(),
            position: None,
            message: format!(
                "the review lane needs a GitHub token: /etc/operations-center/credentials/github-token ($CREDENTIALS_DIRECTORY/{}) or the variable named by git.token_env (now {:?})",
                crate::github::CREDENTIAL_NAME,
                config.git.token_env
            ),
        }
        .into());
    }
    Ok(GitHub::from_config(config)?)
}

fn watch(common: &Common, max_cycles: Option<u64>) -> anyhow::Result<()> {
    let config = common.load_config()?;
    // Secrets first (root-only credentials), then the service user.
    let gh = github(&config)?;
    let opener = crate::board::BoardOpener::new(&config)?;
    let state_dir = common.state_dir_for_writing()?;
    let shutdown = Shutdown::install()?;
    // A daemon waits out a locked database (from opening it on) instead of exiting.
    crate::store::busy::wait_until_shutdown(&shutdown);
    let board = opener.open(&state_dir)?;
    let conn = crate::store::open(&state_dir)?;
    // Before any work on PRs: a second review lane would comment on and merge the same
    // ones. (Opening the store above created the state directory.)
    let _instance = crate::daemon::instance::hold(&state_dir, "oc-review")?;
    let runtime_dir = crate::config::paths::runtime_dir(&state_dir);
    let notifier = RefCell::new(Notifier::from_env());
    let status = RefCell::new(LaneStatus {
        lane: "review".into(),
        role: "review".into(),
        // One instance: no slot, so `oc status` looks for oc-review.service.
        slot: String::new(),
        pid: std::process::id(),
        pid_start: crate::daemon::procs::ProcessIdentity::current().start_ticks,
        state: "starting".into(),
        last_action: "start".into(),
        started_at: crate::store::now(),
        ..Default::default()
    });
    let written = std::cell::Cell::new(std::time::Instant::now());
    let write_status = |s: &mut LaneStatus| {
        s.updated_at = crate::store::now();
        if let Err(e) = status_file::write(&runtime_dir, s) {
            tracing::warn!(event = "lane_status_write_failed", error = %e, "cannot write lane status: {e}");
        }
        written.set(std::time::Instant::now());
    };
    // Called from every wait, also while an agent runs: the watchdog, and a fresh status
    // file so heartbeat-check does not call a long self-review stale.
    let keepalive = || {
        notifier.borrow_mut().keepalive();
        if written.get().elapsed() >= std::time::Duration::from_secs(30) {
            write_status(&mut status.borrow_mut());
        }
    };
    let publish = |cycle: u64, state: &str, action: &str| {
        let mut s = status.borrow_mut();
        s.cycle = cycle;
        s.state = state.into();
        s.last_action = action.chars().take(200).collect();
        write_status(&mut s);
        notifier.borrow().status(&format!(
            "cycle {cycle} · {state} · last: {}",
            s.last_action
        ));
    };
    review::pass::clean_leftovers(&state_dir);
    let interval = config.limits.watch_interval("review");
    tracing::info!(
        event = "watch_start",
        lane = "review",
        interval_seconds = interval.as_secs(),
        "review lane started"
    );
    // Once at start: PRs opened while no review lane ran (or before it existed).
    match review::backfill(&config, &conn, board.as_ref(), &gh) {
        Ok(b) => tracing::info!(
            event = "review_backfill_done",
            created = b.created.len(),
            left_alone = b.left_alone.len(),
            "backfill: {} new, {} left alone",
            b.created.len(),
            b.left_alone.len()
        ),
        Err(e) => {
            tracing::warn!(event = "review_backfill_failed", error = %format!("{e:#}"), "backfill failed: {e:#}")
        }
    }
    notifier.borrow().ready("cycle 0 · starting · review");
    let reviewer = Reviewer {
        config: &config,
        state_dir: &state_dir,
        board: board.as_ref(),
        conn: &conn,
        gh: &gh,
        shutdown: &shutdown,
        keepalive: &keepalive,
    };
    // oc-ci-webhook touches this file when it records a CI event: look at once.
    let wake_file = runtime_dir.join("wake").join("review");
    let mut woken = mtime(&wake_file);
    let mut cycle = 0;
    loop {
        cycle += 1;
        publish(cycle, "active", "cycle_start");
        // A remote board's mirror and queued writes (Plane); a transient failure waits.
        if let Err(e) = board.sync() {
            if e.is_auth() || e.is_config() {
                return Err(e.into());
            }
            tracing::warn!(event = "board_unreachable", lane = "review", error = %e, "board unreachable: {e}");
        }
        let report = reviewer.cycle()?;
        let action = if report.actions.is_empty() {
            "no open PRs".to_string()
        } else {
            report.actions.join("; ")
        };
        publish(cycle, "idle", &format!("{} open: {action}", report.open));
        if shutdown.requested() || max_cycles.is_some_and(|m| cycle >= m) {
            break;
        }
        // Sleep holding only the code the sleep itself runs (see the goal lane's loop).
        crate::daemon::memory::release_file_pages();
        let tick = notifier.borrow().max_block();
        if !wait(
            &shutdown, interval, tick, &keepalive, &wake_file, &mut woken,
        ) {
            break;
        }
    }
    notifier.borrow().stopping();
    publish(cycle, "stopped", "stop");
    review::pass::clean_leftovers(&state_dir);
    tracing::info!(event = "watch_stop", lane = "review", "review lane stopped");
    Ok(())
}

fn mtime(path: &std::path::Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// Sleeps up to `interval`, pinging the watchdog every `tick`; returns early when the CI
/// webhook's wake file changes, and false when shutdown was requested.
fn wait(
    shutdown: &Shutdown,
    interval: std::time::Duration,
    tick: std::time::Duration,
    keepalive: &dyn Fn(),
    wake_file: &std::path::Path,
    woken: &mut Option<std::time::SystemTime>,
) -> bool {
    let end = std::time::Instant::now() + interval;
    let step = tick.min(std::time::Duration::from_millis(250));
    while !shutdown.requested() {
        let left = end.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return true;
        }
        std::thread::sleep(left.min(step));
        keepalive();
        let now = mtime(wake_file);
        if now != *woken {
            *woken = now;
            tracing::debug!(event = "review_woken", "woken by a CI event");
            return true;
        }
    }
    false
}

/// `oc backfill-pr-reviews`.
pub fn backfill(common: &Common) -> anyhow::Result<()> {
    let config = common.load_config()?;
    // Secrets first (root-only credentials), then the service user.
    let gh = github(&config)?;
    let opener = crate::board::BoardOpener::new(&config)?;
    let state_dir = common.state_dir_for_writing()?;
    let board = opener.open(&state_dir)?;
    let conn = crate::store::open(&state_dir)?;
    let report = review::backfill(&config, &conn, board.as_ref(), &gh)?;
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

/// `oc reviews`: the review state of every PR, as JSON lines.
pub fn list(common: &Common) -> anyhow::Result<()> {
    let conn = crate::store::open(&common.state_dir_for_writing()?)?;
    for s in review::store::all(&conn)? {
        println!("{}", serde_json::to_string(&s)?);
    }
    Ok(())
}
