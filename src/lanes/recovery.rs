//! Crash safety: every task a dead lane held goes back to Ready for AI, its agent's process
//! group is killed, and workspaces that no live run owns are removed.

use std::time::Duration;

use super::{Lane, role_tag};
use crate::agent::classify::extract_cost_usd;
use crate::board::State;
use crate::daemon::procs::{group_members, hostname, processes_in};
use crate::daemon::subprocess::{kill_group, read_lossy};
use crate::store::{executions, now, runs};
use crate::workspace;

/// Runs registered on this host whose lane process is gone (kill -9, OOM, watchdog).
pub fn recover_dead_runs(lane: &Lane) -> anyhow::Result<()> {
    let host = hostname();
    for run in runs::active(lane.board.conn())? {
        if run.host != host || run.is_alive() {
            continue;
        }
        if let Some(agent) = run.agent
            && group_members(agent.pid) > 0
        {
            // A process group id cannot be reused while the group has members, so these
            // are the dead lane's agent and its children.
            kill_group(agent.pid, Duration::from_secs(5), &mut || lane.keepalive());
        }
        if let Some(ws) = &run.workspace {
            // The agent's group may not have been recorded yet (the lane died right after
            // starting it); whatever still works inside the workspace belongs to this run.
            let own_group = nix::unistd::getpgrp();
            for pid in processes_in(ws) {
                if let Ok(pgid) = nix::unistd::getpgid(Some(nix::unistd::Pid::from_raw(pid)))
                    && pgid != own_group
                {
                    kill_group(pgid.as_raw(), Duration::from_secs(5), &mut || {
                        lane.keepalive()
                    });
                }
            }
            remove_workspace(ws);
        }
        let role = run.lane.split('@').next().unwrap_or("goal");
        if lane
            .board
            .release(&run.task_id, &run.run_id, State::ReadyForAi)?
        {
            let body = format!(
                "{} Re-queued after interrupted execution\n- task_id: {}\n- run_id: {}\n- lane: {}\n- result_status: ready_for_ai\n- reason: the lane process (pid {}) ended during the run — safe to retry",
                role_tag(role),
                run.task_id,
                run.run_id,
                run.lane,
                run.owner.pid
            );
            lane.board
                .comment(&run.task_id, "operations-center", &body)?;
            tracing::warn!(
                event = "watch_requeue_interrupted",
                task_id = %run.task_id,
                run_id = %run.run_id,
                dead_lane = %run.lane,
                "task {} re-queued: lane {} (pid {}) died mid-run",
                run.task_id,
                run.lane,
                run.owner.pid
            );
        }
        // The run is no attempt and costs nothing, unless the agent said what it spent.
        let cost = reported_cost(&lane.state_dir, &run.run_id);
        let conn = lane.board.conn();
        if executions::close_interrupted(conn, &run.run_id, cost)? > 0 {
            tracing::info!(
                event = "execution_interrupted",
                task_id = %run.task_id,
                run_id = %run.run_id,
                cost_usd = cost.unwrap_or(0.0),
                charged = cost.is_some(),
                "execution of run {} closed as interrupted ({})",
                run.run_id,
                match cost {
                    Some(c) => format!("the agent reported ${c:.4}, charged"),
                    None => "not charged".into(),
                }
            );
        }
        runs::finish(conn, &run.run_id, "interrupted")?;
    }
    Ok(())
}

/// The cost an interrupted run's agent had reported in its captured output, if any.
pub(super) fn reported_cost(state_dir: &std::path::Path, run_id: &str) -> Option<f64> {
    let suffix = format!("_{run_id}");
    let reports = std::fs::read_dir(state_dir.join(workspace::REPORTS_DIR)).ok()?;
    let dir = reports
        .filter_map(Result::ok)
        .find(|e| e.file_name().to_string_lossy().ends_with(&suffix))?
        .path();
    ["agent.stdout", "agent.stderr"]
        .iter()
        .find_map(|f| extract_cost_usd(&read_lossy(&dir.join(f))))
}

/// Running tasks with no live run, untouched for `ttl_secs`, go back to Ready for AI.
pub fn requeue_stale_running(lane: &Lane, ttl_secs: i64) -> anyhow::Result<()> {
    for task in lane.board.stale_running(now() - ttl_secs)? {
        if task.kind().is_some_and(|k| k != lane.role) {
            continue;
        }
        if lane
            .board
            .move_if(&task.id, State::Running, State::ReadyForAi)?
        {
            let body = format!(
                "{} Re-queued after interrupted execution\n- task_id: {}\n- result_status: ready_for_ai\n- reason: Running for more than {} minutes with no live run — safe to retry",
                lane.tag(),
                task.id,
                ttl_secs / 60
            );
            lane.board.comment(&task.id, "operations-center", &body)?;
            tracing::warn!(
                event = "watch_reconcile_stale_running",
                task_id = %task.id,
                ttl_minutes = ttl_secs / 60,
                "task {} re-queued: Running with no live run",
                task.id
            );
        }
    }
    Ok(())
}

/// Removes workspaces no live run owns (see [`workspace::unowned`]).
pub fn cleanup_orphaned_workspaces(lane: &Lane) -> anyhow::Result<()> {
    let orphans = workspace::unowned(&lane.state_dir, lane.board.conn())?;
    if orphans.is_empty() {
        return Ok(());
    }
    for path in &orphans {
        remove_workspace(path);
    }
    let listed: Vec<String> = orphans.iter().map(|p| p.display().to_string()).collect();
    tracing::info!(
        event = "watch_cleanup_orphaned_workspaces",
        count = orphans.len(),
        paths = %listed.join(", "),
        "removed {} orphaned workspace(s)",
        orphans.len()
    );
    Ok(())
}

fn remove_workspace(path: &std::path::Path) {
    if let Err(e) = workspace::remove(path) {
        tracing::warn!(event = "workspace_remove_failed", path = %path.display(), error = %e, "cannot remove workspace {}: {e}", path.display());
    }
}
