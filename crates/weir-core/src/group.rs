//! Consumer groups: Kafka's classic group protocol (JoinGroup, SyncGroup,
//! Heartbeat, LeaveGroup) and committed offsets, as a pure state machine.
//!
//! [`GroupCoordinator`] holds every group this broker coordinates. It reads
//! no clock (`now_ms` comes in), makes no random numbers (the caller passes
//! the member id a new member would get) and does no I/O: committed offsets
//! come out as [`OffsetRecord`]s for the caller to make durable and go back
//! in through [`GroupCoordinator::apply_offsets`].
//!
//! JoinGroup and SyncGroup may wait (a join parks until the rebalance ends,
//! a follower's sync parks until the leader sends the assignment). Each such
//! request carries a caller-chosen [`RequestToken`]; its answer comes out as
//! a [`GroupAction`], from the call itself or from a later call or
//! [`GroupCoordinator::tick`]. Invariant: every token is answered exactly
//! once (a superseded or fenced request is answered with an error rather
//! than dropped), so the caller never leaks a waiting request.
//!
//! The rules are those of Apache Kafka's `GroupMetadataManager` and
//! `ClassicGroup` (group-coordinator module, Kafka 3.9/4.0):
//! - states Empty → PreparingRebalance → CompletingRebalance → Stable;
//! - the first rebalance of an empty group waits
//!   `group.initial.rebalance.delay.ms`, extended while new members keep
//!   arriving, up to the rebalance timeout (KIP-134);
//! - KIP-394: from JoinGroup v4 a member without an id gets
//!   MEMBER_ID_REQUIRED and an id, and is "pending" until it rejoins;
//! - KIP-345: static members (`group.instance.id`) survive restarts without
//!   a rebalance and fence older instances (FENCED_INSTANCE_ID);
//! - KIP-814: a static leader that rejoins a stable group (JoinGroup v9+)
//!   gets the member list with `skip_assignment`;
//! - members that do not send SyncGroup within the rebalance timeout are
//!   removed and the group rebalances (Kafka's `expirePendingSync`).

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use weir_protocol::kafka_protocol::ResponseError;
use weir_protocol::{LeaderEpoch, Offset, TopicPartition};

/// A caller-chosen id for one JoinGroup or SyncGroup request, so that an
/// answer produced later can be routed back to the waiting connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestToken(pub u64);

/// Errors the group coordinator answers with; each is a Kafka error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum GroupError {
    /// The group id is empty (JoinGroup, SyncGroup, Heartbeat, LeaveGroup).
    #[error("INVALID_GROUP_ID: the group id is empty")]
    InvalidGroupId,
    /// The session timeout is outside the broker's allowed range.
    #[error("INVALID_SESSION_TIMEOUT: outside group.min/max.session.timeout.ms")]
    InvalidSessionTimeout,
    /// The member (or group) is not known to the coordinator.
    #[error("UNKNOWN_MEMBER_ID: the member is not in the group")]
    UnknownMemberId,
    /// KIP-394: join again with the member id in this response.
    #[error("MEMBER_ID_REQUIRED: rejoin with the given member id (KIP-394)")]
    MemberIdRequired,
    /// The request's generation is not the group's.
    #[error("ILLEGAL_GENERATION: the generation is not the group's current one")]
    IllegalGeneration,
    /// The group is rebalancing; the member must rejoin.
    #[error("REBALANCE_IN_PROGRESS: the group is rebalancing")]
    RebalanceInProgress,
    /// The protocol type or protocols do not match the group's.
    #[error("INCONSISTENT_GROUP_PROTOCOL: no protocol in common with the group")]
    InconsistentGroupProtocol,
    /// KIP-345: a newer instance with the same `group.instance.id` joined.
    #[error("FENCED_INSTANCE_ID: a newer member has this group.instance.id")]
    FencedInstanceId,
    /// The group has `group.max.size` members.
    #[error("GROUP_MAX_SIZE_REACHED: the group is full")]
    GroupMaxSizeReached,
    /// The coordinator is shutting down or cannot store offsets.
    #[error("COORDINATOR_NOT_AVAILABLE: the coordinator is not available")]
    CoordinatorNotAvailable,
    /// The coordinator gave up its groups (shutdown); find it again.
    #[error("NOT_COORDINATOR: this broker no longer coordinates the group")]
    NotCoordinator,
    /// The coordinator is still loading the group's offsets; retry.
    #[error("COORDINATOR_LOAD_IN_PROGRESS: the coordinator is loading the group")]
    CoordinatorLoadInProgress,
    /// OffsetCommit v9+ to a group that does not exist with a generation.
    #[error("GROUP_ID_NOT_FOUND: the group does not exist")]
    GroupIdNotFound,
    /// The committed metadata is longer than `offset.metadata.max.bytes`.
    #[error("OFFSET_METADATA_TOO_LARGE: the commit metadata is too long")]
    OffsetMetadataTooLarge,
}

impl GroupError {
    /// The Kafka error this is.
    pub fn response_error(self) -> ResponseError {
        use ResponseError as E;
        match self {
            GroupError::InvalidGroupId => E::InvalidGroupId,
            GroupError::InvalidSessionTimeout => E::InvalidSessionTimeout,
            GroupError::UnknownMemberId => E::UnknownMemberId,
            GroupError::MemberIdRequired => E::MemberIdRequired,
            GroupError::IllegalGeneration => E::IllegalGeneration,
            GroupError::RebalanceInProgress => E::RebalanceInProgress,
            GroupError::InconsistentGroupProtocol => E::InconsistentGroupProtocol,
            GroupError::FencedInstanceId => E::FencedInstanceId,
            GroupError::GroupMaxSizeReached => E::GroupMaxSizeReached,
            GroupError::CoordinatorNotAvailable => E::CoordinatorNotAvailable,
            GroupError::NotCoordinator => E::NotCoordinator,
            GroupError::CoordinatorLoadInProgress => E::CoordinatorLoadInProgress,
            GroupError::GroupIdNotFound => E::GroupIdNotFound,
            GroupError::OffsetMetadataTooLarge => E::OffsetMetadataTooLarge,
        }
    }

    /// The Kafka error code.
    pub fn code(self) -> i16 {
        self.response_error().code()
    }
}

/// The error code of an optional error (0 for none).
pub fn error_code(error: Option<GroupError>) -> i16 {
    error.map_or(0, GroupError::code)
}

/// The member id Kafka gives a new member: `<group.instance.id or
/// client.id>-<unique>` (`ClassicGroup.generateMemberId`); the caller picks
/// `unique` (a UUID) so this module stays deterministic.
pub fn member_id_for(
    client_id: &str,
    group_instance_id: Option<&str>,
    unique: impl fmt::Display,
) -> String {
    format!("{}-{unique}", group_instance_id.unwrap_or(client_id))
}

/// Broker settings for groups (Kafka's names and defaults).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupConfig {
    /// `group.initial.rebalance.delay.ms` (3000): how long the first
    /// rebalance of an empty group waits for more members (KIP-134).
    pub initial_rebalance_delay_ms: i64,
    /// `group.min.session.timeout.ms` (6000).
    pub min_session_timeout_ms: i32,
    /// `group.max.session.timeout.ms` (1800000).
    pub max_session_timeout_ms: i32,
    /// `group.max.size` (unbounded in Kafka: `Integer.MAX_VALUE`).
    pub max_size: usize,
    /// How long a new member's parked JoinGroup may wait before it is
    /// dropped (Kafka's `classicGroupNewMemberJoinTimeoutMs`, 5 minutes).
    pub new_member_join_timeout_ms: i64,
    /// `offset.metadata.max.bytes` (4096).
    pub offset_metadata_max_bytes: usize,
    /// `offsets.retention.minutes` (7 days) in milliseconds.
    pub offsets_retention_ms: i64,
}

impl Default for GroupConfig {
    fn default() -> Self {
        GroupConfig {
            initial_rebalance_delay_ms: 3_000,
            min_session_timeout_ms: 6_000,
            max_session_timeout_ms: 1_800_000,
            max_size: i32::MAX as usize,
            new_member_join_timeout_ms: 300_000,
            offset_metadata_max_bytes: 4_096,
            offsets_retention_ms: 7 * 24 * 60 * 60 * 1_000,
        }
    }
}

/// A classic group's state (Kafka's `ClassicGroupState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GroupState {
    /// No members; offsets may remain.
    Empty,
    /// Waiting for members to (re)join.
    PreparingRebalance,
    /// Waiting for the leader's assignment.
    CompletingRebalance,
    /// Every member has its assignment.
    Stable,
    /// Unknown group (only ever reported, never stored).
    Dead,
}

impl GroupState {
    /// The name Kafka puts on the wire (ListGroups v4+, DescribeGroups).
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }

    /// States from which PreparingRebalance may be entered.
    fn can_rebalance(self) -> bool {
        matches!(
            self,
            GroupState::Empty | GroupState::CompletingRebalance | GroupState::Stable
        )
    }
}

/// One protocol a member supports, with its metadata (for consumers: the
/// subscription, opaque to the coordinator).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Protocol {
    /// Protocol name (e.g. `range`, `cooperative-sticky`).
    pub name: String,
    /// Opaque metadata.
    pub metadata: Vec<u8>,
}

/// A JoinGroup request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinRequest {
    /// Group id.
    pub group_id: String,
    /// Member id; empty for a member that has none yet.
    pub member_id: String,
    /// KIP-345 `group.instance.id` (static membership).
    pub group_instance_id: Option<String>,
    /// The request header's client id.
    pub client_id: String,
    /// The client's address, as DescribeGroups shows it.
    pub client_host: String,
    /// Session timeout.
    pub session_timeout_ms: i32,
    /// Rebalance timeout (v0 has none: the session timeout is used).
    pub rebalance_timeout_ms: i32,
    /// Protocol type (`consumer` for consumers).
    pub protocol_type: String,
    /// Supported protocols, most preferred first.
    pub protocols: Vec<Protocol>,
    /// JoinGroup v4+ (KIP-394): a member without an id must get one first.
    pub require_known_member_id: bool,
    /// JoinGroup v9+ (KIP-814): the response may carry `skip_assignment`.
    pub supports_skip_assignment: bool,
}

/// A member as the leader sees it in its JoinGroup response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinedMember {
    /// Member id.
    pub member_id: String,
    /// Static instance id.
    pub group_instance_id: Option<String>,
    /// The member's metadata for the chosen protocol.
    pub metadata: Vec<u8>,
}

/// A JoinGroup response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinResponse {
    /// Error, if any.
    pub error: Option<GroupError>,
    /// Generation (-1 on error).
    pub generation_id: i32,
    /// The group's protocol type.
    pub protocol_type: Option<String>,
    /// The chosen protocol.
    pub protocol_name: Option<String>,
    /// The leader's member id.
    pub leader: String,
    /// KIP-814: the leader must not compute a new assignment.
    pub skip_assignment: bool,
    /// The member's id (the new one for MEMBER_ID_REQUIRED).
    pub member_id: String,
    /// All members, for the leader only.
    pub members: Vec<JoinedMember>,
}

impl JoinResponse {
    /// An error response, as Kafka builds it (generation -1, no leader).
    pub fn error(member_id: &str, error: GroupError) -> JoinResponse {
        JoinResponse {
            error: Some(error),
            generation_id: -1,
            protocol_type: None,
            protocol_name: None,
            leader: String::new(),
            skip_assignment: false,
            member_id: member_id.to_string(),
            members: Vec::new(),
        }
    }
}

/// A SyncGroup request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncRequest {
    /// Group id.
    pub group_id: String,
    /// Generation.
    pub generation_id: i32,
    /// Member id.
    pub member_id: String,
    /// Static instance id.
    pub group_instance_id: Option<String>,
    /// v5+: must match the group's if set.
    pub protocol_type: Option<String>,
    /// v5+: must match the group's if set.
    pub protocol_name: Option<String>,
    /// The leader's assignment: (member id, assignment).
    pub assignments: Vec<(String, Vec<u8>)>,
}

/// A SyncGroup response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncResponse {
    /// Error, if any.
    pub error: Option<GroupError>,
    /// The group's protocol type (on success).
    pub protocol_type: Option<String>,
    /// The group's protocol (on success).
    pub protocol_name: Option<String>,
    /// This member's assignment.
    pub assignment: Vec<u8>,
}

impl SyncResponse {
    /// An error response.
    pub fn error(error: GroupError) -> SyncResponse {
        SyncResponse {
            error: Some(error),
            protocol_type: None,
            protocol_name: None,
            assignment: Vec::new(),
        }
    }
}

/// A Heartbeat request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatRequest {
    /// Group id.
    pub group_id: String,
    /// Generation.
    pub generation_id: i32,
    /// Member id.
    pub member_id: String,
    /// Static instance id.
    pub group_instance_id: Option<String>,
}

/// One member leaving (LeaveGroup v3+ batches them; KIP-345).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeavingMember {
    /// Member id; may be empty when `group_instance_id` names the member.
    pub member_id: String,
    /// Static instance id.
    pub group_instance_id: Option<String>,
}

