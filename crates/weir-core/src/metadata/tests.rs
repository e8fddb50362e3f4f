//! Exact-output tests of the image, the planning functions and elections:
//! each compares the whole record list or error.

use super::*;
use uuid::Uuid;

mod elect_leaders;
mod elections;
mod elr;
mod image_apply;
mod plans;

fn tid(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

fn epoch_of(broker_id: i32) -> i64 {
    100 + i64::from(broker_id)
}

fn register(broker_id: i32, rack: Option<&str>) -> MetadataRecord {
    MetadataRecord::RegisterBroker {
        broker_id,
        incarnation_id: Uuid::from_u128(broker_id as u128),
        broker_epoch: epoch_of(broker_id),
        listeners: vec![Endpoint {
            name: "PLAINTEXT".into(),
            host: "127.0.0.1".into(),
            port: (9092 + broker_id) as u16,
        }],
        rack: rack.map(str::to_string),
    }
}

fn unfence(broker_id: i32) -> MetadataRecord {
    MetadataRecord::UnfenceBroker {
        broker_id,
        broker_epoch: epoch_of(broker_id),
    }
}

fn fence(broker_id: i32) -> MetadataRecord {
    MetadataRecord::FenceBroker {
        broker_id,
        broker_epoch: epoch_of(broker_id),
    }
}

fn apply_all(image: &mut MetadataImage, records: &[MetadataRecord]) {
    for r in records {
        image.apply(r).unwrap_or_else(|e| panic!("{r:?}: {e}"));
    }
}

/// Brokers `ids`, registered and unfenced, without racks.
fn cluster(ids: &[i32]) -> MetadataImage {
    let mut image = MetadataImage::new();
    for &id in ids {
        apply_all(&mut image, &[register(id, None), unfence(id)]);
    }
    image
}

/// A `Partition` record as a new partition starts: no ELR, epochs 0.
fn partition(
    topic_id: Uuid,
    partition: i32,
    replicas: &[i32],
    isr: &[i32],
    leader: i32,
) -> MetadataRecord {
    MetadataRecord::Partition {
        topic_id,
        partition,
        replicas: replicas.to_vec(),
        isr: isr.to_vec(),
        elr: vec![],
        last_known_elr: vec![],
        leader,
        leader_epoch: 0,
        partition_epoch: 0,
    }
}

fn change(
    topic_id: Uuid,
    partition: i32,
    leader: Option<i32>,
    isr: Option<&[i32]>,
) -> MetadataRecord {
    MetadataRecord::PartitionChange {
        topic_id,
        partition,
        leader,
        isr: isr.map(<[i32]>::to_vec),
        elr: None,
        last_known_elr: None,
        replicas: None,
        leader_recovering: None,
    }
}

fn topic(name: &str, topic_id: Uuid) -> MetadataRecord {
    MetadataRecord::Topic {
        name: name.into(),
        topic_id,
    }
}

fn topic_cfg(topic: &str, name: &str, value: Option<&str>) -> MetadataRecord {
    MetadataRecord::Config {
        resource: ConfigResource::Topic(topic.into()),
        name: name.into(),
        value: value.map(str::to_string),
    }
}
