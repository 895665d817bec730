//! The log's index in memory, for unit tests and the simulation.

use super::lock;
use crate::domain::log_index::IndexSegment;
use crate::error::Result;
use crate::ports::{IndexTip, LogIndex};
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::sync::Mutex;

#[derive(Default)]
pub struct MemoryLogIndex {
    /// Per partition, segments by first offset.
    segments: Mutex<BTreeMap<u32, BTreeMap<i64, IndexSegment>>>,
}

impl MemoryLogIndex {
    /// Every stored segment of a partition, in offset order (for tests that
    /// damage the index).
    pub fn all(&self, partition: u32) -> Vec<IndexSegment> {
        lock(&self.segments).get(&partition).map(|s| s.values().cloned().collect()).unwrap_or_default()
    }

    /// Replaces a partition's segments (a test's damaged index).
    pub fn replace(&self, partition: u32, segments: Vec<IndexSegment>) {
        let by_offset = segments.into_iter().map(|s| (s.first_offset(), s)).collect();
        lock(&self.segments).insert(partition, by_offset);
    }
}

#[async_trait]
impl LogIndex for MemoryLogIndex {
    async fn segments(&self, partition: u32, from: i64, end: i64) -> Result<Vec<IndexSegment>> {
        let all = lock(&self.segments);
        let Some(segments) = all.get(&partition) else { return Ok(Vec::new()) };
        Ok(segments.values().filter(|s| s.end_offset() > from && s.first_offset() < end).cloned().collect())
    }

    async fn tip(&self, partition: u32) -> Result<Option<IndexTip>> {
        let all = lock(&self.segments);
        // As MySQL orders them: the segment that ends last.
        let last = all.get(&partition).and_then(|s| s.values().max_by_key(|s| s.end_offset()));
        Ok(last.map(|s| IndexTip { end_offset: s.end_offset(), last_record: s.last_record() }))
    }

    async fn put(&self, segment: &IndexSegment) -> Result<()> {
        let mut all = lock(&self.segments);
        all.entry(segment.partition).or_default().insert(segment.first_offset(), segment.clone());
        Ok(())
    }

    async fn purge_before(&self, partition: u32, offset: i64) -> Result<u64> {
        let mut all = lock(&self.segments);
        let Some(segments) = all.get_mut(&partition) else { return Ok(0) };
        let before = segments.len();
        segments.retain(|_, s| s.end_offset() > offset);
        Ok((before - segments.len()) as u64)
    }

    async fn drop_partition(&self, partition: u32) -> Result<u64> {
        Ok(lock(&self.segments).remove(&partition).map_or(0, |s| s.len() as u64))
    }
}
