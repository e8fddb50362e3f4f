//! DescribeQuorum (key 55) frames at the front door: what
//! kafka-metadata-quorum.sh's Admin client sends decodes, and truncated or
//! hostile frames are refused by the guard before `kafka-protocol` sees
//! them (no panic, no allocation the frame cannot back).

mod guard_common;

use bytes::Bytes;
use guard_common::*;
use kafka_protocol::messages::describe_quorum_request::{PartitionData, TopicData};
use kafka_protocol::messages::{ApiKey, DescribeQuorumRequest, RequestKind};
use kafka_protocol::protocol::StrBytes;
use weir_broker::frame::{decode_request, FrameError, Malformed};
use weir_broker::guard::GuardError;

/// Kafka's `DescribeQuorumRequest.singletonRequest(__cluster_metadata-0)`.
fn admin_request() -> DescribeQuorumRequest {
    DescribeQuorumRequest::default().with_topics(vec![TopicData::default()
        .with_topic_name(StrBytes::from_static_str("__cluster_metadata").into())
        .with_partitions(vec![PartitionData::default().with_partition_index(0)])])
}

fn body_error(result: Result<weir_broker::frame::Request, FrameError>) -> GuardError {
    match result {
        Err(FrameError::Malformed(Malformed::Body {
            api_key: ApiKey::DescribeQuorum,
            error,
            ..
        })) => error,
        other => panic!("expected a refused DescribeQuorum body, got {other:?}"),
    }
}

#[test]
fn the_admin_clients_request_decodes_in_every_served_version() {
    for version in 0..=2 {
        let request = admin_request();
        let body = encode(&request.clone().into(), version);
        let decoded = decode_request(frame(ApiKey::DescribeQuorum, version, 7, &body))
            .unwrap_or_else(|e| panic!("v{version}: {e}"));
        assert_eq!(decoded.header.correlation_id, 7);
        assert_eq!(
            decoded.body,
            RequestKind::DescribeQuorum(request),
            "v{version}"
        );
    }
}

#[test]
fn every_truncation_is_refused() {
    for version in 0..=2 {
        let body = encode(&admin_request().into(), version);
        let whole = frame(ApiKey::DescribeQuorum, version, 7, &body);
        let header_len = whole.len() - body.len();
        for len in 0..whole.len() {
            let result = decode_request(whole.slice(..len));
            assert!(result.is_err(), "v{version} cut at {len}/{}", whole.len());
            if len >= header_len {
                body_error(result);
            }
        }
    }
}

/// The `topics` count as the largest compact varint (2^32 - 2 topics):
/// unguarded, the decoder would reserve that many `TopicData`.
#[test]
fn a_huge_topic_count_is_refused() {
    let body = [0xff, 0xff, 0xff, 0xff, 0x0f, 0x00];
    let error = body_error(decode_request(frame(ApiKey::DescribeQuorum, 2, 1, &body)));
    assert_eq!(
        error,
        GuardError::CountTooLarge {
            field: "topics",
            offset: 0,
            count: 4_294_967_294,
            remaining: 1,
        }
    );
}

#[test]
fn a_huge_partition_count_is_refused() {
    let mut body = vec![0x02, 0x03, b'a', b'b']; // one topic, "ab"
    body.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]); // partitions
    body.extend_from_slice(&[0x00, 0x00]); // tagged fields
    let error = body_error(decode_request(frame(ApiKey::DescribeQuorum, 1, 1, &body)));
    assert_eq!(
        error,
        GuardError::CountTooLarge {
            field: "partitions",
            offset: 4,
            count: 4_294_967_294,
            remaining: 2,
        }
    );
}

#[test]
fn a_topic_name_longer_than_the_frame_is_refused() {
    let mut body = vec![0x02];
    body.extend_from_slice(&[0xff, 0xff, 0xff, 0x7f]); // topic_name length
    body.extend_from_slice(b"__cluster_metadata");
    let error = body_error(decode_request(frame(ApiKey::DescribeQuorum, 0, 1, &body)));
    assert!(error.to_string().starts_with("topic_name"), "{error}");
}

#[test]
fn an_overlong_varint_is_refused() {
    let body = [0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
    let error = body_error(decode_request(frame(ApiKey::DescribeQuorum, 0, 1, &body)));
    assert_eq!(
        error,
        GuardError::VarintTooLong {
            field: "topics",
            offset: 0
        }
    );
}

#[test]
fn versions_past_kafka_4_0_are_unsupported() {
    let mut frame = (ApiKey::DescribeQuorum as i16).to_be_bytes().to_vec();
    frame.extend_from_slice(&3i16.to_be_bytes());
    frame.extend_from_slice(&9i32.to_be_bytes());
    frame.extend_from_slice(&[0xff; 3]);
    assert_eq!(
        decode_request(Bytes::from(frame)).unwrap_err(),
        FrameError::UnsupportedVersion {
            api_key: ApiKey::DescribeQuorum,
            version: 3,
            correlation_id: 9
        }
    );
}

/// Every position of a valid frame overwritten with huge counts: refused
/// or decoded, never a crash.
#[test]
fn huge_values_at_every_position_never_crash() {
    let spliced: [&[u8]; 3] = [
        &i32::MAX.to_be_bytes(),
        &i16::MAX.to_be_bytes(),
        &[0xff, 0xff, 0xff, 0xff, 0x0f],
    ];
    for version in 0..=2 {
        let body = encode(&admin_request().into(), version);
        let whole = frame(ApiKey::DescribeQuorum, version, 7, &body);
        for at in 8..whole.len() {
            for huge in spliced {
                let mut hostile = whole.to_vec();
                let end = (at + huge.len()).min(hostile.len());
                hostile.splice(at..end, huge.iter().copied());
                let _ = decode_request(Bytes::from(hostile));
            }
        }
    }
}
