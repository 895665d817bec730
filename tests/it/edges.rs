//! Windows with nothing to deliver still complete, with correct counts.

use replay_core::domain::ids::{EventTime, WebhookId};
use replay_core::domain::job::JobState;
use replay_core::services::api::{create_tenant, CreateWebhook};
use replay_integration_tests::replayctl::receiver::Receiver;
use replay_integration_tests::replayctl::seed::SeedKind;
use replay_integration_tests::*;
use std::time::Duration;

#[tokio::test]
async fn empty_foreign_and_past_the_end_windows_complete() -> anyhow::Result<()> {
    let stack = TestStack::new(1).await?;
    let api = stack.api().await?;
    let worker = stack.worker().await?;
    let receiver = Receiver::start(0).await?;
    let tenant = create_tenant(&stack.store, "test-pepper", "acme").await?;
    let hook = api.create_webhook(&tenant.tenant_id, CreateWebhook { url: receiver.url("me") }).await?;
    receiver.register("me", hook.secret.as_deref().unwrap_or_default());
    let me = WebhookId(hook.id.as_str().to_owned());

    let base = (now_ms() - 20 * HOUR) / HOUR * HOUR;
    // Hour 0: our events; hour 2: only another webhook's; the log ends at hour 3.
    let mut records = Vec::new();
    for i in 0..20 {
        records.push(record(base + i * 60_000, me.as_str(), &format!("mine-{i}"), SeedKind::Event));
    }
    for i in 0..30 {
        records.push(record(base + 2 * HOUR + i * 60_000, "wh_someone_else", &format!("theirs-{i}"), SeedKind::Event));
    }
    stack.produce(&records).await?;

    // (window, expected scanned)
    let cases = [
        ("empty window", base + HOUR, base + 2 * HOUR, 0u64),
        ("no events for this webhook", base + 2 * HOUR, base + 3 * HOUR, 30),
        ("beyond the log end", base + 5 * HOUR, base + 7 * HOUR, 0),
    ];
    for (n, (name, from, to, scanned)) in cases.into_iter().enumerate() {
        let job = api.create_replay(&tenant.tenant_id, &me, EventTime(from), EventTime(to), None).await?;
        stack
            .drain_in_process(&worker, Duration::from_secs(60), async || {
                receiver.stats("me").status_events.len() == n + 1
            })
            .await?;
        let view = stack.store.job_view(None, &job.job_id).await?.expect("job");
        assert_eq!(view.state, JobState::Completed, "{name}");
        let c = view.progress.counters;
        assert_eq!(c.events_scanned, scanned, "{name}");
        assert_eq!((c.events_matched, c.events_delivered, c.malformed), (0, 0, 0), "{name}");
        assert_eq!(view.progress.slices_done, view.progress.slices_total, "{name}");
        let status = &receiver.stats("me").status_events[n]["replay_job_status"];
        assert_eq!(status["job_state"], "Complete", "{name}");
        assert_eq!(status["counts"]["events_scanned"], scanned, "{name}");
    }
    assert_eq!(receiver.stats("me").unique(), 0, "no event delivered");
    stack.cleanup().await;
    Ok(())
}
