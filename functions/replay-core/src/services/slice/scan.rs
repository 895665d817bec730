//! The driver's reads of the log: the slice's ranges found on its first run,
//! and a partition's scan opened where the decider says (or reopened where
//! the last batch ended).

use super::decider::Decider;
use super::intake::ScanStart;
use super::range::find_ranges;
use super::retry::KafkaRetry;
use super::run::Driver;
use super::SliceOutcome;
use crate::domain::selection::RecordReader;
use crate::error::{Error, Result};
use crate::ports::{ScanBatch, ScanRequest};
use tokio::sync::mpsc;

/// Records per scan batch.
const MAX_BATCH_RECORDS: usize = 5_000;

/// A partition's scan in progress: where it stands, to reopen it exactly.
pub(super) struct Scan {
    pub(super) rx: mpsc::Receiver<Result<ScanBatch>>,
    /// Offset after the last batch taken.
    pub(super) from: i64,
    pub(super) reader: RecordReader,
}

impl<'a> Driver<'a> {
    /// Finds the slice's ranges on its first run and checkpoints them. A
    /// version 1 checkpoint knows one range without its partition or end:
    /// they are filled in.
    pub(super) async fn ensure_ranges(
        &self,
        d: &mut Decider<'a>,
        retry: &mut KafkaRetry,
    ) -> Result<Option<SliceOutcome>> {
        if d.cp.ranges.len() == 1 && d.cp.ranges[0].partition == u32::MAX {
            let partition = self.spec.partitions.first().copied().unwrap_or(0);
            let (_, high) = self.ports.log.watermarks(partition).await?;
            d.cp.ranges[0].partition = partition;
            d.cp.ranges[0].end = high;
        }
        if d.cp.started() {
            return Ok(None);
        }
        let (ranges, expired) = loop {
            match find_ranges(self.ports.log, self.spec, &d.bounds).await {
                Ok(found) => break found,
                Err(e) => retry.wait_or_fail(e).await?,
            }
        };
        d.ranges_found(ranges, expired);
        self.save(d).await
    }

    /// Opens a scan of a partition: at `at` (a reopen), or where the decider says.
    pub(super) async fn open(
        &self,
        d: &Decider<'a>,
        partition: usize,
        at: Option<(i64, RecordReader)>,
    ) -> Result<Scan> {
        let range = d.checkpoint().ranges[partition];
        let (from, reader) = match at {
            Some(at) => at,
            None => {
                let from = match d.scan_start(partition) {
                    ScanStart::At(offset) => offset,
                    ScanStart::LookBack { time, floor, cap } => {
                        let at = self.ports.log.offset_for_time(range.partition, time).await?.max(floor);
                        cap.map_or(at, |cap| at.min(cap))
                    }
                };
                (from, d.new_reader())
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

    /// Reading met records retention deleted, or an offset past the log's
    /// end (a topic recreated or truncated): the scan reopens past what is
    /// gone, counted, or the partition ends (`None`) when the rest of its
    /// range is gone for good.
    pub(super) async fn after_expiry(
        &self,
        d: &mut Decider<'a>,
        partition: usize,
        next_offset: i64,
        reader: RecordReader,
        retry: &mut KafkaRetry,
    ) -> Result<Option<Scan>> {
        let (low, high) = self.ports.log.watermarks(d.checkpoint().ranges[partition].partition).await?;
        if next_offset >= high {
            d.cut(partition, next_offset, high);
            return Ok(None);
        }
        if next_offset >= low {
            // Out of range inside the log (a leader moving): not a loop.
            retry.wait_or_fail(Error::Internal("offset out of range inside the log".into())).await?;
        }
        let low = d.expired(partition, next_offset, low);
        Ok(Some(self.open(d, partition, Some((low, reader))).await?))
    }
}

pub(super) async fn recv(scan: &mut Option<Scan>) -> Option<Result<ScanBatch>> {
    let Some(s) = scan else { return std::future::pending().await };
    s.rx.recv().await
}
