//! A faithful fake GitHub REST API for tests: an in-process HTTP server (hyper on a tokio
//! runtime in a background thread, bound to 127.0.0.1:0), in the style of the fake Plane.
//! It follows GitHub's documented behaviour for what operations-center uses: token auth
//! (401 with GitHub's body when missing or wrong), `per_page`/`page` pagination with a
//! `Link` header, pulls list/get/create/update/merge (squash for real on the bare git repo,
//! `sha` guard → 409 "Head branch was modified", 405 when not mergeable or already
//! merged), reviews, issue comments, review comments, reactions, check runs for a ref
//! (the `{total_count, check_runs}` envelope), the combined status, and the secondary rate
//! limit (403 + `Retry-After`) on demand. PR heads are real branches in real bare repos.

#![allow(dead_code)]

pub mod model;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::TokioIo;
use serde_json::{Map, Value, json};

pub use model::*;

/// The token the fake accepts unless configured otherwise, and whose user it is.
pub const TOKEN: &str = "ghp_fakeTokenForTests0123456789abcdefABCD";
pub const BOT_LOGIN: &str = "oc-bot";

const DOCS: &str = "https://docs.github.com/rest";
pub const SECONDARY_RATE_LIMIT_MESSAGE: &str = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID 0000:0000:0000000:0000000:00000000.";

#[derive(Debug, Clone)]
pub struct Logged {
    pub method: String,
    pub path: String,
    pub query: String,
    pub status: u16,
    pub body: String,
}

struct Inner {
    api: String,
    token: String,
    login: String,
    repos: Vec<RepoRec>,
    next_id: u64,
    /// Secondary-rate-limit answers to give next, with their `Retry-After`.
    throttles: VecDeque<u64>,
    log: Vec<Logged>,
}

pub struct FakeGitHub {
    addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Where to reach a running fake and what to configure.
impl FakeGitHub {
    pub fn start() -> Self {
        Self::start_on("127.0.0.1:0")
    }

