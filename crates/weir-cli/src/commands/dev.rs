//! `weir dev`: a local cluster of `weir server` processes for development.
//!
//! `weir dev [--brokers 3] [--data-dir /tmp/weir-dev] [--base-port 9092]`
//! writes one Kafka 4 KRaft combined-mode `server.properties` per node
//! (`DIR/node-<i>/server.properties`, every node a broker and a controller
//! voter), starts each node as a child `weir server` process (this same
//! executable) with its output appended to `DIR/node-<i>/server.log` and
//! its PID in `DIR/node-<i>/server.pid`, waits (60 s at most) until every
//! node answers ApiVersions and lists all N brokers in Metadata, prints the
//! `bootstrap.servers` line and a few commands to try, and runs until
//! SIGINT or SIGTERM. Then every node gets SIGTERM (a clean shutdown), and
//! SIGKILL if it is still running 15 s later.
//!
//! Ports: node i (1-based) listens for clients on `base + i - 1` and for
//! the controller quorum on `base + 100 + i - 1`.
//!
//! The nodes run in their own process group, so a Ctrl-C on the terminal
//! reaches `weir dev` only and the nodes are stopped in order. Each node
//! is started with `WEIR_DEV_PARENT_PID`; `weir server` shuts itself down
//! cleanly when that process is gone (a `weir dev` killed with SIGKILL
//! leaves no brokers behind).

use super::tool_support::{client_config, runtime};
use anyhow::{bail, Context, Result};
use clap::Parser;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};
use tokio::signal::unix::{signal, SignalKind};
use weir_client::Client;

/// The environment variable that tells a `weir server` which process
/// started it; the server stops when that process is gone.
pub const PARENT_PID_ENV: &str = "WEIR_DEV_PARENT_PID";

/// Most nodes `weir dev` starts.
const MAX_BROKERS: usize = 32;
/// Controller ports are the client ports plus this.
const CONTROLLER_PORT_OFFSET: u16 = 100;
/// How long the cluster gets to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the nodes get to stop after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(15);
/// Lines of a node's log printed when it fails to start.
const LOG_TAIL_LINES: usize = 30;

/// Run a local Weir cluster: N nodes, each a broker and a controller
/// (KRaft combined mode). Node i (1..=N) serves clients on port
/// BASE+i-1 and the controller quorum on port BASE+100+i-1; its files
/// (server.properties, server.log, server.pid, logs/) are in
/// DATA_DIR/node-i. Ctrl-C or SIGTERM stops every node cleanly.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Number of nodes (each a broker and a controller), 1 to 32.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub brokers: usize,
    /// Where each node keeps its files (DIR/node-<i>/...).
    #[arg(long = "data-dir", value_name = "DIR", default_value = "/tmp/weir-dev")]
    pub data_dir: PathBuf,
    /// Client port of node 1; node i uses BASE+i-1 for clients and
    /// BASE+100+i-1 for the controller quorum.
    #[arg(long = "base-port", value_name = "BASE", default_value_t = 9092)]
    pub base_port: u16,
    /// Create this topic (3 partitions, replication factor min(3, N)) once
    /// the cluster is ready, and describe it.
    #[arg(long = "demo-topic", value_name = "NAME")]
    pub demo_topic: Option<String>,
}

/// One node's ports and files.
#[derive(Debug, Clone, PartialEq, Eq)]
struct NodePlan {
    id: usize,
    port: u16,
    controller_port: u16,
    dir: PathBuf,
}

impl NodePlan {
    fn properties_path(&self) -> PathBuf {
        self.dir.join("server.properties")
    }
    fn log_path(&self) -> PathBuf {
        self.dir.join("server.log")
    }
    fn pid_path(&self) -> PathBuf {
        self.dir.join("server.pid")
    }
}

/// The whole cluster's layout, computed from the arguments before
/// anything is touched.
#[derive(Debug)]
struct Plan {
    data_dir: PathBuf,
    nodes: Vec<NodePlan>,
}

