//! The slice's decisions, synchronous and pure: what the driver (run.rs)
//! scanned, what one delivery attempt answered and the time it is, in;
//! which attempts to start, what to commit and when to stop, out. No I/O,
//! no clock (every `now` is given) and no randomness of its own (backoff
//! jitter comes from a generator seeded by the driver): the same inputs give
//! the same decisions, which is what the simulation replays.
//!
//! What each part owns: `intake.rs` turns scanned records into entries of
//! the commit queue (the hold rule, the dedup set, the selection);
//! `attempts.rs` starts attempts and settles what they answered;
//! `circuit.rs` decides whether the receiver looks down; `queue.rs` what a
//! checkpoint covers; `domain/retry.rs` the per-event retry rule.

use super::ahead::{counted, EarlierOutcomes};
use super::circuit::Circuit;
use super::keeper::Stop;
use super::outcomes::Outcomes;
use super::queue::CommitQueue;
use super::retries::Retrying;
use super::SliceSpec;
use crate::config::WorkerConfig;
use crate::domain::checkpoint::{Checkpoint, PartitionRange, Position, Retried};
use crate::domain::dedup::DedupWindow;
use crate::domain::job::Counters;
use crate::domain::retry::Attempt;
use crate::domain::selection::Bounds;
use crate::ports::{Delivery, FailedEvent};
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

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
    pub(super) retrying: BTreeMap<u64, Retrying>,
    /// Events settled after the checkpoint's position by an earlier run.
    pub(super) ahead: EarlierOutcomes,
    /// Events an earlier run was still retrying, per event hash: their
    /// retry budget goes on when they are attempted again.
    pub(super) carried: BTreeMap<u64, Retried>,
    /// Items before it only rebuild the dedup set (an earlier run settled them).
    pub(super) resume_at: Position,
    /// Settled failures not written to the failure list yet.
    pub(super) failures: Vec<FailedEvent>,
    /// Requested event ids seen, not recorded yet (an `event_ids` selection).
    pub(super) found: Vec<String>,
    /// `only: failed`: the logged delivery outcomes of the slice's events.
    pub(super) outcomes: Option<HashMap<u64, Outcomes>>,
    pub(super) circuit: Circuit,
    pub(super) rng: StdRng,
    pub(super) events_since_save: u64,
    last_save: Instant,
    saved_position: Position,
    /// The position of the last entry pushed.
    pub(super) last_position: Position,
    /// Held events (the window's start, before the skew passed) and their
    /// payload bytes: they wait for the log, not for the receiver, so they
    /// do not take room in the delivery window (see `MAX_HELD_WINDOWS`).
    pub(super) held: usize,
    pub(super) held_bytes: usize,
    /// Entries `Provisional` (failed while the receiver looked down): each
    /// resolve or re-queue takes them all.
    pub(super) provisional: usize,
    /// The receiver asked for the job to pause (`webhook-delivery: pause`),
    /// with its reason if it gave one.
    pub(super) receiver_pause: Option<Option<String>>,
    peak: MemoryPeak,
}

/// The most a run held at the end of a scan batch (docs/guarantees.md,
/// "Bounds"), logged when the run ends.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct MemoryPeak {
    /// Payloads of events held at the slice's start.
    pub held_bytes: usize,
    /// Payloads of every unsettled event, held ones included.
    pub unsettled_bytes: usize,
    /// Ids in the dedup set.
    pub dedup_ids: usize,
}

/// Held payloads are bounded by this many `MAX_WINDOW_BYTES`; beyond it the
/// held events are decided early (docs/guarantees.md, "Duplicates").
pub const MAX_HELD_WINDOWS: usize = 4;

