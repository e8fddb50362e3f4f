//! The follower's side of divergence (KIP-101, KIP-279, KIP-595), after
//! Kafka's `AbstractFetcherThread.getOffsetTruncationState`.
//!
//! A follower that fetched with `last_fetched_epoch` and got a diverging
//! epoch `(leader_epoch, leader_end)` from its leader looks up its own
//! end offset for that epoch (its largest epoch <= `leader_epoch`, the
//! same lookup the leader made) and truncates:
//!
//! - leader end offset undefined (-1): to its high watermark, the only
//!   offset known to be committed;
//! - leader epoch undefined (-1) but an end offset: to min(end, own LEO);
//! - the follower has no epoch <= the leader's: to min(leader end, LEO);
//! - the follower's largest epoch <= the leader's is a *different* epoch:
//!   to min(own end of that epoch, LEO), and fetch again (the next answer
//!   may move it further back: truncation is not complete);
//! - the same epoch: to min(leader end, own end, LEO); complete.

/// Where a follower truncates to, and whether it is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Truncation {
    /// Truncate the log to this offset (everything at or after it goes).
    pub offset: i64,
    /// False when the follower must fetch again with its new last epoch
    /// before it may trust its log (KIP-279).
    pub complete: bool,
}

/// The truncation for a diverging-epoch answer `(leader_epoch,
/// leader_end)`, given the follower's own `(epoch, end)` for
/// `leader_epoch` (`None` when it has no epoch <= it), its log end offset
/// and its high watermark.
pub fn truncation_for_divergence(
    leader_epoch: i32,
    leader_end: i64,
    own_end_for_epoch: Option<(i32, i64)>,
    log_end_offset: i64,
    high_watermark: i64,
) -> Truncation {
    if leader_end < 0 {
        return Truncation {
            offset: high_watermark.min(log_end_offset),
            complete: true,
        };
    }
    if leader_epoch < 0 {
        return Truncation {
            offset: leader_end.min(log_end_offset),
            complete: true,
        };
    }
    match own_end_for_epoch {
        None => Truncation {
            offset: leader_end.min(log_end_offset),
            complete: true,
        },
        Some((epoch, end)) if epoch != leader_epoch => Truncation {
            offset: end.min(log_end_offset),
            complete: false,
        },
        Some((_, end)) => Truncation {
            offset: leader_end.min(end).min(log_end_offset),
            complete: true,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(offset: i64, complete: bool) -> Truncation {
        Truncation { offset, complete }
    }

    #[test]
    fn kip_101_the_follower_cuts_what_the_leader_never_had() {
        // Follower wrote 0..10 in epoch 1; the leader's epoch 1 ended at 7.
        assert_eq!(
            truncation_for_divergence(1, 7, Some((1, 10)), 10, 5),
            t(7, true)
        );
    }

    #[test]
    fn kip_279_a_follower_that_missed_epochs_walks_back() {
        // Follower: epoch 1 to 5, then epoch 3 (its own, never committed)
        // to 9. Leader answers its largest epoch <= 3: epoch 2 ending at 8.
        // The follower's largest epoch <= 2 is 1, ending at 5: truncate
        // there and ask again.
        assert_eq!(
            truncation_for_divergence(2, 8, Some((1, 5)), 9, 4),
            t(5, false)
        );
    }

    #[test]
    fn undefined_answers() {
        // Leader knows nothing of the epoch: fall back to the HWM.
        assert_eq!(truncation_for_divergence(-1, -1, None, 9, 4), t(4, true));
        // Epoch undefined, offset given (below every leader epoch).
        assert_eq!(truncation_for_divergence(-1, 3, None, 9, 4), t(3, true));
        // Follower has no epoch <= the leader's.
        assert_eq!(truncation_for_divergence(2, 6, None, 9, 4), t(6, true));
    }

    #[test]
    fn never_beyond_the_own_log_end() {
        assert_eq!(
            truncation_for_divergence(1, 50, Some((1, 40)), 12, 4),
            t(12, true)
        );
        assert_eq!(truncation_for_divergence(-1, -1, None, 3, 4), t(3, true));
    }
}
