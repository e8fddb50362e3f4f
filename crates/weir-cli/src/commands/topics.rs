//! `weir topics`: create, describe, list, alter and delete topics
//! (kafka-topics.sh), with Kafka's flags and output.

use super::tool_support::{client_config, parse_key_value, runtime};
use anyhow::{bail, Context};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use weir_client::admin::{kafka_uuid_string, ConfigEntry, ConfigResource, NewTopic, PartitionElr};
use weir_client::metadata::{PartitionInfo, TopicInfo};
use weir_client::{Admin, Client, ClientError};
use weir_protocol::kafka_protocol::error::ResponseError;
use weir_protocol::BrokerId;

/// Create, delete, describe, or change a topic.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("action").required(true).args(["create", "list", "alter", "describe", "delete"])))]
pub struct Args {
    /// REQUIRED: The Kafka server to connect to.
    #[arg(long = "bootstrap-server", value_name = "server to connect to")]
    pub bootstrap_server: String,
    /// Create a new topic.
    #[arg(long)]
    pub create: bool,
    /// List all available topics.
    #[arg(long)]
    pub list: bool,
    /// Alter the number of partitions and replica assignment.
    #[arg(long)]
    pub alter: bool,
    /// List details for the given topics.
    #[arg(long)]
    pub describe: bool,
    /// Delete a topic.
    #[arg(long)]
    pub delete: bool,
    /// The topic to create, alter, describe or delete.
    #[arg(long, value_name = "topic")]
    pub topic: Option<String>,
    /// The number of partitions for the topic being created or altered.
    #[arg(long, value_name = "# of partitions")]
    pub partitions: Option<i32>,
    /// The replication factor for each partition in the topic being created.
    #[arg(
        long = "replication-factor",
        value_name = "replication factor",
        requires = "create"
    )]
    pub replication_factor: Option<i32>,
    /// A topic configuration override for the topic being created.
    #[arg(long = "config", value_name = "name=value", requires = "create")]
    pub config: Vec<String>,
    /// A list of manual partition-to-broker assignments (1:2,2:3).
    #[arg(
        long = "replica-assignment",
        value_name = "broker_id_for_part1_replica1 : broker_id_for_part1_replica2 , ..."
    )]
    pub replica_assignment: Option<String>,
    /// If set when describing topics, only show under-replicated partitions.
    #[arg(long = "under-replicated-partitions", requires = "describe")]
    pub under_replicated_partitions: bool,
    /// If set when describing topics, only show partitions whose leader is not available.
    #[arg(long = "unavailable-partitions", requires = "describe")]
    pub unavailable_partitions: bool,
    /// If set when altering, deleting or describing topics, act only if the topic exists.
    #[arg(long = "if-exists")]
    pub if_exists: bool,
    /// If set when creating topics, do not fail if the topic already exists.
    #[arg(long = "if-not-exists", requires = "create")]
    pub if_not_exists: bool,
    /// Exclude internal topics when listing or describing topics.
    #[arg(long = "exclude-internal")]
    pub exclude_internal: bool,
}

/// Run the chosen action.
pub fn run(args: &Args, out: &mut impl Write) -> anyhow::Result<()> {
    check_args(args)?;
    runtime()?.block_on(async {
        let client = Client::connect(client_config(&args.bootstrap_server, "weir-topics")?).await?;
        let admin = Admin::new(client);
        if args.create {
            create(&admin, args, out).await
        } else if args.list {
            list(&admin, args, out).await
        } else if args.alter {
            alter(&admin, args).await
        } else if args.describe {
            describe(&admin, args, out).await
        } else {
            delete(&admin, args).await
        }
    })
}

/// Kafka's argument rules that clap's attributes do not express.
fn check_args(args: &Args) -> anyhow::Result<()> {
    if (args.create || args.alter || args.delete) && args.topic.is_none() {
        bail!("Missing required argument \"[topic]\"");
    }
    if args.alter && args.partitions.is_none() {
        bail!("Missing required argument \"[partitions]\"");
    }
    if args.partitions.is_some() && !(args.create || args.alter) {
        bail!("Option \"[partitions]\" can't be used with option \"[describe, list, delete]\"");
    }
    if args.replica_assignment.is_some() && !(args.create || args.alter) {
        bail!("Option \"[replica-assignment]\" can only be used with --create or --alter");
    }
    if args.create
        && args.replica_assignment.is_some()
        && (args.partitions.is_some() || args.replication_factor.is_some())
    {
        bail!("Option \"[replica-assignment]\" can't be used with option \"[partitions, replication-factor]\"");
    }
    Ok(())
}

