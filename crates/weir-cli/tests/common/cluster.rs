//! Shared harness for tests that run a cluster of real `weir server`
//! processes: n KRaft combined-mode nodes (each a broker and a controller
//! voter) on 127.0.0.1, ports chosen once and kept across restarts, one
//! temp dir, bounded waits, every process killed by PID when the guard
//! drops. Nodes are named by their `node.id`, 1..=n.

#![allow(dead_code)]

use super::server::api_versions_round_trip;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::collections::BTreeSet;
use std::fs::OpenOptions;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How long a node gets to start or to stop.
const WAIT: Duration = Duration::from_secs(30);

/// One node: its ports and files, and its process while it runs.
#[derive(Debug)]
pub struct ClusterNode {
    pub id: usize,
    pub port: u16,
    pub controller_port: u16,
    pub dir: PathBuf,
    pub props: PathBuf,
    /// A controller voter (`process.roles=broker,controller`); false for a
    /// broker-only observer, whose `controller_port` is unused.
    pub voter: bool,
    child: Option<Child>,
    /// Stopped by SIGSTOP and not yet continued.
    stopped: bool,
}

impl ClusterNode {
    /// The client address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// `127.0.0.1:<port>`.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `node-<id>/server.log`: every run's stdout and stderr, appended.
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("server.log")
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }
}

/// A running cluster of `weir server` processes.
#[derive(Debug)]
pub struct Cluster {
    nodes: Vec<ClusterNode>,
    _temp: tempfile::TempDir,
}

/// `n` distinct ports that were free a moment ago (all held at once while
/// choosing, so none is picked twice).
pub fn free_ports(n: usize) -> Vec<u16> {
    let held: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("free port"))
        .collect();
    held.iter()
        .map(|l| l.local_addr().expect("local addr").port())
        .collect()
}

/// The `server.properties` of node `id` in a cluster whose nodes have the
/// given `(client, controller)` ports. `extra` lines replace the default
/// line of the same key.
pub fn cluster_properties(
    id: usize,
    ports: &[(u16, u16)],
    log_dir: &Path,
    extra: &[&str],
) -> String {
    node_properties(id, ports, ports.len(), log_dir, extra)
}

/// As [`cluster_properties`], where only nodes `1..=voters` are combined
/// broker/controller voters and the rest are broker-only nodes
/// (`process.roles=broker`, no CONTROLLER listener) that observe the
/// metadata log of the same `controller.quorum.voters`.
pub fn node_properties(
    id: usize,
    ports: &[(u16, u16)],
    voters: usize,
    log_dir: &Path,
    extra: &[&str],
) -> String {
    let n = ports.len();
    let (port, controller_port) = ports[id - 1];
    let is_voter = id <= voters;
    let voter_list = ports[..voters]
        .iter()
        .enumerate()
        .map(|(i, (_, c))| format!("{}@127.0.0.1:{c}", i + 1))
        .collect::<Vec<_>>()
        .join(",");
    let listeners = if is_voter {
        format!("PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}")
    } else {
        format!("PLAINTEXT://127.0.0.1:{port}")
    };
    let roles = if is_voter {
        "broker,controller"
    } else {
        "broker"
    };
    let defaults = [
        format!("process.roles={roles}"),
        format!("node.id={id}"),
        format!("controller.quorum.voters={voter_list}"),
        format!("listeners={listeners}"),
        format!("advertised.listeners={listeners}"),
        "controller.listener.names=CONTROLLER".to_owned(),
        "inter.broker.listener.name=PLAINTEXT".to_owned(),
        "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT".to_owned(),
        format!("log.dirs={}", log_dir.display()),
        "num.partitions=1".to_owned(),
        format!("default.replication.factor={}", n.min(3)),
        format!("min.insync.replicas={}", n.min(2)),
        format!("offsets.topic.replication.factor={}", n.min(3)),
        "group.initial.rebalance.delay.ms=0".to_owned(),
    ];
    let key = |line: &str| line.split('=').next().unwrap_or("").trim().to_owned();
    let overridden: Vec<String> = extra.iter().map(|l| key(l)).collect();
    let mut s = String::new();
    for line in defaults.iter().filter(|l| !overridden.contains(&key(l))) {
        s.push_str(line);
        s.push('\n');
    }
    for line in extra {
        s.push_str(line);
        s.push('\n');
    }
    s
}

