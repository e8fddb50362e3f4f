//! Preferred leader election, on request (the ElectLeaders API, Kafka's
//! `ReplicationControlManager.electLeaders`) and on a timer
//! (`auto.leader.rebalance.enable`, the ZooKeeper controller's
//! `checkAndTriggerAutoLeaderRebalance`).
//!
//! A partition's preferred leader is its first assigned replica. It is
//! elected only when it is in the ISR and unfenced; the ISR is unchanged
//! and the `PartitionChange` (built by `election::partition_change`, as
//! every other election) bumps the leader and partition epochs. Kafka's
//! `PartitionChangeBuilder.electPreferredLeader` would also move a
//! leaderless partition whose preferred replica is not available to
//! another ISR member; Weir never leaves such a partition leaderless
//! (unfencing elects), so the rule here elects the preferred replica or
//! nothing.

use super::election::{partition_change, ElectionPolicy};
use super::image::{MetadataImage, PartitionRegistration};
use super::records::MetadataRecord;
use std::collections::BTreeMap;
use uuid::Uuid;

/// Kafka's `QuorumController.MAX_ELECTIONS_PER_IMBALANCE`: at most this
/// many leaderships move per automatic rebalance (the next check moves
/// the rest), so one metadata entry stays small.
pub const MAX_ELECTIONS_PER_REBALANCE: usize = 1_000;

/// ElectLeaders' `election_type` (KIP-460).
#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElectionType {
    /// 0: the preferred replica, if it is in the ISR and unfenced.
    Preferred,
    /// 1: for a leaderless partition, a leader by the controller's order
    /// (ISR, ELR, last known leader) and else any live replica, whatever
    /// the topic's `unclean.leader.election.enable` ([`plan_unclean_election`]).
    Unclean,
}

/// What an election did to one partition (ElectLeaders' per-partition
/// error code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElectionOutcome {
    /// NONE (0): the preferred replica was elected.
    Elected,
    /// ELECTION_NOT_NEEDED (84): the preferred replica already leads.
    NotNeeded,
    /// PREFERRED_LEADER_NOT_AVAILABLE (80): it is out of the ISR or fenced.
    PreferredLeaderNotAvailable,
    /// UNKNOWN_TOPIC_OR_PARTITION (3).
    UnknownTopicOrPartition,
    /// ELIGIBLE_LEADERS_NOT_AVAILABLE (83): no live replica to elect.
    EligibleLeadersNotAvailable,
}

impl ElectionOutcome {
    /// The Kafka error code.
    pub fn error_code(self) -> i16 {
        match self {
            ElectionOutcome::Elected => 0,
            ElectionOutcome::NotNeeded => 84,
            ElectionOutcome::PreferredLeaderNotAvailable => 80,
            ElectionOutcome::UnknownTopicOrPartition => 3,
            ElectionOutcome::EligibleLeadersNotAvailable => 83,
        }
    }
}

/// One partition's result, with the message Kafka's controller sends
/// (`ApiError`'s default text for the code, or its "No such ..." text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElectionResult {
    /// The topic.
    pub topic_id: Uuid,
    /// The partition index.
    pub partition: i32,
    /// What happened.
    pub outcome: ElectionOutcome,
    /// `None` when elected.
    pub message: Option<String>,
}

/// Preferred leader election for `partitions` (`None`: every partition).
/// Returns the `PartitionChange` records and one result per partition, in
/// the order asked (`None`: topics by name, partitions by index). As
/// Kafka, a run over every partition leaves out the partitions whose
/// preferred replica already leads.
pub fn plan_preferred_election(
    image: &MetadataImage,
    partitions: Option<&[(Uuid, i32)]>,
) -> (Vec<MetadataRecord>, Vec<ElectionResult>) {
    let mut records = Vec::new();
    let elect = |topic_id: Uuid, partition: i32| {
        let (outcome, message) = match elect_preferred(image, topic_id, partition) {
            Ok(Some(record)) => {
                records.push(record);
                (ElectionOutcome::Elected, None)
            }
            Ok(None) => (
                ElectionOutcome::NotNeeded,
                Some("Leader election not needed for topic partition.".to_string()),
            ),
            Err(outcome) => (outcome, Some(message(image, topic_id, partition, outcome))),
        };
        ElectionResult {
            topic_id,
            partition,
            outcome,
            message,
        }
    };
    let results = elect_each(image, partitions, elect);
    (records, results)
}

