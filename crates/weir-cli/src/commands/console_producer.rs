//! `weir console-producer`: read lines from stdin and produce each as a
//! record (kafka-console-producer.sh), parsing keys and headers with the
//! properties of Kafka's `LineMessageReader`.

use super::tool_support::{client_config, is_true, parse_key_values, runtime};
use anyhow::bail;
use std::collections::HashMap;
use std::io::{BufRead, Write};
use tokio::sync::mpsc;
use weir_client::producer::parse_compression;
use weir_client::{Client, DeliveryFuture, Producer, ProducerConfig, ProducerRecord};

/// Read data from standard input and publish it to a topic.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// REQUIRED: The server(s) to connect to.
    #[arg(long = "bootstrap-server", value_name = "server to connect to")]
    pub bootstrap_server: String,
    /// REQUIRED: The topic id to produce messages to.
    #[arg(long, value_name = "topic")]
    pub topic: String,
    /// Properties of the line reader: parse.key, key.separator,
    /// parse.headers, headers.delimiter, headers.separator,
    /// headers.key.separator, null.marker, ignore.error.
    #[arg(long, value_name = "prop")]
    pub property: Vec<String>,
    /// A producer config (acks=all, linger.ms=..., ...).
    #[arg(long = "producer-property", value_name = "producer_prop")]
    pub producer_property: Vec<String>,
    /// Compression codec: none, gzip, snappy, lz4 or zstd (gzip if given
    /// without a value).
    #[arg(long = "compression-codec", value_name = "compression-codec", num_args = 0..=1, default_missing_value = "gzip")]
    pub compression_codec: Option<String>,
    /// Wait for each record to be acknowledged before reading the next line.
    #[arg(long)]
    pub sync: bool,
    /// Records per batch in bytes when sending asynchronously (batch.size).
    #[arg(long = "batch-size", value_name = "size")]
    pub batch_size: Option<usize>,
    /// linger.ms: how long to wait for a batch to fill.
    #[arg(long, value_name = "timeout_ms")]
    pub timeout: Option<u64>,
    /// acks: -1/all, 0 or 1.
    #[arg(long = "request-required-acks", value_name = "request required acks")]
    pub request_required_acks: Option<String>,
    /// retries of a failed batch.
    #[arg(long = "message-send-max-retries", value_name = "retries")]
    pub message_send_max_retries: Option<u32>,
    /// retry.backoff.ms.
    #[arg(long = "retry-backoff-ms", value_name = "ms")]
    pub retry_backoff_ms: Option<u64>,
    /// request.timeout.ms.
    #[arg(long = "request-timeout-ms", value_name = "request timeout ms")]
    pub request_timeout_ms: Option<i32>,
}

/// Produce stdin's lines until end of input, then flush.
pub fn run(args: &Args, out: &mut impl Write) -> anyhow::Result<()> {
    let reader =
        LineReader::from_properties(&parse_key_values(&args.property)?.into_iter().collect())?;
    let config = producer_config(args)?;
    let stdin = std::io::stdin();
    runtime()?.block_on(async {
        let client =
            Client::connect(client_config(&args.bootstrap_server, "console-producer")?).await?;
        let producer = Producer::new(client, config);
        let (failures, checker) = spawn_checker();
        let result = produce_lines(args, &reader, &producer, stdin.lock(), &failures).await;
        drop(failures);
        producer.close().await?;
        let failed = checker.await?;
        result?;
        out.flush()?;
        match failed {
            Some(e) => Err(e),
            None => Ok(()),
        }
    })
}

/// Producer settings: `--producer-property` first, then the dedicated
/// flags, which Kafka lets override them.
fn producer_config(args: &Args) -> anyhow::Result<ProducerConfig> {
    let mut config = ProducerConfig {
        linger_ms: 1000,
        ..ProducerConfig::default()
    };
    for (k, v) in parse_key_values(&args.producer_property)? {
        config.set(&k, &v)?;
    }
    if let Some(c) = &args.compression_codec {
        config.compression = parse_compression(c)?;
    }
    if let Some(b) = args.batch_size {
        config.batch_size = b;
    }
    if let Some(t) = args.timeout {
        config.linger_ms = t;
    }
    if let Some(a) = &args.request_required_acks {
        config.acks = a.parse()?;
    }
    if let Some(r) = args.message_send_max_retries {
        config.retries = r;
    }
    if let Some(b) = args.retry_backoff_ms {
        config.retry_backoff_ms = b;
    }
    if let Some(t) = args.request_timeout_ms {
        config.request_timeout_ms = t;
    }
    Ok(config)
}

async fn produce_lines(
    args: &Args,
    reader: &LineReader,
    producer: &Producer,
    input: impl BufRead,
    deliveries: &mpsc::UnboundedSender<DeliveryFuture>,
) -> anyhow::Result<()> {
    for (i, line) in input.lines().enumerate() {
        let line = line?;
        let Some(parsed) = reader.parse(i + 1, &line)? else {
            continue;
        };
        let record = ProducerRecord {
            topic: args.topic.clone(),
            key: parsed.key.map(Into::into),
            value: parsed.value.map(Into::into),
            headers: parsed
                .headers
                .into_iter()
                .map(|(k, v)| (k, v.map(Into::into)))
                .collect(),
            ..ProducerRecord::default()
        };
        let delivery = producer.send(record).await?;
        if args.sync {
            delivery.await?;
        } else {
            let _ = deliveries.send(delivery);
        }
    }
    Ok(())
}

