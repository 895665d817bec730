//! Configuration, read and validated once at cold start.

pub use crate::adapters::kafka_auth::KafkaAuth;
use crate::domain::log_index::BLOCK_RECORDS;
use crate::domain::retry::RetryRule;
use crate::domain::webhook_url::UrlPolicy;
use crate::error::{Error, Result};
use std::str::FromStr;
use std::time::Duration;

/// Kafka connection settings; extra `librdkafka` properties can be passed as
/// `KAFKA_PROPERTIES="security.protocol=SASL_SSL,sasl.mechanism=SCRAM-SHA-512,..."`
/// and SASL credentials, whole, as `KAFKA_SASL_USERNAME` / `KAFKA_SASL_PASSWORD`.
#[derive(Debug, Clone)]
pub struct KafkaConfig {
    pub brokers: String,
    pub topic: String,
    pub extra: Vec<(String, String)>,
    pub sasl: Option<SaslCredentials>,
    /// How the clients authenticate (`KAFKA_AUTH`, adapters/kafka_auth.rs).
    pub auth: KafkaAuth,
}

impl KafkaConfig {
    /// The delivery log's settings alone (`KAFKA_*`, `DELIVERY_LOG_TOPIC`):
    /// what an operator tool that reads the log needs.
    pub fn from_env() -> Result<Self> {
        Self::from(&LayeredEnv::new(&ProcessEnv)?)
    }

    fn from(env: &dyn Env) -> Result<Self> {
        let extra = env
            .get("KAFKA_PROPERTIES")
            .map(|raw| {
                raw.split(',')
                    .filter(|kv| !kv.trim().is_empty())
                    .map(|kv| {
                        let (k, v) = kv.split_once('=').ok_or_else(|| {
                            // Only the key is named: an entry could be half a credential.
                            Error::Config("a KAFKA_PROPERTIES entry is not key=value".into())
                        })?;
                        let k = k.trim();
                        if CREDENTIAL_PROPERTIES.contains(&k) {
                            return Err(Error::Config(format!(
                                "KAFKA_PROPERTIES must not carry {k}: use KAFKA_SASL_USERNAME / KAFKA_SASL_PASSWORD"
                            )));
                        }
                        Ok((k.to_owned(), v.trim().to_owned()))
                    })
                    .collect::<Result<Vec<_>>>()
            })
            .transpose()?
            .unwrap_or_default();
        let sasl = match (env.get("KAFKA_SASL_USERNAME"), env.get("KAFKA_SASL_PASSWORD")) {
            (Some(username), Some(password)) => Some(SaslCredentials { username, password: Secret::new(password) }),
            (None, None) => None,
            _ => return Err(Error::Config("KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD must be set together".into())),
        };
        let auth =
            KafkaAuth::from_settings(env.get("KAFKA_AUTH").as_deref(), env.get("AWS_REGION"), sasl.is_some(), &extra)?;
        Ok(Self {
            brokers: required(env, "KAFKA_BROKERS")?,
            topic: env.get("DELIVERY_LOG_TOPIC").unwrap_or_else(|| "delivery_log".into()),
            extra,
            sasl,
            auth,
        })
    }

    /// Brokers and topic only (plaintext, no extra properties).
    pub fn plain(brokers: impl Into<String>, topic: impl Into<String>) -> Self {
        Self { brokers: brokers.into(), topic: topic.into(), extra: Vec::new(), sasl: None, auth: KafkaAuth::None }
    }

    /// The same, authenticating with `auth`.
    pub fn with_auth(self, auth: KafkaAuth) -> Self {
        Self { auth, ..self }
    }
}

#[derive(Clone)]
pub struct SaslCredentials {
    pub username: String,
    pub password: Secret,
}

impl std::fmt::Debug for SaslCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SaslCredentials").field("username", &self.username).field("password", &self.password).finish()
    }
}

/// A credential: whole, never printed (Debug and Display show `<redacted>`).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Properties that carry credentials: only through KAFKA_SASL_* (whole, never split).
const CREDENTIAL_PROPERTIES: &[&str] =
    &["sasl.password", "sasl.username", "ssl.key.password", "sasl.oauthbearer.client.secret"];

/// How deliveries behave (docs/api.md, "Signed deliveries").
#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    pub concurrency: usize,
    /// The HTTP client's timeout (each attempt gets its own, no longer).
    pub request_timeout: Duration,
    /// Where webhooks may point (checked for every connection).
    pub url_policy: UrlPolicy,
    /// The DNS server to resolve webhook hosts with (None: the system's).
    pub dns_server: Option<std::net::SocketAddr>,
}

