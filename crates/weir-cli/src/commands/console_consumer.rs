//! `weir console-consumer`: read a topic's records and print them
//! (kafka-console-consumer.sh) with the properties of Kafka's
//! `DefaultMessageFormatter`.
//!
//! With `--group G` (or `group.id` in `--consumer-property` /
//! `--consumer.config`) it is a member of consumer group G, as Kafka's tool
//! is: the group's coordinator assigns it partitions of the topic (range
//! assignor; one member gets them all), each starts at the group's
//! committed offset, and only a partition without one starts where
//! `auto.offset.reset` says (`--from-beginning` sets it to `earliest`, so a
//! group that has committed resumes where it stopped). Positions are
//! committed every `auto.commit.interval.ms` (5 s, with
//! `enable.auto.commit`, Kafka's default) and once more on exit; after
//! `--max-messages` the records fetched but not printed are given back
//! first, so the commit is just past the last record printed (Kafka's
//! `resetUnconsumedOffsets`). `--group` and `--partition` are exclusive, as
//! in Kafka.
//!
//! Without a group Kafka's tool joins a random group
//! `console-consumer-NNNNN` with auto commit off; Weir reads every
//! partition of the topic (or the one given with `--partition`) without a
//! group, which prints the same records and leaves no group behind.
//! `auto.offset.reset` picks the start; `--partition` starts at `--offset`,
//! else at the start or end.

use super::tool_support::{client_config, is_true, parse_key_values, runtime};
use anyhow::{bail, Context};
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::{Duration, Instant};
use weir_client::consumer::{AutoOffsetReset, TimestampType};
use weir_client::{
    Client, Consumer, ConsumerConfig, ConsumerRecord, GroupConfig, GroupConsumer, OffsetSpec,
};
use weir_protocol::TopicPartition;

/// Longest single poll, so Ctrl-C and `--timeout-ms` are noticed promptly.
const POLL_SLICE: Duration = Duration::from_millis(500);

/// Read data from a topic and print it to standard output.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// REQUIRED: The server(s) to connect to.
    #[arg(long = "bootstrap-server", value_name = "server to connect to")]
    pub bootstrap_server: String,
    /// The topic to consume on.
    #[arg(long, value_name = "topic")]
    pub topic: String,
    /// If the consumer does not already have an established offset to
    /// consume from, start with the earliest message present in the log
    /// rather than the latest message.
    #[arg(long = "from-beginning")]
    pub from_beginning: bool,
    /// The partition to consume from (all partitions if not given).
    #[arg(long, value_name = "partition")]
    pub partition: Option<i32>,
    /// The offset to start from: a number, `earliest` or `latest`.
    #[arg(long, value_name = "consume offset", requires = "partition")]
    pub offset: Option<String>,
    /// The maximum number of messages to consume before exiting.
    #[arg(long = "max-messages", value_name = "num_messages")]
    pub max_messages: Option<u64>,
    /// Exit if no message is available for consumption for this long.
    #[arg(long = "timeout-ms", value_name = "timeout_ms")]
    pub timeout_ms: Option<u64>,
    /// Formatter properties: print.key, print.offset, print.partition,
    /// print.timestamp, print.headers, print.value, key.separator,
    /// line.separator, headers.separator, null.literal.
    #[arg(long, value_name = "prop")]
    pub property: Vec<String>,
    /// The consumer group id of the consumer.
    #[arg(long, value_name = "consumer group id")]
    pub group: Option<String>,
    /// A consumer config in the form key=value (group.id,
    /// auto.offset.reset, enable.auto.commit, auto.commit.interval.ms,
    /// session.timeout.ms, heartbeat.interval.ms, max.poll.interval.ms,
    /// group.instance.id, client.id, fetch.*, isolation.level, ...).
    #[arg(long = "consumer-property", value_name = "consumer_prop")]
    pub consumer_property: Vec<String>,
    /// Consumer config properties file. Note that --consumer-property
    /// takes precedence over this config.
    #[arg(long = "consumer.config", value_name = "config file")]
    pub consumer_config: Option<PathBuf>,
}

