//! Writes a few delivery-log records for one webhook and prints where each
//! went. On the local stack:
//!
//! ```sh
//! source infra/local/env.sh   # KAFKA_BROKERS, DELIVERY_LOG_TOPIC
//! cargo run -p activity-replay-producer --example produce -- wh_55f4 5
//! ```

use activity_replay_producer::{Delivery, DeliveryRecord, Producer, ProducerConfig};
use chrono::{Duration as Age, Utc};
use std::time::Duration;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let webhook_id = args.next().ok_or("usage: produce WEBHOOK_ID [COUNT]")?;
    let count: i64 = args.next().map(|n| n.parse()).transpose()?.unwrap_or(3);
    let brokers = std::env::var("KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into());
    let topic = std::env::var("DELIVERY_LOG_TOPIC").unwrap_or_else(|_| "delivery_log".into());

    let producer = Producer::new(ProducerConfig::new(brokers, topic))?;
    // Delivered an hour ago, one a minute: replayable once SETTLE_SECONDS have passed.
    let start = Utc::now() - Age::hours(1);
    for i in 0..count {
        let delivered = start + Age::minutes(i);
        let body = serde_json::json!({"for_user_id": "2244994945", "n": i}).to_string();
        let record = DeliveryRecord::new(format!("ev_example_{i}"), &webhook_id, "example", delivered, body)?
            .with_delivery(Delivery::succeeded(200));
        let written = producer.send(&record).await?;
        println!("{} -> partition {} offset {}", record.event_id, written.partition, written.offset);
    }
    producer.flush(Duration::from_secs(10)).await?;
    Ok(())
}
