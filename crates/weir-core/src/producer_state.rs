//! Idempotent-producer state of one partition (KIP-98), after Kafka's
//! `ProducerStateManager`, `ProducerStateEntry` and `ProducerAppendInfo`
//! (`storage/src/main/java/org/apache/kafka/storage/internals/log/`).
//!
//! Per producer id the leader keeps the producer epoch and the metadata of
//! the last five batches it appended. A client retries a batch it has no
//! answer for, and may have up to five in flight
//! (`max.in.flight.requests.per.connection`), so:
//!
//! - a batch with the same epoch and sequence range as one of those five
//!   is a duplicate, answered with success and the original offsets
//!   (`UnifiedLog.analyzeAndValidateProducerState`);
//! - a batch from an older epoch is fenced: INVALID_PRODUCER_EPOCH;
//! - a batch from a newer epoch must start at sequence 0;
//! - otherwise its first sequence must follow the last one appended
//!   (wrapping from `i32::MAX` to 0), or it is OUT_OF_ORDER_SEQUENCE_NUMBER.
//!
//! A producer the partition does not know may start at any sequence: since
//! KIP-360 Kafka accepts it, because its state may have been removed by
//! retention, DeleteRecords or expiry while the producer lived on
//! (`ProducerAppendInfo.checkSequence`: "If there is no current producer
//! epoch ... accept writes with any sequence number").
//!
//! Batches without a producer id (-1) are never checked or recorded.

use std::collections::{BTreeMap, VecDeque};
use weir_protocol::{BatchHeader, Offset};

/// Batches remembered per producer (`ProducerStateEntry.NUM_BATCHES_TO_RETAIN`),
/// matching the client's limit of five in-flight requests.
pub const NUM_BATCHES_TO_RETAIN: usize = 5;

/// Kafka's `producer.id.expiration.ms` default: one day.
pub const DEFAULT_PRODUCER_ID_EXPIRATION_MS: i64 = 86_400_000;

/// Kafka's "no producer id" (`RecordBatch.NO_PRODUCER_ID`).
pub const NO_PRODUCER_ID: i64 = -1;

/// What to do with a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchCheck {
    /// Append it.
    Append,
    /// It is already in the log: answer success with these offsets and do
    /// not append it again.
    Duplicate {
        /// Offset of its first record.
        first_offset: Offset,
        /// Offset of its last record.
        last_offset: Offset,
    },
}

/// Why a producer's batch is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProducerError {
    /// A batch with a producer id must carry a sequence (INVALID_RECORD,
    /// 87; Kafka's `LogValidator.validateBatch`).
    #[error(
        "Invalid sequence number {base_sequence} in record batch with producerId {producer_id}"
    )]
    InvalidSequence {
        /// The producer.
        producer_id: i64,
        /// The batch's base sequence.
        base_sequence: i32,
    },
    /// A newer epoch of this producer id has written here, so this one is
    /// fenced (INVALID_PRODUCER_EPOCH, 47; Kafka 2.7+ answers this rather
    /// than the fatal PRODUCER_FENCED so the client can abort and retry).
    #[error(
        "Epoch of producer {producer_id} is {epoch}, which is smaller than the last seen epoch {current_epoch}"
    )]
    InvalidProducerEpoch {
        /// The producer.
        producer_id: i64,
        /// Epoch of the batch.
        epoch: i16,
        /// Epoch last seen.
        current_epoch: i16,
    },
    /// A new epoch must start at sequence 0 (OUT_OF_ORDER_SEQUENCE_NUMBER, 45).
    #[error(
        "Invalid sequence number for new epoch of producer {producer_id}: {epoch} (request epoch), \
         {first_sequence} (seq. number), {current_epoch} (current producer epoch)"
    )]
    InvalidSequenceForNewEpoch {
        /// The producer.
        producer_id: i64,
        /// Epoch of the batch.
        epoch: i16,
        /// First sequence of the batch.
        first_sequence: i32,
        /// Epoch last seen.
        current_epoch: i16,
    },
    /// The batch does not follow the last one appended: a gap, or a retry
    /// older than the five remembered batches (OUT_OF_ORDER_SEQUENCE_NUMBER, 45).
    #[error(
        "Out of order sequence number for producer {producer_id}: {first_sequence} (incoming seq. number), \
         {last_sequence} (current end sequence number)"
    )]
    OutOfOrderSequence {
        /// The producer.
        producer_id: i64,
        /// First sequence of the batch.
        first_sequence: i32,
        /// Last sequence appended in this epoch, or -1.
        last_sequence: i32,
    },
}

