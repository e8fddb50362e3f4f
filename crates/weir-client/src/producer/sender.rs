//! The producer's sender task: accumulate, drain ready batches, submit
//! Produce requests in order, and complete records when answers arrive.

use super::batch::{encode_batch, Accumulator, OpenBatch, Waiter};
use super::{Acks, Command, ProducerConfig, RecordMetadata};
use crate::client::{topic_name, Client};
use crate::connection::PendingResponse;
use crate::error::{check, ClientError, Result};
use bytes::Bytes;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::produce_response::PartitionProduceResponse;
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;
use weir_protocol::{Offset, TopicPartition};

/// Produce versions from 13 name topics by id only.
const LAST_PRODUCE_VERSION_WITH_NAMES: i16 = 12;

/// A batch on its way: encoded bytes plus whom to tell.
#[derive(Debug)]
struct ProducerBatch {
    tp: TopicPartition,
    bytes: Bytes,
    timestamps: Vec<i64>,
    waiters: Vec<Waiter>,
    /// Bytes counted against `buffer.memory` until the batch is done.
    accounted: usize,
}

/// What sending a batch needs, shared by the per-batch tasks.
#[derive(Debug)]
struct Ctx {
    client: Client,
    config: ProducerConfig,
    done: mpsc::UnboundedSender<usize>,
}

/// Counters of work not yet finished, for flush and `buffer.memory`.
#[derive(Debug, Default)]
struct InFlight {
    batches: usize,
    bytes: usize,
}

