//! Kafka's small text files in a log directory, byte-compatible so a Kafka
//! log dir opens in Weir and back.
//!
//! Checkpoint files are: line 1 the format version `0`, line 2 the number of
//! entries, then one entry a line, every line ending in `\n`:
//!
//! - offset checkpoints ([`REPLICATION_OFFSET_CHECKPOINT`],
//!   [`RECOVERY_POINT_OFFSET_CHECKPOINT`], [`LOG_START_OFFSET_CHECKPOINT`]):
//!   `topic partition offset`;
//! - [`LEADER_EPOCH_CHECKPOINT`], one per partition directory:
//!   `epoch start_offset`.
//!
//! `meta.properties` ([`MetaProperties`]) is a Java properties file.
//!
//! Parsing is strict (a wrong count, a missing final newline or a stray line
//! is an error, not a guess) because these files decide where recovery
//! starts and where a follower truncates: silently misreading one loses
//! acknowledged data. Writes go through [`FileSystem::write_atomic`] (temp
//! file, fsync, rename, directory fsync), as Kafka's `CheckpointFile` does.

use std::io;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use weir_protocol::{LeaderEpoch, Offset, TopicPartition};

use crate::fs::FileSystem;
use crate::leader_epoch::EpochEntry;

/// The high watermark of every partition in a log dir.
pub const REPLICATION_OFFSET_CHECKPOINT: &str = "replication-offset-checkpoint";
/// Where each partition's log is known to be flushed: recovery starts here.
pub const RECOVERY_POINT_OFFSET_CHECKPOINT: &str = "recovery-point-offset-checkpoint";
/// Each partition's log start offset (advanced by retention and DeleteRecords).
pub const LOG_START_OFFSET_CHECKPOINT: &str = "log-start-offset-checkpoint";
/// A partition's leader-epoch cache (in the partition directory).
pub const LEADER_EPOCH_CHECKPOINT: &str = "leader-epoch-checkpoint";
/// The log dir's identity: cluster, node and directory id.
pub const META_PROPERTIES: &str = "meta.properties";

/// The only checkpoint format version Kafka has written.
const CHECKPOINT_VERSION: i32 = 0;
/// Bad text quoted in an error is cut to this many characters.
const SNIPPET_CHARS_MAX: usize = 80;

/// A checkpoint or `meta.properties` file that cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The file system failed.
    #[error("{}: {source}", .file.display())]
    Io {
        /// The file.
        file: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The contents are not a valid file of this kind.
    #[error("{}line {line}: {problem}", in_file(.file))]
    Malformed {
        /// The file, when the text came from one.
        file: Option<PathBuf>,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        problem: Problem,
    },
    /// `meta.properties` lacks a key Weir needs.
    #[error("{}missing required key `{key}`", in_file(.file))]
    MissingKey {
        /// The file, when the text came from one.
        file: Option<PathBuf>,
        /// The key.
        key: &'static str,
    },
    /// An entry that cannot be stored (it would not read back).
    #[error("invalid entry: {0}")]
    InvalidEntry(String),
}

/// What is wrong with one line of a file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// The bytes are not UTF-8 text.
    #[error("not UTF-8 text")]
    NotUtf8,
    /// Line 1 is not `0`.
    #[error("expected version 0, found {0:?}")]
    WrongVersion(String),
    /// The file ends before a required line.
    #[error("missing the {0} line")]
    MissingLine(&'static str),
    /// The entry count on line 2 disagrees with the entries that follow.
    #[error("header says {expected} entries but the file has {found}")]
    CountMismatch {
        /// Count on line 2.
        expected: usize,
        /// Entries present.
        found: usize,
    },
    /// A line does not have the expected fields.
    #[error("expected `{expected}`, found {text:?}")]
    MalformedLine {
        /// The expected shape.
        expected: &'static str,
        /// The line (cut short if long).
        text: String,
    },
    /// A field is not a non-negative integer of the right size.
    #[error("{field} {text:?} is not a non-negative integer in range")]
    BadNumber {
        /// Which field.
        field: &'static str,
        /// The text (cut short if long).
        text: String,
    },
    /// A line after the last counted entry that is not an entry either.
    #[error("unexpected text after the last entry: {0:?}")]
    TrailingJunk(String),
    /// The last line has no `\n`: the file was cut short.
    #[error("the last line does not end in a newline (file cut short?)")]
    MissingFinalNewline,
}

