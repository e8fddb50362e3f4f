//! Planning of CreateTopics, CreatePartitions and DeleteTopics: the
//! records a controller commits, or the Kafka error it answers with.
//! After Kafka's `ReplicationControlManager.createTopic`,
//! `createPartitions` and `deleteTopic`, messages included.

use super::image::MetadataImage;
use super::placement::{assign_replicas, PlacementBroker};
use super::plan_error::PlanError;
use super::records::{ConfigResource, MetadataRecord};
use super::topic_config::validate_topic_config;
use super::topic_name::{topic_names_collide, validate_topic_name, CLUSTER_METADATA_TOPIC_NAME};
use std::collections::BTreeMap;
use uuid::Uuid;

/// Most records one request may commit (Kafka's
/// `QuorumController.MAX_RECORDS_PER_USER_OP`); more is POLICY_VIOLATION.
pub const MAX_RECORDS_PER_USER_OP: usize = 10_000;

/// What `-1` stands for in a CreateTopics request: the broker's
/// `num.partitions` and `default.replication.factor`.
#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicDefaults {
    /// `num.partitions`.
    pub num_partitions: i32,
    /// `default.replication.factor`.
    pub replication_factor: i16,
}

impl Default for TopicDefaults {
    /// Kafka's defaults: one partition, one replica.
    fn default() -> Self {
        TopicDefaults {
            num_partitions: 1,
            replication_factor: 1,
        }
    }
}

/// The replicas of one partition, chosen by the client
/// (`CreatableReplicaAssignment`).
#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct ReplicaAssignment {
    /// Partition index.
    pub partition_index: i32,
    /// Replicas in preferred order.
    pub broker_ids: Vec<i32>,
}

/// One topic of a CreateTopics request (`CreatableTopic`).
#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, PartialEq, Eq, Default)]
pub struct NewTopic {
    /// Topic name.
    pub name: String,
    /// Partition count, or -1 for the default.
    pub num_partitions: i32,
    /// Replication factor, or -1 for the default.
    pub replication_factor: i16,
    /// Explicit replicas per partition; empty to let the controller place
    /// them. With assignments, both counts above must be -1.
    pub assignments: Vec<ReplicaAssignment>,
    /// Topic configuration overrides; a `None` value is refused.
    pub configs: Vec<(String, Option<String>)>,
}

/// The records that create `topic`: a `Topic` record, its `Config`
/// records (sorted by key), then one `Partition` record per partition.
///
/// Replicas are placed on unfenced brokers only, by
/// [`assign_replicas`] with the caller's random `start_index`. Each
/// partition starts with its unfenced replicas as ISR, the first of them
/// as leader, and epochs 0 (Kafka's `buildPartitionRegistration`).
pub fn plan_create_topic(
    image: &MetadataImage,
    topic: &NewTopic,
    defaults: &TopicDefaults,
    topic_id: Uuid,
    start_index: usize,
) -> Result<Vec<MetadataRecord>, PlanError> {
    check_new_topic_name(image, &topic.name)?;
    let configs = creation_config_records(&topic.name, &topic.configs)?;
    let assignment = if topic.assignments.is_empty() {
        automatic_assignment(image, topic, defaults, start_index)?
    } else {
        manual_assignment(image, topic)?
    };
    let mut records = Vec::with_capacity(1 + configs.len() + assignment.len());
    records.push(MetadataRecord::Topic {
        name: topic.name.clone(),
        topic_id,
    });
    records.extend(configs);
    records.extend(partition_records(image, topic_id, 0, assignment)?);
    check_batch_size(records.len())?;
    Ok(records)
}