    pub fn start_on(bind: &str) -> Self {
        let listener = std::net::TcpListener::bind(bind).expect("bind fake github");
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let inner = Arc::new(Mutex::new(Inner {
            api: format!("http://{addr}"),
            token: TOKEN.to_string(),
            login: BOT_LOGIN.to_string(),
            repos: Vec::new(),
            next_id: 1000,
            throttles: VecDeque::new(),
            log: Vec::new(),
        }));
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let shared = inner.clone();
        let thread = std::thread::spawn(move || serve(listener, shared, stopped));
        Self {
            addr,
            inner,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Serves `owner/name` from the bare repository at `bare`.
    pub fn add_repo(&self, owner: &str, name: &str, bare: &Path) {
        let mut g = self.lock();
        let id = g.id();
        g.repos.push(RepoRec {
            owner: owner.into(),
            name: name.into(),
            id,
            bare: bare.to_path_buf(),
            default_branch: "main".into(),
            pulls: Vec::new(),
            comments: Vec::new(),
            reviews: Vec::new(),
            review_comments: Vec::new(),
            reactions: Vec::new(),
            check_runs: Vec::new(),
            statuses: Vec::new(),
        });
    }

    /// The next `n` requests get the secondary rate limit (403 + `Retry-After`).
    pub fn throttle_next(&self, n: usize, retry_after: u64) {
        self.lock().throttles.extend((0..n).map(|_| retry_after));
    }

    pub fn requests(&self) -> Vec<Logged> {
        self.lock().log.clone()
    }

    /// Direct access to a repository's data (seeding and inspection, no HTTP).
    pub fn repo<R>(&self, full: &str, f: impl FnOnce(&mut RepoRec, &mut u64) -> R) -> R {
        let mut g = self.lock();
        let g = &mut *g;
        let repo = g
            .repos
            .iter_mut()
            .find(|r| r.full_name() == full)
            .unwrap_or_else(|| panic!("fake github has no repo {full}"));
        f(repo, &mut g.next_id)
    }

    pub fn pull(&self, full: &str, number: u64) -> PullRec {
        self.repo(full, |r, _| {
            r.pulls
                .iter()
                .find(|p| p.number == number)
                .cloned()
                .unwrap_or_else(|| panic!("no PR #{number}"))
        })
    }

    pub fn pulls(&self, full: &str) -> Vec<PullRec> {
        self.repo(full, |r, _| r.pulls.clone())
    }

    /// The head SHA the fake reports for a PR (from the bare repo).
    pub fn head_sha(&self, full: &str, number: u64) -> String {
        self.repo(full, |r, _| {
            let pr = r.pulls.iter().find(|p| p.number == number).unwrap().clone();
            r.head_sha(&pr)
        })
    }

    /// The issue comments on a PR, oldest first.
    pub fn comments(&self, full: &str, number: u64) -> Vec<IssueCommentRec> {
        self.repo(full, |r, _| {
            r.comments
                .iter()
                .filter(|c| c.issue == number)
                .cloned()
                .collect()
        })
    }

    /// How many merge requests succeeded (200) on this fake.
    pub fn merges(&self) -> usize {
        self.lock()
            .log
            .iter()
            .filter(|l| l.method == "PUT" && l.path.ends_with("/merge") && l.status == 200)
            .count()
    }

    /// A PR opened by `login` from an existing branch (no HTTP).
    pub fn open_pr_as(&self, full: &str, login: &str, head: &str, title: &str, body: &str) -> u64 {
        self.repo(full, |r, ids| {
            let number = r.pulls.len() as u64 + 1;
            *ids += 1;
            let now = iso_now();
            r.pulls.push(PullRec {
                number,
                id: *ids,
                title: title.into(),
                body: Some(body.into()),
                user: login.into(),
                head_ref: head.into(),
                base_ref: "main".into(),
                state: "open".into(),
                draft: false,
                merged: false,
                merged_at: None,
                merged_by: None,
                merge_commit_sha: None,
                mergeable: true,
                labels: Vec::new(),
                created_at: now.clone(),
                updated_at: now,
                closed_at: None,
                frozen_head: None,
            });
            number
        })
    }

    pub fn comment_as(&self, full: &str, number: u64, login: &str, body: &str) -> u64 {
        self.repo(full, |r, ids| {
            *ids += 1;
            r.comments.push(IssueCommentRec {
                id: *ids,
                issue: number,
                user: login.into(),
                body: body.into(),
                created_at: iso_now(),
            });
            *ids
        })
    }

    /// A submitted review: APPROVED, CHANGES_REQUESTED or COMMENTED.
    pub fn review_as(&self, full: &str, number: u64, login: &str, state: &str, body: &str) -> u64 {
        self.repo(full, |r, ids| {
            *ids += 1;
            let pr = r.pulls.iter().find(|p| p.number == number).unwrap().clone();
            let commit_id = r.head_sha(&pr);
            r.reviews.push(ReviewRec {
                id: *ids,
                pull: number,
                user: login.into(),
                state: state.into(),
                body: body.into(),
                commit_id,
                submitted_at: iso_now(),
            });
            *ids
        })
    }

    pub fn review_comment_as(
        &self,
        full: &str,
        number: u64,
        login: &str,
        path: &str,
        body: &str,
    ) -> u64 {
        self.repo(full, |r, ids| {
            *ids += 1;
            let pr = r.pulls.iter().find(|p| p.number == number).unwrap().clone();
            let commit_id = r.head_sha(&pr);
            r.review_comments.push(ReviewCommentRec {
                id: *ids,
                pull: number,
                review_id: None,
                user: login.into(),
                path: path.into(),
                line: 1,
                body: body.into(),
                commit_id,
                created_at: iso_now(),
            });
            *ids
        })
    }

    pub fn react_as(&self, full: &str, number: u64, login: &str, content: &str) {
        self.repo(full, |r, ids| {
            *ids += 1;
            r.reactions.push(ReactionRec {
                id: *ids,
                issue: number,
                user: login.into(),
                content: content.into(),
                created_at: iso_now(),
            });
        })
    }

    /// Adds or updates (by name) a check run on `sha`.
    pub fn set_check_run(
        &self,
        full: &str,
        sha: &str,
        name: &str,
        status: &str,
        conclusion: Option<&str>,
    ) {
        self.repo(full, |r, ids| {
            if let Some(c) = r
                .check_runs
                .iter_mut()
                .find(|c| c.head_sha == sha && c.name == name)
            {
                c.status = status.into();
                c.conclusion = conclusion.map(str::to_string);
                return;
            }
            *ids += 1;
            r.check_runs.push(CheckRunRec {
                id: *ids,
                head_sha: sha.into(),
                name: name.into(),
                status: status.into(),
                conclusion: conclusion.map(str::to_string),
            });
        })
    }

    pub fn add_status(&self, full: &str, sha: &str, context: &str, state: &str) {
        self.repo(full, |r, ids| {
            *ids += 1;
            r.statuses.push(StatusRec {
                id: *ids,
                sha: sha.into(),
                context: context.into(),
                state: state.into(),
            });
        })
    }

    pub fn set_mergeable(&self, full: &str, number: u64, mergeable: bool) {
        self.repo(full, |r, _| {
            r.pulls
                .iter_mut()
                .find(|p| p.number == number)
                .unwrap()
                .mergeable = mergeable;
        })
    }

    /// Someone closes the PR without merging it on github.com.
    pub fn close_outside(&self, full: &str, number: u64) {
        self.repo(full, |r, _| {
            let pr = r.pulls.iter().find(|p| p.number == number).unwrap().clone();
            let head = r.head_sha(&pr);
            let p = r.pulls.iter_mut().find(|p| p.number == number).unwrap();
            p.state = "closed".into();
            p.closed_at = Some(iso_now());
            p.frozen_head = Some(head);
        })
    }

    /// Someone merges the PR on github.com (not through this API's caller).
    pub fn merge_outside(&self, full: &str, number: u64, login: &str) {
        let mut g = self.lock();
        let repo = g.repos.iter_mut().find(|r| r.full_name() == full).unwrap();
        let pr = repo
            .pulls
            .iter()
            .find(|p| p.number == number)
            .unwrap()
            .clone();
        let sha = repo.squash(&pr, &pr.title).expect("squash");
        let head = repo.head_sha(&pr);
        let p = repo.pulls.iter_mut().find(|p| p.number == number).unwrap();
        mark_merged(p, &sha, &head, login);
    }
}

impl Drop for FakeGitHub {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn mark_merged(p: &mut PullRec, merge_sha: &str, head: &str, login: &str) {
    let now = iso_now();
    p.state = "closed".into();
    p.merged = true;
    p.merged_at = Some(now.clone());
    p.closed_at = Some(now.clone());
    p.updated_at = now;
    p.merged_by = Some(login.into());
    p.merge_commit_sha = Some(merge_sha.into());
    p.frozen_head = Some(head.into());
}

impl Inner {
    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }
}

fn serve(
    listener: std::net::TcpListener,
    inner: Arc<Mutex<Inner>>,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("fake github runtime");
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        loop {
            tokio::select! {
                _ = &mut stopped => break,
                accepted = listener.accept() => {
                    let Ok((stream, _)) = accepted else { continue };
                    let inner = inner.clone();
                    tokio::spawn(async move {
                        let service = hyper::service::service_fn(move |req| {
                            let inner = inner.clone();
                            async move { Ok::<_, std::convert::Infallible>(answer(&inner, req).await) }
                        });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            }
        }
    });
    rt.shutdown_timeout(Duration::from_millis(200));
}

/// A response: status, extra headers, JSON body.
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn json(status: u16, v: &Value) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: v.to_string(),
        }
    }
    fn message(status: u16, message: &str) -> Self {
        Self::json(
            status,
            &json!({"message": message, "documentation_url": DOCS, "status": status.to_string()}),
        )
    }
    fn not_found() -> Self {
        Self::message(404, "Not Found")
    }
    fn header(mut self, k: &str, v: impl ToString) -> Self {
        self.headers.push((k.into(), v.to_string()));
        self
    }
}

async fn answer(
    inner: &Mutex<Inner>,
    req: hyper::Request<Incoming>,
) -> hyper::Response<Full<Bytes>> {
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let auth = req
        .headers()
        .get("authorization")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let body = String::from_utf8_lossy(&body).into_owned();
    let mut g = inner.lock().unwrap_or_else(|p| p.into_inner());
    let reply = g.handle(&method, &path, &query, auth.as_deref(), &body);
    g.log.push(Logged {
        method,
        path,
        query,
        status: reply.status,
        body,
    });
    drop(g);
    let mut resp = hyper::Response::new(Full::new(Bytes::from(reply.body)));
    *resp.status_mut() = hyper::StatusCode::from_u16(reply.status).unwrap();
    let h = resp.headers_mut();
    h.insert(
        "content-type",
        "application/json; charset=utf-8".parse().unwrap(),
    );
    h.insert(
        "x-github-media-type",
        "github.v3; format=json".parse().unwrap(),
    );
    for (k, v) in reply.headers {
        h.insert(
            hyper::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    resp
}

fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k.to_string(), v.replace("%2F", "/").replace("%3A", ":"))
        })
        .collect()
}

