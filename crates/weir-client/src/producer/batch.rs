//! Record accumulation and batch encoding, without I/O.
//!
//! Records for one partition gather in an open batch until it reaches
//! `batch.size` bytes or has waited `linger.ms`; then it is encoded as one
//! v2 record batch by `kafka-protocol`'s `RecordBatchEncoder` (which also
//! compresses) and sent. Offsets inside a batch are relative (0..n); the
//! broker assigns the real base offset.

use crate::error::{ClientError, Result};
use crate::producer::RecordMetadata;
use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{Compression, Record, RecordBatchEncoder, RecordEncodeOptions};
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use weir_protocol::TopicPartition;

/// Where a record's outcome is reported.
pub(crate) type Waiter = oneshot::Sender<Result<RecordMetadata>>;

/// Bytes a record adds to a batch beyond its key, value and headers: a
/// v2 record's varints (length, attributes, deltas, lengths), rounded up.
const RECORD_OVERHEAD: usize = 21;

/// One record waiting in the accumulator.
#[derive(Debug)]
pub(crate) struct Appended {
    pub(crate) tp: TopicPartition,
    pub(crate) record: Record,
    pub(crate) waiter: Waiter,
}

/// An estimate of a record's encoded size, for `batch.size` and
/// `buffer.memory` accounting.
pub(crate) fn estimated_size(record: &Record) -> usize {
    let key = record.key.as_ref().map_or(0, Bytes::len);
    let value = record.value.as_ref().map_or(0, Bytes::len);
    let headers: usize = record
        .headers
        .iter()
        .map(|(k, v)| k.len() + v.as_ref().map_or(0, Bytes::len) + 2)
        .sum();
    key + value + headers + RECORD_OVERHEAD
}

/// Records for one partition, in append order.
#[derive(Debug)]
pub(crate) struct OpenBatch {
    pub(crate) records: Vec<Record>,
    pub(crate) waiters: Vec<Waiter>,
    pub(crate) bytes: usize,
    created: Instant,
}

/// The open batches of every partition.
#[derive(Debug)]
pub(crate) struct Accumulator {
    batch_size: usize,
    linger: Duration,
    queues: HashMap<TopicPartition, VecDeque<OpenBatch>>,
    /// Invariant: the sum of `bytes` over all queued batches.
    buffered_bytes: usize,
}

impl Accumulator {
    pub(crate) fn new(batch_size: usize, linger: Duration) -> Accumulator {
        Accumulator {
            batch_size: batch_size.max(1),
            linger,
            queues: HashMap::new(),
            buffered_bytes: 0,
        }
    }

    /// Bytes held in batches not yet sent.
    pub(crate) fn buffered_bytes(&self) -> usize {
        self.buffered_bytes
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.queues.is_empty()
    }

    /// Add a record to its partition's last batch, or start a new batch if
    /// that one would grow past `batch.size` (a record larger than
    /// `batch.size` gets a batch of its own, as in Kafka).
    pub(crate) fn append(&mut self, a: Appended, now: Instant) {
        let size = estimated_size(&a.record);
        let queue = self.queues.entry(a.tp).or_default();
        let fits = queue
            .back()
            .is_some_and(|b| b.bytes + size <= self.batch_size);
        if !fits {
            queue.push_back(OpenBatch {
                records: Vec::new(),
                waiters: Vec::new(),
                bytes: 0,
                created: now,
            });
        }
        if let Some(batch) = queue.back_mut() {
            batch.records.push(a.record);
            batch.waiters.push(a.waiter);
            batch.bytes += size;
        }
        self.buffered_bytes += size;
    }

    /// Remove and return every batch ready to send: full ones (any batch
    /// with a successor, or at `batch.size`), ones that have lingered long
    /// enough, or all of them when flushing.
    pub(crate) fn drain_ready(
        &mut self,
        now: Instant,
        flush: bool,
    ) -> Vec<(TopicPartition, OpenBatch)> {
        let mut out = Vec::new();
        for (tp, queue) in &mut self.queues {
            while let Some(front) = queue.front() {
                let ready = flush
                    || queue.len() > 1
                    || front.bytes >= self.batch_size
                    || now.duration_since(front.created) >= self.linger;
                if !ready {
                    break;
                }
                if let Some(batch) = queue.pop_front() {
                    self.buffered_bytes -= batch.bytes;
                    out.push((tp.clone(), batch));
                }
            }
        }
        self.queues.retain(|_, q| !q.is_empty());
        out
    }

    /// When the oldest open batch reaches `linger.ms`.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.queues
            .values()
            .filter_map(|q| q.front())
            .map(|b| b.created + self.linger)
            .min()
    }
}

