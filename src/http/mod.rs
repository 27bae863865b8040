//! One small HTTP server core shared by the receivers (oc-ci-webhook, oc-ingest).
//!
//! hyper 1 on a current-thread tokio runtime (a receiver handles a few requests a minute,
//! so one thread keeps the RSS small), the listener from systemd socket activation or a
//! bind by hand, limits that keep a slow or large client from holding the server, and the
//! handler on the blocking pool because it talks to SQLite.
//!
//! Environment: `OPERATIONS_CENTER_HTTP_IDLE_EXIT_SECONDS` overrides `idle_exit_minutes`
//! in seconds (tests and the sandbox check use it; 0 = never).

mod body;
mod server;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

pub use server::{serve, serve_nonblocking};

use crate::config::HttpLimits;

/// Environment override of `idle_exit_minutes`, in seconds.
pub const IDLE_EXIT_ENV: &str = "OPERATIONS_CENTER_HTTP_IDLE_EXIT_SECONDS";

/// A request as the handler sees it: the body is complete and within the limit.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: hyper::Method,
    pub path: String,
    pub headers: hyper::HeaderMap,
    /// Shared with hyper's buffer, not copied.
    pub body: hyper::body::Bytes,
}

impl Request {
    /// A header as text; None when absent or not visible ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// What a non-blocking handler returns: the response now, or a future of it (resolved
/// when, for example, the group commit holding the request's row is done).
pub enum Reply {
    Now(Response),
    Later(std::pin::Pin<Box<dyn std::future::Future<Output = Response> + Send>>),
}

/// Always a JSON body, `{"ok": true, …}` or `{"ok": false, "error": "…"}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub status: u16,
    pub body: serde_json::Value,
}

impl Response {
    /// `{"ok": true}` merged with the fields of `fields` (an object).
    pub fn ok(status: u16, fields: serde_json::Value) -> Self {
        let mut body = serde_json::json!({"ok": true});
        if let (Some(target), serde_json::Value::Object(extra)) = (body.as_object_mut(), fields) {
            target.extend(extra);
        }
        Self { status, body }
    }

    pub fn error(status: u16, message: impl Into<String>) -> Self {
        Self {
            status,
            body: serde_json::json!({"ok": false, "error": message.into()}),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub method: hyper::Method,
    pub path: &'static str,
}

#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// For logs and STATUS= (`oc-ci-webhook`).
    pub name: &'static str,
    /// Used when not socket-activated.
    pub bind: SocketAddr,
    pub limits: HttpLimits,
    pub routes: Vec<Route>,
}

/// Where a request goes: to the handler, or straight to a 404/405.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Routing {
    Handler,
    NotFound,
    /// Known path, other method: the methods that path accepts (for `Allow:`).
    MethodNotAllowed(String),
}

pub(crate) fn route(routes: &[Route], method: &hyper::Method, path: &str) -> Routing {
    let same_path: Vec<&Route> = routes.iter().filter(|r| r.path == path).collect();
    if same_path.is_empty() {
        Routing::NotFound
    } else if same_path.iter().any(|r| r.method == *method) {
        Routing::Handler
    } else {
        let allow: Vec<&str> = same_path.iter().map(|r| r.method.as_str()).collect();
        Routing::MethodNotAllowed(allow.join(", "))
    }
}

/// How long without a request before the server exits, if at all.
pub(crate) fn idle_exit_after(limits: &HttpLimits, env: Option<&str>) -> Option<Duration> {
    let seconds = match env.map(str::trim).filter(|v| !v.is_empty()) {
        Some(v) => v.parse::<u64>().ok(),
        None => None,
    }
    .unwrap_or(limits.idle_exit_minutes.saturating_mul(60));
    (seconds > 0).then(|| Duration::from_secs(seconds))
}

/// True when the server may exit for idleness: nothing in flight, no background work and
/// the last request (or the start) longer ago than the limit.
pub(crate) fn idle_expired(
    limit: Option<Duration>,
    since_last_request: Duration,
    in_flight: usize,
    background: usize,
) -> bool {
    match limit {
        Some(limit) => in_flight == 0 && background == 0 && since_last_request >= limit,
        None => false,
    }
}

static BACKGROUND: AtomicUsize = AtomicUsize::new(0);

/// Work a handler started that outlives its request (a trigger command): while a guard
/// lives, the server does not exit for idleness (which would let systemd kill it).
pub struct BackgroundGuard(());

impl BackgroundGuard {
    pub fn new() -> Self {
        BACKGROUND.fetch_add(1, Ordering::SeqCst);
        Self(())
    }
}

impl Default for BackgroundGuard {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for BackgroundGuard {
    fn drop(&mut self) {
        BACKGROUND.fetch_sub(1, Ordering::SeqCst);
    }
}

pub(crate) fn background_work() -> usize {
    BACKGROUND.load(Ordering::SeqCst)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::Method;

    fn routes() -> Vec<Route> {
        vec![Route {
            method: Method::POST,
            path: "/webhook",
        }]
    }

    #[test]
    fn routing_separates_unknown_paths_from_wrong_methods() {
        assert_eq!(
            route(&routes(), &Method::POST, "/webhook"),
            Routing::Handler
        );
        assert_eq!(route(&routes(), &Method::POST, "/other"), Routing::NotFound);
        assert_eq!(
            route(&routes(), &Method::GET, "/webhook"),
            Routing::MethodNotAllowed("POST".into())
        );
    }

    #[test]
    fn idle_timer_counts_only_when_nothing_is_running() {
        let limits = HttpLimits {
            idle_exit_minutes: 2,
            ..HttpLimits::default()
        };
        let limit = idle_exit_after(&limits, None);
        assert_eq!(limit, Some(Duration::from_secs(120)));
        assert!(!idle_expired(limit, Duration::from_secs(119), 0, 0));
        assert!(idle_expired(limit, Duration::from_secs(120), 0, 0));
        assert!(!idle_expired(limit, Duration::from_secs(600), 1, 0));
        assert!(!idle_expired(limit, Duration::from_secs(600), 0, 1));
        // 0 minutes: never.
        let never = idle_exit_after(&HttpLimits::default(), None);
        assert_eq!(never, None);
        assert!(!idle_expired(never, Duration::from_secs(1 << 30), 0, 0));
        // The environment override is in seconds and wins.
        assert_eq!(
            idle_exit_after(&limits, Some("3")),
            Some(Duration::from_secs(3))
        );
        assert_eq!(idle_exit_after(&limits, Some("0")), None);
    }

    #[test]
    fn responses_are_json_objects_with_ok() {
        let r = Response::ok(201, serde_json::json!({"task_id": "T-1"}));
        assert_eq!(r.body, serde_json::json!({"ok": true, "task_id": "T-1"}));
        let e = Response::error(400, "bad");
        assert_eq!(e.body, serde_json::json!({"ok": false, "error": "bad"}));
    }
}
