//! Shared helpers of the integration tests: every test gets its own database,
//! topic, queue and table on the real local services, so tests run in
//! parallel and leave nothing behind.

use anyhow::{Context, Result};
use rand::Rng;
use replay_core::adapters::dynamo::DynamoCheckpoints;
use replay_core::adapters::http::HttpDeliverer;
use replay_core::adapters::mysql::MySqlStore;
use replay_core::adapters::sqs::SqsQueue;
use replay_core::config::{KafkaConfig, Settings};
use replay_core::services::api::ApiContext;
use replay_core::services::sweeper::SweeperContext;
use replay_core::services::worker::{handle_message, WorkerContext};
use replayctl::seed::event_value;
use replayctl::setup;
use sqlx::Connection;
use std::time::{Duration, Instant};

pub use replayctl;

pub mod scenario;

pub const HOUR: i64 = 3_600_000;

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

/// One test's private set of resources on the local stack.
pub struct TestStack {
    pub database: String,
    pub database_url: String,
    pub kafka: KafkaConfig,
    pub queue_name: String,
    pub queue_url: String,
    pub dlq_url: String,
    pub table: String,
    pub aws: aws_config::SdkConfig,
    pub sqs: aws_sdk_sqs::Client,
    pub ddb: aws_sdk_dynamodb::Client,
    pub store: MySqlStore,
    /// Extra settings (name, value) on top of the test defaults.
    pub overrides: Vec<(String, String)>,
}

fn base_env(name: &str) -> Result<String> {
    std::env::var(name)
        .with_context(|| format!("{name} is not set: run the tests through `make test` (infra/local/env.sh)"))
}

impl TestStack {
    pub async fn new(partitions: i32) -> Result<Self> {
        Self::with_queue(partitions, 30, 5).await
    }

    pub async fn with_queue(partitions: i32, visibility_s: u32, max_receives: u32) -> Result<Self> {
        let base_url = base_env("DATABASE_URL")?;
        let database = unique("t_");
        let server = base_url.rsplit_once('/').map(|(s, _)| s.to_owned()).unwrap_or(base_url.clone());
        let mut admin = sqlx::MySqlConnection::connect(&base_url).await.context("connecting to MariaDB")?;
        sqlx::query(&format!("CREATE DATABASE {database}")).execute(&mut admin).await?;
        let database_url = format!("{server}/{database}");
        let store = MySqlStore::connect(&database_url).await?;
        store.migrate().await?;

        let kafka = KafkaConfig { brokers: base_env("KAFKA_BROKERS")?, topic: unique("dl_"), extra: Vec::new() };
        setup::create_topic(&kafka, partitions).await?;
        let aws = replay_core::adapters::aws_config().await;
        let sqs = aws_sdk_sqs::Client::new(&aws);
        let ddb = aws_sdk_dynamodb::Client::new(&aws);
        let queue_name = unique("q-");
        let (queue_url, dlq_url) = setup::create_queue(&sqs, &queue_name, visibility_s, max_receives).await?;
        let table = unique("cp_");
        setup::create_table(&ddb, &table).await?;
        Ok(Self {
            database,
            database_url,
            kafka,
            queue_name,
            queue_url,
            dlq_url,
            table,
            aws,
            sqs,
            ddb,
            store,
            overrides: Vec::new(),
        })
    }

