//! The admin client: topics, partitions, configs and the cluster, as Kafka's
//! `Admin` offers them to `kafka-topics.sh` and `kafka-configs.sh`.
//!
//! Topic and config changes go to the controller the Metadata response
//! names (under KRaft any broker forwards them); reads go anywhere.

use crate::client::{topic_name, Client};
use crate::error::{check, ClientError, KafkaError, Result};
use crate::metadata::{BrokerInfo, TopicInfo};
use kafka_protocol::messages::create_partitions_request::{
    CreatePartitionsAssignment, CreatePartitionsTopic,
};
use kafka_protocol::messages::create_topics_request::{
    CreatableReplicaAssignment, CreatableTopic, CreatableTopicConfig,
};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_quorum_request;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::{
    CreatePartitionsRequest, CreateTopicsRequest, DeleteTopicsRequest, DescribeClusterRequest,
    DescribeConfigsRequest, DescribeLogDirsRequest, DescribeLogDirsResponse, DescribeQuorumRequest,
    DescribeQuorumResponse, DescribeTopicPartitionsRequest, ElectLeadersRequest,
    ElectLeadersResponse, IncrementalAlterConfigsRequest,
};
use kafka_protocol::protocol::StrBytes;
use std::collections::BTreeMap;
use uuid::Uuid;
use weir_protocol::{BrokerId, TopicPartition};

/// A topic to create.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewTopic {
    /// Name.
    pub name: String,
    /// Partitions; `None` for the broker's `num.partitions`.
    pub num_partitions: Option<i32>,
    /// Replication factor; `None` for `default.replication.factor`.
    pub replication_factor: Option<i16>,
    /// Explicit replicas per partition (`--replica-assignment`); when set,
    /// partitions and replication factor come from it.
    pub replica_assignment: BTreeMap<i32, Vec<i32>>,
    /// Topic config overrides.
    pub configs: Vec<(String, String)>,
}

/// What the broker created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedTopic {
    /// Name.
    pub name: String,
    /// Its id (nil before CreateTopics v7).
    pub topic_id: Uuid,
    /// Partitions (-1 if the version does not say).
    pub num_partitions: i32,
    /// Replication factor (-1 if the version does not say).
    pub replication_factor: i16,
}

/// A resource whose configs can be described or altered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigResource {
    /// A topic.
    Topic(String),
    /// A broker by id.
    Broker(i32),
}

impl ConfigResource {
    fn wire(&self) -> (i8, String) {
        match self {
            ConfigResource::Topic(t) => (2, t.clone()),
            ConfigResource::Broker(b) => (4, b.to_string()),
        }
    }
}

/// Where a config value comes from (Kafka's `ConfigSource` codes).
pub const CONFIG_SOURCE_DEFAULT: i8 = 5;

/// One config of a resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    /// Name, e.g. `retention.ms`.
    pub name: String,
    /// Value (`None` if sensitive or unset).
    pub value: Option<String>,
    /// Where it comes from: 1 topic override, 4 static broker config,
    /// 5 default, ...
    pub source: i8,
    /// Whether it cannot be altered.
    pub read_only: bool,
    /// Whether the value is hidden.
    pub is_sensitive: bool,
}

impl ConfigEntry {
    /// Kafka's `ConfigEntry.isDefault()`: the value is the built-in default.
    pub fn is_default(&self) -> bool {
        self.source == CONFIG_SOURCE_DEFAULT
    }
}

/// An incremental config change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlterConfigOp {
    /// Set `name` to `value`.
    Set(String, String),
    /// Remove the override of `name`.
    Delete(String),
}

/// The cluster as DescribeCluster reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterDescription {
    /// Cluster id.
    pub cluster_id: String,
    /// Active controller, if known.
    pub controller: Option<BrokerId>,
    /// Live brokers.
    pub brokers: Vec<BrokerInfo>,
}

/// The metadata log's topic, the one partition DescribeQuorum describes.
pub const CLUSTER_METADATA_TOPIC: &str = "__cluster_metadata";

/// One voter or observer of the metadata quorum (Kafka's
/// `QuorumInfo.ReplicaState`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumReplica {
    /// Node id.
    pub replica_id: i32,
    /// Its metadata directory id (nil when the broker does not say).
    pub directory_id: Uuid,
    /// Its log end offset as the leader knows it (-1: unknown).
    pub log_end_offset: i64,
    /// When it last fetched, epoch ms (`None` when the broker sent -1).
    pub last_fetch_timestamp: Option<i64>,
    /// When it was last caught up, epoch ms (`None` when the broker sent -1).
    pub last_caught_up_timestamp: Option<i64>,
}

