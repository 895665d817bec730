//! In-memory fakes of the ports, for unit tests of the core's use cases and
//! the simulation.

mod ledger;
mod log_index;

pub use ledger::MemoryLedger;
pub use log_index::MemoryLogIndex;

use crate::domain::checkpoint::{Checkpoint, Lease};
use crate::domain::ids::JobId;
use crate::domain::job::{Counters, JobState};
use crate::domain::log_index::key_hash;
use crate::domain::pace::SlicePace;
use crate::domain::selection::ScanItem;
use crate::domain::signing::Signer;
use crate::domain::task::QueueTask;
use crate::error::{Error, Result};
use crate::ports::{
    Attempt, Beat, CheckpointStore, Deliverer, Delivery, DeliveryLog, FailedEvent, KeyBatch, KeyedRecord, ScanBatch,
    ScanRequest, SliceProgress, SliceQueue, WebhookSigners,
};
use async_trait::async_trait;
use bytes::Bytes;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A record as a producer wrote it.
#[derive(Debug, Clone)]
pub struct LogRecord {
    pub timestamp: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
}

/// Partitions as vectors; offsets are indexes.
#[derive(Default)]
pub struct MemoryLog {
    pub partitions: Vec<Vec<LogRecord>>,
    /// Records per batch handed to the reader.
    pub batch_size: usize,
    /// The next this many scans fail after their first batch, as a scan does
    /// when the broker goes away.
    pub failing_scans: AtomicU32,
    /// The first retained offset of each partition: retention deleted what
    /// is before it (`delete_before`).
    low: Mutex<HashMap<u32, i64>>,
    /// The log's end when it was cut (a topic recreated, a truncation): a
    /// read reaching it before the range's end is out of range.
    pub cut_at: AtomicI64,
    /// Partitions added after `partitions` was filled: empty, as a topic's
    /// new partitions are, after the existing ones.
    pub added: AtomicU32,
}

impl MemoryLog {
    pub fn new(partitions: usize) -> Self {
        Self {
            partitions: vec![Vec::new(); partitions],
            batch_size: 3,
            failing_scans: AtomicU32::new(0),
            low: Mutex::default(),
            cut_at: AtomicI64::new(i64::MAX),
            added: AtomicU32::new(0),
        }
    }

    /// Retention: deletes the partition's records before `offset`.
    pub fn delete_before(&self, partition: u32, offset: i64) {
        lock(&self.low).insert(partition, offset);
    }

    fn low(&self, partition: u32) -> i64 {
        lock(&self.low).get(&partition).copied().unwrap_or(0)
    }

    /// A partition's records (none for one added since).
    fn records(&self, partition: u32) -> &[LogRecord] {
        self.partitions.get(partition as usize).map_or(&[], Vec::as_slice)
    }
}

#[async_trait]
impl DeliveryLog for MemoryLog {
    async fn partition_count(&self) -> Result<u32> {
        Ok(self.partitions.len() as u32 + self.added.load(Ordering::SeqCst))
    }

    async fn offset_for_time(&self, partition: u32, ts: i64) -> Result<i64> {
        // Kafka's time index follows the largest timestamp so far.
        let p = self.records(partition);
        let low = self.low(partition).max(0) as usize;
        let mut max = i64::MIN;
        for (o, r) in p.iter().enumerate().skip(low) {
            max = max.max(r.timestamp);
            if max >= ts {
                return Ok(o as i64);
            }
        }
        Ok(p.len() as i64)
    }

    async fn watermarks(&self, partition: u32) -> Result<(i64, i64)> {
        let len = (self.records(partition).len() as i64).min(self.cut_at.load(Ordering::SeqCst));
        Ok((self.low(partition).min(len), len))
    }

    async fn oldest_timestamp(&self, partition: u32) -> Result<Option<i64>> {
        let low = self.low(partition).max(0) as usize;
        Ok(self.records(partition).get(low).map(|r| r.timestamp))
    }

