//! Replay correctness end to end: API Gateway, the API function, SQS and the
//! event source mapping, the worker, on a tricky log.

use replay_core::domain::partitioner::partition_for_key;
use replay_core::services::api::create_tenant;
use replay_integration_tests::replay_client::{JobState, StatusWord};
use replay_integration_tests::replay_lab::receiver::Receiver;
use replay_integration_tests::replay_lab::seed::{Manifest, SeedKind};
use replay_integration_tests::*;
use std::time::Duration;

/// Duplicates within a slice and across a slice boundary, a copy of an event
/// from before the window, malformed records, other webhooks' events (one
/// reusing an event id), and edges between records with equal timestamps.
pub fn tricky_log(me: &str, other: &str, from: i64, to: i64) -> Manifest {
    use SeedKind::*;
    let slice_edge = from + HOUR;
    let mut records = vec![
        record(from - 20 * 60_000, me, "too-early", Event),
        record(from - 3 * 60_000, me, "straddles-from", Event),
        record(from - 1, me, "edge-before-from", Event),
        record(from, me, "at-from-1", Event),
        record(from, me, "at-from-2", Event),
        record(from, other, "other-at-from", Event),
        record(from, me, "at-from-3", Event),
        record(from + 2 * 60_000, me, "straddles-from", Duplicate),
        record(from + 5 * 60_000, me, "in-slice", Event),
        record(from + 6 * 60_000, me, "in-slice", Duplicate),
        malformed(from + 7 * 60_000, me, 1),
        record(from + 8 * 60_000, other, "in-slice", Event),
        record(slice_edge - 2 * 60_000, me, "straddles-slices", Event),
        record(slice_edge - 1, me, "edge-before-slice", Event),
        record(slice_edge, me, "at-slice-edge", Event),
        record(slice_edge, me, "at-slice-edge-2", Event),
        record(slice_edge + 60_000, me, "straddles-slices", Duplicate),
        malformed(slice_edge + 2 * 60_000, me, 2),
        record(slice_edge + 3 * 60_000, me, "straddles-slices", Duplicate),
    ];
    for i in 0..300 {
        let ts = from + 2 * HOUR + i * 10_000;
        records.push(record(ts, if i % 3 == 0 { me } else { other }, &format!("bulk-{i}"), Event));
    }
    records.push(record(to - 1, me, "edge-before-to", Event));
    records.push(record(to, me, "at-to-1", Event));
    records.push(record(to, me, "at-to-2", Event));
    records.push(record(to + 60_000, me, "after", Event));
    records.sort_by_key(|r| r.timestamp);
    Manifest { records }
}

#[tokio::test]
async fn replay_delivers_exactly_the_windows_events_once_signed() -> anyhow::Result<()> {
    let mut stack = TestStack::new(3).await?;
    stack.deploy().await?;
    let receiver = Receiver::start(0).await?;
    let tenant = create_tenant(&stack.store, PEPPER, "acme").await?;
    let api = stack.api(&tenant.api_key);
    let me = webhook_to(&api, &receiver, "me").await?;

    let from = (now_ms() - 10 * HOUR) / HOUR * HOUR;
    let to = from + 3 * HOUR;
    let log = tricky_log(me.as_str(), "wh_other", from, to);
    stack.produce(&log.records).await?;
    let expected = log.expected(me.as_str(), from, to);
    assert!(
        expected.contains("at-from-3") && expected.contains("edge-before-to") && expected.contains("at-slice-edge")
    );
    assert!(!expected.contains("straddles-from") && !expected.contains("at-to-1"));

    let job = api.start_replay(&me, &window(from, to)).await?;
    assert_eq!(job.state, JobState::Open);
    let job_id = job.job_id;
    eventually(Duration::from_secs(90), "the status event", async || receiver.stats("me").status_events.len() == 1)
        .await?;

    let stats = receiver.stats("me");
    assert_eq!(stats.received(), expected, "exactly the window's events");
    assert_eq!(stats.repeats(), 0, "each event once");
    assert_eq!(stats.signature_failures, 0);
    assert_eq!(stats.replay_job_ids.keys().collect::<Vec<_>>(), vec![job_id.as_str()]);

    let view = api.job(&job_id).await?;
    assert_eq!(view.state, JobState::Completed);
    assert_eq!(view.progress.slices_total, 3);
    let c = view.progress.counters;
    assert_eq!(c.events_delivered as usize, expected.len());
    assert_eq!(c.malformed, 2);
    // Copies skipped: straddles-from (its original is in the look-back),
    // in-slice, and straddles-slices twice (once across the slice boundary).
    assert_eq!(c.duplicates_skipped, 4);
    assert_eq!(c.events_matched, c.events_delivered + c.duplicates_skipped);
    assert!(c.adds_up());
    let partition = |key: &str| partition_for_key(key.as_bytes(), 3);
    let in_window = log
        .records
        .iter()
        .filter(|r| r.timestamp >= from && r.timestamp < to && partition(&r.webhook_id) == partition(me.as_str()))
        .count() as u64;
    assert_eq!(c.events_scanned, in_window);
    assert_eq!(view.progress.slices_done, 3);

    let status = &stats.status_events[0].replay_job_status;
    assert_eq!(status.job_state, StatusWord::Complete);
    assert_eq!(status.job_id, job_id);
    assert_eq!(status.counts, view.progress);
    stack.cleanup().await;
    Ok(())
}
