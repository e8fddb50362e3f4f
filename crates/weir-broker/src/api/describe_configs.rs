//! DescribeConfigs (key 32): the configuration of topics and of this
//! broker, with where each value comes from, as Kafka's `ConfigHelper`
//! reports it.
//!
//! - TOPIC: every topic key Kafka knows (`weir_core`'s table). A key the
//!   topic overrides is DYNAMIC_TOPIC_CONFIG; otherwise the value is the
//!   broker-wide one the topic inherits, STATIC_BROKER_CONFIG when the
//!   broker key (`segment.bytes` ← `log.segment.bytes`, ...) came from
//!   `server.properties`, DEFAULT_CONFIG otherwise. Synonyms follow
//!   Kafka's order: topic override, static broker keys, broker defaults,
//!   with everything before the topic key's own broker key dropped (so
//!   `retention.ms` inherited from `log.retention.hours` has no synonyms
//!   and source DEFAULT_CONFIG, exactly as Kafka answers).
//! - BROKER: named by this node's id, every setting Weir models (see
//!   [`crate::config::describe`] for how "from the file" is decided), all
//!   read-only because Weir cannot change broker settings at run time; an
//!   empty name is the cluster-wide dynamic defaults (none unless
//!   committed); another id is INVALID_REQUEST, as Kafka.
//! - BROKER_LOGGER and any other type: INVALID_REQUEST per resource (Weir
//!   has no run-time log levels, GROUP or CLIENT_METRICS configs).
//!
//! Documentation (v3+) is sent as an empty string when asked for: Weir
//! carries no config docs.

use super::Outcome;
use crate::broker::Broker;
use crate::config::describe::{BrokerSetting, SettingType};
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};
use kafka_protocol::protocol::StrBytes;
use std::collections::BTreeMap;
use std::sync::Arc;
use weir_core::metadata::topic_config::{split_list, ConfigType, TopicConfigDef, TOPIC_CONFIGS};
use weir_core::metadata::{validate_topic_name, ConfigResource, MetadataImage};

/// `ConfigResource.Type` ids.
pub const RESOURCE_TOPIC: i8 = 2;
/// `ConfigResource.Type.BROKER`.
pub const RESOURCE_BROKER: i8 = 4;
/// `ConfigResource.Type.BROKER_LOGGER`.
pub const RESOURCE_BROKER_LOGGER: i8 = 8;

/// `DescribeConfigsResponse.ConfigSource` ids.
pub const SOURCE_TOPIC_CONFIG: i8 = 1;
/// Set for this broker at run time.
pub const SOURCE_DYNAMIC_BROKER_CONFIG: i8 = 2;
/// Set cluster-wide at run time.
pub const SOURCE_DYNAMIC_DEFAULT_BROKER_CONFIG: i8 = 3;
/// Set in `server.properties`.
pub const SOURCE_STATIC_BROKER_CONFIG: i8 = 4;
/// Kafka's default.
pub const SOURCE_DEFAULT_CONFIG: i8 = 5;

/// Kafka's `Long.MAX_VALUE` default of `log.flush.scheduler.interval.ms`.
const MAX_LONG: &str = "9223372036854775807";

/// Broker keys Kafka reads as one setting in several units, in its
/// precedence order (`DynamicBrokerConfig.brokerConfigSynonyms`).
const SYNONYM_GROUPS: &[&[&str]] = &[
    &["log.roll.ms", "log.roll.hours"],
    &["log.roll.jitter.ms", "log.roll.jitter.hours"],
    &[
        "log.retention.ms",
        "log.retention.minutes",
        "log.retention.hours",
    ],
];

/// Kafka's defaults of the group members that have one; the `.ms` keys
/// default to null and so never appear as DEFAULT_CONFIG synonyms.
const GROUP_DEFAULTS: &[(&str, &str)] = &[
    ("log.roll.hours", "168"),
    ("log.roll.jitter.hours", "0"),
    ("log.retention.hours", "168"),
    ("log.flush.scheduler.interval.ms", MAX_LONG),
];

