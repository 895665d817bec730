//! Writes activity-replay's delivery log the way the replay reads it
//! (docs/delivery-log.md), for the platform that
//! delivers the webhooks:
//!
//! - the value: a [`DeliveryRecord`] (`event_id`, `webhook_id`, `event_type`,
//!   `created_at`, the raw `payload`, the optional `delivery` outcome),
//!   checked with the replay's rules before it is sent;
//! - the key: the webhook id; the partition: Kafka's Java partitioner
//!   ([`partition_for_key`], murmur2), computed here;
//! - the timestamp (CreateTime): when the event was delivered;
//! - Snappy, idempotence, `acks=all` ([`DEFAULT_SETTINGS`]).
//!
//! It depends on librdkafka (rdkafka) and serde only, not on the replay's own
//! crates. Producers in other languages use the settings listed in
//! docs/delivery-log.md.
//!
//! ```no_run
//! use activity_replay_producer::{Delivery, DeliveryRecord, Producer, ProducerConfig};
//! use std::time::Duration;
//!
//! # async fn run() -> Result<(), activity_replay_producer::Error> {
//! let producer = Producer::new(
//!     ProducerConfig::new("b-1.kafka.internal:9096", "delivery_log")
//!         .set("security.protocol", "SASL_SSL")
//!         .set("sasl.mechanism", "SCRAM-SHA-512")
//!         .set("sasl.username", "platform")
//!         .set("sasl.password", std::env::var("KAFKA_PASSWORD").unwrap_or_default()),
//! )?;
//! // After each delivery attempt to a customer's webhook:
//! let body = r#"{"for_user_id":"2244994945","tweet_create_events":[]}"#;
//! let record = DeliveryRecord::new("ev_8f2c", "wh_55f4", "tweet_create_events", chrono::Utc::now(), body)?
//!     .with_delivery(Delivery::failed(Some(503)));
//! let written = producer.send(&record).await?;
//! println!("partition {} offset {}", written.partition, written.offset);
//! producer.flush(Duration::from_secs(10)).await?;
//! # Ok(())
//! # }
//! ```
//!
//! A runnable version: `examples/produce.rs`
//! (`cargo run -p activity-replay-producer --example produce -- WEBHOOK_ID`).

mod error;
pub mod partitioner;
mod producer;
mod record;

pub use error::Error;
pub use partitioner::{murmur2, partition_for_key};
pub use producer::{Producer, ProducerConfig, Written, DEFAULT_SETTINGS, PARTITION_COUNT_TTL};
pub use record::{is_valid_event_id, Delivery, DeliveryRecord, DeliveryStatus, MAX_EVENT_ID_BYTES};
