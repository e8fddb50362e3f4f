//! The producer: per-partition batching with `linger.ms` and `batch.size`,
//! `acks` 0/1/all, compression, and retries of retriable errors.
//!
//! [`Producer::send`] picks the partition (explicit, murmur2 of the key as
//! Kafka's default partitioner does, or sticky for keyless records) and
//! hands the record to one sender task. That task owns the
//! [`batch::Accumulator`]; when a batch is ready it encodes it and submits
//! the Produce request to the partition leader's connection *in order*, so
//! a partition's batches reach the broker in the order they were sent even
//! with several in flight. Each response is awaited in its own task, which
//! completes every record's [`DeliveryFuture`] with its offset, or retries
//! after refreshing metadata (leader moved, topic just created).

pub(crate) mod batch;
mod partitioner;
mod sender;

use crate::client::Client;
use crate::error::{ClientError, Result};
use batch::Appended;
use bytes::Bytes;
pub use kafka_protocol::records::Compression;
use partitioner::Partitioner;
use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::task::{Context, Poll};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use weir_protocol::{Offset, TopicPartition};

pub use partitioner::murmur2;

/// `acks`: how many replicas must have a batch before the broker answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acks {
    /// `acks=0`: the broker sends no answer; offsets are unknown.
    None,
    /// `acks=1`: the leader has appended it.
    Leader,
    /// `acks=all` (`-1`): the high watermark has passed it.
    All,
}

impl Acks {
    /// The value of the Produce request's `acks` field.
    pub fn wire(self) -> i16 {
        match self {
            Acks::None => 0,
            Acks::Leader => 1,
            Acks::All => -1,
        }
    }
}

impl FromStr for Acks {
    type Err = ClientError;
    fn from_str(s: &str) -> Result<Acks> {
        match s.trim() {
            "0" => Ok(Acks::None),
            "1" => Ok(Acks::Leader),
            "-1" | "all" => Ok(Acks::All),
            other => Err(ClientError::Config(format!(
                "Invalid value {other} for configuration acks: String must be one of: all, -1, 0, 1"
            ))),
        }
    }
}

/// Parse a `compression.type` name.
pub fn parse_compression(s: &str) -> Result<Compression> {
    match s.trim() {
        "none" => Ok(Compression::None),
        "gzip" => Ok(Compression::Gzip),
        "snappy" => Ok(Compression::Snappy),
        "lz4" => Ok(Compression::Lz4),
        "zstd" => Ok(Compression::Zstd),
        other => Err(ClientError::Config(format!(
            "Invalid value {other} for configuration compression.type: String must be one of: none, gzip, snappy, lz4, zstd"
        ))),
    }
}

/// Producer settings, named and defaulted as Kafka's producer configs.
#[derive(Debug, Clone)]
pub struct ProducerConfig {
    /// `acks` (Kafka's default: all).
    pub acks: Acks,
    /// `linger.ms`: how long a batch waits for more records (Kafka 4: 5).
    pub linger_ms: u64,
    /// `batch.size`: bytes at which a batch is sent without waiting.
    pub batch_size: usize,
    /// `compression.type`.
    pub compression: Compression,
    /// `retries` of a batch on retriable errors.
    pub retries: u32,
    /// `retry.backoff.ms`.
    pub retry_backoff_ms: u64,
    /// `request.timeout.ms`, also sent as the Produce timeout.
    pub request_timeout_ms: i32,
    /// `buffer.memory`: bytes of records buffered or in flight before
    /// `send` waits.
    pub buffer_memory: usize,
    /// `max.request.size`: a larger record is refused at `send`.
    pub max_request_size: usize,
}

impl Default for ProducerConfig {
    fn default() -> Self {
        ProducerConfig {
            acks: Acks::All,
            linger_ms: 5,
            batch_size: 16_384,
            compression: Compression::None,
            retries: 10,
            retry_backoff_ms: 100,
            request_timeout_ms: 30_000,
            buffer_memory: 32 << 20,
            max_request_size: 1 << 20,
        }
    }
}

