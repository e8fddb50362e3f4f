//! The `Log` suite: one set of tests that every file system must pass
//! (openraft's `testing/log/suite.rs` is the model), run on real files in a
//! temporary directory and on MemFs.
//!
//! - deterministic tests of each operation's contract;
//! - a property test that drives random sequences of append, follower
//!   append, read, roll, truncation, retention, flush, close/reopen and
//!   crash against a simple model (a list of batches by offset).

mod common;

use common::{batch, split, Backend};
use proptest::prelude::*;
use weir_protocol::batch::{set_base_offset, set_partition_leader_epoch, write_crc};
use weir_protocol::{LeaderEpoch, Offset};
use weir_storage::log::{Log, LogConfig, LogError};
use weir_storage::memfs::MemFs;

fn open(b: &Backend, config: LogConfig, recovery_point: Offset) -> Log {
    Log::open(b.fs(), &b.dir(), config, recovery_point, 0).unwrap()
}

fn small() -> LogConfig {
    LogConfig {
        segment_bytes: 1000,
        index_interval_bytes: 100,
        ..LogConfig::default()
    }
}

/// Run `test` on both file systems.
fn on_both(test: impl Fn(&Backend)) {
    test(&Backend::real());
    test(&Backend::mem());
}

/// A batch as a follower would receive it: offsets from `base`, `epoch`.
fn follower_batch(base: i64, records: usize, ts: i64, epoch: i32) -> Vec<u8> {
    let mut b = batch(records, ts, 10);
    set_base_offset(&mut b, Offset(base));
    set_partition_leader_epoch(&mut b, LeaderEpoch(epoch));
    b
}

fn bases(log: &Log) -> Vec<i64> {
    log.segment_base_offsets().iter().map(|o| o.0).collect()
}

#[test]
fn append_assigns_offsets_and_stamps_the_epoch() {
    on_both(|b| {
        let mut log = open(b, small(), Offset(0));
        let mut two = batch(3, 100, 5);
        two.extend_from_slice(&batch(2, 50, 5));
        let info = log.append(&mut two, LeaderEpoch(4), 0).unwrap();
        assert_eq!(
            (info.first_offset, info.last_offset),
            (Offset(0), Offset(4))
        );
        assert_eq!(
            (info.max_timestamp, info.offset_of_max_timestamp),
            (102, Offset(2))
        );
        assert_eq!((info.record_count, info.batch_count), (5, 2));
        assert_eq!(info.size_bytes, two.len() as u64);
        let stored = split(&two);
        assert_eq!(stored[1].0.base_offset, 3);
        assert!(stored.iter().all(|(h, _)| h.partition_leader_epoch == 4));
        assert_eq!(log.read(Offset(0), usize::MAX).unwrap(), two);
        let info = log.append(&mut batch(1, 7, 5), LeaderEpoch(5), 0).unwrap();
        assert_eq!(info.first_offset, Offset(5));
        let cache = log.leader_epoch_cache();
        assert_eq!(cache.epoch_for_offset(Offset(4)), Some(LeaderEpoch(4)));
        assert_eq!(cache.epoch_for_offset(Offset(5)), Some(LeaderEpoch(5)));
    });
}

#[test]
fn append_rejects_bad_batches_and_changes_nothing() {
    on_both(|b| {
        let mut log = open(b, small(), Offset(0));
        log.append(&mut batch(2, 1, 5), LeaderEpoch(0), 0).unwrap();
        let mut flipped = batch(2, 1, 5);
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        let err = log.append(&mut flipped, LeaderEpoch(0), 0).unwrap_err();
        assert!(
            matches!(err, LogError::CorruptBatch { position: 0, .. }),
            "{err}"
        );
        assert_eq!(err.error_code(), 2);
        let mut torn = batch(2, 1, 5);
        torn.extend_from_slice(&batch(1, 1, 5)[..30]);
        assert!(matches!(
            log.append(&mut torn, LeaderEpoch(0), 0),
            Err(LogError::CorruptBatch { .. })
        ));
        assert!(matches!(
            log.append(&mut [], LeaderEpoch(0), 0),
            Err(LogError::InvalidRecord(_))
        ));
        let mut lying = batch(2, 1, 5);
        lying[57..61].copy_from_slice(&5i32.to_be_bytes());
        write_crc(&mut lying);
        assert!(matches!(
            log.append(&mut lying, LeaderEpoch(0), 0),
            Err(LogError::InvalidRecord(_))
        ));
        let mut huge = batch(1, 1, 2000);
        assert!(matches!(
            log.append(&mut huge, LeaderEpoch(0), 0),
            Err(LogError::RecordBatchTooLarge { max: 1000, .. })
        ));
        let mut strict = open_other(
            b,
            LogConfig {
                max_message_bytes: 100,
                ..small()
            },
        );
        let err = strict
            .append(&mut batch(1, 1, 200), LeaderEpoch(0), 0)
            .unwrap_err();
        assert!(
            matches!(err, LogError::MessageTooLarge { max: 100, .. }),
            "{err}"
        );
        assert_eq!(log.log_end_offset(), Offset(2));
        assert_eq!(
            log.read(Offset(0), usize::MAX).unwrap().len(),
            batch(2, 1, 5).len()
        );
    });
}

/// A second log in a sibling directory of the same backend.
fn open_other(b: &Backend, config: LogConfig) -> Log {
    Log::open(
        b.fs(),
        &b.dir().with_file_name("other-0"),
        config,
        Offset(0),
        0,
    )
    .unwrap()
}

