//! The conditions users have: receivers that take hundreds of ms and answer
//! 429, logs written by producers whose clocks disagree (and one that is
//! broken), large payloads, event ids that cannot be headers, a topic that
//! gains partitions. Several slices of a job run at once in every test.

use replay_core::domain::partitioner::partition_for_key;
use replay_core::services::api::create_tenant;
use replay_integration_tests::replay_client::JobState;
use replay_integration_tests::replay_lab::receiver::{Faults, Receiver};
use replay_integration_tests::replay_lab::seed::{event_value, SeedKind, SeedRecord};
use replay_integration_tests::replay_lab::setup::add_partitions;
use replay_integration_tests::replay_lab::stack::{log_lines, processes};
use replay_integration_tests::scenario::scenario;
use replay_integration_tests::*;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// Restarts the sweeper made and slices it failed, from its log.
async fn sweeper_restarts(s: &TestStack) -> anyhow::Result<usize> {
    Ok(log_lines(&s.env, &s.deployed().sweeper_log_group_name, "restarted stale slice").await?.len()
        + log_lines(&s.env, &s.deployed().sweeper_log_group_name, "giving up on it").await?.len())
}

async fn slow_receiver(with_429: bool) -> anyhow::Result<()> {
    // Leases of 3 s; a checkpoint interval of 500 events or 60 s takes far
    // longer than that at these speeds: the lease must be kept while delivering.
    let s = scenario(
        &[
            ("LEASE_TTL_MS", "3000"),
            ("HEARTBEAT_EVERY_MS", "500"),
            ("STALE_AFTER_MS", "6000"),
            ("CHECKPOINT_EVERY_EVENTS", "500"),
            ("CHECKPOINT_EVERY_MS", "60000"),
            ("DELIVERY_CONCURRENCY", "8"),
            ("MAX_PARALLEL_SLICES", "4"),
            ("SLICE_SECONDS", "900"),
            ("DELIVERY_MAX_ATTEMPTS", "10"),
            ("DELIVERY_TIMEOUT_MS", "5000"),
        ],
        if with_429 { 480 } else { 720 },
        1,
    )
    .await?;
    s.receiver.set_faults(Faults {
        delay: Duration::from_millis(500),
        delay_max: Duration::from_millis(1000),
        status_429: if with_429 { 0.2 } else { 0.0 },
        retry_after_s: 5,
        ..Faults::default()
    });
    let started = Instant::now();
    let job = s.start().await?;
    let view = s.wait_for_end(&job, Duration::from_secs(240)).await?;
    let elapsed = started.elapsed();
    eventually(Duration::from_secs(30), "the status event", async || !s.receiver.stats("me").status_events.is_empty())
        .await?;
    let stats = s.receiver.stats("me");
    println!(
        "slow receiver (500-1000 ms{}): {} events, {} repeats, {:.1} s, {} requests in flight at most, {} faults",
        if with_429 { ", 20% 429 Retry-After: 5" } else { "" },
        s.expected.len(),
        stats.repeats(),
        elapsed.as_secs_f64(),
        stats.max_in_flight,
        stats.faults_injected
    );
    assert_eq!(view.state, JobState::Completed, "{view:?}");
    assert_eq!(s.received(), s.expected, "zero events lost");
    assert_eq!(stats.repeats(), 0, "zero repeats: no lease was taken over");
    assert_eq!(stats.after_status.get(job.as_str()).copied().unwrap_or(0), 0, "nothing after the status event");
    assert_eq!(stats.status_events.len(), 1);
    assert_eq!(sweeper_restarts(&s.stack).await?, 0, "no live slice was restarted or failed");
    assert!(stats.max_in_flight > 8, "slices ran in parallel: {} in flight", stats.max_in_flight);
    assert!(stats.max_in_flight <= 4 * 8, "the job's cap holds: {}", stats.max_in_flight);
    if with_429 {
        assert!(stats.faults_injected > 40, "{} 429s", stats.faults_injected);
    }
    s.stack.cleanup().await;
    Ok(())
}

#[tokio::test]
async fn a_receiver_taking_up_to_a_second_gets_every_event_once() -> anyhow::Result<()> {
    Box::pin(slow_receiver(false)).await
}

#[tokio::test]
async fn a_slow_receiver_answering_429_to_a_fifth_gets_every_event_once() -> anyhow::Result<()> {
    Box::pin(slow_receiver(true)).await
}

