//! The guard's description against `kafka-protocol`'s codec: every request
//! the crate encodes passes the guard, and the guard's walk ends exactly
//! where the crate's body ends, for every API and version described.

mod guard_common;

use bytes::{Buf, Bytes};
use guard_common::*;
use kafka_protocol::messages::fetch_request::{
    FetchPartition, FetchTopic, ForgottenTopic, ReplicaState,
};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use weir_broker::api::SUPPORTED_APIS;
use weir_broker::frame::decode_request;
use weir_broker::guard::{self, schema};

/// Seeds per API version for the generated round trips.
const SEEDS_PER_VERSION: u64 = 64;

#[test]
fn descriptions_cover_exactly_what_the_crate_decodes() {
    for (api, message) in schema::REQUESTS {
        let codec = crate_versions(*api);
        assert_eq!(
            (message.min_version, message.max_version),
            (codec.min, codec.max),
            "{api:?}: description vs {}",
            message.name
        );
    }
}

#[test]
fn every_supported_version_is_described() {
    for (api, version) in supported() {
        let message = schema::request(api).unwrap_or_else(|| panic!("{api:?} has no description"));
        assert!(
            message.covers(version),
            "{api:?} v{version} is served but not described"
        );
    }
    assert_eq!(SUPPORTED_APIS.len(), schema::REQUESTS.len());
}

/// The guard's `count <= remaining` rule is sound only if no element can be
/// empty; this holds for every array of every described version.
#[test]
fn every_array_element_takes_at_least_one_byte() {
    for (api, version, message) in described() {
        let mut elements = Vec::new();
        array_elements(message.fields, version, &mut elements);
        for (field, element) in elements {
            let bytes = min_wire_bytes(element, version, message.is_flexible(version));
            assert!(
                bytes >= 1,
                "{api:?} v{version} {field}: elements can be empty"
            );
        }
    }
}

#[test]
fn default_requests_walk_to_their_exact_length() {
    for (api, version, _) in described() {
        let body = encode(&default_request(api), version);
        let walked = guard::walk_request(api, version, &body);
        assert_eq!(
            walked,
            Ok(body.len()),
            "{api:?} v{version} default: {body:02x?}"
        );
    }
}

#[test]
fn generated_requests_round_trip_through_the_crate() {
    for (api, version, message) in described() {
        for seed in 0..SEEDS_PER_VERSION {
            let body = generate(message, version, &mut SplitMix::new(seed));
            round_trip(api, version, &body, seed);
        }
    }
}

/// `body` (written from our description) passes the guard to its last
/// byte, decodes to its last byte, and encodes back to the same bytes.
fn round_trip(api: ApiKey, version: i16, body: &[u8], seed: u64) {
    let context = format!("{api:?} v{version} seed {seed}: {body:02x?}");
    assert_eq!(
        guard::walk_request(api, version, body),
        Ok(body.len()),
        "guard, {context}"
    );
    let mut buf = Bytes::copy_from_slice(body);
    let decoded = RequestKind::decode(api, &mut buf, version)
        .unwrap_or_else(|e| panic!("decode, {context}: {e:#}"));
    assert_eq!(buf.remaining(), 0, "decode left bytes, {context}");
    assert_eq!(encode(&decoded, version), body, "re-encode, {context}");
}

#[test]
fn supported_frames_decode_through_the_front_door() {
    for (api, version) in supported() {
        let message = schema::request(api).unwrap();
        for seed in 0..8 {
            let body = generate(message, version, &mut SplitMix::new(seed));
            let request = decode_request(frame(api, version, 7, &body))
                .unwrap_or_else(|e| panic!("{api:?} v{version} seed {seed}: {e}"));
            assert_eq!(
                (request.api_key, request.version(), request.correlation_id()),
                (api, version, 7)
            );
            assert_eq!(encode(&request.body, version), body);
        }
    }
}

/// Kafka ignores bytes after the body (`RequestContext.parseRequest` never
/// checks the buffer is exhausted); so do we.
#[test]
fn trailing_bytes_after_the_body_are_ignored() {
    let body = encode(&default_request(ApiKey::Metadata), 12);
    let mut padded = body.clone();
    padded.extend_from_slice(&[0xde, 0xad]);
    assert_eq!(
        guard::walk_request(ApiKey::Metadata, 12, &padded),
        Ok(body.len())
    );
    let request = decode_request(frame(ApiKey::Metadata, 12, 1, &padded)).unwrap();
    assert_eq!(request.body, default_request(ApiKey::Metadata));
}

