//! Turns one untrusted request frame into a decoded request, and a response
//! into the bytes of its frame.
//!
//! A frame reaches [`decode_request`] without its 4-byte length prefix (the
//! connection has already checked that length against
//! `socket.request.max.bytes`). Every step checks before it reads, as
//! mini-redis's `frame.rs` does:
//!
//! 1. the 8 bytes every request header starts with (api key, api version,
//!    correlation id) must be there;
//! 2. the api key must be one Weir serves, at a version in
//!    [`crate::api::SUPPORTED_APIS`], so that the connection can answer an
//!    unsupported ApiVersions with our ranges (KIP-511) and close for the
//!    rest, as Kafka does;
//! 3. [`crate::guard`] checks every length in the header and the body
//!    against the frame, because `kafka-protocol` would reserve memory for
//!    a declared count before finding that the frame cannot hold it;
//! 4. only then does `kafka-protocol` decode the header and the body.
//!
//! No input reaches a panic or an unbounded allocation; the `decode_request`
//! fuzz target (`fuzz/`) and `tests/guard_*.rs` hold that line.

use crate::api::supported_versions;
use crate::guard::{self, GuardError};
use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::{Decodable, Encodable};

/// Every request header (v0 and up) starts with `request_api_key` (int16),
/// `request_api_version` (int16) and `correlation_id` (int32).
const HEADER_PREFIX_BYTES: usize = 8;

/// Bytes of the length prefix in front of every frame.
const LENGTH_PREFIX_BYTES: usize = 4;

/// A request that passed the guard and decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The API, already checked against [`crate::api::SUPPORTED_APIS`].
    pub api_key: ApiKey,
    /// The header: version, correlation id, client id.
    pub header: RequestHeader,
    /// The body.
    pub body: RequestKind,
}

impl Request {
    /// The request's API version.
    pub fn version(&self) -> i16 {
        self.header.request_api_version
    }

    /// The id to echo in the response.
    pub fn correlation_id(&self) -> i32 {
        self.header.correlation_id
    }
}

/// Why a frame did not become a [`Request`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FrameError {
    /// An api key Kafka does not define, or one Weir does not serve. Kafka
    /// closes the connection for a key that is not enabled on the listener.
    #[error("unknown api key {api_key} (correlation id {correlation_id})")]
    UnknownApiKey {
        /// The key as sent.
        api_key: i16,
        /// The request's correlation id.
        correlation_id: i32,
    },
    /// A served API at a version outside our range. For ApiVersions the
    /// connection answers UNSUPPORTED_VERSION with our ranges (KIP-511).
    #[error("{api_key:?} v{version} is not supported (correlation id {correlation_id})")]
    UnsupportedVersion {
        /// The API.
        api_key: ApiKey,
        /// The version as sent.
        version: i16,
        /// The request's correlation id.
        correlation_id: i32,
    },
    /// The frame is not a well-formed request; Kafka closes the connection
    /// (`InvalidRequestException`).
    #[error("malformed request: {0}")]
    Malformed(Malformed),
}

/// What was wrong with a malformed frame.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Malformed {
    /// Fewer bytes than the fixed start of a request header.
    #[error("{len} bytes is too short for a request header")]
    TooShort {
        /// The frame's length.
        len: usize,
    },
    /// The request header failed the guard.
    #[error("{api_key:?} v{version} header: {error}")]
    Header {
        /// The API.
        api_key: ApiKey,
        /// Its version.
        version: i16,
        /// What the guard found.
        error: GuardError,
    },
    /// The request body failed the guard.
    #[error("{api_key:?} v{version} body: {error}")]
    Body {
        /// The API.
        api_key: ApiKey,
        /// Its version.
        version: i16,
        /// What the guard found.
        error: GuardError,
    },
    /// The lengths were fine but `kafka-protocol` refused the content
    /// (a null where none is allowed, invalid UTF-8, ...).
    #[error("{api_key:?} v{version}: {reason}")]
    Decode {
        /// The API.
        api_key: ApiKey,
        /// Its version.
        version: i16,
        /// The decoder's message.
        reason: String,
    },
}

