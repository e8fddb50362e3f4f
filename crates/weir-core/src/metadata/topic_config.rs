//! The topic-level configuration keys Kafka 4.0 knows, with their types,
//! defaults, broker-wide synonyms and validators (Kafka's `LogConfig`
//! `ConfigDef` and `ServerTopicConfigSynonyms`).
//!
//! The controller validates CreateTopics and IncrementalAlterConfigs
//! against this table (an unknown key or a bad value is INVALID_CONFIG),
//! and DescribeConfigs can list defaults and synonyms from it. Kafka 4.0
//! dropped `message.format.version`, `message.downconversion.enable` and
//! `message.timestamp.difference.max.ms`; KIP-1030 raised the minimum of
//! `segment.bytes` to 1 MiB and lowered the default of
//! `message.timestamp.after.max.ms` to one hour.

/// Kafka's `ConfigDef.Type` of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigType {
    /// 32-bit integer.
    Int,
    /// 64-bit integer.
    Long,
    /// Floating point.
    Double,
    /// `true` or `false`, any case.
    Boolean,
    /// Free text (possibly from a fixed set).
    String,
    /// Comma-separated list.
    List,
}

impl ConfigType {
    /// Kafka's upper-case type name, as in its error messages and in
    /// DescribeConfigs `config_type`.
    pub fn name(self) -> &'static str {
        match self {
            ConfigType::Int => "INT",
            ConfigType::Long => "LONG",
            ConfigType::Double => "DOUBLE",
            ConfigType::Boolean => "BOOLEAN",
            ConfigType::String => "STRING",
            ConfigType::List => "LIST",
        }
    }
}

/// Kafka's `ConfigDef.Validator` of a key.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Check {
    Any,
    AtLeast(i64),
    Between(i64, i64),
    Fraction,
    OneOf(&'static [&'static str]),
    GzipLevel,
    ThrottledReplicas,
}

/// One topic-level configuration key.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TopicConfigDef {
    /// The key.
    pub name: &'static str,
    /// Its type.
    pub config_type: ConfigType,
    /// Kafka's default when neither the topic nor the broker sets it.
    pub default: &'static str,
    /// The `server.properties` key whose value is the default for every
    /// topic (Kafka's synonym, source `DEFAULT_CONFIG`/`STATIC_BROKER_CONFIG`).
    pub broker_synonym: Option<&'static str>,
    check: Check,
}

const fn def(
    name: &'static str,
    config_type: ConfigType,
    default: &'static str,
    broker_synonym: Option<&'static str>,
    check: Check,
) -> TopicConfigDef {
    TopicConfigDef {
        name,
        config_type,
        default,
        broker_synonym,
        check,
    }
}

const MAX_LONG: &str = "9223372036854775807";
const COMPRESSION_TYPES: &[&str] = &["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"];
const CLEANUP_POLICIES: &[&str] = &["compact", "delete"];
const TIMESTAMP_TYPES: &[&str] = &["CreateTime", "LogAppendTime"];

use Check::*;

const INT: ConfigType = ConfigType::Int;
const LONG: ConfigType = ConfigType::Long;
const DOUBLE: ConfigType = ConfigType::Double;
const BOOLEAN: ConfigType = ConfigType::Boolean;
const STRING: ConfigType = ConfigType::String;
const LIST: ConfigType = ConfigType::List;

