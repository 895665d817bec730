//! `topic_partition_counts`: the delivery log's partition counts and when each
//! was first seen, so a window is read on every partition its key lived in.

use super::MySqlStore;
use crate::error::Result;
use sqlx::Row;

impl MySqlStore {
    /// Records a partition count seen now. The first count ever recorded for a
    /// topic stands for all time before it.
    pub async fn record_partition_count(&self, topic: &str, partitions: u32) -> Result<()> {
        sqlx::query(
            "INSERT IGNORE INTO topic_partition_counts (topic, partitions, seen_at) \
             SELECT ?, ?, IF(EXISTS (SELECT 1 FROM topic_partition_counts WHERE topic = ?), UTC_TIMESTAMP(3), \
             '1970-01-01 00:00:00.000')",
        )
        .bind(topic)
        .bind(partitions as i32)
        .bind(topic)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// (partition count, first seen in epoch ms), oldest first.
    pub async fn partition_history(&self, topic: &str) -> Result<Vec<(u32, i64)>> {
        let rows = sqlx::query(
            "SELECT partitions, CAST(TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', seen_at) DIV 1000 AS SIGNED) AS seen_ms \
             FROM topic_partition_counts WHERE topic = ? ORDER BY seen_at, partitions",
        )
        .bind(topic)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok((r.try_get::<i32, _>("partitions")? as u32, r.try_get::<i64, _>("seen_ms")?))).collect()
    }
}
