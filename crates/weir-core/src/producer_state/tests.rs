use super::*;
use proptest::prelude::*;

const PID: i64 = 1000;

/// A client batch of `records` records from sequence `seq`.
fn batch(producer_id: i64, epoch: i16, seq: i32, records: i32) -> BatchHeader {
    BatchHeader {
        base_offset: 0,
        batch_length: 49,
        partition_leader_epoch: 0,
        magic: 2,
        crc: 0,
        attributes: 0,
        last_offset_delta: records - 1,
        base_timestamp: 5,
        max_timestamp: 7,
        producer_id,
        producer_epoch: epoch,
        base_sequence: seq,
        record_count: records,
    }
}

/// Check, require Append, and record at `offset`.
fn append(state: &mut ProducerStateManager, header: &BatchHeader, offset: i64) {
    assert_eq!(state.check(header), Ok(BatchCheck::Append), "{header:?}");
    state.update(header, Offset(offset), 100);
}

fn dup(first: i64, last: i64) -> Result<BatchCheck, ProducerError> {
    Ok(BatchCheck::Duplicate {
        first_offset: Offset(first),
        last_offset: Offset(last),
    })
}

#[test]
fn non_idempotent_batches_always_append_and_are_not_tracked() {
    let mut state = ProducerStateManager::default();
    let plain = batch(NO_PRODUCER_ID, -1, -1, 3);
    state.update(&plain, Offset(0), 1);
    assert_eq!(state.check(&plain), Ok(BatchCheck::Append));
    assert!(state.is_empty());
}

#[test]
fn a_producer_id_without_a_sequence_is_an_invalid_record() {
    let err = ProducerStateManager::default()
        .check(&batch(PID, 0, -1, 1))
        .unwrap_err();
    assert_eq!(
        err,
        ProducerError::InvalidSequence {
            producer_id: PID,
            base_sequence: -1,
        }
    );
    assert_eq!(err.error_code(), 87);
    assert_eq!(
        err.to_string(),
        "Invalid sequence number -1 in record batch with producerId 1000"
    );
}

#[test]
fn unknown_producer_may_start_at_any_sequence() {
    let state = ProducerStateManager::default();
    assert_eq!(state.check(&batch(PID, 0, 0, 1)), Ok(BatchCheck::Append));
    assert_eq!(state.check(&batch(PID, 3, 42, 1)), Ok(BatchCheck::Append));
}

#[test]
fn update_remembers_epoch_and_batch_metadata() {
    let mut state = ProducerStateManager::default();
    append(&mut state, &batch(PID, 2, 0, 3), 10);
    append(&mut state, &batch(PID, 2, 3, 2), 13);
    let entry = state.entry(PID).unwrap();
    assert_eq!(entry.epoch(), 2);
    assert_eq!(entry.last_sequence(), 4);
    assert_eq!(entry.last_timestamp_ms(), 100);
    let batches: Vec<BatchMetadata> = entry.batches().copied().collect();
    assert_eq!(
        batches,
        vec![
            BatchMetadata {
                first_sequence: 0,
                last_sequence: 2,
                first_offset: Offset(10),
                last_offset: Offset(12),
                max_timestamp_ms: 7,
            },
            BatchMetadata {
                first_sequence: 3,
                last_sequence: 4,
                first_offset: Offset(13),
                last_offset: Offset(14),
                max_timestamp_ms: 7,
            },
        ]
    );
}

#[test]
fn each_of_the_last_five_batches_is_a_duplicate_with_its_original_offsets() {
    let mut state = ProducerStateManager::default();
    for i in 0..6 {
        append(&mut state, &batch(PID, 0, i * 2, 2), 100 + i64::from(i) * 2);
    }
    for i in 1..6 {
        let first = 100 + i64::from(i) * 2;
        assert_eq!(state.check(&batch(PID, 0, i * 2, 2)), dup(first, first + 1));
    }
    // The sixth-newest batch is forgotten: a retry of it is out of order.
    assert_eq!(
        state.check(&batch(PID, 0, 0, 2)),
        Err(ProducerError::OutOfOrderSequence {
            producer_id: PID,
            first_sequence: 0,
            last_sequence: 11,
        })
    );
}

#[test]
fn a_retry_with_another_sequence_range_is_not_a_duplicate() {
    let mut state = ProducerStateManager::default();
    append(&mut state, &batch(PID, 0, 0, 3), 0);
    assert_eq!(
        state.check(&batch(PID, 0, 0, 2)),
        Err(ProducerError::OutOfOrderSequence {
            producer_id: PID,
            first_sequence: 0,
            last_sequence: 2,
        })
    );
}

#[test]
fn a_gap_is_out_of_order() {
    let mut state = ProducerStateManager::default();
    append(&mut state, &batch(PID, 0, 0, 1), 0);
    let err = state.check(&batch(PID, 0, 2, 1)).unwrap_err();
    assert_eq!(
        err,
        ProducerError::OutOfOrderSequence {
            producer_id: PID,
            first_sequence: 2,
            last_sequence: 0,
        }
    );
    assert_eq!(err.error_code(), 45);
    assert_eq!(
        err.to_string(),
        "Out of order sequence number for producer 1000: 2 (incoming seq. number), 0 (current end sequence number)"
    );
}

