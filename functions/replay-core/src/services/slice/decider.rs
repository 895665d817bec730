//! The slice's decisions, synchronous and pure: what the driver (run.rs)
//! scanned, what one delivery attempt answered and the time it is, in;
//! which attempts to start, what to commit and when to stop, out. No I/O,
//! no clock (every `now` is given) and no randomness of its own (backoff
//! jitter comes from a generator seeded by the driver): the same inputs give
//! the same decisions, which is what the simulation replays.
//!
//! What each part owns: `intake.rs` turns scanned records into entries of
//! the commit queue (the hold rule, the dedup set, the selection);
//! `circuit.rs` decides whether the receiver looks down; `queue.rs` what a
//! checkpoint covers; `domain/retry.rs` the per-event retry rule.

use super::circuit::{Circuit, Verdict as CircuitVerdict};
use super::keeper::Stop;
use super::outcomes::Outcomes;
use super::queue::{CommitQueue, State};
use super::retries::{failure_of, not_attempted, receiver_down, Retrying};
use super::SliceSpec;
use crate::config::WorkerConfig;
use crate::domain::checkpoint::{Checkpoint, PartitionRange, Position, Retried, Settled};
use crate::domain::dedup::DedupWindow;
use crate::domain::job::Counters;
use crate::domain::retry::{Attempt, DeliveryOutcome, Next, Tries};
use crate::domain::selection::Bounds;
use crate::ports::{Delivery, FailedEvent};
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};
use tracing::warn;

/// An attempt the driver is to start.
pub struct Start {
    pub id: u64,
    pub delivery: Box<Delivery>,
}

/// How an attempt the driver started went.
pub struct Attempted {
    pub id: u64,
    pub delivery: Box<Delivery>,
    /// When the request was sent (after its rate slot).
    pub sent_at: Instant,
    /// The attempt; None when its full timeout no longer fit (see `RetryRule::timeout`).
    pub attempt: Option<Attempt>,
}

pub struct Decider<'a> {
    pub(super) cfg: &'a WorkerConfig,
    pub(super) spec: &'a SliceSpec,
    pub(super) bounds: Bounds,
    /// The committed state: what the checkpoint says.
    pub(super) cp: Checkpoint,
    pub(super) dedup: DedupWindow,
    pub(super) queue: CommitQueue,
    /// Queued entries, to start in log order.
    pub(super) to_start: BTreeSet<u64>,
    retrying: BTreeMap<u64, Retrying>,
    /// Events settled after the checkpoint's position by an earlier run, per
    /// event hash in log order: copies further apart than the look-back are
    /// each settled, and each takes its own outcome back (`take_ahead`).
    pub(super) ahead: BTreeMap<u64, VecDeque<Settled>>,
    /// Events an earlier run was still retrying, per event hash: their
    /// retry budget goes on when they are attempted again.
    carried: BTreeMap<u64, Retried>,
    /// Items before it only rebuild the dedup set (an earlier run settled them).
    pub(super) resume_at: Position,
    /// Settled failures not written to the failure list yet.
    pub(super) failures: Vec<FailedEvent>,
    /// Requested event ids seen, not recorded yet (an `event_ids` selection).
    pub(super) found: Vec<String>,
    /// `only: failed`: the logged delivery outcomes of the slice's events.
    pub(super) outcomes: Option<HashMap<u64, Outcomes>>,
    circuit: Circuit,
    rng: StdRng,
    events_since_save: u64,
    last_save: Instant,
    saved_position: Position,
    /// The position of the last entry pushed.
    pub(super) last_position: Position,
    /// Held events (the window's start, before the skew passed) and their
    /// payload bytes: they wait for the log, not for the receiver, so they
    /// do not take room in the delivery window (see `MAX_HELD_WINDOWS`).
    pub(super) held: usize,
    pub(super) held_bytes: usize,
}

/// Held payloads are bounded by this many `MAX_WINDOW_BYTES`; beyond it the
/// held events are decided early (docs/guarantees.md, "Duplicates").
pub const MAX_HELD_WINDOWS: usize = 4;

/// The longest pause a slice takes at once (SQS's longest message delay);
/// a longer `Retry-After` is waited out in several.
pub const MAX_PAUSE: Duration = Duration::from_secs(900);