impl Plan {
    fn new(args: &Args) -> Result<Plan> {
        let n = args.brokers;
        if !(1..=MAX_BROKERS).contains(&n) {
            bail!("--brokers must be between 1 and {MAX_BROKERS}, got {n}");
        }
        let last = u32::from(args.base_port)
            + u32::from(CONTROLLER_PORT_OFFSET)
            + u32::try_from(n - 1).context("--brokers")?;
        if args.base_port == 0 || last > u32::from(u16::MAX) {
            bail!(
                "--base-port {} leaves no room for {n} nodes (ports {}..={last} are needed)",
                args.base_port,
                args.base_port
            );
        }
        let data_dir = std::path::absolute(&args.data_dir)
            .with_context(|| format!("bad --data-dir {}", args.data_dir.display()))?;
        let nodes = (1..=n)
            .map(|id| {
                let index = u16::try_from(id - 1).expect("at most 32 nodes");
                NodePlan {
                    id,
                    port: args.base_port + index,
                    controller_port: args.base_port + CONTROLLER_PORT_OFFSET + index,
                    dir: data_dir.join(format!("node-{id}")),
                }
            })
            .collect();
        Ok(Plan { data_dir, nodes })
    }

    /// `127.0.0.1:P1,127.0.0.1:P2,...`
    fn bootstrap(&self) -> String {
        self.nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Every port must be free before anything starts.
    fn check_ports(&self) -> Result<()> {
        for node in &self.nodes {
            for (port, what) in [(node.port, "client"), (node.controller_port, "controller")] {
                if let Err(e) = TcpListener::bind(("127.0.0.1", port)) {
                    bail!(
                        "port {port} ({what} port of node {}) is already in use ({e}); \
                         stop what uses it or pick another --base-port",
                        node.id
                    );
                }
            }
        }
        Ok(())
    }

    /// The `server.properties` of `node`.
    fn properties(&self, node: &NodePlan) -> String {
        let n = self.nodes.len();
        let voters = self
            .nodes
            .iter()
            .map(|v| format!("{}@127.0.0.1:{}", v.id, v.controller_port))
            .collect::<Vec<_>>()
            .join(",");
        let listeners = format!(
            "PLAINTEXT://127.0.0.1:{},CONTROLLER://127.0.0.1:{}",
            node.port, node.controller_port
        );
        format!(
            "# Written by `weir dev` (node {id} of {n}); rewritten at each start.\n\
             process.roles=broker,controller\n\
             node.id={id}\n\
             controller.quorum.voters={voters}\n\
             listeners={listeners}\n\
             advertised.listeners={listeners}\n\
             controller.listener.names=CONTROLLER\n\
             inter.broker.listener.name=PLAINTEXT\n\
             listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT\n\
             log.dirs={logs}\n\
             num.partitions=3\n\
             default.replication.factor={rf}\n\
             min.insync.replicas={min_isr}\n\
             offsets.topic.replication.factor={rf}\n\
             group.initial.rebalance.delay.ms=0\n",
            id = node.id,
            logs = node.dir.join("logs").display(),
            rf = n.min(3),
            min_isr = n.min(2),
        )
    }

    /// Create the node directories and write each `server.properties`,
    /// saying so when an existing file with other contents is replaced.
    fn write_files(&self) -> Result<()> {
        for node in &self.nodes {
            std::fs::create_dir_all(node.dir.join("logs"))
                .with_context(|| format!("cannot create {}", node.dir.display()))?;
            let path = node.properties_path();
            let text = self.properties(node);
            match std::fs::read_to_string(&path) {
                Ok(old) if old == text => continue,
                Ok(_) => eprintln!(
                    "weir dev: {} differed from what weir dev writes; rewritten",
                    path.display()
                ),
                Err(_) => {}
            }
            std::fs::write(&path, text)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        Ok(())
    }
}

/// A started node.
#[derive(Debug)]
struct Node {
    plan: NodePlan,
    child: Child,
    /// Where this run's output starts in `server.log`.
    log_start: u64,
    /// Set once the process is seen to have exited.
    exited: Option<ExitStatus>,
}

impl Node {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Has the process exited? Remembers the status.
    fn poll_exit(&mut self) -> Option<ExitStatus> {
        if self.exited.is_none() {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.exited = Some(status);
            }
        }
        self.exited
    }

    /// The last lines this run wrote to `server.log`.
    fn log_tail(&self) -> String {
        let mut text = String::new();
        if let Ok(mut f) = std::fs::File::open(self.plan.log_path()) {
            if f.seek(SeekFrom::Start(self.log_start)).is_ok() {
                let mut bytes = Vec::new();
                let _ = f.read_to_end(&mut bytes);
                text = String::from_utf8_lossy(&bytes).into_owned();
            }
        }
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n")
    }
}

/// The started nodes; [`Nodes::stop`] ends them.
#[derive(Debug, Default)]
struct Nodes(Vec<Node>);

impl Nodes {
    /// Start `node` as `<this exe> server DIR/node-i/server.properties`.
    fn spawn(&mut self, exe: &Path, node: &NodePlan) -> Result<()> {
        let log_path = node.log_path();
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .with_context(|| format!("cannot open {}", log_path.display()))?;
        let log_start = log.seek(SeekFrom::End(0))?;
        let child = Command::new(exe)
            .arg("server")
            .arg(node.properties_path())
            .env(PARENT_PID_ENV, std::process::id().to_string())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            // Ctrl-C on the terminal goes to `weir dev`, which stops the
            // nodes itself.
            .process_group(0)
            .spawn()
            .with_context(|| format!("cannot start node {} ({})", node.id, exe.display()))?;
        let pid_path = node.pid_path();
        let pid_written = std::fs::write(&pid_path, format!("{}\n", child.id()))
            .with_context(|| format!("cannot write {}", pid_path.display()));
        self.0.push(Node {
            plan: node.clone(),
            child,
            log_start,
            exited: None,
        });
        pid_written
    }

