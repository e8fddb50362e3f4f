//! Helpers shared by the storage integration tests: building v2 batches
//! with the independent `kafka-protocol` encoder, walking batches, and the
//! two file systems every suite runs on.
#![allow(dead_code)]

use bytes::{Bytes, BytesMut};
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use weir_protocol::batch::BatchIter;
use weir_protocol::BatchHeader;
use weir_storage::memfs::MemFs;
use weir_storage::{Fs, RealFs};

/// Records `0..count` of a batch: key `k<i>`, a value of `value_len` bytes,
/// one header, timestamps `first_ts + i`.
pub fn records(count: usize, first_ts: i64, value_len: usize) -> Vec<Record> {
    (0..count)
        .map(|i| {
            let mut headers = IndexMap::new();
            headers.insert(
                StrBytes::from_static_str("h"),
                Some(Bytes::from(format!("hv{i}"))),
            );
            Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: -1,
                producer_id: -1,
                producer_epoch: -1,
                timestamp_type: TimestampType::Creation,
                offset: i as i64,
                // The encoder starts a new batch when offset − sequence
                // changes, so keep them in step for a single batch.
                sequence: i as i32,
                timestamp: first_ts + i as i64,
                key: Some(Bytes::from(format!("k{i}"))),
                value: Some(Bytes::from(vec![b'a' + (i % 26) as u8; value_len])),
                headers,
            }
        })
        .collect()
}

/// Encode `records` as one v2 batch with `compression`.
pub fn encode(records: &[Record], compression: Compression) -> Vec<u8> {
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        records,
        &RecordEncodeOptions {
            version: 2,
            compression,
        },
    )
    .expect("encode batch");
    buf.to_vec()
}

/// One uncompressed batch.
pub fn batch(count: usize, first_ts: i64, value_len: usize) -> Vec<u8> {
    encode(&records(count, first_ts, value_len), Compression::None)
}

/// The batches of a buffer of concatenated batches, as (header, bytes);
/// panics on anything malformed (test data is ours).
pub fn split(buf: &[u8]) -> Vec<(BatchHeader, Vec<u8>)> {
    let mut it = BatchIter::validating(buf);
    let out: Vec<_> = it.by_ref().map(|b| (b.header, b.bytes.to_vec())).collect();
    assert!(it.error().is_none(), "malformed batches: {:?}", it.error());
    out
}

/// The Kafka 4.0.0 golden partition directory (read-only fixture).
pub fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/kafka-4.0.0-logdir/golden-0")
}

/// Copy every file of `from` into the (existing) directory `to`.
pub fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).expect("read fixture dir") {
        let path = entry.expect("dir entry").path();
        std::fs::copy(&path, to.join(path.file_name().expect("name"))).expect("copy");
    }
}

/// A file system to run a suite on.
pub enum Backend {
    /// std::fs in a temporary directory; a "crash" drops the log unclosed
    /// (the OS keeps what was written).
    Real(tempfile::TempDir),
    /// The in-memory file system; a crash loses unsynced bytes.
    Mem(Arc<MemFs>),
}

impl Backend {
    /// A fresh real-file backend.
    pub fn real() -> Backend {
        Backend::Real(tempfile::tempdir().expect("tempdir"))
    }

    /// A fresh in-memory backend.
    pub fn mem() -> Backend {
        Backend::Mem(MemFs::new())
    }

    /// The file system handle.
    pub fn fs(&self) -> Fs {
        match self {
            Backend::Real(_) => RealFs::shared(),
            Backend::Mem(m) => m.clone(),
        }
    }

    /// The partition directory to use.
    pub fn dir(&self) -> PathBuf {
        match self {
            Backend::Real(t) => t.path().join("topic-0"),
            Backend::Mem(_) => PathBuf::from("/data/topic-0"),
        }
    }

    /// Simulate power loss (MemFs only; a no-op for real files).
    pub fn crash(&self, seed: u64) {
        if let Backend::Mem(m) = self {
            m.crash(Some(seed));
        }
    }

    /// Does a crash lose unsynced data on this backend?
    pub fn loses_unsynced(&self) -> bool {
        matches!(self, Backend::Mem(_))
    }

    /// Read a whole file.
    pub fn read(&self, path: &Path) -> Vec<u8> {
        self.fs().read(path).expect("read file")
    }
}
