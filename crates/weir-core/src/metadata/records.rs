//! The records of the metadata log, after KRaft's
//! `metadata/src/main/resources/common/metadata/*Record.json`.
//!
//! Each record is one committed change. Only the fields Weir uses are kept;
//! the names follow Kafka's so a reader of either can map one to the other.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Kafka's "no leader" broker id (`LeaderConstants.NO_LEADER`).
pub const NO_LEADER: i32 = -1;

/// A listener a broker advertises (`RegisterBrokerRecord.EndPoints`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash)]
pub struct Endpoint {
    /// Listener name, e.g. `PLAINTEXT`.
    pub name: String,
    /// Advertised host name.
    pub host: String,
    /// Advertised port.
    pub port: u16,
}

/// What a configuration applies to (`ConfigRecord.ResourceType/ResourceName`).
///
/// Kafka spells the cluster-wide default as a broker resource with an
/// empty name; here it is its own variant.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ConfigResource {
    /// Dynamic configuration of one broker.
    Broker(i32),
    /// Overrides of one topic, by name.
    Topic(String),
    /// Cluster-wide dynamic broker defaults.
    Cluster,
}

/// One change to cluster metadata, as committed to the metadata log.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub enum MetadataRecord {
    /// A broker (re)registers (`RegisterBrokerRecord`). A registration starts
    /// fenced, as Kafka's `Fenced` field defaults to true; `UnfenceBroker`
    /// follows once the broker has caught up with the metadata log.
    RegisterBroker {
        /// `node.id`.
        broker_id: i32,
        /// Random id of this process run, to tell restarts apart.
        incarnation_id: Uuid,
        /// Assigned by the controller; strictly increases per broker.
        broker_epoch: i64,
        /// Advertised listeners.
        listeners: Vec<Endpoint>,
        /// `broker.rack`, if set.
        rack: Option<String>,
    },
    /// A broker leaves the cluster (`UnregisterBrokerRecord`).
    UnregisterBroker {
        /// The broker.
        broker_id: i32,
        /// Its current epoch.
        broker_epoch: i64,
    },
    /// A broker may no longer lead or be in an ISR (`FenceBrokerRecord`).
    FenceBroker {
        /// The broker.
        broker_id: i32,
        /// Its current epoch.
        broker_epoch: i64,
    },
    /// A broker may lead and join ISRs again (`UnfenceBrokerRecord`).
    UnfenceBroker {
        /// The broker.
        broker_id: i32,
        /// Its current epoch.
        broker_epoch: i64,
    },
    /// A topic is created (`TopicRecord`); its partitions follow.
    Topic {
        /// Topic name.
        name: String,
        /// Unique id, never reused (KIP-516).
        topic_id: Uuid,
    },
    /// The full state of one partition (`PartitionRecord`, version 2 with
    /// KIP-966's ELR fields).
    Partition {
        /// The topic.
        topic_id: Uuid,
        /// Partition index.
        partition: i32,
        /// Replicas in preferred order; the first is the preferred leader.
        replicas: Vec<i32>,
        /// In-sync replicas.
        isr: Vec<i32>,
        /// Eligible leader replicas (KIP-966).
        elr: Vec<i32>,
        /// Last known ELR members (KIP-966).
        last_known_elr: Vec<i32>,
        /// Leader, or [`NO_LEADER`].
        leader: i32,
        /// Bumped on every leader change.
        leader_epoch: i32,
        /// Bumped on every change of any field.
        partition_epoch: i32,
    },
    /// A change to one partition (`PartitionChangeRecord`); `None` means
    /// "unchanged". Applying it follows Kafka's
    /// `PartitionRegistration.merge`: a present `leader` (even the same
    /// one, or [`NO_LEADER`]) bumps the leader epoch, and every change
    /// bumps the partition epoch.
    PartitionChange {
        /// The topic.
        topic_id: Uuid,
        /// Partition index.
        partition: i32,
        /// New leader or [`NO_LEADER`] (Kafka's -2 "no change" is `None`).
        leader: Option<i32>,
        /// New ISR.
        isr: Option<Vec<i32>>,
        /// New ELR.
        elr: Option<Vec<i32>>,
        /// New last known ELR.
        last_known_elr: Option<Vec<i32>>,
        /// New replica list.
        replicas: Option<Vec<i32>>,
        /// Kafka's `LeaderRecoveryState`: `Some(true)` after an unclean
        /// election (RECOVERING: the ISR may not grow), `Some(false)` once
        /// the leader says it recovered.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        leader_recovering: Option<bool>,
    },
    /// Set or delete one configuration key (`ConfigRecord`).
    Config {
        /// What the key applies to.
        resource: ConfigResource,
        /// Configuration key.
        name: String,
        /// New value; `None` deletes the key.
        value: Option<String>,
    },
    /// A topic, its partitions and its configuration are deleted
    /// (`RemoveTopicRecord`).
    RemoveTopic {
        /// The topic.
        topic_id: Uuid,
    },
    /// The cluster's id, written once by the first active controller so
    /// that every node formats its log dirs with the same `cluster.id`
    /// (Weir's stand-in for `kafka-storage.sh format --cluster-id`; not a
    /// Kafka record).
    ClusterId {
        /// Kafka's 22-character base64 cluster id.
        cluster_id: String,
    },
    /// The controller handed a block of producer ids to a broker
    /// (`ProducerIdsRecord`, KIP-730): ids below `next_producer_id` are
    /// taken.
    ProducerIds {
        /// The broker that asked.
        broker_id: i32,
        /// Its epoch when it asked.
        broker_epoch: i64,
        /// First id of the next block.
        next_producer_id: i64,
    },
}
