//! Realistic delivery-log data: skewed webhook volumes over days, duplicate
//! records minutes apart, a few malformed records; written with Kafka's
//! keyed partitioner and Snappy like the platform does (with the producer
//! library, activity-replay-producer).

use activity_replay_producer::{self as producer, DeliveryRecord, Producer, ProducerConfig, Written};
use anyhow::{bail, Context, Result};
use futures::stream::{FuturesUnordered, StreamExt};
use rand::distributions::{Distribution, WeightedIndex};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use replay_core::config::KafkaConfig;
use std::collections::{HashMap, HashSet};

#[derive(Debug, Clone)]
pub struct SeedPlan {
    pub events: usize,
    /// The first ids get the most events (Zipf-like skew).
    pub webhooks: Vec<String>,
    pub start_ms: i64,
    pub end_ms: i64,
    /// Share of events logged a second time, 1 s to 5 min later.
    pub duplicate_rate: f64,
    /// Share of records that are malformed (bad JSON or a mismatched webhook_id).
    pub malformed_rate: f64,
    pub payload_bytes: usize,
    pub seed: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeedKind {
    Event,
    Duplicate,
    Malformed,
}

#[derive(Debug, Clone)]
pub struct SeedRecord {
    pub timestamp: i64,
    pub webhook_id: String,
    pub event_id: String,
    pub kind: SeedKind,
    pub value: Vec<u8>,
}

/// What was written, to compute what a replay must deliver.
#[derive(Debug, Default)]
pub struct Manifest {
    pub records: Vec<SeedRecord>,
}

impl Manifest {
    /// Event ids of `webhook` whose first log record falls in `[from, to)`:
    /// exactly what a replay of that window delivers (duplicates here are
    /// always closer than the dedup look-back).
    pub fn expected(&self, webhook: &str, from: i64, to: i64) -> HashSet<String> {
        let mut first: HashMap<&str, i64> = HashMap::new();
        for r in &self.records {
            if r.webhook_id == webhook && r.kind != SeedKind::Malformed {
                first.entry(r.event_id.as_str()).or_insert(r.timestamp);
            }
        }
        first.into_iter().filter(|(_, ts)| *ts >= from && *ts < to).map(|(id, _)| id.to_owned()).collect()
    }

