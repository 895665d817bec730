//! MySQL (MariaDB locally, RDS/Aurora in AWS): the system of record.
//! Every tenant-facing query is scoped by tenant id.

use crate::domain::ids::{EventTime, JobId, TenantId, WebhookId};
use crate::domain::job::{final_state, Counters, JobState, JobView, Progress};
use crate::error::{Error, Result};
use crate::ports::{FailedEvent, SliceProgress};
use async_trait::async_trait;
use chrono::NaiveDateTime;
use sqlx::mysql::{MySqlConnectOptions, MySqlPool, MySqlPoolOptions};
use sqlx::{FromRow, MySql, Row, Transaction};
use std::str::FromStr;
use std::time::Duration;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");

#[derive(Clone)]
pub struct MySqlStore {
    pool: MySqlPool,
}

#[derive(Clone, FromRow)]
pub struct WebhookRow {
    pub id: String,
    pub tenant_id: String,
    pub url: String,
    pub secret: String,
    pub created_at: NaiveDateTime,
}

// Secrets never reach a log line, even through Debug.
impl std::fmt::Debug for WebhookRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookRow").field("id", &self.id).field("url", &self.url).finish_non_exhaustive()
    }
}

/// What a worker needs to run a slice.
#[derive(Clone, FromRow)]
pub struct SliceRow {
    pub job_id: String,
    pub slice_index: i32,
    pub job_state: String,
    pub webhook_id: String,
    pub url: String,
    pub secret: String,
    pub partition_id: i32,
    pub from_ms: i64,
    pub to_ms: i64,
    pub slice_state: String,
}

impl std::fmt::Debug for SliceRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SliceRow")
            .field("job_id", &self.job_id)
            .field("slice_index", &self.slice_index)
            .field("webhook_id", &self.webhook_id)
            .finish_non_exhaustive()
    }
}

pub struct NewJob<'a> {
    pub id: &'a JobId,
    pub tenant_id: &'a TenantId,
    pub webhook_id: &'a WebhookId,
    pub from: EventTime,
    pub to: EventTime,
    pub partition: u32,
    pub slices: &'a [(EventTime, EventTime)],
    pub idempotency_key: Option<&'a str>,
    pub request_hash: [u8; 32],
}

pub enum Created {
    New(JobView),
    /// Same `Idempotency-Key` and body as an earlier request.
    Existing(JobView),
}

/// Slice states in `replay_slices.state`.
pub mod slice_state {
    pub const PENDING: &str = "PENDING";
    pub const RUNNING: &str = "RUNNING";
    pub const DONE: &str = "DONE";
    pub const FAILED: &str = "FAILED";
    pub const CANCELLED: &str = "CANCELLED";
}

const ACTIVE_STATES: &str = "('OPEN','STARTED','ONGOING')";

pub fn format_time(t: NaiveDateTime) -> String {
    t.and_utc().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn is_duplicate_key(e: &sqlx::Error, index: &str) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.code().as_deref() == Some("23000") && db.message().contains(index))
}

impl MySqlStore {
    pub async fn connect(url: &str) -> Result<Self> {
        let options = MySqlConnectOptions::from_str(url)?;
        let pool = MySqlPoolOptions::new()
            .max_connections(5)
            .acquire_timeout(Duration::from_secs(5))
            // Lazy: a cold start never fails because MySQL is down; requests answer 503 instead.
            .connect_lazy_with(options);
        Ok(Self { pool })
    }

    pub fn pool(&self) -> &MySqlPool {
        &self.pool
    }

    /// Applies `migrations/` (the operator's `replayctl migrate`; never at cold start).
    pub async fn migrate(&self) -> Result<()> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    // ---- tenants and keys ----

