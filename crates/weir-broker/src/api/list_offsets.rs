//! ListOffsets (key 2): offsets by timestamp, and the special queries
//! EARLIEST (−2), LATEST (−1), MAX_TIMESTAMP (−3, KIP-734) and
//! EARLIEST_LOCAL (−4, KIP-405; without tiered storage the same as
//! earliest).
//!
//! LATEST is the high watermark for consumers (they cannot read above it)
//! and the log end offset for replicas. A timestamp query answers at batch
//! granularity: the first batch whose max timestamp is at or after it.

use super::Outcome;
use crate::broker::Broker;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};
use std::sync::Arc;
use weir_protocol::LeaderEpoch;

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL: i64 = -4;

/// Handle a ListOffsets request.
pub async fn handle(broker: &Arc<Broker>, request: ListOffsetsRequest, version: i16) -> Outcome {
    let replica = request.replica_id.0 >= 0;
    let topics = request
        .topics
        .iter()
        .map(|topic| list_topic(broker, topic, replica, version))
        .collect();
    Outcome::respond(ListOffsetsResponse::default().with_topics(topics))
}

fn list_topic(
    broker: &Broker,
    topic: &ListOffsetsTopic,
    replica: bool,
    version: i16,
) -> ListOffsetsTopicResponse {
    let name = topic.name.0.as_str();
    let partitions = topic
        .partitions
        .iter()
        .map(|p| match list_partition(broker, name, p, replica) {
            // The leader epoch field exists from v4 (KIP-320); the codec
            // refuses a non-default value in older versions.
            Ok((offset, timestamp, epoch)) => ListOffsetsPartitionResponse::default()
                .with_partition_index(p.partition_index)
                .with_offset(offset)
                .with_timestamp(timestamp)
                .with_leader_epoch(if version >= 4 { epoch } else { -1 }),
            Err(e) => ListOffsetsPartitionResponse::default()
                .with_partition_index(p.partition_index)
                .with_error_code(e.code())
                .with_offset(-1)
                .with_timestamp(-1)
                .with_leader_epoch(-1),
        })
        .collect();
    ListOffsetsTopicResponse::default()
        .with_name(topic.name.clone())
        .with_partitions(partitions)
}

/// (offset, timestamp, leader epoch of that offset).
fn list_partition(
    broker: &Broker,
    topic: &str,
    request: &ListOffsetsPartition,
    replica: bool,
) -> Result<(i64, i64, i32), ResponseError> {
    let partition = broker.leader_partition(topic, request.partition_index)?;
    let ours = partition.leader_epoch().0;
    if request.current_leader_epoch >= 0 && request.current_leader_epoch != ours {
        return Err(if request.current_leader_epoch < ours {
            ResponseError::FencedLeaderEpoch
        } else {
            ResponseError::UnknownLeaderEpoch
        });
    }
    let hwm = partition.high_watermark();
    partition.with_log(|log| {
        let epoch_of = |offset: i64| {
            log.leader_epoch_cache()
                .epoch_for_offset(weir_protocol::Offset(offset))
                .unwrap_or(LeaderEpoch(-1))
                .0
        };
        let found = match request.timestamp {
            EARLIEST | EARLIEST_LOCAL => Some((log.log_start_offset().0, -1)),
            LATEST if replica => Some((log.log_end_offset().0, -1)),
            LATEST => Some((hwm, -1)),
            MAX_TIMESTAMP => log.max_timestamp_and_offset().map(|(ts, o)| (o.0, ts)),
            ts if ts >= 0 => log
                .offset_for_timestamp(ts)
                .map_err(|_| ResponseError::KafkaStorageError)?
                .map(|(o, ts)| (o.0, ts)),
            _ => return Err(ResponseError::InvalidRequest),
        };
        Ok(match found {
            Some((offset, ts)) => {
                // At the log end (LATEST, empty log) the epoch is the
                // leader's current one, as Kafka answers.
                let epoch = if offset < log.log_end_offset().0 {
                    epoch_of(offset)
                } else {
                    ours
                };
                (offset, ts, epoch)
            }
            None => (-1, -1, -1),
        })
    })
}
