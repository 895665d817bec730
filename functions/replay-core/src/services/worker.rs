//! The replay worker's use case: one queue message, one slice.

use super::finalize::finalize_if_done;
use super::slice::{run_slice, SliceOutcome, SlicePorts, SliceSpec};
use crate::adapters::dynamo::DynamoCheckpoints;
use crate::adapters::http::HttpDeliverer;
use crate::adapters::kafka::KafkaLog;
use crate::adapters::mysql::{slice_state, MySqlStore};
use crate::adapters::sqs::SqsQueue;
use crate::config::{Settings, WorkerConfig};
use crate::domain::ids::{EventTime, JobId, WebhookId};
use crate::domain::job::JobState;
use crate::domain::signing::SigningKey;
use crate::domain::task::QueueTask;
use crate::domain::window::Window;
use crate::error::{Error, Result};
use crate::ports::{CheckpointStore, Deliverer, DeliveryLog, SliceQueue};
use std::time::Instant;
use tracing::{info, instrument, warn};

/// Clients built once per cold start.
pub struct WorkerContext {
    pub store: MySqlStore,
    pub log: Box<dyn DeliveryLog>,
    pub checkpoints: Box<dyn CheckpointStore>,
    pub deliverer: Box<dyn Deliverer>,
    pub queue: Box<dyn SliceQueue>,
    pub cfg: WorkerConfig,
    pub delivery_concurrency: usize,
}

impl WorkerContext {
    /// The real adapters from the settings: MySQL, Kafka, DynamoDB, HTTP, SQS.
    pub async fn connect(settings: &Settings, aws: &aws_config::SdkConfig) -> Result<Self> {
        Ok(Self {
            store: MySqlStore::connect(&settings.database_url).await?,
            log: Box::new(KafkaLog::new(settings.kafka.clone())?),
            checkpoints: Box::new(DynamoCheckpoints::new(
                aws_sdk_dynamodb::Client::new(aws),
                settings.checkpoint_table.clone(),
                settings.worker.checkpoint_ttl,
            )),
            deliverer: Box::new(HttpDeliverer::new(settings.delivery.clone())?),
            queue: Box::new(SqsQueue::new(aws_sdk_sqs::Client::new(aws), settings.queue_url.clone())),
            cfg: settings.worker.clone(),
            delivery_concurrency: settings.delivery.concurrency,
        })
    }
}

/// Handles one message body. `Ok` means the message is done with (delete it);
/// a retryable `Err` leaves it to the queue's visibility timeout and DLQ.
#[instrument(skip(ctx, body, deadline), fields(owner = %owner))]
pub async fn handle_message(ctx: &WorkerContext, body: &str, owner: &str, deadline: Instant) -> Result<()> {
    let task = QueueTask::from_json(body).map_err(Error::MalformedMessage)?;
    match task {
        QueueTask::ReplaySlice { job_id, slice_index, continuation, .. } => {
            replay_slice(ctx, &job_id, slice_index, continuation, owner, deadline).await
        }
    }
}

async fn replay_slice(
    ctx: &WorkerContext,
    job_id: &JobId,
    slice_index: u32,
    continuation: u32,
    owner: &str,
    deadline: Instant,
) -> Result<()> {
    let Some(row) = ctx.store.slice(job_id, slice_index).await? else {
        return Err(Error::MalformedMessage(format!("no slice {slice_index} of job {job_id}")));
    };
    let job_state = JobState::parse(&row.job_state).unwrap_or(JobState::Failed);
    if row.slice_state != slice_state::PENDING && row.slice_state != slice_state::RUNNING {
        info!(slice_state = %row.slice_state, "slice already ended");
        // The job may have been waiting for this message to end (cancel).
        finalize_if_done(&ctx.store, ctx.deliverer.as_ref(), job_id).await?;
        return Ok(());
    }
    if job_state.is_terminal() {
        // Cancelled (or given up) while this message waited in the queue.
        ctx.store.set_slice_state(job_id, slice_index, slice_state::CANCELLED).await?;
        ctx.store.cancel_pending_slices(job_id).await?;
        finalize_if_done(&ctx.store, ctx.deliverer.as_ref(), job_id).await?;
        return Ok(());
    }
    let key = SigningKey::from_secret(&row.secret)
        .ok_or_else(|| Error::Internal(format!("webhook {} has an invalid secret", row.webhook_id)))?;
    let spec = SliceSpec {
        job_id: job_id.clone(),
        slice_index,
        webhook_id: WebhookId(row.webhook_id.clone()),
        partition: row.partition_id as u32,
        window: Window { from: EventTime(row.from_ms), to: EventTime(row.to_ms) },
        url: row.url.clone(),
        key,
    };
    ctx.store.start_slice(job_id, slice_index).await?;
    let ports = SlicePorts {
        log: ctx.log.as_ref(),
        checkpoints: ctx.checkpoints.as_ref(),
        deliverer: ctx.deliverer.as_ref(),
        progress: &ctx.store,
        delivery_concurrency: ctx.delivery_concurrency,
    };
    let next = QueueTask::slice(job_id.clone(), slice_index, continuation + 1);
    match run_slice(&ports, &ctx.cfg, &spec, owner, deadline).await? {
        SliceOutcome::Done { counters, lease_token } => {
            ctx.store.end_slice(job_id, slice_index, lease_token, slice_state::DONE, &counters).await?;
            info!(?counters, "slice done");
            crate::telemetry::emit_metrics(
                &[
                    ("EventsScanned", "Count", counters.events_scanned as f64),
                    ("EventsDelivered", "Count", counters.events_delivered as f64),
                    ("DeliveryFailures", "Count", counters.delivery_failures as f64),
                    ("DuplicatesSkipped", "Count", counters.duplicates_skipped as f64),
                    ("MalformedRecords", "Count", counters.malformed as f64),
                ],
                serde_json::json!({"JobId": job_id, "Slice": slice_index}),
            );
            start_next_slice(ctx, job_id).await?;
            finalize_if_done(&ctx.store, ctx.deliverer.as_ref(), job_id).await?;
        }
        SliceOutcome::Cancelled { counters, lease_token } => {
            ctx.store.end_slice(job_id, slice_index, lease_token, slice_state::CANCELLED, &counters).await?;
            ctx.store.cancel_pending_slices(job_id).await?;
            finalize_if_done(&ctx.store, ctx.deliverer.as_ref(), job_id).await?;
        }
        SliceOutcome::Continue(_) => ctx.queue.send(&[next]).await?,
        SliceOutcome::Paused { delay } => ctx.queue.send_delayed(&next, delay.as_secs() as u32).await?,
        SliceOutcome::Busy => {}
        SliceOutcome::LeaseLost => warn!("lease lost to another worker; stopped"),
    }
    Ok(())
}

/// Keeps the job's parallelism: when a slice ends, the next pending one starts.
pub async fn start_next_slice(ctx: &WorkerContext, job_id: &JobId) -> Result<()> {
    if let Some(next) = ctx.store.claim_next_slice(job_id).await? {
        ctx.queue.send(&[QueueTask::slice(job_id.clone(), next, 0)]).await?;
        info!(next, "enqueued the job's next slice");
    }
    Ok(())
}
