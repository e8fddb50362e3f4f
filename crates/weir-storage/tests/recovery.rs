//! Opening damaged partition directories: a torn tail, flipped bytes,
//! truncated, missing or garbage indexes. After reopening, the log holds
//! exactly the valid prefix of what was written, and its files are
//! byte-identical to a fresh log holding just that prefix (so rebuilt
//! indexes equal the ones written by the original appends). Every scenario
//! runs on real files and on MemFs.

mod common;

use common::{batch, split, Backend};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::path::Path;
use weir_protocol::BatchHeader;
use weir_protocol::{LeaderEpoch, Offset};
use weir_storage::log::{Log, LogConfig, LogError};
use weir_storage::memfs::MemFs;
use weir_storage::Fs;

fn config() -> LogConfig {
    LogConfig {
        segment_bytes: 4096,
        index_interval_bytes: 256,
        ..LogConfig::default()
    }
}

/// What [`write_sample`] wrote.
struct Written {
    /// Every batch as stored (offsets and epochs patched in).
    batches: Vec<Vec<u8>>,
    /// Base offsets of the segments.
    bases: Vec<i64>,
    end: Offset,
}

/// Sixty batches of varied size, timestamps that go up and down, leader
/// epochs 1..=3, several segments; closed cleanly.
fn write_sample(b: &Backend) -> Written {
    let mut log = Log::open(b.fs(), &b.dir(), config(), Offset(0), 0).unwrap();
    let mut batches = Vec::new();
    for i in 0..60usize {
        let ts = 1_000 + 10 * i as i64 - if i % 7 == 3 { 500 } else { 0 };
        let mut bytes = batch(1 + i % 5, ts, 20 + (i * 37) % 200);
        let epoch = LeaderEpoch(1 + (i / 25) as i32);
        log.append(&mut bytes, epoch, 0).unwrap();
        batches.push(bytes);
    }
    let bases = log.segment_base_offsets().iter().map(|o| o.0).collect();
    let end = log.close().unwrap();
    Written {
        batches,
        bases,
        end,
    }
}

/// All files of a directory by name.
fn files(fs: &Fs, dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fs.list_dir(dir)
        .unwrap()
        .into_iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, fs.read(&p).unwrap())
        })
        .collect()
}

/// The files of a fresh log that received exactly `batches` as a follower.
fn reference_files(batches: &[Vec<u8>]) -> BTreeMap<String, Vec<u8>> {
    let fs: Fs = MemFs::new();
    let dir = Path::new("/ref/topic-0");
    let mut log = Log::open(fs.clone(), dir, config(), Offset(0), 0).unwrap();
    for b in batches {
        log.append_as_follower(b, 0).unwrap();
    }
    log.close().unwrap();
    files(&fs, dir)
}

/// Reopen, check the log is exactly `expected` (readable batch by batch),
/// close, and compare every file with the reference log's.
fn assert_recovers_to(b: &Backend, recovery_point: Offset, expected: &[Vec<u8>]) {
    let log = Log::open(b.fs(), &b.dir(), config(), recovery_point, 0).unwrap();
    let end: i64 = expected
        .last()
        .map_or(0, |last| split(last)[0].0.last_offset() + 1);
    assert_eq!(log.log_end_offset(), Offset(end));
    let mut offset = 0;
    for want in expected {
        let got = log.read(Offset(offset), 1).unwrap();
        assert!(&got == want, "batch at {offset} differs");
        offset = split(want)[0].0.last_offset() + 1;
    }
    log.close().unwrap();
    let (mut got, want) = (files(&b.fs(), &b.dir()), reference_files(expected));
    // Recovery keeps a segment whose first batch was bad as an empty
    // active segment (as Kafka does); a fresh log has no such file.
    let empty_tail = format!("{end:020}.");
    got.retain(|name, bytes| {
        want.contains_key(name) || !(name.starts_with(&empty_tail) && bytes.is_empty())
    });
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>()
    );
    for (name, bytes) in &want {
        assert!(&got[name] == bytes, "{name} differs from the reference");
    }
}

fn seg_path(b: &Backend, base: i64, suffix: &str) -> std::path::PathBuf {
    b.dir().join(format!("{base:020}.{suffix}"))
}

/// Replace a file's contents durably through the `FileSystem` trait.
fn rewrite(b: &Backend, path: &Path, f: impl FnOnce(&mut Vec<u8>)) {
    let fs = b.fs();
    let mut bytes = fs.read(path).unwrap();
    f(&mut bytes);
    let mut file = fs.open(path, false).unwrap();
    file.set_len(0).unwrap();
    file.append(&bytes).unwrap();
    file.sync().unwrap();
}

/// Batches whose base offset is below `offset`.
fn batches_below(w: &Written, offset: i64) -> Vec<Vec<u8>> {
    w.batches
        .iter()
        .filter(|b| split(b)[0].0.base_offset < offset)
        .cloned()
        .collect()
}

