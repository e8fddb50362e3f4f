//! A partition's log: an ordered run of [`Segment`]s in one
//! `<topic>-<partition>` directory, with Kafka's append, read, roll,
//! truncation, retention, flush and recovery rules (`UnifiedLog` and
//! `LocalLog` in Kafka 4).
//!
//! Synchronous and clock-free: every operation that needs the time takes
//! `now_ms`, as Kafka's `LogSegment` takes a `Time`.
//!
//! The submodules hold the larger operations: [`config`] (topic settings),
//! `recovery` (opening a directory), `retention` (truncation and deleting
//! old segments).

mod config;
mod recovery;
mod retention;

pub use config::{ConfigError, LogConfig};

use crate::checkpoint::CheckpointError;
use crate::fs::Fs;
use crate::leader_epoch::LeaderEpochCache;
use crate::segment::{BatchSummary, RollCheck, Segment, SegmentLimits};
use std::io;
use std::path::{Path, PathBuf};
use thiserror::Error;
use weir_protocol::batch::{
    set_base_offset, set_partition_leader_epoch, BatchError, BatchHeader, BatchIter,
};
use weir_protocol::{LeaderEpoch, Offset};

/// Why a log operation failed.
#[derive(Debug, Error)]
pub enum LogError {
    /// A batch handed to `append` is malformed or fails its CRC.
    #[error("corrupt record batch at byte {position} of the append: {source}")]
    CorruptBatch {
        /// Byte position of the batch in the appended buffer.
        position: usize,
        /// What is wrong with it.
        source: BatchError,
    },
    /// The batches are well-formed but not acceptable (none at all, a
    /// record count that disagrees with the offset range).
    #[error("invalid records: {0}")]
    InvalidRecord(String),
    /// One batch is larger than `max.message.bytes`.
    #[error("record batch of {size} bytes exceeds max.message.bytes {max}")]
    MessageTooLarge {
        /// Size of the batch.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// The batches together are larger than a segment.
    #[error("{size} bytes of batches exceed segment.bytes {max}")]
    RecordBatchTooLarge {
        /// Size of the append.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// A follower append does not continue the log exactly.
    #[error("non-contiguous append: expected base offset {expected}, got {actual}")]
    NonContiguous {
        /// The offset the next batch must start at.
        expected: Offset,
        /// Its actual base offset.
        actual: Offset,
    },
    /// An offset that no log can hold (negative, overflowing, or spanning
    /// more than a segment can index).
    #[error("invalid offset: {0}")]
    InvalidOffset(String),
    /// A read or log-start move outside the log.
    #[error("offset {requested} out of range [{start}, {end}]")]
    OffsetOutOfRange {
        /// The offset asked for.
        requested: Offset,
        /// The log start offset.
        start: Offset,
        /// The log end offset.
        end: Offset,
    },
    /// Stored data contradicts itself after it was loaded (detected
    /// corruption, which stops the operation rather than guessing).
    #[error("corrupt segment {}: {detail}", .path.display())]
    CorruptSegment {
        /// The segment file.
        path: PathBuf,
        /// What is inconsistent.
        detail: String,
    },
    /// A topic config value is out of range.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The leader-epoch checkpoint could not be read or written.
    #[error("leader epoch cache: {0}")]
    EpochCache(#[from] CheckpointError),
    /// An earlier write or fsync failed, so what is on disk is unknown; the
    /// log must be reopened (Kafka takes the log dir offline).
    #[error("log {} failed earlier and must be reopened", .0.display())]
    Failed(PathBuf),
    /// The file system failed.
    #[error("I/O error on {}: {source}", .path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
}

impl LogError {
    /// The Kafka protocol error code a broker should answer with.
    pub fn error_code(&self) -> i16 {
        match self {
            LogError::OffsetOutOfRange { .. } => 1,
            LogError::CorruptBatch { .. } => 2,
            LogError::MessageTooLarge { .. } => 10,
            LogError::RecordBatchTooLarge { .. } => 18,
            LogError::Config(_) => 40,
            LogError::InvalidRecord(_) => 87,
            LogError::NonContiguous { .. } | LogError::InvalidOffset(_) => -1,
            LogError::CorruptSegment { .. }
            | LogError::EpochCache(_)
            | LogError::Failed(_)
            | LogError::Io { .. } => 56,
        }
    }

    /// Does this error leave the on-disk state unknown?
    fn is_storage_failure(&self) -> bool {
        matches!(
            self,
            LogError::Io { .. } | LogError::EpochCache(_) | LogError::CorruptSegment { .. }
        )
    }
}

/// What an append wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    /// Base offset of the first batch.
    pub first_offset: Offset,
    /// Last offset of the last batch.
    pub last_offset: Offset,
    /// Largest batch maxTimestamp (−1 if none has one).
    pub max_timestamp: i64,
    /// Last offset of the first batch holding `max_timestamp`.
    pub offset_of_max_timestamp: Offset,
    /// Sum of the batches' record counts.
    pub record_count: i64,
    /// Number of batches.
    pub batch_count: usize,
    /// Bytes written.
    pub size_bytes: u64,
    /// The log start offset after the append (Kafka returns it in
    /// ProduceResponse).
    pub log_start_offset: Offset,
}

/// A partition's log.
#[derive(Debug)]
pub struct Log {
    fs: Fs,
    dir: PathBuf,
    config: LogConfig,
    /// Invariants: never empty; sorted by base offset; each segment's base
    /// offset is the previous one's next offset (no gaps, no overlaps); the
    /// last is the active segment, the only one appended to.
    segments: Vec<Segment>,
    /// Invariant: first segment's base <= log_start_offset <= log end offset.
    log_start_offset: Offset,
    /// Everything below it is fsynced. Invariant: <= log end offset.
    recovery_point: Offset,
    epochs: LeaderEpochCache,
    /// When `maybe_flush` last flushed (or the log was opened).
    last_flush_ms: i64,
    /// The latest `now_ms` any call passed in: the time for operations
    /// whose Kafka signature has no clock (creating a segment on full
    /// truncation).
    clock_ms: i64,
    /// Segment files were created since the directory was last fsynced.
    dir_dirty: bool,
    /// A storage failure happened; writes are refused until reopened.
    failed: bool,
}

impl Log {
    /// The partition directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The settings in force.
    pub fn config(&self) -> &LogConfig {
        &self.config
    }

    /// Change the settings (a topic config change, or topic overrides
    /// applied to a log the log manager opened with broker defaults), as
    /// Kafka's `UnifiedLog.updateConfig`. Roll, retention and flush rules
    /// use the new values at once; index limits apply from the next
    /// segment on, because existing index files keep the interval they
    /// were written with.
    pub fn set_config(&mut self, config: LogConfig) -> Result<(), LogError> {
        config.validate()?;
        self.config = config;
        Ok(())
    }

    /// The offset the next appended record gets (LEO).
    pub fn log_end_offset(&self) -> Offset {
        self.active().next_offset()
    }

    /// The first offset a consumer may read.
    pub fn log_start_offset(&self) -> Offset {
        self.log_start_offset
    }

    /// Everything below this offset is on disk (fsynced). Callers persist
    /// it in `recovery-point-offset-checkpoint` and pass it back to
    /// [`Log::open`].
    pub fn recovery_point(&self) -> Offset {
        self.recovery_point
    }

    /// Records appended but not yet fsynced (Kafka's `unflushedMessages`).
    pub fn unflushed_messages(&self) -> i64 {
        self.log_end_offset().0 - self.recovery_point.0
    }

    /// Total bytes of all segments' `.log` files.
    pub fn size_bytes(&self) -> u64 {
        self.segments.iter().map(Segment::size_bytes).sum()
    }

    /// Base offsets of the segments, oldest first.
    pub fn segment_base_offsets(&self) -> Vec<Offset> {
        self.segments.iter().map(Segment::base_offset).collect()
    }

    /// The leader-epoch cache, kept in step with the log.
    pub fn leader_epoch_cache(&self) -> &LeaderEpochCache {
        &self.epochs
    }

    /// Record that leader epoch `epoch` starts at the current log end
    /// (Kafka's `makeLeader`: a new leader assigns its epoch before it
    /// appends anything, so epoch lookups — OffsetForLeaderEpoch, Fetch's
    /// diverging epoch — answer for it at once). No change when the cache
    /// already has `epoch` as its latest entry.
    pub fn assign_leader_epoch(&mut self, epoch: LeaderEpoch) -> Result<(), LogError> {
        if epoch.0 < 0 {
            return Ok(());
        }
        let leo = self.log_end_offset();
        self.epochs.assign(epoch, leo)?;
        Ok(())
    }

    fn active(&self) -> &Segment {
        // Invariant: `segments` is never empty (see the field docs).
        &self.segments[self.segments.len() - 1]
    }

    fn active_mut(&mut self) -> &mut Segment {
        let last = self.segments.len() - 1;
        &mut self.segments[last]
    }

    fn limits(&self) -> SegmentLimits {
        SegmentLimits {
            index_interval_bytes: self.config.index_interval_bytes,
            max_index_bytes: self.config.segment_index_bytes,
        }
    }

    /// Remember the latest clock reading.
    fn observe_clock(&mut self, now_ms: i64) {
        self.clock_ms = self.clock_ms.max(now_ms);
    }

    /// Refuse to write after a storage failure.
    fn check_writable(&self) -> Result<(), LogError> {
        if self.failed {
            return Err(LogError::Failed(self.dir.clone()));
        }
        Ok(())
    }

    /// Remember a storage failure so later writes are refused: after a
    /// failed write or fsync the on-disk state is unknown (PostgreSQL's
    /// "fsyncgate"; Kafka's `LogDirFailureChannel`).
    fn note<T>(&mut self, result: Result<T, LogError>) -> Result<T, LogError> {
        if let Err(e) = &result {
            if e.is_storage_failure() {
                tracing::error!(dir = %self.dir.display(), "log failed: {e}");
                self.failed = true;
            }
        }
        result
    }

    /// Append batches from a producer as the leader in `leader_epoch`:
    /// validate each batch fully (CRC included), give them offsets from the
    /// log end offset and stamp the epoch (both in place, outside the CRC'd
    /// bytes), record a new epoch in the leader-epoch cache, and write.
    pub fn append(
        &mut self,
        batches: &mut [u8],
        leader_epoch: LeaderEpoch,
        now_ms: i64,
    ) -> Result<AppendInfo, LogError> {
        self.check_writable()?;
        self.observe_clock(now_ms);
        let headers = parse_batches(batches, self.config.segment_bytes)?;
        check_producer_batches(&headers, self.config.max_message_bytes)?;
        let summaries = assign_offsets(batches, &headers, self.log_end_offset(), leader_epoch)?;
        let epochs: Vec<_> = summaries
            .first()
            .map(|s| (leader_epoch, s.base_offset))
            .into_iter()
            .collect();
        let result = self.write(batches, &summaries, &epochs, &headers, now_ms);
        self.note(result)
    }

    /// Append batches fetched from the leader, keeping their offsets and
    /// epochs: the first must start at the log end offset and each must
    /// follow the previous one exactly. Each batch's epoch goes through the
    /// leader-epoch cache, as in Kafka's `UnifiedLog.append` for replication.
    pub fn append_as_follower(
        &mut self,
        batches: &[u8],
        now_ms: i64,
    ) -> Result<AppendInfo, LogError> {
        self.check_writable()?;
        self.observe_clock(now_ms);
        let headers = parse_batches(batches, self.config.segment_bytes)?;
        let summaries = check_contiguous(&headers, self.log_end_offset())?;
        let epochs: Vec<_> = headers
            .iter()
            .map(|h| (h.leader_epoch(), Offset(h.base_offset)))
            .collect();
        let result = self.write(batches, &summaries, &epochs, &headers, now_ms);
        self.note(result)
    }

    fn write(
        &mut self,
        bytes: &[u8],
        summaries: &[BatchSummary],
        epochs: &[(LeaderEpoch, Offset)],
        headers: &[BatchHeader],
        now_ms: i64,
    ) -> Result<AppendInfo, LogError> {
        let info = self.append_info(summaries, headers, bytes.len() as u64)?;
        self.maybe_roll(&info, now_ms)?;
        if !self.active().fits(info.last_offset) {
            return Err(LogError::InvalidOffset(format!(
                "offsets {}..={} span more than one segment can index",
                info.first_offset, info.last_offset
            )));
        }
        for &(epoch, start) in epochs {
            if epoch.0 >= 0 {
                self.epochs.assign(epoch, start)?;
            }
        }
        self.active_mut().append(bytes, summaries)?;
        Ok(info)
    }

    fn append_info(
        &self,
        summaries: &[BatchSummary],
        headers: &[BatchHeader],
        size_bytes: u64,
    ) -> Result<AppendInfo, LogError> {
        let (Some(first), Some(last)) = (summaries.first(), summaries.last()) else {
            return Err(LogError::InvalidRecord("no record batches".into()));
        };
        let mut max = (-1, first.last_offset);
        for s in summaries {
            if s.max_timestamp > max.0 {
                max = (s.max_timestamp, s.last_offset);
            }
        }
        Ok(AppendInfo {
            first_offset: first.base_offset,
            last_offset: last.last_offset,
            max_timestamp: max.0,
            offset_of_max_timestamp: max.1,
            record_count: headers.iter().map(|h| i64::from(h.record_count)).sum(),
            batch_count: summaries.len(),
            size_bytes,
            log_start_offset: self.log_start_offset,
        })
    }

    /// Kafka's `UnifiedLog.maybeRoll`, checked once per append.
    fn maybe_roll(&mut self, info: &AppendInfo, now_ms: i64) -> Result<(), LogError> {
        let check = RollCheck {
            segment_bytes: u64::from(self.config.segment_bytes),
            segment_ms: self.config.segment_ms,
            incoming_bytes: info.size_bytes,
            max_timestamp: info.max_timestamp,
            last_offset: info.last_offset,
            now_ms,
        };
        if !self.active().is_empty() && self.active().should_roll(&check) {
            self.roll_unchecked(now_ms)?;
        }
        Ok(())
    }

    /// Start a new active segment at the log end offset, unless the active
    /// one is empty (Kafka would delete and recreate it; nothing changes).
    pub fn roll(&mut self, now_ms: i64) -> Result<(), LogError> {
        self.check_writable()?;
        self.observe_clock(now_ms);
        if self.active().is_empty() {
            return Ok(());
        }
        let result = self.roll_unchecked(now_ms);
        self.note(result)
    }

    fn roll_unchecked(&mut self, now_ms: i64) -> Result<(), LogError> {
        let base = self.log_end_offset();
        self.active_mut().seal_time_index()?;
        let segment = Segment::create(self.fs.clone(), &self.dir, base, self.limits(), now_ms)?;
        tracing::debug!(dir = %self.dir.display(), base = %base, "rolled new segment");
        self.segments.push(segment);
        self.dir_dirty = true;
        Ok(())
    }

    /// Whole batches starting with the one holding `offset`: at least one
    /// even if larger than `max_bytes` (Kafka's `minOneMessage`), then as
    /// many as fit, from one segment (as Kafka's `LocalLog.read`). Empty at
    /// the log end offset; outside `[log start, log end]` is
    /// [`LogError::OffsetOutOfRange`].
    pub fn read(&self, offset: Offset, max_bytes: usize) -> Result<Vec<u8>, LogError> {
        self.read_upto(offset, max_bytes, Offset(i64::MAX))
    }

    /// [`Log::read`] bounded by `max_offset` (the high watermark for
    /// consumers): only whole batches whose last offset is below it.
    pub fn read_upto(
        &self,
        offset: Offset,
        max_bytes: usize,
        max_offset: Offset,
    ) -> Result<Vec<u8>, LogError> {
        let end = self.log_end_offset();
        if offset < self.log_start_offset || offset > end {
            return Err(LogError::OffsetOutOfRange {
                requested: offset,
                start: self.log_start_offset,
                end,
            });
        }
        let first = self
            .segments
            .partition_point(|s| s.base_offset() <= offset)
            .saturating_sub(1);
        for segment in &self.segments[first..] {
            if let Some(data) = segment.read(offset, max_bytes, max_offset)? {
                return Ok(data);
            }
        }
        Ok(Vec::new())
    }

    /// Kafka's `fetchOffsetByTimestamp` for a real timestamp: the first
    /// batch at or after the log start whose maxTimestamp is >= `timestamp`,
    /// as (offset, that timestamp); see
    /// [`Segment::find_offset_by_timestamp`] for the batch granularity.
    pub fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<(Offset, i64)>, LogError> {
        for segment in &self.segments {
            if segment.next_offset() <= self.log_start_offset
                || segment.max_timestamp_so_far().0 < timestamp
            {
                continue;
            }
            if let Some(found) =
                segment.find_offset_by_timestamp(timestamp, self.log_start_offset)?
            {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    /// The largest timestamp in the log and the offset of the batch holding
    /// it (KIP-734's `MAX_TIMESTAMP` ListOffsets query); `None` when no
    /// batch has a timestamp.
    pub fn max_timestamp_and_offset(&self) -> Option<(i64, Offset)> {
        let best = self
            .segments
            .iter()
            .map(Segment::max_timestamp_so_far)
            .filter(|(ts, _)| *ts >= 0)
            .fold(None, |best: Option<(i64, Offset)>, m| match best {
                Some(b) if b.0 >= m.0 => Some(b),
                _ => Some(m),
            });
        best
    }

    /// fsync every segment written since the last flush, and the directory
    /// if segments were created, then move the recovery point to the log
    /// end offset.
    pub fn flush(&mut self) -> Result<(), LogError> {
        self.check_writable()?;
        let result = self.flush_unchecked();
        self.note(result)
    }

    fn flush_unchecked(&mut self) -> Result<(), LogError> {
        for segment in self.segments.iter_mut().filter(|s| s.is_dirty()) {
            segment.flush()?;
        }
        self.sync_dir_if_dirty()?;
        self.recovery_point = self.log_end_offset();
        Ok(())
    }

    fn sync_dir_if_dirty(&mut self) -> Result<(), LogError> {
        if self.dir_dirty {
            self.fs
                .sync_dir(&self.dir)
                .map_err(|e| crate::segment::io_error(&self.dir, e))?;
            self.dir_dirty = false;
        }
        Ok(())
    }

    /// Flush if Kafka's policy says so: `flush.messages` unflushed records
    /// (checked in `UnifiedLog.append`), or `flush.ms` since the last flush
    /// (the `LogManager` flusher). Returns whether it flushed.
    pub fn maybe_flush(&mut self, now_ms: i64) -> Result<bool, LogError> {
        self.observe_clock(now_ms);
        let unflushed = u64::try_from(self.unflushed_messages()).unwrap_or(0);
        let by_count = self
            .config
            .flush_messages
            .is_some_and(|n| unflushed >= n && unflushed > 0);
        let by_time = self
            .config
            .flush_ms
            .is_some_and(|ms| now_ms.saturating_sub(self.last_flush_ms) >= ms);
        if !(by_count || by_time) {
            return Ok(false);
        }
        self.flush()?;
        self.last_flush_ms = now_ms;
        Ok(true)
    }

    /// Close cleanly: end the active segment's time index with its largest
    /// timestamp (as Kafka's `LogSegment.close`), flush everything, and
    /// return the recovery point (= log end offset) to checkpoint.
    pub fn close(mut self) -> Result<Offset, LogError> {
        self.check_writable()?;
        self.active_mut().seal_time_index()?;
        self.flush()?;
        Ok(self.recovery_point)
    }
}

impl Log {
    /// Delete the partition directory and everything in it (topic deletion
    /// or a replica moved away), then fsync the parent so the removal
    /// survives a crash.
    pub fn delete(self) -> Result<(), LogError> {
        let dir = self.dir.clone();
        let fs = self.fs.clone();
        drop(self);
        fs.remove_dir_all(&dir)
            .map_err(|e| crate::segment::io_error(&dir, e))?;
        match dir.parent() {
            Some(parent) => fs
                .sync_dir(parent)
                .map_err(|e| crate::segment::io_error(parent, e)),
            None => Ok(()),
        }
    }
}

/// Walk the appended buffer: every batch whole, well-formed and CRC-valid,
/// and the total no larger than a segment (Kafka's
/// `analyzeAndValidateRecords`).
fn parse_batches(buf: &[u8], segment_bytes: u32) -> Result<Vec<BatchHeader>, LogError> {
    let mut iter = BatchIter::validating(buf);
    let headers: Vec<BatchHeader> = iter.by_ref().map(|b| b.header).collect();
    if let Some((position, source)) = iter.error() {
        return Err(LogError::CorruptBatch {
            position: *position,
            source: source.clone(),
        });
    }
    if headers.is_empty() {
        return Err(LogError::InvalidRecord("no record batches".into()));
    }
    if buf.len() as u64 > u64::from(segment_bytes) {
        return Err(LogError::RecordBatchTooLarge {
            size: buf.len() as u64,
            max: u64::from(segment_bytes),
        });
    }
    Ok(headers)
}

/// Kafka's `LogValidator.validateBatch` for producer appends: at least one
/// record, the count agreeing with the offset range, and the size limit.
fn check_producer_batches(headers: &[BatchHeader], max_message_bytes: u32) -> Result<(), LogError> {
    for h in headers {
        if h.record_count <= 0 {
            return Err(LogError::InvalidRecord(format!(
                "record count {}",
                h.record_count
            )));
        }
        if i64::from(h.record_count) != i64::from(h.last_offset_delta) + 1 {
            return Err(LogError::InvalidRecord(format!(
                "record count {} disagrees with lastOffsetDelta {}",
                h.record_count, h.last_offset_delta
            )));
        }
        if h.total_size() as u64 > u64::from(max_message_bytes) {
            return Err(LogError::MessageTooLarge {
                size: h.total_size() as u64,
                max: u64::from(max_message_bytes),
            });
        }
    }
    Ok(())
}

/// Give the batches consecutive offsets from `first` and stamp `epoch`,
/// patching the bytes in place; returns their summaries.
fn assign_offsets(
    buf: &mut [u8],
    headers: &[BatchHeader],
    first: Offset,
    epoch: LeaderEpoch,
) -> Result<Vec<BatchSummary>, LogError> {
    let mut summaries = Vec::with_capacity(headers.len());
    let (mut position, mut next) = (0usize, first);
    for h in headers {
        let mut header = *h;
        header.base_offset = next.0;
        let summary = BatchSummary::of(&header)
            .ok_or_else(|| LogError::InvalidOffset(format!("offsets overflow after {next}")))?;
        let bytes = &mut buf[position..position + h.total_size()];
        set_base_offset(bytes, next);
        set_partition_leader_epoch(bytes, epoch);
        summaries.push(summary);
        position += h.total_size();
        next = summary.next_offset();
    }
    Ok(summaries)
}

/// A follower's batches must start at the log end offset and follow each
/// other with no gap.
fn check_contiguous(
    headers: &[BatchHeader],
    log_end: Offset,
) -> Result<Vec<BatchSummary>, LogError> {
    let mut expected = log_end;
    let mut summaries = Vec::with_capacity(headers.len());
    for h in headers {
        let summary = BatchSummary::of(h).ok_or_else(|| {
            LogError::InvalidOffset(format!("offsets overflow at {}", h.base_offset))
        })?;
        if summary.base_offset != expected {
            return Err(LogError::NonContiguous {
                expected,
                actual: summary.base_offset,
            });
        }
        expected = summary.next_offset();
        summaries.push(summary);
    }
    Ok(summaries)
}
