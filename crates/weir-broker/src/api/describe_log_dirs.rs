//! DescribeLogDirs (key 35, KIP-113): per log dir, the partitions this
//! broker has a log for, with each log's size and how far its end lags
//! behind the high watermark, as `kafka-log-dirs.sh --describe` asks for
//! them through the Admin client (`describeLogDirs`).
//!
//! The answer follows Kafka's `ReplicaManager.describeLogDirs`: one result
//! per configured log dir (its absolute path, even when it holds nothing),
//! `topics == null` meaning every partition, a requested partition without
//! a log here simply left out, and for a current (non-future) log
//! `offset_lag = max(0, high watermark - log end offset)`. Weir has no
//! offline log dirs (KIP-112) nor future replicas (KIP-113's
//! `-future` dirs are not loaded), so every dir answers error 0 and every
//! partition `is_future_key = false`. Volume sizes (v4, KIP-827) would need
//! `statvfs`, which the standard library does not offer: they are -1,
//! Kafka's `UNKNOWN_VOLUME_BYTES`.

use super::Outcome;
use crate::broker::Broker;
use crate::log_manager::LogDescription;
use kafka_protocol::messages::describe_log_dirs_request::DescribableLogDirTopic;
use kafka_protocol::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use kafka_protocol::messages::{DescribeLogDirsRequest, DescribeLogDirsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError};
use weir_protocol::TopicPartition;
use weir_storage::log::Log;

/// Kafka's `DescribeLogDirsResponse.UNKNOWN_VOLUME_BYTES`.
pub const UNKNOWN_VOLUME_BYTES: i64 = -1;

/// Handle a DescribeLogDirs request.
pub async fn handle(
    broker: &Arc<Broker>,
    request: DescribeLogDirsRequest,
    _version: i16,
) -> Outcome {
    let logs = local_logs(broker);
    let hwms = broker.high_watermarks();
    Outcome::respond(describe(
        &broker.config().log_dirs,
        &logs,
        &hwms,
        request.topics.as_deref(),
    ))
}

/// The logs of the partitions this broker leads or follows. (The broker
/// does not hand out its `LogManager`; once it does,
/// [`crate::log_manager::LogManager::describe`] answers this and also
/// covers logs no partition uses.)
fn local_logs(broker: &Broker) -> Vec<LogDescription> {
    let describe = |tp: &TopicPartition, log: &Log| {
        let log_dir = log.dir().parent()?;
        Some(LogDescription::of(log_dir, tp, log))
    };
    let led = broker.led_partitions();
    let led = led
        .iter()
        .filter_map(|p| p.with_log(|log| describe(&p.tp, log)));
    let followed = broker.followed_partitions();
    let followed = followed.iter().filter_map(|f| {
        let log = f.log().lock().unwrap_or_else(PoisonError::into_inner);
        describe(&f.tp, &log)
    });
    led.chain(followed).collect()
}

/// The answer for `logs` in `log_dirs` (config order), restricted to
/// `topics` unless it is null. A partition missing from `hwms` counts as
/// high watermark 0, so its lag is 0.
pub fn describe(
    log_dirs: &[PathBuf],
    logs: &[LogDescription],
    hwms: &BTreeMap<TopicPartition, i64>,
    topics: Option<&[DescribableLogDirTopic]>,
) -> DescribeLogDirsResponse {
    let wanted: Option<BTreeSet<(&str, i32)>> = topics.map(|topics| {
        topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(|&p| (t.topic.0.as_str(), p)))
            .collect()
    });
    let is_wanted = |tp: &TopicPartition| match &wanted {
        None => true,
        Some(w) => w.contains(&(tp.topic.as_str(), tp.partition)),
    };
    let results = log_dirs
        .iter()
        .map(|dir| {
            let here = logs
                .iter()
                .filter(|l| l.log_dir == *dir && is_wanted(&l.tp));
            dir_result(dir, here, hwms)
        })
        .collect();
    DescribeLogDirsResponse::default()
        .with_throttle_time_ms(0)
        .with_error_code(0)
        .with_results(results)
}