impl<'a> Decider<'a> {
    /// Starts from a checkpoint at `now`; `seed` drives the backoff's jitter.
    pub fn new(cfg: &'a WorkerConfig, spec: &'a SliceSpec, cp: Checkpoint, now: Instant, seed: u64) -> Self {
        let bounds = Bounds {
            from: spec.window.from.0,
            to: spec.window.to.0,
            lookback_ms: cfg.dedup_lookback_ms,
            skew_ms: cfg.skew_ms,
        };
        Self {
            cfg,
            spec,
            bounds,
            dedup: DedupWindow::from_legacy_bytes(&cp.legacy_dedup),
            ahead: cp.ahead.iter().fold(BTreeMap::new(), |mut ahead, &(hash, settled)| {
                ahead.entry(hash).or_insert_with(VecDeque::new).push_back(settled);
                ahead
            }),
            carried: cp.retries.iter().copied().collect(),
            resume_at: cp.position,
            saved_position: cp.position,
            last_position: cp.position,
            cp,
            queue: CommitQueue::new(),
            to_start: BTreeSet::new(),
            retrying: BTreeMap::new(),
            failures: Vec::new(),
            found: Vec::new(),
            outcomes: None,
            circuit: Circuit::default(),
            rng: StdRng::seed_from_u64(seed),
            events_since_save: 0,
            last_save: now,
            held: 0,
            held_bytes: 0,
        }
    }

    pub fn checkpoint(&self) -> &Checkpoint {
        &self.cp
    }

    /// The slice's ranges, found on its first run, with what retention had
    /// already deleted of them.
    pub fn ranges_found(&mut self, ranges: Vec<PartitionRange>, expired: u64) {
        self.cp.position = Position { partition: 0, offset: ranges.first().map_or(0, |r| r.scan_from) };
        self.cp.ranges = ranges;
        self.cp.counters.records_expired += expired;
        self.resume_at = self.cp.position;
        self.saved_position = self.cp.position;
        self.last_position = self.cp.position;
    }

