//! The broker node's shared state: configuration, the metadata image and
//! the quorum that builds it, the partitions this node leads, and the
//! background duties (checkpoints, flush, retention, heartbeats).
//!
//! Start-up (KRaft's order): start this node's Raft voter on the
//! controller listener; wait until the metadata log holds the cluster id
//! (the first active controller writes it); format/open the log dirs with
//! it; register with the active controller; heartbeat until unfenced;
//! then serve. A watcher reconciles the led partitions with every newly
//! applied image.
//!
//! Metadata changes go through [`Broker::commit_op`]: the
//! [`ControllerOp`] goes to the active controller (this node's own, or
//! another voter's over the controller listener), which plans and commits
//! it through Raft; the answer carries the log index, and the broker waits
//! until its own image has applied it before answering its client.

use crate::config::BrokerConfig;
use crate::controller::{
    Controller, ControllerCallError, ControllerClient, ControllerConfig, ControllerRequest,
    ControllerResponse,
};
use crate::group_coordinator::GroupCoordinatorHandle;
use crate::log_manager::LogManager;
use crate::metadata_source::{MetadataSource, Observer};
use crate::partition::{AlterIsr, LeaderInit, Partition};
use crate::quorum::{Quorum, QuorumConfig, QuorumStatus};
use crate::replica_fetcher::{FetcherConfig, FollowerPartition, ReplicaFetchers};
use kafka_protocol::error::ResponseError;
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use uuid::Uuid;
use weir_core::group::GroupConfig;
use weir_core::metadata::{
    BrokerRegistrationRequest, ConfigResource, ControllerOp, ElectionPolicy, Endpoint,
    MetadataImage, MetadataRecord, NewTopic, PartitionRegistration, PlanError, TopicDefaults,
    PRODUCER_ID_BLOCK_SIZE,
};
use weir_core::partition::ReplicationConfig;
use weir_protocol::{LeaderEpoch, TopicPartition};
use weir_storage::checkpoint::MetaProperties;
use weir_storage::log::LogConfig;
use weir_storage::{Fs, RealFs};

/// Directory (under `metadata.log.dir`) of the Raft metadata log, Kafka's
/// name for it; the log manager never takes it for a partition.
pub const METADATA_DIR: &str = "__cluster_metadata-0";

/// How long a metadata change may wait for the active controller.
const COMMIT_TIMEOUT: Duration = Duration::from_secs(30);
/// A leader re-sends an ISR proposal the controller has not answered
/// after this long.
const ALTER_PARTITION_RETRY_MS: i64 = 5_000;
/// How long a controlled shutdown waits for the controller.
const CONTROLLED_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);
/// How often leaders check their followers' lag.
const ISR_CHECK_INTERVAL: Duration = Duration::from_millis(250);

/// How long a broker waits for its own image to apply a committed change.
const APPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a metadata change was refused.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// The planner refused it (carries the Kafka error).
    #[error("{}", .0.message())]
    Plan(#[from] PlanError),
    /// No active controller could be reached in time.
    #[error("{0}")]
    Unavailable(String),
    /// The metadata log could not be written.
    #[error("metadata log: {0}")]
    Store(String),
}

impl From<ControllerCallError> for CommitError {
    fn from(e: ControllerCallError) -> Self {
        match e {
            ControllerCallError::Refused(p) => CommitError::Plan(p),
            ControllerCallError::Timeout(_) => CommitError::Unavailable(e.to_string()),
        }
    }
}

