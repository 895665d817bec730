//! A simulated receiver: latency with a heavy tail, 429 with short and long
//! `Retry-After`, 503, dropped connections, black holes, outages and events
//! it refuses for good, all drawn from a seeded generator on tokio's
//! (virtual) clock. It keeps what it answered, to judge the run by.

use crate::domain::retry::Attempt;
use crate::ports::{Deliverer, Delivery};
use async_trait::async_trait;
use rand::rngs::StdRng;
use rand::Rng;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// How the receiver behaves, drawn per scenario.
#[derive(Debug, Clone)]
pub struct Behaviour {
    /// Typical answer time, and how often one takes `tail` instead.
    pub latency: Duration,
    pub tail_rate: f64,
    pub tail: Duration,
    pub rate_429: f64,
    pub retry_after: Duration,
    pub rate_503: f64,
    /// Connections dropped without an answer.
    pub rate_drop: f64,
    /// Requests never answered (the attempt times out).
    pub rate_black_hole: f64,
    /// Stretches of time (from the run's start) when every request gets 503.
    pub outages: Vec<(Duration, Duration)>,
    /// Events refused for good (410).
    pub refused: Vec<String>,
    /// Events answered 500 with `webhook-delivery: abort-message` (the
    /// receiver stops their retries).
    pub aborted: Vec<String>,
    /// Events whose first attempt is answered with `webhook-delivery:
    /// pause`: taken (200) or not (503), as drawn.
    pub pausing: Vec<String>,
}

#[derive(Debug, Default)]
pub struct Answered {
    /// Per event id, the requests the receiver processed (answered 2xx),
    /// whether or not the worker was still waiting: what its customer sees.
    pub processed: BTreeMap<String, u32>,
    /// Processed after a full `DELIVERY_TIMEOUT_MS`: the receiver's own
    /// slowness, which the retry rule answers with a repeat (docs/api.md).
    pub slow: u32,
    /// The slow ones, per message id.
    pub slow_by_id: BTreeMap<String, u32>,
    /// Processed after a timeout shorter than the full one: a request the
    /// worker cut, which must never happen (issue 21 item 2).
    pub cut: u32,
    pub attempts: u64,
}

pub struct SimReceiver {
    pub behaviour: Behaviour,
    /// The worker's full per-request timeout.
    pub request_timeout: Duration,
    pub start: Instant,
    rng: Mutex<StdRng>,
    pub answered: Mutex<Answered>,
    /// Every attempt, for the trace: (virtual ms, event id, answer).
    pub trace: Mutex<Vec<(u64, String, &'static str)>>,
    /// Every request processed (answered 2xx): (virtual ms, message id, URL).
    pub processed: Mutex<Vec<(u64, String, String)>>,
    /// Every attempt that ran to its answer or timeout: (virtual ms sent,
    /// virtual ms ended, message id), for the order oracle.
    pub spans: Mutex<Vec<(u64, u64, String)>>,
    /// `pausing` events already answered with a pause.
    paused_once: Mutex<std::collections::BTreeSet<String>>,
}

impl SimReceiver {
    pub fn new(behaviour: Behaviour, request_timeout: Duration, rng: StdRng) -> Self {
        Self {
            behaviour,
            request_timeout,
            start: Instant::now(),
            rng: Mutex::new(rng),
            answered: Mutex::new(Answered::default()),
            trace: Mutex::new(Vec::new()),
            processed: Mutex::new(Vec::new()),
            spans: Mutex::new(Vec::new()),
            paused_once: Mutex::default(),
        }
    }

    fn in_outage(&self, at: Duration) -> bool {
        self.behaviour.outages.iter().any(|(from, length)| at >= *from && at < *from + *length)
    }

