//! Lanes: the polling daemons that claim tasks of one kind and run them. The goal lane is
//! the first; test and improve reuse the same cycle with their own kinds.

mod agent_run;
mod execute;
pub mod gates;
mod goalfile;
mod recovery;
mod report;

use std::cell::RefCell;
use std::path::PathBuf;

use crate::board::{Board, BoardError, ClaimRequest, State};
use crate::config::Config;
use crate::daemon::notify::Notifier;
use crate::daemon::shutdown::Shutdown;
use crate::status::file::{self as status_file, LaneStatus};
use crate::store::runs::NewRun;
use crate::workspace::Workspace;

pub use execute::Summary;

/// Cycles between periodic housekeeping (stale Running reconcile, orphan cleanup).
const HOUSEKEEPING_EVERY: u64 = 20;
/// Running tasks with no live run go back to Ready after this long: short on the first
/// cycle (a restart means their workers are gone), longer later.
const STARTUP_RUNNING_TTL_SECS: i64 = 15 * 60;
const RUNNING_TTL_SECS: i64 = 120 * 60;

pub struct Lane {
    pub role: String,
    pub slot: String,
    pub config: Config,
    pub state_dir: PathBuf,
    pub board: Box<dyn Board>,
    pub shutdown: Shutdown,
    runtime_dir: PathBuf,
    notifier: RefCell<Notifier>,
    status: RefCell<LaneStatus>,
    /// When the status file was last written (refreshed during long runs).
    status_written: std::cell::Cell<std::time::Instant>,
    cycle: u64,
}

/// How often the status file is refreshed while a long step runs, so `heartbeat-check`
/// (stale after 5 minutes) sees a busy lane as alive.
const STATUS_REFRESH: std::time::Duration = std::time::Duration::from_secs(30);

/// What one cycle did.
#[derive(Debug)]
pub enum CycleResult {
    Idle,
    Skipped(gates::Skip),
    Executed(Summary),
    /// SIGTERM arrived; the lane should exit.
    Stopping,
}

impl Lane {
    /// A lane on `board` (opened by the caller from the same config and state dir).
    pub fn new(
        role: &str,
        slot: &str,
        config: Config,
        state_dir: PathBuf,
        board: Box<dyn Board>,
        shutdown: Shutdown,
    ) -> anyhow::Result<Self> {
        let runtime_dir = crate::config::paths::runtime_dir(&state_dir);
        let name = lane_name(role, slot);
        let status = LaneStatus {
            lane: name,
            role: role.to_string(),
            slot: slot.to_string(),
            pid: std::process::id(),
            pid_start: crate::daemon::procs::ProcessIdentity::current().start_ticks,
            one_shot: slot == status_file::ONE_SHOT_SLOT,
            state: "starting".into(),
            last_action: "start".into(),
            started_at: crate::store::now(),
            ..Default::default()
        };
        Ok(Self {
            role: role.to_string(),
            slot: slot.to_string(),
            config,
            state_dir,
            board,
            shutdown,
            runtime_dir,
            notifier: RefCell::new(Notifier::from_env()),
            status: RefCell::new(status),
            status_written: std::cell::Cell::new(std::time::Instant::now()),
            cycle: 0,
        })
    }

    pub fn name(&self) -> String {
        lane_name(&self.role, &self.slot)
    }

    /// `[Goal]`, `[Test]`…: the tag every comment of this lane starts with.
    pub fn tag(&self) -> String {
        role_tag(&self.role)
    }

    fn kinds(&self) -> Vec<&str> {
        vec![self.role.as_str()]
    }

    /// Called from every wait: pings the watchdog and keeps the status file fresh.
    pub fn keepalive(&self) {
        self.notifier.borrow_mut().keepalive();
        if self.status_written.get().elapsed() >= STATUS_REFRESH {
            self.publish_status();
        }
    }

    fn publish_status(&self) {
        let mut s = self.status.borrow_mut();
        s.updated_at = crate::store::now();
        if let Err(e) = status_file::write(&self.runtime_dir, &s) {
            tracing::warn!(event = "lane_status_write_failed", error = %e, "cannot write lane status: {e}");
        }
        self.status_written.set(std::time::Instant::now());
    }

    fn set_status(&self, state: &str, action: &str, task: Option<(&str, &str)>) {
        let mut s = self.status.borrow_mut();
        s.cycle = self.cycle;
        s.state = state.to_string();
        s.last_action = action.to_string();
        s.task_id = task.map(|t| t.0.to_string());
        s.task_kind = task.map(|t| t.1.to_string());
        drop(s);
        self.publish_status();
        let line = match task {
            Some((id, _)) => format!("cycle {} · {state} · {action} {id}", self.cycle),
            None => format!("cycle {} · {state} · last: {action}", self.cycle),
        };
        self.notifier.borrow().status(&line);
    }

