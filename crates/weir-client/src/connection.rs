//! One TCP connection to one broker.
//!
//! Requests are pipelined: any number of tasks may call [`Connection::send`]
//! at once (up to an in-flight limit); each request gets a correlation id and
//! a waiter, one reader task splits the incoming stream into frames and hands
//! each to the waiter with its id. Decoding happens in the caller's task, so
//! a large Fetch response does not hold up the reader.
//!
//! On connect the connection negotiates versions with ApiVersions
//! ([`crate::versions`]). The replica fetchers of the replication issue reuse
//! this type.

use crate::error::{ClientError, Result};
use crate::frame::{self, FrameDecoder};
use crate::versions::{interpret_api_versions, ApiVersionTable, ApiVersionsOutcome};
use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::ApiVersionsRequest;
use kafka_protocol::protocol::{Message, Request, StrBytes, VersionRange};
use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;

/// Settings shared by every connection of a client.
#[derive(Debug, Clone)]
pub struct ConnectionConfig {
    /// `client.id` sent in every request header.
    pub client_id: String,
    /// How long a request may wait for its response (`request.timeout.ms`).
    pub request_timeout_ms: u64,
    /// How long opening the TCP connection may take.
    pub connect_timeout_ms: u64,
    /// Largest response frame accepted; a bigger length prefix closes the
    /// connection instead of allocating.
    pub max_response_bytes: usize,
    /// Requests awaiting a response at once on this connection.
    pub max_in_flight: usize,
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        ConnectionConfig {
            client_id: "weir-client".to_owned(),
            request_timeout_ms: 30_000,
            connect_timeout_ms: 10_000,
            max_response_bytes: 128 << 20,
            max_in_flight: 64,
        }
    }
}

/// Waiters by correlation id, and why the connection closed once it has.
#[derive(Debug, Default)]
struct Pending {
    waiters: HashMap<i32, oneshot::Sender<Bytes>>,
    closed: Option<String>,
}

type SharedPending = Arc<Mutex<Pending>>;

/// A connection to one broker with negotiated API versions.
#[derive(Debug)]
pub struct Connection {
    addr: String,
    client_id: String,
    timeout: Duration,
    /// Frames to write; a writer task owns the socket's write half so that
    /// a caller dropping its future can never leave half a frame on the wire.
    outbound: mpsc::Sender<Bytes>,
    pending: SharedPending,
    next_correlation_id: AtomicI32,
    in_flight: Arc<Semaphore>,
    versions: ApiVersionTable,
    reader: JoinHandle<()>,
    writer: JoinHandle<()>,
}

impl Connection {
    /// Open a connection to `addr` (`host:port`) and negotiate versions.
    pub async fn connect(addr: &str, config: &ConnectionConfig) -> Result<Connection> {
        let connect = TcpStream::connect(addr);
        let stream =
            tokio::time::timeout(Duration::from_millis(config.connect_timeout_ms), connect)
                .await
                .map_err(|_| ClientError::Timeout(format!("connecting to {addr}")))?
                .map_err(|e| ClientError::io(format!("connecting to {addr}"), e))?;
        // Small requests (metadata, acks) should not wait for Nagle.
        let _ = stream.set_nodelay(true);
        let (rd, wr) = stream.into_split();
        let pending = SharedPending::default();
        let reader = tokio::spawn(read_loop(
            rd,
            Arc::clone(&pending),
            FrameDecoder::new(config.max_response_bytes),
        ));
        let (outbound, frames) = mpsc::channel(config.max_in_flight.max(1));
        let writer = tokio::spawn(write_loop(wr, frames, Arc::clone(&pending)));
        let mut conn = Connection {
            addr: addr.to_owned(),
            client_id: config.client_id.clone(),
            timeout: Duration::from_millis(config.request_timeout_ms),
            outbound,
            pending,
            next_correlation_id: AtomicI32::new(0),
            in_flight: Arc::new(Semaphore::new(config.max_in_flight.max(1))),
            versions: ApiVersionTable::default(),
            reader,
            writer,
        };
        conn.versions = conn.handshake().await?;
        Ok(conn)
    }

    /// The address this connection was opened to.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The broker's API version ranges.
    pub fn versions(&self) -> &ApiVersionTable {
        &self.versions
    }

    /// Whether the connection has failed or been closed; a closed connection
    /// fails every request, so callers reconnect.
    pub fn is_closed(&self) -> bool {
        self.lock().closed.is_some()
    }

    /// The version to send `R` at: the highest both sides support.
    pub fn negotiate<R: Request>(&self) -> Result<i16> {
        self.versions
            .negotiate(frame::api_key_of::<R>()?, R::VERSIONS)
    }

