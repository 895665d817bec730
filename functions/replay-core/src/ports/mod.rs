//! Ports: what the core needs from the outside world. Adapters in `adapters/`
//! implement them against the real services; `adapters::memory` has fakes
//! for unit tests.

pub mod checkpoint_contract;
pub mod directory;
pub mod index_contract;
pub mod ledger;
pub mod ledger_contract;
pub mod log_contract;
pub mod queue_contract;

pub use crate::domain::pace::SlicePace;
pub use crate::domain::retry::{Attempt, DeliveryOutcome};
pub use directory::Directory;
pub use ledger::JobLedger;

use crate::domain::checkpoint::{Checkpoint, Lease};
use crate::domain::ids::{JobId, WebhookId};
use crate::domain::job::{Counters, JobState};
use crate::domain::log_index::IndexSegment;
use crate::domain::sealed::{DataKey, SecretContext};
use crate::domain::selection::{RecordReader, ScanItem};
use crate::domain::signing::Signer;
use crate::domain::task::QueueTask;
use crate::error::Result;
use async_trait::async_trait;
use bytes::Bytes;
use std::time::Duration;
use tokio::sync::mpsc;

/// The slice queue (SQS in production).
#[async_trait]
pub trait SliceQueue: Send + Sync {
    async fn send(&self, tasks: &[QueueTask]) -> Result<()>;
    /// Sends one task that becomes visible after `delay_s` (at most 900).
    async fn send_delayed(&self, task: &QueueTask, delay_s: u32) -> Result<()>;
    /// Puts a message this release cannot read back on the queue, its body
    /// byte for byte, visible after `delay_s`, carrying how many times it was
    /// handed back (docs/operations.md, "Formats and versions").
    async fn hand_back(&self, body: &str, handbacks: u32, delay_s: u32) -> Result<()>;
    /// Messages waiting to be received, approximately: visible and delayed.
    /// Not those in flight: a worker holds each of them, and a wake-up in
    /// flight has already taken its slice (or found none).
    async fn waiting_messages(&self) -> Result<u64>;
}

/// The master key of webhook secrets (KMS in production): hands out data
/// keys for envelope encryption and decrypts them, bound to a context.
#[async_trait]
pub trait KeyService: Send + Sync {
    /// A new data key: its plaintext and its form encrypted by the master key.
    async fn data_key(&self, context: SecretContext<'_>) -> Result<(DataKey, Vec<u8>)>;
    /// The plaintext of an encrypted data key, if `context` is the one it was made with.
    async fn decrypt_key(&self, encrypted: &[u8], context: SecretContext<'_>) -> Result<DataKey>;
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
    /// Renews the lease alone; `Error::LeaseLost` if the token is no longer current.
    async fn renew(&self, slice_key: &str, lease: &Lease, ttl_ms: u64) -> Result<()>;
    /// Gives the lease up so a continuation can take it at once.
    async fn release(&self, slice_key: &str, lease: &Lease) -> Result<()>;
}

/// What to read from one partition: `[from, end)`, each record through `reader`.
pub struct ScanRequest {
    pub partition: u32,
    pub from: i64,
    pub end: i64,
    pub reader: RecordReader,
    /// A batch ends after this many records read or payload bytes kept.
    pub max_batch: usize,
    pub max_batch_bytes: usize,
}

/// Items read together, in log order.
#[derive(Debug, Default)]
pub struct ScanBatch {
    pub items: Vec<ScanItem>,
    /// Offset after the last record read (where to resume).
    pub next_offset: i64,
    /// The reader as it was after this batch: a scan that failed is reopened
    /// at `next_offset` with it, as if nothing had happened.
    pub reader: Option<RecordReader>,
}

/// The delivery log (Kafka in production).
#[async_trait]
pub trait DeliveryLog: Send + Sync {
    /// The topic's partitions now (cached for a short while).
    async fn partition_count(&self) -> Result<u32>;
    /// First offset whose timestamp is at or after `ts`, or the high watermark
    /// if there is none.
    async fn offset_for_time(&self, partition: u32, ts: i64) -> Result<i64>;
    /// (low, high) watermarks: the first retained offset and the log's end.
    async fn watermarks(&self, partition: u32) -> Result<(i64, i64)>;
    /// Timestamp of the oldest retained record, None for an empty partition.
    async fn oldest_timestamp(&self, partition: u32) -> Result<Option<i64>>;
    /// Reads `[from, end)` of a partition in batches. A scan that finds its
    /// offset deleted by retention ends with `Error::RecordsExpired`.
    fn scan(&self, req: ScanRequest) -> Result<mpsc::Receiver<Result<ScanBatch>>>;
    /// Reads `[from, end)` of a partition for the log's index: each record's
    /// offset, timestamp and key hash, in batches of up to `max_batch`
    /// records. Ends with `Error::RecordsExpired` as `scan` does; the channel
    /// closes at `end` or at the log's end.
    fn scan_keys(
        &self,
        partition: u32,
        from: i64,
        end: i64,
        max_batch: usize,
    ) -> Result<mpsc::Receiver<Result<KeyBatch>>>;
}

/// A record's place in the log, for the log's index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyedRecord {
    pub offset: i64,
    pub timestamp: i64,
    /// `log_index::key_hash` of its key (a webhook id); `None` without one.
    pub key_hash: Option<u64>,
}

/// Records read together for the index, and where reading goes on.
#[derive(Debug, Default)]
pub struct KeyBatch {
    pub records: Vec<KeyedRecord>,
    /// Offset after the last record read (markers included).
    pub next_offset: i64,
}

/// Where a partition's index ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexTip {
    /// The offset after its last block: the indexer goes on here.
    pub end_offset: i64,
    /// Its last record (offset, timestamp): the log must still hold it there.
    pub last_record: Option<(i64, i64)>,
}

