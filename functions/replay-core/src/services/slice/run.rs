//! The slice's driver: the I/O around the decider (decider.rs). Records are
//! read while earlier events are in flight, up to DELIVERY_WINDOW unsettled;
//! the lease and heartbeat go on beside it (keeper.rs); every request is
//! bounded by the time the invocation and the lease have left. Stopping, it
//! starts no request, lets those in flight finish and checkpoints exactly
//! what was settled. Every decision is the decider's: this file reads,
//! sends, writes and waits, in an order fixed by a biased `select!`.

use super::decider::{Attempted, Decider, Start};
use super::keeper::{lease_guard, lock, Budget, Keeper, Shared, Stop};
use super::now;
use super::outcomes::collect_outcomes;
use super::retry::{KafkaRetry, RateLimiter};
use super::scan::{recv, Scan};
use super::{SliceOutcome, SlicePorts, SliceSpec};
use crate::config::WorkerConfig;
use crate::domain::checkpoint::Lease;
use crate::domain::pace::{Load, Pace, SlicePace};
use crate::domain::retry::MIN_ATTEMPT;
use crate::error::{Error, Result};
use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tracing::{info, instrument, warn};

/// How often the loop looks at the deadline and the stop signal when nothing else happens.
const TICK: Duration = Duration::from_millis(100);

/// The log line with a run's peak memory (docs/guarantees.md, "Bounds").
pub const PEAK_MEMORY: &str = "slice memory at its peak";

