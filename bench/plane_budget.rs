//! Plane API budget with 1, 5 and 10 goal lanes on a 5,000-item board.
//!
//! `cargo bench --bench plane_budget` starts the fake Plane from the test support code
//! (Plane's real limit: 60 requests/min per key), seeds 5,000 work items (Done, Backlog,
//! Cancelled), starts N real `oc-goal` processes on one host with the default settings
//! (sync every 15 s, lanes polling every 60 s), and adds one Ready for AI goal item every
//! 30 s the way a person would in Plane's UI (not through the key, so not counted). It
//! counts every request the lanes send per minute, 429s included, and the time from an
//! item entering Ready for AI to the moment it is Running on Plane.
//!
//! Knobs: OC_BENCH_SECONDS (300), OC_BENCH_LANES ("1,5,10"), OC_BENCH_ITEMS (5000),
//! OC_BENCH_WATCH_SECONDS (lane poll interval; default: the suite's default, 60).

#[path = "../tests/support_plane/mod.rs"]
mod fake_plane;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fake_plane::{API_KEY, FakePlane, PROJECT_ID, WORKSPACE_SLUG};
use serde_json::{Map, Value};

const OC_GOAL: &str = env!("CARGO_BIN_EXE_oc-goal");
const NEW_ITEM_EVERY: Duration = Duration::from_secs(30);

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` passes nothing useful here.
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let seconds: u64 = env_or("OC_BENCH_SECONDS", 300);
    let items: usize = env_or("OC_BENCH_ITEMS", 5000);
    let watch: Option<u64> = std::env::var("OC_BENCH_WATCH_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok());
    let lanes: Vec<usize> = std::env::var("OC_BENCH_LANES")
        .unwrap_or_else(|_| "1,5,10".into())
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .collect();
    println!(
        "plane_budget: {items} items, {seconds} s per run, lane poll {} s, one new Ready item every {} s",
        watch.map_or("60 (default)".into(), |w| w.to_string()),
        NEW_ITEM_EVERY.as_secs()
    );
    println!(
        "{:>5} {:>8} {:>10} {:>14} {:>8} {:>5} {:>8} {:>13} {:>13}  per-minute counts",
        "lanes",
        "requests",
        "first min",
        "steady median",
        "max/min",
        "429s",
        "claimed",
        "ready→claim50",
        "ready→claim90"
    );
    for n in lanes {
        let r = run(n, items, Duration::from_secs(seconds), watch);
        let mut steady: Vec<u64> = r.per_minute.iter().skip(1).copied().collect();
        steady.sort_unstable();
        let median = steady.get(steady.len() / 2).copied().unwrap_or(0);
        let max = r.per_minute.iter().copied().max().unwrap_or(0);
        let mut lat = r.latencies.clone();
        lat.sort_by(f64::total_cmp);
        let pct = |p: f64| {
            lat.get(((lat.len() as f64 - 1.0) * p).round() as usize)
                .map_or("-".to_string(), |v| format!("{v:.1} s"))
        };
        println!(
            "{:>5} {:>8} {:>10} {:>14} {:>8} {:>5} {:>5}/{:<2} {:>13} {:>13}  {:?}",
            n,
            r.total,
            r.per_minute.first().copied().unwrap_or(0),
            median,
            max,
            r.throttled,
            r.latencies.len(),
            r.added,
            pct(0.5),
            pct(0.9),
            r.per_minute
        );
    }
}

struct RunResult {
    total: u64,
    per_minute: Vec<u64>,
    throttled: usize,
    added: usize,
    latencies: Vec<f64>,
}

fn git(args: &[&str], cwd: &Path) {
    let status = Command::new("git")
        .args(args)
        .current_dir(cwd)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("git");
    assert!(status.success(), "git {args:?}");
}

fn demo_repo(dir: &Path) -> std::path::PathBuf {
    let bare = dir.join("demo.git");
    git(
        &[
            "init",
            "--quiet",
            "--bare",
            "-b",
            "main",
            &bare.to_string_lossy(),
        ],
        dir,
    );
    let work = dir.join("seed");
    git(
        &[
            "clone",
            "--quiet",
            &bare.to_string_lossy(),
            &work.to_string_lossy(),
        ],
        dir,
    );
    std::fs::write(work.join("README.md"), "demo\n").unwrap();
    git(&["add", "README.md"], &work);
    git(
        &[
            "-c",
            "user.name=b",
            "-c",
            "user.email=b@x",
            "commit",
            "--quiet",
            "-m",
            "init",
        ],
        &work,
    );
    git(&["push", "--quiet", "origin", "HEAD:main"], &work);
    bare
}

fn state_id(fake: &FakePlane, name: &str) -> String {
    fake.world(|w| {
        w.states
            .iter()
            .find(|s| s.name == name)
            .expect("state")
            .id
            .clone()
    })
}

fn label_id(fake: &FakePlane, name: &str) -> String {
    fake.world(|w| {
        let mut body = Map::new();
        body.insert("name".into(), Value::from(name));
        let reply = w.create_label(&body);
        serde_json::from_str::<Value>(&reply.body).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    })
}

fn run(lanes: usize, items: usize, duration: Duration, watch: Option<u64>) -> RunResult {
    let fake = FakePlane::start();
    let dir = tempfile::Builder::new()
        .prefix("oc-plane-bench-")
        .tempdir()
        .unwrap();
    let done = state_id(&fake, "Done");
    let backlog = state_id(&fake, "Backlog");
    let cancelled = state_id(&fake, "Cancelled");
    let ready = state_id(&fake, "Ready for AI");
    let labels = [
        label_id(&fake, "task-kind: goal"),
        label_id(&fake, "repo: demo"),
    ];
    fake.world(|w| {
        for i in 0..items {
            let state = match i % 10 {
                0..=5 => &done,
                6..=8 => &backlog,
                _ => &cancelled,
            };
            let mut body = Map::new();
            body.insert("name".into(), Value::from(format!("Old item {i}")));
            body.insert("state".into(), Value::from(state.clone()));
            body.insert("labels".into(), Value::from(labels.to_vec()));
            assert_eq!(w.create_item(&body).status, 201);
        }
    });

    let bare = demo_repo(dir.path());
    std::fs::create_dir_all(dir.path().join("credentials")).unwrap();
    std::fs::write(dir.path().join("credentials/plane-token"), API_KEY).unwrap();
    let limits = match watch {
        Some(w) => format!(
            "limits: {{max_exec_per_hour: 1000, max_exec_per_day: 1000, min_watch_interval_seconds: 1, watch_interval_seconds: {{goal: {w}}}}}\n"
        ),
        None => "limits: {max_exec_per_hour: 1000, max_exec_per_day: 1000}\n".into(),
    };
    let config = format!(
        "board: {{backend: plane, base_url: {}, workspace_slug: {WORKSPACE_SLUG}, project_id: {PROJECT_ID}, credential: plane-token}}\n\
         agent: {{backend: command, command: [/bin/sh, -c, 'echo change > CHANGES.md'], timeout_seconds: 60}}\n\
         max_concurrent_kodo: 0\nmin_kodo_available_mb: 0\n{limits}\
         repos:\n  demo:\n    clone_url: {}\n    validation_commands: []\n",
        fake.base_url(),
        bare.display()
    );
    let config_path = dir.path().join("config.yaml");
    std::fs::write(&config_path, config).unwrap();
    let state = dir.path().join("state");

    let mut children: Vec<Child> = (1..=lanes)
        .map(|n| {
            let log = std::fs::File::create(dir.path().join(format!("lane{n}.log"))).unwrap();
            Command::new(OC_GOAL)
                .args(["--slot", &format!("slot{n}"), "--log-format", "json"])
                .env("OPERATIONS_CENTER_CONFIG", &config_path)
                .env("OPERATIONS_CENTER_STATE_DIR", &state)
                .env("GIT_CONFIG_GLOBAL", "/dev/null")
                .env("GIT_CONFIG_NOSYSTEM", "1")
                .env_remove("NOTIFY_SOCKET")
                .env_remove("JOURNAL_STREAM")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("spawn oc-goal")
        })
        .collect();

    let start = Instant::now();
    let mut next_item = start + Duration::from_secs(20);
    let mut pending: Vec<(String, Instant)> = Vec::new();
    let mut latencies = Vec::new();
    let mut added = 0;
    let mut per_minute = Vec::new();
    let mut minute_mark = start + Duration::from_secs(60);
    let mut at_last_mark = 0u64;
    while start.elapsed() < duration {
        let now = Instant::now();
        if now >= next_item {
            let id = fake.world(|w| {
                let mut body = Map::new();
                body.insert("name".into(), Value::from(format!("New work {added}")));
                body.insert("state".into(), Value::from(ready.clone()));
                body.insert("labels".into(), Value::from(labels.to_vec()));
                body.insert(
                    "description_html".into(),
                    Value::from("<h2>Goal</h2><p>Add a CHANGES.md file.</p>"),
                );
                let reply = w.create_item(&body);
                serde_json::from_str::<Value>(&reply.body).unwrap()["id"]
                    .as_str()
                    .unwrap()
                    .to_string()
            });
            pending.push((id, now));
            added += 1;
            next_item += NEW_ITEM_EVERY;
        }
        pending.retain(|(id, since)| {
            let still_ready = fake.world(|w| {
                w.items
                    .iter()
                    .find(|i| &i.id == id)
                    .is_some_and(|i| i.state == ready)
            });
            if !still_ready {
                latencies.push(since.elapsed().as_secs_f64());
            }
            still_ready
        });
        if now >= minute_mark {
            let count = fake.request_count() as u64;
            per_minute.push(count - at_last_mark);
            at_last_mark = count;
            minute_mark += Duration::from_secs(60);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    for child in &children {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
    }
    for child in &mut children {
        let _ = child.wait();
    }
    let requests = fake.requests();
    RunResult {
        total: requests.len() as u64,
        per_minute,
        throttled: requests.iter().filter(|r| r.status == 429).count(),
        added,
        latencies,
    }
}