#[test]
fn an_older_epoch_is_fenced() {
    let mut state = ProducerStateManager::default();
    append(&mut state, &batch(PID, 5, 0, 1), 0);
    let err = state.check(&batch(PID, 4, 1, 1)).unwrap_err();
    assert_eq!(
        err,
        ProducerError::InvalidProducerEpoch {
            producer_id: PID,
            epoch: 4,
            current_epoch: 5,
        }
    );
    assert_eq!(err.error_code(), 47);
    assert_eq!(
        err.to_string(),
        "Epoch of producer 1000 is 4, which is smaller than the last seen epoch 5"
    );
}

#[test]
fn a_new_epoch_must_start_at_sequence_zero() {
    let mut state = ProducerStateManager::default();
    append(&mut state, &batch(PID, 0, 0, 4), 0);
    let err = state.check(&batch(PID, 1, 4, 1)).unwrap_err();
    assert_eq!(
        err,
        ProducerError::InvalidSequenceForNewEpoch {
            producer_id: PID,
            epoch: 1,
            first_sequence: 4,
            current_epoch: 0,
        }
    );
    assert_eq!(err.error_code(), 45);
    append(&mut state, &batch(PID, 1, 0, 1), 4);
    // The bump dropped the old epoch's batches; their retries are fenced.
    assert_eq!(state.entry(PID).unwrap().batches().count(), 1);
    assert!(matches!(
        state.check(&batch(PID, 0, 0, 4)),
        Err(ProducerError::InvalidProducerEpoch { .. })
    ));
}

#[test]
fn sequences_wrap_at_i32_max() {
    let mut state = ProducerStateManager::default();
    append(&mut state, &batch(PID, 0, i32::MAX - 1, 2), 0);
    assert_eq!(state.entry(PID).unwrap().last_sequence(), i32::MAX);
    append(&mut state, &batch(PID, 0, 0, 1), 2);
    // A batch that itself wraps: MAX-1, MAX, 0.
    let mut other = ProducerStateManager::default();
    append(&mut other, &batch(PID, 0, i32::MAX - 1, 3), 0);
    assert_eq!(other.entry(PID).unwrap().last_sequence(), 0);
    assert_eq!(other.check(&batch(PID, 0, i32::MAX - 1, 3)), dup(0, 2));
    append(&mut other, &batch(PID, 0, 1, 1), 3);
}

#[test]
fn control_batches_move_the_epoch_only() {
    let mut state = ProducerStateManager::default();
    append(&mut state, &batch(PID, 0, 0, 1), 0);
    let mut marker = batch(PID, 1, -1, 1);
    marker.attributes = 1 << 5;
    state.update(&marker, Offset(1), 200);
    let entry = state.entry(PID).unwrap();
    assert_eq!(
        (
            entry.epoch(),
            entry.last_sequence(),
            entry.last_timestamp_ms()
        ),
        (1, -1, 200)
    );
    assert_eq!(state.check(&batch(PID, 1, 0, 1)), Ok(BatchCheck::Append));
}

#[test]
fn producers_are_independent() {
    let mut state = ProducerStateManager::default();
    append(&mut state, &batch(1, 0, 0, 1), 0);
    append(&mut state, &batch(2, 0, 0, 1), 1);
    assert_eq!(state.check(&batch(1, 0, 0, 1)), dup(0, 0));
    assert_eq!(state.check(&batch(2, 0, 0, 1)), dup(1, 1));
    assert_eq!(state.len(), 2);
}

#[test]
fn truncation_forgets_batches_at_and_after_the_offset() {
    let mut state = ProducerStateManager::default();
    append(&mut state, &batch(1, 0, 0, 2), 0);
    append(&mut state, &batch(2, 0, 0, 1), 2);
    append(&mut state, &batch(1, 0, 2, 2), 3);
    state.truncate_to(Offset(3));
    assert_eq!(state.entry(1).unwrap().last_sequence(), 1);
    assert_eq!(state.check(&batch(1, 0, 2, 2)), Ok(BatchCheck::Append));
    state.truncate_to(Offset(2));
    assert!(state.entry(2).is_none());
    state.truncate_to(Offset(0));
    assert!(state.is_empty());
}

#[test]
fn rebuild_from_the_log_equals_live_updates() {
    let mut headers = Vec::new();
    let mut live = ProducerStateManager::default();
    for (i, (pid, epoch, seq)) in [(1, 0, 0), (2, 0, 7), (1, 0, 1), (1, 1, 0), (2, 0, 8)]
        .into_iter()
        .enumerate()
    {
        let mut h = batch(pid, epoch, seq, 1);
        h.base_offset = i as i64;
        h.max_timestamp = 1000 + i as i64;
        live.update(&h, Offset(i as i64), h.max_timestamp);
        headers.push(h);
    }
    let mut rebuilt = ProducerStateManager::default();
    rebuilt.update(&batch(9, 0, 0, 1), Offset(0), 0);
    rebuilt.rebuild_from(&headers);
    assert_eq!(rebuilt, live);
    assert_eq!(rebuilt.entry(1).unwrap().epoch(), 1);
    assert_eq!(rebuilt.entry(2).unwrap().last_timestamp_ms(), 1004);
}

