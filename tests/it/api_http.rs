//! The HTTP API through LocalStack's API Gateway: contract section 2's codes,
//! tenant isolation, and a replay end to end over HTTP.

use replay_core::services::api::create_tenant;
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
    let id = hook["id"].as_str().unwrap_or_default().to_owned();
    let secret = hook["secret"].as_str().unwrap_or_default();
    assert!(secret.starts_with("whsec_"));
    receiver.register("me", secret);
    let got = api.get_webhook(&id).await?;
    assert_eq!(got["url"], receiver.url("me"));
    assert!(got.get("secret").is_none());
    let r = other.call(Method::GET, &format!("/v1/webhooks/{id}"), None, &[]).await?;
    assert_eq!((r.status.as_u16(), r.error_code()), (404, Some("not_found")));

    // Errors: stable codes in JSON bodies.
    let r =
        api.with_key("rk_0000000000000000_nope").call(Method::GET, &format!("/v1/webhooks/{id}"), None, &[]).await?;
    assert_eq!((r.status.as_u16(), r.error_code()), (401, Some("unauthorized")));
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
        let r = api.call(Method::POST, &path, Some(body.clone()), &[]).await?;
        assert_eq!((r.status.as_u16(), r.error_code()), (400, Some(code)), "{body}");
    }
    let r = api.call(Method::POST, "/v1/webhooks", Some(json!({"url": "ftp://x"})), &[]).await?;
    assert_eq!((r.status.as_u16(), r.error_code()), (400, Some("invalid_request")));

    // Seed and replay over HTTP, Twitter-compatible form.
    let to = (now - 2 * HOUR) / HOUR * HOUR;
    let from = to - 3 * HOUR;
    let plan = SeedPlan {
        events: 3_000,
        webhooks: vec![id.clone(), "wh_b".into(), "wh_c".into(), "wh_d".into()],
        start_ms: from - HOUR,
        end_ms: to + HOUR,
        duplicate_rate: 0.05,
        malformed_rate: 0.01,
        payload_bytes: 300,
        seed: 42,
    };
    let log = plan_records(&plan)?;
    stack.produce(&log.records).await?;
    let expected = log.expected(&id, from, to);
    let fmt =
        |ms: i64| chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default().format("%Y%m%d%H%M").to_string();
    let twitter = format!(
        "/1.1/account_activity/replay/webhooks/{id}/subscriptions/all.json?from_date={}&to_date={}",
        fmt(from),
        fmt(to)
    );
    let created = api.call(Method::POST, &twitter, None, &[]).await?.expect(202)?;
    let job_id = created["job_id"].as_str().unwrap_or_default().to_owned();
    let r = api.call(Method::POST, &path, Some(json!({"from": rfc3339(from), "to": rfc3339(to)})), &[]).await?;
    assert_eq!((r.status.as_u16(), r.error_code()), (409, Some("job_already_running")));
    assert_eq!(r.body["error"]["job_id"], job_id.as_str());
    let r = other.call(Method::GET, &format!("/v1/replays/{job_id}"), None, &[]).await?;
    assert_eq!(r.status.as_u16(), 404);

    let done = api.wait_for_end(&job_id, Duration::from_secs(120), |_| {}).await?;
    assert_eq!(done["state"], "COMPLETED", "{done}");
    assert_eq!(done["progress"]["events_delivered"], expected.len());
    assert_eq!(done["progress"]["slices_done"], 3);
    let stats = receiver.stats("me");
    let received: std::collections::HashSet<String> =
        stats.accepted.keys().filter(|k| !k.starts_with("replay-job-")).cloned().collect();
    assert_eq!(received, expected);
    assert_eq!(stats.repeats(), 0);
    assert_eq!(stats.signature_failures, 0);
    assert!(log.count(SeedKind::Duplicate) > 0 && done["progress"]["duplicates_skipped"].as_u64() > Some(0));
    let listed = api.list_jobs(&id).await?;
    assert_eq!(listed["replays"][0]["job_id"], job_id.as_str());

    // Cancel of an ended job leaves it as it was; a new job can start.
    let cancelled = api.cancel(&job_id).await?;
    assert_eq!(cancelled["state"], "COMPLETED");
    stack.cleanup().await;
    Ok(())
}
