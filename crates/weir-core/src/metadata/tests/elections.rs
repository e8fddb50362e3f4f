use super::*;

const T: u128 = 7;

/// Brokers 1..3 and topic "t" (id 7) with the given partitions, each as
/// (replicas, isr, leader).
fn with_partitions(parts: &[(&[i32], &[i32], i32)]) -> MetadataImage {
    let mut image = cluster(&[1, 2, 3]);
    image.apply(&topic("t", tid(T))).unwrap();
    for (i, (replicas, isr, leader)) in parts.iter().enumerate() {
        image
            .apply(&partition(tid(T), i as i32, replicas, isr, *leader))
            .unwrap();
    }
    image
}

fn state(image: &MetadataImage, p: i32) -> (i32, Vec<i32>, i32, i32) {
    let p = image.partition(&tid(T), p).unwrap();
    (p.leader, p.isr.clone(), p.leader_epoch, p.partition_epoch)
}

#[test]
fn fencing_moves_leadership_to_the_first_isr_replica_and_shrinks_every_isr() {
    let mut image = with_partitions(&[
        (&[1, 2, 3], &[1, 2, 3], 1),
        (&[2, 3, 1], &[2, 3, 1], 2),
        (&[3, 1, 2], &[3, 1, 2], 3),
    ]);
    let got = plan_broker_fenced(&image, 1);
    let want = vec![
        change(tid(T), 0, Some(2), Some(&[2, 3])),
        change(tid(T), 1, None, Some(&[2, 3])),
        change(tid(T), 2, None, Some(&[3, 2])),
        fence(1),
    ];
    assert_eq!(got, want);
    apply_all(&mut image, &got);
    assert_eq!(state(&image, 0), (2, vec![2, 3], 1, 1));
    let p0 = image.partition(&tid(T), 0).unwrap();
    assert_eq!(image.offline_replicas(p0), vec![1]);
    assert_eq!(state(&image, 1), (2, vec![2, 3], 0, 1));
    assert_eq!(state(&image, 2), (3, vec![3, 2], 0, 1));
    assert!(!image.is_unfenced(1));
}

#[test]
fn the_new_leader_is_in_the_isr_and_unfenced_in_assignment_order() {
    // Replica 2 is not in the ISR, so 3 leads.
    let image = with_partitions(&[(&[1, 2, 3], &[1, 3], 1)]);
    assert_eq!(
        plan_broker_fenced(&image, 1),
        vec![change(tid(T), 0, Some(3), Some(&[3])), fence(1)]
    );
    // Replica 2 is in the ISR but already fenced (not yet removed), so 3 leads.
    let mut image = with_partitions(&[(&[1, 2, 3], &[1, 2, 3], 1)]);
    image.apply(&fence(2)).unwrap();
    assert_eq!(
        plan_broker_fenced(&image, 1),
        vec![change(tid(T), 0, Some(3), Some(&[2, 3])), fence(1)]
    );
}

#[test]
fn the_last_isr_member_stays_and_the_partition_becomes_leaderless() {
    let mut image = with_partitions(&[(&[1, 2], &[1], 1)]);
    let got = plan_broker_fenced(&image, 1);
    assert_eq!(
        got,
        vec![change(tid(T), 0, Some(NO_LEADER), None), fence(1)]
    );
    apply_all(&mut image, &got);
    assert_eq!(state(&image, 0), (-1, vec![1], 1, 1));
    // Fencing it again changes no partition.
    assert_eq!(plan_broker_fenced(&image, 1), vec![fence(1)]);
}

#[test]
fn unfencing_gives_leaderless_partitions_a_leader() {
    let mut image = with_partitions(&[(&[1, 2], &[1], 1), (&[2, 3], &[2, 3], 2)]);
    let fenced = plan_broker_fenced(&image, 1);
    apply_all(&mut image, &fenced);
    let got = plan_broker_unfenced(&image, 1);
    assert_eq!(got, vec![unfence(1), change(tid(T), 0, Some(1), None)]);
    apply_all(&mut image, &got);
    assert_eq!(state(&image, 0), (1, vec![1], 2, 2));
    assert_eq!(state(&image, 1), (2, vec![2, 3], 0, 0));
}

#[test]
fn unfencing_a_broker_outside_the_isr_elects_nobody() {
    let mut image = with_partitions(&[(&[1, 2], &[1], 1)]);
    apply_all(&mut image, &[fence(2)]);
    let fenced = plan_broker_fenced(&image, 1);
    apply_all(&mut image, &fenced);
    assert_eq!(plan_broker_unfenced(&image, 2), vec![unfence(2)]);
}

#[test]
fn a_cascade_of_fencing_ends_leaderless_and_recovers() {
    let mut image = with_partitions(&[(&[1, 2, 3], &[1, 2, 3], 1)]);
    let records = plan_broker_fenced(&image, 1);
    apply_all(&mut image, &records);
    assert_eq!(state(&image, 0), (2, vec![2, 3], 1, 1));
    let records = plan_broker_fenced(&image, 2);
    assert_eq!(
        records,
        vec![change(tid(T), 0, Some(3), Some(&[3])), fence(2)]
    );
    apply_all(&mut image, &records);
    let records = plan_broker_fenced(&image, 3);
    assert_eq!(
        records,
        vec![change(tid(T), 0, Some(NO_LEADER), None), fence(3)]
    );
    apply_all(&mut image, &records);
    assert_eq!(state(&image, 0), (-1, vec![3], 3, 3));
    // Broker 1 is back but out of sync: no leader until 3 returns.
    let records = plan_broker_unfenced(&image, 1);
    assert_eq!(records, vec![unfence(1)]);
    apply_all(&mut image, &records);
    let records = plan_broker_unfenced(&image, 3);
    assert_eq!(records, vec![unfence(3), change(tid(T), 0, Some(3), None)]);
    apply_all(&mut image, &records);
    assert_eq!(state(&image, 0), (3, vec![3], 4, 4));
}

#[test]
fn unknown_brokers_plan_nothing() {
    let image = with_partitions(&[(&[1], &[1], 1)]);
    assert_eq!(plan_broker_fenced(&image, 9), vec![]);
    assert_eq!(plan_broker_unfenced(&image, 9), vec![]);
}

#[test]
fn controlled_shutdown_moves_leaderships_first_and_refuses_stale_epochs() {
    let mut image = with_partitions(&[(&[1, 2, 3], &[1, 2, 3], 1), (&[1, 2], &[1], 1)]);
    let epoch = image.broker(1).unwrap().broker_epoch;
    // A dead incarnation's request fences nobody.
    assert!(matches!(
        plan_controlled_shutdown(&image, 1, epoch + 1),
        Err(PlanError::StaleBrokerEpoch(_))
    ));
    assert!(matches!(
        plan_controlled_shutdown(&image, 9, epoch),
        Err(PlanError::StaleBrokerEpoch(_))
    ));
    let got = plan_controlled_shutdown(&image, 1, epoch).unwrap();
    assert_eq!(
        got,
        vec![
            change(tid(T), 0, Some(2), Some(&[2, 3])),
            // The last ISR member: leaderless until it returns.
            change(tid(T), 1, Some(NO_LEADER), None),
            fence(1),
        ]
    );
    apply_all(&mut image, &got);
    assert_eq!(state(&image, 0), (2, vec![2, 3], 1, 1));
    // A retry after it applied changes nothing.
    assert_eq!(plan_controlled_shutdown(&image, 1, epoch).unwrap(), vec![]);
}