    /// An error naming the first node that has exited, with its log tail.
    fn check_alive(&mut self) -> Result<()> {
        for node in &mut self.0 {
            if let Some(status) = node.poll_exit() {
                bail!(
                    "node {} exited during start-up ({status}); the end of {}:\n{}",
                    node.plan.id,
                    node.plan.log_path().display(),
                    node.log_tail()
                );
            }
        }
        Ok(())
    }

    /// Report (once) each node that has exited; the others keep running.
    fn report_exits(&mut self) {
        for node in &mut self.0 {
            if node.exited.is_none() {
                if let Some(status) = node.poll_exit() {
                    eprintln!(
                        "weir dev: node {} (pid {}) exited ({status}); see {}",
                        node.plan.id,
                        node.pid(),
                        node.plan.log_path().display()
                    );
                }
            }
        }
    }

    /// SIGTERM every running node, wait up to `grace`, SIGKILL the rest,
    /// and remove the PID files.
    fn stop(&mut self, grace: Duration) {
        for node in &mut self.0 {
            if node.poll_exit().is_none() {
                if let Ok(pid) = i32::try_from(node.pid()) {
                    let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
                }
            }
        }
        let deadline = Instant::now() + grace;
        while self.0.iter_mut().any(|n| n.poll_exit().is_none()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        for node in &mut self.0 {
            if node.poll_exit().is_none() {
                eprintln!(
                    "weir dev: node {} (pid {}) still running {} s after SIGTERM; killing it",
                    node.plan.id,
                    node.pid(),
                    grace.as_secs()
                );
                let _ = node.child.kill();
                node.exited = node.child.wait().ok();
            }
            let _ = std::fs::remove_file(node.plan.pid_path());
        }
    }
}

/// SIGINT and SIGTERM, installed before the nodes start so that none is
/// lost.
#[derive(Debug)]
struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> Result<Signals> {
        Ok(Signals {
            interrupt: signal(SignalKind::interrupt())
                .context("cannot install the SIGINT handler")?,
            terminate: signal(SignalKind::terminate())
                .context("cannot install the SIGTERM handler")?,
        })
    }

    /// The name of the next signal received.
    async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.interrupt.recv() => "SIGINT",
            _ = self.terminate.recv() => "SIGTERM",
        }
    }
}

/// Start the cluster, wait for it, serve until a signal, stop it.
pub fn run(args: &Args, out: &mut impl Write) -> Result<()> {
    let plan = Plan::new(args)?;
    plan.check_ports()?;
    let exe = std::env::current_exe().context("cannot find the weir executable")?;
    let rt = runtime()?;
    let mut signals = rt.block_on(async { Signals::install() })?;
    plan.write_files()?;
    let mut nodes = Nodes::default();
    let result = serve(&plan, &exe, &rt, &mut signals, &mut nodes, args, out);
    if !nodes.0.is_empty() {
        eprintln!("weir dev: stopping {} node(s)", nodes.0.len());
    }
    nodes.stop(STOP_GRACE);
    result
}

