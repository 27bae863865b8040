//! What a real Plane server taught us (issue 15, items 9–13): a wrong workspace or project
//! told apart from a bad key, the outbox delivered by `oc plane-sync` and shown in the
//! status, items with only a `repo:` label, rate-limit waits that say so, and a listing
//! that does not pass off an unreachable Plane as an empty board.

mod support;

use std::time::Duration;

use operations_center::board::State;
use operations_center::board::plane::{NewWorkItem, PlaneClient};
use serde_json::Value;
use support::fake_plane::{API_KEY, PROJECT_ID, WORKSPACE_SLUG};
use support::{PLANE_CREDENTIAL, World};

/// The board pointed at `slug`/`project` on the world's fake Plane.
fn point_board_at(w: &mut World, slug: &str, project: &str) {
    w.config.board = format!(
        "{{backend: plane, base_url: {}, workspace_slug: {slug}, project_id: {project}, credential: {PLANE_CREDENTIAL}, sync_interval_seconds: 0, claim_settle_ms: 50}}",
        w.fake_plane().base_url()
    );
    w.write_config();
}

/// The item's state name on the fake Plane itself (not the mirror).
fn state_on_plane(w: &World, id: &str) -> String {
    w.fake_plane().world(|world| {
        let item = world.items.iter().find(|i| i.id == id).expect("item");
        let state = world
            .states
            .iter()
            .find(|s| s.id == item.state)
            .expect("state");
        state.name.clone()
    })
}

fn comments_on_plane(w: &World, id: &str) -> Vec<String> {
    w.fake_plane().world(|world| {
        world
            .comments
            .iter()
            .filter(|c| c.issue == id)
            .map(|c| c.comment_html.clone())
            .collect()
    })
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// Runs a lane that must stop by itself; its exit code and log.
fn lane_exit(w: &World) -> (Option<i32>, String) {
    let mut lane = w.spawn_lane("slot1", &[], &[]);
    let status = lane
        .wait_exit(Duration::from_secs(30))
        .unwrap_or_else(|| panic!("lane kept running:\n{}", lane.log_text()));
    (status.code(), lane.log_text())
}

fn doctor(w: &World) -> (Option<i32>, String) {
    let out = w.oc(&["doctor"]);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn a_wrong_workspace_slug_is_a_configuration_error_naming_the_setting() {
    let mut w = World::on_plane();
    point_board_at(&mut w, "oc-demo-typo", PROJECT_ID);
    let (code, log) = lane_exit(&w);
    assert_eq!(code, Some(78), "{log}");
    assert!(
        log.contains("board.workspace_slug") && log.contains("oc-demo-typo"),
        "{log}"
    );
    assert!(!log.contains("API key is not valid"), "{log}");
    // Plane's own words stay in the message.
    assert!(
        log.contains("You do not have permission to perform this action."),
        "{log}"
    );

    let (code, text) = doctor(&w);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("ok    reached"), "{text}");
    assert!(text.contains("key accepted"), "{text}");
    assert!(
        text.contains("FAIL  board.workspace_slug is wrong") && text.contains("oc-demo-typo"),
        "{text}"
    );
    assert!(!text.contains("refused the API key"), "{text}");
}

#[test]
fn a_wrong_project_id_is_a_configuration_error_naming_the_setting() {
    let mut w = World::on_plane();
    let other = "0f0f0f0f-1111-4222-8333-444455556666";
    point_board_at(&mut w, WORKSPACE_SLUG, other);
    let (code, log) = lane_exit(&w);
    assert_eq!(code, Some(78), "{log}");
    assert!(
        log.contains("board.project_id") && log.contains(other),
        "{log}"
    );
    assert!(!log.contains("board.workspace_slug is wrong"), "{log}");
    assert!(!log.contains("API key is not valid"), "{log}");

    let (code, text) = doctor(&w);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("key accepted"), "{text}");
    assert!(
        text.contains(&format!("ok    workspace {WORKSPACE_SLUG}")),
        "{text}"
    );
    assert!(
        text.contains("FAIL  board.project_id is wrong") && text.contains(other),
        "{text}"
    );
}