/// Broker keys whose Kafka default is null.
const NULL_DEFAULTS: &[&str] = &[
    "log.roll.ms",
    "log.roll.jitter.ms",
    "log.retention.ms",
    "log.retention.minutes",
    "log.flush.interval.ms",
];

/// Kafka's name of a resource type id, for error messages.
pub fn resource_type_name(id: i8) -> &'static str {
    match id {
        RESOURCE_TOPIC => "TOPIC",
        RESOURCE_BROKER => "BROKER",
        RESOURCE_BROKER_LOGGER => "BROKER_LOGGER",
        16 => "CLIENT_METRICS",
        32 => "GROUP",
        _ => "UNKNOWN",
    }
}

/// One synonym: a key whose value (in order) stands for the entry's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Synonym {
    /// The key (a topic or broker key).
    pub name: String,
    /// Its value.
    pub value: Option<String>,
    /// Where it is set (`SOURCE_*`).
    pub source: i8,
}

/// One described key, independent of the wire version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The key.
    pub name: String,
    /// Its value in force.
    pub value: Option<String>,
    /// Where that value comes from (`SOURCE_*`).
    pub source: i8,
    /// Whether IncrementalAlterConfigs can change it.
    pub read_only: bool,
    /// `DescribeConfigsResponse.ConfigType` id.
    pub config_type: i8,
    /// Every synonym, strongest first (the first one is the source).
    pub synonyms: Vec<Synonym>,
}

/// What the broker's settings give every key: Kafka's
/// `staticBrokerConfigs` and `staticDefaultConfigs`, and the values in
/// force (what topics inherit).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BrokerLayers {
    /// Keys taken as set in `server.properties`.
    pub static_configs: BTreeMap<String, String>,
    /// Kafka's default of every broker key that has one.
    pub default_configs: BTreeMap<String, String>,
    /// The value in force of every broker key Weir models.
    pub effective: BTreeMap<String, String>,
}

impl BrokerLayers {
    /// The layers from the broker's settings; defaults of broker keys
    /// Weir does not model come from the topic table (Kafka's topic
    /// defaults are its broker defaults).
    pub fn new(settings: &[BrokerSetting]) -> BrokerLayers {
        let mut layers = BrokerLayers::default();
        for def in TOPIC_CONFIGS {
            if let Some(key) = def.broker_synonym.filter(|k| !NULL_DEFAULTS.contains(k)) {
                layers
                    .default_configs
                    .insert(key.into(), def.default.into());
            }
        }
        for (key, value) in GROUP_DEFAULTS {
            layers
                .default_configs
                .insert((*key).into(), (*value).into());
        }
        for s in settings {
            layers.add(s);
        }
        layers
    }

    fn add(&mut self, s: &BrokerSetting) {
        match &s.default {
            Some(d) => self.default_configs.insert(s.name.into(), d.clone()),
            None => self.default_configs.remove(s.name),
        };
        if let Some(value) = &s.value {
            self.effective.insert(s.name.into(), value.clone());
            if s.from_file {
                self.static_configs.insert(s.name.into(), value.clone());
            }
        }
    }

    /// Kafka's `configSynonyms(name, brokerConfigSynonyms(name))`: the
    /// static then default values of `name`'s group, from `name` on.
    pub fn synonyms(&self, name: &str) -> Vec<Synonym> {
        let group = synonym_group(name);
        let mut list = Vec::new();
        let layers = [
            (&self.static_configs, SOURCE_STATIC_BROKER_CONFIG),
            (&self.default_configs, SOURCE_DEFAULT_CONFIG),
        ];
        for (map, source) in layers {
            for key in &group {
                if let Some(value) = map.get(*key) {
                    list.push(Synonym {
                        name: (*key).to_string(),
                        value: Some(value.clone()),
                        source,
                    });
                }
            }
        }
        let start = list.iter().position(|s| s.name == name);
        list.split_off(start.unwrap_or(list.len()))
    }
}