/// Everything between writing the files and stopping the nodes.
fn serve(
    plan: &Plan,
    exe: &Path,
    rt: &tokio::runtime::Runtime,
    signals: &mut Signals,
    nodes: &mut Nodes,
    args: &Args,
    out: &mut impl Write,
) -> Result<()> {
    for node in &plan.nodes {
        nodes.spawn(exe, node)?;
    }
    if let Some(name) = rt.block_on(wait_ready(plan, nodes, signals))? {
        eprintln!("weir dev: {name} received during start-up");
        return Ok(());
    }
    print_banner(plan, out)?;
    out.flush()?;
    if let Some(topic) = &args.demo_topic {
        if let Err(e) = demo_topic(plan, topic, out) {
            eprintln!("weir dev: --demo-topic {topic}: {e:#}");
        }
        out.flush()?;
    }
    let name = rt.block_on(async {
        loop {
            tokio::select! {
                biased;
                name = signals.recv() => return name,
                () = tokio::time::sleep(Duration::from_millis(250)) => nodes.report_exits(),
            }
        }
    });
    eprintln!("weir dev: {name} received");
    Ok(())
}

/// Wait until every node answers ApiVersions and lists all the nodes as
/// brokers in Metadata. `Some(signal)` if a signal came first.
async fn wait_ready(
    plan: &Plan,
    nodes: &mut Nodes,
    signals: &mut Signals,
) -> Result<Option<&'static str>> {
    let deadline = Instant::now() + READY_TIMEOUT;
    let n = plan.nodes.len();
    loop {
        nodes.check_alive()?;
        let mut waiting_for = None;
        for node in &plan.nodes {
            match brokers_listed(node.port).await {
                Ok(count) if count == n => {}
                Ok(count) => {
                    waiting_for = Some(format!("node {} lists {count} of {n} brokers", node.id));
                    break;
                }
                Err(e) => {
                    waiting_for = Some(format!("node {}: {e:#}", node.id));
                    break;
                }
            }
        }
        let Some(waiting_for) = waiting_for else {
            return Ok(None);
        };
        if Instant::now() >= deadline {
            let logs: Vec<String> = plan
                .nodes
                .iter()
                .map(|n| n.log_path().display().to_string())
                .collect();
            bail!(
                "the cluster was not ready in {} s (last: {waiting_for}); logs: {}",
                READY_TIMEOUT.as_secs(),
                logs.join(" ")
            );
        }
        tokio::select! {
            name = signals.recv() => return Ok(Some(name)),
            () = tokio::time::sleep(Duration::from_millis(250)) => {}
        }
    }
}

/// How many brokers the node on `port` lists in a Metadata response
/// (connecting negotiates versions with ApiVersions first).
async fn brokers_listed(port: u16) -> Result<usize> {
    let mut config = client_config(&format!("127.0.0.1:{port}"), "weir-dev")?;
    config.connection.connect_timeout_ms = 1_000;
    config.connection.request_timeout_ms = 2_000;
    let client = tokio::time::timeout(Duration::from_secs(3), Client::connect(config))
        .await
        .context("no answer in 3 s")??;
    Ok(client.metadata().brokers.len())
}

fn print_banner(plan: &Plan, out: &mut impl Write) -> Result<()> {
    let n = plan.nodes.len();
    let bootstrap = plan.bootstrap();
    writeln!(
        out,
        "Weir dev cluster: {n} broker{}",
        if n == 1 { "" } else { "s" }
    )?;
    writeln!(out, "bootstrap.servers={bootstrap}")?;
    writeln!(out, "data dir: {}", plan.data_dir.display())?;
    writeln!(out, "logs:")?;
    for node in &plan.nodes {
        writeln!(
            out,
            "  node {}: {} (pid {})",
            node.id,
            node.log_path().display(),
            std::fs::read_to_string(node.pid_path())
                .unwrap_or_default()
                .trim()
        )?;
    }
    let rf = n.min(3);
    writeln!(out, "try:")?;
    writeln!(
        out,
        "  weir topics --bootstrap-server {bootstrap} --create --topic demo --partitions 3 --replication-factor {rf}"
    )?;
    writeln!(
        out,
        "  weir topics --bootstrap-server {bootstrap} --describe --topic demo"
    )?;
    writeln!(
        out,
        "  seq 1 5 | weir console-producer --bootstrap-server {bootstrap} --topic demo"
    )?;
    writeln!(
        out,
        "  weir console-consumer --bootstrap-server {bootstrap} --topic demo --from-beginning --max-messages 5"
    )?;
    writeln!(out, "Ctrl-C stops the cluster.")?;
    Ok(())
}

