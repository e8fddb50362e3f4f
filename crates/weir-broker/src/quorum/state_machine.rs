//! The Raft state machine: committed entries applied to a
//! [`MetadataImage`]; a snapshot is the serialized image.
//!
//! The image itself is not written on every apply: after a restart
//! openraft replays the log from the last snapshot. A snapshot is kept in
//! `<dir>/snapshot.json` (meta + image), replaced atomically.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use openraft::storage::RaftStateMachine;
use openraft::{
    AnyError, BasicNode, Entry, EntryPayload, LogId, RaftSnapshotBuilder, Snapshot, SnapshotMeta,
    StorageError, StorageIOError, StoredMembership,
};
use serde::{Deserialize, Serialize};
use weir_core::metadata::MetadataImage;
use weir_storage::fs::Fs;

use super::{NodeId, TypeConfig};

const SNAPSHOT_FILE: &str = "snapshot.json";

/// What `snapshot.json` holds.
#[derive(Serialize, Deserialize, Debug)]
struct SnapshotFile {
    meta: SnapshotMeta<NodeId, BasicNode>,
    image: MetadataImage,
}

#[derive(Debug, Clone)]
struct StoredSnapshot {
    meta: SnapshotMeta<NodeId, BasicNode>,
    /// The image as JSON (the snapshot data openraft ships).
    data: Vec<u8>,
}

/// Shared by the state machine and its snapshot builders.
#[derive(Debug)]
struct Shared {
    fs: Fs,
    dir: PathBuf,
    current: Mutex<Option<StoredSnapshot>>,
    snapshot_seq: Mutex<u64>,
}

impl Shared {
    /// Persist a snapshot and make it the current one, unless a newer one
    /// (installed meanwhile) is already current. Answers the image as JSON.
    fn save(
        &self,
        meta: &SnapshotMeta<NodeId, BasicNode>,
        image: &MetadataImage,
    ) -> std::io::Result<Vec<u8>> {
        let data = serde_json::to_vec(image).map_err(std::io::Error::other)?;
        // Held across the write so a build and an install cannot interleave.
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(cur) = current.as_ref() {
            if cur.meta.last_log_id > meta.last_log_id {
                return Ok(data);
            }
        }
        let file = SnapshotFile {
            meta: meta.clone(),
            image: image.clone(),
        };
        let bytes = serde_json::to_vec(&file).map_err(std::io::Error::other)?;
        self.fs
            .write_atomic(&self.dir.join(SNAPSHOT_FILE), &bytes)?;
        *current = Some(StoredSnapshot {
            meta: meta.clone(),
            data: data.clone(),
        });
        Ok(data)
    }
}

/// The state machine.
#[derive(Debug)]
pub struct StateMachine {
    last_applied: Option<LogId<NodeId>>,
    membership: StoredMembership<NodeId, BasicNode>,
    image: Arc<MetadataImage>,
    /// The latest applied image, read by [`super::Quorum::image`].
    published: Arc<RwLock<Arc<MetadataImage>>>,
    shared: Arc<Shared>,
}

impl StateMachine {
    /// Open under `dir`, starting from `snapshot.json` if there is one.
    pub fn open(
        fs: Fs,
        dir: &Path,
        published: Arc<RwLock<Arc<MetadataImage>>>,
    ) -> std::io::Result<StateMachine> {
        fs.create_dir_all(dir)?;
        let path = dir.join(SNAPSHOT_FILE);
        let mut sm = StateMachine {
            last_applied: None,
            membership: StoredMembership::default(),
            image: Arc::new(MetadataImage::new()),
            published,
            shared: Arc::new(Shared {
                fs: fs.clone(),
                dir: dir.to_path_buf(),
                current: Mutex::new(None),
                snapshot_seq: Mutex::new(0),
            }),
        };
        if fs.exists(&path) {
            let bytes = fs.read(&path)?;
            let file: SnapshotFile =
                serde_json::from_slice(&bytes).map_err(std::io::Error::other)?;
            let data = serde_json::to_vec(&file.image).map_err(std::io::Error::other)?;
            sm.last_applied = file.meta.last_log_id;
            sm.membership = file.meta.last_membership.clone();
            sm.image = Arc::new(file.image);
            *sm.shared.current.lock().unwrap() = Some(StoredSnapshot {
                meta: file.meta,
                data,
            });
        }
        sm.publish();
        Ok(sm)
    }