#[test]
fn a_bad_key_is_still_a_bad_key_even_with_a_wrong_project() {
    // Both wrong: the key is what Plane refuses first, and what the operator must fix.
    let mut w = World::on_plane();
    std::fs::write(
        w.path().join("credentials").join(PLANE_CREDENTIAL),
        "plane_api_revoked\n",
    )
    .unwrap();
    point_board_at(&mut w, "elsewhere", PROJECT_ID);
    let (code, log) = lane_exit(&w);
    assert_eq!(code, Some(77), "{log}");
    assert!(log.contains("the Plane API key is not valid"), "{log}");
    let (code, text) = doctor(&w);
    assert_eq!(code, Some(1), "{text}");
    assert!(
        text.contains("FAIL  Plane refused the API key (403)"),
        "{text}"
    );
}

#[test]
fn plane_sync_delivers_the_writes_an_outage_held_back_and_the_status_shows_them() {
    let w = World::on_plane();
    let id = w.add_goal("Held back by the outage");
    w.fake_plane().set_outage(Some(502));
    // Plane down: the writes are kept, not lost (and the command says nothing failed).
    w.oc_ok(&["task", "move", &id, "review"]);
    w.oc_ok(&["task", "comment", &id, "looked at it during the outage"]);
    assert_eq!(state_on_plane(&w, &id), "Ready for AI");

    let status = json(&w.oc_ok(&["plane-status", "--json"]));
    assert_eq!(status["outbox"], 2, "{status}");
    assert!(status["outbox_oldest"].is_string(), "{status}");
    assert!(
        status["outbox_oldest_age_seconds"].as_i64().unwrap() >= 0,
        "{status}"
    );
    assert!(
        status["outbox_last_error"]
            .as_str()
            .is_some_and(|e| e.contains("502")),
        "{status}"
    );
    let text = w.oc_ok(&["plane-status"]);
    assert!(
        text.contains("outbox: 2 write(s) waiting for Plane, oldest queued"),
        "{text}"
    );
    let status = json(&w.oc_ok(&["status", "--json"]));
    assert_eq!(status["plane"]["outbox"], 2, "{status}");
    let text = w.oc_ok(&["status"]);
    assert!(
        text.contains("outbox: 2 write(s) waiting for Plane"),
        "{text}"
    );

    // Plane back: `oc plane-sync` delivers them, in order.
    w.fake_plane().set_outage(None);
    let out = w.oc_ok(&["plane-sync"]);
    assert!(
        out.contains("delivered 2 queued write(s) to Plane"),
        "{out}"
    );
    assert_eq!(state_on_plane(&w, &id), "Review");
    assert!(
        comments_on_plane(&w, &id)
            .iter()
            .any(|c| c.contains("looked at it during the outage")),
        "{:?}",
        comments_on_plane(&w, &id)
    );
    assert_eq!(w.task_state(&id), "Review");
    let status = json(&w.oc_ok(&["plane-status", "--json"]));
    assert_eq!(status["outbox"], 0, "{status}");
    assert!(w.oc_ok(&["plane-status"]).contains("outbox: empty"));
}

#[test]
fn a_lane_cycle_delivers_the_outbox_even_when_the_mirror_is_not_due() {
    let mut w = World::on_plane();
    w.config.board =
        support::plane_board_yaml(&w.fake_plane().base_url(), ", sync_interval_seconds: 600")
            .replace("sync_interval_seconds: 0, ", "");
    w.write_config();
    let id = w.add_goal("Moved during the outage");
    // A fresh mirror: the next sync is not due for ten minutes.
    w.oc_ok(&["plane-sync"]);
    w.fake_plane().set_outage(Some(503));
    w.oc_ok(&["task", "move", &id, "blocked"]);
    w.fake_plane().set_outage(None);

    // The lane's cycle delivers the move before it looks for work: the item is not Ready
    // any more, so there is nothing to claim.
    let line = w.run_next();
    assert_eq!(state_on_plane(&w, &id), "Blocked", "{line}");
    assert!(!line.starts_with("executed"), "{line}");
    let status = json(&w.oc_ok(&["plane-status", "--json"]));
    assert_eq!(status["outbox"], 0, "{status}");
}

