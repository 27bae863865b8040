//! A faithful fake Plane for tests: an in-process HTTP server (hyper on a tokio runtime in a
//! background thread, bound to 127.0.0.1:0) that follows shared/testdata/plane/README.md —
//! API-key auth (401 missing / 403 wrong), a per-key rate limit with Plane's 429, the cursor
//! envelope, PATCH label replacement, 409 dedup on external pairs, sanitised HTML, the
//! key-only `users/me/`, and 403 "no permission" for a workspace or project the key's user
//! is not a member of — plus a request log and knobs to inject failures.

#![allow(dead_code)]

pub mod rows;
pub mod testdata;
pub mod wire;
pub mod world;

// Both fakes bring it; a test that uses both loads it twice, harmlessly.
#[allow(clippy::duplicate_mod)]
#[path = "../support_server/mod.rs"]
mod server;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use serde_json::{Map, Value};

pub use wire::Reply;
pub use world::{Item, PROJECT_ID, WORKSPACE_SLUG, World};

/// The key the fake accepts unless configured otherwise.
pub const API_KEY: &str = "plane_api_0123456789abcdef0123456789abcdef";

/// The 429 body, byte-exact as testdata/plane/error_429.json.
pub const RATE_LIMIT_BODY: &str = r#"{"error_code":5900,"error_message":"RATE_LIMIT_EXCEEDED"}"#;

/// One request as the fake saw it, with the status it answered.
#[derive(Debug, Clone)]
pub struct Logged {
    pub method: String,
    pub path: String,
    pub query: String,
    pub status: u16,
    pub body: String,
}

/// Failures to inject into the next requests, served in order before anything else.
#[derive(Debug, Clone)]
enum Injected {
    /// A gateway error before the request reaches Plane (nothing is processed).
    Before(u16),
    /// The request is processed, then the answer is lost and replaced by this status.
    After(u16),
    /// A throttled answer, as the real throttle gives it, with this `Retry-After`.
    Throttle(u64),
}

struct Inner {
    world: World,
    keys: Vec<String>,
    limit: usize,
    window: Duration,
    /// Allowed requests per key within the window (oldest first).
    history: HashMap<String, VecDeque<Instant>>,
    injected: VecDeque<Injected>,
    /// An outage: every request is answered this status by the gateway, unprocessed.
    outage: Option<u16>,
    log: Vec<Logged>,
}

