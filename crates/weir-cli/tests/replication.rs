//! Issue 5's multi-process tests: real `weir server` processes (three
//! combined broker/controller voters; broker-only observers where a test
//! must kill two replicas and keep the metadata quorum), RF=3,
//! min.insync.replicas=2, killed with SIGKILL, stopped with SIGSTOP.
//!
//! The producer here sends one record at a time with acks=all and no
//! client retries, so each value is sent once: an acknowledged value must
//! be read back exactly once at the offset it was given, an unacknowledged
//! one at most once, and nothing else may appear. Every wait is bounded;
//! every process is killed by PID when its cluster drops.

mod common;

use common::cluster::{create_topic, layout, node_metadata, rt, wait_for, wait_isr, Cluster};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use weir_client::consumer::{Consumer, ConsumerConfig, OffsetSpec};
use weir_client::producer::{Acks, Producer, ProducerConfig, ProducerRecord};
use weir_client::{Client, ClientConfig};
use weir_protocol::TopicPartition;

/// Short sessions (quick fencing and failover) and a short lag bound.
const PROPS: &[&str] = &[
    "broker.session.timeout.ms=3000",
    "broker.heartbeat.interval.ms=500",
    "min.insync.replicas=2",
    "replica.lag.time.max.ms=3000",
];

/// Kafka's NOT_ENOUGH_REPLICAS.
const NOT_ENOUGH_REPLICAS: i16 = 19;

fn client_config(bootstrap: &str) -> ClientConfig {
    let mut config = ClientConfig::new(bootstrap);
    config.connection.client_id = "weir-replication-test".to_owned();
    config.connection.connect_timeout_ms = 2_000;
    config.connection.request_timeout_ms = 15_000;
    config
}

/// What the producer saw.
#[derive(Debug, Default)]
struct Produced {
    /// (value number, offset, acknowledged after the mark was set).
    acked: Vec<(u64, i64, bool)>,
    /// (value number, error).
    failed: Vec<(u64, String)>,
    /// Whether every error was retriable (Kafka's classification).
    all_retriable: bool,
}

