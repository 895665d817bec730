//! Kafka's default keyed partitioner (the Java client's), so that the replay
//! side finds the partition any producer wrote a webhook's events to.

/// Kafka's murmur2 (org.apache.kafka.common.utils.Utils#murmur2), seed 0x9747b28c.
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let length = data.len();
    let mut h: u32 = SEED ^ (length as u32);
    let chunks = data.chunks_exact(4);
    let tail = chunks.remainder();
    for chunk in chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    // Java's switch falls through from 3 to 1; bytes are sign-extended there
    // but only the low 8 bits survive the `& 0xff`.
    if tail.len() >= 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if !tail.is_empty() {
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// `(murmur2(key) & 0x7fffffff) % partitions`, as Kafka's `BuiltInPartitioner`.
pub fn partition_for_key(key: &[u8], partitions: u32) -> u32 {
    assert!(partitions > 0, "a topic has at least one partition");
    ((murmur2(key) & 0x7fff_ffff) as u32) % partitions
}

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

    // Values published in Kafka's own UtilsTest#testMurmur2.
    #[test]
    fn matches_java_client_published_values() {
        let cases: &[(&[u8], i32)] = &[
            (b"21", -973_932_308),
            (b"foobar", -790_332_482),
            (b"a-little-bit-long-string", -985_981_536),
            (b"a-little-bit-longer-string", -1_486_304_829),
            (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58_897_971),
            (b"abc", 479_470_107),
        ];
        for (key, expected) in cases {
            assert_eq!(murmur2(key), *expected, "key {:?}", String::from_utf8_lossy(key));
        }
    }

    #[test]
    fn partition_is_non_negative_and_in_range() {
        for i in 0..1000 {
            let key = format!("wh_{i}");
            let p = partition_for_key(key.as_bytes(), 7);
            assert!(p < 7);
        }
        // -973932308 & 0x7fffffff = 1173551340; % 10 = 0
        assert_eq!(partition_for_key(b"21", 10), 0);
        assert_eq!(partition_for_key(b"foobar", 16), (-790_332_482i32 & 0x7fff_ffff) as u32 % 16);
    }

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
