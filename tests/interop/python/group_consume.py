#!/usr/bin/env python3
"""Consumer groups through a Weir broker with real Python clients.

Usage: group_consume.py BOOTSTRAP CLIENT   (kafka-python | confluent-kafka)

Has two consumers of one group join, produces 600 records to a
3-partition topic, lets the two split them (every record read once, partitions divided between the two),
commits, then produces 40 more and checks that a fresh consumer of the same
group resumes from the committed offsets: it reads exactly the 40 new ones.
"""

import sys
import threading
import time

FIRST, SECOND, PARTITIONS = 600, 40, 3


def fail(msg):
    print(f"FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def kafka_python(bootstrap):
    from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
    from kafka.admin import NewTopic

    topic, group = "kp-group-topic", "kp-group"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(topic, PARTITIONS, 1)])
    admin.close()

    def produce(start, n):
        p = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
        for i in range(start, start + n):
            p.send(topic, key=b"k%d" % i, value=b"v%d" % i)
        p.flush()
        p.close()

    def consumer():
        return KafkaConsumer(
            topic,
            bootstrap_servers=bootstrap,
            group_id=group,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            session_timeout_ms=10000,
            heartbeat_interval_ms=500,
        )

    return produce, consumer, lambda c, t: [m.value for m in poll_kp(c, t)]


def poll_kp(c, timeout_s):
    out, deadline = [], time.time() + timeout_s
    while time.time() < deadline:
        for recs in c.poll(timeout_ms=200).values():
            out.extend(recs)
    return out


def confluent(bootstrap):
    from confluent_kafka import Consumer, Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    topic, group = "ck-group-topic", "ck-group"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for f in admin.create_topics([NewTopic(topic, PARTITIONS, 1)]).values():
        f.result(timeout=30)

    def produce(start, n):
        p = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
        for i in range(start, start + n):
            p.produce(topic, key=b"k%d" % i, value=b"v%d" % i)
        if p.flush(30):
            fail("confluent: undelivered records")

    def consumer():
        c = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": group,
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
                "session.timeout.ms": 10000,
            }
        )
        c.subscribe([topic])
        return c

    def read(c, timeout_s):
        out, deadline = [], time.time() + timeout_s
        while time.time() < deadline:
            for m in c.consume(num_messages=500, timeout=0.2):
                if m.error():
                    fail(f"confluent: {m.error()}")
                out.append(m.value())
        return out

    return produce, consumer, read


def main():
    if len(sys.argv) != 3:
        fail(__doc__)
    bootstrap, client = sys.argv[1], sys.argv[2]
    produce, consumer, read = {"kafka-python": kafka_python, "confluent-kafka": confluent}[client](bootstrap)

    # Two members of one group split the partitions; each commits what it
    # read. The records are produced once both have joined, so the
    # rebalance that the second join causes cannot replay uncommitted reads.
    results = [None, None]
    # Both members commit while both are still in the group, and only then
    # leave: a leave triggers a rebalance, and a commit racing it would be
    # refused (ILLEGAL_GENERATION / REBALANCE_IN_PROGRESS, as in Kafka).
    read_done, committed = threading.Barrier(2, timeout=60), threading.Barrier(2, timeout=60)

    errors = []

    def member(i):
        try:
            c = consumer()
            results[i] = read(c, 20)
            read_done.wait()
            c.commit()
            committed.wait()
            c.close()
        except Exception as e:  # reported below: a thread cannot fail the script
            errors.append(f"member {i}: {e!r}")

    threads = [threading.Thread(target=member, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
        time.sleep(0.5)
    time.sleep(6)
    produce(0, FIRST)
    for t in threads:
        t.join()
    if errors:
        fail(f"{client}: {errors}")
    seen = results[0] + results[1]
    if sorted(seen) != sorted(b"v%d" % i for i in range(FIRST)):
        fail(f"{client}: the group read {len(seen)} records ({len(set(seen))} distinct), expected {FIRST}")
    if not results[0] or not results[1]:
        fail(f"{client}: one member read nothing ({len(results[0])}/{len(results[1])}): no split")

    produce(FIRST, SECOND)
    c = consumer()
    resumed = read(c, 10)
    c.close()
    if sorted(resumed) != sorted(b"v%d" % i for i in range(FIRST, FIRST + SECOND)):
        fail(f"{client}: resumed consumer read {len(resumed)} records, expected the {SECOND} new ones")
    print(f"{client} group: split {len(results[0])}+{len(results[1])}, resumed {len(resumed)} OK")


if __name__ == "__main__":
    main()
