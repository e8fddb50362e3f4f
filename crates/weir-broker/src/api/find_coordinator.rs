//! FindCoordinator (key 10, v0-5): the broker that coordinates a group.
//!
//! Every node computes the same coordinator for a group from its metadata
//! image ([`Broker::group_coordinator`]: the leader of the group's
//! `__consumer_offsets` partition, Kafka's `partitionFor(group)`) and
//! answers its advertised client endpoint. Before that topic exists the
//! answer is COORDINATOR_NOT_AVAILABLE and the broker asks the controller
//! to create it ([`Broker::ensure_offsets_topic`]), as Kafka does; a
//! leaderless partition (or no endpoint) is COORDINATOR_NOT_AVAILABLE too.
//! v0-3 ask for one key; v4+ batch keys in `coordinator_keys` (KIP-699)
//! and get one coordinator per key.
//! Transactions are not implemented, so a transaction key (type 1) gets
//! COORDINATOR_NOT_AVAILABLE; any other unknown key type INVALID_REQUEST.
//!
//! [`coordinator_error`] is the check every group API makes first: a
//! request that reaches a broker that does not coordinate its group gets
//! NOT_COORDINATOR (COORDINATOR_NOT_AVAILABLE when no broker does), and the
//! client looks the coordinator up again.

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

/// The error a request for `group` gets at this broker before the local
/// coordinator sees it: `None` when this broker coordinates the group,
/// NOT_COORDINATOR when another broker does, COORDINATOR_NOT_AVAILABLE
/// when none does.
pub(crate) fn coordinator_error(broker: &Broker, group: &str) -> Option<ResponseError> {
    routing_error(broker.group_coordinator(group), broker.config().node_id)
}

/// [`coordinator_error`] for JoinGroup, SyncGroup, Heartbeat and
/// LeaveGroup: Kafka checks for an empty group id before routing, so the
/// local coordinator answers those with INVALID_GROUP_ID.
pub(crate) fn membership_coordinator_error(broker: &Broker, group: &str) -> Option<ResponseError> {
    if group.is_empty() {
        None
    } else {
        coordinator_error(broker, group)
    }
}

/// The routing decision, given the group's coordinator (if any) and this
/// broker's node id.
/// The items (groups of a batched request) that have no routing error:
/// the ones this broker's coordinator answers.
pub(crate) fn routed_here<T: Clone>(items: &[T], errors: &[Option<ResponseError>]) -> Vec<T> {
    items
        .iter()
        .zip(errors)
        .filter(|(_, e)| e.is_none())
        .map(|(item, _)| item.clone())
        .collect()
}

/// The answers in request order: `error_answer` where an item has a
/// routing error, else the next of `local` (the answers to
/// [`routed_here`]'s items, in order); a missing local answer is
/// COORDINATOR_NOT_AVAILABLE.
pub(crate) fn merge_in_order<T, R>(
    items: &[T],
    errors: &[Option<ResponseError>],
    local: Vec<R>,
    error_answer: impl Fn(&T, ResponseError) -> R,
) -> Vec<R> {
    let mut local = local.into_iter();
    items
        .iter()
        .zip(errors)
        .map(|(item, error)| match error {
            Some(e) => error_answer(item, *e),
            None => local
                .next()
                .unwrap_or_else(|| error_answer(item, ResponseError::CoordinatorNotAvailable)),
        })
        .collect()
}

pub(crate) fn routing_error(coordinator: Option<i32>, this_node: i32) -> Option<ResponseError> {
    match coordinator {
        Some(id) if id == this_node => None,
        Some(_) => Some(ResponseError::NotCoordinator),
        None => Some(ResponseError::CoordinatorNotAvailable),
    }
}

/// Handle a FindCoordinator request.
pub async fn handle(
    broker: &Arc<Broker>,
    request: FindCoordinatorRequest,
    version: i16,
) -> Outcome {
    let lookup = |group: &str| group_coordinator_node(broker, group);
    Outcome::respond(respond(&request, version, &lookup))
}

