//! The HTTP API through LocalStack's API Gateway: docs/api.md's error codes,
//! tenant isolation, and a replay end to end over HTTP.

use anyhow::Context;
use replay_core::services::api::create_tenant;
use replay_integration_tests::replay_client::{ClientError, ErrorCode, JobState, RawReply, WebhookId};
use replay_integration_tests::replay_lab::receiver::Receiver;
use replay_integration_tests::replay_lab::seed::{plan_records, SeedKind, SeedPlan};
use replay_integration_tests::*;
use reqwest::Method;
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn api_end_to_end_through_api_gateway() -> anyhow::Result<()> {
    let mut stack = TestStack::new(4).await?;
    stack.deploy().await?;
    let receiver = Receiver::start(0).await?;
    let acme = create_tenant(&stack.store, PEPPER, "acme").await?;
    let globex = create_tenant(&stack.store, PEPPER, "globex").await?;
    let api = stack.api(&acme.api_key);
    let other = api.with_key(&globex.api_key);

    // Webhooks: create (secret once), get (no secret), isolation.
    let hook = api.create_webhook(&receiver.url("me")).await?;
    let id: WebhookId = hook.id.clone();
    let secret = hook.secret.clone().context("a made secret is shown once")?;
    assert!(secret.starts_with("whsec_"));
    receiver.register("me", &secret);
    let got = api.raw(Method::GET, &format!("/v1/webhooks/{id}"), None, &[]).await?;
    assert_eq!(got.body["url"], receiver.url("me"));
    assert!(got.body.get("secret").is_none(), "the secret is shown once: {}", got.body);
    assert_eq!(api.webhook(&id).await?.url, receiver.url("me"));
    let r = other.raw(Method::GET, &format!("/v1/webhooks/{id}"), None, &[]).await?;
    assert_eq!((r.status, r.error_code()), (404, Some("not_found")));

    // Errors: stable codes in JSON bodies.
    let r = api.with_key("rk_0000000000000000_nope").raw(Method::GET, &format!("/v1/webhooks/{id}"), None, &[]).await?;
    assert_eq!((r.status, r.error_code()), (401, Some("unauthorized")));
    let path = format!("/v1/webhooks/{id}/replays");
    let now = now_ms();
    let cases = [
        (json!({"from": "yesterday", "to": rfc3339(now - HOUR)}), "invalid_date"),
        (json!({"from": rfc3339(now - HOUR), "to": rfc3339(now - 2 * HOUR)}), "invalid_range"),
        (json!({"from": rfc3339(now - HOUR), "to": rfc3339(now + HOUR)}), "invalid_range"),
        (json!({"from": rfc3339(now - 200 * HOUR), "to": rfc3339(now - HOUR)}), "range_too_old"),
        (json!({"from": rfc3339(now - 2 * HOUR), "to": rfc3339(now - HOUR), "extra": 1}), "invalid_request"),
    ];
    for (body, code) in cases {
        let r = api.raw(Method::POST, &path, Some(&body), &[]).await?;
        assert_eq!((r.status, r.error_code()), (400, Some(code)), "{body}");
    }
    let r = api.raw(Method::POST, "/v1/webhooks", Some(&json!({"url": "ftp://x"})), &[]).await?;
    assert_eq!((r.status, r.error_code()), (400, Some("invalid_request")));
    // Every error names the invocation that answered, a different one each time.
    let request_id = |r: &RawReply| r.body["error"]["request_id"].as_str().map(str::to_owned);
    let again = api.raw(Method::POST, "/v1/webhooks", Some(&json!({"url": "ftp://x"})), &[]).await?;
    let (first, second) = (request_id(&r).context("request_id")?, request_id(&again).context("request_id")?);
    assert!(!first.is_empty() && first != second, "{first} {second}");
    // Health: no key, nothing but that it answers.
    let health = api.with_key("").raw(Method::GET, "/v1/health", None, &[]).await?;
    assert_eq!((health.status, &health.body), (200, &json!({"status": "ok"})));

    // Seed and replay over HTTP, Twitter-compatible form.
    let to = (now - 2 * HOUR) / HOUR * HOUR;
    let from = to - 3 * HOUR;
    let plan = SeedPlan {
        events: 3_000,
        webhooks: vec![id.to_string(), "wh_b".into(), "wh_c".into(), "wh_d".into()],
        start_ms: from - HOUR,
        end_ms: to + HOUR,
        duplicate_rate: 0.05,
        malformed_rate: 0.01,
        payload_bytes: 300,
        seed: 42,
    };
    let log = plan_records(&plan)?;
    stack.produce(&log.records).await?;
    let expected = log.expected(id.as_str(), from, to);
    let fmt =
        |ms: i64| chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default().format("%Y%m%d%H%M").to_string();
    let created = api.start_replay_twitter(&id, &fmt(from), &fmt(to)).await?;
    let job_id = created.job_id;
    let err = api.start_replay(&id, &window(from, to)).await.expect_err("one active job per webhook");
    assert_eq!(err.code(), Some(ErrorCode::JobAlreadyRunning));
    match &err {
        ClientError::Api { job_id: running, .. } => assert_eq!(running.as_ref(), Some(&job_id)),
        other => panic!("{other:?}"),
    }
    let r = other.raw(Method::GET, &format!("/v1/replays/{job_id}"), None, &[]).await?;
    assert_eq!(r.status, 404);

    let done = stack.wait_for_end(&api, &job_id, Duration::from_secs(120)).await?;
    assert_eq!(done.state, JobState::Completed, "{done:?}");
    assert_eq!(done.progress.counters.events_delivered, expected.len() as u64);
    assert_eq!(done.progress.slices_done, 3);
    let stats = receiver.stats("me");
    let received: std::collections::HashSet<String> =
        stats.accepted.keys().filter(|k| !k.starts_with("replay-job-")).cloned().collect();
    assert_eq!(received, expected);
    assert_eq!(stats.repeats(), 0);
    assert_eq!(stats.signature_failures, 0);
    assert!(log.count(SeedKind::Duplicate) > 0 && done.progress.counters.duplicates_skipped > 0);
    let listed = api.jobs(&id).await?;
    assert_eq!(listed[0].job_id, job_id);

    // Cancel of an ended job leaves it as it was.
    let cancelled = api.cancel(&job_id).await?;
    assert_eq!(cancelled.state, JobState::Completed);
    stack.cleanup().await;
    Ok(())
}

