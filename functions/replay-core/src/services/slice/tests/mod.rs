//! The slice engine against in-memory fakes: the fixtures, and delivery,
//! checkpoints, deadlines, leases, cancel and rotation here; the receiver's
//! answers (receiver.rs), the log's shapes (log.rs) and selections
//! (selection.rs) and ordered delivery (ordering.rs) beside.

mod log;
mod ordering;
mod receiver;
mod selection;

use super::*;
use crate::adapters::memory::{
    LogRecord, MemoryCheckpoints, MemoryDeliverer, MemoryLog, MemoryProgress, MemorySigners,
};
use crate::config::WorkerConfig;
use crate::domain::checkpoint::{Checkpoint, PartitionRange, Position};
use crate::domain::dedup::event_hash;
use crate::domain::ids::EventTime;
use crate::domain::job::JobState;
use crate::domain::retry::RetryRule;
use crate::domain::signing::{generate_secret, SigningKey};
use crate::error::Error;
use std::collections::HashSet;
use std::time::{Duration, Instant};

const WH: &str = "wh_me";

fn event(ts: i64, webhook: &str, event_id: &str) -> LogRecord {
    let value = serde_json::json!({
        "event_id": event_id, "webhook_id": webhook, "event_type": "t",
        "created_at": "2026-11-20T10:00:00Z", "payload": {"n": event_id}
    });
    LogRecord { timestamp: ts, key: Some(webhook.as_bytes().to_vec()), value: Some(value.to_string().into_bytes()) }
}

fn cfg() -> WorkerConfig {
    WorkerConfig {
        // One attempt per event (no retry budget), so counts of attempts are
        // counts of events; the tests of retries set their own rule.
        retry: RetryRule {
            request_timeout: Duration::from_secs(10),
            max_attempts: 1,
            backoff_base: Duration::from_millis(1),
            backoff_max: Duration::from_millis(1),
            retry_after_max: Duration::from_secs(60),
            budget: Duration::ZERO,
        },
        dedup_lookback_ms: 100,
        skew_ms: 0,
        anomaly_ms: 1_000_000,
        delivery_window: 64,
        max_window_bytes: 1 << 24,
        max_batch_bytes: 1 << 22,
        checkpoint_every_events: 100,
        // Checkpoint whenever the position moves.
        checkpoint_every: Duration::ZERO,
        heartbeat_every: Duration::from_millis(20),
        lease_ttl: Duration::from_secs(30),
        deadline_margin: Duration::from_millis(10),
        checkpoint_ttl: Duration::from_secs(60),
        delivery_rate_per_second: 0,
        adaptive_pace: false,
        circuit_break_after: 3,
        circuit_pause: Duration::from_secs(5),
        circuit_max_pauses: 2,
        handback_delay_s: 1,
        max_handbacks: 3,
    }
}

fn spec(from: i64, to: i64) -> SliceSpec {
    SliceSpec {
        job_id: JobId::from("job_1"),
        slice_index: 0,
        webhook_id: WebhookId::from(WH),
        partitions: vec![0],
        window: Window { from: EventTime(from), to: EventTime(to) },
        planned: Vec::new(),
        url: "http://127.0.0.1:1/".into(),
        target_webhook_id: None,
        key: SigningKey::from_secret(&generate_secret()).unwrap().into(),
        secrets_version: "v1".into(),
        filter: Default::default(),
        ordering_key: None,
        pace: None,
    }
}

struct Fakes {
    log: MemoryLog,
    cps: MemoryCheckpoints,
    del: MemoryDeliverer,
    prog: MemoryProgress,
    signers: MemorySigners,
    concurrency: usize,
}

impl Fakes {
    fn new(log: MemoryLog) -> Self {
        Self {
            log,
            cps: MemoryCheckpoints::default(),
            del: MemoryDeliverer::default(),
            prog: MemoryProgress::default(),
            signers: MemorySigners::new(SigningKey::from_secret(&generate_secret()).unwrap().into(), "v1"),
            concurrency: 1,
        }
    }

    fn ports(&self) -> SlicePorts<'_> {
        SlicePorts {
            log: &self.log,
            checkpoints: &self.cps,
            deliverer: &self.del,
            progress: &self.prog,
            signers: &self.signers,
            delivery_concurrency: self.concurrency,
        }
    }

    async fn run(&self, cfg: &WorkerConfig, spec: &SliceSpec, owner: &str) -> crate::Result<SliceOutcome> {
        run_slice(&self.ports(), cfg, spec, owner, Instant::now() + Duration::from_secs(60)).await
    }

    fn ids(&self) -> Vec<String> {
        self.del.delivered.lock().unwrap().iter().map(|(id, _)| id.clone()).collect()
    }
}

