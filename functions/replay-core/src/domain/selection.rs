//! Which records of a partition belong to a slice, decided by record
//! timestamp (docs/guarantees.md, "What gets replayed").
//!
//! Logs are written by many producers whose clocks differ by up to the skew
//! margin `S`, so timestamps are only nearly ordered. A slice of `[from, to)`
//! therefore reads from the first offset whose timestamp is at or after
//! `from - look-back - S` and selects every record by its own timestamp:
//! `[from, to)` is the window (delivered), `[from - look-back, from)` the
//! look-back (remembered for deduplication, never delivered), anything else
//! belongs to another slice. Every record belongs to exactly one slice
//! whatever the order its producers wrote it in.
//!
//! Where to stop, and which duplicates can still turn up, is decided by a
//! watermark: the smallest timestamp among the last [`WATERMARK_RECORDS`]
//! records read. One record with a broken clock (hours in the future) cannot
//! move it, where the largest timestamp so far (and Kafka's time index,
//! which follows it) would: that would end the window early and evict the
//! dedup set. The scan ends once the watermark has passed `to + S`: within
//! the skew margin no record of the window can follow.

use super::log_index::IndexBlock;
use super::record::{classify, Classified, LoggedOutcome};
use bytes::Bytes;
use std::collections::VecDeque;

/// Records the watermark looks back over.
pub const WATERMARK_RECORDS: usize = 16;

/// Where a record's timestamp puts it relative to a slice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    /// Before the look-back: not this slice's business.
    Before,
    /// `[from - look-back, from)`: remembered for deduplication only.
    Lookback,
    /// `[from, to)`: this slice's to deliver.
    Window,
    /// At or after `to`: a later slice's.
    After,
}

/// The slice's time bounds, in record-timestamp milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    pub from: i64,
    pub to: i64,
    pub lookback_ms: i64,
    pub skew_ms: i64,
}

impl Bounds {
    pub fn zone(&self, ts: i64) -> Zone {
        if ts >= self.to {
            Zone::After
        } else if ts >= self.from {
            Zone::Window
        } else if ts >= self.from - self.lookback_ms {
            Zone::Lookback
        } else {
            Zone::Before
        }
    }

    /// Where reading starts: no record of the look-back or the window can be
    /// at an offset before the first one timestamped at or after this.
    pub fn scan_from_ts(&self) -> i64 {
        self.from - self.lookback_ms - self.skew_ms
    }

    /// Once the watermark is here, no record of the window can follow.
    pub fn done_at(&self) -> i64 {
        self.to + self.skew_ms
    }

    /// Until the watermark is here, a copy of an event timestamped before
    /// `from` (a previous slice's, or before the job) can still turn up.
    pub fn settled_start_at(&self) -> i64 {
        self.from + self.skew_ms
    }
}

/// The watermark over the last records read, and the detection of isolated
/// timestamps far ahead of their neighbours (a producer's broken clock).
#[derive(Debug, Clone)]
pub struct Watermark {
    recent: VecDeque<i64>,
    /// Records far ahead of the watermark when read, waiting for the records
    /// after them: an isolated jump ahead is an anomaly, the log really moving
    /// on after a quiet period is not.
    pending: VecDeque<Candidate>,
    seen: u64,
    anomaly_ms: i64,
}

#[derive(Debug, Clone, Copy)]
struct Candidate {
    at: u64,
    offset: i64,
    timestamp: i64,
    ours: bool,
}

/// A record found to carry a timestamp far ahead of the records around it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Anomaly {
    pub offset: i64,
    pub timestamp: i64,
    /// The watermark of the records that followed it: where it sits in the log's time.
    pub watermark: i64,
    /// The slice's webhook's record.
    pub ours: bool,
}

impl Watermark {
    pub fn new(anomaly_ms: i64) -> Self {
        Self { recent: VecDeque::with_capacity(WATERMARK_RECORDS + 1), pending: VecDeque::new(), seen: 0, anomaly_ms }
    }

    /// The current watermark (the smallest recent timestamp); None until
    /// [`WATERMARK_RECORDS`] records were read: a scan that starts at a
    /// record with a broken clock (offsets-for-times finds it first) must not
    /// take its timestamp for the log's time.
    pub fn value(&self) -> Option<i64> {
        (self.recent.len() == WATERMARK_RECORDS).then(|| self.recent.iter().copied().min()).flatten()
    }

