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
}
