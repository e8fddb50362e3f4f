//! LeaveGroup (key 13, v0-5): members leave (v3+ batches them and names
//! static members by instance id, KIP-345); the group rebalances.

use super::Outcome;
use crate::broker::Broker;
use kafka_protocol::messages::LeaveGroupRequest;
use std::sync::Arc;

/// Handle a LeaveGroup request.
pub async fn handle(broker: &Arc<Broker>, request: LeaveGroupRequest, version: i16) -> Outcome {
    Outcome::respond(broker.groups().leave(&request, version))
}
