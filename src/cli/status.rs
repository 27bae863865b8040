//! `oc status`: each lane's cycle, last action, current task and freshness.

use clap::Args;

use super::Common;
use crate::store::{self, lane_status};

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print JSON instead of a table
    #[arg(long)]
    json: bool,
}

pub fn run(common: &Common, args: StatusArgs) -> anyhow::Result<()> {
    let conn = store::open(&common.state_dir())?;
    let lanes = lane_status::all(&conn)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&lanes)?);
        return Ok(());
    }
    if lanes.is_empty() {
        println!("no lane has run yet");
        return Ok(());
    }
    println!(
        "{:<16} {:>7} {:>6} {:<8} {:<28} {:<10} {:>5} {:>5} {:>5}  UPDATED",
        "LANE", "PID", "CYCLE", "STATE", "LAST ACTION", "TASK", "FUP", "TRIAG", "PROP"
    );
    for l in lanes {
        println!(
            "{:<16} {:>7} {:>6} {:<8} {:<28} {:<10} {:>5} {:>5} {:>5}  {}",
            l.lane,
            l.pid,
            l.cycle,
            l.state,
            truncate(&l.last_action, 28),
            l.task_id.unwrap_or_else(|| "-".into()),
            l.follow_ups,
            l.blocked_triaged,
            l.proposed,
            store::rfc3339(l.updated_at)
        );
    }
    Ok(())
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n - 1).collect::<String>() + "…"
    }
}