/// Run until the command channel closes and everything sent is answered.
pub(super) async fn run(
    client: Client,
    config: ProducerConfig,
    mut commands: mpsc::Receiver<Command>,
) {
    let (done_tx, mut done_rx) = mpsc::unbounded_channel();
    let linger = Duration::from_millis(config.linger_ms);
    let mut acc = Accumulator::new(config.batch_size, linger);
    let ctx = Arc::new(Ctx {
        client,
        config,
        done: done_tx,
    });
    let mut in_flight = InFlight::default();
    let mut flush_waiters: Vec<oneshot::Sender<()>> = Vec::new();
    let mut closed = false;
    loop {
        let deadline = acc.next_deadline();
        let room = acc.buffered_bytes() + in_flight.bytes < ctx.config.buffer_memory;
        tokio::select! {
            cmd = commands.recv(), if room && !closed => match cmd {
                Some(Command::Append(a)) => acc.append(*a, Instant::now()),
                Some(Command::Flush(tx)) => flush_waiters.push(tx),
                None => closed = true,
            },
            Some(bytes) = done_rx.recv() => {
                in_flight.batches -= 1;
                in_flight.bytes -= bytes;
            }
            _ = sleep_until(deadline), if deadline.is_some() => {}
        }
        let flushing = closed || !flush_waiters.is_empty();
        for (tp, batch) in acc.drain_ready(Instant::now(), flushing) {
            in_flight.batches += 1;
            in_flight.bytes += batch.bytes;
            dispatch(&ctx, tp, batch).await;
        }
        if flushing && acc.is_empty() && in_flight.batches == 0 {
            flush_waiters.drain(..).for_each(|tx| {
                let _ = tx.send(());
            });
            if closed {
                return;
            }
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    if let Some(d) = deadline {
        tokio::time::sleep_until(d.into()).await;
    }
}

/// Encode a drained batch and make its first attempt in order; the wait
/// for the answer (and any retry) runs in its own task.
async fn dispatch(ctx: &Arc<Ctx>, tp: TopicPartition, batch: OpenBatch) {
    let OpenBatch {
        mut records,
        waiters,
        bytes: accounted,
        ..
    } = batch;
    let timestamps = records.iter().map(|r| r.timestamp).collect();
    let encoded = encode_batch(&mut records, ctx.config.compression);
    let batch = ProducerBatch {
        tp,
        bytes: Bytes::new(),
        timestamps,
        waiters,
        accounted,
    };
    let batch = match encoded {
        Ok(bytes) => ProducerBatch { bytes, ..batch },
        Err(e) => return finish(ctx, batch, Err(e)),
    };
    let first = submit(ctx, &batch).await;
    let ctx = Arc::clone(ctx);
    tokio::spawn(async move {
        let result = match first {
            Ok(sent) => sent.outcome(&batch).await,
            Err(e) => Err(e),
        };
        let result = retry(&ctx, &batch, result).await;
        finish(&ctx, batch, result);
    });
}

/// A submitted Produce request, or nothing to wait for (acks=0).
enum Sent {
    Waiting(PendingResponse<ProduceRequest>, Uuid),
    NoResponse,
}

/// Base offset and LogAppendTime (-1 if CreateTime) of a stored batch.
type Stored = (Option<Offset>, i64);

impl Sent {
    async fn outcome(self, batch: &ProducerBatch) -> Result<Stored> {
        match self {
            Sent::NoResponse => Ok((None, -1)),
            Sent::Waiting(pending, topic_id) => {
                let resp = pending.wait().await?;
                partition_outcome(&resp, &batch.tp, topic_id)
            }
        }
    }
}

/// Submit one attempt of `batch` to the partition's leader.
async fn submit(ctx: &Ctx, batch: &ProducerBatch) -> Result<Sent> {
    let (_, conn) = ctx.client.leader_connection(&batch.tp).await?;
    let topic_id = ctx
        .client
        .metadata()
        .topic(&batch.tp.topic)
        .map_or(Uuid::nil(), |t| t.topic_id);
    let cap = if topic_id.is_nil() {
        LAST_PRODUCE_VERSION_WITH_NAMES
    } else {
        i16::MAX
    };
    let version = conn.negotiate_capped::<ProduceRequest>(cap)?;
    let request = produce_request(&ctx.config, batch, topic_id);
    if ctx.config.acks == Acks::None {
        conn.send_no_response(&request, version).await?;
        return Ok(Sent::NoResponse);
    }
    Ok(Sent::Waiting(
        conn.submit(&request, version).await?,
        topic_id,
    ))
}

/// Retry retriable failures up to `retries` times, refreshing metadata
/// first when the error says our view of leadership is stale.
async fn retry(ctx: &Ctx, batch: &ProducerBatch, mut result: Result<Stored>) -> Result<Stored> {
    let mut attempts = 0;
    while let Err(e) = &result {
        if !e.is_retriable() || attempts >= ctx.config.retries {
            break;
        }
        attempts += 1;
        tracing::debug!(tp = %batch.tp, error = %e, attempts, "retrying produce");
        tokio::time::sleep(Duration::from_millis(ctx.config.retry_backoff_ms)).await;
        if !matches!(e.kafka(), Some(k) if !k.invalidates_metadata()) {
            let topics = [batch.tp.topic.clone()];
            let _ = ctx.client.refresh_metadata(Some(&topics), false).await;
        }
        result = match submit(ctx, batch).await {
            Ok(sent) => sent.outcome(batch).await,
            Err(e) => Err(e),
        };
    }
    result
}

/// Tell every record of the batch how it went, and free its buffer space.
fn finish(ctx: &Ctx, batch: ProducerBatch, result: Result<Stored>) {
    let ProducerBatch {
        tp,
        timestamps,
        waiters,
        accounted,
        ..
    } = batch;
    for (i, (waiter, ts)) in waiters.into_iter().zip(timestamps).enumerate() {
        let outcome = result.clone().map(|(base, append_time)| RecordMetadata {
            tp: tp.clone(),
            offset: base.map(|b| b.plus(i as i64)),
            timestamp_ms: if append_time >= 0 { append_time } else { ts },
        });
        let _ = waiter.send(outcome);
    }
    let _ = ctx.done.send(accounted);
}

fn produce_request(
    config: &ProducerConfig,
    batch: &ProducerBatch,
    topic_id: Uuid,
) -> ProduceRequest {
    let partition = PartitionProduceData::default()
        .with_index(batch.tp.partition)
        .with_records(Some(batch.bytes.clone()));
    let topic = TopicProduceData::default()
        .with_name(topic_name(&batch.tp.topic))
        .with_topic_id(topic_id)
        .with_partition_data(vec![partition]);
    ProduceRequest::default()
        .with_acks(config.acks.wire())
        .with_timeout_ms(config.request_timeout_ms)
        .with_topic_data(vec![topic])
}

/// This partition's answer in a Produce response: matched by topic id
/// (v13+) or name, then index. A response without it is malformed.
fn partition_outcome(
    resp: &ProduceResponse,
    tp: &TopicPartition,
    topic_id: Uuid,
) -> Result<Stored> {
    let p = find_partition(resp, tp, topic_id)
        .ok_or_else(|| ClientError::Protocol(format!("Produce response has no entry for {tp}")))?;
    check(p.error_code, p.error_message.as_deref())?;
    Ok((Some(Offset(p.base_offset)), p.log_append_time_ms))
}

fn find_partition<'a>(
    resp: &'a ProduceResponse,
    tp: &TopicPartition,
    topic_id: Uuid,
) -> Option<&'a PartitionProduceResponse> {
    resp.responses
        .iter()
        .filter(|t| t.name.0.as_str() == tp.topic || (!topic_id.is_nil() && t.topic_id == topic_id))
        .flat_map(|t| &t.partition_responses)
        .find(|p| p.index == tp.partition)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::produce_response::TopicProduceResponse;
    use kafka_protocol::protocol::StrBytes;

    fn response(error_code: i16, message: Option<&'static str>) -> ProduceResponse {
        let p = PartitionProduceResponse::default()
            .with_index(2)
            .with_error_code(error_code)
            .with_error_message(message.map(StrBytes::from_static_str))
            .with_base_offset(40)
            .with_log_append_time_ms(-1);
        ProduceResponse::default().with_responses(vec![TopicProduceResponse::default()
            .with_name(topic_name("t"))
            .with_partition_responses(vec![p])])
    }

    #[test]
    fn outcome_reads_offset_or_typed_error() {
        let tp = TopicPartition::new("t", 2);
        assert_eq!(
            partition_outcome(&response(0, None), &tp, Uuid::nil()).unwrap(),
            (Some(Offset(40)), -1)
        );
        let err = partition_outcome(&response(6, None), &tp, Uuid::nil()).unwrap_err();
        assert_eq!(err.kafka().unwrap().name(), "NOT_LEADER_OR_FOLLOWER");
        assert!(err.is_retriable());
        let err = partition_outcome(&response(10, Some("too big")), &tp, Uuid::nil()).unwrap_err();
        assert_eq!(err.to_string(), "MESSAGE_TOO_LARGE: too big");
        let other = TopicPartition::new("t", 3);
        assert!(matches!(
            partition_outcome(&response(0, None), &other, Uuid::nil()),
            Err(ClientError::Protocol(_))
        ));
    }
}
