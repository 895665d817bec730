//! Fair shares of the worker pool between tenants (docs/security.md, "Fair
//! shares"). An SQS message cannot be chosen by tenant, so a message that
//! starts a slice is only a wake-up: MySQL chooses what the woken worker
//! runs. Among the slices claimed to start (`PENDING` with `enqueued_at`) of
//! active jobs whose tenant is under its cap of running slices, it takes one
//! of the tenant with the fewest slices running; among tenants with as few,
//! the one served longest ago (round-robin); within the tenant, the oldest
//! claim. No slice is taken while the worker pool (`WORKER_POOL_SLICES`, the
//! worker's SQS `MaximumConcurrency`) has as many running: a continuation
//! then always finds a worker, instead of waiting in the queue without
//! heartbeats until the sweeper counts it stale.
//!
//! Locks are taken in the order pool row, tenant row, job row, slice row
//! (every take locks `worker_pool`'s one row first, so the pool's cap holds
//! exactly across tenants; creating a
//! job takes tenant, then webhook; ending and cancelling take job, then
//! slices), so no two of them wait on each other in a cycle.

use super::{MySqlStore, ACTIVE_STATES};
use crate::domain::ids::{JobId, TenantId};
use crate::error::Result;
use crate::ports::ledger::Take;
use sqlx::Row;
use tracing::debug;

/// Slices running per tenant (a paused slice keeps its place: it resumes
/// without asking).
const RUNNING_BY_TENANT: &str = "SELECT j.tenant_id, COUNT(*) AS running FROM replay_slices s \
     JOIN replay_jobs j ON j.id = s.job_id WHERE s.state = 'RUNNING' GROUP BY j.tenant_id";

/// How often a take retries after losing a race for its candidate.
const TAKE_ATTEMPTS: usize = 4;

impl MySqlStore {
    /// Takes the next slice to run, fairly between tenants (module docs).
    /// `default_cap` is TENANT_MAX_RUNNING_SLICES (0: no cap), for tenants
    /// without an override in `tenant_limits`; `pool` is WORKER_POOL_SLICES
    /// (0: no cap).
    pub async fn take_slice(&self, default_cap: u32, pool: u32) -> Result<Take> {
        for _ in 0..TAKE_ATTEMPTS {
            let candidate = sqlx::query(&format!(
                "SELECT s.job_id, s.slice_index, j.tenant_id FROM replay_slices s \
                 JOIN replay_jobs j ON j.id = s.job_id JOIN tenants t ON t.id = j.tenant_id \
                 LEFT JOIN tenant_limits l ON l.tenant_id = j.tenant_id \
                 LEFT JOIN ({RUNNING_BY_TENANT}) r ON r.tenant_id = j.tenant_id \
                 WHERE s.state = 'PENDING' AND s.enqueued_at IS NOT NULL AND j.state IN {ACTIVE_STATES} \
                 AND (COALESCE(l.max_running_slices, ?) = 0 OR COALESCE(r.running, 0) < COALESCE(l.max_running_slices, ?)) \
                 AND (? = 0 OR (SELECT COUNT(*) FROM replay_slices WHERE state = 'RUNNING') < ?) \
                 ORDER BY COALESCE(r.running, 0), t.last_slice_taken_at IS NOT NULL, t.last_slice_taken_at, \
                 s.enqueued_at, s.job_id, s.slice_index LIMIT 1"
            ))
            .bind(default_cap)
            .bind(default_cap)
            .bind(pool)
            .bind(pool)
            .fetch_optional(&self.pool)
            .await?;
            let Some(candidate) = candidate else {
                return Ok(if self.slices_waiting_count().await? > 0 { Take::Defer } else { Take::Nothing });
            };
            let job_id = JobId(candidate.try_get("job_id")?);
            let slice_index: i32 = candidate.try_get("slice_index")?;
            let tenant_id = TenantId(candidate.try_get("tenant_id")?);
            if self.take_candidate(&tenant_id, &job_id, slice_index, default_cap, pool).await? {
                return Ok(Take::Run { job_id, slice_index: slice_index as u32, tenant_id });
            }
            debug!(%job_id, slice_index, "lost the race for a slice; choosing again");
        }
        Ok(Take::Defer)
    }

