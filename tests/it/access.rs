//! Keys and what they may do, the audit trail, and webhooks that change or
//! go while jobs use them (docs/security.md, "Keys" and "The audit trail";
//! docs/api.md, "Change or delete a webhook"). Over HTTP through
//! LocalStack's API Gateway and the deployed API function; slices are not
//! worked on, so a started job stays active for as long as the test needs.

use replay_core::domain::apikey::{self, Scope};
use replay_core::services::api::{create_api_key, create_tenant, revoke_api_key};
use replay_integration_tests::replay_client::{ErrorCode, JobState, PauseRequest, RawReply};
use replay_integration_tests::*;
use reqwest::Method;
use serde_json::{json, Value};

fn code(r: &RawReply) -> (u16, Option<&str>) {
    (r.status, r.error_code())
}

fn key_id(api_key: &str) -> String {
    apikey::key_id(api_key).unwrap_or_default().to_owned()
}

/// `(actor, action, target)` of a tenant's audit rows, oldest first, read
/// with the operator CLI.
async fn audit_trail(stack: &TestStack, tenant: &str) -> anyhow::Result<Vec<(String, String, String)>> {
    let out = tokio::process::Command::new(repo_root().join("target/debug/replayctl"))
        .args(["--json", "audit", "--tenant", tenant, "--limit", "100"])
        .env("DATABASE_URL", &stack.database_url)
        .output()
        .await?;
    anyhow::ensure!(out.status.success(), "replayctl audit: {}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout)?;
    let mut rows: Vec<(String, String, String)> = report["entries"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            let text = |k: &str| e[k].as_str().unwrap_or_default().to_owned();
            assert!(e["at"].as_str().is_some_and(|at| at.ends_with('Z')), "{e}");
            assert_eq!(e["tenant_id"].as_str(), Some(tenant), "{e}");
            (text("actor"), text("action"), text("target"))
        })
        .collect();
    rows.reverse();
    Ok(rows)
}

#[tokio::test]
async fn read_only_keys_are_refused_every_write_and_every_write_is_audited() -> anyhow::Result<()> {
    let mut stack = TestStack::new(1).await?;
    stack.parameter("SliceProcessingEnabled", "false");
    stack.deploy().await?;
    let acme = create_tenant(&stack.store, PEPPER, "acme").await?;
    let tenant = acme.tenant_id.to_string();
    let full = stack.api(&acme.api_key);
    let read_key = create_api_key(&stack.store, PEPPER, &acme.tenant_id, Scope::Read).await?;
    let reader = full.with_key(&read_key);
    let hook = full.create_webhook("http://127.0.0.1:38999/hook").await?.id;
    let now = now_ms();
    let job = start(&full, &hook, now - 3 * HOUR, now - 2 * HOUR).await?;

    // Every read is open to the read-only key.
    assert_eq!(reader.webhook(&hook).await?.url, "http://127.0.0.1:38999/hook");
    assert_eq!(reader.jobs(&hook).await?.len(), 1);
    assert_eq!(reader.job(&job).await?.job_id, job);
    assert!(reader.failures(&job, None, None).await?.failures.is_empty());
    assert!(reader.openapi().await?["paths"].is_object());

    // Every write is not: 403 `forbidden`, and nothing changes.
    let window = json!({"from": rfc3339(now - 3 * HOUR), "to": rfc3339(now - 2 * HOUR)});
    let twitter = format!(
        "/1.1/account_activity/replay/webhooks/{hook}/subscriptions/all.json?from_date=202601010000&to_date=202601010100"
    );
    let writes = [
        (Method::POST, "/v1/webhooks".to_owned(), Some(json!({"url": "http://127.0.0.1:38999/two"}))),
        (Method::PATCH, format!("/v1/webhooks/{hook}"), Some(json!({"url": "http://127.0.0.1:38999/moved"}))),
        (Method::DELETE, format!("/v1/webhooks/{hook}"), None),
        (Method::POST, format!("/v1/webhooks/{hook}/replays"), Some(window.clone())),
        (Method::DELETE, format!("/v1/replays/{job}"), None),
        (Method::POST, format!("/v1/replays/{job}/pause"), None),
        (Method::POST, format!("/v1/replays/{job}/resume"), None),
        (Method::POST, format!("/v1/replays/{job}/retry"), None),
        (Method::POST, twitter, None),
    ];
    let documented: Value = serde_json::from_str(&std::fs::read_to_string(repo_root().join("docs/openapi.json"))?)?;
    let mut write_operations = 0;
    for (path, ops) in documented["paths"].as_object().into_iter().flatten() {
        for (method, op) in ops.as_object().into_iter().flatten() {
            if method != "get" {
                write_operations += 1;
                assert!(!op["responses"]["403"].is_null(), "{method} {path} documents 403");
            }
        }
    }
    assert_eq!(write_operations, writes.len(), "every write operation of the document is tried");
    for (method, path, body) in &writes {
        let r = reader.raw(method.clone(), path, body.as_ref(), &[("Idempotency-Key", "k-1")]).await?;
        assert_eq!(code(&r), (403, Some("forbidden")), "{method} {path}: {}", r.body);
    }
    assert_eq!(full.job(&job).await?.state, JobState::Open, "the job was not cancelled");
    assert_eq!(full.webhook(&hook).await?.url, "http://127.0.0.1:38999/hook", "the webhook did not move");
    assert_eq!(full.jobs(&hook).await?.len(), 1, "no job was started");

    let full_key = key_id(&acme.api_key);
    let first_key = full_key.clone();
    let read_key_id = key_id(&read_key);
    let op = |actor: &str, action: &str, target: &str| (actor.to_owned(), action.to_owned(), target.to_owned());
    let mut expected = vec![
        op("operator", "tenant.create", &tenant),
        op("operator", "key.create", &first_key),
        op("operator", "key.create", &read_key_id),
        op(&full_key, "webhook.create", hook.as_str()),
        op(&full_key, "replay.create", job.as_str()),
    ];
    assert_eq!(audit_trail(&stack, &tenant).await?, expected, "refused writes leave no row");

    // The writes of a full key, each with its row.
    full.pause(&job, &PauseRequest { reason: Some("maintenance".into()), expires_in_seconds: None }).await?;
    expected.push(op(&full_key, "replay.pause", job.as_str()));
    full.resume(&job).await?;
    expected.push(op(&full_key, "replay.resume", job.as_str()));
    full.cancel(&job).await?;
    expected.push(op(&full_key, "replay.cancel", job.as_str()));
    full.update_webhook(&hook, "http://127.0.0.1:38999/moved").await?;
    expected.push(op(&full_key, "webhook.update", hook.as_str()));
    full.delete_webhook(&hook).await?;
    expected.push(op(&full_key, "webhook.delete", hook.as_str()));
    assert!(revoke_api_key(&stack.store, &read_key_id).await?);
    expected.push(op("operator", "key.revoke", &read_key_id));
    assert_eq!(audit_trail(&stack, &tenant).await?, expected);
    let r = reader.raw(Method::GET, &format!("/v1/replays/{job}"), None, &[]).await?;
    assert_eq!(code(&r), (401, Some("unauthorized")), "a revoked read-only key reads nothing");
    stack.cleanup().await;
    Ok(())
}

