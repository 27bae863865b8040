//! The GitHub client against the fake GitHub over real HTTP, and the fake itself against
//! GitHub's documented shapes (octocrab's own models must parse what it serves; a pull
//! object carries every key of the real payload in shared/testdata/github/).

#[path = "support/mod.rs"]
mod support;
#[path = "support_github/mod.rs"]
mod support_github;

use std::time::Duration;

use operations_center::github::{GitHub, MergeOutcome, RepoSlug, RetryPolicy};
use support::World;
use support_github::{FakeGitHub, TOKEN};

/// A raw GET with an independent HTTP client (reqwest): (status, JSON body).
fn raw_get(fake: &FakeGitHub, path: &str, token: Option<&str>) -> (u16, serde_json::Value) {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let mut req = client.get(format!("{}{path}", fake.base_url()));
    if let Some(t) = token {
        req = req.header("Authorization", format!("Bearer {t}"));
    }
    let resp = req.send().unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let status = resp.status().as_u16();
    let body = resp
        .json()
        .unwrap_or_else(|e| panic!("GET {path}: body: {e}"));
    (status, body)
}

fn slug() -> RepoSlug {
    RepoSlug {
        owner: "acme".into(),
        name: "demo".into(),
    }
}

fn setup() -> (World, FakeGitHub, GitHub) {
    let w = World::new();
    let fake = FakeGitHub::start();
    fake.add_repo("acme", "demo", &w.remote);
    let gh = GitHub::new(&fake.base_url(), TOKEN)
        .unwrap()
        .with_retry(RetryPolicy {
            max_attempts: 3,
            max_wait: Duration::from_secs(5),
        });
    (w, fake, gh)
}

/// A branch `name` with one commit adding `file`, pushed to the world's bare repo.
fn push_branch(w: &World, name: &str, file: &str) -> String {
    let clone = w.path().join(format!("clone-{}", name.replace('/', "-")));
    w.git(
        w.path(),
        &[
            "clone",
            "--quiet",
            &w.remote.to_string_lossy(),
            &clone.to_string_lossy(),
        ],
    );
    w.git(&clone, &["checkout", "--quiet", "-b", name]);
    std::fs::write(clone.join(file), "content\n").unwrap();
    w.git(&clone, &["add", file]);
    w.git(
        &clone,
        &[
            "-c",
            "user.name=T",
            "-c",
            "user.email=t@example.com",
            "commit",
            "--quiet",
            "-m",
            "change",
        ],
    );
    w.git(&clone, &["push", "--quiet", "origin", name]);
    w.git(&clone, &["rev-parse", "HEAD"]).trim().to_string()
}

#[test]
fn missing_or_wrong_token_gets_githubs_401() {
    let (_w, fake, _gh) = setup();
    let (status, body) = raw_get(&fake, "/repos/acme/demo/pulls", None);
    assert_eq!(status, 401);
    assert_eq!(body["message"], "Requires authentication");
    let (status, body) = raw_get(&fake, "/repos/acme/demo/pulls", Some("nope"));
    assert_eq!(status, 401);
    assert_eq!(body["message"], "Bad credentials");
    let bad = GitHub::new(&fake.base_url(), "nope").unwrap();
    let err = bad.open_pulls(&slug()).unwrap_err();
    assert_eq!(err.status(), Some(401), "{err}");
}

#[test]
fn lists_follow_link_pagination() {
    let (_w, fake, gh) = setup();
    for i in 0..130 {
        fake.open_pr_as("acme/demo", "alice", "main", &format!("PR {i}"), "");
    }
    let pulls = gh.open_pulls(&slug()).unwrap();
    assert_eq!(pulls.len(), 130);
    let mut numbers: Vec<u64> = pulls.iter().map(|p| p.number).collect();
    numbers.sort();
    numbers.dedup();
    assert_eq!(numbers.len(), 130, "every PR once");
    let pages: Vec<String> = fake
        .requests()
        .iter()
        .filter(|r| r.path == "/repos/acme/demo/pulls")
        .map(|r| r.query.clone())
        .collect();
    assert_eq!(pages.len(), 2, "{pages:?}");
    assert!(pages[1].contains("page=2"), "{pages:?}");
}

#[test]
fn secondary_rate_limit_is_waited_out() {
    let (_w, fake, gh) = setup();
    fake.open_pr_as("acme/demo", "alice", "main", "x", "");
    fake.throttle_next(1, 1);
    let pulls = gh.open_pulls(&slug()).unwrap();
    assert_eq!(pulls.len(), 1);
    let statuses: Vec<u16> = fake.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, vec![403, 200]);
}

#[test]
fn secondary_rate_limit_beyond_the_wait_budget_fails_the_call() {
    let (_w, fake, gh) = setup();
    fake.throttle_next(1, 3600);
    let err = gh.open_pulls(&slug()).unwrap_err();
    assert_eq!(err.status(), Some(403), "{err}");
    assert_eq!(
        fake.requests().len(),
        1,
        "no retry before an hour-long Retry-After"
    );
}

#[test]
fn merge_guards_head_sha_and_reports_lost_races_as_merged() {
    let (w, fake, gh) = setup();
    let head = push_branch(&w, "feature", "feature.txt");
    let pr = gh
        .create_pull(&slug(), "Add feature", "feature", "main", "body")
        .unwrap();
    assert_eq!(pr.head.sha, head);
    assert_eq!(pr.user.login, support_github::BOT_LOGIN);

    let stale = "0".repeat(40);
    match gh.merge(&slug(), pr.number, &stale, "t").unwrap() {
        MergeOutcome::HeadChanged(m) => assert!(m.contains("Head branch was modified"), "{m}"),
        other => panic!("expected HeadChanged, got {other:?}"),
    }
    assert!(matches!(
        gh.merge(&slug(), pr.number, &head, "t").unwrap(),
        MergeOutcome::Merged { .. }
    ));
    // Really merged: main now has the file.
    let files = w.git(&w.remote, &["ls-tree", "--name-only", "main"]);
    assert!(files.contains("feature.txt"), "{files}");
    // A second merge (another reviewer racing) gets 405 and is taken as merged.
    assert_eq!(
        gh.merge(&slug(), pr.number, &head, "t").unwrap(),
        MergeOutcome::AlreadyMerged
    );
    assert_eq!(fake.merges(), 1);
}