/// One endpoint of a voter (Kafka's `RaftVoterEndpoint`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumEndpoint {
    /// Listener name, e.g. `CONTROLLER`.
    pub name: String,
    /// Host.
    pub host: String,
    /// Port.
    pub port: u16,
}

impl std::fmt::Display for QuorumEndpoint {
    /// `NAME://host:port`, IPv6 hosts in brackets, as Kafka prints it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "{}://[{}]:{}", self.name, self.host, self.port)
        } else {
            write!(f, "{}://{}:{}", self.name, self.host, self.port)
        }
    }
}

/// The metadata quorum as DescribeQuorum reports it (Kafka's `QuorumInfo`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumDescription {
    /// The leader's node id (-1: none).
    pub leader_id: i32,
    /// The leader's epoch.
    pub leader_epoch: i32,
    /// The metadata log's high watermark (-1: unknown).
    pub high_watermark: i64,
    /// Voters, in the broker's order.
    pub voters: Vec<QuorumReplica>,
    /// Observers, in the broker's order.
    pub observers: Vec<QuorumReplica>,
    /// Voters' endpoints by node id (DescribeQuorum v2+; empty before).
    pub nodes: BTreeMap<i32, Vec<QuorumEndpoint>>,
}

/// One partition's log in a log dir (Kafka's `ReplicaInfo`).
/// One partition's eligible leader replicas (KIP-966), from
/// DescribeTopicPartitions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionElr {
    /// The topic.
    pub topic: String,
    /// The partition index.
    pub partition: i32,
    /// Eligible leader replicas (empty when ELR is off or none).
    pub elr: Vec<BrokerId>,
    /// The last known ELR (replicas that left the ELR unclean).
    pub last_known_elr: Vec<BrokerId>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaLogInfo {
    /// The partition.
    pub tp: TopicPartition,
    /// Bytes of its log segments.
    pub size_bytes: i64,
    /// How far its log end is behind the high watermark (a future
    /// replica: behind the current one); -1 when the broker cannot say.
    pub offset_lag: i64,
    /// Whether this is a future replica being moved into this dir (KIP-113).
    pub is_future: bool,
}

/// One log dir of a broker (Kafka's `LogDirDescription`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogDirDescription {
    /// The dir's path on the broker.
    pub log_dir: String,
    /// Why the dir cannot be described (e.g. KAFKA_STORAGE_ERROR: offline).
    pub error: Option<KafkaError>,
    /// Its partitions, in the broker's order.
    pub replicas: Vec<ReplicaLogInfo>,
    /// The volume's size in bytes (DescribeLogDirs v4+, KIP-827); `None`
    /// when unknown.
    pub total_bytes: Option<i64>,
    /// The volume's usable bytes; `None` when unknown.
    pub usable_bytes: Option<i64>,
}

/// What one broker said about its log dirs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerLogDirs {
    /// The broker.
    pub broker_id: BrokerId,
    /// Its log dirs, in the broker's order.
    pub log_dirs: Vec<LogDirDescription>,
}

/// ElectLeaders' election type (KIP-460).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElectionType {
    /// The first assigned replica, if it is in the ISR.
    Preferred,
    /// Any live replica when no ISR member can lead.
    Unclean,
}

impl ElectionType {
    fn wire(self) -> i8 {
        match self {
            ElectionType::Preferred => 0,
            ElectionType::Unclean => 1,
        }
    }
}

impl std::fmt::Display for ElectionType {
    /// Kafka's enum names, as kafka-leader-election.sh prints them.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ElectionType::Preferred => "PREFERRED",
            ElectionType::Unclean => "UNCLEAN",
        })
    }
}

/// Admin operations on a cluster.
#[derive(Debug, Clone)]
pub struct Admin {
    client: Client,
    timeout_ms: i32,
}

impl Admin {
    /// An admin client on `client`.
    pub fn new(client: Client) -> Admin {
        let timeout_ms =
            i32::try_from(client.config().connection.request_timeout_ms).unwrap_or(i32::MAX);
        Admin { client, timeout_ms }
    }

