//! GitHub REST client for PR creation and the review lane, on octocrab.
//!
//! octocrab is async; the lanes are plain threads. So the client owns a small current-thread
//! tokio runtime and every public method blocks on it. octocrab carries the transport (base
//! URI, `Authorization: Bearer`, the API version header, timeouts); we read status codes and
//! headers ourselves because the review lane needs them: `Link` pagination, the secondary
//! rate limit (403/429 + `Retry-After`), and 405/409 on merge. Bodies are parsed into lean
//! structs holding only the fields we read, with GitHub's field names.

pub mod types;

use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use octocrab::Octocrab;
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use types::*;

/// Name of the credential holding the token under `$CREDENTIALS_DIRECTORY`: the units'
/// `LoadCredential=oc:/etc/operations-center/credentials` turns `credentials/github-token`
/// into `oc_github-token`.
pub const CREDENTIAL_NAME: &str = "oc_github-token";

#[derive(Debug, thiserror::Error)]
pub enum GitHubError {
    #[error("GitHub {method} {path}: HTTP {status}: {message}")]
    Status {
        method: &'static str,
        path: String,
        status: u16,
        message: String,
    },
    #[error("GitHub {method} {path}: {source}")]
    Transport {
        method: &'static str,
        path: String,
        source: Box<octocrab::Error>,
    },
    #[error("GitHub {path}: unexpected body: {source}")]
    Body {
        path: String,
        source: serde_json::Error,
    },
    #[error("GitHub client: {0}")]
    Setup(String),
}

impl GitHubError {
    pub fn status(&self) -> Option<u16> {
        match self {
            GitHubError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

pub type GhResult<T> = Result<T, GitHubError>;

/// How long to wait on rate limits before giving up for this cycle.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    /// Waits longer than this are not slept: the call fails and the lane retries next cycle.
    pub max_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            max_wait: Duration::from_secs(120),
        }
    }
}

/// What a merge attempt ended in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MergeOutcome {
    Merged {
        sha: String,
    },
    /// 405/409 and the PR turned out to be merged already (another actor won the race).
    AlreadyMerged,
    /// 409: the head moved since we looked (`sha` guard); look again next cycle.
    HeadChanged(String),
    /// 405: not mergeable (conflicts, branch protection).
    NotMergeable(String),
}

/// One repository on GitHub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoSlug {
    pub owner: String,
    pub name: String,
}

impl std::fmt::Display for RepoSlug {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.owner, self.name)
    }
}

struct RawResponse {
    status: u16,
    headers: ::http::HeaderMap,
    body: Bytes,
}

pub struct GitHub {
    rt: tokio::runtime::Runtime,
    octo: Octocrab,
    retry: RetryPolicy,
}

