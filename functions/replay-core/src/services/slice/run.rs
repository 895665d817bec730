//! The slice loop. Reading, deciding and delivering overlap: records are read
//! while earlier events are in flight, up to DELIVERY_WINDOW unsettled
//! events; the lease and heartbeat go on beside it (keeper.rs); every
//! request is bounded by the time the invocation and the lease have left.
//! When it must stop (cancel, deadline, circuit, lease lost) it starts no new
//! request, lets those in flight finish, and checkpoints exactly what was
//! settled, so nothing is repeated or skipped.

use super::keeper::{lease_guard, lock, Keeper, Shared, Stop};
use super::outcomes::{collect_outcomes, Outcomes};
use super::queue::{CommitQueue, Entry, State};
use super::range::find_ranges;
use super::retry::{KafkaRetry, RateLimiter};
use super::{SliceOutcome, SlicePorts, SliceSpec};
use crate::config::WorkerConfig;
use crate::domain::checkpoint::{Checkpoint, Lease, Position, Settled};
use crate::domain::dedup::{event_hash, DedupWindow};
use crate::domain::job::Counters;
use crate::domain::selection::{Bounds, RecordReader, ScanItem, Zone};
use crate::error::{Error, Result};
use crate::ports::{Budget, Delivery, DeliveryOutcome, FailedEvent, ScanBatch, ScanRequest};
use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tracing::{info, instrument, warn};

/// How often the loop looks at the deadline and the stop signal when nothing else happens.
const TICK: Duration = Duration::from_millis(100);
/// Records per scan batch.
const MAX_BATCH_RECORDS: usize = 5_000;

/// Each delivery with the moment its request was sent.
type InFlight<'a> = FuturesUnordered<BoxFuture<'a, (u64, Box<Delivery>, Instant, DeliveryOutcome)>>;

/// Runs (or resumes) one slice until it ends, the deadline nears, the job is
/// cancelled, the receiver looks down, or the lease is lost.
#[instrument(skip_all, fields(job_id = %spec.job_id, slice = spec.slice_index))]
pub async fn run_slice(
    ports: &SlicePorts<'_>,
    cfg: &WorkerConfig,
    spec: &SliceSpec,
    owner: &str,
    deadline: Instant,
) -> Result<SliceOutcome> {
    let key = spec.checkpoint_key();
    let acquired_at = Instant::now();
    let Some((lease, cp)) = ports.checkpoints.acquire(&key, owner, cfg.lease_ttl.as_millis() as u64).await? else {
        info!("slice is leased by another worker; skipping duplicate message");
        return Ok(SliceOutcome::Busy);
    };
    // Requests end half the margin before the deadline: the other half is for
    // the last checkpoint and the continuation message.
    let budget = Budget::new(
        deadline.checked_sub(cfg.deadline_margin / 2).unwrap_or(acquired_at),
        acquired_at + cfg.lease_ttl - lease_guard(cfg.lease_ttl),
    );
    let shared = Mutex::new(Shared { counters: cp.counters, position: cp.position, stop: None });
    let keeper = Keeper {
        ports,
        spec,
        key: &key,
        lease: &lease,
        ttl: cfg.lease_ttl,
        every: cfg.heartbeat_every.max(Duration::from_millis(50)),
        budget: &budget,
        shared: &shared,
    }
    .run();
    let limiter = RateLimiter::new(cfg.delivery_rate_per_second);
    let engine = Engine::new(ports, cfg, spec, &key, &lease, &budget, &limiter, &shared, cp, deadline).run();
    tokio::pin!(keeper, engine);
    let mut keeper_running = true;
    let result = loop {
        tokio::select! {
            result = &mut engine => break result,
            () = &mut keeper, if keeper_running => keeper_running = false,
        }
    };
    if let Err(e) = &result {
        // Free the slice at once, so the message's retry need not wait out the lease.
        if let Err(release) = ports.checkpoints.release(&key, &lease).await {
            warn!(error = %release, "could not release the lease after an error");
        }
        warn!(error = %e, retryable = e.is_retryable(), "slice stopped by an error; the checkpoint is kept");
    }
    result
}

