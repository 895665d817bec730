//! Replaying exactly what is missing: event-type and event-id filters,
//! failed-only (copies on both sides of a slice boundary), dry runs, the
//! failure report (paged and NDJSON) and the retry of the failures; bad
//! input and other tenants on every new field and endpoint. Several slices
//! of each job run at once.

use replay_core::services::api::create_tenant;
use replay_integration_tests::replay_client::{
    Client, CreateReplayRequest, ErrorCode, Job, JobId, JobState, StatusWord, WebhookId,
};
use replay_integration_tests::replay_lab::receiver::{Faults, Receiver};
use replay_integration_tests::replay_lab::seed::{SeedKind, SeedRecord};
use replay_integration_tests::*;
use reqwest::Method;
use serde_json::json;
use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

const TYPES: [&str; 3] = ["like", "tweet", "follow"];

/// A record of `webhook`, with an event type and optionally the original
/// delivery's outcome.
fn typed(ts: i64, webhook: &WebhookId, id: &str, event_type: &str, outcome: Option<&str>) -> SeedRecord {
    let mut value = json!({
        "event_id": id, "webhook_id": webhook.as_str(), "event_type": event_type,
        "created_at": rfc3339(ts), "payload": {"id": id, "kind": event_type},
    });
    if let Some(status) = outcome {
        value["delivery"] = json!({"status": status, "http_status": if status == "failed" { 503 } else { 200 }});
    }
    SeedRecord {
        timestamp: ts,
        webhook_id: webhook.to_string(),
        event_id: id.to_owned(),
        kind: SeedKind::Event,
        value: value.to_string().into_bytes(),
    }
}

struct Setup {
    stack: TestStack,
    api: Client,
    receiver: Receiver,
    from: i64,
    to: i64,
    /// The sweeper, as the schedule runs it in AWS: a worker invocation that
    /// dies (a timeout on a loaded machine) leaves its slice to the sweeper.
    _sweeping: Sweeping,
}

/// Four slices of 30 minutes, all four at once.
async fn setup() -> anyhow::Result<Setup> {
    let mut stack = TestStack::new(2).await?;
    stack.set("SLICE_SECONDS", "1800").set("MAX_PARALLEL_SLICES", "4").set("DEDUP_LOOKBACK_SECONDS", "600");
    stack.deploy().await?;
    let _sweeping = stack.keep_sweeping(Duration::from_secs(2));
    let tenant = create_tenant(&stack.store, PEPPER, "acme").await?;
    let api = stack.api(&tenant.api_key);
    let receiver = Receiver::start(0).await?;
    receiver.set_faults(Faults {
        delay: Duration::from_millis(20),
        delay_max: Duration::from_millis(80),
        ..Faults::default()
    });
    let from = (now_ms() - 6 * HOUR) / HOUR * HOUR;
    Ok(Setup { stack, api, receiver, from, to: from + 2 * HOUR, _sweeping })
}

/// 400 events over the window, types in turn; every fifth logged twice a
/// minute apart.
fn typed_log(webhook: &WebhookId, from: i64) -> Vec<SeedRecord> {
    let mut records = Vec::new();
    for i in 0..400i64 {
        let ts = from + i * 18_000;
        let id = format!("ev-{i}");
        records.push(typed(ts, webhook, &id, TYPES[(i % 3) as usize], None));
        if i % 5 == 0 {
            records.push(typed(ts + 60_000, webhook, &id, TYPES[(i % 3) as usize], None));
        }
    }
    records.sort_by_key(|r| r.timestamp);
    records
}

async fn run(s: &Setup, webhook: &WebhookId, req: CreateReplayRequest) -> anyhow::Result<Job> {
    let job = s.api.start_replay(webhook, &req).await?;
    s.stack.wait_for_end(&s.api, &job.job_id, Duration::from_secs(120)).await
}

