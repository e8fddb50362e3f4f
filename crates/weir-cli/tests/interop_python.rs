//! An independent writer: kafka-python's `DefaultRecordBatchBuilder` writes
//! a segment (`tests/interop/python/write_segment.py`: every codec, keys,
//! values, headers, nulls, producer ids, and the broker-only attributes:
//! a transaction marker, LogAppendTime, a delete horizon), and
//! `weir dump-log` must list exactly what its JSON says was written.
//!
//! Missing Python or kafka-python fails the test: `.ci/run` installs them,
//! and a skipped interop test would hide a broken decoder.

mod common;

use common::{scratch, weir};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

const INSTALL_HINT: &str = "run the install step of .ci/run: \
     python3 -m pip install -r tests/interop/python/requirements.txt";

#[test]
fn dump_log_lists_exactly_what_kafka_python_wrote() {
    let dir = scratch("kafka-python");
    let expected = write_segment(&dir);
    let file = expected["file"].as_str().expect("file");
    let run = weir(&dir, &["dump-log", "--print-data-log", "--files", file]);
    run.assert_clean();
    let want = expected_dump(&expected);
    assert_eq!(
        run.stdout.lines().collect::<Vec<_>>(),
        want.lines().collect::<Vec<_>>()
    );
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        assert!(
            run.stdout.contains(&format!(" compresscodec: {codec} ")),
            "{codec}"
        );
    }
}

/// Run the Python writer into `dir` and read back its JSON.
fn write_segment(dir: &Path) -> Value {
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/interop/python/write_segment.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run python3 ({e}); {INSTALL_HINT}"));
    assert!(
        out.status.success(),
        "write_segment.py failed; {INSTALL_HINT}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json = std::fs::read_to_string(dir.join("expected.json")).expect("expected.json");
    serde_json::from_str(&json).expect("expected.json parses")
}

/// The dump Kafka's tool would print for the segment the JSON describes.
fn expected_dump(segment: &Value) -> String {
    let mut out = format!(
        "Dumping {}\nLog starting offset: {}\n",
        str_of(&segment["file"]),
        segment["base_offset"]
    );
    for batch in segment["batches"].as_array().expect("batches") {
        out.push_str(&batch_line(batch));
        let timestamp_type = str_of(&batch["timestamp_type"]);
        for record in batch["records"].as_array().expect("records") {
            out.push_str(&record_line(record, timestamp_type));
        }
    }
    out
}

fn batch_line(b: &Value) -> String {
    let last_sequence = match b["base_sequence"].as_i64().unwrap() {
        s if s < 0 => -1,
        s => s + b["count"].as_i64().unwrap() - 1,
    };
    let delete_horizon = match b["delete_horizon_ms"].as_i64() {
        Some(ms) => format!("OptionalLong[{ms}]"),
        None => "OptionalLong.empty".to_string(),
    };
    format!(
        "baseOffset: {} lastOffset: {} count: {} baseSequence: {} lastSequence: {last_sequence} \
         producerId: {} producerEpoch: {} partitionLeaderEpoch: {} isTransactional: {} \
         isControl: {} deleteHorizonMs: {delete_horizon} position: {} {}: {} \
         size: {} magic: 2 compresscodec: {} crc: {} isvalid: true\n",
        b["base_offset"],
        b["last_offset"],
        b["count"],
        b["base_sequence"],
        b["producer_id"],
        b["producer_epoch"],
        b["partition_leader_epoch"],
        b["is_transactional"],
        b["is_control"],
        b["position"],
        str_of(&b["timestamp_type"]),
        b["max_timestamp"],
        b["size"],
        str_of(&b["codec"]),
        b["crc"],
    )
}

fn record_line(r: &Value, timestamp_type: &str) -> String {
    let keys: Vec<&str> = r["header_keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(str_of)
        .collect();
    let mut line = format!(
        "| offset: {} {timestamp_type}: {} keySize: {} valueSize: {} sequence: {} headerKeys: [{}]",
        r["offset"],
        r["timestamp"],
        r["key_size"],
        r["value_size"],
        r["sequence"],
        keys.join(","),
    );
    if let Some(control) = r["control"].as_object() {
        line.push_str(&format!(
            " endTxnMarker: {} coordinatorEpoch: {}",
            str_of(&control["type"]),
            control["coordinator_epoch"]
        ));
        return line + "\n";
    }
    if let Some(key) = r["key"].as_str() {
        line.push_str(&format!(" key: {key}"));
    }
    if let Some(value) = r["value"].as_str() {
        line.push_str(&format!(" payload: {value}"));
    }
    line + "\n"
}

fn str_of(v: &Value) -> &str {
    v.as_str().expect("a JSON string")
}
