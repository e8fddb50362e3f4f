//! `weir metadata-quorum`: describe the KRaft metadata quorum
//! (kafka-metadata-quorum.sh `describe --status | --replication`), with
//! Kafka 4.0's output (`org.apache.kafka.tools.MetadataQuorumCommand`).
//!
//! The formatting is in pure functions ([`format_status`],
//! [`format_replication`]) so that the exact text is unit-tested.

use super::tool_support::{client_config, runtime};
use anyhow::bail;
use std::io::Write;
use weir_client::admin::{kafka_uuid_string, QuorumDescription, QuorumReplica};
use weir_client::{Admin, Client};

/// Describe the KRaft metadata quorum.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A comma-separated list of host:port pairs to use for establishing the
    /// connection to the Kafka cluster.
    #[arg(long = "bootstrap-server", value_name = "BOOTSTRAP_SERVER")]
    pub bootstrap_server: String,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands (Kafka also has add-controller and remove-controller;
/// Weir's voters are static).
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Describe the metadata quorum info.
    Describe(DescribeArgs),
}

/// `describe`: exactly one of `--status` or `--replication`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["status", "replication"])))]
pub struct DescribeArgs {
    /// A short summary of the quorum status.
    #[arg(long)]
    pub status: bool,
    /// Detailed information about the status of replication.
    #[arg(long)]
    pub replication: bool,
    /// Human-readable output (with --replication).
    #[arg(long = "human-readable")]
    pub human_readable: bool,
}

