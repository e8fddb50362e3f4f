//! `Connection` against a scripted fake broker on 127.0.0.1: version
//! negotiation with the KIP-511 fallback, pipelined requests answered out
//! of order, and a broker that hangs up or lies about frame lengths.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsResponse, MetadataRequest, MetadataResponse, RequestHeader, ResponseHeader,
};
use kafka_protocol::protocol::{Decodable, Encodable};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use weir_client::{ClientError, Connection, ConnectionConfig};

const TEST_TIMEOUT: Duration = Duration::from_secs(10);

async fn read_request(s: &mut TcpStream) -> Option<(RequestHeader, Bytes)> {
    let len = s.read_i32().await.ok()?;
    let mut body = vec![0u8; usize::try_from(len).ok()?];
    s.read_exact(&mut body).await.ok()?;
    let mut body = Bytes::from(body);
    let key = ApiKey::try_from(i16::from_be_bytes([body[0], body[1]])).ok()?;
    let version = i16::from_be_bytes([body[2], body[3]]);
    let header = RequestHeader::decode(&mut body, key.request_header_version(version)).ok()?;
    Some((header, body))
}

async fn respond(
    s: &mut TcpStream,
    correlation_id: i32,
    header_version: i16,
    body: impl Encodable,
    version: i16,
) {
    let mut buf = BytesMut::new();
    ResponseHeader::default()
        .with_correlation_id(correlation_id)
        .encode(&mut buf, header_version)
        .unwrap();
    body.encode(&mut buf, version).unwrap();
    let mut frame = BytesMut::new();
    frame.put_i32(buf.len() as i32);
    frame.extend_from_slice(&buf);
    s.write_all(&frame).await.unwrap();
}

fn versions(error_code: i16, ranges: &[(ApiKey, i16, i16)]) -> ApiVersionsResponse {
    ApiVersionsResponse::default()
        .with_error_code(error_code)
        .with_api_keys(
            ranges
                .iter()
                .map(|&(k, min, max)| {
                    ApiVersion::default()
                        .with_api_key(k as i16)
                        .with_min_version(min)
                        .with_max_version(max)
                })
                .collect(),
        )
}

/// Answer ApiVersions; if `old`, first refuse anything above v3 as a
/// pre-KIP-511-aware broker would, in a v0 body.
async fn handshake(s: &mut TcpStream, old: bool) -> i16 {
    let ranges = [(ApiKey::ApiVersions, 0, 3), (ApiKey::Metadata, 0, 9)];
    let (h, _) = read_request(s).await.expect("ApiVersions");
    assert_eq!(h.request_api_key, ApiKey::ApiVersions as i16);
    if old && h.request_api_version > 3 {
        respond(s, h.correlation_id, 0, versions(35, &ranges), 0).await;
        let (h2, _) = read_request(s).await.expect("ApiVersions retry");
        assert_eq!(
            h2.request_api_version, 3,
            "retried at the broker's highest version"
        );
        respond(s, h2.correlation_id, 0, versions(0, &ranges), 3).await;
        return 3;
    }
    let v = h.request_api_version;
    respond(s, h.correlation_id, 0, versions(0, &ranges), v).await;
    v
}

async fn listener() -> (TcpListener, String) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    (l, addr)
}

#[tokio::test]
async fn negotiates_with_fallback_and_matches_pipelined_answers() {
    let (l, addr) = listener().await;
    let broker = tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        handshake(&mut s, true).await;
        // Two requests in flight; answer the second first.
        let (a, _) = read_request(&mut s).await.unwrap();
        let (b, _) = read_request(&mut s).await.unwrap();
        assert_eq!(
            a.request_api_version, 9,
            "Metadata at min(ours 13, broker 9)"
        );
        for (h, throttle) in [(b, 2), (a, 1)] {
            let resp = MetadataResponse::default().with_throttle_time_ms(throttle);
            respond(&mut s, h.correlation_id, 1, resp, 9).await;
        }
    });
    let conn = tokio::time::timeout(
        TEST_TIMEOUT,
        Connection::connect(&addr, &ConnectionConfig::default()),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(conn.negotiate::<MetadataRequest>().unwrap(), 9);
    let req = MetadataRequest::default().with_topics(None);
    let (first, second) = tokio::join!(conn.request(&req), async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        conn.request(&req).await
    });
    assert_eq!(first.unwrap().throttle_time_ms, 1);
    assert_eq!(second.unwrap().throttle_time_ms, 2);
    broker.await.unwrap();
}

#[tokio::test]
async fn broker_hanging_up_fails_waiting_requests() {
    let (l, addr) = listener().await;
    tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        handshake(&mut s, false).await;
        let _ = read_request(&mut s).await;
        // Drop the socket without answering.
    });
    let conn = Connection::connect(&addr, &ConnectionConfig::default())
        .await
        .unwrap();
    let err = tokio::time::timeout(TEST_TIMEOUT, conn.request(&MetadataRequest::default()))
        .await
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, ClientError::Disconnected(_)), "{err}");
    assert!(conn.is_closed());
    assert!(conn.request(&MetadataRequest::default()).await.is_err());
}

#[tokio::test]
async fn hostile_frames_are_errors_not_crashes() {
    for frame in [
        vec![0x7f, 0xff, 0xff, 0xff],             // 2 GiB announced
        vec![0xff, 0xff, 0xff, 0xfe],             // negative length
        vec![0, 0, 0, 2, 0, 1],                   // too short for a correlation id
        vec![0, 0, 0, 4, 0x12, 0x34, 0x56, 0x78], // nobody waits for this id
    ] {
        let (l, addr) = listener().await;
        tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            handshake(&mut s, false).await;
            let _ = read_request(&mut s).await;
            s.write_all(&frame).await.unwrap();
            tokio::time::sleep(Duration::from_secs(5)).await;
        });
        let conn = Connection::connect(&addr, &ConnectionConfig::default())
            .await
            .unwrap();
        let result = tokio::time::timeout(TEST_TIMEOUT, conn.request(&MetadataRequest::default()))
            .await
            .unwrap();
        assert!(result.is_err());
        assert!(conn.is_closed());
    }
}

#[tokio::test]
async fn a_silent_broker_times_out() {
    let (l, addr) = listener().await;
    tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        handshake(&mut s, false).await;
        let _ = read_request(&mut s).await;
        tokio::time::sleep(Duration::from_secs(5)).await;
    });
    let config = ConnectionConfig {
        request_timeout_ms: 200,
        ..ConnectionConfig::default()
    };
    let conn = Connection::connect(&addr, &config).await.unwrap();
    let err = conn.request(&MetadataRequest::default()).await.unwrap_err();
    assert!(err.to_string().starts_with("REQUEST_TIMED_OUT: "), "{err}");
}
