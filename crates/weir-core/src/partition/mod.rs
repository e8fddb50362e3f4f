//! Replication rules of one partition on its leader, after Kafka's
//! `Partition` / `ReplicaState` (KIP-841, KIP-966), as a pure state
//! machine: the shell feeds it events with `now_ms` and applies the
//! [`Action`]s it returns.
//!
//! - Followers pull. The offset a follower fetches from is its log end
//!   offset (LEO): everything below it is on the follower.
//! - A follower is *caught up* at a fetch when it fetched from the
//!   leader's LEO, or from at least the leader's LEO at its previous fetch
//!   (then it was caught up at that previous fetch time): Kafka's
//!   `lastCaughtUpTimeMs`.
//! - ISR shrink: a follower in the ISR whose LEO differs from the
//!   leader's and that has not been caught up for
//!   `replica.lag.time.max.ms` is proposed out.
//! - ISR expand: a follower outside the ISR whose broker may join
//!   (registered, unfenced: the shell says) and whose LEO reached both the
//!   high watermark and the start offset of this leader epoch is proposed
//!   in.
//! - One proposal is in flight at a time (AlterPartition, with the
//!   partition epoch for optimistic concurrency, and KIP-903's broker
//!   epoch of each member from its latest fetch, frozen when the proposal
//!   is first made: a re-send quotes the same epochs, so a restarted
//!   incarnation of a joiner cannot be let in on the strength of fetches
//!   its earlier incarnation made); until the controller
//!   commits it, the *maximal ISR* (committed ∪ proposed) governs the high
//!   watermark, so neither a pending shrink nor a pending expansion can
//!   let it pass a replica that might still be elected.
//! - High watermark = min LEO over the maximal ISR (the leader's own LEO
//!   included); it moves only forward, and only while the maximal ISR has
//!   at least `min.insync.replicas` members, counted in the *committed*
//!   ISR (KIP-966; the effective value,
//!   capped at the replication factor, comes from the caller). Unlike
//!   Kafka 3.x, an ISR member that stopped fetching still holds the mark
//!   back until the shrink is committed: that is the rule the simulator
//!   proves lossless.

mod follower;
#[cfg(test)]
mod tests;

pub use follower::{truncation_for_divergence, Truncation};

use std::collections::BTreeMap;

/// Tunables of the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicationConfig {
    /// `replica.lag.time.max.ms`.
    pub replica_lag_time_max_ms: i64,
    /// Effective `min.insync.replicas` (already capped at the replication
    /// factor, `PartitionRegistration::effective_min_isr`).
    pub min_insync_replicas: usize,
    /// Re-send an ISR proposal that has been neither committed nor refused
    /// after this long.
    pub alter_partition_retry_ms: i64,
}

impl Default for ReplicationConfig {
    fn default() -> Self {
        ReplicationConfig {
            replica_lag_time_max_ms: 30_000,
            min_insync_replicas: 1,
            alter_partition_retry_ms: 5_000,
        }
    }
}

/// What the shell must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// The high watermark moved to this offset: complete delayed produces
    /// and fetches waiting on it.
    HighWatermark(i64),
    /// Ask the controller to set the ISR (AlterPartition), quoting the
    /// partition epoch this leader knows.
    AlterIsr {
        /// The ISR wanted.
        isr: Vec<i32>,
        /// Partition epoch the proposal is based on.
        partition_epoch: i32,
        /// KIP-903's `NewIsrWithEpochs`: (broker, broker epoch) of each
        /// member other than the leader whose fetches carried an epoch,
        /// from its latest fetch when the proposal was first made. A
        /// re-send of the same pending proposal quotes the same epochs
        /// (the fetches that made a joiner eligible), not later ones.
        member_epochs: Vec<(i32, i64)>,
    },
}

/// A follower's fetch request, as the rules read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FollowerFetch {
    /// The fetching replica.
    pub replica: i32,
    /// Its broker epoch (KIP-903; Fetch v15+ `replica_state`), -1 when
    /// the request carries none.
    pub broker_epoch: i64,
    /// The offset it fetches from: its log end offset.
    pub fetch_offset: i64,
    /// Whether its broker may join the ISR: registered and unfenced (the
    /// shell reads that from the metadata image).
    pub may_join_isr: bool,
}

