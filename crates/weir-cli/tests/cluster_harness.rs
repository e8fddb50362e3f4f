//! The multi-node harness (`tests/common/cluster.rs`) itself: nodes start,
//! list each other, and survive SIGSTOP/SIGCONT, SIGKILL + restart on the
//! same ports and data, and SIGTERM.

mod common;

use common::cluster::Cluster;
use std::time::Duration;

fn exercise(n: usize) {
    let mut cluster = Cluster::start(n, &[]);
    assert_eq!(cluster.len(), n);
    let addrs: Vec<String> = (1..=n)
        .map(|id| format!("127.0.0.1:{}", cluster.node(id).port))
        .collect();
    assert_eq!(cluster.bootstrap(), addrs.join(","));

    cluster.stop(1);
    assert!(cluster.is_running(1), "a stopped node is still a process");
    cluster.cont(1);
    cluster.wait_ready(Duration::from_secs(30));

    let port = cluster.node(1).port;
    cluster.kill(1);
    assert!(!cluster.is_running(1));
    cluster.restart(1);
    assert_eq!(cluster.node(1).port, port, "same port after restart");
    cluster.wait_ready(Duration::from_secs(60));

    let status = cluster.terminate(n);
    assert_eq!(status.code(), Some(0), "{}", cluster.log_text(n));
    assert!(cluster.log_text(n).contains("SIGTERM received"));
    assert!(!cluster.is_running(n));
}

#[test]
fn one_node_cluster_stops_kills_restarts_and_terminates() {
    exercise(1);
}

#[test]
fn three_node_cluster_stops_kills_restarts_and_terminates() {
    exercise(3);
}
