//! `weir server`: bad input ends with one line on stderr and exit code 1
//! before anything starts; a started server formats its log dir and shuts
//! down cleanly on SIGTERM and SIGINT (exit 0, checkpoints written).

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// How long a server gets to start or to stop.
const WAIT: Duration = Duration::from_secs(30);

/// An empty scratch directory of its own for one test.
fn scratch(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("weir-server-cli-{test}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

fn weir(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .expect("run weir")
}

/// Exit code 1 and exactly one line on stderr, containing `expected`.
fn assert_one_line_error(out: &Output, expected: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "stderr: {stderr}");
    assert!(stderr.contains(expected), "stderr: {stderr}");
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// A Kafka 4 single-node KRaft file for 127.0.0.1 with its logs in `dir`.
fn properties(dir: &Path, port: u16, controller_port: u16) -> PathBuf {
    let text = format!(
        "process.roles=broker,controller\nnode.id=1\n\
         controller.quorum.voters=1@127.0.0.1:{controller_port}\n\
         listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}\n\
         advertised.listeners=PLAINTEXT://127.0.0.1:{port}\n\
         controller.listener.names=CONTROLLER\n\
         listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT\n\
         inter.broker.listener.name=PLAINTEXT\n\
         log.dirs={}\n",
        dir.join("logs").display()
    );
    let path = dir.join("server.properties");
    std::fs::write(&path, text).expect("write server.properties");
    path
}

#[test]
fn a_missing_file_is_one_line_and_exit_1() {
    let dir = scratch("missing");
    let path = dir.join("nope.properties");
    let out = weir(&["server", path.to_str().unwrap()]);
    assert_one_line_error(&out, "cannot read");
    assert_one_line_error(&out, "nope.properties");
}

#[test]
fn a_bad_value_is_one_line_naming_the_key_and_exit_1() {
    let dir = scratch("bad-value");
    let path = properties(&dir, free_port(), free_port());
    let path = path.to_str().unwrap();
    let out = weir(&["server", path, "--override", "num.partitions=zero"]);
    assert_one_line_error(&out, "invalid value \"zero\" for num.partitions");
    assert!(
        !dir.join("logs").exists(),
        "nothing may start on a bad config"
    );

    let out = weir(&["server", path, "--override", "novalue"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "clap rejects a malformed --override"
    );
}

#[test]
fn an_unusable_log_dir_is_an_error_exit() {
    let dir = scratch("unusable");
    let path = properties(&dir, free_port(), free_port());
    std::fs::write(dir.join("logs"), b"a file, not a directory").unwrap();
    let out = weir(&["server", path.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(stderr.contains("is not a directory"), "stderr: {stderr}");
}

/// Start `weir server` and wait until its client port accepts.
fn start(path: &Path, port: u16) -> Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["server", path.to_str().unwrap()])
        .args(["--override", "unknown.key.for.test=1"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn weir server");
    let deadline = Instant::now() + WAIT;
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("weir server exited early with {status}");
        }
        assert!(Instant::now() < deadline, "weir server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

/// Send `signal` and wait (bounded) for the exit; returns code and stderr.
fn stop(mut child: Child, signal: &str) -> (Option<i32>, String) {
    let pid = child.id().to_string();
    let sent = Command::new("kill").args([signal, &pid]).status().unwrap();
    assert!(sent.success());
    let deadline = Instant::now() + WAIT;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("weir server did not stop after {signal}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code(), stderr)
}

#[test]
fn signals_shut_the_server_down_cleanly() {
    for signal in ["-TERM", "-INT"] {
        let dir = scratch(&format!("signal{signal}"));
        let port = free_port();
        let path = properties(&dir, port, free_port());
        let child = start(&path, port);
        let (code, stderr) = stop(child, signal);
        assert_eq!(code, Some(0), "{signal}; stderr: {stderr}");
        assert!(stderr.contains("unknown.key.for.test"), "{stderr}");
        let logs = dir.join("logs");
        for name in [
            "meta.properties",
            "recovery-point-offset-checkpoint",
            "replication-offset-checkpoint",
            "log-start-offset-checkpoint",
        ] {
            assert!(logs.join(name).is_file(), "{signal}: no {name}");
        }
    }
}

#[test]
fn a_node_waiting_for_its_quorum_still_stops_on_sigterm() {
    let dir = scratch("no-quorum");
    let (port, controller_port, absent_voter) = (free_port(), free_port(), free_port());
    let path = properties(&dir, port, controller_port);
    // A second voter that never starts: no majority, no leader.
    let text = std::fs::read_to_string(&path).unwrap().replace(
        &format!("controller.quorum.voters=1@127.0.0.1:{controller_port}"),
        &format!(
            "controller.quorum.voters=1@127.0.0.1:{controller_port},2@127.0.0.1:{absent_voter}"
        ),
    );
    std::fs::write(&path, text).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["server", path.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn weir server");
    // It binds its controller listener, then waits for a quorum.
    let deadline = Instant::now() + WAIT;
    while TcpStream::connect(("127.0.0.1", controller_port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "controller listener never opened"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "no client port before the quorum"
    );
    let (code, stderr) = stop(child, "-TERM");
    assert_eq!(code, Some(0), "stderr: {stderr}");
    assert!(
        stderr.contains("shut down before the broker finished starting"),
        "{stderr}"
    );
}
