//! The delivery log on Kafka, through rdkafka (librdkafka).

use super::kafka_auth::TokenSource;
use crate::config::KafkaConfig;
use crate::domain::log_index::key_hash;
use crate::domain::selection::ScanItem;
use crate::error::{Error, Result};
use crate::ports::{DeliveryLog, KeyBatch, KeyedRecord, ScanBatch, ScanRequest};
use async_trait::async_trait;
use rdkafka::client::{ClientContext, OAuthToken};
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::ClientConfig;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tracing::{debug, warn};

const METADATA_TIMEOUT: Duration = Duration::from_secs(10);

/// The context of every client this crate builds: logs librdkafka's
/// client-level errors, except the end-of-partition events a scan asks for
/// (`enable.partition.eof`), which are not errors here, and answers
/// librdkafka's SASL/OAUTHBEARER token refresh callback when `KAFKA_AUTH`
/// uses tokens (adapters/kafka_auth.rs; librdkafka only asks then).
#[derive(Clone, Default)]
pub struct ReplayContext {
    tokens: Option<Arc<TokenSource>>,
}

impl ReplayContext {
    /// A context with a token source of its own for `cfg.auth` (a `KafkaLog`
    /// shares one between its clients instead).
    pub fn new(cfg: &KafkaConfig) -> Self {
        Self { tokens: TokenSource::for_auth(&cfg.auth) }
    }
}

impl ClientContext for ReplayContext {
    // Consulted only under sasl.mechanism=OAUTHBEARER; otherwise librdkafka
    // never asks for a token.
    const ENABLE_REFRESH_OAUTH_TOKEN: bool = true;

    fn error(&self, error: KafkaError, reason: &str) {
        if matches!(error, KafkaError::PartitionEOF(_)) {
            debug!(%reason, "end of partition");
        } else {
            warn!(%error, %reason, "kafka client error");
        }
    }

    /// Runs inside `poll()` of the client whose token is due: never on an
    /// async runtime thread here (see kafka_auth.rs).
    fn generate_oauth_token(&self, _config: Option<&str>) -> Result<OAuthToken, Box<dyn std::error::Error>> {
        match &self.tokens {
            Some(tokens) => tokens.token(),
            None => Err("sasl.mechanism=OAUTHBEARER needs KAFKA_AUTH=msk_iam or oauthbearer_unsecured".into()),
        }
    }
}

impl ConsumerContext for ReplayContext {}

type ReplayConsumer = BaseConsumer<ReplayContext>;

pub struct KafkaLog {
    cfg: KafkaConfig,
    /// Used for metadata and offset look-ups; scans get their own consumer.
    admin: Arc<ReplayConsumer>,
    /// OAUTHBEARER tokens for all of this log's clients (None without tokens).
    tokens: Option<Arc<TokenSource>>,
    /// The partition count and when it was read: partitions can be added.
    partitions: Mutex<Option<(u32, Instant)>>,
    /// Short scans' consumers kept between scans: a slice that
    /// reads through the log's index opens a scan for each stretch it reads,
    /// and a new consumer costs connections and a metadata round trip (the
    /// bench's rare replay read 851 stretches: 54 s with a consumer each).
    /// Not under OAUTHBEARER tokens (see `scan`).
    idle: Arc<Mutex<Vec<ReplayConsumer>>>,
}

/// Idle scan consumers kept at most.
const IDLE_CONSUMERS: usize = 2;

/// Records a short scan prefetches (and every scan at least).
const SHORT_SCAN: i64 = 1_000;

/// How long a partition count is trusted before it is read again.
const PARTITION_COUNT_TTL: Duration = Duration::from_secs(30);

/// A client config carrying the brokers, what `cfg.auth` implies and any
/// extra librdkafka properties. Under OAUTHBEARER modes a client needs a
/// [`ReplayContext`] (`create_with_context`) for its tokens.
pub fn client_config(cfg: &KafkaConfig) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", &cfg.brokers);
    for (k, v) in cfg.auth.properties() {
        config.set(*k, *v);
    }
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
        .set("fetch.queue.backoff.ms", "10")
        // Never skip silently: an offset deleted by retention is an error the
        // slice counts (the default, `latest`, would jump to the log's end).
        .set("auto.offset.reset", "error");
    config
}

