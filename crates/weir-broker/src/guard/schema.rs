//! Our own structural description of the request header and of every
//! request body Weir serves, written from Kafka's message specs
//! (`clients/src/main/resources/common/message/*Request.json`).
//!
//! It says only what the guard needs to find every length on the wire:
//! the fields in wire order, the versions each field is present in, which
//! fields are tagged (and their tag), and where a null is allowed (used by
//! the tests' request generator; the guard itself leaves nullability to the
//! decoder). Field names are Kafka's, in snake case, so that error messages
//! point at the field a client got wrong.
//!
//! Each [`Message`] covers exactly the versions `kafka-protocol` 0.18 can
//! decode (`<XRequest as Message>::VERSIONS`); the tests prove every
//! description against that crate's encoder, version by version.

use kafka_protocol::messages::ApiKey;
use Kind::{Array, Bool, Bytes, Int16, Int32, Int64, Int8, String, Struct, Uuid};

/// The highest version number; "N+" in Kafka's specs.
const MAX: i16 = i16::MAX;

/// How one field is laid out on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// One byte, 0 or 1.
    Bool,
    /// Fixed-width big-endian integers.
    Int8,
    /// Two bytes.
    Int16,
    /// Four bytes.
    Int32,
    /// Eight bytes.
    Int64,
    /// Sixteen bytes.
    Uuid,
    /// UTF-8 text: an `int16` length (-1 = null), or in flexible versions an
    /// unsigned varint of length + 1 (0 = null).
    String,
    /// Opaque bytes (`bytes` and `records` in the specs): an `int32` length
    /// (-1 = null), or in flexible versions an unsigned varint of length + 1.
    Bytes,
    /// An `int32` element count (-1 = null), or in flexible versions an
    /// unsigned varint of count + 1, then the elements.
    Array(&'static Kind),
    /// A nested struct: its fields, then (in flexible versions) its own
    /// tagged-field section.
    Struct(&'static [Field]),
}

impl Kind {
    /// The wire width of a fixed-width kind; `None` for the others.
    pub const fn fixed_width(&self) -> Option<usize> {
        match self {
            Kind::Bool | Kind::Int8 => Some(1),
            Kind::Int16 => Some(2),
            Kind::Int32 => Some(4),
            Kind::Int64 => Some(8),
            Kind::Uuid => Some(16),
            Kind::String | Kind::Bytes | Kind::Array(_) | Kind::Struct(_) => None,
        }
    }
}

/// One field of a struct, in wire order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// Kafka's name for the field, in snake case.
    pub name: &'static str,
    /// Its wire layout.
    pub kind: Kind,
    /// First version the field is present in.
    pub since: i16,
    /// Last version the field is present in.
    pub until: i16,
    /// First version in which the field may be null (`i16::MAX`: never).
    pub null_since: i16,
    /// The tag of a tagged field; `None` for a field in the fixed order.
    pub tag: Option<u32>,
    /// `"flexibleVersions": "none"` in the spec: the field keeps its classic
    /// encoding even in flexible versions (the header's `client_id`).
    pub never_compact: bool,
}

impl Field {
    /// Whether the field is on the wire at `version`.
    pub const fn present(&self, version: i16) -> bool {
        self.since <= version && version <= self.until
    }

    /// Present from `version` on.
    const fn since(self, version: i16) -> Self {
        Field {
            since: version,
            ..self
        }
    }

    /// Present up to and including `version`.
    const fn until(self, version: i16) -> Self {
        Field {
            until: version,
            ..self
        }
    }

    /// Present in `since..=until` only.
    const fn versions(self, since: i16, until: i16) -> Self {
        self.since(since).until(until)
    }

    /// May be null in every version it is present in.
    const fn nullable(self) -> Self {
        self.nullable_since(0)
    }

    /// May be null from `version` on.
    const fn nullable_since(self, version: i16) -> Self {
        Field {
            null_since: version,
            ..self
        }
    }

    /// Sent in the tagged-field section under `tag`.
    const fn tagged(self, tag: u32) -> Self {
        Field {
            tag: Some(tag),
            ..self
        }
    }
}

