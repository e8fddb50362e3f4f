//! The log dirs of one node and every partition's [`Log`] in them: Kafka's
//! `LogManager`, synchronous and clock-free (time comes in as `now_ms`).
//!
//! Opening ([`LogManager::open`]):
//!
//! 1. Each log dir (and `metadata.log.dir`) is created if missing; a path
//!    that is not a directory, or cannot be created or written, is an error.
//! 2. `meta.properties` is checked: a dir formatted for another `node.id`
//!    is refused (Kafka would refuse to start too), and all dirs must agree
//!    on `cluster.id`. Dirs without one are formatted on the spot (Weir has
//!    no separate `kafka-storage.sh format` step): `version=1`, the node id,
//!    the cluster id of the other dirs or a new one, a new `directory.id`.
//! 3. The three offset checkpoints of each dir are read and every
//!    `<topic>-<partition>` dir is opened as a [`Log`] recovering from its
//!    checkpointed recovery point (0 when none: full validation), then its
//!    checkpointed log start offset is restored. Leftover
//!    `<topic>-<partition>.<id>-delete` dirs of an interrupted delete are
//!    removed; `__cluster_metadata-0` belongs to the Raft log and is skipped.
//! 4. The checkpoints are rewritten at once: that proves each dir writable
//!    before the broker takes traffic, and records any truncation recovery
//!    did.
//!
//! Locking: the partition map sits behind an `RwLock`; each log behind its
//! own `Mutex`. The map lock is never held while waiting for a log lock,
//! except by `delete` and `shutdown`, which must exclude new users.
//! Checkpoint writes are serialised (they share temp-file names).

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

use weir_protocol::{Offset, TopicPartition};
use weir_storage::checkpoint::{
    self, CheckpointError, MetaProperties, LOG_START_OFFSET_CHECKPOINT, META_PROPERTIES,
    RECOVERY_POINT_OFFSET_CHECKPOINT, REPLICATION_OFFSET_CHECKPOINT,
};
use weir_storage::log::{Log, LogConfig, LogError};
use weir_storage::Fs;

use crate::config::BrokerConfig;

/// A partition's log, shared between request handlers.
pub type SharedLog = Arc<Mutex<Log>>;

/// The directory of KRaft's metadata log (owned by the Raft storage).
const METADATA_PARTITION_DIR: &str = "__cluster_metadata-0";
/// Directories other parts of the broker keep, or kept, in a log dir: the
/// single-node metadata log, and the per-broker offsets file that
/// `__consumer_offsets` replaced (left alone, never read: skipped here so
/// an upgraded log dir still opens).
const BROKER_OWNED_DIRS: [&str; 2] = ["weir_metadata", "__weir_group_offsets"];
/// Suffix of a partition dir being deleted (Kafka's `-delete`).
const DELETE_SUFFIX: &str = "-delete";
/// Suffixes of Kafka partition dirs Weir does not load.
const SKIPPED_SUFFIXES: [&str; 2] = ["-future", "-stray"];
/// Kafka's `Topic.MAX_NAME_LENGTH`.
const TOPIC_NAME_CHARS_MAX: usize = 249;
/// The only `meta.properties` version of a KRaft log dir.
const META_VERSION: u32 = 1;

