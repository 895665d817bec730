//! `replay_slices`: one row per time slice. Counters are absolute values
//! copied from the slice's checkpoint, so retries never double-count; every
//! write of a running slice is fenced by its lease token.
//!
//! Ending a slice, claiming the job's next slices and deciding the job's end
//! happen in one transaction under the job's row lock: a crash between them
//! cannot stall a job, and concurrent workers never claim more slices than
//! the job's cap.

use super::jobs::finalize_in;
use super::{counter_values, counters_set, parse_slice_state, parse_state, MySqlStore, ACTIVE_STATES};
use crate::domain::ids::{EventTime, JobId, TenantId, WebhookId};
use crate::domain::job::{slice_share, Counters, JobLimits, JobState, SliceState};
use crate::domain::pace::SlicePace;
use crate::domain::window::Window;
use crate::error::{Error, Result};
use crate::ports::ledger::{SliceEnd, SliceRecord, SliceTotals, StaleSlice, PACE_FRESH_S, RESTART_WAIT_PERIODS};
use crate::ports::{Beat, FailedEvent, SliceProgress};
use async_trait::async_trait;
use chrono::NaiveDateTime;
use replay_types::Selection;
use sqlx::{FromRow, MySql, Row, Transaction};

/// A slice's row with its job's and webhook's columns (`SliceRecord` parsed).
#[derive(Clone, FromRow)]
struct SliceRow {
    pub job_id: String,
    pub slice_index: i32,
    pub job_state: String,
    pub tenant_id: String,
    pub webhook_id: String,
    pub url: String,
    pub target_webhook_id: Option<String>,
    pub crc_pending: bool,
    pub max_in_flight: Option<i32>,
    pub max_events_per_second: Option<i32>,
    pub ordering_key: Option<String>,
    pub pace_in_flight: Option<i32>,
    pub pace_baseline_ms: Option<i32>,
    pub partition_id: i32,
    pub partitions: Option<String>,
    pub from_ms: i64,
    pub to_ms: i64,
    pub planned_offsets: Option<String>,
    pub slice_state: String,
    pub selection: Option<String>,
}

impl SliceRow {
    fn into_record(self) -> Result<SliceRecord> {
        let partitions = match self.partitions.as_deref() {
            // Jobs before partitions were a list: one.
            Some(list) if !list.is_empty() => list.split(',').filter_map(|p| p.trim().parse().ok()).collect(),
            _ => vec![self.partition_id as u32],
        };
        let selection = match self.selection.as_deref() {
            Some(json) => serde_json::from_str(json).map_err(|e| Error::Internal(format!("a job's selection: {e}")))?,
            None => Selection::default(),
        };
        Ok(SliceRecord {
            job_state: parse_state(&self.job_state)?,
            slice_state: parse_slice_state(&self.slice_state)?,
            job_id: JobId(self.job_id),
            slice_index: self.slice_index as u32,
            tenant_id: TenantId(self.tenant_id),
            webhook_id: WebhookId(self.webhook_id),
            url: self.url,
            target_webhook_id: self.target_webhook_id.map(WebhookId),
            crc_pending: self.crc_pending,
            limits: JobLimits {
                max_in_flight: self.max_in_flight.map(|n| n.max(1) as u32),
                max_events_per_second: self.max_events_per_second.map(|n| n.max(1) as u32),
            },
            ordering_key: self.ordering_key,
            pace: self.pace_baseline_ms.map(|ms| SlicePace {
                in_flight: self.pace_in_flight.unwrap_or(1).max(1) as u32,
                baseline_ms: Some(ms.max(0) as u32),
            }),
            partitions,
            window: Window { from: EventTime(self.from_ms), to: EventTime(self.to_ms) },
            planned: self.planned_offsets.as_deref().and_then(|s| serde_json::from_str(s).ok()).unwrap_or_default(),
            selection,
        })
    }
}

