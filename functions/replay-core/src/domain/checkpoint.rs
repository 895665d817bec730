//! What a slice remembers between invocations, stored in DynamoDB.

use super::job::Counters;

/// Offsets of a slice's range in its partition, found once with
/// offsets-for-times and then fixed, so continuations read the same range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SliceRange {
    /// First offset of the dedup look-back (read, not delivered).
    pub lookback_offset: i64,
    /// First offset of the slice.
    pub start_offset: i64,
    /// One past the last offset of the slice.
    pub end_offset: i64,
}

#[derive(Debug, Clone, Default)]
pub struct Checkpoint {
    pub range: Option<SliceRange>,
    /// Next offset to read.
    pub next_offset: i64,
    pub dedup: Vec<u8>,
    pub counters: Counters,
    pub done: bool,
    /// Times the slice paused because its receiver looked down.
    pub pauses: u32,
}

/// A lease on a slice: who holds it and the fencing token every write must carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub owner: String,
    pub token: u64,
}
