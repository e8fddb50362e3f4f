//! The broker's effective settings as DescribeConfigs reports them: one
//! [`BrokerSetting`] per `server.properties` key that [`BrokerConfig`]
//! models, with Kafka's key name and type, the value in force, Kafka's
//! default and whether the value came from the file.
//!
//! `BrokerConfig` does not remember which keys the file named, so "from
//! the file" is inferred: a value that differs from the default is taken
//! as set in `server.properties`. A key set to its default value is
//! therefore reported as a default, which Kafka would call
//! STATIC_BROKER_CONFIG. Identity and network keys (node id, roles,
//! listeners, quorum, log dirs) have no Kafka default worth reporting and
//! count as set whenever they have a value, as a KRaft file names them.
//!
//! Time settings Kafka accepts in several units (`log.roll.ms`/`.hours`,
//! `log.retention.ms`/`.minutes`/`.hours`) are reported once, in
//! milliseconds, under the `.ms` key, which has no default in Kafka.

use super::{defaults, BrokerConfig};

/// Kafka's `ConfigDef.Type` of a broker key (DescribeConfigs `config_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettingType {
    /// `true`/`false`.
    Boolean,
    /// Free text.
    String,
    /// 32-bit integer.
    Int,
    /// 16-bit integer.
    Short,
    /// 64-bit integer.
    Long,
    /// Comma-separated list.
    List,
}

/// One broker key as DescribeConfigs reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerSetting {
    /// The `server.properties` key.
    pub name: &'static str,
    /// Kafka's type of the key.
    pub setting_type: SettingType,
    /// The value in force; `None` for an unset key without a default
    /// (`broker.rack`, `log.flush.interval.ms`).
    pub value: Option<String>,
    /// Kafka's default (its `staticDefaultConfigs`), `None` when the key
    /// has none.
    pub default: Option<String>,
    /// Taken as set in `server.properties` (see the module docs).
    pub from_file: bool,
}

/// Kafka's `Long.MAX_VALUE`, the "never" of flush settings.
const NEVER: i64 = i64::MAX;

impl BrokerConfig {
    /// Every key this config models, in a stable order (identity and
    /// network first, then log, replication and server settings).
    pub fn describe_settings(&self) -> Vec<BrokerSetting> {
        let base = defaults();
        let mut settings = identity_settings(self);
        settings.extend(log_settings(self, &base));
        settings.extend(replication_settings(self, &base));
        settings.extend(server_settings(self, &base));
        settings
    }
}

/// A key whose value counts as from the file when it differs from
/// `default`.
fn tunable(
    name: &'static str,
    setting_type: SettingType,
    value: impl ToString,
    default: impl ToString,
) -> BrokerSetting {
    let (value, default) = (value.to_string(), default.to_string());
    BrokerSetting {
        name,
        setting_type,
        from_file: value != default,
        value: Some(value),
        default: Some(default),
    }
}

/// A key without a Kafka default; from the file when it differs from what
/// Weir uses when it is unset.
fn no_default(
    name: &'static str,
    setting_type: SettingType,
    value: Option<String>,
    when_unset: Option<String>,
) -> BrokerSetting {
    BrokerSetting {
        name,
        setting_type,
        from_file: value != when_unset,
        value,
        default: None,
    }
}

/// An identity or network key: from the file whenever it has a value.
fn identity(name: &'static str, setting_type: SettingType, value: String) -> BrokerSetting {
    BrokerSetting {
        name,
        setting_type,
        from_file: !value.is_empty(),
        value: Some(value),
        default: None,
    }
}

fn join<T: ToString>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

