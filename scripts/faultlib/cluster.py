"""Real processes for a run: a ZooKeeper server (`kafka-rs zookeeper-start`)
and brokers (`kafka-rs server-start`), each on its own port, with its own
directories under the run dir, and optionally each in its own network
namespace.

Network namespaces: one hub namespace holds a bridge, every node gets a
namespace joined to the bridge by a veth pair, and the harness's clients
run in the hub. All addresses are 127.66.N.x (loopback range, with
route_localnet so the kernel routes it over veth), so no traffic can leave
the namespaces this module creates. A partition between two nodes is a pair
of blackhole routes, one in each node's namespace; clients in the hub keep
reaching both sides, as in the 2013 Kafka partition scenario.
"""

import os
import signal
import socket
import subprocess
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sh(*args, check=True, timeout=60):
    return subprocess.run(list(args), check=check, capture_output=True, text=True,
                          timeout=timeout)


def wait_until(what, timeout, cond, period=0.05):
    deadline = time.time() + timeout
    while not cond():
        if time.time() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(period)


def can_connect(host, port):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


class Net:
    """Namespaces and veth pairs; `teardown` removes all of it and is safe to
    call twice or after a partial setup."""

    def __init__(self, tag, node_names):
        self.tag = tag
        self.subnet = f"127.66.{int(tag) % 250 + 1}"
        self.hub = f"kf{tag}h"
        self.ns = {name: f"kf{tag}n{i}" for i, name in enumerate(node_names)}
        self.addr = {name: f"{self.subnet}.{i + 1}" for i, name in enumerate(node_names)}
        self.hub_addr = f"{self.subnet}.254"
        self.blackholes = set()

    def setup(self):
        sh("ip", "netns", "add", self.hub)
        self._ns_sh(self.hub, "ip", "link", "set", "lo", "up")
        self._ns_sh(self.hub, "ip", "link", "add", "br0", "type", "bridge")
        self._localnet(self.hub, "br0")
        self._ns_sh(self.hub, "ip", "addr", "add", f"{self.hub_addr}/24", "dev", "br0")
        self._ns_sh(self.hub, "ip", "link", "set", "br0", "up")
        for i, (name, ns) in enumerate(self.ns.items()):
            sh("ip", "netns", "add", ns)
            outer, inner = f"kf{self.tag}v{i}", f"kf{self.tag}p{i}"
            sh("ip", "link", "add", outer, "type", "veth", "peer", "name", inner)
            sh("ip", "link", "set", outer, "netns", self.hub)
            sh("ip", "link", "set", inner, "netns", ns)
            self._ns_sh(self.hub, "ip", "link", "set", outer, "master", "br0")
            self._localnet(self.hub, outer)
            self._ns_sh(self.hub, "ip", "link", "set", outer, "up")
            self._ns_sh(ns, "ip", "link", "set", "lo", "up")
            self._localnet(ns, inner)
            self._ns_sh(ns, "ip", "addr", "add", f"{self.addr[name]}/24", "dev", inner)
            self._ns_sh(ns, "ip", "link", "set", inner, "up")

    def _localnet(self, ns, dev):
        self._ns_sh(ns, "sysctl", "-qw", "net.ipv4.conf.all.route_localnet=1",
                    f"net.ipv4.conf.{dev}.route_localnet=1")

    def _ns_sh(self, ns, *args, check=True):
        return sh("ip", "netns", "exec", ns, *args, check=check)

    def prefix(self, name):
        return ["ip", "netns", "exec", self.ns[name]]

    def partition(self, a, b):
        for x, y in ((a, b), (b, a)):
            self._ns_sh(self.ns[x], "ip", "route", "add", "blackhole", f"{self.addr[y]}/32")
            self.blackholes.add((x, y))

    def heal(self):
        for x, y in sorted(self.blackholes):
            self._ns_sh(self.ns[x], "ip", "route", "del", "blackhole", f"{self.addr[y]}/32",
                        check=False)
        self.blackholes.clear()

    def teardown(self):
        for ns in [self.hub, *self.ns.values()]:
            sh("ip", "netns", "del", ns, check=False)


