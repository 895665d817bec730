//! The main job, end to end on the local stack: deploy template.yaml to
//! LocalStack, seed the delivery log, register a webhook, replay a
//! multi-hour window through API Gateway, watch it, and prove the receiver
//! got exactly the right events.

use crate::receiver::Receiver;
use crate::seed::{plan_records, produce, SeedKind, SeedPlan};
use crate::setup;
use crate::stack::{self, Deployed, LocalEnv, StackSpec};
use anyhow::{bail, Context, Result};
use replay_client::ApiClient;
use replay_core::adapters::mysql::MySqlStore;
use replay_core::services::api::create_tenant;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::io::{IsTerminal, Write};
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

pub async fn run(opts: DemoOptions) -> Result<Value> {
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
        .setting("ALLOW_PRIVATE_WEBHOOK_URLS", "true");
    let deployed = stack::deploy(&env, &spec).await?;
    println!("    API Gateway: {}", deployed.api_url);

    let store = MySqlStore::connect(&database_url).await?;
    let tenant = create_tenant(&store, &env.pepper, "demo").await?;
    let receiver = Receiver::start(0).await?;
    drive(&opts, &env, &deployed, &receiver, &tenant.api_key).await
}

async fn drive(
    opts: &DemoOptions,
    env: &LocalEnv,
    deployed: &Deployed,
    receiver: &Receiver,
    api_key: &str,
) -> Result<Value> {
    let api = ApiClient::new(&deployed.api_url, api_key);
    let webhook = api.create_webhook(&receiver.url("demo")).await.context("registering the webhook")?;
    let webhook_id = webhook["id"].as_str().unwrap_or_default().to_owned();
    receiver.register("demo", webhook["secret"].as_str().unwrap_or_default());
    println!("==> webhook {webhook_id} -> {}", receiver.url("demo"));

    let now = chrono::Utc::now().timestamp_millis();
    let mut webhooks = vec![webhook_id.clone()];
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
    let job = api.start_replay(&webhook_id, &fmt(from), &fmt(to)).await?;
    let job_id = job["job_id"].as_str().unwrap_or_default().to_owned();
    println!("==> replay job {job_id}: {} .. {} ({} h)", fmt(from), fmt(to), opts.window_hours);

    // A line redrawn in place on a terminal; a line every few seconds in a log file.
    let terminal = std::io::stdout().is_terminal();
    let mut last_line = Instant::now() - Duration::from_secs(60);
    let final_job = api
        .wait_for_end(&job_id, opts.timeout, |j| {
            let p = &j["progress"];
            let delivered = p["events_delivered"].as_u64().unwrap_or(0);
            let rate = delivered as f64 / started.elapsed().as_secs_f64().max(0.001);
            let line = format!(
                "    {:<10} slices {}/{}  scanned {:>8}  delivered {:>7}/{:<7} dup-skipped {:>5}  malformed {:>3}  {:>7.0} ev/s",
                j["state"].as_str().unwrap_or_default(),
                p["slices_done"], p["slices_total"], p["events_scanned"], delivered, p["events_matched"],
                p["duplicates_skipped"], p["malformed"], rate
            );
            if terminal {
                print!("\r{line}   ");
                let _ = std::io::stdout().flush();
            } else if last_line.elapsed() >= Duration::from_secs(5) {
                println!("{line}");
                last_line = Instant::now();
            }
        })
        .await?;
    let elapsed = started.elapsed();
    println!();
    // The status event follows the final state; give it a moment.
    let wait_status = Instant::now();
    while receiver.stats("demo").status_events.is_empty() && wait_status.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let stats = receiver.stats("demo");
    let expected = manifest.expected(&webhook_id, from, to);
    let received: HashSet<String> = stats.accepted.keys().filter(|k| !k.starts_with("replay-job-")).cloned().collect();
    let missing = expected.difference(&received).count();
    let unexpected = received.difference(&expected).count();
    let progress = &final_job["progress"];
    let status_state =
        stats.status_events.first().map(|e| e["replay_job_status"]["job_state"].clone()).unwrap_or(Value::Null);
    let delivered = progress["events_delivered"].as_u64().unwrap_or(0);
    let summary = json!({
        "job_id": job_id,
        "state": final_job["state"],
        "window_hours": opts.window_hours,
        "records_in_log": manifest.records.len(),
        "expected_events": expected.len(),
        "received_unique": received.len(),
        "missing": missing,
        "unexpected": unexpected,
        "redelivered": stats.repeats(),
        "signature_failures": stats.signature_failures,
        "status_event": status_state,
        "progress": progress,
        "seconds": elapsed.as_secs_f64(),
        "events_per_second": delivered as f64 / elapsed.as_secs_f64().max(0.001),
    });
    println!("==> summary");
    for (label, value) in [
        ("job state", summary["state"].to_string()),
        ("expected events", expected.len().to_string()),
        ("received (unique)", received.len().to_string()),
        ("missing", missing.to_string()),
        ("unexpected", unexpected.to_string()),
        ("delivered twice", stats.repeats().to_string()),
        ("duplicates skipped", progress["duplicates_skipped"].to_string()),
        ("malformed skipped", progress["malformed"].to_string()),
        ("signature failures", stats.signature_failures.to_string()),
        ("status event", status_state.to_string()),
        ("time", format!("{:.2}s", elapsed.as_secs_f64())),
        ("rate", format!("{:.0} events/s", summary["events_per_second"].as_f64().unwrap_or(0.0))),
    ] {
        println!("    {label:<20} {value}");
    }
    let ok = final_job["state"] == "COMPLETED"
        && missing == 0
        && unexpected == 0
        && stats.repeats() == 0
        && stats.signature_failures == 0
        && status_state == "Complete"
        && !expected.is_empty();
    let path = env.state_dir.join("demo-summary.json");
    std::fs::create_dir_all(&env.state_dir)?;
    std::fs::write(&path, serde_json::to_string_pretty(&summary)?)?;
    println!("    (written to {})", path.display());
    if !ok {
        bail!("the replay did not deliver exactly the expected events");
    }
    println!("==> OK: every expected event delivered once, signed, nothing extra");
    Ok(summary)
}
