//! Kafka's default partitioning, so records with a key land in the same
//! partition whichever client (Java, librdkafka's `murmur2_random`, Weir)
//! produced them.

use std::collections::HashMap;
use std::sync::Mutex;
use weir_protocol::TopicPartition;

/// Kafka's `Utils.murmur2` (MurmurHash2, seed 0x9747b28c).
pub fn murmur2(data: &[u8]) -> i32 {
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let len = data.len();
    let mut h: u32 = 0x9747_b28c ^ (len as u32);
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        for (i, b) in tail.iter().enumerate().rev() {
            h ^= u32::from(*b) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition Kafka's default partitioner gives a key.
pub fn partition_for_key(key: &[u8], num_partitions: usize) -> i32 {
    let positive = (murmur2(key) & 0x7fff_ffff) as usize;
    (positive % num_partitions.max(1)) as i32
}

/// Keyless records stick to one partition until about a batch worth of
/// bytes went there, then move on (KIP-794's uniform sticky partitioner),
/// so they fill batches instead of scattering one record per partition.
#[derive(Debug)]
pub(crate) struct Partitioner {
    batch_size: usize,
    sticky: Mutex<HashMap<String, (i32, usize)>>,
}

impl Partitioner {
    pub(crate) fn new(batch_size: usize) -> Partitioner {
        Partitioner {
            batch_size: batch_size.max(1),
            sticky: Mutex::default(),
        }
    }

    pub(crate) fn partition(&self, topic: &str, key: Option<&[u8]>, num_partitions: usize) -> i32 {
        if let Some(key) = key {
            return partition_for_key(key, num_partitions);
        }
        let mut sticky = self.sticky.lock().unwrap_or_else(|e| e.into_inner());
        let entry = sticky.entry(topic.to_owned()).or_insert((0, 0));
        if entry.0 as usize >= num_partitions.max(1) {
            *entry = (0, 0);
        }
        entry.0
    }

    /// Count `bytes` sent to `tp`; past `batch.size`, keyless records move
    /// to the next partition.
    pub(crate) fn note_sent(&self, tp: &TopicPartition, bytes: usize) {
        let mut sticky = self.sticky.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = sticky.get_mut(&tp.topic).filter(|e| e.0 == tp.partition) {
            entry.1 += bytes;
            if entry.1 >= self.batch_size {
                *entry = (entry.0 + 1, 0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_matches_kafkas_test_vectors() {
        // From Kafka's UtilsTest.testMurmur2.
        assert_eq!(murmur2(b"21"), -973932308);
        assert_eq!(murmur2(b"foobar"), -790332482);
        assert_eq!(murmur2(b"a-little-bit-long-string"), -985981536);
        assert_eq!(murmur2(b"a-little-bit-longer-string"), -1486304829);
        assert_eq!(
            murmur2(b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"),
            -58897971
        );
        assert_eq!(murmur2(b"abc"), 479470107);
    }

    #[test]
    fn keys_are_stable_and_keyless_records_stick_then_move() {
        let p = Partitioner::new(100);
        let a = p.partition("t", Some(b"key"), 6);
        assert_eq!(a, p.partition("t", Some(b"key"), 6));
        assert_eq!(p.partition("t", None, 3), 0);
        p.note_sent(&TopicPartition::new("t", 0), 60);
        assert_eq!(p.partition("t", None, 3), 0);
        p.note_sent(&TopicPartition::new("t", 0), 60);
        assert_eq!(p.partition("t", None, 3), 1);
        p.note_sent(&TopicPartition::new("t", 1), 100);
        assert_eq!(p.partition("t", None, 3), 2);
    }
}
