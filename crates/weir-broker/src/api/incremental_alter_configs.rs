//! IncrementalAlterConfigs (key 44, KIP-339): change topic configs key by
//! key (SET, DELETE, APPEND, SUBTRACT), committed through the metadata log
//! by `weir_core`'s `plan_alter_configs`; `validate_only` plans without
//! committing.
//!
//! Each resource is answered on its own, with Kafka's checks in Kafka's
//! order (`ConfigAdminManager.preprocess`, then the controller):
//!
//! - a resource named twice: INVALID_REQUEST for both;
//! - a key named twice: INVALID_REQUEST; a null value for anything but
//!   DELETE: INVALID_REQUEST; an unknown operation: INVALID_REQUEST;
//! - TOPIC: UNKNOWN_TOPIC_OR_PARTITION for a missing topic, INVALID_CONFIG
//!   for an unknown key, a bad value, or APPEND/SUBTRACT on a non-list key;
//! - BROKER: Kafka's id checks, then INVALID_REQUEST, because Weir has no
//!   dynamic broker configs (broker settings come from
//!   `server.properties` only);
//! - BROKER_LOGGER, CLIENT_METRICS, GROUP and unknown types:
//!   INVALID_REQUEST.

use super::describe_configs::{
    resource_type_name, ResourceError, RESOURCE_BROKER, RESOURCE_BROKER_LOGGER, RESOURCE_TOPIC,
};
use super::Outcome;
use crate::broker::Broker;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse};
use kafka_protocol::protocol::StrBytes;
use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use weir_core::metadata::{
    plan_alter_configs, AlterConfigOp, AlterConfigOpType, ConfigResource, ControllerOp, PlanError,
};

/// Handle an IncrementalAlterConfigs request.
pub async fn handle(
    broker: &Arc<Broker>,
    request: IncrementalAlterConfigsRequest,
    _version: i16,
) -> Outcome {
    let repeated = repeated_resources(&request.resources);
    let mut responses = Vec::with_capacity(request.resources.len());
    for (index, resource) in request.resources.iter().enumerate() {
        let result = match repeated.contains(&index) {
            true => Err(ResourceError::invalid_request(
                "Each resource must appear at most once.",
            )),
            false => alter_one(broker, resource, request.validate_only).await,
        };
        responses.push(to_response(resource, result));
    }
    Outcome::respond(IncrementalAlterConfigsResponse::default().with_responses(responses))
}

/// Indexes of resources whose (type, name) appears more than once.
fn repeated_resources(resources: &[AlterConfigsResource]) -> HashSet<usize> {
    let mut first = HashMap::new();
    let mut repeated = HashSet::new();
    for (i, r) in resources.iter().enumerate() {
        match first.entry((r.resource_type, r.resource_name.as_str())) {
            Entry::Occupied(e) => repeated.extend([*e.get(), i]),
            Entry::Vacant(e) => {
                e.insert(i);
            }
        }
    }
    repeated
}

/// Check, plan and (unless `validate_only`) commit one resource.
async fn alter_one(
    broker: &Broker,
    resource: &AlterConfigsResource,
    validate_only: bool,
) -> Result<(), ResourceError> {
    let ops = translate(&resource.configs).map_err(plan_error)?;
    let target = target(
        resource.resource_type,
        resource.resource_name.as_str(),
        broker.config().node_id,
    )?;
    if validate_only {
        plan_alter_configs(&broker.image(), &target, &ops).map_err(plan_error)?;
        return Ok(());
    }
    broker
        .commit_op(ControllerOp::AlterConfigs {
            resource: target,
            ops,
        })
        .await
        .map(|_| ())
        .map_err(|e| ResourceError {
            code: e.error_code(),
            message: Some(e.to_string()),
        })
}

/// The wire configs as `weir_core` operations, after Kafka's request
/// checks (duplicate keys, null values, operation codes).
pub fn translate(configs: &[AlterableConfig]) -> Result<Vec<AlterConfigOp>, PlanError> {
    let mut seen = HashSet::new();
    if !configs.iter().all(|c| seen.insert(c.name.as_str())) {
        return Err(PlanError::InvalidRequest(
            "Error due to duplicate config keys".into(),
        ));
    }
    let null_updates: Vec<&str> = configs
        .iter()
        .filter(|c| c.config_operation != 1 && c.value.is_none())
        .map(|c| c.name.as_str())
        .collect();
    if !null_updates.is_empty() {
        return Err(PlanError::InvalidRequest(format!(
            "Null value not supported for : {}",
            null_updates.join(", ")
        )));
    }
    configs.iter().map(translate_one).collect()
}

fn translate_one(config: &AlterableConfig) -> Result<AlterConfigOp, PlanError> {
    let op = AlterConfigOpType::from_code(config.config_operation).ok_or_else(|| {
        PlanError::InvalidRequest(format!(
            "Unknown operation type {}",
            config.config_operation
        ))
    })?;
    Ok(AlterConfigOp {
        name: config.name.as_str().to_string(),
        op,
        value: config.value.as_ref().map(|v| v.as_str().to_string()),
    })
}

