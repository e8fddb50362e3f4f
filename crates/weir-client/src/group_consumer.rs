//! The group consumer: Kafka's classic consumer-group protocol on top of
//! [`Consumer`], which still does every Fetch.
//!
//! One member's life, as Kafka's `ConsumerCoordinator` lives it:
//!
//! 1. FindCoordinator (key type 0, the group) names the broker that leads
//!    the group's `__consumer_offsets` partition; the member keeps its own
//!    connection to it, with a request timeout longer than the rebalance
//!    timeout because JoinGroup is answered only when the rebalance ends.
//! 2. JoinGroup with protocol type `consumer` and one protocol, `range`,
//!    whose metadata is a `ConsumerProtocolSubscription` (kafka-protocol's
//!    codec behind Kafka's 2-byte version prefix). From v4 a new member
//!    first gets MEMBER_ID_REQUIRED and the id to join with (KIP-394).
//! 3. The leader computes the range assignment (Kafka's `RangeAssignor`);
//!    SyncGroup hands each member its `ConsumerProtocolAssignment`.
//! 4. OffsetFetch gives the starting positions; partitions without a
//!    committed offset start where `auto.offset.reset` says (the
//!    [`Consumer`] does that on the first poll).
//! 5. A background task sends Heartbeat every `heartbeat.interval.ms` (at
//!    most a third of the session timeout, KIP-62); an answer saying the
//!    group is rebalancing (or forgot us) makes the next poll rejoin, after
//!    committing what was consumed, as the eager protocol does.
//! 6. Positions are committed every `auto.commit.interval.ms` from poll
//!    (`enable.auto.commit`), and once more by [`GroupConsumer::close`],
//!    which then sends LeaveGroup.
//!
//! Retriable errors: COORDINATOR_NOT_AVAILABLE and NOT_COORDINATOR (and a
//! lost connection) look the coordinator up again; COORDINATOR_LOAD_IN_PROGRESS
//! and UNSTABLE_OFFSET_COMMIT back off and ask again; REBALANCE_IN_PROGRESS,
//! ILLEGAL_GENERATION and UNKNOWN_MEMBER_ID (which also forgets the member
//! id) rejoin. Every such loop runs against one deadline
//! ([`GroupConfig::retry_deadline_ms`], 30 s), with exponential backoff from
//! `retry.backoff.ms` to `retry.backoff.max.ms`.
//!
//! Not done: watching metadata for new partitions of a subscribed topic
//! (Kafka's leader rejoins when the count changes), cooperative
//! rebalancing, rack-aware assignment.

use crate::client::{topic_name, Client};
use crate::connection::{Connection, ConnectionConfig};
use crate::consumer::{Consumer, ConsumerConfig, ConsumerRecord, OffsetSpec};
use crate::error::{ClientError, KafkaError, Result};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::consumer_protocol_assignment::{
    ConsumerProtocolAssignment, TopicPartition as AssignedTopic,
};
use kafka_protocol::messages::consumer_protocol_subscription::ConsumerProtocolSubscription;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::{
    FindCoordinatorRequest, GroupId, HeartbeatRequest, JoinGroupRequest, JoinGroupResponse,
    LeaveGroupRequest, OffsetCommitRequest, OffsetCommitResponse, OffsetFetchRequest,
    OffsetFetchResponse, SyncGroupRequest,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;
use weir_protocol::TopicPartition;

/// `ConsumerProtocol.PROTOCOL_TYPE`.
pub const PROTOCOL_TYPE: &str = "consumer";
/// The one assignor we offer, Kafka's `RangeAssignor`.
pub const RANGE_ASSIGNOR: &str = "range";
/// FindCoordinator key type of a group (1 is a transactional id).
const KEY_TYPE_GROUP: i8 = 0;
/// The subscription and assignment versions Kafka 4.0 writes.
const EMBEDDED_PROTOCOL_VERSION: i16 = 3;
/// OffsetFetch v8 batches several groups; one group needs nothing from it,
/// and v1-7 keep the single-group request and response shape.
const OFFSET_FETCH_MAX_VERSION: i16 = 7;
/// Headroom over the rebalance timeout for a JoinGroup answer (Kafka's
/// `JOIN_GROUP_TIMEOUT_LAPSE`).
const JOIN_TIMEOUT_LAPSE_MS: u64 = 5_000;

/// Group settings, named and defaulted as Kafka's consumer configs.
#[derive(Debug, Clone)]
pub struct GroupConfig {
    /// `group.id`.
    pub group_id: String,
    /// `group.instance.id`: a static member (KIP-345), which does not send
    /// LeaveGroup on close.
    pub group_instance_id: Option<String>,
    /// `session.timeout.ms`.
    pub session_timeout_ms: i32,
    /// `max.poll.interval.ms`, sent as the rebalance timeout.
    pub rebalance_timeout_ms: i32,
    /// `heartbeat.interval.ms`; heartbeats go at most every third of the
    /// session timeout whatever this says.
    pub heartbeat_interval_ms: u64,
    /// `enable.auto.commit`.
    pub enable_auto_commit: bool,
    /// `auto.commit.interval.ms`.
    pub auto_commit_interval_ms: u64,
    /// `retry.backoff.ms`: first pause after a retriable group error.
    pub retry_backoff_ms: u64,
    /// `retry.backoff.max.ms`: the backoff doubles up to this.
    pub retry_backoff_max_ms: u64,
    /// How long one operation (join, offset fetch, commit) keeps retrying
    /// retriable errors before it gives up with the last one.
    pub retry_deadline_ms: u64,
}

impl GroupConfig {
    /// Kafka's defaults for `group_id`.
    pub fn new(group_id: impl Into<String>) -> GroupConfig {
        GroupConfig {
            group_id: group_id.into(),
            group_instance_id: None,
            session_timeout_ms: 45_000,
            rebalance_timeout_ms: 300_000,
            heartbeat_interval_ms: 3_000,
            enable_auto_commit: true,
            auto_commit_interval_ms: 5_000,
            retry_backoff_ms: 100,
            retry_backoff_max_ms: 1_000,
            retry_deadline_ms: 30_000,
        }
    }

    /// The interval heartbeats are actually sent at.
    pub fn effective_heartbeat_interval(&self) -> Duration {
        let third = u64::try_from(self.session_timeout_ms / 3)
            .unwrap_or(1)
            .max(1);
        Duration::from_millis(self.heartbeat_interval_ms.clamp(1, third))
    }
}

/// What a group error asks the member to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovery {
    /// Back off and send the same request again.
    Retry,
    /// Look the coordinator up again, then retry.
    FindCoordinator,
    /// Join the group again (forgetting the member id if told so).
    Rejoin {
        /// UNKNOWN_MEMBER_ID: the coordinator no longer knows our id.
        reset_member_id: bool,
    },
    /// Give up with this error.
    Fatal,
}

