//! Tenant isolation on every endpoint and list, every error code, SSRF attempts,
//! Twitter dates, idempotent create, one active job, rate limit, key
//! revocation, 503 while MySQL is down. All over HTTP through LocalStack's
//! API Gateway and the deployed API function.

use replay_core::services::api::create_tenant;
use replay_integration_tests::replay_client::{
    ClientError, CreateWebhookRequest, ErrorCode, JobQuery, JobState, RawReply, WebhookId,
};
use replay_integration_tests::*;
use reqwest::Method;
use serde_json::json;

fn code(r: &RawReply) -> (u16, Option<&str>) {
    (r.status, r.error_code())
}

#[tokio::test]
async fn tenants_see_only_their_own_webhooks_and_jobs() -> anyhow::Result<()> {
    let mut stack = TestStack::new(1).await?;
    // No slice is worked on: jobs stay active, so the one-active-job rule can be seen.
    stack.set("RATE_LIMIT_REPLAYS", "2").parameter("SliceProcessingEnabled", "false");
    stack.deploy().await?;
    let acme = create_tenant(&stack.store, PEPPER, "acme").await?;
    let globex = create_tenant(&stack.store, PEPPER, "globex").await?;
    let api = stack.api(&acme.api_key);
    let other = api.with_key(&globex.api_key);
    let id = api.create_webhook("http://127.0.0.1:38999/hook").await?.id;
    let now = now_ms();
    let window = json!({"from": rfc3339(now - 3 * HOUR), "to": rfc3339(now - 2 * HOUR)});
    let job_id = start(&api, &id, now - 3 * HOUR, now - 2 * HOUR).await?;
    let twitter = format!(
        "/1.1/account_activity/replay/webhooks/{id}/subscriptions/all.json?from_date=202601010000&to_date=202601010100"
    );

    // Another tenant's ids answer 404, never 403, never data.
    for (method, path, body) in [
        (Method::GET, format!("/v1/webhooks/{id}"), None),
        (Method::PATCH, format!("/v1/webhooks/{id}"), Some(&json!({"url": "http://127.0.0.1:38999/other"}))),
        (Method::DELETE, format!("/v1/webhooks/{id}"), None),
        (Method::POST, format!("/v1/webhooks/{id}/replays"), Some(&window)),
        (Method::GET, format!("/v1/webhooks/{id}/replays"), None),
        (Method::GET, format!("/v1/replays/{job_id}"), None),
        (Method::DELETE, format!("/v1/replays/{job_id}"), None),
        (Method::POST, twitter.clone(), None),
    ] {
        let r = other.raw(method.clone(), &path, body, &[]).await?;
        assert_eq!(code(&r), (404, Some("not_found")), "{method} {path}: {}", r.body);
        assert!(r.body.get("url").is_none() && r.body.get("secret").is_none() && r.body.get("progress").is_none());
    }

    // Lists show a tenant its own webhooks only, page by page, in id order.
    let mut mine = vec![id.to_string()];
    for n in 0..4 {
        let extra = CreateWebhookRequest {
            id: Some(format!("acme-{n}")),
            ..CreateWebhookRequest::new("http://127.0.0.1:38999/hook")
        };
        mine.push(api.register_webhook(&extra).await?.id.to_string());
    }
    other.create_webhook("http://127.0.0.1:38999/theirs").await?;
    mine.sort();
    let (mut paged, mut cursor, mut pages) = (Vec::new(), None::<String>, 0);
    loop {
        let page = api.webhooks(cursor.as_deref(), Some(2)).await?;
        assert!(page.webhooks.len() <= 2 && page.webhooks.iter().all(|w| w.url.ends_with("/hook")));
        paged.extend(page.webhooks.into_iter().map(|w| w.id.to_string()));
        pages += 1;
        let Some(next) = page.next_cursor else { break };
        cursor = Some(next);
    }
    assert_eq!((paged, pages), (mine.clone(), 3), "5 webhooks, 2 a page");
    let all: Vec<String> = api.all_webhooks().await?.into_iter().map(|w| w.id.to_string()).collect();
    assert_eq!(all, mine);
    assert_eq!(other.all_webhooks().await?.len(), 1, "the other tenant sees its own only");
    for bad in ["/v1/webhooks?limit=0", "/v1/webhooks?limit=1001", "/v1/webhooks?cursor=bm90IGFuIGlkIQ"] {
        let r = api.raw(Method::GET, bad, None, &[]).await?;
        let expected = if bad.contains("cursor") { "invalid_cursor" } else { "invalid_request" };
        assert_eq!(code(&r), (400, Some(expected)), "{bad}: {}", r.body);
    }

    // Job lists: the tenant's, newest first, by state and by webhook, page by page.
    let theirs = other.all_webhooks().await?.remove(0).id;
    start(&other, &theirs, now - 3 * HOUR, now - 2 * HOUR).await?;
    let mut ours = vec![job_id.clone()];
    for n in 0..4 {
        ours.push(start(&api, &WebhookId::from(format!("acme-{n}").as_str()), now - 3 * HOUR, now - 2 * HOUR).await?);
    }
    let cancelled = [ours[1].clone(), ours[2].clone()];
    for job in &cancelled {
        api.cancel(job).await?;
    }
    let everything = JobQuery::default();
    let (mut paged, mut cursor, mut pages) = (Vec::new(), None::<String>, 0);
    loop {
        let page = api.replays(&everything, cursor.as_deref(), Some(2)).await?;
        assert!(page.replays.len() <= 2);
        paged.extend(page.replays);
        pages += 1;
        let Some(next) = page.next_cursor else { break };
        cursor = Some(next);
    }
    let mut newest_first = paged.clone();
    newest_first.sort_by(|a, b| (&b.created_at, b.job_id.as_str()).cmp(&(&a.created_at, a.job_id.as_str())));
    let listed: Vec<_> = paged.iter().map(|j| j.job_id.clone()).collect();
    assert_eq!(listed, newest_first.iter().map(|j| j.job_id.clone()).collect::<Vec<_>>(), "newest first");
    let mut expected = ours.clone();
    expected.sort();
    let mut sorted = listed.clone();
    sorted.sort();
    assert_eq!((sorted, pages), (expected, 3), "the tenant's 5 jobs, 2 a page, none of the other tenant's");
    let ended = JobQuery { webhook: None, states: vec![JobState::Cancelled] };
    let mut ended: Vec<_> = api.all_replays(&ended).await?.into_iter().map(|j| j.job_id).collect();
    ended.sort();
    let mut want = cancelled.to_vec();
    want.sort();
    assert_eq!(ended, want, "state=CANCELLED");
    let active = JobQuery { webhook: None, states: vec![JobState::Open, JobState::Started, JobState::Ongoing] };
    assert_eq!(api.all_replays(&active).await?.len(), 3, "state=OPEN,STARTED,ONGOING");
    let one = JobQuery { webhook: Some(WebhookId::from("acme-0")), states: Vec::new() };
    let listed: Vec<_> = api.all_replays(&one).await?.into_iter().map(|j| j.job_id).collect();
    assert_eq!(listed, vec![ours[1].clone()], "one webhook's");
    assert_eq!(other.all_replays(&everything).await?.len(), 1, "the other tenant sees its own only");
    let out = tokio::process::Command::new(repo_root().join("target/debug/replayctl"))
        .args(["--json", "replay", "list", "--state", "cancelled", "--all"])
        .env("REPLAY_API_URL", &stack.deployed().api_url)
        .env("REPLAY_API_KEY", &acme.api_key)
        .output()
        .await?;
    anyhow::ensure!(out.status.success(), "replayctl replay list: {}", String::from_utf8_lossy(&out.stderr));
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let mut by_cli: Vec<_> = printed["replays"].as_array().into_iter().flatten().map(|j| j["job_id"].clone()).collect();
    by_cli.sort_by_key(|id| id.to_string());
    assert_eq!(by_cli, want.iter().map(|id| json!(id.as_str())).collect::<Vec<_>>(), "replayctl replay list --state");
    let webhook_cursor = api.webhooks(None, Some(1)).await?.next_cursor.unwrap_or_default();
    for (bad, expected) in [
        ("/v1/replays?state=DONE".to_owned(), "invalid_request"),
        ("/v1/replays?limit=101".to_owned(), "invalid_request"),
        (format!("/v1/replays?cursor={webhook_cursor}"), "invalid_cursor"),
        (format!("/v1/webhooks/acme-0/replays?cursor={webhook_cursor}"), "invalid_cursor"),
    ] {
        let r = api.raw(Method::GET, &bad, None, &[]).await?;
        assert_eq!(code(&r), (400, Some(expected)), "{bad}: {}", r.body);
    }

    // 401: no key, a malformed key, a wrong key, a revoked key; on unknown paths too.
    let anonymous = api.with_key("");
    for (client, label) in [
        (&anonymous, "none"),
        (&api.with_key("nonsense"), "malformed"),
        (&api.with_key("rk_0123456789abcdef_x"), "wrong"),
    ] {
        let r = client.raw(Method::GET, &format!("/v1/webhooks/{id}"), None, &[]).await?;
        assert_eq!(code(&r), (401, Some("unauthorized")), "{label}");
    }
    assert_eq!(code(&anonymous.raw(Method::GET, "/v1/nothing", None, &[]).await?), (401, Some("unauthorized")));
    let second_key = replay_core::services::api::create_api_key(
        &stack.store,
        PEPPER,
        &acme.tenant_id,
        replay_core::domain::apikey::Scope::Full,
    )
    .await?;
    let rotated = api.with_key(&second_key);
    assert_eq!(rotated.webhook(&id).await?.id, id, "two keys work at once");
    let key_id = replay_core::domain::apikey::key_id(&acme.api_key).unwrap_or_default().to_owned();
    assert!(replay_core::services::api::revoke_api_key(&stack.store, &key_id).await?);
    assert_eq!(
        code(&api.raw(Method::GET, &format!("/v1/webhooks/{id}"), None, &[]).await?),
        (401, Some("unauthorized"))
    );
    let api = rotated;

    // 404 / 405 / 413 / 409.
    assert_eq!(code(&api.raw(Method::GET, "/v1/nothing", None, &[]).await?), (404, Some("not_found")));
    assert_eq!(code(&api.raw(Method::GET, "/v1/replays/job_missing", None, &[]).await?), (404, Some("not_found")));
    assert_eq!(
        code(&api.raw(Method::PUT, &format!("/v1/webhooks/{id}"), None, &[]).await?),
        (405, Some("method_not_allowed"))
    );
    let huge = json!({"url": format!("https://example.com/{}", "a".repeat(70_000))});
    assert_eq!(code(&api.raw(Method::POST, "/v1/webhooks", Some(&huge), &[]).await?), (413, Some("payload_too_large")));
    let r = api.raw(Method::POST, &format!("/v1/webhooks/{id}/replays"), Some(&window), &[]).await?;
    assert_eq!(code(&r), (409, Some("job_already_running")));
    assert_eq!(r.body["error"]["job_id"], job_id.as_str());

    // 400s: dates in both forms, ranges, strict JSON.
    let replays = format!("/v1/webhooks/{id}/replays");
    for (body, expected) in [
        (json!({"from": "2026-13-01T00:00:00Z", "to": rfc3339(now - HOUR)}), "invalid_date"),
        (json!({"from": 5, "to": rfc3339(now - HOUR)}), "invalid_request"),
        (json!({"from": rfc3339(now - HOUR)}), "invalid_request"),
        (json!({"from": rfc3339(now - HOUR), "to": rfc3339(now - HOUR)}), "invalid_range"),
        (json!({"from": rfc3339(now - 121 * HOUR), "to": rfc3339(now - HOUR)}), "range_too_old"),
    ] {
        let r = api.raw(Method::POST, &replays, Some(&body), &[]).await?;
        assert_eq!(code(&r), (400, Some(expected)), "{body}");
    }
    let base = format!("/1.1/account_activity/replay/webhooks/{id}/subscriptions/all.json");
    for (query, expected) in [
        ("from_date=202611011200", "invalid_request"),
        ("from_date=2026110112&to_date=202611011300", "invalid_date"),
        ("from_date=202613011200&to_date=202611011300", "invalid_date"),
        ("from_date=202602301200&to_date=202611011300", "invalid_date"),
        ("from_date=202611011260&to_date=202611011300", "invalid_date"),
    ] {
        let r = api.raw(Method::POST, &format!("{base}?{query}"), None, &[]).await?;
        assert_eq!(code(&r), (400, Some(expected)), "{query}");
    }

    // Idempotency: same key + body -> same job; same key + other body -> 400.
    api.cancel(&job_id).await?;
    let request = replay_integration_tests::window(now - 3 * HOUR, now - 2 * HOUR);
    let first = api.start_replay_with_key(&id, &request, "retry-1").await?;
    let again = api.start_replay_with_key(&id, &request, "retry-1").await?;
    assert_eq!(first.job_id, again.job_id);
    let different = replay_integration_tests::window(now - 4 * HOUR, now - 2 * HOUR);
    let err = api.start_replay_with_key(&id, &different, "retry-1").await.expect_err("the key is taken");
    assert_eq!(err.code(), Some(ErrorCode::InvalidRequest));

    // Rate limit: 2 per window here (the first job and the idempotent one).
    api.cancel(&first.job_id).await?;
    let r = api.raw(Method::POST, &replays, Some(&window), &[]).await?;
    assert_eq!(code(&r), (429, Some("rate_limited")), "{}", r.body);
    let retry_after: u64 = r.retry_after.as_deref().unwrap_or("0").parse()?;
    assert!(retry_after > 0 && retry_after <= 900, "{retry_after}");

    // The OpenAPI document is served without a key.
    let doc = anonymous.openapi().await?;
    assert_eq!(doc, serde_json::to_value(replay_integration_tests::replay_types::openapi::document())?);
    // The client does not retry a 429 whose Retry-After is longer than its policy allows.
    let err = api.start_replay(&id, &request).await.expect_err("rate limited");
    assert!(matches!(err, ClientError::Api { status: 429, retry_after: Some(_), .. }), "{err:?}");
    stack.cleanup().await;
    Ok(())
}

#[tokio::test]
async fn the_api_answers_503_json_while_mysql_is_down() -> anyhow::Result<()> {
    let mut stack = TestStack::new(1).await?;
    let acme = create_tenant(&stack.store, PEPPER, "acme").await?;
    // Nothing listens there: every query fails to connect.
    stack.spec.database_url = "mysql://replay:replay@127.0.0.1:1/nothing".into();
    stack.deploy().await?;
    let api = stack.api(&acme.api_key);
    let r = api.raw(Method::POST, "/v1/webhooks", Some(&json!({"url": "http://127.0.0.1:38999/x"})), &[]).await?;
    assert_eq!(code(&r), (503, Some("unavailable")), "{}", r.body);
    assert!(r.retry_after.is_some());
    let text = r.body.to_string();
    assert!(!text.contains("127.0.0.1:1") && !text.contains("mysql"), "no internals leak: {text}");
    let webhooks: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM webhooks").fetch_one(stack.store.pool()).await?;
    assert_eq!(webhooks, 0, "nothing partial was written");
    stack.cleanup().await;
    Ok(())
}