/// Consume until `--max-messages`, `--timeout-ms` or Ctrl-C, then report
/// the count on stderr as Kafka does.
pub fn run(args: &Args, out: &mut impl Write) -> anyhow::Result<()> {
    let formatter =
        Formatter::from_properties(&parse_key_values(&args.property)?.into_iter().collect());
    let start = start_position(args)?;
    let options = Options::from_args(args)?;
    let mut count = 0u64;
    let result = runtime()?.block_on(async {
        let client =
            Client::connect(client_config(&args.bootstrap_server, &options.client_id)?).await?;
        let mut reader = Reader::open(client, args, &options, start).await?;
        let consumed = tokio::select! {
            r = consume(&mut reader, args, &formatter, out, &mut count) => r,
            _ = tokio::signal::ctrl_c() => Ok(()),
        };
        let closed = reader.close().await;
        if let Err(e) = closed {
            eprintln!("WARN Failed to commit offsets on exit: {e}");
        }
        consumed
    });
    let _ = out.flush();
    eprintln!("Processed a total of {count} messages");
    result
}

/// Where the records come from: assigned partitions, or a group's share.
enum Reader {
    Assigned(Consumer),
    Group(Box<GroupConsumer>),
}

impl Reader {
    async fn open(
        client: Client,
        args: &Args,
        options: &Options,
        start: Option<OffsetSpec>,
    ) -> anyhow::Result<Reader> {
        // An unknown topic is an error with or without a group.
        client.partitions(&args.topic).await?;
        let Some(group) = options.group.clone() else {
            let mut consumer = Consumer::new(client, options.consumer.clone());
            assign(&mut consumer, args, start).await?;
            return Ok(Reader::Assigned(consumer));
        };
        Ok(Reader::Group(Box::new(GroupConsumer::new(
            client,
            options.consumer.clone(),
            group,
            vec![args.topic.clone()],
        ))))
    }

    async fn poll(&mut self, timeout: Duration) -> weir_client::Result<Vec<ConsumerRecord>> {
        match self {
            Reader::Assigned(c) => c.poll(timeout).await,
            Reader::Group(g) => g.poll(timeout).await,
        }
    }

    /// Give back records fetched but not printed: each partition goes back
    /// to its first such record, so the exit commit covers only what was
    /// printed.
    async fn rewind(&mut self, unprinted: &[ConsumerRecord]) -> weir_client::Result<()> {
        let mut first: BTreeMap<&TopicPartition, i64> = BTreeMap::new();
        for r in unprinted {
            let o = first.entry(&r.tp).or_insert(r.offset);
            *o = (*o).min(r.offset);
        }
        for (tp, offset) in first {
            match self {
                Reader::Assigned(c) => {
                    c.seek(std::slice::from_ref(tp), OffsetSpec::Offset(offset))
                        .await?
                }
                Reader::Group(g) => g.seek(tp, offset).await?,
            }
        }
        Ok(())
    }

    /// A group member commits (with auto commit on) and leaves.
    async fn close(self) -> weir_client::Result<()> {
        match self {
            Reader::Assigned(_) => Ok(()),
            Reader::Group(g) => g.close().await,
        }
    }
}

/// The consumer configs of the run: `--consumer.config`, then
/// `--consumer-property` over it, then the flags.
#[derive(Debug, Clone)]
struct Options {
    client_id: String,
    consumer: ConsumerConfig,
    /// Set when a group id was given (any of the three ways).
    group: Option<GroupConfig>,
}

impl Options {
    fn from_args(args: &Args) -> anyhow::Result<Options> {
        let from_file = match &args.consumer_config {
            Some(path) => read_properties(path)?,
            None => Vec::new(),
        };
        let from_flags = parse_key_values(&args.consumer_property)?;
        let group_id = single_group_id(args, &from_file, &from_flags)?;
        if group_id.is_some() && args.partition.is_some() {
            bail!("Options group and partition cannot be specified together.");
        }
        let props: HashMap<String, String> = from_file.into_iter().chain(from_flags).collect();
        Options::from_props(&props, args.from_beginning, group_id)
    }

