//! Followers pull (DESIGN.md section 4): a partition this broker follows
//! is a [`FollowerPartition`], and one fetcher task per source broker
//! (Kafka's `ReplicaFetcherThread`) fetches every partition this broker
//! follows from that leader in one Fetch request.
//!
//! Each round sends Kafka's replica Fetch: `replica_state` (this broker's
//! id and broker epoch, KIP-903), and per partition `fetch_offset` = the
//! follower's log end offset (that offset *is* its acknowledgement of
//! everything below it), `last_fetched_epoch` = the latest epoch in its
//! leader-epoch cache, `current_leader_epoch`. Per partition, the answer:
//!
//! - records: appended with the leader's offsets and epochs
//!   (`Log::append_as_follower`); the follower's high watermark becomes
//!   min(leader's, own LEO) (`weir_core::partition::follower_high_watermark`);
//! - a diverging epoch (KIP-320/KIP-595): the log is cut where it stops
//!   agreeing with the leader's (`weir_core::partition::truncation_for_divergence`)
//!   and the next fetch asks again from there;
//! - OFFSET_OUT_OF_RANGE: the leader's log start and end are asked with
//!   ListOffsets; a follower past the leader's end truncates to it, one
//!   before the leader's start starts over there;
//! - any other error (the leader moved, epochs differ): that partition
//!   pauses for `replica.fetch.backoff.ms`; metadata brings the change.
//!
//! When the metadata image moves a partition to another leader or makes
//! this broker its leader, the old [`FollowerPartition`] is stopped under
//! its log lock, so no answer from the old leader is appended afterwards.

use crate::broker::{now_ms, Broker};
use crate::log_manager::SharedLog;
use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic, ReplicaState};
use kafka_protocol::messages::fetch_response::PartitionData;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{
    BrokerId, FetchRequest, ListOffsetsRequest, ListOffsetsResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;
use tokio::sync::watch;
use uuid::Uuid;
use weir_client::connection::{Connection, ConnectionConfig};
use weir_core::partition::{follower_high_watermark, truncation_for_divergence};
use weir_protocol::{LeaderEpoch, Offset, TopicPartition};
use weir_storage::log::{Log, LogError};

/// The lowest Fetch version a follower uses: 12 carries diverging epochs.
const MIN_REPLICA_FETCH_VERSION: i16 = 12;

/// A partition this broker follows.
#[derive(Debug)]
pub struct FollowerPartition {
    /// Topic and partition index.
    pub tp: TopicPartition,
    /// The topic's id.
    pub topic_id: Uuid,
    /// The leader it fetches from (-1: none, it waits).
    pub leader: i32,
    /// The leader epoch it follows.
    pub leader_epoch: i32,
    log: SharedLog,
    high_watermark: AtomicI64,
    /// No fetch before this wall-clock time (after an error).
    retry_after_ms: AtomicI64,
    stopped: AtomicBool,
}

/// What one partition's answer asks of the fetcher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    /// Fetch again.
    Continue,
    /// Ask the leader's log start and end (OFFSET_OUT_OF_RANGE).
    OutOfRange,
}

fn lock(log: &SharedLog) -> MutexGuard<'_, Log> {
    log.lock().unwrap_or_else(|p| p.into_inner())
}

impl FollowerPartition {
    /// Follow `leader` at `leader_epoch` with `log`, starting from the high
    /// watermark this broker knew (checkpoint, or as the previous leader).
    pub fn new(
        tp: TopicPartition,
        topic_id: Uuid,
        leader: i32,
        leader_epoch: i32,
        log: SharedLog,
        high_watermark: i64,
    ) -> Arc<FollowerPartition> {
        let leo = lock(&log).log_end_offset().0;
        Arc::new(FollowerPartition {
            tp,
            topic_id,
            leader,
            leader_epoch,
            log,
            high_watermark: AtomicI64::new(high_watermark.clamp(0, leo)),
            retry_after_ms: AtomicI64::new(0),
            stopped: AtomicBool::new(false),
        })
    }

    /// This replica's high watermark.
    pub fn high_watermark(&self) -> i64 {
        self.high_watermark.load(Ordering::SeqCst)
    }

