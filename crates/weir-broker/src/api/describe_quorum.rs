//! DescribeQuorum (key 55, KIP-595/KIP-853): the state of the metadata
//! quorum, as `kafka-metadata-quorum.sh describe` asks for it through the
//! Admin client (`describeMetadataQuorum`).
//!
//! Kafka's brokers forward this request to the active controller; ours ask
//! [`Broker::describe_quorum`], which does the same. The answer follows
//! Kafka's Raft client (`KafkaRaftClient.handleDescribeQuorumRequest`):
//! a request that is not exactly `__cluster_metadata` partition 0 gets
//! UNKNOWN_TOPIC_OR_PARTITION on each partition it named; a quorum that
//! cannot be described gets the error at the top level.

use super::Outcome;
use crate::broker::Broker;
use crate::quorum::{QuorumStatus, VoterStatus};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_quorum_response::{
    Listener, Node, PartitionData, ReplicaState, TopicData,
};
use kafka_protocol::messages::{BrokerId, DescribeQuorumRequest, DescribeQuorumResponse};
use kafka_protocol::protocol::StrBytes;
use std::sync::Arc;
use uuid::Uuid;

/// The metadata log's topic name, as Kafka names it.
pub const CLUSTER_METADATA_TOPIC: &str = "__cluster_metadata";

/// Listener name reported for voters when no controller listener is
/// configured.
const DEFAULT_CONTROLLER_LISTENER: &str = "CONTROLLER";

/// Handle a DescribeQuorum request.
pub async fn handle(broker: &Arc<Broker>, request: DescribeQuorumRequest, version: i16) -> Outcome {
    if !asks_for_the_metadata_partition(&request) {
        return Outcome::respond(partition_error_response(
            &request,
            ResponseError::UnknownTopicOrPartition,
        ));
    }
    let listener = broker
        .config()
        .controller_listener_names
        .first()
        .cloned()
        .unwrap_or_else(|| DEFAULT_CONTROLLER_LISTENER.to_string());
    let response = match broker.describe_quorum().await {
        Ok(status) => status_response(&status, version, &listener),
        Err(error) => DescribeQuorumResponse::default().with_error_code(error.code()),
    };
    Outcome::respond(response)
}

/// Kafka's `RaftUtil.hasValidTopicPartition`: exactly one topic, the
/// metadata topic, with exactly one partition, 0.
pub fn asks_for_the_metadata_partition(request: &DescribeQuorumRequest) -> bool {
    match request.topics.as_slice() {
        [topic] => {
            topic.topic_name.0.as_str() == CLUSTER_METADATA_TOPIC
                && matches!(topic.partitions.as_slice(), [p] if p.partition_index == 0)
        }
        _ => false,
    }
}

/// `error` on every partition the request named (Kafka's
/// `DescribeQuorumRequest.getPartitionLevelErrorResponse`).
pub fn partition_error_response(
    request: &DescribeQuorumRequest,
    error: ResponseError,
) -> DescribeQuorumResponse {
    let topics = request
        .topics
        .iter()
        .map(|topic| {
            TopicData::default()
                .with_topic_name(topic.topic_name.clone())
                .with_partitions(
                    topic
                        .partitions
                        .iter()
                        .map(|p| {
                            PartitionData::default()
                                .with_partition_index(p.partition_index)
                                .with_error_code(error.code())
                        })
                        .collect(),
                )
        })
        .collect();
    DescribeQuorumResponse::default().with_topics(topics)
}

