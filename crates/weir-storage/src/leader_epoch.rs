//! The leader-epoch cache: for each leader epoch, the first offset written
//! in it. Followers use it to find where their log diverged from the
//! leader's after a leader change, instead of trusting the high watermark
//! (KIP-101), and to handle epochs they never saw (KIP-279). Mirrors Kafka
//! 4.0's `LeaderEpochFileCache`, persisted in
//! `<partition dir>/leader-epoch-checkpoint` on every change.

use std::fmt;
use std::path::{Path, PathBuf};

use weir_protocol::{LeaderEpoch, Offset};

use crate::checkpoint::{self, CheckpointError, LEADER_EPOCH_CHECKPOINT};
use crate::fs::Fs;

/// Kafka's `UNDEFINED_EPOCH_OFFSET`: "no answer" in an
/// OffsetForLeaderEpoch response.
pub const UNDEFINED_EPOCH_OFFSET: Offset = Offset(-1);

/// The first offset written in a leader epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EpochEntry {
    /// The leader epoch.
    pub epoch: LeaderEpoch,
    /// The offset of the first batch written in `epoch`.
    pub start_offset: Offset,
}

impl EpochEntry {
    /// An entry.
    pub fn new(epoch: LeaderEpoch, start_offset: Offset) -> Self {
        EpochEntry {
            epoch,
            start_offset,
        }
    }

    /// Kafka only stores non-negative epochs and offsets (negative ones
    /// mean "none" on the wire).
    pub fn is_valid(&self) -> bool {
        self.epoch.0 >= 0 && self.start_offset.0 >= 0
    }
}

impl fmt::Display for EpochEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "epoch {} from offset {}", self.epoch, self.start_offset)
    }
}

/// A partition's epoch → start offset map, written through to its
/// checkpoint file.
///
/// Every mutation writes the whole file with
/// [`crate::fs::FileSystem::write_atomic`] before it changes memory; if the
/// write fails, the cache is unchanged but the file may hold either version,
/// so the caller should treat the error as a failed log dir (Kafka takes the
/// dir offline through its `LogDirFailureChannel`).
#[derive(Debug)]
pub struct LeaderEpochCache {
    fs: Fs,
    path: PathBuf,
    /// Invariant: both epochs and start offsets strictly increase.
    entries: Vec<EpochEntry>,
}

impl LeaderEpochCache {
    /// Load the cache of the partition in `partition_dir`; a missing file is
    /// an empty cache. Entries are replayed through the rules of
    /// [`LeaderEpochCache::assign`], as Kafka does, so a file that breaks
    /// monotonicity is repaired in memory rather than trusted.
    pub fn load(fs: Fs, partition_dir: &Path) -> Result<Self, CheckpointError> {
        let path = partition_dir.join(LEADER_EPOCH_CHECKPOINT);
        let mut entries = Vec::new();
        for entry in checkpoint::read_epochs(fs.as_ref(), &path)? {
            if update_needed(&entries, entry) {
                push_monotonic(&mut entries, entry);
            }
        }
        Ok(LeaderEpochCache { fs, path, entries })
    }

    /// Record that `epoch` starts at `start_offset`; called for each batch
    /// appended. Returns whether the cache changed.
    ///
    /// As in Kafka: nothing changes if `epoch` is already the latest and
    /// starts at or before `start_offset`. Otherwise the entries at the end
    /// that conflict (an epoch >= `epoch`, or a start offset >=
    /// `start_offset`; they came from a log that has since diverged) are
    /// removed, keeping both columns strictly increasing, and the new entry
    /// appended. So an older epoch than the latest is *not* ignored: it
    /// truncates the later ones (Kafka's `shouldEnforceMonotonicallyIncreasingEpochs`).
    /// Negative epochs or offsets are an [`CheckpointError::InvalidEntry`].
    pub fn assign(
        &mut self,
        epoch: LeaderEpoch,
        start_offset: Offset,
    ) -> Result<bool, CheckpointError> {
        let entry = EpochEntry::new(epoch, start_offset);
        if !entry.is_valid() {
            return Err(CheckpointError::InvalidEntry(entry.to_string()));
        }
        if !update_needed(&self.entries, entry) {
            return Ok(false);
        }
        let mut next = self.entries.clone();
        let removed = push_monotonic(&mut next, entry);
        warn_if_diverged(&self.path, entry, &removed);
        self.persist(next)?;
        Ok(true)
    }

