//! Kafka's default keyed partitioner, the Java client's `BuiltInPartitioner`:
//! `(murmur2(key) & 0x7fffffff) % partitions`. The replay computes the same
//! function to find a webhook's partition (docs/delivery-log.md), so every
//! producer must agree with it byte for byte.
//!
//! The replay itself uses this very function (`replay_core::domain::partitioner`
//! re-exports it): writer and reader cannot drift apart. Tested against the
//! values published in Kafka's own `UtilsTest#testMurmur2`.

/// Kafka's murmur2 (`org.apache.kafka.common.utils.Utils#murmur2`), seed `0x9747b28c`.
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let mut h: u32 = SEED ^ (data.len() as u32);
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
    // Java's switch falls through from 3 to 1; its bytes are sign-extended
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

/// The partition of `key` in a topic of `partitions` partitions:
/// `(murmur2(key) & 0x7fffffff) % partitions`, as Kafka's `BuiltInPartitioner`
/// (and librdkafka's `murmur2_random` for non-null keys).
///
/// # Panics
/// If `partitions` is zero (a topic has at least one partition).
pub fn partition_for_key(key: &[u8], partitions: u32) -> u32 {
    assert!(partitions > 0, "a topic has at least one partition");
    ((murmur2(key) & 0x7fff_ffff) as u32) % partitions
}

#[cfg(test)]
mod tests {
    use super::*;

    // Values published in Kafka's own UtilsTest#testMurmur2.
    #[test]
    fn matches_the_java_clients_published_values() {
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
    fn partitions_are_the_positive_hash_modulo_the_count() {
        // -973932308 & 0x7fffffff = 1173551340; % 10 = 0
        assert_eq!(partition_for_key(b"21", 10), 0);
        assert_eq!(partition_for_key(b"foobar", 16), (-790_332_482i32 & 0x7fff_ffff) as u32 % 16);
        assert_eq!(partition_for_key(b"abc", 6), 479_470_107 % 6);
        for i in 0..1000 {
            assert!(partition_for_key(format!("wh_{i}").as_bytes(), 7) < 7);
        }
        assert_eq!(partition_for_key(b"anything", 1), 0);
    }

    #[test]
    #[should_panic(expected = "at least one partition")]
    fn a_topic_without_partitions_is_a_bug() {
        partition_for_key(b"wh", 0);
    }
}
