//! Races of the job ledger where they live: concurrent callers on MariaDB
//! through the `JobLedger` port, no stack deployed. Creates at a tenant's cap
//! with and without an `Idempotency-Key`, one key sent many times at once,
//! takes against a cancel, takes of several tenants against the worker pool,
//! a worker's end against the sweeper's, and the status event of a job whose
//! webhook was deleted once it ended.

use replay_core::adapters::http::HttpDeliverer;
use replay_core::adapters::kms::KmsKeys;
use replay_core::adapters::mysql::MySqlStore;
use replay_core::config::Settings;
use replay_core::domain::ids::{EventTime, JobId, TenantId, WebhookId};
use replay_core::domain::job::{Counters, SliceState};
use replay_core::error::Error;
use replay_core::ports::ledger::{Created, JobLedger, NewJob, NewSlice, SliceEnd, SliceTotals, Take};
use replay_core::services::api::create_tenant;
use replay_core::services::lifecycle::send_status_event;
use replay_core::services::secrets::StoreSigners;
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
    create_all_sliced(store, tenant, asks, 1).await
}

/// `create_all` for jobs of `n` slices of ten minutes.
async fn create_all_sliced(
    store: &MySqlStore,
    tenant: &TenantId,
    asks: Vec<Ask>,
    n: i64,
) -> Vec<Result<Created, Error>> {
    let from = EventTime((now_ms() - 5 * HOUR) / HOUR * HOUR);
    let to = EventTime(from.0 + n * 600_000);
    let slices: Vec<NewSlice> = (0..n)
        .map(|i| NewSlice {
            from: EventTime(from.0 + i * 600_000),
            to: EventTime(from.0 + (i + 1) * 600_000),
            planned: vec![(0, 0, 0)],
        })
        .collect();
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(asks.len()));
    let tasks: Vec<_> = asks
        .into_iter()
        .map(|ask| {
            let (store, tenant, slices, barrier) = (store.clone(), tenant.clone(), slices.clone(), barrier.clone());
            let ledger: Box<dyn JobLedger> = Box::new(store);
            tokio::spawn(async move {
                let selection = Selection { dry_run: ask.dry_run, ..Selection::default() };
                let job_id = JobId::generate();
                barrier.wait().await;
                ledger
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
                        target_webhook_id: None,
                        crc_check: false,
                        limits: Default::default(),
                        ordering_key: None,
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

    // A worker's settings, as a cold start reads them (the services' names are not used here).
    let env: Vec<(String, String)> = [
        ("DATABASE_URL", "mysql://unused"),
        ("KAFKA_BROKERS", "unused:9092"),
        ("SLICE_QUEUE_URL", "unused"),
        ("CHECKPOINT_TABLE", "unused"),
        ("API_KEY_PEPPER", "pepper"),
        ("WEBHOOK_SECRETS_KEY_ID", "unused"),
        ("DELIVERY_MAX_ATTEMPTS", "1"),
        ("DELIVERY_TIMEOUT_MS", "2000"),
        ("DEADLINE_MARGIN_MS", "2000"),
        ("WEBHOOK_ALLOW_LIST", RECEIVER_ALLOW_LIST),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let settings = Settings::from(&env)?;
    let deliverer = HttpDeliverer::new(settings.delivery.clone())?;
    // The secret is wiped with the webhook: nothing may ask for it.
    let keys = Box::new(KmsKeys::new(aws_sdk_kms::Client::new(&stack.aws), "never-asked"));
    let signers = StoreSigners { store: Box::new(store.clone()), keys };
    let deadline = Instant::now() + Duration::from_secs(30);
    send_status_event(store, &signers, &deliverer, &job, &settings.worker, deadline).await?;

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

/// Slices of `job` in `state`.
async fn slices_in(store: &MySqlStore, job: &JobId, state: &str) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar("SELECT COUNT(*) FROM replay_slices WHERE job_id = ? AND state = ?")
        .bind(job.as_str())
        .bind(state)
        .fetch_one(store.pool())
        .await?)
}

/// A new job of `n` slices on a webhook of its own, all of them claimed.
async fn claimed_job(store: &MySqlStore, tenant: &TenantId, n: i64) -> anyhow::Result<JobId> {
    let hook = webhook(store, tenant, &format!("http://127.0.0.1:38999/{}", unique("h"))).await?;
    let ask = Ask { webhook: hook, key: None, dry_run: false, cap: None };
    let created = create_all_sliced(store, tenant, vec![ask], n).await.remove(0)?;
    let job = job_of(&created).clone();
    let ledger: &dyn JobLedger = store;
    assert_eq!(ledger.claim_slices(&job, n as u32).await?.len(), n as usize);
    Ok(job)
}

#[tokio::test]
async fn no_slice_of_a_cancelled_job_is_taken_whatever_the_interleaving() -> anyhow::Result<()> {
    let stack = TestStack::new(1).await?;
    let store = &stack.store;
    let tenant = create_tenant(store, PEPPER, "acme").await?.tenant_id;
    for round in 0..5 {
        let job = claimed_job(store, &tenant, AT_ONCE as i64).await?;
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(AT_ONCE + 1));
        let takes: Vec<_> = (0..AT_ONCE)
            .map(|_| {
                let (ledger, barrier): (Box<dyn JobLedger>, _) = (Box::new(store.clone()), barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    ledger.take_slice(0, 0).await
                })
            })
            .collect();
        let ledger: &dyn JobLedger = store;
        barrier.wait().await;
        ledger.cancel_job(&tenant, &job).await?.expect("the job");
        let mut taken = 0;
        for take in takes {
            if let Take::Run { job_id, .. } = take.await?? {
                assert_eq!(job_id, job, "round {round}: only this job has slices");
                taken += 1;
            }
        }
        // Once the cancel has answered, nothing of the job is taken any more.
        assert!(!matches!(ledger.take_slice(0, 0).await?, Take::Run { job_id, .. } if job_id == job), "round {round}");
        assert_eq!(slices_in(store, &job, "RUNNING").await?, taken, "round {round}: each take started one slice");
        assert_eq!(slices_in(store, &job, "CANCELLED").await?, AT_ONCE as i64 - taken, "round {round}");
        assert_eq!(slices_in(store, &job, "PENDING").await?, 0, "round {round}");
    }
    stack.cleanup().await;
    Ok(())
}

/// Issue 21 item 3: more runnable slices than workers. Takes of three
/// tenants at once, each tenant under its own cap, never run more slices
/// than the pool (WORKER_POOL_SLICES); the rest wait (Defer, not Nothing)
/// until a slice ends.
#[tokio::test]
async fn concurrent_takes_of_several_tenants_never_run_more_slices_than_the_pool() -> anyhow::Result<()> {
    const POOL: u32 = 3;
    let stack = TestStack::new(1).await?;
    let store = &stack.store;
    let mut jobs = Vec::new();
    for name in ["a", "b", "c"] {
        let tenant = create_tenant(store, PEPPER, name).await?.tenant_id;
        // Enough that a tenant whose slices keep ending still has two to run at the end.
        jobs.push(claimed_job(store, &tenant, 6).await?);
    }
    let running = || async {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM replay_slices WHERE state = 'RUNNING'")
            .fetch_one(store.pool())
            .await
    };
    for round in 0..3 {
        let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(AT_ONCE));
        let takes: Vec<_> = (0..AT_ONCE)
            .map(|_| {
                let (ledger, barrier): (Box<dyn JobLedger>, _) = (Box::new(store.clone()), barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    // Each tenant may run 2: only the pool stops the third of three tenants.
                    ledger.take_slice(2, POOL).await
                })
            })
            .collect();
        let mut runs = 0;
        for take in takes {
            match take.await?? {
                Take::Run { .. } => runs += 1,
                Take::Defer => {}
                Take::Nothing => anyhow::bail!("round {round}: claimed slices wait, yet a take found nothing"),
            }
        }
        assert_eq!(running().await?, i64::from(POOL), "round {round}: the pool is full, never more");
        assert!(runs <= POOL as usize, "round {round}: {runs} slices taken");
        // One slice ends: exactly one more may run.
        sqlx::query("UPDATE replay_slices SET state = 'DONE' WHERE state = 'RUNNING' LIMIT 1")
            .execute(store.pool())
            .await?;
    }
    // Without the pool's cap, each tenant's own cap of 2 is what holds.
    let ledger: &dyn JobLedger = store;
    while let Take::Run { .. } = ledger.take_slice(2, 0).await? {}
    let by_tenant: Vec<i64> = sqlx::query_scalar(
        "SELECT COUNT(*) FROM replay_slices s JOIN replay_jobs j ON j.id = s.job_id \
         WHERE s.state = 'RUNNING' GROUP BY j.tenant_id",
    )
    .fetch_all(store.pool())
    .await?;
    assert!(by_tenant.iter().all(|&n| n == 2) && by_tenant.len() == 3, "{by_tenant:?}");
    stack.cleanup().await;
    Ok(())
}

