//! SASL/OAUTHBEARER through the core's own Kafka adapter: librdkafka's token
//! refresh callback (`ReplayContext`, adapters/kafka_auth.rs) against the
//! local broker's OAUTH listener (infra/local/up.sh: SASL_PLAINTEXT,
//! OAUTHBEARER, Kafka's unsecured JWT validator, sessions re-authenticated
//! within `connections.max.reauth.ms` = 10 s and never past their token's
//! expiry). `KAFKA_AUTH=msk_iam` takes the same path with SigV4-signed tokens,
//! which only MSK can validate.
//!
//! With 15-second tokens the look-up consumer, which lives as long as the
//! `KafkaLog` (across invocations on Lambda), needs a new token every 12-13 s;
//! it re-authenticates every 9 s or so, and its connections, closed when idle
//! for 2 s, are opened again with whatever token it holds then: had the
//! callback not been served, the look-ups below would fail once the first
//! token expired.

use anyhow::{bail, Context, Result};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;
use replay_core::adapters::kafka::{client_config, KafkaLog};
use replay_core::config::{KafkaAuth, KafkaConfig};
use replay_core::domain::selection::{Bounds, RecordReader, ScanItem};
use replay_core::ports::{DeliveryLog, ScanRequest};
use replay_integration_tests::replay_lab::seed::event_value;
use replay_integration_tests::replay_lab::setup;
use replay_integration_tests::{now_ms, unique};
use std::time::{Duration, Instant};

/// librdkafka asks for a new token at 80% of a token's life (its timer runs
/// once a second) and re-authenticates at 90% of a session's: a token shorter
/// than ~12 s may be refreshed after a re-authentication that then gets a
/// session of under a second, and Kafka refuses a second re-authentication
/// within a second. MSK's 900-s tokens leave minutes between the two.
const TOKEN_LIFETIME: Duration = Duration::from_secs(15);
const WEBHOOK: &str = "wh_kafka_auth";

fn brokers(var: &str, default: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| default.to_owned())
}

/// `count` records of WEBHOOK at offsets `first..`, one second apart, through the plain listener.
async fn produce(plain: &KafkaConfig, first: i64, count: i64, start_ts: i64) -> Result<()> {
    let producer: FutureProducer = client_config(plain).create().context("plain producer")?;
    for i in first..first + count {
        let ts = start_ts + i * 1_000;
        let value = event_value(&format!("ev-{i}"), WEBHOOK, ts, "auth");
        let record = FutureRecord::to(&plain.topic).key(WEBHOOK).payload(&value).timestamp(ts);
        producer.send(record, Timeout::After(Duration::from_secs(10))).await.map_err(|(e, _)| e)?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauthbearer_tokens_are_refreshed_across_reauthentication_and_reconnects() -> Result<()> {
    let plain = KafkaConfig::plain(brokers("KAFKA_BROKERS", "127.0.0.1:9092"), unique("dl_auth_"));
    setup::create_topic(&plain, 1).await?;
    let start_ts = now_ms() - 3_600_000;
    produce(&plain, 0, 40, start_ts).await?;
    let mut oauth = KafkaConfig { brokers: brokers("KAFKA_OAUTH_BROKERS", "127.0.0.1:9094"), ..plain.clone() }
        .with_auth(KafkaAuth::unsecured("replay-test", TOKEN_LIFETIME));
    // librdkafka closes connections idle for 2 s: the look-ups below reconnect.
    oauth.extra.push(("connections.max.idle.ms".into(), "2000".into()));

    // The listener lets no client in without a token: the same settings with
    // rdkafka's default context (no callback) never get metadata.
    let no_callback: BaseConsumer = client_config(&oauth).create()?;
    let denied = tokio::task::spawn_blocking(move || no_callback.fetch_metadata(None, Duration::from_secs(3))).await?;
    if denied.is_ok() {
        bail!("the OAUTH listener answered a client without a token: is it SASL/OAUTHBEARER (infra/local/up.sh)?");
    }

    let log = KafkaLog::new(oauth)?;
    assert_eq!(log.partition_count().await?, 1);
    assert_eq!(log.watermarks(0).await?, (0, 40));
    assert_eq!(log.offset_for_time(0, start_ts + 10_000).await?, 10);
    assert_eq!(log.oldest_timestamp(0).await?, Some(start_ts));
    assert_eq!(scan(&log, 0, 40, start_ts).await?, (0..40).collect::<Vec<_>>());
    // The look-up, oldest-record and scan consumers: one token each.
    assert!(log.oauth_tokens_issued() >= 3, "{} tokens", log.oauth_tokens_issued());

    // Two token lifetimes of look-ups, 1.5 or 3 s apart: re-authentications
    // with refreshed tokens, and reconnects after the idle closes.
    let before = log.oauth_tokens_issued();
    let until = Instant::now() + TOKEN_LIFETIME * 2;
    let mut pause = Duration::from_millis(1_500);
    while Instant::now() < until {
        tokio::time::sleep(pause).await;
        pause = if pause < Duration::from_secs(2) { Duration::from_secs(3) } else { Duration::from_millis(1_500) };
        let at = Instant::now();
        assert_eq!(log.watermarks(0).await?, (0, 40));
        assert!(at.elapsed() < Duration::from_secs(3), "a look-up took {:?}", at.elapsed());
    }
    let refreshed = log.oauth_tokens_issued() - before;
    // One every 12-13 s, for the look-up consumer (the others are gone).
    assert!(refreshed >= 2, "only {refreshed} token refreshes in {:?}", TOKEN_LIFETIME * 2);

    // Many tokens later: new records, read by look-ups and by a new scan.
    produce(&plain, 40, 20, start_ts).await?;
    assert_eq!(log.watermarks(0).await?, (0, 60));
    assert_eq!(log.offset_for_time(0, start_ts + 50_000).await?, 50);
    assert_eq!(scan(&log, 40, 60, start_ts).await?, (40..60).collect::<Vec<_>>());

    setup::delete_topic(&plain).await?;
    Ok(())
}

/// The offsets of WEBHOOK's events a scan of `[from, end)` hands over.
async fn scan(log: &KafkaLog, from: i64, end: i64, start_ts: i64) -> Result<Vec<i64>> {
    let bounds = Bounds { from: start_ts, to: now_ms() + 3_600_000, lookback_ms: 0, skew_ms: 0 };
    let reader = RecordReader::new(WEBHOOK, bounds, 600_000);
    let mut rx =
        log.scan(ScanRequest { partition: 0, from, end, reader, max_batch: 1_000, max_batch_bytes: 1 << 20 })?;
    let mut events = Vec::new();
    loop {
        let batch = tokio::time::timeout(Duration::from_secs(20), rx.recv())
            .await
            .context("no scan batch within 20 s")?
            .context("the scan ended without reaching its end")?
            .context("the scan failed")?;
        events.extend(batch.items.iter().filter_map(|item| match item {
            ScanItem::Event { offset, .. } => Some(*offset),
            _ => None,
        }));
        if batch.next_offset >= end {
            return Ok(events);
        }
    }
}
