//! Raw bytes on the wire (as mini-redis `tests/server.rs` does): a real
//! `weir server` answers good frames, answers or closes bad ones, never
//! crashes, and keeps serving other connections.

mod common;

use common::server::{api_versions_round_trip, read_frame, send_frame, Server};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

fn connect(server: &Server) -> TcpStream {
    let s = TcpStream::connect(server.addr()).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s
}

/// The connection was closed by the broker (EOF or reset), not answered.
fn assert_closed(mut s: TcpStream) {
    let mut buf = [0u8; 64];
    match s.read(&mut buf) {
        Ok(0) => {}
        Ok(n) => panic!(
            "expected the broker to close, got {n} bytes: {:?}",
            &buf[..n]
        ),
        Err(e) => assert!(
            matches!(
                e.kind(),
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
            ),
            "expected close, got {e}"
        ),
    }
}

fn assert_still_serving(server: &mut Server) {
    let mut s = connect(server);
    let response = api_versions_round_trip(&mut s).expect("broker still serves");
    assert_eq!(&response[..4], &7i32.to_be_bytes(), "correlation id");
    assert!(
        server.is_running(),
        "broker process died: {}",
        server.log_text()
    );
}

fn i16_at(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}

#[test]
fn api_versions_v0_lists_produce_and_fetch() {
    let server = Server::start(&[]);
    let mut s = connect(&server);
    let r = api_versions_round_trip(&mut s).expect("response");
    // correlation id, error code, array of (key, min, max).
    assert_eq!(&r[..4], &7i32.to_be_bytes());
    assert_eq!(i16_at(&r, 4), 0, "error code");
    let n = i32::from_be_bytes([r[6], r[7], r[8], r[9]]) as usize;
    let keys: Vec<(i16, i16, i16)> = (0..n)
        .map(|i| {
            let at = 10 + i * 6;
            (i16_at(&r, at), i16_at(&r, at + 2), i16_at(&r, at + 4))
        })
        .collect();
    assert!(keys.contains(&(0, 3, 11)), "Produce 3..=11 in {keys:?}");
    assert!(
        keys.iter().any(|k| k.0 == 1 && k.1 == 4),
        "Fetch in {keys:?}"
    );
    assert!(keys.iter().any(|k| k.0 == 18), "ApiVersions in {keys:?}");
}

#[test]
fn api_versions_from_the_future_gets_unsupported_version_and_our_ranges() {
    // KIP-511: version 99 of ApiVersions, header v2 (client id, tagged fields).
    let server = Server::start(&[]);
    let mut s = connect(&server);
    let body: &[u8] = &[0, 18, 0, 99, 0, 0, 0, 42, 0, 1, b'x', 0, 0, 0];
    send_frame(&mut s, body).expect("send");
    let r = read_frame(&mut s).expect("answered, not closed");
    assert_eq!(&r[..4], &42i32.to_be_bytes());
    assert_eq!(i16_at(&r, 4), 35, "UNSUPPORTED_VERSION");
    let n = i32::from_be_bytes([r[6], r[7], r[8], r[9]]);
    assert!(n > 5, "our ranges are listed ({n})");
}

#[test]
fn bad_frames_close_the_connection_and_the_broker_keeps_serving() {
    let mut server = Server::start(&["socket.request.max.bytes=1048576"]);
    let produce_v9_huge_array: Vec<u8> = {
        // Header v1: Produce (0) v9, correlation 1, client id null... then
        // a body whose first array count claims 2^31-1 topics.
        let mut b = vec![0, 0, 0, 9, 0, 0, 0, 1, 0xff, 0xff, 0];
        // v9 is flexible: header v2 has tagged fields (0 above); body:
        // transactional_id (compact nullable string: 0 = null), acks,
        // timeout, then topic_data as a compact array with a huge count.
        b.extend_from_slice(&[0, 0xff, 0xff, 0, 0, 0x75, 0x30]);
        b.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x07]);
        b
    };
    let frames: Vec<(&str, Vec<u8>)> = vec![
        ("negative length", (-1i32).to_be_bytes().to_vec()),
        (
            "length above the limit",
            (2_000_000i32).to_be_bytes().to_vec(),
        ),
        ("3-byte frame", [0, 0, 0, 3, 0, 18, 0].to_vec()),
        ("empty frame", [0, 0, 0, 0].to_vec()),
        ("unknown api key", {
            let body = [0x03, 0xe7, 0, 0, 0, 0, 0, 1, 0, 0];
            let mut f = (body.len() as u32).to_be_bytes().to_vec();
            f.extend_from_slice(&body);
            f
        }),
        ("unsupported produce version", {
            let body = [0, 0, 0, 1, 0, 0, 0, 1, 0, 0];
            let mut f = (body.len() as u32).to_be_bytes().to_vec();
            f.extend_from_slice(&body);
            f
        }),
        ("produce with a 2^31 array count", {
            let mut f = (produce_v9_huge_array.len() as u32).to_be_bytes().to_vec();
            f.extend_from_slice(&produce_v9_huge_array);
            f
        }),
        ("garbage", b"\x00\x00\x00\x10GET / HTTP/1.1\r\n".to_vec()),
    ];
    for (what, bytes) in frames {
        let mut s = connect(&server);
        s.write_all(&bytes)
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_closed(s);
        assert_still_serving(&mut server);
    }
}

#[test]
fn truncated_frame_then_eof_does_not_hurt_the_broker() {
    let mut server = Server::start(&[]);
    let mut s = connect(&server);
    s.write_all(&[0, 0, 0, 100, 0, 18, 0, 0]).expect("write");
    drop(s);
    assert_still_serving(&mut server);
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let server = Server::start(&[]);
    let mut s = connect(&server);
    let mut burst = Vec::new();
    for id in 0..50i32 {
        let mut body = vec![0, 18, 0, 0];
        body.extend_from_slice(&id.to_be_bytes());
        body.extend_from_slice(&[0, 0]);
        burst.extend_from_slice(&(body.len() as u32).to_be_bytes());
        burst.extend_from_slice(&body);
    }
    s.write_all(&burst).expect("write burst");
    for id in 0..50i32 {
        let r = read_frame(&mut s).expect("response");
        assert_eq!(&r[..4], &id.to_be_bytes(), "response {id} out of order");
    }
}

#[test]
fn connections_beyond_max_connections_are_closed_and_others_keep_working() {
    let mut server = Server::start(&["max.connections=2"]);
    // The readiness probe's connection may hold a slot for a moment.
    let mut first = served_connection(&server);
    let mut second = served_connection(&server);
    api_versions_round_trip(&mut second).expect("second connection served");
    let third = connect(&server);
    assert_closed(third);
    api_versions_round_trip(&mut first).expect("first still served");
    drop(second);
    let _fourth = served_connection(&server);
    assert!(server.is_running());
}

/// A connection the broker serves, retrying (bounded) while slots free up:
/// a slot is released once the broker notices a peer's close.
fn served_connection(server: &Server) -> TcpStream {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let mut s = connect(server);
        if api_versions_round_trip(&mut s).is_ok() {
            return s;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no connection slot freed in 10 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