async fn create(admin: &Admin, args: &Args, out: &mut impl Write) -> anyhow::Result<()> {
    let topic = new_topic(args)?;
    if topic.name.contains('.') || topic.name.contains('_') {
        writeln!(
            out,
            "WARNING: Due to limitations in metric names, topics with a period ('.') or underscore ('_') could collide. To avoid issues it is best to use either, but not both."
        )?;
    }
    match admin.create_topic(&topic, false).await {
        Ok(_) => writeln!(out, "Created topic {}.", topic.name)?,
        Err(e) if args.if_not_exists && is(&e, ResponseError::TopicAlreadyExists) => {}
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

/// The topic `--create` asks for, validated as TopicCommand does.
fn new_topic(args: &Args) -> anyhow::Result<NewTopic> {
    let name = args.topic.clone().unwrap_or_default();
    if let Some(rf) = args.replication_factor {
        if !(1..=i32::from(i16::MAX)).contains(&rf) {
            bail!(
                "The replication factor must be between 1 and {} inclusive",
                i16::MAX
            );
        }
    }
    if args.partitions.is_some_and(|p| p < 1) {
        bail!("The partitions must be greater than 0");
    }
    let configs = args
        .config
        .iter()
        .map(|c| parse_key_value(c).map(|(k, v)| (k, v.trim().to_owned())))
        .collect::<anyhow::Result<_>>()
        .context("requirement failed: Invalid topic config: all configs to be added must be in the format \"key=val\".")?;
    let replica_assignment = match &args.replica_assignment {
        Some(a) => parse_replica_assignment(a)?,
        None => BTreeMap::new(),
    };
    Ok(NewTopic {
        name,
        num_partitions: args.partitions,
        replication_factor: args.replication_factor.and_then(|r| i16::try_from(r).ok()),
        replica_assignment,
        configs,
    })
}

/// `1:2,2:3` → partition 0 on brokers 1,2; partition 1 on 2,3. Every
/// partition needs the same number of distinct replicas.
pub fn parse_replica_assignment(s: &str) -> anyhow::Result<BTreeMap<i32, Vec<i32>>> {
    let mut out = BTreeMap::new();
    for (i, part) in s.split(',').enumerate() {
        let brokers = part
            .split(':')
            .map(|b| {
                b.trim().parse::<i32>().with_context(|| {
                    format!("Invalid broker id '{}' in replica assignment", b.trim())
                })
            })
            .collect::<anyhow::Result<Vec<i32>>>()?;
        let distinct: BTreeSet<i32> = brokers.iter().copied().collect();
        if distinct.len() != brokers.len() {
            bail!("Partition replica lists may not contain duplicate entries: {part}");
        }
        let first_len = out.get(&0).map_or(brokers.len(), Vec::len);
        if brokers.len() != first_len {
            bail!("Partition {i} has different replication factor: {brokers:?}");
        }
        out.insert(i32::try_from(i)?, brokers);
    }
    Ok(out)
}

async fn list(admin: &Admin, args: &Args, out: &mut impl Write) -> anyhow::Result<()> {
    for name in matching_topics(admin, args).await? {
        writeln!(out, "{name}")?;
    }
    Ok(())
}

async fn alter(admin: &Admin, args: &Args) -> anyhow::Result<()> {
    let topics = existing_topics(admin, args).await?;
    let total = args.partitions.unwrap_or_default();
    for name in topics {
        let assignment = match &args.replica_assignment {
            Some(a) => {
                let current = admin.describe_topics(std::slice::from_ref(&name)).await?;
                let start = current.first().map_or(0, |t| t.partitions.len());
                Some(
                    parse_replica_assignment(a)?
                        .into_values()
                        .skip(start)
                        .collect(),
                )
            }
            None => None,
        };
        admin.create_partitions(&name, total, assignment).await?;
    }
    Ok(())
}

async fn delete(admin: &Admin, args: &Args) -> anyhow::Result<()> {
    let topics = existing_topics(admin, args).await?;
    if !topics.is_empty() {
        admin.delete_topics(&topics).await?;
    }
    Ok(())
}

async fn describe(admin: &Admin, args: &Args, out: &mut impl Write) -> anyhow::Result<()> {
    let topics = existing_topics(admin, args).await?;
    if topics.is_empty() {
        return Ok(());
    }
    let described = admin.describe_topics(&topics).await?;
    let live: BTreeSet<BrokerId> = admin.client().metadata().brokers.keys().copied().collect();
    let elrs = partition_elrs(admin, &topics).await?;
    let filter = PartitionFilter::from_args(args);
    for topic in &described {
        if filter.describe_configs() {
            let configs = topic_configs(admin, &topic.name).await?;
            writeln!(out, "{}", topic_line(topic, &configs))?;
        }
        for p in topic.partitions.iter().filter(|p| filter.shows(p, &live)) {
            let elr = elrs.get(&(topic.name.clone(), p.partition));
            writeln!(out, "{}", partition_line_with_elr(&topic.name, p, elr))?;
        }
    }
    Ok(())
}

/// (ELR, last known ELR) per (topic, partition) from
/// DescribeTopicPartitions; empty when the broker does not serve key 75
/// (the columns are then printed empty, as over Metadata).
async fn partition_elrs(
    admin: &Admin,
    topics: &[String],
) -> anyhow::Result<BTreeMap<(String, i32), PartitionElr>> {
    match admin.describe_topic_partitions(topics).await {
        Ok(elrs) => Ok(elrs
            .into_iter()
            .map(|e| ((e.topic.clone(), e.partition), e))
            .collect()),
        Err(ClientError::UnsupportedVersion { .. }) => Ok(BTreeMap::new()),
        Err(e) => Err(e.into()),
    }
}

/// Which partitions `--describe` prints (TopicCommand's DescribeOptions).
#[derive(Debug, Clone, Copy)]
struct PartitionFilter {
    under_replicated: bool,
    unavailable: bool,
}

impl PartitionFilter {
    fn from_args(args: &Args) -> PartitionFilter {
        PartitionFilter {
            under_replicated: args.under_replicated_partitions,
            unavailable: args.unavailable_partitions,
        }
    }

    /// The topic line is printed only without a partition report flag.
    fn describe_configs(self) -> bool {
        !self.under_replicated && !self.unavailable
    }

    fn shows(self, p: &PartitionInfo, live: &BTreeSet<BrokerId>) -> bool {
        self.describe_configs()
            || (self.under_replicated && p.isr.len() < p.replicas.len())
            || (self.unavailable && !p.leader.is_some_and(|l| live.contains(&l)))
    }
}

/// Non-default configs, for the `Configs:` column. A broker without
/// DescribeConfigs yet gives an empty column rather than no description.
async fn topic_configs(admin: &Admin, topic: &str) -> anyhow::Result<Vec<ConfigEntry>> {
    match admin
        .describe_configs(&ConfigResource::Topic(topic.to_owned()))
        .await
    {
        Ok(c) => Ok(c),
        Err(ClientError::UnsupportedVersion { .. }) => Ok(Vec::new()),
        Err(e) => Err(e.into()),
    }
}

/// `Topic: T\tTopicId: ...\tPartitionCount: N\tReplicationFactor: R\tConfigs: k=v,...`
pub fn topic_line(topic: &TopicInfo, configs: &[ConfigEntry]) -> String {
    let mut line = format!("Topic: {}", topic.name);
    if !topic.topic_id.is_nil() {
        line.push_str(&format!("\tTopicId: {}", kafka_uuid_string(topic.topic_id)));
    }
    let factor = topic.partitions.first().map_or(0, |p| p.replicas.len());
    let configs: Vec<String> = configs
        .iter()
        .filter(|c| !c.is_default())
        .map(|c| format!("{}={}", c.name, c.value.as_deref().unwrap_or("null")))
        .collect();
    line.push_str(&format!(
        "\tPartitionCount: {}\tReplicationFactor: {factor}\tConfigs: {}",
        topic.partitions.len(),
        configs.join(",")
    ));
    line
}

/// `\tTopic: T\tPartition: 0\tLeader: 1\tReplicas: 1\tIsr: 1\tElr: \tLastKnownElr: `
/// (ELR comes from DescribeTopicPartitions; without it, as over Metadata,
/// the columns are empty, as Kafka's admin client reports them then).
pub fn partition_line_with_elr(
    topic: &str,
    p: &PartitionInfo,
    elr: Option<&PartitionElr>,
) -> String {
    let leader = p
        .leader
        .map_or_else(|| "none".to_owned(), |l| l.to_string());
    let (elr, last_known) = elr.map_or_else(
        || (String::new(), String::new()),
        |e| (join_ids(&e.elr), join_ids(&e.last_known_elr)),
    );
    format!(
        "\tTopic: {topic}\tPartition: {}\tLeader: {leader}\tReplicas: {}\tIsr: {}\tElr: {elr}\tLastKnownElr: {last_known}",
        p.partition,
        join_ids(&p.replicas),
        join_ids(&p.isr)
    )
}

fn join_ids(ids: &[BrokerId]) -> String {
    ids.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// Topics named by `--topic` (all if none), sorted; internal ones unless
/// `--exclude-internal`.
async fn matching_topics(admin: &Admin, args: &Args) -> anyhow::Result<Vec<String>> {
    let all = admin.list_topics(!args.exclude_internal).await?;
    Ok(match &args.topic {
        Some(t) => all.into_iter().filter(|n| n == t).collect(),
        None => all,
    })
}

/// As [`matching_topics`], failing if `--topic` names nothing and
/// `--if-exists` was not given (TopicCommand's ensureTopicExists).
async fn existing_topics(admin: &Admin, args: &Args) -> anyhow::Result<Vec<String>> {
    let topics = matching_topics(admin, args).await?;
    if let Some(t) = &args.topic {
        if topics.is_empty() && !args.if_exists {
            return Err(weir_client::admin::kafka_error(
                ResponseError::UnknownTopicOrPartition,
                format!("Topic '{t}' does not exist as expected"),
            )
            .into());
        }
    }
    Ok(topics)
}

fn is(e: &ClientError, error: ResponseError) -> bool {
    e.kafka().is_some_and(|k| k.error == error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_client::admin::CONFIG_SOURCE_DEFAULT;

    fn partition(leader: Option<i32>, replicas: &[i32], isr: &[i32]) -> PartitionInfo {
        PartitionInfo {
            partition: 0,
            leader: leader.map(BrokerId),
            leader_epoch: 0,
            replicas: replicas.iter().copied().map(BrokerId).collect(),
            isr: isr.iter().copied().map(BrokerId).collect(),
            offline_replicas: vec![],
            error: None,
        }
    }

    #[test]
    fn describe_lines_match_kafka_4() {
        let topic = TopicInfo {
            name: "orders".into(),
            topic_id: weir_client::Uuid::from_u64_pair(0, 1),
            is_internal: false,
            partitions: vec![partition(Some(1), &[1, 2], &[1])],
        };
        let configs = vec![
            ConfigEntry {
                name: "retention.ms".into(),
                value: Some("1000".into()),
                source: 1,
                read_only: false,
                is_sensitive: false,
            },
            ConfigEntry {
                name: "segment.bytes".into(),
                value: Some("1073741824".into()),
                source: CONFIG_SOURCE_DEFAULT,
                read_only: false,
                is_sensitive: false,
            },
        ];
        assert_eq!(
            topic_line(&topic, &configs),
            "Topic: orders\tTopicId: AAAAAAAAAAAAAAAAAAAAAQ\tPartitionCount: 1\tReplicationFactor: 2\tConfigs: retention.ms=1000"
        );
        assert_eq!(
            partition_line_with_elr("orders", &topic.partitions[0], None),
            "\tTopic: orders\tPartition: 0\tLeader: 1\tReplicas: 1,2\tIsr: 1\tElr: \tLastKnownElr: "
        );
        assert!(
            partition_line_with_elr("orders", &partition(None, &[1], &[]), None)
                .contains("\tLeader: none\t")
        );
        let elr = PartitionElr {
            topic: "orders".into(),
            partition: 0,
            elr: vec![BrokerId(2)],
            last_known_elr: vec![BrokerId(3), BrokerId(4)],
        };
        assert_eq!(
            partition_line_with_elr("orders", &topic.partitions[0], Some(&elr)),
            "\tTopic: orders\tPartition: 0\tLeader: 1\tReplicas: 1,2\tIsr: 1\tElr: 2\tLastKnownElr: 3,4"
        );
    }

    #[test]
    fn report_flags_filter_partitions() {
        let live: BTreeSet<BrokerId> = [BrokerId(1)].into_iter().collect();
        let healthy = partition(Some(1), &[1], &[1]);
        let under = partition(Some(1), &[1, 2], &[1]);
        let dead_leader = partition(Some(2), &[2], &[2]);
        let f = PartitionFilter {
            under_replicated: true,
            unavailable: false,
        };
        assert!(!f.shows(&healthy, &live) && f.shows(&under, &live));
        let f = PartitionFilter {
            under_replicated: false,
            unavailable: true,
        };
        assert!(!f.shows(&healthy, &live) && f.shows(&dead_leader, &live));
    }

    #[test]
    fn replica_assignment_parses_like_topic_command() {
        let a = parse_replica_assignment("1:2,2:3").unwrap();
        assert_eq!(a[&0], vec![1, 2]);
        assert_eq!(a[&1], vec![2, 3]);
        assert!(parse_replica_assignment("1:1").is_err());
        assert!(parse_replica_assignment("1:2,3").is_err());
        assert!(parse_replica_assignment("1:x").is_err());
    }
}
