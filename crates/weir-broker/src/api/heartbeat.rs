//! Heartbeat (key 12, v0-4): keeps a member's session alive; answers
//! REBALANCE_IN_PROGRESS while the group rebalances. A broker that does
//! not coordinate the group answers NOT_COORDINATOR (see
//! [`super::find_coordinator::coordinator_error`]).

use super::find_coordinator::membership_coordinator_error;
use super::Outcome;
use crate::broker::Broker;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse};
use std::sync::Arc;

/// Handle a Heartbeat request.
pub async fn handle(broker: &Arc<Broker>, request: HeartbeatRequest, version: i16) -> Outcome {
    if let Some(error) = membership_coordinator_error(broker, request.group_id.0.as_str()) {
        return Outcome::respond(error_response(error));
    }
    Outcome::respond(broker.groups().heartbeat(&request, version))
}

/// Kafka's Heartbeat error answer.
pub fn error_response(error: ResponseError) -> HeartbeatResponse {
    HeartbeatResponse::default().with_error_code(error.code())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use kafka_protocol::protocol::Encodable;

    #[test]
    fn error_answer_encodes_at_every_version() {
        for version in 0..=4 {
            let response = error_response(ResponseError::NotCoordinator);
            assert_eq!(response.error_code, 16);
            response.encode(&mut BytesMut::new(), version).unwrap();
        }
        assert_eq!(
            error_response(ResponseError::CoordinatorNotAvailable).error_code,
            15
        );
    }
}
