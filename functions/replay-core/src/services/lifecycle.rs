//! A job's life in one place: start, next slice, pause, cancel, finish and the
//! status event (docs/guarantees.md, "A job's life"). Each rule holds however
//! workers and sweepers crash or race:
//!
//! - starting slices claims them under the job's row lock, so a job never has
//!   more than MAX_PARALLEL_SLICES running or waiting in the queue, whatever
//!   duplicate messages arrive;
//! - ending a slice, claiming the next and ending the job are one transaction
//!   (MySQL); a crash before the next slice's message is sent leaves a claim
//!   the sweeper re-sends;
//! - the job's end queues its status event as a task; the worker that takes
//!   it claims the send for longer than it may take, so it goes out once
//!   (at least once across a crash of the sender, with the same webhook-id);
//! - a cancel takes effect within a heartbeat; the status event says
//!   `Cancelled` only once no slice is running.

use crate::adapters::mysql::{MySqlStore, SliceEnd, SliceTotals};
use crate::domain::ids::{JobId, TenantId};
use crate::domain::job::{status_event_body, Job, SliceState};
use crate::domain::task::QueueTask;
use crate::error::{Error, Result};
use crate::ports::{Budget, Deliverer, Delivery, DeliveryOutcome, KeyService, SliceQueue};
use bytes::Bytes;
use std::time::{Duration, Instant};
use tracing::{info, instrument, warn};

/// Crash points of the lifecycle tests: the process exits where the name
/// says, when REPLAY_SETTINGS' FAILPOINTS arms it (builds with the
/// `failpoints` feature only; nothing otherwise). With a key, an armed point
/// given an argument (`name=return(3)`) fires only for that key.
#[macro_export]
macro_rules! crash_point {
    ($name:literal) => {
        #[cfg(feature = "failpoints")]
        if fail::eval($name, |_| ()).is_some() {
            tracing::warn!(point = $name, "crash point reached: exiting");
            std::process::exit(86);
        }
    };
    ($name:literal, $key:expr) => {
        #[cfg(feature = "failpoints")]
        if let Some(arg) = fail::eval($name, |arg| arg.unwrap_or_default()) {
            if arg.is_empty() || arg == $key.to_string() {
                tracing::warn!(point = $name, key = %$key, "crash point reached: exiting");
                std::process::exit(86);
            }
        }
    };
}

/// Arms the crash points of `spec` (`name=actions;name=actions`).
pub fn arm_crash_points(spec: Option<&str>) {
    #[cfg(feature = "failpoints")]
    for item in spec.unwrap_or_default().split(';').filter(|i| !i.is_empty()) {
        if let Some((name, actions)) = item.split_once('=') {
            if let Err(e) = fail::cfg(name, actions) {
                tracing::warn!(%name, %e, "could not arm a crash point");
            }
        }
    }
    #[cfg(not(feature = "failpoints"))]
    let _ = spec;
}

pub struct Lifecycle<'a> {
    pub store: &'a MySqlStore,
    pub queue: &'a dyn SliceQueue,
    pub max_parallel_slices: u32,
}

