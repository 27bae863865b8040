//! The Plane backend against the fake Plane: the mirror across pages and deletions, the
//! claim protocol between hosts, 429 storms, a refused key, the HTML round trip, `oc
//! doctor` and the request meter. (The lane scenarios themselves run on Plane too:
//! scripts/test-all repeats them with OC_TEST_BOARD=plane.)

mod support;

use std::collections::BTreeMap;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use nix::sys::signal::Signal;
use operations_center::board::plane::{PlaneBoard, PlaneClient, RetryPolicy};
use operations_center::board::{Board, State};
use operations_center::config::BoardConfig;
use operations_center::store::runs::NewRun;
use serde_json::{Map, Value};
use support::fake_plane::{API_KEY, FakePlane, PROJECT_ID, WORKSPACE_SLUG, wire};
use support::{World, comments, sh_quote, wait_until};

fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 6,
        base_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(200),
        max_wait: Duration::from_secs(5),
        pace_on_exhausted: true,
    }
}

/// A Plane board in its own state directory: what one host sees.
fn host_board(fake: &FakePlane, state_dir: &std::path::Path) -> PlaneBoard {
    let client = PlaneClient::new(&fake.base_url(), WORKSPACE_SLUG, PROJECT_ID, API_KEY)
        .unwrap()
        .with_retry(fast_retries());
    let yaml = support::plane_board_yaml(&fake.base_url(), "");
    let config: BoardConfig = yaml_serde::from_str(&yaml).unwrap();
    PlaneBoard::with_client(client, &config, state_dir).unwrap()
}

fn run(lane: &str) -> NewRun {
    NewRun {
        run_id: operations_center::lanes::new_run_id(),
        lane: lane.into(),
        workspace: std::path::PathBuf::from("/nonexistent"),
        budget: None,
    }
}

fn state_of_item(fake: &FakePlane, id: &str) -> String {
    fake.world(|w| {
        let item = w.items.iter().find(|i| i.id == id).expect("item");
        let state = w.states.iter().find(|s| s.id == item.state).expect("state");
        state.name.clone()
    })
}

#[test]
fn the_mirror_follows_plane_across_pages_changes_and_deletions() {
    let w = World::on_plane();
    let fake = w.fake_plane();
    let items = fake.seed_items(250, "Seeded", Some("Backlog"));
    // A board that has been there a while: one item touched per second, the last an
    // hour ago.
    fake.world(|world| {
        for (n, item) in world.items.iter_mut().enumerate() {
            item.updated_us -= 3_600_000_000 + n as i64 * 1_000_000;
            item.updated_at = wire::iso(item.updated_us);
        }
    });

    let out = w.oc_ok(&["plane-sync", "--full"]);
    assert_eq!(out, "full sync: 250 item(s) read in 3 page(s), 0 removed");
    let pages: Vec<String> = fake
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path.ends_with("/work-items/"))
        .map(|r| r.query.clone())
        .collect();
    assert_eq!(pages.len(), 3, "{pages:?}");
    assert!(
        pages.iter().all(|q| q.contains("per_page=100")),
        "{pages:?}"
    );
    assert!(pages[1].contains("cursor=100%3A1%3A0") || pages[1].contains("cursor=100:1:0"));
    assert_eq!(w.task_list(None).len(), 250);
    assert_eq!(w.task_list(Some("backlog")).len(), 250);

    // A change made in Plane's UI (rename + move) reaches the mirror with one request.
    let target = items[10].id.clone();
    let ready = fake.world(|world| {
        let mut body = Map::new();
        body.insert("name".into(), Value::from("Renamed in the UI"));
        let ready = world
            .states
            .iter()
            .find(|s| s.name == "Ready for AI")
            .unwrap()
            .id
            .clone();
        body.insert("state".into(), Value::from(ready.clone()));
        let reply = world.patch_item(&target, &body);
        assert_eq!(reply.status, 200, "{}", reply.body);
        ready
    });
    assert!(!ready.is_empty());
    fake.clear_log();
    let out = w.oc_ok(&["plane-sync"]);
    assert!(out.starts_with("incremental sync: "), "{out}");
    assert!(out.contains("in 1 page(s)"), "{out}");
    // One page of work items (plus, in this fresh process, the states and labels once).
    let item_pages = fake
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/work-items/"))
        .count();
    assert_eq!(item_pages, 1, "{:?}", fake.requests());
    let task = w.task_json(&target);
    assert_eq!(task["title"], "Renamed in the UI");
    assert_eq!(task["state"], "Ready for AI");

    // Items deleted on Plane leave the mirror at the next full sync.
    fake.world(|world| world.items.retain(|i| !i.name.starts_with("Seeded-2")));
    let out = w.oc_ok(&["plane-sync", "--full"]);
    let left = 250 - 61; // Seeded-2, Seeded-20…29, Seeded-200…249
    assert_eq!(
        out,
        format!("full sync: {left} item(s) read in 2 page(s), 61 removed")
    );
    assert_eq!(w.task_list(None).len(), left);
}