/// The results of a committed election as the asking broker reports them:
/// a partition with a `PartitionChange` in `committed` was elected; every
/// other one gets what [`plan_preferred_election`] says on `image_after`,
/// an image that has applied `committed` (so a partition elected there
/// would read "not needed").
pub fn preferred_election_results(
    image_after: &MetadataImage,
    partitions: Option<&[(Uuid, i32)]>,
    committed: &[MetadataRecord],
) -> Vec<ElectionResult> {
    let elected: Vec<(Uuid, i32)> = committed
        .iter()
        .filter_map(|r| match r {
            MetadataRecord::PartitionChange {
                topic_id,
                partition,
                leader: Some(_),
                ..
            } => Some((*topic_id, *partition)),
            _ => None,
        })
        .collect();
    let as_elected = |r: &ElectionResult| ElectionResult {
        outcome: ElectionOutcome::Elected,
        message: None,
        ..r.clone()
    };
    match partitions {
        Some(asked) => plan_preferred_election(image_after, Some(asked))
            .1
            .iter()
            .map(|r| match elected.contains(&(r.topic_id, r.partition)) {
                true => as_elected(r),
                false => r.clone(),
            })
            .collect(),
        None => {
            // Every partition, with the ones elected put back in order.
            let mut all: Vec<(Uuid, i32)> = Vec::new();
            for topic in image_after.topics() {
                all.extend(topic.partitions.keys().map(|p| (topic.topic_id, *p)));
            }
            plan_preferred_election(image_after, Some(&all))
                .1
                .iter()
                .filter_map(|r| {
                    if elected.contains(&(r.topic_id, r.partition)) {
                        Some(as_elected(r))
                    } else {
                        (r.outcome != ElectionOutcome::NotNeeded).then(|| r.clone())
                    }
                })
                .collect()
        }
    }
}

/// Unclean election for `partitions` (`None`: every partition): a
/// partition with a leader is ELECTION_NOT_NEEDED; a leaderless one gets
/// the controller's election with unclean election allowed (ISR, ELR,
/// last known leader, then the first live replica in assignment order:
/// possible data loss), else ELIGIBLE_LEADERS_NOT_AVAILABLE. As for
/// preferred election, a run over every partition leaves out the ones
/// not needed.
pub fn plan_unclean_election(
    image: &MetadataImage,
    partitions: Option<&[(Uuid, i32)]>,
    policy: &ElectionPolicy,
) -> (Vec<MetadataRecord>, Vec<ElectionResult>) {
    let mut records = Vec::new();
    let elect = |topic_id: Uuid, partition: i32| {
        let outcome = match image.partition(&topic_id, partition) {
            None => ElectionOutcome::UnknownTopicOrPartition,
            Some(p) if p.has_leader() => ElectionOutcome::NotNeeded,
            Some(_) => match unclean_change(image, topic_id, partition, policy) {
                Some(record) => {
                    records.push(record);
                    ElectionOutcome::Elected
                }
                None => ElectionOutcome::EligibleLeadersNotAvailable,
            },
        };
        unclean_result(image, topic_id, partition, outcome)
    };
    let results = elect_each(image, partitions, elect);
    (records, results)
}

/// The results of a committed unclean election, read as
/// [`preferred_election_results`] does: elected where `committed` changed
/// the leader, else what `image_after` says.
pub fn unclean_election_results(
    image_after: &MetadataImage,
    partitions: Option<&[(Uuid, i32)]>,
    committed: &[MetadataRecord],
) -> Vec<ElectionResult> {
    let elected = |t: Uuid, p: i32| {
        committed.iter().any(|r| {
            matches!(r, MetadataRecord::PartitionChange { topic_id, partition, leader: Some(l), .. }
                if *topic_id == t && *partition == p && *l >= 0)
        })
    };
    let outcome = |t: Uuid, p: i32| match image_after.partition(&t, p) {
        None => ElectionOutcome::UnknownTopicOrPartition,
        Some(_) if elected(t, p) => ElectionOutcome::Elected,
        Some(r) if r.has_leader() => ElectionOutcome::NotNeeded,
        Some(_) => ElectionOutcome::EligibleLeadersNotAvailable,
    };
    match partitions {
        Some(asked) => asked
            .iter()
            .map(|&(t, p)| unclean_result(image_after, t, p, outcome(t, p)))
            .collect(),
        None => {
            let mut out = Vec::new();
            for topic in image_after.topics() {
                for &p in topic.partitions.keys() {
                    let o = outcome(topic.topic_id, p);
                    if o != ElectionOutcome::NotNeeded {
                        out.push(unclean_result(image_after, topic.topic_id, p, o));
                    }
                }
            }
            out
        }
    }
}

fn unclean_change(
    image: &MetadataImage,
    topic_id: Uuid,
    partition: i32,
    policy: &ElectionPolicy,
) -> Option<MetadataRecord> {
    let records =
        super::election::plan_leaderless_partition(image, topic_id, partition, policy, true);
    records
        .into_iter()
        .find(|r| matches!(r, MetadataRecord::PartitionChange { leader: Some(l), .. } if *l >= 0))
}

