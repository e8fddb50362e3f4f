//! The controller quorum (`weir_broker::quorum`) with three in-process
//! voters on 127.0.0.1: election, proposals applied everywhere, NotLeader
//! on followers, failover after the leader stops, and recovery of the
//! image after every node restarts from its directory.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use weir_broker::quorum::{Quorum, QuorumConfig, QuorumError};
use weir_core::metadata::{ConfigResource, MetadataImage, MetadataRecord};
use weir_storage::memfs::MemFs;
use weir_storage::{Fs, RealFs};

const ELECTION_WAIT: Duration = Duration::from_secs(10);
const APPLY_WAIT: Duration = Duration::from_secs(10);

fn record(name: &str, value: &str) -> MetadataRecord {
    MetadataRecord::Config {
        resource: ConfigResource::Cluster,
        name: name.to_string(),
        value: Some(value.to_string()),
    }
}

fn has(image: &MetadataImage, name: &str, value: &str) -> bool {
    image.config(&ConfigResource::Cluster, name) == Some(value)
}

/// Bind three listeners on ephemeral ports.
async fn listeners() -> (Vec<TcpListener>, Vec<(i32, SocketAddr)>) {
    let mut ls = Vec::new();
    let mut voters = Vec::new();
    for id in 1..=3 {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        voters.push((id, l.local_addr().unwrap()));
        ls.push(l);
    }
    (ls, voters)
}

fn dirs(root: &Path) -> Vec<PathBuf> {
    (1..=3).map(|i| root.join(format!("node{i}"))).collect()
}

async fn start_all(
    voters: &[(i32, SocketAddr)],
    listeners: Vec<TcpListener>,
    dirs: &[PathBuf],
    fs: &Fs,
) -> Vec<Option<Quorum>> {
    let mut out = Vec::new();
    for ((l, (id, _)), dir) in listeners.into_iter().zip(voters).zip(dirs) {
        let q = Quorum::start_with(
            *id,
            voters.to_vec(),
            dir,
            fs.clone(),
            l,
            QuorumConfig::default(),
        )
        .await
        .unwrap();
        out.push(Some(q));
    }
    out
}

