//! Removing data: follower truncation (KIP-101), full truncation, moving
//! the log start offset (KIP-107), and time/size retention (Kafka's
//! `UnifiedLog.deleteOldSegments`).
//!
//! Removal is made durable at once (segment and directory fsync): unlike
//! an append, a truncation that a crash undoes would bring back records
//! the leader told this replica to drop.

use super::{Log, LogError};
use crate::segment::{io_error, Segment};
use weir_protocol::Offset;

impl Log {
    /// Kafka's `UnifiedLog.truncateTo`, for a follower whose log diverged:
    /// drop every batch holding an offset >= `offset`. A batch holding
    /// `offset` goes whole, so the log end offset becomes its base offset
    /// (followers truncate at batch boundaries, where this is exact).
    /// Below the first segment this is [`Log::truncate_fully_and_start_at`].
    /// Returns whether anything was removed.
    pub fn truncate_to(&mut self, offset: Offset) -> Result<bool, LogError> {
        self.check_writable()?;
        if offset.0 < 0 {
            return Err(LogError::InvalidOffset(format!("truncate to {offset}")));
        }
        if offset >= self.log_end_offset() {
            // Nothing to cut, but an epoch entry at the log end may have no
            // records (this replica led in it and appended nothing before
            // it lost the leadership): it goes, or the follower would keep
            // fetching with an epoch its leader never had (Kafka does the
            // same in `UnifiedLog.truncateTo`).
            let end = self.log_end_offset();
            let had = self.epochs.entries().len();
            self.epochs.truncate_from_end(end)?;
            return Ok(self.epochs.entries().len() != had);
        }
        if offset < self.segments[0].base_offset() {
            self.truncate_fully_and_start_at(offset)?;
            return Ok(true);
        }
        let result = self.truncate_within(offset);
        self.note(result).map(|()| true)
    }

    fn truncate_within(&mut self, offset: Offset) -> Result<(), LogError> {
        let keep = self.segments.partition_point(|s| s.base_offset() <= offset);
        let removed: Vec<Segment> = self.segments.drain(keep..).collect();
        for segment in removed {
            segment.delete()?;
        }
        let active = self.active_mut();
        active.truncate_to(offset)?;
        active.flush()?;
        self.fs
            .sync_dir(&self.dir)
            .map_err(|e| io_error(&self.dir, e))?;
        let end = self.log_end_offset();
        self.epochs.truncate_from_end(end)?;
        self.log_start_offset = self.log_start_offset.min(end);
        self.recovery_point = self.recovery_point.min(end);
        tracing::info!(dir = %self.dir.display(), log_end = %end, "truncated log");
        Ok(())
    }

    /// Kafka's `truncateFullyAndStartAt`: delete every segment and start
    /// empty at `offset` (a follower far behind a leader whose log start
    /// has passed it). The leader-epoch cache is cleared.
    pub fn truncate_fully_and_start_at(&mut self, offset: Offset) -> Result<(), LogError> {
        self.check_writable()?;
        if offset.0 < 0 {
            return Err(LogError::InvalidOffset(format!("start at {offset}")));
        }
        let result = self.replace_all_segments(offset);
        self.note(result)
    }

    /// Old segments go first, then the empty one is created: a crash in
    /// between leaves an empty directory (log from 0), never a gap.
    fn replace_all_segments(&mut self, offset: Offset) -> Result<(), LogError> {
        let now_ms = self.clock_ms;
        for segment in self.segments.drain(..) {
            segment.delete()?;
        }
        let segment = Segment::create(self.fs.clone(), &self.dir, offset, self.limits(), now_ms)?;
        self.segments.push(segment);
        self.segments[0].flush()?;
        self.fs
            .sync_dir(&self.dir)
            .map_err(|e| io_error(&self.dir, e))?;
        self.dir_dirty = false;
        self.epochs.truncate_from_end(Offset(0))?;
        self.log_start_offset = offset;
        self.recovery_point = offset;
        Ok(())
    }

    /// Kafka's `maybeIncrementLogStartOffset` (DeleteRecords, or restoring
    /// `log-start-offset-checkpoint` after [`Log::open`]): raise the log
    /// start to `offset`; segments wholly below it go at the next
    /// [`Log::delete_retained_segments`]. Returns whether it moved.
    pub fn increment_log_start_offset(&mut self, offset: Offset) -> Result<bool, LogError> {
        self.check_writable()?;
        let end = self.log_end_offset();
        if offset > end {
            return Err(LogError::OffsetOutOfRange {
                requested: offset,
                start: self.log_start_offset,
                end,
            });
        }
        if offset <= self.log_start_offset {
            return Ok(false);
        }
        self.log_start_offset = offset;
        let result = self
            .epochs
            .truncate_from_start(offset)
            .map_err(LogError::from);
        self.note(result).map(|()| true)
    }