/// Kafka's handling of a group API error code (`AbstractCoordinator`'s
/// response handlers).
pub fn recovery(error: ResponseError) -> Recovery {
    match error {
        ResponseError::CoordinatorNotAvailable | ResponseError::NotCoordinator => {
            Recovery::FindCoordinator
        }
        ResponseError::CoordinatorLoadInProgress | ResponseError::UnstableOffsetCommit => {
            Recovery::Retry
        }
        ResponseError::RebalanceInProgress | ResponseError::IllegalGeneration => Recovery::Rejoin {
            reset_member_id: false,
        },
        ResponseError::UnknownMemberId => Recovery::Rejoin {
            reset_member_id: true,
        },
        _ => Recovery::Fatal,
    }
}

/// The recovery for a failed request: a broker error by its code, a lost
/// or silent connection by looking the coordinator up again.
fn recovery_of(e: &ClientError) -> Recovery {
    match e {
        ClientError::Kafka(k) => recovery(k.error),
        e if e.is_retriable() => Recovery::FindCoordinator,
        _ => Recovery::Fatal,
    }
}

/// Retries against one deadline, with exponential backoff.
#[derive(Debug)]
struct Retry {
    deadline: Instant,
    backoff: Duration,
    backoff_max: Duration,
}

impl Retry {
    fn new(config: &GroupConfig) -> Retry {
        Retry {
            deadline: Instant::now() + Duration::from_millis(config.retry_deadline_ms),
            backoff: Duration::from_millis(config.retry_backoff_ms.max(1)),
            backoff_max: Duration::from_millis(config.retry_backoff_max_ms.max(1)),
        }
    }

    /// Sleep before the next attempt, or fail with `last` if the deadline
    /// would pass.
    async fn pause(&mut self, last: ClientError) -> Result<()> {
        if Instant::now() + self.backoff >= self.deadline {
            return Err(last);
        }
        tracing::debug!(error = %last, backoff = ?self.backoff, "retrying a group request");
        tokio::time::sleep(self.backoff).await;
        self.backoff = (self.backoff * 2).min(self.backoff_max);
        Ok(())
    }

    /// Fail with `last` once the deadline has passed (for attempts that
    /// need no pause, such as MEMBER_ID_REQUIRED).
    fn check(&self, last: ClientError) -> Result<()> {
        if Instant::now() >= self.deadline {
            return Err(last);
        }
        Ok(())
    }
}

/// The group's coordinator: found with FindCoordinator, reached on a
/// connection of our own.
#[derive(Debug)]
struct CoordinatorLink {
    client: Client,
    group_id: String,
    /// The client's connection settings with a request timeout that covers
    /// a JoinGroup held for the whole rebalance.
    connection: ConnectionConfig,
    conn: Option<Arc<Connection>>,
}

impl CoordinatorLink {
    fn new(client: Client, group_id: &str, rebalance_timeout_ms: i32) -> CoordinatorLink {
        let mut connection = client.config().connection.clone();
        let join_ms = u64::try_from(rebalance_timeout_ms).unwrap_or(0) + JOIN_TIMEOUT_LAPSE_MS;
        connection.request_timeout_ms = connection.request_timeout_ms.max(join_ms);
        CoordinatorLink {
            client,
            group_id: group_id.to_owned(),
            connection,
            conn: None,
        }
    }

    /// Forget the coordinator; the next request looks it up again.
    fn lost(&mut self) {
        self.conn = None;
    }

    /// The coordinator's connection, looking it up (with retries against
    /// `retry`'s deadline) if unknown or closed.
    async fn connection(&mut self, retry: &mut Retry) -> Result<Arc<Connection>> {
        if let Some(conn) = self.conn.as_ref().filter(|c| !c.is_closed()) {
            return Ok(Arc::clone(conn));
        }
        loop {
            match self.find().await {
                Ok(conn) => {
                    let conn = Arc::new(conn);
                    self.conn = Some(Arc::clone(&conn));
                    return Ok(conn);
                }
                Err(e) if recovery_of(&e) != Recovery::Fatal => retry.pause(e).await?,
                Err(e) => return Err(e),
            }
        }
    }

