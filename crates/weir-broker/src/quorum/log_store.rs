//! The Raft log and vote on disk.
//!
//! `<dir>/raft.log` is append-only: a sequence of frames
//! `[len u32 LE][crc32c u32 LE][json]`, each holding one [`LogOp`]: an
//! entry, a truncation (delete every entry from an index on) or a purge
//! (everything up to a log id is in a snapshot). Every append is fsynced
//! before openraft is told it is durable. On open the frames are replayed
//! into memory; a torn or corrupt tail (a crash mid-append) is cut off.
//! A purge rewrites the file (temp file, fsync, rename) with only the
//! entries that remain, so the file does not grow without bound.
//!
//! `<dir>/vote.json` holds the vote, replaced atomically on every change.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::io;
use std::ops::RangeBounds;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{
    AnyError, Entry, LogId, LogState, RaftLogReader, StorageError, StorageIOError, Vote,
};
use serde::{Deserialize, Serialize};
use weir_storage::fs::{File, Fs};

use super::{NodeId, TypeConfig};

const LOG_FILE: &str = "raft.log";
const VOTE_FILE: &str = "vote.json";
/// Largest frame accepted when reading the log back (a bigger length is damage).
const MAX_FRAME: u32 = 256 * 1024 * 1024;

#[derive(Serialize, Deserialize, Debug)]
enum LogOp {
    Entry(Entry<TypeConfig>),
    /// Delete every entry with index >= this.
    Truncate(u64),
    /// Every entry up to and including this log id is purged.
    Purge(LogId<NodeId>),
    /// The highest committed log id known (written without its own fsync:
    /// it may lag after a crash, which Raft allows; it lets a restarted
    /// node re-apply its committed entries before a leader is known).
    Committed(LogId<NodeId>),
}

