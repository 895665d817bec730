//! The HTTP API through LocalStack's API Gateway: contract section 2's codes,
//! tenant isolation, and a replay end to end over HTTP.

use replay_core::services::api::create_tenant;
use replay_integration_tests::replay_client::{ClientError, ErrorCode, JobState, WebhookId};
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
    assert!(hook.secret.starts_with("whsec_"));
    receiver.register("me", &hook.secret);
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

    let done = api.wait_for_end(&job_id, Duration::from_secs(120), |_| {}).await?;
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