impl ProducerConfig {
    /// Apply one Kafka producer property (`acks=all`, `linger.ms=5`, ...).
    /// Unknown keys are ignored with a warning, as Kafka logs them.
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        match key {
            "acks" => self.acks = value.parse()?,
            "linger.ms" => self.linger_ms = parse_num(key, value)?,
            "batch.size" => self.batch_size = parse_num(key, value)?,
            "compression.type" => self.compression = parse_compression(value)?,
            "retries" => self.retries = parse_num(key, value)?,
            "retry.backoff.ms" => self.retry_backoff_ms = parse_num(key, value)?,
            "request.timeout.ms" => self.request_timeout_ms = parse_num(key, value)?,
            "buffer.memory" => self.buffer_memory = parse_num(key, value)?,
            "max.request.size" => self.max_request_size = parse_num(key, value)?,
            _ => tracing::warn!("the configuration '{key}' was supplied but isn't a known config"),
        }
        Ok(())
    }
}

fn parse_num<T: FromStr>(key: &str, value: &str) -> Result<T> {
    value
        .trim()
        .parse()
        .map_err(|_| ClientError::Config(format!("Invalid value {value} for configuration {key}")))
}

/// A record to send.
#[derive(Debug, Clone, Default)]
pub struct ProducerRecord {
    /// Topic.
    pub topic: String,
    /// Partition; `None` lets the partitioner choose.
    pub partition: Option<i32>,
    /// Key (keyed records always go to the same partition).
    pub key: Option<Bytes>,
    /// Value.
    pub value: Option<Bytes>,
    /// Headers, in order.
    pub headers: Vec<(String, Option<Bytes>)>,
    /// CreateTime in ms; `None` means now.
    pub timestamp_ms: Option<i64>,
}

impl ProducerRecord {
    /// A keyless record.
    pub fn new(topic: impl Into<String>, value: impl Into<Bytes>) -> ProducerRecord {
        ProducerRecord {
            topic: topic.into(),
            value: Some(value.into()),
            ..ProducerRecord::default()
        }
    }

    /// With a key.
    pub fn with_key(mut self, key: impl Into<Bytes>) -> ProducerRecord {
        self.key = Some(key.into());
        self
    }

    /// To a given partition.
    pub fn with_partition(mut self, partition: i32) -> ProducerRecord {
        self.partition = Some(partition);
        self
    }

    /// With one more header.
    pub fn with_header(mut self, key: impl Into<String>, value: Option<Bytes>) -> ProducerRecord {
        self.headers.push((key.into(), value));
        self
    }
}

/// Where a record landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordMetadata {
    /// Topic and partition.
    pub tp: TopicPartition,
    /// Its offset; `None` with `acks=0`, where the broker does not say.
    pub offset: Option<Offset>,
    /// CreateTime sent, or the broker's LogAppendTime if the topic uses it.
    pub timestamp_ms: i64,
}

/// Resolves to a record's [`RecordMetadata`] once its batch is acknowledged.
#[derive(Debug)]
pub struct DeliveryFuture {
    rx: oneshot::Receiver<Result<RecordMetadata>>,
}

impl Future for DeliveryFuture {
    type Output = Result<RecordMetadata>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.rx)
            .poll(cx)
            .map(|r| r.unwrap_or(Err(ClientError::Closed)))
    }
}

/// Commands to the sender task.
#[derive(Debug)]
enum Command {
    Append(Box<Appended>),
    Flush(oneshot::Sender<()>),
}

/// Bound on queued commands; with `buffer.memory` this is what makes
/// `send` wait when the broker cannot keep up.
const COMMAND_QUEUE: usize = 4096;

/// An asynchronous producer.
#[derive(Debug)]
pub struct Producer {
    client: Client,
    config: ProducerConfig,
    partitioner: Partitioner,
    commands: mpsc::Sender<Command>,
    task: Option<JoinHandle<()>>,
}

