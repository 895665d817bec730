//! Shared helpers of the integration tests. Every test (or group of tests
//! that share settings) gets its own database, topic and checkpoint table and
//! deploys its own SAM stack of template.yaml to LocalStack, with its own
//! queue and timings (template parameters). Requests go through LocalStack's
//! API Gateway, slices through its SQS event source mapping, the functions
//! run as the host executor's processes, and the sweeper is invoked through
//! Lambda's Invoke (or its schedule).

use anyhow::{Context, Result};
use rand::Rng;
use replay_client::{Client, Job, JobId, WebhookId};
use replay_core::adapters::mysql::MySqlStore;
use replay_core::config::KafkaConfig;
use replay_lab::receiver::Receiver;
use replay_lab::seed::{event_value, SeedKind, SeedRecord};
use replay_lab::setup;
use replay_lab::stack::{self, Deployed, LocalEnv, StackSpec};
use serde_json::Value;
use std::time::{Duration, Instant};

pub use replay_client;
pub use replay_lab;
pub use replay_types;

pub mod dns;
pub mod scenario;

pub const HOUR: i64 = 3_600_000;
pub const PEPPER: &str = "test-pepper";

/// A short random suffix for resource names.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}{:08x}", rand::thread_rng().gen::<u32>())
}

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

pub fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(|p| p.to_path_buf()).unwrap_or_default()
}

/// The settings every test stack starts from: timings scaled down (a lease of
/// seconds) so faults play out in a test's time.
pub const TEST_SETTINGS: &[(&str, &str)] = &[
    ("WEBHOOK_ALLOW_LIST", replay_lab::receiver::RECEIVER_ALLOW_LIST),
    ("SLICE_SECONDS", "3600"),
    ("DEDUP_LOOKBACK_SECONDS", "600"),
    ("CHECKPOINT_EVERY_EVENTS", "500"),
    ("CHECKPOINT_EVERY_MS", "1000"),
    ("HEARTBEAT_EVERY_MS", "500"),
    ("LEASE_TTL_MS", "5000"),
    ("STALE_AFTER_MS", "10000"),
    ("DELIVERY_BACKOFF_BASE_MS", "20"),
    ("DELIVERY_BACKOFF_MAX_MS", "200"),
    ("DELIVERY_MAX_ATTEMPTS", "3"),
    ("DEADLINE_MARGIN_MS", "2000"),
    ("DELIVERY_RATE_PER_SECOND", "0"),
    ("RATE_LIMIT_REPLAYS", "100"),
    // The fuzzers send hundreds of requests a minute with one key; the
    // limit is counted on every request all the same, and fair_shares.rs
    // sets a tenant's own lower one.
    ("TENANT_REQUESTS_PER_MINUTE", "6000"),
];

/// Template parameters of every test stack (on top of samconfig.toml's local ones).
pub const TEST_PARAMETERS: &[(&str, &str)] = &[
    ("WorkerTimeoutSeconds", "30"),
    ("SliceQueueVisibilityTimeoutSeconds", "40"),
    ("SliceMaxReceiveCount", "5"),
    ("DatabaseConnectionBudget", "40"),
    // Tests invoke the sweeper when they want a sweep (one test shows the schedule).
    ("SweeperScheduleEnabled", "false"),
];

/// One test's private resources, and its stack once deployed.
pub struct TestStack {
    pub env: LocalEnv,
    pub database: String,
    pub database_url: String,
    pub kafka: KafkaConfig,
    pub table: String,
    pub aws: aws_config::SdkConfig,
    pub sqs: aws_sdk_sqs::Client,
    pub ddb: aws_sdk_dynamodb::Client,
    pub store: MySqlStore,
    pub spec: StackSpec,
    deployed: Option<Deployed>,
}

fn env() -> Result<LocalEnv> {
    let mut env = LocalEnv::from_env().context("run the tests through `make test` (infra/local/env.sh)")?;
    env.repo_root = repo_root();
    env.pepper = PEPPER.into();
    Ok(env)
}

