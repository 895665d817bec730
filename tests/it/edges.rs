//! Windows with nothing to deliver still complete, with correct counts.

use replay_core::services::api::create_tenant;
use replay_integration_tests::replay_client::{JobState, StatusWord};
use replay_integration_tests::replay_lab::receiver::Receiver;
use replay_integration_tests::replay_lab::seed::SeedKind;
use replay_integration_tests::*;
use std::time::Duration;

#[tokio::test]
async fn empty_foreign_and_past_the_end_windows_complete() -> anyhow::Result<()> {
    let mut stack = TestStack::new(1).await?;
    stack.deploy().await?;
    let receiver = Receiver::start(0).await?;
    let tenant = create_tenant(&stack.store, PEPPER, "acme").await?;
    let api = stack.api(&tenant.api_key);
    let me = webhook_to(&api, &receiver, "me").await?;

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
        let job = start(&api, &me, from, to).await?;
        eventually(Duration::from_secs(60), name, async || receiver.stats("me").status_events.len() == n + 1).await?;
        let view = api.job(&job).await?;
        assert_eq!(view.state, JobState::Completed, "{name}");
        let p = &view.progress;
        assert_eq!(p.counters.events_scanned, scanned, "{name}");
        assert_eq!((p.counters.events_matched, p.counters.events_delivered, p.counters.malformed), (0, 0, 0), "{name}");
        assert_eq!(p.slices_done, p.slices_total, "{name}");
        let status = &receiver.stats("me").status_events[n].replay_job_status;
        assert_eq!(status.job_state, StatusWord::Complete, "{name}");
        assert_eq!(status.counts.counters.events_scanned, scanned, "{name}");
    }
    assert_eq!(receiver.stats("me").unique(), 0, "no event delivered");
    stack.cleanup().await;
    Ok(())
}
