//! Why the controller refuses a request, as a Kafka error code and message.

/// An expected refusal of a metadata request. Each variant is one Kafka
/// error code (`org.apache.kafka.common.protocol.Errors`); the text is the
/// message Kafka's controller sends with it, so clients print the same.
#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// UNKNOWN_SERVER_ERROR (-1).
    #[error("{0}")]
    UnknownServerError(String),
    /// UNKNOWN_TOPIC_OR_PARTITION (3).
    #[error("{0}")]
    UnknownTopicOrPartition(String),
    /// INVALID_TOPIC_EXCEPTION (17).
    #[error("{0}")]
    InvalidTopic(String),
    /// TOPIC_ALREADY_EXISTS (36).
    #[error("{0}")]
    TopicAlreadyExists(String),
    /// INVALID_PARTITIONS (37).
    #[error("{0}")]
    InvalidPartitions(String),
    /// INVALID_REPLICATION_FACTOR (38).
    #[error("{0}")]
    InvalidReplicationFactor(String),
    /// INVALID_REPLICA_ASSIGNMENT (39).
    #[error("{0}")]
    InvalidReplicaAssignment(String),
    /// INVALID_CONFIG (40).
    #[error("{0}")]
    InvalidConfig(String),
    /// INVALID_REQUEST (42).
    #[error("{0}")]
    InvalidRequest(String),
    /// POLICY_VIOLATION (44).
    #[error("{0}")]
    PolicyViolation(String),
    /// STALE_BROKER_EPOCH (77).
    #[error("{0}")]
    StaleBrokerEpoch(String),
    /// UNKNOWN_TOPIC_ID (100).
    #[error("{0}")]
    UnknownTopicId(String),
    /// NOT_LEADER_OR_FOLLOWER (6).
    #[error("{0}")]
    NotLeaderOrFollower(String),
    /// FENCED_LEADER_EPOCH (74).
    #[error("{0}")]
    FencedLeaderEpoch(String),
    /// INVALID_UPDATE_VERSION (96).
    #[error("{0}")]
    InvalidUpdateVersion(String),
    /// INELIGIBLE_REPLICA (107).
    #[error("{0}")]
    IneligibleReplica(String),
}

impl PlanError {
    /// The Kafka error code to answer with.
    pub fn error_code(&self) -> i16 {
        match self {
            PlanError::UnknownServerError(_) => -1,
            PlanError::UnknownTopicOrPartition(_) => 3,
            PlanError::InvalidTopic(_) => 17,
            PlanError::TopicAlreadyExists(_) => 36,
            PlanError::InvalidPartitions(_) => 37,
            PlanError::InvalidReplicationFactor(_) => 38,
            PlanError::InvalidReplicaAssignment(_) => 39,
            PlanError::InvalidConfig(_) => 40,
            PlanError::InvalidRequest(_) => 42,
            PlanError::PolicyViolation(_) => 44,
            PlanError::StaleBrokerEpoch(_) => 77,
            PlanError::UnknownTopicId(_) => 100,
            PlanError::NotLeaderOrFollower(_) => 6,
            PlanError::FencedLeaderEpoch(_) => 74,
            PlanError::InvalidUpdateVersion(_) => 96,
            PlanError::IneligibleReplica(_) => 107,
        }
    }

    /// Kafka's name for the error code, as tools print it.
    pub fn error_name(&self) -> &'static str {
        match self {
            PlanError::UnknownServerError(_) => "UNKNOWN_SERVER_ERROR",
            PlanError::UnknownTopicOrPartition(_) => "UNKNOWN_TOPIC_OR_PARTITION",
            PlanError::InvalidTopic(_) => "INVALID_TOPIC_EXCEPTION",
            PlanError::TopicAlreadyExists(_) => "TOPIC_ALREADY_EXISTS",
            PlanError::InvalidPartitions(_) => "INVALID_PARTITIONS",
            PlanError::InvalidReplicationFactor(_) => "INVALID_REPLICATION_FACTOR",
            PlanError::InvalidReplicaAssignment(_) => "INVALID_REPLICA_ASSIGNMENT",
            PlanError::InvalidConfig(_) => "INVALID_CONFIG",
            PlanError::InvalidRequest(_) => "INVALID_REQUEST",
            PlanError::PolicyViolation(_) => "POLICY_VIOLATION",
            PlanError::StaleBrokerEpoch(_) => "STALE_BROKER_EPOCH",
            PlanError::UnknownTopicId(_) => "UNKNOWN_TOPIC_ID",
            PlanError::NotLeaderOrFollower(_) => "NOT_LEADER_OR_FOLLOWER",
            PlanError::FencedLeaderEpoch(_) => "FENCED_LEADER_EPOCH",
            PlanError::InvalidUpdateVersion(_) => "INVALID_UPDATE_VERSION",
            PlanError::IneligibleReplica(_) => "INELIGIBLE_REPLICA",
        }
    }

    /// The message to send in the response's `error_message`.
    pub fn message(&self) -> &str {
        match self {
            PlanError::UnknownServerError(m)
            | PlanError::UnknownTopicOrPartition(m)
            | PlanError::InvalidTopic(m)
            | PlanError::TopicAlreadyExists(m)
            | PlanError::InvalidPartitions(m)
            | PlanError::InvalidReplicationFactor(m)
            | PlanError::InvalidReplicaAssignment(m)
            | PlanError::InvalidConfig(m)
            | PlanError::InvalidRequest(m)
            | PlanError::PolicyViolation(m)
            | PlanError::StaleBrokerEpoch(m)
            | PlanError::UnknownTopicId(m)
            | PlanError::NotLeaderOrFollower(m)
            | PlanError::FencedLeaderEpoch(m)
            | PlanError::InvalidUpdateVersion(m)
            | PlanError::IneligibleReplica(m) => m,
        }
    }

    /// UNKNOWN_TOPIC_OR_PARTITION with Kafka's default message.
    pub(crate) fn unknown_topic() -> PlanError {
        PlanError::UnknownTopicOrPartition("This server does not host this topic-partition.".into())
    }
}
