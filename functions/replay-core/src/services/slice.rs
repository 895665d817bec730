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
    CheckpointStore, Deliverer, Delivery, DeliveryLog, DeliveryOutcome, FailedEvent, RecordKind, ScanRequest,
    SliceProgress,
};
use futures::StreamExt;
use std::time::Instant;
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
    Done(Counters),
    /// Stopped before the deadline; the checkpoint is saved and the lease released.
    Continue(Counters),
    /// The job was cancelled; the checkpoint is saved.
    Cancelled(Counters),
    /// Another worker holds the slice (a duplicate message): nothing was done.
    Busy,
    /// The lease was taken over while running: this worker stopped writing.
    LeaseLost,
}

/// Runs (or resumes) one slice until it ends, the deadline nears, the job is
/// cancelled or the lease is lost.
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
    let Some((lease, mut cp)) = ports.checkpoints.acquire(&key, owner, ttl_ms).await? else {
        info!("slice is leased by another worker; skipping duplicate message");
        return Ok(SliceOutcome::Busy);
    };
    if cp.done {
        return Ok(SliceOutcome::Done(cp.counters));
    }
    let range = match cp.range {
        Some(range) => range,
        None => {
            let range = find_range(ports.log, spec, cfg.dedup_lookback_ms).await?;
            cp.range = Some(range);
            cp.next_offset = range.lookback_offset;
            save(ports, &key, &lease, &cp, ttl_ms).await?;
            range
        }
    };
    info!(?range, next_offset = cp.next_offset, "slice range");

    let mut dedup = DedupWindow::from_bytes(cfg.dedup_lookback_ms, &cp.dedup);
    let mut run = RunState::new(cp, lease, Instant::now());
    if run.cp.next_offset >= range.end_offset {
        return finish(ports, cfg, &key, run, &dedup, ttl_ms).await;
    }

    // Batches no larger than the checkpoint interval bound what a crash redelivers.
    let mut batches = ports.log.scan(ScanRequest {
        partition: spec.partition,
        from: run.cp.next_offset,
        end: range.end_offset,
        count_from: range.start_offset,
        webhook_id: spec.webhook_id.as_str(),
        max_batch: cfg.checkpoint_every_records.clamp(1, 5_000) as usize,
    })?;
    while let Some(batch) = batches.recv().await {
        let batch = batch?;
        let mut deliveries = Vec::new();
        for record in batch.records {
            let in_lookback = record.offset < range.start_offset;
            match record.kind {
                RecordKind::Malformed { reason } => {
                    if !in_lookback {
                        run.cp.counters.malformed += 1;
                        warn!(offset = record.offset, %reason, "malformed record skipped");
                    }
                }
                RecordKind::Event { event_id, payload } => {
                    let first = dedup.first_sighting(event_hash(&event_id), record.timestamp);
                    if in_lookback {
                        continue;
                    }
                    run.cp.counters.events_matched += 1;
                    if !first {
                        run.cp.counters.duplicates_skipped += 1;
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
        run.cp.counters.events_scanned += batch.scanned;
        deliver_all(ports, spec, &mut run, deliveries).await?;
        run.cp.next_offset = batch.next_offset;
        run.records_since_checkpoint += batch.scanned;

        if let Some(outcome) = run.maybe_checkpoint(ports, cfg, spec, &key, &dedup, ttl_ms, deadline).await? {
            return Ok(outcome);
        }
    }
    finish(ports, cfg, &key, run, &dedup, ttl_ms).await
}

struct RunState {
    cp: Checkpoint,
    lease: Lease,
    records_since_checkpoint: u64,
    last_checkpoint: Instant,
    last_heartbeat: Instant,
}

impl RunState {
    fn new(cp: Checkpoint, lease: Lease, now: Instant) -> Self {
        // The first batch heartbeats at once, so the job shows ONGOING as soon as events flow.
        let long_ago = now.checked_sub(std::time::Duration::from_secs(3_600)).unwrap_or(now);
        Self { cp, lease, records_since_checkpoint: 0, last_checkpoint: now, last_heartbeat: long_ago }
    }

    /// Checkpoints, heartbeats and stops at the rates the config allows.
    #[allow(clippy::too_many_arguments)]
    async fn maybe_checkpoint(
        &mut self,
        ports: &SlicePorts<'_>,
        cfg: &WorkerConfig,
        spec: &SliceSpec,
        key: &str,
        dedup: &DedupWindow,
        ttl_ms: u64,
        deadline: Instant,
    ) -> Result<Option<SliceOutcome>> {
        let now = Instant::now();
        let near_deadline = now + cfg.deadline_margin >= deadline;
        let mut state = JobState::Ongoing;
        if near_deadline || now.duration_since(self.last_heartbeat) >= cfg.heartbeat_every {
            state = ports.progress.heartbeat(&spec.job_id, spec.slice_index, &self.cp.counters).await?;
            self.last_heartbeat = now;
        }
        let cancelled = state == JobState::Cancelled;
        if near_deadline
            || cancelled
            || self.records_since_checkpoint >= cfg.checkpoint_every_records
            || now.duration_since(self.last_checkpoint) >= cfg.checkpoint_every
        {
            self.cp.dedup = serialize_dedup(dedup, cfg.max_dedup_bytes);
            match save(ports, key, &self.lease, &self.cp, ttl_ms).await {
                Err(Error::LeaseLost) => return Ok(Some(SliceOutcome::LeaseLost)),
                other => other?,
            }
            self.records_since_checkpoint = 0;
            self.last_checkpoint = now;
        }
        if cancelled {
            info!("job cancelled; slice stops");
            return Ok(Some(SliceOutcome::Cancelled(self.cp.counters)));
        }
        if near_deadline {
            ports.checkpoints.release(key, &self.lease).await?;
            info!(next_offset = self.cp.next_offset, "deadline near; continuing in a new invocation");
            return Ok(Some(SliceOutcome::Continue(self.cp.counters)));
        }
        Ok(None)
    }
}

fn serialize_dedup(dedup: &DedupWindow, max_bytes: usize) -> Vec<u8> {
    let (bytes, left_out) = dedup.to_bytes(max_bytes);
    if left_out > 0 {
        warn!(left_out, "dedup window larger than a checkpoint holds; oldest ids left out");
    }
    bytes
}

async fn save(ports: &SlicePorts<'_>, key: &str, lease: &Lease, cp: &Checkpoint, ttl_ms: u64) -> Result<()> {
    ports.checkpoints.save(key, lease, cp, ttl_ms).await
}

async fn finish(
    ports: &SlicePorts<'_>,
    cfg: &WorkerConfig,
    key: &str,
    mut run: RunState,
    dedup: &DedupWindow,
    ttl_ms: u64,
) -> Result<SliceOutcome> {
    run.cp.done = true;
    run.cp.dedup = serialize_dedup(dedup, cfg.max_dedup_bytes);
    match save(ports, key, &run.lease, &run.cp, ttl_ms).await {
        Err(Error::LeaseLost) => Ok(SliceOutcome::LeaseLost),
        Err(e) => Err(e),
        Ok(()) => {
            // A duplicate message for an ended slice then sees `done` at once.
            ports.checkpoints.release(key, &run.lease).await?;
            Ok(SliceOutcome::Done(run.cp.counters))
        }
    }
}

/// Finds the slice's offsets once: look-back start, slice start, slice end.
async fn find_range(log: &dyn DeliveryLog, spec: &SliceSpec, lookback_ms: i64) -> Result<SliceRange> {
    let p = spec.partition;
    let lookback_offset = log.offset_for_time(p, spec.window.from.0 - lookback_ms).await?;
    let start_offset = log.offset_for_time(p, spec.window.from.0).await?;
    let end_offset = log.offset_for_time(p, spec.window.to.0).await?;
    Ok(SliceRange { lookback_offset, start_offset: start_offset.max(lookback_offset), end_offset: end_offset.max(start_offset) })
}

/// Delivers a batch with bounded concurrency, requests started in log order.
async fn deliver_all(
    ports: &SlicePorts<'_>,
    spec: &SliceSpec,
    run: &mut RunState,
    deliveries: Vec<Delivery>,
) -> Result<()> {
    if deliveries.is_empty() {
        return Ok(());
    }
    let outcomes: Vec<(String, DeliveryOutcome)> = futures::stream::iter(deliveries)
        .map(|d| async move {
            let outcome = ports.deliverer.deliver(&d).await;
            (d.message_id, outcome)
        })
        .buffer_unordered(ports.delivery_concurrency)
        .collect()
        .await;
    let mut failures = Vec::new();
    for (event_id, outcome) in outcomes {
        match outcome {
            DeliveryOutcome::Delivered { .. } => run.cp.counters.events_delivered += 1,
            DeliveryOutcome::Failed { attempts, last_status, error } => {
                run.cp.counters.delivery_failures += 1;
                warn!(%event_id, attempts, ?last_status, %error, "event could not be delivered");
                failures.push(FailedEvent { event_id, attempts, last_status, error });
            }
        }
    }
    if !failures.is_empty() {
        ports.progress.record_failures(&spec.job_id, &failures).await?;
    }
    Ok(())
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
            checkpoint_every_records: 100,
            // Checkpoint after every batch.
            checkpoint_every: Duration::ZERO,
            heartbeat_every: Duration::ZERO,
            lease_ttl: Duration::from_secs(30),
            deadline_margin: Duration::from_millis(1),
            max_dedup_bytes: 1 << 20,
            checkpoint_ttl: Duration::from_secs(60),
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
            event(900, WH, "before"),          // look-back only
            event(950, WH, "straddle"),        // first copy before the window
            event(999, WH, "edge-before"),
            event(1000, WH, "a"),              // equal timestamps at `from`
            event(1000, WH, "b"),
            event(1000, "wh_other", "x"),
            event(1010, WH, "straddle"),       // copy of a look-back event: skipped
            event(1020, WH, "a"),              // in-window duplicate
            LogRecord { timestamp: 1030, key: Some(WH.as_bytes().to_vec()), value: Some(b"{oops".to_vec()) },
            event(1500, WH, "c"),
            event(1999, WH, "d"),
            event(2000, WH, "at-to"),          // equal timestamps at `to`: excluded
            event(2000, WH, "at-to-2"),
        ];
        log
    }

    fn ids(d: &MemoryDeliverer) -> Vec<String> {
        d.delivered.lock().unwrap().iter().map(|(id, _)| id.clone()).collect()
    }

    #[tokio::test]
    async fn delivers_each_event_of_the_window_once() {
        let (log, cps, del, prog) = (sample_log(), MemoryCheckpoints::default(), MemoryDeliverer::default(), MemoryProgress::default());
        let ports = SlicePorts { log: &log, checkpoints: &cps, deliverer: &del, progress: &prog, delivery_concurrency: 1 };
        let far = Instant::now() + Duration::from_secs(60);
        let outcome = run_slice(&ports, &cfg(), &spec(1000, 2000), "w1", far).await.unwrap();
        let SliceOutcome::Done(c) = outcome else { panic!("{outcome:?}") };
        assert_eq!(ids(&del), vec!["a", "b", "c", "d"]);
        assert_eq!(c.events_scanned, 8, "records in [1000, 2000) of any webhook");
        assert_eq!(c.events_matched, 6);
        assert_eq!(c.duplicates_skipped, 2);
        assert_eq!(c.malformed, 1);
        assert_eq!(c.events_delivered, 4);
        assert_eq!(del.delivered.lock().unwrap()[0].1.as_ref(), br#"{"n":"a"}"#);
        // A duplicate message after the slice ended does nothing.
        let again = run_slice(&ports, &cfg(), &spec(1000, 2000), "w2", far).await.unwrap();
        assert!(matches!(again, SliceOutcome::Done(_)));
        assert_eq!(ids(&del).len(), 4);
    }

    #[tokio::test]
    async fn resumes_from_the_checkpoint_after_a_crash() {
        let mut log = MemoryLog::new(1);
        log.partitions[0] = (0..50).map(|i| event(1000 + i, WH, &format!("e{i}"))).collect();
        log.batch_size = 4;
        let (cps, del, prog) = (MemoryCheckpoints::default(), MemoryDeliverer::default(), MemoryProgress::default());
        *cps.fail_after_saves.lock().unwrap() = Some(5);
        let ports = SlicePorts { log: &log, checkpoints: &cps, deliverer: &del, progress: &prog, delivery_concurrency: 4 };
        let far = Instant::now() + Duration::from_secs(60);
        assert!(run_slice(&ports, &cfg(), &spec(1000, 2000), "w1", far).await.is_err());
        let before = ids(&del).len();
        assert!(before > 0 && before < 50);
        *cps.fail_after_saves.lock().unwrap() = None;
        // The dead worker's lease is still held: a duplicate message is refused.
        assert_eq!(run_slice(&ports, &cfg(), &spec(1000, 2000), "w2", far).await.unwrap(), SliceOutcome::Busy);
        cps.expire_leases();
        let outcome = run_slice(&ports, &cfg(), &spec(1000, 2000), "w2", far).await.unwrap();
        let SliceOutcome::Done(c) = outcome else { panic!("{outcome:?}") };
        let all = ids(&del);
        let unique: HashSet<&String> = all.iter().collect();
        assert_eq!(unique.len(), 50, "nothing lost");
        assert!(all.len() - 50 <= 4, "redelivered at most one batch: {}", all.len() - 50);
        assert_eq!(c.events_scanned, 50);
    }

    #[tokio::test]
    async fn continues_before_the_deadline_and_stops_when_cancelled() {
        let mut log = MemoryLog::new(1);
        log.partitions[0] = (0..10).map(|i| event(1000 + i, WH, &format!("e{i}"))).collect();
        let (cps, del, prog) = (MemoryCheckpoints::default(), MemoryDeliverer::default(), MemoryProgress::default());
        let ports = SlicePorts { log: &log, checkpoints: &cps, deliverer: &del, progress: &prog, delivery_concurrency: 1 };
        let now = Instant::now();
        let outcome = run_slice(&ports, &cfg(), &spec(1000, 2000), "w1", now).await.unwrap();
        assert!(matches!(outcome, SliceOutcome::Continue(_)), "{outcome:?}");
        assert_eq!(ids(&del).len(), 3, "one batch, then the deadline");
        // The continuation takes the released lease at once and finishes.
        let far = Instant::now() + Duration::from_secs(60);
        *prog.state.lock().unwrap() = JobState::Cancelled;
        let outcome = run_slice(&ports, &cfg(), &spec(1000, 2000), "w2", far).await.unwrap();
        assert!(matches!(outcome, SliceOutcome::Cancelled(_)), "{outcome:?}");
        assert_eq!(ids(&del).len(), 6, "stopped after the batch that saw the cancel");
    }

    #[tokio::test]
    async fn empty_and_past_the_end_windows_complete() {
        let log = sample_log();
        let (cps, del, prog) = (MemoryCheckpoints::default(), MemoryDeliverer::default(), MemoryProgress::default());
        let ports = SlicePorts { log: &log, checkpoints: &cps, deliverer: &del, progress: &prog, delivery_concurrency: 1 };
        let far = Instant::now() + Duration::from_secs(60);
        let outcome = run_slice(&ports, &cfg(), &spec(5000, 6000), "w1", far).await.unwrap();
        assert_eq!(outcome, SliceOutcome::Done(Counters::default()));
        let mut s = spec(1100, 1400);
        s.slice_index = 1;
        let outcome = run_slice(&ports, &cfg(), &s, "w1", far).await.unwrap();
        assert_eq!(outcome, SliceOutcome::Done(Counters::default()));
        assert!(ids(&del).is_empty());
    }

    #[tokio::test]
    async fn failed_deliveries_are_counted_and_recorded() {
        let log = sample_log();
        let (cps, del, prog) = (MemoryCheckpoints::default(), MemoryDeliverer::default(), MemoryProgress::default());
        del.fail.lock().unwrap().push("c".into());
        let ports = SlicePorts { log: &log, checkpoints: &cps, deliverer: &del, progress: &prog, delivery_concurrency: 2 };
        let far = Instant::now() + Duration::from_secs(60);
        let SliceOutcome::Done(c) = run_slice(&ports, &cfg(), &spec(1000, 2000), "w1", far).await.unwrap() else {
            panic!()
        };
        assert_eq!((c.events_delivered, c.delivery_failures), (3, 1));
        let failures = prog.failures.lock().unwrap();
        assert_eq!(failures.len(), 1);
        assert_eq!(failures[0].event_id, "c");
        assert_eq!(failures[0].last_status, Some(400));
    }
}
