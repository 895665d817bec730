//! The delivery log on Kafka, through rdkafka (librdkafka).

use crate::config::KafkaConfig;
use crate::error::{Error, Result};
use crate::ports::{DeliveryLog, ScanBatch, ScanRequest, ScannedRecord};
use async_trait::async_trait;
use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::ClientConfig;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, OnceCell};
use tracing::{debug, warn};

const METADATA_TIMEOUT: Duration = Duration::from_secs(10);

/// Logs librdkafka's client-level errors, except the end-of-partition events
/// a scan asks for (`enable.partition.eof`), which are not errors here.
pub struct ReplayContext;

impl ClientContext for ReplayContext {
    fn error(&self, error: KafkaError, reason: &str) {
        if matches!(error, KafkaError::PartitionEOF(_)) {
            debug!(%reason, "end of partition");
        } else {
            warn!(%error, %reason, "kafka client error");
        }
    }
}

impl ConsumerContext for ReplayContext {}

type ReplayConsumer = BaseConsumer<ReplayContext>;

pub struct KafkaLog {
    cfg: KafkaConfig,
    /// Used for metadata and offset look-ups; scans get their own consumer.
    admin: Arc<ReplayConsumer>,
    partitions: OnceCell<u32>,
}

/// A client config carrying the brokers and any extra librdkafka properties.
pub fn client_config(cfg: &KafkaConfig) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", &cfg.brokers);
    for (k, v) in &cfg.extra {
        config.set(k, v);
    }
    if let Some(sasl) = &cfg.sasl {
        config.set("sasl.username", &sasl.username).set("sasl.password", sasl.password.expose());
    }
    config
}

/// The reading consumer's settings (manual assignment, large fetches, EOF events).
pub fn consumer_config(cfg: &KafkaConfig) -> ClientConfig {
    let mut config = client_config(cfg);
    config
        .set("group.id", "activity-replay")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "true")
        .set("fetch.wait.max.ms", "100")
        // Prefetch bounded in bytes, so a worker fits the smallest Lambda
        // (128 MB): 4 MB fetches (2 MB made 1M-record scans 30% slower), at most 16 MB queued (the default 64 MB
        // queue took a 300k-record slice's worker to 137 MB RSS).
        .set("fetch.max.bytes", "4194304")
        .set("max.partition.fetch.bytes", "4194304")
        .set("queued.min.messages", "20000")
        .set("queued.max.messages.kbytes", "16384")
        // librdkafka's default (1 s) idles a fast reader for a second each
        // time its prefetch queue fills up; the bench showed 4x slower scans.
        .set("fetch.queue.backoff.ms", "10");
    config
}

impl KafkaLog {
    pub fn new(cfg: KafkaConfig) -> Result<Self> {
        let admin: ReplayConsumer = consumer_config(&cfg).create_with_context(ReplayContext)?;
        Ok(Self { cfg, admin: Arc::new(admin), partitions: OnceCell::new() })
    }

    pub fn topic(&self) -> &str {
        &self.cfg.topic
    }
}

#[async_trait]
impl DeliveryLog for KafkaLog {
    /// Cached for the life of the process (one Lambda cold start).
    async fn partition_count(&self) -> Result<u32> {
        let admin = self.admin.clone();
        let topic = self.cfg.topic.clone();
        let count = self
            .partitions
            .get_or_try_init(|| async move {
                tokio::task::spawn_blocking(move || {
                    let metadata = admin.fetch_metadata(Some(&topic), METADATA_TIMEOUT)?;
                    let t = metadata
                        .topics()
                        .first()
                        .ok_or_else(|| Error::Internal(format!("no metadata for topic {topic}")))?;
                    if let Some(err) = t.error() {
                        return Err(Error::Kafka(KafkaError::MetadataFetch(err.into())));
                    }
                    let n = t.partitions().len() as u32;
                    if n == 0 {
                        return Err(Error::Internal(format!("topic {topic} has no partitions")));
                    }
                    Ok(n)
                })
                .await
                .map_err(|e| Error::Internal(e.to_string()))?
            })
            .await?;
        Ok(*count)
    }

