//! A worker process killed mid-slice: the retried message resumes from the
//! DynamoDB checkpoint, nothing is lost, and only the work since the last
//! checkpoint is delivered again (with the same webhook-id).

use replay_core::services::api::create_tenant;
use replay_integration_tests::replay_client::JobState;
use replay_integration_tests::replay_lab::receiver::{Faults, Receiver};
use replay_integration_tests::replay_lab::seed::SeedKind;
use replay_integration_tests::replay_lab::stack::signal;
use replay_integration_tests::*;
use std::time::{Duration, Instant};

#[tokio::test]
async fn killed_worker_resumes_from_checkpoint() -> anyhow::Result<()> {
    let mut stack = TestStack::new(2).await?;
    let interval = 200;
    stack
        .set("CHECKPOINT_EVERY_EVENTS", &interval.to_string())
        .set("CHECKPOINT_EVERY_MS", "60000")
        .set("LEASE_TTL_MS", "3000")
        .set("DELIVERY_CONCURRENCY", "16")
        .set("DELIVERY_WINDOW", "64")
        .set("MAX_PARALLEL_SLICES", "2")
        .set("SLICE_SECONDS", "3600")
        .parameter("SliceQueueVisibilityTimeoutSeconds", "5")
        .parameter("SliceMaxReceiveCount", "10");
    stack.deploy().await?;
    let _sweeping = stack.keep_sweeping(Duration::from_secs(2));
    let receiver = Receiver::start(0).await?;
    // Two slices at once, against a receiver taking 100-300 ms.
    receiver.set_faults(Faults {
        delay: Duration::from_millis(100),
        delay_max: Duration::from_millis(300),
        ..Faults::default()
    });
    let tenant = create_tenant(&stack.store, PEPPER, "acme").await?;
    let api = stack.api(&tenant.api_key);
    let me = webhook_to(&api, &receiver, "me").await?;

    let from = (now_ms() - 6 * HOUR) / HOUR * HOUR;
    let to = from + 2 * HOUR;
    let records: Vec<_> = (0..4_000)
        .map(|i| {
            let webhook = if i % 4 == 3 { "wh_other" } else { me.as_str() };
            record(from + i * 1_500, webhook, &format!("ev-{i}"), SeedKind::Event)
        })
        .collect();
    stack.produce(&records).await?;
    let expected: std::collections::HashSet<String> =
        records.iter().filter(|r| r.webhook_id == me.as_str()).map(|r| r.event_id.clone()).collect();

    let job_id = start(&api, &me, from, to).await?;

    let started = Instant::now();
    while receiver.stats("me").unique() < 800 {
        assert!(started.elapsed() < Duration::from_secs(60), "replay did not get going");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let pid = stack.worker_pids().await?[0];
    signal(pid, "KILL").await?;
    let at_kill = receiver.stats("me").unique();
    assert!(at_kill < expected.len(), "the kill landed before the end");

    let done = stack.wait_for_end(&api, &job_id, Duration::from_secs(120)).await?;
    assert_eq!(done.state, JobState::Completed, "{done:?}");
    let stats = receiver.stats("me");
    let received: std::collections::HashSet<String> =
        stats.accepted.keys().filter(|k| !k.starts_with("replay-job-")).cloned().collect();
    assert_eq!(received, expected, "nothing lost");
    // Resumed, not restarted: per slice the process held (two at most), at
    // most what was sent since its last checkpoint came again:
    // CHECKPOINT_EVERY_EVENTS + DELIVERY_WINDOW (docs/guarantees.md).
    let bound = 2 * (interval + 64);
    assert!(stats.repeats() <= bound, "redelivered {} after the kill at {at_kill}", stats.repeats());
    assert!(!stack.worker_pids().await?.contains(&pid), "the worker process was replaced");
    stack.cleanup().await;
    Ok(())
}

/// Issue 3, test 1: at least 10 kills at random points of a replay of 50k
/// matching events: nothing lost, and each kill repeats at most the events
/// since the last checkpoint (same webhook-id).
#[tokio::test]
async fn ten_kills_during_a_large_replay_lose_nothing() -> anyhow::Result<()> {
    use rand::Rng;
    let mut stack = TestStack::new(2).await?;
    let interval = 500u64;
    for (k, v) in [
        ("CHECKPOINT_EVERY_EVENTS", interval.to_string()),
        ("CHECKPOINT_EVERY_MS", "60000".to_string()),
        ("LEASE_TTL_MS", "2000".to_string()),
        ("SLICE_SECONDS", "3600".to_string()),
        ("MAX_PARALLEL_SLICES", "2".to_string()),
        ("DEADLINE_MARGIN_MS", "1000".to_string()),
        // A request starts only with its full timeout before the margin.
        ("DELIVERY_TIMEOUT_MS", "2000".to_string()),
        ("STALE_AFTER_MS", "5000".to_string()),
        ("MAX_SLICE_RESTARTS", "100".to_string()),
    ] {
        stack.set(k, &v);
    }
    // Five-second invocations: slices continue in new messages between kills.
    stack
        .parameter("WorkerTimeoutSeconds", "5")
        .parameter("SliceQueueVisibilityTimeoutSeconds", "5")
        .parameter("SliceMaxReceiveCount", "50");
    stack.deploy().await?;
    let _sweeping = stack.keep_sweeping(Duration::from_secs(2));
    let receiver = Receiver::start(0).await?;
    // Real, if short, latency: 50k events must fit in the test's time.
    receiver.set_faults(Faults {
        delay: Duration::from_millis(5),
        delay_max: Duration::from_millis(40),
        ..Faults::default()
    });
    let tenant = create_tenant(&stack.store, PEPPER, "acme").await?;
    let api = stack.api(&tenant.api_key);
    let me = webhook_to(&api, &receiver, "me").await?;

    let from = (now_ms() - 8 * HOUR) / HOUR * HOUR;
    let to = from + 4 * HOUR;
    let total = 60_000i64;
    let records: Vec<_> = (0..total)
        .map(|i| {
            let webhook = if i % 6 == 5 { "wh_other" } else { me.as_str() };
            record(from + i * (4 * HOUR / total), webhook, &format!("ev-{i}"), SeedKind::Event)
        })
        .collect();
    stack.produce(&records).await?;
    let expected: std::collections::HashSet<String> =
        records.iter().filter(|r| r.webhook_id == me.as_str()).map(|r| r.event_id.clone()).collect();
    assert!(expected.len() >= 50_000);

    let started = Instant::now();
    let job_id = start(&api, &me, from, to).await?;
    let mut kills = 0u64;
    while kills < 10 {
        let before = receiver.stats("me").unique();
        if before >= expected.len() {
            break;
        }
        // A random point: after another 1-3k deliveries.
        let step = rand::thread_rng().gen_range(1_000..3_000);
        let waited = Instant::now();
        while receiver.stats("me").unique() < (before + step).min(expected.len())
            && waited.elapsed() < Duration::from_secs(30)
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let pids = stack.worker_pids().await?;
        if let Some(&pid) = pids.get(rand::thread_rng().gen_range(0..pids.len().max(1))) {
            // The process may have ended on its own since it was listed (its
            // environment recycled): that is no kill, pick again.
            if signal(pid, "KILL").await.is_ok() {
                kills += 1;
            }
        }
    }
    let done = stack.wait_for_end(&api, &job_id, Duration::from_secs(300)).await?;
    let elapsed = started.elapsed();
    assert_eq!(done.state, JobState::Completed, "{done:?}");
    let stats = receiver.stats("me");
    let received: std::collections::HashSet<String> =
        stats.accepted.keys().filter(|k| !k.starts_with("replay-job-")).cloned().collect();
    let lost = expected.difference(&received).count();
    if lost > 0 {
        let mut missing: Vec<i64> =
            expected.difference(&received).filter_map(|id| id.trim_start_matches("ev-").parse().ok()).collect();
        missing.sort();
        eprintln!("missing (first 20): {:?}; job {:?}", &missing[..missing.len().min(20)], done.progress);
    }
    eprintln!(
        "ten kills: kills={kills} events={} lost={lost} repeats={} repeats_per_kill={:.0} elapsed={:.1}s",
        expected.len(),
        stats.repeats(),
        stats.repeats() as f64 / kills.max(1) as f64,
        elapsed.as_secs_f64()
    );
    assert!(kills >= 10, "only {kills} kills landed before the end");
    assert_eq!(lost, 0, "nothing lost");
    assert_eq!(received.len(), expected.len());
    // Per kill, per slice the process held: CHECKPOINT_EVERY_EVENTS + DELIVERY_WINDOW (256).
    assert!(stats.repeats() <= kills * 2 * (interval + 256), "{} repeats for {kills} kills", stats.repeats());
    stack.cleanup().await;
    Ok(())
}

/// Issue 3, test 6: a worker frozen (SIGSTOP) past its lease; the sweeper
/// restarts its slice on another instance; when the frozen worker resumes,
/// its fenced writes are rejected and it stops.
#[tokio::test]
async fn a_frozen_worker_is_fenced_out_when_it_wakes() -> anyhow::Result<()> {
    let mut stack = TestStack::new(1).await?;
    let interval = 100;
    for (k, v) in [
        ("CHECKPOINT_EVERY_EVENTS", "100"),
        ("LEASE_TTL_MS", "2000"),
        ("STALE_AFTER_MS", "3000"),
        ("SLICE_SECONDS", "86400"),
        ("HEARTBEAT_EVERY_MS", "200"),
        ("DELIVERY_CONCURRENCY", "16"),
    ] {
        stack.set(k, v);
    }
    // The frozen process must outlive the recovery (the executor kills it at its timeout).
    stack.parameter("WorkerTimeoutSeconds", "120").parameter("SliceQueueVisibilityTimeoutSeconds", "150");
    stack.deploy().await?;
    let receiver = Receiver::start(0).await?;
    receiver.set_faults(Faults {
        delay: Duration::from_millis(50),
        delay_max: Duration::from_millis(150),
        ..Faults::default()
    });
    let tenant = create_tenant(&stack.store, PEPPER, "acme").await?;
    let api = stack.api(&tenant.api_key);
    let me = webhook_to(&api, &receiver, "me").await?;
    let from = (now_ms() - 6 * HOUR) / HOUR * HOUR;
    let to = from + 2 * HOUR;
    let records: Vec<_> =
        (0..3_000).map(|i| record(from + i * 2_000, me.as_str(), &format!("ev-{i}"), SeedKind::Event)).collect();
    stack.produce(&records).await?;

    let job_id = start(&api, &me, from, to).await?;
    let started = Instant::now();
    while receiver.stats("me").unique() < 300 {
        assert!(started.elapsed() < Duration::from_secs(60), "replay did not get going");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let frozen = stack.worker_pids().await?[0];
    signal(frozen, "STOP").await?;
    let frozen_at = Instant::now();
    // The stale slice's new message goes to a new execution environment.
    let sweeping = stack.keep_sweeping(Duration::from_secs(1));
    let done = stack.wait_for_end(&api, &job_id, Duration::from_secs(90)).await?;
    drop(sweeping);
    let recovered_in = frozen_at.elapsed();
    assert_eq!(done.state, JobState::Completed, "{done:?}");
    let at_wake = receiver.stats("me");
    signal(frozen, "CONT").await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = receiver.stats("me");
    let late = after.requests - at_wake.requests;
    eprintln!("frozen worker: recovered in {:.1}s, {late} late requests after waking", recovered_in.as_secs_f64());
    assert!(late <= interval as u64, "the woken worker delivered {late} more");
    assert_eq!(after.unique(), 3_000, "nothing lost");
    let job_after = api.job(&job_id).await?;
    assert_eq!(job_after.progress, done.progress, "the woken worker's stale progress was fenced out");
    assert_eq!(job_after.state, JobState::Completed);
    stack.cleanup().await;
    Ok(())
}

/// The DynamoDB lease as the worker uses it, on DynamoDB Local: a released
/// lease stays released even when a renewal of the old holder lands after
/// the release (the keeper runs beside the slice until it returns), so the
/// continuation message that follows finds the slice free. In a CI run the
/// renewal won that race and the continuation skipped the slice as
/// "leased by another worker" until the sweeper restarted it.
#[tokio::test]
async fn a_released_lease_is_not_taken_back_by_a_late_renewal() -> anyhow::Result<()> {
    use replay_core::adapters::dynamo::DynamoCheckpoints;
    use replay_core::error::Error;
    use replay_core::ports::CheckpointStore;
    let stack = TestStack::new(1).await?;
    let leases = DynamoCheckpoints::new(stack.ddb.clone(), stack.table.clone(), Duration::from_secs(3_600));
    let key = "job_lease#0";
    let (lease, _) = leases.acquire(key, "invocation-1", 30_000).await?.expect("a new slice's lease is free");
    assert!(leases.acquire(key, "invocation-2", 30_000).await?.is_none(), "held for 30 s");
    leases.release(key, &lease).await?;
    let late = leases.renew(key, &lease, 30_000).await;
    assert!(matches!(late, Err(Error::LeaseLost)), "a renewal after the release: {late:?}");
    let (next, _) = leases.acquire(key, "invocation-2", 30_000).await?.expect("free for the continuation");
    assert!(next.token > lease.token, "a new fencing token: {} after {}", next.token, lease.token);
    stack.cleanup().await;
    Ok(())
}
