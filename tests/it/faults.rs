//! Fault injection against the deployed stack: duplicate messages, a flaky
//! receiver, a receiver that is down, cancel mid-replay, MySQL connections
//! killed mid-replay.

use replay_core::domain::task::QueueTask;
use replay_integration_tests::replay_client::{JobState, StatusWord};
use replay_integration_tests::replay_lab::receiver::Faults;
use replay_integration_tests::scenario::scenario;
use replay_integration_tests::*;
use std::collections::HashSet;
use std::time::{Duration, Instant};

#[tokio::test]
async fn the_same_slice_message_twice_at_once_runs_once() -> anyhow::Result<()> {
    let s = scenario(&[("SLICE_SECONDS", "7200")], 600, 1).await?;
    s.receiver.set_faults(Faults { delay: Duration::from_millis(20), ..Faults::default() });
    let job = s.start().await?;
    // A second copy of the slice's message, as SQS may deliver one: the event
    // source mapping's pollers hand both to workers at once.
    let copy = QueueTask::slice(job.clone(), 0, 0).to_json();
    s.stack.sqs.send_message().queue_url(&s.stack.deployed().slice_queue_url).message_body(copy).send().await?;
    let view = s.wait_for_end(&job, Duration::from_secs(60)).await?;
    assert_eq!(view.state, JobState::Completed, "{view:?}");
    let stats = s.receiver.stats("me");
    assert_eq!(s.received(), s.expected);
    assert_eq!(stats.repeats(), 0, "one worker ran the slice");
    s.stack.cleanup().await;
    Ok(())
}

#[tokio::test]
async fn a_flaky_receiver_still_gets_every_event() -> anyhow::Result<()> {
    let s = scenario(
        &[
            ("DELIVERY_MAX_ATTEMPTS", "12"),
            ("DELIVERY_BACKOFF_BASE_MS", "10"),
            ("DELIVERY_BACKOFF_MAX_MS", "100"),
            ("MAX_PARALLEL_SLICES", "4"),
            ("SLICE_SECONDS", "1800"),
            ("DELIVERY_CONCURRENCY", "8"),
        ],
        1_500,
        2,
    )
    .await?;
    // Four slices at once against a receiver taking 100-400 ms, failing a
    // third of its requests, dropping one in twenty connections.
    s.receiver.set_faults(Faults {
        delay: Duration::from_millis(100),
        delay_max: Duration::from_millis(400),
        status_500: 0.20,
        status_429: 0.05,
        retry_after_s: 1,
        drop_connection: 0.05,
        ..Faults::default()
    });
    let job = s.start().await?;
    let view = s.wait_for_end(&job, Duration::from_secs(180)).await?;
    assert_eq!(view.state, JobState::Completed, "{view:?}");
    let stats = s.receiver.stats("me");
    assert!(stats.faults_injected > 300, "faults were injected: {}", stats.faults_injected);
    assert!(stats.dropped_connections > 50, "connections were dropped: {}", stats.dropped_connections);
    assert_eq!(s.received(), s.expected, "every event, as seen by deduping on webhook-id");
    let p = &view.progress.counters;
    assert_eq!(p.events_delivered, s.expected.len() as u64);
    assert_eq!(p.delivery_failures, 0);
    assert!(p.adds_up(), "{p:?}");
    s.stack.cleanup().await;
    Ok(())
}