/// A follower as the leader sees it (Kafka's `ReplicaState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FollowerState {
    /// Its log end offset: the offset of its last fetch; -1 before any.
    pub log_end_offset: i64,
    /// When it was last caught up with the leader.
    pub last_caught_up_ms: i64,
    /// The leader's LEO at its previous fetch.
    pub last_fetch_leader_leo: i64,
    /// When it last fetched.
    pub last_fetch_ms: i64,
    /// The broker epoch of its latest accepted fetch; -1 before any, or
    /// when that fetch carried none.
    pub broker_epoch: i64,
}

impl FollowerState {
    /// Caught up at `last_caught_up_ms`, never fetched.
    fn unfetched(last_caught_up_ms: i64) -> FollowerState {
        FollowerState {
            log_end_offset: -1,
            last_caught_up_ms,
            last_fetch_leader_leo: -1,
            last_fetch_ms: 0,
            broker_epoch: -1,
        }
    }
}

/// The proposal in flight.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pending {
    isr: Vec<i32>,
    /// The member epochs it quoted when first sent; re-sends quote these.
    member_epochs: Vec<(i32, i64)>,
    sent_ms: i64,
}

/// Why a follower's fetch is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchRejection {
    /// The fetching broker is not a replica of this partition.
    NotAReplica,
    /// The fetch offset is beyond the leader's log end offset.
    OffsetOutOfRange,
}

/// The leader side of one partition for one leader epoch.
#[derive(Debug, Clone)]
pub struct LeaderState {
    local_id: i32,
    leader_epoch: i32,
    partition_epoch: i32,
    replicas: Vec<i32>,
    isr: Vec<i32>,
    pending: Option<Pending>,
    followers: BTreeMap<i32, FollowerState>,
    log_end_offset: i64,
    high_watermark: i64,
    epoch_start_offset: i64,
    config: ReplicationConfig,
}

fn sorted_union(a: &[i32], b: &[i32]) -> Vec<i32> {
    let mut out: Vec<i32> = a.to_vec();
    for x in b {
        if !out.contains(x) {
            out.push(*x);
        }
    }
    out
}