impl TestStack {
    /// A database, a topic of `partitions` and a checkpoint table; call
    /// [`TestStack::deploy`] (after any [`TestStack::set`]) for the stack.
    pub async fn new(partitions: i32) -> Result<Self> {
        let env = env()?;
        let database = unique("t_");
        let database_url = setup::create_database(&env.database_url, &database).await?;
        let store = MySqlStore::connect(&database_url).await?;
        let kafka = KafkaConfig::plain(env.kafka.brokers.clone(), unique("dl_"));
        setup::create_topic(&kafka, partitions).await?;
        let aws = replay_core::adapters::aws_config().await;
        let sqs = aws_sdk_sqs::Client::new(&aws);
        let ddb = aws_sdk_dynamodb::Client::new(&aws);
        let table = unique("cp_");
        setup::create_table(&ddb, &table).await?;
        let mut spec = StackSpec {
            name: format!("it-{}", database.replace('_', "-")),
            bin_dir: stack::bin_dir(&repo_root()),
            database_url: database_url.clone(),
            ..StackSpec::default()
        };
        for (k, v) in TEST_SETTINGS {
            spec.setting(k, v);
        }
        for (k, v) in TEST_PARAMETERS {
            spec.parameter(k, v);
        }
        spec.parameter("DeliveryLogTopic", &kafka.topic).parameter("ExistingCheckpointTable", &table);
        Ok(Self { env, database, database_url, kafka, table, aws, sqs, ddb, store, spec, deployed: None })
    }

    /// A setting by its environment name (docs/configuration.md).
    pub fn set(&mut self, name: &str, value: &str) -> &mut Self {
        self.spec.setting(name, value);
        self
    }

    /// A template parameter.
    pub fn parameter(&mut self, name: &str, value: &str) -> &mut Self {
        self.spec.parameter(name, value);
        self
    }

    /// Deploys (or updates) this test's stack.
    pub async fn deploy(&mut self) -> Result<&Deployed> {
        let deployed = stack::deploy(&self.env, &self.spec).await?;
        Ok(self.deployed.insert(deployed))
    }

    pub fn deployed(&self) -> &Deployed {
        self.deployed.as_ref().expect("deploy() the stack first")
    }

    /// A client of this stack's API (through LocalStack's API Gateway).
    pub fn api(&self, key: &str) -> Client {
        Client::new(&self.deployed().api_url, key)
    }

    /// Runs the sweeper once, through Lambda's Invoke; its report.
    pub async fn sweep(&self) -> Result<Value> {
        stack::invoke(&self.env, &self.deployed().sweeper_function_name, &serde_json::json!({})).await
    }

    /// Runs the sweeper every `every` until the returned guard is dropped, as
    /// the schedule does in AWS (tests that kill workers need it).
    pub fn keep_sweeping(&self, every: Duration) -> Sweeping {
        let (env, function) = (self.env.clone(), self.deployed().sweeper_function_name.clone());
        Sweeping(tokio::spawn(async move {
            loop {
                let _ = stack::invoke(&env, &function, &serde_json::json!({})).await;
                tokio::time::sleep(every).await;
            }
        }))
    }

