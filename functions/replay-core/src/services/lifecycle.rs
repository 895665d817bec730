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
//!
//! Every message about a slice is sent from here too (wake-ups, deferred
//! wake-ups, continuations, pauses, restarts): the worker and the sweeper
//! only decode, call and encode.

use super::slice::now;
use crate::config::{FairShareConfig, PurgeConfig, WorkerConfig};
use crate::domain::ids::{JobId, TenantId};
use crate::domain::job::{status_event_body, Counters, Job, JobState, SliceState};
use crate::domain::retry::{Next, RetryRule, Tries};
use crate::domain::task::QueueTask;
use crate::error::{Error, Result};
use crate::ports::ledger::{Created, JobLedger, NewJob, PauseOrder, SliceEnd, SliceRecord, SliceTotals, Take};
use crate::ports::{Deliverer, Delivery, DeliveryOutcome, SliceQueue, WebhookSigners};
use bytes::Bytes;
use rand::rngs::StdRng;
use rand::SeedableRng;
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
    pub ledger: &'a dyn JobLedger,
    pub queue: &'a dyn SliceQueue,
    pub max_parallel_slices: u32,
}

/// What a slice message is for: the slice it runs now (a continuation's
/// count with it), or nothing to do.
pub type Assignment = Option<(SliceRecord, u32)>;