    /// Takes in a record; returns an earlier one found anomalous, if any.
    pub fn observe(&mut self, offset: i64, timestamp: i64, ours: bool) -> Option<Anomaly> {
        let before = self.value();
        self.seen += 1;
        self.recent.push_back(timestamp);
        if self.recent.len() > WATERMARK_RECORDS {
            self.recent.pop_front();
        }
        if before.is_some_and(|w| timestamp > w + self.anomaly_ms) {
            self.pending.push_back(Candidate { at: self.seen, offset, timestamp, ours });
        }
        let resolved = self.pending.front().is_some_and(|c| self.seen - c.at >= WATERMARK_RECORDS as u64);
        if !resolved {
            return None;
        }
        let c = self.pending.pop_front()?;
        // `recent` now holds exactly the records that followed the candidate.
        let followers = self.value()?;
        (c.timestamp > followers + self.anomaly_ms).then_some(Anomaly {
            offset: c.offset,
            timestamp: c.timestamp,
            watermark: followers,
            ours: c.ours,
        })
    }
}

/// What a scan hands the slice, in log order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanItem {
    /// An event of the slice's webhook in the look-back or the window.
    Event {
        offset: i64,
        timestamp: i64,
        zone: Zone,
        /// The watermark after this record.
        watermark: i64,
        event_id: String,
        event_type: String,
        payload: Bytes,
        outcome: Option<LoggedOutcome>,
    },
    /// A record of the slice's webhook in the window that does not parse
    /// (`unusable_type`: it parsed, as an event of this type, but its
    /// `event_id` cannot be a header).
    Malformed { offset: i64, timestamp: i64, watermark: i64, reason: String, unusable_type: Option<String> },
    /// A run of records that are not the slice's (other webhooks', or outside
    /// its times) ending before `next_offset`; `in_window` of them are
    /// timestamped inside the window (they count as scanned). Of those,
    /// `skipped` were not read, the log's index standing in for them, and
    /// `unindexed` were read because the index could not vouch for them.
    Others { next_offset: i64, in_window: u64, watermark: i64, skipped: u64, unindexed: u64 },
    /// One of the webhook's records, in the window's part of the log, with a
    /// timestamp far ahead of the records around it.
    Anomaly(Anomaly),
    /// The watermark passed the window's end: nothing from `next_offset` on is
    /// the slice's.
    Done { next_offset: i64 },
}

impl ScanItem {
    /// Payload bytes the item keeps: what a scan batch's byte limit counts.
    pub fn payload_bytes(&self) -> usize {
        match self {
            ScanItem::Event { payload, .. } => payload.len(),
            _ => 0,
        }
    }
}

/// Turns the records of one partition, in log order, into [`ScanItem`]s for
/// one slice. Pure and cheap: the Kafka adapter runs it on its reading
/// thread, so other webhooks' records are never copied.
#[derive(Debug, Clone)]
pub struct RecordReader {
    webhook_id: String,
    bounds: Bounds,
    watermark: Watermark,
    /// A run of other records not handed over yet.
    others: Option<OthersRun>,
    /// Records read now are read because the log's index could not vouch for them.
    unindexed: bool,
    done: bool,
}

#[derive(Debug, Clone, Copy, Default)]
struct OthersRun {
    next_offset: i64,
    in_window: u64,
    skipped: u64,
    unindexed: u64,
}

impl RecordReader {
    pub fn new(webhook_id: impl Into<String>, bounds: Bounds, anomaly_ms: i64) -> Self {
        Self {
            webhook_id: webhook_id.into(),
            bounds,
            watermark: Watermark::new(anomaly_ms),
            others: None,
            unindexed: false,
            done: false,
        }
    }

    pub fn is_done(&self) -> bool {
        self.done
    }

    pub fn watermark(&self) -> Option<i64> {
        self.watermark.value()
    }

    pub fn webhook_id(&self) -> &str {
        &self.webhook_id
    }

    pub fn bounds(&self) -> Bounds {
        self.bounds
    }

    /// Says whether the records read from now on are read because the log's
    /// index could not vouch for them (they count as `unindexed`).
    pub fn set_unindexed(&mut self, unindexed: bool) {
        self.unindexed = unindexed;
    }

    /// Whether a block of other webhooks' records may be taken from the
    /// index now: not once reading is done, nor while one of the webhook's
    /// records waits for the records after it to tell if its clock is broken
    /// (an anomaly is reported where it was read).
    pub fn can_skip(&self) -> bool {
        !self.done && !self.watermark.pending.iter().any(|c| c.ours)
    }