/// Claims up to the job's cap of slices to start now, under the job's row lock.
async fn claim_in(tx: &mut Transaction<'_, MySql>, job_id: &JobId, cap: u32) -> Result<Vec<u32>> {
    let row =
        sqlx::query("SELECT state, max_in_flight, max_events_per_second FROM replay_jobs WHERE id = ? FOR UPDATE")
            .bind(job_id.as_str())
            .fetch_optional(&mut **tx)
            .await?;
    let Some(row) = row else { return Ok(Vec::new()) };
    // A paused job's slices wait for its resume.
    if !parse_state(&row.try_get::<String, _>("state")?).is_ok_and(JobState::is_active) {
        return Ok(Vec::new());
    }
    // A job's own limits may run fewer slices at once (domain/job.rs, `slice_share`).
    let cap = slice_share(&super::jobs::limits_of(&row)?, cap).parallel;
    let busy: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM replay_slices WHERE job_id = ? \
         AND (state = 'RUNNING' OR (state = 'PENDING' AND enqueued_at IS NOT NULL))",
    )
    .bind(job_id.as_str())
    .fetch_one(&mut **tx)
    .await?;
    let room = i64::from(cap) - busy;
    if room <= 0 {
        return Ok(Vec::new());
    }
    let free: Vec<i32> = sqlx::query_scalar(
        "SELECT slice_index FROM replay_slices WHERE job_id = ? AND state = 'PENDING' AND enqueued_at IS NULL \
         ORDER BY slice_index LIMIT ?",
    )
    .bind(job_id.as_str())
    .bind(room)
    .fetch_all(&mut **tx)
    .await?;
    for &slice in &free {
        sqlx::query("UPDATE replay_slices SET enqueued_at = UTC_TIMESTAMP(3) WHERE job_id = ? AND slice_index = ?")
            .bind(job_id.as_str())
            .bind(slice)
            .execute(&mut **tx)
            .await?;
    }
    Ok(free.into_iter().map(|s| s as u32).collect())
}

impl MySqlStore {
    pub async fn slice(&self, job_id: &JobId, slice_index: u32) -> Result<Option<SliceRecord>> {
        sqlx::query_as::<_, SliceRow>(
            "SELECT s.job_id, s.slice_index, j.state AS job_state, j.tenant_id, j.webhook_id, w.url, j.target_webhook_id, \
             (j.crc_check AND j.crc_passed_at IS NULL) AS crc_pending, j.max_in_flight, j.max_events_per_second, \
             j.ordering_key, p.in_flight_limit AS pace_in_flight, p.pace_baseline_ms, \
             j.partition_id, j.partitions, s.from_ms, s.to_ms, s.planned_offsets, s.state AS slice_state, j.selection \
             FROM replay_slices s JOIN replay_jobs j ON j.id = s.job_id \
             JOIN webhooks w ON w.id = COALESCE(j.target_webhook_id, j.webhook_id) \
             LEFT JOIN replay_slices p ON p.job_id = s.job_id AND p.slice_index = ( \
               SELECT q.slice_index FROM replay_slices q WHERE q.job_id = s.job_id \
               AND q.pace_baseline_ms IS NOT NULL AND q.pace_at > UTC_TIMESTAMP(3) - INTERVAL ? SECOND \
               ORDER BY q.pace_at DESC LIMIT 1) \
             WHERE s.job_id = ? AND s.slice_index = ?",
        )
        .bind(PACE_FRESH_S)
        .bind(job_id.as_str())
        .bind(slice_index as i32)
        .fetch_optional(&self.pool)
        .await?
        .map(SliceRow::into_record)
        .transpose()
    }

    /// Claims up to `cap` slices of the job to start (slices running or
    /// claimed already count); concurrent callers never exceed the cap.
    pub async fn claim_slices(&self, job_id: &JobId, cap: u32) -> Result<Vec<u32>> {
        let mut tx = self.pool.begin().await?;
        let claimed = claim_in(&mut tx, job_id, cap).await?;
        tx.commit().await?;
        Ok(claimed)
    }