/// A LeaveGroup request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaveRequest {
    /// Group id.
    pub group_id: String,
    /// The members leaving.
    pub members: Vec<LeavingMember>,
}

/// The result for one leaving member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeftMember {
    /// As in the request.
    pub member_id: String,
    /// As in the request.
    pub group_instance_id: Option<String>,
    /// Error, if any.
    pub error: Option<GroupError>,
}

/// A LeaveGroup response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaveResponse {
    /// Top-level error (INVALID_GROUP_ID only).
    pub error: Option<GroupError>,
    /// One entry per requested member.
    pub members: Vec<LeftMember>,
}

/// Output of the coordinator: answers for parked requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupAction {
    /// Answer the JoinGroup request `token`.
    CompleteJoin {
        /// The request.
        token: RequestToken,
        /// Its response.
        response: JoinResponse,
    },
    /// Answer the SyncGroup request `token`.
    CompleteSync {
        /// The request.
        token: RequestToken,
        /// Its response.
        response: SyncResponse,
    },
}

/// A committed offset (Kafka's `OffsetAndMetadata`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    /// The next offset to consume.
    pub offset: Offset,
    /// Leader epoch of the last consumed record (KIP-320), or NONE.
    pub leader_epoch: LeaderEpoch,
    /// Client metadata ("" when the client sent none).
    pub metadata: String,
    /// When the coordinator accepted the commit.
    pub commit_timestamp_ms: i64,
}

/// A change to the committed offsets, to be made durable by the caller:
/// `Some` commits, `None` deletes (expiration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetRecord {
    /// Group id.
    pub group_id: String,
    /// Topic and partition.
    pub partition: TopicPartition,
    /// The offset, or `None` for a tombstone.
    pub value: Option<CommittedOffset>,
}

/// One partition of an OffsetCommit request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitPartition {
    /// Partition index.
    pub partition: i32,
    /// Offset to commit.
    pub offset: Offset,
    /// Leader epoch (-1 for none).
    pub leader_epoch: LeaderEpoch,
    /// Client metadata.
    pub metadata: Option<String>,
}

/// One topic of an OffsetCommit request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitTopic {
    /// Topic name.
    pub name: String,
    /// Partitions.
    pub partitions: Vec<CommitPartition>,
}

/// An OffsetCommit request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetCommitRequest {
    /// Group id.
    pub group_id: String,
    /// Generation; -1 for a commit outside group management.
    pub generation_id: i32,
    /// Member id ("" outside group management).
    pub member_id: String,
    /// Static instance id.
    pub group_instance_id: Option<String>,
    /// Topics.
    pub topics: Vec<CommitTopic>,
    /// OffsetCommit v9+: an unknown group with a generation is
    /// GROUP_ID_NOT_FOUND rather than ILLEGAL_GENERATION.
    pub group_id_not_found_supported: bool,
}

/// Per-partition results of one topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicResult {
    /// Topic name.
    pub name: String,
    /// (partition, error) in request order.
    pub partitions: Vec<(i32, Option<GroupError>)>,
}

/// The result of validating an OffsetCommit: the response to send once
/// `records` are durable, and the records themselves (apply them with
/// [`GroupCoordinator::apply_offsets`] after they are).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitOutcome {
    /// Per-topic results, in request order.
    pub topics: Vec<TopicResult>,
    /// Offsets to persist, then apply.
    pub records: Vec<OffsetRecord>,
}

/// One topic of an OffsetFetch request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchTopic {
    /// Topic name.
    pub name: String,
    /// Partitions.
    pub partitions: Vec<i32>,
}

/// One partition of an OffsetFetch response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedPartition {
    /// Partition index.
    pub partition: i32,
    /// Committed offset, -1 when none.
    pub offset: i64,
    /// Committed leader epoch, -1 when none.
    pub leader_epoch: i32,
    /// Committed metadata ("" when none).
    pub metadata: String,
}

/// One topic of an OffsetFetch response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedTopic {
    /// Topic name.
    pub name: String,
    /// Partitions.
    pub partitions: Vec<FetchedPartition>,
}

/// A group as ListGroups shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupListing {
    /// Group id.
    pub group_id: String,
    /// Protocol type ("" for a group that only stores offsets).
    pub protocol_type: String,
    /// State.
    pub state: GroupState,
    /// Group type (KIP-848 names it; ours are all "classic").
    pub group_type: &'static str,
}

/// A member as DescribeGroups shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberDescription {
    /// Member id.
    pub member_id: String,
    /// Static instance id.
    pub group_instance_id: Option<String>,
    /// Client id.
    pub client_id: String,
    /// Client host.
    pub client_host: String,
    /// Metadata for the chosen protocol (Stable groups only).
    pub metadata: Vec<u8>,
    /// Current assignment.
    pub assignment: Vec<u8>,
}

/// A group as DescribeGroups shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    /// Group id.
    pub group_id: String,
    /// State (Dead for an unknown group).
    pub state: GroupState,
    /// Protocol type.
    pub protocol_type: String,
    /// The chosen protocol (Stable groups only).
    pub protocol_data: String,
    /// Members.
    pub members: Vec<MemberDescription>,
}

/// Kafka's name for classic groups in ListGroups v5 (KIP-848).
pub const CLASSIC_GROUP_TYPE: &str = "classic";

// ---------------------------------------------------------------------------
// Internal state
// ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Member {
    id: String,
    instance_id: Option<String>,
    client_id: String,
    client_host: String,
    rebalance_timeout_ms: i32,
    session_timeout_ms: i32,
    protocols: Vec<Protocol>,
    assignment: Vec<u8>,
    /// A parked JoinGroup. Invariant: at most one per member.
    awaiting_join: Option<RequestToken>,
    /// A parked SyncGroup. Invariant: at most one per member.
    awaiting_sync: Option<RequestToken>,
    /// Joined during the current rebalance: may expire while its join is
    /// parked (after `new_member_join_timeout_ms`), since it cannot
    /// heartbeat yet.
    is_new: bool,
    /// When the session expires, if a check is scheduled.
    heartbeat_deadline_ms: Option<i64>,
}

impl Member {
    fn metadata(&self, protocol: &str) -> Vec<u8> {
        self.protocols
            .iter()
            .find(|p| p.name == protocol)
            .map(|p| p.metadata.clone())
            .unwrap_or_default()
    }

    /// Kafka's `hasSatisfiedHeartbeat`: a member with a parked request is
    /// alive (its connection is waiting on us), unless it is new.
    fn has_satisfied_heartbeat(&self) -> bool {
        !self.is_new && (self.awaiting_join.is_some() || self.awaiting_sync.is_some())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JoinTimer {
    /// KIP-134 initial delay: extended by `delay_ms` while new members keep
    /// joining, until `remaining_ms` is used up.
    Initial {
        deadline_ms: i64,
        delay_ms: i64,
        remaining_ms: i64,
    },
    /// Rebalance timeout: complete with whoever has rejoined.
    Rebalance { deadline_ms: i64 },
}

impl JoinTimer {
    fn deadline_ms(self) -> i64 {
        match self {
            JoinTimer::Initial { deadline_ms, .. } | JoinTimer::Rebalance { deadline_ms } => {
                deadline_ms
            }
        }
    }
}

/// A timer that fired.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Expired {
    Pending(String),
    Heartbeat(String),
    Join,
    Sync,
}

#[derive(Debug, Clone)]
struct Group {
    id: String,
    state: GroupState,
    previous_state: GroupState,
    state_timestamp_ms: i64,
    generation_id: i32,
    protocol_type: Option<String>,
    protocol_name: Option<String>,
    /// Invariant: `Some` iff `members` is not empty, naming one of them.
    leader_id: Option<String>,
    /// In join order (the first joiner leads; Kafka's order is a hash map's).
    members: Vec<Member>,
    /// KIP-394 ids handed out with MEMBER_ID_REQUIRED, with their expiry.
    pending_members: Vec<(String, i64)>,
    /// Members that have not sent SyncGroup in this generation.
    pending_sync: BTreeSet<String>,
    /// A member joined during the initial rebalance delay.
    new_member_added: bool,
    join_timer: Option<JoinTimer>,
    /// (deadline, generation) of the pending-sync expiration.
    sync_timer: Option<(i64, i32)>,
}

/// What a group operation needs besides the group: settings, time, and
/// where answers go.
struct Cx<'a> {
    config: &'a GroupConfig,
    now_ms: i64,
    out: &'a mut Vec<GroupAction>,
}

impl Cx<'_> {
    /// A deadline `ms` from now, at least 1 ms ahead so a timer re-armed
    /// inside `tick` never fires again in the same tick.
    fn after(&self, ms: i64) -> i64 {
        self.now_ms.saturating_add(ms.max(1))
    }

    fn join(&mut self, token: RequestToken, response: JoinResponse) {
        self.out.push(GroupAction::CompleteJoin { token, response });
    }

    fn sync(&mut self, token: RequestToken, response: SyncResponse) {
        self.out.push(GroupAction::CompleteSync { token, response });
    }
}

impl Group {
    fn new(id: &str, now_ms: i64) -> Group {
        Group {
            id: id.to_string(),
            state: GroupState::Empty,
            previous_state: GroupState::Empty,
            state_timestamp_ms: now_ms,
            generation_id: 0,
            protocol_type: None,
            protocol_name: None,
            leader_id: None,
            members: Vec::new(),
            pending_members: Vec::new(),
            pending_sync: BTreeSet::new(),
            new_member_added: false,
            join_timer: None,
            sync_timer: None,
        }
    }

    // --- lookups -----------------------------------------------------------