/// Every topic-level key, sorted by name.
pub const TOPIC_CONFIGS: &[TopicConfigDef] = &[
    def(
        "cleanup.policy",
        LIST,
        "delete",
        Some("log.cleanup.policy"),
        OneOf(CLEANUP_POLICIES),
    ),
    def(
        "compression.gzip.level",
        INT,
        "-1",
        Some("compression.gzip.level"),
        GzipLevel,
    ),
    def(
        "compression.lz4.level",
        INT,
        "9",
        Some("compression.lz4.level"),
        Between(1, 17),
    ),
    def(
        "compression.type",
        STRING,
        "producer",
        Some("compression.type"),
        OneOf(COMPRESSION_TYPES),
    ),
    def(
        "compression.zstd.level",
        INT,
        "3",
        Some("compression.zstd.level"),
        Between(-131072, 22),
    ),
    def(
        "delete.retention.ms",
        LONG,
        "86400000",
        Some("log.cleaner.delete.retention.ms"),
        AtLeast(0),
    ),
    def(
        "file.delete.delay.ms",
        LONG,
        "60000",
        Some("log.segment.delete.delay.ms"),
        AtLeast(0),
    ),
    def(
        "flush.messages",
        LONG,
        MAX_LONG,
        Some("log.flush.interval.messages"),
        AtLeast(1),
    ),
    def(
        "flush.ms",
        LONG,
        MAX_LONG,
        Some("log.flush.interval.ms"),
        AtLeast(0),
    ),
    def(
        "follower.replication.throttled.replicas",
        LIST,
        "",
        None,
        ThrottledReplicas,
    ),
    def(
        "index.interval.bytes",
        INT,
        "4096",
        Some("log.index.interval.bytes"),
        AtLeast(0),
    ),
    def(
        "leader.replication.throttled.replicas",
        LIST,
        "",
        None,
        ThrottledReplicas,
    ),
    def(
        "local.retention.bytes",
        LONG,
        "-2",
        Some("log.local.retention.bytes"),
        AtLeast(-2),
    ),
    def(
        "local.retention.ms",
        LONG,
        "-2",
        Some("log.local.retention.ms"),
        AtLeast(-2),
    ),
    def(
        "max.compaction.lag.ms",
        LONG,
        MAX_LONG,
        Some("log.cleaner.max.compaction.lag.ms"),
        AtLeast(1),
    ),
    def(
        "max.message.bytes",
        INT,
        "1048588",
        Some("message.max.bytes"),
        AtLeast(0),
    ),
    def(
        "message.timestamp.after.max.ms",
        LONG,
        "3600000",
        Some("log.message.timestamp.after.max.ms"),
        AtLeast(0),
    ),
    def(
        "message.timestamp.before.max.ms",
        LONG,
        MAX_LONG,
        Some("log.message.timestamp.before.max.ms"),
        AtLeast(0),
    ),
    def(
        "message.timestamp.type",
        STRING,
        "CreateTime",
        Some("log.message.timestamp.type"),
        OneOf(TIMESTAMP_TYPES),
    ),
    def(
        "min.cleanable.dirty.ratio",
        DOUBLE,
        "0.5",
        Some("log.cleaner.min.cleanable.ratio"),
        Fraction,
    ),
    def(
        "min.compaction.lag.ms",
        LONG,
        "0",
        Some("log.cleaner.min.compaction.lag.ms"),
        AtLeast(0),
    ),
    def(
        "min.insync.replicas",
        INT,
        "1",
        Some("min.insync.replicas"),
        AtLeast(1),
    ),
    def(
        "preallocate",
        BOOLEAN,
        "false",
        Some("log.preallocate"),
        Any,
    ),
    def("remote.log.copy.disable", BOOLEAN, "false", None, Any),
    def("remote.log.delete.on.disable", BOOLEAN, "false", None, Any),
    def("remote.storage.enable", BOOLEAN, "false", None, Any),
    def(
        "retention.bytes",
        LONG,
        "-1",
        Some("log.retention.bytes"),
        Any,
    ),
    def(
        "retention.ms",
        LONG,
        "604800000",
        Some("log.retention.ms"),
        AtLeast(-1),
    ),
    def(
        "segment.bytes",
        INT,
        "1073741824",
        Some("log.segment.bytes"),
        AtLeast(1048576),
    ),
    def(
        "segment.index.bytes",
        INT,
        "10485760",
        Some("log.index.size.max.bytes"),
        AtLeast(4),
    ),
    def(
        "segment.jitter.ms",
        LONG,
        "0",
        Some("log.roll.jitter.ms"),
        AtLeast(0),
    ),
    def(
        "segment.ms",
        LONG,
        "604800000",
        Some("log.roll.ms"),
        AtLeast(1),
    ),
    def(
        "unclean.leader.election.enable",
        BOOLEAN,
        "false",
        Some("unclean.leader.election.enable"),
        Any,
    ),
];

/// The definition of a topic-level key.
pub fn topic_config(name: &str) -> Option<&'static TopicConfigDef> {
    TOPIC_CONFIGS.iter().find(|d| d.name == name)
}

/// Check one topic-level key and value, with Kafka's messages
/// (`LogConfig.validateNames`, `ConfigDef.parseType`, the validators).
pub fn validate_topic_config(name: &str, value: &str) -> Result<(), String> {
    let def = topic_config(name).ok_or_else(|| format!("Unknown topic config name: {name}"))?;
    def.validate(value)
        .map_err(|why| format!("Invalid value {value} for configuration {name}: {why}"))
}

/// Split a LIST value as Kafka's `ConfigDef.parseType` does: trimmed,
/// comma-separated, empty when blank.
pub fn split_list(value: &str) -> Vec<&str> {
    let value = value.trim();
    if value.is_empty() {
        return Vec::new();
    }
    value.split(',').map(str::trim).collect()
}

impl TopicConfigDef {
    fn validate(&self, value: &str) -> Result<(), String> {
        let trimmed = value.trim();
        match self.config_type {
            ConfigType::Int => check_number(self.check, parse_int::<i32>(trimmed, "INT")?.into()),
            ConfigType::Long => check_number(self.check, parse_int::<i64>(trimmed, "LONG")?),
            ConfigType::Double => check_fraction(self.check, trimmed),
            ConfigType::Boolean => parse_bool(trimmed).map(|_| ()),
            ConfigType::String => check_one_of(self.check, trimmed),
            ConfigType::List => check_list(self.check, value),
        }
    }
}

fn parse_int<T: std::str::FromStr>(value: &str, type_name: &str) -> Result<T, String> {
    value
        .parse::<T>()
        .map_err(|_| format!("Not a number of type {type_name}"))
}

