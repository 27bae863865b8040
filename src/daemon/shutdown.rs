//! SIGTERM/SIGINT handling: a flag the work loop checks, and a sleep that wakes early.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

#[derive(Clone)]
pub struct Shutdown {
    requested: Arc<AtomicBool>,
}

impl Shutdown {
    /// Installs the handlers (idempotent per process).
    pub fn install() -> anyhow::Result<Self> {
        let requested = Arc::new(AtomicBool::new(false));
        for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
            signal_hook::flag::register(sig, Arc::clone(&requested))?;
        }
        Ok(Self { requested })
    }

    /// A handle that is never triggered (for one-shot commands in tests).
    pub fn never() -> Self {
        Self {
            requested: Arc::new(AtomicBool::new(false)),
        }
    }

    pub fn requested(&self) -> bool {
        self.requested.load(Ordering::Relaxed)
    }

    /// Sleeps up to `total`, waking every `tick` to run `on_tick` (the watchdog ping);
    /// returns false when shutdown was requested meanwhile.
    pub fn sleep(&self, total: Duration, tick: Duration, mut on_tick: impl FnMut()) -> bool {
        let end = Instant::now() + total;
        let step = tick.min(Duration::from_millis(250));
        while !self.requested() {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return true;
            }
            std::thread::sleep(left.min(step));
            on_tick();
        }
        false
    }
}
