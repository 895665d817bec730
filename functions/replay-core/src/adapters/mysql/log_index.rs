//! `log_index_segments`: the log's index (domain/log_index.rs), one row per
//! segment of blocks, keyed by topic, partition and first offset.

use super::MySqlStore;
use crate::domain::log_index::IndexSegment;
use crate::error::{Error, Result};
use crate::ports::{IndexTip, LogIndex};
use async_trait::async_trait;
use sqlx::Row;

/// The index of one topic's partitions.
#[derive(Clone)]
pub struct MySqlLogIndex {
    pub store: MySqlStore,
    pub topic: String,
}

impl MySqlLogIndex {
    pub fn new(store: MySqlStore, topic: impl Into<String>) -> Self {
        Self { store, topic: topic.into() }
    }

    /// Rows and stored bytes of the index (operations, the bench).
    pub async fn size(&self) -> Result<(u64, u64)> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, CAST(COALESCE(SUM(LENGTH(blocks)), 0) AS SIGNED) AS bytes \
             FROM log_index_segments WHERE topic = ?",
        )
        .bind(&self.topic)
        .fetch_one(self.store.pool())
        .await?;
        Ok((row.try_get::<i64, _>("n")?.max(0) as u64, row.try_get::<i64, _>("bytes")?.max(0) as u64))
    }
}

#[async_trait]
impl LogIndex for MySqlLogIndex {
    async fn segments(&self, partition: u32, from: i64, end: i64) -> Result<Vec<IndexSegment>> {
        let rows = sqlx::query(
            "SELECT blocks FROM log_index_segments \
             WHERE topic = ? AND partition_no = ? AND end_offset > ? AND first_offset < ? ORDER BY first_offset",
        )
        .bind(&self.topic)
        .bind(partition as i32)
        .bind(from)
        .bind(end)
        .fetch_all(self.store.pool())
        .await?;
        rows.iter()
            .map(|row| {
                let bytes: Vec<u8> = row.try_get("blocks")?;
                IndexSegment::decode(partition, &bytes)
                    .map_err(|e| Error::Internal(format!("a segment of the log's index does not decode: {e}")))
            })
            .collect()
    }

    async fn tip(&self, partition: u32) -> Result<Option<IndexTip>> {
        let row = sqlx::query(
            "SELECT end_offset, last_record, last_ts, records FROM log_index_segments \
             WHERE topic = ? AND partition_no = ? ORDER BY end_offset DESC LIMIT 1",
        )
        .bind(&self.topic)
        .bind(partition as i32)
        .fetch_optional(self.store.pool())
        .await?;
        row.map(|row| -> Result<IndexTip> {
            let records: i32 = row.try_get("records")?;
            let last = (row.try_get::<i64, _>("last_record")?, row.try_get::<i64, _>("last_ts")?);
            Ok(IndexTip { end_offset: row.try_get("end_offset")?, last_record: (records > 0).then_some(last) })
        })
        .transpose()
    }

    async fn put(&self, segment: &IndexSegment) -> Result<()> {
        let (last_record, last_ts) = segment.last_record().unwrap_or((segment.first_offset(), 0));
        sqlx::query(
            "REPLACE INTO log_index_segments (topic, partition_no, first_offset, end_offset, last_record, last_ts, \
             records, min_ts, max_ts, blocks, written_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, UTC_TIMESTAMP(3))",
        )
        .bind(&self.topic)
        .bind(segment.partition as i32)
        .bind(segment.first_offset())
        .bind(segment.end_offset())
        .bind(last_record)
        .bind(last_ts)
        .bind(segment.records() as i32)
        .bind(segment.min_ts().unwrap_or(0))
        .bind(segment.max_ts().unwrap_or(0))
        .bind(segment.encode())
        .execute(self.store.pool())
        .await?;
        Ok(())
    }

    async fn purge_before(&self, partition: u32, offset: i64) -> Result<u64> {
        let done =
            sqlx::query("DELETE FROM log_index_segments WHERE topic = ? AND partition_no = ? AND end_offset <= ?")
                .bind(&self.topic)
                .bind(partition as i32)
                .bind(offset)
                .execute(self.store.pool())
                .await?;
        Ok(done.rows_affected())
    }

    async fn drop_partition(&self, partition: u32) -> Result<u64> {
        let done = sqlx::query("DELETE FROM log_index_segments WHERE topic = ? AND partition_no = ?")
            .bind(&self.topic)
            .bind(partition as i32)
            .execute(self.store.pool())
            .await?;
        Ok(done.rows_affected())
    }
}