#[tokio::test]
async fn each_filter_delivers_exactly_its_events_once_across_parallel_slices() -> anyhow::Result<()> {
    let s = setup().await?;
    let by_type = webhook_to(&s.api, &s.receiver, "by-type").await?;
    let by_id = webhook_to(&s.api, &s.receiver, "by-id").await?;
    let failed = webhook_to(&s.api, &s.receiver, "failed").await?;
    let mut records = typed_log(&by_type, s.from);
    records.extend(typed_log(&by_id, s.from));
    // Failed-only: pairs of copies, some on both sides of the boundary at from + 30 min.
    let edge = s.from + 30 * 60_000;
    let pairs: [(&str, Option<&str>, Option<&str>, bool); 6] = [
        ("failed-then-ok", Some("failed"), Some("succeeded"), false),
        ("failed-twice", Some("failed"), Some("failed"), true),
        ("ok-then-failed", Some("succeeded"), Some("failed"), false),
        ("failed-then-none", Some("failed"), None, true),
        ("none-twice", None, None, false),
        ("none-then-failed", None, Some("failed"), true),
    ];
    let mut expected_failed = HashSet::new();
    for (n, (id, first, second, delivered)) in pairs.iter().enumerate() {
        let t = edge - 60_000 + n as i64 * 1_000;
        records.push(typed(t, &failed, id, "like", *first));
        records.push(typed(t + 120_000, &failed, id, "like", *second));
        if *delivered {
            expected_failed.insert(id.to_string());
        }
    }
    for i in 0..100 {
        // The bulk: originally delivered fine, or logged without an outcome.
        let outcome = if i % 2 == 0 { Some("succeeded") } else { None };
        records.push(typed(s.from + i * 60_000, &failed, &format!("bulk-{i}"), "tweet", outcome));
    }
    records.sort_by_key(|r| r.timestamp);
    s.stack.produce(&records).await?;

    // Event types: only likes and follows.
    let req = CreateReplayRequest {
        event_types: Some(vec!["like".into(), "follow".into()]),
        ..CreateReplayRequest::window(rfc3339(s.from), rfc3339(s.to))
    };
    let job = run(&s, &by_type, req).await?;
    let want: HashSet<String> = (0..400).filter(|i| i % 3 != 1).map(|i| format!("ev-{i}")).collect();
    let stats = s.receiver.stats("by-type");
    assert_eq!(job.state, JobState::Completed, "{job:?}");
    assert_eq!(stats.received(), want);
    assert_eq!(stats.repeats(), 0);
    let c = &job.progress.counters;
    assert_eq!(c.events_delivered, want.len() as u64);
    let tweets = records
        .iter()
        .filter(|r| r.webhook_id == by_type.as_str() && String::from_utf8_lossy(&r.value).contains("\"tweet\""))
        .count();
    assert_eq!(c.events_filtered, tweets as u64, "the tweets and their copies: {c:?}");
    assert!(c.adds_up(), "{c:?}");
    assert_eq!(job.selection.event_types, Some(vec!["like".into(), "follow".into()]));

    // Event ids: five that exist, three that do not.
    let ids: Vec<String> = ["ev-0", "ev-99", "ev-100", "ev-250", "ev-399", "nope-1", "nope-2", "nope-3"]
        .into_iter()
        .map(String::from)
        .collect();
    let req = CreateReplayRequest {
        event_ids: Some(ids.clone()),
        ..CreateReplayRequest::window(rfc3339(s.from), rfc3339(s.to))
    };
    let job = run(&s, &by_id, req).await?;
    let stats = s.receiver.stats("by-id");
    assert_eq!(stats.received(), ids[..5].iter().cloned().collect::<HashSet<_>>());
    assert_eq!(stats.repeats(), 0, "ev-0, ev-100 have copies: delivered once");
    let result = job.result.clone().expect("an ended job has a result");
    assert_eq!(result.not_found, vec!["nope-1", "nope-2", "nope-3"]);
    assert!(job.progress.counters.adds_up());

    // Failed-only.
    let req = CreateReplayRequest {
        only: Some("failed".into()),
        ..CreateReplayRequest::window(rfc3339(s.from), rfc3339(s.to))
    };
    let job = run(&s, &failed, req).await?;
    let stats = s.receiver.stats("failed");
    assert_eq!(stats.received(), expected_failed, "{job:?}");
    assert_eq!(stats.repeats(), 0);
    let c = &job.progress.counters;
    assert_eq!(c.events_delivered, 3);
    assert_eq!(c.events_without_outcome, 1 + 50, "none-twice and the bulk without one: {c:?}");
    assert!(c.adds_up(), "{c:?}");
    eventually(Duration::from_secs(30), "the status event", async || {
        !s.receiver.stats("failed").status_events.is_empty()
    })
    .await?;
    let status = &s.receiver.stats("failed").status_events[0].replay_job_status;
    assert_eq!(status.selection.only.as_deref(), Some("failed"), "the completion report carries the selection");
    assert_eq!(
        status.result.as_ref().map(|r| r.failure_report.clone()),
        Some(format!("/v1/replays/{}/failures", job.job_id))
    );
    s.stack.cleanup().await;
    Ok(())
}

