//! The replay worker's use case: one queue message, one slice (or one status
//! event). Decodes the message, asks the lifecycle what it runs, runs the
//! slice, and hands its outcome back to the lifecycle.

use super::lifecycle::{send_status_event, Lifecycle};
use super::slice::{run_slice, SliceOutcome, SlicePorts, SliceSpec};
use crate::config::{FairShareConfig, PauseLimits, WorkerConfig};
use crate::domain::filter::EventFilter;
use crate::domain::job::{slice_share, SliceState};
use crate::domain::task::{Decoded, QueueTask};
use crate::error::{Error, Result};
use crate::ports::ledger::{JobLedger, PauseOrder, SliceRecord, SliceTotals};
use crate::ports::{CheckpointStore, Deliverer, DeliveryLog, SliceProgress, SliceQueue, WebhookSigners};
use replay_types::{PausedBy, Selection};
use std::sync::Arc;
use std::time::Instant;
use tracing::{info, instrument, warn};

/// Clients built once per cold start (`crate::wiring`), shared (the
/// simulation runs the worker, the sweeper and its oracle on one set).
pub struct WorkerContext {
    pub ledger: Arc<dyn JobLedger>,
    pub progress: Arc<dyn SliceProgress>,
    /// Opens webhook secrets (once per message, never per event).
    pub signers: Arc<dyn WebhookSigners>,
    pub log: Arc<dyn DeliveryLog>,
    pub checkpoints: Arc<dyn CheckpointStore>,
    pub deliverer: Arc<dyn Deliverer>,
    pub queue: Arc<dyn SliceQueue>,
    pub cfg: WorkerConfig,
    pub delivery_concurrency: usize,
    pub max_parallel_slices: u32,
    pub fair_share: FairShareConfig,
    /// How long a pause the receiver asks for may last.
    pub pause: PauseLimits,
}

impl WorkerContext {
    fn lifecycle(&self) -> Lifecycle<'_> {
        Lifecycle {
            ledger: self.ledger.as_ref(),
            queue: self.queue.as_ref(),
            max_parallel_slices: self.max_parallel_slices,
        }
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
            let assigned = ctx.lifecycle().assign(&job_id, slice_index, continuation, wake_up, &ctx.fair_share).await?;
            match assigned {
                Some((record, continuation)) => replay_slice(ctx, record, continuation, owner, deadline).await,
                None => Ok(()),
            }
        }
        Decoded::Task(QueueTask::SendStatusEvent { job_id, .. }) => {
            let (ledger, signers, deliverer) = (ctx.ledger.as_ref(), ctx.signers.as_ref(), ctx.deliverer.as_ref());
            send_status_event(ledger, signers, deliverer, &job_id, &ctx.cfg, deadline).await
        }
    }
}

