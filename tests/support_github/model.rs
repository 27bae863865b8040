//! The fake GitHub's data and the JSON it renders, following the REST API's documented
//! object shapes (simple-user, pull-request, issue-comment, review, review-comment,
//! reaction, check-run, combined-commit-status). Branch heads are read from real bare git
//! repositories, so pushes by the code under test are what the fake reports.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

pub const WEB: &str = "https://github.com";

pub fn iso_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    chrono_like(secs)
}

/// `YYYY-MM-DDTHH:MM:SSZ` without a date crate (days-from-civil, inverted).
fn chrono_like(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// GitHub's `simple-user` object.
pub fn user_json(api: &str, login: &str) -> Value {
    let id = login
        .bytes()
        .fold(1000u64, |h, b| h.wrapping_mul(31).wrapping_add(b as u64))
        % 90_000_000
        + 1000;
    let bot = login.ends_with("[bot]");
    json!({
        "login": login,
        "id": id,
        "node_id": format!("MDQ6VXNlcj{id}"),
        "avatar_url": format!("https://avatars.githubusercontent.com/u/{id}?v=4"),
        "gravatar_id": "",
        "url": format!("{api}/users/{login}"),
        "html_url": format!("{WEB}/{login}"),
        "followers_url": format!("{api}/users/{login}/followers"),
        "following_url": format!("{api}/users/{login}/following{{/other_user}}"),
        "gists_url": format!("{api}/users/{login}/gists{{/gist_id}}"),
        "starred_url": format!("{api}/users/{login}/starred{{/owner}}{{/repo}}"),
        "subscriptions_url": format!("{api}/users/{login}/subscriptions"),
        "organizations_url": format!("{api}/users/{login}/orgs"),
        "repos_url": format!("{api}/users/{login}/repos"),
        "events_url": format!("{api}/users/{login}/events{{/privacy}}"),
        "received_events_url": format!("{api}/users/{login}/received_events"),
        "type": if bot { "Bot" } else { "User" },
        "site_admin": false
    })
}

#[derive(Debug, Clone)]
pub struct PullRec {
    pub number: u64,
    pub id: u64,
    pub title: String,
    pub body: Option<String>,
    pub user: String,
    pub head_ref: String,
    pub base_ref: String,
    pub state: String,
    pub draft: bool,
    pub merged: bool,
    pub merged_at: Option<String>,
    pub merged_by: Option<String>,
    pub merge_commit_sha: Option<String>,
    /// GitHub computes this; tests set it to make a merge refuse with 405.
    pub mergeable: bool,
    pub labels: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
    pub closed_at: Option<String>,
    /// The head SHA when merged or closed (the branch may be gone or move later).
    pub frozen_head: Option<String>,
}

#[derive(Debug, Clone)]
pub struct IssueCommentRec {
    pub id: u64,
    pub issue: u64,
    pub user: String,
    pub body: String,
    pub created_at: String,
}

#[derive(Debug, Clone)]
pub struct ReviewRec {
    pub id: u64,
    pub pull: u64,
    pub user: String,
    pub state: String,
    pub body: String,
    pub commit_id: String,
    pub submitted_at: String,
}

#[derive(Debug, Clone)]
pub struct ReviewCommentRec {
    pub id: u64,
    pub pull: u64,
    pub review_id: Option<u64>,
    pub user: String,
    pub path: String,
    pub line: u64,
    pub body: String,
    pub commit_id: String,
    pub created_at: String,
}

#[derive(Debug, Clone)]
pub struct ReactionRec {
    pub id: u64,
    pub issue: u64,
    pub user: String,
    pub content: String,
    pub created_at: String,
}

#[derive(Debug, Clone)]
pub struct CheckRunRec {
    pub id: u64,
    pub head_sha: String,
    pub name: String,
    pub status: String,
    pub conclusion: Option<String>,
}

#[derive(Debug, Clone)]
pub struct StatusRec {
    pub id: u64,
    pub sha: String,
    pub context: String,
    pub state: String,
}

/// One repository: a real bare git repo plus everything GitHub keeps beside it.
#[derive(Debug, Clone)]
pub struct RepoRec {
    pub owner: String,
    pub name: String,
    pub id: u64,
    pub bare: PathBuf,
    pub default_branch: String,
    pub pulls: Vec<PullRec>,
    pub comments: Vec<IssueCommentRec>,
    pub reviews: Vec<ReviewRec>,
    pub review_comments: Vec<ReviewCommentRec>,
    pub reactions: Vec<ReactionRec>,
    pub check_runs: Vec<CheckRunRec>,
    pub statuses: Vec<StatusRec>,
}

pub fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .args(args)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

impl RepoRec {
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }

    /// The branch's commit in the bare repo, as GitHub would report it.
    pub fn branch_sha(&self, branch: &str) -> Option<String> {
        git(
            &self.bare,
            &[
                "rev-parse",
                "--verify",
                "--quiet",
                &format!("refs/heads/{branch}"),
            ],
        )
    }

    pub fn head_sha(&self, pr: &PullRec) -> String {
        pr.frozen_head
            .clone()
            .or_else(|| self.branch_sha(&pr.head_ref))
            .unwrap_or_else(|| "0".repeat(40))
    }

    /// Squash merge for real: a commit with the head's tree on top of the base branch.
    pub fn squash(&self, pr: &PullRec, title: &str) -> Result<String, String> {
        let head = self.head_sha(pr);
        let base = self
            .branch_sha(&pr.base_ref)
            .ok_or_else(|| format!("base {} missing", pr.base_ref))?;
        let tree = format!("{head}^{{tree}}");
        let out = Command::new("git")
            .current_dir(&self.bare)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_AUTHOR_NAME", "GitHub")
            .env("GIT_AUTHOR_EMAIL", "noreply@github.com")
            .env("GIT_COMMITTER_NAME", "GitHub")
            .env("GIT_COMMITTER_EMAIL", "noreply@github.com")
            .args(["commit-tree", &tree, "-p", &base, "-m", title])
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        let sha = String::from_utf8_lossy(&out.stdout).trim().to_string();
        git(
            &self.bare,
            &[
                "update-ref",
                &format!("refs/heads/{}", pr.base_ref),
                &sha,
                &base,
            ],
        )
        .ok_or("update-ref failed")?;
        Ok(sha)
    }

    /// Whether the head merges into the base without conflicts, as GitHub's test merge
    /// computes it (here with git's own merge machinery).
    pub fn merges_cleanly(&self, pr: &PullRec) -> bool {
        let head = self.head_sha(pr);
        Command::new("git")
            .current_dir(&self.bare)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .args(["merge-tree", "--write-tree", &pr.base_ref, &head])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    }

    /// `mergeable` as the API reports it: the test's override and a real test merge.
    pub fn mergeable(&self, pr: &PullRec) -> bool {
        pr.mergeable && self.merges_cleanly(pr)
    }

    pub fn repo_json(&self, api: &str) -> Value {
        let full = self.full_name();
        json!({
            "id": self.id,
            "node_id": format!("MDEwOlJlcG9zaXRvcnk{}", self.id),
            "name": self.name,
            "full_name": full,
            "private": false,
            "owner": user_json(api, &self.owner),
            "html_url": format!("{WEB}/{full}"),
            "description": null,
            "fork": false,
            "url": format!("{api}/repos/{full}"),
            "default_branch": self.default_branch,
        })
    }

    pub fn pull_json(&self, api: &str, pr: &PullRec, full: bool) -> Value {
        let repo = self.full_name();
        let n = pr.number;
        let head_sha = self.head_sha(pr);
        let base_sha = self.branch_sha(&pr.base_ref).unwrap_or_default();
        let url = format!("{api}/repos/{repo}/pulls/{n}");
        let labels: Vec<Value> = pr
            .labels
            .iter()
            .enumerate()
            .map(|(i, l)| {
                json!({"id": 100 + i, "node_id": format!("LA_{i}"), "url": format!("{api}/repos/{repo}/labels/{l}"),
                       "name": l, "color": "ededed", "default": false, "description": null})
            })
            .collect();
        let links = json!({
            "self": {"href": url},
            "html": {"href": format!("{WEB}/{repo}/pull/{n}")},
            "issue": {"href": format!("{api}/repos/{repo}/issues/{n}")},
            "comments": {"href": format!("{api}/repos/{repo}/issues/{n}/comments")},
            "review_comments": {"href": format!("{url}/comments")},
            "review_comment": {"href": format!("{api}/repos/{repo}/pulls/comments{{/number}}")},
            "commits": {"href": format!("{url}/commits")},
            "statuses": {"href": format!("{api}/repos/{repo}/statuses/{head_sha}")},
        });
        let head = json!({
            "label": format!("{}:{}", self.owner, pr.head_ref),
            "ref": pr.head_ref,
            "sha": head_sha,
            "user": user_json(api, &self.owner),
            "repo": self.repo_json(api),
        });
        let base = json!({
            "label": format!("{}:{}", self.owner, pr.base_ref),
            "ref": pr.base_ref,
            "sha": base_sha,
            "user": user_json(api, &self.owner),
            "repo": self.repo_json(api),
        });
        let mut v = json!({
            "url": url,
            "id": pr.id,
            "node_id": format!("PR_kwDO{}", pr.id),
            "html_url": format!("{WEB}/{repo}/pull/{n}"),
            "diff_url": format!("{WEB}/{repo}/pull/{n}.diff"),
            "patch_url": format!("{WEB}/{repo}/pull/{n}.patch"),
            "issue_url": format!("{api}/repos/{repo}/issues/{n}"),
            "number": n,
            "state": pr.state,
            "locked": false,
            "title": pr.title,
            "user": user_json(api, &pr.user),
            "body": pr.body,
            "created_at": pr.created_at,
            "updated_at": pr.updated_at,
            "closed_at": pr.closed_at,
            "merged_at": pr.merged_at,
            "merge_commit_sha": pr.merge_commit_sha,
            "assignee": null,
            "assignees": [],
            "requested_reviewers": [],
            "requested_teams": [],
            "labels": labels,
            "milestone": null,
            "draft": pr.draft,
            "commits_url": format!("{url}/commits"),
            "review_comments_url": format!("{url}/comments"),
            "review_comment_url": format!("{api}/repos/{repo}/pulls/comments{{/number}}"),
            "comments_url": format!("{api}/repos/{repo}/issues/{n}/comments"),
            "statuses_url": format!("{api}/repos/{repo}/statuses/{head_sha}"),
            "head": head,
            "base": base,
            "_links": links,
            "author_association": if pr.user == self.owner { "OWNER" } else { "CONTRIBUTOR" },
            "auto_merge": null,
            "active_lock_reason": null,
        });
        if full {
            let m = v.as_object_mut().unwrap();
            let open = pr.state == "open";
            let mergeable = open && self.mergeable(pr);
            m.insert("merged".into(), json!(pr.merged));
            m.insert(
                "mergeable".into(),
                if open { json!(mergeable) } else { Value::Null },
            );
            m.insert(
                "rebaseable".into(),
                if open { json!(mergeable) } else { Value::Null },
            );
            let mstate = if !open {
                "unknown"
            } else if !mergeable {
                "dirty"
            } else {
                "clean"
            };
            m.insert("mergeable_state".into(), json!(mstate));
            m.insert(
                "merged_by".into(),
                pr.merged_by
                    .as_deref()
                    .map(|l| user_json(api, l))
                    .unwrap_or(Value::Null),
            );
            let comments = self.comments.iter().filter(|c| c.issue == n).count();
            let review_comments = self.review_comments.iter().filter(|c| c.pull == n).count();
            m.insert("comments".into(), json!(comments));
            m.insert("review_comments".into(), json!(review_comments));
            m.insert("maintainer_can_modify".into(), json!(false));
            m.insert("commits".into(), json!(1));
            m.insert("additions".into(), json!(1));
            m.insert("deletions".into(), json!(0));
            m.insert("changed_files".into(), json!(1));
        }
        v
    }

    pub fn comment_json(&self, api: &str, c: &IssueCommentRec) -> Value {
        let repo = self.full_name();
        json!({
            "id": c.id,
            "node_id": format!("IC_kwDO{}", c.id),
            "url": format!("{api}/repos/{repo}/issues/comments/{}", c.id),
            "html_url": format!("{WEB}/{repo}/pull/{}#issuecomment-{}", c.issue, c.id),
            "issue_url": format!("{api}/repos/{repo}/issues/{}", c.issue),
            "body": c.body,
            "user": user_json(api, &c.user),
            "created_at": c.created_at,
            "updated_at": c.created_at,
            "author_association": if c.user == self.owner { "OWNER" } else { "NONE" },
            "performed_via_github_app": null,
        })
    }

    pub fn review_json(&self, api: &str, r: &ReviewRec) -> Value {
        let repo = self.full_name();
        json!({
            "id": r.id,
            "node_id": format!("PRR_kwDO{}", r.id),
            "user": user_json(api, &r.user),
            "body": r.body,
            "state": r.state,
            "html_url": format!("{WEB}/{repo}/pull/{}#pullrequestreview-{}", r.pull, r.id),
            "pull_request_url": format!("{api}/repos/{repo}/pulls/{}", r.pull),
            "author_association": "COLLABORATOR",
            "_links": {
                "html": {"href": format!("{WEB}/{repo}/pull/{}#pullrequestreview-{}", r.pull, r.id)},
                "pull_request": {"href": format!("{api}/repos/{repo}/pulls/{}", r.pull)},
            },
            "submitted_at": r.submitted_at,
            "commit_id": r.commit_id,
        })
    }

    pub fn review_comment_json(&self, api: &str, c: &ReviewCommentRec) -> Value {
        let repo = self.full_name();
        json!({
            "url": format!("{api}/repos/{repo}/pulls/comments/{}", c.id),
            "pull_request_review_id": c.review_id,
            "id": c.id,
            "node_id": format!("PRRC_kwDO{}", c.id),
            "diff_hunk": "@@ -1 +1 @@",
            "path": c.path,
            "position": c.line,
            "original_position": c.line,
            "commit_id": c.commit_id,
            "original_commit_id": c.commit_id,
            "user": user_json(api, &c.user),
            "body": c.body,
            "created_at": c.created_at,
            "updated_at": c.created_at,
            "html_url": format!("{WEB}/{repo}/pull/{}#discussion_r{}", c.pull, c.id),
            "pull_request_url": format!("{api}/repos/{repo}/pulls/{}", c.pull),
            "author_association": "COLLABORATOR",
            "_links": {
                "self": {"href": format!("{api}/repos/{repo}/pulls/comments/{}", c.id)},
                "html": {"href": format!("{WEB}/{repo}/pull/{}#discussion_r{}", c.pull, c.id)},
                "pull_request": {"href": format!("{api}/repos/{repo}/pulls/{}", c.pull)},
            },
            "line": c.line,
            "side": "RIGHT",
        })
    }

    pub fn reaction_json(&self, api: &str, r: &ReactionRec) -> Value {
        json!({
            "id": r.id,
            "node_id": format!("REA_{}", r.id),
            "user": user_json(api, &r.user),
            "content": r.content,
            "created_at": r.created_at,
        })
    }

    pub fn check_run_json(&self, api: &str, c: &CheckRunRec) -> Value {
        let repo = self.full_name();
        let done = c.status == "completed";
        json!({
            "id": c.id,
            "head_sha": c.head_sha,
            "node_id": format!("CR_{}", c.id),
            "external_id": "",
            "url": format!("{api}/repos/{repo}/check-runs/{}", c.id),
            "html_url": format!("{WEB}/{repo}/runs/{}", c.id),
            "details_url": format!("{WEB}/{repo}/runs/{}", c.id),
            "status": c.status,
            "conclusion": c.conclusion,
            "started_at": iso_now(),
            "completed_at": if done { json!(iso_now()) } else { Value::Null },
            "output": {"title": null, "summary": null, "text": null, "annotations_count": 0,
                       "annotations_url": format!("{api}/repos/{repo}/check-runs/{}/annotations", c.id)},
            "name": c.name,
            "check_suite": {"id": 5},
            "app": null,
            "pull_requests": [],
        })
    }

    pub fn combined_status_json(&self, api: &str, sha: &str) -> Value {
        let repo = self.full_name();
        // The newest status per context counts.
        let mut latest: BTreeMap<&str, &StatusRec> = BTreeMap::new();
        for s in self.statuses.iter().filter(|s| s.sha == sha) {
            latest.insert(&s.context, s);
        }
        let states: Vec<&str> = latest.values().map(|s| s.state.as_str()).collect();
        let state = if states.iter().any(|s| *s == "error" || *s == "failure") {
            "failure"
        } else if states.is_empty() || states.contains(&"pending") {
            "pending"
        } else {
            "success"
        };
        let statuses: Vec<Value> = latest
            .values()
            .map(|s| {
                json!({
                    "url": format!("{api}/repos/{repo}/statuses/{sha}"),
                    "avatar_url": null,
                    "id": s.id,
                    "node_id": format!("SC_{}", s.id),
                    "state": s.state,
                    "description": null,
                    "target_url": null,
                    "context": s.context,
                    "created_at": iso_now(),
                    "updated_at": iso_now(),
                })
            })
            .collect();
        json!({
            "state": state,
            "statuses": statuses,
            "sha": sha,
            "total_count": latest.len(),
            "repository": self.repo_json(api),
            "commit_url": format!("{api}/repos/{repo}/commits/{sha}"),
            "url": format!("{api}/repos/{repo}/commits/{sha}/status"),
        })
    }
}