    fn member(&self, id: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.id == id)
    }

    fn member_mut(&mut self, id: &str) -> Option<&mut Member> {
        self.members.iter_mut().find(|m| m.id == id)
    }

    fn is_leader(&self, id: &str) -> bool {
        self.leader_id.as_deref() == Some(id)
    }

    fn is_pending(&self, id: &str) -> bool {
        self.pending_members.iter().any(|(p, _)| p == id)
    }

    fn static_member_id(&self, instance_id: &str) -> Option<String> {
        self.members
            .iter()
            .find(|m| m.instance_id.as_deref() == Some(instance_id))
            .map(|m| m.id.clone())
    }

    fn num_awaiting_join(&self) -> usize {
        self.members
            .iter()
            .filter(|m| m.awaiting_join.is_some())
            .count()
    }

    fn has_all_members_joined(&self) -> bool {
        self.pending_members.is_empty() && self.members.iter().all(|m| m.awaiting_join.is_some())
    }

    /// The group's rebalance timeout: the largest of its members'.
    fn rebalance_timeout_ms(&self) -> i64 {
        self.members
            .iter()
            .map(|m| i64::from(m.rebalance_timeout_ms))
            .max()
            .unwrap_or(0)
    }

    fn is_empty_and_idle(&self) -> bool {
        self.state == GroupState::Empty && self.pending_members.is_empty()
    }

    fn transition(&mut self, to: GroupState, now_ms: i64) {
        self.previous_state = self.state;
        self.state = to;
        self.state_timestamp_ms = now_ms;
    }

    // --- protocols ---------------------------------------------------------

    /// Protocols every member supports.
    fn candidate_protocols(&self) -> BTreeSet<&str> {
        let Some((first, rest)) = self.members.split_first() else {
            return BTreeSet::new();
        };
        first
            .protocols
            .iter()
            .map(|p| p.name.as_str())
            .filter(|name| {
                rest.iter()
                    .all(|m| m.protocols.iter().any(|p| p.name == *name))
            })
            .collect()
    }

    /// Kafka's `supportsProtocols`: an empty group takes any non-empty
    /// protocol list; otherwise the type must match and one protocol must
    /// be supported by every member.
    fn supports_protocols(&self, protocol_type: &str, protocols: &[Protocol]) -> bool {
        if self.state == GroupState::Empty {
            return !protocol_type.is_empty() && !protocols.is_empty();
        }
        let candidates = self.candidate_protocols();
        self.protocol_type.as_deref() == Some(protocol_type)
            && protocols
                .iter()
                .any(|p| candidates.contains(p.name.as_str()))
    }

    /// Each member votes for its most preferred candidate; most votes wins
    /// (ties: the protocol voted for first).
    fn select_protocol(&self) -> Option<String> {
        let candidates = self.candidate_protocols();
        let mut votes: Vec<(&str, usize)> = Vec::new();
        for member in &self.members {
            let Some(vote) = member
                .protocols
                .iter()
                .map(|p| p.name.as_str())
                .find(|name| candidates.contains(name))
            else {
                continue;
            };
            match votes.iter_mut().find(|(name, _)| *name == vote) {
                Some((_, count)) => *count += 1,
                None => votes.push((vote, 1)),
            }
        }
        let best = votes.iter().map(|(_, count)| *count).max()?;
        votes
            .into_iter()
            .find(|(_, count)| *count == best)
            .map(|(name, _)| name.to_string())
    }

    fn current_members(&self) -> Vec<JoinedMember> {
        let protocol = self.protocol_name.as_deref().unwrap_or_default();
        self.members
            .iter()
            .map(|m| JoinedMember {
                member_id: m.id.clone(),
                group_instance_id: m.instance_id.clone(),
                metadata: m.metadata(protocol),
            })
            .collect()
    }

    /// The JoinGroup response of the current generation for `member_id`.
    fn generation_response(&self, member_id: &str, with_members: bool) -> JoinResponse {
        JoinResponse {
            error: None,
            generation_id: self.generation_id,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            leader: self.leader_id.clone().unwrap_or_default(),
            skip_assignment: false,
            member_id: member_id.to_string(),
            members: if with_members {
                self.current_members()
            } else {
                Vec::new()
            },
        }
    }

    // --- membership --------------------------------------------------------

    /// Kafka's `validateMember`: a static member must be the registered
    /// instance (else FENCED_INSTANCE_ID, KIP-345), and the member known.
    fn validate_member(
        &self,
        member_id: &str,
        instance_id: Option<&str>,
    ) -> Result<(), GroupError> {
        if let Some(instance_id) = instance_id {
            match self.static_member_id(instance_id) {
                None => return Err(GroupError::UnknownMemberId),
                Some(existing) if existing != member_id => {
                    return Err(GroupError::FencedInstanceId)
                }
                Some(_) => {}
            }
        }
        if self.member(member_id).is_none() {
            return Err(GroupError::UnknownMemberId);
        }
        Ok(())
    }

    /// Add a member; the first one sets the group's protocol type.
    fn add_member(&mut self, member: Member, protocol_type: &str) {
        if self.members.is_empty() {
            self.protocol_type = Some(protocol_type.to_string());
        }
        if self.leader_id.is_none() {
            self.leader_id = Some(member.id.clone());
        }
        self.pending_members.retain(|(id, _)| *id != member.id);
        self.members.push(member);
    }

    /// Remove a member (or pending member). A parked request of the member
    /// is answered UNKNOWN_MEMBER_ID so the client rejoins if it is alive.
    fn remove_member(&mut self, id: &str, cx: &mut Cx<'_>) {
        self.pending_members.retain(|(p, _)| p != id);
        self.pending_sync.remove(id);
        let Some(index) = self.members.iter().position(|m| m.id == id) else {
            return;
        };
        let member = self.members.remove(index);
        if let Some(token) = member.awaiting_join {
            cx.join(token, JoinResponse::error("", GroupError::UnknownMemberId));
        }
        if let Some(token) = member.awaiting_sync {
            cx.sync(token, SyncResponse::error(GroupError::UnknownMemberId));
        }
        if self.is_leader(id) {
            self.leader_id = self.members.first().map(|m| m.id.clone());
        }
    }

    /// Park `token` as the member's join; a join it replaces is answered
    /// REBALANCE_IN_PROGRESS (Kafka drops it; we answer every request).
    fn park_join(&mut self, member_id: &str, token: RequestToken, cx: &mut Cx<'_>) {
        let Some(member) = self.member_mut(member_id) else {
            return;
        };
        if let Some(old) = member.awaiting_join.replace(token) {
            if old != token {
                cx.join(
                    old,
                    JoinResponse::error(member_id, GroupError::RebalanceInProgress),
                );
            }
        }
    }

    /// Answer the member's parked join, if any.
    fn complete_member_join(&mut self, member_id: &str, response: JoinResponse, cx: &mut Cx<'_>) {
        if let Some(token) = self
            .member_mut(member_id)
            .and_then(|m| m.awaiting_join.take())
        {
            cx.join(token, response);
        }
    }

    fn reschedule_heartbeat(&mut self, member_id: &str, cx: &Cx<'_>) {
        if let Some(member) = self.member_mut(member_id) {
            member.heartbeat_deadline_ms = Some(cx.after(i64::from(member.session_timeout_ms)));
        }
    }

    // --- JoinGroup ---------------------------------------------------------

    fn join(
        &mut self,
        token: RequestToken,
        req: JoinRequest,
        new_member_id: String,
        cx: &mut Cx<'_>,
    ) {
        if !self.accepts_joining_member(&req.member_id, cx.config.max_size) {
            self.remove_member(&req.member_id, cx);
            cx.join(
                token,
                JoinResponse::error("", GroupError::GroupMaxSizeReached),
            );
        } else if req.member_id.is_empty() {
            self.join_new_member(token, req, new_member_id, cx);
        } else {
            self.join_existing_member(token, req, cx);
        }
    }

    /// Kafka's `acceptJoiningMember` (`group.max.size`).
    fn accepts_joining_member(&self, member_id: &str, max_size: usize) -> bool {
        match self.state {
            GroupState::Empty | GroupState::Dead => true,
            GroupState::PreparingRebalance => {
                self.member(member_id)
                    .is_some_and(|m| m.awaiting_join.is_some())
                    || self.num_awaiting_join() < max_size
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                self.member(member_id).is_some() || self.members.len() < max_size
            }
        }
    }

    fn join_new_member(
        &mut self,
        token: RequestToken,
        req: JoinRequest,
        new_member_id: String,
        cx: &mut Cx<'_>,
    ) {
        if !self.supports_protocols(&req.protocol_type, &req.protocols) {
            cx.join(
                token,
                JoinResponse::error("", GroupError::InconsistentGroupProtocol),
            );
        } else if let Some(instance_id) = req.group_instance_id.clone() {
            match self.static_member_id(&instance_id) {
                Some(old_id) => self.replace_static_member(token, req, &old_id, new_member_id, cx),
                None => self.add_member_and_rebalance(token, req, new_member_id, cx),
            }
        } else if req.require_known_member_id {
            // KIP-394: hand out an id; the member is pending until it
            // rejoins with it, or its session timeout passes.
            let deadline_ms = cx.after(i64::from(req.session_timeout_ms));
            self.pending_members
                .push((new_member_id.clone(), deadline_ms));
            cx.join(
                token,
                JoinResponse::error(&new_member_id, GroupError::MemberIdRequired),
            );
        } else {
            self.add_member_and_rebalance(token, req, new_member_id, cx);
        }
    }

    fn join_existing_member(&mut self, token: RequestToken, req: JoinRequest, cx: &mut Cx<'_>) {
        let id = req.member_id.clone();
        if !self.supports_protocols(&req.protocol_type, &req.protocols) {
            cx.join(
                token,
                JoinResponse::error(&id, GroupError::InconsistentGroupProtocol),
            );
        } else if self.is_pending(&id) {
            let taken = req
                .group_instance_id
                .as_deref()
                .is_some_and(|instance| self.static_member_id(instance).is_some());
            if taken {
                cx.join(
                    token,
                    JoinResponse::error(&id, GroupError::FencedInstanceId),
                );
            } else {
                self.add_member_and_rebalance(token, req, id, cx);
            }
        } else if let Err(e) = self.validate_member(&id, req.group_instance_id.as_deref()) {
            cx.join(token, JoinResponse::error(&id, e));
        } else {
            self.rejoin(token, req, cx);
        }
    }

    /// A known member joins again.
    fn rejoin(&mut self, token: RequestToken, req: JoinRequest, cx: &mut Cx<'_>) {
        let id = req.member_id.clone();
        let unchanged = self
            .member(&id)
            .is_some_and(|m| m.protocols == req.protocols);
        match self.state {
            GroupState::PreparingRebalance => self.update_member_and_rebalance(token, req, cx),
            // It may have missed the JoinGroup response: send it again.
            GroupState::CompletingRebalance if unchanged => {
                let response = self.generation_response(&id, self.is_leader(&id));
                cx.join(token, response);
            }
            // The leader rejoining forces a rebalance (e.g. topic metadata
            // changed); a follower with unchanged metadata just syncs.
            GroupState::Stable if unchanged && !self.is_leader(&id) => {
                cx.join(token, self.generation_response(&id, false));
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                self.update_member_and_rebalance(token, req, cx)
            }
            GroupState::Empty | GroupState::Dead => {
                cx.join(token, JoinResponse::error(&id, GroupError::UnknownMemberId))
            }
        }
    }

    fn new_member(req: JoinRequest, id: String, token: RequestToken, cx: &Cx<'_>) -> Member {
        Member {
            id,
            instance_id: req.group_instance_id,
            client_id: req.client_id,
            client_host: req.client_host,
            rebalance_timeout_ms: req.rebalance_timeout_ms,
            session_timeout_ms: req.session_timeout_ms,
            protocols: req.protocols,
            assignment: Vec::new(),
            awaiting_join: Some(token),
            awaiting_sync: None,
            is_new: true,
            heartbeat_deadline_ms: Some(cx.after(cx.config.new_member_join_timeout_ms)),
        }
    }

    fn add_member_and_rebalance(
        &mut self,
        token: RequestToken,
        req: JoinRequest,
        id: String,
        cx: &mut Cx<'_>,
    ) {
        // KIP-134: a member arriving during the initial delay extends it.
        if self.state == GroupState::PreparingRebalance && self.previous_state == GroupState::Empty
        {
            self.new_member_added = true;
        }
        let protocol_type = req.protocol_type.clone();
        let member = Self::new_member(req, id, token, cx);
        self.add_member(member, &protocol_type);
        self.maybe_prepare_rebalance_or_complete_join(cx);
    }

    fn update_member(&mut self, token: RequestToken, req: JoinRequest, cx: &mut Cx<'_>) {
        self.park_join(&req.member_id, token, cx);
        if let Some(member) = self.member_mut(&req.member_id) {
            member.protocols = req.protocols;
            member.rebalance_timeout_ms = req.rebalance_timeout_ms;
            member.session_timeout_ms = req.session_timeout_ms;
        }
    }

    fn update_member_and_rebalance(
        &mut self,
        token: RequestToken,
        req: JoinRequest,
        cx: &mut Cx<'_>,
    ) {
        self.update_member(token, req, cx);
        self.maybe_prepare_rebalance_or_complete_join(cx);
    }

    /// KIP-345: a static member rejoining without a member id takes over
    /// its instance's membership under a new id; the old id is fenced. In
    /// a stable group whose protocol does not change, no rebalance.
    fn replace_static_member(
        &mut self,
        token: RequestToken,
        mut req: JoinRequest,
        old_id: &str,
        new_id: String,
        cx: &mut Cx<'_>,
    ) {
        let current_leader = self.leader_id.clone().unwrap_or_default();
        let Some(member) = self.member_mut(old_id) else {
            return;
        };
        let fenced_join = member.awaiting_join.take();
        let fenced_sync = member.awaiting_sync.take();
        member.id = new_id.clone();
        member.is_new = false;
        if let Some(old) = fenced_join {
            cx.join(
                old,
                JoinResponse::error(old_id, GroupError::FencedInstanceId),
            );
        }
        if let Some(old) = fenced_sync {
            cx.sync(old, SyncResponse::error(GroupError::FencedInstanceId));
        }
        if self.pending_sync.remove(old_id) {
            self.pending_sync.insert(new_id.clone());
        }
        if self.is_leader(old_id) {
            self.leader_id = Some(new_id.clone());
        }
        self.reschedule_heartbeat(&new_id, cx);
        req.member_id = new_id.clone();
        let skip_supported = req.supports_skip_assignment;
        self.update_member(token, req, cx);
        match self.state {
            GroupState::Stable if self.protocol_name == self.select_protocol() => {
                let response = if skip_supported {
                    let is_leader = self.is_leader(&new_id);
                    JoinResponse {
                        skip_assignment: is_leader,
                        ..self.generation_response(&new_id, is_leader)
                    }
                } else {
                    JoinResponse {
                        leader: current_leader,
                        ..self.generation_response(&new_id, false)
                    }
                };
                self.complete_member_join(&new_id, response, cx);
            }
            GroupState::Stable => self.maybe_prepare_rebalance_or_complete_join(cx),
            // The leader may already have assigned to the old id.
            GroupState::CompletingRebalance => self.prepare_rebalance(cx),
            _ => self.maybe_complete_join_phase(cx),
        }
    }

    // --- rebalance ---------------------------------------------------------

    fn maybe_prepare_rebalance_or_complete_join(&mut self, cx: &mut Cx<'_>) {
        if self.state.can_rebalance() {
            self.prepare_rebalance(cx);
        } else {
            self.maybe_complete_join_phase(cx);
        }
    }

    fn prepare_rebalance(&mut self, cx: &mut Cx<'_>) {
        if self.state == GroupState::CompletingRebalance {
            self.reset_and_propagate_assignment(GroupError::RebalanceInProgress, cx);
        }
        self.pending_sync.clear();
        self.sync_timer = None;
        let initial = self.state == GroupState::Empty;
        if initial {
            let delay_ms = cx.config.initial_rebalance_delay_ms;
            self.join_timer = Some(JoinTimer::Initial {
                deadline_ms: cx.after(delay_ms),
                delay_ms,
                remaining_ms: (self.rebalance_timeout_ms() - delay_ms).max(0),
            });
        }
        self.transition(GroupState::PreparingRebalance, cx.now_ms);
        if !initial {
            if self.has_all_members_joined() {
                self.complete_join(cx);
            } else {
                self.arm_rebalance_timer(cx);
            }
        }
    }

    fn arm_rebalance_timer(&mut self, cx: &Cx<'_>) {
        self.join_timer = Some(JoinTimer::Rebalance {
            deadline_ms: cx.after(self.rebalance_timeout_ms()),
        });
    }

    /// Complete the join phase early when everyone has rejoined, except
    /// during the initial delay, which always runs its course.
    fn maybe_complete_join_phase(&mut self, cx: &mut Cx<'_>) {
        if self.state == GroupState::PreparingRebalance
            && self.previous_state != GroupState::Empty
            && self.has_all_members_joined()
        {
            self.complete_join(cx);
        }
    }

    /// End the join phase: drop dynamic members that did not rejoin, start
    /// the next generation and answer every parked join (the leader gets
    /// the member list).
    fn complete_join(&mut self, cx: &mut Cx<'_>) {
        self.join_timer = None;
        let gone: Vec<String> = self
            .members
            .iter()
            .filter(|m| m.awaiting_join.is_none() && m.instance_id.is_none())
            .map(|m| m.id.clone())
            .collect();
        for id in gone {
            self.remove_member(&id, cx);
        }
        if !self.elect_joined_leader() && !self.members.is_empty() {
            // Only static members that have not rejoined are left: wait.
            self.arm_rebalance_timer(cx);
            return;
        }
        self.init_next_generation(cx.now_ms);
        if self.state == GroupState::Empty {
            return;
        }
        self.answer_joins(cx);
        self.sync_timer = Some((cx.after(self.rebalance_timeout_ms()), self.generation_id));
    }

    fn answer_joins(&mut self, cx: &mut Cx<'_>) {
        let leader = self.leader_id.clone().unwrap_or_default();
        let all = self.current_members();
        let base = self.generation_response("", false);
        for member in &mut self.members {
            let members = if member.id == leader {
                all.clone()
            } else {
                Vec::new()
            };
            if let Some(token) = member.awaiting_join.take() {
                let response = JoinResponse {
                    member_id: member.id.clone(),
                    members,
                    ..base.clone()
                };
                cx.join(token, response);
            }
            member.heartbeat_deadline_ms = Some(cx.after(i64::from(member.session_timeout_ms)));
            member.is_new = false;
            self.pending_sync.insert(member.id.clone());
        }
    }

    /// Kafka's `maybeElectNewJoinedLeader`: keep the leader if it rejoined,
    /// else pick the first member that did. False if nobody rejoined.
    fn elect_joined_leader(&mut self) -> bool {
        let Some(leader) = &self.leader_id else {
            return false;
        };
        if self
            .member(leader)
            .is_some_and(|m| m.awaiting_join.is_some())
        {
            return true;
        }
        match self.members.iter().find(|m| m.awaiting_join.is_some()) {
            Some(member) => {
                self.leader_id = Some(member.id.clone());
                true
            }
            None => false,
        }
    }

    fn init_next_generation(&mut self, now_ms: i64) {
        self.generation_id = self.generation_id.saturating_add(1);
        if self.members.is_empty() {
            self.protocol_name = None;
            self.transition(GroupState::Empty, now_ms);
        } else {
            self.protocol_name = self.select_protocol();
            self.transition(GroupState::CompletingRebalance, now_ms);
        }
        self.pending_sync.clear();
    }

    /// Answer every parked sync with the member's assignment (or `error`).
    fn propagate_assignment(&mut self, error: Option<GroupError>, cx: &mut Cx<'_>) {
        let (protocol_type, protocol_name) = match error {
            None => (self.protocol_type.clone(), self.protocol_name.clone()),
            Some(_) => (None, None),
        };
        for member in &mut self.members {
            let Some(token) = member.awaiting_sync.take() else {
                continue;
            };
            let response = SyncResponse {
                error,
                protocol_type: protocol_type.clone(),
                protocol_name: protocol_name.clone(),
                assignment: member.assignment.clone(),
            };
            cx.sync(token, response);
            member.heartbeat_deadline_ms = Some(cx.after(i64::from(member.session_timeout_ms)));
        }
    }

    fn reset_and_propagate_assignment(&mut self, error: GroupError, cx: &mut Cx<'_>) {
        for member in &mut self.members {
            member.assignment.clear();
        }
        self.propagate_assignment(Some(error), cx);
    }

    // --- SyncGroup ---------------------------------------------------------

    fn sync(&mut self, token: RequestToken, req: SyncRequest, cx: &mut Cx<'_>) {
        if let Err(e) = self.validate_sync(&req) {
            return cx.sync(token, SyncResponse::error(e));
        }
        match self.state {
            GroupState::PreparingRebalance => {
                cx.sync(token, SyncResponse::error(GroupError::RebalanceInProgress))
            }
            GroupState::CompletingRebalance => self.sync_completing(token, req, cx),
            GroupState::Stable => {
                self.remove_pending_sync(&req.member_id);
                let assignment = self
                    .member(&req.member_id)
                    .map(|m| m.assignment.clone())
                    .unwrap_or_default();
                let response = SyncResponse {
                    error: None,
                    protocol_type: self.protocol_type.clone(),
                    protocol_name: self.protocol_name.clone(),
                    assignment,
                };
                cx.sync(token, response);
            }
            GroupState::Empty | GroupState::Dead => {
                cx.sync(token, SyncResponse::error(GroupError::UnknownMemberId))
            }
        }
    }

    fn validate_sync(&self, req: &SyncRequest) -> Result<(), GroupError> {
        if self.state == GroupState::Empty {
            return Err(GroupError::UnknownMemberId);
        }
        self.validate_member(&req.member_id, req.group_instance_id.as_deref())?;
        if req.generation_id != self.generation_id {
            return Err(GroupError::IllegalGeneration);
        }
        if inconsistent(&req.protocol_type, &self.protocol_type)
            || inconsistent(&req.protocol_name, &self.protocol_name)
        {
            return Err(GroupError::InconsistentGroupProtocol);
        }
        Ok(())
    }

    /// Park the sync; the leader's carries the assignment, which answers
    /// every parked sync and makes the group Stable.
    fn sync_completing(&mut self, token: RequestToken, req: SyncRequest, cx: &mut Cx<'_>) {
        let Some(member) = self.member_mut(&req.member_id) else {
            return cx.sync(token, SyncResponse::error(GroupError::UnknownMemberId));
        };
        if let Some(old) = member.awaiting_sync.replace(token) {
            cx.sync(old, SyncResponse::error(GroupError::RebalanceInProgress));
        }
        self.remove_pending_sync(&req.member_id);
        if !self.is_leader(&req.member_id) {
            return;
        }
        for member in &mut self.members {
            // Missing members get an empty assignment; a repeated id: last wins.
            member.assignment = req
                .assignments
                .iter()
                .rev()
                .find(|(id, _)| *id == member.id)
                .map(|(_, a)| a.clone())
                .unwrap_or_default();
        }
        self.propagate_assignment(None, cx);
        self.transition(GroupState::Stable, cx.now_ms);
    }

    fn remove_pending_sync(&mut self, member_id: &str) {
        self.pending_sync.remove(member_id);
        if self.pending_sync.is_empty() {
            self.sync_timer = None;
        }
    }

    // --- Heartbeat ---------------------------------------------------------

    fn heartbeat(&mut self, req: &HeartbeatRequest, cx: &Cx<'_>) -> Result<(), GroupError> {
        self.validate_member(&req.member_id, req.group_instance_id.as_deref())?;
        if req.generation_id != self.generation_id {
            return Err(GroupError::IllegalGeneration);
        }
        match self.state {
            GroupState::Empty | GroupState::Dead => Err(GroupError::UnknownMemberId),
            GroupState::PreparingRebalance => {
                self.reschedule_heartbeat(&req.member_id, cx);
                Err(GroupError::RebalanceInProgress)
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                self.reschedule_heartbeat(&req.member_id, cx);
                Ok(())
            }
        }
    }

    // --- LeaveGroup --------------------------------------------------------

    fn leave(&mut self, req: &LeaveRequest, cx: &mut Cx<'_>) -> Vec<LeftMember> {
        let results: Vec<LeftMember> = req
            .members
            .iter()
            .map(|m| LeftMember {
                member_id: m.member_id.clone(),
                group_instance_id: m.group_instance_id.clone(),
                error: self.leave_one(m, cx).err(),
            })
            .collect();
        if results.iter().any(|r| r.error.is_none()) {
            match self.state {
                GroupState::Stable | GroupState::CompletingRebalance => {
                    self.maybe_prepare_rebalance_or_complete_join(cx)
                }
                GroupState::PreparingRebalance => self.maybe_complete_join_phase(cx),
                GroupState::Empty | GroupState::Dead => {}
            }
        }
        results
    }

    fn leave_one(&mut self, leaving: &LeavingMember, cx: &mut Cx<'_>) -> Result<(), GroupError> {
        if leaving.member_id.is_empty() {
            // KIP-345: an admin may remove a static member by instance id.
            let id = leaving
                .group_instance_id
                .as_deref()
                .and_then(|instance| self.static_member_id(instance))
                .ok_or(GroupError::UnknownMemberId)?;
            self.remove_member(&id, cx);
        } else if self.is_pending(&leaving.member_id) {
            self.remove_member(&leaving.member_id, cx);
        } else {
            self.validate_member(&leaving.member_id, leaving.group_instance_id.as_deref())?;
            self.remove_member(&leaving.member_id, cx);
        }
        Ok(())
    }

    // --- timers ------------------------------------------------------------

    fn tick(&mut self, cx: &mut Cx<'_>) {
        // Every fired timer is consumed or re-armed strictly in the future
        // (Cx::after), so this terminates.
        while let Some(expired) = self.next_expired(cx.now_ms) {
            match expired {
                Expired::Pending(id) => self.expire_pending_member(&id, cx),
                Expired::Heartbeat(id) => self.expire_heartbeat(&id, cx),
                Expired::Join => self.expire_join(cx),
                Expired::Sync => self.expire_pending_sync(cx),
            }
        }
    }

    /// The earliest timer due at `now_ms`.
    fn next_expired(&self, now_ms: i64) -> Option<Expired> {
        let pending = self
            .pending_members
            .iter()
            .map(|(id, deadline)| (*deadline, Expired::Pending(id.clone())));
        let heartbeats = self.members.iter().filter_map(|m| {
            m.heartbeat_deadline_ms
                .map(|deadline| (deadline, Expired::Heartbeat(m.id.clone())))
        });
        let join = self.join_timer.map(|t| (t.deadline_ms(), Expired::Join));
        let sync = self
            .sync_timer
            .map(|(deadline, _)| (deadline, Expired::Sync));
        pending
            .chain(heartbeats)
            .chain(join)
            .chain(sync)
            .filter(|(deadline, _)| *deadline <= now_ms)
            .min_by_key(|(deadline, _)| *deadline)
            .map(|(_, expired)| expired)
    }

    fn expire_pending_member(&mut self, id: &str, cx: &mut Cx<'_>) {
        self.remove_member(id, cx);
        if self.state == GroupState::PreparingRebalance && self.has_all_members_joined() {
            self.complete_join(cx);
        }
    }

    /// The session of `id` ran out: remove it and rebalance, unless it has
    /// a parked request (then its check is rescheduled when answered).
    fn expire_heartbeat(&mut self, id: &str, cx: &mut Cx<'_>) {
        let Some(member) = self.member_mut(id) else {
            return;
        };
        member.heartbeat_deadline_ms = None;
        if member.has_satisfied_heartbeat() {
            return;
        }
        self.remove_member(id, cx);
        match self.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                self.maybe_prepare_rebalance_or_complete_join(cx)
            }
            GroupState::PreparingRebalance if self.has_all_members_joined() => {
                self.complete_join(cx)
            }
            _ => {}
        }
    }

    fn expire_join(&mut self, cx: &mut Cx<'_>) {
        let Some(timer) = self.join_timer.take() else {
            return;
        };
        if self.state != GroupState::PreparingRebalance {
            return;
        }
        match timer {
            JoinTimer::Initial {
                delay_ms,
                remaining_ms,
                ..
            } if self.new_member_added && remaining_ms != 0 => {
                // KIP-134: someone joined during the delay; wait once more.
                self.new_member_added = false;
                let next_delay_ms = cx.config.initial_rebalance_delay_ms.min(remaining_ms);
                self.join_timer = Some(JoinTimer::Initial {
                    deadline_ms: cx.after(next_delay_ms),
                    delay_ms: next_delay_ms,
                    remaining_ms: (remaining_ms - delay_ms).max(0),
                });
            }
            _ => self.complete_join(cx),
        }
    }

    /// Members that did not send SyncGroup within the rebalance timeout
    /// are removed and the group rebalances.
    fn expire_pending_sync(&mut self, cx: &mut Cx<'_>) {
        let Some((_, generation)) = self.sync_timer.take() else {
            return;
        };
        let syncing = matches!(
            self.state,
            GroupState::CompletingRebalance | GroupState::Stable
        );
        if generation != self.generation_id || !syncing || self.pending_sync.is_empty() {
            return;
        }
        let late: Vec<String> = self.pending_sync.iter().cloned().collect();
        for id in late {
            self.remove_member(&id, cx);
        }
        self.prepare_rebalance(cx);
    }

    // --- offsets -----------------------------------------------------------

    /// Kafka's `ClassicGroup.validateOffsetCommit` (non-transactional).
    fn validate_offset_commit(&self, req: &OffsetCommitRequest) -> Result<(), GroupError> {
        if req.generation_id < 0 && self.state == GroupState::Empty {
            // A commit from outside group management (admin client or a
            // consumer with manual assignment).
            return Ok(());
        }
        if req.generation_id >= 0 || !req.member_id.is_empty() || req.group_instance_id.is_some() {
            self.validate_member(&req.member_id, req.group_instance_id.as_deref())?;
            if req.generation_id != self.generation_id {
                return Err(GroupError::IllegalGeneration);
            }
        } else if self.state != GroupState::Empty {
            return Err(GroupError::UnknownMemberId);
        }
        if self.state == GroupState::CompletingRebalance {
            return Err(GroupError::RebalanceInProgress);
        }
        Ok(())
    }

    fn describe(&self) -> GroupDescription {
        let stable = self.state == GroupState::Stable;
        let protocol = self.protocol_name.clone().unwrap_or_default();
        let members = self
            .members
            .iter()
            .map(|m| MemberDescription {
                member_id: m.id.clone(),
                group_instance_id: m.instance_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                metadata: if stable {
                    m.metadata(&protocol)
                } else {
                    Vec::new()
                },
                assignment: m.assignment.clone(),
            })
            .collect();
        GroupDescription {
            group_id: self.id.clone(),
            state: self.state,
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            protocol_data: if stable { protocol } else { String::new() },
            members,
        }
    }

    /// Answer every parked request with `error` (the coordinator is going away).
    fn abandon(&mut self, error: GroupError, cx: &mut Cx<'_>) {
        for member in &mut self.members {
            if let Some(token) = member.awaiting_join.take() {
                cx.join(token, JoinResponse::error(&member.id, error));
            }
            if let Some(token) = member.awaiting_sync.take() {
                cx.sync(token, SyncResponse::error(error));
            }
        }
    }
}

