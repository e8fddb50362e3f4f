//! `.log` segments, printed as Kafka's `DumpLogSegments.dumpLog` prints them.
//!
//! Batches are walked with [`BatchIter::new`] (headers only): like Kafka's
//! `FileLogInputStream`, a batch whose CRC does not match is still framed
//! by its length, so it is printed with `isvalid: false` and the walk goes
//! on. The walk stops where no whole batch can be read (a torn tail, a
//! garbage length); Kafka then prints `Found N invalid bytes at the end of
//! <name>`, and so do we, with the reason on stderr.
//!
//! Records are decoded by the `kafka-protocol` crate through
//! [`decode_batch`], which refuses record counts that cannot fit the batch.

use super::Options;
use std::fmt::Write as _;
use std::io::{self, Write};
use weir_protocol::batch::{compute_crc, write_crc, BatchRef};
use weir_protocol::records::{decode_batch, DecodeError, Record};
use weir_protocol::{BatchHeader, BatchIter, TimestampType};

/// Print the segment `bytes` (file `name`, base offset `base`); returns the
/// findings for stderr.
pub(super) fn dump(
    name: &str,
    base: i64,
    bytes: &[u8],
    opts: Options,
    out: &mut dyn Write,
) -> io::Result<Vec<String>> {
    writeln!(out, "Log starting offset: {base}")?;
    let mut findings = Vec::new();
    let mut offsets = OffsetSequence::default();
    let mut batches = BatchIter::new(bytes);
    for batch in batches.by_ref() {
        writeln!(out, "{}", batch_line(&batch))?;
        if opts.records {
            dump_records(name, &batch, opts, &mut offsets, &mut findings, out)?;
        }
    }
    let trailing = bytes.len() - batches.position();
    if trailing > 0 {
        writeln!(out, "Found {trailing} invalid bytes at the end of {name}")?;
        if let Some((position, why)) = batches.error() {
            findings.push(format!(
                "{name}: no whole batch at position {position}: {why}"
            ));
        }
    }
    findings.extend(offsets.findings(name));
    Ok(findings)
}

/// Kafka's `printBatchLevel` line for a v2 batch.
fn batch_line(batch: &BatchRef<'_>) -> String {
    let h = &batch.header;
    format!(
        "baseOffset: {} lastOffset: {} count: {} baseSequence: {} lastSequence: {} \
         producerId: {} producerEpoch: {} partitionLeaderEpoch: {} isTransactional: {} \
         isControl: {} deleteHorizonMs: {} position: {} {}: {} size: {} magic: {} \
         compresscodec: {} crc: {} isvalid: {}",
        h.base_offset,
        h.last_offset(),
        h.record_count,
        h.base_sequence,
        h.last_sequence(),
        h.producer_id,
        h.producer_epoch,
        h.partition_leader_epoch,
        h.is_transactional(),
        h.is_control(),
        delete_horizon(h),
        batch.position,
        timestamp_type_name(h),
        h.max_timestamp,
        batch.bytes.len(),
        h.magic,
        codec_name(h),
        h.crc,
        crc_matches(batch),
    )
}

/// Java's `OptionalLong.toString`, as Kafka prints `deleteHorizonMs`: the
/// baseTimestamp is the delete horizon once compaction has set attribute
/// bit 6 (KIP-534).
fn delete_horizon(h: &BatchHeader) -> String {
    if h.has_delete_horizon() {
        format!("OptionalLong[{}]", h.base_timestamp)
    } else {
        "OptionalLong.empty".to_string()
    }
}

/// Java's `TimestampType.toString`.
fn timestamp_type_name(h: &BatchHeader) -> &'static str {
    match h.timestamp_type() {
        TimestampType::CreateTime => "CreateTime",
        TimestampType::LogAppendTime => "LogAppendTime",
    }
}

/// Kafka cannot name codec ids 5-7 (it throws); we print the raw id.
fn codec_name(h: &BatchHeader) -> String {
    match h.compression() {
        Some(c) => c.name().to_string(),
        None => format!("unknown({})", h.attributes & 0x7),
    }
}

/// Kafka's `isValid`: the stored CRC-32C matches the bytes.
fn crc_matches(batch: &BatchRef<'_>) -> bool {
    compute_crc(batch.bytes) == batch.header.crc
}

