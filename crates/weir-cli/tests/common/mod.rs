//! Helpers shared by the `weir` binary tests: run it, find the fixtures,
//! make scratch directories.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// What one run of `weir` printed.
#[derive(Debug)]
pub struct Run {
    pub stdout: String,
    pub stderr: String,
    pub code: Option<i32>,
}

impl Run {
    /// Exit code 0 and nothing on stderr.
    pub fn assert_clean(&self) -> &Run {
        assert_eq!(self.code, Some(0), "exit code; stderr:\n{}", self.stderr);
        assert_eq!(self.stderr, "", "stderr");
        self
    }

    /// A controlled exit: 0 or 1, never a panic (101) or a signal.
    pub fn assert_no_crash(&self) -> &Run {
        assert!(
            matches!(self.code, Some(0 | 1)),
            "weir crashed (code {:?}); stderr:\n{}",
            self.code,
            self.stderr
        );
        assert!(!self.stderr.contains("panicked"), "panic: {}", self.stderr);
        self
    }
}

/// Run the `weir` binary built by this crate in `dir` with `args`.
pub fn weir(dir: &Path, args: &[&str]) -> Run {
    let out: Output = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("run weir");
    Run {
        stdout: String::from_utf8(out.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        code: out.status.code(),
    }
}

/// `fixtures/kafka-4.0.0-logdir`: a log dir written by Kafka 4.0.0 and
/// what its `kafka-dump-log.sh` printed for it.
pub fn kafka_logdir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/kafka-4.0.0-logdir")
}

/// The partition directory `golden-0`.
pub fn golden() -> PathBuf {
    kafka_logdir().join("golden-0")
}

/// Kafka's output for `name` (`dumps/<name>.txt`, or `.deep.txt`).
pub fn kafka_dump(name: &str, deep: bool) -> String {
    let suffix = if deep { "deep.txt" } else { "txt" };
    let path = kafka_logdir().join(format!("dumps/{name}.{suffix}"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Names of the files in `golden-0` ending in `.{ext}`, sorted.
pub fn golden_files(ext: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(golden())
        .expect("golden-0")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(&format!(".{ext}")))
        .collect();
    names.sort();
    assert!(!names.is_empty(), "no .{ext} files in golden-0");
    names
}

/// An empty scratch directory of its own for one test.
pub fn scratch(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("weir-cli-{test}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

pub mod cluster;
pub mod server;