    /// The daemon: cycles until SIGTERM or `max_cycles`.
    pub fn watch(&mut self, max_cycles: Option<u64>) -> anyhow::Result<()> {
        let interval = self.config.limits.watch_interval(&self.role);
        tracing::info!(
            event = "watch_start",
            lane = %self.name(),
            interval_seconds = interval.as_secs(),
            state_dir = %self.state_dir.display(),
            "{} lane started",
            self.name()
        );
        self.notifier
            .borrow()
            .ready(&format!("cycle 0 · starting · {}", self.name()));
        let mut board_failures = 0u32;
        loop {
            let result = match self.cycle() {
                Ok(result) => {
                    board_failures = 0;
                    result
                }
                Err(e) if is_transient_board_error(&e) => {
                    // Plane down or throttled: wait and try again, backing off, instead of
                    // exiting into a restart loop. The task (if any) was handed back.
                    board_failures += 1;
                    tracing::warn!(event = "board_unreachable", lane = %self.name(), failures = board_failures, error = %format!("{e:#}"), "board unreachable: {e:#}");
                    self.set_status("idle", "board_unreachable", None);
                    let backoff = interval * board_failures.min(8);
                    let tick = self.notifier.borrow().max_block();
                    if !self.shutdown.sleep(backoff, tick, || self.keepalive()) {
                        break;
                    }
                    continue;
                }
                Err(e) if crate::store::busy::is_busy(&e) => {
                    // A lock conflict SQLite reports without waiting (or the wait ended by
                    // SIGTERM): transient, so wait and run the cycle again.
                    if self.shutdown.requested() {
                        break;
                    }
                    tracing::warn!(event = "state_db_busy", lane = %self.name(), error = %format!("{e:#}"), "state database busy: {e:#}; retrying");
                    self.set_status("idle", "state_db_busy", None);
                    let tick = self.notifier.borrow().max_block();
                    if !self.shutdown.sleep(
                        interval.min(std::time::Duration::from_secs(5)),
                        tick,
                        || self.keepalive(),
                    ) {
                        break;
                    }
                    continue;
                }
                Err(e) => return Err(e),
            };
            if matches!(result, CycleResult::Stopping) || self.shutdown.requested() {
                break;
            }
            if max_cycles.is_some_and(|m| self.cycle >= m) {
                break;
            }
            // After an execution look again at once: the queue may hold more.
            if matches!(result, CycleResult::Executed(_)) {
                continue;
            }
            // Sleep holding only the code the sleep itself runs (start-up, cycles and runs
            // leave several MiB mapped; the next cycle maps what it needs again).
            crate::daemon::memory::release_file_pages();
            let tick = self.notifier.borrow().max_block();
            if !self.shutdown.sleep(interval, tick, || self.keepalive()) {
                break;
            }
        }
        self.notifier.borrow().stopping();
        self.set_status("stopped", "stop", None);
        tracing::info!(event = "watch_stop", lane = %self.name(), "{} lane stopped", self.name());
        Ok(())
    }

    /// One cycle: housekeeping, gates, claim, execute.
    pub fn cycle(&mut self) -> anyhow::Result<CycleResult> {
        self.cycle += 1;
        self.keepalive();
        self.set_status("polling", "cycle_start", None);
        tracing::debug!(event = "watch_cycle_start", lane = %self.name(), cycle = self.cycle);

        if let Some(skip) = gates::maintenance(&self.config, chrono::Utc::now()) {
            log_skip(&skip);
            self.set_status("idle", "maintenance_window", None);
            return Ok(CycleResult::Skipped(skip));
        }
        let first = self.cycle == 1;
        // A remote board's mirror is refreshed here when due (one lane per host does it).
        self.board.sync()?;
        recovery::recover_dead_runs(self)?;
        if first || self.cycle % HOUSEKEEPING_EVERY == 0 {
            let ttl = if first {
                STARTUP_RUNNING_TTL_SECS
            } else {
                RUNNING_TTL_SECS
            };
            recovery::requeue_stale_running(self, ttl)?;
            recovery::cleanup_orphaned_workspaces(self)?;
        }
        if self.shutdown.requested() {
            return Ok(CycleResult::Stopping);
        }

        if let Some(skip) = self.gates(&self.role)? {
            self.set_status("idle", &skip.reason, None);
            return Ok(CycleResult::Skipped(skip));
        }
        let over_budget = gates::repos_over_budget(&self.config, self.board.conn())?;
        let run = self.new_run();
        let kinds = self.kinds();
        let claim = match self.board.claim_next(&ClaimRequest {
            kinds: &kinds,
            repos_over_budget: &over_budget,
            run: &run,
        }) {
            // Another lane took the last execution of the budget since the gates looked.
            Err(BoardError::OverBudget(over)) => return Ok(self.skip_over_budget(&over)),
            other => other?,
        };
        let Some(claim) = claim else {
            self.set_status("idle", "no_task", None);
            return Ok(CycleResult::Idle);
        };
        self.run_claimed(claim, run)
    }

