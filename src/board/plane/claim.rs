//! Claims on Plane, which has no compare-and-swap. The protocol (docs/plane.md):
//!
//! 1. Read the item fresh. It must be Ready for AI; its `updated_at` (R) opens the round.
//! 2. Register the run locally, then move the item to Running.
//! 3. Post a claim marker: a comment with `external_source: operations-center` and
//!    `external_id: claim:<run id>`.
//! 4. Wait `claim_settle_ms`, then read the comments. Among the markers created at or
//!    after R, the earliest (`created_at`, then id) wins. Everyone reads the same markers,
//!    so exactly one claimant — on this host or another — goes on; the others step back
//!    without touching the item (the winner holds it).
//!
//! Every claimant of one round saw the item Ready before anyone moved it to Running, so
//! each one's R is at or before every competing marker: all of them judge the same set.

use super::board::{EXTERNAL_SOURCE, PlaneBoard};
use super::mirror;
use super::types::{External, PlaneComment};
use crate::board::{BoardResult, Claim, State};
use crate::store::runs;

/// Candidates tried per cycle before giving up until the next cycle (each costs requests).
pub const MAX_ATTEMPTS_PER_CYCLE: usize = 3;
const MARKER_PREFIX: &str = "claim:";

pub fn try_claim(board: &PlaneBoard, id: &str, run: &runs::NewRun) -> BoardResult<Option<Claim>> {
    let item = board.metered(|c| c.get_work_item(id))?;
    let task = board.mirror_item(&item)?;
    if task.state != State::ReadyForAi {
        tracing::debug!(event = "claim_skip_not_ready", task_id = %id, state = %task.state);
        return Ok(None);
    }
    let round = mirror::micros(&item.updated_at);
    // The run exists before anything changes on Plane, so a crash from here on leaves a
    // record that recovery finds (dead pid → release, which re-checks the markers). It is
    // registered only if it fits the budget, decided under the write lock: lanes in other
    // processes on this host cannot pass the same cap.
    {
        let tx = rusqlite::Transaction::new_unchecked(
            board.conn_ref(),
            rusqlite::TransactionBehavior::Immediate,
        )?;
        if let Err(over) = runs::insert_within_budget(&tx, run, id, task.repo().as_deref())? {
            return Err(crate::board::BoardError::OverBudget(over));
        }
        tx.commit()?;
    }
    mirror::record_claim(board.conn_ref(), id, &run.run_id, round)?;
    match contend(board, id, run, round) {
        Ok(Some(task)) => {
            // Again after the write-backs: a concurrent sync may have replaced the row.
            mirror::record_claim(board.conn_ref(), id, &run.run_id, round)?;
            mirror::claim_won(board.conn_ref(), &run.run_id)?;
            Ok(Some(Claim {
                task,
                run_id: run.run_id.clone(),
            }))
        }
        Ok(None) => {
            // The run never started: forget it, so the lane can try the next candidate
            // under the same run id.
            board
                .conn_ref()
                .execute("DELETE FROM runs WHERE run_id = ?1", [&run.run_id])?;
            mirror::forget_claim(board.conn_ref(), id, &run.run_id)?;
            Ok(None)
        }
        Err(e) => {
            // Hand the item back if this claim is the one holding it; never fail silently.
            let write = super::outbox::Write::Release {
                run_id: run.run_id.clone(),
                state: State::ReadyForAi,
            };
            let released = board.deliver(id, write).unwrap_or(false);
            runs::finish(board.conn_ref(), &run.run_id, "claim_failed")?;
            tracing::warn!(event = "claim_failed", task_id = %id, run_id = %run.run_id, released, error = %e, "claim of {id} failed: {e}");
            Err(e)
        }
    }
}

