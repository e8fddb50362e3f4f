//! The active controller and the brokers' way to reach it.
//!
//! Every voter runs a [`Controller`]; only the one whose Raft node leads
//! the metadata quorum acts (Kafka's "active controller"). Brokers send it
//! [`ControllerRequest`]s on the controller listener, framed like the Raft
//! RPCs (`quorum::network`): registration, heartbeats, metadata changes
//! ([`ControllerOp`]) and DescribeQuorum. Kafka uses its
//! BrokerRegistration / BrokerHeartbeat / Envelope APIs for this; Weir's
//! internal protocol is JSON over the same port, and only Weir nodes
//! speak it.
//!
//! The controller plans under one lock (Kafka's single controller thread)
//! against an image that [`Quorum::ensure_linearizable`] has brought up to
//! date once per term, proposes the records, and answers with them and
//! their log index, so the asking broker can wait until its own image has
//! applied them. Liveness is [`BrokerSessions`] in memory; a tick fences
//! brokers whose session expired, writes the cluster id once and, with
//! `auto.leader.rebalance.enable`, moves leaderships back to preferred
//! replicas every `leader.imbalance.check.interval.seconds`.

use crate::quorum::{network, Quorum, QuorumError, QuorumStatus};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpStream;
use weir_core::metadata::{
    plan_auto_rebalance, plan_broker_fenced_with, plan_broker_unfenced_with,
    plan_register_broker_with, BrokerRegistrationRequest, BrokerSessions, ControllerOp,
    ElectionPolicy, HeartbeatVerdict, MetadataImage, MetadataRecord, PlanError,
};

/// A broker's request to the active controller.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub enum ControllerRequest {
    /// Plan and commit a metadata change.
    Commit(ControllerOp),
    /// (Re)register a broker.
    Register(BrokerRegistrationRequest),
    /// A broker is alive and has applied the metadata log up to
    /// `applied_index`.
    Heartbeat {
        /// The broker.
        broker_id: i32,
        /// Its epoch from registration.
        broker_epoch: i64,
        /// Highest metadata log index its image has applied.
        applied_index: u64,
    },
    /// The quorum's state as the leader sees it.
    DescribeQuorum,
    /// A broker-only node (observer) asks for the committed image once it
    /// has moved past `after_index` (long poll, up to a second).
    FetchMetadata {
        /// The observer.
        broker_id: i32,
        /// The index of the image it holds.
        after_index: u64,
    },
}

/// The controller's answer.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub enum ControllerResponse {
    /// The records committed (possibly none) and the log index that holds
    /// them (or the applied index when there were none).
    Committed {
        /// Committed records.
        records: Vec<MetadataRecord>,
        /// Their log index.
        index: u64,
    },
    /// Registered with this epoch at this log index.
    Registered {
        /// The broker epoch.
        broker_epoch: i64,
        /// Index of the registration records.
        index: u64,
    },
    /// Heartbeat answered; `fenced` is the broker's state after it.
    Heartbeat {
        /// Whether the broker is still fenced.
        fenced: bool,
        /// Log index the answer reflects.
        index: u64,
    },
    /// The quorum status.
    Quorum(QuorumStatus),
    /// The committed image at `index` (to FetchMetadata).
    Metadata {
        /// Metadata log index the image reflects.
        index: u64,
        /// The image.
        image: MetadataImage,
    },
    /// The request was refused (a Kafka error).
    Refused(PlanError),
    /// This node is not the active controller.
    NotLeader {
        /// The leader it knows of.
        leader: Option<i32>,
    },
    /// The node is starting, stopping, or the quorum failed.
    NotReady,
}

/// Controller tunables from `server.properties`.
#[derive(Debug, Clone)]
pub struct ControllerConfig {
    /// `broker.session.timeout.ms`.
    pub session_timeout_ms: i64,
    /// Cluster id to write when the image has none (this node's own
    /// `meta.properties`, if it has one).
    pub cluster_id_hint: Option<String>,
    /// `auto.leader.rebalance.enable`.
    pub auto_leader_rebalance_enable: bool,
    /// `leader.imbalance.check.interval.seconds`, in ms.
    pub leader_imbalance_check_interval_ms: i64,
    /// `leader.imbalance.per.broker.percentage`.
    pub leader_imbalance_per_broker_percentage: i32,
    /// Election rules: `eligible.leader.replicas.enable`,
    /// `min.insync.replicas`, `unclean.leader.election.enable` (topic
    /// configs override the last two).
    pub election: ElectionPolicy,
}