impl GitHub {
    pub fn new(api_base_url: &str, token: &str) -> GhResult<Self> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| GitHubError::Setup(format!("runtime: {e}")))?;
        // octocrab's service stack needs a runtime context while it is built.
        let octo = {
            let _guard = rt.enter();
            Octocrab::builder()
                .base_uri(api_base_url.trim_end_matches('/'))
                .map_err(|e| GitHubError::Setup(format!("api_base_url {api_base_url:?}: {e}")))?
                .personal_token(token.to_string())
                .set_connect_timeout(Some(Duration::from_secs(10)))
                .set_read_timeout(Some(Duration::from_secs(30)))
                .build()
                .map_err(|e| GitHubError::Setup(e.to_string()))?
        };
        Ok(Self {
            rt,
            octo,
            retry: RetryPolicy::default(),
        })
    }

    /// The client the config describes: `git.api_base_url` and the token from the
    /// `github-token` credential or the `git.token_env` variable.
    pub fn from_config(config: &crate::config::Config) -> GhResult<Self> {
        let token = token(config).ok_or_else(|| {
            GitHubError::Setup(format!(
                "no GitHub token: put it in /etc/operations-center/credentials/github-token ($CREDENTIALS_DIRECTORY/{CREDENTIAL_NAME}) or in the variable named by git.token_env (now {:?})",
                config.git.token_env
            ))
        })?;
        Self::new(&config.git.api_base_url, &token)
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    fn request<B: Serialize>(
        &self,
        method: &'static str,
        path: &str,
        body: Option<&B>,
    ) -> GhResult<RawResponse> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let resp = self.rt.block_on(async {
                let result = match method {
                    "GET" => self.octo._get(path).await,
                    "POST" => self.octo._post(path, body).await,
                    "PUT" => self.octo._put(path, body).await,
                    "PATCH" => self.octo._patch(path, body).await,
                    _ => self.octo._delete(path, body).await,
                };
                let resp = result.map_err(|e| GitHubError::Transport {
                    method,
                    path: path.to_string(),
                    source: Box::new(e),
                })?;
                let status = resp.status().as_u16();
                let headers = resp.headers().clone();
                let body = resp
                    .into_body()
                    .collect()
                    .await
                    .map_err(|e| GitHubError::Transport {
                        method,
                        path: path.to_string(),
                        source: Box::new(e),
                    })?
                    .to_bytes();
                Ok::<_, GitHubError>(RawResponse {
                    status,
                    headers,
                    body,
                })
            })?;
            let remaining = resp
                .headers
                .get("x-ratelimit-remaining")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            if let Some(left) = remaining.filter(|left| *left < 10) {
                tracing::warn!(
                    event = "github_rate_limit_low",
                    remaining = left,
                    "GitHub rate limit almost used up: {left} requests left"
                );
            }
            if let Some(wait) = rate_limited(&resp)
                && attempt < self.retry.max_attempts
                && wait <= self.retry.max_wait
            {
                tracing::warn!(
                    event = "github_rate_limited",
                    status = resp.status,
                    wait_seconds = wait.as_secs(),
                    path,
                    "GitHub rate limit on {path}; waiting {}s",
                    wait.as_secs()
                );
                std::thread::sleep(wait);
                continue;
            }
            return Ok(resp);
        }
    }

    fn ok<T: DeserializeOwned>(
        &self,
        method: &'static str,
        path: &str,
        resp: RawResponse,
    ) -> GhResult<T> {
        if !(200..300).contains(&resp.status) {
            return Err(status_error(method, path, &resp));
        }
        serde_json::from_slice(&resp.body).map_err(|source| GitHubError::Body {
            path: path.to_string(),
            source,
        })
    }

    fn get<T: DeserializeOwned>(&self, path: &str) -> GhResult<T> {
        let resp = self.request::<()>("GET", path, None)?;
        self.ok("GET", path, resp)
    }

    /// Every page of a list, following `Link: rel="next"`.
    fn get_all<T: DeserializeOwned>(&self, first: &str) -> GhResult<Vec<T>> {
        let mut out = Vec::new();
        let mut next = Some(first.to_string());
        let mut pages = 0;
        while let Some(path) = next.take() {
            pages += 1;
            let resp = self.request::<()>("GET", &path, None)?;
            let link = resp
                .headers
                .get("link")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let mut page: Vec<T> = self.ok("GET", &path, resp)?;
            out.append(&mut page);
            // Bounded: a misbehaving server cannot keep us here forever.
            if pages < 50 {
                next = link.as_deref().and_then(next_link);
            }
        }
        Ok(out)
    }

    fn send<B: Serialize, T: DeserializeOwned>(
        &self,
        method: &'static str,
        path: &str,
        body: &B,
    ) -> GhResult<T> {
        let resp = self.request(method, path, Some(body))?;
        self.ok(method, path, resp)
    }

    fn repo_path(repo: &RepoSlug) -> String {
        format!("/repos/{}/{}", repo.owner, repo.name)
    }

    pub fn open_pulls(&self, repo: &RepoSlug) -> GhResult<Vec<Pull>> {
        self.get_all(&format!(
            "{}/pulls?state=open&per_page=100",
            Self::repo_path(repo)
        ))
    }

    pub fn pull(&self, repo: &RepoSlug, number: u64) -> GhResult<Pull> {
        self.get(&format!("{}/pulls/{number}", Self::repo_path(repo)))
    }

    pub fn create_pull(
        &self,
        repo: &RepoSlug,
        title: &str,
        head: &str,
        base: &str,
        body: &str,
    ) -> GhResult<Pull> {
        self.send(
            "POST",
            &format!("{}/pulls", Self::repo_path(repo)),
            &serde_json::json!({"title": title, "head": head, "base": base, "body": body}),
        )
    }

    pub fn close_pull(&self, repo: &RepoSlug, number: u64) -> GhResult<Pull> {
        self.send(
            "PATCH",
            &format!("{}/pulls/{number}", Self::repo_path(repo)),
            &serde_json::json!({"state": "closed"}),
        )
    }

    /// Squash-merges with the head `sha` guard; a lost race is an outcome, not an error.
    pub fn merge(
        &self,
        repo: &RepoSlug,
        number: u64,
        sha: &str,
        title: &str,
    ) -> GhResult<MergeOutcome> {
        let path = format!("{}/pulls/{number}/merge", Self::repo_path(repo));
        let body = serde_json::json!({"merge_method": "squash", "sha": sha, "commit_title": title});
        let resp = self.request("PUT", &path, Some(&body))?;
        match resp.status {
            200 => {
                let m: MergeResult = self.ok("PUT", &path, resp)?;
                Ok(MergeOutcome::Merged { sha: m.sha })
            }
            405 | 409 => {
                let message = error_message(&resp.body);
                // Whatever the wording, the PR itself says whether it is merged.
                let pr = self.pull(repo, number)?;
                if pr.merged.unwrap_or(false) || pr.merged_at.is_some() {
                    Ok(MergeOutcome::AlreadyMerged)
                } else if resp.status == 409 {
                    Ok(MergeOutcome::HeadChanged(message))
                } else {
                    Ok(MergeOutcome::NotMergeable(message))
                }
            }
            _ => Err(status_error("PUT", &path, &resp)),
        }
    }

    pub fn issue_comments(&self, repo: &RepoSlug, number: u64) -> GhResult<Vec<IssueComment>> {
        self.get_all(&format!(
            "{}/issues/{number}/comments?per_page=100",
            Self::repo_path(repo)
        ))
    }

    pub fn create_comment(
        &self,
        repo: &RepoSlug,
        number: u64,
        body: &str,
    ) -> GhResult<IssueComment> {
        self.send(
            "POST",
            &format!("{}/issues/{number}/comments", Self::repo_path(repo)),
            &serde_json::json!({ "body": body }),
        )
    }

    pub fn review_comments(&self, repo: &RepoSlug, number: u64) -> GhResult<Vec<ReviewComment>> {
        self.get_all(&format!(
            "{}/pulls/{number}/comments?per_page=100",
            Self::repo_path(repo)
        ))
    }

    pub fn reviews(&self, repo: &RepoSlug, number: u64) -> GhResult<Vec<Review>> {
        self.get_all(&format!(
            "{}/pulls/{number}/reviews?per_page=100",
            Self::repo_path(repo)
        ))
    }

    pub fn reactions(&self, repo: &RepoSlug, number: u64) -> GhResult<Vec<Reaction>> {
        self.get_all(&format!(
            "{}/issues/{number}/reactions?per_page=100",
            Self::repo_path(repo)
        ))
    }

    pub fn check_runs(&self, repo: &RepoSlug, sha: &str) -> GhResult<Vec<CheckRun>> {
        // The check-runs list is an envelope, so it pages by `page` rather than a bare array.
        let mut out = Vec::new();
        let mut page = 1;
        loop {
            let env: CheckRunList = self.get(&format!(
                "{}/commits/{sha}/check-runs?per_page=100&page={page}",
                Self::repo_path(repo)
            ))?;
            let n = env.check_runs.len();
            out.extend(env.check_runs);
            if n < 100 || out.len() as u64 >= env.total_count || page >= 20 {
                return Ok(out);
            }
            page += 1;
        }
    }

    pub fn combined_status(&self, repo: &RepoSlug, sha: &str) -> GhResult<CombinedStatus> {
        self.get(&format!("{}/commits/{sha}/status", Self::repo_path(repo)))
    }
}

