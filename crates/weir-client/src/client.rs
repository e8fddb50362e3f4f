//! The shared client: bootstrap, connections by broker, metadata cache and
//! leader routing. Producer, consumer and admin are built on one `Client`;
//! it is cheap to clone.

use crate::connection::{Connection, ConnectionConfig};
use crate::error::{ClientError, KafkaError, Result};
use crate::metadata::{ClusterMetadata, TopicErrors};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{MetadataRequest, TopicName};
use kafka_protocol::protocol::StrBytes;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use weir_protocol::{BrokerId, TopicPartition};

/// Client settings, named after Kafka's client configs.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `bootstrap.servers`: `host:port` entries tried in order.
    pub bootstrap_servers: Vec<String>,
    /// Per-connection settings (`client.id`, `request.timeout.ms`, ...).
    pub connection: ConnectionConfig,
    /// `retry.backoff.ms`: pause between metadata refreshes while waiting
    /// for a leader.
    pub retry_backoff_ms: u64,
    /// How many metadata refreshes to try while waiting for a leader (a new
    /// topic's partitions may need a moment to elect one).
    pub metadata_attempts: u32,
}

impl ClientConfig {
    /// Settings with Kafka's defaults for a comma-separated `bootstrap.servers`.
    pub fn new(bootstrap_servers: &str) -> ClientConfig {
        ClientConfig {
            bootstrap_servers: bootstrap_servers
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            connection: ConnectionConfig::default(),
            retry_backoff_ms: 100,
            metadata_attempts: 50,
        }
    }
}

#[derive(Debug)]
struct Inner {
    config: ClientConfig,
    metadata: RwLock<ClusterMetadata>,
    brokers: tokio::sync::Mutex<HashMap<BrokerId, Arc<Connection>>>,
    bootstrap: tokio::sync::Mutex<Option<Arc<Connection>>>,
}

/// A handle on the cluster.
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl Client {
    /// Connect to the first reachable bootstrap server and load the broker
    /// list.
    pub async fn connect(config: ClientConfig) -> Result<Client> {
        if config.bootstrap_servers.is_empty() {
            return Err(ClientError::Config("bootstrap.servers is empty".to_owned()));
        }
        let client = Client {
            inner: Arc::new(Inner {
                config,
                metadata: RwLock::default(),
                brokers: tokio::sync::Mutex::default(),
                bootstrap: tokio::sync::Mutex::default(),
            }),
        };
        client.refresh_metadata(Some(&[]), false).await?;
        Ok(client)
    }

    /// The settings this client was built with.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// A snapshot of the cached cluster metadata.
    pub fn metadata(&self) -> ClusterMetadata {
        self.read_metadata().clone()
    }

    /// Ask a broker for metadata of `topics` (`None`: all topics) and fold
    /// it into the cache. Returns the per-topic errors the broker reported.
    pub async fn refresh_metadata(
        &self,
        topics: Option<&[String]>,
        allow_auto_create: bool,
    ) -> Result<TopicErrors> {
        let conn = self.any_connection().await?;
        let version = conn.negotiate::<MetadataRequest>()?;
        let request = metadata_request(topics, allow_auto_create, version);
        let resp = conn.send(&request, version).await?;
        let mut md = self.write_metadata();
        Ok(md.apply(&resp, topics.is_none()))
    }

    /// The partition indexes of `topic`, refreshing metadata if the topic is
    /// not cached. UNKNOWN_TOPIC_OR_PARTITION if it does not exist.
    pub async fn partitions(&self, topic: &str) -> Result<Vec<i32>> {
        self.partitions_with(topic, false).await
    }

    /// As [`Client::partitions`], asking the broker to create a missing
    /// topic if its `auto.create.topics.enable` allows (the producer's
    /// behaviour). A topic just created may have no partitions or leaders
    /// for a moment, so this retries with backoff while that lasts.
    pub async fn partitions_with(&self, topic: &str, allow_auto_create: bool) -> Result<Vec<i32>> {
        let mut last = None;
        for attempt in 0..self.inner.config.metadata_attempts.max(1) {
            if let Some(parts) = self.cached_partitions(topic) {
                return Ok(parts);
            }
            if attempt > 0 {
                self.backoff().await;
            }
            let errors = self
                .refresh_metadata(Some(&[topic.to_owned()]), allow_auto_create)
                .await?;
            match errors.errors.into_iter().find(|(t, _)| t == topic) {
                Some((_, e)) if retry_topic_error(&e, allow_auto_create) => last = Some(e.into()),
                Some((_, e)) => return Err(e.into()),
                None => {}
            }
        }
        Err(last.unwrap_or_else(|| unknown_topic(topic)))
    }

    /// Cached partition indexes, if the topic is known with at least one.
    fn cached_partitions(&self, topic: &str) -> Option<Vec<i32>> {
        let md = self.read_metadata();
        let t = md.topic(topic).filter(|t| !t.partitions.is_empty())?;
        Some(t.partitions.iter().map(|p| p.partition).collect())
    }

    /// A connection to the current leader of `tp`, refreshing metadata (with
    /// backoff) until a leader is known or the attempts run out.
    pub async fn leader_connection(
        &self,
        tp: &TopicPartition,
    ) -> Result<(BrokerId, Arc<Connection>)> {
        let mut last = None;
        for attempt in 0..self.inner.config.metadata_attempts.max(1) {
            if attempt > 0 {
                self.backoff().await;
            }
            let leader = self.read_metadata().leader(tp).map(|b| b.id);
            if let Some(id) = leader {
                match self.broker_connection(id).await {
                    Ok(conn) => return Ok((id, conn)),
                    Err(e) => last = Some(e),
                }
            }
            match self
                .refresh_metadata(Some(std::slice::from_ref(&tp.topic)), false)
                .await
            {
                Ok(errors) => {
                    if let Some(e) = fatal_topic_error(&errors, &tp.topic) {
                        return Err(e.into());
                    }
                    if let Some((_, e)) = errors.errors.into_iter().find(|(t, _)| *t == tp.topic) {
                        last = Some(e.into());
                    }
                }
                Err(e) if e.is_retriable() => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| no_leader(tp)))
    }

    /// A connection to broker `id` (from the cached metadata), opened on
    /// first use and reopened if it failed.
    pub async fn broker_connection(&self, id: BrokerId) -> Result<Arc<Connection>> {
        let mut brokers = self.inner.brokers.lock().await;
        if let Some(conn) = brokers.get(&id).filter(|c| !c.is_closed()) {
            return Ok(Arc::clone(conn));
        }
        let addr = self
            .read_metadata()
            .brokers
            .get(&id)
            .map(|b| b.addr())
            .ok_or_else(|| ClientError::Kafka(broker_not_available(id)))?;
        let conn = Arc::new(Connection::connect(&addr, &self.inner.config.connection).await?);
        brokers.insert(id, Arc::clone(&conn));
        Ok(conn)
    }

    /// A connection to the controller if known (admin requests), else to
    /// any broker.
    pub async fn controller_connection(&self) -> Result<Arc<Connection>> {
        let controller = self.read_metadata().controller;
        if let Some(id) = controller {
            if let Ok(conn) = self.broker_connection(id).await {
                return Ok(conn);
            }
        }
        self.any_connection().await
    }

    /// A connection to any reachable broker: a known one first, else a
    /// bootstrap server.
    pub async fn any_connection(&self) -> Result<Arc<Connection>> {
        let known: Vec<BrokerId> = self.read_metadata().brokers.keys().copied().collect();
        for id in known {
            if let Ok(conn) = self.broker_connection(id).await {
                return Ok(conn);
            }
        }
        self.bootstrap_connection().await
    }

    async fn bootstrap_connection(&self) -> Result<Arc<Connection>> {
        let mut slot = self.inner.bootstrap.lock().await;
        if let Some(conn) = slot.as_ref().filter(|c| !c.is_closed()) {
            return Ok(Arc::clone(conn));
        }
        let mut last = None;
        for addr in &self.inner.config.bootstrap_servers {
            match Connection::connect(addr, &self.inner.config.connection).await {
                Ok(conn) => {
                    let conn = Arc::new(conn);
                    *slot = Some(Arc::clone(&conn));
                    return Ok(conn);
                }
                Err(e) => {
                    tracing::debug!(%addr, error = %e, "bootstrap server unreachable");
                    last = Some(e);
                }
            }
        }
        Err(last.unwrap_or_else(|| ClientError::Config("bootstrap.servers is empty".to_owned())))
    }

    /// Sleep `retry.backoff.ms`.
    pub async fn backoff(&self) {
        tokio::time::sleep(Duration::from_millis(self.inner.config.retry_backoff_ms)).await;
    }

    fn read_metadata(&self) -> std::sync::RwLockReadGuard<'_, ClusterMetadata> {
        self.inner
            .metadata
            .read()
            .unwrap_or_else(|e| e.into_inner())
    }

    fn write_metadata(&self) -> std::sync::RwLockWriteGuard<'_, ClusterMetadata> {
        self.inner
            .metadata
            .write()
            .unwrap_or_else(|e| e.into_inner())
    }
}

