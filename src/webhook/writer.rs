//! Group commit for CI events: one writer thread owns the database connection and commits
//! every delivery waiting at that moment in a single transaction, then wakes the review
//! lane once for the whole batch. Each request is still answered only after its own row is
//! committed (durable before 200), but N concurrent deliveries cost one commit and one
//! wake-up instead of N (rewriting the wake file from many threads at once serialised them
//! on the file's inode lock).

use std::path::PathBuf;
use std::sync::mpsc;

use rusqlite::Connection;

use super::event::{self, CiEvent};

/// What a caller sees when the writer thread is gone.
pub const STOPPED: &str = "the event writer has stopped";

/// Most deliveries committed together; bounds one transaction's size and latency.
const MAX_BATCH: usize = 256;

struct Job {
    delivery: String,
    event: CiEvent,
    now: i64,
    // A tokio oneshot: an async request awaits it without a thread of its own, and a
    // blocking caller can wait on it too.
    reply: tokio::sync::oneshot::Sender<Result<bool, String>>,
}

/// The answer to one submitted event: `Ok(false)` for a redelivery.
pub type Pending = tokio::sync::oneshot::Receiver<Result<bool, String>>;

pub struct EventWriter {
    jobs: mpsc::Sender<Job>,
}

impl EventWriter {
    /// Starts the writer thread; it ends when the writer is dropped. `wake_dir` is the
    /// runtime directory whose `wake/review` file tells the review lane to look.
    pub fn start(conn: Connection, wake_dir: PathBuf) -> Self {
        let (jobs, queue) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("ci-event-writer".into())
            .spawn(move || write_loop(conn, queue, &wake_dir))
            .expect("spawn the event writer");
        Self { jobs }
    }

    /// Queues one event for the next commit; the answer arrives once it is committed.
    pub fn submit(&self, delivery: &str, event: &CiEvent, now: i64) -> Pending {
        let (reply, answer) = tokio::sync::oneshot::channel();
        // If the writer has stopped the job (and its sender) is dropped: the answer then
        // reads as an error, which callers report as "stopped".
        let _ = self.jobs.send(Job {
            delivery: delivery.to_string(),
            event: event.clone(),
            now,
            reply,
        });
        answer
    }

    /// Records one event and waits for its commit (not from async code).
    pub fn record(&self, delivery: &str, event: &CiEvent, now: i64) -> Result<bool, String> {
        self.submit(delivery, event, now)
            .blocking_recv()
            .map_err(|_| STOPPED.to_string())?
    }
}

fn write_loop(mut conn: Connection, queue: mpsc::Receiver<Job>, wake_dir: &std::path::Path) {
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let results = commit_batch(&mut conn, &batch);
        let recorded_any = results.iter().any(|r| matches!(r, Ok(true)));
        if recorded_any && let Err(e) = super::trigger::wake_review(wake_dir) {
            tracing::warn!(event = "ci_wake_failed", "cannot wake the review lane: {e}");
        }
        for (job, result) in batch.into_iter().zip(results) {
            // The requester may have gone (client hung up); nothing to tell then.
            let _ = job.reply.send(result);
        }
    }
}

/// One transaction for the whole batch; if the commit fails, every job in it failed.
fn commit_batch(conn: &mut Connection, batch: &[Job]) -> Vec<Result<bool, String>> {
    let tx = match conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(e) => return batch.iter().map(|_| Err(e.to_string())).collect(),
    };
    let results: Vec<Result<bool, String>> = batch
        .iter()
        .map(|job| {
            event::record(&tx, &job.delivery, &job.event, job.now).map_err(|e| e.to_string())
        })
        .collect();
    match tx.commit() {
        Ok(()) => results,
        Err(e) => batch.iter().map(|_| Err(e.to_string())).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn event(n: usize) -> CiEvent {
        CiEvent {
            event: "check_run".into(),
            action: Some("completed".into()),
            repo: "octo/demo".into(),
            head_sha: format!("{n:040x}"),
            pr_numbers: vec![2],
            check_name: Some("test".into()),
            status: Some("completed".into()),
            conclusion: Some("success".into()),
        }
    }

    #[test]
    fn concurrent_deliveries_are_each_recorded_once() {
        let dir = tempfile::tempdir().unwrap();
        let writer = Arc::new(EventWriter::start(
            crate::store::open(dir.path()).unwrap(),
            dir.path().join("run"),
        ));
        let handles: Vec<_> = (0..16)
            .map(|t| {
                let writer = Arc::clone(&writer);
                std::thread::spawn(move || {
                    (0..50)
                        .map(|i| {
                            // Every thread delivers ids 0..50: each id must win exactly once.
                            writer
                                .record(&format!("delivery-{i}"), &event(t * 100 + i), 1)
                                .unwrap()
                        })
                        .filter(|inserted| *inserted)
                        .count()
                })
            })
            .collect();
        let inserted: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(inserted, 50);
        let conn = crate::store::open(dir.path()).unwrap();
        let rows: i64 = conn
            .query_row("SELECT COUNT(*) FROM ci_events", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 50);
        assert!(
            dir.path().join("run/wake/review").exists(),
            "review lane woken"
        );
    }
}
