#!/usr/bin/env python3
"""What kafka-python's admin client sees of a Weir cluster.

Usage: cluster_admin.py BOOTSTRAP TOPIC

Prints one JSON object on stdout: the cluster (describe_cluster: cluster
id, controller id, brokers) and TOPIC's partitions (describe_topics:
partition, leader, replicas, isr, leader_epoch), sorted by partition.
Exits non-zero with a message on stderr if the topic or a partition
reports an error.
"""

import json
import sys

from kafka import KafkaAdminClient


def fail(msg):
    print(f"FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def pick(d, *names):
    """The first of `names` present in `d` (field names differ by version)."""
    for n in names:
        if n in d:
            return d[n]
    fail(f"none of {names} in {d}")


def main():
    bootstrap, topic = sys.argv[1], sys.argv[2]
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="weir-cluster-interop")
    try:
        cluster = admin.describe_cluster()
        described = admin.describe_topics([topic])
    finally:
        admin.close()
    if len(described) != 1:
        fail(f"describe_topics({topic}) gave {described}")
    t = described[0]
    if t["error_code"] != 0:
        fail(f"topic error: {t}")
    partitions = []
    for p in t["partitions"]:
        if p["error_code"] != 0:
            fail(f"partition error: {p}")
        partitions.append(
            {
                "partition": pick(p, "partition", "partition_index"),
                "leader": pick(p, "leader", "leader_id"),
                "leader_epoch": p.get("leader_epoch", -1),
                "replicas": list(pick(p, "replicas", "replica_nodes")),
                "isr": list(pick(p, "isr", "isr_nodes")),
            }
        )
    partitions.sort(key=lambda p: p["partition"])
    brokers = sorted(
        [pick(b, "node_id", "nodeId"), b["host"], b["port"]] for b in cluster["brokers"]
    )
    print(
        json.dumps(
            {
                "cluster_id": cluster.get("cluster_id"),
                "controller_id": cluster.get("controller_id"),
                "brokers": brokers,
                "topic": pick(t, "topic", "name"),
                "partitions": partitions,
            }
        )
    )


if __name__ == "__main__":
    main()
