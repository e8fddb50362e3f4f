//! Append and sequential-read throughput of `Log` on the real file system,
//! beside a raw sequential `write(2)` of the same bytes into the same
//! directory (the disk's limit as the page cache sees it).
//!
//! Workload (issue 2): 1 KiB records in ~16 KiB batches (16 records each),
//! uncompressed, 1 GiB segments (Kafka's default), default index interval.
//! Run: `cargo bench -p weir-storage --bench log_throughput`.

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use std::io::Write;
use weir_protocol::{LeaderEpoch, Offset};
use weir_storage::log::{Log, LogConfig};
use weir_storage::RealFs;

const RECORD_BYTES: usize = 1024;
const RECORDS_PER_BATCH: usize = 16;
/// Batches per measured iteration: 64 MiB of records.
const BATCHES: usize = 4096;

fn batch_bytes() -> Vec<u8> {
    let records: Vec<Record> = (0..RECORDS_PER_BATCH)
        .map(|i| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: -1,
            timestamp: 1_700_000_000_000 + i as i64,
            key: None,
            value: Some(Bytes::from(vec![b'x'; RECORD_BYTES])),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(&mut buf, &records, &options).expect("encode batch");
    buf.to_vec()
}

fn open_log(dir: &std::path::Path) -> Log {
    Log::open(
        RealFs::shared(),
        &dir.join("bench-0"),
        LogConfig::default(),
        Offset(0),
        0,
    )
    .expect("open log")
}

fn bench(c: &mut Criterion) {
    let batch = batch_bytes();
    let total = (batch.len() * BATCHES) as u64;
    let mut group = c.benchmark_group("log");
    group.throughput(Throughput::Bytes(total));
    group.sample_size(10);

    for flush in [false, true] {
        let suffix = if flush { "_then_fsync" } else { "" };
        group.bench_function(format!("append_16KiB_batches{suffix}"), |b| {
            b.iter_batched(
                || tempfile::tempdir().expect("tempdir"),
                |dir| {
                    let mut log = open_log(dir.path());
                    let mut scratch = batch.clone();
                    for _ in 0..BATCHES {
                        scratch.copy_from_slice(&batch);
                        log.append(&mut scratch, LeaderEpoch(0), 0).expect("append");
                    }
                    if flush {
                        log.flush().expect("flush");
                    }
                    // Dropped (and the directory removed) outside the timing.
                    (log, dir)
                },
                BatchSize::PerIteration,
            )
        });
        group.bench_function(format!("raw_write_same_bytes{suffix}"), |b| {
            b.iter_batched(
                || tempfile::tempdir().expect("tempdir"),
                |dir| {
                    let mut f = std::fs::File::create(dir.path().join("raw.log")).expect("create");
                    for _ in 0..BATCHES {
                        f.write_all(&batch).expect("write");
                    }
                    if flush {
                        f.sync_data().expect("fsync");
                    }
                    (f, dir)
                },
                BatchSize::PerIteration,
            )
        });
    }

    let dir = tempfile::tempdir().expect("tempdir");
    {
        let mut log = open_log(dir.path());
        let mut scratch = batch.clone();
        for _ in 0..BATCHES {
            scratch.copy_from_slice(&batch);
            log.append(&mut scratch, LeaderEpoch(0), 0).expect("append");
        }
        log.close().expect("close");
    }
    let log = open_log(dir.path());
    group.bench_function("sequential_read_1MiB_fetches", |b| {
        b.iter(|| {
            let mut offset = Offset(0);
            let mut bytes = 0usize;
            while offset < log.log_end_offset() {
                let chunk = log.read(offset, 1 << 20).expect("read");
                let last = weir_protocol::BatchIter::new(&chunk)
                    .last()
                    .expect("at least one batch");
                offset = last.header.next_offset();
                bytes += chunk.len();
            }
            assert_eq!(bytes as u64, total);
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
