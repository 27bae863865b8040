//! The fake's project: work items, comments, states and labels, and the view logic of each
//! route (validation, PATCH semantics, 409 dedup), per shared/testdata/plane/README.md.

use serde_json::{Map, Value};

pub use super::rows::{Comment, Item, Label, StateRow};
use super::rows::{PRIORITIES, SEED_STATES};
use super::wire::{self, Reply, iso, new_id, now_micros, param, sanitise, wrap_description};

pub const WORKSPACE_SLUG: &str = "oc-demo";
pub const WORKSPACE_ID: &str = "8f4b2a6e-1c3d-4e5f-a6b7-c8d9e0f1a2b3";
pub const PROJECT_ID: &str = "2d7c9e41-5a3b-4c6d-8e9f-0a1b2c3d4e5f";
/// The API key's owner, stamped as creator/actor of everything made through the API.
pub const BOT_USER: &str = "b1c2d3e4-f5a6-4b7c-8d9e-0f1a2b3c4d5e";

pub struct World {
    pub items: Vec<Item>,
    pub states: Vec<StateRow>,
    pub labels: Vec<Label>,
    pub comments: Vec<Comment>,
    next_sequence: i64,
}

impl Default for World {
    fn default() -> Self {
        let stamp = "2026-04-20T09:00:00.100000Z".to_string();
        let states = SEED_STATES
            .iter()
            .map(|(id, name, group, sequence, color)| StateRow {
                id: id.to_string(),
                created_at: stamp.clone(),
                updated_at: stamp.clone(),
                deleted_at: None,
                name: name.to_string(),
                description: String::new(),
                color: color.to_string(),
                slug: slugify(name),
                sequence: *sequence,
                group: group.to_string(),
                is_triage: false,
                default: *name == "Backlog",
                external_source: None,
                external_id: None,
                created_by: BOT_USER.to_string(),
                updated_by: None,
                project: PROJECT_ID.to_string(),
                workspace: WORKSPACE_ID.to_string(),
            })
            .collect();
        Self {
            items: Vec::new(),
            states,
            labels: Vec::new(),
            comments: Vec::new(),
            next_sequence: 1,
        }
    }
}

/// `GET users/me/`: the key's owner (`UserLiteSerializer` fields).
pub fn me() -> Value {
    serde_json::json!({
        "id": BOT_USER,
        "first_name": "OC",
        "last_name": "Bot",
        "email": "oc-bot@example.com",
        "avatar": "",
        "avatar_url": null,
        "display_name": "oc-bot",
    })
}

/// The one project of the workspace, as `GET workspaces/{slug}/projects/` lists it (the
/// fields a client may look at; Plane sends many more).
pub fn project() -> Value {
    serde_json::json!({
        "id": PROJECT_ID,
        "name": "Operations Center Demo",
        "identifier": "OC",
        "workspace": WORKSPACE_ID,
        "network": 2,
        "is_member": true,
        "created_at": "2026-04-20T09:00:00.000000Z",
        "updated_at": "2026-04-20T09:00:00.000000Z",
    })
}

fn slugify(name: &str) -> String {
    name.to_lowercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join("-")
}

/// A string field of a JSON body: absent → None, null → Some(None).
fn opt_str(body: &Map<String, Value>, key: &str) -> Option<Option<String>> {
    body.get(key).map(|v| v.as_str().map(str::to_string))
}

fn field_error(field: &str, message: &str) -> Reply {
    Reply::json(400, &serde_json::json!({ field: [message] }))
}

fn valid_date(d: &str) -> bool {
    chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").is_ok()
}

impl World {
    /// Work items in list order (`-created_at`).
    pub fn items_ordered(&self) -> Vec<Item> {
        let mut items = self.items.clone();
        items.sort_by_key(|i| std::cmp::Reverse(i.created_us));
        items
    }

    /// Inserts an item directly (test seeding, no HTTP, no rate budget).
    pub fn seed_item(&mut self, name: &str, state_name: Option<&str>) -> Item {
        let state = state_name
            .and_then(|n| self.states.iter().find(|s| s.name.eq_ignore_ascii_case(n)))
            .map(|s| s.id.clone());
        let mut body = Map::new();
        body.insert("name".into(), Value::from(name));
        if let Some(s) = state {
            body.insert("state".into(), Value::from(s));
        }
        match self.insert_item(&body) {
            Ok(item) => item,
            Err(r) => panic!("seed failed: {}", r.body),
        }
    }

