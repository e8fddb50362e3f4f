//! ListGroups (key 16, v0-5): every group this broker coordinates, with
//! its state (v4+, filterable) and type (v5+, KIP-848: "classic").

use super::Outcome;
use crate::broker::Broker;
use kafka_protocol::messages::ListGroupsRequest;
use std::sync::Arc;

/// Handle a ListGroups request.
pub async fn handle(broker: &Arc<Broker>, request: ListGroupsRequest, version: i16) -> Outcome {
    Outcome::respond(broker.groups().list_groups(&request, version))
}
