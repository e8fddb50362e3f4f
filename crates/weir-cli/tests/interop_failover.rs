//! A confluent-kafka producer (acks=all, idempotence on) keeps producing
//! while the partition's leader is SIGKILLed in a 3-node Weir cluster; its
//! delivery reports and a final full read agree: every record reported
//! delivered is read exactly once, at the offset its report named, and no
//! record is read twice. The producer must actually continue through the
//! failover (reports for records sent after the kill). The killed node is
//! then restarted, rejoins the ISR, and its copy of the partition's log is
//! byte for byte the same as the other two.
//!
//! The client side is `tests/interop/python/failover_produce.py`. `.ci/run`
//! installs confluent-kafka; a missing module is a failure, not a skip.

mod common;

use common::cluster::{create_topic_on, node_metadata, wait_for, Cluster};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const PROPS: &[&str] = &[
    "broker.session.timeout.ms=3000",
    "broker.heartbeat.interval.ms=500",
    "min.insync.replicas=2",
    "replica.lag.time.max.ms=5000",
];

const TOPIC: &str = "failover-produce";
/// Records the producer sends, and how fast.
const COUNT: usize = 3000;
const RATE: u32 = 200;

fn interop_script(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/interop/python")
        .join(name)
        .display()
        .to_string()
}

fn require_confluent_kafka() {
    let out = Command::new("python3")
        .args(["-c", "import confluent_kafka"])
        .output();
    let ok = out.as_ref().is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "python3 with confluent_kafka is not usable here ({:?}); run `bash .ci/run` \
         (it installs the interop clients from tests/interop/python/requirements.txt)",
        out.map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
    );
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// Partition 0 as node `id` sees it: (leader, replicas, isr).
fn partition_view(
    rt: &tokio::runtime::Runtime,
    cluster: &Cluster,
    id: usize,
) -> Result<(i32, Vec<i32>, Vec<i32>), String> {
    let md = rt
        .block_on(node_metadata(cluster.node(id).port, Some(&[TOPIC])))
        .map_err(|e| format!("node {id}: {e}"))?;
    let t = md
        .topic(TOPIC)
        .ok_or(format!("node {id} does not list {TOPIC}"))?;
    let p = t
        .partitions
        .iter()
        .find(|p| p.partition == 0)
        .ok_or(format!("node {id}: no partition 0: {t:?}"))?;
    let leader = p.leader.ok_or(format!("node {id}: no leader: {p:?}"))?.0;
    let mut isr: Vec<i32> = p.isr.iter().map(|b| b.0).collect();
    isr.sort_unstable();
    Ok((leader, p.replicas.iter().map(|b| b.0).collect(), isr))
}

/// One delivery report of the producer.
struct Delivery {
    value: String,
    partition: i64,
    offset: i64,
    /// The kill marker existed when the record was handed to produce().
    sent_after_kill: bool,
    /// The kill marker existed when its delivery report arrived.
    reported_after_kill: bool,
    /// When the report arrived, seconds since the epoch.
    reported_at: f64,
}

/// A child whose stdout lines arrive on a channel and whose stderr is
/// collected by a thread (so neither pipe can fill up and block it).
struct Client {
    child: Child,
    lines: mpsc::Receiver<String>,
    stderr: std::thread::JoinHandle<String>,
}

fn spawn_client(cmd: &mut Command) -> Client {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let stderr = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    Client {
        child,
        lines,
        stderr,
    }
}

impl Client {
    /// Wait (bounded) for the child to exit; kill it by PID at the
    /// deadline. Returns its stdout lines not yet taken, its stderr and
    /// whether it exited successfully on its own.
    fn finish(mut self, timeout: Duration) -> (Vec<String>, String, Result<(), String>) {
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                break Ok(status);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break Err(format!("still running after {timeout:?}; killed"));
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let stderr = self.stderr.join().unwrap_or_default();
        let lines: Vec<String> = self.lines.iter().collect();
        let result = match status {
            Ok(s) if s.success() => Ok(()),
            Ok(s) => Err(format!("exited with {s}")),
            Err(e) => Err(e),
        };
        (lines, stderr, result)
    }
}

/// The partition's `.log` segment files on node `id`, by name.
fn segment_files(cluster: &Cluster, id: usize) -> BTreeMap<String, Vec<u8>> {
    let dir: PathBuf = cluster.node(id).dir.join("logs").join(format!("{TOPIC}-0"));
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("dir entry").path();
        if path.extension().is_some_and(|e| e == "log") {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            files.insert(name, bytes);
        }
    }
    files
}