    /// Takes a block of the log's index in place of its records, none of them
    /// the webhook's: the watermark moves and the window's records are
    /// counted exactly as if they had been read (`domain/log_index.rs`). The
    /// block must end before the watermark can pass the window's end
    /// (`log_index::plan` reads such a block) and `can_skip` must hold.
    pub fn skip(&mut self, block: &IndexBlock) {
        debug_assert!(self.can_skip());
        let run = self.others.get_or_insert(OthersRun { next_offset: block.end_offset, ..OthersRun::default() });
        for &ts in &block.timestamps {
            // Only the webhook's own records are reported as anomalies.
            let _ = self.watermark.observe(block.first_offset, ts, false);
            let in_window = u64::from(self.bounds.zone(ts) == Zone::Window);
            run.in_window += in_window;
            run.skipped += in_window;
        }
        run.next_offset = block.end_offset;
        debug_assert!(self.watermark.value().is_none_or(|w| w < self.bounds.done_at()));
    }

    /// Takes one record; pushes the items it makes.
    pub fn read(&mut self, offset: i64, ts: i64, key: Option<&[u8]>, value: Option<&[u8]>, out: &mut Vec<ScanItem>) {
        if self.done {
            return;
        }
        let ours = key == Some(self.webhook_id.as_bytes());
        if let Some(a) = self.watermark.observe(offset, ts, ours) {
            if a.ours && self.bounds.zone(a.watermark) == Zone::Window {
                self.flush(out);
                out.push(ScanItem::Anomaly(a));
            }
        }
        // Until the watermark has its sample, nothing is known to be settled.
        let watermark = self.watermark.value().unwrap_or(i64::MIN);
        let zone = self.bounds.zone(ts);
        let relevant = ours && matches!(zone, Zone::Lookback | Zone::Window);
        let item = if relevant {
            match classify(&self.webhook_id, key, value) {
                Classified::Event { event_id, event_type, payload, outcome } => Some(ScanItem::Event {
                    offset,
                    timestamp: ts,
                    zone,
                    watermark,
                    event_id: event_id.into_owned(),
                    event_type: event_type.into_owned(),
                    payload: Bytes::copy_from_slice(payload.as_bytes()),
                    outcome,
                }),
                Classified::Malformed(reason) if zone == Zone::Window => {
                    Some(ScanItem::Malformed { offset, timestamp: ts, watermark, reason, unusable_type: None })
                }
                Classified::UnusableId { reason, event_type } if zone == Zone::Window => Some(ScanItem::Malformed {
                    offset,
                    timestamp: ts,
                    watermark,
                    reason,
                    unusable_type: Some(event_type.into_owned()),
                }),
                _ => None,
            }
        } else {
            None
        };
        match item {
            Some(item) => {
                self.flush(out);
                out.push(item);
            }
            None => {
                let run = self.others.get_or_insert_with(OthersRun::default);
                run.next_offset = offset + 1;
                run.in_window += u64::from(zone == Zone::Window);
                run.unindexed += u64::from(self.unindexed && zone == Zone::Window);
            }
        }
        if watermark >= self.bounds.done_at() {
            self.flush(out);
            out.push(ScanItem::Done { next_offset: offset + 1 });
            self.done = true;
        }
    }

