//! The indexer: reads the delivery log as it grows and writes its index
//! (domain/log_index.rs, docs/guarantees.md "The log's index"). It runs in
//! the sweeper, on its schedule, in bounded time: each pass goes on where
//! the last one stopped, deletes what retention deleted from the log, and
//! indexes a partition again from its start when the log no longer holds
//! what the index says it does (a topic recreated or truncated).

use crate::config::IndexConfig;
use crate::domain::log_index::{BlockBuilder, IndexSegment, BLOCK_RECORDS, SEGMENT_BLOCKS};
use crate::error::{Error, Result};
use crate::ports::{DeliveryLog, IndexTip, LogIndex};
use crate::services::slice::now;
use serde::Serialize;
use std::time::{Duration, Instant};
use tracing::{info, instrument, warn};

/// Records per batch the indexer asks the log for.
const READ_BATCH: usize = 5_000;

/// How much one pass may do.
#[derive(Debug, Clone, Copy)]
pub struct IndexBudget {
    /// Records one partition may index in a pass, so that every partition moves.
    pub records_per_partition: u64,
    /// Records per block ([`BLOCK_RECORDS`] but in tests).
    pub block_records: usize,
    /// When the pass stops starting partitions and reading.
    pub until: Instant,
}

impl IndexBudget {
    pub fn for_duration(records_per_partition: u64, time: Duration) -> Self {
        Self { records_per_partition, block_records: BLOCK_RECORDS, until: now() + time }
    }

    /// A sweeper run's pass, as configured.
    pub fn of(cfg: &IndexConfig) -> Self {
        Self { block_records: cfg.block_records, ..Self::for_duration(cfg.records_per_partition, cfg.pass) }
    }
}

/// What a pass did, and how far behind the log the index still is.
#[derive(Debug, Default, Clone, Serialize, PartialEq, Eq)]
pub struct IndexReport {
    pub records_indexed: u64,
    pub segments_written: u64,
    pub segments_purged: u64,
    /// Partitions indexed again from their start (the log changed under the index).
    pub partitions_reset: Vec<u32>,
    /// Records the log holds past the index's end, summed over partitions.
    pub lag_records: u64,
    /// The largest of the partitions' lags, in records.
    pub max_partition_lag: u64,
}

/// One pass over every partition of the log, the most behind first (a pass
/// that runs out of time leaves the best-kept ones for the next).
#[instrument(skip_all)]
pub async fn index_log(log: &dyn DeliveryLog, index: &dyn LogIndex, budget: IndexBudget) -> Result<IndexReport> {
    let mut report = IndexReport::default();
    let mut behind = Vec::new();
    for partition in 0..log.partition_count().await? {
        behind.push((lag(log, index, partition).await?, partition));
    }
    behind.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for (lag_before, partition) in behind {
        let lag = if now() < budget.until {
            index_partition(log, index, partition, budget, &mut report).await?
        } else {
            lag_before
        };
        report.lag_records += lag;
        report.max_partition_lag = report.max_partition_lag.max(lag);
    }
    info!(?report, "index pass done");
    Ok(report)
}

/// Records the partition's log holds past its index (from its first retained record).
async fn lag(log: &dyn DeliveryLog, index: &dyn LogIndex, partition: u32) -> Result<u64> {
    let (low, high) = log.watermarks(partition).await?;
    let end = index.tip(partition).await?.map_or(low, |t| t.end_offset.max(low));
    Ok((high - end).max(0) as u64)
}

/// Indexes one partition from where its index ends; returns its lag after.
async fn index_partition(
    log: &dyn DeliveryLog,
    index: &dyn LogIndex,
    partition: u32,
    budget: IndexBudget,
    report: &mut IndexReport,
) -> Result<u64> {
    let (low, high) = log.watermarks(partition).await?;
    report.segments_purged += index.purge_before(partition, low).await?;
    let tip = index.tip(partition).await?;
    let from = match tip {
        // Caught up: nothing to read, nothing to check.
        Some(tip) if tip.end_offset == high => return Ok(0),
        Some(tip) if still_holds(log, partition, tip, low, high).await? => tip.end_offset.max(low),
        Some(tip) => {
            warn!(partition, ?tip, low, high, "the log no longer holds what its index says: indexing it again");
            index.drop_partition(partition).await?;
            report.partitions_reset.push(partition);
            low
        }
        None => low,
    };
    let end = high.min(from.saturating_add(budget.records_per_partition as i64));
    if from >= end {
        return Ok((high - from).max(0) as u64);
    }
    let mut rx = log.scan_keys(partition, from, end, READ_BATCH)?;
    let mut builder = BlockBuilder::new(from, budget.block_records);
    let mut blocks = Vec::with_capacity(SEGMENT_BLOCKS);
    let mut next = from;
    while let Some(batch) = rx.recv().await {
        let batch = match batch {
            Ok(batch) => batch,
            // Retention deleted what the pass was reading: what was read is
            // kept, the next pass starts at the log's first offset.
            Err(Error::RecordsExpired { .. }) => break,
            Err(e) => return Err(e),
        };
        for r in &batch.records {
            blocks.extend(builder.push(r.offset, r.timestamp, r.key_hash));
            report.records_indexed += 1;
            if blocks.len() == SEGMENT_BLOCKS {
                write(index, partition, &mut blocks, report).await?;
            }
        }
        next = batch.next_offset;
        if now() >= budget.until {
            break;
        }
    }
    drop(rx);
    blocks.extend(builder.finish(next));
    write(index, partition, &mut blocks, report).await?;
    Ok((high - next).max(0) as u64)
}

