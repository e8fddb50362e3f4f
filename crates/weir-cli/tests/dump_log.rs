//! `weir dump-log` against Apache Kafka 4.0.0's own `kafka-dump-log.sh`
//! output (`fixtures/kafka-4.0.0-logdir/dumps/`), and on damaged files.
//!
//! The binary runs inside `golden-0` with bare file names, as Kafka's tool
//! was run, so even the `Dumping <path>` lines compare exactly.

mod common;

use common::{golden, golden_files, kafka_dump, kafka_logdir, scratch, weir};
use std::path::Path;

// ---- Kafka's output, line for line ----------------------------------------

#[test]
fn every_golden_log_matches_kafka_with_print_data_log() {
    for name in golden_files("log") {
        let run = weir(
            &golden(),
            &["dump-log", "--files", &name, "--print-data-log"],
        );
        run.assert_clean();
        assert_same_lines(&run.stdout, &kafka_dump(&name, false), &name);
    }
}

#[test]
fn every_golden_log_matches_kafka_with_deep_iteration_and_print_data_log() {
    for name in golden_files("log") {
        let args = [
            "dump-log",
            "--deep-iteration",
            "--print-data-log",
            "--files",
            &name,
        ];
        let run = weir(&golden(), &args);
        run.assert_clean();
        assert_same_lines(&run.stdout, &kafka_dump(&name, true), &name);
    }
}

#[test]
fn every_golden_index_and_timeindex_matches_kafka() {
    let mut names = golden_files("index");
    names.extend(golden_files("timeindex"));
    for name in names {
        for flags in [&[][..], &["--print-data-log"], &["--deep-iteration"]] {
            let mut args = vec!["dump-log", "--files", &name];
            args.extend_from_slice(flags);
            let run = weir(&golden(), &args);
            run.assert_clean();
            assert_same_lines(&run.stdout, &kafka_dump(&name, false), &name);
        }
    }
}

#[test]
fn the_path_is_printed_as_given() {
    let dir = golden();
    let empty_index = dir.join("00000000000000001252.index");
    let log = dir.join("00000000000000001252.log");
    let files = format!("{},{}", empty_index.display(), log.display());
    let run = weir(
        Path::new("/"),
        &["dump-log", "--print-data-log", "--files", &files],
    );
    run.assert_clean();
    let expected = format!(
        "Dumping {idx}\n{idx} is empty.\nDumping {log}\n{rest}",
        idx = empty_index.display(),
        log = log.display(),
        rest = without_first_line(&kafka_dump("00000000000000001252.log", false)),
    );
    assert_same_lines(&run.stdout, &expected, "absolute paths");
}

// ---- Flag combinations ------------------------------------------------------

/// Kafka without flags: batch lines only.
#[test]
fn without_flags_only_batches_are_listed() {
    for name in golden_files("log") {
        let run = weir(&golden(), &["dump-log", "--files", &name]);
        run.assert_clean();
        let expected: String = kafka_dump(&name, false)
            .lines()
            .filter(|l| !l.starts_with("| "))
            .map(|l| format!("{l}\n"))
            .collect();
        assert!(expected.contains("baseOffset: "));
        assert_same_lines(&run.stdout, &expected, &name);
    }
}

/// Kafka with `--deep-iteration` alone: record lines without key and
/// payload (control records still say what they mark).
#[test]
fn deep_iteration_alone_lists_records_without_data() {
    for name in golden_files("log") {
        let run = weir(
            &golden(),
            &["dump-log", "--deep-iteration", "--files", &name],
        );
        run.assert_clean();
        let expected: String = kafka_dump(&name, true)
            .lines()
            .map(|l| format!("{}\n", without_data(l)))
            .collect();
        assert_same_lines(&run.stdout, &expected, &name);
        assert!(!run.stdout.contains(" payload: "));
    }
    let control = weir(
        &golden(),
        &[
            "dump-log",
            "--deep-iteration",
            "--files",
            "00000000000000001252.log",
        ],
    );
    assert!(control
        .stdout
        .contains("headerKeys: [] endTxnMarker: COMMIT coordinatorEpoch: 0\n"));
}