class Proc:
    """One server process; kill -9, pause and restart keep its ports and dirs."""

    def __init__(self, name, argv, log_path, prefix=()):
        self.name, self.argv, self.log_path, self.prefix = name, argv, log_path, list(prefix)
        self.p = None

    def start(self):
        log = open(self.log_path, "ab")
        # kafka-rs also logs to logs/server.log under its working directory:
        # keep that in the run dir, not in the caller's.
        self.p = subprocess.Popen(self.prefix + self.argv, stdout=log, stderr=log,
                                  stdin=subprocess.DEVNULL, start_new_session=True,
                                  cwd=os.path.dirname(self.log_path))
        log.close()

    def alive(self):
        return self.p is not None and self.p.poll() is None

    def signal(self, sig):
        if self.alive():
            # The process group: `ip netns exec` execs, but be robust to wrappers.
            os.killpg(self.p.pid, sig)

    def kill9(self):
        if self.p is not None:
            self.signal(signal.SIGKILL)
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                pass
            self.p = None

    def terminate(self, timeout=20):
        if self.alive():
            self.signal(signal.SIGTERM)
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill9()
        self.p = None


class Cluster:
    """A ZooKeeper server (standalone, or the one embedded in a single broker)
    and `brokers` brokers."""

    def __init__(self, binary, run_dir, brokers, embedded_zk, net=None, broker_props=None,
                 log_dirs=None):
        self.binary, self.dir, self.net = binary, run_dir, net
        self.embedded = embedded_zk
        self.zk_port = free_port()
        self.zk_host = net.addr["zk"] if net else "127.0.0.1"
        self.zk = None
        if not embedded_zk:
            zk_dir = os.path.join(run_dir, "zk")
            os.makedirs(zk_dir, exist_ok=True)
            cfg = os.path.join(zk_dir, "zoo.cfg")
            with open(cfg, "w") as f:
                f.write(f"dataDir={zk_dir}/data\nclientPort={self.zk_port}\n"
                        f"clientPortAddress={self.zk_host}\ntickTime=500\n")
            self.zk = Proc("zk", [binary, "zookeeper-start", cfg],
                           os.path.join(zk_dir, "zookeeper.log"), net.prefix("zk") if net else ())
        self.brokers = {}
        self.ports = {}
        self.log_dirs = {}
        for i in range(brokers):
            name = f"b{i}"
            host = net.addr[name] if net else "127.0.0.1"
            port = free_port()
            log_dir = (log_dirs or {}).get(i) or os.path.join(run_dir, name, "logs")
            os.makedirs(os.path.join(run_dir, name), exist_ok=True)
            os.makedirs(log_dir, exist_ok=True)
            self.log_dirs[i] = log_dir
            props = {
                "broker.id": i,
                "listeners": f"PLAINTEXT://{host}:{port}",
                "log.dirs": log_dir,
                "zookeeper.session.timeout.ms": 6000,
                "offsets.topic.replication.factor": min(brokers, 3),
                "transaction.state.log.replication.factor": min(brokers, 3),
                "transaction.state.log.min.isr": 1,
                "group.initial.rebalance.delay.ms": 0,
                "replica.lag.time.max.ms": 5000,
                "log.segment.bytes": 1 << 20,
            }
            if embedded_zk:
                props["embedded.zookeeper.port"] = self.zk_port
            else:
                props["zookeeper.connect"] = f"{self.zk_host}:{self.zk_port}"
            props.update(broker_props or {})
            argv = [binary, "server-start"]
            for k, v in props.items():
                argv += ["--override", f"{k}={v}"]
            self.ports[i] = (host, port)
            self.brokers[i] = Proc(name, argv, os.path.join(run_dir, name, "server.log"),
                                   net.prefix(name) if net else ())

    @property
    def bootstrap(self):
        return ",".join(f"{h}:{p}" for h, p in self.ports.values())

    @property
    def zk_connect(self):
        return f"{self.zk_host}:{self.zk_port}"

    def start_zk(self, timeout=30):
        if self.zk is not None:
            self.zk.start()
            wait_until("ZooKeeper to accept", timeout, lambda: can_connect(self.zk_host,
                                                                           self.zk_port))

    def start_broker(self, i, timeout=60):
        self.brokers[i].start()
        host, port = self.ports[i]
        wait_until(f"broker {i} to accept", timeout,
                   lambda: can_connect(host, port) or not self.brokers[i].alive())
        if not self.brokers[i].alive():
            raise RuntimeError(f"broker {i} exited at start; see {self.brokers[i].log_path}")

    def start(self):
        self.start_zk()
        for i in self.brokers:
            self.start_broker(i)

    def stop(self):
        for b in self.brokers.values():
            b.kill9()
        if self.zk is not None:
            self.zk.kill9()

    def kafka_rs(self, *args, timeout=60):
        return subprocess.run([self.binary, *args], capture_output=True, text=True,
                              timeout=timeout, cwd=self.dir)