/// Kafka's `isProtocolInconsistent`: both set and different.
fn inconsistent(requested: &Option<String>, actual: &Option<String>) -> bool {
    matches!((requested, actual), (Some(a), Some(b)) if a != b)
}

// ---------------------------------------------------------------------------
// The coordinator
// ---------------------------------------------------------------------------

/// Every group this broker coordinates, and their committed offsets.
#[derive(Debug, Clone)]
pub struct GroupCoordinator {
    config: GroupConfig,
    groups: BTreeMap<String, Group>,
    /// group → partition → committed offset.
    offsets: BTreeMap<String, BTreeMap<TopicPartition, CommittedOffset>>,
}

impl GroupCoordinator {
    /// An empty coordinator.
    pub fn new(config: GroupConfig) -> GroupCoordinator {
        GroupCoordinator {
            config,
            groups: BTreeMap::new(),
            offsets: BTreeMap::new(),
        }
    }

    /// The settings.
    pub fn config(&self) -> &GroupConfig {
        &self.config
    }

    /// Handle JoinGroup `token`. Its answer is a [`GroupAction::CompleteJoin`]
    /// now or from a later call. `new_member_id` is the id a member without
    /// one gets (see [`member_id_for`]).
    pub fn join(
        &mut self,
        token: RequestToken,
        request: JoinRequest,
        new_member_id: String,
        now_ms: i64,
    ) -> Vec<GroupAction> {
        let mut out = Vec::new();
        let mut cx = Cx {
            config: &self.config,
            now_ms,
            out: &mut out,
        };
        if let Err(e) = validate_join(cx.config, &request) {
            cx.join(token, JoinResponse::error(&request.member_id, e));
            return out;
        }
        let group = match self.groups.entry(request.group_id.clone()) {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(entry) if request.member_id.is_empty() => {
                entry.insert(Group::new(&request.group_id, now_ms))
            }
            Entry::Vacant(_) => {
                cx.join(
                    token,
                    JoinResponse::error(&request.member_id, GroupError::UnknownMemberId),
                );
                return out;
            }
        };
        group.join(token, request, new_member_id, &mut cx);
        out
    }

