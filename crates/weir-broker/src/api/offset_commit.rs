//! OffsetCommit (key 8, v2-9): store a group's consumed positions. Answered
//! once they are durable. Partitions of topics that do not exist get
//! UNKNOWN_TOPIC_OR_PARTITION, as Kafka's request handler answers before
//! the coordinator sees them. At a broker that does not coordinate the
//! group every other partition gets NOT_COORDINATOR (see
//! [`super::find_coordinator::coordinator_error`]).

use super::find_coordinator::coordinator_error;
use super::Outcome;
use crate::broker::Broker;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse};
use std::sync::Arc;

/// Handle an OffsetCommit request.
pub async fn handle(broker: &Arc<Broker>, request: OffsetCommitRequest, version: i16) -> Outcome {
    let image = broker.image();
    let exists = |topic: &str, partition: i32| {
        image
            .topic_by_name(topic)
            .is_some_and(|t| t.partitions.contains_key(&partition))
    };
    if let Some(error) = coordinator_error(broker, request.group_id.0.as_str()) {
        return Outcome::respond(error_response(&request, error, exists));
    }
    let response = broker
        .groups()
        .commit_offsets(&request, version, exists)
        .await;
    Outcome::respond(response)
}

/// Kafka's answer when the group cannot be served here: every requested
/// partition gets `error`, except partitions that do not exist, which get
/// UNKNOWN_TOPIC_OR_PARTITION (Kafka's handler answers those itself).
pub fn error_response(
    request: &OffsetCommitRequest,
    error: ResponseError,
    partition_exists: impl Fn(&str, i32) -> bool,
) -> OffsetCommitResponse {
    let topics = request
        .topics
        .iter()
        .map(|topic| {
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    let code = if partition_exists(topic.name.0.as_str(), p.partition_index) {
                        error.code()
                    } else {
                        ResponseError::UnknownTopicOrPartition.code()
                    };
                    OffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(code)
                })
                .collect();
            OffsetCommitResponseTopic::default()
                .with_name(topic.name.clone())
                .with_partitions(partitions)
        })
        .collect();
    OffsetCommitResponse::default().with_topics(topics)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use kafka_protocol::messages::offset_commit_request::{
        OffsetCommitRequestPartition, OffsetCommitRequestTopic,
    };
    use kafka_protocol::messages::{GroupId, TopicName};
    use kafka_protocol::protocol::{Encodable, StrBytes};

    fn request() -> OffsetCommitRequest {
        let topic = |name: &'static str, partitions: &[i32]| {
            OffsetCommitRequestTopic::default()
                .with_name(TopicName(StrBytes::from_static_str(name)))
                .with_partitions(
                    partitions
                        .iter()
                        .map(|p| {
                            OffsetCommitRequestPartition::default()
                                .with_partition_index(*p)
                                .with_committed_offset(5)
                        })
                        .collect(),
                )
        };
        OffsetCommitRequest::default()
            .with_group_id(GroupId(StrBytes::from_static_str("g")))
            .with_topics(vec![topic("t", &[0, 1]), topic("gone", &[0])])
    }

    fn codes(response: &OffsetCommitResponse) -> Vec<(&str, i32, i16)> {
        response
            .topics
            .iter()
            .flat_map(|t| {
                t.partitions
                    .iter()
                    .map(move |p| (t.name.0.as_str(), p.partition_index, p.error_code))
            })
            .collect()
    }

    #[test]
    fn every_partition_gets_the_error() {
        let exists = |topic: &str, _: i32| topic == "t";
        for (error, code) in [
            (ResponseError::NotCoordinator, 16),
            (ResponseError::CoordinatorNotAvailable, 15),
        ] {
            let response = error_response(&request(), error, exists);
            assert_eq!(
                codes(&response),
                vec![("t", 0, code), ("t", 1, code), ("gone", 0, 3)]
            );
            for version in 2..=9 {
                response.encode(&mut BytesMut::new(), version).unwrap();
            }
        }
    }
}