impl Lifecycle<'_> {
    /// A new job: its first slices claimed and enqueued, then the outbox mark.
    /// A failed enqueue leaves the job to the sweeper's outbox, which calls
    /// this again: every slice of the job claimed and not taken yet gets a
    /// wake-up, not only those claimed now (the first call may have claimed
    /// them and died before sending).
    #[instrument(skip(self))]
    pub async fn start_job(&self, job_id: &JobId) -> Result<()> {
        self.ledger.claim_slices(job_id, self.max_parallel_slices).await?;
        let waiting = self.ledger.waiting_slices(job_id).await?;
        self.send_slices(job_id, &waiting).await?;
        self.ledger.mark_enqueued(job_id).await
    }

    /// Claims and enqueues whatever slices of the job may start now.
    pub async fn start_next(&self, job_id: &JobId) -> Result<Vec<u32>> {
        let claimed = self.ledger.claim_slices(job_id, self.max_parallel_slices).await?;
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
        let end = self.ledger.end_slice(job_id, slice_index, token, state, totals, self.max_parallel_slices).await?;
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
        self.ledger.pause_slice(job_id, slice_index, token, delay_s).await?;
        self.queue.send_delayed(&QueueTask::slice(job_id.clone(), slice_index, 0), delay_s).await
    }

    /// Cancels a job: slices not started end now; running ones stop within a
    /// heartbeat and end it. With none running the job has ended: its status
    /// event is queued at once.
    pub async fn cancel(&self, tenant: &TenantId, job_id: &JobId) -> Result<Job> {
        let view = self.ledger.cancel_job(tenant, job_id).await?.ok_or(Error::NotFound)?;
        let ended = view.progress.slices_done;
        if view.state.is_terminal() && ended == view.progress.slices_total && !view.selection.dry_run {
            self.queue_status_event(job_id).await?;
        }
        Ok(view)
    }

    /// Pauses a job (docs/guarantees.md, "Pause and resume"): no slice
    /// starts, running ones stop at their next commit. A paused job answers
    /// unchanged; an ended one is `JobEnded`.
    pub async fn pause_job(&self, tenant: &TenantId, job_id: &JobId, pause: &PauseOrder<'_>) -> Result<Job> {
        let view = self.ledger.pause_job(tenant, job_id, pause).await?.ok_or(Error::NotFound)?;
        if view.state.is_terminal() {
            return Err(Error::JobEnded { job_id: job_id.to_string(), state: view.state.as_str() });
        }
        info!(%job_id, state = view.state.as_str(), by = pause.by.as_str(), "job paused");
        Ok(view)
    }

    /// Resumes a paused job: its slices are claimed and woken as a new job's
    /// are, and continue from their checkpoints. A running job answers
    /// unchanged; an ended one is `JobEnded`.
    pub async fn resume_job(&self, tenant: &TenantId, job_id: &JobId) -> Result<Job> {
        let view = self.ledger.resume_job(tenant, job_id).await?.ok_or(Error::NotFound)?;
        if view.state.is_terminal() {
            return Err(Error::JobEnded { job_id: job_id.to_string(), state: view.state.as_str() });
        }
        if view.state.is_active() {
            // A failed send leaves the slices claimed: the sweeper re-sends
            // their wake-ups (`replace_lost_wake_ups`).
            self.start_job(job_id).await?;
        }
        Ok(view)
    }

    /// A slice of a paused job stopped at its checkpoint: it waits for the
    /// resume. With `pause`, the receiver asked for it: the job is paused
    /// first. A job resumed meanwhile carries it on; one that ended
    /// meanwhile (cancelled, its pause expired) ends it.
    #[allow(clippy::too_many_arguments)]
    pub async fn park(
        &self,
        tenant: &TenantId,
        job_id: &JobId,
        slice_index: u32,
        token: u64,
        counters: &Counters,
        continuation: u32,
        pause: Option<&PauseOrder<'_>>,
    ) -> Result<()> {
        if let Some(order) = pause {
            let view = self.ledger.pause_job(tenant, job_id, order).await?;
            warn!(%job_id, state = ?view.map(|v| v.state), reason = ?order.reason, "the receiver paused the job");
        }
        match self.ledger.park_slice(job_id, slice_index, token, counters).await? {
            JobState::Paused => info!("slice parked until the job resumes"),
            state if state.is_terminal() => {
                let totals = SliceTotals { counters, tally: &Default::default() };
                self.slice_ended(job_id, slice_index, Some(token), SliceState::Cancelled, Some(totals)).await?;
            }
            _ => self.continue_slice(job_id, slice_index, continuation).await?,
        }
        Ok(())
    }

    /// What a slice message runs. A wake-up, or a message for a slice still
    /// waiting to start (every start goes through the fair choice, duplicates
    /// and older messages too), runs whichever waiting slice the ledger
    /// chooses (docs/security.md, "Fair shares"); any other message resumes
    /// its own running slice (a continuation, the end of a pause, a restart).
    /// The slice returned is `RUNNING`.
    #[instrument(skip(self, fair))]
    pub async fn assign(
        &self,
        job_id: &JobId,
        slice_index: u32,
        continuation: u32,
        wake_up: bool,
        fair: &FairShareConfig,
    ) -> Result<Assignment> {
        let Some(record) = self.ledger.slice(job_id, slice_index).await? else {
            if wake_up {
                // Its job was purged; the wake-up may still start another slice.
                return self.wake(job_id, slice_index, fair).await;
            }
            return Err(Error::MalformedMessage(format!("no slice {slice_index} of job {job_id}")));
        };
        if record.slice_state == SliceState::Pending && record.job_state.is_terminal() {
            // Cancelled (or given up) while this message waited in the queue.
            self.slice_ended(job_id, slice_index, None, SliceState::Cancelled, None).await?;
            return Ok(None);
        }
        if wake_up || record.slice_state == SliceState::Pending {
            return self.wake(job_id, slice_index, fair).await;
        }
        if record.slice_state.has_ended() {
            // A duplicate (or late) message: nothing to do, and nothing to claim.
            info!(slice_state = record.slice_state.as_str(), continuation, "slice already ended");
            return Ok(None);
        }
        if record.job_state == JobState::Paused {
            // A continuation, restart or late copy for a paused job: the
            // slice is not run (it would deliver until its first heartbeat);
            // the sweeper parks it once quiet and the resume wakes it.
            info!(continuation, "job paused; the slice waits for its resume");
            return Ok(None);
        }
        self.ledger.start_slice(job_id, slice_index).await?;
        Ok(Some((record, continuation)))
    }

    /// Takes the fairest waiting slice; when every waiting slice's tenant is
    /// at its cap, sends the wake-up again with a delay (failing the message
    /// would spend its receive count toward the DLQ).
    async fn wake(&self, hint_job: &JobId, hint_slice: u32, fair: &FairShareConfig) -> Result<Assignment> {
        match self.ledger.take_slice(fair.max_running_slices, fair.pool_slices).await? {
            Take::Run { job_id, slice_index, tenant_id } => {
                crate::telemetry::emit_metrics(
                    &[("SlicesStarted", "Count", 1.0)],
                    serde_json::json!({"TenantId": tenant_id}),
                );
                let record = self.ledger.slice(&job_id, slice_index).await?.ok_or(Error::NotFound)?;
                self.ledger.start_slice(&job_id, slice_index).await?;
                Ok(Some((record, 0)))
            }
            Take::Defer if self.surplus_wake_ups().await? => {
                // A duplicate delivery (SQS delivers at least once): sent
                // again, every copy would come back at each deferral, and
                // their number would grow for as long as the pool stays full.
                info!("wake-up dropped: as many wait in the queue as slices wait to start");
                crate::telemetry::emit_metrics(&[("WakeUpsDropped", "Count", 1.0)], serde_json::json!({}));
                Ok(None)
            }
            Take::Defer => {
                self.queue.send_delayed(&QueueTask::wake_up(hint_job.clone(), hint_slice), fair.defer_s).await?;
                info!(
                    delay_s = fair.defer_s,
                    "the worker pool is full, or every waiting slice's tenant is at its cap; wake-up deferred"
                );
                crate::telemetry::emit_metrics(&[("WakeUpsDeferred", "Count", 1.0)], serde_json::json!({}));
                Ok(None)
            }
            Take::Nothing => {
                info!("no slice waits to start");
                Ok(None)
            }
        }
    }

    /// The slice stopped before the invocation's deadline, its checkpoint
    /// saved: a new message carries it on.
    pub async fn continue_slice(&self, job_id: &JobId, slice_index: u32, continuation: u32) -> Result<()> {
        self.queue.send(&[QueueTask::slice(job_id.clone(), slice_index, continuation + 1)]).await
    }

    /// The sweeper found the slice's heartbeat stale: a message resumes it
    /// from its checkpoint (the lease keeps a live holder's run alone).
    pub async fn restart(&self, job_id: &JobId, slice_index: u32) -> Result<()> {
        self.queue.send(&[QueueTask::slice(job_id.clone(), slice_index, 0)]).await
    }

    /// Claimed slices whose wake-ups seem lost get new ones; how many.
    /// Wake-ups are not bound to slices (adapters/mysql/fair_share.rs): a
    /// slice waiting long is lost only if fewer wake-ups wait in the queue
    /// than slices wait for a worker. The queue counts every message, so the
    /// others are taken off first, at their most: one per running slice (a
    /// continuation, a pause's end, a restart) and one per status event on
    /// its way. Topping up by the difference, never more, keeps wake-ups from
    /// piling up while a full pool makes every slice wait.
    pub async fn replace_lost_wake_ups(&self, older_than_s: u32, default_cap: u32, most: u64) -> Result<u32> {
        let (waiting, wake_ups) = self.waiting_slices_and_wake_ups().await?;
        let limit = waiting.saturating_sub(wake_ups).min(most) as u32;
        let mut sent = 0;
        for (job_id, slice) in self.ledger.claim_lost_slices(older_than_s, default_cap, limit).await? {
            self.queue.send(&[QueueTask::wake_up(job_id.clone(), slice)]).await?;
            warn!(%job_id, slice, "re-sent a wake-up for a slice whose start message may have been lost");
            sent += 1;
        }
        Ok(sent)
    }

    /// Slices waiting for a worker, and wake-ups waiting in the queue at the
    /// least (every message counts, less the others at their most; one in
    /// a worker's hands is not counted).
    async fn waiting_slices_and_wake_ups(&self) -> Result<(u64, u64)> {
        let waiting = self.ledger.slices_waiting_count().await?;
        let queued = self.queue.waiting_messages().await?;
        Ok((waiting, queued.saturating_sub(self.ledger.messages_besides_wake_ups().await?)))
    }

    /// The queue holds a wake-up for every waiting slice without the one in
    /// hand: the sweeper tops wake-ups up to the waiting slices
    /// (`replace_lost_wake_ups`), a deferral never lets them pass it.
    async fn surplus_wake_ups(&self) -> Result<bool> {
        let (waiting, wake_ups) = self.waiting_slices_and_wake_ups().await?;
        Ok(wake_ups >= waiting)
    }

    /// Records a new job and its slices (the API starts it with `start_job`).
    pub async fn create_job(&self, job: NewJob<'_>) -> Result<Created> {
        self.ledger.create_job(job).await
    }

    /// Batches of jobs that ended longer ago than the retention, until none
    /// is left or the sweep has done its share (the next sweep goes on).
    pub async fn purge_ended_jobs(&self, cfg: &PurgeConfig) -> Result<u32> {
        let mut purged = 0;
        for _ in 0..cfg.max_batches {
            let n = self.ledger.purge_ended_jobs(cfg.job_retention, cfg.batch_jobs).await?;
            purged += n;
            if n < cfg.batch_jobs {
                break;
            }
        }
        if purged > 0 {
            info!(purged, "purged jobs past the retention");
        }
        Ok(purged)
    }

    pub async fn queue_status_event(&self, job_id: &JobId) -> Result<()> {
        self.queue.send(&[QueueTask::status_event(job_id.clone())]).await?;
        self.ledger.mark_status_enqueued(job_id).await
    }
}