    /// One FindCoordinator round trip and a connection to the answer.
    async fn find(&self) -> Result<Connection> {
        let conn = self.client.any_connection().await?;
        let version = conn.negotiate::<FindCoordinatorRequest>()?;
        let key = StrBytes::from_string(self.group_id.clone());
        let request = if version >= 4 {
            FindCoordinatorRequest::default()
                .with_key_type(KEY_TYPE_GROUP)
                .with_coordinator_keys(vec![key])
        } else {
            FindCoordinatorRequest::default()
                .with_key_type(KEY_TYPE_GROUP)
                .with_key(key)
        };
        let resp = conn.send(&request, version).await?;
        let (error, message, node, host, port) = if version >= 4 {
            let c = resp.coordinators.into_iter().next().ok_or_else(|| {
                ClientError::Protocol("FindCoordinator answered no coordinator".to_owned())
            })?;
            (c.error_code, c.error_message, c.node_id, c.host, c.port)
        } else {
            (
                resp.error_code,
                resp.error_message,
                resp.node_id,
                resp.host,
                resp.port,
            )
        };
        if let Some(e) = KafkaError::from_code(error, message.as_deref()) {
            return Err(e.into());
        }
        let addr = format!("{}:{port}", host.as_str());
        tracing::debug!(group = %self.group_id, node = node.0, %addr, "found the group coordinator");
        Connection::connect(&addr, &self.connection).await
    }
}

/// Signals from the heartbeat task to the next poll.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Signals {
    rejoin: bool,
    reset_member_id: bool,
    coordinator_lost: bool,
}

type SharedSignals = Arc<Mutex<Signals>>;

fn lock(signals: &SharedSignals) -> std::sync::MutexGuard<'_, Signals> {
    signals.lock().unwrap_or_else(|e| e.into_inner())
}

/// This member's place in the group.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Membership {
    member_id: String,
    /// -1 until a JoinGroup succeeds, and again when it must be redone.
    generation_id: i32,
    protocol_name: Option<String>,
}

/// A consumer that is a member of a consumer group.
#[derive(Debug)]
pub struct GroupConsumer {
    client: Client,
    consumer: Consumer,
    config: GroupConfig,
    topics: Vec<String>,
    link: CoordinatorLink,
    member: Membership,
    /// Whether the member holds a valid assignment for its generation.
    joined: bool,
    signals: SharedSignals,
    heartbeat: Option<JoinHandle<()>>,
    /// The last offset committed (or fetched) per assigned partition, so
    /// unchanged positions are not committed again.
    committed: HashMap<TopicPartition, i64>,
    next_auto_commit: Instant,
}

impl GroupConsumer {
    /// A member of `config.group_id` subscribed to `topics`; it joins the
    /// group on the first poll.
    pub fn new(
        client: Client,
        consumer_config: ConsumerConfig,
        config: GroupConfig,
        topics: Vec<String>,
    ) -> GroupConsumer {
        let link = CoordinatorLink::new(
            client.clone(),
            &config.group_id,
            config.rebalance_timeout_ms,
        );
        GroupConsumer {
            consumer: Consumer::new(client.clone(), consumer_config),
            client,
            link,
            topics,
            member: Membership {
                member_id: String::new(),
                generation_id: -1,
                protocol_name: None,
            },
            joined: false,
            signals: SharedSignals::default(),
            heartbeat: None,
            committed: HashMap::new(),
            next_auto_commit: Instant::now()
                + Duration::from_millis(config.auto_commit_interval_ms),
            config,
        }
    }

    /// The partitions assigned in the current generation.
    pub fn assignment(&self) -> &[TopicPartition] {
        self.consumer.assignment()
    }

    /// The member id the coordinator gave us ("" before the first join).
    pub fn member_id(&self) -> &str {
        &self.member.member_id
    }

    /// The current generation (-1 when not joined).
    pub fn generation_id(&self) -> i32 {
        self.member.generation_id
    }

    /// The next offset to be read from `tp`, if known.
    pub fn position(&self, tp: &TopicPartition) -> Option<i64> {
        self.consumer.position(tp)
    }

    /// Move `tp` to `offset`: the next poll reads from there, and the next
    /// commit commits it (the console consumer rewinds records it fetched
    /// but did not print).
    pub async fn seek(&mut self, tp: &TopicPartition, offset: i64) -> Result<()> {
        self.consumer
            .seek(std::slice::from_ref(tp), OffsetSpec::Offset(offset))
            .await
    }

    /// Join (or rejoin) the group if needed, commit if the auto-commit
    /// interval has passed, then fetch records of the assigned partitions,
    /// waiting up to `timeout`.
    pub async fn poll(&mut self, timeout: Duration) -> Result<Vec<ConsumerRecord>> {
        self.ensure_active().await?;
        self.maybe_auto_commit().await;
        if self.consumer.assignment().is_empty() {
            // A member with nothing assigned (more members than partitions)
            // waits; the consumer would return at once and the caller spin.
            tokio::time::sleep(timeout).await;
            return Ok(Vec::new());
        }
        self.consumer.poll(timeout).await
    }

    /// Commit the current position of every assigned partition that moved
    /// since the last commit, retrying retriable errors until the deadline.
    pub async fn commit(&mut self) -> Result<()> {
        let offsets = self.uncommitted_positions();
        if offsets.is_empty() {
            return Ok(());
        }
        let mut retry = Retry::new(&self.config);
        loop {
            let e = match self.commit_once(&offsets, &mut retry).await {
                Ok(()) => {
                    self.committed.extend(offsets);
                    return Ok(());
                }
                Err(e) => e,
            };
            match recovery_of(&e) {
                Recovery::FindCoordinator => self.link.lost(),
                Recovery::Retry => {}
                // The generation is over: what we hold is no longer ours to
                // commit. Rejoin on the next poll; the caller sees the error.
                Recovery::Rejoin { reset_member_id } => {
                    self.need_rejoin(reset_member_id);
                    return Err(e);
                }
                Recovery::Fatal => return Err(e),
            }
            retry.pause(e).await?;
        }
    }

    /// The committed offsets of `partitions` for this group (OffsetFetch);
    /// partitions without one are left out.
    pub async fn committed(
        &mut self,
        partitions: &[TopicPartition],
    ) -> Result<HashMap<TopicPartition, i64>> {
        let mut retry = Retry::new(&self.config);
        fetch_offsets(&mut self.link, partitions, &mut retry).await
    }

