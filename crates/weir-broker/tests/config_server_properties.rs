//! `server.properties` parsing: Kafka 4's stock KRaft files start Weir with
//! no warnings, cluster files parse, every bad value is a one-line error
//! naming its key, unknown keys warn, `--override` wins.

use std::path::PathBuf;
use weir_broker::config::{
    BrokerConfig, ConfigError, HostPort, Listener, ProcessRoles, QuorumVoter, SecurityProtocol,
};
use weir_storage::log::LogConfig;

/// A single-node KRaft file laid out like Kafka 4's
/// `config/server.properties`, with a static voter set.
const SINGLE_NODE: &str = r#"
# Licensed to the Apache Software Foundation (ASF) under one or more
# contributor license agreements.

############################# Server Basics #############################

# The role of this server. Setting this puts us in KRaft mode
process.roles=broker,controller

# The node id associated with this instance's roles
node.id=1

# List of controller voters
controller.quorum.voters=1@localhost:9093

############################# Socket Server Settings #############################

# The address the socket server listens on.
listeners=PLAINTEXT://:9092,CONTROLLER://:9093

# Name of listener used for communication between brokers.
inter.broker.listener.name=PLAINTEXT

# Listener name, hostname and port the broker or the controller will advertise to clients.
advertised.listeners=PLAINTEXT://localhost:9092,CONTROLLER://localhost:9093

# A comma-separated list of the names of the listeners used by the controller.
controller.listener.names=CONTROLLER

# Maps listener names to security protocols, the default is for them to be the same.
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL

# The number of threads that the server uses for receiving requests from the network
num.network.threads=3

# The number of threads that the server uses for processing requests
num.io.threads=8

# The send buffer (SO_SNDBUF) used by the socket server
socket.send.buffer.bytes=102400

# The receive buffer (SO_RCVBUF) used by the socket server
socket.receive.buffer.bytes=102400

# The maximum size of a request that the socket server will accept
socket.request.max.bytes=104857600

############################# Log Basics #############################

# A comma separated list of directories under which to store log files
log.dirs=/tmp/kraft-combined-logs

# The default number of log partitions per topic.
num.partitions=1

# The number of threads per data directory to be used for log recovery.
num.recovery.threads.per.data.dir=1

############################# Internal Topic Settings  #############################
offsets.topic.replication.factor=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1

############################# Log Flush Policy #############################

#log.flush.interval.messages=10000
#log.flush.interval.ms=1000

############################# Log Retention Policy #############################

log.retention.hours=168
#log.retention.bytes=1073741824
log.segment.bytes=1073741824
log.retention.check.interval.ms=300000
"#;

/// A Kafka 4.0 file that uses `controller.quorum.bootstrap.servers` (what
/// Kafka 4.0 ships) instead of static voters.
fn kafka_4_0_bootstrap_style() -> String {
    SINGLE_NODE.replace(
        "controller.quorum.voters=1@localhost:9093",
        "controller.quorum.bootstrap.servers=localhost:9093",
    )
}

/// Node `id` of a 3-node combined cluster on 127.0.0.1.
fn cluster_node(id: u16) -> String {
    format!(
        "process.roles=broker,controller\n\
         node.id={id}\n\
         controller.quorum.voters=1@127.0.0.1:9093,2@127.0.0.1:9094,3@127.0.0.1:9095\n\
         listeners=PLAINTEXT://127.0.0.1:{client},CONTROLLER://127.0.0.1:{controller}\n\
         advertised.listeners=PLAINTEXT://127.0.0.1:{client}\n\
         controller.listener.names=CONTROLLER\n\
         listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT\n\
         inter.broker.listener.name=PLAINTEXT\n\
         log.dirs=/tmp/weir-{id}/a,/tmp/weir-{id}/b\n\
         default.replication.factor=3\n\
         min.insync.replicas=2\n\
         offsets.topic.replication.factor=3\n\
         broker.rack=rack-{id}\n",
        client = 9091 + id,
        controller = 9092 + id,
    )
}

fn parse(text: &str) -> (BrokerConfig, Vec<String>) {
    BrokerConfig::parse(text, &[]).unwrap_or_else(|e| panic!("{e}"))
}

fn with(text: &str, overrides: &[(&str, &str)]) -> Result<BrokerConfig, ConfigError> {
    let overrides: Vec<(String, String)> = overrides
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    BrokerConfig::parse(text, &overrides).map(|(c, _)| c)
}

fn listener(name: &str, host: &str, port: u16) -> Listener {
    Listener {
        name: name.into(),
        host: host.into(),
        port,
    }
}

