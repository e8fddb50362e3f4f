//! Consumer groups with real clients against a real `weir server`:
//! kafkajs (whose consumer always uses a group), kafka-python and
//! confluent-kafka (two members splitting a topic, then a resume from the
//! committed offsets), and kcat's balanced consumer. `.ci/run` installs
//! the clients; a missing one fails the test.

mod common;

use common::server::Server;
use std::path::{Path, PathBuf};
use std::process::Command;

fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/interop")
}

fn run_ok(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e} (run `bash .ci/run` to install the clients)"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{cmd:?} failed\nstdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn kafkajs_produces_and_consumes_in_a_group_and_resumes_from_commits() {
    let js = interop_dir().join("js");
    assert!(
        js.join("node_modules/kafkajs").is_dir(),
        "kafkajs is not installed in tests/interop/js; run `bash .ci/run`"
    );
    let server = Server::start(&[]);
    let out = run_ok(
        Command::new("node")
            .arg(js.join("roundtrip.js"))
            .arg(server.bootstrap()),
    );
    assert!(out.contains("kafkajs: 500 then 50 messages OK"), "{out}");
}

fn python_group(client: &str) {
    let server = Server::start(&[]);
    let script = interop_dir().join("python/group_consume.py");
    let out = run_ok(
        Command::new("python3")
            .arg(script)
            .arg(server.bootstrap())
            .arg(client),
    );
    assert!(
        out.contains(&format!("{client} group:")) && out.contains("resumed 40 OK"),
        "{out}"
    );
}

#[test]
fn kafka_python_group_splits_partitions_and_resumes_from_commits() {
    python_group("kafka-python");
}

#[test]
fn confluent_kafka_group_splits_partitions_and_resumes_from_commits() {
    python_group("confluent-kafka");
}

#[test]
fn committed_offsets_survive_a_broker_kill() {
    let mut server = Server::start(&["num.partitions=1"]);
    let scratch = server.dir.clone();
    let produce = |bootstrap: &str, range: std::ops::Range<u32>| {
        let input: String = range.map(|i| format!("v{i}\n")).collect();
        let file = scratch.join("input.txt");
        std::fs::write(&file, input).expect("write input");
        run_ok(
            Command::new("kcat")
                .args(["-b", bootstrap, "-P", "-t", "g", "-l"])
                .arg(&file),
        );
    };
    let consume = |bootstrap: &str| -> Vec<String> {
        // -G: balanced consumer in group "kg"; -e exits at the end.
        let out = run_ok(Command::new("kcat").args([
            "-b",
            bootstrap,
            "-G",
            "kg",
            "-X",
            "auto.offset.reset=earliest",
            "-e",
            "-q",
            "-f",
            "%s\n",
            "g",
        ]));
        out.lines().map(str::to_string).collect()
    };
    produce(&server.bootstrap(), 0..100);
    assert_eq!(consume(&server.bootstrap()).len(), 100);
    server.kill();
    server.restart();
    produce(&server.bootstrap(), 100..130);
    let resumed = consume(&server.bootstrap());
    let expected: Vec<String> = (100..130).map(|i| format!("v{i}")).collect();
    assert_eq!(
        resumed, expected,
        "kcat -G resumed from the committed offset"
    );
}
