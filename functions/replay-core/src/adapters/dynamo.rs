//! Slice checkpoints and leases in DynamoDB: one item per slice, every write
//! conditional on the lease's fencing token.

use crate::domain::checkpoint::{Checkpoint, Lease, PartitionRange, Position, Retried, Settled, CHECKPOINT_VERSION};
use crate::domain::job::Counters;
use crate::error::{Error, Result};
use crate::ports::CheckpointStore;
use async_trait::async_trait;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use aws_sdk_dynamodb::Client;
use std::collections::HashMap;

/// The owner of a released lease: no worker's (owners are request and
/// message ids), so nothing renews or saves under it.
const RELEASED: &str = "released";
use std::time::Duration;

pub struct DynamoCheckpoints {
    client: Client,
    table: String,
    /// How long an item outlives its last write (DynamoDB TTL attribute `expires_at`).
    item_ttl: Duration,
}

type Item = HashMap<String, AttributeValue>;

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn get_i64(item: &Item, name: &str) -> Option<i64> {
    item.get(name).and_then(|v| v.as_n().ok()).and_then(|s| s.parse().ok())
}

fn get_u64(item: &Item, name: &str) -> u64 {
    get_i64(item, name).unwrap_or(0).max(0) as u64
}

// Attribute names are prefixed so none is a DynamoDB reserved word.
const COUNTERS: [&str; 14] = [
    "c_scanned",
    "c_matched",
    "c_delivered",
    "c_duplicates",
    "c_failures",
    "c_filtered",
    "c_malformed",
    "c_expired",
    "c_anomalies",
    "c_selected",
    "c_no_outcome",
    "c_unusable_ids",
    "c_skipped",
    "c_unindexed",
];

fn counters_of(item: &Item) -> Counters {
    Counters {
        events_scanned: get_u64(item, COUNTERS[0]),
        events_matched: get_u64(item, COUNTERS[1]),
        events_delivered: get_u64(item, COUNTERS[2]),
        duplicates_skipped: get_u64(item, COUNTERS[3]),
        delivery_failures: get_u64(item, COUNTERS[4]),
        events_filtered: get_u64(item, COUNTERS[5]),
        malformed: get_u64(item, COUNTERS[6]),
        records_expired: get_u64(item, COUNTERS[7]),
        clock_anomalies: get_u64(item, COUNTERS[8]),
        events_selected: get_u64(item, COUNTERS[9]),
        events_without_outcome: get_u64(item, COUNTERS[10]),
        unusable_ids: get_u64(item, COUNTERS[11]),
        records_skipped: get_u64(item, COUNTERS[12]),
        records_unindexed: get_u64(item, COUNTERS[13]),
    }
}

fn counter_values(c: &Counters) -> [u64; 14] {
    [
        c.events_scanned,
        c.events_matched,
        c.events_delivered,
        c.duplicates_skipped,
        c.delivery_failures,
        c.events_filtered,
        c.malformed,
        c.records_expired,
        c.clock_anomalies,
        c.events_selected,
        c.events_without_outcome,
        c.unusable_ids,
        c.records_skipped,
        c.records_unindexed,
    ]
}

/// Bytes per `ahead` entry: event hash (8) + outcome (1).
const AHEAD_ENTRY_BYTES: usize = 9;

