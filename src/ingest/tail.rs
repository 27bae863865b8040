//! `oc-ingest-tail`: follows the `error_ingest.log_sources` files and files every matching
//! line as an error report.
//!
//! A file is tracked by device and inode, with the offset after the last complete line
//! kept in `log_offsets` after every batch, so:
//! - rotation (rename + new file): the old file is read to its end, then the new one from
//!   its start; if the rename happened while the tailer was down, the old file is looked
//!   up by inode beside the path and finished first;
//! - truncation (copytruncate): a file shorter than the offset, or one whose byte before
//!   the offset is no longer the newline we stopped after, is read again from the start;
//! - restart: reading resumes at the saved offset, so nothing is read twice or skipped (a
//!   crash between a report and the offset save repeats that report, which dedup absorbs);
//! - first start for a path (no saved offset): reading begins at the end of the file, as
//!   the original did: old errors are history, not news. A file that does not exist yet is
//!   waited for and then read from its start, since everything in it is new.
//!
//! Only complete lines (ending in `\n`) are read; a line still being written waits.

use std::fs::File;
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};

use super::sources::{Source, compile};
use super::{Ingestor, Report};
use crate::config::Config;
use crate::daemon::notify::Notifier;
use crate::daemon::shutdown::Shutdown;

const POLL: Duration = Duration::from_secs(1);
/// Bytes read per batch; the offset is saved after each. A longer line is cut here.
const BATCH: usize = 256 * 1024;

/// (device, inode): which file a path meant when we read it.
type Identity = (u64, u64);

/// The tailer's main loop, until SIGTERM.
pub fn run(config: &Config, state_dir: &Path, shutdown: &Shutdown) -> anyhow::Result<()> {
    let sources = compile(config)?;
    let mut notifier = Notifier::from_env();
    if sources.is_empty() {
        tracing::info!(
            event = "ingest_tail_idle",
            "no error_ingest.log_sources configured; nothing to tail"
        );
        // READY first: a Type=notify unit that exits before it counts as failed.
        notifier.ready("nothing to tail: no error_ingest.log_sources");
        return Ok(());
    }
    let ingestor = Ingestor::open(config, state_dir)?;
    let mut tail = Tail {
        ingestor,
        stats: Stats::default(),
    };
    let mut followers: Vec<Follower> = sources.into_iter().map(Follower::new).collect();
    let mut status = String::new();
    let mut ready = false;
    loop {
        for f in &mut followers {
            if shutdown.requested() {
                break;
            }
            if let Err(e) = f.poll(&mut tail, &mut notifier, shutdown) {
                f.problem(
                    "ingest_tail_error",
                    &format!("{}: {e:#}", f.source.path.display()),
                );
            }
        }
        let line = tail.stats.line(followers.len());
        // READY after the first pass: positions are restored and what was rotated while
        // the tailer was down has been read.
        if !ready {
            notifier.ready(&line);
            tracing::info!(
                event = "ingest_tail_start",
                files = followers.len(),
                "following {} log files",
                followers.len()
            );
            ready = true;
            status = line;
        } else if line != status {
            notifier.status(&line);
            status = line;
        }
        let tick = notifier.max_block();
        if !shutdown.sleep(POLL, tick, || notifier.keepalive()) {
            break;
        }
    }
    notifier.stopping();
    tracing::info!(event = "ingest_tail_stop", "log tailer stopped");
    Ok(())
}

#[derive(Default)]
struct Stats {
    created: u64,
    duplicates: u64,
    last_task: Option<String>,
}

impl Stats {
    fn line(&self, files: usize) -> String {
        let last = self
            .last_task
            .as_deref()
            .map(|t| format!(" · last: {t}"))
            .unwrap_or_default();
        format!(
            "following {files} files · {} tasks created · {} duplicates{last}",
            self.created, self.duplicates
        )
    }
}

struct Tail<'a> {
    ingestor: Ingestor<'a>,
    stats: Stats,
}

struct Open {
    file: File,
    id: Identity,
    offset: u64,
}

struct Follower {
    source: Source,
    origin: String,
    open: Option<Open>,
    /// The saved position has been restored (retried each poll until it works).
    started: bool,
    /// The last problem logged, so a missing or unreadable file is reported once.
    reported: Option<String>,
}

impl Follower {
    fn new(source: Source) -> Self {
        Self {
            origin: source.origin(),
            source,
            open: None,
            started: false,
            reported: None,
        }
    }

    fn key(&self) -> String {
        self.source.path.to_string_lossy().into_owned()
    }