    /// As [`Connection::negotiate`] but at most `max`, for requests whose
    /// newer versions need data the caller may lack (e.g. topic ids).
    pub fn negotiate_capped<R: Request>(&self, max: i16) -> Result<i16> {
        let ours = VersionRange {
            min: R::VERSIONS.min,
            max: R::VERSIONS.max.min(max),
        };
        self.versions.negotiate(frame::api_key_of::<R>()?, ours)
    }

    /// Send `request` at the highest common version and wait for the answer.
    pub async fn request<R: Request>(&self, request: &R) -> Result<R::Response> {
        let version = self.negotiate::<R>()?;
        self.send(request, version).await
    }

    /// Send `request` at `version` and wait for its response.
    pub async fn send<R: Request>(&self, request: &R, version: i16) -> Result<R::Response> {
        self.submit(request, version).await?.wait().await
    }

    /// Queue `request` for writing and return a handle on its response.
    /// Requests submitted one after another on a connection reach the
    /// broker in that order, which keeps a partition's batches in order
    /// while several are in flight.
    pub async fn submit<R: Request>(
        &self,
        request: &R,
        version: i16,
    ) -> Result<PendingResponse<R>> {
        let permit = Arc::clone(&self.in_flight)
            .acquire_owned()
            .await
            .map_err(|_| ClientError::Closed)?;
        let id = self.next_id();
        let bytes = frame::encode_request(request, version, id, &self.client_id)?;
        let rx = self.register(id)?;
        self.write(bytes).await?;
        Ok(PendingResponse {
            rx,
            id,
            version,
            timeout: self.timeout,
            pending: Arc::clone(&self.pending),
            addr: self.addr.clone(),
            _permit: permit,
            _request: PhantomData,
        })
    }

    /// Send a request the broker will not answer (Produce with acks=0).
    pub async fn send_no_response<R: Request>(&self, request: &R, version: i16) -> Result<()> {
        let id = self.next_id();
        let bytes = frame::encode_request(request, version, id, &self.client_id)?;
        if let Some(reason) = self.lock().closed.clone() {
            return Err(ClientError::Disconnected(reason));
        }
        self.write(bytes).await
    }

    /// Ask for versions, retrying once at a lower version if the broker
    /// refuses ours (KIP-511).
    async fn handshake(&self) -> Result<ApiVersionTable> {
        let mut version = ApiVersionsRequest::VERSIONS.max;
        for _ in 0..2 {
            let body = self.api_versions_raw(version).await?;
            match interpret_api_versions(body, version)? {
                ApiVersionsOutcome::Table(t) => return Ok(t),
                ApiVersionsOutcome::RetryAt(v) => version = v,
            }
        }
        Err(ClientError::Protocol(
            "ApiVersions negotiation did not converge".to_owned(),
        ))
    }

    /// One ApiVersions round trip, returning the body after the v0 header:
    /// its version is only known once it is read.
    async fn api_versions_raw(&self, version: i16) -> Result<Bytes> {
        let request = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("weir-client"))
            .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
        let id = self.next_id();
        let bytes = frame::encode_request(&request, version, id, &self.client_id)?;
        let rx = self.register(id)?;
        self.write(bytes).await?;
        let mut body = match tokio::time::timeout(self.timeout, rx).await {
            Ok(Ok(body)) => body,
            Ok(Err(_)) => return Err(ClientError::Disconnected(self.close_reason())),
            Err(_) => return Err(self.timed_out::<ApiVersionsRequest>(id)),
        };
        if frame::peek_correlation_id(&body)? != id {
            return Err(ClientError::Protocol(
                "ApiVersions correlation id mismatch".to_owned(),
            ));
        }
        Ok(body.split_off(4))
    }

    fn next_id(&self) -> i32 {
        // Wraps at i32::MAX like Kafka's NetworkClient; ids of requests in
        // flight cannot collide with a 2^31 window.
        self.next_correlation_id
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |i| {
                Some(if i == i32::MAX { 0 } else { i + 1 })
            })
            .unwrap_or(0)
    }

    fn register(&self, id: i32) -> Result<oneshot::Receiver<Bytes>> {
        let mut pending = self.lock();
        if let Some(reason) = &pending.closed {
            return Err(ClientError::Disconnected(reason.clone()));
        }
        let (tx, rx) = oneshot::channel();
        pending.waiters.insert(id, tx);
        Ok(rx)
    }

    async fn write(&self, bytes: Bytes) -> Result<()> {
        self.outbound
            .send(bytes)
            .await
            .map_err(|_| ClientError::Disconnected(self.close_reason()))
    }

    /// A timed-out request leaves the stream in an unknown state (its answer
    /// may still come), so the connection is closed, as Kafka's
    /// NetworkClient does.
    fn timed_out<R: Request>(&self, id: i32) -> ClientError {
        let what = format!("request {} (correlation id {id}) to {}", R::KEY, self.addr);
        self.close(format!("{what} timed out"));
        ClientError::Timeout(format!("{what} got no response within {:?}", self.timeout))
    }

    fn close(&self, reason: String) {
        close_pending(&self.pending, reason);
        self.reader.abort();
        self.writer.abort();
    }

    fn close_reason(&self) -> String {
        closed_reason(&self.pending, &self.addr)
    }

    fn lock(&self) -> MutexGuard<'_, Pending> {
        lock(&self.pending)
    }
}