    fn publish(&self) {
        *self.published.write().unwrap_or_else(|p| p.into_inner()) = self.image.clone();
    }
}

/// Builds a snapshot from a copy of the state taken when it was asked for.
#[derive(Debug)]
pub struct SnapshotBuilder {
    last_applied: Option<LogId<NodeId>>,
    membership: StoredMembership<NodeId, BasicNode>,
    image: Arc<MetadataImage>,
    shared: Arc<Shared>,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError<NodeId>> {
        let seq = {
            let mut s = self
                .shared
                .snapshot_seq
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            *s += 1;
            *s
        };
        let snapshot_id = match self.last_applied {
            Some(id) => format!("{}-{}-{}", id.leader_id, id.index, seq),
            None => format!("--{seq}"),
        };
        let meta = SnapshotMeta {
            last_log_id: self.last_applied,
            last_membership: self.membership.clone(),
            snapshot_id,
        };
        let data = super::blocking_io(|| self.shared.save(&meta, &self.image)).map_err(|e| {
            StorageIOError::write_snapshot(Some(meta.signature()), AnyError::new(&e))
        })?;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId<NodeId>>, StoredMembership<NodeId, BasicNode>), StorageError<NodeId>>
    {
        Ok((self.last_applied, self.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<()>, StorageError<NodeId>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + Send,
        I::IntoIter: Send,
    {
        let mut out = Vec::new();
        let mut changed = false;
        for entry in entries {
            self.last_applied = Some(entry.log_id);
            match entry.payload {
                EntryPayload::Blank => {}
                EntryPayload::Normal(records) => {
                    let image = Arc::make_mut(&mut self.image);
                    for record in &records {
                        // Every node applies the same records in the same
                        // order, so a refused record is refused everywhere.
                        if let Err(e) = image.apply(record) {
                            tracing::warn!(index = entry.log_id.index, error = %e, "metadata record refused");
                        }
                    }
                    changed = true;
                }
                EntryPayload::Membership(m) => {
                    self.membership = StoredMembership::new(Some(entry.log_id), m);
                }
            }
            out.push(());
        }
        if changed {
            self.publish();
        }
        Ok(out)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        SnapshotBuilder {
            last_applied: self.last_applied,
            membership: self.membership.clone(),
            image: self.image.clone(),
            shared: self.shared.clone(),
        }
    }

    async fn begin_receiving_snapshot(
        &mut self,
    ) -> Result<Box<Cursor<Vec<u8>>>, StorageError<NodeId>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError<NodeId>> {
        let data = snapshot.into_inner();
        let image: MetadataImage = serde_json::from_slice(&data).map_err(|e| {
            StorageIOError::read_snapshot(Some(meta.signature()), AnyError::new(&e))
        })?;
        super::blocking_io(|| self.shared.save(meta, &image)).map_err(|e| {
            StorageIOError::write_snapshot(Some(meta.signature()), AnyError::new(&e))
        })?;
        self.last_applied = meta.last_log_id;
        self.membership = meta.last_membership.clone();
        self.image = Arc::new(image);
        self.publish();
        Ok(())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<Snapshot<TypeConfig>>, StorageError<NodeId>> {
        let cur = self
            .shared
            .current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        Ok(cur.map(|s| Snapshot {
            meta: s.meta,
            snapshot: Box::new(Cursor::new(s.data)),
        }))
    }
}
