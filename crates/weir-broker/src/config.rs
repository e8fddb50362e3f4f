//! `server.properties` → [`BrokerConfig`], with Kafka's key names, defaults
//! and validation (`KafkaConfig`), so a file written for Kafka 4 in KRaft
//! mode starts Weir unchanged.
//!
//! Rules, in Kafka's words where they exist:
//!
//! - The file is Java properties text ([`parse_properties`]); `--override
//!   key=value` pairs are applied on top, so they win.
//! - A key Weir does not know is a warning (returned, not logged here); a
//!   key of a stock Kafka file that Weir has no use for (thread counts,
//!   socket buffers, transaction-log settings, ...) is accepted silently
//!   (`IGNORED_KEYS`). A bad value is a [`ConfigError`] naming key and value.
//! - `node.id` is required. `process.roles` defaults to `broker,controller`
//!   (a single combined node), so a bare file with `node.id` starts a
//!   one-node cluster; `controller.listener.names` defaults to `CONTROLLER`
//!   and `listeners` to `PLAINTEXT://:9092,CONTROLLER://:9093` for a
//!   controller (`PLAINTEXT://:9092` for a broker-only node).
//! - Quorum: `controller.quorum.voters` (`1@host:9093,...`) is the static
//!   voter set. Kafka 4's `controller.quorum.bootstrap.servers` is accepted
//!   too; with exactly one bootstrap server and no voters, a controller
//!   treats it as its own address and forms a one-voter quorum (what
//!   `kafka-storage.sh format --standalone` would set up). A controller with
//!   neither forms a one-voter quorum on its advertised controller listener.
//!   With several bootstrap servers and no voters, `controller_quorum_voters`
//!   stays empty and the quorum is dynamic (KIP-853).
//! - Only `PLAINTEXT` listeners are served; a listener mapped to SSL or SASL
//!   is an error (an unused SSL entry in the map is fine).
//! - `max.connections`: Kafka's default is unbounded; Weir's is
//!   10000 (every resource has a limit).
//! - Intervals that drive timers must be at least 1 ms (Kafka allows 0 for
//!   some, which would make a busy loop).
//! - `inter.broker.listener.name` defaults to the `PLAINTEXT` listener as
//!   in Kafka, or, when there is none, to the first non-controller listener.

pub mod describe;
mod listeners;
mod properties;

pub use listeners::{HostPort, Listener, QuorumVoter, SecurityProtocol};
pub use properties::{parse_properties, Property};

use listeners::{
    default_protocol_map, listener_name, parse_listeners, parse_protocol_map, parse_servers,
    parse_voters, split_list,
};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Display;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::str::FromStr;
use weir_storage::log::LogConfig;

/// Where logs go when neither `log.dirs` nor `log.dir` is set (the stock
/// Kafka 4 KRaft file's `log.dirs`).
pub const DEFAULT_LOG_DIR: &str = "/tmp/kraft-combined-logs";
/// Weir's `max.connections` default (Kafka's is `Integer.MAX_VALUE`).
pub const DEFAULT_MAX_CONNECTIONS: u32 = 10_000;

const MINUTE_MS: i64 = 60 * 1000;
const HOUR_MS: i64 = 60 * MINUTE_MS;
/// Bad values quoted in errors are cut to this many characters.
const VALUE_CHARS_MAX: usize = 100;

/// Keys of a stock Kafka 4 `server.properties` (and other common ones)
/// that Weir accepts without a warning but does not use.
const IGNORED_KEYS: &[&str] = &[
    "background.threads",
    "compression.type",
    "connections.max.idle.ms",
    "controller.quorum.append.linger.ms",
    "controller.quorum.election.backoff.max.ms",
    "controller.quorum.election.timeout.ms",
    "controller.quorum.fetch.timeout.ms",
    "controller.quorum.request.timeout.ms",
    "controller.quorum.retry.backoff.ms",
    "delete.topic.enable",
    "fetch.purgatory.purge.interval.requests",
    "group.coordinator.rebalance.protocols",
    "group.max.session.timeout.ms",
    "group.max.size",
    "group.min.session.timeout.ms",
    "initial.broker.registration.timeout.ms",
    "log.cleaner.enable",
    "log.cleaner.threads",
    "log.cleanup.policy",
    "log.flush.start.offset.checkpoint.interval.ms",
    "log.message.timestamp.type",
    "log.preallocate",
    "log.roll.jitter.hours",
    "log.roll.jitter.ms",
    "log.segment.delete.delay.ms",
    "max.connections.per.ip",
    "metadata.log.segment.bytes",
    "metadata.log.segment.ms",
    "metadata.max.retention.bytes",
    "metadata.max.retention.ms",
    "num.io.threads",
    "num.network.threads",
    "num.recovery.threads.per.data.dir",
    "num.replica.alter.log.dirs.threads",
    "num.replica.fetchers",
    "offsets.commit.timeout.ms",
    "offsets.retention.check.interval.ms",
    "offsets.retention.minutes",
    "offsets.topic.segment.bytes",
    "producer.purgatory.purge.interval.requests",
    "queued.max.requests",
    "replica.fetch.min.bytes",
    "replica.socket.receive.buffer.bytes",
    "request.timeout.ms",
    "security.inter.broker.protocol",
    "share.coordinator.state.topic.min.isr",
    "share.coordinator.state.topic.num.partitions",
    "share.coordinator.state.topic.replication.factor",
    "share.coordinator.state.topic.segment.bytes",
    "socket.listen.backlog.size",
    "socket.receive.buffer.bytes",
    "socket.send.buffer.bytes",
    "transaction.abort.timed.out.transaction.cleanup.interval.ms",
    "transaction.max.timeout.ms",
    "transaction.partition.verification.enable",
    "transaction.remove.expired.transaction.cleanup.interval.ms",
    "transaction.state.log.load.buffer.size",
    "transaction.state.log.min.isr",
    "transaction.state.log.num.partitions",
    "transaction.state.log.replication.factor",
    "transaction.state.log.segment.bytes",
    "transactional.id.expiration.ms",
];

