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
//! Entries are listed in file order. Parsing is `weir-storage`'s, the same
//! strict parser the broker trusts on start, so a file that `dump-log`
//! lists is one Weir would load, and one it rejects is an error naming the
//! line at fault.

use super::TextKind;
use anyhow::{anyhow, Result};
use std::io::Write;
use weir_storage::checkpoint::{parse_epochs, parse_offsets, MetaProperties};

/// The only checkpoint format version (the parser refuses any other).
const CHECKPOINT_VERSION: i32 = 0;

/// List one checkpoint or `meta.properties` file.
pub(super) fn dump(kind: TextKind, bytes: &[u8], out: &mut dyn Write) -> Result<()> {
    let text =
        std::str::from_utf8(bytes).map_err(|_| anyhow!("not a text file (invalid UTF-8)"))?;
    match kind {
        TextKind::OffsetCheckpoint => dump_offsets(text, out),
        TextKind::EpochCheckpoint => dump_epochs(text, out),
        TextKind::MetaProperties => dump_meta_properties(text, out),
    }
}

/// `topic partition offset` lines (`replication-offset-checkpoint`, ...).
fn dump_offsets(text: &str, out: &mut dyn Write) -> Result<()> {
    let entries = parse_offsets(text)?;
    writeln!(
        out,
        "version: {CHECKPOINT_VERSION} entries: {}",
        entries.len()
    )?;
    for (tp, offset) in entries {
        writeln!(
            out,
            "topic: {} partition: {} offset: {offset}",
            tp.topic, tp.partition
        )?;
    }
    Ok(())
}

/// `epoch start_offset` lines of a `leader-epoch-checkpoint`.
fn dump_epochs(text: &str, out: &mut dyn Write) -> Result<()> {
    let entries = parse_epochs(text)?;
    writeln!(
        out,
        "version: {CHECKPOINT_VERSION} entries: {}",
        entries.len()
    )?;
    for e in entries {
        writeln!(out, "epoch: {} startOffset: {}", e.epoch, e.start_offset)?;
    }
    Ok(())
}

/// The version, node id (`broker.id` in version 0 files), cluster id and,
/// when present, the directory id (KIP-858).
fn dump_meta_properties(text: &str, out: &mut dyn Write) -> Result<()> {
    let meta = MetaProperties::parse(text)?;
    let node_key = if meta.version == 0 {
        "broker.id"
    } else {
        "node.id"
    };
    writeln!(out, "version: {}", meta.version)?;
    writeln!(out, "{node_key}: {}", meta.node_id)?;
    writeln!(out, "cluster.id: {}", meta.cluster_id)?;
    if let Some(dir) = &meta.directory_id {
        writeln!(out, "directory.id: {dir}")?;
    }
    Ok(())
}
