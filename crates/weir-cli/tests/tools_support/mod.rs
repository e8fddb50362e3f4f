//! Running the client tools against a real `weir server` with bounded
//! waits: every run has a deadline, after which the tool is killed and the
//! test fails with what it printed.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// What one tool run printed.
#[derive(Debug)]
pub struct Out {
    pub stdout: String,
    pub stderr: String,
    pub code: Option<i32>,
}

impl Out {
    /// Exit 0, or fail showing stderr.
    pub fn ok(self) -> Out {
        assert_eq!(
            self.code,
            Some(0),
            "exit code; stdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    /// A non-zero exit (1: a reported error, not a crash), with this on stderr.
    pub fn fails_with(self, needle: &str) -> Out {
        assert_eq!(
            self.code,
            Some(1),
            "exit code; stdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}:\n{}",
            self.stderr
        );
        assert!(!self.stderr.contains("panicked"), "panic:\n{}", self.stderr);
        self
    }
}

/// Run `weir args...` with `stdin`, killing it after `timeout`.
pub fn weir(args: &[&str], stdin: &[u8], timeout: Duration) -> Out {
    let mut child = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn weir");
    let mut input = child.stdin.take().expect("stdin");
    let data = stdin.to_vec();
    let writer = thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let stdout = drain(child.stdout.take().expect("stdout"));
    let stderr = drain(child.stderr.take().expect("stderr"));
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        thread::sleep(Duration::from_millis(20));
    };
    let _ = writer.join();
    let out = Out {
        stdout: stdout.join().expect("stdout thread"),
        stderr: stderr.join().expect("stderr thread"),
        code: status.and_then(|s| s.code()),
    };
    assert!(
        status.is_some(),
        "weir {args:?} did not finish in {timeout:?}: {out:?}"
    );
    out
}

fn drain(mut pipe: impl Read + Send + 'static) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}

/// Generous bound for one tool run on a loaded 2-core CI machine.
pub const RUN: Duration = Duration::from_secs(60);

/// `weir topics --bootstrap-server B --create --topic T --partitions N`.
pub fn create_topic(bootstrap: &str, topic: &str, partitions: u32) {
    let n = partitions.to_string();
    let out = weir(
        &[
            "topics",
            "--bootstrap-server",
            bootstrap,
            "--create",
            "--topic",
            topic,
            "--partitions",
            &n,
        ],
        b"",
        RUN,
    )
    .ok();
    assert_eq!(out.stdout, format!("Created topic {topic}.\n"));
}
