//! A partition this broker leads: its log, its idempotent-producer state,
//! its high watermark, and a channel that wakes long-poll fetches.
//!
//! Single-broker scope (issue 3): the ISR is this broker alone, so the high
//! watermark is the log end offset once an append is written. The
//! replication issue replaces that rule with `weir-core::partition`
//! (follower fetch offsets, ISR, min.insync.replicas); the produce and fetch
//! handlers only talk to this type, so they will not change.

use bytes::{Bytes, BytesMut};
use kafka_protocol::error::ResponseError;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::watch;
use uuid::Uuid;
use weir_core::producer_state::{BatchCheck, ProducerStateManager};
use weir_protocol::{BatchHeader, BatchIter, LeaderEpoch, Offset, TopicPartition};
use weir_storage::log::{Log, LogError};

/// An error to put in a partition's response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionError {
    /// Kafka error code.
    pub code: i16,
    /// A sentence for the client (Produce v8+ carries it).
    pub message: String,
}

impl PartitionError {
    fn new(error: ResponseError, message: impl Into<String>) -> Self {
        PartitionError {
            code: error.code(),
            message: message.into(),
        }
    }

    fn from_log(e: &LogError) -> Self {
        PartitionError {
            code: e.error_code(),
            message: e.to_string(),
        }
    }
}

/// The result of a leader append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// Offset of the first record written (or of the original write, for
    /// a duplicate retry of an idempotent producer).
    pub base_offset: i64,
    /// The log start offset after the append.
    pub log_start_offset: i64,
}

/// What a fetch read.
#[derive(Debug, Clone)]
pub struct Read {
    /// Whole batches (possibly empty).
    pub records: Bytes,
    /// High watermark at the time of the read.
    pub high_watermark: i64,
    /// Log start offset at the time of the read.
    pub log_start_offset: i64,
}

/// Kafka's `producer.id.expiration.ms` default (one day).
const PRODUCER_ID_EXPIRATION_MS: i64 = 86_400_000;

/// A partition led by this broker.
#[derive(Debug)]
pub struct Partition {
    /// Topic and partition index.
    pub tp: TopicPartition,
    /// The topic's id.
    pub topic_id: Uuid,
    leader_epoch: LeaderEpoch,
    /// Shared with the log manager (checkpoints, flush, retention).
    /// Lock order: `log`, then `producers`.
    log: Arc<Mutex<Log>>,
    producers: Mutex<ProducerStateManager>,
    /// Invariant: equals the log end offset after every append (ISR is
    /// this broker alone) and never decreases.
    high_watermark: watch::Sender<i64>,
}

impl Partition {
    /// Take over `log` as leader in `leader_epoch`; the producer state is
    /// rebuilt from the batch headers in the log (Kafka reloads it from
    /// snapshots plus the log tail; the headers alone are enough).
    pub fn new(
        tp: TopicPartition,
        topic_id: Uuid,
        leader_epoch: LeaderEpoch,
        log: Arc<Mutex<Log>>,
        now_ms: i64,
    ) -> Result<Arc<Partition>, LogError> {
        let (producers, hwm) = {
            let mut guard = lock(&log);
            guard.assign_leader_epoch(leader_epoch)?;
            (rebuild_producers(&guard, now_ms)?, guard.log_end_offset().0)
        };
        let (high_watermark, _) = watch::channel(hwm);
        Ok(Arc::new(Partition {
            tp,
            topic_id,
            leader_epoch,
            log,
            producers: Mutex::new(producers),
            high_watermark,
        }))
    }