/// Why the log dirs cannot be used or a log operation failed. Messages are
/// one line and name the directory or partition.
#[derive(Debug, thiserror::Error)]
pub enum LogManagerError {
    /// A log dir path exists but is not a directory.
    #[error("log dir {} is not a directory", .dir.display())]
    NotADirectory {
        /// The path.
        dir: PathBuf,
    },
    /// The file system failed on a log dir or partition dir.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The directory or file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A checkpoint file or `meta.properties` cannot be read or written.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// The dir was formatted for another node.
    #[error(
        "log dir {} belongs to node.id {found} (meta.properties) but this node's node.id is {expected}",
        .dir.display()
    )]
    NodeIdMismatch {
        /// The log dir.
        dir: PathBuf,
        /// `node.id` in its `meta.properties`.
        found: i32,
        /// `node.id` of the config.
        expected: i32,
    },
    /// Log dirs (or the caller) disagree on the cluster id.
    #[error("log dir {} belongs to cluster.id {found} but {expected_from} has cluster.id {expected}", .dir.display())]
    ClusterIdMismatch {
        /// The log dir.
        dir: PathBuf,
        /// Its cluster id.
        found: String,
        /// The cluster id it should have.
        expected: String,
        /// Where that came from (another log dir, or the caller).
        expected_from: String,
    },
    /// `meta.properties` of a version Weir does not read (0 is ZooKeeper).
    #[error("log dir {} has meta.properties version {version}; only version 1 (KRaft) is supported", .dir.display())]
    UnsupportedMetaVersion {
        /// The log dir.
        dir: PathBuf,
        /// The version found.
        version: u32,
    },
    /// Two log dirs claim the same `directory.id` (one is a copy).
    #[error("log dirs {} and {} have the same directory.id {id}", .first.display(), .second.display())]
    DuplicateDirectoryId {
        /// One dir.
        first: PathBuf,
        /// The other.
        second: PathBuf,
        /// The shared id.
        id: String,
    },
    /// A partition has a directory in two log dirs.
    #[error("partition {tp} has logs in both {} and {}", .first.display(), .second.display())]
    DuplicateLog {
        /// The partition.
        tp: TopicPartition,
        /// One partition dir.
        first: PathBuf,
        /// The other.
        second: PathBuf,
    },
    /// Opening or operating on one partition's log failed.
    #[error("partition {tp}: {source}")]
    Log {
        /// The partition.
        tp: TopicPartition,
        /// What failed.
        #[source]
        source: LogError,
    },
    /// A topic name or partition that cannot be a directory name.
    #[error("invalid partition {tp:?}: {reason}")]
    InvalidTopicPartition {
        /// `<topic>-<partition>`.
        tp: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// An operation over all partitions failed for some of them (the
    /// others were done).
    #[error("{operation} failed for {}", describe_failures(.failures))]
    PartitionsFailed {
        /// `flush`, `retention` or `shutdown`.
        operation: &'static str,
        /// Each failed partition and why.
        failures: Vec<(TopicPartition, LogError)>,
    },
    /// [`LogManager::shutdown`] has run.
    #[error("the log manager is shut down")]
    ShutDown,
}

/// "N partition(s); first: t-0: reason".
fn describe_failures(failures: &[(TopicPartition, LogError)]) -> String {
    match failures.first() {
        Some((tp, e)) => format!("{} partition(s); first: {tp}: {e}", failures.len()),
        None => "0 partitions".to_string(),
    }
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> LogManagerError + '_ {
    move |source| LogManagerError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn log_error(tp: &TopicPartition) -> impl FnOnce(LogError) -> LogManagerError + '_ {
    move |source| LogManagerError::Log {
        tp: tp.clone(),
        source,
    }
}

/// Lock a log; a panic elsewhere while it was held does not make the log
/// unusable (its own `failed` flag records storage failures).
fn lock(log: &Mutex<Log>) -> MutexGuard<'_, Log> {
    log.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A partition's log and the log dir (index into `log_dirs`) it lives in.
#[derive(Debug, Clone)]
struct Entry {
    dir_index: usize,
    log: SharedLog,
}

#[derive(Debug, Default)]
struct State {
    partitions: BTreeMap<TopicPartition, Entry>,
    shut_down: bool,
}

/// What a checkpoint records about one log, read under its lock.
#[derive(Debug, Clone)]
struct LogState {
    tp: TopicPartition,
    dir_index: usize,
    recovery_point: i64,
    log_start_offset: i64,
    first_segment_base: i64,
}

impl LogState {
    fn of(tp: &TopicPartition, dir_index: usize, log: &Log) -> LogState {
        LogState {
            tp: tp.clone(),
            dir_index,
            recovery_point: log.recovery_point().0,
            log_start_offset: log.log_start_offset().0,
            first_segment_base: log.segment_base_offsets().first().map_or(0, |o| o.0),
        }
    }
}

/// One log as DescribeLogDirs reports it (Kafka's `ReplicaInfo` before the
/// high watermark is known).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogDescription {
    /// The log dir the partition's directory is in.
    pub log_dir: PathBuf,
    /// The partition.
    pub tp: TopicPartition,
    /// Bytes of its `.log` segment files (Kafka's `UnifiedLog.size`).
    pub size_bytes: u64,
    /// Its log end offset.
    pub log_end_offset: i64,
}

impl LogDescription {
    /// `log` of `tp`, which lives in `log_dir`.
    pub fn of(log_dir: &Path, tp: &TopicPartition, log: &Log) -> LogDescription {
        LogDescription {
            log_dir: log_dir.to_path_buf(),
            tp: tp.clone(),
            size_bytes: log.size_bytes(),
            log_end_offset: log.log_end_offset().0,
        }
    }
}