fn voter(id: i32, host: &str, port: u16) -> QuorumVoter {
    QuorumVoter {
        id,
        address: HostPort {
            host: host.into(),
            port,
        },
    }
}

#[test]
fn stock_single_node_file_parses_without_warnings() {
    let (c, warnings) = parse(SINGLE_NODE);
    assert_eq!(warnings, Vec::<String>::new());
    assert_eq!(c.node_id, 1);
    assert_eq!(
        c.process_roles,
        ProcessRoles {
            broker: true,
            controller: true
        }
    );
    assert_eq!(
        c.listeners,
        vec![
            listener("PLAINTEXT", "", 9092),
            listener("CONTROLLER", "", 9093)
        ]
    );
    assert_eq!(
        c.advertised_listeners,
        vec![
            listener("PLAINTEXT", "localhost", 9092),
            listener("CONTROLLER", "localhost", 9093)
        ]
    );
    assert_eq!(c.client_listener(), Some(&listener("PLAINTEXT", "", 9092)));
    assert_eq!(
        c.advertised_client_listener(),
        Some(&listener("PLAINTEXT", "localhost", 9092))
    );
    assert_eq!(
        c.controller_listener(),
        Some(&listener("CONTROLLER", "", 9093))
    );
    assert_eq!(c.controller_listener_names, vec!["CONTROLLER"]);
    assert_eq!(c.inter_broker_listener_name, "PLAINTEXT");
    assert_eq!(
        c.listener_security_protocol_map["SSL"],
        SecurityProtocol::Ssl
    );
    assert_eq!(
        c.controller_quorum_voters,
        vec![voter(1, "localhost", 9093)]
    );
    assert_eq!(c.log_dirs, vec![PathBuf::from("/tmp/kraft-combined-logs")]);
    assert_eq!(
        c.metadata_log_dir,
        PathBuf::from("/tmp/kraft-combined-logs")
    );
    assert_eq!(c.offsets_topic_replication_factor, 1);
    assert_eq!(c.log_retention_ms, 168 * 3_600_000);
    assert_eq!(c.log_retention_check_interval_ms, 300_000);
    assert_eq!(c.socket_request_max_bytes, 104_857_600);
}

#[test]
fn kafka_4_0_bootstrap_servers_file_forms_a_one_voter_quorum() {
    let (c, warnings) = parse(&kafka_4_0_bootstrap_style());
    assert_eq!(warnings, Vec::<String>::new());
    assert_eq!(
        c.controller_quorum_bootstrap_servers,
        vec![HostPort {
            host: "localhost".into(),
            port: 9093
        }]
    );
    assert_eq!(
        c.controller_quorum_voters,
        vec![voter(1, "localhost", 9093)]
    );
}

#[test]
fn bare_file_is_a_single_combined_node_with_kafkas_defaults() {
    let (c, warnings) = parse("node.id=7\n");
    assert!(warnings.is_empty());
    assert!(c.process_roles.broker && c.process_roles.controller);
    assert_eq!(
        c.listeners,
        vec![
            listener("PLAINTEXT", "", 9092),
            listener("CONTROLLER", "", 9093)
        ]
    );
    assert_eq!(
        c.controller_quorum_voters,
        vec![voter(7, "localhost", 9093)]
    );
    assert_eq!(c.log_dirs, vec![PathBuf::from("/tmp/kraft-combined-logs")]);
    assert_eq!(c.log_config(), LogConfig::default());
    assert_eq!((c.num_partitions, c.default_replication_factor), (1, 1));
    assert!(c.auto_create_topics_enable);
    assert_eq!(c.message_max_bytes, 1_048_588);
    assert_eq!(c.min_insync_replicas, 1);
    assert_eq!(c.replica_lag_time_max_ms, 30_000);
    assert!(!c.unclean_leader_election_enable);
    assert!(c.auto_leader_rebalance_enable);
    assert_eq!(c.leader_imbalance_check_interval_seconds, 300);
    assert_eq!(c.leader_imbalance_per_broker_percentage, 10);
    assert_eq!(c.broker_rack, None);
    assert_eq!(
        (c.broker_heartbeat_interval_ms, c.broker_session_timeout_ms),
        (2000, 9000)
    );
    assert_eq!(c.replica_high_watermark_checkpoint_interval_ms, 5000);
    assert_eq!(c.log_flush_offset_checkpoint_interval_ms, 60_000);
    assert_eq!(c.max_connections, 10_000);
    assert_eq!(
        (
            c.offsets_topic_replication_factor,
            c.offsets_topic_num_partitions
        ),
        (3, 50)
    );
    assert_eq!(c.group_initial_rebalance_delay_ms, 3000);
    assert_eq!(c.inter_broker_listener_name, "PLAINTEXT");
}

