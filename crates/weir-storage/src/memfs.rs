//! An in-memory [`FileSystem`] that injects faults: power loss that drops
//! unsynced bytes and names, torn writes, failed fsyncs, a full disk and bit
//! flips. Tests and the deterministic simulator (DESIGN.md section 7) run the
//! real storage code on it; TigerBeetle's `src/testing/storage.zig` is the
//! model.
//!
//! # The model
//!
//! Like POSIX, a file is an inode reached through names. Each inode has
//! `current` contents (what reads see) and `durable` contents (what survives
//! a crash); [`File::sync`] copies the first to the second. Names work the
//! same way: a create, rename or remove changes the current name table at
//! once, and reaches the durable one only when the parent directory is
//! fsynced with [`FileSystem::sync_dir`]. So a file that was written and
//! synced, but whose directory never was, vanishes in a crash, exactly the
//! bug class a real disk punishes.
//!
//! Directories themselves are simpler: `create_dir_all`, `remove_dir_all`
//! and renaming a directory are durable at once. The log creates partition
//! directories rarely and Kafka fsyncs the parent right after, so modelling
//! their loss buys little.
//!
//! All randomness (torn writes) comes from a seed, so a failing run replays.

use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::fs::{File, FileSystem};

/// The in-memory, fault-injecting file system. Cheap to share: use it as a
/// [`crate::fs::Fs`] by cloning the `Arc` that [`MemFs::new`] returns.
pub struct MemFs {
    state: Arc<Mutex<State>>,
}

type InodeId = u64;

#[derive(Default)]
struct Inode {
    /// What reads see.
    current: Vec<u8>,
    /// What survives a crash.
    durable: Vec<u8>,
    /// Handles of the current crash generation that refer to this inode; an
    /// inode with no names and no handles is freed.
    open_handles: usize,
}

#[derive(Default)]
struct State {
    /// Bumped by every crash; handles from an older generation are dead.
    generation: u64,
    next_inode: InodeId,
    /// A `BTreeMap` so crashes visit inodes in a fixed order (replayable).
    inodes: BTreeMap<InodeId, Inode>,
    /// Current names of files.
    names: BTreeMap<PathBuf, InodeId>,
    /// Names that survive a crash.
    durable_names: BTreeMap<PathBuf, InodeId>,
    /// Directories (always durable, see the module docs).
    dirs: BTreeSet<PathBuf>,
    /// How many of the next syncs fail.
    failing_syncs: usize,
    /// Capacity of the disk in bytes (sum of current file lengths).
    write_limit: Option<u64>,
    /// A crash scheduled after this many more mutating operations.
    crash_countdown: Option<(u64, Option<u64>)>,
}

/// The error every call on a handle opened before a crash returns.
fn stale_handle() -> io::Error {
    io::Error::other("memfs: file handle was opened before a simulated crash")
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("memfs: {} not found", path.display()),
    )
}

fn is_a_directory(path: &Path) -> io::Error {
    io::Error::other(format!("memfs: {} is a directory", path.display()))
}

/// `a//b/./c/` and `a/b/c` are the same name.
fn normalize(path: &Path) -> PathBuf {
    path.components().collect()
}

/// The parent directory, with `""` for a relative name at the top.
fn parent_of(path: &Path) -> &Path {
    path.parent().unwrap_or_else(|| Path::new(""))
}

/// SplitMix64: a tiny, well-mixed PRNG; enough for picking torn lengths.
#[derive(Debug)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform enough in `0..=max` for fault injection.
    fn up_to(&mut self, max: usize) -> usize {
        let bound = (max as u64).saturating_add(1);
        let pick = if bound == 0 {
            self.next_u64()
        } else {
            self.next_u64() % bound
        };
        usize::try_from(pick).unwrap_or(max)
    }
}

impl State {
    fn dir_exists(&self, path: &Path) -> bool {
        path.as_os_str().is_empty() || path == Path::new("/") || self.dirs.contains(path)
    }

    /// Count one mutating operation; when a scheduled crash comes due, crash
    /// instead and fail the operation, as if the power went out during it.
    fn tick(&mut self) -> io::Result<()> {
        let Some((left, seed)) = self.crash_countdown else {
            return Ok(());
        };
        if left > 0 {
            self.crash_countdown = Some((left - 1, seed));
            return Ok(());
        }
        self.crash_countdown = None;
        self.crash(seed);
        Err(io::Error::other(
            "memfs: simulated crash during this operation",
        ))
    }

