//! A fault-test scenario: a private stack, a receiver with a registered
//! webhook, and a window of seeded events, driven by in-process workers.

use crate::{now_ms, record, TestStack, HOUR};
use replay_core::domain::ids::{EventTime, JobId, TenantId, WebhookId};
use replay_core::domain::job::JobView;
use replay_core::services::api::{create_tenant, ApiContext, CreateWebhook};
use replayctl::receiver::Receiver;
use replayctl::seed::SeedKind;
use std::collections::HashSet;
use std::time::Duration;

pub struct Scenario {
    pub stack: TestStack,
    pub api: ApiContext,
    pub receiver: Receiver,
    pub tenant: TenantId,
    pub webhook: WebhookId,
    pub from: i64,
    pub to: i64,
    /// The event ids of `webhook` in the window: what the receiver must get.
    pub expected: HashSet<String>,
}

/// A stack, a receiver with a registered webhook, and `events` of ours
/// (plus a third as many of another webhook) spread over `hours`.
pub async fn scenario(settings: &[(&str, &str)], events: i64, hours: i64) -> anyhow::Result<Scenario> {
    let mut stack = TestStack::new(2).await?;
    for (k, v) in settings {
        stack.set(k, v);
    }
    let api = stack.api().await?;
    let receiver = Receiver::start(0).await?;
    let tenant = create_tenant(&stack.store, "test-pepper", "acme").await?;
    let hook = api.create_webhook(&tenant.tenant_id, CreateWebhook { url: receiver.url("me") }).await?;
    receiver.register("me", hook.secret.as_deref().unwrap_or_default());
    let webhook = WebhookId(hook.id.as_str().to_owned());
    let from = (now_ms() - (hours + 2) * HOUR) / HOUR * HOUR;
    let to = from + hours * HOUR;
    let step = hours * HOUR / (events + events / 3);
    let records: Vec<_> = (0..events + events / 3)
        .map(|i| {
            let who = if i % 4 == 3 { "wh_other" } else { webhook.as_str() };
            record(from + i * step, who, &format!("ev-{i}"), SeedKind::Event)
        })
        .collect();
    stack.produce(&records).await?;
    let expected = records.iter().filter(|r| r.webhook_id == webhook.as_str()).map(|r| r.event_id.clone()).collect();
    Ok(Scenario { stack, api, receiver, tenant: tenant.tenant_id, webhook, from, to, expected })
}

impl Scenario {
    pub async fn start(&self) -> anyhow::Result<JobId> {
        let job =
            self.api.create_replay(&self.tenant, &self.webhook, EventTime(self.from), EventTime(self.to), None).await?;
        Ok(job.job_id)
    }

    /// The job's view, retried: some tests kill MySQL connections on purpose.
    pub async fn job(&self, id: &JobId) -> JobView {
        for _ in 0..50 {
            if let Ok(Some(view)) = self.stack.store.job_view(None, id).await {
                return view;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("job {id} cannot be read")
    }

    pub async fn run_until_ended(&self, id: &JobId, timeout: Duration) -> anyhow::Result<JobView> {
        let worker = self.stack.worker().await?;
        self.stack.drain_in_process(&worker, timeout, async || self.job(id).await.state.is_terminal()).await?;
        Ok(self.job(id).await)
    }

    pub fn received(&self) -> HashSet<String> {
        self.receiver.stats("me").accepted.keys().filter(|k| !k.starts_with("replay-job-")).cloned().collect()
    }
}
