//! CreateTopics (key 19): validate, place replicas, commit the records
//! through the metadata log, answer per topic.
//!
//! `-1` partitions or replication factor mean the broker defaults
//! (KIP-464); `validate_only` plans without committing; a replication
//! factor above the number of unfenced brokers is
//! INVALID_REPLICATION_FACTOR (the planner's rules, in `weir-core`).

use super::Outcome;
use crate::broker::Broker;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};
use kafka_protocol::protocol::StrBytes;
use std::collections::HashSet;
use std::sync::Arc;
use weir_core::metadata::{MetadataRecord, NewTopic, ReplicaAssignment};

/// Handle a CreateTopics request.
pub async fn handle(broker: &Arc<Broker>, request: CreateTopicsRequest, _version: i16) -> Outcome {
    let mut results = Vec::with_capacity(request.topics.len());
    let mut seen = HashSet::new();
    for topic in &request.topics {
        let name = topic.name.0.as_str().to_string();
        let result = if !seen.insert(name.clone()) {
            // Kafka: a topic named twice in one request is INVALID_REQUEST.
            error_result(topic, 42, "Duplicate topic name.".into())
        } else {
            create_one(broker, topic, request.validate_only).await
        };
        results.push(result);
    }
    Outcome::respond(CreateTopicsResponse::default().with_topics(results))
}

async fn create_one(
    broker: &Broker,
    topic: &CreatableTopic,
    validate_only: bool,
) -> CreatableTopicResult {
    let new_topic = to_new_topic(topic);
    match broker.create_topic(&new_topic, validate_only).await {
        Ok((topic_id, records)) => success(topic, topic_id, &records),
        Err(e) => error_result(topic, e.error_code(), e.to_string()),
    }
}

fn to_new_topic(topic: &CreatableTopic) -> NewTopic {
    NewTopic {
        name: topic.name.0.as_str().to_string(),
        num_partitions: topic.num_partitions,
        replication_factor: topic.replication_factor,
        assignments: topic
            .assignments
            .iter()
            .map(|a| ReplicaAssignment {
                partition_index: a.partition_index,
                broker_ids: a.broker_ids.iter().map(|b| b.0).collect(),
            })
            .collect(),
        configs: topic
            .configs
            .iter()
            .map(|c| {
                (
                    c.name.as_str().to_string(),
                    c.value.as_ref().map(|v| v.as_str().to_string()),
                )
            })
            .collect(),
    }
}

/// The v5+ answer carries the topic id, counts and configs.
fn success(
    topic: &CreatableTopic,
    topic_id: uuid::Uuid,
    records: &[MetadataRecord],
) -> CreatableTopicResult {
    let mut partitions = 0;
    let mut replication_factor = 0i16;
    let mut configs = Vec::new();
    for record in records {
        match record {
            MetadataRecord::Partition { replicas, .. } => {
                partitions += 1;
                replication_factor = replicas.len() as i16;
            }
            MetadataRecord::Config { name, value, .. } => configs.push(
                CreatableTopicConfigs::default()
                    .with_name(StrBytes::from_string(name.clone()))
                    .with_value(value.clone().map(StrBytes::from_string))
                    .with_config_source(1),
            ),
            _ => {}
        }
    }
    CreatableTopicResult::default()
        .with_name(topic.name.clone())
        .with_topic_id(topic_id)
        .with_num_partitions(partitions)
        .with_replication_factor(replication_factor)
        .with_configs(Some(configs))
}

fn error_result(topic: &CreatableTopic, code: i16, message: String) -> CreatableTopicResult {
    CreatableTopicResult::default()
        .with_name(topic.name.clone())
        .with_error_code(code)
        .with_error_message(Some(StrBytes::from_string(message)))
        .with_num_partitions(-1)
        .with_replication_factor(-1)
        .with_configs(None)
}
