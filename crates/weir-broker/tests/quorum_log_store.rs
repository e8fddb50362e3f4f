//! The quorum's Raft log store on `MemFs`: append, truncate, purge and
//! vote survive a reopen; a torn tail is cut; power loss keeps every
//! acknowledged append; a failed fsync refuses later writes.

use std::path::Path;

use openraft::storage::{RaftLogStorage, RaftLogStorageExt};
use openraft::{CommittedLeaderId, Entry, EntryPayload, LogId, RaftLogReader, Vote};
use weir_broker::quorum::{LogStore, TypeConfig};
use weir_core::metadata::{ConfigResource, MetadataRecord};
use weir_storage::memfs::MemFs;
use weir_storage::Fs;

const DIR: &str = "/meta";

fn log_id(term: u64, index: u64) -> LogId<u64> {
    LogId::new(CommittedLeaderId::new(term, 1), index)
}

fn entry(term: u64, index: u64) -> Entry<TypeConfig> {
    Entry {
        log_id: log_id(term, index),
        payload: EntryPayload::Normal(vec![MetadataRecord::Config {
            resource: ConfigResource::Cluster,
            name: format!("k{index}"),
            value: Some(term.to_string()),
        }]),
    }
}

fn open(fs: &Fs) -> LogStore {
    LogStore::open(fs.clone(), Path::new(DIR)).unwrap()
}

async fn indexes(store: &mut LogStore) -> Vec<(u64, u64)> {
    store
        .try_get_log_entries(0..)
        .await
        .unwrap()
        .iter()
        .map(|e| (e.log_id.leader_id.term, e.log_id.index))
        .collect()
}

#[tokio::test]
async fn append_truncate_purge_and_vote_survive_reopen() {
    let fs: Fs = MemFs::new();
    let mut s = open(&fs);
    assert_eq!(s.get_log_state().await.unwrap().last_log_id, None);
    assert_eq!(s.read_vote().await.unwrap(), None);

    s.blocking_append((1..=5).map(|i| entry(1, i)))
        .await
        .unwrap();
    s.truncate(log_id(1, 4)).await.unwrap();
    s.blocking_append([entry(2, 4)]).await.unwrap();
    s.save_vote(&Vote::new(2, 3)).await.unwrap();
    drop(s);

    let mut s = open(&fs);
    assert_eq!(indexes(&mut s).await, vec![(1, 1), (1, 2), (1, 3), (2, 4)]);
    assert_eq!(s.read_vote().await.unwrap(), Some(Vote::new(2, 3)));
    let st = s.get_log_state().await.unwrap();
    assert_eq!(st.last_log_id, Some(log_id(2, 4)));
    assert_eq!(st.last_purged_log_id, None);

    s.save_committed(Some(log_id(2, 4))).await.unwrap();
    s.purge(log_id(1, 2)).await.unwrap();
    s.blocking_append([entry(2, 5)]).await.unwrap();
    drop(s);

    let mut s = open(&fs);
    assert_eq!(indexes(&mut s).await, vec![(1, 3), (2, 4), (2, 5)]);
    let st = s.get_log_state().await.unwrap();
    assert_eq!(st.last_purged_log_id, Some(log_id(1, 2)));
    assert_eq!(st.last_log_id, Some(log_id(2, 5)));
    // The committed id survives the purge's rewrite.
    assert_eq!(s.read_committed().await.unwrap(), Some(log_id(2, 4)));
    // A read of a range answers only what is there.
    let got = s.try_get_log_entries(4..5).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0], entry(2, 4));

    // Purging everything keeps the last purged id as the last log id.
    s.purge(log_id(2, 5)).await.unwrap();
    drop(s);
    let mut s = open(&fs);
    let st = s.get_log_state().await.unwrap();
    assert_eq!(st.last_purged_log_id, Some(log_id(2, 5)));
    assert_eq!(st.last_log_id, Some(log_id(2, 5)));
    assert!(indexes(&mut s).await.is_empty());
}

#[tokio::test]
async fn torn_or_corrupt_tail_is_cut_at_open() {
    let fs: Fs = MemFs::new();
    let mut s = open(&fs);
    s.blocking_append((1..=3).map(|i| entry(1, i)))
        .await
        .unwrap();
    drop(s);
    let path = Path::new(DIR).join("raft.log");
    let good_len = fs.read(&path).unwrap().len();

    // A half-written frame after the good ones.
    {
        let mut f = fs.open(&path, false).unwrap();
        f.append(&[200, 0, 0, 0, 1, 2, 3, 4, b'{']).unwrap();
        f.sync().unwrap();
    }
    let mut s = open(&fs);
    assert_eq!(indexes(&mut s).await, vec![(1, 1), (1, 2), (1, 3)]);
    assert_eq!(fs.read(&path).unwrap().len(), good_len);
    // Appends after the cut are read back.
    s.blocking_append([entry(1, 4)]).await.unwrap();
    drop(s);
    let mut s = open(&fs);
    assert_eq!(indexes(&mut s).await.len(), 4);
    drop(s);

    // A flipped byte in the last frame's body: that frame is dropped.
    let mut bytes = fs.read(&path).unwrap();
    let last = bytes.len() - 3;
    bytes[last] ^= 0x55;
    fs.write_atomic(&path, &bytes).unwrap();
    let mut s = open(&fs);
    assert_eq!(indexes(&mut s).await, vec![(1, 1), (1, 2), (1, 3)]);
}

#[tokio::test]
async fn power_loss_keeps_acknowledged_appends() {
    for seed in 0..20u64 {
        let mem = MemFs::new();
        let fs: Fs = mem.clone();
        let mut s = open(&fs);
        s.blocking_append((1..=3).map(|i| entry(1, i)))
            .await
            .unwrap();
        s.save_vote(&Vote::new(1, 1)).await.unwrap();
        // Crash in the middle of a later operation: what was acknowledged
        // before it must survive, torn or not.
        mem.schedule_crash(seed % 4, Some(seed));
        let _ = s.blocking_append([entry(1, 4)]).await;
        let _ = s.purge(log_id(1, 1)).await;
        drop(s);
        mem.crash(Some(seed));
        let mut s = open(&fs);
        let got = indexes(&mut s).await;
        assert!(
            got.contains(&(1, 3)),
            "seed {seed}: acknowledged entries lost: {got:?}"
        );
        assert!(got.len() >= 2, "seed {seed}: {got:?}");
        assert_eq!(s.read_vote().await.unwrap(), Some(Vote::new(1, 1)));
    }
}

#[tokio::test]
async fn failed_fsync_refuses_later_writes() {
    let mem = MemFs::new();
    let fs: Fs = mem.clone();
    let mut s = open(&fs);
    s.blocking_append([entry(1, 1)]).await.unwrap();
    mem.fail_next_syncs(1);
    assert!(s.blocking_append([entry(1, 2)]).await.is_err());
    // Not applied in memory, and later writes are refused.
    assert_eq!(indexes(&mut s).await, vec![(1, 1)]);
    assert!(s.blocking_append([entry(1, 2)]).await.is_err());
    drop(s);
    // A reopen recovers.
    let mut s = open(&fs);
    s.blocking_append([entry(1, 2)]).await.unwrap();
    assert_eq!(indexes(&mut s).await, vec![(1, 1), (1, 2)]);
}
