//! DescribeLogDirs (key 35) on a real single-node broker, through
//! `api::dispatch`: after records are produced, the partition is reported
//! in its log dir with exactly the bytes of its `.log` files on disk and
//! no lag; a named partition restricts the answer; and the request's
//! frames pass the guard in every served version while hostile counts
//! are refused before decoding.

mod broker_common;
mod guard_common;

use broker_common::Harness;
use bytes::{Bytes, BytesMut};
use guard_common::{encode, frame};
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::describe_log_dirs_request::DescribableLogDirTopic;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, CreateTopicsRequest, DescribeLogDirsRequest, DescribeLogDirsResponse, ProduceRequest,
    RequestKind, ResponseKind, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use std::path::Path;
use std::time::{Duration, Instant};
use weir_broker::frame::{decode_request, FrameError, Malformed};
use weir_broker::guard::GuardError;

fn name(topic: &'static str) -> TopicName {
    TopicName(StrBytes::from_static_str(topic))
}

/// One uncompressed v2 batch of `count` records.
fn batch(count: usize) -> Bytes {
    let records: Vec<Record> = (0..count)
        .map(|i| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: -1,
            timestamp: 1_700_000_000_000,
            key: None,
            value: Some(Bytes::from(format!("value-{i}"))),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(&mut buf, &records, &options).unwrap();
    buf.freeze()
}

impl Harness {
    async fn create_topic(&self, topic: &'static str, partitions: i32) {
        let request = CreateTopicsRequest::default()
            .with_timeout_ms(10_000)
            .with_topics(vec![CreatableTopic::default()
                .with_name(name(topic))
                .with_num_partitions(partitions)
                .with_replication_factor(1)]);
        let ResponseKind::CreateTopics(response) = self
            .call(ApiKey::CreateTopics, 7, RequestKind::CreateTopics(request))
            .await
        else {
            panic!("not a CreateTopics response")
        };
        assert_eq!(response.topics[0].error_code, 0, "{response:?}");
    }

    /// Produce `count` records to `topic`-`partition` with acks=all,
    /// retrying while the new partition has no leader yet.
    async fn produce(&self, topic: &'static str, partition: i32, count: usize) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let request = ProduceRequest::default()
                .with_acks(-1)
                .with_timeout_ms(10_000)
                .with_topic_data(vec![TopicProduceData::default()
                    .with_name(name(topic))
                    .with_partition_data(vec![PartitionProduceData::default()
                        .with_index(partition)
                        .with_records(Some(batch(count)))])]);
            let ResponseKind::Produce(response) = self
                .call(ApiKey::Produce, 9, RequestKind::Produce(request))
                .await
            else {
                panic!("not a Produce response")
            };
            let code = response.responses[0].partition_responses[0].error_code;
            if code == 0 {
                return;
            }
            assert!(Instant::now() < deadline, "produce keeps failing: {code}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn describe_log_dirs(
        &self,
        version: i16,
        topics: Option<Vec<DescribableLogDirTopic>>,
    ) -> DescribeLogDirsResponse {
        let request = DescribeLogDirsRequest::default().with_topics(topics);
        let ResponseKind::DescribeLogDirs(response) = self
            .call(
                ApiKey::DescribeLogDirs,
                version,
                RequestKind::DescribeLogDirs(request),
            )
            .await
        else {
            panic!("not a DescribeLogDirs response")
        };
        response
    }
}

/// Bytes of the `.log` files in a partition's directory, read from disk.
fn log_file_bytes(partition_dir: &Path) -> i64 {
    let mut total = 0;
    for entry in std::fs::read_dir(partition_dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "log") {
            total += std::fs::metadata(&path).unwrap().len();
        }
    }
    i64::try_from(total).unwrap()
}

/// (topic, partition, size, lag, future) of every partition of a result.
fn partitions(response: &DescribeLogDirsResponse) -> Vec<(String, i32, i64, i64, bool)> {
    let [result] = response.results.as_slice() else {
        panic!("one log dir expected: {response:?}")
    };
    result
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(|p| {
                (
                    t.name.0.to_string(),
                    p.partition_index,
                    p.partition_size,
                    p.offset_lag,
                    p.is_future_key,
                )
            })
        })
        .collect()
}

