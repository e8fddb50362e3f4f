//! The controller quorum: a Raft log of [`MetadataRecord`] batches on
//! `openraft` 0.9, applied on every voter to a [`MetadataImage`].
//!
//! openraft stays behind [`Quorum`] (start, propose, image, leader, status,
//! shutdown) so it can be upgraded without touching callers.
//!
//! - `log_store`: the Raft log and vote on disk (CRC'd append-only frames,
//!   fsynced before openraft is told they are durable).
//! - `state_machine`: entries → image; snapshots are the serialized image.
//! - `network`: Raft RPCs as length-prefixed JSON frames over TCP.
//!
//! Voters are static (`controller.quorum.voters`); the lowest-id voter
//! initializes the cluster when its log is empty ("already initialized"
//! after a restart is not an error).

mod log_store;
pub(crate) mod network;
mod state_machine;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Cursor;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use openraft::error::{ClientWriteError, InitializeError, RaftError};
use openraft::{BasicNode, Config, Raft, SnapshotPolicy};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use weir_core::metadata::{MetadataImage, MetadataRecord};
use weir_storage::fs::Fs;

pub use log_store::LogStore;
pub use network::MAX_FRAME_BYTES;
pub use state_machine::StateMachine;

/// Run blocking file I/O (writes and fsyncs) from async code: on a
/// multi-thread runtime the worker hands its other tasks off first, so
/// heartbeats are not held up behind an fsync.
pub(crate) fn blocking_io<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

/// Where the controller listener finds the [`crate::controller::Controller`]
/// that answers brokers' requests (set once the node has built it).
pub type ControllerSlot = Arc<std::sync::OnceLock<std::sync::Weak<crate::controller::Controller>>>;

/// Raft node ids (`node.id` as u64; Kafka's ids are non-negative).
pub type NodeId = u64;

openraft::declare_raft_types!(
    /// openraft's type configuration for the metadata log.
    pub TypeConfig:
        D = Vec<MetadataRecord>,
        R = (),
        NodeId = NodeId,
        Node = BasicNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

/// Tunables of the quorum (defaults as DESIGN.md section 3).
#[derive(Debug, Clone)]
pub struct QuorumConfig {
    /// Election timeout range; 0.9 picks one value per node, so keep it wide.
    pub election_timeout_min_ms: u64,
    /// Upper end of the range.
    pub election_timeout_max_ms: u64,
    /// Leader heartbeat interval.
    pub heartbeat_interval_ms: u64,
    /// Build a snapshot after this many entries since the last one.
    pub snapshot_every_entries: u64,
    /// Log entries kept behind a snapshot (for followers that lag a little).
    pub logs_kept_after_snapshot: u64,
}

impl Default for QuorumConfig {
    fn default() -> Self {
        QuorumConfig {
            election_timeout_min_ms: 300,
            election_timeout_max_ms: 1500,
            heartbeat_interval_ms: 100,
            snapshot_every_entries: 5000,
            logs_kept_after_snapshot: 1000,
        }
    }
}

/// Errors of the quorum interface.
#[derive(Debug, thiserror::Error)]
pub enum QuorumError {
    /// This node is not the leader; `leader` is the one it knows of.
    #[error("not the quorum leader (leader: {leader:?})")]
    NotLeader {
        /// The current leader's node id, if known.
        leader: Option<i32>,
    },
    /// The quorum is shutting down or has stopped.
    #[error("quorum is shut down: {0}")]
    Shutdown(String),
    /// A bad argument (e.g. this node is not among the voters).
    #[error("invalid quorum configuration: {0}")]
    Config(String),
    /// Disk or network error.
    #[error("quorum I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// Any other Raft error.
    #[error("raft error: {0}")]
    Raft(String),
}

/// A follower's progress as the leader sees it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct VoterStatus {
    /// Node id.
    pub node_id: i32,
    /// Its controller address.
    pub addr: String,
    /// Highest log index known replicated on it (leader only; None elsewhere
    /// or when nothing is known yet).
    pub match_index: Option<u64>,
}

/// A view of the quorum (for `weir metadata-quorum describe --status`).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct QuorumStatus {
    /// This node.
    pub node_id: i32,
    /// The leader this node knows of.
    pub leader: Option<i32>,
    /// The Raft term (Kafka's leader epoch of the metadata log).
    pub term: u64,
    /// Highest log index on this node.
    pub last_log_index: Option<u64>,
    /// Highest applied (so committed) index on this node; on the leader
    /// this is the high watermark.
    pub applied_index: Option<u64>,
    /// Voters with, on the leader, each one's match index.
    pub voters: Vec<VoterStatus>,
    /// Observers (broker-only nodes following the log), same fields.
    pub observers: Vec<VoterStatus>,
}

