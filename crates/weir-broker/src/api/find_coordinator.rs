//! FindCoordinator (key 10, v0-5): this broker coordinates every group.
//!
//! v0-3 ask for one key; v4+ batch keys in `coordinator_keys` (KIP-699) and
//! get one coordinator per key. Transactions are not implemented, so a
//! transaction key (type 1) gets COORDINATOR_NOT_AVAILABLE; any other
//! unknown key type INVALID_REQUEST.

use super::Outcome;
use crate::broker::Broker;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;
use std::sync::Arc;

/// Kafka's `CoordinatorType.GROUP`.
const KEY_TYPE_GROUP: i8 = 0;
/// Kafka's `CoordinatorType.TRANSACTION`.
const KEY_TYPE_TRANSACTION: i8 = 1;

/// The node clients should talk to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoordinatorNode {
    /// `node.id`.
    pub node_id: i32,
    /// Advertised host.
    pub host: String,
    /// Advertised port.
    pub port: i32,
}

/// Handle a FindCoordinator request.
pub async fn handle(
    broker: &Arc<Broker>,
    request: FindCoordinatorRequest,
    version: i16,
) -> Outcome {
    let (host, port) = broker.advertised_client_endpoint();
    let node = CoordinatorNode {
        node_id: broker.config().node_id,
        host,
        port,
    };
    Outcome::respond(respond(&request, version, &node))
}

/// The response, given this broker's advertised endpoint.
pub fn respond(
    request: &FindCoordinatorRequest,
    version: i16,
    node: &CoordinatorNode,
) -> FindCoordinatorResponse {
    let error = key_type_error(request.key_type);
    if version >= 4 {
        let coordinators = request
            .coordinator_keys
            .iter()
            .map(|key| coordinator(key.clone(), error, node))
            .collect();
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    let response = match error {
        None => FindCoordinatorResponse::default()
            .with_node_id(BrokerId(node.node_id))
            .with_host(StrBytes::from_string(node.host.clone()))
            .with_port(node.port),
        // Kafka answers errors with `Node.noNode()`.
        Some(e) => FindCoordinatorResponse::default()
            .with_error_code(e.code())
            .with_node_id(BrokerId(-1))
            .with_port(-1),
    };
    match error {
        Some(e) if version >= 1 => response.with_error_message(Some(message(e))),
        _ => response,
    }
}

fn key_type_error(key_type: i8) -> Option<ResponseError> {
    match key_type {
        KEY_TYPE_GROUP => None,
        KEY_TYPE_TRANSACTION => Some(ResponseError::CoordinatorNotAvailable),
        _ => Some(ResponseError::InvalidRequest),
    }
}

fn message(error: ResponseError) -> StrBytes {
    StrBytes::from_string(match error {
        ResponseError::CoordinatorNotAvailable => {
            "Weir does not implement transactions".to_string()
        }
        other => format!("{other}: unknown coordinator key type"),
    })
}

fn coordinator(key: StrBytes, error: Option<ResponseError>, node: &CoordinatorNode) -> Coordinator {
    match error {
        None => Coordinator::default()
            .with_key(key)
            .with_node_id(BrokerId(node.node_id))
            .with_host(StrBytes::from_string(node.host.clone()))
            .with_port(node.port),
        Some(e) => Coordinator::default()
            .with_key(key)
            .with_node_id(BrokerId(-1))
            .with_port(-1)
            .with_error_code(e.code())
            .with_error_message(Some(message(e))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use kafka_protocol::protocol::Encodable;

    fn node() -> CoordinatorNode {
        CoordinatorNode {
            node_id: 1,
            host: "127.0.0.1".into(),
            port: 9092,
        }
    }

    #[test]
    fn single_key_versions_name_this_broker() {
        let request = FindCoordinatorRequest::default().with_key(StrBytes::from_static_str("g"));
        for version in 0..=3 {
            let response = respond(&request, version, &node());
            assert_eq!(
                (response.error_code, response.node_id, response.port),
                (0, BrokerId(1), 9092)
            );
            assert_eq!(response.host.as_str(), "127.0.0.1");
            response.encode(&mut BytesMut::new(), version).unwrap();
        }
    }

    #[test]
    fn batched_keys_get_one_coordinator_each() {
        let request = FindCoordinatorRequest::default().with_coordinator_keys(vec![
            StrBytes::from_static_str("a"),
            StrBytes::from_static_str("b"),
        ]);
        for version in 4..=5 {
            let response = respond(&request, version, &node());
            let keys: Vec<(&str, i32, i16)> = response
                .coordinators
                .iter()
                .map(|c| (c.key.as_str(), c.node_id.0, c.error_code))
                .collect();
            assert_eq!(keys, vec![("a", 1, 0), ("b", 1, 0)]);
            response.encode(&mut BytesMut::new(), version).unwrap();
        }
    }

    #[test]
    fn transaction_and_unknown_key_types_are_refused() {
        let txn = FindCoordinatorRequest::default()
            .with_key(StrBytes::from_static_str("t"))
            .with_key_type(KEY_TYPE_TRANSACTION);
        for version in 1..=3 {
            let response = respond(&txn, version, &node());
            assert_eq!(
                (response.error_code, response.node_id),
                (ResponseError::CoordinatorNotAvailable.code(), BrokerId(-1))
            );
            response.encode(&mut BytesMut::new(), version).unwrap();
        }
        let odd = FindCoordinatorRequest::default()
            .with_key_type(7)
            .with_coordinator_keys(vec![StrBytes::from_static_str("x")]);
        let response = respond(&odd, 4, &node());
        assert_eq!(
            response.coordinators[0].error_code,
            ResponseError::InvalidRequest.code()
        );
        response.encode(&mut BytesMut::new(), 4).unwrap();
    }
}
