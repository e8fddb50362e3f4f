//! DescribeGroups (key 15, v0-5): state, protocol and members of groups;
//! an unknown group is reported Dead without an error, as Kafka does
//! before v6.

use super::Outcome;
use crate::broker::Broker;
use kafka_protocol::messages::DescribeGroupsRequest;
use std::sync::Arc;

/// Handle a DescribeGroups request.
pub async fn handle(broker: &Arc<Broker>, request: DescribeGroupsRequest, version: i16) -> Outcome {
    Outcome::respond(broker.groups().describe_groups(&request, version))
}