    /// The underlying client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Create one topic.
    pub async fn create_topic(
        &self,
        topic: &NewTopic,
        validate_only: bool,
    ) -> Result<CreatedTopic> {
        let request = CreateTopicsRequest::default()
            .with_topics(vec![creatable(topic)])
            .with_timeout_ms(self.timeout_ms)
            .with_validate_only(validate_only);
        let resp = self
            .client
            .controller_connection()
            .await?
            .request(&request)
            .await?;
        let result = resp
            .topics
            .iter()
            .find(|t| t.name.0.as_str() == topic.name)
            .ok_or_else(|| missing("CreateTopics", &topic.name))?;
        check(result.error_code, result.error_message.as_deref())?;
        Ok(CreatedTopic {
            name: topic.name.clone(),
            topic_id: result.topic_id,
            num_partitions: result.num_partitions,
            replication_factor: result.replication_factor,
        })
    }

    /// Delete topics by name.
    pub async fn delete_topics(&self, names: &[String]) -> Result<()> {
        let request = DeleteTopicsRequest::default()
            .with_topic_names(names.iter().map(|n| topic_name(n)).collect())
            .with_topics(
                names
                    .iter()
                    .map(|n| DeleteTopicState::default().with_name(Some(topic_name(n))))
                    .collect(),
            )
            .with_timeout_ms(self.timeout_ms);
        let resp = self
            .client
            .controller_connection()
            .await?
            .request(&request)
            .await?;
        for name in names {
            let r = resp
                .responses
                .iter()
                .find(|r| r.name.as_ref().is_some_and(|n| n.0.as_str() == name))
                .ok_or_else(|| missing("DeleteTopics", name))?;
            check(r.error_code, r.error_message.as_deref())?;
        }
        Ok(())
    }

    /// Every topic name, sorted; internal ones only if asked.
    pub async fn list_topics(&self, include_internal: bool) -> Result<Vec<String>> {
        self.client.refresh_metadata(None, false).await?;
        let md = self.client.metadata();
        Ok(md
            .topics
            .values()
            .filter(|t| include_internal || !t.is_internal)
            .map(|t| t.name.clone())
            .collect())
    }

    /// Partitions, leaders, replicas and ISR of `names` (Metadata).
    pub async fn describe_topics(&self, names: &[String]) -> Result<Vec<TopicInfo>> {
        let errors = self.client.refresh_metadata(Some(names), false).await?;
        if let Some((_, e)) = errors.errors.into_iter().next() {
            return Err(e.into());
        }
        let md = self.client.metadata();
        names
            .iter()
            .map(|n| {
                md.topic(n)
                    .cloned()
                    .ok_or_else(|| crate::client::unknown_topic(n))
            })
            .collect()
    }

    /// Grow `topic` to `total` partitions, optionally placing the new ones.
    pub async fn create_partitions(
        &self,
        topic: &str,
        total: i32,
        assignment: Option<Vec<Vec<i32>>>,
    ) -> Result<()> {
        let assignments = assignment.map(|a| {
            a.into_iter()
                .map(|ids| {
                    CreatePartitionsAssignment::default()
                        .with_broker_ids(ids.into_iter().map(Into::into).collect())
                })
                .collect()
        });
        let request = CreatePartitionsRequest::default()
            .with_topics(vec![CreatePartitionsTopic::default()
                .with_name(topic_name(topic))
                .with_count(total)
                .with_assignments(assignments)])
            .with_timeout_ms(self.timeout_ms);
        let resp = self
            .client
            .controller_connection()
            .await?
            .request(&request)
            .await?;
        let r = resp
            .results
            .iter()
            .find(|r| r.name.0.as_str() == topic)
            .ok_or_else(|| missing("CreatePartitions", topic))?;
        check(r.error_code, r.error_message.as_deref())
    }