#[test]
fn unmergeable_pr_is_reported_not_merged() {
    let (w, fake, gh) = setup();
    let head = push_branch(&w, "conflicted", "c.txt");
    let pr = gh
        .create_pull(&slug(), "C", "conflicted", "main", "")
        .unwrap();
    fake.set_mergeable("acme/demo", pr.number, false);
    match gh.merge(&slug(), pr.number, &head, "t").unwrap() {
        MergeOutcome::NotMergeable(m) => assert_eq!(m, "Pull Request is not mergeable"),
        other => panic!("expected NotMergeable, got {other:?}"),
    }
}

#[test]
fn creating_a_duplicate_pr_is_a_validation_error() {
    let (w, _fake, gh) = setup();
    push_branch(&w, "dup", "d.txt");
    gh.create_pull(&slug(), "D", "dup", "main", "").unwrap();
    let err = gh.create_pull(&slug(), "D", "dup", "main", "").unwrap_err();
    assert_eq!(err.status(), Some(422), "{err}");
}

#[test]
fn checks_and_statuses_read_from_the_head_commit() {
    let (w, fake, gh) = setup();
    let head = push_branch(&w, "ci", "ci.txt");
    fake.set_check_run("acme/demo", &head, "build", "completed", Some("success"));
    fake.set_check_run("acme/demo", &head, "e2e", "in_progress", None);
    fake.add_status("acme/demo", &head, "legacy/ci", "pending");
    let runs = gh.check_runs(&slug(), &head).unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(
        runs.iter().find(|r| r.name == "e2e").unwrap().conclusion,
        None
    );
    let combined = gh.combined_status(&slug(), &head).unwrap();
    assert_eq!(combined.state, "pending");
    assert_eq!(combined.statuses[0].context, "legacy/ci");
}

/// octocrab's models are GitHub's schema as a widely used client sees it: what the fake
/// serves must parse with them.
#[test]
fn fake_objects_parse_with_octocrabs_models() {
    let (w, fake, gh) = setup();
    let head = push_branch(&w, "shape", "s.txt");
    let pr = gh
        .create_pull(&slug(), "Shape", "shape", "main", "body")
        .unwrap();
    fake.comment_as("acme/demo", pr.number, "alice", "hello");
    fake.review_as("acme/demo", pr.number, "alice", "CHANGES_REQUESTED", "");
    fake.review_comment_as("acme/demo", pr.number, "alice", "s.txt", "rename this");
    fake.react_as("acme/demo", pr.number, "alice", "+1");
    fake.set_check_run("acme/demo", &head, "build", "completed", Some("success"));
    fake.add_status("acme/demo", &head, "legacy/ci", "success");
    let get = |path: &str| -> serde_json::Value {
        let (status, body) = raw_get(&fake, path, Some(TOKEN));
        assert_eq!(status, 200, "{path}");
        body
    };
    let n = pr.number;
    let _: octocrab::models::pulls::PullRequest =
        serde_json::from_value(get(&format!("/repos/acme/demo/pulls/{n}"))).unwrap();
    let _: Vec<octocrab::models::pulls::PullRequest> =
        serde_json::from_value(get("/repos/acme/demo/pulls")).unwrap();
    let _: Vec<octocrab::models::issues::Comment> =
        serde_json::from_value(get(&format!("/repos/acme/demo/issues/{n}/comments"))).unwrap();
    let _: Vec<octocrab::models::pulls::Review> =
        serde_json::from_value(get(&format!("/repos/acme/demo/pulls/{n}/reviews"))).unwrap();
    let _: Vec<octocrab::models::pulls::Comment> =
        serde_json::from_value(get(&format!("/repos/acme/demo/pulls/{n}/comments"))).unwrap();
    let _: Vec<octocrab::models::reactions::Reaction> =
        serde_json::from_value(get(&format!("/repos/acme/demo/issues/{n}/reactions"))).unwrap();
    let _: octocrab::models::checks::ListCheckRuns =
        serde_json::from_value(get(&format!("/repos/acme/demo/commits/{head}/check-runs")))
            .unwrap();
    let _: octocrab::models::CombinedStatus =
        serde_json::from_value(get(&format!("/repos/acme/demo/commits/{head}/status"))).unwrap();
}

#[test]
fn fake_pull_has_every_key_of_githubs_payload() {
    let (w, fake, gh) = setup();
    push_branch(&w, "keys", "k.txt");
    let pr = gh.create_pull(&slug(), "Keys", "keys", "main", "").unwrap();
    let text =
        std::fs::read_to_string(testdata!("github/webhooks/pull_request.opened.json")).unwrap();
    let real: serde_json::Value = serde_json::from_str(&text).unwrap();
    let (status, ours) = raw_get(
        &fake,
        &format!("/repos/acme/demo/pulls/{}", pr.number),
        Some(TOKEN),
    );
    assert_eq!(status, 200);
    for key in real["pull_request"].as_object().unwrap().keys() {
        assert!(ours.get(key).is_some(), "fake pull lacks {key}");
    }
}