/// Failures a checkpoint carries to the failure list at most: a save is due
/// at this many, so the item stays far under DynamoDB's 400 KB (an entry is
/// under 1.1 KB: ids and types of 255 bytes, errors of 500).
pub const MAX_UNLISTED: usize = 50;

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
            ahead: EarlierOutcomes::new(&cp.ahead),
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
            receiver_pause: None,
            circuit: Circuit::default(),
            rng: StdRng::seed_from_u64(seed),
            events_since_save: 0,
            last_save: now,
            held: 0,
            held_bytes: 0,
            provisional: 0,
            peak: MemoryPeak::default(),
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

    pub fn peak_memory(&self) -> MemoryPeak {
        self.peak
    }

    pub(super) fn note_memory(&mut self) {
        let peak = &mut self.peak;
        peak.held_bytes = peak.held_bytes.max(self.held_bytes);
        peak.unsettled_bytes = peak.unsettled_bytes.max(self.queue.bytes);
        peak.dedup_ids = peak.dedup_ids.max(self.dedup.len());
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

    /// Nothing may start, yet events are unsettled (held, or failed
    /// provisionally) while nothing is in flight and nothing is left to read
    /// (or, for an ordered job, no room to read on): they are decided now.
    /// Held events are released. Failures that waited for the circuit's
    /// verdict fail, unless an ordered job's events wait behind them: the
    /// receiver looked down on the last events that could be tried and
    /// nothing else can tell, so the slice pauses as an open circuit does
    /// and tries them again after (failing them once it paused as often as
    /// the circuit allows with nothing delivered), where failing them at
    /// once would fail a few events of every key an outage found first.
    pub fn settle_leftovers(&mut self) -> Option<Stop> {
        if self.may_start_any() || self.queue.unsettled_events == 0 {
            return None;
        }
        self.release_held();
        if self.spec.ordering_key.is_some() {
            if self.may_start_any() {
                return None;
            }
            let waiting_behind = !self.to_start.is_empty();
            let may_pause = self.cp.pauses < self.cfg.circuit_max_pauses && !self.circuit.gave_up();
            if self.provisional > 0 && waiting_behind && may_pause {
                self.queue_provisional_again();
                return Some(Stop::Circuit);
            }
        }
        self.resolve_provisional_as_failed();
        None
    }

    /// Whether a queued event may start, now or once its retry is due (an
    /// ordered job's events wait for their key's earlier ones).
    fn may_start_any(&self) -> bool {
        match self.spec.ordering_key {
            None => !self.to_start.is_empty(),
            Some(_) => self.to_start.iter().any(|&id| self.queue.may_start(id)),
        }
    }

    /// An ordered job can wedge: nothing in flight, nothing that may start,
    /// and no room to read on, every queued event waiting behind an earlier
    /// one of its key that is held (for the skew margin) or failed
    /// provisionally (for the circuit). Those are decided now, as at the
    /// end of the slice's reading.
    pub fn wedged(&self) -> bool {
        self.spec.ordering_key.is_some() && !self.has_room() && !self.may_start_any()
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
            || self.failures.len() >= MAX_UNLISTED
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
        counters.add(&self.ahead.counters());
        counters
    }

    /// What a save writes: the found ids since the last one, and the
    /// checkpoint with the events settled ahead of its position and the
    /// failures to list once it is saved.
    pub fn take_save(&mut self) -> (Vec<String>, &Checkpoint) {
        // What this run settled ahead, then what an earlier run did that this
        // one has not read again yet: both are beyond the position.
        let mut ahead = self.queue.ahead();
        ahead.extend(self.ahead.remaining());
        self.cp.ahead = ahead;
        // Likewise the retry budgets: this run's, then those not reached again yet.
        let mut retries: Vec<(u64, Retried)> =
            (self.retrying.iter()).filter_map(|(&id, r)| Some((self.queue.get(id)?.hash?, r.to_save()))).collect();
        retries.extend(self.carried.iter().map(|(&hash, &r)| (hash, r)));
        self.cp.retries = retries;
        self.cp.unlisted.append(&mut self.failures);
        (std::mem::take(&mut self.found), &self.cp)
    }

    /// The checkpoint was saved and its failures listed.
    pub fn saved(&mut self, now: Instant) {
        self.cp.unlisted.clear();
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
        // Events an earlier run settled beyond its position that this run
        // never read again: retention deleted their records first, and
        // `expired` or `cut` counted them as deleted. They count as what
        // they were (a failed one is on the failure list already).
        for settled in self.ahead.drain() {
            let c = &mut self.cp.counters;
            c.records_expired = c.records_expired.saturating_sub(1);
            c.add(&counted(settled));
        }
        self.cp.done = true;
        debug_assert!(self.queue.is_empty());
    }
}
