//! Checks made before a claim. A gate that fires skips the cycle: nothing is claimed,
//! charged or marked, and the event names the reason.

use chrono::{Datelike, Timelike};

use crate::config::{Config, MaintenanceWindow};
use crate::daemon::procs;
use crate::store::{budget, executions};

#[derive(Debug, Clone, PartialEq)]
pub struct Skip {
    /// The `event` field, e.g. `watch_skip_kodo_gate`.
    pub event: &'static str,
    pub reason: String,
    pub detail: String,
}

impl Skip {
    fn new(event: &'static str, reason: &str, detail: String) -> Self {
        Self {
            event,
            reason: reason.to_string(),
            detail,
        }
    }
}

/// True while `now` (UTC) is inside the window; end is exclusive and start > end wraps.
pub fn in_window(window: &MaintenanceWindow, now: chrono::DateTime<chrono::Utc>) -> bool {
    let hour = now.hour() as u8;
    let weekday = now.weekday().num_days_from_monday() as u8;
    let day_ok = |d: u8| window.days.is_empty() || window.days.contains(&d);
    if window.start_hour < window.end_hour {
        (window.start_hour..window.end_hour).contains(&hour) && day_ok(weekday)
    } else if window.start_hour > window.end_hour {
        // Past midnight the window belongs to the day it started on.
        if hour >= window.start_hour {
            day_ok(weekday)
        } else if hour < window.end_hour {
            day_ok((weekday + 6) % 7)
        } else {
            false
        }
    } else {
        false
    }
}

pub fn maintenance(config: &Config, now: chrono::DateTime<chrono::Utc>) -> Option<Skip> {
    config
        .maintenance_windows
        .iter()
        .find(|w| in_window(w, now))
        .map(|w| {
            Skip::new(
                "watch_maintenance_window",
                "maintenance_window",
                format!("{:02}:00–{:02}:00 UTC", w.start_hour, w.end_hour),
            )
        })
}

/// Disk, backend pause, kodo concurrency, memory and the global budgets, in that order.
pub fn before_claim(
    config: &Config,
    conn: &rusqlite::Connection,
    state_dir: &std::path::Path,
    backend: &str,
) -> rusqlite::Result<Option<Skip>> {
    if let Some(free) = procs::disk_free_mb(state_dir) {
        if free < config.limits.min_free_disk_mb {
            return Ok(Some(Skip::new(
                "watch_skip_disk_space",
                "disk_space_exhausted",
                format!(
                    "{free} MiB free in {}, need {} MiB",
                    state_dir.display(),
                    config.limits.min_free_disk_mb
                ),
            )));
        }
        if free < config.limits.warn_free_disk_mb {
            tracing::warn!(
                event = "disk_space_low",
                free_mb = free,
                path = %state_dir.display(),
                "disk space low: {free} MiB free"
            );
        }
    }
    if let Some((until, reason)) = executions::backend_paused(conn, backend)? {
        return Ok(Some(Skip::new(
            "watch_skip_backend_paused",
            "backend_paused",
            format!(
                "{backend} paused until {} after: {reason}",
                crate::store::rfc3339(until)
            ),
        )));
    }
    if config.max_concurrent_kodo > 0 {
        let running = procs::count_kodo_processes();
        if running >= config.max_concurrent_kodo as usize {
            return Ok(Some(Skip::new(
                "watch_skip_kodo_gate",
                "kodo_concurrency_cap",
                format!(
                    "{running} kodo process(es) running, max_concurrent_kodo = {}",
                    config.max_concurrent_kodo
                ),
            )));
        }
    }
    if config.min_kodo_available_mb > 0
        && let Some(available) = procs::mem_available_mb()
        && available < config.min_kodo_available_mb
    {
        return Ok(Some(Skip::new(
            "watch_skip_kodo_gate",
            "low_memory",
            format!(
                "MemAvailable {available} MiB < min_kodo_available_mb {}",
                config.min_kodo_available_mb
            ),
        )));
    }
    if let Some(over) = budget::check(conn, &budget_limits(config), None)? {
        return Ok(Some(budget_skip(&over)));
    }
    Ok(None)
}

/// The caps every claim must fit in, checked again in the claim's transaction.
pub fn budget_limits(config: &Config) -> budget::Limits {
    budget::Limits {
        per_hour: config.limits.max_exec_per_hour,
        per_day: config.limits.max_exec_per_day,
        repo_daily: config
            .repos
            .iter()
            .filter_map(|(key, repo)| Some((key.clone(), repo.max_daily_executions?)))
            .collect(),
    }
}

/// The skip for a used-up cap (`watch_skip_budget`, or `skip_repo_budget` for one repo).
pub fn budget_skip(over: &budget::Exhausted) -> Skip {
    let event = match over {
        budget::Exhausted::Repo { .. } => "skip_repo_budget",
        _ => "watch_skip_budget",
    };
    Skip::new(event, over.reason(), over.detail())
}

/// Repos whose `max_daily_executions` is used up; their tasks are passed over this cycle.
pub fn repos_over_budget(
    config: &Config,
    conn: &rusqlite::Connection,
) -> rusqlite::Result<Vec<String>> {
    let mut over = Vec::new();
    for (key, repo) in &config.repos {
        if let Some(cap) = repo.max_daily_executions {
            let used = budget::repo_used_last_day(conn, key)?;
            if used >= cap {
                tracing::info!(
                    event = "skip_repo_budget",
                    repo = %key,
                    used,
                    cap,
                    "repo {key} used {used} of {cap} daily executions; its tasks wait"
                );
                over.push(key.clone());
            }
        }
    }
    Ok(over)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(day: u32, hour: u32, minute: u32) -> chrono::DateTime<chrono::Utc> {
        // 2026-01-05 is a Monday.
        chrono::Utc
            .with_ymd_and_hms(2026, 1, day, hour, minute, 0)
            .unwrap()
    }

    fn window(start: u8, end: u8, days: &[u8]) -> MaintenanceWindow {
        MaintenanceWindow {
            start_hour: start,
            end_hour: end,
            days: days.to_vec(),
        }
    }

    #[test]
    fn windows_from_the_original() {
        assert!(in_window(&window(2, 4, &[]), at(5, 3, 0)));
        assert!(!in_window(&window(2, 4, &[]), at(5, 10, 0)));
        assert!(in_window(&window(22, 2, &[]), at(5, 23, 30)));
        assert!(!in_window(&window(22, 2, &[]), at(5, 10, 0)));
    }

    #[test]
    fn wrapping_window_belongs_to_its_start_day() {
        // Friday 22:00 → Saturday 02:00, Friday only: Saturday 01:00 is inside.
        let friday_night = window(22, 2, &[4]);
        assert!(in_window(&friday_night, at(10, 1, 0)));
        assert!(!in_window(&friday_night, at(9, 1, 0)));
        assert!(!in_window(&window(2, 4, &[0]), at(6, 3, 0)));
    }
}