/// Worker behaviour per slice.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// The per-event retry rule, applied by the slice's decider.
    pub retry: RetryRule,
    pub dedup_lookback_ms: i64,
    /// How far producers' clocks may differ: scanned beyond both edges of a
    /// slice, and how long copies of an event from before it can still turn up.
    pub skew_ms: i64,
    /// A record timestamped this far ahead of the log around it is a broken clock.
    pub anomaly_ms: i64,
    /// Events started (or finished out of order) beyond the first unfinished
    /// one: with the checkpoint interval, what a crash can repeat.
    pub delivery_window: usize,
    /// Payload bytes those events may hold.
    pub max_window_bytes: usize,
    /// A scan batch ends after this many payload bytes.
    pub max_batch_bytes: usize,
    pub checkpoint_every_events: u64,
    pub checkpoint_every: Duration,
    pub heartbeat_every: Duration,
    pub lease_ttl: Duration,
    /// Stop reading this long before the Lambda deadline to checkpoint and continue.
    pub deadline_margin: Duration,
    pub checkpoint_ttl: Duration,
    /// Requests started per second by one slice (0 = no limit).
    pub delivery_rate_per_second: u32,
    /// Each slice's requests in flight follow the receiver (`ADAPTIVE_PACE`,
    /// default on; domain/pace.rs) within `DELIVERY_CONCURRENCY`; off, they
    /// stay at it.
    pub adaptive_pace: bool,
    /// Consecutive failed events (5xx, 429, timeouts, connection errors, after
    /// their retries) that open the circuit and pause the slice.
    pub circuit_break_after: u32,
    pub circuit_pause: Duration,
    /// Pauses before the slice gives up and fails its remaining events unsent.
    pub circuit_max_pauses: u32,
    /// A message of a newer format goes back to the queue this much later...
    pub handback_delay_s: u32,
    /// ...at most this many times, then to the DLQ (docs/operations.md).
    pub max_handbacks: u32,
}

/// Ended jobs age out (docs/operations.md, "Data that ages out").
#[derive(Debug, Clone)]
pub struct PurgeConfig {
    /// An ended job is purged this long after it ended.
    pub job_retention: Duration,
    /// Jobs deleted per transaction, with their slices, failures and keys.
    pub batch_jobs: u32,
    /// Batches per sweep (0 = purge nothing).
    pub max_batches: u32,
    /// An audit row is purged this long after it was written.
    pub audit_retention: Duration,
}

/// The log's index (docs/guarantees.md, "The log's index").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexConfig {
    /// Slices read through the index and the sweeper writes it
    /// (`LOG_INDEX`, `true` or `false`).
    pub enabled: bool,
    /// How long the sweeper's indexer may read per run (`INDEX_PASS_SECONDS`).
    pub pass: Duration,
    /// Records of one partition it indexes per run at most (`INDEX_RECORDS_PER_PASS`).
    pub records_per_partition: u64,
    /// Records per block (`INDEX_BLOCK_RECORDS`): a rare webhook's slice
    /// reads about this many records per event; smaller blocks make more rows.
    pub block_records: usize,
}

/// How long a pause may last (docs/guarantees.md, "Pause and resume"): at
/// most `MAX_PAUSE_SECONDS`, and never past the moment the window's start
/// leaves `REPLAY_RETENTION_HOURS`.
#[derive(Debug, Clone, Copy)]
pub struct PauseLimits {
    pub max: Duration,
    pub retention_hours: u32,
}

impl PauseLimits {
    /// The most a pause may ask for, in seconds.
    pub fn max_s(&self) -> u32 {
        self.max.as_secs().min(u64::from(u32::MAX)) as u32
    }

