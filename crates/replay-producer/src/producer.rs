//! The Kafka producer: librdkafka (rdkafka's `FutureProducer`) with the
//! delivery log's settings, and the partition chosen by this crate.

use crate::partitioner::partition_for_key;
use crate::record::check_timestamp;
use crate::{DeliveryRecord, Error};
use chrono::{DateTime, Utc};
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer as _};
use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The settings every producer gets before [`ProducerConfig::extra`]:
///
/// | property | value | why |
/// |---|---|---|
/// | `compression.type` | `snappy` | what the platform writes; any codec is read (override in `extra`) |
/// | `enable.idempotence` | `true` | a retried send is not written twice (the replay removes duplicates anyway) |
/// | `acks` | `all` | a record the send reported written survives a broker's loss |
/// | `linger.ms` | `5` | small batches, little latency |
/// | `partitioner` | `murmur2_random` | Kafka's Java partitioner, should anything be sent without a partition |
pub const DEFAULT_SETTINGS: &[(&str, &str)] = &[
    ("compression.type", "snappy"),
    ("enable.idempotence", "true"),
    ("acks", "all"),
    ("linger.ms", "5"),
    ("partitioner", "murmur2_random"),
];

/// How long a topic's partition count is used before it is read again. Well
/// inside the replay's `PARTITION_CHANGE_MARGIN_MS` (10 minutes): after
/// partitions are added, the replay reads both partitions of a key for that
/// long, so records written on the old count meanwhile are still found.
pub const PARTITION_COUNT_TTL: Duration = Duration::from_secs(30);

/// Where to write: brokers, topic, and any other librdkafka properties.
#[derive(Clone)]
pub struct ProducerConfig {
    /// `bootstrap.servers`: `host:port[,host:port...]`.
    pub brokers: String,
    /// The delivery log's topic (`delivery_log` unless the replay's
    /// `DELIVERY_LOG_TOPIC` says otherwise).
    pub topic: String,
    /// librdkafka properties set after [`DEFAULT_SETTINGS`], so they override
    /// them: credentials (`security.protocol`, `sasl.mechanism`,
    /// `sasl.username`, `sasl.password`), `compression.type`, batching. Values
    /// of secret properties never appear in `Debug` output.
    pub extra: Vec<(String, String)>,
}

impl ProducerConfig {
    pub fn new(brokers: impl Into<String>, topic: impl Into<String>) -> Self {
        Self { brokers: brokers.into(), topic: topic.into(), extra: Vec::new() }
    }

    /// Adds a librdkafka property (applied after the defaults).
    pub fn set(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.extra.push((key.into(), value.into()));
        self
    }

    fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.brokers);
        for (k, v) in DEFAULT_SETTINGS {
            config.set(*k, *v);
        }
        for (k, v) in &self.extra {
            config.set(k, v);
        }
        config
    }
}

/// Properties whose values are credentials.
fn is_secret(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["password", "secret", "jaas", "oauthbearer.config", "key.pem", "token"].iter().any(|s| key.contains(s))
}

impl std::fmt::Debug for ProducerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let extra: Vec<(&str, &str)> = self
            .extra
            .iter()
            .map(|(k, v)| (k.as_str(), if is_secret(k) { "<redacted>" } else { v.as_str() }))
            .collect();
        f.debug_struct("ProducerConfig")
            .field("brokers", &self.brokers)
            .field("topic", &self.topic)
            .field("extra", &extra)
            .finish()
    }
}

/// A record queued in librdkafka; resolves to where it was written once the
/// brokers acknowledged it.
pub struct Pending(std::pin::Pin<Box<dyn Future<Output = Result<Written, Error>> + Send>>);

impl Future for Pending {
    type Output = Result<Written, Error>;

    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<Self::Output> {
        self.0.as_mut().poll(cx)
    }
}

/// Where a record was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    pub partition: i32,
    pub offset: i64,
}

/// Writes delivery-log records: the value as [`DeliveryRecord`] serialises,
/// key = webhook id, timestamp (CreateTime) = when the event was delivered,
/// partition = [`partition_for_key`] of the key over the topic's partition
/// count.
///
/// The partition is computed here and passed to librdkafka explicitly rather
/// than left to its `partitioner` setting: the function is then the one tested
/// against Kafka's published murmur2 values (the replay uses the same), and no
/// librdkafka version, default (`consistent_random`, a CRC32 that disagrees
/// with Java) or `extra` property can change where a webhook's events go. Keys
/// are never null here, so `murmur2_random`'s random choice for null keys,
/// the one place it differs from `murmur2`, never applies. The cost is one
/// metadata request per [`PARTITION_COUNT_TTL`].
pub struct Producer {
    inner: FutureProducer,
    topic: String,
    partitions: Mutex<Option<(u32, Instant)>>,
    refreshing: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer").field("topic", &self.topic).finish_non_exhaustive()
    }
}

