//! KIP-966: eligible leader replicas, the election order (ISR, then ELR,
//! then unclean when allowed, else offline) and unclean shutdowns, as
//! exact records.

use super::*;

const T: u128 = 9;

/// ELR on, min ISR 2 (broker default), unclean off.
fn policy() -> ElectionPolicy {
    ElectionPolicy {
        elr_enabled: true,
        default_min_isr: 2,
        default_unclean: false,
    }
}

/// Brokers 1..3, topic "t" with one partition: replicas [1,2,3], the
/// given ISR and leader.
fn image(isr: &[i32], leader: i32) -> MetadataImage {
    let mut image = cluster(&[1, 2, 3]);
    image.apply(&topic("t", tid(T))).unwrap();
    image
        .apply(&partition(tid(T), 0, &[1, 2, 3], isr, leader))
        .unwrap();
    image
}

/// (leader, isr, elr, last known elr)
fn state(image: &MetadataImage) -> (i32, Vec<i32>, Vec<i32>, Vec<i32>) {
    let p = image.partition(&tid(T), 0).unwrap();
    (
        p.leader,
        p.isr.clone(),
        p.elr.clone(),
        p.last_known_elr.clone(),
    )
}

fn elr_change(
    leader: Option<i32>,
    isr: Option<&[i32]>,
    elr: Option<&[i32]>,
    last_known: Option<&[i32]>,
) -> MetadataRecord {
    MetadataRecord::PartitionChange {
        topic_id: tid(T),
        partition: 0,
        leader,
        isr: isr.map(<[i32]>::to_vec),
        elr: elr.map(<[i32]>::to_vec),
        last_known_elr: last_known.map(<[i32]>::to_vec),
        replicas: None,
        leader_recovering: None,
    }
}

fn fence_with(image: &mut MetadataImage, id: i32) -> Vec<MetadataRecord> {
    let records = plan_broker_fenced_with(image, id, &policy());
    apply_all(image, &records);
    records
}

#[test]
fn at_min_isr_a_fenced_member_just_leaves_the_isr() {
    let mut image = image(&[1, 2, 3], 1);
    let got = fence_with(&mut image, 3);
    assert_eq!(
        got,
        vec![elr_change(None, Some(&[1, 2]), None, None), fence(3)]
    );
    assert_eq!(state(&image), (1, vec![1, 2], vec![], vec![]));
}

#[test]
fn below_min_isr_the_leavers_become_eligible_and_the_last_one_standing_too() {
    let mut image = image(&[1, 2], 1);
    // ISR [1,2] -> [1]: below min ISR 2, so 2 is eligible.
    let got = fence_with(&mut image, 2);
    assert_eq!(
        got,
        vec![elr_change(None, Some(&[1]), Some(&[2]), None), fence(2)]
    );
    // The last ISR member is fenced too: with ELR the ISR empties and
    // both are eligible; nobody can lead.
    let got = fence_with(&mut image, 1);
    assert_eq!(
        got,
        vec![
            elr_change(Some(NO_LEADER), Some(&[]), Some(&[1, 2]), None),
            fence(1)
        ]
    );
    assert_eq!(state(&image), (-1, vec![], vec![1, 2], vec![]));
    // Broker 2 (an ELR member, never in the ISR since) returns first: it
    // leads, alone in the ISR; 1 stays eligible.
    let got = plan_broker_unfenced_with(&image, 2, &policy());
    assert_eq!(
        got,
        vec![
            unfence(2),
            elr_change(Some(2), Some(&[2]), Some(&[1]), None)
        ]
    );
    apply_all(&mut image, &got);
    assert_eq!(state(&image), (2, vec![2], vec![1], vec![]));
}

#[test]
fn an_isr_member_is_preferred_to_an_eligible_one() {
    let mut image = image(&[1, 2], 1);
    fence_with(&mut image, 2); // ISR [1], ELR [2]
    let unfenced = plan_broker_unfenced_with(&image, 2, &policy());
    apply_all(&mut image, &unfenced);
    apply_all(&mut image, &[fence(3)]);
    // 1 (ISR) is fenced while 2 (ELR) is unfenced: 2 leads from the ELR.
    let got = fence_with(&mut image, 1);
    assert_eq!(
        got,
        vec![elr_change(Some(2), Some(&[2]), Some(&[1]), None), fence(1)]
    );
}

