//! `weir log-dirs --describe`: each broker's log dirs with every
//! partition's size and offset lag (kafka-log-dirs.sh), with Kafka 4.0's
//! output (`org.apache.kafka.tools.LogDirsCommand`): two status lines, then
//! the whole answer as one line of JSON.
//!
//! Kafka builds that JSON from Java `HashMap`s, so its key order is the
//! maps' iteration order, not insertion order; [`format_json`] writes the
//! keys in exactly that order (`brokers` before `version`, `partitions`
//! before `error` before `logDir`), which scripts that compare text rely
//! on. Brokers are listed by id and partitions by topic and index (Kafka's
//! order there depends on hash codes, which no one can rely on).

use super::tool_support::{client_config, runtime};
use anyhow::bail;
use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::Write;
use weir_client::admin::{BrokerLogDirs, LogDirDescription};
use weir_client::{Admin, Client, KafkaError};
use weir_protocol::BrokerId;

/// Query the log directory usage on the specified brokers.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// REQUIRED: the server(s) to use for bootstrapping.
    #[arg(long = "bootstrap-server", value_name = "BOOTSTRAP_SERVER")]
    pub bootstrap_server: String,
    /// Describe the specified log directories on the specified brokers.
    #[arg(long, required = true)]
    pub describe: bool,
    /// The list of brokers to be queried in the form "0,1,2". All brokers
    /// in the cluster will be queried if no broker list is specified.
    #[arg(
        long = "broker-list",
        value_name = "BROKER_LIST",
        default_value = "",
        value_parser = parse_broker_list
    )]
    pub broker_list: BTreeSet<i32>,
    /// The list of topics to be queried in the form "topic1,topic2,topic3".
    /// All topics will be queried if no topic list is specified.
    #[arg(long = "topic-list", value_name = "TOPIC_LIST", default_value = "")]
    pub topic_list: String,
}

/// `--broker-list`: comma-separated ids, empty items ignored (as Kafka
/// splits it).
pub fn parse_broker_list(text: &str) -> Result<BTreeSet<i32>, String> {
    split_list(text)
        .map(|id| {
            id.trim()
                .parse::<i32>()
                .map_err(|_| format!("{id:?} is not a broker id"))
        })
        .collect()
}

/// The non-empty items of a comma-separated list.
fn split_list(text: &str) -> impl Iterator<Item = &str> {
    text.split(',').filter(|item| !item.is_empty())
}

/// Run `weir log-dirs`.
pub fn run(args: &Args, out: &mut impl Write) -> anyhow::Result<()> {
    let topics: BTreeSet<String> = split_list(&args.topic_list).map(str::to_string).collect();
    runtime()?.block_on(async {
        let config = client_config(&args.bootstrap_server, "log-dirs-tool")?;
        let admin = Admin::new(Client::connect(config).await?);
        let cluster: BTreeSet<i32> = admin
            .describe_cluster()
            .await?
            .brokers
            .iter()
            .map(|b| b.id.0)
            .collect();
        let brokers = brokers_to_query(&args.broker_list, &cluster)?;
        writeln!(out, "Querying brokers for log directories information")?;
        out.flush()?;
        let ids: Vec<BrokerId> = brokers.iter().map(|&id| BrokerId(id)).collect();
        let described = admin.describe_log_dirs(&ids).await?;
        writeln!(
            out,
            "Received log directory information from brokers {}",
            comma_list(&brokers)
        )?;
        writeln!(out, "{}", format_json(&described, &topics))?;
        Ok(())
    })
}

/// The brokers to ask: all of `cluster` when none were asked for, else the
/// ones asked for, all of which must exist (Kafka's wording otherwise).
pub fn brokers_to_query(
    asked: &BTreeSet<i32>,
    cluster: &BTreeSet<i32>,
) -> anyhow::Result<BTreeSet<i32>> {
    if asked.is_empty() {
        return Ok(cluster.clone());
    }
    let missing: BTreeSet<i32> = asked.difference(cluster).copied().collect();
    if !missing.is_empty() {
        bail!(
            "ERROR: The given brokers do not exist from --broker-list: {}. Current existent brokers: {}",
            comma_list(&missing),
            comma_list(cluster)
        );
    }
    Ok(asked.clone())
}

fn comma_list(ids: &BTreeSet<i32>) -> String {
    let ids: Vec<String> = ids.iter().map(i32::to_string).collect();
    ids.join(",")
}