/// Steps 2–4: move, mark, settle, judge. `Some(task)` when this run won.
fn contend(
    board: &PlaneBoard,
    id: &str,
    run: &runs::NewRun,
    round: i64,
) -> BoardResult<Option<crate::board::Task>> {
    let task = board.transition(id, State::Running)?;
    // Plane checks external ids project-wide, so the item is part of the marker's id (a
    // run id retried on the next candidate must not be adopted from the last one).
    let marker = External::new(
        EXTERNAL_SOURCE,
        format!("{MARKER_PREFIX}{id}:{}", run.run_id),
    );
    let body = format!(
        "[Claim] run {} · lane {} · host {}",
        run.run_id,
        run.lane,
        crate::daemon::procs::hostname()
    );
    board.metered(|c| c.create_comment(id, &body, Some(&marker)))?;
    std::thread::sleep(board.settle());
    let comments = board.metered(|c| c.list_comments(id))?;
    match winner(&comments, round) {
        Some(w) if w == run.run_id => Ok(Some(task)),
        None => {
            // Not even our own marker is there: nobody holds the item, and we moved it.
            tracing::warn!(event = "claim_marker_missing", task_id = %id, run_id = %run.run_id, "claim marker of {id} not found; handing the item back");
            board.transition(id, State::ReadyForAi)?;
            Ok(None)
        }
        other => {
            tracing::info!(
                event = "claim_lost",
                task_id = %id,
                run_id = %run.run_id,
                winner = other.as_deref().unwrap_or("-"),
                "claim of {id} lost to run {}",
                other.as_deref().unwrap_or("-")
            );
            Ok(None)
        }
    }
}

/// The run id of the earliest claim marker created at or after `round` (microseconds).
pub fn winner(comments: &[PlaneComment], round: i64) -> Option<String> {
    comments
        .iter()
        .filter(|c| c.external_source.as_deref() == Some(EXTERNAL_SOURCE))
        .filter_map(|c| {
            // `claim:<item>:<run>`
            let marker = c.external_id.as_deref()?.strip_prefix(MARKER_PREFIX)?;
            let run = marker.rsplit(':').next()?;
            let at = mirror::micros(&c.created_at);
            (at >= round).then(|| (at, c.id.clone(), run.to_string()))
        })
        .min()
        .map(|(_, _, run)| run)
}

/// Puts the item back to `to` only if `run_id` holds it: this host recorded the claim, the
/// item is still Running on Plane, and no other marker of the round won.
pub fn release(board: &PlaneBoard, id: &str, run_id: &str, to: State) -> BoardResult<bool> {
    let Some((round, won)) = mirror::claim_round(board.conn_ref(), id, run_id)? else {
        return Ok(false);
    };
    let item = board.metered(|c| c.get_work_item(id))?;
    if board.mirror_item(&item)?.state != State::Running {
        mirror::forget_claim(board.conn_ref(), id, run_id)?;
        return Ok(false);
    }
    // A run that saw itself win needs no second look; one that died before knowing (or
    // failed mid-claim) reads the markers, so it never hands back another run's item.
    let other = if won {
        None
    } else {
        let comments = board.metered(|c| c.list_comments(id))?;
        winner(&comments, round).filter(|w| w != run_id)
    };
    if let Some(other) = other {
        tracing::info!(event = "release_skipped", task_id = %id, run_id = %run_id, winner = %other, "not releasing {id}: run {other} holds it");
        mirror::forget_claim(board.conn_ref(), id, run_id)?;
        return Ok(false);
    }
    board.transition(id, to)?;
    mirror::forget_claim(board.conn_ref(), id, run_id)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marker(id: &str, run: &str, at: &str) -> PlaneComment {
        PlaneComment {
            id: id.into(),
            comment_html: String::new(),
            actor: None,
            created_by: None,
            external_id: Some(format!("claim:item-1:{run}")),
            external_source: Some(EXTERNAL_SOURCE.into()),
            created_at: at.into(),
        }
    }

    #[test]
    fn the_earliest_marker_of_the_round_wins_whatever_the_offsets() {
        let round = mirror::micros("2026-05-01T10:00:00.000000Z");
        let comments = vec![
            // An older round's winner is not in this round.
            marker("c0", "old", "2026-05-01T09:59:59.000000Z"),
            marker("c2", "b", "2026-05-01T10:00:01.500000Z"),
            // 15:30:01.2 at +05:30 is 10:00:01.2 UTC: earlier than b.
            marker("c1", "a", "2026-05-01T15:30:01.200000+05:30"),
        ];
        assert_eq!(winner(&comments, round).as_deref(), Some("a"));
        // Ties on the timestamp fall to the smaller id, the same for every reader.
        let tie = vec![
            marker("c9", "x", "2026-05-01T10:00:01.000000Z"),
            marker("c3", "y", "2026-05-01T10:00:01.000000Z"),
        ];
        assert_eq!(winner(&tie, round).as_deref(), Some("y"));
        assert_eq!(winner(&comments[..1], round), None);
    }
}