/// The keys Kafka reads for broker key `name`, strongest first.
fn synonym_group(name: &str) -> Vec<&str> {
    if name == "log.flush.interval.ms" {
        return vec![name, "log.flush.scheduler.interval.ms"];
    }
    SYNONYM_GROUPS
        .iter()
        .find(|g| g.contains(&name))
        .map_or_else(|| vec![name], |g| g.to_vec())
}

/// The entry of one topic key: the override if any, else the inherited
/// broker value (`LogConfig.fromProps(extractLogConfigMap, overrides)`).
pub fn topic_entry(
    def: &TopicConfigDef,
    override_value: Option<&str>,
    layers: &BrokerLayers,
) -> Entry {
    let mut synonyms = def
        .broker_synonym
        .map(|key| layers.synonyms(key))
        .unwrap_or_default();
    let value = match override_value {
        Some(raw) => {
            let value = normalize(def.config_type, raw);
            synonyms.insert(
                0,
                Synonym {
                    name: def.name.to_string(),
                    value: Some(value.clone()),
                    source: SOURCE_TOPIC_CONFIG,
                },
            );
            value
        }
        None => inherited_value(def, layers),
    };
    Entry {
        name: def.name.to_string(),
        value: Some(value),
        source: synonyms.first().map_or(SOURCE_DEFAULT_CONFIG, |s| s.source),
        read_only: false,
        config_type: topic_type_id(def.config_type),
        synonyms,
    }
}

/// The broker-wide value a topic without an override uses.
fn inherited_value(def: &TopicConfigDef, layers: &BrokerLayers) -> String {
    def.broker_synonym
        .and_then(|key| layers.effective.get(key))
        .cloned()
        .unwrap_or_else(|| def.default.to_string())
}

/// A value as Kafka prints it after parsing (`ConfigDef.convertToString`
/// of the parsed value): trimmed numbers, lower-case booleans, lists
/// joined by commas. Stored values were validated, so parsing succeeds;
/// if not, the raw text is shown.
pub fn normalize(config_type: ConfigType, raw: &str) -> String {
    let trimmed = raw.trim();
    match config_type {
        ConfigType::Int | ConfigType::Long => trimmed
            .parse::<i64>()
            .map_or_else(|_| trimmed.to_string(), |n| n.to_string()),
        ConfigType::Boolean => trimmed.to_ascii_lowercase(),
        ConfigType::Double => trimmed
            .parse::<f64>()
            .map_or_else(|_| trimmed.to_string(), java_double),
        ConfigType::String => trimmed.to_string(),
        ConfigType::List => split_list(raw).join(","),
    }
}

/// Java's `Double.toString` for the values a fraction can take: always a
/// fractional part, scientific notation below 10^-3 or from 10^7.
fn java_double(x: f64) -> String {
    let magnitude = x.abs();
    if magnitude != 0.0 && !(1e-3..1e7).contains(&magnitude) {
        let s = format!("{x:E}");
        return match s.split_once('E') {
            Some((m, e)) if !m.contains('.') => format!("{m}.0E{e}"),
            _ => s,
        };
    }
    if x.fract() == 0.0 {
        format!("{x:.1}")
    } else {
        format!("{x}")
    }
}

/// `DescribeConfigsResponse.ConfigType` id of a topic key's type.
fn topic_type_id(t: ConfigType) -> i8 {
    match t {
        ConfigType::Boolean => 1,
        ConfigType::String => 2,
        ConfigType::Int => 3,
        ConfigType::Long => 5,
        ConfigType::Double => 6,
        ConfigType::List => 7,
    }
}

