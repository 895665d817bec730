//! replayctl: operate a deployed activity-replay: tenants and keys (against
//! its database), webhooks and replays (through its HTTP API, with the typed
//! client), a job's log lines across the three functions, the slice
//! queue's dead-letter queue, and the delivery log's index. Local tooling
//! (deploying to LocalStack, seeding, the demo, benchmarks) is `replay-lab`.
//! Exit codes: docs/cli.md.

mod dlq;
mod index;
mod logs;

use anyhow::{Context, Result};
use clap::{CommandFactory, Parser, Subcommand};
use replay_client::progress::JobProgress;
use replay_client::{
    Client, ClientError, CreateReplayRequest, CreateWebhookRequest, JobId, JobQuery, JobState, PauseRequest,
    UpdateWebhookRequest, WebhookId,
};
use replay_core::adapters::kms::KmsKeys;
use replay_core::adapters::mysql::MySqlStore;
use replay_core::domain::apikey::Scope;
use replay_core::services::api::{create_api_key, create_tenant, operator_audit, revoke_api_key};
use replay_core::services::secrets::{rotate_secret, seal_plaintext_secrets};
use serde::Serialize;
use std::time::Duration;

#[derive(Parser)]
#[command(name = "replayctl", version, about = "Operate a deployed activity-replay")]
pub struct Cli {
    /// Print machine-readable JSON (one document; NDJSON for `logs`).
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Apply the SQL migrations in migrations/ (run at deploy, never at cold
    /// start), then seal any plaintext webhook secret an earlier release left
    /// (needs WEBHOOK_SECRETS_KEY_ID only then).
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
    /// Replace a webhook's signing secret (operator; prints the new secret
    /// once). The old one keeps signing beside it for the grace period.
    RotateSecret {
        webhook_id: String,
        /// How long deliveries carry the old secret's signature too, in seconds.
        #[arg(long, default_value_t = 86_400)]
        grace_seconds: u64,
    },
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
    /// A job's log lines from the API, worker and sweeper functions, in time order.
    Logs {
        job_id: String,
        /// The stack (its log groups are /activity-replay/<stack>/{api,worker,sweeper}).
        #[arg(long, env = "REPLAY_STACK", default_value = "activity-replay-local")]
        stack: String,
        /// How far back to look, in hours.
        #[arg(long, default_value_t = 24)]
        hours: u64,
    },
    /// The audit trail: who created, changed, cancelled or deleted what (newest first).
    Audit {
        /// Only this tenant's rows.
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// The slice queue's dead-letter queue: what is in it, and moving it back.
    Dlq {
        #[command(subcommand)]
        command: DlqCommand,
        #[command(flatten)]
        queues: dlq::QueueArgs,
    },
    /// The delivery log's index (operator; DATABASE_URL, KAFKA_BROKERS and
    /// DELIVERY_LOG_TOPIC, as the functions have them).
    Index {
        #[command(subcommand)]
        command: IndexCommand,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions { shell: clap_complete::Shell },
}

#[derive(Subcommand)]
enum IndexCommand {
    /// Per partition: the log's retained offsets, where the index ends, and its lag.
    Status,
    /// Delete the index (of one partition, or all) and index the log again
    /// from its start, here; slices read in full meanwhile.
    Rebuild {
        #[arg(long)]
        partition: Option<u32>,
        /// Only delete it: the sweeper's runs index the log again.
        #[arg(long)]
        drop_only: bool,
    },
}

#[derive(clap::Args)]
struct ApiArgs {
    /// The API's base URL: the stack's ApiUrl output (`make up` prints the local one).
    #[arg(long, env = "REPLAY_API_URL", global = true, default_value = "")]
    api_url: String,
    #[arg(long, env = "REPLAY_API_KEY", global = true, default_value = "")]
    api_key: String,
}

impl ApiArgs {
    fn client(&self) -> Result<Client> {
        anyhow::ensure!(
            !self.api_url.is_empty(),
            "--api-url (or REPLAY_API_URL) is required: the stack's ApiUrl output"
        );
        Ok(Client::new(&self.api_url, &self.api_key))
    }
}

#[derive(Subcommand)]
enum DlqCommand {
    /// List the messages in the DLQ (they stay there).
    Show,
    /// Move every message back to the slice queue (after fixing what failed them).
    Redrive,
}

#[derive(Subcommand)]
enum TenantCommand {
    /// Create a tenant and its first API key (shown once).
    Create { name: String },
    /// Show a tenant's fair-share overrides, or set them (defaults:
    /// TENANT_REQUESTS_PER_MINUTE, TENANT_MAX_ACTIVE_JOBS, TENANT_MAX_RUNNING_SLICES).
    Limits {
        tenant: String,
        /// API requests per minute (0: none; `default`: the deployment's default).
        #[arg(long)]
        requests_per_minute: Option<LimitArg>,
        /// Active replay jobs at once (0: none; `default`: the deployment's default).
        #[arg(long)]
        max_active_jobs: Option<LimitArg>,
        /// Slices running at once across all the tenant's jobs (0: none; `default`: the deployment's default).
        #[arg(long)]
        max_running_slices: Option<LimitArg>,
    },
}

/// A limit override on the command line: a number, or `default` to drop it.
#[derive(Clone, Copy, Debug)]
enum LimitArg {
    Value(u32),
    Default,
}

impl std::str::FromStr for LimitArg {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "default" => Ok(LimitArg::Default),
            n => n.parse().map(LimitArg::Value).map_err(|_| format!("a number or `default`, not {n:?}")),
        }
    }
}

/// The override after the command: changed where given, kept otherwise.
fn apply(arg: Option<LimitArg>, current: Option<u32>) -> Option<u32> {
    match arg {
        None => current,
        Some(LimitArg::Default) => None,
        Some(LimitArg::Value(n)) => Some(n),
    }
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Add an API key to a tenant (rotation: create the new one, then revoke the old).
    Create {
        #[arg(long)]
        tenant: String,
        /// A key that may only read: webhooks, job status and lists, failure reports.
        #[arg(long)]
        read_only: bool,
    },
    /// Revoke a key by its id (the hex part after `rk_`).
    Revoke { key_id: String },
}

#[derive(Subcommand)]
enum WebhookCommand {
    /// Register a webhook URL (prints its signing secret once, unless the
    /// platform brings its own).
    Create {
        url: String,
        /// The platform's own id for it (the key its delivery log uses).
        #[arg(long)]
        id: Option<String>,
        #[command(flatten)]
        secret: BroughtSecret,
    },
    Get {
        id: String,
    },
    /// The tenant's webhooks in id order: one page (`--cursor`, `--limit`), or all of them.
    List {
        #[command(flatten)]
        page: Paging,
    },
    /// Point a webhook at a new URL (refused while one of its jobs is
    /// active), give it the platform's new secret, or both.
    Update {
        id: String,
        #[arg(long)]
        url: Option<String>,
        #[command(flatten)]
        secret: BroughtSecret,
        /// With a new secret: how long the old one keeps signing beside it
        /// (seconds; the service's default is a day).
        #[arg(long)]
        grace_seconds: Option<u64>,
    },
    /// Delete a webhook (refused while one of its jobs is active; its jobs stay readable).
    Delete {
        id: String,
    },
}

/// A signing secret the platform brings, read from an environment variable
/// (never an argument: arguments show in `ps` and shell history).
#[derive(clap::Args)]
struct BroughtSecret {
    /// The variable holding the secret in Standard Webhooks form (`whsec_` + base64).
    #[arg(long, value_name = "VAR", conflicts_with = "secret_raw_env")]
    secret_env: Option<String>,
    /// The variable holding a raw key, its bytes used as they are.
    #[arg(long, value_name = "VAR")]
    secret_raw_env: Option<String>,
}

impl BroughtSecret {
    /// (`secret`, `secret_raw`) as the API takes them.
    fn read(&self) -> Result<(Option<String>, Option<String>)> {
        let var = |name: &Option<String>| -> Result<Option<String>> {
            name.as_deref()
                .map(|n| std::env::var(n).map_err(|_| anyhow::anyhow!("environment variable {n} is not set")))
                .transpose()
        };
        Ok((var(&self.secret_env)?, var(&self.secret_raw_env)?))
    }
}

#[derive(Subcommand)]
enum ReplayCommand {
    /// Start a replay of [from, to) (RFC 3339), optionally of some of its events.
    Start {
        webhook_id: String,
        #[arg(long)]
        from: String,
        #[arg(long)]
        to: String,
        /// Only events of this type (repeat for several, up to 50).
        #[arg(long = "event-type", value_name = "TYPE")]
        event_types: Vec<String>,
        /// Only this event (repeat for several, up to 1,000).
        #[arg(long = "event-id", value_name = "ID")]
        event_ids: Vec<String>,
        /// `failed`: only events whose original delivery failed.
        #[arg(long, value_parser = ["failed"])]
        only: Option<String>,
        /// Count what would be delivered, deliver nothing.
        #[arg(long)]
        dry_run: bool,
        /// Deliver to this other webhook of the tenant (its URL, its secret).
        #[arg(long, value_name = "WEBHOOK_ID")]
        target: Option<String>,
        /// Check the receiver (Twitter's CRC) before the first delivery.
        #[arg(long)]
        crc_check: bool,
        /// The job's requests in flight at most, across its slices.
        #[arg(long, value_name = "N")]
        max_in_flight: Option<u32>,
        /// The job's request starts per second at most, across its slices.
        #[arg(long, value_name = "N")]
        max_events_per_second: Option<u32>,
        /// Deliver in log order per key: a JSON Pointer into each event's
        /// payload (for example /account_id); keys run concurrently.
        #[arg(long, value_name = "POINTER")]
        ordering_key: Option<String>,
        /// Makes the request safe to repeat (generated when absent).
        #[arg(long)]
        idempotency_key: Option<String>,
        /// Follow the job until it ends (as `watch`).
        #[arg(long)]
        wait: bool,
    },
    Status {
        job_id: String,
    },
    /// Jobs newest first, the tenant's or one webhook's: one page
    /// (`--cursor`, `--limit`), or all of them.
    List {
        /// Only this webhook's jobs.
        webhook_id: Option<String>,
        /// Only jobs in these states (`--state ONGOING,OPEN`).
        #[arg(long, value_delimiter = ',', value_parser = job_state)]
        state: Vec<JobState>,
        #[command(flatten)]
        page: Paging,
    },
    Cancel {
        job_id: String,
    },
    /// Pause a job: running slices stop at their next checkpoint; `resume` continues it.
    Pause {
        job_id: String,
        /// Shown in the job's `pause.reason`.
        #[arg(long)]
        reason: Option<String>,
        /// Not resumed within this many seconds, the job ends INCOMPLETE (default: the deployment's maximum).
        #[arg(long, value_name = "SECONDS")]
        expires_in: Option<u32>,
    },
    /// Resume a paused job from its checkpoints.
    Resume {
        job_id: String,
    },
    /// Follow a job until it ends: a progress bar on a terminal, a line every 5 s otherwise.
    Watch {
        job_id: String,
    },
    /// The events a job could not deliver (all of them; `--csv FILE` to write them as CSV).
    Failures {
        job_id: String,
        #[arg(long, value_name = "FILE")]
        csv: Option<std::path::PathBuf>,
    },
    /// Start a job that delivers exactly the failures of an ended job.
    Retry {
        job_id: String,
        /// Follow the new job until it ends.
        #[arg(long)]
        wait: bool,
    },
}

/// Exit codes (docs/cli.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Ok = 0,
    Failed = 1,
    /// The API refused the request (a 4xx): fix the request.
    Refused = 3,
    /// The service or the network is unavailable: try again later.
    Unavailable = 4,
    /// The job ended, but not COMPLETED.
    JobNotCompleted = 5,
}

