//! `LogManager` checkpoints and lifecycle: the three offset checkpoints
//! round-trip through a reopen, a crash (MemFs power loss) reopens to the
//! flushed data, clean shutdown keeps everything, delete is crash-safe,
//! flush and retention follow the topic configs.

use bytes::BytesMut;
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use std::collections::BTreeMap;
use std::path::Path;
use weir_broker::config::BrokerConfig;
use weir_broker::log_manager::{LogManager, LogManagerError, SharedLog};
use weir_protocol::{LeaderEpoch, Offset, TopicPartition};
use weir_storage::log::LogConfig;
use weir_storage::memfs::MemFs;
use weir_storage::{FileSystem, Fs, RealFs};

fn config(log_dir: &Path) -> BrokerConfig {
    let text = format!("node.id=1\nlog.dirs={}\n", log_dir.display());
    BrokerConfig::parse(&text, &[]).unwrap().0
}

fn tp(topic: &str, partition: i32) -> TopicPartition {
    TopicPartition::new(topic, partition)
}

/// One uncompressed v2 batch of `count` small records stamped `timestamp`.
fn batch(count: usize, timestamp: i64) -> Vec<u8> {
    let records: Vec<Record> = (0..count)
        .map(|i| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: i as i32,
            timestamp,
            key: None,
            value: Some(bytes::Bytes::from(format!("value-{i}"))),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(&mut buf, &records, &options).unwrap();
    buf.to_vec()
}

fn append(log: &SharedLog, count: usize, timestamp: i64) {
    let mut bytes = batch(count, timestamp);
    log.lock()
        .unwrap()
        .append(&mut bytes, LeaderEpoch(0), timestamp)
        .unwrap();
}

fn leo(manager: &LogManager, tp: &TopicPartition) -> i64 {
    manager.get(tp).unwrap().lock().unwrap().log_end_offset().0
}

fn text(fs: &dyn FileSystem, path: &Path) -> String {
    String::from_utf8(fs.read(path).unwrap()).unwrap()
}

fn hwms(entries: &[(&TopicPartition, i64)]) -> BTreeMap<TopicPartition, i64> {
    entries
        .iter()
        .map(|(tp, hw)| ((*tp).clone(), *hw))
        .collect()
}

#[test]
fn checkpoints_round_trip_through_a_reopen() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (t0, t1, gone) = (tp("t", 0), tp("t", 1), tp("gone", 0));
    let manager = LogManager::open(RealFs::shared(), &config(dir), 0).unwrap();
    let log0 = manager
        .get_or_create(t0.clone(), LogConfig::default(), 0)
        .unwrap();
    let log1 = manager
        .get_or_create(t1.clone(), LogConfig::default(), 0)
        .unwrap();
    append(&log0, 5, 1000);
    append(&log1, 3, 1000);
    log0.lock().unwrap().flush().unwrap();
    manager
        .checkpoint(&hwms(&[(&t0, 5), (&t1, 2), (&gone, 9)]))
        .unwrap();

    let read = |name: &str| text(&RealFs, &dir.join(name));
    assert_eq!(
        read("recovery-point-offset-checkpoint"),
        "0\n2\nt 0 5\nt 1 0\n"
    );
    assert_eq!(
        read("replication-offset-checkpoint"),
        "0\n2\nt 0 5\nt 1 2\n"
    );
    assert_eq!(read("log-start-offset-checkpoint"), "0\n0\n");
    drop((log0, log1, manager));

    let reopened = LogManager::open(RealFs::shared(), &config(dir), 0).unwrap();
    assert_eq!(reopened.partitions(), vec![t0.clone(), t1.clone()]);
    assert_eq!(
        reopened.high_watermark_checkpoint(),
        hwms(&[(&t0, 5), (&t1, 2)])
    );
    assert_eq!((leo(&reopened, &t0), leo(&reopened, &t1)), (5, 3));
    let recovery_point = |tp| reopened.get(tp).unwrap().lock().unwrap().recovery_point();
    assert_eq!(recovery_point(&t0), Offset(5));
}

