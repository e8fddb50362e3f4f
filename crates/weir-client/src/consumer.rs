//! The consumer: assigned partitions (no group yet), positions set by seek
//! or ListOffsets, records read with Fetch and decoded by `kafka-protocol`'s
//! batch decoder (through `weir_protocol::records`, which checks CRC and
//! record counts first).
//!
//! Each poll sends one Fetch per partition leader, concurrently; a leader
//! change (NOT_LEADER_OR_FOLLOWER and friends) refreshes metadata and the
//! next poll goes to the new leader.

use crate::client::{topic_name, Client};
use crate::connection::Connection;
use crate::error::{check, ClientError, KafkaError, Result};
use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::fetch_response::PartitionData;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{
    FetchRequest, FetchResponse, ListOffsetsRequest, ListOffsetsResponse,
};
pub use kafka_protocol::records::TimestampType;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;
use weir_protocol::batch::BatchIter;
use weir_protocol::{BrokerId, TopicPartition};

/// Partitions and their fetch positions, by leader, with its connection.
type ByLeader = BTreeMap<BrokerId, (Arc<Connection>, Vec<(TopicPartition, i64)>)>;

/// Fetch versions from 13 name topics by id only.
const LAST_FETCH_VERSION_WITH_NAMES: i16 = 12;

/// A position to look up with ListOffsets, or to seek to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetSpec {
    /// The log start offset (`--from-beginning`, `earliest`).
    Earliest,
    /// The log end offset (`latest`).
    Latest,
    /// The first offset whose timestamp is at or after this (ms).
    Timestamp(i64),
    /// This offset exactly.
    Offset(i64),
}

impl OffsetSpec {
    /// The ListOffsets `timestamp` field, or `None` for an exact offset.
    fn list_offsets_timestamp(self) -> Option<i64> {
        match self {
            OffsetSpec::Earliest => Some(-2),
            OffsetSpec::Latest => Some(-1),
            OffsetSpec::Timestamp(ts) => Some(ts),
            OffsetSpec::Offset(_) => None,
        }
    }
}

/// `auto.offset.reset`: where to start a partition with no position, or
/// after OFFSET_OUT_OF_RANGE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoOffsetReset {
    /// Start from the log start.
    Earliest,
    /// Start from the log end (Kafka's default).
    Latest,
    /// Fail instead.
    None,
}

/// Consumer settings, named and defaulted as Kafka's consumer configs.
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    /// `fetch.max.wait.ms`: how long the broker may hold a Fetch for
    /// `fetch.min.bytes` to arrive.
    pub fetch_max_wait_ms: i32,
    /// `fetch.min.bytes`.
    pub fetch_min_bytes: i32,
    /// `fetch.max.bytes`: per Fetch response.
    pub fetch_max_bytes: i32,
    /// `max.partition.fetch.bytes`.
    pub max_partition_fetch_bytes: i32,
    /// `auto.offset.reset`.
    pub auto_offset_reset: AutoOffsetReset,
    /// `isolation.level`: 0 read_uncommitted, 1 read_committed.
    pub isolation_level: i8,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        ConsumerConfig {
            fetch_max_wait_ms: 500,
            fetch_min_bytes: 1,
            fetch_max_bytes: 52_428_800,
            max_partition_fetch_bytes: 1_048_576,
            auto_offset_reset: AutoOffsetReset::Latest,
            isolation_level: 0,
        }
    }
}

/// One record read from a partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerRecord {
    /// Topic and partition.
    pub tp: TopicPartition,
    /// Offset.
    pub offset: i64,
    /// Timestamp in ms.
    pub timestamp_ms: i64,
    /// Whether the timestamp is CreateTime or LogAppendTime.
    pub timestamp_type: TimestampType,
    /// Key.
    pub key: Option<Bytes>,
    /// Value.
    pub value: Option<Bytes>,
    /// Headers, in order.
    pub headers: Vec<(String, Option<Bytes>)>,
}

/// A consumer of explicitly assigned partitions.
#[derive(Debug)]
pub struct Consumer {
    client: Client,
    config: ConsumerConfig,
    assignment: Vec<TopicPartition>,
    /// Next offset to fetch, per assigned partition that has one.
    positions: HashMap<TopicPartition, i64>,
}