struct Engine<'a> {
    ports: &'a SlicePorts<'a>,
    cfg: &'a WorkerConfig,
    spec: &'a SliceSpec,
    key: &'a str,
    lease: &'a Lease,
    budget: &'a Budget,
    limiter: &'a RateLimiter,
    shared: &'a Mutex<Shared>,
    deadline: Instant,
    bounds: Bounds,
    /// The committed state: what the checkpoint says.
    cp: Checkpoint,
    dedup: DedupWindow,
    queue: CommitQueue,
    /// Queued entries, to start in log order.
    to_start: BTreeSet<u64>,
    /// Events settled after the checkpoint's position by an earlier run.
    ahead: HashMap<u64, Settled>,
    /// Items before it only rebuild the dedup set (an earlier run settled them).
    resume_at: Position,
    /// Settled failures not written to the failure list yet.
    failures: Vec<FailedEvent>,
    /// Requested event ids seen, not recorded yet (an `event_ids` selection).
    found: Vec<String>,
    /// `only: failed`: the logged delivery outcomes of the slice's events.
    outcomes: Option<HashMap<u64, Outcomes>>,
    consecutive_down: u32,
    /// When the first of the current run of down-looking failures was seen.
    /// Only a success sent after it says the receiver is back: one sent
    /// before (slow, answered as the outage began) says nothing about now.
    down_since: Option<Instant>,
    give_up: bool,
    events_since_save: u64,
    last_save: Instant,
    saved_position: Position,
    /// The position of the last entry pushed.
    last_position: Position,
}

#[allow(clippy::too_many_arguments)]
impl<'a> Engine<'a> {
    fn new(
        ports: &'a SlicePorts<'a>,
        cfg: &'a WorkerConfig,
        spec: &'a SliceSpec,
        key: &'a str,
        lease: &'a Lease,
        budget: &'a Budget,
        limiter: &'a RateLimiter,
        shared: &'a Mutex<Shared>,
        cp: Checkpoint,
        deadline: Instant,
    ) -> Self {
        let bounds = Bounds {
            from: spec.window.from.0,
            to: spec.window.to.0,
            lookback_ms: cfg.dedup_lookback_ms,
            skew_ms: cfg.skew_ms,
        };
        let dedup = DedupWindow::from_legacy_bytes(&cp.legacy_dedup);
        Self {
            ports,
            cfg,
            spec,
            key,
            lease,
            budget,
            limiter,
            shared,
            deadline,
            bounds,
            ahead: cp.ahead.iter().copied().collect(),
            resume_at: cp.position,
            saved_position: cp.position,
            last_position: cp.position,
            cp,
            dedup,
            queue: CommitQueue::new(),
            to_start: BTreeSet::new(),
            failures: Vec::new(),
            found: Vec::new(),
            outcomes: None,
            consecutive_down: 0,
            down_since: None,
            give_up: false,
            events_since_save: 0,
            last_save: Instant::now(),
        }
    }

    fn ttl_ms(&self) -> u64 {
        self.cfg.lease_ttl.as_millis() as u64
    }

    fn stop_reason(&self) -> Option<Stop> {
        let mut shared = lock(self.shared);
        if shared.stop.is_none() && Instant::now() + self.cfg.deadline_margin >= self.deadline {
            info!("deadline near; stopping to continue in a new invocation");
            shared.stop = Some(Stop::Deadline);
        }
        shared.stop
    }

    fn stop(&self, reason: Stop) {
        let mut shared = lock(self.shared);
        shared.stop.get_or_insert(reason);
        drop(shared);
        self.budget.stop();
    }