    /// What the next request gets, and after how long.
    fn draw(&self, event_id: &str) -> (Duration, Answer) {
        let b = &self.behaviour;
        let mut rng = self.rng.lock().unwrap_or_else(|p| p.into_inner());
        let latency = if rng.gen_bool(b.tail_rate) { b.tail } else { b.latency.mul_f64(rng.gen_range(0.5..1.5)) };
        let roll: f64 = rng.gen();
        let answer = if self.in_outage(self.start.elapsed()) {
            Answer::Status(503)
        } else if b.refused.iter().any(|id| id == event_id) {
            Answer::Status(410)
        } else if b.aborted.iter().any(|id| id == event_id) {
            Answer::Abort
        } else if b.pausing.iter().any(|id| id == event_id)
            && self.paused_once.lock().unwrap_or_else(|p| p.into_inner()).insert(event_id.to_owned())
        {
            Answer::Pause { taken: rng.gen_bool(0.5) }
        } else if roll < b.rate_black_hole {
            Answer::Never
        } else if roll < b.rate_black_hole + b.rate_drop {
            Answer::Dropped
        } else if roll < b.rate_black_hole + b.rate_drop + b.rate_429 {
            Answer::Status(429)
        } else if roll < b.rate_black_hole + b.rate_drop + b.rate_429 + b.rate_503 {
            Answer::Status(503)
        } else {
            Answer::Status(200)
        };
        (latency, answer)
    }
}

#[derive(Debug, Clone, Copy)]
enum Answer {
    Status(u16),
    /// 500 with `webhook-delivery: abort-message`.
    Abort,
    /// 200 (taken) or 503 with `webhook-delivery: pause`.
    Pause {
        taken: bool,
    },
    Dropped,
    Never,
}

#[async_trait]
impl Deliverer for SimReceiver {
    /// The simulated jobs ask for no receiver check.
    async fn challenge(&self, _url: &str, _crc_token: &str, _timeout: Duration) -> Result<String, String> {
        Err("the simulated receiver answers no check".into())
    }

    async fn attempt(&self, d: &Delivery, timeout: Duration) -> Attempt {
        // Processed when it arrives and the receiver's time has passed, however
        // late the worker polls for the answer (a frozen worker does not
        // delay what the receiver already has).
        let sent = self.start.elapsed();
        let (latency, answer) = self.draw(&d.message_id);
        self.answered.lock().unwrap_or_else(|p| p.into_inner()).attempts += 1;
        let waited = match answer {
            Answer::Never => timeout,
            _ => latency.min(timeout),
        };
        tokio::time::sleep(waited).await;
        let at = (sent + waited).as_millis() as u64;
        let span = (sent.as_millis() as u64, at, d.message_id.clone());
        self.spans.lock().unwrap_or_else(|p| p.into_inner()).push(span);
        let mut answered = self.answered.lock().unwrap_or_else(|p| p.into_inner());
        let mut trace = self.trace.lock().unwrap_or_else(|p| p.into_inner());
        if matches!(answer, Answer::Status(200) | Answer::Pause { taken: true }) {
            *answered.processed.entry(d.message_id.clone()).or_default() += 1;
            self.processed.lock().unwrap_or_else(|p| p.into_inner()).push((at, d.message_id.clone(), d.url.clone()));
        }
        if matches!(answer, Answer::Never) || latency > timeout {
            if matches!(answer, Answer::Status(200) | Answer::Pause { taken: true }) {
                if timeout >= self.request_timeout {
                    answered.slow += 1;
                    *answered.slow_by_id.entry(d.message_id.clone()).or_default() += 1;
                } else {
                    answered.cut += 1;
                }
            }
            trace.push((at, d.message_id.clone(), "timeout"));
            return Attempt::Retry { status: None, after: None, error: "timed out".into() };
        }
        match answer {
            Answer::Status(200) => {
                trace.push((at, d.message_id.clone(), "200"));
                Attempt::Success
            }
            Answer::Status(429) => {
                trace.push((at, d.message_id.clone(), "429"));
                let after = Some(self.behaviour.retry_after);
                Attempt::Retry { status: Some(429), after, error: "HTTP 429".into() }
            }
            Answer::Status(status) if status >= 500 => {
                trace.push((at, d.message_id.clone(), "503"));
                Attempt::Retry { status: Some(status), after: None, error: format!("HTTP {status}") }
            }
            Answer::Status(status) => {
                trace.push((at, d.message_id.clone(), "410"));
                Attempt::Fail { status }
            }
            Answer::Abort => {
                trace.push((at, d.message_id.clone(), "abort"));
                Attempt::Abort { status: 500, reason: Some("the receiver aborted it".into()) }
            }
            Answer::Pause { taken } => {
                trace.push((at, d.message_id.clone(), if taken { "200+pause" } else { "503+pause" }));
                let status = if taken { 200 } else { 503 };
                Attempt::PauseJob { delivered: taken, status, reason: Some("the receiver paused it".into()) }
            }
            Answer::Dropped | Answer::Never => {
                trace.push((at, d.message_id.clone(), "dropped"));
                Attempt::Retry { status: None, after: None, error: "connection reset".into() }
            }
        }
    }
}
