//! The broker node's shared state: configuration, the metadata image and
//! the log that builds it, the partitions this node leads, and the
//! background duties (checkpoints, flush, retention).
//!
//! Metadata changes go through [`Broker::commit`]: the records are checked
//! against a copy of the image, made durable in the metadata log, applied,
//! and then the node reconciles its partitions with the new image
//! (creating logs for partitions it now leads, closing and deleting the
//! logs of removed topics). A single broker is its own controller; the
//! cluster issue replaces the local metadata log with the Raft quorum
//! behind the same `commit`.

use crate::config::BrokerConfig;
use crate::group_coordinator::{GroupCoordinatorHandle, OFFSETS_DIR};
use crate::log_manager::LogManager;
use crate::metadata_store::MetadataLog;
use crate::partition::Partition;
use kafka_protocol::error::ResponseError;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use uuid::Uuid;
use weir_core::group::GroupConfig;
use weir_core::metadata::{
    plan_create_topic, plan_producer_id_block, ConfigResource, Endpoint, MetadataImage,
    MetadataRecord, NewTopic, PlanError, TopicDefaults, PRODUCER_ID_BLOCK_SIZE,
};
use weir_protocol::{LeaderEpoch, TopicPartition};
use weir_storage::log::LogConfig;
use weir_storage::{Fs, RealFs};

/// Directory (under `metadata.log.dir`) of the single-node metadata log.
/// Not a `<topic>-<partition>` name, so the log manager never takes it
/// for a partition.
pub const METADATA_DIR: &str = "weir_metadata";

/// Why a metadata change was refused.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// The planner refused it (carries the Kafka error).
    #[error("{}", .0.message())]
    Plan(#[from] PlanError),
    /// The image refused a record (a bug in planning, or a race).
    #[error("metadata record refused: {0}")]
    Image(String),
    /// The metadata log could not be written.
    #[error("metadata log: {0}")]
    Store(String),
}

impl CommitError {
    /// The Kafka error code to answer with.
    pub fn error_code(&self) -> i16 {
        match self {
            CommitError::Plan(e) => e.error_code(),
            CommitError::Image(_) | CommitError::Store(_) => {
                ResponseError::UnknownServerError.code()
            }
        }
    }
}

#[derive(Debug, Default)]
struct ProducerIds {
    next: i64,
    end: i64,
}

/// One broker node.
#[derive(Debug)]
pub struct Broker {
    config: BrokerConfig,
    cluster_id: String,
    logs: LogManager,
    metadata: tokio::sync::Mutex<MetadataLog<MetadataRecord>>,
    image: RwLock<Arc<MetadataImage>>,
    partitions: RwLock<HashMap<TopicPartition, Arc<Partition>>>,
    producer_ids: tokio::sync::Mutex<ProducerIds>,
    background: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    groups: Arc<GroupCoordinatorHandle>,
}

fn apply_config(log: &mut weir_storage::log::Log, config: LogConfig, tp: &TopicPartition) {
    if *log.config() != config {
        if let Err(e) = log.set_config(config) {
            tracing::warn!(partition = %tp, "cannot apply topic config: {e}");
        }
    }
}