    /// Leave the group: commit the positions (with `enable.auto.commit`,
    /// as Kafka's `close` does), stop heartbeats, send LeaveGroup.
    /// Failures are logged; the first one is returned after the rest is
    /// done.
    pub async fn close(mut self) -> Result<()> {
        let committed = if self.config.enable_auto_commit && self.joined {
            self.commit().await
        } else {
            Ok(())
        };
        if let Err(e) = &committed {
            tracing::warn!(group = %self.config.group_id, error = %e, "final offset commit failed");
        }
        self.stop_heartbeat();
        if self.joined && self.config.group_instance_id.is_none() {
            if let Err(e) = self.leave().await {
                tracing::warn!(group = %self.config.group_id, error = %e, "LeaveGroup failed");
            }
        }
        committed
    }

    /// Rejoin if the heartbeat said so, and join if not yet a member.
    async fn ensure_active(&mut self) -> Result<()> {
        let signals = std::mem::take(&mut *lock(&self.signals));
        if signals.coordinator_lost {
            self.link.lost();
        }
        if signals.rejoin {
            self.need_rejoin(signals.reset_member_id);
        }
        if self.joined {
            return Ok(());
        }
        let assignment = self.join_and_sync().await?;
        self.start_generation(assignment).await
    }

    /// Mark the generation over. The eager protocol gives every partition
    /// back before rejoining, so commit what was consumed first (the
    /// coordinator still takes commits of a generation that is
    /// rebalancing); the positions are then fetched again.
    fn need_rejoin(&mut self, reset_member_id: bool) {
        if reset_member_id {
            self.member.member_id.clear();
        }
        if self.joined {
            self.joined = false;
            self.stop_heartbeat();
        }
    }

    async fn maybe_auto_commit(&mut self) {
        if !self.config.enable_auto_commit || Instant::now() < self.next_auto_commit {
            return;
        }
        self.next_auto_commit =
            Instant::now() + Duration::from_millis(self.config.auto_commit_interval_ms);
        if let Err(e) = self.commit().await {
            tracing::warn!(group = %self.config.group_id, error = %e, "auto commit failed");
        }
    }

    /// Positions of assigned partitions that differ from the last commit.
    fn uncommitted_positions(&self) -> BTreeMap<TopicPartition, i64> {
        self.consumer
            .assignment()
            .iter()
            .filter_map(|tp| Some((tp.clone(), self.consumer.position(tp)?)))
            .filter(|(tp, offset)| self.committed.get(tp) != Some(offset))
            .collect()
    }

    async fn commit_once(
        &mut self,
        offsets: &BTreeMap<TopicPartition, i64>,
        retry: &mut Retry,
    ) -> Result<()> {
        let conn = self.link.connection(retry).await?;
        let version = conn.negotiate::<OffsetCommitRequest>()?;
        let request = offset_commit_request(&self.config, &self.member, offsets, version);
        let resp = conn.send(&request, version).await?;
        offset_commit_result(&resp)
    }

    /// JoinGroup then SyncGroup until one generation's assignment is ours.
    async fn join_and_sync(&mut self) -> Result<Vec<TopicPartition>> {
        if self.member.generation_id >= 0 && !self.consumer.assignment().is_empty() {
            // Leaving a generation: commit what was consumed (best effort).
            if let Err(e) = self.commit().await {
                tracing::warn!(group = %self.config.group_id, error = %e, "commit before rejoining failed");
            }
        }
        self.consumer.assign(Vec::new());
        self.committed.clear();
        self.member.generation_id = -1;
        let mut retry = Retry::new(&self.config);
        loop {
            let e = match self.join_once(&mut retry).await {
                Ok(Some(assignment)) => return Ok(assignment),
                Ok(None) => {
                    retry.check(member_id_required())?;
                    continue;
                }
                Err(e) => e,
            };
            match recovery_of(&e) {
                Recovery::FindCoordinator => self.link.lost(),
                Recovery::Retry => {}
                Recovery::Rejoin { reset_member_id } => {
                    if reset_member_id {
                        self.member.member_id.clear();
                    }
                }
                Recovery::Fatal => return Err(e),
            }
            self.member.generation_id = -1;
            retry.pause(e).await?;
        }
    }

    /// One JoinGroup and SyncGroup. `Ok(None)`: MEMBER_ID_REQUIRED, join
    /// again at once with the id now held.
    async fn join_once(&mut self, retry: &mut Retry) -> Result<Option<Vec<TopicPartition>>> {
        let conn = self.link.connection(retry).await?;
        let version = conn.negotiate::<JoinGroupRequest>()?;
        let request = self.join_request(version)?;
        let resp = conn.send(&request, version).await?;
        match KafkaError::from_code(resp.error_code, None) {
            None => {}
            Some(e) if e.error == ResponseError::MemberIdRequired => {
                self.member.member_id = resp.member_id.to_string();
                return Ok(None);
            }
            Some(e) => return Err(e.into()),
        }
        self.member = Membership {
            member_id: resp.member_id.to_string(),
            generation_id: resp.generation_id,
            protocol_name: resp.protocol_name.as_ref().map(ToString::to_string),
        };
        let assignments = if resp.leader == resp.member_id && !resp.skip_assignment {
            self.leader_assignments(&resp).await?
        } else {
            Vec::new()
        };
        let version = conn.negotiate::<SyncGroupRequest>()?;
        let request = self.sync_request(assignments, version);
        let resp = conn.send(&request, version).await?;
        if let Some(e) = KafkaError::from_code(resp.error_code, None) {
            return Err(e.into());
        }
        let assignment = decode_assignment(&resp.assignment)?;
        tracing::info!(
            group = %self.config.group_id,
            member = %self.member.member_id,
            generation = self.member.generation_id,
            partitions = ?assignment,
            "joined the group"
        );
        Ok(Some(assignment))
    }

