"""The workload, run as its own process so client threads never share a GIL
with the nemesis: producers and consumers through clients we did not write
(confluent-kafka, kafka-python, kazoo), every send, ack, error, read and
commit written as one JSON line with a wall-clock time.

  python -m faultlib.workload kafka BOOTSTRAP TOPIC PARTITIONS DURATION OUT
  python -m faultlib.workload final BOOTSTRAP TOPIC PARTITIONS OUT
  python -m faultlib.workload zk HOSTS DURATION OUT
  python -m faultlib.workload zk-final HOSTS OUT
"""

import json
import os
import sys
import threading
import time

from .bounded import Watchdog, bounded, dump_stacks_on_sigusr1, join_all

GROUP = "faults-group"
# Each producer sends one record per period: enough load to see throughput
# and latency move, little enough for a 2-core machine with several brokers.
SEND_PERIOD_S = 0.01
FLUSH_TIMEOUT_S = 30.0
# How long a client's close may take once its work is done (librdkafka's
# close and destroy wait for its broker threads; a consumer's for leaving
# its group).
CLOSE_TIMEOUT_S = 15.0


class History:
    def __init__(self, path):
        self.f = open(path, "a", buffering=1)
        self.lock = threading.Lock()

    def record(self, ev):
        ev.setdefault("t", time.time())
        with self.lock:
            self.f.write(json.dumps(ev) + "\n")

    def stuck(self, what, stack):
        """A client call that outlived its bound, for the history."""
        self.record({"type": "client_stuck", "what": what, "stack": stack[-2000:]})

    def close(self):
        with self.lock:
            self.f.flush()


# The plain producers send one request at a time per connection: their
# records stay in order while a partition's leader stays put, but librdkafka
# limits requests per connection, not per partition, so across a leader move
# two of a partition's requests can be in flight to two brokers
# (checker.order_promised says which producers are held to order).
PRODUCERS = [
    # (id, client, acks, idempotent, max.in.flight.requests.per.connection)
    ("idem-all", "confluent", "all", True, 5),
    ("plain-all", "confluent", "all", False, 1),
    ("plain-one", "confluent", "1", False, 1),
    ("kpy-idem-all", "kafka-python", "all", True, 1),
]


def confluent_producer(bootstrap, acks, idempotent, in_flight, pid):
    from confluent_kafka import Producer
    conf = {
        "bootstrap.servers": bootstrap,
        "acks": acks,
        "enable.idempotence": idempotent,
        "max.in.flight.requests.per.connection": in_flight,
        "message.timeout.ms": 15000,
        "linger.ms": 5,
        "reconnect.backoff.max.ms": 500,
        "topic.metadata.refresh.interval.ms": 2000,
    }
    if idempotent:
        # A message that times out in flight makes librdkafka bump the
        # producer epoch and re-send what is queued under new sequence
        # numbers, which the broker cannot tell from new records: exactly
        # once holds only while no message times out, so the timeout
        # outlasts every fault (Kafka's delivery.timeout.ms default).
        conf["message.timeout.ms"] = 120000
    rdkafka_debug(conf, pid)
    return Producer(conf)


def rdkafka_debug(conf, pid):
    """librdkafka's own account of a producer (its `debug` contexts, e.g.
    `eos,msg` for sequence and epoch decisions, `msg,protocol,broker,topic`
    for which request went to which broker), to explain a duplicate or a
    reordering: KAFKA_RS_FAULTS_RDKAFKA_DEBUG names the contexts and
    KAFKA_RS_FAULTS_RDKAFKA_DEBUG_PRODUCERS the producers (every confluent
    one when unset). librdkafka writes them to the workload log (beside the
    history) from its own threads, stamped to the millisecond, each line
    naming the client id, which is the producer's id."""
    conf["client.id"] = pid
    debug = os.environ.get("KAFKA_RS_FAULTS_RDKAFKA_DEBUG")
    only = os.environ.get("KAFKA_RS_FAULTS_RDKAFKA_DEBUG_PRODUCERS")
    if debug and (not only or pid in only.split(",")):
        conf["debug"] = debug


