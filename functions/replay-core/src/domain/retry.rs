//! The per-event retry rule of signed deliveries (docs/api.md, "Signed deliveries"):
//! what one attempt's answer means, how long to wait before the next, and
//! when an event has failed. Pure: the HTTP adapter makes one attempt and
//! reports it; the slice's decider (and the status event's sender) apply
//! this rule, with jitter drawn from a generator they are given.
//!
//! An event fails only on a permanent answer (a 4xx other than 408 and 429)
//! or once it kept failing for the retry budget (`DELIVERY_RETRY_BUDGET_MS`,
//! carried across continuations in the checkpoint). Its first
//! `DELIVERY_MAX_ATTEMPTS` attempts in a run are the quick ones: when they
//! are spent, the slice's circuit hears that the receiver may be down, and
//! the event goes on at the backoff's pace. A `Retry-After` longer than
//! `DELIVERY_RETRY_AFTER_MAX_MS` pauses the slice instead.

use rand::Rng;
use std::time::Duration;

/// The response header by which a receiver controls a delivery
/// (docs/api.md, "Delivery control"), its values, and the header with the
/// receiver's reason.
pub const CONTROL_HEADER: &str = "webhook-delivery";
/// Svix's value: no more retries of this event.
pub const ABORT_VALUE: &str = "abort-message";
/// Ours: pause the job until a resume.
pub const PAUSE_VALUE: &str = "pause";
pub const REASON_HEADER: &str = "webhook-delivery-reason";

/// An attempt needs at least this much time to be worth starting.
pub const MIN_ATTEMPT: Duration = Duration::from_millis(50);

/// What one attempt told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    Success,
    /// Worth another attempt: after `after` (from `Retry-After`) or the backoff.
    Retry {
        status: Option<u16>,
        after: Option<Duration>,
        error: String,
    },
    /// Refused for good by the receiver (a 4xx other than 408 and 429).
    Fail {
        status: u16,
    },
    /// Not sent: the outbound policy refuses the destination, or a header
    /// value could not be built.
    Refused(String),
    /// A failing answer with `webhook-delivery: abort-message`: no more
    /// retries of this event.
    Abort {
        status: u16,
        reason: Option<String>,
    },
    /// An answer with `webhook-delivery: pause`: the job pauses. A 2xx
    /// delivered the event; another answer leaves it to the resume.
    PauseJob {
        delivered: bool,
        status: u16,
        reason: Option<String>,
    },
}

/// How an event's delivery ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    Delivered {
        attempts: u32,
    },
    Failed {
        attempts: u32,
        last_status: Option<u16>,
        error: String,
    },
    /// Not sent at all: the outbound policy refuses the destination, or the
    /// request cannot be built. A failure of the event, not a sign that the
    /// receiver is down.
    Refused {
        error: String,
    },
    /// The receiver stopped its retries (`webhook-delivery: abort-message`):
    /// failed at once, never taken for a receiver that is down.
    Aborted {
        attempts: u32,
        last_status: Option<u16>,
        error: String,
    },
    /// The time ran out (or the slice stopped) before the event was delivered
    /// or failed for good: it is still to be delivered, by this run or the next.
    Interrupted {
        attempts: u32,
        last_status: Option<u16>,
        error: String,
    },
}

/// The rule's settings (`DELIVERY_*`, docs/operations.md).
#[derive(Debug, Clone)]
pub struct RetryRule {
    /// Longest a request may take.
    pub request_timeout: Duration,
    /// Quick attempts in a run before the circuit hears of the event.
    pub max_attempts: u32,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// Longest `Retry-After` waited for between attempts; a longer one pauses the slice.
    pub retry_after_max: Duration,
    /// How long an event may keep failing before it counts as failed.
    pub budget: Duration,
}

/// One event's attempts so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tries {
    /// Every attempt, across runs.
    pub attempts: u32,
    /// Attempts in this run: the first `max_attempts` are the quick ones.
    pub run_attempts: u32,
    /// How long the event has been failing, across runs, as of this attempt
    /// (the caller keeps it: the rule has no clock).
    pub failing_for: Duration,
    pub last_status: Option<u16>,
    pub last_error: String,
}

/// What comes after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// The event's delivery ended (delivered, failed, refused, or interrupted).
    Done(DeliveryOutcome),
    /// Try again after this long.
    RetryIn(Duration),
    /// The quick attempts are spent: the receiver may be down (the slice's
    /// circuit hears of it); otherwise try again after this long.
    Struggling(Duration),
    /// The receiver asked for a wait longer than `retry_after_max`: pause
    /// the slice this long rather than fail the event.
    Pause(Duration),
    /// The receiver asked for the job to pause; the event was delivered, or
    /// waits for the resume.
    PauseJob { delivered: bool, reason: Option<String> },
}