/// The records that grow topic `name` to `new_total` partitions, placed
/// like new topics (continuing the partition index, as Kafka's
/// `PlacementSpec(startPartitionId, ...)`) unless `assignment` gives the
/// replicas of each new partition. The replication factor is that of
/// partition 0.
pub fn plan_create_partitions(
    image: &MetadataImage,
    name: &str,
    new_total: i32,
    assignment: Option<&[Vec<i32>]>,
    start_index: usize,
) -> Result<Vec<MetadataRecord>, PlanError> {
    let topic = image
        .topic_by_name(name)
        .ok_or_else(PlanError::unknown_topic)?;
    let current = topic.partitions.len();
    let additional = partitions_to_add(name, current, new_total)?;
    check_batch_size(additional)?;
    let replication_factor = topic.partitions.get(&0).map_or(0, |p| p.replicas.len());
    let replicas = match assignment {
        Some(lists) => {
            manual_new_partitions(image, lists, additional, replication_factor, current)?
        }
        None => place(image, additional, replication_factor, start_index, current)?,
    };
    partition_records(image, topic.topic_id, current, replicas)
}

/// DeleteTopics by name: one `RemoveTopic` record, which also removes the
/// topic's partitions and configuration.
pub fn plan_delete_topic(
    image: &MetadataImage,
    name: &str,
) -> Result<Vec<MetadataRecord>, PlanError> {
    let topic = image
        .topic_by_name(name)
        .ok_or_else(PlanError::unknown_topic)?;
    Ok(vec![MetadataRecord::RemoveTopic {
        topic_id: topic.topic_id,
    }])
}

/// DeleteTopics by topic id (version 6+): as [`plan_delete_topic`], but an
/// unknown id is UNKNOWN_TOPIC_ID.
pub fn plan_delete_topic_by_id(
    image: &MetadataImage,
    topic_id: Uuid,
) -> Result<Vec<MetadataRecord>, PlanError> {
    if image.topic(&topic_id).is_none() {
        return Err(PlanError::UnknownTopicId(
            "This server does not host this topic ID.".into(),
        ));
    }
    Ok(vec![MetadataRecord::RemoveTopic { topic_id }])
}

/// Name rules of `validateNewTopicNames` plus the existence check: a legal
/// name, not the metadata log's, not taken, not colliding by `.`/`_`.
fn check_new_topic_name(image: &MetadataImage, name: &str) -> Result<(), PlanError> {
    if name == CLUSTER_METADATA_TOPIC_NAME {
        return Err(PlanError::InvalidRequest(format!(
            "Creation of internal topic {CLUSTER_METADATA_TOPIC_NAME} is prohibited."
        )));
    }
    validate_topic_name(name)?;
    if image.topic_by_name(name).is_some() {
        return Err(PlanError::TopicAlreadyExists(format!(
            "Topic '{name}' already exists."
        )));
    }
    match image.topics().find(|t| topic_names_collide(&t.name, name)) {
        Some(other) => Err(PlanError::InvalidTopic(format!(
            "Topic '{name}' collides with existing topic: {}",
            other.name
        ))),
        None => Ok(()),
    }
}

/// `Config` records for the overrides given at creation, validated as
/// Kafka's `computeConfigChanges` and `LogConfig.validate` do.
fn creation_config_records(
    topic: &str,
    configs: &[(String, Option<String>)],
) -> Result<Vec<MetadataRecord>, PlanError> {
    let nulls: Vec<&str> = configs
        .iter()
        .filter(|(_, v)| v.is_none())
        .map(|(k, _)| k.as_str())
        .collect();
    if !nulls.is_empty() {
        return Err(PlanError::InvalidConfig(format!(
            "Null value not supported for topic configs: {}",
            nulls.join(",")
        )));
    }
    // Later duplicates win, as the request's keyed collection does.
    let set: BTreeMap<&str, &str> = configs
        .iter()
        .filter_map(|(k, v)| Some((k.as_str(), v.as_deref()?)))
        .collect();
    set.iter()
        .map(|(name, value)| {
            validate_topic_config(name, value).map_err(PlanError::InvalidConfig)?;
            Ok(MetadataRecord::Config {
                resource: ConfigResource::Topic(topic.to_string()),
                name: name.to_string(),
                value: Some(value.to_string()),
            })
        })
        .collect()
}

fn automatic_assignment(
    image: &MetadataImage,
    topic: &NewTopic,
    defaults: &TopicDefaults,
    start_index: usize,
) -> Result<Vec<Vec<i32>>, PlanError> {
    let rf = resolve(
        topic.replication_factor.into(),
        defaults.replication_factor.into(),
    );
    let partitions = resolve(topic.num_partitions, defaults.num_partitions);
    let (Some(rf), Some(partitions)) = (rf, partitions) else {
        return Err(bad_counts(topic));
    };
    check_batch_size(partitions)?;
    place(image, partitions, rf, start_index, 0)
}

