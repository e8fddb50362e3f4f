//! DescribeTopicPartitions (key 75, KIP-966, v0): what Metadata says about
//! a topic's partitions plus each partition's eligible leader replicas
//! (ELR) and last known ELR, which Kafka 4.0's `kafka-topics.sh
//! --describe` prints. Answered from this node's metadata image with
//! Metadata's conventions (offline replicas = replicas not unfenced,
//! LEADER_NOT_AVAILABLE for a partition without a leader, internal topics
//! by name).
//!
//! Paging follows Kafka's `DescribeTopicPartitionsRequestHandler`: the
//! requested topics (every topic when the list is empty) are answered in
//! name order, starting at the request's cursor (topic, first partition),
//! and at most `response_partition_limit` partitions are returned (a
//! limit below 1 or above 2000 is taken as 2000, Kafka's default cap);
//! when partitions remain, `next_cursor` names the first one left out,
//! otherwise it is null. A requested topic that does not exist is
//! answered UNKNOWN_TOPIC_OR_PARTITION (without partitions). Topic
//! creation is never triggered.

use super::Outcome;
use crate::broker::Broker;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_topic_partitions_response::{
    Cursor, DescribeTopicPartitionsResponsePartition, DescribeTopicPartitionsResponseTopic,
};
use kafka_protocol::messages::{
    BrokerId, DescribeTopicPartitionsRequest, DescribeTopicPartitionsResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use std::collections::BTreeSet;
use std::sync::Arc;
use uuid::Uuid;
use weir_core::metadata::{MetadataImage, PartitionRegistration};

/// `topic_authorized_operations` when no authorizer answers.
const AUTHORIZED_OPERATIONS_OMITTED: i32 = i32::MIN;

/// Kafka's `max.request.partition.size.limit` default.
pub const PARTITION_LIMIT_MAX: i32 = 2000;

/// Handle a DescribeTopicPartitions request.
pub async fn handle(
    broker: &Arc<Broker>,
    request: DescribeTopicPartitionsRequest,
    _version: i16,
) -> Outcome {
    let image = broker.image();
    Outcome::respond(describe(&image, &request))
}

/// The response to `request` from `image`.
pub fn describe(
    image: &MetadataImage,
    request: &DescribeTopicPartitionsRequest,
) -> DescribeTopicPartitionsResponse {
    let names: BTreeSet<String> = if request.topics.is_empty() {
        image.topics().map(|t| t.name.clone()).collect()
    } else {
        request
            .topics
            .iter()
            .map(|t| t.name.0.as_str().to_string())
            .collect()
    };
    let limit = match request.response_partition_limit {
        l if (1..=PARTITION_LIMIT_MAX).contains(&l) => l as usize,
        _ => PARTITION_LIMIT_MAX as usize,
    };
    let (cursor_topic, cursor_partition) = match &request.cursor {
        Some(c) => (Some(c.topic_name.0.as_str().to_string()), c.partition_index),
        None => (None, 0),
    };
    let mut left = limit;
    let mut topics = Vec::new();
    let mut next_cursor = None;
    for name in names {
        if let Some(start) = &cursor_topic {
            if name < *start {
                continue;
            }
        }
        let first = match &cursor_topic {
            Some(start) if *start == name => cursor_partition.max(0),
            _ => 0,
        };
        let Some(topic) = image.topic_by_name(&name) else {
            topics.push(
                DescribeTopicPartitionsResponseTopic::default()
                    .with_error_code(ResponseError::UnknownTopicOrPartition.code())
                    .with_name(Some(TopicName(StrBytes::from_string(name))))
                    .with_topic_id(Uuid::nil())
                    .with_topic_authorized_operations(AUTHORIZED_OPERATIONS_OMITTED),
            );
            continue;
        };
        if left == 0 {
            next_cursor = Some(
                Cursor::default()
                    .with_topic_name(TopicName(StrBytes::from_string(name)))
                    .with_partition_index(first),
            );
            break;
        }
        let mut partitions = Vec::new();
        for (index, p) in topic.partitions.range(first..) {
            if left == 0 {
                next_cursor = Some(
                    Cursor::default()
                        .with_topic_name(TopicName(StrBytes::from_string(name.clone())))
                        .with_partition_index(*index),
                );
                break;
            }
            partitions.push(partition_response(image, *index, p));
            left -= 1;
        }
        topics.push(
            DescribeTopicPartitionsResponseTopic::default()
                .with_name(Some(TopicName(StrBytes::from_string(name.clone()))))
                .with_topic_id(topic.topic_id)
                .with_is_internal(weir_core::metadata::is_internal_topic(&name))
                .with_partitions(partitions)
                .with_topic_authorized_operations(AUTHORIZED_OPERATIONS_OMITTED),
        );
        if next_cursor.is_some() {
            break;
        }
    }
    DescribeTopicPartitionsResponse::default()
        .with_topics(topics)
        .with_next_cursor(next_cursor)
}

fn ids(brokers: &[i32]) -> Vec<BrokerId> {
    brokers.iter().map(|b| BrokerId(*b)).collect()
}

fn partition_response(
    image: &MetadataImage,
    index: i32,
    p: &PartitionRegistration,
) -> DescribeTopicPartitionsResponsePartition {
    let offline: Vec<i32> = p
        .replicas
        .iter()
        .copied()
        .filter(|r| !image.is_unfenced(*r))
        .collect();
    let error = if p.leader < 0 {
        ResponseError::LeaderNotAvailable.code()
    } else {
        0
    };
    DescribeTopicPartitionsResponsePartition::default()
        .with_error_code(error)
        .with_partition_index(index)
        .with_leader_id(BrokerId(p.leader))
        .with_leader_epoch(p.leader_epoch)
        .with_replica_nodes(ids(&p.replicas))
        .with_isr_nodes(ids(&p.isr))
        .with_eligible_leader_replicas(Some(ids(&p.elr)))
        .with_last_known_elr(Some(ids(&p.last_known_elr)))
        .with_offline_replicas(ids(&offline))
}
