"""confluent-kafka consumer groups across the death of their coordinator.

Usage:
  coordinator_failover.py produce BOOTSTRAP TOPIC PARTITIONS FROM COUNT
  coordinator_failover.py consume BOOTSTRAP TOPIC GROUP EVENTS_FILE

produce sends records "FROM".."FROM+COUNT-1" with acks=all, record i to
partition i % PARTITIONS, and exits non-zero unless every one is acknowledged.

consume subscribes to TOPIC in GROUP and commits every record synchronously
(retrying while the coordinator moves) before reporting it, so a reported
record is a committed one. It appends one event a line to EVENTS_FILE until
SIGTERM, then leaves the group:
  start P OFFSET        the first record delivered on partition P
  committed P OFFSET V  record P/OFFSET with value V is committed
  unexpected P OFFSET WANTED  a record other than the one after the last
                        commit was delivered: a re-read or a skip
  commit-lost P OFFSET ERR  the group moved on without this commit (the
                        record comes again, which is Kafka's contract)"""
import os
import signal
import sys
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer

TIMEOUT = 60


def produce(bootstrap, topic, partitions, first, count):
    p = Producer({
        "bootstrap.servers": bootstrap,
        "acks": "all",
        "enable.idempotence": True,
        "linger.ms": 5,
        "message.timeout.ms": TIMEOUT * 1000,
    })
    errors = []

    def cb(err, msg):
        if err is not None:
            errors.append(str(err))

    for i in range(first, first + count):
        p.produce(topic, value=str(i).encode(), partition=i % partitions, on_delivery=cb)
        p.poll(0)
    left = p.flush(TIMEOUT)
    print("produced %d, %d unflushed, %d errors %s" % (count, left, len(errors), errors[:3]))
    sys.exit(0 if left == 0 and not errors else 1)


# The group moved on (rebalance, fencing): this commit is not coming back.
GROUP_MOVED = {
    KafkaError.ILLEGAL_GENERATION,
    KafkaError.UNKNOWN_MEMBER_ID,
    KafkaError.REBALANCE_IN_PROGRESS,
    KafkaError.FENCED_INSTANCE_ID,
}


def commit(c, msg):
    """Commits past msg, retrying while the coordinator is unreachable or
    loading; returns None when committed, else the error that ended it."""
    deadline = time.time() + TIMEOUT
    while True:
        try:
            parts = c.commit(message=msg, asynchronous=False)
            err = next((tp.error for tp in parts or [] if tp.error is not None), None)
        except KafkaException as e:
            err = e.args[0]
        if err is None:
            return None
        if err.code() in GROUP_MOVED or time.time() > deadline:
            return err
        time.sleep(0.1)


def consume(bootstrap, topic, group, events_file):
    c = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": 10000,
        "heartbeat.interval.ms": 500,
    })
    c.subscribe([topic])
    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    out = open(events_file, "a")

    def emit(line):
        out.write(line + "\n")
        out.flush()

    wanted = {}
    while not stop["now"]:
        msg = c.poll(0.2)
        if msg is None or msg.error():
            continue
        p, off = msg.partition(), msg.offset()
        if p not in wanted:
            emit("start %d %d" % (p, off))
        elif off != wanted[p]:
            emit("unexpected %d %d %d" % (p, off, wanted[p]))
        wanted[p] = off
        err = commit(c, msg)
        if err is None:
            emit("committed %d %d %s" % (p, off, msg.value().decode()))
            wanted[p] = off + 1
        else:
            emit("commit-lost %d %d %s" % (p, off, err))
    c.close()
    out.close()


if sys.argv[1] == "produce":
    produce(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]))
else:
    consume(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5])