fn done(outcome: SliceOutcome) -> Counters {
    match outcome {
        SliceOutcome::Done { counters, .. } => counters,
        other => panic!("expected Done, got {other:?}"),
    }
}

/// A log around the window [1000, 2000): a look-back copy, in-window
/// duplicates, a malformed record, another webhook and edge timestamps.
fn sample_log() -> MemoryLog {
    let mut log = MemoryLog::new(1);
    log.partitions[0] = vec![
        event(850, WH, "too-old"),  // before the look-back
        event(900, WH, "before"),   // look-back only
        event(950, WH, "straddle"), // first copy before the window
        event(999, WH, "edge-before"),
        event(1000, WH, "a"), // equal timestamps at `from`
        event(1000, WH, "b"),
        event(1000, "wh_other", "x"),
        event(1010, WH, "straddle"), // copy of a look-back event: skipped
        event(1020, WH, "a"),        // in-window duplicate
        LogRecord { timestamp: 1030, key: Some(WH.as_bytes().to_vec()), value: Some(b"{oops".to_vec()) },
        event(1500, WH, "c"),
        event(1999, WH, "d"),
        event(2000, WH, "at-to"), // equal timestamps at `to`: excluded
        event(2000, WH, "at-to-2"),
    ];
    log
}

#[tokio::test]
async fn delivers_each_event_of_the_window_once() {
    let f = Fakes::new(sample_log());
    let c = done(f.run(&cfg(), &spec(1000, 2000), "w1").await.unwrap());
    assert_eq!(f.ids(), vec!["a", "b", "c", "d"]);
    assert_eq!(c.events_scanned, 8, "records timestamped in [1000, 2000) of any webhook");
    assert_eq!(c.events_matched, 6);
    assert_eq!(c.duplicates_skipped, 2);
    assert_eq!(c.malformed, 1);
    assert_eq!(c.events_delivered, 4);
    assert!(c.adds_up());
    assert_eq!(f.del.delivered.lock().unwrap()[0].1.as_ref(), br#"{"n":"a"}"#);
    // A duplicate message after the slice ended does nothing.
    assert!(matches!(f.run(&cfg(), &spec(1000, 2000), "w2").await.unwrap(), SliceOutcome::Done { .. }));
    assert_eq!(f.ids().len(), 4);
}

#[tokio::test]
async fn resumes_from_the_checkpoint_after_a_crash_losing_nothing_and_repeating_little() {
    let mut log = MemoryLog::new(1);
    log.partitions[0] = (0..50).map(|i| event(1000 + i, WH, &format!("e{i}"))).collect();
    // A copy of e3 late in the window: the dedup set must survive the crash.
    log.partitions[0].push(event(1060, WH, "e3"));
    log.batch_size = 4;
    let mut f = Fakes::new(log);
    f.concurrency = 4;
    let mut c = cfg();
    c.checkpoint_every_events = 10;
    c.checkpoint_every = Duration::from_secs(3600);
    *f.cps.fail_after_saves.lock().unwrap() = Some(3);
    assert!(f.run(&c, &spec(1000, 2000), "w1").await.is_err());
    let before = f.ids().len();
    assert!(before > 0 && before < 50, "{before}");
    *f.cps.fail_after_saves.lock().unwrap() = None;
    // A failed worker releases its lease, so the message's retry need not wait for it to expire.
    let counters = done(f.run(&c, &spec(1000, 2000), "w2").await.unwrap());
    let all = f.ids();
    let unique: HashSet<&String> = all.iter().collect();
    assert_eq!(unique.len(), 50, "nothing lost");
    let repeats = all.len() - 50;
    assert!(repeats <= 10 + 64, "at most the checkpoint interval plus the window again: {repeats}");
    assert_eq!(counters.events_scanned, 51);
    assert_eq!(counters.duplicates_skipped, 1, "the late copy is still caught after the resume");
    assert_eq!(counters.events_delivered, 50);
    assert!(counters.adds_up());
}

#[tokio::test]
async fn a_failed_scan_is_reopened_where_it_stopped() {
    let mut log = MemoryLog::new(1);
    log.partitions[0] = (0..30).map(|i| event(1000 + i, WH, &format!("e{i}"))).collect();
    log.batch_size = 4;
    log.failing_scans.store(3, std::sync::atomic::Ordering::SeqCst);
    let mut f = Fakes::new(log);
    f.concurrency = 4;
    let c = done(f.run(&cfg(), &spec(1000, 2000), "w1").await.unwrap());
    let all = f.ids();
    assert_eq!(all.len(), 30, "each event once, none skipped: {all:?}");
    assert_eq!(all.iter().collect::<HashSet<_>>().len(), 30);
    assert_eq!(c.events_scanned, 30);
}

#[tokio::test]
async fn a_scan_failing_past_the_deadline_gives_the_error_to_the_queue() {
    let mut log = MemoryLog::new(1);
    log.partitions[0] = (0..30).map(|i| event(1000 + i, WH, &format!("e{i}"))).collect();
    log.failing_scans.store(u32::MAX, std::sync::atomic::Ordering::SeqCst);
    let f = Fakes::new(log);
    let soon = Instant::now() + Duration::from_millis(700);
    // Requests of 100 ms at most: one can still start in a 700 ms invocation.
    let mut c = cfg();
    c.retry.request_timeout = Duration::from_millis(100);
    let err = run_slice(&f.ports(), &c, &spec(1000, 2000), "w1", soon).await.unwrap_err();
    assert!(matches!(err, Error::Kafka(_)) && err.is_retryable(), "{err:?}");
    // The lease was released: the retry runs at once and finishes the slice.
    f.log.failing_scans.store(0, std::sync::atomic::Ordering::SeqCst);
    done(f.run(&cfg(), &spec(1000, 2000), "w2").await.unwrap());
    assert_eq!(f.ids().iter().collect::<HashSet<_>>().len(), 30);
}

#[tokio::test]
async fn stops_before_the_deadline_and_continues_without_repeats() {
    let mut log = MemoryLog::new(1);
    log.partitions[0] = (0..40).map(|i| event(1000 + i, WH, &format!("e{i}"))).collect();
    let mut f = Fakes::new(log);
    f.concurrency = 2;
    *f.del.delay.lock().unwrap() = Duration::from_millis(50);
    let mut c = cfg();
    c.deadline_margin = Duration::from_millis(100);
    // No request starts later than its timeout plus half the margin before the deadline.
    c.retry.request_timeout = Duration::from_millis(100);
    let soon = Instant::now() + Duration::from_millis(400);
    let outcome = run_slice(&f.ports(), &c, &spec(1000, 2000), "w1", soon).await.unwrap();
    assert!(matches!(outcome, SliceOutcome::Continue(_)), "{outcome:?}");
    let first = f.ids().len();
    assert!(first > 0 && first < 40, "{first}");
    *f.del.delay.lock().unwrap() = Duration::ZERO;
    done(f.run(&c, &spec(1000, 2000), "w2").await.unwrap());
    let all = f.ids();
    assert_eq!(all.len(), 40, "a clean stop repeats nothing: {all:?}");
    assert_eq!(all.iter().collect::<HashSet<_>>().len(), 40);
}

#[tokio::test]
async fn a_batch_slower_than_the_lease_keeps_the_lease_and_heartbeats() {
    let mut log = MemoryLog::new(1);
    log.partitions[0] = (0..20).map(|i| event(1000 + i, WH, &format!("e{i}"))).collect();
    log.batch_size = 100;
    let f = Fakes::new(log);
    *f.del.delay.lock().unwrap() = Duration::from_millis(50);
    let mut c = cfg();
    // One batch of 20 events at 50 ms each takes a second: five leases.
    c.lease_ttl = Duration::from_millis(200);
    c.heartbeat_every = Duration::from_millis(50);
    let counters = done(f.run(&c, &spec(1000, 2000), "w1").await.unwrap());
    assert_eq!(counters.events_delivered, 20);
    assert!(*f.cps.renewals.lock().unwrap() >= 10, "renewed while delivering: {}", f.cps.renewals.lock().unwrap());
    let beats = f.prog.heartbeats.lock().unwrap();
    assert!(beats.len() >= 10, "heartbeats while delivering: {}", beats.len());
    assert!(beats.iter().any(|(_, c)| c.events_delivered > 0 && c.events_delivered < 20), "progress mid-batch");
}

#[tokio::test]
async fn requests_stop_when_the_lease_cannot_be_renewed() {
    let mut log = MemoryLog::new(1);
    log.partitions[0] = (0..100).map(|i| event(1000 + i, WH, &format!("e{i}"))).collect();
    let f = Fakes::new(log);
    *f.del.delay.lock().unwrap() = Duration::from_millis(20);
    *f.cps.renewals_fail.lock().unwrap() = true;
    let mut c = cfg();
    c.lease_ttl = Duration::from_millis(500);
    c.heartbeat_every = Duration::from_millis(50);
    c.checkpoint_every = Duration::from_secs(3600);
    c.checkpoint_every_events = 1_000;
    let started = Instant::now();
    let soon = Instant::now() + Duration::from_secs(3);
    let outcome = run_slice(&f.ports(), &c, &spec(1000, 2000), "w1", soon).await.unwrap();
    assert!(matches!(outcome, SliceOutcome::Continue(_)), "{outcome:?}");
    let starts = f.del.started.lock().unwrap();
    let last_start = starts.last().map(|(_, t)| t.duration_since(started)).unwrap_or_default();
    // The lease lasts 500 ms (less its guard): no request started after it.
    assert!(last_start < Duration::from_millis(500), "last request started at {last_start:?}");
    assert!(starts.len() < 100);
}

#[tokio::test]
async fn cancel_takes_effect_within_a_heartbeat_plus_the_requests_in_flight() {
    let mut log = MemoryLog::new(1);
    log.partitions[0] = (0..400).map(|i| event(1000 + i, WH, &format!("e{i}"))).collect();
    log.batch_size = 400;
    let mut f = Fakes::new(log);
    f.concurrency = 4;
    *f.del.delay.lock().unwrap() = Duration::from_millis(30);
    let mut c = cfg();
    c.heartbeat_every = Duration::from_millis(100);
    let s = spec(1000, 2000);
    let run = f.run(&c, &s, "w1");
    let cancel = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        *f.prog.state.lock().unwrap() = JobState::Cancelled;
        Instant::now()
    };
    let (outcome, cancelled_at) = tokio::join!(run, cancel);
    assert!(matches!(outcome.unwrap(), SliceOutcome::Cancelled { .. }));
    let starts = f.del.started.lock().unwrap();
    let late = starts.iter().filter(|(_, t)| *t > cancelled_at + c.heartbeat_every + Duration::from_millis(20)).count();
    assert_eq!(late, 0, "no request started later than a heartbeat after the cancel");
    assert!(starts.len() < 400);
}