/// How long a receiver has to answer its check (Twitter's 3 s).
pub const CRC_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// Checks the receiver before the job's first delivery (docs/api.md, "A
/// receiver check"): a `GET` with a fresh `crc_token` through the outbound
/// policy, answered with the HMAC-SHA256 of the token under the signing
/// secret. Two tries, a second apart (a connection refused once is not a
/// receiver that cannot answer). Whether the job may deliver: the first
/// verdict recorded for the job holds.
#[instrument(skip_all)]
async fn check_receiver(ctx: &WorkerContext, spec: &SliceSpec) -> Result<bool> {
    let mut why = String::new();
    for attempt in 0..2 {
        if attempt > 0 {
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
        let token = crate::domain::signing::crc_token();
        match ctx.deliverer.challenge(&spec.url, &token, CRC_TIMEOUT).await {
            Ok(answer) if spec.key.answers_crc(&token, &answer) => {
                info!("the receiver answered its check");
                return ctx.ledger.record_receiver_check(&spec.job_id, None).await;
            }
            Ok(_) => why = "its response_token is not sha256=<base64 of HMAC-SHA256(signing secret, crc_token)>".into(),
            Err(e) => why = e,
        }
    }
    warn!(%why, "the receiver check failed");
    let reason = format!("the receiver check (CRC) failed before any event was sent: {why}");
    ctx.ledger.record_receiver_check(&spec.job_id, Some(&reason)).await
}

/// The job's selection as the slice applies it: a retry's failed ids come
/// from its original job's failure list, read when the slice starts.
async fn event_filter(ctx: &WorkerContext, mut selection: Selection) -> Result<EventFilter> {
    if let Some(original) = &selection.failures_of {
        selection.event_ids = Some(ctx.ledger.failed_event_ids(original).await?);
    }
    Ok(EventFilter::of(&selection))
}

/// Every line of a slice's work carries its job id (`replayctl logs JOB`).
#[instrument(skip(ctx, record, owner, deadline), fields(job_id = %record.job_id, slice = record.slice_index))]
async fn replay_slice(
    ctx: &WorkerContext,
    record: SliceRecord,
    continuation: u32,
    owner: &str,
    deadline: Instant,
) -> Result<()> {
    let (job_id, slice_index) = (&record.job_id, record.slice_index);
    // A target's own secret signs what goes to it.
    let signing = record.target_webhook_id.as_ref().unwrap_or(&record.webhook_id);
    let (key, secrets_version) = ctx.signers.signer(signing).await?;
    let spec = SliceSpec {
        job_id: job_id.clone(),
        slice_index,
        webhook_id: record.webhook_id.clone(),
        partitions: record.partitions.clone(),
        window: record.window,
        planned: record.planned.clone(),
        url: record.url.clone(),
        target_webhook_id: record.target_webhook_id.clone(),
        key,
        secrets_version,
        filter: event_filter(ctx, record.selection.clone()).await?,
        ordering_key: record.ordering_key.clone(),
        pace: record.pace,
    };
    // The job's own limits, split among its slices (docs/api.md, "Limits").
    // An ordered job is one slice: it has the whole of the job's limits.
    let parallel = if record.ordering_key.is_some() { 1 } else { ctx.max_parallel_slices };
    let share = slice_share(&record.limits, parallel);
    let concurrency = share.in_flight.map_or(ctx.delivery_concurrency, |n| ctx.delivery_concurrency.min(n as usize));
    let mut cfg = ctx.cfg.clone();
    if let Some(n) = share.per_second {
        let rate = &mut cfg.delivery_rate_per_second;
        *rate = if *rate == 0 { n } else { (*rate).min(n) };
    }
    let ports = SlicePorts {
        log: ctx.log.as_ref(),
        checkpoints: ctx.checkpoints.as_ref(),
        deliverer: ctx.deliverer.as_ref(),
        progress: ctx.progress.as_ref(),
        signers: ctx.signers.as_ref(),
        delivery_concurrency: concurrency,
    };
    let lifecycle = ctx.lifecycle();
    if record.crc_pending && !check_receiver(ctx, &spec).await? {
        // The job ended before any event was sent (this check failed, or
        // another slice's did); its running slices end with it.
        info!("the receiver check failed: the job ended with nothing sent");
        lifecycle.slice_ended(job_id, slice_index, None, SliceState::Cancelled, None).await?;
        return Ok(());
    }
    match run_slice(&ports, &cfg, &spec, owner, deadline).await? {
        SliceOutcome::Done { counters, tally, lease_token } => {
            let totals = SliceTotals { counters: &counters, tally: &tally };
            lifecycle.slice_ended(job_id, slice_index, Some(lease_token), SliceState::Done, Some(totals)).await?;
            info!(?counters, "slice done");
            crate::telemetry::emit_slice_metrics(&counters, &record);
        }
        SliceOutcome::Cancelled { counters, lease_token } => {
            let totals = SliceTotals { counters: &counters, tally: &Default::default() };
            lifecycle.slice_ended(job_id, slice_index, Some(lease_token), SliceState::Cancelled, Some(totals)).await?;
        }
        SliceOutcome::JobPaused { counters, lease_token, receiver } => {
            // The receiver's pause is the job's first (`webhook-delivery: pause`).
            let now_ms = chrono::Utc::now().timestamp_millis();
            let expires_in_s = ctx.pause.expires_in_s(None, record.window.from.0, now_ms);
            let reason = receiver.as_ref().map(Option::as_deref);
            let order = reason.map(|reason| PauseOrder { by: PausedBy::Receiver, reason, expires_in_s });
            let tenant = &record.tenant_id;
            lifecycle.park(tenant, job_id, slice_index, lease_token, &counters, continuation, order.as_ref()).await?
        }
        SliceOutcome::Continue(_) => lifecycle.continue_slice(job_id, slice_index, continuation).await?,
        SliceOutcome::Paused { delay, lease_token } => lifecycle.pause(job_id, slice_index, lease_token, delay).await?,
        SliceOutcome::Busy => {}
        SliceOutcome::LeaseLost => warn!("lease lost to another worker; stopped"),
    }
    Ok(())
}
