//! In-memory fakes of the ports, for unit tests of the core's use cases.

use crate::domain::checkpoint::{Checkpoint, Lease};
use crate::domain::ids::JobId;
use crate::domain::job::{Counters, JobState};
use crate::domain::task::QueueTask;
use crate::error::{Error, Result};
use crate::ports::{
    CheckpointStore, Deliverer, Delivery, DeliveryLog, DeliveryOutcome, FailedEvent, ScanBatch, ScanRequest,
    ScannedRecord, SliceProgress, SliceQueue,
};
use async_trait::async_trait;
use bytes::Bytes;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use tokio::sync::mpsc;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
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
}

impl MemoryLog {
    pub fn new(partitions: usize) -> Self {
        Self { partitions: vec![Vec::new(); partitions], batch_size: 3, failing_scans: AtomicU32::new(0) }
    }
}

#[async_trait]
impl DeliveryLog for MemoryLog {
    async fn partition_count(&self) -> Result<u32> {
        Ok(self.partitions.len() as u32)
    }

    async fn offset_for_time(&self, partition: u32, ts: i64) -> Result<i64> {
        let p = &self.partitions[partition as usize];
        Ok(p.iter().position(|r| r.timestamp >= ts).unwrap_or(p.len()) as i64)
    }

    fn scan(&self, req: ScanRequest<'_>) -> Result<mpsc::Receiver<Result<ScanBatch>>> {
        let ScanRequest { partition, from, end, count_from, webhook_id, max_batch } = req;
        let batch_size = self.batch_size.min(max_batch).max(1);
        let records = &self.partitions[partition as usize];
        let (tx, rx) = mpsc::channel(1024);
        let mut offset = from;
        while offset < end {
            let mut batch = ScanBatch::default();
            let stop = (offset + batch_size as i64).min(end);
            for o in offset..stop {
                let r = &records[o as usize];
                if o >= count_from {
                    batch.scanned += 1;
                }
                if let Some(record) =
                    ScannedRecord::of(o, r.timestamp, webhook_id, r.key.as_deref(), r.value.as_deref())
                {
                    batch.records.push(record);
                }
            }
            batch.next_offset = stop;
            offset = stop;
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
}

#[derive(Default)]
pub struct MemoryCheckpoints {
    pub items: Mutex<HashMap<String, (Option<Lease>, Checkpoint)>>,
    pub saves: Mutex<u32>,
    /// Fail every save after this many (simulates a crash point).
    pub fail_after_saves: Mutex<Option<u32>>,
}

#[async_trait]
impl CheckpointStore for MemoryCheckpoints {
    async fn acquire(&self, key: &str, owner: &str, _ttl_ms: u64) -> Result<Option<(Lease, Checkpoint)>> {
        let mut items = lock(&self.items);
        let entry = items.entry(key.to_owned()).or_default();
        if let Some(lease) = &entry.0 {
            if lease.owner != owner && !lease.owner.is_empty() {
                return Ok(None);
            }
        }
        let token = entry.0.as_ref().map_or(0, |l| l.token) + 1;
        let lease = Lease { owner: owner.to_owned(), token };
        entry.0 = Some(lease.clone());
        Ok(Some((lease, entry.1.clone())))
    }

    async fn save(&self, key: &str, lease: &Lease, cp: &Checkpoint, _ttl_ms: u64) -> Result<()> {
        let mut saves = lock(&self.saves);
        if let Some(limit) = *lock(&self.fail_after_saves) {
            if *saves >= limit {
                return Err(Error::Checkpoint("injected failure".into()));
            }
        }
        *saves += 1;
        let mut items = lock(&self.items);
        let entry = items.entry(key.to_owned()).or_default();
        if entry.0.as_ref().map(|l| l.token) != Some(lease.token) {
            return Err(Error::LeaseLost);
        }
        entry.1 = cp.clone();
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

/// Records deliveries; fails the event ids listed in `fail` (400), or every
/// event while `down` (503 after retries).
#[derive(Default)]
pub struct MemoryDeliverer {
    pub delivered: Mutex<Vec<(String, Bytes)>>,
    pub fail: Mutex<Vec<String>>,
    pub down: Mutex<bool>,
    pub attempts: Mutex<u32>,
}

#[async_trait]
impl Deliverer for MemoryDeliverer {
    async fn deliver(&self, d: &Delivery) -> DeliveryOutcome {
        *lock(&self.attempts) += 1;
        if *lock(&self.down) {
            return DeliveryOutcome::Failed { attempts: 3, last_status: Some(503), error: "HTTP 503".into() };
        }
        if lock(&self.fail).contains(&d.message_id) {
            return DeliveryOutcome::Failed { attempts: 1, last_status: Some(400), error: "HTTP 400".into() };
        }
        lock(&self.delivered).push((d.message_id.clone(), d.body.clone()));
        DeliveryOutcome::Delivered { attempts: 1 }
    }
}

pub struct MemoryProgress {
    pub state: Mutex<JobState>,
    pub heartbeats: Mutex<u32>,
    pub failures: Mutex<Vec<FailedEvent>>,
}

impl Default for MemoryProgress {
    fn default() -> Self {
        Self { state: Mutex::new(JobState::Ongoing), heartbeats: Mutex::new(0), failures: Mutex::new(Vec::new()) }
    }
}

#[async_trait]
impl SliceProgress for MemoryProgress {
    async fn heartbeat(&self, _job: &JobId, _slice: u32, _token: u64, _c: &Counters) -> Result<JobState> {
        *lock(&self.heartbeats) += 1;
        Ok(*lock(&self.state))
    }

    async fn record_failures(&self, _job: &JobId, failures: &[FailedEvent]) -> Result<()> {
        lock(&self.failures).extend_from_slice(failures);
        Ok(())
    }
}

#[derive(Default)]
pub struct MemoryQueue {
    pub sent: Mutex<Vec<(QueueTask, u32)>>,
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
}