    fn scan(&self, req: ScanRequest) -> Result<mpsc::Receiver<Result<ScanBatch>>> {
        let ScanRequest { partition, from, end, mut reader, max_batch, max_batch_bytes } = req;
        let batch_size = self.batch_size.min(max_batch).max(1);
        let records = self.records(partition);
        let (tx, rx) = mpsc::channel(100_000);
        let low = self.low(partition);
        if from < low {
            tx.try_send(Err(Error::RecordsExpired { next_offset: from }))
                .map_err(|e| Error::Internal(e.to_string()))?;
            return Ok(rx);
        }
        let cut_at = self.cut_at.load(Ordering::SeqCst);
        let log_end = records.len() as i64;
        let mut offset = from;
        while offset < end && !reader.is_done() {
            // Above the log's end, as Kafka answers: out of range.
            if offset >= cut_at || offset > log_end {
                tx.try_send(Err(Error::RecordsExpired { next_offset: offset }))
                    .map_err(|e| Error::Internal(e.to_string()))?;
                break;
            }
            if offset == log_end {
                // At the log's end before the range's: the range is read, as
                // Kafka's scan takes the partition's end (adapters/kafka.rs).
                let mut batch = ScanBatch { next_offset: end, ..ScanBatch::default() };
                reader.flush(&mut batch.items);
                batch.reader = Some(reader.clone());
                tx.try_send(Ok(batch)).map_err(|e| Error::Internal(e.to_string()))?;
                break;
            }
            let mut batch = ScanBatch::default();
            let stop = (offset + batch_size as i64).min(end).min(cut_at).min(log_end);
            let (mut last, mut bytes) = (offset, 0);
            for o in offset..stop {
                let r = &records[o as usize];
                let before = batch.items.len();
                reader.read(o, r.timestamp, r.key.as_deref(), r.value.as_deref(), &mut batch.items);
                bytes += batch.items[before..].iter().map(ScanItem::payload_bytes).sum::<usize>();
                last = o + 1;
                // A batch ends at its byte limit too, as Kafka's scan does.
                if reader.is_done() || bytes >= max_batch_bytes {
                    break;
                }
            }
            reader.flush(&mut batch.items);
            batch.next_offset = last;
            batch.reader = Some(reader.clone());
            offset = last;
            tx.try_send(Ok(batch)).map_err(|e| Error::Internal(e.to_string()))?;
            let fail = self.failing_scans.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
            if fail.is_ok() {
                let broker_gone = KafkaError::MessageConsumption(RDKafkaErrorCode::BrokerTransportFailure);
                tx.try_send(Err(Error::Kafka(broker_gone))).map_err(|e| Error::Internal(e.to_string()))?;
                break;
            }
        }
        Ok(rx)
    }

    fn scan_keys(
        &self,
        partition: u32,
        from: i64,
        end: i64,
        max_batch: usize,
    ) -> Result<mpsc::Receiver<Result<KeyBatch>>> {
        let records = self.records(partition);
        let log_end = (records.len() as i64).min(self.cut_at.load(Ordering::SeqCst));
        let (tx, rx) = mpsc::channel(100_000);
        let send = |item| tx.try_send(item).map_err(|e| Error::Internal(e.to_string()));
        if from < self.low(partition) || from > log_end {
            send(Err(Error::RecordsExpired { next_offset: from }))?;
            return Ok(rx);
        }
        let mut offset = from;
        let stop = end.min(log_end);
        while offset < stop {
            let next = (offset + max_batch.max(1) as i64).min(stop);
            let records = (offset..next)
                .map(|o| {
                    let r = &records[o as usize];
                    KeyedRecord { offset: o, timestamp: r.timestamp, key_hash: r.key.as_deref().map(key_hash) }
                })
                .collect();
            send(Ok(KeyBatch { records, next_offset: next }))?;
            offset = next;
        }
        Ok(rx)
    }
}

#[derive(Default)]
pub struct MemoryCheckpoints {
    pub items: Mutex<HashMap<String, (Option<Lease>, Checkpoint)>>,
    pub saves: Mutex<u32>,
    pub renewals: Mutex<u32>,
    /// Fail every save after this many (simulates a crash point).
    pub fail_after_saves: Mutex<Option<u32>>,
    /// Renewals fail (DynamoDB unreachable) while set.
    pub renewals_fail: Mutex<bool>,
    /// When each held lease expires (tokio's clock, virtual under the
    /// simulation): an expired lease is taken over, as DynamoDB's
    /// conditional write allows.
    expiries: Mutex<HashMap<String, tokio::time::Instant>>,
}

