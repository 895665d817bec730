//! The slice loop: read one time slice of one partition, filter, dedup,
//! deliver, checkpoint. Pure orchestration over the ports, unit-tested with fakes.

use crate::config::WorkerConfig;
use crate::domain::checkpoint::{Checkpoint, Lease, SliceRange};
use crate::domain::dedup::{event_hash, DedupWindow};
use crate::domain::ids::{JobId, WebhookId};
use crate::domain::job::{Counters, JobState};
use crate::domain::signing::SigningKey;
use crate::domain::window::Window;
use crate::error::{Error, Result};
use crate::ports::{
    CheckpointStore, Deliverer, Delivery, DeliveryLog, DeliveryOutcome, FailedEvent, RecordKind, ScanBatch,
    ScanRequest, SliceProgress,
};
use futures::StreamExt;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tracing::{info, instrument, warn};

/// Everything about the slice the loop needs, loaded by the caller.
#[derive(Debug, Clone)]
pub struct SliceSpec {
    pub job_id: JobId,
    pub slice_index: u32,
    pub webhook_id: WebhookId,
    pub partition: u32,
    pub window: Window,
    pub url: String,
    pub key: SigningKey,
}

impl SliceSpec {
    pub fn checkpoint_key(&self) -> String {
        checkpoint_key(&self.job_id, self.slice_index)
    }
}

pub fn checkpoint_key(job_id: &JobId, slice_index: u32) -> String {
    format!("{job_id}#{slice_index}")
}

pub struct SlicePorts<'a> {
    pub log: &'a dyn DeliveryLog,
    pub checkpoints: &'a dyn CheckpointStore,
    pub deliverer: &'a dyn Deliverer,
    pub progress: &'a dyn SliceProgress,
    pub delivery_concurrency: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SliceOutcome {
    /// The whole slice was read; counters are final.
    Done { counters: Counters, lease_token: u64 },
    /// Stopped before the deadline; the checkpoint is saved and the lease released.
    Continue(Counters),
    /// The receiver looks down: resume from the last checkpoint after `delay`.
    Paused { delay: Duration },
    /// The job was cancelled; the checkpoint is saved.
    Cancelled { counters: Counters, lease_token: u64 },
    /// Another worker holds the slice (a duplicate message): nothing was done.
    Busy,
    /// The lease was taken over while running: this worker stopped writing.
    LeaseLost,
}

/// Runs (or resumes) one slice until it ends, the deadline nears, the job is
/// cancelled, the receiver looks down, or the lease is lost.
#[instrument(skip_all, fields(job_id = %spec.job_id, slice = spec.slice_index, partition = spec.partition))]
pub async fn run_slice(
    ports: &SlicePorts<'_>,
    cfg: &WorkerConfig,
    spec: &SliceSpec,
    owner: &str,
    deadline: Instant,
) -> Result<SliceOutcome> {
    let key = spec.checkpoint_key();
    let ttl_ms = cfg.lease_ttl.as_millis() as u64;
    let Some((lease, cp)) = ports.checkpoints.acquire(&key, owner, ttl_ms).await? else {
        info!("slice is leased by another worker; skipping duplicate message");
        return Ok(SliceOutcome::Busy);
    };
    let token = lease.clone();
    let result = run_leased(ports, cfg, spec, &key, lease, cp, deadline).await;
    if let Err(e) = &result {
        // Free the slice at once, so the message's retry need not wait out the lease.
        if let Err(release) = ports.checkpoints.release(&key, &token).await {
            warn!(error = %release, "could not release the lease after an error");
        }
        warn!(error = %e, retryable = e.is_retryable(), "slice stopped by an error; the checkpoint is kept");
    }
    result
}