/// Encode records as one v2 batch. Offsets are set to 0..n. Sequences
/// are set so the encoder keeps them in one batch with base sequence -1
/// (no idempotence): it groups records whose `offset - sequence` agree.
pub(crate) fn encode_batch(records: &mut [Record], compression: Compression) -> Result<Bytes> {
    for (i, r) in records.iter_mut().enumerate() {
        let i = i64::try_from(i).map_err(|_| ClientError::Encode("batch too large".to_owned()))?;
        r.offset = i;
        r.sequence = (i as i32).wrapping_sub(1);
        r.producer_id = -1;
        r.producer_epoch = -1;
        r.partition_leader_epoch = -1;
    }
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression,
    };
    RecordBatchEncoder::encode(&mut buf, records.iter(), &options)
        .map_err(|e| ClientError::Encode(format!("record batch: {e}")))?;
    Ok(buf.freeze())
}

/// A kafka-protocol record for the producer (offset filled in at encoding).
pub(crate) fn new_record(
    key: Option<Bytes>,
    value: Option<Bytes>,
    headers: Vec<(String, Option<Bytes>)>,
    timestamp_ms: i64,
) -> Record {
    let mut record = Record {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: -1,
        producer_id: -1,
        producer_epoch: -1,
        timestamp_type: kafka_protocol::records::TimestampType::Creation,
        offset: 0,
        sequence: -1,
        timestamp: timestamp_ms,
        key,
        value,
        headers: Default::default(),
    };
    for (k, v) in headers {
        record
            .headers
            .insert(kafka_protocol::protocol::StrBytes::from_string(k), v);
    }
    record
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(key: &str, value: &str) -> Record {
        new_record(
            Some(Bytes::copy_from_slice(key.as_bytes())),
            Some(Bytes::copy_from_slice(value.as_bytes())),
            vec![("h".to_owned(), Some(Bytes::from_static(b"v")))],
            1_700_000_000_000,
        )
    }

    #[test]
    fn batches_round_trip_through_the_decoder_for_every_codec() {
        for codec in [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let mut records: Vec<Record> = (0..100)
                .map(|i| rec(&format!("k{i}"), &format!("value {i}")))
                .collect();
            let bytes = encode_batch(&mut records, codec).unwrap();
            let (header, decoded) = weir_protocol::records::decode_batch(&bytes).unwrap();
            assert_eq!(header.record_count, 100, "{codec:?}");
            assert_eq!(header.base_sequence, -1, "{codec:?}");
            assert_eq!(header.producer_id, -1);
            assert_eq!(decoded.len(), 100);
            for (i, r) in decoded.iter().enumerate() {
                assert_eq!(r.offset, i as i64);
                assert_eq!(r.key.as_deref(), Some(format!("k{i}").as_bytes()));
                assert_eq!(r.value.as_deref(), Some(format!("value {i}").as_bytes()));
                assert_eq!(r.timestamp, 1_700_000_000_000);
                assert_eq!(r.headers.len(), 1);
            }
        }
    }

    fn appended(
        tp: &TopicPartition,
        value_len: usize,
    ) -> (Appended, oneshot::Receiver<Result<RecordMetadata>>) {
        let (tx, rx) = oneshot::channel();
        let record = new_record(None, Some(Bytes::from(vec![b'x'; value_len])), vec![], 0);
        (
            Appended {
                tp: tp.clone(),
                record,
                waiter: tx,
            },
            rx,
        )
    }

    #[test]
    fn batches_close_at_batch_size_and_linger() {
        let now = Instant::now();
        let mut acc = Accumulator::new(1000, Duration::from_millis(5));
        let tp = TopicPartition::new("t", 0);
        let mut rxs = Vec::new();
        for _ in 0..25 {
            let (a, rx) = appended(&tp, 79); // 100 bytes each with overhead
            rxs.push(rx);
            acc.append(a, now);
        }
        assert_eq!(acc.buffered_bytes(), 2500);
        // Two full batches of 10 are ready at once; the third lingers.
        let ready = acc.drain_ready(now, false);
        assert_eq!(
            ready
                .iter()
                .map(|(_, b)| b.records.len())
                .collect::<Vec<_>>(),
            vec![10, 10]
        );
        assert_eq!(acc.next_deadline(), Some(now + Duration::from_millis(5)));
        assert!(acc
            .drain_ready(now + Duration::from_millis(4), false)
            .is_empty());
        let ready = acc.drain_ready(now + Duration::from_millis(5), false);
        assert_eq!(ready[0].1.records.len(), 5);
        assert!(acc.is_empty());
        assert_eq!(acc.buffered_bytes(), 0);
    }

    #[test]
    fn flush_drains_everything_and_big_records_get_their_own_batch() {
        let now = Instant::now();
        let mut acc = Accumulator::new(100, Duration::from_secs(60));
        let tp = TopicPartition::new("t", 1);
        let (a, _rx1) = appended(&tp, 500);
        acc.append(a, now);
        let (b, _rx2) = appended(&tp, 1);
        acc.append(b, now);
        let ready = acc.drain_ready(now, true);
        assert_eq!(ready.len(), 2);
        assert!(acc.is_empty());
    }
}