/// One page of a list (`--cursor`, `--limit`), or all of it (`--all`).
#[derive(clap::Args, Debug)]
struct Paging {
    /// Every page, one after the other, as one list.
    #[arg(long, conflicts_with_all = ["cursor", "limit"])]
    all: bool,
    /// `next_cursor` of the previous page.
    #[arg(long)]
    cursor: Option<String>,
    /// Items per page (the list's default when absent).
    #[arg(long)]
    limit: Option<u32>,
}

/// A job state as the API writes it (`ONGOING`; any case here).
fn job_state(raw: &str) -> Result<JobState, String> {
    JobState::parse(&raw.trim().to_ascii_uppercase())
        .ok_or_else(|| format!("`{raw}` is not a job state ({})", JobState::names()))
}

fn exit_of(e: &anyhow::Error) -> Exit {
    match e.downcast_ref::<ClientError>() {
        Some(ClientError::Api { status, .. }) if *status < 500 && *status != 429 => Exit::Refused,
        Some(c) if c.is_retryable() => Exit::Unavailable,
        _ => Exit::Failed,
    }
}

fn print<T: Serialize + std::fmt::Debug>(json: bool, value: &T) {
    let text = if json { serde_json::to_string(value) } else { serde_json::to_string_pretty(value) };
    println!("{}", text.unwrap_or_else(|_| format!("{value:?}")));
}