type InFlight<'a> = FuturesUnordered<BoxFuture<'a, Attempted>>;

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
    let acquired_at = now();
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
    // Jitter is seeded by the slice and its lease: a replayed run decides alike.
    let seed = xxhash_rust::xxh3::xxh3_64(format!("{key}#{}", lease.token).as_bytes());
    let decider = Decider::new(cfg, spec, cp, acquired_at, seed);
    // The keeper's beats before the first commit report what the checkpoint
    // counts, events settled ahead of its position included: an earlier run
    // may have listed a failure among them, and a slice ended from its last
    // beat must never count fewer failures than it listed.
    let shared = Mutex::new(Shared {
        counters: decider.progress_counters(),
        position: decider.checkpoint().position,
        stop: None,
        pace: SlicePace::default(),
    });
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
    let concurrency = ports.delivery_concurrency.max(1);
    // Where the job's latest slice left the pace, if one beat lately.
    let pace =
        cfg.adaptive_pace.then(|| spec.pace.map_or_else(|| Pace::new(concurrency), |p| Pace::resume(concurrency, p)));
    lock(&shared).pace =
        pace.as_ref().map_or(SlicePace { in_flight: concurrency as u32, baseline_ms: None }, Pace::report);
    let pace = Mutex::new(pace);
    let driver = Driver {
        ports,
        cfg,
        spec,
        key: &key,
        lease: &lease,
        budget: &budget,
        limiter: &limiter,
        pace: &pace,
        shared: &shared,
        deadline,
    };
    let engine = driver.run(decider);
    tokio::pin!(keeper, engine);
    let mut keeper_running = true;
    let result = loop {
        tokio::select! {
            biased;
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

pub(super) struct Driver<'a> {
    pub(super) ports: &'a SlicePorts<'a>,
    pub(super) cfg: &'a WorkerConfig,
    pub(super) spec: &'a SliceSpec,
    pub(super) key: &'a str,
    pub(super) lease: &'a Lease,
    pub(super) budget: &'a Budget,
    pub(super) limiter: &'a RateLimiter,
    /// The slice's requests in flight at most, following the receiver (None: the share, fixed).
    pub(super) pace: &'a Mutex<Option<Pace>>,
    pub(super) shared: &'a Mutex<Shared>,
    pub(super) deadline: Instant,
}

impl<'a> Driver<'a> {
    fn stop_reason(&self) -> Option<Stop> {
        let mut shared = lock(self.shared);
        // No request may start once its full timeout would run into the
        // invocation's margin: the slice stops starting them and continues.
        let last_start = self.deadline.checked_sub(self.cfg.deadline_margin / 2 + self.cfg.retry.request_timeout);
        if shared.stop.is_none() && last_start.is_none_or(|t| now() >= t) {
            info!("deadline near; stopping to continue in a new invocation");
            shared.stop = Some(Stop::Deadline);
        }
        shared.stop
    }

    /// Requests it may have in flight now.
    fn window(&self) -> usize {
        let pace = self.pace.lock().unwrap_or_else(|p| p.into_inner());
        pace.as_ref().map_or(self.ports.delivery_concurrency.max(1), Pace::window)
    }

    /// An answer's word on the receiver's load, for the pace.
    fn answered(&self, done: &Attempted) {
        let Some(attempt) = &done.attempt else { return };
        if let Some(pace) = self.pace.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
            let at = now();
            pace.answered(Load::of(attempt), at.saturating_duration_since(done.sent_at), at);
            // What the next heartbeat reports as the slice's pace.
            lock(self.shared).pace = pace.report();
        }
    }

    pub(super) fn stop(&self, reason: Stop) {
        lock(self.shared).stop.get_or_insert(reason);
        self.budget.stop()
    }

    async fn run(self, mut d: Decider<'a>) -> Result<SliceOutcome> {
        // Failures the last run counted but may have stopped before listing.
        let unlisted = std::mem::take(&mut d.cp.unlisted);
        if let Some(outcome) = self.list_failures(&d, &unlisted).await? {
            return Ok(outcome);
        }
        if d.checkpoint().done {
            self.ports.checkpoints.release(self.key, self.lease).await?;
            let cp = d.checkpoint();
            return Ok(SliceOutcome::Done {
                counters: cp.counters,
                tally: cp.tally.clone(),
                lease_token: self.lease.token,
            });
        }
        let mut retry = KafkaRetry::new(self.deadline.checked_sub(self.cfg.deadline_margin).unwrap_or(self.deadline));
        if let Some(outcome) = self.ensure_ranges(&mut d, &mut retry).await? {
            return Ok(outcome);
        }
        if self.spec.filter.only_failed {
            // Each run reads the outcomes again: they are not checkpointed.
            let outcomes = collect_outcomes(self.ports.log, self.spec, self.cfg, &d.checkpoint().ranges).await?;
            info!(events_with_outcome = outcomes.len(), "logged delivery outcomes read");
            d.outcomes = Some(outcomes);
        }
        let cp = d.checkpoint();
        info!(ranges = ?cp.ranges, position = ?cp.position, pauses = cp.pauses, "slice ranges");
        let outcome = self.drive(&mut d, retry).await;
        let peak = d.peak_memory();
        info!(
            held_bytes = peak.held_bytes,
            unsettled_bytes = peak.unsettled_bytes,
            dedup_ids = peak.dedup_ids,
            "{PEAK_MEMORY}"
        );
        outcome
    }

    /// Reads, delivers and commits until the slice ends or stops.
    async fn drive(&self, d: &mut Decider<'a>, mut retry: KafkaRetry) -> Result<SliceOutcome> {
        let partitions = d.checkpoint().ranges.len();
        let mut in_flight: InFlight<'a> = FuturesUnordered::new();
        let mut partition = d.start_partition();
        let mut scan: Option<Scan> = None;
        loop {
            if scan.is_none() && partition < partitions && self.stop_reason().is_none() {
                scan = Some(self.open(d, partition, None).await?);
            }
            self.start_attempts(d, &mut in_flight);
            if let Some(outcome) = self.commit(d, false).await? {
                return Ok(outcome);
            }
            if let Some(reason) = self.stop_reason() {
                if in_flight.is_empty() {
                    return self.stop_now(d, reason).await;
                }
            } else if scan.is_none() && partition >= partitions && in_flight.is_empty() {
                if d.is_empty() {
                    return self.finish(d).await;
                }
                if let Some(reason) = d.settle_leftovers() {
                    self.stop(reason);
                }
            } else if in_flight.is_empty() && d.wedged() {
                if let Some(reason) = d.settle_leftovers() {
                    self.stop(reason);
                }
            }
            let reading = scan.is_some() && self.stop_reason().is_none() && d.has_room();
            // A retry that is due but cannot start (every slot busy, stopping)
            // waits for an attempt to end, not in a loop that never sleeps.
            let can_start = self.can_start() && in_flight.len() < self.window();
            let wait = match d.next_due() {
                Some(due) if can_start => due.saturating_duration_since(now()).clamp(Duration::from_millis(1), TICK),
                _ => TICK,
            };
            tokio::select! {
                biased;
                Some(done) = in_flight.next(), if !in_flight.is_empty() => {
                    self.answered(&done);
                    if let Some(reason) = d.attempted(done, now()) {
                        self.stop(reason);
                    }
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
                            if d.intake(partition, batch) {
                                info!(at = s.from, "the watermark passed the window's end: partition read");
                                scan = None;
                                d.end_partition(partition);
                                partition += 1;
                            }
                        }
                        Some(Err(Error::RecordsExpired { next_offset })) => {
                            let reader = s.reader.clone();
                            scan = self.after_expiry(d, partition, next_offset, reader, &mut retry).await?;
                            if scan.is_none() {
                                d.end_partition(partition);
                                partition += 1;
                            }
                        }
                        Some(Err(e)) => {
                            // The broker restarting, a leader moving: reopen where the
                            // last batch ended, so nothing is skipped or repeated.
                            retry.wait_or_fail(e).await?;
                            let (from, reader) = (s.from, s.reader.clone());
                            scan = Some(self.open(d, partition, Some((from, reader))).await?);
                        }
                        None if s.from < d.checkpoint().ranges[partition].end => {
                            // The reading thread stopped short of the range's end without
                            // saying why: reopen where it stopped rather than skip the rest.
                            warn!(at = s.from, end = d.checkpoint().ranges[partition].end, "scan ended early; reopening");
                            retry.wait_or_fail(Error::Internal("scan ended before its range's end".into())).await?;
                            let (from, reader) = (s.from, s.reader.clone());
                            scan = Some(self.open(d, partition, Some((from, reader))).await?);
                        }
                        None => {
                            // The end of the range as it was found: this partition is read.
                            scan = None;
                            d.end_partition(partition);
                            partition += 1;
                        }
                    }
                }
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Whether new attempts may start: not stopping, the lease held, and a
    /// full request timeout left in the invocation (see `Budget`).
    fn can_start(&self) -> bool {
        self.stop_reason().is_none()
            && self.budget.lease_left() > MIN_ATTEMPT
            && self.budget.invocation_left() >= self.cfg.retry.request_timeout
    }

    /// Starts the attempts the decider has due, while concurrency and the
    /// budget allow, unless the slice is stopping. Each waits for its rate
    /// slot, then goes only if its full request timeout still fits.
    fn start_attempts(&self, d: &mut Decider<'a>, in_flight: &mut InFlight<'a>) {
        if !self.can_start() {
            return;
        }
        let free = self.window().saturating_sub(in_flight.len());
        for Start { id, delivery } in d.next_attempts(now(), free) {
            let (deliverer, budget, rule, slot) =
                (self.ports.deliverer, self.budget, &self.cfg.retry, self.limiter.slot());
            in_flight.push(Box::pin(async move {
                if let Some(slot) = slot {
                    tokio::time::sleep_until(slot.into()).await;
                }
                let sent_at = now();
                // The slot wait may have eaten into the time left: the request
                // goes only if its full timeout still fits, else to the next
                // run; and only while the lease is held, since a worker that
                // stalled (a frozen process) first sends after the stall, when
                // the slice may be another's and its job ended.
                let lease_held = budget.lease_left() > MIN_ATTEMPT;
                let attempt = match rule.timeout(budget.invocation_left()).filter(|_| lease_held) {
                    Some(timeout) => Some(deliverer.attempt(&delivery, timeout).await),
                    None => None,
                };
                Attempted { id, delivery, sent_at, attempt }
            }));
        }
    }

    /// Nothing in flight: checkpoint what is settled and stop for `reason`.
    async fn stop_now(&self, d: &mut Decider<'a>, reason: Stop) -> Result<SliceOutcome> {
        if reason == Stop::LeaseLost {
            return Ok(SliceOutcome::LeaseLost);
        }
        // The receiver's pause outranks a deadline, a circuit or a wait that
        // stopped the slice first: its event may have been delivered with it.
        let reason = if d.receiver_pause.is_some() && reason != Stop::Cancelled { Stop::ReceiverPause } else { reason };
        if matches!(reason, Stop::Circuit | Stop::Wait(_)) {
            d.paused();
        }
        if let Some(outcome) = self.commit(d, true).await? {
            return Ok(outcome);
        }
        let (token, cp) = (self.lease.token, d.checkpoint());
        if reason == Stop::Cancelled {
            info!(position = ?cp.position, "job cancelled; slice stopped");
            return Ok(SliceOutcome::Cancelled { counters: d.progress_counters(), lease_token: token });
        }
        if matches!(reason, Stop::JobPaused | Stop::ReceiverPause) {
            // Free the lease first: the resume may hand the slice to another
            // worker as soon as the ledger parks it.
            self.ports.checkpoints.release(self.key, self.lease).await?;
            let position = cp.position;
            let receiver = if reason == Stop::ReceiverPause { d.receiver_pause.take() } else { None };
            info!(?position, by_receiver = receiver.is_some(), "job paused; slice stopped at its checkpoint");
            return Ok(SliceOutcome::JobPaused { counters: d.progress_counters(), lease_token: token, receiver });
        }
        let pause = match reason {
            Stop::Circuit => Some(self.cfg.circuit_pause),
            Stop::Wait(asked) => Some(asked),
            _ => None,
        };
        if pause.is_some() {
            // A job cancelled during the pause has this slice ended by the
            // sweeper, with the counters its last beat left: leave them whole.
            let (job, index, counters) = (&self.spec.job_id, self.spec.slice_index, d.progress_counters());
            let pace = lock(self.shared).pace;
            match self.ports.progress.heartbeat(job, index, token, &counters, false, pace).await {
                Err(Error::LeaseLost) => return Ok(SliceOutcome::LeaseLost),
                Err(e) => return Err(e),
                Ok(_) => {}
            }
        }
        self.ports.checkpoints.release(self.key, self.lease).await?;
        if let Some(delay) = pause {
            warn!(pauses = cp.pauses, ?delay, "slice paused");
            return Ok(SliceOutcome::Paused { delay, lease_token: token });
        }
        info!(position = ?cp.position, "continuing in a new invocation");
        Ok(SliceOutcome::Continue(cp.counters))
    }

    async fn finish(&self, d: &mut Decider<'a>) -> Result<SliceOutcome> {
        d.finished();
        if let Some(outcome) = self.commit(d, true).await? {
            return Ok(outcome);
        }
        let cp = d.checkpoint();
        debug_assert!(cp.counters.adds_up(), "{:?}", cp.counters);
        // A duplicate message for an ended slice then sees `done` at once.
        self.ports.checkpoints.release(self.key, self.lease).await?;
        Ok(SliceOutcome::Done { counters: cp.counters, tally: cp.tally.clone(), lease_token: self.lease.token })
    }
}