/// The answer for `status` at `version`; voters' controller addresses
/// are reported under `listener` (v2 `nodes`).
pub fn status_response(
    status: &QuorumStatus,
    version: i16,
    listener: &str,
) -> DescribeQuorumResponse {
    let high_watermark = match status.leader {
        Some(leader) if leader == status.node_id => index_to_i64(status.applied_index),
        _ => -1,
    };
    let partition = PartitionData::default()
        .with_partition_index(0)
        .with_leader_id(BrokerId(status.leader.unwrap_or(-1)))
        .with_leader_epoch(i32::try_from(status.term).unwrap_or(i32::MAX))
        .with_high_watermark(high_watermark)
        .with_current_voters(status.voters.iter().map(replica_state).collect())
        .with_observers(status.observers.iter().map(replica_state).collect());
    let mut response = DescribeQuorumResponse::default().with_topics(vec![TopicData::default()
        .with_topic_name(StrBytes::from_static_str(CLUSTER_METADATA_TOPIC).into())
        .with_partitions(vec![partition])]);
    if version >= 2 {
        response.nodes = status
            .voters
            .iter()
            .map(|voter| {
                Node::default()
                    .with_node_id(BrokerId(voter.node_id))
                    .with_listeners(endpoint(listener, &voter.addr).into_iter().collect())
            })
            .collect();
    }
    response
}

fn replica_state(voter: &VoterStatus) -> ReplicaState {
    ReplicaState::default()
        .with_replica_id(BrokerId(voter.node_id))
        .with_replica_directory_id(Uuid::nil())
        .with_log_end_offset(index_to_i64(voter.match_index))
        .with_last_fetch_timestamp(-1)
        .with_last_caught_up_timestamp(-1)
}

/// A Raft log index (last entry held or applied) as Kafka's offsets: the
/// next offset, one past the entry; -1 when unknown.
fn index_to_i64(index: Option<u64>) -> i64 {
    index.map_or(-1, |i| i64::try_from(i).unwrap_or(i64::MAX - 1) + 1)
}