    /// Power loss: see [`MemFs::crash`].
    fn crash(&mut self, torn_seed: Option<u64>) {
        self.generation += 1;
        self.names = self.durable_names.clone();
        let mut rng = torn_seed.map(SplitMix64);
        for inode in self.inodes.values_mut() {
            let kept = kept_after_crash(inode, rng.as_mut());
            inode.current.clone_from(&kept);
            inode.durable = kept;
            inode.open_handles = 0;
        }
        let named: BTreeSet<InodeId> = self.names.values().copied().collect();
        self.inodes.retain(|id, _| named.contains(id));
    }

    /// Take one sync's worth of the `fail_next_syncs` budget.
    fn sync_fails(&mut self) -> bool {
        if self.failing_syncs == 0 {
            return false;
        }
        self.failing_syncs -= 1;
        true
    }

    fn used_bytes(&self) -> u64 {
        self.inodes.values().map(|i| i.current.len() as u64).sum()
    }

    /// Refuse growth by `extra` bytes beyond the disk's capacity.
    fn check_space(&self, extra: u64) -> io::Result<()> {
        let Some(limit) = self.write_limit else {
            return Ok(());
        };
        if self.used_bytes().saturating_add(extra) > limit {
            return Err(io::Error::other(format!(
                "memfs: no space left on device (capacity {limit} bytes)"
            )));
        }
        Ok(())
    }

    /// Free an inode once nothing can reach it any more.
    fn gc(&mut self, id: InodeId) {
        let open = self.inodes.get(&id).is_some_and(|i| i.open_handles > 0);
        let named =
            self.names.values().any(|&n| n == id) || self.durable_names.values().any(|&n| n == id);
        if !open && !named {
            self.inodes.remove(&id);
        }
    }

    fn file_mut(&mut self, path: &Path) -> io::Result<&mut Inode> {
        let id = *self.names.get(path).ok_or_else(|| not_found(path))?;
        self.inodes.get_mut(&id).ok_or_else(|| not_found(path))
    }

    fn new_inode(&mut self) -> InodeId {
        let id = self.next_inode;
        self.next_inode += 1;
        self.inodes.insert(id, Inode::default());
        id
    }

    fn rename_file(&mut self, from: &Path, to: PathBuf, id: InodeId) -> io::Result<()> {
        if self.dirs.contains(&to) {
            return Err(is_a_directory(&to));
        }
        self.names.remove(from);
        if let Some(old) = self.names.insert(to, id) {
            self.gc(old);
        }
        Ok(())
    }

    /// Move a directory and everything under it, durably (module docs).
    fn rename_dir(&mut self, from: &Path, to: &Path) -> io::Result<()> {
        if self.names.contains_key(to) || self.dirs.contains(to) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("memfs: {} already exists", to.display()),
            ));
        }
        if to.starts_with(from) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "memfs: cannot move a directory into itself",
            ));
        }
        let moved = |p: &PathBuf| match p.strip_prefix(from) {
            Ok(rest) if rest.as_os_str().is_empty() => to.to_path_buf(),
            Ok(rest) => to.join(rest),
            Err(_) => p.clone(),
        };
        self.dirs = self.dirs.iter().map(moved).collect();
        self.names = self.names.iter().map(|(p, &i)| (moved(p), i)).collect();
        self.durable_names = self
            .durable_names
            .iter()
            .map(|(p, &i)| (moved(p), i))
            .collect();
        Ok(())
    }
}

/// What a file holds after power loss: its durable contents, plus with a
/// seed a random prefix of what was appended since (a torn write). A file
/// that was cut or rewritten since its last sync just reverts.
fn kept_after_crash(inode: &Inode, rng: Option<&mut SplitMix64>) -> Vec<u8> {
    let mut kept = inode.durable.clone();
    let Some(rng) = rng else {
        return kept;
    };
    let Some(appended) = inode.current.strip_prefix(inode.durable.as_slice()) else {
        return kept;
    };
    let n = rng.up_to(appended.len());
    kept.extend_from_slice(&appended[..n]);
    kept
}

impl MemFs {
    /// An empty file system (only the roots `/` and `""` exist).
    pub fn new() -> Arc<MemFs> {
        Arc::new(MemFs {
            state: Arc::new(Mutex::new(State::default())),
        })
    }