#[test]
fn comma_separated_files_are_dumped_in_order() {
    let names = [
        "00000000000000000667.log",
        "00000000000000000667.index",
        "00000000000000000667.timeindex",
        "00000000000000001252.index",
        "00000000000000000000.log",
    ];
    let run = weir(
        &golden(),
        &["dump-log", "--print-data-log", "--files", &names.join(",")],
    );
    run.assert_clean();
    let expected: String = names.iter().map(|n| kafka_dump(n, false)).collect();
    assert_same_lines(&run.stdout, &expected, "several files");
}

// ---- Files that cannot be dumped -------------------------------------------

#[test]
fn a_missing_file_is_a_one_line_error() {
    let run = weir(
        &golden(),
        &["dump-log", "--files", "00000000000000009999.log"],
    );
    assert_eq!(run.code, Some(1));
    assert_eq!(run.stdout, "");
    assert_one_line_error(
        &run.stderr,
        "00000000000000009999.log: No such file or directory",
    );
}

#[test]
fn a_missing_file_among_good_ones_stops_before_any_output() {
    let files = "00000000000000000000.log,missing.index,00000000000000000000.index";
    let run = weir(&golden(), &["dump-log", "--files", files]);
    assert_eq!(run.code, Some(1));
    assert_eq!(
        run.stdout, "",
        "nothing dumped when the list has a bad entry"
    );
    assert_one_line_error(&run.stderr, "missing.index");
}

#[test]
fn a_file_of_another_kind_is_a_one_line_error() {
    for name in ["partition.metadata", "00000000000000001252.snapshot"] {
        let run = weir(&golden(), &["dump-log", "--files", name]);
        assert_eq!(run.code, Some(1), "{name}");
        assert_eq!(run.stdout, "");
        assert_one_line_error(&run.stderr, "not a file dump-log reads");
        assert!(run.stderr.contains(name));
    }
    let dir = weir(&kafka_logdir(), &["dump-log", "--files", "golden-0"]);
    assert_eq!(dir.code, Some(1));
    assert_one_line_error(&dir.stderr, "golden-0: not a regular file");
}

#[test]
fn a_segment_not_named_after_its_base_offset_is_an_error() {
    let dir = scratch("misnamed");
    copy(
        &golden().join("00000000000000001252.log"),
        &dir.join("backup.log"),
    );
    let run = weir(&dir, &["dump-log", "--files", "backup.log"]);
    assert_eq!(run.code, Some(1));
    assert_one_line_error(&run.stderr, "named after its base offset");
}

#[test]
fn files_is_required() {
    let run = weir(&golden(), &["dump-log"]);
    assert_eq!(run.code, Some(2), "clap's usage error");
    assert!(run.stderr.contains("--files"));
}

// ---- Damaged segments -------------------------------------------------------

/// A torn tail: Kafka lists the whole batches, then `Found N invalid bytes
/// at the end of <name>`, and exits normally. Cuts land inside headers,
/// inside records, and exactly on batch boundaries.
#[test]
fn a_truncated_segment_lists_whole_batches_then_the_invalid_bytes() {
    let dir = scratch("torn");
    for name in golden_files("log") {
        let bytes = std::fs::read(golden().join(&name)).unwrap();
        let kafka = kafka_dump(&name, false);
        for cut in cut_points(&kafka, bytes.len()) {
            std::fs::write(dir.join(&name), &bytes[..cut]).unwrap();
            let run = weir(&dir, &["dump-log", "--print-data-log", "--files", &name]);
            run.assert_no_crash();
            assert_eq!(run.code, Some(0), "{name} cut at {cut}");
            let expected = kafka_dump_cut_at(&kafka, &name, cut);
            assert_same_lines(&run.stdout, &expected, &format!("{name} cut at {cut}"));
        }
    }
}