impl ProducerError {
    /// The Kafka error code for the produce response.
    pub fn error_code(&self) -> i16 {
        match self {
            ProducerError::InvalidSequence { .. } => 87,
            ProducerError::InvalidProducerEpoch { .. } => 47,
            ProducerError::InvalidSequenceForNewEpoch { .. }
            | ProducerError::OutOfOrderSequence { .. } => 45,
        }
    }
}

/// What is remembered of one appended batch (Kafka's `BatchMetadata`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchMetadata {
    /// Sequence of its first record.
    pub first_sequence: i32,
    /// Sequence of its last record.
    pub last_sequence: i32,
    /// Offset of its first record.
    pub first_offset: Offset,
    /// Offset of its last record.
    pub last_offset: Offset,
    /// Its max timestamp.
    pub max_timestamp_ms: i64,
}

/// The state of one producer id (Kafka's `ProducerStateEntry`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerEntry {
    epoch: i16,
    /// Oldest first; at most [`NUM_BATCHES_TO_RETAIN`], all of `epoch`.
    batches: VecDeque<BatchMetadata>,
    last_timestamp_ms: i64,
}

impl ProducerEntry {
    /// Producer epoch last seen.
    pub fn epoch(&self) -> i16 {
        self.epoch
    }

    /// The last batches of the current epoch, oldest first.
    pub fn batches(&self) -> impl Iterator<Item = &BatchMetadata> {
        self.batches.iter()
    }

    /// Last sequence appended in the current epoch, or -1 when none.
    pub fn last_sequence(&self) -> i32 {
        self.batches.back().map_or(-1, |b| b.last_sequence)
    }

    /// When this producer last appended, for expiry.
    pub fn last_timestamp_ms(&self) -> i64 {
        self.last_timestamp_ms
    }

    fn duplicate_of(&self, header: &BatchHeader) -> Option<&BatchMetadata> {
        if header.producer_epoch != self.epoch {
            return None;
        }
        let (first, last) = (header.base_sequence, header.last_sequence());
        self.batches
            .iter()
            .find(|b| b.first_sequence == first && b.last_sequence == last)
    }

    /// Kafka's `maybeUpdateProducerEpoch` then `addBatchMetadata`.
    fn add_batch(&mut self, epoch: i16, batch: BatchMetadata) {
        if epoch != self.epoch {
            self.epoch = epoch;
            self.batches.clear();
        }
        if self.batches.len() == NUM_BATCHES_TO_RETAIN {
            self.batches.pop_front();
        }
        self.batches.push_back(batch);
    }
}

/// Producer state of one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerStateManager {
    producers: BTreeMap<i64, ProducerEntry>,
    producer_id_expiration_ms: i64,
}

impl Default for ProducerStateManager {
    /// With Kafka's default `producer.id.expiration.ms` (one day).
    fn default() -> Self {
        Self::new(DEFAULT_PRODUCER_ID_EXPIRATION_MS)
    }
}

impl ProducerStateManager {
    /// Empty state; producers idle for `producer_id_expiration_ms` are
    /// dropped by [`ProducerStateManager::remove_expired`].
    pub fn new(producer_id_expiration_ms: i64) -> Self {
        ProducerStateManager {
            producers: BTreeMap::new(),
            producer_id_expiration_ms,
        }
    }

    /// Decide on a batch a client produced, before it is appended. A
    /// request carrying several batches of one producer must be checked
    /// and updated batch by batch.
    pub fn check(&self, header: &BatchHeader) -> Result<BatchCheck, ProducerError> {
        if header.producer_id == NO_PRODUCER_ID {
            return Ok(BatchCheck::Append);
        }
        if header.base_sequence < 0 {
            return Err(ProducerError::InvalidSequence {
                producer_id: header.producer_id,
                base_sequence: header.base_sequence,
            });
        }
        let Some(entry) = self.producers.get(&header.producer_id) else {
            return Ok(BatchCheck::Append);
        };
        if let Some(dup) = entry.duplicate_of(header) {
            return Ok(BatchCheck::Duplicate {
                first_offset: dup.first_offset,
                last_offset: dup.last_offset,
            });
        }
        check_epoch(entry, header)?;
        check_sequence(entry, header)?;
        Ok(BatchCheck::Append)
    }