/// The node's log dirs and partitions (module docs).
#[derive(Debug)]
pub struct LogManager {
    fs: Fs,
    /// `log.dirs`, in config order; partitions live only here.
    log_dirs: Vec<PathBuf>,
    cluster_id: String,
    node_id: i32,
    state: RwLock<State>,
    /// High watermarks from `replication-offset-checkpoint` at open, minus
    /// deleted partitions.
    loaded_hwms: Mutex<BTreeMap<TopicPartition, i64>>,
    /// Serialises checkpoint writes.
    checkpoint_lock: Mutex<()>,
}

impl LogManager {
    /// Open (formatting on first start) the log dirs of `config` and every
    /// partition in them; a new cluster gets a new cluster id.
    pub fn open(fs: Fs, config: &BrokerConfig, now_ms: i64) -> Result<LogManager, LogManagerError> {
        LogManager::open_with_cluster_id(fs, config, None, now_ms)
    }

    /// [`LogManager::open`], formatting empty dirs with `cluster_id` when
    /// given (e.g. one agreed by the metadata quorum) and refusing dirs of
    /// another cluster.
    pub fn open_with_cluster_id(
        fs: Fs,
        config: &BrokerConfig,
        cluster_id: Option<&str>,
        now_ms: i64,
    ) -> Result<LogManager, LogManagerError> {
        let mut all_dirs = config.log_dirs.clone();
        if !all_dirs.contains(&config.metadata_log_dir) {
            all_dirs.push(config.metadata_log_dir.clone());
        }
        let cluster_id = format_dirs(&fs, &all_dirs, config.node_id, cluster_id)?;
        let manager = LogManager {
            fs,
            log_dirs: config.log_dirs.clone(),
            cluster_id,
            node_id: config.node_id,
            state: RwLock::new(State::default()),
            loaded_hwms: Mutex::new(BTreeMap::new()),
            checkpoint_lock: Mutex::new(()),
        };
        manager.load_all(&config.log_config(), now_ms)?;
        let hwms = manager.high_watermark_checkpoint();
        manager.checkpoint(&hwms)?;
        Ok(manager)
    }

    /// The cluster id all log dirs carry.
    pub fn cluster_id(&self) -> &str {
        &self.cluster_id
    }

    /// This node's id (as in every `meta.properties`).
    pub fn node_id(&self) -> i32 {
        self.node_id
    }

    /// The log dirs partitions live in.
    pub fn log_dirs(&self) -> &[PathBuf] {
        &self.log_dirs
    }

    /// The log of `tp`, if this node has it.
    pub fn get(&self, tp: &TopicPartition) -> Option<SharedLog> {
        let state = self.state.read().unwrap_or_else(PoisonError::into_inner);
        state.partitions.get(tp).map(|e| e.log.clone())
    }

    /// All partitions with a log here, in order.
    pub fn partitions(&self) -> Vec<TopicPartition> {
        let state = self.state.read().unwrap_or_else(PoisonError::into_inner);
        state.partitions.keys().cloned().collect()
    }

    /// The log of `tp`, created empty with `config` in the log dir holding
    /// the fewest partitions if it does not exist (Kafka's `nextLogDirs`).
    /// An existing log keeps its config.
    pub fn get_or_create(
        &self,
        tp: TopicPartition,
        config: LogConfig,
        now_ms: i64,
    ) -> Result<SharedLog, LogManagerError> {
        let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
        if state.shut_down {
            return Err(LogManagerError::ShutDown);
        }
        if let Some(entry) = state.partitions.get(&tp) {
            return Ok(entry.log.clone());
        }
        validate_topic_partition(&tp)?;
        let dir_index = least_loaded_dir(&state.partitions, self.log_dirs.len());
        let log_dir = &self.log_dirs[dir_index];
        let path = log_dir.join(tp.dir_name());
        let log =
            Log::open(self.fs.clone(), &path, config, Offset(0), now_ms).map_err(log_error(&tp))?;
        // The new partition dir must survive a crash before anyone relies
        // on it (Kafka fsyncs the parent after creating a log).
        self.fs.sync_dir(log_dir).map_err(io_error(log_dir))?;
        tracing::info!(partition = %tp, dir = %path.display(), "created log");
        let log = Arc::new(Mutex::new(log));
        let entry = Entry {
            dir_index,
            log: log.clone(),
        };
        state.partitions.insert(tp, entry);
        Ok(log)
    }