    /// A worker picked the slice up: slice RUNNING, job OPEN -> STARTED.
    pub async fn start_slice(&self, job_id: &JobId, slice_index: u32) -> Result<()> {
        sqlx::query(
            "UPDATE replay_slices SET state = 'RUNNING', heartbeat_at = UTC_TIMESTAMP(3), paused_until = NULL, \
             restart_waiting = FALSE, enqueued_at = COALESCE(enqueued_at, UTC_TIMESTAMP(3)) \
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

    /// Ends a slice with its final counters (once, by its lease holder: a
    /// `token` of None is the sweeper's, for a slice no live worker holds),
    /// claims the job's next slices up to `cap`, and ends the job when this
    /// was its last slice. One transaction.
    pub async fn end_slice(
        &self,
        job_id: &JobId,
        slice_index: u32,
        token: Option<u64>,
        state: SliceState,
        totals: Option<SliceTotals<'_>>,
        cap: u32,
    ) -> Result<SliceEnd> {
        let mut tx = self.pool.begin().await?;
        // The job's row lock first: every ender and claimer of this job queues here.
        sqlx::query("SELECT id FROM replay_jobs WHERE id = ? FOR UPDATE")
            .bind(job_id.as_str())
            .execute(&mut *tx)
            .await?;
        let counters = totals.map(|t| t.counters);
        let tally = totals.map(|t| t.tally).filter(|t| !t.is_empty());
        let mut sql = String::from("UPDATE replay_slices SET state = ?, heartbeat_at = UTC_TIMESTAMP(3)");
        if counters.is_some() {
            sql.push_str(", ");
            sql.push_str(&counters_set());
        }
        if tally.is_some() {
            sql.push_str(", tally = ?");
        }
        if token.is_some() {
            sql.push_str(", lease_token = ?");
        }
        sql.push_str(" WHERE job_id = ? AND slice_index = ? AND state IN ('PENDING','RUNNING')");
        if token.is_some() {
            sql.push_str(" AND lease_token <= ?");
        }
        let mut q = sqlx::query(&sql).bind(state.as_str());
        if let Some(c) = counters {
            for v in counter_values(c) {
                q = q.bind(v);
            }
        }
        if let Some(t) = tally {
            q = q.bind(serde_json::to_string(t).unwrap_or_default());
        }
        if let Some(t) = token {
            q = q.bind(t as i64);
        }
        q = q.bind(job_id.as_str()).bind(slice_index as i32);
        if let Some(t) = token {
            q = q.bind(t as i64);
        }
        let ended = q.execute(&mut *tx).await?.rows_affected() == 1;
        let mut end = SliceEnd { ended, ..SliceEnd::default() };
        if ended {
            if state == SliceState::Cancelled {
                super::jobs::cancel_pending_in(&mut *tx, job_id).await?;
            } else {
                end.claimed = claim_in(&mut tx, job_id, cap).await?;
            }
        }
        end.job_ended = finalize_in(&mut tx, job_id).await?;
        end.dry_run = sqlx::query_scalar("SELECT dry_run FROM replay_jobs WHERE id = ?")
            .bind(job_id.as_str())
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(end)
    }

    /// The receiver looks down: the slice waits until `until` (its delayed
    /// message), and is not stale before then.
    pub async fn pause_slice(&self, job_id: &JobId, slice_index: u32, token: u64, until_s: u32) -> Result<()> {
        sqlx::query(
            "UPDATE replay_slices SET paused_until = UTC_TIMESTAMP(3) + INTERVAL ? SECOND, heartbeat_at = UTC_TIMESTAMP(3) \
             WHERE job_id = ? AND slice_index = ? AND state = 'RUNNING' AND lease_token <= ?",
        )
        .bind(until_s)
        .bind(job_id.as_str())
        .bind(slice_index as i32)
        .bind(token as i64)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A running slice of a paused job stopped at a commit: back to
    /// waiting, unclaimed, under the job's row lock (a resume takes it too).
    pub async fn park_slice(&self, job_id: &JobId, slice_index: u32, token: u64, c: &Counters) -> Result<JobState> {
        let mut tx = self.pool.begin().await?;
        let state: String = sqlx::query_scalar("SELECT state FROM replay_jobs WHERE id = ? FOR UPDATE")
            .bind(job_id.as_str())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(Error::NotFound)?;
        let state = parse_state(&state)?;
        if state == JobState::Paused {
            let sql = format!(
                "UPDATE replay_slices SET state = 'PENDING', enqueued_at = NULL, paused_until = NULL, \
                 restart_waiting = FALSE, restarts = 0, heartbeat_at = UTC_TIMESTAMP(3), {}, lease_token = ? \
                 WHERE job_id = ? AND slice_index = ? AND state = 'RUNNING' AND lease_token <= ?",
                counters_set()
            );
            let mut q = sqlx::query(&sql);
            for v in counter_values(c) {
                q = q.bind(v);
            }
            q.bind(token as i64)
                .bind(job_id.as_str())
                .bind(slice_index as i32)
                .bind(token as i64)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(state)
    }

    // ---- the sweeper ----

    /// Running slices of paused jobs no live worker holds go back to
    /// waiting, unclaimed (a worker that wakes finds its heartbeat refused).
    pub async fn park_idle_slices(&self, quiet_s: u32) -> Result<u32> {
        let parked = sqlx::query(
            "UPDATE replay_slices s JOIN replay_jobs j ON j.id = s.job_id \
             SET s.state = 'PENDING', s.enqueued_at = NULL, s.paused_until = NULL, s.restart_waiting = FALSE \
             WHERE j.state = 'PAUSED' AND s.state = 'RUNNING' \
             AND (s.paused_until > UTC_TIMESTAMP(3) OR s.heartbeat_at IS NULL \
               OR (s.heartbeat_at < UTC_TIMESTAMP(3) - INTERVAL ? SECOND \
                 AND (s.paused_until IS NULL OR s.paused_until < UTC_TIMESTAMP(3) - INTERVAL ? SECOND)))",
        )
        .bind(quiet_s)
        .bind(quiet_s)
        .execute(&self.pool)
        .await?;
        Ok(parked.rows_affected() as u32)
    }

    /// Running slices of active jobs whose heartbeat is older than `stale_s`
    /// (a paused slice counts from the end of its pause); each is claimed
    /// (restarts + 1, heartbeat reset) so it is restarted once. A slice whose
    /// last restart still waits for a worker (`restart_waiting`, cleared by
    /// `start_slice`) is left alone until that restart has waited
    /// `RESTART_WAIT_PERIODS` stale periods (ports/ledger.rs). A restart
    /// claimed before `restart_sent_at` existed has none: it was sent when
    /// its claim reset the heartbeat.
    pub async fn claim_stale_slices(&self, stale_s: u32) -> Result<Vec<StaleSlice>> {
        let rows = sqlx::query(&format!(
            "SELECT s.job_id, s.slice_index, s.restarts, s.restart_waiting, s.heartbeat_at FROM replay_slices s \
             JOIN replay_jobs j ON j.id = s.job_id \
             WHERE s.state = 'RUNNING' AND s.heartbeat_at < UTC_TIMESTAMP(3) - INTERVAL ? SECOND \
             AND (s.paused_until IS NULL OR s.paused_until < UTC_TIMESTAMP(3) - INTERVAL ? SECOND) \
             AND (NOT s.restart_waiting OR COALESCE(s.restart_sent_at, s.heartbeat_at) < UTC_TIMESTAMP(3) - INTERVAL ? SECOND) \
             AND j.state IN {ACTIVE_STATES} LIMIT 100"
        ))
        .bind(stale_s)
        .bind(stale_s)
        .bind(stale_s.saturating_mul(RESTART_WAIT_PERIODS))
        .fetch_all(&self.pool)
        .await?;
        let candidates = rows
            .iter()
            .map(|r| -> Result<(String, i32, i32, bool, NaiveDateTime)> {
                Ok((
                    r.try_get("job_id")?,
                    r.try_get("slice_index")?,
                    r.try_get("restarts")?,
                    r.try_get("restart_waiting")?,
                    r.try_get("heartbeat_at")?,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        let won = self
            .claim_each(candidates, |(job, slice, _, _, at)| {
                sqlx::query(
                    "UPDATE replay_slices SET restarts = restarts + 1, restart_waiting = TRUE, \
                     restart_sent_at = UTC_TIMESTAMP(3), heartbeat_at = UTC_TIMESTAMP(3) \
                     WHERE job_id = ? AND slice_index = ? AND state = 'RUNNING' AND heartbeat_at = ?",
                )
                .bind(job.as_str())
                .bind(*slice)
                .bind(*at)
            })
            .await?;
        Ok(won
            .into_iter()
            .map(|(job, slice, restarts, waiting, _)| StaleSlice {
                job_id: JobId(job),
                slice_index: slice as u32,
                restarts: (restarts + 1) as u32,
                resent: waiting,
            })
            .collect())
    }

    /// Slices claimed for a start more than `older_than_s` ago that never
    /// started although their tenant is under its cap of running slices
    /// (`default_cap`, TENANT_MAX_RUNNING_SLICES, unless overridden): the
    /// claimer died before sending, or the wake-up was lost. A slice waiting
    /// on its tenant's cap is not lost: wake-ups for it go round deferred.
    /// Each is re-claimed so only one sweeper sends a wake-up for it.
    /// At most `limit` of them, oldest claim first.
    pub async fn claim_lost_slices(
        &self,
        older_than_s: u32,
        default_cap: u32,
        limit: u32,
    ) -> Result<Vec<(JobId, u32)>> {
        let rows = sqlx::query(&format!(
            "SELECT s.job_id, s.slice_index, s.enqueued_at FROM replay_slices s JOIN replay_jobs j ON j.id = s.job_id \
             WHERE s.state = 'PENDING' AND s.enqueued_at < UTC_TIMESTAMP(3) - INTERVAL ? SECOND \
             AND j.state IN {ACTIVE_STATES} AND {} ORDER BY s.enqueued_at LIMIT ?",
            Self::UNDER_RUNNING_CAP
        ))
        .bind(older_than_s)
        .bind(default_cap)
        .bind(default_cap)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let candidates = rows
            .iter()
            .map(|r| -> Result<(String, i32, NaiveDateTime)> {
                Ok((r.try_get("job_id")?, r.try_get("slice_index")?, r.try_get("enqueued_at")?))
            })
            .collect::<Result<Vec<_>>>()?;
        let won = self
            .claim_each(candidates, |(job, slice, at)| {
                sqlx::query(
                    "UPDATE replay_slices SET enqueued_at = UTC_TIMESTAMP(3) \
                     WHERE job_id = ? AND slice_index = ? AND enqueued_at = ? AND state = 'PENDING'",
                )
                .bind(job.as_str())
                .bind(*slice)
                .bind(*at)
            })
            .await?;
        Ok(won.into_iter().map(|(job, slice, _)| (JobId(job), slice as u32)).collect())
    }

    /// Active, enqueued jobs with slices still to start and none running or
    /// claimed: whatever started the next slice did not (a crash, a lost
    /// message). Their next slices are the sweeper's to claim.
    pub async fn stalled_jobs(&self, quiet_s: u32) -> Result<Vec<JobId>> {
        let ids: Vec<String> = sqlx::query_scalar(&format!(
            "SELECT j.id FROM replay_jobs j WHERE j.state IN {ACTIVE_STATES} AND j.enqueued_at IS NOT NULL \
             AND j.updated_at < UTC_TIMESTAMP(3) - INTERVAL ? SECOND \
             AND EXISTS (SELECT 1 FROM replay_slices s WHERE s.job_id = j.id AND s.state = 'PENDING' AND s.enqueued_at IS NULL) \
             AND NOT EXISTS (SELECT 1 FROM replay_slices s WHERE s.job_id = j.id \
               AND (s.state = 'RUNNING' OR (s.state = 'PENDING' AND s.enqueued_at IS NOT NULL))) LIMIT 100"
        ))
        .bind(quiet_s)
        .fetch_all(&self.pool)
        .await?;
        Ok(ids.into_iter().map(JobId).collect())
    }

    /// Slices left running of ended jobs (cancelled, or their pause
    /// expired) whose heartbeat is older than `quiet_s`: no live worker holds them.
    pub async fn dead_slices_of_ended_jobs(&self, quiet_s: u32) -> Result<Vec<(JobId, u32)>> {
        let rows = sqlx::query(
            "SELECT s.job_id, s.slice_index FROM replay_slices s JOIN replay_jobs j ON j.id = s.job_id \
             WHERE j.state IN ('CANCELLED','INCOMPLETE','COMPLETED','FAILED') AND s.state IN ('PENDING','RUNNING') \
             AND (s.heartbeat_at IS NULL OR s.heartbeat_at < UTC_TIMESTAMP(3) - INTERVAL ? SECOND) LIMIT 100",
        )
        .bind(quiet_s)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok((JobId(r.try_get("job_id")?), r.try_get::<i32, _>("slice_index")? as u32))).collect()
    }
}

#[async_trait]
impl SliceProgress for MySqlStore {
    async fn heartbeat(
        &self,
        job_id: &JobId,
        slice_index: u32,
        token: u64,
        c: &Counters,
        progressed: bool,
        pace: SlicePace,
    ) -> Result<Beat> {
        let sql = format!(
            "UPDATE replay_slices SET heartbeat_at = UTC_TIMESTAMP(3), {}, lease_token = ?, paused_until = NULL, \
             in_flight_limit = ?, pace_baseline_ms = ?, pace_at = UTC_TIMESTAMP(3), \
             restarts = IF(?, 0, restarts), restart_waiting = IF(?, FALSE, restart_waiting) \
             WHERE job_id = ? AND slice_index = ? AND state = 'RUNNING' AND lease_token <= ?",
            counters_set()
        );
        let mut q = sqlx::query(&sql);
        for v in counter_values(c) {
            q = q.bind(v);
        }
        let updated = q
            .bind(token as i64)
            .bind(pace.in_flight)
            .bind(pace.baseline_ms)
            .bind(progressed)
            .bind(progressed)
            .bind(job_id.as_str())
            .bind(slice_index as i32)
            .bind(token as i64)
            .execute(&self.pool)
            .await?;
        if updated.rows_affected() == 0 {
            // A newer holder, or the slice restarted or ended meanwhile
            // (the sweeper saw it stale): this run is no longer the slice's.
            let lost: Option<i32> = sqlx::query_scalar(
                "SELECT 1 FROM replay_slices WHERE job_id = ? AND slice_index = ? \
                 AND (lease_token > ? OR state <> 'RUNNING')",
            )
            .bind(job_id.as_str())
            .bind(slice_index as i32)
            .bind(token as i64)
            .fetch_optional(&self.pool)
            .await?;
            if lost.is_some() {
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
        let row = sqlx::query(&format!(
            "SELECT j.state, {} AS secrets_version FROM replay_jobs j \
             JOIN webhooks w ON w.id = COALESCE(j.target_webhook_id, j.webhook_id) WHERE j.id = ?",
            super::webhooks::SECRETS_VERSION
        ))
        .bind(job_id.as_str())
        .fetch_optional(&self.pool)
        .await?
        .ok_or(Error::NotFound)?;
        Ok(Beat {
            job_state: parse_state(&row.try_get::<String, _>("state")?)?,
            secrets_version: row.try_get("secrets_version")?,
        })
    }

    async fn record_failures(&self, job_id: &JobId, failures: &[FailedEvent]) -> Result<()> {
        self.insert_failures(job_id, failures).await
    }

    async fn record_found(&self, job_id: &JobId, event_ids: &[String]) -> Result<()> {
        self.insert_found(job_id, event_ids).await
    }
}
