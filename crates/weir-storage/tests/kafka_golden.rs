//! Byte compatibility with Apache Kafka 4.0.0, checked against the golden
//! log directory in `fixtures/kafka-4.0.0-logdir/golden-0` (written with
//! `segment.bytes=16384`, `index.interval.bytes=1024`), and record-level
//! compatibility with the independent `kafka-protocol` decoder.

mod common;

use common::{copy_dir, encode, golden_dir, records, split};
use kafka_protocol::records::Compression;
use std::path::Path;
use weir_protocol::records::decode_batch;
use weir_protocol::{LeaderEpoch, Offset};
use weir_storage::log::{Log, LogConfig};
use weir_storage::RealFs;

/// Kafka's settings for the golden topic.
fn golden_config() -> LogConfig {
    LogConfig {
        segment_bytes: 16384,
        index_interval_bytes: 1024,
        ..LogConfig::default()
    }
}

const GOLDEN_BASES: [i64; 5] = [0, 175, 667, 1200, 1252];
const GOLDEN_END: i64 = 1253;

fn segment_files(dir: &Path, base: i64) -> [(String, Vec<u8>); 3] {
    ["log", "index", "timeindex"].map(|suffix| {
        let name = format!("{base:020}.{suffix}");
        let bytes = std::fs::read(dir.join(&name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        (name, bytes)
    })
}

fn assert_same_segments(ours: &Path, kafkas: &Path) {
    for base in GOLDEN_BASES {
        for ((name, mine), (_, theirs)) in segment_files(ours, base)
            .into_iter()
            .zip(segment_files(kafkas, base))
        {
            assert!(
                mine == theirs,
                "{name} differs from Kafka's ({} vs {} bytes)",
                mine.len(),
                theirs.len()
            );
        }
    }
}

/// Every batch of the golden `.log` files, in offset order.
fn golden_batches() -> Vec<Vec<u8>> {
    GOLDEN_BASES
        .iter()
        .flat_map(|base| {
            let bytes =
                std::fs::read(golden_dir().join(format!("{base:020}.log"))).expect("golden log");
            split(&bytes).into_iter().map(|(_, b)| b)
        })
        .collect()
}

/// Replaying Kafka's batches as a follower with Kafka's settings produces
/// Kafka's files byte for byte: same rolls, same sparse index entries, same
/// final time-index entries, same leader-epoch checkpoint.
#[test]
fn follower_replay_of_golden_batches_is_byte_identical() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("golden-0");
    let mut log = Log::open(RealFs::shared(), &dir, golden_config(), Offset(0), 0).unwrap();
    for batch in golden_batches() {
        let (header, _) = split(&batch)[0];
        log.append_as_follower(&batch, header.max_timestamp)
            .unwrap();
    }
    assert_eq!(log.log_end_offset(), Offset(GOLDEN_END));
    let bases: Vec<i64> = log.segment_base_offsets().iter().map(|o| o.0).collect();
    assert_eq!(bases, GOLDEN_BASES);
    log.close().unwrap();
    assert_same_segments(&dir, &golden_dir());
    assert_eq!(
        std::fs::read(dir.join("leader-epoch-checkpoint")).unwrap(),
        std::fs::read(golden_dir().join("leader-epoch-checkpoint")).unwrap()
    );
}

/// Opening a copy of Kafka's directory finds every offset in the right
/// batch, and records decode to what the producer sent.
#[test]
fn opens_golden_dir_and_reads_every_offset() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("golden-0");
    std::fs::create_dir(&dir).unwrap();
    copy_dir(&golden_dir(), &dir);
    let log = Log::open(
        RealFs::shared(),
        &dir,
        golden_config(),
        Offset(GOLDEN_END),
        0,
    )
    .unwrap();
    assert_eq!(
        (log.log_start_offset(), log.log_end_offset()),
        (Offset(0), Offset(GOLDEN_END))
    );
    assert_eq!(
        log.leader_epoch_cache().latest_epoch(),
        Some(LeaderEpoch(0))
    );
    for offset in 0..GOLDEN_END {
        let data = log.read(Offset(offset), 1).unwrap();
        let batches = split(&data);
        assert_eq!(
            batches.len(),
            1,
            "offset {offset}: one batch when max_bytes is 1"
        );
        let (header, bytes) = &batches[0];
        assert!(
            header.base_offset <= offset && offset <= header.last_offset(),
            "offset {offset} not in {header:?}"
        );
        let (_, recs) = decode_batch(bytes).unwrap();
        let rec = recs
            .iter()
            .find(|r| r.offset == offset)
            .expect("record at offset");
        if !header.is_control() && offset < 1250 {
            let key = rec.key.as_ref().expect("key");
            assert!(
                std::str::from_utf8(key)
                    .unwrap()
                    .ends_with(&format!("k{}", key_index(offset))),
                "offset {offset}: key {key:?}"
            );
        }
    }
    assert!(log.read(Offset(GOLDEN_END), 1 << 20).unwrap().is_empty());
    assert!(log.read(Offset(GOLDEN_END + 1), 1).is_err());
}