#[test]
fn log_start_offsets_survive_a_reopen() {
    let fs: Fs = MemFs::new();
    let dir = Path::new("/d");
    let t0 = tp("t", 0);
    let manager = LogManager::open(fs.clone(), &config(dir), 0).unwrap();
    let log = manager
        .get_or_create(t0.clone(), LogConfig::default(), 0)
        .unwrap();
    append(&log, 5, 1000);
    log.lock()
        .unwrap()
        .increment_log_start_offset(Offset(2))
        .unwrap();
    manager.shutdown(&hwms(&[(&t0, 5)])).unwrap();
    assert_eq!(
        text(&*fs, &dir.join("log-start-offset-checkpoint")),
        "0\n1\nt 0 2\n"
    );
    drop((log, manager));
    let reopened = LogManager::open(fs, &config(dir), 0).unwrap();
    let log = reopened.get(&t0).unwrap();
    assert_eq!(log.lock().unwrap().log_start_offset(), Offset(2));
}

#[test]
fn a_crash_reopens_to_the_flushed_data_and_the_checkpointed_marks() {
    let fs = MemFs::new();
    let dir = Path::new("/d");
    let t0 = tp("t", 0);
    let manager = LogManager::open(fs.clone(), &config(dir), 0).unwrap();
    let log = manager
        .get_or_create(t0.clone(), LogConfig::default(), 0)
        .unwrap();
    append(&log, 5, 1000);
    log.lock().unwrap().flush().unwrap();
    manager.checkpoint(&hwms(&[(&t0, 5)])).unwrap();
    append(&log, 3, 2000); // never flushed: lost in the crash
    fs.crash(None);
    drop((log, manager));

    let reopened = LogManager::open(fs.clone(), &config(dir), 0).unwrap();
    assert_eq!(leo(&reopened, &t0), 5);
    assert_eq!(reopened.high_watermark_checkpoint(), hwms(&[(&t0, 5)]));
    let log = reopened.get(&t0).unwrap();
    let log = log.lock().unwrap();
    assert_eq!(log.recovery_point(), Offset(5));
    assert!(!log.read(Offset(0), 1 << 20).unwrap().is_empty());
}

#[test]
fn a_crash_before_any_checkpoint_recovers_everything_durable() {
    let fs = MemFs::new();
    let dir = Path::new("/d");
    let t0 = tp("t", 0);
    let manager = LogManager::open(fs.clone(), &config(dir), 0).unwrap();
    let log = manager
        .get_or_create(t0.clone(), LogConfig::default(), 0)
        .unwrap();
    append(&log, 4, 1000);
    log.lock().unwrap().flush().unwrap();
    fs.crash(Some(7));
    drop((log, manager));

    let reopened = LogManager::open(fs.clone(), &config(dir), 0).unwrap();
    assert_eq!(leo(&reopened, &t0), 4);
    assert_eq!(reopened.high_watermark_checkpoint(), BTreeMap::new());
}

#[test]
fn a_torn_tail_is_cut_and_the_checkpoint_rewritten_at_open() {
    let fs = MemFs::new();
    let dir = Path::new("/d");
    let t0 = tp("t", 0);
    let manager = LogManager::open(fs.clone(), &config(dir), 0).unwrap();
    let log = manager
        .get_or_create(t0.clone(), LogConfig::default(), 0)
        .unwrap();
    append(&log, 4, 1000);
    manager.shutdown(&hwms(&[(&t0, 4)])).unwrap();
    drop((log, manager));
    // Lose the end of the segment (a bad sector): recovery point 4 is now
    // past the end, and the high watermark must not be trusted past it.
    let segment = dir.join("t-0/00000000000000000000.log");
    let len = fs.file_len(&segment).unwrap();
    fs.truncate_file(&segment, len - 3).unwrap();

    let reopened = LogManager::open(fs.clone(), &config(dir), 0).unwrap();
    assert_eq!(leo(&reopened, &t0), 0);
    assert_eq!(reopened.high_watermark_checkpoint(), hwms(&[(&t0, 0)]));
    assert_eq!(
        text(&*fs, &dir.join("recovery-point-offset-checkpoint")),
        "0\n1\nt 0 0\n"
    );
}

