//! Typed client errors.
//!
//! A broker's answer keeps its Kafka error code, so a tool can print it the
//! way Kafka's scripts do (`TOPIC_ALREADY_EXISTS: Topic 'x' already exists.`)
//! and a caller can decide on retries with the protocol's own
//! retriable flag rather than by matching strings.

use kafka_protocol::error::ResponseError;
use std::fmt;
use std::sync::Arc;

/// An error code returned by a broker, with the broker's message if it sent
/// one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaError {
    /// The decoded code (`ResponseError::Unknown` for codes newer than us).
    pub error: ResponseError,
    /// The broker's own `error_message`, when the response carries one.
    pub message: Option<String>,
}

impl KafkaError {
    /// The error for `code`, or `None` for 0 (no error).
    pub fn from_code(code: i16, message: Option<&str>) -> Option<KafkaError> {
        let error = ResponseError::try_from_code(code)?;
        let message = message.filter(|m| !m.is_empty()).map(str::to_owned);
        Some(KafkaError { error, message })
    }

    /// The numeric Kafka error code.
    pub fn code(&self) -> i16 {
        self.error.code()
    }

    /// Kafka's name for the error, e.g. `NOT_LEADER_OR_FOLLOWER`, as in
    /// Kafka's `Errors` enum and every client's logs.
    pub fn name(&self) -> String {
        match self.error {
            ResponseError::Unknown(code) => format!("UNKNOWN_ERROR_CODE_{code}"),
            e => screaming_snake(&e.to_string()),
        }
    }

    /// Whether the protocol marks this error retriable (leader moved, topic
    /// still being created, ...).
    pub fn is_retriable(&self) -> bool {
        self.error.is_retriable()
    }

    /// Whether our cached view of partition leadership is probably stale, so
    /// metadata must be refreshed before a retry (Kafka's
    /// `InvalidMetadataException` family).
    pub fn invalidates_metadata(&self) -> bool {
        matches!(
            self.error,
            ResponseError::NotLeaderOrFollower
                | ResponseError::UnknownTopicOrPartition
                | ResponseError::LeaderNotAvailable
                | ResponseError::FencedLeaderEpoch
                | ResponseError::UnknownLeaderEpoch
                | ResponseError::UnknownTopicId
                | ResponseError::KafkaStorageError
        )
    }

    /// The sentence printed after the name: the broker's own message if it
    /// gave one, else Kafka's default text for the code.
    pub fn sentence(&self) -> String {
        match &self.message {
            Some(m) => m.clone(),
            None => default_sentence(self.error).to_owned(),
        }
    }
}

impl fmt::Display for KafkaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.name(), self.sentence())
    }
}

impl std::error::Error for KafkaError {}

/// Everything that can go wrong in the client.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientError {
    /// The broker answered with a Kafka error code.
    #[error(transparent)]
    Kafka(#[from] KafkaError),
    /// A socket could not be opened, read or written.
    #[error("NETWORK_EXCEPTION: {context}: {source}")]
    Io {
        /// What we were doing (`connecting to 127.0.0.1:9092`).
        context: String,
        /// The underlying error (shared, so one failure can be reported to
        /// every record of a batch).
        source: Arc<std::io::Error>,
    },
    /// The connection closed with requests still waiting for answers.
    #[error("NETWORK_EXCEPTION: The server disconnected before a response was received ({0}).")]
    Disconnected(String),
    /// No answer within the request timeout.
    #[error("REQUEST_TIMED_OUT: {0}")]
    Timeout(String),
    /// The broker offers no version of an API that we can speak.
    #[error("UNSUPPORTED_VERSION: The broker does not support {api} in any version we speak ({ours}; broker: {theirs}).")]
    UnsupportedVersion {
        /// The API, e.g. `Fetch`.
        api: String,
        /// Our version range.
        ours: String,
        /// The broker's version range, or `none`.
        theirs: String,
    },
    /// The broker sent bytes we could not make sense of; a broker is input
    /// like any other, so this is an error and never a panic.
    #[error("CORRUPT_MESSAGE: malformed response from the broker: {0}")]
    Protocol(String),
    /// A request we built could not be encoded (a bug or an invalid value
    /// passed in, such as an oversized batch).
    #[error("INVALID_REQUEST: {0}")]
    Encode(String),
    /// A caller-supplied setting or argument is invalid.
    #[error("INVALID_CONFIG: {0}")]
    Config(String),
    /// The producer or consumer has been closed.
    #[error("the client is closed")]
    Closed,
}

impl ClientError {
    /// The Kafka error inside, if this is one.
    pub fn kafka(&self) -> Option<&KafkaError> {
        match self {
            ClientError::Kafka(k) => Some(k),
            _ => None,
        }
    }

    /// Whether retrying the same operation later may succeed.
    pub fn is_retriable(&self) -> bool {
        match self {
            ClientError::Kafka(k) => k.is_retriable(),
            ClientError::Io { .. } | ClientError::Disconnected(_) | ClientError::Timeout(_) => true,
            _ => false,
        }
    }

    /// Build an [`ClientError::Io`] with what we were doing.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> ClientError {
        ClientError::Io {
            context: context.into(),
            source: Arc::new(source),
        }
    }
}

