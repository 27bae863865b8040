//! Errors of the Plane client. None of them ever carries the API key: requests are named
//! by method and path only.

use crate::board::BoardError;

#[derive(Debug, thiserror::Error)]
pub enum PlaneError {
    /// 401 (no key sent) or 403 (key unknown, inactive or expired). Never retried: a bad key
    /// does not heal, and hammering Plane with it only burns the rate budget.
    #[error("{}", auth_message(*status, detail, key_from))]
    Auth {
        status: u16,
        detail: String,
        /// Where the key came from (for example `env PLANE_API_TOKEN`), named in the message.
        key_from: String,
    },
    /// 403 "no permission" although the key is valid: the workspace or project is wrong or
    /// out of the key user's reach. A configuration error (exit 78), not a bad key.
    #[error("{}", no_access_message(setting, value, workspace, detail))]
    NoAccess {
        /// `board.workspace_slug` or `board.project_id`.
        setting: &'static str,
        value: String,
        workspace: String,
        detail: String,
    },
    /// Still throttled (429) after the last attempt.
    #[error("Plane rate limit still exceeded after {attempts} attempts ({method} {path})")]
    RateLimited {
        method: String,
        path: String,
        attempts: u32,
    },
    /// Connect error or timeout after the last attempt.
    #[error("cannot reach Plane after {attempts} attempts ({method} {path}): {message}")]
    Transport {
        method: String,
        path: String,
        attempts: u32,
        message: String,
    },
    /// The resource does not exist (404).
    #[error("not found on Plane: {0}")]
    NotFound(String),
    /// Any other non-success answer, with Plane's body (`{"error": …}` or field errors).
    #[error("Plane answered {status} to {method} {path}: {body}")]
    Status {
        status: u16,
        method: String,
        path: String,
        body: String,
    },
    /// A success body that is not the JSON expected.
    #[error("unexpected Plane response to {method} {path}: {message}")]
    Decode {
        method: String,
        path: String,
        message: String,
    },
    /// The project lacks a state the suite needs.
    #[error(
        "the Plane project has no state named {0:?} (create it in the project settings, States)"
    )]
    MissingState(String),
    #[error("Plane client configuration: {0}")]
    Config(String),
}

fn auth_message(status: u16, detail: &str, key_from: &str) -> String {
    let cause = if status == 401 {
        "missing"
    } else {
        "not valid (unknown, inactive or expired)"
    };
    format!("the Plane API key is {cause} — check {key_from} (Plane answered {status}: {detail})")
}

fn no_access_message(setting: &str, value: &str, workspace: &str, detail: &str) -> String {
    let (what, fix) = if setting == "board.workspace_slug" {
        (
            format!("workspace {value:?}"),
            "the slug is the first part of the project's address in Plane (https://plane.example.com/<slug>/projects/<project_id>/…)",
        )
    } else {
        (
            format!("project {value:?} in workspace {workspace:?}"),
            "the id is the UUID after /projects/ in the project's address in Plane",
        )
    };
    format!(
        "{setting} is wrong or out of reach: the API key is valid, but Plane denies access to {what} \
         (no such {kind}, or the key's user is not a member of it or lacks the role for this request) — check {setting}: {fix} \
         (Plane answered 403: {detail})",
        kind = if setting == "board.workspace_slug" {
            "workspace"
        } else {
            "project"
        },
    )
}

impl PlaneError {
    pub fn is_auth(&self) -> bool {
        matches!(self, PlaneError::Auth { .. })
    }

    /// A wrong workspace or project: fix the configuration (exit 78), not the key.
    pub fn is_config(&self) -> bool {
        matches!(self, PlaneError::NoAccess { .. })
    }
}

impl From<PlaneError> for BoardError {
    fn from(e: PlaneError) -> Self {
        match e {
            PlaneError::NotFound(what) => BoardError::NotFound(what),
            other => BoardError::Plane(other),
        }
    }
}
