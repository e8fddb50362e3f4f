//! Metadata (key 3): brokers, controller, topics with their partitions'
//! leader, leader epoch, replicas, ISR and offline replicas, answered from
//! this node's own metadata image.
//!
//! A null topic list (v1+) or an empty one at v0 asks for every topic.
//! Unknown topics are created when the request allows it (v4+ flag; always
//! before v4) and `auto.create.topics.enable` is on, with the broker's
//! `num.partitions` and `default.replication.factor`.

use super::Outcome;
use crate::broker::Broker;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use std::sync::Arc;
use uuid::Uuid;
use weir_core::metadata::{MetadataImage, NewTopic, TopicImage};

/// `topic_authorized_operations` when the client did not ask for them.
const AUTHORIZED_OPERATIONS_OMITTED: i32 = i32::MIN;

/// A topic the request names, by name or (v10+) by id.
enum Wanted {
    Name(String),
    Id(Uuid),
}

/// Handle a Metadata request.
pub async fn handle(broker: &Arc<Broker>, request: MetadataRequest, version: i16) -> Outcome {
    let wanted = wanted_topics(&request, version);
    let auto_create = (version < 4 || request.allow_auto_topic_creation)
        && broker.config().auto_create_topics_enable;
    let mut create_errors = Vec::new();
    if let Some(wanted) = &wanted {
        if auto_create {
            create_errors = create_missing(broker, wanted).await;
        }
    }
    let image = broker.image();
    let topics = match &wanted {
        None => image.topics().map(|t| topic_response(&image, t)).collect(),
        Some(wanted) => wanted
            .iter()
            .map(|w| lookup(&image, w, &create_errors))
            .collect(),
    };
    let response = MetadataResponse::default()
        .with_brokers(brokers(&image, broker))
        .with_cluster_id(Some(StrBytes::from_string(broker.cluster_id().to_string())))
        .with_controller_id(BrokerId(
            broker
                .active_controller()
                .unwrap_or(broker.config().node_id),
        ))
        .with_topics(topics)
        .with_cluster_authorized_operations(AUTHORIZED_OPERATIONS_OMITTED);
    Outcome::respond(response)
}

fn wanted_topics(request: &MetadataRequest, version: i16) -> Option<Vec<Wanted>> {
    let topics = request.topics.as_ref()?;
    if version == 0 && topics.is_empty() {
        return None;
    }
    Some(
        topics
            .iter()
            .map(|t| match &t.name {
                Some(name) => Wanted::Name(name.0.as_str().to_string()),
                None => Wanted::Id(t.topic_id),
            })
            .collect(),
    )
}

/// Create the named topics that do not exist; returns the ones that
/// failed with their error code (e.g. an invalid name).
async fn create_missing(broker: &Broker, wanted: &[Wanted]) -> Vec<(String, i16)> {
    let mut errors = Vec::new();
    for w in wanted {
        let Wanted::Name(name) = w else { continue };
        if broker.image().topic_by_name(name).is_some() {
            continue;
        }
        let topic = NewTopic {
            name: name.clone(),
            num_partitions: -1,
            replication_factor: -1,
            ..NewTopic::default()
        };
        match broker.create_topic(&topic, false).await {
            Ok(_) => tracing::info!(topic = %name, "auto-created topic"),
            Err(e) if broker.image().topic_by_name(name).is_some() => {
                tracing::debug!(topic = %name, "created concurrently: {e}")
            }
            Err(e) => errors.push((name.clone(), e.error_code())),
        }
    }
    errors
}

fn lookup(
    image: &MetadataImage,
    wanted: &Wanted,
    create_errors: &[(String, i16)],
) -> MetadataResponseTopic {
    let found = match wanted {
        Wanted::Name(name) => image.topic_by_name(name),
        Wanted::Id(id) => image.topic(id),
    };
    if let Some(topic) = found {
        return topic_response(image, topic);
    }
    let (name, id, code) = match wanted {
        Wanted::Name(name) => {
            let code = create_errors
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, c)| *c)
                .unwrap_or(ResponseError::UnknownTopicOrPartition.code());
            (Some(name.clone()), Uuid::nil(), code)
        }
        Wanted::Id(id) => (None, *id, ResponseError::UnknownTopicId.code()),
    };
    MetadataResponseTopic::default()
        .with_error_code(code)
        .with_name(name.map(|n| TopicName(StrBytes::from_string(n))))
        .with_topic_id(id)
        .with_topic_authorized_operations(AUTHORIZED_OPERATIONS_OMITTED)
}

fn topic_response(image: &MetadataImage, topic: &TopicImage) -> MetadataResponseTopic {
    let partitions = topic
        .partitions
        .iter()
        .map(|(index, p)| {
            let offline: Vec<BrokerId> = p
                .replicas
                .iter()
                .filter(|r| !image.is_unfenced(**r))
                .map(|r| BrokerId(*r))
                .collect();
            let error = if p.leader < 0 {
                ResponseError::LeaderNotAvailable.code()
            } else {
                0
            };
            MetadataResponsePartition::default()
                .with_error_code(error)
                .with_partition_index(*index)
                .with_leader_id(BrokerId(p.leader))
                .with_leader_epoch(p.leader_epoch)
                .with_replica_nodes(p.replicas.iter().map(|r| BrokerId(*r)).collect())
                .with_isr_nodes(p.isr.iter().map(|r| BrokerId(*r)).collect())
                .with_offline_replicas(offline)
        })
        .collect();
    MetadataResponseTopic::default()
        .with_name(Some(TopicName(StrBytes::from_string(topic.name.clone()))))
        .with_topic_id(topic.topic_id)
        .with_is_internal(weir_core::metadata::is_internal_topic(&topic.name))
        .with_partitions(partitions)
        .with_topic_authorized_operations(AUTHORIZED_OPERATIONS_OMITTED)
}

/// Unfenced brokers with the endpoint of the listener clients use.
fn brokers(image: &MetadataImage, broker: &Broker) -> Vec<MetadataResponseBroker> {
    let listener = broker
        .config()
        .client_listener()
        .map(|l| l.name.clone())
        .unwrap_or_else(|| "PLAINTEXT".to_string());
    image
        .unfenced_brokers()
        .filter_map(|b| {
            let endpoint = b.listeners.iter().find(|e| e.name == listener)?;
            Some(
                MetadataResponseBroker::default()
                    .with_node_id(BrokerId(b.broker_id))
                    .with_host(StrBytes::from_string(endpoint.host.clone()))
                    .with_port(i32::from(endpoint.port))
                    .with_rack(b.rack.clone().map(StrBytes::from_string)),
            )
        })
        .collect()
}
