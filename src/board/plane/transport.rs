//! One HTTP exchange with Plane: the `X-API-Key` header, the retry policy, and the request
//! counter with the last `X-RateLimit-*` values.

use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::Method;
use reqwest::blocking::{Client, Response};
use reqwest::header::{HeaderMap, HeaderValue};
use serde::de::DeserializeOwned;

use super::error::PlaneError;
use super::types::RateStats;

/// How hard the client tries before giving up. Bounded so a lane never spins forever.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts per request, the first one included.
    pub max_attempts: u32,
    /// Backoff before the second attempt; doubled each time after.
    pub base_delay: Duration,
    /// Cap on the exponential backoff.
    pub max_delay: Duration,
    /// Cap on a `Retry-After` or `X-RateLimit-Reset` wait we are willing to honour.
    pub max_wait: Duration,
    /// When the last answer said `X-RateLimit-Remaining: 0`, wait for `X-RateLimit-Reset`
    /// before the next request instead of collecting a 429 (Plane's documented client rule).
    pub pace_on_exhausted: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(16),
            max_wait: Duration::from_secs(90),
            pace_on_exhausted: true,
        }
    }
}

/// Whether a request may be sent again after the server might have acted on it. GET, PATCH
/// and POSTs carrying an external pair (a repeat gets 409) are; a bare POST is only retried
/// when it surely did not arrive (connect error) or was throttled before the view ran (429).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Replay {
    Safe,
    OnlyIfUnsent,
}

/// A non-retried answer: status and body.
pub(crate) struct Reply {
    pub status: u16,
    pub body: String,
    pub method: Method,
    pub path: String,
}

impl Reply {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    pub fn json<T: DeserializeOwned>(&self) -> Result<T, PlaneError> {
        serde_json::from_str(&self.body).map_err(|e| PlaneError::Decode {
            method: self.method.to_string(),
            path: self.path.clone(),
            message: e.to_string(),
        })
    }

    /// The body of a 2xx as `T`; 404 as `NotFound`; anything else as `Status`.
    pub fn success<T: DeserializeOwned>(self) -> Result<T, PlaneError> {
        if self.is_success() {
            self.json()
        } else {
            Err(self.into_error())
        }
    }

    pub fn into_error(self) -> PlaneError {
        if self.status == 404 {
            return PlaneError::NotFound(self.path);
        }
        PlaneError::Status {
            status: self.status,
            method: self.method.to_string(),
            path: self.path,
            body: self.body.chars().take(500).collect(),
        }
    }

    /// The `id` of a 409 body (`{"error": …, "id": "<existing>"}`).
    pub fn conflict_id(&self) -> Option<String> {
        let v: serde_json::Value = serde_json::from_str(&self.body).ok()?;
        v.get("id")?.as_str().map(str::to_string)
    }
}

pub(crate) struct Transport {
    http: Client,
    /// `…/api/v1/`
    api: String,
    workspace: String,
    project: String,
    /// `…/api/v1/workspaces/{slug}/projects/{project_id}/`
    root: String,
    key: Option<HeaderValue>,
    pub key_from: String,
    pub policy: RetryPolicy,
    stats: Mutex<RateStats>,
}