    fn from_props(
        props: &HashMap<String, String>,
        from_beginning: bool,
        group_id: Option<String>,
    ) -> anyhow::Result<Options> {
        for key in props
            .keys()
            .filter(|k| !KNOWN_CONFIGS.contains(&k.as_str()))
        {
            eprintln!("WARN The configuration '{key}' was supplied but isn't a known config.");
        }
        if let Some(s) = props.get("partition.assignment.strategy") {
            if !s.split(',').any(is_range_assignor) {
                bail!("Invalid value {s} for configuration partition.assignment.strategy: Weir's consumer has only the range assignor (org.apache.kafka.clients.consumer.RangeAssignor).");
            }
        }
        let mut consumer = ConsumerConfig {
            auto_offset_reset: auto_offset_reset(props, from_beginning)?,
            ..ConsumerConfig::default()
        };
        set(props, "fetch.max.wait.ms", &mut consumer.fetch_max_wait_ms)?;
        set(props, "fetch.min.bytes", &mut consumer.fetch_min_bytes)?;
        set(props, "fetch.max.bytes", &mut consumer.fetch_max_bytes)?;
        set(
            props,
            "max.partition.fetch.bytes",
            &mut consumer.max_partition_fetch_bytes,
        )?;
        consumer.isolation_level = match props.get("isolation.level").map(String::as_str) {
            None | Some("read_uncommitted") => 0,
            Some("read_committed") => 1,
            Some(v) => bail!("Invalid value {v} for configuration isolation.level: String must be one of: read_committed, read_uncommitted"),
        };
        let group = group_id.map(|id| group_config(props, id)).transpose()?;
        Ok(Options {
            client_id: props
                .get("client.id")
                .cloned()
                .unwrap_or_else(|| "console-consumer".to_owned()),
            consumer,
            group,
        })
    }
}

/// The configs read here; anything else gets Kafka's "isn't a known
/// config" warning.
const KNOWN_CONFIGS: &[&str] = &[
    "group.id",
    "group.instance.id",
    "client.id",
    "bootstrap.servers",
    "auto.offset.reset",
    "enable.auto.commit",
    "auto.commit.interval.ms",
    "session.timeout.ms",
    "heartbeat.interval.ms",
    "max.poll.interval.ms",
    "retry.backoff.ms",
    "retry.backoff.max.ms",
    "partition.assignment.strategy",
    "fetch.max.wait.ms",
    "fetch.min.bytes",
    "fetch.max.bytes",
    "max.partition.fetch.bytes",
    "isolation.level",
    "key.deserializer",
    "value.deserializer",
];

fn is_range_assignor(name: &str) -> bool {
    let name = name.trim();
    name == "range" || name == "org.apache.kafka.clients.consumer.RangeAssignor"
}

/// The group settings from the consumer configs, Kafka's defaults for the
/// rest.
fn group_config(props: &HashMap<String, String>, group_id: String) -> anyhow::Result<GroupConfig> {
    let mut config = GroupConfig::new(group_id);
    config.group_instance_id = props.get("group.instance.id").cloned();
    if let Some(v) = props.get("enable.auto.commit") {
        config.enable_auto_commit = is_true(v);
    }
    set(
        props,
        "auto.commit.interval.ms",
        &mut config.auto_commit_interval_ms,
    )?;
    set(props, "session.timeout.ms", &mut config.session_timeout_ms)?;
    set(
        props,
        "heartbeat.interval.ms",
        &mut config.heartbeat_interval_ms,
    )?;
    set(
        props,
        "max.poll.interval.ms",
        &mut config.rebalance_timeout_ms,
    )?;
    set(props, "retry.backoff.ms", &mut config.retry_backoff_ms)?;
    set(
        props,
        "retry.backoff.max.ms",
        &mut config.retry_backoff_max_ms,
    )?;
    Ok(config)
}

/// Overwrite `field` with `props[key]` if present.
fn set<T: FromStr>(
    props: &HashMap<String, String>,
    key: &str,
    field: &mut T,
) -> anyhow::Result<()> {
    if let Some(v) = props.get(key) {
        *field = v.trim().parse().map_err(|_| {
            anyhow::anyhow!("Invalid value {v} for configuration {key}: Not a number")
        })?;
    }
    Ok(())
}