    async fn run(mut self) -> Result<SliceOutcome> {
        if self.cp.done {
            self.ports.checkpoints.release(self.key, self.lease).await?;
            return Ok(SliceOutcome::Done {
                counters: self.cp.counters,
                tally: self.cp.tally.clone(),
                lease_token: self.lease.token,
            });
        }
        let mut retry = KafkaRetry::new(self.deadline.checked_sub(self.cfg.deadline_margin).unwrap_or(self.deadline));
        if let Some(outcome) = self.ensure_ranges(&mut retry).await? {
            return Ok(outcome);
        }
        if self.spec.filter.only_failed {
            // Each run reads the outcomes again: they are not checkpointed.
            let outcomes = collect_outcomes(self.ports.log, self.spec, self.cfg, &self.cp.ranges).await?;
            info!(events_with_outcome = outcomes.len(), "logged delivery outcomes read");
            self.outcomes = Some(outcomes);
        }
        info!(ranges = ?self.cp.ranges, position = ?self.cp.position, pauses = self.cp.pauses, "slice ranges");
        let mut in_flight: InFlight<'a> = FuturesUnordered::new();
        let mut partition = self.start_partition();
        let mut scan: Option<Scan> = None;
        loop {
            if scan.is_none() && partition < self.cp.ranges.len() && self.stop_reason().is_none() {
                scan = Some(self.open(partition, None).await?);
            }
            self.start_deliveries(&mut in_flight);
            if let Some(outcome) = self.commit(false).await? {
                return Ok(outcome);
            }
            if let Some(reason) = self.stop_reason() {
                if in_flight.is_empty() {
                    return self.stop_now(reason).await;
                }
            } else if scan.is_none() && partition >= self.cp.ranges.len() && in_flight.is_empty() {
                if self.queue.is_empty() {
                    return self.finish().await;
                }
                if !self.to_start.is_empty() {
                    // Waiting for a rate slot or the budget: the tick comes back here.
                } else if self.queue.unsettled_events > 0 && self.to_start.is_empty() {
                    // Held or provisional entries with nothing in flight: resolve them now.
                    self.release_held();
                    self.resolve_provisional_as_failed();
                }
            }
            let reading = scan.is_some() && self.stop_reason().is_none() && self.has_room();
            tokio::select! {
                biased;
                Some((id, delivery, sent_at, outcome)) = in_flight.next(), if !in_flight.is_empty() => {
                    self.settle(id, delivery, sent_at, outcome);
                }
                batch = recv(&mut scan), if reading => {
                    let Some(s) = scan.as_mut() else { continue };
                    match batch {
                        Some(Ok(batch)) => {
                            retry.reset();
                            s.from = batch.next_offset;
                            if let Some(reader) = &batch.reader {
                                s.reader = reader.clone();
                            }
                            let done = self.take(partition, batch);
                            if done {
                                info!(at = s.from, "the watermark passed the window's end: partition read");
                                scan = None;
                                self.end_partition(partition);
                                partition += 1;
                            }
                        }
                        Some(Err(Error::RecordsExpired { next_offset })) => {
                            let reader = s.reader.clone();
                            let low = self.expired(partition, next_offset).await?;
                            scan = Some(self.open(partition, Some((low, reader))).await?);
                        }
                        Some(Err(e)) => {
                            // The broker restarting, a leader moving: reopen where the
                            // last batch ended, so nothing is skipped or repeated.
                            retry.wait_or_fail(e).await?;
                            let (from, reader) = (s.from, s.reader.clone());
                            scan = Some(self.open(partition, Some((from, reader))).await?);
                        }
                        None if s.from < self.cp.ranges[partition].end => {
                            // The reading thread stopped short of the range's end without
                            // saying why: reopen where it stopped rather than skip the rest.
                            warn!(at = s.from, end = self.cp.ranges[partition].end, "scan ended early; reopening");
                            retry.wait_or_fail(Error::Internal("scan ended before its range's end".into())).await?;
                            let (from, reader) = (s.from, s.reader.clone());
                            scan = Some(self.open(partition, Some((from, reader))).await?);
                        }
                        None => {
                            // The end of the range as it was found: this partition is read.
                            scan = None;
                            self.end_partition(partition);
                            partition += 1;
                        }
                    }
                }
                () = tokio::time::sleep(TICK) => {}
            }
        }
    }

    // ---- ranges and scans ----

    /// Finds the slice's ranges on its first run and checkpoints them. A
    /// version 1 checkpoint knows one range without its partition or end:
    /// they are filled in.
    async fn ensure_ranges(&mut self, retry: &mut KafkaRetry) -> Result<Option<SliceOutcome>> {
        if self.cp.ranges.len() == 1 && self.cp.ranges[0].partition == u32::MAX {
            let partition = self.spec.partitions.first().copied().unwrap_or(0);
            let (_, high) = self.ports.log.watermarks(partition).await?;
            self.cp.ranges[0].partition = partition;
            self.cp.ranges[0].end = high;
        }
        if self.cp.started() {
            return Ok(None);
        }
        let (ranges, expired) = loop {
            match find_ranges(self.ports.log, self.spec, &self.bounds).await {
                Ok(found) => break found,
                Err(e) => retry.wait_or_fail(e).await?,
            }
        };
        self.cp.position = Position { partition: 0, offset: ranges.first().map_or(0, |r| r.scan_from) };
        self.cp.ranges = ranges;
        self.cp.counters.records_expired += expired;
        self.resume_at = self.cp.position;
        self.saved_position = self.cp.position;
        self.last_position = self.cp.position;
        self.save().await
    }

    fn start_partition(&self) -> usize {
        // Earlier partitions are read again only to rebuild the dedup set.
        if self.cp.legacy_dedup.is_empty() && self.cp.watermark.is_some() {
            0
        } else {
            self.cp.position.partition
        }
    }

