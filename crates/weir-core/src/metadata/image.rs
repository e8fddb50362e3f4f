//! The metadata image: the state that replaying the metadata log builds,
//! as KRaft's `MetadataImage` (with `ClusterImage`, `TopicsImage`,
//! `ConfigurationsImage` and `ProducerIdsImage` folded into one value).
//!
//! [`MetadataImage::apply`] is the only way to change it. It checks each
//! record against the image first and changes nothing when it refuses one,
//! so a bad record can never leave half an update behind.

use super::records::{ConfigResource, Endpoint, MetadataRecord, NO_LEADER};
use super::topic_name::validate_topic_name;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use uuid::Uuid;

/// A registered broker (KRaft's `BrokerRegistration`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct BrokerRegistration {
    /// `node.id`.
    pub broker_id: i32,
    /// Id of the process run that registered.
    pub incarnation_id: Uuid,
    /// Epoch of this registration.
    pub broker_epoch: i64,
    /// Advertised listeners.
    pub listeners: Vec<Endpoint>,
    /// `broker.rack`, if set.
    pub rack: Option<String>,
    /// A fenced broker may not lead or be in an ISR.
    pub fenced: bool,
}

/// The state of one partition (KRaft's `PartitionRegistration`).
///
/// Invariants (checked by [`MetadataImage::apply`]): `replicas` is not
/// empty and has no duplicates; `isr` and `elr` are disjoint subsets of
/// `replicas`; `leader` is [`NO_LEADER`] or a member of `isr`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct PartitionRegistration {
    /// Replicas in preferred order.
    pub replicas: Vec<i32>,
    /// In-sync replicas.
    pub isr: Vec<i32>,
    /// Eligible leader replicas (KIP-966).
    pub elr: Vec<i32>,
    /// Last known ELR members (KIP-966).
    pub last_known_elr: Vec<i32>,
    /// Leader, or [`NO_LEADER`].
    pub leader: i32,
    /// Bumped on every leader change.
    pub leader_epoch: i32,
    /// Bumped on every change.
    pub partition_epoch: i32,
    /// Elected uncleanly and not yet recovered (Kafka's
    /// `LeaderRecoveryState.RECOVERING`): the ISR may not grow.
    #[serde(default)]
    pub leader_recovering: bool,
}

impl PartitionRegistration {
    /// The `min.insync.replicas` that applies to this partition: the
    /// configured value capped at the replication factor (KIP-966), and
    /// at least 1. acks=all is refused while the ISR is smaller.
    pub fn effective_min_isr(&self, configured: i32) -> i32 {
        configured.min(self.replicas.len() as i32).max(1)
    }

    /// The preferred leader: the first replica.
    pub fn preferred_leader(&self) -> i32 {
        self.replicas[0]
    }

    /// True when some broker leads the partition.
    pub fn has_leader(&self) -> bool {
        self.leader != NO_LEADER
    }

    /// Apply a `PartitionChangeRecord` as Kafka's
    /// `PartitionRegistration.merge` does: absent fields keep their value,
    /// a present leader bumps the leader epoch, and the partition epoch
    /// always bumps.
    pub fn merge(&self, change: &PartitionChangeFields<'_>) -> PartitionRegistration {
        let pick = |new: Option<&Vec<i32>>, old: &Vec<i32>| new.unwrap_or(old).clone();
        let (leader, leader_epoch) = match change.leader {
            Some(leader) => (leader, self.leader_epoch + 1),
            None => (self.leader, self.leader_epoch),
        };
        PartitionRegistration {
            replicas: pick(change.replicas, &self.replicas),
            isr: pick(change.isr, &self.isr),
            elr: pick(change.elr, &self.elr),
            last_known_elr: pick(change.last_known_elr, &self.last_known_elr),
            leader,
            leader_epoch,
            partition_epoch: self.partition_epoch + 1,
            leader_recovering: change.leader_recovering.unwrap_or(self.leader_recovering),
        }
    }

    /// Check the invariants stated on the type.
    fn check(&self) -> Result<(), String> {
        if self.replicas.is_empty() {
            return Err("the replica list is empty".into());
        }
        check_members("replicas", &self.replicas, None)?;
        check_members("isr", &self.isr, Some(&self.replicas))?;
        check_members("elr", &self.elr, Some(&self.replicas))?;
        check_members("last_known_elr", &self.last_known_elr, None)?;
        if let Some(both) = self.elr.iter().find(|b| self.isr.contains(b)) {
            return Err(format!("broker {both} is in both the ISR and the ELR"));
        }
        if self.leader != NO_LEADER && !self.isr.contains(&self.leader) {
            return Err(format!(
                "leader {} is not in the ISR {:?}",
                self.leader, self.isr
            ));
        }
        if self.leader_epoch < 0 || self.partition_epoch < 0 {
            return Err("negative epoch".into());
        }
        Ok(())
    }
}