/// `auto.offset.reset`: an explicit value wins, but must agree with
/// `--from-beginning` (Kafka's `setAutoOffsetResetValue`); else
/// `--from-beginning` means earliest, and the default is latest.
fn auto_offset_reset(
    props: &HashMap<String, String>,
    from_beginning: bool,
) -> anyhow::Result<AutoOffsetReset> {
    let Some(value) = props.get("auto.offset.reset") else {
        return Ok(if from_beginning {
            AutoOffsetReset::Earliest
        } else {
            AutoOffsetReset::Latest
        });
    };
    if from_beginning && value != "earliest" {
        bail!("Can't simultaneously specify --from-beginning and 'auto.offset.reset={value}', please remove one option");
    }
    match value.as_str() {
        "earliest" => Ok(AutoOffsetReset::Earliest),
        "latest" => Ok(AutoOffsetReset::Latest),
        "none" => Ok(AutoOffsetReset::None),
        v => bail!("Invalid value {v} for configuration auto.offset.reset: String must be one of: latest, earliest, none"),
    }
}

/// The group id, if one was given; several different ones are an error
/// (Kafka's `checkConsumerGroup`).
fn single_group_id(
    args: &Args,
    from_file: &[(String, String)],
    from_flags: &[(String, String)],
) -> anyhow::Result<Option<String>> {
    let last = |props: &[(String, String)]| {
        props
            .iter()
            .rev()
            .find(|(k, _)| k == "group.id")
            .map(|(_, v)| v.clone())
    };
    let mut ids: Vec<String> = Vec::new();
    for id in [args.group.clone(), last(from_file), last(from_flags)]
        .into_iter()
        .flatten()
    {
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    if ids.len() > 1 {
        let detected: Vec<String> = ids.iter().map(|g| format!("'{g}'")).collect();
        bail!(
            "The group ids provided in different places (directly using '--group', via '--consumer-property', or via '--consumer.config') do not match. Detected group ids: {}",
            detected.join(", ")
        );
    }
    Ok(ids.pop())
}

/// A Java `.properties` file's pairs, in order.
fn read_properties(path: &PathBuf) -> anyhow::Result<Vec<(String, String)>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading --consumer.config {}", path.display()))?;
    let props = weir_broker::config::parse_properties(&text)
        .with_context(|| format!("parsing --consumer.config {}", path.display()))?;
    Ok(props.into_iter().map(|p| (p.key, p.value)).collect())
}

/// With `--partition`: `--offset`, else `--from-beginning`, else the end
/// (Kafka's `parseOffset`). Without it the consumer's
/// `auto.offset.reset` (or a group's committed offset) decides: `None`.
fn start_position(args: &Args) -> anyhow::Result<Option<OffsetSpec>> {
    if args.offset.is_some() && args.from_beginning {
        bail!("Options from-beginning and offset cannot be specified together.");
    }
    if args.partition.is_none() {
        return Ok(None);
    }
    match args.offset.as_deref() {
        None if args.from_beginning => Ok(Some(OffsetSpec::Earliest)),
        None | Some("latest") => Ok(Some(OffsetSpec::Latest)),
        Some("earliest") => Ok(Some(OffsetSpec::Earliest)),
        Some(n) => match n.parse::<i64>() {
            Ok(o) if o >= 0 => Ok(Some(OffsetSpec::Offset(o))),
            _ => bail!("The provided offset value '{n}' is incorrect. Valid values are 'earliest', 'latest', or a non-negative long."),
        },
    }
}

async fn assign(
    consumer: &mut Consumer,
    args: &Args,
    start: Option<OffsetSpec>,
) -> anyhow::Result<()> {
    match args.partition {
        Some(p) => consumer.assign(vec![TopicPartition::new(args.topic.clone(), p)]),
        None => consumer.assign_topic(&args.topic).await?,
    }
    if let Some(start) = start {
        let partitions = consumer.assignment().to_vec();
        consumer.seek(&partitions, start).await?;
    }
    Ok(())
}

async fn consume(
    reader: &mut Reader,
    args: &Args,
    formatter: &Formatter,
    out: &mut impl Write,
    count: &mut u64,
) -> anyhow::Result<()> {
    let max = args.max_messages.unwrap_or(u64::MAX);
    let idle_limit = args.timeout_ms.map(Duration::from_millis);
    let mut last_record = Instant::now();
    while *count < max {
        let slice = idle_limit.map_or(POLL_SLICE, |l| {
            l.saturating_sub(last_record.elapsed()).min(POLL_SLICE)
        });
        let records = reader.poll(slice).await?;
        if !records.is_empty() {
            last_record = Instant::now();
        }
        let printed = records
            .len()
            .min(usize::try_from(max - *count).unwrap_or(usize::MAX));
        for r in &records[..printed] {
            formatter.write(r, out)?;
            *count += 1;
        }
        out.flush()?;
        if printed < records.len() {
            reader.rewind(&records[printed..]).await?;
        }
        if idle_limit.is_some_and(|l| last_record.elapsed() >= l) {
            break;
        }
    }
    Ok(())
}