#[tokio::test]
async fn a_dry_run_counts_what_the_real_run_delivers_and_sends_nothing() -> anyhow::Result<()> {
    let s = setup().await?;
    let hook = webhook_to(&s.api, &s.receiver, "me").await?;
    s.stack.produce(&typed_log(&hook, s.from)).await?;
    let selection = CreateReplayRequest {
        event_types: Some(vec!["like".into(), "tweet".into()]),
        ..CreateReplayRequest::window(rfc3339(s.from), rfc3339(s.to))
    };
    let dry = s.api.start_replay(&hook, &CreateReplayRequest { dry_run: true, ..selection.clone() }).await?;
    // It does not hold the webhook's one active job: the real run starts beside it.
    let real = s.api.start_replay(&hook, &selection).await?;
    let dry = s.stack.wait_for_end(&s.api, &dry.job_id, Duration::from_secs(120)).await?;
    let real = s.stack.wait_for_end(&s.api, &real.job_id, Duration::from_secs(120)).await?;
    assert_eq!((dry.state, real.state), (JobState::Completed, JobState::Completed));
    let (d, r) = (&dry.progress.counters, &real.progress.counters);
    assert_eq!(d.events_selected, r.events_delivered, "{d:?} / {r:?}");
    assert_eq!(
        (d.events_matched, d.duplicates_skipped, d.events_filtered, d.malformed, d.events_scanned),
        (r.events_matched, r.duplicates_skipped, r.events_filtered, r.malformed, r.events_scanned)
    );
    assert_eq!(d.events_delivered, 0);
    assert!(d.adds_up() && r.adds_up());
    let report = dry.result.clone().and_then(|r| r.dry_run).expect("a dry run's result");
    // The status event follows the job's end: wait for the real job's, then
    // long enough that one for the dry run would have come too.
    eventually(Duration::from_secs(30), "the real job's status event", async || {
        !s.receiver.stats("me").status_events.is_empty()
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let delivered = s.receiver.stats("me");
    let mut by_type: BTreeMap<String, u64> = BTreeMap::new();
    for id in delivered.received() {
        let n: i64 = id.trim_start_matches("ev-").parse()?;
        *by_type.entry(TYPES[(n % 3) as usize].to_owned()).or_default() += 1;
    }
    assert_eq!(report.by_event_type, by_type);
    assert!(report.payload_bytes > 0 && report.estimated_seconds > 0.0, "{report:?}");
    // Nothing reached the receiver from the dry run: every request was the real job's.
    let jobs: HashSet<&str> = delivered.replay_job_ids.keys().map(String::as_str).collect();
    assert_eq!(jobs, HashSet::from([real.job_id.as_str()]));
    let status_jobs: Vec<String> =
        delivered.status_events.iter().map(|e| e.replay_job_status.job_id.to_string()).collect();
    assert_eq!(status_jobs, vec![real.job_id.to_string()], "no status event for the dry run");
    s.stack.cleanup().await;
    Ok(())
}

#[tokio::test]
async fn the_failure_report_lists_exactly_the_refused_events_and_the_retry_delivers_them() -> anyhow::Result<()> {
    let s = setup().await?;
    let hook = webhook_to(&s.api, &s.receiver, "me").await?;
    s.stack.produce(&typed_log(&hook, s.from)).await?;
    let refused: HashSet<String> = (0..400).filter(|i| i % 17 == 3).map(|i| format!("ev-{i}")).collect();
    s.receiver.set_faults(Faults { reject: refused.clone(), delay: Duration::from_millis(10), ..Faults::default() });
    let job = run(&s, &hook, CreateReplayRequest::window(rfc3339(s.from), rfc3339(s.to))).await?;
    assert_eq!(job.state, JobState::Incomplete, "{job:?}");
    assert_eq!(job.progress.counters.delivery_failures, refused.len() as u64);
    let result = job.result.clone().expect("result");
    assert_eq!(result.failures, refused.len() as u64);

    // Paged, seven at a time, and NDJSON: the same list.
    let mut paged = Vec::new();
    let mut cursor = None;
    loop {
        let page = s.api.failures(&job.job_id, cursor.as_deref(), Some(7)).await?;
        assert!(page.failures.len() <= 7);
        paged.extend(page.failures);
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    let all = s.api.all_failures(&job.job_id).await?;
    assert_eq!(paged, all, "paged and NDJSON agree");
    assert_eq!(all.iter().map(|f| f.event_id.clone()).collect::<HashSet<_>>(), refused);
    assert!(all.iter().all(|f| f.last_status == Some(422) && f.event_type.is_some() && f.attempts >= 1), "{all:?}");

    // The retry delivers exactly them, once, once the receiver takes them.
    // Until then it answers 503 to everything, so the retry is still
    // running when asked about below however slow this machine is (a 3 s
    // answer once let a loaded machine's API call outlast the whole retry).
    s.receiver.set_faults(Faults { down: true, ..Faults::default() });
    let retry = s.api.retry(&job.job_id).await?;
    let err = s.api.retry(&job.job_id).await.expect_err("one active job per webhook");
    assert_eq!(err.code(), Some(ErrorCode::JobAlreadyRunning), "{err}");
    let err = s.api.retry(&retry.job_id).await.expect_err("the retry has not ended");
    assert_eq!(err.code(), Some(ErrorCode::JobNotEnded), "{err}");
    s.receiver.set_faults(Faults { delay: Duration::from_millis(200), ..Faults::default() });
    let done = s.stack.wait_for_end(&s.api, &retry.job_id, Duration::from_secs(120)).await?;
    assert_eq!(done.state, JobState::Completed, "{done:?}");
    assert_eq!(done.selection.failures_of.as_ref(), Some(&job.job_id));
    assert_eq!(done.progress.counters.events_delivered, refused.len() as u64);
    let stats = s.receiver.stats("me");
    let by_retry: HashSet<String> = stats.arrivals.keys().cloned().collect();
    assert!(by_retry.contains(retry.job_id.as_str()));
    assert_eq!(stats.arrivals[retry.job_id.as_str()].count, refused.len() as u64, "exactly the failures");
    for id in &refused {
        assert_eq!(stats.accepted.get(id), Some(&1), "{id} delivered once");
    }
    let err = s.api.retry(&done.job_id).await.expect_err("no failures left");
    assert_eq!(err.code(), Some(ErrorCode::NothingToRetry), "{err}");
    eventually(Duration::from_secs(30), "two status events", async || s.receiver.stats("me").status_events.len() == 2)
        .await?;
    let first = &s.receiver.stats("me").status_events[0].replay_job_status;
    assert_eq!(first.job_state, StatusWord::Incomplete);
    assert_eq!(first.result.as_ref().map(|r| r.failures), Some(refused.len() as u64));
    s.stack.cleanup().await;
    Ok(())
}

#[tokio::test]
async fn new_fields_and_endpoints_refuse_bad_input_and_other_tenants() -> anyhow::Result<()> {
    let mut stack = TestStack::new(1).await?;
    stack.parameter("SliceProcessingEnabled", "false");
    stack.deploy().await?;
    let acme = create_tenant(&stack.store, PEPPER, "acme").await?;
    let globex = create_tenant(&stack.store, PEPPER, "globex").await?;
    let api = stack.api(&acme.api_key);
    let other = api.with_key(&globex.api_key);
    let hook = api.create_webhook("http://127.0.0.1:38999/hook").await?.id;
    let now = now_ms();
    let (from, to) = (rfc3339(now - 3 * HOUR), rfc3339(now - 2 * HOUR));
    let replays = format!("/v1/webhooks/{hook}/replays");
    for (extra, code) in [
        (json!({"event_types": []}), "invalid_selection"),
        (json!({"event_types": (0..51).map(|i| format!("t{i}")).collect::<Vec<_>>()}), "invalid_selection"),
        (json!({"event_types": ["x".repeat(101)]}), "invalid_selection"),
        (json!({"event_ids": []}), "invalid_selection"),
        (json!({"event_ids": (0..1001).map(|i| format!("e{i}")).collect::<Vec<_>>()}), "invalid_selection"),
        (json!({"event_ids": ["has\nnewline"]}), "invalid_selection"),
        (json!({"only": "succeeded"}), "invalid_selection"),
        (json!({"only": 1}), "invalid_request"),
        (json!({"dry_run": "yes"}), "invalid_request"),
        (json!({"event_types": "like"}), "invalid_request"),
    ] {
        let mut body = json!({"from": from, "to": to});
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        let r = api.raw(Method::POST, &replays, Some(&body), &[]).await?;
        assert_eq!((r.status, r.error_code()), (400, Some(code)), "{body}: {}", r.body);
    }
    let job: JobId = api.start_replay(&hook, &CreateReplayRequest::window(from.clone(), to.clone())).await?.job_id;
    for (method, path) in
        [(Method::GET, format!("/v1/replays/{job}/failures")), (Method::POST, format!("/v1/replays/{job}/retry"))]
    {
        let r = other.raw(method.clone(), &path, None, &[]).await?;
        assert_eq!((r.status, r.error_code()), (404, Some("not_found")), "{method} {path}");
    }
    for (query, code) in [
        ("limit=0", "invalid_request"),
        ("limit=1001", "invalid_request"),
        ("cursor=Cg", "invalid_cursor"),
        ("cursor=***", "invalid_cursor"),
    ] {
        let r = api.raw(Method::GET, &format!("/v1/replays/{job}/failures?{query}"), None, &[]).await?;
        assert_eq!((r.status, r.error_code()), (400, Some(code)), "{query}: {}", r.body);
    }
    let err = api.retry(&job).await.expect_err("still running");
    assert_eq!(err.code(), Some(ErrorCode::JobNotEnded));
    let empty = api.failures(&job, None, None).await?;
    assert!(empty.failures.is_empty() && empty.next_cursor.is_none());
    let r = api.raw(Method::PUT, &format!("/v1/replays/{job}/retry"), None, &[]).await?;
    assert_eq!(r.status, 405);
    stack.cleanup().await;
    Ok(())
}
