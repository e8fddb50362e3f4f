//! Where a node's copy of the metadata image comes from.
//!
//! A controller voter (`process.roles=broker,controller`) applies the Raft
//! log itself ([`Quorum`]). A broker-only node (`process.roles=broker`) is
//! an observer: it long-polls the active controller with
//! `FetchMetadata { after_index }` and receives the whole committed image
//! whenever it has moved past what the node holds. Both expose the same
//! log-index view, so the broker code above does not care which it has.
//!
//! Observers keep the image in memory only and fetch it again after a
//! restart (Kafka's observers replicate the log to disk; the image is
//! small for the clusters Weir targets, and the trade is noted in
//! DESIGN.md).

use crate::controller::{ControllerClient, ControllerRequest, ControllerResponse};
use crate::quorum::Quorum;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use weir_core::metadata::MetadataImage;

/// The committed image and the metadata log index it reflects.
pub type Applied = (u64, Arc<MetadataImage>);

/// A node's metadata image source.
#[derive(Debug, Clone)]
pub enum MetadataSource {
    /// This node is a Raft voter.
    Voter(Arc<Quorum>),
    /// This node observes the active controller.
    Observer(Arc<Observer>),
}

impl MetadataSource {
    /// The latest applied image.
    pub fn image(&self) -> Arc<MetadataImage> {
        match self {
            MetadataSource::Voter(q) => q.image(),
            MetadataSource::Observer(o) => o.rx.borrow().1.clone(),
        }
    }

    /// The metadata log index the image reflects.
    pub fn applied_index(&self) -> u64 {
        match self {
            MetadataSource::Voter(q) => q.applied_index(),
            MetadataSource::Observer(o) => o.rx.borrow().0,
        }
    }

    /// Wait until the image reflects `index` (bounded); false on timeout.
    pub async fn wait_applied(&self, index: u64, timeout: Duration) -> bool {
        match self {
            MetadataSource::Voter(q) => q.wait_applied(index, timeout).await,
            MetadataSource::Observer(o) => {
                let mut rx = o.rx.clone();
                tokio::time::timeout(timeout, rx.wait_for(|(i, _)| *i >= index))
                    .await
                    .is_ok_and(|r| r.is_ok())
            }
        }
    }

    /// Wait until the applied index differs from `seen` (bounded); returns
    /// the index then.
    pub async fn wait_applied_change(&self, seen: u64, timeout: Duration) -> u64 {
        match self {
            MetadataSource::Voter(q) => q.wait_applied_change(seen, timeout).await,
            MetadataSource::Observer(o) => {
                let mut rx = o.rx.clone();
                let _ = tokio::time::timeout(timeout, rx.wait_for(|(i, _)| *i != seen)).await;
                let index = rx.borrow().0;
                index
            }
        }
    }

    /// The Raft voter, if this node is one.
    pub fn quorum(&self) -> Option<&Arc<Quorum>> {
        match self {
            MetadataSource::Voter(q) => Some(q),
            MetadataSource::Observer(_) => None,
        }
    }

    /// Stop following the metadata log.
    pub async fn shutdown(&self) {
        match self {
            MetadataSource::Voter(q) => {
                if let Err(e) = q.shutdown().await {
                    tracing::warn!("stopping the metadata quorum: {e}");
                }
            }
            MetadataSource::Observer(o) => {
                let task = o.task.lock().unwrap_or_else(|p| p.into_inner()).take();
                if let Some(task) = task {
                    task.abort();
                }
            }
        }
    }
}

/// A broker-only node's metadata follower.
#[derive(Debug)]
pub struct Observer {
    rx: watch::Receiver<Applied>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Observer {
    /// Start following the active controller through `client`.
    pub fn start(node_id: i32, client: Arc<ControllerClient>) -> Arc<Observer> {
        let (tx, rx) = watch::channel((0u64, Arc::new(MetadataImage::new())));
        let task = tokio::spawn(async move {
            loop {
                let after_index = tx.borrow().0;
                let request = ControllerRequest::FetchMetadata {
                    broker_id: node_id,
                    after_index,
                };
                match client.call(request, Duration::from_secs(5)).await {
                    Ok(ControllerResponse::Metadata { index, image }) if index > after_index => {
                        tx.send_replace((index, Arc::new(image)));
                    }
                    // Nothing newer (or a controller that is behind).
                    Ok(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                    Err(e) => {
                        tracing::debug!("fetching metadata: {e}");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
            }
        });
        Arc::new(Observer {
            rx,
            task: Mutex::new(Some(task)),
        })
    }
}
