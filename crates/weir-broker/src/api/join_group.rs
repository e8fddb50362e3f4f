//! JoinGroup (key 11, v0-9): join or rejoin a consumer group. The answer
//! may wait until the group's rebalance completes (see
//! [`crate::group_coordinator`]); from v4 a member without an id first gets
//! MEMBER_ID_REQUIRED and an id to rejoin with (KIP-394).

use super::Outcome;
use crate::broker::Broker;
use kafka_protocol::messages::JoinGroupRequest;
use std::sync::Arc;

/// Handle a JoinGroup request whose client is unknown (member ids then
/// start with "-"; DescribeGroups shows no client id or host).
pub async fn handle(broker: &Arc<Broker>, request: JoinGroupRequest, version: i16) -> Outcome {
    handle_with_client(broker, request, version, "", "").await
}

/// Handle a JoinGroup request from `client_id` (the request header's) at
/// `client_host` (Kafka shows it as "/<ip>"). New member ids are
/// `<client_id>-<uuid>`, as Kafka makes them.
pub async fn handle_with_client(
    broker: &Arc<Broker>,
    request: JoinGroupRequest,
    version: i16,
    client_id: &str,
    client_host: &str,
) -> Outcome {
    let response = broker
        .groups()
        .join(request, version, client_id, client_host)
        .await;
    Outcome::respond(response)
}
