//! One log segment: a `.log` file of v2 record batches with its sparse
//! `.index` (offset → position) and `.timeindex` (timestamp → offset), all
//! three named by the segment's base offset padded to 20 digits.
//!
//! The indexing rules are those of Kafka 4's `LogSegment.append`, so that a
//! closed segment is byte-identical to the one Kafka leaves:
//!
//! - before writing each batch, if more than `index.interval.bytes` were
//!   written since the last index entry, append an offset-index entry (the
//!   batch's *last* offset, the batch's start position) and a time-index
//!   entry (largest timestamp so far, last offset of the batch holding it)
//!   if that timestamp is larger than the last time-index entry's;
//! - when the segment stops being the active one (roll) or is closed, append
//!   the time-index entry for the largest timestamp so far if it is larger
//!   than the last one (`LogSegment.onBecomeInactiveSegment` / `close`).
//!
//! Kafka preallocates index files and trims them on roll; Weir only appends,
//! so no trimming is ever needed.
//!
//! Lookups binary-search the index *files* (as Kafka's mmap'd indexes do)
//! rather than caching entries, so a partition with thousands of segments
//! costs a few bytes of memory per segment.

use crate::fs::{File, Fs};
use crate::index_format::{
    decode_offset_entries, decode_time_entries, OffsetEntry, TimeEntry, OFFSET_ENTRY_SIZE,
    TIME_ENTRY_SIZE,
};
use crate::log::LogError;
use std::io;
use std::path::{Path, PathBuf};
use weir_protocol::batch::{validate, BatchHeader, HEADER_SIZE};
use weir_protocol::{LeaderEpoch, Offset};

/// Suffix of the record file.
pub const LOG_SUFFIX: &str = "log";
/// Suffix of the offset index.
pub const INDEX_SUFFIX: &str = "index";
/// Suffix of the time index.
pub const TIME_INDEX_SUFFIX: &str = "timeindex";

/// Kafka's `RecordBatch.NO_TIMESTAMP`: the time index only records
/// timestamps above it.
const NO_TIMESTAMP: i64 = -1;
/// Largest offset distance from the base that an index can hold. Kafka
/// stores relative offsets as a Java `int`, so it rolls before exceeding
/// `Integer.MAX_VALUE` (`AbstractIndex.toRelative`), not `u32::MAX`.
const MAX_RELATIVE_OFFSET: i64 = i32::MAX as i64;
/// Largest `.log` size an index position can address (Java `int`).
const MAX_SEGMENT_POSITION: u64 = i32::MAX as u64;
/// Read-ahead for sequential batch scans (recovery, header walks).
const SCAN_CHUNK_BYTES: usize = 1 << 20;

/// `<dir>/<20-digit base offset>.<suffix>`, Kafka's file naming.
pub fn segment_file_path(dir: &Path, base_offset: Offset, suffix: &str) -> PathBuf {
    dir.join(format!("{:020}.{suffix}", base_offset.0))
}

/// Split a file name such as `00000000000000000175.index` into its base
/// offset and suffix; `None` for names that are not segment files.
/// Base offsets so large that an index entry (base + u32) would overflow
/// `i64` are not segment names Weir accepts.
pub fn parse_segment_file_name(name: &str) -> Option<(Offset, &str)> {
    let (stem, suffix) = name.split_once('.')?;
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let base: i64 = stem.parse().ok()?;
    (base <= i64::MAX - i64::from(u32::MAX)).then_some((Offset(base), suffix))
}

/// The batch of a validated append, as the segment needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchSummary {
    /// First offset of the batch.
    pub base_offset: Offset,
    /// Last offset of the batch.
    pub last_offset: Offset,
    /// Bytes of the batch, header included.
    pub size: u32,
    /// The batch's maxTimestamp.
    pub max_timestamp: i64,
}

impl BatchSummary {
    /// Summarise a parsed header; `None` when its offsets overflow `i64`
    /// (only garbage can do that, but garbage must not panic).
    pub fn of(header: &BatchHeader) -> Option<BatchSummary> {
        let last = header
            .base_offset
            .checked_add(i64::from(header.last_offset_delta))?;
        last.checked_add(1)?;
        Some(BatchSummary {
            base_offset: Offset(header.base_offset),
            last_offset: Offset(last),
            size: u32::try_from(header.total_size()).ok()?,
            max_timestamp: header.max_timestamp,
        })
    }

    /// The offset after this batch.
    pub fn next_offset(&self) -> Offset {
        self.last_offset.plus(1)
    }
}

/// Sizes that govern indexing and rolling, copied from the `LogConfig`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentLimits {
    /// `index.interval.bytes`.
    pub index_interval_bytes: u32,
    /// `segment.index.bytes`: maximum size of each index file.
    pub max_index_bytes: u32,
}

/// What recovery of one segment found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RecoveryOutcome {
    /// Bytes cut from the end of the `.log` (a torn or corrupt tail).
    pub truncated_bytes: u64,
    /// Why the walk stopped early, if it did.
    pub problem: Option<String>,
    /// (epoch, first offset) for every batch whose non-negative epoch is
    /// larger than every epoch before it in the segment, in order: what
    /// Kafka's `LogSegment.recover` assigns in the leader-epoch cache.
    pub epoch_starts: Vec<(LeaderEpoch, Offset)>,
}

/// One `.log` + `.index` + `.timeindex` triple.
///
/// Invariants: `size` is the `.log` length and ends on a batch boundary;
/// every batch in the `.log` has offsets in `[base_offset, next_offset)`,
/// contiguous; index entries have strictly increasing offsets below
/// `next_offset` and positions below `size`.
#[derive(Debug)]
pub struct Segment {
    fs: Fs,
    dir: PathBuf,
    base_offset: Offset,
    limits: SegmentLimits,
    log: Box<dyn File>,
    offset_index: OffsetIndex,
    time_index: TimeIndex,
    /// Bytes in the `.log`.
    size: u64,
    /// The offset after the last batch (the base offset when empty).
    next_offset: Offset,
    /// Kafka's `maxTimestampAndOffsetSoFar`: the largest batch maxTimestamp
    /// and the last offset of the first batch that reached it.
    max_timestamp_so_far: TimeEntry,
    /// Kafka's `rollingBasedTimestamp`: the first batch's maxTimestamp.
    first_batch_timestamp: Option<i64>,
    /// When this process created or opened the segment (Kafka's `created`).
    created_ms: i64,
    /// Bytes appended since the last offset-index entry. Starts at 0 for a
    /// reopened segment, as in Kafka, so indexes after a restart may differ
    /// from a rebuild — both are valid sparse indexes.
    bytes_since_last_index_entry: u64,
    /// Written since the last fsync.
    dirty: bool,
}