/// A `server.properties` that Weir cannot start with. Every message is one
/// line naming the key (and value).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A value cannot be used (unparsable, out of range, or inconsistent
    /// with another key).
    #[error("invalid value {value:?} for {key}: {reason}")]
    InvalidValue {
        /// The Kafka key.
        key: String,
        /// The value given (cut short if long).
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A required key is missing.
    #[error("missing required configuration {key}: {reason}")]
    Missing {
        /// The Kafka key.
        key: String,
        /// Why it is needed.
        reason: String,
    },
    /// The text is not valid Java properties syntax.
    #[error("line {line}: {reason}")]
    Syntax {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
}

/// A value error for `key`.
fn invalid(key: &str, value: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::InvalidValue {
        key: key.to_string(),
        value: value.chars().take(VALUE_CHARS_MAX).collect(),
        reason: reason.into(),
    }
}

/// `process.roles`: what this node runs (KIP-500).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessRoles {
    /// Serves clients and hosts partitions.
    pub broker: bool,
    /// Is a voter of the metadata quorum.
    pub controller: bool,
}

/// A broker's settings from `server.properties`, with Kafka's names (dots
/// become underscores) and defaults. Built only by [`BrokerConfig::parse`],
/// so every value has passed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerConfig {
    /// `node.id`: this node's id in the cluster (>= 0).
    pub node_id: i32,
    /// `process.roles`.
    pub process_roles: ProcessRoles,
    /// `listeners`: sockets to bind, in file order.
    pub listeners: Vec<Listener>,
    /// `advertised.listeners`, completed: one per listener, in the order of
    /// `listeners`; a listener not advertised explicitly is advertised as is.
    pub advertised_listeners: Vec<Listener>,
    /// `controller.listener.names` (upper case).
    pub controller_listener_names: Vec<String>,
    /// `listener.security.protocol.map`, effective (controller listeners
    /// default to PLAINTEXT when the map is not set, as in Kafka).
    pub listener_security_protocol_map: BTreeMap<String, SecurityProtocol>,
    /// `inter.broker.listener.name`.
    pub inter_broker_listener_name: String,
    /// `controller.quorum.voters`, effective (see the module docs).
    pub controller_quorum_voters: Vec<QuorumVoter>,
    /// `controller.quorum.bootstrap.servers`.
    pub controller_quorum_bootstrap_servers: Vec<HostPort>,
    /// `log.dirs` (or `log.dir`): at least one, no duplicates.
    pub log_dirs: Vec<PathBuf>,
    /// `metadata.log.dir`, defaulting to the first log dir as in Kafka.
    pub metadata_log_dir: PathBuf,
    /// `num.partitions`: partitions of an auto-created topic.
    pub num_partitions: i32,
    /// `default.replication.factor` of auto-created topics.
    pub default_replication_factor: i16,
    /// `auto.create.topics.enable`.
    pub auto_create_topics_enable: bool,
    /// `message.max.bytes`: largest record batch a producer may send.
    pub message_max_bytes: u32,
    /// `socket.request.max.bytes`: largest request frame.
    pub socket_request_max_bytes: u32,
    /// `log.segment.bytes`.
    pub log_segment_bytes: u32,
    /// `log.roll.ms`, else `log.roll.hours`.
    pub log_roll_ms: i64,
    /// `log.retention.ms`, else `.minutes`, else `.hours`; −1 is forever.
    pub log_retention_ms: i64,
    /// `log.retention.bytes`; −1 is no limit.
    pub log_retention_bytes: i64,
    /// `log.flush.interval.messages`; `None` for Kafka's `Long.MAX_VALUE`.
    pub log_flush_interval_messages: Option<u64>,
    /// `log.flush.interval.ms`, else `log.flush.scheduler.interval.ms`;
    /// `None` for never.
    pub log_flush_interval_ms: Option<i64>,
    /// `log.index.interval.bytes`.
    pub log_index_interval_bytes: u32,
    /// `log.index.size.max.bytes`.
    pub log_index_size_max_bytes: u32,
    /// `min.insync.replicas`.
    pub min_insync_replicas: i32,
    /// `replica.lag.time.max.ms`: a follower this far behind leaves the ISR.
    pub replica_lag_time_max_ms: i64,
    /// `replica.fetch.wait.max.ms`: a follower's long poll.
    pub replica_fetch_wait_max_ms: i32,
    /// `replica.fetch.max.bytes`: per partition in a follower's fetch.
    pub replica_fetch_max_bytes: i32,
    /// `replica.fetch.response.max.bytes`: a follower's whole fetch.
    pub replica_fetch_response_max_bytes: i32,
    /// `replica.fetch.backoff.ms`: pause after a failed fetch.
    pub replica_fetch_backoff_ms: i64,
    /// `replica.socket.timeout.ms`: a follower's fetch request timeout.
    pub replica_socket_timeout_ms: i64,
    /// `unclean.leader.election.enable`.
    pub unclean_leader_election_enable: bool,
    /// `controlled.shutdown.enable`: move leaderships away before stopping.
    pub controlled_shutdown_enable: bool,
    /// `eligible.leader.replicas.enable` (KIP-966; Weir's default: on).
    pub eligible_leader_replicas_enable: bool,
    /// `auto.leader.rebalance.enable`.
    pub auto_leader_rebalance_enable: bool,
    /// `leader.imbalance.check.interval.seconds`.
    pub leader_imbalance_check_interval_seconds: i64,
    /// `leader.imbalance.per.broker.percentage` (0..=100).
    pub leader_imbalance_per_broker_percentage: i32,
    /// `broker.rack`; `None` when unset or empty.
    pub broker_rack: Option<String>,
    /// `broker.heartbeat.interval.ms`.
    pub broker_heartbeat_interval_ms: i64,
    /// `broker.session.timeout.ms`. Invariant: > heartbeat interval.
    pub broker_session_timeout_ms: i64,
    /// `replica.high.watermark.checkpoint.interval.ms`.
    pub replica_high_watermark_checkpoint_interval_ms: i64,
    /// `log.retention.check.interval.ms`.
    pub log_retention_check_interval_ms: i64,
    /// `log.flush.offset.checkpoint.interval.ms` (recovery points).
    pub log_flush_offset_checkpoint_interval_ms: i64,
    /// `max.connections` (Weir default 10000).
    pub max_connections: u32,
    /// `offsets.topic.replication.factor`.
    pub offsets_topic_replication_factor: i16,
    /// `offsets.topic.num.partitions`.
    pub offsets_topic_num_partitions: i32,
    /// `group.initial.rebalance.delay.ms`.
    pub group_initial_rebalance_delay_ms: i64,
}

