//! `replayctl index`: the delivery log's index (docs/operations.md, "The
//! log's index"): how far behind the log it is, and rebuilding it.

use anyhow::Result;
use replay_core::adapters::kafka::KafkaLog;
use replay_core::adapters::mysql::{MySqlLogIndex, MySqlStore};
use replay_core::config::KafkaConfig;
use replay_core::domain::log_index::BLOCK_RECORDS;
use replay_core::ports::{DeliveryLog, LogIndex};
use replay_core::services::indexer::{index_log, IndexBudget, IndexReport};
use serde::Serialize;
use std::time::Duration;

/// A pass of the rebuild: long, since it runs here, not in the sweeper.
const REBUILD_PASS: Duration = Duration::from_secs(600);

#[derive(Debug, Serialize)]
pub struct PartitionStatus {
    partition: u32,
    /// The log's first retained offset and its end.
    log_low: i64,
    log_high: i64,
    /// Where the index ends (None: not indexed yet).
    indexed_to: Option<i64>,
    lag_records: i64,
}

#[derive(Debug, Serialize)]
pub struct Status {
    topic: String,
    partitions: Vec<PartitionStatus>,
    segments: u64,
    stored_bytes: u64,
}

pub struct Parts {
    log: KafkaLog,
    index: MySqlLogIndex,
}

impl Parts {
    pub async fn connect(database_url: &str) -> Result<Self> {
        let kafka = KafkaConfig::from_env()?;
        let index = MySqlLogIndex::new(MySqlStore::connect(database_url).await?, kafka.topic.clone());
        Ok(Self { log: KafkaLog::new(kafka)?, index })
    }

    pub async fn status(&self) -> Result<Status> {
        let mut partitions = Vec::new();
        for partition in 0..self.log.partition_count().await? {
            let (log_low, log_high) = self.log.watermarks(partition).await?;
            let indexed_to = self.index.tip(partition).await?.map(|t| t.end_offset);
            let lag_records = (log_high - indexed_to.unwrap_or(log_low).max(log_low)).max(0);
            partitions.push(PartitionStatus { partition, log_low, log_high, indexed_to, lag_records });
        }
        let (segments, stored_bytes) = self.index.size().await?;
        Ok(Status { topic: self.index.topic.clone(), partitions, segments, stored_bytes })
    }

    /// Deletes the index of `partition` (or every partition's) and, unless
    /// `drop_only`, indexes the log again from its start, pass after pass,
    /// until it has caught up with the log.
    pub async fn rebuild(&self, partition: Option<u32>, drop_only: bool) -> Result<Vec<IndexReport>> {
        let all: Vec<u32> = (0..self.log.partition_count().await?).collect();
        for p in partition.map_or(all, |p| vec![p]) {
            self.index.drop_partition(p).await?;
        }
        let mut passes = Vec::new();
        if drop_only {
            return Ok(passes);
        }
        loop {
            let budget = IndexBudget {
                block_records: block_records()?,
                ..IndexBudget::for_duration(u64::MAX / 4, REBUILD_PASS)
            };
            let pass = index_log(&self.log, &self.index, budget).await?;
            let (caught_up, stuck) = (pass.lag_records == 0, pass.records_indexed == 0);
            passes.push(pass);
            if caught_up || stuck {
                break;
            }
        }
        Ok(passes)
    }
}

/// The deployment's `INDEX_BLOCK_RECORDS`, as the sweeper reads it.
fn block_records() -> Result<usize> {
    match std::env::var("INDEX_BLOCK_RECORDS") {
        Ok(raw) => Ok(raw.parse::<usize>()?.clamp(1, 4_096)),
        Err(_) => Ok(BLOCK_RECORDS),
    }
}
