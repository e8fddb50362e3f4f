use super::*;
use proptest::prelude::*;

const LAG: i64 = 30_000;

fn config(min_isr: usize) -> ReplicationConfig {
    ReplicationConfig {
        replica_lag_time_max_ms: LAG,
        min_insync_replicas: min_isr,
        alter_partition_retry_ms: 5_000,
    }
}

/// Leader 1 of replicas [1,2,3], ISR as given, log empty, epoch 5.
fn leader(isr: &[i32], min_isr: usize) -> LeaderState {
    LeaderState::new(
        1,
        5,
        7,
        vec![1, 2, 3],
        isr.to_vec(),
        0,
        0,
        1_000,
        config(min_isr),
    )
}

/// A fetch by `replica` from `fetch_offset`, quoting broker epoch
/// `10 * replica` (so 20 for broker 2, 30 for broker 3).
fn fetch(replica: i32, fetch_offset: i64, may_join_isr: bool) -> FollowerFetch {
    FollowerFetch {
        replica,
        broker_epoch: 10 * i64::from(replica),
        fetch_offset,
        may_join_isr,
    }
}

/// A fetch by `replica` at the log start quoting `broker_epoch`.
fn fetch_with_epoch(replica: i32, broker_epoch: i64) -> FollowerFetch {
    FollowerFetch {
        replica,
        broker_epoch,
        fetch_offset: 0,
        may_join_isr: true,
    }
}

#[test]
fn a_lone_replica_commits_on_append() {
    let mut l = LeaderState::new(1, 0, 0, vec![1], vec![1], 0, 0, 0, config(1));
    assert_eq!(l.on_append(10), vec![Action::HighWatermark(10)]);
    assert_eq!(l.high_watermark(), 10);
}

#[test]
fn the_high_watermark_is_the_lowest_leo_in_the_isr() {
    let mut l = leader(&[1, 2, 3], 2);
    assert_eq!(l.on_append(10), vec![]);
    assert_eq!(l.on_follower_fetch(fetch(2, 10, true), 1_100), Ok(vec![]));
    assert_eq!(
        l.on_follower_fetch(fetch(3, 4, true), 1_100),
        Ok(vec![Action::HighWatermark(4)])
    );
    assert_eq!(
        l.on_follower_fetch(fetch(3, 10, true), 1_200),
        Ok(vec![Action::HighWatermark(10)])
    );
    // A lower fetch offset later (a follower that truncated) never moves
    // the mark back.
    assert_eq!(l.on_follower_fetch(fetch(3, 6, true), 1_300), Ok(vec![]));
    assert_eq!(l.high_watermark(), 10);
}

#[test]
fn below_min_isr_the_high_watermark_stays() {
    let mut l = leader(&[1], 2);
    assert!(!l.has_min_isr());
    assert_eq!(l.on_append(10), vec![]);
    assert_eq!(l.high_watermark(), 0);
    let mut l = leader(&[1, 2], 2);
    assert!(l.has_min_isr());
    l.on_append(10);
    assert_eq!(
        l.on_follower_fetch(fetch(2, 10, true), 1_100),
        Ok(vec![Action::HighWatermark(10)])
    );
}

#[test]
fn a_stuck_follower_is_proposed_out_after_the_lag_time_and_holds_the_mark_until_committed() {
    let mut l = leader(&[1, 2, 3], 2);
    l.on_append(10);
    l.on_follower_fetch(fetch(2, 10, true), 2_000).unwrap();
    // 3 was caught up at 1_000 (leadership start) and never fetched.
    assert_eq!(l.on_tick(1_000 + LAG), vec![]);
    assert_eq!(
        l.on_tick(1_001 + LAG),
        vec![Action::AlterIsr {
            isr: vec![1, 2],
            partition_epoch: 7,
            member_epochs: vec![(2, 20)],
        }]
    );
    assert_eq!(l.maximal_isr(), vec![1, 2, 3]);
    assert_eq!(
        l.high_watermark(),
        0,
        "3 still holds the mark while pending"
    );
    // No second proposal while one is in flight.
    assert_eq!(l.on_tick(1_002 + LAG), vec![]);
    assert_eq!(
        l.on_partition_change(8, vec![1, 2, 3], vec![1, 2], 1_003 + LAG),
        vec![Action::HighWatermark(10)]
    );
    assert_eq!(l.isr(), &[1, 2]);
    assert_eq!(l.pending_isr(), None);
}

