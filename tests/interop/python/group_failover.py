#!/usr/bin/env python3
"""A confluent-kafka consumer group keeps its committed offsets when the
group's coordinator is killed.

Usage: group_failover.py BOOTSTRAP TOPIC GROUP COUNT

Protocol with the test that runs it (one line each on stdout / stdin):
  1. produces COUNT records (acks=all) to TOPIC, values "0".."COUNT-1";
  2. one consumer of GROUP reads about a third of them and commits
     synchronously (an acknowledged commit), then prints
     "COMMITTED <json {partition: offset}>" and waits for a line on stdin;
  3. the test kills the group's coordinator and writes "KILLED";
  4. the same consumer asks for its committed offsets, which must be the
     acknowledged ones (retrying while the coordinator moves), reads the
     rest, committing as it goes, and closes;
  5. a fresh consumer of GROUP must read nothing (committed = log end).
Prints "OK ..." at the end; "FAIL: ..." and exit 1 otherwise.
"""

import json
import sys
import time

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition


def fail(msg):
    print(f"FAIL: {msg}", flush=True)
    sys.exit(1)


def consumer(bootstrap, group):
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "session.timeout.ms": 10000,
            "heartbeat.interval.ms": 500,
        }
    )
    return c


def commit(c, deadline_s=60):
    """Synchronous commit of the current positions, retried while the
    coordinator moves; returns {partition: offset} acknowledged."""
    deadline = time.time() + deadline_s
    while True:
        try:
            done = c.commit(asynchronous=False)
            return {tp.partition: tp.offset for tp in done or []}
        except KafkaException as e:
            if time.time() > deadline:
                fail(f"commit failed until the deadline: {e}")
            time.sleep(0.2)


def main():
    if len(sys.argv) != 5:
        fail(__doc__)
    bootstrap, topic, group, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])

    p = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    for i in range(count):
        p.produce(topic, value=str(i).encode())
        if i % 1000 == 0:
            p.poll(0)
    if p.flush(60):
        fail("undelivered records")

    c = consumer(bootstrap, group)
    c.subscribe([topic])
    seen = set()
    deadline = time.time() + 60
    while len(seen) < count // 3:
        if time.time() > deadline:
            fail(f"read only {len(seen)} records before the kill")
        for m in c.consume(num_messages=200, timeout=0.5):
            if m.error():
                fail(f"consume: {m.error()}")
            seen.add(int(m.value()))
    acknowledged = commit(c)
    if not acknowledged:
        fail("the commit named no partition")
    print("COMMITTED " + json.dumps(acknowledged), flush=True)
    if sys.stdin.readline().strip() != "KILLED":
        fail("expected KILLED on stdin")

    # The committed offsets, from whichever broker coordinates now.
    parts = [TopicPartition(topic, pid) for pid in acknowledged]
    deadline = time.time() + 60
    while True:
        try:
            got = {tp.partition: tp.offset for tp in c.committed(parts, timeout=10)}
            break
        except KafkaException as e:
            if time.time() > deadline:
                fail(f"committed() failed until the deadline: {e}")
            time.sleep(0.2)
    if got != acknowledged:
        fail(f"committed offsets after the kill {got} != acknowledged {acknowledged}")

    deadline = time.time() + 90
    while len(seen) < count:
        if time.time() > deadline:
            fail(f"read {len(seen)} of {count} records")
        for m in c.consume(num_messages=500, timeout=0.5):
            if m.error():
                # Leadership moves surface as transient errors; keep going.
                continue
            seen.add(int(m.value()))
    final = commit(c)
    c.close()

    fresh = consumer(bootstrap, group)
    fresh.subscribe([topic])
    extra = []
    deadline = time.time() + 60
    while not fresh.assignment():
        if time.time() > deadline:
            fail("the fresh member got no assignment")
        for m in fresh.consume(num_messages=500, timeout=0.5):
            if not m.error():
                extra.append(int(m.value()))
    end = time.time() + 3
    while time.time() < end:
        for m in fresh.consume(num_messages=500, timeout=0.5):
            if not m.error():
                extra.append(int(m.value()))
    fresh.close()
    if extra:
        fail(f"a fresh member re-read {len(extra)} records: committed offsets were lost")
    print(f"OK read={len(seen)} acknowledged={acknowledged} final={final}", flush=True)


if __name__ == "__main__":
    main()
