//! The Kafka v2 record-batch header ("magic 2"), read straight from bytes.
//!
//! Layout (big-endian), as in Kafka's `DefaultRecordBatch`:
//!
//! | pos | field | type |
//! |---|---|---|
//! | 0 | baseOffset | i64 |
//! | 8 | batchLength (bytes after this field) | i32 |
//! | 12 | partitionLeaderEpoch | i32 |
//! | 16 | magic (= 2) | i8 |
//! | 17 | crc (CRC-32C of bytes 21..end) | u32 |
//! | 21 | attributes | i16 |
//! | 23 | lastOffsetDelta | i32 |
//! | 27 | baseTimestamp | i64 |
//! | 35 | maxTimestamp | i64 |
//! | 43 | producerId | i64 |
//! | 51 | producerEpoch | i16 |
//! | 53 | baseSequence | i32 |
//! | 57 | recordCount | i32 |
//! | 61 | records... | |
//!
//! baseOffset and partitionLeaderEpoch sit before the CRC'd range, which is
//! why a broker can assign offsets and stamp epochs without recomputing it.

use crate::types::{LeaderEpoch, Offset};
use thiserror::Error;

/// Size of the v2 batch header in bytes.
pub const HEADER_SIZE: usize = 61;
/// baseOffset (8) + batchLength (4): the part not counted in batchLength.
pub const LOG_OVERHEAD: usize = 12;
/// The only record-batch format Weir stores.
pub const MAGIC_V2: i8 = 2;

const BASE_OFFSET_POS: usize = 0;
const LENGTH_POS: usize = 8;
const EPOCH_POS: usize = 12;
const MAGIC_POS: usize = 16;
const CRC_POS: usize = 17;
const ATTRIBUTES_POS: usize = 21;

/// Why a byte range is not a valid v2 batch.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum BatchError {
    /// Fewer bytes than the header or than batchLength announces.
    #[error("incomplete batch: need {needed} bytes, have {available}")]
    Incomplete {
        /// Bytes the batch needs.
        needed: usize,
        /// Bytes there are.
        available: usize,
    },
    /// batchLength smaller than a header or larger than allowed.
    #[error("invalid batch length {0}")]
    InvalidLength(i32),
    /// Magic byte other than 2.
    #[error("unsupported record batch magic {0}")]
    UnsupportedMagic(i8),
    /// Stored CRC does not match the bytes.
    #[error("batch CRC mismatch: stored {stored}, computed {computed}")]
    CrcMismatch {
        /// CRC in the header.
        stored: u32,
        /// CRC of the bytes.
        computed: u32,
    },
    /// Negative record count, negative lastOffsetDelta, or similar.
    #[error("invalid batch header: {0}")]
    InvalidHeader(&'static str),
}

/// Compression codec from bits 0-2 of the attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// No compression.
    None,
    /// gzip.
    Gzip,
    /// Snappy (xerial framing, as Kafka writes it).
    Snappy,
    /// LZ4 frame.
    Lz4,
    /// Zstandard.
    Zstd,
}

impl Compression {
    /// Kafka's name for the codec, as `kafka-dump-log.sh` prints it.
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }

    fn from_bits(bits: i16) -> Option<Compression> {
        Some(match bits & 0x7 {
            0 => Compression::None,
            1 => Compression::Gzip,
            2 => Compression::Snappy,
            3 => Compression::Lz4,
            4 => Compression::Zstd,
            _ => return None,
        })
    }
}

/// Meaning of the batch timestamps (attribute bit 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampType {
    /// Set by the producer.
    CreateTime,
    /// Set by the broker on append.
    LogAppendTime,
}

/// The parsed 61-byte header of a v2 record batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    /// Offset of the first record.
    pub base_offset: i64,
    /// Bytes after the batchLength field (total size − 12).
    pub batch_length: i32,
    /// Leader epoch stamped by the leader that appended the batch.
    pub partition_leader_epoch: i32,
    /// Format version; always 2 once parsed.
    pub magic: i8,
    /// Stored CRC-32C of bytes 21..end.
    pub crc: u32,
    /// Compression, timestamp type, transactional, control, delete horizon.
    pub attributes: i16,
    /// lastOffset − baseOffset.
    pub last_offset_delta: i32,
    /// Timestamp of the first record.
    pub base_timestamp: i64,
    /// Largest timestamp in the batch.
    pub max_timestamp: i64,
    /// Idempotent/transactional producer id, or −1.
    pub producer_id: i64,
    /// Producer epoch, or −1.
    pub producer_epoch: i16,
    /// Sequence of the first record, or −1.
    pub base_sequence: i32,
    /// Number of records in the batch.
    pub record_count: i32,
}