    /// Remove `tp`'s log and its directory. As in Kafka, the directory is
    /// first renamed to `<topic>-<partition>.<id>-delete`, which commits the
    /// delete: after a crash the partition is either whole or gone (open
    /// removes the leftover), never half-deleted. Returns whether it
    /// existed; an error after the rename (the parent's fsync) leaves the
    /// partition deleted here but maybe not durably. Holders of the
    /// [`SharedLog`] keep a log whose files are gone.
    pub fn delete(&self, tp: &TopicPartition) -> Result<bool, LogManagerError> {
        let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
        let Some(entry) = state.partitions.remove(tp) else {
            return Ok(false);
        };
        let dir = lock(&entry.log).dir().to_path_buf();
        let unique = uuid::Uuid::new_v4().simple().to_string();
        let target = dir.with_file_name(format!("{}.{unique}{DELETE_SUFFIX}", tp.dir_name()));
        if let Err(e) = self.fs.rename(&dir, &target) {
            state.partitions.insert(tp.clone(), entry);
            return Err(io_error(&dir)(e));
        }
        drop(state);
        self.lock_hwms().remove(tp);
        let parent = dir.parent().unwrap_or_else(|| Path::new("."));
        let synced = self.fs.sync_dir(parent);
        if let Err(e) = self.fs.remove_dir_all(&target) {
            // Open retries the removal of any `-delete` dir.
            tracing::warn!(dir = %target.display(), "could not remove deleted log: {e}");
        }
        synced.map_err(io_error(parent))?;
        Ok(true)
    }

    /// Every log here with its log dir, size and end offset, in partition
    /// order (DescribeLogDirs). Each log is locked only while it is read.
    pub fn describe(&self) -> Vec<LogDescription> {
        let entries = self.entries();
        let entries = entries.iter();
        entries
            .map(|(tp, e)| LogDescription::of(&self.log_dirs[e.dir_index], tp, &lock(&e.log)))
            .collect()
    }

    /// The high watermarks of `replication-offset-checkpoint` as loaded at
    /// open, each clamped to its log's `[log start, log end]` as Kafka does
    /// when it applies one; partitions without a log are left out.
    pub fn high_watermark_checkpoint(&self) -> BTreeMap<TopicPartition, i64> {
        self.lock_hwms().clone()
    }

    /// Write all three offset checkpoints of every log dir: each log's
    /// recovery point, each log start offset above its first segment
    /// (Kafka writes only those), and the given high watermarks of the
    /// partitions that have a log here.
    pub fn checkpoint(&self, hwms: &BTreeMap<TopicPartition, i64>) -> Result<(), LogManagerError> {
        let states = self.snapshot();
        self.write_checkpoints(&states, hwms)
    }

    /// Flush each log whose `flush.messages` or `flush.ms` says so (Kafka's
    /// log flusher). Returns how many flushed; failures of some logs do
    /// not stop the others.
    pub fn flush_due(&self, now_ms: i64) -> Result<usize, LogManagerError> {
        self.for_each_log("flush", |log| log.maybe_flush(now_ms).map(usize::from))
    }

    /// Delete segments past `retention.ms` / `retention.bytes` / the log
    /// start offset in every log. Returns how many segments went.
    pub fn retention(&self, now_ms: i64) -> Result<usize, LogManagerError> {
        self.for_each_log("retention", |log| log.delete_retained_segments(now_ms))
    }

    /// Clean shutdown: close every log (seal the time index, flush), then
    /// write the checkpoints with `hwms`. Logs that fail are reported after
    /// the others are closed and all checkpoints written (a failed log's
    /// recovery point stays where its data is known durable). Later calls
    /// to `get_or_create` fail with [`LogManagerError::ShutDown`].
    pub fn shutdown(&self, hwms: &BTreeMap<TopicPartition, i64>) -> Result<(), LogManagerError> {
        let entries = {
            let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
            state.shut_down = true;
            std::mem::take(&mut state.partitions)
        };
        let mut states = Vec::with_capacity(entries.len());
        let mut failures = Vec::new();
        for (tp, entry) in entries {
            let (state, result) = close_log(&tp, entry);
            states.push(state);
            if let Err(e) = result {
                failures.push((tp, e));
            }
        }
        self.write_checkpoints(&states, hwms)?;
        if !failures.is_empty() {
            return Err(LogManagerError::PartitionsFailed {
                operation: "shutdown",
                failures,
            });
        }
        Ok(())
    }