    /// A poisoned lock only means another test thread panicked; the state
    /// is still consistent (every mutation completes under the lock).
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Simulate power loss. Every file reverts to its durable contents and
    /// the namespace to its durable names. With `Some(seed)`, each file
    /// instead keeps its durable contents plus a seeded-random prefix of the
    /// bytes appended since (a torn write). Every handle opened before the
    /// crash fails from now on.
    pub fn crash(&self, torn_seed: Option<u64>) {
        self.lock().crash(torn_seed);
    }

    /// Crash in the middle of the mutating operation after the next
    /// `after_ops` ones (appends, `set_len`, syncs, creates, renames,
    /// removes): that operation does not happen and returns an error, as
    /// does every later call on handles opened before it. Stepping
    /// `after_ops` through 0, 1, 2, ... crashes a multi-step write (like
    /// [`FileSystem::write_atomic`]) at every point in turn.
    pub fn schedule_crash(&self, after_ops: u64, torn_seed: Option<u64>) {
        self.lock().crash_countdown = Some((after_ops, torn_seed));
    }

    /// The next `n` calls of [`File::sync`] or [`FileSystem::sync_dir`] fail
    /// and make nothing durable (a failed fsync).
    pub fn fail_next_syncs(&self, n: usize) {
        self.lock().failing_syncs = n;
    }

    /// Capacity of the disk: growing files beyond a total of `limit` bytes
    /// fails and writes nothing (disk full). `None` is unlimited.
    pub fn set_write_limit(&self, limit: Option<u64>) {
        self.lock().write_limit = limit;
    }

    /// XOR the byte at `pos` with `xor` in both the current and the durable
    /// contents: corruption on the medium, which survives a crash.
    pub fn corrupt_byte(&self, path: &Path, pos: u64, xor: u8) -> io::Result<()> {
        let path = normalize(path);
        let mut st = self.lock();
        let inode = st.file_mut(&path)?;
        let pos = usize::try_from(pos).unwrap_or(usize::MAX);
        let byte = inode.current.get_mut(pos).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "memfs: corrupt_byte past the end",
            )
        })?;
        *byte ^= xor;
        if let Some(byte) = inode.durable.get_mut(pos) {
            *byte ^= xor;
        }
        Ok(())
    }

    /// Cut both the current and the durable contents to at most `len` bytes
    /// (lost sectors at the end of a file).
    pub fn truncate_file(&self, path: &Path, len: u64) -> io::Result<()> {
        let path = normalize(path);
        let mut st = self.lock();
        let inode = st.file_mut(&path)?;
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        inode.current.truncate(len);
        inode.durable.truncate(len);
        Ok(())
    }

    /// Current length of a file.
    pub fn file_len(&self, path: &Path) -> io::Result<u64> {
        let path = normalize(path);
        let mut st = self.lock();
        Ok(st.file_mut(&path)?.current.len() as u64)
    }
}

impl fmt::Debug for MemFs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.lock();
        f.debug_struct("MemFs")
            .field("generation", &st.generation)
            .field("files", &st.names.len())
            .field("dirs", &st.dirs.len())
            .finish_non_exhaustive()
    }
}

impl FileSystem for MemFs {
    fn open(&self, path: &Path, create: bool) -> io::Result<Box<dyn File>> {
        let path = normalize(path);
        let mut st = self.lock();
        if st.dirs.contains(&path) {
            return Err(is_a_directory(&path));
        }
        let id = match st.names.get(&path) {
            Some(&id) => id,
            None if !create => return Err(not_found(&path)),
            None => create_file(&mut st, path)?,
        };
        if let Some(inode) = st.inodes.get_mut(&id) {
            inode.open_handles += 1;
        }
        Ok(Box::new(MemFile {
            state: Arc::clone(&self.state),
            inode: id,
            generation: st.generation,
        }))
    }

