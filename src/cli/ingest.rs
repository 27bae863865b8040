//! `oc-ingest-tail` (the log tailer daemon) and `oc ingest-dedup reset|list`.

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

use super::{Common, finish};
use crate::daemon::logging;
use crate::daemon::shutdown::Shutdown;

#[derive(Debug, Parser)]
#[command(
    name = "oc-ingest-tail",
    version,
    about = "operations-center log tailer: files matching lines of error_ingest.log_sources as tasks",
    long_about = "Follows every error_ingest.log_sources file (across rotation and truncation) \
        and files each line matching its pattern as an error-ingest task, deduplicated with \
        the oc-ingest webhook. Offsets are kept in the state database, so a restart neither \
        repeats nor skips lines; on the first start a file is read from its end."
)]
struct TailCli {
    #[command(flatten)]
    common: Common,
}

/// Main of `oc-ingest-tail`.
pub fn tail_main() -> ExitCode {
    // First of all: no process of our uid (an agent) may read our environment or memory.
    crate::daemon::sandbox::protect_process();
    let cli = TailCli::parse();
    logging::init(cli.common.log_format);
    finish(tail(&cli.common))
}

/// The command line of `oc-ingest-tail`, for its man page.
pub fn tail_command() -> clap::Command {
    TailCli::command()
}

fn tail(common: &Common) -> anyhow::Result<()> {
    let config = common.load_config()?;
    let shutdown = Shutdown::install()?;
    crate::ingest::tail::run(&config, &common.state_dir_for_writing()?, &shutdown)
}

#[derive(Debug, Subcommand)]
pub enum DedupCommand {
    /// Forget ingested errors, so the next report of one creates a new task
    Reset {
        /// Only the errors of this repo key
        #[arg(long, value_name = "KEY")]
        repo: Option<String>,
    },
    /// Show the errors that have a task (newest report first)
    List {
        #[arg(long)]
        json: bool,
    },
}

pub fn dedup(common: &Common, cmd: DedupCommand) -> anyhow::Result<()> {
    let db = crate::store::open(&common.state_dir_for_writing()?)?;
    match cmd {
        DedupCommand::Reset { repo } => {
            let removed = crate::ingest::reset(&db, repo.as_deref())?;
            let scope = repo.map(|r| format!(" of repo {r}")).unwrap_or_default();
            println!("forgot {removed} ingested error(s){scope}");
        }
        DedupCommand::List { json } => {
            let entries = crate::ingest::list(&db)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&entries)?);
            } else if entries.is_empty() {
                println!("no ingested errors");
            } else {
                println!(
                    "{:<12}  {:<16}  {:<8}  {:>5}  {:<20}  LAST SEEN",
                    "KEY", "REPO", "TASK", "COUNT", "FIRST SEEN"
                );
                for e in entries {
                    println!(
                        "{:<12}  {:<16}  {:<8}  {:>5}  {:<20}  {}",
                        &e.key[..e.key.len().min(12)],
                        e.repo_key,
                        e.task_id.as_deref().unwrap_or("-"),
                        e.count,
                        e.first_seen,
                        e.last_seen
                    );
                }
            }
        }
    }
    Ok(())
}
