//! The job ledger: the system of record of jobs and their slices (MySQL in
//! production). `services::lifecycle` is its only writer; the worker and the
//! sweeper read slices through it. Every method is one atomic step of a
//! job's life (docs/guarantees.md, "A job's life"), safe against concurrent
//! callers: two workers, a worker and the sweeper, two API requests.

use crate::domain::checkpoint::Tally;
use crate::domain::ids::{EventTime, JobId, TenantId, WebhookId};
use crate::domain::job::{Counters, Job, JobLimits, JobState, SliceState};
use crate::domain::pace::SlicePace;
use crate::domain::window::Window;
use crate::error::Result;
use async_trait::async_trait;
use replay_types::{PausedBy, Selection};
use std::time::Duration;

/// A job to record, with its slices.
pub struct NewJob<'a> {
    pub id: &'a JobId,
    pub tenant_id: &'a TenantId,
    pub webhook_id: &'a WebhookId,
    pub from: EventTime,
    pub to: EventTime,
    /// Every partition the webhook's key lived in during the window.
    pub partitions: &'a [u32],
    pub slices: &'a [NewSlice],
    pub idempotency_key: Option<&'a str>,
    pub request_hash: [u8; 32],
    /// Which events to replay (None: the whole window).
    pub selection: Option<&'a Selection>,
    /// The job whose failures this one delivers again.
    pub retry_of: Option<&'a JobId>,
    /// The tenant's cap on active jobs (None: no cap).
    pub max_active_jobs: Option<u32>,
    /// Another webhook of the tenant that receives the events (held as the
    /// source is: one active job each).
    pub target_webhook_id: Option<&'a WebhookId>,
    /// Check the receiver before the first delivery.
    pub crc_check: bool,
    /// The job's own limits on its load on the receiver.
    pub limits: JobLimits,
    /// Deliver in log order per this key (domain/ordering.rs).
    pub ordering_key: Option<&'a str>,
}

/// One time slice and, per partition, the offsets of its start and end when
/// the job was created.
#[derive(Debug, Clone)]
pub struct NewSlice {
    pub from: EventTime,
    pub to: EventTime,
    pub planned: Vec<(u32, i64, i64)>,
}

#[derive(Debug)]
pub enum Created {
    New(Job),
    /// Same `Idempotency-Key` and body as an earlier request.
    Existing(Job),
}

/// The webhook a job delivers to (its target, else its own), as its status
/// event needs it.
#[derive(Debug, Clone)]
pub struct JobTarget {
    pub webhook_id: WebhookId,
    pub url: String,
    /// Deleted after the job ended: its secret is wiped, nothing can be signed.
    pub webhook_deleted: bool,
}

/// What a worker needs to run a slice: the slice, its job and its webhook.
#[derive(Clone)]
pub struct SliceRecord {
    pub job_id: JobId,
    pub slice_index: u32,
    pub job_state: JobState,
    pub slice_state: SliceState,
    pub tenant_id: TenantId,
    /// The webhook whose events the slice reads (the records' key).
    pub webhook_id: WebhookId,
    /// Where they go: the target's URL when there is one, else the webhook's.
    pub url: String,
    /// The webhook delivered to, when not `webhook_id` (its secret signs).
    pub target_webhook_id: Option<WebhookId>,
    /// The job asked for a receiver check that no slice has passed yet.
    pub crc_pending: bool,
    /// The job's own limits, which its slices share (domain/job.rs, `slice_share`).
    pub limits: JobLimits,
    /// Deliver in log order per this key (domain/ordering.rs).
    pub ordering_key: Option<String>,
    /// The pace the job's latest slice reported in the last `PACE_FRESH_S`
    /// seconds, with its baseline: where this slice starts from.
    pub pace: Option<SlicePace>,
    /// The partitions to read, in order.
    pub partitions: Vec<u32>,
    pub window: Window,
    /// Per partition, the offsets of the slice's start and end at creation.
    pub planned: Vec<(u32, i64, i64)>,
    /// The job's selection as recorded (a retry's names its job only).
    pub selection: Selection,
}

// The URL's path and query may carry the receiver's token: never in a log.
impl std::fmt::Debug for SliceRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SliceRecord")
            .field("job_id", &self.job_id)
            .field("slice_index", &self.slice_index)
            .field("webhook_id", &self.webhook_id)
            .field("slice_state", &self.slice_state)
            .finish_non_exhaustive()
    }
}

/// How recent a slice's heartbeat must be for the job's next slice to start
/// from its pace (older, the receiver may have changed: a new start).
pub const PACE_FRESH_S: u32 = 600;

/// What ending a slice did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SliceEnd {
    /// This call ended it (false: it had ended already, or a newer lease wrote).
    pub ended: bool,
    /// Slices of the job claimed to start now (their messages are the caller's to send).
    pub claimed: Vec<u32>,
    /// The job's state, once every slice has ended.
    pub job_ended: Option<JobState>,
    /// A dry run (it sends no status event).
    pub dry_run: bool,
}