#[tokio::test]
async fn a_receiver_down_for_the_whole_job_ends_it_incomplete_with_every_event_failed() -> anyhow::Result<()> {
    let s = scenario(
        &[
            ("DELIVERY_MAX_ATTEMPTS", "2"),
            ("DELIVERY_BACKOFF_BASE_MS", "10"),
            ("DELIVERY_BACKOFF_MAX_MS", "20"),
            ("CIRCUIT_BREAK_AFTER", "5"),
            ("CIRCUIT_PAUSE_MS", "1000"),
            ("CIRCUIT_MAX_PAUSES", "2"),
            ("MAX_PARALLEL_SLICES", "2"),
        ],
        400,
        2,
    )
    .await?;
    // Down, and slow to say so.
    s.receiver.set_faults(Faults { down: true, delay: Duration::from_millis(200), ..Faults::default() });
    let started = Instant::now();
    let job = s.start().await?;
    let view = s.wait_for_end(&job, Duration::from_secs(90)).await?;
    assert_eq!(view.state, JobState::Incomplete, "{view:?}");
    let p = &view.progress.counters;
    assert_eq!(p.events_delivered, 0);
    assert_eq!(p.delivery_failures, s.expected.len() as u64, "every event accounted for as failed");
    let failed: HashSet<String> = s.stack.store.failures(&job).await?.into_iter().map(|f| f.event_id).collect();
    assert_eq!(failed, s.expected, "each failure recorded with its event id");
    let requests = s.receiver.stats("me").requests;
    // Without the circuit: every event, each tried DELIVERY_MAX_ATTEMPTS times.
    assert!(requests < s.expected.len() as u64, "the circuit stopped the retries: {requests} requests");
    assert!(started.elapsed() < Duration::from_secs(60), "bounded time: {:?}", started.elapsed());
    s.stack.cleanup().await;
    Ok(())
}

#[tokio::test]
async fn cancel_stops_deliveries_within_a_batch() -> anyhow::Result<()> {
    let s = scenario(
        &[
            ("CHECKPOINT_EVERY_EVENTS", "40"),
            ("HEARTBEAT_EVERY_MS", "200"),
            ("DELIVERY_CONCURRENCY", "2"),
            ("MAX_PARALLEL_SLICES", "2"),
        ],
        2_000,
        4,
    )
    .await?;
    s.receiver.set_faults(Faults {
        delay: Duration::from_millis(100),
        delay_max: Duration::from_millis(300),
        ..Faults::default()
    });
    let job = s.start().await?;
    eventually(Duration::from_secs(60), "200 deliveries", async || s.receiver.unique("me") >= 200).await?;
    let view = s.api.cancel(&job).await?;
    assert_eq!(view.state, JobState::Cancelled);
    let at_ack = s.receiver.unique("me");
    let view = s.wait_for_end(&job, Duration::from_secs(60)).await?;
    assert_eq!(view.state, JobState::Cancelled);
    eventually(Duration::from_secs(30), "the status event", async || !s.receiver.stats("me").status_events.is_empty())
        .await?;
    let after = s.receiver.unique("me") - at_ack;
    // Each running slice finishes the batch it is in (at most 40 records).
    assert!(after <= 2 * 40, "{after} deliveries after the cancel was acknowledged");
    assert!(s.receiver.unique("me") < s.expected.len());
    let status = &s.receiver.stats("me").status_events[0].replay_job_status;
    assert_eq!(status.job_state, StatusWord::Cancelled);
    s.stack.cleanup().await;
    Ok(())
}

#[tokio::test]
async fn mysql_connections_killed_mid_replay_lose_nothing() -> anyhow::Result<()> {
    let s = scenario(
        &[("HEARTBEAT_EVERY_MS", "20"), ("CHECKPOINT_EVERY_EVENTS", "100"), ("MAX_PARALLEL_SLICES", "2")],
        2_000,
        2,
    )
    .await?;
    s.receiver.set_faults(Faults {
        delay: Duration::from_millis(20),
        delay_max: Duration::from_millis(100),
        ..Faults::default()
    });
    let job = s.start().await?;
    let admin = sqlx::MySqlPool::connect(&std::env::var("DATABASE_URL")?).await?;
    let mut kills = 0;
    while kills < 5 && s.received().len() < s.expected.len() {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let ids: Vec<u64> = sqlx::query_scalar("SELECT ID FROM information_schema.PROCESSLIST WHERE DB = ?")
            .bind(&s.stack.database)
            .fetch_all(&admin)
            .await
            .unwrap_or_default();
        for id in ids {
            let _ = sqlx::query(&format!("KILL CONNECTION {id}")).execute(&admin).await;
        }
        kills += 1;
    }
    let view = s.wait_for_end(&job, Duration::from_secs(120)).await?;
    assert!(kills >= 1);
    assert_eq!(view.state, JobState::Completed, "{view:?}");
    assert_eq!(s.received(), s.expected, "nothing lost");
    s.stack.cleanup().await;
    Ok(())
}
