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
mod routes;

// Both fakes bring it; a test that uses both loads it twice, harmlessly.
#[allow(clippy::duplicate_mod)]
#[path = "../support_server/mod.rs"]
mod server;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};

pub use model::*;

/// The token the fake accepts unless configured otherwise, and whose user it is.
pub const TOKEN: &str = "ghp_fakeTokenForTests0123456789abcdefABCD";
pub const BOT_LOGIN: &str = "oc-bot";

pub(crate) const DOCS: &str = "https://docs.github.com/rest";
pub const SECONDARY_RATE_LIMIT_MESSAGE: &str = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID 0000:0000:0000000:0000000:00000000.";

#[derive(Debug, Clone)]
pub struct Logged {
    pub method: String,
    pub path: String,
    pub query: String,
    pub status: u16,
    pub body: String,
}

pub(crate) struct Inner {
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

async fn answer(
    inner: &Mutex<Inner>,
    req: hyper::Request<Incoming>,
) -> hyper::Response<Full<Bytes>> {
    let r = server::receive(req, "authorization").await;
    let mut g = inner.lock().unwrap_or_else(|p| p.into_inner());
    let reply = g.handle(&r.method, &r.path, &r.query, r.header.as_deref(), &r.body);
    g.log.push(Logged {
        method: r.method,
        path: r.path,
        query: r.query,
        status: reply.status,
        body: r.body,
    });
    drop(g);
    let mut headers = vec![
        (
            "content-type".to_string(),
            "application/json; charset=utf-8".to_string(),
        ),
        (
            "x-github-media-type".to_string(),
            "github.v3; format=json".to_string(),
        ),
    ];
    headers.extend(reply.headers);
    server::respond(reply.status, reply.body, &headers)
}

/// The bare repo path a fake repository serves (for tests that push to it).
pub fn bare_path(fake: &FakeGitHub, full: &str) -> PathBuf {
    fake.repo(full, |r, _| r.bare.clone())
}