impl Segment {
    /// Create an empty segment (replacing stale files of the same name).
    pub fn create(
        fs: Fs,
        dir: &Path,
        base_offset: Offset,
        limits: SegmentLimits,
        now_ms: i64,
    ) -> Result<Segment, LogError> {
        let create = |suffix| {
            open_file(
                &fs,
                &segment_file_path(dir, base_offset, suffix),
                true,
                true,
            )
        };
        let log = create(LOG_SUFFIX)?;
        let offset_index = OffsetIndex::new(create(INDEX_SUFFIX)?, dir, base_offset, limits);
        let time_index = TimeIndex::new(create(TIME_INDEX_SUFFIX)?, dir, base_offset, limits);
        let files = SegmentFiles {
            log,
            offset_index,
            time_index,
        };
        let mut segment = Segment::assemble(fs, dir, base_offset, limits, now_ms, files);
        segment.dirty = true;
        Ok(segment)
    }

    /// Open an existing segment. Returns the segment and whether it must be
    /// recovered before use: an index that is missing, has a partial entry,
    /// non-increasing offsets or positions, or points past the end of the
    /// log, or a `.log` whose tail does not walk cleanly from the last index
    /// entry. A segment that needs recovery has not been trusted for
    /// anything but its size.
    pub fn open(
        fs: Fs,
        dir: &Path,
        base_offset: Offset,
        limits: SegmentLimits,
        now_ms: i64,
    ) -> Result<(Segment, bool), LogError> {
        let log_path = segment_file_path(dir, base_offset, LOG_SUFFIX);
        let log = open_file(&fs, &log_path, false, false)?;
        let size = log.len().map_err(|e| io_error(&log_path, e))?;
        let (offset_index, offset_bytes) = OffsetIndex::open(&fs, dir, base_offset, limits)?;
        let (time_index, time_bytes) = TimeIndex::open(&fs, dir, base_offset, limits)?;
        let files = SegmentFiles {
            log,
            offset_index,
            time_index,
        };
        let mut segment = Segment::assemble(fs, dir, base_offset, limits, now_ms, files);
        segment.size = size;
        let sane = match (offset_bytes, time_bytes) {
            (Some(o), Some(t)) => segment.load_state(&o, &t)?,
            _ => false,
        };
        Ok((segment, !sane))
    }

    /// An empty, clean segment over opened files.
    fn assemble(
        fs: Fs,
        dir: &Path,
        base_offset: Offset,
        limits: SegmentLimits,
        now_ms: i64,
        files: SegmentFiles,
    ) -> Segment {
        Segment {
            fs,
            dir: dir.to_path_buf(),
            base_offset,
            limits,
            log: files.log,
            offset_index: files.offset_index,
            time_index: files.time_index,
            size: 0,
            next_offset: base_offset,
            max_timestamp_so_far: no_timestamp(base_offset),
            first_batch_timestamp: None,
            created_ms: now_ms,
            bytes_since_last_index_entry: 0,
            dirty: false,
        }
    }

    /// Check the indexes read at open against the `.log` and derive the
    /// in-memory state (next offset, largest timestamp) without reading the
    /// whole `.log`: only the batches after the last index entries are
    /// walked, as Kafka's `readNextOffset` / `readLargestTimestamp` do.
    fn load_state(&mut self, offset_bytes: &[u8], time_bytes: &[u8]) -> Result<bool, LogError> {
        if self.size > MAX_SEGMENT_POSITION
            || !offset_bytes.len().is_multiple_of(OFFSET_ENTRY_SIZE)
            || !time_bytes.len().is_multiple_of(TIME_ENTRY_SIZE)
        {
            return Ok(false);
        }
        let offsets = decode_offset_entries(self.base_offset.0, offset_bytes);
        let times = decode_time_entries(self.base_offset.0, time_bytes);
        if !offsets_sane(&offsets, self.base_offset, self.size)
            || !times_sane(&times, self.base_offset)
        {
            return Ok(false);
        }
        let last_time = times.last().copied();
        let walk_from = offsets.last().map_or(0, |e| e.position);
        let Some(tail) = self.walk_tail(u64::from(walk_from), offsets.last())? else {
            return Ok(false);
        };
        if last_time.is_some_and(|t| t.offset >= tail.next_offset.0) {
            return Ok(false);
        }
        self.next_offset = tail.next_offset;
        // Exact for a sealed segment (its last time entry is the maximum);
        // the active one is completed by `load_largest_timestamp`.
        self.max_timestamp_so_far = match (last_time, tail.max_timestamp) {
            (Some(t), Some(m)) if m.timestamp <= t.timestamp => t,
            (_, Some(m)) => m,
            (Some(t), None) => t,
            (None, None) => no_timestamp(self.base_offset),
        };
        self.first_batch_timestamp = self.read_first_batch_timestamp()?;
        Ok(true)
    }

    /// Kafka's lazy `readLargestTimestamp` for a reopened active segment,
    /// whose time index may lack its final entry: walk the batches after
    /// the last time-index entry.
    pub fn load_largest_timestamp(&mut self) -> Result<(), LogError> {
        self.max_timestamp_so_far = self.read_largest_timestamp()?;
        Ok(())
    }

