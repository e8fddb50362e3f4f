//! DescribeConfigs and IncrementalAlterConfigs through `api::dispatch` on
//! a real broker in a temp dir: sources and synonyms of topic and broker
//! keys, SET/DELETE round trips, validate_only, per-resource errors, and
//! every response encoded at every version Weir serves.

mod broker_common;
use broker_common::Harness;
use bytes::BytesMut;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult,
};
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{
    ApiKey, CreateTopicsRequest, DescribeConfigsRequest, DescribeConfigsResponse,
    IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse, RequestKind, ResponseKind,
    TopicName,
};
use kafka_protocol::protocol::{Encodable, StrBytes};
use weir_broker::api::supported_versions;
use weir_core::metadata::topic_config::TOPIC_CONFIGS;

const TOPIC: i8 = 2;
const BROKER: i8 = 4;
const BROKER_LOGGER: i8 = 8;
const SOURCE_TOPIC: i8 = 1;
const SOURCE_STATIC: i8 = 4;
const SOURCE_DEFAULT: i8 = 5;

impl Harness {
    async fn create_topic(&self, name: &'static str, configs: &[(&'static str, &'static str)]) {
        let topic = CreatableTopic::default()
            .with_name(TopicName(StrBytes::from_static_str(name)))
            .with_num_partitions(1)
            .with_replication_factor(1)
            .with_configs(
                configs
                    .iter()
                    .map(|(k, v)| {
                        CreatableTopicConfig::default()
                            .with_name(StrBytes::from_static_str(k))
                            .with_value(Some(StrBytes::from_static_str(v)))
                    })
                    .collect(),
            );
        let request = CreateTopicsRequest::default().with_topics(vec![topic]);
        let ResponseKind::CreateTopics(response) = self
            .call(ApiKey::CreateTopics, 7, RequestKind::CreateTopics(request))
            .await
        else {
            panic!("not a CreateTopics response");
        };
        assert_eq!(response.topics[0].error_code, 0, "{response:?}");
    }

    /// DescribeConfigs at v4 with synonyms; the response is also encoded
    /// at every supported version.
    async fn describe(
        &self,
        resources: Vec<DescribeConfigsResource>,
    ) -> Vec<DescribeConfigsResult> {
        let request = DescribeConfigsRequest::default()
            .with_resources(resources)
            .with_include_synonyms(true)
            .with_include_documentation(true);
        let ResponseKind::DescribeConfigs(response) = self
            .call(
                ApiKey::DescribeConfigs,
                4,
                RequestKind::DescribeConfigs(request),
            )
            .await
        else {
            panic!("not a DescribeConfigs response");
        };
        encode_describe(&response);
        response.results
    }

    async fn alter(
        &self,
        resources: Vec<AlterConfigsResource>,
        validate_only: bool,
    ) -> Vec<AlterConfigsResourceResponse> {
        let request = IncrementalAlterConfigsRequest::default()
            .with_resources(resources)
            .with_validate_only(validate_only);
        let ResponseKind::IncrementalAlterConfigs(response) = self
            .call(
                ApiKey::IncrementalAlterConfigs,
                1,
                RequestKind::IncrementalAlterConfigs(request),
            )
            .await
        else {
            panic!("not an IncrementalAlterConfigs response");
        };
        encode_alter(&response);
        response.responses
    }

    async fn topic_entry(
        &self,
        topic: &'static str,
        key: &'static str,
    ) -> DescribeConfigsResourceResult {
        let results = self.describe(vec![resource(TOPIC, topic, &[key])]).await;
        assert_eq!(results[0].error_code, 0, "{:?}", results[0]);
        assert_eq!(results[0].configs.len(), 1);
        results[0].configs[0].clone()
    }
}