impl LeaderState {
    /// This broker becomes leader at `leader_epoch` with its log at
    /// `log_end_offset` and the high watermark it had (from the
    /// checkpoint, or as a follower). That LEO is where the epoch starts.
    /// Followers in the ISR count as caught up now; others as never.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        local_id: i32,
        leader_epoch: i32,
        partition_epoch: i32,
        replicas: Vec<i32>,
        isr: Vec<i32>,
        log_end_offset: i64,
        high_watermark: i64,
        now_ms: i64,
        config: ReplicationConfig,
    ) -> LeaderState {
        let followers = replicas
            .iter()
            .filter(|r| **r != local_id)
            .map(|r| {
                let caught_up = if isr.contains(r) { now_ms } else { 0 };
                (*r, FollowerState::unfetched(caught_up))
            })
            .collect();
        LeaderState {
            local_id,
            leader_epoch,
            partition_epoch,
            replicas,
            isr,
            pending: None,
            followers,
            log_end_offset,
            high_watermark: high_watermark.min(log_end_offset).max(0),
            epoch_start_offset: log_end_offset,
            config,
        }
    }

    /// The leader epoch this state serves.
    pub fn leader_epoch(&self) -> i32 {
        self.leader_epoch
    }

    /// The partition epoch last applied.
    pub fn partition_epoch(&self) -> i32 {
        self.partition_epoch
    }

    /// The committed ISR.
    pub fn isr(&self) -> &[i32] {
        &self.isr
    }

    /// Committed ISR ∪ the pending proposal: the set that governs the
    /// high watermark.
    pub fn maximal_isr(&self) -> Vec<i32> {
        match &self.pending {
            Some(p) => sorted_union(&self.isr, &p.isr),
            None => self.isr.clone(),
        }
    }

    /// The ISR proposal in flight, if any.
    pub fn pending_isr(&self) -> Option<&[i32]> {
        self.pending.as_ref().map(|p| p.isr.as_slice())
    }

    /// The member epochs the proposal in flight quotes (KIP-903).
    pub fn pending_member_epochs(&self) -> Option<&[(i32, i64)]> {
        self.pending.as_ref().map(|p| p.member_epochs.as_slice())
    }

    /// The high watermark.
    pub fn high_watermark(&self) -> i64 {
        self.high_watermark
    }

    /// The leader's log end offset.
    pub fn log_end_offset(&self) -> i64 {
        self.log_end_offset
    }

    /// Where this leader epoch starts in the log.
    pub fn epoch_start_offset(&self) -> i64 {
        self.epoch_start_offset
    }

    /// A follower's state.
    pub fn follower(&self, replica: i32) -> Option<&FollowerState> {
        self.followers.get(&replica)
    }

    /// Whether acks=all may append now: the ISR (committed, as Kafka
    /// checks at append) holds at least `min.insync.replicas`.
    pub fn has_min_isr(&self) -> bool {
        self.isr.len() >= self.config.min_insync_replicas
    }

    /// The config in force.
    pub fn config(&self) -> ReplicationConfig {
        self.config
    }

    /// Change the tunables (topic config altered).
    pub fn set_config(&mut self, config: ReplicationConfig) -> Vec<Action> {
        self.config = config;
        self.advance_high_watermark().into_iter().collect()
    }

    /// The leader appended; its log now ends at `log_end_offset`.
    pub fn on_append(&mut self, log_end_offset: i64) -> Vec<Action> {
        self.log_end_offset = self.log_end_offset.max(log_end_offset);
        self.advance_high_watermark().into_iter().collect()
    }

    /// A follower fetched at `now_ms`. An accepted fetch moves its log
    /// end offset and caught-up time, records its broker epoch (quoted by
    /// the next new proposal), may propose it into the ISR and may move
    /// the high watermark.
    pub fn on_follower_fetch(
        &mut self,
        fetch: FollowerFetch,
        now_ms: i64,
    ) -> Result<Vec<Action>, FetchRejection> {
        let FollowerFetch {
            replica,
            broker_epoch,
            fetch_offset,
            may_join_isr,
        } = fetch;
        if replica == self.local_id || !self.replicas.contains(&replica) {
            return Err(FetchRejection::NotAReplica);
        }
        if fetch_offset > self.log_end_offset {
            return Err(FetchRejection::OffsetOutOfRange);
        }
        let leader_leo = self.log_end_offset;
        let f = self
            .followers
            .entry(replica)
            .or_insert(FollowerState::unfetched(0));
        if fetch_offset >= leader_leo {
            f.last_caught_up_ms = f.last_caught_up_ms.max(now_ms);
        } else if f.last_fetch_leader_leo >= 0 && fetch_offset >= f.last_fetch_leader_leo {
            f.last_caught_up_ms = f.last_caught_up_ms.max(f.last_fetch_ms);
        }
        f.log_end_offset = fetch_offset;
        f.last_fetch_leader_leo = leader_leo;
        f.last_fetch_ms = now_ms;
        f.broker_epoch = broker_epoch;
        let mut actions = Vec::new();
        if may_join_isr && self.pending.is_none() && !self.isr.contains(&replica) {
            let f = &self.followers[&replica];
            if f.log_end_offset >= self.high_watermark
                && f.log_end_offset >= self.epoch_start_offset
            {
                let mut isr = self.isr.clone();
                isr.push(replica);
                actions.push(self.propose(isr, now_ms));
            }
        }
        actions.extend(self.advance_high_watermark());
        Ok(actions)
    }

    /// Time passed: shrink the ISR of followers that fell behind, and
    /// re-send a proposal the controller never answered.
    pub fn on_tick(&mut self, now_ms: i64) -> Vec<Action> {
        if let Some(p) = &mut self.pending {
            if now_ms - p.sent_ms >= self.config.alter_partition_retry_ms {
                // The same proposal again, with the epochs of its first
                // send (KIP-903): a joiner that restarted since must be
                // judged again by fresh fetches, in a new proposal.
                p.sent_ms = now_ms;
                return vec![Action::AlterIsr {
                    isr: p.isr.clone(),
                    partition_epoch: self.partition_epoch,
                    member_epochs: p.member_epochs.clone(),
                }];
            }
            return Vec::new();
        }
        let out_of_sync: Vec<i32> = self
            .isr
            .iter()
            .copied()
            .filter(|r| *r != self.local_id && self.is_out_of_sync(*r, now_ms))
            .collect();
        if out_of_sync.is_empty() {
            return Vec::new();
        }
        let isr: Vec<i32> = self
            .isr
            .iter()
            .copied()
            .filter(|r| !out_of_sync.contains(r))
            .collect();
        vec![self.propose(isr, now_ms)]
    }

    fn is_out_of_sync(&self, replica: i32, now_ms: i64) -> bool {
        match self.followers.get(&replica) {
            Some(f) => {
                f.log_end_offset != self.log_end_offset
                    && now_ms - f.last_caught_up_ms > self.config.replica_lag_time_max_ms
            }
            None => true,
        }
    }

    /// A new proposal, quoting each member's broker epoch from its latest
    /// fetch (members without one are left out: the controller then
    /// checks no epoch for them, as for a pre-KIP-903 request).
    fn propose(&mut self, isr: Vec<i32>, now_ms: i64) -> Action {
        let member_epochs: Vec<(i32, i64)> = isr
            .iter()
            .filter(|r| **r != self.local_id)
            .filter_map(|r| self.followers.get(r).map(|f| (*r, f.broker_epoch)))
            .filter(|(_, epoch)| *epoch >= 0)
            .collect();
        self.pending = Some(Pending {
            isr: isr.clone(),
            member_epochs: member_epochs.clone(),
            sent_ms: now_ms,
        });
        Action::AlterIsr {
            isr,
            partition_epoch: self.partition_epoch,
            member_epochs,
        }
    }

    /// The metadata image has a newer registration of this partition with
    /// the same leader and leader epoch (an ISR or replica change
    /// committed, by this leader's proposal or by the controller). The
    /// pending proposal, if any, is answered: it is dropped with its
    /// frozen member epochs.
    pub fn on_partition_change(
        &mut self,
        partition_epoch: i32,
        replicas: Vec<i32>,
        isr: Vec<i32>,
        now_ms: i64,
    ) -> Vec<Action> {
        if partition_epoch <= self.partition_epoch {
            return Vec::new();
        }
        self.partition_epoch = partition_epoch;
        for r in &replicas {
            if *r != self.local_id && !self.followers.contains_key(r) {
                let caught_up = if isr.contains(r) { now_ms } else { 0 };
                self.followers
                    .insert(*r, FollowerState::unfetched(caught_up));
            }
        }
        self.followers.retain(|r, _| replicas.contains(r));
        self.replicas = replicas;
        self.isr = isr;
        self.pending = None;
        self.advance_high_watermark().into_iter().collect()
    }

    /// The controller refused the proposal in a way that proves it was not
    /// committed ([`refusal_proves_not_committed`]): drop it, with its
    /// frozen member epochs; the next fetch or tick decides again from the
    /// current state (and quotes the epochs of the latest fetches).
    ///
    /// Do **not** call this for other refusals. After INVALID_UPDATE_VERSION,
    /// FENCED_LEADER_EPOCH or NOT_LEADER_OR_FOLLOWER an earlier copy of the
    /// proposal (a retry) may have been committed; dropping it would let a
    /// committed ISR member fall out of the maximal ISR and the high
    /// watermark pass it (the simulator loses acknowledged records that
    /// way: `weir-sim`'s `BrokenRule::DropProposalOnAnyRefusal`). Keep it
    /// until the newer registration arrives ([`Self::on_partition_change`]).
    pub fn on_alter_isr_failed(&mut self) {
        self.pending = None;
    }

    fn advance_high_watermark(&mut self) -> Option<Action> {
        let maximal = self.maximal_isr();
        // KIP-966: the *committed* ISR must hold min ISR. A pending
        // expansion may not count: the controller does not know it, and
        // with ELR it may elect an eligible replica that lacks what the
        // joiner helped commit (weir-sim's ELR mix, seed 161, loses an
        // acknowledged record that way).
        if self.isr.len() < self.config.min_insync_replicas {
            return None;
        }
        let mut candidate = self.log_end_offset;
        for r in &maximal {
            if *r == self.local_id {
                continue;
            }
            let leo = self.followers.get(r).map_or(-1, |f| f.log_end_offset);
            candidate = candidate.min(leo);
        }
        if candidate > self.high_watermark {
            self.high_watermark = candidate;
            Some(Action::HighWatermark(candidate))
        } else {
            None
        }
    }
}

/// True when an AlterPartition refusal proves the proposal was never
/// committed: INVALID_REQUEST (42) or INELIGIBLE_REPLICA (107), which the
/// controller only answers after the partition epoch matched (so no
/// earlier copy of the proposal was committed either) — provided the
/// refusal is for a proposal based on the leader's current partition
/// epoch.
pub fn refusal_proves_not_committed(error_code: i16) -> bool {
    matches!(error_code, 42 | 107)
}

/// A follower's high watermark after a fetch answer: the leader's,
/// capped at its own log end offset.
pub fn follower_high_watermark(leader_high_watermark: i64, own_log_end_offset: i64) -> i64 {
    leader_high_watermark.min(own_log_end_offset)
}