    /// Walk batch headers from `from` to the end of the `.log`. `None` when
    /// the walk does not end exactly at the end of the file, offsets are
    /// not contiguous, or the batch at `last_entry`'s position is not the
    /// one the entry names.
    fn walk_tail(
        &self,
        from: u64,
        last_entry: Option<&OffsetEntry>,
    ) -> Result<Option<TailState>, LogError> {
        let mut reader = ChunkReader::new(self.log.as_ref(), self.size, 64 << 10);
        let mut state = TailState {
            next_offset: self.base_offset,
            max_timestamp: None,
        };
        let mut expected: Option<Offset> = None;
        let mut pos = from;
        while pos < self.size {
            let Some(summary) = reader.header_at(pos).map_err(|e| io_error(&self.dir, e))? else {
                return Ok(None);
            };
            let in_order = match expected {
                Some(e) => summary.base_offset == e,
                None => summary.base_offset >= self.base_offset,
            };
            let entry_matches = last_entry
                .filter(|e| u64::from(e.position) == pos)
                .is_none_or(|e| e.offset == summary.last_offset.0);
            if !in_order || !entry_matches || !self.fits(summary.last_offset) {
                return Ok(None);
            }
            if state
                .max_timestamp
                .is_none_or(|m| summary.max_timestamp > m.timestamp)
            {
                state.max_timestamp = Some(TimeEntry {
                    timestamp: summary.max_timestamp,
                    offset: summary.last_offset.0,
                });
            }
            state.next_offset = summary.next_offset();
            expected = Some(summary.next_offset());
            pos += u64::from(summary.size);
        }
        Ok(Some(state).filter(|_| pos == self.size))
    }

    /// (epoch, first offset) of each batch whose epoch is larger than all
    /// before it: what recovery would assign in the leader-epoch cache, for
    /// rebuilding a lost checkpoint without validating the segment again.
    pub fn epoch_starts(&self) -> Result<Vec<(LeaderEpoch, Offset)>, LogError> {
        let mut reader = ChunkReader::new(self.log.as_ref(), self.size, SCAN_CHUNK_BYTES);
        let (mut starts, mut latest) = (Vec::new(), -1);
        let mut pos = 0;
        while pos + HEADER_SIZE as u64 <= self.size {
            let head = reader
                .bytes_at(pos, HEADER_SIZE)
                .map_err(|e| io_error(&self.dir, e))?;
            let Ok(header) = BatchHeader::parse(head) else {
                break;
            };
            if header.partition_leader_epoch > latest {
                latest = header.partition_leader_epoch;
                starts.push((header.leader_epoch(), Offset(header.base_offset)));
            }
            pos += header.total_size() as u64;
        }
        Ok(starts)
    }

    fn read_first_batch_timestamp(&self) -> Result<Option<i64>, LogError> {
        if self.size == 0 {
            return Ok(None);
        }
        let mut reader = ChunkReader::new(self.log.as_ref(), self.size, HEADER_SIZE);
        let header = reader.header_at(0).map_err(|e| io_error(&self.dir, e))?;
        Ok(header.map(|h| h.max_timestamp))
    }

    /// Kafka's `LogSegment.recover`: validate every batch (length, magic,
    /// CRC-32C, offsets contiguous and within `i32` of the base), cut the
    /// `.log` at the first bad batch, and rebuild both indexes from what
    /// remains, ending the time index with the largest timestamp as a
    /// cleanly closed segment would. `first_base` is the base offset the
    /// first batch must have (the previous segment's end), if known.
    pub fn recover(&mut self, first_base: Option<Offset>) -> Result<RecoveryOutcome, LogError> {
        let file_len = self.log.len().map_err(|e| io_error(&self.dir, e))?;
        let mut rebuild = Rebuild::new(self.base_offset, self.limits.index_interval_bytes);
        let mut reader = ChunkReader::new(self.log.as_ref(), file_len, SCAN_CHUNK_BYTES);
        let mut expected = first_base;
        let mut outcome = RecoveryOutcome::default();
        let mut latest_epoch: Option<i32> = None;
        while rebuild.valid_bytes < file_len {
            let pos = rebuild.valid_bytes;
            let batch = match self.check_batch(&mut reader, pos, expected) {
                Ok(b) => b,
                Err(problem) => {
                    outcome.problem = Some(format!("at byte {pos}: {problem}"));
                    break;
                }
            };
            let epoch = batch.partition_leader_epoch;
            if epoch >= 0 && latest_epoch.is_none_or(|l| epoch > l) {
                latest_epoch = Some(epoch);
                outcome
                    .epoch_starts
                    .push((LeaderEpoch(epoch), Offset(batch.base_offset)));
            }
            let Some(summary) = BatchSummary::of(&batch) else {
                break;
            };
            rebuild.add(&summary);
            expected = Some(summary.next_offset());
        }
        outcome.truncated_bytes = file_len - rebuild.valid_bytes;
        if let Some(problem) = &outcome.problem {
            tracing::warn!(
                segment = %segment_file_path(&self.dir, self.base_offset, LOG_SUFFIX).display(),
                truncated_bytes = outcome.truncated_bytes,
                "invalid batch during recovery, truncating: {problem}"
            );
        }
        self.apply_rebuild(rebuild, expected)?;
        Ok(outcome)
    }

    /// Read and fully validate the batch at `pos`; the error names why the
    /// log must be cut there.
    fn check_batch(
        &self,
        reader: &mut ChunkReader<'_>,
        pos: u64,
        expected: Option<Offset>,
    ) -> Result<BatchHeader, String> {
        let head = reader
            .bytes_at(pos, HEADER_SIZE)
            .map_err(|e| e.to_string())?;
        let header = BatchHeader::parse(head).map_err(|e| e.to_string())?;
        let size = header.total_size() as u64;
        if pos + size > MAX_SEGMENT_POSITION {
            return Err("batch ends beyond the largest indexable position".into());
        }
        let bytes = reader
            .bytes_at(pos, header.total_size())
            .map_err(|e| e.to_string())?;
        let header = validate(bytes).map_err(|e| e.to_string())?;
        let summary = BatchSummary::of(&header).ok_or("batch offsets overflow")?;
        let in_order = match expected {
            Some(e) => summary.base_offset == e,
            None => summary.base_offset >= self.base_offset,
        };
        if !in_order {
            return Err(format!(
                "batch base offset {} does not follow {:?}",
                summary.base_offset, expected
            ));
        }
        if !self.fits(summary.last_offset) {
            return Err(format!(
                "offset {} overflows the segment",
                summary.last_offset
            ));
        }
        Ok(header)
    }

