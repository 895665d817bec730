//! A fault-test scenario: a deployed stack, a receiver with a registered
//! webhook, and a window of seeded events, driven through the API.

use crate::{now_ms, record, webhook_to, window, TestStack, HOUR, PEPPER};
use replay_client::{Client, Job, JobId, WebhookId};
use replay_core::services::api::create_tenant;
use replay_lab::receiver::Receiver;
use replay_lab::seed::{event_value, SeedKind};
use std::collections::HashSet;
use std::time::Duration;

pub struct Scenario {
    pub stack: TestStack,
    pub api: Client,
    pub receiver: Receiver,
    pub tenant: String,
    /// The tenant's API key (for `replayctl replay ...`).
    pub api_key: String,
    pub webhook: WebhookId,
    pub from: i64,
    pub to: i64,
    /// The event ids of `webhook` in the window: what the receiver must get.
    pub expected: HashSet<String>,
    /// The sweeper, every 2 s, as long as the scenario lives.
    pub sweeping: crate::Sweeping,
}

/// A deployed stack with `settings`, a receiver with a registered webhook, and
/// `events` of ours (plus a third as many of another webhook) spread over `hours`.
pub async fn scenario(settings: &[(&str, &str)], events: i64, hours: i64) -> anyhow::Result<Scenario> {
    keyed_scenario(settings, events, hours, |_| "test".into()).await
}

/// As `scenario`, each event of ours with `text(i)` as its tweet's text
/// (`/tweet_create_events/0/text` in the payload): a key to order by.
pub async fn keyed_scenario(
    settings: &[(&str, &str)],
    events: i64,
    hours: i64,
    text: impl Fn(i64) -> String,
) -> anyhow::Result<Scenario> {
    let mut stack = TestStack::new(2).await?;
    for (k, v) in settings {
        stack.set(k, v);
    }
    stack.deploy().await?;
    let sweeping = stack.keep_sweeping(Duration::from_secs(2));
    let tenant = create_tenant(&stack.store, PEPPER, "acme").await?;
    let api = stack.api(&tenant.api_key);
    let receiver = Receiver::start(0).await?;
    let webhook = webhook_to(&api, &receiver, "me").await?;
    let from = (now_ms() - (hours + 2) * HOUR) / HOUR * HOUR;
    let to = from + hours * HOUR;
    let step = hours * HOUR / (events + events / 3);
    let records: Vec<_> = (0..events + events / 3)
        .map(|i| {
            let who = if i % 4 == 3 { "wh_other" } else { webhook.as_str() };
            let mut r = record(from + i * step, who, &format!("ev-{i}"), SeedKind::Event);
            r.value = event_value(&r.event_id, who, r.timestamp, &text(i));
            r
        })
        .collect();
    stack.produce(&records).await?;
    let expected = records.iter().filter(|r| r.webhook_id == webhook.as_str()).map(|r| r.event_id.clone()).collect();
    let (tenant, api_key) = (tenant.tenant_id.to_string(), tenant.api_key.to_string());
    Ok(Scenario { stack, api, receiver, tenant, api_key, webhook, from, to, expected, sweeping })
}

impl Scenario {
    /// Starts a replay of the window through the API; the job id.
    pub async fn start(&self) -> anyhow::Result<JobId> {
        Ok(self.api.start_replay(&self.webhook, &window(self.from, self.to)).await?.job_id)
    }

    pub async fn job(&self, id: &JobId) -> anyhow::Result<Job> {
        Ok(self.api.job(id).await?)
    }

    pub async fn wait_for_end(&self, id: &JobId, timeout: Duration) -> anyhow::Result<Job> {
        self.stack.wait_for_end(&self.api, id, timeout).await
    }

    /// Slices of the job running or claimed to start: what holds a worker
    /// (a slot of the job's parallel cap).
    pub async fn busy_slices(&self, job: &JobId) -> anyhow::Result<i64> {
        let pool = sqlx::MySqlPool::connect(&self.stack.database_url).await?;
        let busy = sqlx::query_scalar(
            "SELECT COUNT(*) FROM replay_slices WHERE job_id = ? \
             AND (state = 'RUNNING' OR (state = 'PENDING' AND enqueued_at IS NOT NULL))",
        )
        .bind(job.as_str())
        .fetch_one(&pool)
        .await?;
        pool.close().await;
        Ok(busy)
    }

    pub fn received(&self) -> HashSet<String> {
        self.receiver.stats("me").received()
    }
}