/// `"<file>: "`, or nothing for text that did not come from a file.
fn in_file(file: &Option<PathBuf>) -> String {
    file.as_ref()
        .map(|f| format!("{}: ", f.display()))
        .unwrap_or_default()
}

/// Quote at most [`SNIPPET_CHARS_MAX`] characters of bad input.
fn snippet(text: &str) -> String {
    text.chars().take(SNIPPET_CHARS_MAX).collect()
}

impl CheckpointError {
    /// Name the file in an error from parsing its text.
    fn in_path(self, path: &Path) -> Self {
        match self {
            CheckpointError::Malformed { line, problem, .. } => CheckpointError::Malformed {
                file: Some(path.to_path_buf()),
                line,
                problem,
            },
            CheckpointError::MissingKey { key, .. } => CheckpointError::MissingKey {
                file: Some(path.to_path_buf()),
                key,
            },
            other => other,
        }
    }

    fn io(path: &Path, source: io::Error) -> Self {
        CheckpointError::Io {
            file: path.to_path_buf(),
            source,
        }
    }
}

fn malformed(line: usize, problem: Problem) -> CheckpointError {
    CheckpointError::Malformed {
        file: None,
        line,
        problem,
    }
}

/// Parse a non-negative integer field; `+5`, `-1` and `5x` are errors.
fn number<T: FromStr>(field: &'static str, text: &str) -> Result<T, Problem> {
    let bad = || Problem::BadNumber {
        field,
        text: snippet(text),
    };
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    text.parse().map_err(|_| bad())
}

/// Split a line into exactly `N` whitespace-separated fields (Kafka splits
/// on `\s+`).
fn fields<'a, const N: usize>(
    line: &'a str,
    expected: &'static str,
) -> Result<[&'a str; N], Problem> {
    let bad = || Problem::MalformedLine {
        expected,
        text: snippet(line),
    };
    let parts: Vec<&str> = line.split_ascii_whitespace().collect();
    <[&str; N]>::try_from(parts).map_err(|_| bad())
}

fn parse_offset_entry(line: &str) -> Result<(TopicPartition, i64), Problem> {
    let [topic, partition, offset] = fields(line, "topic partition offset")?;
    let partition = number("partition", partition)?;
    let offset = number("offset", offset)?;
    Ok((TopicPartition::new(topic, partition), offset))
}

fn parse_epoch_entry(line: &str) -> Result<EpochEntry, Problem> {
    let [epoch, start_offset] = fields(line, "epoch start_offset")?;
    Ok(EpochEntry {
        epoch: LeaderEpoch(number("epoch", epoch)?),
        start_offset: Offset(number("start offset", start_offset)?),
    })
}

/// The version and count lines, checked. Returns the expected entry count.
fn parse_header(lines: &[&str]) -> Result<usize, CheckpointError> {
    let version = lines.first().copied().unwrap_or_default();
    if number::<i32>("version", version) != Ok(CHECKPOINT_VERSION) {
        return Err(malformed(1, Problem::WrongVersion(snippet(version))));
    }
    let count = lines
        .get(1)
        .ok_or_else(|| malformed(2, Problem::MissingLine("entry count")))?;
    number("entry count", count).map_err(|p| malformed(2, p))
}

