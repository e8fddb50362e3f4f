//! `weir console-consumer --group` against a real broker: the group's
//! committed offsets decide where a run starts, each run commits what it
//! printed, and the flags Kafka refuses together are refused.
//!
//! Weir has no `consumer-groups` tool yet, so the committed offset and lag
//! (the CURRENT-OFFSET and LAG columns of `kafka-consumer-groups.sh
//! --describe`) are read over the wire here: OffsetFetch through
//! FindCoordinator, and ListOffsets for the log end.

mod common;
mod tools_support;

use common::server::Server;
use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tools_support::{create_topic, weir, Out, RUN};
use weir_client::consumer::list_offsets;
use weir_client::group_consumer::committed_offsets;
use weir_client::{Client, ClientConfig, OffsetSpec};
use weir_protocol::TopicPartition;

fn produce(b: &str, topic: &str, input: &str, extra: &[&str]) {
    let mut args = vec![
        "console-producer",
        "--bootstrap-server",
        b,
        "--topic",
        topic,
    ];
    args.extend_from_slice(extra);
    let out = weir(&args, input.as_bytes(), RUN).ok();
    assert_eq!(out.stdout, "");
}

fn records(range: std::ops::RangeInclusive<usize>) -> String {
    range.map(|i| format!("record-{i}\n")).collect()
}

/// `console-consumer --group G --max-messages N`, bounded by
/// `--timeout-ms` (20 s unless `extra` sets it) so a missing record fails
/// the test instead of hanging it.
fn consume_group(b: &str, topic: &str, group: &str, max: usize, extra: &[&str]) -> Out {
    let max = max.to_string();
    let timeout = if extra.contains(&"--timeout-ms") {
        &[][..]
    } else {
        &["--timeout-ms", "20000"][..]
    };
    let mut args = vec![
        "console-consumer",
        "--bootstrap-server",
        b,
        "--topic",
        topic,
        "--group",
        group,
        "--max-messages",
        &max,
    ];
    args.extend_from_slice(timeout);
    args.extend_from_slice(extra);
    weir(&args, b"", RUN).ok()
}

/// Per partition: (committed offset, lag = log end - committed), or `None`
/// for a partition without a commit.
fn committed_and_lag(
    b: &str,
    group: &str,
    topic: &str,
    partitions: i32,
) -> BTreeMap<i32, Option<(i64, i64)>> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let client = Client::connect(ClientConfig::new(b))
            .await
            .expect("connect");
        let tps: Vec<TopicPartition> = (0..partitions)
            .map(|p| TopicPartition::new(topic, p))
            .collect();
        let committed = committed_offsets(&client, group, &tps, Duration::from_secs(30))
            .await
            .expect("OffsetFetch");
        let ends = list_offsets(&client, &tps, OffsetSpec::Latest, 0)
            .await
            .expect("ListOffsets");
        tps.iter()
            .map(|tp| {
                let c = committed.get(tp).map(|&c| (c, ends[tp] - c));
                (tp.partition, c)
            })
            .collect()
    })
}

#[test]
fn a_second_run_resumes_from_the_groups_committed_offset() {
    let server = Server::start(&[]);
    let b = server.bootstrap();
    create_topic(&b, "resume", 1);
    produce(
        &b,
        "resume",
        &records(1..=10),
        &["--producer-property", "acks=all"],
    );

    let first = consume_group(&b, "resume", "g", 4, &["--from-beginning"]);
    assert_eq!(first.stdout, records(1..=4));
    assert!(
        first.stderr.contains("Processed a total of 4 messages"),
        "{}",
        first.stderr
    );
    // The exit commit is just past the last record printed, not past what
    // the last fetch brought (all ten records came in one batch).
    assert_eq!(
        committed_and_lag(&b, "g", "resume", 1),
        BTreeMap::from([(0, Some((4, 6)))])
    );

    // --from-beginning only applies to partitions the group never
    // committed: this run starts at record 5.
    let second = consume_group(&b, "resume", "g", 6, &["--from-beginning"]);
    assert_eq!(second.stdout, records(5..=10));
    assert!(
        second.stderr.contains("Processed a total of 6 messages"),
        "{}",
        second.stderr
    );
    assert_eq!(
        committed_and_lag(&b, "g", "resume", 1),
        BTreeMap::from([(0, Some((10, 0)))])
    );

    // Another group has its own offsets: from the beginning again.
    let other = consume_group(&b, "resume", "other", 10, &["--from-beginning"]);
    assert_eq!(other.stdout, records(1..=10));
}