impl BrokerConfig {
    /// Parse `server.properties` text with `--override` pairs on top.
    /// Returns the config and one warning per unknown key.
    pub fn parse(
        properties_text: &str,
        overrides: &[(String, String)],
    ) -> Result<(BrokerConfig, Vec<String>), ConfigError> {
        let mut props = Props::new(properties_text, overrides)?;
        let config = BrokerConfig::from_props(&mut props)?;
        config.validate()?;
        Ok((config, props.warnings()))
    }

    /// The topic defaults these settings give (Kafka's broker → topic
    /// config synonyms: `log.segment.bytes` → `segment.bytes`, ...).
    pub fn log_config(&self) -> LogConfig {
        LogConfig {
            segment_bytes: self.log_segment_bytes,
            segment_ms: self.log_roll_ms,
            segment_index_bytes: self.log_index_size_max_bytes,
            index_interval_bytes: self.log_index_interval_bytes,
            retention_ms: self.log_retention_ms,
            retention_bytes: self.log_retention_bytes,
            flush_messages: self.log_flush_interval_messages,
            flush_ms: self.log_flush_interval_ms,
            max_message_bytes: self.message_max_bytes,
            cleanup_delete: true,
        }
    }

    /// Is `name` one of `controller.listener.names`?
    pub fn is_controller_listener(&self, name: &str) -> bool {
        self.controller_listener_names.iter().any(|n| n == name)
    }

    /// The listener clients use: the first that is not a controller
    /// listener. Always `Some` for a node with the broker role.
    pub fn client_listener(&self) -> Option<&Listener> {
        self.listeners
            .iter()
            .find(|l| !self.is_controller_listener(&l.name))
    }

    /// How the client listener is advertised (Metadata responses).
    pub fn advertised_client_listener(&self) -> Option<&Listener> {
        self.advertised_listener(&self.client_listener()?.name)
    }

    /// The listener the controller quorum uses: the first listener named in
    /// `controller.listener.names`. Always `Some` for a controller.
    pub fn controller_listener(&self) -> Option<&Listener> {
        let name = self
            .controller_listener_names
            .iter()
            .find(|n| self.listeners.iter().any(|l| &l.name == *n))?;
        self.listeners.iter().find(|l| &l.name == name)
    }

    /// The advertised form of the listener called `name`.
    pub fn advertised_listener(&self, name: &str) -> Option<&Listener> {
        self.advertised_listeners.iter().find(|l| l.name == name)
    }

    fn from_props(p: &mut Props) -> Result<BrokerConfig, ConfigError> {
        let node_id = node_id(p)?;
        let process_roles = process_roles(p)?;
        let net = Network::from_props(p, process_roles)?;
        let (voters, bootstrap) = quorum(p, node_id, process_roles, &net)?;
        let (log_dirs, metadata_log_dir) = log_dirs(p)?;
        let mut config = BrokerConfig {
            node_id,
            process_roles,
            listeners: net.listeners,
            advertised_listeners: net.advertised,
            controller_listener_names: net.controller_names,
            listener_security_protocol_map: net.protocol_map,
            inter_broker_listener_name: net.inter_broker,
            controller_quorum_voters: voters,
            controller_quorum_bootstrap_servers: bootstrap,
            log_dirs,
            metadata_log_dir,
            ..defaults()
        };
        config.read_log_settings(p)?;
        config.read_replication_settings(p)?;
        config.read_server_settings(p)?;
        Ok(config)
    }