    fn exists(&self, path: &Path) -> bool {
        let path = normalize(path);
        let st = self.lock();
        st.names.contains_key(&path) || st.dir_exists(&path)
    }

    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        let path = normalize(path);
        let mut st = self.lock();
        st.tick()?;
        let new: Vec<PathBuf> = path
            .ancestors()
            .filter(|a| !st.dir_exists(a))
            .map(Path::to_path_buf)
            .collect();
        if let Some(file) = new.iter().find(|d| st.names.contains_key(*d)) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("memfs: {} is a file", file.display()),
            ));
        }
        st.dirs.extend(new);
        Ok(())
    }

    fn list_dir(&self, path: &Path) -> io::Result<Vec<PathBuf>> {
        let path = normalize(path);
        let st = self.lock();
        if !st.dir_exists(&path) {
            return Err(not_found(&path));
        }
        let files = st.names.keys();
        let dirs = st.dirs.iter();
        let mut v: Vec<PathBuf> = files
            .chain(dirs)
            .filter(|p| p.as_path() != path && parent_of(p) == path)
            .cloned()
            .collect();
        v.sort();
        Ok(v)
    }

    fn is_dir(&self, path: &Path) -> bool {
        self.lock().dir_exists(&normalize(path))
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let path = normalize(path);
        let mut st = self.lock();
        if st.dirs.contains(&path) {
            return Err(is_a_directory(&path));
        }
        let id = *st.names.get(&path).ok_or_else(|| not_found(&path))?;
        st.tick()?;
        st.names.remove(&path);
        st.gc(id);
        Ok(())
    }

    fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        let path = normalize(path);
        let mut st = self.lock();
        if !st.dirs.contains(&path) {
            return Err(not_found(&path));
        }
        st.tick()?;
        st.dirs.retain(|d| !d.starts_with(&path));
        let gone: Vec<InodeId> = st
            .names
            .iter()
            .chain(st.durable_names.iter())
            .filter(|(p, _)| p.starts_with(&path))
            .map(|(_, &id)| id)
            .collect();
        st.names.retain(|p, _| !p.starts_with(&path));
        st.durable_names.retain(|p, _| !p.starts_with(&path));
        for id in gone {
            st.gc(id);
        }
        Ok(())
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let (from, to) = (normalize(from), normalize(to));
        let mut st = self.lock();
        if !st.dir_exists(parent_of(&to)) {
            return Err(not_found(parent_of(&to)));
        }
        if st.dirs.contains(&from) {
            st.tick()?;
            return st.rename_dir(&from, &to);
        }
        let id = *st.names.get(&from).ok_or_else(|| not_found(&from))?;
        st.tick()?;
        if from == to {
            return Ok(());
        }
        st.rename_file(&from, to, id)
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        let path = normalize(path);
        let mut st = self.lock();
        if !st.dir_exists(&path) {
            return Err(not_found(&path));
        }
        st.tick()?;
        if st.sync_fails() {
            return Err(io::Error::other(
                "memfs: injected fsync failure (directory)",
            ));
        }
        let st = &mut *st;
        let in_dir = |p: &PathBuf| parent_of(p) == path;
        st.durable_names.retain(|p, _| !in_dir(p));
        let now: Vec<(PathBuf, InodeId)> = st
            .names
            .iter()
            .filter(|(p, _)| in_dir(p))
            .map(|(p, &id)| (p.clone(), id))
            .collect();
        st.durable_names.extend(now);
        let ids: Vec<InodeId> = st.inodes.keys().copied().collect();
        for id in ids {
            st.gc(id);
        }
        Ok(())
    }
}

/// Create an empty file named `path`; its parent directory must exist.
fn create_file(st: &mut State, path: PathBuf) -> io::Result<InodeId> {
    if !st.dir_exists(parent_of(&path)) {
        return Err(not_found(parent_of(&path)));
    }
    st.tick()?;
    let id = st.new_inode();
    st.names.insert(path, id);
    Ok(id)
}

/// An open file of a [`MemFs`]: an inode plus the crash generation it was
/// opened in.
struct MemFile {
    state: Arc<Mutex<State>>,
    inode: InodeId,
    generation: u64,
}

impl MemFile {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Run `f` on the state and this file's inode, if the handle is live.
    fn with<T>(&self, f: impl FnOnce(&mut State, InodeId) -> io::Result<T>) -> io::Result<T> {
        let mut st = self.lock();
        if st.generation != self.generation || !st.inodes.contains_key(&self.inode) {
            return Err(stale_handle());
        }
        f(&mut st, self.inode)
    }
}

/// The inode of a live handle (checked by [`MemFile::with`]).
fn inode(st: &mut State, id: InodeId) -> io::Result<&mut Inode> {
    st.inodes.get_mut(&id).ok_or_else(stale_handle)
}

impl fmt::Debug for MemFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemFile")
            .field("inode", &self.inode)
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