    /// Runs the operator CLI against this stack (its database and, once
    /// deployed, its KMS key); its JSON output. Fails with its stderr.
    pub async fn replayctl(&self, args: &[&str]) -> Result<Value> {
        let mut command = tokio::process::Command::new(repo_root().join("target/debug/replayctl"));
        command
            .arg("--json")
            .args(args)
            .env("DATABASE_URL", &self.database_url)
            .env("API_KEY_PEPPER", PEPPER)
            .env("KAFKA_BROKERS", &self.kafka.brokers)
            .env("DELIVERY_LOG_TOPIC", &self.kafka.topic);
        if let Some(d) = &self.deployed {
            command.env("WEBHOOK_SECRETS_KEY_ID", &d.webhook_secrets_key_arn);
        }
        let out = command.output().await?;
        anyhow::ensure!(out.status.success(), "replayctl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).with_context(|| format!("replayctl {args:?} printed no JSON"))
    }

    /// PIDs of the worker function's processes.
    pub async fn worker_pids(&self) -> Result<Vec<u32>> {
        stack::pids(&self.env, &self.deployed().worker_function_name).await
    }

    pub async fn produce(&self, records: &[SeedRecord]) -> Result<()> {
        replay_lab::seed::produce(&self.kafka, records).await
    }

    /// Waits for the job to end, as `Client::wait_for_end`; one that does not
    /// end in time fails with what a reader needs to tell a slow machine from
    /// a lost slice: each slice's row, the slice queue's messages (visible,
    /// in flight) and the worker's last log lines about the job.
    pub async fn wait_for_end(&self, api: &Client, job: &JobId, timeout: Duration) -> Result<Job> {
        match api.wait_for_end(job, timeout, |_| {}).await {
            Err(e @ replay_client::ClientError::Timeout { .. }) => {
                Err(anyhow::anyhow!("{e}\n{}", self.explain(job).await))
            }
            other => Ok(other?),
        }
    }

    /// The state of a job's slices, queue and worker, as text.
    pub async fn explain(&self, job: &JobId) -> String {
        let mut out = String::new();
        let rows: Vec<SliceRow> = sqlx::query_as(
            "SELECT slice_index, state, restarts, CAST(heartbeat_at AS CHAR) AS heartbeat, \
             CAST(enqueued_at AS CHAR) AS enqueued, events_scanned, events_delivered \
             FROM replay_slices WHERE job_id = ? ORDER BY slice_index",
        )
        .bind(job.as_str())
        .fetch_all(self.store.pool())
        .await
        .unwrap_or_else(|e| {
            out += &format!("slices: {e}\n");
            Vec::new()
        });
        for r in rows {
            out += &format!(
                "slice {}: {}, restarts {}, heartbeat {:?}, enqueued {:?}, scanned {}, delivered {}\n",
                r.slice_index, r.state, r.restarts, r.heartbeat, r.enqueued, r.events_scanned, r.events_delivered
            );
        }
        let Some(d) = &self.deployed else { return out };
        match self.queue_depth(&d.slice_queue_url).await {
            Ok((visible, in_flight)) => out += &format!("slice queue: {visible} visible, {in_flight} in flight\n"),
            Err(e) => out += &format!("slice queue: {e}\n"),
        }
        match self.queue_depth(&d.slice_dead_letter_queue_url).await {
            Ok((visible, _)) => out += &format!("dead letters: {visible}\n"),
            Err(e) => out += &format!("dead letters: {e}\n"),
        }
        let lines = stack::log_lines(&self.env, &d.worker_log_group_name, job.as_str()).await.unwrap_or_else(|e| {
            out += &format!("worker log: {e}\n");
            Vec::new()
        });
        for line in lines.iter().rev().take(40).rev() {
            // The spans repeat the job, the request and the owner on every line.
            match serde_json::from_str::<Value>(line) {
                Ok(Value::Object(mut fields)) => {
                    fields.remove("spans");
                    out += &Value::Object(fields).to_string();
                }
                _ => out += line.trim_end(),
            }
            out.push('\n');
        }
        out
    }

    /// Messages visible and in flight in a queue.
    pub async fn queue_depth(&self, url: &str) -> Result<(u64, u64)> {
        use aws_sdk_sqs::types::QueueAttributeName as A;
        let out = self
            .sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(A::ApproximateNumberOfMessages)
            .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await?;
        let attrs = out.attributes.unwrap_or_default();
        let n = |a: A| attrs.get(&a).and_then(|v| v.parse().ok()).unwrap_or(0);
        Ok((n(A::ApproximateNumberOfMessages), n(A::ApproximateNumberOfMessagesNotVisible)))
    }

    pub async fn cleanup(self) {
        if let Some(d) = &self.deployed {
            let _ = stack::delete(&self.env, &d.stack_name, false).await;
        }
        let _ = setup::drop_database(&self.env.database_url, &self.database).await;
        let _ = setup::delete_topic(&self.kafka).await;
        let _ = setup::delete_table(&self.ddb, &self.table).await;
    }
}

/// A slice's row as `TestStack::explain` prints it.
#[derive(sqlx::FromRow)]
struct SliceRow {
    slice_index: i32,
    state: String,
    restarts: i32,
    heartbeat: Option<String>,
    enqueued: Option<String>,
    events_scanned: i64,
    events_delivered: i64,
}

/// The sweeper running in the background; stops when dropped.
pub struct Sweeping(tokio::task::JoinHandle<()>);

impl Drop for Sweeping {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// LocalStack's gateway answers every request with `Connection: close` (its
/// hypercorn workaround, localstack#6557), so each request is a new
/// connection; under a burst one is now and then reset before it reaches the
/// gateway (seen once in about 40 CI runs: one of 110 GETs sent ten at a
/// time, absent from LocalStack's log). A test that counts the API's answers
/// sends such a request again: only a failure without an HTTP status (a reset,
/// refused or timed-out connection) is retried, never an answer.
const TRANSPORT_ATTEMPTS: u32 = 3;

/// The API's answer to one request (`Client::raw`), sent again when the
/// connection failed before any answer came (see [`TRANSPORT_ATTEMPTS`]).
pub async fn answer(
    api: &Client,
    method: reqwest::Method,
    path: &str,
    body: Option<&Value>,
) -> replay_client::Result<replay_client::RawReply> {
    let mut attempt = 1;
    loop {
        match api.raw(method.clone(), path, body, &[]).await {
            Err(replay_client::ClientError::Transport(_)) if attempt < TRANSPORT_ATTEMPTS => attempt += 1,
            outcome => return outcome,
        }
    }
}

/// A client policy that never waits out a 429 or 503 (every wait is above
/// `max_wait`, so the answer comes back as the error) but sends a safe
/// request again when its connection failed (see [`TRANSPORT_ATTEMPTS`]).
pub fn no_waiting() -> replay_client::RetryPolicy {
    replay_client::RetryPolicy {
        max_attempts: TRANSPORT_ATTEMPTS,
        max_wait: Duration::ZERO,
        backoff: Duration::from_millis(100),
    }
}

/// Polls `done` every 100 ms until it holds or `timeout` passes.
pub async fn eventually(timeout: Duration, what: &str, mut done: impl AsyncFnMut() -> bool) -> Result<()> {
    let started = Instant::now();
    while !done().await {
        anyhow::ensure!(started.elapsed() < timeout, "{what}: not after {timeout:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// A record of `webhook` at `ts`, as the seeder writes them.
pub fn record(ts: i64, webhook: impl AsRef<str>, event_id: &str, kind: SeedKind) -> SeedRecord {
    let webhook = webhook.as_ref();
    SeedRecord {
        timestamp: ts,
        webhook_id: webhook.to_owned(),
        event_id: event_id.to_owned(),
        kind,
        value: event_value(event_id, webhook, ts, "test"),
    }
}

/// A malformed record under `webhook`'s key.
pub fn malformed(ts: i64, webhook: &str, i: usize) -> SeedRecord {
    SeedRecord {
        timestamp: ts,
        webhook_id: webhook.to_owned(),
        event_id: format!("bad_{i}"),
        kind: SeedKind::Malformed,
        value: b"{\"event_id\": 12".to_vec(),
    }
}

/// Registers a webhook through the API that delivers to `receiver`'s hook
/// `name`, and lets the receiver verify its signatures; returns the webhook id.
pub async fn webhook_to(api: &Client, receiver: &Receiver, name: &str) -> Result<WebhookId> {
    let hook = api.create_webhook(&receiver.url(name)).await?;
    receiver.register(name, hook.secret.as_deref().context("a made secret is shown once")?);
    Ok(hook.id)
}

/// The window `[from, to)` (ms) as a replay request.
pub fn window(from: i64, to: i64) -> replay_client::CreateReplayRequest {
    replay_client::CreateReplayRequest::window(rfc3339(from), rfc3339(to))
}

/// Starts a replay of `[from, to)`; the job id.
pub async fn start(api: &Client, webhook: &WebhookId, from: i64, to: i64) -> Result<replay_client::JobId> {
    Ok(api.start_replay(webhook, &window(from, to)).await?.job_id)
}