#[tokio::test]
async fn a_rotation_reaches_queued_and_new_deliveries_within_a_heartbeat() {
    let mut log = MemoryLog::new(1);
    log.partitions[0] = (0..200).map(|i| event(1000 + i, WH, &format!("e{i}"))).collect();
    log.batch_size = 200;
    let f = Fakes::new(log);
    *f.del.delay.lock().unwrap() = Duration::from_millis(10);
    let new_secret = generate_secret();
    let new_key = SigningKey::from_secret(&new_secret).unwrap();
    *f.signers.current.lock().unwrap() = (new_key.clone().into(), "v2".into());
    let mut c = cfg();
    c.heartbeat_every = Duration::from_millis(50);
    let s = spec(1000, 2000);
    let run = f.run(&c, &s, "w1");
    let rotate = async {
        while f.del.delivered.lock().unwrap().len() < 20 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        *f.prog.secrets_version.lock().unwrap() = "v2".into();
    };
    let (outcome, ()) = tokio::join!(run, rotate);
    assert_eq!(done(outcome.unwrap()).events_delivered, 200);
    assert_eq!(f.signers.reads.load(std::sync::atomic::Ordering::Relaxed), 1, "read once, when the version moved");
    // One request at a time: once the new key signs, the old one never again.
    let signed = f.del.signatures.lock().unwrap();
    let with_new: Vec<bool> = signed.iter().map(|(id, body, sig)| new_key.verify(id, 0, body, sig)).collect();
    let first_new = with_new.iter().position(|&n| n).expect("the new key signed the later deliveries");
    assert!(first_new >= 20, "the old key signed until the rotation: {first_new}");
    assert!(with_new[first_new..].iter().all(|&n| n), "no delivery signed with the old key after the switch");
}