impl Consumer {
    /// A consumer on `client` with nothing assigned.
    pub fn new(client: Client, config: ConsumerConfig) -> Consumer {
        Consumer {
            client,
            config,
            assignment: Vec::new(),
            positions: HashMap::new(),
        }
    }

    /// Replace the assignment. Positions of partitions kept are kept.
    pub fn assign(&mut self, partitions: Vec<TopicPartition>) {
        self.positions.retain(|tp, _| partitions.contains(tp));
        self.assignment = partitions;
    }

    /// Assign every partition of `topic`.
    pub async fn assign_topic(&mut self, topic: &str) -> Result<()> {
        let partitions = self.client.partitions(topic).await?;
        self.assign(
            partitions
                .into_iter()
                .map(|p| TopicPartition::new(topic, p))
                .collect(),
        );
        Ok(())
    }

    /// The assigned partitions.
    pub fn assignment(&self) -> &[TopicPartition] {
        &self.assignment
    }

    /// The next offset to be fetched from `tp`, if known.
    pub fn position(&self, tp: &TopicPartition) -> Option<i64> {
        self.positions.get(tp).copied()
    }

    /// Move `partitions` to `spec` (ListOffsets for all but an exact offset).
    pub async fn seek(&mut self, partitions: &[TopicPartition], spec: OffsetSpec) -> Result<()> {
        let offsets = match spec {
            OffsetSpec::Offset(o) => partitions.iter().map(|tp| (tp.clone(), o)).collect(),
            _ => self.list_offsets(partitions, spec).await?,
        };
        self.positions.extend(offsets);
        Ok(())
    }

    /// Look up offsets with ListOffsets, one request per partition leader.
    pub async fn list_offsets(
        &self,
        partitions: &[TopicPartition],
        spec: OffsetSpec,
    ) -> Result<HashMap<TopicPartition, i64>> {
        list_offsets(&self.client, partitions, spec, self.config.isolation_level).await
    }

    /// Fetch records from every assigned partition, waiting up to `timeout`
    /// for some to arrive. An empty result means none came in time.
    pub async fn poll(&mut self, timeout: Duration) -> Result<Vec<ConsumerRecord>> {
        let deadline = Instant::now() + timeout;
        loop {
            self.reset_missing_positions().await?;
            let remaining = deadline.saturating_duration_since(Instant::now());
            let records = self.fetch_once(remaining).await?;
            if !records.is_empty() || Instant::now() >= deadline {
                return Ok(records);
            }
        }
    }

    /// Give partitions without a position one from `auto.offset.reset`.
    async fn reset_missing_positions(&mut self) -> Result<()> {
        let missing: Vec<TopicPartition> = self
            .assignment
            .iter()
            .filter(|tp| !self.positions.contains_key(*tp))
            .cloned()
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let spec = match self.config.auto_offset_reset {
            AutoOffsetReset::Earliest => OffsetSpec::Earliest,
            AutoOffsetReset::Latest => OffsetSpec::Latest,
            AutoOffsetReset::None => {
                return Err(ClientError::Config(format!(
                    "Undefined offset with no reset policy for partitions: {missing:?}"
                )))
            }
        };
        self.seek(&missing, spec).await
    }

    /// One Fetch round: a request per leader, in parallel.
    async fn fetch_once(&mut self, max_wait: Duration) -> Result<Vec<ConsumerRecord>> {
        let by_leader = self.group_by_leader().await?;
        let mut tasks = tokio::task::JoinSet::new();
        for (_, (conn, parts)) in by_leader {
            let plan = FetchPlan::new(&self.client, &self.config, parts, max_wait);
            tasks.spawn(async move { plan.run(conn).await });
        }
        let mut records = Vec::new();
        let mut stale_metadata = false;
        while let Some(joined) = tasks.join_next().await {
            let (resp, ids) =
                joined.map_err(|e| ClientError::Protocol(format!("fetch task failed: {e}")))??;
            stale_metadata |= self.absorb(resp, &ids, &mut records)?;
        }
        if stale_metadata {
            let topics = self.assigned_topics();
            self.client.refresh_metadata(Some(&topics), false).await?;
        }
        Ok(records)
    }

