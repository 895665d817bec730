//! The slice engine against in-memory fakes: selection, dedup, checkpoints,
//! leases, cancel, the circuit, skew, broken clocks, retention, partitions.

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
        key: SigningKey::from_secret(&generate_secret()).unwrap().into(),
        secrets_version: "v1".into(),
        filter: Default::default(),
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

#[tokio::test]
async fn failed_deliveries_are_counted_and_recorded() {
    let f = Fakes::new(sample_log());
    f.del.fail.lock().unwrap().push("c".into());
    let c = done(f.run(&cfg(), &spec(1000, 2000), "w1").await.unwrap());
    assert_eq!((c.events_delivered, c.delivery_failures), (3, 1));
    assert!(c.adds_up());
    let failures = f.prog.failures.lock().unwrap();
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].event_id, "c");
    assert_eq!(failures[0].last_status, Some(400));
}

#[tokio::test(start_paused = true)]
async fn retries_wait_their_retry_after_without_holding_up_other_events() {
    let mut log = MemoryLog::new(1);
    log.partitions[0] = (0..6).map(|i| event(1000 + i, WH, &format!("e{i}"))).collect();
    let mut f = Fakes::new(log);
    f.concurrency = 2;
    // e0 is refused twice then taken; e1 three times: failing for 2 s by its
    // third attempt, past its budget of 1.5 s, it fails. Each refusal says
    // `Retry-After: 1`.
    f.del.flaky.lock().unwrap().extend([("e0".to_string(), 2), ("e1".to_string(), 3)]);
    let mut cfg = cfg();
    cfg.retry.max_attempts = 3;
    cfg.retry.budget = Duration::from_millis(1_500);
    cfg.circuit_break_after = 10;
    let counters = done(f.run(&cfg, &spec(1000, 2000), "w").await.unwrap());
    assert_eq!((counters.events_delivered, counters.delivery_failures), (5, 1), "{counters:?}");
    assert_eq!(*f.del.attempts.lock().unwrap(), 6 + 2 + 2, "e0 twice more, e1 twice more");
    let failures = f.prog.failures.lock().unwrap();
    assert_eq!(failures.len(), 1);
    assert_eq!((failures[0].event_id.as_str(), failures[0].attempts, failures[0].last_status), ("e1", 3, Some(503)));
    // The others went out while e0 and e1 waited (their attempts held no slot).
    let ids = f.ids();
    let e0 = ids.iter().position(|id| id == "e0").unwrap();
    assert!(e0 >= 2, "e0 was delivered after later events: {ids:?}");
}

/// Issue 21: a `Retry-After` beyond `DELIVERY_RETRY_AFTER_MAX_MS` pauses the
/// slice instead of failing the event; the wait counts against the event's
/// retry budget, which the checkpoint carries into the next run.
#[tokio::test(start_paused = true)]
async fn a_long_retry_after_pauses_the_slice_and_the_budget_goes_on_across_runs() {
    for refusals in [2, 3] {
        let mut log = MemoryLog::new(1);
        log.partitions[0] = (0..6).map(|i| event(1000 + i, WH, &format!("e{i}"))).collect();
        let f = Fakes::new(log);
        f.del.flaky.lock().unwrap().insert("e2".to_string(), refusals);
        *f.del.flaky_retry_after.lock().unwrap() = Some(Duration::from_secs(600));
        let mut cfg = cfg();
        cfg.retry.budget = Duration::from_secs(900);
        cfg.retry.max_attempts = 3;
        let pause = f.run(&cfg, &spec(1000, 2000), "w").await.unwrap();
        assert!(matches!(pause, SliceOutcome::Paused { delay, .. } if delay == Duration::from_secs(600)), "{pause:?}");
        let key = spec(1000, 2000).checkpoint_key();
        let carried = f.cps.items.lock().unwrap()[&key].1.retries.clone();
        assert_eq!(carried.len(), 1, "e2's budget is in the checkpoint: {carried:?}");
        assert_eq!((carried[0].1.attempts, carried[0].1.failing_ms), (1, 600_000));
        // Failing for 600 s of a 900 s budget: asked to wait again, it pauses again.
        let pause = f.run(&cfg, &spec(1000, 2000), "w").await.unwrap();
        assert!(matches!(pause, SliceOutcome::Paused { .. }), "{pause:?}");
        let counters = done(f.run(&cfg, &spec(1000, 2000), "w").await.unwrap());
        let failures = f.prog.failures.lock().unwrap().clone();
        if refusals == 2 {
            // The third attempt is taken: nothing failed, nothing sent twice.
            assert_eq!((counters.events_delivered, counters.delivery_failures), (6, 0), "{counters:?}");
            assert_eq!(f.ids().iter().filter(|id| *id == "e2").count(), 1);
            assert!(failures.is_empty(), "{failures:?}");
        } else {
            // Failing for 1,200 s by its third attempt: past the budget.
            assert_eq!((counters.events_delivered, counters.delivery_failures), (5, 1), "{counters:?}");
            assert_eq!((failures[0].event_id.as_str(), failures[0].attempts), ("e2", 3));
            assert!(failures[0].error.contains("retry budget"), "{}", failures[0].error);
        }
        assert_eq!(f.ids().len(), 5 + usize::from(refusals == 2), "each other event once: {:?}", f.ids());
    }
}

