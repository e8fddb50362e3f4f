#!/usr/bin/env python3
"""A confluent-kafka producer that keeps producing while the leader dies.

Usage:
  failover_produce.py produce BOOTSTRAP TOPIC COUNT RATE MARKER
  failover_produce.py consume BOOTSTRAP TOPIC

produce: an idempotent producer (acks=all, enable.idempotence=true,
message.timeout.ms=60000) sends the values "0".."COUNT-1" to partition 0
of TOPIC at RATE records per second, polling between sends. It prints
`STARTED` (flushed) once the first delivery report succeeds. For every
record it notes whether the file MARKER existed when the record was sent
and when its delivery report arrived (the test creates MARKER right after
it kills the leader; MARKER holds the kill time in seconds since the
epoch). After flush(90) it prints one line `SUMMARY <json>`:

  delivered: [[value, partition, offset, marker_at_send, marker_at_report,
               report_time], ...]
  failed:    [[value, error, marker_at_send], ...]
  not_sent:  [[value, error], ...]   (produce() refused the record)
  flush_remaining, errors (error_cb), fatal (the fatal error, if any),
  first_sent_after_marker, elapsed

consume: reads partition 0 of TOPIC from the earliest offset up to the
high watermark it sees at the start (a fresh group id, no commits) and
prints one JSON object: low, high, complete, records [[offset, value], ...],
errors. Exits 0 either way; the test judges the JSON.
"""

import json
import os
import sys
import time
import uuid

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)


def log(msg):
    print(f"[failover_produce {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def produce(bootstrap, topic, count, rate, marker):
    errors = []
    state = {"started": False}
    delivered = []
    failed = []
    not_sent = []
    sent_after_marker = {}
    fatal = None

    def on_error(err):
        errors.append(f"{err.name()}: {err.str()} (fatal={err.fatal()})")
        log(f"error_cb: {err.name()}: {err.str()} fatal={err.fatal()}")

    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "acks": "all",
            "enable.idempotence": True,
            "message.timeout.ms": 60000,
            "linger.ms": 5,
            "client.id": "weir-failover-producer",
            "error_cb": on_error,
        }
    )

    def report(err, msg, value, at_send):
        now = time.time()
        at_report = os.path.exists(marker)
        if err is not None:
            failed.append([value, f"{err.name()}: {err.str()}", at_send])
            log(f"delivery failed: value {value}: {err.name()}: {err.str()}")
            return
        delivered.append([value, msg.partition(), msg.offset(), at_send, at_report, now])
        if not state["started"]:
            state["started"] = True
            print("STARTED", flush=True)

    start = time.time()
    first_after = None
    for i in range(count):
        # Pace: record i goes out at start + i / rate; poll while waiting.
        while True:
            wait = start + i / rate - time.time()
            if wait <= 0:
                break
            producer.poll(min(wait, 0.05))
        value = str(i)
        at_send = os.path.exists(marker)
        if at_send and first_after is None:
            first_after = i
        cb = lambda err, msg, value=value, at_send=at_send: report(err, msg, value, at_send)
        while True:
            try:
                producer.produce(topic, value=value.encode(), partition=0, on_delivery=cb)
                break
            except BufferError:
                producer.poll(0.1)
            except KafkaException as e:
                not_sent.append([value, str(e)])
                err = e.args[0] if e.args else None
                if isinstance(err, KafkaError) and err.fatal():
                    fatal = str(err)
                break
        if fatal is not None:
            log(f"fatal error at value {i}: {fatal}; not producing the rest")
            for j in range(i + 1, count):
                not_sent.append([str(j), f"not sent after fatal error: {fatal}"])
            break
        producer.poll(0)
    log(f"all {count} records handed over after {time.time() - start:.1f} s; flushing")
    remaining = producer.flush(90)
    if fatal is None:
        # A fatal error raised through error_cb rather than produce().
        for e in errors:
            if "fatal=True" in e:
                fatal = e
                break
    summary = {
        "delivered": delivered,
        "failed": failed,
        "not_sent": not_sent,
        "flush_remaining": remaining,
        "errors": errors,
        "fatal": fatal,
        "first_sent_after_marker": first_after,
        "elapsed": time.time() - start,
    }
    print("SUMMARY " + json.dumps(summary), flush=True)


def consume(bootstrap, topic):
    errors = []
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"weir-failover-read-{uuid.uuid4()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "client.id": "weir-failover-reader",
            "error_cb": lambda err: errors.append(f"{err.name()}: {err.str()}"),
        }
    )
    deadline = time.time() + 45
    tp = TopicPartition(topic, 0)
    low = high = None
    while time.time() < deadline:
        try:
            low, high = consumer.get_watermark_offsets(tp, timeout=5)
            break
        except KafkaException as e:
            errors.append(f"get_watermark_offsets: {e}")
            time.sleep(0.5)
    records = []
    complete = False
    if high is not None:
        consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        next_offset = low
        complete = next_offset >= high
        while not complete and time.time() < deadline:
            msg = consumer.poll(1.0)
            if msg is None:
                continue
            if msg.error():
                if msg.error().code() != KafkaError._PARTITION_EOF:
                    errors.append(f"consume: {msg.error()}")
                continue
            records.append([msg.offset(), msg.value().decode()])
            next_offset = msg.offset() + 1
            complete = next_offset >= high
    consumer.close()
    print(
        json.dumps(
            {"low": low, "high": high, "complete": complete, "records": records, "errors": errors}
        ),
        flush=True,
    )


def main():
    mode = sys.argv[1]
    if mode == "produce":
        bootstrap, topic, count, rate, marker = sys.argv[2:7]
        produce(bootstrap, topic, int(count), float(rate), marker)
    elif mode == "consume":
        bootstrap, topic = sys.argv[2:4]
        consume(bootstrap, topic)
    else:
        print(f"unknown mode {mode}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