#[tokio::test]
async fn produced_partitions_report_their_log_file_size_and_no_lag() {
    let h = Harness::start_with("").await;
    h.create_topic("t", 2).await;
    h.produce("t", 0, 5).await;
    h.produce("t", 0, 3).await;
    h.produce("t", 1, 1).await;
    let log_dir = h.broker.config().log_dirs[0].clone();
    let size_0 = log_file_bytes(&log_dir.join("t-0"));
    let size_1 = log_file_bytes(&log_dir.join("t-1"));
    assert!(size_0 > size_1 && size_1 > 0, "{size_0} {size_1}");

    for version in 1..=4 {
        let response = h.describe_log_dirs(version, None).await;
        assert_eq!(response.error_code, 0);
        let result = &response.results[0];
        assert_eq!(result.error_code, 0);
        assert_eq!(
            result.log_dir.as_str(),
            std::path::absolute(&log_dir).unwrap().to_str().unwrap()
        );
        assert_eq!((result.total_bytes, result.usable_bytes), (-1, -1));
        // Broker-internal dirs (group offsets, metadata) are not partitions.
        assert_eq!(
            partitions(&response),
            vec![
                ("t".to_string(), 0, size_0, 0, false),
                ("t".to_string(), 1, size_1, 0, false),
            ],
            "v{version}"
        );
    }

    let asked = vec![
        DescribableLogDirTopic::default()
            .with_topic(name("t"))
            .with_partitions(vec![1, 7]),
        DescribableLogDirTopic::default()
            .with_topic(name("nope"))
            .with_partitions(vec![0]),
    ];
    let response = h.describe_log_dirs(4, Some(asked)).await;
    assert_eq!(
        partitions(&response),
        vec![("t".to_string(), 1, size_1, 0, false)]
    );
}

fn admin_request() -> DescribeLogDirsRequest {
    // What Kafka's Admin sends for describeLogDirs(brokers): all topics.
    DescribeLogDirsRequest::default().with_topics(None)
}

#[test]
fn requests_decode_in_every_served_version() {
    let named =
        DescribeLogDirsRequest::default()
            .with_topics(Some(vec![DescribableLogDirTopic::default()
                .with_topic(name("orders"))
                .with_partitions(vec![0, 3])]));
    for version in 1..=4 {
        for request in [admin_request(), named.clone()] {
            let body = encode(&request.clone().into(), version);
            let decoded = decode_request(frame(ApiKey::DescribeLogDirs, version, 7, &body))
                .unwrap_or_else(|e| panic!("v{version}: {e}"));
            assert_eq!(
                decoded.body,
                RequestKind::DescribeLogDirs(request),
                "v{version}"
            );
        }
    }
}

fn body_error(result: Result<weir_broker::frame::Request, FrameError>) -> GuardError {
    match result {
        Err(FrameError::Malformed(Malformed::Body {
            api_key: ApiKey::DescribeLogDirs,
            error,
            ..
        })) => error,
        other => panic!("expected a refused DescribeLogDirs body, got {other:?}"),
    }
}

/// A topic count (and a partition count) no frame can back: unguarded,
/// `kafka-protocol` would reserve that many elements.
#[test]
fn huge_counts_are_refused_before_decoding() {
    // v4: compact array of 2^32 - 2 topics.
    let body = [0xff, 0xff, 0xff, 0xff, 0x0f, 0x00];
    let error = body_error(decode_request(frame(ApiKey::DescribeLogDirs, 4, 1, &body)));
    assert_eq!(
        error,
        GuardError::CountTooLarge {
            field: "topics",
            offset: 0,
            count: 4_294_967_294,
            remaining: 1,
        }
    );
    // v1: one topic "ab", then i32::MAX partitions.
    let mut body = vec![0, 0, 0, 1, 0, 2, b'a', b'b'];
    body.extend_from_slice(&i32::MAX.to_be_bytes());
    body.extend_from_slice(&[0, 0, 0, 0]);
    let error = body_error(decode_request(frame(ApiKey::DescribeLogDirs, 1, 1, &body)));
    assert!(error.to_string().starts_with("partitions"), "{error}");
}

#[test]
fn every_truncation_is_refused() {
    let named =
        DescribeLogDirsRequest::default()
            .with_topics(Some(vec![DescribableLogDirTopic::default()
                .with_topic(name("orders"))
                .with_partitions(vec![0, 3])]));
    for version in 1..=4 {
        let body = encode(&named.clone().into(), version);
        let whole = frame(ApiKey::DescribeLogDirs, version, 7, &body);
        for len in 0..whole.len() {
            assert!(
                decode_request(whole.slice(..len)).is_err(),
                "v{version} cut at {len}/{}",
                whole.len()
            );
        }
    }
}
