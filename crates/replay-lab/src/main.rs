//! replay-lab: activity-replay on this machine. `deploy` puts template.yaml on
//! LocalStack (what `make up` runs), `demo` is the main job end to end, `seed`
//! writes a delivery log, `receiver` serves a webhook receiver, `bench` runs
//! the benchmarks. Needs the environment of `infra/local/env.sh`.

use anyhow::Result;
use clap::{Parser, Subcommand};
use replay_lab::bench::{self, BenchOptions};
use replay_lab::demo::{self, DemoOptions};
use replay_lab::receiver::Receiver;
use replay_lab::stack::{self, LocalEnv, StackSpec};
use replay_lab::{seed, setup};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser)]
#[command(name = "replay-lab", version, about = "Run activity-replay on the local stack")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Prepare the local database, topic and checkpoint table, deploy
    /// template.yaml to LocalStack as `activity-replay-local`, print its outputs.
    Deploy {
        #[arg(long, default_value = "activity-replay-local")]
        name: String,
        /// Directory of the built function binaries.
        #[arg(long, default_value = "target/debug")]
        bin_dir: PathBuf,
        #[arg(long, default_value_t = 8)]
        partitions: i32,
    },
    /// Delete a stack of the local LocalStack.
    Delete {
        #[arg(long, default_value = "activity-replay-local")]
        name: String,
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
    /// Serve a webhook receiver on 127.0.0.1:PORT (hooks at /hooks/NAME, counts at /stats/NAME) until Ctrl-C.
    Receiver {
        #[arg(long, default_value_t = 3000)]
        port: u16,
    },
    /// The end-to-end demo: deploy, seed, register, replay through API Gateway, verify.
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
        #[arg(long, default_value = "target/debug")]
        bin_dir: PathBuf,
    },
    /// Benchmarks against the raw limits, side by side (docs/performance.md).
    /// Writes results.json and results.md into --out.
    Bench {
        /// The small configuration CI runs to keep the command working.
        #[arg(long)]
        tiny: bool,
        /// Records in the delivery log (default: 1,000,000; tiny: 10,000).
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
        /// Only the delivery figure, its job under `perf record`, into
        /// OUT/profile (`make profile`; figures stay out of results.json).
        #[arg(long)]
        profile: bool,
        /// Only this figure, into OUT/<figure>.json (`index`: figure 11;
        /// `slow`: figure 7, slow receivers).
        #[arg(long, value_parser = ["index", "slow"])]
        only: Option<String>,
    },
}

fn parse_setting(s: &str) -> Result<(String, String), String> {
    s.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())).ok_or_else(|| format!("`{s}` is not NAME=VALUE"))
}

#[tokio::main]
async fn main() {
    replay_core::telemetry::init();
    let cli = Cli::parse();
    // SIGTERM as Ctrl-C: the work is dropped, which kills its child
    // processes (stack.py, kcat, wrk are spawned kill_on_drop).
    let code = tokio::select! {
        result = run(cli) => match result {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("error: {e:#}");
                1
            }
        },
        signal = replay_core::telemetry::stop_signal() => {
            eprintln!("stopped by signal {signal}");
            128 + signal
        }
    };
    std::process::exit(code);
}

async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Deploy { name, bin_dir, partitions } => {
            let env = LocalEnv::from_env()?;
            let aws = env.aws().await;
            setup::migrate(&env.database_url).await?;
            setup::create_topic(&env.kafka, partitions).await?;
            setup::create_table(&aws_sdk_dynamodb::Client::new(&aws), &env.table).await?;
            let mut spec = StackSpec {
                name,
                bin_dir: std::fs::canonicalize(&bin_dir)?,
                database_url: env.database_url.clone(),
                ..StackSpec::default()
            };
            spec.parameter("DeliveryLogTopic", &env.kafka.topic).parameter("ExistingCheckpointTable", &env.table);
            let deployed = stack::deploy(&env, &spec).await?;
            println!("stack {} deployed", deployed.stack_name);
            println!("API:   {}", deployed.api_url);
            println!("       export REPLAY_API_URL={}", deployed.api_url);
        }
        Command::Delete { name } => {
            stack::delete(&LocalEnv::from_env()?, &name, true).await?;
            println!("stack {name} deleted");
        }
        Command::Seed { events, mut webhook_ids, webhooks, days } => {
            let env = LocalEnv::from_env()?;
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
            println!("{}", serde_json::json!({"records": manifest.records.len(), "topic": env.kafka.topic}));
        }
        Command::Receiver { port } => {
            let receiver = Receiver::start(port).await?;
            println!("receiving at {} (Ctrl-C or SIGTERM to stop)", receiver.url("NAME"));
            std::future::pending::<()>().await;
        }
        Command::Demo { events, webhooks, days, window_hours, partitions, slice_seconds, timeout_seconds, bin_dir } => {
            demo::run(DemoOptions {
                events,
                webhooks,
                days,
                window_hours,
                partitions,
                slice_seconds,
                bin_dir: std::fs::canonicalize(&bin_dir)?,
                timeout: Duration::from_secs(timeout_seconds),
            })
            .await?;
        }
        Command::Bench { tiny, records, bin_dir, out, settings, profile, only } => {
            let mut opts = if tiny { BenchOptions::tiny() } else { BenchOptions::full() };
            opts.records = records.unwrap_or(opts.records);
            opts.bin_dir = bin_dir.unwrap_or(opts.bin_dir);
            opts.out_dir = out.unwrap_or(opts.out_dir);
            opts.settings = settings;
            opts.profile_dir = profile.then(|| opts.out_dir.join("profile"));
            opts.only = only;
            // Boxed: the bench future is large and would bloat every command's.
            Box::pin(bench::run(opts)).await?;
        }
    }
    Ok(())
}