    fn lock_hwms(&self) -> MutexGuard<'_, BTreeMap<TopicPartition, i64>> {
        self.loaded_hwms
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The logs, without holding the map lock while using them.
    fn entries(&self) -> Vec<(TopicPartition, Entry)> {
        let state = self.state.read().unwrap_or_else(PoisonError::into_inner);
        let entries = state.partitions.iter();
        entries.map(|(tp, e)| (tp.clone(), e.clone())).collect()
    }

    fn snapshot(&self) -> Vec<LogState> {
        let entries = self.entries();
        let states = entries.iter();
        states
            .map(|(tp, e)| LogState::of(tp, e.dir_index, &lock(&e.log)))
            .collect()
    }

    /// Run `op` on every log, summing its counts and collecting failures.
    fn for_each_log(
        &self,
        operation: &'static str,
        mut op: impl FnMut(&mut Log) -> Result<usize, LogError>,
    ) -> Result<usize, LogManagerError> {
        let mut total = 0;
        let mut failures = Vec::new();
        for (tp, entry) in self.entries() {
            match op(&mut lock(&entry.log)) {
                Ok(n) => total += n,
                Err(e) => failures.push((tp, e)),
            }
        }
        if failures.is_empty() {
            Ok(total)
        } else {
            Err(LogManagerError::PartitionsFailed {
                operation,
                failures,
            })
        }
    }

    fn write_checkpoints(
        &self,
        states: &[LogState],
        hwms: &BTreeMap<TopicPartition, i64>,
    ) -> Result<(), LogManagerError> {
        let _serial = self
            .checkpoint_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for (index, dir) in self.log_dirs.iter().enumerate() {
            let here: Vec<&LogState> = states.iter().filter(|s| s.dir_index == index).collect();
            let recovery: Vec<_> = here
                .iter()
                .map(|s| (s.tp.clone(), s.recovery_point))
                .collect();
            let starts: Vec<_> = here
                .iter()
                .filter(|s| s.log_start_offset > s.first_segment_base)
                .map(|s| (s.tp.clone(), s.log_start_offset))
                .collect();
            let hw: Vec<_> = here
                .iter()
                .filter_map(|s| Some((s.tp.clone(), *hwms.get(&s.tp)?)))
                .collect();
            let fs = &*self.fs;
            checkpoint::write_offsets(fs, &dir.join(RECOVERY_POINT_OFFSET_CHECKPOINT), &recovery)?;
            checkpoint::write_offsets(fs, &dir.join(LOG_START_OFFSET_CHECKPOINT), &starts)?;
            checkpoint::write_offsets(fs, &dir.join(REPLICATION_OFFSET_CHECKPOINT), &hw)?;
        }
        Ok(())
    }

    /// Open the partitions of every log dir (module docs, step 3).
    fn load_all(&self, config: &LogConfig, now_ms: i64) -> Result<(), LogManagerError> {
        let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
        let mut hwms = self.lock_hwms();
        for (dir_index, dir) in self.log_dirs.iter().enumerate() {
            let loaded = load_dir(&self.fs, dir, config, now_ms)?;
            for (tp, log, hwm) in loaded {
                if let Some(other) = state.partitions.get(&tp) {
                    return Err(LogManagerError::DuplicateLog {
                        second: log.dir().to_path_buf(),
                        first: lock(&other.log).dir().to_path_buf(),
                        tp,
                    });
                }
                if let Some(hwm) = hwm {
                    hwms.insert(tp.clone(), hwm);
                }
                let log = Arc::new(Mutex::new(log));
                state.partitions.insert(tp, Entry { dir_index, log });
            }
        }
        Ok(())
    }
}

/// Close one log at shutdown: by value if nobody else holds it, else flush
/// it in place. Returns its checkpoint state either way.
fn close_log(tp: &TopicPartition, entry: Entry) -> (LogState, Result<(), LogError>) {
    let mut state = LogState::of(tp, entry.dir_index, &lock(&entry.log));
    match Arc::try_unwrap(entry.log) {
        Ok(mutex) => {
            let log = mutex.into_inner().unwrap_or_else(PoisonError::into_inner);
            match log.close() {
                Ok(recovery_point) => {
                    state.recovery_point = recovery_point.0;
                    (state, Ok(()))
                }
                Err(e) => (state, Err(e)),
            }
        }
        Err(shared) => {
            let mut log = lock(&shared);
            let result = log.flush();
            state.recovery_point = log.recovery_point().0;
            (state, result)
        }
    }
}