    /// Topic-default log settings (the `log.*` keys, `message.max.bytes`).
    fn read_log_settings(&mut self, p: &mut Props) -> Result<(), ConfigError> {
        const INT: RangeInclusive<i32> = 0..=i32::MAX;
        self.message_max_bytes = p.num("message.max.bytes", 1_048_588, INT)? as u32;
        self.log_segment_bytes = p.num("log.segment.bytes", 1 << 30, 14..=i32::MAX)? as u32;
        self.log_roll_ms = roll_ms(p)?;
        self.log_retention_ms = retention_ms(p)?;
        self.log_retention_bytes = p.num("log.retention.bytes", -1, i64::MIN..=i64::MAX)?;
        let flush_messages = p.num("log.flush.interval.messages", i64::MAX, 1..=i64::MAX)?;
        self.log_flush_interval_messages =
            (flush_messages != i64::MAX).then_some(flush_messages as u64);
        self.log_flush_interval_ms = flush_ms(p)?;
        self.log_index_interval_bytes = p.num("log.index.interval.bytes", 4096, INT)? as u32;
        self.log_index_size_max_bytes =
            p.num("log.index.size.max.bytes", 10 << 20, 4..=i32::MAX)? as u32;
        Ok(())
    }

    /// Topic creation, ISR and leadership settings.
    fn read_replication_settings(&mut self, p: &mut Props) -> Result<(), ConfigError> {
        const POSITIVE: RangeInclusive<i64> = 1..=i64::MAX;
        self.num_partitions = p.num("num.partitions", 1, 1..=i32::MAX)?;
        self.default_replication_factor = p.num("default.replication.factor", 1, 1..=i16::MAX)?;
        self.auto_create_topics_enable = p.bool("auto.create.topics.enable", true)?;
        self.min_insync_replicas = p.num("min.insync.replicas", 1, 1..=i32::MAX)?;
        self.replica_lag_time_max_ms = p.num("replica.lag.time.max.ms", 30_000, POSITIVE)?;
        self.replica_fetch_wait_max_ms = p.num("replica.fetch.wait.max.ms", 500, 0..=i32::MAX)?;
        self.replica_fetch_max_bytes = p.num("replica.fetch.max.bytes", 1 << 20, 1..=i32::MAX)?;
        self.replica_fetch_response_max_bytes =
            p.num("replica.fetch.response.max.bytes", 10 << 20, 1..=i32::MAX)?;
        self.replica_fetch_backoff_ms = p.num("replica.fetch.backoff.ms", 1000, 0..=i64::MAX)?;
        self.replica_socket_timeout_ms = p.num("replica.socket.timeout.ms", 30_000, POSITIVE)?;
        if i64::from(self.replica_fetch_wait_max_ms) >= self.replica_socket_timeout_ms {
            return Err(invalid(
                "replica.fetch.wait.max.ms",
                &self.replica_fetch_wait_max_ms.to_string(),
                "must be less than replica.socket.timeout.ms",
            ));
        }
        self.unclean_leader_election_enable = p.bool("unclean.leader.election.enable", false)?;
        self.controlled_shutdown_enable = p.bool("controlled.shutdown.enable", true)?;
        self.eligible_leader_replicas_enable = p.bool("eligible.leader.replicas.enable", true)?;
        self.auto_leader_rebalance_enable = p.bool("auto.leader.rebalance.enable", true)?;
        self.leader_imbalance_check_interval_seconds =
            p.num("leader.imbalance.check.interval.seconds", 300, POSITIVE)?;
        self.leader_imbalance_per_broker_percentage =
            p.num("leader.imbalance.per.broker.percentage", 10, 0..=100)?;
        self.offsets_topic_replication_factor =
            p.num("offsets.topic.replication.factor", 3, 1..=i16::MAX)?;
        self.offsets_topic_num_partitions =
            p.num("offsets.topic.num.partitions", 50, 1..=i32::MAX)?;
        Ok(())
    }

    /// Connection limits, timers and membership settings.
    fn read_server_settings(&mut self, p: &mut Props) -> Result<(), ConfigError> {
        const MS: RangeInclusive<i64> = 1..=i64::MAX;
        const INT_MS: RangeInclusive<i64> = 1..=i32::MAX as i64;
        self.socket_request_max_bytes =
            p.num("socket.request.max.bytes", 104_857_600, 1..=i32::MAX)? as u32;
        self.max_connections = p.num(
            "max.connections",
            DEFAULT_MAX_CONNECTIONS as i32,
            1..=i32::MAX,
        )? as u32;
        self.broker_rack = p.get("broker.rack").filter(|r| !r.is_empty());
        self.broker_heartbeat_interval_ms = p.num("broker.heartbeat.interval.ms", 2000, INT_MS)?;
        self.broker_session_timeout_ms = p.num("broker.session.timeout.ms", 9000, INT_MS)?;
        self.replica_high_watermark_checkpoint_interval_ms =
            p.num("replica.high.watermark.checkpoint.interval.ms", 5000, MS)?;
        self.log_retention_check_interval_ms =
            p.num("log.retention.check.interval.ms", 300_000, MS)?;
        self.log_flush_offset_checkpoint_interval_ms =
            p.num("log.flush.offset.checkpoint.interval.ms", 60_000, INT_MS)?;
        self.group_initial_rebalance_delay_ms = p.num(
            "group.initial.rebalance.delay.ms",
            3000,
            0..=i32::MAX as i64,
        )?;
        Ok(())
    }