impl RetryRule {
    /// The timeout of an attempt started with `remaining` time left, or None
    /// when the full request timeout does not fit: a request is never cut
    /// short, since the receiver may process one it answers late, and the
    /// event would be sent again (docs/guarantees.md, "Per-event delivery").
    pub fn timeout(&self, remaining: Duration) -> Option<Duration> {
        (remaining >= self.request_timeout).then_some(self.request_timeout)
    }

    /// Applies the rule to one attempt; `tries` is updated.
    pub fn after(&self, tries: &mut Tries, attempt: Attempt, rng: &mut impl Rng) -> Next {
        tries.attempts += 1;
        tries.run_attempts += 1;
        let attempts = tries.attempts;
        match attempt {
            Attempt::Success => Next::Done(DeliveryOutcome::Delivered { attempts }),
            Attempt::Fail { status } => Next::Done(DeliveryOutcome::Failed {
                attempts,
                last_status: Some(status),
                error: format!("HTTP {status}"),
            }),
            Attempt::Refused(error) => Next::Done(DeliveryOutcome::Refused { error }),
            Attempt::Abort { status, reason } => Next::Done(DeliveryOutcome::Aborted {
                attempts,
                last_status: Some(status),
                error: match reason {
                    Some(r) => format!("HTTP {status}; the receiver stopped its retries ({ABORT_VALUE}): {r}"),
                    None => format!("HTTP {status}; the receiver stopped its retries ({ABORT_VALUE})"),
                },
            }),
            Attempt::PauseJob { delivered, status, reason } => {
                if !delivered {
                    tries.last_status = Some(status);
                    tries.last_error = format!("HTTP {status}; the receiver paused the job");
                }
                Next::PauseJob { delivered, reason }
            }
            Attempt::Retry { status, after, error } => {
                tries.last_status = status;
                tries.last_error = error;
                if tries.failing_for >= self.budget {
                    return Next::Done(DeliveryOutcome::Failed {
                        attempts,
                        last_status: tries.last_status,
                        error: format!(
                            "{}; failing for {}s, past the retry budget of {}s",
                            tries.last_error,
                            tries.failing_for.as_secs(),
                            self.budget.as_secs()
                        ),
                    });
                }
                let wait = match after {
                    Some(after) if after > self.retry_after_max => return Next::Pause(after),
                    Some(after) => after,
                    None => self.backoff(tries.run_attempts, rng),
                };
                if tries.run_attempts == self.max_attempts {
                    return Next::Struggling(wait);
                }
                Next::RetryIn(wait)
            }
        }
    }

    /// Exponential backoff with full jitter.
    pub fn backoff(&self, attempt: u32, rng: &mut impl Rng) -> Duration {
        let exp = self.backoff_base.saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)));
        let cap = exp.min(self.backoff_max);
        Duration::from_millis(rng.gen_range(0..=cap.as_millis().max(1) as u64))
    }
}

impl Tries {
    /// The event counts as failed with what it got so far (the status
    /// event's sender, which has no circuit and no pauses).
    pub fn failed(&self) -> DeliveryOutcome {
        DeliveryOutcome::Failed {
            attempts: self.attempts,
            last_status: self.last_status,
            error: self.last_error.clone(),
        }
    }

