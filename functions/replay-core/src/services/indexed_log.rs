//! The delivery log read through its index (docs/guarantees.md, "The log's
//! index"): a slice's scan skips the blocks its webhook is not in and reads
//! the rest from the log, handing the slice the same items a full scan
//! would (`RecordReader::skip`). What the index does not cover is read in
//! full and counted (`records_unindexed`); if the index cannot be read, or
//! ends past the log's end (it describes another log), the whole scan is.
//! A block is judged against the log's first retained offset as it was when
//! the scan opened: retention deleting a skipped block's records later
//! deletes none of the webhook's (the block holds none).

use crate::domain::log_index::{key_hash, plan, IndexBlock, SkipRule, Step};
use crate::domain::selection::RecordReader;
use crate::error::Result;
use crate::ports::{DeliveryLog, KeyBatch, LogIndex, ScanBatch, ScanRequest};
use async_trait::async_trait;
use std::sync::Arc;
use tokio::sync::mpsc;
use tracing::{debug, warn};

/// Skipped records handed over in one batch at most (their counts and the
/// watermark move with it).
const SKIPPED_PER_BATCH: u64 = 50_000;

/// Offsets planned at once (their blocks held in memory: about 10 bytes a record).
const PLAN_OFFSETS: i64 = 262_144;

pub struct IndexedLog {
    pub log: Arc<dyn DeliveryLog>,
    pub index: Arc<dyn LogIndex>,
}

#[async_trait]
impl DeliveryLog for IndexedLog {
    async fn partition_count(&self) -> Result<u32> {
        self.log.partition_count().await
    }

    async fn offset_for_time(&self, partition: u32, ts: i64) -> Result<i64> {
        self.log.offset_for_time(partition, ts).await
    }

    async fn watermarks(&self, partition: u32) -> Result<(i64, i64)> {
        self.log.watermarks(partition).await
    }

    async fn oldest_timestamp(&self, partition: u32) -> Result<Option<i64>> {
        self.log.oldest_timestamp(partition).await
    }

    fn scan(&self, req: ScanRequest) -> Result<mpsc::Receiver<Result<ScanBatch>>> {
        let (tx, rx) = mpsc::channel(4);
        let (log, index) = (self.log.clone(), self.index.clone());
        tokio::spawn(async move {
            if let Err(e) = indexed_scan(log.as_ref(), index.as_ref(), req, &tx).await {
                let _ = tx.send(Err(e)).await;
            }
        });
        Ok(rx)
    }

    fn scan_keys(
        &self,
        partition: u32,
        from: i64,
        end: i64,
        max_batch: usize,
    ) -> Result<mpsc::Receiver<Result<KeyBatch>>> {
        self.log.scan_keys(partition, from, end, max_batch)
    }
}

/// Whether the partition's index may be used with the log as it is: not if
/// it cannot be read, if it ends past the log's end, or if the log no longer
/// holds the last record it indexed where it says (it describes a topic
/// since recreated or truncated; the indexer notices only once the log grows).
async fn usable(log: &dyn DeliveryLog, index: &dyn LogIndex, partition: u32, (low, high): (i64, i64)) -> bool {
    let tip = match index.tip(partition).await {
        Ok(Some(tip)) => tip,
        Ok(None) => return false,
        Err(e) => {
            warn!(partition, error = %e, "the log's index cannot be read: the slice reads the whole range");
            return false;
        }
    };
    if tip.end_offset > high {
        warn!(partition, high, ?tip, "the log's index ends past the log's end (a topic recreated?): not used");
        return false;
    }
    let Some((offset, ts)) = tip.last_record.filter(|&(offset, _)| offset >= low) else { return true };
    let found = match log.scan_keys(partition, offset, offset + 1, 1) {
        Ok(mut rx) => rx.recv().await,
        Err(e) => Some(Err(e)),
    };
    match found {
        Some(Ok(batch)) if batch.records.first().is_some_and(|r| r.offset == offset && r.timestamp == ts) => true,
        // Deleted by retention meanwhile: nothing tells against the index.
        Some(Err(crate::error::Error::RecordsExpired { .. })) => true,
        other => {
            let found = other.map(|r| r.map(|b| b.records.first().copied()));
            warn!(
                partition,
                ?tip,
                ?found,
                "the log no longer holds the index's last record (a topic recreated?): not used"
            );
            false
        }
    }
}