/// `-1` means the default; any other non-positive count is refused.
fn resolve(requested: i32, default: i32) -> Option<usize> {
    let n = if requested == -1 { default } else { requested };
    usize::try_from(n).ok().filter(|n| *n > 0)
}

fn bad_counts(topic: &NewTopic) -> PlanError {
    if topic.replication_factor < -1 || topic.replication_factor == 0 {
        return PlanError::InvalidReplicationFactor(
            "Replication factor must be larger than 0, or -1 to use the default value.".into(),
        );
    }
    if topic.num_partitions < -1 || topic.num_partitions == 0 {
        return PlanError::InvalidPartitions(
            "Number of partitions was set to an invalid non-positive value.".into(),
        );
    }
    PlanError::InvalidRequest(
        "The broker's default partition count or replication factor is not positive.".into(),
    )
}

/// Place replicas on the unfenced brokers, with StripedReplicaPlacer's
/// checks and messages, except that fenced brokers receive no replicas
/// (issue 4: a replication factor above the unfenced brokers is refused).
fn place(
    image: &MetadataImage,
    num_partitions: usize,
    rf: usize,
    start_index: usize,
    first_partition: usize,
) -> Result<Vec<Vec<i32>>, PlanError> {
    let fail = |why: String| {
        PlanError::InvalidReplicationFactor(format!(
            "Unable to replicate the partition {rf} time(s): {why}"
        ))
    };
    let registered = image.brokers().count();
    let brokers: Vec<PlacementBroker<'_>> = image
        .unfenced_brokers()
        .map(|b| PlacementBroker {
            id: b.broker_id,
            rack: b.rack.as_deref(),
        })
        .collect();
    if rf == 0 {
        return Err(fail(
            "Invalid replication factor 0: the replication factor must be positive.".into(),
        ));
    }
    if rf > registered {
        return Err(fail(format!(
            "The target replication factor of {rf} cannot be reached because only {registered} broker(s) are registered."
        )));
    }
    if brokers.is_empty() {
        return Err(fail("All brokers are currently fenced.".into()));
    }
    if rf > brokers.len() {
        return Err(fail(format!(
            "The target replication factor of {rf} cannot be reached because only {} broker(s) are unfenced.",
            brokers.len()
        )));
    }
    Ok(assign_replicas(
        &brokers,
        num_partitions,
        rf,
        start_index,
        first_partition,
    ))
}

fn manual_assignment(image: &MetadataImage, topic: &NewTopic) -> Result<Vec<Vec<i32>>, PlanError> {
    if topic.replication_factor != -1 {
        return Err(PlanError::InvalidRequest(
            "A manual partition assignment was specified, but replication factor was not set to -1.".into(),
        ));
    }
    if topic.num_partitions != -1 {
        return Err(PlanError::InvalidRequest(
            "A manual partition assignment was specified, but numPartitions was not set to -1."
                .into(),
        ));
    }
    check_batch_size(topic.assignments.len())?;
    let mut by_index: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
    let mut rf = None;
    for a in &topic.assignments {
        if by_index.contains_key(&a.partition_index) {
            return Err(PlanError::InvalidReplicaAssignment(format!(
                "Found multiple manual partition assignments for partition {}",
                a.partition_index
            )));
        }
        validate_manual_replicas(image, &a.broker_ids, rf)?;
        check_some_unfenced(image, &a.broker_ids, a.partition_index.into())?;
        rf = Some(a.broker_ids.len());
        by_index.insert(a.partition_index, a.broker_ids.clone());
    }
    if by_index.keys().copied().ne(0..by_index.len() as i32) {
        return Err(PlanError::InvalidReplicaAssignment(
            "partitions should be a consecutive 0-based integer sequence".into(),
        ));
    }
    Ok(by_index.into_values().collect())
}

