//! The `__consumer_offsets` topic: where committed offsets live.
//!
//! As in Kafka, a group's offsets are records in partition
//! `partitionFor(group)` of the internal, compacted topic
//! `__consumer_offsets`, and the group's coordinator is that partition's
//! leader. A commit is a record batch appended by the leader and answered
//! once the high watermark passes it (so it is on every ISR member); a new
//! leader rebuilds the groups' offsets by reading its log.
//!
//! The records use Kafka's own schemas (group-coordinator's
//! `OffsetCommitKey` / `OffsetCommitValue`), so Kafka's tools decode them:
//!
//! ```text
//! key   = type i16 (1: offset commit; 0 is the legacy spelling)
//!         | group string | topic string | partition i32
//! value = version i16 (Weir writes 3) | offset i64 | leader epoch i32 (v3+)
//!         | metadata string | commit timestamp i64 | expire timestamp i64 (v1 only)
//!         (v4: the same fields, flexible: compact strings, tagged fields)
//! a null value is a tombstone: the offset was deleted or expired
//! ```
//!
//! `string` is an i16 length and UTF-8 bytes. The `kafka-protocol` crate
//! carries client messages only, not these coordinator records, so their
//! five fields are encoded here. Other record types (group metadata, type
//! 2, which Weir does not write) are skipped on load.

use crate::partition::{Partition, PartitionError};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::error::ResponseError;
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use weir_core::group::{CommittedOffset, GroupError, OffsetRecord};
use weir_core::metadata::NewTopic;
use weir_protocol::{LeaderEpoch, Offset, TopicPartition};

/// The topic's name.
pub const TOPIC: &str = "__consumer_offsets";

/// Kafka's `offsets.topic.segment.bytes` default (100 MiB).
const SEGMENT_BYTES: &str = "104857600";

/// Kafka's `offsets.commit.timeout.ms` default: how long a commit waits
/// for the ISR to have it (then COORDINATOR_NOT_AVAILABLE, as Kafka maps
/// REQUEST_TIMED_OUT).
pub const COMMIT_TIMEOUT_MS: u64 = 5_000;

/// How much of the log one read takes while loading.
const LOAD_READ_BYTES: usize = 4 * 1024 * 1024;

/// The key type of an offset commit record.
const OFFSET_COMMIT_KEY: i16 = 1;
/// The legacy key type of an offset commit record (same fields).
const OFFSET_COMMIT_KEY_LEGACY: i16 = 0;
/// The value version Weir writes (the one with the leader epoch).
const VALUE_VERSION: i16 = 3;

/// The topic as the controller creates it: compacted (Weir keeps every
/// record until a log cleaner exists; retention never deletes it),
/// `compression.type=producer`, 100 MiB segments.
pub fn new_topic(num_partitions: i32, replication_factor: i16) -> NewTopic {
    NewTopic {
        name: TOPIC.to_string(),
        num_partitions,
        replication_factor,
        assignments: Vec::new(),
        configs: vec![
            ("cleanup.policy".into(), Some("compact".into())),
            ("compression.type".into(), Some("producer".into())),
            ("segment.bytes".into(), Some(SEGMENT_BYTES.into())),
        ],
    }
}

fn put_string(buf: &mut BytesMut, s: &str) {
    // Group ids, topic names and metadata are bounded far below i16::MAX
    // by the request checks (offset.metadata.max.bytes is 4096); clamp
    // rather than write a wrong length.
    let bytes = &s.as_bytes()[..s.len().min(i16::MAX as usize)];
    buf.put_i16(bytes.len() as i16);
    buf.put_slice(bytes);
}

/// The record key of `group`'s offset for `tp`.
pub fn encode_key(group: &str, tp: &TopicPartition) -> Bytes {
    let mut buf = BytesMut::with_capacity(10 + group.len() + tp.topic.len());
    buf.put_i16(OFFSET_COMMIT_KEY);
    put_string(&mut buf, group);
    put_string(&mut buf, &tp.topic);
    buf.put_i32(tp.partition);
    buf.freeze()
}

/// The record value of a committed offset (version 3).
pub fn encode_value(value: &CommittedOffset) -> Bytes {
    let mut buf = BytesMut::with_capacity(32 + value.metadata.len());
    buf.put_i16(VALUE_VERSION);
    buf.put_i64(value.offset.0);
    buf.put_i32(value.leader_epoch.0);
    put_string(&mut buf, &value.metadata);
    buf.put_i64(value.commit_timestamp_ms);
    buf.freeze()
}