def run_confluent_producer(h, stop, bootstrap, topic, partitions, pid, acks, idempotent,
                           in_flight):
    from confluent_kafka import KafkaException
    producer = confluent_producer(bootstrap, acks, idempotent, in_flight, pid)
    seq = 0

    def on_delivery(err, msg, seq, sent):
        value = msg.value().decode()
        now = time.time()
        if err is None:
            h.record({"type": "ack", "producer": pid, "value": value, "seq": seq,
                      "topic": msg.topic(), "partition": msg.partition(), "offset": msg.offset(),
                      "latency": now - sent, "t": now})
        else:
            h.record({"type": "error", "producer": pid, "value": value, "seq": seq,
                      "error": str(err), "t": now})

    next_send = time.time()
    while not stop.is_set():
        value = f"{pid}-{seq}"
        sent = time.time()
        h.record({"type": "send", "producer": pid, "value": value, "seq": seq, "t": sent})
        try:
            producer.produce(topic, value.encode(), partition=seq % partitions,
                             on_delivery=lambda e, m, s=seq, t=sent: on_delivery(e, m, s, t))
        except (BufferError, KafkaException) as e:
            h.record({"type": "error", "producer": pid, "value": value, "seq": seq,
                      "error": f"produce: {e}"})
            if isinstance(e, KafkaException) and e.args[0].fatal():
                # An idempotent producer that lost its sequence state is
                # unusable; a new instance (new producer id) carries on.
                producer.flush(1)
                producer = confluent_producer(bootstrap, acks, idempotent, in_flight, pid)
                h.record({"type": "producer_restart", "producer": pid})
        seq += 1
        producer.poll(0)
        next_send += SEND_PERIOD_S
        time.sleep(max(0.0, next_send - time.time()))
    h.record({"type": "producer_stop", "producer": pid})
    close_confluent_producer(h, pid, producer)


def close_confluent_producer(h, pid, producer, close_timeout=CLOSE_TIMEOUT_S):
    """Flushes for at most FLUSH_TIMEOUT_S; what is still queued or in
    flight then is purged (each purged record gets its delivery error, so
    the history says it was not acknowledged) before a bounded close."""
    left = producer.flush(FLUSH_TIMEOUT_S)
    if left:
        h.record({"type": "client_error", "producer": pid,
                  "error": f"flush: {left} records unacknowledged after {FLUSH_TIMEOUT_S}s; "
                           f"purged"})
        producer.purge()
        producer.flush(5)
    bounded(f"{pid} close", producer.close, close_timeout, h.stuck)


def run_kafka_python_producer(h, stop, bootstrap, topic, partitions, pid, acks, idempotent,
                              in_flight):
    from kafka import KafkaProducer
    producer = None
    deadline = time.time() + 60
    while producer is None and not stop.is_set() and time.time() < deadline:
        try:
            producer = KafkaProducer(bootstrap_servers=bootstrap.split(","),
                                     acks=acks if acks == "all" else int(acks), retries=5,
                                     enable_idempotence=idempotent,
                                     max_in_flight_requests_per_connection=in_flight,
                                     request_timeout_ms=10000, linger_ms=5,
                                     reconnect_backoff_max_ms=500, metadata_max_age_ms=2000)
        except Exception as e:  # noqa: BLE001 - the broker may be down at start
            h.record({"type": "client_error", "producer": pid, "error": str(e)})
            time.sleep(0.5)
    if producer is None:
        return
    seq = 0
    next_send = time.time()
    while not stop.is_set():
        value = f"{pid}-{seq}"
        sent = time.time()
        h.record({"type": "send", "producer": pid, "value": value, "seq": seq, "t": sent})

        def ok(md, value=value, seq=seq, sent=sent):
            now = time.time()
            h.record({"type": "ack", "producer": pid, "value": value, "seq": seq,
                      "topic": md.topic, "partition": md.partition, "offset": md.offset,
                      "latency": now - sent, "t": now})

        def failed(exc, value=value, seq=seq):
            h.record({"type": "error", "producer": pid, "value": value, "seq": seq,
                      "error": repr(exc)})
        try:
            fut = producer.send(topic, value.encode(), partition=seq % partitions)
            fut.add_callback(ok)
            fut.add_errback(failed)
        except Exception as e:  # noqa: BLE001 - any client error is history, not a crash
            failed(e)
        seq += 1
        next_send += SEND_PERIOD_S
        time.sleep(max(0.0, next_send - time.time()))
    h.record({"type": "producer_stop", "producer": pid})
    try:
        producer.flush(timeout=FLUSH_TIMEOUT_S)
    except Exception as e:  # noqa: BLE001
        h.record({"type": "client_error", "producer": pid, "error": f"flush: {e}"})
    bounded(f"{pid} close", lambda: producer.close(timeout=5), CLOSE_TIMEOUT_S, h.stuck)


