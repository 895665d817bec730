//! `replay_jobs`: the system of record and queue of replay work. A job's end
//! (its final state) is decided inside the transaction that ends its last
//! slice (`slices.rs`), here only computed.

use super::{counters_of, format_time, is_duplicate_key, parse_state, MySqlStore, COUNTER_COLUMNS, LIVE_STATES};
use crate::domain::checkpoint::Tally;
use crate::domain::filter::shown;
use crate::domain::ids::{EventTime, JobId, TenantId, WebhookId};
use crate::domain::job::{
    expired_pause_state, final_state, paused_reason, Counters, Job, JobLimits, JobState, Progress,
};
use crate::error::{Error, Result};
use crate::ports::directory::{JobKey, JobListing, JobPage};
use crate::ports::ledger::{Created, ExpiredPause, JobTarget, NewJob, NewSlice, PauseOrder};
use chrono::NaiveDateTime;
use replay_types::{DryRunResult, JobPace, JobPause, JobResult, PausedBy, Selection};
use sqlx::{MySql, Row, Transaction};

/// No slice of job `j` is left to start or running.
const NO_SLICE_LEFT: &str =
    "NOT EXISTS (SELECT 1 FROM replay_slices s WHERE s.job_id = j.id AND s.state IN ('PENDING','RUNNING'))";

/// The columns of `replay_jobs` a job's view is made of (`view_of`).
const VIEW_COLUMNS: &str =
    "id, webhook_id, from_ms, to_ms, state, state_reason, created_at, updated_at, slices_total, \
     selection, paused_at, paused_by, pause_reason, pause_expires_at, resumed_at, target_webhook_id, crc_check, \
     max_in_flight, max_events_per_second, ordering_key";

