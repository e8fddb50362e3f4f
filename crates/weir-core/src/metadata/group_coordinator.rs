//! Which broker coordinates a consumer group: Kafka's
//! `GroupCoordinator.partitionFor(group)` (the group's `__consumer_offsets`
//! partition) mapped onto the registered brokers in id order; a fenced
//! pick passes to the next unfenced broker in that order. Every node
//! computes the same answer from its image.

use super::image::MetadataImage;

/// The broker that coordinates `group`, or `None` when no broker is
/// unfenced. `offsets_partitions` is `offsets.topic.num.partitions`.
pub fn group_coordinator(
    image: &MetadataImage,
    group: &str,
    offsets_partitions: i32,
) -> Option<i32> {
    let brokers: Vec<i32> = image.brokers().map(|b| b.broker_id).collect();
    if brokers.is_empty() {
        return None;
    }
    let start = offsets_partition(group, offsets_partitions) as usize % brokers.len();
    (0..brokers.len())
        .map(|i| brokers[(start + i) % brokers.len()])
        .find(|b| image.is_unfenced(*b))
}

/// Java's `String.hashCode` over UTF-16 code units (wrapping).
fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
}

/// Kafka's `GroupCoordinator.partitionFor`: `Utils.abs(hash) % n`
/// (`Utils.abs` maps `i32::MIN` to 0).
pub fn offsets_partition(group: &str, partitions: i32) -> i32 {
    let h = java_string_hash(group);
    let abs = if h == i32::MIN { 0 } else { h.abs() };
    abs % partitions.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::MetadataRecord;
    use uuid::Uuid;

    #[test]
    fn the_pick_passes_to_the_next_unfenced_broker_in_id_order() {
        let mut image = MetadataImage::new();
        for id in [1, 2, 3] {
            image
                .apply(&MetadataRecord::RegisterBroker {
                    broker_id: id,
                    incarnation_id: Uuid::from_u128(id as u128),
                    broker_epoch: 1,
                    listeners: vec![],
                    rack: None,
                })
                .unwrap();
        }
        assert_eq!(
            group_coordinator(&image, "my-group", 50),
            None,
            "all fenced"
        );
        for id in [1, 3] {
            image
                .apply(&MetadataRecord::UnfenceBroker {
                    broker_id: id,
                    broker_epoch: 1,
                })
                .unwrap();
        }
        // "my-group" is offsets partition 12; 12 % 3 = 0 -> broker 1.
        assert_eq!(group_coordinator(&image, "my-group", 50), Some(1));
        // "a" is partition 47; 47 % 3 = 2 -> broker 3.
        assert_eq!(group_coordinator(&image, "a", 50), Some(3));
        // Partition 1 of 2 -> broker 2, fenced -> the next, broker 3.
        let g = (0..1000)
            .map(|i| format!("g{i}"))
            .find(|g| offsets_partition(g, 50) % 3 == 1)
            .unwrap();
        assert_eq!(group_coordinator(&image, &g, 50), Some(3));
        image
            .apply(&MetadataRecord::UnfenceBroker {
                broker_id: 2,
                broker_epoch: 1,
            })
            .unwrap();
        assert_eq!(group_coordinator(&image, &g, 50), Some(2));
    }

    #[test]
    fn offsets_partition_matches_kafkas_partition_for() {
        // Java's definition s[0]*31^(n-1) + ... + s[n-1], wrapping.
        assert_eq!(java_string_hash(""), 0);
        assert_eq!(java_string_hash("a"), 97);
        assert_eq!(java_string_hash("console-consumer-1"), 35782224);
        assert_eq!(java_string_hash("my-group"), -1906497762);
        assert_eq!(offsets_partition("console-consumer-1", 50), 24);
        assert_eq!(offsets_partition("my-group", 50), 12);
        assert_eq!(offsets_partition("a", 50), 47);
        // Kafka's Utils.abs(Integer.MIN_VALUE) is 0.
        let min = "polygenelubricants"; // hashCode() == Integer.MIN_VALUE
        assert_eq!(java_string_hash(min), i32::MIN);
        assert_eq!(offsets_partition(min, 50), 0);
    }
}
