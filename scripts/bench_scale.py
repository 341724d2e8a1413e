"""Client side of scripts/bench-scale.sh. The broker-facing requests are
hand-framed on raw sockets so that what is timed is one request and its
answer, not a client library's retries and metadata refreshes; produce goes
through confluent-kafka (librdkafka) like an application's.

  bench_scale.py create BOOTSTRAP PREFIX TOPICS PARTITIONS
      One CreateTopics request (v0) for TOPICS topics PREFIX0..PREFIX{N-1} of
      PARTITIONS partitions each; prints the answer's time and how many
      topics it answered without an error.
  bench_scale.py metadata BOOTSTRAP REQUESTS
      Metadata (v1, all topics) REQUESTS times on one connection; prints
      p50/p99/max and the response size.
  bench_scale.py online BOOTSTRAP PARTITIONS START_NS
      Polls Metadata (all topics) until PARTITIONS partitions have a leader
      and no error, then ListOffsets (v1, latest) for all of them until every
      answer is error-free; prints the ms since START_NS (epoch ns).
  bench_scale.py produce BOOTSTRAP PREFIX TOPICS RECORDS SIZE
      Produces RECORDS records of SIZE bytes, topic i % TOPICS for record i
      (no key: librdkafka spreads them over the partitions); prints records/s.
  bench_scale.py spread BOOTSTRAP TOPIC PARTITIONS RECORDS SIZE
      Produces RECORDS records of SIZE bytes to one topic, record i to
      partition i % PARTITIONS (named, so no partitioner or sticky batching
      decides); prints records/s and this process's CPU seconds.
  bench_scale.py idle BOOTSTRAP CONNECTIONS READY STOP
      Opens CONNECTIONS connections, each answering one ApiVersions, writes
      READY and holds them until the file STOP exists."""
import os
import socket
import struct
import sys
import time


def host_port(bootstrap):
    host, port = bootstrap.rsplit(":", 1)
    return host, int(port)


def kstr(s):
    b = s.encode()
    return struct.pack(">h", len(b)) + b


class Conn:
    def __init__(self, bootstrap):
        self.sock = socket.create_connection(host_port(bootstrap), timeout=120)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.correlation = 0

    def send(self, api_key, version, body):
        self.correlation += 1
        header = struct.pack(">hhi", api_key, version, self.correlation) + kstr("bench-scale")
        frame = header + body
        self.sock.sendall(struct.pack(">i", len(frame)) + frame)

    def recv(self):
        size = struct.unpack(">i", self.read_exact(4))[0]
        data = self.read_exact(size)
        if struct.unpack(">i", data[:4])[0] != self.correlation:
            raise RuntimeError("correlation id mismatch")
        return data[4:]

    def request(self, api_key, version, body):
        self.send(api_key, version, body)
        return self.recv()

    def read_exact(self, n):
        chunks, got = [], 0
        while got < n:
            c = self.sock.recv(min(n - got, 1 << 20))
            if not c:
                raise ConnectionError("connection closed")
            chunks.append(c)
            got += len(c)
        return b"".join(chunks)


class Reader:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, fmt):
        v = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return v[0] if len(v) == 1 else v

    def string(self):
        n = self.take(">h")
        if n < 0:
            return None
        s = self.data[self.pos:self.pos + n].decode()
        self.pos += n
        return s

    def int32_array(self):
        return [self.take(">i") for _ in range(self.take(">i"))]


def metadata_partitions(data):
    """(topic, partition, error, leader) of a Metadata v1 response body."""
    r = Reader(data)
    for _ in range(r.take(">i")):
        r.take(">i"), r.string(), r.take(">i"), r.string()
    r.take(">i")
    out = []
    for _ in range(r.take(">i")):
        topic_error, name, _internal = r.take(">h"), r.string(), r.take(">b")
        if topic_error:
            out.append((name, -1, topic_error, -1))
        for _ in range(r.take(">i")):
            error, index, leader = r.take(">hii")
            r.int32_array(), r.int32_array()
            out.append((name, index, error, leader))
    return out


def create(bootstrap, prefix, topics, partitions):
    body = struct.pack(">i", topics)
    for i in range(topics):
        body += kstr("%s%d" % (prefix, i)) + struct.pack(">ihii", partitions, 1, 0, 0)
    body += struct.pack(">i", 120000)
    c = Conn(bootstrap)
    t0 = time.monotonic()
    data = c.request(19, 0, body)
    elapsed = time.monotonic() - t0
    r = Reader(data)
    answers = [(r.string(), r.take(">h")) for _ in range(r.take(">i"))]
    ok = sum(1 for _, e in answers if e == 0)
    errors = sorted({e for _, e in answers if e})
    print("create %d topics x %d partitions: %.0f ms, %d answers, %d ok, errors %s"
          % (topics, partitions, elapsed * 1000, len(answers), ok, errors))


