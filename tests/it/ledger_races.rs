//! Races of the job ledger where they live: concurrent callers on MariaDB,
//! no stack deployed. Creates at a tenant's cap with and without an
//! `Idempotency-Key`, one key sent many times at once, and the status event
//! of a job whose webhook was deleted once it ended.

use replay_core::adapters::http::HttpDeliverer;
use replay_core::adapters::kms::KmsKeys;
use replay_core::adapters::mysql::{Created, MySqlStore, NewJob, NewSlice};
use replay_core::config::DeliveryConfig;
use replay_core::domain::ids::{EventTime, JobId, TenantId, WebhookId};
use replay_core::domain::webhook_url::UrlPolicy;
use replay_core::error::Error;
use replay_core::services::api::create_tenant;
use replay_core::services::lifecycle::send_status_event;
use replay_integration_tests::replay_lab::receiver::{Receiver, RECEIVER_ALLOW_LIST};
use replay_integration_tests::replay_types::Selection;
use replay_integration_tests::*;
use std::time::{Duration, Instant};

/// Concurrent creates: enough to overlap on two cores, few enough for the pool.
const AT_ONCE: usize = 8;

async fn webhook(store: &MySqlStore, tenant: &TenantId, url: &str) -> anyhow::Result<WebhookId> {
    let id = WebhookId::generate();
    // The sealed secret is never opened here.
    store.insert_webhook(tenant, &id, url, "sealed-secret-not-opened").await?;
    Ok(id)
}

/// What one create of the race asks for.
struct Ask {
    webhook: WebhookId,
    key: Option<String>,
    dry_run: bool,
    cap: Option<u32>,
}

/// Sends every ask at the same moment, each in a task of its own.
async fn create_all(store: &MySqlStore, tenant: &TenantId, asks: Vec<Ask>) -> Vec<Result<Created, Error>> {
    let from = EventTime((now_ms() - 5 * HOUR) / HOUR * HOUR);
    let to = EventTime(from.0 + HOUR);
    let slices = vec![NewSlice { from, to, planned: vec![(0, 0, 0)] }];
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(asks.len()));
    let tasks: Vec<_> = asks
        .into_iter()
        .map(|ask| {
            let (store, tenant, slices, barrier) = (store.clone(), tenant.clone(), slices.clone(), barrier.clone());
            tokio::spawn(async move {
                let selection = Selection { dry_run: ask.dry_run, ..Selection::default() };
                let job_id = JobId::generate();
                barrier.wait().await;
                store
                    .create_job(NewJob {
                        id: &job_id,
                        tenant_id: &tenant,
                        webhook_id: &ask.webhook,
                        from,
                        to,
                        partitions: &[0],
                        slices: &slices,
                        idempotency_key: ask.key.as_deref(),
                        // The same request each time: window and selection.
                        request_hash: [ask.dry_run as u8; 32],
                        selection: Some(&selection),
                        retry_of: None,
                        max_active_jobs: ask.cap,
                    })
                    .await
            })
        })
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.expect("create task panicked"));
    }
    results
}

fn job_of(created: &Created) -> &JobId {
    match created {
        Created::New(job) | Created::Existing(job) => &job.job_id,
    }
}

#[tokio::test]
async fn a_tenants_cap_holds_for_concurrent_creates_with_and_without_idempotency_keys() -> anyhow::Result<()> {
    let stack = TestStack::new(1).await?;
    let store = &stack.store;
    for with_keys in [true, false] {
        let tenant = create_tenant(store, PEPPER, &format!("capped-{with_keys}")).await?.tenant_id;
        let mut asks = Vec::new();
        for i in 0..AT_ONCE {
            let hook = webhook(store, &tenant, &format!("http://127.0.0.1:38999/h{i}")).await?;
            let key = with_keys.then(|| format!("key-{i}"));
            asks.push(Ask { webhook: hook, key, dry_run: false, cap: Some(3) });
        }
        let results = create_all(store, &tenant, asks).await;
        let created = results.iter().filter(|r| matches!(r, Ok(Created::New(_)))).count();
        let refused = results.iter().filter(|r| matches!(r, Err(Error::TooManyActiveJobs { limit: 3 }))).count();
        assert_eq!((created, refused), (3, AT_ONCE - 3), "keys: {with_keys}; {results:?}");
        let active: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM replay_jobs WHERE tenant_id = ?")
            .bind(tenant.as_str())
            .fetch_one(store.pool())
            .await?;
        assert_eq!(active, 3, "keys: {with_keys}: jobs recorded");
    }
    stack.cleanup().await;
    Ok(())
}