#[test]
fn a_log_that_ends_below_its_checkpointed_start_restarts_there() {
    let fs: Fs = MemFs::new();
    let dir = Path::new("/d");
    let t0 = tp("t", 0);
    let manager = LogManager::open(fs.clone(), &config(dir), 0).unwrap();
    let log = manager
        .get_or_create(t0.clone(), LogConfig::default(), 0)
        .unwrap();
    append(&log, 5, 1000);
    manager.shutdown(&BTreeMap::new()).unwrap();
    drop((log, manager));
    let path = dir.join("log-start-offset-checkpoint");
    fs.write_atomic(&path, b"0\n1\nt 0 10\n").unwrap();

    let reopened = LogManager::open(fs, &config(dir), 0).unwrap();
    let log = reopened.get(&t0).unwrap();
    let log = log.lock().unwrap();
    assert_eq!(
        (log.log_start_offset(), log.log_end_offset()),
        (Offset(10), Offset(10))
    );
}

#[test]
fn shutdown_flushes_closes_and_checkpoints() {
    let fs = MemFs::new();
    let dir = Path::new("/d");
    let (t0, t1) = (tp("t", 0), tp("t", 1));
    let manager = LogManager::open(fs.clone(), &config(dir), 0).unwrap();
    let log0 = manager
        .get_or_create(t0.clone(), LogConfig::default(), 0)
        .unwrap();
    append(&log0, 6, 1000);
    drop(log0);
    // Still held by a handler at shutdown: flushed in place.
    let log1 = manager
        .get_or_create(t1.clone(), LogConfig::default(), 0)
        .unwrap();
    append(&log1, 2, 1000);
    manager.shutdown(&hwms(&[(&t0, 6), (&t1, 2)])).unwrap();
    assert_eq!(
        text(&*fs, &dir.join("recovery-point-offset-checkpoint")),
        "0\n2\nt 0 6\nt 1 2\n"
    );
    assert!(manager.partitions().is_empty());
    let err = manager
        .get_or_create(tp("t", 2), LogConfig::default(), 0)
        .unwrap_err();
    assert!(matches!(err, LogManagerError::ShutDown), "{err}");
    fs.crash(None);
    drop((log1, manager));

    let reopened = LogManager::open(fs, &config(dir), 0).unwrap();
    assert_eq!((leo(&reopened, &t0), leo(&reopened, &t1)), (6, 2));
    assert_eq!(
        reopened.high_watermark_checkpoint(),
        hwms(&[(&t0, 6), (&t1, 2)])
    );
}

#[test]
fn delete_removes_the_partition_for_good() {
    let fs = MemFs::new();
    let dir = Path::new("/d");
    let t0 = tp("t", 0);
    let manager = LogManager::open(fs.clone(), &config(dir), 0).unwrap();
    let log = manager
        .get_or_create(t0.clone(), LogConfig::default(), 0)
        .unwrap();
    append(&log, 3, 1000);
    drop(log);
    manager.checkpoint(&hwms(&[(&t0, 3)])).unwrap();
    assert!(manager.delete(&t0).unwrap());
    assert!(!manager.delete(&t0).unwrap());
    assert!(manager.get(&t0).is_none());
    assert_eq!(manager.high_watermark_checkpoint(), BTreeMap::new());
    assert_eq!(
        fs.list_dir(dir)
            .unwrap()
            .iter()
            .filter(|p| fs.is_dir(p))
            .count(),
        0
    );
    fs.crash(None);
    drop(manager);
    let reopened = LogManager::open(fs.clone(), &config(dir), 0).unwrap();
    assert!(reopened.partitions().is_empty());
    // Recreating starts a fresh, empty log.
    let log = reopened
        .get_or_create(t0.clone(), LogConfig::default(), 0)
        .unwrap();
    assert_eq!(log.lock().unwrap().log_end_offset(), Offset(0));
}

