//! AlterConfigs (key 33): the legacy, non-incremental config change that
//! kafka-python's admin client still uses. It *replaces* a topic's
//! overrides with the given set: listed keys are set, existing overrides
//! not listed are deleted (Kafka's semantics, which is why KIP-339 added
//! the incremental form). It is translated to the same `weir_core`
//! operations as IncrementalAlterConfigs, with the same checks and errors.

use super::describe_configs::ResourceError;
use super::incremental_alter_configs::{plan_error, target};
use super::Outcome;
use crate::broker::Broker;
use kafka_protocol::messages::alter_configs_request::AlterConfigsResource;
use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{AlterConfigsRequest, AlterConfigsResponse};
use kafka_protocol::protocol::StrBytes;
use std::collections::BTreeSet;
use std::sync::Arc;
use weir_core::metadata::ControllerOp;

/// Handle an AlterConfigs request.
pub async fn handle(broker: &Arc<Broker>, request: AlterConfigsRequest, _version: i16) -> Outcome {
    let mut responses = Vec::with_capacity(request.resources.len());
    for resource in &request.resources {
        let result = alter_one(broker, resource, request.validate_only).await;
        let base = AlterConfigsResourceResponse::default()
            .with_resource_type(resource.resource_type)
            .with_resource_name(resource.resource_name.clone());
        responses.push(match result {
            Ok(()) => base,
            Err(e) => base
                .with_error_code(e.code)
                .with_error_message(e.message.map(StrBytes::from_string)),
        });
    }
    Outcome::respond(AlterConfigsResponse::default().with_responses(responses))
}

async fn alter_one(
    broker: &Broker,
    resource: &AlterConfigsResource,
    validate_only: bool,
) -> Result<(), ResourceError> {
    let target = target(
        resource.resource_type,
        resource.resource_name.as_str(),
        broker.config().node_id,
    )?;
    let wanted = wanted_configs(resource)?;
    let op = ControllerOp::ReplaceConfigs {
        resource: target,
        configs: wanted,
    };
    if validate_only {
        return op.plan(&broker.image()).map(|_| ()).map_err(plan_error);
    }
    broker
        .commit_op(op)
        .await
        .map(|_| ())
        .map_err(|e| ResourceError {
            code: e.error_code(),
            message: Some(e.to_string()),
        })
}

/// The requested (key, value) pairs; a key twice or a null value is
/// INVALID_REQUEST, as in Kafka.
fn wanted_configs(resource: &AlterConfigsResource) -> Result<Vec<(String, String)>, ResourceError> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::with_capacity(resource.configs.len());
    for config in &resource.configs {
        let name = config.name.as_str().to_string();
        if !seen.insert(name.clone()) {
            return Err(ResourceError::invalid_request(format!(
                "Duplicate key {name}"
            )));
        }
        let value = config.value.as_ref().ok_or_else(|| {
            ResourceError::invalid_request(format!("Null value not supported for {name}"))
        })?;
        out.push((name, value.as_str().to_string()));
    }
    Ok(out)
}
