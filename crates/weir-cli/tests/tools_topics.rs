//! `weir topics` against a real broker: create, describe, list, alter and
//! delete round trips, and Kafka's error names on failure.

mod common;
mod tools_support;

use common::server::Server;
use std::time::{Duration, Instant};
use tools_support::{create_topic, weir, RUN};

fn topics(bootstrap: &str, args: &[&str]) -> tools_support::Out {
    let mut all = vec!["topics", "--bootstrap-server", bootstrap];
    all.extend_from_slice(args);
    weir(&all, b"", RUN)
}

#[test]
fn create_describe_list_alter_delete() {
    let server = Server::start(&[]);
    let b = server.bootstrap();
    let out = topics(
        &b,
        &[
            "--create",
            "--topic",
            "orders",
            "--partitions",
            "3",
            "--replication-factor",
            "1",
            "--config",
            "retention.ms=100000",
        ],
    )
    .ok();
    assert_eq!(out.stdout, "Created topic orders.\n");

    let out = topics(&b, &["--describe", "--topic", "orders"]).ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{}", out.stdout);
    let head: Vec<&str> = lines[0].split('\t').collect();
    assert_eq!(head[0], "Topic: orders");
    let id = head[1].strip_prefix("TopicId: ").expect("TopicId column");
    assert_eq!(
        id.len(),
        22,
        "Kafka prints a topic id as 22 base64url characters: {id}"
    );
    assert!(
        id.bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'),
        "{id}"
    );
    assert_eq!(&head[2..4], &["PartitionCount: 3", "ReplicationFactor: 1"]);
    let configs = head[4].strip_prefix("Configs: ").expect("Configs column");
    assert!(
        configs.split(',').any(|c| c == "retention.ms=100000"),
        "{configs}"
    );
    for (p, line) in lines[1..].iter().enumerate() {
        assert_eq!(
            *line,
            format!("\tTopic: orders\tPartition: {p}\tLeader: 1\tReplicas: 1\tIsr: 1\tElr: \tLastKnownElr: ")
        );
    }

    create_topic(&b, "payments", 1);
    let out = topics(&b, &["--list"]).ok();
    let listed: Vec<&str> = out
        .stdout
        .lines()
        .filter(|t| !t.starts_with("__"))
        .collect();
    assert_eq!(listed, vec!["orders", "payments"]);

    topics(&b, &["--alter", "--topic", "orders", "--partitions", "5"]).ok();
    let out = topics(&b, &["--describe", "--topic", "orders"]).ok();
    assert!(
        out.stdout.contains("\tPartitionCount: 5\t"),
        "{}",
        out.stdout
    );
    assert_eq!(out.stdout.lines().count(), 6);

    topics(&b, &["--delete", "--topic", "orders"]).ok();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = topics(&b, &["--list"]).ok();
        if !out.stdout.lines().any(|t| t == "orders") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "orders still listed: {}",
            out.stdout
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn broker_errors_print_kafka_names_and_exit_non_zero() {
    let server = Server::start(&[]);
    let b = server.bootstrap();
    create_topic(&b, "dup", 1);
    topics(&b, &["--create", "--topic", "dup"]).fails_with("TOPIC_ALREADY_EXISTS: ");
    topics(&b, &["--create", "--topic", "dup", "--if-not-exists"]).ok();
    topics(&b, &["--describe", "--topic", "missing"]).fails_with("UNKNOWN_TOPIC_OR_PARTITION: ");
    topics(&b, &["--delete", "--topic", "missing"]).fails_with("UNKNOWN_TOPIC_OR_PARTITION: ");
    topics(&b, &["--delete", "--topic", "missing", "--if-exists"]).ok();
    topics(&b, &["--create", "--topic", "bad", "--partitions", "0"])
        .fails_with("The partitions must be greater than 0");
    topics(&b, &["--create", "--topic", "x/y"]).fails_with("INVALID_TOPIC_EXCEPTION");
}

#[test]
fn bad_flags_get_clap_errors_without_a_broker() {
    let out = weir(
        &[
            "topics",
            "--bootstrap-server",
            "127.0.0.1:1",
            "--create",
            "--list",
        ],
        b"",
        RUN,
    );
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.contains("cannot be used with"), "{}", out.stderr);
    let out = weir(&["topics", "--bootstrap-server", "127.0.0.1:1"], b"", RUN);
    assert_eq!(out.code, Some(2), "{out:?}");
    let out = weir(
        &["topics", "--bootstrap-server", "127.0.0.1:1", "--list"],
        b"",
        RUN,
    );
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stderr.contains("NETWORK_EXCEPTION"), "{}", out.stderr);
}
