//! A worker process killed mid-slice: the retried message resumes from the
//! DynamoDB checkpoint, nothing is lost, and only the work since the last
//! checkpoint is delivered again (with the same webhook-id).

use replay_core::services::api::create_tenant;
use replay_integration_tests::replayctl::client::ApiClient;
use replay_integration_tests::replayctl::local::WORKER;
use replay_integration_tests::replayctl::receiver::{Faults, Receiver};
use replay_integration_tests::replayctl::seed::SeedKind;
use replay_integration_tests::*;
use std::time::{Duration, Instant};

#[tokio::test]
async fn killed_worker_resumes_from_checkpoint() -> anyhow::Result<()> {
    let mut stack = TestStack::with_queue(2, 5, 10).await?;
    let interval = 200;
    stack.set("CHECKPOINT_EVERY_RECORDS", &interval.to_string());
    stack.set("CHECKPOINT_EVERY_MS", "60000");
    stack.set("LEASE_TTL_MS", "3000");
    stack.set("DELIVERY_CONCURRENCY", "4");
    stack.set("SLICE_SECONDS", "86400");
    let receiver = Receiver::start(0).await?;
    // Slow enough that the kill lands mid-slice.
    receiver.set_faults(Faults {
        delay: Duration::from_millis(2),
        ..Faults::default()
    });
    let runtime = start_runtime(&stack, 1, Duration::from_secs(8)).await?;
    let tenant = create_tenant(&stack.store, "test-pepper", "acme").await?;
    let api = ApiClient::new(&runtime.api_url, &tenant.api_key);
    let hook = api.create_webhook(&receiver.url("me")).await?;
    receiver.register("me", hook["secret"].as_str().unwrap_or_default());
    let me = hook["id"].as_str().unwrap_or_default().to_owned();

    let from = (now_ms() - 6 * HOUR) / HOUR * HOUR;
    let to = from + 2 * HOUR;
    let records: Vec<_> = (0..4_000)
        .map(|i| {
            let webhook = if i % 4 == 3 { "wh_other" } else { me.as_str() };
            record(
                from + i * 1_500,
                webhook,
                &format!("ev-{i}"),
                SeedKind::Event,
            )
        })
        .collect();
    stack.produce(&records).await?;
    let expected: std::collections::HashSet<String> = records
        .iter()
        .filter(|r| r.webhook_id == me)
        .map(|r| r.event_id.clone())
        .collect();

    let job = api.start_replay(&me, &rfc3339(from), &rfc3339(to)).await?;
    let job_id = job["job_id"].as_str().unwrap_or_default().to_owned();

    let started = Instant::now();
    while receiver.stats("me").unique() < 800 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "replay did not get going"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let pid = runtime.pids(WORKER)[0];
    runtime.signal(pid, "KILL").await?;
    let at_kill = receiver.stats("me").unique();
    assert!(at_kill < expected.len(), "the kill landed before the end");

    let done = api
        .wait_for_end(&job_id, Duration::from_secs(120), |_| {})
        .await?;
    assert_eq!(done["state"], "COMPLETED", "{done}");
    let stats = receiver.stats("me");
    let received: std::collections::HashSet<String> = stats
        .accepted
        .keys()
        .filter(|k| !k.starts_with("replay-job-"))
        .cloned()
        .collect();
    assert_eq!(received, expected, "nothing lost");
    // Resumed, not restarted: at most the records since the last checkpoint
    // (one interval plus one batch) came again.
    assert!(
        stats.repeats() <= 2 * interval,
        "redelivered {} after the kill at {at_kill}",
        stats.repeats()
    );
    assert!(
        runtime.pids(WORKER).first() != Some(&pid),
        "the worker process was restarted"
    );
    runtime.shutdown().await;
    stack.cleanup().await;
    Ok(())
}
