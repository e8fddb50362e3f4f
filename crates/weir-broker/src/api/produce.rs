//! Produce (key 0): append producers' record batches.
//!
//! The batches stay raw bytes: the partition validates each v2 header and
//! CRC, patches offsets and the leader epoch in place, and writes them
//! (DESIGN.md section 8). acks=0 gets no response; acks=1 is answered after
//! the leader's append; acks=all needs the committed ISR to hold at least
//! `min.insync.replicas` (KIP-966 caps it at the replication factor;
//! NOT_ENOUGH_REPLICAS otherwise, nothing written) and is answered when
//! the high watermark passes the batch (Kafka's delayed produce: every
//! partition of the request waits at once, up to the request's
//! `timeout_ms`; see `Partition::wait_committed` for the errors).

use super::Outcome;
use crate::broker::Broker;
use crate::partition::{Partition, PartitionError};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::produce_request::PartitionProduceData;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};
use kafka_protocol::protocol::StrBytes;
use std::sync::Arc;
use std::time::Duration;

/// What one partition's append left to do.
type Pending = Result<(Arc<Partition>, crate::partition::Appended), PartitionError>;

/// Handle a Produce request.
pub async fn handle(broker: &Arc<Broker>, request: ProduceRequest, _version: i16) -> Outcome {
    let acks = request.acks;
    let timeout = Duration::from_millis(u64::try_from(request.timeout_ms).unwrap_or(0));
    let deadline = tokio::time::Instant::now() + timeout;
    let mut appended = Vec::with_capacity(request.topic_data.len());
    for topic in request.topic_data {
        let name = topic.name.0.as_str().to_string();
        let partitions: Vec<(i32, Pending)> = topic
            .partition_data
            .into_iter()
            .map(|data| (data.index, produce_partition(broker, &name, data, acks)))
            .collect();
        appended.push((topic.name, topic.topic_id, partitions));
    }
    if acks == 0 {
        return Outcome::NoResponse;
    }
    // Every partition was appended before any waits, and all share one
    // deadline, so waiting for them in turn takes as long as the slowest.
    let mut responses = Vec::with_capacity(appended.len());
    for (name, topic_id, partitions) in appended {
        let mut partition_responses = Vec::with_capacity(partitions.len());
        for (index, pending) in partitions {
            let result = match pending {
                Ok((partition, a)) if acks == -1 => partition
                    .wait_committed(a.next_offset, deadline)
                    .await
                    .map(|()| a),
                Ok((_, a)) => Ok(a),
                Err(e) => Err(e),
            };
            partition_responses.push(partition_response(index, result));
        }
        responses.push(
            TopicProduceResponse::default()
                .with_name(name)
                .with_topic_id(topic_id)
                .with_partition_responses(partition_responses),
        );
    }
    Outcome::respond(ProduceResponse::default().with_responses(responses))
}

fn partition_response(
    index: i32,
    result: Result<crate::partition::Appended, PartitionError>,
) -> PartitionProduceResponse {
    match result {
        Ok(a) => PartitionProduceResponse::default()
            .with_index(index)
            .with_base_offset(a.base_offset)
            .with_log_append_time_ms(-1)
            .with_log_start_offset(a.log_start_offset),
        Err(e) => PartitionProduceResponse::default()
            .with_index(index)
            .with_error_code(e.code)
            .with_base_offset(-1)
            .with_log_append_time_ms(-1)
            .with_log_start_offset(-1)
            .with_error_message(Some(StrBytes::from_string(e.message))),
    }
}

fn produce_partition(
    broker: &Broker,
    topic: &str,
    data: PartitionProduceData,
    acks: i16,
) -> Pending {
    if !matches!(acks, -1..=1) {
        return Err(error(
            ResponseError::InvalidRequiredAcks,
            format!("acks={acks}"),
        ));
    }
    if weir_core::metadata::is_internal_topic(topic) {
        // Kafka's ReplicaManager: only the coordinators write there.
        return Err(error(
            ResponseError::InvalidTopicException,
            format!("Cannot append to internal topic {topic}"),
        ));
    }
    let partition = broker
        .leader_partition(topic, data.index)
        .map_err(|e| error(e, format!("{topic}-{}", data.index)))?;
    let records = data.records.unwrap_or_default();
    let appended = partition.append_as_leader(&records, acks == -1, broker.now_ms())?;
    Ok((partition, appended))
}

fn error(e: ResponseError, message: String) -> PartitionError {
    PartitionError {
        code: e.code(),
        message: format!("{e}: {message}"),
    }
}