fn manual_new_partitions(
    image: &MetadataImage,
    lists: &[Vec<i32>],
    additional: usize,
    rf: usize,
    first_partition: usize,
) -> Result<Vec<Vec<i32>>, PlanError> {
    if lists.len() != additional {
        return Err(PlanError::InvalidReplicaAssignment(format!(
            "Attempted to add {additional} additional partition(s), but only {} assignment(s) were specified.",
            lists.len()
        )));
    }
    for (i, replicas) in lists.iter().enumerate() {
        validate_manual_replicas(image, replicas, Some(rf))?;
        check_some_unfenced(image, replicas, (first_partition + i) as i64)?;
    }
    Ok(lists.to_vec())
}

/// Kafka's `validateManualPartitionAssignment`: not empty, every broker
/// registered, none twice, and as many replicas as earlier partitions.
fn validate_manual_replicas(
    image: &MetadataImage,
    replicas: &[i32],
    rf: Option<usize>,
) -> Result<(), PlanError> {
    let invalid = |m: String| Err(PlanError::InvalidReplicaAssignment(m));
    if replicas.is_empty() {
        return invalid("The manual partition assignment includes an empty replica list.".into());
    }
    let mut sorted = replicas.to_vec();
    sorted.sort_unstable();
    for (i, broker) in sorted.iter().enumerate() {
        if image.broker(*broker).is_none() {
            return invalid(format!(
                "The manual partition assignment includes broker {broker}, but no such broker is registered."
            ));
        }
        if i > 0 && sorted[i - 1] == *broker {
            return invalid(format!(
                "The manual partition assignment includes the broker {broker} more than once."
            ));
        }
    }
    match rf {
        Some(rf) if rf != replicas.len() => invalid(format!(
            "The manual partition assignment includes a partition with {} replica(s), but this is not \
             consistent with previous partitions, which have {rf} replica(s).",
            replicas.len()
        )),
        _ => Ok(()),
    }
}

fn check_some_unfenced(
    image: &MetadataImage,
    replicas: &[i32],
    partition: i64,
) -> Result<(), PlanError> {
    if replicas.iter().any(|b| image.is_unfenced(*b)) {
        return Ok(());
    }
    Err(PlanError::InvalidReplicaAssignment(format!(
        "All brokers specified in the manual partition assignment for partition {partition} are fenced or in \
         controlled shutdown."
    )))
}

fn partitions_to_add(name: &str, current: usize, new_total: i32) -> Result<usize, PlanError> {
    let new_total_usize = usize::try_from(new_total).unwrap_or(0);
    if new_total_usize == current {
        return Err(PlanError::InvalidPartitions(format!(
            "Topic already has {current} partition(s)."
        )));
    }
    if new_total_usize < current {
        return Err(PlanError::InvalidPartitions(format!(
            "The topic {name} currently has {current} partition(s); {new_total} would not be an increase."
        )));
    }
    Ok(new_total_usize - current)
}

/// `Partition` records for new partitions numbered from `first`: the ISR
/// is the unfenced replicas, the leader the first of them.
fn partition_records(
    image: &MetadataImage,
    topic_id: Uuid,
    first: usize,
    assignment: Vec<Vec<i32>>,
) -> Result<Vec<MetadataRecord>, PlanError> {
    assignment
        .into_iter()
        .enumerate()
        .map(|(i, replicas)| {
            let isr: Vec<i32> = replicas.iter().copied().filter(|b| image.is_unfenced(*b)).collect();
            let Some(&leader) = isr.first() else {
                return Err(PlanError::InvalidReplicationFactor(format!(
                    "Unable to replicate the partition {} time(s): All brokers are currently fenced or in \
                     controlled shutdown.",
                    replicas.len()
                )));
            };
            Ok(MetadataRecord::Partition {
                topic_id,
                partition: (first + i) as i32,
                replicas,
                isr,
                elr: Vec::new(),
                last_known_elr: Vec::new(),
                leader,
                leader_epoch: 0,
                partition_epoch: 0,
            })
        })
        .collect()
}

fn check_batch_size(records: usize) -> Result<(), PlanError> {
    if records > MAX_RECORDS_PER_USER_OP {
        return Err(PlanError::PolicyViolation(
            "Unable to perform excessively large batch operation.".into(),
        ));
    }
    Ok(())
}
