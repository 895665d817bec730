//! Producers in two languages write one webhook's events as
//! docs/delivery-log.md says: Python's confluent-kafka (librdkafka,
//! `partitioner=murmur2_random`, Snappy, idempotence, CreateTime;
//! tests/producers/python_producer.py in the `producers` venv of
//! infra/local/up.sh) and the producer library (activity-replay-producer).
//! Every record lands on the partition the replay computes for its key, with
//! its delivery time as CreateTime, and a replay of the window through the
//! deployed stack delivers each event once, the copies written by the other
//! language (as a second data centre would) removed.
//!
//! The log is written in time order, as producers writing as they deliver
//! do: Python's half hour of events, Rust's copies of its last ones 2 minutes
//! later, Rust's half hour, Python's copies of its last ones.

use activity_replay_producer::{partition_for_key, DeliveryRecord, Producer, ProducerConfig};
use anyhow::{ensure, Context, Result};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Message, Timestamp};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use replay_core::services::api::create_tenant;
use replay_integration_tests::replay_client::JobState;
use replay_integration_tests::replay_lab::receiver::Receiver;
use replay_integration_tests::*;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

const PARTITIONS: i32 = 6;
/// Events of the webhook written by each language, one every 30 s.
const PER_LANGUAGE: i64 = 60;
const STEP: i64 = 30_000;
/// The last events of each language that the other one logs again, 2 minutes later.
const COPIES: i64 = 5;
const COPY_DELAY: i64 = 120_000;
/// Other webhooks' keys, one record each per language: librdkafka's default
/// partitioner (`consistent_random`, CRC32) would put 19 of these 24 elsewhere.
const PROBES: usize = 24;

/// Runs the Python producer: `count` records per webhook, ids
/// `prefix-(first + i)` at `start_ms + i * STEP`; the records it reports acknowledged.
async fn python(
    stack: &TestStack,
    webhooks: &[String],
    ids: (&str, i64),
    count: i64,
    start_ms: i64,
) -> Result<Vec<Value>> {
    let venv = std::env::var("PRODUCERS_VENV").context("PRODUCERS_VENV (infra/local/env.sh)")?;
    let python = format!("{venv}/bin/python");
    ensure!(
        std::path::Path::new(&python).exists(),
        "{python} is missing: run infra/local/up.sh (install_producers_venv)"
    );
    let mut cmd = tokio::process::Command::new(&python);
    cmd.arg(repo_root().join("tests/producers/python_producer.py"))
        .args(["--brokers", &stack.kafka.brokers, "--topic", &stack.kafka.topic])
        .args(["--count", &count.to_string(), "--start-ms", &start_ms.to_string(), "--step-ms", &STEP.to_string()])
        .args(["--prefix", ids.0, "--first", &ids.1.to_string()]);
    for w in webhooks {
        cmd.args(["--webhook", w]);
    }
    let out = cmd.output().await.context("running python_producer.py")?;
    ensure!(out.status.success(), "python_producer.py: {}", String::from_utf8_lossy(&out.stderr));
    let acked: Vec<Value> =
        String::from_utf8_lossy(&out.stdout).lines().map(serde_json::from_str).collect::<Result<_, _>>()?;
    ensure!(acked.len() as i64 == count * webhooks.len() as i64, "python acknowledged {} records", acked.len());
    Ok(acked)
}

fn rust_record(event_id: &str, webhook: &str, ms: i64, n: i64) -> Result<DeliveryRecord> {
    let at = chrono::DateTime::from_timestamp_millis(ms).context("timestamp")?;
    let body = serde_json::json!({"for_user_id": "2244994945", "producer": "rust", "n": n}).to_string();
    Ok(DeliveryRecord::new(event_id, webhook, "tweet_create_events", at, body)?)
}