/// Await deliveries in order, print each failure as Kafka's callback does,
/// and report the first one so the tool exits non-zero.
fn spawn_checker() -> (
    mpsc::UnboundedSender<DeliveryFuture>,
    tokio::task::JoinHandle<Option<anyhow::Error>>,
) {
    let (tx, mut rx) = mpsc::unbounded_channel::<DeliveryFuture>();
    let task = tokio::spawn(async move {
        let mut first = None;
        while let Some(delivery) = rx.recv().await {
            if let Err(e) = delivery.await {
                eprintln!("Error when sending message: {e}");
                first.get_or_insert_with(|| anyhow::Error::from(e));
            }
        }
        first
    });
    (tx, task)
}

/// One line split into key, value and headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedLine {
    /// Key, if `parse.key`.
    pub key: Option<Vec<u8>>,
    /// Value (`None` if it equals `null.marker`).
    pub value: Option<Vec<u8>>,
    /// Headers, if `parse.headers`.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

/// Kafka's `LineMessageReader`: how a line becomes a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineReader {
    parse_key: bool,
    key_separator: String,
    parse_headers: bool,
    headers_delimiter: String,
    headers_separator: String,
    headers_key_separator: String,
    null_marker: Option<String>,
    ignore_error: bool,
}

impl LineReader {
    /// From `--property` values, with Kafka's defaults.
    pub fn from_properties(props: &HashMap<String, String>) -> anyhow::Result<LineReader> {
        let get =
            |k: &str, default: &str| props.get(k).cloned().unwrap_or_else(|| default.to_owned());
        let reader = LineReader {
            parse_key: props.get("parse.key").is_some_and(|v| is_true(v)),
            key_separator: get("key.separator", "\t"),
            parse_headers: props.get("parse.headers").is_some_and(|v| is_true(v)),
            headers_delimiter: get("headers.delimiter", "\t"),
            headers_separator: get("headers.separator", ","),
            headers_key_separator: get("headers.key.separator", ":"),
            null_marker: props.get("null.marker").cloned(),
            ignore_error: props.get("ignore.error").is_some_and(|v| is_true(v)),
        };
        if reader.parse_key && reader.key_separator.is_empty() {
            bail!("key.separator must not be empty");
        }
        if reader.parse_headers && reader.headers_delimiter.is_empty() {
            bail!("headers.delimiter must not be empty");
        }
        Ok(reader)
    }

    /// Parse line `number` (1-based, for messages). `Ok(None)` skips it.
    pub fn parse(&self, number: usize, line: &str) -> anyhow::Result<Option<ParsedLine>> {
        let mut rest = line;
        let mut headers = Vec::new();
        if self.parse_headers {
            match line.split_once(&self.headers_delimiter) {
                Some((h, r)) => {
                    headers = self.parse_header_list(h)?;
                    rest = r;
                }
                None if self.ignore_error => {}
                None => bail!("No headers delimiter found on line number {number}: '{line}'"),
            }
        }
        let (key, value) = if self.parse_key {
            match rest.split_once(&self.key_separator) {
                Some((k, v)) => (Some(k), v),
                None if self.ignore_error => (None, rest),
                None => bail!("No key separator found on line number {number}: '{line}'"),
            }
        } else {
            (None, rest)
        };
        Ok(Some(ParsedLine {
            key: key.and_then(|k| self.nullable(k)),
            value: self.nullable(value),
            headers,
        }))
    }

    fn parse_header_list(&self, s: &str) -> anyhow::Result<Vec<(String, Option<Vec<u8>>)>> {
        if s.is_empty() {
            return Ok(Vec::new());
        }
        s.split(self.headers_separator.as_str())
            .map(|h| match h.split_once(&self.headers_key_separator) {
                Some((k, v)) => Ok((k.to_owned(), self.nullable(v))),
                None => Ok((h.to_owned(), None)),
            })
            .collect()
    }

    fn nullable(&self, s: &str) -> Option<Vec<u8>> {
        match &self.null_marker {
            Some(m) if m == s => None,
            _ => Some(s.as_bytes().to_vec()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader(props: &[(&str, &str)]) -> LineReader {
        LineReader::from_properties(
            &props
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
        .unwrap()
    }

    #[test]
    fn plain_lines_are_values() {
        let p = reader(&[]).parse(1, "hello\tworld").unwrap().unwrap();
        assert_eq!(p.key, None);
        assert_eq!(p.value.as_deref(), Some(&b"hello\tworld"[..]));
    }

    #[test]
    fn keys_split_at_the_first_separator() {
        let r = reader(&[("parse.key", "true"), ("key.separator", ":")]);
        let p = r.parse(1, "k:v:w").unwrap().unwrap();
        assert_eq!(p.key.as_deref(), Some(&b"k"[..]));
        assert_eq!(p.value.as_deref(), Some(&b"v:w"[..]));
        let err = r.parse(7, "novalue").unwrap_err();
        assert_eq!(
            err.to_string(),
            "No key separator found on line number 7: 'novalue'"
        );
        let lenient = reader(&[
            ("parse.key", "true"),
            ("key.separator", ":"),
            ("ignore.error", "true"),
        ]);
        assert_eq!(lenient.parse(1, "x").unwrap().unwrap().key, None);
    }

    #[test]
    fn headers_and_null_marker() {
        let r = reader(&[
            ("parse.headers", "true"),
            ("parse.key", "true"),
            ("null.marker", "NULL"),
        ]);
        let p = r.parse(1, "h1:v1,h2:NULL\tNULL\tvalue").unwrap().unwrap();
        assert_eq!(
            p.headers,
            vec![
                ("h1".to_owned(), Some(b"v1".to_vec())),
                ("h2".to_owned(), None)
            ]
        );
        assert_eq!(p.key, None);
        assert_eq!(p.value.as_deref(), Some(&b"value"[..]));
    }
}