    /// A pause's length: `asked` (else the maximum), cut at the window's
    /// retention; at least a second.
    pub fn expires_in_s(&self, asked: Option<u32>, window_from_ms: i64, now_ms: i64) -> u32 {
        let retained_ms = window_from_ms + i64::from(self.retention_hours) * 3_600_000 - now_ms;
        let retained_s = (retained_ms / 1_000).clamp(1, i64::from(u32::MAX)) as u32;
        asked.unwrap_or(self.max_s()).min(self.max_s()).min(retained_s).max(1)
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    /// Carries the database password: whole, never printed.
    pub database_url: Secret,
    pub kafka: KafkaConfig,
    pub queue_url: String,
    pub checkpoint_table: String,
    pub api_key_pepper: Secret,
    /// The KMS key (id or ARN) webhook secrets are sealed under.
    pub webhook_secrets_key_id: String,
    pub retention_hours: u32,
    /// `to` of a replay must be at least this long ago.
    pub settle_ms: i64,
    /// How long around a partition-count change both counts are read.
    pub partition_change_margin_ms: i64,
    pub slice_ms: i64,
    /// Where webhooks may point (domain/webhook_url.rs).
    pub url_policy: UrlPolicy,
    pub dns_server: Option<std::net::SocketAddr>,
    pub stale_after: Duration,
    pub max_restarts: u32,
    /// Slices of one job running at once (with DELIVERY_CONCURRENCY and
    /// DELIVERY_RATE_PER_SECOND, the per-job cap on load on a receiver).
    pub max_parallel_slices: u32,
    /// How long a job may stay paused.
    pub pause: PauseLimits,
    /// Replay requests accepted per webhook per window (Twitter: 5 per 15 minutes).
    pub rate_limit_replays: u32,
    pub rate_limit_window_s: u32,
    /// Each tenant's share of the API and the worker pool.
    pub fair_share: FairShareConfig,
    pub delivery: DeliveryConfig,
    pub worker: WorkerConfig,
    pub purge: PurgeConfig,
    pub log_index: IndexConfig,
    /// MySQL connections one function instance opens at most: the template
    /// derives it from the connection budget (docs/operations.md).
    pub database_max_connections: u32,
    /// The worker function's timeout (`WORKER_TIMEOUT_SECONDS`, from the
    /// template's `WorkerTimeoutSeconds`), to check the delivery timeout against.
    pub worker_timeout: Option<Duration>,
    /// Crash points to arm (`name=actions;...`, the `fail` crate's syntax);
    /// only builds with the `failpoints` feature read it.
    pub failpoints: Option<String>,
}

/// Fair shares between tenants (docs/security.md, "Fair shares"): the
/// defaults for tenants without an override in `tenant_limits` (`replayctl
/// tenant limits`); 0 = no limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FairShareConfig {
    /// API requests per tenant per minute, all its keys together.
    pub requests_per_minute: u32,
    /// Jobs of the tenant OPEN, STARTED or ONGOING at once.
    pub max_active_jobs: u32,
    /// Slices of the tenant running at once, across all its jobs.
    pub max_running_slices: u32,
    /// Slices running at once across every tenant: the worker pool, its SQS
    /// `MaximumConcurrency` (`WORKER_POOL_SLICES`, set by the template; 0 =
    /// no cap). A slice taken beyond it would wait in the queue without
    /// heartbeats, and the sweeper would count it stale.
    pub pool_slices: u32,
    /// How long a wake-up that found every waiting slice's tenant at its cap
    /// waits before it looks again (1-900 s: SQS's delays).
    pub defer_s: u32,
}

pub trait Env {
    fn get(&self, name: &str) -> Option<String>;
}

pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }
}

impl<const N: usize> Env for [(&str, &str); N] {
    fn get(&self, name: &str) -> Option<String> {
        self.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned())
    }
}

impl Env for Vec<(String, String)> {
    fn get(&self, name: &str) -> Option<String> {
        self.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }
}

/// Settings an operator may give in `REPLAY_SETTINGS` (the template's
/// `SettingsOverrides`): tuning only, never credentials or addresses.
pub const TUNABLE: &[&str] = &[
    "ADAPTIVE_PACE",
    "AUDIT_RETENTION_DAYS",
    "CHECKPOINT_EVERY_EVENTS",
    "CHECKPOINT_EVERY_MS",
    "CHECKPOINT_TTL_HOURS",
    "CIRCUIT_BREAK_AFTER",
    "CIRCUIT_MAX_PAUSES",
    "CIRCUIT_PAUSE_MS",
    "CLOCK_ANOMALY_MS",
    "CLOCK_SKEW_MS",
    "DEADLINE_MARGIN_MS",
    "DEDUP_LOOKBACK_SECONDS",
    "DELIVERY_BACKOFF_BASE_MS",
    "DELIVERY_BACKOFF_MAX_MS",
    "DELIVERY_RETRY_AFTER_MAX_MS",
    "DELIVERY_RETRY_BUDGET_MS",
    "DELIVERY_WINDOW",
    "HANDBACK_DELAY_SECONDS",
    "HEARTBEAT_EVERY_MS",
    "INDEX_BLOCK_RECORDS",
    "INDEX_PASS_SECONDS",
    "INDEX_RECORDS_PER_PASS",
    "LEASE_TTL_MS",
    "MAX_BATCH_BYTES",
    "MAX_HANDBACKS",
    "MAX_PAUSE_SECONDS",
    "MAX_SLICE_RESTARTS",
    "MAX_WINDOW_BYTES",
    "PARTITION_CHANGE_MARGIN_MS",
    "PURGE_BATCH_JOBS",
    "PURGE_MAX_BATCHES",
    "RATE_LIMIT_REPLAYS",
    "RATE_LIMIT_WINDOW_SECONDS",
    "SETTLE_SECONDS",
    "STALE_AFTER_MS",
    "TENANT_DEFER_SECONDS",
    "TENANT_MAX_ACTIVE_JOBS",
    "TENANT_MAX_RUNNING_SLICES",
    "TENANT_REQUESTS_PER_MINUTE",
    // Crash points for the lifecycle tests; only builds with the `failpoints`
    // feature know the name (never the Lambda build).
    #[cfg(feature = "failpoints")]
    "FAILPOINTS",
];

