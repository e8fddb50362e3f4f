//! `.index` and `.timeindex` files, printed as Kafka's `dumpIndex` and
//! `dumpTimeIndex` print them, and checked against the segment's `.log`.
//!
//! Kafka preallocates the active segment's index files with zeros, so after
//! a crash an index can end in zero entries; like Kafka we stop at the
//! first entry after the first whose offset is the base offset again.
//! A trailing partial entry is ignored (Kafka rounds the size down).
//!
//! The checks against the `.log` mirror Kafka's and print its messages on
//! stderr: each `.index` entry must point at a batch whose last offset is
//! the entry's offset; each `.timeindex` entry must name a batch's last
//! offset, carry that batch's max timestamp (Weir reads it from the batch
//! header, Kafka from the records; they agree for any batch a broker
//! accepted), and grow strictly. Without a `.log` beside the index (Kafka
//! fails then) the entries are printed unchecked.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use weir_protocol::BatchIter;
use weir_storage::index_format::{
    decode_offset_entries, decode_time_entries, OFFSET_ENTRY_SIZE, TIME_ENTRY_SIZE,
};

/// Print an `.index` file; returns the findings for stderr.
pub(super) fn dump_offset_index(
    path: &Path,
    base: i64,
    bytes: &[u8],
    out: &mut dyn Write,
) -> io::Result<Vec<String>> {
    let entries = decode_offset_entries(base, bytes);
    if entries.is_empty() {
        writeln!(out, "{} is empty.", path.display())?;
        return Ok(Vec::new());
    }
    let mut findings = partial_entry(path, bytes.len(), OFFSET_ENTRY_SIZE);
    let log = SegmentBatches::beside(path, &mut findings);
    let mut mismatches = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        if i > 0 && entry.offset == base {
            break;
        }
        if let Some(log) = &log {
            let found = log.last_offset_at(entry.position as usize);
            if found != Some(entry.offset) {
                mismatches.push((entry.offset, found.unwrap_or(-1)));
            }
        }
        writeln!(out, "offset: {} position: {}", entry.offset, entry.position)?;
    }
    if !mismatches.is_empty() {
        findings.push(format!("Mismatches in :{}", path.display()));
        findings.extend(
            mismatches
                .iter()
                .map(|(i, l)| format!("  Index offset: {i}, log offset: {l}")),
        );
    }
    Ok(findings)
}

/// Print a `.timeindex` file; returns the findings for stderr.
pub(super) fn dump_time_index(
    path: &Path,
    base: i64,
    bytes: &[u8],
    out: &mut dyn Write,
) -> io::Result<Vec<String>> {
    let mut findings = partial_entry(path, bytes.len(), TIME_ENTRY_SIZE);
    let log = SegmentBatches::beside(path, &mut findings);
    let mut check = TimeIndexCheck::default();
    for (i, entry) in decode_time_entries(base, bytes).iter().enumerate() {
        if i > 0 && entry.offset == base {
            break;
        }
        if let Some(log) = &log {
            check.entry(log, entry.timestamp, entry.offset);
        }
        writeln!(
            out,
            "timestamp: {} offset: {}",
            entry.timestamp, entry.offset
        )?;
    }
    findings.extend(check.findings(path));
    Ok(findings)
}

fn partial_entry(path: &Path, len: usize, entry_size: usize) -> Vec<String> {
    match len % entry_size {
        0 => Vec::new(),
        n => vec![format!(
            "{}: ignored {n} trailing bytes that are not a whole {entry_size}-byte entry",
            path.display()
        )],
    }
}

/// What the index checks need from each batch of the `.log`.
#[derive(Debug)]
struct BatchSummary {
    position: usize,
    last_offset: i64,
    max_timestamp: i64,
}

/// The batches of the `.log` next to an index file.
#[derive(Debug)]
struct SegmentBatches(Vec<BatchSummary>);

impl SegmentBatches {
    /// Read `<dir>/<base>.log` for `<dir>/<base>.index`; `None` (with a
    /// finding) if it cannot be read.
    fn beside(index: &Path, findings: &mut Vec<String>) -> Option<SegmentBatches> {
        let log = log_path(index);
        match std::fs::read(&log) {
            Ok(bytes) => Some(SegmentBatches::walk(&bytes)),
            Err(e) => {
                findings.push(format!(
                    "{}: not checked against {}: {e}",
                    index.display(),
                    log.display()
                ));
                None
            }
        }
    }