    /// Delete old segments by `retention.ms`, `retention.bytes` and the log
    /// start offset, with no high-watermark bound. See
    /// [`Log::delete_retained_segments_upto`].
    pub fn delete_retained_segments(&mut self, now_ms: i64) -> Result<usize, LogError> {
        self.delete_retained_segments_upto(now_ms, Offset(i64::MAX))
    }

    /// Kafka's `deleteOldSegments`: delete the oldest segments, in order,
    /// while (with `cleanup.policy` including `delete`) (1) `now_ms` minus the segment's largest timestamp exceeds
    /// `retention.ms`, then (2) the log would still be at least
    /// `retention.bytes` without the segment, then (3) the next segment
    /// starts at or below the log start offset. A segment is only deleted
    /// if the next one starts at or below `upper_bound` (the high watermark,
    /// so the log start never passes it), and the active segment never is.
    /// The log start offset moves to the first remaining segment. Returns
    /// the number of segments deleted.
    pub fn delete_retained_segments_upto(
        &mut self,
        now_ms: i64,
        upper_bound: Offset,
    ) -> Result<usize, LogError> {
        self.check_writable()?;
        self.observe_clock(now_ms);
        let mut deleted = 0;
        if self.config.cleanup_delete {
            let by_time = self.count_deletable(upper_bound, self.retention_ms_breached(now_ms));
            let result = self.delete_oldest(by_time);
            deleted += self.note(result)?;
            let by_size = self.count_deletable(upper_bound, self.retention_bytes_breached());
            let result = self.delete_oldest(by_size);
            deleted += self.note(result)?;
        }
        let start = self.log_start_offset;
        let by_start = self.count_deletable(upper_bound, move |_: &Segment, next: &Segment| {
            next.base_offset() <= start
        });
        let result = self.delete_oldest(by_start);
        deleted += self.note(result)?;
        Ok(deleted)
    }

    fn retention_ms_breached(&self, now_ms: i64) -> impl FnMut(&Segment, &Segment) -> bool {
        let retention_ms = self.config.retention_ms;
        move |segment: &Segment, _: &Segment| {
            retention_ms >= 0 && now_ms.saturating_sub(segment.largest_timestamp()) > retention_ms
        }
    }

    /// Kafka's `deleteRetentionSizeBreachedSegments`: the excess over
    /// `retention.bytes` is used up segment by segment.
    fn retention_bytes_breached(&self) -> impl FnMut(&Segment, &Segment) -> bool {
        let limit = self.config.retention_bytes;
        let mut excess = i64::try_from(self.size_bytes()).unwrap_or(i64::MAX) - limit;
        move |segment: &Segment, _: &Segment| {
            let size = i64::try_from(segment.size_bytes()).unwrap_or(i64::MAX);
            if limit < 0 || excess - size < 0 {
                return false;
            }
            excess -= size;
            true
        }
    }

    /// How many of the oldest non-active segments satisfy `predicate`
    /// (given the segment and the one after it), stopping at the first that
    /// does not.
    fn count_deletable(
        &self,
        upper_bound: Offset,
        mut predicate: impl FnMut(&Segment, &Segment) -> bool,
    ) -> usize {
        self.segments
            .windows(2)
            .take_while(|w| w[1].base_offset() <= upper_bound && predicate(&w[0], &w[1]))
            .count()
    }

    fn delete_oldest(&mut self, count: usize) -> Result<usize, LogError> {
        if count == 0 {
            return Ok(0);
        }
        let removed: Vec<Segment> = self.segments.drain(..count).collect();
        for segment in removed {
            segment.delete()?;
        }
        self.fs
            .sync_dir(&self.dir)
            .map_err(|e| io_error(&self.dir, e))?;
        let first = self.segments[0].base_offset();
        if first > self.log_start_offset {
            self.log_start_offset = first;
            self.epochs.truncate_from_start(first)?;
        }
        // Nothing exists below the first segment, so the recovery point may
        // move up to it; not to a log start inside a segment, whose bytes
        // may still be unflushed and must be validated after a crash.
        self.recovery_point = self.recovery_point.max(first);
        tracing::info!(dir = %self.dir.display(), count, log_start = %self.log_start_offset, "deleted old segments");
        Ok(count)
    }
}
