//! `weir dev`: starts N `weir server` nodes, waits until they form a
//! cluster, prints `bootstrap.servers=...`; SIGTERM stops every node and
//! exits 0; a `weir dev` killed with SIGKILL leaves no node running (the
//! nodes watch their parent); bad flags are refused with exit code 1.

mod common;

use common::cluster::brokers_listed;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// `weir dev` waits 60 s at most for the cluster; a debug build on a busy
/// machine gets some more.
const READY: Duration = Duration::from_secs(90);

/// A base port such that `base..base+n` and `base+100..base+100+n` are
/// all free now. Chosen below Linux's ephemeral range (32768-60999), where
/// the other tests' `free_port()` and outgoing connections take theirs.
fn free_base(n: u16) -> u16 {
    let mut seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .subsec_nanos()
        ^ std::process::id().wrapping_mul(2_654_435_761);
    for _ in 0..200 {
        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        let base = 20_000 + u16::try_from((seed >> 8) % 12_500).expect("fits");
        let free = (0..n)
            .flat_map(|i| [base + i, base + 100 + i])
            .all(|p| TcpListener::bind(("127.0.0.1", p)).is_ok());
        if free {
            return base;
        }
    }
    panic!("no free base port found");
}

/// Is `pid` a live process (not gone, not a zombie)?
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name.
        Ok(stat) => !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
        Err(_) => false,
    }
}

fn signal(pid: u32, signal: Signal) {
    kill(Pid::from_raw(i32::try_from(pid).expect("pid")), signal).expect("signal");
}

/// A running `weir dev`; killed on drop, with its nodes (by their PID
/// files) in case the test failed half way.
struct Dev {
    child: Child,
    dir: PathBuf,
    n: u16,
    base: u16,
    /// Every stdout line so far.
    lines: mpsc::Receiver<String>,
    stdout: Vec<String>,
    node_pids: Vec<u32>,
}

impl Dev {
    fn start(n: u16, dir: &Path) -> Dev {
        let base = free_base(n);
        let stderr = std::fs::File::create(dir.join("dev.stderr")).expect("stderr file");
        let mut child = Command::new(env!("CARGO_BIN_EXE_weir"))
            .args(["dev", "--brokers", &n.to_string(), "--data-dir"])
            .arg(dir.join("data"))
            .args(["--base-port", &base.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("spawn weir dev");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Dev {
            child,
            dir: dir.to_path_buf(),
            n,
            base,
            lines,
            stdout: Vec::new(),
            node_pids: Vec::new(),
        }
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.join("dev.stderr")).unwrap_or_default()
    }

    /// Every node's `server.log`, headed by its id.
    fn logs(&self) -> String {
        (1..=self.n)
            .map(|id| {
                let log = std::fs::read_to_string(self.node_dir(id).join("server.log"));
                format!("--- node {id} ---\n{}\n", log.unwrap_or_default())
            })
            .collect()
    }

    fn node_dir(&self, id: u16) -> PathBuf {
        self.dir.join(format!("data/node-{id}"))
    }

    /// Wait for the `bootstrap.servers=` line; returns its value.
    fn wait_bootstrap(&mut self) -> String {
        let deadline = Instant::now() + READY;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.stdout.push(line.clone());
                    if let Some(b) = line.strip_prefix("bootstrap.servers=") {
                        let b = b.to_owned();
                        self.read_pids();
                        return b;
                    }
                }
                Err(_) => {
                    let status = self.child.try_wait();
                    panic!(
                        "no bootstrap line in {READY:?} (weir dev: {status:?});\nstdout:\n{}\nstderr:\n{}",
                        self.stdout.join("\n"),
                        self.stderr()
                    );
                }
            }
        }
    }

    fn read_pids(&mut self) {
        self.node_pids = (1..=self.n)
            .map(|id| {
                let path = self.node_dir(id).join("server.pid");
                let text = std::fs::read_to_string(&path)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                text.trim().parse().expect("pid")
            })
            .collect();
        for &pid in &self.node_pids {
            assert!(alive(pid), "node pid {pid} not running");
        }
    }

    /// Wait (bounded) for `weir dev` to exit.
    fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "weir dev still running after {timeout:?}; stderr:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Wait (bounded) until no node process is left.
    fn wait_nodes_gone(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.node_pids.iter().any(|&p| alive(p)) {
            let left: Vec<u32> = self
                .node_pids
                .iter()
                .copied()
                .filter(|&p| alive(p))
                .collect();
            assert!(
                Instant::now() < deadline,
                "nodes {left:?} still running {timeout:?} later; stderr:\n{}\n{}",
                self.stderr(),
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for &pid in &self.node_pids {
            if alive(pid) {
                let _ = kill(
                    Pid::from_raw(i32::try_from(pid).unwrap_or(0)),
                    Signal::SIGKILL,
                );
            }
        }
    }
}

fn metadata_brokers(bootstrap: &str) -> Vec<usize> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    bootstrap
        .split(',')
        .map(|addr| {
            let port: u16 = addr
                .rsplit_once(':')
                .expect("host:port")
                .1
                .parse()
                .expect("port");
            rt.block_on(brokers_listed(port))
                .unwrap_or_else(|e| panic!("metadata from {addr}: {e}"))
        })
        .collect()
}