    fn join_request(&self, version: i16) -> Result<JoinGroupRequest> {
        let subscription = ConsumerProtocolSubscription::default()
            .with_topics(
                self.topics
                    .iter()
                    .map(|t| StrBytes::from_string(t.clone()))
                    .collect(),
            )
            .with_generation_id(self.member.generation_id);
        let request = JoinGroupRequest::default()
            .with_group_id(group_id(&self.config.group_id))
            .with_session_timeout_ms(self.config.session_timeout_ms)
            .with_rebalance_timeout_ms(self.config.rebalance_timeout_ms)
            .with_member_id(StrBytes::from_string(self.member.member_id.clone()))
            .with_protocol_type(StrBytes::from_static_str(PROTOCOL_TYPE))
            .with_protocols(vec![JoinGroupRequestProtocol::default()
                .with_name(StrBytes::from_static_str(RANGE_ASSIGNOR))
                .with_metadata(encode_embedded(&subscription)?)]);
        Ok(request.with_group_instance_id(self.instance_id(version >= 5)))
    }

    fn sync_request(&self, assignments: Vec<(String, Bytes)>, version: i16) -> SyncGroupRequest {
        let request = SyncGroupRequest::default()
            .with_group_id(group_id(&self.config.group_id))
            .with_generation_id(self.member.generation_id)
            .with_member_id(StrBytes::from_string(self.member.member_id.clone()))
            .with_protocol_type(Some(StrBytes::from_static_str(PROTOCOL_TYPE)))
            .with_protocol_name(self.member.protocol_name.clone().map(StrBytes::from_string))
            .with_assignments(
                assignments
                    .into_iter()
                    .map(|(member, bytes)| {
                        SyncGroupRequestAssignment::default()
                            .with_member_id(StrBytes::from_string(member))
                            .with_assignment(bytes)
                    })
                    .collect(),
            );
        request.with_group_instance_id(self.instance_id(version >= 3))
    }

    /// `group.instance.id` if set and the request version carries it.
    fn instance_id(&self, version_has_it: bool) -> Option<StrBytes> {
        let id = self.config.group_instance_id.clone()?;
        version_has_it.then(|| StrBytes::from_string(id))
    }

    /// The leader's job: every member's range assignment, encoded.
    async fn leader_assignments(&self, resp: &JoinGroupResponse) -> Result<Vec<(String, Bytes)>> {
        let mut members = Vec::with_capacity(resp.members.len());
        for m in &resp.members {
            let subscription = decode_subscription(&m.metadata)?;
            members.push(Member {
                member_id: m.member_id.to_string(),
                group_instance_id: m.group_instance_id.as_ref().map(ToString::to_string),
                topics: subscription
                    .topics
                    .iter()
                    .map(ToString::to_string)
                    .collect(),
            });
        }
        let topics: BTreeSet<&String> = members.iter().flat_map(|m| &m.topics).collect();
        let mut partitions = BTreeMap::new();
        for topic in topics {
            match self.client.partitions(topic).await {
                Ok(mut p) => {
                    p.sort_unstable();
                    partitions.insert(topic.clone(), p);
                }
                Err(e) => {
                    tracing::warn!(%topic, error = %e, "subscribed topic has no partitions to assign")
                }
            }
        }
        range_assign(&members, &partitions)
            .into_iter()
            .map(|(member, assigned)| Ok((member, encode_assignment(&assigned)?)))
            .collect()
    }

    /// Take the generation's partitions: start each at its committed
    /// offset (the rest at `auto.offset.reset`) and start heartbeats.
    async fn start_generation(&mut self, assignment: Vec<TopicPartition>) -> Result<()> {
        self.consumer.assign(assignment.clone());
        let committed = if assignment.is_empty() {
            HashMap::new()
        } else {
            self.committed(&assignment).await?
        };
        for (tp, offset) in &committed {
            self.consumer
                .seek(std::slice::from_ref(tp), OffsetSpec::Offset(*offset))
                .await?;
        }
        self.committed = committed;
        self.joined = true;
        self.start_heartbeat()?;
        Ok(())
    }

    fn start_heartbeat(&mut self) -> Result<()> {
        self.stop_heartbeat();
        let Some(conn) = self.link.conn.clone() else {
            return Ok(()); // lost meanwhile: the next poll rejoins
        };
        let version = conn.negotiate::<HeartbeatRequest>()?;
        let request = HeartbeatRequest::default()
            .with_group_id(group_id(&self.config.group_id))
            .with_generation_id(self.member.generation_id)
            .with_member_id(StrBytes::from_string(self.member.member_id.clone()))
            .with_group_instance_id(self.instance_id(version >= 3));
        let beat = Heartbeat {
            conn,
            request,
            version,
            interval: self.config.effective_heartbeat_interval(),
            signals: Arc::clone(&self.signals),
        };
        self.heartbeat = Some(tokio::spawn(beat.run()));
        Ok(())
    }

    fn stop_heartbeat(&mut self) {
        if let Some(task) = self.heartbeat.take() {
            task.abort();
        }
    }

