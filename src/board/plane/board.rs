//! The Plane board behind the [`Board`] trait. Reads come from the local mirror (see
//! [`super::mirror`]); writes go to Plane and then into the mirror, so every lane on the
//! host sees them at once. Claims follow the protocol in [`super::claim`].

use std::path::Path;
use std::time::Duration;

use rusqlite::Connection;

use super::claim;
use super::error::PlaneError;
use super::mirror::{self, Mirrored};
use super::outbox::{self, Write};
use super::types::{External, NewWorkItem, WorkItem};
use super::{PlaneClient, RetryPolicy};
use crate::board::description::depends_on_ids;
use crate::board::{
    Board, BoardError, BoardResult, Claim, ClaimRequest, Comment, NewTask, State, Task,
};
use crate::config::{BoardConfig, ConfigError};
use crate::store::{self, now, runs};

/// `external_source` of everything the suite creates on Plane (items, claim markers).
pub const EXTERNAL_SOURCE: &str = "operations-center";
/// A claim held by a run this host does not know is stale only after this long.
const FOREIGN_CLAIM_TTL_SECS: i64 = 120 * 60;
/// How long one sync may hold the lease before another process may take over.
const SYNC_LEASE_SECS: i64 = 300;
/// Items updated this long before the watermark are read again by an incremental sync:
/// Plane stamps `updated_at` before its transaction commits, so a write can become
/// visible after a later one.
const SYNC_OVERLAP_US: i64 = 5_000_000;
/// Pause between the pages of a periodic full re-read, so that 50 pages (a 5,000-item
/// board) take about 30 requests a minute instead of one burst over Plane's 60/min.
const FULL_RESYNC_PAGE_GAP: Duration = Duration::from_secs(2);

#[derive(Debug, Clone)]
pub struct PlaneSettings {
    pub sync_interval_secs: i64,
    pub full_resync_secs: i64,
    pub claim_settle: Duration,
}

impl PlaneSettings {
    pub fn from_config(board: &BoardConfig) -> Self {
        Self {
            sync_interval_secs: board.sync_interval_seconds as i64,
            full_resync_secs: board.full_resync_seconds.max(1) as i64,
            claim_settle: Duration::from_millis(board.claim_settle_ms),
        }
    }
}

pub struct PlaneBoard {
    client: PlaneClient,
    conn: Connection,
    settings: PlaneSettings,
    project: String,
    /// Lease holder name: host and pid.
    holder: String,
    /// Mirror only, no requests (the janitor, which runs without network).
    offline: bool,
}

/// An item converted for the mirror, ready to store.
struct Converted {
    task: Task,
    state: Option<State>,
    plane_state: String,
    sequence_id: Option<i64>,
}

/// What one sync did, for `oc plane sync` and the log.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct SyncReport {
    pub full: bool,
    pub items_read: usize,
    pub removed: usize,
    pub pages: usize,
}

impl PlaneBoard {
    /// Opens the Plane board for `config` with the key read by [`api_key`].
    pub fn open(
        board: &BoardConfig,
        key: &str,
        key_from: &str,
        state_dir: &Path,
    ) -> anyhow::Result<Self> {
        let client = PlaneClient::new(
            board.base_url.as_deref().unwrap_or_default(),
            board.workspace_slug.as_deref().unwrap_or_default(),
            board.project_id.as_deref().unwrap_or_default(),
            key,
        )?
        .with_key_from(key_from);
        Self::with_client(client, board, state_dir)
    }

    pub fn with_client(
        client: PlaneClient,
        board: &BoardConfig,
        state_dir: &Path,
    ) -> anyhow::Result<Self> {
        let conn = store::open(state_dir)?;
        let project = format!(
            "{}/{}/{}",
            board
                .base_url
                .as_deref()
                .unwrap_or_default()
                .trim_end_matches('/'),
            board.workspace_slug.as_deref().unwrap_or_default(),
            board.project_id.as_deref().unwrap_or_default()
        );
        if mirror::reset_if_other_project(&conn, &project)? {
            tracing::info!(event = "plane_mirror_reset", project = %project, "board project changed: mirror cleared");
        }
        Ok(Self {
            client,
            conn,
            settings: PlaneSettings::from_config(board),
            project,
            holder: format!(
                "{}:{}",
                crate::daemon::procs::hostname(),
                std::process::id()
            ),
            offline: false,
        })
    }

