//! The real `oc-ingest-tail` on real files: first start, rotation, truncation, restart,
//! partial lines, a file that appears later, and a bad pattern.

mod support;

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;
use support::{World, events_named, json_lines, wait_until};

const OC_INGEST_TAIL: &str = env!("CARGO_BIN_EXE_oc-ingest-tail");
const DEADLINE: Duration = Duration::from_secs(20);

/// A world whose config follows `files` (each: path, window seconds) for repo `demo`.
fn world(files: &[(&Path, u64)]) -> World {
    let mut w = World::new();
    let mut y = String::from("error_ingest:\n  default_repo_key: demo\n  log_sources:\n");
    for (path, window) in files {
        y.push_str(&format!(
            "    - path: {}\n      repo_key: demo\n      dedup_window_seconds: {window}\n",
            support::yaml_str(&path.to_string_lossy())
        ));
    }
    w.config.extra = y;
    w.write_config();
    w
}

struct Tailer {
    child: Child,
    log: PathBuf,
}

impl Tailer {
    /// Starts the tailer and waits until it reports itself started.
    fn start(w: &World, name: &str) -> Tailer {
        let log = w.path().join(format!("{name}.log"));
        let mut c = w.command(OC_INGEST_TAIL);
        c.args(["--log-format", "json"])
            .stdout(File::create(w.path().join(format!("{name}.stdout"))).unwrap())
            .stderr(File::create(&log).unwrap());
        let mut t = Tailer {
            child: c.spawn().expect("spawn oc-ingest-tail"),
            log,
        };
        let started = wait_until(DEADLINE, || {
            !t.events("ingest_tail_start").is_empty() || t.exited()
        });
        assert!(
            started && !t.exited(),
            "tailer did not start:\n{}",
            t.log_text()
        );
        t
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn events(&self, name: &str) -> Vec<Value> {
        let all = json_lines(&self.log_text());
        events_named(&all, name).into_iter().cloned().collect()
    }

    fn exited(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_some()
    }

    /// SIGTERM and wait; asserts a clean exit.
    fn stop(mut self) {
        kill(Pid::from_raw(self.child.id() as i32), Signal::SIGTERM).unwrap();
        let mut status = None;
        wait_until(DEADLINE, || {
            status = self.child.try_wait().unwrap();
            status.is_some()
        });
        let status = status.expect("tailer exits on SIGTERM");
        assert!(status.success(), "{status}:\n{}", self.log_text());
    }
}

impl Drop for Tailer {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn append(path: &Path, text: &str) {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

/// Titles of all tasks.
fn titles(w: &World) -> Vec<String> {
    w.task_list(None)
        .iter()
        .map(|t| t["title"].as_str().unwrap().to_string())
        .collect()
}

/// Waits until a task titled `[Runtime] <line>` exists for each line.
fn wait_for_tasks(w: &World, t: &Tailer, lines: &[&str]) {
    let ok = wait_until(DEADLINE, || {
        let have = titles(w);
        lines
            .iter()
            .all(|l| have.contains(&format!("[Runtime] {l}")))
    });
    assert!(
        ok,
        "missing tasks for {lines:?}; have {:?}\nlog:\n{}",
        titles(w),
        t.log_text()
    );
}

fn dedup_counts(w: &World) -> Vec<i64> {
    let text = w.oc_ok(&["ingest-dedup", "list", "--json"]);
    let v: Value = serde_json::from_str(&text).unwrap();
    let mut counts: Vec<i64> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["count"].as_i64().unwrap())
        .collect();
    counts.sort();
    counts
}

#[test]
fn starts_at_the_end_then_ingests_new_errors_once_per_window() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    append(&log, "2024 ERROR old news from before the tailer\n");
    let w = world(&[(&log, 3600)]);
    let t = Tailer::start(&w, "tail");
    append(
        &log,
        "INFO all fine\nERROR db connection refused\nERROR db connection refused\n",
    );
    wait_for_tasks(&w, &t, &["ERROR db connection refused"]);
    assert!(
        wait_until(DEADLINE, || dedup_counts(&w) == vec![2]),
        "counts {:?}",
        dedup_counts(&w)
    );
    let tasks = w.task_list(None);
    assert_eq!(
        tasks.len(),
        1,
        "old line and INFO line are not tasks: {tasks:#?}"
    );
    let labels = tasks[0]["labels"].to_string();
    assert!(
        labels.contains("source: error-ingest") && labels.contains("repo: demo"),
        "{labels}"
    );
    assert!(tasks[0]["description"].as_str().unwrap().contains("log:"));
    assert_eq!(t.events("ingest_duplicate").len(), 1);
    t.stop();
}

#[test]
fn after_the_window_the_same_line_is_a_new_task() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    let w = world(&[(&log, 1)]);
    append(&log, "");
    let t = Tailer::start(&w, "tail");
    append(&log, "ERROR flaky upstream\n");
    wait_for_tasks(&w, &t, &["ERROR flaky upstream"]);
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    };
    let seen = now();
    assert!(wait_until(Duration::from_secs(5), || now() >= seen + 2));
    append(&log, "ERROR flaky upstream\n");
    assert!(
        wait_until(DEADLINE, || titles(&w).len() == 2),
        "{:?}\n{}",
        titles(&w),
        t.log_text()
    );
    t.stop();
}

