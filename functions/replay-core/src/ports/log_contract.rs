//! The contract the delivery log keeps, as a slice reads it: offsets for
//! times (timestamps out of order included), watermarks and the oldest
//! record as retention moves them, a range read in order and whole, and a
//! read outside the retained log told apart (`RecordsExpired`), a partition
//! added that starts empty beside the old one's records. The
//! in-memory log the simulation and the unit tests read passes it in the
//! unit tests (adapters/memory/mod.rs), Kafka in the integration tests
//! (tests/it/store_contracts.rs), so the fake cannot drift from the broker.
//!
//! Each case gets a fresh log of one partition holding [`records`].

use crate::domain::log_index::key_hash;
use crate::domain::selection::{Bounds, RecordReader, ScanItem};
use crate::error::Error;
use crate::ports::{DeliveryLog, KeyedRecord, ScanRequest};
use async_trait::async_trait;

/// A fresh log of one partition holding [`records`] at offsets 0...
#[async_trait]
pub trait LogBench: Send + Sync {
    fn log(&self) -> &dyn DeliveryLog;
    /// Retention: deletes every record before `offset`.
    async fn delete_before(&self, offset: i64) -> crate::error::Result<()>;
    /// Adds a partition to the topic; `log()` then reads the grown topic.
    async fn add_partition(&self) -> crate::error::Result<()>;
}

/// Why a case failed.
#[derive(Debug)]
pub struct Broken(pub String);

impl From<Error> for Broken {
    fn from(e: Error) -> Self {
        Broken(format!("the log answered an error: {e}"))
    }
}

type Outcome = Result<(), Broken>;

macro_rules! ensure {
    ($cond:expr, $($why:tt)+) => {
        if !$cond {
            return Err(Broken(format!("{}: {}", stringify!($cond), format!($($why)+))));
        }
    };
}

pub const WEBHOOK: &str = "wh_log_contract";
const START: i64 = 1_796_000_400_000;
const RECORDS: i64 = 40;

/// Timestamps 1 s apart from `START`, but for a few a producer wrote late
/// (up to 3 s out of order), as the platform's log holds them.
fn timestamp(offset: i64) -> i64 {
    let late = if offset % 7 == 3 { 3_000 } else { 0 };
    START + offset * 1_000 - late
}

/// One record of the log, keyed by [`WEBHOOK`].
pub struct Record {
    pub timestamp: i64,
    pub value: Vec<u8>,
}

/// What every case's log holds.
pub fn records() -> Vec<Record> {
    (0..RECORDS)
        .map(|o| {
            let event_id = format!("evt_{o:03}");
            let value = serde_json::json!({
                "event_id": event_id, "webhook_id": WEBHOOK, "event_type": "contract.checked",
                "created_at": "2026-12-01T00:00:00Z", "payload": {"offset": o}
            });
            Record { timestamp: timestamp(o), value: serde_json::to_vec(&value).unwrap_or_default() }
        })
        .collect()
}

/// Every case, by name.
pub const CASES: &[&str] = &[
    "an_offset_for_a_time_is_the_first_record_at_or_after_it",
    "retention_moves_the_low_watermark_and_the_oldest_record",
    "a_range_is_read_whole_and_in_order",
    "a_batch_ends_at_its_byte_limit",
    "a_read_below_the_retained_log_is_records_expired",
    "a_read_above_the_log_end_is_records_expired",
    "a_partition_added_is_counted_empty_and_the_old_one_keeps_its_records",
    "keys_are_read_whole_and_in_order_for_the_index",
    "a_key_read_below_the_retained_log_is_records_expired",
];

/// Runs one case of `CASES` on a fresh bench.
pub async fn run(case: &str, bench: &dyn LogBench) -> Outcome {
    match case {
        "an_offset_for_a_time_is_the_first_record_at_or_after_it" => {
            an_offset_for_a_time_is_the_first_record_at_or_after_it(bench).await
        }
        "retention_moves_the_low_watermark_and_the_oldest_record" => {
            retention_moves_the_low_watermark_and_the_oldest_record(bench).await
        }
        "a_range_is_read_whole_and_in_order" => a_range_is_read_whole_and_in_order(bench).await,
        "a_batch_ends_at_its_byte_limit" => a_batch_ends_at_its_byte_limit(bench).await,
        "a_read_below_the_retained_log_is_records_expired" => {
            a_read_below_the_retained_log_is_records_expired(bench).await
        }
        "a_read_above_the_log_end_is_records_expired" => a_read_above_the_log_end_is_records_expired(bench).await,
        "a_partition_added_is_counted_empty_and_the_old_one_keeps_its_records" => {
            a_partition_added_is_counted_empty_and_the_old_one_keeps_its_records(bench).await
        }
        "keys_are_read_whole_and_in_order_for_the_index" => keys_are_read_whole_and_in_order_for_the_index(bench).await,
        "a_key_read_below_the_retained_log_is_records_expired" => {
            a_key_read_below_the_retained_log_is_records_expired(bench).await
        }
        other => Err(Broken(format!("no case named {other}"))),
    }
}