async fn run_leased(
    ports: &SlicePorts<'_>,
    cfg: &WorkerConfig,
    spec: &SliceSpec,
    key: &str,
    lease: Lease,
    mut cp: Checkpoint,
    deadline: Instant,
) -> Result<SliceOutcome> {
    let ttl_ms = cfg.lease_ttl.as_millis() as u64;
    if cp.done {
        ports.checkpoints.release(key, &lease).await?;
        return Ok(SliceOutcome::Done { counters: cp.counters, lease_token: lease.token });
    }
    let mut retry = KafkaRetry::new(cfg, deadline);
    let range = match cp.range {
        Some(range) => range,
        None => {
            let range = loop {
                match find_range(ports.log, spec, cfg.dedup_lookback_ms).await {
                    Ok(range) => break range,
                    Err(e) => retry.wait_or_fail(e).await?,
                }
            };
            cp.range = Some(range);
            cp.next_offset = range.lookback_offset;
            if let Some(outcome) = lease_lost(ports.checkpoints.save(key, &lease, &cp, ttl_ms).await)? {
                return Ok(outcome);
            }
            range
        }
    };
    info!(?range, next_offset = cp.next_offset, pauses = cp.pauses, "slice range");

    let dedup = DedupWindow::from_bytes(cfg.dedup_lookback_ms, &cp.dedup);
    let mut run = RunState::new(cp, lease, dedup, Instant::now(), cfg);
    let limiter = RateLimiter::new(cfg.delivery_rate_per_second);
    // Heartbeats, lease renewals and the deadline go on while the broker is silent.
    let idle_wait = cfg.heartbeat_every.clamp(Duration::from_millis(100), Duration::from_secs(5));
    while run.cp.next_offset < range.end_offset {
        // Batches of at most the checkpoint interval in records (so in events
        // too) bound what a crash redelivers to one interval plus one batch.
        let mut batches = ports.log.scan(ScanRequest {
            partition: spec.partition,
            from: run.cp.next_offset,
            end: range.end_offset,
            count_from: range.start_offset,
            webhook_id: spec.webhook_id.as_str(),
            max_batch: cfg.checkpoint_every_events.clamp(1, 5_000) as usize,
        })?;
        loop {
            let batch = match tokio::time::timeout(idle_wait, batches.recv()).await {
                Err(_idle) => {
                    if let Some(outcome) = run.maybe_checkpoint(ports, cfg, spec, key, ttl_ms, deadline).await? {
                        return Ok(outcome);
                    }
                    continue;
                }
                Ok(Some(Ok(batch))) => batch,
                // The scan failed (e.g. the broker restarted): reopen it where the
                // last delivered batch ended, so nothing is skipped or repeated.
                Ok(Some(Err(e))) => {
                    retry.wait_or_fail(e).await?;
                    break;
                }
                Ok(None) if run.cp.next_offset < range.end_offset => {
                    return Err(Error::Internal("the scan stopped before the slice's end".into()));
                }
                Ok(None) => break,
            };
            retry.reset();
            if let Some(outcome) = run.process(ports, cfg, spec, key, ttl_ms, &limiter, range, batch).await? {
                return Ok(outcome);
            }
            if let Some(outcome) = run.maybe_checkpoint(ports, cfg, spec, key, ttl_ms, deadline).await? {
                return Ok(outcome);
            }
        }
    }
    run.finish(ports, cfg, key, ttl_ms).await
}

/// Retries a failing Kafka call (the broker restarting, a leader moving) with
/// capped exponential backoff while the invocation has time; after that the
/// error goes to SQS, whose retry resumes from the checkpoint.
struct KafkaRetry {
    deadline: Instant,
    margin: Duration,
    next_wait: Duration,
}

impl KafkaRetry {
    const FIRST_WAIT: Duration = Duration::from_millis(250);
    const MAX_WAIT: Duration = Duration::from_secs(5);

    fn new(cfg: &WorkerConfig, deadline: Instant) -> Self {
        Self { deadline, margin: cfg.deadline_margin, next_wait: Self::FIRST_WAIT }
    }

    fn reset(&mut self) {
        self.next_wait = Self::FIRST_WAIT;
    }

    async fn wait_or_fail(&mut self, error: Error) -> Result<()> {
        if !error.is_retryable() || Instant::now() + self.next_wait + self.margin >= self.deadline {
            return Err(error);
        }
        warn!(%error, wait = ?self.next_wait, "kafka call failed; retrying");
        tokio::time::sleep(self.next_wait).await;
        self.next_wait = (self.next_wait * 2).min(Self::MAX_WAIT);
        Ok(())
    }
}