#[test]
fn an_item_with_only_a_repo_label_is_a_goal_task() {
    let mut w = World::on_plane();
    w.use_agent("printf '# Changes\\n' > CHANGES.md");
    w.write_config();
    // Made in Plane's UI: free text, Ready for AI, one label `repo: demo`, no task-kind.
    let client = PlaneClient::new(
        &w.fake_plane().base_url(),
        WORKSPACE_SLUG,
        PROJECT_ID,
        API_KEY,
    )
    .unwrap();
    let ready = client
        .states()
        .unwrap()
        .id_of(State::ReadyForAi)
        .unwrap()
        .to_string();
    let item = client
        .create_work_item(&NewWorkItem {
            name: "Add a changelog".into(),
            description: "Add a CHANGES.md file describing the release.".into(),
            state: Some(ready),
            labels: vec!["repo: demo".into()],
            priority: None,
            external: None,
        })
        .unwrap()
        .value;
    w.oc_ok(&["plane-sync"]);
    let line = w.run_next();
    assert_eq!(line, format!("executed {}: Review (executed)", item.id));
    assert_eq!(state_on_plane(&w, &item.id), "Review");
    let list = w.oc_ok(&["task", "list"]);
    assert!(
        list.lines()
            .any(|l| l.contains("Add a changelog") && l.contains("goal")),
        "{list}"
    );
}

/// Every sd_notify datagram sent to a socket, once the sender is done.
fn notify_messages(socket: &std::os::unix::net::UnixDatagram) -> Vec<String> {
    socket.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 4096];
    let mut out = Vec::new();
    while let Ok(n) = socket.recv(&mut buf) {
        out.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    out
}

#[test]
fn a_rate_limit_wait_is_logged_once_and_shown_in_status() {
    let w = World::on_plane();
    let notify_path = w.path().join("notify.sock");
    let socket = std::os::unix::net::UnixDatagram::bind(&notify_path).unwrap();
    // The lane's first request is throttled as real Plane does it, Retry-After: 3.
    w.fake_plane().throttle_next(1, 3);
    let started = std::time::Instant::now();
    let out = w.oc_env(
        &["--log-format", "json", "run-next"],
        &[("NOTIFY_SOCKET", notify_path.to_str().unwrap())],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(started.elapsed() >= Duration::from_secs(3), "did not wait");

    let events = support::json_lines(&stderr);
    let waits = support::events_named(&events, "plane_rate_limited");
    assert_eq!(waits.len(), 1, "{stderr}");
    assert_eq!(waits[0]["wait_seconds"], 3, "{stderr}");
    assert_eq!(waits[0]["reason"], "Retry-After", "{stderr}");
    assert!(
        waits[0]["message"].as_str().unwrap().contains("waiting 3s"),
        "{stderr}"
    );

    // STATUS= says so while waiting, the watchdog is pinged meanwhile, and the lane's own
    // status comes back after.
    let messages = notify_messages(&socket);
    let at = messages
        .iter()
        .position(|m| m.contains("STATUS=waiting 3s for Plane's rate limit (Retry-After)"))
        .unwrap_or_else(|| panic!("{messages:#?}"));
    let after = &messages[at + 1..];
    let pings = after
        .iter()
        .take_while(|m| !m.contains("STATUS="))
        .filter(|m| m.contains("WATCHDOG=1"))
        .count();
    assert!(pings >= 2, "{messages:#?}");
    assert!(
        after
            .iter()
            .find(|m| m.contains("STATUS="))
            .is_some_and(|m| m.contains("STATUS=cycle 1")),
        "{messages:#?}"
    );
}

#[test]
fn a_listing_after_a_failed_first_sync_says_plane_was_unreachable() {
    let mut w = World::on_plane();
    // The default cadence of a real install: the mirror is not read again for a while.
    w.config.board =
        support::plane_board_yaml(&w.fake_plane().base_url(), ", sync_interval_seconds: 600")
            .replace("sync_interval_seconds: 0, ", "");
    w.write_config();
    w.fake_plane()
        .seed_items(3, "Waiting", Some("Ready for AI"));
    w.fake_plane().set_outage(Some(502));
    // The lane's first cycle cannot reach Plane.
    let out = w.oc(&["run-next"]);
    assert!(!out.status.success());

    let out = w.oc(&["task", "list"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(
            "the local mirror of the Plane board is empty because Plane could not be reached"
        ) && stderr.contains("502"),
        "{stderr}"
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "");
    let out = w.oc(&["task", "list", "--json"]);
    assert_ne!(out.status.code(), Some(0));

    // Plane back: the next listing reads it at once (an empty mirror does not wait for
    // the sync interval).
    w.fake_plane().set_outage(None);
    assert_eq!(w.task_list(None).len(), 3);
}