impl File for MemFile {
    fn len(&self) -> io::Result<u64> {
        self.with(|st, id| Ok(inode(st, id)?.current.len() as u64))
    }

    fn read_exact_at(&self, pos: u64, buf: &mut [u8]) -> io::Result<()> {
        self.with(|st, id| {
            let data = &inode(st, id)?.current;
            let eof = || io::Error::new(io::ErrorKind::UnexpectedEof, "memfs: read past the end");
            let start = usize::try_from(pos).map_err(|_| eof())?;
            let end = start.checked_add(buf.len()).ok_or_else(eof)?;
            buf.copy_from_slice(data.get(start..end).ok_or_else(eof)?);
            Ok(())
        })
    }

    fn append(&mut self, data: &[u8]) -> io::Result<()> {
        self.with(|st, id| {
            st.check_space(data.len() as u64)?;
            st.tick()?;
            inode(st, id)?.current.extend_from_slice(data);
            Ok(())
        })
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.with(|st, id| {
            let new_len =
                usize::try_from(len).map_err(|_| io::Error::other("memfs: length too large"))?;
            let old_len = inode(st, id)?.current.len();
            st.check_space(new_len.saturating_sub(old_len) as u64)?;
            st.tick()?;
            inode(st, id)?.current.resize(new_len, 0);
            Ok(())
        })
    }

    fn sync(&mut self) -> io::Result<()> {
        self.with(|st, id| {
            st.tick()?;
            if st.sync_fails() {
                return Err(io::Error::other("memfs: injected fsync failure"));
            }
            let inode = inode(st, id)?;
            inode.durable.clone_from(&inode.current);
            Ok(())
        })
    }
}