/// Decode one request frame (without its length prefix). Bytes after the
/// body are ignored, as Kafka ignores them (see [`crate::guard`]).
pub fn decode_request(frame: Bytes) -> Result<Request, FrameError> {
    let (api_key, version) = route(&frame)?;
    let body_start = guard_frame(&frame, api_key, version)?;
    decode_checked(frame, api_key, version, body_start)
}

/// Steps 1 and 2: the API and version, from the fixed header prefix.
fn route(frame: &[u8]) -> Result<(ApiKey, i16), FrameError> {
    let malformed = FrameError::Malformed(Malformed::TooShort { len: frame.len() });
    let prefix = frame
        .first_chunk::<HEADER_PREFIX_BYTES>()
        .ok_or(malformed)?;
    let [k0, k1, v0, v1, c0, c1, c2, c3] = *prefix;
    let (raw_key, version) = (i16::from_be_bytes([k0, k1]), i16::from_be_bytes([v0, v1]));
    let correlation_id = i32::from_be_bytes([c0, c1, c2, c3]);
    let unknown = FrameError::UnknownApiKey {
        api_key: raw_key,
        correlation_id,
    };
    let api_key = ApiKey::try_from(raw_key).map_err(|()| unknown.clone())?;
    let (min, max) = supported_versions(api_key).ok_or(unknown)?;
    if !(min..=max).contains(&version) {
        return Err(FrameError::UnsupportedVersion {
            api_key,
            version,
            correlation_id,
        });
    }
    Ok((api_key, version))
}

/// Step 3: the guard over header and body; returns where the body starts.
fn guard_frame(frame: &[u8], api_key: ApiKey, version: i16) -> Result<usize, FrameError> {
    let header_version = api_key.request_header_version(version);
    let header_len = guard::walk_header(header_version, frame).map_err(|error| {
        FrameError::Malformed(Malformed::Header {
            api_key,
            version,
            error,
        })
    })?;
    let body = frame.get(header_len..).unwrap_or_default();
    guard::check_request(api_key, version, body).map_err(|error| {
        FrameError::Malformed(Malformed::Body {
            api_key,
            version,
            error,
        })
    })?;
    Ok(header_len)
}

/// Step 4: `kafka-protocol` decodes what the guard passed. The header must
/// end where the guard said it does, or the body it checked is not the
/// body being decoded.
fn decode_checked(
    mut frame: Bytes,
    api_key: ApiKey,
    version: i16,
    body_start: usize,
) -> Result<Request, FrameError> {
    let decode_error = |reason: String| {
        FrameError::Malformed(Malformed::Decode {
            api_key,
            version,
            reason,
        })
    };
    let frame_len = frame.len();
    let header = RequestHeader::decode(&mut frame, api_key.request_header_version(version))
        .map_err(|e| decode_error(format!("header: {e:#}")))?;
    if frame_len - frame.len() != body_start {
        return Err(decode_error(format!(
            "header decoded to {} bytes, guard found {body_start}",
            frame_len - frame.len()
        )));
    }
    let body = RequestKind::decode(api_key, &mut frame, version)
        .map_err(|e| decode_error(format!("body: {e:#}")))?;
    Ok(Request {
        api_key,
        header,
        body,
    })
}

/// A response that could not be encoded (a value the version cannot carry,
/// or a frame over 2 GiB): a bug in a handler, not a client's fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("encoding {api_key:?} v{version} response: {reason}")]
pub struct EncodeError {
    /// The API.
    pub api_key: ApiKey,
    /// The response version.
    pub version: i16,
    /// The encoder's message.
    pub reason: String,
}