    /// The mirror alone: reads what the lanes last synced and never calls Plane (no key
    /// needed). An item missing from the mirror is an error, never "not found".
    pub fn open_offline(board: &BoardConfig, state_dir: &Path) -> anyhow::Result<Self> {
        let client = PlaneClient::new(
            board.base_url.as_deref().unwrap_or_default(),
            board.workspace_slug.as_deref().unwrap_or_default(),
            board.project_id.as_deref().unwrap_or_default(),
            "",
        )?;
        let mut this = Self::with_client(client, board, state_dir)?;
        this.offline = true;
        Ok(this)
    }

    pub fn with_retry(mut self, policy: RetryPolicy) -> Self {
        self.client = self.client.with_retry(policy);
        self
    }

    pub fn client(&self) -> &PlaneClient {
        &self.client
    }

    /// Runs one client call and counts its requests in the state database, where every
    /// process on the host adds to the same per-minute total.
    pub(super) fn metered<T>(
        &self,
        f: impl FnOnce(&PlaneClient) -> Result<T, PlaneError>,
    ) -> BoardResult<T> {
        if self.offline {
            return Err(BoardError::Other(
                "the Plane board is opened offline (local mirror only)".into(),
            ));
        }
        let before = self.client.stats();
        let result = f(&self.client);
        let after = self.client.stats();
        if let Err(e) = mirror::record_requests(&self.conn, &before, &after) {
            tracing::warn!(event = "plane_meter_failed", error = %e, "cannot record Plane requests: {e}");
        }
        Ok(result?)
    }

    /// The item as a task, written into the mirror.
    pub(super) fn mirror_item(&self, item: &WorkItem) -> BoardResult<Task> {
        let converted = self.convert(item)?;
        self.store_converted(&converted)?;
        Ok(converted.task)
    }

    /// Label names and the suite state for an item (may ask Plane for the vocabulary, so
    /// it runs before any database transaction is opened).
    fn convert(&self, item: &WorkItem) -> BoardResult<Converted> {
        let task = self.metered(|c| c.to_task(item))?;
        let states = self.metered(|c| c.states())?;
        let plane_state = item
            .state
            .as_deref()
            .and_then(|id| states.all().iter().find(|s| s.id == id))
            .map(|s| s.name.clone())
            .unwrap_or_default();
        let state = item.state.as_deref().and_then(|id| states.state_of(id));
        Ok(Converted {
            // The task as lanes see it: an unknown Plane state reads as Backlog.
            task: Task {
                state: state.unwrap_or(State::Backlog),
                ..task
            },
            state,
            plane_state,
            sequence_id: item.sequence_id,
        })
    }

    fn store_converted(&self, c: &Converted) -> BoardResult<()> {
        mirror::upsert(
            &self.conn,
            &Mirrored {
                task: &c.task,
                state: c.state,
                plane_state: &c.plane_state,
                sequence_id: c.sequence_id,
            },
        )?;
        Ok(())
    }

