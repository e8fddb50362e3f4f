//! The group coordinator's async shell around `weir_core::group`.
//!
//! [`GroupCoordinatorHandle`] holds one pure [`GroupCoordinator`] per
//! `__consumer_offsets` partition this broker leads (a *shard*), reads
//! the clock, parks JoinGroup/SyncGroup requests on oneshot channels keyed
//! by [`RequestToken`] until a core answers them, ticks the cores every
//! [`TICK_INTERVAL`] for their timeouts, and writes committed offsets to
//! the shard's partition. It speaks `kafka-protocol` requests and
//! responses, so the API handlers only forward; version differences of
//! the wire format are handled here.
//!
//! # Where groups live
//!
//! As in Kafka, a group belongs to partition `partitionFor(group)` of
//! `__consumer_offsets` ([`crate::offsets_topic`]) and is coordinated by
//! that partition's leader (`Broker::group_coordinator`; the API handlers
//! answer NOT_COORDINATOR elsewhere before reaching this state).
//! `Broker::reconcile` tells the handle which offsets partitions it leads
//! ([`GroupCoordinatorHandle::lead`]): a newly led partition is *loaded*
//! (its log read from start to end and replayed into a fresh core; its
//! groups answer COORDINATOR_LOAD_IN_PROGRESS meanwhile), and a partition
//! no longer led (or led at a new epoch) is unloaded: its parked joins
//! and syncs get NOT_COORDINATOR and the clients find the new leader.
//!
//! # Durability of committed offsets
//!
//! An OffsetCommit's records are one record batch appended by the shard's
//! leader partition with acks=all semantics (refused below
//! `min.insync.replicas`), applied to the core in log order, and answered
//! once the high watermark passes the batch, so every in-sync replica has
//! it and a leader elected from the ISR (or ELR) loads it. Failures map as
//! Kafka maps them: a lost leadership is NOT_COORDINATOR, missing replicas
//! or a timeout ([`offsets_topic::COMMIT_TIMEOUT_MS`]) COORDINATOR_NOT_AVAILABLE.
//! Offset expiration appends tombstones (null values).
//!
//! Group membership itself is not persisted (Kafka writes group metadata
//! records too): after a coordinator moves, members get UNKNOWN_MEMBER_ID
//! on their next heartbeat and rejoin; committed offsets are what survives.

use crate::offsets_topic::{self, LoadedBatch};
use crate::partition::Partition;
use bytes::Bytes;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{
    DescribeGroupsRequest, DescribeGroupsResponse, GroupId, HeartbeatRequest, HeartbeatResponse,
    JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest, LeaveGroupResponse, ListGroupsRequest,
    ListGroupsResponse, OffsetCommitRequest, OffsetCommitResponse, OffsetFetchRequest,
    OffsetFetchResponse, SyncGroupRequest, SyncGroupResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::ResponseError;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use uuid::Uuid;
use weir_core::group::{
    self as core, error_code, GroupAction, GroupCoordinator, GroupError, RequestToken,
};
use weir_core::metadata::offsets_partition;
use weir_protocol::LeaderEpoch;
use weir_protocol::Offset;

pub use weir_core::group::GroupConfig;

/// How often the core's timers are checked (session, rebalance and
/// initial-delay timeouts fire up to this late).
pub const TICK_INTERVAL: Duration = Duration::from_millis(100);

/// Kafka's `offsets.retention.check.interval.ms` default.
pub const OFFSETS_RETENTION_CHECK_INTERVAL: Duration = Duration::from_secs(600);

/// Attempts to load a shard before it is left unavailable (a log that
/// cannot be read is a storage problem; the next leadership change
/// tries again).
const LOAD_ATTEMPTS: u32 = 5;

/// Pause between load attempts.
const LOAD_RETRY: Duration = Duration::from_millis(500);

/// AclOperation bits Kafka reports for a group when no authorizer is
/// configured: READ (3), DELETE (6), DESCRIBE (8).
const GROUP_AUTHORIZED_OPERATIONS: i32 = (1 << 3) | (1 << 6) | (1 << 8);

/// Why the coordinator could not start.
#[derive(Debug, thiserror::Error)]
pub enum GroupCoordinatorError {
    /// Not called inside a tokio runtime.
    #[error("the group coordinator must be started inside a tokio runtime")]
    NoRuntime,
}

/// Wall-clock milliseconds (Kafka's group coordinator also uses wall time,
/// and commit timestamps must be wall time).
fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn str_bytes(s: impl Into<String>) -> StrBytes {
    StrBytes::from_string(s.into())
}

// ---------------------------------------------------------------------------
// The handle
// ---------------------------------------------------------------------------

/// The groups of one led `__consumer_offsets` partition.
#[derive(Debug)]
struct Shard {
    /// The led partition (a new leadership is a new `Arc`).
    partition: Arc<Partition>,
    /// `None` while the partition's log is being loaded. Holds only
    /// committed records: those below the partition's high watermark.
    core: Option<GroupCoordinator>,
    /// Appended batches the high watermark has not passed yet, in log
    /// order; applied to the core as it passes them.
    pending: VecDeque<LoadedBatch>,
    /// The load is complete: the high watermark has passed everything the
    /// log held when it was read. Until then the shard answers
    /// COORDINATOR_LOAD_IN_PROGRESS, so a new leader whose mark still lags
    /// (its followers have not fetched from it yet) never answers an
    /// OffsetFetch with older offsets than the ones acknowledged.
    ready: bool,
    /// Held from a commit's validation to its append, so records reach
    /// the log, and the core, in the order they were validated.
    writes: Arc<tokio::sync::Mutex<()>>,
}

impl Shard {
    /// Apply the pending batches the high watermark has passed.
    fn settle(&mut self, now_ms: i64) {
        let Some(core) = self.core.as_mut() else {
            return;
        };
        let hwm = self.partition.high_watermark();
        while self.pending.front().is_some_and(|b| b.next_offset <= hwm) {
            if let Some(batch) = self.pending.pop_front() {
                core.apply_offsets(&batch.records, now_ms);
            }
        }
        // Commits wait for `ready`, so the first empty queue is the end of
        // the load.
        if self.pending.is_empty() {
            self.ready = true;
        }
    }

    /// The core, once loaded and ready.
    fn ready_core(&mut self) -> Result<&mut GroupCoordinator, GroupError> {
        match self.core.as_mut() {
            Some(core) if self.ready => Ok(core),
            _ => Err(GroupError::CoordinatorLoadInProgress),
        }
    }
}

/// The cores and the requests waiting on them.
#[derive(Debug)]
struct Inner {
    shards: BTreeMap<i32, Shard>,
    /// The partition count of `__consumer_offsets` (routes a group to its
    /// shard).
    num_partitions: i32,
    /// Answers requests with an empty group id (INVALID_GROUP_ID), which
    /// belong to no shard; it never holds a group.
    scratch: GroupCoordinator,
    joins: HashMap<RequestToken, oneshot::Sender<core::JoinResponse>>,
    syncs: HashMap<RequestToken, oneshot::Sender<core::SyncResponse>>,
    next_token: u64,
    /// False after shutdown: new requests get COORDINATOR_NOT_AVAILABLE.
    active: bool,
}

impl Inner {
    fn token(&mut self) -> RequestToken {
        self.next_token += 1;
        RequestToken(self.next_token)
    }

    /// The shard `group` belongs to.
    fn shard_of(&self, group: &str) -> i32 {
        offsets_partition(group, self.num_partitions)
    }

    /// The core that serves `group` here, or why none does.
    fn core(&mut self, group: &str) -> Result<&mut GroupCoordinator, GroupError> {
        if !self.active {
            return Err(GroupError::CoordinatorNotAvailable);
        }
        if group.is_empty() {
            return Ok(&mut self.scratch);
        }
        let shard = self.shard_of(group);
        let Some(shard) = self.shards.get_mut(&shard) else {
            return Err(GroupError::NotCoordinator);
        };
        shard.settle(now_ms());
        shard.ready_core()
    }

    /// The loaded core of `shard` while it is still led through
    /// `partition`.
    fn core_of(
        &mut self,
        shard: i32,
        partition: &Arc<Partition>,
    ) -> Result<&mut GroupCoordinator, GroupError> {
        if !self.active {
            return Err(GroupError::CoordinatorNotAvailable);
        }
        match self.shards.get_mut(&shard) {
            Some(s) if Arc::ptr_eq(&s.partition, partition) => {
                s.settle(now_ms());
                s.ready_core()
            }
            _ => Err(GroupError::NotCoordinator),
        }
    }

    /// Route the cores' answers to the waiting requests (a receiver that
    /// went away, e.g. a closed connection, is ignored).
    fn dispatch(&mut self, actions: Vec<GroupAction>) {
        for action in actions {
            match action {
                GroupAction::CompleteJoin { token, response } => {
                    if let Some(tx) = self.joins.remove(&token) {
                        let _ = tx.send(response);
                    }
                }
                GroupAction::CompleteSync { token, response } => {
                    if let Some(tx) = self.syncs.remove(&token) {
                        let _ = tx.send(response);
                    }
                }
            }
        }
    }

    /// Drop a shard: its parked requests get NOT_COORDINATOR.
    fn unload(&mut self, shard: i32) {
        if let Some(mut s) = self.shards.remove(&shard) {
            if let Some(core) = s.core.as_mut() {
                let actions = core.shutdown();
                self.dispatch(actions);
            }
            tracing::info!(
                partition = shard,
                "unloaded the groups of __consumer_offsets"
            );
        }
    }
}

/// State shared with the background ticker and load tasks.
#[derive(Debug)]
struct Shared {
    inner: Mutex<Inner>,
    config: GroupConfig,
}

impl Shared {
    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn tick(&self) {
        let mut inner = self.inner();
        let now = now_ms();
        let mut actions = Vec::new();
        for shard in inner.shards.values_mut() {
            shard.settle(now);
            if let Some(core) = shard.core.as_mut() {
                actions.extend(core.tick(now));
            }
        }
        inner.dispatch(actions);
    }

    /// Load `shard` from `partition`'s log into a fresh core, unless the
    /// leadership moved on meanwhile.
    async fn load(self: Arc<Self>, shard: i32, partition: Arc<Partition>) {
        for attempt in 1..=LOAD_ATTEMPTS {
            let p = partition.clone();
            let started = std::time::Instant::now();
            let loaded = tokio::task::spawn_blocking(move || offsets_topic::load(&p)).await;
            let batches = match loaded {
                Ok(Ok(batches)) => batches,
                Ok(Err(e)) => {
                    tracing::error!(
                        partition = shard,
                        attempt,
                        "loading __consumer_offsets: {e}"
                    );
                    tokio::time::sleep(LOAD_RETRY).await;
                    continue;
                }
                Err(e) => {
                    tracing::error!(
                        partition = shard,
                        attempt,
                        "loading __consumer_offsets: {e}"
                    );
                    tokio::time::sleep(LOAD_RETRY).await;
                    continue;
                }
            };
            let records: usize = batches.iter().map(|b| b.records.len()).sum();
            let mut inner = self.inner();
            match inner.shards.get_mut(&shard) {
                Some(s) if Arc::ptr_eq(&s.partition, &partition) && s.core.is_none() => {
                    s.core = Some(GroupCoordinator::new(self.config.clone()));
                    s.pending = batches.into();
                    s.settle(now_ms());
                    tracing::info!(
                        partition = shard,
                        records,
                        offsets = s.core.as_ref().map_or(0, |c| c.committed_offsets().len()),
                        above_high_watermark = s.pending.len(),
                        ms = started.elapsed().as_millis() as u64,
                        "loaded the groups of __consumer_offsets"
                    );
                }
                _ => {}
            }
            return;
        }
    }

    /// Expire old offsets of every loaded shard and append their
    /// tombstones (Kafka's periodic offset cleanup).
    async fn expire_offsets(&self) {
        let shards: Vec<(i32, Arc<Partition>, Arc<tokio::sync::Mutex<()>>)> = self
            .inner()
            .shards
            .iter()
            .map(|(i, s)| (*i, s.partition.clone(), s.writes.clone()))
            .collect();
        for (shard, partition, writes) in shards {
            let _writes = writes.lock().await;
            let now = now_ms();
            let tombstones = match self.inner().core_of(shard, &partition) {
                Ok(core) => core.expire_offsets(now),
                Err(_) => continue,
            };
            if tombstones.is_empty() {
                continue;
            }
            tracing::info!(
                partition = shard,
                "expired {} committed offsets",
                tombstones.len()
            );
            // A lost tombstone is harmless: a reload expires the offset again.
            let appended = offsets_topic::encode_batch(&tombstones, now)
                .map_err(|e| e.to_string())
                .and_then(|batch| {
                    partition
                        .append_as_leader(&batch, false, now)
                        .map_err(|e| e.message)
                });
            if let Err(e) = appended {
                tracing::warn!(partition = shard, "writing offset tombstones: {e}");
            }
        }
    }
}

/// The group coordinator of this broker; see the module docs.
pub struct GroupCoordinatorHandle {
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
    ticker: Mutex<Option<JoinHandle<()>>>,
    runtime: tokio::runtime::Handle,
}

impl std::fmt::Debug for GroupCoordinatorHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shards: Vec<i32> = self.shared.inner().shards.keys().copied().collect();
        f.debug_struct("GroupCoordinatorHandle")
            .field("shards", &shards)
            .finish_non_exhaustive()
    }
}