/// The log's index (MySQL in production): segments of blocks per partition
/// (domain/log_index.rs, docs/guarantees.md "The log's index").
#[async_trait]
pub trait LogIndex: Send + Sync {
    /// The segments of `partition` that overlap `[from, end)`, by first offset.
    async fn segments(&self, partition: u32, from: i64, end: i64) -> Result<Vec<IndexSegment>>;
    /// Where the partition's index ends, `None` if it has none.
    async fn tip(&self, partition: u32) -> Result<Option<IndexTip>>;
    /// Stores a segment; one that starts where a stored one does replaces it.
    async fn put(&self, segment: &IndexSegment) -> Result<()>;
    /// Deletes the partition's segments that end at or before `offset`
    /// (retention deleted their records); how many went.
    async fn purge_before(&self, partition: u32, offset: i64) -> Result<u64>;
    /// Deletes the partition's whole index (a log that changed under it, a
    /// rebuild); how many segments went.
    async fn drop_partition(&self, partition: u32) -> Result<u64>;
}

/// One signed POST to a webhook.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub url: String,
    pub message_id: String,
    /// The event's type (for the failure list and a dry run's tally).
    pub event_type: String,
    pub body: Bytes,
    pub job_id: JobId,
    pub key: Signer,
    /// The webhook whose events these are, when delivered to another
    /// (`x-replay-source-webhook-id`).
    pub source_webhook_id: Option<WebhookId>,
}

/// HTTP delivery to webhook URLs (reqwest in production): one attempt, bounded
/// by `timeout`; what to do next is the retry rule's (domain/retry.rs).
#[async_trait]
pub trait Deliverer: Send + Sync {
    async fn attempt(&self, delivery: &Delivery, timeout: Duration) -> Attempt;
    /// A receiver check (docs/api.md, "A receiver check"): `GET url` with
    /// `crc_token` added to its query, through the same outbound policy as
    /// deliveries; the answer's `response_token`, or why there is none
    /// (never naming the URL).
    async fn challenge(&self, url: &str, crc_token: &str, timeout: Duration) -> Result<String, String>;
}

pub use crate::domain::checkpoint::FailedEvent;

/// What the sweeper keeps tidy beside the job ledger (MySQL in production).
#[async_trait]
pub trait Housekeeping: Send + Sync {
    /// The delivery log's partition count now (a window is read on every
    /// partition its key lived in).
    async fn record_partition_count(&self, topic: &str, partitions: u32) -> Result<()>;
    /// Deletes up to `limit` audit rows older than `retention`; how many went.
    async fn purge_audit(&self, retention: Duration, limit: u32) -> Result<u32>;
    /// Deletes per-minute API request counts of minutes before `before_minute`.
    async fn purge_request_counts(&self, before_minute: i64) -> Result<u64>;
}

/// What a heartbeat learns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Beat {
    /// The job's state now (a cancel stops the slice).
    pub job_state: JobState,
    /// The webhook's signing keys' version now (`StoredSecrets::version`).
    pub secrets_version: String,
}

/// A webhook's signing keys as they are now, and their version (MySQL and
/// KMS in production): read when a slice starts, and again when a heartbeat
/// shows another version (a rotation).
#[async_trait]
pub trait WebhookSigners: Send + Sync {
    async fn signer(&self, webhook: &WebhookId) -> Result<(Signer, String)>;
}

/// Where a running slice reports progress (MySQL in production).
#[async_trait]
pub trait SliceProgress: Send + Sync {
    /// Records the slice's counters and heartbeat, fenced by the lease token
    /// (`Error::LeaseLost` if a newer lease holder wrote); `progressed` says
    /// the slice moved on since the last beat (its restart count starts over).
    /// `pace` is the slice's pace now (the job's view sums the running
    /// slices' `in_flight`; the job's next slice starts from it). Returns the job's
    /// state, so the worker can stop when it was cancelled, and the
    /// webhook's secrets' version.
    async fn heartbeat(
        &self,
        job_id: &JobId,
        slice_index: u32,
        token: u64,
        counters: &Counters,
        progressed: bool,
        pace: SlicePace,
    ) -> Result<Beat>;
    async fn record_failures(&self, job_id: &JobId, failures: &[FailedEvent]) -> Result<()>;
    /// Records event ids of the job's `event_ids` selection that were found.
    async fn record_found(&self, job_id: &JobId, event_ids: &[String]) -> Result<()>;
}
