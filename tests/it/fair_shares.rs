//! Fair shares between tenants (docs/security.md, "Fair shares"): the next
//! slice is chosen in MySQL round-robin across tenants, each tenant's
//! running slices, active jobs and API requests are capped, and a noisy
//! tenant cannot starve a quiet one.

use replay_core::domain::task::QueueTask;
use replay_core::ports::ledger::Take;
use replay_core::services::api::create_tenant;
use replay_integration_tests::replay_client::{ErrorCode, JobState};
use replay_integration_tests::*;
use replay_lab::receiver::{Faults, Receiver};
use replay_lab::seed::SeedKind;
use reqwest::Method;
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The chooser itself, on the real database: slices are claimed through the
/// API (no worker consumes them), then taken one by one.
#[tokio::test]
async fn slices_are_taken_round_robin_across_tenants_within_their_caps() -> anyhow::Result<()> {
    let mut stack = TestStack::new(1).await?;
    stack.parameter("SliceProcessingEnabled", "false");
    stack.set("MAX_PARALLEL_SLICES", "3").set("SLICE_SECONDS", "600");
    stack.deploy().await?;
    let now = now_ms();
    let (from, to) = ((now - 4 * HOUR) / HOUR * HOUR, (now - 4 * HOUR) / HOUR * HOUR + HOUR);
    // Tenant a asks first with three jobs (9 slices claimed), b and c later with one each.
    let mut tenants = Vec::new();
    for (name, jobs) in [("a", 3), ("b", 1), ("c", 1)] {
        let tenant = create_tenant(&stack.store, PEPPER, name).await?;
        let api = stack.api(&tenant.api_key);
        for i in 0..jobs {
            let hook = api.create_webhook(&format!("http://127.0.0.1:38999/{name}{i}")).await?.id;
            start(&api, &hook, from, to).await?;
        }
        tenants.push((tenant.tenant_id.to_string(), name));
    }
    let name_of: HashMap<String, &str> = tenants.iter().cloned().collect();
    // b may run one slice at a time, whatever the default.
    stack.replayctl(&["tenant", "limits", &tenants[1].0, "--max-running-slices", "1"]).await?;

    let mut order = Vec::new();
    loop {
        match stack.store.take_slice(2, 0).await? {
            Take::Run { tenant_id, .. } => order.push(name_of[tenant_id.as_str()]),
            Take::Defer => break,
            Take::Nothing => anyhow::bail!("slices still wait (a, c are capped only at 2): {order:?}"),
        }
        anyhow::ensure!(order.len() <= 20, "more slices taken than claimed: {order:?}");
    }
    // Fewest running first, then the tenant served longest ago: b and c,
    // that asked last, are not behind a's nine; b stops at its override of 1,
    // a and c at the default of 2; what is left waits (Defer, not Nothing).
    assert_eq!(order, ["a", "b", "c", "a", "c"], "the order slices were taken in");
    let running: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM replay_slices WHERE state = 'RUNNING'")
        .fetch_one(stack.store.pool())
        .await?;
    assert_eq!(running, 5);
    let started: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM replay_slices WHERE started_at IS NOT NULL")
        .fetch_one(stack.store.pool())
        .await?;
    assert_eq!(started, 5, "started_at marks each slice taken");

    // A slice ending frees its tenant's place: a's next slice goes.
    sqlx::query(
        "UPDATE replay_slices s JOIN replay_jobs j ON j.id = s.job_id SET s.state = 'DONE' \
         WHERE j.tenant_id = ? AND s.state = 'RUNNING' LIMIT 1",
    )
    .bind(&tenants[0].0)
    .execute(stack.store.pool())
    .await?;
    assert!(
        matches!(stack.store.take_slice(2, 0).await?, Take::Run { tenant_id, .. } if tenant_id.as_str() == tenants[0].0)
    );
    assert_eq!(stack.store.take_slice(2, 0).await?, Take::Defer);

    // With no cap at all, everything claimed is taken, then nothing waits.
    let mut rest = 0;
    while let Take::Run { .. } = stack.store.take_slice(0, 0).await? {
        rest += 1;
    }
    // b's override of 1 still holds: of its 3 claimed slices, 2 wait on it.
    assert_eq!(stack.store.take_slice(0, 0).await?, Take::Defer, "b's claimed slices wait on b's own cap");
    stack.replayctl(&["tenant", "limits", &tenants[1].0, "--max-running-slices", "default"]).await?;
    while let Take::Run { .. } = stack.store.take_slice(0, 0).await? {
        rest += 1;
    }
    assert_eq!(stack.store.take_slice(0, 0).await?, Take::Nothing);
    // Both changes of b's overrides are in the audit trail, newest first.
    let audit = stack.replayctl(&["audit", "--tenant", &tenants[1].0]).await?;
    let changes: Vec<(&str, &str)> = audit["entries"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["action"] == "tenant.limits")
        .map(|e| (e["actor"].as_str().unwrap_or_default(), e["detail"].as_str().unwrap_or_default()))
        .collect();
    assert_eq!(changes.len(), 2, "{audit}");
    assert!(changes.iter().all(|(actor, _)| *actor == "operator"), "{changes:?}");
    assert!(changes[0].1.contains(r#""max_running_slices":null"#), "{changes:?}");
    assert!(changes[1].1.contains(r#""max_running_slices":1"#), "{changes:?}");
    // a: 9 claimed, c: 3, b: 3 = 15 in all; 6 were taken before.
    assert_eq!(rest, 15 - 6, "every claimed slice was taken once");
    stack.cleanup().await;
    Ok(())
}

/// Wake-ups are not bound to slices, so the sweeper cannot tell a lost one by
/// its slice: it sends as many as are missing (slices waiting minus
/// wake-ups waiting in the queue: the messages of running slices are not
/// wake-ups), and none while the queue holds enough.
#[tokio::test]
async fn the_sweeper_replaces_lost_wake_ups_and_sends_no_more() -> anyhow::Result<()> {
    let mut stack = TestStack::new(1).await?;
    stack.parameter("SliceProcessingEnabled", "false");
    // A claim counts as possibly lost after 2 × STALE_AFTER_MS.
    stack.set("MAX_PARALLEL_SLICES", "3").set("SLICE_SECONDS", "600").set("STALE_AFTER_MS", "6000");
    stack.deploy().await?;
    let tenant = create_tenant(&stack.store, PEPPER, "acme").await?;
    let api = stack.api(&tenant.api_key);
    let from = (now_ms() - 4 * HOUR) / HOUR * HOUR;
    for i in 0..2 {
        let hook = api.create_webhook(&format!("http://127.0.0.1:38999/h{i}")).await?.id;
        start(&api, &hook, from, from + HOUR).await?;
    }
    let queue = stack.deployed().slice_queue_url.clone();
    let lost = |report: &serde_json::Value| report["lost_slices_enqueued"].as_u64();
    assert_eq!(stack.queue_depth(&queue).await?.0, 6, "a wake-up per claimed slice");
    tokio::time::sleep(Duration::from_secs(13)).await;
    assert_eq!(lost(&stack.sweep().await?), Some(0), "six slices wait, six wake-ups wait: none is missing");

    // Four wake-ups are lost (received and deleted, as by a worker that died
    // after deleting them): the sweeper sends four, not six.
    receive_and_delete(&stack, &queue, 4).await?;
    assert_eq!(lost(&stack.sweep().await?), Some(4));
    assert_eq!(stack.queue_depth(&queue).await?.0, 6);
    assert_eq!(lost(&stack.sweep().await?), Some(0), "nothing missing any more");

    // Issue 21 item 5: other messages hide a lost wake-up. A worker takes a
    // slice (its wake-up stays: it was a duplicate) and the slice's
    // continuation waits in the queue; two wake-ups are lost. Five slices
    // wait, four wake-ups and a continuation are queued: one is missing.
    let (job, slice): (String, i32) = sqlx::query_as(
        "SELECT job_id, slice_index FROM replay_slices WHERE state = 'PENDING' AND enqueued_at IS NOT NULL \
         ORDER BY enqueued_at DESC LIMIT 1",
    )
    .fetch_one(stack.store.pool())
    .await?;
    sqlx::query("UPDATE replay_slices SET state = 'RUNNING', heartbeat_at = UTC_TIMESTAMP(3) WHERE job_id = ? AND slice_index = ?")
        .bind(&job)
        .bind(slice)
        .execute(stack.store.pool())
        .await?;
    let continuation = QueueTask::slice(replay_core::domain::ids::JobId::from(job.as_str()), slice as u32, 1);
    stack.sqs.send_message().queue_url(&queue).message_body(serde_json::to_string(&continuation)?).send().await?;
    receive_and_delete(&stack, &queue, 2).await?;
    assert_eq!(stack.queue_depth(&queue).await?.0, 5);
    assert_eq!(lost(&stack.sweep().await?), Some(1), "the running slice's message is not a wake-up");
    assert_eq!(lost(&stack.sweep().await?), Some(0));
    stack.cleanup().await;
    Ok(())
}

/// Receives `n` messages of the queue and deletes them, as a worker that
/// died after deleting them would have.
async fn receive_and_delete(stack: &TestStack, queue: &str, n: i32) -> anyhow::Result<()> {
    let (mut removed, started) = (0, std::time::Instant::now());
    while removed < n {
        anyhow::ensure!(started.elapsed() < Duration::from_secs(60), "{removed} of {n} messages received in 60 s");
        let out = stack
            .sqs
            .receive_message()
            .queue_url(queue)
            .max_number_of_messages(n - removed)
            .wait_time_seconds(1)
            .send()
            .await?;
        for m in out.messages.unwrap_or_default() {
            stack
                .sqs
                .delete_message()
                .queue_url(queue)
                .receipt_handle(m.receipt_handle.unwrap_or_default())
                .send()
                .await?;
            removed += 1;
        }
    }
    Ok(())
}

/// Issue 21 item 5: the API claimed a job's slices and died before sending
/// their wake-ups or marking the job enqueued. The sweeper's outbox sends a
/// wake-up for each claimed slice, although none is left to claim.
#[tokio::test]
async fn the_outbox_wakes_the_slices_a_dead_api_claimed() -> anyhow::Result<()> {
    let mut stack = TestStack::new(1).await?;
    stack.parameter("SliceProcessingEnabled", "false");
    stack.set("MAX_PARALLEL_SLICES", "3").set("SLICE_SECONDS", "600");
    stack.deploy().await?;
    let tenant = create_tenant(&stack.store, PEPPER, "acme").await?;
    let api = stack.api(&tenant.api_key);
    let from = (now_ms() - 4 * HOUR) / HOUR * HOUR;
    let hook = api.create_webhook("http://127.0.0.1:38999/h").await?.id;
    let job = start(&api, &hook, from, from + HOUR).await?;
    let queue = stack.deployed().slice_queue_url.clone();
    // As if the API had died after claiming: no message sent, no outbox mark,
    // and the job old enough for the outbox (its grace is 30 s).
    receive_and_delete(&stack, &queue, 3).await?;
    sqlx::query("UPDATE replay_jobs SET enqueued_at = NULL, created_at = created_at - INTERVAL 5 MINUTE WHERE id = ?")
        .bind(job.as_str())
        .execute(stack.store.pool())
        .await?;
    let report = stack.sweep().await?;
    assert_eq!(report["jobs_enqueued"].as_u64(), Some(1), "{report}");
    assert_eq!(stack.queue_depth(&queue).await?.0, 3, "a wake-up for each claimed slice: {report}");
    stack.cleanup().await;
    Ok(())
}

/// How many of a tenant's slices are in `state` (0 if the count fails: the
/// callers poll).
async fn slices_in(stack: &TestStack, tenant: String, state: &str) -> i64 {
    sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM replay_slices s JOIN replay_jobs j ON j.id = s.job_id \
         WHERE j.tenant_id = ? AND s.state = ?",
    )
    .bind(tenant)
    .bind(state)
    .fetch_one(stack.store.pool())
    .await
    .unwrap_or(0)
}

/// `events` records for each webhook, evenly over `[from, from + 1 h)`, in
/// time order as producers write them (webhooks interleaved).
fn records_for(hooks: &[&replay_client::WebhookId], from: i64, events: i64) -> Vec<replay_lab::seed::SeedRecord> {
    let step = HOUR / events;
    (0..events)
        .flat_map(|i| {
            hooks.iter().enumerate().map(move |(h, hook)| {
                record(from + i * step + h as i64, hook.as_str(), &format!("{hook}-{i}"), SeedKind::Event)
            })
        })
        .collect()
}

#[tokio::test]
async fn a_quiet_tenant_is_not_starved_by_a_noisy_one() -> anyhow::Result<()> {
    let mut stack = TestStack::new(2).await?;
    // Six 10-minute slices a job, two at a time; slow receivers and two
    // deliveries at once keep each slice busy for seconds, and the worker
    // pool (MaximumConcurrency 4 at the tests' connection budget) full.
    stack.set("MAX_PARALLEL_SLICES", "2").set("SLICE_SECONDS", "600").set("DELIVERY_CONCURRENCY", "2");
    // Both tenants have the same share of the API: 50 requests a minute.
    stack.set("TENANT_REQUESTS_PER_MINUTE", "50");
    stack.deploy().await?;
    let _sweeping = stack.keep_sweeping(Duration::from_secs(2));
    let noisy_receiver = Receiver::start(0).await?;
    noisy_receiver.set_faults(Faults {
        delay: Duration::from_millis(300),
        delay_max: Duration::from_millis(600),
        ..Faults::default()
    });
    let quiet_receiver = Receiver::start(0).await?;
    quiet_receiver.set_faults(Faults {
        delay: Duration::from_millis(200),
        delay_max: Duration::from_millis(400),
        ..Faults::default()
    });
    let noisy = create_tenant(&stack.store, PEPPER, "noisy").await?;
    let quiet = create_tenant(&stack.store, PEPPER, "quiet").await?;
    // Neither client waits out a 429, so one to the quiet tenant would fail the test.
    let noisy_api = stack.api(&noisy.api_key).with_retry(no_waiting());
    let quiet_api = stack.api(&quiet.api_key).with_retry(no_waiting());
    let mut noisy_hooks = Vec::new();
    for i in 0..21 {
        noisy_hooks.push(webhook_to(&noisy_api, &noisy_receiver, &format!("n{i}")).await?);
    }
    let quiet_hook = webhook_to(&quiet_api, &quiet_receiver, "q").await?;
    let from = (now_ms() - 4 * HOUR) / HOUR * HOUR;
    let mut hooks: Vec<_> = noisy_hooks.iter().collect();
    hooks.push(&quiet_hook);
    stack.produce(&records_for(&hooks, from, 36)).await?;

    // The noisy tenant fills its 20 active jobs (TENANT_MAX_ACTIVE_JOBS); the 21st is refused.
    let mut noisy_jobs = Vec::new();
    for hook in &noisy_hooks[..20] {
        noisy_jobs.push(start(&noisy_api, hook, from, from + HOUR).await?);
    }
    let refused = noisy_api.start_replay(&noisy_hooks[20], &window(from, from + HOUR)).await.expect_err("21st job");
    assert_eq!(refused.code(), Some(ErrorCode::TooManyActiveJobs), "{refused}");
    assert_eq!(refused.status(), Some(429));

    // Wait until the pool is busy with the noisy tenant's slices.
    let noisy_id = noisy.tenant_id.to_string();
    let running_of = |tenant: String| slices_in(&stack, tenant, "RUNNING");
    eventually(Duration::from_secs(60), "the noisy tenant fills the worker pool", async || {
        running_of(noisy_id.clone()).await >= 4
    })
    .await?;

    // The noisy tenant floods the API; the quiet one asks for one replay meanwhile.
    let flood_path = format!("/v1/webhooks/{}/replays", noisy_hooks[0]);
    let flood = {
        let api = noisy_api.clone();
        tokio::spawn(async move {
            let mut statuses: HashMap<(u16, Option<String>), u32> = HashMap::new();
            let first_minute = chrono::Utc::now().timestamp() / 60;
            for _ in 0..15 {
                let batch = (0..10).map(|_| answer(&api, Method::GET, &flood_path, None));
                for reply in futures::future::join_all(batch).await {
                    let reply = reply?;
                    if reply.status == 429 {
                        anyhow::ensure!(
                            reply.retry_after.as_deref().and_then(|s| s.parse::<u64>().ok()).is_some_and(|s| s <= 60),
                            "a 429 without a usable Retry-After: {reply:?}"
                        );
                    }
                    *statuses.entry((reply.status, reply.error_code().map(str::to_owned))).or_default() += 1;
                }
            }
            // The limit counts requests per UTC minute: the minutes the flood touched.
            let minutes = chrono::Utc::now().timestamp() / 60 - first_minute + 1;
            Ok::<_, anyhow::Error>((statuses, minutes))
        })
    };
    let quiet_job = start(&quiet_api, &quiet_hook, from, from + HOUR).await?;
    let quiet_first_claim: chrono::NaiveDateTime =
        sqlx::query_scalar("SELECT MIN(enqueued_at) FROM replay_slices WHERE job_id = ? AND enqueued_at IS NOT NULL")
            .bind(quiet_job.as_str())
            .fetch_one(stack.store.pool())
            .await?;
    let first_start = Arc::new(AtomicI64::new(0));
    eventually(Duration::from_secs(90), "the quiet tenant's first slice starts", async || {
        let started: Option<chrono::NaiveDateTime> =
            sqlx::query_scalar("SELECT MIN(started_at) FROM replay_slices WHERE job_id = ?")
                .bind(quiet_job.as_str())
                .fetch_one(stack.store.pool())
                .await
                .unwrap_or(None);
        if let Some(at) = started {
            first_start.store(at.and_utc().timestamp_millis(), Ordering::SeqCst);
        }
        started.is_some()
    })
    .await?;
    let quiet_started = chrono::DateTime::from_timestamp_millis(first_start.load(Ordering::SeqCst))
        .map(|t| t.naive_utc())
        .unwrap_or_default();
    let noisy_started_before: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM replay_slices s JOIN replay_jobs j ON j.id = s.job_id \
         WHERE j.tenant_id = ? AND s.started_at > ? AND s.started_at < ?",
    )
    .bind(&noisy_id)
    .bind(quiet_first_claim)
    .bind(quiet_started)
    .fetch_one(stack.store.pool())
    .await?;
    let noisy_waiting = slices_in(&stack, noisy_id.clone(), "PENDING").await;
    // Two tenants with work waiting: round-robin gives the noisy one at most
    // one start before the quiet one's turn. First come, first served, it
    // would start every slice claimed before the quiet one's (dozens).
    assert!(
        noisy_started_before <= 1,
        "the noisy tenant started {noisy_started_before} slices after the quiet one's was claimed and before it \
         started ({noisy_waiting} of its slices still to start)"
    );
    assert!(noisy_waiting > 20, "the noisy tenant still had plenty waiting: {noisy_waiting}");

    let (statuses, minutes) = flood.await??;
    let throttled = statuses.get(&(429, Some("tenant_rate_limited".into()))).copied().unwrap_or(0);
    // 150 requests (after the 42 of its setup), 50 admitted per minute at
    // most: the rest were throttled, whatever the minutes it touched (one or
    // two here; on a slow machine three would admit all of them).
    let at_least = 150u32.saturating_sub(50 * u32::try_from(minutes)?);
    assert!(throttled >= at_least, "the noisy tenant's flood over {minutes} minutes was throttled: {statuses:?}");
    assert_eq!(statuses.keys().filter(|(s, _)| *s != 200 && *s != 429).count(), 0, "{statuses:?}");

    // The quiet tenant is never throttled, and its job ends with every event, once.
    for _ in 0..5 {
        let reply = answer(&quiet_api, Method::GET, &format!("/v1/replays/{quiet_job}"), None).await?;
        assert_eq!(reply.status, 200, "{reply:?}");
    }
    // Polled every 3 s, well within its share.
    let mut job = quiet_api.job(&quiet_job).await?;
    for _ in 0..60 {
        if job.state.is_terminal() {
            break;
        }
        tokio::time::sleep(Duration::from_secs(3)).await;
        job = quiet_api.job(&quiet_job).await?;
    }
    assert_eq!(job.state, JobState::Completed, "{job:?}");
    let stats = quiet_receiver.stats("q");
    assert_eq!(stats.received().len(), 36, "every quiet event arrived");
    assert_eq!(stats.accepted.values().filter(|&&n| n > 1).count(), 0, "none twice");

    // The noisy tenant's cap on running slices: lowered to 2, it holds from
    // the moment its running slices have drained to it.
    stack.replayctl(&["tenant", "limits", &noisy_id, "--max-running-slices", "2"]).await?;
    eventually(Duration::from_secs(60), "the noisy tenant drains to its new cap", async || {
        running_of(noisy_id.clone()).await <= 2
    })
    .await?;
    let mut peak = 0;
    for _ in 0..50 {
        peak = peak.max(running_of(noisy_id.clone()).await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let still_waiting = slices_in(&stack, noisy_id.clone(), "PENDING").await;
    assert!(peak <= 2, "the noisy tenant ran {peak} slices at once under a cap of 2");
    assert!(still_waiting > 0, "the cap was tested while slices waited");
    let _ = noisy_jobs;
    stack.cleanup().await;
    Ok(())
}
