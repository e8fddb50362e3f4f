//! Opening a partition directory: Kafka's `LogLoader`, simplified to the
//! one rule Weir needs.
//!
//! Every segment from the one holding the recovery point onwards is
//! validated batch by batch (length, magic 2, CRC-32C, offsets contiguous
//! with the previous batch, also across segments), and so is any earlier
//! segment whose indexes do not check out. The first bad batch and
//! everything after it, later segments included, is removed; indexes of
//! validated segments are rebuilt. Nothing here trusts file contents
//! enough to panic on them.

use super::{Log, LogConfig, LogError};
use crate::checkpoint::{CheckpointError, LEADER_EPOCH_CHECKPOINT};
use crate::fs::Fs;
use crate::leader_epoch::LeaderEpochCache;
use crate::segment::{
    io_error, parse_segment_file_name, segment_file_path, Segment, SegmentLimits, INDEX_SUFFIX,
    LOG_SUFFIX, TIME_INDEX_SUFFIX,
};
use std::collections::BTreeSet;
use std::path::Path;
use weir_protocol::{LeaderEpoch, Offset};

impl Log {
    /// Open (creating if missing) the partition directory `dir`, recovering
    /// from `recovery_point` (the value last returned by
    /// [`Log::recovery_point`] and checkpointed; 0 recovers everything).
    pub fn open(
        fs: Fs,
        dir: &Path,
        config: LogConfig,
        recovery_point: Offset,
        now_ms: i64,
    ) -> Result<Log, LogError> {
        config.validate()?;
        fs.create_dir_all(dir).map_err(|e| io_error(dir, e))?;
        let limits = SegmentLimits {
            index_interval_bytes: config.index_interval_bytes,
            max_index_bytes: config.segment_index_bytes,
        };
        let bases = list_segments(&fs, dir)?;
        let (mut epochs, rebuild_epochs) = load_epochs(&fs, dir)?;
        let loader = Loader {
            fs: &fs,
            dir,
            limits,
            recovery_point,
            now_ms,
            rebuild_epochs,
        };
        let mut segments = loader.load(&bases, &mut epochs)?;
        match segments.last_mut() {
            Some(active) => active.load_largest_timestamp()?,
            None => segments.push(Segment::create(fs.clone(), dir, Offset(0), limits, now_ms)?),
        }
        let log_start = segments[0].base_offset();
        let log_end = segments[segments.len() - 1].next_offset();
        epochs.truncate_from_end(log_end)?;
        epochs.truncate_from_start(log_start)?;
        fs.sync_dir(dir).map_err(|e| io_error(dir, e))?;
        Ok(Log {
            fs,
            dir: dir.to_path_buf(),
            config,
            segments,
            log_start_offset: log_start,
            recovery_point: recovery_point.max(log_start).min(log_end),
            epochs,
            last_flush_ms: now_ms,
            clock_ms: now_ms,
            dir_dirty: false,
            failed: false,
        })
    }
}

/// Base offsets of the `.log` files in `dir`, ascending. Index files
/// without a `.log` are deleted, as Kafka's `LogLoader` deletes orphaned
/// indexes.
fn list_segments(fs: &Fs, dir: &Path) -> Result<Vec<Offset>, LogError> {
    let mut logs = BTreeSet::new();
    let mut indexes = Vec::new();
    for path in fs.list_dir(dir).map_err(|e| io_error(dir, e))? {
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        match parse_segment_file_name(name) {
            Some((base, LOG_SUFFIX)) if !fs.is_dir(&path) => {
                logs.insert(base);
            }
            Some((base, INDEX_SUFFIX | TIME_INDEX_SUFFIX)) => indexes.push((base, path)),
            _ => {}
        }
    }
    for (base, path) in indexes {
        if !logs.contains(&base) && !fs.is_dir(&path) {
            tracing::warn!(file = %path.display(), "deleting index file without a .log");
            fs.remove_file(&path).map_err(|e| io_error(&path, e))?;
        }
    }
    Ok(logs.into_iter().collect())
}

