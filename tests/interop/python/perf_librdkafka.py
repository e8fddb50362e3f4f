#!/usr/bin/env python3
"""Throughput of librdkafka (confluent-kafka) against a broker.

Usage: perf_librdkafka.py BOOTSTRAP TOPIC NUM_RECORDS RECORD_SIZE ACKS [PARTITIONS]

Produces NUM_RECORDS values of RECORD_SIZE bytes (linger.ms=5, large
batches), flushes, then reads the topic back from the beginning of every
partition. Prints whole-run records/s and MB/s for both. A benchmark, not a
test: docs/PERFORMANCE.md records its output.
"""

import sys
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition


def main():
    bootstrap, topic = sys.argv[1], sys.argv[2]
    n, size, acks = int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
    partitions = int(sys.argv[6]) if len(sys.argv) > 6 else 3
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "acks": acks,
            "linger.ms": 5,
            "batch.size": 1000000,
            "queue.buffering.max.messages": 1000000,
        }
    )
    payload = b"x" * size
    start = time.time()
    for i in range(n):
        while True:
            try:
                producer.produce(topic, payload)
                break
            except BufferError:
                producer.poll(0.01)
        if i % 10000 == 0:
            producer.poll(0)
    producer.flush()
    elapsed = time.time() - start
    print(f"produce {n} x {size} B acks={acks}: {n / elapsed:.0f} records/sec ({n * size / elapsed / 1048576:.2f} MB/sec)")

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "perf", "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
    got, start = 0, time.time()
    while got < n and time.time() - start < 120:
        got += len(consumer.consume(10000, 1.0))
    elapsed = time.time() - start
    print(f"consume {got} x {size} B: {got / elapsed:.0f} records/sec ({got * size / elapsed / 1048576:.2f} MB/sec)")
    consumer.close()


if __name__ == "__main__":
    main()
