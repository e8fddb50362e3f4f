//! Preferred leader election and the automatic rebalance.

use super::*;

const T: u128 = 7;
const U: u128 = 9;

/// Brokers 1..3, topic "t" (id 7) with the given partitions, each as
/// (replicas, isr, leader).
fn with_partitions(parts: &[(&[i32], &[i32], i32)]) -> MetadataImage {
    let mut image = cluster(&[1, 2, 3]);
    add_topic(&mut image, "t", T, parts);
    image
}

fn add_topic(image: &mut MetadataImage, name: &str, id: u128, parts: &[(&[i32], &[i32], i32)]) {
    image.apply(&topic(name, tid(id))).unwrap();
    for (i, (replicas, isr, leader)) in parts.iter().enumerate() {
        image
            .apply(&partition(tid(id), i as i32, replicas, isr, *leader))
            .unwrap();
    }
}

fn result(
    id: u128,
    partition: i32,
    outcome: ElectionOutcome,
    message: Option<&str>,
) -> ElectionResult {
    ElectionResult {
        topic_id: tid(id),
        partition,
        outcome,
        message: message.map(str::to_string),
    }
}

const NOT_NEEDED: &str = "Leader election not needed for topic partition.";
const NOT_AVAILABLE: &str = "The preferred leader was not available.";

#[test]
fn the_preferred_replica_in_the_isr_is_elected_with_the_isr_unchanged() {
    let mut image = with_partitions(&[(&[1, 2, 3], &[2, 3, 1], 2)]);
    let (records, results) = plan_preferred_election(&image, Some(&[(tid(T), 0)]));
    assert_eq!(records, vec![change(tid(T), 0, Some(1), None)]);
    assert_eq!(results, vec![result(T, 0, ElectionOutcome::Elected, None)]);
    apply_all(&mut image, &records);
    let p = image.partition(&tid(T), 0).unwrap();
    assert_eq!(
        (p.leader, p.isr.clone(), p.leader_epoch, p.partition_epoch),
        (1, vec![2, 3, 1], 1, 1)
    );
}

#[test]
fn each_partition_gets_kafkas_code_in_the_order_asked() {
    let mut image = with_partitions(&[
        (&[1, 2, 3], &[1, 2, 3], 1), // 0: already led by 1
        (&[1, 2, 3], &[2, 3], 2),    // 1: 1 out of the ISR
        (&[3, 1, 2], &[3, 1, 2], 1), // 2: 3 in the ISR but fenced
        (&[2, 3, 1], &[2, 3, 1], 3), // 3: electable
    ]);
    image.apply(&fence(3)).unwrap();
    let asked = [
        (tid(T), 3),
        (tid(T), 0),
        (tid(T), 1),
        (tid(T), 2),
        (tid(T), 9),
        (tid(U), 0),
    ];
    let (records, results) = plan_preferred_election(&image, Some(&asked));
    assert_eq!(records, vec![change(tid(T), 3, Some(2), None)]);
    assert_eq!(
        results,
        vec![
            result(T, 3, ElectionOutcome::Elected, None),
            result(T, 0, ElectionOutcome::NotNeeded, Some(NOT_NEEDED)),
            result(
                T,
                1,
                ElectionOutcome::PreferredLeaderNotAvailable,
                Some(NOT_AVAILABLE)
            ),
            result(
                T,
                2,
                ElectionOutcome::PreferredLeaderNotAvailable,
                Some(NOT_AVAILABLE)
            ),
            result(
                T,
                9,
                ElectionOutcome::UnknownTopicOrPartition,
                Some("No such partition as t-9")
            ),
            result(
                U,
                0,
                ElectionOutcome::UnknownTopicOrPartition,
                Some("No such topic id as 00000000-0000-0000-0000-000000000009")
            ),
        ]
    );
    let codes: Vec<i16> = results.iter().map(|r| r.outcome.error_code()).collect();
    assert_eq!(codes, vec![0, 84, 80, 80, 3, 3]);
}

