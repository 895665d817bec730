//! What the decider keeps per event between attempts: its tries and retry
//! budget (carried across runs in the checkpoint's `retries`), and the
//! failure records an ended delivery leaves (docs/guarantees.md,
//! "Per-event delivery").

use crate::domain::checkpoint::Retried;
use crate::domain::retry::Tries;
use crate::ports::{Delivery, FailedEvent};
use std::time::{Duration, Instant};

/// An event waiting for its next attempt.
#[derive(Default)]
pub(super) struct Retrying {
    pub tries: Tries,
    pub not_before: Option<Instant>,
    /// How long it failed in earlier runs (and pauses it asked for).
    pub failed_before: Duration,
    /// Its first failed attempt in this run.
    pub failing_since: Option<Instant>,
}

impl Retrying {
    pub fn carried(r: Retried) -> Self {
        let tries = Tries { attempts: r.attempts, ..Tries::default() };
        Self { tries, failed_before: Duration::from_millis(r.failing_ms), ..Self::default() }
    }

    /// An attempt failed at `now`: the failing time it adds to.
    pub fn failed_at(&mut self, now: Instant) {
        let since = *self.failing_since.get_or_insert(now);
        self.tries.failing_for = self.failed_before + now.saturating_duration_since(since);
    }

    pub fn to_save(&self) -> Retried {
        Retried { attempts: self.tries.attempts, failing_ms: self.tries.failing_for.as_millis() as u64 }
    }
}

pub(super) fn failure_of(delivery: &Delivery, attempts: u32, last_status: Option<u16>, error: String) -> FailedEvent {
    FailedEvent {
        event_id: delivery.message_id.clone(),
        event_type: delivery.event_type.clone(),
        attempts,
        last_status,
        error,
    }
}

/// A failure recorded for an event never sent: the circuit gave up.
pub(super) fn not_attempted(delivery: &Delivery) -> FailedEvent {
    FailedEvent {
        event_id: delivery.message_id.clone(),
        event_type: delivery.event_type.clone(),
        attempts: 0,
        last_status: None,
        error: "not attempted: the receiver stayed down through every pause".into(),
    }
}

/// Failures that say the receiver is down or overloaded, not that it refused the event.
pub(super) fn receiver_down(last_status: Option<u16>) -> bool {
    match last_status {
        None => true,
        Some(status) => status == 408 || status == 429 || status >= 500,
    }
}