#[test]
fn a_follower_fetching_at_the_leo_is_never_out_of_sync() {
    let mut l = leader(&[1, 2], 1);
    l.on_append(10);
    l.on_follower_fetch(fetch(2, 10, true), 1_000).unwrap();
    assert_eq!(l.on_tick(1_000 + 10 * LAG), vec![]);
}

#[test]
fn catching_up_to_the_previous_leo_counts_from_the_previous_fetch() {
    let mut l = leader(&[1, 2], 1);
    l.on_append(10);
    l.on_follower_fetch(fetch(2, 5, true), 2_000).unwrap();
    assert_eq!(l.follower(2).unwrap().last_caught_up_ms, 1_000);
    l.on_append(20);
    // Fetches from 10 (the leader's LEO at its previous fetch) at 9_000:
    // it was caught up at 2_000.
    l.on_follower_fetch(fetch(2, 10, true), 9_000).unwrap();
    assert_eq!(l.follower(2).unwrap().last_caught_up_ms, 2_000);
    l.on_follower_fetch(fetch(2, 20, true), 9_500).unwrap();
    assert_eq!(l.follower(2).unwrap().last_caught_up_ms, 9_500);
}

#[test]
fn a_follower_rejoins_once_at_the_high_watermark_and_the_epoch_start() {
    let mut l = LeaderState::new(1, 5, 7, vec![1, 2, 3], vec![1, 2], 100, 50, 0, config(2));
    assert_eq!(l.epoch_start_offset(), 100);
    // At the high watermark but before this epoch's start: not yet.
    assert_eq!(l.on_follower_fetch(fetch(3, 60, true), 10), Ok(vec![]));
    // 2 fetches to 100: the mark moves (ISR {1,2}).
    assert_eq!(
        l.on_follower_fetch(fetch(2, 100, true), 20),
        Ok(vec![Action::HighWatermark(100)])
    );
    assert_eq!(
        l.on_follower_fetch(fetch(3, 100, true), 30),
        Ok(vec![Action::AlterIsr {
            isr: vec![1, 2, 3],
            partition_epoch: 7,
            member_epochs: vec![(2, 20), (3, 30)],
        }])
    );
    // Pending expansion already counts: 3 holds the mark at its LEO.
    l.on_append(120);
    l.on_follower_fetch(fetch(2, 120, true), 40).unwrap();
    assert_eq!(l.high_watermark(), 100);
    assert_eq!(
        l.on_follower_fetch(fetch(3, 120, true), 50),
        Ok(vec![Action::HighWatermark(120)])
    );
}

#[test]
fn a_fenced_broker_does_not_rejoin() {
    let mut l = leader(&[1, 2], 1);
    assert_eq!(l.on_follower_fetch(fetch(3, 0, false), 1_100), Ok(vec![]));
    assert_eq!(l.pending_isr(), None);
}

#[test]
fn refused_and_unanswered_proposals() {
    let mut l = leader(&[1, 2], 1);
    let first = l.on_follower_fetch(fetch(3, 0, true), 1_100).unwrap();
    assert_eq!(
        first,
        vec![Action::AlterIsr {
            isr: vec![1, 2, 3],
            partition_epoch: 7,
            member_epochs: vec![(3, 30)],
        }]
    );
    // Unanswered for the retry time: sent again.
    assert_eq!(l.on_tick(6_099), vec![]);
    assert_eq!(l.on_tick(6_100), first);
    // Refused: dropped, and the next fetch decides again.
    l.on_alter_isr_failed();
    assert_eq!(l.pending_isr(), None);
    assert_eq!(
        l.on_follower_fetch(fetch(3, 0, true), 7_000).unwrap(),
        first
    );
    // A stale partition change is ignored.
    assert_eq!(
        l.on_partition_change(7, vec![1, 2, 3], vec![1], 7_100),
        vec![]
    );
    assert_eq!(l.isr(), &[1, 2]);
}

