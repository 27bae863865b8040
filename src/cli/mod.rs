//! The operator CLI `oc` and the lane binaries' shared entry point. One file per command.

pub mod ci_webhook;
mod config_cmd;
mod feedback;
pub mod ingest;
mod plane;
pub mod review;
mod run;
mod service;
mod status;
mod task;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{self, Config, ConfigError};
use crate::daemon::logging::{self, LogFormat};
use crate::daemon::{EXIT_CONFIG, EXIT_NOPERM};

/// Options every binary takes.
#[derive(Debug, Clone, clap::Args)]
pub struct Common {
    /// Config file [default: $OPERATIONS_CENTER_CONFIG, else /etc/operations-center/config.yaml];
    /// relative paths inside it are taken from its directory
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// State directory (database, workspaces, reports) [default: $OPERATIONS_CENTER_STATE_DIR,
    /// else $STATE_DIRECTORY, else /var/lib/operations-center]
    #[arg(long, global = true, value_name = "PATH")]
    pub state_dir: Option<PathBuf>,
    /// Log format on stderr (under systemd logs go to the journal)
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human)]
    pub log_format: LogFormat,
}

impl Common {
    pub fn load_config(&self) -> Result<Config, ConfigError> {
        config::load_default(self.config.clone())
    }

    pub fn state_dir(&self) -> PathBuf {
        config::paths::state_dir(self.state_dir.clone())
    }

    /// The state directory for a command that writes to it; as root on an installed host
    /// this switches to the service account first, so files stay owned by `oc`.
    pub fn state_dir_for_writing(&self) -> anyhow::Result<PathBuf> {
        let dir = self.state_dir();
        crate::daemon::account::become_service_user_for(&dir)?;
        Ok(dir)
    }
}

#[derive(Debug, Parser)]
#[command(
    name = "oc",
    version,
    about = "operations-center: run coding agents against a task board",
    long_about = "operations-center runs coding agents against a task board.\n\n\
        Lanes run as systemd units (oc-goal@slot1 …); `oc` manages the board and runs \
        single tasks by hand. With no --config/--state-dir it uses the installed \
        locations, so `sudo oc task list` works on an installed host."
)]
struct Cli {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check the configuration file
    #[command(subcommand)]
    Config(config_cmd::ConfigCommand),
    /// Manage tasks on the embedded board
    #[command(subcommand)]
    Task(task::TaskCommand),
    /// Run one task now (it must be Ready for AI)
    Run(run::RunArgs),
    /// Run one lane cycle: claim the most urgent Ready for AI task and execute it
    RunNext(run::RunNextArgs),
    /// Run a lane in the foreground (what the oc-<role> units run)
    Watch(run::WatchArgs),
    /// What every lane is doing (the seed's watch-all-status)
    Status(status::StatusArgs),
    /// Exit 0 when every enabled lane is healthy, 1 when any is stale (> 5 min) or dead;
    /// one-shot runs (`oc run`, `oc run-next`, lane `<role>@cli`) are not lanes and not counted
    HeartbeatCheck(status::HeartbeatArgs),
    /// Start the suite (oc.target and enabled lanes), or one role/slot (systemctl)
    Start(service::ServiceArgs),
    /// Stop the suite, or one role/slot (systemctl)
    Stop(service::ServiceArgs),
    /// Retention: old reports, unowned workspaces, stale task branches, CI events of finished
    /// commits, spent ingest dedup keys (oc-janitor.timer)
    Janitor,
    /// CI events recorded by oc-ci-webhook (check runs and suites), newest first
    CiEvents(ci_webhook::CiEventsArgs),
    /// Ingested production errors: `reset` forgets them (a new report creates a new task), `list` shows them
    #[command(subcommand)]
    IngestDedup(ingest::DedupCommand),
    /// Check that the board is usable: Plane reachable, key accepted, workspace, project and
    /// states present (with the fix for each problem), labels, rate budget. Exit 1 on a problem
    Doctor,
    /// The Plane mirror's freshness, the writes waiting in the outbox, and the API budget used
    /// by every process on this host
    PlaneStatus(plane::PlaneStatusArgs),
    /// Deliver the writes queued during an outage, then refresh the Plane mirror now (lanes
    /// do both on their own)
    PlaneSync(plane::PlaneSyncArgs),
    /// Give open PRs on await_review repos that belong to a task a review state
    BackfillPrReviews,
    /// The review lane's state of every PR it knows, one JSON object per line
    Reviews,
    /// Outcomes of proposals (merged / escalated / abandoned) for the autonomy pipeline
    #[command(subcommand)]
    Feedback(feedback::FeedbackCommand),
    /// Write the man pages of oc and the unit binaries into DIR (used by packaging)
    #[command(hide = true)]
    Man { dir: PathBuf },
}

