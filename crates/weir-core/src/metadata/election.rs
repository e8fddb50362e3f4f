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
use super::records::{ConfigResource, MetadataRecord, NO_LEADER};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// How the active controller elects (its own static config; a topic's
/// `min.insync.replicas` / `unclean.leader.election.enable` override the
/// defaults here, as in Kafka's controller).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct ElectionPolicy {
    /// `eligible.leader.replicas.enable` (KIP-966).
    pub elr_enabled: bool,
    /// `min.insync.replicas` of the controller's config.
    pub default_min_isr: i32,
    /// `unclean.leader.election.enable` of the controller's config.
    pub default_unclean: bool,
}

impl Default for ElectionPolicy {
    /// The rules before KIP-966: no ELR (the last ISR member stays in the
    /// ISR), no unclean election.
    fn default() -> Self {
        ElectionPolicy {
            elr_enabled: false,
            default_min_isr: 1,
            default_unclean: false,
        }
    }
}

impl ElectionPolicy {
    /// The effective min ISR of `topic` (topic config, else the default,
    /// capped at the replication factor).
    fn min_isr(&self, image: &MetadataImage, topic: &str, p: &PartitionRegistration) -> usize {
        let configured = image
            .config(
                &ConfigResource::Topic(topic.to_string()),
                "min.insync.replicas",
            )
            .and_then(|v| v.parse::<i32>().ok())
            .unwrap_or(self.default_min_isr);
        usize::try_from(p.effective_min_isr(configured)).unwrap_or(1)
    }

    /// Whether `topic` allows unclean leader election.
    fn unclean(&self, image: &MetadataImage, topic: &str) -> bool {
        image
            .config(
                &ConfigResource::Topic(topic.to_string()),
                "unclean.leader.election.enable",
            )
            .and_then(|v| v.parse::<bool>().ok())
            .unwrap_or(self.default_unclean)
    }
}

/// What one partition's change is decided with.
struct Rules<'a> {
    elr_enabled: bool,
    min_isr: usize,
    unclean: bool,
    /// Replicas whose last shutdown was unclean: they leave the ELR.
    unclean_shutdown: &'a [i32],
}

/// The records that fence `broker_id`: a `PartitionChange` for every
/// partition whose ISR holds it (in topic id, then partition order), then
/// `FenceBroker`. Empty when the broker is not registered.
pub fn plan_broker_fenced(image: &MetadataImage, broker_id: i32) -> Vec<MetadataRecord> {
    plan_broker_fenced_with(image, broker_id, &ElectionPolicy::default())
}