impl KafkaLog {
    pub fn new(cfg: KafkaConfig) -> Result<Self> {
        let tokens = TokenSource::for_auth(&cfg.auth);
        let context = ReplayContext { tokens: tokens.clone() };
        let admin: Arc<ReplayConsumer> = Arc::new(consumer_config(&cfg).create_with_context(context)?);
        if tokens.is_some() {
            serve_admin_events(Arc::downgrade(&admin))?;
        }
        Ok(Self { cfg, admin, tokens, partitions: Mutex::new(None), idle: Arc::default() })
    }

    pub fn topic(&self) -> &str {
        &self.cfg.topic
    }

    /// OAUTHBEARER tokens issued to this log's clients so far (0 without
    /// tokens): one when a client starts, then one per refresh.
    pub fn oauth_tokens_issued(&self) -> u64 {
        self.tokens.as_ref().map_or(0, |t| t.issued())
    }

    fn context(&self) -> ReplayContext {
        ReplayContext { tokens: self.tokens.clone() }
    }
}

/// librdkafka hands token refreshes to the application's `poll()`, and a
/// client without a token does not connect. The scan and oldest-record
/// consumers poll all along; the look-up consumer's calls (metadata, offsets,
/// watermarks) do not poll, so under OAUTHBEARER a thread polls it, which
/// serves its first token and every refresh, until the log is dropped.
fn serve_admin_events(admin: Weak<ReplayConsumer>) -> Result<()> {
    std::thread::Builder::new()
        .name("kafka-admin-poll".into())
        .spawn(move || {
            while let Some(admin) = admin.upgrade() {
                // Errors were logged by ReplayContext::error; the look-ups report their own.
                if let Some(Err(e)) = admin.poll(Duration::from_millis(500)) {
                    debug!(error = %e, "kafka: look-up consumer event");
                }
            }
        })
        .map(|_| ())
        .map_err(|e| Error::Internal(format!("starting the Kafka poller thread: {e}")))
}

#[async_trait]
impl DeliveryLog for KafkaLog {
    async fn partition_count(&self) -> Result<u32> {
        if let Some((n, at)) = *self.partitions.lock().unwrap_or_else(|p| p.into_inner()) {
            if at.elapsed() < PARTITION_COUNT_TTL {
                return Ok(n);
            }
        }
        let admin = self.admin.clone();
        let topic = self.cfg.topic.clone();
        let n = blocking(move || {
            let metadata = admin.fetch_metadata(Some(&topic), METADATA_TIMEOUT)?;
            let t =
                metadata.topics().first().ok_or_else(|| Error::Internal(format!("no metadata for topic {topic}")))?;
            if let Some(err) = t.error() {
                return Err(Error::Kafka(KafkaError::MetadataFetch(err.into())));
            }
            let n = t.partitions().len() as u32;
            if n == 0 {
                return Err(Error::Internal(format!("topic {topic} has no partitions")));
            }
            Ok(n)
        })
        .await?;
        *self.partitions.lock().unwrap_or_else(|p| p.into_inner()) = Some((n, Instant::now()));
        Ok(n)
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

    async fn watermarks(&self, partition: u32) -> Result<(i64, i64)> {
        let admin = self.admin.clone();
        let topic = self.cfg.topic.clone();
        blocking(move || Ok(admin.fetch_watermarks(&topic, partition as i32, METADATA_TIMEOUT)?)).await
    }

    async fn oldest_timestamp(&self, partition: u32) -> Result<Option<i64>> {
        let (low, high) = self.watermarks(partition).await?;
        if low >= high {
            return Ok(None);
        }
        let consumer: ReplayConsumer = consumer_config(&self.cfg)
            .set("queued.min.messages", "1")
            // One record is all it needs (fetch.max.bytes may not go below message.max.bytes).
            .set("max.partition.fetch.bytes", "65536")
            .create_with_context(self.context())?;
        let topic = self.cfg.topic.clone();
        blocking(move || {
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition_offset(&topic, partition as i32, Offset::Offset(low))?;
            consumer.assign(&tpl)?;
            let started = Instant::now();
            while started.elapsed() < METADATA_TIMEOUT {
                match consumer.poll(Duration::from_millis(200)) {
                    Some(Ok(msg)) => return Ok(msg.timestamp().to_millis()),
                    Some(Err(KafkaError::PartitionEOF(_))) | None => continue,
                    // Deleted meanwhile: the next record is the oldest; try again.
                    Some(Err(KafkaError::MessageConsumption(code))) if is_out_of_range(code) => return Ok(None),
                    Some(Err(e)) => return Err(e.into()),
                }
            }
            Err(Error::Kafka(KafkaError::MessageConsumption(rdkafka::types::RDKafkaErrorCode::RequestTimedOut)))
        })
        .await
    }

    fn scan(&self, req: ScanRequest) -> Result<mpsc::Receiver<Result<ScanBatch>>> {
        // librdkafka prefetches past where the slice stops until its queue is
        // full, and every record it fetches is decompressed: a short slice
        // would read (and throw away) far more than its own records. The bench
        // saw a quarter of the CPU go there during deliveries.
        let prefetch = (req.end - req.from).clamp(SHORT_SCAN, 20_000);
        // Only short scans' consumers are kept: they are the ones a read
        // through the index opens again and again.
        let kept =
            (prefetch == SHORT_SCAN).then(|| self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop()).flatten();
        let consumer = match kept {
            Some(consumer) => consumer,
            None => {
                let mut config = consumer_config(&self.cfg);
                config.set("queued.min.messages", prefetch.to_string());
                if prefetch == SHORT_SCAN {
                    // A short stretch (a block the log's index points at)
                    // needs one small fetch, not 4 MB decompressed for 64
                    // records (fetch.max.bytes may not go below message.max.bytes).
                    config.set("max.partition.fetch.bytes", "65536").set("fetch.max.bytes", "1048576");
                }
                config.create_with_context(self.context())?
            }
        };
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&self.cfg.topic, req.partition as i32, Offset::Offset(req.from))?;
        consumer.assign(&tpl)?;
        let (tx, rx) = mpsc::channel(4);
        let pool = self.idle.clone();
        // An idle consumer is not polled, and librdkafka serves OAUTHBEARER
        // token refreshes in poll(): under tokens, a kept consumer would meet
        // the broker with an expired token.
        let keep = self.tokens.is_none() && prefetch == SHORT_SCAN;
        // librdkafka's poll blocks: read on a blocking thread, hand batches over.
        tokio::task::spawn_blocking(move || {
            // A consumer that met a broker error is not kept; one that ended
            // its range is, unassigned (its prefetched records dropped).
            if scan_blocking(&consumer, req, tx) && keep && consumer.unassign().is_ok() {
                let mut idle = pool.lock().unwrap_or_else(|p| p.into_inner());
                if idle.len() < IDLE_CONSUMERS {
                    idle.push(consumer);
                }
            }
        });
        Ok(rx)
    }

