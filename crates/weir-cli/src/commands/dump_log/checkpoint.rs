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

use anyhow::{bail, Context, Result};
use std::io::Write;

/// List an offset checkpoint (`replication-offset-checkpoint`, ...).
pub(super) fn dump_offsets(text: &str, out: &mut dyn Write) -> Result<Vec<String>> {
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
pub(super) fn dump_epochs(text: &str, out: &mut dyn Write) -> Result<Vec<String>> {
    let (version, entries) = parse_checkpoint(text, 2)?;
    writeln!(out, "version: {version} entries: {}", entries.len())?;
    for fields in entries {
        let epoch: i32 = number(fields[0], "epoch")?;
        let start: i64 = number(fields[1], "start offset")?;
        writeln!(out, "epoch: {epoch} startOffset: {start}")?;
    }
    Ok(Vec::new())
}

/// List `meta.properties` (Java properties: `key=value`, `#` comments).
pub(super) fn dump_meta_properties(text: &str, out: &mut dyn Write) -> Result<Vec<String>> {
    let mut pairs = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let Some((key, value)) = line.split_once(['=', ':']) else {
            bail!("line {}: expected key=value, found {line:?}", i + 1);
        };
        pairs.push((key.trim(), value.trim()));
    }
    if !pairs.iter().any(|(k, _)| *k == "version") {
        bail!("no version property: not a meta.properties file");
    }
    for (key, value) in pairs {
        writeln!(out, "{key}: {value}")?;
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
