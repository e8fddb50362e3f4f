//! The TCP listener: accepts connections up to `max.connections`, serves
//! each on its own task, and shuts down cleanly (stop accepting, let each
//! connection finish the request in hand, then flush logs and write the
//! checkpoints) when the shutdown future completes.

use crate::broker::Broker;
use crate::config::BrokerConfig;
use crate::connection::{self, ConnectionError};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

/// How long shutdown waits for connections to finish their current request.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Start a broker from `config` and serve until `shutdown` completes.
pub async fn run(
    config: BrokerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    // A node waiting for its quorum (a majority of voters) must still stop
    // on SIGTERM.
    let mut shutdown = Box::pin(shutdown);
    let broker = tokio::select! {
        started = Broker::start(config) => started?,
        _ = &mut shutdown => {
            tracing::info!("shut down before the broker finished starting");
            return Ok(());
        }
    };
    let addr = broker
        .config()
        .client_listener()
        .map(|l| l.bind_address())
        .ok_or_else(|| anyhow::anyhow!("no client listener in `listeners`"))?;
    let listener = TcpListener::bind(&addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
    tracing::info!(
        node_id = broker.config().node_id,
        "Weir broker listening on {}",
        listener.local_addr()?
    );
    serve(listener, broker.clone(), shutdown).await;
    broker.shutdown().await
}

/// Accept and serve connections on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    broker: Arc<Broker>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let limit = Arc::new(Semaphore::new(broker.config().max_connections as usize));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        // EMFILE and friends: back off instead of spinning.
                        tracing::warn!("accept failed: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let Ok(permit) = limit.clone().try_acquire_owned() else {
                    tracing::warn!(%peer, "max.connections reached; closing new connection");
                    drop(stream);
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let broker = broker.clone();
                let stop = stop_rx.clone();
                connections.spawn(async move {
                    match connection::serve(stream, broker, stop).await {
                        Err(ConnectionError::Closed | ConnectionError::Shutdown) | Ok(()) => {}
                        Err(e) => tracing::debug!(%peer, "connection ended: {e}"),
                    }
                    drop(permit);
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    tracing::info!("shutting down: closing connections");
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        connections.abort_all();
    }
}
