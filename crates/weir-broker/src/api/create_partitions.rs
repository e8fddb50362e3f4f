//! CreatePartitions (key 37): grow a topic to `count` partitions, placed
//! like new topics unless the request assigns the replicas.

use super::Outcome;
use crate::broker::Broker;
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};
use kafka_protocol::protocol::StrBytes;
use std::sync::Arc;
use uuid::Uuid;
use weir_core::metadata::ControllerOp;

/// Handle a CreatePartitions request.
pub async fn handle(
    broker: &Arc<Broker>,
    request: CreatePartitionsRequest,
    _version: i16,
) -> Outcome {
    let mut results = Vec::with_capacity(request.topics.len());
    for topic in &request.topics {
        results.push(grow(broker, topic, request.validate_only).await);
    }
    Outcome::respond(CreatePartitionsResponse::default().with_results(results))
}

async fn grow(
    broker: &Broker,
    topic: &CreatePartitionsTopic,
    validate_only: bool,
) -> CreatePartitionsTopicResult {
    let name = topic.name.0.as_str();
    let assignment: Option<Vec<Vec<i32>>> = topic.assignments.as_ref().map(|a| {
        a.iter()
            .map(|p| p.broker_ids.iter().map(|b| b.0).collect())
            .collect()
    });
    let start = (Uuid::new_v4().as_u128() % 1_000_003) as usize;
    let op = ControllerOp::CreatePartitions {
        name: name.to_string(),
        count: topic.count,
        assignment,
        start_index: start,
    };
    let result = if validate_only {
        broker.validate_op(&op).map(|_| ())
    } else {
        broker.commit_op(op).await.map(|_| ())
    };
    let base = CreatePartitionsTopicResult::default().with_name(topic.name.clone());
    match result {
        Ok(()) => base,
        Err(e) => base
            .with_error_code(e.error_code())
            .with_error_message(Some(StrBytes::from_string(e.to_string()))),
    }
}