    /// Opens a scan of a partition: at `at` (a reopen), at the resume
    /// position, or early enough before it to rebuild the dedup set.
    async fn open(&mut self, partition: usize, at: Option<(i64, RecordReader)>) -> Result<Scan> {
        let range = self.cp.ranges[partition];
        let (from, reader) = match at {
            Some(at) => at,
            None => {
                let reader = RecordReader::new(self.spec.webhook_id.as_str(), self.bounds, self.cfg.anomaly_ms);
                let resume = self.resume_at;
                let from = if !self.cp.legacy_dedup.is_empty() || partition > resume.partition {
                    if partition == resume.partition {
                        resume.offset
                    } else {
                        range.scan_from
                    }
                } else {
                    let rebuild_from = match self.cp.watermark {
                        Some(w) if !self.multi_partition() => {
                            let at = w.saturating_sub(self.cfg.dedup_lookback_ms + self.cfg.skew_ms);
                            self.ports.log.offset_for_time(range.partition, at).await?.max(range.scan_from)
                        }
                        _ => range.scan_from,
                    };
                    if partition == resume.partition {
                        rebuild_from.min(resume.offset)
                    } else {
                        rebuild_from
                    }
                };
                (from, reader)
            }
        };
        let rx = self.ports.log.scan(ScanRequest {
            partition: range.partition,
            from,
            end: range.end,
            reader: reader.clone(),
            max_batch: MAX_BATCH_RECORDS.min(self.cfg.checkpoint_every_events.max(1) as usize),
            max_batch_bytes: self.cfg.max_batch_bytes,
        })?;
        Ok(Scan { rx, from, reader })
    }

    /// Retention deleted records under a running scan: they are counted and
    /// reading goes on at the oldest retained one.
    async fn expired(&mut self, partition: usize, next_offset: i64) -> Result<i64> {
        let range = self.cp.ranges[partition];
        let (low, _) = self.ports.log.watermarks(range.partition).await?;
        let lost = (low.min(range.end) - next_offset).max(0) as u64;
        warn!(
            partition = range.partition,
            next_offset, low, lost, "records were deleted by retention while the slice read"
        );
        let position = Position { partition, offset: low.max(next_offset) };
        self.push_settled(position, None, Counters { records_expired: lost, ..Counters::default() });
        Ok(low.max(next_offset))
    }

    fn has_room(&self) -> bool {
        self.queue.unsettled_events < self.cfg.delivery_window && self.queue.bytes < self.cfg.max_window_bytes
    }

    // ---- items ----

    fn push_settled(&mut self, position: Position, watermark: Option<i64>, delta: Counters) {
        if position <= self.resume_at && delta == Counters::default() {
            return;
        }
        self.last_position = position.max(self.last_position);
        self.queue.push(Entry::settled(self.last_position, watermark, delta));
    }