/// A field present in every version, in the fixed order, never null.
const fn f(name: &'static str, kind: Kind) -> Field {
    Field {
        name,
        kind,
        since: 0,
        until: MAX,
        null_since: MAX,
        tag: None,
        never_compact: false,
    }
}

/// A request header or body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message {
    /// The spec's name, for error messages.
    pub name: &'static str,
    /// First version described (and decodable by `kafka-protocol`).
    pub min_version: i16,
    /// Last version described.
    pub max_version: i16,
    /// First flexible version (KIP-482): compact lengths and tagged fields.
    pub flexible_since: i16,
    /// The top-level fields.
    pub fields: &'static [Field],
}

impl Message {
    /// Whether `version` is described.
    pub const fn covers(&self, version: i16) -> bool {
        self.min_version <= version && version <= self.max_version
    }

    /// Whether `version` uses the flexible encoding.
    pub const fn is_flexible(&self, version: i16) -> bool {
        version >= self.flexible_since
    }
}

const fn msg(
    name: &'static str,
    versions: (i16, i16),
    flexible_since: i16,
    fields: &'static [Field],
) -> Message {
    Message {
        name,
        min_version: versions.0,
        max_version: versions.1,
        flexible_since,
        fields,
    }
}

/// `RequestHeader.json`: v1 has a nullable `client_id` that stays a classic
/// string even in v2, which adds a tagged-field section (KIP-482).
pub const REQUEST_HEADER: Message = msg(
    "RequestHeader",
    (1, 2),
    2,
    &[
        f("request_api_key", Int16),
        f("request_api_version", Int16),
        f("correlation_id", Int32),
        Field {
            never_compact: true,
            ..f("client_id", String).since(1).nullable()
        },
    ],
);

const PRODUCE_PARTITION: &[Field] = &[f("index", Int32), f("records", Bytes).nullable()];
const PRODUCE_TOPIC: &[Field] = &[
    f("name", String).until(12),
    f("topic_id", Uuid).since(13),
    f("partition_data", Array(&Struct(PRODUCE_PARTITION))),
];
const PRODUCE: Message = msg(
    "ProduceRequest",
    (3, 13),
    9,
    &[
        f("transactional_id", String).since(3).nullable(),
        f("acks", Int16),
        f("timeout_ms", Int32),
        f("topic_data", Array(&Struct(PRODUCE_TOPIC))),
    ],
);

const FETCH_REPLICA_STATE: &[Field] = &[
    f("replica_id", Int32).since(15),
    f("replica_epoch", Int64).since(15),
];
const FETCH_PARTITION: &[Field] = &[
    f("partition", Int32),
    f("current_leader_epoch", Int32).since(9),
    f("fetch_offset", Int64),
    f("last_fetched_epoch", Int32).since(12),
    f("log_start_offset", Int64).since(5),
    f("partition_max_bytes", Int32),
    f("replica_directory_id", Uuid).since(17).tagged(0),
    f("high_watermark", Int64).since(18).tagged(1),
];
const FETCH_TOPIC: &[Field] = &[
    f("topic", String).until(12),
    f("topic_id", Uuid).since(13),
    f("partitions", Array(&Struct(FETCH_PARTITION))),
];
const FETCH_FORGOTTEN_TOPIC: &[Field] = &[
    f("topic", String).versions(7, 12),
    f("topic_id", Uuid).since(13),
    f("partitions", Array(&Int32)).since(7),
];
const FETCH: Message = msg(
    "FetchRequest",
    (4, 18),
    12,
    &[
        f("cluster_id", String).since(12).nullable().tagged(0),
        f("replica_id", Int32).until(14),
        f("replica_state", Struct(FETCH_REPLICA_STATE))
            .since(15)
            .tagged(1),
        f("max_wait_ms", Int32),
        f("min_bytes", Int32),
        f("max_bytes", Int32).since(3),
        f("isolation_level", Int8).since(4),
        f("session_id", Int32).since(7),
        f("session_epoch", Int32).since(7),
        f("topics", Array(&Struct(FETCH_TOPIC))),
        f(
            "forgotten_topics_data",
            Array(&Struct(FETCH_FORGOTTEN_TOPIC)),
        )
        .since(7),
        f("rack_id", String).since(11),
    ],
);