#[tokio::test]
async fn a_workers_end_and_the_sweepers_end_of_one_slice_end_it_once() -> anyhow::Result<()> {
    let stack = TestStack::new(1).await?;
    let store = &stack.store;
    let tenant = create_tenant(store, PEPPER, "acme").await?.tenant_id;
    let ledger: &dyn JobLedger = store;
    for round in 0..5 {
        // Two slices, one at a time: the first is running, the second waits for it.
        let hook = webhook(store, &tenant, &format!("http://127.0.0.1:38999/{}", unique("h"))).await?;
        let ask = Ask { webhook: hook, key: None, dry_run: false, cap: None };
        let job = job_of(&create_all_sliced(store, &tenant, vec![ask], 2).await.remove(0)?).clone();
        assert_eq!(ledger.claim_slices(&job, 1).await?, [0]);
        assert!(matches!(ledger.take_slice(0, 0).await?, Take::Run { slice_index: 0, .. }));
        ledger.start_slice(&job, 0).await?;

        let counters = Counters { events_scanned: 5, events_matched: 5, events_delivered: 5, ..Counters::default() };
        let worker = {
            let (ledger, job): (Box<dyn JobLedger>, _) = (Box::new(store.clone()), job.clone());
            tokio::spawn(async move {
                let totals = SliceTotals { counters: &counters, tally: &Default::default() };
                ledger.end_slice(&job, 0, Some(1), SliceState::Done, Some(totals), 1).await
            })
        };
        let sweeper = {
            let (ledger, job): (Box<dyn JobLedger>, _) = (Box::new(store.clone()), job.clone());
            tokio::spawn(async move { ledger.end_slice(&job, 0, None, SliceState::Failed, None, 1).await })
        };
        let ends: Vec<SliceEnd> = vec![worker.await??, sweeper.await??];
        assert_eq!(ends.iter().filter(|e| e.ended).count(), 1, "round {round}: ended once: {ends:?}");
        let claimed: Vec<u32> = ends.iter().flat_map(|e| e.claimed.clone()).collect();
        assert_eq!(claimed, [1], "round {round}: the next slice claimed once: {ends:?}");
        assert!(ends.iter().all(|e| e.job_ended.is_none()), "round {round}: a slice is left");
        let done = slices_in(store, &job, "DONE").await?;
        assert_eq!(done + slices_in(store, &job, "FAILED").await?, 1, "round {round}");

        // The last slice ends the job, once.
        assert!(matches!(ledger.take_slice(0, 0).await?, Take::Run { slice_index: 1, .. }));
        let last = ledger.end_slice(&job, 1, Some(1), SliceState::Done, None, 1).await?;
        assert!(last.ended && last.job_ended.is_some(), "round {round}: {last:?}");
        let again = ledger.end_slice(&job, 1, None, SliceState::Failed, None, 1).await?;
        assert!(!again.ended, "round {round}: an ended slice stays as it ended");
        let view = ledger.job_view(None, &job).await?.expect("the job");
        assert_eq!(view.progress.counters.events_delivered, if done == 1 { 5 } else { 0 }, "round {round}");
    }
    stack.cleanup().await;
    Ok(())
}
