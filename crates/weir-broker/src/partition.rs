//! A partition this broker leads: its log, its idempotent-producer state,
//! and the replication rules of `weir-core::partition::LeaderState` (ISR,
//! follower log end offsets, high watermark), applied here.
//!
//! Every event goes into the core state machine with `now_ms`, and its
//! actions come out: a high-watermark move is published on a watch channel
//! (long-poll fetches, acks=all produces wait on it), an ISR proposal goes
//! to the broker's AlterPartition sender with the member epochs the core
//! quotes (KIP-903; frozen there for re-sends). The watch also fires on every
//! append (followers long-poll for new data, not for the mark), on ISR
//! changes and when the leadership ends, so waiters re-check their
//! condition on each wake-up.

use bytes::{Bytes, BytesMut};
use kafka_protocol::error::ResponseError;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::{mpsc, watch};
use uuid::Uuid;
use weir_core::metadata::AlterPartitionRequest;
use weir_core::partition::{Action, FetchRejection, FollowerFetch, LeaderState, ReplicationConfig};
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
    pub(crate) fn new(error: ResponseError, message: impl Into<String>) -> Self {
        PartitionError {
            code: error.code(),
            message: message.into(),
        }
    }

    pub(crate) fn from_log(e: &LogError) -> Self {
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
    /// The offset after the last record written (or of the original
    /// write): acks=all waits until the high watermark reaches it.
    pub next_offset: i64,
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

/// An ISR change this leader asks the controller for.
#[derive(Debug, Clone)]
pub struct AlterIsr {
    /// The partition.
    pub tp: TopicPartition,
    /// The request for the controller (KIP-903 epochs included).
    pub request: AlterPartitionRequest,
}

/// How this broker came to lead the partition: the registration from the
/// metadata image and what its log knew before.
#[derive(Debug, Clone)]
pub struct LeaderInit {
    /// This broker's id.
    pub local_id: i32,
    /// The leader epoch it leads in.
    pub leader_epoch: LeaderEpoch,
    /// The partition epoch of the registration.
    pub partition_epoch: i32,
    /// Assigned replicas.
    pub replicas: Vec<i32>,
    /// The committed ISR.
    pub isr: Vec<i32>,
    /// The high watermark it knew (as a follower, or from the checkpoint).
    pub high_watermark: i64,
    /// The replication tunables.
    pub config: ReplicationConfig,
}

/// A partition led by this broker.
#[derive(Debug)]
pub struct Partition {
    /// Topic and partition index.
    pub tp: TopicPartition,
    /// The topic's id.
    pub topic_id: Uuid,
    local_id: i32,
    leader_epoch: LeaderEpoch,
    /// Shared with the log manager (checkpoints, flush, retention).
    /// Lock order: `log`, then `producers`, then `replication`.
    log: Arc<Mutex<Log>>,
    producers: Mutex<ProducerStateManager>,
    /// The replication rules (ISR, follower LEOs and broker epochs, the
    /// pending proposal, high watermark).
    replication: Mutex<LeaderState>,
    /// The high watermark (never decreases); also notified on appends,
    /// ISR changes and deposition.
    high_watermark: watch::Sender<i64>,
    deposed: AtomicBool,
    alter_isr: Option<mpsc::UnboundedSender<AlterIsr>>,
}

impl Partition {
    /// Take over `log` as leader; the producer state is rebuilt from the
    /// batch headers in the log (Kafka reloads it from snapshots plus the
    /// log tail; the headers alone are enough). ISR proposals go to
    /// `alter_isr` (none: a lone replica never proposes).
    pub fn new(
        tp: TopicPartition,
        topic_id: Uuid,
        init: LeaderInit,
        log: Arc<Mutex<Log>>,
        alter_isr: Option<mpsc::UnboundedSender<AlterIsr>>,
        now_ms: i64,
    ) -> Result<Arc<Partition>, LogError> {
        let (producers, leo) = {
            let mut guard = lock(&log);
            guard.assign_leader_epoch(init.leader_epoch)?;
            (rebuild_producers(&guard, now_ms)?, guard.log_end_offset().0)
        };
        let mut state = LeaderState::new(
            init.local_id,
            init.leader_epoch.0,
            init.partition_epoch,
            init.replicas,
            init.isr,
            leo,
            init.high_watermark,
            now_ms,
            init.config,
        );
        // A lone ISR commits what it has at once.
        state.on_append(leo);
        let (high_watermark, _) = watch::channel(state.high_watermark());
        Ok(Arc::new(Partition {
            tp,
            topic_id,
            local_id: init.local_id,
            leader_epoch: init.leader_epoch,
            log,
            producers: Mutex::new(producers),
            replication: Mutex::new(state),
            high_watermark,
            deposed: AtomicBool::new(false),
            alter_isr,
        }))
    }

    fn lock(&self) -> MutexGuard<'_, Log> {
        lock(&self.log)
    }

    fn replication(&self) -> MutexGuard<'_, LeaderState> {
        lock(&self.replication)
    }

    /// The leader epoch this broker leads in.
    pub fn leader_epoch(&self) -> LeaderEpoch {
        self.leader_epoch
    }

    /// Current high watermark.
    pub fn high_watermark(&self) -> i64 {
        *self.high_watermark.borrow()
    }

    /// A receiver woken by every high-watermark move, append, ISR change
    /// and by the end of the leadership.
    pub fn watch_high_watermark(&self) -> watch::Receiver<i64> {
        self.high_watermark.subscribe()
    }

    /// The committed ISR and the ISR proposal in flight.
    pub fn isr(&self) -> (Vec<i32>, Option<Vec<i32>>) {
        let r = self.replication();
        (r.isr().to_vec(), r.pending_isr().map(<[i32]>::to_vec))
    }

    /// This broker no longer leads the partition (a new leader epoch, or
    /// the topic is gone): waiting produces answer NOT_LEADER_OR_FOLLOWER.
    /// Appends check the flag under the log lock, and this takes that
    /// lock after setting it: once it returns, no leader append follows
    /// (the log may be handed to a follower).
    pub fn depose(&self) {
        self.deposed.store(true, Ordering::SeqCst);
        drop(self.lock());
        self.high_watermark.send_modify(|_| {});
    }

    /// Whether [`Partition::depose`] was called.
    pub fn is_deposed(&self) -> bool {
        self.deposed.load(Ordering::SeqCst)
    }

    /// Apply the core's actions (the replication lock is held).
    fn apply(&self, r: &LeaderState, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::HighWatermark(hwm) => {
                    self.high_watermark.send_modify(|v| *v = (*v).max(hwm));
                }
                Action::AlterIsr {
                    isr,
                    partition_epoch,
                    member_epochs,
                } => {
                    tracing::info!(
                        partition = %self.tp,
                        current = ?r.isr(),
                        proposed = ?isr,
                        "proposing an ISR change"
                    );
                    let request = AlterPartitionRequest {
                        broker_id: self.local_id,
                        topic_id: self.topic_id,
                        partition: self.tp.partition,
                        leader_epoch: self.leader_epoch.0,
                        partition_epoch,
                        new_isr: isr,
                        new_isr_broker_epochs: member_epochs,
                        leader_recovered: false,
                    };
                    if let Some(tx) = &self.alter_isr {
                        let _ = tx.send(AlterIsr {
                            tp: self.tp.clone(),
                            request,
                        });
                    }
                }
            }
        }
    }

    /// acks=all may append: the committed ISR has min.insync.replicas.
    pub fn has_min_isr(&self) -> bool {
        self.replication().has_min_isr()
    }

    /// Append a producer's batches: validate, deduplicate idempotent
    /// retries, assign offsets, stamp the leader epoch, write. With
    /// `require_min_isr` (acks=all) a committed ISR below
    /// min.insync.replicas refuses the write with NOT_ENOUGH_REPLICAS
    /// before anything is written.
    pub fn append_as_leader(
        &self,
        records: &[u8],
        require_min_isr: bool,
        now_ms: i64,
    ) -> Result<Appended, PartitionError> {
        let headers = producer_headers(records)?;
        let mut log = self.lock();
        if self.is_deposed() {
            return Err(PartitionError::new(
                ResponseError::NotLeaderOrFollower,
                format!("{} has a new leader", self.tp),
            ));
        }
        if require_min_isr {
            let r = self.replication();
            if !r.has_min_isr() {
                return Err(PartitionError::new(
                    ResponseError::NotEnoughReplicas,
                    format!(
                        "ISR {:?} is smaller than min.insync.replicas {}",
                        r.isr(),
                        r.config().min_insync_replicas
                    ),
                ));
            }
        }
        let mut producers = lock(&self.producers);
        let checked = check_producers(&producers, &headers, log.log_end_offset().0, now_ms);
        if !matches!(checked, Ok(None)) {
            // Kafka validates before it deduplicates: a corrupt batch is
            // CORRUPT_MESSAGE even when its header looks like a retry.
            // (On the append path `Log::append` checks the CRCs, once.)
            check_crcs(records)?;
        }
        if let Some(dup) = checked? {
            let count: i64 = headers
                .iter()
                .map(|h| i64::from(h.last_offset_delta) + 1)
                .sum();
            return Ok(Appended {
                base_offset: dup,
                next_offset: dup + count,
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
        {
            let mut r = self.replication();
            let actions = r.on_append(leo);
            self.apply(&r, actions);
        }
        drop(log);
        // Wake followers long-polling for new data.
        self.high_watermark.send_modify(|_| {});
        Ok(Appended {
            base_offset: info.first_offset.0,
            next_offset: info.last_offset.0 + 1,
            log_start_offset: info.log_start_offset.0,
        })
    }

    /// Wait until the high watermark reaches `offset` (acks=all). Errors:
    /// NOT_LEADER_OR_FOLLOWER when the leadership ends first,
    /// NOT_ENOUGH_REPLICAS_AFTER_APPEND when the committed ISR falls below
    /// min.insync.replicas meanwhile, REQUEST_TIMED_OUT at `deadline`.
    pub async fn wait_committed(
        &self,
        offset: i64,
        deadline: tokio::time::Instant,
    ) -> Result<(), PartitionError> {
        let mut rx = self.watch_high_watermark();
        loop {
            rx.borrow_and_update();
            if self.high_watermark() >= offset {
                return Ok(());
            }
            if self.is_deposed() {
                return Err(PartitionError::new(
                    ResponseError::NotLeaderOrFollower,
                    format!(
                        "{} changed leader before offset {offset} was committed",
                        self.tp
                    ),
                ));
            }
            if !self.has_min_isr() {
                return Err(PartitionError::new(
                    ResponseError::NotEnoughReplicasAfterAppend,
                    format!(
                        "the ISR of {} fell below min.insync.replicas after the append",
                        self.tp
                    ),
                ));
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) | Err(_) => {
                    if self.high_watermark() >= offset {
                        return Ok(());
                    }
                    return Err(PartitionError::new(
                        ResponseError::RequestTimedOut,
                        format!(
                            "offset {offset} of {} was not replicated to the ISR in time",
                            self.tp
                        ),
                    ));
                }
            }
        }
    }

    /// A follower fetched from `fetch_offset`: its LEO and caught-up time
    /// move, the ISR may grow (its broker may join when `may_join_isr`:
    /// registered, unfenced), the high watermark may move.
    /// `broker_epoch` is the follower's (Fetch v15+; -1 before); the core
    /// keeps the latest one and quotes it in its ISR proposals (KIP-903).
    pub fn on_follower_fetch(
        &self,
        replica: i32,
        broker_epoch: i64,
        fetch_offset: i64,
        may_join_isr: bool,
        now_ms: i64,
    ) -> Result<(), PartitionError> {
        let mut r = self.replication();
        let fetch = FollowerFetch {
            replica,
            broker_epoch,
            fetch_offset,
            may_join_isr,
        };
        match r.on_follower_fetch(fetch, now_ms) {
            Ok(actions) => {
                self.apply(&r, actions);
                Ok(())
            }
            Err(FetchRejection::NotAReplica) => Err(PartitionError::new(
                ResponseError::NotLeaderOrFollower,
                format!("broker {replica} is not a replica of {}", self.tp),
            )),
            Err(FetchRejection::OffsetOutOfRange) => Err(PartitionError::new(
                ResponseError::OffsetOutOfRange,
                format!(
                    "fetch offset {fetch_offset} is beyond the log end offset {} of {}",
                    r.log_end_offset(),
                    self.tp
                ),
            )),
        }
    }

    /// Time passed: shrink the ISR of followers that fell behind, re-send
    /// an unanswered proposal.
    pub fn on_tick(&self, now_ms: i64) {
        let mut r = self.replication();
        let actions = r.on_tick(now_ms);
        self.apply(&r, actions);
    }

    /// The image has a newer registration in the same leader epoch (an ISR
    /// change committed). Also takes new tunables.
    pub fn on_partition_change(
        &self,
        partition_epoch: i32,
        replicas: Vec<i32>,
        isr: Vec<i32>,
        config: ReplicationConfig,
        now_ms: i64,
    ) {
        let mut r = self.replication();
        let mut changed = false;
        if partition_epoch > r.partition_epoch() {
            tracing::info!(
                partition = %self.tp,
                partition_epoch,
                isr = ?isr,
                "ISR change committed"
            );
            let actions = r.on_partition_change(partition_epoch, replicas, isr, now_ms);
            self.apply(&r, actions);
            changed = true;
        }
        if r.config() != config {
            let actions = r.set_config(config);
            self.apply(&r, actions);
            changed = true;
        }
        drop(r);
        if changed {
            self.high_watermark.send_modify(|_| {});
        }
    }

    /// The controller refused the ISR proposal with `error_code`. Only a
    /// refusal that proves it was not committed drops it
    /// (`weir_core::partition::refusal_proves_not_committed`); any other
    /// keeps it until the image shows the outcome.
    pub fn on_alter_isr_refused(&self, error_code: i16) {
        if weir_core::partition::refusal_proves_not_committed(error_code) {
            self.replication().on_alter_isr_failed();
        }
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
    /// which the fetcher truncates; `None` when the logs agree, the
    /// fetcher sent no epoch (-1), or this log has no epoch at or below
    /// it (the wire cannot say "undefined": (-1, -1) is the field's
    /// default, so Kafka's leaders, too, read on as usual).
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
        if epoch < 0 || end < 0 {
            return None;
        }
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

    /// Lead `log` at `epoch` as the only replica.
    fn lone(
        tp: TopicPartition,
        epoch: i32,
        log: Arc<Mutex<Log>>,
    ) -> Result<Arc<Partition>, LogError> {
        let init = LeaderInit {
            local_id: 1,
            leader_epoch: LeaderEpoch(epoch),
            partition_epoch: 0,
            replicas: vec![1],
            isr: vec![1],
            high_watermark: 0,
            config: ReplicationConfig::default(),
        };
        Partition::new(tp, Uuid::nil(), init, log, None, 0)
    }

    fn partition() -> Arc<Partition> {
        let fs: weir_storage::Fs = MemFs::new();
        let log =
            Log::open(fs, Path::new("/d/t-0"), LogConfig::default(), Offset(0), 0).expect("open");
        lone(TopicPartition::new("t", 0), 3, Arc::new(Mutex::new(log))).expect("partition")
    }

    #[test]
    fn a_new_leader_records_its_epoch_and_answers_diverging_fetchers() {
        let fs: weir_storage::Fs = MemFs::new();
        let log = Log::open(fs, Path::new("/d/t-0"), LogConfig::default(), Offset(0), 0).unwrap();
        let log = Arc::new(Mutex::new(log));
        let tp = TopicPartition::new("t", 0);
        let p3 = lone(tp.clone(), 3, log.clone()).unwrap();
        p3.append_as_leader(&batch(-1, 0, 5), false, 0).unwrap();
        let p5 = lone(tp.clone(), 5, log.clone()).unwrap();
        p5.append_as_leader(&batch(-1, 0, 3), false, 0).unwrap();
        // A leader that has appended nothing yet already owns its epoch.
        let p7 = lone(tp, 7, log.clone()).unwrap();
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
        // An epoch above every epoch here is undefined, which the wire
        // cannot carry: no divergence (the offset check decides).
        assert_eq!(p7.diverging_epoch(9, 8), None);
    }

    #[test]
    fn appends_assign_offsets_and_move_the_high_watermark() {
        let p = partition();
        assert_eq!(
            p.append_as_leader(&batch(-1, 0, 5), false, 0)
                .unwrap()
                .base_offset,
            0
        );
        assert_eq!(
            p.append_as_leader(&batch(-1, 0, 3), false, 0)
                .unwrap()
                .base_offset,
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
        assert_eq!(p.append_as_leader(&first, false, 0).unwrap().base_offset, 0);
        assert_eq!(
            p.append_as_leader(&first, false, 0).unwrap().base_offset,
            0,
            "duplicate"
        );
        assert_eq!(p.offsets().1, 5, "the duplicate was not written");
        assert_eq!(
            p.append_as_leader(&batch(7, 5, 2), false, 0)
                .unwrap()
                .base_offset,
            5
        );
        let gap = p.append_as_leader(&batch(7, 20, 1), false, 0).unwrap_err();
        assert_eq!(gap.code, ResponseError::OutOfOrderSequenceNumber.code());
        assert_eq!(p.offsets().1, 7);
    }

    #[test]
    fn consecutive_batches_of_one_producer_in_one_request_are_accepted() {
        let p = partition();
        let mut two = batch(9, 0, 3);
        two.extend_from_slice(&batch(9, 3, 2));
        assert_eq!(p.append_as_leader(&two, false, 0).unwrap().base_offset, 0);
        assert_eq!(p.offsets().1, 5);
        assert_eq!(
            p.append_as_leader(&batch(9, 5, 1), false, 0)
                .unwrap()
                .base_offset,
            5
        );
    }

    #[test]
    fn producer_state_is_rebuilt_from_the_log_on_takeover() {
        let fs: weir_storage::Fs = MemFs::new();
        let dir = Path::new("/d/t-0");
        let mut log = Log::open(fs.clone(), dir, LogConfig::default(), Offset(0), 0).unwrap();
        log.append(&mut batch(4, 0, 2), LeaderEpoch(0), 0).unwrap();
        let p = lone(TopicPartition::new("t", 0), 1, Arc::new(Mutex::new(log))).unwrap();
        assert_eq!(
            p.append_as_leader(&batch(4, 0, 2), false, 0)
                .unwrap()
                .base_offset,
            0,
            "duplicate"
        );
        assert_eq!(p.offsets().1, 2);
    }

    #[test]
    fn a_corrupt_retry_of_an_idempotent_batch_is_corrupt_not_duplicate() {
        let p = partition();
        let first = batch(7, 0, 5);
        p.append_as_leader(&first, false, 0).unwrap();
        let mut bad = first.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert_eq!(
            p.append_as_leader(&bad, false, 0).unwrap_err().code,
            ResponseError::CorruptMessage.code()
        );
        let mut gap = batch(7, 20, 1);
        let last = gap.len() - 1;
        gap[last] ^= 1;
        assert_eq!(
            p.append_as_leader(&gap, false, 0).unwrap_err().code,
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
            p.append_as_leader(&bad, false, 0).unwrap_err().code,
            ResponseError::CorruptMessage.code()
        );
        assert_eq!(p.offsets(), (0, 0));
    }

    /// Leader 1 of replicas [1, 2, 3], ISR all three, min ISR 2, with an
    /// AlterPartition channel.
    fn replicated() -> (Arc<Partition>, mpsc::UnboundedReceiver<AlterIsr>) {
        let fs: weir_storage::Fs = MemFs::new();
        let log = Log::open(fs, Path::new("/d/t-0"), LogConfig::default(), Offset(0), 0).unwrap();
        let (tx, rx) = mpsc::unbounded_channel();
        let init = LeaderInit {
            local_id: 1,
            leader_epoch: LeaderEpoch(4),
            partition_epoch: 9,
            replicas: vec![1, 2, 3],
            isr: vec![1, 2, 3],
            high_watermark: 0,
            config: ReplicationConfig {
                replica_lag_time_max_ms: 1_000,
                min_insync_replicas: 2,
                alter_partition_retry_ms: 5_000,
            },
        };
        let p = Partition::new(
            TopicPartition::new("t", 0),
            Uuid::nil(),
            init,
            Arc::new(Mutex::new(log)),
            Some(tx),
            0,
        )
        .unwrap();
        (p, rx)
    }

    fn soon() -> tokio::time::Instant {
        tokio::time::Instant::now() + std::time::Duration::from_millis(200)
    }

    #[tokio::test]
    async fn acks_all_waits_for_the_isr_and_times_out_without_it() {
        let (p, _rx) = replicated();
        let a = p.append_as_leader(&batch(-1, 0, 3), true, 0).unwrap();
        assert_eq!((a.base_offset, a.next_offset), (0, 3));
        assert_eq!(p.high_watermark(), 0, "nobody has fetched it");
        let timed_out = p.wait_committed(3, soon()).await.unwrap_err();
        assert_eq!(timed_out.code, ResponseError::RequestTimedOut.code());
        // One follower at the end is not enough: follower 3 is still in
        // the ISR and has nothing.
        p.on_follower_fetch(2, 7, 3, true, 10).unwrap();
        assert_eq!(p.high_watermark(), 0);
        p.on_follower_fetch(3, 7, 2, true, 10).unwrap();
        assert_eq!(p.high_watermark(), 2);
        p.on_follower_fetch(3, 7, 3, true, 20).unwrap();
        assert_eq!(p.high_watermark(), 3);
        p.wait_committed(3, soon()).await.unwrap();
        // Consumers read only below the mark; replicas read everything.
        p.append_as_leader(&batch(-1, 0, 2), true, 30).unwrap();
        let consumer = p.read(3, 1 << 20, false).unwrap();
        assert!(consumer.records.is_empty());
        let replica = p.read(3, 1 << 20, true).unwrap();
        assert!(!replica.records.is_empty());
    }

    #[tokio::test]
    async fn a_waiting_produce_is_woken_by_the_followers_fetch() {
        let (p, _rx) = replicated();
        p.append_as_leader(&batch(-1, 0, 5), true, 0).unwrap();
        let waiter = {
            let p = p.clone();
            tokio::spawn(async move {
                let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
                p.wait_committed(5, deadline).await
            })
        };
        tokio::task::yield_now().await;
        p.on_follower_fetch(2, 7, 5, true, 10).unwrap();
        p.on_follower_fetch(3, 7, 5, true, 10).unwrap();
        waiter.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn isr_shrink_below_min_and_deposition_fail_waiting_produces() {
        let (p, mut rx) = replicated();
        let config = p.replication().config();
        p.append_as_leader(&batch(-1, 0, 1), true, 0).unwrap();
        // Follower 2 fetched once (epoch 7); both fall behind: the tick
        // after replica.lag.time.max.ms proposes the leader alone, quoting
        // no joiner epochs.
        p.on_follower_fetch(2, 7, 0, true, 0).unwrap();
        p.on_tick(5_000);
        let change = rx.try_recv().expect("a shrink proposal");
        assert_eq!(change.request.new_isr, vec![1]);
        assert_eq!(change.request.partition_epoch, 9);
        assert_eq!(change.request.leader_epoch, 4);
        // The shrink is committed: acks=all is refused before appending,
        // and a waiting one fails after the append.
        p.on_partition_change(10, vec![1, 2, 3], vec![1], config, 5_001);
        let refused = p
            .append_as_leader(&batch(-1, 0, 1), true, 5_002)
            .unwrap_err();
        assert_eq!(refused.code, ResponseError::NotEnoughReplicas.code());
        assert_eq!(p.offsets().1, 1, "nothing written");
        let after = p.wait_committed(1, soon()).await.unwrap_err();
        assert_eq!(
            after.code,
            ResponseError::NotEnoughReplicasAfterAppend.code()
        );
        // Follower 2 catches up and rejoins, quoting the epoch of its fetch.
        p.on_follower_fetch(2, 8, 1, true, 5_100).unwrap();
        let change = rx.try_recv().expect("an expansion proposal");
        assert_eq!(change.request.new_isr, vec![1, 2]);
        assert_eq!(change.request.new_isr_broker_epochs, vec![(2, 8)]);
        // A re-send of the same proposal quotes the same (frozen) epochs,
        // even after a later fetch with another epoch.
        p.on_follower_fetch(2, 11, 1, true, 5_200).unwrap();
        p.on_tick(10_200);
        let resent = rx.try_recv().expect("a re-send");
        assert_eq!(resent.request.new_isr_broker_epochs, vec![(2, 8)]);
        // A refusal that does not prove non-commit keeps it pending; an
        // INELIGIBLE_REPLICA drops it and the next fetch proposes afresh.
        p.on_alter_isr_refused(ResponseError::InvalidUpdateVersion.code());
        assert_eq!(p.isr().1, Some(vec![1, 2]));
        p.on_alter_isr_refused(ResponseError::IneligibleReplica.code());
        assert_eq!(p.isr().1, None);
        p.on_follower_fetch(2, 11, 1, true, 10_300).unwrap();
        let fresh = rx.try_recv().expect("a fresh proposal");
        assert_eq!(fresh.request.new_isr_broker_epochs, vec![(2, 11)]);
        p.on_partition_change(11, vec![1, 2, 3], vec![1, 2], config, 10_301);
        assert_eq!(p.isr(), (vec![1, 2], None));
        // Deposition ends every wait and refuses appends.
        let waiter = {
            let p = p.clone();
            tokio::spawn(async move {
                let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
                p.wait_committed(100, deadline).await
            })
        };
        tokio::task::yield_now().await;
        p.depose();
        let gone = waiter.await.unwrap().unwrap_err();
        assert_eq!(gone.code, ResponseError::NotLeaderOrFollower.code());
        let refused = p
            .append_as_leader(&batch(-1, 0, 1), false, 10_400)
            .unwrap_err();
        assert_eq!(refused.code, ResponseError::NotLeaderOrFollower.code());
    }

    #[test]
    fn fetches_from_strangers_or_beyond_the_log_end_are_refused() {
        let (p, _rx) = replicated();
        p.append_as_leader(&batch(-1, 0, 2), false, 0).unwrap();
        let stranger = p.on_follower_fetch(9, 1, 0, true, 0).unwrap_err();
        assert_eq!(stranger.code, ResponseError::NotLeaderOrFollower.code());
        let beyond = p.on_follower_fetch(2, 1, 3, true, 0).unwrap_err();
        assert_eq!(beyond.code, ResponseError::OffsetOutOfRange.code());
    }
}