fn be_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}
fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn be_i64(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}

impl BatchHeader {
    /// Parse the header at the start of `buf` without checking the CRC.
    ///
    /// Checks: 61 bytes present, magic 2, batchLength covers a header.
    /// It does not require the whole batch to be in `buf`; see
    /// [`BatchHeader::total_size`] and [`validate`].
    pub fn parse(buf: &[u8]) -> Result<BatchHeader, BatchError> {
        if buf.len() < HEADER_SIZE {
            return Err(BatchError::Incomplete {
                needed: HEADER_SIZE,
                available: buf.len(),
            });
        }
        let batch_length = be_i32(buf, LENGTH_POS);
        if batch_length < (HEADER_SIZE - LOG_OVERHEAD) as i32 {
            return Err(BatchError::InvalidLength(batch_length));
        }
        let magic = buf[MAGIC_POS] as i8;
        if magic != MAGIC_V2 {
            return Err(BatchError::UnsupportedMagic(magic));
        }
        let h = BatchHeader {
            base_offset: be_i64(buf, BASE_OFFSET_POS),
            batch_length,
            partition_leader_epoch: be_i32(buf, EPOCH_POS),
            magic,
            crc: u32::from_be_bytes([buf[17], buf[18], buf[19], buf[20]]),
            attributes: be_i16(buf, ATTRIBUTES_POS),
            last_offset_delta: be_i32(buf, 23),
            base_timestamp: be_i64(buf, 27),
            max_timestamp: be_i64(buf, 35),
            producer_id: be_i64(buf, 43),
            producer_epoch: be_i16(buf, 51),
            base_sequence: be_i32(buf, 53),
            record_count: be_i32(buf, 57),
        };
        if h.record_count < 0 {
            return Err(BatchError::InvalidHeader("negative record count"));
        }
        if h.last_offset_delta < 0 {
            return Err(BatchError::InvalidHeader("negative lastOffsetDelta"));
        }
        if h.base_offset < 0 {
            return Err(BatchError::InvalidHeader("negative base offset"));
        }
        Ok(h)
    }

    /// Size of the whole batch in bytes, header included.
    pub fn total_size(&self) -> usize {
        self.batch_length as usize + LOG_OVERHEAD
    }

    /// Offset of the last record (base + lastOffsetDelta).
    pub fn last_offset(&self) -> i64 {
        self.base_offset + i64::from(self.last_offset_delta)
    }

    /// The offset after this batch.
    pub fn next_offset(&self) -> Offset {
        Offset(self.last_offset() + 1)
    }

    /// Leader epoch as a newtype.
    pub fn leader_epoch(&self) -> LeaderEpoch {
        LeaderEpoch(self.partition_leader_epoch)
    }

    /// Compression codec, or `None` for the reserved codes 5-7.
    pub fn compression(&self) -> Option<Compression> {
        Compression::from_bits(self.attributes)
    }

    /// CreateTime or LogAppendTime.
    pub fn timestamp_type(&self) -> TimestampType {
        if self.attributes & (1 << 3) != 0 {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        }
    }

    /// Part of a transaction.
    pub fn is_transactional(&self) -> bool {
        self.attributes & (1 << 4) != 0
    }

    /// Holds control records (transaction markers).
    pub fn is_control(&self) -> bool {
        self.attributes & (1 << 5) != 0
    }

    /// The baseTimestamp is a delete horizon (set by compaction).
    pub fn has_delete_horizon(&self) -> bool {
        self.attributes & (1 << 6) != 0
    }

    /// Sequence of the last record, or −1 without a producer sequence.
    /// Wraps at `i32::MAX` as Kafka's `DefaultRecordBatch.incrementSequence`.
    pub fn last_sequence(&self) -> i32 {
        if self.base_sequence < 0 {
            return -1;
        }
        let last = i64::from(self.base_sequence) + i64::from(self.last_offset_delta);
        if last > i64::from(i32::MAX) {
            (last - i64::from(i32::MAX) - 1) as i32
        } else {
            last as i32
        }
    }
}

/// CRC-32C over the CRC'd range of a complete batch (bytes 21..end).
pub fn compute_crc(batch: &[u8]) -> u32 {
    crc32c::crc32c(&batch[ATTRIBUTES_POS.min(batch.len())..])
}

