//! The fake's rows, with each serializer's keys in Plane's order (serde keeps struct field
//! order; serde_json's map would sort them), as in the shared/testdata/plane/ examples.

use serde::Serialize;

/// The 8 states of testdata/plane/states.json: (id, name, group, sequence, color).
pub const SEED_STATES: [(&str, &str, &str, f64, &str); 8] = [
    (
        "0a4d5c6e-7f80-4192-a3b4-c5d6e7f8a901",
        "Backlog",
        "backlog",
        15000.0,
        "#60646C",
    ),
    (
        "1b5e6d7f-8091-42a3-b4c5-d6e7f8a9b012",
        "Ready for AI",
        "unstarted",
        25000.0,
        "#3F76FF",
    ),
    (
        "2c6f7e80-91a2-43b4-c5d6-e7f8a9b0c123",
        "Running",
        "started",
        35000.0,
        "#F59E0B",
    ),
    (
        "3d708f91-a2b3-44c5-d6e7-f8a9b0c1d234",
        "Review",
        "started",
        37500.0,
        "#8B5CF6",
    ),
    (
        "4e8190a2-b3c4-45d6-e7f8-a9b0c1d2e345",
        "In Review",
        "started",
        40000.0,
        "#6366F1",
    ),
    (
        "5f92a1b3-c4d5-46e7-f8a9-b0c1d2e3f456",
        "Blocked",
        "started",
        42500.0,
        "#EF4444",
    ),
    (
        "60a3b2c4-d5e6-47f8-a9b0-c1d2e3f4a567",
        "Done",
        "completed",
        45000.0,
        "#46A758",
    ),
    (
        "71b4c3d5-e6f7-48a9-b0c1-d2e3f4a5b678",
        "Cancelled",
        "cancelled",
        55000.0,
        "#9AA4BC",
    ),
];

pub const PRIORITIES: [&str; 5] = ["urgent", "high", "medium", "low", "none"];

/// A work item with the serializer's keys in its order (testdata/plane/work_item.json).
#[derive(Debug, Clone, Serialize)]
pub struct Item {
    pub id: String,
    pub type_id: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub deleted_at: Option<String>,
    pub point: Option<i64>,
    pub name: String,
    pub description_html: String,
    pub description_binary: Option<String>,
    pub priority: String,
    pub start_date: Option<String>,
    pub target_date: Option<String>,
    pub sequence_id: i64,
    pub sort_order: f64,
    pub completed_at: Option<String>,
    pub archived_at: Option<String>,
    pub is_draft: bool,
    pub external_source: Option<String>,
    pub external_id: Option<String>,
    pub created_by: String,
    pub updated_by: String,
    pub project: String,
    pub workspace: String,
    pub parent: Option<String>,
    pub state: String,
    pub estimate_point: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub assignees: Vec<String>,
    pub labels: Vec<String>,
    #[serde(skip)]
    pub created_us: i64,
    #[serde(skip)]
    pub updated_us: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct StateRow {
    pub id: String,
    pub created_at: String,
    pub updated_at: String,
    pub deleted_at: Option<String>,
    pub name: String,
    pub description: String,
    pub color: String,
    pub slug: String,
    pub sequence: f64,
    pub group: String,
    pub is_triage: bool,
    pub default: bool,
    pub external_source: Option<String>,
    pub external_id: Option<String>,
    pub created_by: String,
    pub updated_by: Option<String>,
    pub project: String,
    pub workspace: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Label {
    pub id: String,
    pub created_at: String,
    pub updated_at: String,
    pub deleted_at: Option<String>,
    pub name: String,
    pub description: String,
    pub color: String,
    pub sort_order: f64,
    pub external_source: Option<String>,
    pub external_id: Option<String>,
    pub created_by: String,
    pub updated_by: Option<String>,
    pub workspace: String,
    pub project: String,
    pub parent: Option<String>,
    #[serde(skip)]
    pub created_us: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Comment {
    pub id: String,
    /// Present in GET lists, absent from the POST 201 body (observed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_member: Option<bool>,
    pub created_at: String,
    pub updated_at: String,
    pub deleted_at: Option<String>,
    pub comment_html: String,
    pub attachments: Vec<String>,
    pub access: String,
    pub external_source: Option<String>,
    pub external_id: Option<String>,
    pub edited_at: Option<String>,
    pub created_by: String,
    pub updated_by: Option<String>,
    pub project: String,
    pub workspace: String,
    pub description: String,
    pub issue: String,
    pub actor: String,
    pub parent: Option<String>,
    #[serde(skip)]
    pub created_us: i64,
}
