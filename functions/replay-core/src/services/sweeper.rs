//! The sweeper: finishes what crashes and lost messages left undone, in
//! bounded time whatever receivers do (it sends nothing to them; status
//! events are the worker's tasks): enqueues jobs the API recorded but could
//! not enqueue, restarts slices whose heartbeat went stale and gives up on
//! those that keep failing, re-sends claimed slices that never started,
//! restarts jobs with nothing running, parks the slices of paused jobs that
//! no worker holds, ends jobs paused past their expiry, ends what cancelled
//! and expired jobs left open,
//! queues missing status events, records the topic's partition count,
//! purges jobs that ended longer ago than the retention, and then runs the
//! indexer of the delivery log (services/indexer.rs) for `INDEX_PASS_SECONDS`.

use super::indexer::{index_log, IndexBudget, IndexReport};
use super::lifecycle::Lifecycle;
use crate::config::{IndexConfig, PurgeConfig};
use crate::domain::job::SliceState;
use crate::error::Result;
use crate::ports::{DeliveryLog, Housekeeping, JobLedger, LogIndex, SliceQueue};
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;
use tracing::{info, instrument, warn};

/// Clients built once per cold start (`crate::wiring`), shared (the
/// simulation runs the worker, the sweeper and its oracle on one set).
pub struct SweeperContext {
    pub ledger: Arc<dyn JobLedger>,
    pub housekeeping: Arc<dyn Housekeeping>,
    pub queue: Arc<dyn SliceQueue>,
    pub log: Arc<dyn DeliveryLog>,
    pub topic: String,
    pub stale_after: Duration,
    pub max_restarts: u32,
    pub max_parallel_slices: u32,
    /// Tenants' caps on running slices: a slice waiting on one is not lost.
    pub max_running_slices: u32,
    pub purge: PurgeConfig,
    /// The log's index the sweeper writes, and how much one run may index.
    pub index: Option<Arc<dyn LogIndex>>,
    pub index_config: IndexConfig,
}

#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct SweepReport {
    pub jobs_enqueued: u32,
    pub slices_restarted: u32,
    pub slices_failed: u32,
    pub lost_slices_enqueued: u32,
    pub stalled_jobs_restarted: u32,
    pub cancelled_slices_closed: u32,
    pub slices_parked: u32,
    pub pauses_expired: u32,
    pub status_events_queued: u32,
    pub partition_count: Option<u32>,
    pub jobs_purged: u32,
    /// The indexer's pass, if the index is on and the pass ran.
    pub index: Option<IndexReport>,
}

/// Outbox jobs older than this are presumed to have lost their enqueue.
const OUTBOX_GRACE_S: u32 = 30;

/// Wake-ups one sweep sends at most for slices that seem to have lost theirs.
const LOST_SLICES_PER_SWEEP: u64 = 100;

impl SweeperContext {
    fn lifecycle(&self) -> Lifecycle<'_> {
        Lifecycle {
            ledger: self.ledger.as_ref(),
            queue: self.queue.as_ref(),
            max_parallel_slices: self.max_parallel_slices,
        }
    }
}

#[instrument(skip(ctx))]
pub async fn sweep(ctx: &SweeperContext) -> Result<SweepReport> {
    let mut report = SweepReport::default();
    let stale_s = ctx.stale_after.as_secs().max(1) as u32;
    let lifecycle = ctx.lifecycle();

    match ctx.log.partition_count().await {
        Ok(n) => {
            ctx.housekeeping.record_partition_count(&ctx.topic, n).await?;
            report.partition_count = Some(n);
        }
        Err(e) => warn!(error = %e, "could not read the topic's partition count"),
    }

    for job_id in ctx.ledger.claim_unenqueued_jobs(OUTBOX_GRACE_S, stale_s.max(60)).await? {
        lifecycle.start_job(&job_id).await?;
        info!(%job_id, "enqueued a job from the outbox");
        report.jobs_enqueued += 1;
    }

    for stale in ctx.ledger.claim_stale_slices(stale_s).await? {
        let (job_id, slice) = (&stale.job_id, stale.slice_index);
        if stale.restarts > ctx.max_restarts {
            warn!(%job_id, slice, restarts = stale.restarts, "slice keeps failing without progress; giving up on it");
            lifecycle.slice_ended(job_id, slice, None, SliceState::Failed, None).await?;
            report.slices_failed += 1;
        } else {
            // `resent`: no worker took the last restart in RESTART_WAIT_PERIODS stale periods.
            lifecycle.restart(job_id, slice).await?;
            info!(%job_id, slice, restarts = stale.restarts, resent = stale.resent, "restarted stale slice");
            report.slices_restarted += 1;
        }
    }

    // A paused job's slices that no worker holds wait for the resume
    // without a running-slice slot; a pause past its expiry ends the job.
    report.slices_parked = ctx.ledger.park_idle_slices(stale_s).await?;
    for expired in ctx.ledger.expire_pauses().await? {
        warn!(job_id = %expired.job_id, "the job's pause expired; it ended INCOMPLETE");
        if expired.ended && !expired.dry_run {
            lifecycle.queue_status_event(&expired.job_id).await?;
        }
        report.pauses_expired += 1;
    }

    // Claimed for a start but never started: the claimer died before sending,
    // or the message was lost. A duplicate message is harmless (the lease).
    report.lost_slices_enqueued =
        lifecycle.replace_lost_wake_ups(stale_s * 2, ctx.max_running_slices, LOST_SLICES_PER_SWEEP).await?;

    for job_id in ctx.ledger.stalled_jobs(stale_s).await? {
        if !lifecycle.start_next(&job_id).await?.is_empty() {
            warn!(%job_id, "job had slices to start and none running; started them");
            report.stalled_jobs_restarted += 1;
        }
    }

    for (job_id, slice) in ctx.ledger.dead_slices_of_ended_jobs(stale_s).await? {
        lifecycle.slice_ended(&job_id, slice, None, SliceState::Cancelled, None).await?;
        report.cancelled_slices_closed += 1;
    }

    for job_id in ctx.ledger.jobs_missing_status_event(stale_s.max(60)).await? {
        lifecycle.queue_status_event(&job_id).await?;
        report.status_events_queued += 1;
    }

    report.jobs_purged = purge_ended_jobs(ctx).await?;

    if let Some(index) = ctx.index.as_deref() {
        let budget = IndexBudget::of(&ctx.index_config);
        // A failed pass leaves the index behind (its lag alarm tells); the
        // sweep's other work is done.
        match index_log(ctx.log.as_ref(), index, budget).await {
            Ok(pass) => report.index = Some(pass),
            Err(e) => warn!(error = %e, "the indexer's pass failed"),
        }
    }
    Ok(report)
}

/// Batches of ended jobs past the retention, until none is left or the sweep
/// has done its share (the next sweep goes on).
async fn purge_ended_jobs(ctx: &SweeperContext) -> Result<u32> {
    let purged = ctx.lifecycle().purge_ended_jobs(&ctx.purge).await?;
    // The audit trail ages out on its own, longer, clock, in the same bounded steps.
    for _ in 0..ctx.purge.max_batches {
        let n = ctx.housekeeping.purge_audit(ctx.purge.audit_retention, ctx.purge.batch_jobs * 10).await?;
        if n < ctx.purge.batch_jobs * 10 {
            break;
        }
    }
    // Per-minute API request counts are needed for a minute; an hour is plenty.
    let hour_ago = chrono::Utc::now().timestamp() / 60 - 60;
    ctx.housekeeping.purge_request_counts(hour_ago).await?;
    Ok(purged)
}
