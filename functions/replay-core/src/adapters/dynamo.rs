//! Slice checkpoints and leases in DynamoDB: one item per slice, every write
//! conditional on the lease's fencing token.

use crate::domain::checkpoint::{Checkpoint, Lease, SliceRange};
use crate::domain::job::Counters;
use crate::error::{Error, Result};
use crate::ports::CheckpointStore;
use async_trait::async_trait;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use aws_sdk_dynamodb::Client;
use std::collections::HashMap;
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
const COUNTERS: [&str; 6] = ["c_scanned", "c_matched", "c_delivered", "c_duplicates", "c_failures", "c_malformed"];

fn counters_of(item: &Item) -> Counters {
    Counters {
        events_scanned: get_u64(item, COUNTERS[0]),
        events_matched: get_u64(item, COUNTERS[1]),
        events_delivered: get_u64(item, COUNTERS[2]),
        duplicates_skipped: get_u64(item, COUNTERS[3]),
        delivery_failures: get_u64(item, COUNTERS[4]),
        malformed: get_u64(item, COUNTERS[5]),
    }
}

fn counter_values(c: &Counters) -> [u64; 6] {
    [c.events_scanned, c.events_matched, c.events_delivered, c.duplicates_skipped, c.delivery_failures, c.malformed]
}

fn checkpoint_of(item: &Item) -> Checkpoint {
    let range = match (get_i64(item, "lookback_offset"), get_i64(item, "start_offset"), get_i64(item, "end_offset")) {
        (Some(lookback_offset), Some(start_offset), Some(end_offset)) => {
            Some(SliceRange { lookback_offset, start_offset, end_offset })
        }
        _ => None,
    };
    Checkpoint {
        range,
        next_offset: get_i64(item, "next_offset").unwrap_or(0),
        dedup: item.get("dedup_ids").and_then(|v| v.as_b().ok()).map(|b| b.as_ref().to_vec()).unwrap_or_default(),
        counters: counters_of(item),
        done: item.get("slice_done").and_then(|v| v.as_bool().ok()).copied().unwrap_or(false),
        pauses: get_u64(item, "pauses") as u32,
    }
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
        let mut expr = String::from(
            "SET next_offset = :next, dedup_ids = :dedup, slice_done = :done, pauses = :pauses, \
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
            .expression_attribute_values(":next", n(cp.next_offset))
            .expression_attribute_values(":dedup", AttributeValue::B(Blob::new(cp.dedup.clone())))
            .expression_attribute_values(":done", AttributeValue::Bool(cp.done))
            .expression_attribute_values(":pauses", n(cp.pauses))
            .expression_attribute_values(":expires", n(now_ms() + ttl_ms as i64))
            .expression_attribute_values(":ttl", self.expires_at());
        for (name, value) in COUNTERS.iter().zip(counter_values(&cp.counters)) {
            expr.push_str(&format!(", {name} = :{name}"));
            req = req.expression_attribute_values(format!(":{name}"), n(value));
        }
        if let Some(range) = cp.range {
            expr.push_str(", lookback_offset = :lb, start_offset = :so, end_offset = :eo");
            req = req
                .expression_attribute_values(":lb", n(range.lookback_offset))
                .expression_attribute_values(":so", n(range.start_offset))
                .expression_attribute_values(":eo", n(range.end_offset));
        }
        match req.update_expression(expr).send().await {
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
            .update_expression("SET lease_expires = :zero")
            .condition_expression("lease_token = :token AND lease_owner = :owner")
            .expression_attribute_values(":zero", n(0))
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