#[tokio::main]
async fn main() {
    replay_core::telemetry::init();
    let cli = Cli::parse();
    // SIGTERM ends the command like Ctrl-C does (replayctl starts no processes of its own).
    let code = tokio::select! {
        result = run(cli) => match result {
            Ok(code) => code as i32,
            Err(e) => {
                eprintln!("error: {e:#}");
                exit_of(&e) as i32
            }
        },
        signal = replay_core::telemetry::stop_signal() => 128 + signal,
    };
    std::process::exit(code);
}

async fn run(cli: Cli) -> Result<Exit> {
    let json = cli.json;
    match cli.command {
        Command::Migrate => {
            let store = MySqlStore::connect(&operator_env("DATABASE_URL")?).await?;
            store.migrate().await.context("applying migrations")?;
            // The data part of migration 20261202000004: a KMS call per row, so not in SQL.
            let sealed = if store.plaintext_secrets(1).await?.is_empty() {
                0
            } else {
                seal_plaintext_secrets(&store, &secrets_key().await?).await.context("sealing webhook secrets")?
            };
            print(json, &serde_json::json!({"migrations": "applied", "secrets_sealed": sealed}));
        }
        Command::Tenant { command: TenantCommand::Create { name } } => {
            let store = MySqlStore::connect(&operator_env("DATABASE_URL")?).await?;
            let created = create_tenant(&store, &operator_env("API_KEY_PEPPER")?, &name).await?;
            print(json, &created);
        }
        Command::Tenant {
            command: TenantCommand::Limits { tenant, requests_per_minute, max_active_jobs, max_running_slices },
        } => {
            let store = MySqlStore::connect(&operator_env("DATABASE_URL")?).await?;
            let tenant_id = replay_core::domain::ids::TenantId(tenant.clone());
            let current = store.tenant_limits(&tenant_id).await?;
            if requests_per_minute.is_some() || max_active_jobs.is_some() || max_running_slices.is_some() {
                let limits = replay_core::adapters::mysql::TenantLimits {
                    requests_per_minute: apply(requests_per_minute, current.requests_per_minute),
                    max_active_jobs: apply(max_active_jobs, current.max_active_jobs),
                    max_running_slices: apply(max_running_slices, current.max_running_slices),
                };
                store.set_tenant_limits(&tenant_id, &limits).await.context("no such tenant?")?;
                let detail = serde_json::to_string(&limits)?;
                operator_audit(&store, &tenant_id, "tenant.limits", &tenant, Some(&detail)).await?;
            }
            let limits = store.tenant_limits(&tenant_id).await?;
            print(json, &serde_json::json!({"tenant_id": tenant, "overrides": limits}));
        }
        Command::Key { command } => {
            let store = MySqlStore::connect(&operator_env("DATABASE_URL")?).await?;
            match command {
                KeyCommand::Create { tenant, read_only } => {
                    let scope = if read_only { Scope::Read } else { Scope::Full };
                    let pepper = operator_env("API_KEY_PEPPER")?;
                    let key = create_api_key(&store, &pepper, &tenant.as_str().into(), scope).await?;
                    print(json, &serde_json::json!({"tenant_id": tenant, "api_key": key, "scope": scope}));
                }
                KeyCommand::Revoke { key_id } => {
                    if !revoke_api_key(&store, &key_id).await? {
                        anyhow::bail!("no active key {key_id}");
                    }
                    print(json, &serde_json::json!({"revoked": key_id}));
                }
            }
        }
        Command::RotateSecret { webhook_id, grace_seconds } => {
            let store = MySqlStore::connect(&operator_env("DATABASE_URL")?).await?;
            let webhook = WebhookId::from(webhook_id.as_str());
            let Some(tenant) = store.webhook_tenant(&webhook).await? else { anyhow::bail!("no webhook {webhook_id}") };
            let grace = Duration::from_secs(grace_seconds);
            let secret = rotate_secret(&store, &secrets_key().await?, &webhook, None, grace).await?;
            let detail = format!("grace {grace_seconds} s");
            operator_audit(&store, &tenant, "webhook.rotate_secret", &webhook_id, Some(&detail)).await?;
            print(
                json,
                &serde_json::json!({"webhook_id": webhook_id, "secret": secret, "grace_seconds": grace_seconds}),
            );
        }
        Command::Webhook { command, api } => {
            let client = api.client()?;
            match command {
                WebhookCommand::Create { url, id, secret } => {
                    let (secret, secret_raw) = secret.read()?;
                    let request = CreateWebhookRequest { url, id, secret, secret_raw };
                    print(json, &client.register_webhook(&request).await?)
                }
                WebhookCommand::Get { id } => print(json, &client.webhook(&WebhookId::from(id)).await?),
                WebhookCommand::List { page: Paging { all: true, .. } } => {
                    print(json, &serde_json::json!({"webhooks": client.all_webhooks().await?}))
                }
                WebhookCommand::List { page } => {
                    print(json, &client.webhooks(page.cursor.as_deref(), page.limit).await?)
                }
                WebhookCommand::Update { id, url, secret, grace_seconds } => {
                    let (secret, secret_raw) = secret.read()?;
                    let request = UpdateWebhookRequest { url, secret, secret_raw, secret_grace_seconds: grace_seconds };
                    print(json, &client.change_webhook(&WebhookId::from(id), &request).await?)
                }
                WebhookCommand::Delete { id } => {
                    client.delete_webhook(&WebhookId::from(id.as_str())).await?;
                    print(json, &serde_json::json!({"deleted": id}));
                }
            }
        }
        Command::Replay { command, api } => return replay(json, api.client()?, command).await,
        Command::Logs { job_id, stack, hours } => logs::print_job(json, &stack, &JobId::from(job_id), hours).await?,
        Command::Audit { tenant, limit } => {
            let store = MySqlStore::connect(&operator_env("DATABASE_URL")?).await?;
            let tenant = tenant.map(replay_core::domain::ids::TenantId);
            let rows = store.audit_rows(tenant.as_ref(), limit.clamp(1, 10_000)).await?;
            let rows: Vec<_> = rows
                .iter()
                .map(|r| {
                    let mut v = serde_json::to_value(r).unwrap_or_default();
                    v["at"] = r.at().into();
                    v
                })
                .collect();
            print(json, &serde_json::json!({"entries": rows}));
        }
        Command::Dlq { command: DlqCommand::Show, queues } => {
            let letters = dlq::show(&queues).await?;
            print(json, &serde_json::json!({"messages": letters.len(), "dead_letters": letters}));
        }
        Command::Dlq { command: DlqCommand::Redrive, queues } => {
            let moved = dlq::redrive(&queues).await?;
            print(json, &serde_json::json!({"redriven": moved.len(), "dead_letters": moved}));
        }
        Command::Index { command: IndexCommand::Status } => {
            let parts = index::Parts::connect(&operator_env("DATABASE_URL")?).await?;
            print(json, &parts.status().await?);
        }
        Command::Index { command: IndexCommand::Rebuild { partition, drop_only } } => {
            let parts = index::Parts::connect(&operator_env("DATABASE_URL")?).await?;
            let passes = parts.rebuild(partition, drop_only).await?;
            print(json, &serde_json::json!({"passes": passes, "status": parts.status().await?}));
        }
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "replayctl", &mut std::io::stdout());
        }
    }
    Ok(Exit::Ok)
}

