//! The per-webhook index of the delivery log (docs/guarantees.md, "The
//! log's index"): which stretches of a partition a slice may skip.
//!
//! A partition is cut into blocks of consecutive records. A block keeps its
//! offsets, every record's timestamp, and the hashes of the webhook ids
//! (record keys) it holds. A slice skips a block its webhook is not in, and
//! still knows everything a full scan would have told it: the timestamps
//! move the watermark and count the window's records exactly as if the
//! records had been read. What the index cannot vouch for (no block, a
//! block ending past the log's end, records retention deleted) is read.
//!
//! A hash that two webhooks share only makes a slice read a block it could
//! have skipped; a webhook missing from a block it is in would lose events,
//! so only the indexer writes blocks, from records it read.

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use xxhash_rust::xxh3::xxh3_64;

/// Records per block: a rare webhook's slice reads about this many records
/// per event it delivers (docs/scale.md, "The log's index").
pub const BLOCK_RECORDS: usize = 64;

/// Blocks per stored segment (one row of the index's store).
pub const SEGMENT_BLOCKS: usize = 64;

/// The hash a block keeps of a record's key (a webhook id).
pub fn key_hash(key: &[u8]) -> u64 {
    xxh3_64(key)
}

/// Consecutive records of a partition: `[first_offset, end_offset)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "WireBlock", into = "WireBlock")]
pub struct IndexBlock {
    pub first_offset: i64,
    /// The offset after the block (its last record's, or a marker's after it, plus one).
    pub end_offset: i64,
    /// Its last record's offset.
    pub last_record: i64,
    /// Every record's timestamp, in log order (offsets without a record,
    /// such as transaction markers, have none).
    pub timestamps: Vec<i64>,
    /// Sorted hashes ([`key_hash`]) of the keys of the block's records.
    pub webhooks: Vec<u64>,
}

impl IndexBlock {
    pub fn holds(&self, webhook_hash: u64) -> bool {
        self.webhooks.binary_search(&webhook_hash).is_ok()
    }

    pub fn max_ts(&self) -> Option<i64> {
        self.timestamps.iter().copied().max()
    }

    pub fn min_ts(&self) -> Option<i64> {
        self.timestamps.iter().copied().min()
    }
}

/// The stored form: timestamps as differences from the one before, which
/// postcard writes in one or two bytes each on a busy log.
#[derive(Serialize, Deserialize)]
struct WireBlock {
    first_offset: i64,
    end_offset: i64,
    /// `end_offset - last_record`: one byte.
    last_record_back: i64,
    first_ts: i64,
    ts_deltas: Vec<i64>,
    webhooks: Vec<u64>,
}

impl From<IndexBlock> for WireBlock {
    fn from(b: IndexBlock) -> Self {
        let first_ts = b.timestamps.first().copied().unwrap_or(0);
        let ts_deltas = b.timestamps.windows(2).map(|w| w[1].wrapping_sub(w[0])).collect();
        let ts_deltas = if b.timestamps.is_empty() { Vec::new() } else { [vec![0], ts_deltas].concat() };
        Self {
            first_offset: b.first_offset,
            end_offset: b.end_offset,
            last_record_back: b.end_offset - b.last_record,
            first_ts,
            ts_deltas,
            webhooks: b.webhooks,
        }
    }
}

impl From<WireBlock> for IndexBlock {
    fn from(w: WireBlock) -> Self {
        let mut ts = w.first_ts;
        let timestamps = w
            .ts_deltas
            .iter()
            .map(|d| {
                ts = ts.wrapping_add(*d);
                ts
            })
            .collect();
        Self {
            first_offset: w.first_offset,
            end_offset: w.end_offset,
            last_record: w.end_offset - w.last_record_back,
            timestamps,
            webhooks: w.webhooks,
        }
    }
}

/// Blocks written together: one row of the index's store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexSegment {
    pub partition: u32,
    pub blocks: Vec<IndexBlock>,
}

impl IndexSegment {
    pub fn first_offset(&self) -> i64 {
        self.blocks.first().map_or(0, |b| b.first_offset)
    }

    pub fn end_offset(&self) -> i64 {
        self.blocks.last().map_or(0, |b| b.end_offset)
    }

    /// The segment's last record: (offset, timestamp).
    pub fn last_record(&self) -> Option<(i64, i64)> {
        let block = self.blocks.iter().rev().find(|b| !b.timestamps.is_empty())?;
        Some((block.last_record, *block.timestamps.last()?))
    }

    pub fn records(&self) -> usize {
        self.blocks.iter().map(|b| b.timestamps.len()).sum()
    }