/// Turns a lost lease into the outcome that stops the slice.
fn lease_lost(result: Result<()>) -> Result<Option<SliceOutcome>> {
    match result {
        Ok(()) => Ok(None),
        Err(Error::LeaseLost) => {
            warn!("lease lost to another worker; stopping");
            Ok(Some(SliceOutcome::LeaseLost))
        }
        Err(e) => Err(e),
    }
}

struct RunState {
    cp: Checkpoint,
    /// The checkpoint as last saved (what a pause resumes from).
    last_saved: Checkpoint,
    lease: Lease,
    dedup: DedupWindow,
    events_since_checkpoint: u64,
    last_checkpoint: Instant,
    last_heartbeat: Instant,
    /// After too many pauses the receiver is presumed gone: remaining events fail unsent.
    give_up: bool,
}

impl RunState {
    fn new(cp: Checkpoint, lease: Lease, dedup: DedupWindow, now: Instant, cfg: &WorkerConfig) -> Self {
        // The first batch heartbeats at once, so the job shows ONGOING as soon as events flow.
        let long_ago = now.checked_sub(Duration::from_secs(3_600)).unwrap_or(now);
        let give_up = cp.pauses >= cfg.circuit_max_pauses;
        if give_up {
            warn!(pauses = cp.pauses, "receiver still down after the last pause; failing the remaining events");
        }
        Self {
            last_saved: cp.clone(),
            cp,
            lease,
            dedup,
            events_since_checkpoint: 0,
            last_checkpoint: now,
            last_heartbeat: long_ago,
            give_up,
        }
    }

    /// Filters, dedups and delivers one scanned batch, then advances the
    /// offset. Some(outcome) if the slice must stop (circuit open, lease lost).
    #[allow(clippy::too_many_arguments)]
    async fn process(
        &mut self,
        ports: &SlicePorts<'_>,
        cfg: &WorkerConfig,
        spec: &SliceSpec,
        key: &str,
        ttl_ms: u64,
        limiter: &RateLimiter,
        range: SliceRange,
        batch: ScanBatch,
    ) -> Result<Option<SliceOutcome>> {
        let mut deliveries = Vec::new();
        for record in batch.records {
            let in_lookback = record.offset < range.start_offset;
            match record.kind {
                RecordKind::Malformed { reason } => {
                    if !in_lookback {
                        self.cp.counters.malformed += 1;
                        warn!(offset = record.offset, %reason, "malformed record skipped");
                    }
                }
                RecordKind::Event { event_id, payload } => {
                    let first = self.dedup.first_sighting(event_hash(&event_id), record.timestamp);
                    if in_lookback {
                        continue;
                    }
                    self.cp.counters.events_matched += 1;
                    if !first {
                        self.cp.counters.duplicates_skipped += 1;
                        continue;
                    }
                    deliveries.push(Delivery {
                        url: spec.url.clone(),
                        message_id: event_id,
                        body: payload,
                        job_id: spec.job_id.clone(),
                        key: spec.key.clone(),
                    });
                }
            }
        }
        self.cp.counters.events_scanned += batch.scanned;
        let sent = deliveries.len() as u64;
        if self.deliver_all(ports, spec, cfg, limiter, deliveries).await? {
            // The batch is abandoned: resume from the last checkpoint after the pause.
            let delay = cfg.circuit_pause;
            self.last_saved.pauses += 1;
            warn!(pauses = self.last_saved.pauses, ?delay, "receiver looks down; pausing the slice");
            if let Some(outcome) = lease_lost(ports.checkpoints.save(key, &self.lease, &self.last_saved, ttl_ms).await)?
            {
                return Ok(Some(outcome));
            }
            ports.checkpoints.release(key, &self.lease).await?;
            return Ok(Some(SliceOutcome::Paused { delay }));
        }
        self.cp.next_offset = batch.next_offset;
        // Counted in events sent, not records read: a crash repeats deliveries,
        // while re-reading other webhooks' records costs only a little time.
        self.events_since_checkpoint += sent;
        Ok(None)
    }