    /// Checks across keys, as `KafkaConfig.validateValues` does.
    fn validate(&self) -> Result<(), ConfigError> {
        self.validate_listener_protocols()?;
        self.validate_controller_listeners()?;
        self.validate_broker_listeners()?;
        self.validate_quorum()?;
        if self.broker_heartbeat_interval_ms >= self.broker_session_timeout_ms {
            return Err(invalid(
                "broker.heartbeat.interval.ms",
                &self.broker_heartbeat_interval_ms.to_string(),
                format!(
                    "must be less than broker.session.timeout.ms ({})",
                    self.broker_session_timeout_ms
                ),
            ));
        }
        self.log_config().validate().map_err(log_config_error)
    }

    /// Every listener has a protocol, and it is one Weir speaks.
    fn validate_listener_protocols(&self) -> Result<(), ConfigError> {
        for l in &self.listeners {
            match self.listener_security_protocol_map.get(&l.name) {
                None => {
                    return Err(invalid(
                        "listeners",
                        &l.to_string(),
                        format!("listener.security.protocol.map has no entry for {}", l.name),
                    ))
                }
                Some(SecurityProtocol::Plaintext) => {}
                Some(other) => {
                    return Err(invalid(
                        "listener.security.protocol.map",
                        &format!("{}:{}", l.name, other.name()),
                        "Weir serves only PLAINTEXT listeners",
                    ))
                }
            }
        }
        Ok(())
    }

    /// A controller listens on a controller listener; a broker-only node
    /// must not (Kafka's rules for `controller.listener.names`).
    fn validate_controller_listeners(&self) -> Result<(), ConfigError> {
        let names = self.controller_listener_names.join(",");
        if self.process_roles.controller && self.controller_listener().is_none() {
            return Err(invalid(
                "controller.listener.names",
                &names,
                "a controller needs one of these names in listeners",
            ));
        }
        let in_listeners = self
            .listeners
            .iter()
            .any(|l| self.is_controller_listener(&l.name));
        if !self.process_roles.controller && in_listeners {
            return Err(invalid(
                "controller.listener.names",
                &names,
                "a broker-only node must not list a controller listener in listeners",
            ));
        }
        Ok(())
    }

    /// A broker has a client listener and an inter-broker listener that is
    /// one of its listeners and not a controller listener.
    fn validate_broker_listeners(&self) -> Result<(), ConfigError> {
        if !self.process_roles.broker {
            return Ok(());
        }
        if self.client_listener().is_none() {
            let all: Vec<String> = self.listeners.iter().map(Listener::to_string).collect();
            return Err(invalid(
                "listeners",
                &all.join(","),
                "a broker needs a listener that is not a controller listener",
            ));
        }
        let name = &self.inter_broker_listener_name;
        if self.is_controller_listener(name) || self.advertised_listener(name).is_none() {
            return Err(invalid(
                "inter.broker.listener.name",
                name,
                "must name a listener in listeners that is not a controller listener",
            ));
        }
        Ok(())
    }

    /// A voter is in its own voter set; a broker-only node can find the
    /// quorum.
    fn validate_quorum(&self) -> Result<(), ConfigError> {
        let voters = &self.controller_quorum_voters;
        if self.process_roles.controller
            && !voters.is_empty()
            && !voters.iter().any(|v| v.id == self.node_id)
        {
            let list: Vec<String> = voters.iter().map(QuorumVoter::to_string).collect();
            return Err(invalid(
                "controller.quorum.voters",
                &list.join(","),
                format!(
                    "a controller's node.id {} must be one of the voters",
                    self.node_id
                ),
            ));
        }
        if voters.is_empty() && self.controller_quorum_bootstrap_servers.is_empty() {
            return Err(ConfigError::Missing {
                key: "controller.quorum.voters".into(),
                reason: "a broker-only node needs it or controller.quorum.bootstrap.servers".into(),
            });
        }
        Ok(())
    }
}

/// Every key at its default; the values that have no default are
/// placeholders that [`BrokerConfig::from_props`] always overwrites.
fn defaults() -> BrokerConfig {
    BrokerConfig {
        node_id: 0,
        process_roles: ProcessRoles {
            broker: true,
            controller: true,
        },
        listeners: Vec::new(),
        advertised_listeners: Vec::new(),
        controller_listener_names: Vec::new(),
        listener_security_protocol_map: BTreeMap::new(),
        inter_broker_listener_name: String::new(),
        controller_quorum_voters: Vec::new(),
        controller_quorum_bootstrap_servers: Vec::new(),
        log_dirs: Vec::new(),
        metadata_log_dir: PathBuf::new(),
        num_partitions: 1,
        default_replication_factor: 1,
        auto_create_topics_enable: true,
        message_max_bytes: 1_048_588,
        socket_request_max_bytes: 104_857_600,
        log_segment_bytes: 1 << 30,
        log_roll_ms: 168 * HOUR_MS,
        log_retention_ms: 168 * HOUR_MS,
        log_retention_bytes: -1,
        log_flush_interval_messages: None,
        log_flush_interval_ms: None,
        log_index_interval_bytes: 4096,
        log_index_size_max_bytes: 10 << 20,
        min_insync_replicas: 1,
        replica_lag_time_max_ms: 30_000,
        replica_fetch_wait_max_ms: 500,
        replica_fetch_max_bytes: 1 << 20,
        replica_fetch_response_max_bytes: 10 << 20,
        replica_fetch_backoff_ms: 1000,
        replica_socket_timeout_ms: 30_000,
        unclean_leader_election_enable: false,
        controlled_shutdown_enable: true,
        eligible_leader_replicas_enable: true,
        auto_leader_rebalance_enable: true,
        leader_imbalance_check_interval_seconds: 300,
        leader_imbalance_per_broker_percentage: 10,
        broker_rack: None,
        broker_heartbeat_interval_ms: 2000,
        broker_session_timeout_ms: 9000,
        replica_high_watermark_checkpoint_interval_ms: 5000,
        log_retention_check_interval_ms: 300_000,
        log_flush_offset_checkpoint_interval_ms: 60_000,
        max_connections: DEFAULT_MAX_CONNECTIONS,
        offsets_topic_replication_factor: 3,
        offsets_topic_num_partitions: 50,
        group_initial_rebalance_delay_ms: 3000,
    }
}

