//! Ports: what the core needs from the outside world. Adapters in `adapters/`
//! implement them against the real services; `adapters::memory` has fakes
//! for unit tests.

use crate::domain::checkpoint::{Checkpoint, Lease};
use crate::domain::ids::JobId;
use crate::domain::job::{Counters, JobState};
use crate::domain::signing::SigningKey;
use crate::domain::task::QueueTask;
use crate::error::Result;
use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::mpsc;

/// The slice queue (SQS in production).
#[async_trait]
pub trait SliceQueue: Send + Sync {
    async fn send(&self, tasks: &[QueueTask]) -> Result<()>;
    /// Sends one task that becomes visible after `delay_s` (at most 900).
    async fn send_delayed(&self, task: &QueueTask, delay_s: u32) -> Result<()>;
}

/// Slice checkpoints and leases (DynamoDB in production).
#[async_trait]
pub trait CheckpointStore: Send + Sync {
    /// Takes the lease on `slice_key` if it is free, expired or already ours;
    /// returns the new lease (with a fresh fencing token) and the checkpoint,
    /// or `None` if another worker holds it.
    async fn acquire(&self, slice_key: &str, owner: &str, ttl_ms: u64) -> Result<Option<(Lease, Checkpoint)>>;
    /// Saves the checkpoint and renews the lease; `Error::LeaseLost` if the
    /// token is no longer current.
    async fn save(&self, slice_key: &str, lease: &Lease, checkpoint: &Checkpoint, ttl_ms: u64) -> Result<()>;
    /// Gives the lease up so a continuation can take it at once.
    async fn release(&self, slice_key: &str, lease: &Lease) -> Result<()>;
}

/// One record of the delivery log that matters to a replay.
#[derive(Debug, Clone)]
pub struct ScannedRecord {
    pub offset: i64,
    pub timestamp: i64,
    pub kind: RecordKind,
}

#[derive(Debug, Clone)]
pub enum RecordKind {
    Event { event_id: String, payload: Bytes },
    Malformed { reason: String },
}

impl ScannedRecord {
    /// The record if it is `webhook_id`'s (an event or a malformed one); None for others.
    pub fn of(offset: i64, timestamp: i64, webhook_id: &str, key: Option<&[u8]>, value: Option<&[u8]>) -> Option<Self> {
        use crate::domain::record::{classify, Classified};
        let kind = match classify(webhook_id, key, value) {
            Classified::OtherWebhook => return None,
            Classified::Malformed(reason) => RecordKind::Malformed { reason },
            Classified::Event { event_id, payload } => RecordKind::Event {
                event_id: event_id.into_owned(),
                payload: Bytes::copy_from_slice(payload.as_bytes()),
            },
        };
        Some(Self { offset, timestamp, kind })
    }
}

/// Records read together, in log order.
#[derive(Debug, Default)]
pub struct ScanBatch {
    /// This webhook's records (events and malformed ones); others are filtered out.
    pub records: Vec<ScannedRecord>,
    /// Records read at or after the scan's `count_from` offset, of any webhook.
    pub scanned: u64,
    /// Offset after the last record read (where to resume).
    pub next_offset: i64,
}

/// What to read from one partition.
#[derive(Debug, Clone, Copy)]
pub struct ScanRequest<'a> {
    pub partition: u32,
    pub from: i64,
    pub end: i64,
    /// Records before this offset (the dedup look-back) are not counted as scanned.
    pub count_from: i64,
    pub webhook_id: &'a str,
    pub max_batch: usize,
}

/// The delivery log (Kafka in production).
#[async_trait]
pub trait DeliveryLog: Send + Sync {
    async fn partition_count(&self) -> Result<u32>;
    /// First offset whose timestamp is at or after `ts`, or the high watermark
    /// if there is none.
    async fn offset_for_time(&self, partition: u32, ts: i64) -> Result<i64>;
    /// Reads `[from, end)` of a partition in batches of at most `max_batch`
    /// records, keeping only `webhook_id`'s records.
    fn scan(&self, req: ScanRequest<'_>) -> Result<mpsc::Receiver<Result<ScanBatch>>>;
}

/// One signed POST to a webhook.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub url: String,
    pub message_id: String,
    pub body: Bytes,
    pub job_id: JobId,
    pub key: SigningKey,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    Delivered { attempts: u32 },
    Failed { attempts: u32, last_status: Option<u16>, error: String },
}

/// HTTP delivery to webhook URLs (reqwest in production).
#[async_trait]
pub trait Deliverer: Send + Sync {
    async fn deliver(&self, delivery: &Delivery) -> DeliveryOutcome;
}

/// An event that finally failed, for the job's report.
#[derive(Debug, Clone)]
pub struct FailedEvent {
    pub event_id: String,
    pub attempts: u32,
    pub last_status: Option<u16>,
    pub error: String,
}

/// Where a running slice reports progress (MySQL in production).
#[async_trait]
pub trait SliceProgress: Send + Sync {
    /// Records the slice's counters and heartbeat, fenced by the lease token
    /// (`Error::LeaseLost` if a newer lease holder wrote); returns the job's
    /// state so the worker can stop when it was cancelled.
    async fn heartbeat(&self, job_id: &JobId, slice_index: u32, token: u64, counters: &Counters) -> Result<JobState>;
    async fn record_failures(&self, job_id: &JobId, failures: &[FailedEvent]) -> Result<()>;
}