/// The token: the systemd credential first, then the variable named by `git.token_env`.
pub fn token(config: &crate::config::Config) -> Option<String> {
    if let Some(dir) = std::env::var_os("CREDENTIALS_DIRECTORY") {
        let path = std::path::Path::new(&dir).join(CREDENTIAL_NAME);
        if let Ok(t) = std::fs::read_to_string(path) {
            let t = t.trim().to_string();
            if !t.is_empty() {
                return Some(t);
            }
        }
    }
    let name = config.git.token_env.as_deref()?;
    std::env::var(name).ok().filter(|t| !t.trim().is_empty())
}

/// Secondary (403) or primary (403/429 with nothing remaining) rate limit: how long to wait.
fn rate_limited(resp: &RawResponse) -> Option<Duration> {
    if resp.status != 403 && resp.status != 429 {
        return None;
    }
    let header = |name: &str| {
        resp.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    if let Some(secs) = header("retry-after") {
        return Some(Duration::from_secs(secs));
    }
    if header("x-ratelimit-remaining") == Some(0) {
        let reset = header("x-ratelimit-reset")?;
        let now = chrono::Utc::now().timestamp().max(0) as u64;
        return Some(Duration::from_secs(reset.saturating_sub(now) + 1));
    }
    None
}

fn error_message(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| String::from_utf8_lossy(body).chars().take(200).collect())
}

fn status_error(method: &'static str, path: &str, resp: &RawResponse) -> GitHubError {
    GitHubError::Status {
        method,
        path: path.to_string(),
        status: resp.status,
        message: error_message(&resp.body),
    }
}

/// The `rel="next"` target of a Link header, as a path: octocrab only sends the token to
/// relative URIs (or api.github.com), so an absolute link to an Enterprise host or a test
/// server must be made relative to keep the request authenticated.
pub fn next_link(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        if !params.split(';').any(|p| p.trim() == r#"rel="next""#) {
            return None;
        }
        let url = url.trim().trim_start_matches('<').trim_end_matches('>');
        let uri: ::http::Uri = url.parse().ok()?;
        uri.path_and_query().map(|pq| pq.as_str().to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_link_is_made_relative() {
        let link = r#"<https://api.github.com/repositories/1/pulls?per_page=2&page=2>; rel="next", <https://api.github.com/repositories/1/pulls?per_page=2&page=5>; rel="last""#;
        assert_eq!(
            next_link(link).as_deref(),
            Some("/repositories/1/pulls?per_page=2&page=2")
        );
        let last = r#"<https://api.github.com/x?page=1>; rel="prev", <https://api.github.com/x?page=1>; rel="first""#;
        assert_eq!(next_link(last), None);
    }
}