    /// Every config of `resource`, with sources.
    pub async fn describe_configs(&self, resource: &ConfigResource) -> Result<Vec<ConfigEntry>> {
        let (kind, name) = resource.wire();
        let request = DescribeConfigsRequest::default().with_resources(vec![
            DescribeConfigsResource::default()
                .with_resource_type(kind)
                .with_resource_name(StrBytes::from_string(name.clone()))
                .with_configuration_keys(None),
        ]);
        let conn = match resource {
            ConfigResource::Broker(id) => self.client.broker_connection(BrokerId(*id)).await?,
            ConfigResource::Topic(_) => self.client.any_connection().await?,
        };
        let resp = conn.request(&request).await?;
        let r = resp
            .results
            .iter()
            .find(|r| r.resource_type == kind && r.resource_name.as_str() == name)
            .ok_or_else(|| missing("DescribeConfigs", &name))?;
        check(r.error_code, r.error_message.as_deref())?;
        Ok(r.configs
            .iter()
            .map(|c| ConfigEntry {
                name: c.name.to_string(),
                value: c.value.as_ref().map(|v| v.to_string()),
                source: c.config_source,
                read_only: c.read_only,
                is_sensitive: c.is_sensitive,
            })
            .collect())
    }

    /// Apply `ops` to `resource`'s configs (IncrementalAlterConfigs).
    pub async fn incremental_alter_configs(
        &self,
        resource: &ConfigResource,
        ops: &[AlterConfigOp],
    ) -> Result<()> {
        let (kind, name) = resource.wire();
        let configs = ops.iter().map(alterable).collect();
        let request = IncrementalAlterConfigsRequest::default().with_resources(vec![
            AlterConfigsResource::default()
                .with_resource_type(kind)
                .with_resource_name(StrBytes::from_string(name.clone()))
                .with_configs(configs),
        ]);
        let resp = self
            .client
            .controller_connection()
            .await?
            .request(&request)
            .await?;
        let r = resp
            .responses
            .iter()
            .find(|r| r.resource_type == kind && r.resource_name.as_str() == name)
            .ok_or_else(|| missing("IncrementalAlterConfigs", &name))?;
        check(r.error_code, r.error_message.as_deref())
    }

    /// Cluster id, controller and live brokers (DescribeCluster).
    pub async fn describe_cluster(&self) -> Result<ClusterDescription> {
        let resp = self
            .client
            .any_connection()
            .await?
            .request(&DescribeClusterRequest::default())
            .await?;
        check(resp.error_code, resp.error_message.as_deref())?;
        Ok(ClusterDescription {
            cluster_id: resp.cluster_id.to_string(),
            controller: Some(BrokerId(resp.controller_id.0)).filter(|c| c.0 >= 0),
            brokers: resp
                .brokers
                .iter()
                .map(|b| BrokerInfo {
                    id: BrokerId(b.broker_id.0),
                    host: b.host.to_string(),
                    port: b.port,
                    rack: b.rack.as_ref().map(|r| r.to_string()),
                })
                .collect(),
        })
    }
    /// The metadata quorum: leader, epoch, high watermark, voters and
    /// observers (DescribeQuorum, Kafka's `describeMetadataQuorum`). Any
    /// broker answers; it asks the active controller.
    pub async fn describe_quorum(&self) -> Result<QuorumDescription> {
        let request = DescribeQuorumRequest::default().with_topics(vec![
            describe_quorum_request::TopicData::default()
                .with_topic_name(topic_name(CLUSTER_METADATA_TOPIC))
                .with_partitions(vec![
                    describe_quorum_request::PartitionData::default().with_partition_index(0)
                ]),
        ]);
        let resp = self
            .client
            .any_connection()
            .await?
            .request(&request)
            .await?;
        quorum_description(&resp)
    }

    /// Every log dir of each of `broker_ids` with its partitions' sizes and
    /// lags (DescribeLogDirs to each broker, all topics; Kafka's
    /// `describeLogDirs`). Brokers are asked one after another; the first
    /// that fails fails the call, as `allDescriptions()` does.
    pub async fn describe_log_dirs(&self, broker_ids: &[BrokerId]) -> Result<Vec<BrokerLogDirs>> {
        let request = DescribeLogDirsRequest::default().with_topics(None);
        let mut out = Vec::with_capacity(broker_ids.len());
        for &broker_id in broker_ids {
            let conn = self.client.broker_connection(broker_id).await?;
            let resp = conn.request(&request).await?;
            out.push(broker_log_dirs(broker_id, &resp)?);
        }
        Ok(out)
    }
}

