//! A single node's metadata log: the records that build its
//! `weir_core::metadata` image, kept in a local append-only file.
//!
//! A cluster replicates the same records through Raft (the cluster issue);
//! a single broker keeps them here. One record per line:
//! `<crc32c as 8 hex digits> <record as JSON>\n`. On open the file is
//! replayed; a torn or corrupt *last* line (a crash mid-append) is cut
//! off, while damage before the last line is an error, because silently
//! dropping a committed record would change the cluster's history.
//! Appends are fsynced before they are applied or answered.

use serde::de::DeserializeOwned;
use serde::Serialize;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use weir_storage::fs::File;
use weir_storage::Fs;

/// File name of the metadata log inside `metadata.log.dir`.
pub const METADATA_LOG_FILE: &str = "weir-metadata.log";

/// Errors of the metadata log.
#[derive(Debug, thiserror::Error)]
pub enum MetadataStoreError {
    /// Reading, writing or syncing failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A record before the last one is damaged.
    #[error("{path}: line {line}: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// A record could not be serialized.
    #[error("cannot encode metadata record: {0}")]
    Encode(String),
}

/// An append-only, fsynced log of records of type `R`.
#[derive(Debug)]
pub struct MetadataLog<R> {
    path: PathBuf,
    file: Box<dyn File>,
    records: usize,
    _record: PhantomData<fn() -> R>,
}

impl<R: Serialize + DeserializeOwned> MetadataLog<R> {
    /// Open (or create) the log in `dir` and return it with every record
    /// it holds, in order.
    pub fn open(fs: &Fs, dir: &Path) -> Result<(Self, Vec<R>), MetadataStoreError> {
        let io = |source| MetadataStoreError::Io {
            path: dir.to_path_buf(),
            source,
        };
        fs.create_dir_all(dir).map_err(io)?;
        let path = dir.join(METADATA_LOG_FILE);
        let io = |source| MetadataStoreError::Io {
            path: path.clone(),
            source,
        };
        let mut file = fs.open(&path, true).map_err(io)?;
        fs.sync_dir(dir).map_err(io)?;
        let bytes = file.read_all().map_err(io)?;
        let (records, valid_len) = parse_lines::<R>(&path, &bytes)?;
        if valid_len < bytes.len() {
            tracing::warn!(
                path = %path.display(),
                "cutting {} bytes of a torn last metadata record",
                bytes.len() - valid_len
            );
            file.set_len(valid_len as u64).map_err(io)?;
            file.sync().map_err(io)?;
        }
        let log = MetadataLog {
            path,
            file,
            records: records.len(),
            _record: PhantomData,
        };
        Ok((log, records))
    }

    /// Append records durably (written and fsynced before returning).
    pub fn append(&mut self, records: &[R]) -> Result<(), MetadataStoreError> {
        let mut out = Vec::new();
        for record in records {
            let json = serde_json::to_string(record)
                .map_err(|e| MetadataStoreError::Encode(e.to_string()))?;
            out.extend_from_slice(format!("{:08x} {json}\n", crc32(&json)).as_bytes());
        }
        let io = |source| MetadataStoreError::Io {
            path: self.path.clone(),
            source,
        };
        self.file.append(&out).map_err(io)?;
        self.file.sync().map_err(io)?;
        self.records += records.len();
        Ok(())
    }

    /// Number of records in the log.
    pub fn len(&self) -> usize {
        self.records
    }

    /// True when the log holds no record.
    pub fn is_empty(&self) -> bool {
        self.records == 0
    }
}

fn crc32(json: &str) -> u32 {
    crc32c::crc32c(json.as_bytes())
}

/// Parse every complete, intact line; returns the records and the byte
/// length of the good prefix. Only the last line may be damaged.
fn parse_lines<R: DeserializeOwned>(
    path: &Path,
    bytes: &[u8],
) -> Result<(Vec<R>, usize), MetadataStoreError> {
    let mut records = Vec::new();
    let mut pos = 0;
    let mut line_no = 0;
    while pos < bytes.len() {
        line_no += 1;
        let rest = &bytes[pos..];
        let Some(end) = rest.iter().position(|b| *b == b'\n') else {
            // No newline: the last append was torn.
            return Ok((records, pos));
        };
        match parse_line::<R>(&rest[..end]) {
            Ok(record) => {
                records.push(record);
                pos += end + 1;
            }
            Err(_) if pos + end + 1 >= bytes.len() => return Ok((records, pos)),
            Err(reason) => {
                return Err(MetadataStoreError::Corrupt {
                    path: path.to_path_buf(),
                    line: line_no,
                    reason,
                })
            }
        }
    }
    Ok((records, pos))
}

fn parse_line<R: DeserializeOwned>(line: &[u8]) -> Result<R, String> {
    let line = std::str::from_utf8(line).map_err(|_| "not UTF-8".to_string())?;
    let (crc, json) = line.split_once(' ').ok_or("no CRC field")?;
    let crc = u32::from_str_radix(crc, 16).map_err(|_| "bad CRC field".to_string())?;
    if crc != crc32(json) {
        return Err("CRC mismatch".into());
    }
    serde_json::from_str(json).map_err(|e| format!("bad record: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_storage::memfs::MemFs;

    fn open(fs: &Fs) -> (MetadataLog<Vec<u32>>, Vec<Vec<u32>>) {
        MetadataLog::open(fs, Path::new("/meta")).unwrap()
    }

    #[test]
    fn records_survive_reopen_and_crash_after_append() {
        let mem = MemFs::new();
        let fs: Fs = mem.clone();
        let (mut log, got) = open(&fs);
        assert!(got.is_empty());
        log.append(&[vec![1], vec![2, 3]]).unwrap();
        mem.crash(None);
        let (log, got) = open(&fs);
        assert_eq!(got, vec![vec![1], vec![2, 3]]);
        assert_eq!(log.len(), 2);
    }

    #[test]
    fn torn_last_line_is_cut_and_later_appends_follow_it() {
        let mem = MemFs::new();
        let fs: Fs = mem.clone();
        let (mut log, _) = open(&fs);
        log.append(&[vec![1], vec![2]]).unwrap();
        let path = Path::new("/meta").join(METADATA_LOG_FILE);
        let len = mem.file_len(&path).unwrap();
        mem.truncate_file(&path, len - 3).unwrap();
        let (mut log, got) = open(&fs);
        assert_eq!(got, vec![vec![1]]);
        log.append(&[vec![9]]).unwrap();
        let (_, got) = open(&fs);
        assert_eq!(got, vec![vec![1], vec![9]]);
    }

    #[test]
    fn damage_before_the_last_line_is_an_error() {
        let mem = MemFs::new();
        let fs: Fs = mem.clone();
        let (mut log, _) = open(&fs);
        log.append(&[vec![1], vec![2]]).unwrap();
        let path = Path::new("/meta").join(METADATA_LOG_FILE);
        // Byte 3 is in the first line's CRC field.
        mem.corrupt_byte(&path, 3, 0x01).unwrap();
        let err = MetadataLog::<Vec<u32>>::open(&fs, Path::new("/meta")).unwrap_err();
        assert!(
            matches!(err, MetadataStoreError::Corrupt { line: 1, .. }),
            "{err}"
        );
    }
}
