//! Issue 4's multi-process tests: real `weir server` processes on
//! 127.0.0.1 forming one KRaft cluster (three combined broker/controller
//! voters, and a broker-only observer in the last test). Every wait is
//! bounded; every process is killed by PID when the cluster drops.
//!
//! Sessions are short (`broker.session.timeout.ms=3000`, heartbeats every
//! 500 ms) so that fencing is quick. Each node's Metadata answer is read
//! on a connection to that node alone, so "every broker answers the same"
//! is checked per node, not through a client that routes elsewhere.

mod common;
mod tools_support;

use common::cluster::{create_topic_on, meta_cluster_id, node_metadata, wait_for, Cluster};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};
use weir_client::metadata::{ClusterMetadata, TopicInfo};
use weir_protocol::BrokerId;

const PROPS: &[&str] = &[
    "broker.session.timeout.ms=3000",
    "broker.heartbeat.interval.ms=500",
];

/// Kafka's INVALID_REPLICATION_FACTOR.
const INVALID_REPLICATION_FACTOR: i16 = 38;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Node `id`'s Metadata answer for `topics` (`None`: all).
fn metadata(
    rt: &tokio::runtime::Runtime,
    cluster: &Cluster,
    id: usize,
    topics: Option<&[&str]>,
) -> Result<ClusterMetadata, String> {
    rt.block_on(node_metadata(cluster.node(id).port, topics))
        .map_err(|e| format!("node {id}: {e}"))
}

/// The same Metadata answer from every node in `ids` (and every listed
/// partition led), else why not.
fn agreed(
    rt: &tokio::runtime::Runtime,
    cluster: &Cluster,
    ids: &[usize],
    topics: &[&str],
) -> Result<ClusterMetadata, String> {
    let first = metadata(rt, cluster, ids[0], Some(topics))?;
    for name in topics {
        let t = first
            .topic(name)
            .ok_or_else(|| format!("node {} does not know {name}", ids[0]))?;
        if t.partitions.is_empty() || t.partitions.iter().any(|p| p.leader.is_none()) {
            return Err(format!("{name} not fully led yet: {t:?}"));
        }
    }
    for &id in &ids[1..] {
        let other = metadata(rt, cluster, id, Some(topics))?;
        if other != first {
            return Err(format!(
                "node {} and node {id} differ:\n{first:?}\n{other:?}",
                ids[0]
            ));
        }
    }
    Ok(first)
}

fn ids(v: &[BrokerId]) -> Vec<i32> {
    v.iter().map(|b| b.0).collect()
}

fn leader(p: &weir_client::metadata::PartitionInfo) -> i32 {
    p.leader.map_or(-1, |b| b.0)
}

/// Create `name` through node `via`, retrying only transport errors and
/// "not ready" answers until `timeout`.
fn create(
    rt: &tokio::runtime::Runtime,
    cluster: &Cluster,
    via: usize,
    name: &str,
    partitions: i32,
    rf: i16,
) {
    let port = cluster.node(via).port;
    wait_for(
        cluster,
        &format!("create {name} through node {via}"),
        Duration::from_secs(20),
        || match rt.block_on(create_topic_on(port, name, partitions, rf)) {
            Ok(()) => Ok(()),
            Err((code, msg)) => Err(format!("error {code}: {msg}")),
        },
    );
}