    fn apply_rebuild(&mut self, rebuild: Rebuild, next: Option<Offset>) -> Result<(), LogError> {
        self.log
            .set_len(rebuild.valid_bytes)
            .map_err(|e| io_error(&self.dir, e))?;
        self.offset_index.replace(&rebuild.offset_bytes)?;
        let mut time_bytes = rebuild.time_bytes;
        let max = rebuild.max_timestamp_so_far;
        if max.timestamp > rebuild.last_time_index_timestamp {
            time_bytes.extend_from_slice(&max.encode(self.base_offset.0));
        }
        self.time_index.replace(&time_bytes)?;
        self.size = rebuild.valid_bytes;
        self.next_offset = next.unwrap_or(self.base_offset);
        self.max_timestamp_so_far = max;
        self.first_batch_timestamp = rebuild.first_batch_timestamp;
        self.bytes_since_last_index_entry = 0;
        self.dirty = true;
        Ok(())
    }

    /// Can an index hold `offset` relative to this segment's base?
    pub fn fits(&self, offset: Offset) -> bool {
        (0..=MAX_RELATIVE_OFFSET).contains(&(offset.0 - self.base_offset.0))
    }

    /// Append already-validated batches (`bytes` is their concatenation,
    /// `batches` their summaries in order), indexing them as Kafka 4's
    /// `LogSegment.append` does.
    pub fn append(&mut self, bytes: &[u8], batches: &[BatchSummary]) -> Result<(), LogError> {
        let (Some(first), Some(last)) = (batches.first(), batches.last()) else {
            return Ok(());
        };
        debug_assert_eq!(first.base_offset, self.next_offset);
        if self.size == 0 {
            self.first_batch_timestamp = Some(first.max_timestamp);
        }
        self.log.append(bytes).map_err(|e| io_error(&self.dir, e))?;
        self.dirty = true;
        let mut position = self.size;
        for batch in batches {
            if batch.max_timestamp > self.max_timestamp_so_far.timestamp {
                self.max_timestamp_so_far = TimeEntry {
                    timestamp: batch.max_timestamp,
                    offset: batch.last_offset.0,
                };
            }
            if self.bytes_since_last_index_entry > u64::from(self.limits.index_interval_bytes) {
                self.offset_index.append(OffsetEntry {
                    offset: batch.last_offset.0,
                    position: position as u32,
                })?;
                self.time_index.maybe_append(self.max_timestamp_so_far)?;
                self.bytes_since_last_index_entry = 0;
            }
            position += u64::from(batch.size);
            self.bytes_since_last_index_entry += u64::from(batch.size);
        }
        self.size = position;
        self.next_offset = last.next_offset();
        Ok(())
    }

    /// Kafka's `LogSegment.shouldRoll`: roll before appending `incoming_bytes`
    /// ending at `last_offset` with largest timestamp `max_timestamp` if the
    /// segment would grow past `segment_bytes`, is older than `segment_ms`
    /// (by its first batch's timestamp, or by creation time when that is
    /// unknown), has a full index, or cannot index `last_offset`.
    pub fn should_roll(&self, roll: &RollCheck) -> bool {
        let full = self.size > 0 && self.size + roll.incoming_bytes > roll.segment_bytes;
        let aged = self.size > 0 && self.age_ms(roll.now_ms, roll.max_timestamp) > roll.segment_ms;
        full || aged
            || self.offset_index.is_full()
            || self.time_index.is_full()
            || !self.fits(roll.last_offset)
    }

    /// Kafka's `timeWaitedForRoll`.
    fn age_ms(&self, now_ms: i64, max_timestamp: i64) -> i64 {
        match self.first_batch_timestamp {
            Some(first) if first >= 0 => max_timestamp.saturating_sub(first),
            _ => now_ms.saturating_sub(self.created_ms),
        }
    }

    /// Kafka's `onBecomeInactiveSegment` and the timestamp part of
    /// `LogSegment.close`: record the largest timestamp in the time index,
    /// which is why every segment Kafka closes ends with that entry.
    pub fn seal_time_index(&mut self) -> Result<(), LogError> {
        if self.time_index.maybe_append(self.max_timestamp_so_far)? {
            self.dirty = true;
        }
        Ok(())
    }

    /// Where the batch holding `offset` starts, with its header: the index
    /// gives a position at or before it, then batch headers are walked.
    /// `None` when `offset` is at or past the end of the segment.
    fn locate(&self, offset: Offset) -> Result<Option<(u64, BatchSummary)>, LogError> {
        let offset = offset.max(self.base_offset);
        if offset >= self.next_offset {
            return Ok(None);
        }
        let hint = self
            .offset_index
            .lookup(offset)?
            .map_or(0, |e| u64::from(e.position));
        if let Some(found) = self.walk_to(hint, offset, true)? {
            return Ok(Some(found));
        }
        // The index pointed somewhere that is not a batch boundary before
        // `offset`: distrust it and walk from the start. From there, as
        // Kafka's `translateOffset`, the answer is the first batch ending at
        // or after `offset`, even one starting after it (a Kafka segment's
        // first batch may start above the base offset after compaction).
        match self.walk_to(0, offset, false)? {
            Some(found) => Ok(Some(found)),
            None => Err(LogError::CorruptSegment {
                path: segment_file_path(&self.dir, self.base_offset, LOG_SUFFIX),
                detail: format!(
                    "no batch holds offset {offset} below end offset {}",
                    self.next_offset
                ),
            }),
        }
    }

    /// Walk from `from` to the first batch whose last offset is >= `offset`.
    /// With `strict`, a batch starting after `offset` means `from` was wrong
    /// (`None`).
    fn walk_to(
        &self,
        from: u64,
        offset: Offset,
        strict: bool,
    ) -> Result<Option<(u64, BatchSummary)>, LogError> {
        let mut reader = ChunkReader::new(self.log.as_ref(), self.size, 16 << 10);
        let mut pos = from;
        while pos < self.size {
            let Some(batch) = reader.header_at(pos).map_err(|e| io_error(&self.dir, e))? else {
                return Ok(None);
            };
            if strict && batch.base_offset > offset {
                return Ok(None);
            }
            if batch.last_offset >= offset {
                return Ok(Some((pos, batch)));
            }
            pos += u64::from(batch.size);
        }
        Ok(None)
    }