#[test]
fn racing_claimants_on_two_hosts_never_both_win() {
    let w = World::on_plane();
    let fake = w.fake_plane();
    let host_a = w.path().join("host-a");
    let host_b = w.path().join("host-b");
    let setup = host_board(fake, &host_a);
    let ids: Vec<String> = (0..12)
        .map(|i| {
            setup
                .add(operations_center::board::NewTask {
                    title: format!("Contested {i}"),
                    description: "## Goal\n\nRace for me.\n".into(),
                    labels: vec!["task-kind: goal".into(), "repo: demo".into()],
                    ..Default::default()
                })
                .unwrap()
                .id
        })
        .collect();
    drop(setup);

    let barrier = Arc::new(Barrier::new(2));
    let claimants: Vec<_> = [host_a, host_b]
        .into_iter()
        .enumerate()
        .map(|(n, dir)| {
            let base = fake.base_url();
            let ids = ids.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let client = PlaneClient::new(&base, WORKSPACE_SLUG, PROJECT_ID, API_KEY)
                    .unwrap()
                    .with_retry(fast_retries());
                let yaml = support::plane_board_yaml(&base, "");
                let config: BoardConfig = yaml_serde::from_str(&yaml).unwrap();
                let board = PlaneBoard::with_client(client, &config, &dir).unwrap();
                board.sync().unwrap();
                let mut won = Vec::new();
                for id in &ids {
                    barrier.wait();
                    if let Some(claim) = board.claim(id, &run(&format!("goal@host{n}"))).unwrap() {
                        won.push(claim.task.id);
                    }
                }
                won
            })
        })
        .collect();
    let wins: Vec<Vec<String>> = claimants.into_iter().map(|t| t.join().unwrap()).collect();

    let mut all: Vec<String> = wins.concat();
    all.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(all, expected, "each item won exactly once: {wins:?}");
    for id in &ids {
        assert_eq!(state_of_item(fake, id), "Running");
    }
    // Every winner left its marker (a claimant that saw Running first left none).
    let markers = fake.world(|world| {
        world
            .comments
            .iter()
            .filter(|c| {
                c.external_id
                    .as_deref()
                    .is_some_and(|e| e.starts_with("claim:"))
            })
            .count()
    });
    assert!(markers >= ids.len(), "{markers} markers");
}

/// The ledger lines the agent wrote, counted per task id.
fn ledger_counts(ledger: &std::path::Path) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for line in std::fs::read_to_string(ledger).unwrap().lines() {
        *counts.entry(line.to_string()).or_default() += 1;
    }
    counts
}

fn ledger_world(tasks: usize) -> (World, std::path::PathBuf, Vec<String>) {
    let mut w = World::on_plane();
    for (k, v) in [
        ("max_exec_per_hour", "1000"),
        ("max_exec_per_day", "1000"),
        ("watch_interval_seconds", "{goal: 1}"),
    ] {
        w.config.limits.insert(k.into(), v.into());
    }
    let ledger = w.path().join("ledger.txt");
    std::fs::write(&ledger, "").unwrap();
    w.use_agent(&format!(
        "echo \"$OC_TASK_ID\" >> {}\nprintf 'change by %s\\n' \"$OC_TASK_ID\" > CHANGES.md",
        sh_quote(&ledger.to_string_lossy())
    ));
    let ids = (1..=tasks)
        .map(|n| w.add_goal(&format!("Change number {n}")))
        .collect();
    (w, ledger, ids)
}

