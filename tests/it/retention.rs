//! Data near retention, caused with Kafka's DeleteRecords rather than by
//! waiting: the API refuses a window that starts before what the log still
//! holds, and a job whose window is deleted while it is queued ends
//! INCOMPLETE with the count, never COMPLETED with events missing.

use replay_core::domain::partitioner::partition_for_key;
use replay_core::services::api::create_tenant;
use replay_integration_tests::replay_client::{ErrorCode, JobState, StatusWord};
use replay_integration_tests::replay_lab::receiver::Receiver;
use replay_integration_tests::replay_lab::seed::SeedKind;
use replay_integration_tests::replay_lab::setup::delete_records;
use replay_integration_tests::*;
use std::time::Duration;

#[tokio::test]
async fn deleted_data_is_refused_at_the_api_and_counted_in_a_queued_job() -> anyhow::Result<()> {
    let mut stack = TestStack::new(2).await?;
    // Jobs wait in the queue until processing is switched on.
    stack.parameter("SliceProcessingEnabled", "false").set("SLICE_SECONDS", "3600");
    stack.deploy().await?;
    let receiver = Receiver::start(0).await?;
    let tenant = create_tenant(&stack.store, PEPPER, "acme").await?;
    let api = stack.api(&tenant.api_key);
    let me = webhook_to(&api, &receiver, "me").await?;
    let partition = partition_for_key(me.as_str().as_bytes(), 2) as i32;
    let from = (now_ms() - 6 * HOUR) / HOUR * HOUR;
    // 240 events over 2 hours, one every 30 s, alone on the partition.
    let records: Vec<_> =
        (0..240).map(|i| record(from + i * 30_000, me.as_str(), &format!("ev-{i}"), SeedKind::Event)).collect();
    stack.produce(&records).await?;

    let job_id = start(&api, &me, from, from + 2 * HOUR).await?;
    // Retention deletes the first 30 minutes (60 records) while the job waits.
    delete_records(&stack.kafka, partition, 60).await?;

    // A new window starting in the deleted part is refused...
    let err = api.start_replay(&me, &window(from + 10 * 60_000, from + HOUR)).await.expect_err("deleted");
    assert_eq!(err.code(), Some(ErrorCode::RangeExpired), "{err}");
    // ...one after it only meets the running job.
    let err = api.start_replay(&me, &window(from + 40 * 60_000, from + HOUR)).await.expect_err("running");
    assert_eq!(err.code(), Some(ErrorCode::JobAlreadyRunning), "{err}");

    stack.parameter("SliceProcessingEnabled", "true");
    stack.deploy().await?;
    let done = stack.wait_for_end(&api, &job_id, Duration::from_secs(90)).await?;
    assert_eq!(done.state, JobState::Incomplete, "lost data never reports COMPLETED: {done:?}");
    assert_eq!(done.progress.counters.records_expired, 60, "{done:?}");
    assert_eq!(done.progress.counters.events_delivered, 180);
    let reason = done.state_reason.clone().unwrap_or_default();
    assert!(reason.contains("60 record(s) were deleted by retention"), "{reason}");
    let received = receiver.stats("me").received();
    assert_eq!(received.len(), 180);
    assert!(!received.contains("ev-59") && received.contains("ev-60"));
    eventually(Duration::from_secs(30), "the status event", async || !receiver.stats("me").status_events.is_empty())
        .await?;
    assert_eq!(receiver.stats("me").status_events[0].replay_job_status.job_state, StatusWord::Incomplete);
    stack.cleanup().await;
    Ok(())
}