    /// Takes a batch in; true when the partition's reading is done.
    fn take(&mut self, partition: usize, batch: ScanBatch) -> bool {
        let mut done = false;
        for item in batch.items {
            match item {
                ScanItem::Others { next_offset, in_window, watermark } => {
                    let position = Position { partition, offset: next_offset };
                    if position > self.resume_at {
                        self.push_settled(
                            position,
                            Some(watermark),
                            Counters { events_scanned: in_window, ..Counters::default() },
                        );
                    }
                    self.watermark_moved(watermark);
                }
                ScanItem::Event { offset, timestamp, zone, watermark, event_id, event_type, payload, .. } => {
                    let position = Position { partition, offset: offset + 1 };
                    let rebuild = position <= self.resume_at;
                    let hash = event_hash(&event_id);
                    if rebuild || zone == Zone::Lookback {
                        self.dedup.first_sighting(hash, timestamp);
                        if !rebuild {
                            self.push_settled(position, Some(watermark), Counters::default());
                        }
                    } else if !self.spec.filter.selects(&event_type, &event_id) {
                        // Not selected: every copy counts as filtered, none enters the dedup set.
                        let delta = Counters {
                            events_scanned: 1,
                            events_matched: 1,
                            events_filtered: 1,
                            ..Counters::default()
                        };
                        self.push_settled(position, Some(watermark), delta);
                    } else {
                        if self.spec.filter.by_id() {
                            self.found.push(event_id.clone());
                        }
                        let delivery = Box::new(Delivery {
                            url: self.spec.url.clone(),
                            message_id: event_id,
                            event_type,
                            body: payload,
                            job_id: self.spec.job_id.clone(),
                            key: self.spec.key.clone(),
                        });
                        self.window_event(position, watermark, hash, timestamp, delivery);
                    }
                    self.watermark_moved(watermark);
                }
                ScanItem::Malformed { offset, watermark, reason, unusable_type, .. } => {
                    let position = Position { partition, offset: offset + 1 };
                    if position > self.resume_at {
                        warn!(offset, %reason, "malformed record set aside");
                        // A lost event only if the selection would have chosen
                        // it: by type (an id list or failed-only never does).
                        let filter = &self.spec.filter;
                        let lost = unusable_type.is_some_and(|t| {
                            filter.event_ids.is_none() && !filter.only_failed && filter.selects(&t, "")
                        });
                        let delta = Counters {
                            events_scanned: 1,
                            malformed: 1,
                            unusable_ids: u64::from(lost),
                            ..Counters::default()
                        };
                        self.push_settled(position, Some(watermark), delta);
                    }
                    self.watermark_moved(watermark);
                }
                ScanItem::Anomaly(a) => {
                    if (Position { partition, offset: a.offset + 1 }) > self.resume_at {
                        warn!(
                            offset = a.offset,
                            timestamp = a.timestamp,
                            log_time = a.watermark,
                            "a record's timestamp is far ahead of the log around it (a producer's clock?)"
                        );
                        let position = self.last_position;
                        self.push_settled(position, None, Counters { clock_anomalies: 1, ..Counters::default() });
                    }
                }
                ScanItem::Done { next_offset } => {
                    let position = Position { partition, offset: next_offset };
                    self.push_settled(position, None, Counters::default());
                    done = true;
                }
            }
        }
        done
    }

    /// An event of the window, on its first sighting in this run.
    fn window_event(&mut self, position: Position, watermark: i64, hash: u64, timestamp: i64, delivery: Box<Delivery>) {
        self.last_position = position.max(self.last_position);
        let found = Counters { events_scanned: 1, events_matched: 1, ..Counters::default() };
        let bytes = delivery.body.len();
        if watermark < self.bounds.settled_start_at() {
            // An earlier copy (from the previous slice's time) can still turn up: decide later.
            let state = State::Held { delivery, hash, timestamp };
            self.queue.push(Entry {
                state,
                hash: Some(hash),
                bytes,
                ..Entry::settled(position, Some(watermark), found)
            });
            return;
        }
        self.decided(position, Some(watermark), hash, timestamp, delivery, found);
    }

    /// Dedup, then: a duplicate, an event an earlier run settled, or one to deliver.
    fn decided(
        &mut self,
        position: Position,
        watermark: Option<i64>,
        hash: u64,
        timestamp: i64,
        delivery: Box<Delivery>,
        found: Counters,
    ) -> Option<u64> {
        if !self.dedup.first_sighting(hash, timestamp) {
            let delta = Counters { duplicates_skipped: 1, ..found };
            self.queue.push(Entry { hash: Some(hash), ..Entry::settled(position, watermark, delta) });
            return None;
        }
        let mut entry = Entry { hash: Some(hash), ..Entry::settled(position, watermark, found) };
        match self.ahead.remove(&hash) {
            Some(Settled::Delivered) => entry.delta.events_delivered += 1,
            // Already in the failure list.
            Some(Settled::Failed) => entry.delta.delivery_failures += 1,
            None => match self.verdict(hash) {
                Verdict::Filtered { without_outcome } => {
                    entry.delta.events_filtered += 1;
                    entry.delta.events_without_outcome += u64::from(without_outcome);
                }
                Verdict::Selected => {
                    entry.delta.events_selected += 1;
                    entry.tally = Some((delivery.event_type.clone(), delivery.body.len() as u64));
                }
                Verdict::Deliver if self.give_up => {
                    entry.delta.delivery_failures += 1;
                    self.failures.push(FailedEvent {
                        event_id: delivery.message_id.clone(),
                        event_type: delivery.event_type.clone(),
                        attempts: 0,
                        last_status: None,
                        error: "not attempted: the receiver stayed down through every pause".into(),
                    });
                }
                Verdict::Deliver => {
                    entry.bytes = delivery.body.len();
                    entry.state = State::Queued(delivery);
                    let id = self.queue.push(entry);
                    self.to_start.insert(id);
                    return Some(id);
                }
            },
        }
        self.queue.push(entry);
        None
    }

