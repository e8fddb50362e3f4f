//! Fetch (key 1): hand out whole record batches below the high watermark.
//!
//! The bytes are handed out as stored; nothing is decoded (DESIGN.md
//! section 8). Long poll: if fewer than `min_bytes` are ready, the request
//! waits up to `max_wait_ms` for any fetched partition's high watermark to
//! move, then reads again. `max_bytes` bounds the response and
//! `partition_max_bytes` each partition, except that the first partition
//! with data always returns at least one whole batch (KIP-74) so a batch
//! larger than the limits cannot stall a consumer. Fetch sessions (KIP-227)
//! are not kept: every response has session id 0, which makes clients send
//! full fetch requests.

use super::Outcome;
use crate::broker::Broker;
use crate::partition::{Partition, PartitionError};
use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::fetch_response::{
    EpochEndOffset, FetchableTopicResponse, PartitionData,
};
use kafka_protocol::messages::{FetchRequest, FetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use uuid::Uuid;

/// Longest long poll honoured, whatever the client asks.
const MAX_WAIT_MS_CAP: i32 = 60_000;

/// Handle a Fetch request.
pub async fn handle(broker: &Arc<Broker>, request: FetchRequest, version: i16) -> Outcome {
    let replica_id = request.replica_id.0.max(request.replica_state.replica_id.0);
    let uncommitted = replica_id >= 0;
    let mut targets = resolve(broker, &request.topics, version);
    if uncommitted {
        refuse_strangers(broker, replica_id, &mut targets);
        let replica_epoch = request.replica_state.replica_epoch;
        record_follower_fetches(broker, replica_id, replica_epoch, &mut targets);
    }
    let max_wait = Duration::from_millis(request.max_wait_ms.clamp(0, MAX_WAIT_MS_CAP) as u64);
    let deadline = tokio::time::Instant::now() + max_wait;
    let limits = Limits {
        max_bytes: usize::try_from(request.max_bytes).unwrap_or(0),
        min_bytes: usize::try_from(request.min_bytes).unwrap_or(0),
        uncommitted,
    };
    let mut watches: Vec<watch::Receiver<i64>> = targets
        .iter()
        .filter_map(|t| t.partition.as_ref().ok().map(|p| p.watch_high_watermark()))
        .collect();
    loop {
        let (responses, bytes, errors) = read_all(&targets, &limits);
        let done = bytes >= limits.min_bytes.max(1)
            || errors
            || limits.min_bytes == 0
            || tokio::time::Instant::now() >= deadline
            || watches.is_empty();
        if done {
            return Outcome::respond(
                FetchResponse::default().with_responses(group_by_topic(&targets, responses)),
            );
        }
        wait_for_change(&mut watches, deadline).await;
    }
}

struct Limits {
    max_bytes: usize,
    min_bytes: usize,
    uncommitted: bool,
}

/// One requested partition with its resolved state.
struct Target {
    topic_name: String,
    topic_id: Uuid,
    request: FetchPartition,
    partition: Result<Arc<Partition>, ResponseError>,
}

/// A fetch with a replica id reads beyond the high watermark, so only a
/// broker that is a replica of the partition (in this node's image) may
/// send one; for anyone else the partition answers NOT_LEADER_OR_FOLLOWER
/// (Weir's choice; Kafka relies on the ClusterAction ACL here).
fn refuse_strangers(broker: &Broker, replica_id: i32, targets: &mut [Target]) {
    let image = broker.image();
    for t in targets.iter_mut() {
        let is_replica = image
            .topic_by_name(&t.topic_name)
            .and_then(|topic| topic.partitions.get(&t.request.partition))
            .is_some_and(|p| {
                p.replicas.contains(&replica_id) && replica_id != broker.config().node_id
            });
        if t.partition.is_ok() && !is_replica {
            t.partition = Err(ResponseError::NotLeaderOrFollower);
        }
    }
}

/// A follower's fetch offset is its log end offset: the leader's rules
/// (`weir-core::partition`) take it once per request, before the read, so
/// the answer carries the high watermark it may have moved. Partitions
/// whose epoch check fails or whose log diverges are left to `read_one`
/// (Kafka does not count such a fetch either).
fn record_follower_fetches(
    broker: &Broker,
    replica_id: i32,
    replica_epoch: i64,
    targets: &mut [Target],
) {
    let may_join = broker.image().is_unfenced(replica_id);
    let now = broker.now_ms();
    for t in targets.iter_mut() {
        let Ok(p) = &t.partition else { continue };
        if check_leader_epoch(p, t.request.current_leader_epoch).is_err()
            || p.diverging_epoch(t.request.last_fetched_epoch, t.request.fetch_offset)
                .is_some()
        {
            continue;
        }
        if let Err(e) = p.on_follower_fetch(
            replica_id,
            replica_epoch,
            t.request.fetch_offset,
            may_join,
            now,
        ) {
            t.partition =
                Err(ResponseError::try_from_code(e.code)
                    .unwrap_or(ResponseError::UnknownServerError));
        }
    }
}

/// Look up every requested partition: by name before v13, by topic id
/// from v13 (KIP-516).
fn resolve(broker: &Broker, topics: &[FetchTopic], version: i16) -> Vec<Target> {
    let mut targets = Vec::new();
    for topic in topics {
        let (name, id) = if version >= 13 {
            let name = broker.topic_name(topic.topic_id);
            (name.unwrap_or_default(), topic.topic_id)
        } else {
            let name = topic.topic.0.as_str().to_string();
            let id = broker.topic_id(&name).unwrap_or(Uuid::nil());
            (name, id)
        };
        for p in &topic.partitions {
            let partition = if version >= 13 && name.is_empty() {
                Err(ResponseError::UnknownTopicId)
            } else {
                broker.leader_partition(&name, p.partition)
            };
            targets.push(Target {
                topic_name: name.clone(),
                topic_id: id,
                request: p.clone(),
                partition,
            });
        }
    }
    targets
}

/// Read every target once; returns the per-partition data, the total
/// record bytes, and whether any partition has an error or a diverging
/// epoch (either answers the fetch at once, as Kafka does).
fn read_all(targets: &[Target], limits: &Limits) -> (Vec<PartitionData>, usize, bool) {
    let mut total = 0usize;
    let mut errors = false;
    let mut out = Vec::with_capacity(targets.len());
    for target in targets {
        let index = target.request.partition;
        let result = target
            .partition
            .as_ref()
            .map_err(|e| e.code())
            .and_then(|p| read_one(p, &target.request, limits, total).map_err(|e| e.code));
        match result {
            Ok((data, records, diverged)) => {
                errors |= diverged;
                total += records;
                out.push(data.with_partition_index(index));
            }
            Err(code) => {
                errors = true;
                out.push(error_data(index, code));
            }
        }
    }
    (out, total, errors)
}

fn read_one(
    partition: &Partition,
    request: &FetchPartition,
    limits: &Limits,
    total_so_far: usize,
) -> Result<(PartitionData, usize, bool), PartitionError> {
    check_leader_epoch(partition, request.current_leader_epoch)?;
    if let Some((epoch, end_offset)) =
        partition.diverging_epoch(request.last_fetched_epoch, request.fetch_offset)
    {
        // No records: the fetcher truncates to `end_offset` first.
        let (start, _) = partition.offsets();
        let hwm = partition.high_watermark();
        let data = PartitionData::default()
            .with_high_watermark(hwm)
            .with_last_stable_offset(hwm)
            .with_log_start_offset(start)
            .with_diverging_epoch(
                EpochEndOffset::default()
                    .with_epoch(epoch)
                    .with_end_offset(end_offset),
            )
            .with_records(Some(Bytes::new()));
        return Ok((data, 0, true));
    }
    let budget = limits.max_bytes.saturating_sub(total_so_far);
    let partition_max = usize::try_from(request.partition_max_bytes).unwrap_or(0);
    let max = budget.min(partition_max);
    // KIP-74: only the first partition with data may exceed the limits.
    let read = if max == 0 && total_so_far > 0 {
        let (start, _) = partition.offsets();
        crate::partition::Read {
            records: Bytes::new(),
            high_watermark: partition.high_watermark(),
            log_start_offset: start,
        }
    } else {
        partition.read(request.fetch_offset, max.max(1), limits.uncommitted)?
    };
    let size = read.records.len();
    let data = PartitionData::default()
        .with_high_watermark(read.high_watermark)
        .with_last_stable_offset(read.high_watermark)
        .with_log_start_offset(read.log_start_offset)
        .with_records(Some(read.records));
    Ok((data, size, false))
}

/// KIP-320: a client that knows a newer epoch than ours is ahead of us
/// (UNKNOWN_LEADER_EPOCH, retry); one that knows an older one is stale
/// (FENCED_LEADER_EPOCH, refresh metadata). −1 skips the check.
fn check_leader_epoch(partition: &Partition, requested: i32) -> Result<(), PartitionError> {
    let ours = partition.leader_epoch().0;
    let error = match requested {
        r if r < 0 || r == ours => return Ok(()),
        r if r < ours => ResponseError::FencedLeaderEpoch,
        _ => ResponseError::UnknownLeaderEpoch,
    };
    Err(PartitionError {
        code: error.code(),
        message: format!("leader epoch {requested}, current {ours}"),
    })
}

fn error_data(index: i32, code: i16) -> PartitionData {
    PartitionData::default()
        .with_partition_index(index)
        .with_error_code(code)
        .with_high_watermark(-1)
        .with_last_stable_offset(-1)
        .with_log_start_offset(-1)
        .with_records(Some(Bytes::new()))
}

/// Put the partition answers back under their topics, in request order.
fn group_by_topic(targets: &[Target], data: Vec<PartitionData>) -> Vec<FetchableTopicResponse> {
    let mut topics: Vec<FetchableTopicResponse> = Vec::new();
    let mut last: Option<(&str, Uuid)> = None;
    for (target, data) in targets.iter().zip(data) {
        let key = (target.topic_name.as_str(), target.topic_id);
        if last != Some(key) {
            topics.push(
                FetchableTopicResponse::default()
                    .with_topic(TopicName(StrBytes::from_string(target.topic_name.clone())))
                    .with_topic_id(target.topic_id),
            );
            last = Some(key);
        }
        if let Some(topic) = topics.last_mut() {
            topic.partitions.push(data);
        }
    }
    topics
}

/// Wait until any watched high watermark moves or the deadline passes.
async fn wait_for_change(watches: &mut [watch::Receiver<i64>], deadline: tokio::time::Instant) {
    let changed = futures_any(watches);
    let _ = tokio::time::timeout_at(deadline, changed).await;
}

/// Resolves when any receiver sees a change, or when every sender is gone.
/// One future polls them all (no task per partition: a replica fetch
/// watches every partition its broker follows here).
async fn futures_any(watches: &mut [watch::Receiver<i64>]) {
    {
        type Change<'a> = std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<(), watch::error::RecvError>> + Send + 'a>,
        >;
        let mut changes: Vec<Option<Change<'_>>> = watches
            .iter_mut()
            .map(|w| Some(Box::pin(w.changed()) as Change<'_>))
            .collect();
        std::future::poll_fn(|cx| {
            let mut open = false;
            for slot in changes.iter_mut() {
                let Some(change) = slot.as_mut() else {
                    continue;
                };
                match change.as_mut().poll(cx) {
                    std::task::Poll::Ready(Ok(())) => return std::task::Poll::Ready(()),
                    // That sender is gone: it can no longer wake this fetch.
                    std::task::Poll::Ready(Err(_)) => *slot = None,
                    std::task::Poll::Pending => open = true,
                }
            }
            if open {
                std::task::Poll::Pending
            } else {
                std::task::Poll::Ready(())
            }
        })
        .await;
    }
    for w in watches.iter_mut() {
        w.borrow_and_update();
    }
}