pub struct FakePlane {
    addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakePlane {
    /// Plane's defaults: one key, 60 requests per minute.
    pub fn start() -> Self {
        Self::with_rate_limit(60, Duration::from_secs(60))
    }

    /// `limit` allowed requests per key in any sliding `window`.
    pub fn with_rate_limit(limit: usize, window: Duration) -> Self {
        Self::bind("127.0.0.1:0", limit, window)
    }

    /// Listening on `addr` (the end-to-end tests run it as a server on a fixed port).
    pub fn bind(addr: &str, limit: usize, window: Duration) -> Self {
        let inner = Arc::new(Mutex::new(Inner {
            world: World::default(),
            keys: vec![API_KEY.to_string()],
            limit,
            window,
            history: HashMap::new(),
            injected: VecDeque::new(),
            outage: None,
            log: Vec::new(),
        }));
        let listener = std::net::TcpListener::bind(addr).expect("bind fake plane");
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let shared = inner.clone();
        let thread = std::thread::spawn(move || {
            server::serve(listener, stopped, move |req| {
                let inner = shared.clone();
                async move { answer(&inner, req).await }
            })
        });
        Self {
            addr,
            inner,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// The instance root a client is configured with (`http://127.0.0.1:PORT`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The project prefix, for tests that speak HTTP themselves.
    pub fn project_url(&self) -> String {
        format!(
            "{}/api/v1/workspaces/{WORKSPACE_SLUG}/projects/{PROJECT_ID}/",
            self.base_url()
        )
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn set_rate_limit(&self, limit: usize, window: Duration) {
        let mut inner = self.lock();
        inner.limit = limit;
        inner.window = window;
        inner.history.clear();
    }

    /// The next `n` requests get `status` (502/503/504) from a "gateway", unprocessed.
    pub fn fail_next(&self, n: usize, status: u16) {
        self.lock()
            .injected
            .extend((0..n).map(|_| Injected::Before(status)));
    }

    /// Plane down behind its proxy (`Some(502)`), or back (`None`): nothing is processed
    /// meanwhile.
    pub fn set_outage(&self, status: Option<u16>) {
        self.lock().outage = status;
    }

    /// The next `n` requests are processed but answered with `status` (a lost answer).
    pub fn fail_next_after_processing(&self, n: usize, status: u16) {
        self.lock()
            .injected
            .extend((0..n).map(|_| Injected::After(status)));
    }

    /// A 429 storm: the next `n` requests are throttled with `Retry-After: retry_after`.
    pub fn throttle_next(&self, n: usize, retry_after: u64) {
        self.lock()
            .injected
            .extend((0..n).map(|_| Injected::Throttle(retry_after)));
    }

    pub fn requests(&self) -> Vec<Logged> {
        self.lock().log.clone()
    }

    pub fn request_count(&self) -> usize {
        self.lock().log.len()
    }

    pub fn clear_log(&self) {
        self.lock().log.clear();
    }

    /// Direct access to the project's data (seeding and inspection, no HTTP).
    pub fn world<R>(&self, f: impl FnOnce(&mut World) -> R) -> R {
        f(&mut self.lock().world)
    }

    /// Seeds `n` work items named `prefix-0…` in `state` (no HTTP, no rate budget).
    pub fn seed_items(&self, n: usize, prefix: &str, state: Option<&str>) -> Vec<Item> {
        self.world(|w| {
            (0..n)
                .map(|i| w.seed_item(&format!("{prefix}-{i}"), state))
                .collect()
        })
    }
}

impl Drop for FakePlane {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn answer(
    inner: &Mutex<Inner>,
    req: hyper::Request<Incoming>,
) -> hyper::Response<Full<Bytes>> {
    let r = server::receive(req, "x-api-key").await;
    let mut inner = inner.lock().unwrap_or_else(|p| p.into_inner());
    let reply = inner.handle(&r.method, &r.path, &r.query, r.header.as_deref(), &r.body);
    inner.log.push(Logged {
        method: r.method,
        path: r.path,
        query: r.query,
        status: reply.status,
        body: r.body,
    });
    let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
    headers.extend(reply.headers);
    server::respond(reply.status, reply.body, &headers)
}

impl Inner {
    /// The order Plane applies: routing, authentication, throttling, then the view.
    fn handle(
        &mut self,
        method: &str,
        path: &str,
        query: &str,
        key: Option<&str>,
        body: &str,
    ) -> Reply {
        if let Some(status) = self.outage {
            return gateway(status);
        }
        let injected = self.injected.pop_front();
        match injected {
            Some(Injected::Before(status)) => return gateway(status),
            Some(Injected::Throttle(secs)) => return throttled(secs),
            _ => {}
        }
        let Some((route, allow)) = route(path) else {
            return Reply::page_not_found();
        };
        // An empty header counts as no header (nothing to look up).
        let key = match key.filter(|k| !k.is_empty()) {
            None => {
                return Reply::raw(
                    401,
                    r#"{"detail":"Authentication credentials were not provided."}"#,
                );
            }
            Some(k) if !self.keys.iter().any(|known| known == k) => {
                return Reply::raw(403, r#"{"detail":"Given API token is not valid"}"#);
            }
            Some(k) => k.to_string(),
        };
        // DRF checks permissions before throttles: a workspace or project the key's user
        // is not a member of (or that does not exist) is refused without using the budget.
        // Plane's permission classes answer both the same way.
        if matches!(route, Route::Forbidden) {
            return Reply::raw(
                403,
                r#"{"detail":"You do not have permission to perform this action."}"#,
            );
        }
        let (remaining, reset) = match self.throttle(&key) {
            Ok(budget) => budget,
            Err(reply) => return reply,
        };
        let query = wire::parse_query(query);
        let reply = self
            .view(method, &route, &query, body)
            .header("Allow", allow)
            .header("X-RateLimit-Remaining", remaining)
            .header("X-RateLimit-Reset", reset);
        match injected {
            Some(Injected::After(status)) => gateway(status),
            _ => reply,
        }
    }

    /// A sliding window per key. Allowed: remaining after this one (floored at 0) and a
    /// reset of `int(now + window)`. Throttled: 429, `Retry-After` = the wait until the
    /// oldest request leaves the window, rounded up; no `X-RateLimit-*` headers.
    fn throttle(&mut self, key: &str) -> Result<(usize, u64), Reply> {
        let now = Instant::now();
        let window = self.window;
        let history = self.history.entry(key.to_string()).or_default();
        while history
            .front()
            .is_some_and(|t| now.duration_since(*t) >= window)
        {
            history.pop_front();
        }
        if history.len() >= self.limit {
            let oldest = *history.front().expect("a full window has entries");
            let wait = window.saturating_sub(now.duration_since(oldest));
            return Err(throttled(wait.as_secs_f64().ceil() as u64));
        }
        history.push_back(now);
        let remaining = self.limit.saturating_sub(history.len());
        let unix = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        Ok((remaining, (unix + window).as_secs()))
    }

    fn view(
        &mut self,
        method: &str,
        route: &Route,
        query: &[(String, String)],
        body: &str,
    ) -> Reply {
        let json = || -> Result<Map<String, Value>, Reply> {
            match serde_json::from_str::<Value>(if body.is_empty() { "{}" } else { body }) {
                Ok(Value::Object(map)) => Ok(map),
                _ => Err(Reply::json(
                    400,
                    &serde_json::json!({"detail": "JSON parse error"}),
                )),
            }
        };
        let w = &mut self.world;
        let result = match (method, route) {
            ("GET", Route::Items) => Ok(w.list_items(query)),
            ("POST", Route::Items) => json().map(|b| w.create_item(&b)),
            ("GET", Route::Item(id)) => Ok(w.get_item(id)),
            ("PATCH", Route::Item(id)) => json().map(|b| w.patch_item(id, &b)),
            ("DELETE", Route::Item(id)) => Ok(match w.items.iter().position(|i| &i.id == id) {
                Some(pos) => {
                    w.items.remove(pos);
                    Reply::raw(204, "")
                }
                None => Reply::not_found(),
            }),
            ("GET", Route::Comments(id)) => Ok(w.list_comments(id, query)),
            ("POST", Route::Comments(id)) => json().map(|b| w.create_comment(id, &b)),
            ("GET", Route::States) => Ok(w.list_states(query)),
            ("POST", Route::States) => json().map(|b| w.create_state(&b)),
            ("GET", Route::Labels) => Ok(w.list_labels(query)),
            ("POST", Route::Labels) => json().map(|b| w.create_label(&b)),
            ("GET", Route::Me) => Ok(Reply::json(200, &world::me())),
            ("GET", Route::Projects) => Ok(wire::paginate(&[world::project()], query)),
            _ => Ok(Reply::json(
                405,
                &serde_json::json!({ "detail": format!("Method \"{method}\" not allowed.") }),
            )),
        };
        result.unwrap_or_else(|e| e)
    }
}

fn gateway(status: u16) -> Reply {
    Reply::raw(status, "<html><body><h1>Bad Gateway</h1></body></html>")
}

fn throttled(retry_after: u64) -> Reply {
    Reply::raw(429, RATE_LIMIT_BODY)
        .header("Retry-After", retry_after)
        .header("Allow", "GET, POST")
}

enum Route {
    Items,
    Item(String),
    Comments(String),
    States,
    Labels,
    /// `users/me/`: the key's user; needs only a valid key.
    Me,
    /// `workspaces/{slug}/projects/`: needs membership of the workspace.
    Projects,
    /// A well-formed path in a workspace or project the key's user is not a member of
    /// (or that does not exist): Plane's permission classes refuse it with 403.
    Forbidden,
}

/// Matches `/api/v1/users/me/`, `/api/v1/workspaces/{slug}/projects/` and
/// `/api/v1/workspaces/{slug}/projects/{uuid}/…/` (trailing slash required, UUID path
/// converters); returns the route and its `Allow` header.
fn route(path: &str) -> Option<(Route, &'static str)> {
    if path == "/api/v1/users/me/" {
        return Some((Route::Me, "GET"));
    }
    let rest = path.strip_prefix("/api/v1/workspaces/")?;
    let rest = rest.strip_suffix('/')?;
    let parts: Vec<&str> = rest.split('/').collect();
    if let [slug, "projects"] = parts.as_slice() {
        let route = if *slug == WORKSPACE_SLUG {
            Route::Projects
        } else {
            Route::Forbidden
        };
        return Some((route, "GET, POST"));
    }
    let [slug, "projects", project, tail @ ..] = parts.as_slice() else {
        return None;
    };
    if !wire::is_uuid(project) || tail.iter().any(|p| p.is_empty()) {
        return None;
    }
    let ours = *slug == WORKSPACE_SLUG && *project == PROJECT_ID;
    let (route, allow) = match tail {
        ["work-items"] => (Route::Items, "GET, POST"),
        ["work-items", id] if wire::is_uuid(id) => {
            (Route::Item(id.to_string()), "GET, PATCH, DELETE")
        }
        ["work-items", id, "comments"] if wire::is_uuid(id) => {
            (Route::Comments(id.to_string()), "GET, POST")
        }
        ["states"] => (Route::States, "GET, POST"),
        ["labels"] => (Route::Labels, "GET, POST"),
        _ => return None,
    };
    Some(if ours {
        (route, allow)
    } else {
        (Route::Forbidden, allow)
    })
}