fn param<'a>(q: &'a [(String, String)], name: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// One page of `items` per `per_page` (default 30, at most 100) and `page` (from 1), with
/// GitHub's `Link` header (next/last, prev/first).
fn paginate(api: &str, path: &str, q: &[(String, String)], items: Vec<Value>) -> Reply {
    let per_page = param(q, "per_page")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(30)
        .clamp(1, 100);
    let page = param(q, "page")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    let last = items.len().div_ceil(per_page).max(1);
    let page_items: Vec<Value> = items
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    let link = |p: usize| {
        let mut params: Vec<String> = q
            .iter()
            .filter(|(k, _)| k != "page")
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        params.push(format!("page={p}"));
        format!("<{api}{path}?{}>", params.join("&"))
    };
    let mut rels = Vec::new();
    if page > 1 {
        rels.push(format!("{}; rel=\"prev\"", link(page - 1)));
    }
    if page < last {
        rels.push(format!("{}; rel=\"next\"", link(page + 1)));
        rels.push(format!("{}; rel=\"last\"", link(last)));
    }
    if page > 1 {
        rels.push(format!("{}; rel=\"first\"", link(1)));
    }
    let reply = Reply::json(200, &Value::Array(page_items));
    if rels.is_empty() {
        reply
    } else {
        reply.header("Link", rels.join(", "))
    }
}

