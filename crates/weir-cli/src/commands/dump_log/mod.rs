//! `weir dump-log`: Apache Kafka's `kafka-dump-log.sh` (`DumpLogSegments`).
//!
//! For `.log`, `.index` and `.timeindex` files the standard output is line
//! for line what Kafka 4.0 prints with the same flags, so the two can be
//! diffed; `fixtures/kafka-4.0.0-logdir/dumps/` holds Kafka's own output and
//! the tests compare against it. Checkpoint files and `meta.properties` are
//! not something Kafka's tool reads; Weir lists them in a format of its own
//! (see [`checkpoint`]).
//!
//! Like Kafka, findings about a damaged file (a torn tail, index entries
//! that do not match the log) are reported and the dump goes on; Weir
//! prints them on stderr after the file's dump. A file that cannot be
//! dumped at all (missing, of an unknown kind, a garbage checkpoint) is an
//! error: one line on stderr and exit code 1.
//!
//! # Layout
//!
//! - [`segment`]: `.log` files, batch and record lines.
//! - [`index`]: `.index` and `.timeindex` files, checked against their `.log`.
//! - [`checkpoint`]: offset and leader-epoch checkpoints, `meta.properties`.

mod checkpoint;
mod index;
mod segment;

use anyhow::{bail, Context, Result};
use std::io::Write;
use std::path::{Path, PathBuf};
use weir_storage::checkpoint as checkpoint_names;

/// Flags, named as Kafka names them.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The comma separated list of data and index log files to be dumped.
    #[arg(
        long,
        required = true,
        value_delimiter = ',',
        value_name = "file1,file2,..."
    )]
    files: Vec<PathBuf>,
    /// Print the key and value of each record (implies --deep-iteration).
    #[arg(long)]
    print_data_log: bool,
    /// Print one line per record, not only one per batch.
    #[arg(long)]
    deep_iteration: bool,
    /// Decode the records as `__consumer_offsets` records (offset commits)
    /// and print them as JSON (implies --print-data-log).
    #[arg(long)]
    offsets_decoder: bool,
}

/// What to print for a `.log`, after Kafka's flag rules.
#[derive(Debug, Clone, Copy)]
struct Options {
    /// One line per record (Kafka: `--deep-iteration` or `--print-data-log`).
    records: bool,
    /// Keys and payloads on record lines.
    data: bool,
    /// Keys and payloads decoded as `__consumer_offsets` records.
    offsets: bool,
}

impl Options {
    fn from_args(args: &Args) -> Options {
        Options {
            records: args.deep_iteration || args.print_data_log || args.offsets_decoder,
            data: args.print_data_log || args.offsets_decoder,
            offsets: args.offsets_decoder,
        }
    }
}

/// The kinds of file `dump-log` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FileKind {
    /// A `.log` segment; the number is the base offset from its name.
    Log(i64),
    /// A `.index` file and its segment's base offset.
    OffsetIndex(i64),
    /// A `.timeindex` file and its segment's base offset.
    TimeIndex(i64),
    /// A checkpoint or `meta.properties`: text, listed Weir's way.
    Text(TextKind),
}

/// The text files of a log dir that `dump-log` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TextKind {
    /// `replication-offset-checkpoint` and the other per-log-dir offset files.
    OffsetCheckpoint,
    /// A partition's `leader-epoch-checkpoint`.
    EpochCheckpoint,
    /// A log dir's `meta.properties`.
    MetaProperties,
}

/// Log-dir files holding "topic partition offset" lines (Kafka's
/// `OffsetCheckpointFile`); `cleaner-offset-checkpoint` has the same format.
const OFFSET_CHECKPOINTS: [&str; 4] = [
    checkpoint_names::REPLICATION_OFFSET_CHECKPOINT,
    checkpoint_names::RECOVERY_POINT_OFFSET_CHECKPOINT,
    checkpoint_names::LOG_START_OFFSET_CHECKPOINT,
    "cleaner-offset-checkpoint",
];

/// Dump every file of `args.files` to `out`, in order.
///
/// Every path is checked (exists, is a file, is of a known kind) before
/// anything is printed, so a typo in the list costs one clear error line
/// rather than a half-finished dump.
pub fn run(args: &Args, out: &mut dyn Write) -> Result<()> {
    let opts = Options::from_args(args);
    let plan = args
        .files
        .iter()
        .map(|path| Ok((path, check_file(path)?)))
        .collect::<Result<Vec<_>>>()?;
    for (path, kind) in plan {
        dump_file(path, kind, opts, out)?;
    }
    Ok(())
}