    async fn leave(&mut self) -> Result<()> {
        let mut retry = Retry::new(&self.config);
        let conn = self.link.connection(&mut retry).await?;
        let version = conn.negotiate::<LeaveGroupRequest>()?;
        let member_id = StrBytes::from_string(self.member.member_id.clone());
        let request = LeaveGroupRequest::default().with_group_id(group_id(&self.config.group_id));
        let request = if version >= 3 {
            request.with_members(vec![MemberIdentity::default()
                .with_member_id(member_id)
                .with_reason(
                    (version >= 5)
                        .then(|| StrBytes::from_static_str("the consumer is being closed")),
                )])
        } else {
            request.with_member_id(member_id)
        };
        let resp = conn.send(&request, version).await?;
        self.joined = false;
        let member_error = resp.members.iter().map(|m| m.error_code).find(|&c| c != 0);
        crate::error::check(resp.error_code, None)?;
        crate::error::check(member_error.unwrap_or(0), None)
    }
}

impl Drop for GroupConsumer {
    fn drop(&mut self) {
        self.stop_heartbeat();
    }
}

/// The background heartbeat of one generation.
struct Heartbeat {
    conn: Arc<Connection>,
    request: HeartbeatRequest,
    version: i16,
    interval: Duration,
    signals: SharedSignals,
}

impl Heartbeat {
    /// Beat until the group says the generation is over or the coordinator
    /// is gone; either is left for the next poll to act on.
    async fn run(self) {
        loop {
            tokio::time::sleep(self.interval).await;
            let error = match self.conn.send(&self.request, self.version).await {
                Ok(resp) => match KafkaError::from_code(resp.error_code, None) {
                    None => continue,
                    Some(e) => ClientError::Kafka(e),
                },
                Err(e) => e,
            };
            let recovery = recovery_of(&error);
            if recovery == Recovery::Retry {
                continue;
            }
            tracing::info!(error = %error, "heartbeat ended the generation");
            let mut signals = lock(&self.signals);
            // Every other outcome rejoins: Weir's coordinator does not keep
            // members across a move, and a fatal error (FENCED_INSTANCE_ID)
            // is reported by the JoinGroup that follows.
            signals.rejoin = true;
            signals.coordinator_lost |= recovery == Recovery::FindCoordinator;
            signals.reset_member_id |= recovery
                == (Recovery::Rejoin {
                    reset_member_id: true,
                });
            return;
        }
    }
}

/// The committed offsets of `partitions` for a group, looked up with
/// FindCoordinator and OffsetFetch, retrying retriable errors for up to
/// `retry_deadline`. Partitions without a commit are left out.
pub async fn committed_offsets(
    client: &Client,
    group: &str,
    partitions: &[TopicPartition],
    retry_deadline: Duration,
) -> Result<HashMap<TopicPartition, i64>> {
    let mut config = GroupConfig::new(group);
    config.retry_deadline_ms = u64::try_from(retry_deadline.as_millis()).unwrap_or(u64::MAX);
    let mut link = CoordinatorLink::new(client.clone(), group, 0);
    fetch_offsets(&mut link, partitions, &mut Retry::new(&config)).await
}

async fn fetch_offsets(
    link: &mut CoordinatorLink,
    partitions: &[TopicPartition],
    retry: &mut Retry,
) -> Result<HashMap<TopicPartition, i64>> {
    loop {
        let attempt = async {
            let conn = link.connection(retry).await?;
            let version = conn.negotiate_capped::<OffsetFetchRequest>(OFFSET_FETCH_MAX_VERSION)?;
            let request = offset_fetch_request(&link.group_id, partitions, version);
            let resp = conn.send(&request, version).await?;
            offset_fetch_result(&resp, partitions)
        };
        let e = match attempt.await {
            Ok(offsets) => return Ok(offsets),
            Err(e) => e,
        };
        match recovery_of(&e) {
            Recovery::FindCoordinator => link.lost(),
            Recovery::Retry => {}
            // OffsetFetch does not depend on the generation.
            Recovery::Rejoin { .. } | Recovery::Fatal => return Err(e),
        }
        retry.pause(e).await?;
    }
}

fn offset_fetch_request(
    group: &str,
    partitions: &[TopicPartition],
    version: i16,
) -> OffsetFetchRequest {
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for tp in partitions {
        by_topic
            .entry(tp.topic.as_str())
            .or_default()
            .push(tp.partition);
    }
    let topics = by_topic
        .into_iter()
        .map(|(name, parts)| {
            OffsetFetchRequestTopic::default()
                .with_name(topic_name(name))
                .with_partition_indexes(parts)
        })
        .collect();
    OffsetFetchRequest::default()
        .with_group_id(group_id(group))
        .with_topics(Some(topics))
        // KIP-447: wait out pending transactional commits (v7+).
        .with_require_stable(version >= 7)
}

/// Committed offsets from an OffsetFetch (v1-7) answer; -1 means none.
fn offset_fetch_result(
    resp: &OffsetFetchResponse,
    asked: &[TopicPartition],
) -> Result<HashMap<TopicPartition, i64>> {
    crate::error::check(resp.error_code, None)?;
    let mut out = HashMap::new();
    for t in &resp.topics {
        for p in &t.partitions {
            let tp = TopicPartition::new(t.name.0.to_string(), p.partition_index);
            if !asked.contains(&tp) {
                continue;
            }
            crate::error::check(p.error_code, None)?;
            if p.committed_offset >= 0 {
                out.insert(tp, p.committed_offset);
            }
        }
    }
    Ok(out)
}

fn offset_commit_request(
    config: &GroupConfig,
    member: &Membership,
    offsets: &BTreeMap<TopicPartition, i64>,
    version: i16,
) -> OffsetCommitRequest {
    let mut by_topic: BTreeMap<&str, Vec<OffsetCommitRequestPartition>> = BTreeMap::new();
    for (tp, &offset) in offsets {
        by_topic.entry(tp.topic.as_str()).or_default().push(
            OffsetCommitRequestPartition::default()
                .with_partition_index(tp.partition)
                .with_committed_offset(offset),
        );
    }
    let topics = by_topic
        .into_iter()
        .map(|(name, partitions)| {
            OffsetCommitRequestTopic::default()
                .with_name(topic_name(name))
                .with_partitions(partitions)
        })
        .collect();
    let instance = config
        .group_instance_id
        .clone()
        .filter(|_| version >= 7)
        .map(StrBytes::from_string);
    OffsetCommitRequest::default()
        .with_group_id(group_id(&config.group_id))
        .with_generation_id_or_member_epoch(member.generation_id)
        .with_member_id(StrBytes::from_string(member.member_id.clone()))
        .with_group_instance_id(instance)
        .with_topics(topics)
}