/// Borrowed optional fields of a `PartitionChange` record.
#[derive(Debug, Clone, Copy, Default)]
pub struct PartitionChangeFields<'a> {
    /// New leader.
    pub leader: Option<i32>,
    /// New ISR.
    pub isr: Option<&'a Vec<i32>>,
    /// New ELR.
    pub elr: Option<&'a Vec<i32>>,
    /// New last known ELR.
    pub last_known_elr: Option<&'a Vec<i32>>,
    /// New replicas.
    pub replicas: Option<&'a Vec<i32>>,
    /// New leader recovery state.
    pub leader_recovering: Option<bool>,
}

fn check_members(what: &str, list: &[i32], within: Option<&[i32]>) -> Result<(), String> {
    for (i, b) in list.iter().enumerate() {
        if *b < 0 {
            return Err(format!("{what} holds the invalid broker id {b}"));
        }
        if list[..i].contains(b) {
            return Err(format!("{what} holds broker {b} more than once"));
        }
        if within.is_some_and(|replicas| !replicas.contains(b)) {
            return Err(format!("{what} holds broker {b}, which is not a replica"));
        }
    }
    Ok(())
}

/// One topic and its partitions.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct TopicImage {
    /// Topic name.
    pub name: String,
    /// Topic id.
    pub topic_id: Uuid,
    /// Partitions by index; indexes are `0..len` without gaps.
    pub partitions: BTreeMap<i32, PartitionRegistration>,
}

/// A record that the image refuses: it contradicts what is already there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetadataError {
    /// A second, different cluster id.
    #[error("cluster id {requested} refused: the cluster is {existing}")]
    ClusterIdMismatch {
        /// The id in the image.
        existing: String,
        /// The id in the record.
        requested: String,
    },
    /// The record names a broker id below zero.
    #[error("invalid broker id {0}")]
    InvalidBrokerId(i32),
    /// The record names a broker that is not registered.
    #[error("no broker {0} is registered")]
    UnknownBroker(i32),
    /// The record carries another epoch than the broker's registration.
    #[error("broker {broker_id} is registered with epoch {current}, not {requested}")]
    BrokerEpochMismatch {
        /// The broker.
        broker_id: i32,
        /// Epoch of its registration.
        current: i64,
        /// Epoch in the record.
        requested: i64,
    },
    /// A re-registration must carry a higher epoch than the one it replaces.
    #[error(
        "broker {broker_id} re-registers with epoch {requested}, not above its epoch {current}"
    )]
    BrokerEpochNotIncreasing {
        /// The broker.
        broker_id: i32,
        /// Epoch of its registration.
        current: i64,
        /// Epoch in the record.
        requested: i64,
    },
    /// The topic name breaks Kafka's naming rules.
    #[error("{0}")]
    InvalidTopicName(String),
    /// Another topic already has this name.
    #[error("a topic named '{name}' already exists with id {existing}")]
    DuplicateTopicName {
        /// The name.
        name: String,
        /// Id of the topic that has it.
        existing: Uuid,
    },
    /// Another topic already has this id.
    #[error("topic id {0} is already in use")]
    DuplicateTopicId(Uuid),
    /// No topic has this id.
    #[error("no topic has id {0}")]
    UnknownTopicId(Uuid),
    /// No topic has this name.
    #[error("no topic is named '{0}'")]
    UnknownTopicName(String),
    /// The topic has no such partition.
    #[error("topic {topic_id} has no partition {partition}")]
    UnknownPartition {
        /// The topic.
        topic_id: Uuid,
        /// The partition.
        partition: i32,
    },
    /// The partition state the record asks for breaks an invariant.
    #[error("partition {partition} of topic {topic_id}: {reason}")]
    InvalidPartition {
        /// The topic.
        topic_id: Uuid,
        /// The partition.
        partition: i32,
        /// What is wrong.
        reason: String,
    },
    /// A configuration key must not be empty.
    #[error("empty configuration name")]
    EmptyConfigName,
    /// Producer id blocks only move forward (Kafka's
    /// `ProducerIdControlManager.replay`).
    #[error("next producer id {requested} is not above the current {current}")]
    ProducerIdNotIncreasing {
        /// The current next producer id.
        current: i64,
        /// The one in the record.
        requested: i64,
    },
}