impl MemoryCheckpoints {
    fn hold(&self, key: &str, ttl_ms: u64) {
        let until = tokio::time::Instant::now() + Duration::from_millis(ttl_ms);
        lock(&self.expiries).insert(key.to_owned(), until);
    }

    fn expired(&self, key: &str) -> bool {
        lock(&self.expiries).get(key).is_some_and(|until| *until <= tokio::time::Instant::now())
    }
}

#[async_trait]
impl CheckpointStore for MemoryCheckpoints {
    async fn acquire(&self, key: &str, owner: &str, ttl_ms: u64) -> Result<Option<(Lease, Checkpoint)>> {
        let expired = self.expired(key);
        let mut items = lock(&self.items);
        let entry = items.entry(key.to_owned()).or_default();
        if let Some(lease) = &entry.0 {
            if lease.owner != owner && !lease.owner.is_empty() && !expired {
                return Ok(None);
            }
        }
        let token = entry.0.as_ref().map_or(0, |l| l.token) + 1;
        let lease = Lease { owner: owner.to_owned(), token };
        entry.0 = Some(lease.clone());
        let checkpoint = entry.1.clone();
        drop(items);
        self.hold(key, ttl_ms);
        Ok(Some((lease, checkpoint)))
    }

    async fn save(&self, key: &str, lease: &Lease, cp: &Checkpoint, ttl_ms: u64) -> Result<()> {
        let mut saves = lock(&self.saves);
        if let Some(limit) = *lock(&self.fail_after_saves) {
            if *saves >= limit {
                return Err(Error::Checkpoint("injected failure".into()));
            }
        }
        *saves += 1;
        let mut items = lock(&self.items);
        let entry = items.entry(key.to_owned()).or_default();
        // Token and owner, as DynamoDB's condition: a released lease keeps
        // its token but not its owner.
        if entry.0.as_ref() != Some(lease) {
            return Err(Error::LeaseLost);
        }
        entry.1 = Checkpoint {
            version: crate::domain::checkpoint::CHECKPOINT_VERSION,
            legacy_dedup: Vec::new(),
            ..cp.clone()
        };
        drop(items);
        self.hold(key, ttl_ms);
        Ok(())
    }

    async fn renew(&self, key: &str, lease: &Lease, ttl_ms: u64) -> Result<()> {
        if *lock(&self.renewals_fail) {
            return Err(Error::Checkpoint("injected renewal failure".into()));
        }
        *lock(&self.renewals) += 1;
        let held = lock(&self.items)
            .get(key)
            .and_then(|e| e.0.as_ref())
            .is_some_and(|l| l.token == lease.token && l.owner == lease.owner);
        if !held {
            return Err(Error::LeaseLost);
        }
        self.hold(key, ttl_ms);
        Ok(())
    }

    async fn release(&self, key: &str, lease: &Lease) -> Result<()> {
        let mut items = lock(&self.items);
        if let Some(entry) = items.get_mut(key) {
            if entry.0.as_ref().map(|l| l.token) == Some(lease.token) {
                entry.0 = Some(Lease { owner: String::new(), token: lease.token });
            }
        }
        Ok(())
    }
}

/// Records deliveries; fails the event ids listed in `fail` (400), or answers
/// 503 to every attempt while `down`; answers after `delay`, or at the
/// attempt's timeout if that comes first.
#[derive(Default)]
pub struct MemoryDeliverer {
    pub delivered: Mutex<Vec<(String, Bytes)>>,
    pub fail: Mutex<Vec<String>>,
    pub down: Mutex<bool>,
    pub attempts: Mutex<u32>,
    pub delay: Mutex<Duration>,
    /// Most deliveries in progress at once.
    pub max_in_flight: Mutex<u32>,
    in_flight: Mutex<u32>,
    /// When each delivery started, in order.
    pub started: Mutex<Vec<(String, Instant)>>,
    /// Each delivered event's id, body and signature (timestamp 0).
    pub signatures: Mutex<Vec<(String, Bytes, String)>>,
    /// Events taken in before an outage: answered 2xx even while `down`,
    /// after this much more than `delay`.
    pub taken_before_down: Mutex<HashMap<String, Duration>>,
    /// Per event id, how many more attempts get 503 with `Retry-After: 1`
    /// before it is taken.
    pub flaky: Mutex<HashMap<String, u32>>,
    /// The `Retry-After` of those 503s, when not 1 s.
    pub flaky_retry_after: Mutex<Option<Duration>>,
    /// What a receiver check gets: the key it answers with (None: no answer).
    pub crc_key: Mutex<Option<crate::domain::signing::SigningKey>>,
    /// Receiver checks made.
    pub challenges: Mutex<u32>,
}