    fn walk(bytes: &[u8]) -> SegmentBatches {
        let batches = BatchIter::new(bytes)
            .map(|b| BatchSummary {
                position: b.position,
                last_offset: b.header.last_offset(),
                max_timestamp: b.header.max_timestamp,
            })
            .collect();
        SegmentBatches(batches)
    }

    /// Last offset of the batch starting exactly at `position`.
    fn last_offset_at(&self, position: usize) -> Option<i64> {
        self.0
            .binary_search_by_key(&position, |b| b.position)
            .ok()
            .map(|i| self.0[i].last_offset)
    }

    /// The first batch holding `offset` or later ones.
    fn first_reaching(&self, offset: i64) -> Option<&BatchSummary> {
        self.0.iter().find(|b| b.last_offset >= offset)
    }
}

/// `<dir>/<name up to the first dot>.log`, as Kafka finds it.
fn log_path(index: &Path) -> PathBuf {
    let name = index
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = name.split('.').next().unwrap_or_default();
    index.with_file_name(format!("{stem}.log"))
}

/// Kafka's `TimeIndexDumpErrors` for one file.
#[derive(Debug, Default)]
struct TimeIndexCheck {
    prev_timestamp: Option<i64>,
    /// (index timestamp, batch max timestamp)
    mismatches: Vec<(i64, i64)>,
    /// (index timestamp, previous index timestamp)
    out_of_order: Vec<(i64, i64)>,
    /// (index offset, last offset of the batch found, or −1)
    not_found: Vec<(i64, i64)>,
}

impl TimeIndexCheck {
    fn entry(&mut self, log: &SegmentBatches, timestamp: i64, offset: i64) {
        match log.first_reaching(offset) {
            None => self.not_found.push((offset, -1)),
            Some(b) if b.last_offset != offset => self.not_found.push((offset, b.last_offset)),
            Some(b) => {
                if b.max_timestamp != timestamp {
                    self.mismatches.push((timestamp, b.max_timestamp));
                }
                if let Some(prev) = self.prev_timestamp.filter(|p| *p >= timestamp) {
                    self.out_of_order.push((timestamp, prev));
                }
            }
        }
        self.prev_timestamp = Some(timestamp);
    }

    fn findings(&self, path: &Path) -> Vec<String> {
        let mut lines = Vec::new();
        if !self.mismatches.is_empty() {
            lines.push(format!("Found timestamp mismatch in :{}", path.display()));
            lines.extend(
                self.mismatches
                    .iter()
                    .map(|(i, l)| format!("  Index timestamp: {i}, log timestamp: {l}")),
            );
        }
        if !self.out_of_order.is_empty() {
            lines.push(format!(
                "Found out of order timestamp in :{}",
                path.display()
            ));
            lines.extend(self.out_of_order.iter().map(|(i, p)| {
                format!("  Index timestamp: {i}, Previously indexed timestamp: {p}")
            }));
        }
        if !self.not_found.is_empty() {
            lines.push("The following indexed offsets are not found in the log.".to_string());
            lines.extend(
                self.not_found
                    .iter()
                    .map(|(i, l)| format!("Indexed offset: {i}, found log offset: {l}")),
            );
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_log_beside_an_index() {
        assert_eq!(
            log_path(Path::new("d/00000000000000000175.timeindex")),
            PathBuf::from("d/00000000000000000175.log")
        );
    }

    #[test]
    fn time_index_check_reports_like_kafka() {
        let log = SegmentBatches(vec![
            BatchSummary {
                position: 0,
                last_offset: 9,
                max_timestamp: 100,
            },
            BatchSummary {
                position: 50,
                last_offset: 19,
                max_timestamp: 90,
            },
        ]);
        let mut c = TimeIndexCheck::default();
        c.entry(&log, 100, 9);
        c.entry(&log, 90, 19);
        c.entry(&log, 95, 15);
        c.entry(&log, 99, 25);
        assert_eq!(c.out_of_order, vec![(90, 100)]);
        assert_eq!(c.not_found, vec![(15, 19), (25, -1)]);
        assert!(c.mismatches.is_empty());
    }
}
