//! The Plane client against the fake Plane, over real HTTP on loopback; and the fake itself
//! against the documented facts and example bodies in shared/testdata/plane/.

#[path = "support_plane/mod.rs"]
mod support_plane;

use std::time::Duration;

use operations_center::board::State;
use operations_center::board::plane::{
    External, NewWorkItem, PlaneClient, PlaneError, RetryPolicy, WorkItemPatch,
};
use support_plane::testdata::{find_object_end, keys, raw_get, testdata};
use support_plane::{API_KEY, FakePlane, PROJECT_ID, RATE_LIMIT_BODY, WORKSPACE_SLUG};

fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 5,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(50),
        max_wait: Duration::from_secs(5),
        pace_on_exhausted: true,
    }
}

fn client_with_key(fake: &FakePlane, key: &str) -> PlaneClient {
    PlaneClient::new(&fake.base_url(), WORKSPACE_SLUG, PROJECT_ID, key)
        .unwrap()
        .with_key_from("env PLANE_API_TOKEN")
        .with_retry(fast_retries())
}

fn client(fake: &FakePlane) -> PlaneClient {
    client_with_key(fake, API_KEY)
}

fn external(id: &str) -> External {
    External::new("operations-center", id)
}

// ---- the fake against the documented facts ---------------------------------------------

#[test]
fn fake_envelope_and_cursors_match_the_testdata() {
    let fake = FakePlane::start();
    fake.seed_items(5, "item", None);
    let page1 = raw_get(&fake, "work-items/?per_page=3", Some(API_KEY))
        .text()
        .unwrap();
    let example = testdata("work_items_page1.json");
    assert_eq!(
        keys(&page1),
        keys(&example),
        "envelope keys and their order"
    );
    let v: serde_json::Value = serde_json::from_str(&page1).unwrap();
    let e: serde_json::Value = serde_json::from_str(&example).unwrap();
    for k in [
        "next_cursor",
        "prev_cursor",
        "next_page_results",
        "prev_page_results",
        "count",
        "total_pages",
        "total_count",
        "total_results",
        "grouped_by",
        "extra_stats",
    ] {
        assert_eq!(v[k], e[k], "{k}");
    }
    // Each work item has the serializer's keys in its order.
    let item = serde_json::to_string(&v["results"][0]).unwrap();
    let mut got = keys(&item);
    let mut want = keys(&testdata("work_item.json"));
    // serde_json::Value sorts keys, so compare the set here and the order on the raw text.
    got.sort();
    want.sort();
    assert_eq!(got, want);
    let first_item_start = page1.find("\"results\":[").unwrap() + "\"results\":[".len();
    let raw_item_keys = keys(&page1[first_item_start..find_object_end(&page1, first_item_start)]);
    assert_eq!(raw_item_keys, keys(&testdata("work_item.json")));

    let page2 = raw_get(&fake, "work-items/?per_page=3&cursor=3:1:0", Some(API_KEY))
        .text()
        .unwrap();
    let v2: serde_json::Value = serde_json::from_str(&page2).unwrap();
    let e2: serde_json::Value = serde_json::from_str(&testdata("work_items_page2.json")).unwrap();
    for k in [
        "next_cursor",
        "prev_cursor",
        "next_page_results",
        "prev_page_results",
        "count",
    ] {
        assert_eq!(v2[k], e2[k], "page 2 {k}");
    }
    // Ordered by -created_at across the pages.
    let names: Vec<String> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .chain(v2["results"].as_array().unwrap())
        .map(|i| i["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["item-4", "item-3", "item-2", "item-1", "item-0"]);
}

#[test]
fn fake_states_match_the_testdata() {
    let fake = FakePlane::start();
    let body = raw_get(&fake, "states/", Some(API_KEY)).text().unwrap();
    let example = testdata("states.json");
    assert_eq!(keys(&body), keys(&example));
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let e: serde_json::Value = serde_json::from_str(&example).unwrap();
    let pick = |x: &serde_json::Value| -> Vec<(String, String, String)> {
        x["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["id"].as_str().unwrap().into(),
                    s["name"].as_str().unwrap().into(),
                    s["group"].as_str().unwrap().into(),
                )
            })
            .collect()
    };
    assert_eq!(pick(&v), pick(&e));
    assert_eq!(v["next_cursor"], "1000:1:0");
    assert_eq!(v["prev_cursor"], "1000:-1:1");
}