    pub fn list_items(&self, query: &[(String, String)]) -> Reply {
        if let (Some(eid), Some(esrc)) =
            (param(query, "external_id"), param(query, "external_source"))
        {
            return match self.items.iter().find(|i| {
                i.external_id.as_deref() == Some(eid) && i.external_source.as_deref() == Some(esrc)
            }) {
                Some(item) => Reply::json(200, item),
                None => Reply::not_found(),
            };
        }
        // The view applies `order_by` to the queryset (default `-created_at`); a field the
        // model lacks makes Django raise, which Plane answers with 500.
        let mut items = self.items_ordered();
        match param(query, "order_by").unwrap_or("-created_at") {
            "-created_at" => {}
            "created_at" => items.reverse(),
            "-updated_at" => items.sort_by_key(|i| std::cmp::Reverse(i.updated_us)),
            "updated_at" => items.sort_by_key(|i| i.updated_us),
            "sequence_id" => items.sort_by_key(|i| i.sequence_id),
            "-sequence_id" => items.sort_by_key(|i| std::cmp::Reverse(i.sequence_id)),
            _ => return Reply::error(500, "Something went wrong please try again later"),
        }
        wire::paginate(&items, query)
    }

    pub fn get_item(&self, id: &str) -> Reply {
        match self.items.iter().find(|i| i.id == id) {
            Some(item) => Reply::json(200, item),
            None => Reply::not_found(),
        }
    }

    pub fn create_item(&mut self, body: &Map<String, Value>) -> Reply {
        match self.insert_item(body) {
            Ok(item) => Reply::json(201, &item),
            Err(reply) => reply,
        }
    }

    fn insert_item(&mut self, body: &Map<String, Value>) -> Result<Item, Reply> {
        let name = match body.get("name").and_then(Value::as_str) {
            Some(n) if !n.trim().is_empty() => n.to_string(),
            _ => return Err(field_error("name", "This field is required.")),
        };
        let now = now_micros();
        let default_state = self.states.iter().find(|s| s.default).map(|s| s.id.clone());
        let mut item = Item {
            id: new_id(),
            type_id: None,
            created_at: iso(now),
            updated_at: iso(now),
            deleted_at: None,
            point: None,
            name,
            description_html: "<p></p>".into(),
            description_binary: None,
            priority: "none".into(),
            start_date: None,
            target_date: None,
            sequence_id: 0,
            sort_order: 65535.0,
            completed_at: None,
            archived_at: None,
            is_draft: false,
            external_source: None,
            external_id: None,
            created_by: BOT_USER.into(),
            updated_by: BOT_USER.into(),
            project: PROJECT_ID.into(),
            workspace: WORKSPACE_ID.into(),
            parent: None,
            state: default_state.unwrap_or_default(),
            estimate_point: None,
            kind: None,
            assignees: Vec::new(),
            labels: Vec::new(),
            created_us: now,
            updated_us: now,
        };
        self.apply(&mut item, body)?;
        // Validation first, then the dedup check (a bad body is 400 even when duplicated).
        if let (Some(eid), Some(esrc)) = (&item.external_id, &item.external_source)
            && let Some(existing) = self.items.iter().find(|i| {
                i.external_id.as_ref() == Some(eid) && i.external_source.as_ref() == Some(esrc)
            })
        {
            return Err(Reply::conflict(
                "Issue with the same external id and external source already exists",
                &existing.id,
            ));
        }
        item.sequence_id = self.next_sequence;
        self.next_sequence += 1;
        self.items.push(item.clone());
        Ok(item)
    }

    /// PATCH: partial; `labels`/`assignees` replace the whole set; a changed external pair
    /// that another item holds is 409 with the *patched* item's id.
    pub fn patch_item(&mut self, id: &str, body: &Map<String, Value>) -> Reply {
        let Some(pos) = self.items.iter().position(|i| i.id == id) else {
            return Reply::not_found();
        };
        let mut item = self.items[pos].clone();
        if let Err(reply) = self.apply(&mut item, body) {
            return reply;
        }
        let old = &self.items[pos];
        let pair_changed =
            item.external_id != old.external_id || item.external_source != old.external_source;
        if pair_changed
            && item.external_id.is_some()
            && self.items.iter().any(|i| {
                i.id != id
                    && i.external_id == item.external_id
                    && i.external_source == item.external_source
            })
        {
            return Reply::conflict(
                "Issue with the same external id and external source already exists",
                id,
            );
        }
        let stamp = now_micros();
        item.updated_at = iso(stamp);
        item.updated_us = stamp;
        item.updated_by = BOT_USER.into();
        self.items[pos] = item.clone();
        Reply::json(200, &item)
    }

