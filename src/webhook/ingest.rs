//! `POST /ingest` for `oc-ingest`: check the JSON, then hand the text to the ingest domain
//! (`crate::ingest::submit`), which dedups and creates the task.

use std::path::PathBuf;

use serde_json::{Value, json};

use crate::config::Config;
use crate::http::{Request, Response};

/// What a valid request carries.
#[derive(Debug, PartialEq, Eq)]
pub struct IngestRequest {
    pub text: String,
    pub repo_key: Option<String>,
}

/// `{"text": "...", "repo_key": "..."?}`; the error is the reason for a 400.
pub fn parse(body: &[u8]) -> Result<IngestRequest, String> {
    let value: Value = serde_json::from_slice(body).map_err(|e| format!("invalid JSON: {e}"))?;
    let Value::Object(object) = value else {
        return Err("the body must be a JSON object".into());
    };
    let text = match object.get("text") {
        None | Some(Value::Null) => return Err("missing `text`".into()),
        Some(Value::String(s)) if s.trim().is_empty() => return Err("`text` is empty".into()),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err("`text` must be a string".into()),
    };
    let repo_key = match object.get("repo_key") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) => Some(s.trim().to_string()),
        Some(_) => return Err("`repo_key` must be a string".into()),
    };
    Ok(IngestRequest { text, repo_key })
}

/// Handles `POST /ingest`.
pub struct IngestReceiver {
    config: Config,
    state_dir: PathBuf,
}

impl IngestReceiver {
    pub fn new(config: Config, state_dir: PathBuf) -> Self {
        Self { config, state_dir }
    }

    pub fn handle(&self, req: &Request) -> Response {
        let request = match parse(&req.body) {
            Ok(r) => r,
            Err(reason) => return Response::error(400, reason),
        };
        match crate::ingest::submit(
            &self.config,
            &self.state_dir,
            request.repo_key.as_deref(),
            &request.text,
        ) {
            Ok(submitted) if submitted.duplicate => Response::ok(
                200,
                json!({"task_id": submitted.task_id, "duplicate": true}),
            ),
            Ok(submitted) => Response::ok(201, json!({"task_id": submitted.task_id})),
            Err(e) if e.is_client_error() => Response::error(400, e.to_string()),
            Err(e) => {
                tracing::error!(event = "ingest_failed", "cannot ingest: {e}");
                Response::error(500, e.to_string())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_requests() {
        assert_eq!(
            parse(br#"{"text": "boom\nat x", "repo_key": "demo"}"#).unwrap(),
            IngestRequest {
                text: "boom\nat x".into(),
                repo_key: Some("demo".into())
            }
        );
        assert_eq!(parse(br#"{"text": "boom"}"#).unwrap().repo_key, None);
    }

    #[test]
    fn invalid_requests_say_why() {
        for (body, reason) in [
            (&b"{oops"[..], "invalid JSON"),
            (b"[\"text\"]", "JSON object"),
            (b"{}", "missing `text`"),
            (br#"{"text": "  "}"#, "empty"),
            (br#"{"text": 5}"#, "must be a string"),
            (
                br#"{"text": "x", "repo_key": 1}"#,
                "`repo_key` must be a string",
            ),
        ] {
            let err = parse(body).unwrap_err();
            assert!(err.contains(reason), "{err} lacks {reason}");
        }
    }
}
