//! One module per `weir` subcommand.

pub mod console_consumer;
pub mod console_producer;
pub mod consumer_perf_test;
pub mod dev;
pub mod dump_log;
pub mod leader_election;
pub mod log_dirs;
pub mod metadata_quorum;
pub mod producer_perf_test;
pub mod server;
pub mod tool_support;
pub mod topics;