impl Cluster {
    /// Start `n` nodes with extra `server.properties` lines and wait until
    /// every node lists all `n` brokers.
    pub fn start(n: usize, extra: &[&str]) -> Cluster {
        let mut cluster = Cluster::start_no_wait(n, extra);
        cluster.wait_ready(Duration::from_secs(60));
        cluster
    }

    /// Start `n` nodes without waiting for them.
    pub fn start_no_wait(n: usize, extra: &[&str]) -> Cluster {
        Cluster::start_with_observers_no_wait(n, 0, extra)
    }

    /// Start `voters` combined nodes (ids `1..=voters`) and `observers`
    /// broker-only nodes (the next ids) and wait until every node lists
    /// all of them.
    pub fn start_with_observers(voters: usize, observers: usize, extra: &[&str]) -> Cluster {
        let mut cluster = Cluster::start_with_observers_no_wait(voters, observers, extra);
        cluster.wait_ready(Duration::from_secs(60));
        cluster
    }

    /// As [`Cluster::start_with_observers`], without waiting.
    pub fn start_with_observers_no_wait(
        voters: usize,
        observers: usize,
        extra: &[&str],
    ) -> Cluster {
        assert!(voters >= 1, "a cluster needs a voter");
        let n = voters + observers;
        let temp = tempfile::tempdir().expect("tempdir");
        let all = free_ports(2 * n);
        let ports: Vec<(u16, u16)> = (0..n).map(|i| (all[i], all[n + i])).collect();
        let nodes = (1..=n)
            .map(|id| {
                let dir = temp.path().join(format!("node-{id}"));
                std::fs::create_dir_all(&dir).expect("node dir");
                let props = dir.join("server.properties");
                let text = node_properties(id, &ports, voters, &dir.join("logs"), extra);
                std::fs::write(&props, text).expect("write server.properties");
                ClusterNode {
                    id,
                    port: ports[id - 1].0,
                    controller_port: ports[id - 1].1,
                    dir,
                    props,
                    voter: id <= voters,
                    child: None,
                    stopped: false,
                }
            })
            .collect();
        let mut cluster = Cluster { nodes, _temp: temp };
        for id in 1..=n {
            cluster.spawn(id);
        }
        cluster
    }

    /// How many nodes the cluster has (running or not).
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Node `id` (1..=n).
    pub fn node(&self, id: usize) -> &ClusterNode {
        assert!(
            (1..=self.nodes.len()).contains(&id),
            "no node {id} in a cluster of {}",
            self.nodes.len()
        );
        &self.nodes[id - 1]
    }

    fn node_mut(&mut self, id: usize) -> &mut ClusterNode {
        assert!((1..=self.nodes.len()).contains(&id), "no node {id}");
        &mut self.nodes[id - 1]
    }

    /// Every node's client address, comma separated.
    pub fn bootstrap(&self) -> String {
        self.nodes
            .iter()
            .map(ClusterNode::bootstrap)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The client addresses of the running nodes, comma separated.
    pub fn running_bootstrap(&mut self) -> String {
        let running: Vec<usize> = (1..=self.nodes.len())
            .filter(|&id| self.is_running(id))
            .collect();
        running
            .iter()
            .map(|&id| self.node(id).bootstrap())
            .collect::<Vec<_>>()
            .join(",")
    }

    fn spawn(&mut self, id: usize) {
        let node = self.node_mut(id);
        assert!(node.child.is_none(), "node {id} is already running");
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(node.log_path())
            .expect("server log file");
        let child = Command::new(env!("CARGO_BIN_EXE_weir"))
            .arg("server")
            .arg(&node.props)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log)
            .spawn()
            .expect("spawn weir server");
        node.child = Some(child);
    }

