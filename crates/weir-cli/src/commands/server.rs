//! `weir server`: Apache Kafka's `kafka-server-start.sh`.
//!
//! `weir server config/server.properties [--override key=value ...]` reads
//! a Kafka `server.properties` (KRaft keys, see `weir_broker::config`),
//! applies the overrides on top, and runs the broker until SIGINT or
//! SIGTERM, which shut it down cleanly (logs flushed, checkpoints written).
//!
//! Logs go to stderr through `tracing`, filtered by `RUST_LOG` (default
//! `info`); unknown configuration keys are logged as warnings. A file that
//! cannot be read or a bad value ends the command with one line on stderr
//! and exit code 1, before anything is started.
//!
//! Started by `weir dev`, the server gets `WEIR_DEV_PARENT_PID`; when that
//! process is no longer its parent (it died), the server shuts down as on
//! SIGTERM.

use anyhow::{Context, Result};
use std::future::Future;
use std::path::{Path, PathBuf};
use tokio::signal::unix::{signal, SignalKind};
use tracing_subscriber::EnvFilter;
use weir_broker::config::BrokerConfig;

use super::dev::PARENT_PID_ENV;

/// Arguments, as `kafka-server-start.sh` takes them.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The server.properties file.
    #[arg(value_name = "server.properties")]
    config: PathBuf,
    /// Optional property that should override values set in
    /// server.properties (repeatable).
    #[arg(long = "override", value_name = "key=value", value_parser = parse_override)]
    overrides: Vec<(String, String)>,
}

/// Start the broker and serve until a shutdown signal.
pub fn run(args: &Args) -> Result<()> {
    init_tracing();
    let config = load_config(&args.config, &args.overrides)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        // The signals are awaited on a task of their own, so they are seen
        // whatever the broker is doing (e.g. still waiting for its quorum).
        let signal = shutdown_signal()?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            signal.await;
            let _ = tx.send(());
        });
        let shutdown = async move {
            let _ = rx.await;
        };
        weir_broker::server::run(config, shutdown).await
    })
}

/// `key=value` from `--override`; the value may itself contain `=`.
fn parse_override(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => {
            Ok((key.trim().to_string(), value.trim().to_string()))
        }
        _ => Err(format!("expected key=value, got {s:?}")),
    }
}

/// Logs on stderr, `RUST_LOG` or `info`. A subscriber set already (by a
/// test harness) is kept.
fn init_tracing() {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,openraft=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only for a terminal, not for log files.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// Read and parse the properties file, logging its warnings.
fn load_config(path: &Path, overrides: &[(String, String)]) -> Result<BrokerConfig> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let (config, warnings) =
        BrokerConfig::parse(&text, overrides).with_context(|| path.display().to_string())?;
    for warning in warnings {
        tracing::warn!("{}: {warning}", path.display());
    }
    Ok(config)
}

/// A future that completes on the first SIGINT or SIGTERM. The handlers
/// are installed now, so a signal that arrives while the broker starts is
/// not lost.
fn shutdown_signal() -> Result<impl Future<Output = ()> + Send + 'static> {
    let mut interrupt =
        signal(SignalKind::interrupt()).context("cannot install the SIGINT handler")?;
    let mut terminate =
        signal(SignalKind::terminate()).context("cannot install the SIGTERM handler")?;
    let parent = std::env::var(PARENT_PID_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<u32>().ok());
    Ok(async move {
        let name = tokio::select! {
            _ = interrupt.recv() => "SIGINT received",
            _ = terminate.recv() => "SIGTERM received",
            () = parent_gone(parent) => "the weir dev process that started this server is gone",
        };
        tracing::info!("{name}; shutting down");
    })
}

/// Completes when the process `parent` (from `WEIR_DEV_PARENT_PID`) is no
/// longer our parent: it died and we were re-parented. Checked every
/// 500 ms; never completes without a parent to watch.
async fn parent_gone(parent: Option<u32>) {
    let Some(parent) = parent else {
        return std::future::pending().await;
    };
    while std::os::unix::process::parent_id() == parent {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_split_at_the_first_equals_sign() {
        assert_eq!(
            parse_override(" log.dirs = /a,/b "),
            Ok(("log.dirs".to_string(), "/a,/b".to_string()))
        );
        assert_eq!(
            parse_override("k=a=b"),
            Ok(("k".to_string(), "a=b".to_string()))
        );
        assert_eq!(parse_override("k="), Ok(("k".to_string(), String::new())));
        assert!(parse_override("novalue").is_err());
        assert!(parse_override("=v").is_err());
    }
}