/// The first partition error of an OffsetCommit answer, if any.
fn offset_commit_result(resp: &OffsetCommitResponse) -> Result<()> {
    let code = resp
        .topics
        .iter()
        .flat_map(|t| &t.partitions)
        .map(|p| p.error_code)
        .find(|&c| c != 0);
    crate::error::check(code.unwrap_or(0), None)
}

fn group_id(group: &str) -> GroupId {
    GroupId(StrBytes::from_string(group.to_owned()))
}

fn member_id_required() -> ClientError {
    ClientError::Kafka(KafkaError {
        error: ResponseError::MemberIdRequired,
        message: None,
    })
}

/// One member as the assignor sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The coordinator's member id.
    pub member_id: String,
    /// `group.instance.id` of a static member.
    pub group_instance_id: Option<String>,
    /// The topics it subscribed to.
    pub topics: Vec<String>,
}

/// Kafka's `RangeAssignor`: per topic, members subscribed to it in order
/// (static members by instance id first, then the rest by member id) each
/// take a contiguous range of the sorted partitions, the first
/// `partitions % members` one more. Every member gets an entry, maybe
/// empty. `partitions` holds each topic's partition ids, sorted.
pub fn range_assign(
    members: &[Member],
    partitions: &BTreeMap<String, Vec<i32>>,
) -> BTreeMap<String, Vec<TopicPartition>> {
    let mut out: BTreeMap<String, Vec<TopicPartition>> = members
        .iter()
        .map(|m| (m.member_id.clone(), Vec::new()))
        .collect();
    for (topic, parts) in partitions {
        let mut subscribed: Vec<&Member> = members
            .iter()
            .filter(|m| m.topics.iter().any(|t| t == topic))
            .collect();
        subscribed.sort_by(|a, b| member_order(a).cmp(&member_order(b)));
        let n = subscribed.len();
        if n == 0 {
            continue;
        }
        let (per_member, extra) = (parts.len() / n, parts.len() % n);
        for (i, m) in subscribed.into_iter().enumerate() {
            let start = per_member * i + i.min(extra);
            let len = per_member + usize::from(i < extra);
            let assigned = parts[start..start + len]
                .iter()
                .map(|&p| TopicPartition::new(topic.clone(), p));
            out.entry(m.member_id.clone()).or_default().extend(assigned);
        }
    }
    out
}

/// Kafka's `MemberInfo` order: static members (by instance id) first.
fn member_order(m: &Member) -> (bool, Option<&str>, &str) {
    (
        m.group_instance_id.is_none(),
        m.group_instance_id.as_deref(),
        &m.member_id,
    )
}

/// Kafka's embedded protocol framing: a 2-byte version, then the message
/// at that version (`ConsumerProtocol.serializeSubscription`).
fn encode_embedded<M: Encodable>(message: &M) -> Result<Bytes> {
    let mut buf = BytesMut::new();
    buf.put_i16(EMBEDDED_PROTOCOL_VERSION);
    message
        .encode(&mut buf, EMBEDDED_PROTOCOL_VERSION)
        .map_err(|e| ClientError::Encode(e.to_string()))?;
    Ok(buf.freeze())
}

/// Read the version prefix and decode at it, a newer version as our
/// newest (later versions only add fields at the end, which Kafka's
/// `ConsumerProtocol` also ignores).
fn decode_embedded<M: Decodable>(bytes: &Bytes, what: &str) -> Result<M> {
    let mut buf = bytes.clone();
    if buf.remaining() < 2 {
        return Err(ClientError::Protocol(format!(
            "{what} is shorter than its version"
        )));
    }
    let version = buf.get_i16();
    if version < 0 {
        return Err(ClientError::Protocol(format!(
            "{what} has version {version}"
        )));
    }
    M::decode(&mut buf, version.min(EMBEDDED_PROTOCOL_VERSION))
        .map_err(|e| ClientError::Protocol(format!("{what}: {e}")))
}

/// A member's JoinGroup metadata.
pub fn decode_subscription(bytes: &Bytes) -> Result<ConsumerProtocolSubscription> {
    decode_embedded(bytes, "ConsumerProtocolSubscription")
}

/// The assignment bytes SyncGroup hands to one member.
pub fn encode_assignment(partitions: &[TopicPartition]) -> Result<Bytes> {
    let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for tp in partitions {
        by_topic
            .entry(tp.topic.as_str())
            .or_default()
            .push(tp.partition);
    }
    let assignment = ConsumerProtocolAssignment::default().with_assigned_partitions(
        by_topic
            .into_iter()
            .map(|(t, p)| {
                AssignedTopic::default()
                    .with_topic(topic_name(t))
                    .with_partitions(p)
            })
            .collect(),
    );
    encode_embedded(&assignment)
}