fn validation_failed(resource: &str, field: &str, code: &str, message: Option<&str>) -> Reply {
    let mut error = json!({"resource": resource, "field": field, "code": code});
    if let Some(m) = message {
        error["message"] = json!(m);
    }
    Reply::json(
        422,
        &json!({"message": "Validation Failed", "errors": [error], "documentation_url": DOCS, "status": "422"}),
    )
}

impl Inner {
    fn handle(
        &mut self,
        method: &str,
        path: &str,
        query: &str,
        auth: Option<&str>,
        body: &str,
    ) -> Reply {
        // Authentication comes before everything, as on GitHub.
        let token = auth.and_then(|a| {
            a.strip_prefix("Bearer ")
                .or_else(|| a.strip_prefix("token "))
        });
        match token {
            None => return Reply::message(401, "Requires authentication"),
            Some(t) if t != self.token => return Reply::message(401, "Bad credentials"),
            Some(_) => {}
        }
        if let Some(secs) = self.throttles.pop_front() {
            return Reply::json(403, &json!({"message": SECONDARY_RATE_LIMIT_MESSAGE,
                "documentation_url": "https://docs.github.com/free-pro-team@latest/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits",
                "status": "403"}))
            .header("Retry-After", secs)
            .header("X-RateLimit-Remaining", 4000);
        }
        let q = parse_query(query);
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let ["repos", owner, name, rest @ ..] = parts.as_slice() else {
            return Reply::not_found();
        };
        let full = format!("{owner}/{name}");
        let api = self.api.clone();
        let login = self.login.clone();
        let Some(ri) = self
            .repos
            .iter()
            .position(|r| r.full_name().eq_ignore_ascii_case(&full))
        else {
            return Reply::not_found();
        };
        let json_body = || -> Result<Map<String, Value>, Reply> {
            match serde_json::from_str::<Value>(if body.is_empty() { "{}" } else { body }) {
                Ok(Value::Object(m)) => Ok(m),
                _ => Err(Reply::message(400, "Problems parsing JSON")),
            }
        };
        let id = self.id();
        let repo = &mut self.repos[ri];
        let num = |s: &str| s.parse::<u64>().ok();
        let result: Result<Reply, Reply> = (|| match (method, rest) {
            ("GET", ["pulls"]) => {
                let state = param(&q, "state").unwrap_or("open");
                let head = param(&q, "head");
                let items = repo
                    .pulls
                    .iter()
                    .filter(|p| state == "all" || p.state == state)
                    .filter(|p| head.is_none_or(|h| h == format!("{}:{}", repo.owner, p.head_ref)))
                    .rev()
                    .map(|p| repo.pull_json(&api, p, false))
                    .collect();
                Ok(paginate(&api, path, &q, items))
            }
            ("POST", ["pulls"]) => {
                let b = json_body()?;
                let s = |k: &str| b.get(k).and_then(Value::as_str).map(str::to_string);
                let (Some(title), Some(head), Some(base)) = (s("title"), s("head"), s("base"))
                else {
                    return Err(validation_failed(
                        "PullRequest",
                        "title",
                        "missing_field",
                        None,
                    ));
                };
                let head = head
                    .split_once(':')
                    .map(|(_, b)| b.to_string())
                    .unwrap_or(head);
                if repo.branch_sha(&head).is_none() {
                    return Err(validation_failed("PullRequest", "head", "invalid", None));
                }
                if repo.branch_sha(&base).is_none() {
                    return Err(validation_failed("PullRequest", "base", "invalid", None));
                }
                if repo
                    .pulls
                    .iter()
                    .any(|p| p.state == "open" && p.head_ref == head && p.base_ref == base)
                {
                    let m = format!("A pull request already exists for {}:{head}.", repo.owner);
                    return Err(validation_failed("PullRequest", "", "custom", Some(&m)));
                }
                let now = iso_now();
                let pr = PullRec {
                    number: repo.pulls.len() as u64 + 1,
                    id,
                    title,
                    body: s("body"),
                    user: login.clone(),
                    head_ref: head,
                    base_ref: base,
                    state: "open".into(),
                    draft: b.get("draft").and_then(Value::as_bool).unwrap_or(false),
                    merged: false,
                    merged_at: None,
                    merged_by: None,
                    merge_commit_sha: None,
                    mergeable: true,
                    labels: Vec::new(),
                    created_at: now.clone(),
                    updated_at: now,
                    closed_at: None,
                    frozen_head: None,
                };
                let v = repo.pull_json(&api, &pr, true);
                repo.pulls.push(pr);
                Ok(Reply::json(201, &v).header("Location", v["url"].as_str().unwrap_or_default()))
            }
            ("GET", ["pulls", n]) => {
                let pr = repo
                    .pulls
                    .iter()
                    .find(|p| Some(p.number) == num(n))
                    .ok_or_else(Reply::not_found)?;
                Ok(Reply::json(200, &repo.pull_json(&api, pr, true)))
            }
            ("PATCH", ["pulls", n]) => {
                let b = json_body()?;
                let head = {
                    let pr = repo
                        .pulls
                        .iter()
                        .find(|p| Some(p.number) == num(n))
                        .ok_or_else(Reply::not_found)?;
                    repo.head_sha(pr)
                };
                let pr = repo
                    .pulls
                    .iter_mut()
                    .find(|p| Some(p.number) == num(n))
                    .unwrap();
                if let Some(t) = b.get("title").and_then(Value::as_str) {
                    pr.title = t.into();
                }
                if let Some(t) = b.get("body").and_then(Value::as_str) {
                    pr.body = Some(t.into());
                }
                if b.get("state").and_then(Value::as_str) == Some("closed") && pr.state == "open" {
                    pr.state = "closed".into();
                    pr.closed_at = Some(iso_now());
                    pr.frozen_head = Some(head);
                }
                pr.updated_at = iso_now();
                let pr = pr.clone();
                Ok(Reply::json(200, &repo.pull_json(&api, &pr, true)))
            }
            ("PUT", ["pulls", n, "merge"]) => {
                let b = json_body()?;
                let pr = repo
                    .pulls
                    .iter()
                    .find(|p| Some(p.number) == num(n))
                    .ok_or_else(Reply::not_found)?
                    .clone();
                if pr.state != "open" || !repo.mergeable(&pr) {
                    return Err(Reply::message(405, "Pull Request is not mergeable"));
                }
                let head = repo.head_sha(&pr);
                if let Some(sha) = b.get("sha").and_then(Value::as_str)
                    && sha != head
                {
                    return Err(Reply::message(
                        409,
                        "Head branch was modified. Review and try the merge again.",
                    ));
                }
                let method = b
                    .get("merge_method")
                    .and_then(Value::as_str)
                    .unwrap_or("merge");
                if !["merge", "squash", "rebase"].contains(&method) {
                    return Err(validation_failed(
                        "PullRequest",
                        "merge_method",
                        "invalid",
                        None,
                    ));
                }
                let title = b
                    .get("commit_title")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("{} (#{})", pr.title, pr.number));
                let sha = repo
                    .squash(&pr, &title)
                    .map_err(|e| Reply::message(500, &e))?;
                let p = repo
                    .pulls
                    .iter_mut()
                    .find(|p| p.number == pr.number)
                    .unwrap();
                mark_merged(p, &sha, &head, &login);
                Ok(Reply::json(
                    200,
                    &json!({"sha": sha, "merged": true, "message": "Pull Request successfully merged"}),
                ))
            }
            ("GET", ["pulls", n, "reviews"]) => {
                let items = repo
                    .reviews
                    .iter()
                    .filter(|r| Some(r.pull) == num(n))
                    .map(|r| repo.review_json(&api, r))
                    .collect();
                Ok(paginate(&api, path, &q, items))
            }
            ("GET", ["pulls", n, "comments"]) => {
                let items = repo
                    .review_comments
                    .iter()
                    .filter(|c| Some(c.pull) == num(n))
                    .map(|c| repo.review_comment_json(&api, c))
                    .collect();
                Ok(paginate(&api, path, &q, items))
            }
            ("GET", ["issues", n, "comments"]) => {
                let items = repo
                    .comments
                    .iter()
                    .filter(|c| Some(c.issue) == num(n))
                    .map(|c| repo.comment_json(&api, c))
                    .collect();
                Ok(paginate(&api, path, &q, items))
            }
            ("POST", ["issues", n, "comments"]) => {
                let number = num(n)
                    .filter(|n| repo.pulls.iter().any(|p| p.number == *n))
                    .ok_or_else(Reply::not_found)?;
                let b = json_body()?;
                let Some(text) = b.get("body").and_then(Value::as_str) else {
                    return Err(validation_failed(
                        "IssueComment",
                        "body",
                        "missing_field",
                        None,
                    ));
                };
                let c = IssueCommentRec {
                    id,
                    issue: number,
                    user: login.clone(),
                    body: text.into(),
                    created_at: iso_now(),
                };
                let v = repo.comment_json(&api, &c);
                repo.comments.push(c);
                Ok(Reply::json(201, &v))
            }
            ("GET", ["issues", n, "reactions"]) => {
                let items = repo
                    .reactions
                    .iter()
                    .filter(|r| Some(r.issue) == num(n))
                    .map(|r| repo.reaction_json(&api, r))
                    .collect();
                Ok(paginate(&api, path, &q, items))
            }
            ("GET", ["commits", reference, "check-runs"]) => {
                let all: Vec<Value> = repo
                    .check_runs
                    .iter()
                    .filter(|c| c.head_sha == *reference)
                    .map(|c| repo.check_run_json(&api, c))
                    .collect();
                let total = all.len();
                let page = paginate(&api, path, &q, all);
                let runs: Value = serde_json::from_str(&page.body).unwrap();
                let mut reply =
                    Reply::json(200, &json!({"total_count": total, "check_runs": runs}));
                reply.headers = page.headers;
                Ok(reply)
            }
            ("GET", ["commits", reference, "status"]) => Ok(Reply::json(
                200,
                &repo.combined_status_json(&api, reference),
            )),
            _ => Err(Reply::not_found()),
        })();
        result.unwrap_or_else(|e| e)
    }
}

/// The bare repo path a fake repository serves (for tests that push to it).
pub fn bare_path(fake: &FakeGitHub, full: &str) -> PathBuf {
    fake.repo(full, |r, _| r.bare.clone())
}