#[async_trait]
impl Deliverer for MemoryDeliverer {
    async fn challenge(&self, _url: &str, crc_token: &str, _timeout: Duration) -> Result<String, String> {
        *lock(&self.challenges) += 1;
        match &*lock(&self.crc_key) {
            Some(key) => Ok(key.crc_response(crc_token)),
            None => Err("it answered HTTP 404".into()),
        }
    }

    async fn attempt(&self, d: &Delivery, timeout: Duration) -> Attempt {
        *lock(&self.attempts) += 1;
        lock(&self.started).push((d.message_id.clone(), Instant::now()));
        // Signed when the attempt starts, as the HTTP adapter does.
        let signature = d.key.sign(&d.message_id, 0, &d.body);
        {
            let mut n = lock(&self.in_flight);
            *n += 1;
            let mut max = lock(&self.max_in_flight);
            *max = (*max).max(*n);
        }
        let extra = lock(&self.taken_before_down).get(&d.message_id).copied();
        let delay = *lock(&self.delay) + extra.unwrap_or_default();
        tokio::time::sleep(delay.min(timeout)).await;
        *lock(&self.in_flight) -= 1;
        if delay > timeout {
            return Attempt::Retry { status: None, after: None, error: "timed out".into() };
        }
        let flaky = match lock(&self.flaky).get_mut(&d.message_id) {
            Some(left) if *left > 0 => {
                *left -= 1;
                true
            }
            _ => false,
        };
        if flaky {
            let after = lock(&self.flaky_retry_after).unwrap_or(Duration::from_secs(1));
            return Attempt::Retry { status: Some(503), after: Some(after), error: "HTTP 503".into() };
        }
        if *lock(&self.down) && extra.is_none() {
            return Attempt::Retry { status: Some(503), after: None, error: "HTTP 503".into() };
        }
        if lock(&self.fail).contains(&d.message_id) {
            return Attempt::Fail { status: 400 };
        }
        lock(&self.signatures).push((d.message_id.clone(), d.body.clone(), signature));
        lock(&self.delivered).push((d.message_id.clone(), d.body.clone()));
        Attempt::Success
    }
}

pub struct MemoryProgress {
    pub state: Mutex<JobState>,
    /// What heartbeats answer as the webhook's secrets' version.
    pub secrets_version: Mutex<String>,
    pub heartbeats: Mutex<Vec<(Instant, Counters)>>,
    /// The pace each heartbeat reported (requests in flight allowed).
    pub paces: Mutex<Vec<SlicePace>>,
    pub failures: Mutex<Vec<FailedEvent>>,
    pub found: Mutex<std::collections::BTreeSet<String>>,
}

impl Default for MemoryProgress {
    fn default() -> Self {
        Self {
            state: Mutex::new(JobState::Ongoing),
            secrets_version: Mutex::new("v1".into()),
            heartbeats: Mutex::new(Vec::new()),
            paces: Mutex::new(Vec::new()),
            failures: Mutex::new(Vec::new()),
            found: Mutex::new(Default::default()),
        }
    }
}

#[async_trait]
impl SliceProgress for MemoryProgress {
    async fn heartbeat(
        &self,
        _job: &JobId,
        _slice: u32,
        _token: u64,
        c: &Counters,
        _progressed: bool,
        pace: SlicePace,
    ) -> Result<Beat> {
        lock(&self.heartbeats).push((Instant::now(), *c));
        lock(&self.paces).push(pace);
        Ok(Beat { job_state: *lock(&self.state), secrets_version: lock(&self.secrets_version).clone() })
    }

    async fn record_failures(&self, _job: &JobId, failures: &[FailedEvent]) -> Result<()> {
        let mut all = lock(&self.failures);
        for f in failures {
            all.retain(|x| x.event_id != f.event_id);
            all.push(f.clone());
        }
        Ok(())
    }

