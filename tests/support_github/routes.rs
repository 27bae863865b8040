//! The fake GitHub's routes: authentication, the secondary rate limit, then one handler per
//! REST endpoint, with GitHub's status codes and error bodies.

use serde_json::{Map, Value, json};

use super::model::*;
use super::{DOCS, Inner, SECONDARY_RATE_LIMIT_MESSAGE, mark_merged};

/// A response: status, extra headers, JSON body.
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: String,
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
    pub(crate) fn handle(
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
