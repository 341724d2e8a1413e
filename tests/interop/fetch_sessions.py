"""Consumes a multi-partition topic through fetch sessions (KIP-227).

kafka-python uses incremental fetch sessions (enable_incremental_fetch_sessions,
on by default); librdkafka sends sessionless full fetches. Each step prints one
JSON line: the records read per partition and the broker's FetchSessionCache
metrics, scraped once the session holds the consumer's current assignment.

usage: fetch_sessions.py kafka-python|confluent BOOTSTRAP TOPIC METRICS_URL
"""
import json
import sys
import time
import urllib.request

client, bootstrap, topic, metrics_url = sys.argv[1:5]
DEADLINE = 90


def metrics():
    with urllib.request.urlopen(metrics_url, timeout=60) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if line.startswith("kafka_server_fetchsessioncache_"):
            name, value = line.rsplit(" ", 1)
            out[name[len("kafka_server_fetchsessioncache_"):]] = float(value)
    return out


def produce(counts):
    from kafka import KafkaProducer

    p = KafkaProducer(bootstrap_servers=bootstrap)
    for part, (start, n) in counts.items():
        for i in range(start, start + n):
            p.send(topic, value=f"{part}-{i}".encode(), partition=part)
    p.flush(timeout=60)
    p.close()


def report(step, got, cached=None):
    by_part = {}
    for v in got:
        part, i = v.split("-")
        by_part.setdefault(part, []).append(int(i))
    ranges = {p: [min(v), max(v), len(v), len(set(v))] for p, v in sorted(by_part.items())}
    print(json.dumps({"step": step, "read": ranges, "metrics": metrics()}), flush=True)


if client == "kafka-python":
    from kafka import KafkaConsumer, TopicPartition

    c = KafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=100,
    )

    def drain(expected):
        got = []
        end = time.time() + DEADLINE
        while len(got) < expected and time.time() < end:
            for msgs in c.poll(timeout_ms=200).values():
                got += [m.value.decode() for m in msgs]
        # A little more, so records that should not come have the chance.
        for _ in range(5):
            for msgs in c.poll(timeout_ms=100).values():
                got += [m.value.decode() for m in msgs]
        return got

    def settle(partitions):
        """Polls until the broker's one session holds `partitions`."""
        got = []
        end = time.time() + DEADLINE
        while time.time() < end:
            if metrics().get("numincrementalfetchpartitionscached") == partitions:
                break
            for msgs in c.poll(timeout_ms=100).values():
                got += [r.value.decode() for r in msgs]
        return got

    t0, t1, t2 = (TopicPartition(topic, i) for i in range(3))
    produce({0: (0, 100), 1: (0, 100), 2: (0, 100)})
    c.assign([t0, t1])
    got = drain(200)
    got += settle(2)
    report("two", got)
    # A partition joins the assignment: the session adds it.
    c.assign([t0, t1, t2])
    got = drain(100)
    got += settle(3)
    report("three", got)
    # Two leave: the session forgets them, and their new records stay unread.
    produce({0: (100, 50), 1: (100, 50), 2: (100, 50)})
    c.assign([t2])
    got = drain(50)
    got += settle(1)
    report("one", got)
    c.close()
else:
    from confluent_kafka import Consumer

    produce({0: (0, 100), 1: (0, 100), 2: (0, 100)})
    c = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "fetch-sessions",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "fetch.wait.max.ms": 100,
        }
    )
    c.subscribe([topic])
    got = []
    end = time.time() + DEADLINE
    while len(got) < 300 and time.time() < end:
        m = c.poll(0.2)
        if m is not None and m.error() is None:
            got.append(m.value().decode())
    report("all", got)
    c.close()