/// The first offset at or after `from` whose timestamp is at or after `ts`.
fn first_at_or_after(from: i64, ts: i64) -> i64 {
    (from..RECORDS).find(|&o| timestamp(o) >= ts).unwrap_or(RECORDS)
}

fn reader() -> RecordReader {
    let bounds = Bounds { from: START, to: START + RECORDS * 1_000, lookback_ms: 0, skew_ms: 0 };
    RecordReader::new(WEBHOOK, bounds, i64::MAX / 4)
}

/// What a scan of `[from, end)` gave: the offsets of its items, or the
/// error it ended with, and the last `next_offset` it reported.
async fn scan(log: &dyn DeliveryLog, from: i64, end: i64) -> Result<(Vec<i64>, Option<Error>, i64), Broken> {
    let request = ScanRequest { partition: 0, from, end, reader: reader(), max_batch: 7, max_batch_bytes: 1 << 20 };
    let mut rx = log.scan(request)?;
    let (mut offsets, mut next) = (Vec::new(), from);
    while let Some(batch) = rx.recv().await {
        match batch {
            Ok(batch) => {
                next = batch.next_offset;
                for item in batch.items {
                    match item {
                        ScanItem::Event { offset, .. } | ScanItem::Malformed { offset, .. } => offsets.push(offset),
                        ScanItem::Others { .. } | ScanItem::Anomaly(_) | ScanItem::Done { .. } => {}
                    }
                }
            }
            Err(e) => return Ok((offsets, Some(e), next)),
        }
    }
    Ok((offsets, None, next))
}

async fn an_offset_for_a_time_is_the_first_record_at_or_after_it(b: &dyn LogBench) -> Outcome {
    let log = b.log();
    for ts in [START - 60_000, START, START + 2_500, START + 3_000, START + 9_999, START + 30_000] {
        let found = log.offset_for_time(0, ts).await?;
        ensure!(found == first_at_or_after(0, ts), "at {ts}: {found}, not {}", first_at_or_after(0, ts));
    }
    let past = log.offset_for_time(0, START + 3_600_000).await?;
    ensure!(past == RECORDS, "after the last record: the log's end, not {past}");
    Ok(())
}

async fn retention_moves_the_low_watermark_and_the_oldest_record(b: &dyn LogBench) -> Outcome {
    let log = b.log();
    ensure!(log.watermarks(0).await? == (0, RECORDS), "a new log: {:?}", log.watermarks(0).await?);
    ensure!(log.oldest_timestamp(0).await? == Some(timestamp(0)), "the oldest is the first record");
    b.delete_before(12).await?;
    ensure!(log.watermarks(0).await? == (12, RECORDS), "after retention: {:?}", log.watermarks(0).await?);
    let oldest = log.oldest_timestamp(0).await?;
    ensure!(oldest == Some(timestamp(12)), "the oldest retained record: {oldest:?}");
    let found = log.offset_for_time(0, START).await?;
    ensure!(found == first_at_or_after(12, START), "a time before retention finds the first retained: {found}");
    Ok(())
}

async fn a_range_is_read_whole_and_in_order(b: &dyn LogBench) -> Outcome {
    let (offsets, error, next) = scan(b.log(), 5, 33).await?;
    ensure!(error.is_none(), "no error: {error:?}");
    ensure!(offsets == (5..33).collect::<Vec<_>>(), "every offset of the range once, in order: {offsets:?}");
    ensure!(next == 33, "the scan ends at the range's end: {next}");
    Ok(())
}

/// The worker's memory bound counts on it (docs/guarantees.md, "Bounds").
async fn a_batch_ends_at_its_byte_limit(b: &dyn LogBench) -> Outcome {
    let request =
        ScanRequest { partition: 0, from: 5, end: 15, reader: reader(), max_batch: 1_000, max_batch_bytes: 1 };
    let mut rx = b.log().scan(request)?;
    let mut offsets = Vec::new();
    while let Some(batch) = rx.recv().await {
        let events: Vec<i64> = batch?
            .items
            .iter()
            .filter_map(|i| if let ScanItem::Event { offset, .. } = i { Some(*offset) } else { None })
            .collect();
        ensure!(events.len() <= 1, "a batch past its byte limit: {events:?}");
        offsets.extend(events);
    }
    ensure!(offsets == (5..15).collect::<Vec<_>>(), "every offset of the range once, in order: {offsets:?}");
    Ok(())
}