def run_consumer(h, stop, bootstrap, topic, cid):
    from confluent_kafka import Consumer
    c = Consumer({
        "bootstrap.servers": bootstrap, "group.id": GROUP, "client.id": cid,
        "enable.auto.commit": False, "auto.offset.reset": "earliest",
        "session.timeout.ms": 6000, "heartbeat.interval.ms": 1000,
        "reconnect.backoff.max.ms": 500, "topic.metadata.refresh.interval.ms": 2000,
    })
    c.subscribe([topic])
    last_commit = time.time()
    while not stop.is_set():
        msg = c.poll(0.2)
        if msg is not None:
            if msg.error():
                h.record({"type": "consumer_error", "consumer": cid, "error": str(msg.error())})
            else:
                h.record({"type": "read", "consumer": cid, "topic": msg.topic(),
                          "partition": msg.partition(), "offset": msg.offset(),
                          "value": msg.value().decode(errors="replace")})
        if time.time() - last_commit > 0.5:
            last_commit = time.time()
            try:
                for tp in c.commit(asynchronous=False) or []:
                    if tp.error is None and tp.offset >= 0:
                        h.record({"type": "commit", "consumer": cid, "group": GROUP,
                                  "topic": tp.topic, "partition": tp.partition,
                                  "offset": tp.offset, "start": last_commit})
            except Exception as e:  # noqa: BLE001 - nothing to commit, or broker down
                h.record({"type": "commit_error", "consumer": cid, "error": str(e)})
    bounded(f"{cid} close", c.close, CLOSE_TIMEOUT_S, h.stuck)


def run_observer(h, stop, bootstrap, topic, partitions):
    """Reads the group's committed offsets from the coordinator, so offsets
    that move backwards in storage (not just in one member's view) show."""
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": GROUP,
                  "enable.auto.commit": False, "reconnect.backoff.max.ms": 500})
    tps = [TopicPartition(topic, p) for p in range(partitions)]
    while not stop.wait(0.5):
        # The checker orders operations only when one started after the
        # other finished, so each carries both times.
        asked = time.time()
        try:
            for tp in c.committed(tps, timeout=2):
                if tp.error is None and tp.offset >= 0:
                    h.record({"type": "committed", "group": GROUP, "topic": tp.topic,
                              "partition": tp.partition, "offset": tp.offset, "start": asked})
        except Exception as e:  # noqa: BLE001
            h.record({"type": "observer_error", "error": str(e)})
    bounded("observer close", c.close, CLOSE_TIMEOUT_S, h.stuck)


def kafka(bootstrap, topic, partitions, duration, out):
    h = History(out)
    stop = threading.Event()
    for pid, client, acks, idem, in_flight in PRODUCERS:
        h.record({"type": "producer", "producer": pid, "client": client, "acks": acks,
                  "idempotent": idem, "max_in_flight": in_flight})
    threads = []
    for pid, client, acks, idem, in_flight in PRODUCERS:
        run = run_confluent_producer if client == "confluent" else run_kafka_python_producer
        args = (h, stop, bootstrap, topic, partitions, pid, acks, idem, in_flight)
        threads.append(threading.Thread(target=run, args=args, name=pid, daemon=True))
    consumer_stop = threading.Event()
    for cid in ("c0", "c1"):
        threads.append(threading.Thread(target=run_consumer, name=cid, daemon=True,
                                        args=(h, consumer_stop, bootstrap, topic, cid)))
    threads.append(threading.Thread(target=run_observer, name="observer", daemon=True,
                                    args=(h, consumer_stop, bootstrap, topic, partitions)))
    h.record({"type": "workload_start"})
    for t in threads:
        t.start()
    time.sleep(duration)
    h.record({"type": "workload_stop"})
    stop.set()
    # Each producer flushes and closes within its own bounds; the margin
    # covers a produce call that was blocked when the stop came.
    join_all(threads[:len(PRODUCERS)], FLUSH_TIMEOUT_S + 5 + CLOSE_TIMEOUT_S + 10, h.stuck)
    consumer_stop.set()
    join_all(threads[len(PRODUCERS):], CLOSE_TIMEOUT_S + 10, h.stuck)
    h.record({"type": "workload_done"})


