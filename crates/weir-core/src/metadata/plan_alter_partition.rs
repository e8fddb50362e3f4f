//! AlterPartition (KIP-497, KIP-903): a leader asks the controller to
//! change a partition's ISR, after Kafka's
//! `ReplicationControlManager.alterPartition` and its validation.
//!
//! The request names the leader epoch and partition epoch it is based on
//! (optimistic concurrency). The controller refuses it when:
//!
//! - the topic or partition is unknown (UNKNOWN_TOPIC_ID /
//!   UNKNOWN_TOPIC_OR_PARTITION);
//! - the asking broker is not the leader (NOT_LEADER_OR_FOLLOWER);
//! - the leader epoch is older than the partition's (FENCED_LEADER_EPOCH)
//!   or newer (NOT_LEADER_OR_FOLLOWER: the request is from the future);
//! - the partition epoch differs (INVALID_UPDATE_VERSION): the leader acts
//!   on stale state and must wait for the newer registration;
//! - the new ISR is empty, omits the leader, repeats a broker or names a
//!   non-replica (INVALID_REQUEST);
//! - a broker being *added* is not registered and unfenced
//!   (INELIGIBLE_REPLICA); removing a fenced broker is always allowed;
//! - KIP-903: a broker being added was quoted with a broker epoch that is
//!   not its current registration's (INELIGIBLE_REPLICA): the fetches that
//!   made it eligible came from an earlier incarnation, which may have
//!   had records the restarted process lost. The leader quotes, for each
//!   member, the broker epoch of the fetches it judged, frozen when the
//!   proposal is first sent (re-sends quote the same). Without epochs
//!   (`new_isr_broker_epochs` empty) the check is skipped, as for Kafka's
//!   AlterPartition v0-2; `weir-sim` shows the loss that allows.
//!
//! An ISR equal to the current one commits nothing (the answer is the
//! current state). ELR bookkeeping on ISR changes comes with issue 6.

use super::election::{elr_for_isr_change, ElectionPolicy};
use super::image::MetadataImage;
use super::plan_error::PlanError;
use super::records::MetadataRecord;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One partition's AlterPartition request.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct AlterPartitionRequest {
    /// The asking broker (the leader).
    pub broker_id: i32,
    /// The topic.
    pub topic_id: Uuid,
    /// Partition index.
    pub partition: i32,
    /// The leader epoch the leader serves.
    pub leader_epoch: i32,
    /// The partition epoch the proposal is based on.
    pub partition_epoch: i32,
    /// The ISR wanted.
    pub new_isr: Vec<i32>,
    /// KIP-903's `NewIsrWithEpochs`: (broker, broker epoch of the fetches
    /// the leader judged) for the members; empty to skip the check.
    #[serde(default)]
    pub new_isr_broker_epochs: Vec<(i32, i64)>,
    /// The leader of a partition elected uncleanly has recovered (Kafka's
    /// `LeaderRecoveryState` RECOVERED in AlterPartition).
    #[serde(default)]
    pub leader_recovered: bool,
}

/// The records for `request`, or why it is refused.
pub fn plan_alter_partition(
    image: &MetadataImage,
    request: &AlterPartitionRequest,
) -> Result<Vec<MetadataRecord>, PlanError> {
    plan_alter_partition_with(image, request, &ElectionPolicy::default())
}

