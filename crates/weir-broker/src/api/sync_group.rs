//! SyncGroup (key 14, v0-5): the leader sends the assignment; every member
//! gets its own. A follower's request waits for the leader's.

use super::Outcome;
use crate::broker::Broker;
use kafka_protocol::messages::SyncGroupRequest;
use std::sync::Arc;

/// Handle a SyncGroup request.
pub async fn handle(broker: &Arc<Broker>, request: SyncGroupRequest, version: i16) -> Outcome {
    Outcome::respond(broker.groups().sync(request, version).await)
}