    /// Handle SyncGroup `token`. Its answer is a [`GroupAction::CompleteSync`]
    /// now or (for a follower while the leader has not synced) later.
    pub fn sync(
        &mut self,
        token: RequestToken,
        request: SyncRequest,
        now_ms: i64,
    ) -> Vec<GroupAction> {
        let mut out = Vec::new();
        let mut cx = Cx {
            config: &self.config,
            now_ms,
            out: &mut out,
        };
        if request.group_id.is_empty() {
            cx.sync(token, SyncResponse::error(GroupError::InvalidGroupId));
        } else if let Some(group) = self.groups.get_mut(&request.group_id) {
            group.sync(token, request, &mut cx);
        } else {
            cx.sync(token, SyncResponse::error(GroupError::UnknownMemberId));
        }
        out
    }

    /// Handle Heartbeat; answered at once.
    pub fn heartbeat(&mut self, request: &HeartbeatRequest, now_ms: i64) -> Result<(), GroupError> {
        if request.group_id.is_empty() {
            return Err(GroupError::InvalidGroupId);
        }
        let mut out = Vec::new();
        let cx = Cx {
            config: &self.config,
            now_ms,
            out: &mut out,
        };
        let group = self
            .groups
            .get_mut(&request.group_id)
            .ok_or(GroupError::UnknownMemberId)?;
        group.heartbeat(request, &cx)
    }

    /// Handle LeaveGroup; answered at once, but leaving may end a rebalance
    /// (answers for other members' parked joins).
    pub fn leave(
        &mut self,
        request: &LeaveRequest,
        now_ms: i64,
    ) -> (LeaveResponse, Vec<GroupAction>) {
        let mut out = Vec::new();
        let mut cx = Cx {
            config: &self.config,
            now_ms,
            out: &mut out,
        };
        let response = if request.group_id.is_empty() {
            LeaveResponse {
                error: Some(GroupError::InvalidGroupId),
                members: Vec::new(),
            }
        } else if let Some(group) = self.groups.get_mut(&request.group_id) {
            LeaveResponse {
                error: None,
                members: group.leave(request, &mut cx),
            }
        } else {
            let members = request
                .members
                .iter()
                .map(|m| LeftMember {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    error: Some(GroupError::UnknownMemberId),
                })
                .collect();
            LeaveResponse {
                error: None,
                members,
            }
        };
        (response, out)
    }

    /// Fire every timer due at `now_ms`: initial delay, rebalance timeout,
    /// session timeouts, pending-member and pending-sync expirations.
    pub fn tick(&mut self, now_ms: i64) -> Vec<GroupAction> {
        let mut out = Vec::new();
        let mut cx = Cx {
            config: &self.config,
            now_ms,
            out: &mut out,
        };
        for group in self.groups.values_mut() {
            group.tick(&mut cx);
        }
        out
    }

    /// Answer every parked request NOT_COORDINATOR (Kafka does so when it
    /// unloads a coordinator); the groups stay as they are.
    pub fn shutdown(&mut self) -> Vec<GroupAction> {
        let mut out = Vec::new();
        let mut cx = Cx {
            config: &self.config,
            now_ms: 0,
            out: &mut out,
        };
        for group in self.groups.values_mut() {
            group.abandon(GroupError::NotCoordinator, &mut cx);
        }
        out
    }

    /// Validate an OffsetCommit. Nothing changes in the offsets until the
    /// caller has made `records` durable and calls [`Self::apply_offsets`];
    /// then it sends the response in `topics`. A commit from outside group
    /// management (generation -1) to an unknown group creates it, Empty.
    pub fn commit_offsets(&mut self, request: &OffsetCommitRequest, now_ms: i64) -> CommitOutcome {
        let validated = self.validate_offset_commit(request, now_ms);
        let mut records = Vec::new();
        let topics = request
            .topics
            .iter()
            .map(|topic| TopicResult {
                name: topic.name.clone(),
                partitions: topic
                    .partitions
                    .iter()
                    .map(|p| {
                        let result = validated
                            .and_then(|()| self.offset_record(request, &topic.name, p, now_ms));
                        match result {
                            Ok(record) => {
                                records.push(record);
                                (p.partition, None)
                            }
                            Err(e) => (p.partition, Some(e)),
                        }
                    })
                    .collect(),
            })
            .collect();
        CommitOutcome { topics, records }
    }

    fn validate_offset_commit(
        &mut self,
        request: &OffsetCommitRequest,
        now_ms: i64,
    ) -> Result<(), GroupError> {
        let group = match self.groups.entry(request.group_id.clone()) {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(entry) if request.generation_id < 0 => {
                entry.insert(Group::new(&request.group_id, now_ms))
            }
            Entry::Vacant(_) if request.group_id_not_found_supported => {
                return Err(GroupError::GroupIdNotFound)
            }
            Entry::Vacant(_) => return Err(GroupError::IllegalGeneration),
        };
        group.validate_offset_commit(request)?;
        // In the classic protocol a commit keeps the session alive.
        if matches!(
            group.state,
            GroupState::Stable | GroupState::PreparingRebalance
        ) {
            let mut out = Vec::new();
            let cx = Cx {
                config: &self.config,
                now_ms,
                out: &mut out,
            };
            group.reschedule_heartbeat(&request.member_id, &cx);
        }
        Ok(())
    }

    fn offset_record(
        &self,
        request: &OffsetCommitRequest,
        topic: &str,
        p: &CommitPartition,
        now_ms: i64,
    ) -> Result<OffsetRecord, GroupError> {
        let metadata = p.metadata.clone().unwrap_or_default();
        if metadata.len() > self.config.offset_metadata_max_bytes {
            return Err(GroupError::OffsetMetadataTooLarge);
        }
        Ok(OffsetRecord {
            group_id: request.group_id.clone(),
            partition: TopicPartition::new(topic, p.partition),
            value: Some(CommittedOffset {
                offset: p.offset,
                leader_epoch: p.leader_epoch,
                metadata,
                commit_timestamp_ms: now_ms,
            }),
        })
    }

    /// Apply durable offset records (after a commit, and when replaying the
    /// store at start-up): commits overwrite, tombstones delete. A group
    /// with offsets exists (Empty if it has no members), as in Kafka.
    pub fn apply_offsets(&mut self, records: &[OffsetRecord], now_ms: i64) {
        for record in records {
            match &record.value {
                Some(value) => {
                    self.groups
                        .entry(record.group_id.clone())
                        .or_insert_with(|| Group::new(&record.group_id, now_ms));
                    self.offsets
                        .entry(record.group_id.clone())
                        .or_default()
                        .insert(record.partition.clone(), value.clone());
                }
                None => {
                    if let Some(offsets) = self.offsets.get_mut(&record.group_id) {
                        offsets.remove(&record.partition);
                        if offsets.is_empty() {
                            self.offsets.remove(&record.group_id);
                        }
                    }
                }
            }
        }
    }

    /// Committed offsets of `group_id`: the requested partitions (-1 where
    /// none is committed, also for an unknown group, as Kafka answers), or
    /// every committed one when `topics` is `None`.
    pub fn fetch_offsets(
        &self,
        group_id: &str,
        topics: Option<&[FetchTopic]>,
    ) -> Vec<FetchedTopic> {
        let committed = self.offsets.get(group_id);
        let Some(topics) = topics else {
            return all_offsets(committed);
        };
        topics
            .iter()
            .map(|topic| FetchedTopic {
                name: topic.name.clone(),
                partitions: topic
                    .partitions
                    .iter()
                    .map(|&partition| {
                        let key = TopicPartition::new(topic.name.clone(), partition);
                        fetched(partition, committed.and_then(|c| c.get(&key)))
                    })
                    .collect(),
            })
            .collect()
    }

    /// Every committed offset, as records (a snapshot for compaction).
    pub fn committed_offsets(&self) -> Vec<OffsetRecord> {
        self.offsets
            .iter()
            .flat_map(|(group_id, offsets)| {
                offsets.iter().map(move |(partition, value)| OffsetRecord {
                    group_id: group_id.clone(),
                    partition: partition.clone(),
                    value: Some(value.clone()),
                })
            })
            .collect()
    }

    /// Kafka's offset expiration (`offsets.retention.minutes`): offsets of
    /// an Empty group expire a retention period after it became Empty; of
    /// a group that only stores offsets (or whose state was lost in a
    /// restart), a retention period after their commit; a group with
    /// members keeps its offsets. Empty groups left with no offsets are
    /// deleted. Returns the tombstones, already applied.
    pub fn expire_offsets(&mut self, now_ms: i64) -> Vec<OffsetRecord> {
        let retention_ms = self.config.offsets_retention_ms;
        let mut tombstones = Vec::new();
        for (group_id, offsets) in &mut self.offsets {
            let base = match self.groups.get(group_id) {
                Some(g) if g.state != GroupState::Empty => continue,
                Some(g) if g.protocol_type.is_some() => Some(g.state_timestamp_ms),
                _ => None,
            };
            offsets.retain(|partition, value| {
                let since_ms = base.unwrap_or(value.commit_timestamp_ms);
                let keep = now_ms < since_ms.saturating_add(retention_ms);
                if !keep {
                    tombstones.push(OffsetRecord {
                        group_id: group_id.clone(),
                        partition: partition.clone(),
                        value: None,
                    });
                }
                keep
            });
        }
        self.offsets.retain(|_, offsets| !offsets.is_empty());
        let offsets = &self.offsets;
        self.groups
            .retain(|id, g| !g.is_empty_and_idle() || offsets.contains_key(id));
        tombstones
    }