/// `DescribeConfigsResponse.ConfigType` id of a broker key's type.
fn setting_type_id(t: SettingType) -> i8 {
    match t {
        SettingType::Boolean => 1,
        SettingType::String => 2,
        SettingType::Int => 3,
        SettingType::Short => 4,
        SettingType::Long => 5,
        SettingType::List => 7,
    }
}

/// The entry of one broker key. Weir has no dynamic broker configs, so
/// every key is read-only (Kafka's `readOnly` means "not dynamically
/// updatable").
pub fn broker_entry(setting: &BrokerSetting, layers: &BrokerLayers) -> Entry {
    let synonyms = layers.synonyms(setting.name);
    Entry {
        name: setting.name.to_string(),
        value: setting.value.clone(),
        source: synonyms.first().map_or(SOURCE_DEFAULT_CONFIG, |s| s.source),
        read_only: true,
        config_type: setting_type_id(setting.setting_type),
        synonyms,
    }
}

/// An error for one resource: code and optional message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceError {
    /// Kafka error code.
    pub code: i16,
    /// Message, if Kafka sends one.
    pub message: Option<String>,
}

impl ResourceError {
    /// INVALID_REQUEST with `message`.
    pub fn invalid_request(message: impl Into<String>) -> ResourceError {
        ResourceError {
            code: 42,
            message: Some(message.into()),
        }
    }
}

/// Kafka's `resourceNameToBrokerId`.
pub fn parse_broker_id(name: &str) -> Result<i32, ResourceError> {
    name.parse::<i32>().map_err(|_| {
        ResourceError::invalid_request(format!("Broker id must be an integer, but it is: {name}"))
    })
}

/// The request's options, as the version allows.
#[derive(Debug, Clone, Copy)]
struct Options {
    synonyms: bool,
    documentation: bool,
}

/// What describing needs, read once per request.
#[derive(Debug)]
struct Context {
    node_id: i32,
    image: Arc<MetadataImage>,
    settings: Vec<BrokerSetting>,
    layers: BrokerLayers,
}

/// Handle a DescribeConfigs request.
pub async fn handle(
    broker: &Arc<Broker>,
    request: DescribeConfigsRequest,
    version: i16,
) -> Outcome {
    let options = Options {
        synonyms: request.include_synonyms,
        documentation: version >= 3 && request.include_documentation,
    };
    let settings = broker.config().describe_settings();
    let context = Context {
        node_id: broker.config().node_id,
        image: broker.image(),
        layers: BrokerLayers::new(&settings),
        settings,
    };
    let results = request
        .resources
        .iter()
        .map(|r| to_result(r, describe(&context, r), options))
        .collect();
    Outcome::respond(DescribeConfigsResponse::default().with_results(results))
}

/// The entries of one resource, filtered by its `configuration_keys`.
fn describe(
    context: &Context,
    resource: &DescribeConfigsResource,
) -> Result<Vec<Entry>, ResourceError> {
    let name = resource.resource_name.as_str();
    let entries = match resource.resource_type {
        RESOURCE_TOPIC => describe_topic(&context.image, &context.layers, name)?,
        RESOURCE_BROKER => describe_broker(context, name)?,
        RESOURCE_BROKER_LOGGER => return Err(broker_logger_error(context.node_id, name)),
        other => {
            return Err(ResourceError::invalid_request(format!(
                "Unsupported resource type: {}",
                resource_type_name(other)
            )))
        }
    };
    Ok(filter_keys(entries, resource.configuration_keys.as_deref()))
}

/// `configuration_keys`: null or empty means every key; unknown keys are
/// left out silently (Kafka's `ConfigHelperUtils`).
fn filter_keys(entries: Vec<Entry>, keys: Option<&[StrBytes]>) -> Vec<Entry> {
    match keys {
        Some(keys) if !keys.is_empty() => entries
            .into_iter()
            .filter(|e| keys.iter().any(|k| k.as_str() == e.name))
            .collect(),
        _ => entries,
    }
}