/// A flipped bit in a record's value: the CRC no longer matches, so Kafka
/// prints `isvalid: false` and the record as it now reads.
#[test]
fn a_flipped_byte_in_an_uncompressed_batch_prints_isvalid_false() {
    let name = "00000000000000000000.log";
    let mut bytes = std::fs::read(golden().join(name)).unwrap();
    let at = find(&bytes, b"plain-value-90-");
    bytes[at] ^= 0x20; // 'p' -> 'P'
    let dir = scratch("flip-plain");
    std::fs::write(dir.join(name), &bytes).unwrap();
    let run = weir(&dir, &["dump-log", "--print-data-log", "--files", name]);
    run.assert_clean();
    let expected = kafka_dump(name, false)
        .replace(
            "position: 5870 CreateTime: 1700000000174 size: 5904 magic: 2 compresscodec: none crc: 1923982569 isvalid: true",
            "position: 5870 CreateTime: 1700000000174 size: 5904 magic: 2 compresscodec: none crc: 1923982569 isvalid: false",
        )
        .replace("payload: plain-value-90-", "payload: Plain-value-90-");
    assert_same_lines(&run.stdout, &expected, "flipped value byte");
    assert!(run.stdout.contains("isvalid: false"));
}

/// A flipped byte inside gzip data: the batch is listed as invalid, its
/// records cannot be decompressed (said on stderr), and the dump goes on.
#[test]
fn a_flipped_byte_in_a_compressed_batch_is_reported_and_skipped() {
    let name = "00000000000000000175.log";
    let mut bytes = std::fs::read(golden().join(name)).unwrap();
    bytes[8790 + 100] ^= 0x55; // inside the gzip batch at position 8790
    let dir = scratch("flip-gzip");
    std::fs::write(dir.join(name), &bytes).unwrap();
    let run = weir(&dir, &["dump-log", "--print-data-log", "--files", name]);
    run.assert_no_crash();
    assert_eq!(run.code, Some(0));
    let mut expected = String::new();
    let mut in_bad_batch = false;
    for line in kafka_dump(name, false).lines() {
        if line.starts_with("baseOffset: ") {
            in_bad_batch = line.contains(" position: 8790 ");
        }
        if in_bad_batch && line.starts_with("| ") {
            continue;
        }
        let line = if in_bad_batch {
            line.replace("isvalid: true", "isvalid: false")
        } else {
            line.to_string()
        };
        expected.push_str(&line);
        expected.push('\n');
    }
    assert_same_lines(&run.stdout, &expected, "flipped gzip byte");
    assert_one_line_error(
        &run.stderr,
        "cannot decode the records of the batch at position 8790",
    );
}

/// Any single flipped byte, anywhere: never a panic.
#[test]
fn no_flipped_byte_crashes_the_dump() {
    let dir = scratch("flip-all");
    for (name, stride) in [
        ("00000000000000001252.log", 1),
        ("00000000000000001200.log", 13),
    ] {
        let bytes = std::fs::read(golden().join(name)).unwrap();
        for at in (0..bytes.len()).step_by(stride) {
            let mut damaged = bytes.clone();
            damaged[at] ^= 0xff;
            std::fs::write(dir.join(name), &damaged).unwrap();
            let run = weir(&dir, &["dump-log", "--print-data-log", "--files", name]);
            run.assert_no_crash();
            assert!(
                run.stdout.starts_with(&format!("Dumping {name}\n")),
                "byte {at}"
            );
        }
    }
}

/// A CRC-valid batch claiming 2^31−1 records must not make the decoder
/// reserve memory for them.
#[test]
fn a_hostile_record_count_is_refused_not_allocated() {
    let name = "00000000000000001252.log";
    let mut bytes = std::fs::read(golden().join(name)).unwrap();
    bytes[57..61].copy_from_slice(&i32::MAX.to_be_bytes());
    weir_protocol::batch::write_crc(&mut bytes);
    let dir = scratch("hostile-count");
    std::fs::write(dir.join(name), &bytes).unwrap();
    let run = weir(&dir, &["dump-log", "--print-data-log", "--files", name]);
    run.assert_no_crash();
    assert_eq!(run.code, Some(0));
    assert!(run.stdout.contains(" count: 2147483647 "));
    assert!(run.stdout.contains(" isvalid: true"));
    assert!(!run.stdout.contains("| offset:"));
    assert_one_line_error(&run.stderr, "record count 2147483647 impossible");
}