fn ahead_bytes(ahead: &[(u64, Settled)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(ahead.len() * AHEAD_ENTRY_BYTES);
    for (hash, settled) in ahead {
        out.extend_from_slice(&hash.to_le_bytes());
        out.push(u8::from(*settled == Settled::Delivered));
    }
    out
}

fn ahead_of(bytes: &[u8]) -> Vec<(u64, Settled)> {
    bytes
        .chunks_exact(AHEAD_ENTRY_BYTES)
        .map(|c| {
            let mut hash = [0u8; 8];
            hash.copy_from_slice(&c[..8]);
            (u64::from_le_bytes(hash), if c[8] == 1 { Settled::Delivered } else { Settled::Failed })
        })
        .collect()
}

/// Bytes per `retries` entry: event hash (8) + attempts (4) + failing ms (8).
const RETRIED_ENTRY_BYTES: usize = 20;

fn retries_bytes(retries: &[(u64, Retried)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(retries.len() * RETRIED_ENTRY_BYTES);
    for (hash, r) in retries {
        out.extend_from_slice(&hash.to_le_bytes());
        out.extend_from_slice(&r.attempts.to_le_bytes());
        out.extend_from_slice(&r.failing_ms.to_le_bytes());
    }
    out
}

fn retries_of(bytes: &[u8]) -> Vec<(u64, Retried)> {
    let le64 = |b: &[u8]| u64::from_le_bytes(b.try_into().unwrap_or_default());
    bytes
        .chunks_exact(RETRIED_ENTRY_BYTES)
        .map(|c| {
            let attempts = u32::from_le_bytes(c[8..12].try_into().unwrap_or_default());
            (le64(&c[..8]), Retried { attempts, failing_ms: le64(&c[12..]) })
        })
        .collect()
}

fn blob(item: &Item, name: &str) -> Vec<u8> {
    item.get(name).and_then(|v| v.as_b().ok()).map(|b| b.as_ref().to_vec()).unwrap_or_default()
}

/// A checkpoint in the current format (2) or the previous one (1: one
/// partition, offsets found once, the dedup set stored).
fn checkpoint_of(item: &Item) -> Checkpoint {
    let version = get_i64(item, "fmt").unwrap_or(1) as u32;
    let mut cp = Checkpoint {
        version,
        counters: counters_of(item),
        done: item.get("slice_done").and_then(|v| v.as_bool().ok()).copied().unwrap_or(false),
        tally: item
            .get("tally")
            .and_then(|v| v.as_s().ok())
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or_default(),
        pauses: get_u64(item, "pauses") as u32,
        ..Checkpoint::default()
    };
    if version >= 2 {
        cp.ranges = item
            .get("ranges")
            .and_then(|v| v.as_s().ok())
            .and_then(|s| serde_json::from_str::<Vec<(u32, i64, i64)>>(s).ok())
            .unwrap_or_default()
            .into_iter()
            .map(|(partition, scan_from, end)| PartitionRange { partition, scan_from, end })
            .collect();
        cp.position = Position {
            partition: get_u64(item, "pos_partition") as usize,
            offset: get_i64(item, "pos_offset").unwrap_or(0),
        };
        cp.watermark = get_i64(item, "watermark");
        cp.ahead = ahead_of(&blob(item, "ahead"));
        cp.retries = retries_of(&blob(item, "retries"));
        cp.unlisted = item
            .get("unlisted")
            .and_then(|v| v.as_s().ok())
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or_default();
    } else if let (Some(lookback), Some(next)) = (get_i64(item, "lookback_offset"), get_i64(item, "next_offset")) {
        // Version 1 knew one partition (the slice's own) and an end offset;
        // the partition and the end are the slice's to fill in.
        cp.ranges = vec![PartitionRange { partition: u32::MAX, scan_from: lookback, end: -1 }];
        cp.position = Position { partition: 0, offset: next };
        cp.legacy_dedup = blob(item, "dedup_ids");
    }
    cp
}

fn is_condition_failure<E: aws_sdk_dynamodb::error::ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    err.as_service_error().and_then(|e| e.code()).is_some_and(|code| code == "ConditionalCheckFailedException")
}

fn store_error<E: std::fmt::Debug>(err: E) -> Error {
    Error::Checkpoint(format!("{err:?}"))
}

impl DynamoCheckpoints {
    pub fn new(client: Client, table: impl Into<String>, item_ttl: Duration) -> Self {
        Self { client, table: table.into(), item_ttl }
    }

    fn expires_at(&self) -> AttributeValue {
        n(chrono::Utc::now().timestamp() + self.item_ttl.as_secs() as i64)
    }
}

#[async_trait]
impl CheckpointStore for DynamoCheckpoints {
    async fn acquire(&self, slice_key: &str, owner: &str, ttl_ms: u64) -> Result<Option<(Lease, Checkpoint)>> {
        let now = now_ms();
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(slice_key.to_owned()))
            .update_expression(
                "SET lease_owner = :owner, lease_expires = :expires, expires_at = :ttl, \
                 lease_token = if_not_exists(lease_token, :zero) + :one",
            )
            .condition_expression("attribute_not_exists(pk) OR lease_expires < :now OR lease_owner = :owner")
            .expression_attribute_values(":owner", AttributeValue::S(owner.to_owned()))
            .expression_attribute_values(":expires", n(now + ttl_ms as i64))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":ttl", self.expires_at())
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match result {
            Ok(out) => {
                let item = out.attributes().cloned().unwrap_or_default();
                let token = get_u64(&item, "lease_token");
                Ok(Some((Lease { owner: owner.to_owned(), token }, checkpoint_of(&item))))
            }
            Err(e) if is_condition_failure(&e) => Ok(None),
            Err(e) => Err(store_error(e)),
        }
    }

    async fn save(&self, slice_key: &str, lease: &Lease, cp: &Checkpoint, ttl_ms: u64) -> Result<()> {
        let ranges: Vec<(u32, i64, i64)> = cp.ranges.iter().map(|r| (r.partition, r.scan_from, r.end)).collect();
        let mut expr = String::from(
            "SET fmt = :fmt, ranges = :ranges, pos_partition = :pp, pos_offset = :po, ahead = :ahead, \
             retries = :retries, unlisted = :unlisted, slice_done = :done, pauses = :pauses, \
             lease_expires = :expires, expires_at = :ttl",
        );
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(slice_key.to_owned()))
            .condition_expression("lease_token = :token AND lease_owner = :owner")
            .expression_attribute_values(":token", n(lease.token))
            .expression_attribute_values(":owner", AttributeValue::S(lease.owner.clone()))
            .expression_attribute_values(":fmt", n(CHECKPOINT_VERSION))
            .expression_attribute_values(
                ":ranges",
                AttributeValue::S(serde_json::to_string(&ranges).unwrap_or_default()),
            )
            .expression_attribute_values(":pp", n(cp.position.partition))
            .expression_attribute_values(":po", n(cp.position.offset))
            .expression_attribute_values(":ahead", AttributeValue::B(Blob::new(ahead_bytes(&cp.ahead))))
            .expression_attribute_values(":retries", AttributeValue::B(Blob::new(retries_bytes(&cp.retries))))
            .expression_attribute_values(
                ":unlisted",
                AttributeValue::S(serde_json::to_string(&cp.unlisted).unwrap_or_default()),
            )
            .expression_attribute_values(":done", AttributeValue::Bool(cp.done))
            .expression_attribute_values(":pauses", n(cp.pauses))
            .expression_attribute_values(":expires", n(now_ms() + ttl_ms as i64))
            .expression_attribute_values(":ttl", self.expires_at());
        for (name, value) in COUNTERS.iter().zip(counter_values(&cp.counters)) {
            expr.push_str(&format!(", {name} = :{name}"));
            req = req.expression_attribute_values(format!(":{name}"), n(value));
        }
        if let Some(w) = cp.watermark {
            expr.push_str(", watermark = :wm");
            req = req.expression_attribute_values(":wm", n(w));
        }
        if !cp.tally.is_empty() {
            expr.push_str(", tally = :tally");
            req = req.expression_attribute_values(
                ":tally",
                AttributeValue::S(serde_json::to_string(&cp.tally).unwrap_or_default()),
            );
        }
        // A slice that started under format 1 leaves its old attributes behind.
        expr.push_str(" REMOVE dedup_ids, lookback_offset, start_offset, end_offset, next_offset");
        match req.update_expression(expr).send().await {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Err(Error::LeaseLost),
            Err(e) => Err(store_error(e)),
        }
    }

    async fn renew(&self, slice_key: &str, lease: &Lease, ttl_ms: u64) -> Result<()> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(slice_key.to_owned()))
            .update_expression("SET lease_expires = :expires")
            .condition_expression("lease_token = :token AND lease_owner = :owner")
            .expression_attribute_values(":expires", n(now_ms() + ttl_ms as i64))
            .expression_attribute_values(":token", n(lease.token))
            .expression_attribute_values(":owner", AttributeValue::S(lease.owner.clone()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Err(Error::LeaseLost),
            Err(e) => Err(store_error(e)),
        }
    }

    async fn release(&self, slice_key: &str, lease: &Lease) -> Result<()> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(slice_key.to_owned()))
            // The owner goes too: a renewal of ours still in flight (the
            // keeper runs beside the engine until it returns) must not take
            // the lease back after this, or the next message would find it
            // held and skip the slice.
            .update_expression("SET lease_expires = :zero, lease_owner = :released")
            .condition_expression("lease_token = :token AND lease_owner = :owner")
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":released", AttributeValue::S(RELEASED.to_owned()))
            .expression_attribute_values(":token", n(lease.token))
            .expression_attribute_values(":owner", AttributeValue::S(lease.owner.clone()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Ok(()),
            Err(e) => Err(store_error(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_and_ahead_survive_their_encoding() {
        let retries = vec![
            (u64::MAX, Retried { attempts: 7, failing_ms: 901_000 }),
            (3, Retried { attempts: u32::MAX, failing_ms: 0 }),
        ];
        assert_eq!(retries_of(&retries_bytes(&retries)), retries);
        let ahead = vec![(9, Settled::Failed), (u64::MAX, Settled::Delivered)];
        assert_eq!(ahead_of(&ahead_bytes(&ahead)), ahead);
    }
}