fn describe_topic(
    image: &MetadataImage,
    layers: &BrokerLayers,
    name: &str,
) -> Result<Vec<Entry>, ResourceError> {
    validate_topic_name(name).map_err(|e| ResourceError {
        code: e.error_code(),
        message: Some(e.message().to_string()),
    })?;
    if image.topic_by_name(name).is_none() {
        // Kafka answers this one without a message.
        return Err(ResourceError {
            code: 3,
            message: None,
        });
    }
    let resource = ConfigResource::Topic(name.to_string());
    Ok(TOPIC_CONFIGS
        .iter()
        .map(|def| topic_entry(def, image.config(&resource, def.name), layers))
        .collect())
}

fn describe_broker(context: &Context, name: &str) -> Result<Vec<Entry>, ResourceError> {
    if name.is_empty() {
        return Ok(cluster_default_entries(&context.image));
    }
    let node_id = context.node_id;
    if parse_broker_id(name)? != node_id {
        return Err(ResourceError::invalid_request(format!(
            "Unexpected broker id, expected {node_id} or empty string, but received {name}"
        )));
    }
    Ok(context
        .settings
        .iter()
        .map(|s| broker_entry(s, &context.layers))
        .collect())
}

/// The cluster-wide dynamic broker defaults (Kafka's
/// `currentDynamicDefaultConfigs`), which only a committed Config record
/// for the cluster resource sets.
fn cluster_default_entries(image: &MetadataImage) -> Vec<Entry> {
    image
        .configs(&ConfigResource::Cluster)
        .map(|(name, value)| {
            let synonym = Synonym {
                name: name.to_string(),
                value: Some(value.to_string()),
                source: SOURCE_DYNAMIC_DEFAULT_BROKER_CONFIG,
            };
            Entry {
                name: name.to_string(),
                value: Some(value.to_string()),
                source: SOURCE_DYNAMIC_DEFAULT_BROKER_CONFIG,
                read_only: false,
                config_type: 0,
                synonyms: vec![synonym],
            }
        })
        .collect()
}

/// Kafka's checks of a BROKER_LOGGER name, then Weir's refusal: it has no
/// run-time log levels to show.
fn broker_logger_error(node_id: i32, name: &str) -> ResourceError {
    if name.is_empty() {
        return ResourceError::invalid_request("Broker id must not be empty");
    }
    match parse_broker_id(name) {
        Err(e) => e,
        Ok(id) if id != node_id => ResourceError::invalid_request(format!(
            "Unexpected broker id, expected {node_id} but received {name}"
        )),
        Ok(_) => ResourceError::invalid_request("Weir does not support BROKER_LOGGER resources"),
    }
}

/// The wire result of one resource.
fn to_result(
    resource: &DescribeConfigsResource,
    outcome: Result<Vec<Entry>, ResourceError>,
    options: Options,
) -> DescribeConfigsResult {
    let base = DescribeConfigsResult::default()
        .with_resource_type(resource.resource_type)
        .with_resource_name(resource.resource_name.clone());
    match outcome {
        Ok(entries) => base.with_configs(
            entries
                .into_iter()
                .map(|e| to_wire_entry(e, options))
                .collect(),
        ),
        Err(e) => base
            .with_error_code(e.code)
            .with_error_message(e.message.map(StrBytes::from_string)),
    }
}

fn to_wire_entry(entry: Entry, options: Options) -> DescribeConfigsResourceResult {
    let synonyms = match options.synonyms {
        true => entry.synonyms.into_iter().map(to_wire_synonym).collect(),
        false => Vec::new(),
    };
    DescribeConfigsResourceResult::default()
        .with_name(StrBytes::from_string(entry.name))
        .with_value(entry.value.map(StrBytes::from_string))
        .with_read_only(entry.read_only)
        .with_config_source(entry.source)
        .with_is_sensitive(false)
        .with_synonyms(synonyms)
        .with_config_type(entry.config_type)
        .with_documentation(options.documentation.then(StrBytes::default))
}