    async fn save(
        &mut self,
        ports: &SlicePorts<'_>,
        cfg: &WorkerConfig,
        key: &str,
        ttl_ms: u64,
    ) -> Result<Option<SliceOutcome>> {
        self.cp.dedup = serialize_dedup(&self.dedup, cfg.max_dedup_bytes);
        let outcome = lease_lost(ports.checkpoints.save(key, &self.lease, &self.cp, ttl_ms).await)?;
        if outcome.is_none() {
            self.last_saved = self.cp.clone();
        }
        Ok(outcome)
    }

    /// Checkpoints, heartbeats and stops at the rates the config allows.
    async fn maybe_checkpoint(
        &mut self,
        ports: &SlicePorts<'_>,
        cfg: &WorkerConfig,
        spec: &SliceSpec,
        key: &str,
        ttl_ms: u64,
        deadline: Instant,
    ) -> Result<Option<SliceOutcome>> {
        let now = Instant::now();
        let near_deadline = now + cfg.deadline_margin >= deadline;
        let mut state = JobState::Ongoing;
        if near_deadline || now.duration_since(self.last_heartbeat) >= cfg.heartbeat_every {
            let beat =
                ports.progress.heartbeat(&spec.job_id, spec.slice_index, self.lease.token, &self.cp.counters).await;
            match beat {
                Ok(s) => state = s,
                Err(Error::LeaseLost) => return Ok(Some(SliceOutcome::LeaseLost)),
                Err(e) => return Err(e),
            }
            self.last_heartbeat = now;
        }
        let cancelled = state == JobState::Cancelled;
        if near_deadline
            || cancelled
            || self.events_since_checkpoint >= cfg.checkpoint_every_events
            || now.duration_since(self.last_checkpoint) >= cfg.checkpoint_every
        {
            if let Some(outcome) = self.save(ports, cfg, key, ttl_ms).await? {
                return Ok(Some(outcome));
            }
            self.events_since_checkpoint = 0;
            self.last_checkpoint = now;
        }
        if cancelled {
            info!("job cancelled; slice stops");
            return Ok(Some(SliceOutcome::Cancelled { counters: self.cp.counters, lease_token: self.lease.token }));
        }
        if near_deadline {
            ports.checkpoints.release(key, &self.lease).await?;
            info!(next_offset = self.cp.next_offset, "deadline near; continuing in a new invocation");
            return Ok(Some(SliceOutcome::Continue(self.cp.counters)));
        }
        Ok(None)
    }

    async fn finish(
        mut self,
        ports: &SlicePorts<'_>,
        cfg: &WorkerConfig,
        key: &str,
        ttl_ms: u64,
    ) -> Result<SliceOutcome> {
        self.cp.done = true;
        if let Some(outcome) = self.save(ports, cfg, key, ttl_ms).await? {
            return Ok(outcome);
        }
        // A duplicate message for an ended slice then sees `done` at once.
        ports.checkpoints.release(key, &self.lease).await?;
        Ok(SliceOutcome::Done { counters: self.cp.counters, lease_token: self.lease.token })
    }

