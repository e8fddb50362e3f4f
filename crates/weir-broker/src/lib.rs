//! The Weir broker node: a Kafka-protocol server over `weir-storage`.
//!
//! # Layout
//!
//! - [`config`]: `server.properties` (Kafka's keys) → [`config::BrokerConfig`].
//! - [`server`]: the TCP listener, connection limit and shutdown signal;
//!   [`connection`]: one client connection, frames in, responses out in
//!   request order; [`frame`]: turns an untrusted frame into a decoded
//!   request, with [`guard`] checking every declared length against the
//!   frame before the `kafka-protocol` decoder sees it.
//! - [`api`]: the supported API versions and one file per Kafka API.
//! - [`broker`]: the node's shared state (config, metadata image, led
//!   partitions, background duties) and the metadata `commit` path;
//!   [`partition`]: one led partition (log, producer state, high
//!   watermark, long-poll wake-ups).
//! - [`log_manager`]: the log dirs, every partition's `Log`, checkpoints,
//!   flush and retention.
//! - [`quorum`]: the Raft metadata log (openraft) a controller voter
//!   runs; [`controller`]: the active controller (registration,
//!   heartbeats, fencing, metadata changes) and the client brokers use to
//!   reach it; [`metadata_source`]: a node's image, from its own Raft
//!   voter or, for a broker-only node, fetched from the controller.

pub mod api;
pub mod broker;
pub mod config;
pub mod connection;
pub mod controller;
pub mod frame;
pub mod group_coordinator;
pub mod guard;
pub mod log_manager;
pub mod metadata_source;
pub mod offsets_topic;
pub mod partition;
pub mod quorum;
pub mod replica_fetcher;
pub mod server;