/// Every record of the topic: (partition, key, CreateTime, event_id).
fn read_topic(brokers: &str, topic: &str) -> Result<Vec<(i32, String, i64, String)>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "producers-test")
        .set("enable.auto.commit", "false")
        .create()?;
    let mut assignment = TopicPartitionList::new();
    let mut total = 0;
    for p in 0..PARTITIONS {
        let (low, high) = consumer.fetch_watermarks(topic, p, Duration::from_secs(10))?;
        total += high - low;
        assignment.add_partition_offset(topic, p, Offset::Beginning)?;
    }
    consumer.assign(&assignment)?;
    let mut records = Vec::new();
    let started = std::time::Instant::now();
    while (records.len() as i64) < total {
        ensure!(started.elapsed() < Duration::from_secs(60), "read {} of {total} records", records.len());
        let Some(message) = consumer.poll(Duration::from_millis(500)) else { continue };
        let message = message?;
        let Timestamp::CreateTime(ts) = message.timestamp() else {
            anyhow::bail!("record {} is not CreateTime: {:?}", message.offset(), message.timestamp());
        };
        let value: Value = serde_json::from_slice(message.payload().unwrap_or_default())?;
        records.push((
            message.partition(),
            String::from_utf8_lossy(message.key().unwrap_or_default()).into_owned(),
            ts,
            value["event_id"].as_str().unwrap_or_default().to_owned(),
        ));
    }
    Ok(records)
}

#[tokio::test]
async fn python_and_rust_producers_write_where_the_replay_reads() -> Result<()> {
    let mut stack = TestStack::new(PARTITIONS).await?;
    stack.deploy().await?;
    let receiver = Receiver::start(0).await?;
    let tenant = create_tenant(&stack.store, PEPPER, "acme").await?;
    let api = stack.api(&tenant.api_key);
    let webhook = webhook_to(&api, &receiver, "me").await?;
    let me = webhook.to_string();
    let mine = partition_for_key(me.as_bytes(), PARTITIONS as u32) as i32;
    let probes: Vec<String> = (0..PROBES).map(|i| format!("wh_probe_{i}")).collect();
    let from = (now_ms() - 4 * HOUR) / HOUR * HOUR;
    // py-i at from + 30 s * i (the first half hour), rs-i from 32 minutes on.
    let py_at = |i: i64| from + i * STEP;
    let rs_at = |i: i64| from + 32 * 60_000 + i * STEP;
    let me_only = std::slice::from_ref(&me);
    let producer = Producer::new(ProducerConfig::new(&stack.kafka.brokers, &stack.kafka.topic))?;
    let mut written = Vec::new();

    let mut acked = python(&stack, &probes, ("probe-py", 0), 1, from - 60_000).await?;
    for (i, probe) in probes.iter().enumerate() {
        let r = rust_record(&format!("probe-rs-{i}"), probe, from - 60_000, 0)?;
        written.push((probe.clone(), producer.send(&r).await?));
    }
    acked.extend(python(&stack, me_only, ("py", 0), PER_LANGUAGE, py_at(0)).await?);
    for i in PER_LANGUAGE - COPIES..PER_LANGUAGE {
        // A copy of py-i logged 2 minutes later: the same event, a later delivery time.
        let copy = rust_record(&format!("py-{i}"), &me, py_at(i), i)?;
        let later = chrono::DateTime::from_timestamp_millis(py_at(i) + COPY_DELAY).context("timestamp")?;
        written.push((me.clone(), producer.send_at(&copy, later).await?));
    }
    for i in 0..PER_LANGUAGE {
        written.push((me.clone(), producer.send(&rust_record(&format!("rs-{i}"), &me, rs_at(i), i)?).await?));
    }
    producer.flush(Duration::from_secs(10)).await?;
    let first_copy = PER_LANGUAGE - COPIES;
    acked.extend(python(&stack, me_only, ("rs", first_copy), COPIES, rs_at(first_copy) + COPY_DELAY).await?);
    assert_eq!(producer.partition_for(&me).await?, mine);

    // (a) Both put every key on partition_for_key's partition, as they report it...
    for a in &acked {
        let key = a["webhook_id"].as_str().unwrap_or_default();
        let expected = partition_for_key(key.as_bytes(), PARTITIONS as u32) as i64;
        assert_eq!(a["partition"].as_i64(), Some(expected), "python wrote {a} elsewhere");
    }
    for (key, w) in &written {
        assert_eq!(w.partition, partition_for_key(key.as_bytes(), PARTITIONS as u32) as i32, "rust wrote {key}");
    }
    // ...and as the log holds it, with the delivery time as CreateTime.
    let log = {
        let (brokers, topic) = (stack.kafka.brokers.clone(), stack.kafka.topic.clone());
        tokio::task::spawn_blocking(move || read_topic(&brokers, &topic)).await??
    };
    assert_eq!(log.len(), (2 * (PER_LANGUAGE + COPIES)) as usize + 2 * PROBES);
    let mut per_partition: HashMap<i32, usize> = HashMap::new();
    let mut probe_partitions = HashSet::new();
    for (partition, key, ts, event_id) in &log {
        assert_eq!(*partition, partition_for_key(key.as_bytes(), PARTITIONS as u32) as i32, "{key} {event_id}");
        *per_partition.entry(*partition).or_default() += 1;
        if key.starts_with("wh_probe_") {
            probe_partitions.insert(*partition);
            continue;
        }
        let i: i64 = event_id.rsplit('-').next().and_then(|n| n.parse().ok()).context("event id")?;
        let original = if event_id.starts_with("py-") { py_at(i) } else { rs_at(i) };
        assert!(*ts == original || (i >= first_copy && *ts == original + COPY_DELAY), "{event_id} at {ts}");
    }
    assert_eq!(log.iter().filter(|r| r.0 == mine && r.1 == me).count() as i64, 2 * (PER_LANGUAGE + COPIES));
    assert!(probe_partitions.len() > 1, "probe keys spread over partitions: {probe_partitions:?}");
    println!(
        "webhook {me} on partition {mine}; python acked {} records, rust {}; records per partition {per_partition:?}",
        acked.len(),
        written.len()
    );

    // (b) A replay of the window delivers each of the 120 events once.
    let job = api.start_replay(&webhook, &window(from, from + 2 * HOUR)).await?;
    let done = stack.wait_for_end(&api, &job.job_id, Duration::from_secs(120)).await?;
    assert_eq!(done.state, JobState::Completed, "{done:?}");
    println!("{}", done.state_reason.as_deref().unwrap_or_default());
    let expected: HashSet<String> = (0..PER_LANGUAGE).flat_map(|i| [format!("py-{i}"), format!("rs-{i}")]).collect();
    let stats = receiver.stats("me");
    assert_eq!(stats.received(), expected);
    let repeated: Vec<_> = stats.accepted.iter().filter(|(_, n)| **n > 1).collect();
    assert!(repeated.is_empty(), "copies from the other language are removed: {repeated:?}; {done:?}");
    assert_eq!(stats.signature_failures, 0);
    stack.cleanup().await;
    Ok(())
}

