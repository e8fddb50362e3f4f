//! `weir metadata-quorum describe` against a real single-node broker: the
//! DescribeQuorum round trip, Kafka's output, and its errors. A broker
//! that cannot reach its controller answers NOT_CONTROLLER; a real one
//! only does so while no quorum leader is known (and then it does not
//! serve clients yet), so that answer comes from a small fake broker.

mod common;
mod tools_support;

use common::server::{free_port, read_frame, send_frame, Server};
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::thread;
use tools_support::{weir, Out, RUN};
use weir_protocol::kafka_protocol::messages::api_versions_response::ApiVersion;
use weir_protocol::kafka_protocol::messages::describe_quorum_request;
use weir_protocol::kafka_protocol::messages::metadata_response::MetadataResponseBroker;
use weir_protocol::kafka_protocol::messages::{
    ApiKey, ApiVersionsResponse, BrokerId, DescribeQuorumRequest, DescribeQuorumResponse,
    MetadataResponse, RequestHeader, ResponseHeader,
};
use weir_protocol::kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

fn quorum(bootstrap: &str, args: &[&str]) -> Out {
    let mut all = vec!["metadata-quorum", "--bootstrap-server", bootstrap];
    all.extend_from_slice(args);
    weir(&all, b"", RUN)
}

/// The value after `Label:` and the padding on a `--status` line.
fn field<'a>(stdout: &'a str, label: &str) -> &'a str {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(label))
        .unwrap_or_else(|| panic!("no {label} line in:\n{stdout}"))
        .trim_start()
}

#[test]
fn status_of_a_single_node() {
    let server = Server::start(&[]);
    let out = quorum(&server.bootstrap(), &["describe", "--status"]).ok();
    let stdout = &out.stdout;
    let labels: Vec<&str> = stdout
        .lines()
        .map(|l| l.split(':').next().unwrap_or_default())
        .collect();
    assert_eq!(
        labels,
        [
            "ClusterId",
            "LeaderId",
            "LeaderEpoch",
            "HighWatermark",
            "MaxFollowerLag",
            "MaxFollowerLagTimeMs",
            "CurrentVoters",
            "CurrentObservers"
        ],
        "{stdout}"
    );
    // Kafka pads every label to 24 columns.
    for line in stdout.lines() {
        let colon = line.find(':').unwrap();
        assert!(line[colon + 1..24].bytes().all(|b| b == b' '), "{line:?}");
        assert_ne!(line.as_bytes()[24], b' ', "{line:?}");
    }
    assert_eq!(field(stdout, "ClusterId:").len(), 22, "{stdout}");
    assert_eq!(field(stdout, "LeaderId:"), "1");
    let epoch: i64 = field(stdout, "LeaderEpoch:").parse().unwrap();
    assert!(epoch >= 1, "{stdout}");
    let hwm: i64 = field(stdout, "HighWatermark:").parse().unwrap();
    assert!(hwm > 0, "{stdout}");
    assert_eq!(field(stdout, "MaxFollowerLag:"), "0");
    assert_eq!(field(stdout, "MaxFollowerLagTimeMs:"), "0");
    let voters = field(stdout, "CurrentVoters:");
    assert!(
        voters.starts_with(
            "[{\"id\": 1, \"directoryId\": null, \"endpoints\": [\"CONTROLLER://127.0.0.1:"
        ),
        "{voters}"
    );
    assert_eq!(field(stdout, "CurrentObservers:"), "[]");
}

#[test]
fn replication_of_a_single_node() {
    let server = Server::start(&[]);
    let out = quorum(&server.bootstrap(), &["describe", "--replication"]).ok();
    let lines: Vec<Vec<&str>> = out
        .stdout
        .lines()
        .map(|l| l.split('\t').map(str::trim_end).collect())
        .collect();
    assert_eq!(lines.len(), 2, "{}", out.stdout);
    assert_eq!(
        lines[0],
        [
            "NodeId",
            "DirectoryId",
            "LogEndOffset",
            "Lag",
            "LastFetchTimestamp",
            "LastCaughtUpTimestamp",
            "Status",
            ""
        ]
    );
    let leader = &lines[1];
    assert_eq!(leader[0], "1");
    assert_eq!(leader[1], "AAAAAAAAAAAAAAAAAAAAAA");
    assert!(leader[2].parse::<i64>().unwrap() > 0, "{}", out.stdout);
    assert_eq!(leader[3], "0");
    assert_eq!(leader[6], "Leader");
}

/// A broker on 127.0.0.1 that answers ApiVersions and Metadata (naming
/// itself as broker 1) and DescribeQuorum with NOT_CONTROLLER, one
/// connection at a time. Returns its bootstrap address.
fn not_controller_broker() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            thread::spawn(move || serve(stream, port));
        }
    });
    format!("127.0.0.1:{port}")
}

