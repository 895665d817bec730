//! What a seed generates: a delivery log around a window, the settings, the
//! receiver and the platform's faults, within the ranges stated here.

use super::receiver::Behaviour;
use crate::adapters::memory::LogRecord;
use crate::config::WorkerConfig;
use crate::domain::retry::RetryRule;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::time::Duration;

pub const WEBHOOK: &str = "wh_sim";
pub(super) const MINUTE: i64 = 60_000;
/// Events of the webhook per scenario at most (the CI budget).
const MAX_EVENTS: usize = 2_500;

/// One copy of an event in the log, as the oracle knows it.
#[derive(Debug, Clone)]
pub struct Copy {
    pub event_id: String,
    pub timestamp: i64,
    /// Beyond the look-back from the original: may be delivered again.
    pub far: bool,
}

/// Retention deleting the oldest records while the slice runs.
#[derive(Debug)]
pub struct Retention {
    /// When (from the run's start; applied before the next invocation).
    pub at: Duration,
    /// Per partition: the first offset it keeps.
    pub keeps_from: Vec<i64>,
}

#[derive(Debug)]
pub struct Scenario {
    pub seed: u64,
    pub cfg: WorkerConfig,
    pub concurrency: usize,
    pub from: i64,
    pub to: i64,
    /// The topic's partitions: two when it grew, the webhook's key moving
    /// from the first to the second at one moment of the log.
    pub partitions: Vec<Vec<LogRecord>>,
    /// The webhook's copies, in log order (the first partition's before the
    /// second's), and where each one lies (partition, offset).
    pub copies: Vec<Copy>,
    pub placed: Vec<(u32, i64)>,
    pub retention: Option<Retention>,
    pub receiver: Behaviour,
    /// How long each invocation may run, and how often one crashes.
    pub invocation: Duration,
    pub crash_rate: f64,
    /// An ordered job's (1 seed in 4): each event's account, the key at
    /// `/account` (ORDERING_KEY) of its payload.
    pub accounts: Option<std::collections::HashMap<String, String>>,
}

/// The pointer an ordered scenario's job orders by.
pub const ORDERING_KEY: &str = "/account";

/// A random stream of its own for a seed: faults added to the generator
/// later draw from one, so the seeds named by regression cases keep the
/// plans they had.
pub(super) fn stream(seed: u64, stream: u64) -> StdRng {
    StdRng::seed_from_u64(seed ^ (stream.wrapping_mul(0x9e37_79b9_7f4a_7c15)))
}

/// The receiver's delivery control, from streams of their own (the named
/// seeds keep their plans): in 1 seed of 10 it aborts 1% of the events
/// (`webhook-delivery: abort-message`); in another 1 of 10 it answers the
/// first attempt of 0.5% of them with `webhook-delivery: pause`.
pub(super) fn controlled(seed: u64, copies: &[Copy]) -> (Vec<String>, Vec<String>) {
    let (mut aborts, mut pauses) = (stream(seed, 11), stream(seed, 12));
    let aborting = aborts.gen_bool(0.1);
    let aborted = copies.iter().filter(|_| aborting && aborts.gen_bool(0.01)).map(|c| c.event_id.clone()).collect();
    let pausing = pauses.gen_bool(0.1);
    let paused = copies.iter().filter(|_| pausing && pauses.gen_bool(0.005)).map(|c| c.event_id.clone()).collect();
    (aborted, paused)
}

pub(super) fn log_uniform(rng: &mut StdRng, low: f64, high: f64) -> f64 {
    (rng.gen_range(low.ln()..high.ln())).exp()
}

pub(super) fn event(ts: i64, webhook: &str, event_id: &str, payload_bytes: usize) -> LogRecord {
    keyed_event(ts, webhook, event_id, payload_bytes, None)
}