/// `weir topics --create` then `--describe` of `topic`, by the same code.
fn demo_topic(plan: &Plan, topic: &str, out: &mut impl Write) -> Result<()> {
    #[derive(Debug, Parser)]
    struct Topics {
        #[command(flatten)]
        args: super::topics::Args,
    }
    let bootstrap = plan.bootstrap();
    let rf = plan.nodes.len().min(3).to_string();
    let create = Topics::try_parse_from([
        "topics",
        "--bootstrap-server",
        &bootstrap,
        "--create",
        "--if-not-exists",
        "--topic",
        topic,
        "--partitions",
        "3",
        "--replication-factor",
        &rf,
    ])?;
    super::topics::run(&create.args, out)?;
    let describe = Topics::try_parse_from([
        "topics",
        "--bootstrap-server",
        &bootstrap,
        "--describe",
        "--topic",
        topic,
    ])?;
    super::topics::run(&describe.args, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(brokers: usize, base_port: u16) -> Args {
        Args {
            brokers,
            data_dir: PathBuf::from("/tmp/d"),
            base_port,
            demo_topic: None,
        }
    }

    #[test]
    fn ports_and_properties_follow_the_node_index() {
        let plan = Plan::new(&args(3, 9092)).unwrap();
        assert_eq!(
            plan.bootstrap(),
            "127.0.0.1:9092,127.0.0.1:9093,127.0.0.1:9094"
        );
        let node = &plan.nodes[1];
        assert_eq!((node.id, node.port, node.controller_port), (2, 9093, 9193));
        let text = plan.properties(node);
        for line in [
            "process.roles=broker,controller",
            "node.id=2",
            "controller.quorum.voters=1@127.0.0.1:9192,2@127.0.0.1:9193,3@127.0.0.1:9194",
            "listeners=PLAINTEXT://127.0.0.1:9093,CONTROLLER://127.0.0.1:9193",
            "advertised.listeners=PLAINTEXT://127.0.0.1:9093,CONTROLLER://127.0.0.1:9193",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs=/tmp/d/node-2/logs",
            "num.partitions=3",
            "default.replication.factor=3",
            "min.insync.replicas=2",
            "offsets.topic.replication.factor=3",
            "group.initial.rebalance.delay.ms=0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing:\n{text}");
        }
    }

    #[test]
    fn small_clusters_cap_replication() {
        let plan = Plan::new(&args(1, 9092)).unwrap();
        let text = plan.properties(&plan.nodes[0]);
        assert!(text.contains("\ndefault.replication.factor=1\n"));
        assert!(text.contains("\nmin.insync.replicas=1\n"));
        assert!(text.contains("\noffsets.topic.replication.factor=1\n"));
        let plan = Plan::new(&args(2, 9092)).unwrap();
        let text = plan.properties(&plan.nodes[0]);
        assert!(text.contains("\ndefault.replication.factor=2\n"));
        assert!(text.contains("\nmin.insync.replicas=2\n"));
    }

    #[test]
    fn bad_sizes_and_ports_are_refused() {
        assert!(Plan::new(&args(0, 9092)).is_err());
        assert!(Plan::new(&args(33, 9092)).is_err());
        assert!(Plan::new(&args(32, 9092)).is_ok());
        // The last controller port would be 65_434 + 100 + 2 = 65_536.
        assert!(Plan::new(&args(3, 65_434)).is_err());
        assert!(Plan::new(&args(3, 65_433)).is_ok());
        assert!(Plan::new(&args(3, 0)).is_err());
    }
}