impl Producer {
    /// Creates the producer (no broker is contacted until the first send).
    pub fn new(config: ProducerConfig) -> Result<Self, Error> {
        let inner: FutureProducer = config.client_config().create().map_err(Error::Config)?;
        Ok(Self { inner, topic: config.topic, partitions: Mutex::new(None), refreshing: tokio::sync::Mutex::new(()) })
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Writes `record` with its `created_at` as the record timestamp; resolves
    /// once the brokers acknowledged it (`acks=all`). For many records at
    /// once, [`Producer::enqueue`] them in order and await the acknowledgements
    /// together.
    pub async fn send(&self, record: &DeliveryRecord) -> Result<Written, Error> {
        self.enqueue(record).await?.await
    }

    /// Writes `record` with `delivered_at` as the record timestamp: a copy
    /// logged for a later delivery attempt of the same event (a retry keeps
    /// the event's `event_id` and `created_at`).
    pub async fn send_at(&self, record: &DeliveryRecord, delivered_at: DateTime<Utc>) -> Result<Written, Error> {
        self.enqueue_at(record, delivered_at).await?.await
    }

    /// Writes a value as it is, unchecked: for tests of malformed input only.
    pub async fn send_raw(&self, key: &[u8], value: &[u8], timestamp_ms: i64) -> Result<Written, Error> {
        self.enqueue_raw(key, value, timestamp_ms).await?.await
    }

    /// Hands `record` to librdkafka and returns once it is queued, in the
    /// order of the calls (a partition's records are written in the order
    /// they were enqueued: the replay expects a webhook's records in about
    /// their timestamps' order). The returned [`Pending`] resolves when the
    /// brokers acknowledged it.
    pub async fn enqueue(&self, record: &DeliveryRecord) -> Result<Pending, Error> {
        let value = record.to_value()?;
        self.enqueue_bytes(record.webhook_id.as_bytes(), &value, record.timestamp_ms()).await
    }

    /// [`Producer::enqueue`] with `delivered_at` as the record timestamp.
    pub async fn enqueue_at(&self, record: &DeliveryRecord, delivered_at: DateTime<Utc>) -> Result<Pending, Error> {
        let value = record.to_value()?;
        self.enqueue_bytes(record.webhook_id.as_bytes(), &value, check_timestamp(delivered_at.timestamp_millis())?)
            .await
    }

    /// [`Producer::enqueue`] of a value as it is, unchecked: for tests of malformed input only.
    pub async fn enqueue_raw(&self, key: &[u8], value: &[u8], timestamp_ms: i64) -> Result<Pending, Error> {
        self.enqueue_bytes(key, value, check_timestamp(timestamp_ms)?).await
    }

    /// The partition `webhook_id`'s records go to, on the current count.
    pub async fn partition_for(&self, webhook_id: &str) -> Result<i32, Error> {
        Ok(partition_for_key(webhook_id.as_bytes(), self.partition_count().await?) as i32)
    }

    /// Waits until every record handed to librdkafka is acknowledged, or
    /// `timeout` passes. Call it before dropping the producer: dropping purges
    /// what is still queued.
    pub async fn flush(&self, timeout: Duration) -> Result<(), Error> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || inner.flush(timeout))
            .await
            .map_err(|_| Error::Flush(KafkaError::Canceled))?
            .map_err(Error::Flush)
    }

    async fn enqueue_bytes(&self, key: &[u8], value: &[u8], timestamp: i64) -> Result<Pending, Error> {
        let partition = partition_for_key(key, self.partition_count().await?) as i32;
        loop {
            let record =
                FutureRecord::to(&self.topic).key(key).payload(value).timestamp(timestamp).partition(partition);
            match self.inner.send_result(record) {
                Ok(delivery) => {
                    return Ok(Pending(Box::pin(async move {
                        match delivery.await {
                            Ok(Ok(d)) => Ok(Written { partition: d.partition, offset: d.offset }),
                            Ok(Err((e, _))) => Err(Error::Produce(e)),
                            Err(_) => Err(Error::Produce(KafkaError::Canceled)),
                        }
                    })))
                }
                // librdkafka's queue is full: wait for room rather than reorder or drop.
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    tokio::time::sleep(Duration::from_millis(5)).await
                }
                Err((e, _)) => return Err(Error::Produce(e)),
            }
        }
    }

    fn cached_count(&self) -> Option<(u32, bool)> {
        let cached = *self.partitions.lock().unwrap_or_else(|p| p.into_inner());
        cached.map(|(n, at)| (n, at.elapsed() < PARTITION_COUNT_TTL))
    }

    async fn partition_count(&self) -> Result<u32, Error> {
        if let Some((n, true)) = self.cached_count() {
            return Ok(n);
        }
        // One metadata request at a time; the others wait for its answer.
        let _refreshing = self.refreshing.lock().await;
        let stale = match self.cached_count() {
            Some((n, true)) => return Ok(n),
            other => other.map(|(n, _)| n),
        };
        let (inner, topic) = (self.inner.clone(), self.topic.clone());
        let fetched = tokio::task::spawn_blocking(move || fetch_partition_count(&inner, &topic))
            .await
            .unwrap_or_else(|_| Err(Error::Metadata { topic: self.topic.clone(), source: KafkaError::Canceled }));
        match (fetched, stale) {
            (Ok(n), _) => {
                *self.partitions.lock().unwrap_or_else(|p| p.into_inner()) = Some((n, Instant::now()));
                Ok(n)
            }
            // The brokers are unreachable for now: the last count known is the
            // best guess (the send itself will wait for them or fail).
            (Err(e), Some(n)) if e.is_retryable() => Ok(n),
            (Err(e), _) => Err(e),
        }
    }
}