fn backends() -> [Backend; 2] {
    [Backend::real(), Backend::mem()]
}

#[test]
fn sample_spans_several_segments() {
    let b = Backend::mem();
    let w = write_sample(&b);
    assert!(w.bases.len() >= 4, "bases {:?}", w.bases);
    assert_recovers_to(&b, w.end, &w.batches);
    assert_recovers_to(&b, Offset(0), &w.batches);
}

#[test]
fn torn_last_batch_is_cut() {
    for b in backends() {
        let w = write_sample(&b);
        let last = *w.bases.last().unwrap();
        let path = seg_path(&b, last, "log");
        rewrite(&b, &path, |bytes| bytes.truncate(bytes.len() - 7));
        let kept = &w.batches[..w.batches.len() - 1];
        assert_recovers_to(&b, w.end, kept);
        let log = Log::open(b.fs(), &b.dir(), config(), Offset(0), 0).unwrap();
        assert_eq!(
            log.leader_epoch_cache().latest_epoch(),
            Some(LeaderEpoch(3))
        );
    }
}

#[test]
fn torn_batch_that_started_an_epoch_removes_the_epoch() {
    let b = Backend::mem();
    let mut log = Log::open(b.fs(), &b.dir(), config(), Offset(0), 0).unwrap();
    log.append(&mut batch(3, 10, 10), LeaderEpoch(1), 0)
        .unwrap();
    log.append(&mut batch(3, 20, 10), LeaderEpoch(2), 0)
        .unwrap();
    log.close().unwrap();
    rewrite(&b, &seg_path(&b, 0, "log"), |bytes| {
        bytes.truncate(bytes.len() - 1)
    });
    let log = Log::open(b.fs(), &b.dir(), config(), Offset(6), 0).unwrap();
    assert_eq!(log.log_end_offset(), Offset(3));
    assert_eq!(
        log.leader_epoch_cache().latest_epoch(),
        Some(LeaderEpoch(1))
    );
}

#[test]
fn flipped_byte_mid_segment_cuts_there_and_drops_later_segments() {
    for b in backends() {
        let w = write_sample(&b);
        let base = w.bases[1];
        let path = seg_path(&b, base, "log");
        let in_segment = split(&b.read(&path));
        let (pos, victim) = in_segment
            .iter()
            .scan(0usize, |pos, (h, bytes)| {
                let at = *pos;
                *pos += bytes.len();
                Some((at, *h))
            })
            .nth(in_segment.len() / 2)
            .unwrap();
        rewrite(&b, &path, |bytes| bytes[pos + 70] ^= 0x10);
        assert_recovers_to(&b, Offset(0), &batches_below(&w, victim.base_offset));
        assert!(!b.fs().exists(&seg_path(&b, w.bases[2], "log")));
    }
}

#[test]
fn garbage_length_field_is_cut() {
    for b in backends() {
        let w = write_sample(&b);
        let base = w.bases[2];
        rewrite(&b, &seg_path(&b, base, "log"), |bytes| {
            bytes[8..12].copy_from_slice(&0x7fff_fff0i32.to_be_bytes())
        });
        assert_recovers_to(&b, Offset(0), &batches_below(&w, base));
    }
}

#[test]
fn truncated_index_with_partial_entry_is_rebuilt() {
    for b in backends() {
        let w = write_sample(&b);
        for suffix in ["index", "timeindex"] {
            rewrite(&b, &seg_path(&b, w.bases[1], suffix), |bytes| {
                let keep = bytes.len().saturating_sub(3);
                bytes.truncate(keep.max(1));
            });
        }
        assert_recovers_to(&b, w.end, &w.batches);
    }
}

#[test]
fn index_cut_to_whole_entries_still_reads_everything() {
    let b = Backend::mem();
    let w = write_sample(&b);
    let path = seg_path(&b, w.bases[1], "index");
    assert!(
        b.read(&path).len() >= 16,
        "want a segment with 2+ index entries"
    );
    rewrite(&b, &path, |bytes| bytes.truncate(8));
    let log = Log::open(b.fs(), &b.dir(), config(), w.end, 0).unwrap();
    let mut offset = 0;
    for want in &w.batches {
        assert!(&log.read(Offset(offset), 1).unwrap() == want);
        offset = split(want)[0].0.last_offset() + 1;
    }
}

#[test]
fn missing_indexes_are_rebuilt() {
    for b in backends() {
        let w = write_sample(&b);
        b.fs()
            .remove_file(&seg_path(&b, w.bases[0], "index"))
            .unwrap();
        b.fs()
            .remove_file(&seg_path(&b, w.bases[2], "timeindex"))
            .unwrap();
        b.fs().sync_dir(&b.dir()).unwrap();
        assert_recovers_to(&b, w.end, &w.batches);
    }
}