/// Result alias for the client.
pub type Result<T, E = ClientError> = std::result::Result<T, E>;

/// `Some(Err)` for a non-zero code: the common shape of checking one field
/// of a response.
pub fn check(code: i16, message: Option<&str>) -> Result<()> {
    match KafkaError::from_code(code, message) {
        Some(e) => Err(ClientError::Kafka(e)),
        None => Ok(()),
    }
}

/// `NotLeaderOrFollower` -> `NOT_LEADER_OR_FOLLOWER`.
fn screaming_snake(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 8);
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// Kafka's default message for the codes a user of the tools meets; the
/// rest get a generic sentence naming the code.
fn default_sentence(e: ResponseError) -> &'static str {
    use ResponseError as E;
    match e {
        E::UnknownServerError => "The server experienced an unexpected error when processing the request.",
        E::OffsetOutOfRange => "The requested offset is not within the range of offsets maintained by the server.",
        E::CorruptMessage => "This message has failed its CRC checksum, exceeds the valid size, has a null key for a compacted topic, or is otherwise corrupt.",
        E::UnknownTopicOrPartition => "This server does not host this topic-partition.",
        E::LeaderNotAvailable => "There is no leader for this topic-partition as we are in the middle of a leadership election.",
        E::NotLeaderOrFollower => "For requests intended only for the leader, this error indicates that the broker is not the current leader.",
        E::RequestTimedOut => "The request timed out.",
        E::BrokerNotAvailable => "The broker is not available.",
        E::MessageTooLarge => "The request included a message larger than the max message size the server will accept.",
        E::InvalidTopicException => "The request attempted to perform an operation on an invalid topic.",
        E::RecordListTooLarge => "The request included message batch larger than the configured segment size on the server.",
        E::NotEnoughReplicas => "Messages are rejected since there are fewer in-sync replicas than required.",
        E::NotEnoughReplicasAfterAppend => "Messages are written to the log, but to fewer in-sync replicas than required.",
        E::InvalidRequiredAcks => "Produce request specified an invalid value for required acks.",
        E::UnsupportedVersion => "The version of API is not supported.",
        E::TopicAlreadyExists => "Topic with this name already exists.",
        E::InvalidPartitions => "Number of partitions is below 1.",
        E::InvalidReplicationFactor => "Replication factor is below 1 or larger than the number of available brokers.",
        E::InvalidReplicaAssignment => "Replica assignment is invalid.",
        E::InvalidConfig => "Configuration is invalid.",
        E::NotController => "This is not the correct controller for this cluster.",
        E::InvalidRequest => "This most likely occurs because of a request being malformed by the client library or the message was sent to an incompatible broker.",
        E::PolicyViolation => "Request parameters do not satisfy the configured policy.",
        E::OutOfOrderSequenceNumber => "The broker received an out of order sequence number.",
        E::DuplicateSequenceNumber => "The broker received a duplicate sequence number.",
        E::KafkaStorageError => "Disk error when trying to access log file on the disk.",
        E::TopicDeletionDisabled => "Topic deletion is disabled.",
        E::FencedLeaderEpoch => "The leader epoch in the request is older than the epoch on the broker.",
        E::UnknownLeaderEpoch => "The leader epoch in the request is newer than the epoch on the broker.",
        E::UnsupportedCompressionType => "The requesting client does not support the compression type of given partition.",
        E::UnknownTopicId => "This server does not host this topic ID.",
        E::InconsistentTopicId => "The log's topic ID did not match the topic ID in the request.",
        _ => "The broker returned this error.",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_kafkas() {
        let e = KafkaError::from_code(6, None).unwrap();
        assert_eq!(e.name(), "NOT_LEADER_OR_FOLLOWER");
        let e = KafkaError::from_code(17, None).unwrap();
        assert_eq!(e.name(), "INVALID_TOPIC_EXCEPTION");
        let e = KafkaError::from_code(56, None).unwrap();
        assert_eq!(e.name(), "KAFKA_STORAGE_ERROR");
        let e = KafkaError::from_code(9999, None).unwrap();
        assert_eq!(e.name(), "UNKNOWN_ERROR_CODE_9999");
        assert!(KafkaError::from_code(0, Some("x")).is_none());
    }

    #[test]
    fn display_is_name_colon_sentence() {
        let e = KafkaError::from_code(36, Some("Topic 'a' already exists.")).unwrap();
        assert_eq!(
            e.to_string(),
            "TOPIC_ALREADY_EXISTS: Topic 'a' already exists."
        );
        let e = KafkaError::from_code(3, Some("")).unwrap();
        assert_eq!(
            ClientError::from(e).to_string(),
            "UNKNOWN_TOPIC_OR_PARTITION: This server does not host this topic-partition."
        );
    }

    #[test]
    fn metadata_invalidation_matches_kafka() {
        for code in [3, 5, 6] {
            assert!(KafkaError::from_code(code, None)
                .unwrap()
                .invalidates_metadata());
        }
        assert!(!KafkaError::from_code(36, None)
            .unwrap()
            .invalidates_metadata());
    }
}