    /// Picks up where the last run stopped (see the module docs).
    fn start(
        &mut self,
        tail: &mut Tail<'_>,
        n: &mut Notifier,
        stop: &Shutdown,
    ) -> anyhow::Result<()> {
        let saved = load_offset(tail.ingestor.db(), &self.key())?;
        let current = identity_at(&self.source.path)?;
        match (saved, current) {
            (None, Some(_)) => {
                let file = File::open(&self.source.path)?;
                let id = identity(&file)?;
                let offset = end_of_last_line(&file)?;
                self.switch_to(tail.ingestor.db(), file, id, offset)?;
            }
            // Not there yet: remember that we waited, so it is read from its start.
            (None, None) => save_offset(tail.ingestor.db(), &self.key(), (0, 0), 0)?,
            (Some((id, offset)), Some(now)) if id == now => {
                let file = File::open(&self.source.path)?;
                self.open = Some(Open {
                    id: identity(&file)?,
                    file,
                    offset,
                });
            }
            (Some((id, offset)), current) => {
                // Rotated (or removed) while we were down: finish the old file if it is
                // still beside the path, then the path's file is new and read from 0.
                if let Some(file) = find_by_identity(&self.source.path, id) {
                    tracing::info!(event = "ingest_log_rotated", path = %self.source.path.display(), "{} was rotated while the tailer was stopped; finishing the old file", self.source.path.display());
                    self.open = Some(Open { file, id, offset });
                    self.drain(tail, n, stop)?;
                }
                // With no file at the path yet, keep following the old one until it comes.
                if current.is_some() {
                    self.open = None;
                    self.open_from_start(tail.ingestor.db())?;
                }
            }
        }
        Ok(())
    }

    fn switch_to(
        &mut self,
        db: &Connection,
        file: File,
        id: Identity,
        offset: u64,
    ) -> anyhow::Result<()> {
        save_offset(db, &self.key(), id, offset)?;
        self.open = Some(Open { file, id, offset });
        Ok(())
    }

    fn open_from_start(&mut self, db: &Connection) -> anyhow::Result<()> {
        let file = File::open(&self.source.path)?;
        let id = identity(&file)?;
        self.switch_to(db, file, id, 0)
    }

    /// One look at the file: rotation, truncation, new lines.
    fn poll(
        &mut self,
        tail: &mut Tail<'_>,
        n: &mut Notifier,
        stop: &Shutdown,
    ) -> anyhow::Result<()> {
        if !self.started {
            self.start(tail, n, stop)?;
            self.started = true;
        }
        let key = self.key();
        let current = match identity_at(&self.source.path) {
            Ok(c) => c,
            Err(e) => {
                self.problem(
                    "ingest_log_unreadable",
                    &format!("cannot stat {}: {e}", self.source.path.display()),
                );
                // Keep reading a file we already hold; nothing else to do until it clears.
                return self.drain(tail, n, stop);
            }
        };
        let Some(open) = &mut self.open else {
            if current.is_none() {
                self.problem(
                    "ingest_log_waiting",
                    &format!("waiting for {} to appear", self.source.path.display()),
                );
                return Ok(());
            }
            // It appeared after we started (or after a rotation left a gap): all new.
            self.open_from_start(tail.ingestor.db())?;
            self.reported = None;
            return self.drain(tail, n, stop);
        };
        if current.is_some_and(|c| c != open.id) {
            // Rotated: what was written to the old file before the rename comes first.
            self.drain(tail, n, stop)?;
            tracing::info!(event = "ingest_log_rotated", path = %self.source.path.display(), "{} was rotated; following the new file", self.source.path.display());
            self.open = None;
            self.open_from_start(tail.ingestor.db())?;
        } else if was_truncated(open)? {
            tracing::info!(event = "ingest_log_truncated", path = %self.source.path.display(), offset = open.offset, "{} was truncated; reading it from the start", self.source.path.display());
            open.offset = 0;
            save_offset(tail.ingestor.db(), &key, open.id, 0)?;
        }
        // A missing path is a rotation in progress: keep reading the old file meanwhile.
        self.reported = None;
        self.drain(tail, n, stop)
    }

    /// Reads complete lines from the offset to the end of the open file, reporting the
    /// matching ones and saving the offset after each batch.
    fn drain(
        &mut self,
        tail: &mut Tail<'_>,
        n: &mut Notifier,
        stop: &Shutdown,
    ) -> anyhow::Result<()> {
        let key = self.key();
        let Some(open) = &mut self.open else {
            return Ok(());
        };
        // Most polls find nothing new: skip the buffer then.
        if open.file.metadata()?.len() <= open.offset {
            return Ok(());
        }
        let mut buf = vec![0u8; BATCH];
        while !stop.requested() {
            n.keepalive();
            let len = read_full(&open.file, &mut buf, open.offset)?;
            let chunk = &buf[..len];
            let complete = match chunk.iter().rposition(|b| *b == b'\n') {
                Some(last) => last + 1,
                // A full buffer without a newline: cut the overlong line here.
                None if len == BATCH => len,
                None => return Ok(()),
            };
            let mut done = 0;
            let mut result = Ok(());
            for line in chunk[..complete].split_inclusive(|b| *b == b'\n') {
                if let Err(e) = report_line(&self.source, &self.origin, tail, line) {
                    result = Err(e);
                    break;
                }
                done += line.len();
            }
            // Save what was handled even when a report failed; that line is retried.
            open.offset += done as u64;
            save_offset(tail.ingestor.db(), &key, open.id, open.offset)?;
            result?;
        }
        Ok(())
    }

