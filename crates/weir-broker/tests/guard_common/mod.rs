//! Shared by the `guard_*` tests: a seeded generator of request bodies from
//! the guard's own description, the crate's request types by API key, and
//! frame building.
//!
//! The generator writes bytes from our description; the tests then make
//! `kafka-protocol` decode them and encode the result again. Only a
//! description that matches the crate's codec, field by field and version
//! by version, survives that round trip byte for byte.

#![allow(dead_code)] // each test binary uses a different part

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Encodable, Message as _, StrBytes, VersionRange};
use weir_broker::guard::schema::{Field, Kind, Message};

/// splitmix64: small, seeded, good enough to pick shapes.
#[derive(Debug, Clone)]
pub struct SplitMix(u64);

impl SplitMix {
    pub fn new(seed: u64) -> Self {
        SplitMix(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }
}

/// Writes a body that follows `message` at `version`: arrays of 0..=3
/// elements, ASCII strings, random bytes, nulls where the spec allows them,
/// known tagged fields (non-default, as the encoder omits defaults) and
/// unknown tags above every known one (the encoder writes those last).
pub fn generate(message: &Message, version: i16, rng: &mut SplitMix) -> Vec<u8> {
    let mut generator = Generator {
        out: Vec::new(),
        rng,
        version,
        flexible: message.is_flexible(version),
    };
    generator.fields(message.fields);
    generator.out
}

struct Generator<'a> {
    out: Vec<u8>,
    rng: &'a mut SplitMix,
    version: i16,
    flexible: bool,
}

impl Generator<'_> {
    fn fields(&mut self, fields: &[Field]) {
        let version = self.version;
        for field in fields
            .iter()
            .filter(|f| f.tag.is_none() && f.present(version))
        {
            let nullable = version >= field.null_since;
            let compact = self.flexible && !field.never_compact;
            self.value(&field.kind, nullable, compact);
        }
        if self.flexible {
            self.tagged_fields(fields);
        }
    }

    fn value(&mut self, kind: &Kind, nullable: bool, compact: bool) {
        if let Some(width) = kind.fixed_width() {
            return self.fixed(kind, width);
        }
        if let (true, Kind::Struct(_)) = (nullable, kind) {
            // A nullable struct: an int8 marker, -1 for null.
            if self.rng.one_in(4) {
                return self.out.push(0xff);
            }
            self.out.push(1);
        } else if nullable && self.rng.one_in(4) {
            return self.null(kind, compact);
        }
        match kind {
            Kind::String => self.blob(kind, compact, |rng| b'a' + rng.below(26) as u8),
            Kind::Bytes => self.blob(kind, compact, |rng| rng.next() as u8),
            Kind::Array(element) => {
                let count = self.rng.below(4) as usize;
                self.length(kind, count, compact);
                for _ in 0..count {
                    self.value(element, false, compact);
                }
            }
            Kind::Struct(fields) => self.fields(fields),
            _ => unreachable!("fixed width handled above"),
        }
    }

    fn fixed(&mut self, kind: &Kind, width: usize) {
        if *kind == Kind::Bool {
            let value = self.rng.below(2) as u8;
            return self.out.push(value);
        }
        for _ in 0..width {
            let byte = self.rng.next() as u8;
            self.out.push(byte);
        }
    }

    fn null(&mut self, kind: &Kind, compact: bool) {
        match (compact, kind) {
            (true, _) => self.out.push(0),
            (false, Kind::String) => self.out.extend_from_slice(&(-1i16).to_be_bytes()),
            (false, _) => self.out.extend_from_slice(&(-1i32).to_be_bytes()),
        }
    }

    fn blob(&mut self, kind: &Kind, compact: bool, mut byte: impl FnMut(&mut SplitMix) -> u8) {
        let len = self.rng.below(9) as usize;
        self.length(kind, len, compact);
        for _ in 0..len {
            let b = byte(self.rng);
            self.out.push(b);
        }
    }

    fn length(&mut self, kind: &Kind, len: usize, compact: bool) {
        match (compact, kind) {
            (true, _) => put_uvarint(&mut self.out, len as u32 + 1),
            (false, Kind::String) => self.out.extend_from_slice(&(len as i16).to_be_bytes()),
            (false, _) => self.out.extend_from_slice(&(len as i32).to_be_bytes()),
        }
    }

    fn tagged_fields(&mut self, fields: &[Field]) {
        let mut tagged: Vec<(u32, Vec<u8>)> = Vec::new();
        let version = self.version;
        for field in fields
            .iter()
            .filter(|f| f.tag.is_some() && f.present(version))
        {
            if self.rng.one_in(2) {
                let value = self.tagged_value(&field.kind);
                tagged.push((field.tag.unwrap_or_default(), value));
            }
        }
        if self.rng.one_in(3) {
            let unknown = (0..self.rng.below(4))
                .map(|_| self.rng.next() as u8)
                .collect();
            tagged.push((100 + self.rng.below(3) as u32, unknown));
        }
        put_uvarint(&mut self.out, tagged.len() as u32);
        for (tag, value) in tagged {
            put_uvarint(&mut self.out, tag);
            put_uvarint(&mut self.out, value.len() as u32);
            self.out.extend_from_slice(&value);
        }
    }

    /// A tagged value is always encoded flexibly and never null here
    /// (a null is the default, which the encoder leaves out).
    fn tagged_value(&mut self, kind: &Kind) -> Vec<u8> {
        let outer = std::mem::take(&mut self.out);
        let flexible = std::mem::replace(&mut self.flexible, true);
        self.value(kind, false, true);
        self.flexible = flexible;
        std::mem::replace(&mut self.out, outer)
    }
}