/// Load the leader-epoch cache. A checkpoint that does not parse is set
/// aside and the cache rebuilt from the batches' epochs (the second value
/// says so): the log itself is the better record, and refusing to open
/// would take the partition offline over a derived file.
fn load_epochs(fs: &Fs, dir: &Path) -> Result<(LeaderEpochCache, bool), LogError> {
    match LeaderEpochCache::load(fs.clone(), dir) {
        Ok(cache) => Ok((cache, false)),
        Err(CheckpointError::Io { file, source }) => Err(io_error(&file, source)),
        Err(e) => {
            tracing::warn!(dir = %dir.display(), "unreadable leader-epoch checkpoint, rebuilding from the log: {e}");
            let path = dir.join(LEADER_EPOCH_CHECKPOINT);
            fs.remove_file(&path).map_err(|e| io_error(&path, e))?;
            Ok((LeaderEpochCache::load(fs.clone(), dir)?, true))
        }
    }
}

/// What opening one directory needs.
struct Loader<'a> {
    fs: &'a Fs,
    dir: &'a Path,
    limits: SegmentLimits,
    recovery_point: Offset,
    now_ms: i64,
    rebuild_epochs: bool,
}

impl Loader<'_> {
    /// Open the segments in order, validating from the recovery point's
    /// segment on; stop (deleting the rest) at the first one that is cut
    /// short or does not continue the previous one.
    fn load(
        &self,
        bases: &[Offset],
        epochs: &mut LeaderEpochCache,
    ) -> Result<Vec<Segment>, LogError> {
        let recover_from = bases
            .iter()
            .copied()
            .rfind(|&b| b <= self.recovery_point)
            .unwrap_or(Offset(0));
        let mut segments: Vec<Segment> = Vec::new();
        for (i, &base) in bases.iter().enumerate() {
            let expected = segments.last().map(Segment::next_offset);
            if expected.is_some_and(|e| e != base) {
                tracing::warn!(dir = %self.dir.display(), base = %base, "segment does not continue the log; deleting it and later ones");
                self.delete_files(&bases[i..])?;
                break;
            }
            let (segment, cut) = self.load_one(base, expected, base >= recover_from, epochs)?;
            segments.push(segment);
            if cut {
                self.delete_files(&bases[i + 1..])?;
                break;
            }
        }
        Ok(segments)
    }

    /// Open one segment, recovering it if asked or if its indexes are
    /// suspect. Returns whether recovery cut it short.
    fn load_one(
        &self,
        base: Offset,
        expected: Option<Offset>,
        recover: bool,
        epochs: &mut LeaderEpochCache,
    ) -> Result<(Segment, bool), LogError> {
        let (mut segment, suspect) =
            Segment::open(self.fs.clone(), self.dir, base, self.limits, self.now_ms)?;
        if !(recover || suspect) {
            if self.rebuild_epochs {
                assign_newer(epochs, &segment.epoch_starts()?)?;
            }
            return Ok((segment, false));
        }
        if suspect && !recover {
            tracing::warn!(dir = %self.dir.display(), base = %base, "index does not match the log; rebuilding it");
        }
        let outcome = segment.recover(expected)?;
        segment.flush()?;
        assign_newer(epochs, &outcome.epoch_starts)?;
        Ok((segment, outcome.problem.is_some()))
    }

    fn delete_files(&self, bases: &[Offset]) -> Result<(), LogError> {
        for &base in bases {
            for suffix in [LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX] {
                let path = segment_file_path(self.dir, base, suffix);
                if self.fs.exists(&path) {
                    self.fs.remove_file(&path).map_err(|e| io_error(&path, e))?;
                }
            }
        }
        Ok(())
    }
}

/// Assign the epochs newer than the cache's latest, in order (what Kafka's
/// `LogSegment.recover` does with each batch's epoch).
fn assign_newer(
    epochs: &mut LeaderEpochCache,
    starts: &[(LeaderEpoch, Offset)],
) -> Result<(), LogError> {
    for &(epoch, start) in starts {
        if epoch.0 >= 0 && epochs.latest_epoch().is_none_or(|latest| epoch > latest) {
            epochs.assign(epoch, start)?;
        }
    }
    Ok(())
}