    /// Delivers a batch with bounded concurrency and rate, requests started in
    /// log order. Returns true if the circuit opened (the batch is abandoned).
    async fn deliver_all(
        &mut self,
        ports: &SlicePorts<'_>,
        spec: &SliceSpec,
        cfg: &WorkerConfig,
        limiter: &RateLimiter,
        deliveries: Vec<Delivery>,
    ) -> Result<bool> {
        if deliveries.is_empty() {
            return Ok(false);
        }
        let give_up = self.give_up;
        let consecutive = AtomicU32::new(0);
        let open = AtomicBool::new(false);
        let outcomes: Vec<(String, DeliveryOutcome)> = futures::stream::iter(deliveries)
            .map(|d| {
                let (consecutive, open) = (&consecutive, &open);
                async move {
                    if give_up {
                        let error = "not attempted: the receiver stayed down through every pause".to_owned();
                        return (d.message_id, DeliveryOutcome::Failed { attempts: 0, last_status: None, error });
                    }
                    if open.load(Ordering::Relaxed) {
                        return (
                            d.message_id,
                            DeliveryOutcome::Failed { attempts: 0, last_status: None, error: "circuit open".into() },
                        );
                    }
                    limiter.wait().await;
                    let outcome = ports.deliverer.deliver(&d).await;
                    match &outcome {
                        DeliveryOutcome::Failed { last_status, .. } if receiver_down(*last_status) => {
                            if consecutive.fetch_add(1, Ordering::Relaxed) + 1 >= cfg.circuit_break_after {
                                open.store(true, Ordering::Relaxed);
                            }
                        }
                        _ => consecutive.store(0, Ordering::Relaxed),
                    }
                    (d.message_id, outcome)
                }
            })
            .buffer_unordered(ports.delivery_concurrency)
            .collect()
            .await;
        if open.load(Ordering::Relaxed) {
            return Ok(true);
        }
        let mut failures = Vec::new();
        for (event_id, outcome) in outcomes {
            match outcome {
                DeliveryOutcome::Delivered { .. } => self.cp.counters.events_delivered += 1,
                DeliveryOutcome::Failed { attempts, last_status, error } => {
                    self.cp.counters.delivery_failures += 1;
                    warn!(%event_id, attempts, ?last_status, %error, "event could not be delivered");
                    failures.push(FailedEvent { event_id, attempts, last_status, error });
                }
            }
        }
        if !failures.is_empty() {
            ports.progress.record_failures(&spec.job_id, &failures).await?;
        }
        Ok(false)
    }
}

/// Failures that say the receiver is down or overloaded, not that it refused the event.
fn receiver_down(last_status: Option<u16>) -> bool {
    match last_status {
        None => true,
        Some(status) => status == 429 || status >= 500,
    }
}

fn serialize_dedup(dedup: &DedupWindow, max_bytes: usize) -> Vec<u8> {
    let (bytes, left_out) = dedup.to_bytes(max_bytes);
    if left_out > 0 {
        warn!(left_out, "dedup window larger than a checkpoint holds; oldest ids left out");
    }
    bytes
}

/// Finds the slice's offsets once: look-back start, slice start, slice end.
async fn find_range(log: &dyn DeliveryLog, spec: &SliceSpec, lookback_ms: i64) -> Result<SliceRange> {
    let p = spec.partition;
    let lookback_offset = log.offset_for_time(p, spec.window.from.0 - lookback_ms).await?;
    let start_offset = log.offset_for_time(p, spec.window.from.0).await?;
    let end_offset = log.offset_for_time(p, spec.window.to.0).await?;
    Ok(SliceRange {
        lookback_offset,
        start_offset: start_offset.max(lookback_offset),
        end_offset: end_offset.max(start_offset),
    })
}

/// Spaces request starts evenly: at most `per_second` a second (0 = no limit).
struct RateLimiter {
    period: Option<Duration>,
    next: Mutex<Instant>,
}

impl RateLimiter {
    fn new(per_second: u32) -> Self {
        let period = (per_second > 0).then(|| Duration::from_secs_f64(1.0 / f64::from(per_second)));
        Self { period, next: Mutex::new(Instant::now()) }
    }

    async fn wait(&self) {
        let Some(period) = self.period else { return };
        let slot = {
            let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            let slot = (*next).max(now);
            *next = slot + period;
            slot
        };
        tokio::time::sleep_until(slot.into()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory::{LogRecord, MemoryCheckpoints, MemoryDeliverer, MemoryLog, MemoryProgress};
    use crate::domain::ids::EventTime;
    use crate::domain::signing::generate_secret;
    use std::collections::HashSet;
    use std::time::Duration;

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
            dedup_lookback_ms: 100,
            checkpoint_every_events: 100,
            // Checkpoint after every batch.
            checkpoint_every: Duration::ZERO,
            heartbeat_every: Duration::ZERO,
            lease_ttl: Duration::from_secs(30),
            deadline_margin: Duration::from_millis(1),
            max_dedup_bytes: 1 << 20,
            checkpoint_ttl: Duration::from_secs(60),
            delivery_rate_per_second: 0,
            circuit_break_after: 3,
            circuit_pause: Duration::from_secs(5),
            circuit_max_pauses: 2,
        }
    }