impl CommitError {
    /// The Kafka error code to answer with.
    pub fn error_code(&self) -> i16 {
        match self {
            CommitError::Plan(e) => e.error_code(),
            CommitError::Unavailable(_) => ResponseError::RequestTimedOut.code(),
            CommitError::Store(_) => ResponseError::UnknownServerError.code(),
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
    metadata: MetadataSource,
    controller_client: Arc<ControllerClient>,
    incarnation_id: Uuid,
    broker_epoch: AtomicI64,
    reconcile_lock: Mutex<()>,
    partitions: RwLock<HashMap<TopicPartition, Arc<Partition>>>,
    followers: RwLock<HashMap<TopicPartition, Arc<FollowerPartition>>>,
    fetchers: ReplicaFetchers,
    alter_isr: tokio::sync::mpsc::UnboundedSender<AlterIsr>,
    alter_isr_rx: Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<AlterIsr>>>,
    self_ref: OnceLock<Weak<Broker>>,
    /// Set when shutdown begins: heartbeats stop, so the controller does
    /// not unfence a broker that asked to be fenced for its shutdown.
    shutting_down: AtomicBool,
    /// The broker epoch of this node's last clean shutdown (its
    /// clean-shutdown marker), -1 when the last stop was not clean.
    previous_broker_epoch: i64,
    producer_ids: tokio::sync::Mutex<ProducerIds>,
    background: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    groups: Arc<GroupCoordinatorHandle>,
    /// Set while this node asks the controller to create
    /// `__consumer_offsets` (one request at a time).
    creating_offsets_topic: AtomicBool,
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

/// Kafka's clean-shutdown marker in the first log dir: written last by a
/// clean shutdown with the broker epoch, removed at start, so its
/// presence at start proves the previous stop flushed everything.
const CLEAN_SHUTDOWN_FILE: &str = ".kafka_cleanshutdown";

/// Read and remove the marker: the broker epoch of the last clean
/// shutdown, or -1 (none, or unreadable: treated as unclean).
fn take_clean_shutdown_marker(config: &BrokerConfig) -> i64 {
    let Some(dir) = config.log_dirs.first() else {
        return -1;
    };
    let path = dir.join(CLEAN_SHUTDOWN_FILE);
    let Ok(text) = std::fs::read_to_string(&path) else {
        return -1;
    };
    let epoch = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v.get("brokerEpoch").and_then(serde_json::Value::as_i64))
        .unwrap_or(-1);
    if let Err(e) = std::fs::remove_file(&path) {
        tracing::warn!(path = %path.display(), "cannot remove the clean-shutdown marker: {e}");
        return -1;
    }
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    tracing::info!(
        previous_broker_epoch = epoch,
        "the previous shutdown was clean"
    );
    epoch
}

/// Write the marker (`{"version":0,"brokerEpoch":N}`, Kafka's format),
/// fsynced, once every log is closed.
fn write_clean_shutdown_marker(config: &BrokerConfig, broker_epoch: i64) {
    let Some(dir) = config.log_dirs.first() else {
        return;
    };
    let path = dir.join(CLEAN_SHUTDOWN_FILE);
    let text = format!("{{\"version\":0,\"brokerEpoch\":{broker_epoch}}}");
    let result = std::fs::File::create(&path).and_then(|mut f| {
        use std::io::Write;
        f.write_all(text.as_bytes())?;
        f.sync_all()
    });
    match result {
        Ok(()) => {
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Err(e) => {
            tracing::warn!(path = %path.display(), "cannot write the clean-shutdown marker: {e}")
        }
    }
}

/// Resolve `controller.quorum.voters` to socket addresses.
async fn resolve_voters(config: &BrokerConfig) -> anyhow::Result<BTreeMap<i32, SocketAddr>> {
    let mut voters = BTreeMap::new();
    for voter in &config.controller_quorum_voters {
        let text = format!("{}:{}", voter.address.host, voter.address.port);
        let addr = tokio::net::lookup_host(&text)
            .await
            .ok()
            .and_then(|mut a| a.next())
            .ok_or_else(|| anyhow::anyhow!("controller.quorum.voters: cannot resolve {text}"))?;
        voters.insert(voter.id, addr);
    }
    Ok(voters)
}

/// The cluster id this node's log dirs already carry, if any.
fn existing_cluster_id(fs: &Fs, config: &BrokerConfig) -> Option<String> {
    let mut dirs = vec![config.metadata_log_dir.clone()];
    dirs.extend(config.log_dirs.iter().cloned());
    dirs.iter().find_map(|d| {
        MetaProperties::read(&**fs, &d.join("meta.properties"))
            .ok()
            .flatten()
            .map(|m| m.cluster_id)
    })
}

impl Broker {
    /// Start the quorum voter, open the log dirs, register this node and
    /// wait until it is unfenced, take over the partitions it leads, and
    /// start the background duties.
    pub async fn start(config: BrokerConfig) -> anyhow::Result<Arc<Broker>> {
        let fs: Fs = RealFs::shared();
        crate::log_manager::prepare_dirs(&fs, &config)?;
        let previous_broker_epoch = take_clean_shutdown_marker(&config);
        let voters = resolve_voters(&config).await?;
        if voters.is_empty() {
            anyhow::bail!(
                "controller.quorum.voters is empty: list the voters as id@host:port \
                 (dynamic quorums, KIP-853, are not supported)"
            );
        }
        let mut tasks = Vec::new();
        let (metadata, controller_client) = if config.process_roles.controller {
            let (quorum, controller) = Self::start_voter(&config, &voters, &fs).await?;
            let weak = Arc::downgrade(&controller);
            tasks.push(tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_millis(250));
                loop {
                    tick.tick().await;
                    let Some(c) = weak.upgrade() else { return };
                    c.tick().await;
                }
            }));
            let client = Arc::new(ControllerClient::new(
                config.node_id,
                voters.clone(),
                Some(controller),
            ));
            (MetadataSource::Voter(quorum), client)
        } else {
            let client = Arc::new(ControllerClient::new(config.node_id, voters.clone(), None));
            let observer = Observer::start(config.node_id, client.clone());
            (MetadataSource::Observer(observer), client)
        };
        let cluster_id = Self::wait_for_cluster_id(&metadata, &voters).await;
        let now = now_ms();
        let logs = LogManager::open_with_cluster_id(fs, &config, Some(&cluster_id), now)?;
        let groups = GroupCoordinatorHandle::new(GroupConfig {
            initial_rebalance_delay_ms: config.group_initial_rebalance_delay_ms,
            ..Default::default()
        })?;
        let fetcher_config = FetcherConfig {
            local_id: config.node_id,
            wait_max_ms: config.replica_fetch_wait_max_ms,
            partition_max_bytes: config.replica_fetch_max_bytes,
            response_max_bytes: config.replica_fetch_response_max_bytes,
            backoff_ms: config.replica_fetch_backoff_ms,
            socket_timeout_ms: config.replica_socket_timeout_ms,
        };
        let (alter_isr, alter_isr_rx) = tokio::sync::mpsc::unbounded_channel();
        let broker = Arc::new(Broker {
            config,
            cluster_id,
            logs,
            metadata,
            controller_client,
            incarnation_id: Uuid::new_v4(),
            broker_epoch: AtomicI64::new(-1),
            reconcile_lock: Mutex::new(()),
            partitions: RwLock::new(HashMap::new()),
            followers: RwLock::new(HashMap::new()),
            fetchers: ReplicaFetchers::new(fetcher_config),
            alter_isr,
            alter_isr_rx: Mutex::new(Some(alter_isr_rx)),
            self_ref: OnceLock::new(),
            shutting_down: AtomicBool::new(false),
            previous_broker_epoch,
            producer_ids: tokio::sync::Mutex::new(ProducerIds::default()),
            background: Mutex::new(tasks),
            groups,
            creating_offsets_topic: AtomicBool::new(false),
        });
        let _ = broker.self_ref.set(Arc::downgrade(&broker));
        broker.register().await?;
        broker.wait_unfenced().await;
        broker.reconcile()?;
        broker.start_background();
        Ok(broker)
    }