fn dump_records(
    name: &str,
    batch: &BatchRef<'_>,
    opts: Options,
    offsets: &mut OffsetSequence,
    findings: &mut Vec<String>,
    out: &mut dyn Write,
) -> io::Result<()> {
    let records = match decode_records(batch) {
        Ok(records) => records,
        Err(e) => {
            findings.push(format!(
                "{name}: cannot decode the records of the batch at position {}: {e}",
                batch.position
            ));
            // Its records are unknown, not missing: no gap to report.
            offsets.skip_to(batch.header.last_offset());
            return Ok(());
        }
    };
    for record in &records {
        offsets.see(record.offset);
        writeln!(out, "{}", record_line(&batch.header, record, opts))?;
    }
    Ok(())
}

/// Kafka prints the records of a batch whose CRC is wrong as they parse;
/// `kafka-protocol` refuses such a batch, so it gets a copy with the CRC
/// recomputed. Everything else about the bytes is left as found.
fn decode_records(batch: &BatchRef<'_>) -> Result<Vec<Record>, DecodeError> {
    if crc_matches(batch) {
        return Ok(decode_batch(batch.bytes)?.1);
    }
    let mut copy = batch.bytes.to_vec();
    write_crc(&mut copy);
    Ok(decode_batch(&copy)?.1)
}

/// One `| offset: ...` line: record metadata, then for a control record
/// what it marks, else (with `--print-data-log`) key and payload as UTF-8,
/// each left out when null, as Kafka's `StringDecoder` path does; with
/// `--offsets-decoder` key and payload as Kafka's offsets decoder prints
/// them.
fn record_line(h: &BatchHeader, r: &Record, opts: Options) -> String {
    let mut line = format!(
        "| offset: {} {}: {} keySize: {} valueSize: {} sequence: {} headerKeys: [{}]",
        r.offset,
        timestamp_type_name(h),
        record_timestamp(h, r),
        size(r.key.as_deref()),
        size(r.value.as_deref()),
        record_sequence(h, r.offset),
        header_keys(r),
    );
    if h.is_control() {
        line.push(' ');
        line.push_str(&control_text(r));
    } else if opts.offsets {
        let (key, payload) = weir_broker::offsets_topic::describe_record(
            r.key.as_deref(),
            r.value.as_deref(),
            r.offset,
        );
        let _ = write!(line, " key: {key}");
        if let Some(payload) = payload {
            let _ = write!(line, " payload: {payload}");
        }
    } else if opts.data {
        if let Some(key) = &r.key {
            let _ = write!(line, " key: {}", String::from_utf8_lossy(key));
        }
        if let Some(value) = &r.value {
            let _ = write!(line, " payload: {}", String::from_utf8_lossy(value));
        }
    }
    line
}

/// Under LogAppendTime every record carries the batch's maxTimestamp
/// (Kafka's `DefaultRecordBatch` iterator); `kafka-protocol` reports
/// baseTimestamp + delta instead, so it is replaced here.
fn record_timestamp(h: &BatchHeader, r: &Record) -> i64 {
    match h.timestamp_type() {
        TimestampType::LogAppendTime => h.max_timestamp,
        TimestampType::CreateTime => r.timestamp,
    }
}

/// Kafka's `DefaultRecord.sequence`: −1 when the batch has no producer
/// sequence, else baseSequence + offset delta wrapping past `i32::MAX` to 0
/// (`DefaultRecordBatch.incrementSequence`). `kafka-protocol` adds the
/// delta to −1 too, which Kafka never prints.
fn record_sequence(h: &BatchHeader, offset: i64) -> i64 {
    if h.base_sequence < 0 {
        return -1;
    }
    let next = i64::from(h.base_sequence) + (offset - h.base_offset);
    if next > i64::from(i32::MAX) {
        next - i64::from(i32::MAX) - 1
    } else {
        next
    }
}

fn size(bytes: Option<&[u8]>) -> i64 {
    bytes.map_or(-1, |b| b.len() as i64)
}

/// `[k1,k2]`. `kafka-protocol` keeps headers in a map, so a key repeated
/// within one record is listed once (Kafka would list it each time).
fn header_keys(r: &Record) -> String {
    let keys: Vec<&str> = r.headers.keys().map(|k| &**k).collect();
    keys.join(",")
}