    async fn record_found(&self, _job: &JobId, event_ids: &[String]) -> Result<()> {
        lock(&self.found).extend(event_ids.iter().cloned());
        Ok(())
    }
}

/// A webhook's keys and their version, as the test sets them.
pub struct MemorySigners {
    pub current: Mutex<(Signer, String)>,
    pub reads: AtomicU32,
}

impl MemorySigners {
    pub fn new(signer: Signer, version: &str) -> Self {
        Self { current: Mutex::new((signer, version.into())), reads: AtomicU32::new(0) }
    }
}

#[async_trait]
impl WebhookSigners for MemorySigners {
    async fn signer(&self, _webhook: &crate::domain::ids::WebhookId) -> Result<(Signer, String)> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        Ok(lock(&self.current).clone())
    }
}

/// The sweeper's housekeeping, with nothing to keep.
pub struct MemoryHousekeeping;

#[async_trait]
impl crate::ports::Housekeeping for MemoryHousekeeping {
    async fn record_partition_count(&self, _topic: &str, _partitions: u32) -> Result<()> {
        Ok(())
    }
    async fn purge_audit(&self, _retention: Duration, _limit: u32) -> Result<u32> {
        Ok(0)
    }
    async fn purge_request_counts(&self, _before_minute: i64) -> Result<u64> {
        Ok(0)
    }
}

#[derive(Default)]
pub struct MemoryQueue {
    pub sent: Mutex<Vec<(QueueTask, u32)>>,
    /// Hand-backs: the body, its count and delay.
    pub handed_back: Mutex<Vec<(String, u32, u32)>>,
}

#[async_trait]
impl SliceQueue for MemoryQueue {
    async fn send(&self, tasks: &[QueueTask]) -> Result<()> {
        lock(&self.sent).extend(tasks.iter().map(|t| (t.clone(), 0)));
        Ok(())
    }

    async fn send_delayed(&self, task: &QueueTask, delay_s: u32) -> Result<()> {
        lock(&self.sent).push((task.clone(), delay_s));
        Ok(())
    }

    async fn hand_back(&self, body: &str, handbacks: u32, delay_s: u32) -> Result<()> {
        lock(&self.handed_back).push((body.to_owned(), handbacks, delay_s));
        Ok(())
    }

    async fn waiting_messages(&self) -> Result<u64> {
        Ok((lock(&self.sent).len() + lock(&self.handed_back).len()) as u64)
    }
}

/// A master key in memory: data keys are sealed under it with the context,
/// as KMS binds them, so a wrong context fails to open as it does on KMS.
pub struct MemoryKeys {
    master: crate::domain::sealed::DataKey,
    pub data_keys_made: AtomicU32,
    pub decrypts: AtomicU32,
}

impl Default for MemoryKeys {
    fn default() -> Self {
        Self {
            master: crate::domain::sealed::DataKey([42; 32]),
            data_keys_made: AtomicU32::new(0),
            decrypts: AtomicU32::new(0),
        }
    }
}

