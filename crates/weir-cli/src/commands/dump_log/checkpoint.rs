//! Checkpoint files and `meta.properties`: Kafka's `kafka-dump-log.sh`
//! does not read these ("Ignoring unknown file"), so the listing is Weir's
//! own, one `name: value` line per fact, in the style of Kafka's dump lines:
//!
//! ```text
//! Dumping replication-offset-checkpoint
//! version: 0 entries: 2
//! topic: golden partition: 0 offset: 1253
//! topic: __transaction_state partition: 48 offset: 0
//! Dumping golden-0/leader-epoch-checkpoint
//! version: 0 entries: 1
//! epoch: 0 startOffset: 0
//! Dumping meta.properties
//! version: 1
//! node.id: 1
//! cluster.id: MkU3OEVBNTcwNTJENDM2Qg
//! directory.id: d-WFNekpuxRFw-iHkfeivA
//! ```
//!
//! Entries are listed in file order. A file that does not parse is an
//! error naming the line at fault.

use super::TextKind;
use anyhow::{anyhow, bail, Context, Result};
use std::io::Write;

/// List one checkpoint or `meta.properties` file.
pub(super) fn dump(kind: TextKind, bytes: &[u8], out: &mut dyn Write) -> Result<Vec<String>> {
    let text =
        std::str::from_utf8(bytes).map_err(|_| anyhow!("not a text file (invalid UTF-8)"))?;
    match kind {
        TextKind::OffsetCheckpoint => dump_offsets(text, out),
        TextKind::EpochCheckpoint => dump_epochs(text, out),
        TextKind::MetaProperties => dump_meta_properties(text, out),
    }
}

/// List an offset checkpoint (`replication-offset-checkpoint`, ...).
fn dump_offsets(text: &str, out: &mut dyn Write) -> Result<Vec<String>> {
    let (version, entries) = parse_checkpoint(text, 3)?;
    writeln!(out, "version: {version} entries: {}", entries.len())?;
    for fields in entries {
        let partition: i32 = number(fields[1], "partition")?;
        let offset: i64 = number(fields[2], "offset")?;
        writeln!(
            out,
            "topic: {} partition: {partition} offset: {offset}",
            fields[0]
        )?;
    }
    Ok(Vec::new())
}

/// List a `leader-epoch-checkpoint`.
fn dump_epochs(text: &str, out: &mut dyn Write) -> Result<Vec<String>> {
    let (version, entries) = parse_checkpoint(text, 2)?;
    writeln!(out, "version: {version} entries: {}", entries.len())?;
    for fields in entries {
        let epoch: i32 = number(fields[0], "epoch")?;
        let start: i64 = number(fields[1], "start offset")?;
        writeln!(out, "epoch: {epoch} startOffset: {start}")?;
    }
    Ok(Vec::new())
}

/// List `meta.properties` (Java properties: `key=value`, `#` comments):
/// the version, the node id (`broker.id` in version 0 files), the cluster
/// id and, when present, the directory id (KIP-858).
fn dump_meta_properties(text: &str, out: &mut dyn Write) -> Result<Vec<String>> {
    let mut pairs = std::collections::HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let Some((key, value)) = line.split_once(['=', ':']) else {
            bail!("line {}: expected key=value, found {line:?}", i + 1);
        };
        pairs.insert(key.trim(), value.trim());
    }
    let required = |key: &str| {
        pairs
            .get(key)
            .copied()
            .with_context(|| format!("no {key} property: not a meta.properties file"))
    };
    let version: u32 = number(required("version")?, "version")?;
    let node_key = if version == 0 { "broker.id" } else { "node.id" };
    let node_id: i32 = number(required(node_key)?, node_key)?;
    writeln!(out, "version: {version}")?;
    writeln!(out, "{node_key}: {node_id}")?;
    writeln!(out, "cluster.id: {}", required("cluster.id")?)?;
    if let Some(dir) = pairs.get("directory.id") {
        writeln!(out, "directory.id: {dir}")?;
    }
    Ok(Vec::new())
}

/// Kafka's `CheckpointFile` text format: a version line (0), an entry
/// count, then that many lines of `width` space-separated fields.
fn parse_checkpoint(text: &str, width: usize) -> Result<(i32, Vec<Vec<&str>>)> {
    let mut lines = text.lines();
    let version: i32 = number(lines.next().unwrap_or_default().trim(), "version (line 1)")?;
    if version != 0 {
        bail!("unsupported checkpoint version {version} (expected 0)");
    }
    let count: usize = number(
        lines.next().unwrap_or_default().trim(),
        "entry count (line 2)",
    )?;
    let entries: Vec<Vec<&str>> = lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split_whitespace().collect())
        .collect();
    if let Some((i, bad)) = entries.iter().enumerate().find(|(_, f)| f.len() != width) {
        bail!(
            "line {}: expected {width} fields, found {:?}",
            i + 3,
            bad.join(" ")
        );
    }
    if entries.len() != count {
        bail!("expected {count} entries, found {}", entries.len());
    }
    Ok((version, entries))
}

fn number<T: std::str::FromStr>(s: &str, what: &str) -> Result<T>
where
    T::Err: std::error::Error + Send + Sync + 'static,
{
    s.parse()
        .with_context(|| format!("bad {what} {s:?} in checkpoint"))
}
