//! What a broker asks of the active controller, as plain data.
//!
//! Any broker receives CreateTopics, DeleteTopics, CreatePartitions,
//! (Incremental)AlterConfigs and InitProducerId; it turns the request
//! into a [`ControllerOp`] and sends it to the active controller (or
//! hands it to its own when it is that controller). The controller plans
//! the op against its image with [`ControllerOp::plan`] and commits the
//! records through Raft. Randomness (topic ids, placement start) is
//! drawn by the broker that built the op, so planning stays a pure
//! function of (op, image).
//!
//! Broker registration is planned by [`plan_register_broker`].

use super::election::{plan_broker_fenced_with, plan_unclean_shutdown, ElectionPolicy};
use super::image::MetadataImage;
use super::plan_alter_partition::{plan_alter_partition_with, AlterPartitionRequest};
use super::plan_configs::{plan_alter_configs, AlterConfigOp, AlterConfigOpType};
use super::plan_elect_leaders::{plan_preferred_election, plan_unclean_election, ElectionType};
use super::plan_error::PlanError;
use super::plan_producer_ids::plan_producer_id_block;
use super::plan_topics::{
    plan_create_partitions, plan_create_topic, plan_delete_topic, plan_delete_topic_by_id,
    NewTopic, TopicDefaults,
};
use super::records::{ConfigResource, Endpoint, MetadataRecord};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A metadata change a broker asks the controller for.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub enum ControllerOp {
    /// CreateTopics (one topic) or Metadata auto-creation.
    CreateTopic {
        /// The topic as requested.
        topic: NewTopic,
        /// What -1 counts stand for (the asking broker's defaults).
        defaults: TopicDefaults,
        /// The id the new topic gets.
        topic_id: Uuid,
        /// Placement start (random, drawn by the asking broker).
        start_index: usize,
    },
    /// DeleteTopics by name.
    DeleteTopic {
        /// Topic name.
        name: String,
    },
    /// DeleteTopics by id (v6+).
    DeleteTopicById {
        /// Topic id.
        topic_id: Uuid,
    },
    /// CreatePartitions for one topic.
    CreatePartitions {
        /// Topic name.
        name: String,
        /// New total partition count.
        count: i32,
        /// Explicit replicas of the new partitions.
        assignment: Option<Vec<Vec<i32>>>,
        /// Placement start.
        start_index: usize,
    },
    /// IncrementalAlterConfigs on one resource.
    AlterConfigs {
        /// The resource.
        resource: ConfigResource,
        /// The operations.
        ops: Vec<AlterConfigOp>,
    },
    /// AlterConfigs (the legacy API) on one resource: the given keys
    /// become the whole set of overrides; every other override is deleted.
    ReplaceConfigs {
        /// The resource.
        resource: ConfigResource,
        /// The complete new set of (key, value).
        configs: Vec<(String, String)>,
    },
    /// AlterPartition: a leader changes a partition's ISR.
    AlterPartition(AlterPartitionRequest),
    /// ElectLeaders: elect the preferred leader of `partitions` (`None`:
    /// every partition). The records say which partitions were elected;
    /// the asking broker reads the other partitions' results from its own
    /// image once it has applied them
    /// ([`super::plan_elect_leaders::preferred_election_results`]), so
    /// nothing but the records has to travel back.
    ElectLeaders {
        /// Preferred; unclean is refused with INVALID_REQUEST for now.
        election_type: ElectionType,
        /// (topic id, partition) pairs, or every partition.
        partitions: Option<Vec<(Uuid, i32)>>,
    },
    /// A block of producer ids for `broker_id` (KIP-730).
    ProducerIdBlock {
        /// The asking broker.
        broker_id: i32,
        /// Ids in the block.
        size: i64,
    },
    /// Controlled shutdown: `broker_id` is about to stop; move its
    /// leaderships to other ISR members first
    /// ([`super::election::plan_controlled_shutdown`]).
    ControlledShutdown {
        /// The stopping broker.
        broker_id: i32,
        /// Its current broker epoch.
        broker_epoch: i64,
    },
}

impl ControllerOp {
    /// The records that carry out this op on `image`, or why not (the
    /// election rules before KIP-966: [`ElectionPolicy::default`]).
    pub fn plan(&self, image: &MetadataImage) -> Result<Vec<MetadataRecord>, PlanError> {
        self.plan_with(image, &ElectionPolicy::default())
    }