#[test]
fn three_node_combined_cluster_files_parse() {
    for id in 1..=3u16 {
        let (c, warnings) = parse(&cluster_node(id));
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(c.node_id, i32::from(id));
        assert_eq!(
            c.controller_quorum_voters,
            vec![
                voter(1, "127.0.0.1", 9093),
                voter(2, "127.0.0.1", 9094),
                voter(3, "127.0.0.1", 9095)
            ]
        );
        let client = listener("PLAINTEXT", "127.0.0.1", 9091 + id);
        let controller = listener("CONTROLLER", "127.0.0.1", 9092 + id);
        assert_eq!(c.client_listener(), Some(&client));
        assert_eq!(c.controller_listener(), Some(&controller));
        assert_eq!(c.advertised_listeners, vec![client.clone(), controller]);
        assert_eq!(client.bind_address(), format!("127.0.0.1:{}", 9091 + id));
        assert_eq!(c.log_dirs.len(), 2);
        assert_eq!(
            c.metadata_log_dir,
            PathBuf::from(format!("/tmp/weir-{id}/a"))
        );
        assert_eq!(c.broker_rack, Some(format!("rack-{id}")));
        assert_eq!(
            (c.default_replication_factor, c.min_insync_replicas),
            (3, 2)
        );
    }
}

#[test]
fn broker_only_node_follows_the_voters() {
    let text = "process.roles=broker\nnode.id=4\n\
                controller.quorum.voters=1@127.0.0.1:9093\n\
                listeners=PLAINTEXT://127.0.0.1:9099\n";
    let (c, warnings) = parse(text);
    assert!(warnings.is_empty());
    assert!(c.process_roles.broker && !c.process_roles.controller);
    assert_eq!(c.controller_listener(), None);
    assert_eq!(
        c.controller_quorum_voters,
        vec![voter(1, "127.0.0.1", 9093)]
    );
    let err = with("process.roles=broker\nnode.id=4\n", &[]).unwrap_err();
    assert!(matches!(err, ConfigError::Missing { .. }), "{err}");
}

#[test]
fn overrides_win_over_the_file() {
    let c = with(
        SINGLE_NODE,
        &[
            ("log.dirs", "/data/a, /data/b"),
            ("node.id", "1"),
            ("num.partitions", "6"),
            ("log.segment.bytes", "16384"),
            (" log.flush.interval.messages ", " 1 "),
        ],
    )
    .unwrap();
    assert_eq!(
        c.log_dirs,
        vec![PathBuf::from("/data/a"), PathBuf::from("/data/b")]
    );
    assert_eq!(c.num_partitions, 6);
    assert_eq!(c.log_config().segment_bytes, 16384);
    assert_eq!(c.log_config().flush_messages, Some(1));
}

#[test]
fn unknown_keys_warn_with_their_origin() {
    let text = format!("{SINGLE_NODE}zookeeper.connect=localhost:2181\n");
    let overrides = vec![("no.such.key".to_string(), "1".to_string())];
    let (_, warnings) = BrokerConfig::parse(&text, &overrides).unwrap();
    let line = text.lines().count();
    assert_eq!(
        warnings,
        vec![
            "unknown configuration \"no.such.key\" from --override is ignored".to_string(),
            format!("unknown configuration \"zookeeper.connect\" at line {line} is ignored"),
        ]
    );
}

#[test]
fn missing_node_id_is_an_error() {
    let text = SINGLE_NODE.replace("node.id=1", "");
    let err = with(&text, &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "missing required configuration node.id: every KRaft node needs a unique id"
    );
}