    /// Node `id`'s stdout/stderr so far (all its runs).
    pub fn log_text(&self, id: usize) -> String {
        std::fs::read_to_string(self.node(id).log_path()).unwrap_or_default()
    }

    /// Every node's log, headed by its id (for failure messages).
    pub fn all_logs(&self) -> String {
        (1..=self.nodes.len())
            .map(|id| format!("--- node {id} ---\n{}", self.log_text(id)))
            .collect()
    }

    /// Is node `id`'s process running (or stopped by SIGSTOP)?
    pub fn is_running(&mut self, id: usize) -> bool {
        match self.node_mut(id).child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    fn signal(&self, id: usize, signal: Signal) {
        let pid = self.node(id).pid().expect("node running");
        let pid = Pid::from_raw(i32::try_from(pid).expect("pid fits i32"));
        kill(pid, signal).unwrap_or_else(|e| panic!("{signal} to node {id}: {e}"));
    }

    /// SIGKILL node `id` and reap it.
    pub fn kill(&mut self, id: usize) {
        let node = self.node_mut(id);
        node.stopped = false;
        if let Some(mut child) = node.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM node `id` and wait (bounded) for it to exit.
    pub fn terminate(&mut self, id: usize) -> ExitStatus {
        self.signal(id, Signal::SIGTERM);
        let mut child = self.node_mut(id).child.take().expect("node running");
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "node {id} ignored SIGTERM for {WAIT:?}: {}",
                    self.log_text(id)
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Start node `id` again on the same ports and data, and wait until it
    /// answers ApiVersions.
    pub fn restart(&mut self, id: usize) {
        self.spawn(id);
        self.wait_answers(id, WAIT);
    }

    /// Start node `id` again on the same ports and data without waiting
    /// (to restart several nodes that need each other for a quorum).
    pub fn restart_no_wait(&mut self, id: usize) {
        self.spawn(id);
    }

    /// SIGSTOP node `id`: it keeps its sockets but answers nothing.
    pub fn stop(&mut self, id: usize) {
        self.signal(id, Signal::SIGSTOP);
        self.node_mut(id).stopped = true;
    }

    /// SIGCONT node `id` after [`Cluster::stop`].
    pub fn cont(&mut self, id: usize) {
        self.signal(id, Signal::SIGCONT);
        self.node_mut(id).stopped = false;
    }

    /// Panic with the node's log if its process has exited.
    fn assert_alive(&mut self, id: usize) {
        if let Some(child) = self.node_mut(id).child.as_mut() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "node {id} exited unexpectedly with {status}:\n{}",
                    self.log_text(id)
                );
            }
        }
    }