/// A reader that fails instead of panicking on short input.
struct Reader(Bytes);

impl Reader {
    fn need(&self, n: usize) -> Result<(), String> {
        if self.0.remaining() < n {
            Err(format!("{n} bytes needed, {} left", self.0.remaining()))
        } else {
            Ok(())
        }
    }
    fn i16(&mut self) -> Result<i16, String> {
        self.need(2)?;
        Ok(self.0.get_i16())
    }
    fn i32(&mut self) -> Result<i32, String> {
        self.need(4)?;
        Ok(self.0.get_i32())
    }
    fn i64(&mut self) -> Result<i64, String> {
        self.need(8)?;
        Ok(self.0.get_i64())
    }
    fn bytes(&mut self, n: usize) -> Result<String, String> {
        self.need(n)?;
        let b = self.0.split_to(n);
        String::from_utf8(b.to_vec()).map_err(|e| format!("not UTF-8: {e}"))
    }
    fn string(&mut self) -> Result<String, String> {
        let len = self.i16()?;
        let len = usize::try_from(len).map_err(|_| format!("string length {len}"))?;
        self.bytes(len)
    }
    fn uvarint(&mut self) -> Result<u64, String> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            self.need(1)?;
            let b = self.0.get_u8();
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err("varint too long".into())
    }
    fn compact_string(&mut self) -> Result<String, String> {
        let len = self.uvarint()?;
        let len = usize::try_from(len.checked_sub(1).ok_or("null compact string")?)
            .map_err(|_| "string too long".to_string())?;
        self.bytes(len)
    }
    /// Skip a flexible version's tagged fields.
    fn tagged_fields(&mut self) -> Result<(), String> {
        let count = self.uvarint()?;
        for _ in 0..count {
            let _tag = self.uvarint()?;
            let size = usize::try_from(self.uvarint()?).map_err(|_| "tag too long")?;
            self.need(size)?;
            self.0.advance(size);
        }
        Ok(())
    }
}

/// The (group, partition) of an offset commit key; `None` for another
/// record type.
pub fn decode_key(key: &Bytes) -> Result<Option<(String, TopicPartition)>, String> {
    let mut r = Reader(key.clone());
    match r.i16()? {
        OFFSET_COMMIT_KEY | OFFSET_COMMIT_KEY_LEGACY => {
            let group = r.string()?;
            let topic = r.string()?;
            let partition = r.i32()?;
            Ok(Some((group, TopicPartition::new(topic, partition))))
        }
        _ => Ok(None),
    }
}

/// A committed offset from a record value of any version (0-4).
pub fn decode_value(value: &Bytes) -> Result<CommittedOffset, String> {
    decode_value_versioned(value).map(|(_, committed, _)| committed)
}

/// The value's version, its committed offset, and its expire timestamp
/// (version 1 only).
fn decode_value_versioned(value: &Bytes) -> Result<(i16, CommittedOffset, Option<i64>), String> {
    let mut r = Reader(value.clone());
    let version = r.i16()?;
    let offset = r.i64()?;
    let leader_epoch = if version >= 3 { r.i32()? } else { -1 };
    let metadata = match version {
        0..=3 => r.string()?,
        4 => r.compact_string()?,
        v => return Err(format!("unknown offset commit value version {v}")),
    };
    let commit_timestamp_ms = r.i64()?;
    let expire = if version == 1 { Some(r.i64()?) } else { None };
    if version >= 4 {
        r.tagged_fields()?;
    }
    let committed = CommittedOffset {
        offset: Offset(offset),
        leader_epoch: LeaderEpoch(leader_epoch),
        metadata,
        commit_timestamp_ms,
    };
    Ok((version, committed, expire))
}