    pub fn min_ts(&self) -> Option<i64> {
        self.blocks.iter().filter_map(IndexBlock::min_ts).min()
    }

    pub fn max_ts(&self) -> Option<i64> {
        self.blocks.iter().filter_map(IndexBlock::max_ts).max()
    }

    /// The blocks as stored.
    pub fn encode(&self) -> Vec<u8> {
        // Serializing owned plain data into a Vec cannot fail.
        postcard::to_allocvec(&self.blocks).unwrap_or_default()
    }

    pub fn decode(partition: u32, bytes: &[u8]) -> Result<Self, postcard::Error> {
        Ok(Self { partition, blocks: postcard::from_bytes(bytes)? })
    }
}

/// Cuts a partition's records, read in log order, into blocks.
#[derive(Debug)]
pub struct BlockBuilder {
    block_records: usize,
    first_offset: i64,
    last_record: i64,
    timestamps: Vec<i64>,
    webhooks: BTreeSet<u64>,
}

impl BlockBuilder {
    /// Blocks start at `from` (where the indexer's reading starts).
    pub fn new(from: i64, block_records: usize) -> Self {
        Self {
            block_records: block_records.max(1),
            first_offset: from,
            last_record: from,
            timestamps: Vec::new(),
            webhooks: BTreeSet::new(),
        }
    }

    /// Takes the record at `offset` (its key's [`key_hash`]); returns the
    /// block it completes, if any.
    pub fn push(&mut self, offset: i64, timestamp: i64, key_hash: Option<u64>) -> Option<IndexBlock> {
        self.timestamps.push(timestamp);
        self.last_record = offset;
        if let Some(hash) = key_hash {
            self.webhooks.insert(hash);
        }
        (self.timestamps.len() >= self.block_records).then(|| self.cut(offset + 1))
    }

    /// The records taken since the last block, ending at `end_offset` (where
    /// the reading stopped); `None` if there are none.
    pub fn finish(&mut self, end_offset: i64) -> Option<IndexBlock> {
        (!self.timestamps.is_empty()).then(|| self.cut(end_offset))
    }

    /// Where the next block starts.
    pub fn next_offset(&self) -> i64 {
        self.first_offset
    }

    fn cut(&mut self, end_offset: i64) -> IndexBlock {
        let block = IndexBlock {
            first_offset: self.first_offset,
            end_offset,
            last_record: self.last_record,
            timestamps: std::mem::take(&mut self.timestamps),
            webhooks: std::mem::take(&mut self.webhooks).into_iter().collect(),
        };
        self.first_offset = end_offset;
        block
    }
}

/// One step of an indexed read of `[from, end)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Read `[from, end)` from the log; `indexed` says the index covers it
    /// (blocks that hold the webhook) or not (a fallback, counted).
    Read { from: i64, end: i64, indexed: bool },
    /// A block the webhook is not in (its index in the planned blocks): its
    /// timestamps stand in for its records.
    Skip(usize),
}

/// What a slice's read may skip.
#[derive(Debug, Clone, Copy)]
pub struct SkipRule {
    pub webhook_hash: u64,
    /// A block with a timestamp at or after this may end the slice's reading
    /// inside it (`Bounds::done_at`): it is read.
    pub done_at: i64,
    /// The partition's first retained offset: a block before it is read, so
    /// that records retention deleted are found and counted.
    pub low: i64,
}