    /// Hands over a pending run of other records.
    pub fn flush(&mut self, out: &mut Vec<ScanItem>) {
        if let Some(OthersRun { next_offset, in_window, skipped, unindexed }) = self.others.take() {
            let watermark = self.watermark.value().unwrap_or(i64::MIN);
            out.push(ScanItem::Others { next_offset, in_window, watermark, skipped, unindexed });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: Bounds = Bounds { from: 10_000, to: 20_000, lookback_ms: 3_000, skew_ms: 500 };

    #[test]
    fn zones_by_timestamp() {
        assert_eq!(B.zone(6_999), Zone::Before);
        assert_eq!(B.zone(7_000), Zone::Lookback);
        assert_eq!(B.zone(9_999), Zone::Lookback);
        assert_eq!(B.zone(10_000), Zone::Window);
        assert_eq!(B.zone(19_999), Zone::Window);
        assert_eq!(B.zone(20_000), Zone::After);
        assert_eq!(B.scan_from_ts(), 6_500);
        assert_eq!(B.done_at(), 20_500);
    }

    #[test]
    fn one_future_timestamp_does_not_move_the_watermark() {
        let mut w = Watermark::new(60_000);
        let mut anomalies = Vec::new();
        for i in 0..100 {
            let ts = if i == 40 { 1_000 + 7_200_000 } else { 1_000 + i * 10 };
            anomalies.extend(w.observe(i, ts, i == 40));
            assert!(w.value().is_none_or(|v| v < 2_000), "record {i}: {:?}", w.value());
        }
        assert_eq!(anomalies.len(), 1, "{anomalies:?}");
        assert_eq!(anomalies[0].offset, 40);
        assert!(anomalies[0].ours);
    }

    #[test]
    fn a_scan_starting_at_a_future_timestamp_does_not_end_the_window() {
        let bounds = Bounds { from: 1_000_000, to: 2_000_000, lookback_ms: 0, skew_ms: 0 };
        let mut reader = RecordReader::new("wh", bounds, 60_000);
        let mut out = Vec::new();
        // Offsets-for-times lands on the broken clock's record first.
        reader.read(0, 90_000_000, Some(b"wh"), Some(&value("future", "wh")), &mut out);
        for o in 1..40 {
            reader.read(o, 1_000_000 + o * 1_000, Some(b"wh"), Some(&value(&format!("e{o}"), "wh")), &mut out);
        }
        assert!(!reader.is_done(), "{out:?}");
        let events = out.iter().filter(|i| matches!(i, ScanItem::Event { .. })).count();
        assert_eq!(events, 39);
    }

    #[test]
    fn a_log_that_moves_on_after_a_quiet_hour_is_not_an_anomaly() {
        let mut w = Watermark::new(60_000);
        let mut anomalies = 0;
        for i in 0..200 {
            let ts = if i < 50 { i * 10 } else { 3_600_000 + i * 10 };
            anomalies += usize::from(w.observe(i, ts, false).is_some());
        }
        assert_eq!(anomalies, 0);
        assert!(w.value().unwrap() >= 3_600_000, "the watermark follows the log");
    }

    #[test]
    fn skewed_producers_keep_the_watermark_behind_the_slowest() {
        let mut w = Watermark::new(60_000);
        for i in 0..300i64 {
            // Three producers, clocks 0, 2 and 5 s apart, interleaved.
            let lag = [0, 2_000, 5_000][(i % 3) as usize];
            w.observe(i, 100_000 + i * 100 - lag, false);
        }
        let newest = 100_000 + 299 * 100;
        let wm = w.value().unwrap();
        assert!(wm <= newest - 5_000 && wm >= newest - 7_000, "{wm}");
    }

    /// The log's index stands in for the records it lets a slice skip: on
    /// random logs (skewed clocks, broken clocks, the webhook rare or busy,
    /// blocks of every size), a read that skips what the index allows hands
    /// the slice the same events, malformed records, anomalies and end, with
    /// the same watermarks, and counts the same records in the window.
    #[test]
    fn an_indexed_read_tells_the_slice_what_a_full_read_does() {
        use crate::domain::log_index::{key_hash, plan, BlockBuilder, SkipRule, Step};
        use rand::{rngs::StdRng, Rng, SeedableRng};
        let mut skipped_somewhere = false;
        for seed in 0..300u64 {
            let mut rng = StdRng::seed_from_u64(seed);
            let share = [0.002, 0.02, 0.3][(seed % 3) as usize];
            let records: Vec<(i64, &str, Vec<u8>)> = (0..3_000i64)
                .map(|o| {
                    let who = if rng.gen_bool(share) { "me" } else { ["a", "b", "c"][rng.gen_range(0..3)] };
                    let mut ts = 1_000_000 + o * 10 - rng.gen_range(0..2_000);
                    if rng.gen_bool(0.003) {
                        ts += 7_200_000;
                    }
                    let value = if rng.gen_bool(0.01) { b"{oops".to_vec() } else { value(&format!("e{o}"), who) };
                    (ts, who, value)
                })
                .collect();
            let bounds =
                Bounds { from: 1_008_000, to: 1_016_000 + rng.gen_range(0..6_000), lookback_ms: 1_500, skew_ms: 2_000 };
            let from = rng.gen_range(0..600);
            let read = |r: &mut RecordReader, o: i64, out: &mut Vec<ScanItem>| {
                let (ts, who, value) = &records[o as usize];
                r.read(o, *ts, Some(who.as_bytes()), Some(value), out);
            };
            let mut full = RecordReader::new("me", bounds, 60_000);
            let mut full_items = Vec::new();
            for o in from..records.len() as i64 {
                read(&mut full, o, &mut full_items);
            }
            full.flush(&mut full_items);

            let mut builder = BlockBuilder::new(0, rng.gen_range(1..120));
            let mut blocks = Vec::new();
            for (o, (ts, who, _)) in records.iter().enumerate() {
                blocks.extend(builder.push(o as i64, *ts, Some(key_hash(who.as_bytes()))));
            }
            // The index ends before the log does: the rest is read unindexed.
            let indexed_to = rng.gen_range(1_000..3_000) as usize;
            blocks.retain(|b| b.end_offset <= indexed_to as i64);
            let rule = SkipRule { webhook_hash: key_hash(b"me"), done_at: bounds.done_at(), low: 0 };
            let mut indexed = RecordReader::new("me", bounds, 60_000);
            let mut items = Vec::new();
            for step in plan(&blocks, from, records.len() as i64, rule) {
                match step {
                    Step::Read { from, end, indexed: covered } => {
                        indexed.set_unindexed(!covered);
                        for o in from..end {
                            read(&mut indexed, o, &mut items);
                        }
                    }
                    Step::Skip(i) if indexed.can_skip() => {
                        skipped_somewhere = true;
                        indexed.skip(&blocks[i]);
                    }
                    Step::Skip(i) => {
                        for o in blocks[i].first_offset..blocks[i].end_offset {
                            read(&mut indexed, o, &mut items);
                        }
                    }
                }
            }
            indexed.flush(&mut items);

            let decided = |items: &[ScanItem]| -> Vec<ScanItem> {
                items.iter().filter(|i| !matches!(i, ScanItem::Others { .. })).cloned().collect()
            };
            let counts = |items: &[ScanItem]| -> (u64, u64) {
                items.iter().fold((0, 0), |(w, s), i| match i {
                    ScanItem::Others { in_window, skipped, unindexed, .. } => (w + in_window, s + skipped + unindexed),
                    _ => (w, s),
                })
            };
            assert_eq!(decided(&items), decided(&full_items), "seed {seed}");
            assert_eq!(counts(&items).0, counts(&full_items).0, "seed {seed}: records in the window");
            assert_eq!(counts(&full_items).1, 0, "seed {seed}: a full read without an index counts neither");
            assert!(indexed.is_done() == full.is_done(), "seed {seed}");
        }
        assert!(skipped_somewhere);
    }

    fn value(id: &str, webhook: &str) -> Vec<u8> {
        serde_json::json!({"event_id": id, "webhook_id": webhook, "event_type": "t",
            "created_at": "2026-11-20T10:00:00Z", "payload": {"n": id}})
        .to_string()
        .into_bytes()
    }

    #[test]
    fn the_reader_selects_by_timestamp_counts_others_and_stops_after_the_window() {
        let mut r = RecordReader::new("me", B, 600_000);
        let mut out = Vec::new();
        let log: Vec<(i64, &str, &str)> = vec![
            (6_000, "me", "before"),
            (8_000, "me", "look"),
            (10_100, "other", "x"),
            (10_200, "me", "in"),
            (9_900, "me", "late-look"), // skewed: look-back after a window record
            (19_900, "other", "y"),
            (20_100, "me", "next-slice"),
        ];
        for (o, (ts, who, id)) in log.iter().enumerate() {
            r.read(o as i64, *ts, Some(who.as_bytes()), Some(&value(id, who)), &mut out);
        }
        for o in 0..WATERMARK_RECORDS as i64 {
            r.read(100 + o, 21_000, Some(b"other"), Some(b"{}"), &mut out);
        }
        let ids: Vec<(String, Zone)> = out
            .iter()
            .filter_map(|i| match i {
                ScanItem::Event { event_id, zone, .. } => Some((event_id.clone(), *zone)),
                _ => None,
            })
            .collect();
        assert_eq!(
            ids,
            vec![("look".into(), Zone::Lookback), ("in".into(), Zone::Window), ("late-look".into(), Zone::Lookback)]
        );
        let scanned: u64 =
            out.iter().map(|i| if let ScanItem::Others { in_window, .. } = i { *in_window } else { 0 }).sum();
        assert_eq!(scanned, 2, "x and y are in the window; next-slice is not the window's");
        assert!(matches!(out.last(), Some(ScanItem::Done { next_offset: 116 })), "{:?}", out.last());
        assert!(r.is_done());
    }
}