    pub fn count(&self, kind: SeedKind) -> usize {
        self.records.iter().filter(|r| r.kind == kind).count()
    }
}

pub fn event_value(event_id: &str, webhook_id: &str, ts: i64, filler: &str) -> Vec<u8> {
    let created_at = chrono::DateTime::from_timestamp_millis(ts)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    serde_json::json!({
        "event_id": event_id,
        "webhook_id": webhook_id,
        "event_type": "tweet_create_events",
        "created_at": created_at,
        "payload": {
            "for_user_id": "2244994945",
            "tweet_create_events": [{
                "id_str": event_id,
                "created_at": created_at,
                "text": filler,
                "user": {"id_str": "6253282", "screen_name": "replaydemo"}
            }]
        }
    })
    .to_string()
    .into_bytes()
}

/// Builds the records in log (timestamp) order.
pub fn plan_records(plan: &SeedPlan) -> Result<Manifest> {
    if plan.webhooks.is_empty() || plan.end_ms <= plan.start_ms {
        bail!("a seed plan needs webhooks and a non-empty time range");
    }
    let mut rng = StdRng::seed_from_u64(plan.seed);
    let weights: Vec<f64> = (1..=plan.webhooks.len()).map(|rank| 1.0 / rank as f64).collect();
    let pick = WeightedIndex::new(&weights).context("webhook weights")?;
    let filler: String = "x".repeat(plan.payload_bytes.saturating_sub(300).max(8));
    let span = plan.end_ms - plan.start_ms;
    let mut records = Vec::with_capacity(plan.events + plan.events / 10);
    for i in 0..plan.events {
        let ts = plan.start_ms + rng.gen_range(0..span);
        let webhook_id = plan.webhooks[pick.sample(&mut rng)].clone();
        if rng.gen_bool(plan.malformed_rate) {
            let value = if rng.gen_bool(0.5) {
                b"{\"event_id\": \"truncated".to_vec()
            } else {
                event_value(&format!("evm_{i}"), "wh_someone_else", ts, "mismatched")
            };
            records.push(SeedRecord {
                timestamp: ts,
                webhook_id,
                event_id: format!("evm_{i}"),
                kind: SeedKind::Malformed,
                value,
            });
            continue;
        }
        let event_id = format!("ev_{:016x}", rng.gen::<u64>());
        let value = event_value(&event_id, &webhook_id, ts, &filler);
        if rng.gen_bool(plan.duplicate_rate) {
            let later = (ts + rng.gen_range(1_000..300_000)).min(plan.end_ms - 1);
            records.push(SeedRecord {
                timestamp: later.max(ts),
                webhook_id: webhook_id.clone(),
                event_id: event_id.clone(),
                kind: SeedKind::Duplicate,
                value: value.clone(),
            });
        }
        records.push(SeedRecord { timestamp: ts, webhook_id, event_id, kind: SeedKind::Event, value });
    }
    // Stable: an original keeps its place before a duplicate with the same timestamp.
    records.sort_by_key(|r| (r.timestamp, r.kind == SeedKind::Duplicate));
    Ok(Manifest { records })
}

/// Produces records to the topic as the platform does, with the producer
/// library (activity-replay-producer: Snappy, idempotence, murmur2 partition,
/// CreateTime = the record's timestamp). Events and duplicates go through its
/// checked path; malformed records, which it would refuse, through its raw one.
pub async fn produce(kafka: &KafkaConfig, records: &[SeedRecord]) -> Result<()> {
    let mut config = ProducerConfig::new(&kafka.brokers, &kafka.topic);
    config.extra.extend(kafka.extra.iter().cloned());
    if let Some(sasl) = &kafka.sasl {
        config = config.set("sasl.username", &sasl.username).set("sasl.password", sasl.password.expose());
    }
    // Bulk loading: bigger batches and queue than the library's defaults.
    let config =
        config.set("linger.ms", "20").set("batch.num.messages", "10000").set("queue.buffering.max.messages", "500000");
    let producer = Producer::new(config).context("creating the Kafka producer")?;
    let mut in_flight = FuturesUnordered::new();
    // Enqueued one after another, in the order given (the log's order);
    // the acknowledgements are awaited together.
    for r in records {
        let pending = match r.kind {
            SeedKind::Malformed => producer.enqueue_raw(r.webhook_id.as_bytes(), &r.value, r.timestamp).await,
            SeedKind::Event | SeedKind::Duplicate => {
                let record: DeliveryRecord = serde_json::from_slice(&r.value)
                    .with_context(|| format!("seed record {} is not a delivery-log record", r.event_id))?;
                let at = chrono::DateTime::from_timestamp_millis(r.timestamp).unwrap_or_default();
                producer.enqueue_at(&record, at).await
            }
        };
        in_flight.push(pending.map_err(|e| anyhow::anyhow!("producing to Kafka failed: {e}"))?);
        if in_flight.len() >= 20_000 {
            while in_flight.len() > 10_000 {
                check(in_flight.next().await)?;
            }
        }
    }
    while let Some(result) = in_flight.next().await {
        check(Some(result))?;
    }
    producer.flush(std::time::Duration::from_secs(30)).await.context("flushing the Kafka producer")?;
    Ok(())
}

fn check(result: Option<Result<Written, producer::Error>>) -> Result<()> {
    match result {
        Some(Err(e)) => bail!("producing to Kafka failed: {e}"),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_has_skew_duplicates_and_malformed_records() {
        let plan = SeedPlan {
            events: 20_000,
            webhooks: (0..50).map(|i| format!("wh_{i}")).collect(),
            start_ms: 0,
            end_ms: 5 * 86_400_000,
            duplicate_rate: 0.03,
            malformed_rate: 0.002,
            payload_bytes: 300,
            seed: 7,
        };
        let m = plan_records(&plan).unwrap();
        let dups = m.count(SeedKind::Duplicate);
        assert!((400..800).contains(&dups), "{dups}");
        assert!(m.count(SeedKind::Malformed) > 10);
        assert!(m.records.windows(2).all(|w| w[0].timestamp <= w[1].timestamp));
        let top = m.records.iter().filter(|r| r.webhook_id == "wh_0").count();
        let last = m.records.iter().filter(|r| r.webhook_id == "wh_49").count();
        assert!(top > 10 * last, "skewed: {top} vs {last}");
        let all = m.expected("wh_0", 0, 5 * 86_400_000);
        let originals = m.records.iter().filter(|r| r.webhook_id == "wh_0" && r.kind == SeedKind::Event).count();
        assert_eq!(all.len(), originals);
    }
}