impl GroupCoordinatorHandle {
    /// A coordinator leading no shard yet, with its ticker started. Must
    /// be called inside a tokio runtime.
    pub fn new(config: GroupConfig) -> Result<Arc<Self>, GroupCoordinatorError> {
        let runtime =
            tokio::runtime::Handle::try_current().map_err(|_| GroupCoordinatorError::NoRuntime)?;
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner {
                shards: BTreeMap::new(),
                num_partitions: 1,
                scratch: GroupCoordinator::new(config.clone()),
                joins: HashMap::new(),
                syncs: HashMap::new(),
                next_token: 0,
                active: true,
            }),
            config,
        });
        let (shutdown, stop) = watch::channel(false);
        let ticker = runtime.spawn(run_ticker(Arc::downgrade(&shared), stop));
        Ok(Arc::new(GroupCoordinatorHandle {
            shared,
            shutdown,
            ticker: Mutex::new(Some(ticker)),
            runtime,
        }))
    }

    /// The `__consumer_offsets` partitions this broker now leads (of
    /// `num_partitions`): shards no longer led, or led through another
    /// [`Partition`] (a new leader epoch), are unloaded; new ones start
    /// loading.
    pub fn lead(&self, num_partitions: i32, led: Vec<(i32, Arc<Partition>)>) {
        let mut inner = self.shared.inner();
        if !inner.active {
            return;
        }
        inner.num_partitions = num_partitions.max(1);
        let led: BTreeMap<i32, Arc<Partition>> = led.into_iter().collect();
        let stale: Vec<i32> = inner
            .shards
            .iter()
            .filter(|(i, s)| !led.get(i).is_some_and(|p| Arc::ptr_eq(p, &s.partition)))
            .map(|(i, _)| *i)
            .collect();
        for shard in stale {
            inner.unload(shard);
        }
        for (shard, partition) in led {
            if inner.shards.contains_key(&shard) {
                continue;
            }
            inner.shards.insert(
                shard,
                Shard {
                    partition: partition.clone(),
                    core: None,
                    pending: VecDeque::new(),
                    ready: false,
                    writes: Arc::new(tokio::sync::Mutex::new(())),
                },
            );
            self.runtime
                .spawn(self.shared.clone().load(shard, partition));
        }
    }

    /// Whether this broker serves `group` now: it leads the group's
    /// `__consumer_offsets` partition and has loaded it.
    pub fn serves(&self, group: &str) -> bool {
        self.shared.inner().core(group).is_ok()
    }

    /// Whether every led shard has been loaded (tests and readiness).
    pub fn loaded(&self) -> bool {
        self.shared.inner().shards.values().all(|s| s.ready)
    }

    /// Stop the ticker and answer every parked JoinGroup/SyncGroup with
    /// NOT_COORDINATOR (as Kafka does when it unloads a coordinator). Later
    /// requests get COORDINATOR_NOT_AVAILABLE. Committed offsets are
    /// already in the log.
    pub async fn shutdown(&self) {
        {
            let mut inner = self.shared.inner();
            let shards: Vec<i32> = inner.shards.keys().copied().collect();
            for shard in shards {
                inner.unload(shard);
            }
            inner.active = false;
            inner.joins.clear();
            inner.syncs.clear();
        }
        let _ = self.shutdown.send(true);
        let ticker = self.ticker.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(ticker) = ticker {
            let _ = ticker.await;
        }
    }

    /// Run the offset expiration now (the ticker runs it every
    /// [`OFFSETS_RETENTION_CHECK_INTERVAL`]).
    pub async fn expire_offsets(&self) {
        self.shared.expire_offsets().await;
    }

    /// JoinGroup (key 11, v0-9). Waits until the rebalance completes when
    /// the member is parked. `client_id` is the request header's;
    /// `client_host` the peer address (DescribeGroups shows both).
    pub async fn join(
        &self,
        request: JoinGroupRequest,
        version: i16,
        client_id: &str,
        client_host: &str,
    ) -> JoinGroupResponse {
        let request = join_request(request, version, client_id, client_host);
        let new_member_id = core::member_id_for(
            client_id,
            request.group_instance_id.as_deref(),
            Uuid::new_v4(),
        );
        let waiting = {
            let mut inner = self.shared.inner();
            let token = inner.token();
            let actions = match inner.core(&request.group_id) {
                Ok(core) => core.join(token, request, new_member_id, now_ms()),
                Err(e) => {
                    let response = core::JoinResponse::error(&request.member_id, e);
                    return join_response(response, version);
                }
            };
            let (tx, rx) = oneshot::channel();
            inner.joins.insert(token, tx);
            inner.dispatch(actions);
            rx
        };
        let response = waiting
            .await
            .unwrap_or_else(|_| core::JoinResponse::error("", GroupError::NotCoordinator));
        join_response(response, version)
    }

    /// SyncGroup (key 14, v0-5). A follower waits for the leader's sync.
    pub async fn sync(&self, request: SyncGroupRequest, version: i16) -> SyncGroupResponse {
        let request = core::SyncRequest {
            group_id: request.group_id.0.to_string(),
            generation_id: request.generation_id,
            member_id: request.member_id.to_string(),
            group_instance_id: request.group_instance_id.map(|s| s.to_string()),
            protocol_type: request.protocol_type.map(|s| s.to_string()),
            protocol_name: request.protocol_name.map(|s| s.to_string()),
            assignments: request
                .assignments
                .into_iter()
                .map(|a| (a.member_id.to_string(), a.assignment.to_vec()))
                .collect(),
        };
        let waiting = {
            let mut inner = self.shared.inner();
            let token = inner.token();
            let actions = match inner.core(&request.group_id) {
                Ok(core) => core.sync(token, request, now_ms()),
                Err(e) => return sync_response(core::SyncResponse::error(e), version),
            };
            let (tx, rx) = oneshot::channel();
            inner.syncs.insert(token, tx);
            inner.dispatch(actions);
            rx
        };
        let response = waiting
            .await
            .unwrap_or_else(|_| core::SyncResponse::error(GroupError::NotCoordinator));
        sync_response(response, version)
    }

    /// Heartbeat (key 12, v0-4).
    pub fn heartbeat(&self, request: &HeartbeatRequest, _version: i16) -> HeartbeatResponse {
        let request = core::HeartbeatRequest {
            group_id: request.group_id.0.to_string(),
            generation_id: request.generation_id,
            member_id: request.member_id.to_string(),
            group_instance_id: request.group_instance_id.as_ref().map(|s| s.to_string()),
        };
        let mut inner = self.shared.inner();
        let result = inner
            .core(&request.group_id)
            .and_then(|core| core.heartbeat(&request, now_ms()));
        HeartbeatResponse::default().with_error_code(error_code(result.err()))
    }

    /// LeaveGroup (key 13, v0-5; v3+ batches members, KIP-345).
    pub fn leave(&self, request: &LeaveGroupRequest, version: i16) -> LeaveGroupResponse {
        let members = if version >= 3 {
            request
                .members
                .iter()
                .map(|m| core::LeavingMember {
                    member_id: m.member_id.to_string(),
                    group_instance_id: m.group_instance_id.as_ref().map(|s| s.to_string()),
                })
                .collect()
        } else {
            vec![core::LeavingMember {
                member_id: request.member_id.to_string(),
                group_instance_id: None,
            }]
        };
        let request = core::LeaveRequest {
            group_id: request.group_id.0.to_string(),
            members,
        };
        let response = {
            let mut inner = self.shared.inner();
            let (response, actions) = match inner.core(&request.group_id) {
                Ok(core) => core.leave(&request, now_ms()),
                Err(e) => return LeaveGroupResponse::default().with_error_code(e.code()),
            };
            inner.dispatch(actions);
            response
        };
        leave_response(response, version)
    }

    /// OffsetCommit (key 8, v2-9). Answered once the offsets are on every
    /// in-sync replica of the group's `__consumer_offsets` partition (see
    /// the module docs). `partition_exists` says whether a topic partition
    /// exists; others get UNKNOWN_TOPIC_OR_PARTITION, as Kafka's request
    /// handler answers. (v2-v4's `retention_time_ms` is ignored:
    /// `offsets.retention.minutes` applies.)
    pub async fn commit_offsets(
        &self,
        request: &OffsetCommitRequest,
        version: i16,
        partition_exists: impl Fn(&str, i32) -> bool,
    ) -> OffsetCommitResponse {
        let (commit, unknown) = commit_request(request, version, &partition_exists);
        let deadline =
            tokio::time::Instant::now() + Duration::from_millis(offsets_topic::COMMIT_TIMEOUT_MS);
        // The shard, its partition and its write lock; an empty group id
        // is validated by the scratch core (INVALID_GROUP_ID).
        let target = {
            let mut inner = self.shared.inner();
            if commit.group_id.is_empty() {
                let outcome = match inner.core("") {
                    Ok(core) => core.commit_offsets(&commit, now_ms()),
                    Err(e) => return commit_error_response(request, e.code()),
                };
                return commit_response(request, &outcome, &unknown);
            }
            let shard = inner.shard_of(&commit.group_id);
            match inner.core(&commit.group_id) {
                Err(e) => Err(e),
                Ok(_) => {
                    let s = &inner.shards[&shard];
                    Ok((shard, s.partition.clone(), s.writes.clone()))
                }
            }
        };
        let (shard, partition, writes) = match target {
            Ok(t) => t,
            Err(e) => return commit_error_response(request, e.code()),
        };
        let order = writes.lock().await;
        let now = now_ms();
        let outcome = self
            .shared
            .inner()
            .core_of(shard, &partition)
            .map(|core| core.commit_offsets(&commit, now));
        let mut outcome = match outcome {
            Ok(outcome) => outcome,
            Err(e) => return commit_error_response(request, e.code()),
        };
        if outcome.records.is_empty() {
            return commit_response(request, &outcome, &unknown);
        }
        let records = std::mem::take(&mut outcome.records);
        let appended = offsets_topic::encode_batch(&records, now)
            .map_err(|e| {
                tracing::error!("encoding committed offsets: {e}");
                GroupError::CoordinatorNotAvailable
            })
            .and_then(|batch| {
                partition
                    .append_as_leader(&batch, true, now)
                    .map_err(|e| offsets_topic::commit_error(&e))
            });
        let appended = match appended {
            Ok(a) => a,
            Err(e) => {
                drop(order);
                mark_stored_as_failed(&mut outcome, e);
                return commit_response(request, &outcome, &unknown);
            }
        };
        // In log order (the write lock is still held), applied once the
        // high watermark passes it.
        if let Some(s) = self.shared.inner().shards.get_mut(&shard) {
            if Arc::ptr_eq(&s.partition, &partition) {
                s.pending.push_back(LoadedBatch {
                    next_offset: appended.next_offset,
                    records,
                });
            }
        }
        drop(order);
        match partition
            .wait_committed(appended.next_offset, deadline)
            .await
        {
            // Settle now, so the committer's next OffsetFetch sees it.
            Ok(()) => {
                let _ = self.shared.inner().core_of(shard, &partition);
            }
            Err(e) => {
                tracing::debug!(
                    partition = shard,
                    "offset commit not replicated: {}",
                    e.message
                );
                mark_stored_as_failed(&mut outcome, offsets_topic::commit_error(&e));
            }
        }
        commit_response(request, &outcome, &unknown)
    }

    /// OffsetFetch (key 9, v1-9; v8+ asks for several groups). An unknown
    /// group answers -1 offsets, no error.
    pub fn fetch_offsets(&self, request: &OffsetFetchRequest, version: i16) -> OffsetFetchResponse {
        let mut inner = self.shared.inner();
        if version >= 8 {
            let groups = request
                .groups
                .iter()
                .map(|g| fetch_group(inner.core(g.group_id.0.as_str()), g))
                .collect();
            return OffsetFetchResponse::default().with_groups(groups);
        }
        let group_id = request.group_id.0.as_str();
        let wanted: Option<Vec<core::FetchTopic>> = request.topics.as_ref().map(|topics| {
            topics
                .iter()
                .map(|t| core::FetchTopic {
                    name: t.name.0.to_string(),
                    partitions: t.partition_indexes.clone(),
                })
                .collect()
        });
        let (error, topics) = match inner.core(group_id) {
            Ok(core) => (0, core.fetch_offsets(group_id, wanted.as_deref())),
            Err(e) => (e.code(), Vec::new()),
        };
        let topics = topics
            .into_iter()
            .map(|t| {
                OffsetFetchResponseTopic::default()
                    .with_name(TopicName(str_bytes(t.name)))
                    .with_partitions(
                        t.partitions
                            .into_iter()
                            .map(|p| {
                                OffsetFetchResponsePartition::default()
                                    .with_partition_index(p.partition)
                                    .with_committed_offset(p.offset)
                                    .with_committed_leader_epoch(p.leader_epoch)
                                    .with_metadata(Some(str_bytes(p.metadata)))
                            })
                            .collect(),
                    )
            })
            .collect();
        let response = OffsetFetchResponse::default().with_topics(topics);
        if version >= 2 {
            response.with_error_code(error)
        } else {
            response
        }
    }

    /// ListGroups (key 16, v0-5; states filter v4+, types filter v5+):
    /// the groups of every loaded shard (a shard still loading is left
    /// out; Kafka answers COORDINATOR_LOAD_IN_PROGRESS for the whole
    /// list instead).
    pub fn list_groups(&self, request: &ListGroupsRequest, version: i16) -> ListGroupsResponse {
        let inner = self.shared.inner();
        if !inner.active {
            return ListGroupsResponse::default()
                .with_error_code(ResponseError::CoordinatorNotAvailable.code());
        }
        let states: Vec<String> = request
            .states_filter
            .iter()
            .map(|s| s.to_string())
            .collect();
        let types: Vec<String> = request.types_filter.iter().map(|s| s.to_string()).collect();
        let groups = inner
            .shards
            .values()
            .filter_map(|s| s.core.as_ref())
            .flat_map(|core| core.list_groups(&states, &types))
            .map(|g| {
                let listed = ListedGroup::default()
                    .with_group_id(GroupId(str_bytes(g.group_id)))
                    .with_protocol_type(str_bytes(g.protocol_type));
                let listed = if version >= 4 {
                    listed.with_group_state(StrBytes::from_static_str(g.state.name()))
                } else {
                    listed
                };
                if version >= 5 {
                    listed.with_group_type(StrBytes::from_static_str(g.group_type))
                } else {
                    listed
                }
            })
            .collect();
        ListGroupsResponse::default().with_groups(groups)
    }

    /// DescribeGroups (key 15, v0-5): unknown groups are reported Dead.
    pub fn describe_groups(
        &self,
        request: &DescribeGroupsRequest,
        version: i16,
    ) -> DescribeGroupsResponse {
        let mut inner = self.shared.inner();
        let groups = request
            .groups
            .iter()
            .map(|id| {
                let core = match inner.core(id.0.as_str()) {
                    Ok(core) => core,
                    Err(e) => {
                        return DescribedGroup::default()
                            .with_group_id(id.clone())
                            .with_error_code(e.code())
                    }
                };
                let described = describe_group(core.describe_group(id.0.as_str()), version);
                if version >= 3 && request.include_authorized_operations {
                    described.with_authorized_operations(GROUP_AUTHORIZED_OPERATIONS)
                } else {
                    described
                }
            })
            .collect();
        DescribeGroupsResponse::default().with_groups(groups)
    }
}

