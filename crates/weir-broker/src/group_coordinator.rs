//! The group coordinator's async shell around `weir_core::group`.
//!
//! [`GroupCoordinatorHandle`] owns the pure [`GroupCoordinator`] behind a
//! mutex, reads the clock, parks JoinGroup/SyncGroup requests on oneshot
//! channels keyed by [`RequestToken`] until the core answers them, ticks the
//! core every [`TICK_INTERVAL`] for its timeouts, and makes committed
//! offsets durable. It speaks `kafka-protocol` requests and responses, so
//! the API handlers only forward; version differences of the wire format
//! are handled here.
//!
//! In a cluster each group has one coordinator (`Broker::group_coordinator`:
//! Kafka's `partitionFor(group)` over the registered brokers); the API
//! handlers answer NOT_COORDINATOR elsewhere before reaching this state.
//!
//! # Durability of committed offsets
//!
//! Kafka keeps offsets in the internal `__consumer_offsets` topic. A single
//! Weir broker keeps them in a CRC'd append-only file instead,
//! `<dir>/offsets.log` (the broker passes `<first log.dir>/__weir_group_offsets`):
//! simpler, and the replication issue can move them into a replicated
//! partition behind the same [`OffsetStore`] methods. An OffsetCommit is
//! answered only after its records are written and fsynced. Each commit is
//! one frame, so a commit is all or nothing after a crash:
//!
//! ```text
//! frame  = magic "W" (u8) | version 1 (u8) | payload length (u32 BE)
//!          | CRC-32C of payload (u32 BE) | payload
//! payload = record count (u32 BE) | record*
//! record  = kind (u8: 1 commit, 0 tombstone) | group (u16 BE length + UTF-8)
//!           | topic (u16 BE length + UTF-8) | partition (i32 BE)
//!           [commit only: offset (i64 BE) | leader epoch (i32 BE)
//!            | commit timestamp ms (i64 BE) | metadata (u32 BE length + UTF-8)]
//! ```
//!
//! On open, frames are replayed in order until the first torn or corrupt
//! one, where the file is truncated (as Kafka recovers a log's tail). When
//! the file has grown well past the live offsets it is compacted: a
//! snapshot is written to a temp file, fsynced, renamed over the log, and
//! the directory fsynced. A failed write or fsync poisons the store (the
//! page cache can no longer be trusted): later commits fail with
//! COORDINATOR_NOT_AVAILABLE until a restart recovers from the file.
//!
//! Group membership itself is not persisted: after a restart members get
//! UNKNOWN_MEMBER_ID on their next heartbeat and rejoin; committed offsets
//! are what survives.

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
use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use uuid::Uuid;
use weir_core::group::{
    self as core, error_code, CommittedOffset, GroupAction, GroupCoordinator, GroupError,
    OffsetRecord, RequestToken,
};
use weir_protocol::{LeaderEpoch, Offset, TopicPartition};

pub use weir_core::group::GroupConfig;

/// How often the core's timers are checked (session, rebalance and
/// initial-delay timeouts fire up to this late).
pub const TICK_INTERVAL: Duration = Duration::from_millis(100);

/// Kafka's `offsets.retention.check.interval.ms` default.
pub const OFFSETS_RETENTION_CHECK_INTERVAL: Duration = Duration::from_secs(600);

/// The offsets file inside the coordinator's directory.
pub const OFFSETS_FILE: &str = "offsets.log";

/// The temp file a compaction writes before renaming it over [`OFFSETS_FILE`].
const COMPACTING_FILE: &str = "offsets.log.compacting";

/// The directory under a log dir that holds the offsets file.
pub const OFFSETS_DIR: &str = "__weir_group_offsets";

/// Compaction waits until the file is at least this big...
const COMPACT_MIN_BYTES: u64 = 16 * 1024 * 1024;