fn json_string(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

/// What `kafka-dump-log.sh --offsets-decoder` prints for a record of
/// `__consumer_offsets`: the key as `{"type":"1","data":{...}}` and the
/// payload as `{"version":"3","data":{...}}` (fields in the schema's
/// order, only those of the record's version), `<DELETE>` for a
/// tombstone; a record it cannot decode gets Kafka's one-line message in
/// place of the key and no payload. Weir decodes the offset commit
/// records (key types 0 and 1); a group metadata value (type 2) is
/// reported as not decoded.
pub fn describe_record(
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    offset: i64,
) -> (String, Option<String>) {
    let Some(key) = key else {
        return (
            format!(
                "Failed to decode message at offset {offset} using offset topic decoder \
                 (message had a missing key)"
            ),
            None,
        );
    };
    let error = |e: String| (format!("Error at offset {offset}, skipping. {e}"), None);
    let mut r = Reader(Bytes::copy_from_slice(key));
    let key_type = match r.i16() {
        Ok(t) => t,
        Err(e) => return error(e),
    };
    let key_json = match key_type {
        OFFSET_COMMIT_KEY | OFFSET_COMMIT_KEY_LEGACY => {
            match decode_key(&Bytes::copy_from_slice(key)) {
                Ok(Some((group, tp))) => format!(
                    "{{\"group\":{},\"topic\":{},\"partition\":{}}}",
                    json_string(&group),
                    json_string(&tp.topic),
                    tp.partition
                ),
                Ok(None) => return error("not an offset commit key".to_string()),
                Err(e) => return error(e),
            }
        }
        2 => match r.string() {
            Ok(group) => format!("{{\"group\":{}}}", json_string(&group)),
            Err(e) => return error(e),
        },
        t => {
            return (
                format!("Unknown record type {t} at offset {offset}, skipping."),
                None,
            )
        }
    };
    let key_text = format!("{{\"type\":\"{key_type}\",\"data\":{key_json}}}");
    let Some(value) = value else {
        return (key_text, Some("<DELETE>".to_string()));
    };
    if key_type == 2 {
        return error("group metadata values are not decoded by weir".to_string());
    }
    let (version, c, expire) = match decode_value_versioned(&Bytes::copy_from_slice(value)) {
        Ok(v) => v,
        Err(e) => return error(e),
    };
    let mut data = format!("{{\"offset\":{}", c.offset.0);
    if version >= 3 {
        data.push_str(&format!(",\"leaderEpoch\":{}", c.leader_epoch.0));
    }
    data.push_str(&format!(
        ",\"metadata\":{},\"commitTimestamp\":{}",
        json_string(&c.metadata),
        c.commit_timestamp_ms
    ));
    if let Some(expire) = expire {
        data.push_str(&format!(",\"expireTimestamp\":{expire}"));
    }
    data.push('}');
    (
        key_text,
        Some(format!("{{\"version\":\"{version}\",\"data\":{data}}}")),
    )
}

/// One record batch (v2, uncompressed) holding `records`; the leader
/// assigns its offsets and epoch on append.
pub fn encode_batch(records: &[OffsetRecord], now_ms: i64) -> Result<Bytes, String> {
    let records: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, r)| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            // No producer id, so the batch's base sequence must be -1; the
            // encoder keeps records in one batch while offset - sequence
            // is constant.
            sequence: (i as i32).wrapping_sub(1),
            timestamp: now_ms,
            key: Some(encode_key(&r.group_id, &r.partition)),
            value: r.value.as_ref().map(encode_value),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(&mut buf, &records, &options).map_err(|e| e.to_string())?;
    Ok(buf.freeze())
}

/// The offset records of one record batch, and the offset after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedBatch {
    /// The batch's last offset + 1: the high watermark that commits it.
    pub next_offset: i64,
    /// Its offset records, in order.
    pub records: Vec<OffsetRecord>,
}

/// The offset records of each whole batch in `bytes` (as a log read
/// returns them), in log order. A record that does not decode is skipped
/// with a warning (Kafka fails the load; a skipped record only loses that
/// one group partition's offset, where failing would lose every group of
/// the partition).
pub fn decode_batches(bytes: &Bytes, out: &mut Vec<LoadedBatch>) -> Result<(), String> {
    let mut pos = 0usize;
    while pos < bytes.len() {
        let header = weir_protocol::BatchHeader::parse(&bytes[pos..]).map_err(|e| e.to_string())?;
        let end = pos + header.total_size();
        if end > bytes.len() {
            return Err(format!("a batch at byte {pos} runs past the read"));
        }
        let mut batch = bytes.slice(pos..end);
        pos = end;
        let mut records = Vec::new();
        while batch.has_remaining() {
            let set = RecordBatchDecoder::decode(&mut batch).map_err(|e| e.to_string())?;
            records.extend(set.records.iter().filter_map(offset_record));
        }
        out.push(LoadedBatch {
            next_offset: header.next_offset().0,
            records,
        });
    }
    Ok(())
}

