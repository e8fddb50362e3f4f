//! Shared harness for tests that run real `weir server` processes: each
//! server gets a free port on 127.0.0.1 and a temp log dir, waits are
//! bounded, and the process is killed by PID when the guard drops.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `weir server` process.
pub struct Server {
    pub child: Option<Child>,
    pub port: u16,
    pub controller_port: u16,
    pub dir: PathBuf,
    pub props: PathBuf,
    _temp: Option<tempfile::TempDir>,
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A Kafka 4 style single-node KRaft `server.properties`.
pub fn single_node_properties(
    port: u16,
    controller_port: u16,
    log_dir: &Path,
    extra: &[&str],
) -> String {
    let mut s = format!(
        "process.roles=broker,controller\n\
         node.id=1\n\
         controller.quorum.voters=1@127.0.0.1:{controller_port}\n\
         listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}\n\
         advertised.listeners=PLAINTEXT://127.0.0.1:{port}\n\
         controller.listener.names=CONTROLLER\n\
         inter.broker.listener.name=PLAINTEXT\n\
         listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT\n\
         log.dirs={}\n\
         num.partitions=1\n\
         offsets.topic.replication.factor=1\n\
         group.initial.rebalance.delay.ms=0\n",
        log_dir.display()
    );
    for line in extra {
        s.push_str(line);
        s.push('\n');
    }
    s
}

impl Server {
    /// Start a single-node server with extra `server.properties` lines.
    pub fn start(extra: &[&str]) -> Server {
        let temp = tempfile::tempdir().expect("tempdir");
        let dir = temp.path().to_path_buf();
        let mut server = Server::start_in(&dir, extra);
        server._temp = Some(temp);
        server
    }

    /// Start (or restart) a single-node server whose data lives in `dir`.
    pub fn start_in(dir: &Path, extra: &[&str]) -> Server {
        let port = free_port();
        let controller_port = free_port();
        let props = dir.join("server.properties");
        let text = single_node_properties(port, controller_port, &dir.join("logs"), extra);
        std::fs::write(&props, text).expect("write server.properties");
        let mut server = Server {
            child: None,
            port,
            controller_port,
            dir: dir.to_path_buf(),
            props,
            _temp: None,
        };
        server.spawn();
        server
    }

    fn spawn(&mut self) {
        let log = std::fs::File::create(self.dir.join(format!("server-{}.log", self.port)))
            .expect("server log file");
        let child = Command::new(env!("CARGO_BIN_EXE_weir"))
            .arg("server")
            .arg(&self.props)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log)
            .spawn()
            .expect("spawn weir server");
        self.child = Some(child);
        self.wait_ready(Duration::from_secs(30));
    }

    /// The client address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// `127.0.0.1:<port>`.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Wait until the server answers an ApiVersions request.
    pub fn wait_ready(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!(
                        "weir server exited early with {status}: {}",
                        self.log_text()
                    );
                }
            }
            if let Ok(mut s) = TcpStream::connect(self.addr()) {
                s.set_read_timeout(Some(Duration::from_secs(2))).ok();
                if api_versions_round_trip(&mut s).is_ok() {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("weir server not ready in {timeout:?}: {}", self.log_text());
    }

    /// The server's stdout/stderr so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.dir.join(format!("server-{}.log", self.port)))
            .unwrap_or_default()
    }

    /// SIGKILL the process and reap it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM the process and wait (bounded) for a clean exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("server running");
        let pid = child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("weir server ignored SIGTERM for 30 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Start the process again on the same ports and data.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "stop the server first");
        self.spawn();
    }

    /// Is the process still running?
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Send ApiVersions v0 and read the response frame.
pub fn api_versions_round_trip(s: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    // api_key 18, version 0, correlation id 7, client id "t".
    let body: &[u8] = &[0, 18, 0, 0, 0, 0, 0, 7, 0, 1, b't'];
    send_frame(s, body)?;
    read_frame(s)
}

/// Write one length-prefixed frame.
pub fn send_frame(s: &mut TcpStream, body: &[u8]) -> std::io::Result<()> {
    let mut frame = (body.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(body);
    s.write_all(&frame)
}

/// Read one length-prefixed frame.
pub fn read_frame(s: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len)?;
    let len = u32::from_be_bytes(len) as usize;
    if len > 64 << 20 {
        return Err(std::io::Error::other("response frame too large"));
    }
    let mut buf = vec![0u8; len];
    s.read_exact(&mut buf)?;
    Ok(buf)
}