/// The process environment with `REPLAY_SETTINGS="NAME=VALUE NAME=VALUE"`
/// laid over it (docs/configuration.md).
pub struct LayeredEnv<'a> {
    base: &'a dyn Env,
    overrides: Vec<(String, String)>,
}

impl<'a> LayeredEnv<'a> {
    pub fn new(base: &'a dyn Env) -> Result<Self> {
        let mut overrides = Vec::new();
        for pair in base.get("REPLAY_SETTINGS").unwrap_or_default().split_whitespace() {
            let (name, value) = pair
                .split_once('=')
                .ok_or_else(|| Error::Config(format!("REPLAY_SETTINGS entry `{pair}` is not NAME=VALUE")))?;
            if !TUNABLE.contains(&name) {
                return Err(Error::Config(format!(
                    "REPLAY_SETTINGS names `{name}`, which is not a tuning setting (docs/configuration.md)"
                )));
            }
            if base.get(name).is_some() {
                return Err(Error::Config(format!("{name} is set both directly and in REPLAY_SETTINGS")));
            }
            overrides.push((name.to_owned(), value.to_owned()));
        }
        Ok(Self { base, overrides })
    }
}

impl Env for LayeredEnv<'_> {
    fn get(&self, name: &str) -> Option<String> {
        self.overrides.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).or_else(|| self.base.get(name))
    }
}

fn required(env: &dyn Env, name: &str) -> Result<String> {
    env.get(name).ok_or_else(|| Error::Config(format!("missing environment variable {name}")))
}

fn parsed<T: FromStr>(env: &dyn Env, name: &str, default: T) -> Result<T> {
    match env.get(name) {
        None => Ok(default),
        Some(raw) => {
            raw.parse().map_err(|_| Error::Config(format!("environment variable {name} has an invalid value `{raw}`")))
        }
    }
}

fn millis(env: &dyn Env, name: &str, default_ms: u64) -> Result<Duration> {
    Ok(Duration::from_millis(parsed(env, name, default_ms)?))
}

impl Settings {
    pub fn from_env() -> Result<Self> {
        Self::from(&ProcessEnv)
    }