    /// Whole batches starting with the one holding `offset`: at least that
    /// batch (Kafka's `minOneMessage`), then as many following ones as fit
    /// in `max_bytes`, stopping before any batch whose last offset is at or
    /// past `max_offset`. `None` when `offset` is past the segment's end;
    /// empty when the first batch already reaches `max_offset`.
    pub fn read(
        &self,
        offset: Offset,
        max_bytes: usize,
        max_offset: Offset,
    ) -> Result<Option<Vec<u8>>, LogError> {
        let Some((start, first)) = self.locate(offset)? else {
            return Ok(None);
        };
        if first.last_offset >= max_offset {
            return Ok(Some(Vec::new()));
        }
        let budget = (max_bytes as u64)
            .max(u64::from(first.size))
            .min(self.size - start);
        let mut data = self.read_bytes(start, budget)?;
        let end = whole_batches_len(&data, max_offset).max(first.size as usize);
        data.truncate(end);
        Ok(Some(data))
    }

    fn read_bytes(&self, pos: u64, len: u64) -> Result<Vec<u8>, LogError> {
        let len = usize::try_from(len).map_err(|_| {
            io_error(
                &self.dir,
                io::Error::new(io::ErrorKind::InvalidInput, "read too large"),
            )
        })?;
        self.log
            .read_vec_at(pos, len)
            .map_err(|e| io_error(&self.dir, e))
    }

    /// Kafka's `LogSegment.findOffsetByTimestamp`, at batch granularity:
    /// the first batch with maxTimestamp >= `timestamp` and last offset >=
    /// `start_offset`, as (its base offset raised to `start_offset`, its
    /// maxTimestamp). Kafka goes on to the first *record* inside that batch;
    /// Weir does not decode records, so a consumer may see a few earlier
    /// records of the same batch.
    pub fn find_offset_by_timestamp(
        &self,
        timestamp: i64,
        start_offset: Offset,
    ) -> Result<Option<(Offset, i64)>, LogError> {
        let from_time = self
            .time_index
            .lookup(timestamp)?
            .map_or(self.base_offset, |e| Offset(e.offset));
        let hint = self
            .offset_index
            .lookup(from_time.max(start_offset))?
            .map_or(0, |e| u64::from(e.position));
        let mut reader = ChunkReader::new(self.log.as_ref(), self.size, 64 << 10);
        let mut pos = hint;
        while pos < self.size {
            let Some(batch) = reader.header_at(pos).map_err(|e| io_error(&self.dir, e))? else {
                return Ok(None);
            };
            if batch.max_timestamp >= timestamp && batch.last_offset >= start_offset {
                return Ok(Some((
                    batch.base_offset.max(start_offset),
                    batch.max_timestamp,
                )));
            }
            pos += u64::from(batch.size);
        }
        Ok(None)
    }

    /// Kafka's `LogSegment.truncateTo`: drop every batch whose last offset
    /// is >= `offset` (a batch holding `offset` goes whole, so the segment
    /// then ends at that batch's base offset) and the index entries that
    /// point at them. Returns the bytes removed.
    pub fn truncate_to(&mut self, offset: Offset) -> Result<u64, LogError> {
        let Some((position, batch)) = self.locate(offset)? else {
            return Ok(0);
        };
        self.offset_index.truncate_to(batch.base_offset)?;
        self.time_index.truncate_to(batch.base_offset)?;
        self.log
            .set_len(position)
            .map_err(|e| io_error(&self.dir, e))?;
        let removed = self.size - position;
        self.size = position;
        self.next_offset = batch.base_offset;
        self.dirty = true;
        self.bytes_since_last_index_entry = 0;
        if self.size == 0 {
            self.first_batch_timestamp = None;
        }
        self.max_timestamp_so_far = self.read_largest_timestamp()?;
        Ok(removed)
    }

    /// Kafka's `readLargestTimestamp`: the last time-index entry, unless a
    /// batch after it has a larger timestamp.
    fn read_largest_timestamp(&self) -> Result<TimeEntry, LogError> {
        let last = self
            .time_index
            .last
            .unwrap_or(no_timestamp(self.base_offset));
        let mut best = last;
        let from = self
            .offset_index
            .lookup(Offset(last.offset))?
            .map_or(0, |e| u64::from(e.position));
        let mut reader = ChunkReader::new(self.log.as_ref(), self.size, 64 << 10);
        let mut pos = from;
        while pos < self.size {
            let Some(batch) = reader.header_at(pos).map_err(|e| io_error(&self.dir, e))? else {
                break;
            };
            if batch.max_timestamp > best.timestamp {
                best = TimeEntry {
                    timestamp: batch.max_timestamp,
                    offset: batch.last_offset.0,
                };
            }
            pos += u64::from(batch.size);
        }
        Ok(best)
    }

    /// fsync the `.log` and both indexes if anything was written since the
    /// last flush.
    pub fn flush(&mut self) -> Result<(), LogError> {
        if !self.dirty {
            return Ok(());
        }
        self.log.sync().map_err(|e| io_error(&self.dir, e))?;
        self.offset_index
            .file
            .sync()
            .map_err(|e| io_error(&self.dir, e))?;
        self.time_index
            .file
            .sync()
            .map_err(|e| io_error(&self.dir, e))?;
        self.dirty = false;
        Ok(())
    }

    /// Delete the segment's three files.
    pub fn delete(self) -> Result<(), LogError> {
        for suffix in [LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX] {
            let path = segment_file_path(&self.dir, self.base_offset, suffix);
            match self.fs.remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_error(&path, e)),
            }
        }
        Ok(())
    }

    /// Offset of the first record this segment may hold.
    pub fn base_offset(&self) -> Offset {
        self.base_offset
    }

    /// The offset after its last batch (its base offset when empty).
    pub fn next_offset(&self) -> Offset {
        self.next_offset
    }

    /// Bytes in the `.log`.
    pub fn size_bytes(&self) -> u64 {
        self.size
    }

    /// No batches.
    pub fn is_empty(&self) -> bool {
        self.size == 0
    }

    /// Written since the last flush.
    pub fn is_dirty(&self) -> bool {
        self.dirty
    }

    /// Largest batch maxTimestamp and the last offset of the batch holding
    /// it; timestamp −1 when no batch has one.
    pub fn max_timestamp_so_far(&self) -> (i64, Offset) {
        (
            self.max_timestamp_so_far.timestamp,
            Offset(self.max_timestamp_so_far.offset),
        )
    }

    /// Kafka's `LogSegment.largestTimestamp`, which retention.ms compares
    /// with the clock: the largest batch timestamp, or when no batch has
    /// one, when the segment was created or opened (Kafka uses the file's
    /// modification time, which the `FileSystem` trait does not expose).
    pub fn largest_timestamp(&self) -> i64 {
        if self.max_timestamp_so_far.timestamp >= 0 {
            self.max_timestamp_so_far.timestamp
        } else {
            self.created_ms
        }
    }
}

