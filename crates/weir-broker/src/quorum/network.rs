//! Raft RPCs between controllers over TCP.
//!
//! A frame is `[len u32 BE][json]`; a request is a [`RpcRequest`], the
//! answer a [`RpcResponse`]. One request is in flight per connection; the
//! client keeps one connection per peer and reconnects after an error.

use std::net::SocketAddr;
use std::time::Duration;

use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::{BasicNode, Raft};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::{ControllerSlot, NodeId, TypeConfig};
use crate::controller::{ControllerRequest, ControllerResponse};

/// Largest frame either side accepts.
pub const MAX_FRAME_BYTES: usize = 64 * 1024 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

/// A Raft RPC.
#[derive(Serialize, Deserialize, Debug)]
pub enum RpcRequest {
    /// AppendEntries (also the heartbeat).
    AppendEntries(AppendEntriesRequest<TypeConfig>),
    /// RequestVote.
    Vote(VoteRequest<NodeId>),
    /// One chunk of a snapshot.
    InstallSnapshot(InstallSnapshotRequest<TypeConfig>),
    /// A broker's request to the active controller (not Raft).
    Controller(ControllerRequest),
}

/// The answer to an [`RpcRequest`].
#[derive(Serialize, Deserialize, Debug)]
pub enum RpcResponse {
    /// To AppendEntries.
    AppendEntries(Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>>),
    /// To Vote.
    Vote(Result<VoteResponse<NodeId>, RaftError<NodeId>>),
    /// To InstallSnapshot.
    InstallSnapshot(
        Result<InstallSnapshotResponse<NodeId>, RaftError<NodeId, InstallSnapshotError>>,
    ),
    /// To Controller.
    Controller(ControllerResponse),
}

pub(crate) async fn write_frame<T: Serialize>(
    stream: &mut TcpStream,
    msg: &T,
) -> std::io::Result<()> {
    let json = serde_json::to_vec(msg).map_err(std::io::Error::other)?;
    if json.len() > MAX_FRAME_BYTES {
        return Err(std::io::Error::other("raft frame too large"));
    }
    let mut buf = Vec::with_capacity(json.len() + 4);
    buf.extend_from_slice(&(json.len() as u32).to_be_bytes());
    buf.extend_from_slice(&json);
    stream.write_all(&buf).await?;
    stream.flush().await
}

pub(crate) async fn read_frame<T: for<'de> Deserialize<'de>>(
    stream: &mut TcpStream,
) -> std::io::Result<T> {
    let len = stream.read_u32().await? as usize;
    if len > MAX_FRAME_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "raft frame too large",
        ));
    }
    // Grow with the bytes that arrive, not with the declared length.
    let mut buf = Vec::with_capacity(len.min(64 * 1024));
    (&mut *stream)
        .take(len as u64)
        .read_to_end(&mut buf)
        .await?;
    if buf.len() != len {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    serde_json::from_slice(&buf)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// Serve Raft RPCs on `listener` until the task is aborted; aborting it
/// also closes every connection it accepted (they live in its `JoinSet`).
pub async fn serve(listener: TcpListener, raft: Raft<TypeConfig>, slot: ControllerSlot) {
    let mut conns = tokio::task::JoinSet::new();
    loop {
        while conns.try_join_next().is_some() {}
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "controller listener accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let raft = raft.clone();
        let slot = slot.clone();
        conns.spawn(async move {
            if let Err(e) = serve_conn(stream, raft, slot).await {
                tracing::debug!(%peer, error = %e, "controller connection closed");
            }
        });
    }
}

async fn serve_conn(
    mut stream: TcpStream,
    raft: Raft<TypeConfig>,
    slot: ControllerSlot,
) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    loop {
        let req: RpcRequest = match read_frame(&mut stream).await {
            Ok(r) => r,
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) => return Err(e),
        };
        let resp = match req {
            RpcRequest::AppendEntries(r) => {
                RpcResponse::AppendEntries(raft.append_entries(r).await)
            }
            RpcRequest::Vote(r) => RpcResponse::Vote(raft.vote(r).await),
            RpcRequest::InstallSnapshot(r) => {
                RpcResponse::InstallSnapshot(raft.install_snapshot(r).await)
            }
            RpcRequest::Controller(r) => {
                let controller = slot.get().and_then(std::sync::Weak::upgrade);
                RpcResponse::Controller(match controller {
                    Some(c) => c.handle(r).await,
                    None => ControllerResponse::NotReady,
                })
            }
        };
        write_frame(&mut stream, &resp).await?;
    }
}