    /// The environment the functions read (also used to build in-process contexts).
    pub fn env(&self) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = vec![
            ("DATABASE_URL".into(), self.database_url.clone()),
            ("KAFKA_BROKERS".into(), self.kafka.brokers.clone()),
            ("DELIVERY_LOG_TOPIC".into(), self.kafka.topic.clone()),
            ("SLICE_QUEUE_URL".into(), self.queue_url.clone()),
            ("CHECKPOINT_TABLE".into(), self.table.clone()),
            ("API_KEY_PEPPER".into(), "test-pepper".into()),
            ("ALLOW_PRIVATE_WEBHOOK_URLS".into(), "true".into()),
            ("SLICE_SECONDS".into(), "3600".into()),
            ("DEDUP_LOOKBACK_SECONDS".into(), "600".into()),
            ("CHECKPOINT_EVERY_EVENTS".into(), "500".into()),
            ("CHECKPOINT_EVERY_MS".into(), "1000".into()),
            ("HEARTBEAT_EVERY_MS".into(), "500".into()),
            ("LEASE_TTL_MS".into(), "5000".into()),
            ("STALE_AFTER_MS".into(), "10000".into()),
            ("DELIVERY_BACKOFF_BASE_MS".into(), "20".into()),
            ("DELIVERY_BACKOFF_MAX_MS".into(), "200".into()),
            ("DELIVERY_MAX_ATTEMPTS".into(), "3".into()),
            ("DEADLINE_MARGIN_MS".into(), "2000".into()),
            ("WORKER_TIME_BUDGET_MS".into(), "30000".into()),
            ("DELIVERY_RATE_PER_SECOND".into(), "0".into()),
            ("RATE_LIMIT_REPLAYS".into(), "100".into()),
        ];
        for (k, v) in &self.overrides {
            env.retain(|(name, _)| name != k);
            env.push((k.clone(), v.clone()));
        }
        env
    }

    pub fn set(&mut self, name: &str, value: &str) {
        self.overrides.retain(|(k, _)| k != name);
        self.overrides.push((name.into(), value.into()));
    }

    pub fn settings(&self) -> Result<Settings> {
        struct VecEnv(Vec<(String, String)>);
        impl replay_core::config::Env for VecEnv {
            fn get(&self, name: &str) -> Option<String> {
                self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
            }
        }
        Ok(Settings::from(&VecEnv(self.env()))?)
    }

    pub async fn api(&self) -> Result<ApiContext> {
        Ok(ApiContext::connect(self.settings()?, &self.aws).await?)
    }

    pub async fn worker(&self) -> Result<WorkerContext> {
        Ok(WorkerContext::connect(&self.settings()?, &self.aws).await?)
    }

    pub fn sweeper(&self) -> Result<SweeperContext> {
        let settings = self.settings()?;
        Ok(SweeperContext {
            store: self.store.clone(),
            queue: Box::new(SqsQueue::new(self.sqs.clone(), self.queue_url.clone())),
            deliverer: Box::new(HttpDeliverer::new(settings.delivery.clone())?),
            stale_after: settings.stale_after,
            max_restarts: settings.max_restarts,
            max_parallel_slices: settings.max_parallel_slices,
        })
    }

    /// Plays the event-source mapping in-process: receive, handle, delete
    /// what succeeded, until `done` says stop or the timeout passes.
    pub async fn drain_in_process(
        &self,
        worker: &WorkerContext,
        timeout: Duration,
        mut done: impl AsyncFnMut() -> bool,
    ) -> Result<u32> {
        let started = Instant::now();
        let mut handled = 0;
        while started.elapsed() < timeout {
            if done().await {
                return Ok(handled);
            }
            let out = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .send()
                .await?;
            for m in out.messages.unwrap_or_default() {
                let deadline = Instant::now() + Duration::from_secs(60);
                let result =
                    handle_message(worker, m.body.as_deref().unwrap_or_default(), &unique("owner-"), deadline).await;
                handled += 1;
                if result.is_ok() {
                    self.sqs
                        .delete_message()
                        .queue_url(&self.queue_url)
                        .receipt_handle(m.receipt_handle.unwrap_or_default())
                        .send()
                        .await?;
                }
            }
        }
        anyhow::bail!("not done after {timeout:?}")
    }

    pub async fn produce(&self, records: &[replayctl::seed::SeedRecord]) -> Result<()> {
        replayctl::seed::produce(&self.kafka, records).await
    }

    pub async fn cleanup(self) {
        let _ = sqlx::query(&format!("DROP DATABASE {}", self.database)).execute(self.store.pool()).await;
        let _ = setup::delete_topic(&self.kafka).await;
        let _ = self.sqs.delete_queue().queue_url(&self.queue_url).send().await;
        let _ = self.sqs.delete_queue().queue_url(&self.dlq_url).send().await;
        let _ = DynamoCheckpoints::delete_table(&self.ddb, &self.table).await;
    }
}

/// A record of `webhook` at `ts`, as the seeder writes them.
pub fn record(ts: i64, webhook: &str, event_id: &str, kind: replayctl::seed::SeedKind) -> replayctl::seed::SeedRecord {
    replayctl::seed::SeedRecord {
        timestamp: ts,
        webhook_id: webhook.to_owned(),
        event_id: event_id.to_owned(),
        kind,
        value: event_value(event_id, webhook, ts, "test"),
    }
}

/// A malformed record under `webhook`'s key.
pub fn malformed(ts: i64, webhook: &str, i: usize) -> replayctl::seed::SeedRecord {
    replayctl::seed::SeedRecord {
        timestamp: ts,
        webhook_id: webhook.to_owned(),
        event_id: format!("bad_{i}"),
        kind: replayctl::seed::SeedKind::Malformed,
        value: b"{\"event_id\": 12".to_vec(),
    }
}

/// Where the built function binaries are.
pub fn bin_dir() -> std::path::PathBuf {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(|p| p.to_path_buf()).unwrap_or_default();
    std::env::var("REPLAY_BIN_DIR").map(Into::into).unwrap_or_else(|_| root.join("target/debug"))
}

pub fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(|p| p.to_path_buf()).unwrap_or_default()
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(0)
}

/// Starts the function binaries under cargo lambda watch with this stack's
/// configuration, plus the local SQS mapping and schedule.
pub async fn start_runtime(
    stack: &TestStack,
    workers: usize,
    invoke_timeout: Duration,
) -> Result<replayctl::local::LocalRuntime> {
    let port = free_port();
    let opts = replayctl::local::RuntimeOptions {
        repo_root: repo_root(),
        bin_dir: bin_dir(),
        port,
        workers,
        batch_size: 1,
        sweep_every: Duration::from_secs(2),
        queue_url: stack.queue_url.clone(),
        env: stack.env(),
        invoke_timeout,
        log_dir: repo_root().join(".local/logs/tests").join(&stack.database),
    };
    replayctl::local::LocalRuntime::start(opts, stack.sqs.clone()).await
}

/// Registers a webhook through the API that delivers to `receiver`'s hook
/// `name`, and lets the receiver verify its signatures; returns the webhook id.
pub async fn webhook_to(
    api: &replayctl::client::ApiClient,
    receiver: &replayctl::receiver::Receiver,
    name: &str,
) -> Result<String> {
    let hook = api.create_webhook(&receiver.url(name)).await?;
    receiver.register(name, hook["secret"].as_str().unwrap_or_default());
    Ok(hook["id"].as_str().unwrap_or_default().to_owned())
}
