use thiserror::Error;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The one error type of the core. Each variant knows whether a retry can help,
/// which is what the functions need to decide between a batch item failure,
/// a 503 and a permanent failure.
#[derive(Debug, Error)]
pub enum Error {
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    #[error("invalid date: {0}")]
    InvalidDate(String),
    #[error("invalid range: {0}")]
    InvalidRange(String),
    #[error("range too old: {0}")]
    RangeTooOld(String),
    #[error("range expired: {0}")]
    RangeExpired(String),
    #[error("range not settled: {0}")]
    RangeNotSettled(String),
    #[error("invalid selection: {0}")]
    InvalidSelection(String),
    #[error("invalid cursor")]
    InvalidCursor,
    #[error("limit above the ceiling: {0}")]
    LimitAboveCeiling(String),
    #[error("job {0} has not ended")]
    JobNotEnded(String),
    #[error("job {0} has no failed events to retry")]
    NothingToRetry(String),
    /// A pause or resume of a job that has ended.
    #[error("job {job_id} has ended ({state})")]
    JobEnded { job_id: String, state: &'static str },
    /// A platform's webhook id that the deployment already holds.
    #[error("webhook id {0} is taken")]
    WebhookIdTaken(String),
    #[error("unauthorized")]
    Unauthorized,
    #[error("not found")]
    NotFound,
    #[error("a replay job is already running for this webhook: {job_id}")]
    JobAlreadyRunning { job_id: String },
    /// A change or delete of a webhook while one of its jobs is active.
    #[error("the webhook has an active replay job: {job_id}")]
    WebhookBusy { job_id: String },
    /// A read-only key on a write endpoint.
    #[error("this API key may only read")]
    Forbidden,
    #[error("rate limited; retry in {retry_after_s} s")]
    RateLimited { retry_after_s: u64 },
    /// The tenant's API requests of this minute are spent.
    #[error("tenant over {limit} requests per minute; retry in {retry_after_s} s")]
    TenantRateLimited { limit: u32, retry_after_s: u64 },
    /// The tenant has `limit` active jobs already.
    #[error("tenant has {limit} active jobs, its limit")]
    TooManyActiveJobs { limit: u32 },
    #[error("malformed message: {0}")]
    MalformedMessage(String),
    #[error("configuration: {0}")]
    Config(String),
    #[error("lease lost: another worker owns this slice")]
    LeaseLost,
    #[error("records from offset {next_offset} on were deleted by retention before they were read")]
    RecordsExpired { next_offset: i64 },
    /// Handed back MAX_HANDBACKS times and still no worker reads it.
    #[error("message of a newer format (version {version}) handed back {handbacks} times: no worker reads it")]
    NewerFormat { version: u32, handbacks: u32 },
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error("queue: {0}")]
    Queue(String),
    #[error("checkpoint store: {0}")]
    Checkpoint(String),
    /// The master key of webhook secrets (KMS); never carries key material.
    #[error("kms: {message}")]
    Kms { message: String, retryable: bool },
    #[error("http: {0}")]
    Http(String),
    #[error("internal: {0}")]
    Internal(String),
}

impl Error {
    /// Whether the same operation may succeed if tried again later.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Database(_) | Error::Kafka(_) | Error::Queue(_) | Error::Checkpoint(_) | Error::Http(_) => true,
            Error::Kms { retryable, .. } => *retryable,
            Error::InvalidRequest(_)
            | Error::InvalidDate(_)
            | Error::InvalidRange(_)
            | Error::RangeTooOld(_)
            | Error::RangeExpired(_)
            | Error::RangeNotSettled(_)
            | Error::InvalidSelection(_)
            | Error::InvalidCursor
            | Error::LimitAboveCeiling(_)
            | Error::JobNotEnded(_)
            | Error::NothingToRetry(_)
            | Error::JobEnded { .. }
            | Error::WebhookIdTaken(_)
            | Error::Unauthorized
            | Error::NotFound
            | Error::JobAlreadyRunning { .. }
            | Error::WebhookBusy { .. }
            | Error::Forbidden
            | Error::RateLimited { .. }
            | Error::TenantRateLimited { .. }
            | Error::TooManyActiveJobs { .. }
            | Error::MalformedMessage(_)
            | Error::NewerFormat { .. }
            | Error::Config(_)
            | Error::LeaseLost
            | Error::RecordsExpired { .. }
            | Error::Migrate(_)
            | Error::Internal(_) => false,
        }
    }
}