impl Producer {
    /// A producer on `client`.
    pub fn new(client: Client, config: ProducerConfig) -> Producer {
        let (commands, rx) = mpsc::channel(COMMAND_QUEUE);
        let task = tokio::spawn(sender::run(client.clone(), config.clone(), rx));
        Producer {
            partitioner: Partitioner::new(config.batch_size),
            client,
            config,
            commands,
            task: Some(task),
        }
    }

    /// Queue `record`; the returned future resolves once the broker has
    /// acknowledged it (per `acks`). Waits while the buffer is full.
    pub async fn send(&self, record: ProducerRecord) -> Result<DeliveryFuture> {
        let tp = self.choose_partition(&record).await?;
        let timestamp = record.timestamp_ms.unwrap_or_else(now_ms);
        let record = batch::new_record(record.key, record.value, record.headers, timestamp);
        let size = batch::estimated_size(&record);
        if size > self.config.max_request_size {
            return Err(record_too_large(size, self.config.max_request_size));
        }
        self.partitioner.note_sent(&tp, size);
        let (waiter, rx) = oneshot::channel();
        let append = Command::Append(Box::new(Appended { tp, record, waiter }));
        self.commands
            .send(append)
            .await
            .map_err(|_| ClientError::Closed)?;
        Ok(DeliveryFuture { rx })
    }

    /// Send everything buffered now and wait until all of it is answered.
    pub async fn flush(&self) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::Flush(tx))
            .await
            .map_err(|_| ClientError::Closed)?;
        rx.await.map_err(|_| ClientError::Closed)
    }

    /// Flush and stop the sender task.
    pub async fn close(mut self) -> Result<()> {
        let flushed = self.flush().await;
        let (closed, _) = mpsc::channel(1);
        self.commands = closed;
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        flushed
    }

    async fn choose_partition(&self, record: &ProducerRecord) -> Result<TopicPartition> {
        let partitions = self.client.partitions_with(&record.topic, true).await?;
        let partition = match record.partition {
            Some(p) if partitions.contains(&p) => p,
            Some(p) => return Err(unknown_partition(&record.topic, p)),
            None => {
                self.partitioner
                    .partition(&record.topic, record.key.as_deref(), partitions.len())
            }
        };
        Ok(TopicPartition::new(record.topic.clone(), partition))
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        // The sender task drains what was sent before the drop and exits
        // when the command channel closes; nothing to abort.
        self.task.take();
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn record_too_large(size: usize, max: usize) -> ClientError {
    ClientError::Kafka(crate::error::KafkaError {
        error: kafka_protocol::error::ResponseError::MessageTooLarge,
        message: Some(format!(
            "The message is {size} bytes when serialized which is larger than {max}, which is the value of the max.request.size configuration."
        )),
    })
}

fn unknown_partition(topic: &str, partition: i32) -> ClientError {
    ClientError::Kafka(crate::error::KafkaError {
        error: kafka_protocol::error::ResponseError::UnknownTopicOrPartition,
        message: Some(format!(
            "Partition {partition} of topic {topic} does not exist."
        )),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acks_and_compression_parse_like_kafka() {
        assert_eq!("all".parse::<Acks>().unwrap(), Acks::All);
        assert_eq!("-1".parse::<Acks>().unwrap().wire(), -1);
        assert_eq!("0".parse::<Acks>().unwrap(), Acks::None);
        assert!("2".parse::<Acks>().is_err());
        assert_eq!(parse_compression("zstd").unwrap(), Compression::Zstd);
        assert!(parse_compression("brotli").is_err());
        let mut c = ProducerConfig::default();
        c.set("linger.ms", "20").unwrap();
        c.set("batch.size", "65536").unwrap();
        c.set("compression.type", "lz4").unwrap();
        assert_eq!(
            (c.linger_ms, c.batch_size, c.compression),
            (20, 65536, Compression::Lz4)
        );
        assert!(c.set("linger.ms", "soon").is_err());
        c.set("client.id", "x").unwrap();
    }
}
