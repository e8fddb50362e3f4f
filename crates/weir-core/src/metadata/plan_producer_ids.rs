//! Planning of producer id blocks (KIP-730), after Kafka's
//! `ProducerIdControlManager.generateNextProducerId`.
//!
//! Brokers do not coordinate when they answer InitProducerId: each asks
//! the controller for a block of ids and hands them out locally. The
//! committed `ProducerIds` record moves the cluster's next id past the
//! block, so no id is ever given out twice, even across controller
//! failover.

use super::image::MetadataImage;
use super::plan_error::PlanError;
use super::records::MetadataRecord;

/// Kafka's block size (`ProducerIdsBlock.PRODUCER_ID_BLOCK_SIZE`).
pub const PRODUCER_ID_BLOCK_SIZE: i64 = 1000;

/// A block of producer ids owned by one broker (`ProducerIdsBlock`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerIdBlock {
    /// The broker the block belongs to.
    pub broker_id: i32,
    /// First id of the block.
    pub first_producer_id: i64,
    /// Number of ids in the block.
    pub size: i64,
}

impl ProducerIdBlock {
    /// Last id of the block.
    pub fn last_producer_id(&self) -> i64 {
        self.first_producer_id + self.size - 1
    }

    /// First id after the block.
    pub fn next_block_first_id(&self) -> i64 {
        self.first_producer_id + self.size
    }
}

/// The next block of `block_size` ids for `broker_id`, and the record that
/// claims it. The broker must be registered; its registered epoch goes
/// into the record (Kafka checks the epoch from the AllocateProducerIds
/// request against the same registration).
pub fn plan_producer_id_block(
    image: &MetadataImage,
    broker_id: i32,
    block_size: i64,
) -> Result<(ProducerIdBlock, Vec<MetadataRecord>), PlanError> {
    if block_size <= 0 {
        return Err(PlanError::InvalidRequest(format!(
            "Invalid producer id block size {block_size}."
        )));
    }
    let broker = image.broker(broker_id).ok_or_else(|| {
        PlanError::StaleBrokerEpoch(format!("No broker registration found for {broker_id}"))
    })?;
    let first = image.next_producer_id();
    if first > i64::MAX - block_size {
        return Err(PlanError::UnknownServerError(
            "Exhausted all producerIds as the next block's end producerId has exceeded the int64 type limit"
                .into(),
        ));
    }
    let block = ProducerIdBlock {
        broker_id,
        first_producer_id: first,
        size: block_size,
    };
    let record = MetadataRecord::ProducerIds {
        broker_id,
        broker_epoch: broker.broker_epoch,
        next_producer_id: block.next_block_first_id(),
    };
    Ok((block, vec![record]))
}
