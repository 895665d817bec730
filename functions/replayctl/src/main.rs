//! replayctl: operate activity-replay (tenants, keys, webhooks, replays) and
//! run it locally (setup, seed, functions with their event sources, demo).

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use replay_core::adapters::mysql::MySqlStore;
use replay_core::services::api::{create_api_key, create_tenant};
use replayctl::bench::{self, BenchOptions};
use replayctl::client::ApiClient;
use replayctl::demo::{self, DemoOptions};
use replayctl::local::{LocalRuntime, RuntimeOptions};
use replayctl::stack::StackEnv;
use replayctl::{seed, setup};
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser)]
#[command(name = "replayctl", version, about = "Operate and run activity-replay")]
struct Cli {
    /// Print machine-readable JSON.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Apply the SQL migrations in migrations/ (run at deploy, never at cold start).
    Migrate,
    /// Create the schema, topic, queue + DLQ and checkpoint table (local stack).
    Setup {
        #[arg(long, default_value_t = 8)]
        partitions: i32,
    },
    /// Tenants (operator).
    Tenant {
        #[command(subcommand)]
        command: TenantCommand,
    },
    /// API keys (operator).
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
    /// Replace a webhook's signing secret (operator; prints the new secret once).
    RotateSecret { webhook_id: String },
    /// Webhooks, through the HTTP API.
    Webhook {
        #[command(subcommand)]
        command: WebhookCommand,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Replay jobs, through the HTTP API.
    Replay {
        #[command(subcommand)]
        command: ReplayCommand,
        #[command(flatten)]
        api: ApiArgs,
    },
    /// Seed the delivery log with realistic data for the given webhooks.
    Seed {
        #[arg(long, default_value_t = 200_000)]
        events: usize,
        /// Webhook ids (the first gets the most events); random ids fill up to --webhooks.
        #[arg(long = "webhook-id")]
        webhook_ids: Vec<String>,
        #[arg(long, default_value_t = 50)]
        webhooks: usize,
        #[arg(long, default_value_t = 5)]
        days: i64,
    },
    /// Run the functions under cargo lambda watch with local event sources until Ctrl-C.
    Run {
        #[command(flatten)]
        local: LocalArgs,
    },
    /// The end-to-end demo: seed, register, replay, verify.
    Demo {
        #[arg(long, default_value_t = 200_000)]
        events: usize,
        #[arg(long, default_value_t = 50)]
        webhooks: usize,
        #[arg(long, default_value_t = 5)]
        days: i64,
        #[arg(long, default_value_t = 12)]
        window_hours: i64,
        #[arg(long, default_value_t = 8)]
        partitions: i32,
        #[arg(long, default_value_t = 3600)]
        slice_seconds: i64,
        #[arg(long, default_value_t = 600)]
        timeout_seconds: u64,
        #[command(flatten)]
        local: LocalArgs,
    },
    /// Benchmarks against the raw limits, side by side (docs/performance.md).
    /// Writes results.json and results.md into --out.
    Bench {
        /// The small configuration CI runs to keep the command working.
        #[arg(long)]
        tiny: bool,
        /// Records in the delivery log (default: 1,000,000; tiny: 20,000).
        #[arg(long)]
        records: Option<usize>,
        /// Directory of the built function binaries (default: target/release; tiny: target/debug).
        #[arg(long)]
        bin_dir: Option<PathBuf>,
        /// Output directory (default: bench; tiny: bench/out/tiny).
        #[arg(long)]
        out: Option<PathBuf>,
        /// A function setting for this run, NAME=VALUE (repeatable), e.g.
        /// --set CHECKPOINT_EVERY_EVENTS=20000.
        #[arg(long = "set", value_parser = parse_setting)]
        settings: Vec<(String, String)>,
    },
}

#[derive(clap::Args)]
struct LocalArgs {
    #[arg(long, default_value_t = 9000)]
    port: u16,
    #[arg(long, default_value_t = 4)]
    workers: usize,
    /// Directory of the built function binaries.
    #[arg(long, default_value = "target/debug")]
    bin_dir: PathBuf,
}

#[derive(clap::Args)]
struct ApiArgs {
    #[arg(long, env = "REPLAY_API_URL", default_value = "http://127.0.0.1:9000/lambda-url/replay-api")]
    api_url: String,
    #[arg(long, env = "REPLAY_API_KEY", default_value = "")]
    api_key: String,
}

#[derive(Subcommand)]
enum TenantCommand {
    /// Create a tenant and its first API key (shown once).
    Create { name: String },
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Add an API key to a tenant (rotation: create the new one, then revoke the old).
    Create {
        #[arg(long)]
        tenant: String,
    },
    /// Revoke a key by its id (the hex part after `rk_`).
    Revoke { key_id: String },
}

#[derive(Subcommand)]
enum WebhookCommand {
    Create { url: String },
    Get { id: String },
}

#[derive(Subcommand)]
enum ReplayCommand {
    /// Start a replay of [from, to) (RFC 3339).
    Start {
        webhook_id: String,
        #[arg(long)]
        from: String,
        #[arg(long)]
        to: String,
    },
    Status {
        job_id: String,
    },
    List {
        webhook_id: String,
    },
    Cancel {
        job_id: String,
    },
    /// Follow a job until it ends.
    Watch {
        job_id: String,
    },
}

fn print(json: bool, value: &Value) {
    if json {
        println!("{value}");
    } else {
        println!("{}", serde_json::to_string_pretty(value).unwrap_or_default());
    }
}

#[tokio::main]
async fn main() {
    replay_core::telemetry::init();
    let cli = Cli::parse();
    if let Err(e) = run(cli).await {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

async fn run(cli: Cli) -> Result<()> {
    let json = cli.json;
    match cli.command {
        Command::Migrate => {
            let env = StackEnv::from_env()?;
            setup::migrate(&env.database_url).await?;
            println!("migrations applied");
        }
        Command::Setup { partitions } => {
            let env = StackEnv::from_env()?;
            let aws = env.aws().await;
            setup::migrate(&env.database_url).await?;
            setup::create_topic(&env.kafka, partitions).await?;
            let (queue, dlq) = setup::create_queue(&aws_sdk_sqs::Client::new(&aws), &env.queue_name, 120, 5).await?;
            setup::create_table(&aws_sdk_dynamodb::Client::new(&aws), &env.table).await?;
            print(
                json,
                &serde_json::json!({"topic": env.kafka.topic, "queue_url": queue, "dlq_url": dlq, "table": env.table}),
            );
        }
        Command::Tenant { command: TenantCommand::Create { name } } => {
            let env = StackEnv::from_env()?;
            let store = MySqlStore::connect(&env.database_url).await?;
            let created = create_tenant(&store, &env.pepper, &name).await?;
            print(json, &serde_json::to_value(created)?);
        }
        Command::Key { command } => {
            let env = StackEnv::from_env()?;
            let store = MySqlStore::connect(&env.database_url).await?;
            match command {
                KeyCommand::Create { tenant } => {
                    let key = create_api_key(&store, &env.pepper, &tenant.as_str().into()).await?;
                    print(json, &serde_json::json!({"tenant_id": tenant, "api_key": key}));
                }
                KeyCommand::Revoke { key_id } => {
                    if !store.revoke_api_key(&key_id).await? {
                        anyhow::bail!("no active key {key_id}");
                    }
                    print(json, &serde_json::json!({"revoked": key_id}));
                }
            }
        }
        Command::RotateSecret { webhook_id } => {
            let env = StackEnv::from_env()?;
            let store = MySqlStore::connect(&env.database_url).await?;
            let secret = replay_core::domain::signing::generate_secret();
            if !store.rotate_webhook_secret(&webhook_id.as_str().into(), &secret).await? {
                anyhow::bail!("no webhook {webhook_id}");
            }
            print(json, &serde_json::json!({"webhook_id": webhook_id, "secret": secret}));
        }
        Command::Webhook { command, api } => {
            let client = ApiClient::new(api.api_url, api.api_key);
            let value = match command {
                WebhookCommand::Create { url } => client.create_webhook(&url).await?,
                WebhookCommand::Get { id } => client.get_webhook(&id).await?,
            };
            print(json, &value);
        }
        Command::Replay { command, api } => {
            let client = ApiClient::new(api.api_url, api.api_key);
            let value = match command {
                ReplayCommand::Start { webhook_id, from, to } => client.start_replay(&webhook_id, &from, &to).await?,
                ReplayCommand::Status { job_id } => client.job(&job_id).await?,
                ReplayCommand::List { webhook_id } => client.list_jobs(&webhook_id).await?,
                ReplayCommand::Cancel { job_id } => client.cancel(&job_id).await?,
                ReplayCommand::Watch { job_id } => {
                    let started = std::time::Instant::now();
                    let job = client
                        .wait_for_end(&job_id, Duration::from_secs(24 * 3600), |j| watch_line(j, started))
                        .await?;
                    eprintln!();
                    job
                }
            };
            print(json, &value);
        }
        Command::Seed { events, mut webhook_ids, webhooks, days } => {
            let env = StackEnv::from_env()?;
            while webhook_ids.len() < webhooks {
                webhook_ids.push(format!("wh_{}", uuid::Uuid::new_v4().simple()));
            }
            let now = chrono::Utc::now().timestamp_millis();
            let plan = seed::SeedPlan {
                events,
                webhooks: webhook_ids,
                start_ms: now - days * 86_400_000 + 600_000,
                end_ms: now - 60_000,
                duplicate_rate: 0.03,
                malformed_rate: 0.001,
                payload_bytes: 400,
                seed: now as u64,
            };
            let manifest = seed::plan_records(&plan)?;
            seed::produce(&env.kafka, &manifest.records).await?;
            print(json, &serde_json::json!({"records": manifest.records.len(), "topic": env.kafka.topic}));
        }
        Command::Run { local } => {
            let env = StackEnv::from_env()?;
            let aws = env.aws().await;
            let sqs = aws_sdk_sqs::Client::new(&aws);
            let queue_url = std::env::var("SLICE_QUEUE_URL").context("SLICE_QUEUE_URL is not set")?;
            let runtime = LocalRuntime::start(runtime_options(&env, &local, queue_url), sqs).await?;
            println!("API at {} (Ctrl-C to stop)", runtime.api_url);
            tokio::signal::ctrl_c().await?;
            runtime.shutdown().await;
        }
        Command::Demo { events, webhooks, days, window_hours, partitions, slice_seconds, timeout_seconds, local } => {
            demo::run(DemoOptions {
                events,
                webhooks,
                days,
                window_hours,
                partitions,
                workers: local.workers,
                slice_seconds,
                port: local.port,
                bin_dir: local.bin_dir,
                timeout: Duration::from_secs(timeout_seconds),
            })
            .await?;
        }
        Command::Bench { tiny, records, bin_dir, out, settings } => {
            let mut opts = if tiny { BenchOptions::tiny() } else { BenchOptions::full() };
            opts.records = records.unwrap_or(opts.records);
            opts.bin_dir = bin_dir.unwrap_or(opts.bin_dir);
            opts.out_dir = out.unwrap_or(opts.out_dir);
            opts.settings = settings;
            // Boxed: the bench future is large and would bloat every command's.
            Box::pin(bench::run(opts)).await?;
        }
    }
    Ok(())
}

fn parse_setting(s: &str) -> Result<(String, String), String> {
    s.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())).ok_or_else(|| format!("`{s}` is not NAME=VALUE"))
}

/// One live progress line: a bar of slices, delivered / matched, rate, ETA.
fn watch_line(job: &Value, started: std::time::Instant) {
    let p = &job["progress"];
    let n = |k: &str| p[k].as_u64().unwrap_or(0);
    let (done, total) = (n("slices_done"), n("slices_total").max(1));
    let width = 20;
    let filled = (done * width / total) as usize;
    let bar = format!("{}{}", "#".repeat(filled), "-".repeat(width as usize - filled));
    let secs = started.elapsed().as_secs_f64().max(0.001);
    let rate = n("events_delivered") as f64 / secs;
    let eta = if done > 0 && done < total {
        format!("{:.0}s", secs / done as f64 * (total - done) as f64)
    } else {
        "-".into()
    };
    eprint!(
        "\r[{bar}] {done}/{total} slices  {}/{} delivered  {} failed  {rate:.0}/s  ETA {eta}  {:<10}",
        n("events_delivered"),
        n("events_matched"),
        n("delivery_failures"),
        job["state"].as_str().unwrap_or_default()
    );
}

fn runtime_options(env: &StackEnv, local: &LocalArgs, queue_url: String) -> RuntimeOptions {
    RuntimeOptions {
        repo_root: env.repo_root.clone(),
        bin_dir: local.bin_dir.clone(),
        port: local.port,
        workers: local.workers,
        batch_size: 1,
        sweep_every: Duration::from_secs(10),
        queue_url,
        env: Vec::new(),
        invoke_timeout: Duration::from_secs(120),
        log_dir: env.state_dir.join("logs/functions"),
    }
}
