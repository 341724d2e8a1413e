"""confluent-kafka (librdkafka) transactions against kafka-rs.

Usage: transactions_confluent.py SCENARIO BOOTSTRAP [REPLICATION]
  commit-abort  committed transactions over two partitions are visible to
                read_committed in order; an aborted one only to
                read_uncommitted; an open one holds read_committed back
  ctp           consume-transform-produce with send_offsets_to_transaction:
                every input record once in the output, offsets committed
                with the transaction, an aborted transaction's offsets not
  zombie        a second producer with the same transactional.id fences the
                first, whose open transaction is aborted
  open          commits one transaction, aborts one and leaves a third
                open, then prints "OPEN <transactional.id> <topic>"
  failover      prints OPEN after writing an open transaction, waits for a
                line on stdin (the test kills the coordinator meanwhile),
                then commits, retrying as librdkafka asks; the transaction is
                either wholly visible or wholly invisible, and the next one
                commits
Prints "<scenario> ok" at the end."""
import sys
import time
import uuid

from confluent_kafka import (Consumer, ConsumerGroupTopicPartitions, KafkaException, Producer,
                             TopicPartition)
from confluent_kafka.admin import AdminClient, NewTopic

SCENARIO, BOOTSTRAP = sys.argv[1], sys.argv[2]
REPLICATION = int(sys.argv[3]) if len(sys.argv) > 3 else 1
TIMEOUT = 60
SUFFIX = uuid.uuid4().hex[:8]


def create(admin, name, partitions):
    fs = admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=REPLICATION)])
    fs[name].result(timeout=TIMEOUT)


def txn_producer(tid):
    p = Producer({"bootstrap.servers": BOOTSTRAP, "transactional.id": tid,
                  "transaction.timeout.ms": 60000})
    p.init_transactions(TIMEOUT)
    return p


def consume(topic, partitions, level, want, max_wait=30):
    """Values per partition, read from the beginning until `want` records
    arrived or `max_wait` seconds passed."""
    c = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": "rd-" + uuid.uuid4().hex,
                  "isolation.level": level, "enable.auto.commit": False,
                  "auto.offset.reset": "earliest"})
    c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    got = {p: [] for p in range(partitions)}
    end = time.time() + max_wait
    while time.time() < end and sum(map(len, got.values())) < want:
        for m in c.consume(100, 0.5):
            if m.error() is None:
                got[m.partition()].append(m.value().decode())
    c.close()
    return got


def lso_and_hw(topic, partition):
    c = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": "wm-" + uuid.uuid4().hex,
                  "isolation.level": "read_committed"})
    lso = c.get_watermark_offsets(TopicPartition(topic, partition), timeout=TIMEOUT)[1]
    c.close()
    c = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": "wm-" + uuid.uuid4().hex,
                  "isolation.level": "read_uncommitted"})
    hw = c.get_watermark_offsets(TopicPartition(topic, partition), timeout=TIMEOUT)[1]
    c.close()
    return lso, hw


def commit_abort():
    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
    topic = "txa-" + SUFFIX
    create(admin, topic, 2)
    p = txn_producer("txa-" + SUFFIX)
    p.begin_transaction()
    for i in range(10):
        p.produce(topic, value=b"c1-%d" % i, partition=i % 2)
    p.commit_transaction(TIMEOUT)
    p.begin_transaction()
    for i in range(6):
        p.produce(topic, value=b"ab-%d" % i, partition=i % 2)
    p.flush(TIMEOUT)  # the aborted records reach the log
    p.abort_transaction(TIMEOUT)
    p.begin_transaction()
    for i in range(4):
        p.produce(topic, value=b"c2-%d" % i, partition=i % 2)
    p.commit_transaction(TIMEOUT)

    committed = consume(topic, 2, "read_committed", 14)
    assert committed[0] == ["c1-0", "c1-2", "c1-4", "c1-6", "c1-8", "c2-0", "c2-2"], committed
    assert committed[1] == ["c1-1", "c1-3", "c1-5", "c1-7", "c1-9", "c2-1", "c2-3"], committed
    everything = consume(topic, 2, "read_uncommitted", 20)
    assert sorted(everything[0] + everything[1]) == sorted(
        committed[0] + committed[1] + ["ab-%d" % i for i in range(6)]), everything

    # An open transaction holds the last stable offset back.
    p.begin_transaction()
    p.produce(topic, value=b"open", partition=0)
    p.flush(TIMEOUT)
    lso, hw = lso_and_hw(topic, 0)
    assert lso < hw, (lso, hw)
    assert "open" not in consume(topic, 2, "read_committed", 15, max_wait=5)[0]
    p.commit_transaction(TIMEOUT)
    deadline = time.time() + 30
    while time.time() < deadline:
        lso, hw = lso_and_hw(topic, 0)
        if lso == hw:
            break
        time.sleep(0.2)
    assert lso == hw, (lso, hw)
    assert consume(topic, 2, "read_committed", 15)[0][-1] == "open"
    print("TOPIC", topic)


