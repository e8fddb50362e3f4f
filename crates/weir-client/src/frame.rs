//! Kafka request/response framing, without I/O.
//!
//! Every message on the wire is a 4-byte big-endian length followed by that
//! many bytes: a header, then the body. The codecs are `kafka-protocol`'s;
//! this module only chooses header versions and checks lengths, so the
//! connection code can be tested without sockets.

use crate::error::{ClientError, Result};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, Request, StrBytes};

/// Size of the length prefix.
pub const LENGTH_PREFIX: usize = 4;

/// The request header version for `api` at `version`, as the protocol's
/// JSON specs define it (flexible versions use header v2).
pub fn request_header_version(api: ApiKey, version: i16) -> i16 {
    api.request_header_version(version)
}

/// The response header version: ApiVersions responses always use v0 so a
/// client can read them before it knows what the broker speaks (KIP-511).
pub fn response_header_version(api: ApiKey, version: i16) -> i16 {
    if api == ApiKey::ApiVersions {
        0
    } else {
        api.response_header_version(version)
    }
}

/// Encode one length-prefixed request frame.
pub fn encode_request<R: Request>(
    request: &R,
    version: i16,
    correlation_id: i32,
    client_id: &str,
) -> Result<Bytes> {
    let api = api_key_of::<R>()?;
    let header = RequestHeader::default()
        .with_request_api_key(R::KEY)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_string(client_id.to_owned())));
    let mut buf = BytesMut::new();
    buf.put_i32(0);
    header
        .encode(&mut buf, request_header_version(api, version))
        .map_err(|e| ClientError::Encode(format!("{api:?} header: {e}")))?;
    request
        .encode(&mut buf, version)
        .map_err(|e| ClientError::Encode(format!("{api:?} v{version}: {e}")))?;
    let body_len = i32::try_from(buf.len() - LENGTH_PREFIX)
        .map_err(|_| ClientError::Encode(format!("{api:?} request too large")))?;
    buf[..LENGTH_PREFIX].copy_from_slice(&body_len.to_be_bytes());
    Ok(buf.freeze())
}

/// The `ApiKey` of a request type.
pub fn api_key_of<R: Request>() -> Result<ApiKey> {
    ApiKey::try_from(R::KEY).map_err(|_| ClientError::Encode(format!("unknown API key {}", R::KEY)))
}

/// The correlation id of a response frame (length prefix already removed):
/// its first four bytes, whatever the header version.
pub fn peek_correlation_id(frame: &[u8]) -> Result<i32> {
    let head: [u8; 4] = frame
        .get(..4)
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| {
            ClientError::Protocol(format!("response of {} bytes has no header", frame.len()))
        })?;
    Ok(i32::from_be_bytes(head))
}

/// Decode a response frame (length prefix removed) for request type `R` at
/// `version`, checking the correlation id.
pub fn decode_response<R: Request>(
    mut frame: Bytes,
    version: i16,
    correlation_id: i32,
) -> Result<R::Response> {
    let api = api_key_of::<R>()?;
    let header = ResponseHeader::decode(&mut frame, response_header_version(api, version))
        .map_err(|e| ClientError::Protocol(format!("{api:?} response header: {e}")))?;
    if header.correlation_id != correlation_id {
        return Err(ClientError::Protocol(format!(
            "correlation id {} where {correlation_id} was expected",
            header.correlation_id
        )));
    }
    <R::Response as Decodable>::decode(&mut frame, version)
        .map_err(|e| ClientError::Protocol(format!("{api:?} v{version} response: {e}")))
}

/// Splits a byte stream into frames, refusing lengths that are negative or
/// above a limit, so a broken or hostile peer cannot make us allocate
/// without bound.
#[derive(Debug)]
pub struct FrameDecoder {
    max_frame_bytes: usize,
}

impl FrameDecoder {
    /// A decoder accepting frames of at most `max_frame_bytes`.
    pub fn new(max_frame_bytes: usize) -> FrameDecoder {
        FrameDecoder { max_frame_bytes }
    }

    /// The next complete frame in `buf`, removing it; `Ok(None)` if more
    /// bytes are needed (incomplete is not an error).
    pub fn decode(&self, buf: &mut BytesMut) -> Result<Option<Bytes>> {
        let Some(len) = self.peek_len(buf)? else {
            return Ok(None);
        };
        if buf.len() < LENGTH_PREFIX + len {
            buf.reserve(LENGTH_PREFIX + len - buf.len());
            return Ok(None);
        }
        buf.advance(LENGTH_PREFIX);
        Ok(Some(buf.split_to(len).freeze()))
    }