/// Sends an ended job's signed status event, once: the send is claimed for
/// longer than it may take (the invocation's time), and bounded by it.
#[instrument(skip(ledger, signers, deliverer))]
pub async fn send_status_event(
    ledger: &dyn JobLedger,
    signers: &dyn WebhookSigners,
    deliverer: &dyn Deliverer,
    job_id: &JobId,
    cfg: &WorkerConfig,
    deadline: Instant,
) -> Result<()> {
    let until = deadline.checked_sub(cfg.deadline_margin).unwrap_or_else(now);
    let claim_s = (deadline.saturating_duration_since(now()).as_secs() + 5).max(10) as u32;
    if !ledger.claim_status_event(job_id, claim_s).await? {
        info!("status event already sent or being sent");
        return Ok(());
    }
    let view = ledger.job_view(None, job_id).await?.ok_or(Error::NotFound)?;
    let target = ledger.job_target(job_id).await?;
    if target.webhook_deleted {
        // Deleted once the job had ended (a webhook with an active job cannot
        // be): nobody is there to tell, and its secret is gone. Done with, so
        // neither the queue nor the sweeper tries again (docs/guarantees.md).
        info!(webhook_id = %target.webhook_id, "status event not sent: the webhook was deleted");
        return ledger.mark_status_sent(job_id).await;
    }
    let (key, _) = signers.signer(&target.webhook_id).await?;
    let body = status_event_body(&view);
    let delivery = Delivery {
        url: target.url,
        message_id: replay_types::StatusEvent::message_id(job_id),
        event_type: "replay_job_status".into(),
        body: Bytes::from(serde_json::to_vec(&body).map_err(|e| Error::Internal(e.to_string()))?),
        job_id: job_id.clone(),
        key,
        // Sent to the target, it names the source as the events did.
        source_webhook_id: (target.webhook_id != view.webhook_id).then(|| view.webhook_id.clone()),
    };
    // Jitter seeded by the job: the same job retries alike in a replayed run.
    let mut rng = StdRng::seed_from_u64(xxhash_rust::xxh3::xxh3_64(job_id.as_str().as_bytes()));
    match deliver_until(deliverer, &cfg.retry, &delivery, until, &mut rng).await {
        DeliveryOutcome::Delivered { .. } => info!(state = view.state.as_str(), "status event sent"),
        // The receiver refused it for good; the job's state in the API is the record.
        DeliveryOutcome::Failed { error, attempts, .. } | DeliveryOutcome::Aborted { error, attempts, .. } => {
            warn!(%error, attempts, "status event could not be delivered")
        }
        DeliveryOutcome::Refused { error } => warn!(%error, "status event not sent: refused"),
        DeliveryOutcome::Interrupted { error, .. } => {
            ledger.release_status_claim(job_id).await?;
            return Err(Error::Http(format!("status event not sent in time; the queue retries it: {error}")));
        }
    }
    crash_point!("status_event.before_marked_sent");
    ledger.mark_status_sent(job_id).await
}

