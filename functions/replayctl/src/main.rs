//! replayctl: operate a deployed activity-replay: tenants and keys (against
//! its database), webhooks and replays (through its HTTP API). Local tooling
//! (deploying to LocalStack, seeding, the demo, benchmarks) is `replay-lab`.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use replay_client::ApiClient;
use replay_core::adapters::mysql::MySqlStore;
use replay_core::services::api::{create_api_key, create_tenant};
use serde_json::Value;
use std::time::Duration;

#[derive(Parser)]
#[command(name = "replayctl", version, about = "Operate a deployed activity-replay")]
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
}

#[derive(clap::Args)]
struct ApiArgs {
    /// The API's base URL: the stack's ApiUrl output (`make up` prints the local one).
    #[arg(long, env = "REPLAY_API_URL")]
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
            let store = MySqlStore::connect(&operator_env("DATABASE_URL")?).await?;
            store.migrate().await.context("applying migrations")?;
            println!("migrations applied");
        }
        Command::Tenant { command: TenantCommand::Create { name } } => {
            let store = MySqlStore::connect(&operator_env("DATABASE_URL")?).await?;
            let created = create_tenant(&store, &operator_env("API_KEY_PEPPER")?, &name).await?;
            print(json, &serde_json::to_value(created)?);
        }
        Command::Key { command } => {
            let store = MySqlStore::connect(&operator_env("DATABASE_URL")?).await?;
            match command {
                KeyCommand::Create { tenant } => {
                    let key = create_api_key(&store, &operator_env("API_KEY_PEPPER")?, &tenant.as_str().into()).await?;
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
            let store = MySqlStore::connect(&operator_env("DATABASE_URL")?).await?;
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
    }
    Ok(())
}

/// What the operator commands read: the deployment's database and pepper.
fn operator_env(name: &str) -> Result<String> {
    std::env::var(name)
        .with_context(|| format!("{name} is not set (the deployment's value; locally: source infra/local/env.sh)"))
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