/// The coordinator of `group` with its advertised client endpoint, or
/// COORDINATOR_NOT_AVAILABLE.
fn group_coordinator_node(
    broker: &Arc<Broker>,
    group: &str,
) -> Result<CoordinatorNode, ResponseError> {
    let Some(node_id) = broker.group_coordinator(group) else {
        // The first lookup of any group creates `__consumer_offsets`.
        broker.ensure_offsets_topic();
        return Err(ResponseError::CoordinatorNotAvailable);
    };
    let (host, port) = match broker.broker_endpoint(node_id) {
        Some(endpoint) => endpoint,
        // This node's own endpoint is known even if the image lacks it.
        None if node_id == broker.config().node_id => broker.advertised_client_endpoint(),
        None => return Err(ResponseError::CoordinatorNotAvailable),
    };
    Ok(CoordinatorNode {
        node_id,
        host,
        port,
    })
}

/// The response, given how to find a group's coordinator.
pub fn respond(
    request: &FindCoordinatorRequest,
    version: i16,
    lookup: &dyn Fn(&str) -> Result<CoordinatorNode, ResponseError>,
) -> FindCoordinatorResponse {
    let find = |key: &str| -> Result<CoordinatorNode, (ResponseError, String)> {
        match request.key_type {
            KEY_TYPE_GROUP => lookup(key).map_err(|e| (e, group_message(e))),
            KEY_TYPE_TRANSACTION => Err((
                ResponseError::CoordinatorNotAvailable,
                "Weir does not implement transactions".to_string(),
            )),
            _ => Err((
                ResponseError::InvalidRequest,
                format!(
                    "{}: unknown coordinator key type {}",
                    ResponseError::InvalidRequest,
                    request.key_type
                ),
            )),
        }
    };
    if version >= 4 {
        let coordinators = request
            .coordinator_keys
            .iter()
            .map(|key| coordinator(key.clone(), find(key.as_str())))
            .collect();
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    match find(request.key.as_str()) {
        Ok(node) => FindCoordinatorResponse::default()
            .with_node_id(BrokerId(node.node_id))
            .with_host(StrBytes::from_string(node.host))
            .with_port(node.port),
        // Kafka answers errors with `Node.noNode()`.
        Err((e, text)) => {
            let response = FindCoordinatorResponse::default()
                .with_error_code(e.code())
                .with_node_id(BrokerId(-1))
                .with_port(-1);
            if version >= 1 {
                response.with_error_message(Some(StrBytes::from_string(text)))
            } else {
                response
            }
        }
    }
}

fn group_message(error: ResponseError) -> String {
    match error {
        ResponseError::CoordinatorNotAvailable => "The coordinator is not available.".to_string(),
        other => other.to_string(),
    }
}

fn coordinator(
    key: StrBytes,
    found: Result<CoordinatorNode, (ResponseError, String)>,
) -> Coordinator {
    match found {
        Ok(node) => Coordinator::default()
            .with_key(key)
            .with_node_id(BrokerId(node.node_id))
            .with_host(StrBytes::from_string(node.host))
            .with_port(node.port),
        Err((e, text)) => Coordinator::default()
            .with_key(key)
            .with_node_id(BrokerId(-1))
            .with_port(-1)
            .with_error_code(e.code())
            .with_error_message(Some(StrBytes::from_string(text))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use kafka_protocol::protocol::Encodable;

    /// "a" is coordinated by node 1, "b" by node 2, "none" by nobody.
    fn lookup(group: &str) -> Result<CoordinatorNode, ResponseError> {
        match group {
            "a" | "g" => Ok(CoordinatorNode {
                node_id: 1,
                host: "127.0.0.1".into(),
                port: 9092,
            }),
            "b" => Ok(CoordinatorNode {
                node_id: 2,
                host: "10.0.0.2".into(),
                port: 9093,
            }),
            _ => Err(ResponseError::CoordinatorNotAvailable),
        }
    }

    #[test]
    fn routing_names_this_broker_another_or_none() {
        assert_eq!(routing_error(Some(1), 1), None);
        assert_eq!(
            routing_error(Some(2), 1),
            Some(ResponseError::NotCoordinator)
        );
        assert_eq!(
            routing_error(None, 1),
            Some(ResponseError::CoordinatorNotAvailable)
        );
        assert_eq!(ResponseError::NotCoordinator.code(), 16);
        assert_eq!(ResponseError::CoordinatorNotAvailable.code(), 15);
    }

    #[test]
    fn single_key_versions_name_the_coordinator() {
        for (key, want) in [
            ("g", (0, 1, "127.0.0.1", 9092)),
            ("b", (0, 2, "10.0.0.2", 9093)),
        ] {
            let request =
                FindCoordinatorRequest::default().with_key(StrBytes::from_static_str(key));
            for version in 0..=3 {
                let response = respond(&request, version, &lookup);
                assert_eq!(
                    (
                        response.error_code,
                        response.node_id.0,
                        response.host.as_str(),
                        response.port
                    ),
                    want
                );
                response.encode(&mut BytesMut::new(), version).unwrap();
            }
        }
    }

    #[test]
    fn single_key_without_coordinator_is_not_available() {
        let request = FindCoordinatorRequest::default().with_key(StrBytes::from_static_str("none"));
        for version in 0..=3 {
            let response = respond(&request, version, &lookup);
            assert_eq!(
                (response.error_code, response.node_id, response.port),
                (15, BrokerId(-1), -1)
            );
            let message = response.error_message.as_ref().map_or("", |m| m.as_str());
            assert_eq!(!message.is_empty(), version >= 1);
            response.encode(&mut BytesMut::new(), version).unwrap();
        }
    }

    #[test]
    fn batched_keys_get_one_coordinator_each() {
        let request = FindCoordinatorRequest::default().with_coordinator_keys(vec![
            StrBytes::from_static_str("a"),
            StrBytes::from_static_str("b"),
            StrBytes::from_static_str("none"),
        ]);
        for version in 4..=5 {
            let response = respond(&request, version, &lookup);
            let keys: Vec<(&str, i32, &str, i32, i16)> = response
                .coordinators
                .iter()
                .map(|c| {
                    (
                        c.key.as_str(),
                        c.node_id.0,
                        c.host.as_str(),
                        c.port,
                        c.error_code,
                    )
                })
                .collect();
            assert_eq!(
                keys,
                vec![
                    ("a", 1, "127.0.0.1", 9092, 0),
                    ("b", 2, "10.0.0.2", 9093, 0),
                    ("none", -1, "", -1, 15),
                ]
            );
            assert!(response.coordinators[2].error_message.is_some());
            response.encode(&mut BytesMut::new(), version).unwrap();
        }
    }

    #[test]
    fn transaction_and_unknown_key_types_are_refused() {
        let txn = FindCoordinatorRequest::default()
            .with_key(StrBytes::from_static_str("g"))
            .with_key_type(KEY_TYPE_TRANSACTION);
        for version in 1..=3 {
            let response = respond(&txn, version, &lookup);
            assert_eq!(
                (response.error_code, response.node_id),
                (ResponseError::CoordinatorNotAvailable.code(), BrokerId(-1))
            );
            response.encode(&mut BytesMut::new(), version).unwrap();
        }
        let txn4 = FindCoordinatorRequest::default()
            .with_key_type(KEY_TYPE_TRANSACTION)
            .with_coordinator_keys(vec![StrBytes::from_static_str("a")]);
        let response = respond(&txn4, 4, &lookup);
        assert_eq!(
            (
                response.coordinators[0].error_code,
                response.coordinators[0].node_id
            ),
            (15, BrokerId(-1))
        );
        let odd = FindCoordinatorRequest::default()
            .with_key_type(7)
            .with_coordinator_keys(vec![StrBytes::from_static_str("x")]);
        let response = respond(&odd, 4, &lookup);
        assert_eq!(
            response.coordinators[0].error_code,
            ResponseError::InvalidRequest.code()
        );
        response.encode(&mut BytesMut::new(), 4).unwrap();
    }
}