/// `oc task list | head -1`: writing into a pipe whose reader is gone ends `oc` quietly,
/// as it does any Unix tool, instead of a panic about a broken pipe (Rust ignores SIGPIPE).
/// Not for `oc watch`, a long-running lane whose journal stream may be reconnected.
fn end_quietly_on_closed_pipe() {
    use nix::sys::signal::{SigHandler, Signal, signal};
    // SAFETY: called before any thread is started; SIG_DFL installs no handler code.
    let _ = unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) };
}

/// `oc`'s main.
pub fn oc_main() -> ExitCode {
    // First of all: no process of our uid (an agent) may read our environment or memory.
    crate::daemon::sandbox::protect_process();
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Watch(_)) {
        end_quietly_on_closed_pipe();
    }
    logging::init(cli.common.log_format);
    let result = match cli.command {
        Command::Config(cmd) => config_cmd::run(&cli.common, cmd),
        Command::Task(cmd) => task::run(&cli.common, cmd),
        Command::Run(args) => run::run_task(&cli.common, args),
        Command::RunNext(args) => run::run_next(&cli.common, args),
        Command::Watch(args) => run::watch(&cli.common, &args.role, &args.slot, args.max_cycles),
        Command::Status(args) => status::run(&cli.common, args),
        Command::HeartbeatCheck(args) => match status::heartbeat_check(&cli.common, args) {
            Ok(true) => Ok(()),
            Ok(false) => return ExitCode::from(1),
            Err(e) => Err(e),
        },
        Command::Start(args) => service::run("start", args),
        Command::Stop(args) => service::run("stop", args),
        Command::Janitor => janitor(&cli.common),
        Command::CiEvents(args) => ci_webhook::ci_events(&cli.common, args),
        Command::IngestDedup(cmd) => ingest::dedup(&cli.common, cmd),
        Command::Doctor => match plane::doctor(&cli.common) {
            Ok(true) => Ok(()),
            Ok(false) => return ExitCode::from(1),
            Err(e) => Err(e),
        },
        Command::PlaneStatus(args) => plane::status(&cli.common, args),
        Command::PlaneSync(args) => plane::sync(&cli.common, args),
        Command::BackfillPrReviews => review::backfill(&cli.common),
        Command::Reviews => review::list(&cli.common),
        Command::Feedback(cmd) => feedback::run(&cli.common, cmd),
        Command::Man { dir } => write_man_pages(&dir),
    };
    finish(result)
}

#[derive(Debug, Parser)]
#[command(
    version,
    about = "operations-center lane daemon (one instance per slot)",
    after_help = "A state database locked by another process is waited out (logged as \
                  state_db_busy, watchdog fed) until the lock is released or SIGTERM comes. \
                  Exit status: 78 for a config error, 77 when the board refuses the key."
)]
struct LaneCli {
    #[command(flatten)]
    common: Common,
    /// Slot name (the unit instance, `%i`)
    #[arg(long, default_value = "slot1")]
    slot: String,
    /// Stop after this many cycles (for tests and one-off runs)
    #[arg(long)]
    max_cycles: Option<u64>,
}

/// Main of a lane binary such as `oc-goal`.
pub fn lane_main(role: &str) -> ExitCode {
    // First of all: no process of our uid (an agent) may read our environment or memory.
    crate::daemon::sandbox::protect_process();
    let cli = LaneCli::parse();
    logging::init(cli.common.log_format);
    finish(run::watch(&cli.common, role, &cli.slot, cli.max_cycles))
}