/// A crash at any step of a delete leaves either the whole partition or
/// none of it.
#[test]
fn a_crash_at_every_step_of_a_delete_is_all_or_nothing() {
    let t0 = tp("t", 0);
    let dir = Path::new("/d");
    for after_ops in 0..20 {
        let fs = MemFs::new();
        let manager = LogManager::open(fs.clone(), &config(dir), 0).unwrap();
        let log = manager
            .get_or_create(t0.clone(), LogConfig::default(), 0)
            .unwrap();
        append(&log, 3, 1000);
        drop(log);
        manager.shutdown(&BTreeMap::new()).unwrap();
        drop(manager);
        let manager = LogManager::open(fs.clone(), &config(dir), 0).unwrap();
        fs.schedule_crash(after_ops, None);
        let deleted = manager.delete(&t0);
        fs.schedule_crash(u64::MAX, None);
        fs.crash(None);
        drop(manager);
        let reopened = LogManager::open(fs.clone(), &config(dir), 0).unwrap();
        if reopened.get(&t0).is_some() {
            assert_eq!(leo(&reopened, &t0), 3, "after {after_ops} ops");
        }
        if deleted.is_ok() {
            assert!(reopened.get(&t0).is_none(), "after {after_ops} ops");
            break;
        }
    }
}

#[test]
fn flush_due_follows_flush_messages() {
    let fs: Fs = MemFs::new();
    let manager = LogManager::open(fs, &config(Path::new("/d")), 0).unwrap();
    let eager = LogConfig {
        flush_messages: Some(2),
        ..LogConfig::default()
    };
    let flushing = manager.get_or_create(tp("eager", 0), eager, 0).unwrap();
    let lazy = manager
        .get_or_create(tp("lazy", 0), LogConfig::default(), 0)
        .unwrap();
    append(&flushing, 3, 1000);
    append(&lazy, 3, 1000);
    assert_eq!(manager.flush_due(1000).unwrap(), 1);
    assert_eq!(flushing.lock().unwrap().recovery_point(), Offset(3));
    assert_eq!(lazy.lock().unwrap().recovery_point(), Offset(0));
    assert_eq!(manager.flush_due(1001).unwrap(), 0);
}

#[test]
fn retention_deletes_expired_segments() {
    let fs: Fs = MemFs::new();
    let manager = LogManager::open(fs, &config(Path::new("/d")), 0).unwrap();
    let short = LogConfig {
        retention_ms: 1000,
        ..LogConfig::default()
    };
    let t0 = tp("t", 0);
    let log = manager.get_or_create(t0.clone(), short, 0).unwrap();
    append(&log, 2, 1000);
    log.lock().unwrap().roll(1000).unwrap();
    append(&log, 2, 50_000);
    assert_eq!(manager.retention(10_000).unwrap(), 1);
    assert_eq!(log.lock().unwrap().log_start_offset(), Offset(2));
    assert_eq!(manager.retention(10_000).unwrap(), 0);
}

#[test]
fn failures_of_some_logs_are_reported_after_the_rest_are_done() {
    let fs = MemFs::new();
    let manager = LogManager::open(fs.clone(), &config(Path::new("/d")), 0).unwrap();
    let every = LogConfig {
        flush_messages: Some(1),
        ..LogConfig::default()
    };
    let a = manager.get_or_create(tp("a", 0), every, 0).unwrap();
    let b = manager.get_or_create(tp("b", 0), every, 0).unwrap();
    append(&a, 1, 1000);
    append(&b, 1, 1000);
    fs.fail_next_syncs(1);
    let err = manager.flush_due(1000).unwrap_err();
    match &err {
        LogManagerError::PartitionsFailed {
            operation,
            failures,
        } => {
            assert_eq!(*operation, "flush");
            assert_eq!(failures.len(), 1);
            assert_eq!(failures[0].0, tp("a", 0));
        }
        other => panic!("{other}"),
    }
    assert!(err
        .to_string()
        .starts_with("flush failed for 1 partition(s); first: a-0: "));
    assert_eq!(b.lock().unwrap().recovery_point(), Offset(1));
}