/// The partitions in a SyncGroup assignment; empty bytes are an empty
/// assignment (a leader that gave this member nothing).
pub fn decode_assignment(bytes: &Bytes) -> Result<Vec<TopicPartition>> {
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    let assignment: ConsumerProtocolAssignment =
        decode_embedded(bytes, "ConsumerProtocolAssignment")?;
    Ok(assignment
        .assigned_partitions
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|&p| TopicPartition::new(t.topic.0.to_string(), p))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: &str, instance: Option<&str>, topics: &[&str]) -> Member {
        Member {
            member_id: id.to_owned(),
            group_instance_id: instance.map(str::to_owned),
            topics: topics.iter().map(|t| (*t).to_owned()).collect(),
        }
    }

    fn tps(list: &[(&str, i32)]) -> Vec<TopicPartition> {
        list.iter()
            .map(|&(t, p)| TopicPartition::new(t, p))
            .collect()
    }

    #[test]
    fn range_gives_the_first_members_one_more() {
        let members = [member("b", None, &["t"]), member("a", None, &["t", "u"])];
        let partitions = BTreeMap::from([
            ("t".to_owned(), vec![0, 1, 2]),
            ("u".to_owned(), vec![0, 1]),
        ]);
        let out = range_assign(&members, &partitions);
        assert_eq!(out["a"], tps(&[("t", 0), ("t", 1), ("u", 0), ("u", 1)]));
        assert_eq!(out["b"], tps(&[("t", 2)]));
    }

    #[test]
    fn range_puts_static_members_first_and_leaves_extra_members_empty() {
        let members = [
            member("a", None, &["t"]),
            member("z", Some("i-1"), &["t"]),
            member("c", None, &["t"]),
        ];
        let partitions = BTreeMap::from([("t".to_owned(), vec![0, 1])]);
        let out = range_assign(&members, &partitions);
        assert_eq!(out["z"], tps(&[("t", 0)]));
        assert_eq!(out["a"], tps(&[("t", 1)]));
        assert_eq!(out["c"], Vec::new());
    }

    #[test]
    fn one_member_gets_every_partition() {
        let members = [member("m", None, &["t"])];
        let partitions = BTreeMap::from([("t".to_owned(), vec![0, 1])]);
        assert_eq!(
            range_assign(&members, &partitions)["m"],
            tps(&[("t", 0), ("t", 1)])
        );
    }

    #[test]
    fn assignment_round_trips_with_kafkas_version_prefix() {
        let assigned = tps(&[("t", 0), ("t", 1), ("u", 4)]);
        let bytes = encode_assignment(&assigned).unwrap();
        assert_eq!(&bytes[..2], &EMBEDDED_PROTOCOL_VERSION.to_be_bytes());
        assert_eq!(decode_assignment(&bytes).unwrap(), assigned);
        assert_eq!(decode_assignment(&Bytes::new()).unwrap(), Vec::new());
        assert!(decode_assignment(&Bytes::from_static(&[0])).is_err());
    }

    #[test]
    fn subscription_of_an_older_or_newer_version_decodes() {
        // A v0 subscription as an old Java client writes it: version 0,
        // topics ["t"], null user data.
        let v0 = Bytes::from_static(&[0, 0, 0, 0, 0, 1, 0, 1, b't', 0xff, 0xff, 0xff, 0xff]);
        let s = decode_subscription(&v0).unwrap();
        assert_eq!(s.topics, vec![StrBytes::from_static_str("t")]);
        // A future v4 with an extra trailing field is read as v3.
        let ours = ConsumerProtocolSubscription::default()
            .with_topics(vec![StrBytes::from_static_str("t")]);
        let mut future = encode_embedded(&ours).unwrap().to_vec();
        future[..2].copy_from_slice(&4i16.to_be_bytes());
        future.extend_from_slice(&[0, 0, 0, 7]);
        let s = decode_subscription(&Bytes::from(future)).unwrap();
        assert_eq!(s.topics, vec![StrBytes::from_static_str("t")]);
    }

    #[test]
    fn group_errors_map_to_kafkas_recovery() {
        use ResponseError as E;
        assert_eq!(
            recovery(E::CoordinatorNotAvailable),
            Recovery::FindCoordinator
        );
        assert_eq!(recovery(E::NotCoordinator), Recovery::FindCoordinator);
        assert_eq!(recovery(E::CoordinatorLoadInProgress), Recovery::Retry);
        assert_eq!(
            recovery(E::RebalanceInProgress),
            Recovery::Rejoin {
                reset_member_id: false
            }
        );
        assert_eq!(
            recovery(E::IllegalGeneration),
            Recovery::Rejoin {
                reset_member_id: false
            }
        );
        assert_eq!(
            recovery(E::UnknownMemberId),
            Recovery::Rejoin {
                reset_member_id: true
            }
        );
        assert_eq!(recovery(E::GroupAuthorizationFailed), Recovery::Fatal);
        assert_eq!(
            recovery_of(&ClientError::Disconnected("x".into())),
            Recovery::FindCoordinator
        );
    }

    #[test]
    fn heartbeat_interval_is_at_most_a_third_of_the_session() {
        let mut c = GroupConfig::new("g");
        assert_eq!(c.effective_heartbeat_interval(), Duration::from_secs(3));
        c.session_timeout_ms = 6_000;
        assert_eq!(c.effective_heartbeat_interval(), Duration::from_secs(2));
    }

    #[test]
    fn requests_fit_their_versions() {
        let mut config = GroupConfig::new("g");
        config.group_instance_id = Some("i".into());
        let member = Membership {
            member_id: "m".into(),
            generation_id: 3,
            protocol_name: Some(RANGE_ASSIGNOR.into()),
        };
        let offsets = BTreeMap::from([(TopicPartition::new("t", 0), 5)]);
        for version in 2..=9 {
            let r = offset_commit_request(&config, &member, &offsets, version);
            let mut buf = BytesMut::new();
            r.encode(&mut buf, version).unwrap();
        }
        for version in 1..=OFFSET_FETCH_MAX_VERSION {
            let r = offset_fetch_request("g", &tps(&[("t", 0)]), version);
            let mut buf = BytesMut::new();
            r.encode(&mut buf, version).unwrap();
        }
    }
}
