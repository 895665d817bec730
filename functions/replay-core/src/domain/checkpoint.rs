//! What a slice remembers between invocations, stored in DynamoDB
//! (docs/operations.md, "Formats and versions").

use super::job::Counters;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The checkpoint format this code writes; it also reads the previous one.
pub const CHECKPOINT_VERSION: u32 = 2;

/// One partition of a slice: where reading starts and ends, found once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionRange {
    pub partition: u32,
    /// First offset to read: the first at or after `from - look-back - skew`.
    pub scan_from: i64,
    /// The log's end when the range was found: reading never goes past it.
    pub end: i64,
}

/// The next record to read: a partition of the slice (its index in
/// `ranges`) and an offset in it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    pub partition: usize,
    pub offset: i64,
}

/// How an event beyond the checkpoint's position ended before the worker
/// stopped cleanly: a resumed slice takes it as settled, sends nothing again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    Delivered,
    Failed,
}

/// An event beyond the checkpoint's position still being retried when the
/// worker stopped: its retry budget goes on from there (docs/api.md).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retried {
    pub attempts: u32,
    /// How long it had been failing.
    pub failing_ms: u64,
}

#[derive(Debug, Clone, Default)]
pub struct Checkpoint {
    /// The format the item was read in (written: always CHECKPOINT_VERSION).
    pub version: u32,
    /// Empty until the slice's ranges were found.
    pub ranges: Vec<PartitionRange>,
    /// Everything before it is accounted for in `counters`.
    pub position: Position,
    /// The watermark at `position`: where the dedup set is rebuilt from.
    pub watermark: Option<i64>,
    pub counters: Counters,
    /// Events after `position` that were delivered or failed (a clean stop).
    pub ahead: Vec<(u64, Settled)>,
    /// Events after `position` still being retried, per event hash.
    pub retries: Vec<(u64, Retried)>,
    pub done: bool,
    /// Times the slice paused in a row because its receiver looked down.
    pub pauses: u32,
    /// A version 1 item's dedup set (hash and timestamp pairs), taken instead
    /// of a rebuild when such a slice resumes.
    pub legacy_dedup: Vec<u8>,
    /// A dry run's tally of the events it would deliver, up to `position`.
    pub tally: Tally,
    /// Failures this checkpoint counts that the failure list may not hold
    /// yet: listed once the checkpoint is saved under the lease, and again
    /// by the next run if the worker stopped before (docs/guarantees.md,
    /// "Leases, heartbeats and time").
    pub unlisted: Vec<FailedEvent>,
}

/// An event that finally failed, for the job's report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedEvent {
    pub event_id: String,
    pub event_type: String,
    pub attempts: u32,
    pub last_status: Option<u16>,
    pub error: String,
}

/// What a dry run would deliver: events by type and their payload bytes.
/// Types beyond [`Tally::MAX_TYPES`] are counted under `(other)`, and a type
/// name is cut to [`Tally::MAX_TYPE_JSON_BYTES`], so a tally always fits the
/// slice's `tally` column (TEXT, 64 KiB) and its checkpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    pub by_event_type: BTreeMap<String, u64>,
    pub payload_bytes: u64,
}

impl Tally {
    pub const MAX_TYPES: usize = 200;
    /// Longest type name kept, measured as JSON text (escapes included): 201
    /// of them with their counts stay under 64 KiB.
    pub const MAX_TYPE_JSON_BYTES: usize = 256;

    pub fn is_empty(&self) -> bool {
        self.by_event_type.is_empty() && self.payload_bytes == 0
    }

    pub fn count(&mut self, event_type: &str, bytes: u64) {
        let event_type = &*bounded_type(event_type);
        let key = if self.by_event_type.len() < Self::MAX_TYPES || self.by_event_type.contains_key(event_type) {
            event_type
        } else {
            "(other)"
        };
        *self.by_event_type.entry(key.to_owned()).or_default() += 1;
        self.payload_bytes += bytes;
    }

    pub fn add(&mut self, other: &Tally) {
        for (t, n) in &other.by_event_type {
            *self.by_event_type.entry(t.clone()).or_default() += n;
        }
        self.payload_bytes += other.payload_bytes;
    }
}

/// `name` as it is when its JSON text fits [`Tally::MAX_TYPE_JSON_BYTES`],
/// else its longest prefix that does, marked with `…`.
fn bounded_type(name: &str) -> std::borrow::Cow<'_, str> {
    let plain = |b: u8| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\';
    if name.len() + 2 <= Tally::MAX_TYPE_JSON_BYTES && name.bytes().all(plain) {
        return name.into();
    }
    let json_len = |s: &str| serde_json::to_string(s).map_or(usize::MAX, |j| j.len());
    if json_len(name) <= Tally::MAX_TYPE_JSON_BYTES {
        return name.into();
    }
    let mut cut = String::new();
    for c in name.chars() {
        cut.push(c);
        if json_len(&cut) + '…'.len_utf8() > Tally::MAX_TYPE_JSON_BYTES {
            cut.pop();
            break;
        }
    }
    cut.push('…');
    cut.into()
}

impl Checkpoint {
    pub fn started(&self) -> bool {
        !self.ranges.is_empty()
    }
}

/// A lease on a slice: who holds it and the fencing token every write must carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub owner: String,
    pub token: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tally_of_the_most_types_of_any_names_fits_its_column() {
        let mut tally = Tally::default();
        for i in 0..Tally::MAX_TYPES + 50 {
            // Long names, and names that JSON escapes six bytes a character.
            let name =
                if i % 2 == 0 { format!("{i}{}", "t".repeat(10_000)) } else { format!("{i}{}", "\u{1}".repeat(500)) };
            tally.count(&name, 10);
        }
        tally.count("tweet_create_events", 1);
        let json = serde_json::to_string(&tally).unwrap();
        assert!(json.len() <= 65_535, "{} bytes", json.len());
        assert_eq!(tally.by_event_type.len(), Tally::MAX_TYPES + 1, "the rest under (other)");
        assert_eq!(tally.by_event_type.values().sum::<u64>(), Tally::MAX_TYPES as u64 + 51);
        assert!(tally
            .by_event_type
            .keys()
            .all(|k| serde_json::to_string(k).unwrap().len() <= Tally::MAX_TYPE_JSON_BYTES));
        // Ordinary names are kept as they are.
        let mut plain = Tally::default();
        plain.count("tweet_create_events", 1);
        assert!(plain.by_event_type.contains_key("tweet_create_events"));
    }
}
