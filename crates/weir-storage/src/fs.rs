//! File access behind a small trait, so the same storage code runs on real
//! files and on the fault-injecting in-memory files of [`crate::memfs`]
//! (TigerBeetle's `testing/storage.zig` is the model).
//!
//! Only what the log needs: append-only data files that can be read at a
//! position, truncated and fsynced; whole-file writes for small files;
//! rename; directory listing and fsync.

use std::fmt::Debug;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// An open file.
pub trait File: Send + Sync + Debug {
    /// Current length in bytes.
    fn len(&self) -> io::Result<u64>;
    /// True when the file is empty.
    fn is_empty(&self) -> io::Result<bool> {
        Ok(self.len()? == 0)
    }
    /// Fill `buf` from `pos`; fewer bytes than asked is an `UnexpectedEof`.
    fn read_exact_at(&self, pos: u64, buf: &mut [u8]) -> io::Result<()>;
    /// Append at the end.
    fn append(&mut self, data: &[u8]) -> io::Result<()>;
    /// Cut (or extend with zeros) to `len` bytes.
    fn set_len(&mut self, len: u64) -> io::Result<()>;
    /// Make the contents durable (fsync).
    fn sync(&mut self) -> io::Result<()>;

    /// Read `len` bytes from `pos`.
    fn read_vec_at(&self, pos: u64, len: usize) -> io::Result<Vec<u8>> {
        let mut v = vec![0u8; len];
        self.read_exact_at(pos, &mut v)?;
        Ok(v)
    }
    /// The whole file.
    fn read_all(&self) -> io::Result<Vec<u8>> {
        let len = usize::try_from(self.len()?)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "file too large"))?;
        self.read_vec_at(0, len)
    }
}

/// A directory tree of files.
pub trait FileSystem: Send + Sync + Debug {
    /// Open for reading and appending, creating it if `create` (parent
    /// directory must exist). The new name is durable after `sync_dir`.
    fn open(&self, path: &Path, create: bool) -> io::Result<Box<dyn File>>;
    /// Does the path exist (file or directory)?
    fn exists(&self, path: &Path) -> bool;
    /// Create a directory and its parents.
    fn create_dir_all(&self, path: &Path) -> io::Result<()>;
    /// Full paths of the entries of a directory, sorted by name.
    fn list_dir(&self, path: &Path) -> io::Result<Vec<PathBuf>>;
    /// Is this path a directory?
    fn is_dir(&self, path: &Path) -> bool;
    /// Remove a file.
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Remove a directory and everything under it.
    fn remove_dir_all(&self, path: &Path) -> io::Result<()>;
    /// Atomically replace `to` with `from`.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// fsync a directory so creates, renames and removes in it are durable.
    fn sync_dir(&self, path: &Path) -> io::Result<()>;

    /// Read a whole file.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.open(path, false)?.read_all()
    }

    /// Replace a file's contents crash-safely: write `<path>.tmp`, fsync,
    /// rename over `path`, fsync the directory (how Kafka writes its
    /// checkpoint files).
    fn write_atomic(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        let mut tmp_name = path.as_os_str().to_owned();
        tmp_name.push(".tmp");
        let tmp = PathBuf::from(tmp_name);
        if self.exists(&tmp) {
            self.remove_file(&tmp)?;
        }
        {
            let mut f = self.open(&tmp, true)?;
            f.append(data)?;
            f.sync()?;
        }
        self.rename(&tmp, path)?;
        let dir = path.parent().unwrap_or_else(|| Path::new("."));
        self.sync_dir(dir)
    }
}

/// A shared handle to a file system.
pub type Fs = Arc<dyn FileSystem>;

/// The real file system (std::fs).
#[derive(Debug, Default, Clone, Copy)]
pub struct RealFs;

impl RealFs {
    /// A shared handle to the real file system.
    pub fn shared() -> Fs {
        Arc::new(RealFs)
    }
}

#[derive(Debug)]
struct RealFile {
    file: std::fs::File,
}

impl File for RealFile {
    fn len(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }

    fn read_exact_at(&self, pos: u64, buf: &mut [u8]) -> io::Result<()> {
        std::os::unix::fs::FileExt::read_exact_at(&self.file, buf, pos)
    }

    fn append(&mut self, data: &[u8]) -> io::Result<()> {
        io::Write::write_all(&mut self.file, data)
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.file.set_len(len)
    }

    fn sync(&mut self) -> io::Result<()> {
        self.file.sync_data()
    }
}

impl FileSystem for RealFs {
    fn open(&self, path: &Path, create: bool) -> io::Result<Box<dyn File>> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .append(true)
            .create(create)
            .open(path)?;
        Ok(Box::new(RealFile { file }))
    }

    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }

    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        std::fs::create_dir_all(path)
    }

    fn list_dir(&self, path: &Path) -> io::Result<Vec<PathBuf>> {
        let mut v = std::fs::read_dir(path)?
            .map(|e| e.map(|e| e.path()))
            .collect::<io::Result<Vec<_>>>()?;
        v.sort();
        Ok(v)
    }

    fn is_dir(&self, path: &Path) -> bool {
        path.is_dir()
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }

    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_dir_all(path)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        std::fs::File::open(path)?.sync_all()
    }
}