// ---- Indexes checked against their log --------------------------------------

#[test]
fn an_index_entry_pointing_at_the_wrong_batch_is_reported() {
    let dir = scratch("index-mismatch");
    copy(
        &golden().join("00000000000000000175.log"),
        &dir.join("00000000000000000175.log"),
    );
    let mut index = std::fs::read(golden().join("00000000000000000175.index")).unwrap();
    index[8..12].copy_from_slice(&(394 - 175 + 1u32).to_be_bytes()); // 2nd entry: offset 395
    std::fs::write(dir.join("00000000000000000175.index"), &index).unwrap();
    let run = weir(&dir, &["dump-log", "--files", "00000000000000000175.index"]);
    assert_eq!(run.code, Some(0));
    assert!(run.stdout.contains("offset: 395 position: 8790\n"));
    assert_eq!(
        run.stderr,
        "Mismatches in :00000000000000000175.index\n  Index offset: 395, log offset: 394\n"
    );
}

#[test]
fn an_index_without_its_log_is_listed_unchecked() {
    let dir = scratch("index-alone");
    let name = "00000000000000000175.timeindex";
    copy(&golden().join(name), &dir.join(name));
    let run = weir(&dir, &["dump-log", "--files", name]);
    assert_eq!(run.code, Some(0));
    assert_same_lines(&run.stdout, &kafka_dump(name, false), name);
    assert_one_line_error(&run.stderr, "not checked against");
}

// ---- Checkpoints and meta.properties (Weir's own listing) ------------------

#[test]
fn offset_checkpoints_are_listed() {
    let run = weir(
        &kafka_logdir(),
        &["dump-log", "--files", "replication-offset-checkpoint"],
    );
    run.assert_clean();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(
        lines[..3],
        [
            "Dumping replication-offset-checkpoint",
            "version: 0 entries: 51",
            "topic: __transaction_state partition: 48 offset: 0",
        ]
    );
    assert_eq!(lines.len(), 53);
    assert!(lines.contains(&"topic: golden partition: 0 offset: 1253"));
    let empty = weir(
        &kafka_logdir(),
        &["dump-log", "--files", "log-start-offset-checkpoint"],
    );
    empty.assert_clean();
    assert_eq!(
        empty.stdout,
        "Dumping log-start-offset-checkpoint\nversion: 0 entries: 0\n"
    );
}

#[test]
fn leader_epoch_checkpoint_and_meta_properties_are_listed() {
    let files = "golden-0/leader-epoch-checkpoint,meta.properties";
    let run = weir(&kafka_logdir(), &["dump-log", "--files", files]);
    run.assert_clean();
    assert_eq!(
        run.stdout,
        "Dumping golden-0/leader-epoch-checkpoint\n\
         version: 0 entries: 1\n\
         epoch: 0 startOffset: 0\n\
         Dumping meta.properties\n\
         version: 1\n\
         node.id: 1\n\
         cluster.id: MkU3OEVBNTcwNTJENDM2Qg\n\
         directory.id: d-WFNekpuxRFw-iHkfeivA\n"
    );
}

#[test]
fn a_garbage_checkpoint_is_a_one_line_error() {
    let dir = scratch("garbage-checkpoint");
    let cases: [(&str, &[u8]); 5] = [
        ("replication-offset-checkpoint", b"0\n3\ngolden 0 5\n"),
        ("recovery-point-offset-checkpoint", b"0\n1\ngolden zero 5\n"),
        ("leader-epoch-checkpoint", b"\x00\xff\x13binary"),
        ("log-start-offset-checkpoint", b"7\n0\n"),
        ("meta.properties", b"this is not a properties file\n"),
    ];
    for (name, text) in cases {
        std::fs::write(dir.join(name), text).unwrap();
        let run = weir(&dir, &["dump-log", "--files", name]);
        assert_eq!(run.code, Some(1), "{name}: {}", run.stdout);
        assert_one_line_error(&run.stderr, name);
    }
}