    async fn offset_for_time(&self, partition: u32, ts: i64) -> Result<i64> {
        let admin = self.admin.clone();
        let topic = self.cfg.topic.clone();
        tokio::task::spawn_blocking(move || {
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition_offset(&topic, partition as i32, Offset::Offset(ts.max(0)))?;
            let found = admin.offsets_for_times(tpl, METADATA_TIMEOUT)?;
            let offset = found.find_partition(&topic, partition as i32).map(|e| e.offset()).unwrap_or(Offset::End);
            match offset {
                Offset::Offset(o) if o >= 0 => Ok(o),
                // No record at or after `ts`: the end of the log as it is now.
                _ => {
                    let (_, high) = admin.fetch_watermarks(&topic, partition as i32, METADATA_TIMEOUT)?;
                    Ok(high)
                }
            }
        })
        .await
        .map_err(|e| Error::Internal(e.to_string()))?
    }

    fn scan(&self, req: ScanRequest<'_>) -> Result<mpsc::Receiver<Result<ScanBatch>>> {
        // librdkafka prefetches past the range's end until its queue is full,
        // and every record it fetches is decompressed: a short slice would
        // read (and throw away) far more than its own records. The bench saw
        // a quarter of the CPU go there during deliveries.
        let prefetch = (req.end - req.from).clamp(1_000, 20_000);
        let consumer: ReplayConsumer = consumer_config(&self.cfg)
            .set("queued.min.messages", prefetch.to_string())
            .create_with_context(ReplayContext)?;
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&self.cfg.topic, req.partition as i32, Offset::Offset(req.from))?;
        consumer.assign(&tpl)?;
        let (tx, rx) = mpsc::channel(4);
        let webhook_id = req.webhook_id.to_owned();
        let (from, end, count_from, max_batch) = (req.from, req.end, req.count_from, req.max_batch.max(1));
        // librdkafka's poll blocks: read on a blocking thread, hand batches over.
        tokio::task::spawn_blocking(move || scan_blocking(consumer, from, end, count_from, max_batch, &webhook_id, tx));
        Ok(rx)
    }
}

fn scan_blocking(
    consumer: ReplayConsumer,
    from: i64,
    end: i64,
    count_from: i64,
    max_batch: usize,
    webhook_id: &str,
    tx: mpsc::Sender<Result<ScanBatch>>,
) {
    let mut batch = ScanBatch { next_offset: from, ..ScanBatch::default() };
    let mut read_in_batch = 0usize;
    loop {
        // Wait for the first record of a batch; then take what is already fetched.
        let timeout = if read_in_batch == 0 { Duration::from_millis(500) } else { Duration::ZERO };
        let mut at_end = false;
        match consumer.poll(timeout) {
            None if read_in_batch == 0 => {
                if tx.is_closed() {
                    return;
                }
                continue;
            }
            None => {}
            Some(Err(KafkaError::PartitionEOF(_))) => at_end = true,
            Some(Err(e)) => {
                let _ = tx.blocking_send(Err(Error::Kafka(e)));
                return;
            }
            Some(Ok(msg)) if msg.offset() >= end => at_end = true,
            Some(Ok(msg)) => {
                let offset = msg.offset();
                read_in_batch += 1;
                if offset >= count_from {
                    batch.scanned += 1;
                }
                batch.next_offset = offset + 1;
                let timestamp = msg.timestamp().to_millis().unwrap_or(0);
                if let Some(record) = ScannedRecord::of(offset, timestamp, webhook_id, msg.key(), msg.payload()) {
                    batch.records.push(record);
                }
                at_end = batch.next_offset >= end;
                if !at_end && read_in_batch < max_batch {
                    continue;
                }
            }
        }
        if at_end {
            // Everything up to `end` is read, even if the last offsets were markers.
            batch.next_offset = batch.next_offset.max(end);
        }
        let next = batch.next_offset;
        debug!(read_in_batch, next, "scan batch");
        let full = std::mem::replace(&mut batch, ScanBatch { next_offset: next, ..ScanBatch::default() });
        if tx.blocking_send(Ok(full)).is_err() || at_end {
            return;
        }
        read_in_batch = 0;
    }
}