/// The offset record of a log record; `None` for other record types and
/// for records that do not decode (logged).
fn offset_record(record: &Record) -> Option<OffsetRecord> {
    if record.control {
        return None;
    }
    let (group_id, partition) = match decode_key(record.key.as_ref()?) {
        Ok(k) => k?,
        Err(e) => {
            tracing::warn!(offset = record.offset, "skipping an offsets record: {e}");
            return None;
        }
    };
    match record.value.as_ref().map(decode_value).transpose() {
        Ok(value) => Some(OffsetRecord {
            group_id,
            partition,
            value,
        }),
        Err(e) => {
            tracing::warn!(offset = record.offset, "skipping an offsets record: {e}");
            None
        }
    }
}

/// Every batch of offset records of a led `__consumer_offsets` partition,
/// from its log start to its log end (the leader's log is the truth once
/// it leads; the caller applies what is below the high watermark and
/// holds the rest until the mark passes it).
pub fn load(partition: &Partition) -> Result<Vec<LoadedBatch>, String> {
    let (start, end) = partition.offsets();
    let mut batches = Vec::new();
    let mut next = start;
    // Each read returns at least one batch, so this ends; the count bound
    // guards against a log that reads back nothing.
    for _ in 0..=u32::MAX {
        if next >= end {
            break;
        }
        let read = partition
            .read(next, LOAD_READ_BYTES, true)
            .map_err(|e| e.message)?;
        if read.records.is_empty() {
            break;
        }
        let before = batches.len();
        decode_batches(&read.records, &mut batches)?;
        match batches[before..].last() {
            Some(last) => next = last.next_offset,
            None => break,
        }
    }
    Ok(batches)
}

