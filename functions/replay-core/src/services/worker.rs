//! The replay worker's use case: one queue message, one slice (or one status
//! event).

use super::lifecycle::{send_status_event, Lifecycle};
use super::secrets::StoreSigners;
use super::slice::{run_slice, SliceOutcome, SlicePorts, SliceSpec};
use crate::adapters::dynamo::DynamoCheckpoints;
use crate::adapters::http::HttpDeliverer;
use crate::adapters::kafka::KafkaLog;
use crate::adapters::kms::KmsKeys;
use crate::adapters::mysql::{MySqlStore, SliceRow, SliceTotals, Take};
use crate::adapters::sqs::SqsQueue;
use crate::config::{FairShareConfig, Settings, WorkerConfig};
use crate::domain::filter::EventFilter;
use crate::domain::ids::{JobId, WebhookId};
use crate::domain::job::SliceState;
use crate::domain::task::{Decoded, QueueTask};
use crate::domain::window::Window;
use crate::error::{Error, Result};
use crate::ports::{CheckpointStore, Deliverer, DeliveryLog, KeyService, SliceQueue, WebhookSigners};
use replay_types::Selection;
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
    pub fair_share: FairShareConfig,
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
            fair_share: settings.fair_share,
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
        Decoded::Task(QueueTask::ReplaySlice { job_id, slice_index, continuation, wake_up, .. }) => {
            // The DLQ test's stand-in for a bug a later deploy fixes.
            fail::fail_point!("worker_rejects_slices", |_| Err(Error::MalformedMessage(format!(
                "slice {slice_index} of job {job_id} rejected (failpoint worker_rejects_slices)"
            ))));
            start_or_resume(ctx, &job_id, slice_index, continuation, wake_up, owner, deadline).await
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

/// A wake-up, or a message for a slice still waiting to start (every start
/// goes through the fair choice, duplicates and older messages too), runs
/// whichever waiting slice MySQL chooses (docs/security.md, "Fair shares");
/// any other message resumes its own running slice (a continuation, the end
/// of a pause, a restart).
#[instrument(skip(ctx, owner, deadline), fields(hint_job = %job_id, hint_slice = slice_index))]
async fn start_or_resume(
    ctx: &WorkerContext,
    job_id: &JobId,
    slice_index: u32,
    continuation: u32,
    wake_up: bool,
    owner: &str,
    deadline: Instant,
) -> Result<()> {
    let Some(row) = ctx.store.slice(job_id, slice_index).await? else {
        if wake_up {
            // Its job was purged; the wake-up may still start another slice.
            return wake(ctx, job_id, slice_index, owner, deadline).await;
        }
        return Err(Error::MalformedMessage(format!("no slice {slice_index} of job {job_id}")));
    };
    let slice_state = row.slice_state()?;
    if slice_state == SliceState::Pending && row.job_state()?.is_terminal() {
        // Cancelled (or given up) while this message waited in the queue.
        ctx.lifecycle().slice_ended(job_id, slice_index, None, SliceState::Cancelled, None).await?;
        return Ok(());
    }
    if wake_up || slice_state == SliceState::Pending {
        return wake(ctx, job_id, slice_index, owner, deadline).await;
    }
    replay_slice(ctx, row, continuation, owner, deadline).await
}

/// Starts the slice MySQL chooses; when every waiting slice's tenant is at
/// its cap, sends the wake-up again with a delay (failing the message would
/// spend its receive count toward the DLQ).
async fn wake(ctx: &WorkerContext, hint_job: &JobId, hint_slice: u32, owner: &str, deadline: Instant) -> Result<()> {
    match ctx.store.take_slice(ctx.fair_share.max_running_slices).await? {
        Take::Run { job_id, slice_index, tenant_id } => {
            crate::telemetry::emit_metrics(
                &[("SlicesStarted", "Count", 1.0)],
                serde_json::json!({"TenantId": tenant_id}),
            );
            let row = ctx.store.slice(&job_id, slice_index).await?.ok_or(Error::NotFound)?;
            replay_slice(ctx, row, 0, owner, deadline).await
        }
        Take::Defer => {
            let delay_s = ctx.fair_share.defer_s;
            ctx.queue.send_delayed(&QueueTask::wake_up(hint_job.clone(), hint_slice), delay_s).await?;
            info!(delay_s, "every waiting slice's tenant is at its cap of running slices; wake-up deferred");
            crate::telemetry::emit_metrics(&[("WakeUpsDeferred", "Count", 1.0)], serde_json::json!({}));
            Ok(())
        }
        Take::Nothing => {
            info!("no slice waits to start");
            Ok(())
        }
    }
}

/// The job's selection as the slice applies it: a retry's failed ids come
/// from its original job's failure list, read when the slice starts.
async fn event_filter(ctx: &WorkerContext, mut selection: Selection) -> Result<EventFilter> {
    if let (Some(original), None) = (&selection.failures_of, &selection.event_ids) {
        selection.event_ids = Some(ctx.store.failed_event_ids(original).await?);
    }
    Ok(EventFilter::of(&selection))
}

/// Every line of a slice's work carries its job id (`replayctl logs JOB`).
#[instrument(skip(ctx, row, owner, deadline), fields(job_id = %row.job_id, slice = row.slice_index))]
async fn replay_slice(
    ctx: &WorkerContext,
    row: SliceRow,
    continuation: u32,
    owner: &str,
    deadline: Instant,
) -> Result<()> {
    let job_id = &JobId(row.job_id.clone());
    let slice_index = row.slice_index as u32;
    let tenant_id = row.tenant_id.clone();
    let lifecycle = ctx.lifecycle();
    let slice_state = row.slice_state()?;
    if slice_state.has_ended() {
        // A duplicate (or late) message: nothing to do, and nothing to claim.
        info!(slice_state = slice_state.as_str(), continuation, "slice already ended");
        return Ok(());
    }
    let webhook_id = WebhookId(row.webhook_id.clone());
    let signers = StoreSigners { store: &ctx.store, keys: ctx.keys.as_ref() };
    let (key, secrets_version) = signers.signer(&webhook_id).await?;
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
        secrets_version,
        filter: event_filter(ctx, row.selection()?).await?,
    };
    ctx.store.start_slice(job_id, slice_index).await?;
    let ports = SlicePorts {
        log: ctx.log.as_ref(),
        checkpoints: ctx.checkpoints.as_ref(),
        deliverer: ctx.deliverer.as_ref(),
        progress: &ctx.store,
        signers: &signers,
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
                serde_json::json!({"JobId": job_id, "Slice": slice_index, "TenantId": tenant_id}),
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