    /// The log.
    pub fn log(&self) -> &SharedLog {
        &self.log
    }

    /// Stop: no fetched data is appended after this returns (it takes the
    /// log lock, so an append in progress finishes first).
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        drop(lock(&self.log));
    }

    /// Whether [`FollowerPartition::stop`] was called.
    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }

    fn backoff(&self, now_ms: i64, backoff_ms: i64) {
        self.retry_after_ms
            .store(now_ms + backoff_ms, Ordering::SeqCst);
    }

    /// (fetch offset = LEO, last fetched epoch, log start offset).
    fn position(&self) -> (i64, i32, i64) {
        let log = lock(&self.log);
        let epoch = log.leader_epoch_cache().latest_epoch().map_or(-1, |e| e.0);
        (log.log_end_offset().0, epoch, log.log_start_offset().0)
    }

    /// Apply one partition's answer.
    fn on_answer(&self, data: &PartitionData, now_ms: i64, backoff_ms: i64) -> Next {
        if data.error_code == ResponseError::OffsetOutOfRange.code() {
            return Next::OutOfRange;
        }
        if data.error_code != 0 {
            tracing::debug!(
                partition = %self.tp,
                leader = self.leader,
                code = data.error_code,
                "fetch refused; backing off"
            );
            self.backoff(now_ms, backoff_ms);
            return Next::Continue;
        }
        let diverging = &data.diverging_epoch;
        let result = if diverging.epoch >= 0 || diverging.end_offset >= 0 {
            self.truncate_diverging(diverging.epoch, diverging.end_offset)
        } else {
            self.append(data, now_ms)
        };
        if let Err(e) = result {
            tracing::error!(partition = %self.tp, "follower append or truncation failed: {e}");
            self.backoff(now_ms, backoff_ms);
        }
        Next::Continue
    }

    fn append(&self, data: &PartitionData, now_ms: i64) -> Result<(), LogError> {
        let mut log = lock(&self.log);
        if self.is_stopped() {
            return Ok(());
        }
        let records: &Bytes = match &data.records {
            Some(r) if !r.is_empty() => r,
            _ => &Bytes::new(),
        };
        if !records.is_empty() {
            log.append_as_follower(records, now_ms)?;
            if let Err(e) = log.maybe_flush(now_ms) {
                tracing::error!(partition = %self.tp, "flush failed: {e}");
            }
        }
        let leo = log.log_end_offset().0;
        if data.log_start_offset > log.log_start_offset().0 && data.log_start_offset <= leo {
            log.increment_log_start_offset(Offset(data.log_start_offset))?;
        }
        if data.high_watermark >= 0 {
            self.high_watermark.store(
                follower_high_watermark(data.high_watermark, leo),
                Ordering::SeqCst,
            );
        }
        Ok(())
    }

    fn truncate_diverging(&self, leader_epoch: i32, leader_end: i64) -> Result<(), LogError> {
        let mut log = lock(&self.log);
        if self.is_stopped() {
            return Ok(());
        }
        let leo = log.log_end_offset();
        let own = log
            .leader_epoch_cache()
            .end_offset_for(LeaderEpoch(leader_epoch), leo);
        let own = (own.0 .0 >= 0 && own.1 .0 >= 0).then_some((own.0 .0, own.1 .0));
        let hwm = self.high_watermark();
        let t = truncation_for_divergence(leader_epoch, leader_end, own, leo.0, hwm);
        tracing::info!(
            partition = %self.tp,
            leader = self.leader,
            leader_epoch,
            leader_end,
            log_end = leo.0,
            truncate_to = t.offset,
            complete = t.complete,
            "log diverges from the leader's"
        );
        log.truncate_to(Offset(t.offset))?;
        let leo = log.log_end_offset().0;
        self.high_watermark.fetch_min(leo, Ordering::SeqCst);
        Ok(())
    }

    /// OFFSET_OUT_OF_RANGE, with the leader's (log start, log end).
    fn on_leader_offsets(&self, start: i64, end: i64) -> Result<(), LogError> {
        let mut log = lock(&self.log);
        if self.is_stopped() {
            return Ok(());
        }
        let leo = log.log_end_offset().0;
        if leo > end {
            // Kafka's rule: only an unclean election leaves a leader behind
            // a follower's committed data; say so loudly.
            if end < self.high_watermark() {
                tracing::warn!(
                    partition = %self.tp,
                    leader = self.leader,
                    leader_end = end,
                    high_watermark = self.high_watermark(),
                    "the leader's log ends below this replica's high watermark: \
                     truncating committed records"
                );
            }
            log.truncate_to(Offset(end))?;
        } else if leo < start {
            tracing::info!(partition = %self.tp, start, "behind the leader's log start; starting over there");
            log.truncate_fully_and_start_at(Offset(start))?;
        }
        let leo = log.log_end_offset().0;
        self.high_watermark.fetch_min(leo, Ordering::SeqCst);
        Ok(())
    }
}

