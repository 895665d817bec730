//! The main job, end to end on the local stack: deploy template.yaml to
//! LocalStack, seed the delivery log, register a webhook, replay a
//! multi-hour window through API Gateway, watch it, and prove the receiver
//! got exactly the right events.

use crate::receiver::Receiver;
use crate::seed::{plan_records, produce, SeedKind, SeedPlan};
use crate::setup;
use crate::stack::{self, Deployed, LocalEnv, StackSpec};
use anyhow::{bail, Context, Result};
use replay_client::progress::JobProgress;
use replay_client::{Client, CreateReplayRequest, JobId, JobState, Progress, StatusWord};
use replay_core::adapters::mysql::MySqlStore;
use replay_core::services::api::create_tenant;
use serde::Serialize;
use std::collections::HashSet;
use std::time::{Duration, Instant};

pub const DEMO_STACK: &str = "activity-replay-demo";

#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub events: usize,
    pub webhooks: usize,
    pub days: i64,
    pub window_hours: i64,
    pub partitions: i32,
    pub slice_seconds: i64,
    pub bin_dir: std::path::PathBuf,
    pub timeout: Duration,
}

pub async fn run(opts: DemoOptions) -> Result<DemoSummary> {
    let mut env = LocalEnv::from_env()?;
    // A fresh topic per run: the seeder writes five days of history at once,
    // and appending a second history to an old topic would put timestamps out
    // of log order, which a real delivery log never does.
    let prefix = format!("{}-demo-", env.kafka.topic);
    setup::delete_topics_with_prefix(&env.kafka, &prefix).await?;
    env.kafka.topic = format!("{prefix}{}", chrono::Utc::now().timestamp());
    let aws = env.aws().await;
    println!("==> preparing the demo's database, topic `{}` and checkpoint table", env.kafka.topic);
    let database_url = setup::create_database(&env.database_url, "replay_demo").await?;
    setup::create_topic(&env.kafka, opts.partitions).await?;
    setup::create_table(&aws_sdk_dynamodb::Client::new(&aws), &env.table).await?;

    println!("==> deploying template.yaml to LocalStack as stack `{DEMO_STACK}`");
    let mut spec = StackSpec {
        name: DEMO_STACK.into(),
        bin_dir: opts.bin_dir.clone(),
        database_url: database_url.clone(),
        ..StackSpec::default()
    };
    spec.parameter("DeliveryLogTopic", &env.kafka.topic)
        .parameter("ExistingCheckpointTable", &env.table)
        .setting("SLICE_SECONDS", opts.slice_seconds)
        .setting("WEBHOOK_ALLOW_LIST", crate::receiver::RECEIVER_ALLOW_LIST);
    let deployed = stack::deploy(&env, &spec).await?;
    println!("    API Gateway: {}", deployed.api_url);

    let store = MySqlStore::connect(&database_url).await?;
    let tenant = create_tenant(&store, &env.pepper, "demo").await?;
    let receiver = Receiver::start(0).await?;
    drive(&opts, &env, &deployed, &receiver, &tenant.api_key).await
}

/// What the demo found, written to `.local/demo-summary.json`.
#[derive(Debug, Clone, Serialize)]
pub struct DemoSummary {
    pub job_id: JobId,
    pub state: JobState,
    pub window_hours: i64,
    pub records_in_log: usize,
    pub expected_events: usize,
    pub received_unique: usize,
    pub missing: usize,
    pub unexpected: usize,
    pub redelivered: u64,
    pub signature_failures: u64,
    pub status_event: Option<StatusWord>,
    pub progress: Progress,
    pub seconds: f64,
    pub events_per_second: f64,
}

impl DemoSummary {
    fn ok(&self) -> bool {
        self.state == JobState::Completed
            && self.missing == 0
            && self.unexpected == 0
            && self.redelivered == 0
            && self.signature_failures == 0
            && self.status_event == Some(StatusWord::Complete)
            && self.expected_events > 0
    }
}

