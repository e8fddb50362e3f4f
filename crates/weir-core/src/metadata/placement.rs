//! Replica placement as Kafka's `AdminUtils.assignReplicasToBrokers`
//! (`server-common/src/main/java/org/apache/kafka/admin/AdminUtils.java`).
//!
//! The goals, from its documentation: spread replicas evenly across
//! brokers; for partitions assigned to a broker, spread their other
//! replicas evenly across the other brokers; with racks, put each replica
//! of a partition on a different rack where possible.
//!
//! The leader (first replica) of partition `p` is broker
//! `(p + start_index) % n`; the followers are shifted by
//! `next_replica_shift`, which grows by one each time the partitions wrap
//! around the broker list, so the follower sets differ between rounds.
//! KRaft's `StripedReplicaPlacer` reaches the same spread but draws from
//! `java.util.Random` throughout; this form takes its one random number,
//! `start_index`, from the caller, so a plan is reproducible.

use std::collections::{BTreeMap, BTreeSet};

/// A broker that may receive replicas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacementBroker<'a> {
    /// Broker id.
    pub id: i32,
    /// `broker.rack`, if set.
    pub rack: Option<&'a str>,
}

/// Replica lists for partitions `first_partition..first_partition +
/// num_partitions`.
///
/// `brokers` must be sorted by id and at least `replication_factor >= 1`
/// long. `start_index` is the caller's random number; it is taken modulo
/// the broker count (Kafka draws it from `0..n`) and used both as the
/// start index and as the initial replica shift, exactly as Kafka's
/// `fixedStartIndex`. Placement is rack-aware when every broker has a
/// rack and rack-unaware otherwise (Kafka's `RackAwareMode.Safe`, which
/// ignores racks unless all brokers have one).
pub fn assign_replicas(
    brokers: &[PlacementBroker<'_>],
    num_partitions: usize,
    replication_factor: usize,
    start_index: usize,
    first_partition: usize,
) -> Vec<Vec<i32>> {
    assert!(
        replication_factor >= 1 && replication_factor <= brokers.len(),
        "placement needs 1 <= replication factor ({replication_factor}) <= brokers ({})",
        brokers.len()
    );
    let racks: Option<Vec<(i32, &str)>> = brokers.iter().map(|b| Some((b.id, b.rack?))).collect();
    let start = start_index % brokers.len();
    let partitions = first_partition..first_partition + num_partitions;
    match racks {
        Some(racks) => rack_aware(&racks, partitions, replication_factor, start),
        None => {
            let ids: Vec<i32> = brokers.iter().map(|b| b.id).collect();
            rack_unaware(&ids, partitions, replication_factor, start)
        }
    }
}

/// Kafka's `assignReplicasToBrokersRackUnaware`.
fn rack_unaware(
    brokers: &[i32],
    partitions: std::ops::Range<usize>,
    replication_factor: usize,
    start: usize,
) -> Vec<Vec<i32>> {
    let n = brokers.len();
    let mut shift = start;
    let mut out = Vec::with_capacity(partitions.len());
    for p in partitions {
        if p > 0 && p % n == 0 {
            shift += 1;
        }
        let first = (p + start) % n;
        let followers =
            (0..replication_factor - 1).map(|j| brokers[replica_index(first, shift, j, n)]);
        out.push(std::iter::once(brokers[first]).chain(followers).collect());
    }
    out
}

/// Kafka's `assignReplicasToBrokersRackAware`: brokers are listed
/// alternating between racks, and a follower candidate is skipped while
/// its rack already holds a replica and some rack holds none, or while it
/// already holds one and some broker holds none.
fn rack_aware(
    racks: &[(i32, &str)],
    partitions: std::ops::Range<usize>,
    replication_factor: usize,
    start: usize,
) -> Vec<Vec<i32>> {
    let rack_of: BTreeMap<i32, &str> = racks.iter().copied().collect();
    let num_racks = rack_of.values().collect::<BTreeSet<_>>().len();
    let arranged = rack_alternated_brokers(racks);
    let n = arranged.len();
    let mut shift = start;
    let mut out = Vec::with_capacity(partitions.len());
    for p in partitions {
        if p > 0 && p % n == 0 {
            shift += 1;
        }
        let first = (p + start) % n;
        let mut replicas = vec![arranged[first]];
        let mut k = 0;
        while replicas.len() < replication_factor {
            let candidate = arranged[replica_index(first, shift * num_racks, k, n)];
            k += 1;
            if acceptable_follower(&replicas, candidate, &rack_of, num_racks, n) {
                replicas.push(candidate);
            }
            // Within n - 1 steps every other broker is a candidate once,
            // and an unused broker always exists, so this cannot spin.
            assert!(
                k <= n * replication_factor,
                "rack-aware placement made no progress"
            );
        }
        out.push(replicas);
    }
    out
}

fn acceptable_follower(
    replicas: &[i32],
    candidate: i32,
    rack_of: &BTreeMap<i32, &str>,
    num_racks: usize,
    num_brokers: usize,
) -> bool {
    let used_racks: BTreeSet<&str> = replicas.iter().map(|b| rack_of[b]).collect();
    let rack_ok = !used_racks.contains(rack_of[&candidate]) || used_racks.len() == num_racks;
    let broker_ok = !replicas.contains(&candidate) || replicas.len() == num_brokers;
    rack_ok && broker_ok
}

/// Kafka's `getRackAlternatedBrokerList`: racks sorted by name, brokers
/// within a rack by id, then one broker from each rack in turn.
pub fn rack_alternated_brokers(racks: &[(i32, &str)]) -> Vec<i32> {
    let mut by_rack: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (id, rack) in racks {
        by_rack.entry(rack).or_default().push(*id);
    }
    let mut columns: Vec<std::vec::IntoIter<i32>> = by_rack
        .into_values()
        .map(|mut ids| {
            ids.sort_unstable();
            ids.into_iter()
        })
        .collect();
    let mut out = Vec::with_capacity(racks.len());
    while out.len() < racks.len() {
        out.extend(columns.iter_mut().filter_map(Iterator::next));
    }
    out
}

/// Kafka's `replicaIndex`: the broker index of follower `j`.
fn replica_index(first: usize, shift: usize, j: usize, n: usize) -> usize {
    let step = 1 + (shift + j) % (n - 1);
    (first + step) % n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unracked(ids: &[i32]) -> Vec<PlacementBroker<'static>> {
        ids.iter()
            .map(|&id| PlacementBroker { id, rack: None })
            .collect()
    }

    fn racked<'a>(pairs: &[(i32, &'a str)]) -> Vec<PlacementBroker<'a>> {
        pairs
            .iter()
            .map(|&(id, rack)| PlacementBroker {
                id,
                rack: Some(rack),
            })
            .collect()
    }

    #[test]
    fn three_brokers_six_partitions_start_zero() {
        let got = assign_replicas(&unracked(&[1, 2, 3]), 6, 3, 0, 0);
        let want = vec![
            vec![1, 2, 3],
            vec![2, 3, 1],
            vec![3, 1, 2],
            vec![1, 3, 2],
            vec![2, 1, 3],
            vec![3, 2, 1],
        ];
        assert_eq!(got, want);
    }

    /// Kafka's `AdminTest.testReplicaAssignment` (5 brokers, 10
    /// partitions, RF 3, fixed start index 0).
    #[test]
    fn kafka_admin_test_replica_assignment() {
        let got = assign_replicas(&unracked(&[0, 1, 2, 3, 4]), 10, 3, 0, 0);
        let want = vec![
            vec![0, 1, 2],
            vec![1, 2, 3],
            vec![2, 3, 4],
            vec![3, 4, 0],
            vec![4, 0, 1],
            vec![0, 2, 3],
            vec![1, 3, 4],
            vec![2, 4, 0],
            vec![3, 0, 1],
            vec![4, 1, 2],
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn start_index_rotates_leaders_and_shifts_followers() {
        let got = assign_replicas(&unracked(&[1, 2, 3]), 3, 2, 1, 0);
        assert_eq!(got, vec![vec![2, 1], vec![3, 2], vec![1, 3]]);
        // Taken modulo the broker count.
        assert_eq!(assign_replicas(&unracked(&[1, 2, 3]), 3, 2, 4, 0), got);
    }

    #[test]
    fn continuing_from_a_partition_index_within_the_first_round() {
        // Kafka's shift grows only at wraps from the first index on, so a
        // continuation matches one long run when it starts within round one.
        let brokers = unracked(&[1, 2, 3, 4]);
        let whole = assign_replicas(&brokers, 9, 3, 2, 0);
        let tail = assign_replicas(&brokers, 6, 3, 2, 3);
        assert_eq!(tail, whole[3..].to_vec());
    }

    /// Kafka's `AdminRackAwareTest.testGetRackAlternatedBrokerListAndAssignReplicasToBrokers`.
    #[test]
    fn kafka_rack_aware_test() {
        let map = [
            (0, "rack1"),
            (1, "rack3"),
            (2, "rack3"),
            (3, "rack2"),
            (4, "rack2"),
            (5, "rack1"),
        ];
        assert_eq!(rack_alternated_brokers(&map), vec![0, 3, 1, 5, 4, 2]);
        assert_eq!(rack_alternated_brokers(&map[..5]), vec![0, 3, 1, 4, 2]);
        let got = assign_replicas(&racked(&map), 7, 3, 0, 0);
        let want = vec![
            vec![0, 3, 1],
            vec![3, 1, 5],
            vec![1, 5, 4],
            vec![5, 4, 2],
            vec![4, 2, 0],
            vec![2, 0, 3],
            vec![0, 4, 2],
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn rack_aware_puts_replicas_on_distinct_racks() {
        let map = [(1, "a"), (2, "a"), (3, "b"), (4, "b"), (5, "c"), (6, "c")];
        for start in 0..6 {
            for replicas in assign_replicas(&racked(&map), 12, 3, start, 0) {
                let racks: BTreeSet<&str> =
                    replicas.iter().map(|b| map[(*b - 1) as usize].1).collect();
                assert_eq!(racks.len(), 3, "{replicas:?}");
            }
        }
    }

    #[test]
    fn some_brokers_without_rack_means_rack_unaware() {
        let brokers = vec![
            PlacementBroker {
                id: 1,
                rack: Some("a"),
            },
            PlacementBroker { id: 2, rack: None },
            PlacementBroker {
                id: 3,
                rack: Some("b"),
            },
        ];
        assert_eq!(
            assign_replicas(&brokers, 6, 3, 0, 0),
            assign_replicas(&unracked(&[1, 2, 3]), 6, 3, 0, 0)
        );
    }

    #[test]
    fn one_broker() {
        assert_eq!(
            assign_replicas(&unracked(&[7]), 3, 1, 5, 0),
            vec![vec![7]; 3]
        );
    }
}
