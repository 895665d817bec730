//! The decider's intake: scanned records become entries of the commit queue.
//! The hold rule (an event at the window's start waits until no earlier copy
//! can turn up), the dedup set, the selection and the failed-only rule are
//! applied here, in log order, and nowhere else.

use super::decider::{Decider, MAX_HELD_WINDOWS};
use super::queue::{Entry, State};
use crate::domain::checkpoint::{Position, Settled};
use crate::domain::dedup::event_hash;
use crate::domain::job::Counters;
use crate::domain::ordering::key_of;
use crate::domain::selection::{RecordReader, ScanItem, Zone};
use crate::ports::{Delivery, ScanBatch};
use tracing::warn;

/// What becomes of a selected event seen for the first time.
enum Verdict {
    Deliver,
    /// A dry run: counted (and tallied), not sent.
    Selected,
    /// Left out by the failed-only rule.
    Filtered {
        without_outcome: bool,
    },
}

/// Where a partition's scan starts.
#[derive(Debug, PartialEq, Eq)]
pub enum ScanStart {
    At(i64),
    /// Early enough to rebuild the dedup set: at the offset of `time`, not
    /// before `floor` (the range's start), and not after `cap` (the resume position).
    LookBack {
        time: i64,
        floor: i64,
        cap: Option<i64>,
    },
}