    /// Validates and applies the writable fields of a create or PATCH body.
    fn apply(&self, item: &mut Item, body: &Map<String, Value>) -> Result<(), Reply> {
        if let Some(name) = body.get("name") {
            match name.as_str() {
                Some(n) if !n.trim().is_empty() => item.name = n.to_string(),
                _ => return Err(field_error("name", "This field may not be blank.")),
            }
        }
        if let Some(html) = opt_str(body, "description_html") {
            let html = html.unwrap_or_default();
            item.description_html = wrap_description(&sanitise(&html));
        }
        if let Some(priority) = opt_str(body, "priority") {
            let p = priority.unwrap_or_default();
            if !PRIORITIES.contains(&p.as_str()) {
                return Err(field_error(
                    "priority",
                    &format!("\"{p}\" is not a valid choice."),
                ));
            }
            item.priority = p;
        }
        if let Some(state) = opt_str(body, "state") {
            let state = state.unwrap_or_default();
            let Some(row) = self.states.iter().find(|s| s.id == state) else {
                return Err(Reply::error(
                    400,
                    "State is not valid please pass a valid state_id",
                ));
            };
            item.completed_at = (row.group == "completed").then(|| iso(now_micros()));
            item.state = state;
        }
        if let Some(labels) = body.get("labels") {
            let ids = id_list(labels, "labels")?;
            if let Some(bad) = ids
                .iter()
                .find(|id| !self.labels.iter().any(|l| &l.id == *id))
            {
                return Err(field_error(
                    "labels",
                    &format!("Invalid pk \"{bad}\" - object does not exist."),
                ));
            }
            item.labels = ids; // replaces the whole set
        }
        if let Some(assignees) = body.get("assignees") {
            item.assignees = id_list(assignees, "assignees")?;
        }
        for (key, slot) in [
            ("start_date", &mut item.start_date),
            ("target_date", &mut item.target_date),
        ] {
            if let Some(date) = opt_str(body, key) {
                if let Some(d) = &date
                    && !valid_date(d)
                {
                    return Err(field_error(
                        key,
                        "Date has wrong format. Use one of these formats instead: YYYY-MM-DD.",
                    ));
                }
                *slot = date;
            }
        }
        if let Some(v) = opt_str(body, "external_id") {
            item.external_id = v;
        }
        if let Some(v) = opt_str(body, "external_source") {
            item.external_source = v;
        }
        Ok(())
    }

    pub fn list_comments(&self, item_id: &str, query: &[(String, String)]) -> Reply {
        if !self.items.iter().any(|i| i.id == item_id) {
            return Reply::not_found();
        }
        let mut rows: Vec<Comment> = self
            .comments
            .iter()
            .filter(|c| c.issue == item_id)
            .cloned()
            .map(|mut c| {
                c.is_member = Some(true);
                c
            })
            .collect();
        rows.sort_by_key(|c| std::cmp::Reverse(c.created_us));
        wire::paginate(&rows, query)
    }

    pub fn create_comment(&mut self, item_id: &str, body: &Map<String, Value>) -> Reply {
        if !self.items.iter().any(|i| i.id == item_id) {
            return Reply::not_found();
        }
        let external_id = opt_str(body, "external_id").flatten();
        let external_source = opt_str(body, "external_source").flatten();
        // Project-wide check, not per work item.
        if let (Some(eid), Some(esrc)) = (&external_id, &external_source)
            && let Some(existing) = self.comments.iter().find(|c| {
                c.external_id.as_ref() == Some(eid) && c.external_source.as_ref() == Some(esrc)
            })
        {
            return Reply::conflict(
                "Work item comment with the same external id and external source already exists",
                &existing.id,
            );
        }
        let now = now_micros();
        let html = opt_str(body, "comment_html").flatten().unwrap_or_default();
        let comment = Comment {
            id: new_id(),
            is_member: None,
            created_at: iso(now),
            updated_at: iso(now),
            deleted_at: None,
            comment_html: sanitise(&html),
            attachments: Vec::new(),
            access: opt_str(body, "access")
                .flatten()
                .unwrap_or("INTERNAL".into()),
            external_source,
            external_id,
            edited_at: None,
            created_by: BOT_USER.into(),
            updated_by: Some(BOT_USER.into()),
            project: PROJECT_ID.into(),
            workspace: WORKSPACE_ID.into(),
            description: new_id(),
            issue: item_id.into(),
            actor: BOT_USER.into(),
            parent: None,
            created_us: now,
        };
        self.comments.push(comment.clone());
        Reply::json(201, &comment)
    }