/// Many records enqueued at once land in the log in the order they were
/// given: a webhook's records by timestamp, as the replay expects of a live
/// log (the seeder once let 20,000 concurrent sends overtake each other).
#[tokio::test]
async fn records_enqueued_in_order_are_logged_in_order() -> Result<()> {
    let kafka = replay_core::config::KafkaConfig::plain(std::env::var("KAFKA_BROKERS")?, unique("order_"));
    replay_integration_tests::replay_lab::setup::create_topic(&kafka, PARTITIONS).await?;
    let from = now_ms() - 5 * HOUR;
    let webhooks = ["wh_a", "wh_b", "wh_c"];
    let records: Vec<_> = (0..30_000i64)
        .map(|i| {
            record(
                from + i * 100,
                webhooks[(i % 3) as usize],
                &format!("ev-{i}"),
                replay_integration_tests::replay_lab::seed::SeedKind::Event,
            )
        })
        .collect();
    replay_integration_tests::replay_lab::seed::produce(&kafka, &records).await?;
    let read = tokio::task::spawn_blocking({
        let (brokers, topic) = (kafka.brokers.clone(), kafka.topic.clone());
        move || read_topic(&brokers, &topic)
    })
    .await??;
    assert_eq!(read.len(), records.len());
    let mut last: std::collections::HashMap<i32, i64> = Default::default();
    for (partition, _, ts, id) in &read {
        let previous = last.insert(*partition, *ts).unwrap_or(i64::MIN);
        assert!(*ts >= previous, "{id} on partition {partition} is before the record ahead of it");
    }
    replay_integration_tests::replay_lab::setup::delete_topic(&kafka).await?;
    Ok(())
}