    fn peek_len(&self, buf: &[u8]) -> Result<Option<usize>> {
        let Some(prefix) = buf.get(..LENGTH_PREFIX) else {
            return Ok(None);
        };
        let len = i32::from_be_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]);
        match usize::try_from(len) {
            Ok(n) if n <= self.max_frame_bytes => Ok(Some(n)),
            _ => Err(ClientError::Protocol(format!(
                "frame length {len} outside 0..={}",
                self.max_frame_bytes
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::{ApiVersionsRequest, MetadataRequest, MetadataResponse};

    #[test]
    fn request_frame_has_length_header_and_body() {
        let req = MetadataRequest::default().with_topics(None);
        let frame = encode_request(&req, 12, 7, "weir").unwrap();
        let len = i32::from_be_bytes(frame[..4].try_into().unwrap()) as usize;
        assert_eq!(len, frame.len() - 4);
        let mut body = frame.slice(4..);
        let header = RequestHeader::decode(&mut body, 2).unwrap();
        assert_eq!(header.request_api_key, 3);
        assert_eq!(header.request_api_version, 12);
        assert_eq!(header.correlation_id, 7);
        assert_eq!(header.client_id.as_deref(), Some("weir"));
        let decoded = MetadataRequest::decode(&mut body, 12).unwrap();
        assert_eq!(decoded, req);
    }

    #[test]
    fn header_versions_follow_the_specs() {
        assert_eq!(request_header_version(ApiKey::Metadata, 8), 1);
        assert_eq!(request_header_version(ApiKey::Metadata, 9), 2);
        assert_eq!(response_header_version(ApiKey::Metadata, 9), 1);
        // KIP-511: ApiVersions responses keep header v0 even when flexible.
        assert_eq!(response_header_version(ApiKey::ApiVersions, 3), 0);
        assert_eq!(request_header_version(ApiKey::ApiVersions, 3), 2);
        let frame = encode_request(&ApiVersionsRequest::default(), 0, 1, "c").unwrap();
        assert_eq!(&frame[4..8], &[0, 18, 0, 0]);
    }

    #[test]
    fn response_round_trip_checks_correlation_id() {
        let resp = MetadataResponse::default().with_throttle_time_ms(5);
        let mut buf = BytesMut::new();
        ResponseHeader::default()
            .with_correlation_id(42)
            .encode(&mut buf, 1)
            .unwrap();
        resp.encode(&mut buf, 12).unwrap();
        let frame = buf.freeze();
        assert_eq!(peek_correlation_id(&frame).unwrap(), 42);
        let got = decode_response::<MetadataRequest>(frame.clone(), 12, 42).unwrap();
        assert_eq!(got, resp);
        assert!(matches!(
            decode_response::<MetadataRequest>(frame, 12, 43),
            Err(ClientError::Protocol(_))
        ));
    }

    #[test]
    fn truncated_response_is_an_error_not_a_panic() {
        let mut buf = BytesMut::new();
        ResponseHeader::default()
            .with_correlation_id(1)
            .encode(&mut buf, 1)
            .unwrap();
        MetadataResponse::default().encode(&mut buf, 12).unwrap();
        for cut in 0..buf.len() {
            let frame = Bytes::copy_from_slice(&buf[..cut]);
            assert!(
                decode_response::<MetadataRequest>(frame, 12, 1).is_err(),
                "cut {cut}"
            );
        }
    }

    #[test]
    fn decoder_splits_frames_and_waits_for_more() {
        let d = FrameDecoder::new(100);
        let mut buf = BytesMut::new();
        assert!(d.decode(&mut buf).unwrap().is_none());
        buf.extend_from_slice(&[0, 0, 0, 3, b'a']);
        assert!(d.decode(&mut buf).unwrap().is_none());
        buf.extend_from_slice(&[b'b', b'c', 0, 0, 0, 0, 0]);
        assert_eq!(&d.decode(&mut buf).unwrap().unwrap()[..], b"abc");
        assert_eq!(&d.decode(&mut buf).unwrap().unwrap()[..], b"");
        assert_eq!(buf.len(), 1);
    }

    #[test]
    fn decoder_refuses_hostile_lengths() {
        let d = FrameDecoder::new(100);
        let mut buf = BytesMut::from(&[0xff, 0xff, 0xff, 0xff][..]);
        assert!(d.decode(&mut buf).is_err());
        let mut buf = BytesMut::from(&[0, 0, 0, 101][..]);
        assert!(d.decode(&mut buf).is_err());
    }
}