async fn replay(json: bool, client: Client, command: ReplayCommand) -> Result<Exit> {
    match command {
        ReplayCommand::Start {
            webhook_id,
            from,
            to,
            event_types,
            event_ids,
            only,
            dry_run,
            target,
            crc_check,
            max_in_flight,
            max_events_per_second,
            ordering_key,
            idempotency_key,
            wait,
        } => {
            let webhook = WebhookId::from(webhook_id);
            let req = CreateReplayRequest {
                event_types: (!event_types.is_empty()).then_some(event_types),
                event_ids: (!event_ids.is_empty()).then_some(event_ids),
                only,
                dry_run,
                target_webhook_id: target.map(WebhookId::from),
                crc_check,
                max_in_flight,
                max_events_per_second,
                ordering_key,
                ..CreateReplayRequest::window(from, to)
            };
            let accepted = match idempotency_key {
                Some(key) => client.start_replay_with_key(&webhook, &req, &key).await?,
                None => client.start_replay(&webhook, &req).await?,
            };
            if !wait {
                print(json, &accepted);
                return Ok(Exit::Ok);
            }
            watch(json, &client, &accepted.job_id).await
        }
        ReplayCommand::Status { job_id } => {
            print(json, &client.job(&JobId::from(job_id)).await?);
            Ok(Exit::Ok)
        }
        ReplayCommand::List { webhook_id, state, page } => {
            let query = JobQuery { webhook: webhook_id.map(WebhookId::from), states: state };
            if page.all {
                print(json, &serde_json::json!({"replays": client.all_replays(&query).await?}));
            } else {
                print(json, &client.replays(&query, page.cursor.as_deref(), page.limit).await?);
            }
            Ok(Exit::Ok)
        }
        ReplayCommand::Cancel { job_id } => {
            print(json, &client.cancel(&JobId::from(job_id)).await?);
            Ok(Exit::Ok)
        }
        ReplayCommand::Pause { job_id, reason, expires_in } => {
            let request = PauseRequest { reason, expires_in_seconds: expires_in };
            print(json, &client.pause(&JobId::from(job_id), &request).await?);
            Ok(Exit::Ok)
        }
        ReplayCommand::Resume { job_id } => {
            print(json, &client.resume(&JobId::from(job_id)).await?);
            Ok(Exit::Ok)
        }
        ReplayCommand::Watch { job_id } => watch(json, &client, &JobId::from(job_id)).await,
        ReplayCommand::Failures { job_id, csv } => {
            let failures = client.all_failures(&JobId::from(job_id)).await?;
            match csv {
                Some(path) => {
                    std::fs::write(&path, failures_csv(&failures))
                        .with_context(|| format!("writing {}", path.display()))?;
                    print(json, &serde_json::json!({"failures": failures.len(), "csv": path}));
                }
                None => print(json, &failures),
            }
            Ok(Exit::Ok)
        }
        ReplayCommand::Retry { job_id, wait } => {
            let accepted = client.retry(&JobId::from(job_id)).await?;
            if !wait {
                print(json, &accepted);
                return Ok(Exit::Ok);
            }
            watch(json, &client, &accepted.job_id).await
        }
    }
}

