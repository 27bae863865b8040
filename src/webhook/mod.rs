//! GitHub CI webhook: signature check, event recording, wake-ups; and the HTTP side of
//! error ingest (`ingest`), which shares the server core.

pub mod event;
mod event_log;
pub mod ingest;
pub mod signature;
pub mod trigger;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::json;

use crate::config::{CiWebhookConfig, ConfigError};
use crate::http::{Reply, Request, Response};
use trigger::Trigger;
use writer::EventWriter;

/// File name under `$CREDENTIALS_DIRECTORY` (LoadCredential=oc:/etc/operations-center/
/// credentials turns `credentials/webhook-secret` into `oc_webhook-secret`).
pub const SECRET_CREDENTIAL: &str = "oc_webhook-secret";
pub const SECRET_ENV: &str = "OPERATIONS_CENTER_WEBHOOK_SECRET";
pub const TRIGGER_ENV: &str = "OPERATIONS_CENTER_WEBHOOK_TRIGGER";

/// The webhook secret: the credential file first, then the environment. Without one the
/// receiver refuses to start (exit 78) unless `allow_unsigned` is set.
pub fn load_secret(
    config: &CiWebhookConfig,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<Vec<u8>>, ConfigError> {
    let error = |origin: String, message: String| ConfigError {
        origin,
        position: None,
        message,
    };
    if let Some(dir) = env("CREDENTIALS_DIRECTORY").filter(|d| !d.is_empty()) {
        let path = PathBuf::from(dir).join(SECRET_CREDENTIAL);
        match std::fs::read(&path) {
            Ok(mut bytes) => {
                // Files written with echo end in a newline that is not part of the secret.
                while bytes.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                    bytes.pop();
                }
                if bytes.is_empty() {
                    return Err(error(
                        path.display().to_string(),
                        "the webhook secret is empty".into(),
                    ));
                }
                return Ok(Some(bytes));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(error(
                    path.display().to_string(),
                    format!("cannot read: {e}"),
                ));
            }
        }
    }
    if let Some(secret) = env(SECRET_ENV).filter(|s| !s.is_empty()) {
        return Ok(Some(secret.into_bytes()));
    }
    if config.allow_unsigned {
        tracing::warn!(
            event = "ci_webhook_unsigned",
            "no webhook secret: accepting UNSIGNED deliveries (ci_webhook.allow_unsigned: true)"
        );
        return Ok(None);
    }
    Err(error(
        "ci_webhook".into(),
        format!(
            "no webhook secret: put it in /etc/operations-center/credentials/webhook-secret \
             (read through LoadCredential= as $CREDENTIALS_DIRECTORY/{SECRET_CREDENTIAL}) or in \
             the environment variable {SECRET_ENV}; or set ci_webhook.allow_unsigned: true \
             to accept unsigned deliveries"
        ),
    ))
}

/// What the checks decided: answer now, or record (event name, delivery id, event).
enum Step {
    Answer(Response),
    Record(&'static str, String, event::CiEvent),
}

/// Handles `POST /webhook`.
pub struct Receiver {
    secret: Option<Vec<u8>>,
    writer: EventWriter,
    trigger: Option<Trigger>,
}

impl Receiver {
    /// Opens the database up front so a broken state directory fails the start, not the
    /// first delivery.
    pub fn open(
        config: &CiWebhookConfig,
        state_dir: &Path,
        secret: Option<Vec<u8>>,
    ) -> anyhow::Result<Self> {
        let db = crate::store::open(state_dir)?;
        let trigger = Trigger::resolve(
            std::env::var(TRIGGER_ENV).ok(),
            config.trigger_command.as_ref(),
        );
        Ok(Self {
            secret,
            writer: EventWriter::start(db, crate::config::paths::runtime_dir(state_dir)),
            trigger,
        })
    }

    /// Handles a delivery, waiting for its commit (for a blocking caller).
    pub fn handle(&self, req: &Request) -> Response {
        match self.check(req) {
            Step::Answer(response) => response,
            Step::Record(name, delivery, event) => {
                let inserted = self.writer.record(&delivery, &event, crate::store::now());
                self.answer(name, &delivery, &event, inserted)
            }
        }
    }