    /// [`ControllerOp::plan`] under the controller's election `policy`.
    pub fn plan_with(
        &self,
        image: &MetadataImage,
        policy: &ElectionPolicy,
    ) -> Result<Vec<MetadataRecord>, PlanError> {
        match self {
            ControllerOp::CreateTopic {
                topic,
                defaults,
                topic_id,
                start_index,
            } => plan_create_topic(image, topic, defaults, *topic_id, *start_index),
            ControllerOp::DeleteTopic { name } => plan_delete_topic(image, name),
            ControllerOp::DeleteTopicById { topic_id } => plan_delete_topic_by_id(image, *topic_id),
            ControllerOp::CreatePartitions {
                name,
                count,
                assignment,
                start_index,
            } => plan_create_partitions(image, name, *count, assignment.as_deref(), *start_index),
            ControllerOp::AlterConfigs { resource, ops } => {
                plan_alter_configs(image, resource, ops)
            }
            ControllerOp::ReplaceConfigs { resource, configs } => {
                plan_alter_configs(image, resource, &replace_ops(image, resource, configs))
            }
            ControllerOp::AlterPartition(request) => {
                plan_alter_partition_with(image, request, policy)
            }
            ControllerOp::ElectLeaders {
                election_type,
                partitions,
            } => match election_type {
                ElectionType::Preferred => {
                    Ok(plan_preferred_election(image, partitions.as_deref()).0)
                }
                ElectionType::Unclean => {
                    Ok(plan_unclean_election(image, partitions.as_deref(), policy).0)
                }
            },
            ControllerOp::ProducerIdBlock { broker_id, size } => {
                plan_producer_id_block(image, *broker_id, *size).map(|(_, records)| records)
            }
            ControllerOp::ControlledShutdown {
                broker_id,
                broker_epoch,
            } => super::election::plan_controlled_shutdown_with(
                image,
                *broker_id,
                *broker_epoch,
                policy,
            ),
        }
    }
}

/// The incremental ops that turn the overrides of `resource` into exactly
/// `wanted`: a SET per wanted key, a DELETE per other existing key.
pub fn replace_ops(
    image: &MetadataImage,
    resource: &ConfigResource,
    wanted: &[(String, String)],
) -> Vec<AlterConfigOp> {
    let mut ops: Vec<AlterConfigOp> = wanted
        .iter()
        .map(|(name, value)| AlterConfigOp {
            name: name.clone(),
            op: AlterConfigOpType::Set,
            value: Some(value.clone()),
        })
        .collect();
    for (name, _) in image.configs(resource) {
        if !wanted.iter().any(|(w, _)| w == name) {
            ops.push(AlterConfigOp {
                name: name.to_string(),
                op: AlterConfigOpType::Delete,
                value: None,
            });
        }
    }
    ops
}

/// A broker asking to (re)register (`BrokerRegistrationRequest`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct BrokerRegistrationRequest {
    /// `node.id`.
    pub broker_id: i32,
    /// Random per process run.
    pub incarnation_id: Uuid,
    /// Advertised client listeners.
    pub listeners: Vec<Endpoint>,
    /// `broker.rack`.
    pub rack: Option<String>,
    /// The broker epoch this broker had when it last shut down cleanly
    /// (from its clean-shutdown marker), -1 when it did not: Kafka's
    /// `PreviousBrokerEpoch` (KIP-966). A restart is clean when it matches
    /// the registered epoch.
    #[serde(default = "no_epoch")]
    pub previous_broker_epoch: i64,
}

fn no_epoch() -> i64 {
    -1
}

/// The broker epoch a registration gets and the records that make it.
///
/// - The same incarnation registering again (a retried request) gets its
///   current epoch and no records.
/// - A new incarnation of a registered broker is a restart: the old
///   registration is fenced first (it leaves ISRs it is not the last
///   member of, and loses leaderships, by [`super::election::plan_broker_fenced`]) because
///   the restarted process may have lost unflushed data; then it is
///   registered again, fenced, with a higher epoch.
/// - The epoch is above both the old epoch and the image's record count,
///   so epochs only grow, across controllers too.
pub fn plan_register_broker(
    image: &MetadataImage,
    request: &BrokerRegistrationRequest,
) -> Result<(i64, Vec<MetadataRecord>), PlanError> {
    plan_register_broker_with(image, request, &ElectionPolicy::default())
}

