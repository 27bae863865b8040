//! The parts of Plane's JSON bodies the client reads and writes. Unknown keys are ignored
//! and optional ones default, so a Plane upgrade that adds fields does not break parsing.

use serde::{Deserialize, Serialize};

/// Plane's cursor envelope (`utils/paginator.py`); only the keys the loop needs.
#[derive(Debug, Clone, Deserialize)]
pub struct Page<T> {
    #[serde(default)]
    pub next_cursor: Option<String>,
    #[serde(default)]
    pub next_page_results: bool,
    #[serde(default)]
    pub total_results: Option<u64>,
    pub results: Vec<T>,
}

/// One work item as `GET …/work-items/` returns it: foreign keys are bare UUIDs.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct WorkItem {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description_html: Option<String>,
    #[serde(default)]
    pub priority: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub labels: Vec<String>,
    #[serde(default)]
    pub start_date: Option<String>,
    #[serde(default)]
    pub target_date: Option<String>,
    #[serde(default)]
    pub external_id: Option<String>,
    #[serde(default)]
    pub external_source: Option<String>,
    #[serde(default)]
    pub sequence_id: Option<i64>,
    #[serde(default)]
    pub created_at: String,
    #[serde(default)]
    pub updated_at: String,
}

/// A workflow state of the project. Matched by name: several share the `started` group and
/// states made with the project have an empty slug.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct PlaneState {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub default: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct PlaneLabel {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct PlaneComment {
    pub id: String,
    #[serde(default)]
    pub comment_html: String,
    #[serde(default)]
    pub actor: Option<String>,
    #[serde(default)]
    pub created_by: Option<String>,
    #[serde(default)]
    pub external_id: Option<String>,
    #[serde(default)]
    pub external_source: Option<String>,
    #[serde(default)]
    pub created_at: String,
}

impl PlaneComment {
    /// The comment as Markdown-ish text (Plane stores HTML).
    pub fn text(&self) -> String {
        crate::board::html::html_to_text(&self.comment_html)
    }
}

/// An `external_source`/`external_id` pair: Plane answers 409 with the existing id when a
/// POST repeats one, which makes machine-created items and comments idempotent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct External {
    pub source: String,
    pub id: String,
}

impl External {
    pub fn new(source: impl Into<String>, id: impl Into<String>) -> Self {
        Self {
            source: source.into(),
            id: id.into(),
        }
    }
}

/// What a new work item needs. `description` is Markdown; labels are names (created on
/// demand); `state` is a state id.
#[derive(Debug, Clone, Default)]
pub struct NewWorkItem {
    pub name: String,
    pub description: String,
    pub state: Option<String>,
    pub labels: Vec<String>,
    pub priority: Option<String>,
    pub external: Option<External>,
}

/// A partial update: absent fields are left alone by Plane (`partial=True`). `labels`, when
/// present, REPLACES the whole set, so callers send the complete list of ids.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct WorkItemPatch {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description_html: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_date: Option<String>,
}

/// The outcome of a create: `adopted` when Plane answered 409 and the existing item was
/// taken instead of a new one.
#[derive(Debug, Clone)]
pub struct Created<T> {
    pub value: T,
    pub adopted: bool,
}

/// What the client has seen of Plane's budget: every HTTP attempt is counted, and the
/// `X-RateLimit-*` headers of the last allowed response are kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RateStats {
    /// HTTP requests sent, retries included.
    pub requests: u64,
    /// Requests that were answered 429.
    pub throttled: u64,
    /// Attempts that were retried (connect error, 429, 502/503/504).
    pub retries: u64,
    /// `X-RateLimit-Remaining` of the last response that carried it.
    pub remaining: Option<u64>,
    /// `X-RateLimit-Reset` (Unix seconds) of the last response that carried it.
    pub reset: Option<i64>,
}
