//! What a real Plane server taught us (issue 15, items 9–13): a wrong workspace or project
//! told apart from a bad key, the outbox delivered by `oc plane-sync` and shown in the
//! status, items with only a `repo:` label, rate-limit waits that say so, and a listing
//! that does not pass off an unreachable Plane as an empty board.

mod support;

use std::time::Duration;

use support::fake_plane::{FakePlane, PROJECT_ID, WORKSPACE_SLUG};
use support::{PLANE_CREDENTIAL, World};

/// A world on a fresh fake Plane with no rate limit (tests that want one set it).
fn plane_world() -> World {
    let mut w = World::new();
    if w.plane.is_none() {
        w.use_plane(FakePlane::with_rate_limit(
            1_000_000,
            Duration::from_secs(60),
        ));
    }
    w.write_config();
    w
}

/// The board pointed at `slug`/`project` on the world's fake Plane.
fn point_board_at(w: &mut World, slug: &str, project: &str) {
    w.config.board = format!(
        "{{backend: plane, base_url: {}, workspace_slug: {slug}, project_id: {project}, credential: {PLANE_CREDENTIAL}, sync_interval_seconds: 0, claim_settle_ms: 50}}",
        w.fake_plane().base_url()
    );
    w.write_config();
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
    let mut w = plane_world();
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
    let mut w = plane_world();
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
    let mut w = plane_world();
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
