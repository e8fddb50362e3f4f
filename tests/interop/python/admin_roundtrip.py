#!/usr/bin/env python3
"""Topic administration through a Weir broker with kafka-python's admin client.

Usage: admin_roundtrip.py BOOTSTRAP

Create (with a config), list, describe (Metadata and DescribeConfigs),
alter the config (IncrementalAlterConfigs), add partitions
(CreatePartitions), refuse a duplicate (TOPIC_ALREADY_EXISTS) and a
replication factor above the broker count (INVALID_REPLICATION_FACTOR),
delete. Exits non-zero with a message on the first surprise.
"""

import sys

from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType, NewPartitions, NewTopic
from kafka.errors import InvalidReplicationFactorError, TopicAlreadyExistsError


def fail(msg):
    print(f"FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def configs_of(admin, topic):
    resource = ConfigResource(ConfigResourceType.TOPIC, topic)
    response = admin.describe_configs([resource])[0]
    (_code, _msg, _type, _name, entries) = response.resources[0][:5]
    return {e[0]: e[1] for e in entries}


def main():
    admin = KafkaAdminClient(bootstrap_servers=sys.argv[1])
    topic = "admin-t"
    admin.create_topics([NewTopic(topic, 2, 1, topic_configs={"retention.ms": "3600000"})])
    if topic not in admin.list_topics():
        fail("created topic is not listed")
    described = admin.describe_topics([topic])[0]
    if len(described["partitions"]) != 2 or described["error_code"] != 0:
        fail(f"describe_topics: {described}")
    if configs_of(admin, topic).get("retention.ms") != "3600000":
        fail(f"retention.ms not set: {configs_of(admin, topic)}")

    try:
        admin.create_topics([NewTopic(topic, 1, 1)])
        fail("duplicate topic accepted")
    except TopicAlreadyExistsError:
        pass
    try:
        admin.create_topics([NewTopic("admin-rf", 1, 3)])
        fail("replication factor 3 on one broker accepted")
    except InvalidReplicationFactorError:
        pass

    admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic, configs={"retention.ms": "60000"})])
    if configs_of(admin, topic).get("retention.ms") != "60000":
        fail(f"retention.ms not altered: {configs_of(admin, topic)}")

    admin.create_partitions({topic: NewPartitions(total_count=5)})
    if len(admin.describe_topics([topic])[0]["partitions"]) != 5:
        fail("partitions not added")

    admin.delete_topics([topic])
    if topic in admin.list_topics():
        fail("deleted topic still listed")
    print("kafka-python admin: create/list/describe/alter/partitions/delete OK")


if __name__ == "__main__":
    main()