    pub async fn insert_tenant(&self, id: &TenantId, name: &str) -> Result<()> {
        sqlx::query("INSERT INTO tenants (id, name, created_at) VALUES (?, ?, UTC_TIMESTAMP(3))")
            .bind(id.as_str())
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn insert_api_key(&self, key_id: &str, tenant: &TenantId, key_hash: &[u8]) -> Result<()> {
        sqlx::query("INSERT INTO api_keys (id, tenant_id, key_hash, created_at) VALUES (?, ?, ?, UTC_TIMESTAMP(3))")
            .bind(key_id)
            .bind(tenant.as_str())
            .bind(key_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// (tenant id, stored hash) of an unrevoked key.
    pub async fn api_key(&self, key_id: &str) -> Result<Option<(TenantId, Vec<u8>)>> {
        let row = sqlx::query("SELECT tenant_id, key_hash FROM api_keys WHERE id = ? AND revoked_at IS NULL")
            .bind(key_id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| Ok((TenantId(r.try_get("tenant_id")?), r.try_get("key_hash")?))).transpose()
    }

    pub async fn revoke_api_key(&self, key_id: &str) -> Result<bool> {
        let done = sqlx::query("UPDATE api_keys SET revoked_at = UTC_TIMESTAMP(3) WHERE id = ? AND revoked_at IS NULL")
            .bind(key_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    // ---- webhooks ----

    pub async fn insert_webhook(
        &self,
        tenant: &TenantId,
        id: &WebhookId,
        url: &str,
        secret: &str,
    ) -> Result<WebhookRow> {
        sqlx::query(
            "INSERT INTO webhooks (id, tenant_id, url, secret, created_at) VALUES (?, ?, ?, ?, UTC_TIMESTAMP(3))",
        )
        .bind(id.as_str())
        .bind(tenant.as_str())
        .bind(url)
        .bind(secret)
        .execute(&self.pool)
        .await?;
        self.webhook(tenant, id).await?.ok_or(Error::NotFound)
    }

    pub async fn webhook(&self, tenant: &TenantId, id: &WebhookId) -> Result<Option<WebhookRow>> {
        Ok(sqlx::query_as::<_, WebhookRow>(
            "SELECT id, tenant_id, url, secret, created_at FROM webhooks WHERE id = ? AND tenant_id = ?",
        )
        .bind(id.as_str())
        .bind(tenant.as_str())
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Operator action: replaces a webhook's signing secret.
    pub async fn rotate_webhook_secret(&self, id: &WebhookId, secret: &str) -> Result<bool> {
        let done = sqlx::query("UPDATE webhooks SET secret = ? WHERE id = ?")
            .bind(secret)
            .bind(id.as_str())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    // ---- jobs ----

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

    /// Records a job and its slices in one transaction (state OPEN, not yet enqueued).
    pub async fn create_job(&self, job: NewJob<'_>) -> Result<Created> {
        let mut tx = self.pool.begin().await?;
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
        let inserted = sqlx::query(
            "INSERT INTO replay_jobs (id, tenant_id, webhook_id, from_ms, to_ms, partition_id, state, \
             idempotency_key, request_hash, active_webhook_id, slices_total, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?, 'OPEN', ?, ?, ?, ?, UTC_TIMESTAMP(3), UTC_TIMESTAMP(3))",
        )
        .bind(job.id.as_str())
        .bind(job.tenant_id.as_str())
        .bind(job.webhook_id.as_str())
        .bind(job.from.0)
        .bind(job.to.0)
        .bind(job.partition as i32)
        .bind(job.idempotency_key)
        .bind(&job.request_hash[..])
        .bind(job.webhook_id.as_str())
        .bind(job.slices.len() as i32)
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
    pub async fn mark_enqueued(&self, job_id: &JobId, slices: &[u32]) -> Result<()> {
        sqlx::query("UPDATE replay_jobs SET enqueued_at = UTC_TIMESTAMP(3), enqueue_claim_until = NULL WHERE id = ?")
            .bind(job_id.as_str())
            .execute(&self.pool)
            .await?;
        for &slice in slices {
            sqlx::query("UPDATE replay_slices SET enqueued_at = UTC_TIMESTAMP(3) WHERE job_id = ? AND slice_index = ?")
                .bind(job_id.as_str())
                .bind(slice as i32)
                .execute(&self.pool)
                .await?;
        }
        Ok(())
    }

    /// The first `limit` slices still pending, in order.
    pub async fn pending_slices(&self, job_id: &JobId, limit: u32) -> Result<Vec<u32>> {
        let slices: Vec<i32> = sqlx::query_scalar(
            "SELECT slice_index FROM replay_slices WHERE job_id = ? AND state = 'PENDING' ORDER BY slice_index LIMIT ?",
        )
        .bind(job_id.as_str())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(slices.into_iter().map(|s| s as u32).collect())
    }

    /// Claims the next slice nobody has enqueued yet (when a slice ends, the
    /// job's next one starts). Concurrent callers get different slices.
    pub async fn claim_next_slice(&self, job_id: &JobId) -> Result<Option<u32>> {
        let claim = uuid::Uuid::new_v4().simple().to_string();
        let active: Option<String> =
            sqlx::query_scalar(&format!("SELECT id FROM replay_jobs WHERE id = ? AND state IN {ACTIVE_STATES}"))
                .bind(job_id.as_str())
                .fetch_optional(&self.pool)
                .await?;
        if active.is_none() {
            return Ok(None);
        }
        let done = sqlx::query(
            "UPDATE replay_slices SET enqueued_at = UTC_TIMESTAMP(3), enqueue_claim = ? \
             WHERE job_id = ? AND state = 'PENDING' AND enqueued_at IS NULL ORDER BY slice_index LIMIT 1",
        )
        .bind(&claim)
        .bind(job_id.as_str())
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        let slice: Option<i32> =
            sqlx::query_scalar("SELECT slice_index FROM replay_slices WHERE job_id = ? AND enqueue_claim = ?")
                .bind(job_id.as_str())
                .bind(&claim)
                .fetch_optional(&self.pool)
                .await?;
        Ok(slice.map(|s| s as u32))
    }

    /// Pending slices claimed for enqueue more than `older_than_s` ago whose
    /// message may have been lost (the claimer died before sending); each is
    /// re-claimed so only one sweeper sends it again.
    pub async fn claim_lost_slices(&self, older_than_s: u32) -> Result<Vec<(JobId, u32)>> {
        let rows = sqlx::query(&format!(
            "SELECT s.job_id, s.slice_index, s.enqueued_at FROM replay_slices s JOIN replay_jobs j ON j.id = s.job_id \
             WHERE s.state = 'PENDING' AND s.enqueued_at < UTC_TIMESTAMP(3) - INTERVAL ? SECOND \
             AND j.state IN {ACTIVE_STATES} LIMIT 100"
        ))
        .bind(older_than_s)
        .fetch_all(&self.pool)
        .await?;
        let mut claimed = Vec::new();
        for row in rows {
            let job_id: String = row.try_get("job_id")?;
            let slice: i32 = row.try_get("slice_index")?;
            let at: NaiveDateTime = row.try_get("enqueued_at")?;
            let won = sqlx::query(
                "UPDATE replay_slices SET enqueued_at = UTC_TIMESTAMP(3) WHERE job_id = ? AND slice_index = ? AND enqueued_at = ?",
            )
            .bind(&job_id)
            .bind(slice)
            .bind(at)
            .execute(&self.pool)
            .await?
            .rows_affected()
                == 1;
            if won {
                claimed.push((JobId(job_id), slice as u32));
            }
        }
        Ok(claimed)
    }

    /// A job as the API shows it; `tenant` None is the operator's view.
    pub async fn job_view(&self, tenant: Option<&TenantId>, job_id: &JobId) -> Result<Option<JobView>> {
        let row = sqlx::query(
            "SELECT id, webhook_id, from_ms, to_ms, state, state_reason, created_at, updated_at, slices_total \
             FROM replay_jobs WHERE id = ? AND (? IS NULL OR tenant_id = ?)",
        )
        .bind(job_id.as_str())
        .bind(tenant.map(|t| t.as_str()))
        .bind(tenant.map(|t| t.as_str()))
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let (counters, slices_done, _) = self.slice_totals(job_id).await?;
        Ok(Some(view_of(&row, counters, slices_done)?))
    }

    /// A webhook's jobs, newest first.
    pub async fn list_jobs(&self, tenant: &TenantId, webhook: &WebhookId, limit: u32) -> Result<Vec<JobView>> {
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM replay_jobs WHERE tenant_id = ? AND webhook_id = ? ORDER BY created_at DESC, id DESC LIMIT ?",
        )
        .bind(tenant.as_str())
        .bind(webhook.as_str())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut views = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(v) = self.job_view(Some(tenant), &JobId(id)).await? {
                views.push(v);
            }
        }
        Ok(views)
    }

    /// Sums of the slices' counters, slices done, slices failed.
    pub async fn slice_totals(&self, job_id: &JobId) -> Result<(Counters, u32, u32)> {
        let row = sqlx::query(
            "SELECT CAST(COALESCE(SUM(events_scanned),0) AS SIGNED) AS scanned, \
             CAST(COALESCE(SUM(events_matched),0) AS SIGNED) AS matched, \
             CAST(COALESCE(SUM(events_delivered),0) AS SIGNED) AS delivered, \
             CAST(COALESCE(SUM(duplicates_skipped),0) AS SIGNED) AS duplicates, \
             CAST(COALESCE(SUM(delivery_failures),0) AS SIGNED) AS failures, \
             CAST(COALESCE(SUM(malformed),0) AS SIGNED) AS malformed, \
             CAST(COALESCE(SUM(state IN ('DONE','FAILED','CANCELLED')),0) AS SIGNED) AS ended, \
             CAST(COALESCE(SUM(state = 'FAILED'),0) AS SIGNED) AS failed \
             FROM replay_slices WHERE job_id = ?",
        )
        .bind(job_id.as_str())
        .fetch_one(&self.pool)
        .await?;
        let get = |name: &str| -> Result<u64> { Ok(row.try_get::<i64, _>(name)?.max(0) as u64) };
        let counters = Counters {
            events_scanned: get("scanned")?,
            events_matched: get("matched")?,
            events_delivered: get("delivered")?,
            duplicates_skipped: get("duplicates")?,
            delivery_failures: get("failures")?,
            malformed: get("malformed")?,
        };
        Ok((counters, get("ended")? as u32, get("failed")? as u32))
    }

    /// Cancels an active job and its slices that have not started; running
    /// slices stop at their next heartbeat. Returns the job's view
    /// (unchanged if it had already ended).
    pub async fn cancel_job(&self, tenant: &TenantId, job_id: &JobId) -> Result<Option<JobView>> {
        let cancelled = sqlx::query(&format!(
            "UPDATE replay_jobs SET state = 'CANCELLED', state_reason = 'cancelled by request', \
             active_webhook_id = NULL, updated_at = UTC_TIMESTAMP(3) \
             WHERE id = ? AND tenant_id = ? AND state IN {ACTIVE_STATES}"
        ))
        .bind(job_id.as_str())
        .bind(tenant.as_str())
        .execute(&self.pool)
        .await?;
        if cancelled.rows_affected() == 1 {
            self.cancel_pending_slices(job_id).await?;
        }
        self.job_view(Some(tenant), job_id).await
    }

    /// Ends the slices of a cancelled job that no worker has started.
    pub async fn cancel_pending_slices(&self, job_id: &JobId) -> Result<()> {
        sqlx::query("UPDATE replay_slices SET state = 'CANCELLED' WHERE job_id = ? AND state = 'PENDING'")
            .bind(job_id.as_str())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn failures(&self, job_id: &JobId) -> Result<Vec<FailedEvent>> {
        let rows = sqlx::query("SELECT event_id, attempts, last_status, last_error FROM replay_failures WHERE job_id = ? ORDER BY failed_at")
            .bind(job_id.as_str())
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(FailedEvent {
                    event_id: r.try_get("event_id")?,
                    attempts: r.try_get::<i32, _>("attempts")? as u32,
                    last_status: r.try_get::<Option<i32>, _>("last_status")?.map(|s| s as u16),
                    error: r.try_get::<Option<String>, _>("last_error")?.unwrap_or_default(),
                })
            })
            .collect()
    }

    // ---- worker ----

    pub async fn slice(&self, job_id: &JobId, slice_index: u32) -> Result<Option<SliceRow>> {
        Ok(sqlx::query_as::<_, SliceRow>(
            "SELECT s.job_id, s.slice_index, j.state AS job_state, j.webhook_id, w.url, w.secret, j.partition_id, \
             s.from_ms, s.to_ms, s.state AS slice_state \
             FROM replay_slices s JOIN replay_jobs j ON j.id = s.job_id JOIN webhooks w ON w.id = j.webhook_id \
             WHERE s.job_id = ? AND s.slice_index = ?",
        )
        .bind(job_id.as_str())
        .bind(slice_index as i32)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// A worker picked the slice up: slice RUNNING, job OPEN -> STARTED.
    pub async fn start_slice(&self, job_id: &JobId, slice_index: u32) -> Result<()> {
        sqlx::query(
            "UPDATE replay_slices SET state = 'RUNNING', heartbeat_at = UTC_TIMESTAMP(3), \
             enqueued_at = COALESCE(enqueued_at, UTC_TIMESTAMP(3)) \
             WHERE job_id = ? AND slice_index = ? AND state IN ('PENDING','RUNNING')",
        )
        .bind(job_id.as_str())
        .bind(slice_index as i32)
        .execute(&self.pool)
        .await?;
        sqlx::query(
            "UPDATE replay_jobs SET state = 'STARTED', heartbeat_at = UTC_TIMESTAMP(3), updated_at = UTC_TIMESTAMP(3), \
             enqueued_at = COALESCE(enqueued_at, UTC_TIMESTAMP(3)) WHERE id = ? AND state = 'OPEN'",
        )
        .bind(job_id.as_str())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Ends a slice with its final counters (only once, only by the lease holder).
    pub async fn end_slice(
        &self,
        job_id: &JobId,
        slice_index: u32,
        token: u64,
        state: &str,
        c: &Counters,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE replay_slices SET state = ?, heartbeat_at = UTC_TIMESTAMP(3), events_scanned = ?, events_matched = ?, \
             events_delivered = ?, duplicates_skipped = ?, delivery_failures = ?, malformed = ?, lease_token = ? \
             WHERE job_id = ? AND slice_index = ? AND state IN ('PENDING','RUNNING') AND lease_token <= ?",
        )
        .bind(state)
        .bind(c.events_scanned as i64)
        .bind(c.events_matched as i64)
        .bind(c.events_delivered as i64)
        .bind(c.duplicates_skipped as i64)
        .bind(c.delivery_failures as i64)
        .bind(c.malformed as i64)
        .bind(token as i64)
        .bind(job_id.as_str())
        .bind(slice_index as i32)
        .bind(token as i64)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Ends one slice, keeping the counters its heartbeats recorded.
    pub async fn set_slice_state(&self, job_id: &JobId, slice_index: u32, state: &str) -> Result<()> {
        sqlx::query("UPDATE replay_slices SET state = ? WHERE job_id = ? AND slice_index = ? AND state IN ('PENDING','RUNNING')")
            .bind(state)
            .bind(job_id.as_str())
            .bind(slice_index as i32)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Ends every slice not yet ended (cancel, give-up).
    pub async fn end_open_slices(&self, job_id: &JobId, state: &str) -> Result<()> {
        sqlx::query("UPDATE replay_slices SET state = ? WHERE job_id = ? AND state IN ('PENDING','RUNNING')")
            .bind(state)
            .bind(job_id.as_str())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// If every slice has ended, moves an active job to its final state.
    /// Returns the job's state when it is terminal, None while slices remain.
    pub async fn try_finalize(&self, job_id: &JobId) -> Result<Option<JobState>> {
        let (counters, ended, failed) = self.slice_totals(job_id).await?;
        let row = sqlx::query("SELECT state, slices_total FROM replay_jobs WHERE id = ?")
            .bind(job_id.as_str())
            .fetch_optional(&self.pool)
            .await?
            .ok_or(Error::NotFound)?;
        let state = parse_state(&row.try_get::<String, _>("state")?)?;
        let total: i32 = row.try_get("slices_total")?;
        if ended < total as u32 {
            return Ok(None);
        }
        if state.is_terminal() {
            return Ok(Some(state));
        }
        let (final_state, reason) = final_state(&counters, failed, total as u32);
        self.set_final_state(job_id, final_state, &reason).await?;
        let now: String = sqlx::query_scalar("SELECT state FROM replay_jobs WHERE id = ?")
            .bind(job_id.as_str())
            .fetch_one(&self.pool)
            .await?;
        Ok(Some(parse_state(&now)?))
    }

    /// Moves an active job to a terminal state (no-op if it already ended).
    pub async fn set_final_state(&self, job_id: &JobId, state: JobState, reason: &str) -> Result<bool> {
        let done = sqlx::query(&format!(
            "UPDATE replay_jobs SET state = ?, state_reason = ?, active_webhook_id = NULL, updated_at = UTC_TIMESTAMP(3) \
             WHERE id = ? AND state IN {ACTIVE_STATES}"
        ))
        .bind(state.as_str())
        .bind(reason)
        .bind(job_id.as_str())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Claims the right to send the job's status event for a minute.
    pub async fn claim_status_event(&self, job_id: &JobId) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE replay_jobs SET status_claim_until = UTC_TIMESTAMP(3) + INTERVAL 60 SECOND \
             WHERE id = ? AND status_sent_at IS NULL AND (status_claim_until IS NULL OR status_claim_until < UTC_TIMESTAMP(3))",
        )
        .bind(job_id.as_str())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn mark_status_sent(&self, job_id: &JobId) -> Result<()> {
        sqlx::query("UPDATE replay_jobs SET status_sent_at = UTC_TIMESTAMP(3) WHERE id = ?")
            .bind(job_id.as_str())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    // ---- sweeper ----

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
        let mut claimed = Vec::new();
        for id in ids {
            let won = sqlx::query(
                "UPDATE replay_jobs SET enqueue_claim_until = UTC_TIMESTAMP(3) + INTERVAL ? SECOND \
                 WHERE id = ? AND enqueued_at IS NULL AND (enqueue_claim_until IS NULL OR enqueue_claim_until < UTC_TIMESTAMP(3))",
            )
            .bind(claim_s)
            .bind(&id)
            .execute(&self.pool)
            .await?
            .rows_affected()
                == 1;
            if won {
                claimed.push(JobId(id));
            }
        }
        Ok(claimed)
    }

    /// Running slices of active jobs whose heartbeat is older than `stale_s`;
    /// each is claimed (restarts + 1, heartbeat reset) so it is restarted once.
    /// Returns (job, slice, restarts after the claim).
    pub async fn claim_stale_slices(&self, stale_s: u32) -> Result<Vec<(JobId, u32, u32)>> {
        let rows = sqlx::query(&format!(
            "SELECT s.job_id, s.slice_index, s.restarts FROM replay_slices s JOIN replay_jobs j ON j.id = s.job_id \
             WHERE s.state = 'RUNNING' AND s.heartbeat_at < UTC_TIMESTAMP(3) - INTERVAL ? SECOND \
             AND j.state IN {ACTIVE_STATES} LIMIT 100"
        ))
        .bind(stale_s)
        .fetch_all(&self.pool)
        .await?;
        let mut claimed = Vec::new();
        for row in rows {
            let job_id: String = row.try_get("job_id")?;
            let slice: i32 = row.try_get("slice_index")?;
            let restarts: i32 = row.try_get("restarts")?;
            let won = sqlx::query(
                "UPDATE replay_slices SET restarts = restarts + 1, heartbeat_at = UTC_TIMESTAMP(3) \
                 WHERE job_id = ? AND slice_index = ? AND state = 'RUNNING' AND restarts = ?",
            )
            .bind(&job_id)
            .bind(slice)
            .bind(restarts)
            .execute(&self.pool)
            .await?
            .rows_affected()
                == 1;
            if won {
                claimed.push((JobId(job_id), slice as u32, (restarts + 1) as u32));
            }
        }
        Ok(claimed)
    }

    /// Ended jobs whose status event was never sent (or whose sender died).
    pub async fn jobs_missing_status_event(&self) -> Result<Vec<JobId>> {
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM replay_jobs WHERE state IN ('COMPLETED','INCOMPLETE','FAILED','CANCELLED') \
             AND status_sent_at IS NULL AND (status_claim_until IS NULL OR status_claim_until < UTC_TIMESTAMP(3)) \
             AND updated_at < UTC_TIMESTAMP(3) - INTERVAL 5 SECOND LIMIT 100",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(ids.into_iter().map(JobId).collect())
    }

    /// Cancelled jobs whose slices still look alive; the sweeper ends them
    /// once no heartbeat is fresh.
    pub async fn cancelled_jobs_with_open_slices(&self, quiet_s: u32) -> Result<Vec<JobId>> {
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT j.id FROM replay_jobs j WHERE j.state = 'CANCELLED' AND EXISTS \
             (SELECT 1 FROM replay_slices s WHERE s.job_id = j.id AND s.state IN ('PENDING','RUNNING')) \
             AND NOT EXISTS (SELECT 1 FROM replay_slices s WHERE s.job_id = j.id AND s.state = 'RUNNING' \
             AND s.heartbeat_at > UTC_TIMESTAMP(3) - INTERVAL ? SECOND) LIMIT 100",
        )
        .bind(quiet_s)
        .fetch_all(&self.pool)
        .await?;
        Ok(ids.into_iter().map(JobId).collect())
    }

    /// Who owns a job (status events go to its webhook).
    pub async fn job_target(&self, job_id: &JobId) -> Result<(WebhookId, String, String)> {
        let row = sqlx::query(
            "SELECT j.webhook_id, w.url, w.secret FROM replay_jobs j JOIN webhooks w ON w.id = j.webhook_id WHERE j.id = ?",
        )
        .bind(job_id.as_str())
        .fetch_optional(&self.pool)
        .await?
        .ok_or(Error::NotFound)?;
        Ok((WebhookId(row.try_get("webhook_id")?), row.try_get("url")?, row.try_get("secret")?))
    }
}

async fn insert_slices(
    tx: &mut Transaction<'_, MySql>,
    job_id: &JobId,
    slices: &[(EventTime, EventTime)],
) -> Result<()> {
    // Multi-row inserts in chunks keep a long window to a few round trips.
    for (chunk_no, chunk) in slices.chunks(500).enumerate() {
        let mut sql = String::from("INSERT INTO replay_slices (job_id, slice_index, from_ms, to_ms, state) VALUES ");
        sql.push_str(&vec!["(?, ?, ?, ?, 'PENDING')"; chunk.len()].join(", "));
        let mut q = sqlx::query(&sql);
        for (i, (from, to)) in chunk.iter().enumerate() {
            q = q.bind(job_id.as_str()).bind((chunk_no * 500 + i) as i32).bind(from.0).bind(to.0);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

fn parse_state(s: &str) -> Result<JobState> {
    JobState::parse(s).ok_or_else(|| Error::Internal(format!("unknown job state {s}")))
}

fn view_of(row: &sqlx::mysql::MySqlRow, counters: Counters, slices_done: u32) -> Result<JobView> {
    Ok(JobView {
        job_id: JobId(row.try_get("id")?),
        webhook_id: WebhookId(row.try_get("webhook_id")?),
        from: EventTime(row.try_get("from_ms")?).to_rfc3339(),
        to: EventTime(row.try_get("to_ms")?).to_rfc3339(),
        state: parse_state(&row.try_get::<String, _>("state")?)?,
        state_reason: row.try_get("state_reason")?,
        created_at: format_time(row.try_get("created_at")?),
        updated_at: format_time(row.try_get("updated_at")?),
        progress: Progress { slices_total: row.try_get::<i32, _>("slices_total")? as u32, slices_done, counters },
    })
}

#[async_trait]
impl SliceProgress for MySqlStore {
    async fn heartbeat(&self, job_id: &JobId, slice_index: u32, token: u64, c: &Counters) -> Result<JobState> {
        let updated = sqlx::query(
            "UPDATE replay_slices SET heartbeat_at = UTC_TIMESTAMP(3), events_scanned = ?, events_matched = ?, \
             events_delivered = ?, duplicates_skipped = ?, delivery_failures = ?, malformed = ?, lease_token = ? \
             WHERE job_id = ? AND slice_index = ? AND state = 'RUNNING' AND lease_token <= ?",
        )
        .bind(c.events_scanned as i64)
        .bind(c.events_matched as i64)
        .bind(c.events_delivered as i64)
        .bind(c.duplicates_skipped as i64)
        .bind(c.delivery_failures as i64)
        .bind(c.malformed as i64)
        .bind(token as i64)
        .bind(job_id.as_str())
        .bind(slice_index as i32)
        .bind(token as i64)
        .execute(&self.pool)
        .await?;
        if updated.rows_affected() == 0 {
            let newer: Option<i64> = sqlx::query_scalar(
                "SELECT lease_token FROM replay_slices WHERE job_id = ? AND slice_index = ? AND lease_token > ?",
            )
            .bind(job_id.as_str())
            .bind(slice_index as i32)
            .bind(token as i64)
            .fetch_optional(&self.pool)
            .await?;
            if newer.is_some() {
                return Err(Error::LeaseLost);
            }
        }
        sqlx::query(
            "UPDATE replay_jobs SET state = IF(state IN ('OPEN','STARTED'), 'ONGOING', state), \
             heartbeat_at = UTC_TIMESTAMP(3), updated_at = UTC_TIMESTAMP(3) WHERE id = ? AND state IN ('OPEN','STARTED','ONGOING')",
        )
        .bind(job_id.as_str())
        .execute(&self.pool)
        .await?;
        let state: String = sqlx::query_scalar("SELECT state FROM replay_jobs WHERE id = ?")
            .bind(job_id.as_str())
            .fetch_one(&self.pool)
            .await?;
        parse_state(&state)
    }

    async fn record_failures(&self, job_id: &JobId, failures: &[FailedEvent]) -> Result<()> {
        for f in failures {
            sqlx::query(
                "INSERT INTO replay_failures (job_id, event_id, last_status, last_error, attempts, failed_at) \
                 VALUES (?, ?, ?, ?, ?, UTC_TIMESTAMP(3)) ON DUPLICATE KEY UPDATE last_status = VALUES(last_status), \
                 last_error = VALUES(last_error), attempts = VALUES(attempts), failed_at = VALUES(failed_at)",
            )
            .bind(job_id.as_str())
            .bind(&f.event_id)
            .bind(f.last_status.map(i32::from))
            .bind(f.error.chars().take(500).collect::<String>())
            .bind(f.attempts as i32)
            .execute(&self.pool)
            .await?;
        }
        Ok(())
    }
}
