//! DeleteTopics (key 20): remove topics by name or (v6+) by id; the
//! partitions' logs are deleted when the node applies the RemoveTopic
//! record.

use super::Outcome;
use crate::broker::Broker;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use std::sync::Arc;
use uuid::Uuid;
use weir_core::metadata::ControllerOp;

/// Handle a DeleteTopics request.
pub async fn handle(broker: &Arc<Broker>, request: DeleteTopicsRequest, version: i16) -> Outcome {
    let targets: Vec<(Option<String>, Uuid)> = if version >= 6 {
        request
            .topics
            .iter()
            .map(|t| {
                (
                    t.name.as_ref().map(|n| n.0.as_str().to_string()),
                    t.topic_id,
                )
            })
            .collect()
    } else {
        request
            .topic_names
            .iter()
            .map(|n| (Some(n.0.as_str().to_string()), Uuid::nil()))
            .collect()
    };
    let mut responses = Vec::with_capacity(targets.len());
    for (name, id) in targets {
        responses.push(delete_one(broker, name, id).await);
    }
    Outcome::respond(DeleteTopicsResponse::default().with_responses(responses))
}

async fn delete_one(broker: &Broker, name: Option<String>, id: Uuid) -> DeletableTopicResult {
    let result = match &name {
        Some(name) => {
            broker
                .commit_op(ControllerOp::DeleteTopic { name: name.clone() })
                .await
        }
        None => {
            broker
                .commit_op(ControllerOp::DeleteTopicById { topic_id: id })
                .await
        }
    };
    let resolved_id = match &name {
        Some(n) if id.is_nil() => broker.topic_id(n).unwrap_or(id),
        _ => id,
    };
    let base = DeletableTopicResult::default()
        .with_name(name.map(|n| TopicName(StrBytes::from_string(n))))
        .with_topic_id(resolved_id);
    match result {
        Ok(_) => base,
        Err(e) => base
            .with_error_code(e.error_code())
            .with_error_message(Some(StrBytes::from_string(e.to_string()))),
    }
}