#[derive(Debug, Default)]
struct LeaderState {
    /// The term for which the image was brought up to date and the
    /// sessions were reset.
    ready_term: Option<u64>,
    /// When the next automatic leader rebalance check is due, for the
    /// term it was scheduled in (a new term waits a full interval, as
    /// Kafka schedules the first check one interval after activation).
    rebalance_due: Option<(u64, i64)>,
}

/// The controller of one voter node.
#[derive(Debug)]
pub struct Controller {
    quorum: Arc<Quorum>,
    config: ControllerConfig,
    state: tokio::sync::Mutex<LeaderState>,
    sessions: Mutex<BrokerSessions>,
    /// Observers: id → (index of the image they hold, when they asked).
    observers: Mutex<BTreeMap<i32, (u64, i64)>>,
}

/// How long the controller waits for the quorum to confirm or commit.
const QUORUM_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a FetchMetadata waits for the log to move.
const FETCH_METADATA_WAIT: Duration = Duration::from_secs(1);

fn from_quorum(e: QuorumError) -> ControllerResponse {
    match e {
        QuorumError::NotLeader { leader } => ControllerResponse::NotLeader { leader },
        other => {
            tracing::warn!("controller: {other}");
            ControllerResponse::NotReady
        }
    }
}

impl Controller {
    /// A controller over `quorum`; it answers on the controller listener
    /// once registered with [`Quorum::set_controller`].
    pub fn new(quorum: Arc<Quorum>, config: ControllerConfig) -> Arc<Controller> {
        let sessions = BrokerSessions::new(config.session_timeout_ms);
        let controller = Arc::new(Controller {
            quorum,
            config,
            state: tokio::sync::Mutex::new(LeaderState::default()),
            sessions: Mutex::new(sessions),
            observers: Mutex::new(BTreeMap::new()),
        });
        controller.quorum.set_controller(&controller);
        controller
    }

    /// The quorum this controller drives.
    pub fn quorum(&self) -> &Arc<Quorum> {
        &self.quorum
    }

    /// Become ready to act for the current term (or say who leads).
    async fn ready(&self, state: &mut LeaderState, now_ms: i64) -> Result<(), ControllerResponse> {
        if !self.quorum.is_leader() {
            return Err(ControllerResponse::NotLeader {
                leader: self.quorum.leader(),
            });
        }
        let term = self.quorum.term();
        if state.ready_term != Some(term) {
            match tokio::time::timeout(QUORUM_TIMEOUT, self.quorum.ensure_linearizable()).await {
                Ok(r) => r.map_err(from_quorum)?,
                Err(_) => {
                    tracing::warn!("no quorum confirmed this node's leadership in time");
                    return Err(ControllerResponse::NotReady);
                }
            }
            let image = self.quorum.image();
            self.sessions
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .reset(&image, now_ms, self.quorum.applied_index());
            state.ready_term = Some(term);
            tracing::info!(term, "this node is the active controller");
        }
        Ok(())
    }

    async fn propose(&self, records: Vec<MetadataRecord>) -> Result<u64, ControllerResponse> {
        if records.is_empty() {
            return Ok(self.quorum.applied_index());
        }
        // A leader cut off from the other voters never commits; give up
        // rather than hold the controller lock forever.
        match tokio::time::timeout(QUORUM_TIMEOUT, self.quorum.propose(records)).await {
            Ok(r) => r.map_err(from_quorum),
            Err(_) => {
                tracing::warn!("metadata records not committed in time (no quorum?)");
                Err(ControllerResponse::NotReady)
            }
        }
    }