/// A `LogConfig` range error, named by the broker key it came from.
fn log_config_error(e: weir_storage::log::ConfigError) -> ConfigError {
    let key = match e.key.as_str() {
        "segment.ms" => "log.roll.ms",
        "segment.index.bytes" => "log.index.size.max.bytes",
        "flush.ms" => "log.flush.interval.ms",
        "max.message.bytes" => "message.max.bytes",
        other => return invalid(&format!("log.{other}"), &e.value, e.reason),
    };
    invalid(key, &e.value, e.reason)
}

/// `node.id`, required; `broker.id`, if also set, must agree (Kafka).
fn node_id(p: &mut Props) -> Result<i32, ConfigError> {
    let Some(node_id) = p.opt_num::<i32>("node.id", 0..=i32::MAX)? else {
        return Err(ConfigError::Missing {
            key: "node.id".into(),
            reason: "every KRaft node needs a unique id".into(),
        });
    };
    if let Some(broker_id) = p.opt_num::<i32>("broker.id", -1..=i32::MAX)? {
        if broker_id != -1 && broker_id != node_id {
            return Err(invalid(
                "broker.id",
                &broker_id.to_string(),
                format!("must equal node.id ({node_id})"),
            ));
        }
    }
    Ok(node_id)
}

/// `process.roles`: `broker`, `controller` or both, no repeats; unset means
/// both (module docs).
fn process_roles(p: &mut Props) -> Result<ProcessRoles, ConfigError> {
    let Some(value) = p.get("process.roles") else {
        return Ok(ProcessRoles {
            broker: true,
            controller: true,
        });
    };
    let mut roles = ProcessRoles {
        broker: false,
        controller: false,
    };
    for role in split_list(&value) {
        let slot = match role {
            "broker" => &mut roles.broker,
            "controller" => &mut roles.controller,
            _ => {
                return Err(invalid(
                    "process.roles",
                    &value,
                    format!("unknown role {role:?}"),
                ))
            }
        };
        if std::mem::replace(slot, true) {
            return Err(invalid(
                "process.roles",
                &value,
                format!("{role} appears twice"),
            ));
        }
    }
    if !(roles.broker || roles.controller) {
        return Err(invalid(
            "process.roles",
            &value,
            "expected broker, controller or both",
        ));
    }
    Ok(roles)
}

/// The listener settings, read together because their defaults depend on
/// each other.
struct Network {
    listeners: Vec<Listener>,
    advertised: Vec<Listener>,
    controller_names: Vec<String>,
    protocol_map: BTreeMap<String, SecurityProtocol>,
    inter_broker: String,
}

impl Network {
    fn from_props(p: &mut Props, roles: ProcessRoles) -> Result<Network, ConfigError> {
        let controller_names = controller_listener_names(p)?;
        let listeners = listeners(p, roles)?;
        let advertised = advertised_listeners(p, &listeners)?;
        let protocol_map = protocol_map(p, &controller_names)?;
        let inter_broker = match p.get("inter.broker.listener.name") {
            Some(name) => {
                listener_name(&name).map_err(|r| invalid("inter.broker.listener.name", &name, r))?
            }
            None => default_inter_broker_listener(&listeners, &controller_names),
        };
        Ok(Network {
            listeners,
            advertised,
            controller_names,
            protocol_map,
            inter_broker,
        })
    }
}

fn controller_listener_names(p: &mut Props) -> Result<Vec<String>, ConfigError> {
    let value = p
        .get("controller.listener.names")
        .unwrap_or_else(|| "CONTROLLER".to_string());
    let names = split_list(&value)
        .into_iter()
        .map(listener_name)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|r| invalid("controller.listener.names", &value, r))?;
    if names.is_empty() {
        return Err(invalid(
            "controller.listener.names",
            &value,
            "must name a listener",
        ));
    }
    Ok(names)
}

fn listeners(p: &mut Props, roles: ProcessRoles) -> Result<Vec<Listener>, ConfigError> {
    let value = p.get("listeners").unwrap_or_else(|| {
        let default = match roles.controller {
            true => "PLAINTEXT://:9092,CONTROLLER://:9093",
            false => "PLAINTEXT://:9092",
        };
        default.to_string()
    });
    let listeners = parse_listeners(&value).map_err(|r| invalid("listeners", &value, r))?;
    if listeners.is_empty() {
        return Err(invalid(
            "listeners",
            &value,
            "must name at least one listener",
        ));
    }
    Ok(listeners)
}