#[tokio::test]
async fn a_down_receiver_pauses_the_slice_then_fails_the_rest_unsent() {
    let mut log = MemoryLog::new(1);
    log.partitions[0] = (0..40).map(|i| event(1000 + i, WH, &format!("e{i}"))).collect();
    log.batch_size = 10;
    let f = Fakes::new(log);
    *f.del.down.lock().unwrap() = true;
    for pause in 1..=2 {
        let outcome = f.run(&cfg(), &spec(1000, 2000), "w").await.unwrap();
        assert!(
            matches!(outcome, SliceOutcome::Paused { delay, .. } if delay == Duration::from_secs(5)),
            "pause {pause}: {outcome:?}"
        );
        assert_eq!(*f.del.attempts.lock().unwrap(), 3 * pause, "stops trying after 3 consecutive failures");
    }
    // After the last pause the receiver is tried once more (it may be back);
    // still down, the slice gives up: no attempt after that.
    let counters = done(f.run(&cfg(), &spec(1000, 2000), "w").await.unwrap());
    assert_eq!(*f.del.attempts.lock().unwrap(), 9, "no attempt after giving up");
    assert_eq!((counters.delivery_failures, counters.events_delivered, counters.events_matched), (40, 0, 40));
    assert_eq!(f.prog.failures.lock().unwrap().len(), 40, "every event accounted for");
}

#[tokio::test]
async fn a_slow_success_sent_before_the_outage_does_not_turn_it_into_failures() {
    // e0 was taken in before the receiver went down and answers 2xx after
    // e1 was refused: it says nothing about the receiver now, so e1 is not
    // failed by it and the circuit still opens on e1-e3.
    let mut log = MemoryLog::new(1);
    log.partitions[0] = (0..10).map(|i| event(1000 + i, WH, &format!("e{i}"))).collect();
    let mut f = Fakes::new(log);
    f.concurrency = 2;
    *f.del.delay.lock().unwrap() = Duration::from_millis(40);
    f.del.taken_before_down.lock().unwrap().insert("e0".into(), Duration::from_millis(20));
    *f.del.down.lock().unwrap() = true;
    let outcome = f.run(&cfg(), &spec(1000, 2000), "w").await.unwrap();
    assert!(matches!(outcome, SliceOutcome::Paused { .. }), "{outcome:?}");
    assert!(f.prog.failures.lock().unwrap().is_empty(), "{:?}", f.prog.failures.lock().unwrap());
    *f.del.down.lock().unwrap() = false;
    let counters = done(f.run(&cfg(), &spec(1000, 2000), "w").await.unwrap());
    assert_eq!((counters.events_delivered, counters.delivery_failures), (10, 0));
    assert!(counters.adds_up());
}