/// The resource to alter, or why Weir refuses its type.
pub fn target(
    resource_type: i8,
    name: &str,
    node_id: i32,
) -> Result<ConfigResource, ResourceError> {
    match resource_type {
        RESOURCE_TOPIC => Ok(ConfigResource::Topic(name.to_string())),
        RESOURCE_BROKER => Err(broker_refusal(name, node_id)),
        RESOURCE_BROKER_LOGGER | 16 | 32 => Err(ResourceError::invalid_request(format!(
            "Weir does not support {} resources",
            resource_type_name(resource_type)
        ))),
        other => Err(ResourceError::invalid_request(format!(
            "Unknown resource type {other}"
        ))),
    }
}

/// Kafka's `validateResourceNameIsCurrentNodeId` (an empty name is the
/// cluster default), then Weir's refusal.
fn broker_refusal(name: &str, node_id: i32) -> ResourceError {
    if !name.is_empty() {
        match name.parse::<i32>() {
            Err(_) => {
                return ResourceError::invalid_request(format!(
                    "Node id must be an integer, but it is: {name}"
                ))
            }
            Ok(id) if id != node_id => {
                return ResourceError::invalid_request(format!(
                    "Unexpected broker id, expected {node_id}, but received {name}"
                ))
            }
            Ok(_) => {}
        }
    }
    ResourceError::invalid_request(
        "Weir cannot change broker configs at run time; set them in server.properties",
    )
}

pub fn plan_error(e: PlanError) -> ResourceError {
    ResourceError {
        code: e.error_code(),
        message: Some(e.message().to_string()),
    }
}

fn to_response(
    resource: &AlterConfigsResource,
    result: Result<(), ResourceError>,
) -> AlterConfigsResourceResponse {
    let base = AlterConfigsResourceResponse::default()
        .with_resource_type(resource.resource_type)
        .with_resource_name(resource.resource_name.clone());
    match result {
        Ok(()) => base,
        Err(e) => base
            .with_error_code(e.code)
            .with_error_message(e.message.map(StrBytes::from_string)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(name: &'static str, op: i8, value: Option<&'static str>) -> AlterableConfig {
        AlterableConfig::default()
            .with_name(StrBytes::from_static_str(name))
            .with_config_operation(op)
            .with_value(value.map(StrBytes::from_static_str))
    }

    fn resource(resource_type: i8, name: &'static str) -> AlterConfigsResource {
        AlterConfigsResource::default()
            .with_resource_type(resource_type)
            .with_resource_name(StrBytes::from_static_str(name))
    }

    #[test]
    fn every_operation_code_translates() {
        let ops = translate(&[
            config("retention.ms", 0, Some("1000")),
            config("segment.ms", 1, None),
            config("cleanup.policy", 2, Some("compact")),
            config("leader.replication.throttled.replicas", 3, Some("0:1")),
        ])
        .unwrap();
        let kinds: Vec<AlterConfigOpType> = ops.iter().map(|o| o.op).collect();
        use AlterConfigOpType::*;
        assert_eq!(kinds, [Set, Delete, Append, Subtract]);
        assert_eq!(ops[0].value.as_deref(), Some("1000"));
        assert_eq!(ops[1].value, None);
        assert_eq!(ops[2].name, "cleanup.policy");
    }

    #[test]
    fn request_checks_in_kafkas_order() {
        let dup = translate(&[config("a", 0, None), config("a", 1, None)]).unwrap_err();
        assert_eq!(
            dup,
            PlanError::InvalidRequest("Error due to duplicate config keys".into())
        );
        let null = translate(&[
            config("a", 0, None),
            config("b", 1, None),
            config("c", 2, None),
        ])
        .unwrap_err();
        assert_eq!(
            null,
            PlanError::InvalidRequest("Null value not supported for : a, c".into())
        );
        let unknown = translate(&[config("a", 9, Some("x"))]).unwrap_err();
        assert_eq!(unknown.error_code(), 42);
    }

    #[test]
    fn only_topics_are_alterable() {
        assert_eq!(
            target(RESOURCE_TOPIC, "t", 1),
            Ok(ConfigResource::Topic("t".into()))
        );
        let message = |t, n| target(t, n, 1).unwrap_err().message.unwrap();
        assert!(message(RESOURCE_BROKER, "1").starts_with("Weir cannot change broker"));
        assert!(message(RESOURCE_BROKER, "").starts_with("Weir cannot change broker"));
        assert_eq!(
            message(RESOURCE_BROKER, "2"),
            "Unexpected broker id, expected 1, but received 2"
        );
        assert_eq!(
            message(RESOURCE_BROKER, "x"),
            "Node id must be an integer, but it is: x"
        );
        assert_eq!(
            message(RESOURCE_BROKER_LOGGER, "1"),
            "Weir does not support BROKER_LOGGER resources"
        );
        assert_eq!(message(99, "x"), "Unknown resource type 99");
        assert!([RESOURCE_BROKER, RESOURCE_BROKER_LOGGER, 32, 0]
            .iter()
            .all(|t| target(*t, "1", 1).unwrap_err().code == 42));
    }

    #[test]
    fn repeated_resources_are_all_marked() {
        let resources = [
            resource(RESOURCE_TOPIC, "a"),
            resource(RESOURCE_TOPIC, "b"),
            resource(RESOURCE_TOPIC, "a"),
            resource(RESOURCE_BROKER, "a"),
        ];
        assert_eq!(repeated_resources(&resources), HashSet::from([0, 2]));
    }
}