/// The three open files of a segment.
#[derive(Debug)]
struct SegmentFiles {
    log: Box<dyn File>,
    offset_index: OffsetIndex,
    time_index: TimeIndex,
}

/// Inputs to [`Segment::should_roll`] (Kafka's `RollParams`).
#[derive(Debug, Clone, Copy)]
pub struct RollCheck {
    /// `segment.bytes`.
    pub segment_bytes: u64,
    /// `segment.ms`.
    pub segment_ms: i64,
    /// Size of the batches about to be appended.
    pub incoming_bytes: u64,
    /// Their largest maxTimestamp.
    pub max_timestamp: i64,
    /// Their last offset.
    pub last_offset: Offset,
    /// The clock.
    pub now_ms: i64,
}

fn no_timestamp(base_offset: Offset) -> TimeEntry {
    TimeEntry {
        timestamp: NO_TIMESTAMP,
        offset: base_offset.0,
    }
}

#[derive(Debug)]
struct TailState {
    next_offset: Offset,
    max_timestamp: Option<TimeEntry>,
}

/// Index entries and state rebuilt while recovering a segment.
#[derive(Debug)]
struct Rebuild {
    base_offset: Offset,
    index_interval_bytes: u64,
    valid_bytes: u64,
    last_index_entry_position: u64,
    offset_bytes: Vec<u8>,
    time_bytes: Vec<u8>,
    last_time_index_timestamp: i64,
    max_timestamp_so_far: TimeEntry,
    first_batch_timestamp: Option<i64>,
}

impl Rebuild {
    fn new(base_offset: Offset, index_interval_bytes: u32) -> Rebuild {
        Rebuild {
            base_offset,
            index_interval_bytes: u64::from(index_interval_bytes),
            valid_bytes: 0,
            last_index_entry_position: 0,
            offset_bytes: Vec::new(),
            time_bytes: Vec::new(),
            last_time_index_timestamp: NO_TIMESTAMP,
            max_timestamp_so_far: no_timestamp(base_offset),
            first_batch_timestamp: None,
        }
    }

    /// The same rule as [`Segment::append`], in `LogSegment.recover`'s form.
    fn add(&mut self, batch: &BatchSummary) {
        if self.first_batch_timestamp.is_none() {
            self.first_batch_timestamp = Some(batch.max_timestamp);
        }
        if batch.max_timestamp > self.max_timestamp_so_far.timestamp {
            self.max_timestamp_so_far = TimeEntry {
                timestamp: batch.max_timestamp,
                offset: batch.last_offset.0,
            };
        }
        if self.valid_bytes - self.last_index_entry_position > self.index_interval_bytes {
            let entry = OffsetEntry {
                offset: batch.last_offset.0,
                position: self.valid_bytes as u32,
            };
            self.offset_bytes
                .extend_from_slice(&entry.encode(self.base_offset.0));
            let max = self.max_timestamp_so_far;
            if max.timestamp > self.last_time_index_timestamp {
                self.time_bytes
                    .extend_from_slice(&max.encode(self.base_offset.0));
                self.last_time_index_timestamp = max.timestamp;
            }
            self.last_index_entry_position = self.valid_bytes;
        }
        self.valid_bytes += u64::from(batch.size);
    }
}

/// Length of the longest prefix of `data` made of whole batches whose last
/// offsets are below `max_offset`.
fn whole_batches_len(data: &[u8], max_offset: Offset) -> usize {
    let mut pos = 0;
    while pos < data.len() {
        let Ok(header) = BatchHeader::parse(&data[pos..]) else {
            break;
        };
        let Some(summary) = BatchSummary::of(&header) else {
            break;
        };
        let end = pos + header.total_size();
        if end > data.len() || summary.last_offset >= max_offset {
            break;
        }
        pos = end;
    }
    pos
}

fn offsets_sane(entries: &[OffsetEntry], base: Offset, log_size: u64) -> bool {
    let in_range = entries
        .iter()
        .all(|e| e.offset >= base.0 && u64::from(e.position) < log_size);
    let increasing = entries
        .windows(2)
        .all(|w| w[1].offset > w[0].offset && w[1].position > w[0].position);
    in_range && increasing
}

fn times_sane(entries: &[TimeEntry], base: Offset) -> bool {
    let in_range = entries
        .iter()
        .all(|e| e.offset >= base.0 && e.timestamp > NO_TIMESTAMP);
    let increasing = entries
        .windows(2)
        .all(|w| w[1].timestamp > w[0].timestamp && w[1].offset >= w[0].offset);
    in_range && increasing
}

fn open_file(
    fs: &Fs,
    path: &Path,
    create: bool,
    truncate: bool,
) -> Result<Box<dyn File>, LogError> {
    let mut file = fs.open(path, create).map_err(|e| io_error(path, e))?;
    if truncate {
        file.set_len(0).map_err(|e| io_error(path, e))?;
    }
    Ok(file)
}

pub(crate) fn io_error(path: &Path, source: io::Error) -> LogError {
    LogError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Reads a file sequentially through a buffer, so walking thousands of
/// batch headers costs a few large reads rather than one read each.
struct ChunkReader<'a> {
    file: &'a dyn File,
    file_len: u64,
    chunk: usize,
    buf: Vec<u8>,
    buf_start: u64,
}