    /// Handles a delivery without blocking the caller: verification and parsing happen
    /// now, the answer once the group commit holding the event is done.
    pub fn handle_nonblocking(self: &Arc<Self>, req: &Request) -> Reply {
        match self.check(req) {
            Step::Answer(response) => Reply::Now(response),
            Step::Record(name, delivery, event) => {
                let pending = self.writer.submit(&delivery, &event, crate::store::now());
                let receiver = Arc::clone(self);
                Reply::Later(Box::pin(async move {
                    let inserted = pending
                        .await
                        .unwrap_or_else(|_| Err(writer::STOPPED.to_string()));
                    receiver.answer(name, &delivery, &event, inserted)
                }))
            }
        }
    }

    /// Signature, event type and payload: either the answer, or an event to record.
    fn check(&self, req: &Request) -> Step {
        if let Some(secret) = &self.secret
            && let Err(e) = signature::verify(secret, &req.body, req.header(signature::HEADER))
        {
            tracing::warn!(
                event = "ci_webhook_unauthorized",
                reason = e.reason(),
                delivery = req.header("x-github-delivery").unwrap_or(""),
                "rejected delivery: {}",
                e.reason()
            );
            return Step::Answer(Response::error(401, e.reason()));
        }
        let Some(event) = req.header("x-github-event") else {
            return Step::Answer(Response::error(400, "missing X-GitHub-Event header"));
        };
        let name = match event {
            "ping" => {
                tracing::info!(
                    event = "ci_webhook_ping",
                    delivery = req.header("x-github-delivery").unwrap_or(""),
                    "ping from GitHub: the webhook is set up"
                );
                return Step::Answer(Response::ok(200, json!({"event": "ping"})));
            }
            "check_run" => "check_run",
            "check_suite" => "check_suite",
            other => {
                tracing::info!(
                    event = "ci_event_ignored",
                    github_event = other,
                    "ignored {other} event"
                );
                return Step::Answer(Response::ok(202, json!({"ignored": other})));
            }
        };
        let Some(delivery) = req
            .header("x-github-delivery")
            .filter(|d| !d.trim().is_empty())
        else {
            return Step::Answer(Response::error(400, "missing X-GitHub-Delivery header"));
        };
        match event::parse(name, &req.body) {
            Ok(e) => Step::Record(name, delivery.to_string(), e),
            Err(reason) => Step::Answer(Response::error(400, reason)),
        }
    }

    /// The answer once the event's commit is known; a newly recorded one starts the trigger.
    fn answer(
        &self,
        name: &str,
        delivery: &str,
        event: &event::CiEvent,
        inserted: Result<bool, String>,
    ) -> Response {
        match inserted {
            Err(e) => {
                tracing::error!(
                    event = "ci_event_store_failed",
                    delivery,
                    "cannot record the event: {e}"
                );
                Response::error(500, "cannot record the event")
            }
            // The writer logged the commit (see event_log).
            Ok(false) => Response::ok(200, json!({"duplicate": true})),
            Ok(true) => {
                if let Some(t) = &self.trigger {
                    trigger::spawn(t, event, delivery);
                }
                Response::ok(200, json!({"recorded": true, "event": name}))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(allow_unsigned: bool) -> CiWebhookConfig {
        CiWebhookConfig {
            allow_unsigned,
            ..CiWebhookConfig::default()
        }
    }

    #[test]
    fn the_credential_file_wins_and_loses_its_newline() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(SECRET_CREDENTIAL), "s3cret\n").unwrap();
        let d = dir.path().to_string_lossy().into_owned();
        let env = |name: &str| match name {
            "CREDENTIALS_DIRECTORY" => Some(d.clone()),
            SECRET_ENV => Some("from-env".into()),
            _ => None,
        };
        assert_eq!(
            load_secret(&config(false), env).unwrap(),
            Some(b"s3cret".to_vec())
        );
    }

    #[test]
    fn the_environment_is_the_fallback() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_string_lossy().into_owned();
        let env = |name: &str| match name {
            "CREDENTIALS_DIRECTORY" => Some(d.clone()),
            SECRET_ENV => Some("from-env".into()),
            _ => None,
        };
        assert_eq!(
            load_secret(&config(false), env).unwrap(),
            Some(b"from-env".to_vec())
        );
    }

    #[test]
    fn no_secret_refuses_unless_unsigned_is_allowed() {
        let err = load_secret(&config(false), |_| None).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains(SECRET_ENV) && text.contains("credentials/webhook-secret"),
            "{text}"
        );
        assert_eq!(load_secret(&config(true), |_| None).unwrap(), None);
    }
}
