//! Where each partition of a slice is read: from the first offset whose
//! timestamp is at or after `from - look-back - skew` to the log's end as it
//! is now (the scan stops long before, once its watermark passes the
//! window). Found once and kept in the checkpoint, so continuations read the
//! same range. Also what retention deleted of the window before the slice
//! could read it, from the offsets the job planned at its creation.

use super::SliceSpec;
use crate::domain::checkpoint::PartitionRange;
use crate::domain::selection::Bounds;
use crate::error::Result;
use crate::ports::DeliveryLog;
use tracing::warn;

/// The ranges, and how many records of the window retention deleted before
/// they were read (of any webhook: the log no longer says whose they were).
pub async fn find_ranges(
    log: &dyn DeliveryLog,
    spec: &SliceSpec,
    bounds: &Bounds,
) -> Result<(Vec<PartitionRange>, u64)> {
    let mut ranges = Vec::with_capacity(spec.partitions.len());
    let mut expired = 0u64;
    for &partition in &spec.partitions {
        let (low, high) = log.watermarks(partition).await?;
        let scan_from = log.offset_for_time(partition, bounds.scan_from_ts()).await?.max(low);
        if let Some(&(_, start, end)) = spec.planned.iter().find(|(p, _, _)| *p == partition) {
            let lost = (low.min(end) - start).max(0) as u64;
            if lost > 0 {
                warn!(
                    partition,
                    lost, low, start, "records of the window were deleted by retention before they were read"
                );
                expired += lost;
            }
        }
        ranges.push(PartitionRange { partition, scan_from, end: high });
    }
    Ok((ranges, expired))
}