/// Tick the cores until the coordinator is gone or shut down; run the
/// offset expiration every [`OFFSETS_RETENTION_CHECK_INTERVAL`].
async fn run_ticker(shared: Weak<Shared>, mut stop: watch::Receiver<bool>) {
    let mut interval = tokio::time::interval(TICK_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_expiry = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = stop.wait_for(|stopped| *stopped) => return,
        }
        let Some(shared) = shared.upgrade() else {
            return;
        };
        shared.tick();
        if last_expiry.elapsed() >= OFFSETS_RETENTION_CHECK_INTERVAL {
            last_expiry = tokio::time::Instant::now();
            shared.expire_offsets().await;
        }
    }
}

// ---------------------------------------------------------------------------
// Wire format <-> core
// ---------------------------------------------------------------------------

fn join_request(
    request: JoinGroupRequest,
    version: i16,
    client_id: &str,
    client_host: &str,
) -> core::JoinRequest {
    // JoinGroup v0 has no rebalance timeout: Kafka uses the session timeout.
    let rebalance_timeout_ms = if request.rebalance_timeout_ms < 0 {
        request.session_timeout_ms
    } else {
        request.rebalance_timeout_ms
    };
    core::JoinRequest {
        group_id: request.group_id.0.to_string(),
        member_id: request.member_id.to_string(),
        group_instance_id: request.group_instance_id.map(|s| s.to_string()),
        client_id: client_id.to_string(),
        client_host: client_host.to_string(),
        session_timeout_ms: request.session_timeout_ms,
        rebalance_timeout_ms,
        protocol_type: request.protocol_type.to_string(),
        protocols: request
            .protocols
            .into_iter()
            .map(|p| core::Protocol {
                name: p.name.to_string(),
                metadata: p.metadata.to_vec(),
            })
            .collect(),
        require_known_member_id: version >= 4,
        supports_skip_assignment: version >= 9,
    }
}

