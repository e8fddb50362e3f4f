//! Committed offsets survive the loss of their coordinator: three real
//! `weir server` processes, a group's offsets committed to its
//! coordinator (the leader of the group's `__consumer_offsets` partition),
//! the coordinator SIGKILLed, and the new coordinator answering the same
//! offsets. Every wait is bounded; the cluster's processes are killed by
//! PID when it drops.

mod common;

use common::cluster::{create_topic_on, node_connection, node_metadata, wait_for, Cluster};
use std::time::Duration;
use weir_protocol::kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use weir_protocol::kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopics,
};
use weir_protocol::kafka_protocol::messages::{
    FindCoordinatorRequest, GroupId, OffsetCommitRequest, OffsetFetchRequest, TopicName,
};
use weir_protocol::kafka_protocol::protocol::StrBytes;

const PROPS: &[&str] = &[
    "broker.session.timeout.ms=3000",
    "broker.heartbeat.interval.ms=500",
    // Few partitions keep the test quick; the rule is the same for 50.
    "offsets.topic.num.partitions=5",
];

const GROUP: &str = "failover-group";

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_owned())
}

/// The coordinator node the node on `port` names for the group.
async fn find_coordinator(port: u16) -> Result<i32, String> {
    let conn = node_connection(port).await?;
    let request = FindCoordinatorRequest::default().with_coordinator_keys(vec![s(GROUP)]);
    let response = conn.send(&request, 4).await.map_err(|e| e.to_string())?;
    let c = &response.coordinators[0];
    if c.error_code != 0 {
        return Err(format!("FindCoordinator error {}", c.error_code));
    }
    Ok(c.node_id.0)
}

/// A simple (generation -1) commit of `offsets` for partitions 0.. of "t".
async fn commit(port: u16, offsets: &[i64]) -> Result<(), String> {
    let conn = node_connection(port).await?;
    let partitions = offsets
        .iter()
        .enumerate()
        .map(|(i, o)| {
            OffsetCommitRequestPartition::default()
                .with_partition_index(i as i32)
                .with_committed_offset(*o)
                .with_committed_leader_epoch(-1)
        })
        .collect();
    let request = OffsetCommitRequest::default()
        .with_group_id(GroupId(s(GROUP)))
        .with_generation_id_or_member_epoch(-1)
        .with_member_id(s(""))
        .with_topics(vec![OffsetCommitRequestTopic::default()
            .with_name(TopicName(s("t")))
            .with_partitions(partitions)]);
    let response = conn.send(&request, 8).await.map_err(|e| e.to_string())?;
    let codes: Vec<i16> = response.topics[0]
        .partitions
        .iter()
        .map(|p| p.error_code)
        .collect();
    if codes.iter().all(|c| *c == 0) {
        Ok(())
    } else {
        Err(format!("OffsetCommit codes {codes:?}"))
    }
}

/// The committed offsets of partitions 0..n of "t".
async fn fetch(port: u16, n: i32) -> Result<Vec<i64>, String> {
    let conn = node_connection(port).await?;
    let request =
        OffsetFetchRequest::default().with_groups(vec![OffsetFetchRequestGroup::default()
            .with_group_id(GroupId(s(GROUP)))
            .with_topics(Some(vec![OffsetFetchRequestTopics::default()
                .with_name(TopicName(s("t")))
                .with_partition_indexes((0..n).collect())]))]);
    let response = conn.send(&request, 8).await.map_err(|e| e.to_string())?;
    let group = &response.groups[0];
    if group.error_code != 0 {
        return Err(format!("OffsetFetch error {}", group.error_code));
    }
    Ok(group.topics[0]
        .partitions
        .iter()
        .map(|p| p.committed_offset)
        .collect())
}