fn wait_all_in_review(w: &World, n: usize, lanes: &[support::Lane], timeout: Duration) {
    let mut in_review = 0;
    let done = wait_until(timeout, || {
        in_review = w.fake_plane().world(|world| {
            let review = world
                .states
                .iter()
                .find(|s| s.name == "Review")
                .unwrap()
                .id
                .clone();
            world.items.iter().filter(|i| i.state == review).count()
        });
        in_review == n
    });
    assert!(
        done,
        "{in_review}/{n} in Review\n{}",
        lanes
            .iter()
            .map(|l| l.log_text())
            .collect::<Vec<_>>()
            .join("\n----\n")
    );
}

#[test]
fn lanes_on_two_hosts_run_fifty_items_each_exactly_once() {
    const TASKS: usize = 50;
    let (w, ledger, ids) = ledger_world(TASKS);
    let knobs = [("OPERATIONS_CENTER_MIN_WATCH_INTERVAL_SECONDS", "1")];
    let other_host = w.path().join("host-b-state");
    let other = other_host.to_string_lossy().into_owned();
    let mut lanes = vec![
        w.spawn_lane("slot1", &[], &knobs),
        w.spawn_lane(
            "slot2",
            &[],
            &[knobs[0], ("OPERATIONS_CENTER_STATE_DIR", other.as_str())],
        ),
    ];
    wait_all_in_review(&w, TASKS, &lanes, Duration::from_secs(150));
    for lane in &lanes {
        lane.signal(Signal::SIGTERM);
    }
    for lane in &mut lanes {
        let status = lane.wait_exit(Duration::from_secs(30)).expect("lane stops");
        assert_eq!(status.code(), Some(0), "{}", lane.log_text());
    }
    let counts = ledger_counts(&ledger);
    for id in &ids {
        assert_eq!(
            counts.get(id),
            Some(&1),
            "{id} ran {:?} times",
            counts.get(id)
        );
    }
    assert_eq!(counts.len(), TASKS);
    // Both hosts did work (each has its own mirror and run records).
    for lane in &lanes {
        let ends = support::events_named(&lane.events(), "run_end").len();
        assert!(ends > 0, "a host ran nothing:\n{}", lane.log_text());
    }
}

#[test]
fn a_429_storm_loses_and_duplicates_nothing() {
    const TASKS: usize = 8;
    let (w, ledger, ids) = ledger_world(TASKS);
    let fake = w.fake_plane();
    // Plane's real throttle, tight: 20 requests per 2 s per key, shared by both lanes,
    // plus a burst of throttled answers at the start.
    fake.set_rate_limit(20, Duration::from_secs(2));
    fake.throttle_next(15, 1);
    let knobs = [("OPERATIONS_CENTER_MIN_WATCH_INTERVAL_SECONDS", "1")];
    let lanes = vec![
        w.spawn_lane("slot1", &[], &knobs),
        w.spawn_lane("slot2", &[], &knobs),
    ];
    wait_all_in_review(&w, TASKS, &lanes, Duration::from_secs(150));
    let throttled = fake.requests().iter().filter(|r| r.status == 429).count();
    assert!(throttled >= 15, "only {throttled} answers were 429");
    let counts = ledger_counts(&ledger);
    for id in &ids {
        assert_eq!(
            counts.get(id),
            Some(&1),
            "{id} ran {:?} times",
            counts.get(id)
        );
    }
    // Each item has its one result comment: nothing was written twice.
    for id in &ids {
        let task = w.task_json(id);
        let results = comments(&task)
            .into_iter()
            .filter(|(_, body)| body.starts_with("[Goal] Execution result"))
            .count();
        assert_eq!(results, 1, "{id}: {:#?}", comments(&task));
    }
    // Every request was counted, and the 429s with it.
    let status = w.oc_ok(&["plane-status", "--json"]);
    let status: Value = serde_json::from_str(&status).unwrap();
    assert!(status["throttled_15m"].as_i64().unwrap() >= 15, "{status}");
}

