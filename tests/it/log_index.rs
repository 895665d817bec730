//! The log's index through the deployed stack (docs/guarantees.md, "The
//! log's index"): the sweeper indexes the topic, a rare webhook's replay
//! reads only the blocks that hold its events and delivers exactly what the
//! log holds; the same replay with the index deleted (`replayctl index
//! rebuild --drop-only`) reads the window in full, counted, and delivers the
//! same events. The receiver answers in 50-300 ms; producers' clocks differ.

use replay_client::Client;
use replay_core::services::api::create_tenant;
use replay_integration_tests::replay_lab::receiver::{Faults, Receiver};
use replay_integration_tests::replay_lab::seed::SeedKind;
use replay_integration_tests::*;
use std::collections::HashSet;
use std::time::Duration;

const BLOCK_RECORDS: u64 = 16;
const MINUTE: i64 = 60_000;

#[tokio::test]
async fn a_rare_webhooks_replay_reads_its_blocks_and_without_the_index_reads_everything() -> anyhow::Result<()> {
    let mut stack = TestStack::new(1).await?;
    stack.set("INDEX_BLOCK_RECORDS", &BLOCK_RECORDS.to_string());
    stack.deploy().await?;
    let tenant = create_tenant(&stack.store, PEPPER, "acme").await?;
    let api = stack.api(&tenant.api_key);
    let receiver = Receiver::start(0).await?;
    receiver.set_faults(Faults {
        delay: Duration::from_millis(50),
        delay_max: Duration::from_millis(300),
        ..Faults::default()
    });
    let rare = webhook_to(&api, &receiver, "rare").await?;

    // An hour's window amid 6,000 records of four busy webhooks, 25 of them
    // the rare one's (one every 240 records), timestamps up to 2 s out of order.
    let from = (now_ms() - 3 * HOUR) / HOUR * HOUR;
    let (to, start, end) = (from + HOUR, from - 10 * MINUTE, from + HOUR + 10 * MINUTE);
    let total = 6_000i64;
    let records: Vec<_> = (0..total)
        .map(|i| {
            let ts = start + (end - start) * i / total - (i * 7_919 % 2_000);
            let who = if i % 240 == 100 { rare.to_string() } else { format!("wh_busy_{}", i % 4) };
            record(ts, &who, &format!("ev-{i}"), SeedKind::Event)
        })
        .collect();
    stack.produce(&records).await?;
    let expected: HashSet<String> = records
        .iter()
        .filter(|r| r.webhook_id == rare.as_str() && r.timestamp >= from && r.timestamp < to)
        .map(|r| r.event_id.clone())
        .collect();
    assert!(expected.len() >= 15, "the window holds the rare webhook's events: {}", expected.len());

    let sweep = stack.sweep().await?;
    assert_eq!(sweep["index"]["records_indexed"], total, "the sweeper indexed the topic: {sweep}");
    assert_eq!(sweep["index"]["lag_records"], 0, "{sweep}");

    let by_index = replay(&stack, &api, &receiver, &rare, from, to).await?;
    assert_eq!(accepted(&receiver, &expected), Ok(1), "the indexed replay delivers the window's events, once each");
    assert_eq!(by_index.delivered, expected.len() as u64);
    assert!(by_index.skipped > 0 && by_index.unindexed == 0, "{by_index:?}");
    // Every event costs at most its block, and the window's two edges a block or two more.
    let bound = BLOCK_RECORDS * (expected.len() as u64 + 4);
    assert!(by_index.read <= bound, "read {} records in the window, at most {bound}: {by_index:?}", by_index.read);

    let dropped = stack.replayctl(&["index", "rebuild", "--drop-only"]).await?;
    assert_eq!(dropped["status"]["partitions"][0]["indexed_to"], serde_json::Value::Null, "{dropped}");
    assert_eq!(dropped["status"]["partitions"][0]["lag_records"], total, "{dropped}");

    let full = replay(&stack, &api, &receiver, &rare, from, to).await?;
    assert_eq!(accepted(&receiver, &expected), Ok(2), "without the index, the same events, once each again");
    assert_eq!(full.delivered, expected.len() as u64);
    assert_eq!(full.skipped, 0, "{full:?}");
    assert_eq!(full.read, full.scanned, "every record of the window read: {full:?}");
    assert!(full.unindexed > 0 && full.unindexed <= full.scanned, "the fallback is counted: {full:?}");
    assert_eq!(full.scanned, by_index.scanned, "both count the window's records alike");

    stack.cleanup().await;
    Ok(())
}

/// How many times the receiver accepted each of `expected`, if it accepted
/// them all alike and nothing else; else what it accepted.
fn accepted(receiver: &Receiver, expected: &HashSet<String>) -> Result<u32, Vec<(String, u32)>> {
    let stats = receiver.stats("rare");
    let mut events: Vec<(String, u32)> =
        stats.accepted.into_iter().filter(|(id, _)| !id.starts_with("replay-job-")).collect();
    events.sort();
    let ids: HashSet<String> = events.iter().map(|(id, _)| id.clone()).collect();
    match events.first() {
        Some((_, n)) if ids == *expected && events.iter().all(|(_, m)| m == n) => Ok(*n),
        _ => Err(events),
    }
}

#[derive(Debug)]
struct Replayed {
    delivered: u64,
    scanned: u64,
    skipped: u64,
    unindexed: u64,
    /// The window's records read from the log (not skipped).
    read: u64,
}

async fn replay(
    stack: &TestStack,
    api: &Client,
    receiver: &Receiver,
    webhook: &replay_client::WebhookId,
    from: i64,
    to: i64,
) -> anyhow::Result<Replayed> {
    let job = start(api, webhook, from, to).await?;
    let ended = stack.wait_for_end(api, &job, Duration::from_secs(240)).await?;
    assert_eq!(ended.state, replay_client::JobState::Completed, "{ended:?}");
    let p = &ended.progress.counters;
    let arrived = receiver.arrivals("rare", job.as_str()).map_or(0, |a| a.count);
    assert_eq!(arrived, p.events_delivered, "what arrived for this job is what it counted");
    Ok(Replayed {
        delivered: p.events_delivered,
        scanned: p.events_scanned,
        skipped: p.records_skipped,
        unindexed: p.records_unindexed,
        read: p.events_scanned - p.records_skipped,
    })
}