    pub fn from(base: &dyn Env) -> Result<Self> {
        let layered = LayeredEnv::new(base)?;
        let env: &dyn Env = &layered;
        let kafka = KafkaConfig::from(env)?;
        let slice_seconds: i64 = parsed(env, "SLICE_SECONDS", 3_600)?;
        if slice_seconds <= 0 {
            return Err(Error::Config("SLICE_SECONDS must be positive".into()));
        }
        let concurrency: usize = parsed(env, "DELIVERY_CONCURRENCY", 16)?;
        if concurrency == 0 {
            return Err(Error::Config("DELIVERY_CONCURRENCY must be at least 1".into()));
        }
        if env.get("ALLOW_PRIVATE_WEBHOOK_URLS").is_some() {
            return Err(Error::Config(
                "ALLOW_PRIVATE_WEBHOOK_URLS is gone: list what webhooks may reach in WEBHOOK_ALLOW_LIST (CIDR:port)"
                    .into(),
            ));
        }
        let url_policy = UrlPolicy::parse(&env.get("WEBHOOK_ALLOW_LIST").unwrap_or_default())
            .map_err(|e| Error::Config(format!("WEBHOOK_ALLOW_LIST: {e}")))?;
        let dns_server = env
            .get("WEBHOOK_DNS_SERVER")
            .filter(|v| !v.is_empty())
            .map(|v| v.parse().map_err(|_| Error::Config(format!("WEBHOOK_DNS_SERVER must be ip:port, got {v}"))))
            .transpose()?;
        let request_timeout = millis(env, "DELIVERY_TIMEOUT_MS", 10_000)?;
        let settings = Self {
            failpoints: if cfg!(feature = "failpoints") { env.get("FAILPOINTS") } else { None },
            database_url: Secret::new(required(env, "DATABASE_URL")?),
            kafka,
            queue_url: required(env, "SLICE_QUEUE_URL")?,
            checkpoint_table: required(env, "CHECKPOINT_TABLE")?,
            api_key_pepper: Secret::new(required(env, "API_KEY_PEPPER")?),
            webhook_secrets_key_id: required(env, "WEBHOOK_SECRETS_KEY_ID")?,
            retention_hours: parsed(env, "REPLAY_RETENTION_HOURS", 120)?,
            settle_ms: parsed::<i64>(env, "SETTLE_SECONDS", 600)? * 1_000,
            partition_change_margin_ms: parsed(env, "PARTITION_CHANGE_MARGIN_MS", 600_000)?,
            slice_ms: slice_seconds * 1_000,
            url_policy: url_policy.clone(),
            dns_server,
            stale_after: millis(env, "STALE_AFTER_MS", 60_000)?,
            max_restarts: parsed(env, "MAX_SLICE_RESTARTS", 5)?,
            max_parallel_slices: parsed::<u32>(env, "MAX_PARALLEL_SLICES", 4)?.max(1),
            pause: PauseLimits {
                max: Duration::from_secs(parsed::<u64>(env, "MAX_PAUSE_SECONDS", 86_400)?.max(1)),
                retention_hours: parsed(env, "REPLAY_RETENTION_HOURS", 120)?,
            },
            rate_limit_replays: parsed(env, "RATE_LIMIT_REPLAYS", 5)?,
            rate_limit_window_s: parsed(env, "RATE_LIMIT_WINDOW_SECONDS", 900)?,
            fair_share: FairShareConfig {
                requests_per_minute: parsed(env, "TENANT_REQUESTS_PER_MINUTE", 600)?,
                max_active_jobs: parsed(env, "TENANT_MAX_ACTIVE_JOBS", 20)?,
                max_running_slices: parsed(env, "TENANT_MAX_RUNNING_SLICES", 16)?,
                pool_slices: parsed(env, "WORKER_POOL_SLICES", 0)?,
                defer_s: parsed::<u32>(env, "TENANT_DEFER_SECONDS", 5)?.clamp(1, 900),
            },
            delivery: DeliveryConfig { concurrency, request_timeout, url_policy, dns_server },
            worker: WorkerConfig {
                retry: RetryRule {
                    request_timeout,
                    max_attempts: parsed::<u32>(env, "DELIVERY_MAX_ATTEMPTS", 5)?.max(1),
                    backoff_base: millis(env, "DELIVERY_BACKOFF_BASE_MS", 200)?,
                    backoff_max: millis(env, "DELIVERY_BACKOFF_MAX_MS", 10_000)?,
                    retry_after_max: millis(env, "DELIVERY_RETRY_AFTER_MAX_MS", 60_000)?,
                    budget: millis(env, "DELIVERY_RETRY_BUDGET_MS", 900_000)?,
                },
                dedup_lookback_ms: parsed::<i64>(env, "DEDUP_LOOKBACK_SECONDS", 900)? * 1_000,
                skew_ms: parsed(env, "CLOCK_SKEW_MS", 10_000)?,
                anomaly_ms: parsed(env, "CLOCK_ANOMALY_MS", 600_000)?,
                delivery_window: parsed::<usize>(env, "DELIVERY_WINDOW", 256)?.max(concurrency),
                max_window_bytes: parsed(env, "MAX_WINDOW_BYTES", 32 << 20)?,
                max_batch_bytes: parsed(env, "MAX_BATCH_BYTES", 4 << 20)?,
                checkpoint_every_events: parsed(env, "CHECKPOINT_EVERY_EVENTS", 5_000)?,
                checkpoint_every: millis(env, "CHECKPOINT_EVERY_MS", 5_000)?,
                heartbeat_every: millis(env, "HEARTBEAT_EVERY_MS", 2_000)?,
                lease_ttl: millis(env, "LEASE_TTL_MS", 30_000)?,
                deadline_margin: millis(env, "DEADLINE_MARGIN_MS", 10_000)?,
                checkpoint_ttl: Duration::from_secs(parsed::<u64>(env, "CHECKPOINT_TTL_HOURS", 168)? * 3_600),
                delivery_rate_per_second: parsed(env, "DELIVERY_RATE_PER_SECOND", 1_000)?,
                adaptive_pace: parsed(env, "ADAPTIVE_PACE", true)?,
                circuit_break_after: parsed::<u32>(env, "CIRCUIT_BREAK_AFTER", 10)?.max(1),
                circuit_pause: millis(env, "CIRCUIT_PAUSE_MS", 30_000)?,
                circuit_max_pauses: parsed(env, "CIRCUIT_MAX_PAUSES", 3)?,
                handback_delay_s: parsed(env, "HANDBACK_DELAY_SECONDS", 60)?,
                max_handbacks: parsed(env, "MAX_HANDBACKS", 1_440)?,
            },
            purge: PurgeConfig {
                job_retention: Duration::from_secs(parsed::<u64>(env, "JOB_RETENTION_DAYS", 30)? * 86_400),
                batch_jobs: parsed::<u32>(env, "PURGE_BATCH_JOBS", 100)?.max(1),
                max_batches: parsed(env, "PURGE_MAX_BATCHES", 10)?,
                audit_retention: Duration::from_secs(parsed::<u64>(env, "AUDIT_RETENTION_DAYS", 365)?.max(1) * 86_400),
            },
            log_index: IndexConfig {
                enabled: parsed(env, "LOG_INDEX", true)?,
                // The sweeper's timeout is 60 s, and the sweep comes first.
                pass: Duration::from_secs(parsed::<u64>(env, "INDEX_PASS_SECONDS", 30)?.clamp(1, 45)),
                records_per_partition: parsed::<u64>(env, "INDEX_RECORDS_PER_PASS", 2_000_000)?.max(1),
                block_records: parsed::<usize>(env, "INDEX_BLOCK_RECORDS", BLOCK_RECORDS)?.clamp(1, 4_096),
            },
            database_max_connections: parsed::<u32>(env, "DATABASE_MAX_CONNECTIONS", 3)?.max(1),
            worker_timeout: match env.get("WORKER_TIMEOUT_SECONDS") {
                Some(_) => Some(Duration::from_secs(parsed(env, "WORKER_TIMEOUT_SECONDS", 900)?)),
                None => None,
            },
        };
        settings.check()?;
        Ok(settings)
    }