    /// Logs a problem once (until it changes or goes away); the tailer keeps polling.
    fn problem(&mut self, event: &'static str, message: &str) {
        if self.reported.as_deref() != Some(message) {
            if event == "ingest_log_waiting" {
                tracing::info!(event, path = %self.source.path.display(), "{message}");
            } else {
                tracing::warn!(event, path = %self.source.path.display(), "{message}");
            }
            self.reported = Some(message.to_string());
        }
    }
}

/// Files one line if it matches. A report refused as a client error (say, a repo key that
/// cannot be used) is logged and skipped: retrying it could never succeed.
fn report_line(
    source: &Source,
    origin: &str,
    tail: &mut Tail<'_>,
    line: &[u8],
) -> anyhow::Result<()> {
    let text = String::from_utf8_lossy(line);
    let text = text.trim();
    if text.is_empty() || !source.regex.is_match(text) {
        return Ok(());
    }
    let report = Report {
        repo_key: Some(&source.repo_key),
        text,
        window: Some(source.window),
        origin,
    };
    match tail.ingestor.submit(&report) {
        Ok(s) => {
            if s.duplicate {
                tail.stats.duplicates += 1;
            } else {
                tail.stats.created += 1;
            }
            tail.stats.last_task = Some(s.task_id);
            Ok(())
        }
        Err(e) if e.is_client_error() => {
            tracing::warn!(event = "ingest_rejected", origin, "line not ingested: {e}");
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// Reads from `offset` until `buf` is full or the file ends.
fn read_full(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut len = 0;
    while len < buf.len() {
        match file.read_at(&mut buf[len..], offset + len as u64) {
            Ok(0) => break,
            Ok(k) => len += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(len)
}

/// Shorter than our offset, or the byte before it is no longer the newline we stopped
/// after (truncated and already written past the old offset again).
fn was_truncated(open: &Open) -> io::Result<bool> {
    let size = open.file.metadata()?.len();
    if size < open.offset {
        return Ok(true);
    }
    if open.offset == 0 {
        return Ok(false);
    }
    let mut byte = [0u8; 1];
    Ok(open.file.read_at(&mut byte, open.offset - 1)? == 1 && byte[0] != b'\n')
}

/// The offset just after the last newline: a half-written last line is read once complete.
fn end_of_last_line(file: &File) -> io::Result<u64> {
    let size = file.metadata()?.len();
    let mut end = size;
    let mut buf = vec![0u8; 64 * 1024];
    while end > 0 {
        let start = end.saturating_sub(buf.len() as u64);
        let len = (end - start) as usize;
        file.read_exact_at(&mut buf[..len], start)?;
        if let Some(last) = buf[..len].iter().rposition(|b| *b == b'\n') {
            return Ok(start + last as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

fn identity(file: &File) -> io::Result<Identity> {
    let meta = file.metadata()?;
    Ok((meta.dev(), meta.ino()))
}

/// The identity of the file at `path` now; None when there is none.
fn identity_at(path: &Path) -> io::Result<Option<Identity>> {
    match std::fs::metadata(path) {
        Ok(meta) => Ok(Some((meta.dev(), meta.ino()))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// A file beside `path` with the given identity (`app.log.1` after a rotation).
fn find_by_identity(path: &Path, id: Identity) -> Option<File> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .filter(|e| {
            e.metadata()
                .is_ok_and(|m| m.is_file() && (m.dev(), m.ino()) == id)
        })
        .find_map(|e| File::open(e.path()).ok())
}

fn load_offset(db: &Connection, path: &str) -> rusqlite::Result<Option<(Identity, u64)>> {
    db.query_row(
        "SELECT device, inode, offset FROM log_offsets WHERE path = ?1",
        [path],
        |r| {
            // SQLite integers are signed; the bits round-trip.
            let (dev, ino, offset): (i64, i64, i64) = (r.get(0)?, r.get(1)?, r.get(2)?);
            Ok(((dev as u64, ino as u64), offset as u64))
        },
    )
    .optional()
}

fn save_offset(db: &Connection, path: &str, id: Identity, offset: u64) -> rusqlite::Result<()> {
    db.execute(
        "INSERT INTO log_offsets (path, device, inode, offset, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (path) DO UPDATE SET device = excluded.device, inode = excluded.inode,
             offset = excluded.offset, updated_at = excluded.updated_at",
        params![path, id.0 as i64, id.1 as i64, offset as i64, crate::store::now()],
    )?;
    Ok(())
}