    /// ListGroups: states (case-insensitive, ListGroups v4+) and types
    /// (v5+, KIP-848) filter when not empty.
    pub fn list_groups(
        &self,
        states_filter: &[String],
        types_filter: &[String],
    ) -> Vec<GroupListing> {
        let states: BTreeSet<String> = states_filter
            .iter()
            .map(|s| s.trim().to_lowercase())
            .collect();
        let type_ok = types_filter.is_empty()
            || types_filter
                .iter()
                .any(|t| t.trim().eq_ignore_ascii_case(CLASSIC_GROUP_TYPE));
        if !type_ok {
            return Vec::new();
        }
        self.groups
            .values()
            .filter(|g| states.is_empty() || states.contains(&g.state.name().to_lowercase()))
            .map(|g| GroupListing {
                group_id: g.id.clone(),
                protocol_type: g.protocol_type.clone().unwrap_or_default(),
                state: g.state,
                group_type: CLASSIC_GROUP_TYPE,
            })
            .collect()
    }

    /// DescribeGroups for one group: member metadata and the protocol only
    /// when Stable; an unknown group is reported Dead, without error.
    pub fn describe_group(&self, group_id: &str) -> GroupDescription {
        match self.groups.get(group_id) {
            Some(group) => group.describe(),
            None => GroupDescription {
                group_id: group_id.to_string(),
                state: GroupState::Dead,
                protocol_type: String::new(),
                protocol_data: String::new(),
                members: Vec::new(),
            },
        }
    }
}

/// The checks Kafka's `GroupCoordinatorService.joinGroup` makes first.
fn validate_join(config: &GroupConfig, request: &JoinRequest) -> Result<(), GroupError> {
    if request.group_id.is_empty() {
        return Err(GroupError::InvalidGroupId);
    }
    let timeout = request.session_timeout_ms;
    if timeout < config.min_session_timeout_ms || timeout > config.max_session_timeout_ms {
        return Err(GroupError::InvalidSessionTimeout);
    }
    Ok(())
}

fn fetched(partition: i32, committed: Option<&CommittedOffset>) -> FetchedPartition {
    match committed {
        Some(c) => FetchedPartition {
            partition,
            offset: c.offset.0,
            leader_epoch: c.leader_epoch.0,
            metadata: c.metadata.clone(),
        },
        None => FetchedPartition {
            partition,
            offset: -1,
            leader_epoch: -1,
            metadata: String::new(),
        },
    }
}

fn all_offsets(committed: Option<&BTreeMap<TopicPartition, CommittedOffset>>) -> Vec<FetchedTopic> {
    let mut topics: Vec<FetchedTopic> = Vec::new();
    for (tp, value) in committed.into_iter().flatten() {
        let partition = fetched(tp.partition, Some(value));
        match topics.last_mut() {
            Some(topic) if topic.name == tp.topic => topic.partitions.push(partition),
            _ => topics.push(FetchedTopic {
                name: tp.topic.clone(),
                partitions: vec![partition],
            }),
        }
    }
    topics
}

#[cfg(test)]
mod tests {
    use super::*;

    const SESSION_MS: i32 = 10_000;
    const REBALANCE_MS: i32 = 30_000;

    fn coordinator() -> GroupCoordinator {
        GroupCoordinator::new(GroupConfig::default())
    }

    fn t(n: u64) -> RequestToken {
        RequestToken(n)
    }

    fn join_req(member_id: &str, metadata: &[u8]) -> JoinRequest {
        JoinRequest {
            group_id: "g".into(),
            member_id: member_id.into(),
            group_instance_id: None,
            client_id: "c".into(),
            client_host: "/127.0.0.1".into(),
            session_timeout_ms: SESSION_MS,
            rebalance_timeout_ms: REBALANCE_MS,
            protocol_type: "consumer".into(),
            protocols: vec![Protocol {
                name: "range".into(),
                metadata: metadata.to_vec(),
            }],
            require_known_member_id: true,
            supports_skip_assignment: true,
        }
    }

    fn joined(token: u64, response: JoinResponse) -> GroupAction {
        GroupAction::CompleteJoin {
            token: t(token),
            response,
        }
    }

    fn synced(token: u64, response: SyncResponse) -> GroupAction {
        GroupAction::CompleteSync {
            token: t(token),
            response,
        }
    }

    fn join_error(token: u64, member_id: &str, error: GroupError) -> GroupAction {
        joined(token, JoinResponse::error(member_id, error))
    }

    fn jm(id: &str, metadata: &[u8]) -> JoinedMember {
        JoinedMember {
            member_id: id.into(),
            group_instance_id: None,
            metadata: metadata.to_vec(),
        }
    }

    fn generation(
        gen: i32,
        member: &str,
        leader: &str,
        members: Vec<JoinedMember>,
    ) -> JoinResponse {
        JoinResponse {
            error: None,
            generation_id: gen,
            protocol_type: Some("consumer".into()),
            protocol_name: Some("range".into()),
            leader: leader.into(),
            skip_assignment: false,
            member_id: member.into(),
            members,
        }
    }

    fn sync_req(member: &str, gen: i32, assignments: &[(&str, &[u8])]) -> SyncRequest {
        SyncRequest {
            group_id: "g".into(),
            generation_id: gen,
            member_id: member.into(),
            group_instance_id: None,
            protocol_type: Some("consumer".into()),
            protocol_name: Some("range".into()),
            assignments: assignments
                .iter()
                .map(|(id, a)| (id.to_string(), a.to_vec()))
                .collect(),
        }
    }

    fn assigned(assignment: &[u8]) -> SyncResponse {
        SyncResponse {
            error: None,
            protocol_type: Some("consumer".into()),
            protocol_name: Some("range".into()),
            assignment: assignment.to_vec(),
        }
    }

    fn hb(member: &str, gen: i32) -> HeartbeatRequest {
        HeartbeatRequest {
            group_id: "g".into(),
            generation_id: gen,
            member_id: member.into(),
            group_instance_id: None,
        }
    }

    fn leave_req(members: &[&str]) -> LeaveRequest {
        LeaveRequest {
            group_id: "g".into(),
            members: members
                .iter()
                .map(|id| LeavingMember {
                    member_id: id.to_string(),
                    group_instance_id: None,
                })
                .collect(),
        }
    }

    fn commit_req(
        generation_id: i32,
        member_id: &str,
        partitions: &[(i32, i64)],
    ) -> OffsetCommitRequest {
        OffsetCommitRequest {
            group_id: "g".into(),
            generation_id,
            member_id: member_id.into(),
            group_instance_id: None,
            topics: vec![CommitTopic {
                name: "t".into(),
                partitions: partitions
                    .iter()
                    .map(|&(partition, offset)| CommitPartition {
                        partition,
                        offset: Offset(offset),
                        leader_epoch: LeaderEpoch(3),
                        metadata: Some("m".into()),
                    })
                    .collect(),
            }],
            group_id_not_found_supported: false,
        }
    }

    fn state(c: &GroupCoordinator) -> GroupState {
        c.describe_group("g").state
    }

    /// Member `a` alone, Stable in generation 1 at 3_000 ms.
    fn stable_single() -> GroupCoordinator {
        let mut c = coordinator();
        c.join(t(1), join_req("", b"ma"), "a".into(), 0);
        c.join(t(2), join_req("a", b"ma"), "x".into(), 0);
        c.tick(3_000);
        c.sync(t(3), sync_req("a", 1, &[("a", b"A")]), 3_000);
        assert_eq!(state(&c), GroupState::Stable);
        c
    }

    /// Members `a` (leader) and `b`, Stable in generation 1 at 6_020 ms.
    fn stable_pair() -> GroupCoordinator {
        let mut c = coordinator();
        c.join(t(1), join_req("", b"ma"), "a".into(), 0);
        c.join(t(2), join_req("a", b"ma"), "x".into(), 0);
        c.join(t(3), join_req("", b"mb"), "b".into(), 100);
        c.join(t(4), join_req("b", b"mb"), "x".into(), 100);
        c.tick(3_000);
        c.tick(6_000);
        c.sync(t(5), sync_req("b", 1, &[]), 6_010);
        c.sync(t(6), sync_req("a", 1, &[("a", b"A"), ("b", b"B")]), 6_020);
        assert_eq!(state(&c), GroupState::Stable);
        c
    }

    #[test]
    fn single_member_joins_syncs_and_heartbeats() {
        let mut c = coordinator();
        assert_eq!(
            c.join(t(1), join_req("", b"ma"), "a".into(), 0),
            vec![join_error(1, "a", GroupError::MemberIdRequired)]
        );
        assert_eq!(c.join(t(2), join_req("a", b"ma"), "x".into(), 0), vec![]);
        assert_eq!(state(&c), GroupState::PreparingRebalance);
        // KIP-134: the first rebalance waits group.initial.rebalance.delay.ms.
        assert_eq!(c.tick(2_999), vec![]);
        assert_eq!(
            c.tick(3_000),
            vec![joined(2, generation(1, "a", "a", vec![jm("a", b"ma")]))]
        );
        assert_eq!(state(&c), GroupState::CompletingRebalance);
        assert_eq!(c.heartbeat(&hb("a", 1), 3_001), Ok(()));
        assert_eq!(
            c.sync(t(3), sync_req("a", 1, &[("a", b"A")]), 3_002),
            vec![synced(3, assigned(b"A"))]
        );
        assert_eq!(state(&c), GroupState::Stable);
        assert_eq!(c.heartbeat(&hb("a", 1), 3_003), Ok(()));
        // A sync in a Stable group returns the current assignment.
        assert_eq!(
            c.sync(t(4), sync_req("a", 1, &[]), 3_004),
            vec![synced(4, assigned(b"A"))]
        );
    }

    #[test]
    fn two_members_join_the_leader_assigns_both_stable() {
        let mut c = coordinator();
        assert_eq!(
            c.join(t(1), join_req("", b"ma"), "a".into(), 0),
            vec![join_error(1, "a", GroupError::MemberIdRequired)]
        );
        assert_eq!(c.join(t(2), join_req("a", b"ma"), "x".into(), 0), vec![]);
        assert_eq!(
            c.join(t(3), join_req("", b"mb"), "b".into(), 100),
            vec![join_error(3, "b", GroupError::MemberIdRequired)]
        );
        assert_eq!(c.join(t(4), join_req("b", b"mb"), "x".into(), 100), vec![]);
        // A member joined during the delay: it is extended once more.
        assert_eq!(c.tick(3_000), vec![]);
        assert_eq!(
            c.tick(6_000),
            vec![
                joined(
                    2,
                    generation(1, "a", "a", vec![jm("a", b"ma"), jm("b", b"mb")])
                ),
                joined(4, generation(1, "b", "a", vec![])),
            ]
        );
        // The follower's sync waits for the leader's.
        assert_eq!(c.sync(t(5), sync_req("b", 1, &[]), 6_010), vec![]);
        assert_eq!(
            c.sync(t(6), sync_req("a", 1, &[("a", b"A"), ("b", b"B")]), 6_020),
            vec![synced(5, assigned(b"B")), synced(6, assigned(b"A"))]
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
        );
        assert_eq!(state(&c), GroupState::Stable);
        assert_eq!(c.heartbeat(&hb("a", 1), 6_030), Ok(()));
        assert_eq!(c.heartbeat(&hb("b", 1), 6_030), Ok(()));
    }

    #[test]
    fn a_third_member_triggers_a_rebalance() {
        let mut c = stable_pair();
        assert_eq!(
            c.join(t(10), join_req("", b"mc"), "c".into(), 7_000),
            vec![join_error(10, "c", GroupError::MemberIdRequired)]
        );
        // A pending member does not disturb the stable group.
        assert_eq!(state(&c), GroupState::Stable);
        assert_eq!(
            c.join(t(11), join_req("c", b"mc"), "x".into(), 7_000),
            vec![]
        );
        assert_eq!(state(&c), GroupState::PreparingRebalance);
        assert_eq!(
            c.heartbeat(&hb("a", 1), 7_100),
            Err(GroupError::RebalanceInProgress)
        );
        assert_eq!(
            c.sync(t(12), sync_req("b", 1, &[]), 7_100),
            vec![synced(
                12,
                SyncResponse::error(GroupError::RebalanceInProgress)
            )]
        );
        assert_eq!(
            c.join(t(13), join_req("a", b"ma"), "x".into(), 7_200),
            vec![]
        );
        // The last known member rejoins: the rebalance completes at once.
        assert_eq!(
            c.join(t(14), join_req("b", b"mb"), "x".into(), 7_300),
            vec![
                joined(
                    13,
                    generation(
                        2,
                        "a",
                        "a",
                        vec![jm("a", b"ma"), jm("b", b"mb"), jm("c", b"mc")]
                    )
                ),
                joined(14, generation(2, "b", "a", vec![])),
                joined(11, generation(2, "c", "a", vec![])),
            ]
        );
        assert_eq!(state(&c), GroupState::CompletingRebalance);
    }

