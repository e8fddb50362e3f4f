//! One client connection: length-prefixed frames in, responses out.
//!
//! Requests on a connection are handled one at a time, in arrival order, so
//! responses go out in request order (Kafka mutes a channel while a request
//! is in flight, which gives the same guarantee). Pipelined requests simply
//! wait in the socket buffer. A frame that cannot be a valid request closes
//! the connection; nothing it carried reaches storage.

use crate::api;
use crate::broker::Broker;
use crate::frame::{self, FrameError};
use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::ApiKey;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, BufWriter};
use tokio::sync::watch;

/// Why a connection ended.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    /// The peer closed (or reset) the socket.
    #[error("closed by peer")]
    Closed,
    /// Socket error.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The length prefix is negative or above `socket.request.max.bytes`.
    #[error("frame of {0} bytes is outside 0..={1}")]
    FrameSize(i64, usize),
    /// A frame that is not a request Weir accepts.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The broker is shutting down.
    #[error("shutting down")]
    Shutdown,
}

/// Serve one connection until the peer leaves, a bad frame arrives, or
/// `shutdown` flips to true (checked between requests).
pub async fn serve<S>(
    stream: S,
    broker: Arc<Broker>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), ConnectionError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let max_frame_bytes = broker.config().socket_request_max_bytes as usize;
    let (reader, writer) = tokio::io::split(stream);
    let mut reader = BufReader::new(reader);
    let mut writer = BufWriter::new(writer);
    loop {
        let frame = tokio::select! {
            frame = read_frame(&mut reader, max_frame_bytes) => frame?,
            _ = shutdown.wait_for(|stop| *stop) => return Err(ConnectionError::Shutdown),
        };
        if let Some(response) = handle_frame(&broker, frame).await? {
            writer.write_all(&response).await?;
            writer.flush().await?;
        }
    }
}

/// Read one frame: a 4-byte big-endian length, then that many bytes.
async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut R,
    max_frame_bytes: usize,
) -> Result<Bytes, ConnectionError> {
    let mut len = [0u8; 4];
    match reader.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            return Err(ConnectionError::Closed)
        }
        Err(e) => return Err(e.into()),
    }
    let len = i32::from_be_bytes(len);
    let size = usize::try_from(len)
        .ok()
        .filter(|n| *n <= max_frame_bytes)
        .ok_or(ConnectionError::FrameSize(i64::from(len), max_frame_bytes))?;
    let mut buf = BytesMut::zeroed(size);
    reader.read_exact(&mut buf).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            ConnectionError::Closed
        } else {
            e.into()
        }
    })?;
    Ok(buf.freeze())
}

/// Decode and handle one frame; `Ok(None)` when no response is due
/// (acks=0 produce).
async fn handle_frame(
    broker: &Arc<Broker>,
    frame: Bytes,
) -> Result<Option<BytesMut>, ConnectionError> {
    let request = match frame::decode_request(frame) {
        Ok(request) => request,
        Err(FrameError::UnsupportedVersion {
            api_key: ApiKey::ApiVersions,
            correlation_id,
            ..
        }) => {
            // KIP-511: an ApiVersions request newer than ours gets
            // UNSUPPORTED_VERSION and our ranges, in a v0 response, so the
            // client can pick a version both sides speak.
            let response = api::api_versions::unsupported_version_response();
            let bytes = frame::encode_response(correlation_id, ApiKey::ApiVersions, 0, &response)
                .map_err(|e| ConnectionError::BadRequest(e.to_string()))?;
            return Ok(Some(bytes));
        }
        Err(e) => {
            tracing::debug!("closing connection: {e}");
            return Err(ConnectionError::BadRequest(e.to_string()));
        }
    };
    let api_key = request.api_key;
    let version = request.header.request_api_version;
    let correlation_id = request.header.correlation_id;
    let response = match api::dispatch(broker, request).await {
        api::Outcome::Respond(response) => *response,
        api::Outcome::NoResponse => return Ok(None),
        api::Outcome::Close(reason) => return Err(ConnectionError::BadRequest(reason)),
    };
    let bytes = frame::encode_response(correlation_id, api_key, version, &response)
        .map_err(|e| ConnectionError::BadRequest(format!("encoding {api_key:?} response: {e}")))?;
    Ok(Some(bytes))
}