/// Parse and fully check one batch that must fill `batch` exactly:
/// header, length, magic, a known compression code, and the CRC.
pub fn validate(batch: &[u8]) -> Result<BatchHeader, BatchError> {
    let h = BatchHeader::parse(batch)?;
    if h.total_size() != batch.len() {
        if h.total_size() > batch.len() {
            return Err(BatchError::Incomplete {
                needed: h.total_size(),
                available: batch.len(),
            });
        }
        return Err(BatchError::InvalidLength(h.batch_length));
    }
    if h.compression().is_none() {
        return Err(BatchError::InvalidHeader("unknown compression codec"));
    }
    let computed = compute_crc(batch);
    if computed != h.crc {
        return Err(BatchError::CrcMismatch {
            stored: h.crc,
            computed,
        });
    }
    Ok(h)
}

/// Overwrite baseOffset in place (outside the CRC'd range).
pub fn set_base_offset(batch: &mut [u8], offset: Offset) {
    batch[BASE_OFFSET_POS..BASE_OFFSET_POS + 8].copy_from_slice(&offset.0.to_be_bytes());
}

/// Overwrite partitionLeaderEpoch in place (outside the CRC'd range).
pub fn set_partition_leader_epoch(batch: &mut [u8], epoch: LeaderEpoch) {
    batch[EPOCH_POS..EPOCH_POS + 4].copy_from_slice(&epoch.0.to_be_bytes());
}

/// Recompute and store the CRC (for tests and tools that build batches).
pub fn write_crc(batch: &mut [u8]) {
    let crc = compute_crc(batch);
    batch[CRC_POS..CRC_POS + 4].copy_from_slice(&crc.to_be_bytes());
}

/// One batch found by [`BatchIter`].
#[derive(Debug, Clone, Copy)]
pub struct BatchRef<'a> {
    /// Byte position of the batch within the buffer.
    pub position: usize,
    /// Its parsed header.
    pub header: BatchHeader,
    /// Its bytes, header included.
    pub bytes: &'a [u8],
}

/// Walks the batches of a buffer of concatenated v2 batches (a `.log`
/// segment, a Produce or Fetch `records` field), checking each header and,
/// if asked, each CRC. It stops at the first problem and remembers it, so
/// callers can tell "clean end" from "torn or corrupt tail".
#[derive(Debug)]
pub struct BatchIter<'a> {
    buf: &'a [u8],
    pos: usize,
    check_crc: bool,
    error: Option<(usize, BatchError)>,
}

impl<'a> BatchIter<'a> {
    /// Iterate headers only (no CRC check).
    pub fn new(buf: &'a [u8]) -> Self {
        BatchIter {
            buf,
            pos: 0,
            check_crc: false,
            error: None,
        }
    }

    /// Iterate and validate each batch's CRC too.
    pub fn validating(buf: &'a [u8]) -> Self {
        BatchIter {
            check_crc: true,
            ..BatchIter::new(buf)
        }
    }

    /// Position after the last good batch.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// The problem that stopped the walk, with its byte position; `None` if
    /// the buffer ended exactly on a batch boundary (or is not walked yet).
    pub fn error(&self) -> Option<&(usize, BatchError)> {
        self.error.as_ref()
    }
}

impl<'a> Iterator for BatchIter<'a> {
    type Item = BatchRef<'a>;

