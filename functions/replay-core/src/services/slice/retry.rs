//! Kafka retries within an invocation, and the per-slice request rate.

use super::now;
use crate::error::{Error, Result};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tracing::warn;

/// Retries a failing Kafka call (the broker restarting, a leader moving) with
/// capped exponential backoff while the invocation has time; after that the
/// error goes to SQS, whose retry resumes from the checkpoint.
pub struct KafkaRetry {
    until: Instant,
    next_wait: Duration,
}

impl KafkaRetry {
    const FIRST_WAIT: Duration = Duration::from_millis(250);
    const MAX_WAIT: Duration = Duration::from_secs(5);

    /// Retries end at `until` (the deadline less its margin).
    pub fn new(until: Instant) -> Self {
        Self { until, next_wait: Self::FIRST_WAIT }
    }

    pub fn reset(&mut self) {
        self.next_wait = Self::FIRST_WAIT;
    }

    pub async fn wait_or_fail(&mut self, error: Error) -> Result<()> {
        if !error.is_retryable() || now() + self.next_wait >= self.until {
            return Err(error);
        }
        warn!(%error, wait = ?self.next_wait, "kafka call failed; retrying");
        tokio::time::sleep(self.next_wait).await;
        self.next_wait = (self.next_wait * 2).min(Self::MAX_WAIT);
        Ok(())
    }
}

/// Spaces request starts evenly: at most `per_second` a second (0 = no limit).
/// Slots are handed out in the order requests are started (log order).
pub struct RateLimiter {
    period: Option<Duration>,
    next: Mutex<Instant>,
}

impl RateLimiter {
    pub fn new(per_second: u32) -> Self {
        let period = (per_second > 0).then(|| Duration::from_secs_f64(1.0 / f64::from(per_second)));
        Self { period, next: Mutex::new(now()) }
    }

    /// Takes the next slot now (the caller waits for it with `wait_for`).
    pub fn slot(&self) -> Option<Instant> {
        let period = self.period?;
        let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
        let slot = (*next).max(now());
        *next = slot + period;
        Some(slot)
    }
}