/// Send `v0`, `v1`, ... to `topic`-0 one at a time (acks as given, no
/// client retries) until `stop` is set or `max` values were sent.
async fn produce(
    bootstrap: String,
    topic: String,
    acks: Acks,
    stop: Arc<AtomicBool>,
    mark: Arc<AtomicBool>,
    max: u64,
) -> Produced {
    let mut out = Produced {
        all_retriable: true,
        ..Produced::default()
    };
    let client = loop {
        match Client::connect(client_config(&bootstrap)).await {
            Ok(c) => break c,
            Err(e) => {
                if stop.load(Ordering::SeqCst) {
                    return out;
                }
                eprintln!("producer connect: {e}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    let config = ProducerConfig {
        acks,
        linger_ms: 0,
        retries: 0,
        request_timeout_ms: 15_000,
        ..ProducerConfig::default()
    };
    let producer = Producer::new(client.clone(), config);
    for i in 0..max {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let record = ProducerRecord::new(topic.clone(), format!("v{i}")).with_partition(0);
        let result = match producer.send(record).await {
            Ok(delivery) => delivery.await,
            Err(e) => Err(e),
        };
        match result {
            Ok(md) => out.acked.push((
                i,
                md.offset.map_or(-1, |o| o.0),
                mark.load(Ordering::SeqCst),
            )),
            Err(e) => {
                out.all_retriable &= e.is_retriable();
                out.failed.push((i, e.to_string()));
                let _ = client
                    .refresh_metadata(Some(std::slice::from_ref(&topic)), false)
                    .await;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    let _ = producer.close().await;
    out
}

/// Every committed record of `topic`-0 as (offset, value), read from the
/// log start to the high watermark.
async fn read_all(bootstrap: &str, topic: &str) -> Result<Vec<(i64, String)>, String> {
    let client = Client::connect(client_config(bootstrap))
        .await
        .map_err(|e| e.to_string())?;
    let tp = TopicPartition::new(topic, 0);
    let mut consumer = Consumer::new(client, ConsumerConfig::default());
    consumer.assign(vec![tp.clone()]);
    consumer
        .seek(std::slice::from_ref(&tp), OffsetSpec::Earliest)
        .await
        .map_err(|e| e.to_string())?;
    let end = consumer
        .list_offsets(std::slice::from_ref(&tp), OffsetSpec::Latest)
        .await
        .map_err(|e| e.to_string())?[&tp];
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut out = Vec::new();
    while consumer.position(&tp).unwrap_or(0) < end {
        if Instant::now() > deadline {
            return Err(format!("read {} of {end} records in 30 s", out.len()));
        }
        for r in consumer
            .poll(Duration::from_secs(1))
            .await
            .map_err(|e| e.to_string())?
        {
            let value = String::from_utf8_lossy(r.value.as_deref().unwrap_or_default());
            out.push((r.offset, value.into_owned()));
        }
    }
    Ok(out)
}

/// Check what was read against what was produced: every acknowledged
/// value exactly once at its offset, no value twice, nothing unknown.
fn check_no_loss(produced: &Produced, read: &[(i64, String)]) {
    let mut seen: BTreeMap<u64, Vec<i64>> = BTreeMap::new();
    for (offset, value) in read {
        let n: u64 = value
            .strip_prefix('v')
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("unknown value {value:?} at {offset}"));
        seen.entry(n).or_default().push(*offset);
    }
    for (n, offsets) in &seen {
        assert_eq!(offsets.len(), 1, "v{n} read at offsets {offsets:?}");
    }
    for (n, offset, _) in &produced.acked {
        assert_eq!(
            seen.get(n),
            Some(&vec![*offset]),
            "acknowledged v{n} (offset {offset}) was lost or moved"
        );
    }
}

/// The bytes of every `.log` file of `topic`-0 on node `id`, by name.
fn segment_files(cluster: &Cluster, id: usize, topic: &str) -> BTreeMap<String, Vec<u8>> {
    let dir: PathBuf = cluster.node(id).dir.join("logs").join(format!("{topic}-0"));
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("dir entry").path();
        if path.extension().is_some_and(|e| e == "log") {
            let name = path
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned();
            out.insert(name, std::fs::read(&path).expect("read segment"));
        }
    }
    out
}

/// `weir dump-log --files <every .log>` of `topic`-0 on node `id`, with the
/// `Dumping <path>` lines (which name the node's dir) removed.
fn dump(cluster: &Cluster, id: usize, topic: &str) -> String {
    let dir = cluster.node(id).dir.join("logs").join(format!("{topic}-0"));
    let files: Vec<String> = segment_files(cluster, id, topic)
        .keys()
        .map(|name| dir.join(name).display().to_string())
        .collect();
    let run = common::weir(&dir, &["dump-log", "--files", &files.join(",")]);
    assert_eq!(run.code, Some(0), "dump-log: {}", run.stderr);
    run.stdout
        .lines()
        .filter(|l| !l.starts_with("Dumping "))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Wait until the `.log` files of `topic`-0 are byte-identical on `ids`
/// (followers catch up asynchronously), then check `weir dump-log` agrees.
fn wait_identical_logs(cluster: &Cluster, ids: &[usize], topic: &str) {
    wait_for(
        cluster,
        &format!("identical {topic}-0 logs"),
        Duration::from_secs(20),
        || {
            let first = segment_files(cluster, ids[0], topic);
            for id in &ids[1..] {
                let other = segment_files(cluster, *id, topic);
                if other != first {
                    let sizes = |m: &BTreeMap<String, Vec<u8>>| {
                        m.iter()
                            .map(|(k, v)| (k.clone(), v.len()))
                            .collect::<Vec<_>>()
                    };
                    return Err(format!(
                        "node {} {:?} vs node {id} {:?}",
                        ids[0],
                        sizes(&first),
                        sizes(&other)
                    ));
                }
            }
            Ok(())
        },
    );
    let first = dump(cluster, ids[0], topic);
    for id in &ids[1..] {
        assert_eq!(dump(cluster, *id, topic), first, "dump-log of node {id}");
    }
}

/// The high watermark of `topic`-0 in node `id`'s
/// `replication-offset-checkpoint`.
fn checkpointed_hwm(cluster: &Cluster, id: usize, topic: &str) -> Option<i64> {
    let path = cluster
        .node(id)
        .dir
        .join("logs")
        .join("replication-offset-checkpoint");
    let text = std::fs::read_to_string(path).ok()?;
    text.lines().find_map(|l| {
        let mut parts = l.split(' ');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(t), Some("0"), Some(hwm)) if t == topic => hwm.parse().ok(),
            _ => None,
        }
    })
}

/// (a) Continuous acks=all produce; SIGKILL the leader; a new leader from
/// the ISR serves within seconds; every acknowledged record is read once;
/// after the old leader returns, all three logs are identical. (e) Then a
/// clean shutdown of every node leaves the high watermark in each one's
/// `replication-offset-checkpoint`.
#[test]
fn leader_failover_loses_no_acknowledged_record() {
    let rt = rt();
    let mut cluster = Cluster::start(3, PROPS);
    let topic = "failover";
    create_topic(
        &mut cluster,
        topic,
        &["--partitions", "1", "--replication-factor", "3"],
    );
    let leader = wait_isr(&rt, &cluster, 1, topic, &[1, 2, 3], Duration::from_secs(20));
    let stop = Arc::new(AtomicBool::new(false));
    let killed = Arc::new(AtomicBool::new(false));
    let producer = rt.spawn(produce(
        cluster.bootstrap(),
        topic.to_owned(),
        Acks::All,
        stop.clone(),
        killed.clone(),
        u64::MAX,
    ));
    // Let some records through, then kill the leader.
    std::thread::sleep(Duration::from_secs(2));
    let leader_id = usize::try_from(leader).expect("leader id");
    killed.store(true, Ordering::SeqCst);
    let kill_at = Instant::now();
    cluster.kill(leader_id);
    let survivors: Vec<usize> = (1..=3).filter(|i| *i != leader_id).collect();
    let new_leader = wait_for(
        &cluster,
        "a new leader",
        Duration::from_secs(20),
        || match layout(&rt, &cluster, survivors[0], topic)? {
            (l, isr) if l >= 0 && l != leader && !isr.contains(&leader) => Ok(l),
            other => Err(format!("{other:?}")),
        },
    );
    let failover = kill_at.elapsed();
    // Keep producing to the new leader for a while.
    std::thread::sleep(Duration::from_secs(3));
    stop.store(true, Ordering::SeqCst);
    let produced = rt.block_on(producer).expect("producer task");
    let after_kill = produced.acked.iter().filter(|a| a.2).count();
    eprintln!(
        "leader {leader} killed; new leader {new_leader} after {failover:?}; \
         {} acknowledged ({after_kill} after the kill), {} failed: {:?}",
        produced.acked.len(),
        produced.failed.len(),
        produced.failed.iter().take(5).collect::<Vec<_>>()
    );
    assert!(
        produced.acked.len() > after_kill && after_kill > 0,
        "records acknowledged before and after the kill"
    );
    let read = rt
        .block_on(read_all(&cluster.node(survivors[0]).bootstrap(), topic))
        .expect("read back");
    check_no_loss(&produced, &read);
    // The old leader returns, catches up, and rejoins the ISR.
    cluster.restart(leader_id);
    wait_isr(
        &rt,
        &cluster,
        survivors[0],
        topic,
        &[1, 2, 3],
        Duration::from_secs(30),
    );
    wait_identical_logs(&cluster, &[1, 2, 3], topic);
    // (e) A clean shutdown checkpoints the high watermark everywhere.
    let hwm = read.last().map_or(0, |(o, _)| o + 1);
    for id in [new_leader as usize]
        .into_iter()
        .chain((1..=3).filter(|i| *i != new_leader as usize))
    {
        let status = cluster.terminate(id);
        assert!(status.success(), "node {id} exited with {status}");
    }
    for id in 1..=3 {
        assert_eq!(
            checkpointed_hwm(&cluster, id, topic),
            Some(hwm),
            "node {id}'s replication-offset-checkpoint"
        );
    }
}

/// Issue 6 (a): SIGTERM to the leader under acks=all load: the broker
/// asks the controller to move its leaderships before it stops
/// (controlled shutdown), so it exits having led nothing, producers see
/// only retriable errors, and nothing acknowledged is lost.
#[test]
fn sigterm_moves_leadership_before_the_leader_exits() {
    let rt = rt();
    let mut cluster = Cluster::start(3, PROPS);
    let topic = "controlled";
    create_topic(
        &mut cluster,
        topic,
        &["--partitions", "1", "--replication-factor", "3"],
    );
    let leader = wait_isr(&rt, &cluster, 1, topic, &[1, 2, 3], Duration::from_secs(20));
    let leader_id = usize::try_from(leader).expect("id");
    let stop = Arc::new(AtomicBool::new(false));
    let mark = Arc::new(AtomicBool::new(false));
    let producer = rt.spawn(produce(
        cluster.bootstrap(),
        topic.to_owned(),
        Acks::All,
        stop.clone(),
        mark.clone(),
        u64::MAX,
    ));
    std::thread::sleep(Duration::from_secs(2));
    mark.store(true, Ordering::SeqCst);
    let started = Instant::now();
    let status = cluster.terminate(leader_id);
    let stopped_in = started.elapsed();
    assert!(status.success(), "the leader exited with {status}");
    let log = cluster.log_text(leader_id);
    let line = log
        .lines()
        .find(|l| l.contains("controlled shutdown: leaderships moved"))
        .unwrap_or_else(|| panic!("no controlled shutdown in the leader's log:\n{log}"));
    assert!(line.contains("still_led=0"), "{line}");
    let survivor = (1..=3).find(|i| *i != leader_id).expect("a survivor");
    // (The survivor applies the change on its own; give it a moment.)
    let new_leader = wait_for(
        &cluster,
        "the survivor sees the new leader",
        Duration::from_secs(10),
        || match layout(&rt, &cluster, survivor, topic)? {
            (l, _) if l >= 0 && l != leader => Ok(l),
            other => Err(format!("{other:?}")),
        },
    );
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::SeqCst);
    let produced = rt.block_on(producer).expect("producer task");
    let after = produced.acked.iter().filter(|a| a.2).count();
    eprintln!(
        "leader {leader} stopped in {stopped_in:?}; new leader {new_leader}; {} acknowledged \
         ({after} after SIGTERM), failed: {:?}",
        produced.acked.len(),
        produced.failed
    );
    assert!(after > 0, "writes continued on the new leader");
    assert!(
        produced.all_retriable,
        "only retriable errors: {:?}",
        produced.failed
    );
    let read = rt
        .block_on(read_all(&cluster.node(survivor).bootstrap(), topic))
        .expect("read back");
    check_no_loss(&produced, &read);
    // It comes back, is unfenced and rejoins the ISR.
    cluster.restart(leader_id);
    wait_isr(
        &rt,
        &cluster,
        survivor,
        topic,
        &[1, 2, 3],
        Duration::from_secs(30),
    );
}

/// (b) A SIGSTOPped follower leaves the ISR after replica.lag.time.max.ms
/// (its broker session is long, so the leader's lag rule removes it, not
/// fencing), acks=all succeeds with two; after SIGCONT it rejoins.
#[test]
fn a_stopped_follower_leaves_the_isr_and_rejoins() {
    let rt = rt();
    let mut props = PROPS.to_vec();
    props.retain(|p| !p.starts_with("broker.session.timeout.ms"));
    props.push("broker.session.timeout.ms=60000");
    let mut cluster = Cluster::start(3, &props);
    let topic = "lagging";
    create_topic(
        &mut cluster,
        topic,
        &["--partitions", "1", "--replication-factor", "3"],
    );
    let leader = wait_isr(&rt, &cluster, 1, topic, &[1, 2, 3], Duration::from_secs(20));
    // Stop a follower that is not the active controller if there is one
    // (stopping the controller works too, but waits for a Raft election).
    let controller = rt
        .block_on(node_metadata(cluster.node(1).port, Some(&[topic])))
        .ok()
        .and_then(|md| md.controller.map(|c| c.0));
    let follower = (1..=3)
        .filter(|i| *i != leader)
        .find(|i| Some(*i) != controller)
        .unwrap_or_else(|| (1..=3).find(|i| *i != leader).expect("a follower"));
    let follower_id = usize::try_from(follower).expect("id");
    cluster.stop(follower_id);
    let stopped_at = Instant::now();
    // As in Kafka, a follower that stopped while caught up is not behind
    // until the leader appends: the first acks=all write waits for the
    // shrink (replica.lag.time.max.ms), then every write succeeds with two.
    let ask = usize::try_from(leader).expect("id");
    let stop = Arc::new(AtomicBool::new(false));
    let mark = Arc::new(AtomicBool::new(false));
    let produced = rt.block_on(produce(
        cluster.node(ask).bootstrap(),
        topic.to_owned(),
        Acks::All,
        stop,
        mark,
        50,
    ));
    assert_eq!(
        (produced.acked.len(), produced.failed.len()),
        (50, 0),
        "acks=all with two in-sync replicas: {:?}",
        produced.failed
    );
    let others: Vec<i32> = (1..=3).filter(|i| *i != follower).collect();
    wait_isr(&rt, &cluster, ask, topic, &others, Duration::from_secs(5));
    eprintln!(
        "follower {follower} stopped; 50 acks=all writes done after {:?}",
        stopped_at.elapsed()
    );
    cluster.cont(follower_id);
    let resumed = Instant::now();
    wait_isr(
        &rt,
        &cluster,
        ask,
        topic,
        &[1, 2, 3],
        Duration::from_secs(20),
    );
    eprintln!(
        "follower {follower} rejoined the ISR after {:?}",
        resumed.elapsed()
    );
    let read = rt
        .block_on(read_all(&cluster.node(ask).bootstrap(), topic))
        .expect("read back");
    check_no_loss(&produced, &read);
    wait_identical_logs(&cluster, &[1, 2, 3], topic);
}

/// (c) With two of three replicas dead, acks=all is refused with
/// NOT_ENOUGH_REPLICAS; nothing acknowledged before is lost when they
/// return. The partition lives on nodes 1, 4, 5, where 4 and 5 are
/// broker-only observers, so killing them leaves the metadata quorum
/// (voters 1-3) whole and the controller can shrink the ISR.
#[test]
fn two_dead_replicas_refuse_acks_all_and_lose_nothing() {
    let rt = rt();
    let mut cluster = Cluster::start_with_observers(3, 2, PROPS);
    let topic = "two-down";
    create_topic(&mut cluster, topic, &["--replica-assignment", "1:4:5"]);
    wait_isr(&rt, &cluster, 1, topic, &[1, 4, 5], Duration::from_secs(20));
    let stop = Arc::new(AtomicBool::new(false));
    let mark = Arc::new(AtomicBool::new(false));
    let before = rt.block_on(produce(
        cluster.node(1).bootstrap(),
        topic.to_owned(),
        Acks::All,
        stop.clone(),
        mark.clone(),
        30,
    ));
    assert_eq!(before.acked.len(), 30, "{:?}", before.failed);
    cluster.kill(4);
    cluster.kill(5);
    wait_isr(&rt, &cluster, 1, topic, &[1], Duration::from_secs(20));
    let during = rt.block_on(produce(
        cluster.node(1).bootstrap(),
        topic.to_owned(),
        Acks::All,
        stop.clone(),
        mark.clone(),
        3,
    ));
    assert!(during.acked.is_empty(), "acknowledged with one replica");
    for (_, e) in &during.failed {
        assert!(
            e.contains("NOT_ENOUGH_REPLICAS") || e.contains(&NOT_ENOUGH_REPLICAS.to_string()),
            "expected NOT_ENOUGH_REPLICAS, got {e}"
        );
    }
    cluster.restart(4);
    cluster.restart(5);
    wait_isr(&rt, &cluster, 1, topic, &[1, 4, 5], Duration::from_secs(30));
    let read = rt
        .block_on(read_all(&cluster.node(1).bootstrap(), topic))
        .expect("read back");
    check_no_loss(&before, &read);
    assert_eq!(
        read.len(),
        30,
        "nothing of the refused writes was committed"
    );
    wait_identical_logs(&cluster, &[1, 4, 5], topic);
}

/// (d) A leader takes an acks=1 write its followers never fetch (they are
/// stopped) and is killed. A follower becomes leader and takes new
/// writes; when the old leader returns, its unreplicated tail is cut
/// (diverging epoch) and all three logs agree.
#[test]
fn an_unreplicated_tail_is_truncated_when_the_old_leader_returns() {
    let rt = rt();
    let mut cluster = Cluster::start(3, PROPS);
    let topic = "tail";
    create_topic(
        &mut cluster,
        topic,
        &["--partitions", "1", "--replication-factor", "3"],
    );
    let leader = wait_isr(&rt, &cluster, 1, topic, &[1, 2, 3], Duration::from_secs(20));
    let leader_id = usize::try_from(leader).expect("id");
    let stop = Arc::new(AtomicBool::new(false));
    let mark = Arc::new(AtomicBool::new(false));
    let committed = rt.block_on(produce(
        cluster.node(leader_id).bootstrap(),
        topic.to_owned(),
        Acks::All,
        stop.clone(),
        mark.clone(),
        20,
    ));
    assert_eq!(committed.acked.len(), 20, "{:?}", committed.failed);
    let followers: Vec<usize> = (1..=3).filter(|i| *i != leader_id).collect();
    for f in &followers {
        cluster.stop(*f);
    }
    // Let the followers' pending long polls (replica.fetch.wait.max.ms,
    // 500 ms) be answered empty before the write.
    std::thread::sleep(Duration::from_millis(1500));
    let tail = rt.block_on(async {
        let client = Client::connect(client_config(&cluster.node(leader_id).bootstrap()))
            .await
            .expect("connect");
        let config = ProducerConfig {
            acks: Acks::Leader,
            linger_ms: 0,
            retries: 0,
            ..ProducerConfig::default()
        };
        let producer = Producer::new(client, config);
        let record = ProducerRecord::new(topic, "unreplicated").with_partition(0);
        let md = producer
            .send(record)
            .await
            .expect("send")
            .await
            .expect("acks=1 write");
        md.offset.expect("offset").0
    });
    assert_eq!(tail, 20, "the acks=1 record follows the committed ones");
    cluster.kill(leader_id);
    for f in &followers {
        cluster.cont(*f);
    }
    let new_leader = wait_for(
        &cluster,
        "a new leader",
        Duration::from_secs(30),
        || match layout(&rt, &cluster, followers[0], topic)? {
            (l, isr) if l >= 0 && l != leader && !isr.contains(&leader) => Ok(l),
            other => Err(format!("{other:?}")),
        },
    );
    let new_id = usize::try_from(new_leader).expect("id");
    // The stopped brokers may have been fenced meanwhile (their sessions
    // ran out while they were stopped); wait until both are back in sync.
    let survivors: Vec<i32> = followers.iter().map(|f| *f as i32).collect();
    wait_isr(
        &rt,
        &cluster,
        new_id,
        topic,
        &survivors,
        Duration::from_secs(30),
    );
    let after = rt.block_on(produce(
        cluster.node(new_id).bootstrap(),
        topic.to_owned(),
        Acks::All,
        stop,
        mark,
        10,
    ));
    assert_eq!(after.acked.len(), 10, "{:?}", after.failed);
    cluster.restart(leader_id);
    wait_isr(
        &rt,
        &cluster,
        new_id,
        topic,
        &[1, 2, 3],
        Duration::from_secs(30),
    );
    wait_identical_logs(&cluster, &[1, 2, 3], topic);
    let read = rt
        .block_on(read_all(&cluster.node(leader_id).bootstrap(), topic))
        .expect("read back");
    let values: Vec<&str> = read.iter().map(|(_, v)| v.as_str()).collect();
    assert!(
        !values.contains(&"unreplicated"),
        "the unreplicated tail survived"
    );
    // The 20 committed records, then the new leader's 10 (v0..v9 again)
    // from offset 20, where the cut record was.
    assert_eq!(read.len(), 30);
    assert_eq!(read[20], (20, "v0".to_owned()));
    assert!(
        cluster
            .log_text(leader_id)
            .contains("log diverges from the leader's"),
        "the returning leader truncated by diverging epoch"
    );
}

/// Issue 6 (b), KIP-966: the ISR shrinks below min ISR (two replicas
/// stop cleanly, the second one becomes an eligible leader replica), then
/// the leader is SIGKILLed: no ISR member is left. The ELR member returns
/// first and is elected; nothing acknowledged is lost. The partition
/// lives on nodes 1, 4, 5 (4 and 5 broker-only) so the metadata quorum
/// (voters 1-3) survives.
#[test]
fn an_eligible_leader_replica_returning_first_is_elected() {
    let rt = rt();
    let mut cluster = Cluster::start_with_observers(3, 2, PROPS);
    let topic = "elr";
    create_topic(&mut cluster, topic, &["--replica-assignment", "1:4:5"]);
    wait_isr(&rt, &cluster, 1, topic, &[1, 4, 5], Duration::from_secs(20));
    let stop = Arc::new(AtomicBool::new(false));
    let mark = Arc::new(AtomicBool::new(false));
    let produced = rt.block_on(produce(
        cluster.node(1).bootstrap(),
        topic.to_owned(),
        Acks::All,
        stop,
        mark,
        40,
    ));
    assert_eq!(produced.acked.len(), 40, "{:?}", produced.failed);
    // 4 stops cleanly: ISR [1,5] is still at min ISR 2.
    assert!(cluster.terminate(4).success());
    wait_isr(&rt, &cluster, 1, topic, &[1, 5], Duration::from_secs(20));
    // 5 stops cleanly: ISR [1] is below min ISR, so 5 is eligible.
    assert!(cluster.terminate(5).success());
    wait_isr(&rt, &cluster, 1, topic, &[1], Duration::from_secs(20));
    // The leader dies: no ISR member left, both are eligible, none live.
    cluster.kill(1);
    wait_for(
        &cluster,
        "elr-0 offline",
        Duration::from_secs(20),
        || match layout(&rt, &cluster, 2, topic)? {
            (-1, isr) if isr.is_empty() => Ok(()),
            other => Err(format!("{other:?}")),
        },
    );
    // 5 returns first, cleanly: it is elected from the ELR.
    cluster.restart(5);
    wait_isr(&rt, &cluster, 2, topic, &[5], Duration::from_secs(30));
    let (leader, _) = layout(&rt, &cluster, 2, topic).expect("metadata");
    assert_eq!(leader, 5);
    // Alone it is below min ISR, so (KIP-966) its high watermark may not
    // pass what it last knew as a follower; once 4 returns and rejoins,
    // the mark covers everything acknowledged.
    cluster.restart(4);
    wait_isr(&rt, &cluster, 2, topic, &[4, 5], Duration::from_secs(30));
    let read = rt
        .block_on(read_all(&cluster.node(5).bootstrap(), topic))
        .expect("read back");
    check_no_loss(&produced, &read);
    assert_eq!(read.len(), 40);
}

/// Issue 6 (d): with unclean election off, a partition whose only live
/// replica is out of sync stays offline rather than losing data; it
/// comes back with every acknowledged record once an in-sync replica
/// returns.
#[test]
fn unclean_election_off_keeps_a_partition_offline_instead_of_losing_data() {
    let rt = rt();
    let mut cluster = Cluster::start_with_observers(3, 2, PROPS);
    let topic = "no-unclean";
    create_topic(&mut cluster, topic, &["--replica-assignment", "1:4:5"]);
    wait_isr(&rt, &cluster, 1, topic, &[1, 4, 5], Duration::from_secs(20));
    // 4 dies; the others take records it never sees.
    cluster.kill(4);
    wait_isr(&rt, &cluster, 1, topic, &[1, 5], Duration::from_secs(20));
    let stop = Arc::new(AtomicBool::new(false));
    let mark = Arc::new(AtomicBool::new(false));
    let produced = rt.block_on(produce(
        cluster.node(1).bootstrap(),
        topic.to_owned(),
        Acks::All,
        stop,
        mark,
        30,
    ));
    assert_eq!(produced.acked.len(), 30, "{:?}", produced.failed);
    // Both in-sync replicas die; the out-of-sync 4 comes back.
    cluster.kill(5);
    cluster.kill(1);
    cluster.restart(4);
    wait_for(&cluster, "4 is unfenced", Duration::from_secs(20), || {
        let md = rt
            .block_on(node_metadata(cluster.node(2).port, Some(&[topic])))
            .map_err(|e| e.to_string())?;
        if md.brokers.keys().any(|b| b.0 == 4) {
            Ok(())
        } else {
            Err(format!("brokers {:?}", md.brokers.keys()))
        }
    });
    // 1 and 5 are fenced (after their sessions expire, or a controller
    // failover's fresh sessions): the partition goes offline, and stays
    // so although 4 is live, because 4 is neither in sync nor eligible.
    wait_for(
        &cluster,
        "no-unclean-0 offline",
        Duration::from_secs(30),
        || match layout(&rt, &cluster, 2, topic)? {
            (-1, _) => Ok(()),
            (4, isr) => panic!("the out-of-sync replica 4 was elected (ISR {isr:?})"),
            other => Err(format!("{other:?}")),
        },
    );
    std::thread::sleep(Duration::from_secs(3));
    let (leader, _) = layout(&rt, &cluster, 2, topic).expect("metadata");
    assert_eq!(leader, -1, "an out-of-sync replica was elected");
    // The in-sync replicas return (after crashes: the last known leader
    // rule elects one of them); nothing acknowledged is lost.
    cluster.restart(1);
    cluster.restart(5);
    let leader = wait_for(
        &cluster,
        "a leader again",
        Duration::from_secs(30),
        || match layout(&rt, &cluster, 2, topic)? {
            (l, _) if l >= 0 => Ok(l),
            other => Err(format!("{other:?}")),
        },
    );
    assert!(leader == 1 || leader == 5, "leader {leader}");
    let read = rt
        .block_on(read_all(&cluster.node(2).bootstrap(), topic))
        .expect("read back");
    check_no_loss(&produced, &read);
    assert_eq!(read.len(), 30);
}