/// KIP-903: a proposal quotes each member's broker epoch from its latest
/// fetch when first made; a re-send quotes the same epochs even when a
/// member fetched since with another (a restarted incarnation, which may
/// have lost what made it eligible); once the proposal is answered or
/// refused, the next one quotes the latest fetches.
#[test]
fn a_re_sent_proposal_quotes_the_member_epochs_of_its_first_send() {
    let mut l = leader(&[1, 2], 1);
    assert_eq!(
        l.on_follower_fetch(fetch_with_epoch(2, 4), 1_050),
        Ok(vec![])
    );
    let first = Action::AlterIsr {
        isr: vec![1, 2, 3],
        partition_epoch: 7,
        member_epochs: vec![(2, 4), (3, 8)],
    };
    assert_eq!(
        l.on_follower_fetch(fetch_with_epoch(3, 8), 1_100),
        Ok(vec![first.clone()])
    );
    assert_eq!(l.pending_member_epochs(), Some(&[(2, 4), (3, 8)][..]));
    // Broker 3 restarts (epoch 11) and fetches while the proposal is
    // pending: no new proposal, and the re-send still quotes epoch 8.
    assert_eq!(
        l.on_follower_fetch(fetch_with_epoch(3, 11), 1_200),
        Ok(vec![])
    );
    assert_eq!(l.follower(3).unwrap().broker_epoch, 11);
    assert_eq!(l.on_tick(6_099), vec![]);
    assert_eq!(l.on_tick(6_100), vec![first.clone()]);
    assert_eq!(l.on_tick(11_100), vec![first]);
    // Refused (INELIGIBLE_REPLICA: epoch 8 is not 3's registration): the
    // next proposal quotes the latest fetch.
    l.on_alter_isr_failed();
    assert_eq!(l.pending_member_epochs(), None);
    let second = Action::AlterIsr {
        isr: vec![1, 2, 3],
        partition_epoch: 7,
        member_epochs: vec![(2, 4), (3, 11)],
    };
    assert_eq!(
        l.on_follower_fetch(fetch_with_epoch(3, 11), 11_200),
        Ok(vec![second.clone()])
    );
    assert_eq!(l.on_tick(16_200), vec![second]);
    // Answered by a newer registration (3 not let in): dropped too; a
    // fetch of yet another incarnation proposes afresh, at the new
    // partition epoch.
    assert_eq!(
        l.on_partition_change(8, vec![1, 2, 3], vec![1, 2], 16_300),
        vec![]
    );
    assert_eq!(l.pending_member_epochs(), None);
    assert_eq!(
        l.on_follower_fetch(fetch_with_epoch(3, 12), 16_400),
        Ok(vec![Action::AlterIsr {
            isr: vec![1, 2, 3],
            partition_epoch: 8,
            member_epochs: vec![(2, 4), (3, 12)],
        }])
    );
}

/// Members whose epoch is unknown (never fetched in this leadership, or
/// fetched with a pre-KIP-903 request, -1) are left out of the quote.
#[test]
fn members_without_a_known_broker_epoch_are_not_quoted() {
    let mut l = leader(&[1, 2, 3], 1);
    l.on_append(10);
    assert_eq!(
        l.on_follower_fetch(
            FollowerFetch {
                replica: 2,
                broker_epoch: -1,
                fetch_offset: 10,
                may_join_isr: true,
            },
            2_000
        ),
        Ok(vec![])
    );
    // 3 never fetched: it is proposed out; 2 stays, with no epoch.
    assert_eq!(
        l.on_tick(1_001 + LAG),
        vec![Action::AlterIsr {
            isr: vec![1, 2],
            partition_epoch: 7,
            member_epochs: vec![],
        }]
    );
}