#[test]
fn follower_append_keeps_offsets_and_requires_contiguity() {
    on_both(|b| {
        let mut log = open(b, small(), Offset(0));
        let mut two = follower_batch(0, 2, 10, 3);
        two.extend_from_slice(&follower_batch(2, 2, 11, 5));
        let info = log.append_as_follower(&two, 0).unwrap();
        assert_eq!(
            (info.first_offset, info.last_offset),
            (Offset(0), Offset(3))
        );
        assert_eq!(log.read(Offset(0), usize::MAX).unwrap(), two);
        let entries: Vec<_> = log
            .leader_epoch_cache()
            .entries()
            .iter()
            .map(|e| (e.epoch.0, e.start_offset.0))
            .collect();
        assert_eq!(entries, vec![(3, 0), (5, 2)]);
        let err = log
            .append_as_follower(&follower_batch(5, 1, 12, 5), 0)
            .unwrap_err();
        assert!(
            matches!(
                err,
                LogError::NonContiguous {
                    expected: Offset(4),
                    actual: Offset(5)
                }
            ),
            "{err}"
        );
        let mut gap = follower_batch(4, 1, 12, 5);
        gap.extend_from_slice(&follower_batch(6, 1, 12, 5));
        assert!(matches!(
            log.append_as_follower(&gap, 0),
            Err(LogError::NonContiguous { .. })
        ));
        assert_eq!(log.log_end_offset(), Offset(4));
    });
}

#[test]
fn read_bounds_and_sizes() {
    on_both(|b| {
        let mut log = open(b, LogConfig::default(), Offset(0));
        let sizes: Vec<usize> = (0..5)
            .map(|i| {
                let mut bytes = batch(2, i, 30);
                log.append(&mut bytes, LeaderEpoch(0), 0).unwrap();
                bytes.len()
            })
            .collect();
        let one = sizes[0];
        // At least one batch, even over max_bytes; then whole batches only.
        assert_eq!(log.read(Offset(1), 0).unwrap().len(), one);
        assert_eq!(log.read(Offset(1), 2 * one - 1).unwrap().len(), one);
        assert_eq!(log.read(Offset(1), 2 * one).unwrap().len(), 2 * one);
        assert_eq!(log.read(Offset(3), usize::MAX).unwrap().len(), 4 * one);
        // Bounded by a high watermark.
        assert_eq!(
            log.read_upto(Offset(0), usize::MAX, Offset(5))
                .unwrap()
                .len(),
            2 * one
        );
        assert_eq!(
            log.read_upto(Offset(0), usize::MAX, Offset(6))
                .unwrap()
                .len(),
            3 * one
        );
        assert!(log
            .read_upto(Offset(4), usize::MAX, Offset(4))
            .unwrap()
            .is_empty());
        assert!(log.read(Offset(10), 100).unwrap().is_empty());
        let err = log.read(Offset(11), 100).unwrap_err();
        assert!(matches!(
            err,
            LogError::OffsetOutOfRange {
                requested: Offset(11),
                start: Offset(0),
                end: Offset(10)
            }
        ));
        assert_eq!(err.error_code(), 1);
    });
}

#[test]
fn rolls_on_size_time_full_index_and_offset_overflow() {
    on_both(|b| {
        // Size: 1000-byte segments hold as many ~150-byte batches as fit.
        let mut log = open(b, small(), Offset(0));
        let mut sizes = Vec::new();
        for i in 0..12 {
            let mut bytes = batch(1, i, 70);
            sizes.push(bytes.len());
            log.append(&mut bytes, LeaderEpoch(0), 0).unwrap();
        }
        let per_segment = 1000 / sizes[0];
        let want: Vec<i64> = (0..12).step_by(per_segment).map(|o| o as i64).collect();
        assert_eq!(bases(&log), want);

        // Time: by record timestamps against the first batch's; Kafka
        // rolls when the difference is strictly greater than segment.ms.
        let week = LogConfig::default().segment_ms;
        let mut log = open_other(
            b,
            LogConfig {
                segment_ms: 1000,
                ..LogConfig::default()
            },
        );
        for ts in [0, 500, 1000, 1001, 1500, 2001, 2002, 100] {
            log.append(&mut batch(1, ts, 1), LeaderEpoch(0), week)
                .unwrap();
        }
        assert_eq!(bases(&log), vec![0, 3, 6]);
    });
}

/// Kafka indexes a batch only when *more than* `index.interval.bytes`
/// were written since the last entry, and seals the time index with the
/// largest timestamp on close.
#[test]
fn index_entries_follow_kafkas_strict_interval_rule() {
    use weir_storage::index_format::{OffsetEntry, TimeEntry};
    let b = Backend::mem();
    let size = batch(1, 0, 40).len();
    let config = LogConfig {
        index_interval_bytes: size as u32,
        ..LogConfig::default()
    };
    let mut log = open(&b, config, Offset(0));
    for ts in 0..6 {
        log.append(&mut batch(1, 100 + ts, 40), LeaderEpoch(0), 0)
            .unwrap();
    }
    log.close().unwrap();
    let entry = |offset: i64| {
        OffsetEntry {
            offset,
            position: (offset as usize * size) as u32,
        }
        .encode(0)
    };
    let time = |offset: i64| {
        TimeEntry {
            timestamp: 100 + offset,
            offset,
        }
        .encode(0)
    };
    let read = |suffix: &str| b.read(&b.dir().join(format!("{:020}.{suffix}", 0)));
    assert_eq!(read("index"), [entry(2), entry(4)].concat());
    assert_eq!(read("timeindex"), [time(2), time(4), time(5)].concat());
}

#[test]
fn rolls_when_an_index_is_full() {
    // 24-byte indexes hold 3 offset entries and 2 time entries; with an
    // entry for every batch after the first, the time index fills first.
    let b = Backend::mem();
    let config = LogConfig {
        segment_index_bytes: 24,
        index_interval_bytes: 0,
        ..LogConfig::default()
    };
    let mut log = open(&b, config, Offset(0));
    for ts in 0..9 {
        log.append(&mut batch(1, ts, 1), LeaderEpoch(0), 0).unwrap();
    }
    assert_eq!(bases(&log), vec![0, 3, 6]);
}