#[async_trait]
impl crate::ports::KeyService for MemoryKeys {
    async fn data_key(
        &self,
        context: crate::domain::sealed::SecretContext<'_>,
    ) -> Result<(crate::domain::sealed::DataKey, Vec<u8>)> {
        use crate::domain::sealed::{DataKey, Envelope};
        use rand::RngCore;
        self.data_keys_made.fetch_add(1, Ordering::Relaxed);
        let mut key = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut key);
        let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
        let wrapped = Envelope::seal(&self.master, Vec::new(), context, &hex).encode();
        Ok((DataKey(key), wrapped.into_bytes()))
    }

    async fn decrypt_key(
        &self,
        encrypted: &[u8],
        context: crate::domain::sealed::SecretContext<'_>,
    ) -> Result<crate::domain::sealed::DataKey> {
        use crate::domain::sealed::{DataKey, Envelope};
        self.decrypts.fetch_add(1, Ordering::Relaxed);
        let refused = || Error::Kms { message: "InvalidCiphertextException".into(), retryable: false };
        let wrapped =
            Envelope::decode(std::str::from_utf8(encrypted).map_err(|_| refused())?).map_err(|_| refused())?;
        let hex = wrapped.open(&self.master, context).map_err(|_| refused())?;
        let mut key = [0u8; 32];
        for (i, byte) in key.iter_mut().enumerate() {
            *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2).ok_or_else(refused)?, 16).map_err(|_| refused())?;
        }
        Ok(DataKey(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::checkpoint_contract::{self, CheckpointBench};
    use crate::ports::log_contract::{self, LogBench};

    #[tokio::test]
    async fn the_memory_index_keeps_the_index_contract() {
        if let Err(why) = crate::ports::index_contract::run(&MemoryLogIndex::default()).await {
            panic!("{}", why.0);
        }
    }

    /// A log of one partition holding the log contract's records.
    fn contract_log() -> MemoryLog {
        let mut log = MemoryLog::new(1);
        log.partitions[0] = log_contract::records()
            .into_iter()
            .map(|r| LogRecord {
                timestamp: r.timestamp,
                key: Some(log_contract::WEBHOOK.as_bytes().to_vec()),
                value: Some(r.value),
            })
            .collect();
        log
    }

    /// The log read through its index (services/indexed_log.rs), built by the indexer.
    struct Indexed {
        log: std::sync::Arc<MemoryLog>,
        indexed: crate::services::indexed_log::IndexedLog,
    }

    #[async_trait]
    impl LogBench for Indexed {
        fn log(&self) -> &dyn DeliveryLog {
            &self.indexed
        }
        async fn delete_before(&self, offset: i64) -> Result<()> {
            self.log.delete_before(0, offset);
            Ok(())
        }
        async fn add_partition(&self) -> Result<()> {
            self.log.added.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }

    #[tokio::test]
    async fn the_memory_log_read_through_its_index_keeps_the_log_contract() {
        use crate::services::indexer::{index_log, IndexBudget};
        let mut broken = Vec::new();
        for case in log_contract::CASES {
            let log = contract_log();
            let log = std::sync::Arc::new(log);
            let index = std::sync::Arc::new(MemoryLogIndex::default());
            // The first 30 records indexed, in blocks of 4: the rest is read unindexed.
            let budget = IndexBudget {
                records_per_partition: 30,
                block_records: 4,
                ..IndexBudget::for_duration(0, Duration::from_secs(60))
            };
            let report = index_log(log.as_ref(), index.as_ref(), budget).await.unwrap();
            assert_eq!(report.records_indexed, 30);
            let indexed = crate::services::indexed_log::IndexedLog { log: log.clone(), index };
            if let Err(why) = log_contract::run(case, &Indexed { log, indexed }).await {
                broken.push(format!("{case}: {}", why.0));
            }
        }
        assert!(broken.is_empty(), "{}", broken.join("\n"));
    }

    #[async_trait]
    impl LogBench for MemoryLog {
        fn log(&self) -> &dyn DeliveryLog {
            self
        }
        async fn delete_before(&self, offset: i64) -> Result<()> {
            MemoryLog::delete_before(self, 0, offset);
            Ok(())
        }
        async fn add_partition(&self) -> Result<()> {
            self.added.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }

    #[tokio::test]
    async fn the_memory_log_keeps_the_log_contract() {
        let mut broken = Vec::new();
        for case in log_contract::CASES {
            let log = contract_log();
            if let Err(why) = log_contract::run(case, &log).await {
                broken.push(format!("{case}: {}", why.0));
            }
        }
        assert!(broken.is_empty(), "{}", broken.join("\n"));
    }

    #[async_trait]
    impl CheckpointBench for MemoryCheckpoints {
        fn store(&self) -> &dyn CheckpointStore {
            self
        }
        fn key(&self, name: &str) -> String {
            name.to_owned()
        }
        async fn advance(&self, by: Duration) {
            tokio::time::advance(by).await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn memory_checkpoints_keep_the_checkpoint_contract() {
        let mut broken = Vec::new();
        for case in checkpoint_contract::CASES {
            if let Err(why) = checkpoint_contract::run(case, &MemoryCheckpoints::default()).await {
                broken.push(format!("{case}: {}", why.0));
            }
        }
        assert!(broken.is_empty(), "{}", broken.join("\n"));
    }
}
