//! `weir topics --describe` fills the `Elr:` and `LastKnownElr:` columns
//! from DescribeTopicPartitions (key 75, KIP-966) against a real cluster:
//! three voters and two broker-only observers, the partition on 1, 4, 5 so
//! that the metadata quorum survives stopping 4 and 5.

mod common;

use common::cluster::{create_topic, rt, wait_for, wait_isr, Cluster};
use std::time::Duration;

/// Short sessions (quick fencing) and min ISR 2.
const PROPS: &[&str] = &[
    "broker.session.timeout.ms=3000",
    "broker.heartbeat.interval.ms=500",
    "min.insync.replicas=2",
];

/// How long each ISR wait may take.
const ISR_WAIT: Duration = Duration::from_secs(20);

/// `weir topics --describe --topic T` against node `id`.
fn describe(cluster: &Cluster, id: usize, topic: &str) -> Result<String, String> {
    let bootstrap = cluster.node(id).bootstrap();
    let run = common::weir(
        &std::env::temp_dir(),
        &[
            "topics",
            "--bootstrap-server",
            &bootstrap,
            "--describe",
            "--topic",
            topic,
        ],
    );
    if run.code == Some(0) {
        Ok(run.stdout)
    } else {
        Err(format!("exit {:?}: {}", run.code, run.stderr))
    }
}

/// 4 stops cleanly (ISR [1,5], still at min ISR: no ELR), then 5 stops
/// cleanly (ISR [1], below min ISR: 5 becomes eligible). The tool prints
/// `Elr: 5` with an empty last known ELR, in Kafka 4.0's layout.
#[test]
fn describe_prints_the_eligible_leader_replicas() {
    let rt = rt();
    let mut cluster = Cluster::start_with_observers(3, 2, PROPS);
    let topic = "elr-describe";
    create_topic(&mut cluster, topic, &["--replica-assignment", "1:4:5"]);
    wait_isr(&rt, &cluster, 1, topic, &[1, 4, 5], ISR_WAIT);
    let healthy = describe(&cluster, 1, topic).expect("describe");
    assert!(
        healthy.contains("\tIsr: 1,4,5\tElr: \tLastKnownElr: \n"),
        "{healthy}"
    );

    assert!(cluster.terminate(4).success());
    wait_isr(&rt, &cluster, 1, topic, &[1, 5], ISR_WAIT);
    assert!(cluster.terminate(5).success());
    wait_isr(&rt, &cluster, 1, topic, &[1], ISR_WAIT);

    let want = format!(
        "\tTopic: {topic}\tPartition: 0\tLeader: 1\tReplicas: 1,4,5\tIsr: 1\tElr: 5\tLastKnownElr: "
    );
    for id in [1, 2] {
        let out = wait_for(
            &cluster,
            &format!("node {id} describes Elr: 5"),
            Duration::from_secs(20),
            || {
                let out = describe(&cluster, id, topic)?;
                if out.contains("\tIsr: 1\t") {
                    Ok(out)
                } else {
                    Err(out)
                }
            },
        );
        let line = out
            .lines()
            .find(|l| l.starts_with("\tTopic: "))
            .unwrap_or_else(|| panic!("no partition line in {out:?}"));
        assert_eq!(line, want, "node {id}: {out}");
    }
}