/// [`plan_register_broker`] under `policy`: with ELR, a restart whose
/// `previous_broker_epoch` is not the registered epoch (no clean
/// shutdown: unflushed records may be gone) also takes the broker out of
/// every ELR ([`plan_unclean_shutdown`]), after the old incarnation is
/// fenced.
pub fn plan_register_broker_with(
    image: &MetadataImage,
    request: &BrokerRegistrationRequest,
    policy: &ElectionPolicy,
) -> Result<(i64, Vec<MetadataRecord>), PlanError> {
    if request.broker_id < 0 {
        return Err(PlanError::InvalidRequest(format!(
            "invalid broker id {}",
            request.broker_id
        )));
    }
    let mut records = Vec::new();
    let mut epoch = i64::try_from(image.records_applied()).unwrap_or(i64::MAX);
    if let Some(old) = image.broker(request.broker_id) {
        if old.incarnation_id == request.incarnation_id {
            return Ok((old.broker_epoch, records));
        }
        if !old.fenced {
            records.extend(plan_broker_fenced_with(image, request.broker_id, policy));
        }
        let clean =
            request.previous_broker_epoch >= 0 && request.previous_broker_epoch == old.broker_epoch;
        if !clean && policy.elr_enabled {
            let mut after = image.clone();
            for r in &records {
                after
                    .apply(r)
                    .map_err(|e| PlanError::InvalidRequest(e.to_string()))?;
            }
            records.extend(plan_unclean_shutdown(&after, request.broker_id, policy));
        }
        epoch = epoch.max(old.broker_epoch.saturating_add(1));
    }
    records.push(MetadataRecord::RegisterBroker {
        broker_id: request.broker_id,
        incarnation_id: request.incarnation_id,
        broker_epoch: epoch,
        listeners: request.listeners.clone(),
        rack: request.rack.clone(),
    });
    Ok((epoch, records))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metadata::records::NO_LEADER;

    fn endpoint(port: u16) -> Endpoint {
        Endpoint {
            name: "PLAINTEXT".into(),
            host: "127.0.0.1".into(),
            port,
        }
    }

    fn request(id: i32, incarnation: u128) -> BrokerRegistrationRequest {
        BrokerRegistrationRequest {
            broker_id: id,
            incarnation_id: Uuid::from_u128(incarnation),
            listeners: vec![endpoint(9090 + id.max(0) as u16)],
            rack: None,
            previous_broker_epoch: -1,
        }
    }

    fn apply_all(image: &mut MetadataImage, records: &[MetadataRecord]) {
        for r in records {
            image.apply(r).unwrap();
        }
    }

    fn registered_unfenced(ids: &[i32]) -> MetadataImage {
        let mut image = MetadataImage::new();
        for &id in ids {
            let (epoch, records) = plan_register_broker(&image, &request(id, id as u128)).unwrap();
            apply_all(&mut image, &records);
            apply_all(
                &mut image,
                &[MetadataRecord::UnfenceBroker {
                    broker_id: id,
                    broker_epoch: epoch,
                }],
            );
        }
        image
    }

    #[test]
    fn first_registration_is_one_fenced_record() {
        let image = MetadataImage::new();
        let (epoch, records) = plan_register_broker(&image, &request(1, 7)).unwrap();
        assert_eq!(epoch, 0);
        assert_eq!(
            records,
            vec![MetadataRecord::RegisterBroker {
                broker_id: 1,
                incarnation_id: Uuid::from_u128(7),
                broker_epoch: 0,
                listeners: vec![endpoint(9091)],
                rack: None,
            }]
        );
        let mut image = image;
        apply_all(&mut image, &records);
        assert!(image.broker(1).unwrap().fenced);
    }

    #[test]
    fn a_retried_registration_changes_nothing() {
        let image = registered_unfenced(&[1]);
        let epoch = image.broker(1).unwrap().broker_epoch;
        assert_eq!(
            plan_register_broker(&image, &request(1, 1)).unwrap(),
            (epoch, vec![])
        );
    }

    #[test]
    fn a_restart_fences_the_old_incarnation_then_registers_with_a_higher_epoch() {
        let mut image = registered_unfenced(&[1, 2, 3]);
        let topic_id = Uuid::from_u128(99);
        apply_all(
            &mut image,
            &[
                MetadataRecord::Topic {
                    name: "t".into(),
                    topic_id,
                },
                MetadataRecord::Partition {
                    topic_id,
                    partition: 0,
                    replicas: vec![2, 3, 1],
                    isr: vec![2, 3, 1],
                    elr: vec![],
                    last_known_elr: vec![],
                    leader: 2,
                    leader_epoch: 0,
                    partition_epoch: 0,
                },
            ],
        );
        let old_epoch = image.broker(2).unwrap().broker_epoch;
        let applied = image.records_applied() as i64;
        let (epoch, records) = plan_register_broker(&image, &request(2, 1000)).unwrap();
        assert_eq!(epoch, applied.max(old_epoch + 1));
        assert_eq!(
            records,
            vec![
                MetadataRecord::PartitionChange {
                    topic_id,
                    partition: 0,
                    leader: Some(3),
                    isr: Some(vec![3, 1]),
                    elr: None,
                    last_known_elr: None,
                    replicas: None,
                    leader_recovering: None,
                },
                MetadataRecord::FenceBroker {
                    broker_id: 2,
                    broker_epoch: old_epoch,
                },
                MetadataRecord::RegisterBroker {
                    broker_id: 2,
                    incarnation_id: Uuid::from_u128(1000),
                    broker_epoch: epoch,
                    listeners: vec![endpoint(9092)],
                    rack: None,
                },
            ]
        );
        apply_all(&mut image, &records);
        let p = &image.topic(&topic_id).unwrap().partitions[&0];
        assert_eq!(
            (p.leader, p.leader_epoch, p.isr.clone()),
            (3, 1, vec![3, 1])
        );
    }

    #[test]
    fn a_lone_broker_restarting_leaves_its_partitions_leaderless_until_unfenced() {
        let mut image = registered_unfenced(&[1]);
        let topic_id = Uuid::from_u128(5);
        apply_all(
            &mut image,
            &[
                MetadataRecord::Topic {
                    name: "t".into(),
                    topic_id,
                },
                MetadataRecord::Partition {
                    topic_id,
                    partition: 0,
                    replicas: vec![1],
                    isr: vec![1],
                    elr: vec![],
                    last_known_elr: vec![],
                    leader: 1,
                    leader_epoch: 4,
                    partition_epoch: 4,
                },
            ],
        );
        let (epoch, records) = plan_register_broker(&image, &request(1, 2)).unwrap();
        apply_all(&mut image, &records);
        let p = &image.topic(&topic_id).unwrap().partitions[&0];
        assert_eq!(
            (p.leader, p.leader_epoch, p.isr.clone()),
            (NO_LEADER, 5, vec![1])
        );
        let unfence = crate::metadata::plan_broker_unfenced(&image, 1);
        assert_eq!(
            unfence[0],
            MetadataRecord::UnfenceBroker {
                broker_id: 1,
                broker_epoch: epoch
            }
        );
        apply_all(&mut image, &unfence);
        let p = &image.topic(&topic_id).unwrap().partitions[&0];
        assert_eq!((p.leader, p.leader_epoch), (1, 6));
    }

    #[test]
    fn a_negative_broker_id_is_refused() {
        let err = plan_register_broker(&MetadataImage::new(), &request(-1, 1)).unwrap_err();
        assert_eq!(err.error_code(), 42);
    }

    #[test]
    fn ops_survive_a_json_round_trip_and_plan_the_same() {
        let image = registered_unfenced(&[1, 2, 3]);
        let op = ControllerOp::CreateTopic {
            topic: NewTopic {
                name: "orders".into(),
                num_partitions: 6,
                replication_factor: 3,
                ..Default::default()
            },
            defaults: TopicDefaults::default(),
            topic_id: Uuid::from_u128(42),
            start_index: 4,
        };
        let json = serde_json::to_string(&op).unwrap();
        let back: ControllerOp = serde_json::from_str(&json).unwrap();
        assert_eq!(back, op);
        assert_eq!(back.plan(&image).unwrap(), op.plan(&image).unwrap());
    }

    #[test]
    fn replace_configs_deletes_the_keys_not_given() {
        let mut image = registered_unfenced(&[1]);
        let resource = ConfigResource::Topic("t".into());
        apply_all(
            &mut image,
            &[
                MetadataRecord::Topic {
                    name: "t".into(),
                    topic_id: Uuid::from_u128(1),
                },
                MetadataRecord::Config {
                    resource: resource.clone(),
                    name: "retention.ms".into(),
                    value: Some("1000".into()),
                },
            ],
        );
        let op = ControllerOp::ReplaceConfigs {
            resource: resource.clone(),
            configs: vec![("cleanup.policy".into(), "compact".into())],
        };
        let records = op.plan(&image).unwrap();
        apply_all(&mut image, &records);
        let configs: Vec<_> = image.configs(&resource).collect();
        assert_eq!(configs, vec![("cleanup.policy", "compact")]);
    }
}