/// The kind of `path`, or why it cannot be dumped.
fn check_file(path: &Path) -> Result<FileKind> {
    let meta = std::fs::metadata(path).with_context(|| format!("{}", path.display()))?;
    if !meta.is_file() {
        bail!("{}: not a regular file", path.display());
    }
    classify(path)
}

/// Decide the kind from the file name alone, as Kafka does (it switches on
/// the suffix after the last dot).
fn classify(path: &Path) -> Result<FileKind> {
    let name = file_name(path);
    let text = match name.as_str() {
        n if OFFSET_CHECKPOINTS.contains(&n) => Some(TextKind::OffsetCheckpoint),
        checkpoint_names::LEADER_EPOCH_CHECKPOINT => Some(TextKind::EpochCheckpoint),
        checkpoint_names::META_PROPERTIES => Some(TextKind::MetaProperties),
        _ => None,
    };
    if let Some(text) = text {
        return Ok(FileKind::Text(text));
    }
    let kind: fn(i64) -> FileKind = match name.rsplit_once('.').map(|(_, suffix)| suffix) {
        Some("log") => FileKind::Log,
        Some("index") => FileKind::OffsetIndex,
        Some("timeindex") => FileKind::TimeIndex,
        _ => bail!(
            "{}: not a file dump-log reads (expected a .log, .index or .timeindex segment file, \
             a *-checkpoint file or meta.properties)",
            path.display()
        ),
    };
    Ok(kind(base_offset(path, &name)?))
}

/// A segment file is named after its base offset
/// (`00000000000000000175.log`); Kafka needs it to turn the index's
/// relative offsets into absolute ones, and so do we.
fn base_offset(path: &Path, name: &str) -> Result<i64> {
    let stem = name.split('.').next().unwrap_or_default();
    match stem.parse::<i64>() {
        Ok(n) if n >= 0 && stem.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
        _ => bail!(
            "{}: a segment file must be named after its base offset, like 00000000000000000000.log",
            path.display()
        ),
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Print `Dumping <path>` and the file's contents; findings about damage go
/// to stderr once the file's lines are out.
fn dump_file(path: &Path, kind: FileKind, opts: Options, out: &mut dyn Write) -> Result<()> {
    writeln!(out, "Dumping {}", path.display())?;
    let bytes = std::fs::read(path).with_context(|| format!("{}", path.display()))?;
    let findings = match kind {
        FileKind::Log(base) => segment::dump(&file_name(path), base, &bytes, opts, out)?,
        FileKind::OffsetIndex(base) => index::dump_offset_index(path, base, &bytes, out)?,
        FileKind::TimeIndex(base) => index::dump_time_index(path, base, &bytes, out)?,
        FileKind::Text(kind) => {
            checkpoint::dump(kind, &bytes, out).with_context(|| format!("{}", path.display()))?;
            Vec::new()
        }
    };
    if !findings.is_empty() {
        out.flush()?;
        for line in findings {
            eprintln!("{line}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_by_name_like_kafka() {
        let k = |s: &str| classify(Path::new(s)).ok();
        assert_eq!(k("d/00000000000000000175.log"), Some(FileKind::Log(175)));
        assert_eq!(
            k("00000000000000000175.index"),
            Some(FileKind::OffsetIndex(175))
        );
        assert_eq!(
            k("00000000000000000175.timeindex"),
            Some(FileKind::TimeIndex(175))
        );
        let text = |t| Some(FileKind::Text(t));
        assert_eq!(
            k("x/replication-offset-checkpoint"),
            text(TextKind::OffsetCheckpoint)
        );
        assert_eq!(
            k("leader-epoch-checkpoint"),
            text(TextKind::EpochCheckpoint)
        );
        assert_eq!(k("meta.properties"), text(TextKind::MetaProperties));
        assert_eq!(k("00000000000000000175.snapshot"), None);
        assert_eq!(k("00000000000000000175.log.deleted"), None);
        assert_eq!(k("segment.log"), None);
        assert_eq!(k("-5.log"), None);
        assert_eq!(k("partition.metadata"), None);
    }
}
