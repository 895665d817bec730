//! Reading, cancelling and retrying jobs (docs/api.md, "Get a job" and
//! "Cancel a job").

use super::{writer, ApiContext, NewReplay};
use crate::config::Settings;
use crate::domain::apikey::Caller;
use crate::domain::filter::{retry_selection, RETRY_IDS_INLINE};
use crate::domain::ids::{JobId, WebhookId};
use crate::domain::job::estimated_seconds;
use crate::domain::job::Job;
use crate::domain::window::parse_rfc3339;
use crate::error::{Error, Result};
use tracing::instrument;

impl ApiContext {
    pub async fn get_job(&self, caller: &Caller, job_id: &JobId) -> Result<Job> {
        Ok(self.with_estimate(self.store.job_view(Some(&caller.tenant), job_id).await?.ok_or(Error::NotFound)?))
    }

    pub async fn list_jobs(&self, caller: &Caller, webhook_id: &WebhookId) -> Result<Vec<Job>> {
        let tenant = &caller.tenant;
        self.store.webhook(tenant, webhook_id).await?.ok_or(Error::NotFound)?;
        Ok(self.store.list_jobs(tenant, webhook_id, 100).await?.into_iter().map(|j| self.with_estimate(j)).collect())
    }

    pub async fn cancel_job(&self, caller: &Caller, job_id: &JobId) -> Result<Job> {
        let job = self.with_estimate(self.lifecycle().cancel(writer(caller)?, job_id).await?);
        self.audit(caller, "replay.cancel", job_id.as_str(), Some(job.state.as_str())).await?;
        Ok(job)
    }

    /// A dry run's duration estimate, at this deployment's caps.
    pub(super) fn with_estimate(&self, job: Job) -> Job {
        with_estimate(job, &self.settings)
    }

    /// A new job delivering exactly the failed events of an ended job, over
    /// the same webhook and window.
    #[instrument(skip(self))]
    pub async fn retry_failures(&self, caller: &Caller, job_id: &JobId, idempotency_key: Option<&str>) -> Result<Job> {
        let tenant = writer(caller)?;
        let job = self.store.job_view(Some(tenant), job_id).await?.ok_or(Error::NotFound)?;
        if !job.state.is_terminal() {
            return Err(Error::JobNotEnded(job_id.to_string()));
        }
        let failures = self.store.failure_count(job_id).await?;
        if failures == 0 {
            return Err(Error::NothingToRetry(job_id.to_string()));
        }
        let inline =
            if failures <= RETRY_IDS_INLINE as u64 { Some(self.store.failed_event_ids(job_id).await?) } else { None };
        let from = parse_rfc3339("from", &job.from)?;
        let to = parse_rfc3339("to", &job.to)?;
        let selection = retry_selection(job_id, inline);
        let ask = NewReplay {
            webhook_id: &job.webhook_id,
            from,
            to,
            selection: &selection,
            retry_of: Some(job_id),
            idempotency_key,
        };
        let retry = self.create_replay(tenant, ask).await?;
        self.audit(caller, "replay.retry", retry.job_id.as_str(), Some(&format!("the failures of {job_id}"))).await?;
        Ok(retry)
    }
}

/// Fills a dry run's duration estimate from the deployment's caps.
pub fn with_estimate(mut job: Job, settings: &Settings) -> Job {
    if let Some(dry) = job.result.as_mut().and_then(|r| r.dry_run.as_mut()) {
        dry.estimated_seconds = estimated_seconds(
            job.progress.counters.events_selected,
            settings.max_parallel_slices,
            settings.worker.delivery_rate_per_second,
            settings.delivery.concurrency,
        );
    }
    job
}
