//! The sweeper: enqueues jobs the API recorded but could not enqueue,
//! restarts slices whose heartbeat went stale, gives up on slices that keep
//! failing, and finishes cancelled jobs and unsent status events.

use super::finalize::{finalize_if_done, send_status_event};
use crate::adapters::mysql::{slice_state, MySqlStore};
use crate::domain::task::QueueTask;
use crate::error::Result;
use crate::ports::{Deliverer, SliceQueue};
use serde::Serialize;
use std::time::Duration;
use tracing::{info, instrument, warn};

pub struct SweeperContext {
    pub store: MySqlStore,
    pub queue: Box<dyn SliceQueue>,
    pub deliverer: Box<dyn Deliverer>,
    pub stale_after: Duration,
    pub max_restarts: u32,
    pub max_parallel_slices: u32,
}

#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct SweepReport {
    pub jobs_enqueued: u32,
    pub slices_restarted: u32,
    pub slices_failed: u32,
    pub lost_slices_enqueued: u32,
    pub cancelled_jobs_closed: u32,
    pub status_events_sent: u32,
}

/// Outbox jobs older than this are presumed to have lost their enqueue.
const OUTBOX_GRACE_S: u32 = 30;
/// A pending slice enqueued this long ago and still not started may have lost
/// its message (a duplicate message is harmless: the lease dedupes it).
const LOST_SLICE_AFTER_S: u32 = 900;

#[instrument(skip(ctx))]
pub async fn sweep(ctx: &SweeperContext) -> Result<SweepReport> {
    let mut report = SweepReport::default();
    let stale_s = ctx.stale_after.as_secs().max(1) as u32;

    for job_id in ctx.store.claim_unenqueued_jobs(OUTBOX_GRACE_S, stale_s.max(60)).await? {
        let slices = ctx.store.pending_slices(&job_id, ctx.max_parallel_slices).await?;
        let tasks: Vec<QueueTask> = slices.iter().map(|&i| QueueTask::slice(job_id.clone(), i, 0)).collect();
        ctx.queue.send(&tasks).await?;
        ctx.store.mark_enqueued(&job_id, &slices).await?;
        info!(%job_id, slices = tasks.len(), "enqueued job from the outbox");
        report.jobs_enqueued += 1;
    }

    for (job_id, slice, restarts) in ctx.store.claim_stale_slices(stale_s).await? {
        if restarts > ctx.max_restarts {
            warn!(%job_id, slice, restarts, "slice keeps failing; giving up on it");
            ctx.store.set_slice_state(&job_id, slice, slice_state::FAILED).await?;
            report.slices_failed += 1;
            if let Some(next) = ctx.store.claim_next_slice(&job_id).await? {
                ctx.queue.send(&[QueueTask::slice(job_id.clone(), next, 0)]).await?;
            }
            finalize_if_done(&ctx.store, ctx.deliverer.as_ref(), &job_id).await?;
            continue;
        }
        ctx.queue.send(&[QueueTask::slice(job_id.clone(), slice, 0)]).await?;
        info!(%job_id, slice, restarts, "restarted stale slice");
        report.slices_restarted += 1;
    }

    // A slice claimed for enqueue whose message never came (its claimer died
    // before sending) would stall the job: send it again after a while.
    for (job_id, slice) in ctx.store.claim_lost_slices(LOST_SLICE_AFTER_S.max(stale_s * 5)).await? {
        ctx.queue.send(&[QueueTask::slice(job_id.clone(), slice, 0)]).await?;
        warn!(%job_id, slice, "re-enqueued a slice whose message may have been lost");
        report.lost_slices_enqueued += 1;
    }

    for job_id in ctx.store.cancelled_jobs_with_open_slices(stale_s).await? {
        ctx.store.end_open_slices(&job_id, slice_state::CANCELLED).await?;
        finalize_if_done(&ctx.store, ctx.deliverer.as_ref(), &job_id).await?;
        report.cancelled_jobs_closed += 1;
    }

    for job_id in ctx.store.jobs_missing_status_event().await? {
        if ctx.store.try_finalize(&job_id).await?.is_some() {
            send_status_event(&ctx.store, ctx.deliverer.as_ref(), &job_id).await?;
            report.status_events_sent += 1;
        }
    }
    Ok(report)
}