/// A running controller quorum member.
pub struct Quorum {
    node_id: i32,
    raft: Raft<TypeConfig>,
    image: Arc<RwLock<Arc<MetadataImage>>>,
    server: std::sync::Mutex<Option<JoinHandle<()>>>,
    local_addr: SocketAddr,
    slot: ControllerSlot,
}

impl std::fmt::Debug for Quorum {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Quorum")
            .field("node_id", &self.node_id)
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

fn to_node_id(id: i32) -> Result<NodeId, QuorumError> {
    u64::try_from(id).map_err(|_| QuorumError::Config(format!("negative node id {id}")))
}

impl Quorum {
    /// Start this voter, listening on its own address from `voters`.
    pub async fn start(
        node_id: i32,
        voters: Vec<(i32, SocketAddr)>,
        dir: &Path,
        fs: Fs,
    ) -> Result<Quorum, QuorumError> {
        let addr = voters
            .iter()
            .find(|(id, _)| *id == node_id)
            .map(|(_, a)| *a)
            .ok_or_else(|| QuorumError::Config(format!("node {node_id} is not a voter")))?;
        let listener = TcpListener::bind(addr).await?;
        Self::start_with(node_id, voters, dir, fs, listener, QuorumConfig::default()).await
    }

    /// Start with an already bound listener and explicit tunables.
    pub async fn start_with(
        node_id: i32,
        voters: Vec<(i32, SocketAddr)>,
        dir: &Path,
        fs: Fs,
        listener: TcpListener,
        qc: QuorumConfig,
    ) -> Result<Quorum, QuorumError> {
        let me = to_node_id(node_id)?;
        let mut members = BTreeMap::new();
        for (id, a) in &voters {
            members.insert(to_node_id(*id)?, BasicNode::new(a.to_string()));
        }
        if !members.contains_key(&me) {
            return Err(QuorumError::Config(format!(
                "node {node_id} is not a voter"
            )));
        }
        let config = Config {
            cluster_name: "weir-metadata".to_string(),
            election_timeout_min: qc.election_timeout_min_ms,
            election_timeout_max: qc.election_timeout_max_ms,
            heartbeat_interval: qc.heartbeat_interval_ms,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(qc.snapshot_every_entries),
            max_in_snapshot_log_to_keep: qc.logs_kept_after_snapshot,
            ..Default::default()
        };
        let config = Arc::new(
            config
                .validate()
                .map_err(|e| QuorumError::Config(e.to_string()))?,
        );
        let image = Arc::new(RwLock::new(Arc::new(MetadataImage::new())));
        let log = LogStore::open(fs.clone(), dir)?;
        let sm = StateMachine::open(fs, dir, image.clone())?;
        let raft = Raft::new(me, config, network::NetworkFactory, log, sm)
            .await
            .map_err(|e| QuorumError::Raft(e.to_string()))?;
        let local_addr = listener.local_addr()?;
        let slot = ControllerSlot::default();
        let server = tokio::spawn(network::serve(listener, raft.clone(), slot.clone()));

        let lowest = *members.keys().next().unwrap();
        if me == lowest {
            let initialized = raft
                .is_initialized()
                .await
                .map_err(|e| QuorumError::Shutdown(e.to_string()))?;
            if !initialized {
                match raft.initialize(members).await {
                    Ok(()) => {}
                    Err(RaftError::APIError(InitializeError::NotAllowed(_))) => {}
                    Err(e) => {
                        server.abort();
                        let _ = raft.shutdown().await;
                        return Err(QuorumError::Raft(e.to_string()));
                    }
                }
            }
        }
        Ok(Quorum {
            node_id,
            raft,
            image,
            server: std::sync::Mutex::new(Some(server)),
            local_addr,
            slot,
        })
    }

    /// This node's id.
    pub fn node_id(&self) -> i32 {
        self.node_id
    }

    /// The address the controller listener is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Commit `records` as one Raft entry; answers its log index once it is
    /// committed and applied here. Only the leader accepts proposals.
    pub async fn propose(&self, records: Vec<MetadataRecord>) -> Result<u64, QuorumError> {
        match self.raft.client_write(records).await {
            Ok(resp) => Ok(resp.log_id.index),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                Err(QuorumError::NotLeader {
                    leader: f.leader_id.and_then(|id| i32::try_from(id).ok()),
                })
            }
            Err(RaftError::Fatal(e)) => Err(QuorumError::Shutdown(e.to_string())),
            Err(e) => Err(QuorumError::Raft(e.to_string())),
        }
    }