impl Admin {
    /// Each partition's ELR and last known ELR of the topics `names`
    /// (DescribeTopicPartitions v0 to any broker, Kafka 4.0's
    /// `describeTopics` path), following `next_cursor` until the answer is
    /// complete. Topics that do not exist fail the call with their error.
    /// A broker without key 75 fails with `ClientError::UnsupportedVersion`.
    pub async fn describe_topic_partitions(&self, names: &[String]) -> Result<Vec<PartitionElr>> {
        use kafka_protocol::messages::describe_topic_partitions_request::{Cursor, TopicRequest};
        let topics: Vec<TopicRequest> = names
            .iter()
            .map(|n| TopicRequest::default().with_name(topic_name(n)))
            .collect();
        let conn = self.client.any_connection().await?;
        let mut cursor: Option<Cursor> = None;
        let mut out = Vec::new();
        loop {
            let request = DescribeTopicPartitionsRequest::default()
                .with_topics(topics.clone())
                .with_response_partition_limit(2000)
                .with_cursor(cursor.take());
            let resp = conn.request(&request).await?;
            for t in &resp.topics {
                check(t.error_code, None)?;
                let topic = t.name.as_ref().map(|n| n.0.to_string()).unwrap_or_default();
                for p in &t.partitions {
                    let ids = |v: &Option<Vec<kafka_protocol::messages::BrokerId>>| {
                        v.iter().flatten().map(|b| BrokerId(b.0)).collect()
                    };
                    out.push(PartitionElr {
                        topic: topic.clone(),
                        partition: p.partition_index,
                        elr: ids(&p.eligible_leader_replicas),
                        last_known_elr: ids(&p.last_known_elr),
                    });
                }
            }
            match &resp.next_cursor {
                Some(next) => {
                    cursor = Some(
                        Cursor::default()
                            .with_topic_name(next.topic_name.clone())
                            .with_partition_index(next.partition_index),
                    )
                }
                None => return Ok(out),
            }
        }
    }

    /// Elect leaders of `partitions` (`None`: every partition; the answer
    /// then leaves out those whose leader is already the right one), as
    /// Kafka's `electLeaders`. One result per partition: `None` when
    /// elected, else its error (ELECTION_NOT_NEEDED when the right replica
    /// already leads). A top-level error fails the whole call.
    pub async fn elect_leaders(
        &self,
        election_type: ElectionType,
        partitions: Option<&[TopicPartition]>,
    ) -> Result<Vec<(TopicPartition, Option<KafkaError>)>> {
        let topic_partitions = partitions.map(|asked| {
            let mut by_topic: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
            for tp in asked {
                by_topic.entry(&tp.topic).or_default().push(tp.partition);
            }
            by_topic
                .into_iter()
                .map(|(topic, partitions)| {
                    kafka_protocol::messages::elect_leaders_request::TopicPartitions::default()
                        .with_topic(topic_name(topic))
                        .with_partitions(partitions)
                })
                .collect()
        });
        let request = ElectLeadersRequest::default()
            .with_election_type(election_type.wire())
            .with_topic_partitions(topic_partitions)
            .with_timeout_ms(self.timeout_ms);
        let resp = self
            .client
            .controller_connection()
            .await?
            .request(&request)
            .await?;
        election_results(&resp)
    }
}

/// Kafka's `ElectLeadersResult` reading of the answer: a top-level error
/// fails everything, else one entry per partition in the answer's order.
fn election_results(
    resp: &ElectLeadersResponse,
) -> Result<Vec<(TopicPartition, Option<KafkaError>)>> {
    check(resp.error_code, None)?;
    Ok(resp
        .replica_election_results
        .iter()
        .flat_map(|t| {
            t.partition_result.iter().map(|p| {
                (
                    TopicPartition::new(t.topic.0.as_str(), p.partition_id),
                    KafkaError::from_code(p.error_code, p.error_message.as_deref()),
                )
            })
        })
        .collect())
}

/// Kafka's `KafkaAdminClient.describeLogDirs` reading of one broker's
/// answer: a top-level error (v3+) fails the broker; a dir's error is
/// kept with it; -1 volume sizes mean unknown.
fn broker_log_dirs(broker_id: BrokerId, resp: &DescribeLogDirsResponse) -> Result<BrokerLogDirs> {
    check(resp.error_code, None)?;
    let known = |bytes: i64| Some(bytes).filter(|&b| b >= 0);
    let log_dirs = resp
        .results
        .iter()
        .map(|r| LogDirDescription {
            log_dir: r.log_dir.to_string(),
            error: KafkaError::from_code(r.error_code, None),
            replicas: r
                .topics
                .iter()
                .flat_map(|t| {
                    t.partitions.iter().map(|p| ReplicaLogInfo {
                        tp: TopicPartition::new(t.name.0.as_str(), p.partition_index),
                        size_bytes: p.partition_size,
                        offset_lag: p.offset_lag,
                        is_future: p.is_future_key,
                    })
                })
                .collect(),
            total_bytes: known(r.total_bytes),
            usable_bytes: known(r.usable_bytes),
        })
        .collect();
    Ok(BrokerLogDirs {
        broker_id,
        log_dirs,
    })
}

