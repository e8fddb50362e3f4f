//! OffsetCommit (key 8, v2-9): store a group's consumed positions. Answered
//! once they are durable. Partitions of topics that do not exist get
//! UNKNOWN_TOPIC_OR_PARTITION, as Kafka's request handler answers before
//! the coordinator sees them.

use super::Outcome;
use crate::broker::Broker;
use kafka_protocol::messages::OffsetCommitRequest;
use std::sync::Arc;

/// Handle an OffsetCommit request.
pub async fn handle(broker: &Arc<Broker>, request: OffsetCommitRequest, version: i16) -> Outcome {
    let image = broker.image();
    let exists = |topic: &str, partition: i32| {
        image
            .topic_by_name(topic)
            .is_some_and(|t| t.partitions.contains_key(&partition))
    };
    let response = broker
        .groups()
        .commit_offsets(&request, version, exists)
        .await;
    Outcome::respond(response)
}