impl<'a> ChunkReader<'a> {
    fn new(file: &'a dyn File, file_len: u64, chunk: usize) -> ChunkReader<'a> {
        ChunkReader {
            file,
            file_len,
            chunk,
            buf: Vec::new(),
            buf_start: 0,
        }
    }

    /// `len` bytes at `pos`; `UnexpectedEof` past the end of the file.
    fn bytes_at(&mut self, pos: u64, len: usize) -> io::Result<&[u8]> {
        let end = pos.checked_add(len as u64).filter(|&e| e <= self.file_len);
        let Some(end) = end else {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "batch runs past end of file",
            ));
        };
        let buf_end = self.buf_start + self.buf.len() as u64;
        if pos < self.buf_start || end > buf_end {
            let want = (len.max(self.chunk) as u64).min(self.file_len - pos);
            self.buf = self.file.read_vec_at(pos, want as usize)?;
            self.buf_start = pos;
        }
        let from = (pos - self.buf_start) as usize;
        Ok(&self.buf[from..from + len])
    }

    /// The header of the batch at `pos` if it parses and the batch lies
    /// within the file; `None` for anything else that is not an I/O error.
    fn header_at(&mut self, pos: u64) -> io::Result<Option<BatchSummary>> {
        if pos + HEADER_SIZE as u64 > self.file_len {
            return Ok(None);
        }
        let header = match BatchHeader::parse(self.bytes_at(pos, HEADER_SIZE)?) {
            Ok(h) => h,
            Err(_) => return Ok(None),
        };
        let fits = pos + header.total_size() as u64 <= self.file_len;
        Ok(BatchSummary::of(&header).filter(|_| fits))
    }
}

/// The `.index` file of a segment; entries are read from the file on
/// lookup, only the count and last entry are kept.
#[derive(Debug)]
struct OffsetIndex {
    file: Box<dyn File>,
    path: PathBuf,
    base_offset: Offset,
    entries: u64,
    max_entries: u64,
    last: Option<OffsetEntry>,
}

impl OffsetIndex {
    fn new(
        file: Box<dyn File>,
        dir: &Path,
        base_offset: Offset,
        limits: SegmentLimits,
    ) -> OffsetIndex {
        OffsetIndex {
            file,
            path: segment_file_path(dir, base_offset, INDEX_SUFFIX),
            base_offset,
            entries: 0,
            max_entries: u64::from(limits.max_index_bytes) / OFFSET_ENTRY_SIZE as u64,
            last: None,
        }
    }

    /// Open (creating it empty if missing) and read the whole file; the
    /// bytes are `None` when the file was missing.
    fn open(
        fs: &Fs,
        dir: &Path,
        base: Offset,
        limits: SegmentLimits,
    ) -> Result<(OffsetIndex, Option<Vec<u8>>), LogError> {
        let path = segment_file_path(dir, base, INDEX_SUFFIX);
        let (file, bytes) = open_index_file(fs, &path)?;
        let mut index = OffsetIndex::new(file, dir, base, limits);
        if let Some(b) = &bytes {
            index.entries = (b.len() / OFFSET_ENTRY_SIZE) as u64;
            index.last = decode_offset_entries(base.0, b).last().copied();
        }
        Ok((index, bytes))
    }

    fn is_full(&self) -> bool {
        self.entries >= self.max_entries
    }

    fn append(&mut self, entry: OffsetEntry) -> Result<(), LogError> {
        if self.last.is_some_and(|l| entry.offset <= l.offset) {
            return Err(LogError::CorruptSegment {
                path: self.path.clone(),
                detail: format!("index entry offset {} not above the last one", entry.offset),
            });
        }
        self.file
            .append(&entry.encode(self.base_offset.0))
            .map_err(|e| io_error(&self.path, e))?;
        self.entries += 1;
        self.last = Some(entry);
        Ok(())
    }

    fn entry(&self, i: u64) -> Result<OffsetEntry, LogError> {
        let bytes = self
            .file
            .read_vec_at(i * OFFSET_ENTRY_SIZE as u64, OFFSET_ENTRY_SIZE)
            .map_err(|e| io_error(&self.path, e))?;
        decode_offset_entries(self.base_offset.0, &bytes)
            .first()
            .copied()
            .ok_or_else(|| io_error(&self.path, io::ErrorKind::UnexpectedEof.into()))
    }

    /// Number of entries whose offset is <= `offset` (they are sorted).
    fn count_at_or_below(&self, offset: Offset) -> Result<u64, LogError> {
        let (mut lo, mut hi) = (0, self.entries);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.entry(mid)?.offset <= offset.0 {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok(lo)
    }

    /// Kafka's `OffsetIndex.lookup`: the last entry with offset <= `offset`.
    fn lookup(&self, offset: Offset) -> Result<Option<OffsetEntry>, LogError> {
        if self.last.is_some_and(|l| l.offset <= offset.0) {
            return Ok(self.last);
        }
        match self.count_at_or_below(offset)? {
            0 => Ok(None),
            n => self.entry(n - 1).map(Some),
        }
    }

    /// Remove entries with offset >= `offset`.
    fn truncate_to(&mut self, offset: Offset) -> Result<(), LogError> {
        let keep = self.count_at_or_below(Offset(offset.0 - 1))?;
        self.set_entries(keep)
    }

    fn set_entries(&mut self, keep: u64) -> Result<(), LogError> {
        self.file
            .set_len(keep * OFFSET_ENTRY_SIZE as u64)
            .map_err(|e| io_error(&self.path, e))?;
        self.entries = keep;
        self.last = match keep {
            0 => None,
            n => Some(self.entry(n - 1)?),
        };
        Ok(())
    }

    /// Replace the contents with freshly built entries.
    fn replace(&mut self, bytes: &[u8]) -> Result<(), LogError> {
        self.file.set_len(0).map_err(|e| io_error(&self.path, e))?;
        self.file
            .append(bytes)
            .map_err(|e| io_error(&self.path, e))?;
        self.entries = (bytes.len() / OFFSET_ENTRY_SIZE) as u64;
        self.last = decode_offset_entries(self.base_offset.0, bytes)
            .last()
            .copied();
        Ok(())
    }
}

/// The `.timeindex` file of a segment, kept like [`OffsetIndex`].
#[derive(Debug)]
struct TimeIndex {
    file: Box<dyn File>,
    path: PathBuf,
    base_offset: Offset,
    entries: u64,
    max_entries: u64,
    last: Option<TimeEntry>,
}

impl TimeIndex {
    fn new(
        file: Box<dyn File>,
        dir: &Path,
        base_offset: Offset,
        limits: SegmentLimits,
    ) -> TimeIndex {
        TimeIndex {
            file,
            path: segment_file_path(dir, base_offset, TIME_INDEX_SUFFIX),
            base_offset,
            entries: 0,
            max_entries: u64::from(limits.max_index_bytes) / TIME_ENTRY_SIZE as u64,
            last: None,
        }
    }