#[test]
fn rolls_before_relative_offsets_overflow_an_int() {
    let b = Backend::mem();
    let mut log = open(&b, LogConfig::default(), Offset(0));
    log.append_as_follower(&follower_batch(0, 1, 0, 0), 0)
        .unwrap();
    let mut wide = follower_batch(1, 1, 0, 0);
    wide[23..27].copy_from_slice(&(i32::MAX - 1).to_be_bytes());
    write_crc(&mut wide);
    log.append_as_follower(&wide, 0).unwrap();
    let next = 1 + i64::from(i32::MAX);
    log.append_as_follower(&follower_batch(next, 1, 0, 0), 0)
        .unwrap();
    assert_eq!(bases(&log), vec![0, next]);
    let log_end = log.log_end_offset();
    let rp = log.close().unwrap();
    assert_eq!(rp, log_end);
    let log = open(&b, LogConfig::default(), Offset(0));
    assert_eq!(log.log_end_offset(), log_end);
    assert_eq!(split(&log.read(Offset(5), 1).unwrap())[0].0.base_offset, 1);
}

#[test]
fn flush_moves_the_recovery_point_and_follows_kafkas_policy() {
    on_both(|b| {
        let config = LogConfig {
            flush_messages: Some(5),
            flush_ms: Some(1000),
            ..small()
        };
        let mut log = Log::open(b.fs(), &b.dir(), config, Offset(0), 10_000).unwrap();
        log.append(&mut batch(4, 0, 1), LeaderEpoch(0), 0).unwrap();
        assert_eq!(log.recovery_point(), Offset(0));
        assert!(!log.maybe_flush(10_500).unwrap());
        log.append(&mut batch(1, 0, 1), LeaderEpoch(0), 0).unwrap();
        assert!(log.maybe_flush(10_600).unwrap(), "5 unflushed messages");
        assert_eq!(log.recovery_point(), Offset(5));
        log.append(&mut batch(1, 0, 1), LeaderEpoch(0), 0).unwrap();
        assert!(!log.maybe_flush(11_599).unwrap());
        assert!(
            log.maybe_flush(11_600).unwrap(),
            "1000 ms since the last flush"
        );
        assert_eq!(log.recovery_point(), Offset(6));
        log.append(&mut batch(1, 0, 1), LeaderEpoch(0), 0).unwrap();
        log.flush().unwrap();
        assert_eq!(log.recovery_point(), Offset(7));
        assert_eq!(log.unflushed_messages(), 0);
    });
}

#[test]
fn truncate_to_drops_whole_batches_and_epochs() {
    on_both(|b| {
        let mut log = open(b, small(), Offset(0));
        for (i, epoch) in [1, 1, 2, 2, 3, 3, 3, 4].into_iter().enumerate() {
            log.append(&mut batch(3, i as i64, 100), LeaderEpoch(epoch), 0)
                .unwrap();
        }
        log.flush().unwrap();
        assert_eq!(
            (log.log_end_offset(), bases(&log).len() > 2),
            (Offset(24), true)
        );
        assert!(!log.truncate_to(Offset(24)).unwrap());
        // Offset 13 is inside the batch 12..=14: it goes whole.
        assert!(log.truncate_to(Offset(13)).unwrap());
        assert_eq!(log.log_end_offset(), Offset(12));
        assert_eq!(log.recovery_point(), Offset(12));
        // Epoch 3 started at offset 12, so it is gone too.
        assert_eq!(
            log.leader_epoch_cache().latest_epoch(),
            Some(LeaderEpoch(2))
        );
        assert!(bases(&log).iter().all(|&base| base <= 12));
        log.append(&mut batch(2, 9, 1), LeaderEpoch(5), 0).unwrap();
        assert_eq!(
            split(&log.read(Offset(12), 1).unwrap())[0]
                .0
                .partition_leader_epoch,
            5
        );
        // Truncating to where epoch 2 begins removes epochs 2..=5.
        log.truncate_to(Offset(6)).unwrap();
        assert_eq!(
            log.leader_epoch_cache().latest_epoch(),
            Some(LeaderEpoch(1))
        );
        let end = log.close().unwrap();
        let log = open(b, small(), end);
        assert_eq!(log.log_end_offset(), Offset(6));
        assert_eq!(
            log.read(Offset(0), usize::MAX).unwrap().len(),
            2 * batch(3, 0, 100).len()
        );
    });
}

/// A replica that became leader (epoch 7 assigned at its log end) and lost
/// the leadership before appending: truncating at the log end drops the
/// empty epoch, so its next fetch quotes epoch 2, which its leader has.
#[test]
fn truncate_at_the_log_end_drops_an_epoch_with_no_records() {
    on_both(|b| {
        let mut log = open(b, small(), Offset(0));
        log.append(&mut batch(3, 0, 100), LeaderEpoch(2), 0)
            .unwrap();
        log.assign_leader_epoch(LeaderEpoch(7)).unwrap();
        assert_eq!(
            log.leader_epoch_cache().latest_epoch(),
            Some(LeaderEpoch(7))
        );
        assert!(log.truncate_to(Offset(3)).unwrap());
        assert_eq!(log.log_end_offset(), Offset(3));
        assert_eq!(
            log.leader_epoch_cache().latest_epoch(),
            Some(LeaderEpoch(2))
        );
        assert!(!log.truncate_to(Offset(3)).unwrap(), "nothing left to cut");
    });
}

#[test]
fn truncate_below_the_first_segment_starts_over() {
    on_both(|b| {
        let mut log = open(b, small(), Offset(0));
        log.truncate_fully_and_start_at(Offset(100)).unwrap();
        for i in 0..6 {
            log.append(&mut batch(2, i, 200), LeaderEpoch(1), 0)
                .unwrap();
        }
        assert_eq!(log.log_start_offset(), Offset(100));
        assert!(log.truncate_to(Offset(50)).unwrap());
        assert_eq!(bases(&log), vec![50]);
        assert_eq!(
            (log.log_start_offset(), log.log_end_offset()),
            (Offset(50), Offset(50))
        );
        assert!(log.leader_epoch_cache().entries().is_empty());
        let rp = log.close().unwrap();
        let log = open(b, small(), rp);
        assert_eq!(
            (log.log_start_offset(), log.log_end_offset()),
            (Offset(50), Offset(50))
        );
    });
}

