//! `oc status` (the seed's watch-all-status) and `oc heartbeat-check`: every lane unit and
//! instance, what systemd says about it, and what the lane last published.

use std::collections::BTreeMap;

use clap::Args;
use serde::Serialize;

use super::Common;
use crate::config::paths;
use crate::status::file::{self, LaneStatus};
use crate::status::systemd::{self, UnitState};
use crate::store::{now, rfc3339};

/// A lane whose status is older than this is stale (the original's heartbeat rule).
pub const STALE_AFTER_SECS: i64 = 5 * 60;

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print JSON instead of a table
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct HeartbeatArgs {
    /// Seconds after which a lane's last update counts as stale
    #[arg(long, default_value_t = STALE_AFTER_SECS)]
    stale_after: i64,
}

#[derive(Debug, Clone, Serialize)]
struct LaneView {
    lane: String,
    unit: String,
    systemd: Option<UnitState>,
    status: Option<LaneStatus>,
    health: String,
    problem: Option<String>,
}

/// Joins systemd's lane units with the lanes' status files.
fn gather(common: &Common, stale_after: i64) -> (Vec<LaneView>, Vec<UnitState>, bool) {
    let runtime = paths::runtime_dir(&common.state_dir());
    let statuses: BTreeMap<String, LaneStatus> = file::read_all(&runtime)
        .into_iter()
        .map(|s| (s.lane.clone(), s))
        .collect();
    let units = systemd::units();
    let have_systemd = units.is_some();
    let units = units.unwrap_or_default();
    let mut lanes: BTreeMap<String, LaneView> = BTreeMap::new();
    let mut others = Vec::new();
    for unit in units {
        match systemd::lane_of_unit(&unit.unit) {
            Some(lane) => {
                lanes.insert(
                    lane.clone(),
                    LaneView {
                        unit: unit.unit.clone(),
                        status: statuses.get(&lane).cloned(),
                        lane,
                        systemd: Some(unit),
                        health: String::new(),
                        problem: None,
                    },
                );
            }
            None => others.push(unit),
        }
    }
    for (lane, status) in statuses {
        lanes.entry(lane.clone()).or_insert_with(|| LaneView {
            unit: status.unit(),
            lane,
            systemd: None,
            status: Some(status),
            health: String::new(),
            problem: None,
        });
    }
    let mut views: Vec<LaneView> = lanes.into_values().collect();
    for view in &mut views {
        let (health, problem) = judge(view, have_systemd, stale_after);
        view.health = health.to_string();
        view.problem = problem;
    }
    (views, others, have_systemd)
}

/// healthy / stale / dead / stopped (not expected to run) for one lane.
fn judge(view: &LaneView, have_systemd: bool, stale_after: i64) -> (&'static str, Option<String>) {
    let age = view.status.as_ref().map(|s| now() - s.updated_at);
    if let Some(unit) = &view.systemd {
        let expected = unit.enabled == "enabled" || unit.active != "inactive";
        if !expected {
            return ("stopped", None);
        }
        if unit.active != "active" {
            return (
                "dead",
                Some(format!("{} is {} ({})", unit.unit, unit.active, unit.sub)),
            );
        }
    } else if have_systemd {
        // A status file without a loaded unit: a lane run by hand, or a leftover.
        if view.status.as_ref().is_some_and(|s| !pid_alive(s)) {
            return ("stopped", None);
        }
    } else if let Some(s) = &view.status {
        if s.state == "stopped" {
            return ("stopped", None);
        }
        if !pid_alive(s) {
            return (
                "dead",
                Some(format!("{} (pid {}) is not running", view.lane, s.pid)),
            );
        }
    }
    match age {
        None => (
            "stale",
            Some(format!("{} has published no status", view.lane)),
        ),
        Some(age) if age > stale_after => (
            "stale",
            Some(format!("{} last updated {} ago", view.lane, human_age(age))),
        ),
        Some(_) => ("healthy", None),
    }
}