/// Whether the log still holds the index's last record where the index says
/// (a topic recreated or truncated does not; retention deleting it does not
/// matter).
async fn still_holds(log: &dyn DeliveryLog, partition: u32, tip: IndexTip, low: i64, high: i64) -> Result<bool> {
    if tip.end_offset > high {
        return Ok(false);
    }
    let Some((offset, ts)) = tip.last_record else { return Ok(true) };
    if offset < low {
        return Ok(true);
    }
    let mut rx = log.scan_keys(partition, offset, offset + 1, 1)?;
    Ok(match rx.recv().await {
        Some(Ok(batch)) => batch.records.first().is_some_and(|r| r.offset == offset && r.timestamp == ts),
        Some(Err(Error::RecordsExpired { .. })) => true,
        Some(Err(e)) => return Err(e),
        None => false,
    })
}

async fn write(
    index: &dyn LogIndex,
    partition: u32,
    blocks: &mut Vec<crate::domain::log_index::IndexBlock>,
    report: &mut IndexReport,
) -> Result<()> {
    if blocks.is_empty() {
        return Ok(());
    }
    let segment = IndexSegment { partition, blocks: std::mem::take(blocks) };
    index.put(&segment).await?;
    report.segments_written += 1;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory::{LogRecord, MemoryLog, MemoryLogIndex};
    use crate::domain::log_index::key_hash;

    fn log(records: usize) -> MemoryLog {
        let mut log = MemoryLog::new(2);
        for o in 0..records as i64 {
            let key = if o % 1_000 < 2 { "rare" } else { "busy" };
            let record = LogRecord { timestamp: 1_000 + o, key: Some(key.into()), value: Some(b"{}".to_vec()) };
            log.partitions[(o % 2) as usize].push(record);
        }
        log
    }

    fn budget() -> IndexBudget {
        IndexBudget::for_duration(1_000_000, Duration::from_secs(60))
    }

    /// Every record of a partition, once, in order, with its key.
    async fn covered(index: &MemoryLogIndex, partition: u32) -> (i64, i64, usize, usize) {
        let segments = index.segments(partition, 0, i64::MAX).await.unwrap();
        let blocks: Vec<_> = segments.iter().flat_map(|s| s.blocks.iter()).collect();
        for pair in blocks.windows(2) {
            assert_eq!(pair[0].end_offset, pair[1].first_offset, "blocks follow each other");
        }
        let rare = blocks.iter().filter(|b| b.holds(key_hash(b"rare"))).count();
        let records = blocks.iter().map(|b| b.timestamps.len()).sum();
        (blocks.first().unwrap().first_offset, blocks.last().unwrap().end_offset, records, rare)
    }

    #[tokio::test]
    async fn passes_index_the_log_as_it_grows_and_age_out_with_it() {
        let log = log(20_000);
        let index = MemoryLogIndex::default();
        let first = index_log(&log, &index, IndexBudget { records_per_partition: 4_000, ..budget() }).await.unwrap();
        assert_eq!(first.records_indexed, 8_000);
        assert_eq!(first.lag_records, 12_000);
        let second = index_log(&log, &index, budget()).await.unwrap();
        assert_eq!((second.records_indexed, second.lag_records), (12_000, 0));
        assert_eq!(covered(&index, 0).await, (0, 10_000, 10_000, 20));

        log.delete_before(0, 5_000);
        let third = index_log(&log, &index, budget()).await.unwrap();
        assert_eq!(third.records_indexed, 0);
        assert!(third.segments_purged > 0);
        let (first_offset, ..) = covered(&index, 0).await;
        assert!(first_offset <= 5_000 && first_offset > 5_000 - 64 * 64, "{first_offset}");
        assert!(third.partitions_reset.is_empty());
    }

    #[tokio::test]
    async fn a_log_that_changed_under_the_index_is_indexed_again() {
        let index = MemoryLogIndex::default();
        index_log(&log(20_000), &index, budget()).await.unwrap();
        // The topic recreated: fewer records, other timestamps.
        let mut recreated = log(6_000);
        for r in recreated.partitions.iter_mut().flatten() {
            r.timestamp += 1;
        }
        let report = index_log(&recreated, &index, budget()).await.unwrap();
        assert_eq!(report.partitions_reset, vec![0, 1]);
        assert_eq!(covered(&index, 1).await, (0, 3_000, 3_000, 6));
        // Recreated again, other timestamps, and grown past the index's end:
        // its last indexed record tells. (Until the log grows past it, the
        // index is not checked: docs/operations.md, "The log's index".)
        let mut again = log(6_002);
        for r in again.partitions.iter_mut().flatten() {
            r.timestamp += 2;
        }
        let report = index_log(&again, &index, budget()).await.unwrap();
        assert_eq!(report.partitions_reset, vec![0, 1]);
        let unchanged = index_log(&again, &index, budget()).await.unwrap();
        assert!(unchanged.partitions_reset.is_empty() && unchanged.records_indexed == 0);
    }
}