    /// The latest applied metadata image.
    pub fn image(&self) -> Arc<MetadataImage> {
        self.image.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The leader this node knows of.
    pub fn leader(&self) -> Option<i32> {
        self.raft
            .metrics()
            .borrow()
            .current_leader
            .and_then(|id| i32::try_from(id).ok())
    }

    /// Wait until a leader is known (bounded by `timeout`).
    pub async fn wait_for_leader(&self, timeout: Duration) -> Option<i32> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut rx = self.raft.metrics();
        loop {
            if let Some(l) = rx.borrow().current_leader {
                return i32::try_from(l).ok();
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => {}
                _ => return None,
            }
        }
    }

    /// The quorum as this node sees it.
    pub fn status(&self) -> QuorumStatus {
        let m = self.raft.metrics().borrow().clone();
        let repl = m.replication.clone().unwrap_or_default();
        let mut voters = Vec::new();
        let voter_ids: BTreeSet<NodeId> = m.membership_config.membership().voter_ids().collect();
        for (id, node) in m.membership_config.membership().nodes() {
            if !voter_ids.contains(id) {
                continue;
            }
            let match_index = if *id == m.id {
                if m.current_leader == Some(m.id) {
                    m.last_log_index
                } else {
                    None
                }
            } else {
                repl.get(id).cloned().flatten().map(|l| l.index)
            };
            voters.push(VoterStatus {
                node_id: *id as i32,
                addr: node.addr.clone(),
                match_index,
            });
        }
        QuorumStatus {
            node_id: self.node_id,
            leader: m.current_leader.and_then(|id| i32::try_from(id).ok()),
            term: m.current_term,
            last_log_index: m.last_log_index,
            applied_index: m.last_applied.map(|l| l.index),
            voters,
            observers: Vec::new(),
        }
    }

    /// Hand controller requests arriving on the controller listener to
    /// `controller` (once; later calls are ignored).
    pub fn set_controller(&self, controller: &Arc<crate::controller::Controller>) {
        let _ = self.slot.set(Arc::downgrade(controller));
    }

    /// True when this node is the leader (the active controller).
    pub fn is_leader(&self) -> bool {
        let m = self.raft.metrics();
        let m = m.borrow();
        m.current_leader == Some(m.id)
    }

    /// The Raft term.
    pub fn term(&self) -> u64 {
        self.raft.metrics().borrow().current_term
    }

    /// Highest log index applied to this node's image (0 before any).
    pub fn applied_index(&self) -> u64 {
        self.raft
            .metrics()
            .borrow()
            .last_applied
            .map(|l| l.index)
            .unwrap_or(0)
    }

    /// As leader, confirm leadership with a quorum and wait until every
    /// entry committed before this call is applied here, so that planning
    /// against [`Quorum::image`] sees all of them.
    pub async fn ensure_linearizable(&self) -> Result<(), QuorumError> {
        match self.raft.ensure_linearizable().await {
            Ok(_) => Ok(()),
            Err(RaftError::APIError(openraft::error::CheckIsLeaderError::ForwardToLeader(f))) => {
                Err(QuorumError::NotLeader {
                    leader: f.leader_id.and_then(|id| i32::try_from(id).ok()),
                })
            }
            Err(RaftError::APIError(e)) => Err(QuorumError::Raft(e.to_string())),
            Err(RaftError::Fatal(e)) => Err(QuorumError::Shutdown(e.to_string())),
        }
    }

    /// Wait until this node has applied `index` (bounded); false on timeout
    /// or shutdown.
    pub async fn wait_applied(&self, index: u64, timeout: Duration) -> bool {
        self.raft
            .wait(Some(timeout))
            .applied_index_at_least(Some(index), "wait_applied")
            .await
            .is_ok()
    }

    /// Wait until the applied index changes from `seen` (bounded); returns
    /// the applied index then.
    pub async fn wait_applied_change(&self, seen: u64, timeout: Duration) -> u64 {
        let mut rx = self.raft.metrics();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let now = rx.borrow().last_applied.map(|l| l.index).unwrap_or(0);
            if now != seen {
                return now;
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => {}
                _ => return now,
            }
        }
    }

    /// Stop Raft and the controller listener.
    pub async fn shutdown(&self) -> Result<(), QuorumError> {
        let server = self.server.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(server) = server {
            server.abort();
            let _ = server.await;
        }
        self.raft
            .shutdown()
            .await
            .map_err(|e| QuorumError::Raft(e.to_string()))
    }
}
