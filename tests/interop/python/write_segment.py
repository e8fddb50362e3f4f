#!/usr/bin/env python3
"""Write a Kafka .log segment with kafka-python's record builder, an encoder
independent of Weir's and of the kafka-protocol crate, plus a JSON file that
says exactly what was written.

Usage: write_segment.py OUT_DIR

Creates OUT_DIR/00000000000000001000.log (batches at offsets 1000...) and
OUT_DIR/expected.json. Besides what a producer sends, three batches carry
what only a broker writes: an ABORT transaction marker (control batch), a
LogAppendTime batch and a batch with a delete horizon (set by compaction). The Rust test crates/weir-cli/tests/interop_python.rs
runs `weir dump-log --print-data-log` on the segment and checks it lists
exactly these batches and records.

Needs: kafka-python, and for its codecs python-snappy, lz4, zstandard
(tests/interop/python/requirements.txt; `.ci/run` installs it).

The builder writes batches as a producer does (base offset 0, no leader
epoch); this script then stamps the base offset and partition leader epoch
as a broker does on append. Both fields sit before the CRC'd range, so the
CRC the builder computed stays valid.
"""

import json
import os
import struct
import sys

from kafka.record.default_records import DefaultRecordBatchBuilder
from kafka.record.util import calc_crc32c

BASE_OFFSET = 1000
LEADER_EPOCH = 5
BASE_TIMESTAMP_MS = 1_710_000_000_000
CODECS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}
# Attribute bits only a broker sets (Kafka's DefaultRecordBatch).
LOG_APPEND_TIME_BIT = 0x08
CONTROL_BIT = 0x20
DELETE_HORIZON_BIT = 0x40
LOG_APPEND_TIME_MS = 1_720_000_000_000


def record(i, key, value, headers):
    return {"key": key, "value": value, "headers": headers, "i": i}


def plain_records(tag, n):
    """Records with keys, values and two headers; values repeat so that
    every codec actually shrinks them (kafka-python falls back to no
    compression when it would not)."""
    return [
        record(
            i,
            f"{tag}-k{i}",
            f"{tag}-value-{i}-" + "z" * 40,
            [("src", b"python"), ("i", str(i).encode())],
        )
        for i in range(n)
    ]


def odd_records():
    """The edge cases: null key, null value (tombstone), empty key, no
    headers, a header with a null value, non-ASCII text."""
    return [
        record(0, None, "null-key-record", []),
        record(1, "tombstone", None, []),
        record(2, "", "empty-key", [("src", None)]),
        record(3, "unicode-k", "h\u00e9llo \u2713 w\u00f6rld", [("src", b"python")]),
    ]


def abort_marker(coordinator_epoch):
    """A transaction marker as the broker writes it: key (version 0,
    type 0 = ABORT), value (version 0, coordinator epoch)."""
    rec = record(0, None, None, [])
    rec["raw_key"] = struct.pack(">hh", 0, 0)
    rec["raw_value"] = struct.pack(">hi", 0, coordinator_epoch)
    rec["control"] = {"type": "ABORT", "coordinator_epoch": coordinator_epoch}
    return rec


# (codec, producer id, producer epoch, base sequence, transactional,
#  records, what the broker stamps: "log_append_time" | "delete_horizon" |
#  "control" | None)
BATCHES = [
    ("none", -1, -1, -1, False, plain_records("none", 5), None),
    ("gzip", -1, -1, -1, False, plain_records("gzip", 20), None),
    ("snappy", -1, -1, -1, False, plain_records("snappy", 20), None),
    ("lz4", -1, -1, -1, False, plain_records("lz4", 20), None),
    ("zstd", -1, -1, -1, False, plain_records("zstd", 20), None),
    ("none", 42, 3, 10, False, plain_records("idem", 4), None),
    ("gzip", 43, 0, 0, True, plain_records("txn", 6), None),
    ("none", 43, 0, -1, True, [abort_marker(7)], "control"),
    ("none", -1, -1, -1, False, odd_records(), None),
    ("lz4", -1, -1, -1, False, plain_records("appended", 3), "log_append_time"),
    ("none", -1, -1, -1, False, plain_records("compacted", 2), "delete_horizon"),
]


