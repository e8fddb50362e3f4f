//! The client's view of the cluster, built from Metadata responses.
//!
//! Pure data: [`ClusterMetadata::apply`] folds a response in, and the
//! lookups answer "who leads this partition" for routing. The
//! [`crate::Client`] decides when to refresh it.

use crate::error::KafkaError;
use kafka_protocol::messages::MetadataResponse;
use std::collections::BTreeMap;
use uuid::Uuid;
use weir_protocol::{BrokerId, TopicPartition};

/// One broker's advertised address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerInfo {
    /// `node.id`.
    pub id: BrokerId,
    /// Advertised host.
    pub host: String,
    /// Advertised port.
    pub port: i32,
    /// `broker.rack`, if set.
    pub rack: Option<String>,
}

impl BrokerInfo {
    /// `host:port`, ready for `TcpStream::connect`.
    pub fn addr(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// One partition's leadership and replicas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionInfo {
    /// Partition index.
    pub partition: i32,
    /// The leader, if there is one.
    pub leader: Option<BrokerId>,
    /// The leader epoch, -1 if unknown.
    pub leader_epoch: i32,
    /// Assigned replicas, preferred leader first.
    pub replicas: Vec<BrokerId>,
    /// In-sync replicas.
    pub isr: Vec<BrokerId>,
    /// Replicas that are offline.
    pub offline_replicas: Vec<BrokerId>,
    /// A partition-level error (e.g. LEADER_NOT_AVAILABLE).
    pub error: Option<KafkaError>,
}

/// One topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicInfo {
    /// Topic name.
    pub name: String,
    /// Topic id (nil if the broker predates topic ids).
    pub topic_id: Uuid,
    /// Whether the topic is internal (`__consumer_offsets`).
    pub is_internal: bool,
    /// Partitions, sorted by index.
    pub partitions: Vec<PartitionInfo>,
}

/// Brokers, controller and topics as last seen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterMetadata {
    /// Cluster id, if the broker sent one.
    pub cluster_id: Option<String>,
    /// The controller (or, under KRaft, a broker chosen to act for it).
    pub controller: Option<BrokerId>,
    /// Live brokers by id.
    pub brokers: BTreeMap<BrokerId, BrokerInfo>,
    /// Known topics by name.
    pub topics: BTreeMap<String, TopicInfo>,
}

/// What a Metadata response said about the topics asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicErrors {
    /// Topics answered with an error, with the error.
    pub errors: Vec<(String, KafkaError)>,
}

impl ClusterMetadata {
    /// Fold a Metadata response in. Brokers are replaced (the response lists
    /// all live ones); topics in the response replace our entries, and topics
    /// the broker says do not exist are forgotten. With `full` (a request for
    /// all topics), topics missing from the response are forgotten too.
    pub fn apply(&mut self, resp: &MetadataResponse, full: bool) -> TopicErrors {
        self.apply_brokers(resp);
        if full {
            self.topics.clear();
        }
        let mut errors = TopicErrors::default();
        for t in &resp.topics {
            let Some(name) = t.name.as_ref().map(|n| n.0.to_string()) else {
                continue;
            };
            if let Some(e) = KafkaError::from_code(t.error_code, None) {
                if e.error != kafka_protocol::error::ResponseError::LeaderNotAvailable {
                    self.topics.remove(&name);
                    errors.errors.push((name, e));
                    continue;
                }
                errors.errors.push((name.clone(), e));
            }
            self.topics.insert(name.clone(), topic_info(name, t));
        }
        errors
    }

    fn apply_brokers(&mut self, resp: &MetadataResponse) {
        self.cluster_id = resp.cluster_id.as_ref().map(|c| c.to_string());
        self.controller = Some(BrokerId(resp.controller_id.0)).filter(|c| c.0 >= 0);
        self.brokers = resp
            .brokers
            .iter()
            .map(|b| {
                let info = BrokerInfo {
                    id: BrokerId(b.node_id.0),
                    host: b.host.to_string(),
                    port: b.port,
                    rack: b.rack.as_ref().map(|r| r.to_string()),
                };
                (info.id, info)
            })
            .collect();
    }