/// Every running node in `ids` lists exactly the brokers `want` on their
/// own ports, and they name the same controller, one of `controllers`.
fn brokers_and_controller(
    rt: &tokio::runtime::Runtime,
    cluster: &Cluster,
    ids_: &[usize],
    want: &[usize],
    controllers: &[usize],
) -> Result<i32, String> {
    let mut controller = None;
    for &id in ids_ {
        let md = metadata(rt, cluster, id, Some(&[]))?;
        let listed: Vec<(i32, String, i32)> = md
            .brokers
            .values()
            .map(|b| (b.id.0, b.host.clone(), b.port))
            .collect();
        let expected: Vec<(i32, String, i32)> = want
            .iter()
            .map(|&w| {
                (
                    i32::try_from(w).unwrap(),
                    "127.0.0.1".to_owned(),
                    i32::from(cluster.node(w).port),
                )
            })
            .collect();
        if listed != expected {
            return Err(format!("node {id} lists {listed:?}, want {expected:?}"));
        }
        let c = md.controller.map_or(-1, |c| c.0);
        if !controllers.iter().any(|&k| i32::try_from(k).unwrap() == c) {
            return Err(format!("node {id} names controller {c}"));
        }
        match controller {
            None => controller = Some(c),
            Some(prev) if prev != c => {
                return Err(format!("controllers differ: {prev} and {c} (node {id})"))
            }
            Some(_) => {}
        }
    }
    Ok(controller.expect("at least one node"))
}

/// DescribeCluster's controller id from node `id`.
fn described_controller(
    rt: &tokio::runtime::Runtime,
    cluster: &Cluster,
    id: usize,
) -> Result<i32, String> {
    use weir_protocol::kafka_protocol::messages::DescribeClusterRequest;
    let port = cluster.node(id).port;
    rt.block_on(async {
        let conn = common::cluster::node_connection(port).await?;
        let resp = tokio::time::timeout(
            Duration::from_secs(5),
            conn.request(&DescribeClusterRequest::default()),
        )
        .await
        .map_err(|_| "no DescribeCluster answer in 5 s".to_owned())?
        .map_err(|e| e.to_string())?;
        if resp.error_code != 0 {
            return Err(format!("DescribeCluster error {}", resp.error_code));
        }
        Ok(resp.controller_id.0)
    })
}

#[test]
fn three_nodes_form_one_cluster_with_one_controller() {
    let cluster = Cluster::start(3, PROPS);
    let rt = rt();
    let controller = wait_for(
        &cluster,
        "all nodes list brokers 1,2,3 and agree on the controller",
        Duration::from_secs(20),
        || {
            let c = brokers_and_controller(&rt, &cluster, &[1, 2, 3], &[1, 2, 3], &[1, 2, 3])?;
            for id in 1..=3 {
                let d = described_controller(&rt, &cluster, id)?;
                if d != c {
                    return Err(format!("node {id}: DescribeCluster says {d}, Metadata {c}"));
                }
            }
            Ok(c)
        },
    );
    assert!((1..=3).contains(&controller), "{controller}");
    let cluster_ids: BTreeSet<Option<String>> = (1..=3)
        .map(|id| metadata(&rt, &cluster, id, Some(&[])).unwrap().cluster_id)
        .collect();
    assert_eq!(cluster_ids.len(), 1, "{cluster_ids:?}");
    assert!(
        cluster_ids.iter().next().unwrap().is_some(),
        "no cluster id"
    );
}

#[test]
fn rf3_topic_spreads_replicas_and_leaders_and_every_node_answers_the_same() {
    let cluster = Cluster::start(3, PROPS);
    let rt = rt();
    create(&rt, &cluster, 2, "spread", 6, 3);
    let md = wait_for(
        &cluster,
        "nodes 1,2,3 answer the same Metadata for spread",
        Duration::from_secs(15),
        || agreed(&rt, &cluster, &[1, 2, 3], &["spread"]),
    );
    assert_eq!(md.brokers.len(), 3, "{md:?}");
    assert!(md.cluster_id.is_some(), "{md:?}");
    let topic = md.topic("spread").expect("spread");
    assert_eq!(topic.partitions.len(), 6, "{topic:?}");
    let mut leads: BTreeMap<i32, usize> = BTreeMap::new();
    for p in &topic.partitions {
        let replicas = ids(&p.replicas);
        let distinct: BTreeSet<i32> = replicas.iter().copied().collect();
        assert_eq!(replicas.len(), 3, "partition {}: {replicas:?}", p.partition);
        assert_eq!(
            distinct,
            BTreeSet::from([1, 2, 3]),
            "partition {}",
            p.partition
        );
        assert_eq!(ids(&p.isr), replicas, "ISR = replicas at creation: {p:?}");
        assert_eq!(leader(p), replicas[0], "leader = first replica: {p:?}");
        assert!(p.offline_replicas.is_empty(), "{p:?}");
        assert!(p.error.is_none(), "{p:?}");
        *leads.entry(leader(p)).or_default() += 1;
    }
    assert_eq!(
        leads,
        BTreeMap::from([(1, 2), (2, 2), (3, 2)]),
        "each broker leads 2 of 6: {topic:?}"
    );
    eprintln!("spread assignment: {:?}", assignment(topic));
}