fn pid_alive(status: &LaneStatus) -> bool {
    crate::daemon::procs::pid_exists(status.pid as i32)
}

pub fn run(common: &Common, args: StatusArgs) -> anyhow::Result<()> {
    let (lanes, others, have_systemd) = gather(common, STALE_AFTER_SECS);
    let board = common
        .load_config()
        .ok()
        .and_then(|c| super::plane::summary(&c, &common.state_dir()));
    if args.json {
        let value = serde_json::json!({"lanes": lanes, "units": others, "systemd": have_systemd, "plane": board});
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    if !have_systemd {
        println!("(systemd not available: showing lane status files only)");
    }
    if let Some(board) = &board {
        super::plane::print_summary(board);
    }
    if lanes.is_empty() {
        println!("no lanes: enable one with `systemctl enable --now oc-goal@slot1`");
    } else {
        println!(
            "{:<14} {:<24} {:<8} {:>5} {:<7} {:<34} {:<12} {:>3} {:>3} {:>3}  UPDATED",
            "LANE",
            "SYSTEMD",
            "HEALTH",
            "CYCLE",
            "STATE",
            "LAST ACTION",
            "TASK",
            "FU",
            "TRI",
            "PRO"
        );
        for v in &lanes {
            let unit = v
                .systemd
                .as_ref()
                .map(|u| format!("{}/{} {}", u.active, u.sub, u.enabled))
                .unwrap_or_else(|| "-".into());
            let s = v.status.clone().unwrap_or_default();
            let task = match (&s.task_id, &s.task_kind) {
                (Some(id), Some(kind)) => format!("{id} ({kind})"),
                (Some(id), None) => id.clone(),
                _ => "-".into(),
            };
            let updated = if v.status.is_some() {
                format!(
                    "{} ({} ago)",
                    rfc3339(s.updated_at),
                    human_age(now() - s.updated_at)
                )
            } else {
                "-".into()
            };
            println!(
                "{:<14} {:<24} {:<8} {:>5} {:<7} {:<34} {:<12} {:>3} {:>3} {:>3}  {}",
                v.lane,
                truncate(&unit, 24),
                v.health,
                s.cycle,
                truncate(&s.state, 7),
                truncate(&s.last_action, 34),
                truncate(&task, 12),
                s.follow_ups,
                s.blocked_triaged,
                s.proposed,
                updated
            );
        }
    }
    if !others.is_empty() {
        println!();
        println!("{:<28} {:<10} {:<10} ENABLED", "UNIT", "ACTIVE", "SUB");
        for u in &others {
            println!(
                "{:<28} {:<10} {:<10} {}",
                u.unit, u.active, u.sub, u.enabled
            );
        }
    }
    Ok(())
}

/// Exit 0 when every enabled lane is healthy, 1 when any is stale or dead (named on stdout).
pub fn heartbeat_check(common: &Common, args: HeartbeatArgs) -> anyhow::Result<bool> {
    let (lanes, _, _) = gather(common, args.stale_after);
    let mut ok = true;
    let mut checked = 0;
    for v in &lanes {
        match v.health.as_str() {
            "healthy" => {
                checked += 1;
                println!("ok     {}", v.lane);
            }
            "stopped" => {}
            other => {
                checked += 1;
                ok = false;
                println!(
                    "{:<6} {}: {}",
                    other.to_uppercase(),
                    v.lane,
                    v.problem.clone().unwrap_or_default()
                );
            }
        }
    }
    if checked == 0 {
        println!("no enabled lanes");
    }
    Ok(ok)
}

fn human_age(secs: i64) -> String {
    let secs = secs.max(0);
    match secs {
        0..=119 => format!("{secs}s"),
        120..=7199 => format!("{}m", secs / 60),
        _ => format!("{}h", secs / 3600),
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n - 1).collect::<String>() + "…"
    }
}
