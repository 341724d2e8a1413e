"""Helpers for scripts/bench-controller-scale.sh: ZooKeeper set-up through
kazoo, and a Metadata probe through confluent-kafka.

  controller_scale.py brokers ZK IDS STOP
      Registers the broker ids IDS (comma-separated) as Kafka brokers do
      (ephemeral /brokers/ids/<id> with a v5 JSON naming an address no one
      listens on), prints "registered", and holds the session until the
      file STOP exists. Partitions assigned to them are hosted by no log:
      the controller reads, elects and writes them like any other.
  controller_scale.py topics ZK PREFIX TOPICS PARTITIONS IDS
      Writes TOPICS topic znodes PREFIX0..., PARTITIONS partitions each,
      replication factor 2 over IDS in Kafka's round-robin order, in
      multis, as `kafka-topics --zookeeper` writes one topic (the
      controller then creates the partition states).
  controller_scale.py states ZK PREFIX TOPICS
      Prints how many partition state znodes the topics PREFIX* have.
  controller_scale.py leaders BOOTSTRAP PREFIX PARTITIONS FROM OUT [exact]
      Polls Metadata until the topics PREFIX* have PARTITIONS partitions in
      all, every one led by FROM with two in-sync replicas, writes "ready"
      to OUT, then polls until none is led by FROM (nor is leaderless) and
      appends "moved <epoch seconds> <polls>". With `exact`, PREFIX is one
      topic and only its Metadata is asked for."""
import base64
import json
import os
import sys
import time
import uuid


def zk(connect):
    from kazoo.client import KazooClient

    c = KazooClient(hosts=connect, timeout=30)
    c.start(timeout=30)
    return c


def brokers(connect, ids, stop):
    c = zk(connect)
    for i in ids:
        data = {
            "version": 5,
            "host": "127.0.0.1",
            "port": 1,
            "jmx_port": -1,
            "timestamp": str(int(time.time() * 1000)),
            "endpoints": ["PLAINTEXT://127.0.0.1:1"],
            "listener_security_protocol_map": {"PLAINTEXT": "PLAINTEXT"},
            "features": {},
        }
        c.create("/brokers/ids/%d" % i, json.dumps(data).encode(), ephemeral=True)
    print("registered", flush=True)
    while not os.path.exists(stop):
        time.sleep(0.2)
    c.stop()


def topics(connect, prefix, count, partitions, ids):
    c = zk(connect)
    c.ensure_path("/brokers/topics")
    c.ensure_path("/config/topics")
    t = c.transaction()
    ops = 0
    for n in range(count):
        name = "%s%d" % (prefix, n)
        # Kafka's AdminUtils: replica i of partition p on broker
        # (start + p + i) mod n, the start rotating with the topic.
        assignment = {
            str(p): [ids[(n + p + r) % len(ids)] for r in range(2)] for p in range(partitions)
        }
        topic_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        znode = {
            "version": 3,
            "topic_id": topic_id,
            "partitions": assignment,
            "adding_replicas": {},
            "removing_replicas": {},
        }
        t.create("/config/topics/" + name, b'{"version":1,"config":{}}')
        t.create("/brokers/topics/" + name, json.dumps(znode).encode())
        ops += 2
        if ops >= 200:
            check(t.commit())
            t, ops = c.transaction(), 0
    if ops:
        check(t.commit())
    c.stop()


def check(results):
    for r in results:
        if isinstance(r, Exception):
            raise r


def states(connect, prefix, count):
    c = zk(connect)
    asyncs = []
    for n in range(count):
        asyncs.append(c.get_children_async("/brokers/topics/%s%d/partitions" % (prefix, n)))
    parts = []
    for n, a in enumerate(asyncs):
        try:
            parts += ["/brokers/topics/%s%d/partitions/%s/state" % (prefix, n, p) for p in a.get()]
        except Exception:
            pass
    found = 0
    for a in [c.exists_async(p) for p in parts]:
        if a.get() is not None:
            found += 1
    print(found)
    c.stop()


def leaders(bootstrap, prefix, partitions, moved_from, out_path, exact=False):
    from confluent_kafka.admin import AdminClient
    from failover_probe import await_moves

    admin = AdminClient({"bootstrap.servers": bootstrap})

    def led():
        # One topic's Metadata when the prefix names it: all 101,000
        # partitions of (b) take a Python client longer to parse than the
        # move being timed.
        md = admin.list_topics(topic=prefix if exact else None, timeout=30)
        ps = [
            p
            for name, t in md.topics.items()
            if name.startswith(prefix) and t.error is None
            for p in t.partitions.values()
        ]
        return ps if len(ps) == partitions else None

    await_moves(led, moved_from, out_path, ready=lambda p: len(p.isrs) == 2, deadline=900)


mode, args = sys.argv[1], sys.argv[2:]
if mode == "brokers":
    brokers(args[0], [int(i) for i in args[1].split(",")], args[2])
elif mode == "topics":
    topics(args[0], args[1], int(args[2]), int(args[3]), [int(i) for i in args[4].split(",")])
elif mode == "states":
    states(args[0], args[1], int(args[2]))
else:
    leaders(args[0], args[1], int(args[2]), int(args[3]), args[4], args[5:] == ["exact"])
