//! JoinGroup (key 11, v0-9): join or rejoin a consumer group. The answer
//! may wait until the group's rebalance completes (see
//! [`crate::group_coordinator`]); from v4 a member without an id first gets
//! MEMBER_ID_REQUIRED and an id to rejoin with (KIP-394). A broker that
//! does not coordinate the group answers NOT_COORDINATOR (see
//! [`super::find_coordinator::coordinator_error`]).

use super::find_coordinator::membership_coordinator_error;
use super::Outcome;
use crate::broker::Broker;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{JoinGroupRequest, JoinGroupResponse};
use kafka_protocol::protocol::StrBytes;
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
    if let Some(error) = membership_coordinator_error(broker, request.group_id.0.as_str()) {
        return Outcome::respond(error_response(&request, version, error));
    }
    let response = broker
        .groups()
        .join(request, version, client_id, client_host)
        .await;
    Outcome::respond(response)
}

/// Kafka's JoinGroup error answer: the request's member id, generation -1,
/// no leader or members; the protocol name null from v7 ("" before, where
/// it is not nullable).
pub fn error_response(
    request: &JoinGroupRequest,
    version: i16,
    error: ResponseError,
) -> JoinGroupResponse {
    JoinGroupResponse::default()
        .with_error_code(error.code())
        .with_generation_id(-1)
        .with_protocol_type(None)
        .with_protocol_name((version < 7).then(StrBytes::new))
        .with_leader(StrBytes::new())
        .with_member_id(request.member_id.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use kafka_protocol::messages::GroupId;
    use kafka_protocol::protocol::Encodable;

    #[test]
    fn error_answer_keeps_the_member_id_at_every_version() {
        let request = JoinGroupRequest::default()
            .with_group_id(GroupId(StrBytes::from_static_str("g")))
            .with_member_id(StrBytes::from_static_str("m-1"));
        for version in 0..=9 {
            for error in [
                ResponseError::NotCoordinator,
                ResponseError::CoordinatorNotAvailable,
            ] {
                let response = error_response(&request, version, error);
                assert_eq!(response.error_code, error.code());
                assert_eq!(response.generation_id, -1);
                assert_eq!(response.member_id.as_str(), "m-1");
                assert!(response.members.is_empty());
                assert_eq!(response.protocol_name.is_some(), version < 7);
                response.encode(&mut BytesMut::new(), version).unwrap();
            }
        }
        assert_eq!(
            error_response(&request, 5, ResponseError::NotCoordinator).error_code,
            16
        );
    }
}