    /// Record a batch that is now in the log with its first record at
    /// `first_offset`, appended at `now_ms`. Used for client appends after
    /// [`ProducerStateManager::check`], and unchecked for batches a follower
    /// replicates (Kafka does not validate `AppendOrigin.REPLICATION`).
    /// A control batch (transaction marker) only moves the epoch.
    pub fn update(&mut self, header: &BatchHeader, first_offset: Offset, now_ms: i64) {
        if header.producer_id == NO_PRODUCER_ID {
            return;
        }
        let entry = self
            .producers
            .entry(header.producer_id)
            .or_insert(ProducerEntry {
                epoch: header.producer_epoch,
                batches: VecDeque::new(),
                last_timestamp_ms: now_ms,
            });
        entry.last_timestamp_ms = now_ms;
        if header.is_control() {
            if header.producer_epoch != entry.epoch {
                entry.epoch = header.producer_epoch;
                entry.batches.clear();
            }
            return;
        }
        let batch = BatchMetadata {
            first_sequence: header.base_sequence,
            last_sequence: header.last_sequence(),
            first_offset,
            last_offset: first_offset.plus(i64::from(header.last_offset_delta)),
            max_timestamp_ms: header.max_timestamp,
        };
        entry.add_batch(header.producer_epoch, batch);
    }

    /// Forget the batches at or after `offset` (the log was truncated
    /// there). A producer left with no batch is forgotten entirely, so it
    /// may resume at any sequence; its older batches, if any, are still in
    /// the log, and [`ProducerStateManager::rebuild_from`] over the log
    /// restores exact state, as Kafka's `truncateAndReload` does from its
    /// snapshot.
    pub fn truncate_to(&mut self, offset: Offset) {
        for entry in self.producers.values_mut() {
            entry.batches.retain(|b| b.last_offset < offset);
        }
        self.producers.retain(|_, e| !e.batches.is_empty());
    }

    /// Replace the state with what the given batches of the log imply, in
    /// log order, each at its own base offset. A producer's last activity
    /// is its batch's max timestamp, as Kafka rebuilds it
    /// (`ProducerAppendInfo.append` uses `batch.maxTimestamp`).
    pub fn rebuild_from<'a>(&mut self, headers: impl IntoIterator<Item = &'a BatchHeader>) {
        self.producers.clear();
        for header in headers {
            self.update(header, Offset(header.base_offset), header.max_timestamp);
        }
    }

    /// Drop producers idle for at least the expiration time (Kafka's
    /// `removeExpiredProducers`); returns how many were dropped.
    pub fn remove_expired(&mut self, now_ms: i64) -> usize {
        let before = self.producers.len();
        let expiration_ms = self.producer_id_expiration_ms;
        self.producers
            .retain(|_, e| now_ms.saturating_sub(e.last_timestamp_ms) < expiration_ms);
        before - self.producers.len()
    }

    /// The state of one producer id.
    pub fn entry(&self, producer_id: i64) -> Option<&ProducerEntry> {
        self.producers.get(&producer_id)
    }

    /// Number of producers tracked.
    pub fn len(&self) -> usize {
        self.producers.len()
    }

    /// True when no producer is tracked.
    pub fn is_empty(&self) -> bool {
        self.producers.is_empty()
    }
}

/// Kafka's `checkProducerEpoch`: an older epoch is fenced.
fn check_epoch(entry: &ProducerEntry, header: &BatchHeader) -> Result<(), ProducerError> {
    if header.producer_epoch < entry.epoch {
        return Err(ProducerError::InvalidProducerEpoch {
            producer_id: header.producer_id,
            epoch: header.producer_epoch,
            current_epoch: entry.epoch,
        });
    }
    Ok(())
}

/// Kafka's `checkSequence` for a known producer: a new epoch starts at 0,
/// the same epoch continues from the last sequence.
fn check_sequence(entry: &ProducerEntry, header: &BatchHeader) -> Result<(), ProducerError> {
    let first_sequence = header.base_sequence;
    if header.producer_epoch != entry.epoch {
        if first_sequence != 0 {
            return Err(ProducerError::InvalidSequenceForNewEpoch {
                producer_id: header.producer_id,
                epoch: header.producer_epoch,
                first_sequence,
                current_epoch: entry.epoch,
            });
        }
        return Ok(());
    }
    let last_sequence = entry.last_sequence();
    if !in_sequence(last_sequence, first_sequence) {
        return Err(ProducerError::OutOfOrderSequence {
            producer_id: header.producer_id,
            first_sequence,
            last_sequence,
        });
    }
    Ok(())
}

/// Kafka's `inSequence`: the next sequence, wrapping at `i32::MAX`.
fn in_sequence(last: i32, next: i32) -> bool {
    i64::from(next) == i64::from(last) + 1 || (next == 0 && last == i32::MAX)
}

#[cfg(test)]
mod tests;
