//! SyncGroup (key 14, v0-5): the leader sends the assignment; every member
//! gets its own. A follower's request waits for the leader's. A broker that
//! does not coordinate the group answers NOT_COORDINATOR (see
//! [`super::find_coordinator::coordinator_error`]).

use super::find_coordinator::membership_coordinator_error;
use super::Outcome;
use crate::broker::Broker;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{SyncGroupRequest, SyncGroupResponse};
use std::sync::Arc;

/// Handle a SyncGroup request.
pub async fn handle(broker: &Arc<Broker>, request: SyncGroupRequest, version: i16) -> Outcome {
    if let Some(error) = membership_coordinator_error(broker, request.group_id.0.as_str()) {
        return Outcome::respond(error_response(error));
    }
    Outcome::respond(broker.groups().sync(request, version).await)
}

/// Kafka's SyncGroup error answer: the error, no assignment.
pub fn error_response(error: ResponseError) -> SyncGroupResponse {
    SyncGroupResponse::default().with_error_code(error.code())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use kafka_protocol::protocol::Encodable;

    #[test]
    fn error_answer_encodes_at_every_version() {
        for version in 0..=5 {
            let response = error_response(ResponseError::NotCoordinator);
            assert_eq!(response.error_code, 16);
            assert!(response.assignment.is_empty());
            response.encode(&mut BytesMut::new(), version).unwrap();
        }
        assert_eq!(
            error_response(ResponseError::CoordinatorNotAvailable).error_code,
            15
        );
    }
}
