//! OffsetFetch (key 9, v1-9; v8+ asks for several groups): a group's
//! committed offsets; -1 where none is committed (also for an unknown
//! group, without error, as Kafka answers).
//!
//! A group this broker does not coordinate gets NOT_COORDINATOR (see
//! [`super::find_coordinator::coordinator_error`]): v8+ in the group's
//! error code (no topics, as Kafka); before v8 in the top-level error code
//! (v2+) and in every requested partition's error code (offset -1), which
//! is where v1, without a top-level error, carries it.

use super::find_coordinator::{coordinator_error, merge_in_order, routed_here};
use super::Outcome;
use crate::broker::Broker;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponseTopic,
};
use kafka_protocol::messages::{OffsetFetchRequest, OffsetFetchResponse};
use kafka_protocol::protocol::StrBytes;
use std::sync::Arc;

/// Handle an OffsetFetch request.
pub async fn handle(broker: &Arc<Broker>, request: OffsetFetchRequest, version: i16) -> Outcome {
    if version < 8 {
        if let Some(error) = coordinator_error(broker, request.group_id.0.as_str()) {
            return Outcome::respond(error_response(&request, version, error));
        }
        return Outcome::respond(broker.groups().fetch_offsets(&request, version));
    }
    let errors: Vec<Option<ResponseError>> = request
        .groups
        .iter()
        .map(|g| coordinator_error(broker, g.group_id.0.as_str()))
        .collect();
    if errors.iter().all(Option::is_none) {
        return Outcome::respond(broker.groups().fetch_offsets(&request, version));
    }
    let local = local_request(&request, &errors);
    let fetched = if local.groups.is_empty() {
        OffsetFetchResponse::default()
    } else {
        broker.groups().fetch_offsets(&local, version)
    };
    Outcome::respond(merge(&request, &errors, fetched))
}

/// The v1-7 answer when the group cannot be served here: `error` at the
/// top level (v2+) and on every requested partition, with offset -1, no
/// leader epoch and empty metadata (Kafka's `getErrorResponse` shape for
/// the partitions). Asking for all partitions (null topics) lists none.
pub fn error_response(
    request: &OffsetFetchRequest,
    version: i16,
    error: ResponseError,
) -> OffsetFetchResponse {
    let topics = request
        .topics
        .iter()
        .flatten()
        .map(|topic| {
            let partitions = topic
                .partition_indexes
                .iter()
                .map(|p| {
                    OffsetFetchResponsePartition::default()
                        .with_partition_index(*p)
                        .with_committed_offset(-1)
                        .with_committed_leader_epoch(-1)
                        .with_metadata(Some(StrBytes::new()))
                        .with_error_code(error.code())
                })
                .collect();
            OffsetFetchResponseTopic::default()
                .with_name(topic.name.clone())
                .with_partitions(partitions)
        })
        .collect();
    let response = OffsetFetchResponse::default().with_topics(topics);
    if version >= 2 {
        response.with_error_code(error.code())
    } else {
        response
    }
}

/// The v8+ request for the groups without a routing error.
pub fn local_request(
    request: &OffsetFetchRequest,
    errors: &[Option<ResponseError>],
) -> OffsetFetchRequest {
    request
        .clone()
        .with_groups(routed_here(&request.groups, errors))
}