#[tokio::test]
async fn one_idempotency_key_sent_many_times_at_once_gets_one_job_for_all() -> anyhow::Result<()> {
    let stack = TestStack::new(1).await?;
    let store = &stack.store;
    let tenant = create_tenant(store, PEPPER, "acme").await?.tenant_id;
    // A real run (it holds the webhook's one active job) and a dry run (it does not).
    for dry_run in [false, true] {
        let hook = webhook(store, &tenant, &format!("http://127.0.0.1:38999/{dry_run}")).await?;
        let asks = (0..AT_ONCE)
            .map(|_| Ask { webhook: hook.clone(), key: Some("retry-me".into()), dry_run, cap: Some(20) })
            .collect();
        let results = create_all(store, &tenant, asks).await;
        let jobs: Vec<&JobId> = results.iter().filter_map(|r| r.as_ref().ok()).map(job_of).collect();
        assert_eq!(jobs.len(), AT_ONCE, "dry run: {dry_run}: every request answered with the job: {results:?}");
        assert!(jobs.iter().all(|j| *j == jobs[0]), "dry run: {dry_run}: one job: {jobs:?}");
        let new = results.iter().filter(|r| matches!(r, Ok(Created::New(_)))).count();
        assert_eq!(new, 1, "dry run: {dry_run}");
    }
    stack.cleanup().await;
    Ok(())
}

#[tokio::test]
async fn the_status_event_of_a_job_whose_webhook_was_deleted_is_done_with() -> anyhow::Result<()> {
    let stack = TestStack::new(1).await?;
    let store = &stack.store;
    let receiver = Receiver::start(0).await?;
    let tenant = create_tenant(store, PEPPER, "acme").await?.tenant_id;
    let hook = webhook(store, &tenant, &receiver.url("gone")).await?;
    let results =
        create_all(store, &tenant, vec![Ask { webhook: hook.clone(), key: None, dry_run: false, cap: None }]).await;
    let job = job_of(results[0].as_ref().map_err(|e| anyhow::anyhow!("{e}"))?).clone();
    // Cancelled before any slice started: the job has ended, so the webhook may go.
    store.cancel_job(&tenant, &job).await?;
    store.delete_webhook(&tenant, &hook).await?;

    let deliverer = HttpDeliverer::new(DeliveryConfig {
        concurrency: 1,
        request_timeout: Duration::from_secs(2),
        max_attempts: 1,
        backoff_base: Duration::from_millis(10),
        backoff_max: Duration::from_millis(10),
        retry_after_max: Duration::from_secs(1),
        url_policy: UrlPolicy::parse(RECEIVER_ALLOW_LIST).map_err(anyhow::Error::msg)?,
        dns_server: None,
    })?;
    let keys = KmsKeys::new(aws_sdk_kms::Client::new(&stack.aws), "never-asked");
    let deadline = Instant::now() + Duration::from_secs(30);
    send_status_event(store, &deliverer, &keys, &job, deadline, Duration::from_secs(2)).await?;

    let sent: Option<String> = sqlx::query_scalar("SELECT CAST(status_sent_at AS CHAR) FROM replay_jobs WHERE id = ?")
        .bind(job.as_str())
        .fetch_one(store.pool())
        .await?;
    assert!(sent.is_some(), "recorded as done with, so the sweeper does not queue it again");
    assert!(!store.claim_status_event(&job, 10).await?, "nothing left to send");
    assert_eq!(receiver.stats("gone").requests, 0);
    stack.cleanup().await;
    Ok(())
}