/// Segments of ~ 3 batches each with timestamps 0, 1000, 2000, ...
fn log_with_timed_segments(b: &Backend, config: LogConfig) -> Log {
    let mut log = open(b, config, Offset(0));
    for i in 0..10 {
        log.append(&mut batch(1, i * 1000, 250), LeaderEpoch(i as i32 / 4), 0)
            .unwrap();
        if i % 3 == 2 {
            log.roll(0).unwrap();
        }
    }
    log
}

#[test]
fn retention_by_time_deletes_old_segments_but_never_the_active_one() {
    on_both(|b| {
        let config = LogConfig {
            retention_ms: 5000,
            ..LogConfig::default()
        };
        let mut log = log_with_timed_segments(b, config);
        assert_eq!(bases(&log), vec![0, 3, 6, 9]);
        // Segment largest timestamps are 2000, 5000, 8000, 9000.
        assert_eq!(log.delete_retained_segments(7000).unwrap(), 0);
        assert_eq!(log.delete_retained_segments(7001).unwrap(), 1);
        assert_eq!(log.log_start_offset(), Offset(3));
        assert!(log.read(Offset(2), 1).is_err());
        assert_eq!(log.delete_retained_segments(1_000_000).unwrap(), 2);
        assert_eq!(bases(&log), vec![9]);
        assert_eq!(log.log_start_offset(), Offset(9));
        assert_eq!(
            log.leader_epoch_cache().epoch_for_offset(Offset(9)),
            Some(LeaderEpoch(2))
        );
        assert_eq!(
            log.leader_epoch_cache().entries()[0].start_offset,
            Offset(9)
        );
        let rp = log.close().unwrap();
        let log = open(b, config, rp);
        assert_eq!(log.log_start_offset(), Offset(9));
    });
}

#[test]
fn a_compacted_log_is_never_deleted_by_retention() {
    on_both(|b| {
        let mut config = LogConfig {
            retention_ms: 5000,
            retention_bytes: 1,
            ..LogConfig::default()
        };
        config.set("cleanup.policy", "compact").unwrap();
        let mut log = log_with_timed_segments(b, config);
        assert_eq!(log.delete_retained_segments(1_000_000).unwrap(), 0);
        assert_eq!(bases(&log), vec![0, 3, 6, 9]);
        // With delete in the policy again, both limits apply.
        config.set("cleanup.policy", "compact,delete").unwrap();
        log.set_config(config).unwrap();
        assert_eq!(log.delete_retained_segments(1_000_000).unwrap(), 3);
        assert_eq!(bases(&log), vec![9]);
    });
}

#[test]
fn retention_by_bytes_follows_kafka() {
    on_both(|b| {
        let probe = log_with_timed_segments(b, LogConfig::default());
        let seg = batch(1, 0, 250).len() as i64 * 3;
        drop(probe);
        b.fs().remove_dir_all(&b.dir()).unwrap();
        // Total is 3 full segments + one batch. Deleting a segment is
        // allowed while the remaining size stays >= retention.bytes.
        let config = LogConfig {
            retention_bytes: seg + seg / 3,
            retention_ms: -1,
            ..LogConfig::default()
        };
        let mut log = log_with_timed_segments(b, config);
        assert_eq!(log.delete_retained_segments(i64::MAX).unwrap(), 2);
        assert_eq!(bases(&log), vec![6, 9]);
        assert_eq!(log.delete_retained_segments(i64::MAX).unwrap(), 0);
    });
}

#[test]
fn retention_respects_the_upper_bound_and_log_start() {
    on_both(|b| {
        let config = LogConfig {
            retention_ms: 0,
            ..LogConfig::default()
        };
        let mut log = log_with_timed_segments(b, config);
        // Only segments whose successor starts at or below the bound go.
        assert_eq!(
            log.delete_retained_segments_upto(i64::MAX, Offset(5))
                .unwrap(),
            1
        );
        assert_eq!(bases(&log), vec![3, 6, 9]);
        let mut log = {
            drop(log);
            b.fs().remove_dir_all(&b.dir()).unwrap();
            log_with_timed_segments(b, LogConfig::default())
        };
        assert!(log.increment_log_start_offset(Offset(7)).unwrap());
        assert!(!log.increment_log_start_offset(Offset(4)).unwrap());
        assert!(matches!(
            log.increment_log_start_offset(Offset(11)),
            Err(LogError::OffsetOutOfRange { .. })
        ));
        assert!(matches!(
            log.read(Offset(6), 1),
            Err(LogError::OffsetOutOfRange { .. })
        ));
        assert_eq!(split(&log.read(Offset(7), 1).unwrap())[0].0.base_offset, 7);
        assert_eq!(log.delete_retained_segments(0).unwrap(), 2);
        assert_eq!(bases(&log), vec![6, 9]);
        assert_eq!(log.log_start_offset(), Offset(7));
    });
}

#[test]
fn offset_for_timestamp_finds_the_first_batch_at_or_after() {
    on_both(|b| {
        let mut log = open(b, small(), Offset(0));
        for ts in [100, 300, 200, 400, 400, 50] {
            log.append(&mut batch(2, ts, 100), LeaderEpoch(0), 0)
                .unwrap();
        }
        // Batch max timestamps are ts + 1.
        assert_eq!(log.offset_for_timestamp(0).unwrap(), Some((Offset(0), 101)));
        assert_eq!(
            log.offset_for_timestamp(102).unwrap(),
            Some((Offset(2), 301))
        );
        assert_eq!(
            log.offset_for_timestamp(302).unwrap(),
            Some((Offset(6), 401))
        );
        assert_eq!(log.offset_for_timestamp(402).unwrap(), None);
        assert_eq!(log.max_timestamp_and_offset(), Some((401, Offset(7))));
        log.increment_log_start_offset(Offset(3)).unwrap();
        assert_eq!(log.offset_for_timestamp(0).unwrap(), Some((Offset(3), 301)));
    });
}