/// A slice's final counters and a dry run's tally, written when it ends.
#[derive(Debug, Clone, Copy)]
pub struct SliceTotals<'a> {
    pub counters: &'a Counters,
    pub tally: &'a Tally,
}

/// A running slice whose heartbeat went stale, claimed for a restart.
#[derive(Debug, Clone)]
pub struct StaleSlice {
    pub job_id: JobId,
    pub slice_index: u32,
    /// Restarts in a row without progress, this one included.
    pub restarts: u32,
    /// No worker took the last restart in `RESTART_WAIT_PERIODS` stale
    /// periods (lost, or dead-lettered): this one sends it again.
    pub resent: bool,
}

/// A slice whose last restart still waits in the queue (no worker has taken
/// it: the pool is full, or a frozen worker holds a slot) is not restarted
/// again at the next sweeps, only once that restart has waited this many
/// stale periods. So a worker frozen across two sweeps costs its slice one
/// restart, not two, while a restart that was lost or dead-lettered is
/// still counted in bounded time and `MAX_SLICE_RESTARTS` ends the slice.
pub const RESTART_WAIT_PERIODS: u32 = 4;

/// A pause of a job (docs/guarantees.md, "Pause and resume").
#[derive(Debug, Clone)]
pub struct PauseOrder<'a> {
    pub by: PausedBy,
    pub reason: Option<&'a str>,
    /// Not resumed within this many seconds, the job ends `INCOMPLETE`.
    pub expires_in_s: u32,
}

/// A job whose pause expired, ended `INCOMPLETE` by the sweeper.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiredPause {
    pub job_id: JobId,
    /// None of its slices runs any more: its status event is the caller's to
    /// queue (else the last running slice's end queues it).
    pub ended: bool,
    pub dry_run: bool,
}

/// What a wake-up found to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Take {
    /// This slice is now `RUNNING`, and the caller's to run.
    Run { job_id: JobId, slice_index: u32, tenant_id: TenantId },
    /// Slices wait to start, but each is of a tenant at its cap (or another
    /// worker won each race): wake up again later.
    Defer,
    /// No slice waits to start: the wake-up has nothing to do.
    Nothing,
}

/// Jobs and slices, each transition one atomic step.
#[async_trait]
pub trait JobLedger: Send + Sync {
    // ---- a job ----