fn frame(op: &LogOp) -> io::Result<Vec<u8>> {
    let json = serde_json::to_vec(op).map_err(io::Error::other)?;
    let mut out = Vec::with_capacity(json.len() + 8);
    out.extend_from_slice(&(json.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32c::crc32c(&json).to_le_bytes());
    out.extend_from_slice(&json);
    Ok(out)
}

#[derive(Debug)]
struct LogInner {
    fs: Fs,
    dir: PathBuf,
    file: Box<dyn File>,
    entries: BTreeMap<u64, Entry<TypeConfig>>,
    last_purged: Option<LogId<NodeId>>,
    vote: Option<Vote<NodeId>>,
    committed: Option<LogId<NodeId>>,
    /// Set after a failed write or fsync: the file may hold a partial
    /// frame, so refuse further writes (reopen to recover).
    failed: bool,
}

/// The Raft log store (also its own reader: both share the state).
#[derive(Debug, Clone)]
pub struct LogStore {
    inner: Arc<Mutex<LogInner>>,
}

fn io_err(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

impl LogStore {
    /// Open (or create) the log under `dir`, replaying the file and cutting
    /// a torn tail.
    pub fn open(fs: Fs, dir: &Path) -> io::Result<LogStore> {
        fs.create_dir_all(dir)?;
        let path = dir.join(LOG_FILE);
        let mut file = fs.open(&path, true)?;
        let data = file.read_all()?;
        let mut entries = BTreeMap::new();
        let mut last_purged = None;
        let mut committed = None;
        let mut pos = 0usize;
        loop {
            if data.len() - pos < 8 {
                break;
            }
            let len = u32::from_le_bytes(data[pos..pos + 4].try_into().unwrap());
            let crc = u32::from_le_bytes(data[pos + 4..pos + 8].try_into().unwrap());
            if len > MAX_FRAME || data.len() - pos - 8 < len as usize {
                break;
            }
            let body = &data[pos + 8..pos + 8 + len as usize];
            if crc32c::crc32c(body) != crc {
                break;
            }
            let op: LogOp = match serde_json::from_slice(body) {
                Ok(op) => op,
                Err(_) => break,
            };
            match op {
                LogOp::Entry(e) => {
                    entries.insert(e.log_id.index, e);
                }
                LogOp::Truncate(since) => {
                    entries.split_off(&since);
                }
                LogOp::Purge(id) => {
                    entries = entries.split_off(&(id.index + 1));
                    last_purged = Some(id);
                }
                LogOp::Committed(id) => committed = Some(id),
            }
            pos += 8 + len as usize;
        }
        if pos < data.len() {
            tracing::warn!(
                path = %path.display(),
                valid = pos,
                len = data.len(),
                "raft log: cutting a torn or corrupt tail"
            );
            file.set_len(pos as u64)?;
            file.sync()?;
        }
        let vote_path = dir.join(VOTE_FILE);
        let vote = if fs.exists(&vote_path) {
            let bytes = fs.read(&vote_path)?;
            Some(serde_json::from_slice(&bytes).map_err(io_err)?)
        } else {
            None
        };
        Ok(LogStore {
            inner: Arc::new(Mutex::new(LogInner {
                fs,
                dir: dir.to_path_buf(),
                file,
                entries,
                last_purged,
                vote,
                committed,
                failed: false,
            })),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LogInner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl LogInner {
    fn append_ops(&mut self, ops: &[LogOp]) -> io::Result<()> {
        self.append_ops_with(ops, true)
    }

    fn append_ops_with(&mut self, ops: &[LogOp], sync: bool) -> io::Result<()> {
        if self.failed {
            return Err(io::Error::other(
                "raft log refused writes after an I/O error",
            ));
        }
        let mut buf = Vec::new();
        for op in ops {
            buf.extend_from_slice(&frame(op)?);
        }
        let res = self
            .file
            .append(&buf)
            .and_then(|_| if sync { self.file.sync() } else { Ok(()) });
        if res.is_err() {
            self.failed = true;
        }
        res
    }

    /// Rewrite the whole log file with the current state (after a purge).
    fn rewrite(&mut self) -> io::Result<()> {
        if self.failed {
            return Err(io::Error::other(
                "raft log refused writes after an I/O error",
            ));
        }
        let mut buf = Vec::new();
        if let Some(p) = self.last_purged {
            buf.extend_from_slice(&frame(&LogOp::Purge(p))?);
        }
        if let Some(c) = self.committed {
            buf.extend_from_slice(&frame(&LogOp::Committed(c))?);
        }
        for e in self.entries.values() {
            buf.extend_from_slice(&frame(&LogOp::Entry(e.clone()))?);
        }
        let path = self.dir.join(LOG_FILE);
        let res = self
            .fs
            .write_atomic(&path, &buf)
            .and_then(|_| self.fs.open(&path, false));
        match res {
            Ok(f) => {
                self.file = f;
                Ok(())
            }
            Err(e) => {
                self.failed = true;
                Err(e)
            }
        }
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig>>, StorageError<NodeId>> {
        let inner = self.lock();
        Ok(inner.entries.range(range).map(|(_, e)| e.clone()).collect())
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError<NodeId>> {
        let inner = self.lock();
        let last = inner
            .entries
            .values()
            .next_back()
            .map(|e| e.log_id)
            .or(inner.last_purged);
        Ok(LogState {
            last_purged_log_id: inner.last_purged,
            last_log_id: last,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), StorageError<NodeId>> {
        let mut inner = self.lock();
        let bytes =
            serde_json::to_vec(vote).map_err(|e| StorageIOError::write_vote(AnyError::new(&e)))?;
        super::blocking_io(|| inner.fs.write_atomic(&inner.dir.join(VOTE_FILE), &bytes))
            .map_err(|e| StorageIOError::write_vote(AnyError::new(&e)))?;
        inner.vote = Some(*vote);
        Ok(())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, StorageError<NodeId>> {
        Ok(self.lock().vote)
    }

    async fn save_committed(
        &mut self,
        committed: Option<LogId<NodeId>>,
    ) -> Result<(), StorageError<NodeId>> {
        let Some(c) = committed else {
            return Ok(());
        };
        let mut inner = self.lock();
        if inner.committed >= Some(c) {
            return Ok(());
        }
        // Not fsynced on its own: the next append's fsync carries it.
        inner
            .append_ops_with(&[LogOp::Committed(c)], false)
            .map_err(|e| StorageIOError::write_logs(AnyError::new(&e)))?;
        inner.committed = Some(c);
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId<NodeId>>, StorageError<NodeId>> {
        Ok(self.lock().committed)
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError<NodeId>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + Send,
        I::IntoIter: Send,
    {
        let mut inner = self.lock();
        let entries: Vec<Entry<TypeConfig>> = entries.into_iter().collect();
        let ops: Vec<LogOp> = entries.iter().cloned().map(LogOp::Entry).collect();
        match super::blocking_io(|| inner.append_ops(&ops)) {
            Ok(()) => {
                for e in entries {
                    inner.entries.insert(e.log_id.index, e);
                }
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                let se = StorageIOError::write_logs(AnyError::new(&e));
                callback.log_io_completed(Err(e));
                Err(se.into())
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId<NodeId>) -> Result<(), StorageError<NodeId>> {
        let mut inner = self.lock();
        super::blocking_io(|| inner.append_ops(&[LogOp::Truncate(log_id.index)]))
            .map_err(|e| StorageIOError::write_logs(AnyError::new(&e)))?;
        inner.entries.split_off(&log_id.index);
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId<NodeId>) -> Result<(), StorageError<NodeId>> {
        let mut inner = self.lock();
        let kept = inner.entries.split_off(&(log_id.index + 1));
        let old = std::mem::replace(&mut inner.entries, kept);
        let old_purged = inner.last_purged.replace(log_id);
        if let Err(e) = super::blocking_io(|| inner.rewrite()) {
            // Put the in-memory state back; the file is unchanged (or the
            // store is now refusing writes).
            let kept = std::mem::take(&mut inner.entries);
            inner.entries = old;
            inner.entries.extend(kept);
            inner.last_purged = old_purged;
            return Err(StorageIOError::write_logs(AnyError::new(&e)).into());
        }
        Ok(())
    }
}
