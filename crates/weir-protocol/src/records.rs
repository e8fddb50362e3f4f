//! Record decoding for tools and tests, by the `kafka-protocol` crate.
//!
//! The broker never decodes records on its hot path; `weir dump-log` and
//! the tests do, and they use this independent decoder rather than one of
//! our own.

use crate::batch::{self, BatchError, BatchHeader, Compression, HEADER_SIZE};
pub use kafka_protocol::records::Record;
use kafka_protocol::records::RecordBatchDecoder;

/// The smallest encoding of one v2 record: length varint, attributes,
/// timestamp delta, offset delta, key length, value length, header count.
const MIN_RECORD_SIZE: usize = 7;
/// A ceiling on records per compressed batch: kafka-protocol reserves
/// `record_count` slots before decoding, so a CRC-valid but hostile count
/// must not reach it.
const MAX_COMPRESSED_RECORDS: i32 = 4 << 20;

/// Errors from [`decode_batch`].
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The header or CRC is wrong.
    #[error(transparent)]
    Batch(#[from] BatchError),
    /// The record count cannot fit in the batch.
    #[error("record count {0} impossible for a batch of {1} bytes")]
    ImpossibleCount(i32, usize),
    /// `kafka-protocol` could not decode the records.
    #[error("record decode failed: {0}")]
    Records(String),
}

/// Decode every record of one complete, CRC-valid v2 batch (decompressing
/// gzip, snappy, lz4 and zstd as needed).
pub fn decode_batch(bytes: &[u8]) -> Result<(BatchHeader, Vec<Record>), DecodeError> {
    let header = batch::validate(bytes)?;
    let payload = bytes.len() - HEADER_SIZE;
    let plausible = match header.compression() {
        Some(Compression::None) => (header.record_count as usize) * MIN_RECORD_SIZE <= payload,
        _ => header.record_count <= MAX_COMPRESSED_RECORDS,
    };
    if !plausible {
        return Err(DecodeError::ImpossibleCount(
            header.record_count,
            bytes.len(),
        ));
    }
    let mut buf = bytes::Bytes::copy_from_slice(bytes);
    let set =
        RecordBatchDecoder::decode(&mut buf).map_err(|e| DecodeError::Records(e.to_string()))?;
    Ok((header, set.records))
}