/// Parse a whole checkpoint file, one entry a line after the header. An
/// empty file is an empty checkpoint, as in Kafka.
fn parse_checkpoint<T>(
    text: &str,
    entry: impl Fn(&str) -> Result<T, Problem>,
) -> Result<Vec<T>, CheckpointError> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let Some(body) = text.strip_suffix('\n') else {
        let last_line = text.split('\n').count();
        return Err(malformed(last_line, Problem::MissingFinalNewline));
    };
    let lines: Vec<&str> = body.split('\n').collect();
    let expected = parse_header(&lines)?;
    let mut entries = Vec::new();
    for (i, line) in lines.iter().enumerate().skip(2) {
        match entry(line) {
            Ok(e) => entries.push(e),
            Err(_) if entries.len() >= expected => {
                return Err(malformed(i + 1, Problem::TrailingJunk(snippet(line))));
            }
            Err(problem) => return Err(malformed(i + 1, problem)),
        }
    }
    if entries.len() != expected {
        let line = lines.len() + 1;
        let found = entries.len();
        return Err(malformed(line, Problem::CountMismatch { expected, found }));
    }
    Ok(entries)
}

/// The header and one line per entry.
fn format_checkpoint<T>(entries: &[T], line: impl Fn(&T) -> String) -> String {
    let mut out = format!("{CHECKPOINT_VERSION}\n{}\n", entries.len());
    for e in entries {
        out.push_str(&line(e));
        out.push('\n');
    }
    out
}

/// Text of an offset checkpoint.
pub fn format_offsets(entries: &[(TopicPartition, i64)]) -> String {
    format_checkpoint(entries, |(tp, offset)| {
        format!("{} {} {offset}", tp.topic, tp.partition)
    })
}

/// Entries of an offset checkpoint.
pub fn parse_offsets(text: &str) -> Result<Vec<(TopicPartition, i64)>, CheckpointError> {
    parse_checkpoint(text, parse_offset_entry)
}

/// Text of a `leader-epoch-checkpoint`.
pub fn format_epochs(entries: &[EpochEntry]) -> String {
    format_checkpoint(entries, |e| format!("{} {}", e.epoch, e.start_offset))
}

/// Entries of a `leader-epoch-checkpoint`, in file order.
pub fn parse_epochs(text: &str) -> Result<Vec<EpochEntry>, CheckpointError> {
    parse_checkpoint(text, parse_epoch_entry)
}

/// The text of a file, or `None` if it does not exist.
fn read_text(fs: &dyn FileSystem, path: &Path) -> Result<Option<String>, CheckpointError> {
    let bytes = match fs.read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(CheckpointError::io(path, e)),
    };
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|_| malformed(1, Problem::NotUtf8).in_path(path))
}

/// Read an offset checkpoint; a missing file is empty (a new log dir), as
/// in Kafka.
pub fn read_offsets(
    fs: &dyn FileSystem,
    path: &Path,
) -> Result<Vec<(TopicPartition, i64)>, CheckpointError> {
    let Some(text) = read_text(fs, path)? else {
        return Ok(Vec::new());
    };
    parse_offsets(&text).map_err(|e| e.in_path(path))
}

/// Replace an offset checkpoint crash-safely.
pub fn write_offsets(
    fs: &dyn FileSystem,
    path: &Path,
    entries: &[(TopicPartition, i64)],
) -> Result<(), CheckpointError> {
    for (tp, offset) in entries {
        check_writable_offset(tp, *offset)?;
    }
    let text = format_offsets(entries);
    fs.write_atomic(path, text.as_bytes())
        .map_err(|e| CheckpointError::io(path, e))
}

/// Refuse what would not parse back: we never write a file we cannot read.
fn check_writable_offset(tp: &TopicPartition, offset: i64) -> Result<(), CheckpointError> {
    let bad_topic = tp.topic.is_empty() || tp.topic.chars().any(char::is_whitespace);
    if bad_topic || tp.partition < 0 || offset < 0 {
        return Err(CheckpointError::InvalidEntry(format!(
            "topic {:?} partition {} offset {offset}",
            snippet(&tp.topic),
            tp.partition
        )));
    }
    Ok(())
}

/// Read a `leader-epoch-checkpoint`; a missing file is empty.
pub fn read_epochs(fs: &dyn FileSystem, path: &Path) -> Result<Vec<EpochEntry>, CheckpointError> {
    let Some(text) = read_text(fs, path)? else {
        return Ok(Vec::new());
    };
    parse_epochs(&text).map_err(|e| e.in_path(path))
}

