//! The Kafka APIs Weir serves: which versions, the dispatch from a decoded
//! request to its handler, and one handler file per API (as mini-redis has
//! one file per command).

pub mod alter_configs;
pub mod api_versions;
pub mod create_partitions;
pub mod create_topics;
pub mod delete_topics;
pub mod describe_cluster;
pub mod describe_configs;
pub mod describe_groups;
pub mod describe_log_dirs;
pub mod describe_quorum;
pub mod describe_topic_partitions;
pub mod elect_leaders;
pub mod fetch;
pub mod find_coordinator;
pub mod heartbeat;
pub mod incremental_alter_configs;
pub mod init_producer_id;
pub mod join_group;
pub mod leave_group;
pub mod list_groups;
pub mod list_offsets;
pub mod metadata;
pub mod offset_commit;
pub mod offset_fetch;
pub mod offset_for_leader_epoch;
pub mod produce;
pub mod sync_group;

use crate::broker::Broker;
use crate::frame::Request;
use kafka_protocol::messages::{ApiKey, RequestKind, ResponseKind};
use std::sync::Arc;

/// What the connection does after a request was handled.
#[derive(Debug)]
pub enum Outcome {
    /// Send this response (boxed: response structs are large).
    Respond(Box<ResponseKind>),
    /// Send nothing (Produce with acks=0).
    NoResponse,
    /// Close the connection (Kafka closes on requests it cannot serve).
    Close(String),
}

impl Outcome {
    /// Send `response`.
    pub fn respond(response: impl Into<ResponseKind>) -> Outcome {
        Outcome::Respond(Box::new(response.into()))
    }
}

/// Route a decoded request to its handler.
pub async fn dispatch(broker: &Arc<Broker>, request: Request) -> Outcome {
    let version = request.header.request_api_version;
    match request.body {
        RequestKind::ApiVersions(req) => {
            Outcome::respond(api_versions::handle(broker, &req, version))
        }
        RequestKind::Metadata(req) => metadata::handle(broker, req, version).await,
        RequestKind::CreateTopics(req) => create_topics::handle(broker, req, version).await,
        RequestKind::DeleteTopics(req) => delete_topics::handle(broker, req, version).await,
        RequestKind::CreatePartitions(req) => create_partitions::handle(broker, req, version).await,
        RequestKind::DescribeCluster(req) => describe_cluster::handle(broker, req, version).await,
        RequestKind::DescribeQuorum(req) => describe_quorum::handle(broker, req, version).await,
        RequestKind::DescribeLogDirs(req) => describe_log_dirs::handle(broker, req, version).await,
        RequestKind::DescribeTopicPartitions(req) => {
            describe_topic_partitions::handle(broker, req, version).await
        }
        RequestKind::ElectLeaders(req) => elect_leaders::handle(broker, req, version).await,
        RequestKind::InitProducerId(req) => init_producer_id::handle(broker, req, version).await,
        RequestKind::DescribeConfigs(req) => describe_configs::handle(broker, req, version).await,
        RequestKind::IncrementalAlterConfigs(req) => {
            incremental_alter_configs::handle(broker, req, version).await
        }
        RequestKind::FindCoordinator(req) => find_coordinator::handle(broker, req, version).await,
        RequestKind::JoinGroup(req) => {
            let client_id = request
                .header
                .client_id
                .as_deref()
                .unwrap_or_default()
                .to_string();
            join_group::handle_with_client(broker, req, version, &client_id, "").await
        }
        RequestKind::SyncGroup(req) => sync_group::handle(broker, req, version).await,
        RequestKind::Heartbeat(req) => heartbeat::handle(broker, req, version).await,
        RequestKind::LeaveGroup(req) => leave_group::handle(broker, req, version).await,
        RequestKind::OffsetCommit(req) => offset_commit::handle(broker, req, version).await,
        RequestKind::OffsetFetch(req) => offset_fetch::handle(broker, req, version).await,
        RequestKind::ListGroups(req) => list_groups::handle(broker, req, version).await,
        RequestKind::DescribeGroups(req) => describe_groups::handle(broker, req, version).await,
        RequestKind::AlterConfigs(req) => alter_configs::handle(broker, req, version).await,
        RequestKind::Produce(req) => produce::handle(broker, req, version).await,
        RequestKind::Fetch(req) => fetch::handle(broker, req, version).await,
        RequestKind::ListOffsets(req) => list_offsets::handle(broker, req, version).await,
        RequestKind::OffsetForLeaderEpoch(req) => {
            offset_for_leader_epoch::handle(broker, req, version).await
        }
        _ => Outcome::Close(format!(
            "{:?} v{version} is not implemented yet",
            request.api_key
        )),
    }
}

/// API keys and the version ranges Weir accepts, inclusive. Only these
/// reach the `kafka-protocol` decoder (after [`crate::guard`] has checked
/// them); anything else is answered UNSUPPORTED_VERSION or, for an unknown
/// key, the connection is closed, as Kafka does.
///
/// The floors are Kafka 4.0's (KIP-896 removed older versions), which is
/// also where `kafka-protocol` 0.18's codecs start.
pub const SUPPORTED_APIS: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Produce, 3, 11),
    (ApiKey::Fetch, 4, 16),
    (ApiKey::ListOffsets, 1, 8),
    (ApiKey::Metadata, 0, 12),
    (ApiKey::OffsetCommit, 2, 9),
    (ApiKey::OffsetFetch, 1, 9),
    (ApiKey::FindCoordinator, 0, 5),
    (ApiKey::JoinGroup, 0, 9),
    (ApiKey::Heartbeat, 0, 4),
    (ApiKey::LeaveGroup, 0, 5),
    (ApiKey::SyncGroup, 0, 5),
    (ApiKey::DescribeGroups, 0, 5),
    (ApiKey::ListGroups, 0, 5),
    (ApiKey::ApiVersions, 0, 4),
    (ApiKey::CreateTopics, 2, 7),
    (ApiKey::DeleteTopics, 1, 6),
    (ApiKey::InitProducerId, 0, 5),
    (ApiKey::OffsetForLeaderEpoch, 2, 4),
    (ApiKey::DescribeConfigs, 1, 4),
    (ApiKey::DescribeLogDirs, 1, 4),
    (ApiKey::CreatePartitions, 0, 3),
    (ApiKey::AlterConfigs, 0, 2),
    (ApiKey::ElectLeaders, 0, 2),
    (ApiKey::IncrementalAlterConfigs, 0, 1),
    (ApiKey::DescribeCluster, 0, 1),
    (ApiKey::DescribeQuorum, 0, 2),
    (ApiKey::DescribeTopicPartitions, 0, 0),
];

/// The accepted version range of `key`, if Weir serves it.
pub fn supported_versions(key: ApiKey) -> Option<(i16, i16)> {
    SUPPORTED_APIS
        .iter()
        .find(|(k, _, _)| *k == key)
        .map(|&(_, min, max)| (min, max))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_supported_range_is_inside_the_codecs_range() {
        for &(key, min, max) in SUPPORTED_APIS {
            let codec = key.valid_versions();
            assert!(
                codec.min <= min && max <= codec.max && min <= max,
                "{key:?} {min}..={max} vs codec {}..={}",
                codec.min,
                codec.max
            );
        }
    }
}
