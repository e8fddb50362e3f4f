//! DescribeCluster (key 60, KIP-700): cluster id, controller id and the
//! brokers, from this node's metadata image.

use super::Outcome;
use crate::broker::Broker;
use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};
use kafka_protocol::protocol::StrBytes;
use std::sync::Arc;

/// Handle a DescribeCluster request.
pub async fn handle(
    broker: &Arc<Broker>,
    request: DescribeClusterRequest,
    _version: i16,
) -> Outcome {
    let image = broker.image();
    let listener = broker
        .config()
        .client_listener()
        .map(|l| l.name.clone())
        .unwrap_or_default();
    let brokers = image
        .brokers()
        .filter(|b| request.include_fenced_brokers || !b.fenced)
        .filter_map(|b| {
            let endpoint = b.listeners.iter().find(|e| e.name == listener)?;
            Some(
                DescribeClusterBroker::default()
                    .with_broker_id(BrokerId(b.broker_id))
                    .with_host(StrBytes::from_string(endpoint.host.clone()))
                    .with_port(i32::from(endpoint.port))
                    .with_rack(b.rack.clone().map(StrBytes::from_string))
                    .with_is_fenced(b.fenced),
            )
        })
        .collect();
    Outcome::respond(
        DescribeClusterResponse::default()
            .with_endpoint_type(1)
            .with_cluster_id(StrBytes::from_string(broker.cluster_id().to_string()))
            .with_controller_id(BrokerId(
                broker
                    .active_controller()
                    .unwrap_or(broker.config().node_id),
            ))
            .with_brokers(brokers)
            .with_cluster_authorized_operations(i32::MIN),
    )
}