#[tokio::test]
async fn a_webhook_changes_or_goes_only_when_no_job_of_it_is_active() -> anyhow::Result<()> {
    let mut stack = TestStack::new(1).await?;
    stack.parameter("SliceProcessingEnabled", "false");
    stack.deploy().await?;
    let acme = create_tenant(&stack.store, PEPPER, "acme").await?;
    let api = stack.api(&acme.api_key);
    let hook = api.create_webhook("http://127.0.0.1:38999/hook").await?.id;
    let now = now_ms();
    let job = start(&api, &hook, now - 3 * HOUR, now - 2 * HOUR).await?;

    // While the job is active: 409 naming it, and the webhook is as it was.
    let err = api.update_webhook(&hook, "http://127.0.0.1:38999/moved").await.expect_err("busy");
    assert_eq!((err.code(), err.job_id()), (Some(ErrorCode::WebhookBusy), Some(&job)), "{err}");
    let err = api.delete_webhook(&hook).await.expect_err("busy");
    assert_eq!((err.code(), err.job_id()), (Some(ErrorCode::WebhookBusy), Some(&job)), "{err}");
    assert_eq!(api.webhook(&hook).await?.url, "http://127.0.0.1:38999/hook");
    // A new URL is checked as at creation, busy or not.
    let r =
        api.raw(Method::PATCH, &format!("/v1/webhooks/{hook}"), Some(&json!({"url": "http://10.0.0.1/"})), &[]).await?;
    assert_eq!(code(&r), (400, Some("invalid_request")), "{}", r.body);

    // Cancelled, it may move; then go.
    api.cancel(&job).await?;
    let moved = api.update_webhook(&hook, "http://127.0.0.1:38999/moved").await?;
    assert_eq!(moved.url, "http://127.0.0.1:38999/moved");
    assert_eq!(api.webhook(&hook).await?.url, moved.url);
    api.delete_webhook(&hook).await?;
    for (method, path) in [
        (Method::GET, format!("/v1/webhooks/{hook}")),
        (Method::GET, format!("/v1/webhooks/{hook}/replays")),
        (Method::DELETE, format!("/v1/webhooks/{hook}")),
    ] {
        let r = api.raw(method.clone(), &path, None, &[]).await?;
        assert_eq!(code(&r), (404, Some("not_found")), "{method} {path}");
    }
    let err = api.start_replay(&hook, &window(now - 3 * HOUR, now - 2 * HOUR)).await.expect_err("gone");
    assert_eq!(err.code(), Some(ErrorCode::NotFound), "{err}");
    assert_eq!(api.job(&job).await?.state, JobState::Cancelled, "its jobs stay readable");
    let secrets: (Option<String>, Option<String>, Option<String>) =
        sqlx::query_as("SELECT secret, secret_sealed, previous_secret_sealed FROM webhooks WHERE id = ?")
            .bind(hook.as_str())
            .fetch_one(stack.store.pool())
            .await?;
    assert_eq!(secrets, (None, None, None), "a deleted webhook's secret is wiped, sealed forms too");

    // A delete racing a new job: exactly one of them wins, every time.
    for round in 0..8 {
        let hook = api.create_webhook("http://127.0.0.1:38999/race").await?.id;
        let request = window(now - 3 * HOUR, now - 2 * HOUR);
        let (deleted, started) = tokio::join!(api.delete_webhook(&hook), api.start_replay(&hook, &request));
        match (deleted, started) {
            (Ok(()), Err(e)) => assert_eq!(e.code(), Some(ErrorCode::NotFound), "round {round}: {e}"),
            (Err(e), Ok(accepted)) => {
                assert_eq!((e.code(), e.job_id()), (Some(ErrorCode::WebhookBusy), Some(&accepted.job_id)), "{e}");
                assert_eq!(api.webhook(&hook).await?.id, hook, "round {round}: still there");
            }
            (deleted, started) => panic!("round {round}: both or neither: {deleted:?} / {started:?}"),
        }
    }
    stack.cleanup().await;
    Ok(())
}