/// Tunables of the fetchers (`replica.fetch.*`).
#[derive(Debug, Clone, Copy)]
pub struct FetcherConfig {
    /// This broker's id.
    pub local_id: i32,
    /// `replica.fetch.wait.max.ms`.
    pub wait_max_ms: i32,
    /// `replica.fetch.max.bytes`.
    pub partition_max_bytes: i32,
    /// `replica.fetch.response.max.bytes`.
    pub response_max_bytes: i32,
    /// `replica.fetch.backoff.ms`.
    pub backoff_ms: i64,
    /// `replica.socket.timeout.ms`.
    pub socket_timeout_ms: i64,
}

#[derive(Debug)]
struct Fetcher {
    partitions: watch::Sender<Vec<Arc<FollowerPartition>>>,
    task: tokio::task::JoinHandle<()>,
}

/// The fetcher tasks of this broker, one per source broker.
#[derive(Debug)]
pub struct ReplicaFetchers {
    config: FetcherConfig,
    fetchers: Mutex<HashMap<i32, Fetcher>>,
}

impl ReplicaFetchers {
    /// No fetchers yet.
    pub fn new(config: FetcherConfig) -> ReplicaFetchers {
        ReplicaFetchers {
            config,
            fetchers: Mutex::new(HashMap::new()),
        }
    }

    /// Fetch exactly `followers` (grouped by leader; leaderless ones wait):
    /// start fetchers for new leaders, hand the others their new sets,
    /// stop fetchers left with nothing.
    pub fn update(&self, broker: &Arc<Broker>, followers: &[Arc<FollowerPartition>]) {
        let mut by_leader: BTreeMap<i32, Vec<Arc<FollowerPartition>>> = BTreeMap::new();
        for f in followers.iter().filter(|f| f.leader >= 0) {
            by_leader.entry(f.leader).or_default().push(f.clone());
        }
        let mut fetchers = self.fetchers.lock().unwrap_or_else(|p| p.into_inner());
        fetchers.retain(|leader, fetcher| {
            let keep = by_leader.contains_key(leader) && !fetcher.task.is_finished();
            if !keep {
                fetcher.task.abort();
            }
            keep
        });
        for (leader, set) in by_leader {
            match fetchers.get(&leader) {
                Some(f) => {
                    f.partitions.send_if_modified(|current| {
                        let same = current.len() == set.len()
                            && current.iter().zip(&set).all(|(a, b)| Arc::ptr_eq(a, b));
                        if !same {
                            *current = set;
                        }
                        !same
                    });
                }
                None => {
                    let (tx, rx) = watch::channel(set);
                    let task = tokio::spawn(run(Arc::downgrade(broker), leader, rx, self.config));
                    fetchers.insert(
                        leader,
                        Fetcher {
                            partitions: tx,
                            task,
                        },
                    );
                }
            }
        }
    }

    /// Stop every fetcher.
    pub fn shutdown(&self) {
        let mut fetchers = self.fetchers.lock().unwrap_or_else(|p| p.into_inner());
        for (_, f) in fetchers.drain() {
            f.task.abort();
        }
    }
}

