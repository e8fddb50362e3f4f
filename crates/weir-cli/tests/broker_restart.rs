//! A real `weir server` killed with SIGKILL or stopped with SIGTERM keeps
//! every acknowledged record, and a clean stop leaves Kafka's checkpoint
//! files with the partition's high watermark.

mod common;

use common::server::Server;
use std::io::Write;
use std::process::{Command, Stdio};

fn produce(bootstrap: &str, topic: &str, from: usize, count: usize) {
    let input: String = (from..from + count)
        .map(|i| format!("k{i}:v{i}\n"))
        .collect();
    let mut child = Command::new("kcat")
        .args([
            "-b", bootstrap, "-P", "-t", topic, "-p", "0", "-K:", "-X", "acks=1",
        ])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kcat is installed by .ci/run");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("feed kcat");
    let out = child.wait_with_output().expect("kcat -P");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && !stderr.contains("ERROR"),
        "kcat -P: {stderr}"
    );
}

fn consume_all(bootstrap: &str, topic: &str) -> Vec<String> {
    let out = Command::new("kcat")
        .args([
            "-b",
            bootstrap,
            "-C",
            "-t",
            topic,
            "-o",
            "beginning",
            "-e",
            "-q",
            "-f",
            "%k:%s\n",
        ])
        .output()
        .expect("kcat -C");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .map(str::to_string)
        .collect()
}

fn expected(count: usize) -> Vec<String> {
    (0..count).map(|i| format!("k{i}:v{i}")).collect()
}

#[test]
fn sigkill_keeps_every_acknowledged_record_when_each_is_flushed() {
    let mut server = Server::start(&["num.partitions=1", "log.flush.interval.messages=1"]);
    produce(&server.bootstrap(), "crash", 0, 500);
    server.kill();
    server.restart();
    produce(&server.bootstrap(), "crash", 500, 500);
    server.kill();
    server.restart();
    assert_eq!(consume_all(&server.bootstrap(), "crash"), expected(1000));
}

#[test]
fn sigterm_shuts_down_cleanly_and_writes_the_high_watermark_checkpoint() {
    let mut server = Server::start(&["num.partitions=1"]);
    produce(&server.bootstrap(), "clean", 0, 1000);
    let status = server.terminate();
    assert!(
        status.success(),
        "exit status {status}: {}",
        server.log_text()
    );
    let checkpoint = std::fs::read_to_string(server.dir.join("logs/replication-offset-checkpoint"))
        .expect("replication-offset-checkpoint written at shutdown");
    assert!(
        checkpoint.lines().any(|l| l == "clean 0 1000"),
        "checkpoint lacks `clean 0 1000`:\n{checkpoint}"
    );
    let recovery =
        std::fs::read_to_string(server.dir.join("logs/recovery-point-offset-checkpoint"))
            .expect("recovery-point-offset-checkpoint");
    assert!(recovery.lines().any(|l| l == "clean 0 1000"), "{recovery}");
    server.restart();
    assert_eq!(consume_all(&server.bootstrap(), "clean"), expected(1000));
}
