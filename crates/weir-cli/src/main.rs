//! `weir`: the Weir binary. One subcommand per tool, named and flagged like
//! the Apache Kafka script it mirrors (DESIGN.md section 6).
//!
//! # Layout
//!
//! - [`commands`]: one module per subcommand; each owns its clap `Args` and
//!   a `run` that writes to the stdout it is given.
//!
//! Errors reach `main` as `anyhow::Error` and are printed as one line on
//! stderr with exit code 1: a tool's user wants the reason, not a backtrace.

mod commands;

use clap::{Parser, Subcommand};
use std::io::{self, Write};
use std::process::ExitCode;

/// Weir, a Kafka-compatible commit log.
#[derive(Debug, Parser)]
#[command(name = "weir", version)]
struct Cli {
    #[command(subcommand)]
    command: Commands,
}

/// The tools; future ones (server, dev, topics, console-producer, ...) are
/// added here as one variant and one module each.
#[derive(Debug, Subcommand)]
enum Commands {
    /// Print the contents of Kafka log segments, indexes and checkpoint
    /// files (kafka-dump-log.sh).
    DumpLog(commands::dump_log::Args),
    /// Create, delete, describe, or change a topic (kafka-topics.sh).
    Topics(commands::topics::Args),
    /// Read lines from standard input and publish them to a topic
    /// (kafka-console-producer.sh).
    ConsoleProducer(commands::console_producer::Args),
    /// Read records from a topic and print them (kafka-console-consumer.sh).
    ConsoleConsumer(commands::console_consumer::Args),
    /// Measure producer throughput and latency
    /// (kafka-producer-perf-test.sh).
    ProducerPerfTest(commands::producer_perf_test::Args),
    /// Measure consumer throughput (kafka-consumer-perf-test.sh).
    ConsumerPerfTest(commands::consumer_perf_test::Args),
    /// Describe the KRaft metadata quorum (kafka-metadata-quorum.sh).
    MetadataQuorum(commands::metadata_quorum::Args),
    /// Describe each broker's log dirs: partitions, sizes and offset lags
    /// (kafka-log-dirs.sh).
    LogDirs(commands::log_dirs::Args),
    /// Elect the preferred (or, later, an unclean) leader of partitions
    /// (kafka-leader-election.sh).
    LeaderElection(commands::leader_election::Args),
    /// Start a broker from a Kafka server.properties file
    /// (kafka-server-start.sh).
    Server(commands::server::Args),
    /// Run a local cluster of N nodes (broker and controller each) until
    /// Ctrl-C. Node i serves clients on BASE+i-1 and the controller quorum
    /// on BASE+100+i-1; its files are in DATA_DIR/node-i.
    Dev(commands::dev::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Not `stdout().lock()`: `weir server` runs threads that may print.
    let mut out = io::BufWriter::new(io::stdout());
    let result = match cli.command {
        Commands::DumpLog(args) => commands::dump_log::run(&args, &mut out),
        Commands::Topics(args) => commands::topics::run(&args, &mut out),
        Commands::ConsoleProducer(args) => commands::console_producer::run(&args, &mut out),
        Commands::ConsoleConsumer(args) => commands::console_consumer::run(&args, &mut out),
        Commands::ProducerPerfTest(args) => commands::producer_perf_test::run(&args, &mut out),
        Commands::ConsumerPerfTest(args) => commands::consumer_perf_test::run(&args, &mut out),
        Commands::MetadataQuorum(args) => commands::metadata_quorum::run(&args, &mut out),
        Commands::LogDirs(args) => commands::log_dirs::run(&args, &mut out),
        Commands::LeaderElection(args) => commands::leader_election::run(&args, &mut out),
        Commands::Server(args) => commands::server::run(&args),
        Commands::Dev(args) => commands::dev::run(&args, &mut out),
    };
    let result = result.and_then(|()| out.flush().map_err(anyhow::Error::from));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            // Output printed so far goes out before the error line.
            let _ = out.flush();
            eprintln!("weir: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `weir dump-log ... | head` closes our stdout early; that is the reader's
/// choice, not an error worth a message.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}
