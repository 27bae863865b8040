//! `oc run`, `oc run-next`, `oc watch` and the lane binaries.

use clap::Args;

use super::{Common, UserError};
use crate::board::TASK_KINDS;
use crate::daemon::shutdown::Shutdown;
use crate::lanes::{CycleResult, Lane};

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Task to run
    #[arg(long)]
    task_id: String,
    /// Lane role to run it as [default: the task's kind]
    #[arg(long)]
    role: Option<String>,
}

#[derive(Debug, Args)]
pub struct RunNextArgs {
    /// Which kind of task to claim
    #[arg(long, default_value = "goal")]
    role: String,
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    #[arg(long, default_value = "goal")]
    pub role: String,
    #[arg(long, default_value = "slot1")]
    pub slot: String,
    /// Stop after this many cycles
    #[arg(long)]
    pub max_cycles: Option<u64>,
}

fn check_role(role: &str) -> anyhow::Result<()> {
    if TASK_KINDS.contains(&role) {
        Ok(())
    } else {
        Err(UserError(format!(
            "unknown or not yet available lane role `{role}`; available: {TASK_KINDS:?}"
        ))
        .into())
    }
}

fn lane(common: &Common, role: &str, slot: &str) -> anyhow::Result<Lane> {
    lane_with(common, role, slot, Shutdown::install()?)
}

fn lane_with(common: &Common, role: &str, slot: &str, shutdown: Shutdown) -> anyhow::Result<Lane> {
    check_role(role)?;
    let config = common.load_config()?;
    // The board's key first (root-only credentials), then the service user.
    let opener = crate::board::BoardOpener::new(&config)?;
    let state_dir = common.state_dir_for_writing()?;
    let board = opener.open(&state_dir)?;
    Lane::new(role, slot, config, state_dir, board, shutdown)
}

pub fn watch(
    common: &Common,
    role: &str,
    slot: &str,
    max_cycles: Option<u64>,
) -> anyhow::Result<()> {
    let shutdown = Shutdown::install()?;
    // A daemon waits out a locked database (from opening it on) instead of exiting.
    crate::store::busy::wait_until_shutdown(&shutdown);
    lane_with(common, role, slot, shutdown)?.watch(max_cycles)
}

pub fn run_next(common: &Common, args: RunNextArgs) -> anyhow::Result<()> {
    let mut lane = lane(common, &args.role, "cli")?;
    report(lane.cycle()?);
    Ok(())
}

pub fn run_task(common: &Common, args: RunArgs) -> anyhow::Result<()> {
    let opener = crate::board::BoardOpener::new(&common.load_config()?)?;
    let state_dir = common.state_dir_for_writing()?;
    let board = opener.open(&state_dir)?;
    let task = board.get(&args.task_id).map_err(|e| match e {
        crate::board::BoardError::NotFound(_) => UserError(e.to_string()).into(),
        other => anyhow::Error::from(other),
    })?;
    drop(board);
    let role = args
        .role
        .or_else(|| task.kind().map(str::to_string))
        .unwrap_or_else(|| "goal".into());
    let mut lane = lane(common, &role, "cli")?;
    match lane.run_task(&task.id) {
        Ok(result) => {
            report(result);
            Ok(())
        }
        Err(e) if e.downcast_ref::<crate::config::ConfigError>().is_none() => {
            Err(UserError(format!("{e:#}")).into())
        }
        Err(e) => Err(e),
    }
}

/// One line on stdout saying what happened, for people and scripts.
fn report(result: CycleResult) {
    match result {
        CycleResult::Idle => println!("idle: no Ready for AI task to claim"),
        CycleResult::Skipped(skip) => println!("skipped: {} ({})", skip.reason, skip.detail),
        CycleResult::Executed(s) => println!(
            "executed {}: {} ({}{})",
            s.task_id,
            s.final_state,
            s.outcome,
            s.classification
                .map(|c| format!(", {c}"))
                .unwrap_or_default()
        ),
        CycleResult::Stopping => println!("stopped: interrupted, task returned to Ready for AI"),
    }
}