    #[test]
    fn session_timeout_removes_a_member_and_rebalances() {
        let mut c = stable_pair();
        // Sessions were renewed when the assignment went out (6_020).
        assert_eq!(c.heartbeat(&hb("a", 1), 15_000), Ok(()));
        assert_eq!(c.tick(16_019), vec![]);
        assert_eq!(c.tick(16_020), vec![]);
        let described = c.describe_group("g");
        assert_eq!(described.state, GroupState::PreparingRebalance);
        assert_eq!(
            described
                .members
                .iter()
                .map(|m| m.member_id.as_str())
                .collect::<Vec<_>>(),
            vec!["a"]
        );
        assert_eq!(
            c.heartbeat(&hb("b", 1), 16_050),
            Err(GroupError::UnknownMemberId)
        );
        assert_eq!(
            c.heartbeat(&hb("a", 1), 16_100),
            Err(GroupError::RebalanceInProgress)
        );
        assert_eq!(
            c.join(t(10), join_req("a", b"ma"), "x".into(), 16_200),
            vec![joined(10, generation(2, "a", "a", vec![jm("a", b"ma")]))]
        );
    }

    #[test]
    fn rebalance_timeout_drops_members_that_do_not_rejoin() {
        let mut c = stable_pair();
        // The leader rejoining forces a rebalance.
        assert_eq!(
            c.join(t(10), join_req("a", b"ma"), "x".into(), 7_000),
            vec![]
        );
        for now_ms in [16_000, 26_000, 36_000] {
            assert_eq!(
                c.heartbeat(&hb("b", 1), now_ms),
                Err(GroupError::RebalanceInProgress)
            );
        }
        assert_eq!(c.tick(36_999), vec![]);
        assert_eq!(
            c.tick(37_000),
            vec![joined(10, generation(2, "a", "a", vec![jm("a", b"ma")]))]
        );
        assert_eq!(
            c.heartbeat(&hb("b", 1), 37_001),
            Err(GroupError::UnknownMemberId)
        );
    }

    #[test]
    fn members_that_do_not_sync_are_removed() {
        let mut c = coordinator();
        c.join(t(1), join_req("", b"ma"), "a".into(), 0);
        c.join(t(2), join_req("a", b"ma"), "x".into(), 0);
        c.join(t(3), join_req("", b"mb"), "b".into(), 0);
        c.join(t(4), join_req("b", b"mb"), "x".into(), 0);
        assert_eq!(c.tick(3_000), vec![]);
        assert_eq!(c.tick(6_000).len(), 2);
        // b syncs and waits; the leader heartbeats but never syncs.
        assert_eq!(c.sync(t(5), sync_req("b", 1, &[]), 6_010), vec![]);
        for now_ms in [15_000, 25_000, 35_000] {
            assert_eq!(c.heartbeat(&hb("a", 1), now_ms), Ok(()));
        }
        assert_eq!(c.tick(35_999), vec![]);
        assert_eq!(
            c.tick(36_000),
            vec![synced(
                5,
                SyncResponse::error(GroupError::RebalanceInProgress)
            )]
        );
        let described = c.describe_group("g");
        assert_eq!(described.state, GroupState::PreparingRebalance);
        assert_eq!(described.members.len(), 1);
        assert_eq!(
            c.join(t(6), join_req("b", b"mb"), "x".into(), 36_010),
            vec![joined(6, generation(2, "b", "b", vec![jm("b", b"mb")]))]
        );
    }

    #[test]
    fn leave_group() {
        let mut c = stable_pair();
        let (response, actions) = c.leave(&leave_req(&["b", "zz"]), 7_000);
        assert_eq!(
            response,
            LeaveResponse {
                error: None,
                members: vec![
                    LeftMember {
                        member_id: "b".into(),
                        group_instance_id: None,
                        error: None,
                    },
                    LeftMember {
                        member_id: "zz".into(),
                        group_instance_id: None,
                        error: Some(GroupError::UnknownMemberId),
                    },
                ],
            }
        );
        assert_eq!(actions, vec![]);
        assert_eq!(state(&c), GroupState::PreparingRebalance);
        assert_eq!(
            c.join(t(10), join_req("a", b"ma"), "x".into(), 7_100),
            vec![joined(10, generation(2, "a", "a", vec![jm("a", b"ma")]))]
        );
        // The last member leaves: the group is Empty, generation 3.
        let (_, actions) = c.leave(&leave_req(&["a"]), 7_200);
        assert_eq!(actions, vec![]);
        assert_eq!(state(&c), GroupState::Empty);
        assert_eq!(c.groups["g"].generation_id, 3);
        // A leave for an unknown group answers UNKNOWN_MEMBER_ID per member.
        let mut unknown = leave_req(&["a"]);
        unknown.group_id = "nope".into();
        assert_eq!(
            c.leave(&unknown, 7_300).0,
            LeaveResponse {
                error: None,
                members: vec![LeftMember {
                    member_id: "a".into(),
                    group_instance_id: None,
                    error: Some(GroupError::UnknownMemberId),
                }],
            }
        );
    }

    #[test]
    fn leaving_during_a_rebalance_completes_it_for_the_others() {
        let mut c = stable_pair();
        assert_eq!(
            c.join(t(10), join_req("a", b"ma"), "x".into(), 7_000),
            vec![]
        );
        let (_, actions) = c.leave(&leave_req(&["b"]), 7_100);
        assert_eq!(
            actions,
            vec![joined(10, generation(2, "a", "a", vec![jm("a", b"ma")]))]
        );
    }

    #[test]
    fn member_id_required_then_pending_member_expires() {
        let mut c = coordinator();
        assert_eq!(
            c.join(t(1), join_req("", b"ma"), "a".into(), 0),
            vec![join_error(1, "a", GroupError::MemberIdRequired)]
        );
        assert_eq!(state(&c), GroupState::Empty);
        // The pending id lives for one session timeout.
        assert_eq!(c.tick(SESSION_MS as i64), vec![]);
        assert_eq!(
            c.join(t(2), join_req("a", b"ma"), "x".into(), 10_001),
            vec![join_error(2, "a", GroupError::UnknownMemberId)]
        );
        // JoinGroup v0-v3 clients are added at once.
        let mut old = join_req("", b"ma");
        old.require_known_member_id = false;
        assert_eq!(c.join(t(3), old, "a2".into(), 10_002), vec![]);
        assert_eq!(
            c.tick(13_002),
            vec![joined(3, generation(1, "a2", "a2", vec![jm("a2", b"ma")]))]
        );
        // An unknown group with a member id is UNKNOWN_MEMBER_ID.
        let mut stray = join_req("q", b"m");
        stray.group_id = "other".into();
        assert_eq!(
            c.join(t(4), stray, "x".into(), 13_003),
            vec![join_error(4, "q", GroupError::UnknownMemberId)]
        );
    }

    #[test]
    fn join_validation_errors() {
        let mut c = coordinator();
        let mut empty_group = join_req("", b"m");
        empty_group.group_id = String::new();
        assert_eq!(
            c.join(t(1), empty_group, "a".into(), 0),
            vec![join_error(1, "", GroupError::InvalidGroupId)]
        );
        let mut short = join_req("", b"m");
        short.session_timeout_ms = 5_999;
        assert_eq!(
            c.join(t(2), short, "a".into(), 0),
            vec![join_error(2, "", GroupError::InvalidSessionTimeout)]
        );
        let mut c = stable_single();
        let mut other = join_req("", b"m");
        other.protocol_type = "connect".into();
        assert_eq!(
            c.join(t(3), other, "b".into(), 4_000),
            vec![join_error(3, "", GroupError::InconsistentGroupProtocol)]
        );
    }

    #[test]
    fn illegal_generation() {
        let mut c = stable_single();
        assert_eq!(
            c.heartbeat(&hb("a", 0), 3_100),
            Err(GroupError::IllegalGeneration)
        );
        assert_eq!(
            c.sync(t(10), sync_req("a", 2, &[]), 3_100),
            vec![synced(
                10,
                SyncResponse::error(GroupError::IllegalGeneration)
            )]
        );
        assert_eq!(
            c.commit_offsets(&commit_req(7, "a", &[(0, 5)]), 3_100),
            CommitOutcome {
                topics: vec![TopicResult {
                    name: "t".into(),
                    partitions: vec![(0, Some(GroupError::IllegalGeneration))],
                }],
                records: vec![],
            }
        );
        assert_eq!(
            c.heartbeat(&hb("zz", 1), 3_100),
            Err(GroupError::UnknownMemberId)
        );
        let mut unknown = hb("a", 1);
        unknown.group_id = "nope".into();
        assert_eq!(
            c.heartbeat(&unknown, 3_100),
            Err(GroupError::UnknownMemberId)
        );
    }

    #[test]
    fn offsets_commit_and_fetch() {
        let mut c = stable_single();
        let outcome = c.commit_offsets(&commit_req(1, "a", &[(0, 5), (1, 7)]), 4_000);
        let record = |partition, offset| OffsetRecord {
            group_id: "g".into(),
            partition: TopicPartition::new("t", partition),
            value: Some(CommittedOffset {
                offset: Offset(offset),
                leader_epoch: LeaderEpoch(3),
                metadata: "m".into(),
                commit_timestamp_ms: 4_000,
            }),
        };
        assert_eq!(
            outcome,
            CommitOutcome {
                topics: vec![TopicResult {
                    name: "t".into(),
                    partitions: vec![(0, None), (1, None)],
                }],
                records: vec![record(0, 5), record(1, 7)],
            }
        );
        let wanted = [FetchTopic {
            name: "t".into(),
            partitions: vec![0, 2],
        }];
        let none = |partition| FetchedPartition {
            partition,
            offset: -1,
            leader_epoch: -1,
            metadata: String::new(),
        };
        // Not visible until the records are durable and applied.
        assert_eq!(
            c.fetch_offsets("g", Some(&wanted)),
            vec![FetchedTopic {
                name: "t".into(),
                partitions: vec![none(0), none(2)],
            }]
        );
        c.apply_offsets(&outcome.records, 4_001);
        let five = FetchedPartition {
            partition: 0,
            offset: 5,
            leader_epoch: 3,
            metadata: "m".into(),
        };
        assert_eq!(
            c.fetch_offsets("g", Some(&wanted)),
            vec![FetchedTopic {
                name: "t".into(),
                partitions: vec![five.clone(), none(2)],
            }]
        );
        assert_eq!(
            c.fetch_offsets("g", None),
            vec![FetchedTopic {
                name: "t".into(),
                partitions: vec![
                    five,
                    FetchedPartition {
                        partition: 1,
                        offset: 7,
                        leader_epoch: 3,
                        metadata: "m".into(),
                    },
                ],
            }]
        );
        // An unknown group: no error, -1 offsets, and no group is created.
        assert_eq!(
            c.fetch_offsets("nope", Some(&wanted)),
            vec![FetchedTopic {
                name: "t".into(),
                partitions: vec![none(0), none(2)],
            }]
        );
        assert_eq!(c.fetch_offsets("nope", None), vec![]);
        assert_eq!(c.describe_group("nope").state, GroupState::Dead);
        assert_eq!(c.committed_offsets(), vec![record(0, 5), record(1, 7)]);
    }

    #[test]
    fn offset_commit_validation() {
        let mut c = coordinator();
        // Outside group management: the group is created, Empty.
        let simple = c.commit_offsets(&commit_req(-1, "", &[(0, 1)]), 10);
        assert_eq!(simple.topics[0].partitions, vec![(0, None)]);
        assert_eq!(state(&c), GroupState::Empty);
        // An unknown group with a generation: ILLEGAL_GENERATION before v9.
        let mut stale = commit_req(3, "a", &[(0, 1)]);
        stale.group_id = "other".into();
        assert_eq!(
            c.commit_offsets(&stale, 10).topics[0].partitions,
            vec![(0, Some(GroupError::IllegalGeneration))]
        );
        stale.group_id_not_found_supported = true;
        assert_eq!(
            c.commit_offsets(&stale, 10).topics[0].partitions,
            vec![(0, Some(GroupError::GroupIdNotFound))]
        );
        // Metadata longer than offset.metadata.max.bytes.
        let mut long = commit_req(-1, "", &[(0, 1), (1, 2)]);
        long.topics[0].partitions[1].metadata = Some("x".repeat(4_097));
        let outcome = c.commit_offsets(&long, 20);
        assert_eq!(
            outcome.topics[0].partitions,
            vec![(0, None), (1, Some(GroupError::OffsetMetadataTooLarge))]
        );
        assert_eq!(outcome.records.len(), 1);
        // While the leader has not synced: REBALANCE_IN_PROGRESS.
        let mut c = coordinator();
        c.join(t(1), join_req("", b"ma"), "a".into(), 0);
        c.join(t(2), join_req("a", b"ma"), "x".into(), 0);
        c.tick(3_000);
        assert_eq!(
            c.commit_offsets(&commit_req(1, "a", &[(0, 1)]), 3_001)
                .topics[0]
                .partitions,
            vec![(0, Some(GroupError::RebalanceInProgress))]
        );
        // A simple commit to a group with members: UNKNOWN_MEMBER_ID.
        assert_eq!(
            c.commit_offsets(&commit_req(-1, "", &[(0, 1)]), 3_001)
                .topics[0]
                .partitions,
            vec![(0, Some(GroupError::UnknownMemberId))]
        );
    }