/// One advertised listener per listener, explicit ones first-class; an
/// advertised name that is not a listener, or the meta-address 0.0.0.0,
/// is an error (Kafka).
fn advertised_listeners(
    p: &mut Props,
    listeners: &[Listener],
) -> Result<Vec<Listener>, ConfigError> {
    let value = p.get("advertised.listeners").unwrap_or_default();
    let explicit =
        parse_listeners(&value).map_err(|r| invalid("advertised.listeners", &value, r))?;
    for a in &explicit {
        if !listeners.iter().any(|l| l.name == a.name) {
            let reason = format!("{} is not a listener in listeners", a.name);
            return Err(invalid("advertised.listeners", &value, reason));
        }
        if a.host == "0.0.0.0" {
            let reason = "cannot advertise the non-routable meta-address 0.0.0.0";
            return Err(invalid("advertised.listeners", &value, reason));
        }
    }
    let advertised = listeners
        .iter()
        .map(|l| {
            explicit
                .iter()
                .find(|a| a.name == l.name)
                .unwrap_or(l)
                .clone()
        })
        .collect();
    Ok(advertised)
}

/// The map as given, or Kafka's default plus PLAINTEXT for the controller
/// listeners (`KafkaConfig.effectiveListenerSecurityProtocolMap`).
fn protocol_map(
    p: &mut Props,
    controller_names: &[String],
) -> Result<BTreeMap<String, SecurityProtocol>, ConfigError> {
    if let Some(value) = p.get("listener.security.protocol.map") {
        return parse_protocol_map(&value)
            .map_err(|r| invalid("listener.security.protocol.map", &value, r));
    }
    let mut map = default_protocol_map();
    for name in controller_names {
        map.entry(name.clone())
            .or_insert(SecurityProtocol::Plaintext);
    }
    Ok(map)
}

/// Kafka's default is the listener of `security.inter.broker.protocol`
/// (PLAINTEXT); without one, the first non-controller listener.
fn default_inter_broker_listener(listeners: &[Listener], controller_names: &[String]) -> String {
    let plaintext = listeners.iter().find(|l| l.name == "PLAINTEXT");
    let client = || {
        listeners
            .iter()
            .find(|l| !controller_names.contains(&l.name))
    };
    plaintext
        .or_else(client)
        .map_or_else(|| "PLAINTEXT".to_string(), |l| l.name.clone())
}

/// `controller.quorum.voters` and `.bootstrap.servers`, with a one-voter
/// quorum filled in for a lone controller (module docs).
fn quorum(
    p: &mut Props,
    node_id: i32,
    roles: ProcessRoles,
    net: &Network,
) -> Result<(Vec<QuorumVoter>, Vec<HostPort>), ConfigError> {
    let voters_value = p.get("controller.quorum.voters").unwrap_or_default();
    let mut voters = parse_voters(&voters_value)
        .map_err(|r| invalid("controller.quorum.voters", &voters_value, r))?;
    let servers_value = p
        .get("controller.quorum.bootstrap.servers")
        .unwrap_or_default();
    let servers = parse_servers(&servers_value)
        .map_err(|r| invalid("controller.quorum.bootstrap.servers", &servers_value, r))?;
    if voters.is_empty() && roles.controller {
        let own = match servers.as_slice() {
            [only] => Some(only.clone()),
            [] => own_controller_address(net),
            _ => None,
        };
        voters.extend(own.map(|address| QuorumVoter {
            id: node_id,
            address,
        }));
    }
    Ok((voters, servers))
}

/// This node's advertised controller listener as a voter address (an
/// empty host becomes `localhost`).
fn own_controller_address(net: &Network) -> Option<HostPort> {
    let name = net
        .controller_names
        .iter()
        .find(|n| net.listeners.iter().any(|l| &l.name == *n))?;
    let advertised = net.advertised.iter().find(|l| &l.name == name)?;
    let host = match advertised.host.as_str() {
        "" => "localhost".to_string(),
        h => h.to_string(),
    };
    Some(HostPort {
        host,
        port: advertised.port,
    })
}

/// `log.dirs`, else `log.dir`, else [`DEFAULT_LOG_DIR`]; and
/// `metadata.log.dir`, else the first log dir.
fn log_dirs(p: &mut Props) -> Result<(Vec<PathBuf>, PathBuf), ConfigError> {
    let log_dir = p.get("log.dir");
    let (key, value) = match (p.get("log.dirs"), log_dir) {
        (Some(dirs), _) => ("log.dirs", dirs),
        (None, Some(dir)) => ("log.dir", dir),
        (None, None) => ("log.dirs", DEFAULT_LOG_DIR.to_string()),
    };
    let mut dirs: Vec<PathBuf> = Vec::new();
    for dir in split_list(&value).into_iter().map(PathBuf::from) {
        if dirs.contains(&dir) {
            let reason = format!("{} appears twice", dir.display());
            return Err(invalid(key, &value, reason));
        }
        dirs.push(dir);
    }
    let Some(first) = dirs.first().cloned() else {
        return Err(invalid(key, &value, "must name at least one directory"));
    };
    let metadata = p
        .get("metadata.log.dir")
        .filter(|d| !d.is_empty())
        .map_or(first, PathBuf::from);
    Ok((dirs, metadata))
}