/// Cluster metadata as replayed from the metadata log; serializable so it
/// can be a snapshot of that log.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct MetadataImage {
    brokers: BTreeMap<i32, BrokerRegistration>,
    topics: BTreeMap<Uuid, TopicImage>,
    /// Invariant: `topic_ids[name] == id` exactly when `topics[id].name == name`.
    topic_ids: BTreeMap<String, Uuid>,
    broker_configs: BTreeMap<i32, BTreeMap<String, String>>,
    topic_configs: BTreeMap<String, BTreeMap<String, String>>,
    cluster_configs: BTreeMap<String, String>,
    next_producer_id: i64,
    records_applied: u64,
    #[serde(default)]
    cluster_id: Option<String>,
}

impl MetadataImage {
    /// An empty image.
    pub fn new() -> Self {
        Self::default()
    }

    /// Apply one record, or refuse it and change nothing.
    pub fn apply(&mut self, record: &MetadataRecord) -> Result<(), MetadataError> {
        match record {
            MetadataRecord::RegisterBroker {
                broker_id,
                incarnation_id,
                broker_epoch,
                listeners,
                rack,
            } => self.register_broker(BrokerRegistration {
                broker_id: *broker_id,
                incarnation_id: *incarnation_id,
                broker_epoch: *broker_epoch,
                listeners: listeners.clone(),
                rack: rack.clone(),
                fenced: true,
            })?,
            MetadataRecord::UnregisterBroker {
                broker_id,
                broker_epoch,
            } => {
                self.registered(*broker_id, *broker_epoch)?;
                self.brokers.remove(broker_id);
            }
            MetadataRecord::FenceBroker {
                broker_id,
                broker_epoch,
            } => self.set_fenced(*broker_id, *broker_epoch, true)?,
            MetadataRecord::UnfenceBroker {
                broker_id,
                broker_epoch,
            } => self.set_fenced(*broker_id, *broker_epoch, false)?,
            MetadataRecord::Topic { name, topic_id } => self.add_topic(name, *topic_id)?,
            MetadataRecord::Partition {
                topic_id,
                partition,
                replicas,
                isr,
                elr,
                last_known_elr,
                leader,
                leader_epoch,
                partition_epoch,
            } => {
                let registration = PartitionRegistration {
                    replicas: replicas.clone(),
                    isr: isr.clone(),
                    elr: elr.clone(),
                    last_known_elr: last_known_elr.clone(),
                    leader: *leader,
                    leader_epoch: *leader_epoch,
                    partition_epoch: *partition_epoch,
                    leader_recovering: false,
                };
                self.put_partition(*topic_id, *partition, registration)?
            }
            MetadataRecord::PartitionChange {
                topic_id,
                partition,
                leader,
                isr,
                elr,
                last_known_elr,
                replicas,
                leader_recovering,
            } => {
                let change = PartitionChangeFields {
                    leader: *leader,
                    isr: isr.as_ref(),
                    elr: elr.as_ref(),
                    last_known_elr: last_known_elr.as_ref(),
                    replicas: replicas.as_ref(),
                    leader_recovering: *leader_recovering,
                };
                self.change_partition(*topic_id, *partition, &change)?
            }
            MetadataRecord::Config {
                resource,
                name,
                value,
            } => self.set_config(resource, name, value.as_deref())?,
            MetadataRecord::RemoveTopic { topic_id } => self.remove_topic(*topic_id)?,
            MetadataRecord::ClusterId { cluster_id } => match &self.cluster_id {
                Some(existing) if existing != cluster_id => {
                    return Err(MetadataError::ClusterIdMismatch {
                        existing: existing.clone(),
                        requested: cluster_id.clone(),
                    })
                }
                _ => self.cluster_id = Some(cluster_id.clone()),
            },
            MetadataRecord::ProducerIds {
                next_producer_id, ..
            } => self.advance_producer_ids(*next_producer_id)?,
        }
        self.records_applied += 1;
        Ok(())
    }

    /// How many records this image has applied since it was empty. It
    /// counts across snapshots, so a node can tell which of two images is
    /// newer.
    pub fn records_applied(&self) -> u64 {
        self.records_applied
    }

    /// The cluster id, once the first controller has written it.
    pub fn cluster_id(&self) -> Option<&str> {
        self.cluster_id.as_deref()
    }

    /// A registered broker.
    pub fn broker(&self, broker_id: i32) -> Option<&BrokerRegistration> {
        self.brokers.get(&broker_id)
    }

    /// Registered brokers by id, fenced or not.
    pub fn brokers(&self) -> impl Iterator<Item = &BrokerRegistration> {
        self.brokers.values()
    }

