"""Consumer groups through confluent-kafka (librdkafka) against a kafka-rs
broker: a 4-partition topic consumed by a group that grows from 2 to 5
members (2+2, then 1+1+1+1+0), loses one member to kill -9 (its partitions
move after the session timeout), and never skips a committed message; a
second group receives every message too.

Each member is a child process running this script in "member" mode and
reporting its assignments and messages as JSON lines on stdout.

Usage: groups_rebalance.py BOOTSTRAP
       groups_rebalance.py member BOOTSTRAP GROUP TOPIC NAME"""
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time

TOPIC = "rebalance-topic"
PARTITIONS = 4
SESSION_MS = 6000


def member(bootstrap, group, topic, name):
    from confluent_kafka import Consumer, KafkaException

    def emit(**ev):
        ev["member"] = name
        ev["t"] = time.time()
        print(json.dumps(ev), flush=True)

    def on_assign(consumer, parts):
        emit(ev="assign", parts=sorted(p.partition for p in parts))

    def on_revoke(consumer, parts):
        emit(ev="revoke", parts=sorted(p.partition for p in parts))

    c = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "client.id": name,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": SESSION_MS,
        "heartbeat.interval.ms": 500,
        "partition.assignment.strategy": "range",
    })
    c.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke)
    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    while not stop["now"]:
        msg = c.poll(0.2)
        if msg is None:
            continue
        if msg.error():
            emit(ev="error", error=str(msg.error()))
            continue
        # Commit before reporting: a reported message is a committed one.
        try:
            c.commit(message=msg, asynchronous=False)
        except KafkaException as e:
            emit(ev="commit-failed", error=str(e), p=msg.partition(), o=msg.offset())
            continue
        emit(ev="msg", p=msg.partition(), o=msg.offset(), v=msg.value().decode())
    c.close()
    emit(ev="closed")


class Member:
    def __init__(self, bootstrap, group, name):
        self.name = name
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "member", bootstrap, group, TOPIC, name],
            stdout=subprocess.PIPE, text=True)
        self.assigned = None
        self.last_assign = None
        self.msgs = []
        self.events = queue.Queue()
        self.errors = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            ev = json.loads(line)
            self.events.put(ev)

    def drain(self):
        while True:
            try:
                ev = self.events.get_nowait()
            except queue.Empty:
                return
            if ev["ev"] == "assign":
                self.assigned = ev["parts"]
                self.last_assign = ev["t"]
            elif ev["ev"] == "revoke":
                self.assigned = []
            elif ev["ev"] == "msg":
                self.msgs.append((ev["p"], ev["o"], ev["v"]))
            elif ev["ev"] in ("error", "commit-failed"):
                self.errors.append(ev)

    def kill9(self):
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)
        time.sleep(0.1)
        self.drain()


def wait_for(members, want_sizes, timeout, what):
    """Waits until the live members' assignments have the given sizes and
    together cover every partition exactly once."""
    deadline = time.time() + timeout
    while True:
        for m in members:
            m.drain()
        got = [m.assigned for m in members]
        if all(a is not None for a in got):
            flat = sorted(p for a in got for p in a)
            sizes = sorted(len(a) for a in got)
            if flat == list(range(PARTITIONS)) and sizes == sorted(want_sizes):
                return
        if time.time() > deadline:
            raise AssertionError(f"{what}: assignments {[(m.name, m.assigned) for m in members]}")
        time.sleep(0.1)


def produce(bootstrap, start, count):
    from confluent_kafka import Producer
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
    for i in range(start, start + count):
        p.produce(TOPIC, value=b"m%d" % i, partition=i % PARTITIONS)
    assert p.flush(30) == 0


def consumed_values(members):
    return {v for m in members for (_, _, v) in m.msgs}


def main(bootstrap):
    from confluent_kafka.admin import AdminClient, NewTopic
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(TOPIC, PARTITIONS, 1)])[TOPIC].result(30)
    produce(bootstrap, 0, 200)

    group = [Member(bootstrap, "g1", "a"), Member(bootstrap, "g1", "b")]
    wait_for(group, [2, 2], 60, "two members")
    group += [Member(bootstrap, "g1", "c"), Member(bootstrap, "g1", "d")]
    wait_for(group, [1, 1, 1, 1], 60, "four members")
    group.append(Member(bootstrap, "g1", "e"))
    wait_for(group, [1, 1, 1, 1, 0], 60, "five members, one idle")

    # Let everyone consume what is there, then kill a busy member.
    deadline = time.time() + 60
    while len(consumed_values(group)) < 200:
        assert time.time() < deadline, f"consumed {len(consumed_values(group))} of 200"
        for m in group:
            m.drain()
        time.sleep(0.1)
    victim = next(m for m in group if m.assigned)
    victim.kill9()
    victim.drain()
    survivors = [m for m in group if m is not victim]
    killed_at = time.time()
    wait_for(survivors, [1, 1, 1, 1], 60, "after kill -9")
    moved_after = time.time() - killed_at
    produce(bootstrap, 200, 200)
    deadline = time.time() + 60
    while len(consumed_values(group)) < 400:
        assert time.time() < deadline, f"consumed {len(consumed_values(group))} of 400"
        for m in survivors:
            m.drain()
        time.sleep(0.1)
    for m in survivors:
        m.stop()
    values = consumed_values(group)
    missing = [i for i in range(400) if "m%d" % i not in values]
    assert not missing, f"skipped messages: {missing[:20]}"
    # Per partition, committed offsets were consumed in order without gaps.
    for p in range(PARTITIONS):
        offsets = sorted({o for m in group for (mp, o, _) in m.msgs if mp == p})
        assert offsets == list(range(len(offsets))), f"partition {p} offsets have gaps"
    errors = [e for m in group for e in m.errors]

    # A second group gets everything again, independently.
    other = Member(bootstrap, "g2", "solo")
    deadline = time.time() + 60
    while len({v for (_, _, v) in other.msgs}) < 400:
        assert time.time() < deadline, f"second group got {len(other.msgs)}"
        other.drain()
        time.sleep(0.1)
    other.stop()
    print(json.dumps({"moved_after_kill_s": round(moved_after, 2), "errors": len(errors)}))
    print("groups rebalance ok")


if __name__ == "__main__":
    if sys.argv[1] == "member":
        member(*sys.argv[2:6])
    else:
        main(sys.argv[1])