    /// Records a job and its slices (state `OPEN`, not yet enqueued). A
    /// tenant's creates take turns: the `Idempotency-Key` and the active-job
    /// cap see every job recorded before.
    async fn create_job(&self, job: NewJob<'_>) -> Result<Created>;
    /// Outbox mark: the job's first wake-ups reached the queue.
    async fn mark_enqueued(&self, job_id: &JobId) -> Result<()>;
    /// A job as the API shows it; `tenant` None is the operator's view.
    async fn job_view(&self, tenant: Option<&TenantId>, job_id: &JobId) -> Result<Option<Job>>;
    /// Cancels an active job and its slices not started; running slices
    /// stop within a heartbeat. The job's view (unchanged if it had ended).
    async fn cancel_job(&self, tenant: &TenantId, job_id: &JobId) -> Result<Option<Job>>;
    /// Pauses an active job: `PAUSED`, its slices claimed to start go back
    /// to waiting unclaimed, and those waiting out their receiver with them;
    /// running ones stop at their next commit (their heartbeat tells them)
    /// and are parked by `park_slice`. Holds the webhook and the tenant's
    /// active-job slot. The job's view (unchanged if it was not active).
    async fn pause_job(&self, tenant: &TenantId, job_id: &JobId, pause: &PauseOrder<'_>) -> Result<Option<Job>>;
    /// Resumes a paused job: back to the state it paused in (its slices are
    /// the caller's to claim and wake). The job's view (unchanged if it was
    /// not paused).
    async fn resume_job(&self, tenant: &TenantId, job_id: &JobId) -> Result<Option<Job>>;
    /// A slice checked the receiver before the job's first delivery:
    /// `failure` None, it passed (for every slice of the job); else, unless
    /// another slice passed first, the job ends `FAILED` with that reason
    /// (as a cancel ends it). Whether the job may deliver.
    async fn record_receiver_check(&self, job_id: &JobId, failure: Option<&str>) -> Result<bool>;
    /// The failed event ids of a job, for a retry of it.
    async fn failed_event_ids(&self, job_id: &JobId) -> Result<Vec<String>>;

    // ---- its slices ----

    /// Claims up to `cap` slices of the job to start (slices running or
    /// claimed count; a job's own limits may lower the cap: `slice_share`);
    /// concurrent callers never exceed the cap.
    async fn claim_slices(&self, job_id: &JobId, cap: u32) -> Result<Vec<u32>>;
    /// The job's slices claimed to start that no worker took yet.
    async fn waiting_slices(&self, job_id: &JobId) -> Result<Vec<u32>>;
    /// The fairest claimed slice across tenants, now `RUNNING`, within each
    /// tenant's cap of running slices (`default_cap` unless overridden) and
    /// while fewer than `pool` slices run in all (0: no cap); concurrent
    /// callers never exceed either.
    async fn take_slice(&self, default_cap: u32, pool: u32) -> Result<Take>;
    async fn slice(&self, job_id: &JobId, slice_index: u32) -> Result<Option<SliceRecord>>;
    /// A worker picked the slice up: slice `RUNNING`, job `OPEN` -> `STARTED`.
    async fn start_slice(&self, job_id: &JobId, slice_index: u32) -> Result<()>;
    /// Ends a slice (once, by its lease holder; `token` None is the
    /// sweeper's), claims the job's next slices up to `cap`, and ends the job
    /// with its last slice. One atomic step.
    async fn end_slice(
        &self,
        job_id: &JobId,
        slice_index: u32,
        token: Option<u64>,
        state: SliceState,
        totals: Option<SliceTotals<'_>>,
        cap: u32,
    ) -> Result<SliceEnd>;
    /// A running slice of a paused job stopped at a commit (by its lease
    /// holder): back to waiting, unclaimed, with its counters, if the job is
    /// still paused. Returns the job's state: if it is no longer `PAUSED`
    /// the slice is left running, the caller's to carry on or end.
    async fn park_slice(&self, job_id: &JobId, slice_index: u32, token: u64, counters: &Counters) -> Result<JobState>;
    /// The slice waits out its receiver until `until_s` seconds from now.
    async fn pause_slice(&self, job_id: &JobId, slice_index: u32, token: u64, until_s: u32) -> Result<()>;

    // ---- the status event ----

    async fn job_target(&self, job_id: &JobId) -> Result<JobTarget>;
    /// Claims the right to send the job's status event for `claim_s` seconds,
    /// once the job has ended and none of its slices runs.
    async fn claim_status_event(&self, job_id: &JobId, claim_s: u32) -> Result<bool>;
    async fn release_status_claim(&self, job_id: &JobId) -> Result<()>;
    async fn mark_status_sent(&self, job_id: &JobId) -> Result<()>;
    async fn mark_status_enqueued(&self, job_id: &JobId) -> Result<()>;

    // ---- what the sweeper finds ----

    /// Ended jobs with no slice running whose status event was never sent
    /// and is not known to be queued (or was queued `requeue_after_s` ago
    /// and is still unsent).
    async fn jobs_missing_status_event(&self, requeue_after_s: u32) -> Result<Vec<JobId>>;
    /// Jobs whose first wake-ups may never have been sent, claimed for `claim_s`.
    async fn claim_unenqueued_jobs(&self, older_than_s: u32, claim_s: u32) -> Result<Vec<JobId>>;
    /// Running slices whose heartbeat is older than `stale_s`, claimed for a restart.
    async fn claim_stale_slices(&self, stale_s: u32) -> Result<Vec<StaleSlice>>;
    /// Claimed slices that never started within `older_than_s` and wait on
    /// no tenant cap, re-claimed; at most `limit`, oldest first.
    async fn claim_lost_slices(&self, older_than_s: u32, default_cap: u32, limit: u32) -> Result<Vec<(JobId, u32)>>;
    /// Slices claimed and waiting for a worker.
    async fn slices_waiting_count(&self) -> Result<u64>;
    /// The most slice-queue messages that are not wake-ups: one per running
    /// slice and one per status event queued and not sent.
    async fn messages_besides_wake_ups(&self) -> Result<u64>;
    /// Active jobs with slices to start and none running for `quiet_s`.
    async fn stalled_jobs(&self, quiet_s: u32) -> Result<Vec<JobId>>;
    /// Slices of ended jobs (cancelled, or their pause expired) that no live
    /// worker holds.
    async fn dead_slices_of_ended_jobs(&self, quiet_s: u32) -> Result<Vec<(JobId, u32)>>;
    /// Running slices of paused jobs that no live worker holds (heartbeat
    /// older than `quiet_s` and not waiting out its receiver) go back to
    /// waiting, unclaimed; how many.
    async fn park_idle_slices(&self, quiet_s: u32) -> Result<u32>;
    /// Ends `INCOMPLETE` the jobs paused past their `expires_at`, as a
    /// cancel does: slices not started end, running ones stop within a
    /// heartbeat.
    async fn expire_pauses(&self) -> Result<Vec<ExpiredPause>>;
    /// Deletes up to `limit` jobs that ended more than `retention` ago (not
    /// while a retry of them runs); how many went.
    async fn purge_ended_jobs(&self, retention: Duration, limit: u32) -> Result<u32>;
}