async fn a_read_below_the_retained_log_is_records_expired(b: &dyn LogBench) -> Outcome {
    b.delete_before(20).await?;
    let (offsets, error, _) = scan(b.log(), 4, RECORDS).await?;
    ensure!(offsets.iter().all(|&o| o >= 20), "nothing deleted is read: {offsets:?}");
    let Some(Error::RecordsExpired { next_offset }) = error else {
        return Err(Broken(format!("a read of deleted records ends with RecordsExpired, not {error:?}")));
    };
    ensure!(next_offset < 20, "it says where the read stopped, before the retained log: {next_offset}");
    Ok(())
}

async fn a_read_above_the_log_end_is_records_expired(b: &dyn LogBench) -> Outcome {
    // A topic recreated or truncated under a slice's range.
    let (offsets, error, _) = scan(b.log(), RECORDS + 5, RECORDS + 30).await?;
    ensure!(offsets.is_empty(), "nothing is read: {offsets:?}");
    let Some(Error::RecordsExpired { next_offset }) = error else {
        return Err(Broken(format!("a read above the end ends with RecordsExpired, not {error:?}")));
    };
    ensure!(next_offset >= RECORDS, "it says where: {next_offset}");
    Ok(())
}

async fn a_partition_added_is_counted_empty_and_the_old_one_keeps_its_records(b: &dyn LogBench) -> Outcome {
    ensure!(b.log().partition_count().await? == 1, "a new topic of one partition");
    b.add_partition().await?;
    let log = b.log();
    ensure!(log.partition_count().await? == 2, "the grown topic: {}", log.partition_count().await?);
    ensure!(log.watermarks(1).await? == (0, 0), "the new partition is empty: {:?}", log.watermarks(1).await?);
    ensure!(log.oldest_timestamp(1).await?.is_none(), "it has no oldest record");
    let found = log.offset_for_time(1, START).await?;
    ensure!(found == 0, "a time on the empty partition finds its end: {found}");
    ensure!(log.watermarks(0).await? == (0, RECORDS), "the old partition: {:?}", log.watermarks(0).await?);
    let (offsets, error, _) = scan(log, 0, RECORDS).await?;
    ensure!(error.is_none() && offsets == (0..RECORDS).collect::<Vec<_>>(), "its records stay: {offsets:?} {error:?}");
    Ok(())
}

/// What a read of keys gave: its records, the error it ended with, the
/// last `next_offset` and the largest batch.
async fn scan_keys(
    log: &dyn DeliveryLog,
    from: i64,
    end: i64,
) -> Result<(Vec<KeyedRecord>, Option<Error>, i64, usize), Broken> {
    let mut rx = log.scan_keys(0, from, end, 7)?;
    let (mut records, mut next, mut largest) = (Vec::new(), from, 0);
    while let Some(batch) = rx.recv().await {
        match batch {
            Ok(batch) => {
                next = batch.next_offset;
                largest = largest.max(batch.records.len());
                records.extend(batch.records);
            }
            Err(e) => return Ok((records, Some(e), next, largest)),
        }
    }
    Ok((records, None, next, largest))
}

async fn keys_are_read_whole_and_in_order_for_the_index(b: &dyn LogBench) -> Outcome {
    let (records, error, next, largest) = scan_keys(b.log(), 5, 33).await?;
    ensure!(error.is_none(), "no error: {error:?}");
    let expected: Vec<KeyedRecord> = (5..33)
        .map(|o| KeyedRecord { offset: o, timestamp: timestamp(o), key_hash: Some(key_hash(WEBHOOK.as_bytes())) })
        .collect();
    ensure!(records == expected, "every record of the range once, in order, with its time and key: {records:?}");
    ensure!(next == 33, "the read ends at the range's end: {next}");
    ensure!(largest <= 7, "a batch holds at most what was asked: {largest}");
    Ok(())
}

async fn a_key_read_below_the_retained_log_is_records_expired(b: &dyn LogBench) -> Outcome {
    b.delete_before(20).await?;
    let (records, error, _, _) = scan_keys(b.log(), 4, RECORDS).await?;
    ensure!(records.iter().all(|r| r.offset >= 20), "nothing deleted is read: {records:?}");
    ensure!(matches!(error, Some(Error::RecordsExpired { .. })), "it ends with RecordsExpired, not {error:?}");
    Ok(())
}
