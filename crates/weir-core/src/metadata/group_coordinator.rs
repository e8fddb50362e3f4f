//! Which broker coordinates a consumer group: as in Kafka, the leader of
//! the group's partition of the internal `__consumer_offsets` topic
//! (`GroupCoordinator.partitionFor(group)`: the Java hash of the group id
//! modulo the topic's partition count). Every node computes the same
//! answer from its image.

use super::image::MetadataImage;

/// The internal topic that holds committed offsets.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// The partition count of `__consumer_offsets`, `None` before it exists.
pub fn offsets_partition_count(image: &MetadataImage) -> Option<i32> {
    image
        .topic_by_name(OFFSETS_TOPIC)
        .map(|t| i32::try_from(t.partitions.len()).unwrap_or(i32::MAX))
}

/// The broker that coordinates `group`: the unfenced leader of its
/// `__consumer_offsets` partition; `None` while the topic does not exist
/// or that partition has no (unfenced) leader.
pub fn group_coordinator(image: &MetadataImage, group: &str) -> Option<i32> {
    let topic = image.topic_by_name(OFFSETS_TOPIC)?;
    let count = i32::try_from(topic.partitions.len()).ok()?;
    let partition = topic.partitions.get(&offsets_partition(group, count))?;
    Some(partition.leader).filter(|l| *l >= 0 && image.is_unfenced(*l))
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
    use crate::metadata::{
        ControllerOp, MetadataRecord, NewTopic, ReplicaAssignment, TopicDefaults,
    };
    use uuid::Uuid;

    fn register_and_unfence(image: &mut MetadataImage, ids: &[i32]) {
        for &id in ids {
            for record in [
                MetadataRecord::RegisterBroker {
                    broker_id: id,
                    incarnation_id: Uuid::from_u128(id as u128),
                    broker_epoch: 1,
                    listeners: vec![],
                    rack: None,
                },
                MetadataRecord::UnfenceBroker {
                    broker_id: id,
                    broker_epoch: 1,
                },
            ] {
                image.apply(&record).unwrap();
            }
        }
    }

    #[test]
    fn the_coordinator_is_the_leader_of_the_groups_offsets_partition() {
        let mut image = MetadataImage::new();
        register_and_unfence(&mut image, &[1, 2, 3]);
        assert_eq!(offsets_partition_count(&image), None);
        assert_eq!(group_coordinator(&image, "my-group"), None, "no topic yet");
        // Explicit replicas: partition p led by broker p % 3 + 1.
        let op = ControllerOp::CreateTopic {
            topic: NewTopic {
                name: OFFSETS_TOPIC.into(),
                assignments: (0..50)
                    .map(|p| ReplicaAssignment {
                        partition_index: p,
                        broker_ids: vec![p % 3 + 1, (p + 1) % 3 + 1],
                    })
                    .collect(),
                num_partitions: -1,
                replication_factor: -1,
                configs: vec![],
            },
            defaults: TopicDefaults::default(),
            topic_id: Uuid::from_u128(7),
            start_index: 0,
        };
        for record in op.plan(&image).unwrap() {
            image.apply(&record).unwrap();
        }
        assert_eq!(offsets_partition_count(&image), Some(50));
        // "my-group" is offsets partition 12 -> leader 12 % 3 + 1 = 1.
        assert_eq!(group_coordinator(&image, "my-group"), Some(1));
        // "a" is partition 47 -> leader 47 % 3 + 1 = 3.
        assert_eq!(group_coordinator(&image, "a"), Some(3));
        // Fencing broker 1 moves partition 12's leadership to broker 2.
        for record in crate::metadata::plan_broker_fenced(&image, 1) {
            image.apply(&record).unwrap();
        }
        assert_eq!(group_coordinator(&image, "my-group"), Some(2));
        assert_eq!(group_coordinator(&image, "a"), Some(3));
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
