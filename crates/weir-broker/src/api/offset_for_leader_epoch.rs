//! OffsetForLeaderEpoch (key 23): where a leader epoch ends on this leader
//! (KIP-101, with KIP-279's fix: the answer carries the largest epoch at or
//! below the requested one, so a follower can find the exact point where
//! its log diverges). Also served to clients (KIP-320), which use it to
//! detect log truncation.

use super::Outcome;
use crate::broker::Broker;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};
use std::sync::Arc;
use weir_protocol::LeaderEpoch;

/// Handle an OffsetForLeaderEpoch request.
pub async fn handle(
    broker: &Arc<Broker>,
    request: OffsetForLeaderEpochRequest,
    _version: i16,
) -> Outcome {
    let topics = request
        .topics
        .iter()
        .map(|topic| {
            let name = topic.topic.0.as_str();
            let partitions = topic
                .partitions
                .iter()
                .map(|p| {
                    let result = end_offset(
                        broker,
                        name,
                        p.partition,
                        p.current_leader_epoch,
                        p.leader_epoch,
                    );
                    match result {
                        Ok((epoch, offset)) => EpochEndOffset::default()
                            .with_partition(p.partition)
                            .with_leader_epoch(epoch)
                            .with_end_offset(offset),
                        Err(e) => EpochEndOffset::default()
                            .with_partition(p.partition)
                            .with_error_code(e.code())
                            .with_leader_epoch(-1)
                            .with_end_offset(-1),
                    }
                })
                .collect();
            OffsetForLeaderTopicResult::default()
                .with_topic(topic.topic.clone())
                .with_partitions(partitions)
        })
        .collect();
    Outcome::respond(OffsetForLeaderEpochResponse::default().with_topics(topics))
}

fn end_offset(
    broker: &Broker,
    topic: &str,
    index: i32,
    current_leader_epoch: i32,
    requested: i32,
) -> Result<(i32, i64), ResponseError> {
    let partition = broker.leader_partition(topic, index)?;
    let ours = partition.leader_epoch().0;
    if current_leader_epoch >= 0 && current_leader_epoch != ours {
        return Err(if current_leader_epoch < ours {
            ResponseError::FencedLeaderEpoch
        } else {
            ResponseError::UnknownLeaderEpoch
        });
    }
    Ok(partition.with_log(|log| {
        let (epoch, offset) = log
            .leader_epoch_cache()
            .end_offset_for(LeaderEpoch(requested), log.log_end_offset());
        (epoch.0, offset.0)
    }))
}