fn parse_bool(value: &str) -> Result<bool, String> {
    match value.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err("Expected value to be either true or false".into()),
    }
}

fn check_number(check: Check, n: i64) -> Result<(), String> {
    match check {
        AtLeast(min) if n < min => Err(format!("Value must be at least {min}")),
        Between(min, _) if n < min => Err(format!("Value must be at least {min}")),
        Between(_, max) if n > max => Err(format!("Value must be no more than {max}")),
        GzipLevel if n != -1 && !(1..=9).contains(&n) => {
            Err("Value must be between 1 and 9 or equal to -1".into())
        }
        _ => Ok(()),
    }
}

fn check_fraction(check: Check, value: &str) -> Result<(), String> {
    let x: f64 = value
        .parse()
        .map_err(|_| "Not a number of type DOUBLE".to_string())?;
    match check {
        Fraction if x.is_nan() || x < 0.0 => Err("Value must be at least 0".into()),
        Fraction if x > 1.0 => Err("Value must be no more than 1".into()),
        _ => Ok(()),
    }
}

fn check_one_of(check: Check, value: &str) -> Result<(), String> {
    match check {
        OneOf(allowed) if !allowed.contains(&value) => {
            Err(format!("String must be one of: {}", allowed.join(", ")))
        }
        _ => Ok(()),
    }
}

fn check_list(check: Check, value: &str) -> Result<(), String> {
    let items = split_list(value);
    match check {
        OneOf(_) => items.iter().try_for_each(|item| check_one_of(check, item)),
        ThrottledReplicas if !throttled_replicas_ok(&items) => Err(
            "must be the literal '*' or a list of replicas in the following format: \
             [partitionId]:[brokerId],[partitionId]:[brokerId],..."
                .into(),
        ),
        _ => Ok(()),
    }
}

/// Kafka's `ThrottledReplicaListValidator`: `*`, or `partition:broker` pairs.
fn throttled_replicas_ok(items: &[&str]) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let pair = |s: &&str| {
        s.split_once(':')
            .is_some_and(|(p, b)| digits(p) && digits(b))
    };
    items == ["*"] || items.iter().all(pair)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_every_default_is_valid() {
        let names: Vec<&str> = TOPIC_CONFIGS.iter().map(|d| d.name).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted);
        for d in TOPIC_CONFIGS {
            assert_eq!(
                validate_topic_config(d.name, d.default),
                Ok(()),
                "{}",
                d.name
            );
        }
    }

    #[test]
    fn kafka_messages_for_bad_values() {
        let err = |k: &str, v: &str| validate_topic_config(k, v).unwrap_err();
        assert_eq!(
            err("retention.mss", "1"),
            "Unknown topic config name: retention.mss"
        );
        assert_eq!(
            err("retention.ms", "abc"),
            "Invalid value abc for configuration retention.ms: Not a number of type LONG"
        );
        assert_eq!(
            err("retention.ms", "-2"),
            "Invalid value -2 for configuration retention.ms: Value must be at least -1"
        );
        assert_eq!(
            err("segment.bytes", "3000000000"),
            "Invalid value 3000000000 for configuration segment.bytes: Not a number of type INT"
        );
        assert_eq!(
            err("segment.bytes", "1024"),
            "Invalid value 1024 for configuration segment.bytes: Value must be at least 1048576"
        );
        assert_eq!(
            err("compression.type", "brotli"),
            "Invalid value brotli for configuration compression.type: \
             String must be one of: uncompressed, zstd, lz4, snappy, gzip, producer"
        );
        assert_eq!(
            err("cleanup.policy", "compact,tidy"),
            "Invalid value compact,tidy for configuration cleanup.policy: String must be one of: compact, delete"
        );
        assert_eq!(
            err("preallocate", "yes"),
            "Invalid value yes for configuration preallocate: Expected value to be either true or false"
        );
        assert_eq!(
            err("min.cleanable.dirty.ratio", "1.5"),
            "Invalid value 1.5 for configuration min.cleanable.dirty.ratio: Value must be no more than 1"
        );
        assert_eq!(
            err("compression.gzip.level", "0"),
            "Invalid value 0 for configuration compression.gzip.level: Value must be between 1 and 9 or equal to -1"
        );
        assert!(
            err("leader.replication.throttled.replicas", "0:x").contains("must be the literal '*'")
        );
    }

    #[test]
    fn good_values_pass() {
        for (k, v) in [
            ("retention.ms", " 1000 "),
            ("retention.bytes", "-5"),
            ("cleanup.policy", "compact, delete"),
            ("cleanup.policy", ""),
            ("preallocate", "TRUE"),
            ("leader.replication.throttled.replicas", "*"),
            ("follower.replication.throttled.replicas", "0:1,1:2"),
            ("min.cleanable.dirty.ratio", "0"),
            ("compression.zstd.level", "-7"),
        ] {
            assert_eq!(validate_topic_config(k, v), Ok(()), "{k}={v}");
        }
    }
}