/// One fetcher: fetch from `leader` until no partition is left.
async fn run(
    broker: Weak<Broker>,
    leader: i32,
    mut partitions: watch::Receiver<Vec<Arc<FollowerPartition>>>,
    config: FetcherConfig,
) {
    let mut connection: Option<Connection> = None;
    let backoff = Duration::from_millis(config.backoff_ms.max(10) as u64);
    loop {
        let all = partitions.borrow_and_update().clone();
        let now = now_ms();
        let ready: Vec<Arc<FollowerPartition>> = all
            .iter()
            .filter(|p| !p.is_stopped() && p.retry_after_ms.load(Ordering::SeqCst) <= now)
            .cloned()
            .collect();
        if ready.is_empty() {
            let _ = tokio::time::timeout(Duration::from_millis(100), partitions.changed()).await;
            continue;
        }
        let Some(strong) = broker.upgrade() else {
            return;
        };
        let endpoint = strong.inter_broker_endpoint(leader);
        let broker_epoch = strong.broker_epoch();
        drop(strong);
        if connection.as_ref().is_none_or(Connection::is_closed) {
            connection = None;
            let Some((host, port)) = endpoint else {
                tracing::debug!(leader, "no endpoint for the leader yet");
                tokio::time::sleep(backoff).await;
                continue;
            };
            let conn_config = ConnectionConfig {
                client_id: format!("broker-{}-fetcher-{leader}", config.local_id),
                request_timeout_ms: config.socket_timeout_ms.max(1) as u64,
                ..ConnectionConfig::default()
            };
            match Connection::connect(&format!("{host}:{port}"), &conn_config).await {
                Ok(c) => connection = Some(c),
                Err(e) => {
                    tracing::info!(leader, "cannot reach the leader to fetch: {e}");
                    tokio::time::sleep(backoff).await;
                    continue;
                }
            }
        }
        let Some(conn) = connection.as_ref() else {
            continue;
        };
        match fetch_once(conn, &ready, broker_epoch, &config).await {
            Ok(()) => {}
            Err(e) => {
                tracing::info!(leader, "fetch from the leader failed: {e}");
                connection = None;
                tokio::time::sleep(backoff).await;
            }
        }
    }
}

/// One Fetch round trip for `ready`, applied.
async fn fetch_once(
    conn: &Connection,
    ready: &[Arc<FollowerPartition>],
    broker_epoch: i64,
    config: &FetcherConfig,
) -> Result<(), String> {
    let version = conn
        .negotiate::<FetchRequest>()
        .map_err(|e| e.to_string())?;
    if version < MIN_REPLICA_FETCH_VERSION {
        return Err(format!(
            "the leader offers Fetch up to v{version}; followers need v{MIN_REPLICA_FETCH_VERSION}"
        ));
    }
    let request = build_request(ready, broker_epoch, config, version);
    let response = conn
        .send(&request, version)
        .await
        .map_err(|e| e.to_string())?;
    let now = now_ms();
    let mut out_of_range = Vec::new();
    for topic in &response.responses {
        for data in &topic.partitions {
            let Some(p) = ready.iter().find(|p| {
                p.tp.partition == data.partition_index
                    && if version >= 13 {
                        p.topic_id == topic.topic_id
                    } else {
                        p.tp.topic == topic.topic.0.as_str()
                    }
            }) else {
                continue;
            };
            if p.on_answer(data, now, config.backoff_ms) == Next::OutOfRange {
                out_of_range.push(p.clone());
            }
        }
    }
    for p in out_of_range {
        match leader_offsets(conn, &p, config.local_id).await {
            Ok((start, end)) => {
                if let Err(e) = p.on_leader_offsets(start, end) {
                    tracing::error!(partition = %p.tp, "truncation failed: {e}");
                    p.backoff(now, config.backoff_ms);
                }
            }
            Err(e) => {
                tracing::info!(partition = %p.tp, "asking the leader's offsets: {e}");
                p.backoff(now, config.backoff_ms);
            }
        }
    }
    Ok(())
}