/// The log dir with the fewest partitions, the first on a tie.
fn least_loaded_dir(partitions: &BTreeMap<TopicPartition, Entry>, dirs: usize) -> usize {
    let mut counts = vec![0usize; dirs];
    for entry in partitions.values() {
        counts[entry.dir_index] += 1;
    }
    (0..dirs).min_by_key(|&i| (counts[i], i)).unwrap_or(0)
}

/// Kafka's `Topic.validate` plus a non-negative partition: anything else
/// could escape the log dir or collide with Kafka's special dir names.
fn validate_topic_partition(tp: &TopicPartition) -> Result<(), LogManagerError> {
    let bad = |reason| {
        Err(LogManagerError::InvalidTopicPartition {
            tp: tp.to_string(),
            reason,
        })
    };
    let legal = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if tp.topic.is_empty() || tp.topic == "." || tp.topic == ".." {
        return bad("topic name must not be empty, \".\" or \"..\"");
    }
    if tp.topic.len() > TOPIC_NAME_CHARS_MAX {
        return bad("topic name is longer than 249 characters");
    }
    if !tp.topic.chars().all(legal) {
        return bad("topic name may contain only ASCII letters, digits, '.', '_' and '-'");
    }
    if tp.partition < 0 {
        return bad("partition must not be negative");
    }
    Ok(())
}

/// Check or write `meta.properties` in every dir (module docs, steps 1-2)
/// and return the cluster id.
fn format_dirs(
    fs: &Fs,
    dirs: &[PathBuf],
    node_id: i32,
    cluster_id: Option<&str>,
) -> Result<String, LogManagerError> {
    let mut metas = Vec::with_capacity(dirs.len());
    for dir in dirs {
        prepare_dir(fs, dir)?;
        let meta = read_meta(fs, dir, node_id)?;
        metas.push((dir, meta));
    }
    let existing: Vec<(&PathBuf, &MetaProperties)> = metas
        .iter()
        .filter_map(|(d, m)| Some((*d, m.as_ref()?)))
        .collect();
    let cluster_id = agreed_cluster_id(&existing, cluster_id)?;
    check_directory_ids(&existing)?;
    for (dir, meta) in &metas {
        if meta.is_none() {
            write_meta(fs, dir, node_id, &cluster_id)?;
        }
    }
    Ok(cluster_id)
}

/// Create every log dir and the metadata log dir if missing; refuse a
/// path that is not a directory (checked before anything else starts).
pub fn prepare_dirs(fs: &Fs, config: &BrokerConfig) -> Result<(), LogManagerError> {
    for dir in config.log_dirs.iter().chain([&config.metadata_log_dir]) {
        prepare_dir(fs, dir)?;
    }
    Ok(())
}

/// Create a log dir if missing; refuse a path that is not a directory.
fn prepare_dir(fs: &Fs, dir: &Path) -> Result<(), LogManagerError> {
    if fs.exists(dir) && !fs.is_dir(dir) {
        return Err(LogManagerError::NotADirectory {
            dir: dir.to_path_buf(),
        });
    }
    fs.create_dir_all(dir).map_err(io_error(dir))
}

/// A dir's `meta.properties`, checked against this node.
fn read_meta(fs: &Fs, dir: &Path, node_id: i32) -> Result<Option<MetaProperties>, LogManagerError> {
    let Some(meta) = MetaProperties::read(&**fs, &dir.join(META_PROPERTIES))? else {
        return Ok(None);
    };
    if meta.version != META_VERSION {
        return Err(LogManagerError::UnsupportedMetaVersion {
            dir: dir.to_path_buf(),
            version: meta.version,
        });
    }
    if meta.node_id != node_id {
        return Err(LogManagerError::NodeIdMismatch {
            dir: dir.to_path_buf(),
            found: meta.node_id,
            expected: node_id,
        });
    }
    Ok(Some(meta))
}

