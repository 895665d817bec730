//! The contract the log's index store keeps (ports::LogIndex): segments come
//! back as stored, by offset range and in order; the tip is the last
//! segment's end and last record; a segment stored again at its first
//! offset replaces the old one; retention and a rebuild delete what they
//! should and nothing else. The in-memory store passes it in the unit tests
//! (adapters/memory/mod.rs), MySQL in the integration tests
//! (tests/it/store_contracts.rs).

use crate::domain::log_index::{key_hash, IndexBlock, IndexSegment};
use crate::ports::{IndexTip, LogIndex};

/// Why the contract broke.
#[derive(Debug)]
pub struct Broken(pub String);

macro_rules! ensure {
    ($cond:expr, $($why:tt)+) => {
        if !$cond {
            return Err(Broken(format!("{}: {}", stringify!($cond), format!($($why)+))));
        }
    };
}

/// A segment of `blocks` blocks of 4 records from `first`, timestamps from `ts`.
pub fn segment(partition: u32, first: i64, blocks: i64, ts: i64) -> IndexSegment {
    let blocks = (0..blocks)
        .map(|b| {
            let start = first + b * 4;
            IndexBlock {
                first_offset: start,
                end_offset: start + 4,
                last_record: start + 3,
                timestamps: (0..4).map(|i| ts + (b * 4 + i) * 10).collect(),
                webhooks: vec![key_hash(format!("wh_{}", b % 3).as_bytes())],
            }
        })
        .collect();
    IndexSegment { partition, blocks }
}

/// Runs the whole contract on an empty index (partitions 0 and 1 are used).
pub async fn run(index: &dyn LogIndex) -> Result<(), Broken> {
    let err = |e: crate::error::Error| Broken(format!("the index answered an error: {e}"));
    ensure!(index.tip(0).await.map_err(err)?.is_none(), "an empty index has no tip");
    ensure!(index.segments(0, 0, i64::MAX).await.map_err(err)?.is_empty(), "an empty index has no segments");
    let stored = [segment(0, 0, 3, 1_000), segment(0, 12, 2, 2_000), segment(0, 20, 5, 3_000)];
    // Out of order, and one in another partition.
    for s in [&stored[2], &stored[0], &stored[1]] {
        index.put(s).await.map_err(err)?;
    }
    index.put(&segment(1, 0, 1, 9_000)).await.map_err(err)?;
    let all = index.segments(0, 0, i64::MAX).await.map_err(err)?;
    ensure!(all == stored.to_vec(), "every segment as stored, by offset: {all:?}");
    let some = index.segments(0, 13, 20).await.map_err(err)?;
    ensure!(some == vec![stored[1].clone()], "only the segments that overlap [13, 20): {some:?}");
    let edge = index.segments(0, 12, 13).await.map_err(err)?;
    ensure!(edge == vec![stored[1].clone()], "a segment starting at the range's start: {edge:?}");
    let tip = index.tip(0).await.map_err(err)?;
    ensure!(tip == Some(IndexTip { end_offset: 40, last_record: Some((39, 3_000 + 19 * 10)) }), "the tip: {tip:?}");

    let replaced = segment(0, 12, 1, 5_000);
    index.put(&replaced).await.map_err(err)?;
    let again = index.segments(0, 12, 13).await.map_err(err)?;
    ensure!(again == vec![replaced], "a segment stored again replaces the old one: {again:?}");

    let purged = index.purge_before(0, 16).await.map_err(err)?;
    ensure!(purged == 2, "segments ending at or before 16 go: {purged}");
    let left: Vec<i64> = index.segments(0, 0, i64::MAX).await.map_err(err)?.iter().map(|s| s.first_offset()).collect();
    ensure!(left == vec![20], "the rest stays: {left:?}");
    ensure!(index.segments(1, 0, i64::MAX).await.map_err(err)?.len() == 1, "another partition is untouched");
    ensure!(index.drop_partition(0).await.map_err(err)? == 1, "a rebuild deletes the partition's index");
    ensure!(index.tip(0).await.map_err(err)?.is_none(), "and it has no tip");
    ensure!(index.tip(1).await.map_err(err)?.is_some(), "another partition keeps its own");
    Ok(())
}