    /// Writes a page in one IMMEDIATE transaction: the write lock is taken up front (a
    /// deferred read-then-write transaction fails when another process wrote meanwhile),
    /// and no HTTP request runs while it is held.
    fn store_page(&self, page: &[Converted]) -> BoardResult<()> {
        let tx = rusqlite::Transaction::new_unchecked(
            &self.conn,
            rusqlite::TransactionBehavior::Immediate,
        )?;
        for c in page {
            self.store_converted(c)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Moves an item on Plane and in the mirror; leaving Running ends this host's claim.
    pub(super) fn transition(&self, id: &str, state: State) -> BoardResult<Task> {
        let item = self.metered(|c| c.transition(id, state))?;
        let task = self.mirror_item(&item)?;
        if state != State::Running {
            mirror::clear_claim_mark(&self.conn, id)?;
        }
        Ok(task)
    }

    fn resolve(&self, reference: &str) -> BoardResult<String> {
        if let Some(id) = mirror::resolve(&self.conn, reference)? {
            return Ok(id);
        }
        if crate::board::looks_like_uuid(reference) {
            return Ok(reference.trim().to_ascii_lowercase());
        }
        Err(BoardError::NotFound(reference.to_string()))
    }

    /// `oc plane-sync`: delivers the outbox, then reads Plane into the mirror. Both are
    /// tried; the first error is returned with what was delivered.
    pub fn sync_all(&self, full: bool) -> (usize, BoardResult<SyncReport>) {
        let (delivered, flushed) = match self.flush_outbox() {
            Ok(n) => (n, Ok(())),
            Err(e) => (0, Err(e)),
        };
        let synced = self.sync_now(full);
        (delivered, flushed.and(synced))
    }

    /// Reads Plane into the mirror now: everything when `full` (or when the mirror is new
    /// or the full-resync period passed), else what changed since the last sync.
    pub fn sync_now(&self, full: bool) -> BoardResult<SyncReport> {
        let st = mirror::sync_state(&self.conn)?;
        let full =
            full || st.watermark_us == 0 || now() - st.last_full >= self.settings.full_resync_secs;
        let result = if full {
            // States and labels are re-read too: someone may have renamed or added one.
            self.client.forget_vocabulary();
            // The first read fills an empty mirror at once (lanes wait for it); later ones
            // are paced.
            let gap = if st.watermark_us == 0 {
                Duration::ZERO
            } else {
                FULL_RESYNC_PAGE_GAP
            };
            self.read_everything(gap)
        } else {
            self.read_changes(st.watermark_us)
        };
        match result {
            Ok((report, watermark)) => {
                mirror::finish_sync(&self.conn, &self.project, watermark, full, None)?;
                tracing::debug!(
                    event = "plane_sync",
                    full,
                    items = report.items_read,
                    pages = report.pages,
                    removed = report.removed
                );
                Ok(report)
            }
            Err(e) => {
                mirror::finish_sync(&self.conn, &self.project, 0, full, Some(&e.to_string()))?;
                Err(e)
            }
        }
    }

    /// Pages by `-updated_at` until items older than the watermark show up: one request
    /// when little changed, whatever the size of the board.
    fn read_changes(&self, watermark_us: i64) -> BoardResult<(SyncReport, i64)> {
        let floor = watermark_us - SYNC_OVERLAP_US;
        let mut report = SyncReport::default();
        let mut newest = watermark_us;
        let mut cursor: Option<String> = None;
        loop {
            let page = self.metered(|c| c.work_items_page("-updated_at", cursor.as_deref()))?;
            report.pages += 1;
            let mut reached_known = false;
            let mut changed = 0;
            let mut converted = Vec::with_capacity(page.results.len());
            for item in &page.results {
                let updated = mirror::micros(&item.updated_at);
                if updated < floor {
                    reached_known = true;
                    continue;
                }
                if mirror::updated_us(&self.conn, &item.id)? != Some(updated) {
                    changed += 1;
                }
                converted.push(self.convert(item)?);
                newest = newest.max(updated);
                report.items_read += 1;
            }
            self.store_page(&converted)?;
            crate::daemon::notify::ping();
            // A page of nothing new means the rest is known too (a bulk import that all
            // shares one timestamp must not be re-read on every sync).
            if changed == 0 {
                reached_known = true;
            }
            match page.next_cursor {
                Some(next) if page.next_page_results && !reached_known => cursor = Some(next),
                _ => break,
            }
        }
        Ok((report, newest))
    }

    /// Every item, every page; rows Plane no longer lists leave the mirror.
    fn read_everything(&self, gap: Duration) -> BoardResult<(SyncReport, i64)> {
        let mut report = SyncReport {
            full: true,
            ..Default::default()
        };
        let mut newest = 0;
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            if report.pages > 0 {
                crate::daemon::notify::sleep_alive(gap);
            }
            let page = self.metered(|c| c.work_items_page("-created_at", cursor.as_deref()))?;
            report.pages += 1;
            crate::daemon::notify::ping();
            let mut converted = Vec::with_capacity(page.results.len());
            for item in &page.results {
                converted.push(self.convert(item)?);
                newest = newest.max(mirror::micros(&item.updated_at));
                seen.push(item.id.clone());
            }
            self.store_page(&converted)?;
            match page.next_cursor {
                Some(next) if page.next_page_results && cursor.as_ref() != Some(&next) => {
                    cursor = Some(next)
                }
                _ => break,
            }
        }
        report.items_read = seen.len();
        report.removed = mirror::remove_missing(&self.conn, &seen)?;
        Ok((report, newest))
    }

    /// Delivers a write now, or keeps it in the outbox when Plane is unreachable (and
    /// behind earlier queued writes for the same item, so their order holds).
    pub(super) fn deliver(&self, id: &str, write: Write) -> BoardResult<bool> {
        if outbox::has_pending(&self.conn, id)? {
            outbox::push(&self.conn, id, &write, "queued behind earlier writes")?;
            return Ok(true);
        }
        match self.apply(id, &write) {
            Err(e) if e.is_transient() => {
                outbox::push(&self.conn, id, &write, &e.to_string())?;
                tracing::warn!(event = "plane_write_queued", task_id = %id, error = %e, "Plane unreachable: write to {id} kept for the next sync ({e})");
                Ok(true)
            }
            other => other,
        }
    }

    fn apply(&self, id: &str, write: &Write) -> BoardResult<bool> {
        match write {
            Write::Comment { body, external_id } => {
                let external = External::new(EXTERNAL_SOURCE, external_id.clone());
                self.metered(|c| c.create_comment(id, body, Some(&external)))?;
                Ok(true)
            }
            Write::Move { state } => {
                self.transition(id, *state)?;
                Ok(true)
            }
            Write::Release { run_id, state } => claim::release(self, id, run_id, *state),
        }
    }

    /// Replays queued writes in order; stops at the first that still cannot get through.
    pub fn flush_outbox(&self) -> BoardResult<usize> {
        let mut delivered = 0;
        for pending in outbox::pending(&self.conn)? {
            match self.apply(&pending.item_id, &pending.write) {
                Ok(_) => {
                    outbox::done(&self.conn, pending.seq)?;
                    delivered += 1;
                }
                Err(e) if e.is_transient() => {
                    outbox::failed(&self.conn, pending.seq, &e.to_string())?;
                    return Err(e);
                }
                Err(e) => {
                    // Refused for good (item deleted, state removed): say so, move on.
                    tracing::error!(event = "plane_write_dropped", task_id = %pending.item_id, write = ?pending.write, error = %e, "queued write to {} refused by Plane: {e}", pending.item_id);
                    outbox::done(&self.conn, pending.seq)?;
                }
            }
        }
        if delivered > 0 {
            tracing::info!(
                event = "plane_outbox_flushed",
                delivered,
                "delivered {delivered} queued write(s) to Plane"
            );
        }
        Ok(delivered)
    }

    /// Whether every `depends_on:` item is Done or Cancelled (per the mirror).
    fn dependencies_done(&self, description: &str) -> BoardResult<bool> {
        for dep in depends_on_ids(description) {
            let Some(id) = mirror::resolve(&self.conn, &dep)? else {
                // Not on this board (or not mirrored yet): not done.
                return Ok(false);
            };
            if !mirror::state_of(&self.conn, &id)?.is_some_and(State::is_terminal) {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

impl Board for PlaneBoard {
    fn conn(&self) -> &Connection {
        &self.conn
    }

    fn is_remote(&self) -> bool {
        true
    }

    fn sync(&self) -> BoardResult<()> {
        if self.offline {
            return Ok(());
        }
        // Queued writes go out on every cycle, not only when the mirror is due: an
        // outcome held back by an outage must reach Plane as soon as Plane is back. So
        // does a mirror still empty after a failed sync (nothing can be done without it).
        let queued = outbox::count(&self.conn)? > 0;
        let st = mirror::sync_state(&self.conn)?;
        let never_filled = st.items == 0 && st.last_error.is_some();
        let interval = if queued || never_filled {
            0
        } else {
            self.settings.sync_interval_secs
        };
        if !mirror::take_lease(&self.conn, &self.holder, interval, SYNC_LEASE_SECS)? {
            return Ok(());
        }
        let flushed = self.flush_outbox();
        let synced = self.sync_now(false).map(|_| ());
        flushed.and(synced)
    }

    fn add(&self, task: NewTask) -> BoardResult<Task> {
        let task = task.with_clean_title()?;
        let state = task.state.unwrap_or(State::ReadyForAi);
        let state_id = self.metered(|c| Ok(c.states()?.id_of(state)?.to_string()))?;
        let new = NewWorkItem {
            name: task.title,
            description: task.description,
            state: Some(state_id),
            labels: task.labels,
            priority: task.priority,
            external: task.external.map(|(source, id)| External::new(source, id)),
        };
        let created = self.metered(|c| c.create_work_item(&new))?;
        if created.adopted {
            tracing::info!(event = "plane_create_adopted", task_id = %created.value.id, "work item already existed (same external id): adopted");
        }
        self.mirror_item(&created.value)
    }

    fn get(&self, id: &str) -> BoardResult<Task> {
        let id = self.resolve(id)?;
        if let Some(task) = mirror::get(&self.conn, &id)? {
            return Ok(task);
        }
        let item = self.metered(|c| c.get_work_item(&id))?;
        self.mirror_item(&item)
    }

    fn list(&self, state: Option<State>) -> BoardResult<Vec<Task>> {
        Ok(mirror::list(&self.conn, state)?)
    }

    fn comments(&self, id: &str) -> BoardResult<Vec<Comment>> {
        let id = self.resolve(id)?;
        let mut comments = self.metered(|c| c.list_comments(&id))?;
        // Plane lists newest first; the board shows a conversation oldest first.
        comments.sort_by_key(|c| mirror::micros(&c.created_at));
        Ok(comments
            .into_iter()
            .map(|c| {
                let text = c.text();
                let (author, body) = if let Some((body, author)) = split_signature(&text) {
                    (author.to_string(), body.to_string())
                } else if c.external_source.as_deref() == Some(EXTERNAL_SOURCE) {
                    (EXTERNAL_SOURCE.to_string(), text)
                } else {
                    let user = c.actor.clone().or(c.created_by.clone()).unwrap_or_default();
                    (user, text)
                };
                Comment {
                    author,
                    body,
                    created_at: c.created_at.clone(),
                    id: c.id,
                }
            })
            .collect())
    }

    fn comment(&self, id: &str, author: &str, body: &str) -> BoardResult<()> {
        let id = self.resolve(id)?;
        // Comments are posted as the key's user; an operator's name goes into the text.
        let text = if author == EXTERNAL_SOURCE {
            body.to_string()
        } else {
            format!("{body}{SIGNATURE_START}{author}{SIGNATURE_END}")
        };
        // The external id makes a replay (retry, outbox) adopt instead of repeat.
        let write = Write::Comment {
            body: text,
            external_id: format!("comment:{}", crate::lanes::new_run_id()),
        };
        self.deliver(&id, write)?;
        Ok(())
    }

    fn move_to(&self, id: &str, state: State) -> BoardResult<()> {
        let id = self.resolve(id)?;
        self.deliver(&id, Write::Move { state })?;
        Ok(())
    }

    fn move_if(&self, id: &str, from: State, to: State) -> BoardResult<bool> {
        let id = self.resolve(id)?;
        // No compare-and-swap on Plane: read fresh, then write. Callers only use this for
        // re-queues, where a lost race is harmless (see docs/plane.md).
        let item = self.metered(|c| c.get_work_item(&id))?;
        if self.mirror_item(&item)?.state != from {
            return Ok(false);
        }
        self.transition(&id, to)?;
        Ok(true)
    }

    fn claim_next(&self, request: &ClaimRequest<'_>) -> BoardResult<Option<Claim>> {
        let mut attempts = 0;
        for (id, repo, description) in mirror::ready_candidates(&self.conn, request.kinds)? {
            if repo
                .as_ref()
                .is_some_and(|r| request.repos_over_budget.contains(r))
            {
                continue;
            }
            if description.contains("depends_on") && !self.dependencies_done(&description)? {
                continue;
            }
            attempts += 1;
            match claim::try_claim(self, &id, request.run) {
                Ok(Some(won)) => return Ok(Some(won)),
                Ok(None) => {}
                // Another lane's run took this repo's last daily execution: next task.
                Err(BoardError::OverBudget(crate::store::budget::Exhausted::Repo { .. })) => {
                    attempts -= 1;
                    continue;
                }
                Err(e) => return Err(e),
            }
            // Lost, or no longer Ready: the mirror now knows; try the next one, but do not
            // spend the whole budget in one cycle.
            if attempts >= claim::MAX_ATTEMPTS_PER_CYCLE {
                break;
            }
        }
        Ok(None)
    }

    fn claim(&self, id: &str, run: &runs::NewRun) -> BoardResult<Option<Claim>> {
        let id = self.resolve(id)?;
        claim::try_claim(self, &id, run)
    }

    fn release(&self, id: &str, run_id: &str, to: State) -> BoardResult<bool> {
        let write = Write::Release {
            run_id: run_id.to_string(),
            state: to,
        };
        self.deliver(id, write)
    }

    fn stale_running(&self, older_than: i64) -> BoardResult<Vec<Task>> {
        let foreign = older_than.min(now() - FOREIGN_CLAIM_TTL_SECS);
        Ok(mirror::stale_running(&self.conn, older_than, foreign)?)
    }
}

impl PlaneBoard {
    pub(super) fn settle(&self) -> Duration {
        self.settings.claim_settle
    }

    pub(super) fn conn_ref(&self) -> &Connection {
        &self.conn
    }
}

/// An operator's comment is posted by the key's user and signed in the text.
const SIGNATURE_START: &str = "\n\n— ";
const SIGNATURE_END: &str = " (via oc)";

/// (body, author) of a signed comment.
fn split_signature(text: &str) -> Option<(&str, &str)> {
    let rest = text.trim_end().strip_suffix(SIGNATURE_END)?;
    let at = rest.rfind(SIGNATURE_START)?;
    let author = &rest[at + SIGNATURE_START.len()..];
    (!author.is_empty() && !author.contains('\n')).then_some((&rest[..at], author))
}

/// The API key and where it came from (named in errors): the credential file when
/// `board.credential` is set, else the environment variable (default `PLANE_API_TOKEN`).
pub fn api_key(
    board: &BoardConfig,
    config_source: Option<&Path>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<(String, String), ConfigError> {
    let error = |origin: String, message: String| ConfigError {
        origin,
        position: None,
        message,
    };
    if let Some(name) = &board.credential {
        let path = match env("CREDENTIALS_DIRECTORY").filter(|d| !d.is_empty()) {
            Some(dir) => Path::new(&dir).join(format!("oc_{name}")),
            None => config_source
                .and_then(Path::parent)
                .unwrap_or(Path::new("/etc/operations-center"))
                .join("credentials")
                .join(name),
        };
        let text = std::fs::read_to_string(&path).map_err(|e| {
            error(
                path.display().to_string(),
                format!("cannot read the Plane API key (board.credential: {name}): {e}"),
            )
        })?;
        let key = text.trim().to_string();
        if key.is_empty() {
            return Err(error(
                path.display().to_string(),
                "the Plane API key file is empty".into(),
            ));
        }
        return Ok((key, format!("credential file {}", path.display())));
    }
    let var = board.api_token_env.as_deref().unwrap_or("PLANE_API_TOKEN");
    match env(var)
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
    {
        Some(key) => Ok((key, format!("env {var}"))),
        None => Err(error(
            "board".into(),
            format!(
                "board.backend is `plane` but the API key is missing: set the environment variable \
                 {var} (Profile Settings → Personal Access Tokens in Plane), or put the key in \
                 /etc/operations-center/credentials/<name> and set board.credential: <name>"
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_recognised() {
        use crate::board::looks_like_uuid;
        assert!(looks_like_uuid("2d7c9e41-5a3b-4c6d-8e9f-0a1b2c3d4e5f"));
        assert!(!looks_like_uuid("OC-12"));
        assert!(!looks_like_uuid("2d7c9e41x5a3b-4c6d-8e9f-0a1b2c3d4e5f"));
        // Dashes only where a UUID has them.
        assert!(!looks_like_uuid("2d7c9e4115a3b-4c6d-8e9f-0a1b2c3d4e5f"));
    }

    #[test]
    fn the_key_comes_from_the_credential_first_then_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("oc_plane-token"), "plane_api_x\n").unwrap();
        let mut board: BoardConfig = yaml_serde::from_str("{backend: plane}").unwrap();
        board.credential = Some("plane-token".into());
        let creds = dir.path().display().to_string();
        let (key, from) = api_key(&board, None, |n| {
            (n == "CREDENTIALS_DIRECTORY").then(|| creds.clone())
        })
        .unwrap();
        assert_eq!(key, "plane_api_x");
        assert!(from.contains("oc_plane-token"), "{from}");

        board.credential = None;
        board.api_token_env = Some("MY_PLANE".into());
        let (key, from) =
            api_key(&board, None, |n| (n == "MY_PLANE").then(|| "k2".into())).unwrap();
        assert_eq!((key.as_str(), from.as_str()), ("k2", "env MY_PLANE"));
        let err = api_key(&board, None, |_| None).unwrap_err();
        assert!(err.to_string().contains("MY_PLANE"), "{err}");
    }
}