    #[test]
    fn a_commit_keeps_the_session_alive() {
        let mut c = stable_single();
        let outcome = c.commit_offsets(&commit_req(1, "a", &[(0, 1)]), 12_000);
        assert_eq!(outcome.records.len(), 1);
        assert_eq!(c.tick(13_000), vec![]);
        assert_eq!(state(&c), GroupState::Stable);
        assert_eq!(c.heartbeat(&hb("a", 1), 21_999), Ok(()));
    }

    #[test]
    fn offsets_expire_and_empty_groups_go() {
        let mut c = coordinator();
        let outcome = c.commit_offsets(&commit_req(-1, "", &[(0, 1)]), 0);
        c.apply_offsets(&outcome.records, 0);
        let retention_ms = GroupConfig::default().offsets_retention_ms;
        assert_eq!(c.expire_offsets(retention_ms - 1), vec![]);
        assert_eq!(
            c.expire_offsets(retention_ms),
            vec![OffsetRecord {
                group_id: "g".into(),
                partition: TopicPartition::new("t", 0),
                value: None,
            }]
        );
        assert_eq!(c.list_groups(&[], &[]), vec![]);
        // A group with members keeps its offsets however old they are.
        let mut c = stable_single();
        let outcome = c.commit_offsets(&commit_req(1, "a", &[(0, 1)]), 3_100);
        c.apply_offsets(&outcome.records, 3_100);
        let mut now_ms = 3_100;
        while now_ms < retention_ms + 10_000 {
            now_ms += 9_000;
            assert_eq!(c.heartbeat(&hb("a", 1), now_ms), Ok(()));
            if now_ms % 900_000 < 9_000 {
                assert_eq!(c.expire_offsets(now_ms), vec![]);
            }
        }
        assert_eq!(c.expire_offsets(now_ms), vec![]);
    }

    #[test]
    fn static_member_rejoins_without_rebalance() {
        let mut c = coordinator();
        let mut s = join_req("", b"ms");
        s.group_instance_id = Some("i1".into());
        // KIP-345: static members need no MEMBER_ID_REQUIRED round trip.
        assert_eq!(c.join(t(1), s.clone(), "i1-1".into(), 0), vec![]);
        let member = JoinedMember {
            member_id: "i1-1".into(),
            group_instance_id: Some("i1".into()),
            metadata: b"ms".to_vec(),
        };
        assert_eq!(
            c.tick(3_000),
            vec![joined(1, generation(1, "i1-1", "i1-1", vec![member]))]
        );
        c.sync(t(2), sync_req("i1-1", 1, &[("i1-1", b"S")]), 3_001);
        // The instance restarts and joins without its member id.
        let rejoined = JoinedMember {
            member_id: "i1-2".into(),
            group_instance_id: Some("i1".into()),
            metadata: b"ms".to_vec(),
        };
        assert_eq!(
            c.join(t(3), s.clone(), "i1-2".into(), 4_000),
            vec![joined(
                3,
                JoinResponse {
                    skip_assignment: true,
                    ..generation(1, "i1-2", "i1-2", vec![rejoined])
                }
            )]
        );
        assert_eq!(state(&c), GroupState::Stable);
        let mut fenced = hb("i1-1", 1);
        fenced.group_instance_id = Some("i1".into());
        assert_eq!(
            c.heartbeat(&fenced, 4_001),
            Err(GroupError::FencedInstanceId)
        );
        let mut sync = sync_req("i1-2", 1, &[]);
        sync.group_instance_id = Some("i1".into());
        assert_eq!(c.sync(t(4), sync, 4_002), vec![synced(4, assigned(b"S"))]);
        // An admin removes it by instance id.
        let (response, _) = c.leave(
            &LeaveRequest {
                group_id: "g".into(),
                members: vec![LeavingMember {
                    member_id: String::new(),
                    group_instance_id: Some("i1".into()),
                }],
            },
            4_003,
        );
        assert_eq!(response.members[0].error, None);
        assert_eq!(state(&c), GroupState::Empty);
    }

    #[test]
    fn a_repeated_join_answers_the_older_request() {
        let mut c = stable_pair();
        assert_eq!(
            c.join(t(10), join_req("a", b"ma"), "x".into(), 7_000),
            vec![]
        );
        assert_eq!(
            c.join(t(11), join_req("a", b"ma"), "x".into(), 7_001),
            vec![join_error(10, "a", GroupError::RebalanceInProgress)]
        );
    }

    #[test]
    fn list_and_describe() {
        let c = stable_pair();
        let listing = GroupListing {
            group_id: "g".into(),
            protocol_type: "consumer".into(),
            state: GroupState::Stable,
            group_type: CLASSIC_GROUP_TYPE,
        };
        assert_eq!(c.list_groups(&[], &[]), vec![listing.clone()]);
        assert_eq!(
            c.list_groups(&[" STABLE".into()], &["Classic".into()]),
            vec![listing]
        );
        assert_eq!(c.list_groups(&["Empty".into()], &[]), vec![]);
        assert_eq!(c.list_groups(&[], &["consumer".into()]), vec![]);
        let member = |id: &str, metadata: &[u8], assignment: &[u8]| MemberDescription {
            member_id: id.into(),
            group_instance_id: None,
            client_id: "c".into(),
            client_host: "/127.0.0.1".into(),
            metadata: metadata.to_vec(),
            assignment: assignment.to_vec(),
        };
        assert_eq!(
            c.describe_group("g"),
            GroupDescription {
                group_id: "g".into(),
                state: GroupState::Stable,
                protocol_type: "consumer".into(),
                protocol_data: "range".into(),
                members: vec![member("a", b"ma", b"A"), member("b", b"mb", b"B")],
            }
        );
        assert_eq!(
            c.describe_group("nope"),
            GroupDescription {
                group_id: "nope".into(),
                state: GroupState::Dead,
                protocol_type: String::new(),
                protocol_data: String::new(),
                members: vec![],
            }
        );
    }

    #[test]
    fn protocol_chosen_by_vote() {
        let mut c = coordinator();
        let with = |id: &str, names: &[&str]| {
            let mut req = join_req(id, b"");
            req.require_known_member_id = false;
            req.protocols = names
                .iter()
                .map(|n| Protocol {
                    name: n.to_string(),
                    metadata: n.as_bytes().to_vec(),
                })
                .collect();
            req
        };
        c.join(t(1), with("", &["range", "sticky"]), "a".into(), 0);
        c.join(t(2), with("", &["sticky", "range"]), "b".into(), 0);
        c.join(
            t(3),
            with("", &["sticky", "roundrobin", "range"]),
            "c".into(),
            0,
        );
        assert_eq!(c.tick(3_000), vec![]);
        let actions = c.tick(6_000);
        assert_eq!(actions.len(), 3);
        assert_eq!(c.groups["g"].protocol_name.as_deref(), Some("sticky"));
        // A member with nothing in common is refused.
        assert_eq!(
            c.join(t(4), with("", &["roundrobin"]), "d".into(), 6_001),
            vec![join_error(4, "", GroupError::InconsistentGroupProtocol)]
        );
    }

    #[test]
    fn shutdown_answers_parked_requests() {
        let mut c = coordinator();
        c.join(t(1), join_req("", b"ma"), "a".into(), 0);
        c.join(t(2), join_req("a", b"ma"), "x".into(), 0);
        assert_eq!(
            c.shutdown(),
            vec![join_error(2, "a", GroupError::NotCoordinator)]
        );
    }

    #[test]
    fn error_codes_are_kafkas() {
        assert_eq!(GroupError::UnknownMemberId.code(), 25);
        assert_eq!(GroupError::IllegalGeneration.code(), 22);
        assert_eq!(GroupError::RebalanceInProgress.code(), 27);
        assert_eq!(GroupError::MemberIdRequired.code(), 79);
        assert_eq!(GroupError::FencedInstanceId.code(), 82);
        assert_eq!(error_code(None), 0);
        assert_eq!(member_id_for("c", None, 7), "c-7");
        assert_eq!(member_id_for("c", Some("i"), 7), "i-7");
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;
        use std::collections::BTreeMap;

        #[derive(Debug, Clone)]
        enum Op {
            Join { client: usize, fresh: bool },
            Sync { client: usize },
            Heartbeat { client: usize },
            Leave { client: usize },
            Commit { client: usize },
            Tick { advance_ms: i64 },
        }

        fn op() -> impl Strategy<Value = Op> {
            let client = 0usize..3;
            prop_oneof![
                (client.clone(), any::<bool>())
                    .prop_map(|(client, fresh)| Op::Join { client, fresh }),
                client.clone().prop_map(|client| Op::Sync { client }),
                client.clone().prop_map(|client| Op::Heartbeat { client }),
                client.clone().prop_map(|client| Op::Leave { client }),
                client.prop_map(|client| Op::Commit { client }),
                (1i64..20_000).prop_map(|advance_ms| Op::Tick { advance_ms }),
            ]
        }

        /// What a client remembers from its answers.
        #[derive(Debug, Clone, Default)]
        struct Client {
            member_id: String,
            generation: i32,
        }

        fn check_invariants(c: &GroupCoordinator) {
            for group in c.groups.values() {
                assert_eq!(group.leader_id.is_some(), !group.members.is_empty());
                if let Some(leader) = &group.leader_id {
                    assert!(group.member(leader).is_some());
                }
                if group.state == GroupState::Empty {
                    assert!(group.members.is_empty());
                }
                assert_eq!(
                    group.join_timer.is_some(),
                    group.state == GroupState::PreparingRebalance
                );
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]
            /// Whatever clients do, every parked request gets exactly one
            /// answer (by shutdown at the latest), generations only grow,
            /// and the group's invariants hold after every step.
            #[test]
            fn every_request_is_answered_exactly_once(ops in proptest::collection::vec(op(), 1..120)) {
                let mut c = coordinator();
                let mut clients = vec![Client::default(); 3];
                let mut issued = 0u64;
                let mut answered: BTreeMap<u64, usize> = BTreeMap::new();
                let mut owner: BTreeMap<u64, usize> = BTreeMap::new();
                let mut now_ms = 0i64;
                let mut generation = 0;
                for op in ops {
                    now_ms += 1;
                    let actions = match op {
                        Op::Join { client, fresh } => {
                            issued += 1;
                            owner.insert(issued, client);
                            let id = if fresh { String::new() } else { clients[client].member_id.clone() };
                            let new_id = format!("m{issued}");
                            c.join(t(issued), join_req(&id, b"m"), new_id, now_ms)
                        }
                        Op::Sync { client } => {
                            issued += 1;
                            let Client { member_id, generation } = clients[client].clone();
                            let assignments: Vec<(String, Vec<u8>)> =
                                clients.iter().map(|k| (k.member_id.clone(), b"x".to_vec())).collect();
                            let mut req = sync_req(&member_id, generation, &[]);
                            req.assignments = assignments;
                            c.sync(t(issued), req, now_ms)
                        }
                        Op::Heartbeat { client } => {
                            let k = &clients[client];
                            let _ = c.heartbeat(&hb(&k.member_id, k.generation), now_ms);
                            vec![]
                        }
                        Op::Leave { client } => c.leave(&leave_req(&[&clients[client].member_id]), now_ms).1,
                        Op::Commit { client } => {
                            let k = &clients[client];
                            let outcome = c.commit_offsets(&commit_req(k.generation, &k.member_id, &[(0, 1)]), now_ms);
                            c.apply_offsets(&outcome.records, now_ms);
                            vec![]
                        }
                        Op::Tick { advance_ms } => {
                            now_ms += advance_ms;
                            c.tick(now_ms)
                        }
                    };
                    for action in actions {
                        if let GroupAction::CompleteJoin { token, response } = &action {
                            let k = &mut clients[owner[&token.0]];
                            if !response.member_id.is_empty() {
                                k.member_id = response.member_id.clone();
                                k.generation = response.generation_id;
                            }
                        }
                        let token = match action {
                            GroupAction::CompleteJoin { token, .. } | GroupAction::CompleteSync { token, .. } => token,
                        };
                        *answered.entry(token.0).or_default() += 1;
                    }
                    check_invariants(&c);
                    if let Some(group) = c.groups.get("g") {
                        prop_assert!(group.generation_id >= generation);
                        generation = group.generation_id;
                    }
                }
                for action in c.shutdown() {
                    let token = match action {
                        GroupAction::CompleteJoin { token, .. } | GroupAction::CompleteSync { token, .. } => token,
                    };
                    *answered.entry(token.0).or_default() += 1;
                }
                prop_assert!(answered.values().all(|&n| n == 1), "{answered:?}");
                let parked: Vec<u64> = (1..=issued).filter(|n| !answered.contains_key(n)).collect();
                prop_assert!(parked.is_empty(), "never answered: {parked:?}");
            }
        }
    }
}
