//! Creating a replay: the window checked, the partitions and slices
//! planned, the job recorded and enqueued (docs/api.md, "Start a replay").

use super::{effective, writer, ApiContext, NewReplay};
use crate::domain::apikey::Caller;
use crate::domain::ids::{EventTime, JobId, TenantId, WebhookId};
use crate::domain::job::{Job, JobLimits};
use crate::domain::ordering::check_pointer;
use crate::domain::partitioner::partitions_over;
use crate::domain::window::Window;
use crate::error::{Error, Result};
use crate::ports::ledger::{Created, NewJob, NewSlice};
use crate::services::lifecycle::Lifecycle;
use futures::stream::{self, StreamExt, TryStreamExt};
use sha2::{Digest, Sha256};
use tracing::{info, instrument, warn};

impl ApiContext {
    /// `POST /v1/webhooks/{id}/replays` (and the Twitter-compatible route):
    /// authorised and audited around `create_replay`.
    pub async fn start_replay(&self, caller: &Caller, ask: NewReplay<'_>) -> Result<Job> {
        let tenant = writer(caller)?;
        let (webhook_id, selection) = (ask.webhook_id, ask.selection);
        let job = self.create_replay(tenant, ask).await?;
        let detail = format!(
            "webhook {webhook_id}, {} to {}{}",
            job.from,
            job.to,
            if selection.dry_run { ", dry run" } else { "" }
        );
        self.audit(caller, "replay.create", job.job_id.as_str(), Some(&detail)).await?;
        Ok(job)
    }

    /// Validates the window, records the job and its slices in one
    /// transaction, then enqueues one message per slice. If the enqueue
    /// fails the job stays recorded and the sweeper enqueues it (outbox).
    #[instrument(skip(self, ask), fields(webhook_id = %ask.webhook_id))]
    pub async fn create_replay(&self, tenant: &TenantId, ask: NewReplay<'_>) -> Result<Job> {
        let NewReplay {
            webhook_id,
            from,
            to,
            selection,
            retry_of,
            idempotency_key,
            target,
            crc_check,
            limits,
            ordering_key,
        } = ask;
        self.check_limits(&limits)?;
        if let Some(pointer) = ordering_key {
            check_pointer(pointer).map_err(Error::InvalidRequest)?;
        }
        // The webhook itself as a target is no other target.
        let target = target.filter(|t| *t != webhook_id);
        if let Some(key) = idempotency_key {
            if key.is_empty() || key.len() > 255 {
                return Err(Error::InvalidRequest("Idempotency-Key must be 1-255 characters".into()));
            }
        }
        self.store.webhook(tenant, webhook_id).await?.ok_or(Error::NotFound)?;
        if let Some(t) = target {
            if self.store.webhook(tenant, t).await?.is_none() {
                return Err(Error::InvalidRequest(format!("`target_webhook_id`: {t} is not a webhook of this tenant")));
            }
        }
        // The same key may only repeat the same request: window and selection.
        let selection_json = if selection.is_everything() {
            String::new()
        } else {
            serde_json::to_string(selection).map_err(|e| Error::Internal(e.to_string()))?
        };
        // A target joins the hash only when there is one: earlier keys stay valid.
        let mut to_target = target.map(|t| format!("|target={t}")).unwrap_or_default();
        if crc_check {
            to_target.push_str("|crc");
        }
        if !limits.is_none() {
            to_target.push_str(&format!("|limits={:?},{:?}", limits.max_in_flight, limits.max_events_per_second));
        }
        if let Some(pointer) = ordering_key {
            to_target.push_str(&format!("|ordering_key={pointer}"));
        }
        let request_hash: [u8; 32] =
            Sha256::digest(format!("{}|{}|{}|{selection_json}{to_target}", webhook_id, from.0, to.0)).into();
        // A retried request gets its job back, even after the window rules would now refuse it.
        if let Some(key) = idempotency_key {
            if let Some((id, hash)) = self.store.job_by_idempotency_key(tenant, webhook_id, key).await? {
                if hash.as_deref() != Some(&request_hash[..]) {
                    return Err(Error::InvalidRequest(
                        "Idempotency-Key was already used with a different request".into(),
                    ));
                }
                let job = self.store.job_view(Some(tenant), &id).await?.ok_or(Error::NotFound)?;
                return Ok(self.with_estimate(job));
            }
        }
        let window =
            Window::validate(from, to, EventTime::now(), self.settings.retention_hours, self.settings.settle_ms)?;
        let limit = self.settings.rate_limit_replays;
        if limit > 0 {
            let (recent, wait_s) = self.store.recent_jobs(webhook_id, self.settings.rate_limit_window_s).await?;
            if recent >= limit {
                return Err(Error::RateLimited { retry_after_s: wait_s });
            }
        }
        let partitions = self.partitions_for(webhook_id, &window).await?;
        self.check_retained(&partitions, window.from).await?;
        // An ordered job is one slice: order across slices would hold only to
        // the skew margin at their boundaries (docs/guarantees.md, "Ordering per key").
        let slice_ms = if ordering_key.is_some() { window.to.0 - window.from.0 } else { self.settings.slice_ms };
        let slices = self.plan_slices(&partitions, &window, slice_ms).await?;
        let job_id = JobId::generate();
        let created = self
            .lifecycle()
            .create_job(NewJob {
                id: &job_id,
                tenant_id: tenant,
                webhook_id,
                from: window.from,
                to: window.to,
                partitions: &partitions,
                slices: &slices,
                idempotency_key,
                request_hash,
                selection: Some(selection),
                retry_of,
                target_webhook_id: target,
                crc_check,
                limits,
                ordering_key,
                max_active_jobs: effective(
                    self.store.tenant_limits(tenant).await?.max_active_jobs,
                    self.settings.fair_share.max_active_jobs,
                ),
            })
            .await?;
        let view = match created {
            Created::Existing(view) => return Ok(self.with_estimate(view)),
            Created::New(view) => view,
        };
        // The first slices start now; each one that ends starts the next. If
        // the enqueue fails the job stays recorded and the sweeper enqueues it.
        if let Err(e) = self.lifecycle().start_job(&job_id).await {
            warn!(error = %e, "enqueue failed; the sweeper will enqueue the job");
        }
        info!(%job_id, ?partitions, slices = slices.len(), "replay job created");
        crate::telemetry::emit_metrics(
            &[("JobsCreated", "Count", 1.0), ("SlicesPlanned", "Count", slices.len() as f64)],
            serde_json::json!({"TenantId": tenant}),
        );
        Ok(view)
    }