    /// `oc run --task-id`: gates, then claim this one task (it must be Ready for AI).
    pub fn run_task(&mut self, task_id: &str) -> anyhow::Result<CycleResult> {
        self.cycle += 1;
        recovery::recover_dead_runs(self)?;
        let task = self.board.get(task_id)?;
        if task.state != State::ReadyForAi {
            anyhow::bail!(
                "task {} is in {}, not Ready for AI; move it first: oc task move {} ready-for-ai",
                task.id,
                task.state,
                task.id
            );
        }
        if let Some(skip) = self.gates(task.kind().unwrap_or(&self.role))? {
            return Ok(CycleResult::Skipped(skip));
        }
        let run = self.new_run();
        match self.board.claim(task_id, &run) {
            Ok(Some(claim)) => self.run_claimed(claim, run),
            Ok(None) => anyhow::bail!("task {task_id} was claimed by someone else first"),
            Err(BoardError::OverBudget(over)) => Ok(self.skip_over_budget(&over)),
            Err(e) => Err(e.into()),
        }
    }

    fn skip_over_budget(&self, over: &crate::store::budget::Exhausted) -> CycleResult {
        let skip = gates::budget_skip(over);
        log_skip(&skip);
        self.set_status("idle", &skip.reason, None);
        CycleResult::Skipped(skip)
    }

    /// The gates before a claim of a task of `kind`; a skip is logged here.
    fn gates(&self, kind: &str) -> anyhow::Result<Option<gates::Skip>> {
        let backend = self.config.agent_for(kind).backend;
        let skip = gates::before_claim(
            &self.config,
            self.board.conn(),
            &self.state_dir,
            backend.as_str(),
        )?;
        if let Some(skip) = &skip {
            log_skip(skip);
        }
        Ok(skip)
    }

    fn run_claimed(
        &mut self,
        claim: crate::board::Claim,
        run: NewRun,
    ) -> anyhow::Result<CycleResult> {
        let kind = claim.task.kind().unwrap_or(&self.role).to_string();
        tracing::info!(
            event = "task_claimed",
            lane = %self.name(),
            task_id = %claim.task.id,
            run_id = %run.run_id,
            title = %claim.task.title,
            "claimed {} ({})",
            claim.task.id,
            claim.task.title
        );
        self.set_status("active", "task_claimed", Some((&claim.task.id, &kind)));
        let summary = execute::execute(self, &claim, &run);
        let action = format!("executed {} → {}", summary.task_id, summary.final_state);
        self.set_status("idle", &action, None);
        if summary.interrupted {
            return Ok(CycleResult::Stopping);
        }
        Ok(CycleResult::Executed(summary))
    }

    fn new_run(&self) -> NewRun {
        let run_id = new_run_id();
        NewRun {
            workspace: Workspace::path_for(&self.state_dir, &run_id),
            run_id,
            lane: self.name(),
            budget: Some(gates::budget_limits(&self.config)),
        }
    }
}

impl Drop for Lane {
    /// A one-shot command's lane says it finished, so `oc status` does not wait for it.
    fn drop(&mut self) {
        if self.status.borrow().one_shot {
            let action = self.status.borrow().last_action.clone();
            self.set_status("finished", &action, None);
        }
    }
}

fn is_transient_board_error(e: &anyhow::Error) -> bool {
    e.downcast_ref::<crate::board::BoardError>()
        .is_some_and(|b| b.is_transient())
}

pub fn lane_name(role: &str, slot: &str) -> String {
    format!("{role}@{slot}")
}

pub fn role_tag(role: &str) -> String {
    let mut chars = role.chars();
    match chars.next() {
        Some(c) => format!("[{}{}]", c.to_ascii_uppercase(), chars.as_str()),
        None => "[Lane]".into(),
    }
}

fn log_skip(skip: &gates::Skip) {
    tracing::info!(
        event = skip.event,
        reason = %skip.reason,
        detail = %skip.detail,
        "cycle skipped ({}): {}",
        skip.reason,
        skip.detail
    );
}

/// 12 hex characters from the kernel's random source.
pub fn new_run_id() -> String {
    let mut bytes = [0u8; 6];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        use std::io::Read;
        let _ = f.read_exact(&mut bytes);
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