fn describe_files(files: &BTreeMap<String, Vec<u8>>) -> String {
    files
        .iter()
        .map(|(n, b)| format!("{n} ({} bytes)", b.len()))
        .collect::<Vec<_>>()
        .join(", ")
}

#[test]
fn confluent_kafka_idempotent_producer_keeps_producing_through_a_leader_kill() {
    require_confluent_kafka();
    let mut cluster = Cluster::start(3, PROPS);
    let rt = runtime();

    // 1. One partition, RF=3; wait until every node sees all three in the ISR.
    wait_for(
        &cluster,
        "create the topic",
        Duration::from_secs(15),
        || {
            match rt.block_on(create_topic_on(cluster.node(1).port, TOPIC, 1, 3)) {
                Ok(()) | Err((36, _)) => Ok(()), // 36: TOPIC_ALREADY_EXISTS (a retry)
                Err((code, msg)) => Err(format!("CreateTopics: {code} {msg}")),
            }
        },
    );
    let leader = wait_for(
        &cluster,
        "all three replicas in the ISR on every node",
        Duration::from_secs(30),
        || {
            let mut leaders = Vec::new();
            for id in 1..=3 {
                let (leader, replicas, isr) = partition_view(&rt, &cluster, id)?;
                if replicas.len() != 3 || isr != [1, 2, 3] {
                    return Err(format!("node {id}: replicas {replicas:?} isr {isr:?}"));
                }
                leaders.push(leader);
            }
            if leaders.iter().all(|l| *l == leaders[0]) {
                Ok(leaders[0])
            } else {
                Err(format!("nodes disagree on the leader: {leaders:?}"))
            }
        },
    );
    let leader = usize::try_from(leader).expect("leader id");
    eprintln!("partition 0: leader {leader}, ISR [1, 2, 3]");

    // 2. The producer, against all three nodes.
    let scratch = tempfile::tempdir().expect("scratch dir");
    let marker = scratch.path().join("leader-killed");
    let mut producer = spawn_client(
        Command::new("python3")
            .arg(interop_script("failover_produce.py"))
            .arg("produce")
            .arg(cluster.bootstrap())
            .arg(TOPIC)
            .arg(COUNT.to_string())
            .arg(RATE.to_string())
            .arg(&marker),
    );
    let spawned = Instant::now();
    let started_deadline = spawned + Duration::from_secs(30);
    let mut early_lines = Vec::new();
    loop {
        let left = started_deadline.saturating_duration_since(Instant::now());
        match producer.lines.recv_timeout(left) {
            Ok(line) if line == "STARTED" => break,
            Ok(line) => early_lines.push(line),
            Err(_) => {
                let _ = producer.child.kill();
                let (lines, stderr, _) = producer.finish(Duration::from_secs(5));
                panic!(
                    "the producer reported no delivery within 30 s\nstdout: {early_lines:?} \
                     {lines:?}\nstderr:\n{stderr}\n{}",
                    cluster.all_logs()
                );
            }
        }
    }
    eprintln!(
        "first delivery report {:.2?} after the producer started",
        spawned.elapsed()
    );

    // 3. ~1 s later, SIGKILL the leader; then the marker (holding the kill's
    //    wall-clock time) tells the script which reports came after it.
    std::thread::sleep(Duration::from_secs(1));
    cluster.kill(leader);
    let killed_at = Instant::now();
    let kill_wall = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64();
    std::fs::write(&marker, format!("{kill_wall}\n")).expect("write marker");
    eprintln!("killed leader node {leader}");

    // Who leads now (bounded; informational, the producer must cope anyway).
    let survivors: Vec<usize> = (1..=3).filter(|&id| id != leader).collect();
    let new_leader = wait_for(
        &cluster,
        "a new leader after the kill",
        Duration::from_secs(30),
        || {
            let (l, _, isr) = partition_view(&rt, &cluster, survivors[0])?;
            if l as usize == leader {
                Err(format!("still led by {l}, isr {isr:?}"))
            } else {
                Ok((l, isr))
            }
        },
    );
    eprintln!(
        "new leader {} (ISR {:?}) seen {:.2?} after the kill",
        new_leader.0,
        new_leader.1,
        killed_at.elapsed()
    );

    // 4. The producer finishes (bounded), then a full read.
    let (lines, producer_stderr, status) = producer.finish(Duration::from_secs(120));
    eprintln!(
        "producer ended {:.2?} after the kill ({status:?})",
        killed_at.elapsed()
    );
    let summary_line = lines
        .iter()
        .find_map(|l| l.strip_prefix("SUMMARY "))
        .unwrap_or_else(|| {
            panic!(
                "the producer printed no summary ({status:?})\nstdout: {lines:?}\nstderr:\n{producer_stderr}\n{}",
                cluster.all_logs()
            )
        });
    let summary: Value = serde_json::from_str(summary_line).expect("summary JSON");
    status.unwrap_or_else(|e| panic!("producer {e}\nstderr:\n{producer_stderr}"));

    let delivered: Vec<Delivery> = summary["delivered"]
        .as_array()
        .expect("delivered")
        .iter()
        .map(|d| Delivery {
            value: d[0].as_str().expect("value").to_owned(),
            partition: d[1].as_i64().expect("partition"),
            offset: d[2].as_i64().expect("offset"),
            sent_after_kill: d[3].as_bool().expect("marker at send"),
            reported_after_kill: d[4].as_bool().expect("marker at report"),
            reported_at: d[5].as_f64().expect("report time"),
        })
        .collect();
    let failed = summary["failed"].as_array().expect("failed").clone();
    let not_sent = summary["not_sent"].as_array().expect("not_sent").clone();
    let after_kill: Vec<_> = delivered.iter().filter(|d| d.reported_after_kill).collect();
    let sent_after_kill = delivered.iter().filter(|d| d.sent_after_kill).count();
    let first_after = delivered
        .iter()
        .filter(|d| d.reported_at >= kill_wall)
        .map(|d| d.reported_at)
        .fold(f64::INFINITY, f64::min);
    eprintln!(
        "producer: {} delivered ({} reported after the kill, {} of them sent after it), \
         {} failed, {} not sent, flush left {}, {:.1} s in all; error_cb: {}; fatal: {}",
        delivered.len(),
        after_kill.len(),
        sent_after_kill,
        failed.len(),
        not_sent.len(),
        summary["flush_remaining"],
        summary["elapsed"].as_f64().unwrap_or(-1.0),
        summary["errors"],
        summary["fatal"],
    );
    if first_after.is_finite() {
        eprintln!(
            "first delivery report after the kill: {:.2} s after it",
            first_after - kill_wall
        );
    }
    if !failed.is_empty() {
        eprintln!(
            "failed deliveries (first 10): {:?}",
            &failed[..failed.len().min(10)]
        );
    }

    let reader = spawn_client(
        Command::new("python3")
            .arg(interop_script("failover_produce.py"))
            .arg("consume")
            .arg(cluster.running_bootstrap())
            .arg(TOPIC),
    );
    let (lines, reader_stderr, status) = reader.finish(Duration::from_secs(60));
    status.unwrap_or_else(|e| panic!("reader {e}\nstdout: {lines:?}\nstderr:\n{reader_stderr}"));
    let read: Value = serde_json::from_str(lines.last().expect("reader output"))
        .unwrap_or_else(|e| panic!("reader JSON ({e}): {lines:?}\n{reader_stderr}"));
    let records: Vec<(i64, String)> = read["records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|r| {
            (
                r[0].as_i64().expect("offset"),
                r[1].as_str().expect("value").to_owned(),
            )
        })
        .collect();
    eprintln!(
        "read {} records, low {} high {}, complete {}, errors {}",
        records.len(),
        read["low"],
        read["high"],
        read["complete"],
        read["errors"]
    );
    assert_eq!(
        read["complete"],
        Value::Bool(true),
        "the read did not reach the high watermark: {read}\n{reader_stderr}"
    );

    // The read: value -> offsets it was read at.
    let mut read_at: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    for (offset, value) in &records {
        read_at.entry(value.as_str()).or_default().push(*offset);
    }
    let twice: Vec<_> = read_at.iter().filter(|(_, o)| o.len() > 1).collect();
    assert!(
        twice.is_empty(),
        "values read more than once (duplicates despite idempotence): {twice:?}"
    );
    let mut missing = Vec::new();
    let mut moved = Vec::new();
    for d in &delivered {
        assert_eq!(d.partition, 0, "value {}", d.value);
        match read_at.get(d.value.as_str()) {
            None => missing.push((d.value.clone(), d.offset)),
            Some(offsets) if offsets[..] != [d.offset] => {
                moved.push((d.value.clone(), d.offset, offsets.clone()))
            }
            Some(_) => {}
        }
    }
    assert!(
        missing.is_empty(),
        "{} values reported delivered are not in the log (value, reported offset), \
         first 20: {:?}",
        missing.len(),
        &missing[..missing.len().min(20)]
    );
    assert!(
        moved.is_empty(),
        "{} values were read at another offset than reported (value, reported, read), \
         first 20: {:?}",
        moved.len(),
        &moved[..moved.len().min(20)]
    );
    // Idempotence keeps the order: values appear in the log in send order.
    let order: Vec<usize> = records
        .iter()
        .map(|(_, v)| v.parse().expect("numeric value"))
        .collect();
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "the log is not in send order: {:?}",
        order
            .windows(2)
            .find(|w| w[0] >= w[1])
            .expect("an inversion")
    );
    // Read values that were not reported delivered must at least have been
    // reported failed (a failed record may or may not be in the log).
    let reported: std::collections::BTreeSet<&str> = delivered
        .iter()
        .map(|d| d.value.as_str())
        .chain(failed.iter().filter_map(|f| f[0].as_str()))
        .collect();
    let unreported: Vec<_> = records
        .iter()
        .filter(|(_, v)| !reported.contains(v.as_str()))
        .collect();
    assert!(
        unreported.is_empty(),
        "records in the log with no delivery report: {unreported:?}"
    );

    // The producer really went on through the failover.
    assert!(
        sent_after_kill > 0,
        "no record sent after the leader's kill was delivered ({} reports after the kill); \
         producer stderr:\n{producer_stderr}",
        after_kill.len()
    );
    // With a 60 s message timeout and a failover of a few seconds nothing
    // should fail: every record is delivered.
    assert!(
        failed.is_empty() && not_sent.is_empty() && summary["fatal"].is_null(),
        "records failed through the failover: {} failed (first 10: {:?}), {} not sent \
         (first 10: {:?}), fatal {}, error_cb {}\nproducer stderr:\n{producer_stderr}",
        failed.len(),
        &failed[..failed.len().min(10)],
        not_sent.len(),
        &not_sent[..not_sent.len().min(10)],
        summary["fatal"],
        summary["errors"]
    );
    assert_eq!(delivered.len(), COUNT, "every record reported delivered");
    assert_eq!(summary["flush_remaining"], 0, "flush left records behind");

    // 5. The killed node comes back, rejoins the ISR, and its copy of the
    //    log is byte for byte the others'.
    let restart = Instant::now();
    cluster.restart(leader);
    wait_for(
        &cluster,
        "the restarted node back in the ISR",
        Duration::from_secs(60),
        || {
            for id in 1..=3 {
                let (_, _, isr) = partition_view(&rt, &cluster, id)?;
                if isr != [1, 2, 3] {
                    return Err(format!("node {id}: isr {isr:?}"));
                }
            }
            Ok(())
        },
    );
    eprintln!(
        "node {leader} back in the ISR {:.2?} after its restart",
        restart.elapsed()
    );
    let converge = Instant::now() + Duration::from_secs(30);
    loop {
        let files: Vec<_> = (1..=3).map(|id| segment_files(&cluster, id)).collect();
        if files.iter().all(|f| *f == files[0]) {
            eprintln!(
                "the three copies of {TOPIC}-0 are identical: {}",
                describe_files(&files[0])
            );
            break;
        }
        if Instant::now() > converge {
            let sizes: Vec<String> = files
                .iter()
                .enumerate()
                .map(|(i, f)| format!("node {}: {}", i + 1, describe_files(f)))
                .collect();
            let first_diff: Vec<String> = files
                .iter()
                .enumerate()
                .skip(1)
                .filter_map(|(i, f)| {
                    files[0].iter().find_map(|(name, a)| {
                        let b = f.get(name)?;
                        let at = a.iter().zip(b.iter()).position(|(x, y)| x != y);
                        Some(format!(
                            "{name}: node 1 vs node {}: first differing byte {at:?}",
                            i + 1
                        ))
                    })
                })
                .collect();
            panic!(
                "the copies of {TOPIC}-0 differ 30 s after the ISR was whole: {sizes:?}; \
                 {first_diff:?}\n{}",
                cluster.all_logs()
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}