/// What Kafka prints for a control record (KIP-98 transaction markers,
/// KRaft control records). Kafka prints the snapshot and KRaft records as
/// JSON; Weir prints their type name and id only. Kafka throws on a
/// malformed key or marker; Weir says what is wrong and goes on.
fn control_text(r: &Record) -> String {
    let key = r.key.as_deref().unwrap_or_default();
    if key.len() < 4 {
        return format!("controlType: invalid (key of {} bytes, need 4)", key.len());
    }
    let version = i16::from_be_bytes([key[0], key[1]]);
    if version < 0 {
        return format!("controlType: invalid (key version {version})");
    }
    let type_id = i16::from_be_bytes([key[2], key[3]]);
    match type_id {
        0 | 1 => end_txn_marker(type_id, r.value.as_deref().unwrap_or_default()),
        _ => format!("controlType: {}({type_id})", control_type_name(type_id)),
    }
}

/// `EndTransactionMarker`: version i16, then the coordinator epoch i32.
fn end_txn_marker(type_id: i16, value: &[u8]) -> String {
    let kind = control_type_name(type_id);
    if value.len() < 6 || i16::from_be_bytes([value[0], value[1]]) < 0 {
        return format!("endTxnMarker: {kind} coordinatorEpoch: invalid (malformed marker value)");
    }
    let epoch = i32::from_be_bytes([value[2], value[3], value[4], value[5]]);
    format!("endTxnMarker: {kind} coordinatorEpoch: {epoch}")
}

/// Kafka's `ControlRecordType` names.
fn control_type_name(type_id: i16) -> &'static str {
    match type_id {
        0 => "ABORT",
        1 => "COMMIT",
        2 => "LEADER_CHANGE",
        3 => "SNAPSHOT_HEADER",
        4 => "SNAPSHOT_FOOTER",
        5 => "KRAFT_VERSION",
        6 => "KRAFT_VOTERS",
        _ => "UNKNOWN",
    }
}

/// Records whose offset is not the previous one + 1, across all batches of
/// a segment (Kafka's "Non-consecutive offsets" report). Compaction leaves
/// such gaps legitimately; elsewhere they point at damage.
#[derive(Debug, Default)]
struct OffsetSequence {
    last: Option<i64>,
    gaps: Vec<(i64, i64)>,
}

impl OffsetSequence {
    fn see(&mut self, offset: i64) {
        if let Some(last) = self.last {
            if offset != last + 1 {
                self.gaps.push((last, offset));
            }
        }
        self.last = Some(offset);
    }

    /// Carry on after a batch whose records could not be read.
    fn skip_to(&mut self, last_offset: i64) {
        self.last = Some(last_offset);
    }

    fn findings(&self, name: &str) -> Vec<String> {
        if self.gaps.is_empty() {
            return Vec::new();
        }
        let mut lines = vec![format!("Non-consecutive offsets in {name}")];
        lines.extend(
            self.gaps
                .iter()
                .map(|(a, b)| format!("  {a} is followed by {b}")),
        );
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(base_offset: i64, base_sequence: i32) -> BatchHeader {
        BatchHeader {
            base_offset,
            batch_length: 49,
            partition_leader_epoch: 0,
            magic: 2,
            crc: 0,
            attributes: 0,
            last_offset_delta: 3,
            base_timestamp: 10,
            max_timestamp: 20,
            producer_id: 7,
            producer_epoch: 0,
            base_sequence,
            record_count: 4,
        }
    }

    #[test]
    fn record_sequence_follows_kafka() {
        assert_eq!(record_sequence(&header(100, -1), 102), -1);
        assert_eq!(record_sequence(&header(100, 5), 102), 7);
        assert_eq!(record_sequence(&header(100, i32::MAX), 101), 0);
    }

    #[test]
    fn delete_horizon_prints_like_java_optional_long() {
        let mut h = header(0, -1);
        assert_eq!(delete_horizon(&h), "OptionalLong.empty");
        h.attributes |= 1 << 6;
        assert_eq!(delete_horizon(&h), "OptionalLong[10]");
    }

    #[test]
    fn non_consecutive_offsets_are_reported() {
        let mut s = OffsetSequence::default();
        for o in [5, 6, 9, 10] {
            s.see(o);
        }
        assert_eq!(
            s.findings("x.log"),
            vec!["Non-consecutive offsets in x.log", "  6 is followed by 9"]
        );
    }
}