def ctp():
    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
    src, dst, group = "ctp-in-" + SUFFIX, "ctp-out-" + SUFFIX, "ctp-" + SUFFIX
    create(admin, src, 2)
    create(admin, dst, 1)
    plain = Producer({"bootstrap.servers": BOOTSTRAP})
    n = 50
    for i in range(n):
        plain.produce(src, value=b"%d" % i, partition=i % 2)
    plain.flush(TIMEOUT)

    c = Consumer({"bootstrap.servers": BOOTSTRAP, "group.id": group, "enable.auto.commit": False,
                  "auto.offset.reset": "earliest", "isolation.level": "read_committed"})
    c.subscribe([src])
    p = txn_producer("ctp-" + SUFFIX)
    # One aborted round first: its output and its offsets must vanish.
    aborted_once = False
    done = 0
    end = time.time() + 120
    while done < n and time.time() < end:
        msgs = [m for m in c.consume(10, 1.0) if m.error() is None]
        if not msgs:
            continue
        p.begin_transaction()
        for m in msgs:
            p.produce(dst, value=b"out-" + m.value())
        p.send_offsets_to_transaction(c.position(c.assignment()), c.consumer_group_metadata(), TIMEOUT)
        if not aborted_once:
            aborted_once = True
            p.abort_transaction(TIMEOUT)
            stored = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group]
            offsets = [tp.offset for tp in stored.result(timeout=TIMEOUT).topic_partitions]
            assert all(o < 0 for o in offsets), ("aborted offsets committed", offsets)
            # Rewind to the last committed position (none: the beginning).
            for tp in c.assignment():
                c.seek(TopicPartition(src, tp.partition, 0))
            continue
        p.commit_transaction(TIMEOUT)
        done += len(msgs)
    c.close()
    assert done == n, done
    out = consume(dst, 1, "read_committed", n)[0]
    assert sorted(out) == sorted("out-%d" % i for i in range(n)), out
    stored = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])[group]
    offsets = sorted((tp.partition, tp.offset) for tp in stored.result(timeout=TIMEOUT).topic_partitions)
    assert offsets == [(0, n // 2), (1, n // 2)], offsets


def zombie():
    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
    topic = "zmb-" + SUFFIX
    create(admin, topic, 1)
    tid = "zmb-" + SUFFIX
    old = txn_producer(tid)
    old.begin_transaction()
    old.produce(topic, value=b"zombie")
    old.flush(TIMEOUT)
    new = txn_producer(tid)  # fences `old` and aborts its transaction
    try:
        old.produce(topic, value=b"zombie-2")
        old.commit_transaction(TIMEOUT)
        raise AssertionError("the zombie committed")
    except KafkaException as e:
        assert e.args[0].fatal() or e.args[0].txn_requires_abort(), e
    new.begin_transaction()
    new.produce(topic, value=b"new")
    new.commit_transaction(TIMEOUT)
    assert consume(topic, 1, "read_committed", 1)[0] == ["new"]


def commit_with_retries(p):
    """librdkafka's documented loop: retriable errors retry the commit,
    abortable ones abort, and the caller learns which happened."""
    while True:
        try:
            p.commit_transaction(TIMEOUT)
            return True
        except KafkaException as e:
            err = e.args[0]
            if err.retriable():
                continue
            if err.txn_requires_abort():
                p.abort_transaction(TIMEOUT)
                return False
            raise


def failover():
    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
    topic = "fov-" + SUFFIX
    create(admin, topic, 3)
    p = txn_producer("fov-" + SUFFIX)
    p.begin_transaction()
    for i in range(30):
        p.produce(topic, value=b"t1-%d" % i, partition=i % 3)
    p.flush(TIMEOUT)
    print("OPEN fov-" + SUFFIX, flush=True)
    sys.stdin.readline()
    committed = commit_with_retries(p)
    p.begin_transaction()
    for i in range(30):
        p.produce(topic, value=b"t2-%d" % i, partition=i % 3)
    assert commit_with_retries(p), "the second transaction aborted"
    want = 60 if committed else 30
    got = consume(topic, 3, "read_committed", want, max_wait=60)
    values = sorted(v for vs in got.values() for v in vs)
    t1 = [v for v in values if v.startswith("t1-")]
    t2 = [v for v in values if v.startswith("t2-")]
    assert len(t2) == 30, ("second transaction", len(t2))
    assert len(t1) == (30 if committed else 0), ("first transaction half visible", committed, len(t1))
    print("first transaction", "committed" if committed else "aborted")


def leave_open():
    admin = AdminClient({"bootstrap.servers": BOOTSTRAP})
    topic = tid = "open-" + SUFFIX
    create(admin, topic, 1)
    p = txn_producer(tid)
    p.begin_transaction()
    p.produce(topic, value=b"committed")
    p.commit_transaction(TIMEOUT)
    p.begin_transaction()
    p.produce(topic, value=b"aborted")
    p.flush(TIMEOUT)
    p.abort_transaction(TIMEOUT)
    p.begin_transaction()
    p.produce(topic, value=b"open")
    p.flush(TIMEOUT)
    print("OPEN", tid, topic, flush=True)


{"open": leave_open, "commit-abort": commit_abort, "ctp": ctp, "zombie": zombie, "failover": failover}[SCENARIO]()
print(SCENARIO, "ok")
