#!/usr/bin/env python3
"""Start-up to the first answer, for a broker and for a ZooKeeper server.

    bench-first-answer.py broker BIN [BIN2 ...] [--rounds N]
    bench-first-answer.py zk BIN|apache [...] [--rounds N]

`broker`: starts `BIN server-start` on a fresh log dir with the embedded
ZooKeeper and, from just before the exec, probes every 0.5 ms: the first
ApiVersions answer, then Metadata (v1, all topics) until it lists this
broker. Any Metadata answer without this broker in it is counted as wrong.
`zk`: starts `BIN zookeeper-start CFG` (or, for `apache`, Apache ZooKeeper
as Debian runs it: zkServer.sh start-foreground, which execs java) on a
fresh dataDir, times the first session (ConnectRequest answered with a
session id), then reads VmRSS from /proc/PID/status 2 s later.

Binaries given together alternate within each round. One JSON line per
run, then the medians (min-max) per binary. Needs nothing but Python 3.
"""
import json
import os
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

POLL_S = 0.0005
LIMIT_S = 60.0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def recv_exact(s, n):
    got = b""
    while len(got) < n:
        c = s.recv(n - len(got))
        if not c:
            raise OSError("closed")
        got += c
    return got


def kafka_call(port, api_key, version, body, correlation_id=1):
    """Sends one request (header v1) on a new connection; the response body."""
    with socket.create_connection(("127.0.0.1", port), timeout=LIMIT_S) as s:
        client = b"probe"
        req = struct.pack("!hhih", api_key, version, correlation_id, len(client)) + client + body
        s.sendall(struct.pack("!i", len(req)) + req)
        n = struct.unpack("!i", recv_exact(s, 4))[0]
        resp = recv_exact(s, n)
        return resp[4:]


def metadata_broker_ports(body):
    """Ports of the brokers in a Metadata v1 response body."""
    off = 0
    (count,) = struct.unpack_from("!i", body, off)
    off += 4
    ports = []
    for _ in range(max(count, 0)):
        off += 4  # node id
        (hl,) = struct.unpack_from("!h", body, off)
        off += 2 + max(hl, 0)
        (port,) = struct.unpack_from("!i", body, off)
        off += 4
        (rl,) = struct.unpack_from("!h", body, off)
        off += 2 + max(rl, 0)
        ports.append(port)
    return ports


def poll(until, fn):
    """Calls fn every POLL_S until it returns a value; (value, seconds since until[0])."""
    t0 = until
    while time.monotonic() - t0 < LIMIT_S:
        try:
            v = fn()
        except OSError:
            v = None
        if v is not None:
            return v, time.monotonic() - t0
        time.sleep(POLL_S)
    raise SystemExit("no answer within %d s" % LIMIT_S)


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return None


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def run_broker(binary):
    work = tempfile.mkdtemp(prefix="bench-first-answer.")
    port = free_port()
    cmd = [binary, "server-start", "--override", "listeners=PLAINTEXT://127.0.0.1:%d" % port,
           "--override", "log.dirs=%s/data" % work, "--override", "embedded.zookeeper.port=0"]
    env = dict(os.environ, LOG_DIR=work + "/logs")
    env.setdefault("RUST_LOG", "info")
    log = open(work + "/broker.log", "w")
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        _, api_s = poll(t0, lambda: kafka_call(port, 18, 0, b"") and True)
        wrong = 0

        def metadata():
            nonlocal wrong
            ports = metadata_broker_ports(kafka_call(port, 3, 1, struct.pack("!i", -1)))
            if port in ports:
                return True
            wrong += 1
            return None

        _, meta_s = poll(t0, metadata)
        return {"bin": binary, "api_versions_ms": round(api_s * 1000, 2),
                "metadata_ms": round(meta_s * 1000, 2), "wrong_metadata": wrong,
                "loadavg": open("/proc/loadavg").read().split()[0]}
    finally:
        stop(proc)
        log.close()
        shutil.rmtree(work, ignore_errors=True)


# Apache ZooKeeper accepts connections while it is still loading and may
# never answer those: a probe gives up after this and the next one tries.
SESSION_PROBE_S = 0.25


def zk_session(port):
    with socket.create_connection(("127.0.0.1", port), timeout=SESSION_PROBE_S) as s:
        body = struct.pack("!iqiq", 0, 0, 30000, 0) + struct.pack("!i", 16) + b"\0" * 16 + b"\0"
        s.sendall(struct.pack("!i", len(body)) + body)
        n = struct.unpack("!i", recv_exact(s, 4))[0]
        sid = struct.unpack_from("!q", recv_exact(s, n), 8)[0]
        if sid == 0:
            return None
        s.sendall(struct.pack("!iii", 8, 1, -11))  # closeSession
        try:
            s.recv(64)
        except OSError:
            pass
        return True


APACHE = "/usr/share/zookeeper/bin/zkServer.sh"


def run_zk(binary):
    work = tempfile.mkdtemp(prefix="bench-first-answer-zk.")
    port = free_port()
    cfg = work + "/zoo.cfg"
    with open(cfg, "w") as f:
        f.write("tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir=%s/data\nclientPort=%d\n"
                "clientPortAddress=127.0.0.1\n4lw.commands.whitelist=*\nadmin.enableServer=false\n"
                % (work, port))
    os.makedirs(work + "/data")
    cmd = [APACHE, "start-foreground", cfg] if binary == "apache" else [binary, "zookeeper-start", cfg]
    log = open(work + "/server.log", "w")
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    try:
        _, sess_s = poll(t0, lambda: zk_session(port))
        time.sleep(2)
        return {"bin": binary, "session_ms": round(sess_s * 1000, 2),
                "rss_idle_kib": rss_kib(proc.pid),
                "loadavg": open("/proc/loadavg").read().split()[0]}
    finally:
        stop(proc)
        log.close()
        shutil.rmtree(work, ignore_errors=True)


def main():
    args = sys.argv[1:]
    rounds = 3
    if "--rounds" in args:
        i = args.index("--rounds")
        rounds = int(args[i + 1])
        del args[i:i + 2]
    if len(args) < 2 or args[0] not in ("broker", "zk"):
        raise SystemExit(__doc__)
    mode, bins = args[0], args[1:]
    run = run_broker if mode == "broker" else run_zk
    results = {b: [] for b in bins}
    for r in range(rounds):
        for b in bins:
            res = run(b)
            res["round"] = r + 1
            print(json.dumps(res), flush=True)
            results[b].append(res)
    keys = ("api_versions_ms", "metadata_ms", "wrong_metadata") if mode == "broker" else (
        "session_ms", "rss_idle_kib")
    for b, rs in results.items():
        parts = []
        for k in keys:
            vals = [x[k] for x in rs]
            parts.append("%s %s (%s-%s)" % (k, statistics.median(vals), min(vals), max(vals)))
        print("MEDIAN %s: %s" % (b, ", ".join(parts)))


if __name__ == "__main__":
    main()