    pub fn list_states(&self, query: &[(String, String)]) -> Reply {
        let mut rows = self.states.clone();
        rows.sort_by(|a, b| a.sequence.total_cmp(&b.sequence));
        wire::paginate(&rows, query)
    }

    /// POST states/ answers 200, not 201 (documented).
    pub fn create_state(&mut self, body: &Map<String, Value>) -> Reply {
        let Some(name) = opt_str(body, "name").flatten().filter(|n| !n.is_empty()) else {
            return field_error("name", "This field is required.");
        };
        if let Some(s) = self.states.iter().find(|s| s.name == name) {
            return Reply::conflict(
                "State with the same name already exists in the project",
                &s.id,
            );
        }
        let stamp = iso(now_micros());
        let last = self.states.iter().map(|s| s.sequence).fold(0.0, f64::max);
        let row = StateRow {
            id: new_id(),
            created_at: stamp.clone(),
            updated_at: stamp,
            deleted_at: None,
            slug: slugify(&name),
            name,
            description: String::new(),
            color: opt_str(body, "color").flatten().unwrap_or("#000000".into()),
            sequence: last + 15000.0,
            group: opt_str(body, "group").flatten().unwrap_or("backlog".into()),
            is_triage: false,
            default: false,
            external_source: None,
            external_id: None,
            created_by: BOT_USER.into(),
            updated_by: None,
            project: PROJECT_ID.into(),
            workspace: WORKSPACE_ID.into(),
        };
        self.states.push(row.clone());
        Reply::json(200, &row)
    }

    pub fn list_labels(&self, query: &[(String, String)]) -> Reply {
        let mut rows = self.labels.clone();
        rows.sort_by_key(|l| std::cmp::Reverse(l.created_us));
        wire::paginate(&rows, query)
    }

    pub fn create_label(&mut self, body: &Map<String, Value>) -> Reply {
        let Some(name) = opt_str(body, "name").flatten().filter(|n| !n.is_empty()) else {
            return field_error("name", "This field is required.");
        };
        let external_id = opt_str(body, "external_id").flatten();
        let external_source = opt_str(body, "external_source").flatten();
        if let (Some(eid), Some(esrc)) = (&external_id, &external_source)
            && let Some(l) = self.labels.iter().find(|l| {
                l.external_id.as_ref() == Some(eid) && l.external_source.as_ref() == Some(esrc)
            })
        {
            return Reply::conflict(
                "Label with the same external id and external source already exists",
                &l.id,
            );
        }
        if let Some(l) = self.labels.iter().find(|l| l.name == name) {
            return Reply::conflict(
                "Label with the same name already exists in the project",
                &l.id,
            );
        }
        let now = now_micros();
        let label = Label {
            id: new_id(),
            created_at: iso(now),
            updated_at: iso(now),
            deleted_at: None,
            name,
            description: opt_str(body, "description").flatten().unwrap_or_default(),
            color: opt_str(body, "color").flatten().unwrap_or_default(),
            sort_order: 65535.0 + 10000.0 * self.labels.len() as f64,
            external_source,
            external_id,
            created_by: BOT_USER.into(),
            updated_by: None,
            workspace: WORKSPACE_ID.into(),
            project: PROJECT_ID.into(),
            parent: None,
            created_us: now,
        };
        self.labels.push(label.clone());
        Reply::json(201, &label)
    }
}

/// A JSON list of id strings, or a 400 naming the field.
fn id_list(value: &Value, field: &str) -> Result<Vec<String>, Reply> {
    let Some(list) = value.as_array() else {
        return Err(field_error(field, "Expected a list of items."));
    };
    list.iter()
        .map(|v| {
            v.as_str()
                .map(str::to_string)
                .ok_or_else(|| field_error(field, "Incorrect type."))
        })
        .collect()
}