impl Drop for MemFile {
    fn drop(&mut self) {
        let mut st = self.lock();
        if st.generation != self.generation {
            return;
        }
        if let Some(inode) = st.inodes.get_mut(&self.inode) {
            inode.open_handles = inode.open_handles.saturating_sub(1);
        }
        st.gc(self.inode);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::Fs;

    fn p(s: &str) -> PathBuf {
        PathBuf::from(s)
    }

    /// A file system with the directory `/d`.
    fn fs_with_dir() -> Arc<MemFs> {
        let fs = MemFs::new();
        fs.create_dir_all(&p("/d")).unwrap();
        fs
    }

    fn write_file(fs: &MemFs, path: &str, data: &[u8], sync: bool) {
        let mut f = fs.open(&p(path), true).unwrap();
        f.append(data).unwrap();
        if sync {
            f.sync().unwrap();
        }
    }

    #[test]
    fn usable_as_shared_fs() {
        let mem = fs_with_dir();
        let fs: Fs = mem.clone();
        fs.write_atomic(&p("/d/x"), b"hi").unwrap();
        assert_eq!(mem.file_len(&p("/d/x")).unwrap(), 2);
    }

    #[test]
    fn open_missing_file_without_create_is_not_found() {
        let fs = fs_with_dir();
        let err = fs.open(&p("/d/nope"), false).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn create_in_missing_dir_is_not_found() {
        let fs = fs_with_dir();
        let err = fs.open(&p("/nodir/x"), true).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(!fs.exists(&p("/nodir/x")));
    }

    #[test]
    fn read_write_and_set_len() {
        let fs = fs_with_dir();
        let mut f = fs.open(&p("/d/x"), true).unwrap();
        f.append(b"hello").unwrap();
        f.append(b" world").unwrap();
        assert_eq!(f.read_vec_at(6, 5).unwrap(), b"world");
        f.set_len(4).unwrap();
        assert_eq!(f.read_all().unwrap(), b"hell");
        f.set_len(6).unwrap();
        assert_eq!(f.read_all().unwrap(), b"hell\0\0");
        assert_eq!(fs.read(&p("/d/x")).unwrap(), b"hell\0\0");
    }

    #[test]
    fn read_past_end_is_unexpected_eof() {
        let fs = fs_with_dir();
        write_file(&fs, "/d/x", b"abc", false);
        let f = fs.open(&p("/d/x"), false).unwrap();
        let mut buf = [0u8; 2];
        let err = f.read_exact_at(2, &mut buf).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        let err = f.read_exact_at(u64::MAX, &mut buf).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn list_dir_gives_sorted_full_paths_of_direct_children() {
        let fs = fs_with_dir();
        fs.create_dir_all(&p("/d/sub/deeper")).unwrap();
        write_file(&fs, "/d/b", b"", false);
        write_file(&fs, "/d/a", b"", false);
        write_file(&fs, "/d/sub/c", b"", false);
        assert_eq!(
            fs.list_dir(&p("/d")).unwrap(),
            vec![p("/d/a"), p("/d/b"), p("/d/sub")]
        );
        assert_eq!(
            fs.list_dir(&p("/d/sub")).unwrap(),
            vec![p("/d/sub/c"), p("/d/sub/deeper")]
        );
        assert_eq!(
            fs.list_dir(&p("/missing")).unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
    }

    #[test]
    fn paths_are_normalized() {
        let fs = fs_with_dir();
        write_file(&fs, "/d//x", b"1", false);
        assert!(fs.exists(&p("/d/./x")));
        assert_eq!(fs.list_dir(&p("/d/")).unwrap(), vec![p("/d/x")]);
    }

    #[test]
    fn rename_over_existing_name_replaces_it() {
        let fs = fs_with_dir();
        write_file(&fs, "/d/a", b"new", false);
        write_file(&fs, "/d/b", b"old", false);
        fs.rename(&p("/d/a"), &p("/d/b")).unwrap();
        assert_eq!(fs.read(&p("/d/b")).unwrap(), b"new");
        assert!(!fs.exists(&p("/d/a")));
        assert_eq!(fs.list_dir(&p("/d")).unwrap(), vec![p("/d/b")]);
    }

    #[test]
    fn rename_missing_is_not_found() {
        let fs = fs_with_dir();
        let err = fs.rename(&p("/d/a"), &p("/d/b")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn rename_dir_moves_everything_under_it() {
        let fs = fs_with_dir();
        fs.create_dir_all(&p("/d/t-0/sub")).unwrap();
        write_file(&fs, "/d/t-0/x", b"1", true);
        fs.sync_dir(&p("/d/t-0")).unwrap();
        fs.rename(&p("/d/t-0"), &p("/d/t-0.delete")).unwrap();
        assert!(!fs.exists(&p("/d/t-0")));
        assert!(fs.is_dir(&p("/d/t-0.delete/sub")));
        fs.crash(None);
        assert_eq!(fs.read(&p("/d/t-0.delete/x")).unwrap(), b"1");
    }

    #[test]
    fn remove_file_and_remove_dir_all() {
        let fs = fs_with_dir();
        fs.create_dir_all(&p("/d/sub")).unwrap();
        write_file(&fs, "/d/sub/x", b"1", true);
        write_file(&fs, "/d/y", b"2", true);
        fs.remove_file(&p("/d/y")).unwrap();
        assert!(!fs.exists(&p("/d/y")));
        assert_eq!(
            fs.remove_file(&p("/d/y")).unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
        fs.remove_dir_all(&p("/d/sub")).unwrap();
        assert!(!fs.exists(&p("/d/sub/x")));
        assert!(!fs.is_dir(&p("/d/sub")));
        assert_eq!(fs.list_dir(&p("/d")).unwrap(), Vec::<PathBuf>::new());
    }

    #[test]
    fn removed_dir_stays_removed_after_crash() {
        let fs = fs_with_dir();
        fs.create_dir_all(&p("/d/sub")).unwrap();
        write_file(&fs, "/d/sub/x", b"1", true);
        fs.sync_dir(&p("/d/sub")).unwrap();
        fs.remove_dir_all(&p("/d/sub")).unwrap();
        fs.crash(None);
        assert!(!fs.exists(&p("/d/sub/x")));
        assert!(!fs.exists(&p("/d/sub")));
    }

    #[test]
    fn unsynced_appends_vanish_on_crash_synced_ones_survive() {
        let fs = fs_with_dir();
        let mut f = fs.open(&p("/d/x"), true).unwrap();
        fs.sync_dir(&p("/d")).unwrap();
        f.append(b"durable").unwrap();
        f.sync().unwrap();
        f.append(b"-lost").unwrap();
        fs.crash(None);
        assert_eq!(fs.read(&p("/d/x")).unwrap(), b"durable");
    }

    #[test]
    fn file_whose_dir_was_never_synced_vanishes_on_crash() {
        let fs = fs_with_dir();
        write_file(&fs, "/d/x", b"data", true);
        fs.crash(None);
        assert!(!fs.exists(&p("/d/x")));
        assert!(fs.is_dir(&p("/d")), "directories are durable at once");
    }

    #[test]
    fn unsynced_remove_and_rename_are_undone_by_crash() {
        let fs = fs_with_dir();
        write_file(&fs, "/d/a", b"A", true);
        write_file(&fs, "/d/b", b"B", true);
        fs.sync_dir(&p("/d")).unwrap();
        fs.remove_file(&p("/d/a")).unwrap();
        fs.rename(&p("/d/b"), &p("/d/c")).unwrap();
        fs.crash(None);
        assert_eq!(fs.list_dir(&p("/d")).unwrap(), vec![p("/d/a"), p("/d/b")]);
        assert_eq!(fs.read(&p("/d/a")).unwrap(), b"A");
        assert_eq!(fs.read(&p("/d/b")).unwrap(), b"B");
    }

    #[test]
    fn sync_dir_covers_only_direct_children() {
        let fs = fs_with_dir();
        fs.create_dir_all(&p("/d/sub")).unwrap();
        write_file(&fs, "/d/x", b"1", true);
        write_file(&fs, "/d/sub/y", b"2", true);
        fs.sync_dir(&p("/d")).unwrap();
        fs.crash(None);
        assert!(fs.exists(&p("/d/x")));
        assert!(!fs.exists(&p("/d/sub/y")));
    }

    #[test]
    fn handles_from_before_a_crash_fail_every_call() {
        let fs = fs_with_dir();
        let mut f = fs.open(&p("/d/x"), true).unwrap();
        fs.sync_dir(&p("/d")).unwrap();
        fs.crash(None);
        let mut buf = [0u8; 0];
        assert!(f.len().is_err());
        assert!(f.read_exact_at(0, &mut buf).is_err());
        assert!(f.append(b"x").is_err());
        assert!(f.set_len(0).is_err());
        assert!(f.sync().is_err());
        let mut g = fs.open(&p("/d/x"), false).unwrap();
        g.append(b"ok").unwrap();
        drop(f);
        assert_eq!(fs.read(&p("/d/x")).unwrap(), b"ok");
    }

    #[test]
    fn failed_syncs_make_nothing_durable() {
        let fs = fs_with_dir();
        let mut f = fs.open(&p("/d/x"), true).unwrap();
        f.append(b"abc").unwrap();
        fs.fail_next_syncs(2);
        assert!(f.sync().is_err());
        assert!(fs.sync_dir(&p("/d")).is_err());
        fs.crash(None);
        assert!(!fs.exists(&p("/d/x")));
    }

    #[test]
    fn failed_file_sync_keeps_old_durable_contents() {
        let fs = fs_with_dir();
        let mut f = fs.open(&p("/d/x"), true).unwrap();
        fs.sync_dir(&p("/d")).unwrap();
        f.append(b"abc").unwrap();
        f.sync().unwrap();
        f.append(b"def").unwrap();
        fs.fail_next_syncs(1);
        assert!(f.sync().is_err());
        f.sync().unwrap();
        fs.crash(None);
        assert_eq!(fs.read(&p("/d/x")).unwrap(), b"abcdef");
    }

    #[test]
    fn write_limit_fails_appends_and_writes_nothing() {
        let fs = fs_with_dir();
        fs.set_write_limit(Some(10));
        let mut f = fs.open(&p("/d/x"), true).unwrap();
        f.append(b"12345678").unwrap();
        assert!(f.append(b"abc").is_err());
        assert_eq!(f.read_all().unwrap(), b"12345678");
        assert!(f.set_len(11).is_err());
        f.append(b"90").unwrap();
        f.set_len(4).unwrap();
        f.append(b"abcdef").unwrap();
        fs.set_write_limit(None);
        f.append(b"more").unwrap();
        assert_eq!(f.read_all().unwrap(), b"1234abcdefmore");
    }

    #[test]
    fn corrupt_byte_flips_current_and_durable() {
        let fs = fs_with_dir();
        write_file(&fs, "/d/x", b"abc", true);
        fs.sync_dir(&p("/d")).unwrap();
        fs.corrupt_byte(&p("/d/x"), 1, 0x01).unwrap();
        assert_eq!(fs.read(&p("/d/x")).unwrap(), b"acc");
        fs.crash(None);
        assert_eq!(fs.read(&p("/d/x")).unwrap(), b"acc");
        assert!(fs.corrupt_byte(&p("/d/x"), 3, 1).is_err());
        assert!(fs.corrupt_byte(&p("/d/nope"), 0, 1).is_err());
    }

    #[test]
    fn truncate_file_cuts_current_and_durable() {
        let fs = fs_with_dir();
        write_file(&fs, "/d/x", b"abcdef", true);
        fs.sync_dir(&p("/d")).unwrap();
        fs.truncate_file(&p("/d/x"), 2).unwrap();
        assert_eq!(fs.file_len(&p("/d/x")).unwrap(), 2);
        fs.crash(None);
        assert_eq!(fs.read(&p("/d/x")).unwrap(), b"ab");
    }

    /// Durable "abc", then "defghij" appended without a sync, then a torn
    /// crash with `seed`: what is left.
    fn torn_result(seed: u64) -> Vec<u8> {
        let fs = fs_with_dir();
        write_file(&fs, "/d/x", b"abc", true);
        fs.sync_dir(&p("/d")).unwrap();
        fs.open(&p("/d/x"), false)
            .unwrap()
            .append(b"defghij")
            .unwrap();
        fs.crash(Some(seed));
        fs.read(&p("/d/x")).unwrap()
    }

    #[test]
    fn torn_crash_keeps_a_seeded_prefix_of_unsynced_appends() {
        let all = b"abcdefghij";
        let mut lens = BTreeSet::new();
        for seed in 0..64 {
            let got = torn_result(seed);
            assert!(
                got.len() >= 3 && all.starts_with(&got),
                "seed {seed}: {got:?}"
            );
            assert_eq!(got, torn_result(seed), "seed {seed} must replay");
            lens.insert(got.len());
        }
        assert!(lens.len() > 3, "torn lengths should vary: {lens:?}");
        assert!(lens.iter().any(|&n| n > 3 && n < all.len()));
    }

    #[test]
    fn write_atomic_survives_a_crash() {
        let fs = fs_with_dir();
        fs.write_atomic(&p("/d/cp"), b"v1").unwrap();
        fs.crash(Some(7));
        assert_eq!(fs.read(&p("/d/cp")).unwrap(), b"v1");
        assert_eq!(fs.list_dir(&p("/d")).unwrap(), vec![p("/d/cp")]);
    }

    /// Crash `write_atomic` at each of its steps in turn: the file always
    /// holds the old or the new contents, never a mix or nothing.
    #[test]
    fn write_atomic_crashed_midway_leaves_old_or_new() {
        let mut outcomes = BTreeSet::new();
        for seed in [None, Some(1), Some(2)] {
            for after_ops in 0..10 {
                let fs = fs_with_dir();
                fs.write_atomic(&p("/d/cp"), b"old contents").unwrap();
                fs.schedule_crash(after_ops, seed);
                let finished = fs.write_atomic(&p("/d/cp"), b"new!").is_ok();
                fs.crash(seed);
                let got = fs.read(&p("/d/cp")).unwrap();
                assert!(
                    got == b"old contents" || got == b"new!",
                    "after_ops {after_ops}: {got:?}"
                );
                if finished {
                    assert_eq!(got, b"new!");
                }
                outcomes.insert(got);
            }
        }
        assert_eq!(outcomes.len(), 2, "both outcomes should occur");
    }

    #[test]
    fn write_atomic_with_failed_sync_keeps_old_contents() {
        let fs = fs_with_dir();
        fs.write_atomic(&p("/d/cp"), b"old").unwrap();
        fs.fail_next_syncs(1);
        assert!(fs.write_atomic(&p("/d/cp"), b"new").is_err());
        fs.crash(None);
        assert_eq!(fs.read(&p("/d/cp")).unwrap(), b"old");
    }

    #[test]
    fn create_dir_all_over_a_file_fails() {
        let fs = fs_with_dir();
        write_file(&fs, "/d/x", b"", false);
        assert!(fs.create_dir_all(&p("/d/x/y")).is_err());
        assert!(fs.open(&p("/d"), true).is_err());
        assert!(fs.remove_file(&p("/d")).is_err());
    }

    #[test]
    fn unreachable_inodes_are_freed() {
        let fs = fs_with_dir();
        for i in 0..20 {
            fs.write_atomic(&p("/d/cp"), format!("v{i}").as_bytes())
                .unwrap();
        }
        assert_eq!(fs.lock().inodes.len(), 1);
    }
}
