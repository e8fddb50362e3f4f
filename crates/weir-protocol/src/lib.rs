//! Kafka wire types for Weir.
//!
//! # Layout
//!
//! - [`types`]: the newtypes `Offset`, `LeaderEpoch`, `BrokerId`,
//!   `TopicPartition`, kept apart so one cannot be passed for another.
//! - [`batch`]: the 61-byte v2 record-batch header, parsed and validated from
//!   raw bytes, CRC-32C, and in-place patching of the fields outside the CRC
//!   (base offset and partition leader epoch). This is all the broker decodes
//!   on the hot path (DESIGN.md section 8).
//! - [`records`]: record decoding for tools and tests, delegated to the
//!   `kafka-protocol` crate (re-exported as [`kafka_protocol`]) with a guard
//!   against absurd record counts.

pub mod batch;
pub mod records;
pub mod types;

pub use batch::{BatchError, BatchHeader, BatchIter, Compression, TimestampType};
pub use kafka_protocol;
pub use types::{BrokerId, LeaderEpoch, Offset, TopicPartition};