fn identity_settings(c: &BrokerConfig) -> Vec<BrokerSetting> {
    use SettingType::{Int, List, String as Str};
    let mut roles = Vec::new();
    if c.process_roles.broker {
        roles.push("broker");
    }
    if c.process_roles.controller {
        roles.push("controller");
    }
    let protocol_map: Vec<String> = c
        .listener_security_protocol_map
        .iter()
        .map(|(name, protocol)| format!("{name}:{}", protocol.name()))
        .collect();
    let dirs: Vec<String> = c.log_dirs.iter().map(|d| d.display().to_string()).collect();
    vec![
        identity("node.id", Int, c.node_id.to_string()),
        identity("process.roles", List, roles.join(",")),
        identity("listeners", Str, join(&c.listeners)),
        identity("advertised.listeners", Str, join(&c.advertised_listeners)),
        identity(
            "controller.listener.names",
            Str,
            join(&c.controller_listener_names),
        ),
        identity(
            "listener.security.protocol.map",
            Str,
            protocol_map.join(","),
        ),
        identity(
            "inter.broker.listener.name",
            Str,
            c.inter_broker_listener_name.clone(),
        ),
        identity(
            "controller.quorum.voters",
            List,
            join(&c.controller_quorum_voters),
        ),
        identity(
            "controller.quorum.bootstrap.servers",
            List,
            join(&c.controller_quorum_bootstrap_servers),
        ),
        identity("log.dirs", Str, dirs.join(",")),
        identity(
            "metadata.log.dir",
            Str,
            c.metadata_log_dir.display().to_string(),
        ),
    ]
}

fn log_settings(c: &BrokerConfig, d: &BrokerConfig) -> Vec<BrokerSetting> {
    use SettingType::{Int, Long};
    let flush_messages = |v: Option<u64>| v.map_or(NEVER, |n| i64::try_from(n).unwrap_or(NEVER));
    vec![
        tunable(
            "message.max.bytes",
            Int,
            c.message_max_bytes,
            d.message_max_bytes,
        ),
        tunable(
            "log.segment.bytes",
            Int,
            c.log_segment_bytes,
            d.log_segment_bytes,
        ),
        no_default(
            "log.roll.ms",
            Long,
            Some(c.log_roll_ms.to_string()),
            Some(d.log_roll_ms.to_string()),
        ),
        no_default(
            "log.retention.ms",
            Long,
            Some(c.log_retention_ms.to_string()),
            Some(d.log_retention_ms.to_string()),
        ),
        tunable(
            "log.retention.bytes",
            Long,
            c.log_retention_bytes,
            d.log_retention_bytes,
        ),
        tunable(
            "log.flush.interval.messages",
            Long,
            flush_messages(c.log_flush_interval_messages),
            flush_messages(d.log_flush_interval_messages),
        ),
        no_default(
            "log.flush.interval.ms",
            Long,
            c.log_flush_interval_ms.map(|ms| ms.to_string()),
            None,
        ),
        tunable(
            "log.index.interval.bytes",
            Int,
            c.log_index_interval_bytes,
            d.log_index_interval_bytes,
        ),
        tunable(
            "log.index.size.max.bytes",
            Int,
            c.log_index_size_max_bytes,
            d.log_index_size_max_bytes,
        ),
    ]
}

fn replication_settings(c: &BrokerConfig, d: &BrokerConfig) -> Vec<BrokerSetting> {
    use SettingType::{Boolean, Int, Long, Short};
    vec![
        tunable("num.partitions", Int, c.num_partitions, d.num_partitions),
        tunable(
            "default.replication.factor",
            Int,
            c.default_replication_factor,
            d.default_replication_factor,
        ),
        tunable(
            "auto.create.topics.enable",
            Boolean,
            c.auto_create_topics_enable,
            d.auto_create_topics_enable,
        ),
        tunable(
            "min.insync.replicas",
            Int,
            c.min_insync_replicas,
            d.min_insync_replicas,
        ),
        tunable(
            "replica.lag.time.max.ms",
            Long,
            c.replica_lag_time_max_ms,
            d.replica_lag_time_max_ms,
        ),
        tunable(
            "unclean.leader.election.enable",
            Boolean,
            c.unclean_leader_election_enable,
            d.unclean_leader_election_enable,
        ),
        tunable(
            "auto.leader.rebalance.enable",
            Boolean,
            c.auto_leader_rebalance_enable,
            d.auto_leader_rebalance_enable,
        ),
        tunable(
            "leader.imbalance.check.interval.seconds",
            Long,
            c.leader_imbalance_check_interval_seconds,
            d.leader_imbalance_check_interval_seconds,
        ),
        tunable(
            "leader.imbalance.per.broker.percentage",
            Int,
            c.leader_imbalance_per_broker_percentage,
            d.leader_imbalance_per_broker_percentage,
        ),
        tunable(
            "offsets.topic.replication.factor",
            Short,
            c.offsets_topic_replication_factor,
            d.offsets_topic_replication_factor,
        ),
        tunable(
            "offsets.topic.num.partitions",
            Int,
            c.offsets_topic_num_partitions,
            d.offsets_topic_num_partitions,
        ),
    ]
}