    fn scan_keys(
        &self,
        partition: u32,
        from: i64,
        end: i64,
        max_batch: usize,
    ) -> Result<mpsc::Receiver<Result<KeyBatch>>> {
        let prefetch = (end - from).clamp(1, 20_000);
        let consumer: ReplayConsumer = consumer_config(&self.cfg)
            .set("queued.min.messages", prefetch.to_string())
            .create_with_context(self.context())?;
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&self.cfg.topic, partition as i32, Offset::Offset(from))?;
        consumer.assign(&tpl)?;
        let (tx, rx) = mpsc::channel(4);
        let at = (self.cfg.topic.clone(), partition);
        tokio::task::spawn_blocking(move || scan_keys_blocking(consumer, at, from, end, max_batch.max(1), tx));
        Ok(rx)
    }
}

/// Where a consumer's next fetch of the partition starts (0 if unknown).
fn position_of(consumer: &ReplayConsumer, topic: &str, partition: u32) -> i64 {
    let position = consumer.position().ok();
    match position.as_ref().and_then(|p| p.find_partition(topic, partition as i32)).map(|e| e.offset()) {
        Some(Offset::Offset(o)) => o,
        _ => 0,
    }
}

/// The indexer's reading: offsets, timestamps and key hashes only.
fn scan_keys_blocking(
    consumer: ReplayConsumer,
    (topic, partition): (String, u32),
    from: i64,
    end: i64,
    max_batch: usize,
    tx: mpsc::Sender<Result<KeyBatch>>,
) {
    let mut batch = KeyBatch { next_offset: from, ..KeyBatch::default() };
    loop {
        let timeout = if batch.records.is_empty() { Duration::from_millis(500) } else { Duration::ZERO };
        let mut at_end = false;
        match consumer.poll(timeout) {
            None if batch.records.is_empty() => {
                if tx.is_closed() {
                    return;
                }
                continue;
            }
            None => {}
            Some(Err(KafkaError::PartitionEOF(_))) => at_end = true,
            Some(Err(KafkaError::MessageConsumption(code))) if is_out_of_range(code) => {
                let next_offset = batch.next_offset;
                if !batch.records.is_empty() {
                    let _ = tx.blocking_send(Ok(std::mem::take(&mut batch)));
                }
                let _ = tx.blocking_send(Err(Error::RecordsExpired { next_offset }));
                return;
            }
            Some(Err(e)) => {
                let _ = tx.blocking_send(Err(Error::Kafka(e)));
                return;
            }
            Some(Ok(msg)) if msg.offset() >= end => at_end = true,
            Some(Ok(msg)) => {
                let timestamp = msg.timestamp().to_millis().unwrap_or(0);
                batch.records.push(KeyedRecord { offset: msg.offset(), timestamp, key_hash: msg.key().map(key_hash) });
                batch.next_offset = msg.offset() + 1;
                at_end = batch.next_offset >= end;
                if !at_end && batch.records.len() < max_batch {
                    continue;
                }
            }
        }
        if at_end {
            // Up to where the consumer stands: past markers that hold no
            // record, never past records it did not read (an end of
            // partition below `end`, after a leader change, is not `end`).
            batch.next_offset = batch.next_offset.max(position_of(&consumer, &topic, partition).min(end));
        }
        let next = batch.next_offset;
        let full = std::mem::replace(&mut batch, KeyBatch { next_offset: next, ..KeyBatch::default() });
        if tx.blocking_send(Ok(full)).is_err() || at_end {
            return;
        }
    }
}