#[test]
fn committed_offsets_survive_a_sigkill_of_their_coordinator() {
    let mut cluster = Cluster::start(3, PROPS);
    let rt = rt();
    let port1 = cluster.node(1).port;
    wait_for(&cluster, "topic t", Duration::from_secs(30), || {
        rt.block_on(create_topic_on(port1, "t", 3, 3))
            .map_err(|(code, m)| format!("{code}: {m}"))
    });
    // The first lookup creates __consumer_offsets; clients retry.
    let coordinator = wait_for(&cluster, "a coordinator", Duration::from_secs(30), || {
        rt.block_on(find_coordinator(port1))
    });
    let md = rt
        .block_on(node_metadata(port1, Some(&["__consumer_offsets"])))
        .expect("metadata");
    let topic = md
        .topics
        .get("__consumer_offsets")
        .expect("__consumer_offsets exists");
    assert_eq!(topic.partitions.len(), 5, "offsets.topic.num.partitions");
    assert!(
        topic.partitions.iter().all(|p| p.replicas.len() == 3),
        "replicated to all three brokers: {topic:?}"
    );
    let coordinator = usize::try_from(coordinator).unwrap();
    let cport = cluster.node(coordinator).port;
    // The coordinator may still be loading its partition.
    wait_for(
        &cluster,
        "the first commit",
        Duration::from_secs(30),
        || rt.block_on(commit(cport, &[100, 200, 300])),
    );
    assert_eq!(rt.block_on(fetch(cport, 3)).unwrap(), vec![100, 200, 300]);
    wait_for(
        &cluster,
        "the second commit",
        Duration::from_secs(30),
        || rt.block_on(commit(cport, &[110, 220, 330])),
    );

    // The commits are Kafka's records, and the dump tool decodes them.
    let logs = cluster.node(coordinator).dir.join("logs");
    let mut dumped = String::new();
    for entry in std::fs::read_dir(&logs).unwrap() {
        let dir = entry.unwrap().path();
        let segment = dir.join("00000000000000000000.log");
        let is_offsets = dir
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("__consumer_offsets-"));
        if is_offsets && std::fs::metadata(&segment).is_ok_and(|m| m.len() > 0) {
            let run = common::weir(
                &logs,
                &[
                    "dump-log",
                    "--offsets-decoder",
                    "--files",
                    segment.to_str().unwrap(),
                ],
            );
            run.assert_clean();
            dumped.push_str(&run.stdout);
        }
    }
    for (partition, offset) in [(0, 100), (2, 330)] {
        let expected = format!(
            "key: {{\"type\":\"1\",\"data\":{{\"group\":\"{GROUP}\",\"topic\":\"t\",\
             \"partition\":{partition}}}}} payload: {{\"version\":\"3\",\"data\":{{\
             \"offset\":{offset},\"leaderEpoch\":-1,\"metadata\":\"\",\"commitTimestamp\":"
        );
        assert!(dumped.contains(&expected), "{expected}\nnot in\n{dumped}");
    }

    eprintln!("SIGKILL coordinator {coordinator}");
    cluster.kill(coordinator);
    let survivor = (1..=3).find(|&i| i != coordinator).unwrap();
    let sport = cluster.node(survivor).port;
    let new = wait_for(
        &cluster,
        "a new coordinator",
        Duration::from_secs(30),
        || match rt.block_on(find_coordinator(sport))? {
            c if usize::try_from(c).unwrap() == coordinator => {
                Err(format!("still names the killed node {c}"))
            }
            c => Ok(usize::try_from(c).unwrap()),
        },
    );
    let nport = cluster.node(new).port;
    // Every acknowledged commit is there, the last one winning.
    let offsets = wait_for(
        &cluster,
        "offsets from the new coordinator",
        Duration::from_secs(30),
        || rt.block_on(fetch(nport, 3)),
    );
    assert_eq!(offsets, vec![110, 220, 330], "coordinator {new}");
    // The new coordinator takes commits, and the old one, back as a
    // follower, has the same log.
    wait_for(
        &cluster,
        "a commit to the new coordinator",
        Duration::from_secs(30),
        || rt.block_on(commit(nport, &[111, 221, 331])),
    );
    cluster.restart(coordinator);
    let offsets = wait_for(
        &cluster,
        "offsets after the restart",
        Duration::from_secs(30),
        || {
            let c = usize::try_from(rt.block_on(find_coordinator(port1))?).unwrap();
            rt.block_on(fetch(cluster.node(c).port, 3))
        },
    );
    assert_eq!(offsets, vec![111, 221, 331]);
}

/// `tests/interop/python/<name>`.
fn interop_script(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/interop/python")
        .join(name)
}

/// A confluent-kafka consumer commits (acknowledged), its coordinator is
/// SIGKILLed, and the same consumer then reads back exactly the
/// acknowledged offsets from the new coordinator, finishes the topic, and
/// a fresh member of the group re-reads nothing
/// (`tests/interop/python/group_failover.py`).
#[test]
fn a_confluent_kafka_group_keeps_its_commits_through_a_coordinator_kill() {
    use std::io::{BufRead, BufReader, Write};
    use std::process::{Command, Stdio};
    const GROUP_NAME: &str = "ck-failover";
    let mut cluster = Cluster::start(3, PROPS);
    let rt = rt();
    let port1 = cluster.node(1).port;
    wait_for(&cluster, "topic gf", Duration::from_secs(30), || {
        rt.block_on(create_topic_on(port1, "gf", 3, 3))
            .map_err(|(code, m)| format!("{code}: {m}"))
    });
    let mut child = Command::new("python3")
        .arg(interop_script("group_failover.py"))
        .args([&cluster.bootstrap(), "gf", GROUP_NAME, "3000"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3 (run `bash .ci/run` to install confluent-kafka)");
    let (tx, lines) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let next_line = |timeout: Duration| -> Result<String, String> {
        lines
            .recv_timeout(timeout)
            .map_err(|e| format!("no line from group_failover.py: {e}"))
    };
    let committed = next_line(Duration::from_secs(120)).unwrap_or_else(|e| {
        let _ = child.kill();
        panic!("{e}\n{}", cluster.all_logs())
    });
    assert!(committed.starts_with("COMMITTED "), "{committed}");
    // The coordinator of that group, as the node on port1 names it.
    let coordinator = {
        let conn = rt.block_on(node_connection(port1)).unwrap();
        let request = FindCoordinatorRequest::default().with_coordinator_keys(vec![s(GROUP_NAME)]);
        let response = rt.block_on(conn.send(&request, 4)).unwrap();
        assert_eq!(response.coordinators[0].error_code, 0);
        usize::try_from(response.coordinators[0].node_id.0).unwrap()
    };
    eprintln!("{committed}; SIGKILL coordinator {coordinator}");
    cluster.kill(coordinator);
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "KILLED").unwrap();
    drop(stdin);
    let verdict = next_line(Duration::from_secs(240)).unwrap_or_else(|e| {
        let _ = child.kill();
        panic!("{e}\n{}", cluster.all_logs())
    });
    let status = child.wait().expect("python exits");
    assert!(
        verdict.starts_with("OK ") && status.success(),
        "{verdict} ({status})\n{}",
        cluster.all_logs()
    );
    eprintln!("{verdict}");
}