    /// Wait until node `id` answers an ApiVersions request.
    pub fn wait_answers(&mut self, id: usize, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            self.assert_alive(id);
            if let Ok(mut s) = TcpStream::connect(self.node(id).addr()) {
                s.set_read_timeout(Some(Duration::from_secs(2))).ok();
                if api_versions_round_trip(&mut s).is_ok() {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "node {id} did not answer in {timeout:?}:\n{}",
            self.log_text(id)
        );
    }

    /// Wait until every running node (not killed, terminated or stopped)
    /// answers a Metadata request listing all n brokers. A node that exits
    /// on its own meanwhile fails the test with its log.
    pub fn wait_ready(&mut self, timeout: Duration) {
        let n = self.nodes.len();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let deadline = Instant::now() + timeout;
        let mut last = String::new();
        loop {
            let mut ready = true;
            for id in 1..=n {
                self.assert_alive(id);
                let node = self.node(id);
                if node.child.is_none() || node.stopped {
                    continue;
                }
                match rt.block_on(brokers_listed(node.port)) {
                    Ok(count) if count == n => {}
                    Ok(count) => {
                        ready = false;
                        last = format!("node {} lists {count} of {n} brokers", node.id);
                    }
                    Err(e) => {
                        ready = false;
                        last = format!("node {}: {e}", node.id);
                    }
                }
            }
            if ready {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "cluster not ready in {timeout:?} ({last}):\n{}",
                    self.all_logs()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// How many brokers the node on `port` lists in Metadata.
pub async fn brokers_listed(port: u16) -> Result<usize, String> {
    let mut config = weir_client::ClientConfig::new(&format!("127.0.0.1:{port}"));
    config.connection.client_id = "weir-cluster-test".to_owned();
    config.connection.connect_timeout_ms = 1_000;
    config.connection.request_timeout_ms = 2_000;
    let client = tokio::time::timeout(Duration::from_secs(3), weir_client::Client::connect(config))
        .await
        .map_err(|_| "no answer in 3 s".to_owned())?
        .map_err(|e| e.to_string())?;
    Ok(client.metadata().brokers.len())
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for id in 1..=self.nodes.len() {
            self.kill(id);
        }
    }
}

/// A connection to the node on `port` only (no routing to other brokers).
pub async fn node_connection(port: u16) -> Result<weir_client::Connection, String> {
    let config = weir_client::ConnectionConfig {
        client_id: "weir-cluster-test".to_owned(),
        connect_timeout_ms: 1_000,
        request_timeout_ms: 5_000,
        ..weir_client::ConnectionConfig::default()
    };
    let addr = format!("127.0.0.1:{port}");
    tokio::time::timeout(
        Duration::from_secs(3),
        weir_client::Connection::connect(&addr, &config),
    )
    .await
    .map_err(|_| format!("{addr}: no connection in 3 s"))?
    .map_err(|e| format!("{addr}: {e}"))
}

/// The Metadata answer of the node on `port` itself, for `topics` (`None`:
/// all topics), folded into the client's [`ClusterMetadata`] shape.
///
/// [`ClusterMetadata`]: weir_client::metadata::ClusterMetadata
pub async fn node_metadata(
    port: u16,
    topics: Option<&[&str]>,
) -> Result<weir_client::metadata::ClusterMetadata, String> {
    use weir_protocol::kafka_protocol::messages::metadata_request::MetadataRequestTopic;
    use weir_protocol::kafka_protocol::messages::{MetadataRequest, TopicName};
    use weir_protocol::kafka_protocol::protocol::StrBytes;
    let conn = node_connection(port).await?;
    let request = MetadataRequest::default()
        .with_topics(topics.map(|names| {
            names
                .iter()
                .map(|n| {
                    MetadataRequestTopic::default()
                        .with_name(Some(TopicName(StrBytes::from_string((*n).to_owned()))))
                })
                .collect()
        }))
        .with_allow_auto_topic_creation(false);
    let resp = tokio::time::timeout(Duration::from_secs(5), conn.request(&request))
        .await
        .map_err(|_| format!("port {port}: no Metadata answer in 5 s"))?
        .map_err(|e| format!("port {port}: {e}"))?;
    let mut md = weir_client::metadata::ClusterMetadata::default();
    md.apply(&resp, topics.is_none());
    Ok(md)
}

/// Send CreateTopics for one topic to the node on `port` (which forwards
/// it to the active controller). `Err` carries Kafka's error code and
/// message, or code -1 and the transport error.
pub async fn create_topic_on(
    port: u16,
    name: &str,
    partitions: i32,
    replication_factor: i16,
) -> Result<(), (i16, String)> {
    use weir_protocol::kafka_protocol::messages::create_topics_request::CreatableTopic;
    use weir_protocol::kafka_protocol::messages::{CreateTopicsRequest, TopicName};
    use weir_protocol::kafka_protocol::protocol::StrBytes;
    let conn = node_connection(port).await.map_err(|e| (-1, e))?;
    let request = CreateTopicsRequest::default()
        .with_topics(vec![CreatableTopic::default()
            .with_name(TopicName(StrBytes::from_string(name.to_owned())))
            .with_num_partitions(partitions)
            .with_replication_factor(replication_factor)])
        .with_timeout_ms(5_000);
    let resp = tokio::time::timeout(Duration::from_secs(8), conn.request(&request))
        .await
        .map_err(|_| (-1, format!("port {port}: no CreateTopics answer in 8 s")))?
        .map_err(|e| (-1, format!("port {port}: {e}")))?;
    let result = resp
        .topics
        .iter()
        .find(|t| t.name.0.as_str() == name)
        .ok_or_else(|| (-1, format!("CreateTopics answer lacks {name}")))?;
    match result.error_code {
        0 => Ok(()),
        code => Err((
            code,
            result
                .error_message
                .as_ref()
                .map(|m| m.to_string())
                .unwrap_or_default(),
        )),
    }
}

/// `cluster.id` from `meta.properties` in node `id`'s log dir.
pub fn meta_cluster_id(cluster: &Cluster, id: usize) -> Option<String> {
    let path = cluster.node(id).dir.join("logs").join("meta.properties");
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("cluster.id="))
        .map(|v| v.trim().to_owned())
}

/// Poll `probe` every 200 ms until it gives `Ok` or `timeout` passes; then
/// panic with `what`, the last error and every node's log.
pub fn wait_for<T>(
    cluster: &Cluster,
    what: &str,
    timeout: Duration,
    mut probe: impl FnMut() -> Result<T, String>,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        match probe() {
            Ok(v) => return v,
            Err(e) if Instant::now() >= deadline => panic!(
                "{what}: not within {timeout:?}; last: {e}\n{}",
                cluster.all_logs()
            ),
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

/// A runtime for a test's client calls (`block_on` from the test thread).
pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// (leader, isr) of partition 0 of `topic` as node `id` answers (leader
/// -1: none).
pub fn layout(
    rt: &tokio::runtime::Runtime,
    cluster: &Cluster,
    id: usize,
    topic: &str,
) -> Result<(i32, BTreeSet<i32>), String> {
    let md = rt
        .block_on(node_metadata(cluster.node(id).port, Some(&[topic])))
        .map_err(|e| format!("node {id}: {e}"))?;
    let p = md
        .topic(topic)
        .and_then(|t| t.partitions.iter().find(|p| p.partition == 0))
        .ok_or_else(|| format!("node {id} does not know {topic}-0"))?;
    Ok((
        p.leader.map_or(-1, |b| b.0),
        p.isr.iter().map(|b| b.0).collect(),
    ))
}

/// Wait (at most `timeout`) until node `ask` reports `topic`-0 with a
/// leader accepted by `leader_ok` and exactly the ISR `isr`; the leader.
/// `what` names the wait in the failure message.
#[allow(clippy::too_many_arguments)]
pub fn wait_layout(
    rt: &tokio::runtime::Runtime,
    cluster: &Cluster,
    ask: usize,
    topic: &str,
    leader_ok: impl Fn(i32) -> bool,
    isr: &[i32],
    what: &str,
    timeout: Duration,
) -> i32 {
    let want: BTreeSet<i32> = isr.iter().copied().collect();
    wait_for(cluster, what, timeout, || {
        let (leader, got) = layout(rt, cluster, ask, topic)?;
        if leader_ok(leader) && got == want {
            Ok(leader)
        } else {
            Err(format!("leader {leader}, ISR {got:?}"))
        }
    })
}

/// Wait (at most `timeout`) until node `ask` reports a leader and exactly
/// `isr` for `topic`-0; the leader.
pub fn wait_isr(
    rt: &tokio::runtime::Runtime,
    cluster: &Cluster,
    ask: usize,
    topic: &str,
    isr: &[i32],
    timeout: Duration,
) -> i32 {
    let what = format!("{topic}-0 ISR {isr:?}");
    wait_layout(rt, cluster, ask, topic, |l| l >= 0, isr, &what, timeout)
}

/// Create `topic` through the `weir topics` tool against the running
/// nodes (one partition unless `extra`, more tool arguments, says
/// otherwise).
pub fn create_topic(cluster: &mut Cluster, topic: &str, extra: &[&str]) {
    let bootstrap = cluster.running_bootstrap();
    let mut args = vec![
        "topics",
        "--bootstrap-server",
        &bootstrap,
        "--create",
        "--topic",
        topic,
    ];
    args.extend_from_slice(extra);
    let run = super::weir(&std::env::temp_dir(), &args);
    assert_eq!(run.code, Some(0), "create {topic}: {}", run.stderr);
}
