//! Duplicate suppression by `event_id` over a sliding time window.
//!
//! Duplicates in the delivery log are usually minutes apart, so the set only
//! keeps ids first seen within `horizon_ms` of the newest record: memory and
//! checkpoint size stay bounded however long the slice. Copies closer than the
//! horizon are always caught; copies further apart may be delivered again
//! (with the same `webhook-id`, so receivers can still dedupe).

use std::collections::{HashSet, VecDeque};
use xxhash_rust::xxh3::xxh3_64;

/// Bytes per entry in the serialized form: hash (8) + timestamp (8).
const ENTRY_BYTES: usize = 16;

#[derive(Debug, Clone, Default)]
pub struct DedupWindow {
    horizon_ms: i64,
    /// First sightings in log order: (hash, record timestamp).
    order: VecDeque<(u64, i64)>,
    seen: HashSet<u64>,
}

pub fn event_hash(event_id: &str) -> u64 {
    xxh3_64(event_id.as_bytes())
}

impl DedupWindow {
    pub fn new(horizon_ms: i64) -> Self {
        Self { horizon_ms, order: VecDeque::new(), seen: HashSet::new() }
    }

    /// Records a sighting at `ts`; true if this is the first one in the window.
    pub fn first_sighting(&mut self, hash: u64, ts: i64) -> bool {
        self.evict_older_than(ts - self.horizon_ms);
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

    fn evict_older_than(&mut self, cutoff: i64) {
        while let Some(&(hash, ts)) = self.order.front() {
            if ts >= cutoff {
                break;
            }
            self.order.pop_front();
            self.seen.remove(&hash);
        }
    }

    /// Serializes the newest entries that fit in `max_bytes` (checkpoint items
    /// have a size limit); returns the bytes and how many old entries were left out.
    pub fn to_bytes(&self, max_bytes: usize) -> (Vec<u8>, usize) {
        let keep = (max_bytes / ENTRY_BYTES).min(self.order.len());
        let skipped = self.order.len() - keep;
        let mut out = Vec::with_capacity(keep * ENTRY_BYTES);
        for &(hash, ts) in self.order.iter().skip(skipped) {
            out.extend_from_slice(&hash.to_le_bytes());
            out.extend_from_slice(&ts.to_le_bytes());
        }
        (out, skipped)
    }

    pub fn from_bytes(horizon_ms: i64, bytes: &[u8]) -> Self {
        let mut window = Self::new(horizon_ms);
        for chunk in bytes.chunks_exact(ENTRY_BYTES) {
            let mut hash = [0u8; 8];
            let mut ts = [0u8; 8];
            hash.copy_from_slice(&chunk[..8]);
            ts.copy_from_slice(&chunk[8..]);
            let hash = u64::from_le_bytes(hash);
            if window.seen.insert(hash) {
                window.order.push_back((hash, i64::from_le_bytes(ts)));
            }
        }
        window
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catches_duplicates_within_the_horizon_only() {
        let mut d = DedupWindow::new(1_000);
        let a = event_hash("a");
        assert!(d.first_sighting(a, 0));
        assert!(!d.first_sighting(a, 999));
        assert!(d.first_sighting(event_hash("b"), 1_500));
        // `a` was first seen at 0, now older than 1_500 - 1_000: evicted.
        assert!(d.first_sighting(a, 1_500));
    }

    #[test]
    fn round_trips_and_truncates_oldest_first() {
        let mut d = DedupWindow::new(1_000_000);
        for i in 0..10 {
            d.first_sighting(event_hash(&i.to_string()), i);
        }
        let (bytes, skipped) = d.to_bytes(usize::MAX);
        assert_eq!(skipped, 0);
        let back = DedupWindow::from_bytes(1_000_000, &bytes);
        assert_eq!(back.len(), 10);
        assert!(back.contains(event_hash("3")));

        let (bytes, skipped) = d.to_bytes(ENTRY_BYTES * 4);
        assert_eq!(skipped, 6);
        let back = DedupWindow::from_bytes(1_000_000, &bytes);
        assert!(!back.contains(event_hash("5")));
        assert!(back.contains(event_hash("6")));
        assert!(back.contains(event_hash("9")));
    }
}
