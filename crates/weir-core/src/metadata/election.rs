//! Leader election when brokers are fenced or unfenced, after Kafka's
//! `ReplicationControlManager.handleBrokerFenced/handleBrokerUnfenced`,
//! `generateLeaderAndIsrUpdates` and `PartitionChangeBuilder`.
//!
//! The rule (issue 4, point 6, and KRaft's): a fenced broker leaves every
//! ISR it is in, unless it is the last member (an ISR is never emptied
//! while ELR is off). A partition whose leader is not acceptable any more
//! gets the first replica in assignment order that is in the new ISR and
//! unfenced; if there is none it becomes leaderless (leader -1). A
//! leaderless partition gets a leader again when a broker in its ISR is
//! unfenced. Leader changes bump the leader epoch and every change bumps
//! the partition epoch, by how `PartitionChange` records apply.
//!
//! Still to come with the replication issue: ELR (KIP-966), unclean
//! election, controlled shutdown and preferred-leader election; they fit
//! [`partition_change`] as more inputs (target ELR, election kind).

use super::image::{MetadataImage, PartitionRegistration};
use super::plan_error::PlanError;
use super::records::{MetadataRecord, NO_LEADER};
use uuid::Uuid;

/// The records that fence `broker_id`: a `PartitionChange` for every
/// partition whose ISR holds it (in topic id, then partition order), then
/// `FenceBroker`. Empty when the broker is not registered.
pub fn plan_broker_fenced(image: &MetadataImage, broker_id: i32) -> Vec<MetadataRecord> {
    let Some(broker) = image.broker(broker_id) else {
        return Vec::new();
    };
    let acceptable = |r: i32| r != broker_id && image.is_unfenced(r);
    let mut records = changes(
        image,
        |p| p.isr.contains(&broker_id),
        |p| without(&p.isr, broker_id),
        acceptable,
    );
    records.push(MetadataRecord::FenceBroker {
        broker_id,
        broker_epoch: broker.broker_epoch,
    });
    records
}

/// Controlled shutdown (Kafka's `BrokerHeartbeat` with `WantShutDown`):
/// the broker at `broker_epoch` is about to stop, so it is fenced now,
/// while it still serves: every partition it led moves to the first other
/// unfenced ISR member (a partition it is the last ISR member of becomes
/// leaderless, as on a crash), it leaves the other ISRs, and clients stop
/// being sent to it. Its restart registers and unfences it again. An
/// already fenced broker needs nothing; a stale epoch is refused
/// (STALE_BROKER_EPOCH), so a retry from a dead incarnation fences nobody.
pub fn plan_controlled_shutdown(
    image: &MetadataImage,
    broker_id: i32,
    broker_epoch: i64,
) -> Result<Vec<MetadataRecord>, PlanError> {
    let Some(broker) = image.broker(broker_id) else {
        return Err(PlanError::StaleBrokerEpoch(format!(
            "Broker {broker_id} is not registered"
        )));
    };
    if broker.broker_epoch != broker_epoch {
        return Err(PlanError::StaleBrokerEpoch(format!(
            "Broker {broker_id} is registered with epoch {}, not {broker_epoch}",
            broker.broker_epoch
        )));
    }
    if !image.is_unfenced(broker_id) {
        return Ok(Vec::new());
    }
    Ok(plan_broker_fenced(image, broker_id))
}

/// The records that unfence `broker_id`: `UnfenceBroker`, then a
/// `PartitionChange` for every leaderless partition that can now elect a
/// leader (the unfenced broker counts as acceptable before the record
/// applies, as in Kafka). Empty when the broker is not registered.
pub fn plan_broker_unfenced(image: &MetadataImage, broker_id: i32) -> Vec<MetadataRecord> {
    let Some(broker) = image.broker(broker_id) else {
        return Vec::new();
    };
    let acceptable = |r: i32| r == broker_id || image.is_unfenced(r);
    let mut records = vec![MetadataRecord::UnfenceBroker {
        broker_id,
        broker_epoch: broker.broker_epoch,
    }];
    records.extend(changes(
        image,
        |p| !p.has_leader(),
        |p| p.isr.clone(),
        acceptable,
    ));
    records
}

/// A change for every partition that `affected` selects, given its target
/// ISR and who may lead.
fn changes(
    image: &MetadataImage,
    affected: impl Fn(&PartitionRegistration) -> bool,
    target_isr: impl Fn(&PartitionRegistration) -> Vec<i32>,
    acceptable: impl Fn(i32) -> bool,
) -> Vec<MetadataRecord> {
    let mut records = Vec::new();
    for topic in image.topics_by_id() {
        for (index, partition) in &topic.partitions {
            if affected(partition) {
                let target = target_isr(partition);
                records.extend(partition_change(
                    topic.topic_id,
                    *index,
                    partition,
                    target,
                    &acceptable,
                ));
            }
        }
    }
    records
}

/// The `PartitionChange` that moves `current` to `target_isr` and elects
/// a leader if needed, or `None` when nothing changes. As
/// `PartitionChangeBuilder.electAnyLeader`: keep the leader while it is
/// valid, else the first valid replica in assignment order, else none. An
/// empty target ISR is not written (the last member stays).
pub(super) fn partition_change(
    topic_id: Uuid,
    partition: i32,
    current: &PartitionRegistration,
    target_isr: Vec<i32>,
    acceptable: &impl Fn(i32) -> bool,
) -> Option<MetadataRecord> {
    let valid = |r: i32| target_isr.contains(&r) && acceptable(r);
    let leader = if valid(current.leader) {
        current.leader
    } else {
        current
            .replicas
            .iter()
            .copied()
            .find(|r| valid(*r))
            .unwrap_or(NO_LEADER)
    };
    let leader = (leader != current.leader).then_some(leader);
    let isr = (!target_isr.is_empty() && target_isr != current.isr).then_some(target_isr);
    if leader.is_none() && isr.is_none() {
        return None;
    }
    Some(MetadataRecord::PartitionChange {
        topic_id,
        partition,
        leader,
        isr,
        elr: None,
        last_known_elr: None,
        replicas: None,
    })
}

fn without(list: &[i32], broker_id: i32) -> Vec<i32> {
    list.iter().copied().filter(|b| *b != broker_id).collect()
}
