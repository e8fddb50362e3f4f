#!/usr/bin/env python3
"""Produce and consume through a Weir broker with real Python Kafka clients.

Usage: clients_roundtrip.py BOOTSTRAP CLIENT

CLIENT is `kafka-python` or `confluent-kafka`. For each codec (none, gzip,
snappy, lz4, zstd) it creates a topic, produces keyed records with headers
(idempotent producer, acks=all), reads the whole topic back from the
beginning without a consumer group, and compares every record (key, value,
headers, partition order). Exits non-zero with a message on any mismatch.
"""

import sys
import time

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
RECORDS = 2000
PARTITIONS = 3


def expected_records(codec):
    out = []
    for i in range(RECORDS):
        key = f"{codec}-key-{i}".encode()
        value = (f"{codec}-value-{i}-" + "x" * (i % 50)).encode()
        headers = [("i", str(i).encode()), ("codec", codec.encode())]
        out.append((key, value, headers))
    return out


def fail(msg):
    print(f"FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def compare(codec, sent, received):
    if len(received) != len(sent):
        fail(f"{codec}: sent {len(sent)} records, read back {len(received)}")
    by_key = {k: (v, h) for (k, v, h) in received}
    if len(by_key) != len(received):
        fail(f"{codec}: duplicate keys read back")
    for key, value, headers in sent:
        got = by_key.get(key)
        if got is None:
            fail(f"{codec}: record {key!r} missing")
        if got[0] != value:
            fail(f"{codec}: value of {key!r} is {got[0]!r}, expected {value!r}")
        if list(got[1]) != headers:
            fail(f"{codec}: headers of {key!r} are {got[1]!r}, expected {headers!r}")


def kafka_python(bootstrap):
    from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.admin import NewTopic

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    for codec in CODECS:
        topic = f"kp-{codec}"
        admin.create_topics([NewTopic(topic, PARTITIONS, 1)])
        compression = None if codec == "none" else codec
        producer = KafkaProducer(
            bootstrap_servers=bootstrap,
            acks="all",
            compression_type=compression,
            enable_idempotence=True,
            linger_ms=5,
        )
        sent = expected_records(codec)
        futures = [producer.send(topic, key=k, value=v, headers=h) for (k, v, h) in sent]
        producer.flush()
        for f in futures:
            f.get(timeout=30)
        producer.close()
        consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
        parts = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        received = []
        deadline = time.time() + 60
        while len(received) < RECORDS and time.time() < deadline:
            for recs in consumer.poll(timeout_ms=500).values():
                received.extend((r.key, r.value, list(r.headers)) for r in recs)
        consumer.close()
        compare(codec, sent, received)
        print(f"kafka-python {codec}: {len(received)} records OK")


def confluent(bootstrap):
    from confluent_kafka import Consumer, Producer, TopicPartition, OFFSET_BEGINNING
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    for codec in CODECS:
        topic = f"ck-{codec}"
        for f in admin.create_topics([NewTopic(topic, PARTITIONS, 1)]).values():
            f.result(timeout=30)
        producer = Producer(
            {
                "bootstrap.servers": bootstrap,
                "acks": "all",
                "enable.idempotence": True,
                "compression.type": codec,
                "linger.ms": 5,
            }
        )
        sent = expected_records(codec)
        errors = []

        def report(err, _msg):
            if err is not None:
                errors.append(err)

        for k, v, h in sent:
            while True:
                try:
                    producer.produce(topic, key=k, value=v, headers=h, on_delivery=report)
                    break
                except BufferError:
                    producer.poll(0.1)
        remaining = producer.flush(60)
        if remaining or errors:
            fail(f"confluent {codec}: {remaining} undelivered, errors {errors[:3]}")
        consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"unused-{codec}",
                "enable.auto.commit": False,
                "enable.partition.eof": False,
            }
        )
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
        received = []
        deadline = time.time() + 60
        while len(received) < RECORDS and time.time() < deadline:
            for m in consumer.consume(num_messages=1000, timeout=0.5):
                if m.error():
                    fail(f"confluent {codec}: consume error {m.error()}")
                received.append((m.key(), m.value(), list(m.headers() or [])))
        consumer.close()
        compare(codec, sent, received)
        print(f"confluent-kafka {codec}: {len(received)} records OK")


def main():
    if len(sys.argv) != 3:
        fail(__doc__)
    bootstrap, client = sys.argv[1], sys.argv[2]
    {"kafka-python": kafka_python, "confluent-kafka": confluent}[client](bootstrap)


if __name__ == "__main__":
    main()