/// A Metadata request for `topics` (`None`: all) at `version`. Version 0
/// has no null list: there, an empty list means "all".
fn metadata_request(
    topics: Option<&[String]>,
    allow_auto_create: bool,
    version: i16,
) -> MetadataRequest {
    let topics = topics.map(|names| {
        names
            .iter()
            .map(|n| MetadataRequestTopic::default().with_name(Some(topic_name(n))))
            .collect()
    });
    let topics = if version == 0 {
        Some(topics.unwrap_or_default())
    } else {
        topics
    };
    MetadataRequest::default()
        .with_topics(topics)
        .with_allow_auto_topic_creation(allow_auto_create)
}

/// A kafka-protocol topic name.
pub(crate) fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_owned()))
}

/// Whether to wait and ask again: a leader election in progress always;
/// an unknown topic only when we asked the broker to create it.
fn retry_topic_error(e: &KafkaError, allow_auto_create: bool) -> bool {
    match e.error {
        ResponseError::LeaderNotAvailable => true,
        ResponseError::UnknownTopicOrPartition => allow_auto_create,
        _ => false,
    }
}

/// A topic error that retrying will not fix (anything but "no leader yet").
fn fatal_topic_error(errors: &TopicErrors, topic: &str) -> Option<KafkaError> {
    errors
        .errors
        .iter()
        .find(|(t, e)| t == topic && !e.is_retriable())
        .map(|(_, e)| e.clone())
}

pub(crate) fn unknown_topic(topic: &str) -> ClientError {
    ClientError::Kafka(KafkaError {
        error: ResponseError::UnknownTopicOrPartition,
        message: Some(format!("Topic '{topic}' does not exist.")),
    })
}

fn no_leader(tp: &TopicPartition) -> ClientError {
    ClientError::Kafka(KafkaError {
        error: ResponseError::LeaderNotAvailable,
        message: Some(format!("No leader is known for {tp}.")),
    })
}

fn broker_not_available(id: BrokerId) -> KafkaError {
    KafkaError {
        error: ResponseError::BrokerNotAvailable,
        message: Some(format!("Broker {id} is not in the cluster metadata.")),
    }
}