/// `log.roll.ms`, else `log.roll.hours` (Kafka's precedence).
fn roll_ms(p: &mut Props) -> Result<i64, ConfigError> {
    let ms = p.opt_num::<i64>("log.roll.ms", 1..=i64::MAX)?;
    let hours = p.num::<i32>("log.roll.hours", 168, 1..=i32::MAX)?;
    Ok(ms.unwrap_or(i64::from(hours) * HOUR_MS))
}

/// `log.retention.ms`, else `.minutes`, else `.hours`; any negative result
/// means forever (−1) and 0 is refused, as in `KafkaConfig`.
fn retention_ms(p: &mut Props) -> Result<i64, ConfigError> {
    let ms = p.opt_num::<i64>("log.retention.ms", i64::MIN..=i64::MAX)?;
    let minutes = p.opt_num::<i32>("log.retention.minutes", i32::MIN..=i32::MAX)?;
    let hours = p.num::<i32>("log.retention.hours", 168, i32::MIN..=i32::MAX)?;
    let (key, millis) = match (ms, minutes) {
        (Some(ms), _) => ("log.retention.ms", ms),
        (None, Some(m)) => ("log.retention.minutes", i64::from(m) * MINUTE_MS),
        (None, None) => ("log.retention.hours", i64::from(hours) * HOUR_MS),
    };
    match millis {
        0 => Err(invalid(
            key,
            "0",
            "must be -1 (unlimited) or a positive time",
        )),
        m if m < 0 => Ok(-1),
        m => Ok(m),
    }
}

/// `log.flush.interval.ms`, else `log.flush.scheduler.interval.ms`;
/// `Long.MAX_VALUE` (the default) is never.
fn flush_ms(p: &mut Props) -> Result<Option<i64>, ConfigError> {
    let ms = p.opt_num::<i64>("log.flush.interval.ms", 0..=i64::MAX)?;
    let scheduler = p.num::<i64>("log.flush.scheduler.interval.ms", i64::MAX, 0..=i64::MAX)?;
    let ms = ms.unwrap_or(scheduler);
    Ok((ms != i64::MAX).then_some(ms))
}

/// An integer type a key can hold.
trait Int: FromStr + PartialOrd + Display + Copy {
    const MAX: Self;
}

macro_rules! int {
    ($($t:ty),*) => { $(impl Int for $t { const MAX: Self = <$t>::MAX; })* };
}
int!(i16, i32, i64);

/// Where a value came from, for warnings.
#[derive(Debug, Clone, Copy)]
enum Source {
    Line(usize),
    Override,
}

/// The raw key/value pairs, remembering which keys were read so the rest
/// can be reported as unknown.
struct Props {
    entries: BTreeMap<String, (String, Source)>,
    used: BTreeSet<String>,
}

impl Props {
    fn new(text: &str, overrides: &[(String, String)]) -> Result<Props, ConfigError> {
        let mut entries = BTreeMap::new();
        for p in parse_properties(text)? {
            entries.insert(p.key, (p.value, Source::Line(p.line)));
        }
        for (key, value) in overrides {
            let entry = (value.trim().to_string(), Source::Override);
            entries.insert(key.trim().to_string(), entry);
        }
        Ok(Props {
            entries,
            used: BTreeSet::new(),
        })
    }

    /// The value of `key`, if set; marks it known.
    fn get(&mut self, key: &str) -> Option<String> {
        self.used.insert(key.to_string());
        self.entries.get(key).map(|(v, _)| v.clone())
    }

    /// An integer in `range`, or `None` when unset.
    fn opt_num<T: Int>(
        &mut self,
        key: &str,
        range: RangeInclusive<T>,
    ) -> Result<Option<T>, ConfigError> {
        let Some(value) = self.get(key) else {
            return Ok(None);
        };
        let reason = if *range.end() == T::MAX {
            format!(
                "expected an integer >= {} (at most {})",
                range.start(),
                T::MAX
            )
        } else {
            format!("expected an integer in {}..={}", range.start(), range.end())
        };
        match value.parse::<T>() {
            Ok(n) if range.contains(&n) => Ok(Some(n)),
            _ => Err(invalid(key, &value, reason)),
        }
    }

    /// An integer in `range`, `default` when unset.
    fn num<T: Int>(
        &mut self,
        key: &str,
        default: T,
        range: RangeInclusive<T>,
    ) -> Result<T, ConfigError> {
        Ok(self.opt_num(key, range)?.unwrap_or(default))
    }

    /// `true` or `false`, any case (Kafka's `ConfigDef` BOOLEAN).
    fn bool(&mut self, key: &str, default: bool) -> Result<bool, ConfigError> {
        match self.get(key) {
            None => Ok(default),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
            Some(v) => Err(invalid(key, &v, "expected true or false")),
        }
    }

    /// One warning per key that is neither read nor in [`IGNORED_KEYS`].
    fn warnings(&self) -> Vec<String> {
        self.entries
            .iter()
            .filter(|(k, _)| !self.used.contains(*k) && !IGNORED_KEYS.contains(&k.as_str()))
            .map(|(key, (_, source))| match source {
                Source::Line(line) => {
                    format!("unknown configuration {key:?} at line {line} is ignored")
                }
                Source::Override => {
                    format!("unknown configuration {key:?} from --override is ignored")
                }
            })
            .collect()
    }
}