#[test]
fn every_partition_skips_the_ones_not_needed_topics_by_name() {
    // "a" (id 9) sorts before "t" (id 7).
    let mut image = with_partitions(&[
        (&[1, 2, 3], &[1, 2, 3], 1),
        (&[2, 3, 1], &[2, 3, 1], 3),
        (&[3, 1, 2], &[1, 2], 1),
    ]);
    add_topic(&mut image, "a", U, &[(&[3, 1, 2], &[3, 1, 2], 1)]);
    let (records, results) = plan_preferred_election(&image, None);
    assert_eq!(
        records,
        vec![
            change(tid(U), 0, Some(3), None),
            change(tid(T), 1, Some(2), None)
        ]
    );
    assert_eq!(
        results,
        vec![
            result(U, 0, ElectionOutcome::Elected, None),
            result(T, 1, ElectionOutcome::Elected, None),
            result(
                T,
                2,
                ElectionOutcome::PreferredLeaderNotAvailable,
                Some(NOT_AVAILABLE)
            ),
        ]
    );
}

#[test]
fn results_after_the_commit_mark_the_committed_changes_elected() {
    let mut image = with_partitions(&[
        (&[1, 2, 3], &[1, 2, 3], 2),
        (&[2, 3, 1], &[2, 3, 1], 2),
        (&[3, 1, 2], &[1, 2], 1),
    ]);
    let asked = [(tid(T), 0), (tid(T), 1), (tid(T), 2)];
    let (records, _) = plan_preferred_election(&image, Some(&asked));
    apply_all(&mut image, &records);
    assert_eq!(
        preferred_election_results(&image, Some(&asked), &records),
        vec![
            result(T, 0, ElectionOutcome::Elected, None),
            result(T, 1, ElectionOutcome::NotNeeded, Some(NOT_NEEDED)),
            result(
                T,
                2,
                ElectionOutcome::PreferredLeaderNotAvailable,
                Some(NOT_AVAILABLE)
            ),
        ]
    );
    assert_eq!(
        preferred_election_results(&image, None, &records),
        vec![
            result(T, 0, ElectionOutcome::Elected, None),
            result(
                T,
                2,
                ElectionOutcome::PreferredLeaderNotAvailable,
                Some(NOT_AVAILABLE)
            ),
        ]
    );
    // A second run finds nothing to do.
    let (again, results) = plan_preferred_election(&image, Some(&asked[..1]));
    assert_eq!(again, vec![]);
    assert_eq!(
        results,
        vec![result(T, 0, ElectionOutcome::NotNeeded, Some(NOT_NEEDED))]
    );
}

#[test]
fn rebalance_moves_leadership_back_only_above_the_imbalance_percentage() {
    // Broker 1 is preferred for 0, 1, 2 and leads only 0: 2/3 imbalanced.
    // Broker 2 is preferred for 3 and leads it. Broker 3 is preferred for
    // 4, out of its ISR: imbalanced 1/1 but not electable.
    let image = with_partitions(&[
        (&[1, 2, 3], &[1, 2, 3], 1),
        (&[1, 2, 3], &[1, 2, 3], 2),
        (&[1, 3, 2], &[3, 2, 1], 3),
        (&[2, 3, 1], &[2, 3, 1], 2),
        (&[3, 1, 2], &[1, 2], 1),
    ]);
    assert_eq!(
        plan_auto_rebalance(&image, 10),
        vec![
            change(tid(T), 1, Some(1), None),
            change(tid(T), 2, Some(1), None)
        ]
    );
    // 2/3 = 66.7 % > 66 %, but not > 67 %.
    assert_eq!(plan_auto_rebalance(&image, 66).len(), 2);
    assert_eq!(plan_auto_rebalance(&image, 67), vec![]);
}