fn join_response(response: core::JoinResponse, version: i16) -> JoinGroupResponse {
    // Before v7 the protocol name is not nullable: Kafka sends "".
    let protocol_name = match response.protocol_name {
        None if version < 7 => Some(StrBytes::new()),
        name => name.map(str_bytes),
    };
    let members = response
        .members
        .into_iter()
        .map(|m| {
            JoinGroupResponseMember::default()
                .with_member_id(str_bytes(m.member_id))
                .with_group_instance_id(m.group_instance_id.filter(|_| version >= 5).map(str_bytes))
                .with_metadata(Bytes::from(m.metadata))
        })
        .collect();
    JoinGroupResponse::default()
        .with_error_code(error_code(response.error))
        .with_generation_id(response.generation_id)
        .with_protocol_type(
            response
                .protocol_type
                .filter(|_| version >= 7)
                .map(str_bytes),
        )
        .with_protocol_name(protocol_name)
        .with_leader(str_bytes(response.leader))
        .with_skip_assignment(version >= 9 && response.skip_assignment)
        .with_member_id(str_bytes(response.member_id))
        .with_members(members)
}

fn sync_response(response: core::SyncResponse, version: i16) -> SyncGroupResponse {
    let (protocol_type, protocol_name) = if version >= 5 {
        (
            response.protocol_type.map(str_bytes),
            response.protocol_name.map(str_bytes),
        )
    } else {
        (None, None)
    };
    SyncGroupResponse::default()
        .with_error_code(error_code(response.error))
        .with_protocol_type(protocol_type)
        .with_protocol_name(protocol_name)
        .with_assignment(Bytes::from(response.assignment))
}