#[test]
fn a_failed_fsync_fails_the_log_until_reopened() {
    let fs = MemFs::new();
    let b = Backend::Mem(fs.clone());
    let mut log = open(&b, small(), Offset(0));
    log.append(&mut batch(2, 0, 1), LeaderEpoch(0), 0).unwrap();
    fs.fail_next_syncs(1);
    let err = log.flush().unwrap_err();
    assert!(matches!(err, LogError::Io { .. }), "{err}");
    assert_eq!(err.error_code(), 56);
    let err = log
        .append(&mut batch(1, 0, 1), LeaderEpoch(0), 0)
        .unwrap_err();
    assert!(matches!(err, LogError::Failed(_)), "{err}");
    assert_eq!(log.recovery_point(), Offset(0));
    drop(log);
    let mut log = open(&b, small(), Offset(0));
    assert_eq!(log.log_end_offset(), Offset(2));
    log.flush().unwrap();
}

#[test]
fn delete_removes_the_partition_directory() {
    on_both(|b| {
        let mut log = open(b, small(), Offset(0));
        log.append(&mut batch(3, 0, 1), LeaderEpoch(0), 0).unwrap();
        log.delete().unwrap();
        assert!(!b.fs().exists(&b.dir()));
    });
}

#[test]
fn reopen_clamps_a_recovery_point_past_the_end() {
    on_both(|b| {
        let mut log = open(b, small(), Offset(0));
        log.append(&mut batch(3, 0, 1), LeaderEpoch(0), 0).unwrap();
        drop(log);
        let log = open(b, small(), Offset(1000));
        assert_eq!(log.recovery_point(), Offset(3));
        assert_eq!(log.log_end_offset(), Offset(3));
    });
}

// ---------------------------------------------------------------------
// The model-based property test.
// ---------------------------------------------------------------------

/// One batch of the model.
#[derive(Debug, Clone)]
struct ModelBatch {
    base: i64,
    last: i64,
    epoch: i32,
    max_ts: i64,
    bytes: Vec<u8>,
}

/// The log as a list of batches by offset.
#[derive(Debug, Default, Clone)]
struct Model {
    batches: Vec<ModelBatch>,
    start: i64,
    end: i64,
    /// Everything below is flushed (the log's recovery point).
    flushed: i64,
    epoch: i32,
}

impl Model {
    fn push(&mut self, buf: &[u8]) {
        for (h, bytes) in split(buf) {
            self.batches.push(ModelBatch {
                base: h.base_offset,
                last: h.last_offset(),
                epoch: h.partition_leader_epoch,
                max_ts: h.max_timestamp,
                bytes,
            });
            self.end = h.last_offset() + 1;
        }
    }

    /// Keep batches below `end`, which must be a batch boundary.
    fn cut(&mut self, end: i64) {
        self.batches.retain(|b| b.last < end);
        self.end = end;
        self.start = self.start.min(end);
        self.flushed = self.flushed.min(end);
    }

    /// Index of the batch holding `offset`.
    fn holding(&self, offset: i64) -> Option<usize> {
        self.batches
            .iter()
            .position(|b| b.base <= offset && offset <= b.last)
    }

    fn is_boundary(&self, offset: i64) -> bool {
        offset == self.end || self.batches.iter().any(|b| b.base == offset)
    }
}

#[derive(Debug, Clone)]
enum Op {
    Append {
        batches: Vec<(usize, usize)>,
        ts_jitter: i64,
        new_epoch: bool,
    },
    Follower {
        batches: Vec<(usize, usize)>,
        new_epoch: bool,
    },
    BadFollower,
    Read {
        at: u16,
        max_bytes: usize,
    },
    ReadUpto {
        at: u16,
        bound: u16,
        max_bytes: usize,
    },
    Roll,
    Truncate {
        at: u16,
    },
    Retention {
        advance_ms: i64,
    },
    Flush,
    Tick {
        ms: i64,
    },
    Reopen,
    Crash {
        seed: u64,
    },
    /// Power loss in the middle of `inner`, after `after_ops` of its file
    /// system mutations (MemFs only; on real files `inner` just runs).
    CrashDuring {
        after_ops: u64,
        seed: u64,
        inner: Box<Op>,
    },
    Timestamp {
        back_ms: i64,
    },
}

fn batches() -> impl Strategy<Value = Vec<(usize, usize)>> {
    prop::collection::vec((1usize..4, 0usize..150), 1..4)
}

/// Operations that write, for [`Op::CrashDuring`].
fn writing_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (batches(), -300i64..300, prop::bool::weighted(0.3))
            .prop_map(|(batches, ts_jitter, new_epoch)| Op::Append { batches, ts_jitter, new_epoch }),
        1 => Just(Op::Roll),
        1 => any::<u16>().prop_map(|at| Op::Truncate { at }),
        1 => (0i64..3000).prop_map(|advance_ms| Op::Retention { advance_ms }),
        1 => Just(Op::Flush),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (batches(), -300i64..300, prop::bool::weighted(0.15))
            .prop_map(|(batches, ts_jitter, new_epoch)| Op::Append { batches, ts_jitter, new_epoch }),
        3 => (batches(), prop::bool::weighted(0.15)).prop_map(|(batches, new_epoch)| Op::Follower { batches, new_epoch }),
        1 => Just(Op::BadFollower),
        4 => (any::<u16>(), 1usize..3000).prop_map(|(at, max_bytes)| Op::Read { at, max_bytes }),
        2 => (any::<u16>(), any::<u16>(), 1usize..3000)
            .prop_map(|(at, bound, max_bytes)| Op::ReadUpto { at, bound, max_bytes }),
        1 => Just(Op::Roll),
        1 => any::<u16>().prop_map(|at| Op::Truncate { at }),
        1 => (0i64..3000).prop_map(|advance_ms| Op::Retention { advance_ms }),
        1 => Just(Op::Flush),
        2 => (0i64..800).prop_map(|ms| Op::Tick { ms }),
        1 => Just(Op::Reopen),
        2 => any::<u64>().prop_map(|seed| Op::Crash { seed }),
        2 => (0u64..12, any::<u64>(), writing_op())
            .prop_map(|(after_ops, seed, inner)| Op::CrashDuring { after_ops, seed, inner: Box::new(inner) }),
        1 => (0i64..3000).prop_map(|back_ms| Op::Timestamp { back_ms }),
    ]
}