fn build_request(
    ready: &[Arc<FollowerPartition>],
    broker_epoch: i64,
    config: &FetcherConfig,
    version: i16,
) -> FetchRequest {
    let mut topics: Vec<FetchTopic> = Vec::new();
    for p in ready {
        let (fetch_offset, last_fetched_epoch, log_start) = p.position();
        let partition = FetchPartition::default()
            .with_partition(p.tp.partition)
            .with_current_leader_epoch(p.leader_epoch)
            .with_fetch_offset(fetch_offset)
            .with_last_fetched_epoch(last_fetched_epoch)
            .with_log_start_offset(log_start)
            .with_partition_max_bytes(config.partition_max_bytes);
        let slot = topics.iter_mut().find(|t| {
            if version >= 13 {
                t.topic_id == p.topic_id
            } else {
                t.topic.0.as_str() == p.tp.topic
            }
        });
        match slot {
            Some(t) => t.partitions.push(partition),
            None => topics.push(
                FetchTopic::default()
                    .with_topic(TopicName(StrBytes::from_string(p.tp.topic.clone())))
                    .with_topic_id(p.topic_id)
                    .with_partitions(vec![partition]),
            ),
        }
    }
    let mut request = FetchRequest::default()
        .with_max_wait_ms(config.wait_max_ms)
        .with_min_bytes(1)
        .with_max_bytes(config.response_max_bytes)
        .with_isolation_level(0)
        .with_session_id(0)
        .with_session_epoch(-1)
        .with_topics(topics);
    if version >= 15 {
        request = request.with_replica_state(
            ReplicaState::default()
                .with_replica_id(BrokerId(config.local_id))
                .with_replica_epoch(broker_epoch),
        );
    } else {
        request = request.with_replica_id(BrokerId(config.local_id));
    }
    request
}