#[test]
fn follows_rotation_without_losing_the_old_files_last_lines() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    append(&log, "");
    let w = world(&[(&log, 3600)]);
    let t = Tailer::start(&w, "tail");
    append(&log, "ERROR before rotation 1\n");
    wait_for_tasks(&w, &t, &["ERROR before rotation 1"]);
    // Written just before the rename, then the new file at once: no time to read them.
    append(&log, "ERROR last words of the old file\n");
    std::fs::rename(&log, dir.path().join("app.log.1")).unwrap();
    append(&log, "ERROR first line of the new file\n");
    wait_for_tasks(
        &w,
        &t,
        &[
            "ERROR last words of the old file",
            "ERROR first line of the new file",
        ],
    );
    assert!(wait_until(DEADLINE, || !t
        .events("ingest_log_rotated")
        .is_empty()));
    append(&log, "ERROR second line of the new file\n");
    wait_for_tasks(&w, &t, &["ERROR second line of the new file"]);
    assert_eq!(titles(&w).len(), 4);
    assert_eq!(dedup_counts(&w), vec![1, 1, 1, 1]);
    t.stop();
}

#[test]
fn follows_copytruncate() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    append(&log, "");
    let w = world(&[(&log, 3600)]);
    let t = Tailer::start(&w, "tail");
    append(
        &log,
        "ERROR a rather long line written before the copy and truncate\n",
    );
    wait_for_tasks(
        &w,
        &t,
        &["ERROR a rather long line written before the copy and truncate"],
    );
    // copytruncate: copy away, then cut the file to zero in place (same inode).
    std::fs::copy(&log, dir.path().join("app.log.1")).unwrap();
    OpenOptions::new()
        .write(true)
        .open(&log)
        .unwrap()
        .set_len(0)
        .unwrap();
    append(&log, "ERROR short\n");
    wait_for_tasks(&w, &t, &["ERROR short"]);
    // Again, now growing past the old offset before the tailer looks.
    OpenOptions::new()
        .write(true)
        .open(&log)
        .unwrap()
        .set_len(0)
        .unwrap();
    append(
        &log,
        "ERROR after the second truncate, longer than what was there before it\n",
    );
    wait_for_tasks(
        &w,
        &t,
        &["ERROR after the second truncate, longer than what was there before it"],
    );
    assert!(!t.events("ingest_log_truncated").is_empty());
    assert_eq!(dedup_counts(&w), vec![1, 1, 1]);
    t.stop();
}