/// Kafka's `describeMetadataQuorum` response checks: a top-level error, then
/// exactly `__cluster_metadata` partition 0, then its error.
fn quorum_description(resp: &DescribeQuorumResponse) -> Result<QuorumDescription> {
    check(resp.error_code, resp.error_message.as_deref())?;
    let unknown =
        |m: String| kafka_error(kafka_protocol::error::ResponseError::UnknownServerError, m);
    let [topic] = resp.topics.as_slice() else {
        return Err(unknown(format!(
            "DescribeMetadataQuorum received {} topics when 1 was expected",
            resp.topics.len()
        )));
    };
    if topic.topic_name.0.as_str() != CLUSTER_METADATA_TOPIC {
        return Err(unknown(format!(
            "DescribeMetadataQuorum received a topic with name {} when {CLUSTER_METADATA_TOPIC} was expected",
            topic.topic_name.0.as_str()
        )));
    }
    let [partition] = topic.partitions.as_slice() else {
        return Err(unknown(format!(
            "DescribeMetadataQuorum received a topic {} with {} partitions when 1 was expected",
            topic.topic_name.0.as_str(),
            topic.partitions.len()
        )));
    };
    if partition.partition_index != 0 {
        return Err(unknown(format!(
            "DescribeMetadataQuorum received a single partition with index {} when 0 was expected",
            partition.partition_index
        )));
    }
    check(partition.error_code, partition.error_message.as_deref())?;
    let replica =
        |r: &kafka_protocol::messages::describe_quorum_response::ReplicaState| QuorumReplica {
            replica_id: r.replica_id.0,
            directory_id: r.replica_directory_id,
            log_end_offset: r.log_end_offset,
            last_fetch_timestamp: Some(r.last_fetch_timestamp).filter(|&t| t != -1),
            last_caught_up_timestamp: Some(r.last_caught_up_timestamp).filter(|&t| t != -1),
        };
    Ok(QuorumDescription {
        leader_id: partition.leader_id.0,
        leader_epoch: partition.leader_epoch,
        high_watermark: partition.high_watermark,
        voters: partition.current_voters.iter().map(replica).collect(),
        observers: partition.observers.iter().map(replica).collect(),
        nodes: resp
            .nodes
            .iter()
            .map(|n| {
                let endpoints = n
                    .listeners
                    .iter()
                    .map(|l| QuorumEndpoint {
                        name: l.name.to_string(),
                        host: l.host.to_string(),
                        port: l.port,
                    })
                    .collect();
                (n.node_id.0, endpoints)
            })
            .collect(),
    })
}

fn creatable(topic: &NewTopic) -> CreatableTopic {
    let assignments: Vec<CreatableReplicaAssignment> = topic
        .replica_assignment
        .iter()
        .map(|(p, ids)| {
            CreatableReplicaAssignment::default()
                .with_partition_index(*p)
                .with_broker_ids(ids.iter().map(|&i| i.into()).collect())
        })
        .collect();
    let explicit = !assignments.is_empty();
    let configs = topic
        .configs
        .iter()
        .map(|(k, v)| {
            CreatableTopicConfig::default()
                .with_name(StrBytes::from_string(k.clone()))
                .with_value(Some(StrBytes::from_string(v.clone())))
        })
        .collect();
    // With an explicit assignment, Kafka sends -1 for both counts.
    let partitions = if explicit {
        -1
    } else {
        topic.num_partitions.unwrap_or(-1)
    };
    let factor = if explicit {
        -1
    } else {
        topic.replication_factor.unwrap_or(-1)
    };
    CreatableTopic::default()
        .with_name(topic_name(&topic.name))
        .with_num_partitions(partitions)
        .with_replication_factor(factor)
        .with_assignments(assignments)
        .with_configs(configs)
}

