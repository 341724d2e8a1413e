"""Client-side probes for scripts/bench-failover.sh, through confluent-kafka
(librdkafka with its default retry settings, as an application would run)
or kafka-python (its defaults).

  failover_probe.py acks BOOTSTRAP TOPIC OUT STOP
      Produces one record at a time with acks=all, waiting for each ack
      (librdkafka defaults, plus PROBE_CONFIG="key=value,..." if set),
      and appends "<sent> <done> ok|<error>" (epoch seconds) per record to
      OUT until the file STOP exists.
  failover_probe.py acks-kafka-python BOOTSTRAP TOPIC OUT STOP
      The same through kafka-python's KafkaProducer with its defaults
      (which already retry for delivery_timeout_ms, 120 s, backing off
      100 ms), acks="all" and reconnect_backoff_max_ms=1000 (below).
  failover_probe.py leaders BOOTSTRAP TOPIC PARTITIONS FROM OUT
      Polls Metadata until every partition of TOPIC is led by FROM, writes
      "ready" to OUT, then polls again until none is led by FROM (nor is
      leaderless) and appends "moved <epoch seconds> <polls>"."""
import os
import sys
import time

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient


def extra_config():
    """PROBE_CONFIG="key=value,..." adds librdkafka settings (to see how
    much of a failover is the client's own backoff). An item without "="
    continues the previous value: debug=metadata,broker,topic,msg."""
    conf, last = {}, None
    for item in filter(None, os.environ.get("PROBE_CONFIG", "").split(",")):
        if "=" in item:
            last, value = item.split("=", 1)
            conf[last] = value
        elif last is not None:
            conf[last] += "," + item
    return conf


def acks(bootstrap, topic, out_path, stop_path):
    conf = {
        "bootstrap.servers": bootstrap,
        "acks": "all",
        "linger.ms": 0,
        "message.timeout.ms": 120000,
    }
    conf.update(extra_config())
    p = Producer(conf)
    out = open(out_path, "w")
    result = {}

    def cb(err, msg):
        result["err"] = err

    n = 0
    while not os.path.exists(stop_path):
        result.clear()
        sent = time.time()
        p.produce(topic, value=b"probe %d" % n, partition=0, on_delivery=cb)
        while "err" not in result:
            p.poll(0.001)
        done = time.time()
        err = result["err"]
        out.write("%.6f %.6f %s\n" % (sent, done, "ok" if err is None else str(err).replace(" ", "_")))
        out.flush()
        n += 1
    out.close()


def acks_kafka_python(bootstrap, topic, out_path, stop_path):
    from kafka import KafkaProducer, TopicPartition

    if "debug" in os.environ.get("PROBE_CONFIG", ""):
        import logging

        logging.basicConfig(level=logging.DEBUG, format="%(created).6f %(name)s %(message)s")
    # reconnect_backoff_max_ms: kafka-python asks for Metadata after each
    # failed reconnect to the dead leader, and its default (30 s) doubles
    # that wait past 6 s by the time the session expires; 1 s is the Java
    # client's default and what an application that cares about failover sets.
    p = KafkaProducer(bootstrap_servers=bootstrap.split(","), acks="all", reconnect_backoff_max_ms=1000)
    if "debug" in os.environ.get("PROBE_CONFIG", ""):
        # Each Metadata answer's leader for partition 0, in the layout
        # failover_breakdown.py reads for every client.
        def seen(cluster):
            sys.stderr.write(
                "%.6f metadata: leader %s, %d brokers\n"
                % (time.time(), cluster.leader_for_partition(TopicPartition(topic, 0)), len(cluster.brokers()))
            )

        p._metadata.add_listener(seen)
    out = open(out_path, "w")
    n = 0
    while not os.path.exists(stop_path):
        sent = time.time()
        try:
            p.send(topic, value=b"probe %d" % n, partition=0).get(timeout=180)
            outcome = "ok"
        except Exception as e:  # noqa: BLE001 - every failure is a data point
            outcome = (type(e).__name__ + ":" + str(e)).replace(" ", "_") or "error"
        done = time.time()
        out.write("%.6f %.6f %s\n" % (sent, done, outcome))
        out.flush()
        n += 1
    out.close()
    p.close(timeout=5)


def leaders(bootstrap, topic, partitions, moved_from, out_path):
    admin = AdminClient({"bootstrap.servers": bootstrap})

    def led():
        md = admin.list_topics(topic=topic, timeout=10)
        t = md.topics.get(topic)
        if t is None or t.error is not None or len(t.partitions) != partitions:
            return None
        return list(t.partitions.values())

    await_moves(led, moved_from, out_path)


def await_moves(led, moved_from, out_path, ready=lambda p: True, deadline=300):
    """Polls led() (the partitions' Metadata, or None while incomplete)
    until FROM leads every one and ready(p) holds, writes "ready", then
    polls until none is led by FROM (nor is leaderless) and appends
    "moved <epoch seconds> <polls>"."""
    deadline += time.time()
    while True:
        now = led()
        if now is not None and all(p.leader == moved_from and ready(p) for p in now):
            break
        assert time.time() < deadline, "broker %d never led every partition" % moved_from
        time.sleep(0.1)
    with open(out_path, "w") as out:
        out.write("ready\n")
    polls = 0
    while True:
        now = led()
        polls += 1
        if now is not None and all(p.leader >= 0 and p.leader != moved_from for p in now):
            break
        assert time.time() < deadline, "the leaderships never moved"
    with open(out_path, "a") as out:
        out.write("moved %.6f %d\n" % (time.time(), polls))


if __name__ == "__main__":
    if sys.argv[1] == "acks-kafka-python":
        acks_kafka_python(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5])
    elif sys.argv[1] == "acks":
        acks(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5])
    else:
        leaders(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6])
