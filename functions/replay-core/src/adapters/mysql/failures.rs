//! `replay_failures`: every event that finally failed, for the job's report
//! and its retry; `replay_found_events`: the requested `event_ids` a job's
//! slices found (the others are its `not_found`).

use super::{format_time, MySqlStore};
use crate::domain::ids::JobId;
use crate::error::Result;
use crate::ports::FailedEvent;
use replay_types::Failure;
use sqlx::Row;

impl MySqlStore {
    /// Idempotent: a failure recorded again (a resumed slice) replaces the row.
    pub async fn insert_failures(&self, job_id: &JobId, failures: &[FailedEvent]) -> Result<()> {
        for chunk in failures.chunks(200) {
            let mut sql = String::from(
                "INSERT INTO replay_failures (job_id, event_id, event_type, last_status, last_error, attempts, failed_at) \
                 VALUES ",
            );
            sql.push_str(&vec!["(?, ?, ?, ?, ?, ?, UTC_TIMESTAMP(3))"; chunk.len()].join(", "));
            sql.push_str(
                " ON DUPLICATE KEY UPDATE event_type = VALUES(event_type), last_status = VALUES(last_status), \
                 last_error = VALUES(last_error), attempts = VALUES(attempts), failed_at = VALUES(failed_at)",
            );
            let mut q = sqlx::query(&sql);
            for f in chunk {
                q = q
                    .bind(job_id.as_str())
                    .bind(&f.event_id)
                    .bind((!f.event_type.is_empty()).then(|| f.event_type.chars().take(255).collect::<String>()))
                    .bind(f.last_status.map(i32::from))
                    .bind(f.error.chars().take(500).collect::<String>())
                    .bind(f.attempts as i32);
            }
            q.execute(&self.pool).await?;
        }
        Ok(())
    }

    pub async fn failures(&self, job_id: &JobId) -> Result<Vec<FailedEvent>> {
        let rows = sqlx::query(
            "SELECT event_id, event_type, attempts, last_status, last_error FROM replay_failures WHERE job_id = ? \
             ORDER BY failed_at, event_id",
        )
        .bind(job_id.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(FailedEvent {
                    event_id: r.try_get("event_id")?,
                    event_type: r.try_get::<Option<String>, _>("event_type")?.unwrap_or_default(),
                    attempts: r.try_get::<i32, _>("attempts")? as u32,
                    last_status: r.try_get::<Option<i32>, _>("last_status")?.map(|s| s as u16),
                    error: r.try_get::<Option<String>, _>("last_error")?.unwrap_or_default(),
                })
            })
            .collect()
    }

    /// Up to `limit` failures after event id `after`, in event id order (the
    /// primary key's: pages never skip or repeat a row).
    pub async fn failure_page(&self, job_id: &JobId, after: Option<&str>, limit: u32) -> Result<Vec<Failure>> {
        let rows = sqlx::query(
            "SELECT event_id, event_type, attempts, last_status, last_error, failed_at FROM replay_failures \
             WHERE job_id = ? AND event_id > ? ORDER BY event_id LIMIT ?",
        )
        .bind(job_id.as_str())
        .bind(after.unwrap_or(""))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Failure {
                    event_id: r.try_get("event_id")?,
                    event_type: r.try_get("event_type")?,
                    attempts: r.try_get::<i32, _>("attempts")?.max(0) as u32,
                    last_status: r.try_get::<Option<i32>, _>("last_status")?.map(|s| s as u16),
                    last_error: r.try_get::<Option<String>, _>("last_error")?.unwrap_or_default(),
                    at: format_time(r.try_get("failed_at")?),
                })
            })
            .collect()
    }

    /// Every failed event id of a job (what its retry delivers).
    pub async fn failure_count(&self, job_id: &JobId) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM replay_failures WHERE job_id = ?")
            .bind(job_id.as_str())
            .fetch_one(&self.pool)
            .await?;
        Ok(n.max(0) as u64)
    }

    pub async fn failed_event_ids(&self, job_id: &JobId) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar("SELECT event_id FROM replay_failures WHERE job_id = ? ORDER BY event_id")
            .bind(job_id.as_str())
            .fetch_all(&self.pool)
            .await?)
    }

    /// Records requested event ids a slice found; idempotent.
    pub async fn insert_found(&self, job_id: &JobId, event_ids: &[String]) -> Result<()> {
        for chunk in event_ids.chunks(500) {
            let mut sql = String::from("INSERT IGNORE INTO replay_found_events (job_id, event_id) VALUES ");
            sql.push_str(&vec!["(?, ?)"; chunk.len()].join(", "));
            let mut q = sqlx::query(&sql);
            for id in chunk {
                q = q.bind(job_id.as_str()).bind(id);
            }
            q.execute(&self.pool).await?;
        }
        Ok(())
    }
}
