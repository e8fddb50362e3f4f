//! Weir's storage engine: Kafka's on-disk log format, synchronous, no tokio.
//!
//! # Layout
//!
//! - [`fs`]: the `FileSystem`/`File` traits and the real implementation;
//!   [`memfs`]: the in-memory one that injects faults (torn writes, failed
//!   fsync, crashes that lose unsynced bytes) for tests and the simulator.
//! - [`index_format`]: byte formats of `.index` and `.timeindex` entries.
//! - [`checkpoint`]: Kafka's text checkpoint files (`replication-offset-checkpoint`,
//!   `recovery-point-offset-checkpoint`, `log-start-offset-checkpoint`,
//!   `leader-epoch-checkpoint`) and `meta.properties`.
//! - [`leader_epoch`]: the `LeaderEpochCache` (KIP-101 / KIP-279 semantics).
//! - [`segment`]: one `.log` + `.index` + `.timeindex` triple.
//! - [`log`]: a partition's ordered segments: append, read, roll, truncate,
//!   retention, recovery.

pub mod checkpoint;
pub mod fs;
pub mod index_format;
pub mod leader_epoch;
pub mod log;
pub mod memfs;
pub mod segment;

pub use fs::{FileSystem, Fs, RealFs};
