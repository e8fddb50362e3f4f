//! `weir log-dirs --describe` against a real single-node broker: Kafka's
//! two status lines, then one JSON line whose partitions carry the exact
//! sizes of their `.log` files on disk; `--topic-list` and `--broker-list`
//! filter as kafka-log-dirs.sh does, and bad flags are readable errors.

mod common;
mod tools_support;

use common::server::Server;
use serde_json::Value;
use std::path::Path;
use tools_support::{create_topic, weir, Out, RUN};

fn log_dirs(bootstrap: &str, extra: &[&str]) -> Out {
    let mut args = vec!["log-dirs", "--bootstrap-server", bootstrap];
    args.extend_from_slice(extra);
    weir(&args, b"", RUN)
}

fn produce(bootstrap: &str, topic: &str, lines: &str) {
    let args = [
        "console-producer",
        "--bootstrap-server",
        bootstrap,
        "--topic",
        topic,
    ];
    let out = weir(&args, lines.as_bytes(), RUN).ok();
    assert_eq!(out.stdout, "");
}

/// Bytes of the `.log` files in a partition's directory, read from disk.
fn log_file_bytes(partition_dir: &Path) -> u64 {
    std::fs::read_dir(partition_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum()
}

/// The three lines of a successful describe, the last parsed.
fn describe(out: &Out) -> (Vec<&str>, Value) {
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", out.stdout);
    let json: Value =
        serde_json::from_str(lines[2]).unwrap_or_else(|e| panic!("not JSON ({e}): {}", lines[2]));
    (lines, json)
}

/// (partition, size, offsetLag, isFuture) of the one log dir of broker 1.
fn partitions(json: &Value) -> Vec<(String, u64, i64, bool)> {
    let dir = &json["brokers"][0]["logDirs"][0];
    dir["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["partition"].as_str().unwrap().to_string(),
                p["size"].as_u64().unwrap(),
                p["offsetLag"].as_i64().unwrap(),
                p["isFuture"].as_bool().unwrap(),
            )
        })
        .collect()
}

#[test]
fn describe_reports_every_partition_with_its_log_file_size() {
    let server = Server::start(&[]);
    let b = server.bootstrap();
    create_topic(&b, "events", 1);
    create_topic(&b, "quiet", 1);
    produce(&b, "events", "one\ntwo\nthree\n");
    let log_dir = server.dir.join("logs");
    let events_bytes = log_file_bytes(&log_dir.join("events-0"));
    assert!(events_bytes > 0);

    let out = log_dirs(&b, &["--describe"]).ok();
    let (lines, json) = describe(&out);
    assert_eq!(lines[0], "Querying brokers for log directories information");
    assert_eq!(
        lines[1],
        "Received log directory information from brokers 1"
    );
    // Kafka's key order, as its tool prints it.
    assert!(
        lines[2].starts_with(
            r#"{"brokers":[{"broker":1,"logDirs":[{"partitions":[{"partition":"events-0","size":"#
        ),
        "{}",
        lines[2]
    );
    assert!(lines[2].ends_with(r#"}]}],"version":1}"#), "{}", lines[2]);
    assert_eq!(json["version"], 1);
    assert_eq!(json["brokers"].as_array().unwrap().len(), 1);
    assert_eq!(json["brokers"][0]["broker"], 1);
    let dir = &json["brokers"][0]["logDirs"][0];
    assert_eq!(json["brokers"][0]["logDirs"].as_array().unwrap().len(), 1);
    assert_eq!(dir["error"], Value::Null);
    assert_eq!(dir["logDir"].as_str().unwrap(), log_dir.to_str().unwrap());
    assert_eq!(
        partitions(&json),
        vec![
            ("events-0".to_string(), events_bytes, 0, false),
            ("quiet-0".to_string(), 0, 0, false),
        ]
    );

    // --topic-list keeps the dirs, drops the other topics' partitions.
    let out = log_dirs(&b, &["--describe", "--topic-list", "quiet,absent"]).ok();
    let (_, json) = describe(&out);
    assert_eq!(
        partitions(&json),
        vec![("quiet-0".to_string(), 0, 0, false)]
    );

    // --broker-list naming this broker is the same as naming none.
    let out = log_dirs(&b, &["--describe", "--broker-list", "1"]).ok();
    let (lines, json) = describe(&out);
    assert_eq!(
        lines[1],
        "Received log directory information from brokers 1"
    );
    assert_eq!(partitions(&json).len(), 2);
}

#[test]
fn unknown_brokers_and_bad_flags_are_readable_errors() {
    let server = Server::start(&[]);
    let b = server.bootstrap();
    let out = log_dirs(&b, &["--describe", "--broker-list", "1,3,2"]).fails_with(
        "ERROR: The given brokers do not exist from --broker-list: 2,3. Current existent brokers: 1",
    );
    assert_eq!(out.stdout, "");

    let out = log_dirs(&b, &["--describe", "--broker-list", "1,x"]);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.contains("\"x\" is not a broker id"), "{out:?}");
    let out = log_dirs(&b, &[]);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.contains("--describe"), "{out:?}");
}