/// The one cluster id of the formatted dirs (and the caller's, if given),
/// or a new one for a new node.
fn agreed_cluster_id(
    existing: &[(&PathBuf, &MetaProperties)],
    wanted: Option<&str>,
) -> Result<String, LogManagerError> {
    let (expected, expected_from) = match (wanted, existing.first()) {
        (Some(id), _) => (id.to_string(), "the caller".to_string()),
        (None, Some((dir, meta))) => (
            meta.cluster_id.clone(),
            format!("log dir {}", dir.display()),
        ),
        (None, None) => return Ok(new_kafka_uuid()),
    };
    if let Some((dir, meta)) = existing.iter().find(|(_, m)| m.cluster_id != expected) {
        return Err(LogManagerError::ClusterIdMismatch {
            dir: dir.to_path_buf(),
            found: meta.cluster_id.clone(),
            expected,
            expected_from,
        });
    }
    Ok(expected)
}

/// No two dirs may share a `directory.id` (KIP-858: one is a copy).
fn check_directory_ids(existing: &[(&PathBuf, &MetaProperties)]) -> Result<(), LogManagerError> {
    for (i, (dir, meta)) in existing.iter().enumerate() {
        let Some(id) = &meta.directory_id else {
            continue;
        };
        let earlier = existing[..i].iter();
        if let Some((first, _)) = earlier
            .clone()
            .find(|(_, m)| m.directory_id.as_ref() == Some(id))
        {
            return Err(LogManagerError::DuplicateDirectoryId {
                first: first.to_path_buf(),
                second: dir.to_path_buf(),
                id: id.clone(),
            });
        }
    }
    Ok(())
}

/// Format a dir: Kafka 4's `meta.properties` for a KRaft node.
fn write_meta(fs: &Fs, dir: &Path, node_id: i32, cluster_id: &str) -> Result<(), LogManagerError> {
    let meta = MetaProperties {
        cluster_id: cluster_id.to_string(),
        node_id,
        version: META_VERSION,
        directory_id: Some(new_kafka_uuid()),
    };
    meta.write(&**fs, &dir.join(META_PROPERTIES))?;
    tracing::info!(dir = %dir.display(), cluster_id, node_id, "formatted log dir");
    Ok(())
}

/// One loaded partition: its log and checkpointed high watermark.
type Loaded = (TopicPartition, Log, Option<i64>);

/// Open every partition dir of one log dir with its checkpoints.
fn load_dir(
    fs: &Fs,
    dir: &Path,
    config: &LogConfig,
    now_ms: i64,
) -> Result<Vec<Loaded>, LogManagerError> {
    let read = |name| -> Result<BTreeMap<TopicPartition, i64>, LogManagerError> {
        Ok(checkpoint::read_offsets(&**fs, &dir.join(name))?
            .into_iter()
            .collect())
    };
    let recovery = read(RECOVERY_POINT_OFFSET_CHECKPOINT)?;
    let starts = read(LOG_START_OFFSET_CHECKPOINT)?;
    let hwms = read(REPLICATION_OFFSET_CHECKPOINT)?;
    let mut loaded = Vec::new();
    for path in fs.list_dir(dir).map_err(io_error(dir))? {
        let Some(tp) = partition_dir(fs, &path)? else {
            continue;
        };
        let recovery_point = Offset(recovery.get(&tp).copied().unwrap_or(0));
        let mut log = Log::open(fs.clone(), &path, *config, recovery_point, now_ms)
            .map_err(log_error(&tp))?;
        restore_log_start(&mut log, starts.get(&tp).copied()).map_err(log_error(&tp))?;
        let hwm = hwms.get(&tp).map(|&hw| clamp_hwm(&log, hw));
        loaded.push((tp, log, hwm));
    }
    Ok(loaded)
}

/// The partition a log dir entry holds, or `None` for anything that is not
/// a partition to load (files, the metadata log, leftovers, which are
/// removed or logged).
fn partition_dir(fs: &Fs, path: &Path) -> Result<Option<TopicPartition>, LogManagerError> {
    if !fs.is_dir(path) {
        return Ok(None);
    }
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    if name == METADATA_PARTITION_DIR || BROKER_OWNED_DIRS.contains(&name) {
        return Ok(None);
    }
    if name.ends_with(DELETE_SUFFIX) {
        tracing::info!(dir = %path.display(), "removing log left by an interrupted delete");
        fs.remove_dir_all(path).map_err(io_error(path))?;
        return Ok(None);
    }
    let tp = TopicPartition::from_dir_name(name).filter(|tp| validate_topic_partition(tp).is_ok());
    if tp.is_none() || SKIPPED_SUFFIXES.iter().any(|s| name.ends_with(s)) {
        tracing::warn!(dir = %path.display(), "not a <topic>-<partition> directory; skipped");
        return Ok(None);
    }
    Ok(tp)
}