/// A frame larger than this on disk is corruption (one commit request is
/// bounded by `socket.request.max.bytes`, 100 MiB by default).
const MAX_FRAME_BYTES: usize = 256 * 1024 * 1024;

/// Records per frame when compacting.
const COMPACT_RECORDS_PER_FRAME: usize = 10_000;

const FRAME_MAGIC: u8 = b'W';
const FRAME_VERSION: u8 = 1;
const FRAME_HEADER_BYTES: usize = 10;

/// AclOperation bits Kafka reports for a group when no authorizer is
/// configured: READ (3), DELETE (6), DESCRIBE (8).
const GROUP_AUTHORIZED_OPERATIONS: i32 = (1 << 3) | (1 << 6) | (1 << 8);

/// Why the coordinator could not start.
#[derive(Debug, thiserror::Error)]
pub enum GroupCoordinatorError {
    /// The offsets directory or file could not be opened or recovered.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
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

/// The core and the requests waiting on it.
#[derive(Debug)]
struct Inner {
    core: GroupCoordinator,
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

    /// Route the core's answers to the waiting requests (a receiver that
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
}

/// State shared with the background ticker and blocking tasks.
/// Lock order: `store` before `inner`.
#[derive(Debug)]
struct Shared {
    inner: Mutex<Inner>,
    store: Mutex<OffsetStore>,
}

impl Shared {
    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn store(&self) -> MutexGuard<'_, OffsetStore> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn tick(&self) {
        let mut inner = self.inner();
        let actions = inner.core.tick(now_ms());
        inner.dispatch(actions);
    }

    /// Write `records`, fsync, then apply them to the core; compact the
    /// file if it has grown enough. Runs on a blocking thread.
    fn persist(&self, records: &[OffsetRecord]) -> io::Result<()> {
        let mut store = self.store();
        store.append(records)?;
        let snapshot = {
            let mut inner = self.inner();
            inner.core.apply_offsets(records, now_ms());
            store
                .needs_compaction()
                .then(|| inner.core.committed_offsets())
        };
        if let Some(live) = snapshot {
            if let Err(e) = store.compact(&live) {
                // The log itself is intact; compaction is retried later.
                tracing::warn!("compacting {}: {e}", store.dir.display());
            }
        }
        Ok(())
    }

    /// Expire old offsets and write their tombstones (Kafka's periodic
    /// offset cleanup). Runs on a blocking thread.
    fn expire_offsets(&self) {
        let mut store = self.store();
        let tombstones = self.inner().core.expire_offsets(now_ms());
        if tombstones.is_empty() {
            return;
        }
        tracing::info!("expired {} committed offsets", tombstones.len());
        // A lost tombstone is harmless: replay expires the offset again.
        if let Err(e) = store.append(&tombstones) {
            tracing::warn!("writing offset tombstones: {e}");
        }
    }
}

/// The group coordinator of this broker; see the module docs.
pub struct GroupCoordinatorHandle {
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
    ticker: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for GroupCoordinatorHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCoordinatorHandle")
            .field("dir", &self.shared.store().dir)
            .finish_non_exhaustive()
    }
}

