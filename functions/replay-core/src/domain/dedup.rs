//! Duplicate suppression by `event_id` over a sliding look-back.
//!
//! Duplicates in the delivery log are usually minutes apart, so the set keeps
//! the ids first seen in the last `DEDUP_LOOKBACK_SECONDS` of log time: the
//! caller evicts what is older than the slice's watermark minus the
//! look-back (never by a single record's timestamp, which a broken clock
//! could put hours ahead). Copies closer than the look-back are always
//! caught; copies further apart may be delivered again (with the same
//! `webhook-id`, so receivers can still dedupe). The set is not stored in
//! checkpoints: a resumed slice rebuilds it by reading the look-back again,
//! so it is exact however many ids it holds.

use std::collections::{HashSet, VecDeque};
use xxhash_rust::xxh3::xxh3_64;

/// Bytes per entry of a version 1 checkpoint's set: hash (8) + timestamp (8).
const LEGACY_ENTRY_BYTES: usize = 16;

#[derive(Debug, Clone, Default)]
pub struct DedupWindow {
    /// First sightings in log order: (hash, record timestamp).
    order: VecDeque<(u64, i64)>,
    seen: HashSet<u64>,
}

pub fn event_hash(event_id: &str) -> u64 {
    xxh3_64(event_id.as_bytes())
}

impl DedupWindow {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a sighting; true if it is the first one the set knows of.
    pub fn first_sighting(&mut self, hash: u64, ts: i64) -> bool {
        if self.seen.insert(hash) {
            self.order.push_back((hash, ts));
            true
        } else {
            false
        }
    }

    pub fn contains(&self, hash: u64) -> bool {
        self.seen.contains(&hash)
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Forgets ids first seen before `cutoff` (in log order, so an entry with
    /// an out-of-order timestamp waits for the ones before it).
    pub fn evict_older_than(&mut self, cutoff: i64) {
        while let Some(&(hash, ts)) = self.order.front() {
            if ts >= cutoff {
                break;
            }
            self.order.pop_front();
            self.seen.remove(&hash);
        }
    }

    /// The set a version 1 checkpoint stored.
    pub fn from_legacy_bytes(bytes: &[u8]) -> Self {
        let mut window = Self::new();
        for chunk in bytes.chunks_exact(LEGACY_ENTRY_BYTES) {
            let mut hash = [0u8; 8];
            let mut ts = [0u8; 8];
            hash.copy_from_slice(&chunk[..8]);
            ts.copy_from_slice(&chunk[8..]);
            window.first_sighting(u64::from_le_bytes(hash), i64::from_le_bytes(ts));
        }
        window
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catches_copies_until_they_are_evicted() {
        let mut d = DedupWindow::new();
        let a = event_hash("a");
        assert!(d.first_sighting(a, 0));
        assert!(!d.first_sighting(a, 999));
        assert!(d.first_sighting(event_hash("b"), 1_500));
        d.evict_older_than(500);
        // `a` was first seen at 0, older than the cutoff: forgotten.
        assert!(d.first_sighting(a, 1_600));
        assert_eq!(d.len(), 2);
    }

    #[test]
    fn reads_a_version_1_set() {
        let mut bytes = Vec::new();
        for (id, ts) in [("x", 5i64), ("y", 7)] {
            bytes.extend_from_slice(&event_hash(id).to_le_bytes());
            bytes.extend_from_slice(&ts.to_le_bytes());
        }
        let d = DedupWindow::from_legacy_bytes(&bytes);
        assert!(d.contains(event_hash("x")) && d.contains(event_hash("y")));
        assert_eq!(d.len(), 2);
    }
}