    /// The topic, if known.
    pub fn topic(&self, name: &str) -> Option<&TopicInfo> {
        self.topics.get(name)
    }

    /// The name of the topic with this id (Fetch v13+ answers by id).
    pub fn topic_name(&self, id: Uuid) -> Option<&str> {
        self.topics
            .values()
            .find(|t| t.topic_id == id && !id.is_nil())
            .map(|t| t.name.as_str())
    }

    /// The partition, if known.
    pub fn partition(&self, tp: &TopicPartition) -> Option<&PartitionInfo> {
        let topic = self.topics.get(&tp.topic)?;
        topic
            .partitions
            .iter()
            .find(|p| p.partition == tp.partition)
    }

    /// The live leader of a partition, with its address.
    pub fn leader(&self, tp: &TopicPartition) -> Option<&BrokerInfo> {
        let leader = self.partition(tp)?.leader?;
        self.brokers.get(&leader)
    }
}

fn topic_info(
    name: String,
    t: &kafka_protocol::messages::metadata_response::MetadataResponseTopic,
) -> TopicInfo {
    let mut partitions: Vec<PartitionInfo> = t
        .partitions
        .iter()
        .map(|p| PartitionInfo {
            partition: p.partition_index,
            leader: Some(BrokerId(p.leader_id.0)).filter(|l| l.0 >= 0),
            leader_epoch: p.leader_epoch,
            replicas: p.replica_nodes.iter().map(|b| BrokerId(b.0)).collect(),
            isr: p.isr_nodes.iter().map(|b| BrokerId(b.0)).collect(),
            offline_replicas: p.offline_replicas.iter().map(|b| BrokerId(b.0)).collect(),
            error: KafkaError::from_code(p.error_code, None),
        })
        .collect();
    partitions.sort_by_key(|p| p.partition);
    TopicInfo {
        name,
        topic_id: t.topic_id,
        is_internal: t.is_internal,
        partitions,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::metadata_response::{
        MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
    };
    use kafka_protocol::messages::TopicName;
    use kafka_protocol::protocol::StrBytes;

    fn response(topic_error: i16, leader: i32) -> MetadataResponse {
        let partition = MetadataResponsePartition::default()
            .with_partition_index(0)
            .with_leader_id(leader.into())
            .with_replica_nodes(vec![1.into(), 2.into()])
            .with_isr_nodes(vec![1.into()]);
        let topic = MetadataResponseTopic::default()
            .with_name(Some(TopicName(StrBytes::from_static_str("t"))))
            .with_error_code(topic_error)
            .with_partitions(vec![partition]);
        MetadataResponse::default()
            .with_brokers(vec![MetadataResponseBroker::default()
                .with_node_id(1.into())
                .with_host(StrBytes::from_static_str("127.0.0.1"))
                .with_port(9092)])
            .with_controller_id(1.into())
            .with_topics(vec![topic])
    }

    #[test]
    fn routes_to_the_leader() {
        let mut md = ClusterMetadata::default();
        let errors = md.apply(&response(0, 1), false);
        assert!(errors.errors.is_empty());
        let tp = TopicPartition::new("t", 0);
        assert_eq!(md.leader(&tp).unwrap().addr(), "127.0.0.1:9092");
        assert_eq!(
            md.partition(&tp).unwrap().replicas,
            vec![BrokerId(1), BrokerId(2)]
        );
        assert_eq!(md.controller, Some(BrokerId(1)));
    }

    #[test]
    fn leader_unknown_or_not_live_gives_no_route() {
        let mut md = ClusterMetadata::default();
        md.apply(&response(0, -1), false);
        assert!(md.leader(&TopicPartition::new("t", 0)).is_none());
        md.apply(&response(0, 7), false);
        assert!(md.leader(&TopicPartition::new("t", 0)).is_none());
    }

    #[test]
    fn unknown_topic_is_forgotten() {
        let mut md = ClusterMetadata::default();
        md.apply(&response(0, 1), false);
        let errors = md.apply(&response(3, 1), false);
        assert_eq!(errors.errors[0].1.name(), "UNKNOWN_TOPIC_OR_PARTITION");
        assert!(md.topic("t").is_none());
    }
}