fn alterable(op: &AlterConfigOp) -> AlterableConfig {
    let (name, operation, value) = match op {
        AlterConfigOp::Set(k, v) => (k, 0, Some(StrBytes::from_string(v.clone()))),
        AlterConfigOp::Delete(k) => (k, 1, None),
    };
    AlterableConfig::default()
        .with_name(StrBytes::from_string(name.clone()))
        .with_config_operation(operation)
        .with_value(value)
}

/// A response that leaves out what was asked is malformed.
fn missing(api: &str, name: &str) -> ClientError {
    ClientError::Protocol(format!("{api} response has no entry for {name}"))
}

/// Kafka's `Uuid.toString()`: URL-safe base64 of the 16 bytes, no padding
/// (what `kafka-topics.sh --describe` prints as TopicId).
pub fn kafka_uuid_string(id: Uuid) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes = id.as_bytes();
    let mut out = String::with_capacity(22);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            let index = (n >> (18 - 6 * i)) & 0x3f;
            out.push(char::from(ALPHABET[index as usize]));
        }
    }
    out
}

/// A typed error for an admin precondition, e.g. a topic that must exist.
pub fn kafka_error(
    error: kafka_protocol::error::ResponseError,
    message: impl Into<String>,
) -> ClientError {
    ClientError::Kafka(KafkaError {
        error,
        message: Some(message.into()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_prints_like_kafka() {
        // Kafka: new Uuid(0L, 1L).toString() is "AAAAAAAAAAAAAAAAAAAAAQ".
        let id = Uuid::from_u64_pair(0, 1);
        assert_eq!(kafka_uuid_string(id), "AAAAAAAAAAAAAAAAAAAAAQ");
        let id = Uuid::from_u64_pair(u64::MAX, u64::MAX);
        assert_eq!(kafka_uuid_string(id), "_____________________w");
    }

    #[test]
    fn election_results_keep_each_partitions_error_and_fail_on_a_top_level_one() {
        use kafka_protocol::messages::elect_leaders_response::{
            PartitionResult, ReplicaElectionResult,
        };
        let resp = ElectLeadersResponse::default().with_replica_election_results(vec![
            ReplicaElectionResult::default()
                .with_topic(topic_name("t"))
                .with_partition_result(vec![
                    PartitionResult::default().with_partition_id(0),
                    PartitionResult::default()
                        .with_partition_id(1)
                        .with_error_code(84),
                ]),
        ]);
        assert_eq!(
            election_results(&resp).unwrap(),
            vec![
                (TopicPartition::new("t", 0), None),
                (TopicPartition::new("t", 1), KafkaError::from_code(84, None)),
            ]
        );
        let failed = ElectLeadersResponse::default().with_error_code(42);
        assert!(election_results(&failed).is_err());
    }

    #[test]
    fn log_dirs_keep_dir_errors_and_unknown_sizes() {
        use kafka_protocol::messages::describe_log_dirs_response::{
            DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
        };
        let partition = |index, size| {
            DescribeLogDirsPartition::default()
                .with_partition_index(index)
                .with_partition_size(size)
                .with_offset_lag(index.into())
        };
        let resp = DescribeLogDirsResponse::default().with_results(vec![
            DescribeLogDirsResult::default()
                .with_log_dir(StrBytes::from_static_str("/a"))
                .with_topics(vec![DescribeLogDirsTopic::default()
                    .with_name(topic_name("t"))
                    .with_partitions(vec![partition(0, 10), partition(2, 30)])])
                .with_total_bytes(-1)
                .with_usable_bytes(-1),
            DescribeLogDirsResult::default()
                .with_log_dir(StrBytes::from_static_str("/b"))
                .with_error_code(56)
                .with_total_bytes(100)
                .with_usable_bytes(40),
        ]);
        let described = broker_log_dirs(BrokerId(3), &resp).unwrap();
        let replica = |p: i32, size, lag| ReplicaLogInfo {
            tp: TopicPartition::new("t", p),
            size_bytes: size,
            offset_lag: lag,
            is_future: false,
        };
        assert_eq!(
            described,
            BrokerLogDirs {
                broker_id: BrokerId(3),
                log_dirs: vec![
                    LogDirDescription {
                        log_dir: "/a".into(),
                        error: None,
                        replicas: vec![replica(0, 10, 0), replica(2, 30, 2)],
                        total_bytes: None,
                        usable_bytes: None,
                    },
                    LogDirDescription {
                        log_dir: "/b".into(),
                        error: KafkaError::from_code(56, None),
                        replicas: vec![],
                        total_bytes: Some(100),
                        usable_bytes: Some(40),
                    },
                ],
            }
        );
        let failed = DescribeLogDirsResponse::default().with_error_code(31);
        assert!(broker_log_dirs(BrokerId(3), &failed).is_err());
    }

    fn quorum_response(topic: &str, partition: i32, error: i16) -> DescribeQuorumResponse {
        use kafka_protocol::messages::describe_quorum_response::{
            Listener, Node, PartitionData, ReplicaState, TopicData,
        };
        use kafka_protocol::messages::BrokerId;
        let state = |id: i32, leo: i64, ts: i64| {
            ReplicaState::default()
                .with_replica_id(BrokerId(id))
                .with_log_end_offset(leo)
                .with_last_fetch_timestamp(ts)
                .with_last_caught_up_timestamp(ts)
        };
        DescribeQuorumResponse::default()
            .with_topics(vec![TopicData::default()
                .with_topic_name(topic_name(topic))
                .with_partitions(vec![PartitionData::default()
                    .with_partition_index(partition)
                    .with_error_code(error)
                    .with_leader_id(BrokerId(1))
                    .with_leader_epoch(3)
                    .with_high_watermark(42)
                    .with_current_voters(vec![state(1, 42, 1000), state(2, 40, -1)])
                    .with_observers(vec![state(4, -1, -1)])])])
            .with_nodes(vec![Node::default()
                .with_node_id(BrokerId(1))
                .with_listeners(vec![Listener::default()
                    .with_name(StrBytes::from_static_str("CONTROLLER"))
                    .with_host(StrBytes::from_static_str("::1"))
                    .with_port(9093)])])
    }

    #[test]
    fn quorum_description_reads_kafka_fields() {
        let q = quorum_description(&quorum_response("__cluster_metadata", 0, 0)).unwrap();
        assert_eq!((q.leader_id, q.leader_epoch, q.high_watermark), (1, 3, 42));
        assert_eq!(q.voters.len(), 2);
        assert_eq!(q.voters[0].last_fetch_timestamp, Some(1000));
        assert_eq!(q.voters[1].last_caught_up_timestamp, None);
        assert_eq!(q.voters[1].log_end_offset, 40);
        assert_eq!(q.observers[0].replica_id, 4);
        assert_eq!(q.nodes[&1][0].to_string(), "CONTROLLER://[::1]:9093");
    }

    #[test]
    fn quorum_description_refuses_what_kafka_refuses() {
        let e = quorum_description(&quorum_response("other", 0, 0)).unwrap_err();
        assert!(e.to_string().starts_with("UNKNOWN_SERVER_ERROR"), "{e}");
        let e = quorum_description(&quorum_response("__cluster_metadata", 1, 0)).unwrap_err();
        assert!(e.to_string().contains("index 1"), "{e}");
        let e = quorum_description(&quorum_response("__cluster_metadata", 0, 3)).unwrap_err();
        assert!(
            e.to_string().starts_with("UNKNOWN_TOPIC_OR_PARTITION"),
            "{e}"
        );
        let top = DescribeQuorumResponse::default().with_error_code(41);
        let e = quorum_description(&top).unwrap_err();
        assert!(e.to_string().starts_with("NOT_CONTROLLER"), "{e}");
    }

    #[test]
    fn explicit_assignment_sends_minus_one_counts() {
        let t = NewTopic {
            name: "t".into(),
            num_partitions: Some(3),
            replica_assignment: [(0, vec![1, 2]), (1, vec![2, 3])].into_iter().collect(),
            ..NewTopic::default()
        };
        let c = creatable(&t);
        assert_eq!((c.num_partitions, c.replication_factor), (-1, -1));
        assert_eq!(c.assignments.len(), 2);
        let plain = creatable(&NewTopic {
            name: "t".into(),
            num_partitions: Some(3),
            replication_factor: Some(1),
            configs: vec![("retention.ms".into(), "1000".into())],
            ..NewTopic::default()
        });
        assert_eq!((plain.num_partitions, plain.replication_factor), (3, 1));
        assert_eq!(plain.configs[0].value.as_deref(), Some("1000"));
    }
}