#[tokio::test]
async fn three_producers_with_skewed_clocks_and_one_broken_give_exactly_the_windows_events() -> anyhow::Result<()> {
    let mut stack = TestStack::new(2).await?;
    stack.set("CLOCK_SKEW_MS", "6000").set("SLICE_SECONDS", "900").set("MAX_PARALLEL_SLICES", "4");
    stack.deploy().await?;
    let receiver = Receiver::start(0).await?;
    receiver.set_faults(Faults {
        delay: Duration::from_millis(1),
        delay_max: Duration::from_millis(8),
        ..Faults::default()
    });
    let tenant = create_tenant(&stack.store, PEPPER, "acme").await?;
    let api = stack.api(&tenant.api_key);
    let me = webhook_to(&api, &receiver, "me").await?;

    // An hour of true time, written by three producers 0, 2 and 5 s behind, in
    // the order the broker received them; some events logged by two of them
    // (a second data centre) a few seconds apart.
    let from = (now_ms() - 5 * HOUR) / HOUR * HOUR;
    let to = from + HOUR;
    let lag = [0i64, 2_000, 5_000];
    let mut records = Vec::new();
    let mut first_ts: HashMap<String, i64> = HashMap::new();
    for i in 0..3_000i64 {
        let truth = from - 10 * 60_000 + i * 1_400;
        let producer = (i % 3) as usize;
        let id = format!("ev-{i}");
        let ts = truth - lag[producer];
        records.push(SeedRecord {
            timestamp: ts,
            webhook_id: me.to_string(),
            event_id: id.clone(),
            kind: SeedKind::Event,
            value: event_value(&id, me.as_str(), ts, "x"),
        });
        first_ts.entry(id.clone()).or_insert(ts);
        if i % 7 == 0 {
            // The copy from another data centre, whose clock is 3 s behind, 2 s later.
            let copy_ts = truth + 2_000 - 3_000;
            records.push(SeedRecord {
                timestamp: copy_ts,
                webhook_id: me.to_string(),
                event_id: id.clone(),
                kind: SeedKind::Duplicate,
                value: event_value(&id, me.as_str(), copy_ts, "x"),
            });
            let t = first_ts.get_mut(&id).expect("seen");
            *t = (*t).min(copy_ts);
        }
        if i == 1_000 {
            // A producer whose clock is two hours ahead.
            let future = truth + 2 * HOUR;
            records.push(SeedRecord {
                timestamp: future,
                webhook_id: me.to_string(),
                event_id: "from-the-future".into(),
                kind: SeedKind::Event,
                value: event_value("from-the-future", me.as_str(), future, "x"),
            });
        }
    }
    // The broker's order: by true time, not by timestamp.
    stack.produce(&records).await?;
    let expected: HashSet<String> =
        first_ts.iter().filter(|(_, ts)| (from..to).contains(*ts)).map(|(id, _)| id.clone()).collect();

    let job_id = start(&api, &me, from, to).await?;
    let done = stack.wait_for_end(&api, &job_id, Duration::from_secs(120)).await?;
    assert_eq!(done.state, JobState::Completed, "{done:?}");
    let stats = receiver.stats("me");
    let got = stats.received();
    assert_eq!(got.difference(&expected).collect::<Vec<_>>(), Vec::<&String>::new(), "nothing from outside the window");
    assert_eq!(expected.difference(&got).collect::<Vec<_>>(), Vec::<&String>::new(), "nothing of the window missing");
    assert_eq!(stats.repeats(), 0, "each once, across four slices at once");
    let p = &done.progress.counters;
    assert_eq!(p.clock_anomalies, 1, "the broken clock was noticed: {p:?}");
    assert_eq!(p.events_delivered, expected.len() as u64);
    stack.cleanup().await;
    Ok(())
}