#[test]
fn garbage_indexes_are_rebuilt() {
    for b in backends() {
        let w = write_sample(&b);
        let mut x: u32 = 0x1234_5678;
        let mut noise = |n: usize| {
            (0..n)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    x as u8
                })
                .collect::<Vec<u8>>()
        };
        for (i, base) in w.bases.iter().enumerate() {
            let index = noise(8 * (1 + i));
            let time = noise(12 * (1 + i));
            rewrite(&b, &seg_path(&b, *base, "index"), |bytes| *bytes = index);
            rewrite(&b, &seg_path(&b, *base, "timeindex"), |bytes| *bytes = time);
        }
        assert_recovers_to(&b, w.end, &w.batches);
    }
}

#[test]
fn stray_and_gapped_files_are_cleaned_up() {
    let b = Backend::mem();
    let w = write_sample(&b);
    let fs = b.fs();
    // An index whose .log is gone, and a segment far past the end.
    let orphan = seg_path(&b, 999_999, "index");
    fs.open(&orphan, true).unwrap();
    let gap = seg_path(&b, w.end.0 + 50, "log");
    fs.open(&gap, true).unwrap().append(&w.batches[0]).unwrap();
    fs.sync_dir(&b.dir()).unwrap();
    assert_recovers_to(&b, w.end, &w.batches);
    assert!(!fs.exists(&orphan) && !fs.exists(&gap));
}

/// Segment-like names whose offsets would overflow are not segments.
#[test]
fn absurd_base_offsets_are_ignored() {
    let b = Backend::mem();
    let w = write_sample(&b);
    let fs = b.fs();
    for suffix in ["log", "index", "timeindex"] {
        let path = b.dir().join(format!("09223372036854775807.{suffix}"));
        fs.open(&path, true).unwrap().append(&[0xff; 24]).unwrap();
    }
    let log = Log::open(fs, &b.dir(), config(), w.end, 0).unwrap();
    assert_eq!(log.log_end_offset(), w.end);
}

#[test]
fn malformed_epoch_checkpoint_is_rebuilt_from_the_log() {
    let b = Backend::mem();
    let w = write_sample(&b);
    let path = b.dir().join("leader-epoch-checkpoint");
    let good = b.read(&path);
    rewrite(&b, &path, |bytes| *bytes = b"0\n7\nnonsense".to_vec());
    let log = Log::open(b.fs(), &b.dir(), config(), w.end, 0).unwrap();
    assert_eq!(
        log.leader_epoch_cache().latest_epoch(),
        Some(LeaderEpoch(3))
    );
    log.close().unwrap();
    assert_eq!(b.read(&path), good);
}

/// 64 cases by default; `PROPTEST_CASES=n` runs more.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    /// Any damage to any file, at any recovery point: no panic, and with
    /// recovery from 0 the log is a prefix of what was written.
    #[test]
    fn arbitrary_damage_never_panics(
        file_pick in 0usize..64,
        suffix in prop::sample::select(vec!["log", "index", "timeindex"]),
        edits in prop::collection::vec((0usize..1 << 16, any::<u8>(), any::<bool>()), 1..4),
        full_recovery in any::<bool>(),
    ) {
        let b = Backend::mem();
        let w = write_sample(&b);
        let base = w.bases[file_pick % w.bases.len()];
        rewrite(&b, &seg_path(&b, base, suffix), |bytes| {
            for (pos, xor, cut) in &edits {
                if bytes.is_empty() { break; }
                let at = pos % bytes.len();
                if *cut { bytes.truncate(at); } else { bytes[at] ^= xor.max(&1); }
            }
        });
        let rp = if full_recovery { Offset(0) } else { w.end };
        let log = Log::open(b.fs(), &b.dir(), config(), rp, 0).unwrap();
        let mut offset = log.log_start_offset().0;
        let mut stored = w.batches.iter();
        while offset < log.log_end_offset().0 {
            let got = match log.read(Offset(offset), 1) {
                Ok(got) => got,
                // Below the recovery point nothing was validated: damage
                // found while reading is a typed error, never a panic.
                Err(e) if !full_recovery => {
                    prop_assert!(matches!(e, LogError::CorruptSegment { .. }), "{}", e);
                    break;
                }
                Err(e) => return Err(TestCaseError::fail(e.to_string())),
            };
            let header = BatchHeader::parse(&got).unwrap();
            if full_recovery {
                // The base offset and leader epoch lie outside the CRC (as in
                // Kafka), so a flip there is only caught by offset checks.
                let want = stored.next().expect("no more batches than written");
                prop_assert!(got[8..12] == want[8..12] && got[16..] == want[16..], "batch at {} differs", offset);
                let moved = header.base_offset != split(want)[0].0.base_offset;
                prop_assert!(!moved || header.next_offset() == log.log_end_offset(), "shifted batch not last");
            }
            offset = header.last_offset() + 1;
        }
    }
}