#[test]
fn every_bad_value_is_a_one_line_error_naming_key_and_value() {
    let cases: &[(&str, &str)] = &[
        ("node.id", "-1"),
        ("node.id", "one"),
        ("broker.id", "2"),
        ("process.roles", "broker,broker"),
        ("process.roles", "zookeeper"),
        ("process.roles", ""),
        ("listeners", "PLAINTEXT:9092"),
        ("listeners", "PLAINTEXT://:99999,CONTROLLER://:9093"),
        ("listeners", ""),
        ("advertised.listeners", "PLAINTEXT://0.0.0.0:9092"),
        ("advertised.listeners", "OTHER://h:1"),
        (
            "listener.security.protocol.map",
            "CONTROLLER:PLAINTEXT,PLAINTEXT:SSL",
        ),
        (
            "listener.security.protocol.map",
            "CONTROLLER:PLAINTEXT,PLAINTEXT:QUIC",
        ),
        ("listener.security.protocol.map", "CONTROLLER:PLAINTEXT"),
        ("controller.listener.names", "OTHER"),
        ("inter.broker.listener.name", "CONTROLLER"),
        ("inter.broker.listener.name", "NOPE"),
        ("controller.quorum.voters", "2@localhost:9093"),
        ("controller.quorum.voters", "1@localhost"),
        ("controller.quorum.bootstrap.servers", "localhost"),
        ("log.dirs", " , "),
        ("log.dirs", "/a,/a"),
        ("num.partitions", "0"),
        ("num.partitions", "2147483648"),
        ("default.replication.factor", "0"),
        ("default.replication.factor", "40000"),
        ("auto.create.topics.enable", "yes"),
        ("message.max.bytes", "-1"),
        ("socket.request.max.bytes", "0"),
        ("log.segment.bytes", "13"),
        ("log.roll.ms", "0"),
        ("log.roll.hours", "0"),
        ("log.retention.ms", "0"),
        ("log.retention.minutes", "ten"),
        ("log.retention.hours", "1.5"),
        ("log.retention.bytes", "lots"),
        ("log.flush.interval.messages", "0"),
        ("log.flush.interval.ms", "-5"),
        ("log.index.interval.bytes", "-1"),
        ("log.index.size.max.bytes", "3"),
        ("min.insync.replicas", "0"),
        ("replica.lag.time.max.ms", "0"),
        ("unclean.leader.election.enable", "1"),
        ("auto.leader.rebalance.enable", "on"),
        ("leader.imbalance.check.interval.seconds", "0"),
        ("leader.imbalance.per.broker.percentage", "101"),
        ("broker.heartbeat.interval.ms", "9000"),
        ("broker.session.timeout.ms", "0"),
        ("replica.high.watermark.checkpoint.interval.ms", "0"),
        ("log.retention.check.interval.ms", "-1"),
        ("log.flush.offset.checkpoint.interval.ms", "0"),
        ("max.connections", "0"),
        ("offsets.topic.replication.factor", "0"),
        ("offsets.topic.num.partitions", "0"),
        ("group.initial.rebalance.delay.ms", "-1"),
    ];
    for (key, value) in cases {
        let err = match with(SINGLE_NODE, &[(key, value)]) {
            Ok(_) => panic!("{key}={value} was accepted"),
            Err(e) => e.to_string(),
        };
        assert!(!err.contains('\n'), "{key}={value}: {err}");
        assert!(err.contains(key), "{key}={value}: {err}");
    }
}

#[test]
fn a_bad_value_message_reads_well() {
    let err = with(SINGLE_NODE, &[("num.partitions", "many")]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid value \"many\" for num.partitions: expected an integer >= 1 (at most 2147483647)"
    );
    let err = with(SINGLE_NODE, &[("message.max.bytes", "x\ny")]).unwrap_err();
    assert_eq!(err.to_string().lines().count(), 1);
}

#[test]
fn roles_and_listeners_must_agree() {
    let broker_with_controller_listener = "process.roles=broker\nnode.id=2\n\
        controller.quorum.voters=1@h:9093\nlisteners=PLAINTEXT://:9092,CONTROLLER://:9093\n";
    let err = with(broker_with_controller_listener, &[]).unwrap_err();
    assert!(
        err.to_string().contains("controller.listener.names"),
        "{err}"
    );

    let controller_only = "process.roles=controller\nnode.id=1\nlisteners=CONTROLLER://:9093\n";
    let (c, _) = parse(controller_only);
    assert_eq!(c.client_listener(), None);
    assert_eq!(
        c.controller_quorum_voters,
        vec![voter(1, "localhost", 9093)]
    );

    let broker_without_client = "process.roles=broker,controller\nnode.id=1\n\
        listeners=CONTROLLER://:9093\n";
    let err = with(broker_without_client, &[]).unwrap_err();
    assert!(err.to_string().starts_with("invalid value"), "{err}");
}

