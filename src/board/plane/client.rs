//! The Plane REST v1 client (`work-items` endpoints only; the deprecated `/issues/` paths
//! are never used). Synchronous, like the lanes that call it.

use std::sync::Mutex;
use std::time::Duration;

use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::error::PlaneError;
use super::states::{LabelMap, StateMap};
use super::transport::{Replay, Reply, RetryPolicy, Transport};
use super::types::{
    Created, External, NewWorkItem, Page, PlaneComment, PlaneLabel, PlaneState, RateStats,
    WorkItem, WorkItemPatch,
};
use crate::board::html::{html_to_text, markdown_to_html};
use crate::board::{State, Task};

/// Page size for every list. Plane's own limit is 1000, its docs say 100; 100 is safe on
/// every version and keeps one page well under the request timeout.
pub const PER_PAGE: usize = 100;

pub struct PlaneClient {
    t: Transport,
    states: Mutex<Option<StateMap>>,
    labels: Mutex<Option<LabelMap>>,
}

impl std::fmt::Debug for PlaneClient {
    // Hand-written so the key can never reach a log through `{:?}`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlaneClient")
            .field("key_from", &self.t.key_from)
            .finish_non_exhaustive()
    }
}

type Result<T> = std::result::Result<T, PlaneError>;

impl PlaneClient {
    /// `base_url` is the instance root (`https://plane.example.com`; a trailing `/api/v1`
    /// is accepted too). An empty `api_key` sends no key, which Plane answers with 401.
    pub fn new(
        base_url: &str,
        workspace_slug: &str,
        project_id: &str,
        api_key: &str,
    ) -> Result<Self> {
        let base = base_url.trim().trim_end_matches('/');
        let base = base.strip_suffix("/api/v1").unwrap_or(base);
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(PlaneError::Config(format!(
                "base_url {base_url:?} must start with http:// or https://"
            )));
        }
        for (what, value) in [
            ("workspace_slug", workspace_slug),
            ("project_id", project_id),
        ] {
            if value.trim().is_empty() || value.contains('/') {
                return Err(PlaneError::Config(format!("{what} {value:?} is not valid")));
            }
        }
        Ok(Self {
            t: Transport::new(
                format!("{base}/api/v1/"),
                workspace_slug.trim(),
                project_id.trim(),
                api_key,
                Duration::from_secs(30),
            )?,
            states: Mutex::new(None),
            labels: Mutex::new(None),
        })
    }

    /// Names where the key came from (`env PLANE_API_TOKEN`, `credential plane-token`), for
    /// the message of [`PlaneError::Auth`].
    pub fn with_key_from(mut self, key_from: impl Into<String>) -> Self {
        self.t.key_from = key_from.into();
        self
    }

    pub fn with_retry(mut self, policy: RetryPolicy) -> Self {
        self.t.policy = policy;
        self
    }

    /// Requests sent and the last rate-limit headers seen.
    pub fn stats(&self) -> RateStats {
        self.t.stats()
    }

    pub fn request_count(&self) -> u64 {
        self.t.stats().requests
    }

    fn get<T: DeserializeOwned>(&self, path: &str, query: &[(&str, String)]) -> Result<T> {
        self.t
            .send(Method::GET, path, query, None, Replay::Safe)?
            .success()
    }

    /// Follows Plane's cursor to the end: stop on `next_page_results == false`, which is the
    /// documented signal (`next_cursor` is present even on the last page).
    fn list_all<T: DeserializeOwned>(&self, path: &str) -> Result<Vec<T>> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        // Bounded in case a server keeps saying "more" without moving the cursor.
        for _ in 0..100_000 {
            let mut query = vec![("per_page", PER_PAGE.to_string())];
            if let Some(c) = &cursor {
                query.push(("cursor", c.clone()));
            }
            let page: Page<T> = self.get(path, &query)?;
            out.extend(page.results);
            match page.next_cursor {
                Some(next) if page.next_page_results && cursor.as_ref() != Some(&next) => {
                    cursor = Some(next)
                }
                _ => return Ok(out),
            }
        }
        Ok(out)
    }

    // ---- access -----------------------------------------------------------------------

    /// The key's user (`users/me/`, which needs only the key): its display name.
    pub fn me(&self) -> Result<String> {
        let user: serde_json::Value = self.t.check_key()?.success()?;
        Ok(user
            .get("display_name")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string())
    }

    /// Whether the key's user can reach the workspace (else [`PlaneError::NoAccess`]
    /// naming `board.workspace_slug`).
    pub fn check_workspace(&self) -> Result<()> {
        self.t
            .check_workspace()?
            .success::<serde_json::Value>()
            .map(drop)
    }

    // ---- work items -------------------------------------------------------------------

    pub fn list_work_items(&self) -> Result<Vec<WorkItem>> {
        self.list_all("work-items/")
    }

    /// One page of work items in `order_by` order (`-updated_at` for incremental syncs).
    pub fn work_items_page(&self, order_by: &str, cursor: Option<&str>) -> Result<Page<WorkItem>> {
        let mut query = vec![
            ("per_page", PER_PAGE.to_string()),
            ("order_by", order_by.to_string()),
        ];
        if let Some(c) = cursor {
            query.push(("cursor", c.to_string()));
        }
        self.get("work-items/", &query)
    }

    /// Forgets the cached states and labels, so the next use reads them again.
    pub fn forget_vocabulary(&self) {
        *self.states.lock().unwrap_or_else(|p| p.into_inner()) = None;
        *self.labels.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    pub fn get_work_item(&self, id: &str) -> Result<WorkItem> {
        self.get(&format!("work-items/{id}/"), &[])
    }

    /// The item with this external pair, if any (Plane answers one object or 404).
    pub fn find_work_item(&self, external: &External) -> Result<Option<WorkItem>> {
        let query = [
            ("external_id", external.id.clone()),
            ("external_source", external.source.clone()),
        ];
        match self.get("work-items/", &query) {
            Ok(item) => Ok(Some(item)),
            Err(PlaneError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Creates a work item; the Markdown description is sent as HTML and label names are
    /// created on demand. With an external pair, a 409 adopts the existing item, so a
    /// retried or repeated create never makes a duplicate.
    pub fn create_work_item(&self, new: &NewWorkItem) -> Result<Created<WorkItem>> {
        let mut body = json!({
            "name": new.name,
            "description_html": markdown_to_html(&new.description),
        });
        if let Some(state) = &new.state {
            body["state"] = json!(state);
        }
        if !new.labels.is_empty() {
            body["labels"] = json!(self.label_ids(&new.labels)?);
        }
        if let Some(p) = &new.priority {
            body["priority"] = json!(p);
        }
        let replay = match &new.external {
            Some(ext) => {
                body["external_id"] = json!(ext.id);
                body["external_source"] = json!(ext.source);
                Replay::Safe
            }
            None => Replay::OnlyIfUnsent,
        };
        let reply = self
            .t
            .send(Method::POST, "work-items/", &[], Some(&body), replay)?;
        match adopt(reply)? {
            Adopt::New(reply) => Ok(Created {
                value: reply.json()?,
                adopted: false,
            }),
            Adopt::Existing(id) => Ok(Created {
                value: self.get_work_item(&id)?,
                adopted: true,
            }),
        }
    }

    /// A partial update. Remember: `labels`, when set, replaces the item's whole label set.
    pub fn patch_work_item(&self, id: &str, patch: &WorkItemPatch) -> Result<WorkItem> {
        let body = serde_json::to_value(patch).map_err(|e| PlaneError::Config(e.to_string()))?;
        self.t
            .send(
                Method::PATCH,
                &format!("work-items/{id}/"),
                &[],
                Some(&body),
                Replay::Safe,
            )?
            .success()
    }

    /// Moves an item to `state`, stamping `start_date` (today, UTC) when it starts Running
    /// and `target_date` when it lands in Review, In Review, Blocked or Done, as the
    /// original did.
    pub fn transition(&self, id: &str, state: State) -> Result<WorkItem> {
        let state_id = self.states()?.id_of(state)?.to_string();
        let today = chrono::Utc::now().date_naive().to_string();
        let mut patch = WorkItemPatch {
            state: Some(state_id),
            ..Default::default()
        };
        match state {
            State::Running => patch.start_date = Some(today),
            State::Review | State::InReview | State::Blocked | State::Done => {
                patch.target_date = Some(today)
            }
            _ => {}
        }
        self.patch_work_item(id, &patch)
    }

    /// Sets the item's labels to exactly `names` (created on demand).
    pub fn set_labels(&self, id: &str, names: &[String]) -> Result<WorkItem> {
        let patch = WorkItemPatch {
            labels: Some(self.label_ids(names)?),
            ..Default::default()
        };
        self.patch_work_item(id, &patch)
    }

    /// Replaces the description with Markdown rendered as HTML.
    pub fn set_description(&self, id: &str, markdown: &str) -> Result<WorkItem> {
        let patch = WorkItemPatch {
            description_html: Some(markdown_to_html(markdown)),
            ..Default::default()
        };
        self.patch_work_item(id, &patch)
    }

    /// The item as every lane sees it: label names, suite state, description as text.
    pub fn to_task(&self, item: &WorkItem) -> Result<Task> {
        let labels = self.label_names(&item.labels)?;
        let state = item
            .state
            .as_deref()
            .and_then(|id| self.states().ok()?.state_of(id))
            .unwrap_or(State::Backlog);
        Ok(Task {
            id: item.id.clone(),
            // Written by anyone with access to the project: made safe to print here, where
            // every item enters the suite (sync, get, create). The original stays on Plane.
            title: crate::board::title::clean(&item.name)
                .unwrap_or_else(|_| format!("(untitled Plane item {})", item.id)),
            state,
            labels,
            priority: item.priority.clone().filter(|p| p != "none"),
            description: html_to_text(item.description_html.as_deref().unwrap_or("")),
            created_at: item.created_at.clone(),
            updated_at: item.updated_at.clone(),
        })
    }

    // ---- comments ---------------------------------------------------------------------

    pub fn list_comments(&self, item_id: &str) -> Result<Vec<PlaneComment>> {
        self.list_all(&format!("work-items/{item_id}/comments/"))
    }

    /// Posts a Markdown comment as HTML; returns its id. With an external pair a repeat is
    /// answered 409 and the existing comment's id is adopted.
    pub fn create_comment(
        &self,
        item_id: &str,
        markdown: &str,
        external: Option<&External>,
    ) -> Result<Created<String>> {
        let mut body = json!({ "comment_html": markdown_to_html(markdown) });
        let replay = match external {
            Some(ext) => {
                body["external_id"] = json!(ext.id);
                body["external_source"] = json!(ext.source);
                Replay::Safe
            }
            None => Replay::OnlyIfUnsent,
        };
        let path = format!("work-items/{item_id}/comments/");
        match adopt(self.t.send(Method::POST, &path, &[], Some(&body), replay)?)? {
            Adopt::New(reply) => Ok(Created {
                value: reply.json::<PlaneComment>()?.id,
                adopted: false,
            }),
            Adopt::Existing(id) => Ok(Created {
                value: id,
                adopted: true,
            }),
        }
    }

    // ---- states and labels ------------------------------------------------------------

    pub fn list_states(&self) -> Result<Vec<PlaneState>> {
        self.list_all("states/")
    }

    /// The project's states, fetched once per client.
    pub fn states(&self) -> Result<StateMap> {
        let mut cache = self.states.lock().unwrap_or_else(|p| p.into_inner());
        if cache.is_none() {
            *cache = Some(StateMap::new(self.list_states()?));
        }
        Ok(cache.clone().unwrap_or_default())
    }

    pub fn list_labels(&self) -> Result<Vec<PlaneLabel>> {
        self.list_all("labels/")
    }

    /// Creates a label; a 409 (the name exists) adopts the existing one.
    pub fn create_label(&self, name: &str) -> Result<Created<PlaneLabel>> {
        let body = json!({ "name": name });
        // A duplicate name is answered 409, so a repeat is harmless.
        let reply = self
            .t
            .send(Method::POST, "labels/", &[], Some(&body), Replay::Safe)?;
        let created = match adopt(reply)? {
            Adopt::New(reply) => Created {
                value: reply.json()?,
                adopted: false,
            },
            Adopt::Existing(id) => Created {
                value: PlaneLabel {
                    id,
                    name: name.to_string(),
                },
                adopted: true,
            },
        };
        self.with_labels(false, |map| map.insert(created.value.clone()))?;
        Ok(created)
    }

    fn with_labels<R>(&self, refresh: bool, f: impl FnOnce(&mut LabelMap) -> R) -> Result<R> {
        let mut cache = self.labels.lock().unwrap_or_else(|p| p.into_inner());
        if refresh || cache.is_none() {
            *cache = Some(LabelMap::new(self.list_labels()?));
        }
        Ok(f(cache.get_or_insert_with(LabelMap::default)))
    }

    /// Label ids for `names`, creating the ones the project lacks.
    pub fn label_ids(&self, names: &[String]) -> Result<Vec<String>> {
        let mut ids = Vec::with_capacity(names.len());
        for name in names {
            let name = name.trim();
            let known = self.with_labels(false, |m| m.id_of(name).map(str::to_string))?;
            let id = match known {
                Some(id) => id,
                None => self.create_label(name)?.value.id,
            };
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        Ok(ids)
    }

    /// Label names for `ids`; an unknown id refreshes the cache once (someone added a label
    /// in the UI), and ids still unknown after that are left out.
    pub fn label_names(&self, ids: &[String]) -> Result<Vec<String>> {
        let lookup = |m: &mut LabelMap| -> Option<Vec<String>> {
            ids.iter()
                .map(|id| m.name_of(id).map(str::to_string))
                .collect()
        };
        if let Some(names) = self.with_labels(false, lookup)? {
            return Ok(names);
        }
        self.with_labels(true, |m| {
            ids.iter()
                .filter_map(|id| m.name_of(id).map(str::to_string))
                .collect()
        })
    }
}

enum Adopt {
    New(Reply),
    Existing(String),
}

/// 2xx → the new object; 409 with an `id` → that existing object; anything else → error.
fn adopt(reply: Reply) -> Result<Adopt> {
    if reply.is_success() {
        return Ok(Adopt::New(reply));
    }
    if reply.status == 409
        && let Some(id) = reply.conflict_id()
    {
        return Ok(Adopt::Existing(id));
    }
    Err(reply.into_error())
}