const LIST_OFFSETS_PARTITION: &[Field] = &[
    f("partition_index", Int32),
    f("current_leader_epoch", Int32).since(4),
    f("timestamp", Int64),
    f("max_num_offsets", Int32).until(0),
];
const LIST_OFFSETS_TOPIC: &[Field] = &[
    f("name", String),
    f("partitions", Array(&Struct(LIST_OFFSETS_PARTITION))),
];
const LIST_OFFSETS: Message = msg(
    "ListOffsetsRequest",
    (1, 10),
    6,
    &[
        f("replica_id", Int32),
        f("isolation_level", Int8).since(2),
        f("topics", Array(&Struct(LIST_OFFSETS_TOPIC))),
        f("timeout_ms", Int32).since(10),
    ],
);

const METADATA_TOPIC: &[Field] = &[
    f("topic_id", Uuid).since(10),
    f("name", String).nullable_since(10),
];
const METADATA: Message = msg(
    "MetadataRequest",
    (0, 13),
    9,
    &[
        f("topics", Array(&Struct(METADATA_TOPIC))).nullable_since(1),
        f("allow_auto_topic_creation", Bool).since(4),
        f("include_cluster_authorized_operations", Bool).versions(8, 10),
        f("include_topic_authorized_operations", Bool).since(8),
    ],
);

const OFFSET_COMMIT_PARTITION: &[Field] = &[
    f("partition_index", Int32),
    f("committed_offset", Int64),
    f("committed_leader_epoch", Int32).since(6),
    f("commit_timestamp", Int64).versions(1, 1),
    f("committed_metadata", String).nullable(),
];
const OFFSET_COMMIT_TOPIC: &[Field] = &[
    f("name", String),
    f("partitions", Array(&Struct(OFFSET_COMMIT_PARTITION))),
];
const OFFSET_COMMIT: Message = msg(
    "OffsetCommitRequest",
    (2, 9),
    8,
    &[
        f("group_id", String),
        f("generation_id_or_member_epoch", Int32).since(1),
        f("member_id", String).since(1),
        f("group_instance_id", String).since(7).nullable(),
        f("retention_time_ms", Int64).versions(2, 4),
        f("topics", Array(&Struct(OFFSET_COMMIT_TOPIC))),
    ],
);

const OFFSET_FETCH_TOPIC: &[Field] = &[
    f("name", String).until(7),
    f("partition_indexes", Array(&Int32)).until(7),
];
const OFFSET_FETCH_GROUP_TOPIC: &[Field] = &[
    f("name", String).since(8),
    f("partition_indexes", Array(&Int32)).since(8),
];
const OFFSET_FETCH_GROUP: &[Field] = &[
    f("group_id", String).since(8),
    f("member_id", String).since(9).nullable(),
    f("member_epoch", Int32).since(9),
    f("topics", Array(&Struct(OFFSET_FETCH_GROUP_TOPIC)))
        .since(8)
        .nullable(),
];
const OFFSET_FETCH: Message = msg(
    "OffsetFetchRequest",
    (1, 9),
    6,
    &[
        f("group_id", String).until(7),
        f("topics", Array(&Struct(OFFSET_FETCH_TOPIC)))
            .until(7)
            .nullable_since(2),
        f("groups", Array(&Struct(OFFSET_FETCH_GROUP))).since(8),
        f("require_stable", Bool).since(7),
    ],
);

const FIND_COORDINATOR: Message = msg(
    "FindCoordinatorRequest",
    (0, 6),
    3,
    &[
        f("key", String).until(3),
        f("key_type", Int8).since(1),
        f("coordinator_keys", Array(&String)).since(4),
    ],
);