fn unclean_result(
    image: &MetadataImage,
    topic_id: Uuid,
    partition: i32,
    outcome: ElectionOutcome,
) -> ElectionResult {
    let message = match outcome {
        ElectionOutcome::Elected => None,
        ElectionOutcome::NotNeeded => {
            Some("Leader election not needed for topic partition.".to_string())
        }
        ElectionOutcome::EligibleLeadersNotAvailable => {
            Some("Eligible topic partition leaders are not available.".to_string())
        }
        other => Some(message(image, topic_id, partition, other)),
    };
    ElectionResult {
        topic_id,
        partition,
        outcome,
        message,
    }
}

/// Run `elect` on the partitions asked, in order; `None` runs it on every
/// partition (topics by name, partitions by index) and, as Kafka, leaves
/// out the ones where no election was needed.
fn elect_each(
    image: &MetadataImage,
    partitions: Option<&[(Uuid, i32)]>,
    mut elect: impl FnMut(Uuid, i32) -> ElectionResult,
) -> Vec<ElectionResult> {
    match partitions {
        Some(asked) => asked.iter().map(|&(t, p)| elect(t, p)).collect(),
        None => {
            let mut results = Vec::new();
            for topic in image.topics() {
                for &partition in topic.partitions.keys() {
                    let result = elect(topic.topic_id, partition);
                    if result.outcome != ElectionOutcome::NotNeeded {
                        results.push(result);
                    }
                }
            }
            results
        }
    }
}

/// Kafka's automatic leader rebalance check: for each broker, the share
/// of the partitions it is the preferred leader of but does not lead; when
/// it is above `imbalance_percentage` %, the preferred leader is elected
/// for those of them where it is in the ISR and unfenced. Brokers in id
/// order, partitions by topic id and index; at most
/// [`MAX_ELECTIONS_PER_REBALANCE`] records.
pub fn plan_auto_rebalance(
    image: &MetadataImage,
    imbalance_percentage: i32,
) -> Vec<MetadataRecord> {
    // Preferred broker → (partitions it is preferred for, those it does not lead).
    let mut by_broker: BTreeMap<i32, (usize, Vec<(Uuid, i32)>)> = BTreeMap::new();
    for topic in image.topics_by_id() {
        for (&index, p) in &topic.partitions {
            let entry = by_broker.entry(p.preferred_leader()).or_default();
            entry.0 += 1;
            if p.leader != p.preferred_leader() {
                entry.1.push((topic.topic_id, index));
            }
        }
    }
    let threshold = i64::from(imbalance_percentage);
    let mut records = Vec::new();
    for (preferred, not_led) in by_broker.values() {
        // not_led / preferred > percentage / 100, without floating point.
        if (not_led.len() as i64) * 100 <= threshold * (*preferred as i64) {
            continue;
        }
        for &(topic_id, partition) in not_led {
            if let Ok(Some(record)) = elect_preferred(image, topic_id, partition) {
                records.push(record);
            }
        }
    }
    records.truncate(MAX_ELECTIONS_PER_REBALANCE);
    records
}

/// The record electing the preferred replica of one partition,
/// `Ok(None)` when it already leads, else why not.
fn elect_preferred(
    image: &MetadataImage,
    topic_id: Uuid,
    partition: i32,
) -> Result<Option<MetadataRecord>, ElectionOutcome> {
    let current = image
        .partition(&topic_id, partition)
        .ok_or(ElectionOutcome::UnknownTopicOrPartition)?;
    let preferred = current.preferred_leader();
    if current.leader == preferred {
        return Ok(None);
    }
    if !preferred_available(image, current) {
        return Err(ElectionOutcome::PreferredLeaderNotAvailable);
    }
    // Only the preferred replica is acceptable, so the helper (which keeps
    // a valid leader, else takes the first valid replica) elects it.
    let acceptable = |r: i32| r == preferred;
    let record = partition_change(
        topic_id,
        partition,
        current,
        current.isr.clone(),
        &acceptable,
    );
    debug_assert!(
        record.is_some(),
        "a new leader always changes the partition"
    );
    Ok(record)
}

fn preferred_available(image: &MetadataImage, p: &PartitionRegistration) -> bool {
    let preferred = p.preferred_leader();
    p.isr.contains(&preferred) && image.is_unfenced(preferred)
}

/// Kafka's message for a refused election.
fn message(
    image: &MetadataImage,
    topic_id: Uuid,
    partition: i32,
    outcome: ElectionOutcome,
) -> String {
    match (outcome, image.topic(&topic_id)) {
        (ElectionOutcome::UnknownTopicOrPartition, None) => {
            format!("No such topic id as {topic_id}")
        }
        (ElectionOutcome::UnknownTopicOrPartition, Some(topic)) => {
            format!("No such partition as {}-{partition}", topic.name)
        }
        _ => "The preferred leader was not available.".to_string(),
    }
}