fn serve(mut s: TcpStream, port: u16) {
    while let Ok(frame) = read_frame(&mut s) {
        let key = ApiKey::try_from(i16::from_be_bytes([frame[0], frame[1]])).unwrap();
        let version = i16::from_be_bytes([frame[2], frame[3]]);
        let mut buf = &frame[..];
        let header = RequestHeader::decode(&mut buf, key.request_header_version(version)).unwrap();
        let mut body = Vec::new();
        match key {
            ApiKey::ApiVersions => ApiVersionsResponse::default()
                .with_api_keys(
                    [
                        (ApiKey::ApiVersions, 0, 3),
                        (ApiKey::Metadata, 0, 12),
                        (ApiKey::DescribeQuorum, 0, 2),
                    ]
                    .map(|(k, min, max)| {
                        ApiVersion::default()
                            .with_api_key(k as i16)
                            .with_min_version(min)
                            .with_max_version(max)
                    })
                    .to_vec(),
                )
                .encode(&mut body, version),
            ApiKey::Metadata => MetadataResponse::default()
                .with_brokers(vec![MetadataResponseBroker::default()
                    .with_node_id(BrokerId(1))
                    .with_host(StrBytes::from_static_str("127.0.0.1"))
                    .with_port(i32::from(port))])
                .with_cluster_id(Some(StrBytes::from_static_str("fake")))
                .with_controller_id(BrokerId(1))
                .encode(&mut body, version),
            ApiKey::DescribeQuorum => DescribeQuorumResponse::default()
                .with_error_code(41) // NOT_CONTROLLER
                .encode(&mut body, version),
            other => panic!("fake broker got {other:?}"),
        }
        .unwrap();
        let mut out = Vec::new();
        ResponseHeader::default()
            .with_correlation_id(header.correlation_id)
            .encode(&mut out, key.response_header_version(version))
            .unwrap();
        out.extend_from_slice(&body);
        if send_frame(&mut s, &out).and_then(|()| s.flush()).is_err() {
            return;
        }
    }
}

/// The tool names a broker's NOT_CONTROLLER answer on one line and exits
/// 1, having printed nothing.
#[test]
fn not_controller_is_reported_by_name() {
    let bootstrap = not_controller_broker();
    let out = quorum(&bootstrap, &["describe", "--replication"]).fails_with("NOT_CONTROLLER");
    assert_eq!(out.stdout, "");
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
}

/// A DescribeQuorum for anything but `__cluster_metadata` partition 0 gets
/// UNKNOWN_TOPIC_OR_PARTITION on each partition it named, as Kafka's Raft
/// client answers; the connection stays usable.
#[test]
fn wrong_partition_gets_unknown_topic_or_partition() {
    let server = Server::start(&[]);
    let mut s = TcpStream::connect(server.addr()).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    for (correlation_id, topic, partition) in [(1, "__cluster_metadata", 1), (2, "orders", 0)] {
        let version = 2;
        let request = DescribeQuorumRequest::default().with_topics(vec![
            describe_quorum_request::TopicData::default()
                .with_topic_name(StrBytes::from_static_str(topic).into())
                .with_partitions(vec![describe_quorum_request::PartitionData::default()
                    .with_partition_index(partition)]),
        ]);
        let mut frame = Vec::new();
        RequestHeader::default()
            .with_request_api_key(ApiKey::DescribeQuorum as i16)
            .with_request_api_version(version)
            .with_correlation_id(correlation_id)
            .with_client_id(Some(StrBytes::from_static_str("t")))
            .encode(
                &mut frame,
                ApiKey::DescribeQuorum.request_header_version(version),
            )
            .unwrap();
        request.encode(&mut frame, version).unwrap();
        send_frame(&mut s, &frame).unwrap();
        let reply = read_frame(&mut s).unwrap();
        let mut buf = &reply[..];
        let header = ResponseHeader::decode(
            &mut buf,
            ApiKey::DescribeQuorum.response_header_version(version),
        )
        .unwrap();
        assert_eq!(header.correlation_id, correlation_id);
        let resp = DescribeQuorumResponse::decode(&mut buf, version).unwrap();
        assert_eq!(resp.error_code, 0);
        assert_eq!(resp.topics.len(), 1);
        assert_eq!(resp.topics[0].topic_name.0.as_str(), topic);
        let p = &resp.topics[0].partitions;
        assert_eq!(p.len(), 1);
        assert_eq!((p[0].partition_index, p[0].error_code), (partition, 3));
    }
}

#[test]
fn describe_needs_status_or_replication() {
    // Argument errors come before any connection: no server needed.
    let out = quorum("127.0.0.1:1", &["describe"]);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(
        out.stderr.contains("--status") && out.stderr.contains("--replication"),
        "{}",
        out.stderr
    );
    let out = quorum("127.0.0.1:1", &["describe", "--status", "--replication"]);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.contains("cannot be used with"), "{}", out.stderr);
    quorum("127.0.0.1:1", &["describe", "--status", "--human-readable"])
        .fails_with("The option --human-readable is only supported along with --replication");
    let out = weir(&["metadata-quorum", "describe", "--status"], b"", RUN);
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(out.stderr.contains("--bootstrap-server"), "{}", out.stderr);
}

#[test]
fn unreachable_bootstrap_server_is_one_line() {
    let bootstrap = format!("127.0.0.1:{}", free_port());
    let out = quorum(&bootstrap, &["describe", "--status"]).fails_with(&bootstrap);
    assert_eq!(out.stdout, "");
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
}
