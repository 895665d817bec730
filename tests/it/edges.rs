//! Windows with nothing to deliver still complete, with correct counts.

use replay_core::services::api::create_tenant;
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
        records.push(record(base + i * 60_000, &me, &format!("mine-{i}"), SeedKind::Event));
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
        let job = api.start_replay(&me, &rfc3339(from), &rfc3339(to)).await?;
        eventually(Duration::from_secs(60), name, async || receiver.stats("me").status_events.len() == n + 1).await?;
        let view = api.job(job["job_id"].as_str().unwrap_or_default()).await?;
        assert_eq!(view["state"], "COMPLETED", "{name}");
        let p = &view["progress"];
        assert_eq!(p["events_scanned"], scanned, "{name}");
        assert_eq!(
            (&p["events_matched"], &p["events_delivered"], &p["malformed"]),
            (&0.into(), &0.into(), &0.into()),
            "{name}"
        );
        assert_eq!(p["slices_done"], p["slices_total"], "{name}");
        let status = &receiver.stats("me").status_events[n]["replay_job_status"];
        assert_eq!(status["job_state"], "Complete", "{name}");
        assert_eq!(status["counts"]["events_scanned"], scanned, "{name}");
    }
    assert_eq!(receiver.stats("me").unique(), 0, "no event delivered");
    stack.cleanup().await;
    Ok(())
}