/// A request on the wire, waiting for its answer.
#[derive(Debug)]
pub struct PendingResponse<R: Request> {
    rx: oneshot::Receiver<Bytes>,
    id: i32,
    version: i16,
    timeout: Duration,
    pending: SharedPending,
    addr: String,
    _permit: OwnedSemaphorePermit,
    _request: PhantomData<fn() -> R>,
}

impl<R: Request> PendingResponse<R> {
    /// Wait for the response (up to `request.timeout.ms`) and decode it.
    /// A timeout closes the connection: its answer may still come, and the
    /// stream would then be out of step (Kafka's NetworkClient does the same).
    pub async fn wait(self) -> Result<R::Response> {
        match tokio::time::timeout(self.timeout, self.rx).await {
            Ok(Ok(body)) => frame::decode_response::<R>(body, self.version, self.id),
            Ok(Err(_)) => Err(ClientError::Disconnected(closed_reason(
                &self.pending,
                &self.addr,
            ))),
            Err(_) => {
                let what = format!(
                    "request {} (correlation id {}) to {}",
                    R::KEY,
                    self.id,
                    self.addr
                );
                close_pending(&self.pending, format!("{what} timed out"));
                Err(ClientError::Timeout(format!(
                    "{what} got no response within {:?}",
                    self.timeout
                )))
            }
        }
    }
}

fn closed_reason(pending: &SharedPending, addr: &str) -> String {
    lock(pending)
        .closed
        .clone()
        .unwrap_or_else(|| format!("connection to {addr} closed"))
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.reader.abort();
        self.writer.abort();
    }
}

fn lock(pending: &SharedPending) -> MutexGuard<'_, Pending> {
    // A panic elsewhere must not wedge every later request.
    pending.lock().unwrap_or_else(|e| e.into_inner())
}

/// Mark closed and drop every waiter, which wakes them with an error.
fn close_pending(pending: &SharedPending, reason: String) {
    let mut p = lock(pending);
    if p.closed.is_none() {
        p.closed = Some(reason);
    }
    p.waiters.clear();
}

/// Write queued frames in order until the queue closes or a write fails.
async fn write_loop(
    mut wr: OwnedWriteHalf,
    mut frames: mpsc::Receiver<Bytes>,
    pending: SharedPending,
) {
    while let Some(bytes) = frames.recv().await {
        if let Err(e) = wr.write_all(&bytes).await {
            close_pending(&pending, format!("write failed: {e}"));
            return;
        }
    }
}

/// Read frames until the stream ends or misbehaves, handing each to the
/// waiter registered under its correlation id.
async fn read_loop(mut rd: OwnedReadHalf, pending: SharedPending, decoder: FrameDecoder) {
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let reason = loop {
        match decoder.decode(&mut buf) {
            Ok(Some(frame)) => match deliver(&pending, frame) {
                Ok(()) => continue,
                Err(e) => break e.to_string(),
            },
            Ok(None) => {}
            Err(e) => break e.to_string(),
        }
        match rd.read_buf(&mut buf).await {
            Ok(0) => break "connection closed by the broker".to_owned(),
            Ok(_) => {}
            Err(e) => break format!("read failed: {e}"),
        }
    };
    tracing::debug!(%reason, "connection reader stopped");
    close_pending(&pending, reason);
}

/// A response for an id nobody waits for means the stream is out of step
/// with us; continuing would hand answers to the wrong requests.
fn deliver(pending: &SharedPending, frame: Bytes) -> Result<()> {
    let id = frame::peek_correlation_id(&frame)?;
    let waiter = lock(pending).waiters.remove(&id);
    match waiter {
        // The caller may have given up (dropped its future); that is fine.
        Some(tx) => {
            let _ = tx.send(frame);
            Ok(())
        }
        None => Err(ClientError::Protocol(format!(
            "response with unknown correlation id {id}"
        ))),
    }
}