/// Kafka's `DefaultMessageFormatter`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Formatter {
    print_timestamp: bool,
    print_key: bool,
    print_value: bool,
    print_partition: bool,
    print_offset: bool,
    print_headers: bool,
    key_separator: Vec<u8>,
    line_separator: Vec<u8>,
    headers_separator: Vec<u8>,
    null_literal: Vec<u8>,
}

impl Formatter {
    /// From `--property` values, with Kafka's defaults.
    pub fn from_properties(props: &HashMap<String, String>) -> Formatter {
        let flag = |k: &str, default: bool| props.get(k).map_or(default, |v| is_true(v));
        let bytes = |k: &str, default: &str| {
            props
                .get(k)
                .map_or(default, String::as_str)
                .as_bytes()
                .to_vec()
        };
        Formatter {
            print_timestamp: flag("print.timestamp", false),
            print_key: flag("print.key", false),
            print_value: flag("print.value", true),
            print_partition: flag("print.partition", false),
            print_offset: flag("print.offset", false),
            print_headers: flag("print.headers", false),
            key_separator: bytes("key.separator", "\t"),
            line_separator: bytes("line.separator", "\n"),
            headers_separator: bytes("headers.separator", ","),
            null_literal: bytes("null.literal", "null"),
        }
    }

    /// Write one record: each enabled column, separated by
    /// `key.separator`, then the value and `line.separator`.
    pub fn write(&self, r: &ConsumerRecord, out: &mut impl Write) -> std::io::Result<()> {
        let mut columns: Vec<Vec<u8>> = Vec::new();
        if self.print_timestamp {
            let kind = match r.timestamp_type {
                TimestampType::Creation => "CreateTime",
                TimestampType::LogAppend => "LogAppendTime",
            };
            columns.push(format!("{kind}:{}", r.timestamp_ms).into_bytes());
        }
        if self.print_partition {
            columns.push(format!("Partition:{}", r.tp.partition).into_bytes());
        }
        if self.print_offset {
            columns.push(format!("Offset:{}", r.offset).into_bytes());
        }
        if self.print_headers {
            columns.push(self.headers(r));
        }
        if self.print_key {
            columns.push(self.or_null(r.key.as_deref()));
        }
        if self.print_value {
            columns.push(self.or_null(r.value.as_deref()));
        }
        let last = columns.len();
        for (i, c) in columns.iter().enumerate() {
            out.write_all(c)?;
            let sep = if i + 1 == last {
                &self.line_separator
            } else {
                &self.key_separator
            };
            out.write_all(sep)?;
        }
        Ok(())
    }

    fn headers(&self, r: &ConsumerRecord) -> Vec<u8> {
        if r.headers.is_empty() {
            return b"NO_HEADERS".to_vec();
        }
        let mut out = Vec::new();
        for (i, (k, v)) in r.headers.iter().enumerate() {
            if i > 0 {
                out.extend_from_slice(&self.headers_separator);
            }
            out.extend_from_slice(k.as_bytes());
            out.push(b':');
            out.extend_from_slice(&self.or_null(v.as_deref()));
        }
        out
    }

