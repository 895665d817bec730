//! `replay_failures`: every event that finally failed, for the job's report.

use super::MySqlStore;
use crate::domain::ids::JobId;
use crate::error::Result;
use crate::ports::FailedEvent;
use sqlx::Row;

impl MySqlStore {
    /// Idempotent: a failure recorded again (a resumed slice) replaces the row.
    pub async fn insert_failures(&self, job_id: &JobId, failures: &[FailedEvent]) -> Result<()> {
        for chunk in failures.chunks(200) {
            let mut sql = String::from(
                "INSERT INTO replay_failures (job_id, event_id, last_status, last_error, attempts, failed_at) VALUES ",
            );
            sql.push_str(&vec!["(?, ?, ?, ?, ?, UTC_TIMESTAMP(3))"; chunk.len()].join(", "));
            sql.push_str(
                " ON DUPLICATE KEY UPDATE last_status = VALUES(last_status), last_error = VALUES(last_error), \
                 attempts = VALUES(attempts), failed_at = VALUES(failed_at)",
            );
            let mut q = sqlx::query(&sql);
            for f in chunk {
                q = q
                    .bind(job_id.as_str())
                    .bind(&f.event_id)
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
            "SELECT event_id, attempts, last_status, last_error FROM replay_failures WHERE job_id = ? ORDER BY failed_at, event_id",
        )
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
}