#[tokio::test]
async fn a_receiver_that_recovers_during_a_pause_gets_everything_once() {
    let mut log = MemoryLog::new(1);
    log.partitions[0] = (0..40).map(|i| event(1000 + i, WH, &format!("e{i}"))).collect();
    log.batch_size = 10;
    let mut f = Fakes::new(log);
    f.concurrency = 4;
    let (c, s) = (cfg(), spec(1000, 2000));
    let first = f.run(&c, &s, "w");
    let outage = async {
        // Up for the first deliveries, then down until the pause.
        while f.ids().len() < 12 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        *f.del.down.lock().unwrap() = true;
    };
    let (outcome, ()) = tokio::join!(first, outage);
    assert!(matches!(outcome.unwrap(), SliceOutcome::Paused { .. }));
    *f.del.down.lock().unwrap() = false;
    let counters = done(f.run(&cfg(), &spec(1000, 2000), "w").await.unwrap());
    assert_eq!((counters.events_delivered, counters.delivery_failures), (40, 0));
    let all = f.ids();
    assert_eq!(all.len(), 40, "the circuit's pause repeats nothing: {}", all.len());
}

#[tokio::test]
async fn pauses_hours_apart_do_not_add_up_to_giving_up() {
    let mut log = MemoryLog::new(1);
    log.partitions[0] = (0..90).map(|i| event(1000 + i, WH, &format!("e{i}"))).collect();
    log.batch_size = 5;
    let f = Fakes::new(log);
    let mut outages = 0;
    loop {
        let (c, s) = (cfg(), spec(1000, 2000));
        let run = f.run(&c, &s, "w");
        let outage = async {
            // A short outage after every 20 deliveries.
            let at = f.ids().len() + 20;
            while f.ids().len() < at.min(90) {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            if f.ids().len() < 90 {
                *f.del.down.lock().unwrap() = true;
            }
        };
        let (outcome, ()) = tokio::join!(run, outage);
        *f.del.down.lock().unwrap() = false;
        match outcome.unwrap() {
            SliceOutcome::Paused { .. } => outages += 1,
            SliceOutcome::Done { counters, .. } => {
                assert!(outages >= 3, "{outages} outages");
                assert_eq!((counters.events_delivered, counters.delivery_failures), (90, 0), "never gave up");
                return;
            }
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test]
async fn skewed_producers_at_the_edges_give_exactly_the_windows_events() {
    // Three producers 0, 2 and 5 s behind, interleaved; the window is [100 s, 200 s).
    let mut log = MemoryLog::new(1);
    let mut expected = HashSet::new();
    for i in 0..600i64 {
        let lag = [0, 2_000, 5_000][(i % 3) as usize];
        let ts = 90_000 + i * 200 - lag;
        let id = format!("e{i}");
        if (100_000..200_000).contains(&ts) {
            expected.insert(id.clone());
        }
        log.partitions[0].push(event(ts, WH, &id));
    }
    // One event logged by two data centres 3 s apart, on both sides of `from`:
    // the later copy sits earlier in the log.
    let pos = log.partitions[0].iter().position(|r| r.timestamp >= 100_500).unwrap();
    log.partitions[0].insert(pos, event(100_500, WH, "both-sides"));
    log.partitions[0].insert(pos + 20, event(99_800, WH, "both-sides"));
    let mut f = Fakes::new(log);
    f.concurrency = 8;
    let mut c = cfg();
    c.skew_ms = 6_000;
    c.dedup_lookback_ms = 30_000;
    let counters = done(f.run(&c, &spec(100_000, 200_000), "w").await.unwrap());
    let got: HashSet<String> = f.ids().into_iter().collect();
    assert_eq!(got, expected, "the copy from before `from` makes both-sides the previous slice's");
    assert_eq!(counters.events_delivered as usize, expected.len());
    assert_eq!(counters.duplicates_skipped, 1);
    assert!(counters.adds_up());
}

#[tokio::test]
async fn a_record_two_hours_in_the_future_neither_ends_the_window_nor_evicts_the_dedup_set() {
    let mut log = MemoryLog::new(1);
    let mut expected = HashSet::new();
    for i in 0..300i64 {
        let id = format!("e{i}");
        log.partitions[0].push(event(100_000 + i * 100, WH, &id));
        if (100_000..120_000).contains(&(100_000 + i * 100)) {
            expected.insert(id);
        }
        if i == 50 {
            // A broken clock: 2 hours ahead.
            log.partitions[0].push(event(100_000 + 50 * 100 + 7_200_000, WH, "future"));
        }
        if i == 120 {
            // A copy of e60 a few seconds later: still a duplicate.
            log.partitions[0].push(event(112_100, WH, "e60"));
        }
    }
    let f = Fakes::new(log);
    let mut c = cfg();
    c.dedup_lookback_ms = 60_000;
    c.anomaly_ms = 600_000;
    let counters = done(f.run(&c, &spec(100_000, 120_000), "w").await.unwrap());
    let got: HashSet<String> = f.ids().into_iter().collect();
    assert_eq!(got, expected, "every event of the window, the future one not among them");
    assert_eq!(counters.duplicates_skipped, 1, "the copy of e60 was caught");
    assert_eq!(counters.clock_anomalies, 1, "the broken clock was noticed");
}

#[tokio::test]
async fn records_deleted_by_retention_are_counted_never_skipped_silently() {
    let mut log = MemoryLog::new(1);
    log.partitions[0] = (0..50).map(|i| event(1000 + i, WH, &format!("e{i}"))).collect();
    log.low.store(20, std::sync::atomic::Ordering::SeqCst);
    let f = Fakes::new(log);
    let mut s = spec(1000, 2000);
    // When the job was created the window started at offset 0.
    s.planned = vec![(0, 0, 50)];
    let counters = done(f.run(&cfg(), &s, "w").await.unwrap());
    assert_eq!(counters.records_expired, 20);
    assert_eq!(counters.events_delivered, 30);
    assert_eq!(f.ids().first().map(String::as_str), Some("e20"));
}

/// Issue 21 item 6: out of range above the log's end reopened the scan at
/// the same offset, without backoff, forever.
#[tokio::test]
async fn a_log_cut_below_the_range_counts_the_rest_as_deleted_and_ends() {
    let mut log = MemoryLog::new(1);
    log.partitions[0] = (0..50).map(|i| event(1000 + i, WH, &format!("e{i}"))).collect();
    let mut f = Fakes::new(log);
    f.concurrency = 2;
    *f.del.delay.lock().unwrap() = Duration::from_millis(50);
    let mut c = cfg();
    c.deadline_margin = Duration::from_millis(100);
    c.retry.request_timeout = Duration::from_millis(100);
    let soon = Instant::now() + Duration::from_millis(400);
    let outcome = run_slice(&f.ports(), &c, &spec(1000, 2000), "w1", soon).await.unwrap();
    assert!(matches!(outcome, SliceOutcome::Continue(_)), "{outcome:?}");
    let first = f.ids().len() as u64;
    assert!(first > 0 && first < 50, "{first}");
    // Then the topic is recreated: its log ends below where the slice stands.
    f.log.cut_at.store(0, std::sync::atomic::Ordering::SeqCst);
    *f.del.delay.lock().unwrap() = Duration::ZERO;
    let s = spec(1000, 2000);
    let run = f.run(&c, &s, "w2");
    let counters = done(tokio::time::timeout(Duration::from_secs(20), run).await.expect("the slice ends").unwrap());
    assert_eq!((counters.events_delivered, counters.records_expired), (first, 50 - first), "{counters:?}");
    assert!(counters.adds_up(), "{counters:?}");
}

/// Issue 21 item 4: a resumed slice rebuilding its dedup set from records
/// retention had deleted counted records it had delivered as deleted.
#[tokio::test]
async fn retention_under_a_resumed_slices_look_back_loses_nothing() {
    let mut log = MemoryLog::new(1);
    log.partitions[0] = (0..50).map(|i| event(1000 + i, WH, &format!("e{i}"))).collect();
    let mut f = Fakes::new(log);
    f.concurrency = 2;
    *f.del.delay.lock().unwrap() = Duration::from_millis(50);
    let mut c = cfg();
    c.deadline_margin = Duration::from_millis(100);
    c.retry.request_timeout = Duration::from_millis(100);
    let soon = Instant::now() + Duration::from_millis(400);
    let outcome = run_slice(&f.ports(), &c, &spec(1000, 2000), "w1", soon).await.unwrap();
    assert!(matches!(outcome, SliceOutcome::Continue(_)), "{outcome:?}");
    let first = f.ids().len() as i64;
    // Retention deletes what the first run delivered, which the next reads to rebuild its set.
    f.log.low.store(first, std::sync::atomic::Ordering::SeqCst);
    *f.del.delay.lock().unwrap() = Duration::ZERO;
    let counters = done(f.run(&c, &spec(1000, 2000), "w2").await.unwrap());
    assert_eq!((counters.events_delivered, counters.records_expired), (50, 0), "{counters:?}");
}

#[tokio::test]
async fn a_slice_over_two_partitions_delivers_each_event_once() {
    let mut log = MemoryLog::new(2);
    log.partitions[0] = (0..20).map(|i| event(1000 + i * 10, WH, &format!("old{i}"))).collect();
    log.partitions[1] = (0..20).map(|i| event(1200 + i * 10, WH, &format!("new{i}"))).collect();
    // A retry logged after the change, on the new partition.
    log.partitions[1].insert(0, event(1195, WH, "old19"));
    let f = Fakes::new(log);
    let mut s = spec(1000, 2000);
    s.partitions = vec![0, 1];
    let counters = done(f.run(&cfg(), &s, "w").await.unwrap());
    let all = f.ids();
    assert_eq!(all.len(), 40);
    assert_eq!(all.iter().collect::<HashSet<_>>().len(), 40);
    assert_eq!(counters.duplicates_skipped, 1);
}

#[tokio::test]
async fn a_version_1_checkpoint_resumes_with_nothing_lost_or_repeated() {
    let mut log = MemoryLog::new(1);
    log.partitions[0] = (0..30).map(|i| event(1000 + i, WH, &format!("e{i}"))).collect();
    log.partitions[0].push(event(1040, WH, "e5"));
    let f = Fakes::new(log);
    // What a previous release saved after delivering e0..e9: position 10, its dedup set.
    let mut legacy = Vec::new();
    for i in 0..10 {
        legacy.extend_from_slice(&event_hash(&format!("e{i}")).to_le_bytes());
        legacy.extend_from_slice(&(1000i64 + i).to_le_bytes());
    }
    let v1 = Checkpoint {
        version: 1,
        ranges: vec![PartitionRange { partition: u32::MAX, scan_from: 0, end: -1 }],
        position: Position { partition: 0, offset: 10 },
        counters: Counters { events_scanned: 10, events_matched: 10, events_delivered: 10, ..Counters::default() },
        legacy_dedup: legacy,
        ..Checkpoint::default()
    };
    f.cps.items.lock().unwrap().insert(spec(1000, 2000).checkpoint_key(), (None, v1));
    let counters = done(f.run(&cfg(), &spec(1000, 2000), "w").await.unwrap());
    let all = f.ids();
    assert_eq!(all, (10..30).map(|i| format!("e{i}")).collect::<Vec<_>>(), "the rest, once");
    assert_eq!(counters.events_delivered, 30);
    assert_eq!(counters.duplicates_skipped, 1, "e5's copy, caught by the old format's set");
    let saved = f.cps.items.lock().unwrap()[&spec(1000, 2000).checkpoint_key()].1.clone();
    assert_eq!(saved.version, 2, "written back in the current format");
}

#[tokio::test]
async fn empty_and_past_the_end_windows_complete() {
    let f = Fakes::new(sample_log());
    assert_eq!(done(f.run(&cfg(), &spec(5000, 6000), "w1").await.unwrap()), Counters::default());
    let mut s = spec(1100, 1400);
    s.slice_index = 1;
    assert_eq!(done(f.run(&cfg(), &s, "w1").await.unwrap()), Counters::default());
    assert!(f.ids().is_empty());
}

#[tokio::test]
async fn the_window_holds_the_in_flight_cap() {
    let mut log = MemoryLog::new(1);
    log.partitions[0] = (0..300).map(|i| event(1000 + i, WH, &format!("e{i}"))).collect();
    log.batch_size = 300;
    let mut f = Fakes::new(log);
    f.concurrency = 16;
    *f.del.delay.lock().unwrap() = Duration::from_millis(5);
    let counters = done(f.run(&cfg(), &spec(1000, 2000), "w").await.unwrap());
    assert_eq!(counters.events_delivered, 300);
    let max = *f.del.max_in_flight.lock().unwrap();
    assert!((8..=16).contains(&max), "{max} in flight at most");
}

#[tokio::test]
async fn a_copy_from_the_look_back_is_a_duplicate_with_a_real_skew_margin() {
    let m = 60_000;
    let from = 10 * 60 * m;
    let mut log = MemoryLog::new(1);
    log.partitions[0] = vec![
        event(from - 20 * m, WH, "too-early"),
        event(from - 3 * m, WH, "straddles-from"),
        event(from - 1, WH, "edge-before-from"),
        event(from, WH, "at-from-1"),
        event(from, WH, "at-from-2"),
        event(from, "wh_other", "x"),
        event(from, WH, "at-from-3"),
        event(from + 2 * m, WH, "straddles-from"),
        event(from + 5 * m, WH, "in-slice"),
        event(from + 6 * m, WH, "in-slice"),
    ];
    // The log goes quiet, then moves on two hours later: the watermark jumps.
    for i in 0..20 {
        log.partitions[0].push(event(from + 120 * m + i, "wh_other", &format!("later{i}")));
    }
    // Read in one go: the other webhook's records arrive as one run.
    log.batch_size = 100;
    let f = Fakes::new(log);
    let mut c = cfg();
    c.dedup_lookback_ms = 10 * m;
    c.skew_ms = 10_000;
    let counters = done(f.run(&c, &spec(from, from + 60 * m), "w").await.unwrap());
    assert_eq!(f.ids(), vec!["at-from-1", "at-from-2", "at-from-3", "in-slice"]);
    assert_eq!(counters.duplicates_skipped, 2);
}

fn typed(ts: i64, event_id: &str, event_type: &str, outcome: Option<&str>) -> LogRecord {
    let mut value = serde_json::json!({
        "event_id": event_id, "webhook_id": WH, "event_type": event_type,
        "created_at": "2026-11-20T10:00:00Z", "payload": {"n": event_id}
    });
    if let Some(status) = outcome {
        value["delivery"] = serde_json::json!({"status": status, "http_status": 503});
    }
    LogRecord { timestamp: ts, key: Some(WH.as_bytes().to_vec()), value: Some(value.to_string().into_bytes()) }
}

fn filtered(f: impl FnOnce(&mut crate::domain::filter::EventFilter)) -> SliceSpec {
    let mut s = spec(1000, 2000);
    f(&mut s.filter);
    s
}

#[tokio::test]
async fn an_event_type_filter_delivers_only_those_types_and_counts_the_rest() {
    let mut log = MemoryLog::new(1);
    log.partitions[0] = vec![
        typed(1000, "a", "like", None),
        typed(1100, "b", "tweet", None),
        typed(1150, "b", "tweet", None), // a copy of a filtered event: filtered too
        typed(1200, "c", "like", None),
        typed(1250, "c", "like", None), // a duplicate of a selected one
    ];
    let f = Fakes::new(log);
    let s = filtered(|f| f.event_types = Some(["like".to_owned()].into()));
    let c = done(f.run(&cfg(), &s, "w").await.unwrap());
    assert_eq!(f.ids(), vec!["a", "c"]);
    assert_eq!((c.events_matched, c.events_delivered, c.events_filtered, c.duplicates_skipped), (5, 2, 2, 1));
    assert!(c.adds_up(), "{c:?}");
}

#[tokio::test]
async fn an_event_id_selection_records_what_it_found() {
    let f = Fakes::new(sample_log());
    let s = filtered(|f| f.event_ids = Some(["b".to_owned(), "d".to_owned(), "nowhere".to_owned()].into()));
    let c = done(f.run(&cfg(), &s, "w").await.unwrap());
    assert_eq!(f.ids(), vec!["b", "d"]);
    assert_eq!(c.events_filtered, 4, "a, its copy, c and the straddling copy: {c:?}");
    assert!(c.adds_up());
    let found: Vec<String> = f.prog.found.lock().unwrap().iter().cloned().collect();
    assert_eq!(found, vec!["b", "d"]);
}

#[tokio::test]
async fn failed_only_needs_a_failed_copy_and_no_succeeded_one_even_after_the_window() {
    let mut log = MemoryLog::new(1);
    log.partitions[0] = vec![
        typed(1000, "failed-twice", "t", Some("failed")),
        typed(1100, "no-outcome", "t", None),
        typed(1500, "failed-then-ok", "t", Some("failed")),
        typed(1600, "ok", "t", Some("succeeded")),
        typed(1950, "failed-twice", "t", Some("failed")),
        // After the window's end, within the look-back of its first copy.
        typed(1960, "ignored", "t", Some("failed")),
        typed(2050, "failed-then-ok", "t", Some("succeeded")),
    ];
    let mut config = cfg();
    config.dedup_lookback_ms = 1_000;
    let f = Fakes::new(log);
    let s = filtered(|f| f.only_failed = true);
    let c = done(f.run(&config, &s, "w").await.unwrap());
    assert_eq!(f.ids(), vec!["failed-twice", "ignored"], "{c:?}");
    assert_eq!(c.duplicates_skipped, 1, "the second copy of failed-twice");
    assert_eq!((c.events_filtered, c.events_without_outcome), (3, 1), "{c:?}");
    assert!(c.adds_up(), "{c:?}");
}

#[tokio::test]
async fn a_dry_run_delivers_nothing_and_counts_what_it_would() {
    let f = Fakes::new(sample_log());
    let s = filtered(|f| f.dry_run = true);
    let outcome = f.run(&cfg(), &s, "w").await.unwrap();
    let SliceOutcome::Done { counters: c, tally, .. } = outcome else { panic!("{outcome:?}") };
    assert!(f.ids().is_empty(), "nothing sent");
    let real = Fakes::new(sample_log());
    let r = done(real.run(&cfg(), &spec(1000, 2000), "w").await.unwrap());
    assert_eq!(c.events_selected, r.events_delivered);
    assert_eq!(
        (c.events_matched, c.duplicates_skipped, c.malformed),
        (r.events_matched, r.duplicates_skipped, r.malformed)
    );
    assert!(c.adds_up(), "{c:?}");
    assert_eq!(tally.by_event_type.get("t"), Some(&4));
    assert!(tally.payload_bytes > 0);
}

#[tokio::test]
async fn an_unusable_id_is_a_lost_event_only_if_the_selection_would_have_chosen_it() {
    let mut log = MemoryLog::new(1);
    log.partitions[0] = vec![event(1000, WH, "fine"), event(1001, WH, "bad\nid"), event(1002, WH, "fine-too")];
    let f = Fakes::new(log);
    let c = done(f.run(&cfg(), &spec(1000, 2000), "w1").await.unwrap());
    assert_eq!((c.malformed, c.unusable_ids, c.events_delivered), (1, 1, 2), "{c:?}");
    // A job of other types, or of listed ids, would not have replayed it.
    for (name, s) in [
        ("types", filtered(|f| f.event_types = Some(["other".to_owned()].into()))),
        ("ids", filtered(|f| f.event_ids = Some(["fine".to_owned()].into()))),
    ] {
        let f = Fakes::new({
            let mut log = MemoryLog::new(1);
            log.partitions[0] = vec![event(1000, WH, "fine"), event(1001, WH, "bad\nid")];
            log
        });
        let c = done(f.run(&cfg(), &s, "w1").await.unwrap());
        assert_eq!((c.malformed, c.unusable_ids), (1, 0), "{name}: {c:?}");
    }
}