    /// A job's own limits are 1 to the deployment's ceilings for a job:
    /// `MAX_PARALLEL_SLICES` times the per-slice settings (docs/api.md, "Limits").
    fn check_limits(&self, limits: &JobLimits) -> Result<()> {
        let slices = self.settings.max_parallel_slices;
        let rate = self.settings.worker.delivery_rate_per_second;
        let ceilings = [
            (
                "max_in_flight",
                limits.max_in_flight,
                Some(slices.saturating_mul(self.settings.delivery.concurrency as u32)),
            ),
            ("max_events_per_second", limits.max_events_per_second, (rate > 0).then(|| slices.saturating_mul(rate))),
        ];
        for (name, asked, ceiling) in ceilings {
            match (asked, ceiling) {
                (Some(0), _) => return Err(Error::InvalidRequest(format!("`{name}` must be at least 1"))),
                (Some(n), Some(max)) if n > max => {
                    return Err(Error::LimitAboveCeiling(format!(
                        "`{name}` is {n}, above this deployment's ceiling for a job: {max}"
                    )))
                }
                _ => {}
            }
        }
        Ok(())
    }

    pub(super) fn lifecycle(&self) -> Lifecycle<'_> {
        Lifecycle {
            ledger: self.store.as_ref(),
            queue: self.queue.as_ref(),
            max_parallel_slices: self.settings.max_parallel_slices,
        }
    }

    /// Every partition the webhook's key lived in during the window (and its
    /// look-back and skew margins): more than one when the topic gained
    /// partitions meanwhile.
    async fn partitions_for(&self, webhook_id: &WebhookId, window: &Window) -> Result<Vec<u32>> {
        let topic = &self.settings.kafka.topic;
        let current = self.log.partition_count().await?;
        self.store.record_partition_count(topic, current).await?;
        let history = self.store.partition_history(topic).await?;
        let w = &self.settings.worker;
        let from = window.from.0 - w.dedup_lookback_ms - w.skew_ms;
        let to = window.to.0 + w.skew_ms;
        let margin = self.settings.partition_change_margin_ms;
        Ok(partitions_over(webhook_id.as_str().as_bytes(), &history, current, from, to, margin))
    }

    /// Refuses a window that starts before the oldest record retention left
    /// on a partition: its events would be silently missing.
    async fn check_retained(&self, partitions: &[u32], from: EventTime) -> Result<()> {
        for &p in partitions {
            let (low, _) = self.log.watermarks(p).await?;
            if low == 0 {
                continue; // nothing was ever deleted
            }
            match self.log.oldest_timestamp(p).await? {
                Some(oldest) if from.0 >= oldest => {}
                Some(oldest) => {
                    return Err(Error::RangeExpired(format!(
                        "`from` is before the oldest record the delivery log still retains ({}): events before it \
                         were deleted by retention",
                        EventTime(oldest)
                    )))
                }
                None => {
                    return Err(Error::RangeExpired(
                        "the delivery log retains no record of this webhook's partition any more".into(),
                    ))
                }
            }
        }
        Ok(())
    }

    /// The window's slices, each with the offsets of its start and end on
    /// every partition now: every boundary is looked up once and shared by the
    /// two slices it separates.
    async fn plan_slices(&self, partitions: &[u32], window: &Window, slice_ms: i64) -> Result<Vec<NewSlice>> {
        let windows = window.slices(slice_ms);
        let mut boundaries: Vec<i64> = windows.iter().map(|w| w.from.0).collect();
        boundaries.push(window.to.0);
        let lookups: Vec<(u32, i64)> =
            partitions.iter().flat_map(|&p| boundaries.iter().map(move |&b| (p, b))).collect();
        let log = self.log.as_ref();
        let offsets: Vec<i64> = stream::iter(lookups.into_iter().map(move |(p, b)| log.offset_for_time(p, b)))
            .buffered(8)
            .try_collect()
            .await?;
        let at = |pi: usize, bi: usize| offsets[pi * boundaries.len() + bi];
        Ok(windows
            .iter()
            .enumerate()
            .map(|(i, w)| NewSlice {
                from: w.from,
                to: w.to,
                planned: partitions.iter().enumerate().map(|(pi, &p)| (p, at(pi, i), at(pi, i + 1))).collect(),
            })
            .collect())
    }
}
