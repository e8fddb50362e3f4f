//! Planning of IncrementalAlterConfigs (KIP-339), after Kafka's
//! `ConfigurationControlManager.incrementalAlterConfigResource` and
//! `ControllerConfigurationValidator`.

use super::image::MetadataImage;
use super::plan_error::PlanError;
use super::records::{ConfigResource, MetadataRecord};
use super::topic_config::{split_list, topic_config, validate_topic_config, ConfigType};
use super::topic_name::validate_topic_name;

/// Kafka's `AlterConfigOp.OpType`.
#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlterConfigOpType {
    /// Set the value.
    Set,
    /// Remove the override.
    Delete,
    /// Add items to a LIST value.
    Append,
    /// Remove items from a LIST value.
    Subtract,
}

impl AlterConfigOpType {
    /// From the wire code (`config_operation`: 0 set, 1 delete, 2 append,
    /// 3 subtract).
    pub fn from_code(code: i8) -> Option<Self> {
        Some(match code {
            0 => AlterConfigOpType::Set,
            1 => AlterConfigOpType::Delete,
            2 => AlterConfigOpType::Append,
            3 => AlterConfigOpType::Subtract,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            AlterConfigOpType::Set => "SET",
            AlterConfigOpType::Delete => "DELETE",
            AlterConfigOpType::Append => "APPEND",
            AlterConfigOpType::Subtract => "SUBTRACT",
        }
    }
}

/// One key to alter (`AlterableConfig`).
#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct AlterConfigOp {
    /// Configuration key.
    pub name: String,
    /// What to do.
    pub op: AlterConfigOpType,
    /// The operand; ignored by `Delete`.
    pub value: Option<String>,
}

/// The `Config` records for one resource of an IncrementalAlterConfigs
/// request, in request order.
///
/// Topic keys are checked against [`super::topic_config`]; broker and
/// cluster keys are not (the broker checks its own dynamic keys, as
/// Kafka's controller leaves them to `KafkaConfig`). A key whose value
/// does not change yields no record, except on brokers, where Kafka
/// always writes one so the broker reloads it (KAFKA-14136).
pub fn plan_alter_configs(
    image: &MetadataImage,
    resource: &ConfigResource,
    ops: &[AlterConfigOp],
) -> Result<Vec<MetadataRecord>, PlanError> {
    check_resource(image, resource)?;
    check_unique_keys(ops)?;
    let mut records = Vec::new();
    for op in ops {
        let current = image.config(resource, &op.name);
        let new_value = altered_value(resource, op, current)?;
        if let (ConfigResource::Topic(_), Some(value)) = (resource, &new_value) {
            validate_topic_config(&op.name, value).map_err(PlanError::InvalidConfig)?;
        }
        let always = matches!(resource, ConfigResource::Broker(_));
        if always || new_value.as_deref() != current {
            records.push(MetadataRecord::Config {
                resource: resource.clone(),
                name: op.name.clone(),
                value: new_value,
            });
        }
    }
    Ok(records)
}

/// `ControllerConfigurationValidator.validate(resource)` plus the
/// existence check: a topic must exist, a broker id must not be negative.
fn check_resource(image: &MetadataImage, resource: &ConfigResource) -> Result<(), PlanError> {
    match resource {
        ConfigResource::Topic(name) if name.is_empty() => Err(PlanError::InvalidRequest(
            "Default topic resources are not allowed.".into(),
        )),
        ConfigResource::Topic(name) => {
            validate_topic_name(name)?;
            match image.topic_by_name(name) {
                Some(_) => Ok(()),
                None => Err(PlanError::unknown_topic()),
            }
        }
        ConfigResource::Broker(id) if *id < 0 => Err(PlanError::InvalidRequest(
            "Invalid negative broker ID.".into(),
        )),
        ConfigResource::Broker(_) | ConfigResource::Cluster => Ok(()),
    }
}

/// Kafka's `ConfigAdminManager.preprocess` refuses a key given twice.
fn check_unique_keys(ops: &[AlterConfigOp]) -> Result<(), PlanError> {
    for (i, op) in ops.iter().enumerate() {
        if ops[..i].iter().any(|o| o.name == op.name) {
            return Err(PlanError::InvalidRequest(
                "Error due to duplicate config keys".into(),
            ));
        }
    }
    Ok(())
}

/// The value after `op`; `None` means deleted.
fn altered_value(
    resource: &ConfigResource,
    op: &AlterConfigOp,
    current: Option<&str>,
) -> Result<Option<String>, PlanError> {
    if op.op == AlterConfigOpType::Delete {
        return Ok(None);
    }
    let Some(operand) = op.value.as_deref() else {
        return Err(PlanError::InvalidConfig(format!(
            "Null value not supported for configs: {}",
            op.name
        )));
    };
    if op.op == AlterConfigOpType::Set {
        return Ok(Some(operand.to_string()));
    }
    let list = list_default(resource, &op.name).ok_or_else(|| {
        PlanError::InvalidConfig(format!(
            "Can't {} to key {} because its type is not LIST.",
            op.op.name(),
            op.name
        ))
    })?;
    // Kafka's `getParts` drops empty items.
    let mut items: Vec<&str> = split_list(current.unwrap_or(list))
        .into_iter()
        .filter(|i| !i.is_empty())
        .collect();
    for item in operand.split(',') {
        match op.op {
            AlterConfigOpType::Append if !items.contains(&item) => items.push(item),
            AlterConfigOpType::Subtract => items.retain(|i| *i != item),
            _ => {}
        }
    }
    Ok(Some(items.join(",")))
}

/// The default of a LIST key (what APPEND and SUBTRACT start from when the
/// key is unset, as Kafka's `getParts`), or `None` when the key is no list.
fn list_default(resource: &ConfigResource, name: &str) -> Option<&'static str> {
    match resource {
        ConfigResource::Topic(_) => topic_config(name)
            .filter(|d| d.config_type == ConfigType::List)
            .map(|d| d.default),
        _ => None,
    }
}
