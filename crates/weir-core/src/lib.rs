//! Weir's pure state machines (no I/O, no clocks, no tasks).
//!
//! Time arrives as `now_ms` and randomness as a parameter, so every
//! decision replays exactly from its inputs (DESIGN.md section 7).
//!
//! # Layout
//!
//! - [`metadata`]: cluster metadata as KRaft keeps it. `MetadataRecord`s
//!   (broker registration and fencing, topics, partitions, configs,
//!   producer id blocks), the `MetadataImage` they build (serializable as
//!   a snapshot), and the controller's planning: topic naming rules,
//!   topic config validation, replica assignment, CreateTopics /
//!   CreatePartitions / DeleteTopics / IncrementalAlterConfigs /
//!   producer id blocks, and leader election on fencing.
//! - [`producer_state`]: idempotent-producer deduplication per partition
//!   (Kafka's `ProducerStateManager`): duplicates, sequence and epoch
//!   checks, rebuild from the log, expiry.
//! - [`group`]: consumer groups (Kafka's classic group protocol and
//!   committed offsets), documented in the module itself.
//!
//! - [`partition`]: the replication rules on a partition's leader (ISR
//!   shrink and expand, high watermark, min ISR), events and `now_ms` in,
//!   actions out (DESIGN.md section 2).

pub mod group;
pub mod metadata;
pub mod partition;
pub mod producer_state;
