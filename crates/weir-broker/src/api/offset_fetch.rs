//! OffsetFetch (key 9, v1-9; v8+ asks for several groups): a group's
//! committed offsets; -1 where none is committed (also for an unknown
//! group, without error, as Kafka answers).

use super::Outcome;
use crate::broker::Broker;
use kafka_protocol::messages::OffsetFetchRequest;
use std::sync::Arc;

/// Handle an OffsetFetch request.
pub async fn handle(broker: &Arc<Broker>, request: OffsetFetchRequest, version: i16) -> Outcome {
    Outcome::respond(broker.groups().fetch_offsets(&request, version))
}