#[test]
fn rebalance_skips_fenced_preferred_leaders_and_balanced_clusters() {
    let mut image = with_partitions(&[(&[1, 2, 3], &[1, 2, 3], 2), (&[2, 3, 1], &[2, 3, 1], 2)]);
    image.apply(&fence(1)).unwrap();
    assert_eq!(plan_auto_rebalance(&image, 0), vec![]);
    let image = with_partitions(&[(&[1, 2, 3], &[1, 2, 3], 1), (&[2, 3, 1], &[2, 3, 1], 2)]);
    assert_eq!(plan_auto_rebalance(&image, 0), vec![]);
}

#[test]
fn rebalance_is_bounded_per_check() {
    let mut image = cluster(&[1, 2]);
    image.apply(&topic("t", tid(T))).unwrap();
    let n = MAX_ELECTIONS_PER_REBALANCE as i32 + 5;
    for i in 0..n {
        image
            .apply(&partition(tid(T), i, &[1, 2], &[1, 2], 2))
            .unwrap();
    }
    let records = plan_auto_rebalance(&image, 10);
    assert_eq!(records.len(), MAX_ELECTIONS_PER_REBALANCE);
    assert_eq!(records[0], change(tid(T), 0, Some(1), None));
}

#[test]
fn the_controller_op_plans_preferred_and_unclean_elections() {
    let image = with_partitions(&[(&[1, 2, 3], &[1, 2, 3], 2)]);
    let op = ControllerOp::ElectLeaders {
        election_type: ElectionType::Preferred,
        partitions: None,
    };
    assert_eq!(op.plan(&image), Ok(vec![change(tid(T), 0, Some(1), None)]));
    // A led partition needs no unclean election.
    let op = ControllerOp::ElectLeaders {
        election_type: ElectionType::Unclean,
        partitions: Some(vec![(tid(T), 0)]),
    };
    assert_eq!(op.plan(&image), Ok(vec![]));
}

#[test]
fn unclean_election_elects_a_live_out_of_sync_replica_only_when_leaderless() {
    // Partition 0: ISR [1] (fenced), leaderless; 3 is live but out of
    // sync. Partition 1 is led. The topic does not allow unclean
    // election; the request does.
    let mut image = with_partitions(&[(&[1, 2, 3], &[1], -1), (&[2, 3, 1], &[2, 3], 2)]);
    image.apply(&fence(1)).unwrap();
    image.apply(&fence(2)).unwrap();
    let policy = ElectionPolicy::default();
    let asked = [(tid(T), 0), (tid(T), 1), (tid(T), 5)];
    let (records, results) = plan_unclean_election(&image, Some(&asked), &policy);
    let recovering = |r: MetadataRecord| match r {
        MetadataRecord::PartitionChange {
            topic_id,
            partition,
            leader,
            isr,
            elr,
            last_known_elr,
            replicas,
            ..
        } => MetadataRecord::PartitionChange {
            topic_id,
            partition,
            leader,
            isr,
            elr,
            last_known_elr,
            replicas,
            leader_recovering: Some(true),
        },
        other => other,
    };
    assert_eq!(
        records,
        vec![recovering(change(tid(T), 0, Some(3), Some(&[3])))]
    );
    let codes: Vec<i16> = results.iter().map(|r| r.outcome.error_code()).collect();
    assert_eq!(codes, vec![0, 84, 3]);
    // After the commit, the broker reports the same.
    apply_all(&mut image, &records);
    let after = unclean_election_results(&image, Some(&asked), &records);
    let codes: Vec<i16> = after.iter().map(|r| r.outcome.error_code()).collect();
    assert_eq!(codes, vec![0, 84, 3]);
    // Nobody live: ELIGIBLE_LEADERS_NOT_AVAILABLE.
    let mut dead = with_partitions(&[(&[1, 2], &[1], -1)]);
    dead.apply(&fence(1)).unwrap();
    dead.apply(&fence(2)).unwrap();
    let (records, results) = plan_unclean_election(&dead, None, &policy);
    assert!(records.is_empty());
    assert_eq!(results[0].outcome.error_code(), 83);
}