impl Decider<'_> {
    /// The partition to start reading at: earlier partitions are read again
    /// only to rebuild the dedup set.
    pub fn start_partition(&self) -> usize {
        if self.cp.legacy_dedup.is_empty() && self.cp.watermark.is_some() {
            0
        } else {
            self.cp.position.partition
        }
    }

    pub fn new_reader(&self) -> RecordReader {
        RecordReader::new(self.spec.webhook_id.as_str(), self.bounds, self.cfg.anomaly_ms)
    }

    /// Where a partition's first scan of this run starts: at the resume
    /// position, or early enough before it to rebuild the dedup set.
    pub fn scan_start(&self, partition: usize) -> ScanStart {
        let range = self.cp.ranges[partition];
        let resume = self.resume_at;
        if !self.cp.legacy_dedup.is_empty() || partition > resume.partition {
            return ScanStart::At(if partition == resume.partition { resume.offset } else { range.scan_from });
        }
        let cap = (partition == resume.partition).then_some(resume.offset);
        match self.cp.watermark {
            Some(w) if !self.multi_partition() => ScanStart::LookBack {
                time: w.saturating_sub(self.cfg.dedup_lookback_ms + self.cfg.skew_ms),
                floor: range.scan_from,
                cap,
            },
            _ => ScanStart::At(cap.map_or(range.scan_from, |c| range.scan_from.min(c))),
        }
    }

    /// Retention deleted records under a running scan, up to `low` (the
    /// partition's oldest offset now): they are counted, and reading goes on
    /// at the offset returned.
    pub fn expired(&mut self, partition: usize, next_offset: i64, low: i64) -> i64 {
        let range = self.cp.ranges[partition];
        let (start, end) = self.window_offsets(partition);
        let lost = (low.min(range.end).min(end) - self.unsettled_from(partition, next_offset).max(start)).max(0) as u64;
        warn!(
            partition = range.partition,
            next_offset, low, lost, "records were deleted by retention while the slice read"
        );
        let position = Position { partition, offset: low.max(next_offset) };
        self.push_settled(position, None, Counters { records_expired: lost, ..Counters::default() });
        low.max(next_offset)
    }

    /// The log ends at `high`, before `next_offset` (a topic recreated or
    /// truncated): the rest of the range is counted as deleted, and the
    /// partition is read.
    pub fn cut(&mut self, partition: usize, next_offset: i64, high: i64) {
        let range = self.cp.ranges[partition];
        let (start, end) = self.window_offsets(partition);
        let lost = (range.end.min(end) - self.unsettled_from(partition, next_offset).max(start)).max(0) as u64;
        warn!(
            partition = range.partition,
            next_offset, high, lost, "the log ends before the slice's range: counted as deleted"
        );
        let position = Position { partition, offset: range.end.max(next_offset) };
        self.push_settled(position, None, Counters { records_expired: lost, ..Counters::default() });
    }

    /// The window's offsets on a partition as the job planned them: records
    /// outside them (the look-back before, the margin after) are never
    /// delivered, so their loss is not counted (as in `find_ranges`).
    fn window_offsets(&self, partition: usize) -> (i64, i64) {
        let p = self.cp.ranges[partition].partition;
        let planned = self.spec.planned.iter().find(|&&(q, _, _)| q == p);
        planned.map_or((i64::MIN, i64::MAX), |&(_, start, end)| (start, end))
    }

    /// Where records a scan can no longer read start to count as lost: not
    /// before the resume position, since an earlier run settled what is
    /// before it (a rebuild of the dedup set reads there again).
    fn unsettled_from(&self, partition: usize, next_offset: i64) -> i64 {
        match partition.cmp(&self.resume_at.partition) {
            std::cmp::Ordering::Less => i64::MAX,
            std::cmp::Ordering::Equal => next_offset.max(self.resume_at.offset),
            std::cmp::Ordering::Greater => next_offset,
        }
    }

    /// Takes a batch in; true when the partition's reading is done.
    pub fn intake(&mut self, partition: usize, batch: ScanBatch) -> bool {
        let mut done = false;
        for item in batch.items {
            match item {
                ScanItem::Others { next_offset, in_window, watermark, skipped, unindexed } => {
                    let position = Position { partition, offset: next_offset };
                    if position > self.resume_at {
                        let scanned = Counters {
                            events_scanned: in_window,
                            records_skipped: skipped,
                            records_unindexed: unindexed,
                            ..Counters::default()
                        };
                        self.push_settled(position, Some(watermark), scanned);
                    }
                    self.watermark_moved(watermark);
                }
                ScanItem::Event { offset, timestamp, zone, watermark, event_id, event_type, payload, .. } => {
                    // Held copies are decided before a later copy is: the copy
                    // kept must be the first in the log, the one a resumed
                    // slice's rebuild of the dedup set meets first.
                    if watermark >= self.bounds.settled_start_at() {
                        self.release_held();
                    }
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
                            source_webhook_id: self
                                .spec
                                .target_webhook_id
                                .as_ref()
                                .map(|_| self.spec.webhook_id.clone()),
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
                    self.push_settled(Position { partition, offset: next_offset }, None, Counters::default());
                    done = true;
                }
            }
        }
        self.note_memory();
        done
    }

    /// The partition is read: its held events are decided.
    pub fn end_partition(&mut self, partition: usize) {
        self.release_held();
        if let Some(next) = self.cp.ranges.get(partition + 1) {
            let position = Position { partition: partition + 1, offset: next.scan_from };
            self.push_settled(position, None, Counters::default());
        }
    }

    fn push_settled(&mut self, position: Position, watermark: Option<i64>, delta: Counters) {
        if position <= self.resume_at && delta == Counters::default() {
            return;
        }
        self.last_position = position.max(self.last_position);
        self.queue.push(Entry::settled(self.last_position, watermark, delta));
    }

    /// An event of the window, on its first sighting in this run.
    fn window_event(&mut self, position: Position, watermark: i64, hash: u64, timestamp: i64, delivery: Box<Delivery>) {
        self.last_position = position.max(self.last_position);
        let found = Counters { events_scanned: 1, events_matched: 1, ..Counters::default() };
        let bytes = delivery.body.len();
        let order_key = self.spec.ordering_key.as_deref().map(|pointer| key_of(pointer, &delivery.body));
        if watermark < self.bounds.settled_start_at() {
            // An earlier copy (from the previous slice's time) can still turn up: decide later.
            let state = State::Held { delivery, hash, timestamp };
            self.queue.push(Entry {
                state,
                hash: Some(hash),
                bytes,
                order_key,
                ..Entry::settled(position, Some(watermark), found)
            });
            self.held += 1;
            self.held_bytes += bytes;
            if self.held_bytes >= MAX_HELD_WINDOWS * self.cfg.max_window_bytes {
                warn!(held = self.held, bytes = self.held_bytes, "held events at the slice's start decided early");
                self.release_held();
            }
            return;
        }
        if !self.dedup.first_sighting(hash, timestamp) {
            let delta = Counters { duplicates_skipped: 1, ..found };
            self.queue.push(Entry { hash: Some(hash), ..Entry::settled(position, Some(watermark), delta) });
            return;
        }
        // Unsettled until decided: a delivery keeps its bytes, a count frees them.
        let id = self.queue.push(Entry {
            state: State::InFlight,
            hash: Some(hash),
            bytes,
            order_key,
            ..Entry::settled(position, Some(watermark), found)
        });
        self.decide(id, hash, delivery);
    }

    /// An event's first sighting in this run, its entry in the queue: what
    /// an earlier run settled ahead of its checkpoint, the failed-only rule
    /// or a dry run's count settles it now; else it is queued for delivery.
    fn decide(&mut self, id: u64, hash: u64, delivery: Box<Delivery>) {
        let zero = Counters::default();
        match self.ahead.take(hash) {
            Some(Settled::Delivered) => self.queue.settle(id, &Counters { events_delivered: 1, ..zero }),
            // Already in the failure list.
            Some(Settled::Failed) => self.queue.settle(id, &Counters { delivery_failures: 1, ..zero }),
            None => match self.verdict(hash) {
                Verdict::Filtered { without_outcome } => {
                    let without_outcome = u64::from(without_outcome);
                    self.queue
                        .settle(id, &Counters { events_filtered: 1, events_without_outcome: without_outcome, ..zero });
                }
                Verdict::Selected => {
                    let tally = (delivery.event_type.clone(), delivery.body.len() as u64);
                    self.queue.settle_counted(id, &Counters { events_selected: 1, ..zero }, tally);
                }
                // Or failed unsent, once the circuit gave up.
                Verdict::Deliver => self.queue_again(id, delivery),
            },
        }
    }

    /// The failed-only rule, then a dry run's count, else a delivery.
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
    pub(super) fn release_held(&mut self) {
        // Called for every record once the watermark passed the slice's
        // start: without this, each would walk the whole queue.
        if self.held == 0 {
            return;
        }
        for id in self.queue.ids_where(|s| matches!(s, State::Held { .. })) {
            let Some(entry) = self.queue.get_mut(id) else { continue };
            let State::Held { delivery, hash, timestamp } = std::mem::replace(&mut entry.state, State::InFlight) else {
                continue;
            };
            self.held -= 1;
            self.held_bytes -= entry.bytes;
            if !self.dedup.first_sighting(hash, timestamp) {
                self.queue.settle(id, &Counters { duplicates_skipped: 1, ..Counters::default() });
                continue;
            }
            self.decide(id, hash, delivery);
        }
    }
}
