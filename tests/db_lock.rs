//! A locked state database does not kill a lane: while another process holds an exclusive
//! lock for longer than any busy timeout, the lane waits — logging `state_db_busy` and
//! feeding systemd's watchdog — and carries on when the lock is released.

mod support;

use std::os::unix::net::UnixDatagram;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use support::{World, events_named};

/// Longer than the 30 s busy timeout a lane used to give up after.
const LOCK_HELD: Duration = Duration::from_secs(40);
/// The watchdog timeout the lane is told about (it pings at half of it).
const WATCHDOG: Duration = Duration::from_secs(4);

/// The datagrams a notify socket received, with the time each came.
type Notes = Arc<Mutex<Vec<(Instant, String)>>>;

/// A notify socket like systemd's.
fn notify_socket(w: &World) -> (std::path::PathBuf, Notes) {
    let path = w.path().join("notify.sock");
    let socket = UnixDatagram::bind(&path).expect("bind notify socket");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = socket.recv(&mut buf) {
            let text = String::from_utf8_lossy(&buf[..n]).into_owned();
            sink.lock().unwrap().push((Instant::now(), text));
        }
    });
    (path, seen)
}

#[test]
fn a_lane_waits_out_an_exclusive_lock_and_carries_on() {
    let mut w = World::new();
    w.config
        .limits
        .insert("watch_interval_seconds".into(), "{goal: 1}".into());
    w.use_agent("printf 'change by %s\\n' \"$OC_TASK_ID\" > CHANGES.md");
    let first = w.add_goal("Before the lock");
    let (socket, notes) = notify_socket(&w);
    let watchdog_usec = WATCHDOG.as_micros().to_string();
    let mut lane = w.spawn_lane(
        "slot1",
        &[],
        &[
            ("OPERATIONS_CENTER_MIN_WATCH_INTERVAL_SECONDS", "1"),
            ("NOTIFY_SOCKET", socket.to_str().unwrap()),
            ("WATCHDOG_USEC", &watchdog_usec),
        ],
    );
    assert!(
        support::wait_until(Duration::from_secs(60), || w.task_state(&first) == "Review"),
        "the lane did not run the first task:\n{}",
        lane.log_text()
    );
    let second = w.add_goal("During the lock");

    // Another process (this test) takes the database's write lock and keeps it.
    let db = rusqlite::Connection::open(w.state.join("operations-center.db")).unwrap();
    db.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let locked_at = Instant::now();
    assert!(
        support::wait_until(Duration::from_secs(30), || !events_named(
            &lane.events(),
            "state_db_busy"
        )
        .is_empty()),
        "the lane logged no state_db_busy:\n{}",
        lane.log_text()
    );
    while locked_at.elapsed() < LOCK_HELD {
        assert!(
            lane.child.try_wait().unwrap().is_none(),
            "the lane exited after {:?} of a held lock:\n{}",
            locked_at.elapsed(),
            lane.log_text()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    db.execute_batch("COMMIT").unwrap();
    let released_at = Instant::now();

    // The second task was not claimed while the lock was held, and runs once it is gone.
    assert!(
        support::wait_until(Duration::from_secs(60), || w.task_state(&second)
            == "Review"),
        "the lane did not carry on after the lock:\n{}",
        lane.log_text()
    );
    // The watchdog was fed all along: no gap as long as its timeout while waiting.
    let pings: Vec<Instant> = notes
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, text)| text.lines().any(|l| l == "WATCHDOG=1"))
        .map(|(at, _)| *at)
        .filter(|at| *at >= locked_at && *at <= released_at)
        .collect();
    let mut last = locked_at;
    for at in pings.iter().copied().chain([released_at]) {
        assert!(
            at - last < WATCHDOG,
            "no watchdog ping for {:?} during the lock ({} pings)",
            at - last,
            pings.len()
        );
        last = at;
    }

    lane.signal(Signal::SIGTERM);
    let status = lane.wait_exit(Duration::from_secs(30)).expect("lane stops");
    assert_eq!(status.code(), Some(0), "{}", lane.log_text());
}