pub fn put_uvarint(out: &mut Vec<u8>, mut value: u32) {
    while value >= 0x80 {
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// The fewest bytes a value of `kind` can take at `version`.
pub fn min_wire_bytes(kind: &Kind, version: i16, flexible: bool) -> usize {
    if let Some(width) = kind.fixed_width() {
        return width;
    }
    match (kind, flexible) {
        (Kind::Struct(fields), _) => {
            fields
                .iter()
                .filter(|f| f.tag.is_none() && f.present(version))
                .map(|f| min_wire_bytes(&f.kind, version, flexible && !f.never_compact))
                .sum::<usize>()
                + usize::from(flexible)
        }
        (_, true) => 1,
        (Kind::String, false) => 2,
        (_, false) => 4,
    }
}

/// Every array element kind reachable from `fields` at `version`.
pub fn array_elements(
    fields: &'static [Field],
    version: i16,
    out: &mut Vec<(&'static str, &'static Kind)>,
) {
    for field in fields.iter().filter(|f| f.present(version)) {
        collect_elements(field.name, &field.kind, version, out);
    }
}

fn collect_elements(
    name: &'static str,
    kind: &'static Kind,
    version: i16,
    out: &mut Vec<(&'static str, &'static Kind)>,
) {
    match kind {
        Kind::Array(element) => {
            out.push((name, element));
            collect_elements(name, element, version, out);
        }
        Kind::Struct(fields) => array_elements(fields, version, out),
        _ => {}
    }
}

macro_rules! per_api {
    ($($api:ident => $request:ident),* $(,)?) => {
        /// The crate's default request of `api`.
        pub fn default_request(api: ApiKey) -> RequestKind {
            match api {
                $(ApiKey::$api => RequestKind::$api($request::default()),)*
                other => panic!("no request type listed for {other:?}"),
            }
        }

        /// The versions the crate's request type of `api` decodes.
        pub fn crate_versions(api: ApiKey) -> VersionRange {
            match api {
                $(ApiKey::$api => $request::VERSIONS,)*
                other => panic!("no request type listed for {other:?}"),
            }
        }
    };
}

per_api! {
    Produce => ProduceRequest,
    Fetch => FetchRequest,
    ListOffsets => ListOffsetsRequest,
    Metadata => MetadataRequest,
    OffsetCommit => OffsetCommitRequest,
    OffsetFetch => OffsetFetchRequest,
    FindCoordinator => FindCoordinatorRequest,
    JoinGroup => JoinGroupRequest,
    Heartbeat => HeartbeatRequest,
    LeaveGroup => LeaveGroupRequest,
    SyncGroup => SyncGroupRequest,
    DescribeGroups => DescribeGroupsRequest,
    ListGroups => ListGroupsRequest,
    ApiVersions => ApiVersionsRequest,
    CreateTopics => CreateTopicsRequest,
    DeleteTopics => DeleteTopicsRequest,
    InitProducerId => InitProducerIdRequest,
    OffsetForLeaderEpoch => OffsetForLeaderEpochRequest,
    DescribeConfigs => DescribeConfigsRequest,
    DescribeLogDirs => DescribeLogDirsRequest,
    CreatePartitions => CreatePartitionsRequest,
    AlterConfigs => AlterConfigsRequest,
    ElectLeaders => ElectLeadersRequest,
    IncrementalAlterConfigs => IncrementalAlterConfigsRequest,
    DescribeCluster => DescribeClusterRequest,
    DescribeQuorum => DescribeQuorumRequest,
    DescribeTopicPartitions => DescribeTopicPartitionsRequest,
}

/// `request` encoded by `kafka-protocol` at `version`.
pub fn encode(request: &RequestKind, version: i16) -> Vec<u8> {
    let mut buf = BytesMut::new();
    request
        .encode(&mut buf, version)
        .unwrap_or_else(|e| panic!("encoding {request:?} v{version}: {e:#}"));
    buf.to_vec()
}

/// The request header `kafka-protocol` writes for `api` at `version`.
pub fn header(
    api: ApiKey,
    version: i16,
    correlation_id: i32,
    client_id: Option<&'static str>,
) -> Vec<u8> {
    let header = RequestHeader::default()
        .with_request_api_key(api as i16)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(client_id.map(StrBytes::from_static_str));
    let mut buf = BytesMut::new();
    header
        .encode(&mut buf, api.request_header_version(version))
        .unwrap();
    buf.to_vec()
}

/// A whole request frame (without the length prefix).
pub fn frame(api: ApiKey, version: i16, correlation_id: i32, body: &[u8]) -> Bytes {
    let mut frame = header(api, version, correlation_id, Some("weir-test"));
    frame.extend_from_slice(body);
    Bytes::from(frame)
}

/// Every (api, version) Weir serves.
pub fn supported() -> impl Iterator<Item = (ApiKey, i16)> {
    weir_broker::api::SUPPORTED_APIS
        .iter()
        .flat_map(|&(api, min, max)| (min..=max).map(move |v| (api, v)))
}

/// Every (api, version, description) the guard describes.
pub fn described() -> impl Iterator<Item = (ApiKey, i16, &'static Message)> {
    weir_broker::guard::schema::REQUESTS
        .iter()
        .flat_map(|(api, m)| (m.min_version..=m.max_version).map(move |v| (*api, v, m)))
}