/// A stack that runs no slice, and a cancelled job of a new tenant whose
/// failure list holds `n` failures made by `failure`; the tenant's key.
async fn job_with_failures(
    n: usize,
    failure: impl Fn(usize) -> replay_core::ports::FailedEvent,
) -> anyhow::Result<(TestStack, String, replay_integration_tests::replay_client::JobId)> {
    let mut stack = TestStack::new(1).await?;
    stack.parameter("SliceProcessingEnabled", "false");
    stack.deploy().await?;
    let tenant = create_tenant(&stack.store, PEPPER, "acme").await?;
    let api = stack.api(&tenant.api_key);
    let hook = api.create_webhook("http://127.0.0.1:38999/hooks/down").await?;
    let from = (now_ms() - 5 * HOUR) / HOUR * HOUR;
    let job = start(&api, &hook.id, from, from + HOUR).await?;
    api.cancel(&job).await?;
    let failures: Vec<_> = (0..n).map(failure).collect();
    stack.store.insert_failures(&job, &failures).await?;
    Ok((stack, tenant.api_key, job))
}

/// A failure list far larger than a Lambda response (6 MB) is read whole:
/// each NDJSON answer stays within its bytes and names where the next starts.
#[tokio::test]
async fn a_failure_list_larger_than_a_lambda_response_comes_in_bounded_answers() -> anyhow::Result<()> {
    // 30,000 failures of about 600 bytes each: 18 MB of lines.
    const FAILURES: usize = 30_000;
    let (stack, key, job) = job_with_failures(FAILURES, |i| replay_core::ports::FailedEvent {
        event_id: format!("ev_{i:06}"),
        event_type: "tweet_create_events".into(),
        attempts: 5,
        last_status: Some(503),
        error: format!("HTTP 503 {}", "x".repeat(480)),
    })
    .await?;
    let api = stack.api(&key);
    let got = api.all_failures(&job).await?;
    assert_eq!(got.len(), FAILURES, "every failure, once");
    let ids: Vec<&str> = got.iter().map(|f| f.event_id.as_str()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "in event id order, none repeated");

    // One answer: within the bound, and it says where the rest starts.
    let first = reqwest::Client::new()
        .get(format!("{}/v1/replays/{job}/failures", stack.deployed().api_url))
        .bearer_auth(&key)
        .header("accept", "application/x-ndjson")
        .send()
        .await?;
    assert_eq!(first.status().as_u16(), 200);
    assert!(first.headers().get("x-next-cursor").is_some(), "the list goes on");
    let body = first.text().await?;
    assert!(body.len() <= replay_core::services::api::MAX_FAILURES_NDJSON_BYTES, "{} bytes", body.len());
    assert!(body.lines().count() > 1_000, "{} lines", body.lines().count());
    stack.cleanup().await;
    Ok(())
}

/// A retry names its original job; the failed ids are read when its slices
/// start. Copied into the retry's row, 420,000 ids of 40 characters (17 MB of
/// JSON) would not fit its column; beyond 50,000 the row carries none.
#[tokio::test]
async fn a_retry_of_more_failures_than_a_row_holds_is_created() -> anyhow::Result<()> {
    const FAILURES: usize = 420_000;
    let (stack, key, job) = job_with_failures(FAILURES, |i| replay_core::ports::FailedEvent {
        event_id: format!("evt_{i:036}"),
        event_type: "t".into(),
        attempts: 1,
        last_status: Some(500),
        error: "HTTP 500".into(),
    })
    .await?;
    let api = stack.api(&key);
    let retry = api.retry(&job).await?;
    let stored: i64 = sqlx::query_scalar("SELECT COALESCE(LENGTH(selection), 0) FROM replay_jobs WHERE id = ?")
        .bind(retry.job_id.as_str())
        .fetch_one(stack.store.pool())
        .await?;
    assert!(stored < 1_000, "the retry's row names its job, not {FAILURES} ids: {stored} bytes");
    let view = api.job(&retry.job_id).await?;
    assert_eq!(view.selection.failures_of.as_ref(), Some(&job), "{view:?}");
    stack.cleanup().await;
    Ok(())
}