/// Wait until every running node agrees on one leader that is running.
async fn agreed_leader(nodes: &[Option<Quorum>], timeout: Duration) -> i32 {
    let deadline = Instant::now() + timeout;
    loop {
        let leaders: Vec<Option<i32>> = nodes.iter().flatten().map(|q| q.leader()).collect();
        if let Some(Some(l)) = leaders.first() {
            let running = nodes.iter().flatten().any(|q| q.node_id() == *l);
            if running && leaders.iter().all(|x| *x == Some(*l)) {
                return *l;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no agreed leader within {timeout:?}: {leaders:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn wait_applied(nodes: &[Option<Quorum>], name: &str, value: &str) {
    let deadline = Instant::now() + APPLY_WAIT;
    loop {
        if nodes.iter().flatten().all(|q| has(&q.image(), name, value)) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{name}={value} not applied on every node"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn node(nodes: &[Option<Quorum>], id: i32) -> &Quorum {
    nodes
        .iter()
        .flatten()
        .find(|q| q.node_id() == id)
        .expect("node running")
}

/// Propose on the leader, retrying while leadership settles.
async fn propose(nodes: &[Option<Quorum>], records: Vec<MetadataRecord>) -> u64 {
    let deadline = Instant::now() + ELECTION_WAIT;
    loop {
        let leader = agreed_leader(nodes, ELECTION_WAIT).await;
        match node(nodes, leader).propose(records.clone()).await {
            Ok(index) => return index,
            Err(e) => {
                assert!(Instant::now() < deadline, "proposal failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn scenario(fs: Fs, root: &Path) {
    let (ls, voters) = listeners().await;
    let dirs = dirs(root);
    let started = Instant::now();
    let mut nodes = start_all(&voters, ls, &dirs, &fs).await;
    let leader = agreed_leader(&nodes, ELECTION_WAIT).await;
    eprintln!(
        "first election: leader {leader} after {:?}",
        started.elapsed()
    );

    // A proposal on the leader is applied on all three images.
    let index = node(&nodes, leader)
        .propose(vec![record("a", "1"), record("b", "2")])
        .await
        .unwrap();
    assert!(index > 0);
    wait_applied(&nodes, "a", "1").await;
    wait_applied(&nodes, "b", "2").await;

    // Status on the leader: term, voters with match indexes.
    let status = node(&nodes, leader).status();
    assert_eq!(status.leader, Some(leader));
    assert!(status.term >= 1);
    assert_eq!(status.voters.len(), 3);
    assert!(status.applied_index >= Some(index));
    let leader_view = status.voters.iter().find(|v| v.node_id == leader).unwrap();
    assert!(leader_view.match_index >= Some(index));
    // Every follower's match index reaches the proposal (bounded wait:
    // replication metrics are updated asynchronously).
    let deadline = Instant::now() + APPLY_WAIT;
    loop {
        let st = node(&nodes, leader).status();
        if st.voters.iter().all(|v| v.match_index >= Some(index)) {
            let mut ids: Vec<i32> = st.voters.iter().map(|v| v.node_id).collect();
            ids.sort();
            assert_eq!(ids, vec![1, 2, 3]);
            break;
        }
        assert!(Instant::now() < deadline, "match indexes: {st:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A follower knows the leader and the term but no match indexes.
    let fst = node(
        &nodes,
        voters.iter().map(|v| v.0).find(|id| *id != leader).unwrap(),
    )
    .status();
    assert_eq!(fst.leader, Some(leader));
    assert_eq!(fst.term, status.term);
    assert!(fst.voters.iter().all(|v| v.match_index.is_none()));

    // A follower refuses with the leader's id.
    let follower = voters.iter().map(|v| v.0).find(|id| *id != leader).unwrap();
    match node(&nodes, follower).propose(vec![record("c", "3")]).await {
        Err(QuorumError::NotLeader { leader: l }) => assert_eq!(l, Some(leader)),
        other => panic!("expected NotLeader, got {other:?}"),
    }

    // Stop the leader: the other two elect a new one and accept proposals.
    let pos = nodes
        .iter()
        .position(|q| q.as_ref().map(|q| q.node_id()) == Some(leader))
        .unwrap();
    let stopped_at = Instant::now();
    nodes[pos].take().unwrap().shutdown().await.unwrap();
    let new_leader = agreed_leader(&nodes, ELECTION_WAIT).await;
    eprintln!(
        "failover: leader {leader} -> {new_leader} after {:?}",
        stopped_at.elapsed()
    );
    assert_ne!(new_leader, leader);
    propose(&nodes, vec![record("d", "4")]).await;
    eprintln!(
        "failover: first proposal committed after {:?}",
        stopped_at.elapsed()
    );
    wait_applied(&nodes, "d", "4").await;

    // Stop everything and restart from the directories.
    for q in nodes.iter_mut() {
        if let Some(q) = q.take() {
            q.shutdown().await.unwrap();
        }
    }
    // One node alone (no quorum) re-applies its committed entries from
    // its own log: the image is back before any leader is elected.
    let alone = Quorum::start(voters[1].0, voters.clone(), &dirs[1], fs.clone())
        .await
        .unwrap();
    let alone_nodes = vec![Some(alone)];
    for (name, value) in [("a", "1"), ("b", "2"), ("d", "4")] {
        wait_applied(&alone_nodes, name, value).await;
    }
    for q in alone_nodes.into_iter().flatten() {
        q.shutdown().await.unwrap();
    }

    let restarted = Instant::now();
    let mut nodes = Vec::new();
    for ((id, _), dir) in voters.iter().zip(&dirs) {
        nodes.push(Some(
            Quorum::start(*id, voters.clone(), dir, fs.clone())
                .await
                .unwrap(),
        ));
    }
    let leader = agreed_leader(&nodes, ELECTION_WAIT).await;
    eprintln!(
        "after restart: leader {leader} after {:?}",
        restarted.elapsed()
    );
    for (name, value) in [("a", "1"), ("b", "2"), ("d", "4")] {
        wait_applied(&nodes, name, value).await;
    }
    // And the restarted quorum still takes proposals.
    propose(&nodes, vec![record("e", "5")]).await;
    eprintln!(
        "after restart: first proposal committed after {:?}",
        restarted.elapsed()
    );
    wait_applied(&nodes, "e", "5").await;
    for q in nodes.into_iter().flatten() {
        q.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_voters_on_disk() {
    let tmp = tempfile::tempdir().unwrap();
    scenario(RealFs::shared(), tmp.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_voters_on_memfs() {
    let fs: Fs = MemFs::new();
    scenario(fs, Path::new("/quorum")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_refuses_a_node_that_is_not_a_voter() {
    let tmp = tempfile::tempdir().unwrap();
    let voters = vec![(1, "127.0.0.1:1".parse().unwrap())];
    let err = Quorum::start(7, voters, tmp.path(), RealFs::shared())
        .await
        .unwrap_err();
    assert!(matches!(err, QuorumError::Config(_)), "{err:?}");
}

/// With frequent snapshots and a short log tail, a voter that was down
/// while many entries were committed catches up through InstallSnapshot,
/// and every node recovers its image from snapshot + log after a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lagging_voter_catches_up_from_a_snapshot() {
    let tmp = tempfile::tempdir().unwrap();
    let fs: Fs = RealFs::shared();
    let (ls, voters) = listeners().await;
    let dirs = dirs(tmp.path());
    let qc = QuorumConfig {
        snapshot_every_entries: 10,
        logs_kept_after_snapshot: 2,
        ..QuorumConfig::default()
    };
    let mut nodes: Vec<Option<Quorum>> = Vec::new();
    for ((l, (id, _)), dir) in ls.into_iter().zip(&voters).zip(&dirs) {
        nodes.push(Some(
            Quorum::start_with(*id, voters.clone(), dir, fs.clone(), l, qc.clone())
                .await
                .unwrap(),
        ));
    }
    let leader = agreed_leader(&nodes, ELECTION_WAIT).await;
    // Stop one follower.
    let down = voters.iter().map(|v| v.0).find(|id| *id != leader).unwrap();
    let down_pos = (down - 1) as usize;
    nodes[down_pos].take().unwrap().shutdown().await.unwrap();

    for i in 0..40 {
        propose(&nodes, vec![record(&format!("k{i}"), &i.to_string())]).await;
    }
    wait_applied(&nodes, "k39", "39").await;
    assert!(
        fs.exists(&dirs[(leader - 1) as usize].join("snapshot.json")),
        "leader built a snapshot"
    );

    // The stopped follower comes back and gets everything.
    let l = TcpListener::bind(voters[down_pos].1).await.unwrap();
    nodes[down_pos] = Some(
        Quorum::start_with(
            down,
            voters.clone(),
            &dirs[down_pos],
            fs.clone(),
            l,
            qc.clone(),
        )
        .await
        .unwrap(),
    );
    for i in 0..40 {
        wait_applied(&nodes, &format!("k{i}"), &i.to_string()).await;
    }
    assert!(
        fs.exists(&dirs[down_pos].join("snapshot.json")),
        "the lagging voter installed a snapshot"
    );

    // Restart everyone: snapshot + log give back the same image.
    let before = node(&nodes, leader).image();
    for q in nodes.iter_mut() {
        q.take().unwrap().shutdown().await.unwrap();
    }
    let mut nodes = Vec::new();
    for ((id, _), dir) in voters.iter().zip(&dirs) {
        nodes.push(Some(
            Quorum::start(*id, voters.clone(), dir, fs.clone())
                .await
                .unwrap(),
        ));
    }
    agreed_leader(&nodes, ELECTION_WAIT).await;
    for i in 0..40 {
        wait_applied(&nodes, &format!("k{i}"), &i.to_string()).await;
    }
    for q in nodes.iter().flatten() {
        assert_eq!(*q.image(), *before, "node {}", q.node_id());
    }
    for q in nodes.into_iter().flatten() {
        q.shutdown().await.unwrap();
    }
}