    fn lock(&self) -> MutexGuard<'_, Log> {
        lock(&self.log)
    }

    /// The leader epoch this broker leads in.
    pub fn leader_epoch(&self) -> LeaderEpoch {
        self.leader_epoch
    }

    /// Current high watermark.
    pub fn high_watermark(&self) -> i64 {
        *self.high_watermark.borrow()
    }

    /// A receiver that sees every high-watermark move (long-poll fetch).
    pub fn watch_high_watermark(&self) -> watch::Receiver<i64> {
        self.high_watermark.subscribe()
    }

    /// Append a producer's batches: validate, deduplicate idempotent
    /// retries, assign offsets, stamp the leader epoch, write.
    pub fn append_as_leader(
        &self,
        records: &[u8],
        now_ms: i64,
    ) -> Result<Appended, PartitionError> {
        let headers = producer_headers(records)?;
        let mut log = self.lock();
        let mut producers = lock(&self.producers);
        let checked = check_producers(&producers, &headers, log.log_end_offset().0, now_ms);
        if !matches!(checked, Ok(None)) {
            // Kafka validates before it deduplicates: a corrupt batch is
            // CORRUPT_MESSAGE even when its header looks like a retry.
            // (On the append path `Log::append` checks the CRCs, once.)
            check_crcs(records)?;
        }
        if let Some(dup) = checked? {
            return Ok(Appended {
                base_offset: dup,
                log_start_offset: log.log_start_offset().0,
            });
        }
        let mut batch = BytesMut::from(records);
        let info = log
            .append(&mut batch, self.leader_epoch, now_ms)
            .map_err(|e| PartitionError::from_log(&e))?;
        record_producers(&mut producers, &batch, now_ms);
        drop(producers);
        if let Err(e) = log.maybe_flush(now_ms) {
            tracing::error!(partition = %self.tp, "flush failed: {e}");
        }
        let leo = log.log_end_offset().0;
        drop(log);
        self.high_watermark.send_if_modified(|hwm| {
            let moved = leo > *hwm;
            *hwm = (*hwm).max(leo);
            moved
        });
        Ok(Appended {
            base_offset: info.first_offset.0,
            log_start_offset: info.log_start_offset.0,
        })
    }

    /// Read whole batches from `offset`, up to `max_bytes` (at least one
    /// batch), below the high watermark unless `uncommitted` (replicas).
    /// As in Kafka, an offset between the high watermark and the log end
    /// reads nothing; only one outside [log start, log end] is an error.
    pub fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        uncommitted: bool,
    ) -> Result<Read, PartitionError> {
        let log = self.lock();
        let hwm = self.high_watermark();
        let limit = if uncommitted { i64::MAX } else { hwm };
        let start = log.log_start_offset().0;
        let bytes = log
            .read_upto(Offset(offset), max_bytes, Offset(limit))
            .map_err(|e| PartitionError::from_log(&e))?;
        Ok(Read {
            records: Bytes::from(bytes),
            high_watermark: hwm,
            log_start_offset: start,
        })
    }

    /// (log start offset, log end offset).
    pub fn offsets(&self) -> (i64, i64) {
        let log = self.lock();
        (log.log_start_offset().0, log.log_end_offset().0)
    }

    /// Run `f` on the log (ListOffsets, OffsetForLeaderEpoch, checkpoints).
    pub fn with_log<T>(&self, f: impl FnOnce(&mut Log) -> T) -> T {
        f(&mut self.lock())
    }

    /// KIP-320/KIP-595: a fetcher that last fetched records of
    /// `last_fetched_epoch` and now fetches from `fetch_offset` has a log
    /// that diverges from this leader's when the leader's end offset for
    /// that epoch (its largest epoch <= it, KIP-279) is a smaller epoch or
    /// ends before `fetch_offset`. Answers that (epoch, end offset), to
    /// which the fetcher truncates; `None` when the logs agree or the
    /// fetcher sent no epoch (-1).
    pub fn diverging_epoch(
        &self,
        last_fetched_epoch: i32,
        fetch_offset: i64,
    ) -> Option<(i32, i64)> {
        if last_fetched_epoch < 0 {
            return None;
        }
        let (epoch, end) = self.with_log(|log| {
            let (e, o) = log
                .leader_epoch_cache()
                .end_offset_for(LeaderEpoch(last_fetched_epoch), log.log_end_offset());
            (e.0, o.0)
        });
        (epoch < last_fetched_epoch || end < fetch_offset).then_some((epoch, end))
    }
}