#[test]
fn fake_rejects_bad_paging_parameters() {
    let fake = FakePlane::start();
    let resp = raw_get(&fake, "work-items/?per_page=1001", Some(API_KEY));
    assert_eq!(resp.status(), 400);
    assert!(
        resp.text()
            .unwrap()
            .contains("Invalid per_page value. Cannot exceed 1000.")
    );
    let resp = raw_get(&fake, "work-items/?cursor=garbage", Some(API_KEY));
    assert_eq!(resp.status(), 400);
    assert!(resp.text().unwrap().contains("Invalid cursor parameter."));
    // per_page 1000 is allowed.
    assert_eq!(
        raw_get(&fake, "work-items/?per_page=1000", Some(API_KEY)).status(),
        200
    );
}

#[test]
fn fake_auth_bodies_and_rate_limit_are_plane_s() {
    let fake = FakePlane::with_rate_limit(2, Duration::from_secs(60));
    let missing = raw_get(&fake, "states/", None);
    assert_eq!(missing.status(), 401);
    assert_eq!(
        missing.text().unwrap(),
        r#"{"detail":"Authentication credentials were not provided."}"#
    );
    let wrong = raw_get(&fake, "states/", Some("plane_api_wrong"));
    assert_eq!(wrong.status(), 403);
    assert_eq!(
        wrong.text().unwrap(),
        r#"{"detail":"Given API token is not valid"}"#
    );

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    for expected_remaining in ["1", "0"] {
        let ok = raw_get(&fake, "states/", Some(API_KEY));
        assert_eq!(ok.status(), 200);
        let h = ok.headers();
        assert_eq!(h["x-ratelimit-remaining"], expected_remaining);
        let reset: u64 = h["x-ratelimit-reset"].to_str().unwrap().parse().unwrap();
        assert!(
            (now + 59..=now + 61).contains(&reset),
            "reset is int(now + 60)"
        );
        assert_eq!(h["allow"], "GET, POST");
    }
    let throttled = raw_get(&fake, "states/", Some(API_KEY));
    assert_eq!(throttled.status(), 429);
    let h = throttled.headers().clone();
    let retry_after: u64 = h["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((59..=60).contains(&retry_after), "{retry_after}");
    assert!(h.get("x-ratelimit-remaining").is_none());
    assert!(h.get("x-ratelimit-reset").is_none());
    assert_eq!(h["content-type"], "application/json");
    let body = throttled.text().unwrap();
    assert_eq!(body, testdata("error_429.json"), "byte-exact 429 body");
    assert_eq!(body, RATE_LIMIT_BODY);
    // The headers file lists the same Retry-After/Allow/Content-Type set.
    let headers = testdata("error_429.headers.txt");
    assert!(headers.starts_with("HTTP/1.1 429 Too Many Requests\r\n"));
    for name in [
        "Content-Type: application/json",
        "Retry-After: ",
        "Allow: GET, POST",
    ] {
        assert!(headers.contains(name), "{name}");
    }
}

#[test]
fn fake_routes_only_documented_paths() {
    let fake = FakePlane::start();
    let http = reqwest::blocking::Client::new();
    let get = |url: String| http.get(url).header("X-API-Key", API_KEY).send().unwrap();
    // The deprecated issues/ path is not served by the fake (the client must not need it).
    let r = get(format!("{}issues/", fake.project_url()));
    assert_eq!(r.status(), 404);
    assert_eq!(r.text().unwrap(), r#"{"error": "Page not found."}"#);
    // Trailing slash required; UUID converters.
    assert_eq!(
        get(fake.project_url().trim_end_matches('/').to_string() + "/work-items").status(),
        404
    );
    assert_eq!(
        get(format!("{}work-items/T-1/", fake.project_url())).status(),
        404
    );
    let r = get(format!(
        "{}work-items/00000000-0000-4000-8000-ffffffffffff/",
        fake.project_url()
    ));
    assert_eq!(r.status(), 404);
    assert_eq!(
        r.text().unwrap(),
        r#"{"error":"The requested resource does not exist."}"#
    );
}

// ---- the client ---------------------------------------------------------------------------

#[test]
fn list_follows_the_cursor_across_three_pages() {
    let fake = FakePlane::with_rate_limit(600, Duration::from_secs(60));
    let seeded = fake.seed_items(250, "bulk", Some("Ready for AI"));
    let c = client(&fake);
    let items = c.list_work_items().unwrap();
    assert_eq!(items.len(), 250);
    let mut ids: Vec<&str> = items.iter().map(|i| i.id.as_str()).collect();
    ids.dedup();
    assert_eq!(ids.len(), 250, "no duplicates");
    assert_eq!(items[0].name, "bulk-249", "newest first");
    assert_eq!(items[249].id, seeded[0].id);
    let log = fake.requests();
    let queries: Vec<&str> = log.iter().map(|r| r.query.as_str()).collect();
    assert_eq!(log.len(), 3, "{queries:?}");
    assert!(log.iter().all(|r| r.path.ends_with("/work-items/")));
    assert!(queries[0].contains("per_page=100") && !queries[0].contains("cursor"));
    assert!(queries[1].contains("cursor=100%3A1%3A0"), "{}", queries[1]);
    assert!(queries[2].contains("cursor=100%3A2%3A0"), "{}", queries[2]);
    assert_eq!(c.request_count(), 3);
}

#[test]
fn a_429_storm_neither_loses_nor_duplicates_a_created_item() {
    let fake = FakePlane::start();
    let c = client(&fake);
    // Warm the label cache so the storm hits the create itself.
    c.label_ids(&["task-kind: goal".to_string()]).unwrap();
    fake.throttle_next(3, 0);
    let created = c
        .create_work_item(&NewWorkItem {
            name: "from the error ingest".into(),
            description: "body".into(),
            labels: vec!["task-kind: goal".into()],
            external: Some(external("ingest:abc")),
            ..Default::default()
        })
        .unwrap();
    assert!(!created.adopted);
    // A lost answer after the item was made: the replay gets 409 and adopts it.
    fake.fail_next_after_processing(1, 502);
    fake.throttle_next(2, 0);
    let again = c
        .create_work_item(&NewWorkItem {
            name: "from the error ingest".into(),
            external: Some(external("ingest:def")),
            ..Default::default()
        })
        .unwrap();
    assert!(again.adopted, "the replayed POST found its own item");
    let names = fake.world(|w| w.items.iter().map(|i| i.name.clone()).collect::<Vec<_>>());
    assert_eq!(
        names.len(),
        2,
        "exactly one item per external id: {names:?}"
    );
    let stats = c.stats();
    assert_eq!(stats.throttled, 5);
    assert_eq!(stats.requests as usize, fake.request_count());
}

#[test]
fn the_real_rate_limit_is_waited_out() {
    // 3 requests per 2 s: the client sees Remaining 0, waits for the reset or honours
    // Retry-After, and every create lands exactly once.
    let fake = FakePlane::with_rate_limit(3, Duration::from_secs(2));
    let c = client(&fake);
    for i in 0..5 {
        c.create_work_item(&NewWorkItem {
            name: format!("paced {i}"),
            external: Some(external(&format!("paced:{i}"))),
            ..Default::default()
        })
        .unwrap();
    }
    assert_eq!(fake.world(|w| w.items.len()), 5);
    let stats = c.stats();
    assert!(stats.remaining.is_some() && stats.reset.is_some());
}

#[test]
fn gateway_errors_are_retried_with_a_bound() {
    let fake = FakePlane::start();
    let item = fake.seed_items(1, "one", None).remove(0);
    let c = client(&fake);
    fake.fail_next(2, 502);
    fake.fail_next(1, 503);
    fake.fail_next(1, 504);
    assert_eq!(c.get_work_item(&item.id).unwrap().id, item.id);
    assert_eq!(fake.request_count(), 5);
    assert_eq!(c.stats().retries, 4);

    fake.fail_next(10, 503);
    let err = c.get_work_item(&item.id).unwrap_err();
    assert!(
        matches!(err, PlaneError::Status { status: 503, .. }),
        "{err}"
    );
    assert_eq!(fake.request_count(), 10, "5 attempts, no more");
}

#[test]
fn a_bare_post_is_not_replayed_after_a_lost_answer() {
    let fake = FakePlane::start();
    let c = client(&fake);
    fake.fail_next_after_processing(1, 502);
    let err = c
        .create_work_item(&NewWorkItem {
            name: "no external id".into(),
            ..Default::default()
        })
        .unwrap_err();
    assert!(
        matches!(err, PlaneError::Status { status: 502, .. }),
        "{err}"
    );
    assert_eq!(
        fake.world(|w| w.items.len()),
        1,
        "not duplicated by a retry"
    );
}

#[test]
fn auth_failure_is_typed_and_not_retried() {
    let fake = FakePlane::start();
    let secret = "plane_api_this_is_wrong_secret";
    let err = client_with_key(&fake, secret)
        .list_work_items()
        .unwrap_err();
    match &err {
        PlaneError::Auth { status, detail, .. } => {
            assert_eq!(*status, 403);
            assert_eq!(detail, "Given API token is not valid");
        }
        other => panic!("expected Auth, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains("not valid") && msg.contains("env PLANE_API_TOKEN"),
        "{msg}"
    );
    assert!(!msg.contains(secret) && !format!("{err:?}").contains(secret));
    // Never retried; the one more request checks the key alone (`users/me/`), which
    // tells a refused key from a workspace or project out of reach (both are 403).
    let sent: Vec<(String, u16)> = fake
        .requests()
        .iter()
        .map(|r| (r.path.clone(), r.status))
        .collect();
    assert_eq!(sent.len(), 2, "never retried: {sent:?}");
    assert_eq!(sent[1], ("/api/v1/users/me/".to_string(), 403), "{sent:?}");

    let err = client_with_key(&fake, "").list_states().unwrap_err();
    assert!(matches!(err, PlaneError::Auth { status: 401, .. }));
    assert!(err.to_string().contains("missing"), "{err}");
    assert_eq!(fake.request_count(), 3, "a missing key needs no check");
    let c = client_with_key(&fake, secret);
    assert!(!format!("{c:?}").contains(secret));
}

#[test]
fn description_html_round_trip_keeps_structure() {
    let fake = FakePlane::start();
    let c = client(&fake);
    let md = "## Goal\n\nMake the parser accept tabs.\n\nSecond paragraph here.\n\n```rust\nfn main() {\n    println!(\"<hi>\");\n}\n```\n";
    let created = c
        .create_work_item(&NewWorkItem {
            name: "round trip".into(),
            description: md.into(),
            ..Default::default()
        })
        .unwrap()
        .value;
    let stored = fake.world(|w| w.items[0].description_html.clone());
    assert!(
        stored.starts_with("<div>") && stored.contains("<h2>"),
        "{stored}"
    );
    let task = c.to_task(&c.get_work_item(&created.id).unwrap()).unwrap();
    let text = task.description;
    assert!(text.contains("## Goal"), "{text}");
    assert!(text.contains("Make the parser accept tabs."), "{text}");
    assert!(text.contains("Second paragraph here."), "{text}");
    assert!(text.contains("```"), "{text}");
    assert!(text.contains("    println!(\"<hi>\");"), "{text}");
    let goal = text.find("Make the parser").unwrap();
    let second = text.find("Second paragraph").unwrap();
    assert!(
        text[goal..second].contains("\n\n"),
        "paragraphs stay apart: {text}"
    );
}

#[test]
fn the_fake_sanitises_html() {
    let fake = FakePlane::start();
    let c = client(&fake);
    let item = fake.seed_items(1, "x", None).remove(0);
    let patch = WorkItemPatch {
        description_html: Some(
            "<p onclick=\"evil()\">ok</p><script>alert(1)</script><p>after</p>".into(),
        ),
        ..Default::default()
    };
    let got = c.patch_work_item(&item.id, &patch).unwrap();
    let html = got.description_html.unwrap();
    assert!(
        !html.contains("script") && !html.contains("onclick"),
        "{html}"
    );
    assert!(
        html.contains("<p>ok</p>") && html.contains("after"),
        "{html}"
    );
}

#[test]
fn labels_are_replaced_on_patch_and_created_on_demand() {
    let fake = FakePlane::start();
    let c = client(&fake);
    let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let item = c
        .create_work_item(&NewWorkItem {
            name: "labelled".into(),
            labels: names(&["task-kind: goal", "repo: demo"]),
            ..Default::default()
        })
        .unwrap()
        .value;
    assert_eq!(item.labels.len(), 2);
    assert_eq!(fake.world(|w| w.labels.len()), 2, "both created on demand");

    let patched = c.set_labels(&item.id, &names(&["source: human"])).unwrap();
    assert_eq!(patched.labels.len(), 1, "the whole set was replaced");
    assert_eq!(c.label_names(&patched.labels).unwrap(), ["source: human"]);
    assert_eq!(fake.world(|w| w.labels.len()), 3);
    // A label made in the UI meanwhile: hydration refreshes the cache once.
    let ui_label = fake.world(|w| {
        w.create_label(&serde_json::from_str(r#"{"name":"priority: high"}"#).unwrap());
        w.labels.last().unwrap().id.clone()
    });
    assert_eq!(c.label_names(&[ui_label]).unwrap(), ["priority: high"]);

    // Unknown label id and a state from elsewhere are 400 from the fake.
    let bad = c.patch_work_item(
        &item.id,
        &WorkItemPatch {
            labels: Some(vec!["00000000-0000-4000-8000-0000000fffff".into()]),
            ..Default::default()
        },
    );
    assert!(matches!(bad, Err(PlaneError::Status { status: 400, .. })));
    let bad = c.patch_work_item(
        &item.id,
        &WorkItemPatch {
            state: Some("00000000-0000-4000-8000-0000000eeeee".into()),
            ..Default::default()
        },
    );
    assert!(matches!(bad, Err(PlaneError::Status { status: 400, .. })));
}

#[test]
fn duplicates_are_adopted_on_409() {
    let fake = FakePlane::start();
    let c = client(&fake);
    let new = NewWorkItem {
        name: "proposal".into(),
        external: Some(external("proposal:ruff:1")),
        ..Default::default()
    };
    let first = c.create_work_item(&new).unwrap();
    let second = c.create_work_item(&new).unwrap();
    assert!(!first.adopted && second.adopted);
    assert_eq!(first.value.id, second.value.id);
    assert_eq!(fake.world(|w| w.items.len()), 1);
    let found = c.find_work_item(&external("proposal:ruff:1")).unwrap();
    assert_eq!(found.unwrap().id, first.value.id);
    assert!(c.find_work_item(&external("nope")).unwrap().is_none());

    let ext = external("run:1:result");
    let a = c
        .create_comment(&first.value.id, "**done**\n\n```\nlog\n```", Some(&ext))
        .unwrap();
    let b = c
        .create_comment(&first.value.id, "again", Some(&ext))
        .unwrap();
    assert!(!a.adopted && b.adopted && a.value == b.value);
    let comments = c.list_comments(&first.value.id).unwrap();
    assert_eq!(comments.len(), 1);
    assert!(comments[0].comment_html.contains("<pre>"));
    assert!(comments[0].text().contains("log"));

    // A label name that exists is adopted too.
    let l1 = c.create_label("repo: demo").unwrap();
    let l2 = c.create_label("repo: demo").unwrap();
    assert!(l2.adopted && l1.value.id == l2.value.id);
}

#[test]
fn states_map_by_name_and_transitions_stamp_dates() {
    let fake = FakePlane::start();
    let c = client(&fake);
    // Names match case-insensitively, whatever the board's spelling.
    fake.world(|w| w.states[1].name = "READY for ai".into());
    let states = c.states().unwrap();
    assert!(states.missing().is_empty(), "{:?}", states.missing());
    assert_eq!(
        states.id_of(State::ReadyForAi).unwrap(),
        "1b5e6d7f-8091-42a3-b4c5-d6e7f8a9b012"
    );
    assert!(matches!(
        states.id_of(State::AwaitingInput),
        Err(PlaneError::MissingState(_))
    ));

    let item = fake.seed_items(1, "t", Some("Ready for AI")).remove(0);
    let today = chrono::Utc::now().date_naive().to_string();
    let running = c.transition(&item.id, State::Running).unwrap();
    assert_eq!(running.start_date.as_deref(), Some(today.as_str()));
    assert_eq!(running.target_date, None);
    let done = c.transition(&item.id, State::Done).unwrap();
    assert_eq!(done.target_date.as_deref(), Some(today.as_str()));
    assert!(fake.world(|w| w.items[0].completed_at.is_some()));
    let task = c.to_task(&done).unwrap();
    assert_eq!(task.state, State::Done);
    assert_eq!(task.priority, None, "Plane's \"none\" is no priority");
}

#[test]
fn rate_headers_are_exposed_and_every_request_counted() {
    let fake = FakePlane::start();
    let c = client(&fake);
    c.list_states().unwrap();
    c.list_labels().unwrap();
    let stats = c.stats();
    assert_eq!(stats.requests, 2);
    assert_eq!(stats.remaining, Some(58));
    assert!(stats.reset.unwrap() > 0);
}