/// Apply a checkpointed log start offset as Kafka's `LogLoader` does: if the
/// log now ends below it (data lost in a crash), start empty there.
fn restore_log_start(log: &mut Log, start: Option<i64>) -> Result<(), LogError> {
    let Some(start) = start else {
        return Ok(());
    };
    if start > log.log_end_offset().0 {
        return log.truncate_fully_and_start_at(Offset(start));
    }
    log.increment_log_start_offset(Offset(start)).map(|_| ())
}

/// A high watermark within `[log start, log end]` (Kafka's
/// `updateHighWatermark` on a checkpointed value).
fn clamp_hwm(log: &Log, hwm: i64) -> i64 {
    hwm.clamp(log.log_start_offset().0, log.log_end_offset().0)
}

/// A random id in Kafka's text form (`Uuid.randomUuid().toString()`): 16
/// random bytes in unpadded base64url, 22 characters, never starting with
/// `-` (Kafka re-rolls those so the id is not taken for a CLI flag).
pub fn new_kafka_uuid() -> String {
    loop {
        let text = base64url(uuid::Uuid::new_v4().as_bytes());
        if !text.starts_with('-') {
            return text;
        }
    }
}

/// Unpadded base64url (RFC 4648 §5).
fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = |i: usize| u32::from(chunk.get(i).copied().unwrap_or(0));
        let n = (b(0) << 16) | (b(1) << 8) | b(2);
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_matches_kafkas_cluster_ids() {
        // Kafka's example cluster id is the base64url of these 16 bytes.
        assert_eq!(base64url(b"2E78EA57052D436B"), "MkU3OEVBNTcwNTJENDM2Qg");
        assert_eq!(base64url(&[0xfb, 0xff]), "-_8");
        assert_eq!(base64url(&[]), "");
    }

    #[test]
    fn new_ids_are_22_url_safe_characters() {
        for _ in 0..200 {
            let id = new_kafka_uuid();
            assert_eq!(id.len(), 22);
            assert!(!id.starts_with('-'));
            assert!(id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        }
    }

    #[test]
    fn topic_names_that_could_escape_are_refused() {
        for (topic, partition) in [("../x", 0), ("a/b", 0), ("..", 0), ("", 0), ("t", -1)] {
            let tp = TopicPartition::new(topic, partition);
            assert!(validate_topic_partition(&tp).is_err(), "{tp}");
        }
        let long = "x".repeat(250);
        assert!(validate_topic_partition(&TopicPartition::new(long, 0)).is_err());
        assert!(validate_topic_partition(&TopicPartition::new("a.b_c-D9", 3)).is_ok());
    }

    #[test]
    fn describe_reports_each_logs_dir_size_and_end_offset() {
        let fs: Fs = weir_storage::memfs::MemFs::new();
        let text = "node.id=1\nlog.dirs=/a,/b\n";
        let config = BrokerConfig::parse(text, &[]).unwrap().0;
        let manager = LogManager::open(fs, &config, 0).unwrap();
        assert_eq!(manager.describe(), vec![]);
        let t0 = TopicPartition::new("t", 0);
        let t1 = TopicPartition::new("t", 1);
        for tp in [&t1, &t0] {
            manager
                .get_or_create(tp.clone(), LogConfig::default(), 0)
                .unwrap();
        }
        let described = manager.describe();
        let empty = |dir: &str, tp: &TopicPartition| LogDescription {
            log_dir: PathBuf::from(dir),
            tp: tp.clone(),
            size_bytes: 0,
            log_end_offset: 0,
        };
        // t-1 came first, into the emptier /a; t-0 then went to /b.
        assert_eq!(described, vec![empty("/b", &t0), empty("/a", &t1)]);
    }

    #[test]
    fn least_loaded_dir_breaks_ties_by_order() {
        let mut map = BTreeMap::new();
        assert_eq!(least_loaded_dir(&map, 3), 0);
        let fs: Fs = weir_storage::memfs::MemFs::new();
        let log = Log::open(fs, Path::new("/d/t-0"), LogConfig::default(), Offset(0), 0).unwrap();
        let entry = Entry {
            dir_index: 0,
            log: Arc::new(Mutex::new(log)),
        };
        map.insert(TopicPartition::new("t", 0), entry);
        assert_eq!(least_loaded_dir(&map, 3), 1);
        assert_eq!(least_loaded_dir(&map, 1), 0);
    }
}
