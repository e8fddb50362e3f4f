//! Produce (key 0): append producers' record batches.
//!
//! The batches stay raw bytes: the partition validates each v2 header and
//! CRC, patches offsets and the leader epoch in place, and writes them
//! (DESIGN.md section 8). acks=0 gets no response; acks=1 is answered after
//! the leader's append; acks=all needs the ISR to be at least
//! `min.insync.replicas` (KIP-966 caps it at the replication factor) and is
//! answered when the high watermark passes the batch, which for a single
//! broker is right after the append.

use super::Outcome;
use crate::broker::Broker;
use crate::partition::PartitionError;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use std::sync::Arc;

/// Handle a Produce request.
pub async fn handle(broker: &Arc<Broker>, request: ProduceRequest, _version: i16) -> Outcome {
    let acks = request.acks;
    let responses = request
        .topic_data
        .into_iter()
        .map(|topic| produce_topic(broker, topic, acks))
        .collect();
    if acks == 0 {
        return Outcome::NoResponse;
    }
    Outcome::respond(ProduceResponse::default().with_responses(responses))
}

fn produce_topic(broker: &Broker, topic: TopicProduceData, acks: i16) -> TopicProduceResponse {
    let name = topic.name.0.as_str().to_string();
    let partition_responses = topic
        .partition_data
        .into_iter()
        .map(|data| {
            let index = data.index;
            match produce_partition(broker, &name, data, acks) {
                Ok((base_offset, log_start_offset)) => PartitionProduceResponse::default()
                    .with_index(index)
                    .with_base_offset(base_offset)
                    .with_log_append_time_ms(-1)
                    .with_log_start_offset(log_start_offset),
                Err(e) => PartitionProduceResponse::default()
                    .with_index(index)
                    .with_error_code(e.code)
                    .with_base_offset(-1)
                    .with_log_append_time_ms(-1)
                    .with_log_start_offset(-1)
                    .with_error_message(Some(StrBytes::from_string(e.message))),
            }
        })
        .collect();
    TopicProduceResponse::default()
        .with_name(TopicName(StrBytes::from_string(name)))
        .with_topic_id(topic.topic_id)
        .with_partition_responses(partition_responses)
}

fn produce_partition(
    broker: &Broker,
    topic: &str,
    data: PartitionProduceData,
    acks: i16,
) -> Result<(i64, i64), PartitionError> {
    if !matches!(acks, -1..=1) {
        return Err(error(
            ResponseError::InvalidRequiredAcks,
            format!("acks={acks}"),
        ));
    }
    let partition = broker
        .leader_partition(topic, data.index)
        .map_err(|e| error(e, format!("{topic}-{}", data.index)))?;
    if acks == -1 {
        let (isr, min_isr) = broker.isr_and_min_isr(topic, data.index);
        if isr < min_isr {
            return Err(error(
                ResponseError::NotEnoughReplicas,
                format!("ISR has {isr} replicas, min.insync.replicas is {min_isr}"),
            ));
        }
    }
    let records = data.records.unwrap_or_default();
    let appended = partition.append_as_leader(&records, broker.now_ms())?;
    Ok((appended.base_offset, appended.log_start_offset))
}

fn error(e: ResponseError, message: String) -> PartitionError {
    PartitionError {
        code: e.code(),
        message: format!("{e}: {message}"),
    }
}
