//! The replay worker's use case: one queue message, one slice (or one status
//! event).

use super::lifecycle::{send_status_event, Lifecycle};
use super::slice::{run_slice, SliceOutcome, SlicePorts, SliceSpec};
use crate::adapters::dynamo::DynamoCheckpoints;
use crate::adapters::http::HttpDeliverer;
use crate::adapters::kafka::KafkaLog;
use crate::adapters::kms::KmsKeys;
use crate::adapters::mysql::{MySqlStore, SliceTotals};
use crate::adapters::sqs::SqsQueue;
use crate::config::{Settings, WorkerConfig};
use crate::domain::ids::{JobId, WebhookId};
use crate::domain::job::SliceState;
use crate::domain::task::{Decoded, QueueTask};
use crate::domain::window::Window;
use crate::error::{Error, Result};
use crate::ports::{CheckpointStore, Deliverer, DeliveryLog, KeyService, SliceQueue};
use std::time::Instant;
use tracing::{info, instrument, warn};

/// Clients built once per cold start.
pub struct WorkerContext {
    pub store: MySqlStore,
    pub log: Box<dyn DeliveryLog>,
    pub checkpoints: Box<dyn CheckpointStore>,
    pub deliverer: Box<dyn Deliverer>,
    pub queue: Box<dyn SliceQueue>,
    /// Opens webhook secrets (once per message, never per event).
    pub keys: Box<dyn KeyService>,
    pub cfg: WorkerConfig,
    pub delivery_concurrency: usize,
    pub max_parallel_slices: u32,
}

impl WorkerContext {
    /// The real adapters from the settings: MySQL, Kafka, DynamoDB, HTTP, SQS.
    pub async fn connect(settings: &Settings, aws: &aws_config::SdkConfig) -> Result<Self> {
        Ok(Self {
            store: MySqlStore::connect_with(settings.database_url.expose(), settings.database_max_connections).await?,
            log: Box::new(KafkaLog::new(settings.kafka.clone())?),
            checkpoints: Box::new(DynamoCheckpoints::new(
                aws_sdk_dynamodb::Client::new(aws),
                settings.checkpoint_table.clone(),
                settings.worker.checkpoint_ttl,
            )),
            deliverer: Box::new(HttpDeliverer::new(settings.delivery.clone())?),
            queue: Box::new(SqsQueue::new(aws_sdk_sqs::Client::new(aws), settings.queue_url.clone())),
            keys: Box::new(KmsKeys::new(aws_sdk_kms::Client::new(aws), settings.webhook_secrets_key_id.clone())),
            cfg: settings.worker.clone(),
            delivery_concurrency: settings.delivery.concurrency,
            max_parallel_slices: settings.max_parallel_slices,
        })
    }

    fn lifecycle(&self) -> Lifecycle<'_> {
        Lifecycle { store: &self.store, queue: self.queue.as_ref(), max_parallel_slices: self.max_parallel_slices }
    }
}

/// One message off the queue.
pub struct Inbound<'a> {
    pub body: &'a str,
    /// Times a worker of an older release handed it back (message attribute).
    pub handbacks: u32,
}

/// Handles one message. `Ok` means the message is done with (delete it); an
/// `Err` leaves it to the queue's visibility timeout and DLQ. A message of a
/// newer format is handed back untouched, with a delay, for a worker of the
/// newer release (a deploy in progress), and deleted here: failing it would
/// spend the queue's receive count and send it to the DLQ.
#[instrument(skip(ctx, message, deadline), fields(owner = %owner))]
pub async fn handle_message(ctx: &WorkerContext, message: &Inbound<'_>, owner: &str, deadline: Instant) -> Result<()> {
    match QueueTask::decode(message.body).map_err(Error::MalformedMessage)? {
        Decoded::NewerVersion(version) => {
            if message.handbacks >= ctx.cfg.max_handbacks {
                return Err(Error::NewerFormat { version, handbacks: message.handbacks });
            }
            ctx.queue.hand_back(message.body, message.handbacks + 1, ctx.cfg.handback_delay_s).await?;
            warn!(version, handbacks = message.handbacks + 1, "message of a newer format handed back to the queue");
            crate::telemetry::emit_metrics(
                &[("MessagesHandedBack", "Count", 1.0)],
                serde_json::json!({"FormatVersion": version}),
            );
            Ok(())
        }
        Decoded::Task(QueueTask::ReplaySlice { job_id, slice_index, continuation, .. }) => {
            // The DLQ test's stand-in for a bug a later deploy fixes.
            fail::fail_point!("worker_rejects_slices", |_| Err(Error::MalformedMessage(format!(
                "slice {slice_index} of job {job_id} rejected (failpoint worker_rejects_slices)"
            ))));
            replay_slice(ctx, &job_id, slice_index, continuation, owner, deadline).await
        }
        Decoded::Task(QueueTask::SendStatusEvent { job_id, .. }) => {
            send_status_event(
                &ctx.store,
                ctx.deliverer.as_ref(),
                ctx.keys.as_ref(),
                &job_id,
                deadline,
                ctx.cfg.deadline_margin,
            )
            .await
        }
    }
}