/// The v8+ answer in request order: the group id and its error where
/// `errors` has one (no topics, as Kafka answers), else the next of the
/// `local` answer's groups (which answered [`local_request`]).
pub fn merge(
    request: &OffsetFetchRequest,
    errors: &[Option<ResponseError>],
    mut local: OffsetFetchResponse,
) -> OffsetFetchResponse {
    let fetched = std::mem::take(&mut local.groups);
    let groups = merge_in_order(&request.groups, errors, fetched, |group, error| {
        OffsetFetchResponseGroup::default()
            .with_group_id(group.group_id.clone())
            .with_error_code(error.code())
    });
    local.with_groups(groups)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use kafka_protocol::messages::offset_fetch_request::{
        OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
    };
    use kafka_protocol::messages::offset_fetch_response::OffsetFetchResponseTopics;
    use kafka_protocol::messages::{GroupId, TopicName};
    use kafka_protocol::protocol::Encodable;

    fn name(s: &'static str) -> TopicName {
        TopicName(StrBytes::from_static_str(s))
    }

    fn v1_7_request() -> OffsetFetchRequest {
        OffsetFetchRequest::default()
            .with_group_id(GroupId(StrBytes::from_static_str("g")))
            .with_topics(Some(vec![
                OffsetFetchRequestTopic::default()
                    .with_name(name("t"))
                    .with_partition_indexes(vec![0, 2]),
                OffsetFetchRequestTopic::default()
                    .with_name(name("u"))
                    .with_partition_indexes(vec![1]),
            ]))
    }

    #[test]
    fn before_v8_every_partition_and_the_top_level_from_v2_get_the_error() {
        for (error, code) in [
            (ResponseError::NotCoordinator, 16),
            (ResponseError::CoordinatorNotAvailable, 15),
        ] {
            for version in 1..=7 {
                let response = error_response(&v1_7_request(), version, error);
                assert_eq!(response.error_code, if version >= 2 { code } else { 0 });
                let partitions: Vec<(&str, i32, i64, i16)> = response
                    .topics
                    .iter()
                    .flat_map(|t| {
                        t.partitions.iter().map(move |p| {
                            (
                                t.name.0.as_str(),
                                p.partition_index,
                                p.committed_offset,
                                p.error_code,
                            )
                        })
                    })
                    .collect();
                assert_eq!(
                    partitions,
                    vec![("t", 0, -1, code), ("t", 2, -1, code), ("u", 1, -1, code)]
                );
                response.encode(&mut BytesMut::new(), version).unwrap();
            }
        }
    }

    #[test]
    fn all_partitions_request_gets_the_top_level_error_only() {
        let request = v1_7_request().with_topics(None);
        let response = error_response(&request, 7, ResponseError::NotCoordinator);
        assert_eq!(response.error_code, 16);
        assert!(response.topics.is_empty());
        response.encode(&mut BytesMut::new(), 7).unwrap();
    }

    #[test]
    fn from_v8_each_group_gets_its_own_error_in_request_order() {
        let group = |id: &'static str| {
            OffsetFetchRequestGroup::default()
                .with_group_id(GroupId(StrBytes::from_static_str(id)))
                .with_topics(Some(vec![OffsetFetchRequestTopics::default()
                    .with_name(name("t"))
                    .with_partition_indexes(vec![0])]))
        };
        let request =
            OffsetFetchRequest::default().with_groups(vec![group("a"), group("mine"), group("c")]);
        let errors = [
            Some(ResponseError::NotCoordinator),
            None,
            Some(ResponseError::CoordinatorNotAvailable),
        ];
        let local = local_request(&request, &errors);
        let ids: Vec<&str> = local.groups.iter().map(|g| g.group_id.0.as_str()).collect();
        assert_eq!(ids, vec!["mine"]);
        let answered =
            OffsetFetchResponse::default().with_groups(vec![OffsetFetchResponseGroup::default()
                .with_group_id(GroupId(StrBytes::from_static_str("mine")))
                .with_topics(vec![
                    OffsetFetchResponseTopics::default().with_name(name("t"))
                ])]);
        let response = merge(&request, &errors, answered);
        let got: Vec<(&str, i16, usize)> = response
            .groups
            .iter()
            .map(|g| (g.group_id.0.as_str(), g.error_code, g.topics.len()))
            .collect();
        assert_eq!(got, vec![("a", 16, 0), ("mine", 0, 1), ("c", 15, 0)]);
        for version in 8..=9 {
            response.encode(&mut BytesMut::new(), version).unwrap();
        }
    }
}