#[test]
fn fetches_from_strangers_or_beyond_the_log_are_refused() {
    let mut l = leader(&[1, 2, 3], 1);
    l.on_append(5);
    assert_eq!(
        l.on_follower_fetch(fetch(4, 0, true), 1_100),
        Err(FetchRejection::NotAReplica)
    );
    assert_eq!(
        l.on_follower_fetch(fetch(1, 0, true), 1_100),
        Err(FetchRejection::NotAReplica)
    );
    assert_eq!(
        l.on_follower_fetch(fetch(2, 6, true), 1_100),
        Err(FetchRejection::OffsetOutOfRange)
    );
}

#[test]
fn a_reassignment_drops_removed_followers() {
    let mut l = leader(&[1, 2, 3], 1);
    l.on_append(10);
    l.on_follower_fetch(fetch(2, 10, true), 1_100).unwrap();
    assert_eq!(
        l.on_partition_change(8, vec![1, 2], vec![1, 2], 1_200),
        vec![Action::HighWatermark(10)]
    );
    assert!(l.follower(3).is_none());
}

#[test]
fn follower_high_watermark_is_capped_by_its_own_log() {
    assert_eq!(follower_high_watermark(100, 40), 40);
    assert_eq!(follower_high_watermark(30, 40), 30);
}

#[derive(Debug, Clone)]
enum Event {
    Append(i64),
    Fetch {
        replica: i32,
        lag: i64,
        eligible: bool,
    },
    Tick(i64),
    Commit,
    Refuse,
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        (1i64..20).prop_map(Event::Append),
        (2i32..=3, 0i64..15, any::<bool>()).prop_map(|(replica, lag, eligible)| Event::Fetch {
            replica,
            lag,
            eligible
        }),
        (0i64..40_000).prop_map(Event::Tick),
        Just(Event::Commit),
        Just(Event::Refuse),
    ]
}

proptest! {
    /// Whatever happens, the mark never moves back, never passes the
    /// leader's log end, and never passes the known LEO of a maximal ISR
    /// member; with fewer than min ISR members it does not move.
    #[test]
    fn the_high_watermark_invariants_hold(events in proptest::collection::vec(event(), 1..200)) {
        let mut l = leader(&[1, 2, 3], 2);
        let mut now = 1_000;
        let mut last_hwm = 0;
        for e in events {
            let before_maximal = l.maximal_isr();
            match e {
                Event::Append(n) => { l.on_append(l.log_end_offset() + n); }
                Event::Fetch { replica, lag, eligible } => {
                    let off = (l.log_end_offset() - lag).max(0);
                    let _ = l.on_follower_fetch(fetch(replica, off, eligible), now);
                }
                Event::Tick(dt) => { now += dt; l.on_tick(now); }
                Event::Commit => {
                    if let Some(isr) = l.pending_isr().map(<[i32]>::to_vec) {
                        let epoch = l.partition_epoch() + 1;
                        l.on_partition_change(epoch, vec![1, 2, 3], isr, now);
                    }
                }
                Event::Refuse => l.on_alter_isr_failed(),
            }
            let hwm = l.high_watermark();
            prop_assert!(hwm >= last_hwm, "moved back {last_hwm} -> {hwm}");
            prop_assert!(hwm <= l.log_end_offset());
            if hwm > last_hwm {
                let maximal = l.maximal_isr();
                prop_assert!(maximal.len() >= 2, "advanced below min ISR: {maximal:?}");
                for r in maximal.iter().chain(before_maximal.iter()) {
                    if *r == 1 { continue; }
                    let leo = l.follower(*r).map_or(-1, |f| f.log_end_offset);
                    if l.maximal_isr().contains(r) {
                        prop_assert!(hwm <= leo, "hwm {hwm} passed ISR member {r} at {leo}");
                    }
                }
            }
            prop_assert!(l.maximal_isr().contains(&1));
            last_hwm = hwm;
        }
    }
}