/// Partition -> replicas.
fn assignment(topic: &TopicInfo) -> BTreeMap<i32, Vec<i32>> {
    topic
        .partitions
        .iter()
        .map(|p| (p.partition, ids(&p.replicas)))
        .collect()
}

#[test]
fn killing_the_active_controller_elects_another_within_10_s() {
    let mut cluster = Cluster::start(3, PROPS);
    let rt = rt();
    let old = wait_for(
        &cluster,
        "one agreed controller",
        Duration::from_secs(20),
        || brokers_and_controller(&rt, &cluster, &[1, 2, 3], &[1, 2, 3], &[1, 2, 3]),
    );
    create(&rt, &cluster, 1, "before", 3, 3);
    let old = usize::try_from(old).unwrap();
    let survivors: Vec<usize> = (1..=3).filter(|&i| i != old).collect();
    eprintln!("SIGKILL active controller {old}");
    cluster.kill(old);
    let killed = Instant::now();
    let bound = Duration::from_secs(10);

    let new = wait_for(
        &cluster,
        "survivors agree on a new controller",
        bound,
        || {
            let mut seen = BTreeSet::new();
            for &id in &survivors {
                let md = metadata(&rt, &cluster, id, Some(&[]))?;
                seen.insert(md.controller.map_or(-1, |c| c.0));
            }
            match seen.into_iter().collect::<Vec<_>>()[..] {
                [c] if survivors.iter().any(|&s| i32::try_from(s).unwrap() == c) => Ok(c),
                ref other => Err(format!("survivors name {other:?}")),
            }
        },
    );
    let to_controller = killed.elapsed();
    eprintln!("new active controller {new} after {to_controller:?}");
    assert!(to_controller <= bound, "{to_controller:?}");

    // Through the survivor that is not the controller, so it is forwarded.
    let via = *survivors
        .iter()
        .find(|&&s| i32::try_from(s).unwrap() != new)
        .unwrap();
    let port = cluster.node(via).port;
    let mut last = String::new();
    let created = loop {
        match rt.block_on(create_topic_on(port, "after-failover", 3, 2)) {
            Ok(()) => break Some(killed.elapsed()),
            // An earlier attempt that timed out may have committed.
            Err((36, _)) => break Some(killed.elapsed()),
            Err((code, msg)) => last = format!("{code}: {msg}"),
        }
        if killed.elapsed() > bound {
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let Some(to_create) = created else {
        panic!(
            "no create through node {via} within {bound:?} of the kill; last: {last}\n{}",
            cluster.all_logs()
        );
    };
    eprintln!("first successful CreateTopics through node {via} after {to_create:?}");
    // The dead node may still be unfenced when the topic is created (its
    // session has 3 s to run), so it can be assigned and even lead; once
    // fenced, every partition of both topics is led by a survivor.
    let md = wait_for(
        &cluster,
        "survivors agree on both topics, led by survivors only",
        Duration::from_secs(10),
        || {
            let md = agreed(&rt, &cluster, &survivors, &["after-failover", "before"])?;
            let o = i32::try_from(old).unwrap();
            if md.brokers.keys().any(|b| b.0 == o) {
                return Err(format!("node {old} still listed"));
            }
            for t in md.topics.values() {
                for p in &t.partitions {
                    if !survivors
                        .iter()
                        .any(|&s| i32::try_from(s).unwrap() == leader(p))
                    {
                        return Err(format!("{} led by {}: {p:?}", t.name, leader(p)));
                    }
                }
            }
            Ok(md)
        },
    );
    let t = md.topic("after-failover").unwrap();
    assert_eq!(t.partitions.len(), 3, "{t:?}");
    for p in &t.partitions {
        assert_eq!(p.replicas.len(), 2, "{p:?}");
    }
}

#[test]
fn restarting_every_node_keeps_topics_ids_assignments_and_cluster_id() {
    let mut cluster = Cluster::start(3, PROPS);
    let rt = rt();
    let topics = ["r-a", "r-b", "r-c"];
    create(&rt, &cluster, 1, "r-a", 6, 3);
    create(&rt, &cluster, 2, "r-b", 3, 2);
    create(&rt, &cluster, 3, "r-c", 1, 1);
    let before = wait_for(
        &cluster,
        "nodes agree on r-a, r-b, r-c",
        Duration::from_secs(15),
        || agreed(&rt, &cluster, &[1, 2, 3], &topics),
    );
    let meta_before: Vec<Option<String>> = (1..=3).map(|i| meta_cluster_id(&cluster, i)).collect();
    assert!(meta_before[0].is_some(), "no meta.properties cluster.id");
    assert!(
        meta_before.iter().all(|c| *c == meta_before[0]),
        "{meta_before:?}"
    );
    assert_eq!(
        before.cluster_id, meta_before[0],
        "Metadata vs meta.properties"
    );

    for id in 1..=3 {
        cluster.kill(id);
    }
    for id in 1..=3 {
        cluster.restart_no_wait(id);
    }
    let restarted = Instant::now();
    cluster.wait_ready(Duration::from_secs(60));
    let after = wait_for(
        &cluster,
        "nodes agree on r-a, r-b, r-c after the restart, every partition led",
        Duration::from_secs(30),
        || agreed(&rt, &cluster, &[1, 2, 3], &topics),
    );
    eprintln!(
        "all partitions led again {:?} after the restart",
        restarted.elapsed()
    );

    for name in topics {
        let (b, a) = (before.topic(name).unwrap(), after.topic(name).unwrap());
        assert_eq!(a.topic_id, b.topic_id, "{name}: topic id");
        assert_eq!(a.partitions.len(), b.partitions.len(), "{name}: count");
        assert_eq!(assignment(a), assignment(b), "{name}: assignment");
        for p in &a.partitions {
            assert!(ids(&p.isr).contains(&leader(p)), "{name}: {p:?}");
        }
    }
    assert_eq!(after.cluster_id, before.cluster_id, "cluster id");
    let meta_after: Vec<Option<String>> = (1..=3).map(|i| meta_cluster_id(&cluster, i)).collect();
    assert_eq!(meta_after, meta_before, "meta.properties cluster.id");
    let all = metadata(&rt, &cluster, 1, None).unwrap();
    for name in topics {
        assert!(all.topic(name).is_some(), "{name} not listed: {all:?}");
    }
}

/// Kill `victim` and check, on the `survivors`, what Kafka's controller
/// does once its session expires: every partition it led gets a new
/// leader from its ISR with a higher leader epoch, it leaves every ISR
/// (listed as offline), and it is gone from the broker list.
fn fence_and_check(
    cluster: &mut Cluster,
    rt: &tokio::runtime::Runtime,
    victim: usize,
    survivors: &[usize],
    topic: &str,
) {
    let before = agreed(rt, cluster, survivors, &[topic]).expect("agreed before");
    let t_before = before.topic(topic).unwrap().clone();
    let v = i32::try_from(victim).unwrap();
    let led: Vec<i32> = t_before
        .partitions
        .iter()
        .filter(|p| leader(p) == v)
        .map(|p| p.partition)
        .collect();
    assert!(!led.is_empty(), "node {victim} leads nothing: {t_before:?}");
    cluster.kill(victim);
    let killed = Instant::now();
    let after = wait_for(
        cluster,
        &format!("node {victim}'s partitions move to ISR members"),
        Duration::from_secs(3 + 7),
        || {
            let md = agreed(rt, cluster, survivors, &[topic])?;
            if md.brokers.keys().any(|b| b.0 == v) {
                return Err(format!("node {victim} still listed"));
            }
            let t = md.topic(topic).unwrap();
            for p in &t.partitions {
                if ids(&p.isr).contains(&v) {
                    return Err(format!("node {victim} still in ISR: {p:?}"));
                }
                if leader(p) == v {
                    return Err(format!("node {victim} still leads: {p:?}"));
                }
            }
            Ok(md)
        },
    );
    eprintln!(
        "node {victim} fenced and its {} partitions re-led after {:?}",
        led.len(),
        killed.elapsed()
    );
    let t_after = after.topic(topic).unwrap();
    for (b, a) in t_before.partitions.iter().zip(&t_after.partitions) {
        assert_eq!(a.partition, b.partition);
        assert_eq!(a.replicas, b.replicas, "assignment unchanged: {a:?}");
        assert!(
            a.offline_replicas.iter().any(|r| r.0 == v),
            "{victim} offline: {a:?}"
        );
        let mut isr_before = ids(&b.isr);
        isr_before.retain(|&r| r != v);
        assert_eq!(
            ids(&a.isr),
            isr_before,
            "fenced broker leaves the ISR: {a:?}"
        );
        if led.contains(&b.partition) {
            let new = leader(a);
            assert!(
                ids(&b.isr).contains(&new),
                "new leader from the ISR: {b:?} -> {a:?}"
            );
            // Kafka's election rule: the first replica in assignment order
            // that is in the ISR and not fenced.
            let first = ids(&b.replicas)
                .into_iter()
                .find(|r| *r != v && ids(&b.isr).contains(r))
                .unwrap();
            assert_eq!(new, first, "first live ISR replica: {b:?} -> {a:?}");
            assert!(
                a.leader_epoch > b.leader_epoch,
                "leader epoch bumps: {b:?} -> {a:?}"
            );
        } else {
            assert_eq!(leader(a), leader(b), "other leaders stay: {b:?} -> {a:?}");
        }
    }
}

#[test]
fn a_fenced_brokers_partitions_get_new_leaders_from_the_isr() {
    let mut cluster = Cluster::start(3, PROPS);
    let rt = rt();
    create(&rt, &cluster, 1, "fence", 6, 3);
    // RF=1 over 3 brokers: each leads one partition, as its only replica.
    create(&rt, &cluster, 1, "fence-rf1", 3, 1);
    let md = wait_for(
        &cluster,
        "nodes agree on fence and fence-rf1",
        Duration::from_secs(15),
        || agreed(&rt, &cluster, &[1, 2, 3], &["fence", "fence-rf1"]),
    );
    // A broker that is not the active controller, so that what happens is
    // fencing by session expiry and not a controller failover.
    let controller = md.controller.expect("controller").0;
    let victim = (1..=3)
        .find(|&i| i32::try_from(i).unwrap() != controller)
        .unwrap();
    let v = i32::try_from(victim).unwrap();
    let alone = md
        .topic("fence-rf1")
        .unwrap()
        .partitions
        .iter()
        .find(|p| ids(&p.replicas) == [v])
        .unwrap_or_else(|| panic!("no RF=1 partition on node {victim}: {md:?}"))
        .clone();
    let survivors: Vec<usize> = (1..=3).filter(|&i| i != victim).collect();
    fence_and_check(&mut cluster, &rt, victim, &survivors, "fence");

    // With ELR (KIP-966, on by default) the last ISR member leaves the ISR
    // for the ELR and the partition has no leader (leader -1,
    // LEADER_NOT_AVAILABLE), with a new leader epoch.
    let p = wait_for(
        &cluster,
        "the RF=1 partition of the fenced node is leaderless on the survivors",
        Duration::from_secs(5),
        || {
            let mut seen = Vec::new();
            for &id in &survivors {
                let md = metadata(&rt, &cluster, id, Some(&["fence-rf1"]))?;
                let t = md.topic("fence-rf1").ok_or(format!("node {id}: gone"))?;
                let p = t
                    .partitions
                    .iter()
                    .find(|p| p.partition == alone.partition)
                    .ok_or(format!("node {id}: no partition {}", alone.partition))?
                    .clone();
                if p.leader.is_some() {
                    return Err(format!("node {id}: still led: {p:?}"));
                }
                seen.push(p);
            }
            if seen.iter().all(|p| *p == seen[0]) {
                Ok(seen.remove(0))
            } else {
                Err(format!("survivors differ: {seen:?}"))
            }
        },
    );
    assert_eq!(ids(&p.isr), Vec::<i32>::new(), "the ISR empties: {p:?}");
    assert_eq!(ids(&p.offline_replicas), [v], "{p:?}");
    assert_eq!(
        p.error.as_ref().map(|e| e.code()),
        Some(5),
        "LEADER_NOT_AVAILABLE: {p:?}"
    );
    assert!(
        p.leader_epoch > alone.leader_epoch,
        "leader epoch bumps: {alone:?} -> {p:?}"
    );
}

#[test]
fn replication_factor_above_the_broker_count_is_invalid_replication_factor() {
    let cluster = Cluster::start(3, PROPS);
    let rt = rt();
    for via in 1..=3 {
        match rt.block_on(create_topic_on(cluster.node(via).port, "rf4", 1, 4)) {
            Err((code, msg)) => assert_eq!(code, INVALID_REPLICATION_FACTOR, "via {via}: {msg}"),
            Ok(()) => panic!("RF=4 on 3 brokers accepted through node {via}"),
        }
    }
    let out = tools_support::weir(
        &[
            "topics",
            "--bootstrap-server",
            &cluster.bootstrap(),
            "--create",
            "--topic",
            "rf4",
            "--partitions",
            "1",
            "--replication-factor",
            "4",
        ],
        b"",
        tools_support::RUN,
    );
    out.fails_with("INVALID_REPLICATION_FACTOR");
    for id in 1..=3 {
        let md = metadata(&rt, &cluster, id, None).unwrap();
        assert!(md.topic("rf4").is_none(), "node {id}: {md:?}");
    }
    // RF=3 is fine.
    create(&rt, &cluster, 3, "rf3", 1, 3);
}

#[test]
fn a_broker_only_node_registers_leads_answers_the_same_and_is_fenced() {
    let mut cluster = Cluster::start_with_observers(3, 1, PROPS);
    assert!(!cluster.node(4).voter);
    let props = std::fs::read_to_string(&cluster.node(4).props).unwrap();
    assert!(props.contains("process.roles=broker\n"), "{props}");
    assert!(!props.contains("CONTROLLER://"), "{props}");
    let rt = rt();
    let controller = wait_for(
        &cluster,
        "all four list brokers 1..4 and name one voter as controller",
        Duration::from_secs(20),
        || brokers_and_controller(&rt, &cluster, &[1, 2, 3, 4], &[1, 2, 3, 4], &[1, 2, 3]),
    );
    assert_eq!(described_controller(&rt, &cluster, 4).unwrap(), controller);

    // Created through the broker-only node (forwarded to the controller).
    create(&rt, &cluster, 4, "obs", 8, 4);
    let md = wait_for(
        &cluster,
        "all four nodes answer the same for obs",
        Duration::from_secs(15),
        || agreed(&rt, &cluster, &[1, 2, 3, 4], &["obs"]),
    );
    let t = md.topic("obs").unwrap();
    let mut leads: BTreeMap<i32, usize> = BTreeMap::new();
    for p in &t.partitions {
        let distinct: BTreeSet<i32> = ids(&p.replicas).into_iter().collect();
        assert_eq!(distinct, BTreeSet::from([1, 2, 3, 4]), "{p:?}");
        assert_eq!(ids(&p.isr), ids(&p.replicas), "{p:?}");
        *leads.entry(leader(p)).or_default() += 1;
    }
    assert_eq!(
        leads,
        BTreeMap::from([(1, 2), (2, 2), (3, 2), (4, 2)]),
        "{t:?}"
    );
    fence_and_check(&mut cluster, &rt, 4, &[1, 2, 3], "obs");
}
