//! Real Kafka clients against a real `weir server`: kcat (Debian's, with
//! an old librdkafka 2.0, so version negotiation is exercised),
//! kafka-python and confluent-kafka (librdkafka 2.x). `.ci/run` installs
//! them; a missing client is a failure, not a skip.

mod common;

use common::server::Server;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn require(program: &str, probe: &[&str]) {
    let ok = Command::new(program)
        .args(probe)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "`{program}` is not usable here; run `bash .ci/run` (it installs the interop clients)"
    );
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("spawn client");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\nstdout: {}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    out
}

fn interop_script(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/interop/python")
        .join(name)
        .display()
        .to_string()
}

#[test]
fn kcat_metadata_produce_and_consume_10000_keyed_records_with_headers() {
    require("kcat", &["-V"]);
    let server = Server::start(&["num.partitions=1"]);
    let bootstrap = server.bootstrap();
    let input: String = (0..10_000)
        .map(|i| format!("key-{i}:value-{i}-{}\n", "z".repeat(i % 40)))
        .collect();
    let mut producer = Command::new("kcat")
        .args([
            "-b", &bootstrap, "-P", "-t", "kcat-t", "-p", "0", "-K:", "-H", "src=kcat", "-z",
            "snappy",
        ])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn kcat -P");
    producer
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("feed kcat");
    let out = producer.wait_with_output().expect("kcat -P");
    assert!(
        out.status.success(),
        "kcat -P: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = run(Command::new("kcat").args([
        "-b",
        &bootstrap,
        "-C",
        "-t",
        "kcat-t",
        "-o",
        "beginning",
        "-e",
        "-q",
        "-f",
        "%k:%s|%h|%o\n",
    ]));
    let got = String::from_utf8(out.stdout).expect("utf-8");
    let expected: String = input
        .lines()
        .enumerate()
        .map(|(i, line)| format!("{line}|src=kcat|{i}\n"))
        .collect();
    assert_eq!(got, expected, "kcat read back something else than it wrote");

    let out = run(Command::new("kcat").args(["-b", &bootstrap, "-L", "-t", "kcat-t"]));
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(listing.contains("broker 1 at 127.0.0.1"), "{listing}");
    assert!(
        listing.contains("partition 0, leader 1, replicas: 1, isrs: 1"),
        "{listing}"
    );
}

fn python_roundtrip(client: &str) {
    let module = if client == "kafka-python" {
        "kafka"
    } else {
        "confluent_kafka"
    };
    require("python3", &["-c", &format!("import {module}")]);
    let server = Server::start(&[]);
    let out = run(Command::new("python3")
        .arg(interop_script("clients_roundtrip.py"))
        .arg(server.bootstrap())
        .arg(client));
    let report = String::from_utf8_lossy(&out.stdout);
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        assert!(
            report.contains(&format!("{client} {codec}: 2000 records OK")),
            "{report}"
        );
    }
}

#[test]
fn kafka_python_round_trips_every_codec_with_idempotence() {
    python_roundtrip("kafka-python");
}

#[test]
fn confluent_kafka_round_trips_every_codec_with_idempotence() {
    python_roundtrip("confluent-kafka");
}

#[test]
fn kafka_python_admin_creates_describes_alters_and_deletes_topics() {
    require("python3", &["-c", "import kafka"]);
    let server = Server::start(&[]);
    let out = run(Command::new("python3")
        .arg(interop_script("admin_roundtrip.py"))
        .arg(server.bootstrap()));
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        report.contains("kafka-python admin: create/list/describe/alter/partitions/delete OK"),
        "{report}"
    );
}