#[test]
fn a_refused_key_stops_the_lane_with_77_after_one_request() {
    let w = World::on_plane();
    std::fs::write(
        w.path().join("credentials").join(support::PLANE_CREDENTIAL),
        "plane_api_revoked\n",
    )
    .unwrap();
    let fake = w.fake_plane();
    fake.clear_log();
    let mut lane = w.spawn_lane("slot1", &[], &[]);
    let status = lane
        .wait_exit(Duration::from_secs(20))
        .unwrap_or_else(|| panic!("lane kept running:\n{}", lane.log_text()));
    assert_eq!(status.code(), Some(77), "{}", lane.log_text());
    let log = lane.log_text();
    assert!(
        log.contains("the Plane API key is not valid") && log.contains("credentials/plane-token"),
        "{log}"
    );
    // Refused once, not retried: a bad key must not burn the budget. The one more request
    // is the key alone (`users/me/`), which tells a refused key from a wrong project.
    let requests = fake.requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert_eq!(requests[0].status, 403);
    assert_eq!(
        (requests[1].path.as_str(), requests[1].status),
        ("/api/v1/users/me/", 403)
    );

    let out = w.oc(&["doctor"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("FAIL  Plane refused the API key (403)"),
        "{text}"
    );
}

#[test]
fn descriptions_keep_their_markdown_through_plane_html() {
    let mut w = World::on_plane();
    w.use_agent(&support_agent());
    // The original's layout: content right under each heading, blank lines between blocks.
    let body = "## Execution\nrepo: demo\nmode: goal\n\n## Goal\nAdd a CHANGES.md.\nKeep <angle> & ampersands.\n\n```text\nfn main() {\n    println!(\"<ok>\");\n}\n```\n\n- first\n- second\n\n## Constraints\nNothing else.";
    let id = w.add_task("Round trip", &["--body", body]);
    let stored = w.fake_plane().world(|world| {
        world
            .items
            .iter()
            .find(|i| i.id == id)
            .unwrap()
            .description_html
            .clone()
    });
    assert!(
        stored.contains("<h2>Goal</h2>") && stored.contains("<pre>"),
        "{stored}"
    );
    assert!(stored.contains("&lt;angle&gt; &amp;"), "{stored}");
    w.oc_ok(&["plane-sync", "--full"]);
    assert_eq!(w.task_json(&id)["description"], body);

    // An item written in Plane's editor (HTML, wrapped in <div> as Plane returns it),
    // with only labels to route it: the lane runs it (original-behaviour §10.2 case 7).
    let editor_id = w.fake_plane().world(|world| {
        let mut body = Map::new();
        body.insert("name".into(), Value::from("Written in the editor"));
        body.insert(
            "description_html".into(),
            Value::from("<div><h2>Goal</h2><p>Add a <strong>CHANGES.md</strong> file.</p></div>"),
        );
        let reply = world.create_item(&body);
        assert_eq!(reply.status, 201, "{}", reply.body);
        serde_json::from_str::<Value>(&reply.body).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    });
    w.oc_ok(&["plane-sync", "--full"]);
    w.oc_ok(&["task", "move", &editor_id, "ready-for-ai"]);
    // Labels are set through oc like any operator would not; here via the API.
    let labels = ["task-kind: goal", "repo: demo"];
    let client = PlaneClient::new(
        &w.fake_plane().base_url(),
        WORKSPACE_SLUG,
        PROJECT_ID,
        API_KEY,
    )
    .unwrap();
    client
        .set_labels(
            &editor_id,
            &labels.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        )
        .unwrap();
    w.oc_ok(&["plane-sync"]);
    let _ = w.run_next(); // the Markdown task (more urgent: older)
    let line = w.run_next();
    assert_eq!(line, format!("executed {editor_id}: Review (executed)"));
    assert_eq!(state_of_item(w.fake_plane(), &editor_id), "Review");
}

fn support_agent() -> String {
    "printf '# Changes\\n' > CHANGES.md".into()
}

#[test]
fn doctor_names_missing_states_and_status_shows_the_budget() {
    let w = World::on_plane();
    let fake = w.fake_plane();
    let out = w.oc(&["doctor"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("every state the lanes use exists"), "{text}");
    assert!(text.contains("rate budget: "), "{text}");

    fake.world(|world| world.states.retain(|s| s.name != "Ready for AI"));
    let out = w.oc(&["doctor"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("FAIL  state \"Ready for AI\" is missing: create it in Project settings → States (group: unstarted)"),
        "{text}"
    );
    assert!(
        text.contains("\"name\": \"Ready for AI\", \"group\": \"unstarted\"")
            && text.contains(&format!(
                "/api/v1/workspaces/{WORKSPACE_SLUG}/projects/{PROJECT_ID}/states/"
            )),
        "{text}"
    );

    // Everything counted: doctor's requests show in `oc status` and plane-status.
    let sent = fake.request_count() as i64;
    let status: Value = serde_json::from_str(&w.oc_ok(&["status", "--json"])).expect("status JSON");
    let plane = &status["plane"];
    assert!(
        plane["requests_per_minute_15m"].as_f64().unwrap() * 15.0 >= sent as f64 - 0.01,
        "{plane} vs {sent} sent"
    );
    assert_eq!(plane["budget_per_minute"], 60);
    assert!(plane["remaining"].is_i64(), "{plane}");
}

#[test]
fn a_claim_waits_for_plane_not_for_the_mirror() {
    // The mirror says Ready, Plane says Done (someone finished it in the UI a moment
    // ago): the lane must not claim it.
    let w = World::on_plane();
    let board = host_board(w.fake_plane(), &w.state);
    let task = board
        .add(operations_center::board::NewTask {
            title: "Finished elsewhere".into(),
            description: "## Goal\n\nx\n".into(),
            labels: vec!["task-kind: goal".into(), "repo: demo".into()],
            ..Default::default()
        })
        .unwrap();
    w.fake_plane().world(|world| {
        let done = world
            .states
            .iter()
            .find(|s| s.name == "Done")
            .unwrap()
            .id
            .clone();
        let mut body = Map::new();
        body.insert("state".into(), Value::from(done));
        assert_eq!(world.patch_item(&task.id, &body).status, 200);
    });
    assert!(board.claim(&task.id, &run("goal@x")).unwrap().is_none());
    assert_eq!(board.get(&task.id).unwrap().state, State::Done);
}

/// Issue 15 item 3: items written by others on Plane reach `oc task list` with their titles
/// made safe to print (the original stays on Plane), and one with nothing visible left in
/// its name still shows as a placeholder.
#[test]
fn titles_of_plane_items_written_by_others_are_made_safe_to_print() {
    let w = World::on_plane();
    let fake = w.fake_plane();
    let hostile = fake.world(|world| {
        world.seed_item(
            "\u{1b}]0;owned\u{7}\u{1b}[2JDeploy \u{202e}kcatta\nnow\u{9b}31m",
            Some("Backlog"),
        )
    });
    let blank = fake.world(|world| world.seed_item("\u{200b}\u{1b}[0m", Some("Backlog")));
    w.oc_ok(&["plane-sync", "--full"]);
    let listed = w.oc_ok(&["task", "list"]);
    assert!(
        !listed
            .chars()
            .any(|c| c.is_control() && c != '\n' || c == '\u{202e}' || c == '\u{200b}'),
        "oc task list prints control characters: {listed:?}"
    );
    let titles: Vec<(String, String)> = w
        .task_list(None)
        .iter()
        .map(|t| {
            (
                t["id"].as_str().unwrap().into(),
                t["title"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert!(
        titles.contains(&(hostile.id.clone(), "Deploy kcatta now".into())),
        "{titles:?}"
    );
    let placeholder = titles.iter().find(|(id, _)| *id == blank.id).unwrap();
    assert!(
        placeholder.1.starts_with("(untitled Plane item"),
        "{titles:?}"
    );
    // Plane keeps what its author wrote.
    let on_plane = fake.world(|world| {
        world
            .items
            .iter()
            .find(|i| i.id == hostile.id)
            .unwrap()
            .name
            .clone()
    });
    assert!(on_plane.contains('\u{202e}'));
}
