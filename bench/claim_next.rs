//! Benchmark: claim-next latency on embedded boards of 1k, 10k and 100k Ready tasks.
//!
//! Run: `cargo bench --bench claim_next` (results in docs/benchmarks.md).
//! Each claim runs the real path: one IMMEDIATE transaction that picks the most urgent
//! eligible task through the index, moves it to Running and registers the run; every other
//! one also checks the budgets in that transaction, as lanes do.

use std::time::{Duration, Instant};

use operations_center::board::local::LocalBoard;
use operations_center::board::{Board, ClaimRequest, NewTask, State};
use operations_center::store::budget::Limits;
use operations_center::store::runs::{self, NewRun};

const SIZES: [usize; 3] = [1_000, 10_000, 100_000];
const CLAIMS: usize = 200;
/// Executions in the last day, for the budget to count.
const HISTORY: usize = 1_000;

fn main() {
    println!("claim-next on the embedded board ({CLAIMS} claims per size, release build)");
    println!(
        "{:>8}  {:>10}  {:>10}  {:>10}  {:>12}  {:>10}  {:>10}  {:>6}",
        "tasks", "median", "p95", "max", "fill time", "+budget med", "+budget p95", "ratio"
    );
    for size in SIZES {
        let dir = tempfile::tempdir().expect("temp dir");
        let board = LocalBoard::open(dir.path()).expect("board");
        let fill = Instant::now();
        fill_board(&board, size);
        let fill_time = fill.elapsed();

        // A day of history the budget counts: more executions than any real cap allows.
        fill_history(&board, HISTORY);
        // Alternating, side by side: the claim alone, and the claim as lanes make it (the
        // budget checked and the run reserved in the same transaction).
        let mut plain = Vec::with_capacity(CLAIMS);
        let mut budgeted = Vec::with_capacity(CLAIMS);
        for i in 0..CLAIMS * 2 {
            let with_budget = i % 2 == 1;
            let run = NewRun {
                run_id: format!("bench{i:07}"),
                lane: "goal@bench".into(),
                workspace: dir.path().join(format!("ws{i}")),
                budget: with_budget.then(|| Limits {
                    per_hour: 1_000_000,
                    per_day: 1_000_000,
                    repo_daily: [("demo".to_string(), 1_000_000)].into(),
                }),
            };
            let request = ClaimRequest {
                kinds: &["goal"],
                repos_over_budget: &[],
                run: &run,
            };
            let start = Instant::now();
            let claim = board.claim_next(&request).expect("claim");
            let took = start.elapsed();
            assert!(claim.is_some(), "board ran dry");
            // The lane's run starts its agent and ends: no reservation piles up.
            runs::finish(board.conn(), &run.run_id, "executed").expect("finish");
            if with_budget {
                &mut budgeted
            } else {
                &mut plain
            }
            .push(took);
        }
        plain.sort();
        budgeted.sort();
        println!(
            "{:>8}  {:>10}  {:>10}  {:>10}  {:>12}  {:>10}  {:>10}  {:>6.2}",
            size,
            fmt(plain[CLAIMS / 2]),
            fmt(plain[CLAIMS * 95 / 100]),
            fmt(plain[CLAIMS - 1]),
            format!("{:.1} s", fill_time.as_secs_f64()),
            fmt(budgeted[CLAIMS / 2]),
            fmt(budgeted[CLAIMS * 95 / 100]),
            budgeted[CLAIMS / 2].as_secs_f64() / plain[CLAIMS / 2].as_secs_f64()
        );
    }
}

/// `n` charged executions spread over the last 24 hours.
fn fill_history(board: &LocalBoard, n: usize) {
    let now = chrono::Utc::now().timestamp();
    board.conn().execute_batch("BEGIN").expect("begin");
    for i in 0..n {
        board
            .conn()
            .execute(
                "INSERT INTO executions (run_id, task_id, repo, backend, started_at, finished_at, outcome)
                 VALUES (?1, 'T-0', 'demo', 'command', ?2, ?2, 'success')",
                rusqlite::params![format!("past{i}"), now - (i as i64 * 86_000 / n as i64)],
            )
            .expect("history");
    }
    board.conn().execute_batch("COMMIT").expect("commit");
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
