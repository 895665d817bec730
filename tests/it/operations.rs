//! Running it for years (docs/operations.md): messages and checkpoints of
//! another release during a deploy, ended jobs ageing out, and the DLQ
//! redriven after a fix. Each "deploy" is a real update of the test's stack.

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use replay_core::domain::dedup::event_hash;
use replay_core::services::api::create_tenant;
use replay_core::services::slice::checkpoint_key;
use replay_integration_tests::replay_client::{JobId, JobState};
use replay_integration_tests::replay_lab::receiver::{Faults, Receiver};
use replay_integration_tests::replay_lab::seed::SeedKind;
use replay_integration_tests::replay_lab::stack::log_lines;
use replay_integration_tests::scenario::scenario;
use replay_integration_tests::*;
use serde_json::Value;
use std::collections::HashSet;
use std::time::Duration;

fn is_active(state: JobState) -> bool {
    matches!(state, JobState::Open | JobState::Started | JobState::Ongoing)
}

#[tokio::test]
async fn a_message_of_a_newer_format_waits_for_a_worker_that_reads_it() -> anyhow::Result<()> {
    // The API (and everything else) already writes version 3: a newer
    // release's API went out first; the workers still read up to version 2.
    let mut s =
        scenario(&[("FAILPOINTS", "task_version_written=return(3)"), ("HANDBACK_DELAY_SECONDS", "2")], 150, 1).await?;
    let job = s.start().await?;
    let group = s.stack.deployed().worker_log_group_name.clone();
    eventually(Duration::from_secs(60), "hand-backs", async || {
        log_lines(&s.stack.env, &group, "handed back to the queue").await.is_ok_and(|l| l.len() >= 3)
    })
    .await?;
    assert!(s.received().is_empty(), "an old worker misread a newer message");
    let waiting = s.job(&job).await?;
    assert!(is_active(waiting.state), "handed back, not failed: {waiting:?}");
    let (visible, in_flight) = s.stack.queue_depth(&s.stack.deployed().slice_dead_letter_queue_url).await?;
    assert_eq!(visible + in_flight, 0, "nothing went to the DLQ");

    // The newer release's workers are deployed: they read version 3.
    s.stack.set("FAILPOINTS", "task_version_written=return(3);task_version_read=return(3)");
    s.stack.deploy().await?;
    let done = s.wait_for_end(&job, Duration::from_secs(120)).await?;
    assert_eq!(done.state, JobState::Completed, "{done:?}");
    assert_eq!(s.received(), s.expected, "every event, once the new workers took the messages");
    assert_eq!(s.receiver.stats("me").repeats(), 0);
    s.stack.cleanup().await;
    Ok(())
}

#[tokio::test]
async fn a_version_1_checkpoint_resumes_with_nothing_lost_or_repeated() -> anyhow::Result<()> {
    // Slices wait in the queue (the event source off) while the test plays
    // the previous release: its worker delivered the first 60 events and
    // saved a format 1 checkpoint (one partition, its dedup set).
    let mut stack = TestStack::new(1).await?;
    stack.parameter("SliceProcessingEnabled", "false");
    stack.deploy().await?;
    let tenant = create_tenant(&stack.store, PEPPER, "acme").await?;
    let api = stack.api(&tenant.api_key);
    let receiver = Receiver::start(0).await?;
    receiver.set_faults(Faults {
        delay: Duration::from_millis(100),
        delay_max: Duration::from_millis(300),
        ..Faults::default()
    });
    let me = webhook_to(&api, &receiver, "me").await?;
    let from = (now_ms() - 4 * HOUR) / HOUR * HOUR;
    let at = |i: i64| from + 1_000 + i * 5_000;
    let delivered_before: Vec<_> =
        (0..60).map(|i| record(at(i), me.as_str(), &format!("ev-{i}"), SeedKind::Event)).collect();
    // Produced first, alone: offsets 0-59 of the topic's one partition.
    stack.produce(&delivered_before).await?;
    let mut rest: Vec<_> = (60..150).map(|i| record(at(i), me.as_str(), &format!("ev-{i}"), SeedKind::Event)).collect();
    // A copy of an event the old worker delivered: its dedup set must catch it.
    rest.insert(1, record(at(60), me.as_str(), "ev-5", SeedKind::Event));
    stack.produce(&rest).await?;
    let job = start(&api, &me, from, from + HOUR).await?;

    let mut dedup_ids = Vec::new();
    for (i, r) in delivered_before.iter().enumerate() {
        dedup_ids.extend_from_slice(&event_hash(&r.event_id).to_le_bytes());
        dedup_ids.extend_from_slice(&at(i as i64).to_le_bytes());
    }
    let n = |v: i64| AttributeValue::N(v.to_string());
    let expires_at = now_ms() / 1_000 + 3_600;
    let job_id = replay_core::domain::ids::JobId::from(job.as_str());
    stack
        .ddb
        .put_item()
        .table_name(&stack.table)
        .item("pk", AttributeValue::S(checkpoint_key(&job_id, 0)))
        .item("lookback_offset", n(0))
        .item("start_offset", n(0))
        .item("next_offset", n(60))
        .item("end_offset", n(151))
        .item("dedup_ids", AttributeValue::B(Blob::new(dedup_ids)))
        .item("c_scanned", n(60))
        .item("c_matched", n(60))
        .item("c_delivered", n(60))
        .item("lease_owner", AttributeValue::S("previous-release".into()))
        .item("lease_token", n(1))
        .item("lease_expires", n(0))
        .item("expires_at", n(expires_at))
        .send()
        .await?;

    // The new release's worker takes the slice.
    stack.parameter("SliceProcessingEnabled", "true");
    stack.deploy().await?;
    let done = stack.wait_for_end(&api, &job, Duration::from_secs(120)).await?;
    assert_eq!(done.state, JobState::Completed, "{done:?}");
    let stats = receiver.stats("me");
    let rest_ids: HashSet<String> = (60..150).map(|i| format!("ev-{i}")).collect();
    assert_eq!(stats.received(), rest_ids, "the events after the old checkpoint, and none before it");
    assert_eq!(stats.repeats(), 0);
    assert_eq!(done.progress.counters.events_delivered, 150, "the old checkpoint's 60 and the new worker's 90");
    assert_eq!(done.progress.counters.duplicates_skipped, 1, "ev-5's copy, caught by the format 1 dedup set");
    let item = stack
        .ddb
        .get_item()
        .table_name(&stack.table)
        .key("pk", AttributeValue::S(checkpoint_key(&job_id, 0)))
        .send()
        .await?
        .item
        .unwrap_or_default();
    assert_eq!(item.get("fmt"), Some(&n(2)), "written back in the current format");
    assert!(!item.contains_key("dedup_ids"), "the old format's attributes are gone");
    stack.cleanup().await;
    Ok(())
}

