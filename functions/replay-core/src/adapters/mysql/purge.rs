//! Ended jobs age out (docs/operations.md, "Data that ages out"): deleted in
//! bounded batches, each a short transaction of its own, so a purge never
//! holds a lock a running job needs for long. A job that has not ended is
//! never chosen, and the delete checks it again.

use super::MySqlStore;
use crate::error::Result;
use std::time::Duration;

/// The states a job never leaves.
const ENDED_STATES: &str = "('COMPLETED','INCOMPLETE','FAILED','CANCELLED')";

impl MySqlStore {
    /// Deletes up to `limit` jobs that ended more than `retention` ago, with
    /// their slices, failure rows and found events (the tables' cascades);
    /// a job's idempotency key is a column of its row and goes with it. A job
    /// whose retry is still running stays: the retry's slices read its
    /// failure list. Returns how many jobs went.
    pub async fn purge_ended_jobs(&self, retention: Duration, limit: u32) -> Result<u32> {
        let retention_s = retention.as_secs();
        let ids: Vec<String> = sqlx::query_scalar(&format!(
            "SELECT id FROM replay_jobs j WHERE state IN {ENDED_STATES} \
             AND updated_at < UTC_TIMESTAMP(3) - INTERVAL ? SECOND \
             AND NOT EXISTS (SELECT 1 FROM replay_jobs r WHERE r.retry_of = j.id AND r.state NOT IN {ENDED_STATES}) \
             ORDER BY updated_at LIMIT ?"
        ))
        .bind(retention_s)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        if ids.is_empty() {
            return Ok(0);
        }
        let placeholders = vec!["?"; ids.len()].join(", ");
        // Checked again: a retry may have started since the SELECT. The
        // derived table is materialised first (MySQL refuses a subquery on
        // the table a DELETE deletes from).
        let sql = format!(
            "DELETE FROM replay_jobs WHERE id IN ({placeholders}) AND state IN {ENDED_STATES} \
             AND updated_at < UTC_TIMESTAMP(3) - INTERVAL ? SECOND \
             AND id NOT IN (SELECT retry_of FROM (SELECT retry_of FROM replay_jobs \
             WHERE retry_of IS NOT NULL AND state NOT IN {ENDED_STATES}) AS running_retries)"
        );
        let mut query = sqlx::query(&sql);
        for id in &ids {
            query = query.bind(id);
        }
        let deleted = query.bind(retention_s).execute(self.pool()).await?.rows_affected();
        Ok(deleted as u32)
    }
}
