"""Kill -9 support for the broker crash test.

  broker_crash.py produce BOOTSTRAP TOPIC ACKS OUTFILE
      produce 0, 1, 2, ... until killed; append each acknowledged value to
      OUTFILE as it is acknowledged.
  broker_crash.py verify BOOTSTRAP TOPIC OUTFILE
      consume the partition from the beginning to its end and check that
      every acknowledged value is there, in order."""
import sys
import time

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition


def produce(bootstrap, topic, acks, outfile):
    out = open(outfile, "a", buffering=1)
    p = Producer({"bootstrap.servers": bootstrap, "acks": acks, "linger.ms": 2, "enable.idempotence": False,
                  "message.timeout.ms": 5000})

    def cb(err, msg):
        if err is None:
            out.write(msg.value().decode() + "\n")

    i = 0
    while True:
        try:
            p.produce(topic, value=b"%d" % i, on_delivery=cb)
            i += 1
        except BufferError:
            p.poll(0.01)
        p.poll(0)


def verify(bootstrap, topic, outfile):
    acked = [int(line) for line in open(outfile) if line.strip()]
    assert acked, "nothing was acknowledged before the kill"
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "crash-unused", "enable.auto.commit": False})
    tp = TopicPartition(topic, 0, OFFSET_BEGINNING)
    _, high = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=30)
    c.assign([tp])
    values = []
    deadline = time.time() + 60
    last_offset = -1
    while last_offset + 1 < high:
        assert time.time() < deadline, f"consumed up to {last_offset} of {high}"
        for m in c.consume(num_messages=10000, timeout=1):
            assert m.error() is None, m.error()
            values.append(int(m.value()))
            last_offset = m.offset()
    c.close()
    present = set(values)
    missing = [v for v in acked if v not in present]
    assert not missing, f"{len(missing)} acknowledged records lost, first {missing[:10]}"
    # Without idempotence a retry after a timeout may write a record twice;
    # apart from that the log holds the values in the order produced.
    first_seen = {}
    for pos, v in enumerate(values):
        first_seen.setdefault(v, pos)
    order = [first_seen[v] for v in sorted(present)]
    assert order == sorted(order), "records out of order"
    print(f"{len(acked)} acknowledged, {len(values)} in the log, none lost")


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "produce":
        produce(*sys.argv[2:6])
    else:
        verify(*sys.argv[2:5])