#[derive(Debug, Parser)]
#[command(version, about = "operations-center janitor (run by oc-janitor.timer)")]
struct JobCli {
    #[command(flatten)]
    common: Common,
}

/// Main of `oc-janitor`.
pub fn janitor_main() -> ExitCode {
    // First of all: no process of our uid (an agent) may read our environment or memory.
    crate::daemon::sandbox::protect_process();
    let cli = JobCli::parse();
    logging::init(cli.common.log_format);
    finish(janitor(&cli.common))
}

fn janitor(common: &Common) -> anyhow::Result<()> {
    let config = common.load_config()?;
    let shutdown = crate::daemon::shutdown::Shutdown::install()?;
    let report = crate::janitor::run(&config, &common.state_dir_for_writing()?, &shutdown)?;
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

fn write_man_pages(dir: &std::path::Path) -> anyhow::Result<()> {
    use clap::CommandFactory;
    std::fs::create_dir_all(dir)?;
    let pages = [
        (Cli::command(), "oc", "1"),
        (LaneCli::command().name("oc-goal"), "oc-goal", "8"),
        (JobCli::command().name("oc-janitor"), "oc-janitor", "8"),
        (
            review::ReviewCli::command().name("oc-review"),
            "oc-review",
            "8",
        ),
        (
            ci_webhook::CiWebhookCli::command().name("oc-ci-webhook"),
            "oc-ci-webhook",
            "8",
        ),
        (
            ci_webhook::IngestCli::command().name("oc-ingest"),
            "oc-ingest",
            "8",
        ),
        (
            ingest::tail_command().name("oc-ingest-tail"),
            "oc-ingest-tail",
            "8",
        ),
    ];
    for (command, name, section) in pages {
        let mut out = Vec::new();
        clap_mangen::Man::new(command)
            .section(section)
            .render(&mut out)?;
        std::fs::write(dir.join(format!("{name}.{section}")), out)?;
    }
    Ok(())
}

/// The Plane error behind `e`, whether it came as itself or wrapped in a board error.
fn plane_error(e: &anyhow::Error) -> Option<&crate::board::plane::PlaneError> {
    match e.downcast_ref::<crate::board::BoardError>() {
        Some(crate::board::BoardError::Plane(p)) => Some(p),
        _ => e.downcast_ref::<crate::board::plane::PlaneError>(),
    }
}

/// Maps errors to exit codes: config errors are 78 (EX_CONFIG) so systemd does not restart.
pub(crate) fn finish(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if let Some(config_error) = e.downcast_ref::<ConfigError>() {
                report_error(&format!("{config_error}"), "config_invalid");
                return ExitCode::from(EXIT_CONFIG as u8);
            }
            let plane = plane_error(&e);
            if plane.is_some_and(|p| p.is_config()) {
                report_error(&format!("{e:#}"), "config_invalid");
                return ExitCode::from(EXIT_CONFIG as u8);
            }
            if plane.is_some_and(|p| p.is_auth()) {
                report_error(&format!("{e:#}"), "board_auth_failed");
                return ExitCode::from(EXIT_NOPERM as u8);
            }
            if let Some(running) = e.downcast_ref::<crate::daemon::instance::AlreadyRunning>() {
                report_error(&format!("{running}"), "already_running");
                return ExitCode::from(crate::daemon::instance::EXIT_ALREADY_RUNNING);
            }
            if let Some(exit) = e.downcast_ref::<UserError>() {
                eprintln!("error: {}", exit.0);
                return ExitCode::from(2);
            }
            report_error(&format!("{e:#}"), "fatal");
            ExitCode::FAILURE
        }
    }
}

/// One message per error: to the journal as an event when stderr is the journal (so
/// `EVENT=config_invalid` finds it), else one plain line on stderr.
fn report_error(message: &str, event: &'static str) {
    if logging::stderr_is_journal() {
        tracing::error!(event, "{message}");
    } else {
        eprintln!("error: {message}");
    }
}

/// A mistake in what the user asked (unknown task, bad state name): exit 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UserError(pub String);