/// The group error an OffsetCommit gets when appending or replicating its
/// records failed (Kafka's `GroupMetadataManager` mapping): retriable
/// replication trouble is COORDINATOR_NOT_AVAILABLE, a lost leadership
/// NOT_COORDINATOR.
pub fn commit_error(e: &PartitionError) -> GroupError {
    let code = e.code;
    let is = |r: ResponseError| code == r.code();
    if is(ResponseError::NotLeaderOrFollower) || is(ResponseError::KafkaStorageError) {
        GroupError::NotCoordinator
    } else {
        GroupError::CoordinatorNotAvailable
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn committed(offset: i64, epoch: i32, metadata: &str) -> CommittedOffset {
        CommittedOffset {
            offset: Offset(offset),
            leader_epoch: LeaderEpoch(epoch),
            metadata: metadata.to_string(),
            commit_timestamp_ms: 1_700_000_000_123,
        }
    }

    #[test]
    fn key_and_value_bytes_follow_kafkas_schemas() {
        let key = encode_key("g", &TopicPartition::new("t", 7));
        assert_eq!(
            key.as_ref(),
            &[0, 1, 0, 1, b'g', 0, 1, b't', 0, 0, 0, 7],
            "type 1, group, topic, partition"
        );
        let value = encode_value(&committed(42, 5, "m"));
        let mut expected = vec![0, 3]; // version 3
        expected.extend_from_slice(&42i64.to_be_bytes());
        expected.extend_from_slice(&5i32.to_be_bytes());
        expected.extend_from_slice(&[0, 1, b'm']);
        expected.extend_from_slice(&1_700_000_000_123i64.to_be_bytes());
        assert_eq!(value.as_ref(), expected.as_slice());
    }

    #[test]
    fn values_of_every_version_decode() {
        let ts = 1_700_000_000_123i64.to_be_bytes();
        let mut v0 = vec![0, 0];
        v0.extend_from_slice(&9i64.to_be_bytes());
        v0.extend_from_slice(&[0, 2, b'a', b'b']);
        v0.extend_from_slice(&ts);
        assert_eq!(
            decode_value(&Bytes::from(v0)).unwrap(),
            committed(9, -1, "ab")
        );
        let mut v1 = vec![0, 1];
        v1.extend_from_slice(&9i64.to_be_bytes());
        v1.extend_from_slice(&[0, 0]);
        v1.extend_from_slice(&ts);
        v1.extend_from_slice(&(-1i64).to_be_bytes());
        assert_eq!(
            decode_value(&Bytes::from(v1)).unwrap(),
            committed(9, -1, "")
        );
        let mut v4 = vec![0, 4];
        v4.extend_from_slice(&9i64.to_be_bytes());
        v4.extend_from_slice(&3i32.to_be_bytes());
        v4.extend_from_slice(&[2, b'x']); // compact string: length + 1
        v4.extend_from_slice(&ts);
        v4.extend_from_slice(&[1, 0, 1, 0xff]); // one tagged field, 1 byte
        assert_eq!(
            decode_value(&Bytes::from(v4)).unwrap(),
            committed(9, 3, "x")
        );
        let v3 = encode_value(&committed(11, 2, "meta"));
        assert_eq!(decode_value(&v3).unwrap(), committed(11, 2, "meta"));
    }

    #[test]
    fn damaged_records_are_errors_not_panics() {
        for bytes in [
            &[][..],
            &[0, 3, 0, 0][..],
            &[0, 9, 0, 0, 0, 0, 0, 0, 0, 0][..],
            &[0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x7f, 0xff][..],
        ] {
            assert!(decode_value(&Bytes::copy_from_slice(bytes)).is_err());
        }
        assert!(decode_key(&Bytes::from_static(&[0, 1, 0, 5, b'g'])).is_err());
        assert_eq!(
            decode_key(&Bytes::from_static(&[0, 2, 0, 1, b'g'])).unwrap(),
            None,
            "group metadata keys are not offsets"
        );
    }

    #[test]
    fn a_batch_round_trips_with_tombstones_in_order() {
        let records = vec![
            OffsetRecord {
                group_id: "g".into(),
                partition: TopicPartition::new("t", 0),
                value: Some(committed(5, 1, "")),
            },
            OffsetRecord {
                group_id: "g".into(),
                partition: TopicPartition::new("t", 1),
                value: None,
            },
        ];
        let batch = encode_batch(&records, 1).unwrap();
        let mut out = Vec::new();
        decode_batches(&batch, &mut out).unwrap();
        assert_eq!(
            out,
            vec![LoadedBatch {
                next_offset: 2,
                records
            }]
        );
    }

    #[test]
    fn append_errors_map_as_kafka_maps_them() {
        let e = |r: ResponseError| PartitionError::new(r, "x");
        assert_eq!(
            commit_error(&e(ResponseError::NotLeaderOrFollower)),
            GroupError::NotCoordinator
        );
        for r in [
            ResponseError::NotEnoughReplicas,
            ResponseError::NotEnoughReplicasAfterAppend,
            ResponseError::RequestTimedOut,
        ] {
            assert_eq!(commit_error(&e(r)), GroupError::CoordinatorNotAvailable);
        }
    }

    #[test]
    fn records_print_as_kafkas_offsets_decoder_prints_them() {
        let key = encode_key("my \"group\"", &TopicPartition::new("t", 3));
        let value = encode_value(&committed(42, 5, "m"));
        assert_eq!(
            describe_record(Some(&key), Some(&value), 0),
            (
                r#"{"type":"1","data":{"group":"my \"group\"","topic":"t","partition":3}}"#
                    .to_string(),
                Some(
                    r#"{"version":"3","data":{"offset":42,"leaderEpoch":5,"metadata":"m","commitTimestamp":1700000000123}}"#
                        .to_string()
                )
            )
        );
        assert_eq!(
            describe_record(Some(&key), None, 0).1.as_deref(),
            Some("<DELETE>")
        );
        let mut v1 = vec![0, 1];
        v1.extend_from_slice(&9i64.to_be_bytes());
        v1.extend_from_slice(&[0, 0]);
        v1.extend_from_slice(&7i64.to_be_bytes());
        v1.extend_from_slice(&8i64.to_be_bytes());
        assert_eq!(
            describe_record(Some(&key), Some(&v1), 0).1.as_deref(),
            Some(
                r#"{"version":"1","data":{"offset":9,"metadata":"","commitTimestamp":7,"expireTimestamp":8}}"#
            )
        );
        assert_eq!(
            describe_record(Some(&[0, 9, 0]), None, 12).0,
            "Unknown record type 9 at offset 12, skipping."
        );
        assert!(describe_record(Some(&key), Some(&[0, 3]), 4)
            .0
            .starts_with("Error at offset 4, skipping."));
        assert!(describe_record(None, None, 4).0.contains("missing key"));
    }
}
