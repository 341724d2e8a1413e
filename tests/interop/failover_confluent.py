"""confluent-kafka across leader failovers: an idempotent acks=all producer
streams numbered records while the test kills leaders, then a consumer
checks that every acknowledged record is there once, in order.

Usage:
  failover_confluent.py produce BOOTSTRAP TOPIC PARTITIONS ACKED_FILE STOP_FILE
  failover_confluent.py verify BOOTSTRAP TOPIC PARTITIONS ACKED_FILE
Records are "<partition>:<sequence>", sent to that partition explicitly.
FAILOVER_DEBUG (librdkafka debug contexts, e.g. broker,topic,eos,metadata)
logs the producer's view of a failover to stderr."""
import os
import sys
import time

from confluent_kafka import Consumer, Producer, TopicPartition

TIMEOUT = 60


def produce(bootstrap, topic, partitions, acked_file, stop_file):
    p = Producer({
        "bootstrap.servers": bootstrap,
        "acks": "all",
        "enable.idempotence": True,
        "linger.ms": 5,
        "message.timeout.ms": 120000,
        "retry.backoff.ms": 100,
        **({"debug": os.environ["FAILOVER_DEBUG"]} if os.environ.get("FAILOVER_DEBUG") else {}),
    })
    acked, errors = [], []

    def cb(err, msg):
        if err is not None:
            errors.append(str(err))
        else:
            acked.append(msg.value().decode())

    seq = [0] * partitions
    sent = 0
    out = open(acked_file, "w")
    while not os.path.exists(stop_file):
        part = sent % partitions
        try:
            p.produce(topic, value=b"%d:%d" % (part, seq[part]), partition=part, on_delivery=cb)
            seq[part] += 1
            sent += 1
        except BufferError:
            p.poll(0.05)
        p.poll(0)
        if acked:
            out.write("".join(v + "\n" for v in acked))
            out.flush()
            acked.clear()
        if sent % 200 == 0:
            time.sleep(0.01)
    left = p.flush(TIMEOUT)
    out.write("".join(v + "\n" for v in acked))
    out.close()
    print("produced %d, %d unflushed, %d errors %s" % (sent, left, len(errors), errors[:3]))


def verify(bootstrap, topic, partitions, acked_file):
    acked = [l.strip() for l in open(acked_file) if l.strip()]
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "failover-verify", "enable.auto.commit": False})
    seen = {}
    for part in range(partitions):
        low, high = c.get_watermark_offsets(TopicPartition(topic, part), timeout=TIMEOUT)
        c.assign([TopicPartition(topic, part, low)])
        values = []
        deadline = time.time() + TIMEOUT
        while len(values) < high - low:
            assert time.time() < deadline, "partition %d: %d of %d records" % (part, len(values), high - low)
            m = c.poll(1.0)
            if m is None or m.error():
                continue
            values.append(m.value().decode())
        seqs = [int(v.split(":")[1]) for v in values]
        assert all(v.startswith("%d:" % part) for v in values), "partition %d holds foreign records" % part
        assert len(set(seqs)) == len(seqs), "partition %d has duplicates" % part
        assert seqs == sorted(seqs), "partition %d is out of order" % part
        for v in values:
            seen[v] = True
    missing = [v for v in acked if v not in seen]
    assert not missing, "%d acknowledged records missing, e.g. %s" % (len(missing), missing[:5])
    print("verify ok: %d acknowledged, %d stored, 0 missing, 0 duplicates, in order" % (len(acked), len(seen)))


if sys.argv[1] == "produce":
    produce(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5], sys.argv[6])
else:
    verify(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])