/// `host:port` (or `[v6]:port`) as a listener named `name`; `None` when the
/// address does not parse.
fn endpoint(name: &str, addr: &str) -> Option<Listener> {
    let (host, port) = addr.rsplit_once(':')?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let port: u16 = port.parse().ok()?;
    if host.is_empty() {
        return None;
    }
    Some(
        Listener::default()
            .with_name(StrBytes::from_string(name.to_string()))
            .with_host(StrBytes::from_string(host.to_string()))
            .with_port(port),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::describe_quorum_request;

    fn request(topics: &[(&str, &[i32])]) -> DescribeQuorumRequest {
        DescribeQuorumRequest::default().with_topics(
            topics
                .iter()
                .map(|(name, partitions)| {
                    describe_quorum_request::TopicData::default()
                        .with_topic_name(StrBytes::from_string(name.to_string()).into())
                        .with_partitions(
                            partitions
                                .iter()
                                .map(|&p| {
                                    describe_quorum_request::PartitionData::default()
                                        .with_partition_index(p)
                                })
                                .collect(),
                        )
                })
                .collect(),
        )
    }

    fn voter(node_id: i32, addr: &str, match_index: Option<u64>) -> VoterStatus {
        VoterStatus {
            node_id,
            addr: addr.to_string(),
            match_index,
        }
    }

    fn status() -> QuorumStatus {
        QuorumStatus {
            node_id: 1,
            leader: Some(1),
            term: 3,
            last_log_index: Some(42),
            applied_index: Some(42),
            voters: vec![
                voter(1, "127.0.0.1:9093", Some(42)),
                voter(2, "[::1]:9094", None),
            ],
            observers: vec![voter(4, "host-4:9093", Some(40))],
        }
    }

    #[test]
    fn only_the_metadata_partition_is_described() {
        assert!(asks_for_the_metadata_partition(&request(&[(
            "__cluster_metadata",
            &[0]
        )])));
        for bad in [
            request(&[]),
            request(&[("__cluster_metadata", &[1])]),
            request(&[("__cluster_metadata", &[0, 0])]),
            request(&[("__cluster_metadata", &[])]),
            request(&[("orders", &[0])]),
            request(&[("__cluster_metadata", &[0]), ("__cluster_metadata", &[0])]),
        ] {
            assert!(!asks_for_the_metadata_partition(&bad), "{bad:?}");
        }
    }

    #[test]
    fn unknown_partitions_get_a_partition_level_error() {
        let req = request(&[("orders", &[0, 3]), ("x", &[])]);
        let resp = partition_error_response(&req, ResponseError::UnknownTopicOrPartition);
        assert_eq!(resp.error_code, 0);
        assert_eq!(resp.topics.len(), 2);
        assert_eq!(resp.topics[0].topic_name.0.as_str(), "orders");
        let codes: Vec<(i32, i16)> = resp.topics[0]
            .partitions
            .iter()
            .map(|p| (p.partition_index, p.error_code))
            .collect();
        assert_eq!(codes, vec![(0, 3), (3, 3)]);
        assert!(resp.topics[1].partitions.is_empty());
    }

    #[test]
    fn status_maps_to_kafka_fields() {
        let resp = status_response(&status(), 2, "CONTROLLER");
        assert_eq!(resp.error_code, 0);
        let topic = &resp.topics[0];
        assert_eq!(topic.topic_name.0.as_str(), "__cluster_metadata");
        let p = &topic.partitions[0];
        assert_eq!(
            (
                p.partition_index,
                p.error_code,
                p.leader_id.0,
                p.leader_epoch
            ),
            (0, 0, 1, 3)
        );
        assert_eq!(p.high_watermark, 43);
        let voters: Vec<(i32, i64, i64, i64)> = p
            .current_voters
            .iter()
            .map(|v| {
                (
                    v.replica_id.0,
                    v.log_end_offset,
                    v.last_fetch_timestamp,
                    v.last_caught_up_timestamp,
                )
            })
            .collect();
        assert_eq!(voters, vec![(1, 43, -1, -1), (2, -1, -1, -1)]);
        assert_eq!(p.observers.len(), 1);
        assert_eq!(p.observers[0].replica_id.0, 4);
        assert_eq!(p.observers[0].log_end_offset, 41);
        assert!(p.current_voters[0].replica_directory_id.is_nil());
        type Endpoints = Vec<(String, String, u16)>;
        let nodes: Vec<(i32, Endpoints)> = resp
            .nodes
            .iter()
            .map(|n| {
                (
                    n.node_id.0,
                    n.listeners
                        .iter()
                        .map(|l| (l.name.to_string(), l.host.to_string(), l.port))
                        .collect(),
                )
            })
            .collect();
        assert_eq!(
            nodes,
            vec![
                (1, vec![("CONTROLLER".into(), "127.0.0.1".into(), 9093)]),
                (2, vec![("CONTROLLER".into(), "::1".into(), 9094)]),
            ]
        );
    }

    #[test]
    fn older_versions_have_no_nodes_and_encode() {
        use bytes::BytesMut;
        use kafka_protocol::protocol::Encodable;
        for version in 0..=2 {
            let resp = status_response(&status(), version, "CONTROLLER");
            assert_eq!(resp.nodes.is_empty(), version < 2);
            let mut buf = BytesMut::new();
            resp.encode(&mut buf, version)
                .unwrap_or_else(|e| panic!("v{version}: {e}"));
        }
    }

    #[test]
    fn no_leader_means_no_high_watermark() {
        let mut s = status();
        s.leader = None;
        let resp = status_response(&s, 1, "CONTROLLER");
        let p = &resp.topics[0].partitions[0];
        assert_eq!((p.leader_id.0, p.high_watermark), (-1, -1));
        s.leader = Some(2);
        let resp = status_response(&s, 1, "CONTROLLER");
        let p = &resp.topics[0].partitions[0];
        assert_eq!((p.leader_id.0, p.high_watermark), (2, -1));
    }

    #[test]
    fn bad_addresses_have_no_listener() {
        assert!(endpoint("C", "nohost").is_none());
        assert!(endpoint("C", ":9093").is_none());
        assert!(endpoint("C", "h:notaport").is_none());
        let l = endpoint("C", "h:1").unwrap();
        assert_eq!((l.host.as_str(), l.port), ("h", 1));
    }
}