    /// Settings that only work together (docs/guarantees.md says why).
    fn check(&self) -> Result<()> {
        let w = &self.worker;
        if w.heartbeat_every * 2 > w.lease_ttl {
            return Err(Error::Config(format!(
                "HEARTBEAT_EVERY_MS ({:?}) must be at most half of LEASE_TTL_MS ({:?}): the lease is renewed at heartbeats",
                w.heartbeat_every, w.lease_ttl
            )));
        }
        if let Some(timeout) = self.worker_timeout {
            // A request starts only with its full timeout ahead of it, before
            // the margin: otherwise no request could ever start.
            if w.retry.request_timeout + w.deadline_margin >= timeout {
                return Err(Error::Config(format!(
                    "DELIVERY_TIMEOUT_MS ({:?}) + DEADLINE_MARGIN_MS ({:?}) must be under the worker's timeout \
                     (WorkerTimeoutSeconds, {timeout:?}): a request starts only with its full timeout before the margin",
                    w.retry.request_timeout, w.deadline_margin
                )));
            }
        }
        if w.retry.budget < w.retry.request_timeout {
            return Err(Error::Config(format!(
                "DELIVERY_RETRY_BUDGET_MS ({:?}) must be at least DELIVERY_TIMEOUT_MS ({:?}): an event is retried \
                 until it kept failing for the budget, and one timed-out attempt would spend it",
                w.retry.budget, w.retry.request_timeout
            )));
        }
        if self.stale_after <= w.lease_ttl + w.heartbeat_every {
            return Err(Error::Config(format!(
                "STALE_AFTER_MS ({:?}) must exceed LEASE_TTL_MS + HEARTBEAT_EVERY_MS: a slice is only stale once no \
                 live worker can still hold it",
                self.stale_after
            )));
        }
        if w.handback_delay_s > 900 {
            return Err(Error::Config("HANDBACK_DELAY_SECONDS must be at most 900 (SQS's longest delay)".into()));
        }
        if w.checkpoint_ttl > self.purge.job_retention {
            return Err(Error::Config(
                "CHECKPOINT_TTL_HOURS must not exceed JOB_RETENTION_DAYS: a checkpoint outliving its job is \
                 data nobody can read"
                    .into(),
            ));
        }
        if self.pause.max > w.checkpoint_ttl {
            return Err(Error::Config(
                "MAX_PAUSE_SECONDS must not exceed CHECKPOINT_TTL_HOURS: a paused slice resumes from its checkpoint"
                    .into(),
            ));
        }
        if self.settle_ms < w.skew_ms {
            return Err(Error::Config("SETTLE_SECONDS must be at least CLOCK_SKEW_MS".into()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: [(&str, &str); 6] = [
        ("DATABASE_URL", "mysql://u:p@h/db"),
        ("KAFKA_BROKERS", "b:9092"),
        ("SLICE_QUEUE_URL", "http://q"),
        ("CHECKPOINT_TABLE", "t"),
        ("API_KEY_PEPPER", "pepper"),
        ("WEBHOOK_SECRETS_KEY_ID", "alias/k"),
    ];

    #[test]
    fn debug_output_carries_no_credential() {
        let env: Vec<(String, String)> = [
            ("DATABASE_URL", "mysql://replay:db-pass-1c9f,with=comma@db.internal:3306/replay"),
            ("KAFKA_BROKERS", "b:9092"),
            ("SLICE_QUEUE_URL", "http://q"),
            ("CHECKPOINT_TABLE", "t"),
            ("API_KEY_PEPPER", "pepper-7e2a"),
            ("WEBHOOK_SECRETS_KEY_ID", "alias/k"),
            ("KAFKA_SASL_USERNAME", "user"),
            ("KAFKA_SASL_PASSWORD", "sasl-pass-4b1d,x=y"),
            ("KAFKA_PROPERTIES", "security.protocol=SASL_SSL,sasl.mechanism=SCRAM-SHA-512"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let s = Settings::from(&env).unwrap();
        let shown = format!("{s:?} {s:#?}");
        for secret in ["db-pass-1c9f", "pepper-7e2a", "sasl-pass-4b1d"] {
            assert!(!shown.contains(secret), "{secret} in Debug output");
        }
        // Whole where they are used: a comma in a password splits nothing.
        assert_eq!(s.database_url.expose(), "mysql://replay:db-pass-1c9f,with=comma@db.internal:3306/replay");
        let sasl = s.kafka.sasl.as_ref().expect("SASL credentials");
        assert_eq!(sasl.password.expose(), "sasl-pass-4b1d,x=y");
    }

    #[test]
    fn a_checkpoint_may_not_outlive_its_job_and_hand_backs_fit_sqs() {
        let with = |extra: (&str, &str)| {
            let mut env: Vec<(String, String)> = MINIMAL.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            env.push((extra.0.into(), extra.1.into()));
            Settings::from(&env)
        };
        let s = Settings::from(&MINIMAL).unwrap();
        assert_eq!(s.purge.job_retention, Duration::from_secs(30 * 86_400));
        assert_eq!((s.purge.batch_jobs, s.purge.max_batches), (100, 10));
        assert_eq!((s.worker.handback_delay_s, s.worker.max_handbacks), (60, 1_440));
        assert_eq!(s.database_max_connections, 3);
        // The default checkpoint TTL (7 days) outlives a 5-day job retention.
        let err = with(("JOB_RETENTION_DAYS", "5")).unwrap_err().to_string();
        assert!(err.contains("CHECKPOINT_TTL_HOURS"), "{err}");
        assert!(with(("JOB_RETENTION_DAYS", "7")).is_ok());
        let err = with(("HANDBACK_DELAY_SECONDS", "901")).unwrap_err().to_string();
        assert!(err.contains("900"), "{err}");
        // Tunable through REPLAY_SETTINGS like the rest.
        let s = with(("REPLAY_SETTINGS", "PURGE_BATCH_JOBS=7 MAX_HANDBACKS=2")).unwrap();
        assert_eq!((s.purge.batch_jobs, s.worker.max_handbacks), (7, 2));
    }

    #[test]
    fn the_delivery_timeout_must_fit_in_an_invocation_before_its_margin() {
        let with = |extra: &[(&str, &str)]| {
            let mut env: Vec<(String, String)> = MINIMAL.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
            Settings::from(&env)
        };
        // 10 s + 10 s by default: a 20 s worker could never start a request.
        let err = with(&[("WORKER_TIMEOUT_SECONDS", "20")]).unwrap_err().to_string();
        assert!(err.contains("DELIVERY_TIMEOUT_MS") && err.contains("DEADLINE_MARGIN_MS"), "{err}");
        assert!(with(&[("WORKER_TIMEOUT_SECONDS", "21")]).is_ok());
        assert!(with(&[
            ("WORKER_TIMEOUT_SECONDS", "5"),
            ("DELIVERY_TIMEOUT_MS", "2000"),
            ("DEADLINE_MARGIN_MS", "1000")
        ])
        .is_ok());
        // Outside the worker (no timeout known) nothing is checked.
        assert!(with(&[("DELIVERY_TIMEOUT_MS", "60000")]).is_ok());
        // A retry budget shorter than one attempt could never retry.
        let err = with(&[("DELIVERY_RETRY_BUDGET_MS", "5000")]).unwrap_err().to_string();
        assert!(err.contains("DELIVERY_RETRY_BUDGET_MS") && err.contains("DELIVERY_TIMEOUT_MS"), "{err}");
        assert!(with(&[("DELIVERY_RETRY_BUDGET_MS", "10000")]).is_ok());
    }

    #[test]
    fn defaults_apply() {
        let s = Settings::from(&MINIMAL).unwrap();
        assert_eq!(s.kafka.topic, "delivery_log");
        assert_eq!(s.retention_hours, 120);
        assert_eq!(s.slice_ms, 3_600_000);
        assert!(s.url_policy.allow.is_empty(), "nothing allowed beyond the built-in rules");
        assert!(s.dns_server.is_none());
    }

    #[test]
    fn names_the_missing_variable() {
        let env = [("DATABASE_URL", "x")];
        let err = Settings::from(&env).unwrap_err().to_string();
        assert!(err.contains("KAFKA_BROKERS"), "{err}");
    }

    #[test]
    fn replay_settings_overlay_tuning_only() {
        let mut env: Vec<(String, String)> = MINIMAL.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        env.push(("REPLAY_SETTINGS".into(), "LEASE_TTL_MS=7000 HEARTBEAT_EVERY_MS=700".into()));
        let s = Settings::from(&env).unwrap();
        assert_eq!(s.worker.lease_ttl, Duration::from_millis(7000));
        assert_eq!(s.worker.heartbeat_every, Duration::from_millis(700));
        for bad in ["DATABASE_URL=mysql://x", "NOPE=1", "LEASE_TTL_MS", "HEARTBEAT_EVERY_MS=1"] {
            let mut env = env.clone();
            env.retain(|(k, _)| k != "REPLAY_SETTINGS");
            env.push(("HEARTBEAT_EVERY_MS".into(), "500".into()));
            env.push(("REPLAY_SETTINGS".into(), bad.into()));
            assert!(Settings::from(&env).is_err(), "{bad}");
        }
    }

    #[test]
    fn kafka_auth_is_read_and_checked() {
        let env = |extra: &[(&str, &str)]| -> Vec<(String, String)> {
            MINIMAL.iter().chain(extra).map(|(k, v)| (k.to_string(), v.to_string())).collect()
        };
        assert_eq!(Settings::from(&env(&[])).unwrap().kafka.auth, KafkaAuth::None);
        let creds = [("KAFKA_SASL_USERNAME", "u"), ("KAFKA_SASL_PASSWORD", "p")];
        assert_eq!(Settings::from(&env(&creds)).unwrap().kafka.auth, KafkaAuth::Scram);
        let iam = env(&[("KAFKA_AUTH", "msk_iam"), ("AWS_REGION", "eu-west-1")]);
        assert_eq!(Settings::from(&iam).unwrap().kafka.auth, KafkaAuth::MskIam { region: "eu-west-1".into() });
        let err = Settings::from(&env(&[("KAFKA_AUTH", "msk_iam")])).unwrap_err().to_string();
        assert!(err.contains("AWS_REGION"), "{err}");
        let scram_props = ("KAFKA_PROPERTIES", "security.protocol=SASL_SSL,sasl.mechanism=SCRAM-SHA-512");
        let err = Settings::from(&env(&[("KAFKA_AUTH", "msk_iam"), ("AWS_REGION", "eu-west-1"), scram_props]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("sasl.mechanism=SCRAM-SHA-512"), "{err}");
    }

    #[test]
    fn rejects_bad_values() {
        let env = [
            ("DATABASE_URL", "mysql://u:p@h/db"),
            ("KAFKA_BROKERS", "b:9092"),
            ("SLICE_QUEUE_URL", "http://q"),
            ("CHECKPOINT_TABLE", "t"),
            ("API_KEY_PEPPER", "pepper"),
            ("WEBHOOK_SECRETS_KEY_ID", "alias/k"),
            ("SLICE_SECONDS", "soon"),
        ];
        assert!(Settings::from(&env).unwrap_err().to_string().contains("SLICE_SECONDS"));
    }
}
