//! Reading, listing, cancelling and retrying jobs (docs/api.md, "Get a
//! job", "List jobs" and "Cancel a job").

use super::{writer, ApiContext, NewReplay};
use crate::config::Settings;
use crate::domain::apikey::Caller;
use crate::domain::filter::{retry_selection, RETRY_IDS_INLINE};
use crate::domain::ids::{JobId, WebhookId};
use crate::domain::job::estimated_seconds;
use crate::domain::job::{Job, JobState};
use crate::domain::window::parse_rfc3339;
use crate::error::{Error, Result};
use crate::ports::directory::{JobKey, JobListing};
use crate::ports::ledger::PauseOrder;
use chrono::Utc;
use replay_types::{PauseRequest, PausedBy, ReplayList};
use tracing::instrument;

/// Largest page of a job list (each job's view sums its slices).
pub const MAX_JOBS_PER_PAGE: u32 = 100;

impl ApiContext {
    pub async fn get_job(&self, caller: &Caller, job_id: &JobId) -> Result<Job> {
        Ok(self.with_estimate(self.store.job_view(Some(&caller.tenant), job_id).await?.ok_or(Error::NotFound)?))
    }

    /// A page of the tenant's jobs, or of one webhook's (404 if it is not
    /// the tenant's), newest first, in `states` (all when empty), from
    /// `cursor` on.
    pub async fn list_jobs(
        &self,
        caller: &Caller,
        webhook: Option<&WebhookId>,
        states: &[JobState],
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<ReplayList> {
        let tenant = &caller.tenant;
        if let Some(id) = webhook {
            self.store.webhook(tenant, id).await?.ok_or(Error::NotFound)?;
        }
        let before = cursor.map(decode_job_cursor).transpose()?;
        let limit = limit.clamp(1, MAX_JOBS_PER_PAGE);
        let listing = JobListing { webhook, states, before: before.as_ref(), limit };
        let page = self.store.list_jobs(tenant, listing).await?;
        Ok(ReplayList {
            replays: page.jobs.into_iter().map(|j| self.with_estimate(j)).collect(),
            next_cursor: page.next.as_ref().map(encode_job_cursor),
        })
    }

    pub async fn cancel_job(&self, caller: &Caller, job_id: &JobId) -> Result<Job> {
        let job = self.with_estimate(self.lifecycle().cancel(writer(caller)?, job_id).await?);
        self.audit(caller, "replay.cancel", job_id.as_str(), Some(job.state.as_str())).await?;
        Ok(job)
    }

    /// Pauses a job (docs/api.md, "Pause and resume"). The pause expires at
    /// the request's `expires_in_seconds`, at most `MAX_PAUSE_SECONDS`, and
    /// never after the window's start leaves `REPLAY_RETENTION_HOURS` (what
    /// the log no longer holds cannot be replayed after a resume).
    pub async fn pause_job(&self, caller: &Caller, job_id: &JobId, body: PauseRequest) -> Result<Job> {
        let tenant = writer(caller)?;
        let max_s = self.settings.pause.max_s();
        if let Some(reason) = &body.reason {
            let n = reason.chars().count();
            if n == 0 || n > 200 || reason.chars().any(char::is_control) {
                return Err(Error::InvalidRequest("`reason` must be 1-200 characters, no control characters".into()));
            }
        }
        let expires_in_s = match body.expires_in_seconds {
            Some(s) if s == 0 || s > max_s => {
                return Err(Error::InvalidRequest(format!(
                    "`expires_in_seconds` must be 1-{max_s} (MAX_PAUSE_SECONDS)"
                )))
            }
            asked => asked,
        };
        let job = self.store.job_view(Some(tenant), job_id).await?.ok_or(Error::NotFound)?;
        let from = parse_rfc3339("from", &job.from)?;
        let expires_in_s = self.settings.pause.expires_in_s(expires_in_s, from.0, Utc::now().timestamp_millis());
        let order = PauseOrder { by: PausedBy::Request, reason: body.reason.as_deref(), expires_in_s };
        let job = self.with_estimate(self.lifecycle().pause_job(tenant, job_id, &order).await?);
        self.audit(caller, "replay.pause", job_id.as_str(), body.reason.as_deref()).await?;
        Ok(job)
    }

    /// Resumes a paused job.
    pub async fn resume_job(&self, caller: &Caller, job_id: &JobId) -> Result<Job> {
        let job = self.with_estimate(self.lifecycle().resume_job(writer(caller)?, job_id).await?);
        self.audit(caller, "replay.resume", job_id.as_str(), Some(job.state.as_str())).await?;
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
            // The failures go where the job delivered.
            target: job.target_webhook_id.as_ref(),
            crc_check: job.crc_check,
            limits: job.limits,
            ordering_key: job.ordering_key.as_deref(),
        };
        let retry = self.create_replay(tenant, ask).await?;
        self.audit(caller, "replay.retry", retry.job_id.as_str(), Some(&format!("the failures of {job_id}"))).await?;
        Ok(retry)
    }
}

/// Fills a dry run's duration estimate from the deployment's caps (an
/// ordered job is one slice: one at a time).
pub fn with_estimate(mut job: Job, settings: &Settings) -> Job {
    let slices = if job.ordering_key.is_some() { 1 } else { settings.max_parallel_slices };
    if let Some(dry) = job.result.as_mut().and_then(|r| r.dry_run.as_mut()) {
        dry.estimated_seconds = estimated_seconds(
            job.progress.counters.events_selected,
            slices,
            settings.worker.delivery_rate_per_second,
            settings.delivery.concurrency,
        );
    }
    job
}

/// A job list's cursor: the last job's creation time and id.
fn encode_job_cursor(key: &JobKey) -> String {
    let at = key.created_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    super::cursor::encode(&format!("{at} {}", key.id))
}

fn decode_job_cursor(cursor: &str) -> Result<JobKey> {
    let parse = |key: &str| -> Option<JobKey> {
        let (at, id) = key.split_once(' ')?;
        let created_at = chrono::DateTime::parse_from_rfc3339(at).ok()?.with_timezone(&chrono::Utc);
        let is_id =
            (1..=40).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        is_id.then(|| JobKey { created_at, id: JobId::from(id) })
    };
    let key = super::cursor::decode(cursor, |key| parse(key).is_some())?;
    parse(&key).ok_or(Error::InvalidCursor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_cursor_names_its_job_and_a_forged_one_is_refused() {
        let key = JobKey {
            created_at: chrono::DateTime::parse_from_rfc3339("2026-12-07T09:15:02.417Z").unwrap().to_utc(),
            id: JobId::from("job_7c1e5a9d2b4f4e8a9c3d6b0f1e2a5c7d"),
        };
        assert_eq!(decode_job_cursor(&encode_job_cursor(&key)).unwrap(), key);
        let forged = |key: &str| super::super::cursor::encode(key);
        for bad in ["job_1", "2026-12-07T09:15:02.417Z", "yesterday job_1", "2026-12-07T09:15:02.417Z job_1;--"] {
            assert!(matches!(decode_job_cursor(&forged(bad)), Err(Error::InvalidCursor)), "{bad}");
        }
        // A webhook list's cursor is not a job list's.
        assert!(matches!(decode_job_cursor(&forged("wh_1")), Err(Error::InvalidCursor)));
    }
}