    /// Assigned partitions with positions, grouped by their leader's
    /// connection.
    async fn group_by_leader(&self) -> Result<ByLeader> {
        let mut groups = ByLeader::new();
        for tp in &self.assignment {
            let Some(&offset) = self.positions.get(tp) else {
                continue;
            };
            let (leader, conn) = self.client.leader_connection(tp).await?;
            groups
                .entry(leader)
                .or_insert_with(|| (conn, Vec::new()))
                .1
                .push((tp.clone(), offset));
        }
        Ok(groups)
    }

    /// Fold one Fetch response in: append records, advance positions, and
    /// report whether metadata looked stale.
    fn absorb(
        &mut self,
        resp: FetchResponse,
        ids: &HashMap<Uuid, String>,
        out: &mut Vec<ConsumerRecord>,
    ) -> Result<bool> {
        check(resp.error_code, None)?;
        let mut stale = false;
        for topic in resp.responses {
            let name = match ids.get(&topic.topic_id) {
                Some(n) if !topic.topic_id.is_nil() => n.clone(),
                _ => topic.topic.0.to_string(),
            };
            for p in topic.partitions {
                let tp = TopicPartition::new(name.clone(), p.partition_index);
                stale |= self.absorb_partition(tp, p, out)?;
            }
        }
        Ok(stale)
    }

    fn absorb_partition(
        &mut self,
        tp: TopicPartition,
        p: PartitionData,
        out: &mut Vec<ConsumerRecord>,
    ) -> Result<bool> {
        let Some(&position) = self.positions.get(&tp) else {
            return Ok(false); // not asked for, or unassigned meanwhile
        };
        match KafkaError::from_code(p.error_code, None) {
            None => {}
            Some(e) if e.error == ResponseError::OffsetOutOfRange => {
                return self.out_of_range(tp, e)
            }
            Some(e) if e.invalidates_metadata() || e.is_retriable() => return Ok(true),
            Some(e) => return Err(e.into()),
        }
        let records = p.records.unwrap_or_default();
        let next = decode_records(&tp, &records, position, out)?;
        self.positions.insert(tp, next);
        Ok(false)
    }

    /// OFFSET_OUT_OF_RANGE: forget the position so the reset policy picks a
    /// new one on the next round, or fail if there is no policy.
    fn out_of_range(&mut self, tp: TopicPartition, e: KafkaError) -> Result<bool> {
        if self.config.auto_offset_reset == AutoOffsetReset::None {
            return Err(e.into());
        }
        self.positions.remove(&tp);
        Ok(false)
    }

    fn assigned_topics(&self) -> Vec<String> {
        let mut topics: Vec<String> = self.assignment.iter().map(|tp| tp.topic.clone()).collect();
        topics.sort();
        topics.dedup();
        topics
    }
}

/// One Fetch request to one leader, built before it is spawned.
struct FetchPlan {
    request_parts: Vec<(TopicPartition, i64)>,
    ids: HashMap<String, Uuid>,
    config: ConsumerConfig,
    max_wait_ms: i32,
}

impl FetchPlan {
    fn new(
        client: &Client,
        config: &ConsumerConfig,
        parts: Vec<(TopicPartition, i64)>,
        max_wait: Duration,
    ) -> FetchPlan {
        let md = client.metadata();
        let ids = parts
            .iter()
            .map(|(tp, _)| {
                (
                    tp.topic.clone(),
                    md.topic(&tp.topic).map_or(Uuid::nil(), |t| t.topic_id),
                )
            })
            .collect();
        let max_wait_ms = i32::try_from(max_wait.as_millis()).unwrap_or(i32::MAX);
        FetchPlan {
            request_parts: parts,
            ids,
            config: config.clone(),
            max_wait_ms: max_wait_ms.min(config.fetch_max_wait_ms),
        }
    }

    /// Send it; returns the response and the id → name map for v13+.
    async fn run(self, conn: Arc<Connection>) -> Result<(FetchResponse, HashMap<Uuid, String>)> {
        let all_ids = self.ids.values().all(|id| !id.is_nil());
        let cap = if all_ids {
            i16::MAX
        } else {
            LAST_FETCH_VERSION_WITH_NAMES
        };
        let version = conn.negotiate_capped::<FetchRequest>(cap)?;
        let resp = conn.send(&self.request(), version).await?;
        let by_id = self.ids.into_iter().map(|(name, id)| (id, name)).collect();
        Ok((resp, by_id))
    }