    /// Start this node's Raft voter on the controller listener and its
    /// controller.
    async fn start_voter(
        config: &BrokerConfig,
        voters: &BTreeMap<i32, SocketAddr>,
        fs: &Fs,
    ) -> anyhow::Result<(Arc<Quorum>, Arc<Controller>)> {
        let listener = config
            .controller_listener()
            .ok_or_else(|| anyhow::anyhow!("a controller needs a controller listener"))?;
        let bind_host = if listener.host.is_empty() {
            "0.0.0.0"
        } else {
            listener.host.as_str()
        };
        let bind = format!("{bind_host}:{}", listener.port);
        let tcp = tokio::net::TcpListener::bind(&bind)
            .await
            .map_err(|e| anyhow::anyhow!("cannot bind the controller listener {bind}: {e}"))?;
        let quorum_dir = config.metadata_log_dir.join(METADATA_DIR);
        let quorum = Arc::new(
            Quorum::start_with(
                config.node_id,
                voters.iter().map(|(id, a)| (*id, *a)).collect(),
                &quorum_dir,
                fs.clone(),
                tcp,
                QuorumConfig::default(),
            )
            .await?,
        );
        let controller = Controller::new(
            quorum.clone(),
            ControllerConfig {
                session_timeout_ms: config.broker_session_timeout_ms,
                cluster_id_hint: existing_cluster_id(fs, config),
                auto_leader_rebalance_enable: config.auto_leader_rebalance_enable,
                leader_imbalance_check_interval_ms: config
                    .leader_imbalance_check_interval_seconds
                    .saturating_mul(1000),
                leader_imbalance_per_broker_percentage: config
                    .leader_imbalance_per_broker_percentage,
                election: ElectionPolicy {
                    elr_enabled: config.eligible_leader_replicas_enable,
                    default_min_isr: config.min_insync_replicas,
                    default_unclean: config.unclean_leader_election_enable,
                },
            },
        );
        Ok((quorum, controller))
    }