impl Lifecycle<'_> {
    /// A new job: its first slices claimed and enqueued, then the outbox mark.
    /// A failed enqueue leaves the job to the sweeper's outbox.
    #[instrument(skip(self))]
    pub async fn start_job(&self, job_id: &JobId) -> Result<()> {
        let claimed = self.store.claim_slices(job_id, self.max_parallel_slices).await?;
        self.send_slices(job_id, &claimed).await?;
        self.store.mark_enqueued(job_id).await
    }

    /// Claims and enqueues whatever slices of the job may start now.
    pub async fn start_next(&self, job_id: &JobId) -> Result<Vec<u32>> {
        let claimed = self.store.claim_slices(job_id, self.max_parallel_slices).await?;
        self.send_slices(job_id, &claimed).await?;
        Ok(claimed)
    }

    async fn send_slices(&self, job_id: &JobId, slices: &[u32]) -> Result<()> {
        if slices.is_empty() {
            return Ok(());
        }
        // One wake-up per slice claimed: a worker runs the fairest waiting
        // slice (adapters/mysql/fair_share.rs), so every waiting slice has
        // a wake-up on its way.
        let tasks: Vec<QueueTask> = slices.iter().map(|&i| QueueTask::wake_up(job_id.clone(), i)).collect();
        self.queue.send(&tasks).await?;
        info!(%job_id, ?slices, "enqueued slices");
        Ok(())
    }

    /// A slice ended (its worker, with its lease token; or the sweeper, with
    /// none, for a slice no live worker holds): the next slices start, and the
    /// job ends with its last slice.
    #[instrument(skip(self, totals))]
    pub async fn slice_ended(
        &self,
        job_id: &JobId,
        slice_index: u32,
        token: Option<u64>,
        state: SliceState,
        totals: Option<SliceTotals<'_>>,
    ) -> Result<SliceEnd> {
        let end = self.store.end_slice(job_id, slice_index, token, state, totals, self.max_parallel_slices).await?;
        crash_point!("slice_ended.before_next", slice_index);
        self.send_slices(job_id, &end.claimed).await?;
        if end.ended {
            if let Some(job_state) = end.job_ended {
                info!(state = job_state.as_str(), dry_run = end.dry_run, "job ended");
                // A dry run tells the receiver nothing: its result is in the API.
                if !end.dry_run {
                    self.queue_status_event(job_id).await?;
                }
            }
        }
        Ok(end)
    }

    /// The slice waits out a receiver that looks down, then resumes.
    pub async fn pause(&self, job_id: &JobId, slice_index: u32, token: u64, delay: Duration) -> Result<()> {
        let delay_s = delay.as_secs().clamp(1, 900) as u32;
        self.store.pause_slice(job_id, slice_index, token, delay_s).await?;
        self.queue.send_delayed(&QueueTask::slice(job_id.clone(), slice_index, 0), delay_s).await
    }

    /// Cancels a job: slices not started end now; running ones stop within a
    /// heartbeat and end it. With none running the job has ended: its status
    /// event is queued at once.
    pub async fn cancel(&self, tenant: &TenantId, job_id: &JobId) -> Result<Job> {
        let view = self.store.cancel_job(tenant, job_id).await?.ok_or(Error::NotFound)?;
        let (_, ended, _) = self.store.slice_totals(job_id).await?;
        if view.state.is_terminal() && ended == view.progress.slices_total && !view.selection.dry_run {
            self.queue_status_event(job_id).await?;
        }
        Ok(view)
    }

    pub async fn queue_status_event(&self, job_id: &JobId) -> Result<()> {
        self.queue.send(&[QueueTask::status_event(job_id.clone())]).await?;
        self.store.mark_status_enqueued(job_id).await
    }
}

/// Sends an ended job's signed status event, once: the send is claimed for
/// longer than it may take (the invocation's time), and bounded by it.
#[instrument(skip(store, deliverer, keys))]
pub async fn send_status_event(
    store: &MySqlStore,
    deliverer: &dyn Deliverer,
    keys: &dyn KeyService,
    job_id: &JobId,
    deadline: Instant,
    margin: Duration,
) -> Result<()> {
    let until = deadline.checked_sub(margin).unwrap_or_else(Instant::now);
    let claim_s = (deadline.saturating_duration_since(Instant::now()).as_secs() + 5).max(10) as u32;
    if !store.claim_status_event(job_id, claim_s).await? {
        info!("status event already sent or being sent");
        return Ok(());
    }
    let view = store.job_view(None, job_id).await?.ok_or(Error::NotFound)?;
    let target = store.job_target(job_id).await?;
    if target.webhook_deleted {
        // Deleted once the job had ended (a webhook with an active job cannot
        // be): nobody is there to tell, and its secret is gone. Done with, so
        // neither the queue nor the sweeper tries again (docs/guarantees.md).
        info!(webhook_id = %target.webhook_id, "status event not sent: the webhook was deleted");
        return store.mark_status_sent(job_id).await;
    }
    let key = super::secrets::signer(keys, &store.webhook_secrets(&target.webhook_id).await?).await?;
    let body = status_event_body(&view);
    let delivery = Delivery {
        url: target.url,
        message_id: replay_types::StatusEvent::message_id(job_id),
        event_type: "replay_job_status".into(),
        body: Bytes::from(serde_json::to_vec(&body).map_err(|e| Error::Internal(e.to_string()))?),
        job_id: job_id.clone(),
        key,
    };
    match deliverer.deliver(&delivery, &Budget::new(until, until)).await {
        DeliveryOutcome::Delivered { .. } => info!(state = view.state.as_str(), "status event sent"),
        // The receiver refused it for good; the job's state in the API is the record.
        DeliveryOutcome::Failed { error, attempts, .. } => {
            warn!(%error, attempts, "status event could not be delivered")
        }
        DeliveryOutcome::Refused { error } => warn!(%error, "status event not sent: refused"),
        DeliveryOutcome::Interrupted { error, .. } => {
            store.release_status_claim(job_id).await?;
            return Err(Error::Http(format!("status event not sent in time; the queue retries it: {error}")));
        }
    }
    crash_point!("status_event.before_marked_sent");
    store.mark_status_sent(job_id).await
}