/// An event whose payload names an account (`/account`), the key of an
/// ordered job.
pub(super) fn keyed_event(
    ts: i64,
    webhook: &str,
    event_id: &str,
    payload_bytes: usize,
    account: Option<&str>,
) -> LogRecord {
    // The bytes `json!` writes (keys in order), without scanning a padding
    // of up to 1 MB for characters to escape: it has none.
    let quoted = |s: &str| serde_json::to_string(s).expect("a string serializes");
    let account = account.map(|a| format!(r#""account":{},"#, quoted(a))).unwrap_or_default();
    let value = format!(
        r#"{{"created_at":"2026-11-20T10:00:00Z","event_id":{},"event_type":"t","payload":{{{account}"pad":"{}"}},"webhook_id":{}}}"#,
        quoted(event_id),
        "x".repeat(payload_bytes),
        quoted(webhook)
    );
    LogRecord { timestamp: ts, key: Some(webhook.as_bytes().to_vec()), value: Some(value.into_bytes()) }
}

impl Scenario {
    pub fn generate(seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let cfg = worker_config(&mut rng);
        let lookback = cfg.dedup_lookback_ms;
        let skew = cfg.skew_ms;
        let from = 1_000 * MINUTE;
        let to = from + rng.gen_range(5..=120) * MINUTE;
        // The log spans the look-back before the window and a margin after it.
        let log_from = from - lookback - 2 * MINUTE;
        let log_to = to + lookback + 2 * MINUTE;
        let span_s = ((log_to - log_from) / 1_000) as f64;
        let per_second = log_uniform(&mut rng, 0.01, 2_000.0).min(MAX_EVENTS as f64 / span_s);
        let count = ((per_second * span_s) as usize).max(1);
        let others_per_event = rng.gen_range(0..=3);
        let dup_rate = if rng.gen_bool(0.7) { rng.gen_range(0.0..0.3) } else { 0.0 };
        let far_rate = if rng.gen_bool(0.2) { rng.gen_range(0.0..0.05) } else { 0.0 };
        let skewed_rate = rng.gen_range(0.0..0.5);
        let malformed_rate = if rng.gen_bool(0.3) { rng.gen_range(0.0..0.01) } else { 0.0 };
        let big_payloads = rng.gen_bool(0.1);
        // (true time, record, copy of ours if any), sorted by true time: the log's order.
        let mut produced: Vec<(i64, LogRecord, Option<Copy>)> = Vec::new();
        let mut others: Vec<(i64, LogRecord, Option<Copy>)> = Vec::new();
        // From a stream of its own: 1 seed in 4 is an ordered job, its
        // events spread over 1 to 50 accounts.
        let mut ordering = stream(seed, 21);
        let accounts_count = ordering.gen_bool(0.25).then(|| log_uniform(&mut ordering, 1.0, 50.0) as u32);
        let mut accounts = accounts_count.map(|_| std::collections::HashMap::new());
        let mut add = |rng: &mut StdRng, true_time: i64, id: &str, far: bool, account: Option<&str>| {
            let skewed = rng.gen_bool(skewed_rate);
            let ts = if skewed { true_time + rng.gen_range(-skew..=skew) } else { true_time };
            let bytes = if big_payloads && rng.gen_bool(0.02) { rng.gen_range(100_000..1_000_000) } else { 200 };
            let copy = Copy { event_id: id.to_owned(), timestamp: ts, far };
            produced.push((true_time, keyed_event(ts, WEBHOOK, id, bytes, account), Some(copy)));
        };
        for n in 0..count {
            let true_time = log_from + rng.gen_range(0..(log_to - log_from));
            let id = format!("ev_{n}");
            let account = accounts_count.map(|k| format!("a{}", ordering.gen_range(0..k.max(1))));
            if let (Some(map), Some(a)) = (accounts.as_mut(), account.as_ref()) {
                map.insert(id.clone(), a.clone());
            }
            let account = account.as_deref();
            add(&mut rng, true_time, &id, false, account);
            if rng.gen_bool(dup_rate) {
                // Near copies: later by more than twice the skew, within the look-back.
                for _ in 0..rng.gen_range(1..=3) {
                    let gap = rng.gen_range(2 * skew + 1_000..=(lookback * 3 / 5).max(2 * skew + 1_000));
                    add(&mut rng, true_time + gap, &id, false, account);
                }
            } else if rng.gen_bool(far_rate) {
                let gap = lookback + rng.gen_range(MINUTE..=10 * MINUTE);
                add(&mut rng, true_time + gap, &id, true, account);
            }
            for o in 0..others_per_event {
                let other = format!("wh_other_{o}");
                others.push((true_time, event(true_time, &other, &format!("o_{n}_{o}"), 100), None));
            }
            if rng.gen_bool(malformed_rate) {
                let bad = LogRecord {
                    timestamp: true_time,
                    key: Some(WEBHOOK.as_bytes().to_vec()),
                    value: Some(b"{not json".to_vec()),
                };
                others.push((true_time, bad, None));
            }
        }
        produced.append(&mut others);
        // Stable: records produced at the same moment keep their order.
        produced.sort_by_key(|(true_time, ..)| *true_time);
        // From a stream of their own: the topic grows at a moment of the
        // log (1 seed in 6), retention deletes the oldest records while the
        // slice runs (1 in 6), up to a moment of the look-back or the window.
        let mut faults = stream(seed, 6);
        let grows_at = faults.gen_bool(1.0 / 6.0).then(|| faults.gen_range(log_from..log_to));
        let retention = faults.gen_bool(1.0 / 6.0).then(|| {
            let at = Duration::from_secs_f64(log_uniform(&mut faults, 1.0, 3.0 * 3_600.0));
            (at, faults.gen_range(log_from..to))
        });
        let mut partitions = vec![Vec::new(); 1 + usize::from(grows_at.is_some())];
        let mut keeps_from = vec![0i64; partitions.len()];
        let (mut copies, mut placed) = (Vec::new(), Vec::new());
        for (true_time, record, copy) in produced {
            let p = usize::from(grows_at.is_some_and(|at| true_time >= at));
            let offset = partitions[p].len() as i64;
            if retention.is_some_and(|(_, before)| true_time < before) {
                keeps_from[p] = offset + 1;
            }
            partitions[p].push(record);
            if let Some(copy) = copy {
                copies.push(copy);
                placed.push((p as u32, offset));
            }
        }
        let retention = retention.map(|(at, _)| Retention { at, keeps_from });
        let mut receiver = behaviour(&mut rng, &copies);
        (receiver.aborted, receiver.pausing) = controlled(seed, &copies);
        Scenario {
            seed,
            concurrency: [1, 4, 16, 64][rng.gen_range(0..4)],
            from,
            to,
            partitions,
            copies,
            placed,
            retention,
            receiver,
            invocation: Duration::from_secs(rng.gen_range(30..=900)),
            crash_rate: if rng.gen_bool(0.5) { rng.gen_range(0.0..0.3) } else { 0.0 },
            cfg,
            accounts,
        }
    }
}

/// The production defaults, some of them varied within what the settings check allows.
pub(super) fn worker_config(rng: &mut StdRng) -> WorkerConfig {
    WorkerConfig {
        retry: RetryRule {
            request_timeout: Duration::from_secs(10),
            max_attempts: 5,
            backoff_base: Duration::from_millis(200),
            backoff_max: Duration::from_secs(10),
            retry_after_max: Duration::from_secs(60),
            budget: Duration::from_secs([60, 900][rng.gen_range(0..2)]),
        },
        dedup_lookback_ms: 900_000,
        skew_ms: 10_000,
        anomaly_ms: 600_000,
        delivery_window: [16, 64, 256][rng.gen_range(0..3)],
        max_window_bytes: [256 << 10, 4 << 20, 32 << 20][rng.gen_range(0..3)],
        max_batch_bytes: 4 << 20,
        checkpoint_every_events: [50, 500, 5_000][rng.gen_range(0..3)],
        checkpoint_every: Duration::from_secs(5),
        heartbeat_every: Duration::from_secs(2),
        lease_ttl: Duration::from_secs(30),
        deadline_margin: Duration::from_secs(10),
        checkpoint_ttl: Duration::from_secs(7 * 86_400),
        delivery_rate_per_second: [0, 1_000][rng.gen_range(0..2)],
        adaptive_pace: true,
        circuit_break_after: 10,
        circuit_pause: Duration::from_secs(30),
        circuit_max_pauses: 3,
        handback_delay_s: 60,
        max_handbacks: 1_440,
    }
}

pub(super) fn behaviour(rng: &mut StdRng, copies: &[Copy]) -> Behaviour {
    let faulty = rng.gen_bool(0.6);
    let rate = |rng: &mut StdRng, max: f64| if faulty { rng.gen_range(0.0..max) } else { 0.0 };
    let outages = (0..rng.gen_range(0..=2))
        .map(|_| {
            let at = Duration::from_secs(rng.gen_range(0..3_600));
            (at, Duration::from_secs_f64(log_uniform(rng, 1.0, 3.0 * 3_600.0)))
        })
        .filter(|_| faulty)
        .collect();
    let refused = copies.iter().filter(|_| faulty && rng.gen_bool(0.002)).map(|c| c.event_id.clone()).collect();
    Behaviour {
        latency: Duration::from_secs_f64(log_uniform(rng, 0.001, 9.0)),
        tail_rate: rate(rng, 0.02),
        tail: Duration::from_secs(rng.gen_range(5..=15)),
        rate_429: rate(rng, 0.1),
        retry_after: Duration::from_secs(if rng.gen_bool(0.1) { 120 } else { rng.gen_range(1..=5) }),
        rate_503: rate(rng, 0.1),
        rate_drop: rate(rng, 0.05),
        rate_black_hole: rate(rng, 0.01),
        outages,
        refused,
        aborted: Vec::new(),
        pausing: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_record_is_the_json_it_stands_for() {
        for (id, pad) in [("ev_1", 0), ("ev\nbroken \"id\"", 3)] {
            let expected = serde_json::json!({
                "event_id": id, "webhook_id": "wh_1", "event_type": "t",
                "created_at": "2026-11-20T10:00:00Z", "payload": {"pad": "x".repeat(pad)}
            });
            let record = event(5, "wh_1", id, pad);
            assert_eq!(record.value, Some(expected.to_string().into_bytes()));
        }
    }
}
