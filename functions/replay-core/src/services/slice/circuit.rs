//! Whether the receiver looks down: consecutive events that failed with a
//! down-looking answer (5xx, 429, timeouts, connection errors, after their
//! retries) open the circuit and pause the slice; down again after the last
//! allowed pause, the slice gives up and fails its remaining events unsent.

use crate::config::WorkerConfig;
use std::time::Instant;
use tracing::warn;

#[derive(Debug, Default)]
pub struct Circuit {
    consecutive_down: u32,
    /// When the first of the current run of down-looking failures was seen.
    /// Only a success sent after it says the receiver is back: one sent
    /// before (slow, answered as the outage began) says nothing about now.
    down_since: Option<Instant>,
    give_up: bool,
}

/// What a down-looking failure makes of the circuit.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Closed,
    /// Pause the slice; its down-looking failures are tried again after.
    Open,
    /// Down again after the last pause, with nothing delivered since.
    GiveUp,
}

impl Circuit {
    pub fn gave_up(&self) -> bool {
        self.give_up
    }

    /// A delivery sent at `sent_at` succeeded: true when it says the receiver is back.
    pub fn delivered(&mut self, sent_at: Instant) -> bool {
        if self.down_since.is_none_or(|down| sent_at >= down) {
            self.consecutive_down = 0;
            self.down_since = None;
            return true;
        }
        false
    }

    /// The receiver kept asking for long waits through every allowed pause.
    pub fn give_up(&mut self, now: Instant) {
        self.down_since.get_or_insert(now);
        if !self.give_up {
            warn!("receiver still asks to wait after the last pause; failing the remaining events unsent");
        }
        self.give_up = true;
    }

    /// An event failed at `now` with a down-looking answer, after `pauses`
    /// pauses (a delivery resets them: outages hours apart are not one).
    pub fn down(&mut self, now: Instant, pauses: u32, cfg: &WorkerConfig) -> Verdict {
        self.consecutive_down += 1;
        self.down_since.get_or_insert(now);
        if self.consecutive_down < cfg.circuit_break_after {
            return Verdict::Closed;
        }
        if pauses >= cfg.circuit_max_pauses {
            if !self.give_up {
                warn!(pauses, "receiver still down after the last pause; failing the remaining events unsent");
            }
            self.give_up = true;
            return Verdict::GiveUp;
        }
        warn!(failures = self.consecutive_down, "receiver looks down; pausing the slice");
        Verdict::Open
    }
}