#[test]
fn an_isr_back_at_min_isr_clears_the_elr() {
    let mut image = image(&[1, 2], 1);
    fence_with(&mut image, 2);
    assert_eq!(state(&image).2, vec![2]);
    let unfenced = plan_broker_unfenced_with(&image, 2, &policy());
    apply_all(&mut image, &unfenced);
    let p = image.partition(&tid(T), 0).unwrap().clone();
    let request = AlterPartitionRequest {
        broker_id: 1,
        topic_id: tid(T),
        partition: 0,
        leader_epoch: p.leader_epoch,
        partition_epoch: p.partition_epoch,
        new_isr: vec![1, 2],
        new_isr_broker_epochs: vec![],
        leader_recovered: false,
    };
    let got = plan_alter_partition_with(&image, &request, &policy()).unwrap();
    assert_eq!(got, vec![elr_change(None, Some(&[1, 2]), Some(&[]), None)]);
    // The leader's own shrink below min ISR makes the leaver eligible.
    apply_all(&mut image, &got);
    let p = image.partition(&tid(T), 0).unwrap().clone();
    let shrink = AlterPartitionRequest {
        partition_epoch: p.partition_epoch,
        new_isr: vec![1],
        ..request
    };
    let got = plan_alter_partition_with(&image, &shrink, &policy()).unwrap();
    assert_eq!(got, vec![elr_change(None, Some(&[1]), Some(&[2]), None)]);
}

#[test]
fn an_unclean_restart_leaves_the_elr_and_is_remembered_as_last_known() {
    let mut image = image(&[1, 2], 1);
    fence_with(&mut image, 2); // ISR [1], ELR [2]
    fence_with(&mut image, 1); // ISR [], ELR [1,2], offline
    let restart = |id: i32, previous: i64| BrokerRegistrationRequest {
        broker_id: id,
        incarnation_id: Uuid::from_u128(1000 + id as u128),
        listeners: vec![],
        rack: None,
        previous_broker_epoch: previous,
    };
    // 2 restarts after a crash (no clean-shutdown epoch): it leaves the
    // ELR for the last known ELR, and is not electable.
    let (epoch2, got) = plan_register_broker_with(&image, &restart(2, -1), &policy()).unwrap();
    assert_eq!(
        got[0],
        elr_change(None, None, Some(&[1]), Some(&[2])),
        "{got:?}"
    );
    apply_all(&mut image, &got);
    assert_eq!(state(&image), (-1, vec![], vec![1], vec![2]));
    let unfenced = plan_broker_unfenced_with(&image, 2, &policy());
    let unfence_at = |broker_id: i32, broker_epoch: i64| MetadataRecord::UnfenceBroker {
        broker_id,
        broker_epoch,
    };
    assert_eq!(
        unfenced,
        vec![unfence_at(2, epoch2)],
        "offline rather than lose data"
    );
    apply_all(&mut image, &unfenced);
    // 1 restarts cleanly (its previous epoch is the registered one): it
    // stays eligible and leads when unfenced.
    let previous = image.broker(1).unwrap().broker_epoch;
    let (epoch1, got) =
        plan_register_broker_with(&image, &restart(1, previous), &policy()).unwrap();
    assert!(
        got.iter()
            .all(|r| !matches!(r, MetadataRecord::PartitionChange { .. })),
        "{got:?}"
    );
    apply_all(&mut image, &got);
    let got = plan_broker_unfenced_with(&image, 1, &policy());
    assert_eq!(
        got,
        vec![
            unfence_at(1, epoch1),
            elr_change(Some(1), Some(&[1]), Some(&[]), None)
        ]
    );
    apply_all(&mut image, &got);
    // ISR [1] is still below min ISR 2: the ELR is recomputed from the
    // old ISR and ELR (1 left the ELR by leading); 2 stays last known.
    assert_eq!(state(&image), (1, vec![1], vec![], vec![2]));
}