def final(bootstrap, topic, partitions, out, timeout=60.0):
    """Reads every partition from the start up to its high watermark."""
    from confluent_kafka import Consumer, TopicPartition
    h = History(out)
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "faults-final",
                  "enable.auto.commit": False, "enable.partition.eof": True})
    deadline = time.time() + timeout
    highs = {}
    for p in range(partitions):
        while p not in highs:
            try:
                _, highs[p] = c.get_watermark_offsets(TopicPartition(topic, p), timeout=5)
            except Exception as e:  # noqa: BLE001 - leader not back yet
                if time.time() > deadline:
                    raise SystemExit(f"no high watermark for {topic}-{p}: {e}")
                time.sleep(0.5)
    h.record({"type": "high_watermarks", "topic": topic, "high": highs})
    c.assign([TopicPartition(topic, p, 0) for p in range(partitions) if highs[p] > 0])
    pending = {p for p in range(partitions) if highs[p] > 0}
    while pending:
        if time.time() > deadline:
            raise SystemExit(f"final read timed out, partitions {sorted(pending)} unfinished")
        msg = c.poll(1.0)
        if msg is None:
            continue
        if msg.error():
            if msg.error().code() == -191:  # _PARTITION_EOF
                if msg.offset() >= highs[msg.partition()]:
                    pending.discard(msg.partition())
            continue
        p = msg.partition()
        if msg.offset() < highs[p]:
            h.record({"type": "final", "topic": topic, "partition": p, "offset": msg.offset(),
                      "value": msg.value().decode(errors="replace")})
        if msg.offset() + 1 >= highs[p]:
            pending.discard(p)
    bounded("final reader close", c.close, CLOSE_TIMEOUT_S, h.stuck)


def zk(hosts, duration, out):
    from kazoo.client import KazooClient
    h = History(out)
    client = KazooClient(hosts=hosts, timeout=6.0, connection_retry={"max_tries": -1,
                                                                     "max_delay": 0.5})
    client.start(timeout=30)
    client.ensure_path("/faults")
    h.record({"type": "workload_start"})
    end = time.time() + duration
    seq = 0
    while time.time() < end:
        path, value = f"/faults/n{seq:08d}", str(seq)
        sent = time.time()
        h.record({"type": "zk_send", "path": path, "value": value, "t": sent})
        try:
            client.create(path, value.encode())
            now = time.time()
            h.record({"type": "zk_ack", "path": path, "value": value, "latency": now - sent,
                      "t": now})
        except Exception as e:  # noqa: BLE001 - connection loss is history
            h.record({"type": "zk_error", "path": path, "error": repr(e)})
            time.sleep(0.1)
        seq += 1
        time.sleep(SEND_PERIOD_S)
    h.record({"type": "workload_stop"})
    bounded("kazoo stop", client.stop, CLOSE_TIMEOUT_S, h.stuck)


def zk_final(hosts, out):
    from kazoo.client import KazooClient
    h = History(out)
    client = KazooClient(hosts=hosts, timeout=10.0)
    client.start(timeout=30)
    for child in client.get_children("/faults"):
        data, _ = client.get(f"/faults/{child}")
        h.record({"type": "zk_final", "path": f"/faults/{child}", "value": data.decode()})
    bounded("kazoo stop", client.stop, CLOSE_TIMEOUT_S, h.stuck)


def main(argv):
    cmd = argv[0]
    dump_stacks_on_sigusr1()
    # The harness kills a workload that outlives its bound; this watchdog
    # fires a little earlier so the log says where it was stuck.
    bound = os.environ.get("KAFKA_RS_FAULTS_WATCHDOG_S")
    if bound:
        Watchdog(f"workload {cmd}", float(bound))
    if cmd == "kafka":
        kafka(argv[1], argv[2], int(argv[3]), float(argv[4]), argv[5])
    elif cmd == "final":
        final(argv[1], argv[2], int(argv[3]), argv[4])
    elif cmd == "zk":
        zk(argv[1], float(argv[2]), argv[3])
    elif cmd == "zk-final":
        zk_final(argv[1], argv[2])
    else:
        raise SystemExit(f"unknown workload {cmd}")


if __name__ == "__main__":
    main(sys.argv[1:])
    # A client stuck in a close was left behind on a daemon thread; the
    # history is complete, and interpreter shutdown must not wait on it.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
