//! `weir console-consumer`: read a topic's records and print them
//! (kafka-console-consumer.sh) with the properties of Kafka's
//! `DefaultMessageFormatter`. Without consumer groups yet, it reads every
//! partition of the topic, or the one given with `--partition`.

use super::tool_support::{client_config, is_true, parse_key_values, runtime};
use anyhow::bail;
use std::collections::HashMap;
use std::io::Write;
use std::time::{Duration, Instant};
use weir_client::consumer::{AutoOffsetReset, TimestampType};
use weir_client::{Client, Consumer, ConsumerConfig, ConsumerRecord, OffsetSpec};
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
    /// Start with the earliest message present in the log rather than the latest.
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
}

/// Consume until `--max-messages`, `--timeout-ms` or Ctrl-C, then report
/// the count on stderr as Kafka does.
pub fn run(args: &Args, out: &mut impl Write) -> anyhow::Result<()> {
    let formatter =
        Formatter::from_properties(&parse_key_values(&args.property)?.into_iter().collect());
    let start = start_position(args)?;
    let mut count = 0u64;
    let result = runtime()?.block_on(async {
        let client =
            Client::connect(client_config(&args.bootstrap_server, "console-consumer")?).await?;
        let mut consumer = Consumer::new(client, consumer_config(args));
        assign(&mut consumer, args, start).await?;
        tokio::select! {
            r = consume(&mut consumer, args, &formatter, out, &mut count) => r,
            _ = tokio::signal::ctrl_c() => Ok(()),
        }
    });
    let _ = out.flush();
    eprintln!("Processed a total of {count} messages");
    result
}

fn consumer_config(args: &Args) -> ConsumerConfig {
    ConsumerConfig {
        auto_offset_reset: if args.from_beginning {
            AutoOffsetReset::Earliest
        } else {
            AutoOffsetReset::Latest
        },
        ..ConsumerConfig::default()
    }
}

/// Where to start: `--offset`, else `--from-beginning`, else the end.
fn start_position(args: &Args) -> anyhow::Result<OffsetSpec> {
    if args.offset.is_some() && args.from_beginning {
        bail!("Options from-beginning and offset cannot be specified together.");
    }
    match args.offset.as_deref() {
        None if args.from_beginning => Ok(OffsetSpec::Earliest),
        None | Some("latest") => Ok(OffsetSpec::Latest),
        Some("earliest") => Ok(OffsetSpec::Earliest),
        Some(n) => match n.parse::<i64>() {
            Ok(o) if o >= 0 => Ok(OffsetSpec::Offset(o)),
            _ => bail!("The provided offset value '{n}' is incorrect. Valid values are 'earliest', 'latest', or a non-negative long."),
        },
    }
}

async fn assign(consumer: &mut Consumer, args: &Args, start: OffsetSpec) -> anyhow::Result<()> {
    match args.partition {
        Some(p) => consumer.assign(vec![TopicPartition::new(args.topic.clone(), p)]),
        None => consumer.assign_topic(&args.topic).await?,
    }
    let partitions = consumer.assignment().to_vec();
    consumer.seek(&partitions, start).await?;
    Ok(())
}

async fn consume(
    consumer: &mut Consumer,
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
        let records = consumer.poll(slice).await?;
        if !records.is_empty() {
            last_record = Instant::now();
        }
        for r in records
            .iter()
            .take(usize::try_from(max - *count).unwrap_or(usize::MAX))
        {
            formatter.write(r, out)?;
            *count += 1;
        }
        out.flush()?;
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

    #[test]
    fn start_positions() {
        let args = |from_beginning: bool, offset: Option<&str>| Args {
            bootstrap_server: "x:1".into(),
            topic: "t".into(),
            from_beginning,
            partition: Some(0),
            offset: offset.map(str::to_owned),
            max_messages: None,
            timeout_ms: None,
            property: vec![],
        };
        assert_eq!(
            start_position(&args(false, None)).unwrap(),
            OffsetSpec::Latest
        );
        assert_eq!(
            start_position(&args(true, None)).unwrap(),
            OffsetSpec::Earliest
        );
        assert_eq!(
            start_position(&args(false, Some("17"))).unwrap(),
            OffsetSpec::Offset(17)
        );
        assert!(start_position(&args(false, Some("-3"))).is_err());
        assert!(start_position(&args(true, Some("1"))).is_err());
    }
}