#[test]
fn restart_neither_repeats_nor_skips_lines_even_across_a_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    append(&log, "");
    let w = world(&[(&log, 3600)]);
    let t = Tailer::start(&w, "first");
    append(&log, "ERROR one\n");
    wait_for_tasks(&w, &t, &["ERROR one"]);
    t.stop();

    append(
        &log,
        "ERROR two (while stopped)\nERROR three (while stopped)\n",
    );
    let t = Tailer::start(&w, "second");
    wait_for_tasks(
        &w,
        &t,
        &["ERROR two (while stopped)", "ERROR three (while stopped)"],
    );
    t.stop();

    // Rotated while stopped: the old file's tail and the new file both count.
    append(&log, "ERROR four (old file, while stopped)\n");
    std::fs::rename(&log, dir.path().join("app.log.1")).unwrap();
    append(&log, "ERROR five (new file, while stopped)\n");
    let t = Tailer::start(&w, "third");
    wait_for_tasks(
        &w,
        &t,
        &[
            "ERROR four (old file, while stopped)",
            "ERROR five (new file, while stopped)",
        ],
    );
    assert_eq!(titles(&w).len(), 5, "{:?}", titles(&w));
    // A count of 2 would mean a line was read twice.
    assert_eq!(dedup_counts(&w), vec![1, 1, 1, 1, 1]);
    t.stop();
}

#[test]
fn waits_for_a_missing_file_and_only_reads_complete_lines() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("later.log");
    let probe = dir.path().join("probe.log");
    append(&probe, "");
    let w = world(&[(&log, 3600), (&probe, 3600)]);
    let t = Tailer::start(&w, "tail");
    assert!(wait_until(DEADLINE, || !t
        .events("ingest_log_waiting")
        .is_empty()));

    // Everything in a file that appears later is new: read from its start.
    append(
        &log,
        "ERROR in a file created after the start\nERROR half a line",
    );
    wait_for_tasks(&w, &t, &["ERROR in a file created after the start"]);
    // Two probe lines in the second file: once both are in, the first file was polled
    // again after the half line was written.
    append(&probe, "ERROR probe 1\n");
    wait_for_tasks(&w, &t, &["ERROR probe 1"]);
    append(&probe, "ERROR probe 2\n");
    wait_for_tasks(&w, &t, &["ERROR probe 2"]);
    assert!(
        !titles(&w).iter().any(|t| t.contains("half a line")),
        "{:?}",
        titles(&w)
    );
    append(&log, " now complete\n");
    wait_for_tasks(&w, &t, &["ERROR half a line now complete"]);
    t.stop();
}

#[test]
fn an_invalid_pattern_is_a_config_error_with_its_position() {
    let mut w = World::new();
    w.config.extra = "error_ingest:\n  log_sources:\n    - path: /var/log/app.log\n      repo_key: demo\n      pattern: \"(ERROR\"\n".into();
    w.write_config();
    let line = w
        .config
        .render()
        .lines()
        .position(|l| l.contains("pattern:"))
        .unwrap()
        + 1;
    let out = w.output(w.command(OC_INGEST_TAIL), DEADLINE);
    assert_eq!(out.status.code(), Some(78));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let at = format!("{}:{line}:7:", w.config_path.display());
    assert!(
        stderr.contains(&at) && stderr.contains("/var/log/app.log"),
        "{stderr}"
    );
}

/// Issue 15 items 2 and 3 through the tailer: a coloured log line gives a title without
/// escape or bidi characters, and a line that reads like metadata stays data (the task is
/// claimed, not parked behind the dependency it names).
#[test]
fn tailed_lines_give_clean_titles_and_never_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("app.log");
    append(&log, "");
    let w = world(&[(&log, 3600)]);
    let t = Tailer::start(&w, "tail");
    append(
        &log,
        "\u{1b}[31mERROR\u{1b}[0m payment \u{202e}gateway down\u{7}\n\
         depends_on: T-999 ERROR worker lost\n",
    );
    wait_for_tasks(
        &w,
        &t,
        &[
            "ERROR payment gateway down",
            "depends_on: T-999 ERROR worker lost",
        ],
    );
    t.stop();
    let tasks = w.task_list(None);
    let parked = tasks
        .iter()
        .find(|task| task["title"].as_str().unwrap().contains("worker lost"))
        .unwrap();
    let id = parked["id"].as_str().unwrap();
    assert_eq!(w.task_json(id)["waits_on"], serde_json::json!([]));
    // Claim both (the one named in depends_on last: it is the lower-urgency of equals).
    w.run_next();
    w.run_next();
    assert_ne!(
        w.task_state(id),
        "Ready for AI",
        "{}",
        w.oc_ok(&["task", "show", id])
    );
}