fn config() -> impl Strategy<Value = LogConfig> {
    (
        prop::sample::select(vec![1000u32, 2500, 8000]),
        prop::sample::select(vec![0u32, 150, 1000]),
        prop::sample::select(vec![1000i64, 1_000_000]),
        prop::sample::select(vec![-1i64, 4000]),
        prop::sample::select(vec![-1i64, 3000]),
        prop::option::of(1u64..8),
        prop::option::of(300i64..1500),
    )
        .prop_map(
            |(
                segment_bytes,
                index_interval_bytes,
                segment_ms,
                retention_ms,
                retention_bytes,
                flush_messages,
                flush_ms,
            )| LogConfig {
                segment_bytes,
                index_interval_bytes,
                segment_ms,
                retention_ms,
                retention_bytes,
                flush_messages,
                flush_ms,
                ..LogConfig::default()
            },
        )
}

/// The log under test with its model, backend, settings and clock.
struct Run<'a> {
    b: &'a Backend,
    config: LogConfig,
    log: Option<Log>,
    model: Model,
    now_ms: i64,
    /// A crash is scheduled inside the current operation: a log error ends
    /// the operation instead of failing the test.
    crashing: bool,
    /// The scheduled crash happened.
    crashed: bool,
    /// What the interrupted operation may have left on disk (see
    /// [`Run::crash_during`]).
    intent: Intent,
}

/// What an operation interrupted by a crash may leave.
#[derive(Debug, Default)]
struct Intent {
    /// Batches being appended (they may survive, whole or in part).
    appending: Option<Vec<u8>>,
    /// The log must keep at least this much (lower than the flushed end
    /// when truncating).
    must_keep: Option<i64>,
    /// A full truncation may leave an empty log starting here.
    restart_at: Option<i64>,
}

/// Build `(records, value_len)` batches concatenated.
fn build(batches: &[(usize, usize)], ts: i64) -> Vec<u8> {
    batches
        .iter()
        .flat_map(|&(n, len)| batch(n, ts, len))
        .collect()
}

