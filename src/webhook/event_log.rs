//! The journal lines for committed CI events: one line per event while they arrive at a
//! human pace, and past [`LINES_PER_SECOND`] in a second, one summary line for the rest
//! of that second. Every event is in the database either way (`oc ci-events`).
//!
//! Why a budget: a burst of deliveries (a monorepo's CI fanning out, GitHub redelivering a
//! backlog) would otherwise write thousands of lines a second. journald's own rate limit
//! (10,000 per 30 s per service by default) then drops lines without saying which, the
//! rejected-delivery warnings among them; and formatting and writing a line cost as much
//! as verifying the delivery's signature (bench/webhook_vs_nginx.sh).

use std::time::{Duration, Instant};

use super::event::CiEvent;

/// Lines of their own per second; the rest of the second's events are summarised.
pub const LINES_PER_SECOND: u32 = 50;
const WINDOW: Duration = Duration::from_secs(1);

/// Counts for one window; see [`EventLog::summarize`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Unlogged {
    pub recorded: u64,
    pub duplicates: u64,
}

#[derive(Debug)]
pub struct EventLog {
    lines_per_window: u32,
    window_start: Option<Instant>,
    lines: u32,
    unlogged: Unlogged,
}

impl Default for EventLog {
    fn default() -> Self {
        Self::new(LINES_PER_SECOND)
    }
}

impl EventLog {
    pub fn new(lines_per_window: u32) -> Self {
        Self {
            lines_per_window,
            window_start: None,
            lines: 0,
            unlogged: Unlogged::default(),
        }
    }

    /// Logs one committed event (`inserted`: new, not a redelivery) now or counts it for
    /// the summary. A new window first summarises the one before.
    pub fn committed(&mut self, now: Instant, delivery: &str, event: &CiEvent, inserted: bool) {
        if self.admit(now, inserted) {
            log_event(delivery, event, inserted);
        }
    }

    /// When the summary of the current window is due, if it has unlogged events.
    pub fn due(&self) -> Option<Instant> {
        let unlogged = self.unlogged != Unlogged::default();
        self.window_start
            .filter(|_| unlogged)
            .map(|start| start + WINDOW)
    }

    /// Writes the summary line if one is due at `now`.
    pub fn summarize_if_due(&mut self, now: Instant) {
        if self.due().is_some_and(|due| now >= due) {
            self.summarize();
        }
    }

    /// Writes the summary line for what is unlogged (at a window's end or on stop).
    pub fn summarize(&mut self) {
        let Unlogged {
            recorded,
            duplicates,
        } = std::mem::take(&mut self.unlogged);
        if recorded + duplicates == 0 {
            return;
        }
        tracing::info!(
            event = "ci_events_summarized",
            recorded,
            duplicates,
            "recorded {recorded} more events and {duplicates} more redeliveries without a \
             line each (over {} a second); `oc ci-events` lists every event",
            self.lines_per_window
        );
    }

    /// True when this event gets a line of its own.
    fn admit(&mut self, now: Instant, inserted: bool) -> bool {
        if self.window_start.is_none_or(|start| now >= start + WINDOW) {
            self.summarize();
            self.window_start = Some(now);
            self.lines = 0;
        }
        if self.lines < self.lines_per_window {
            self.lines += 1;
            return true;
        }
        if inserted {
            self.unlogged.recorded += 1;
        } else {
            self.unlogged.duplicates += 1;
        }
        false
    }

    #[cfg(test)]
    fn unlogged(&self) -> Unlogged {
        self.unlogged
    }
}

fn log_event(delivery: &str, event: &CiEvent, inserted: bool) {
    if !inserted {
        tracing::info!(
            event = "ci_event_duplicate",
            delivery,
            "redelivery of {delivery}: already recorded"
        );
        return;
    }
    let name = &event.event;
    tracing::info!(
        event = "ci_event_recorded",
        delivery,
        github_event = %name,
        repo = %event.repo,
        head_sha = %event.head_sha,
        conclusion = event.conclusion.as_deref().unwrap_or(""),
        "recorded {name} for {} at {}",
        event.repo,
        event.head_sha
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admitted(log: &mut EventLog, now: Instant, n: usize, inserted: bool) -> usize {
        (0..n).filter(|_| log.admit(now, inserted)).count()
    }

    #[test]
    fn events_at_a_human_pace_each_get_a_line() {
        let mut log = EventLog::new(3);
        let t0 = Instant::now();
        for second in 0..5 {
            let now = t0 + Duration::from_secs(second);
            assert_eq!(admitted(&mut log, now, 3, true), 3);
        }
        assert_eq!(log.due(), None, "nothing to summarise");
    }

    #[test]
    fn a_burst_is_summarised_at_the_end_of_its_second() {
        let mut log = EventLog::new(3);
        let t0 = Instant::now();
        assert_eq!(admitted(&mut log, t0, 10, true), 3);
        assert_eq!(
            admitted(&mut log, t0 + Duration::from_millis(500), 2, false),
            0
        );
        assert_eq!(
            log.unlogged(),
            Unlogged {
                recorded: 7,
                duplicates: 2
            }
        );
        assert_eq!(log.due(), Some(t0 + WINDOW));
        log.summarize_if_due(t0 + Duration::from_millis(999));
        assert_eq!(log.unlogged().recorded, 7, "not due yet");
        log.summarize_if_due(t0 + WINDOW);
        assert_eq!(log.unlogged(), Unlogged::default());
        assert_eq!(log.due(), None);
    }

    #[test]
    fn the_next_second_starts_with_lines_again_and_carries_nothing_over() {
        let mut log = EventLog::new(3);
        let t0 = Instant::now();
        admitted(&mut log, t0, 10, true);
        // The summary was not written by a timer: the next event's new window writes it.
        let next = t0 + Duration::from_millis(1200);
        assert_eq!(admitted(&mut log, next, 4, true), 3);
        assert_eq!(log.unlogged().recorded, 1, "only the new second's surplus");
        assert_eq!(log.due(), Some(next + WINDOW));
    }
}
