//! Heartbeat (key 12, v0-4): keeps a member's session alive; answers
//! REBALANCE_IN_PROGRESS while the group rebalances.

use super::Outcome;
use crate::broker::Broker;
use kafka_protocol::messages::HeartbeatRequest;
use std::sync::Arc;

/// Handle a Heartbeat request.
pub async fn handle(broker: &Arc<Broker>, request: HeartbeatRequest, version: i16) -> Outcome {
    Outcome::respond(broker.groups().heartbeat(&request, version))
}