    /// The latest epoch, if any.
    pub fn latest_epoch(&self) -> Option<LeaderEpoch> {
        self.latest_entry().map(|e| e.epoch)
    }

    /// The latest entry, if any.
    pub fn latest_entry(&self) -> Option<EpochEntry> {
        self.entries.last().copied()
    }

    /// All entries, oldest first.
    pub fn entries(&self) -> &[EpochEntry] {
        &self.entries
    }

    /// The epoch `offset` was written in: that of the last entry starting at
    /// or before it. `None` for offsets before the first entry.
    pub fn epoch_for_offset(&self, offset: Offset) -> Option<LeaderEpoch> {
        let after = self.entries.partition_point(|e| e.start_offset <= offset);
        after.checked_sub(1).map(|i| self.entries[i].epoch)
    }

    /// Answer an OffsetForLeaderEpoch request for `requested`: the largest
    /// epoch <= `requested` and the offset where it ended, which is the start
    /// of the next larger epoch, or `log_end_offset` for the latest epoch
    /// (KIP-101). A follower truncates to that offset; answering with the
    /// largest epoch <= the requested one, rather than only exact matches,
    /// is KIP-279's fix for followers that missed epochs.
    ///
    /// Edge cases, as in Kafka 4.0's `endOffsetFor`:
    /// - `requested` is [`LeaderEpoch::NONE`], the cache is empty, or
    ///   `requested` is above every epoch: `(NONE, UNDEFINED_EPOCH_OFFSET)`;
    /// - `requested` is below every epoch (older entries were removed as the
    ///   log start advanced): `(requested, start of the first entry)`, so the
    ///   follower truncates to the leader's log start rather than falling
    ///   back to its high watermark.
    pub fn end_offset_for(
        &self,
        requested: LeaderEpoch,
        log_end_offset: Offset,
    ) -> (LeaderEpoch, Offset) {
        let undefined = (LeaderEpoch::NONE, UNDEFINED_EPOCH_OFFSET);
        if requested == LeaderEpoch::NONE {
            return undefined;
        }
        if self.latest_epoch() == Some(requested) {
            return (requested, log_end_offset);
        }
        let higher = self.entries.partition_point(|e| e.epoch <= requested);
        let Some(next) = self.entries.get(higher) else {
            return undefined;
        };
        match higher.checked_sub(1).map(|i| self.entries[i]) {
            Some(floor) => (floor.epoch, next.start_offset),
            None => (requested, next.start_offset),
        }
    }

    /// Forget entries starting at or after `end_offset`, because the log was
    /// truncated to `end_offset` (a follower removing its divergent tail).
    /// Negative offsets are ignored, as in Kafka.
    pub fn truncate_from_end(&mut self, end_offset: Offset) -> Result<(), CheckpointError> {
        if end_offset.0 < 0 {
            return Ok(());
        }
        let keep = self
            .entries
            .partition_point(|e| e.start_offset < end_offset);
        if keep == self.entries.len() {
            return Ok(());
        }
        let next = self.entries[..keep].to_vec();
        self.persist(next)
    }

    /// Forget entries wholly below `start_offset`, because the log start
    /// advanced there (retention, DeleteRecords): the last entry starting at
    /// or before it is kept but moved to start at `start_offset`, so
    /// `epoch_for_offset(start_offset)` still answers.
    pub fn truncate_from_start(&mut self, start_offset: Offset) -> Result<(), CheckpointError> {
        let below = self
            .entries
            .partition_point(|e| e.start_offset <= start_offset);
        let Some(last_below) = below.checked_sub(1).map(|i| self.entries[i]) else {
            return Ok(());
        };
        let mut next = vec![EpochEntry::new(last_below.epoch, start_offset)];
        next.extend_from_slice(&self.entries[below..]);
        if next == self.entries {
            return Ok(());
        }
        self.persist(next)
    }

    /// Write `next` to the file, then adopt it.
    fn persist(&mut self, next: Vec<EpochEntry>) -> Result<(), CheckpointError> {
        checkpoint::write_epochs(self.fs.as_ref(), &self.path, &next)?;
        self.entries = next;
        Ok(())
    }
}

/// Kafka's `isUpdateNeeded`: the latest epoch is only re-assigned if it now
/// starts earlier.
fn update_needed(entries: &[EpochEntry], entry: EpochEntry) -> bool {
    match entries.last() {
        None => true,
        Some(last) => last.epoch != entry.epoch || entry.start_offset < last.start_offset,
    }
}