def percentile(sorted_values, p):
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * p))]


def metadata(bootstrap, requests):
    c = Conn(bootstrap)
    times, size, parts = [], 0, 0
    for _ in range(requests):
        t0 = time.monotonic()
        data = c.request(3, 1, struct.pack(">i", -1))
        times.append((time.monotonic() - t0) * 1000)
        size = len(data)
    parts = len(metadata_partitions(data))
    times.sort()
    print("metadata all topics (%d partitions, %d bytes) x %d: p50 %.2f ms p99 %.2f ms max %.2f ms"
          % (parts, size, requests, percentile(times, 0.5), percentile(times, 0.99), times[-1]))


def list_offsets_body(by_topic):
    body = struct.pack(">ii", -1, len(by_topic))
    for topic, parts in by_topic.items():
        body += kstr(topic) + struct.pack(">i", len(parts))
        for p in parts:
            body += struct.pack(">iq", p, -1)
    return body


def list_offsets_errors(data):
    r = Reader(data)
    errors = 0
    for _ in range(r.take(">i")):
        r.string()
        for _ in range(r.take(">i")):
            _p, error, _ts, _off = r.take(">ihqq")
            errors += error != 0
    return errors


def online(bootstrap, partitions, start_ns):
    deadline = time.monotonic() + 300
    conn = None
    while time.monotonic() < deadline:
        try:
            if conn is None:
                conn = Conn(bootstrap)
            parts = metadata_partitions(conn.request(3, 1, struct.pack(">i", -1)))
            good = [(t, p) for t, p, e, leader in parts if e == 0 and leader >= 0]
            if len(good) >= partitions:
                by_topic = {}
                for t, p in good:
                    by_topic.setdefault(t, []).append(p)
                if list_offsets_errors(conn.request(2, 1, list_offsets_body(by_topic))) == 0:
                    print("%d" % ((time.time_ns() - start_ns) // 1_000_000))
                    return
        except (OSError, ConnectionError, struct.error):
            conn = None
        time.sleep(0.01)
    sys.exit("partitions never all online")


def producer(bootstrap):
    from confluent_kafka import Producer

    return Producer({
        "bootstrap.servers": bootstrap,
        "acks": "1",
        "linger.ms": 5,
        "batch.size": 1000000,
        "queue.buffering.max.kbytes": 1048576,
        "queue.buffering.max.messages": 2000000,
        "enable.idempotence": False,
    })


def produce(bootstrap, prefix, topics, records, size):
    p = producer(bootstrap)
    names = ["%s%d" % (prefix, i) for i in range(topics)]
    value = b"x" * size
    failed = []

    def on_delivery(err, _msg):
        if err is not None:
            failed.append(err)

    t0 = time.monotonic()
    for i in range(records):
        while True:
            try:
                p.produce(names[i % topics], value, on_delivery=on_delivery)
                break
            except BufferError:
                p.poll(0.01)
        if i % 10000 == 0:
            p.poll(0)
    if p.flush(300) != 0 or failed:
        sys.exit("produce failed: %d undelivered, first error %s" % (len(p), failed[:1]))
    elapsed = time.monotonic() - t0
    print("produce %d x %d B over %d topics: %.0f records/s"
          % (records, size, topics, records / elapsed))


def spread(bootstrap, topic, partitions, records, size):
    p = producer(bootstrap)
    p.list_topics(topic, timeout=30)
    value = b"x" * size
    t0, cpu0 = time.monotonic(), time.process_time()
    for i in range(records):
        while True:
            try:
                p.produce(topic, value, partition=i % partitions)
                break
            except BufferError:
                p.poll(0.01)
        if i % 10000 == 0:
            p.poll(0)
    if p.flush(300) != 0:
        sys.exit("produce failed: %d undelivered" % len(p))
    elapsed = time.monotonic() - t0
    print("%.0f records/s, client CPU %.2f s"
          % (records / elapsed, time.process_time() - cpu0))


def idle(bootstrap, connections, ready, stop):
    conns = []
    for _ in range(connections):
        c = Conn(bootstrap)
        c.send(18, 0, b"")
        conns.append(c)
    for c in conns:
        c.recv()
    with open(ready, "w") as f:
        f.write("%d\n" % len(conns))
    while not os.path.exists(stop):
        time.sleep(0.1)


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "create":
        create(args[0], args[1], int(args[2]), int(args[3]))
    elif cmd == "metadata":
        metadata(args[0], int(args[1]))
    elif cmd == "online":
        online(args[0], int(args[1]), int(args[2]))
    elif cmd == "produce":
        produce(args[0], args[1], int(args[2]), int(args[3]), int(args[4]))
    elif cmd == "spread":
        spread(args[0], args[1], int(args[2]), int(args[3]), int(args[4]))
    elif cmd == "idle":
        idle(args[0], int(args[1]), args[2], args[3])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