fn leave_response(response: core::LeaveResponse, version: i16) -> LeaveGroupResponse {
    if version < 3 {
        // One member, its error at the top level.
        let error = response
            .error
            .or_else(|| response.members.iter().find_map(|m| m.error));
        return LeaveGroupResponse::default().with_error_code(error_code(error));
    }
    let members = response
        .members
        .into_iter()
        .map(|m| {
            MemberResponse::default()
                .with_member_id(str_bytes(m.member_id))
                .with_group_instance_id(m.group_instance_id.map(str_bytes))
                .with_error_code(error_code(m.error))
        })
        .collect();
    LeaveGroupResponse::default()
        .with_error_code(error_code(response.error))
        .with_members(members)
}

/// The core request for the partitions that exist, and the (topic,
/// partition) pairs that do not.
fn commit_request(
    request: &OffsetCommitRequest,
    version: i16,
    partition_exists: &impl Fn(&str, i32) -> bool,
) -> (core::OffsetCommitRequest, Vec<(String, i32)>) {
    let mut unknown = Vec::new();
    let topics = request
        .topics
        .iter()
        .map(|topic| {
            let name = topic.name.0.to_string();
            let partitions = topic
                .partitions
                .iter()
                .filter(|p| {
                    let exists = partition_exists(&name, p.partition_index);
                    if !exists {
                        unknown.push((name.clone(), p.partition_index));
                    }
                    exists
                })
                .map(|p| core::CommitPartition {
                    partition: p.partition_index,
                    offset: Offset(p.committed_offset),
                    leader_epoch: LeaderEpoch(if version >= 6 {
                        p.committed_leader_epoch
                    } else {
                        -1
                    }),
                    metadata: p.committed_metadata.as_ref().map(|m| m.to_string()),
                })
                .collect();
            core::CommitTopic { name, partitions }
        })
        .collect();
    let commit = core::OffsetCommitRequest {
        group_id: request.group_id.0.to_string(),
        generation_id: request.generation_id_or_member_epoch,
        member_id: request.member_id.to_string(),
        group_instance_id: request.group_instance_id.as_ref().map(|s| s.to_string()),
        topics,
        group_id_not_found_supported: version >= 9,
    };
    (commit, unknown)
}

/// The write failed: the partitions that were accepted were not stored.
fn mark_stored_as_failed(outcome: &mut core::CommitOutcome, failure: GroupError) {
    for topic in &mut outcome.topics {
        for (_, error) in &mut topic.partitions {
            if error.is_none() {
                *error = Some(failure);
            }
        }
    }
}

/// The response in request order: each partition's result from the core,
/// or UNKNOWN_TOPIC_OR_PARTITION.
fn commit_response(
    request: &OffsetCommitRequest,
    outcome: &core::CommitOutcome,
    unknown: &[(String, i32)],
) -> OffsetCommitResponse {
    let unknown_code = ResponseError::UnknownTopicOrPartition.code();
    let topics = request
        .topics
        .iter()
        .zip(&outcome.topics)
        .map(|(topic, result)| {
            let name = topic.name.0.as_str();
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    let code = if unknown
                        .iter()
                        .any(|(t, i)| t == name && *i == p.partition_index)
                    {
                        unknown_code
                    } else {
                        result
                            .partitions
                            .iter()
                            .find(|(i, _)| *i == p.partition_index)
                            .map_or(unknown_code, |(_, e)| error_code(*e))
                    };
                    OffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(code)
                })
                .collect();
            OffsetCommitResponseTopic::default()
                .with_name(topic.name.clone())
                .with_partitions(partitions)
        })
        .collect();
    OffsetCommitResponse::default().with_topics(topics)
}

fn commit_error_response(request: &OffsetCommitRequest, code: i16) -> OffsetCommitResponse {
    let topics = request
        .topics
        .iter()
        .map(|topic| {
            OffsetCommitResponseTopic::default()
                .with_name(topic.name.clone())
                .with_partitions(
                    topic
                        .partitions
                        .iter()
                        .map(|p| {
                            OffsetCommitResponsePartition::default()
                                .with_partition_index(p.partition_index)
                                .with_error_code(code)
                        })
                        .collect(),
                )
        })
        .collect();
    OffsetCommitResponse::default().with_topics(topics)
}

/// One group of an OffsetFetch v8+.
fn fetch_group(
    core: Result<&mut GroupCoordinator, GroupError>,
    group: &kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestGroup,
) -> OffsetFetchResponseGroup {
    let response = OffsetFetchResponseGroup::default().with_group_id(group.group_id.clone());
    let core = match core {
        Ok(core) => core,
        Err(e) => return response.with_error_code(e.code()),
    };
    let wanted: Option<Vec<core::FetchTopic>> = group.topics.as_ref().map(|topics| {
        topics
            .iter()
            .map(|t| core::FetchTopic {
                name: t.name.0.to_string(),
                partitions: t.partition_indexes.clone(),
            })
            .collect()
    });
    let topics = core
        .fetch_offsets(group.group_id.0.as_str(), wanted.as_deref())
        .into_iter()
        .map(|t| {
            OffsetFetchResponseTopics::default()
                .with_name(TopicName(str_bytes(t.name)))
                .with_partitions(
                    t.partitions
                        .into_iter()
                        .map(|p| {
                            OffsetFetchResponsePartitions::default()
                                .with_partition_index(p.partition)
                                .with_committed_offset(p.offset)
                                .with_committed_leader_epoch(p.leader_epoch)
                                .with_metadata(Some(str_bytes(p.metadata)))
                        })
                        .collect(),
                )
        })
        .collect();
    response.with_topics(topics)
}