/// Append `entry` after removing the entries at the end that would break
/// monotonicity; returns them, oldest first.
fn push_monotonic(entries: &mut Vec<EpochEntry>, entry: EpochEntry) -> Vec<EpochEntry> {
    let conflicts = |e: &EpochEntry| e.epoch >= entry.epoch || e.start_offset >= entry.start_offset;
    let keep = entries.len() - entries.iter().rev().take_while(|e| conflicts(e)).count();
    let removed = entries.split_off(keep);
    entries.push(entry);
    removed
}

/// Replacing the previous entry at the same offset is routine (no data was
/// written in it); anything more means the log had diverged.
fn warn_if_diverged(path: &Path, entry: EpochEntry, removed: &[EpochEntry]) {
    let routine = match removed {
        [] => true,
        [only] => only.start_offset == entry.start_offset,
        _ => false,
    };
    if !routine {
        tracing::warn!(
            file = %path.display(),
            "new leader epoch entry {entry} truncated conflicting entries {removed:?}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::{FileSystem, RealFs};
    use crate::memfs::MemFs;
    use std::sync::Arc;

    const DIR: &str = "/t-0";

    fn ee(epoch: i32, start_offset: i64) -> EpochEntry {
        EpochEntry::new(LeaderEpoch(epoch), Offset(start_offset))
    }

    fn new_fs() -> Arc<MemFs> {
        let fs = MemFs::new();
        fs.create_dir_all(Path::new(DIR)).unwrap();
        fs
    }

    /// A cache on a fresh `MemFs` with `entries` assigned in order.
    fn cache_with(entries: &[(i32, i64)]) -> (Arc<MemFs>, LeaderEpochCache) {
        let fs = new_fs();
        let mut cache = LeaderEpochCache::load(fs.clone(), Path::new(DIR)).unwrap();
        for &(e, o) in entries {
            cache.assign(LeaderEpoch(e), Offset(o)).unwrap();
        }
        (fs, cache)
    }

    /// What a fresh load from the file sees.
    fn on_disk(fs: &Arc<MemFs>) -> Vec<EpochEntry> {
        let cache = LeaderEpochCache::load(fs.clone(), Path::new(DIR)).unwrap();
        cache.entries().to_vec()
    }

    fn assign(cache: &mut LeaderEpochCache, epoch: i32, offset: i64) -> bool {
        cache.assign(LeaderEpoch(epoch), Offset(offset)).unwrap()
    }

    fn end_for(cache: &LeaderEpochCache, epoch: i32, leo: i64) -> (i32, i64) {
        let (e, o) = cache.end_offset_for(LeaderEpoch(epoch), Offset(leo));
        (e.0, o.0)
    }

    #[test]
    fn missing_file_is_an_empty_cache() {
        let (_, cache) = cache_with(&[]);
        assert_eq!(cache.entries(), &[]);
        assert_eq!(cache.latest_epoch(), None);
        assert_eq!(cache.latest_entry(), None);
    }

    #[test]
    fn loads_kafkas_file() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures/kafka-4.0.0-logdir/golden-0");
        let cache = LeaderEpochCache::load(RealFs::shared(), &dir).unwrap();
        assert_eq!(cache.entries(), &[ee(0, 0)]);
    }

    #[test]
    fn assign_appends_and_writes_the_file() {
        let (fs, mut cache) = cache_with(&[(0, 0), (1, 10)]);
        assert!(assign(&mut cache, 2, 20));
        assert_eq!(cache.entries(), &[ee(0, 0), ee(1, 10), ee(2, 20)]);
        assert_eq!(cache.latest_epoch(), Some(LeaderEpoch(2)));
        assert_eq!(cache.latest_entry(), Some(ee(2, 20)));
        let text = fs
            .read(&Path::new(DIR).join(LEADER_EPOCH_CHECKPOINT))
            .unwrap();
        assert_eq!(text, b"0\n3\n0 0\n1 10\n2 20\n");
        fs.crash(Some(3));
        assert_eq!(on_disk(&fs), vec![ee(0, 0), ee(1, 10), ee(2, 20)]);
    }

    #[test]
    fn assign_ignores_latest_epoch_at_a_later_offset() {
        let (fs, mut cache) = cache_with(&[(2, 6)]);
        assert!(!assign(&mut cache, 2, 10));
        assert!(!assign(&mut cache, 2, 6));
        assert_eq!(cache.entries(), &[ee(2, 6)]);
        assert_eq!(on_disk(&fs), vec![ee(2, 6)]);
    }

    #[test]
    fn assign_latest_epoch_at_an_earlier_offset_truncates() {
        let (fs, mut cache) = cache_with(&[(5, 11), (6, 12), (7, 13)]);
        assert!(assign(&mut cache, 7, 12));
        assert_eq!(cache.entries(), &[ee(5, 11), ee(7, 12)]);
        assert_eq!(on_disk(&fs), vec![ee(5, 11), ee(7, 12)]);
        assert_eq!(end_for(&cache, 5, 20), (5, 12));
        assert_eq!(end_for(&cache, 6, 20), (5, 12));
    }

    #[test]
    fn assign_new_epoch_at_same_offset_replaces_previous() {
        let (_, mut cache) = cache_with(&[(2, 9)]);
        assert!(assign(&mut cache, 3, 9));
        assert_eq!(cache.entries(), &[ee(3, 9)]);
    }

    #[test]
    fn assign_removes_entries_from_a_diverged_log() {
        let (_, mut cache) = cache_with(&[(1, 0), (2, 10), (3, 20)]);
        assert!(assign(&mut cache, 4, 15));
        assert_eq!(cache.entries(), &[ee(1, 0), ee(2, 10), ee(4, 15)]);
    }

    #[test]
    fn assign_older_epoch_truncates_later_ones_as_kafka_does() {
        let (fs, mut cache) = cache_with(&[(1, 5), (2, 6)]);
        assert!(assign(&mut cache, 1, 7));
        assert_eq!(cache.entries(), &[ee(1, 7)]);
        assert_eq!(on_disk(&fs), vec![ee(1, 7)]);
        assert_eq!(end_for(&cache, 1, 8), (1, 8));
        assert_eq!(end_for(&cache, 2, 8), (-1, -1));
    }

    #[test]
    fn assign_rejects_negative_values_and_writes_nothing() {
        let (fs, mut cache) = cache_with(&[]);
        for (e, o) in [(-1, 0), (0, -1)] {
            let err = cache.assign(LeaderEpoch(e), Offset(o)).unwrap_err();
            assert!(matches!(err, CheckpointError::InvalidEntry(_)), "{err}");
        }
        assert_eq!(cache.entries(), &[]);
        assert!(!fs.exists(&Path::new(DIR).join(LEADER_EPOCH_CHECKPOINT)));
    }

    #[test]
    fn failed_write_leaves_the_cache_unchanged() {
        let (fs, mut cache) = cache_with(&[(1, 0)]);
        fs.fail_next_syncs(1);
        assert!(cache.assign(LeaderEpoch(2), Offset(5)).is_err());
        assert_eq!(cache.entries(), &[ee(1, 0)]);
        fs.fail_next_syncs(1);
        assert!(cache.truncate_from_end(Offset(0)).is_err());
        assert_eq!(cache.entries(), &[ee(1, 0)]);
        fs.crash(None);
        assert_eq!(on_disk(&fs), vec![ee(1, 0)]);
    }

    #[test]
    fn load_repairs_a_non_monotonic_file() {
        let fs = new_fs();
        let path = Path::new(DIR).join(LEADER_EPOCH_CHECKPOINT);
        fs.write_atomic(&path, b"0\n4\n1 5\n3 4\n4 9\n2 10\n")
            .unwrap();
        let cache = LeaderEpochCache::load(fs.clone(), Path::new(DIR)).unwrap();
        assert_eq!(cache.entries(), &[ee(2, 10)]);
    }

    #[test]
    fn load_reports_a_garbage_file() {
        let fs = new_fs();
        let path = Path::new(DIR).join(LEADER_EPOCH_CHECKPOINT);
        fs.write_atomic(&path, b"0\n2\n1 5\n").unwrap();
        let err = LeaderEpochCache::load(fs.clone(), Path::new(DIR)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "/t-0/leader-epoch-checkpoint: line 4: header says 2 entries but the file has 1"
        );
    }

    #[test]
    fn epoch_for_offset() {
        let (_, cache) = cache_with(&[(1, 0), (3, 10), (5, 20)]);
        let got: Vec<Option<i32>> = [0, 9, 10, 19, 20, 1000]
            .into_iter()
            .map(|o| cache.epoch_for_offset(Offset(o)).map(|e| e.0))
            .collect();
        assert_eq!(
            got,
            vec![Some(1), Some(1), Some(3), Some(3), Some(5), Some(5)]
        );
        let (_, late) = cache_with(&[(2, 5)]);
        assert_eq!(late.epoch_for_offset(Offset(4)), None);
        let (_, empty) = cache_with(&[]);
        assert_eq!(empty.epoch_for_offset(Offset(0)), None);
    }

    /// KIP-101: exact epochs. KIP-279: epochs the leader never had answer
    /// with the largest epoch below them.
    #[test]
    fn end_offset_for_kip_101_and_279() {
        let (_, cache) = cache_with(&[(1, 0), (3, 10), (5, 20)]);
        let got: Vec<(i32, (i32, i64))> = [5, 4, 3, 2, 1, 0, 6, -1]
            .into_iter()
            .map(|e| (e, end_for(&cache, e, 30)))
            .collect();
        assert_eq!(
            got,
            vec![
                (5, (5, 30)),   // latest epoch: the log end offset
                (4, (3, 20)),   // KIP-279: unknown epoch, largest below is 3
                (3, (3, 20)),   // KIP-101: ends where epoch 5 starts
                (2, (1, 10)),   // KIP-279
                (1, (1, 10)),   // KIP-101
                (0, (0, 0)),    // below the first epoch: the first start offset
                (6, (-1, -1)),  // above every epoch
                (-1, (-1, -1)), // undefined epoch requested
            ]
        );
    }

    #[test]
    fn end_offset_for_empty_cache_is_undefined() {
        let (_, cache) = cache_with(&[]);
        assert_eq!(end_for(&cache, 0, 7), (-1, -1));
        assert_eq!(end_for(&cache, -1, 7), (-1, -1));
    }

    #[test]
    fn truncate_from_end() {
        let (fs, mut cache) = cache_with(&[(1, 0), (3, 10), (5, 20)]);
        cache.truncate_from_end(Offset(21)).unwrap();
        assert_eq!(cache.entries(), &[ee(1, 0), ee(3, 10), ee(5, 20)]);
        cache.truncate_from_end(Offset(20)).unwrap();
        assert_eq!(cache.entries(), &[ee(1, 0), ee(3, 10)]);
        assert_eq!(on_disk(&fs), vec![ee(1, 0), ee(3, 10)]);
        cache.truncate_from_end(Offset(-1)).unwrap();
        assert_eq!(cache.entries(), &[ee(1, 0), ee(3, 10)]);
        cache.truncate_from_end(Offset(5)).unwrap();
        assert_eq!(cache.entries(), &[ee(1, 0)]);
        cache.truncate_from_end(Offset(0)).unwrap();
        assert_eq!(cache.entries(), &[]);
        assert_eq!(on_disk(&fs), vec![]);
    }

    #[test]
    fn truncate_from_start_between_epochs_moves_the_survivor_up() {
        let (fs, mut cache) = cache_with(&[(0, 5), (1, 7), (2, 10)]);
        cache.truncate_from_start(Offset(8)).unwrap();
        assert_eq!(cache.entries(), &[ee(1, 8), ee(2, 10)]);
        assert_eq!(on_disk(&fs), vec![ee(1, 8), ee(2, 10)]);
    }

    #[test]
    fn truncate_from_start_cases() {
        let cases: &[(i64, &[EpochEntry])] = &[
            (3, &[ee(0, 5), ee(1, 7), ee(2, 10)]), // before the first entry
            (5, &[ee(0, 5), ee(1, 7), ee(2, 10)]), // at the first entry
            (7, &[ee(1, 7), ee(2, 10)]),           // exactly at an entry
            (9, &[ee(1, 9), ee(2, 10)]),
            (15, &[ee(2, 15)]), // past the last entry
        ];
        for (start, want) in cases {
            let (fs, mut cache) = cache_with(&[(0, 5), (1, 7), (2, 10)]);
            cache.truncate_from_start(Offset(*start)).unwrap();
            assert_eq!(cache.entries(), *want, "start {start}");
            assert_eq!(on_disk(&fs), want.to_vec(), "start {start}");
        }
        let (_, mut empty) = cache_with(&[]);
        empty.truncate_from_start(Offset(5)).unwrap();
        assert_eq!(empty.entries(), &[]);
    }
}
