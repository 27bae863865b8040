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

impl PlaneError {
    pub fn is_auth(&self) -> bool {
        matches!(self, PlaneError::Auth { .. })
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
