//! LeaveGroup (key 13, v0-5): members leave (v3+ batches them and names
//! static members by instance id, KIP-345); the group rebalances. A broker
//! that does not coordinate the group answers NOT_COORDINATOR at the top
//! level, with no members, as Kafka does (see
//! [`super::find_coordinator::coordinator_error`]).

use super::find_coordinator::membership_coordinator_error;
use super::Outcome;
use crate::broker::Broker;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{LeaveGroupRequest, LeaveGroupResponse};
use std::sync::Arc;

/// Handle a LeaveGroup request.
pub async fn handle(broker: &Arc<Broker>, request: LeaveGroupRequest, version: i16) -> Outcome {
    if let Some(error) = membership_coordinator_error(broker, request.group_id.0.as_str()) {
        return Outcome::respond(error_response(error));
    }
    Outcome::respond(broker.groups().leave(&request, version))
}

/// Kafka's LeaveGroup error answer: the top-level error, no members.
pub fn error_response(error: ResponseError) -> LeaveGroupResponse {
    LeaveGroupResponse::default().with_error_code(error.code())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use kafka_protocol::protocol::Encodable;

    #[test]
    fn error_answer_is_top_level_at_every_version() {
        for version in 0..=5 {
            let response = error_response(ResponseError::NotCoordinator);
            assert_eq!(response.error_code, 16);
            assert!(response.members.is_empty());
            response.encode(&mut BytesMut::new(), version).unwrap();
        }
        assert_eq!(
            error_response(ResponseError::CoordinatorNotAvailable).error_code,
            15
        );
    }
}
