//! Kafka's default keyed partitioner (the Java client's), so that the replay
//! side finds the partition any producer wrote a webhook's events to. The
//! function is the producer library's own: the log's writer and its reader
//! share one implementation (tested there against Kafka's published values).

pub use activity_replay_producer::partitioner::{murmur2, partition_for_key};

/// Every partition `key` lived in during `[from, to)`, oldest first, from the
/// topic's partition counts and when each was first seen (epoch ms). A count
/// is taken to apply from `margin_ms` before it was seen (it is seen late) to
/// `margin_ms` after the next one was (producers refresh their metadata
/// late). Without history, the current count.
pub fn partitions_over(
    key: &[u8],
    history: &[(u32, i64)],
    current: u32,
    from: i64,
    to: i64,
    margin_ms: i64,
) -> Vec<u32> {
    let mut out = Vec::new();
    if history.is_empty() {
        out.push(partition_for_key(key, current));
        return out;
    }
    for (i, &(count, seen)) in history.iter().enumerate() {
        let starts = if i == 0 { i64::MIN } else { seen - margin_ms };
        let ends = history.get(i + 1).map_or(i64::MAX, |&(_, next)| next.saturating_add(margin_ms));
        if starts < to && ends > from {
            let p = partition_for_key(key, count);
            if !out.contains(&p) {
                out.push(p);
            }
        }
    }
    let newest = history.last().map_or(current, |&(count, _)| count);
    if newest != current {
        // A change nobody recorded yet: the window may end on the new count.
        let p = partition_for_key(key, current);
        if !out.contains(&p) {
            out.push(p);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_across_a_partition_change_reads_both_partitions() {
        // A key that moves when the topic goes from 2 to 5 partitions.
        let key = (0..1000)
            .map(|i| format!("wh_{i}"))
            .find(|k| partition_for_key(k.as_bytes(), 2) != partition_for_key(k.as_bytes(), 5))
            .unwrap();
        let (old, new) = (partition_for_key(key.as_bytes(), 2), partition_for_key(key.as_bytes(), 5));
        let history = [(2, 0), (5, 10_000_000)];
        let m = 600_000;
        assert_eq!(partitions_over(key.as_bytes(), &history, 5, 1_000_000, 2_000_000, m), vec![old]);
        assert_eq!(partitions_over(key.as_bytes(), &history, 5, 9_000_000, 11_000_000, m), vec![old, new]);
        assert_eq!(partitions_over(key.as_bytes(), &history, 5, 20_000_000, 21_000_000, m), vec![new]);
        // Within the margin after the change, old producers may still write the old partition.
        assert_eq!(partitions_over(key.as_bytes(), &history, 5, 10_300_000, 10_400_000, m), vec![old, new]);
        assert_eq!(partitions_over(key.as_bytes(), &[], 5, 0, 1, m), vec![new]);
    }
}
