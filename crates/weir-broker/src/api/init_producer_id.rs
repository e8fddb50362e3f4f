//! InitProducerId (key 22): a producer id and epoch for an idempotent
//! producer (KIP-98), and the epoch bump of KIP-360 when a producer that
//! already has an id asks again (the same id, epoch + 1; a new id once the
//! epoch would overflow).
//!
//! Transactions are not supported yet: a request with a transactional id
//! gets INVALID_REQUEST instead of an id that could not be used.

use super::Outcome;
use crate::broker::Broker;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};
use std::sync::Arc;

/// Handle an InitProducerId request.
pub async fn handle(
    broker: &Arc<Broker>,
    request: InitProducerIdRequest,
    _version: i16,
) -> Outcome {
    let response = InitProducerIdResponse::default()
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    if request.transactional_id.is_some() {
        return Outcome::respond(response.with_error_code(ResponseError::InvalidRequest.code()));
    }
    let bump = request.producer_id.0 >= 0 && request.producer_epoch >= 0;
    if bump && request.producer_epoch < i16::MAX - 1 {
        return Outcome::respond(
            response
                .with_producer_id(request.producer_id)
                .with_producer_epoch(request.producer_epoch + 1),
        );
    }
    match broker.next_producer_id().await {
        Ok(id) => Outcome::respond(
            response
                .with_producer_id(ProducerId(id))
                .with_producer_epoch(0),
        ),
        Err(e) => {
            tracing::warn!("allocating a producer id: {e}");
            Outcome::respond(response.with_error_code(e.error_code()))
        }
    }
}