fn resource(
    resource_type: i8,
    name: &'static str,
    keys: &[&'static str],
) -> DescribeConfigsResource {
    let keys =
        (!keys.is_empty()).then(|| keys.iter().map(|k| StrBytes::from_static_str(k)).collect());
    DescribeConfigsResource::default()
        .with_resource_type(resource_type)
        .with_resource_name(StrBytes::from_static_str(name))
        .with_configuration_keys(keys)
}

fn alter_resource(
    resource_type: i8,
    name: &'static str,
    ops: &[(&'static str, i8, Option<&'static str>)],
) -> AlterConfigsResource {
    AlterConfigsResource::default()
        .with_resource_type(resource_type)
        .with_resource_name(StrBytes::from_static_str(name))
        .with_configs(
            ops.iter()
                .map(|(name, op, value)| {
                    AlterableConfig::default()
                        .with_name(StrBytes::from_static_str(name))
                        .with_config_operation(*op)
                        .with_value(value.map(StrBytes::from_static_str))
                })
                .collect(),
        )
}

fn encode_describe(response: &DescribeConfigsResponse) {
    let (min, max) = supported_versions(ApiKey::DescribeConfigs).unwrap();
    for version in min..=max {
        let mut buf = BytesMut::new();
        response
            .encode(&mut buf, version)
            .unwrap_or_else(|e| panic!("DescribeConfigs v{version}: {e}"));
    }
}

fn encode_alter(response: &IncrementalAlterConfigsResponse) {
    let (min, max) = supported_versions(ApiKey::IncrementalAlterConfigs).unwrap();
    for version in min..=max {
        let mut buf = BytesMut::new();
        response
            .encode(&mut buf, version)
            .unwrap_or_else(|e| panic!("IncrementalAlterConfigs v{version}: {e}"));
    }
}

fn value(entry: &DescribeConfigsResourceResult) -> Option<&str> {
    entry.value.as_ref().map(|v| v.as_str())
}

fn synonym_sources(entry: &DescribeConfigsResourceResult) -> Vec<(&str, i8)> {
    entry
        .synonyms
        .iter()
        .map(|s| (s.name.as_str(), s.source))
        .collect()
}

#[tokio::test]
async fn topic_configs_show_overrides_defaults_and_static_broker_keys() {
    let h = Harness::start_with("message.max.bytes=2000000\n").await;
    h.create_topic("t", &[("retention.ms", "1000")]).await;

    let results = h.describe(vec![resource(TOPIC, "t", &[])]).await;
    assert_eq!(
        (results[0].error_code, results[0].resource_type),
        (0, TOPIC)
    );
    assert_eq!(results[0].resource_name.as_str(), "t");
    let configs = &results[0].configs;
    assert_eq!(configs.len(), TOPIC_CONFIGS.len());
    let find = |name: &str| configs.iter().find(|c| c.name.as_str() == name).unwrap();

    let retention = find("retention.ms");
    assert_eq!(value(retention), Some("1000"));
    assert_eq!(retention.config_source, SOURCE_TOPIC);
    assert_eq!(synonym_sources(retention), [("retention.ms", SOURCE_TOPIC)]);
    assert_eq!(retention.config_type, 5);
    assert!(!retention.read_only && !retention.is_sensitive);
    assert_eq!(
        retention.documentation.as_ref().map(|d| d.as_str()),
        Some("")
    );

    let segment = find("segment.bytes");
    assert_eq!(value(segment), Some("1073741824"));
    assert_eq!(segment.config_source, SOURCE_DEFAULT);
    assert_eq!(
        synonym_sources(segment),
        [("log.segment.bytes", SOURCE_DEFAULT)]
    );

    let max = find("max.message.bytes");
    assert_eq!(value(max), Some("2000000"));
    assert_eq!(max.config_source, SOURCE_STATIC);
    assert_eq!(
        synonym_sources(max),
        [
            ("message.max.bytes", SOURCE_STATIC),
            ("message.max.bytes", SOURCE_DEFAULT)
        ]
    );
    h.broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn keys_filter_and_synonyms_off_at_every_version() {
    let h = Harness::start_with("message.max.bytes=2000000\n").await;
    h.create_topic("t", &[]).await;
    for version in 1..=4 {
        let request = DescribeConfigsRequest::default()
            .with_resources(vec![resource(TOPIC, "t", &["segment.ms", "no.such.key"])])
            .with_include_synonyms(false);
        let ResponseKind::DescribeConfigs(response) = h
            .call(
                ApiKey::DescribeConfigs,
                version,
                RequestKind::DescribeConfigs(request),
            )
            .await
        else {
            panic!("not a DescribeConfigs response");
        };
        encode_describe(&response);
        let configs = &response.results[0].configs;
        assert_eq!(configs.len(), 1);
        assert_eq!(configs[0].name.as_str(), "segment.ms");
        assert!(configs[0].synonyms.is_empty());
        assert_eq!(configs[0].documentation, None);
    }
    h.broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn resource_errors_as_kafka() {
    let h = Harness::start_with("message.max.bytes=2000000\n").await;
    let results = h
        .describe(vec![
            resource(TOPIC, "missing", &[]),
            resource(TOPIC, "", &[]),
            resource(BROKER, "2", &[]),
            resource(BROKER, "one", &[]),
            resource(BROKER_LOGGER, "1", &[]),
            resource(32, "group", &[]),
            resource(BROKER, "", &[]),
        ])
        .await;
    let codes: Vec<i16> = results.iter().map(|r| r.error_code).collect();
    assert_eq!(codes, [3, 17, 42, 42, 42, 42, 0]);
    assert!(results.iter().all(|r| r.configs.is_empty()));
    assert_eq!(results[0].error_message, None);
    assert_eq!(
        results[2].error_message.as_ref().unwrap().as_str(),
        "Unexpected broker id, expected 1 or empty string, but received 2"
    );
    h.broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn broker_settings_with_sources() {
    let h = Harness::start_with("message.max.bytes=2000000\n").await;
    let results = h.describe(vec![resource(BROKER, "1", &[])]).await;
    assert_eq!(results[0].error_code, 0);
    let configs = &results[0].configs;
    let find = |name: &str| configs.iter().find(|c| c.name.as_str() == name).unwrap();
    let max = find("message.max.bytes");
    assert_eq!(value(max), Some("2000000"));
    assert_eq!((max.config_source, max.read_only), (SOURCE_STATIC, true));
    let partitions = find("num.partitions");
    assert_eq!(value(partitions), Some("1"));
    assert_eq!(partitions.config_source, SOURCE_DEFAULT);
    assert_eq!(find("node.id").config_source, SOURCE_STATIC);
    assert!(configs.iter().all(|c| c.read_only && !c.is_sensitive));
    h.broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn set_then_delete_round_trips() {
    let h = Harness::start_with("message.max.bytes=2000000\n").await;
    h.create_topic("t", &[("retention.ms", "1000")]).await;

    let set = alter_resource(TOPIC, "t", &[("segment.ms", 0, Some("3600000"))]);
    let responses = h.alter(vec![set], false).await;
    assert_eq!(responses[0].error_code, 0, "{responses:?}");
    assert_eq!(
        (
            responses[0].resource_type,
            responses[0].resource_name.as_str()
        ),
        (TOPIC, "t")
    );
    let segment = h.topic_entry("t", "segment.ms").await;
    assert_eq!(
        (value(&segment), segment.config_source),
        (Some("3600000"), SOURCE_TOPIC)
    );

    let delete = alter_resource(TOPIC, "t", &[("retention.ms", 1, None)]);
    assert_eq!(h.alter(vec![delete], false).await[0].error_code, 0);
    let retention = h.topic_entry("t", "retention.ms").await;
    assert_eq!(value(&retention), Some("604800000"));
    assert_eq!(retention.config_source, SOURCE_DEFAULT);

    let image = h.broker.image();
    let log_config = h.broker.topic_log_config(&image, "t");
    assert_eq!(
        (log_config.segment_ms, log_config.retention_ms),
        (3_600_000, 604_800_000)
    );
    h.broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn validate_only_changes_nothing_and_lists_append() {
    let h = Harness::start_with("message.max.bytes=2000000\n").await;
    h.create_topic("t", &[]).await;
    let set = alter_resource(TOPIC, "t", &[("segment.ms", 0, Some("3600000"))]);
    assert_eq!(h.alter(vec![set], true).await[0].error_code, 0);
    let segment = h.topic_entry("t", "segment.ms").await;
    assert_eq!(segment.config_source, SOURCE_DEFAULT);

    let append = alter_resource(TOPIC, "t", &[("cleanup.policy", 2, Some("compact"))]);
    assert_eq!(h.alter(vec![append], false).await[0].error_code, 0);
    let policy = h.topic_entry("t", "cleanup.policy").await;
    assert_eq!(value(&policy), Some("delete,compact"));
    h.broker.shutdown().await.unwrap();
}

#[tokio::test]
async fn alter_errors_per_resource() {
    let h = Harness::start_with("message.max.bytes=2000000\n").await;
    for topic in ["t", "v", "w"] {
        h.create_topic(topic, &[]).await;
    }
    let responses = h
        .alter(
            vec![
                alter_resource(TOPIC, "missing", &[("retention.ms", 0, Some("1"))]),
                alter_resource(TOPIC, "t", &[("retention.ms", 0, Some("soon"))]),
                alter_resource(TOPIC, "v", &[("no.such.key", 0, Some("1"))]),
                alter_resource(BROKER, "1", &[("num.partitions", 0, Some("3"))]),
                alter_resource(BROKER_LOGGER, "1", &[("root", 0, Some("DEBUG"))]),
                alter_resource(TOPIC, "u", &[]),
                alter_resource(TOPIC, "u", &[]),
                alter_resource(TOPIC, "w", &[("segment.ms", 0, None)]),
            ],
            false,
        )
        .await;
    let codes: Vec<i16> = responses.iter().map(|r| r.error_code).collect();
    assert_eq!(codes, [3, 40, 40, 42, 42, 42, 42, 42]);
    assert!(responses.iter().all(|r| r.error_message.is_some()));
    assert_eq!(
        responses[5].error_message.as_ref().unwrap().as_str(),
        "Each resource must appear at most once."
    );
    let retention = h.topic_entry("t", "retention.ms").await;
    assert_eq!(retention.config_source, SOURCE_DEFAULT);
    h.broker.shutdown().await.unwrap();
}