const JOIN_GROUP_PROTOCOL: &[Field] = &[f("name", String), f("metadata", Bytes)];
const JOIN_GROUP: Message = msg(
    "JoinGroupRequest",
    (0, 9),
    6,
    &[
        f("group_id", String),
        f("session_timeout_ms", Int32),
        f("rebalance_timeout_ms", Int32).since(1),
        f("member_id", String),
        f("group_instance_id", String).since(5).nullable(),
        f("protocol_type", String),
        f("protocols", Array(&Struct(JOIN_GROUP_PROTOCOL))),
        f("reason", String).since(8).nullable(),
    ],
);

const HEARTBEAT: Message = msg(
    "HeartbeatRequest",
    (0, 4),
    4,
    &[
        f("group_id", String),
        f("generation_id", Int32),
        f("member_id", String),
        f("group_instance_id", String).since(3).nullable(),
    ],
);

const LEAVE_GROUP_MEMBER: &[Field] = &[
    f("member_id", String).since(3),
    f("group_instance_id", String).since(3).nullable(),
    f("reason", String).since(5).nullable(),
];
const LEAVE_GROUP: Message = msg(
    "LeaveGroupRequest",
    (0, 5),
    4,
    &[
        f("group_id", String),
        f("member_id", String).until(2),
        f("members", Array(&Struct(LEAVE_GROUP_MEMBER))).since(3),
    ],
);

const SYNC_GROUP_ASSIGNMENT: &[Field] = &[f("member_id", String), f("assignment", Bytes)];
const SYNC_GROUP: Message = msg(
    "SyncGroupRequest",
    (0, 5),
    4,
    &[
        f("group_id", String),
        f("generation_id", Int32),
        f("member_id", String),
        f("group_instance_id", String).since(3).nullable(),
        f("protocol_type", String).since(5).nullable(),
        f("protocol_name", String).since(5).nullable(),
        f("assignments", Array(&Struct(SYNC_GROUP_ASSIGNMENT))),
    ],
);

const DESCRIBE_GROUPS: Message = msg(
    "DescribeGroupsRequest",
    (0, 6),
    5,
    &[
        f("groups", Array(&String)),
        f("include_authorized_operations", Bool).since(3),
    ],
);

const LIST_GROUPS: Message = msg(
    "ListGroupsRequest",
    (0, 5),
    3,
    &[
        f("states_filter", Array(&String)).since(4),
        f("types_filter", Array(&String)).since(5),
    ],
);

const API_VERSIONS: Message = msg(
    "ApiVersionsRequest",
    (0, 4),
    3,
    &[
        f("client_software_name", String).since(3),
        f("client_software_version", String).since(3),
    ],
);

const CREATE_TOPICS_ASSIGNMENT: &[Field] =
    &[f("partition_index", Int32), f("broker_ids", Array(&Int32))];
const CREATE_TOPICS_CONFIG: &[Field] = &[f("name", String), f("value", String).nullable()];
const CREATE_TOPICS_TOPIC: &[Field] = &[
    f("name", String),
    f("num_partitions", Int32),
    f("replication_factor", Int16),
    f("assignments", Array(&Struct(CREATE_TOPICS_ASSIGNMENT))),
    f("configs", Array(&Struct(CREATE_TOPICS_CONFIG))),
];
const CREATE_TOPICS: Message = msg(
    "CreateTopicsRequest",
    (2, 7),
    5,
    &[
        f("topics", Array(&Struct(CREATE_TOPICS_TOPIC))),
        f("timeout_ms", Int32),
        f("validate_only", Bool).since(1),
    ],
);

const DELETE_TOPICS_TOPIC: &[Field] = &[
    f("name", String).since(6).nullable(),
    f("topic_id", Uuid).since(6),
];
const DELETE_TOPICS: Message = msg(
    "DeleteTopicsRequest",
    (1, 6),
    4,
    &[
        f("topics", Array(&Struct(DELETE_TOPICS_TOPIC))).since(6),
        f("topic_names", Array(&String)).until(5),
        f("timeout_ms", Int32),
    ],
);

const INIT_PRODUCER_ID: Message = msg(
    "InitProducerIdRequest",
    (0, 5),
    2,
    &[
        f("transactional_id", String).nullable(),
        f("transaction_timeout_ms", Int32),
        f("producer_id", Int64).since(3),
        f("producer_epoch", Int16).since(3),
    ],
);