impl GroupCoordinatorHandle {
    /// Open (or create) the offsets store in `dir`, replay it, and start the
    /// ticker. Must be called inside a tokio runtime.
    pub fn new(dir: PathBuf, config: GroupConfig) -> Result<Arc<Self>, GroupCoordinatorError> {
        let runtime =
            tokio::runtime::Handle::try_current().map_err(|_| GroupCoordinatorError::NoRuntime)?;
        let io = |source| GroupCoordinatorError::Io {
            path: dir.join(OFFSETS_FILE),
            source,
        };
        let (mut store, records) = OffsetStore::open(&dir).map_err(io)?;
        let mut core = GroupCoordinator::new(config);
        core.apply_offsets(&records, now_ms());
        if store.len_bytes > COMPACT_MIN_BYTES {
            store.compact(&core.committed_offsets()).map_err(io)?;
        }
        tracing::info!(
            "group coordinator: {} committed offsets from {}",
            core.committed_offsets().len(),
            dir.display()
        );
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner {
                core,
                joins: HashMap::new(),
                syncs: HashMap::new(),
                next_token: 0,
                active: true,
            }),
            store: Mutex::new(store),
        });
        let (shutdown, stop) = watch::channel(false);
        let ticker = runtime.spawn(run_ticker(Arc::downgrade(&shared), stop));
        Ok(Arc::new(GroupCoordinatorHandle {
            shared,
            shutdown,
            ticker: Mutex::new(Some(ticker)),
        }))
    }

    /// Stop the ticker and answer every parked JoinGroup/SyncGroup with
    /// NOT_COORDINATOR (as Kafka does when it unloads a coordinator). Later
    /// requests get COORDINATOR_NOT_AVAILABLE. Committed offsets are
    /// already durable.
    pub async fn shutdown(&self) {
        {
            let mut inner = self.shared.inner();
            inner.active = false;
            let actions = inner.core.shutdown();
            inner.dispatch(actions);
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
        let shared = self.shared.clone();
        let _ = tokio::task::spawn_blocking(move || shared.expire_offsets()).await;
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
            if !inner.active {
                let response = core::JoinResponse::error(
                    &request.member_id,
                    GroupError::CoordinatorNotAvailable,
                );
                return join_response(response, version);
            }
            let token = inner.token();
            let (tx, rx) = oneshot::channel();
            inner.joins.insert(token, tx);
            let actions = inner.core.join(token, request, new_member_id, now_ms());
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
            if !inner.active {
                return sync_response(
                    core::SyncResponse::error(GroupError::CoordinatorNotAvailable),
                    version,
                );
            }
            let token = inner.token();
            let (tx, rx) = oneshot::channel();
            inner.syncs.insert(token, tx);
            let actions = inner.core.sync(token, request, now_ms());
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
        let result = if inner.active {
            inner.core.heartbeat(&request, now_ms())
        } else {
            Err(GroupError::CoordinatorNotAvailable)
        };
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
            if !inner.active {
                return LeaveGroupResponse::default()
                    .with_error_code(GroupError::CoordinatorNotAvailable.code());
            }
            let (response, actions) = inner.core.leave(&request, now_ms());
            inner.dispatch(actions);
            response
        };
        leave_response(response, version)
    }

    /// OffsetCommit (key 8, v2-9). Answered once the offsets are fsynced.
    /// `partition_exists` says whether a topic partition exists; others
    /// get UNKNOWN_TOPIC_OR_PARTITION, as Kafka's request handler answers.
    /// (v2-v4's `retention_time_ms` is ignored: `offsets.retention.minutes`
    /// applies.)
    pub async fn commit_offsets(
        &self,
        request: &OffsetCommitRequest,
        version: i16,
        partition_exists: impl Fn(&str, i32) -> bool,
    ) -> OffsetCommitResponse {
        let (commit, unknown) = commit_request(request, version, &partition_exists);
        let outcome = {
            let mut inner = self.shared.inner();
            if !inner.active {
                None
            } else {
                Some(inner.core.commit_offsets(&commit, now_ms()))
            }
        };
        let Some(mut outcome) = outcome else {
            return commit_error_response(request, ResponseError::CoordinatorNotAvailable.code());
        };
        if !outcome.records.is_empty() {
            let shared = self.shared.clone();
            let records = std::mem::take(&mut outcome.records);
            let written = tokio::task::spawn_blocking(move || shared.persist(&records)).await;
            let failed = match written {
                Ok(Ok(())) => false,
                Ok(Err(e)) => {
                    tracing::error!("persisting committed offsets: {e}");
                    true
                }
                Err(e) => {
                    tracing::error!("persisting committed offsets: {e}");
                    true
                }
            };
            if failed {
                mark_stored_as_failed(&mut outcome);
            }
        }
        commit_response(request, &outcome, &unknown)
    }

    /// OffsetFetch (key 9, v1-9; v8+ asks for several groups). An unknown
    /// group answers -1 offsets, no error.
    pub fn fetch_offsets(&self, request: &OffsetFetchRequest, version: i16) -> OffsetFetchResponse {
        let inner = self.shared.inner();
        let active = inner.active;
        if version >= 8 {
            let groups = request
                .groups
                .iter()
                .map(|g| fetch_group(&inner.core, active, g))
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
        let error = if active {
            0
        } else {
            ResponseError::CoordinatorNotAvailable.code()
        };
        let topics = if active {
            inner.core.fetch_offsets(group_id, wanted.as_deref())
        } else {
            Vec::new()
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

    /// ListGroups (key 16, v0-5; states filter v4+, types filter v5+).
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
            .core
            .list_groups(&states, &types)
            .into_iter()
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
        let inner = self.shared.inner();
        let groups = request
            .groups
            .iter()
            .map(|id| {
                if !inner.active {
                    return DescribedGroup::default()
                        .with_group_id(id.clone())
                        .with_error_code(ResponseError::CoordinatorNotAvailable.code());
                }
                let described = describe_group(inner.core.describe_group(id.0.as_str()), version);
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

/// Tick the core until the coordinator is gone or shut down; run the
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
            let _ = tokio::task::spawn_blocking(move || shared.expire_offsets()).await;
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
fn mark_stored_as_failed(outcome: &mut core::CommitOutcome) {
    for topic in &mut outcome.topics {
        for (_, error) in &mut topic.partitions {
            if error.is_none() {
                *error = Some(GroupError::CoordinatorNotAvailable);
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
    core: &GroupCoordinator,
    active: bool,
    group: &kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestGroup,
) -> OffsetFetchResponseGroup {
    let response = OffsetFetchResponseGroup::default().with_group_id(group.group_id.clone());
    if !active {
        return response.with_error_code(ResponseError::CoordinatorNotAvailable.code());
    }
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

// ---------------------------------------------------------------------------
// The offsets file
// ---------------------------------------------------------------------------

/// The append-only file of committed offsets (see the module docs).
#[derive(Debug)]
pub struct OffsetStore {
    dir: PathBuf,
    file: File,
    /// Bytes in the file (all valid frames).
    len_bytes: u64,
    /// Size right after the last compaction (or open).
    compacted_len_bytes: u64,
    /// A write or fsync failed: nothing more is written.
    failed: bool,
}

impl OffsetStore {
    /// Open `dir/offsets.log`, creating both if missing; return the records
    /// of every valid frame, truncating a torn or corrupt tail.
    pub fn open(dir: &Path) -> io::Result<(OffsetStore, Vec<OffsetRecord>)> {
        fs::create_dir_all(dir)?;
        let stale = dir.join(COMPACTING_FILE);
        if stale.exists() {
            // A compaction that did not finish; the log is still whole.
            fs::remove_file(&stale)?;
        }
        let path = dir.join(OFFSETS_FILE);
        let created = !path.exists();
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)?;
        if created {
            sync_dir(dir)?;
        }
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        let decoded = decode_frames(&bytes);
        let valid = decoded.valid_len as u64;
        if let Some(why) = decoded.stopped {
            tracing::warn!(
                "{}: dropping {} bytes after offset {valid}: {why}",
                path.display(),
                bytes.len() as u64 - valid
            );
            file.set_len(valid)?;
            file.sync_all()?;
        }
        let store = OffsetStore {
            dir: dir.to_path_buf(),
            file,
            len_bytes: valid,
            compacted_len_bytes: valid,
            failed: false,
        };
        Ok((store, decoded.records))
    }

    /// Append `records` as one frame and fsync it.
    pub fn append(&mut self, records: &[OffsetRecord]) -> io::Result<()> {
        if self.failed {
            return Err(io::Error::other(
                "an earlier write to the offsets file failed",
            ));
        }
        let frame = encode_frame(records)?;
        let written = self
            .file
            .write_all(&frame)
            .and_then(|()| self.file.sync_data());
        if written.is_err() {
            self.failed = true;
        }
        written?;
        self.len_bytes += frame.len() as u64;
        Ok(())
    }

    /// The file has grown to twice its compacted size (and past a floor).
    fn needs_compaction(&self) -> bool {
        !self.failed
            && self.len_bytes > COMPACT_MIN_BYTES
            && self.len_bytes > self.compacted_len_bytes.saturating_mul(2)
    }

    /// Replace the file by `live` (every current offset): temp file, fsync,
    /// rename, fsync the directory.
    pub fn compact(&mut self, live: &[OffsetRecord]) -> io::Result<()> {
        let tmp = self.dir.join(COMPACTING_FILE);
        let path = self.dir.join(OFFSETS_FILE);
        let mut len_bytes = 0u64;
        {
            let mut out = File::create(&tmp)?;
            for chunk in live.chunks(COMPACT_RECORDS_PER_FRAME) {
                let frame = encode_frame(chunk)?;
                out.write_all(&frame)?;
                len_bytes += frame.len() as u64;
            }
            out.sync_all()?;
        }
        fs::rename(&tmp, &path)?;
        sync_dir(&self.dir)?;
        self.file = OpenOptions::new().read(true).append(true).open(&path)?;
        self.len_bytes = len_bytes;
        self.compacted_len_bytes = len_bytes;
        Ok(())
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn put_str<const WIDE: bool>(out: &mut Vec<u8>, s: &str) -> io::Result<()> {
    let too_long = || {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "string too long for the offsets file",
        )
    };
    if WIDE {
        out.extend_from_slice(
            &u32::try_from(s.len())
                .map_err(|_| too_long())?
                .to_be_bytes(),
        );
    } else {
        out.extend_from_slice(
            &u16::try_from(s.len())
                .map_err(|_| too_long())?
                .to_be_bytes(),
        );
    }
    out.extend_from_slice(s.as_bytes());
    Ok(())
}

fn encode_record(out: &mut Vec<u8>, record: &OffsetRecord) -> io::Result<()> {
    out.push(u8::from(record.value.is_some()));
    put_str::<false>(out, &record.group_id)?;
    put_str::<false>(out, &record.partition.topic)?;
    out.extend_from_slice(&record.partition.partition.to_be_bytes());
    if let Some(value) = &record.value {
        out.extend_from_slice(&value.offset.0.to_be_bytes());
        out.extend_from_slice(&value.leader_epoch.0.to_be_bytes());
        out.extend_from_slice(&value.commit_timestamp_ms.to_be_bytes());
        put_str::<true>(out, &value.metadata)?;
    }
    Ok(())
}

/// One frame holding `records`.
pub fn encode_frame(records: &[OffsetRecord]) -> io::Result<Vec<u8>> {
    let mut payload = Vec::new();
    let count = u32::try_from(records.len()).map_err(|_| io::Error::other("too many records"))?;
    payload.extend_from_slice(&count.to_be_bytes());
    for record in records {
        encode_record(&mut payload, record)?;
    }
    if payload.len() > MAX_FRAME_BYTES {
        return Err(io::Error::other("offset commit too large for one frame"));
    }
    let mut frame = Vec::with_capacity(FRAME_HEADER_BYTES + payload.len());
    frame.push(FRAME_MAGIC);
    frame.push(FRAME_VERSION);
    frame.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    frame.extend_from_slice(&crc32c::crc32c(&payload).to_be_bytes());
    frame.extend_from_slice(&payload);
    Ok(frame)
}

/// What [`decode_frames`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// Records of the valid frames, in order.
    pub records: Vec<OffsetRecord>,
    /// Bytes up to the end of the last valid frame.
    pub valid_len: usize,
    /// Why decoding stopped before the end, if it did.
    pub stopped: Option<String>,
}

/// Decode frames until the end or the first bad one.
pub fn decode_frames(bytes: &[u8]) -> Decoded {
    let mut records = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        match decode_frame(&bytes[pos..]) {
            Ok((frame_records, used)) => {
                records.extend(frame_records);
                pos += used;
            }
            Err(why) => {
                return Decoded {
                    records,
                    valid_len: pos,
                    stopped: Some(why),
                }
            }
        }
    }
    Decoded {
        records,
        valid_len: pos,
        stopped: None,
    }
}

fn decode_frame(bytes: &[u8]) -> Result<(Vec<OffsetRecord>, usize), String> {
    let mut header = Reader { bytes, pos: 0 };
    let magic = header.u8()?;
    let version = header.u8()?;
    if magic != FRAME_MAGIC || version != FRAME_VERSION {
        return Err(format!("bad frame magic/version {magic:#x}/{version}"));
    }
    let len = header.u32()? as usize;
    let crc = header.u32()?;
    if len > MAX_FRAME_BYTES {
        return Err(format!("frame of {len} bytes"));
    }
    let payload = header.take(len)?;
    if crc32c::crc32c(payload) != crc {
        return Err("CRC mismatch".to_string());
    }
    let mut reader = Reader {
        bytes: payload,
        pos: 0,
    };
    let count = reader.u32()?;
    let mut records = Vec::new();
    for _ in 0..count {
        records.push(reader.record()?);
    }
    if reader.pos != payload.len() {
        return Err("trailing bytes in frame".to_string());
    }
    Ok((records, FRAME_HEADER_BYTES + len))
}

/// A bounds-checked big-endian reader; every error is a message.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|end| *end <= self.bytes.len());
        let end = end.ok_or_else(|| "truncated".to_string())?;
        let slice = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, String> {
        Ok(self.array::<1>()?[0])
    }

    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    fn i32(&mut self) -> Result<i32, String> {
        Ok(i32::from_be_bytes(self.array()?))
    }

    fn i64(&mut self) -> Result<i64, String> {
        Ok(i64::from_be_bytes(self.array()?))
    }

    fn string(&mut self, len: usize) -> Result<String, String> {
        String::from_utf8(self.take(len)?.to_vec()).map_err(|_| "invalid UTF-8".to_string())
    }

    fn short_string(&mut self) -> Result<String, String> {
        let len = u16::from_be_bytes(self.array()?) as usize;
        self.string(len)
    }

    fn record(&mut self) -> Result<OffsetRecord, String> {
        let kind = self.u8()?;
        let group_id = self.short_string()?;
        let topic = self.short_string()?;
        let partition = self.i32()?;
        let value = match kind {
            0 => None,
            1 => Some(CommittedOffset {
                offset: Offset(self.i64()?),
                leader_epoch: LeaderEpoch(self.i32()?),
                commit_timestamp_ms: self.i64()?,
                metadata: {
                    let len = self.u32()? as usize;
                    self.string(len)?
                },
            }),
            other => return Err(format!("unknown record kind {other}")),
        };
        Ok(OffsetRecord {
            group_id,
            partition: TopicPartition::new(topic, partition),
            value,
        })
    }
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

    const UNKNOWN_TOPIC: &str = "gone";

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
    async fn offsets_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let groups = GroupCoordinatorHandle::new(dir.path().to_path_buf(), config()).unwrap();
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
        groups.shutdown().await;

        let groups = GroupCoordinatorHandle::new(dir.path().to_path_buf(), config()).unwrap();
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
        let groups = GroupCoordinatorHandle::new(dir.path().to_path_buf(), config()).unwrap();
        let response = groups.fetch_offsets(&fetch_v9("nobody"), 9);
        assert_eq!(response.groups[0].error_code, 0);
        assert_eq!(fetched_v9(&response), vec![(0, -1, -1), (1, -1, -1)]);
        encodes(&response, 9);
        groups.shutdown().await;
    }

    #[tokio::test]
    async fn two_consumers_share_a_rebalance() {
        let dir = tempfile::tempdir().unwrap();
        let groups = GroupCoordinatorHandle::new(dir.path().to_path_buf(), config()).unwrap();
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
        let groups = GroupCoordinatorHandle::new(dir.path().to_path_buf(), config()).unwrap();
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
        let groups = GroupCoordinatorHandle::new(dir.path().to_path_buf(), slow).unwrap();
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
        let groups = GroupCoordinatorHandle::new(dir.path().to_path_buf(), config()).unwrap();
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

    fn record(group: &str, partition: i32, value: Option<i64>) -> OffsetRecord {
        OffsetRecord {
            group_id: group.into(),
            partition: TopicPartition::new("t", partition),
            value: value.map(|offset| CommittedOffset {
                offset: Offset(offset),
                leader_epoch: LeaderEpoch(2),
                metadata: "meta".into(),
                commit_timestamp_ms: 1_700_000_000_000,
            }),
        }
    }

    #[test]
    fn frames_round_trip_and_stop_at_damage() {
        let first = vec![record("g", 0, Some(1)), record("g", 1, None)];
        let second = vec![record("h", 0, Some(9))];
        let mut bytes = encode_frame(&first).unwrap();
        let first_len = bytes.len();
        bytes.extend(encode_frame(&second).unwrap());
        let all: Vec<OffsetRecord> = first.iter().chain(&second).cloned().collect();
        assert_eq!(
            decode_frames(&bytes),
            Decoded {
                records: all,
                valid_len: bytes.len(),
                stopped: None,
            }
        );
        // A torn second frame: only the first one counts.
        let torn = decode_frames(&bytes[..bytes.len() - 1]);
        assert_eq!((torn.records, torn.valid_len), (first.clone(), first_len));
        // A flipped bit in the second frame's payload: CRC mismatch.
        let mut flipped = bytes.clone();
        *flipped.last_mut().unwrap() ^= 1;
        let damaged = decode_frames(&flipped);
        assert_eq!(damaged.records, first);
        assert_eq!(damaged.stopped.as_deref(), Some("CRC mismatch"));
        // A huge declared length is corruption, not an allocation.
        let mut huge = vec![FRAME_MAGIC, FRAME_VERSION];
        huge.extend_from_slice(&u32::MAX.to_be_bytes());
        huge.extend_from_slice(&[0; 4]);
        assert_eq!(decode_frames(&huge).valid_len, 0);
    }

    #[test]
    fn open_truncates_a_torn_tail_and_compaction_keeps_live_offsets() {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, records) = OffsetStore::open(dir.path()).unwrap();
        assert!(records.is_empty());
        store.append(&[record("g", 0, Some(1))]).unwrap();
        store
            .append(&[record("g", 0, Some(2)), record("g", 1, Some(3))])
            .unwrap();
        store.append(&[record("g", 1, None)]).unwrap();
        let good_len = store.len_bytes;
        drop(store);
        let path = dir.path().join(OFFSETS_FILE);
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(&encode_frame(&[record("g", 5, Some(5))]).unwrap()[..7])
            .unwrap();
        drop(file);

        let (mut store, records) = OffsetStore::open(dir.path()).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().len(), good_len);
        let mut core = GroupCoordinator::new(GroupConfig::default());
        core.apply_offsets(&records, 0);
        assert_eq!(core.committed_offsets(), vec![record("g", 0, Some(2))]);
        store.compact(&core.committed_offsets()).unwrap();
        store.append(&[record("g", 2, Some(4))]).unwrap();
        drop(store);
        let (_, records) = OffsetStore::open(dir.path()).unwrap();
        assert_eq!(
            records,
            vec![record("g", 0, Some(2)), record("g", 2, Some(4))]
        );
    }
}