fn to_wire_synonym(s: Synonym) -> DescribeConfigsSynonym {
    DescribeConfigsSynonym::default()
        .with_name(StrBytes::from_string(s.name))
        .with_value(s.value.map(StrBytes::from_string))
        .with_source(s.source)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::BrokerConfig;
    use weir_core::metadata::topic_config::topic_config;

    fn layers(properties: &str) -> BrokerLayers {
        let text = format!("node.id=1\n{properties}");
        let config = BrokerConfig::parse(&text, &[]).unwrap().0;
        BrokerLayers::new(&config.describe_settings())
    }

    fn syn(name: &str, value: &str, source: i8) -> Synonym {
        Synonym {
            name: name.into(),
            value: Some(value.into()),
            source,
        }
    }

    fn entry(key: &str, override_value: Option<&str>, layers: &BrokerLayers) -> Entry {
        topic_entry(topic_config(key).unwrap(), override_value, layers)
    }

    #[test]
    fn inherited_default_has_kafkas_default_synonym() {
        let e = entry("segment.bytes", None, &layers(""));
        assert_eq!(e.value.as_deref(), Some("1073741824"));
        assert_eq!(e.source, SOURCE_DEFAULT_CONFIG);
        assert_eq!(
            e.synonyms,
            vec![syn(
                "log.segment.bytes",
                "1073741824",
                SOURCE_DEFAULT_CONFIG
            )]
        );
        assert_eq!((e.config_type, e.read_only), (3, false));
    }

    #[test]
    fn static_broker_key_comes_before_its_default() {
        let e = entry(
            "segment.bytes",
            None,
            &layers("log.segment.bytes=2097152\n"),
        );
        assert_eq!(e.value.as_deref(), Some("2097152"));
        assert_eq!(e.source, SOURCE_STATIC_BROKER_CONFIG);
        assert_eq!(
            e.synonyms,
            vec![
                syn("log.segment.bytes", "2097152", SOURCE_STATIC_BROKER_CONFIG),
                syn("log.segment.bytes", "1073741824", SOURCE_DEFAULT_CONFIG),
            ]
        );
    }

    #[test]
    fn topic_override_comes_first() {
        let l = layers("message.max.bytes=2000000\n");
        let e = entry("max.message.bytes", Some(" 5000 "), &l);
        assert_eq!(e.value.as_deref(), Some("5000"));
        assert_eq!(e.source, SOURCE_TOPIC_CONFIG);
        assert_eq!(
            e.synonyms,
            vec![
                syn("max.message.bytes", "5000", SOURCE_TOPIC_CONFIG),
                syn("message.max.bytes", "2000000", SOURCE_STATIC_BROKER_CONFIG),
                syn("message.max.bytes", "1048588", SOURCE_DEFAULT_CONFIG),
            ]
        );
    }

    #[test]
    fn retention_ms_drops_synonyms_before_its_own_key_as_kafka() {
        // Only log.retention.hours has a Kafka default: dropped.
        let e = entry("retention.ms", None, &layers(""));
        assert_eq!(e.value.as_deref(), Some("604800000"));
        assert_eq!((e.source, e.synonyms.len()), (SOURCE_DEFAULT_CONFIG, 0));
        // Set in the file: static log.retention.ms, then the hours default.
        let e = entry("retention.ms", None, &layers("log.retention.ms=1000\n"));
        assert_eq!(e.value.as_deref(), Some("1000"));
        assert_eq!(
            e.synonyms,
            vec![
                syn("log.retention.ms", "1000", SOURCE_STATIC_BROKER_CONFIG),
                syn("log.retention.hours", "168", SOURCE_DEFAULT_CONFIG),
            ]
        );
    }

    #[test]
    fn keys_weir_does_not_model_use_the_table_and_no_broker_key_means_no_synonym() {
        let l = layers("");
        let e = entry("cleanup.policy", Some("compact, delete"), &l);
        assert_eq!(e.value.as_deref(), Some("compact,delete"));
        assert_eq!(
            e.synonyms[1..],
            [syn("log.cleanup.policy", "delete", SOURCE_DEFAULT_CONFIG)]
        );
        let e = entry("remote.storage.enable", None, &l);
        assert_eq!((e.value.as_deref(), e.synonyms.len()), (Some("false"), 0));
        assert_eq!(e.source, SOURCE_DEFAULT_CONFIG);
        let e = entry("flush.ms", None, &l);
        assert_eq!(e.value.as_deref(), Some(MAX_LONG));
        assert!(e.synonyms.is_empty());
    }

    #[test]
    fn min_insync_replicas_inherits_the_broker_setting() {
        let e = entry(
            "min.insync.replicas",
            None,
            &layers("min.insync.replicas=2\n"),
        );
        assert_eq!(e.value.as_deref(), Some("2"));
        assert_eq!(e.source, SOURCE_STATIC_BROKER_CONFIG);
    }

    #[test]
    fn broker_entries_are_read_only_with_sources() {
        let config = BrokerConfig::parse("node.id=1\nnum.partitions=3\n", &[])
            .unwrap()
            .0;
        let settings = config.describe_settings();
        let l = BrokerLayers::new(&settings);
        let find = |n: &str| broker_entry(settings.iter().find(|s| s.name == n).unwrap(), &l);
        let partitions = find("num.partitions");
        assert_eq!(partitions.source, SOURCE_STATIC_BROKER_CONFIG);
        assert_eq!(
            partitions.synonyms,
            vec![
                syn("num.partitions", "3", SOURCE_STATIC_BROKER_CONFIG),
                syn("num.partitions", "1", SOURCE_DEFAULT_CONFIG),
            ]
        );
        assert!(partitions.read_only);
        let rack = find("broker.rack");
        assert_eq!((rack.value, rack.source), (None, SOURCE_DEFAULT_CONFIG));
        assert_eq!(find("offsets.topic.replication.factor").config_type, 4);
    }

    #[test]
    fn normalize_prints_parsed_values() {
        assert_eq!(normalize(ConfigType::Long, " 0100 "), "100");
        assert_eq!(normalize(ConfigType::Boolean, "TRUE"), "true");
        assert_eq!(normalize(ConfigType::List, " a , b "), "a,b");
        assert_eq!(normalize(ConfigType::List, ""), "");
        assert_eq!(normalize(ConfigType::Double, "1"), "1.0");
        assert_eq!(normalize(ConfigType::Double, "0.25"), "0.25");
        assert_eq!(normalize(ConfigType::Double, "0.0001"), "1.0E-4");
        assert_eq!(normalize(ConfigType::Int, "x"), "x");
    }

    #[test]
    fn broker_ids_as_kafka_parses_them() {
        assert_eq!(parse_broker_id("7"), Ok(7));
        let e = parse_broker_id("seven").unwrap_err();
        assert_eq!(e.code, 42);
        assert_eq!(
            e.message.as_deref(),
            Some("Broker id must be an integer, but it is: seven")
        );
    }

    #[test]
    fn filter_keeps_requested_keys_only() {
        let l = layers("");
        let entries: Vec<Entry> = TOPIC_CONFIGS
            .iter()
            .map(|d| topic_entry(d, None, &l))
            .collect();
        let all = filter_keys(entries.clone(), Some(&[]));
        assert_eq!(all.len(), TOPIC_CONFIGS.len());
        let keys = [
            StrBytes::from_static_str("segment.ms"),
            StrBytes::from_static_str("nope"),
        ];
        let some = filter_keys(entries, Some(&keys));
        assert_eq!(some.len(), 1);
        assert_eq!(some[0].name, "segment.ms");
    }
}