fn describe_group(group: core::GroupDescription, version: i16) -> DescribedGroup {
    let members = group
        .members
        .into_iter()
        .map(|m| {
            DescribedGroupMember::default()
                .with_member_id(str_bytes(m.member_id))
                .with_group_instance_id(m.group_instance_id.filter(|_| version >= 4).map(str_bytes))
                .with_client_id(str_bytes(m.client_id))
                .with_client_host(str_bytes(m.client_host))
                .with_member_metadata(Bytes::from(m.metadata))
                .with_member_assignment(Bytes::from(m.assignment))
        })
        .collect();
    DescribedGroup::default()
        .with_group_id(GroupId(str_bytes(group.group_id)))
        .with_group_state(StrBytes::from_static_str(group.state.name()))
        .with_protocol_type(str_bytes(group.protocol_type))
        .with_protocol_data(str_bytes(group.protocol_data))
        .with_members(members)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
    use kafka_protocol::messages::leave_group_request::MemberIdentity;
    use kafka_protocol::messages::offset_commit_request::{
        OffsetCommitRequestPartition, OffsetCommitRequestTopic,
    };
    use kafka_protocol::messages::offset_fetch_request::{
        OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
    };
    use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
    use kafka_protocol::protocol::Encodable;
    use std::path::Path;
    use weir_core::partition::ReplicationConfig;
    use weir_protocol::TopicPartition;
    use weir_storage::log::{Log, LogConfig};

    const UNKNOWN_TOPIC: &str = "gone";

    /// The log of `__consumer_offsets-0` in `dir` (real files).
    fn offsets_log(dir: &Path) -> Arc<Mutex<Log>> {
        let fs = weir_storage::RealFs::shared();
        let log = Log::open(
            fs,
            &dir.join("__consumer_offsets-0"),
            LogConfig::default(),
            Offset(0),
            0,
        )
        .expect("open the offsets log");
        Arc::new(Mutex::new(log))
    }

    /// Lead `log` at `epoch` as broker 1, with `replicas` all in the ISR.
    fn lead_as(log: &Arc<Mutex<Log>>, epoch: i32, replicas: &[i32]) -> Arc<Partition> {
        let init = crate::partition::LeaderInit {
            local_id: 1,
            leader_epoch: LeaderEpoch(epoch),
            partition_epoch: epoch,
            replicas: replicas.to_vec(),
            isr: replicas.to_vec(),
            high_watermark: 0,
            config: ReplicationConfig::default(),
        };
        Partition::new(
            TopicPartition::new(offsets_topic::TOPIC, 0),
            Uuid::nil(),
            init,
            log.clone(),
            None,
            0,
        )
        .expect("lead")
    }

    /// Lead `log` as the only replica at `epoch`.
    fn lead_log(log: &Arc<Mutex<Log>>, epoch: i32) -> Arc<Partition> {
        lead_as(log, epoch, &[1])
    }

    /// Wait (bounded) until every led shard is loaded.
    async fn until_loaded(groups: &GroupCoordinatorHandle) {
        for _ in 0..500 {
            if groups.loaded() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the shards did not load in 5 s");
    }

    /// A coordinator leading the one-partition offsets topic in `dir`.
    async fn leading(
        dir: &Path,
        config: GroupConfig,
        epoch: i32,
    ) -> (Arc<GroupCoordinatorHandle>, Arc<Partition>) {
        let groups = GroupCoordinatorHandle::new(config).unwrap();
        let partition = lead_log(&offsets_log(dir), epoch);
        groups.lead(1, vec![(0, partition.clone())]);
        until_loaded(&groups).await;
        (groups, partition)
    }

    fn config() -> GroupConfig {
        GroupConfig {
            initial_rebalance_delay_ms: 0,
            min_session_timeout_ms: 100,
            ..GroupConfig::default()
        }
    }

    fn exists(topic: &str, _partition: i32) -> bool {
        topic != UNKNOWN_TOPIC
    }

    fn join_req(member_id: &str) -> JoinGroupRequest {
        JoinGroupRequest::default()
            .with_group_id(GroupId(str_bytes("g")))
            .with_session_timeout_ms(10_000)
            .with_rebalance_timeout_ms(5_000)
            .with_member_id(str_bytes(member_id))
            .with_protocol_type(str_bytes("consumer"))
            .with_protocols(vec![JoinGroupRequestProtocol::default()
                .with_name(str_bytes("range"))
                .with_metadata(Bytes::from_static(b"sub"))])
    }

    fn sync_req(
        member_id: &str,
        generation_id: i32,
        assign: &[(&str, &'static [u8])],
    ) -> SyncGroupRequest {
        SyncGroupRequest::default()
            .with_group_id(GroupId(str_bytes("g")))
            .with_generation_id(generation_id)
            .with_member_id(str_bytes(member_id))
            .with_assignments(
                assign
                    .iter()
                    .map(|(id, a)| {
                        SyncGroupRequestAssignment::default()
                            .with_member_id(str_bytes(*id))
                            .with_assignment(Bytes::from_static(a))
                    })
                    .collect(),
            )
    }

    fn commit_req(
        member_id: &str,
        generation_id: i32,
        offsets: &[(&str, i32, i64)],
    ) -> OffsetCommitRequest {
        let mut topics: Vec<OffsetCommitRequestTopic> = Vec::new();
        for &(topic, partition, offset) in offsets {
            let p = OffsetCommitRequestPartition::default()
                .with_partition_index(partition)
                .with_committed_offset(offset)
                .with_committed_leader_epoch(4);
            match topics.iter_mut().find(|t| t.name.0.as_str() == topic) {
                Some(t) => t.partitions.push(p),
                None => topics.push(
                    OffsetCommitRequestTopic::default()
                        .with_name(TopicName(str_bytes(topic)))
                        .with_partitions(vec![p]),
                ),
            }
        }
        OffsetCommitRequest::default()
            .with_group_id(GroupId(str_bytes("g")))
            .with_generation_id_or_member_epoch(generation_id)
            .with_member_id(str_bytes(member_id))
            .with_topics(topics)
    }

    fn fetch_v9(group: &str) -> OffsetFetchRequest {
        OffsetFetchRequest::default().with_groups(vec![OffsetFetchRequestGroup::default()
            .with_group_id(GroupId(str_bytes(group)))
            .with_topics(Some(vec![OffsetFetchRequestTopics::default()
                .with_name(TopicName(str_bytes("t")))
                .with_partition_indexes(vec![0, 1])]))])
    }

    /// (partition, offset, leader epoch) of topic "t" in a v8+ fetch.
    fn fetched_v9(response: &OffsetFetchResponse) -> Vec<(i32, i64, i32)> {
        response.groups[0].topics[0]
            .partitions
            .iter()
            .map(|p| {
                (
                    p.partition_index,
                    p.committed_offset,
                    p.committed_leader_epoch,
                )
            })
            .collect()
    }

    fn encodes<T: Encodable>(message: &T, version: i16) {
        let mut buf = BytesMut::new();
        message
            .encode(&mut buf, version)
            .unwrap_or_else(|e| panic!("v{version}: {e}"));
    }

    /// One member through join, sync, heartbeat; returns its member id.
    async fn join_alone(groups: &GroupCoordinatorHandle) -> String {
        let first = groups.join(join_req(""), 9, "client", "/127.0.0.1").await;
        assert_eq!(first.error_code, ResponseError::MemberIdRequired.code());
        let member_id = first.member_id.to_string();
        assert!(member_id.starts_with("client-"), "{member_id}");
        let joined = groups
            .join(join_req(&member_id), 9, "client", "/127.0.0.1")
            .await;
        assert_eq!(joined.error_code, 0);
        assert_eq!(joined.generation_id, 1);
        assert_eq!(joined.leader.as_str(), member_id);
        assert_eq!(joined.protocol_type.as_deref(), Some("consumer"));
        assert_eq!(joined.protocol_name.as_deref(), Some("range"));
        assert_eq!(joined.members.len(), 1);
        assert_eq!(joined.members[0].metadata, Bytes::from_static(b"sub"));
        let synced = groups
            .sync(
                sync_req(&member_id, 1, &[(member_id.as_str(), b"t-0,1")]),
                5,
            )
            .await;
        assert_eq!(synced.error_code, 0);
        assert_eq!(synced.assignment, Bytes::from_static(b"t-0,1"));
        assert_eq!(synced.protocol_name.as_deref(), Some("range"));
        let heartbeat = HeartbeatRequest::default()
            .with_group_id(GroupId(str_bytes("g")))
            .with_generation_id(1)
            .with_member_id(str_bytes(member_id.as_str()));
        assert_eq!(groups.heartbeat(&heartbeat, 4).error_code, 0);
        member_id
    }

    #[tokio::test]
    async fn offsets_survive_a_new_leadership_from_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let (groups, partition) = leading(dir.path(), config(), 1).await;
        let member_id = join_alone(&groups).await;
        let commit = commit_req(
            &member_id,
            1,
            &[("t", 0, 42), ("t", 1, 7), (UNKNOWN_TOPIC, 0, 1)],
        );
        let committed = groups.commit_offsets(&commit, 9, exists).await;
        let codes: Vec<Vec<i16>> = committed
            .topics
            .iter()
            .map(|t| t.partitions.iter().map(|p| p.error_code).collect())
            .collect();
        assert_eq!(
            codes,
            vec![
                vec![0, 0],
                vec![ResponseError::UnknownTopicOrPartition.code()]
            ]
        );
        assert_eq!(
            fetched_v9(&groups.fetch_offsets(&fetch_v9("g"), 9)),
            vec![(0, 42, 4), (1, 7, 4)]
        );
        // A stale generation is refused and changes nothing.
        let stale = groups
            .commit_offsets(&commit_req(&member_id, 0, &[("t", 0, 99)]), 8, exists)
            .await;
        assert_eq!(
            stale.topics[0].partitions[0].error_code,
            ResponseError::IllegalGeneration.code()
        );
        // Two commits of two records each, in one batch each, in the log.
        assert_eq!(partition.offsets(), (0, 2));
        assert_eq!(partition.high_watermark(), 2);
        groups.shutdown().await;
        partition.depose();
        drop(partition);

        // A new leader (a new epoch over the same files) loads them.
        let (groups, _partition) = leading(dir.path(), config(), 2).await;
        assert_eq!(
            fetched_v9(&groups.fetch_offsets(&fetch_v9("g"), 9)),
            vec![(0, 42, 4), (1, 7, 4)]
        );
        // The old generation is gone: the member is told to rejoin.
        let heartbeat = HeartbeatRequest::default()
            .with_group_id(GroupId(str_bytes("g")))
            .with_generation_id(1)
            .with_member_id(str_bytes(member_id.as_str()));
        assert_eq!(
            groups.heartbeat(&heartbeat, 4).error_code,
            ResponseError::UnknownMemberId.code()
        );
        let described = groups.describe_groups(
            &DescribeGroupsRequest::default().with_groups(vec![GroupId(str_bytes("g"))]),
            5,
        );
        assert_eq!(described.groups[0].group_state.as_str(), "Empty");
        let listed = groups.list_groups(&ListGroupsRequest::default(), 5);
        assert_eq!(listed.groups.len(), 1);
        assert_eq!(listed.groups[0].group_id.0.as_str(), "g");
        // Old-style fetch (v1-v7): the offsets at the top level.
        let old = OffsetFetchRequest::default()
            .with_group_id(GroupId(str_bytes("g")))
            .with_topics(Some(vec![OffsetFetchRequestTopic::default()
                .with_name(TopicName(str_bytes("t")))
                .with_partition_indexes(vec![1, 5])]));
        let response = groups.fetch_offsets(&old, 5);
        let got: Vec<(i32, i64)> = response.topics[0]
            .partitions
            .iter()
            .map(|p| (p.partition_index, p.committed_offset))
            .collect();
        assert_eq!(got, vec![(1, 7), (5, -1)]);
        encodes(&response, 5);
        groups.shutdown().await;
    }

    #[tokio::test]
    async fn unknown_group_fetch_answers_minus_one() {
        let dir = tempfile::tempdir().unwrap();
        let (groups, _partition) = leading(dir.path(), config(), 1).await;
        let response = groups.fetch_offsets(&fetch_v9("nobody"), 9);
        assert_eq!(response.groups[0].error_code, 0);
        assert_eq!(fetched_v9(&response), vec![(0, -1, -1), (1, -1, -1)]);
        encodes(&response, 9);
        groups.shutdown().await;
    }

    #[tokio::test]
    async fn two_consumers_share_a_rebalance() {
        let dir = tempfile::tempdir().unwrap();
        let (groups, _partition) = leading(dir.path(), config(), 1).await;
        let a = join_alone(&groups).await;
        let b = groups
            .join(join_req(""), 9, "other", "/10.0.0.2")
            .await
            .member_id
            .to_string();
        // b joins; a learns of the rebalance from its heartbeat and rejoins.
        let (b_joined, a_joined) =
            tokio::join!(groups.join(join_req(&b), 9, "other", "/10.0.0.2"), async {
                let heartbeat = HeartbeatRequest::default()
                    .with_group_id(GroupId(str_bytes("g")))
                    .with_generation_id(1)
                    .with_member_id(str_bytes(a.as_str()));
                loop {
                    let code = groups.heartbeat(&heartbeat, 4).error_code;
                    if code == ResponseError::RebalanceInProgress.code() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                groups.join(join_req(&a), 9, "client", "/127.0.0.1").await
            });
        assert_eq!((a_joined.generation_id, b_joined.generation_id), (2, 2));
        assert_eq!(a_joined.leader.as_str(), a);
        assert_eq!(a_joined.members.len(), 2);
        assert!(b_joined.members.is_empty());
        let (b_synced, a_synced) = tokio::join!(
            groups.sync(sync_req(&b, 2, &[]), 3),
            groups.sync(
                sync_req(&a, 2, &[(a.as_str(), b"A"), (b.as_str(), b"B")]),
                3
            )
        );
        assert_eq!(a_synced.assignment, Bytes::from_static(b"A"));
        assert_eq!(b_synced.assignment, Bytes::from_static(b"B"));
        assert_eq!(b_synced.protocol_name, None, "v3 has no protocol name");
        let described = groups.describe_groups(
            &DescribeGroupsRequest::default().with_groups(vec![GroupId(str_bytes("g"))]),
            5,
        );
        let group = &described.groups[0];
        assert_eq!(group.group_state.as_str(), "Stable");
        assert_eq!(group.protocol_data.as_str(), "range");
        let hosts: Vec<&str> = group
            .members
            .iter()
            .map(|m| m.client_host.as_str())
            .collect();
        assert_eq!(hosts, vec!["/127.0.0.1", "/10.0.0.2"]);
        // LeaveGroup v0 (one member, error at the top) and v3 (batched).
        let leave_b = LeaveGroupRequest::default()
            .with_group_id(GroupId(str_bytes("g")))
            .with_member_id(str_bytes(b.as_str()));
        assert_eq!(groups.leave(&leave_b, 0).error_code, 0);
        assert_eq!(
            groups.leave(&leave_b, 0).error_code,
            ResponseError::UnknownMemberId.code()
        );
        let leave_a = LeaveGroupRequest::default()
            .with_group_id(GroupId(str_bytes("g")))
            .with_members(vec![
                MemberIdentity::default().with_member_id(str_bytes(a.as_str()))
            ]);
        let left = groups.leave(&leave_a, 3);
        assert_eq!((left.error_code, left.members[0].error_code), (0, 0));
        encodes(&left, 3);
        groups.shutdown().await;
    }

    #[tokio::test]
    async fn session_timeout_is_enforced_by_the_ticker() {
        let dir = tempfile::tempdir().unwrap();
        let (groups, _partition) = leading(dir.path(), config(), 1).await;
        let mut join = join_req("");
        join.session_timeout_ms = 300;
        let id = groups.join(join.clone(), 9, "c", "h").await.member_id;
        join.member_id = id.clone();
        assert_eq!(groups.join(join, 9, "c", "h").await.generation_id, 1);
        tokio::time::sleep(Duration::from_millis(700)).await;
        let heartbeat = HeartbeatRequest::default()
            .with_group_id(GroupId(str_bytes("g")))
            .with_generation_id(1)
            .with_member_id(id);
        assert_eq!(
            groups.heartbeat(&heartbeat, 4).error_code,
            ResponseError::UnknownMemberId.code()
        );
        groups.shutdown().await;
    }

    #[tokio::test]
    async fn shutdown_answers_parked_joins() {
        let dir = tempfile::tempdir().unwrap();
        let slow = GroupConfig {
            initial_rebalance_delay_ms: 60_000,
            ..config()
        };
        let (groups, _partition) = leading(dir.path(), slow, 1).await;
        let id = groups
            .join(join_req(""), 9, "c", "h")
            .await
            .member_id
            .to_string();
        let parked = {
            let groups = groups.clone();
            tokio::spawn(async move { groups.join(join_req(&id), 9, "c", "h").await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        groups.shutdown().await;
        let response = parked.await.unwrap();
        assert_eq!(response.error_code, ResponseError::NotCoordinator.code());
        // After shutdown: COORDINATOR_NOT_AVAILABLE, nothing parks.
        let late = groups.join(join_req(""), 9, "c", "h").await;
        assert_eq!(
            late.error_code,
            ResponseError::CoordinatorNotAvailable.code()
        );
    }

    #[test]
    fn responses_encode_at_every_version() {
        let join = core::JoinResponse::error("m", GroupError::MemberIdRequired);
        for version in 0..=9 {
            let response = join_response(join.clone(), version);
            if version < 7 {
                assert_eq!(response.protocol_name.as_deref(), Some(""));
            }
            encodes(&response, version);
        }
        let leader = core::JoinResponse {
            error: None,
            generation_id: 3,
            protocol_type: Some("consumer".into()),
            protocol_name: Some("range".into()),
            leader: "m".into(),
            skip_assignment: true,
            member_id: "m".into(),
            members: vec![core::JoinedMember {
                member_id: "m".into(),
                group_instance_id: Some("i".into()),
                metadata: b"x".to_vec(),
            }],
        };
        for version in 0..=9 {
            encodes(&join_response(leader.clone(), version), version);
        }
        let sync = core::SyncResponse {
            error: None,
            protocol_type: Some("consumer".into()),
            protocol_name: Some("range".into()),
            assignment: b"a".to_vec(),
        };
        for version in 0..=5 {
            encodes(&sync_response(sync.clone(), version), version);
        }
        let leave = core::LeaveResponse {
            error: None,
            members: vec![core::LeftMember {
                member_id: "m".into(),
                group_instance_id: Some("i".into()),
                error: Some(GroupError::UnknownMemberId),
            }],
        };
        for version in 0..=5 {
            encodes(&leave_response(leave.clone(), version), version);
        }
        let group = core::GroupDescription {
            group_id: "g".into(),
            state: core::GroupState::Stable,
            protocol_type: "consumer".into(),
            protocol_data: "range".into(),
            members: vec![core::MemberDescription {
                member_id: "m".into(),
                group_instance_id: Some("i".into()),
                client_id: "c".into(),
                client_host: "/h".into(),
                metadata: b"x".to_vec(),
                assignment: b"y".to_vec(),
            }],
        };
        for version in 0..=5 {
            let described = DescribeGroupsResponse::default()
                .with_groups(vec![describe_group(group.clone(), version)]);
            encodes(&described, version);
        }
    }

    #[tokio::test]
    async fn list_and_fetch_encode_at_every_version() {
        let dir = tempfile::tempdir().unwrap();
        let (groups, _partition) = leading(dir.path(), config(), 1).await;
        let commit = commit_req("", -1, &[("t", 0, 5)]);
        for version in 2..=9 {
            let response = groups.commit_offsets(&commit, version, exists).await;
            assert_eq!(response.topics[0].partitions[0].error_code, 0);
            encodes(&response, version);
        }
        for version in 0..=5 {
            encodes(
                &groups.list_groups(&ListGroupsRequest::default(), version),
                version,
            );
        }
        for version in 1..=7 {
            let all = OffsetFetchRequest::default().with_group_id(GroupId(str_bytes("g")));
            encodes(&groups.fetch_offsets(&all, version), version);
        }
        for version in 8..=9 {
            encodes(&groups.fetch_offsets(&fetch_v9("g"), version), version);
        }
        groups.shutdown().await;
    }

    /// Lead `log` at epoch 1 with replicas 1 (this node) and 2, both in
    /// the ISR.
    fn lead_with_a_follower(log: &Arc<Mutex<Log>>) -> Arc<Partition> {
        lead_as(log, 1, &[1, 2])
    }

    #[tokio::test]
    async fn a_commit_is_answered_once_the_isr_has_it() {
        let dir = tempfile::tempdir().unwrap();
        let groups = GroupCoordinatorHandle::new(config()).unwrap();
        let partition = lead_with_a_follower(&offsets_log(dir.path()));
        groups.lead(1, vec![(0, partition.clone())]);
        until_loaded(&groups).await;
        let commit = commit_req("", -1, &[("t", 0, 5)]);
        let committing = {
            let groups = groups.clone();
            tokio::spawn(async move { groups.commit_offsets(&commit, 9, exists).await })
        };
        // Appended, but the follower has not fetched it: no answer yet.
        for _ in 0..200 {
            if partition.offsets().1 == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(partition.offsets().1, 1, "the commit is in the log");
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!committing.is_finished(), "answered before the ISR had it");
        // Nor does OffsetFetch show it: it is not committed yet.
        assert_eq!(
            fetched_v9(&groups.fetch_offsets(&fetch_v9("g"), 9)),
            vec![(0, -1, -1), (1, -1, -1)]
        );
        // The follower fetches from 1: it has offset 0, the mark passes it.
        partition.on_follower_fetch(2, 1, 1, true, 1).unwrap();
        let response = tokio::time::timeout(Duration::from_secs(5), committing)
            .await
            .expect("answered after the fetch")
            .unwrap();
        assert_eq!(response.topics[0].partitions[0].error_code, 0);
        assert_eq!(
            fetched_v9(&groups.fetch_offsets(&fetch_v9("g"), 9)),
            vec![(0, 5, 4), (1, -1, -1)]
        );
        groups.shutdown().await;
    }

    #[tokio::test]
    async fn a_new_leader_is_ready_once_its_high_watermark_passes_what_it_loaded() {
        let dir = tempfile::tempdir().unwrap();
        let log = offsets_log(dir.path());
        // A commit appended by a leader whose follower never fetched it.
        {
            let groups = GroupCoordinatorHandle::new(config()).unwrap();
            let partition = lead_with_a_follower(&log);
            groups.lead(1, vec![(0, partition.clone())]);
            until_loaded(&groups).await;
            let commit = commit_req("", -1, &[("t", 0, 5)]);
            let committing = {
                let groups = groups.clone();
                tokio::spawn(async move { groups.commit_offsets(&commit, 9, exists).await })
            };
            tokio::time::sleep(Duration::from_millis(100)).await;
            partition.depose();
            groups.lead(1, Vec::new());
            let _ = committing.await;
            groups.shutdown().await;
        }
        // The next leader of the same log (high watermark 0) loads it but
        // shows it only once its ISR has it.
        let groups = GroupCoordinatorHandle::new(config()).unwrap();
        let partition = lead_as(&log, 2, &[1, 2]);
        groups.lead(1, vec![(0, partition.clone())]);
        for _ in 0..500 {
            if groups.shared.inner().shards[&0].core.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(groups.shared.inner().shards[&0].core.is_some(), "read");
        // Read, but not ready: older offsets must not be answered.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let early = groups.fetch_offsets(&fetch_v9("g"), 9);
        assert_eq!(
            early.groups[0].error_code,
            ResponseError::CoordinatorLoadInProgress.code()
        );
        assert!(!groups.loaded());
        partition.on_follower_fetch(2, 1, 1, true, 1).unwrap();
        until_loaded(&groups).await;
        assert_eq!(
            fetched_v9(&groups.fetch_offsets(&fetch_v9("g"), 9)),
            vec![(0, 5, 4), (1, -1, -1)]
        );
        groups.shutdown().await;
    }

    #[tokio::test]
    async fn a_commit_to_a_deposed_leader_is_not_coordinator() {
        let dir = tempfile::tempdir().unwrap();
        let groups = GroupCoordinatorHandle::new(config()).unwrap();
        let partition = lead_with_a_follower(&offsets_log(dir.path()));
        groups.lead(1, vec![(0, partition.clone())]);
        until_loaded(&groups).await;
        let commit = commit_req("", -1, &[("t", 0, 5)]);
        let committing = {
            let groups = groups.clone();
            tokio::spawn(async move { groups.commit_offsets(&commit, 9, exists).await })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        // Leadership moves while the commit waits for the follower.
        partition.depose();
        groups.lead(1, Vec::new());
        let response = tokio::time::timeout(Duration::from_secs(5), committing)
            .await
            .expect("answered at deposition")
            .unwrap();
        assert_eq!(
            response.topics[0].partitions[0].error_code,
            ResponseError::NotCoordinator.code()
        );
        // Later requests for the group are sent elsewhere.
        let again = groups
            .commit_offsets(&commit_req("", -1, &[("t", 0, 6)]), 9, exists)
            .await;
        assert_eq!(
            again.topics[0].partitions[0].error_code,
            ResponseError::NotCoordinator.code()
        );
        groups.shutdown().await;
    }

    #[tokio::test]
    async fn unloading_a_shard_answers_its_parked_joins_and_loading_is_retriable() {
        let dir = tempfile::tempdir().unwrap();
        let slow = GroupConfig {
            initial_rebalance_delay_ms: 60_000,
            ..config()
        };
        let (groups, _partition) = leading(dir.path(), slow, 1).await;
        let first = groups.join(join_req(""), 9, "client", "/127.0.0.1").await;
        let member_id = first.member_id.to_string();
        let parked = {
            let groups = groups.clone();
            tokio::spawn(async move {
                groups
                    .join(join_req(&member_id), 9, "client", "/127.0.0.1")
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(
            !parked.is_finished(),
            "the join waits for the initial delay"
        );
        groups.lead(1, Vec::new());
        let answered = tokio::time::timeout(Duration::from_secs(5), parked)
            .await
            .expect("answered at unload")
            .unwrap();
        assert_eq!(answered.error_code, ResponseError::NotCoordinator.code());
        // A shard that is still loading answers COORDINATOR_LOAD_IN_PROGRESS.
        let other = tempfile::tempdir().unwrap();
        groups.shared.inner().shards.insert(
            0,
            Shard {
                partition: lead_log(&offsets_log(other.path()), 1),
                core: None,
                pending: VecDeque::new(),
                ready: false,
                writes: Arc::new(tokio::sync::Mutex::new(())),
            },
        );
        let heartbeat = HeartbeatRequest::default()
            .with_group_id(GroupId(str_bytes("g")))
            .with_generation_id(1)
            .with_member_id(str_bytes("m"));
        assert_eq!(
            groups.heartbeat(&heartbeat, 4).error_code,
            ResponseError::CoordinatorLoadInProgress.code()
        );
        groups.shutdown().await;
    }
}