/// `LogDirsCommand.formatAsJson`: every broker's log dirs, each dir's
/// partitions restricted to `topics` unless it is empty.
pub fn format_json(brokers: &[BrokerLogDirs], topics: &BTreeSet<String>) -> String {
    let mut sorted: Vec<&BrokerLogDirs> = brokers.iter().collect();
    sorted.sort_by_key(|b| b.broker_id.0);
    let mut json = String::from("{\"brokers\":[");
    for (i, broker) in sorted.iter().enumerate() {
        if i > 0 {
            json.push(',');
        }
        let _ = write!(json, "{{\"broker\":{},\"logDirs\":[", broker.broker_id.0);
        for (j, dir) in broker.log_dirs.iter().enumerate() {
            if j > 0 {
                json.push(',');
            }
            write_log_dir(&mut json, dir, topics);
        }
        json.push_str("]}");
    }
    json.push_str("],\"version\":1}");
    json
}

fn write_log_dir(json: &mut String, dir: &LogDirDescription, topics: &BTreeSet<String>) {
    let mut replicas: Vec<_> = dir
        .replicas
        .iter()
        .filter(|r| topics.is_empty() || topics.contains(&r.tp.topic))
        .collect();
    replicas.sort_by(|a, b| (&a.tp.topic, a.tp.partition).cmp(&(&b.tp.topic, b.tp.partition)));
    json.push_str("{\"partitions\":[");
    for (k, replica) in replicas.iter().enumerate() {
        if k > 0 {
            json.push(',');
        }
        json.push_str("{\"partition\":");
        push_json_string(json, &replica.tp.to_string());
        let _ = write!(
            json,
            ",\"size\":{},\"offsetLag\":{},\"isFuture\":{}}}",
            replica.size_bytes, replica.offset_lag, replica.is_future
        );
    }
    json.push_str("],\"error\":");
    match &dir.error {
        Some(error) => push_json_string(json, &exception_class(error)),
        None => json.push_str("null"),
    }
    json.push_str(",\"logDir\":");
    push_json_string(json, &dir.log_dir);
    json.push('}');
}

/// The Java exception class Kafka's client raises for `error`, which the
/// tool prints: `KAFKA_STORAGE_ERROR` is
/// `org.apache.kafka.common.errors.KafkaStorageException`. Kafka's
/// exceptions are named after the error with `Error`/`Failed` replaced by
/// `Exception`.
pub fn exception_class(error: &KafkaError) -> String {
    let name = format!("{:?}", error.error);
    let stem = name
        .strip_suffix("Error")
        .or_else(|| name.strip_suffix("Failed"))
        .unwrap_or(&name);
    format!("org.apache.kafka.common.errors.{stem}Exception")
}