#[test]
fn retention_follows_kafkas_precedence() {
    let ms = |overrides: &[(&str, &str)]| with("node.id=1", overrides).unwrap().log_retention_ms;
    assert_eq!(ms(&[]), 604_800_000);
    assert_eq!(ms(&[("log.retention.hours", "1")]), 3_600_000);
    assert_eq!(
        ms(&[("log.retention.hours", "1"), ("log.retention.minutes", "2")]),
        120_000
    );
    assert_eq!(
        ms(&[("log.retention.minutes", "2"), ("log.retention.ms", "5")]),
        5
    );
    assert_eq!(ms(&[("log.retention.ms", "-1")]), -1);
    assert_eq!(ms(&[("log.retention.hours", "-3")]), -1);
    assert!(with("node.id=1", &[("log.retention.minutes", "0")]).is_err());
    // A bad lower-precedence value is still an error, as in Kafka.
    assert!(with(
        "node.id=1",
        &[("log.retention.ms", "5"), ("log.retention.hours", "x")]
    )
    .is_err());
}

#[test]
fn log_settings_become_topic_defaults() {
    let text = "node.id=1\nlog.segment.bytes=16384\nlog.roll.hours=2\n\
                log.retention.bytes=1000000\nlog.flush.interval.ms=250\n\
                log.index.interval.bytes=1024\nlog.index.size.max.bytes=4096\n\
                message.max.bytes=2000000\n";
    let (c, _) = parse(text);
    assert_eq!(
        c.log_config(),
        LogConfig {
            segment_bytes: 16384,
            segment_ms: 7_200_000,
            segment_index_bytes: 4096,
            index_interval_bytes: 1024,
            retention_ms: 604_800_000,
            retention_bytes: 1_000_000,
            flush_messages: None,
            flush_ms: Some(250),
            max_message_bytes: 2_000_000,
            cleanup_delete: true,
        }
    );
    let (c, _) = parse("node.id=1\nlog.roll.ms=5\nlog.roll.hours=9\n");
    assert_eq!(c.log_roll_ms, 5);
    let (c, _) = parse("node.id=1\nlog.flush.scheduler.interval.ms=3000\n");
    assert_eq!(c.log_flush_interval_ms, Some(3000));
}

#[test]
fn log_dir_is_the_fallback_for_log_dirs() {
    let (c, _) = parse("node.id=1\nlog.dir=/one\n");
    assert_eq!(c.log_dirs, vec![PathBuf::from("/one")]);
    let (c, _) = parse("node.id=1\nlog.dir=/one\nlog.dirs=/two\nmetadata.log.dir=/meta\n");
    assert_eq!(c.log_dirs, vec![PathBuf::from("/two")]);
    assert_eq!(c.metadata_log_dir, PathBuf::from("/meta"));
}

#[test]
fn java_properties_syntax_in_a_server_file() {
    let text = "! comment\nnode.id : 3\nlog.dirs = /a,\\\n    /b\nbroker.rack\tr1\n";
    let (c, warnings) = parse(text);
    assert!(warnings.is_empty());
    assert_eq!(c.node_id, 3);
    assert_eq!(c.log_dirs, vec![PathBuf::from("/a"), PathBuf::from("/b")]);
    assert_eq!(c.broker_rack.as_deref(), Some("r1"));
    let err = BrokerConfig::parse("node.id=1\nbroker.rack=\\uZZZZ\n", &[]).unwrap_err();
    assert!(matches!(err, ConfigError::Syntax { line: 2, .. }), "{err}");
}

#[test]
fn defaults_fill_in_the_protocol_map_for_controller_listeners() {
    let (c, _) = parse("node.id=1\nlisteners=PLAINTEXT://:9092,CONTROLLER://:9093\n");
    assert_eq!(
        c.listener_security_protocol_map.get("CONTROLLER"),
        Some(&SecurityProtocol::Plaintext)
    );
    // An explicit map must cover every listener.
    let err = with(
        "node.id=1\nlisteners=PLAINTEXT://:9092,CONTROLLER://:9093\n",
        &[("listener.security.protocol.map", "PLAINTEXT:PLAINTEXT")],
    )
    .unwrap_err();
    assert!(err.to_string().contains("no entry for CONTROLLER"), "{err}");
}

#[test]
fn arbitrary_text_never_panics() {
    let samples = [
        "\\",
        "=\n=\n",
        "\u{0}=\u{0}",
        "node.id=1\nlisteners=://:",
        "node.id=1\nlisteners=A://[",
        "node.id=1\ncontroller.quorum.voters=@",
        "node.id=99999999999999999999",
        "node.id=1\nlog.retention.minutes=-2147483648",
        "node.id=1\nlog.retention.hours=2147483647",
    ];
    for text in samples {
        let _ = BrokerConfig::parse(text, &[]);
    }
}