/// Wall-clock milliseconds (the shell reads the clock; the core never does).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Broker {
    /// Open the log dirs and the metadata log, register this node, take
    /// over the partitions it leads, and start the background duties.
    pub async fn start(config: BrokerConfig) -> anyhow::Result<Arc<Broker>> {
        let fs: Fs = RealFs::shared();
        let now = now_ms();
        let logs = LogManager::open(fs.clone(), &config, now)?;
        let cluster_id = logs.cluster_id().to_string();
        let meta_dir = config.metadata_log_dir.join(METADATA_DIR);
        let (metadata, records) = MetadataLog::<MetadataRecord>::open(&fs, &meta_dir)?;
        let mut image = MetadataImage::new();
        for record in &records {
            image
                .apply(record)
                .map_err(|e| anyhow::anyhow!("{}: replaying metadata: {e}", meta_dir.display()))?;
        }
        let groups = GroupCoordinatorHandle::new(
            config.log_dirs[0].join(OFFSETS_DIR),
            GroupConfig {
                initial_rebalance_delay_ms: config.group_initial_rebalance_delay_ms,
                ..Default::default()
            },
        )?;
        let broker = Arc::new(Broker {
            config,
            cluster_id,
            logs,
            metadata: tokio::sync::Mutex::new(metadata),
            image: RwLock::new(Arc::new(image)),
            partitions: RwLock::new(HashMap::new()),
            producer_ids: tokio::sync::Mutex::new(ProducerIds::default()),
            background: Mutex::new(Vec::new()),
            groups,
        });
        broker.register().await?;
        broker.reconcile()?;
        broker.start_background();
        Ok(broker)
    }

    /// The consumer-group coordinator (this node coordinates every group).
    pub fn groups(&self) -> &Arc<GroupCoordinatorHandle> {
        &self.groups
    }

    /// The configuration.
    pub fn config(&self) -> &BrokerConfig {
        &self.config
    }

    /// `cluster.id` from `meta.properties`.
    pub fn cluster_id(&self) -> &str {
        &self.cluster_id
    }

    /// The current metadata image.
    pub fn image(&self) -> Arc<MetadataImage> {
        self.image.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The metadata quorum as the active controller sees it (answers
    /// DescribeQuorum): asked of the active controller when this node is
    /// not it. `NotController` when no controller can be reached.
    pub async fn describe_quorum(&self) -> Result<crate::quorum::QuorumStatus, ResponseError> {
        Err(ResponseError::NotController)
    }

    /// Wall-clock milliseconds.
    pub fn now_ms(&self) -> i64 {
        now_ms()
    }

    /// Host and port clients should use for this broker.
    pub fn advertised_client_endpoint(&self) -> (String, i32) {
        match self.config.advertised_client_listener() {
            Some(l) => (l.host.clone(), i32::from(l.port)),
            None => ("127.0.0.1".to_string(), 9092),
        }
    }

    /// (Re)register this node with its current listeners, then unfence it:
    /// a single node is always caught up with its own metadata log.
    async fn register(&self) -> anyhow::Result<()> {
        let image = self.image();
        let broker_epoch = i64::try_from(image.records_applied()).unwrap_or(i64::MAX);
        let listeners = self
            .config
            .advertised_listeners
            .iter()
            .filter(|l| !self.config.is_controller_listener(&l.name))
            .map(|l| Endpoint {
                name: l.name.clone(),
                // An empty host binds every interface; advertise a name
                // clients on this machine can reach.
                host: if l.host.is_empty() {
                    "localhost".to_string()
                } else {
                    l.host.clone()
                },
                port: l.port,
            })
            .collect();
        let records = vec![
            MetadataRecord::RegisterBroker {
                broker_id: self.config.node_id,
                incarnation_id: Uuid::new_v4(),
                broker_epoch,
                listeners,
                rack: self.config.broker_rack.clone(),
            },
            MetadataRecord::UnfenceBroker {
                broker_id: self.config.node_id,
                broker_epoch,
            },
        ];
        self.commit(records).await?;
        Ok(())
    }

    /// Make `records` durable and apply them, all or nothing.
    pub async fn commit(&self, records: Vec<MetadataRecord>) -> Result<(), CommitError> {
        self.commit_with(|_| Ok(records)).await.map(|_| ())
    }

    /// Plan records against the current image and commit them, with the
    /// metadata lock held from planning to applying so that two requests
    /// cannot plan against the same image (the controller's single thread
    /// in Kafka). Returns the committed records.
    pub async fn commit_with(
        &self,
        plan: impl FnOnce(&MetadataImage) -> Result<Vec<MetadataRecord>, PlanError>,
    ) -> Result<Vec<MetadataRecord>, CommitError> {
        let mut log = self.metadata.lock().await;
        let mut next = (*self.image()).clone();
        let records = plan(&next)?;
        if records.is_empty() {
            return Ok(records);
        }
        for record in &records {
            next.apply(record)
                .map_err(|e| CommitError::Image(e.to_string()))?;
        }
        log.append(&records)
            .map_err(|e| CommitError::Store(e.to_string()))?;
        *self.image.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(next);
        drop(log);
        self.reconcile()
            .map_err(|e| CommitError::Store(e.to_string()))?;
        Ok(records)
    }

    /// Create a topic (CreateTopics, Metadata auto-creation): broker
    /// defaults for -1 counts, replicas placed from a random start
    /// (Kafka's placer randomness comes from here, not from the core).
    pub async fn create_topic(
        &self,
        topic: &NewTopic,
        validate_only: bool,
    ) -> Result<(Uuid, Vec<MetadataRecord>), CommitError> {
        let defaults = TopicDefaults {
            num_partitions: self.config.num_partitions,
            replication_factor: self.config.default_replication_factor,
        };
        let topic_id = Uuid::new_v4();
        let start = (Uuid::new_v4().as_u128() % 1_000_003) as usize;
        if validate_only {
            let records = plan_create_topic(&self.image(), topic, &defaults, topic_id, start)?;
            return Ok((topic_id, records));
        }
        let records = self
            .commit_with(|image| plan_create_topic(image, topic, &defaults, topic_id, start))
            .await?;
        Ok((topic_id, records))
    }

    /// Bring the partition table in line with the image: lead every
    /// partition whose leader is this node, drop the others.
    fn reconcile(&self) -> anyhow::Result<()> {
        let image = self.image();
        let mut wanted = BTreeMap::new();
        for topic in image.topics() {
            for (index, registration) in &topic.partitions {
                if registration.leader == self.config.node_id {
                    let tp = TopicPartition::new(topic.name.clone(), *index);
                    wanted.insert(tp, (topic.topic_id, LeaderEpoch(registration.leader_epoch)));
                }
            }
        }
        let mut partitions = self.partitions.write().unwrap_or_else(|p| p.into_inner());
        let gone: Vec<TopicPartition> = partitions
            .keys()
            .filter(|tp| !wanted.contains_key(*tp))
            .cloned()
            .collect();
        for tp in gone {
            partitions.remove(&tp);
            if image.topic_by_name(&tp.topic).is_none() {
                self.logs.delete(&tp)?;
            }
        }
        for (tp, (topic_id, epoch)) in wanted {
            let config = self.topic_log_config(&image, &tp.topic);
            let current = partitions.get(&tp);
            if let Some(p) = current.filter(|p| p.topic_id == topic_id && p.leader_epoch() == epoch)
            {
                p.with_log(|log| apply_config(log, config, &tp));
                continue;
            }
            let log = self.logs.get_or_create(tp.clone(), config, now_ms())?;
            // A log loaded at start carries the broker defaults; topic
            // overrides come from the metadata image.
            apply_config(
                &mut log.lock().unwrap_or_else(|p| p.into_inner()),
                config,
                &tp,
            );
            let partition = Partition::new(tp.clone(), topic_id, epoch, log, now_ms())?;
            partitions.insert(tp, partition);
        }
        Ok(())
    }

    /// Broker defaults overridden by the topic's configs.
    pub fn topic_log_config(&self, image: &MetadataImage, topic: &str) -> LogConfig {
        let mut config = self.config.log_config();
        for (key, value) in image.configs(&ConfigResource::Topic(topic.to_string())) {
            if let Err(e) = config.set(key, value) {
                tracing::warn!(topic, key, value, "ignoring topic config: {e}");
            }
        }
        config
    }

    /// The partition this node leads, or the Kafka error for why not.
    pub fn leader_partition(
        &self,
        topic: &str,
        partition: i32,
    ) -> Result<Arc<Partition>, ResponseError> {
        let tp = TopicPartition::new(topic, partition);
        if let Some(p) = self
            .partitions
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&tp)
        {
            return Ok(p.clone());
        }
        let image = self.image();
        let known = image
            .topic_by_name(topic)
            .is_some_and(|t| t.partitions.contains_key(&partition));
        Err(if known {
            ResponseError::NotLeaderOrFollower
        } else {
            ResponseError::UnknownTopicOrPartition
        })
    }

    /// Every partition this node leads.
    pub fn led_partitions(&self) -> Vec<Arc<Partition>> {
        self.partitions
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// Size of the ISR of a partition, and the `min.insync.replicas` that
    /// applies to it (the topic's, else the broker's; capped by the rule
    /// in `weir-core`).
    pub fn isr_and_min_isr(&self, topic: &str, partition: i32) -> (i32, i32) {
        let image = self.image();
        let Some(t) = image.topic_by_name(topic) else {
            return (0, 1);
        };
        let Some(p) = t.partitions.get(&partition) else {
            return (0, 1);
        };
        let configured = image
            .config(
                &ConfigResource::Topic(topic.to_string()),
                "min.insync.replicas",
            )
            .and_then(|v| v.parse::<i32>().ok())
            .unwrap_or(self.config.min_insync_replicas);
        (p.isr.len() as i32, p.effective_min_isr(configured))
    }

    /// The name of a topic id.
    pub fn topic_name(&self, topic_id: Uuid) -> Option<String> {
        self.image().topic(&topic_id).map(|t| t.name.clone())
    }

    /// The id of a topic name.
    pub fn topic_id(&self, name: &str) -> Option<Uuid> {
        self.image().topic_by_name(name).map(|t| t.topic_id)
    }

    /// A fresh producer id (KIP-730 blocks of ids claimed through the
    /// metadata log, handed out from memory).
    pub async fn next_producer_id(&self) -> Result<i64, CommitError> {
        let mut ids = self.producer_ids.lock().await;
        if ids.next >= ids.end {
            let node_id = self.config.node_id;
            let mut claimed = None;
            self.commit_with(|image| {
                let (block, records) =
                    plan_producer_id_block(image, node_id, PRODUCER_ID_BLOCK_SIZE)?;
                claimed = Some(block);
                Ok(records)
            })
            .await?;
            let block = claimed.ok_or_else(|| CommitError::Image("no producer id block".into()))?;
            ids.next = block.first_producer_id;
            ids.end = block.next_block_first_id();
        }
        let id = ids.next;
        ids.next += 1;
        Ok(id)
    }

    fn high_watermarks(&self) -> BTreeMap<TopicPartition, i64> {
        self.led_partitions()
            .into_iter()
            .map(|p| (p.tp.clone(), p.high_watermark()))
            .collect()
    }

    /// Write the three offset checkpoints now.
    pub fn checkpoint(&self) -> anyhow::Result<()> {
        self.logs.checkpoint(&self.high_watermarks())?;
        Ok(())
    }

    fn start_background(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        let checkpoint_ms = self
            .config
            .replica_high_watermark_checkpoint_interval_ms
            .max(100);
        let retention_ms = self.config.log_retention_check_interval_ms.max(100);
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            let (mut last_checkpoint, mut last_retention) = (now_ms(), now_ms());
            loop {
                tick.tick().await;
                let Some(broker) = weak.upgrade() else { return };
                let now = now_ms();
                if let Err(e) = broker.logs.flush_due(now) {
                    tracing::error!("flushing logs: {e}");
                }
                if now - last_checkpoint >= checkpoint_ms {
                    last_checkpoint = now;
                    if let Err(e) = broker.checkpoint() {
                        tracing::error!("writing checkpoints: {e}");
                    }
                }
                if now - last_retention >= retention_ms {
                    last_retention = now;
                    if let Err(e) = broker.logs.retention(now) {
                        tracing::error!("log retention: {e}");
                    }
                }
            }
        });
        self.background
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(task);
    }

    /// Clean shutdown: stop background work, flush every log, write the
    /// checkpoints (high watermarks included).
    pub async fn shutdown(&self) -> anyhow::Result<()> {
        self.groups.shutdown().await;
        for task in self
            .background
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            task.abort();
        }
        let hwms = self.high_watermarks();
        self.partitions
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        self.logs.shutdown(&hwms)?;
        tracing::info!("shut down cleanly");
        Ok(())
    }
}