    fn request(&self) -> FetchRequest {
        let mut topics: BTreeMap<&str, Vec<FetchPartition>> = BTreeMap::new();
        for (tp, offset) in &self.request_parts {
            topics.entry(tp.topic.as_str()).or_default().push(
                FetchPartition::default()
                    .with_partition(tp.partition)
                    .with_fetch_offset(*offset)
                    .with_current_leader_epoch(-1)
                    .with_log_start_offset(-1)
                    .with_partition_max_bytes(self.config.max_partition_fetch_bytes),
            );
        }
        let topics = topics
            .into_iter()
            .map(|(name, partitions)| {
                FetchTopic::default()
                    .with_topic(topic_name(name))
                    .with_topic_id(self.ids.get(name).copied().unwrap_or_default())
                    .with_partitions(partitions)
            })
            .collect();
        FetchRequest::default()
            .with_max_wait_ms(self.max_wait_ms)
            .with_min_bytes(self.config.fetch_min_bytes)
            .with_max_bytes(self.config.fetch_max_bytes)
            .with_isolation_level(self.config.isolation_level)
            .with_topics(topics)
    }
}

/// Decode the batches of a Fetch `records` field into `out`, keeping only
/// records at or after `position`; returns the next position. Control
/// batches (transaction markers) are skipped but advance the position; a
/// partial batch at the end (cut by max bytes) is left for the next fetch.
pub fn decode_records(
    tp: &TopicPartition,
    records: &[u8],
    mut position: i64,
    out: &mut Vec<ConsumerRecord>,
) -> Result<i64> {
    let mut batches = BatchIter::new(records);
    for batch in &mut batches {
        let next = batch.header.next_offset().0;
        if next <= position {
            continue;
        }
        if !batch.header.is_control() {
            let (_, decoded) = weir_protocol::records::decode_batch(batch.bytes)
                .map_err(|e| corrupt(tp, batch.header.base_offset, &e.to_string()))?;
            out.extend(
                decoded
                    .into_iter()
                    .filter(|r| r.offset >= position)
                    .map(|r| consumer_record(tp, r)),
            );
        }
        position = next;
    }
    match batches.error() {
        None | Some((_, weir_protocol::BatchError::Incomplete { .. })) => Ok(position),
        Some((at, e)) => Err(corrupt(tp, position, &format!("at byte {at}: {e}"))),
    }
}

fn consumer_record(tp: &TopicPartition, r: kafka_protocol::records::Record) -> ConsumerRecord {
    ConsumerRecord {
        tp: tp.clone(),
        offset: r.offset,
        timestamp_ms: r.timestamp,
        timestamp_type: r.timestamp_type,
        key: r.key,
        value: r.value,
        headers: r
            .headers
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    }
}

fn corrupt(tp: &TopicPartition, offset: i64, why: &str) -> ClientError {
    ClientError::Kafka(KafkaError {
        error: ResponseError::CorruptMessage,
        message: Some(format!(
            "Record batch for partition {tp} at offset {offset} is invalid: {why}"
        )),
    })
}

/// ListOffsets for `partitions`, one request per leader.
pub async fn list_offsets(
    client: &Client,
    partitions: &[TopicPartition],
    spec: OffsetSpec,
    isolation_level: i8,
) -> Result<HashMap<TopicPartition, i64>> {
    let Some(timestamp) = spec.list_offsets_timestamp() else {
        return Err(ClientError::Config(
            "an exact offset needs no lookup".to_owned(),
        ));
    };
    let mut by_leader: BTreeMap<BrokerId, (Arc<Connection>, Vec<TopicPartition>)> = BTreeMap::new();
    for tp in partitions {
        let (leader, conn) = client.leader_connection(tp).await?;
        by_leader
            .entry(leader)
            .or_insert_with(|| (conn, Vec::new()))
            .1
            .push(tp.clone());
    }
    let mut out = HashMap::new();
    for (_, (conn, tps)) in by_leader {
        let request = list_offsets_request(&tps, timestamp, isolation_level);
        let resp = conn.request(&request).await?;
        out.extend(list_offsets_result(&resp, &tps)?);
    }
    Ok(out)
}