    /// The event is still to be delivered: the time ran out first.
    pub fn interrupted(&self, last_status: Option<u16>, error: &str) -> DeliveryOutcome {
        let error = if error.is_empty() { "not attempted" } else { error };
        DeliveryOutcome::Interrupted {
            attempts: self.attempts,
            last_status,
            error: format!("stopped before it was delivered (time, lease or cancel): {error}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn rule() -> RetryRule {
        RetryRule {
            request_timeout: Duration::from_secs(10),
            max_attempts: 3,
            backoff_base: Duration::from_millis(100),
            backoff_max: Duration::from_millis(300),
            retry_after_max: Duration::from_secs(60),
            budget: Duration::from_secs(120),
        }
    }

    fn retry(status: u16, after: Option<u64>) -> Attempt {
        Attempt::Retry { status: Some(status), after: after.map(Duration::from_secs), error: format!("HTTP {status}") }
    }

    #[test]
    fn backoff_is_capped_and_seeded() {
        let (mut a, mut b) = (StdRng::seed_from_u64(7), StdRng::seed_from_u64(7));
        for attempt in 1..20 {
            let wait = rule().backoff(attempt, &mut a);
            assert!(wait <= Duration::from_millis(300));
            assert_eq!(wait, rule().backoff(attempt, &mut b), "one seed, one sequence");
        }
    }

    #[test]
    fn an_event_fails_on_a_refusal_or_past_its_budget_never_for_its_attempts() {
        let mut rng = StdRng::seed_from_u64(1);
        let mut tries = Tries::default();
        assert!(matches!(rule().after(&mut tries, retry(503, None), &mut rng), Next::RetryIn(_)));
        assert_eq!(rule().after(&mut tries, retry(429, Some(2)), &mut rng), Next::RetryIn(Duration::from_secs(2)));
        // The quick attempts spent: the circuit hears of it, the event goes on.
        assert!(matches!(rule().after(&mut tries, retry(503, None), &mut rng), Next::Struggling(_)));
        for _ in 0..100 {
            tries.failing_for += Duration::from_secs(5);
            let next = rule().after(&mut tries, retry(408, None), &mut rng);
            if tries.failing_for < rule().budget {
                assert!(matches!(next, Next::RetryIn(_)), "within the budget: {next:?}");
            } else {
                let Next::Done(DeliveryOutcome::Failed { attempts, last_status: Some(408), error }) = next else {
                    panic!("past the budget: {next:?}")
                };
                assert_eq!(attempts, tries.attempts);
                assert!(error.contains("retry budget"), "{error}");
                break;
            }
        }
        assert!(tries.failing_for >= rule().budget, "the loop reached the budget");
        let mut tries = Tries::default();
        let next = rule().after(&mut tries, Attempt::Fail { status: 410 }, &mut rng);
        assert!(matches!(next, Next::Done(DeliveryOutcome::Failed { attempts: 1, last_status: Some(410), .. })));
    }

    #[test]
    fn a_receiver_that_aborts_an_event_gets_no_more_attempts_of_it() {
        let mut rng = StdRng::seed_from_u64(1);
        let mut tries = Tries::default();
        let attempt = Attempt::Abort { status: 503, reason: Some("unknown account".into()) };
        let Next::Done(DeliveryOutcome::Aborted { attempts: 1, last_status: Some(503), error }) =
            rule().after(&mut tries, attempt, &mut rng)
        else {
            panic!("an abort ends the event")
        };
        assert!(error.contains("abort-message") && error.contains("unknown account"), "{error}");
    }

    #[test]
    fn a_receiver_that_pauses_the_job_keeps_the_event_unless_it_took_it() {
        let mut rng = StdRng::seed_from_u64(1);
        let mut tries = Tries::default();
        let taken = Attempt::PauseJob { delivered: true, status: 200, reason: None };
        assert_eq!(rule().after(&mut tries, taken, &mut rng), Next::PauseJob { delivered: true, reason: None });
        let refused = Attempt::PauseJob { delivered: false, status: 503, reason: Some("deploying".into()) };
        let next = rule().after(&mut tries, refused, &mut rng);
        assert_eq!(next, Next::PauseJob { delivered: false, reason: Some("deploying".into()) });
        assert_eq!(tries.last_status, Some(503), "the answer is kept for the event's next attempts");
    }

    #[test]
    fn a_retry_after_beyond_the_limit_pauses_instead_of_failing() {
        let mut rng = StdRng::seed_from_u64(1);
        let next = rule().after(&mut Tries::default(), retry(429, Some(3600)), &mut rng);
        assert_eq!(next, Next::Pause(Duration::from_secs(3600)));
        // Past the budget, the event fails whatever the receiver asks.
        let mut tries = Tries { failing_for: rule().budget, ..Tries::default() };
        let next = rule().after(&mut tries, retry(429, Some(3600)), &mut rng);
        assert!(matches!(next, Next::Done(DeliveryOutcome::Failed { .. })), "{next:?}");
    }

    #[test]
    fn a_request_is_started_only_with_its_full_timeout_left() {
        // A shorter one could be cut while the receiver processes it, and the
        // event would be sent again with no crash (seed 112097 sent a status event twice).
        assert_eq!(rule().timeout(Duration::from_millis(9_999)), None);
        assert_eq!(rule().timeout(Duration::from_secs(10)), Some(Duration::from_secs(10)));
        assert_eq!(rule().timeout(Duration::from_secs(60)), Some(Duration::from_secs(10)));
    }
}
