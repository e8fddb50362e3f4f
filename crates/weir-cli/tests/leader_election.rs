//! Issue 6 (c): preferred leaders. Three real `weir server` processes,
//! one partition with replicas 1, 2, 3 (1 preferred); node 1 is SIGKILLed
//! so leadership moves away, then restarted and waited back into the ISR.
//! `weir leader-election --election-type preferred` moves leadership back
//! on demand (Kafka's lines, exactly), and with a short
//! `leader.imbalance.check.interval.seconds` the active controller does it
//! on its own. Every wait is bounded; processes are killed by PID.

mod common;

use common::cluster::{create_topic, rt, wait_layout, Cluster};
use std::time::Duration;

/// Quick fencing and ISR changes.
const PROPS: &[&str] = &[
    "broker.session.timeout.ms=3000",
    "broker.heartbeat.interval.ms=500",
    "replica.lag.time.max.ms=3000",
];

/// How long each leader/ISR wait may take.
const WAIT: Duration = Duration::from_secs(30);

/// Create `topic` with one partition on replicas 1, 2, 3; kill node 1,
/// wait until 2 or 3 leads without it, restart it and wait until it is in
/// the ISR again (still not leading).
fn fail_over_and_return(rt: &tokio::runtime::Runtime, cluster: &mut Cluster, topic: &str) {
    create_topic(cluster, topic, &["--replica-assignment", "1:2:3"]);
    wait_layout(
        rt,
        cluster,
        2,
        topic,
        |l| l == 1,
        &[1, 2, 3],
        "1 leads",
        WAIT,
    );
    cluster.kill(1);
    wait_layout(
        rt,
        cluster,
        2,
        topic,
        |l| l == 2 || l == 3,
        &[2, 3],
        "2 or 3 leads without 1",
        WAIT,
    );
    cluster.restart(1);
}

fn elect(cluster: &mut Cluster, topic: &str) -> common::Run {
    let bootstrap = cluster.running_bootstrap();
    common::weir(
        &std::env::temp_dir(),
        &[
            "leader-election",
            "--bootstrap-server",
            &bootstrap,
            "--election-type",
            "preferred",
            "--topic",
            topic,
            "--partition",
            "0",
        ],
    )
}

#[test]
fn the_tool_moves_leadership_back_to_the_preferred_replica() {
    let rt = rt();
    let mut props = PROPS.to_vec();
    // The tool, not the controller's timer, must do it here.
    props.push("auto.leader.rebalance.enable=false");
    let mut cluster = Cluster::start(3, &props);
    let topic = "preferred";
    fail_over_and_return(&rt, &mut cluster, topic);
    wait_layout(
        &rt,
        &cluster,
        2,
        topic,
        |l| l == 2 || l == 3,
        &[1, 2, 3],
        "1 back in the ISR",
        WAIT,
    );

    let run = elect(&mut cluster, topic);
    run.assert_clean();
    assert_eq!(
        run.stdout,
        "Successfully completed leader election (PREFERRED) for partitions preferred-0\n"
    );
    for node in 1..=3 {
        wait_layout(
            &rt,
            &cluster,
            node,
            topic,
            |l| l == 1,
            &[1, 2, 3],
            &format!("node {node} sees 1 leading"),
            WAIT,
        );
    }

    let run = elect(&mut cluster, topic);
    run.assert_clean();
    assert_eq!(
        run.stdout,
        "Valid replica already elected for partitions preferred-0\n"
    );

    // Kafka's refusal for an unknown partition: a line and exit code 1.
    let run = common::weir(
        &std::env::temp_dir(),
        &[
            "leader-election",
            "--bootstrap-server",
            &cluster.running_bootstrap(),
            "--election-type",
            "preferred",
            "--topic",
            "nope",
            "--partition",
            "0",
        ],
    );
    assert_eq!(run.code, Some(1), "stderr: {}", run.stderr);
    assert_eq!(
        run.stdout,
        "Error completing leader election (PREFERRED) for partition: nope-0: \
         org.apache.kafka.common.errors.UnknownTopicOrPartitionException: No such topic as nope\n"
    );
    assert_eq!(run.stderr, "weir: 1 replica(s) could not be elected\n");
}

#[test]
fn the_active_controller_rebalances_leadership_on_its_own() {
    let rt = rt();
    let mut props = PROPS.to_vec();
    props.push("leader.imbalance.check.interval.seconds=2");
    let mut cluster = Cluster::start(3, &props);
    let topic = "rebalanced";
    fail_over_and_return(&rt, &mut cluster, topic);
    // Back in the ISR, node 1 gets its leadership back within a few
    // check intervals, with nobody asking.
    wait_layout(
        &rt,
        &cluster,
        2,
        topic,
        |l| l == 1,
        &[1, 2, 3],
        "1 leads again by the automatic rebalance",
        WAIT,
    );
    assert!(
        cluster
            .all_logs()
            .contains("leader imbalance above leader.imbalance.per.broker.percentage"),
        "the controller logs the rebalance"
    );
}