    /// Registered, unfenced brokers by id: those that may lead or hold
    /// new replicas.
    pub fn unfenced_brokers(&self) -> impl Iterator<Item = &BrokerRegistration> {
        self.brokers.values().filter(|b| !b.fenced)
    }

    /// True when the broker is registered and unfenced (Kafka's
    /// `ClusterControlManager.isActive`, without controlled shutdown).
    pub fn is_unfenced(&self, broker_id: i32) -> bool {
        self.brokers.get(&broker_id).is_some_and(|b| !b.fenced)
    }

    /// The replicas of `partition` that are not registered and unfenced:
    /// the Metadata response's `offline_replicas` (KRaft counts a fenced
    /// broker's replicas as offline).
    pub fn offline_replicas(&self, partition: &PartitionRegistration) -> Vec<i32> {
        partition
            .replicas
            .iter()
            .copied()
            .filter(|r| !self.is_unfenced(*r))
            .collect()
    }

    /// A topic by id.
    pub fn topic(&self, topic_id: &Uuid) -> Option<&TopicImage> {
        self.topics.get(topic_id)
    }

    /// A topic by name.
    pub fn topic_by_name(&self, name: &str) -> Option<&TopicImage> {
        self.topic_ids.get(name).and_then(|id| self.topics.get(id))
    }

    /// All topics, by name.
    pub fn topics(&self) -> impl Iterator<Item = &TopicImage> {
        self.topic_ids.values().filter_map(|id| self.topics.get(id))
    }

    /// All topics, by id (a stable order that does not depend on names).
    pub fn topics_by_id(&self) -> impl Iterator<Item = &TopicImage> {
        self.topics.values()
    }

    /// One partition's state.
    pub fn partition(&self, topic_id: &Uuid, partition: i32) -> Option<&PartitionRegistration> {
        self.topics.get(topic_id)?.partitions.get(&partition)
    }

    /// The partitions of a topic, by index.
    pub fn partitions(&self, topic_id: &Uuid) -> Option<&BTreeMap<i32, PartitionRegistration>> {
        self.topics.get(topic_id).map(|t| &t.partitions)
    }