    /// Takes one candidate under the pool's and its tenant's row locks, if
    /// the pool and the tenant are still under their caps and the slice still
    /// waits; false otherwise.
    async fn take_candidate(
        &self,
        tenant: &TenantId,
        job_id: &JobId,
        slice_index: i32,
        default_cap: u32,
        pool: u32,
    ) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        // Every take queues here, so the pool's cap holds across tenants.
        sqlx::query("SELECT id FROM worker_pool WHERE id = 1 FOR UPDATE").execute(&mut *tx).await?;
        if pool > 0 {
            let running: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM replay_slices WHERE state = 'RUNNING'")
                .fetch_one(&mut *tx)
                .await?;
            if running >= i64::from(pool) {
                return Ok(false);
            }
        }
        // Every take of this tenant queues here, so its cap holds exactly.
        sqlx::query("SELECT id FROM tenants WHERE id = ? FOR UPDATE").bind(tenant.as_str()).execute(&mut *tx).await?;
        let (running, cap): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM replay_slices s JOIN replay_jobs j ON j.id = s.job_id \
               WHERE j.tenant_id = ? AND s.state = 'RUNNING'), \
             CAST(COALESCE((SELECT max_running_slices FROM tenant_limits WHERE tenant_id = ?), ?) AS SIGNED)",
        )
        .bind(tenant.as_str())
        .bind(tenant.as_str())
        .bind(default_cap)
        .fetch_one(&mut *tx)
        .await?;
        if cap > 0 && running >= cap {
            return Ok(false);
        }
        let active: Option<String> = sqlx::query_scalar(&format!(
            "SELECT id FROM replay_jobs WHERE id = ? AND state IN {ACTIVE_STATES} FOR UPDATE"
        ))
        .bind(job_id.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        if active.is_none() {
            return Ok(false);
        }
        let taken = sqlx::query(
            "UPDATE replay_slices SET state = 'RUNNING', started_at = COALESCE(started_at, UTC_TIMESTAMP(3)), \
             heartbeat_at = UTC_TIMESTAMP(3), paused_until = NULL \
             WHERE job_id = ? AND slice_index = ? AND state = 'PENDING' AND enqueued_at IS NOT NULL",
        )
        .bind(job_id.as_str())
        .bind(slice_index)
        .execute(&mut *tx)
        .await?;
        if taken.rows_affected() != 1 {
            return Ok(false);
        }
        sqlx::query("UPDATE tenants SET last_slice_taken_at = UTC_TIMESTAMP(3) WHERE id = ?")
            .bind(tenant.as_str())
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE replay_jobs SET state = 'STARTED', heartbeat_at = UTC_TIMESTAMP(3), updated_at = UTC_TIMESTAMP(3), \
             enqueued_at = COALESCE(enqueued_at, UTC_TIMESTAMP(3)) WHERE id = ? AND state = 'OPEN'",
        )
        .bind(job_id.as_str())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Slices of active jobs claimed to start that wait for a worker: each
    /// needs a wake-up on its way (the sweeper tops them up).
    pub async fn slices_waiting_count(&self) -> Result<u64> {
        let n: i64 = sqlx::query_scalar(&format!(
            "SELECT COUNT(*) FROM replay_slices s JOIN replay_jobs j ON j.id = s.job_id \
             WHERE s.state = 'PENDING' AND s.enqueued_at IS NOT NULL AND j.state IN {ACTIVE_STATES}"
        ))
        .fetch_one(&self.pool)
        .await?;
        Ok(n.max(0) as u64)
    }

    /// The job's slices claimed to start that no worker took yet.
    pub async fn waiting_slices(&self, job_id: &JobId) -> Result<Vec<u32>> {
        let slices: Vec<i32> = sqlx::query_scalar(
            "SELECT slice_index FROM replay_slices WHERE job_id = ? AND state = 'PENDING' \
             AND enqueued_at IS NOT NULL ORDER BY slice_index",
        )
        .bind(job_id.as_str())
        .fetch_all(&self.pool)
        .await?;
        Ok(slices.into_iter().map(|s| s as u32).collect())
    }

    /// The most slice-queue messages that are not wake-ups: a running
    /// slice has at most one (its continuation, a pause's end or a restart),
    /// an ended job at most one status event queued and not sent.
    pub async fn messages_besides_wake_ups(&self) -> Result<u64> {
        let n: i64 = sqlx::query_scalar(
            "SELECT (SELECT COUNT(*) FROM replay_slices WHERE state = 'RUNNING') \
             + (SELECT COUNT(*) FROM replay_jobs WHERE status_enqueued_at IS NOT NULL AND status_sent_at IS NULL)",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(n.max(0) as u64)
    }

    /// The SQL condition "the slice's tenant is under its cap of running
    /// slices", for queries over `replay_slices s JOIN replay_jobs j`; binds
    /// the default cap twice.
    pub(super) const UNDER_RUNNING_CAP: &'static str =
        "(COALESCE((SELECT l.max_running_slices FROM tenant_limits l WHERE l.tenant_id = j.tenant_id), ?) = 0 \
         OR (SELECT COUNT(*) FROM replay_slices s2 JOIN replay_jobs j2 ON j2.id = s2.job_id \
             WHERE j2.tenant_id = j.tenant_id AND s2.state = 'RUNNING') \
            < COALESCE((SELECT l.max_running_slices FROM tenant_limits l WHERE l.tenant_id = j.tenant_id), ?))";
}