    fn next(&mut self) -> Option<BatchRef<'a>> {
        if self.error.is_some() || self.pos >= self.buf.len() {
            return None;
        }
        let rest = &self.buf[self.pos..];
        let header = match BatchHeader::parse(rest) {
            Ok(h) => h,
            Err(e) => {
                self.error = Some((self.pos, e));
                return None;
            }
        };
        if header.total_size() > rest.len() {
            self.error = Some((
                self.pos,
                BatchError::Incomplete {
                    needed: header.total_size(),
                    available: rest.len(),
                },
            ));
            return None;
        }
        let bytes = &rest[..header.total_size()];
        if self.check_crc {
            if let Err(e) = validate(bytes) {
                self.error = Some((self.pos, e));
                return None;
            }
        }
        let item = BatchRef {
            position: self.pos,
            header,
            bytes,
        };
        self.pos += header.total_size();
        Some(item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal valid batch with `n` empty-ish records' worth of payload.
    fn sample(base: i64, count: i32, payload: &[u8]) -> Vec<u8> {
        let mut b = vec![0u8; HEADER_SIZE];
        b.extend_from_slice(payload);
        let len = (b.len() - LOG_OVERHEAD) as i32;
        b[0..8].copy_from_slice(&base.to_be_bytes());
        b[8..12].copy_from_slice(&len.to_be_bytes());
        b[12..16].copy_from_slice(&7i32.to_be_bytes());
        b[16] = 2;
        b[21..23].copy_from_slice(&(1i16 | (1 << 4)).to_be_bytes());
        b[23..27].copy_from_slice(&(count - 1).to_be_bytes());
        b[27..35].copy_from_slice(&1000i64.to_be_bytes());
        b[35..43].copy_from_slice(&2000i64.to_be_bytes());
        b[43..51].copy_from_slice(&55i64.to_be_bytes());
        b[51..53].copy_from_slice(&3i16.to_be_bytes());
        b[53..57].copy_from_slice(&10i32.to_be_bytes());
        b[57..61].copy_from_slice(&count.to_be_bytes());
        write_crc(&mut b);
        b
    }

    #[test]
    fn parses_every_field() {
        let b = sample(100, 5, b"abc");
        let h = validate(&b).unwrap();
        assert_eq!(
            h,
            BatchHeader {
                base_offset: 100,
                batch_length: (HEADER_SIZE + 3 - LOG_OVERHEAD) as i32,
                partition_leader_epoch: 7,
                magic: 2,
                crc: compute_crc(&b),
                attributes: 1 | (1 << 4),
                last_offset_delta: 4,
                base_timestamp: 1000,
                max_timestamp: 2000,
                producer_id: 55,
                producer_epoch: 3,
                base_sequence: 10,
                record_count: 5,
            }
        );
        assert_eq!(h.last_offset(), 104);
        assert_eq!(h.last_sequence(), 14);
        assert_eq!(h.compression(), Some(Compression::Gzip));
        assert!(h.is_transactional());
        assert!(!h.is_control());
        assert_eq!(h.timestamp_type(), TimestampType::CreateTime);
    }

    #[test]
    fn patching_offset_and_epoch_keeps_crc_valid() {
        let mut b = sample(0, 2, b"xyz");
        set_base_offset(&mut b, Offset(123_456));
        set_partition_leader_epoch(&mut b, LeaderEpoch(9));
        let h = validate(&b).unwrap();
        assert_eq!(h.base_offset, 123_456);
        assert_eq!(h.partition_leader_epoch, 9);
    }

    #[test]
    fn detects_flipped_byte_in_crc_range() {
        let mut b = sample(0, 2, b"xyz");
        let last = b.len() - 1;
        b[last] ^= 0x40;
        assert!(matches!(validate(&b), Err(BatchError::CrcMismatch { .. })));
    }

    #[test]
    fn rejects_short_bad_magic_and_bad_length() {
        let b = sample(0, 1, b"");
        assert!(matches!(
            BatchHeader::parse(&b[..60]),
            Err(BatchError::Incomplete { .. })
        ));
        let mut m = b.clone();
        m[16] = 1;
        assert_eq!(validate(&m), Err(BatchError::UnsupportedMagic(1)));
        let mut l = b.clone();
        l[8..12].copy_from_slice(&10i32.to_be_bytes());
        assert_eq!(validate(&l), Err(BatchError::InvalidLength(10)));
        let mut long = b.clone();
        long.push(0);
        assert!(matches!(validate(&long), Err(BatchError::InvalidLength(_))));
    }

    #[test]
    fn last_sequence_wraps_like_kafka() {
        let mut h = BatchHeader::parse(&sample(0, 3, b"")).unwrap();
        h.base_sequence = i32::MAX - 1;
        h.last_offset_delta = 2;
        assert_eq!(h.last_sequence(), 0);
        h.base_sequence = -1;
        assert_eq!(h.last_sequence(), -1);
    }

    #[test]
    fn iterator_stops_at_torn_tail_and_reports_position() {
        let a = sample(0, 1, b"a");
        let b = sample(1, 1, b"bb");
        let mut buf = a.clone();
        buf.extend_from_slice(&b);
        buf.extend_from_slice(&b[..20]);
        let mut it = BatchIter::validating(&buf);
        let got: Vec<_> = it
            .by_ref()
            .map(|r| (r.position, r.header.base_offset))
            .collect();
        assert_eq!(got, vec![(0, 0), (a.len(), 1)]);
        assert_eq!(it.position(), a.len() + b.len());
        assert!(matches!(
            it.error(),
            Some((p, BatchError::Incomplete { .. })) if *p == a.len() + b.len()
        ));
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics_on_garbage(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let _ = BatchHeader::parse(&bytes);
            let _ = validate(&bytes);
            let n = BatchIter::validating(&bytes).count();
            proptest::prop_assert!(n <= bytes.len() / HEADER_SIZE);
        }
    }
}