def build_batch(spec, first_timestamp):
    codec, pid, epoch, base_seq, txn, records, _ = spec
    builder = DefaultRecordBatchBuilder(
        magic=2,
        compression_type=CODECS[codec],
        is_transactional=txn,
        producer_id=pid,
        producer_epoch=epoch,
        base_sequence=base_seq,
        batch_size=1 << 20,
    )
    for r in records:
        key, value = raw_key(r), raw_value(r)
        ts = first_timestamp + r["i"]
        if builder.append(r["i"], ts, key, value, r["headers"]) is None:
            raise SystemExit("record did not fit the batch")
    buf = builder.build()
    attributes = struct.unpack_from(">h", buf, 21)[0]
    if attributes & 0x7 != CODECS[codec]:
        raise SystemExit(f"kafka-python did not apply codec {codec}")
    return buf


def raw_key(r):
    if "raw_key" in r:
        return r["raw_key"]
    return None if r["key"] is None else r["key"].encode()


def raw_value(r):
    if "raw_value" in r:
        return r["raw_value"]
    return None if r["value"] is None else r["value"].encode()


def broker_stamp(buf, stamp):
    """Set what a broker (or the log cleaner) sets, then the CRC again:
    LogAppendTime (maxTimestamp becomes the append time), the control bit,
    or the delete horizon (KIP-534: baseTimestamp is the horizon)."""
    if stamp is None:
        return
    bit = {
        "log_append_time": LOG_APPEND_TIME_BIT,
        "control": CONTROL_BIT,
        "delete_horizon": DELETE_HORIZON_BIT,
    }[stamp]
    attributes = struct.unpack_from(">h", buf, 21)[0] | bit
    struct.pack_into(">h", buf, 21, attributes)
    if stamp == "log_append_time":
        struct.pack_into(">q", buf, 35, LOG_APPEND_TIME_MS)
    struct.pack_into(">I", buf, 17, calc_crc32c(bytes(buf[21:])))


def describe_record(r, offset, first_ts, base_seq, stamp):
    key, value = raw_key(r), raw_value(r)
    return {
        "offset": offset + r["i"],
        "timestamp": LOG_APPEND_TIME_MS if stamp == "log_append_time" else first_ts + r["i"],
        "sequence": -1 if base_seq < 0 else base_seq + r["i"],
        "key_size": -1 if key is None else len(key),
        "value_size": -1 if value is None else len(value),
        "key": r["key"],
        "value": r["value"],
        "header_keys": [k for k, _ in r["headers"]],
        "control": r.get("control"),
    }


def main():
    if len(sys.argv) != 2:
        raise SystemExit("usage: write_segment.py OUT_DIR")
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    segment = bytearray()
    described = []
    offset = BASE_OFFSET
    for n, spec in enumerate(BATCHES):
        codec, pid, epoch, base_seq, txn, records, stamp = spec
        first_ts = BASE_TIMESTAMP_MS + 1000 * n
        buf = build_batch(spec, first_ts)
        broker_stamp(buf, stamp)
        struct.pack_into(">q", buf, 0, offset)
        struct.pack_into(">i", buf, 12, LEADER_EPOCH)
        described.append(
            {
                "base_offset": offset,
                "last_offset": offset + len(records) - 1,
                "count": len(records),
                "codec": codec,
                "producer_id": pid,
                "producer_epoch": epoch,
                "base_sequence": base_seq,
                "is_transactional": txn,
                "is_control": stamp == "control",
                "timestamp_type": "LogAppendTime" if stamp == "log_append_time" else "CreateTime",
                "delete_horizon_ms": first_ts if stamp == "delete_horizon" else None,
                "partition_leader_epoch": LEADER_EPOCH,
                "position": len(segment),
                "size": len(buf),
                "max_timestamp": struct.unpack_from(">q", buf, 35)[0],
                "crc": struct.unpack_from(">I", buf, 17)[0],
                "records": [describe_record(r, offset, first_ts, base_seq, stamp) for r in records],
            }
        )
        segment += buf
        offset += len(records)
    name = f"{BASE_OFFSET:020d}.log"
    with open(os.path.join(out_dir, name), "wb") as f:
        f.write(segment)
    with open(os.path.join(out_dir, "expected.json"), "w", encoding="utf-8") as f:
        json.dump({"file": name, "base_offset": BASE_OFFSET, "batches": described}, f, indent=1)


if __name__ == "__main__":
    main()