fn list_offsets_request(
    tps: &[TopicPartition],
    timestamp: i64,
    isolation_level: i8,
) -> ListOffsetsRequest {
    let mut topics: BTreeMap<&str, Vec<ListOffsetsPartition>> = BTreeMap::new();
    for tp in tps {
        topics.entry(tp.topic.as_str()).or_default().push(
            ListOffsetsPartition::default()
                .with_partition_index(tp.partition)
                .with_current_leader_epoch(-1)
                .with_timestamp(timestamp),
        );
    }
    let topics = topics
        .into_iter()
        .map(|(name, partitions)| {
            ListOffsetsTopic::default()
                .with_name(topic_name(name))
                .with_partitions(partitions)
        })
        .collect();
    ListOffsetsRequest::default()
        .with_replica_id((-1).into())
        .with_isolation_level(isolation_level)
        .with_topics(topics)
}

/// Offsets from a ListOffsets response; every partition asked for must be
/// answered, without error.
fn list_offsets_result(
    resp: &ListOffsetsResponse,
    asked: &[TopicPartition],
) -> Result<HashMap<TopicPartition, i64>> {
    let mut out = HashMap::new();
    for t in &resp.topics {
        for p in &t.partitions {
            let tp = TopicPartition::new(t.name.0.to_string(), p.partition_index);
            if asked.contains(&tp) {
                check(p.error_code, None)?;
                out.insert(tp, p.offset);
            }
        }
    }
    match asked.iter().find(|tp| !out.contains_key(*tp)) {
        Some(tp) => Err(ClientError::Protocol(format!(
            "ListOffsets response has no entry for {tp}"
        ))),
        None => Ok(out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::producer::batch::{encode_batch, new_record};
    use kafka_protocol::records::Compression;

    fn batch(n: usize, base: i64, compression: Compression) -> Vec<u8> {
        let mut records: Vec<_> = (0..n)
            .map(|i| {
                new_record(
                    Some(Bytes::from(format!("k{i}"))),
                    Some(Bytes::from(format!("v{i}"))),
                    vec![],
                    5,
                )
            })
            .collect();
        let mut bytes = encode_batch(&mut records, compression).unwrap().to_vec();
        weir_protocol::batch::set_base_offset(&mut bytes, weir_protocol::Offset(base));
        bytes
    }

    #[test]
    fn decodes_skips_before_position_and_stops_at_a_partial_batch() {
        let tp = TopicPartition::new("t", 0);
        let mut buf = batch(3, 0, Compression::None);
        buf.extend(batch(2, 3, Compression::Zstd));
        let third = batch(4, 5, Compression::None);
        buf.extend(&third[..third.len() - 1]);
        let mut out = Vec::new();
        let next = decode_records(&tp, &buf, 1, &mut out).unwrap();
        assert_eq!(next, 5);
        assert_eq!(
            out.iter().map(|r| r.offset).collect::<Vec<_>>(),
            vec![1, 2, 3, 4]
        );
        assert_eq!(out[0].key.as_deref(), Some(&b"k1"[..]));
        assert_eq!(out[3].value.as_deref(), Some(&b"v1"[..]));
    }

    #[test]
    fn control_batches_advance_without_records() {
        let tp = TopicPartition::new("t", 0);
        let mut control = batch(1, 0, Compression::None);
        // Set the control bit (attributes bit 5) and fix the CRC.
        control[22] |= 0x20;
        weir_protocol::batch::write_crc(&mut control);
        let mut out = Vec::new();
        assert_eq!(decode_records(&tp, &control, 0, &mut out).unwrap(), 1);
        assert!(out.is_empty());
    }

    #[test]
    fn corrupt_batches_are_typed_errors() {
        let tp = TopicPartition::new("t", 0);
        let mut bad = batch(2, 0, Compression::None);
        let last = bad.len() - 1;
        bad[last] ^= 0xff;
        let err = decode_records(&tp, &bad, 0, &mut Vec::new()).unwrap_err();
        assert_eq!(err.kafka().unwrap().name(), "CORRUPT_MESSAGE");
        // Garbage that is not even a header is also an error, not a panic.
        assert!(decode_records(&tp, &[0xff; 80], 0, &mut Vec::new()).is_err());
    }
}