    /// What becomes of a selected event seen for the first time: the
    /// failed-only rule, then a dry run's count, else a delivery.
    fn verdict(&self, hash: u64) -> Verdict {
        if let Some(outcomes) = &self.outcomes {
            match outcomes.get(&hash) {
                Some(o) if o.failed && !o.succeeded => {}
                Some(_) => return Verdict::Filtered { without_outcome: false },
                None => return Verdict::Filtered { without_outcome: true },
            }
        }
        if self.spec.filter.dry_run {
            Verdict::Selected
        } else {
            Verdict::Deliver
        }
    }

    /// Several partitions are read one after another, each from the window's
    /// start: the dedup set then keeps the whole window, so copies on both
    /// sides of a partition change are caught.
    fn multi_partition(&self) -> bool {
        self.cp.ranges.len() > 1
    }

    fn watermark_moved(&mut self, watermark: i64) {
        // Held events are decided first, against the set as it was: the
        // watermark can jump far in one step (a quiet stretch of the log).
        if watermark >= self.bounds.settled_start_at() {
            self.release_held();
        }
        if !self.multi_partition() {
            self.dedup.evict_older_than(watermark.saturating_sub(self.cfg.dedup_lookback_ms));
        }
    }

    /// Held events, in log order, now that no earlier copy can turn up.
    fn release_held(&mut self) {
        for id in self.queue.ids_where(|s| matches!(s, State::Held { .. })) {
            let Some(entry) = self.queue.get_mut(id) else { continue };
            let State::Held { delivery, hash, timestamp } = std::mem::replace(&mut entry.state, State::InFlight) else {
                continue;
            };
            if !self.dedup.first_sighting(hash, timestamp) {
                self.queue.settle(id, &Counters { duplicates_skipped: 1, ..Counters::default() });
                continue;
            }
            match self.ahead.remove(&hash) {
                Some(Settled::Delivered) => {
                    self.queue.settle(id, &Counters { events_delivered: 1, ..Counters::default() })
                }
                Some(Settled::Failed) => {
                    self.queue.settle(id, &Counters { delivery_failures: 1, ..Counters::default() })
                }
                None => match self.verdict(hash) {
                    Verdict::Filtered { without_outcome } => {
                        let delta = Counters {
                            events_filtered: 1,
                            events_without_outcome: u64::from(without_outcome),
                            ..Counters::default()
                        };
                        self.queue.settle(id, &delta);
                    }
                    Verdict::Selected => {
                        let tally = (delivery.event_type.clone(), delivery.body.len() as u64);
                        self.queue.settle_counted(id, &Counters { events_selected: 1, ..Counters::default() }, tally);
                    }
                    Verdict::Deliver => self.queue_again(id, delivery),
                },
            }
        }
    }

    fn end_partition(&mut self, partition: usize) {
        self.release_held();
        if let Some(next) = self.cp.ranges.get(partition + 1) {
            let position = Position { partition: partition + 1, offset: next.scan_from };
            self.push_settled(position, None, Counters::default());
        }
    }

    fn queue_again(&mut self, id: u64, delivery: Box<Delivery>) {
        if self.give_up {
            self.failures.push(FailedEvent {
                event_id: delivery.message_id.clone(),
                event_type: delivery.event_type.clone(),
                attempts: 0,
                last_status: None,
                error: "not attempted: the receiver stayed down through every pause".into(),
            });
            self.queue.settle(id, &Counters { delivery_failures: 1, ..Counters::default() });
            return;
        }
        if let Some(entry) = self.queue.get_mut(id) {
            entry.state = State::Queued(delivery);
            self.to_start.insert(id);
        }
    }

    // ---- deliveries ----

    /// Starts queued deliveries in log order while concurrency, rate and
    /// budget allow, unless the slice is stopping.
    fn start_deliveries(&mut self, in_flight: &mut InFlight<'a>) {
        if self.stop_reason().is_some() {
            return;
        }
        while in_flight.len() < self.ports.delivery_concurrency.max(1)
            && self.budget.remaining() > Duration::from_millis(50)
        {
            let Some(&id) = self.to_start.first() else { return };
            self.to_start.remove(&id);
            let Some(entry) = self.queue.get_mut(id) else { continue };
            let State::Queued(delivery) = std::mem::replace(&mut entry.state, State::InFlight) else { continue };
            if self.give_up {
                self.queue_again(id, delivery);
                continue;
            }
            let (deliverer, budget, slot) = (self.ports.deliverer, self.budget, self.limiter.slot());
            in_flight.push(Box::pin(async move {
                if let Some(slot) = slot {
                    tokio::time::sleep_until(slot.into()).await;
                }
                let sent_at = Instant::now();
                let outcome = deliverer.deliver(&delivery, budget).await;
                (id, delivery, sent_at, outcome)
            }));
        }
    }

