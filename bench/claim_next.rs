//! Benchmark: claim-next latency on embedded boards of 1k, 10k and 100k Ready tasks.
//!
//! Run: `cargo bench --bench claim_next` (results in docs/benchmarks.md).
//! Each claim runs the real path: one IMMEDIATE transaction that picks the most urgent
//! eligible task through the index, moves it to Running and registers the run.

use std::time::{Duration, Instant};

use operations_center::board::local::LocalBoard;
use operations_center::board::{Board, ClaimRequest, NewTask, State};
use operations_center::store::runs::NewRun;

const SIZES: [usize; 3] = [1_000, 10_000, 100_000];
const CLAIMS: usize = 200;

fn main() {
    println!("claim-next on the embedded board ({CLAIMS} claims per size, release build)");
    println!(
        "{:>8}  {:>10}  {:>10}  {:>10}  {:>12}",
        "tasks", "median", "p95", "max", "fill time"
    );
    for size in SIZES {
        let dir = tempfile::tempdir().expect("temp dir");
        let board = LocalBoard::open(dir.path()).expect("board");
        let fill = Instant::now();
        fill_board(&board, size);
        let fill_time = fill.elapsed();

        let mut samples = Vec::with_capacity(CLAIMS);
        for i in 0..CLAIMS {
            let run = NewRun {
                run_id: format!("bench{i:07}"),
                lane: "goal@bench".into(),
                workspace: dir.path().join(format!("ws{i}")),
            };
            let request = ClaimRequest {
                kinds: &["goal"],
                repos_over_budget: &[],
                run: &run,
            };
            let start = Instant::now();
            let claim = board.claim_next(&request).expect("claim");
            samples.push(start.elapsed());
            assert!(claim.is_some(), "board ran dry");
        }
        samples.sort();
        println!(
            "{:>8}  {:>10}  {:>10}  {:>10}  {:>12}",
            size,
            fmt(samples[CLAIMS / 2]),
            fmt(samples[CLAIMS * 95 / 100]),
            fmt(samples[CLAIMS - 1]),
            format!("{:.1} s", fill_time.as_secs_f64())
        );
    }
}

/// Ready goal tasks with a spread of priorities and urgency prefixes, plus some tasks of
/// other kinds and states that the claim must pass over.
fn fill_board(board: &LocalBoard, size: usize) {
    let priorities = [
        None,
        Some("low"),
        Some("medium"),
        Some("high"),
        Some("urgent"),
    ];
    let prefixes = ["", "[Regression] ", "[Systemic] ", "[Workspace] "];
    board.conn().execute_batch("BEGIN").expect("begin");
    for i in 0..size {
        let kind = if i % 10 == 9 { "test" } else { "goal" };
        let state = if i % 7 == 6 {
            State::Backlog
        } else {
            State::ReadyForAi
        };
        board
            .add(NewTask {
                title: format!("{}Task number {i}", prefixes[i % prefixes.len()]),
                description: format!(
                    "## Execution\nrepo: demo\n\n## Goal\nDo item {i} of the benchmark."
                ),
                state: Some(state),
                labels: vec![format!("task-kind: {kind}"), "repo: demo".into()],
                priority: priorities[i % priorities.len()].map(str::to_string),
                external: None,
            })
            .expect("add");
    }
    board.conn().execute_batch("COMMIT").expect("commit");
}

fn fmt(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}