/// A poisoned lock means a request panicked while holding it; the log
/// guards its own consistency, so keep serving.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The batch headers of a produce request, checked for structure (length,
/// magic) but not CRC: `Log::append` checks every CRC on the way in, so
/// the hot path computes it once.
fn producer_headers(records: &[u8]) -> Result<Vec<BatchHeader>, PartitionError> {
    let mut iter = BatchIter::new(records);
    let headers: Vec<BatchHeader> = iter.by_ref().map(|b| b.header).collect();
    corrupt_if_stopped(&iter)?;
    if headers.is_empty() {
        return Err(PartitionError::new(
            ResponseError::InvalidRecord,
            "no record batch",
        ));
    }
    Ok(headers)
}

/// Check every batch's CRC (for answers given without appending).
fn check_crcs(records: &[u8]) -> Result<(), PartitionError> {
    let mut iter = BatchIter::validating(records);
    iter.by_ref().for_each(drop);
    corrupt_if_stopped(&iter)
}

fn corrupt_if_stopped(iter: &BatchIter<'_>) -> Result<(), PartitionError> {
    match iter.error() {
        Some((pos, e)) => Err(PartitionError::new(
            ResponseError::CorruptMessage,
            format!("record batch at byte {pos}: {e}"),
        )),
        None => Ok(()),
    }
}

/// Idempotence (KIP-98): a retried batch already in the log is answered
/// with its original base offset instead of being written twice. Several
/// batches of one request are checked in order against a copy of the
/// state that already holds the earlier ones (their offsets are known in
/// advance: the log assigns them from its end), so a producer may send
/// consecutive batches together.
fn check_producers(
    producers: &ProducerStateManager,
    headers: &[BatchHeader],
    log_end_offset: i64,
    now_ms: i64,
) -> Result<Option<i64>, PartitionError> {
    let to_error = |e: weir_core::producer_state::ProducerError| PartitionError {
        code: e.error_code(),
        message: e.to_string(),
    };
    if let [header] = headers {
        return match producers.check(header).map_err(to_error)? {
            BatchCheck::Append => Ok(None),
            BatchCheck::Duplicate { first_offset, .. } => Ok(Some(first_offset.0)),
        };
    }
    let mut planned = producers.clone();
    let mut next_offset = log_end_offset;
    for header in headers {
        if let BatchCheck::Duplicate { .. } = planned.check(header).map_err(to_error)? {
            return Err(PartitionError::new(
                ResponseError::InvalidRecord,
                "a duplicate batch must be retried on its own",
            ));
        }
        planned.update(header, Offset(next_offset), now_ms);
        next_offset += i64::from(header.last_offset_delta) + 1;
    }
    Ok(None)
}

/// Record the written batches (their offsets now assigned) in the
/// producer state.
fn record_producers(producers: &mut ProducerStateManager, written: &[u8], now_ms: i64) {
    for batch in BatchIter::new(written) {
        producers.update(&batch.header, Offset(batch.header.base_offset), now_ms);
    }
}

/// Segments scanned from the end when rebuilding producer state.
const PRODUCER_SCAN_SEGMENTS: usize = 2;