/// Encode a whole response frame: the 4-byte length prefix, the response
/// header and the body. `response` must be `api_key`'s response.
///
/// The header version is the API's (v1, with tagged fields, for flexible
/// versions), except that ApiVersions responses always use header v0: a
/// client that sent a version we do not know must still be able to parse
/// our answer (KIP-511).
pub fn encode_response(
    correlation_id: i32,
    api_key: ApiKey,
    version: i16,
    response: &ResponseKind,
) -> Result<BytesMut, EncodeError> {
    let error = |reason: String| EncodeError {
        api_key,
        version,
        reason,
    };
    let mut buf = BytesMut::new();
    buf.put_i32(0); // the length, patched below
    ResponseHeader::default()
        .with_correlation_id(correlation_id)
        .encode(&mut buf, response_header_version(api_key, version))
        .map_err(|e| error(format!("header: {e:#}")))?;
    response
        .encode(&mut buf, version)
        .map_err(|e| error(format!("{e:#}")))?;
    let len = i32::try_from(buf.len() - LENGTH_PREFIX_BYTES)
        .map_err(|_| error(format!("{} bytes do not fit a frame", buf.len())))?;
    buf[..LENGTH_PREFIX_BYTES].copy_from_slice(&len.to_be_bytes());
    Ok(buf)
}

/// KIP-511: ApiVersions responses always carry response header v0.
fn response_header_version(api_key: ApiKey, version: i16) -> i16 {
    if api_key == ApiKey::ApiVersions {
        0
    } else {
        api_key.response_header_version(version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Buf;
    use kafka_protocol::messages::{ApiVersionsResponse, MetadataResponse};

    /// Split an encoded frame into (length prefix, correlation id, rest).
    fn split(mut frame: Bytes, header_version: i16) -> (i32, i32, Bytes) {
        let len = frame.get_i32();
        let header = ResponseHeader::decode(&mut frame, header_version).unwrap();
        (len, header.correlation_id, frame)
    }

    #[test]
    fn api_versions_responses_always_use_header_v0() {
        let response =
            ResponseKind::ApiVersions(ApiVersionsResponse::default().with_error_code(35));
        for version in 0..=4 {
            let frame = encode_response(7, ApiKey::ApiVersions, version, &response).unwrap();
            let total = frame.len();
            let (len, correlation_id, mut body) = split(frame.freeze(), 0);
            assert_eq!((len as usize, correlation_id), (total - 4, 7));
            let decoded = ApiVersionsResponse::decode(&mut body, version).unwrap();
            assert_eq!(
                (decoded.error_code, body.remaining()),
                (35, 0),
                "v{version}"
            );
        }
    }

    #[test]
    fn flexible_responses_carry_header_v1() {
        let response = ResponseKind::Metadata(MetadataResponse::default().with_throttle_time_ms(3));
        for (version, header_version) in [(8, 0), (9, 1), (12, 1)] {
            let frame = encode_response(-5, ApiKey::Metadata, version, &response).unwrap();
            let total = frame.len();
            let (len, correlation_id, mut body) = split(frame.freeze(), header_version);
            assert_eq!((len as usize, correlation_id), (total - 4, -5));
            let decoded = MetadataResponse::decode(&mut body, version).unwrap();
            assert_eq!(
                (decoded.throttle_time_ms, body.remaining()),
                (3, 0),
                "v{version}"
            );
        }
    }

    #[test]
    fn an_unencodable_response_is_an_error_not_a_panic() {
        let response = ResponseKind::Metadata(MetadataResponse::default());
        let error = encode_response(1, ApiKey::Metadata, 99, &response).unwrap_err();
        assert_eq!((error.api_key, error.version), (ApiKey::Metadata, 99));
    }

    #[test]
    fn a_decoded_request_reports_its_version_and_correlation_id() {
        // ApiVersions v0: header v1 (client_id null), empty body.
        let frame = Bytes::from_static(&[0, 18, 0, 0, 0, 0, 0, 9, 0xff, 0xff]);
        let request = decode_request(frame).unwrap();
        assert_eq!(request.api_key, ApiKey::ApiVersions);
        assert_eq!((request.version(), request.correlation_id()), (0, 9));
        assert_eq!(request.header.client_id, None);
    }
}
