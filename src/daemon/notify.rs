//! sd_notify: READY, STATUS, WATCHDOG and STOPPING. Silently does nothing outside systemd.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use sd_notify::NotifyState;

pub struct Notifier {
    watchdog_interval: Option<Duration>,
    last_ping: Instant,
}

impl Notifier {
    pub fn from_env() -> Self {
        let mut usec = 0;
        // Half the watchdog timeout, as sd_watchdog_enabled(3) advises.
        let watchdog_interval =
            sd_notify::watchdog_enabled(false, &mut usec).then(|| Duration::from_micros(usec / 2));
        Self {
            watchdog_interval,
            last_ping: Instant::now(),
        }
    }

    pub fn ready(&self, status: &str) {
        remember(status);
        let _ = sd_notify::notify(false, &[NotifyState::Ready, NotifyState::Status(status)]);
    }

    pub fn status(&self, status: &str) {
        remember(status);
        let _ = sd_notify::notify(false, &[NotifyState::Status(status)]);
    }

    pub fn stopping(&self) {
        let _ = sd_notify::notify(false, &[NotifyState::Stopping]);
    }

    /// Pings the watchdog if half its interval has passed; cheap to call often.
    pub fn keepalive(&mut self) {
        if let Some(interval) = self.watchdog_interval
            && self.last_ping.elapsed() >= interval
        {
            let _ = sd_notify::notify(false, &[NotifyState::Watchdog]);
            self.last_ping = Instant::now();
        }
    }

    /// How long a caller may block before it must call `keepalive` again.
    pub fn max_block(&self) -> Duration {
        self.watchdog_interval
            .map(|i| i.min(Duration::from_secs(1)))
            .unwrap_or(Duration::from_secs(1))
    }
}

/// Sleeps `total` in slices, pinging the watchdog between them: for a lane that waits on
/// a remote service's rate limit (`Retry-After` up to 90 s), which is progress, not a hang.
/// Outside systemd the pings go nowhere.
pub fn sleep_alive(total: Duration) {
    let deadline = Instant::now() + total;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        std::thread::sleep(left.min(Duration::from_secs(1)));
        let _ = sd_notify::notify(false, &[NotifyState::Watchdog]);
    }
}

/// The process's last STATUS=, put back after a [`wait_with_status`].
static LAST_STATUS: Mutex<String> = Mutex::new(String::new());

fn remember(status: &str) {
    let mut last = LAST_STATUS.lock().unwrap_or_else(|p| p.into_inner());
    last.clear();
    last.push_str(status);
}

/// [`sleep_alive`] with STATUS= saying why (a lane waiting on a rate limit must not look
/// hung in `systemctl status`); the previous status comes back afterwards.
pub fn wait_with_status(total: Duration, status: &str) {
    let _ = sd_notify::notify(false, &[NotifyState::Status(status)]);
    sleep_alive(total);
    let last = LAST_STATUS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    if !last.is_empty() {
        let _ = sd_notify::notify(false, &[NotifyState::Status(&last)]);
    }
}

/// One watchdog ping from a long step that is making progress (no-op outside systemd).
pub fn ping() {
    let _ = sd_notify::notify(false, &[NotifyState::Watchdog]);
}

/// A `STATUS=` line from outside a lane's own notifier (e.g. while waiting for a lock).
pub fn status(line: &str) {
    let _ = sd_notify::notify(false, &[NotifyState::Status(line)]);
}