    /// The keys set on a resource (overrides only; defaults live with the
    /// caller). Empty when nothing is set.
    pub fn configs(&self, resource: &ConfigResource) -> impl Iterator<Item = (&str, &str)> {
        let map = match resource {
            ConfigResource::Broker(id) => self.broker_configs.get(id),
            ConfigResource::Topic(name) => self.topic_configs.get(name),
            ConfigResource::Cluster => Some(&self.cluster_configs),
        };
        map.into_iter()
            .flatten()
            .map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// One key set on a resource.
    pub fn config(&self, resource: &ConfigResource, name: &str) -> Option<&str> {
        self.configs(resource)
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }

    /// The first producer id of the next block the controller hands out.
    pub fn next_producer_id(&self) -> i64 {
        self.next_producer_id
    }

    fn register_broker(&mut self, registration: BrokerRegistration) -> Result<(), MetadataError> {
        let id = registration.broker_id;
        if id < 0 {
            return Err(MetadataError::InvalidBrokerId(id));
        }
        if let Some(old) = self.brokers.get(&id) {
            if registration.broker_epoch <= old.broker_epoch {
                return Err(MetadataError::BrokerEpochNotIncreasing {
                    broker_id: id,
                    current: old.broker_epoch,
                    requested: registration.broker_epoch,
                });
            }
        }
        self.brokers.insert(id, registration);
        Ok(())
    }

    /// The registration of `broker_id` if its epoch is `broker_epoch`, as
    /// Kafka's `ClusterControlManager` checks on replay.
    fn registered(
        &self,
        broker_id: i32,
        broker_epoch: i64,
    ) -> Result<&BrokerRegistration, MetadataError> {
        let broker = self
            .brokers
            .get(&broker_id)
            .ok_or(MetadataError::UnknownBroker(broker_id))?;
        if broker.broker_epoch != broker_epoch {
            return Err(MetadataError::BrokerEpochMismatch {
                broker_id,
                current: broker.broker_epoch,
                requested: broker_epoch,
            });
        }
        Ok(broker)
    }

    fn set_fenced(
        &mut self,
        broker_id: i32,
        broker_epoch: i64,
        fenced: bool,
    ) -> Result<(), MetadataError> {
        self.registered(broker_id, broker_epoch)?;
        if let Some(broker) = self.brokers.get_mut(&broker_id) {
            broker.fenced = fenced;
        }
        Ok(())
    }

    fn add_topic(&mut self, name: &str, topic_id: Uuid) -> Result<(), MetadataError> {
        validate_topic_name(name).map_err(|e| MetadataError::InvalidTopicName(e.to_string()))?;
        if let Some(existing) = self.topic_ids.get(name) {
            return Err(MetadataError::DuplicateTopicName {
                name: name.to_string(),
                existing: *existing,
            });
        }
        if self.topics.contains_key(&topic_id) {
            return Err(MetadataError::DuplicateTopicId(topic_id));
        }
        self.topic_ids.insert(name.to_string(), topic_id);
        let topic = TopicImage {
            name: name.to_string(),
            topic_id,
            partitions: BTreeMap::new(),
        };
        self.topics.insert(topic_id, topic);
        Ok(())
    }

    /// A `PartitionRecord` creates a partition, or replaces one as Kafka's
    /// `ReplicationControlManager.replay(PartitionRecord)` allows. New
    /// indexes must extend `0..len` without a gap.
    fn put_partition(
        &mut self,
        topic_id: Uuid,
        partition: i32,
        registration: PartitionRegistration,
    ) -> Result<(), MetadataError> {
        let invalid = |reason: String| MetadataError::InvalidPartition {
            topic_id,
            partition,
            reason,
        };
        let topic = self
            .topics
            .get_mut(&topic_id)
            .ok_or(MetadataError::UnknownTopicId(topic_id))?;
        let count = topic.partitions.len();
        if partition < 0 || partition as usize > count {
            return Err(invalid(format!("index out of 0..={count}")));
        }
        registration.check().map_err(invalid)?;
        topic.partitions.insert(partition, registration);
        Ok(())
    }

    fn change_partition(
        &mut self,
        topic_id: Uuid,
        partition: i32,
        change: &PartitionChangeFields<'_>,
    ) -> Result<(), MetadataError> {
        let topic = self
            .topics
            .get_mut(&topic_id)
            .ok_or(MetadataError::UnknownTopicId(topic_id))?;
        let current =
            topic
                .partitions
                .get_mut(&partition)
                .ok_or(MetadataError::UnknownPartition {
                    topic_id,
                    partition,
                })?;
        let merged = current.merge(change);
        merged
            .check()
            .map_err(|reason| MetadataError::InvalidPartition {
                topic_id,
                partition,
                reason,
            })?;
        *current = merged;
        Ok(())
    }

    fn set_config(
        &mut self,
        resource: &ConfigResource,
        name: &str,
        value: Option<&str>,
    ) -> Result<(), MetadataError> {
        if name.is_empty() {
            return Err(MetadataError::EmptyConfigName);
        }
        let map = match resource {
            ConfigResource::Broker(id) if *id < 0 => {
                return Err(MetadataError::InvalidBrokerId(*id))
            }
            ConfigResource::Broker(id) => self.broker_configs.entry(*id).or_default(),
            ConfigResource::Topic(topic) if !self.topic_ids.contains_key(topic) => {
                return Err(MetadataError::UnknownTopicName(topic.clone()))
            }
            ConfigResource::Topic(topic) => self.topic_configs.entry(topic.clone()).or_default(),
            ConfigResource::Cluster => &mut self.cluster_configs,
        };
        match value {
            Some(value) => map.insert(name.to_string(), value.to_string()),
            None => map.remove(name),
        };
        self.prune_empty_configs();
        Ok(())
    }

    /// Keep equal images equal: no resource is left with an empty map.
    fn prune_empty_configs(&mut self) {
        self.broker_configs.retain(|_, m| !m.is_empty());
        self.topic_configs.retain(|_, m| !m.is_empty());
    }

    /// Removing a topic also removes its partitions and its configuration
    /// (Kafka's `replay(RemoveTopicRecord)` calls `deleteTopicConfigs`).
    fn remove_topic(&mut self, topic_id: Uuid) -> Result<(), MetadataError> {
        let topic = self
            .topics
            .remove(&topic_id)
            .ok_or(MetadataError::UnknownTopicId(topic_id))?;
        self.topic_ids.remove(&topic.name);
        self.topic_configs.remove(&topic.name);
        Ok(())
    }

    fn advance_producer_ids(&mut self, next_producer_id: i64) -> Result<(), MetadataError> {
        if next_producer_id <= self.next_producer_id {
            return Err(MetadataError::ProducerIdNotIncreasing {
                current: self.next_producer_id,
                requested: next_producer_id,
            });
        }
        self.next_producer_id = next_producer_id;
        Ok(())
    }
}