/// The golden producer numbered keys per phase (see the fixture README):
/// 300 plain, 4 × 200 compressed, 100 idempotent, 50 transactional (then a
/// control batch), 2 special.
fn key_index(offset: i64) -> i64 {
    match offset {
        0..=299 => offset,
        300..=1099 => (offset - 300) % 200,
        1100..=1199 => offset - 1100,
        _ => offset - 1200,
    }
}

/// Recovering the whole golden directory (recovery point 0) rebuilds
/// exactly Kafka's indexes.
#[test]
fn full_recovery_of_golden_dir_rebuilds_kafkas_indexes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("golden-0");
    std::fs::create_dir(&dir).unwrap();
    copy_dir(&golden_dir(), &dir);
    for base in GOLDEN_BASES {
        std::fs::remove_file(dir.join(format!("{base:020}.index"))).unwrap();
        std::fs::write(dir.join(format!("{base:020}.timeindex")), b"garbage").unwrap();
    }
    let log = Log::open(RealFs::shared(), &dir, golden_config(), Offset(0), 0).unwrap();
    assert_eq!(log.log_end_offset(), Offset(GOLDEN_END));
    log.close().unwrap();
    assert_same_segments(&dir, &golden_dir());
}

/// Batches Weir writes decode record for record with `kafka-protocol`'s
/// decoder, for every codec.
#[test]
fn appended_batches_decode_with_kafka_protocol() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("codecs-0");
    let mut log = Log::open(RealFs::shared(), &dir, LogConfig::default(), Offset(0), 0).unwrap();
    let codecs = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];
    let mut sent = Vec::new();
    for (i, codec) in codecs.into_iter().enumerate() {
        let recs = records(20 + i, 1_700_000_000_000 + 100 * i as i64, 50 + i);
        let mut bytes = encode(&recs, codec);
        let info = log.append(&mut bytes, LeaderEpoch(3), 0).unwrap();
        assert_eq!(
            info.last_offset.0 - info.first_offset.0 + 1,
            recs.len() as i64
        );
        sent.push((info.first_offset, codec, recs));
    }
    log.close().unwrap();

    let log = Log::open(RealFs::shared(), &dir, LogConfig::default(), Offset(0), 0).unwrap();
    let data = log.read(Offset(0), usize::MAX).unwrap();
    let batches = split(&data);
    assert_eq!(batches.len(), sent.len());
    for ((header, bytes), (first, codec, recs)) in batches.iter().zip(&sent) {
        assert_eq!(header.base_offset, first.0);
        assert_eq!(header.partition_leader_epoch, 3);
        assert_eq!(
            header.compression().map(|c| c.name()),
            Some(codec_name(*codec))
        );
        let (_, decoded) = decode_batch(bytes).unwrap();
        assert_eq!(decoded.len(), recs.len());
        for (d, r) in decoded.iter().zip(recs) {
            assert_eq!(d.offset, first.0 + r.offset);
            assert_eq!(d.partition_leader_epoch, 3);
            assert_eq!(
                (&d.key, &d.value, &d.headers),
                (&r.key, &r.value, &r.headers)
            );
            assert_eq!(d.timestamp, r.timestamp);
        }
    }
}

fn codec_name(c: Compression) -> &'static str {
    match c {
        Compression::None => "none",
        Compression::Gzip => "gzip",
        Compression::Snappy => "snappy",
        Compression::Lz4 => "lz4",
        Compression::Zstd => "zstd",
    }
}