// ---- Helpers -----------------------------------------------------------------

/// Equal line for line; on failure, show the first line that differs.
fn assert_same_lines(actual: &str, expected: &str, what: &str) {
    if actual == expected {
        return;
    }
    let (a, e): (Vec<&str>, Vec<&str>) = (actual.lines().collect(), expected.lines().collect());
    let at = a
        .iter()
        .zip(&e)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(e.len()));
    panic!(
        "{what}: output differs from Kafka's at line {} ({} vs {} lines)\n  weir:  {:?}\n  kafka: {:?}",
        at + 1,
        a.len(),
        e.len(),
        a.get(at),
        e.get(at)
    );
}

fn assert_one_line_error(stderr: &str, needle: &str) {
    assert_eq!(
        stderr.lines().count(),
        1,
        "one line on stderr, got:\n{stderr}"
    );
    assert!(
        stderr.contains(needle),
        "stderr {stderr:?} should mention {needle:?}"
    );
    assert!(!stderr.contains("panicked") && !stderr.contains("backtrace"));
}

fn without_first_line(s: &str) -> &str {
    s.split_once('\n').map_or("", |(_, rest)| rest)
}

/// A record line as `--deep-iteration` alone prints it: up to the header
/// keys' closing bracket, dropping ` key: ...` and ` payload: ...`.
fn without_data(line: &str) -> &str {
    if !line.starts_with("| ") || line.contains(" endTxnMarker: ") {
        return line;
    }
    let keys = line.find("headerKeys: [").expect("headerKeys");
    let close = keys + line[keys..].find(']').expect("]");
    &line[..=close]
}

/// The value of ` field: N` on a Kafka batch line.
fn field(line: &str, name: &str) -> usize {
    let tag = format!(" {name}: ");
    let at = line
        .find(&tag)
        .unwrap_or_else(|| panic!("{name} in {line}"))
        + tag.len();
    line[at..].split(' ').next().unwrap().parse().unwrap()
}

/// Where to tear a segment: inside the first header (before and after the
/// 17 bytes Kafka needs to see a length and magic), on and around every
/// batch boundary, and every 997 bytes.
fn cut_points(kafka: &str, len: usize) -> Vec<usize> {
    let mut cuts = vec![1, 16, 17, 60, 61];
    for line in kafka.lines().filter(|l| l.starts_with("baseOffset: ")) {
        let end = field(line, "position") + field(line, "size");
        cuts.extend([end - 1, end, end + 17]);
    }
    cuts.extend((0..len).step_by(997));
    cuts.retain(|&c| c > 0 && c < len);
    cuts.sort_unstable();
    cuts.dedup();
    cuts
}

/// What Kafka prints for the first `cut` bytes of a segment: the batches
/// that end within them, then the leftover as invalid bytes.
fn kafka_dump_cut_at(kafka: &str, name: &str, cut: usize) -> String {
    let mut out = String::new();
    let mut keep = true;
    let mut whole = 0;
    for line in kafka.lines() {
        if line.starts_with("baseOffset: ") {
            let end = field(line, "position") + field(line, "size");
            keep = end <= cut;
            if keep {
                whole = end;
            }
        }
        if keep {
            out.push_str(line);
            out.push('\n');
        }
    }
    if cut > whole {
        out.push_str(&format!(
            "Found {} invalid bytes at the end of {name}\n",
            cut - whole
        ));
    }
    out
}

fn find(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("needle in segment")
}

fn copy(from: &Path, to: &Path) {
    std::fs::copy(from, to).unwrap_or_else(|e| panic!("{}: {e}", from.display()));
}
