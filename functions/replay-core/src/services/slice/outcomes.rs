//! The failed-only rule's first pass: before a slice of an `only: failed`
//! job delivers anything, it reads the logged delivery outcomes (the
//! optional `delivery` field, docs/delivery-log.md) of its events' copies
//! over the window widened by the dedup look-back on both sides, so a copy
//! logged after the slice's end (in the next slice's time, or after the
//! job's window) still counts. Events are keyed by the dedup hash of their id.

use crate::config::WorkerConfig;
use crate::domain::checkpoint::PartitionRange;
use crate::domain::dedup::event_hash;
use crate::domain::record::LoggedOutcome;
use crate::domain::selection::{Bounds, RecordReader, ScanItem, Zone};
use crate::error::Result;
use crate::ports::{DeliveryLog, ScanRequest};
use std::collections::HashMap;

use super::SliceSpec;

/// What the copies of one event said about its original delivery.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Outcomes {
    pub failed: bool,
    pub succeeded: bool,
}

/// The outcomes of the webhook's events logged in `[from - look-back, to + look-back)`,
/// for the events that carried one (an event absent here had none).
pub async fn collect_outcomes(
    log: &dyn DeliveryLog,
    spec: &SliceSpec,
    cfg: &WorkerConfig,
    ranges: &[PartitionRange],
) -> Result<HashMap<u64, Outcomes>> {
    let bounds = Bounds {
        from: spec.window.from.0 - cfg.dedup_lookback_ms,
        to: spec.window.to.0 + cfg.dedup_lookback_ms,
        lookback_ms: 0,
        skew_ms: cfg.skew_ms,
    };
    let mut outcomes: HashMap<u64, Outcomes> = HashMap::new();
    for range in ranges {
        let from = log.offset_for_time(range.partition, bounds.scan_from_ts()).await?;
        // Up to the log's end now: copies after the window may have arrived since the range was found.
        let (_, end) = log.watermarks(range.partition).await?;
        if from >= end {
            continue;
        }
        let reader = RecordReader::new(spec.webhook_id.as_str(), bounds, cfg.anomaly_ms);
        let mut rx = log.scan(ScanRequest {
            partition: range.partition,
            from,
            end,
            reader,
            max_batch: 5_000,
            max_batch_bytes: cfg.max_batch_bytes,
        })?;
        'scan: while let Some(batch) = rx.recv().await {
            for item in batch?.items {
                match item {
                    ScanItem::Event { zone: Zone::Window, event_id, outcome: Some(outcome), .. } => {
                        let o = outcomes.entry(event_hash(&event_id)).or_default();
                        match outcome {
                            LoggedOutcome::Failed => o.failed = true,
                            LoggedOutcome::Succeeded => o.succeeded = true,
                        }
                    }
                    ScanItem::Done { .. } => break 'scan,
                    _ => {}
                }
            }
        }
    }
    Ok(outcomes)
}