fn server_settings(c: &BrokerConfig, d: &BrokerConfig) -> Vec<BrokerSetting> {
    use SettingType::{Int, Long, String as Str};
    vec![
        tunable(
            "socket.request.max.bytes",
            Int,
            c.socket_request_max_bytes,
            d.socket_request_max_bytes,
        ),
        tunable("max.connections", Int, c.max_connections, d.max_connections),
        no_default("broker.rack", Str, c.broker_rack.clone(), None),
        tunable(
            "broker.heartbeat.interval.ms",
            Int,
            c.broker_heartbeat_interval_ms,
            d.broker_heartbeat_interval_ms,
        ),
        tunable(
            "broker.session.timeout.ms",
            Int,
            c.broker_session_timeout_ms,
            d.broker_session_timeout_ms,
        ),
        tunable(
            "replica.high.watermark.checkpoint.interval.ms",
            Long,
            c.replica_high_watermark_checkpoint_interval_ms,
            d.replica_high_watermark_checkpoint_interval_ms,
        ),
        tunable(
            "log.retention.check.interval.ms",
            Long,
            c.log_retention_check_interval_ms,
            d.log_retention_check_interval_ms,
        ),
        tunable(
            "log.flush.offset.checkpoint.interval.ms",
            Int,
            c.log_flush_offset_checkpoint_interval_ms,
            d.log_flush_offset_checkpoint_interval_ms,
        ),
        tunable(
            "group.initial.rebalance.delay.ms",
            Int,
            c.group_initial_rebalance_delay_ms,
            d.group_initial_rebalance_delay_ms,
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(text: &str) -> Vec<BrokerSetting> {
        BrokerConfig::parse(text, &[])
            .unwrap()
            .0
            .describe_settings()
    }

    fn find<'a>(settings: &'a [BrokerSetting], name: &str) -> &'a BrokerSetting {
        settings.iter().find(|s| s.name == name).expect(name)
    }

    #[test]
    fn defaults_are_not_from_the_file_and_changed_values_are() {
        let s = settings("node.id=1\nlog.segment.bytes=2097152\nlog.retention.hours=1\n");
        let segment = find(&s, "log.segment.bytes");
        assert_eq!(segment.value.as_deref(), Some("2097152"));
        assert_eq!(segment.default.as_deref(), Some("1073741824"));
        assert!(segment.from_file);
        let retention = find(&s, "log.retention.ms");
        assert_eq!(retention.value.as_deref(), Some("3600000"));
        assert_eq!(retention.default, None);
        assert!(retention.from_file);
        let max = find(&s, "message.max.bytes");
        assert_eq!(max.value.as_deref(), Some("1048588"));
        assert!(!max.from_file);
        assert!(find(&s, "node.id").from_file);
    }

    #[test]
    fn unset_keys_without_default_have_no_value() {
        let s = settings("node.id=1\n");
        for name in ["broker.rack", "log.flush.interval.ms"] {
            let setting = find(&s, name);
            assert_eq!((setting.value.as_deref(), setting.from_file), (None, false));
        }
        let flush = find(&s, "log.flush.interval.messages");
        assert_eq!(flush.value.as_deref(), Some("9223372036854775807"));
        assert!(!find(&s, "controller.quorum.bootstrap.servers").from_file);
    }

    #[test]
    fn names_are_unique() {
        let s = settings("node.id=1\n");
        let mut names: Vec<&str> = s.iter().map(|s| s.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), s.len());
    }
}
