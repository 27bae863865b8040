//! Error ingest through the library entry point the `oc-ingest` webhook calls (`submit`),
//! checked the way an operator would: `oc task list`, `oc ingest-dedup list|reset`.

mod support;

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use operations_center::config::{self, Config};
use operations_center::ingest::{self, IngestError, Submitted};
use serde_json::Value;
use support::{World, wait_until};

fn world(window: u64) -> (World, Config) {
    let mut w = World::new();
    let log = w.path().join("app.log");
    w.config.extra = format!(
        "error_ingest:\n  default_repo_key: demo\n  log_sources:\n    - path: {}\n      repo_key: demo\n      dedup_window_seconds: {window}\n",
        support::yaml_str(&log.to_string_lossy())
    );
    w.write_config();
    let config = config::load(&w.config_path).expect("config loads");
    (w, config)
}

fn submit(w: &World, c: &Config, repo: Option<&str>, text: &str) -> Submitted {
    ingest::submit(c, &w.state, repo, text).expect("submit")
}

fn dedup_list(w: &World) -> Vec<Value> {
    let text = w.oc_ok(&["ingest-dedup", "list", "--json"]);
    serde_json::from_str::<Value>(&text)
        .expect("JSON")
        .as_array()
        .cloned()
        .expect("array")
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

const TRACE: &str = "ERROR PaymentService: card declined handler crashed\n  at charge (billing.rs:42)\n  at main (main.rs:7)";

#[test]
fn same_error_twice_in_the_window_is_one_task_with_the_full_text_and_labels() {
    let (w, c) = world(3600);
    let first = submit(&w, &c, None, TRACE);
    let again = submit(&w, &c, Some("demo"), &format!("{TRACE}\n"));
    assert!(!first.duplicate);
    assert_eq!(
        again,
        Submitted {
            task_id: first.task_id.clone(),
            duplicate: true
        }
    );

    let tasks = w.task_list(None);
    assert_eq!(tasks.len(), 1, "{tasks:#?}");
    let task = &tasks[0];
    assert_eq!(task["id"], first.task_id.as_str());
    assert_eq!(
        task["title"],
        "[Runtime] ERROR PaymentService: card declined handler crashed"
    );
    assert_eq!(task["state"], "Ready for AI", "repo demo is configured");
    let labels: Vec<&str> = task["labels"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for label in ["source: error-ingest", "repo: demo", "task-kind: goal"] {
        assert!(labels.contains(&label), "{labels:?} lacks {label}");
    }
    let description = task["description"].as_str().unwrap();
    // The full text, quoted line by line (ingested text is data, issue 15 item 2).
    let quoted: Vec<String> = TRACE.lines().map(|l| format!("> {l}")).collect();
    assert!(description.contains(&quoted.join("\n")), "{description}");
    assert!(
        description.contains("## Execution\nrepo: demo\nmode: goal\n"),
        "{description}"
    );

    let entries = dedup_list(&w);
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["count"], 2);
    assert_eq!(entries[0]["task_id"], first.task_id.as_str());
}

#[test]
fn after_the_window_the_same_error_is_a_new_task() {
    let (w, c) = world(1);
    let first = submit(&w, &c, None, "ERROR cache miss storm");
    let created = unix_now();
    // The window is one second, stored in whole seconds: wait until it has surely passed.
    assert!(wait_until(Duration::from_secs(5), || unix_now() >= created + 2));
    let second = submit(&w, &c, None, "ERROR cache miss storm");
    assert!(!second.duplicate);
    assert_ne!(second.task_id, first.task_id);
    assert_eq!(w.task_list(None).len(), 2);
    let entries = dedup_list(&w);
    assert_eq!(
        (entries[0]["task_id"].as_str(), entries[0]["count"].as_i64()),
        (Some(second.task_id.as_str()), Some(1))
    );
}

#[test]
fn reset_makes_the_same_error_create_a_new_task_and_can_be_limited_to_a_repo() {
    let (w, c) = world(3600);
    let demo = submit(&w, &c, None, "ERROR disk full");
    let other = submit(&w, &c, Some("other"), "ERROR disk full");
    assert_ne!(demo.task_id, other.task_id);

    assert_eq!(
        w.oc_ok(&["ingest-dedup", "reset", "--repo", "other"]),
        "forgot 1 ingested error(s) of repo other"
    );
    assert!(
        submit(&w, &c, None, "ERROR disk full").duplicate,
        "demo's entry survived"
    );
    assert!(!submit(&w, &c, Some("other"), "ERROR disk full").duplicate);

    assert_eq!(
        w.oc_ok(&["ingest-dedup", "reset"]),
        "forgot 2 ingested error(s)"
    );
    let renewed = submit(&w, &c, None, "ERROR disk full");
    assert!(!renewed.duplicate);
    assert_eq!(w.task_list(None).len(), 4);
    assert!(
        w.oc_ok(&["ingest-dedup", "list"])
            .contains(&renewed.task_id)
    );
}

#[test]
fn unknown_repo_is_kept_in_backlog_and_a_missing_key_is_a_client_error() {
    let (w, c) = world(3600);
    let s = submit(&w, &c, Some("billing"), "CRITICAL ledger out of balance");
    let task = w.task_json(&s.task_id);
    assert_eq!(task["state"], "Backlog");
    assert!(
        task["description"]
            .as_str()
            .unwrap()
            .contains("not configured")
    );

    let no_default = Config::default();
    let err = ingest::submit(&no_default, &w.state, None, "ERROR x").unwrap_err();
    assert!(
        matches!(err, IngestError::NoRepoKey) && err.is_client_error(),
        "{err}"
    );
    let err = ingest::submit(&c, &w.state, Some("two words"), "ERROR x").unwrap_err();
    assert!(err.is_client_error(), "{err}");
    let err = ingest::submit(&c, &w.state, None, "  \n").unwrap_err();
    assert!(err.is_client_error(), "{err}");
}

#[test]
fn concurrent_reports_of_one_error_create_one_task() {
    let (w, c) = world(3600);
    let state: &Path = &w.state;
    // Create the database first so the racers do not also race its migration.
    submit(&w, &c, None, "ERROR warm-up");
    let results: Vec<Submitted> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| s.spawn(|| ingest::submit(&c, state, None, "ERROR race").expect("submit")))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(
        results.iter().filter(|r| !r.duplicate).count(),
        1,
        "{results:?}"
    );
    assert!(results.windows(2).all(|p| p[0].task_id == p[1].task_id));
    let entry = dedup_list(&w)
        .into_iter()
        .find(|e| e["task_id"] == results[0].task_id.as_str())
        .unwrap();
    assert_eq!(entry["count"], 8);
}