const OFFSET_FOR_LEADER_EPOCH_PARTITION: &[Field] = &[
    f("partition", Int32),
    f("current_leader_epoch", Int32).since(2),
    f("leader_epoch", Int32),
];
const OFFSET_FOR_LEADER_EPOCH_TOPIC: &[Field] = &[
    f("topic", String),
    f(
        "partitions",
        Array(&Struct(OFFSET_FOR_LEADER_EPOCH_PARTITION)),
    ),
];
const OFFSET_FOR_LEADER_EPOCH: Message = msg(
    "OffsetForLeaderEpochRequest",
    (2, 4),
    4,
    &[
        f("replica_id", Int32).since(3),
        f("topics", Array(&Struct(OFFSET_FOR_LEADER_EPOCH_TOPIC))),
    ],
);

const DESCRIBE_CONFIGS_RESOURCE: &[Field] = &[
    f("resource_type", Int8),
    f("resource_name", String),
    f("configuration_keys", Array(&String)).nullable(),
];
const DESCRIBE_CONFIGS: Message = msg(
    "DescribeConfigsRequest",
    (1, 4),
    4,
    &[
        f("resources", Array(&Struct(DESCRIBE_CONFIGS_RESOURCE))),
        f("include_synonyms", Bool).since(1),
        f("include_documentation", Bool).since(3),
    ],
);

const DESCRIBE_LOG_DIRS_TOPIC: &[Field] = &[f("topic", String), f("partitions", Array(&Int32))];
const DESCRIBE_LOG_DIRS: Message = msg(
    "DescribeLogDirsRequest",
    (1, 4),
    2,
    &[f("topics", Array(&Struct(DESCRIBE_LOG_DIRS_TOPIC))).nullable()],
);

const ELECT_LEADERS_TOPIC: &[Field] = &[f("topic", String), f("partitions", Array(&Int32))];
const ELECT_LEADERS: Message = msg(
    "ElectLeadersRequest",
    (0, 2),
    2,
    &[
        f("election_type", Int8).since(1),
        f("topic_partitions", Array(&Struct(ELECT_LEADERS_TOPIC))).nullable(),
        f("timeout_ms", Int32),
    ],
);

const CREATE_PARTITIONS_ASSIGNMENT: &[Field] = &[f("broker_ids", Array(&Int32))];
const CREATE_PARTITIONS_TOPIC: &[Field] = &[
    f("name", String),
    f("count", Int32),
    f("assignments", Array(&Struct(CREATE_PARTITIONS_ASSIGNMENT))).nullable(),
];
const CREATE_PARTITIONS: Message = msg(
    "CreatePartitionsRequest",
    (0, 3),
    2,
    &[
        f("topics", Array(&Struct(CREATE_PARTITIONS_TOPIC))),
        f("timeout_ms", Int32),
        f("validate_only", Bool),
    ],
);

const ALTERABLE_CONFIG: &[Field] = &[
    f("name", String),
    f("config_operation", Int8),
    f("value", String).nullable(),
];
const ALTER_CONFIGS_RESOURCE: &[Field] = &[
    f("resource_type", Int8),
    f("resource_name", String),
    f("configs", Array(&Struct(ALTERABLE_CONFIG))),
];
const INCREMENTAL_ALTER_CONFIGS: Message = msg(
    "IncrementalAlterConfigsRequest",
    (0, 1),
    1,
    &[
        f("resources", Array(&Struct(ALTER_CONFIGS_RESOURCE))),
        f("validate_only", Bool),
    ],
);

const LEGACY_ALTERABLE_CONFIG: &[Field] = &[f("name", String), f("value", String).nullable()];
const LEGACY_ALTER_CONFIGS_RESOURCE: &[Field] = &[
    f("resource_type", Int8),
    f("resource_name", String),
    f("configs", Array(&Struct(LEGACY_ALTERABLE_CONFIG))),
];
const ALTER_CONFIGS: Message = msg(
    "AlterConfigsRequest",
    (0, 2),
    2,
    &[
        f("resources", Array(&Struct(LEGACY_ALTER_CONFIGS_RESOURCE))),
        f("validate_only", Bool),
    ],
);

