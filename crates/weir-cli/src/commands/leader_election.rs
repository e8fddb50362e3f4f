//! `weir leader-election`: elect the preferred leader of some or all
//! partitions (kafka-leader-election.sh, Kafka's
//! `org.apache.kafka.tools.LeaderElectionCommand`), with its lines:
//!
//! ```text
//! Successfully completed leader election (PREFERRED) for partitions t-0, t-1
//! Valid replica already elected for partitions t-2
//! Error completing leader election (PREFERRED) for partition: t-3: org.apache.kafka.common.errors.PreferredLeaderNotAvailableException: The preferred leader was not available.
//! ```
//!
//! and, when some partition failed, the error `N replica(s) could not be
//! elected` (exit code 1). Kafka collects the partitions in hash sets, so
//! its order within a line is unspecified; Weir lists them by topic, then
//! partition. Unclean election is accepted on the command line and
//! refused by the brokers (INVALID_REQUEST) until it is built.

use super::log_dirs::exception_class;
use super::tool_support::{client_config, runtime};
use anyhow::{bail, Context};
use std::collections::BTreeSet;
use std::io::Write;
use weir_client::admin::ElectionType;
use weir_client::{Admin, Client, KafkaError};
use weir_protocol::TopicPartition;

/// This tool attempts to elect a new leader for a set of topic partitions.
/// The type of elections supported are preferred replicas and unclean
/// replicas.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A hostname and port for the broker to connect to, in the form
    /// host:port. Multiple comma separated URLs can be given. REQUIRED.
    #[arg(long = "bootstrap-server", value_name = "host:port")]
    pub bootstrap_server: String,
    /// Type of election to attempt: "preferred" or "unclean". REQUIRED.
    #[arg(long = "election-type", value_name = "election type", value_parser = parse_election_type)]
    pub election_type: ElectionType,
    /// Name of topic for which to perform an election. Not allowed if
    /// --path-to-json-file or --all-topic-partitions is specified.
    #[arg(long, value_name = "topic name")]
    pub topic: Option<String>,
    /// Partition id for which to perform an election. REQUIRED if --topic
    /// is specified.
    #[arg(long, value_name = "partition id")]
    pub partition: Option<i32>,
    /// Perform election on all of the eligible topic partitions based on
    /// the type of election. Not allowed if --topic or --path-to-json-file
    /// is specified.
    #[arg(long = "all-topic-partitions")]
    pub all_topic_partitions: bool,
    /// The JSON file with the list of partitions for which leader elections
    /// should be performed, e.g. {"partitions": [{"topic": "foo",
    /// "partition": 1}]}. Not allowed if --all-topic-partitions or --topic
    /// are specified.
    #[arg(long = "path-to-json-file", value_name = "Path to JSON file")]
    pub path_to_json_file: Option<std::path::PathBuf>,
}

/// `--election-type`, case-insensitive as Kafka's `EnumConverter`.
pub fn parse_election_type(text: &str) -> Result<ElectionType, String> {
    match text.to_ascii_lowercase().as_str() {
        "preferred" => Ok(ElectionType::Preferred),
        "unclean" => Ok(ElectionType::Unclean),
        _ => Err(format!(
            "Value {text} for option election-type is not one of [PREFERRED, UNCLEAN]"
        )),
    }
}

/// Run `weir leader-election`.
pub fn run(args: &Args, out: &mut impl Write) -> anyhow::Result<()> {
    let partitions = partitions(args)?;
    runtime()?.block_on(async {
        let config = client_config(&args.bootstrap_server, "leader-election-tool")?;
        let admin = Admin::new(Client::connect(config).await?);
        let results = admin
            .elect_leaders(args.election_type, partitions.as_deref())
            .await?;
        let failed = report(args.election_type, &results, out)?;
        if failed > 0 {
            bail!("{failed} replica(s) could not be elected");
        }
        Ok(())
    })
}

/// The partitions to elect for, `None` for `--all-topic-partitions`,
/// after Kafka's option checks (with its messages).
fn partitions(args: &Args) -> anyhow::Result<Option<Vec<TopicPartition>>> {
    let chosen = [
        args.topic.is_some(),
        args.all_topic_partitions,
        args.path_to_json_file.is_some(),
    ];
    if chosen.iter().filter(|c| **c).count() != 1 {
        bail!(
            "One and only one of the following options is required: topic, all-topic-partitions, path-to-json-file"
        );
    }
    match (&args.topic, args.partition) {
        (Some(_), None) => bail!("Missing required option(s): partition"),
        (None, Some(_)) => bail!("Option partition is only allowed if topic is used"),
        (Some(topic), Some(p)) => return Ok(Some(vec![TopicPartition::new(topic.as_str(), p)])),
        (None, None) => {}
    }
    match &args.path_to_json_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            Ok(Some(parse_election_json(&text)?))
        }
        None => Ok(None),
    }
}

