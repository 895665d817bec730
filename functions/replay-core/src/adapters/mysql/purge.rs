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
    /// a job's idempotency key is a column of its row and goes with it.
    /// Returns how many jobs went.
    pub async fn purge_ended_jobs(&self, retention: Duration, limit: u32) -> Result<u32> {
        let retention_s = retention.as_secs();
        let ids: Vec<String> = sqlx::query_scalar(&format!(
            "SELECT id FROM replay_jobs WHERE state IN {ENDED_STATES} \
             AND updated_at < UTC_TIMESTAMP(3) - INTERVAL ? SECOND ORDER BY updated_at LIMIT ?"
        ))
        .bind(retention_s)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        if ids.is_empty() {
            return Ok(0);
        }
        let placeholders = vec!["?"; ids.len()].join(", ");
        let sql = format!(
            "DELETE FROM replay_jobs WHERE id IN ({placeholders}) AND state IN {ENDED_STATES} \
             AND updated_at < UTC_TIMESTAMP(3) - INTERVAL ? SECOND"
        );
        let mut query = sqlx::query(&sql);
        for id in &ids {
            query = query.bind(id);
        }
        let deleted = query.bind(retention_s).execute(self.pool()).await?.rows_affected();
        Ok(deleted as u32)
    }
}
