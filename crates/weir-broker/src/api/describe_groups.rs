//! DescribeGroups (key 15, v0-5): state, protocol and members of groups;
//! an unknown group is reported Dead without an error, as Kafka does
//! before v6. Groups this broker does not coordinate get NOT_COORDINATOR
//! each (see [`super::find_coordinator::coordinator_error`]); the others
//! are described by the local coordinator.

use super::find_coordinator::{coordinator_error, merge_in_order, routed_here};
use super::Outcome;
use crate::broker::Broker;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_groups_response::DescribedGroup;
use kafka_protocol::messages::{DescribeGroupsRequest, DescribeGroupsResponse};
use std::sync::Arc;

/// Handle a DescribeGroups request.
pub async fn handle(broker: &Arc<Broker>, request: DescribeGroupsRequest, version: i16) -> Outcome {
    let errors: Vec<Option<ResponseError>> = request
        .groups
        .iter()
        .map(|g| coordinator_error(broker, g.0.as_str()))
        .collect();
    if errors.iter().all(Option::is_none) {
        return Outcome::respond(broker.groups().describe_groups(&request, version));
    }
    let local = local_request(&request, &errors);
    let described = if local.groups.is_empty() {
        DescribeGroupsResponse::default()
    } else {
        broker.groups().describe_groups(&local, version)
    };
    Outcome::respond(merge(&request, &errors, described))
}

/// The request for the groups without a routing error.
pub fn local_request(
    request: &DescribeGroupsRequest,
    errors: &[Option<ResponseError>],
) -> DescribeGroupsRequest {
    request
        .clone()
        .with_groups(routed_here(&request.groups, errors))
}

/// The answer in request order: Kafka's error group (id echoed, empty
/// state, protocol and members) where `errors` has one, else the next of
/// the `local` answer's groups (which answered [`local_request`]).
pub fn merge(
    request: &DescribeGroupsRequest,
    errors: &[Option<ResponseError>],
    mut local: DescribeGroupsResponse,
) -> DescribeGroupsResponse {
    let described = std::mem::take(&mut local.groups);
    let groups = merge_in_order(&request.groups, errors, described, |id, error| {
        DescribedGroup::default()
            .with_group_id(id.clone())
            .with_error_code(error.code())
    });
    local.with_groups(groups)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use kafka_protocol::messages::GroupId;
    use kafka_protocol::protocol::{Encodable, StrBytes};

    fn id(s: &'static str) -> GroupId {
        GroupId(StrBytes::from_static_str(s))
    }

    #[test]
    fn routed_groups_get_their_error_in_request_order() {
        let request =
            DescribeGroupsRequest::default().with_groups(vec![id("a"), id("mine"), id("c")]);
        let errors = [
            Some(ResponseError::NotCoordinator),
            None,
            Some(ResponseError::CoordinatorNotAvailable),
        ];
        let local = local_request(&request, &errors);
        assert_eq!(local.groups, vec![id("mine")]);
        let answered =
            DescribeGroupsResponse::default().with_groups(vec![DescribedGroup::default()
                .with_group_id(id("mine"))
                .with_group_state(StrBytes::from_static_str("Stable"))]);
        let response = merge(&request, &errors, answered);
        let got: Vec<(&str, i16, &str)> = response
            .groups
            .iter()
            .map(|g| (g.group_id.0.as_str(), g.error_code, g.group_state.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![("a", 16, ""), ("mine", 0, "Stable"), ("c", 15, "")]
        );
        assert!(response.groups[0].members.is_empty());
        for version in 0..=5 {
            response.encode(&mut BytesMut::new(), version).unwrap();
        }
    }
}