    fn open(
        fs: &Fs,
        dir: &Path,
        base: Offset,
        limits: SegmentLimits,
    ) -> Result<(TimeIndex, Option<Vec<u8>>), LogError> {
        let path = segment_file_path(dir, base, TIME_INDEX_SUFFIX);
        let (file, bytes) = open_index_file(fs, &path)?;
        let mut index = TimeIndex::new(file, dir, base, limits);
        if let Some(b) = &bytes {
            index.entries = (b.len() / TIME_ENTRY_SIZE) as u64;
            index.last = decode_time_entries(base.0, b).last().copied();
        }
        Ok((index, bytes))
    }

    fn is_full(&self) -> bool {
        self.entries >= self.max_entries
    }

    /// Kafka's `TimeIndex.maybeAppend`: only a timestamp larger than the
    /// last entry's (or than −1 for an empty index) is recorded. Returns
    /// whether an entry was written.
    fn maybe_append(&mut self, entry: TimeEntry) -> Result<bool, LogError> {
        let last_ts = self.last.map_or(NO_TIMESTAMP, |l| l.timestamp);
        if entry.timestamp <= last_ts {
            return Ok(false);
        }
        self.file
            .append(&entry.encode(self.base_offset.0))
            .map_err(|e| io_error(&self.path, e))?;
        self.entries += 1;
        self.last = Some(entry);
        Ok(true)
    }

    fn entry(&self, i: u64) -> Result<TimeEntry, LogError> {
        let bytes = self
            .file
            .read_vec_at(i * TIME_ENTRY_SIZE as u64, TIME_ENTRY_SIZE)
            .map_err(|e| io_error(&self.path, e))?;
        decode_time_entries(self.base_offset.0, &bytes)
            .first()
            .copied()
            .ok_or_else(|| io_error(&self.path, io::ErrorKind::UnexpectedEof.into()))
    }

    /// Number of leading entries for which `below` holds (a prefix, since
    /// both fields increase).
    fn count_where(&self, below: impl Fn(&TimeEntry) -> bool) -> Result<u64, LogError> {
        let (mut lo, mut hi) = (0, self.entries);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if below(&self.entry(mid)?) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok(lo)
    }

    /// Kafka's `TimeIndex.lookup`: the last entry with timestamp <= `ts`.
    fn lookup(&self, timestamp: i64) -> Result<Option<TimeEntry>, LogError> {
        match self.count_where(|e| e.timestamp <= timestamp)? {
            0 => Ok(None),
            n => self.entry(n - 1).map(Some),
        }
    }

    /// Remove entries with offset >= `offset`.
    fn truncate_to(&mut self, offset: Offset) -> Result<(), LogError> {
        let keep = self.count_where(|e| e.offset < offset.0)?;
        self.file
            .set_len(keep * TIME_ENTRY_SIZE as u64)
            .map_err(|e| io_error(&self.path, e))?;
        self.entries = keep;
        self.last = match keep {
            0 => None,
            n => Some(self.entry(n - 1)?),
        };
        Ok(())
    }

    fn replace(&mut self, bytes: &[u8]) -> Result<(), LogError> {
        self.file.set_len(0).map_err(|e| io_error(&self.path, e))?;
        self.file
            .append(bytes)
            .map_err(|e| io_error(&self.path, e))?;
        self.entries = (bytes.len() / TIME_ENTRY_SIZE) as u64;
        self.last = decode_time_entries(self.base_offset.0, bytes)
            .last()
            .copied();
        Ok(())
    }
}

/// An index file and its contents (`None`: it was missing).
type OpenedIndex = (Box<dyn File>, Option<Vec<u8>>);

/// Open an index file, creating it when missing. The bytes are `None` when
/// it was missing (so the caller rebuilds it).
fn open_index_file(fs: &Fs, path: &Path) -> Result<OpenedIndex, LogError> {
    if !fs.exists(path) {
        return Ok((open_file(fs, path, true, true)?, None));
    }
    let file = open_file(fs, path, false, false)?;
    let bytes = file.read_all().map_err(|e| io_error(path, e))?;
    Ok((file, Some(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_round_trip() {
        let p = segment_file_path(Path::new("/d"), Offset(175), INDEX_SUFFIX);
        assert_eq!(p, Path::new("/d/00000000000000000175.index"));
        assert_eq!(
            parse_segment_file_name("00000000000000000175.index"),
            Some((Offset(175), "index"))
        );
        assert_eq!(parse_segment_file_name("leader-epoch-checkpoint"), None);
        assert_eq!(parse_segment_file_name("0000000000000000017x.log"), None);
        assert_eq!(parse_segment_file_name("99999999999999999999.log"), None);
        assert_eq!(parse_segment_file_name("09223372036854775807.log"), None);
    }

    #[test]
    fn index_sanity_rules() {
        let e = |offset, position| OffsetEntry { offset, position };
        assert!(offsets_sane(&[e(5, 0), e(9, 100)], Offset(0), 200));
        assert!(!offsets_sane(&[e(9, 0), e(9, 100)], Offset(0), 200));
        assert!(!offsets_sane(&[e(5, 0), e(9, 200)], Offset(0), 200));
        assert!(!offsets_sane(&[e(5, 0)], Offset(6), 200));
        let t = |timestamp, offset| TimeEntry { timestamp, offset };
        assert!(times_sane(&[t(10, 5), t(11, 9)], Offset(0)));
        assert!(!times_sane(&[t(10, 5), t(10, 9)], Offset(0)));
        assert!(!times_sane(&[t(-1, 5)], Offset(0)));
    }
}