/// RFC 4180 CSV of a failure list, with a header line.
fn failures_csv(failures: &[replay_client::Failure]) -> String {
    let field = |s: &str| {
        if s.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_owned()
        }
    };
    let mut out = String::from("event_id,event_type,last_status,attempts,last_error,at\r\n");
    for f in failures {
        let row = [
            field(&f.event_id),
            field(f.event_type.as_deref().unwrap_or_default()),
            f.last_status.map(|s| s.to_string()).unwrap_or_default(),
            f.attempts.to_string(),
            field(&f.last_error),
            field(&f.at),
        ];
        out.push_str(&row.join(","));
        out.push_str("\r\n");
    }
    out
}

/// Follows a job to its end; exit code 5 unless it COMPLETED.
async fn watch(json: bool, client: &Client, job_id: &JobId) -> Result<Exit> {
    let mut progress = JobProgress::new(Duration::from_secs(5));
    let job = client.wait_for_end(job_id, Duration::from_secs(7 * 24 * 3600), |j| progress.update(j)).await?;
    progress.finish();
    print(json, &job);
    Ok(if job.state == JobState::Completed { Exit::Ok } else { Exit::JobNotCompleted })
}

/// What the operator commands read: the deployment's database and pepper.
/// The deployment's master key of webhook secrets (the stack's output
/// `WebhookSecretsKeyArn`).
async fn secrets_key() -> Result<KmsKeys> {
    let key_id = operator_env("WEBHOOK_SECRETS_KEY_ID")?;
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    Ok(KmsKeys::new(aws_sdk_kms::Client::new(&aws), key_id))
}

fn operator_env(name: &str) -> Result<String> {
    std::env::var(name)
        .with_context(|| format!("{name} is not set (the deployment's value; locally: source infra/local/env.sh)"))
}