    fn settle(&mut self, id: u64, delivery: Box<Delivery>, sent_at: Instant, outcome: DeliveryOutcome) {
        match outcome {
            DeliveryOutcome::Delivered { .. } => {
                if self.down_since.is_none_or(|down| sent_at >= down) {
                    self.consecutive_down = 0;
                    self.down_since = None;
                    self.cp.pauses = 0;
                    self.resolve_provisional_as_failed();
                }
                self.queue.settle(id, &Counters { events_delivered: 1, ..Counters::default() });
                self.events_since_save += 1;
            }
            DeliveryOutcome::Failed { attempts, last_status, error } if receiver_down(last_status) => {
                let failure = FailedEvent {
                    event_id: delivery.message_id.clone(),
                    event_type: delivery.event_type.clone(),
                    attempts,
                    last_status,
                    error,
                };
                if let Some(entry) = self.queue.get_mut(id) {
                    entry.state = State::Provisional(delivery, failure);
                }
                self.consecutive_down += 1;
                self.down_since.get_or_insert_with(Instant::now);
                if self.consecutive_down >= self.cfg.circuit_break_after
                    && self.cp.pauses >= self.cfg.circuit_max_pauses
                {
                    // Down again after the last pause, with nothing delivered since
                    // (a delivery resets the pauses: outages hours apart are not one).
                    if !self.give_up {
                        warn!(
                            pauses = self.cp.pauses,
                            "receiver still down after the last pause; failing the remaining events unsent"
                        );
                    }
                    self.give_up = true;
                    self.resolve_provisional_as_failed();
                } else if self.consecutive_down >= self.cfg.circuit_break_after {
                    warn!(failures = self.consecutive_down, "receiver looks down; pausing the slice");
                    self.stop(Stop::Circuit);
                    // Tried again after the pause, not failed.
                    for pid in self.queue.ids_where(|s| matches!(s, State::Provisional(..))) {
                        if let Some(entry) = self.queue.get_mut(pid) {
                            if let State::Provisional(d, _) = std::mem::replace(&mut entry.state, State::InFlight) {
                                entry.state = State::Queued(d);
                                self.to_start.insert(pid);
                            }
                        }
                    }
                }
            }
            DeliveryOutcome::Failed { attempts, last_status, error } => {
                warn!(event_id = %delivery.message_id, attempts, ?last_status, %error, "event could not be delivered");
                self.failures.push(FailedEvent {
                    event_id: delivery.message_id.clone(),
                    event_type: delivery.event_type.clone(),
                    attempts,
                    last_status,
                    error,
                });
                self.queue.settle(id, &Counters { delivery_failures: 1, ..Counters::default() });
                self.events_since_save += 1;
            }
            DeliveryOutcome::Refused { error } => {
                warn!(event_id = %delivery.message_id, %error, "event not sent: refused");
                self.failures.push(FailedEvent {
                    event_id: delivery.message_id.clone(),
                    event_type: delivery.event_type.clone(),
                    attempts: 1,
                    last_status: None,
                    error,
                });
                self.queue.settle(id, &Counters { delivery_failures: 1, ..Counters::default() });
                self.events_since_save += 1;
            }
            DeliveryOutcome::Interrupted { .. } => self.queue_again(id, delivery),
        }
    }

    /// A success after failures that looked like the receiver being down:
    /// those events did fail.
    fn resolve_provisional_as_failed(&mut self) {
        for id in self.queue.ids_where(|s| matches!(s, State::Provisional(..))) {
            let Some(entry) = self.queue.get_mut(id) else { continue };
            if let State::Provisional(_, failure) = std::mem::replace(&mut entry.state, State::InFlight) {
                warn!(event_id = %failure.event_id, attempts = failure.attempts, ?failure.last_status, %failure.error,
                    "event could not be delivered");
                self.failures.push(failure);
                self.queue.settle(id, &Counters { delivery_failures: 1, ..Counters::default() });
                self.events_since_save += 1;
            }
        }
    }

    // ---- checkpoints ----