/// [`plan_broker_fenced`] under `policy`. With ELR (KIP-966) the fenced
/// broker leaves every ISR, the last member too; members that leave an
/// ISR below min ISR become eligible leader replicas, and a partition
/// with no ISR member left may elect from them.
pub fn plan_broker_fenced_with(
    image: &MetadataImage,
    broker_id: i32,
    policy: &ElectionPolicy,
) -> Vec<MetadataRecord> {
    let Some(broker) = image.broker(broker_id) else {
        return Vec::new();
    };
    let acceptable = |r: i32| r != broker_id && image.is_unfenced(r);
    let mut records = changes(
        image,
        policy,
        &[],
        |p| p.isr.contains(&broker_id) || p.leader == broker_id,
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

/// [`plan_controlled_shutdown`] under `policy`.
pub fn plan_controlled_shutdown_with(
    image: &MetadataImage,
    broker_id: i32,
    broker_epoch: i64,
    policy: &ElectionPolicy,
) -> Result<Vec<MetadataRecord>, PlanError> {
    plan_controlled_shutdown(image, broker_id, broker_epoch)?;
    if !image.is_unfenced(broker_id) {
        return Ok(Vec::new());
    }
    Ok(plan_broker_fenced_with(image, broker_id, policy))
}

/// A registering broker whose previous shutdown was unclean (it may have
/// lost unflushed records) leaves every ELR; it is remembered in the last
/// known ELR (KIP-966). Run on the image after the old incarnation was
/// fenced.
pub fn plan_unclean_shutdown(
    image: &MetadataImage,
    broker_id: i32,
    policy: &ElectionPolicy,
) -> Vec<MetadataRecord> {
    if !policy.elr_enabled {
        return Vec::new();
    }
    let acceptable = |r: i32| r != broker_id && image.is_unfenced(r);
    changes(
        image,
        policy,
        &[broker_id],
        |p| p.elr.contains(&broker_id),
        |p| p.isr.clone(),
        acceptable,
    )
}

/// The records that unfence `broker_id`: `UnfenceBroker`, then a
/// `PartitionChange` for every leaderless partition that can now elect a
/// leader (the unfenced broker counts as acceptable before the record
/// applies, as in Kafka). Empty when the broker is not registered.
pub fn plan_broker_unfenced(image: &MetadataImage, broker_id: i32) -> Vec<MetadataRecord> {
    plan_broker_unfenced_with(image, broker_id, &ElectionPolicy::default())
}

/// [`plan_broker_unfenced`] under `policy`: a leaderless partition elects
/// from its ISR, else (ELR) from its eligible leader replicas, else, when
/// the topic allows it, any live replica (unclean).
pub fn plan_broker_unfenced_with(
    image: &MetadataImage,
    broker_id: i32,
    policy: &ElectionPolicy,
) -> Vec<MetadataRecord> {
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
        policy,
        &[],
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
    policy: &ElectionPolicy,
    unclean_shutdown: &[i32],
    affected: impl Fn(&PartitionRegistration) -> bool,
    target_isr: impl Fn(&PartitionRegistration) -> Vec<i32>,
    acceptable: impl Fn(i32) -> bool,
) -> Vec<MetadataRecord> {
    let mut records = Vec::new();
    for topic in image.topics_by_id() {
        for (index, partition) in &topic.partitions {
            if affected(partition) {
                let rules = Rules {
                    elr_enabled: policy.elr_enabled,
                    min_isr: policy.min_isr(image, &topic.name, partition),
                    unclean: policy.unclean(image, &topic.name),
                    unclean_shutdown,
                };
                let target = target_isr(partition);
                records.extend(partition_change_with(
                    topic.topic_id,
                    *index,
                    partition,
                    target,
                    &acceptable,
                    &rules,
                ));
            }
        }
    }
    records
}

/// `replicas` filtered to the members of `set`, in assignment order.
fn in_order(replicas: &[i32], set: impl Fn(i32) -> bool) -> Vec<i32> {
    replicas.iter().copied().filter(|r| set(*r)).collect()
}

/// KIP-966's ELR and last known ELR for a partition whose ISR becomes
/// `target_isr` (Kafka's `PartitionChangeBuilder.maybePopulateTargetElr`):
/// at or above min ISR both are empty; below it the ELR is the old ELR and
/// old ISR minus the new ISR and minus unclean shutdowns, and the last
/// known ELR keeps the rest of them (and its old members) outside ISR and
/// ELR.
fn target_elr(
    current: &PartitionRegistration,
    target_isr: &[i32],
    rules: &Rules<'_>,
) -> (Vec<i32>, Vec<i32>) {
    if target_isr.len() >= rules.min_isr {
        return (Vec::new(), Vec::new());
    }
    let candidate = |r: i32| current.elr.contains(&r) || current.isr.contains(&r);
    let elr = in_order(&current.replicas, |r| {
        candidate(r) && !target_isr.contains(&r) && !rules.unclean_shutdown.contains(&r)
    });
    let last_known = in_order(&current.replicas, |r| {
        (candidate(r) || current.last_known_elr.contains(&r))
            && !target_isr.contains(&r)
            && !elr.contains(&r)
    });
    (elr, last_known)
}

/// The `PartitionChange` that moves `current` to `target_isr` and elects
/// a leader if needed, or `None` when nothing changes.
///
/// Without ELR, as `PartitionChangeBuilder.electAnyLeader` before KIP-966:
/// keep the leader while it is valid, else the first valid replica in
/// assignment order, else none; an empty target ISR is not written (the
/// last member stays). With ELR: the ISR may empty; the ELR follows
/// [`target_elr`]; with no valid ISR member the first acceptable ELR
/// member leads, alone in the ISR, else (no ISR, no ELR) the first
/// returning member of the last known ELR. Either way, when nobody is valid and
/// the topic allows unclean election, the first acceptable replica leads
/// alone (possible data loss, logged by the caller's shell) and the ELR
/// is cleared.
fn partition_change_with(
    topic_id: Uuid,
    partition: i32,
    current: &PartitionRegistration,
    target_isr: Vec<i32>,
    acceptable: &impl Fn(i32) -> bool,
    rules: &Rules<'_>,
) -> Option<MetadataRecord> {
    let mut target_isr = if !rules.elr_enabled && target_isr.is_empty() {
        current.isr.clone()
    } else {
        target_isr
    };
    let valid = |isr: &[i32], r: i32| isr.contains(&r) && acceptable(r);
    let mut leader = if valid(&target_isr, current.leader) {
        current.leader
    } else {
        current
            .replicas
            .iter()
            .copied()
            .find(|r| valid(&target_isr, *r))
            .unwrap_or(NO_LEADER)
    };
    let mut unclean = false;
    if leader == NO_LEADER && rules.elr_enabled {
        let (elr, _) = target_elr(current, &target_isr, rules);
        if let Some(r) = elr.iter().copied().find(|r| acceptable(*r)) {
            leader = r;
            target_isr = vec![r];
        } else if target_isr.is_empty() && elr.is_empty() {
            // KIP-966's last known leader: with no ISR and no ELR member
            // left (every one shut down uncleanly), the first returning
            // member of the last known ELR leads. It holds everything that
            // was committed except what its own crash lost; nothing better
            // remains (the rule a lone replica's crash and restart needs).
            if let Some(r) = current
                .last_known_elr
                .iter()
                .copied()
                .find(|r| acceptable(*r))
            {
                leader = r;
                target_isr = vec![r];
            }
        }
    }
    if leader == NO_LEADER && rules.unclean {
        if let Some(r) = current.replicas.iter().copied().find(|r| acceptable(*r)) {
            leader = r;
            target_isr = vec![r];
            unclean = true;
        }
    }
    let (elr, last_known_elr) = if !rules.elr_enabled {
        (current.elr.clone(), current.last_known_elr.clone())
    } else if unclean {
        (Vec::new(), Vec::new())
    } else {
        target_elr(current, &target_isr, rules)
    };
    // Kafka's LeaderRecoveryState: an unclean leader is RECOVERING until
    // it says otherwise; any other new leader starts recovered.
    let recovering = if unclean {
        true
    } else if leader != current.leader {
        false
    } else {
        current.leader_recovering
    };
    let leader_recovering = (recovering != current.leader_recovering).then_some(recovering);
    let leader = (leader != current.leader).then_some(leader);
    let isr = (target_isr != current.isr).then_some(target_isr);
    let elr = (elr != current.elr).then_some(elr);
    let last_known_elr = (last_known_elr != current.last_known_elr).then_some(last_known_elr);
    if leader.is_none()
        && isr.is_none()
        && elr.is_none()
        && last_known_elr.is_none()
        && leader_recovering.is_none()
    {
        return None;
    }
    Some(MetadataRecord::PartitionChange {
        topic_id,
        partition,
        leader,
        isr,
        elr,
        last_known_elr,
        replicas: None,
        leader_recovering,
    })
}

/// The election a leaderless partition gets under `policy` (its ISR kept
/// as the target; every unfenced replica acceptable; unclean election
/// allowed when `force_unclean`, else as the topic says): the records,
/// empty when it has a leader or nobody can be elected.
pub(super) fn plan_leaderless_partition(
    image: &MetadataImage,
    topic_id: Uuid,
    partition: i32,
    policy: &ElectionPolicy,
    force_unclean: bool,
) -> Vec<MetadataRecord> {
    let Some(topic) = image.topic(&topic_id) else {
        return Vec::new();
    };
    let Some(p) = topic.partitions.get(&partition) else {
        return Vec::new();
    };
    if p.has_leader() {
        return Vec::new();
    }
    let rules = Rules {
        elr_enabled: policy.elr_enabled,
        min_isr: policy.min_isr(image, &topic.name, p),
        unclean: force_unclean || policy.unclean(image, &topic.name),
        unclean_shutdown: &[],
    };
    let acceptable = |r: i32| image.is_unfenced(r);
    partition_change_with(topic_id, partition, p, p.isr.clone(), &acceptable, &rules)
        .into_iter()
        .collect()
}

/// [`partition_change_with`] without ELR or unclean election (the rule
/// preferred-leader election uses: only the leader changes).
pub(super) fn partition_change(
    topic_id: Uuid,
    partition: i32,
    current: &PartitionRegistration,
    target_isr: Vec<i32>,
    acceptable: &impl Fn(i32) -> bool,
) -> Option<MetadataRecord> {
    let rules = Rules {
        elr_enabled: false,
        min_isr: 1,
        unclean: false,
        unclean_shutdown: &[],
    };
    partition_change_with(topic_id, partition, current, target_isr, acceptable, &rules)
}

/// KIP-966's ELR for an ISR change the leader asked for
/// (AlterPartition): `(elr, last_known_elr)` changes, `None` when they
/// stay.
pub(super) fn elr_for_isr_change(
    image: &MetadataImage,
    topic: &str,
    current: &PartitionRegistration,
    new_isr: &[i32],
    policy: &ElectionPolicy,
) -> (Option<Vec<i32>>, Option<Vec<i32>>) {
    if !policy.elr_enabled {
        return (None, None);
    }
    let rules = Rules {
        elr_enabled: true,
        min_isr: policy.min_isr(image, topic, current),
        unclean: false,
        unclean_shutdown: &[],
    };
    let (elr, last_known) = target_elr(current, new_isr, &rules);
    (
        (elr != current.elr).then_some(elr),
        (last_known != current.last_known_elr).then_some(last_known),
    )
}

fn without(list: &[i32], broker_id: i32) -> Vec<i32> {
    list.iter().copied().filter(|b| *b != broker_id).collect()
}
