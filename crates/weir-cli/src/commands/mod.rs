//! One module per `weir` subcommand.

pub mod dump_log;