#[tokio::test]
async fn ended_jobs_are_purged_in_batches_and_a_running_job_never() -> anyhow::Result<()> {
    let mut stack = TestStack::new(2).await?;
    stack.set("PURGE_BATCH_JOBS", "2").set("PURGE_MAX_BATCHES", "2");
    stack.deploy().await?;
    let tenant = create_tenant(&stack.store, PEPPER, "acme").await?;
    let api = stack.api(&tenant.api_key);
    let receiver = Receiver::start(0).await?;
    let from = (now_ms() - 4 * HOUR) / HOUR * HOUR;
    let to = from + HOUR;

    // Five jobs that end, the first with an idempotency key.
    let mut old = Vec::new();
    for j in 0..5 {
        let hook = webhook_to(&api, &receiver, &format!("old{j}")).await?;
        let records: Vec<_> =
            (0..5).map(|i| record(from + i * 60_000, hook.as_str(), &format!("old{j}-{i}"), SeedKind::Event)).collect();
        stack.produce(&records).await?;
        let id = if j == 0 {
            api.start_replay_with_key(&hook, &window(from, to), "the-same-key").await?.job_id
        } else {
            start(&api, &hook, from, to).await?
        };
        old.push((hook, id));
    }
    for (_, id) in &old {
        let done = stack.wait_for_end(&api, id, Duration::from_secs(60)).await?;
        assert_eq!(done.state, JobState::Completed, "{done:?}");
    }

    // One job that runs through the purges, against a slow receiver.
    let slow = Receiver::start(0).await?;
    slow.set_faults(Faults {
        delay: Duration::from_millis(300),
        delay_max: Duration::from_millis(600),
        ..Faults::default()
    });
    let busy = webhook_to(&api, &slow, "busy").await?;
    let records: Vec<_> =
        (0..400).map(|i| record(from + i * 5_000, busy.as_str(), &format!("busy-{i}"), SeedKind::Event)).collect();
    stack.produce(&records).await?;
    let running = start(&api, &busy, from, to).await?;
    eventually(Duration::from_secs(60), "the busy job delivering", async || slow.unique("busy") > 0).await?;

    // Everything looks 31 days old: only the states tell the jobs apart.
    let age_all = async || {
        sqlx::query("UPDATE replay_jobs SET updated_at = UTC_TIMESTAMP(3) - INTERVAL 31 DAY")
            .execute(stack.store.pool())
            .await
    };
    age_all().await?;
    let purged = |report: &Value| report["jobs_purged"].as_u64();
    assert_eq!(purged(&stack.sweep().await?), Some(4), "two batches of two, the sweep's share");
    age_all().await?;
    assert_eq!(purged(&stack.sweep().await?), Some(1), "the fifth in the next sweep");
    age_all().await?;
    assert_eq!(purged(&stack.sweep().await?), Some(0), "the running job is never purged");

    for (_, id) in &old {
        let err = api.job(id).await.expect_err("a purged job");
        assert_eq!(err.status(), Some(404), "{err}");
        assert!(err.to_string().contains("not_found"), "{err}");
    }
    let ids: Vec<&str> = old.iter().map(|(_, id)| id.as_str()).collect();
    for table in ["replay_slices", "replay_failures", "replay_found_events"] {
        let placeholders = vec!["?"; ids.len()].join(",");
        let sql = format!("SELECT COUNT(*) FROM {table} WHERE job_id IN ({placeholders})");
        let mut q = sqlx::query_scalar::<_, i64>(&sql);
        for id in &ids {
            q = q.bind(*id);
        }
        assert_eq!(q.fetch_one(stack.store.pool()).await?, 0, "{table} rows of purged jobs");
    }
    // The purged job's idempotency key went with it: the same key starts a new job.
    let again = api.start_replay_with_key(&old[0].0, &window(from, to), "the-same-key").await?.job_id;
    assert_ne!(again, old[0].1, "a new job, not the purged one");

    let done = stack.wait_for_end(&api, &running, Duration::from_secs(180)).await?;
    assert_eq!(done.state, JobState::Completed, "{done:?}");
    assert_eq!(slow.stats("busy").unique(), 400, "the running job lost nothing to the purges");
    stack.cleanup().await;
    Ok(())
}