/// Replace a `leader-epoch-checkpoint` crash-safely.
pub fn write_epochs(
    fs: &dyn FileSystem,
    path: &Path,
    entries: &[EpochEntry],
) -> Result<(), CheckpointError> {
    if let Some(e) = entries.iter().find(|e| !e.is_valid()) {
        return Err(CheckpointError::InvalidEntry(e.to_string()));
    }
    let text = format_epochs(entries);
    fs.write_atomic(path, text.as_bytes())
        .map_err(|e| CheckpointError::io(path, e))
}

/// `meta.properties`: which cluster and node a log dir belongs to, so a
/// broker refuses a disk from another cluster (KIP-500, KIP-858).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaProperties {
    /// `cluster.id`.
    pub cluster_id: String,
    /// `node.id` (`broker.id` in version 0 files).
    pub node_id: i32,
    /// `version`: 1 for KRaft, 0 for ZooKeeper-era files.
    pub version: u32,
    /// `directory.id` (KIP-858), absent in older files.
    pub directory_id: Option<String>,
}

/// Parsed `key=value` pairs with their 1-based line numbers; later
/// duplicates win, as in Java.
type Properties = std::collections::BTreeMap<String, (String, usize)>;

impl MetaProperties {
    /// Parse the Java-properties text: `#`/`!` comment lines and blank lines
    /// are skipped, other lines are `key=value` (or `key:value`). Values are
    /// taken literally; Kafka's ids never need Java's escapes.
    pub fn parse(text: &str) -> Result<Self, CheckpointError> {
        let props = parse_properties(text)?;
        let version: u32 = required_number(&props, "version")?;
        let node_key = if version == 0 { "broker.id" } else { "node.id" };
        Ok(MetaProperties {
            cluster_id: required(&props, "cluster.id")?.0.to_owned(),
            node_id: required_number(&props, node_key)?,
            version,
            directory_id: props.get("directory.id").map(|(v, _)| v.clone()),
        })
    }

    /// The text Kafka would write (a comment header, then `key=value` lines).
    /// Errors if a value could not be read back.
    pub fn format(&self) -> Result<String, CheckpointError> {
        check_plain("cluster.id", &self.cluster_id)?;
        let node_key = if self.version == 0 {
            "broker.id"
        } else {
            "node.id"
        };
        let mut out = format!("#\n#Written by Weir\n{node_key}={}\n", self.node_id);
        if let Some(dir) = &self.directory_id {
            check_plain("directory.id", dir)?;
            out.push_str(&format!("directory.id={dir}\n"));
        }
        out.push_str(&format!("version={}\n", self.version));
        out.push_str(&format!("cluster.id={}\n", self.cluster_id));
        Ok(out)
    }

    /// Read `meta.properties` at `path`; `None` if the log dir has none yet
    /// (it was never formatted).
    pub fn read(fs: &dyn FileSystem, path: &Path) -> Result<Option<Self>, CheckpointError> {
        let Some(text) = read_text(fs, path)? else {
            return Ok(None);
        };
        Self::parse(&text).map(Some).map_err(|e| e.in_path(path))
    }

    /// Write `meta.properties` at `path` crash-safely.
    pub fn write(&self, fs: &dyn FileSystem, path: &Path) -> Result<(), CheckpointError> {
        let text = self.format()?;
        fs.write_atomic(path, text.as_bytes())
            .map_err(|e| CheckpointError::io(path, e))
    }
}

fn parse_properties(text: &str) -> Result<Properties, CheckpointError> {
    let mut props = Properties::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim_start();
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let Some((key, value)) = line.split_once(['=', ':']) else {
            let problem = Problem::MalformedLine {
                expected: "key=value",
                text: snippet(raw),
            };
            return Err(malformed(i + 1, problem));
        };
        let value = value.trim_start().to_owned();
        props.insert(key.trim_end().to_owned(), (value, i + 1));
    }
    Ok(props)
}