fn sums() -> String {
    COUNTER_COLUMNS
        .iter()
        .map(|c| format!("CAST(COALESCE(SUM({c}),0) AS SIGNED) AS {c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl MySqlStore {
    /// Jobs created for a webhook in the last `window_s` seconds, and how many
    /// seconds until the oldest of them leaves the window.
    pub async fn recent_jobs(&self, webhook: &WebhookId, window_s: u32) -> Result<(u32, u64)> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, CAST(COALESCE(MIN(TIMESTAMPDIFF(SECOND, UTC_TIMESTAMP(3), \
             created_at + INTERVAL ? SECOND)), 0) AS SIGNED) AS wait \
             FROM replay_jobs WHERE webhook_id = ? AND created_at > UTC_TIMESTAMP(3) - INTERVAL ? SECOND",
        )
        .bind(window_s)
        .bind(webhook.as_str())
        .bind(window_s)
        .fetch_one(&self.pool)
        .await?;
        let n: i64 = row.try_get("n")?;
        let wait: i64 = row.try_get("wait")?;
        Ok((n as u32, wait.max(1) as u64))
    }

    /// The job an earlier request with this `Idempotency-Key` created, if any,
    /// with the hash of that request.
    pub async fn job_by_idempotency_key(
        &self,
        tenant: &TenantId,
        webhook: &WebhookId,
        key: &str,
    ) -> Result<Option<(JobId, Option<Vec<u8>>)>> {
        let row = sqlx::query(
            "SELECT id, request_hash FROM replay_jobs WHERE tenant_id = ? AND webhook_id = ? AND idempotency_key = ?",
        )
        .bind(tenant.as_str())
        .bind(webhook.as_str())
        .bind(key)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| Ok((JobId(r.try_get("id")?), r.try_get("request_hash")?))).transpose()
    }

    /// Records a job and its slices in one transaction (state OPEN, not yet
    /// enqueued). A tenant's creates take turns: under its row lock, the
    /// `Idempotency-Key` lookup and the active-job count see every job
    /// committed before, so two requests with one key get one job, and the
    /// cap holds however many arrive at once.
    pub async fn create_job(&self, job: NewJob<'_>) -> Result<Created> {
        let mut tx = self.pool.begin().await?;
        // First, before any plain read: under REPEATABLE READ the first plain
        // read fixes the transaction's snapshot, and one taken before the
        // lock would miss the jobs that the previous holder committed.
        sqlx::query("SELECT id FROM tenants WHERE id = ? FOR UPDATE")
            .bind(job.tenant_id.as_str())
            .execute(&mut *tx)
            .await?;
        // Shared with other new jobs, exclusive against a change or delete of
        // the webhook (webhooks.rs, `lock_idle_webhook`).
        let live: Option<String> = sqlx::query_scalar(
            "SELECT id FROM webhooks WHERE id = ? AND tenant_id = ? AND deleted_at IS NULL LOCK IN SHARE MODE",
        )
        .bind(job.webhook_id.as_str())
        .bind(job.tenant_id.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        live.ok_or(Error::NotFound)?;
        if let Some(target) = job.target_webhook_id {
            let live: Option<String> = sqlx::query_scalar(
                "SELECT id FROM webhooks WHERE id = ? AND tenant_id = ? AND deleted_at IS NULL LOCK IN SHARE MODE",
            )
            .bind(target.as_str())
            .bind(job.tenant_id.as_str())
            .fetch_optional(&mut *tx)
            .await?;
            live.ok_or_else(|| {
                Error::InvalidRequest(format!("`target_webhook_id`: {target} is not a webhook of this tenant"))
            })?;
        }
        if let Some(key) = job.idempotency_key {
            let existing = sqlx::query(
                "SELECT id, request_hash FROM replay_jobs WHERE tenant_id = ? AND webhook_id = ? AND idempotency_key = ?",
            )
            .bind(job.tenant_id.as_str())
            .bind(job.webhook_id.as_str())
            .bind(key)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(row) = existing {
                let hash: Option<Vec<u8>> = row.try_get("request_hash")?;
                if hash.as_deref() != Some(&job.request_hash[..]) {
                    return Err(Error::InvalidRequest(
                        "Idempotency-Key was already used with a different request".into(),
                    ));
                }
                let id = JobId(row.try_get("id")?);
                tx.commit().await?;
                return Ok(Created::Existing(self.job_view(Some(job.tenant_id), &id).await?.ok_or(Error::NotFound)?));
            }
        }
        if let Some(limit) = job.max_active_jobs {
            let active: i64 = sqlx::query_scalar(&format!(
                "SELECT COUNT(*) FROM replay_jobs WHERE tenant_id = ? AND state IN {}",
                super::LIVE_STATES
            ))
            .bind(job.tenant_id.as_str())
            .fetch_one(&mut *tx)
            .await?;
            if active >= i64::from(limit) {
                return Err(Error::TooManyActiveJobs { limit });
            }
        }
        let partitions = job.partitions.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
        let dry_run = job.selection.is_some_and(|s| s.dry_run);
        if !dry_run {
            // A live job holds its webhook and its target: neither may be
            // either of another live job's (the tenant's row lock makes the
            // check and the insert one step).
            let held = [Some(job.webhook_id), job.target_webhook_id];
            let ids: Vec<&str> = held.iter().flatten().map(|w| w.as_str()).collect();
            let marks = vec!["?"; ids.len()].join(",");
            let sql = format!(
                "SELECT id FROM replay_jobs WHERE active_webhook_id IN ({marks}) OR active_target_id IN ({marks}) LIMIT 1"
            );
            let mut q = sqlx::query_scalar::<_, String>(&sql);
            for id in ids.iter().chain(ids.iter()) {
                q = q.bind(*id);
            }
            if let Some(job_id) = q.fetch_optional(&mut *tx).await? {
                return Err(Error::JobAlreadyRunning { job_id });
            }
        }
        let selection = job
            .selection
            .filter(|s| !s.is_everything())
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| Error::Internal(e.to_string()))?;
        let inserted = sqlx::query(
            "INSERT INTO replay_jobs (id, tenant_id, webhook_id, from_ms, to_ms, partition_id, partitions, state, \
             idempotency_key, request_hash, active_webhook_id, slices_total, created_at, updated_at, \
             selection, dry_run, retry_of, target_webhook_id, active_target_id, crc_check, max_in_flight, \
             max_events_per_second, ordering_key) \
             VALUES (?, ?, ?, ?, ?, ?, ?, 'OPEN', ?, ?, ?, ?, UTC_TIMESTAMP(3), UTC_TIMESTAMP(3), ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(job.id.as_str())
        .bind(job.tenant_id.as_str())
        .bind(job.webhook_id.as_str())
        .bind(job.from.0)
        .bind(job.to.0)
        .bind(job.partitions.first().copied().unwrap_or(0) as i32)
        .bind(partitions)
        .bind(job.idempotency_key)
        .bind(&job.request_hash[..])
        // A dry run never holds the webhook's one active job.
        .bind((!dry_run).then_some(job.webhook_id.as_str()))
        .bind(job.slices.len() as i32)
        .bind(selection)
        .bind(dry_run)
        .bind(job.retry_of.map(|j| j.as_str()))
        .bind(job.target_webhook_id.map(|w| w.as_str()))
        .bind(job.target_webhook_id.filter(|_| !dry_run).map(|w| w.as_str()))
        .bind(job.crc_check)
        .bind(job.limits.max_in_flight)
        .bind(job.limits.max_events_per_second)
        .bind(job.ordering_key)
        .execute(&mut *tx)
        .await;
        if let Err(e) = inserted {
            if is_duplicate_key(&e, "ux_jobs_active_webhook") {
                drop(tx);
                let running: Option<String> =
                    sqlx::query_scalar("SELECT id FROM replay_jobs WHERE active_webhook_id = ?")
                        .bind(job.webhook_id.as_str())
                        .fetch_optional(&self.pool)
                        .await?;
                return match running {
                    Some(job_id) => Err(Error::JobAlreadyRunning { job_id }),
                    // It ended in between: the caller may simply try again.
                    None => Err(Error::Database(e)),
                };
            }
            return Err(e.into());
        }
        insert_slices(&mut tx, job.id, job.slices).await?;
        tx.commit().await?;
        Ok(Created::New(self.job_view(Some(job.tenant_id), job.id).await?.ok_or(Error::NotFound)?))
    }

    /// Outbox mark: the job's first slice messages reached the queue.
    pub async fn mark_enqueued(&self, job_id: &JobId) -> Result<()> {
        sqlx::query("UPDATE replay_jobs SET enqueued_at = UTC_TIMESTAMP(3), enqueue_claim_until = NULL WHERE id = ?")
            .bind(job_id.as_str())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// A job as the API shows it; `tenant` None is the operator's view.
    pub async fn job_view(&self, tenant: Option<&TenantId>, job_id: &JobId) -> Result<Option<Job>> {
        let row = sqlx::query(&format!(
            "SELECT {VIEW_COLUMNS} FROM replay_jobs WHERE id = ? AND (? IS NULL OR tenant_id = ?)"
        ))
        .bind(job_id.as_str())
        .bind(tenant.map(|t| t.as_str()))
        .bind(tenant.map(|t| t.as_str()))
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let (counters, slices_done, _) = self.slice_totals(job_id).await?;
        Ok(Some(self.view_with(&row, counters, slices_done).await?))
    }

    /// A job's view from its row and its slices' totals; an ended job's
    /// report too.
    async fn view_with(&self, row: &sqlx::mysql::MySqlRow, counters: Counters, slices_done: u32) -> Result<Job> {
        let mut job = view_of(row, counters, slices_done)?;
        if job.state.is_active() {
            job.pace = self.pace_of(&job.job_id).await?;
        }
        let selection = selection_of_row(row)?;
        if job.state.is_terminal() {
            job.result = Some(self.result_of(&job.job_id, &selection, &counters).await?);
        }
        job.selection = shown(selection);
        Ok(job)
    }

    /// The pace of the job's running slices, from their last heartbeats: a
    /// slice whose latest write was not a heartbeat (taken, not started yet;
    /// waiting out its receiver) reports none.
    async fn pace_of(&self, job_id: &JobId) -> Result<Option<JobPace>> {
        let row = sqlx::query(
            "SELECT CAST(COALESCE(SUM(in_flight_limit),0) AS SIGNED) AS in_flight, COUNT(*) AS running \
             FROM replay_slices WHERE job_id = ? AND state = 'RUNNING' AND in_flight_limit IS NOT NULL \
             AND pace_at >= heartbeat_at",
        )
        .bind(job_id.as_str())
        .fetch_one(&self.pool)
        .await?;
        let (in_flight, running): (i64, i64) = (row.try_get("in_flight")?, row.try_get("running")?);
        Ok((running > 0).then(|| JobPace { in_flight: in_flight.max(0) as u32, slices_running: running as u32 }))
    }

    /// An ended job's report: failures and where they are, the ids not
    /// found, a dry run's tally (its duration estimate is the caller's: it
    /// knows the caps).
    async fn result_of(&self, job_id: &JobId, selection: &Selection, counters: &Counters) -> Result<JobResult> {
        let mut result = JobResult {
            failures: counters.delivery_failures,
            failure_report: format!("/v1/replays/{job_id}/failures"),
            ..JobResult::default()
        };
        if let (Some(ids), None) = (&selection.event_ids, &selection.failures_of) {
            let found: std::collections::HashSet<String> =
                sqlx::query_scalar("SELECT event_id FROM replay_found_events WHERE job_id = ?")
                    .bind(job_id.as_str())
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .collect();
            result.not_found = ids.iter().filter(|id| !found.contains(*id)).cloned().collect();
        }
        if selection.dry_run {
            let tallies: Vec<Option<String>> = sqlx::query_scalar("SELECT tally FROM replay_slices WHERE job_id = ?")
                .bind(job_id.as_str())
                .fetch_all(&self.pool)
                .await?;
            let mut total = Tally::default();
            for t in tallies.into_iter().flatten() {
                if let Ok(t) = serde_json::from_str::<Tally>(&t) {
                    total.add(&t);
                }
            }
            result.dry_run = Some(DryRunResult {
                by_event_type: total.by_event_type,
                payload_bytes: total.payload_bytes,
                estimated_seconds: 0.0,
            });
        }
        Ok(result)
    }

    /// A page of the tenant's jobs, newest first (`ix_jobs_webhook_created`
    /// for one webhook's, `ix_jobs_tenant_created` for the tenant's).
    pub async fn list_jobs(&self, tenant: &TenantId, listing: JobListing<'_>) -> Result<JobPage> {
        let mut sql = format!("SELECT {VIEW_COLUMNS} FROM replay_jobs WHERE tenant_id = ?");
        if listing.webhook.is_some() {
            sql.push_str(" AND webhook_id = ?");
        }
        if !listing.states.is_empty() {
            let marks = vec!["?"; listing.states.len()].join(", ");
            sql.push_str(&format!(" AND state IN ({marks})"));
        }
        if listing.before.is_some() {
            sql.push_str(" AND (created_at < ? OR (created_at = ? AND id < ?))");
        }
        sql.push_str(" ORDER BY created_at DESC, id DESC LIMIT ?");
        let mut query = sqlx::query(&sql).bind(tenant.as_str());
        if let Some(webhook) = listing.webhook {
            query = query.bind(webhook.as_str());
        }
        for state in listing.states {
            query = query.bind(state.as_str());
        }
        if let Some(key) = listing.before {
            let at = key.created_at.naive_utc();
            query = query.bind(at).bind(at).bind(key.id.as_str());
        }
        // One row more than the page tells whether another page follows.
        let mut rows = query.bind(listing.limit + 1).fetch_all(&self.pool).await?;
        let more = rows.len() > listing.limit as usize;
        rows.truncate(listing.limit as usize);
        let next = match rows.last().filter(|_| more) {
            Some(row) => Some(JobKey {
                created_at: row.try_get::<NaiveDateTime, _>("created_at")?.and_utc(),
                id: JobId(row.try_get("id")?),
            }),
            None => None,
        };
        let ids = rows.iter().map(|row| row.try_get::<String, _>("id")).collect::<sqlx::Result<Vec<_>>>()?;
        let totals = self.slice_totals_of(&ids).await?;
        let mut jobs = Vec::with_capacity(rows.len());
        for (row, id) in rows.iter().zip(&ids) {
            let (counters, slices_done) = totals.get(id).copied().unwrap_or_default();
            jobs.push(self.view_with(row, counters, slices_done).await?);
        }
        Ok(JobPage { jobs, next })
    }

    /// Sums of the slices' counters and slices ended, for each of `ids`, in
    /// one query (a page of jobs).
    async fn slice_totals_of(&self, ids: &[String]) -> Result<std::collections::HashMap<String, (Counters, u32)>> {
        if ids.is_empty() {
            return Ok(Default::default());
        }
        let marks = vec!["?"; ids.len()].join(", ");
        let sql = format!(
            "SELECT job_id, {}, CAST(COALESCE(SUM(state IN ('DONE','FAILED','CANCELLED')),0) AS SIGNED) AS ended \
             FROM replay_slices WHERE job_id IN ({marks}) GROUP BY job_id",
            sums()
        );
        let mut query = sqlx::query(&sql);
        for id in ids {
            query = query.bind(id);
        }
        let mut totals = std::collections::HashMap::new();
        for row in query.fetch_all(&self.pool).await? {
            let ended: i64 = row.try_get("ended")?;
            totals.insert(row.try_get("job_id")?, (counters_of(&row)?, ended.max(0) as u32));
        }
        Ok(totals)
    }

    /// Sums of the slices' counters, slices ended, slices failed.
    pub async fn slice_totals(&self, job_id: &JobId) -> Result<(Counters, u32, u32)> {
        slice_totals_in(&self.pool, job_id).await
    }

    /// Cancels an active job and its slices that have not started; running
    /// slices stop within a heartbeat. Returns the job's view (unchanged if it
    /// had already ended).
    pub async fn cancel_job(&self, tenant: &TenantId, job_id: &JobId) -> Result<Option<Job>> {
        let cancelled = sqlx::query(&format!(
            "UPDATE replay_jobs SET state = 'CANCELLED', state_reason = 'cancelled by request', \
             active_webhook_id = NULL, active_target_id = NULL, updated_at = UTC_TIMESTAMP(3) \
             WHERE id = ? AND tenant_id = ? AND state IN {LIVE_STATES}"
        ))
        .bind(job_id.as_str())
        .bind(tenant.as_str())
        .execute(&self.pool)
        .await?;
        if cancelled.rows_affected() == 1 {
            cancel_pending_in(&self.pool, job_id).await?;
        }
        self.job_view(Some(tenant), job_id).await
    }

    /// Pauses an active job (ports/ledger.rs, `pause_job`): one transaction
    /// under the job's row lock, which every claim and take of its slices
    /// also holds, so none starts once it is `PAUSED`.
    pub async fn pause_job(&self, tenant: &TenantId, job_id: &JobId, pause: &PauseOrder<'_>) -> Result<Option<Job>> {
        let mut tx = self.pool.begin().await?;
        let state: Option<String> =
            sqlx::query_scalar("SELECT state FROM replay_jobs WHERE id = ? AND tenant_id = ? FOR UPDATE")
                .bind(job_id.as_str())
                .bind(tenant.as_str())
                .fetch_optional(&mut *tx)
                .await?;
        if state.as_deref().map(parse_state).transpose()?.is_some_and(JobState::is_active) {
            let reason = pause.reason.map(|r| r.chars().take(200).collect::<String>());
            sqlx::query(
                "UPDATE replay_jobs SET paused_from = state, state = 'PAUSED', state_reason = ?, \
                 paused_at = UTC_TIMESTAMP(3), paused_by = ?, pause_reason = ?, \
                 pause_expires_at = UTC_TIMESTAMP(3) + INTERVAL ? SECOND, resumed_at = NULL, \
                 updated_at = UTC_TIMESTAMP(3) WHERE id = ?",
            )
            .bind(paused_reason(pause.by, reason.as_deref()))
            .bind(pause.by.as_str())
            .bind(reason)
            .bind(pause.expires_in_s)
            .bind(job_id.as_str())
            .execute(&mut *tx)
            .await?;
            // Slices claimed and not taken wait for the resume, unclaimed; so
            // do those waiting out their receiver (no worker holds them).
            sqlx::query("UPDATE replay_slices SET enqueued_at = NULL WHERE job_id = ? AND state = 'PENDING'")
                .bind(job_id.as_str())
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "UPDATE replay_slices SET state = 'PENDING', enqueued_at = NULL, paused_until = NULL, \
                 restart_waiting = FALSE WHERE job_id = ? AND state = 'RUNNING' AND paused_until > UTC_TIMESTAMP(3)",
            )
            .bind(job_id.as_str())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        self.job_view(Some(tenant), job_id).await
    }

    /// A receiver check's verdict (ports/ledger.rs, `record_receiver_check`):
    /// a pass is kept once; a failure ends the job under its row lock unless
    /// a pass came first.
    pub async fn record_receiver_check(&self, job_id: &JobId, failure: Option<&str>) -> Result<bool> {
        let Some(reason) = failure else {
            // A pass lets only a job that still runs deliver.
            sqlx::query(&format!(
                "UPDATE replay_jobs SET crc_passed_at = COALESCE(crc_passed_at, UTC_TIMESTAMP(3)) \
                 WHERE id = ? AND state IN {LIVE_STATES}"
            ))
            .bind(job_id.as_str())
            .execute(&self.pool)
            .await?;
            return Ok(self.job_state(job_id).await?.is_some_and(JobState::is_live));
        };
        let mut tx = self.pool.begin().await?;
        let row =
            sqlx::query("SELECT state, crc_passed_at IS NOT NULL AS passed FROM replay_jobs WHERE id = ? FOR UPDATE")
                .bind(job_id.as_str())
                .fetch_optional(&mut *tx)
                .await?
                .ok_or(Error::NotFound)?;
        let live = parse_state(&row.try_get::<String, _>("state")?)?.is_live();
        if row.try_get::<i64, _>("passed")? != 0 {
            return Ok(live);
        }
        if live {
            end_early_in(&mut tx, job_id, JobState::Failed, reason).await?;
        }
        tx.commit().await?;
        Ok(false)
    }

    /// Resumes a paused job to the state it paused in.
    pub async fn resume_job(&self, tenant: &TenantId, job_id: &JobId) -> Result<Option<Job>> {
        sqlx::query(
            "UPDATE replay_jobs SET state = COALESCE(paused_from, 'STARTED'), paused_from = NULL, state_reason = NULL, \
             resumed_at = UTC_TIMESTAMP(3), updated_at = UTC_TIMESTAMP(3) \
             WHERE id = ? AND tenant_id = ? AND state = 'PAUSED'",
        )
        .bind(job_id.as_str())
        .bind(tenant.as_str())
        .execute(&self.pool)
        .await?;
        self.job_view(Some(tenant), job_id).await
    }

    /// Ends `INCOMPLETE` the jobs paused past their expiry, each in a
    /// transaction under its row lock (a resume racing it wins or loses whole).
    pub async fn expire_pauses(&self) -> Result<Vec<ExpiredPause>> {
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM replay_jobs WHERE state = 'PAUSED' AND pause_expires_at < UTC_TIMESTAMP(3) LIMIT 100",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut expired = Vec::new();
        for id in ids.into_iter().map(JobId) {
            let mut tx = self.pool.begin().await?;
            let row = sqlx::query(
                "SELECT slices_total, dry_run, paused_at, paused_by, pause_reason FROM replay_jobs \
                 WHERE id = ? AND state = 'PAUSED' AND pause_expires_at < UTC_TIMESTAMP(3) FOR UPDATE",
            )
            .bind(id.as_str())
            .fetch_optional(&mut *tx)
            .await?;
            let Some(row) = row else { continue };
            let total = row.try_get::<i32, _>("slices_total")? as u32;
            let dry_run: bool = row.try_get("dry_run")?;
            let pause = pause_of(&row)?.ok_or_else(|| Error::Internal("a paused job without paused_at".into()))?;
            let (counters, ended, _) = slice_totals_in(&mut *tx, &id).await?;
            let (state, reason) = expired_pause_state(&pause, &counters, total - ended.min(total), total, dry_run);
            end_early_in(&mut tx, &id, state, &reason).await?;
            let running: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM replay_slices WHERE job_id = ? AND state = 'RUNNING'")
                    .bind(id.as_str())
                    .fetch_one(&mut *tx)
                    .await?;
            tx.commit().await?;
            expired.push(ExpiredPause { job_id: id, ended: running == 0, dry_run });
        }
        Ok(expired)
    }

    /// The job's state now.
    pub async fn job_state(&self, job_id: &JobId) -> Result<Option<JobState>> {
        let state: Option<String> = sqlx::query_scalar("SELECT state FROM replay_jobs WHERE id = ?")
            .bind(job_id.as_str())
            .fetch_optional(&self.pool)
            .await?;
        state.map(|s| parse_state(&s)).transpose()
    }

    /// Where a job's status event goes: its webhook.
    pub async fn job_target(&self, job_id: &JobId) -> Result<JobTarget> {
        let row = sqlx::query(
            "SELECT w.id AS webhook_id, w.url, w.deleted_at IS NOT NULL AS deleted \
             FROM replay_jobs j JOIN webhooks w ON w.id = COALESCE(j.target_webhook_id, j.webhook_id) WHERE j.id = ?",
        )
        .bind(job_id.as_str())
        .fetch_optional(&self.pool)
        .await?
        .ok_or(Error::NotFound)?;
        Ok(JobTarget {
            webhook_id: WebhookId(row.try_get("webhook_id")?),
            url: row.try_get("url")?,
            webhook_deleted: row.try_get::<i64, _>("deleted")? != 0,
        })
    }

    // ---- the status event ----
    //
    // Due once the job has ended and no slice of it runs: a cancelled job
    // ends at once, its running slices within a heartbeat, and its status
    // event waits for them (docs/guarantees.md, "A job's life").

    /// Claims the right to send the job's status event for `claim_s` seconds;
    /// the sender stops trying before the claim runs out, so two never overlap.
    pub async fn claim_status_event(&self, job_id: &JobId, claim_s: u32) -> Result<bool> {
        let done = sqlx::query(&format!(
            "UPDATE replay_jobs j SET status_claim_until = UTC_TIMESTAMP(3) + INTERVAL ? SECOND \
             WHERE id = ? AND status_sent_at IS NULL AND dry_run = 0 AND state IN ('COMPLETED','INCOMPLETE','FAILED','CANCELLED') \
             AND (status_claim_until IS NULL OR status_claim_until < UTC_TIMESTAMP(3)) AND {NO_SLICE_LEFT}"
        ))
        .bind(claim_s)
        .bind(job_id.as_str())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn release_status_claim(&self, job_id: &JobId) -> Result<()> {
        sqlx::query("UPDATE replay_jobs SET status_claim_until = NULL WHERE id = ? AND status_sent_at IS NULL")
            .bind(job_id.as_str())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn mark_status_sent(&self, job_id: &JobId) -> Result<()> {
        sqlx::query("UPDATE replay_jobs SET status_sent_at = UTC_TIMESTAMP(3), status_claim_until = NULL WHERE id = ?")
            .bind(job_id.as_str())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn mark_status_enqueued(&self, job_id: &JobId) -> Result<()> {
        sqlx::query("UPDATE replay_jobs SET status_enqueued_at = UTC_TIMESTAMP(3) WHERE id = ?")
            .bind(job_id.as_str())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Ended jobs whose status event was never sent and whose task is not
    /// known to be queued (or was queued `requeue_after_s` ago and is still unsent).
    pub async fn jobs_missing_status_event(&self, requeue_after_s: u32) -> Result<Vec<JobId>> {
        let ids: Vec<String> = sqlx::query_scalar(&format!(
            "SELECT id FROM replay_jobs j WHERE state IN ('COMPLETED','INCOMPLETE','FAILED','CANCELLED') AND dry_run = 0 \
             AND status_sent_at IS NULL AND (status_claim_until IS NULL OR status_claim_until < UTC_TIMESTAMP(3)) \
             AND (status_enqueued_at IS NULL OR status_enqueued_at < UTC_TIMESTAMP(3) - INTERVAL ? SECOND) \
             AND updated_at < UTC_TIMESTAMP(3) - INTERVAL 5 SECOND AND {NO_SLICE_LEFT} LIMIT 100"
        ))
        .bind(requeue_after_s)
        .fetch_all(&self.pool)
        .await?;
        Ok(ids.into_iter().map(JobId).collect())
    }

    // ---- the sweeper's outbox ----

    /// Jobs whose slice messages may never have been sent (outbox), claimed
    /// for `claim_s` seconds so two sweepers do not both send them.
    pub async fn claim_unenqueued_jobs(&self, older_than_s: u32, claim_s: u32) -> Result<Vec<JobId>> {
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM replay_jobs WHERE state = 'OPEN' AND enqueued_at IS NULL \
             AND created_at < UTC_TIMESTAMP(3) - INTERVAL ? SECOND \
             AND (enqueue_claim_until IS NULL OR enqueue_claim_until < UTC_TIMESTAMP(3)) LIMIT 100",
        )
        .bind(older_than_s)
        .fetch_all(&self.pool)
        .await?;
        let won = self
            .claim_each(ids, |id| {
                sqlx::query(
                    "UPDATE replay_jobs SET enqueue_claim_until = UTC_TIMESTAMP(3) + INTERVAL ? SECOND \
                     WHERE id = ? AND enqueued_at IS NULL \
                     AND (enqueue_claim_until IS NULL OR enqueue_claim_until < UTC_TIMESTAMP(3))",
                )
                .bind(claim_s)
                .bind(id.as_str())
            })
            .await?;
        Ok(won.into_iter().map(JobId).collect())
    }
}

async fn insert_slices(tx: &mut Transaction<'_, MySql>, job_id: &JobId, slices: &[NewSlice]) -> Result<()> {
    // Multi-row inserts in chunks keep a long window to a few round trips.
    for (chunk_no, chunk) in slices.chunks(500).enumerate() {
        let mut sql = String::from(
            "INSERT INTO replay_slices (job_id, slice_index, from_ms, to_ms, planned_offsets, state) VALUES ",
        );
        sql.push_str(&vec!["(?, ?, ?, ?, ?, 'PENDING')"; chunk.len()].join(", "));
        let mut q = sqlx::query(&sql);
        for (i, s) in chunk.iter().enumerate() {
            q = q
                .bind(job_id.as_str())
                .bind((chunk_no * 500 + i) as i32)
                .bind(s.from.0)
                .bind(s.to.0)
                .bind(serde_json::to_string(&s.planned).unwrap_or_default());
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

/// Sums of the slices' counters, slices ended, slices failed.
pub(super) async fn slice_totals_in<'e, E>(executor: E, job_id: &JobId) -> Result<(Counters, u32, u32)>
where
    E: sqlx::Executor<'e, Database = MySql>,
{
    let row = sqlx::query(&format!(
        "SELECT {}, CAST(COALESCE(SUM(state IN ('DONE','FAILED','CANCELLED')),0) AS SIGNED) AS ended, \
         CAST(COALESCE(SUM(state = 'FAILED'),0) AS SIGNED) AS failed FROM replay_slices WHERE job_id = ?",
        sums()
    ))
    .bind(job_id.as_str())
    .fetch_one(executor)
    .await?;
    let ended: i64 = row.try_get("ended")?;
    let failed: i64 = row.try_get("failed")?;
    Ok((counters_of(&row)?, ended.max(0) as u32, failed.max(0) as u32))
}

/// Ends a live job before its slices all ended (its pause expired, its
/// receiver check failed), as a cancel does: the webhook and target let go,
/// slices not started cancelled; running ones stop at their next heartbeat.
async fn end_early_in(tx: &mut Transaction<'_, MySql>, job_id: &JobId, state: JobState, reason: &str) -> Result<()> {
    sqlx::query(
        "UPDATE replay_jobs SET state = ?, state_reason = ?, active_webhook_id = NULL, active_target_id = NULL, \
         paused_from = NULL, updated_at = UTC_TIMESTAMP(3) WHERE id = ?",
    )
    .bind(state.as_str())
    .bind(reason.chars().take(500).collect::<String>())
    .bind(job_id.as_str())
    .execute(&mut **tx)
    .await?;
    cancel_pending_in(&mut **tx, job_id).await
}

/// The job's slices not started yet are cancelled.
pub(super) async fn cancel_pending_in<'e, E>(executor: E, job_id: &JobId) -> Result<()>
where
    E: sqlx::Executor<'e, Database = MySql>,
{
    sqlx::query("UPDATE replay_slices SET state = 'CANCELLED' WHERE job_id = ? AND state = 'PENDING'")
        .bind(job_id.as_str())
        .execute(executor)
        .await?;
    Ok(())
}

/// If every slice of the job has ended, moves an active job to its final
/// state. Returns the job's state when it is terminal, None while slices remain.
pub(super) async fn finalize_in(tx: &mut Transaction<'_, MySql>, job_id: &JobId) -> Result<Option<JobState>> {
    let row = sqlx::query("SELECT state, slices_total, dry_run FROM replay_jobs WHERE id = ?")
        .bind(job_id.as_str())
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(Error::NotFound)?;
    let state = parse_state(&row.try_get::<String, _>("state")?)?;
    let total = row.try_get::<i32, _>("slices_total")? as u32;
    let (counters, ended, failed) = slice_totals_in(&mut **tx, job_id).await?;
    if ended < total {
        return Ok(None);
    }
    if state.is_terminal() {
        return Ok(Some(state));
    }
    let dry_run = row.try_get::<bool, _>("dry_run")?;
    let (final_state, reason) = final_state(&counters, failed, total, dry_run);
    sqlx::query(&format!(
        "UPDATE replay_jobs SET state = ?, state_reason = ?, active_webhook_id = NULL, active_target_id = NULL, \
         updated_at = UTC_TIMESTAMP(3) \
         WHERE id = ? AND state IN {LIVE_STATES}"
    ))
    .bind(final_state.as_str())
    .bind(reason.chars().take(500).collect::<String>())
    .bind(job_id.as_str())
    .execute(&mut **tx)
    .await?;
    Ok(Some(final_state))
}

fn view_of(row: &sqlx::mysql::MySqlRow, counters: Counters, slices_done: u32) -> Result<Job> {
    Ok(Job {
        job_id: JobId(row.try_get("id")?),
        webhook_id: WebhookId(row.try_get("webhook_id")?),
        from: EventTime(row.try_get("from_ms")?).to_rfc3339(),
        to: EventTime(row.try_get("to_ms")?).to_rfc3339(),
        state: parse_state(&row.try_get::<String, _>("state")?)?,
        state_reason: row.try_get("state_reason")?,
        created_at: format_time(row.try_get("created_at")?),
        updated_at: format_time(row.try_get("updated_at")?),
        progress: Progress { slices_total: row.try_get::<i32, _>("slices_total")? as u32, slices_done, counters },
        selection: Selection::default(),
        result: None,
        pause: pause_of(row)?,
        target_webhook_id: row.try_get::<Option<String>, _>("target_webhook_id")?.map(WebhookId),
        crc_check: row.try_get("crc_check")?,
        limits: limits_of(row)?,
        ordering_key: row.try_get("ordering_key")?,
        pace: None,
    })
}

/// A job's own limits, from its `max_*` columns.
pub(super) fn limits_of(row: &sqlx::mysql::MySqlRow) -> Result<JobLimits> {
    let column = |name| -> Result<Option<u32>> { Ok(row.try_get::<Option<i32>, _>(name)?.map(|n| n.max(1) as u32)) };
    Ok(JobLimits { max_in_flight: column("max_in_flight")?, max_events_per_second: column("max_events_per_second")? })
}

/// The job's last pause, from its `paused_*` columns.
fn pause_of(row: &sqlx::mysql::MySqlRow) -> Result<Option<JobPause>> {
    let Some(paused_at) = row.try_get::<Option<NaiveDateTime>, _>("paused_at")? else { return Ok(None) };
    let expires_at = row.try_get::<Option<NaiveDateTime>, _>("pause_expires_at").ok().flatten();
    Ok(Some(JobPause {
        paused_at: format_time(paused_at),
        paused_by: PausedBy::parse(&row.try_get::<Option<String>, _>("paused_by")?.unwrap_or_default()),
        reason: row.try_get("pause_reason")?,
        expires_at: expires_at.map(format_time).unwrap_or_default(),
        resumed_at: row.try_get::<Option<NaiveDateTime>, _>("resumed_at").ok().flatten().map(format_time),
    }))
}

/// The `selection` column (NULL: the whole window).
pub(super) fn selection_of_row(row: &sqlx::mysql::MySqlRow) -> Result<Selection> {
    match row.try_get::<Option<String>, _>("selection")? {
        Some(json) => serde_json::from_str(&json).map_err(|e| Error::Internal(format!("a job's selection: {e}"))),
        None => Ok(Selection::default()),
    }
}