/// Rebuild idempotent-producer state from the batch headers of the last
/// [`PRODUCER_SCAN_SEGMENTS`] segments. Kafka reloads it from producer
/// snapshots; without them, the tail is what matters: a retry is always of
/// a recent batch, and a producer whose last batch is older is treated as
/// unknown, which Kafka 4 accepts at any sequence. This bounds start-up
/// time on large logs.
fn rebuild_producers(log: &Log, now_ms: i64) -> Result<ProducerStateManager, LogError> {
    let mut producers = ProducerStateManager::new(PRODUCER_ID_EXPIRATION_MS);
    let bases = log.segment_base_offsets();
    let from = bases
        .len()
        .checked_sub(PRODUCER_SCAN_SEGMENTS)
        .map_or(log.log_start_offset(), |i| bases[i]);
    let mut offset = from.max(log.log_start_offset());
    while offset < log.log_end_offset() {
        let chunk = log.read(offset, 1 << 20)?;
        let mut last = None;
        for batch in BatchIter::new(&chunk) {
            if batch.header.producer_id >= 0 {
                producers.update(&batch.header, Offset(batch.header.base_offset), now_ms);
            }
            last = Some(batch.header.next_offset());
        }
        match last {
            Some(next) => offset = next,
            None => break,
        }
    }
    Ok(producers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::records::{
        Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    };
    use std::path::Path;
    use weir_storage::log::LogConfig;
    use weir_storage::memfs::MemFs;

    fn batch(producer_id: i64, first_sequence: i32, count: i32) -> Vec<u8> {
        let records: Vec<Record> = (0..count)
            .map(|i| Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: 0,
                producer_id,
                producer_epoch: if producer_id >= 0 { 0 } else { -1 },
                timestamp_type: TimestampType::Creation,
                offset: i64::from(i),
                sequence: if producer_id >= 0 {
                    first_sequence + i
                } else {
                    -1
                },
                timestamp: 1_700_000_000_000,
                key: None,
                value: Some(Bytes::from(format!("v{i}"))),
                headers: Default::default(),
            })
            .collect();
        let mut buf = BytesMut::new();
        let options = RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        };
        RecordBatchEncoder::encode(&mut buf, &records, &options).expect("encode");
        buf.to_vec()
    }

    fn partition() -> Arc<Partition> {
        let fs: weir_storage::Fs = MemFs::new();
        let log =
            Log::open(fs, Path::new("/d/t-0"), LogConfig::default(), Offset(0), 0).expect("open");
        Partition::new(
            TopicPartition::new("t", 0),
            Uuid::nil(),
            LeaderEpoch(3),
            Arc::new(Mutex::new(log)),
            0,
        )
        .expect("partition")
    }

    #[test]
    fn a_new_leader_records_its_epoch_and_answers_diverging_fetchers() {
        let fs: weir_storage::Fs = MemFs::new();
        let log = Log::open(fs, Path::new("/d/t-0"), LogConfig::default(), Offset(0), 0).unwrap();
        let log = Arc::new(Mutex::new(log));
        let tp = TopicPartition::new("t", 0);
        let p3 = Partition::new(tp.clone(), Uuid::nil(), LeaderEpoch(3), log.clone(), 0).unwrap();
        p3.append_as_leader(&batch(-1, 0, 5), 0).unwrap();
        let p5 = Partition::new(tp.clone(), Uuid::nil(), LeaderEpoch(5), log.clone(), 0).unwrap();
        p5.append_as_leader(&batch(-1, 0, 3), 0).unwrap();
        // A leader that has appended nothing yet already owns its epoch.
        let p7 = Partition::new(tp, Uuid::nil(), LeaderEpoch(7), log.clone(), 0).unwrap();
        let entries: Vec<(i32, i64)> = p7.with_log(|l| {
            l.leader_epoch_cache()
                .entries()
                .iter()
                .map(|e| (e.epoch.0, e.start_offset.0))
                .collect()
        });
        assert_eq!(entries, vec![(3, 0), (5, 5), (7, 8)]);
        // Agreeing fetchers.
        assert_eq!(p7.diverging_epoch(-1, 100), None);
        assert_eq!(p7.diverging_epoch(3, 5), None);
        assert_eq!(p7.diverging_epoch(3, 2), None);
        assert_eq!(p7.diverging_epoch(5, 8), None);
        assert_eq!(p7.diverging_epoch(7, 8), None);
        // Epoch 3 ended at 5 here: a fetcher at 7 wrote past it.
        assert_eq!(p7.diverging_epoch(3, 7), Some((3, 5)));
        // Epoch 4 never existed here: the largest below it is 3, ending at 5.
        assert_eq!(p7.diverging_epoch(4, 6), Some((3, 5)));
        // Epoch 5 ended at 8: a fetcher at 9 diverged.
        assert_eq!(p7.diverging_epoch(5, 9), Some((5, 8)));
        // An epoch above every epoch here: undefined (-1, -1).
        assert_eq!(p7.diverging_epoch(9, 8), Some((-1, -1)));
    }

    #[test]
    fn appends_assign_offsets_and_move_the_high_watermark() {
        let p = partition();
        assert_eq!(
            p.append_as_leader(&batch(-1, 0, 5), 0).unwrap().base_offset,
            0
        );
        assert_eq!(
            p.append_as_leader(&batch(-1, 0, 3), 0).unwrap().base_offset,
            5
        );
        assert_eq!(p.high_watermark(), 8);
        let read = p.read(5, 1 << 20, false).unwrap();
        let headers: Vec<_> = BatchIter::validating(&read.records)
            .map(|b| b.header)
            .collect();
        let summary: Vec<_> = headers
            .iter()
            .map(|h| (h.base_offset, h.last_offset(), h.partition_leader_epoch))
            .collect();
        // The encoder writes one batch per record when there are no
        // producer sequences; the read hands them out whole and in order.
        assert_eq!(summary, vec![(5, 5, 3), (6, 6, 3), (7, 7, 3)]);
    }

    #[test]
    fn idempotent_retries_are_answered_with_the_original_offset() {
        let p = partition();
        let first = batch(7, 0, 5);
        assert_eq!(p.append_as_leader(&first, 0).unwrap().base_offset, 0);
        assert_eq!(
            p.append_as_leader(&first, 0).unwrap().base_offset,
            0,
            "duplicate"
        );
        assert_eq!(p.offsets().1, 5, "the duplicate was not written");
        assert_eq!(
            p.append_as_leader(&batch(7, 5, 2), 0).unwrap().base_offset,
            5
        );
        let gap = p.append_as_leader(&batch(7, 20, 1), 0).unwrap_err();
        assert_eq!(gap.code, ResponseError::OutOfOrderSequenceNumber.code());
        assert_eq!(p.offsets().1, 7);
    }

    #[test]
    fn consecutive_batches_of_one_producer_in_one_request_are_accepted() {
        let p = partition();
        let mut two = batch(9, 0, 3);
        two.extend_from_slice(&batch(9, 3, 2));
        assert_eq!(p.append_as_leader(&two, 0).unwrap().base_offset, 0);
        assert_eq!(p.offsets().1, 5);
        assert_eq!(
            p.append_as_leader(&batch(9, 5, 1), 0).unwrap().base_offset,
            5
        );
    }

    #[test]
    fn producer_state_is_rebuilt_from_the_log_on_takeover() {
        let fs: weir_storage::Fs = MemFs::new();
        let dir = Path::new("/d/t-0");
        let mut log = Log::open(fs.clone(), dir, LogConfig::default(), Offset(0), 0).unwrap();
        log.append(&mut batch(4, 0, 2), LeaderEpoch(0), 0).unwrap();
        let p = Partition::new(
            TopicPartition::new("t", 0),
            Uuid::nil(),
            LeaderEpoch(1),
            Arc::new(Mutex::new(log)),
            0,
        )
        .unwrap();
        assert_eq!(
            p.append_as_leader(&batch(4, 0, 2), 0).unwrap().base_offset,
            0,
            "duplicate"
        );
        assert_eq!(p.offsets().1, 2);
    }

    #[test]
    fn a_corrupt_retry_of_an_idempotent_batch_is_corrupt_not_duplicate() {
        let p = partition();
        let first = batch(7, 0, 5);
        p.append_as_leader(&first, 0).unwrap();
        let mut bad = first.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert_eq!(
            p.append_as_leader(&bad, 0).unwrap_err().code,
            ResponseError::CorruptMessage.code()
        );
        let mut gap = batch(7, 20, 1);
        let last = gap.len() - 1;
        gap[last] ^= 1;
        assert_eq!(
            p.append_as_leader(&gap, 0).unwrap_err().code,
            ResponseError::CorruptMessage.code(),
            "CRC is checked before the sequence"
        );
    }

    #[test]
    fn corrupt_batches_are_refused_and_nothing_is_written() {
        let p = partition();
        let mut bad = batch(-1, 0, 2);
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert_eq!(
            p.append_as_leader(&bad, 0).unwrap_err().code,
            ResponseError::CorruptMessage.code()
        );
        assert_eq!(p.offsets(), (0, 0));
    }
}
