//! `weir console-producer` and `weir console-consumer` against a real
//! broker: what goes in comes back out, byte for byte.

mod common;
mod tools_support;

use common::server::Server;
use std::time::Duration;
use tools_support::{create_topic, weir, RUN};

fn keyed_lines(n: usize, prefix: &str) -> String {
    (0..n)
        .map(|i| format!("key-{i}:{prefix}value-{i}\n"))
        .collect()
}

fn produce(b: &str, topic: &str, input: &str, extra: &[&str]) {
    let mut args = vec![
        "console-producer",
        "--bootstrap-server",
        b,
        "--topic",
        topic,
        "--property",
        "parse.key=true",
        "--property",
        "key.separator=:",
    ];
    args.extend_from_slice(extra);
    let out = weir(&args, input.as_bytes(), RUN).ok();
    assert_eq!(out.stdout, "");
}

fn consume(b: &str, topic: &str, n: usize, extra: &[&str]) -> tools_support::Out {
    let n = n.to_string();
    let mut args = vec![
        "console-consumer",
        "--bootstrap-server",
        b,
        "--topic",
        topic,
        "--from-beginning",
        "--max-messages",
        &n,
        "--timeout-ms",
        "20000",
    ];
    args.extend_from_slice(extra);
    weir(&args, b"", RUN).ok()
}

#[test]
fn thousand_keyed_lines_come_back_identically() {
    let server = Server::start(&[]);
    let b = server.bootstrap();
    create_topic(&b, "lines", 1);
    let input = keyed_lines(1000, "");
    produce(&b, "lines", &input, &["--producer-property", "acks=all"]);
    let out = consume(
        &b,
        "lines",
        1000,
        &[
            "--property",
            "print.key=true",
            "--property",
            "key.separator=:",
        ],
    );
    assert_eq!(out.stdout, input);
    assert!(
        out.stderr.contains("Processed a total of 1000 messages"),
        "{}",
        out.stderr
    );
}

#[test]
fn keys_spread_over_partitions_and_keep_their_order() {
    let server = Server::start(&[]);
    let b = server.bootstrap();
    create_topic(&b, "spread", 3);
    let input = keyed_lines(1000, "");
    produce(&b, "spread", &input, &[]);
    let out = consume(
        &b,
        "spread",
        1000,
        &[
            "--property",
            "print.key=true",
            "--property",
            "print.partition=true",
            "--property",
            "key.separator=|",
        ],
    );
    let mut by_partition: [Vec<String>; 3] = Default::default();
    for line in out.stdout.lines() {
        let mut cols = line.splitn(3, '|');
        let partition = cols
            .next()
            .and_then(|p| p.strip_prefix("Partition:"))
            .expect("partition column");
        let record = format!(
            "{}:{}",
            cols.next().expect("key"),
            cols.next().expect("value")
        );
        by_partition[partition.parse::<usize>().expect("partition number")].push(record);
    }
    assert!(
        by_partition.iter().all(|p| !p.is_empty()),
        "murmur2 spreads 1000 keys over 3 partitions"
    );
    let mut all: Vec<String> = by_partition.concat();
    all.sort();
    let mut expected: Vec<String> = input.lines().map(str::to_owned).collect();
    expected.sort();
    assert_eq!(all, expected);
    for p in &by_partition {
        let indexes: Vec<usize> = p
            .iter()
            .map(|r| {
                r.split(':')
                    .next()
                    .and_then(|k| k.strip_prefix("key-"))
                    .unwrap()
                    .parse()
                    .unwrap()
            })
            .collect();
        assert!(
            indexes.windows(2).all(|w| w[0] < w[1]),
            "per-partition order kept"
        );
    }
}

#[test]
fn every_compression_codec_round_trips() {
    let server = Server::start(&[]);
    let b = server.bootstrap();
    create_topic(&b, "codecs", 1);
    let mut expected = String::new();
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        let input = keyed_lines(200, codec);
        produce(&b, "codecs", &input, &["--compression-codec", codec]);
        expected.push_str(&input);
    }
    let out = consume(
        &b,
        "codecs",
        1000,
        &[
            "--property",
            "print.key=true",
            "--property",
            "key.separator=:",
        ],
    );
    assert_eq!(out.stdout, expected);
}

#[test]
fn offsets_partitions_and_timeouts() {
    let server = Server::start(&[]);
    let b = server.bootstrap();
    create_topic(&b, "seek", 1);
    produce(&b, "seek", &keyed_lines(10, ""), &[]);
    let out = weir(
        &[
            "console-consumer",
            "--bootstrap-server",
            &b,
            "--topic",
            "seek",
            "--partition",
            "0",
            "--offset",
            "7",
            "--max-messages",
            "2",
            "--property",
            "print.offset=true",
        ],
        b"",
        RUN,
    )
    .ok();
    assert_eq!(out.stdout, "Offset:7\tvalue-7\nOffset:8\tvalue-8\n");
    // Nothing after the end: --timeout-ms ends the run cleanly.
    let out = weir(
        &[
            "console-consumer",
            "--bootstrap-server",
            &b,
            "--topic",
            "seek",
            "--timeout-ms",
            "1000",
        ],
        b"",
        Duration::from_secs(30),
    )
    .ok();
    assert_eq!(out.stdout, "");
    assert!(
        out.stderr.contains("Processed a total of 0 messages"),
        "{}",
        out.stderr
    );
    // A line without the separator is an error naming the line.
    let out = weir(
        &[
            "console-producer",
            "--bootstrap-server",
            &b,
            "--topic",
            "seek",
            "--property",
            "parse.key=true",
        ],
        b"no separator here\n",
        RUN,
    );
    out.fails_with("No key separator found on line number 1");
}
