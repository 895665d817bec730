//! Fault injection against the real services (issue 3): duplicate messages,
//! a flaky receiver, a receiver that is down, cancel mid-replay, MySQL
//! connections killed mid-replay.

use replay_core::domain::job::JobState;
use replay_core::services::worker::handle_message;
use replay_integration_tests::replayctl::receiver::Faults;
use replay_integration_tests::scenario::scenario;
use std::collections::HashSet;
use std::time::{Duration, Instant};

#[tokio::test]
async fn the_same_slice_message_twice_at_once_runs_once() -> anyhow::Result<()> {
    let s = scenario(&[("SLICE_SECONDS", "7200")], 600, 1).await?;
    s.receiver.set_faults(Faults { delay: Duration::from_millis(2), ..Faults::default() });
    let job = s.start().await?;
    let out = s.stack.sqs.receive_message().queue_url(&s.stack.queue_url).wait_time_seconds(5).send().await?;
    let message = out.messages.unwrap_or_default().pop().expect("the slice message");
    let body = message.body.unwrap_or_default();
    let (w1, w2) = (s.stack.worker().await?, s.stack.worker().await?);
    let deadline = Instant::now() + Duration::from_secs(60);
    let (a, b) = tokio::join!(
        handle_message(&w1, &body, "worker-a", deadline),
        handle_message(&w2, &body, "worker-b", deadline)
    );
    a?;
    b?;
    let view = s.job(&job).await;
    assert_eq!(view.state, JobState::Completed);
    let stats = s.receiver.stats("me");
    assert_eq!(s.received(), s.expected);
    assert_eq!(stats.repeats(), 0, "one worker ran the slice");
    s.stack.cleanup().await;
    Ok(())
}

#[tokio::test]
async fn a_flaky_receiver_still_gets_every_event() -> anyhow::Result<()> {
    let s = scenario(
        &[("DELIVERY_MAX_ATTEMPTS", "12"), ("DELIVERY_BACKOFF_BASE_MS", "10"), ("DELIVERY_BACKOFF_MAX_MS", "100")],
        1_500,
        2,
    )
    .await?;
    s.receiver.set_faults(Faults {
        status_500: 0.20,
        status_429: 0.05,
        retry_after_s: 1,
        drop_connection: 0.02,
        ..Faults::default()
    });
    let job = s.start().await?;
    let view = s.run_until_ended(&job, Duration::from_secs(120)).await?;
    assert_eq!(view.state, JobState::Completed, "{view:?}");
    let stats = s.receiver.stats("me");
    assert!(stats.faults_injected > 300, "faults were injected: {}", stats.faults_injected);
    assert_eq!(s.received(), s.expected, "every event, as seen by deduping on webhook-id");
    let c = view.progress.counters;
    assert_eq!(c.events_delivered as usize, s.expected.len());
    assert_eq!(c.delivery_failures, 0);
    assert_eq!(c.events_matched, c.events_delivered + c.duplicates_skipped + c.delivery_failures);
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
        ],
        400,
        2,
    )
    .await?;
    s.receiver.set_faults(Faults { down: true, ..Faults::default() });
    let started = Instant::now();
    let job = s.start().await?;
    let view = s.run_until_ended(&job, Duration::from_secs(60)).await?;
    assert_eq!(view.state, JobState::Incomplete, "{view:?}");
    let c = view.progress.counters;
    assert_eq!(c.events_delivered, 0);
    assert_eq!(c.delivery_failures as usize, s.expected.len(), "every event accounted for as failed");
    let failed: HashSet<String> = s.stack.store.failures(&job).await?.into_iter().map(|f| f.event_id).collect();
    assert_eq!(failed, s.expected, "each failure recorded with its event id");
    let requests = s.receiver.stats("me").requests;
    // Without the circuit: every event, each tried DELIVERY_MAX_ATTEMPTS times.
    assert!(requests < s.expected.len() as u64, "the circuit stopped the retries: {requests} requests");
    assert!(started.elapsed() < Duration::from_secs(45), "bounded time: {:?}", started.elapsed());
    s.stack.cleanup().await;
    Ok(())
}

#[tokio::test]
async fn cancel_stops_deliveries_within_a_batch() -> anyhow::Result<()> {
    let s = scenario(
        &[
            ("CHECKPOINT_EVERY_EVENTS", "40"),
            ("HEARTBEAT_EVERY_MS", "0"),
            ("DELIVERY_CONCURRENCY", "2"),
            ("MAX_PARALLEL_SLICES", "2"),
        ],
        2_000,
        4,
    )
    .await?;
    s.receiver.set_faults(Faults { delay: Duration::from_millis(3), ..Faults::default() });
    let job = s.start().await?;
    let cancel = async {
        while s.receiver.stats("me").unique() < 200 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let view = s.api.cancel_job(&s.tenant, &job).await.expect("cancel");
        assert_eq!(view.state, JobState::Cancelled);
        s.receiver.stats("me").unique()
    };
    let (at_ack, ended) = tokio::join!(cancel, s.run_until_ended(&job, Duration::from_secs(120)));
    let view = ended?;
    assert_eq!(view.state, JobState::Cancelled);
    let after = s.receiver.stats("me").unique() - at_ack;
    // Each running slice finishes the batch it is in (at most 40 records).
    assert!(after <= 2 * 40, "{after} deliveries after the cancel was acknowledged");
    assert!(s.receiver.stats("me").unique() < s.expected.len());
    let wait = Instant::now();
    while s.receiver.stats("me").status_events.is_empty() && wait.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let status = &s.receiver.stats("me").status_events[0]["replay_job_status"];
    assert_eq!(status["job_state"], "Cancelled");
    s.stack.cleanup().await;
    Ok(())
}

#[tokio::test]
async fn mysql_connections_killed_mid_replay_lose_nothing() -> anyhow::Result<()> {
    let s = scenario(&[("HEARTBEAT_EVERY_MS", "20"), ("CHECKPOINT_EVERY_EVENTS", "100")], 2_000, 2).await?;
    s.receiver.set_faults(Faults { delay: Duration::from_millis(1), ..Faults::default() });
    let job = s.start().await?;
    let killer = async {
        let mut kills = 0;
        let admin =
            sqlx::MySqlPool::connect(&std::env::var("DATABASE_URL").expect("DATABASE_URL")).await.expect("admin pool");
        while kills < 5 && !s.job(&job).await.state.is_terminal() {
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
        kills
    };
    let (kills, ended) = tokio::join!(killer, s.run_until_ended(&job, Duration::from_secs(120)));
    let view = ended?;
    assert!(kills >= 1);
    assert_eq!(view.state, JobState::Completed, "{view:?}");
    assert_eq!(s.received(), s.expected, "nothing lost");
    s.stack.cleanup().await;
    Ok(())
}