const DESCRIBE_CLUSTER: Message = msg(
    "DescribeClusterRequest",
    (0, 2),
    0,
    &[
        f("include_cluster_authorized_operations", Bool),
        f("endpoint_type", Int8).since(1),
        f("include_fenced_brokers", Bool).since(2),
    ],
);

const DESCRIBE_QUORUM_PARTITION: &[Field] = &[f("partition_index", Int32)];
const DESCRIBE_QUORUM_TOPIC: &[Field] = &[
    f("topic_name", String),
    f("partitions", Array(&Struct(DESCRIBE_QUORUM_PARTITION))),
];
const DESCRIBE_QUORUM: Message = msg(
    "DescribeQuorumRequest",
    (0, 2),
    0,
    &[f("topics", Array(&Struct(DESCRIBE_QUORUM_TOPIC)))],
);

const DESCRIBE_TOPIC_PARTITIONS_TOPIC: &[Field] = &[f("name", String)];
const DESCRIBE_TOPIC_PARTITIONS_CURSOR: &[Field] =
    &[f("topic_name", String), f("partition_index", Int32)];
const DESCRIBE_TOPIC_PARTITIONS: Message = msg(
    "DescribeTopicPartitionsRequest",
    (0, 0),
    0,
    &[
        f("topics", Array(&Struct(DESCRIBE_TOPIC_PARTITIONS_TOPIC))),
        f("response_partition_limit", Int32),
        // A nullable struct: an int8 marker (-1 = null) before it.
        f("cursor", Struct(DESCRIBE_TOPIC_PARTITIONS_CURSOR)).nullable(),
    ],
);

/// Every request body the guard can check, by API key.
pub const REQUESTS: &[(ApiKey, Message)] = &[
    (ApiKey::Produce, PRODUCE),
    (ApiKey::Fetch, FETCH),
    (ApiKey::ListOffsets, LIST_OFFSETS),
    (ApiKey::Metadata, METADATA),
    (ApiKey::OffsetCommit, OFFSET_COMMIT),
    (ApiKey::OffsetFetch, OFFSET_FETCH),
    (ApiKey::FindCoordinator, FIND_COORDINATOR),
    (ApiKey::JoinGroup, JOIN_GROUP),
    (ApiKey::Heartbeat, HEARTBEAT),
    (ApiKey::LeaveGroup, LEAVE_GROUP),
    (ApiKey::SyncGroup, SYNC_GROUP),
    (ApiKey::DescribeGroups, DESCRIBE_GROUPS),
    (ApiKey::ListGroups, LIST_GROUPS),
    (ApiKey::ApiVersions, API_VERSIONS),
    (ApiKey::CreateTopics, CREATE_TOPICS),
    (ApiKey::DeleteTopics, DELETE_TOPICS),
    (ApiKey::InitProducerId, INIT_PRODUCER_ID),
    (ApiKey::OffsetForLeaderEpoch, OFFSET_FOR_LEADER_EPOCH),
    (ApiKey::DescribeConfigs, DESCRIBE_CONFIGS),
    (ApiKey::DescribeLogDirs, DESCRIBE_LOG_DIRS),
    (ApiKey::CreatePartitions, CREATE_PARTITIONS),
    (ApiKey::AlterConfigs, ALTER_CONFIGS),
    (ApiKey::ElectLeaders, ELECT_LEADERS),
    (ApiKey::IncrementalAlterConfigs, INCREMENTAL_ALTER_CONFIGS),
    (ApiKey::DescribeCluster, DESCRIBE_CLUSTER),
    (ApiKey::DescribeQuorum, DESCRIBE_QUORUM),
    (ApiKey::DescribeTopicPartitions, DESCRIBE_TOPIC_PARTITIONS),
];

/// The description of `api_key`'s request body, if the guard has one.
pub fn request(api_key: ApiKey) -> Option<&'static Message> {
    REQUESTS
        .iter()
        .find(|(key, _)| *key == api_key)
        .map(|(_, message)| message)
}