    /// Wait (logging every few seconds) until the metadata log holds the
    /// cluster id; a quorum needs a majority of voters up.
    async fn wait_for_cluster_id(
        quorum: &MetadataSource,
        voters: &BTreeMap<i32, SocketAddr>,
    ) -> String {
        let started = tokio::time::Instant::now();
        let mut last_log = started;
        loop {
            if let Some(id) = quorum.image().cluster_id() {
                return id.to_string();
            }
            if last_log.elapsed() >= Duration::from_secs(5) {
                last_log = tokio::time::Instant::now();
                tracing::info!(
                    waited_s = started.elapsed().as_secs(),
                    voters = ?voters,
                    "waiting for the metadata quorum (a majority of voters must be up)"
                );
            }
            quorum
                .wait_applied_change(quorum.applied_index(), Duration::from_millis(500))
                .await;
        }
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

    /// The current metadata image (this node's copy of the metadata log).
    pub fn image(&self) -> Arc<MetadataImage> {
        self.metadata.image()
    }

    /// The active controller's node id, if known.
    pub fn active_controller(&self) -> Option<i32> {
        self.controller_client.leader()
    }

    /// The broker that coordinates `group` (every node computes the same
    /// answer from its image): the leader of the group's
    /// `__consumer_offsets` partition (Kafka's `partitionFor`: Java's
    /// `String.hashCode` of the group id modulo the partition count);
    /// `None` while the topic does not exist or that partition has no
    /// leader.
    pub fn group_coordinator(&self, group: &str) -> Option<i32> {
        weir_core::metadata::group_coordinator(&self.image(), group)
    }

    /// Ask the controller to create `__consumer_offsets` if it does not
    /// exist yet (Kafka creates it on the first FindCoordinator for a
    /// group): `offsets.topic.num.partitions` partitions,
    /// `offsets.topic.replication.factor` replicas, capped at the unfenced
    /// brokers (Kafka refuses instead, leaving groups unavailable until
    /// enough brokers are up; Weir creates it with what is there and says
    /// so). Runs in the background; the caller answers
    /// COORDINATOR_NOT_AVAILABLE meanwhile, which clients retry.
    pub fn ensure_offsets_topic(self: &Arc<Self>) {
        let image = self.image();
        if image
            .topic_by_name(weir_core::metadata::OFFSETS_TOPIC)
            .is_some()
            || self.creating_offsets_topic.swap(true, Ordering::SeqCst)
        {
            return;
        }
        let unfenced = image
            .brokers()
            .filter(|b| image.is_unfenced(b.broker_id))
            .count();
        let configured = self.config.offsets_topic_replication_factor;
        let rf = configured
            .min(i16::try_from(unfenced).unwrap_or(i16::MAX))
            .max(1);
        if rf < configured {
            tracing::warn!(
                "creating __consumer_offsets with replication factor {rf}: \
                 offsets.topic.replication.factor is {configured} but only {unfenced} \
                 broker(s) are up"
            );
        }
        let topic = crate::offsets_topic::new_topic(self.config.offsets_topic_num_partitions, rf);
        let me = self.clone();
        tokio::spawn(async move {
            match me.create_topic(&topic, false).await {
                Ok(_) => tracing::info!(
                    partitions = topic.num_partitions,
                    replication_factor = rf,
                    "created __consumer_offsets"
                ),
                Err(e) => tracing::info!("creating __consumer_offsets: {e}"),
            }
            me.creating_offsets_topic.store(false, Ordering::SeqCst);
        });
    }

    /// The advertised client endpoint of `broker_id`, from the image.
    pub fn broker_endpoint(&self, broker_id: i32) -> Option<(String, i32)> {
        let image = self.image();
        let listener = self
            .config
            .client_listener()
            .map(|l| l.name.clone())
            .unwrap_or_else(|| "PLAINTEXT".to_string());
        let broker = image.broker(broker_id)?;
        let e = broker.listeners.iter().find(|e| e.name == listener)?;
        Some((e.host.clone(), i32::from(e.port)))
    }

    /// The inter-broker endpoint of `broker_id` (`inter.broker.listener.name`),
    /// from the image: where its followers fetch.
    pub fn inter_broker_endpoint(&self, broker_id: i32) -> Option<(String, i32)> {
        let image = self.image();
        let broker = image.broker(broker_id)?;
        let name = &self.config.inter_broker_listener_name;
        let e = broker
            .listeners
            .iter()
            .find(|e| &e.name == name)
            .or_else(|| broker.listeners.first())?;
        Some((e.host.clone(), i32::from(e.port)))
    }

    /// This node's broker epoch from its registration (-1 before).
    pub fn broker_epoch(&self) -> i64 {
        self.broker_epoch.load(Ordering::SeqCst)
    }

    /// The metadata quorum as the active controller sees it (answers
    /// DescribeQuorum): asked of the active controller when this node is
    /// not it. `NotController` when no controller can be reached.
    pub async fn describe_quorum(&self) -> Result<QuorumStatus, ResponseError> {
        match self
            .controller_client
            .call(ControllerRequest::DescribeQuorum, Duration::from_secs(5))
            .await
        {
            Ok(ControllerResponse::Quorum(status)) => Ok(status),
            _ => Err(ResponseError::NotController),
        }
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

    fn registration_request(&self) -> BrokerRegistrationRequest {
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
        BrokerRegistrationRequest {
            broker_id: self.config.node_id,
            incarnation_id: self.incarnation_id,
            listeners,
            rack: self.config.broker_rack.clone(),
            previous_broker_epoch: self.previous_broker_epoch,
        }
    }

    /// Register this process run with the active controller (retrying
    /// until one answers) and wait until the local image holds it.
    async fn register(&self) -> anyhow::Result<()> {
        let started = tokio::time::Instant::now();
        loop {
            let request = ControllerRequest::Register(self.registration_request());
            match self
                .controller_client
                .call(request, Duration::from_secs(5))
                .await
            {
                Ok(ControllerResponse::Registered {
                    broker_epoch,
                    index,
                }) => {
                    self.broker_epoch.store(broker_epoch, Ordering::SeqCst);
                    self.metadata.wait_applied(index, APPLY_TIMEOUT).await;
                    tracing::info!(broker_epoch, "registered with the controller");
                    return Ok(());
                }
                Ok(other) => tracing::warn!("unexpected answer to registration: {other:?}"),
                Err(ControllerCallError::Refused(e)) => {
                    anyhow::bail!("the controller refused this broker's registration: {e}")
                }
                Err(e) => tracing::info!(
                    waited_s = started.elapsed().as_secs(),
                    "registering with the controller: {e}"
                ),
            }
        }
    }

    /// One heartbeat to the active controller; re-registers when the
    /// controller no longer knows this broker's epoch.
    async fn heartbeat(&self) {
        let request = ControllerRequest::Heartbeat {
            broker_id: self.config.node_id,
            broker_epoch: self.broker_epoch(),
            applied_index: self.metadata.applied_index(),
        };
        match self
            .controller_client
            .call(request, Duration::from_secs(5))
            .await
        {
            Ok(ControllerResponse::Heartbeat { fenced, index }) => {
                if !fenced {
                    self.metadata.wait_applied(index, APPLY_TIMEOUT).await;
                }
            }
            Ok(other) => tracing::debug!("unexpected answer to heartbeat: {other:?}"),
            Err(ControllerCallError::Refused(PlanError::StaleBrokerEpoch(m))) => {
                tracing::warn!("heartbeat refused ({m}); registering again");
                if let Err(e) = self.register().await {
                    tracing::error!("re-registration failed: {e}");
                }
            }
            Err(e) => tracing::warn!("heartbeat: {e}"),
        }
    }

    /// Heartbeat until the controller unfences this broker (bounded: a
    /// broker that stays fenced still serves, it just leads nothing).
    async fn wait_unfenced(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            self.heartbeat().await;
            if self.image().is_unfenced(self.config.node_id) {
                return;
            }
            if tokio::time::Instant::now() >= deadline {
                tracing::warn!("still fenced after 30 s; serving anyway");
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Have the active controller plan and commit `op`; answers the
    /// committed records once this node's image has applied them (and its
    /// partitions are reconciled with it).
    pub async fn commit_op(&self, op: ControllerOp) -> Result<Vec<MetadataRecord>, CommitError> {
        match self
            .controller_client
            .call(ControllerRequest::Commit(op), COMMIT_TIMEOUT)
            .await?
        {
            ControllerResponse::Committed { records, index } => {
                self.metadata.wait_applied(index, APPLY_TIMEOUT).await;
                self.reconcile()
                    .map_err(|e| CommitError::Store(e.to_string()))?;
                Ok(records)
            }
            other => Err(CommitError::Unavailable(format!(
                "unexpected controller answer {other:?}"
            ))),
        }
    }

    /// Plan `op` against this node's image without committing it
    /// (`validate_only` requests).
    pub fn validate_op(&self, op: &ControllerOp) -> Result<Vec<MetadataRecord>, CommitError> {
        Ok(op.plan(&self.image())?)
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
        let op = ControllerOp::CreateTopic {
            topic: topic.clone(),
            defaults,
            topic_id,
            start_index: (Uuid::new_v4().as_u128() % 1_000_003) as usize,
        };
        let records = if validate_only {
            self.validate_op(&op)?
        } else {
            self.commit_op(op).await?
        };
        Ok((topic_id, records))
    }

    /// Bring the replicas in line with the image: lead every partition
    /// whose leader is this node, follow every other one it is a replica
    /// of (a new leader or leader epoch replaces the old role; the old
    /// leader is deposed and the old follower stopped under their log
    /// locks first), drop the rest (deleting logs of deleted topics), and
    /// hand the fetchers their partitions.
    fn reconcile(&self) -> anyhow::Result<()> {
        let _serial = self
            .reconcile_lock
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let image = self.image();
        let me = self.config.node_id;
        let now = now_ms();
        let mut wanted: BTreeMap<TopicPartition, (Uuid, PartitionRegistration)> = BTreeMap::new();
        for topic in image.topics() {
            for (index, registration) in &topic.partitions {
                if registration.replicas.contains(&me) {
                    let tp = TopicPartition::new(topic.name.clone(), *index);
                    wanted.insert(tp, (topic.topic_id, registration.clone()));
                }
            }
        }
        let checkpointed = self.logs.high_watermark_checkpoint();
        let mut leaders = self.partitions.write().unwrap_or_else(|p| p.into_inner());
        let mut followers = self.followers.write().unwrap_or_else(|p| p.into_inner());
        let mut all: Vec<TopicPartition> = leaders.keys().cloned().collect();
        all.extend(followers.keys().cloned());
        for tp in all {
            if wanted.contains_key(&tp) {
                continue;
            }
            if let Some(p) = leaders.remove(&tp) {
                p.depose();
            }
            if let Some(f) = followers.remove(&tp) {
                f.stop();
            }
            if image.topic_by_name(&tp.topic).is_none() {
                self.logs.delete(&tp)?;
            }
        }
        for (tp, (topic_id, reg)) in wanted {
            let config = self.topic_log_config(&image, &tp.topic);
            let replication = self.replication_config(&image, &tp.topic, &reg);
            if reg.leader == me {
                if let Some(p) = leaders.get(&tp).filter(|p| {
                    p.topic_id == topic_id && p.leader_epoch() == LeaderEpoch(reg.leader_epoch)
                }) {
                    p.on_partition_change(
                        reg.partition_epoch,
                        reg.replicas.clone(),
                        reg.isr.clone(),
                        replication,
                        now,
                    );
                    p.with_log(|log| apply_config(log, config, &tp));
                    continue;
                }
            } else if let Some(f) = followers.get(&tp).filter(|f| {
                f.topic_id == topic_id
                    && f.leader == reg.leader
                    && f.leader_epoch == reg.leader_epoch
            }) {
                let mut log = f.log().lock().unwrap_or_else(|p| p.into_inner());
                apply_config(&mut log, config, &tp);
                continue;
            }
            // A new role (or a new epoch of the same one): take the high
            // watermark the old role knew, else the checkpoint's.
            let mut known_hwm = checkpointed.get(&tp).copied().unwrap_or(0);
            if let Some(old) = leaders.remove(&tp) {
                old.depose();
                known_hwm = old.high_watermark();
            }
            if let Some(old) = followers.remove(&tp) {
                old.stop();
                known_hwm = old.high_watermark();
            }
            let log = self.logs.get_or_create(tp.clone(), config, now)?;
            // A log loaded at start carries the broker defaults; topic
            // overrides come from the metadata image.
            apply_config(
                &mut log.lock().unwrap_or_else(|p| p.into_inner()),
                config,
                &tp,
            );
            if reg.leader == me {
                tracing::info!(
                    partition = %tp,
                    leader_epoch = reg.leader_epoch,
                    isr = ?reg.isr,
                    "leading"
                );
                let init = LeaderInit {
                    local_id: me,
                    leader_epoch: LeaderEpoch(reg.leader_epoch),
                    partition_epoch: reg.partition_epoch,
                    replicas: reg.replicas.clone(),
                    isr: reg.isr.clone(),
                    high_watermark: known_hwm,
                    config: replication,
                };
                let partition = Partition::new(
                    tp.clone(),
                    topic_id,
                    init,
                    log,
                    Some(self.alter_isr.clone()),
                    now,
                )?;
                if reg.leader_recovering {
                    // Elected uncleanly (Kafka's RECOVERING): the ISR may
                    // not grow until the leader has recovered. Weir keeps
                    // no transaction state, so taking the log over (epoch
                    // assigned, producer state rebuilt) is the recovery;
                    // say so at once.
                    tracing::warn!(
                        partition = %tp,
                        leader_epoch = reg.leader_epoch,
                        "leading after an unclean election: records acknowledged \
                         by the previous leaders may be lost"
                    );
                    let _ = self.alter_isr.send(AlterIsr {
                        tp: tp.clone(),
                        request: weir_core::metadata::AlterPartitionRequest {
                            broker_id: me,
                            topic_id,
                            partition: tp.partition,
                            leader_epoch: reg.leader_epoch,
                            partition_epoch: reg.partition_epoch,
                            new_isr: reg.isr.clone(),
                            new_isr_broker_epochs: Vec::new(),
                            leader_recovered: true,
                        },
                    });
                }
                leaders.insert(tp, partition);
            } else {
                tracing::info!(
                    partition = %tp,
                    leader = reg.leader,
                    leader_epoch = reg.leader_epoch,
                    "following"
                );
                let follower = FollowerPartition::new(
                    tp.clone(),
                    topic_id,
                    reg.leader,
                    reg.leader_epoch,
                    log,
                    known_hwm,
                );
                followers.insert(tp, follower);
            }
        }
        let set: Vec<Arc<FollowerPartition>> = followers.values().cloned().collect();
        drop(followers);
        if let Some(count) = weir_core::metadata::offsets_partition_count(&image) {
            let led = leaders
                .iter()
                .filter(|(tp, _)| tp.topic == weir_core::metadata::OFFSETS_TOPIC)
                .map(|(tp, p)| (tp.partition, p.clone()))
                .collect();
            self.groups.lead(count, led);
        } else {
            self.groups.lead(1, Vec::new());
        }
        drop(leaders);
        if let Some(me) = self.self_ref.get().and_then(Weak::upgrade) {
            self.fetchers.update(&me, &set);
        }
        Ok(())
    }

    /// The replication tunables of a partition: `replica.lag.time.max.ms`
    /// and the effective `min.insync.replicas` (topic, else broker; capped
    /// at the replication factor).
    fn replication_config(
        &self,
        image: &MetadataImage,
        topic: &str,
        reg: &PartitionRegistration,
    ) -> ReplicationConfig {
        let configured = image
            .config(
                &ConfigResource::Topic(topic.to_string()),
                "min.insync.replicas",
            )
            .and_then(|v| v.parse::<i32>().ok())
            .unwrap_or(self.config.min_insync_replicas);
        ReplicationConfig {
            replica_lag_time_max_ms: self.config.replica_lag_time_max_ms,
            min_insync_replicas: usize::try_from(reg.effective_min_isr(configured)).unwrap_or(1),
            alter_partition_retry_ms: ALTER_PARTITION_RETRY_MS,
        }
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
            let records = self
                .commit_op(ControllerOp::ProducerIdBlock {
                    broker_id: node_id,
                    size: PRODUCER_ID_BLOCK_SIZE,
                })
                .await?;
            let next_block = records
                .iter()
                .find_map(|r| match r {
                    MetadataRecord::ProducerIds {
                        next_producer_id, ..
                    } => Some(*next_producer_id),
                    _ => None,
                })
                .ok_or_else(|| CommitError::Store("no producer id block committed".into()))?;
            ids.next = next_block - PRODUCER_ID_BLOCK_SIZE;
            ids.end = next_block;
        }
        let id = ids.next;
        ids.next += 1;
        Ok(id)
    }

    /// The high watermark of every partition this broker leads or follows.
    pub fn high_watermarks(&self) -> BTreeMap<TopicPartition, i64> {
        let mut out: BTreeMap<TopicPartition, i64> = self
            .led_partitions()
            .into_iter()
            .map(|p| (p.tp.clone(), p.high_watermark()))
            .collect();
        for f in self.followed_partitions() {
            out.insert(f.tp.clone(), f.high_watermark());
        }
        out
    }

    /// Every partition this node follows.
    pub fn followed_partitions(&self) -> Vec<Arc<FollowerPartition>> {
        self.followers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// Send an ISR proposal to the active controller; a refusal that
    /// proves it was not committed drops it on the leader, anything else
    /// leaves it pending (re-sent after [`ALTER_PARTITION_RETRY_MS`]).
    async fn alter_isr(&self, change: AlterIsr) {
        let result = self
            .commit_op(ControllerOp::AlterPartition(change.request.clone()))
            .await;
        match result {
            Ok(_) => {}
            Err(e) => {
                tracing::info!(
                    partition = %change.tp,
                    isr = ?change.request.new_isr,
                    "ISR change not committed: {e}"
                );
                if let CommitError::Plan(plan) = &e {
                    let led = self
                        .partitions
                        .read()
                        .unwrap_or_else(|p| p.into_inner())
                        .get(&change.tp)
                        .cloned();
                    // (A recovery notice is not the leader's ISR proposal:
                    // its refusal proves nothing about that one.)
                    let proposal = !change.request.leader_recovered;
                    if let Some(p) = led
                        .filter(|p| proposal && p.leader_epoch().0 == change.request.leader_epoch)
                    {
                        p.on_alter_isr_refused(plan.error_code());
                    }
                }
            }
        }
    }

    /// Write the three offset checkpoints now.
    pub fn checkpoint(&self) -> anyhow::Result<()> {
        self.logs.checkpoint(&self.high_watermarks())?;
        Ok(())
    }

    fn start_background(self: &Arc<Self>) {
        let mut tasks = Vec::new();
        // Heartbeats to the active controller.
        let weak = Arc::downgrade(self);
        let interval_ms = self.config.broker_heartbeat_interval_ms.max(1) as u64;
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(interval_ms));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(broker) = weak.upgrade() else { return };
                if broker.shutting_down.load(Ordering::SeqCst) {
                    return;
                }
                broker.heartbeat().await;
            }
        }));
        // ISR proposals of the led partitions go to the controller.
        let rx = self
            .alter_isr_rx
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(mut rx) = rx {
            let weak = Arc::downgrade(self);
            tasks.push(tokio::spawn(async move {
                while let Some(change) = rx.recv().await {
                    let Some(broker) = weak.upgrade() else { return };
                    tokio::spawn(async move { broker.alter_isr(change).await });
                }
            }));
        }
        // Leaders check their followers' lag (ISR shrink, proposal retry).
        let weak = Arc::downgrade(self);
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(ISR_CHECK_INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(broker) = weak.upgrade() else { return };
                let now = now_ms();
                for p in broker.led_partitions() {
                    p.on_tick(now);
                }
            }
        }));
        // Reconcile the replicas with every newly applied image.
        let weak = Arc::downgrade(self);
        let quorum = self.metadata.clone();
        tasks.push(tokio::spawn(async move {
            let mut seen = quorum.applied_index();
            loop {
                let now = quorum
                    .wait_applied_change(seen, Duration::from_secs(1))
                    .await;
                if now == seen {
                    continue;
                }
                seen = now;
                let Some(broker) = weak.upgrade() else { return };
                if let Err(e) = broker.reconcile() {
                    tracing::error!("applying metadata to partitions: {e}");
                }
            }
        }));
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
        tasks.push(task);
        self.background
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(tasks);
    }

    /// Controlled shutdown (`controlled.shutdown.enable`): ask the active
    /// controller to fence this broker now, which moves every leadership
    /// it holds to another ISR member, and wait until this node has
    /// applied that (its led partitions are deposed: waiting acks=all
    /// produces answer NOT_LEADER_OR_FOLLOWER, which clients retry on the
    /// new leader). Bounded: without a controller the broker stops anyway.
    async fn controlled_shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
        let broker_epoch = self.broker_epoch();
        if !self.config.controlled_shutdown_enable || broker_epoch < 0 {
            return;
        }
        let led = self.led_partitions().len();
        let op = ControllerOp::ControlledShutdown {
            broker_id: self.config.node_id,
            broker_epoch,
        };
        let started = tokio::time::Instant::now();
        match tokio::time::timeout(CONTROLLED_SHUTDOWN_TIMEOUT, self.commit_op(op)).await {
            Ok(Ok(_)) => tracing::info!(
                partitions_led = led,
                still_led = self.led_partitions().len(),
                took_ms = started.elapsed().as_millis() as u64,
                "controlled shutdown: leaderships moved"
            ),
            Ok(Err(e)) => tracing::warn!("controlled shutdown refused ({e}); stopping anyway"),
            Err(_) => tracing::warn!(
                "controlled shutdown: no answer from the controller in {CONTROLLED_SHUTDOWN_TIMEOUT:?}; \
                 stopping anyway"
            ),
        }
    }

    /// Clean shutdown: controlled shutdown first (leaderships move while
    /// this broker still serves), then stop background work, flush every
    /// log, write the checkpoints (high watermarks included).
    pub async fn shutdown(&self) -> anyhow::Result<()> {
        self.controlled_shutdown().await;
        self.groups.shutdown().await;
        for task in self
            .background
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            task.abort();
        }
        self.fetchers.shutdown();
        let hwms = self.high_watermarks();
        for p in self
            .partitions
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .drain()
        {
            p.1.depose();
        }
        for f in self
            .followers
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .drain()
        {
            f.1.stop();
        }
        self.logs.shutdown(&hwms)?;
        write_clean_shutdown_marker(&self.config, self.broker_epoch());
        self.metadata.shutdown().await;
        tracing::info!("shut down cleanly");
        Ok(())
    }
}
