//! The model of one broker's replica log: entries with their offset,
//! leader epoch and value, how much of it is flushed, and the leader-epoch
//! view (epoch -> start offset) derived from the entries, as Kafka's
//! `LeaderEpochFileCache`.

/// One record of the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// Its offset (the log starts at 0 and is never trimmed here).
    pub offset: i64,
    /// The leader epoch it was written in.
    pub leader_epoch: i32,
    /// The payload: a unique number per produce.
    pub value: u64,
}

/// A replica log.
#[derive(Debug, Clone, Default)]
pub struct ModelLog {
    entries: Vec<Entry>,
    /// (epoch, start offset) in increasing order, from the entries.
    epochs: Vec<(i32, i64)>,
    /// Entries below this index are on disk; the rest is in the page cache
    /// and is lost on power loss.
    flushed_len: usize,
}

impl ModelLog {
    /// The log end offset.
    pub fn leo(&self) -> i64 {
        self.entries.len() as i64
    }

    /// The entries.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The entry at `offset`.
    pub fn get(&self, offset: i64) -> Option<&Entry> {
        usize::try_from(offset)
            .ok()
            .and_then(|i| self.entries.get(i))
    }

    /// The epoch of the last entry.
    pub fn last_epoch(&self) -> Option<i32> {
        self.epochs.last().map(|e| e.0)
    }

    /// Append one entry at the end (its offset must be the LEO). As
    /// Kafka's `LeaderEpochFileCache.assign`, an epoch lower than the
    /// latest (only reachable with a deliberately broken follower) first
    /// drops the cache entries it conflicts with, so the view stays sorted.
    pub fn append(&mut self, entry: Entry) {
        assert_eq!(entry.offset, self.leo(), "append not at the log end");
        if self.epochs.last().map(|l| l.0) != Some(entry.leader_epoch) {
            while self
                .epochs
                .last()
                .is_some_and(|l| l.0 >= entry.leader_epoch || l.1 >= entry.offset)
            {
                self.epochs.pop();
            }
            self.epochs.push((entry.leader_epoch, entry.offset));
        }
        self.entries.push(entry);
    }

    /// Cut the log to `len` entries; returns how many were removed.
    pub fn truncate(&mut self, len: i64) -> usize {
        let len = len.clamp(0, self.leo()) as usize;
        let removed = self.entries.len() - len;
        self.entries.truncate(len);
        while self.epochs.last().is_some_and(|e| e.1 >= len as i64) {
            self.epochs.pop();
        }
        self.flushed_len = self.flushed_len.min(len);
        removed
    }

    /// fsync: everything written so far survives power loss.
    pub fn flush(&mut self) {
        self.flushed_len = self.entries.len();
    }

    /// Entries flushed.
    pub fn flushed_len(&self) -> usize {
        self.flushed_len
    }

    /// Power loss: the unflushed suffix is gone. Returns how many entries.
    pub fn lose_unflushed(&mut self) -> usize {
        self.truncate(self.flushed_len as i64)
    }

    /// The follower's lookup for a diverging epoch: its largest epoch
    /// `<= epoch` and where that epoch ends in its log (the start of the
    /// next epoch, or the LEO); `None` when it has no such epoch.
    pub fn floor_end(&self, epoch: i32) -> Option<(i32, i64)> {
        let i = self.epochs.iter().rposition(|e| e.0 <= epoch)?;
        let end = self.epochs.get(i + 1).map_or(self.leo(), |next| next.1);
        Some((self.epochs[i].0, end))
    }

    /// Kafka's `LeaderEpochFileCache.endOffsetFor`: the (epoch, end
    /// offset) of `requested`, where the end is the start of the next
    /// higher epoch or the LEO when `requested` is the latest. `extra` is
    /// a leader's current (epoch, start offset), which its cache holds
    /// even before any entry of that epoch exists. `(-1, -1)` when the
    /// requested epoch is above everything known (undefined).
    pub fn end_offset_for(&self, requested: i32, extra: Option<(i32, i64)>) -> (i32, i64) {
        let mut epochs = self.epochs.clone();
        if let Some((e, s)) = extra {
            if epochs.last().map_or(-1, |l| l.0) < e {
                epochs.push((e, s));
            }
        }
        let Some(latest) = epochs.last() else {
            return (-1, -1);
        };
        if latest.0 == requested {
            return (requested, self.leo());
        }
        let Some(higher) = epochs.iter().find(|e| e.0 > requested) else {
            return (-1, -1);
        };
        match epochs.iter().rev().find(|e| e.0 <= requested) {
            Some(floor) => (floor.0, higher.1),
            None => (requested, higher.1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(epochs: &[i32]) -> ModelLog {
        let mut l = ModelLog::default();
        for (i, e) in epochs.iter().enumerate() {
            l.append(Entry {
                offset: i as i64,
                leader_epoch: *e,
                value: i as u64,
            });
        }
        l
    }

    #[test]
    fn end_offsets_follow_kafkas_leader_epoch_cache() {
        // Epoch 1 at 0..2, epoch 3 at 2..5.
        let l = log(&[1, 1, 3, 3, 3]);
        assert_eq!(l.end_offset_for(3, None), (3, 5));
        assert_eq!(l.end_offset_for(1, None), (1, 2));
        // Unknown epoch between known ones: the floor epoch, the next start.
        assert_eq!(l.end_offset_for(2, None), (1, 2));
        // Below every epoch: the requested epoch, the first start.
        assert_eq!(l.end_offset_for(0, None), (0, 0));
        // Above every epoch: undefined.
        assert_eq!(l.end_offset_for(4, None), (-1, -1));
        // A leader's current epoch with no entries yet ends epoch 3 at its start.
        assert_eq!(l.end_offset_for(3, Some((5, 5))), (3, 5));
        assert_eq!(l.end_offset_for(4, Some((5, 5))), (3, 5));
        assert_eq!(l.end_offset_for(5, Some((5, 5))), (5, 5));
        assert_eq!(ModelLog::default().end_offset_for(0, None), (-1, -1));
        assert_eq!(l.floor_end(0), None);
        assert_eq!(l.floor_end(1), Some((1, 2)));
        assert_eq!(l.floor_end(2), Some((1, 2)));
        assert_eq!(l.floor_end(7), Some((3, 5)));
    }

    #[test]
    fn truncation_and_power_loss_cut_entries_epochs_and_the_flushed_mark() {
        let mut l = log(&[1, 1, 3, 3, 3]);
        l.flush();
        assert_eq!(l.truncate(3), 2);
        assert_eq!((l.leo(), l.last_epoch(), l.flushed_len()), (3, Some(3), 3));
        assert_eq!(l.truncate(2), 1);
        assert_eq!(l.last_epoch(), Some(1));
        l.append(Entry {
            offset: 2,
            leader_epoch: 4,
            value: 9,
        });
        assert_eq!(l.lose_unflushed(), 1);
        assert_eq!((l.leo(), l.last_epoch()), (2, Some(1)));
    }
}