async fn drive(
    opts: &DemoOptions,
    env: &LocalEnv,
    deployed: &Deployed,
    receiver: &Receiver,
    api_key: &str,
) -> Result<DemoSummary> {
    let api = Client::new(&deployed.api_url, api_key);
    let webhook = api.create_webhook(&receiver.url("demo")).await.context("registering the webhook")?;
    receiver.register("demo", webhook.secret.as_deref().context("the service made no secret")?);
    println!("==> webhook {} -> {}", webhook.id, receiver.url("demo"));

    let now = chrono::Utc::now().timestamp_millis();
    let mut webhooks = vec![webhook.id.to_string()];
    webhooks.extend((1..opts.webhooks).map(|_| format!("wh_{}", uuid::Uuid::new_v4().simple())));
    let plan = SeedPlan {
        events: opts.events,
        webhooks,
        start_ms: now - opts.days * 86_400_000 + 600_000,
        end_ms: now - 60_000,
        duplicate_rate: 0.03,
        malformed_rate: 0.001,
        payload_bytes: 400,
        seed: now as u64,
    };
    let seeding = Instant::now();
    let manifest = plan_records(&plan)?;
    produce(&env.kafka, &manifest.records).await?;
    println!(
        "==> seeded {} records ({} events, {} duplicate copies, {} malformed) over {} days for {} webhooks, Snappy, in {:.1}s",
        manifest.records.len(),
        manifest.count(SeedKind::Event),
        manifest.count(SeedKind::Duplicate),
        manifest.count(SeedKind::Malformed),
        opts.days,
        opts.webhooks,
        seeding.elapsed().as_secs_f64()
    );

    let hour = 3_600_000;
    let to = (now - 24 * hour) / hour * hour;
    let from = to - opts.window_hours * hour;
    let fmt = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .unwrap_or_default()
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    };
    let started = Instant::now();
    let job = api.start_replay(&webhook.id, &CreateReplayRequest::window(fmt(from), fmt(to))).await?;
    println!("==> replay job {}: {} .. {} ({} h)", job.job_id, fmt(from), fmt(to), opts.window_hours);

    let mut progress = JobProgress::new(Duration::from_secs(5));
    let final_job = api.wait_for_end(&job.job_id, opts.timeout, |j| progress.update(j)).await?;
    progress.finish();
    let elapsed = started.elapsed();
    // The status event follows the final state; give it a moment.
    let wait_status = Instant::now();
    while receiver.stats("demo").status_events.is_empty() && wait_status.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let stats = receiver.stats("demo");
    let expected = manifest.expected(webhook.id.as_str(), from, to);
    let received: HashSet<String> = stats.received();
    let delivered = final_job.progress.counters.events_delivered;
    let summary = DemoSummary {
        job_id: job.job_id.clone(),
        state: final_job.state,
        window_hours: opts.window_hours,
        records_in_log: manifest.records.len(),
        expected_events: expected.len(),
        received_unique: received.len(),
        missing: expected.difference(&received).count(),
        unexpected: received.difference(&expected).count(),
        redelivered: stats.repeats(),
        signature_failures: stats.signature_failures,
        status_event: stats.status_events.first().map(|e| e.replay_job_status.job_state),
        progress: final_job.progress.clone(),
        seconds: elapsed.as_secs_f64(),
        events_per_second: delivered as f64 / elapsed.as_secs_f64().max(0.001),
    };
    println!("==> summary");
    let c = &summary.progress.counters;
    for (label, value) in [
        ("job state", summary.state.to_string()),
        ("expected events", summary.expected_events.to_string()),
        ("received (unique)", summary.received_unique.to_string()),
        ("missing", summary.missing.to_string()),
        ("unexpected", summary.unexpected.to_string()),
        ("delivered twice", summary.redelivered.to_string()),
        ("duplicates skipped", c.duplicates_skipped.to_string()),
        ("malformed skipped", c.malformed.to_string()),
        ("signature failures", summary.signature_failures.to_string()),
        ("status event", summary.status_event.map_or("none".into(), |w| format!("{w:?}"))),
        ("time", format!("{:.2}s", summary.seconds)),
        ("rate", format!("{:.0} events/s", summary.events_per_second)),
    ] {
        println!("    {label:<20} {value}");
    }
    let path = env.state_dir.join("demo-summary.json");
    std::fs::create_dir_all(&env.state_dir)?;
    std::fs::write(&path, serde_json::to_string_pretty(&summary)?)?;
    println!("    (written to {})", path.display());
    if !summary.ok() {
        bail!("the replay did not deliver exactly the expected events");
    }
    println!("==> OK: every expected event delivered once, signed, nothing extra");
    Ok(summary)
}
