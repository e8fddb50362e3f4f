//! Cluster metadata as Kafka's KRaft keeps it: the records of the metadata
//! log, the image that replaying them builds, and the controller's pure
//! planning, which turns a request into the records to commit (or a
//! Kafka error).
//!
//! The broker's handlers (CreateTopics, DeleteTopics, CreatePartitions,
//! IncrementalAlterConfigs, InitProducerId) and the Raft controller only
//! commit what a `plan_*` function returns and then [`MetadataImage::apply`]
//! each committed record, on every node, in log order. Planning reads the
//! image and takes randomness (`start_index`, `topic_id`) from the caller,
//! so the same inputs always give the same records.
//!
//! - `records`: [`MetadataRecord`] and its parts.
//! - `image`: [`MetadataImage`] and [`MetadataImage::apply`].
//! - `topic_name`: Kafka's topic naming rules.
//! - [`topic_config`]: the topic-level keys, defaults and validators.
//! - `placement`: replica assignment ([`assign_replicas`]).
//! - `plan_topics`, `plan_configs`, `plan_producer_ids`: request planning.
//! - `election`: leader election on fencing and unfencing.
//! - `plan_elect_leaders`: preferred leader election (ElectLeaders) and
//!   the automatic leader rebalance.
//! - `controller_op`: [`ControllerOp`], what a broker asks the active
//!   controller for, and broker registration planning.
//! - `sessions`: [`BrokerSessions`], heartbeats and fencing (in memory).

mod controller_op;
mod election;
mod group_coordinator;
mod image;
mod placement;
mod plan_alter_partition;
mod plan_configs;
mod plan_elect_leaders;
mod plan_error;
mod plan_producer_ids;
mod plan_topics;
mod records;
mod sessions;
pub mod topic_config;
mod topic_name;

#[cfg(test)]
mod tests;

pub use controller_op::{
    plan_register_broker, plan_register_broker_with, replace_ops, BrokerRegistrationRequest,
    ControllerOp,
};
pub use election::{
    plan_broker_fenced, plan_broker_fenced_with, plan_broker_unfenced, plan_broker_unfenced_with,
    plan_controlled_shutdown, plan_controlled_shutdown_with, plan_unclean_shutdown, ElectionPolicy,
};
pub use group_coordinator::{
    group_coordinator, offsets_partition, offsets_partition_count, OFFSETS_TOPIC,
};
pub use image::{
    BrokerRegistration, MetadataError, MetadataImage, PartitionChangeFields, PartitionRegistration,
    TopicImage,
};
pub use placement::{assign_replicas, rack_alternated_brokers, PlacementBroker};
pub use plan_alter_partition::{
    plan_alter_partition, plan_alter_partition_with, AlterPartitionRequest,
};
pub use plan_configs::{plan_alter_configs, AlterConfigOp, AlterConfigOpType};
pub use plan_elect_leaders::{
    plan_auto_rebalance, plan_preferred_election, plan_unclean_election,
    preferred_election_results, unclean_election_results, ElectionOutcome, ElectionResult,
    ElectionType, MAX_ELECTIONS_PER_REBALANCE,
};
pub use plan_error::PlanError;
pub use plan_producer_ids::{plan_producer_id_block, ProducerIdBlock, PRODUCER_ID_BLOCK_SIZE};
pub use plan_topics::{
    plan_create_partitions, plan_create_topic, plan_delete_topic, plan_delete_topic_by_id,
    NewTopic, ReplicaAssignment, TopicDefaults, MAX_RECORDS_PER_USER_OP,
};
pub use records::{ConfigResource, Endpoint, MetadataRecord, NO_LEADER};
pub use sessions::{BrokerSessions, HeartbeatVerdict};
pub use topic_name::{
    is_internal_topic, topic_names_collide, validate_topic_name, CLUSTER_METADATA_TOPIC_NAME,
    MAX_TOPIC_NAME_LENGTH,
};