/// A required key's value and line; an empty value counts as missing.
fn required<'a>(
    props: &'a Properties,
    key: &'static str,
) -> Result<(&'a str, usize), CheckpointError> {
    match props.get(key) {
        Some((value, line)) if !value.is_empty() => Ok((value, *line)),
        _ => Err(CheckpointError::MissingKey { file: None, key }),
    }
}

/// A required key holding a non-negative integer.
fn required_number<T: FromStr>(
    props: &Properties,
    key: &'static str,
) -> Result<T, CheckpointError> {
    let (value, line) = required(props, key)?;
    number(key, value).map_err(|p| malformed(line, p))
}

/// A value we can write without Java properties escapes.
fn check_plain(key: &str, value: &str) -> Result<(), CheckpointError> {
    let needs_escape = |c: char| !c.is_ascii_graphic() || "\\=:#!".contains(c);
    if value.is_empty() || value.chars().any(needs_escape) {
        return Err(CheckpointError::InvalidEntry(format!(
            "{key}={:?} needs escaping or is empty",
            snippet(value)
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::RealFs;
    use crate::memfs::MemFs;
    use proptest::prelude::*;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fixtures/kafka-4.0.0-logdir")
            .join(name)
    }

    fn fixture_text(name: &str) -> String {
        String::from_utf8(std::fs::read(fixture(name)).unwrap()).unwrap()
    }

    fn tp(topic: &str, partition: i32) -> TopicPartition {
        TopicPartition::new(topic, partition)
    }

    fn ee(epoch: i32, start_offset: i64) -> EpochEntry {
        EpochEntry {
            epoch: LeaderEpoch(epoch),
            start_offset: Offset(start_offset),
        }
    }

    /// The problem and line of a parse error.
    fn problem_of(err: CheckpointError) -> (usize, Problem) {
        match err {
            CheckpointError::Malformed { line, problem, .. } => (line, problem),
            other => panic!("expected a malformed-file error, got {other}"),
        }
    }

    #[test]
    fn formats_offsets_exactly() {
        let text = format_offsets(&[(tp("a", 0), 5), (tp("b-c", 12), 0)]);
        assert_eq!(text, "0\n2\na 0 5\nb-c 12 0\n");
        assert_eq!(format_offsets(&[]), "0\n0\n");
        assert_eq!(format_epochs(&[ee(0, 0), ee(3, 17)]), "0\n2\n0 0\n3 17\n");
    }

    #[test]
    fn empty_text_is_an_empty_checkpoint() {
        assert_eq!(parse_offsets("").unwrap(), vec![]);
        assert_eq!(parse_epochs("").unwrap(), vec![]);
    }

    #[test]
    fn every_kind_of_garbage_is_an_error() {
        let cases: &[(&str, usize, Problem)] = &[
            ("1\n0\n", 1, Problem::WrongVersion("1".into())),
            ("x\n0\n", 1, Problem::WrongVersion("x".into())),
            ("\n", 1, Problem::WrongVersion(String::new())),
            ("0\n", 2, Problem::MissingLine("entry count")),
            (
                "0\n-1\n",
                2,
                Problem::BadNumber {
                    field: "entry count",
                    text: "-1".into(),
                },
            ),
            (
                "0\n2\nt 0 5\n",
                4,
                Problem::CountMismatch {
                    expected: 2,
                    found: 1,
                },
            ),
            (
                "0\n1\nt 0 5\nt 1 6\n",
                5,
                Problem::CountMismatch {
                    expected: 1,
                    found: 2,
                },
            ),
            (
                "0\n1\nt 0 5\njunk\n",
                4,
                Problem::TrailingJunk("junk".into()),
            ),
            ("0\n1\nt 0 5\n\n", 4, Problem::TrailingJunk(String::new())),
            ("0\n1\nt 0 5", 3, Problem::MissingFinalNewline),
            (
                "0\n1\nt 0\n",
                3,
                Problem::MalformedLine {
                    expected: "topic partition offset",
                    text: "t 0".into(),
                },
            ),
            (
                "0\n1\nt 0 5 6\n",
                3,
                Problem::MalformedLine {
                    expected: "topic partition offset",
                    text: "t 0 5 6".into(),
                },
            ),
            (
                "0\n1\nt 0 -5\n",
                3,
                Problem::BadNumber {
                    field: "offset",
                    text: "-5".into(),
                },
            ),
            (
                "0\n1\nt x 5\n",
                3,
                Problem::BadNumber {
                    field: "partition",
                    text: "x".into(),
                },
            ),
            (
                "0\n1\nt 0 99999999999999999999\n",
                3,
                Problem::BadNumber {
                    field: "offset",
                    text: "99999999999999999999".into(),
                },
            ),
            (
                "0\n1\nt 3000000000 5\n",
                3,
                Problem::BadNumber {
                    field: "partition",
                    text: "3000000000".into(),
                },
            ),
        ];
        for (text, line, problem) in cases {
            let err = parse_offsets(text).unwrap_err();
            assert_eq!(problem_of(err), (*line, problem.clone()), "{text:?}");
        }
    }

    #[test]
    fn epoch_garbage_is_an_error() {
        let cases: &[(&str, usize, Problem)] = &[
            (
                "0\n1\n-1 5\n",
                3,
                Problem::BadNumber {
                    field: "epoch",
                    text: "-1".into(),
                },
            ),
            (
                "0\n1\n1 +5\n",
                3,
                Problem::BadNumber {
                    field: "start offset",
                    text: "+5".into(),
                },
            ),
            (
                "0\n1\nt 0 5\n",
                3,
                Problem::MalformedLine {
                    expected: "epoch start_offset",
                    text: "t 0 5".into(),
                },
            ),
            ("0\n1\n2 5\n3\n", 4, Problem::TrailingJunk("3".into())),
        ];
        for (text, line, problem) in cases {
            let err = parse_epochs(text).unwrap_err();
            assert_eq!(problem_of(err), (*line, problem.clone()), "{text:?}");
        }
    }

    #[test]
    fn huge_count_does_not_allocate_or_panic() {
        let err = parse_offsets("0\n18446744073709551615\n").unwrap_err();
        assert_eq!(
            problem_of(err),
            (
                3,
                Problem::CountMismatch {
                    expected: usize::MAX,
                    found: 0
                }
            )
        );
    }

    #[test]
    fn errors_name_the_file_and_line() {
        let fs = MemFs::new();
        fs.create_dir_all(Path::new("/d")).unwrap();
        let path = Path::new("/d/replication-offset-checkpoint");
        fs.write_atomic(path, b"0\n1\nt 0 nope\n").unwrap();
        let msg = read_offsets(&*fs, path).unwrap_err().to_string();
        assert_eq!(
            msg,
            "/d/replication-offset-checkpoint: line 3: \
             offset \"nope\" is not a non-negative integer in range"
        );
        fs.write_atomic(path, &[0xff, b'\n']).unwrap();
        let msg = read_offsets(&*fs, path).unwrap_err().to_string();
        assert_eq!(
            msg,
            "/d/replication-offset-checkpoint: line 1: not UTF-8 text"
        );
    }

    #[test]
    fn missing_file_reads_as_empty() {
        let fs = MemFs::new();
        let path = Path::new("/nowhere/leader-epoch-checkpoint");
        assert_eq!(read_offsets(&*fs, path).unwrap(), vec![]);
        assert_eq!(read_epochs(&*fs, path).unwrap(), vec![]);
        assert_eq!(MetaProperties::read(&*fs, path).unwrap(), None);
    }

    #[test]
    fn write_then_read_survives_a_crash() {
        let fs = MemFs::new();
        fs.create_dir_all(Path::new("/d")).unwrap();
        let path = Path::new("/d/recovery-point-offset-checkpoint");
        let entries = vec![(tp("t", 0), 10), (tp("t", 1), 20)];
        write_offsets(&*fs, path, &entries).unwrap();
        fs.crash(None);
        assert_eq!(read_offsets(&*fs, path).unwrap(), entries);
        let epochs = vec![ee(0, 0), ee(2, 10)];
        let epath = Path::new("/d/leader-epoch-checkpoint");
        write_epochs(&*fs, epath, &epochs).unwrap();
        fs.crash(None);
        assert_eq!(read_epochs(&*fs, epath).unwrap(), epochs);
    }

    #[test]
    fn refuses_to_write_what_would_not_read_back() {
        let fs = MemFs::new();
        fs.create_dir_all(Path::new("/d")).unwrap();
        let path = Path::new("/d/x");
        for bad in [
            (tp("a b", 0), 1),
            (tp("", 0), 1),
            (tp("t", -1), 1),
            (tp("t", 0), -1),
        ] {
            let err = write_offsets(&*fs, path, &[bad]).unwrap_err();
            assert!(matches!(err, CheckpointError::InvalidEntry(_)), "{err}");
        }
        let err = write_epochs(&*fs, path, &[ee(-1, 0)]).unwrap_err();
        assert!(matches!(err, CheckpointError::InvalidEntry(_)), "{err}");
        assert!(!fs.exists(path));
    }

    #[test]
    fn write_reports_io_errors() {
        let fs = MemFs::new();
        fs.create_dir_all(Path::new("/d")).unwrap();
        fs.fail_next_syncs(1);
        let path = Path::new("/d/x");
        let err = write_epochs(&*fs, path, &[ee(1, 0)]).unwrap_err();
        assert!(matches!(err, CheckpointError::Io { .. }), "{err}");
    }

    #[test]
    fn kafka_replication_offset_checkpoint() {
        let text = fixture_text(REPLICATION_OFFSET_CHECKPOINT);
        let entries = parse_offsets(&text).unwrap();
        assert_eq!(entries.len(), 51);
        assert!(entries.contains(&(tp("golden", 0), 1253)));
        assert_eq!(entries[0], (tp("__transaction_state", 48), 0));
        assert_eq!(format_offsets(&entries), text);
        let read = read_offsets(&RealFs, &fixture(REPLICATION_OFFSET_CHECKPOINT)).unwrap();
        assert_eq!(read, entries);
    }

    #[test]
    fn kafka_recovery_point_and_log_start_checkpoints() {
        let text = fixture_text(RECOVERY_POINT_OFFSET_CHECKPOINT);
        let entries = parse_offsets(&text).unwrap();
        assert_eq!(entries.len(), 51);
        assert!(entries.contains(&(tp("golden", 0), 1253)));
        assert_eq!(format_offsets(&entries), text);

        let text = fixture_text(LOG_START_OFFSET_CHECKPOINT);
        assert_eq!(text, "0\n0\n");
        assert_eq!(parse_offsets(&text).unwrap(), vec![]);
        assert_eq!(format_offsets(&[]), text);
    }

    #[test]
    fn kafka_leader_epoch_checkpoint() {
        let name = format!("golden-0/{LEADER_EPOCH_CHECKPOINT}");
        let text = fixture_text(&name);
        let entries = parse_epochs(&text).unwrap();
        assert_eq!(entries, vec![ee(0, 0)]);
        assert_eq!(format_epochs(&entries), text);
        assert_eq!(read_epochs(&RealFs, &fixture(&name)).unwrap(), entries);
    }

    #[test]
    fn kafka_meta_properties() {
        let meta = MetaProperties::read(&RealFs, &fixture(META_PROPERTIES))
            .unwrap()
            .unwrap();
        assert_eq!(
            meta,
            MetaProperties {
                cluster_id: "MkU3OEVBNTcwNTJENDM2Qg".into(),
                node_id: 1,
                version: 1,
                directory_id: Some("d-WFNekpuxRFw-iHkfeivA".into()),
            }
        );
    }

    #[test]
    fn meta_properties_round_trip_through_a_crash() {
        let fs = MemFs::new();
        fs.create_dir_all(Path::new("/d")).unwrap();
        let path = Path::new("/d/meta.properties");
        let meta = MetaProperties {
            cluster_id: "MkU3OEVBNTcwNTJENDM2Qg".into(),
            node_id: 3,
            version: 1,
            directory_id: None,
        };
        meta.write(&*fs, path).unwrap();
        fs.crash(None);
        let text = String::from_utf8(fs.read(path).unwrap()).unwrap();
        assert_eq!(
            text,
            "#\n#Written by Weir\nnode.id=3\nversion=1\ncluster.id=MkU3OEVBNTcwNTJENDM2Qg\n"
        );
        assert_eq!(MetaProperties::read(&*fs, path).unwrap(), Some(meta));
    }

    #[test]
    fn meta_properties_version_0_uses_broker_id() {
        let meta = MetaProperties::parse("version=0\nbroker.id=7\ncluster.id=abc\n").unwrap();
        assert_eq!(meta.node_id, 7);
        assert_eq!(
            MetaProperties::parse(&meta.format().unwrap()).unwrap(),
            meta
        );
    }

    #[test]
    fn meta_properties_errors() {
        let missing = MetaProperties::parse("# c\nversion=1\nnode.id=1\n").unwrap_err();
        assert_eq!(missing.to_string(), "missing required key `cluster.id`");
        let no_version = MetaProperties::parse("cluster.id=x\nnode.id=1\n").unwrap_err();
        assert_eq!(no_version.to_string(), "missing required key `version`");
        let bad = MetaProperties::parse("version=1\nnode.id=x\ncluster.id=c\n").unwrap_err();
        assert!(matches!(bad, CheckpointError::Malformed { .. }), "{bad}");
        let neg = MetaProperties::parse("version=-1\nnode.id=1\ncluster.id=c\n").unwrap_err();
        assert!(matches!(neg, CheckpointError::Malformed { .. }), "{neg}");
        let line = MetaProperties::parse("#\nversion=1\ngarbage\n").unwrap_err();
        assert_eq!(
            problem_of(line),
            (
                3,
                Problem::MalformedLine {
                    expected: "key=value",
                    text: "garbage".into()
                }
            )
        );
        let unwritable = MetaProperties {
            cluster_id: "a=b".into(),
            node_id: 1,
            version: 1,
            directory_id: None,
        };
        assert!(unwritable.format().is_err());
    }

    #[test]
    fn meta_properties_missing_key_names_the_file() {
        let fs = MemFs::new();
        fs.create_dir_all(Path::new("/d")).unwrap();
        let path = Path::new("/d/meta.properties");
        fs.write_atomic(path, b"#\nversion=1\ncluster.id=c\n")
            .unwrap();
        let err = MetaProperties::read(&*fs, path).unwrap_err();
        assert_eq!(
            err.to_string(),
            "/d/meta.properties: missing required key `node.id`"
        );
    }

    fn topic_partition() -> impl Strategy<Value = TopicPartition> {
        ("[a-zA-Z0-9._-]{1,40}", 0..=i32::MAX).prop_map(|(t, p)| TopicPartition::new(t, p))
    }

    proptest! {
        #[test]
        fn offsets_round_trip(entries in prop::collection::vec((topic_partition(), 0..=i64::MAX), 0..20)) {
            let text = format_offsets(&entries);
            prop_assert_eq!(parse_offsets(&text).unwrap(), entries);
        }

        #[test]
        fn epochs_round_trip(raw in prop::collection::vec((0..=i32::MAX, 0..=i64::MAX), 0..20)) {
            let entries: Vec<EpochEntry> = raw.into_iter().map(|(e, o)| ee(e, o)).collect();
            let text = format_epochs(&entries);
            prop_assert_eq!(parse_epochs(&text).unwrap(), entries);
        }

        #[test]
        fn arbitrary_text_never_panics(text in "[0-9a-z \n-]{0,60}") {
            let _ = parse_offsets(&text);
            let _ = parse_epochs(&text);
            let _ = MetaProperties::parse(&text);
        }
    }
}