/// Delivers one event under the retry rule until `until`: the status
/// event's path (a slice's events go through its decider, which applies the
/// same rule between other events' attempts).
pub async fn deliver_until(
    deliverer: &dyn Deliverer,
    rule: &RetryRule,
    delivery: &Delivery,
    until: Instant,
    rng: &mut StdRng,
) -> DeliveryOutcome {
    let mut tries = Tries::default();
    loop {
        let Some(timeout) = rule.timeout(until.saturating_duration_since(now())) else {
            return tries.interrupted(tries.last_status, &tries.last_error);
        };
        let attempt = deliverer.attempt(delivery, timeout).await;
        match rule.after(&mut tries, attempt, rng) {
            Next::Done(outcome) => return outcome,
            // No circuit and no pauses here: the quick attempts are all it gets.
            Next::Struggling(_) | Next::Pause(_) => return tries.failed(),
            // A job that has ended cannot pause: the answer is taken as it is.
            Next::PauseJob { delivered: true, .. } => return DeliveryOutcome::Delivered { attempts: tries.attempts },
            Next::PauseJob { delivered: false, .. } => return tries.failed(),
            Next::RetryIn(wait) if now() + wait >= until => {
                return tries.interrupted(tries.last_status, &tries.last_error)
            }
            Next::RetryIn(wait) => tokio::time::sleep(wait).await,
        }
    }
}