/// Run `weir metadata-quorum`.
pub fn run(args: &Args, out: &mut impl Write) -> anyhow::Result<()> {
    let Command::Describe(describe) = &args.command;
    if describe.human_readable && !describe.replication {
        // Kafka's wording; clap's `requires` is satisfied by the flag's default.
        bail!("The option --human-readable is only supported along with --replication");
    }
    runtime()?.block_on(async {
        let config = client_config(&args.bootstrap_server, "weir-metadata-quorum")?;
        let admin = Admin::new(Client::connect(config).await?);
        let text = if describe.status {
            let cluster_id = admin.describe_cluster().await?.cluster_id;
            let quorum = admin.describe_quorum().await?;
            format_status(&cluster_id, &quorum)?
        } else {
            let quorum = admin.describe_quorum().await?;
            format_replication(&quorum, describe.human_readable.then(now_ms))?
        };
        out.write_all(text.as_bytes())?;
        Ok(())
    })
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The leader among the voters (Kafka fails the same way when it is not).
fn leader(quorum: &QuorumDescription) -> anyhow::Result<&QuorumReplica> {
    match quorum
        .voters
        .iter()
        .find(|v| v.replica_id == quorum.leader_id)
    {
        Some(leader) => Ok(leader),
        None => bail!(
            "The metadata quorum has no leader among its voters (LeaderId {})",
            quorum.leader_id
        ),
    }
}

/// `describe --status`, as `MetadataQuorumCommand.handleDescribeStatus`
/// prints it.
pub fn format_status(cluster_id: &str, quorum: &QuorumDescription) -> anyhow::Result<String> {
    let leader_index = quorum
        .voters
        .iter()
        .position(|v| v.replica_id == quorum.leader_id);
    let leader = leader(quorum)?;
    // Java's Stream.min keeps the first of equal elements.
    let (lag_index, max_lag_follower) = quorum
        .voters
        .iter()
        .enumerate()
        .fold(None::<(usize, &QuorumReplica)>, |min, (i, v)| match min {
            Some((_, m)) if m.log_end_offset <= v.log_end_offset => min,
            _ => Some((i, v)),
        })
        .expect("the leader is a voter, so there is one");
    let max_follower_lag = leader.log_end_offset - max_lag_follower.log_end_offset;
    let max_follower_lag_time_ms = if Some(lag_index) == leader_index {
        0
    } else {
        match (
            leader.last_caught_up_timestamp,
            max_lag_follower.last_caught_up_timestamp,
        ) {
            (Some(l), Some(f)) => l - f,
            _ => -1,
        }
    };
    Ok(format!(
        "ClusterId:              {cluster_id}\n\
         LeaderId:               {}\n\
         LeaderEpoch:            {}\n\
         HighWatermark:          {}\n\
         MaxFollowerLag:         {max_follower_lag}\n\
         MaxFollowerLagTimeMs:   {max_follower_lag_time_ms}\n\
         CurrentVoters:          {}\n\
         CurrentObservers:       {}\n",
        quorum.leader_id,
        quorum.leader_epoch,
        quorum.high_watermark,
        replica_list(quorum, &quorum.voters),
        replica_list(quorum, &quorum.observers),
    ))
}

/// `[{"id": 1, "directoryId": null, "endpoints": ["CONTROLLER://h:9093"]}, ...]`:
/// Kafka's `MetadataQuorumCommand.Node.toString()` joined with ", ". A zero
/// directory id prints as `null`; a node without endpoints has no
/// `endpoints` key.
fn replica_list(quorum: &QuorumDescription, replicas: &[QuorumReplica]) -> String {
    let nodes: Vec<String> = replicas
        .iter()
        .map(|r| {
            let directory_id = if r.directory_id.is_nil() {
                "null".to_string()
            } else {
                format!("\"{}\"", kafka_uuid_string(r.directory_id))
            };
            let mut node = format!(
                "{{\"id\": {}, \"directoryId\": {directory_id}",
                r.replica_id
            );
            let endpoints = quorum
                .nodes
                .get(&r.replica_id)
                .map(Vec::as_slice)
                .unwrap_or_default();
            if !endpoints.is_empty() {
                let quoted: Vec<String> = endpoints.iter().map(|e| format!("\"{e}\"")).collect();
                node.push_str(&format!(", \"endpoints\": [{}]", quoted.join(", ")));
            }
            node.push('}');
            node
        })
        .collect();
    format!("[{}]", nodes.join(", "))
}

/// `describe --replication`, as `MetadataQuorumCommand.handleDescribeReplication`
/// prints it: the leader, the other voters, then the observers; `Lag` is
/// the leader's log end offset minus the replica's. With `now_ms`
/// (`--human-readable`) timestamps print as "N ms ago".
pub fn format_replication(
    quorum: &QuorumDescription,
    now_ms: Option<i64>,
) -> anyhow::Result<String> {
    let leader = leader(quorum)?;
    let mut rows = Vec::new();
    let groups: [(&str, Vec<&QuorumReplica>); 3] = [
        ("Leader", vec![leader]),
        (
            "Follower",
            quorum
                .voters
                .iter()
                .filter(|v| v.replica_id != quorum.leader_id)
                .collect(),
        ),
        ("Observer", quorum.observers.iter().collect()),
    ];
    for (status, replicas) in groups {
        for r in replicas {
            rows.push(vec![
                r.replica_id.to_string(),
                kafka_uuid_string(r.directory_id),
                r.log_end_offset.to_string(),
                (leader.log_end_offset - r.log_end_offset).to_string(),
                timestamp(r.last_fetch_timestamp, now_ms, "last fetch")?,
                timestamp(r.last_caught_up_timestamp, now_ms, "last caught up")?,
                status.to_string(),
            ]);
        }
    }
    let headers = [
        "NodeId",
        "DirectoryId",
        "LogEndOffset",
        "Lag",
        "LastFetchTimestamp",
        "LastCaughtUpTimestamp",
        "Status",
    ]
    .map(String::from)
    .to_vec();
    Ok(pretty_table(&headers, &rows))
}

/// One timestamp column: -1 when absent, else the value or "N ms ago".
fn timestamp(value: Option<i64>, now_ms: Option<i64>, what: &str) -> anyhow::Result<String> {
    match (value, now_ms) {
        (None, _) => Ok("-1".to_string()),
        (Some(t), None) => Ok(t.to_string()),
        (Some(t), Some(now)) => {
            // Kafka's relativeTimeMs: after the epoch and not in the future.
            if t <= 0 || t > now {
                bail!(
                    "Error while computing relative time, possible drift in system clock.\n\
                     Current timestamp is {now}, {what} timestamp is {t}"
                );
            }
            Ok(format!("{} ms ago", now - t))
        }
    }
}

/// Kafka's `ToolsUtils.prettyPrintTable`: each cell padded with spaces to
/// its column's widest value, then a tab (the last column too).
fn pretty_table(headers: &[String], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(headers).chain(rows.iter().map(Vec::as_slice)) {
        for (cell, w) in row.iter().zip(&widths) {
            out.push_str(cell);
            out.extend(std::iter::repeat_n(' ', w - cell.chars().count()));
            out.push('\t');
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use weir_client::admin::QuorumEndpoint;
    use weir_client::Uuid;

    fn replica(id: i32, leo: i64, caught_up: Option<i64>) -> QuorumReplica {
        QuorumReplica {
            replica_id: id,
            directory_id: Uuid::nil(),
            log_end_offset: leo,
            last_fetch_timestamp: caught_up,
            last_caught_up_timestamp: caught_up,
        }
    }

    fn endpoint(host: &str, port: u16) -> QuorumEndpoint {
        QuorumEndpoint {
            name: "CONTROLLER".into(),
            host: host.into(),
            port,
        }
    }

    fn single_node() -> QuorumDescription {
        QuorumDescription {
            leader_id: 1,
            leader_epoch: 3,
            high_watermark: 42,
            voters: vec![replica(1, 42, None)],
            observers: vec![],
            nodes: BTreeMap::from([(1, vec![endpoint("127.0.0.1", 9093)])]),
        }
    }

    fn three_nodes() -> QuorumDescription {
        let mut observer = replica(4, 30, Some(1_000));
        observer.directory_id = Uuid::from_u64_pair(0, 1);
        QuorumDescription {
            leader_id: 2,
            leader_epoch: 7,
            high_watermark: 100,
            voters: vec![
                replica(1, 90, Some(1_500)),
                replica(2, 100, Some(2_000)),
                replica(3, 100, Some(1_990)),
            ],
            observers: vec![observer],
            nodes: BTreeMap::from([
                (1, vec![endpoint("h1", 9093)]),
                (2, vec![endpoint("h2", 9093), endpoint("::1", 9094)]),
            ]),
        }
    }

    #[test]
    fn status_of_a_single_node() {
        let text = format_status("MkU3OEVBNTcwNTJENDM2Qk", &single_node()).unwrap();
        assert_eq!(
            text,
            "ClusterId:              MkU3OEVBNTcwNTJENDM2Qk\n\
             LeaderId:               1\n\
             LeaderEpoch:            3\n\
             HighWatermark:          42\n\
             MaxFollowerLag:         0\n\
             MaxFollowerLagTimeMs:   0\n\
             CurrentVoters:          [{\"id\": 1, \"directoryId\": null, \"endpoints\": [\"CONTROLLER://127.0.0.1:9093\"]}]\n\
             CurrentObservers:       []\n"
        );
    }

    #[test]
    fn status_of_three_voters_and_an_observer() {
        let text = format_status("c", &three_nodes()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[4], "MaxFollowerLag:         10");
        assert_eq!(lines[5], "MaxFollowerLagTimeMs:   500");
        assert_eq!(
            lines[6],
            "CurrentVoters:          [{\"id\": 1, \"directoryId\": null, \"endpoints\": [\"CONTROLLER://h1:9093\"]}, \
             {\"id\": 2, \"directoryId\": null, \"endpoints\": [\"CONTROLLER://h2:9093\", \"CONTROLLER://[::1]:9094\"]}, \
             {\"id\": 3, \"directoryId\": null}]"
        );
        assert_eq!(
            lines[7],
            "CurrentObservers:       [{\"id\": 4, \"directoryId\": \"AAAAAAAAAAAAAAAAAAAAAQ\"}]"
        );
    }

    #[test]
    fn lag_time_is_minus_one_without_timestamps() {
        let mut q = three_nodes();
        q.voters[0].last_caught_up_timestamp = None;
        let text = format_status("c", &q).unwrap();
        assert_eq!(text.lines().nth(5), Some("MaxFollowerLagTimeMs:   -1"));
    }

    #[test]
    fn no_leader_is_an_error() {
        let mut q = single_node();
        q.leader_id = -1;
        let e = format_status("c", &q).unwrap_err().to_string();
        assert!(e.contains("no leader"), "{e}");
        assert!(format_replication(&q, None).is_err());
    }

    #[test]
    fn replication_of_a_single_node() {
        let text = format_replication(&single_node(), None).unwrap();
        assert_eq!(
            text,
            "NodeId\tDirectoryId           \tLogEndOffset\tLag\tLastFetchTimestamp\tLastCaughtUpTimestamp\tStatus\t\n\
             1     \tAAAAAAAAAAAAAAAAAAAAAA\t42          \t0  \t-1                \t-1                   \tLeader\t\n"
        );
    }

    #[test]
    fn replication_lists_leader_followers_then_observers() {
        let text = format_replication(&three_nodes(), None).unwrap();
        assert_eq!(
            text,
            "NodeId\tDirectoryId           \tLogEndOffset\tLag\tLastFetchTimestamp\tLastCaughtUpTimestamp\tStatus  \t\n\
             2     \tAAAAAAAAAAAAAAAAAAAAAA\t100         \t0  \t2000              \t2000                 \tLeader  \t\n\
             1     \tAAAAAAAAAAAAAAAAAAAAAA\t90          \t10 \t1500              \t1500                 \tFollower\t\n\
             3     \tAAAAAAAAAAAAAAAAAAAAAA\t100         \t0  \t1990              \t1990                 \tFollower\t\n\
             4     \tAAAAAAAAAAAAAAAAAAAAAQ\t30          \t70 \t1000              \t1000                 \tObserver\t\n"
        );
    }

    #[test]
    fn human_readable_timestamps() {
        let text = format_replication(&three_nodes(), Some(2_500)).unwrap();
        let row: Vec<&str> = text.lines().nth(1).unwrap().split('\t').collect();
        assert_eq!(row[4].trim_end(), "500 ms ago");
        assert_eq!(row[5].trim_end(), "500 ms ago");
        let e = format_replication(&three_nodes(), Some(1_000)).unwrap_err();
        assert!(e.to_string().contains("possible drift"), "{e}");
    }
}