/// [`plan_alter_partition`] under `policy`: with ELR (KIP-966), members
/// that leave an ISR below min ISR become eligible leader replicas, and an
/// ISR back at min ISR clears the ELR.
pub fn plan_alter_partition_with(
    image: &MetadataImage,
    request: &AlterPartitionRequest,
    policy: &ElectionPolicy,
) -> Result<Vec<MetadataRecord>, PlanError> {
    let topic = image.topic(&request.topic_id).ok_or_else(|| {
        PlanError::UnknownTopicId(format!("Unknown topic id {}", request.topic_id))
    })?;
    let p = topic
        .partitions
        .get(&request.partition)
        .ok_or_else(PlanError::unknown_topic)?;
    if p.leader != request.broker_id {
        return Err(PlanError::NotLeaderOrFollower(format!(
            "Broker {} is not the leader of {}-{} (leader {})",
            request.broker_id, topic.name, request.partition, p.leader
        )));
    }
    if request.leader_epoch < p.leader_epoch {
        return Err(PlanError::FencedLeaderEpoch(format!(
            "Leader epoch {} is older than {}",
            request.leader_epoch, p.leader_epoch
        )));
    }
    if request.leader_epoch > p.leader_epoch {
        return Err(PlanError::NotLeaderOrFollower(format!(
            "Leader epoch {} is newer than {}",
            request.leader_epoch, p.leader_epoch
        )));
    }
    if request.partition_epoch != p.partition_epoch {
        return Err(PlanError::InvalidUpdateVersion(format!(
            "Partition epoch {} does not match {}",
            request.partition_epoch, p.partition_epoch
        )));
    }
    let isr = &request.new_isr;
    let mut seen = Vec::new();
    for r in isr {
        if seen.contains(r) {
            return Err(PlanError::InvalidRequest(format!(
                "Duplicate broker {r} in the ISR"
            )));
        }
        if !p.replicas.contains(r) {
            return Err(PlanError::InvalidRequest(format!(
                "Broker {r} is not a replica of {}-{}",
                topic.name, request.partition
            )));
        }
        seen.push(*r);
    }
    if !isr.contains(&p.leader) {
        return Err(PlanError::InvalidRequest(
            "The ISR must contain the leader".to_string(),
        ));
    }
    for r in isr {
        if p.isr.contains(r) {
            continue;
        }
        if !image.is_unfenced(*r) {
            return Err(PlanError::IneligibleReplica(format!(
                "Broker {r} is fenced or not registered and cannot join the ISR"
            )));
        }
        if request.new_isr_broker_epochs.is_empty() {
            continue;
        }
        let quoted = request
            .new_isr_broker_epochs
            .iter()
            .find(|(b, _)| b == r)
            .map(|(_, e)| *e);
        let registered = image.broker(*r).map(|b| b.broker_epoch);
        match quoted {
            None => {
                return Err(PlanError::InvalidRequest(format!(
                    "No broker epoch given for joining broker {r}"
                )))
            }
            Some(e) if Some(e) != registered => {
                return Err(PlanError::IneligibleReplica(format!(
                    "Broker {r} was judged at broker epoch {e}, but is registered with {}",
                    registered.unwrap_or(-1)
                )))
            }
            Some(_) => {}
        }
    }
    if p.leader_recovering && !request.leader_recovered && isr.iter().any(|r| !p.isr.contains(r)) {
        return Err(PlanError::InvalidRequest(format!(
            "{}-{} is recovering from an unclean election; its ISR may not grow",
            topic.name, request.partition
        )));
    }
    let leader_recovering = (p.leader_recovering && request.leader_recovered).then_some(false);
    if *isr == p.isr && leader_recovering.is_none() {
        return Ok(Vec::new());
    }
    let (elr, last_known_elr) = elr_for_isr_change(image, &topic.name, p, isr, policy);
    Ok(vec![MetadataRecord::PartitionChange {
        topic_id: request.topic_id,
        partition: request.partition,
        leader: None,
        isr: (*isr != p.isr).then(|| isr.clone()),
        elr,
        last_known_elr,
        replicas: None,
        leader_recovering,
    }])
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Uuid = Uuid::from_u128(0x7);

    /// Brokers 1..=3 unfenced, 4 fenced; partition 0 of "t": replicas
    /// [1,2,3], ISR [1,2], leader 1, leader epoch 3, partition epoch 9.
    fn image() -> MetadataImage {
        let mut image = MetadataImage::new();
        for id in 1..=4 {
            image
                .apply(&MetadataRecord::RegisterBroker {
                    broker_id: id,
                    incarnation_id: Uuid::from_u128(id as u128),
                    broker_epoch: 10,
                    listeners: vec![],
                    rack: None,
                })
                .unwrap();
            if id != 4 {
                image
                    .apply(&MetadataRecord::UnfenceBroker {
                        broker_id: id,
                        broker_epoch: 10,
                    })
                    .unwrap();
            }
        }
        image
            .apply(&MetadataRecord::Topic {
                name: "t".into(),
                topic_id: T,
            })
            .unwrap();
        image
            .apply(&MetadataRecord::Partition {
                topic_id: T,
                partition: 0,
                replicas: vec![1, 2, 3, 4],
                isr: vec![1, 2],
                elr: vec![],
                last_known_elr: vec![],
                leader: 1,
                leader_epoch: 3,
                partition_epoch: 9,
            })
            .unwrap();
        image
    }

    fn request(isr: &[i32]) -> AlterPartitionRequest {
        AlterPartitionRequest {
            broker_id: 1,
            topic_id: T,
            partition: 0,
            leader_epoch: 3,
            partition_epoch: 9,
            new_isr: isr.to_vec(),
            new_isr_broker_epochs: vec![],
            leader_recovered: false,
        }
    }

    fn code(r: Result<Vec<MetadataRecord>, PlanError>) -> i16 {
        r.map(|_| 0).unwrap_or_else(|e| e.error_code())
    }

    #[test]
    fn an_expansion_commits_one_partition_change_and_bumps_the_partition_epoch_only() {
        let mut image = image();
        let records = plan_alter_partition(&image, &request(&[1, 2, 3])).unwrap();
        assert_eq!(
            records,
            vec![MetadataRecord::PartitionChange {
                topic_id: T,
                partition: 0,
                leader: None,
                isr: Some(vec![1, 2, 3]),
                elr: None,
                last_known_elr: None,
                replicas: None,
                leader_recovering: None,
            }]
        );
        image.apply(&records[0]).unwrap();
        let p = &image.topic(&T).unwrap().partitions[&0];
        assert_eq!(
            (p.isr.clone(), p.leader, p.leader_epoch, p.partition_epoch),
            (vec![1, 2, 3], 1, 3, 10)
        );
    }

    #[test]
    fn a_shrink_may_drop_anyone_but_the_leader() {
        assert_eq!(code(plan_alter_partition(&image(), &request(&[1]))), 0);
        assert_eq!(code(plan_alter_partition(&image(), &request(&[2]))), 42);
        assert_eq!(code(plan_alter_partition(&image(), &request(&[]))), 42);
    }

    #[test]
    fn the_same_isr_commits_nothing() {
        assert_eq!(
            plan_alter_partition(&image(), &request(&[1, 2])),
            Ok(vec![])
        );
    }

    #[test]
    fn stale_or_foreign_requests_are_refused_with_kafkas_codes() {
        let image = image();
        let mut r = request(&[1, 2, 3]);
        r.partition_epoch = 8;
        assert_eq!(code(plan_alter_partition(&image, &r)), 96);
        let mut r = request(&[1, 2, 3]);
        r.leader_epoch = 2;
        assert_eq!(code(plan_alter_partition(&image, &r)), 74);
        let mut r = request(&[1, 2, 3]);
        r.leader_epoch = 4;
        assert_eq!(code(plan_alter_partition(&image, &r)), 6);
        let mut r = request(&[2, 3]);
        r.broker_id = 2;
        assert_eq!(code(plan_alter_partition(&image, &r)), 6);
        let mut r = request(&[1]);
        r.topic_id = Uuid::from_u128(99);
        assert_eq!(code(plan_alter_partition(&image, &r)), 100);
        let mut r = request(&[1]);
        r.partition = 5;
        assert_eq!(code(plan_alter_partition(&image, &r)), 3);
    }

    #[test]
    fn only_unfenced_replicas_may_join() {
        let image = image();
        assert_eq!(
            code(plan_alter_partition(&image, &request(&[1, 2, 4]))),
            107
        );
        assert_eq!(code(plan_alter_partition(&image, &request(&[1, 2, 5]))), 42);
        assert_eq!(code(plan_alter_partition(&image, &request(&[1, 2, 2]))), 42);
    }

    #[test]
    fn kip_903_a_joiner_quoted_with_an_old_broker_epoch_is_ineligible() {
        let image = image();
        let mut r = request(&[1, 2, 3]);
        r.new_isr_broker_epochs = vec![(2, 10), (3, 10)];
        assert_eq!(code(plan_alter_partition(&image, &r)), 0);
        // Broker 3 restarted (epoch 11 now) after the leader judged it at 10.
        let mut restarted = image.clone();
        restarted
            .apply(&MetadataRecord::RegisterBroker {
                broker_id: 3,
                incarnation_id: Uuid::from_u128(33),
                broker_epoch: 11,
                listeners: vec![],
                rack: None,
            })
            .unwrap();
        restarted
            .apply(&MetadataRecord::UnfenceBroker {
                broker_id: 3,
                broker_epoch: 11,
            })
            .unwrap();
        assert_eq!(code(plan_alter_partition(&restarted, &r)), 107);
        // Members already in the ISR are not judged; a joiner without an
        // epoch, when epochs are given, is a malformed request.
        r.new_isr_broker_epochs = vec![(3, 11)];
        assert_eq!(code(plan_alter_partition(&restarted, &r)), 0);
        r.new_isr_broker_epochs = vec![(2, 10)];
        assert_eq!(code(plan_alter_partition(&restarted, &r)), 42);
        // Without epochs (pre-KIP-903 requests) only fencing is checked.
        r.new_isr_broker_epochs = vec![];
        assert_eq!(code(plan_alter_partition(&restarted, &r)), 0);
    }
}