    fn spec(from: i64, to: i64) -> SliceSpec {
        SliceSpec {
            job_id: JobId::from("job_1"),
            slice_index: 0,
            webhook_id: WebhookId::from(WH),
            partition: 0,
            window: Window { from: EventTime(from), to: EventTime(to) },
            url: "http://127.0.0.1:1/".into(),
            key: SigningKey::from_secret(&generate_secret()).unwrap(),
        }
    }

    /// A log around the window [1000, 2000): a look-back copy, in-window
    /// duplicates, a malformed record, another webhook and edge timestamps.
    fn sample_log() -> MemoryLog {
        let mut log = MemoryLog::new(1);
        log.partitions[0] = vec![
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

    fn ids(d: &MemoryDeliverer) -> Vec<String> {
        d.delivered.lock().unwrap().iter().map(|(id, _)| id.clone()).collect()
    }

    #[tokio::test]
    async fn delivers_each_event_of_the_window_once() {
        let (log, cps, del, prog) =
            (sample_log(), MemoryCheckpoints::default(), MemoryDeliverer::default(), MemoryProgress::default());
        let ports =
            SlicePorts { log: &log, checkpoints: &cps, deliverer: &del, progress: &prog, delivery_concurrency: 1 };
        let far = Instant::now() + Duration::from_secs(60);
        let outcome = run_slice(&ports, &cfg(), &spec(1000, 2000), "w1", far).await.unwrap();
        let SliceOutcome::Done { counters: c, .. } = outcome else { panic!("{outcome:?}") };
        assert_eq!(ids(&del), vec!["a", "b", "c", "d"]);
        assert_eq!(c.events_scanned, 8, "records in [1000, 2000) of any webhook");
        assert_eq!(c.events_matched, 6);
        assert_eq!(c.duplicates_skipped, 2);
        assert_eq!(c.malformed, 1);
        assert_eq!(c.events_delivered, 4);
        assert_eq!(del.delivered.lock().unwrap()[0].1.as_ref(), br#"{"n":"a"}"#);
        // A duplicate message after the slice ended does nothing.
        let again = run_slice(&ports, &cfg(), &spec(1000, 2000), "w2", far).await.unwrap();
        assert!(matches!(again, SliceOutcome::Done { .. }));
        assert_eq!(ids(&del).len(), 4);
    }

    #[tokio::test]
    async fn resumes_from_the_checkpoint_after_a_failure() {
        let mut log = MemoryLog::new(1);
        log.partitions[0] = (0..50).map(|i| event(1000 + i, WH, &format!("e{i}"))).collect();
        log.batch_size = 4;
        let (cps, del, prog) = (MemoryCheckpoints::default(), MemoryDeliverer::default(), MemoryProgress::default());
        *cps.fail_after_saves.lock().unwrap() = Some(5);
        let ports =
            SlicePorts { log: &log, checkpoints: &cps, deliverer: &del, progress: &prog, delivery_concurrency: 4 };
        let far = Instant::now() + Duration::from_secs(60);
        assert!(run_slice(&ports, &cfg(), &spec(1000, 2000), "w1", far).await.is_err());
        let before = ids(&del).len();
        assert!(before > 0 && before < 50);
        *cps.fail_after_saves.lock().unwrap() = None;
        // A failed worker releases its lease, so the message's retry need not wait for it to expire.
        let outcome = run_slice(&ports, &cfg(), &spec(1000, 2000), "w2", far).await.unwrap();
        let SliceOutcome::Done { counters: c, .. } = outcome else { panic!("{outcome:?}") };
        let all = ids(&del);
        let unique: HashSet<&String> = all.iter().collect();
        assert_eq!(unique.len(), 50, "nothing lost");
        assert!(all.len() - 50 <= 4, "redelivered at most one batch: {}", all.len() - 50);
        assert_eq!(c.events_scanned, 50);
    }

    #[tokio::test]
    async fn a_failed_scan_is_reopened_where_it_stopped() {
        let mut log = MemoryLog::new(1);
        log.partitions[0] = (0..30).map(|i| event(1000 + i, WH, &format!("e{i}"))).collect();
        log.batch_size = 4;
        log.failing_scans.store(3, std::sync::atomic::Ordering::SeqCst);
        let (cps, del, prog) = (MemoryCheckpoints::default(), MemoryDeliverer::default(), MemoryProgress::default());
        let ports =
            SlicePorts { log: &log, checkpoints: &cps, deliverer: &del, progress: &prog, delivery_concurrency: 4 };
        let far = Instant::now() + Duration::from_secs(60);
        let outcome = run_slice(&ports, &cfg(), &spec(1000, 2000), "w1", far).await.unwrap();
        let SliceOutcome::Done { counters: c, .. } = outcome else { panic!("{outcome:?}") };
        let all = ids(&del);
        assert_eq!(all.len(), 30, "each event once, none skipped: {all:?}");
        assert_eq!(all.iter().collect::<HashSet<_>>().len(), 30);
        assert_eq!(c.events_scanned, 30);
    }

    #[tokio::test]
    async fn a_scan_failing_past_the_deadline_gives_the_error_to_the_queue() {
        let mut log = MemoryLog::new(1);
        log.partitions[0] = (0..30).map(|i| event(1000 + i, WH, &format!("e{i}"))).collect();
        log.failing_scans.store(u32::MAX, std::sync::atomic::Ordering::SeqCst);
        let (cps, del, prog) = (MemoryCheckpoints::default(), MemoryDeliverer::default(), MemoryProgress::default());
        let ports =
            SlicePorts { log: &log, checkpoints: &cps, deliverer: &del, progress: &prog, delivery_concurrency: 4 };
        let soon = Instant::now() + Duration::from_millis(600);
        let err = run_slice(&ports, &cfg(), &spec(1000, 2000), "w1", soon).await.unwrap_err();
        assert!(matches!(err, Error::Kafka(_)) && err.is_retryable(), "{err:?}");
        // The lease was released: the retry runs at once and finishes the slice.
        log.failing_scans.store(0, std::sync::atomic::Ordering::SeqCst);
        let far = Instant::now() + Duration::from_secs(60);
        let outcome = run_slice(&ports, &cfg(), &spec(1000, 2000), "w2", far).await.unwrap();
        assert!(matches!(outcome, SliceOutcome::Done { .. }), "{outcome:?}");
        assert_eq!(ids(&del).iter().collect::<HashSet<_>>().len(), 30);
    }

    #[tokio::test]
    async fn continues_before_the_deadline_and_stops_when_cancelled() {
        let mut log = MemoryLog::new(1);
        log.partitions[0] = (0..10).map(|i| event(1000 + i, WH, &format!("e{i}"))).collect();
        let (cps, del, prog) = (MemoryCheckpoints::default(), MemoryDeliverer::default(), MemoryProgress::default());
        let ports =
            SlicePorts { log: &log, checkpoints: &cps, deliverer: &del, progress: &prog, delivery_concurrency: 1 };
        let now = Instant::now();
        let outcome = run_slice(&ports, &cfg(), &spec(1000, 2000), "w1", now).await.unwrap();
        assert!(matches!(outcome, SliceOutcome::Continue(_)), "{outcome:?}");
        assert_eq!(ids(&del).len(), 3, "one batch, then the deadline");
        // The continuation takes the released lease at once and finishes.
        let far = Instant::now() + Duration::from_secs(60);
        *prog.state.lock().unwrap() = JobState::Cancelled;
        let outcome = run_slice(&ports, &cfg(), &spec(1000, 2000), "w2", far).await.unwrap();
        assert!(matches!(outcome, SliceOutcome::Cancelled { .. }), "{outcome:?}");
        assert_eq!(ids(&del).len(), 6, "stopped after the batch that saw the cancel");
    }

    #[tokio::test]
    async fn empty_and_past_the_end_windows_complete() {
        let log = sample_log();
        let (cps, del, prog) = (MemoryCheckpoints::default(), MemoryDeliverer::default(), MemoryProgress::default());
        let ports =
            SlicePorts { log: &log, checkpoints: &cps, deliverer: &del, progress: &prog, delivery_concurrency: 1 };
        let far = Instant::now() + Duration::from_secs(60);
        let outcome = run_slice(&ports, &cfg(), &spec(5000, 6000), "w1", far).await.unwrap();
        assert!(matches!(outcome, SliceOutcome::Done { counters, .. } if counters == Counters::default()));
        let mut s = spec(1100, 1400);
        s.slice_index = 1;
        let outcome = run_slice(&ports, &cfg(), &s, "w1", far).await.unwrap();
        assert!(matches!(outcome, SliceOutcome::Done { counters, .. } if counters == Counters::default()));
        assert!(ids(&del).is_empty());
    }

    #[tokio::test]
    async fn failed_deliveries_are_counted_and_recorded() {
        let log = sample_log();
        let (cps, del, prog) = (MemoryCheckpoints::default(), MemoryDeliverer::default(), MemoryProgress::default());
        del.fail.lock().unwrap().push("c".into());
        let ports =
            SlicePorts { log: &log, checkpoints: &cps, deliverer: &del, progress: &prog, delivery_concurrency: 2 };
        let far = Instant::now() + Duration::from_secs(60);
        let SliceOutcome::Done { counters: c, .. } =
            run_slice(&ports, &cfg(), &spec(1000, 2000), "w1", far).await.unwrap()
        else {
            panic!()
        };
        assert_eq!((c.events_delivered, c.delivery_failures), (3, 1));
        let failures = prog.failures.lock().unwrap();
        assert_eq!(failures.len(), 1);
        assert_eq!(failures[0].event_id, "c");
        assert_eq!(failures[0].last_status, Some(400));
    }

    #[tokio::test]
    async fn a_down_receiver_pauses_the_slice_then_fails_the_rest_unsent() {
        let mut log = MemoryLog::new(1);
        log.partitions[0] = (0..40).map(|i| event(1000 + i, WH, &format!("e{i}"))).collect();
        log.batch_size = 10;
        let (cps, del, prog) = (MemoryCheckpoints::default(), MemoryDeliverer::default(), MemoryProgress::default());
        *del.down.lock().unwrap() = true;
        let ports =
            SlicePorts { log: &log, checkpoints: &cps, deliverer: &del, progress: &prog, delivery_concurrency: 1 };
        let far = Instant::now() + Duration::from_secs(60);
        for pause in 1..=2 {
            let outcome = run_slice(&ports, &cfg(), &spec(1000, 2000), "w", far).await.unwrap();
            assert_eq!(outcome, SliceOutcome::Paused { delay: Duration::from_secs(5) }, "pause {pause}");
            assert_eq!(*del.attempts.lock().unwrap(), 3 * pause, "stops trying after 3 consecutive failures");
        }
        let outcome = run_slice(&ports, &cfg(), &spec(1000, 2000), "w", far).await.unwrap();
        let SliceOutcome::Done { counters, .. } = outcome else { panic!("{outcome:?}") };
        assert_eq!(*del.attempts.lock().unwrap(), 6, "no attempt after giving up");
        assert_eq!((counters.delivery_failures, counters.events_delivered, counters.events_matched), (40, 0, 40));
        assert_eq!(prog.failures.lock().unwrap().len(), 40, "every event accounted for");
    }

    #[tokio::test]
    async fn a_receiver_that_recovers_during_a_pause_gets_everything() {
        let mut log = MemoryLog::new(1);
        log.partitions[0] = (0..40).map(|i| event(1000 + i, WH, &format!("e{i}"))).collect();
        log.batch_size = 10;
        let (cps, del, prog) = (MemoryCheckpoints::default(), MemoryDeliverer::default(), MemoryProgress::default());
        let ports =
            SlicePorts { log: &log, checkpoints: &cps, deliverer: &del, progress: &prog, delivery_concurrency: 1 };
        let far = Instant::now() + Duration::from_secs(60);
        *del.down.lock().unwrap() = true;
        assert!(matches!(
            run_slice(&ports, &cfg(), &spec(1000, 2000), "w", far).await.unwrap(),
            SliceOutcome::Paused { .. }
        ));
        *del.down.lock().unwrap() = false;
        let outcome = run_slice(&ports, &cfg(), &spec(1000, 2000), "w", far).await.unwrap();
        let SliceOutcome::Done { counters, .. } = outcome else { panic!("{outcome:?}") };
        assert_eq!((counters.events_delivered, counters.delivery_failures), (40, 0));
        assert_eq!(ids(&del).len(), 40);
    }
}