#[tokio::test]
async fn large_payloads_and_bad_event_ids_are_bounded_and_set_aside() -> anyhow::Result<()> {
    let mut stack = TestStack::new(1).await?;
    // The smallest worker the template allows for it; the executor kills a
    // process whose memory passes it.
    stack.parameter("WorkerMemorySize", "256").set("SLICE_SECONDS", "1800");
    stack.deploy().await?;
    let receiver = Receiver::start(0).await?;
    let tenant = create_tenant(&stack.store, PEPPER, "acme").await?;
    let api = stack.api(&tenant.api_key);
    let me = webhook_to(&api, &receiver, "me").await?;
    let from = (now_ms() - 5 * HOUR) / HOUR * HOUR;
    let big = "x".repeat(150_000);
    let mut records = Vec::new();
    let mut expected = HashSet::new();
    for i in 0..1_200i64 {
        let ts = from + i * 5_000;
        let (id, kind) = match i % 100 {
            7 => (format!("bad\nid-{i}"), SeedKind::Malformed),
            8 => (format!("{i}-{}", "é"), SeedKind::Malformed),
            _ => (format!("ev-{i}"), SeedKind::Event),
        };
        if kind == SeedKind::Event {
            expected.insert(id.clone());
        }
        records.push(SeedRecord {
            timestamp: ts,
            webhook_id: me.to_string(),
            value: event_value(&id, me.as_str(), ts, &big),
            event_id: id,
            kind,
        });
    }
    stack.produce(&records).await?;
    let job_id = start(&api, &me, from, from + 2 * HOUR).await?;
    let done = stack.wait_for_end(&api, &job_id, Duration::from_secs(180)).await?;
    // Events whose ids cannot be headers were not delivered: the job says so
    // (records that do not parse would not change the final state).
    assert_eq!(done.state, JobState::Incomplete, "{done:?}");
    let reason = done.state_reason.clone().unwrap_or_default();
    assert!(reason.contains("24 event(s) had an event_id that cannot be a webhook-id header"), "{reason}");
    let p = &done.progress.counters;
    assert_eq!(p.malformed, 24, "ids that cannot be headers are set aside, not a dead receiver: {p:?}");
    assert_eq!(p.unusable_ids, 24, "{p:?}");
    assert_eq!(p.delivery_failures, 0);
    assert_eq!(receiver.stats("me").received(), expected);
    // 180 MB of payloads went through workers of 256 MB.
    let peak = processes(&stack.env, &stack.deployed().worker_function_name)
        .await?
        .iter()
        .filter_map(|p| p.last_report["max_memory_mb"].as_f64())
        .fold(0.0, f64::max);
    println!("large payloads: 1,200 records of 150 kB, worker peak {peak:.0} MB of 256");
    assert!(peak > 0.0 && peak < 256.0, "{peak} MB");
    stack.cleanup().await;
    Ok(())
}

#[tokio::test]
async fn a_window_across_a_partition_change_reads_the_old_and_the_new_partition() -> anyhow::Result<()> {
    let mut stack = TestStack::new(2).await?;
    stack.set("SETTLE_SECONDS", "8").set("CLOCK_SKEW_MS", "1000").set("PARTITION_CHANGE_MARGIN_MS", "60000");
    stack.deploy().await?;
    let receiver = Receiver::start(0).await?;
    let tenant = create_tenant(&stack.store, PEPPER, "acme").await?;
    let api = stack.api(&tenant.api_key);
    // A webhook whose key moves when the topic goes from 2 to 5 partitions.
    let me = loop {
        let id = webhook_to(&api, &receiver, "me").await?;
        if partition_for_key(id.as_str().as_bytes(), 2) != partition_for_key(id.as_str().as_bytes(), 5) {
            break id;
        }
    };
    let rec = |ts: i64, id: &str| SeedRecord {
        timestamp: ts,
        webhook_id: me.to_string(),
        event_id: id.to_owned(),
        kind: SeedKind::Event,
        value: event_value(id, me.as_str(), ts, "x"),
    };
    let start = now_ms();
    let before: Vec<_> = (0..50).map(|i| rec(start - 30_000 + i * 100, &format!("old-{i}"))).collect();
    stack.produce(&before).await?;
    stack.sweep().await?; // records the count the platform writes with: 2
    add_partitions(&stack.kafka, 5).await?;
    stack.sweep().await?; // sees 5
    let now = now_ms();
    let mut after: Vec<_> = (0..50).map(|i| rec(now + i * 100, &format!("new-{i}"))).collect();
    // A retry of an old event, logged after the change: on the new partition.
    after.push(rec(now + 5_100, "old-49"));
    stack.produce(&after).await?;
    let to = now + 6_000;
    tokio::time::sleep(Duration::from_millis((to + 9_000 - now_ms()).max(0) as u64)).await;
    let job_id = replay_integration_tests::start(&api, &me, start - 60_000, to).await?;
    let done = stack.wait_for_end(&api, &job_id, Duration::from_secs(60)).await?;
    assert_eq!(done.state, JobState::Completed, "{done:?}");
    let stats = receiver.stats("me");
    assert_eq!(stats.unique(), 100, "both partitions were read");
    assert_eq!(stats.repeats(), 0);
    assert_eq!(done.progress.counters.duplicates_skipped, 1, "the copy across the change is caught");
    stack.cleanup().await;
    Ok(())
}