async fn replayctl_dlq(stack: &TestStack, command: &str) -> anyhow::Result<Value> {
    let out = tokio::process::Command::new(repo_root().join("target/debug/replayctl"))
        .args(["--json", "dlq", command, "--stack", &stack.deployed().stack_name])
        .output()
        .await?;
    anyhow::ensure!(out.status.success(), "replayctl dlq {command}: {}", String::from_utf8_lossy(&out.stderr));
    Ok(serde_json::from_slice(&out.stdout)?)
}

fn letters_of(report: &Value, job: &JobId) -> usize {
    report["dead_letters"]
        .as_array()
        .map(|l| l.iter().filter(|m| m["job_id"].as_str() == Some(job.as_str())).count())
        .unwrap_or(0)
}

#[tokio::test]
async fn a_poison_message_fixed_by_a_deploy_is_redriven_and_its_slice_completes() -> anyhow::Result<()> {
    // A release whose workers reject every slice (a bug), failing each
    // message twice, quickly, into the DLQ; no sweeper, so only the redrive
    // can bring the job back.
    let mut stack = TestStack::new(1).await?;
    stack
        .set("FAILPOINTS", "worker_rejects_slices=return")
        .parameter("SliceQueueVisibilityTimeoutSeconds", "2")
        .parameter("SliceMaxReceiveCount", "2");
    stack.deploy().await?;
    let tenant = create_tenant(&stack.store, PEPPER, "acme").await?;
    let api = stack.api(&tenant.api_key);
    let receiver = Receiver::start(0).await?;
    let me = webhook_to(&api, &receiver, "me").await?;
    let from = (now_ms() - 4 * HOUR) / HOUR * HOUR;
    let records: Vec<_> =
        (0..100).map(|i| record(from + i * 30_000, me.as_str(), &format!("ev-{i}"), SeedKind::Event)).collect();
    stack.produce(&records).await?;
    let job = start(&api, &me, from, from + HOUR).await?;

    let mut shown = Value::Null;
    eventually(Duration::from_secs(120), "the message in the DLQ", async || {
        shown = replayctl_dlq(&stack, "show").await.unwrap_or_default();
        letters_of(&shown, &job) >= 1
    })
    .await?;
    let letter = shown["dead_letters"].as_array().and_then(|l| l.first()).cloned().unwrap_or_default();
    assert_eq!(letter["task_type"], "replay_slice", "{letter}");
    assert_eq!(letter["slice_index"], 0, "{letter}");
    assert!(receiver.stats("me").received().is_empty());

    // The fix is deployed, then the DLQ redriven.
    stack.set("FAILPOINTS", "");
    stack.deploy().await?;
    let redriven = replayctl_dlq(&stack, "redrive").await?;
    assert!(letters_of(&redriven, &job) >= 1, "{redriven}");
    let done = stack.wait_for_end(&api, &job, Duration::from_secs(120)).await?;
    assert_eq!(done.state, JobState::Completed, "{done:?}");
    let expected: HashSet<String> = records.iter().map(|r| r.event_id.clone()).collect();
    assert_eq!(receiver.stats("me").received(), expected);
    assert_eq!(letters_of(&replayctl_dlq(&stack, "show").await?, &job), 0, "the DLQ is empty again");
    stack.cleanup().await;
    Ok(())
}