    /// Answer one request.
    pub async fn handle(&self, request: ControllerRequest) -> ControllerResponse {
        let now = crate::broker::now_ms();
        match request {
            ControllerRequest::DescribeQuorum => {
                return if self.quorum.is_leader() {
                    let mut status = self.quorum.status();
                    let observers = self.observers.lock().unwrap_or_else(|p| p.into_inner());
                    status.observers = observers
                        .iter()
                        .map(|(id, (index, _))| crate::quorum::VoterStatus {
                            node_id: *id,
                            addr: String::new(),
                            match_index: Some(*index),
                        })
                        .collect();
                    ControllerResponse::Quorum(status)
                } else {
                    ControllerResponse::NotLeader {
                        leader: self.quorum.leader(),
                    }
                };
            }
            ControllerRequest::FetchMetadata {
                broker_id,
                after_index,
            } => {
                self.observers
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(broker_id, (after_index, now));
                let index = self
                    .quorum
                    .wait_applied_change(after_index, FETCH_METADATA_WAIT)
                    .await;
                // The image is read after the index: it is at least as new.
                let image = (*self.quorum.image()).clone();
                return ControllerResponse::Metadata { index, image };
            }
            _ => {}
        }
        let mut state = self.state.lock().await;
        if let Err(e) = self.ready(&mut state, now).await {
            return e;
        }
        let image = self.quorum.image();
        match request {
            ControllerRequest::Commit(op) => {
                let records = match op.plan_with(&image, &self.config.election) {
                    Ok(r) => r,
                    Err(e) => return ControllerResponse::Refused(e),
                };
                match self.propose(records.clone()).await {
                    Ok(index) => ControllerResponse::Committed { records, index },
                    Err(e) => e,
                }
            }
            ControllerRequest::Register(request) => {
                let (broker_epoch, records) =
                    match plan_register_broker_with(&image, &request, &self.config.election) {
                        Ok(x) => x,
                        Err(e) => return ControllerResponse::Refused(e),
                    };
                let fresh = !records.is_empty();
                match self.propose(records).await {
                    Ok(index) => {
                        if fresh {
                            tracing::info!(
                                broker = request.broker_id,
                                broker_epoch,
                                "broker registered"
                            );
                            self.sessions
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .registered(request.broker_id, now, index);
                        }
                        ControllerResponse::Registered {
                            broker_epoch,
                            index,
                        }
                    }
                    Err(e) => e,
                }
            }
            ControllerRequest::Heartbeat {
                broker_id,
                broker_epoch,
                applied_index,
            } => {
                let verdict = self
                    .sessions
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .heartbeat(
                        &image,
                        broker_id,
                        broker_epoch,
                        applied_index,
                        now,
                        self.quorum.applied_index(),
                    );
                match verdict {
                    HeartbeatVerdict::StaleEpoch => {
                        ControllerResponse::Refused(PlanError::StaleBrokerEpoch(format!(
                            "broker {broker_id} is not registered with epoch {broker_epoch}"
                        )))
                    }
                    HeartbeatVerdict::Ok { fenced } => ControllerResponse::Heartbeat {
                        fenced,
                        index: self.quorum.applied_index(),
                    },
                    HeartbeatVerdict::Unfence => {
                        tracing::info!(broker = broker_id, "unfencing broker: caught up");
                        let records =
                            plan_broker_unfenced_with(&image, broker_id, &self.config.election);
                        match self.propose(records).await {
                            Ok(index) => ControllerResponse::Heartbeat {
                                fenced: false,
                                index,
                            },
                            Err(e) => e,
                        }
                    }
                }
            }
            ControllerRequest::DescribeQuorum | ControllerRequest::FetchMetadata { .. } => {
                unreachable!("answered above")
            }
        }
    }

    /// Periodic duties of the active controller: write the cluster id
    /// once, fence brokers whose session expired, and every
    /// `leader.imbalance.check.interval.seconds` move leaderships back to
    /// preferred replicas. A no-op elsewhere.
    pub async fn tick(&self) {
        if !self.quorum.is_leader() {
            return;
        }
        let now = crate::broker::now_ms();
        let mut state = self.state.lock().await;
        if self.ready(&mut state, now).await.is_err() {
            return;
        }
        let image = self.quorum.image();
        if image.cluster_id().is_none() {
            let cluster_id = self
                .config
                .cluster_id_hint
                .clone()
                .unwrap_or_else(crate::log_manager::new_kafka_uuid);
            tracing::info!(%cluster_id, "writing the cluster id to the metadata log");
            let _ = self
                .propose(vec![MetadataRecord::ClusterId { cluster_id }])
                .await;
        }
        let expired = self
            .sessions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .expired(&image, now);
        for broker_id in expired {
            let image = self.quorum.image();
            let silence = self
                .sessions
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .silence_ms(broker_id, now);
            tracing::warn!(
                broker = broker_id,
                silence_ms = silence,
                "fencing broker: no heartbeat within broker.session.timeout.ms"
            );
            let records = plan_broker_fenced_with(&image, broker_id, &self.config.election);
            let _ = self.propose(records).await;
        }
        self.maybe_rebalance(&mut state, now).await;
    }

    /// `auto.leader.rebalance.enable`: once the check interval has passed
    /// in this term, propose [`plan_auto_rebalance`]'s elections, if any.
    async fn maybe_rebalance(&self, state: &mut LeaderState, now: i64) {
        if !self.config.auto_leader_rebalance_enable {
            return;
        }
        let term = self.quorum.term();
        let interval = self.config.leader_imbalance_check_interval_ms.max(1);
        match state.rebalance_due {
            Some((t, due)) if t == term && now >= due => {}
            Some((t, _)) if t == term => return,
            _ => {
                state.rebalance_due = Some((term, now + interval));
                return;
            }
        }
        state.rebalance_due = Some((term, now + interval));
        let image = self.quorum.image();
        let records =
            plan_auto_rebalance(&image, self.config.leader_imbalance_per_broker_percentage);
        if records.is_empty() {
            return;
        }
        tracing::info!(
            elections = records.len(),
            "leader imbalance above leader.imbalance.per.broker.percentage: electing preferred leaders"
        );
        let _ = self.propose(records).await;
    }
}