#[test]
fn without_a_commit_the_group_starts_at_the_end_by_default() {
    let server = Server::start(&[]);
    let b = server.bootstrap();
    create_topic(&b, "late", 1);
    produce(&b, "late", &records(1..=3), &[]);
    // No --from-beginning: auto.offset.reset=latest, nothing to print.
    let out = consume_group(&b, "late", "fresh", 1, &["--timeout-ms", "3000"]);
    assert_eq!(out.stdout, "");
    // ... but the position it started at (the end) is committed on exit.
    assert_eq!(
        committed_and_lag(&b, "fresh", "late", 1),
        BTreeMap::from([(0, Some((3, 0)))])
    );
}

#[test]
fn the_assignment_covers_both_partitions() {
    let server = Server::start(&[]);
    let b = server.bootstrap();
    create_topic(&b, "pair", 2);
    let input: String = (0..40).map(|i| format!("key-{i}:value-{i}\n")).collect();
    produce(
        &b,
        "pair",
        &input,
        &[
            "--property",
            "parse.key=true",
            "--property",
            "key.separator=:",
        ],
    );
    let out = consume_group(
        &b,
        "pair",
        "g2",
        40,
        &[
            "--from-beginning",
            "--property",
            "print.partition=true",
            "--property",
            "print.key=true",
            "--property",
            "key.separator=|",
        ],
    );
    let mut per_partition = [0i64; 2];
    let mut seen: Vec<String> = Vec::new();
    for line in out.stdout.lines() {
        let mut cols = line.splitn(3, '|');
        let p: usize = cols
            .next()
            .and_then(|c| c.strip_prefix("Partition:"))
            .expect("partition column")
            .parse()
            .expect("partition number");
        per_partition[p] += 1;
        seen.push(format!("{}:{}", cols.next().unwrap(), cols.next().unwrap()));
    }
    assert!(
        per_partition.iter().all(|&n| n > 0),
        "one member is assigned both partitions: {per_partition:?}"
    );
    seen.sort();
    let mut expected: Vec<String> = input.lines().map(str::to_owned).collect();
    expected.sort();
    assert_eq!(seen, expected);
    assert_eq!(
        committed_and_lag(&b, "g2", "pair", 2),
        BTreeMap::from([
            (0, Some((per_partition[0], 0))),
            (1, Some((per_partition[1], 0))),
        ])
    );
}

#[test]
fn positions_are_auto_committed_while_running() {
    let server = Server::start(&[]);
    let b = server.bootstrap();
    create_topic(&b, "auto", 1);
    produce(&b, "auto", &records(1..=5), &[]);
    // No --max-messages: the run only ends when killed, so only the
    // periodic commit (auto.commit.interval.ms, 1 s here) can save its
    // position; SIGKILL allows no exit commit.
    let mut child = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args([
            "console-consumer",
            "--bootstrap-server",
            &b,
            "--topic",
            "auto",
            "--group",
            "g3",
            "--from-beginning",
            "--consumer-property",
            "auto.commit.interval.ms=1000",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn console-consumer");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = BTreeMap::new();
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
        last = committed_and_lag(&b, "g3", "auto", 1);
        if last[&0] == Some((5, 0)) {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(last, BTreeMap::from([(0, Some((5, 0)))]));
}

#[test]
fn flags_kafka_refuses_together_are_refused() {
    // Checked before connecting: no broker needed.
    let b = "127.0.0.1:1";
    let run = |extra: &[&str]| {
        let mut args = vec!["console-consumer", "--bootstrap-server", b, "--topic", "t"];
        args.extend_from_slice(extra);
        weir(&args, b"", RUN)
    };
    run(&["--group", "g", "--partition", "0"])
        .fails_with("Options group and partition cannot be specified together.");
    run(&["--partition", "0", "--consumer-property", "group.id=g"])
        .fails_with("Options group and partition cannot be specified together.");
    run(&["--group", "a", "--consumer-property", "group.id=b"]).fails_with(
        "The group ids provided in different places (directly using '--group', via '--consumer-property', or via '--consumer.config') do not match. Detected group ids: 'a', 'b'",
    );
    run(&[
        "--group",
        "g",
        "--from-beginning",
        "--consumer-property",
        "auto.offset.reset=latest",
    ])
    .fails_with(
        "Can't simultaneously specify --from-beginning and 'auto.offset.reset=latest', please remove one option",
    );
}