    fn or_null(&self, b: Option<&[u8]>) -> Vec<u8> {
        b.map_or_else(|| self.null_literal.clone(), <[u8]>::to_vec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> ConsumerRecord {
        ConsumerRecord {
            tp: TopicPartition::new("t", 2),
            offset: 41,
            timestamp_ms: 1_700_000_000_123,
            timestamp_type: TimestampType::Creation,
            key: Some(b"k".to_vec().into()),
            value: None,
            headers: vec![("h".into(), Some(b"v".to_vec().into()))],
        }
    }

    fn formatted(props: &[(&str, &str)]) -> String {
        let f = Formatter::from_properties(
            &props
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        let mut out = Vec::new();
        f.write(&record(), &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn default_prints_the_value_only() {
        assert_eq!(formatted(&[]), "null\n");
    }

    #[test]
    fn columns_in_kafkas_order() {
        let all = [
            ("print.timestamp", "true"),
            ("print.partition", "true"),
            ("print.offset", "true"),
            ("print.headers", "true"),
            ("print.key", "true"),
            ("key.separator", "|"),
        ];
        assert_eq!(
            formatted(&all),
            "CreateTime:1700000000123|Partition:2|Offset:41|h:v|k|null\n"
        );
        assert_eq!(
            formatted(&[("print.key", "true"), ("print.value", "false")]),
            "k\n"
        );
    }

    fn args(from_beginning: bool, partition: Option<i32>, offset: Option<&str>) -> Args {
        Args {
            bootstrap_server: "x:1".into(),
            topic: "t".into(),
            from_beginning,
            partition,
            offset: offset.map(str::to_owned),
            max_messages: None,
            timeout_ms: None,
            property: vec![],
            group: None,
            consumer_property: vec![],
            consumer_config: None,
        }
    }

    #[test]
    fn start_positions() {
        let start = |b, o| start_position(&args(b, Some(0), o)).unwrap();
        assert_eq!(start(false, None), Some(OffsetSpec::Latest));
        assert_eq!(start(true, None), Some(OffsetSpec::Earliest));
        assert_eq!(start(false, Some("17")), Some(OffsetSpec::Offset(17)));
        assert!(start_position(&args(false, Some(0), Some("-3"))).is_err());
        assert!(start_position(&args(true, Some(0), Some("1"))).is_err());
        // Without --partition the reset policy (or the group) decides.
        assert_eq!(start_position(&args(true, None, None)).unwrap(), None);
    }

    fn props(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn from_beginning_is_earliest_unless_a_conflicting_reset_is_set() {
        let reset = |p: &[(&str, &str)], b| auto_offset_reset(&props(p), b);
        assert_eq!(reset(&[], true).unwrap(), AutoOffsetReset::Earliest);
        assert_eq!(reset(&[], false).unwrap(), AutoOffsetReset::Latest);
        let both = [("auto.offset.reset", "earliest")];
        assert_eq!(reset(&both, true).unwrap(), AutoOffsetReset::Earliest);
        let err = reset(&[("auto.offset.reset", "latest")], true).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Can't simultaneously specify --from-beginning and 'auto.offset.reset=latest', please remove one option"
        );
        assert!(reset(&[("auto.offset.reset", "sometimes")], false).is_err());
    }

    #[test]
    fn group_ids_from_every_source_must_agree() {
        let mut a = args(false, None, None);
        a.group = Some("g".into());
        a.consumer_property = vec!["group.id=g".into()];
        let o = Options::from_args(&a).unwrap();
        assert_eq!(o.group.unwrap().group_id, "g");
        a.consumer_property = vec!["group.id=h".into()];
        let err = Options::from_args(&a).unwrap_err().to_string();
        assert!(err.ends_with("Detected group ids: 'g', 'h'"), "{err}");
        a.consumer_property.clear();
        a.partition = Some(0);
        assert_eq!(
            Options::from_args(&a).unwrap_err().to_string(),
            "Options group and partition cannot be specified together."
        );
    }

    #[test]
    fn group_configs_are_read() {
        let p = props(&[
            ("enable.auto.commit", "false"),
            ("session.timeout.ms", "10000"),
            ("client.id", "me"),
            ("fetch.max.wait.ms", "100"),
        ]);
        let o = Options::from_props(&p, false, Some("g".into())).unwrap();
        let g = o.group.unwrap();
        assert!(!g.enable_auto_commit);
        assert_eq!(g.session_timeout_ms, 10_000);
        assert_eq!(o.client_id, "me");
        assert_eq!(o.consumer.fetch_max_wait_ms, 100);
        let bad = props(&[("session.timeout.ms", "soon")]);
        assert!(Options::from_props(&bad, false, Some("g".into())).is_err());
        let other = props(&[("partition.assignment.strategy", "roundrobin")]);
        assert!(Options::from_props(&other, false, None).is_err());
    }
}