    /// Moves the committed state past the settled prefix; saves when the
    /// interval (events or time) says so, or always with `force`.
    async fn commit(&mut self, force: bool) -> Result<Option<SliceOutcome>> {
        let done = self.queue.commit();
        if let Some(position) = done.position {
            self.cp.position = position;
            self.cp.counters.add(&done.delta);
            self.cp.tally.add(&done.tally);
            // i64::MIN: the scan had not read enough records to know one yet.
            if let Some(w) = done.watermark.filter(|&w| w > i64::MIN) {
                self.cp.watermark = Some(w);
            }
            let mut shared = lock(self.shared);
            shared.counters = self.cp.counters;
            shared.position = position;
        }
        let due = self.events_since_save >= self.cfg.checkpoint_every_events
            || (self.last_save.elapsed() >= self.cfg.checkpoint_every && self.cp.position != self.saved_position);
        if force || due {
            return self.save().await;
        }
        Ok(None)
    }

    async fn save(&mut self) -> Result<Option<SliceOutcome>> {
        if !self.failures.is_empty() {
            self.ports.progress.record_failures(&self.spec.job_id, &self.failures).await?;
            self.failures.clear();
        }
        if !self.found.is_empty() {
            self.ports.progress.record_found(&self.spec.job_id, &self.found).await?;
            self.found.clear();
        }
        self.cp.ahead = self.queue.ahead();
        let started = Instant::now();
        match self.ports.checkpoints.save(self.key, self.lease, &self.cp, self.ttl_ms()).await {
            Ok(()) => {
                self.budget.extend_lease(started + self.cfg.lease_ttl - lease_guard(self.cfg.lease_ttl));
                self.saved_position = self.cp.position;
                self.events_since_save = 0;
                self.last_save = Instant::now();
                Ok(None)
            }
            Err(Error::LeaseLost) => {
                warn!("lease lost to another worker; stopping");
                self.stop(Stop::LeaseLost);
                Ok(Some(SliceOutcome::LeaseLost))
            }
            Err(e) => Err(e),
        }
    }

    /// Nothing in flight: checkpoint what is settled and stop for `reason`.
    async fn stop_now(&mut self, reason: Stop) -> Result<SliceOutcome> {
        if reason == Stop::LeaseLost {
            return Ok(SliceOutcome::LeaseLost);
        }
        if reason == Stop::Circuit {
            self.cp.pauses += 1;
        }
        if let Some(outcome) = self.commit(true).await? {
            return Ok(outcome);
        }
        let token = self.lease.token;
        match reason {
            Stop::Cancelled => {
                info!(position = ?self.cp.position, "job cancelled; slice stopped");
                Ok(SliceOutcome::Cancelled { counters: self.cp.counters, lease_token: token })
            }
            Stop::Circuit => {
                self.ports.checkpoints.release(self.key, self.lease).await?;
                let delay = self.cfg.circuit_pause;
                warn!(pauses = self.cp.pauses, ?delay, "slice paused");
                Ok(SliceOutcome::Paused { delay, lease_token: token })
            }
            Stop::Deadline | Stop::LeaseLost => {
                self.ports.checkpoints.release(self.key, self.lease).await?;
                info!(position = ?self.cp.position, "continuing in a new invocation");
                Ok(SliceOutcome::Continue(self.cp.counters))
            }
        }
    }

    async fn finish(&mut self) -> Result<SliceOutcome> {
        self.cp.done = true;
        if let Some(outcome) = self.commit(true).await? {
            return Ok(outcome);
        }
        debug_assert!(self.cp.counters.adds_up(), "{:?}", self.cp.counters);
        // A duplicate message for an ended slice then sees `done` at once.
        self.ports.checkpoints.release(self.key, self.lease).await?;
        Ok(SliceOutcome::Done {
            counters: self.cp.counters,
            tally: self.cp.tally.clone(),
            lease_token: self.lease.token,
        })
    }
}

/// What a selected event, seen for the first time, becomes.
enum Verdict {
    Deliver,
    /// A dry run: counted (and tallied), not sent.
    Selected,
    /// Left out by the failed-only rule.
    Filtered {
        without_outcome: bool,
    },
}

/// A partition's scan in progress: where it stands, to reopen it exactly.
struct Scan {
    rx: mpsc::Receiver<Result<ScanBatch>>,
    /// Offset after the last batch taken.
    from: i64,
    reader: RecordReader,
}

async fn recv(scan: &mut Option<Scan>) -> Option<Result<ScanBatch>> {
    match scan {
        Some(s) => s.rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Failures that say the receiver is down or overloaded, not that it refused the event.
fn receiver_down(last_status: Option<u16>) -> bool {
    match last_status {
        None => true,
        Some(status) => status == 429 || status >= 500,
    }
}