/// The topic's partition count from the brokers' metadata. A topic being
/// created (or auto-created by this request) is waited for briefly.
fn fetch_partition_count(producer: &FutureProducer, topic: &str) -> Result<u32, Error> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let metadata = producer
            .client()
            .fetch_metadata(Some(topic), Duration::from_secs(5))
            .map_err(|source| Error::Metadata { topic: topic.to_owned(), source })?;
        let found = metadata.topics().iter().find(|t| t.name() == topic);
        let code = found.and_then(|t| t.error()).map(RDKafkaErrorCode::from);
        match (found, code) {
            (Some(t), None) if !t.partitions().is_empty() => return Ok(t.partitions().len() as u32),
            (_, None | Some(RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::LeaderNotAvailable)) => {
                if Instant::now() >= deadline {
                    return Err(Error::UnknownTopic(topic.to_owned()));
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            (_, Some(code)) => {
                return Err(Error::Metadata { topic: topic.to_owned(), source: KafkaError::MetadataFetch(code) })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_settings_override_the_defaults() {
        let config = ProducerConfig::new("k1:9092,k2:9092", "delivery_log")
            .set("compression.type", "zstd")
            .set("linger.ms", "20");
        let client = config.client_config();
        assert_eq!(client.get("bootstrap.servers"), Some("k1:9092,k2:9092"));
        assert_eq!(client.get("compression.type"), Some("zstd"));
        assert_eq!(client.get("linger.ms"), Some("20"));
        assert_eq!(client.get("enable.idempotence"), Some("true"));
        assert_eq!(client.get("acks"), Some("all"));
        assert_eq!(client.get("partitioner"), Some("murmur2_random"));
        let defaults = ProducerConfig::new("k:9092", "t").client_config();
        assert_eq!(defaults.get("compression.type"), Some("snappy"));
    }

    #[test]
    fn credentials_never_show_in_debug_output() {
        let config = ProducerConfig::new("k:9096", "delivery_log")
            .set("security.protocol", "SASL_SSL")
            .set("sasl.mechanism", "SCRAM-SHA-512")
            .set("sasl.username", "platform")
            .set("sasl.password", "hunter2-very-secret")
            .set("ssl.key.password", "also-secret");
        let shown = format!("{config:?}");
        assert!(!shown.contains("hunter2") && !shown.contains("also-secret"), "{shown}");
        assert!(shown.contains("platform") && shown.contains("SCRAM-SHA-512") && shown.contains("<redacted>"));
    }

    #[test]
    fn the_settings_are_accepted_by_librdkafka() {
        // Creating a producer checks every property name and value (no broker is contacted).
        let producer = Producer::new(ProducerConfig::new("127.0.0.1:1", "delivery_log")).unwrap();
        assert_eq!(producer.topic(), "delivery_log");
        let bad = Producer::new(ProducerConfig::new("127.0.0.1:1", "t").set("compression.type", "brotli"));
        assert!(matches!(bad, Err(Error::Config(_))));
        assert!(!bad.unwrap_err().is_retryable());
    }

    #[tokio::test]
    async fn invalid_records_fail_before_anything_is_sent() {
        let producer = Producer::new(ProducerConfig::new("127.0.0.1:1", "delivery_log")).unwrap();
        let mut record = DeliveryRecord::new("ev", "wh", "t", Utc::now(), "{}").unwrap();
        record.event_id = " padded ".into();
        assert!(matches!(producer.send(&record).await, Err(Error::InvalidEventId)));
        record.event_id = "ev".into();
        let before_1970 = DateTime::from_timestamp_millis(-5).unwrap();
        assert!(matches!(producer.send_at(&record, before_1970).await, Err(Error::InvalidTimestamp(-5))));
        assert!(matches!(producer.send_raw(b"wh", b"{", -1).await, Err(Error::InvalidTimestamp(-1))));
    }
}