/// Why a request could not be answered by any controller.
#[derive(Debug, thiserror::Error)]
pub enum ControllerCallError {
    /// No active controller answered before the deadline.
    #[error("no active controller answered within {0:?}")]
    Timeout(Duration),
    /// The controller refused the request.
    #[error("{}", .0.message())]
    Refused(PlanError),
}

/// Sends [`ControllerRequest`]s to the active controller, wherever it is:
/// to this node's own [`Controller`] directly, or over TCP to the leader's
/// controller listener, following NotLeader hints and retrying until a
/// deadline.
#[derive(Debug)]
pub struct ControllerClient {
    node_id: i32,
    voters: BTreeMap<i32, SocketAddr>,
    local: Option<Arc<Controller>>,
    leader_hint: Mutex<Option<i32>>,
}

const CALL_TIMEOUT: Duration = Duration::from_secs(10);
const RETRY_PAUSE: Duration = Duration::from_millis(100);

impl ControllerClient {
    /// A client for node `node_id` over `voters` (id → controller address).
    pub fn new(
        node_id: i32,
        voters: BTreeMap<i32, SocketAddr>,
        local: Option<Arc<Controller>>,
    ) -> ControllerClient {
        ControllerClient {
            node_id,
            voters,
            local,
            leader_hint: Mutex::new(None),
        }
    }

    /// The active controller's id as far as this node knows.
    pub fn leader(&self) -> Option<i32> {
        if let Some(l) = self.local.as_ref().and_then(|c| c.quorum.leader()) {
            return Some(l);
        }
        *self.leader_hint.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn target(&self, attempt: usize) -> Option<i32> {
        if let Some(l) = self.leader() {
            if attempt % 4 != 3 {
                return Some(l);
            }
        }
        let ids: Vec<i32> = self.voters.keys().copied().collect();
        if ids.is_empty() {
            return None;
        }
        Some(ids[attempt % ids.len()])
    }

    /// Send `request` to the active controller; retry until `timeout`.
    /// A refusal is final; NotLeader and network errors are retried.
    pub async fn call(
        &self,
        request: ControllerRequest,
        timeout: Duration,
    ) -> Result<ControllerResponse, ControllerCallError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut attempt = 0usize;
        loop {
            let target = self.target(attempt);
            attempt += 1;
            let response = match target {
                Some(id) if id == self.node_id && self.local.is_some() => {
                    let local = self.local.as_ref().expect("checked");
                    Some(local.handle(request.clone()).await)
                }
                Some(id) => match self.voters.get(&id) {
                    Some(addr) => {
                        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                        remote_call(*addr, &request, left.min(CALL_TIMEOUT)).await
                    }
                    None => None,
                },
                None => None,
            };
            match response {
                Some(ControllerResponse::NotLeader { leader }) => {
                    *self.leader_hint.lock().unwrap_or_else(|p| p.into_inner()) = leader;
                }
                Some(ControllerResponse::NotReady) | None => {
                    *self.leader_hint.lock().unwrap_or_else(|p| p.into_inner()) = None;
                }
                Some(ControllerResponse::Refused(e)) => {
                    return Err(ControllerCallError::Refused(e))
                }
                Some(other) => {
                    if let Some(id) = target {
                        *self.leader_hint.lock().unwrap_or_else(|p| p.into_inner()) = Some(id);
                    }
                    return Ok(other);
                }
            }
            if tokio::time::Instant::now() + RETRY_PAUSE >= deadline {
                return Err(ControllerCallError::Timeout(timeout));
            }
            tokio::time::sleep(RETRY_PAUSE).await;
        }
    }
}

/// One request over a fresh connection (controller requests are rare:
/// heartbeats every couple of seconds and admin operations).
async fn remote_call(
    addr: SocketAddr,
    request: &ControllerRequest,
    timeout: Duration,
) -> Option<ControllerResponse> {
    let result = tokio::time::timeout(timeout, async {
        let mut stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        network::write_frame(
            &mut stream,
            &network::RpcRequest::Controller(request.clone()),
        )
        .await?;
        network::read_frame::<network::RpcResponse>(&mut stream).await
    })
    .await;
    match result {
        Ok(Ok(network::RpcResponse::Controller(r))) => Some(r),
        Ok(Ok(_)) => None,
        Ok(Err(e)) => {
            tracing::debug!(%addr, error = %e, "controller request failed");
            None
        }
        Err(_) => None,
    }
}