/// One log dir's result: its partitions grouped by topic, both in order.
fn dir_result<'a>(
    dir: &Path,
    logs: impl Iterator<Item = &'a LogDescription>,
    hwms: &BTreeMap<TopicPartition, i64>,
) -> DescribeLogDirsResult {
    let mut by_topic: BTreeMap<&str, BTreeMap<i32, DescribeLogDirsPartition>> = BTreeMap::new();
    for log in logs {
        let high_watermark = hwms.get(&log.tp).copied().unwrap_or(0);
        let partition = DescribeLogDirsPartition::default()
            .with_partition_index(log.tp.partition)
            .with_partition_size(i64::try_from(log.size_bytes).unwrap_or(i64::MAX))
            .with_offset_lag((high_watermark - log.log_end_offset).max(0))
            .with_is_future_key(false);
        by_topic
            .entry(log.tp.topic.as_str())
            .or_default()
            .insert(log.tp.partition, partition);
    }
    let topics = by_topic
        .into_iter()
        .map(|(name, partitions)| {
            DescribeLogDirsTopic::default()
                .with_name(TopicName(StrBytes::from_string(name.to_string())))
                .with_partitions(partitions.into_values().collect())
        })
        .collect();
    // Kafka reports `Paths.get(logDir).toAbsolutePath`.
    let absolute = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    DescribeLogDirsResult::default()
        .with_error_code(0)
        .with_log_dir(StrBytes::from_string(absolute.display().to_string()))
        .with_topics(topics)
        .with_total_bytes(UNKNOWN_VOLUME_BYTES)
        .with_usable_bytes(UNKNOWN_VOLUME_BYTES)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(dir: &str, topic: &str, partition: i32, size_bytes: u64, leo: i64) -> LogDescription {
        LogDescription {
            log_dir: PathBuf::from(dir),
            tp: TopicPartition::new(topic, partition),
            size_bytes,
            log_end_offset: leo,
        }
    }

    /// (dir, error, [(topic, [(partition, size, lag, future)])]) of a response.
    type Row = (String, i16, Vec<(String, Vec<(i32, i64, i64, bool)>)>);

    fn rows(response: &DescribeLogDirsResponse) -> Vec<Row> {
        response
            .results
            .iter()
            .map(|r| {
                let topics = r
                    .topics
                    .iter()
                    .map(|t| {
                        let partitions = t
                            .partitions
                            .iter()
                            .map(|p| {
                                (
                                    p.partition_index,
                                    p.partition_size,
                                    p.offset_lag,
                                    p.is_future_key,
                                )
                            })
                            .collect();
                        (t.name.0.to_string(), partitions)
                    })
                    .collect();
                (r.log_dir.to_string(), r.error_code, topics)
            })
            .collect()
    }

    fn logs() -> Vec<LogDescription> {
        vec![
            log("/b", "t", 1, 300, 30),
            log("/a", "t", 0, 100, 10),
            log("/a", "s", 2, 50, 5),
            log("/a", "t", 3, 70, 4),
        ]
    }

    fn hwms() -> BTreeMap<TopicPartition, i64> {
        BTreeMap::from([
            (TopicPartition::new("t", 0), 10),
            (TopicPartition::new("t", 1), 28),
            (TopicPartition::new("t", 3), 7),
        ])
    }

    fn topic(name: &str, partitions: &[i32]) -> DescribableLogDirTopic {
        DescribableLogDirTopic::default()
            .with_topic(TopicName(StrBytes::from_string(name.to_string())))
            .with_partitions(partitions.to_vec())
    }

    #[test]
    fn null_topics_describe_every_log_in_every_dir() {
        let dirs = [
            PathBuf::from("/a"),
            PathBuf::from("/b"),
            PathBuf::from("/c"),
        ];
        let response = describe(&dirs, &logs(), &hwms(), None);
        assert_eq!(response.error_code, 0);
        let t = |name: &str, p: Vec<(i32, i64, i64, bool)>| (name.to_string(), p);
        assert_eq!(
            rows(&response),
            vec![
                (
                    "/a".into(),
                    0,
                    vec![
                        // No high watermark known: lag against 0, so 0.
                        t("s", vec![(2, 50, 0, false)]),
                        t("t", vec![(0, 100, 0, false), (3, 70, 3, false)]),
                    ]
                ),
                // A log end past the high watermark is no lag.
                ("/b".into(), 0, vec![t("t", vec![(1, 300, 0, false)])]),
                ("/c".into(), 0, vec![]),
            ]
        );
        for result in &response.results {
            assert_eq!(
                (result.total_bytes, result.usable_bytes),
                (UNKNOWN_VOLUME_BYTES, UNKNOWN_VOLUME_BYTES)
            );
        }
    }

    #[test]
    fn named_topics_restrict_the_partitions_and_unknown_ones_are_left_out() {
        let dirs = [PathBuf::from("/a"), PathBuf::from("/b")];
        let asked = [topic("t", &[3, 1, 9]), topic("nope", &[0])];
        let response = describe(&dirs, &logs(), &hwms(), Some(&asked));
        assert_eq!(
            rows(&response),
            vec![
                (
                    "/a".into(),
                    0,
                    vec![("t".to_string(), vec![(3, 70, 3, false)])]
                ),
                (
                    "/b".into(),
                    0,
                    vec![("t".to_string(), vec![(1, 300, 0, false)])]
                ),
            ]
        );
        let none = describe(&dirs, &logs(), &hwms(), Some(&[]));
        assert!(none.results.iter().all(|r| r.topics.is_empty()));
        assert_eq!(none.results.len(), 2);
    }

    #[test]
    fn relative_dirs_are_reported_absolute() {
        let dirs = [PathBuf::from("data")];
        let response = describe(&dirs, &[log("data", "t", 0, 1, 1)], &hwms(), None);
        let reported = PathBuf::from(response.results[0].log_dir.as_str());
        assert!(reported.is_absolute(), "{reported:?}");
        assert!(reported.ends_with("data"), "{reported:?}");
        assert_eq!(response.results[0].topics.len(), 1);
    }

    #[test]
    fn every_served_version_encodes() {
        use bytes::BytesMut;
        use kafka_protocol::protocol::Encodable;
        let dirs = [PathBuf::from("/a"), PathBuf::from("/b")];
        let response = describe(&dirs, &logs(), &hwms(), None);
        for version in 1..=4 {
            let mut buf = BytesMut::new();
            response
                .encode(&mut buf, version)
                .unwrap_or_else(|e| panic!("v{version}: {e}"));
        }
    }
}