#[test]
fn unclean_election_only_when_the_topic_allows_it() {
    let mut image = image(&[1], 1);
    apply_all(&mut image, &[fence(2)]);
    // ISR [1] and no ELR; 1 is fenced, 3 is live but out of sync.
    let got = plan_broker_fenced_with(&image, 1, &policy());
    assert_eq!(
        got,
        vec![
            elr_change(Some(NO_LEADER), Some(&[]), Some(&[1]), None),
            fence(1)
        ],
        "unclean off: offline"
    );
    // With unclean election allowed for the topic, 3 leads alone and the
    // ELR is cleared (its data may be behind: possible loss).
    image
        .apply(&topic_cfg(
            "t",
            "unclean.leader.election.enable",
            Some("true"),
        ))
        .unwrap();
    let got = plan_broker_fenced_with(&image, 1, &policy());
    let mut unclean = elr_change(Some(3), Some(&[3]), None, None);
    if let MetadataRecord::PartitionChange {
        leader_recovering, ..
    } = &mut unclean
    {
        *leader_recovering = Some(true);
    }
    assert_eq!(got, vec![unclean, fence(1)]);
    apply_all(&mut image, &got);
    assert!(image.partition(&tid(T), 0).unwrap().leader_recovering);
    // RECOVERING: the ISR may not grow until the leader says it recovered.
    apply_all(&mut image, &[unfence(2)]);
    let p = image.partition(&tid(T), 0).unwrap().clone();
    let grow = AlterPartitionRequest {
        broker_id: 3,
        topic_id: tid(T),
        partition: 0,
        leader_epoch: p.leader_epoch,
        partition_epoch: p.partition_epoch,
        new_isr: vec![3, 2],
        new_isr_broker_epochs: vec![],
        leader_recovered: false,
    };
    assert!(matches!(
        plan_alter_partition_with(&image, &grow, &policy()),
        Err(PlanError::InvalidRequest(_))
    ));
    let recovered = AlterPartitionRequest {
        new_isr: vec![3],
        leader_recovered: true,
        ..grow.clone()
    };
    let got = plan_alter_partition_with(&image, &recovered, &policy()).unwrap();
    let mut cleared = elr_change(None, None, None, None);
    if let MetadataRecord::PartitionChange {
        leader_recovering, ..
    } = &mut cleared
    {
        *leader_recovering = Some(false);
    }
    assert_eq!(got, vec![cleared]);
    apply_all(&mut image, &got);
    let p = image.partition(&tid(T), 0).unwrap().clone();
    let grow = AlterPartitionRequest {
        partition_epoch: p.partition_epoch,
        ..grow
    };
    assert!(plan_alter_partition_with(&image, &grow, &policy()).is_ok());
}

#[test]
fn without_elr_the_rules_are_the_old_ones() {
    let mut image = image(&[1, 2], 1);
    let off = ElectionPolicy::default();
    let got = plan_broker_fenced_with(&image, 2, &off);
    assert_eq!(got, plan_broker_fenced(&image, 2));
    apply_all(&mut image, &got);
    let got = plan_broker_fenced_with(&image, 1, &off);
    assert_eq!(
        got,
        vec![change(tid(T), 0, Some(NO_LEADER), None), fence(1)]
    );
}

#[test]
fn the_last_replica_standing_leads_again_after_a_crash() {
    // RF=1 (min ISR capped at 1): the lone replica is fenced, restarts
    // without a clean shutdown (out of the ELR, into the last known ELR)
    // and, as nothing better exists, leads again when unfenced.
    let mut image = cluster(&[1]);
    image.apply(&topic("t", tid(T))).unwrap();
    image.apply(&partition(tid(T), 0, &[1], &[1], 1)).unwrap();
    let fenced = plan_broker_fenced_with(&image, 1, &policy());
    apply_all(&mut image, &fenced);
    assert_eq!(state(&image), (-1, vec![], vec![1], vec![]));
    let restart = BrokerRegistrationRequest {
        broker_id: 1,
        incarnation_id: Uuid::from_u128(77),
        listeners: vec![],
        rack: None,
        previous_broker_epoch: -1,
    };
    let (epoch, got) = plan_register_broker_with(&image, &restart, &policy()).unwrap();
    apply_all(&mut image, &got);
    assert_eq!(state(&image), (-1, vec![], vec![], vec![1]));
    let got = plan_broker_unfenced_with(&image, 1, &policy());
    assert_eq!(
        got,
        vec![
            MetadataRecord::UnfenceBroker {
                broker_id: 1,
                broker_epoch: epoch
            },
            elr_change(Some(1), Some(&[1]), None, Some(&[]))
        ]
    );
}