/// The steps of reading `[from, end)` of a partition with `blocks` (sorted
/// by offset): blocks the webhook is not in are skipped, the rest is read.
/// Overlapping or out-of-order blocks are never skipped.
pub fn plan(blocks: &[IndexBlock], from: i64, end: i64, rule: SkipRule) -> Vec<Step> {
    let mut steps: Vec<Step> = Vec::new();
    let read = |steps: &mut Vec<Step>, a: i64, b: i64, indexed: bool| {
        if a >= b {
            return;
        }
        if let Some(Step::Read { end, indexed: i, .. }) = steps.last_mut() {
            if *end == a && *i == indexed {
                *end = b;
                return;
            }
        }
        steps.push(Step::Read { from: a, end: b, indexed });
    };
    let mut at = from;
    for (i, block) in blocks.iter().enumerate() {
        if at >= end {
            break;
        }
        if block.end_offset <= at || block.first_offset >= end {
            continue;
        }
        if block.first_offset > at {
            // A stretch no block covers.
            read(&mut steps, at, block.first_offset, false);
            at = block.first_offset;
        }
        let skippable = block.first_offset == at
            && block.end_offset <= end
            && block.first_offset >= rule.low
            && !block.holds(rule.webhook_hash)
            && block.max_ts().is_none_or(|ts| ts < rule.done_at);
        if skippable {
            steps.push(Step::Skip(i));
        } else {
            read(&mut steps, at, block.end_offset.min(end), true);
        }
        at = block.end_offset.min(end);
    }
    read(&mut steps, at, end, false);
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(first: i64, end: i64, ts: &[i64], keys: &[&str]) -> IndexBlock {
        let mut webhooks: Vec<u64> = keys.iter().map(|k| key_hash(k.as_bytes())).collect();
        webhooks.sort_unstable();
        webhooks.dedup();
        IndexBlock { first_offset: first, end_offset: end, last_record: end - 1, timestamps: ts.to_vec(), webhooks }
    }

    const RULE: SkipRule = SkipRule { webhook_hash: 0, done_at: 1_000, low: 0 };

    fn rule(webhook: &str) -> SkipRule {
        SkipRule { webhook_hash: key_hash(webhook.as_bytes()), ..RULE }
    }

    #[test]
    fn blocks_survive_their_stored_form() {
        let segment = IndexSegment {
            partition: 3,
            blocks: vec![block(10, 13, &[500, 499, 530], &["a", "b"]), block(13, 15, &[-5, i64::MAX], &[])],
        };
        let bytes = segment.encode();
        assert_eq!(IndexSegment::decode(3, &bytes).unwrap(), segment);
        assert!(IndexSegment::decode(3, &bytes[..bytes.len() - 1]).is_err());
    }

    #[test]
    fn the_builder_cuts_blocks_that_follow_each_other() {
        let mut b = BlockBuilder::new(5, 2);
        assert_eq!(b.push(5, 1, Some(key_hash(b"a"))), None);
        let first = b.push(6, 2, Some(key_hash(b"b"))).unwrap();
        assert_eq!((first.first_offset, first.end_offset, first.timestamps.len()), (5, 7, 2));
        assert!(first.holds(key_hash(b"a")) && first.holds(key_hash(b"b")) && !first.holds(key_hash(b"c")));
        // A marker at 7 takes an offset and no record.
        assert_eq!(b.push(8, 3, None), None);
        let last = b.finish(10).unwrap();
        assert_eq!(
            (last.first_offset, last.end_offset, last.last_record, last.timestamps.clone()),
            (7, 10, 8, vec![3])
        );
        assert!(last.webhooks.is_empty());
        assert_eq!(b.finish(10), None);
        assert_eq!(b.next_offset(), 10);
    }

    #[test]
    fn a_plan_skips_only_whole_blocks_the_webhook_is_not_in() {
        let blocks = vec![
            block(0, 10, &[1; 10], &["x"]),
            block(10, 20, &[2; 10], &["me", "x"]),
            block(20, 30, &[3; 10], &["x"]),
            block(30, 40, &[4; 10], &["y"]),
        ];
        let steps = plan(&blocks, 5, 40, rule("me"));
        assert_eq!(
            steps,
            vec![
                // The scan starts inside the first block: read to its end, and the webhook's block.
                Step::Read { from: 5, end: 20, indexed: true },
                Step::Skip(2),
                Step::Skip(3),
            ]
        );
        // Past the index's end, and up to a range's end inside a block: read.
        assert_eq!(
            plan(&blocks, 20, 45, rule("me")),
            vec![Step::Skip(2), Step::Skip(3), Step::Read { from: 40, end: 45, indexed: false }]
        );
        assert_eq!(
            plan(&blocks, 20, 35, rule("me")),
            vec![Step::Skip(2), Step::Read { from: 30, end: 35, indexed: true }]
        );
    }

    #[test]
    fn gaps_late_blocks_deleted_blocks_and_overlaps_are_read() {
        let blocks = vec![
            block(0, 10, &[1; 10], &["x"]),
            block(15, 20, &[2; 5], &["x"]),
            // Overlaps the one before: never skipped.
            block(18, 25, &[3; 7], &["x"]),
            // A timestamp at the slice's end: the reading may end inside it.
            block(25, 30, &[3, 1_000, 4, 4, 4], &["x"]),
            block(30, 40, &[5; 10], &["x"]),
        ];
        let steps = plan(&blocks, 0, 40, SkipRule { low: 2, ..rule("me") });
        assert_eq!(
            steps,
            vec![
                Step::Read { from: 0, end: 10, indexed: true },
                Step::Read { from: 10, end: 15, indexed: false },
                Step::Skip(1),
                Step::Read { from: 20, end: 30, indexed: true },
                Step::Skip(4),
            ]
        );
        assert_eq!(plan(&[], 3, 9, RULE), vec![Step::Read { from: 3, end: 9, indexed: false }]);
        assert_eq!(plan(&blocks, 9, 9, RULE), vec![]);
    }
}