#[test]
fn request_headers_walk_to_their_exact_length() {
    let unknown_tag = RequestHeader::default()
        .with_correlation_id(3)
        .with_unknown_tagged_field(5, Bytes::from_static(b"xyz"));
    let headers = [
        RequestHeader::default().with_client_id(None),
        RequestHeader::default().with_client_id(Some(StrBytes::from_static_str("rdkafka"))),
        unknown_tag,
    ];
    for header in headers {
        for version in 1..=2 {
            let mut buf = bytes::BytesMut::new();
            kafka_protocol::protocol::Encodable::encode(&header, &mut buf, version).unwrap();
            let walked = guard::walk_header(version, &buf);
            assert_eq!(walked, Ok(buf.len()), "{header:?} v{version}");
        }
    }
}

// Hand-built requests for the APIs on the hot path, with the shapes real
// clients send: several elements, nulls, tagged fields.

fn produce() -> ProduceRequest {
    let partition = |index, records: Option<&'static [u8]>| {
        PartitionProduceData::default()
            .with_index(index)
            .with_records(records.map(Bytes::from_static))
    };
    let topic = TopicProduceData::default()
        .with_name(TopicName(StrBytes::from_static_str("orders")))
        .with_partition_data(vec![
            partition(0, Some(b"batch")),
            partition(1, None),
            partition(2, Some(b"")),
        ]);
    ProduceRequest::default()
        .with_transactional_id(None)
        .with_acks(-1)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![
            topic.clone(),
            topic.with_name(TopicName(StrBytes::from_static_str("audit"))),
        ])
}

fn fetch(version: i16) -> FetchRequest {
    let partition = FetchPartition::default()
        .with_partition(3)
        .with_fetch_offset(42)
        .with_partition_max_bytes(1 << 20);
    let mut topic =
        FetchTopic::default().with_partitions(vec![partition.clone(), partition.with_partition(4)]);
    let mut forgotten = ForgottenTopic::default().with_partitions(vec![1, 2, 3]);
    let mut request = FetchRequest::default()
        .with_max_wait_ms(500)
        .with_min_bytes(1);
    if version >= 13 {
        topic = topic.with_topic_id(uuid::Uuid::from_u128(7));
        forgotten = forgotten.with_topic_id(uuid::Uuid::from_u128(8));
    } else {
        topic = topic.with_topic(TopicName(StrBytes::from_static_str("orders")));
        forgotten = forgotten.with_topic(TopicName(StrBytes::from_static_str("old")));
    }
    if version >= 12 {
        request = request.with_cluster_id(Some(StrBytes::from_static_str("weir-cluster")));
    }
    if version >= 15 {
        request = request.with_replica_state(
            ReplicaState::default()
                .with_replica_id(BrokerId(2))
                .with_replica_epoch(9),
        );
    } else {
        request = request.with_replica_id(BrokerId(-1));
    }
    if version >= 11 {
        request = request.with_rack_id(StrBytes::from_static_str("rack-a"));
    }
    if version >= 7 {
        request = request
            .with_session_id(11)
            .with_session_epoch(0)
            .with_forgotten_topics_data(vec![forgotten]);
    }
    request.with_topics(vec![topic])
}

fn metadata(version: i16, topics: Option<Vec<&'static str>>) -> MetadataRequest {
    let topic = |name| {
        MetadataRequestTopic::default().with_name(Some(TopicName(StrBytes::from_static_str(name))))
    };
    let request = MetadataRequest::default()
        .with_topics(topics.map(|names| names.into_iter().map(topic).collect()));
    if version >= 4 {
        request.with_allow_auto_topic_creation(false)
    } else {
        request
    }
}

#[test]
fn hand_built_requests_walk_to_their_exact_length() {
    let mut cases: Vec<(ApiKey, i16, RequestKind)> = Vec::new();
    for version in 3..=12 {
        cases.push((ApiKey::Produce, version, produce().into()));
    }
    for version in 4..=18 {
        cases.push((ApiKey::Fetch, version, fetch(version).into()));
    }
    for version in 0..=13 {
        cases.push((
            ApiKey::Metadata,
            version,
            metadata(version, Some(vec!["a", "bb", "ccc"])).into(),
        ));
        if version >= 1 {
            cases.push((ApiKey::Metadata, version, metadata(version, None).into()));
        }
    }
    for (api, version, request) in cases {
        let body = encode(&request, version);
        assert_eq!(
            guard::walk_request(api, version, &body),
            Ok(body.len()),
            "{api:?} v{version}"
        );
        let decoded = RequestKind::decode(api, &mut Bytes::from(body), version).unwrap();
        assert_eq!(decoded, request, "{api:?} v{version}");
    }
}