#[test]
fn producers_expire_after_the_expiration_time() {
    let mut state = ProducerStateManager::new(1000);
    state.update(&batch(1, 0, 0, 1), Offset(0), 5000);
    state.update(&batch(2, 0, 0, 1), Offset(1), 5500);
    assert_eq!(state.remove_expired(5999), 0);
    assert_eq!(state.remove_expired(6000), 1);
    assert!(state.entry(1).is_none() && state.entry(2).is_some());
    assert_eq!(DEFAULT_PRODUCER_ID_EXPIRATION_MS, 86_400_000);
}

/// What a client does next.
#[derive(Debug, Clone)]
enum Op {
    /// Send the next batch of `records` records.
    New { producer: usize, records: i32 },
    /// Resend the batch `back` places before the newest of this epoch.
    Retry { producer: usize, back: usize },
    /// Resend a batch of an earlier epoch.
    RetryStale { producer: usize, pick: usize },
    /// Start a new epoch (after InitProducerId).
    Bump { producer: usize },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..2usize, 1..5i32).prop_map(|(producer, records)| Op::New { producer, records }),
        3 => (0..2usize, 0..8usize).prop_map(|(producer, back)| Op::Retry { producer, back }),
        1 => (0..2usize, 0..8usize).prop_map(|(producer, pick)| Op::RetryStale { producer, pick }),
        1 => (0..2usize).prop_map(|producer| Op::Bump { producer }),
    ]
}

/// The client's view of one producer and of the batches it sent.
#[derive(Debug, Clone)]
struct Client {
    epoch: i16,
    next_seq: i32,
    /// (header, first offset) of every appended batch.
    sent: Vec<(BatchHeader, i64)>,
}

impl Client {
    fn of_epoch(&self, epoch: i16) -> Vec<&(BatchHeader, i64)> {
        self.sent
            .iter()
            .filter(|(h, _)| h.producer_epoch == epoch)
            .collect()
    }
}

fn next_seq(seq: i32, records: i32) -> i32 {
    ((i64::from(seq) + i64::from(records)) % (i64::from(i32::MAX) + 1)) as i32
}

proptest! {
    /// New, retried and stale batches from two producers, sequences
    /// starting anywhere (near i32::MAX too): every new in-order batch is
    /// appended, a retry of one of the last five is a duplicate with its
    /// original offsets, and nothing already appended is appended again.
    #[test]
    fn retries_never_duplicate_and_in_order_batches_never_fail(
        starts in prop::array::uniform2(prop_oneof![0..100i32, (i32::MAX - 20)..=i32::MAX]),
        ops in prop::collection::vec(op(), 1..80),
    ) {
        let mut state = ProducerStateManager::default();
        let mut clients: Vec<Client> = starts
            .iter()
            .map(|&s| Client { epoch: 0, next_seq: s, sent: Vec::new() })
            .collect();
        let mut log_end = 0i64;
        for op in ops {
            match op {
                Op::New { producer, records } => {
                    let c = &mut clients[producer];
                    let h = batch(producer as i64, c.epoch, c.next_seq, records);
                    prop_assert_eq!(state.check(&h), Ok(BatchCheck::Append));
                    state.update(&h, Offset(log_end), 0);
                    c.sent.push((h, log_end));
                    c.next_seq = next_seq(c.next_seq, records);
                    log_end += i64::from(records);
                }
                Op::Retry { producer, back } => {
                    let c = &clients[producer];
                    let current = c.of_epoch(c.epoch);
                    let Some(&&(h, first)) = current.iter().rev().nth(back) else { continue };
                    let got = state.check(&h);
                    if back < NUM_BATCHES_TO_RETAIN {
                        let last = first + i64::from(h.last_offset_delta);
                        prop_assert_eq!(got, dup(first, last));
                    } else {
                        prop_assert!(
                            matches!(got, Err(ProducerError::OutOfOrderSequence { .. })),
                            "{:?}",
                            got
                        );
                    }
                }
                Op::RetryStale { producer, pick } => {
                    let c = &clients[producer];
                    let stale: Vec<_> = c.sent.iter().filter(|(h, _)| h.producer_epoch < c.epoch).collect();
                    if stale.is_empty() { continue }
                    let (h, _) = stale[pick % stale.len()];
                    let got = state.check(h);
                    // Fenced once the new epoch has written; before that
                    // it is still the newest epoch the partition has seen.
                    if c.of_epoch(c.epoch).is_empty() {
                        prop_assert!(got != Ok(BatchCheck::Append) || state.entry(producer as i64).is_none());
                    } else {
                        prop_assert!(
                            matches!(got, Err(ProducerError::InvalidProducerEpoch { .. })),
                            "{:?}",
                            got
                        );
                    }
                }
                Op::Bump { producer } => {
                    let c = &mut clients[producer];
                    c.epoch += 1;
                    c.next_seq = 0;
                }
            }
        }
    }
}