/// The leader's (log start offset, log end offset) of `p`, asked as a
/// replica (ListOffsets EARLIEST and LATEST with `replica_id` set).
async fn leader_offsets(
    conn: &Connection,
    p: &FollowerPartition,
    local_id: i32,
) -> Result<(i64, i64), String> {
    let mut answers = [0i64; 2];
    for (slot, timestamp) in [(0, -2i64), (1, -1i64)] {
        let request = ListOffsetsRequest::default()
            .with_replica_id(BrokerId(local_id))
            .with_topics(vec![ListOffsetsTopic::default()
                .with_name(TopicName(StrBytes::from_string(p.tp.topic.clone())))
                .with_partitions(vec![ListOffsetsPartition::default()
                    .with_partition_index(p.tp.partition)
                    .with_current_leader_epoch(p.leader_epoch)
                    .with_timestamp(timestamp)])]);
        let response: ListOffsetsResponse =
            conn.request(&request).await.map_err(|e| e.to_string())?;
        let answer = response
            .topics
            .iter()
            .flat_map(|t| t.partitions.iter())
            .find(|a| a.partition_index == p.tp.partition)
            .ok_or("no answer for the partition")?;
        if answer.error_code != 0 {
            return Err(format!("error code {}", answer.error_code));
        }
        answers[slot] = answer.offset;
    }
    Ok((answers[0], answers[1]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use kafka_protocol::messages::fetch_response::EpochEndOffset;
    use kafka_protocol::records::{
        Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
    };
    use std::path::Path;
    use weir_storage::log::LogConfig;
    use weir_storage::memfs::MemFs;

    /// One batch of `count` records (offsets are assigned by the log).
    fn batch(count: i64) -> BytesMut {
        let records: Vec<Record> = (0..count)
            .map(|i| Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: 0,
                producer_id: -1,
                producer_epoch: -1,
                timestamp_type: TimestampType::Creation,
                offset: i,
                sequence: -1,
                timestamp: 1_700_000_000_000,
                key: None,
                value: Some(Bytes::from(format!("v{i}"))),
                headers: Default::default(),
            })
            .collect();
        let mut buf = BytesMut::new();
        let options = RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        };
        RecordBatchEncoder::encode(&mut buf, &records, &options).expect("encode");
        buf
    }

    fn log(dir: &str) -> SharedLog {
        let fs: weir_storage::Fs = MemFs::new();
        let log = Log::open(fs, Path::new(dir), LogConfig::default(), Offset(0), 0).unwrap();
        Arc::new(Mutex::new(log))
    }

    /// Append `count` records in `epoch` as a leader would.
    fn lead(log: &SharedLog, epoch: i32, count: i64) {
        lock(log)
            .append(&mut batch(count), LeaderEpoch(epoch), 0)
            .unwrap();
    }

    /// What a leader's Fetch answer for `from` carries.
    fn answer(leader: &SharedLog, from: i64, hwm: i64) -> PartitionData {
        let records = lock(leader).read(Offset(from), 1 << 20).unwrap();
        PartitionData::default()
            .with_high_watermark(hwm)
            .with_log_start_offset(0)
            .with_records(Some(Bytes::from(records)))
    }

    fn follower(log: SharedLog, hwm: i64) -> Arc<FollowerPartition> {
        FollowerPartition::new(TopicPartition::new("t", 0), Uuid::nil(), 1, 3, log, hwm)
    }

    fn entries(log: &SharedLog) -> Vec<(i32, i64)> {
        lock(log)
            .leader_epoch_cache()
            .entries()
            .iter()
            .map(|e| (e.epoch.0, e.start_offset.0))
            .collect()
    }

    #[test]
    fn fetched_batches_are_appended_with_the_leaders_offsets_and_epochs() {
        let leader = log("/l/t-0");
        lead(&leader, 2, 3);
        lead(&leader, 3, 2);
        let f = follower(log("/f/t-0"), 0);
        assert_eq!(f.position(), (0, -1, 0));
        assert_eq!(f.on_answer(&answer(&leader, 0, 4), 0, 1000), Next::Continue);
        assert_eq!(f.position(), (5, 3, 0));
        assert_eq!(entries(f.log()), vec![(2, 0), (3, 3)]);
        // The follower's mark is the leader's, capped at its own end.
        assert_eq!(f.high_watermark(), 4);
        assert_eq!(
            lock(f.log()).read(Offset(0), 1 << 20).unwrap(),
            lock(&leader).read(Offset(0), 1 << 20).unwrap(),
            "the same bytes"
        );
        let capped = PartitionData::default()
            .with_high_watermark(50)
            .with_records(Some(Bytes::new()));
        f.on_answer(&capped, 0, 1000);
        assert_eq!(f.high_watermark(), 5);
    }

    #[test]
    fn a_diverging_epoch_cuts_the_tail_the_leader_never_had() {
        // Both wrote 0..3 in epoch 2; this replica then led epoch 3 and
        // wrote 3..6 that never replicated; the new leader's epoch 2 ended
        // at 3 (its epoch 4 starts there).
        let own = log("/f/t-0");
        lead(&own, 2, 3);
        lead(&own, 3, 3);
        let f = follower(own, 3);
        let diverging = PartitionData::default()
            .with_high_watermark(3)
            .with_diverging_epoch(EpochEndOffset::default().with_epoch(2).with_end_offset(3))
            .with_records(Some(Bytes::new()));
        assert_eq!(f.on_answer(&diverging, 0, 1000), Next::Continue);
        assert_eq!(f.position(), (3, 2, 0));
        assert_eq!(entries(f.log()), vec![(2, 0)]);
        assert_eq!(f.high_watermark(), 3);
    }

    #[test]
    fn out_of_range_asks_the_leader_and_cuts_or_starts_over() {
        let own = log("/f/t-0");
        lead(&own, 1, 6);
        let f = follower(own, 2);
        let oor = PartitionData::default().with_error_code(ResponseError::OffsetOutOfRange.code());
        assert_eq!(f.on_answer(&oor, 0, 1000), Next::OutOfRange);
        // The leader ends at 4: cut to it (the mark stays at 2).
        f.on_leader_offsets(0, 4).unwrap();
        assert_eq!(f.position().0, 4);
        assert_eq!(f.high_watermark(), 2);
        // The leader's log starts past this one's end: start over there.
        f.on_leader_offsets(100, 120).unwrap();
        assert_eq!(f.position(), (100, -1, 100));
    }

    #[test]
    fn other_errors_pause_the_partition_and_a_stopped_one_appends_nothing() {
        let leader = log("/l/t-0");
        lead(&leader, 0, 2);
        let f = follower(log("/f/t-0"), 0);
        let fenced =
            PartitionData::default().with_error_code(ResponseError::FencedLeaderEpoch.code());
        f.on_answer(&fenced, 1_000, 500);
        assert_eq!(f.retry_after_ms.load(Ordering::SeqCst), 1_500);
        f.stop();
        f.on_answer(&answer(&leader, 0, 2), 2_000, 500);
        assert_eq!(f.position().0, 0, "nothing appended after stop");
    }
}
