//! Group commit for CI events: one writer thread owns the database connection and commits
//! the deliveries waiting at that moment in a single transaction (gathering a few more
//! when they arrive together). Each request is still answered only after its own row is
//! committed (durable before 200), but N concurrent deliveries cost one commit, not N.
//! The writer also writes the journal line of each committed event (`event_log`).
//!
//! Two things stay off the commit path because they stalled it under load (measured with
//! bench/webhook_vs_nginx.sh): WAL checkpoints, whose fsyncs blocked every waiting delivery
//! for milliseconds, run on a checkpointer thread with its own connection; and the review
//! lane's wake file, which the lane looks at every 250 ms, is touched at most every 50 ms
//! instead of once per commit.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rusqlite::Connection;

use super::event::{self, CiEvent};
use super::event_log::EventLog;

/// What a caller sees when the writer thread is gone.
pub const STOPPED: &str = "the event writer has stopped";

/// Most deliveries committed together; bounds one transaction's size and latency.
const MAX_BATCH: usize = 256;
/// Under concurrent deliveries: how long a commit may wait for more, and for how many.
const GATHER_FOR: Duration = Duration::from_micros(400);
const GATHER_AT_LEAST: usize = 24;
/// Least time between two touches of the wake file (the review lane polls it every 250 ms).
const WAKE_EVERY: Duration = Duration::from_millis(50);
/// Least time between two background checkpoints while events keep arriving.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);
/// WAL size (pages) at which the writer checkpoints by itself. Under a steady stream the
/// background checkpoint never catches up with the newest commit, and only a checkpoint
/// that does lets the WAL start over; this bounds the file (~40 MB) without putting
/// SQLite's default (a checkpoint every 1,000 pages) on the commit path.
const WRITER_CHECKPOINT_PAGES: i64 = 10_000;

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
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Dropping the writer commits what is queued and closes the database cleanly: the last
/// connection to close checkpoints and removes the WAL. A process that exits with the
/// connections open leaves the WAL behind, and the next start (the next socket
/// activation) has to rebuild its index first: ~15 ms for a 40 MB WAL.
impl Drop for EventWriter {
    fn drop(&mut self) {
        self.jobs.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl EventWriter {
    /// Starts the writer thread (and its checkpointer); they end when the writer is
    /// dropped. `wake_dir` is the runtime directory whose `wake/review` file tells the
    /// review lane to look.
    pub fn start(conn: Connection, wake_dir: PathBuf) -> Self {
        let (jobs, queue) = mpsc::channel::<Job>();
        let checkpointer = start_checkpointer(&conn);
        if let Err(e) = conn.pragma_update(None, "wal_autocheckpoint", WRITER_CHECKPOINT_PAGES) {
            tracing::warn!(
                event = "ci_checkpoint_setup_failed",
                "wal_autocheckpoint: {e}"
            );
        }
        let thread = std::thread::Builder::new()
            .name("ci-event-writer".into())
            .spawn(move || write_loop(conn, queue, ReviewWake::new(wake_dir), checkpointer))
            .expect("spawn the event writer");
        Self {
            jobs: Some(jobs),
            thread: Some(thread),
        }
    }

    /// Queues one event for the next commit; the answer arrives once it is committed.
    pub fn submit(&self, delivery: &str, event: &CiEvent, now: i64) -> Pending {
        let (reply, answer) = tokio::sync::oneshot::channel();
        // If the writer has stopped the job (and its sender) is dropped: the answer then
        // reads as an error, which callers report as "stopped".
        let jobs = self.jobs.as_ref().expect("only taken on drop");
        let _ = jobs.send(Job {
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

fn write_loop(
    mut conn: Connection,
    queue: mpsc::Receiver<Job>,
    mut wake: ReviewWake,
    checkpointer: Option<Checkpointer>,
) {
    let mut log = EventLog::default();
    let mut concurrent = false;
    loop {
        // A deferred wake-up and a burst's summary line are due at their time even if no
        // delivery comes.
        let next = match [wake.due(), log.due()].into_iter().flatten().min() {
            None => queue
                .recv()
                .map_err(|_| mpsc::RecvTimeoutError::Disconnected),
            Some(due) => queue.recv_timeout(due.saturating_duration_since(Instant::now())),
        };
        let first = match next {
            Ok(job) => job,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let now = Instant::now();
                if wake.due().is_some_and(|due| now >= due) {
                    wake.touch();
                }
                log.summarize_if_due(now);
                continue;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        let batch = collect_batch(first, &queue, concurrent);
        concurrent = batch.len() > 1;
        let results = commit_batch(&mut conn, &batch);
        if results.iter().any(|r| matches!(r, Ok(true))) {
            wake.request();
            if let Some(checkpointer) = &checkpointer {
                checkpointer.nudge();
            }
        }
        let now = Instant::now();
        for (job, result) in batch.into_iter().zip(results) {
            if let Ok(inserted) = result {
                log.committed(now, &job.delivery, &job.event, inserted);
            }
            // The requester may have gone (client hung up); nothing to tell then.
            let _ = job.reply.send(result);
        }
    }
    log.summarize();
    if wake.due().is_some() {
        wake.touch();
    }
    if let Some(checkpointer) = checkpointer {
        checkpointer.stop();
    }
    // The checkpointer's connection is closed now, so `conn`, dropped on return, is the
    // last one: SQLite checkpoints the rest of the WAL and removes it.
}

/// The first job and whatever else is queued. When deliveries have been arriving together
/// (`concurrent`: the last batch had more than one), it waits up to [`GATHER_FOR`] for
/// [`GATHER_AT_LEAST`] of them: every commit rewrites the same few pages (table and index
/// tails), so a commit for thirty rows costs little more than one for five. A lone
/// delivery is committed at once.
fn collect_batch(first: Job, queue: &mpsc::Receiver<Job>, concurrent: bool) -> Vec<Job> {
    let started = Instant::now();
    let mut batch = vec![first];
    loop {
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        if !concurrent || batch.len() >= GATHER_AT_LEAST || started.elapsed() >= GATHER_FOR {
            return batch;
        }
        std::thread::sleep(GATHER_FOR / 4);
    }
}

/// The review lane's wake file, touched at most every [`WAKE_EVERY`]; a request inside
/// that time is deferred to its end, never dropped.
struct ReviewWake {
    runtime_dir: PathBuf,
    last: Option<Instant>,
    pending: bool,
}

impl ReviewWake {
    fn new(runtime_dir: PathBuf) -> Self {
        Self {
            runtime_dir,
            last: None,
            pending: false,
        }
    }

    fn request(&mut self) {
        self.pending = true;
        if self.last.is_none_or(|last| last.elapsed() >= WAKE_EVERY) {
            self.touch();
        }
    }

    /// When a deferred wake-up must happen, if one is pending.
    fn due(&self) -> Option<Instant> {
        self.pending.then(|| {
            self.last
                .map_or_else(Instant::now, |last| last + WAKE_EVERY)
        })
    }

    fn touch(&mut self) {
        if let Err(e) = super::trigger::wake_review(&self.runtime_dir) {
            tracing::warn!(event = "ci_wake_failed", "cannot wake the review lane: {e}");
        }
        self.last = Some(Instant::now());
        self.pending = false;
    }
}

/// Starts the checkpointer: a thread with its own connection that copies the WAL into the
/// database (PASSIVE: it never blocks the writer or readers) when nudged, at most every
/// [`CHECKPOINT_EVERY`]. Without it (the connection cannot be opened) the writer's own
/// automatic checkpoint still bounds the WAL.
fn start_checkpointer(conn: &Connection) -> Option<Checkpointer> {
    let path = conn.path().filter(|p| !p.is_empty())?.to_string();
    let (nudge, nudges) = mpsc::sync_channel::<()>(1);
    let thread = std::thread::Builder::new()
        .name("ci-checkpoint".into())
        .spawn(move || checkpoint_loop(Path::new(&path), nudges))
        .ok()?;
    Some(Checkpointer { nudge, thread })
}

struct Checkpointer {
    nudge: mpsc::SyncSender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl Checkpointer {
    fn nudge(&self) {
        // Full means a checkpoint is already due; it will include the new pages.
        let _ = self.nudge.try_send(());
    }

    /// Ends the thread (after the checkpoint or pause it is in) and closes its connection.
    fn stop(self) {
        drop(self.nudge);
        let _ = self.thread.join();
    }
}

fn checkpoint_loop(path: &Path, nudges: mpsc::Receiver<()>) {
    let conn = match Connection::open(path) {
        Ok(conn) => conn,
        Err(e) => {
            tracing::warn!(
                event = "ci_checkpoint_unavailable",
                "cannot open {} for checkpoints: {e}; the writer checkpoints by itself",
                path.display()
            );
            return;
        }
    };
    while nudges.recv().is_ok() {
        // One row (busy, WAL pages, pages copied); only failures are of interest.
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::debug!(event = "ci_checkpoint_failed", "checkpoint: {e}");
        }
        std::thread::sleep(CHECKPOINT_EVERY);
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

    fn wake_mtime(dir: &Path) -> std::time::SystemTime {
        std::fs::metadata(dir.join("run/wake/review"))
            .and_then(|m| m.modified())
            .expect("the wake file exists")
    }

    #[test]
    fn a_wake_up_inside_the_quiet_time_is_deferred_not_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let writer = EventWriter::start(
            crate::store::open(dir.path()).unwrap(),
            dir.path().join("run"),
        );
        assert!(writer.record("first", &event(1), 1).unwrap());
        let after_first = wake_mtime(dir.path());
        // Within WAKE_EVERY of the first touch: no touch now, one at the end of it, even
        // though nothing else arrives to carry it.
        assert!(writer.record("second", &event(2), 1).unwrap());
        let deadline = Instant::now() + Duration::from_secs(2);
        while wake_mtime(dir.path()) == after_first && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_ne!(
            wake_mtime(dir.path()),
            after_first,
            "the second event's wake-up was lost"
        );
    }

    #[test]
    fn the_checkpointer_copies_the_wal_into_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::store::open(dir.path()).unwrap();
        let db_file = PathBuf::from(conn.path().unwrap());
        let before = std::fs::metadata(&db_file).unwrap().len();
        let writer = Arc::new(EventWriter::start(conn, dir.path().join("run")));
        // Far below the writer's own checkpoint threshold: only the checkpointer can move
        // these pages from the WAL into the database file.
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let writer = Arc::clone(&writer);
                std::thread::spawn(move || {
                    for i in 0..500 {
                        writer.record(&format!("d-{t}-{i}"), &event(i), 1).unwrap();
                    }
                })
            })
            .collect();
        handles.into_iter().for_each(|h| h.join().unwrap());
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::fs::metadata(&db_file).unwrap().len() <= before && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let after = std::fs::metadata(&db_file).unwrap().len();
        assert!(
            after > before + 100 * 1024,
            "2,000 events should have reached the database file: {before} → {after} bytes"
        );
    }

    #[test]
    fn dropping_the_writer_closes_the_database_cleanly() {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::store::open(dir.path()).unwrap();
        let wal = PathBuf::from(format!("{}-wal", conn.path().unwrap()));
        let writer = EventWriter::start(conn, dir.path().join("run"));
        for i in 0..100 {
            writer.record(&format!("d-{i}"), &event(i), 1).unwrap();
        }
        assert!(wal.exists());
        drop(writer);
        // The last connection closed: its checkpoint emptied the WAL and removed it, so
        // the next start does not rebuild a WAL index first.
        assert!(!wal.exists(), "{} is left behind", wal.display());
        let conn = crate::store::open(dir.path()).unwrap();
        let rows: i64 = conn
            .query_row("SELECT COUNT(*) FROM ci_events", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 100);
    }
}