    /// Room for more records: unsettled events and their bytes under the
    /// window. Held events are not counted: only reading on can release them.
    pub fn has_room(&self) -> bool {
        self.queue.unsettled_events - self.held < self.cfg.delivery_window
            && self.queue.bytes - self.held_bytes < self.cfg.max_window_bytes
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Nothing is queued to start, yet events are unsettled (held, or failed
    /// provisionally) while nothing is in flight and nothing is left to read:
    /// they are decided now.
    pub fn settle_leftovers(&mut self) {
        if self.to_start.is_empty() && self.queue.unsettled_events > 0 {
            self.release_held();
            self.resolve_provisional_as_failed();
        }
    }

    // ---- attempts ----

    /// Up to `free` queued events due at `now`, in log order.
    pub fn next_attempts(&mut self, now: Instant, free: usize) -> Vec<Start> {
        let due: Vec<u64> = self
            .to_start
            .iter()
            .copied()
            .filter(|id| self.retrying.get(id).and_then(|r| r.not_before).is_none_or(|t| t <= now))
            .take(free)
            .collect();
        let mut starts = Vec::with_capacity(due.len());
        for id in due {
            self.to_start.remove(&id);
            let Some(entry) = self.queue.get_mut(id) else { continue };
            let State::Queued(delivery) = std::mem::replace(&mut entry.state, State::InFlight) else { continue };
            if self.circuit.gave_up() {
                self.queue_again(id, delivery);
                continue;
            }
            starts.push(Start { id, delivery });
        }
        starts
    }

    /// When the first queued event waiting for a retry is due, if one is.
    pub fn next_due(&self) -> Option<Instant> {
        self.to_start.iter().filter_map(|id| self.retrying.get(id).and_then(|r| r.not_before)).min()
    }

    /// One attempt ended at `now`: the retry rule says whether the event
    /// waits for another; an ended delivery is settled. Returns a reason to
    /// stop when the circuit opens or the receiver asks for a long wait.
    pub fn attempted(&mut self, done: Attempted, now: Instant) -> Option<Stop> {
        let Attempted { id, delivery, sent_at, attempt } = done;
        if !self.retrying.contains_key(&id) {
            let carried = self.queue.get_mut(id).and_then(|e| e.hash).and_then(|h| self.carried.remove(&h));
            self.retrying.insert(id, carried.map(Retrying::carried).unwrap_or_default());
        }
        let retrying = self.retrying.entry(id).or_default();
        let outcome = match attempt {
            None => retrying.tries.interrupted(retrying.tries.last_status, &retrying.tries.last_error),
            Some(attempt) => {
                if attempt != Attempt::Success {
                    retrying.failed_at(now);
                }
                match self.cfg.retry.after(&mut retrying.tries, attempt, &mut self.rng) {
                    Next::RetryIn(wait) => {
                        retrying.not_before = Some(now + wait);
                        self.queue_again(id, delivery);
                        return None;
                    }
                    Next::Struggling(wait) => {
                        retrying.not_before = Some(now + wait);
                        return self.struggling(id, delivery, now);
                    }
                    Next::Pause(asked) => {
                        let pause = asked.min(MAX_PAUSE);
                        // The wait it asked for counts against its budget:
                        // an event answered so for ever still ends.
                        retrying.tries.failing_for += pause;
                        retrying.failed_before = retrying.tries.failing_for;
                        retrying.failing_since = None;
                        self.queue_again(id, delivery);
                        return self.pause_for_receiver(pause, now);
                    }
                    Next::Done(outcome) => outcome,
                }
            }
        };
        // An interrupted event keeps its retry budget; an ended one is done with it.
        if !matches!(outcome, DeliveryOutcome::Interrupted { .. }) {
            self.retrying.remove(&id);
        }
        self.settle(id, delivery, sent_at, outcome, now)
    }

    /// An event spent its quick attempts: the circuit judges whether the
    /// receiver is down; otherwise the event goes on at the backoff's pace.
    fn struggling(&mut self, id: u64, delivery: Box<Delivery>, now: Instant) -> Option<Stop> {
        match self.circuit.down(now, self.cp.pauses, self.cfg) {
            CircuitVerdict::Closed => {
                self.queue_again(id, delivery);
                None
            }
            CircuitVerdict::Open => {
                self.queue_again(id, delivery);
                self.queue_provisional_again();
                Some(Stop::Circuit)
            }
            CircuitVerdict::GiveUp => {
                let outcome =
                    self.retrying.remove(&id).map(|r| r.tries.failed()).unwrap_or_else(|| Tries::default().failed());
                let DeliveryOutcome::Failed { attempts, last_status, error } = outcome else { return None };
                let error = format!("{error}; the receiver stayed down through every pause");
                self.failures.push(failure_of(&delivery, attempts, last_status, error));
                self.settled(id, Counters { delivery_failures: 1, ..Counters::default() });
                self.resolve_provisional_as_failed();
                None
            }
        }
    }

    /// The receiver asked for a wait longer than the rule waits between
    /// attempts: the slice pauses, unless it already paused as often as the
    /// circuit allows with nothing delivered since (then it gives up).
    fn pause_for_receiver(&mut self, pause: Duration, now: Instant) -> Option<Stop> {
        if self.cp.pauses >= self.cfg.circuit_max_pauses {
            self.circuit.give_up(now);
            self.resolve_provisional_as_failed();
            return None;
        }
        Some(Stop::Wait(pause))
    }

    /// Provisional failures are tried again after a pause, not failed.
    fn queue_provisional_again(&mut self) {
        for pid in self.queue.ids_where(|s| matches!(s, State::Provisional(..))) {
            if let Some(entry) = self.queue.get_mut(pid) {
                if let State::Provisional(d, _) = std::mem::replace(&mut entry.state, State::InFlight) {
                    entry.state = State::Queued(d);
                    self.to_start.insert(pid);
                }
            }
        }
    }

    fn settle(
        &mut self,
        id: u64,
        delivery: Box<Delivery>,
        sent_at: Instant,
        outcome: DeliveryOutcome,
        now: Instant,
    ) -> Option<Stop> {
        let failure = |attempts, last_status, error| failure_of(&delivery, attempts, last_status, error);
        match outcome {
            DeliveryOutcome::Delivered { .. } => {
                if self.circuit.delivered(sent_at) {
                    self.cp.pauses = 0;
                    self.resolve_provisional_as_failed();
                }
                self.settled(id, Counters { events_delivered: 1, ..Counters::default() });
            }
            DeliveryOutcome::Failed { attempts, last_status, error } if receiver_down(last_status) => {
                let failed = failure(attempts, last_status, error);
                if let Some(entry) = self.queue.get_mut(id) {
                    entry.state = State::Provisional(delivery, failed);
                }
                match self.circuit.down(now, self.cp.pauses, self.cfg) {
                    CircuitVerdict::Closed => {}
                    CircuitVerdict::GiveUp => self.resolve_provisional_as_failed(),
                    CircuitVerdict::Open => {
                        self.queue_provisional_again();
                        return Some(Stop::Circuit);
                    }
                }
            }
            DeliveryOutcome::Failed { attempts, last_status, error } => {
                warn!(event_id = %delivery.message_id, attempts, ?last_status, %error, "event could not be delivered");
                self.failures.push(failure(attempts, last_status, error));
                self.settled(id, Counters { delivery_failures: 1, ..Counters::default() });
            }
            DeliveryOutcome::Refused { error } => {
                warn!(event_id = %delivery.message_id, %error, "event not sent: refused");
                self.failures.push(failure(1, None, error));
                self.settled(id, Counters { delivery_failures: 1, ..Counters::default() });
            }
            DeliveryOutcome::Interrupted { .. } => self.queue_again(id, delivery),
        }
        None
    }

    fn settled(&mut self, id: u64, delta: Counters) {
        self.queue.settle(id, &delta);
        self.events_since_save += 1;
    }

    /// A success after failures that looked like the receiver being down:
    /// those events did fail.
    pub(super) fn resolve_provisional_as_failed(&mut self) {
        for id in self.queue.ids_where(|s| matches!(s, State::Provisional(..))) {
            let Some(entry) = self.queue.get_mut(id) else { continue };
            if let State::Provisional(_, failure) = std::mem::replace(&mut entry.state, State::InFlight) {
                warn!(event_id = %failure.event_id, attempts = failure.attempts, ?failure.last_status, %failure.error,
                    "event could not be delivered");
                self.failures.push(failure);
                self.settled(id, Counters { delivery_failures: 1, ..Counters::default() });
            }
        }
    }

    /// An event to deliver (again): queued, or failed unsent once the circuit gave up.
    pub(super) fn queue_again(&mut self, id: u64, delivery: Box<Delivery>) {
        if self.circuit.gave_up() {
            self.failures.push(not_attempted(&delivery));
            self.retrying.remove(&id);
            self.queue.settle(id, &Counters { delivery_failures: 1, ..Counters::default() });
            return;
        }
        if let Some(entry) = self.queue.get_mut(id) {
            entry.state = State::Queued(delivery);
            self.to_start.insert(id);
        }
    }

    /// How an earlier run settled this copy of an event, if it did.
    pub(super) fn take_ahead(&mut self, hash: u64) -> Option<Settled> {
        let outcomes = self.ahead.get_mut(&hash)?;
        let settled = outcomes.pop_front();
        if outcomes.is_empty() {
            self.ahead.remove(&hash);
        }
        settled
    }

    pub(super) fn gave_up(&self) -> bool {
        self.circuit.gave_up()
    }

    // ---- checkpoints ----

    /// Moves the committed state past the settled prefix. Returns the
    /// slice's progress (`progress_counters` and the position) and whether
    /// a save is due (the events or time interval) or `force`d.
    pub fn commit(&mut self, now: Instant, force: bool) -> ((Counters, Position), bool) {
        let done = self.queue.commit();
        if let Some(position) = done.position {
            self.cp.position = position;
            self.cp.counters.add(&done.delta);
            self.cp.tally.add(&done.tally);
            // i64::MIN: the scan had not read enough records to know one yet.
            if let Some(w) = done.watermark.filter(|&w| w > i64::MIN) {
                self.cp.watermark = Some(w);
            }
        }
        let due = self.events_since_save >= self.cfg.checkpoint_every_events
            || (now.saturating_duration_since(self.last_save) >= self.cfg.checkpoint_every
                && self.cp.position != self.saved_position);
        ((self.progress_counters(), self.cp.position), force || due)
    }

    /// What the slice has done: the committed counters and the events
    /// settled beyond the position (this run's, and an earlier run's not
    /// reached again yet). A heartbeat and a cancelled slice's end report
    /// it, so every event on the failure list is counted, including one
    /// settled while an earlier event was still being retried.
    pub fn progress_counters(&self) -> Counters {
        let mut counters = self.cp.counters;
        counters.add(&self.queue.ahead_counters());
        for settled in self.ahead.values().flatten() {
            counters.events_scanned += 1;
            counters.events_matched += 1;
            match settled {
                Settled::Delivered => counters.events_delivered += 1,
                Settled::Failed => counters.delivery_failures += 1,
            }
        }
        counters
    }

    /// What a save writes: the failures and found ids since the last one,
    /// and the checkpoint with the events settled ahead of its position.
    pub fn take_save(&mut self) -> (Vec<FailedEvent>, Vec<String>, &Checkpoint) {
        // What this run settled ahead, then what an earlier run did that this
        // one has not read again yet: both are beyond the position.
        let mut ahead = self.queue.ahead();
        ahead.extend(self.ahead.iter().flat_map(|(&hash, outcomes)| outcomes.iter().map(move |&o| (hash, o))));
        self.cp.ahead = ahead;
        // Likewise the retry budgets: this run's, then those not reached again yet.
        let mut retries: Vec<(u64, Retried)> =
            (self.retrying.iter()).filter_map(|(&id, r)| Some((self.queue.get(id)?.hash?, r.to_save()))).collect();
        retries.extend(self.carried.iter().map(|(&hash, &r)| (hash, r)));
        self.cp.retries = retries;
        (std::mem::take(&mut self.failures), std::mem::take(&mut self.found), &self.cp)
    }

    pub fn saved(&mut self, now: Instant) {
        self.saved_position = self.cp.position;
        self.events_since_save = 0;
        self.last_save = now;
    }

    /// The slice stops for the circuit: one more pause.
    pub fn paused(&mut self) {
        self.cp.pauses += 1;
    }

    /// The whole slice was read and settled.
    pub fn finished(&mut self) {
        self.cp.done = true;
        debug_assert!(self.queue.is_empty());
    }
}
