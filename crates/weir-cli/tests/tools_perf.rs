//! `weir producer-perf-test` and `weir consumer-perf-test` against a real
//! broker: the runs complete and print lines in Kafka's shape. (Numbers
//! are benchmarks, never asserted.)

mod common;
mod tools_support;

use common::server::Server;
use tools_support::{create_topic, weir, RUN};

/// Kafka's final ProducerPerformance line, field by field.
fn assert_final_line(line: &str, records: u64) {
    let rest = line
        .strip_prefix(&format!("{records} records sent, "))
        .unwrap_or_else(|| panic!("count: {line}"));
    let (rate, rest) = rest.split_once(" records/sec (").expect("records/sec");
    assert_eq!(
        rate.split_once('.').map(|(_, d)| d.len()),
        Some(6),
        "%f has 6 decimals: {line}"
    );
    let (mb, rest) = rest.split_once(" MB/sec), ").expect("MB/sec");
    assert_eq!(mb.split_once('.').map(|(_, d)| d.len()), Some(2), "{line}");
    let (avg, rest) = rest.split_once(" ms avg latency, ").expect("avg latency");
    let (max, rest) = rest.split_once(" ms max latency, ").expect("max latency");
    for v in [avg, max] {
        assert_eq!(v.split_once('.').map(|(_, d)| d.len()), Some(2), "{line}");
    }
    let rest = rest.strip_suffix(" ms 99.9th.").expect("99.9th");
    let percentiles: Vec<u64> = rest
        .split(", ")
        .zip([" ms 50th", " ms 95th", " ms 99th", ""])
        .map(|(p, suffix)| {
            p.strip_suffix(suffix)
                .unwrap_or(p)
                .parse()
                .expect("integer percentile")
        })
        .collect();
    assert_eq!(percentiles.len(), 4, "{line}");
    assert!(percentiles.windows(2).all(|w| w[0] <= w[1]), "{line}");
}

#[test]
fn producer_then_consumer_perf_tests() {
    let server = Server::start(&[]);
    let b = server.bootstrap();
    create_topic(&b, "perf", 2);
    let props = format!("bootstrap.servers={b}");
    let out = weir(
        &[
            "producer-perf-test",
            "--topic",
            "perf",
            "--num-records",
            "10000",
            "--record-size",
            "100",
            "--throughput",
            "-1",
            "--producer-props",
            &props,
            "acks=all",
            "linger.ms=5",
            "batch.size=16384",
        ],
        b"",
        RUN,
    )
    .ok();
    let last = out.stdout.lines().last().expect("a final line");
    assert_final_line(last, 10_000);

    let out = weir(
        &[
            "consumer-perf-test",
            "--bootstrap-server",
            &b,
            "--topic",
            "perf",
            "--messages",
            "10000",
            "--timeout",
            "20000",
        ],
        b"",
        RUN,
    )
    .ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines[0],
        "start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec"
    );
    let cols: Vec<&str> = lines[1].split(", ").collect();
    assert_eq!(cols.len(), 10, "{}", lines[1]);
    assert_eq!(cols[2], "0.9537", "10,000 x 100 bytes in MB");
    assert_eq!(cols[4], "10000");
}

#[test]
fn perf_test_flags_are_checked() {
    let out = weir(
        &[
            "producer-perf-test",
            "--topic",
            "t",
            "--num-records",
            "10",
            "--throughput",
            "-1",
        ],
        b"",
        RUN,
    );
    assert_eq!(out.code, Some(2), "clap reports the missing flags: {out:?}");
    let out = weir(
        &[
            "producer-perf-test",
            "--topic",
            "t",
            "--num-records",
            "10",
            "--record-size",
            "10",
            "--throughput",
            "-1",
            "--producer-props",
            "acks=1",
        ],
        b"",
        RUN,
    );
    out.fails_with("bootstrap.servers");
}