/// `text` as a JSON string the way Jackson writes it: `"` and `\` escaped,
/// control characters as `\n`-style or `\u00XX` escapes, all else as is.
fn push_json_string(json: &mut String, text: &str) {
    json.push('"');
    for c in text.chars() {
        match c {
            '"' => json.push_str("\\\""),
            '\\' => json.push_str("\\\\"),
            '\n' => json.push_str("\\n"),
            '\r' => json.push_str("\\r"),
            '\t' => json.push_str("\\t"),
            '\u{8}' => json.push_str("\\b"),
            '\u{c}' => json.push_str("\\f"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(json, "\\u{:04X}", u32::from(c));
            }
            c => json.push(c),
        }
    }
    json.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_client::admin::ReplicaLogInfo;
    use weir_protocol::kafka_protocol::error::ResponseError;
    use weir_protocol::TopicPartition;

    fn replica(topic: &str, partition: i32, size_bytes: i64, offset_lag: i64) -> ReplicaLogInfo {
        ReplicaLogInfo {
            tp: TopicPartition::new(topic, partition),
            size_bytes,
            offset_lag,
            is_future: false,
        }
    }

    fn dir(log_dir: &str, replicas: Vec<ReplicaLogInfo>) -> LogDirDescription {
        LogDirDescription {
            log_dir: log_dir.to_string(),
            error: None,
            replicas,
            total_bytes: None,
            usable_bytes: None,
        }
    }

    fn cluster() -> Vec<BrokerLogDirs> {
        let mut offline = dir("/d/off\"line", vec![]);
        offline.error = KafkaError::from_code(ResponseError::KafkaStorageError.code(), None);
        vec![
            BrokerLogDirs {
                broker_id: BrokerId(2),
                log_dirs: vec![dir("/d/b", vec![replica("t", 1, 0, -1)]), offline],
            },
            BrokerLogDirs {
                broker_id: BrokerId(1),
                log_dirs: vec![dir(
                    "/d/a",
                    vec![
                        replica("t", 10, 300, 0),
                        replica("s", 0, 5, 0),
                        replica("t", 2, 123, 4),
                    ],
                )],
            },
        ]
    }

    #[test]
    fn json_has_kafkas_key_order_and_sorted_brokers_and_partitions() {
        let json = format_json(&cluster(), &BTreeSet::new());
        assert_eq!(
            json,
            concat!(
                r#"{"brokers":["#,
                r#"{"broker":1,"logDirs":[{"partitions":["#,
                r#"{"partition":"s-0","size":5,"offsetLag":0,"isFuture":false},"#,
                r#"{"partition":"t-2","size":123,"offsetLag":4,"isFuture":false},"#,
                r#"{"partition":"t-10","size":300,"offsetLag":0,"isFuture":false}"#,
                r#"],"error":null,"logDir":"/d/a"}]},"#,
                r#"{"broker":2,"logDirs":["#,
                r#"{"partitions":[{"partition":"t-1","size":0,"offsetLag":-1,"isFuture":false}],"error":null,"logDir":"/d/b"},"#,
                r#"{"partitions":[],"error":"org.apache.kafka.common.errors.KafkaStorageException","logDir":"/d/off\"line"}"#,
                r#"]}],"version":1}"#
            )
        );
    }

    #[test]
    fn the_topic_list_filters_partitions_but_keeps_every_dir() {
        let topics = BTreeSet::from(["t".to_string(), "absent".to_string()]);
        let json = format_json(&cluster()[1..], &topics);
        assert_eq!(
            json,
            concat!(
                r#"{"brokers":[{"broker":1,"logDirs":[{"partitions":["#,
                r#"{"partition":"t-2","size":123,"offsetLag":4,"isFuture":false},"#,
                r#"{"partition":"t-10","size":300,"offsetLag":0,"isFuture":false}"#,
                r#"],"error":null,"logDir":"/d/a"}]}],"version":1}"#
            )
        );
        assert_eq!(
            format_json(&[], &BTreeSet::new()),
            r#"{"brokers":[],"version":1}"#
        );
    }

    #[test]
    fn strings_are_escaped_as_jackson_does() {
        let mut json = String::new();
        push_json_string(&mut json, "a\"b\\c\nd\u{1}é/");
        assert_eq!(json, r#""a\"b\\c\nd\u0001é/""#);
    }

    #[test]
    fn exception_classes_follow_kafkas_names() {
        let class =
            |e: ResponseError| exception_class(&KafkaError::from_code(e.code(), None).unwrap());
        assert_eq!(
            class(ResponseError::KafkaStorageError),
            "org.apache.kafka.common.errors.KafkaStorageException"
        );
        assert_eq!(
            class(ResponseError::LogDirNotFound),
            "org.apache.kafka.common.errors.LogDirNotFoundException"
        );
        assert_eq!(
            class(ResponseError::ClusterAuthorizationFailed),
            "org.apache.kafka.common.errors.ClusterAuthorizationException"
        );
    }

    #[test]
    fn broker_lists_parse_like_kafka_and_must_exist() {
        assert_eq!(parse_broker_list(""), Ok(BTreeSet::new()));
        assert_eq!(parse_broker_list("3,1,,2"), Ok(BTreeSet::from([1, 2, 3])));
        assert_eq!(
            parse_broker_list("1,x"),
            Err("\"x\" is not a broker id".to_string())
        );
        let cluster = BTreeSet::from([1, 2, 3]);
        assert_eq!(
            brokers_to_query(&BTreeSet::new(), &cluster).unwrap(),
            cluster
        );
        assert_eq!(
            brokers_to_query(&BTreeSet::from([2]), &cluster).unwrap(),
            BTreeSet::from([2])
        );
        let error = brokers_to_query(&BTreeSet::from([2, 7, 5]), &cluster).unwrap_err();
        assert_eq!(
            error.to_string(),
            "ERROR: The given brokers do not exist from --broker-list: 5,7. Current existent brokers: 1,2,3"
        );
    }
}
