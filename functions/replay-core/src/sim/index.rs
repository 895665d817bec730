//! The log's index in the simulation: built by the production indexer over
//! the scenario's log, then, as a seed says, left behind the log, cut into
//! pieces, indexed twice over, made to claim webhooks it does not hold, or
//! made to describe a longer log. None of it may lose or repeat an event:
//! an index only changes what is read (docs/guarantees.md, "The log's index").

use super::scenario::{stream, WEBHOOK};
use crate::adapters::memory::{LogRecord, MemoryLog, MemoryLogIndex};
use crate::domain::job::Counters;
use crate::domain::log_index::{key_hash, BlockBuilder, IndexBlock, IndexSegment};
use crate::ports::DeliveryLog;
use crate::services::indexer::{index_log, IndexBudget};
use rand::rngs::StdRng;
use rand::Rng;
use std::time::Duration;

/// How a seed's index stands to its log.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum IndexFault {
    /// Every record indexed.
    Whole,
    /// The indexer has read only this share of each partition.
    Behind(f64),
    /// Segments dropped at random (a store that lost rows).
    Gaps(f64),
    /// Stretches indexed a second time with other block sizes.
    Overlapping,
    /// Blocks that claim webhooks they do not hold, the slice's among them.
    FalsePositives,
    /// A segment past the log's end (an index of the topic before it was
    /// recreated shorter): the slice must not trust it.
    PastTheEnd,
    /// An index of another log as long as this one (the topic before it was
    /// recreated, holding other webhooks): the slice must not trust it.
    Recreated,
}

#[derive(Debug, Clone, Copy)]
pub struct IndexPlan {
    pub block_records: usize,
    pub fault: IndexFault,
}

impl IndexPlan {
    /// Half the seeds read through an index, from a stream of their own (the
    /// seeds named by regression cases keep their logs and faults).
    pub fn generate(seed: u64) -> Option<Self> {
        let mut rng = stream(seed, 7);
        if !rng.gen_bool(0.5) {
            return None;
        }
        let block_records = [1, 2, 4, 16, 64][rng.gen_range(0..5)];
        let fault = match rng.gen_range(0..9) {
            0 => IndexFault::Behind(rng.gen_range(0.0..1.0)),
            1 => IndexFault::Gaps(rng.gen_range(0.1..0.9)),
            2 => IndexFault::Overlapping,
            3 => IndexFault::FalsePositives,
            4 => IndexFault::PastTheEnd,
            5 => IndexFault::Recreated,
            _ => IndexFault::Whole,
        };
        Some(Self { block_records, fault })
    }

    /// The index the slice reads through.
    pub async fn build(&self, log: &MemoryLog, seed: u64) -> MemoryLogIndex {
        let index = MemoryLogIndex::default();
        let mut rng = stream(seed, 8);
        let partitions = log.partition_count().await.unwrap_or(1);
        let longest = log.partitions.iter().map(Vec::len).max().unwrap_or(0) as f64;
        let records_per_partition = match self.fault {
            IndexFault::Behind(share) => (share * longest) as u64,
            _ => u64::MAX / 4,
        };
        let budget = IndexBudget {
            records_per_partition,
            block_records: self.block_records,
            until: tokio::time::Instant::now().into_std() + Duration::from_secs(3_600),
        };
        if self.fault == IndexFault::Recreated {
            // The old topic: as many records, a millisecond apart from these,
            // none of them the slice's webhook's.
            let mut old = MemoryLog::new(log.partitions.len());
            old.partitions = log
                .partitions
                .iter()
                .map(|p| {
                    p.iter()
                        .map(|r| LogRecord { timestamp: r.timestamp + 1, key: Some(b"wh_gone".to_vec()), value: None })
                        .collect()
                })
                .collect();
            index_log(&old, &index, budget).await.expect("the memory log indexes");
        } else {
            index_log(log, &index, budget).await.expect("the memory log indexes");
        }
        for p in 0..partitions {
            let mut segments = index.all(p);
            match self.fault {
                IndexFault::Gaps(share) => segments.retain(|_| !rng.gen_bool(share)),
                IndexFault::Overlapping => {
                    // The store keeps one segment per first offset.
                    let again = overlapping(log, p, &mut rng);
                    let taken: Vec<i64> = segments.iter().map(IndexSegment::first_offset).collect();
                    segments.extend(again.into_iter().filter(|s| !taken.contains(&s.first_offset())));
                }
                IndexFault::FalsePositives => {
                    for block in segments.iter_mut().flat_map(|s| s.blocks.iter_mut()) {
                        if rng.gen_bool(0.3) {
                            block.webhooks.push(key_hash(WEBHOOK.as_bytes()));
                            block.webhooks.push(rng.gen());
                            block.webhooks.sort_unstable();
                            block.webhooks.dedup();
                        }
                    }
                }
                IndexFault::PastTheEnd => {
                    // Its last segment goes on past the log's end.
                    if let Some(last) = segments.last_mut() {
                        let end = last.end_offset();
                        last.blocks.push(IndexBlock {
                            first_offset: end,
                            end_offset: end + 10,
                            last_record: end + 9,
                            timestamps: vec![0; 10],
                            webhooks: vec![],
                        });
                    }
                }
                IndexFault::Whole | IndexFault::Behind(_) | IndexFault::Recreated => {}
            }
            index.replace(p, segments);
        }
        index
    }
}

/// Stretches of a partition indexed again from another offset, in blocks of
/// another size.
fn overlapping(log: &MemoryLog, partition: u32, rng: &mut StdRng) -> Vec<IndexSegment> {
    let records = &log.partitions[partition as usize];
    (0..3)
        .filter(|_| !records.is_empty())
        .map(|_| {
            let from = rng.gen_range(0..records.len());
            let to = rng.gen_range(from..=records.len());
            let mut builder = BlockBuilder::new(from as i64, rng.gen_range(1..50));
            let mut blocks = Vec::new();
            for (o, r) in records.iter().enumerate().take(to).skip(from) {
                blocks.extend(builder.push(o as i64, r.timestamp, r.key.as_deref().map(key_hash)));
            }
            blocks.extend(builder.finish(to as i64));
            IndexSegment { partition, blocks }
        })
        .filter(|s| !s.blocks.is_empty())
        .collect()
}

/// What the counts say of the index: a read without one skips nothing and
/// counts nothing unindexed; one through an index that covers the whole log
/// reads nothing unindexed.
pub fn oracle(plan: Option<&IndexPlan>, counters: Option<&Counters>) -> Vec<String> {
    let Some(c) = counters else { return Vec::new() };
    let mut violations = Vec::new();
    if c.records_skipped + c.records_unindexed > c.events_scanned {
        violations.push(format!(
            "{} records skipped and {} unindexed of {} in the window",
            c.records_skipped, c.records_unindexed, c.events_scanned
        ));
    }
    match plan {
        None if c.records_skipped + c.records_unindexed > 0 => violations.push(format!(
            "without an index, {} records counted skipped and {} unindexed",
            c.records_skipped, c.records_unindexed
        )),
        Some(p)
            if matches!(p.fault, IndexFault::Whole | IndexFault::FalsePositives | IndexFault::Overlapping)
                && c.records_unindexed > 0 =>
        {
            violations.push(format!("{} records read unindexed through an index of the whole log", c.records_unindexed))
        }
        _ => {}
    }
    violations
}