impl Transport {
    /// `api` is the instance's `…/api/v1/`; requests are relative to the project under it.
    pub fn new(
        api: String,
        workspace: &str,
        project: &str,
        api_key: &str,
        timeout: Duration,
    ) -> Result<Self, PlaneError> {
        let http = Client::builder()
            .timeout(timeout)
            .user_agent(concat!("operations-center/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| PlaneError::Config(format!("HTTP client: {e}")))?;
        // An empty key is sent as no header at all, so Plane says "missing" (401).
        let key = match api_key.trim() {
            "" => None,
            k => {
                let mut v = HeaderValue::from_str(k).map_err(|_| {
                    PlaneError::Config("the Plane API key contains invalid characters".into())
                })?;
                v.set_sensitive(true);
                Some(v)
            }
        };
        Ok(Self {
            http,
            root: format!("{api}workspaces/{workspace}/projects/{project}/"),
            api,
            workspace: workspace.to_string(),
            project: project.to_string(),
            key,
            key_from: "the configured API key".into(),
            policy: RetryPolicy::default(),
            stats: Mutex::new(RateStats::default()),
        })
    }

    pub fn stats(&self) -> RateStats {
        self.stats.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn with_stats<R>(&self, f: impl FnOnce(&mut RateStats) -> R) -> R {
        f(&mut self.stats.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Sends one request (relative to the project, for example `work-items/`) with retries.
    /// A 403 is explained: a refused key, or a workspace or project out of reach.
    pub fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&serde_json::Value>,
        replay: Replay,
    ) -> Result<Reply, PlaneError> {
        let url = format!("{}{}", self.root, path);
        match self.exchange(method, &url, path, query, body, replay) {
            Err(PlaneError::Auth {
                status: 403,
                detail,
                ..
            }) => Err(self.explain_forbidden(detail)),
            other => other,
        }
    }

    /// A GET relative to `…/api/v1/` (for `users/me/` and the workspace's projects).
    pub fn get_api(&self, path: &str, query: &[(&str, String)]) -> Result<Reply, PlaneError> {
        let url = format!("{}{}", self.api, path);
        self.exchange(Method::GET, &url, path, query, None, Replay::Safe)
    }

    /// The key's user: needs nothing but a valid key.
    pub fn check_key(&self) -> Result<Reply, PlaneError> {
        self.get_api("users/me/", &[])
    }

    /// The workspace's projects: needs membership of the workspace.
    pub fn check_workspace(&self) -> Result<Reply, PlaneError> {
        let path = format!("workspaces/{}/projects/", self.workspace);
        match self.get_api(&path, &[("per_page", "1".to_string())]) {
            Err(PlaneError::Auth {
                status: 403,
                detail,
                ..
            }) => Err(self.no_access(Setting::Workspace, detail)),
            other => other,
        }
    }

    /// Plane answers 403 both for a refused key and for a workspace or project the key's
    /// user cannot reach (a mistyped slug or id included). Which one: the key alone first
    /// (`users/me/`), then the workspace; if both pass, it is the project.
    fn explain_forbidden(&self, detail: String) -> PlaneError {
        for check in [Self::check_key, Self::check_workspace] {
            match check(self) {
                // A refused key, a workspace out of reach, or Plane unreachable right now
                // (transient: tried again later).
                Err(e) => return e,
                Ok(reply) if reply.is_success() => {}
                // An answer that tells nothing (a Plane without the endpoint): the 403 is
                // read as before, a refused key.
                Ok(_) => {
                    return PlaneError::Auth {
                        status: 403,
                        detail,
                        key_from: self.key_from.clone(),
                    };
                }
            }
        }
        self.no_access(Setting::Project, detail)
    }

    fn no_access(&self, setting: Setting, detail: String) -> PlaneError {
        let (name, value) = match setting {
            Setting::Workspace => ("board.workspace_slug", &self.workspace),
            Setting::Project => ("board.project_id", &self.project),
        };
        PlaneError::NoAccess {
            setting: name,
            value: value.clone(),
            workspace: self.workspace.clone(),
            detail,
        }
    }

    fn exchange(
        &self,
        method: Method,
        url: &str,
        path: &str,
        query: &[(&str, String)],
        body: Option<&serde_json::Value>,
        replay: Replay,
    ) -> Result<Reply, PlaneError> {
        let max = self.policy.max_attempts.max(1);
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.pace(&method, path);
            let mut req = self.http.request(method.clone(), url).query(query);
            if let Some(key) = &self.key {
                req = req.header("X-API-Key", key.clone());
            }
            if let Some(body) = body {
                req = req.json(body);
            }
            self.with_stats(|s| s.requests += 1);
            let last = attempt >= max;
            let resp = match req.send() {
                Ok(resp) => resp,
                Err(e) => {
                    let retry = e.is_connect() || (e.is_timeout() && replay == Replay::Safe);
                    if retry && !last {
                        self.wait_backoff(attempt);
                        continue;
                    }
                    return Err(PlaneError::Transport {
                        method: method.to_string(),
                        path: path.to_string(),
                        attempts: attempt,
                        // without_url: the message names the path above, nothing else.
                        message: e.without_url().to_string(),
                    });
                }
            };
            self.record_rate(resp.headers());
            let status = resp.status().as_u16();
            match status {
                401 | 403 => {
                    let detail = detail_of(&read_body(resp));
                    return Err(PlaneError::Auth {
                        status,
                        detail,
                        key_from: self.key_from.clone(),
                    });
                }
                429 => {
                    self.with_stats(|s| s.throttled += 1);
                    if last {
                        return Err(PlaneError::RateLimited {
                            method: method.to_string(),
                            path: path.to_string(),
                            attempts: attempt,
                        });
                    }
                    let wait = retry_after(resp.headers())
                        .map(|w| w.min(self.policy.max_wait))
                        .unwrap_or_else(|| self.backoff(attempt));
                    self.with_stats(|s| s.retries += 1);
                    rate_limit_wait(wait, "Retry-After", &method, path);
                    continue;
                }
                502..=504 if replay == Replay::Safe && !last => {
                    self.wait_backoff(attempt);
                    continue;
                }
                _ => {}
            }
            return Ok(Reply {
                status,
                body: read_body(resp),
                method,
                path: path.to_string(),
            });
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .policy
            .base_delay
            .saturating_mul(1u32 << (attempt - 1).min(16))
            .min(self.policy.max_delay);
        // Up to 25% jitter so lanes that failed together do not retry in lockstep.
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        exp + exp.mul_f64(f64::from(nanos % 1000) / 4000.0)
    }

    fn wait_backoff(&self, attempt: u32) {
        self.with_stats(|s| s.retries += 1);
        crate::daemon::notify::sleep_alive(self.backoff(attempt));
    }

    fn record_rate(&self, headers: &HeaderMap) {
        let num = |name: &str| headers.get(name)?.to_str().ok()?.trim().parse::<i64>().ok();
        let remaining = num("x-ratelimit-remaining");
        let reset = num("x-ratelimit-reset");
        self.with_stats(|s| {
            if let Some(r) = remaining {
                s.remaining = Some(r.max(0) as u64);
            }
            if let Some(r) = reset {
                s.reset = Some(r);
            }
        });
    }

    /// With the budget at zero, sleep until Plane's reset time (capped) before sending.
    fn pace(&self, method: &Method, path: &str) {
        if !self.policy.pace_on_exhausted {
            return;
        }
        let (remaining, reset) = self.with_stats(|s| (s.remaining, s.reset));
        let (Some(0), Some(reset)) = (remaining, reset) else {
            return;
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0);
        let wait = (reset as f64 - now).max(0.0);
        if wait > 0.0 {
            let wait = Duration::from_secs_f64(wait).min(self.policy.max_wait);
            rate_limit_wait(wait, "X-RateLimit-Remaining: 0", method, path);
        }
        // One wait per exhausted window: the next answer brings fresh numbers.
        self.with_stats(|s| s.remaining = None);
    }
}

/// Waits out Plane's rate limit (up to a minute on a real server), saying so once in the
/// log and in STATUS= while the watchdog keeps being pinged: a wait is not a hang.
fn rate_limit_wait(wait: Duration, why: &str, method: &Method, path: &str) {
    let secs = wait.as_secs_f64().ceil() as u64;
    let until = chrono::Utc::now() + wait;
    tracing::warn!(
        event = "plane_rate_limited",
        wait_seconds = secs,
        reason = why,
        method = %method,
        path,
        "Plane rate limit ({why}): waiting {secs}s before {method} {path}"
    );
    crate::daemon::notify::wait_with_status(
        wait,
        &format!(
            "waiting {secs}s for Plane's rate limit ({why}), until {}",
            until.format("%H:%M:%S UTC")
        ),
    );
}

/// Which setting a 403 "no permission" points at.
enum Setting {
    Workspace,
    Project,
}

fn read_body(resp: Response) -> String {
    resp.text().unwrap_or_default()
}

/// `Retry-After` in seconds (the form DRF sends); an HTTP date is not expected from Plane.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let secs: u64 = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(secs))
}

/// DRF's `{"detail": "…"}`, or the raw body when it is something else.
fn detail_of(body: &str) -> String {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("detail")?.as_str().map(str::to_string))
        .unwrap_or_else(|| body.chars().take(200).collect())
}