/// Makes one [`PeerClient`] per target.
#[derive(Debug, Clone, Default)]
pub struct NetworkFactory;

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = PeerClient;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> PeerClient {
        PeerClient {
            target,
            addr: node.addr.parse().ok(),
            addr_text: node.addr.clone(),
            conn: None,
        }
    }
}

/// The client side of one peer: a reused connection.
#[derive(Debug)]
pub struct PeerClient {
    target: NodeId,
    addr: Option<SocketAddr>,
    addr_text: String,
    conn: Option<TcpStream>,
}

enum CallError {
    Unreachable(std::io::Error),
    Network(std::io::Error),
}

impl PeerClient {
    async fn call(&mut self, req: &RpcRequest, ttl: Duration) -> Result<RpcResponse, CallError> {
        if self.conn.is_none() {
            let addr = self.addr.ok_or_else(|| {
                CallError::Unreachable(std::io::Error::other(format!(
                    "bad controller address {:?}",
                    self.addr_text
                )))
            })?;
            let stream = match tokio::time::timeout(
                CONNECT_TIMEOUT.min(ttl),
                TcpStream::connect(addr),
            )
            .await
            {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => return Err(CallError::Unreachable(e)),
                Err(_) => {
                    return Err(CallError::Unreachable(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "connect timed out",
                    )))
                }
            };
            let _ = stream.set_nodelay(true);
            self.conn = Some(stream);
        }
        let stream = self.conn.as_mut().unwrap();
        let res = tokio::time::timeout(ttl, async {
            write_frame(stream, req).await?;
            read_frame::<RpcResponse>(stream).await
        })
        .await;
        match res {
            Ok(Ok(resp)) => Ok(resp),
            Ok(Err(e)) => {
                self.conn = None;
                Err(CallError::Network(e))
            }
            Err(_) => {
                // The answer may still arrive on this connection: drop it so
                // the next call does not read a stale response.
                self.conn = None;
                Err(CallError::Network(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "raft rpc timed out",
                )))
            }
        }
    }
}

fn to_rpc_error<E: std::error::Error>(e: CallError) -> RPCError<NodeId, BasicNode, E> {
    match e {
        CallError::Unreachable(e) => RPCError::Unreachable(Unreachable::new(&e)),
        CallError::Network(e) => RPCError::Network(NetworkError::new(&e)),
    }
}

fn unexpected<E: std::error::Error>() -> RPCError<NodeId, BasicNode, E> {
    RPCError::Network(NetworkError::new(&std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        "unexpected raft response kind",
    )))
}

impl RaftNetwork<TypeConfig> for PeerClient {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        match self
            .call(&RpcRequest::AppendEntries(rpc), option.hard_ttl())
            .await
            .map_err(to_rpc_error)?
        {
            RpcResponse::AppendEntries(r) => {
                r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            _ => Err(unexpected()),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, BasicNode, RaftError<NodeId, InstallSnapshotError>>,
    > {
        match self
            .call(&RpcRequest::InstallSnapshot(rpc), option.hard_ttl())
            .await
            .map_err(to_rpc_error)?
        {
            RpcResponse::InstallSnapshot(r) => {
                r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            _ => Err(unexpected()),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        match self
            .call(&RpcRequest::Vote(rpc), option.hard_ttl())
            .await
            .map_err(to_rpc_error)?
        {
            RpcResponse::Vote(r) => {
                r.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            _ => Err(unexpected()),
        }
    }
}