fn is_out_of_range(code: rdkafka::types::RDKafkaErrorCode) -> bool {
    use rdkafka::types::RDKafkaErrorCode as C;
    matches!(code, C::OffsetOutOfRange | C::AutoOffsetReset)
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| Error::Internal(e.to_string()))?
}

/// Reads the request's range into `tx`; whether the consumer may be used again.
fn scan_blocking(consumer: &ReplayConsumer, req: ScanRequest, tx: mpsc::Sender<Result<ScanBatch>>) -> bool {
    let ScanRequest { from, end, mut reader, max_batch, max_batch_bytes, .. } = req;
    let max_batch = max_batch.max(1);
    let mut batch = ScanBatch { next_offset: from, ..ScanBatch::default() };
    let (mut read_in_batch, mut bytes_in_batch) = (0usize, 0usize);
    loop {
        // Wait for the first record of a batch; then take what is already fetched.
        let timeout = if read_in_batch == 0 { Duration::from_millis(500) } else { Duration::ZERO };
        let mut at_end = false;
        match consumer.poll(timeout) {
            None if read_in_batch == 0 => {
                if tx.is_closed() {
                    return true;
                }
                continue;
            }
            None => {}
            Some(Err(KafkaError::PartitionEOF(_))) => at_end = true,
            Some(Err(KafkaError::MessageConsumption(code))) if is_out_of_range(code) => {
                // What was read so far is handed over first.
                reader.flush(&mut batch.items);
                let next_offset = batch.next_offset;
                batch.reader = Some(reader.clone());
                if !batch.items.is_empty() {
                    let _ = tx.blocking_send(Ok(std::mem::take(&mut batch)));
                }
                let _ = tx.blocking_send(Err(Error::RecordsExpired { next_offset }));
                return true;
            }
            Some(Err(e)) => {
                let _ = tx.blocking_send(Err(Error::Kafka(e)));
                return false;
            }
            Some(Ok(msg)) if msg.offset() >= end => at_end = true,
            Some(Ok(msg)) => {
                let offset = msg.offset();
                read_in_batch += 1;
                batch.next_offset = offset + 1;
                let timestamp = msg.timestamp().to_millis().unwrap_or(0);
                let before = batch.items.len();
                reader.read(offset, timestamp, msg.key(), msg.payload(), &mut batch.items);
                bytes_in_batch += batch.items[before..].iter().map(ScanItem::payload_bytes).sum::<usize>();
                at_end = batch.next_offset >= end || reader.is_done();
                if !at_end && read_in_batch < max_batch && bytes_in_batch < max_batch_bytes {
                    continue;
                }
            }
        }
        reader.flush(&mut batch.items);
        if at_end && !reader.is_done() {
            // Everything up to `end` is read, even if the last offsets were markers.
            batch.next_offset = batch.next_offset.max(end);
        }
        let next = batch.next_offset;
        debug!(read_in_batch, next, "scan batch");
        batch.reader = Some(reader.clone());
        let full = std::mem::replace(&mut batch, ScanBatch { next_offset: next, ..ScanBatch::default() });
        if tx.blocking_send(Ok(full)).is_err() || at_end {
            return true;
        }
        read_in_batch = 0;
        bytes_in_batch = 0;
    }
}