/// Every line of a slice's work carries its job id (`replayctl logs JOB`).
#[instrument(skip(ctx, owner, deadline), fields(%job_id, slice = slice_index))]
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
    let lifecycle = ctx.lifecycle();
    let slice_state = row.slice_state()?;
    if slice_state.has_ended() {
        // A duplicate (or late) message: nothing to do, and nothing to claim.
        info!(slice_state = slice_state.as_str(), "slice already ended");
        return Ok(());
    }
    if row.job_state()?.is_terminal() && slice_state == SliceState::Pending {
        // Cancelled (or given up) while this message waited in the queue.
        lifecycle.slice_ended(job_id, slice_index, None, SliceState::Cancelled, None).await?;
        return Ok(());
    }
    let webhook_id = WebhookId(row.webhook_id.clone());
    let key = super::secrets::signer(ctx.keys.as_ref(), &ctx.store.webhook_secrets(&webhook_id).await?).await?;
    let (from, to) = row.window();
    let spec = SliceSpec {
        job_id: job_id.clone(),
        slice_index,
        webhook_id,
        partitions: row.partitions(),
        window: Window { from, to },
        planned: row.planned(),
        url: row.url.clone(),
        key,
        filter: row.filter()?,
    };
    ctx.store.start_slice(job_id, slice_index).await?;
    let ports = SlicePorts {
        log: ctx.log.as_ref(),
        checkpoints: ctx.checkpoints.as_ref(),
        deliverer: ctx.deliverer.as_ref(),
        progress: &ctx.store,
        delivery_concurrency: ctx.delivery_concurrency,
    };
    match run_slice(&ports, &ctx.cfg, &spec, owner, deadline).await? {
        SliceOutcome::Done { counters, tally, lease_token } => {
            let totals = SliceTotals { counters: &counters, tally: &tally };
            lifecycle.slice_ended(job_id, slice_index, Some(lease_token), SliceState::Done, Some(totals)).await?;
            info!(?counters, "slice done");
            crate::telemetry::emit_metrics(
                &[
                    ("EventsScanned", "Count", counters.events_scanned as f64),
                    ("EventsDelivered", "Count", counters.events_delivered as f64),
                    ("DeliveryFailures", "Count", counters.delivery_failures as f64),
                    ("DuplicatesSkipped", "Count", counters.duplicates_skipped as f64),
                    ("MalformedRecords", "Count", counters.malformed as f64),
                    ("RecordsExpired", "Count", counters.records_expired as f64),
                    ("ClockAnomalies", "Count", counters.clock_anomalies as f64),
                ],
                serde_json::json!({"JobId": job_id, "Slice": slice_index}),
            );
        }
        SliceOutcome::Cancelled { counters, lease_token } => {
            lifecycle
                .slice_ended(
                    job_id,
                    slice_index,
                    Some(lease_token),
                    SliceState::Cancelled,
                    Some(SliceTotals { counters: &counters, tally: &Default::default() }),
                )
                .await?;
        }
        SliceOutcome::Continue(_) => {
            ctx.queue.send(&[QueueTask::slice(job_id.clone(), slice_index, continuation + 1)]).await?
        }
        SliceOutcome::Paused { delay, lease_token } => lifecycle.pause(job_id, slice_index, lease_token, delay).await?,
        SliceOutcome::Busy => {}
        SliceOutcome::LeaseLost => warn!("lease lost to another worker; stopped"),
    }
    Ok(())
}