impl Run<'_> {
    fn log(&mut self) -> &mut Log {
        self.log.as_mut().expect("log is open")
    }

    /// An offset in `[start, end]` picked by `at`.
    fn pick(&self, at: u16) -> i64 {
        let span = self.model.end - self.model.start + 1;
        self.model.start + i64::from(at) % span
    }

    /// The value of a log call; during a scheduled crash, the error the
    /// crash caused ends the operation (`None`).
    fn ok<T>(&mut self, result: Result<T, LogError>) -> Result<Option<T>, TestCaseError> {
        match result {
            Ok(v) => Ok(Some(v)),
            Err(e)
                if self.crashing && matches!(e, LogError::Io { .. } | LogError::EpochCache(_)) =>
            {
                self.crashed = true;
                Ok(None)
            }
            Err(e) => Err(TestCaseError::fail(format!("log error: {e}"))),
        }
    }

    fn apply(&mut self, op: &Op) -> Result<(), TestCaseError> {
        match op {
            Op::Append {
                batches,
                ts_jitter,
                new_epoch,
            } => self.append(batches, *ts_jitter, *new_epoch),
            Op::Follower { batches, new_epoch } => self.follower(batches, *new_epoch),
            Op::BadFollower => {
                let end = self.model.end;
                let bad = follower_batch(end + 1, 1, self.now_ms, self.model.epoch);
                let err = self.log().append_as_follower(&bad, 0);
                prop_assert!(
                    matches!(err, Err(LogError::NonContiguous { .. })),
                    "{:?}",
                    err
                );
                Ok(())
            }
            Op::Read { at, max_bytes } => self.read(self.pick(*at), *max_bytes, i64::MAX),
            Op::ReadUpto {
                at,
                bound,
                max_bytes,
            } => {
                let bound = self.pick(*bound);
                self.read(self.pick(*at), *max_bytes, bound)
            }
            Op::Roll => self.roll(),
            Op::Truncate { at } => self.truncate(*at),
            Op::Retention { advance_ms } => self.retention(*advance_ms),
            Op::Flush => {
                let result = self.log().flush();
                if self.ok(result)?.is_some() {
                    self.model.flushed = self.model.end;
                }
                Ok(())
            }
            Op::Tick { ms } => self.tick(*ms),
            Op::Reopen => self.reopen(),
            Op::Crash { seed } => self.crash(*seed),
            Op::CrashDuring {
                after_ops,
                seed,
                inner,
            } => self.crash_during(*after_ops, *seed, inner),
            Op::Timestamp { back_ms } => self.timestamp(self.now_ms - back_ms),
        }
    }

    fn append(
        &mut self,
        batches: &[(usize, usize)],
        jitter: i64,
        new_epoch: bool,
    ) -> Result<(), TestCaseError> {
        self.model.epoch += i32::from(new_epoch);
        let mut buf = build(batches, self.now_ms + jitter);
        let (epoch, now) = (LeaderEpoch(self.model.epoch), self.now_ms);
        if buf.len() > self.config.segment_bytes as usize {
            let err = self.log().append(&mut buf, epoch, now);
            prop_assert!(
                matches!(err, Err(LogError::RecordBatchTooLarge { .. })),
                "{:?}",
                err
            );
            return Ok(());
        }
        self.intent.appending = Some(buf.clone());
        let result = self.log().append(&mut buf, epoch, now);
        // Offsets and epoch are patched in before any I/O.
        self.intent.appending = Some(buf.clone());
        let Some(info) = self.ok(result)? else {
            return Ok(());
        };
        let records: usize = batches.iter().map(|b| b.0).sum();
        prop_assert_eq!(info.first_offset.0, self.model.end);
        prop_assert_eq!(info.last_offset.0, self.model.end + records as i64 - 1);
        self.model.push(&buf);
        Ok(())
    }

    fn follower(
        &mut self,
        batches: &[(usize, usize)],
        new_epoch: bool,
    ) -> Result<(), TestCaseError> {
        self.model.epoch += i32::from(new_epoch);
        let mut buf = Vec::new();
        let mut next = self.model.end;
        let batches = &batches[..1];
        for &(n, len) in batches {
            let mut b = batch(n, self.now_ms, len);
            set_base_offset(&mut b, Offset(next));
            set_partition_leader_epoch(&mut b, LeaderEpoch(self.model.epoch));
            next += n as i64;
            buf.extend_from_slice(&b);
        }
        let now = self.now_ms;
        self.log().append_as_follower(&buf, now).unwrap();
        self.model.push(&buf);
        Ok(())
    }

    /// Whole consecutive batches from the one holding `at`, within
    /// `max_bytes` (one at least), below `bound`, and as many as fit in
    /// the segment.
    fn read(&mut self, at: i64, max_bytes: usize, bound: i64) -> Result<(), TestCaseError> {
        let log = self.log.as_ref().expect("open");
        let got = log.read_upto(Offset(at), max_bytes, Offset(bound)).unwrap();
        let got = split(&got);
        let Some(first) = self.model.holding(at) else {
            prop_assert!(got.is_empty() && at == self.model.end);
            return Ok(());
        };
        let want = &self.model.batches[first..];
        prop_assert!(got.len() <= want.len());
        let mut total = 0;
        for ((_, bytes), w) in got.iter().zip(want) {
            prop_assert!(bytes == &w.bytes, "batch at {} differs", w.base);
            prop_assert!(w.last < bound);
            total += bytes.len();
        }
        prop_assert!(total <= max_bytes.max(want[0].bytes.len()));
        if let Some(next) = want.get(got.len()) {
            let segment_starts = log.segment_base_offsets().contains(&Offset(next.base));
            let too_big = total + next.bytes.len() > max_bytes && !got.is_empty();
            prop_assert!(
                next.last >= bound || segment_starts || too_big,
                "read stopped early before {}",
                next.base
            );
        }
        let beyond = log.read(Offset(self.model.end + 1), 1);
        prop_assert!(
            matches!(beyond, Err(LogError::OffsetOutOfRange { .. })),
            "{:?}",
            beyond
        );
        if self.model.start > 0 {
            let below = log.read(Offset(self.model.start - 1), 1);
            prop_assert!(
                matches!(below, Err(LogError::OffsetOutOfRange { .. })),
                "{:?}",
                below
            );
        }
        Ok(())
    }

    fn roll(&mut self) -> Result<(), TestCaseError> {
        let before = self.log().segment_base_offsets();
        let now = self.now_ms;
        let result = self.log().roll(now);
        if self.ok(result)?.is_none() {
            return Ok(());
        }
        let after = self.log().segment_base_offsets();
        let active_empty = before.last() == Some(&Offset(self.model.end));
        prop_assert_eq!(after.len(), before.len() + usize::from(!active_empty));
        Ok(())
    }

    fn truncate(&mut self, at: u16) -> Result<(), TestCaseError> {
        let target = i64::from(at) % (self.model.end + 1);
        let first_base = self.log().segment_base_offsets()[0].0;
        let kept_end = self
            .model
            .holding(target)
            .map_or(target, |i| self.model.batches[i].base);
        self.intent.must_keep = Some(self.model.flushed.min(kept_end));
        self.intent.restart_at = (target < first_base).then_some(target);
        let result = self.log().truncate_to(Offset(target));
        let Some(truncated) = self.ok(result)? else {
            return Ok(());
        };
        prop_assert_eq!(truncated, target < self.model.end);
        if target >= self.model.end {
            return Ok(());
        }
        if target < first_base {
            self.model.batches.clear();
            self.model.start = target;
            self.model.end = target;
            self.model.flushed = target;
        } else {
            self.model.cut(kept_end);
        }
        Ok(())
    }

    fn retention(&mut self, advance_ms: i64) -> Result<(), TestCaseError> {
        self.now_ms += advance_ms;
        let now = self.now_ms;
        let active_before = *self.log().segment_base_offsets().last().unwrap();
        let result = self.log().delete_retained_segments(now);
        if self.ok(result)?.is_none() {
            return Ok(());
        }
        let start = self.log().log_start_offset().0;
        prop_assert!(start >= self.model.start && self.model.is_boundary(start));
        prop_assert_eq!(
            *self.log().segment_base_offsets().last().unwrap(),
            active_before
        );
        self.model.batches.retain(|b| b.base >= start);
        self.model.start = start;
        // Nothing exists below the first segment, so it counts as flushed.
        self.model.flushed = self.model.flushed.max(start);
        Ok(())
    }

    fn tick(&mut self, ms: i64) -> Result<(), TestCaseError> {
        self.now_ms += ms;
        let unflushed = (self.model.end - self.model.flushed) as u64;
        let due_by_count = self
            .config
            .flush_messages
            .is_some_and(|n| unflushed >= n && unflushed > 0);
        let now = self.now_ms;
        let flushed = self.log().maybe_flush(now).unwrap();
        prop_assert!(flushed || !due_by_count);
        if flushed {
            self.model.flushed = self.model.end;
        }
        Ok(())
    }

    fn reopen(&mut self) -> Result<(), TestCaseError> {
        let rp = self.log.take().expect("open").close().unwrap();
        prop_assert_eq!(rp.0, self.model.end);
        self.model.flushed = self.model.end;
        self.log =
            Some(Log::open(self.b.fs(), &self.b.dir(), self.config, rp, self.now_ms).unwrap());
        Ok(())
    }

    /// Power loss: reopen from the last recovery point. The log must be a
    /// prefix of the model holding at least everything flushed (all of it
    /// on real files, where the OS keeps what was written).
    fn crash(&mut self, seed: u64) -> Result<(), TestCaseError> {
        let rp = self.log().recovery_point();
        prop_assert_eq!(rp.0, self.model.flushed);
        drop(self.log.take());
        self.b.crash(seed);
        let candidate = self.model.clone();
        let must_keep = if self.b.loses_unsynced() {
            candidate.flushed
        } else {
            candidate.end
        };
        self.adopt_reopened(rp, candidate, must_keep, None)
    }

    /// Power loss in the middle of `inner`. If the crash came before
    /// `inner` finished, the log must be a prefix of what `inner` could have
    /// left: the model before it (plus the batches, for an append), keeping
    /// at least what was flushed (less, for a truncation), or for a full
    /// truncation an empty log at the new start.
    fn crash_during(&mut self, after_ops: u64, seed: u64, inner: &Op) -> Result<(), TestCaseError> {
        let Backend::Mem(fs) = self.b else {
            return self.apply(inner);
        };
        let (rp, before) = (self.log().recovery_point(), self.model.clone());
        self.intent = Intent::default();
        fs.schedule_crash(after_ops, Some(seed));
        (self.crashing, self.crashed) = (true, false);
        let result = self.apply(inner);
        self.crashing = false;
        fs.schedule_crash(u64::MAX, None);
        result?;
        if !self.crashed {
            return Ok(());
        }
        drop(self.log.take());
        // Epochs only grow, whether or not the append survived.
        let mut candidate = Model {
            epoch: self.model.epoch,
            ..before
        };
        if let Some(buf) = self.intent.appending.take() {
            candidate.push(&buf);
        }
        let must_keep = self.intent.must_keep.unwrap_or(candidate.flushed);
        self.adopt_reopened(rp, candidate, must_keep, self.intent.restart_at)
    }

    /// Reopen after a crash and check the log against `candidate`.
    fn adopt_reopened(
        &mut self,
        rp: Offset,
        mut candidate: Model,
        must_keep: i64,
        restart_at: Option<i64>,
    ) -> Result<(), TestCaseError> {
        let log = Log::open(self.b.fs(), &self.b.dir(), self.config, rp, self.now_ms).unwrap();
        let (start, end) = (log.log_start_offset().0, log.log_end_offset().0);
        if restart_at.is_some_and(|t| t == start && t == end) {
            candidate = Model {
                start,
                end,
                flushed: start,
                epoch: candidate.epoch,
                ..Model::default()
            };
        } else {
            prop_assert!(
                end >= must_keep && end <= candidate.end,
                "end {} after crash, must keep {}",
                end,
                must_keep
            );
            prop_assert!(
                candidate.is_boundary(end),
                "end {} is not a batch boundary",
                end
            );
            prop_assert!(
                start >= candidate.start && start <= end,
                "start {} after crash",
                start
            );
            prop_assert!(
                candidate.is_boundary(start) || start == end,
                "start {} inside a batch",
                start
            );
            candidate.cut(end);
            candidate.batches.retain(|b| b.base >= start);
            candidate.start = start;
        }
        prop_assert_eq!(log.recovery_point(), rp.max(Offset(start)).min(Offset(end)));
        candidate.flushed = log.recovery_point().0;
        self.model = candidate;
        self.log = Some(log);
        Ok(())
    }

    fn timestamp(&mut self, ts: i64) -> Result<(), TestCaseError> {
        let want = self
            .model
            .batches
            .iter()
            .find(|b| b.max_ts >= ts)
            .map(|b| (Offset(b.base), b.max_ts));
        let got = self.log().offset_for_timestamp(ts).unwrap();
        prop_assert_eq!(got, want);
        Ok(())
    }

    /// After every step: the log and the model agree on everything.
    fn check(&mut self) -> Result<(), TestCaseError> {
        let model = &self.model;
        let log = self.log.as_ref().expect("open");
        prop_assert_eq!(log.log_end_offset().0, model.end);
        prop_assert_eq!(log.log_start_offset().0, model.start);
        prop_assert_eq!(log.recovery_point().0, model.flushed);
        let size: usize = model.batches.iter().map(|b| b.bytes.len()).sum();
        prop_assert_eq!(log.size_bytes(), size as u64);
        let bases = log.segment_base_offsets();
        prop_assert!(bases.windows(2).all(|w| w[0] < w[1]) && bases[0].0 <= model.start);
        prop_assert!(log.read(Offset(model.end), 100).unwrap().is_empty());
        let cache = log.leader_epoch_cache();
        for b in &model.batches {
            prop_assert!(
                log.read(Offset(b.base), 1).unwrap() == b.bytes,
                "batch at {} differs",
                b.base
            );
            prop_assert_eq!(
                cache.epoch_for_offset(Offset(b.base)),
                Some(LeaderEpoch(b.epoch))
            );
        }
        if let Some(last) = model.batches.last() {
            prop_assert_eq!(cache.latest_epoch(), Some(LeaderEpoch(last.epoch)));
        }
        Ok(())
    }
}

fn run_model(b: &Backend, config: LogConfig, ops: &[Op]) -> Result<(), TestCaseError> {
    let now_ms = 1_000_000;
    let log = Log::open(b.fs(), &b.dir(), config, Offset(0), now_ms).unwrap();
    let mut run = Run {
        b,
        config,
        log: Some(log),
        model: Model::default(),
        now_ms,
        crashing: false,
        crashed: false,
        intent: Intent::default(),
    };
    for op in ops {
        run.apply(op)?;
        run.check()?;
        run.now_ms += 10;
    }
    Ok(())
}

/// Cases per run: `PROPTEST_CASES=n`, or `default` (chosen so the suite
/// takes seconds in a debug build; real files pay for every fsync).
fn cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(64), ..ProptestConfig::default() })]

    #[test]
    fn model_on_real_files(config in config(), ops in prop::collection::vec(op(), 1..40)) {
        run_model(&Backend::real(), config, &ops)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(512), ..ProptestConfig::default() })]

    #[test]
    fn model_on_memfs(config in config(), ops in prop::collection::vec(op(), 1..40)) {
        run_model(&Backend::mem(), config, &ops)?;
    }
}