/// Start, check the printed lines and Metadata, SIGTERM, check the nodes
/// are gone, the PID files removed, and the exit code 0.
fn start_and_terminate(n: u16, test: &str) {
    let dir = common::scratch(test);
    let mut dev = Dev::start(n, &dir);
    let bootstrap = dev.wait_bootstrap();
    let expected: Vec<String> = (0..n)
        .map(|i| format!("127.0.0.1:{}", dev.base + i))
        .collect();
    assert_eq!(bootstrap, expected.join(","));
    let plural = if n == 1 { "" } else { "s" };
    assert!(
        dev.stdout
            .contains(&format!("Weir dev cluster: {n} broker{plural}")),
        "{:?}",
        dev.stdout
    );
    assert_eq!(
        metadata_brokers(&bootstrap),
        vec![usize::from(n); usize::from(n)]
    );
    for id in 1..=n {
        let props = std::fs::read_to_string(dev.node_dir(id).join("server.properties"))
            .expect("server.properties");
        assert!(props.contains(&format!("\nnode.id={id}\n")), "{props}");
    }

    signal(dev.child.id(), Signal::SIGTERM);
    let status = dev.wait_exit(Duration::from_secs(40));
    assert_eq!(status.code(), Some(0), "stderr:\n{}", dev.stderr());
    dev.wait_nodes_gone(Duration::from_secs(5));
    for id in 1..=n {
        assert!(
            !dev.node_dir(id).join("server.pid").exists(),
            "server.pid of node {id} left behind"
        );
        let log = std::fs::read_to_string(dev.node_dir(id).join("server.log")).expect("log");
        assert!(log.contains("SIGTERM received"), "node {id} log:\n{log}");
    }
}

#[test]
fn one_broker_starts_and_stops_on_sigterm() {
    start_and_terminate(1, "dev-one");
}

#[test]
fn three_brokers_start_and_stop_on_sigterm() {
    start_and_terminate(3, "dev-three");
}

/// SIGKILL `weir dev`: its nodes notice their parent is gone and stop
/// on their own within 10 s.
fn killed_outright(n: u16, test: &str) {
    let dir = common::scratch(test);
    let mut dev = Dev::start(n, &dir);
    dev.wait_bootstrap();
    signal(dev.child.id(), Signal::SIGKILL);
    dev.wait_exit(Duration::from_secs(5));
    dev.wait_nodes_gone(Duration::from_secs(10));
    for id in 1..=n {
        let log = std::fs::read_to_string(dev.node_dir(id).join("server.log")).expect("log");
        assert!(
            log.contains("the weir dev process that started this server is gone"),
            "node {id}:\n{log}"
        );
    }
}

#[test]
fn one_node_stops_when_weir_dev_is_killed() {
    killed_outright(1, "dev-sigkill-one");
}

#[test]
fn three_nodes_stop_when_weir_dev_is_killed() {
    killed_outright(3, "dev-sigkill-three");
}

#[test]
fn bad_broker_counts_are_refused() {
    let dir = common::scratch("dev-bad-flags");
    for n in ["0", "33"] {
        let run = common::weir(&dir, &["dev", "--brokers", n, "--data-dir", "data"]);
        assert_eq!(run.code, Some(1), "{run:?}");
        assert!(
            run.stderr
                .contains(&format!("--brokers must be between 1 and 32, got {n}")),
            "{run:?}"
        );
    }
    assert!(
        !dir.join("data").exists(),
        "nothing is written on bad flags"
    );
    let run = common::weir(&dir, &["dev", "--brokers", "x"]);
    assert_ne!(run.code, Some(0), "{run:?}");
}

#[test]
fn a_port_in_use_is_refused() {
    let dir = common::scratch("dev-port-in-use");
    let base = free_base(2);
    let _taken = TcpListener::bind(("127.0.0.1", base + 101)).expect("bind");
    let run = common::weir(
        &dir,
        &[
            "dev",
            "--brokers",
            "2",
            "--data-dir",
            "data",
            "--base-port",
            &base.to_string(),
        ],
    );
    assert_eq!(run.code, Some(1), "{run:?}");
    assert!(
        run.stderr.contains(&format!(
            "port {} (controller port of node 2) is already in use",
            base + 101
        )),
        "{run:?}"
    );
}
