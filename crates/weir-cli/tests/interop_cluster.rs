//! Real clients against a 3-node Weir cluster: kcat's metadata listing
//! (`kcat -L -J`) and kafka-python's admin client (`describe_topics`,
//! `describe_cluster`, `tests/interop/python/cluster_admin.py`) show the
//! same leaders, replicas and ISR as `weir topics --describe`, whichever
//! node they ask. `.ci/run` installs the clients; a missing client is a
//! failure, not a skip (as in `interop_clients.rs`).

mod common;
mod tools_support;

use common::cluster::{node_metadata, wait_for, Cluster};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

const PROPS: &[&str] = &[
    "broker.session.timeout.ms=3000",
    "broker.heartbeat.interval.ms=500",
];

const TOPIC: &str = "interop-rf3";

/// Partition -> (leader, replicas, isr).
type Layout = BTreeMap<i64, (i64, Vec<i64>, Vec<i64>)>;

fn require(program: &str, probe: &[&str]) {
    let ok = Command::new(program)
        .args(probe)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "`{program}` is not usable here; run `bash .ci/run` (it installs the interop clients)"
    );
}

/// Run a client with a deadline (it is killed after 60 s).
fn run(cmd: &mut Command) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        if child.try_wait().expect("wait").is_some() {
            break;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("client output");
    assert!(
        out.status.success(),
        "{cmd:?} failed ({:?}): {}\nstdout: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    out
}

fn interop_script(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/interop/python")
        .join(name)
        .display()
        .to_string()
}

/// `weir topics --describe --topic TOPIC`, parsed from Kafka's layout.
fn weir_describe(bootstrap: &str) -> Layout {
    let out = tools_support::weir(
        &[
            "topics",
            "--bootstrap-server",
            bootstrap,
            "--describe",
            "--topic",
            TOPIC,
        ],
        b"",
        tools_support::RUN,
    )
    .ok();
    let list = |s: &str| -> Vec<i64> {
        s.split(',')
            .filter(|x| !x.is_empty())
            .map(|x| x.parse().expect("broker id"))
            .collect()
    };
    let mut layout = Layout::new();
    for line in out.stdout.lines().filter(|l| l.starts_with('\t')) {
        let cols: BTreeMap<&str, &str> = line
            .trim_start_matches('\t')
            .split('\t')
            .filter_map(|c| {
                c.split_once(": ")
                    .or_else(|| c.strip_suffix(':').map(|k| (k, "")))
            })
            .collect();
        let p: i64 = cols["Partition"].parse().expect("partition");
        let leader: i64 = cols["Leader"].parse().expect("leader");
        layout.insert(p, (leader, list(cols["Replicas"]), list(cols["Isr"])));
    }
    assert_eq!(layout.len(), 6, "{}", out.stdout);
    layout
}

/// `kcat -L -J -t TOPIC` against `bootstrap`.
fn kcat_layout(bootstrap: &str) -> (Layout, Value) {
    let out =
        run(Command::new("kcat").args(["-b", bootstrap, "-L", "-J", "-t", TOPIC, "-m", "10"]));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "kcat -J output is not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    let topic = json["topics"]
        .as_array()
        .expect("topics")
        .iter()
        .find(|t| t["topic"] == TOPIC)
        .unwrap_or_else(|| panic!("kcat lacks {TOPIC}: {json}"));
    let ids = |v: &Value| -> Vec<i64> {
        v.as_array()
            .expect("array")
            .iter()
            .map(|r| r["id"].as_i64().expect("id"))
            .collect()
    };
    let mut layout = Layout::new();
    for p in topic["partitions"].as_array().expect("partitions") {
        layout.insert(
            p["partition"].as_i64().expect("partition"),
            (
                p["leader"].as_i64().expect("leader"),
                ids(&p["replicas"]),
                ids(&p["isrs"]),
            ),
        );
    }
    (layout, json)
}

/// kafka-python's admin view: the layout and the script's whole answer.
fn kafka_python_layout(bootstrap: &str) -> (Layout, Value) {
    let out = run(Command::new("python3")
        .arg(interop_script("cluster_admin.py"))
        .arg(bootstrap)
        .arg(TOPIC));
    let json: Value = serde_json::from_slice(&out.stdout).expect("cluster_admin.py JSON");
    let ints = |v: &Value| -> Vec<i64> {
        v.as_array()
            .expect("array")
            .iter()
            .map(|x| x.as_i64().expect("int"))
            .collect()
    };
    let mut layout = Layout::new();
    for p in json["partitions"].as_array().expect("partitions") {
        layout.insert(
            p["partition"].as_i64().unwrap(),
            (
                p["leader"].as_i64().unwrap(),
                ints(&p["replicas"]),
                ints(&p["isr"]),
            ),
        );
    }
    (layout, json)
}

#[test]
fn kcat_and_kafka_python_see_the_leaders_replicas_and_isr_weir_describes() {
    require("kcat", &["-V"]);
    require("python3", &["-c", "import kafka"]);
    let cluster = Cluster::start(3, PROPS);
    let bootstrap = cluster.bootstrap();
    tools_support::weir(
        &[
            "topics",
            "--bootstrap-server",
            &bootstrap,
            "--create",
            "--topic",
            TOPIC,
            "--partitions",
            "6",
            "--replication-factor",
            "3",
        ],
        b"",
        tools_support::RUN,
    )
    .ok();
    // Every node has applied the topic, with the same answer.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let md = wait_for(
        &cluster,
        "every node answers the same for the topic",
        Duration::from_secs(15),
        || {
            let mut answers = Vec::new();
            for id in 1..=3 {
                let md = rt
                    .block_on(node_metadata(cluster.node(id).port, Some(&[TOPIC])))
                    .map_err(|e| format!("node {id}: {e}"))?;
                let t = md.topic(TOPIC).ok_or(format!("node {id} lacks it"))?;
                if t.partitions.len() != 6 || t.partitions.iter().any(|p| p.leader.is_none()) {
                    return Err(format!("node {id}: {t:?}"));
                }
                answers.push(md);
            }
            if answers.iter().all(|a| *a == answers[0]) {
                Ok(answers.remove(0))
            } else {
                Err(format!("answers differ: {answers:?}"))
            }
        },
    );

    let weir = weir_describe(&bootstrap);
    for (p, (leader, replicas, isr)) in &weir {
        assert_eq!(replicas.len(), 3, "partition {p}");
        assert_eq!(isr, replicas, "partition {p}");
        assert_eq!(*leader, replicas[0], "partition {p}");
    }

    for id in 1..=3 {
        let node = cluster.node(id).bootstrap();
        let (kcat, json) = kcat_layout(&node);
        assert_eq!(kcat, weir, "kcat via node {id}: {json}");
        let brokers: Vec<(i64, String)> = json["brokers"]
            .as_array()
            .expect("brokers")
            .iter()
            .map(|b| {
                (
                    b["id"].as_i64().unwrap(),
                    b["name"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let want: Vec<(i64, String)> = (1..=3)
            .map(|b| (b as i64, cluster.node(b).bootstrap()))
            .collect();
        assert_eq!(brokers, want, "kcat brokers via node {id}");
        let controller = md.controller.expect("controller").0;
        assert_eq!(
            json["controllerid"].as_i64(),
            Some(i64::from(controller)),
            "{json}"
        );
    }
    let (kcat, _) = kcat_layout(&bootstrap);
    assert_eq!(kcat, weir, "kcat via every bootstrap server");

    for id in 1..=3 {
        let (python, json) = kafka_python_layout(&cluster.node(id).bootstrap());
        assert_eq!(python, weir, "kafka-python via node {id}: {json}");
        let brokers: Vec<(i64, String, i64)> = json["brokers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| {
                (
                    b[0].as_i64().unwrap(),
                    b[1].as_str().unwrap().to_owned(),
                    b[2].as_i64().unwrap(),
                )
            })
            .collect();
        let want: Vec<(i64, String, i64)> = (1..=3)
            .map(|b| {
                (
                    b as i64,
                    "127.0.0.1".to_owned(),
                    i64::from(cluster.node(b).port),
                )
            })
            .collect();
        assert_eq!(brokers, want, "kafka-python brokers via node {id}");
        assert_eq!(
            json["cluster_id"].as_str(),
            md.cluster_id.as_deref(),
            "{json}"
        );
        assert_eq!(
            json["controller_id"].as_i64(),
            md.controller.map(|c| i64::from(c.0)),
            "{json}"
        );
    }
    let (python, _) = kafka_python_layout(&bootstrap);
    assert_eq!(python, weir, "kafka-python via every bootstrap server");
}