async fn indexed_scan(
    log: &dyn DeliveryLog,
    index: &dyn LogIndex,
    req: ScanRequest,
    tx: &mpsc::Sender<Result<ScanBatch>>,
) -> Result<()> {
    let ScanRequest { partition, from, end, mut reader, max_batch, max_batch_bytes } = req;
    let (low, high) = log.watermarks(partition).await?;
    let usable = usable(log, index, partition, (low, high)).await;
    let rule =
        SkipRule { webhook_hash: key_hash(reader.webhook_id().as_bytes()), done_at: reader.bounds().done_at(), low };
    let mut skipped = Skipped { next_offset: from, handed_to: from, records: 0 };
    // Planned a stretch at a time: a slice over millions of records would
    // otherwise hold all their blocks at once.
    let mut chunk_from = from;
    while chunk_from < end {
        let chunk_end = end.min(chunk_from.saturating_add(PLAN_OFFSETS));
        let blocks: Vec<IndexBlock> = if usable {
            match index.segments(partition, chunk_from, chunk_end).await {
                Ok(segments) => segments.into_iter().flat_map(|s| s.blocks).collect(),
                Err(e) => {
                    warn!(partition, error = %e, "the log's index cannot be read: this stretch is read in full");
                    Vec::new()
                }
            }
        } else {
            Vec::new()
        };
        let steps = plan(&blocks, chunk_from, chunk_end, rule);
        debug!(partition, chunk_from, chunk_end, blocks = blocks.len(), steps = steps.len(), "indexed scan");
        for step in steps {
            let (a, b, indexed) = match step {
                Step::Skip(i) if reader.can_skip() => {
                    let block = &blocks[i];
                    reader.skip(block);
                    skipped.next_offset = block.end_offset;
                    skipped.records += block.timestamps.len() as u64;
                    if skipped.records >= SKIPPED_PER_BATCH && !skipped.hand_over(&mut reader, tx).await {
                        return Ok(());
                    }
                    continue;
                }
                Step::Skip(i) => (blocks[i].first_offset, blocks[i].end_offset, true),
                Step::Read { from, end, indexed } => (from, end, indexed),
            };
            if !skipped.hand_over(&mut reader, tx).await {
                return Ok(());
            }
            reader.set_unindexed(!indexed);
            let request =
                ScanRequest { partition, from: a, end: b, reader: reader.clone(), max_batch, max_batch_bytes };
            let mut inner = log.scan(request)?;
            let mut at = a;
            while let Some(batch) = inner.recv().await {
                let batch = match batch {
                    Ok(batch) => batch,
                    Err(e) => {
                        let _ = tx.send(Err(e)).await;
                        return Ok(());
                    }
                };
                at = batch.next_offset;
                if let Some(r) = &batch.reader {
                    reader = r.clone();
                }
                if tx.send(Ok(batch)).await.is_err() {
                    return Ok(());
                }
            }
            // A scan that stopped short (the reading is done, or it ended
            // without saying why): the slice reopens where it stopped, if it needs to.
            if at < b || reader.is_done() {
                return Ok(());
            }
            skipped.next_offset = b;
            skipped.handed_to = b;
        }
        chunk_from = chunk_end;
    }
    skipped.hand_over(&mut reader, tx).await;
    Ok(())
}

/// Blocks skipped and not handed over yet.
struct Skipped {
    /// Where the last block skipped ends.
    next_offset: i64,
    /// Where the slice was last told the reading stands.
    handed_to: i64,
    /// Records skipped since.
    records: u64,
}

impl Skipped {
    /// Hands the skipped blocks' run to the slice; false if it stopped listening.
    async fn hand_over(&mut self, reader: &mut RecordReader, tx: &mpsc::Sender<Result<ScanBatch>>) -> bool {
        if self.next_offset <= self.handed_to {
            return true;
        }
        let mut batch = ScanBatch { next_offset: self.next_offset, ..ScanBatch::default() };
        reader.flush(&mut batch.items);
        batch.reader = Some(reader.clone());
        self.records = 0;
        self.handed_to = self.next_offset;
        tx.send(Ok(batch)).await.is_ok()
    }
}