/// Kafka's replica election JSON: `{"partitions": [{"topic": "t",
/// "partition": 0}, ...]}`; duplicates are refused.
pub fn parse_election_json(text: &str) -> anyhow::Result<Vec<TopicPartition>> {
    let json: serde_json::Value =
        serde_json::from_str(text).context("parsing the replica election data")?;
    let Some(list) = json.get("partitions") else {
        bail!("Replica election data is missing \"partitions\" field");
    };
    let Some(list) = list.as_array() else {
        bail!("\"partitions\" is not an array");
    };
    let mut partitions = Vec::with_capacity(list.len());
    for entry in list {
        let topic = entry.get("topic").and_then(|t| t.as_str());
        let partition = entry
            .get("partition")
            .and_then(|p| p.as_i64())
            .and_then(|p| i32::try_from(p).ok());
        let (Some(topic), Some(partition)) = (topic, partition) else {
            bail!("each partition needs a string \"topic\" and an int \"partition\": {entry}");
        };
        partitions.push(TopicPartition::new(topic, partition));
    }
    let mut seen = BTreeSet::new();
    let duplicates: BTreeSet<String> = partitions
        .iter()
        .filter(|tp| !seen.insert((tp.topic.clone(), tp.partition)))
        .map(ToString::to_string)
        .collect();
    if !duplicates.is_empty() {
        let list: Vec<String> = duplicates.into_iter().collect();
        bail!(
            "Replica election data contains duplicate partitions: [{}]",
            list.join(", ")
        );
    }
    Ok(partitions)
}

/// Print Kafka's lines for `results`; the number of failed partitions.
pub fn report(
    election_type: ElectionType,
    results: &[(TopicPartition, Option<KafkaError>)],
    out: &mut impl Write,
) -> anyhow::Result<usize> {
    let mut sorted: Vec<&(TopicPartition, Option<KafkaError>)> = results.iter().collect();
    sorted.sort_by(|a, b| (&a.0.topic, a.0.partition).cmp(&(&b.0.topic, b.0.partition)));
    let mut succeeded = Vec::new();
    let mut noop = Vec::new();
    let mut failed = Vec::new();
    for (tp, error) in sorted {
        match error {
            None => succeeded.push(tp.to_string()),
            Some(e) if e.code() == ELECTION_NOT_NEEDED => noop.push(tp.to_string()),
            Some(e) => failed.push((tp, e)),
        }
    }
    if !succeeded.is_empty() {
        writeln!(
            out,
            "Successfully completed leader election ({election_type}) for partitions {}",
            succeeded.join(", ")
        )?;
    }
    if !noop.is_empty() {
        writeln!(
            out,
            "Valid replica already elected for partitions {}",
            noop.join(", ")
        )?;
    }
    for (tp, e) in &failed {
        writeln!(
            out,
            "Error completing leader election ({election_type}) for partition: {tp}: {}: {}",
            exception_class(e),
            e.sentence()
        )?;
    }
    Ok(failed.len())
}

/// ELECTION_NOT_NEEDED (Kafka's `ElectionNotNeededException`).
const ELECTION_NOT_NEEDED: i16 = 84;

#[cfg(test)]
mod tests {
    use super::*;

    fn printed(results: &[(TopicPartition, Option<KafkaError>)]) -> (String, usize) {
        let mut out = Vec::new();
        let failed = report(ElectionType::Preferred, results, &mut out).unwrap();
        (String::from_utf8(out).unwrap(), failed)
    }

    #[test]
    fn prints_kafkas_three_kinds_of_line_sorted() {
        let tp = |t: &str, p| TopicPartition::new(t, p);
        let (text, failed) = printed(&[
            (tp("t", 1), None),
            (tp("t", 2), KafkaError::from_code(84, None)),
            (
                tp("u", 0),
                KafkaError::from_code(80, Some("The preferred leader was not available.")),
            ),
            (tp("t", 0), None),
            (
                tp("x", 3),
                KafkaError::from_code(3, Some("No such topic as x")),
            ),
        ]);
        assert_eq!(
            text,
            "Successfully completed leader election (PREFERRED) for partitions t-0, t-1\n\
             Valid replica already elected for partitions t-2\n\
             Error completing leader election (PREFERRED) for partition: u-0: org.apache.kafka.common.errors.PreferredLeaderNotAvailableException: The preferred leader was not available.\n\
             Error completing leader election (PREFERRED) for partition: x-3: org.apache.kafka.common.errors.UnknownTopicOrPartitionException: No such topic as x\n"
        );
        assert_eq!(failed, 2);
        assert_eq!(printed(&[]), (String::new(), 0));
    }

    #[test]
    fn reads_kafkas_json_file_format_and_refuses_duplicates() {
        let got = parse_election_json(
            r#"{"partitions": [{"topic": "foo", "partition": 1}, {"topic": "bar", "partition": 2}]}"#,
        )
        .unwrap();
        assert_eq!(
            got,
            vec![TopicPartition::new("foo", 1), TopicPartition::new("bar", 2)]
        );
        let err = parse_election_json(
            r#"{"partitions": [{"topic": "a", "partition": 0}, {"topic": "a", "partition": 0}]}"#,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "Replica election data contains duplicate partitions: [a-0]"
        );
        let err = parse_election_json(r#"{"x": []}"#).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Replica election data is missing \"partitions\" field"
        );
    }

    #[test]
    fn election_type_is_case_insensitive() {
        assert_eq!(
            parse_election_type("PREFERRED"),
            Ok(ElectionType::Preferred)
        );
        assert_eq!(parse_election_type("unclean"), Ok(ElectionType::Unclean));
        assert!(parse_election_type("dirty").is_err());
    }
}
