"""Fault-injection runs: start a cluster of real processes, run the workload,
inject faults on a seeded schedule, heal, wait for convergence, check the
history, print a summary and write history.json + history.svg per scenario.

  scripts/faults --list
  scripts/faults --scenario single-kill --duration 60 --seed 7
  scripts/faults --scenario smoke --duration 20
  scripts/faults --selftest
"""

import argparse
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from . import checker, report
from .bounded import Watchdog, dump_stacks_on_sigusr1
from .cluster import Cluster, Net, sh, wait_until
from .replicas import batches, compare_replicas, segments

TOPIC = "faults"
PARTITIONS = 3
SESSION_TIMEOUT_S = 6.0
# What the workload may take past its duration: producers flush and close,
# consumers close, each within its own bound (workload.py).
HEAL_TIMEOUT_S = 120
# Past its duration, the most a whole scenario may take (start, faults
# finishing, healing, workload shutdown, final read, replica comparison);
# then the watchdog prints every thread's stack and ends it.
SCENARIO_SLACK_S = 600

# name -> how to build the cluster and which faults to draw from.
# `promises`: the configuration promises no loss, so any violation fails the
# run; otherwise violations are reported as findings.
SCENARIOS = {
    "single-kill": dict(brokers=1, embedded=True, faults=["kill-broker"],
                        about="kill -9 of the only broker (embedded ZooKeeper), acks=1 and all"),
    "single-torn-tail": dict(brokers=1, embedded=True, faults=["torn-tail"],
                             about="kill -9, cut the last segment mid-batch, restart"),
    "single-pause": dict(brokers=1, faults=["pause"],
                         about="SIGSTOP the broker past its ZooKeeper session, SIGCONT"),
    "single-zk-partition": dict(brokers=1, net=True, faults=["partition-zk"],
                                about="broker cut off from ZooKeeper, clients still reach it"),
    "single-disk-full": dict(brokers=1, tmpfs=True, faults=["disk-full"],
                             about="fill the broker's log.dirs (tmpfs), free it, restart"),
    "zk-kill": dict(brokers=0, workload="zk", faults=["kill-zk"],
                    about="kill -9 of a standalone zookeeper-start under kazoo creates"),
    "leader-kill": dict(brokers=3, replicated=True, faults=["kill-leader"],
                        about="kill -9 of partition 0's leader, min.insync.replicas=2"),
    "controller-kill": dict(brokers=3, replicated=True, faults=["kill-controller"],
                            about="kill -9 of the controller"),
    "leader-partition": dict(brokers=3, replicated=True, net=True,
                             faults=["partition-leader"],
                             about="leader cut off from ZooKeeper and brokers, clients reach it;"
                                   " min.insync.replicas=2, acks=all"),
    "leader-partition-unclean": dict(brokers=3, replicated=True, net=True, promises=False,
                                     faults=["partition-leader"],
                                     props={"unclean.leader.election.enable": "true",
                                            "min.insync.replicas": 1},
                                     about="as leader-partition with unclean election and "
                                           "min.insync.replicas=1; the cut-off leader cannot "
                                           "shrink the ISR without ZooKeeper, so the election "
                                           "stays clean and only acks=1 records may be lost"),
    # The 2013 Jepsen finding: followers cut off from the leader (not from
    # ZooKeeper) leave the ISR, the leader acknowledges acks=all writes
    # alone, dies, and an out-of-sync follower takes over. Both runs draw
    # the same schedule; only the configuration differs.
    "shrunk-isr-leader-kill": dict(brokers=3, replicated=True, net=True, min_duration=30,
                                   faults=["shrink-isr-kill-leader"],
                                   props={"min.insync.replicas": 1},
                                   about="followers cut off from the leader until the ISR is the "
                                         "leader alone, then kill -9 of the leader; "
                                         "min.insync.replicas=1, clean elections only"),
    "shrunk-isr-leader-kill-unclean": dict(brokers=3, replicated=True, net=True, promises=False,
                                           expect=["lost"], min_duration=30,
                                           faults=["shrink-isr-kill-leader"],
                                           props={"unclean.leader.election.enable": "true",
                                                  "min.insync.replicas": 1},
                                           about="as shrunk-isr-leader-kill with unclean election: "
                                                 "acks=all loss is expected, and must be detected"),
    "follower-partition": dict(brokers=3, replicated=True, net=True,
                               faults=["partition-follower"],
                               about="a follower cut off from the other brokers (not from "
                                     "ZooKeeper): the ISR shrinks, then grows back"),
    "multi-pause": dict(brokers=3, replicated=True, faults=["pause"],
                        about="SIGSTOP a broker past its session, SIGCONT"),
    "rolling-restart": dict(brokers=3, replicated=True, faults=["restart-each"],
                            about="SIGTERM and restart each broker in turn"),
}
SINGLE_NODE = ["single-kill", "single-torn-tail", "single-pause", "single-zk-partition",
               "single-disk-full", "zk-kill"]
MULTI_NODE = [n for n in SCENARIOS if n not in SINGLE_NODE]
# Left out of the smoke to keep it short: their promise (or their finding)
# is also checked by a scenario that stays in it.
NOT_IN_SMOKE = ["leader-partition-unclean", "shrunk-isr-leader-kill"]


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


class Nemesis:
    def __init__(self, cluster, rng, events, net, tmpfs, history_path=None):
        self.c, self.rng, self.events, self.net, self.tmpfs = cluster, rng, events, net, tmpfs
        self.down = set()
        self.unknown_role = False
        self.history = HistoryTail(history_path) if history_path else None

    def record(self, kind, start, **kw):
        ev = {"type": "fault", "kind": kind, "t": start, "end": time.time(), **kw}
        if self.unknown_role:
            ev["target_role_unknown"] = True
            self.unknown_role = False
        self.events.append(ev)
        log(f"fault {kind} {kw} {ev['end'] - start:.1f}s")

    def leader(self, partition=0):
        out = self.c.kafka_rs("topics", "--describe", "--bootstrap-server", self.c.bootstrap,
                              "--topic", TOPIC, timeout=20).stdout
        for line in out.splitlines():
            m = re.search(r"Partition: (\d+)\s+Leader: (-?\d+)", line)
            if m and int(m.group(1)) == partition and int(m.group(2)) >= 0:
                return int(m.group(2))
        # No leader known (an election in progress): any broker will do,
        # and the fault event says so.
        self.unknown_role = True
        return self.rng.choice(sorted(self.c.brokers))

    def partition_state(self, partition):
        """Leader and ISR as the controller sees them (the state znode), or
        None while it cannot be read."""
        r = self.c.kafka_rs("zookeeper-shell", self.c.zk_connect, "get",
                            f"/brokers/topics/{TOPIC}/partitions/{partition}/state", timeout=20)
        m = re.search(r"\{.*\}", r.stdout)
        if r.returncode != 0 or not m:
            return None
        try:
            state = json.loads(m.group(0))
        except ValueError:
            return None
        return {"leader": state.get("leader"), "isr": sorted(state.get("isr", []))}

    def controller(self):
        out = self.c.kafka_rs("zookeeper-shell", self.c.zk_connect, "get", "/controller",
                              timeout=20).stdout
        m = re.search(r'"brokerid"\s*:\s*(\d+)', out)
        if m:
            return int(m.group(1))
        self.unknown_role = True
        return self.rng.choice(sorted(self.c.brokers))

    def restart(self, i):
        self.c.start_broker(i)
        self.down.discard(i)

    def kill_and_restart(self, kind, i, hold, before_start=None):
        t = time.time()
        self.c.brokers[i].kill9()
        self.down.add(i)
        time.sleep(hold)
        extra = before_start() if before_start else {}
        self.restart(i)
        self.record(kind, t, target=f"b{i}", **extra)

    def inject(self, kind):
        rng, hold = self.rng, self.rng.uniform(1.0, 4.0)
        if kind == "kill-broker":
            self.kill_and_restart(kind, rng.choice(sorted(self.c.brokers)), hold)
        elif kind == "kill-leader":
            self.kill_and_restart(kind, self.leader(), hold)
        elif kind == "kill-controller":
            self.kill_and_restart(kind, self.controller(), hold)
        elif kind == "torn-tail":
            i = rng.choice(sorted(self.c.brokers))
            p = rng.randrange(PARTITIONS)
            self.kill_and_restart(kind, i, 0.2, lambda: tear(self.c.log_dirs[i], p, rng))
        elif kind == "pause":
            i = rng.choice(sorted(self.c.brokers))
            t = time.time()
            self.c.brokers[i].signal(signal.SIGSTOP)
            time.sleep(SESSION_TIMEOUT_S + rng.uniform(1.0, 3.0))
            self.c.brokers[i].signal(signal.SIGCONT)
            self.record(kind, t, target=f"b{i}")
        elif kind == "kill-zk":
            t = time.time()
            self.c.zk.kill9()
            time.sleep(hold)
            self.c.start_zk()
            self.record(kind, t, target="zk")
        elif kind == "partition-zk":
            i = rng.choice(sorted(self.c.brokers))
            t = time.time()
            self.net.partition(f"b{i}", "zk")
            time.sleep(SESSION_TIMEOUT_S + rng.uniform(1.0, 4.0))
            self.net.heal()
            self.record(kind, t, target=f"b{i}|zk")
        elif kind == "partition-leader":
            i = self.leader()
            t = time.time()
            for other in ["zk"] + [f"b{j}" for j in self.c.brokers if j != i]:
                self.net.partition(f"b{i}", other)
            time.sleep(SESSION_TIMEOUT_S + rng.uniform(2.0, 5.0))
            self.net.heal()
            self.record(kind, t, target=f"b{i}|rest")
        elif kind == "partition-follower":
            leader = self.leader()
            i = rng.choice([j for j in sorted(self.c.brokers) if j != leader])
            t = time.time()
            for j in self.c.brokers:
                if j != i:
                    self.net.partition(f"b{i}", f"b{j}")
            time.sleep(SESSION_TIMEOUT_S + rng.uniform(1.0, 4.0))
            self.net.heal()
            self.record(kind, t, target=f"b{i}|brokers")
        elif kind == "shrink-isr-kill-leader":
            self.shrink_isr_kill_leader(rng.uniform(1.0, 2.0))
        elif kind == "disk-full":
            self.disk_full(rng.uniform(2.0, 5.0))
        elif kind == "restart-each":
            for i in sorted(self.c.brokers):
                t = time.time()
                self.c.brokers[i].terminate()
                self.restart(i)
                self.record(kind, t, target=f"b{i}")
                time.sleep(2.0)
        else:
            raise ValueError(kind)

    def shrink_isr_kill_leader(self, hold, p=0, bound=45.0):
        """Cuts partition `p`'s leader off from its followers (both sides
        keep ZooKeeper and the clients), waits until the ISR is the leader
        alone and acks=all producers have had records acknowledged by it
        alone, kills it, waits for the controller to act on the death, and
        restarts it. Each step is bounded; the event says how far it got,
        so a run where the loss could not happen shows why."""
        state = self.partition_state(p)
        i = state["leader"] if state and state["leader"] is not None and state["leader"] >= 0 \
            else self.leader(p)
        t = time.time()
        for j in self.c.brokers:
            if j != i:
                self.net.partition(f"b{i}", f"b{j}")
        info = {"partition": p, "isr_before": state["isr"] if state else None}
        shrunk = poll(bound, lambda: (self.partition_state(p) or {}).get("isr") == [i])
        info["isr_shrunk"] = shrunk
        if shrunk:
            since = time.time()
            info["acks_all_alone"] = self.history.wait_acks_all(p, since, 20, bound)
        self.c.brokers[i].kill9()
        self.down.add(i)
        self.net.heal()
        moved = poll(bound, lambda: (self.partition_state(p) or {}).get("leader") not in (i, None))
        after = self.partition_state(p) or {}
        info["leader_after"] = after.get("leader")
        info["isr_after"] = after.get("isr")
        info["unclean"] = bool(moved and after.get("leader", -1) >= 0 and shrunk)
        time.sleep(hold)
        self.restart(i)
        self.record("shrink-isr-kill-leader", t, target=f"b{i}", **info)

    def disk_full(self, hold):
        i = sorted(self.c.brokers)[0]
        filler = os.path.join(self.tmpfs, "filler")
        t = time.time()
        with open(filler, "wb") as f:
            try:
                while True:
                    f.write(b"\0" * (1 << 20))
                    f.flush()
            except OSError:
                pass
        time.sleep(hold)
        probe = self.c.kafka_rs("console-consumer", "--bootstrap-server", self.c.bootstrap,
                                "--topic", TOPIC, "--partition", "0", "--offset", "earliest",
                                "--max-messages", "1", "--timeout-ms", "5000", timeout=30)
        served = probe.returncode == 0 and probe.stdout.strip() != ""
        self.events.append({"type": "probe_read", "ok": served, "t": time.time(),
                            "detail": probe.stderr.strip()[-300:]})
        os.unlink(filler)
        # Kafka takes a log dir offline on a write error; space coming back
        # needs a restart to bring it online, as it does for Kafka.
        self.c.brokers[i].kill9()
        self.restart(i)
        self.record("disk-full", t, target=f"b{i}", reads_served=served)
        # A restarted broker registers only once its old ZooKeeper session
        # has expired; filling the disk again before that would keep it
        # from ever taking writes, and the scenario would test nothing.
        time.sleep(SESSION_TIMEOUT_S + 2.0)

    def heal_all(self):
        if self.net:
            self.net.heal()
        for i, b in self.c.brokers.items():
            b.signal(signal.SIGCONT)
            if not b.alive():
                self.restart(i)
        if self.c.zk is not None and not self.c.zk.alive():
            self.c.start_zk()


def poll(timeout, cond, period=0.2):
    """True once `cond()` holds, False when `timeout` passed first."""
    deadline = time.time() + timeout
    while not cond():
        if time.time() > deadline:
            return False
        time.sleep(period)
    return True


class HistoryTail:
    """Reads the workload's history while it is written (the workload is
    another process), so a fault can wait for what the clients saw."""

    def __init__(self, path):
        self.path, self.pos, self.partial = path, 0, ""
        self.acks_all = set()
        self.acks = []  # (partition, t) of acks=all acknowledgements

    def poll(self):
        if not os.path.exists(self.path):
            return
        with open(self.path) as f:
            f.seek(self.pos)
            chunk = f.read()
            self.pos = f.tell()
        lines = (self.partial + chunk).split("\n")
        self.partial = lines.pop()
        for line in lines:
            if not line.strip():
                continue
            e = json.loads(line)
            if e["type"] == "producer" and str(e.get("acks")) == "all":
                self.acks_all.add(e["producer"])
            elif e["type"] == "ack" and e["producer"] in self.acks_all:
                self.acks.append((e["partition"], e["t"]))

    def wait_acks_all(self, partition, since, count, timeout):
        """How many acks=all acknowledgements of `partition` after `since`
        arrived, waiting until `count` did or `timeout` passed."""
        def seen():
            self.poll()
            return sum(1 for p, t in self.acks if p == partition and t > since)
        poll(timeout, lambda: seen() >= count)
        return seen()


def tear(log_dir, p, rng):
    """Cuts the last non-empty segment of `TOPIC-p` inside its last batch."""
    for seg in reversed(segments(log_dir, TOPIC, p)):
        bs = batches(seg)
        if bs:
            pos, base, _, raw = bs[-1]
            cut = pos + rng.randint(1, len(raw) - 1)
            os.truncate(seg, cut)
            return {"topic": TOPIC, "partition": p, "from_offset": base, "segment": seg,
                    "cut_at": cut}
    return {"topic": TOPIC, "partition": p, "note": "no batch to tear"}


def python_exe():
    return sys.executable


def workload(kind, *args, timeout, log_path):
    """Starts a workload process. Its output (librdkafka logs every failed
    connect) goes to a file: a pipe nobody reads until the end fills up and
    blocks the client threads that log, which stalls the producers."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    cmd = [python_exe(), "-m", "faultlib.workload", kind, *map(str, args)]
    # Its own watchdog fires before the kill below, so the log says where
    # it was stuck.
    env = dict(os.environ, KAFKA_RS_FAULTS_WATCHDOG_S=str(max(timeout - 10, 5)))
    with open(log_path, "ab") as out:
        proc = subprocess.Popen(cmd, cwd=here, stdout=out, stderr=subprocess.STDOUT, env=env)
    RUNNING.append(proc)
    return proc, timeout, log_path


# Workload processes still running, ended with the scenario even when it
# fails or the harness is stopped.
RUNNING = []


def stop_workloads():
    while RUNNING:
        proc = RUNNING.pop()
        if proc.poll() is None:
            proc.kill()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                log(f"workload {proc.pid} did not die after SIGKILL")


def wait_workload(started, what):
    proc, timeout, log_path = started
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(30)
        raise RuntimeError(f"{what} did not finish within {timeout}s (its log: {log_path}):"
                           f"\n{tail(log_path)}")
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed ({proc.returncode}; its log, with the stacks of a "
                           f"workload past its watchdog: {log_path}):\n{tail(log_path)}")


def tail(path, n=2000):
    with open(path, "rb") as f:
        return f.read().decode(errors="replace")[-n:]


def read_jsonl(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def create_topic(cluster, spec):
    rf = 3 if spec.get("replicated") else 1
    msi = (spec.get("props") or {}).get("min.insync.replicas", 2 if rf == 3 else 1)
    deadline = time.time() + 60
    while True:
        r = cluster.kafka_rs("topics", "--create", "--bootstrap-server", cluster.bootstrap,
                             "--topic", TOPIC, "--partitions", str(PARTITIONS),
                             "--replication-factor", str(rf),
                             "--config", f"min.insync.replicas={msi}", timeout=30)
        if r.returncode == 0:
            return
        if time.time() > deadline:
            raise RuntimeError(f"cannot create topic: {r.stderr}")
        time.sleep(0.5)


def run_scenario(name, spec, duration, seed, out_dir, binary, max_faults, net):
    os.makedirs(out_dir, exist_ok=True)
    rng = random.Random(seed)
    run_dir = tempfile.mkdtemp(prefix=f"faults-{name}-")
    tmpfs = None
    cluster = None
    events = []
    try:
        log_dirs = None
        if spec.get("tmpfs"):
            tmpfs = os.path.join(run_dir, "tmpfs")
            os.makedirs(tmpfs)
            sh("mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", tmpfs)
            log_dirs = {0: os.path.join(tmpfs, "logs")}
        props = {k: v for k, v in (spec.get("props") or {}).items()
                 if k != "min.insync.replicas"}
        cluster = Cluster(binary, run_dir, spec["brokers"], spec.get("embedded", False), net,
                          props, log_dirs)
        ACTIVE.update(cluster=cluster, tmpfs=tmpfs)
        cluster.start()
        history_path = os.path.join(run_dir, "workload.jsonl")
        wlog = os.path.join(out_dir, "workload.log")
        zk_mode = spec.get("workload") == "zk"
        if zk_mode:
            w = workload("zk", cluster.zk_connect, duration, history_path,
                         timeout=duration + HEAL_TIMEOUT_S, log_path=wlog)
        else:
            create_topic(cluster, spec)
            w = workload("kafka", cluster.bootstrap, TOPIC, PARTITIONS, duration, history_path,
                         timeout=duration + HEAL_TIMEOUT_S, log_path=wlog)
        nemesis = Nemesis(cluster, rng, events, net, tmpfs, history_path)
        start = time.time()
        faults = 0
        while faults < max_faults:
            time.sleep(rng.uniform(1.0, 3.0))
            # Leave room for the last fault to finish inside the workload.
            if time.time() - start > duration - 12:
                break
            nemesis.inject(rng.choice(spec["faults"]))
            faults += 1
        nemesis.heal_all()
        log(f"{name}: healed after {faults} faults; waiting for the workload")
        wait_workload(w, "workload")
        final_path = os.path.join(run_dir, "final.jsonl")
        if zk_mode:
            wait_workload(workload("zk-final", cluster.zk_connect, final_path, timeout=90,
                                   log_path=wlog), "final read")
        else:
            wait_workload(workload("final", cluster.bootstrap, TOPIC, PARTITIONS, final_path,
                                   timeout=120, log_path=wlog), "final read")
        history = read_jsonl(history_path) + events + read_jsonl(final_path)
        highs = next((e["high"] for e in history if e["type"] == "high_watermarks"), {})
        if not zk_mode:
            wait_until_replicas_match(cluster, highs, history)
        history.sort(key=lambda e: e.get("t", 0))
    finally:
        stop_workloads()
        ACTIVE.clear()
        if cluster is not None:
            cluster.stop()
            keep_logs(cluster, out_dir)
        if tmpfs:
            sh("umount", "-l", tmpfs, check=False)
        if sys.exc_info()[0] is not None:
            shutil.rmtree(run_dir, ignore_errors=True)
    result = checker.check(history, replicated=spec.get("replicated", False))
    if spec.get("tmpfs"):
        probes = [e for e in history if e["type"] == "probe_read"]
        result["stats"]["reads_served_while_full"] = sum(e["ok"] for e in probes)
        for e in probes:
            if not e["ok"]:
                result["violations"].append({"kind": "no-reads-while-full",
                                             "message": "the broker served no read while its "
                                                        "log dir was full", "excerpt": [e]})
    result.update(scenario=name, seed=seed, duration=duration, about=spec["about"],
                  promises=spec.get("promises", True))
    # A configuration that allows a loss, on a schedule built to cause
    # it, must show it: otherwise the checker (or the fault) is blind.
    result["expected_missing"] = checker.missing_findings(result, spec.get("expect", []))
    if result["violations"]:
        # The brokers' log dirs explain a violation (dump-log shows each
        # batch's producer id, epoch and sequence): keep them beside it.
        shutil.move(run_dir, os.path.join(out_dir, "data"))
        log(f"{name}: data dirs kept in {os.path.join(out_dir, 'data')}")
    else:
        shutil.rmtree(run_dir, ignore_errors=True)
    with open(os.path.join(out_dir, "history.json"), "w") as f:
        json.dump(history, f)
    with open(os.path.join(out_dir, "result.json"), "w") as f:
        json.dump(result, f, indent=1)
    report.svg(history, os.path.join(out_dir, "history.svg"), f"{name} seed={seed}")
    return result


def wait_until_replicas_match(cluster, highs, history, timeout=30):
    """Followers may still be fetching after healing: compare until equal
    or until the bound, and keep the last differences."""
    deadline = time.time() + timeout
    while True:
        found, compared = compare_replicas(cluster.log_dirs, highs, TOPIC)
        if not found or time.time() > deadline:
            history.extend(found)
            history.append({"type": "replica_compare", "t": time.time(), **compared})
            return
        time.sleep(1.0)


def keep_logs(cluster, out_dir):
    for proc in list(cluster.brokers.values()) + ([cluster.zk] if cluster.zk else []):
        if os.path.exists(proc.log_path):
            shutil.copy(proc.log_path, os.path.join(out_dir, f"{proc.name}.log"))


def expand(names):
    out = []
    for n in names.split(","):
        if n in ("all", "smoke"):
            names = SINGLE_NODE + (MULTI_NODE if os.environ.get("KAFKA_RS_FAULTS_MULTI") != "0"
                                   else [])
            out += [m for m in names if n == "all" or m not in NOT_IN_SMOKE]
        elif n == "single":
            out += SINGLE_NODE
        elif n == "multi":
            out += MULTI_NODE
        elif n in SCENARIOS:
            out.append(n)
        else:
            raise SystemExit(f"unknown scenario {n}; --list shows them")
    return out


def run_inner(args):
    """Runs the scenarios, each in a child process of its own."""
    results = []
    for i, name in enumerate(expand(args.scenario)):
        spec = SCENARIOS[name]
        if (spec.get("net") or spec.get("tmpfs")) and os.geteuid() != 0:
            log(f"{name}: skipped (needs root for namespaces or tmpfs)")
            continue
        seed = args.seed + i
        # Some faults take longer than a short --duration leaves room for.
        duration = max(args.duration, spec.get("min_duration", 0))
        log(f"{name}: {spec['about']} (duration {duration}s, seed {seed})")
        try:
            results.append(run_child(name, args, seed, duration))
        except Exception as e:  # noqa: BLE001 - one broken scenario must not hide the rest
            log(f"{name}: did not finish: {e!r}")
            results.append(unfinished(name, seed, repr(e)))
    return results


def unfinished(name, seed, why):
    return {"scenario": name, "seed": seed, "stats": {}, "promises": True,
            "violations": [{"kind": "harness", "message": f"the scenario did not finish: {why}",
                            "excerpt": []}]}


def run_child(name, args, seed, duration):
    """Runs one scenario in a child process (inside the hub namespace when
    it partitions the network) and reads its result.json. The child ends
    itself through its watchdog (stacks, then cleanup) past
    `duration + SCENARIO_SLACK_S`; this waits a margin longer before
    killing it, and stops it cleanly (SIGTERM, then SIGKILL) when this
    process is stopped."""
    spec = SCENARIOS[name]
    result_path = os.path.join(args.out, name, "result.json")
    if os.path.exists(result_path):
        os.unlink(result_path)
    cmd = [python_exe(), "-m", "faultlib.main", "--child", "--scenario", name,
           "--duration", str(duration), "--seed", str(seed), "--out", args.out,
           "--bin", args.bin, "--max-faults", str(args.max_faults)]
    net = None
    if spec.get("net"):
        tag = str(os.getpid() % 100000)
        net = Net(tag, ["zk"] + [f"b{i}" for i in range(spec["brokers"])])
        cmd = ["ip", "netns", "exec", net.hub] + cmd + ["--ns-tag", tag]
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    bound = duration + SCENARIO_SLACK_S + 120
    why = None
    try:
        if net:
            net.setup()
        proc = subprocess.Popen(cmd, cwd=here)
        try:
            proc.wait(bound)
        except subprocess.TimeoutExpired:
            why = f"still running after {bound:g}s, past its own watchdog; killed"
            log(f"{name}: {why}")
            proc.kill()
            proc.wait(30)
        except BaseException:
            # Stopped ourselves: the child tears its cluster down on SIGTERM.
            proc.terminate()
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
            raise
    finally:
        if net:
            net.teardown()
    if not os.path.exists(result_path):
        return unfinished(name, seed, why or f"exit status {proc.returncode}; see the output "
                                             f"above")
    with open(result_path) as f:
        return json.load(f)


# What a scenario has running, for the watchdog to stop when it gives up.
ACTIVE = {}


def abandon():
    stop_workloads()
    cluster = ACTIVE.get("cluster")
    if cluster is not None:
        cluster.stop()
    if ACTIVE.get("tmpfs"):
        sh("umount", "-l", ACTIVE["tmpfs"], check=False)


def run_as_child(args):
    """The child side of `run_child`: one scenario, bounded by a watchdog;
    a scenario that fails writes why into its result.json."""
    spec = SCENARIOS[args.scenario]
    net = None
    if args.ns_tag:
        net = Net(args.ns_tag, ["zk"] + [f"b{i}" for i in range(spec["brokers"])])
    out_dir = os.path.join(args.out, args.scenario)
    dog = Watchdog(f"scenario {args.scenario}", args.duration + SCENARIO_SLACK_S,
                   before_exit=abandon)
    try:
        run_scenario(args.scenario, spec, args.duration, args.seed, out_dir, args.bin,
                     args.max_faults, net)
    except Exception as e:  # noqa: BLE001 - the parent reports it with the others
        log(f"{args.scenario}: did not finish: {e!r}")
        os.makedirs(out_dir, exist_ok=True)
        with open(os.path.join(out_dir, "result.json"), "w") as f:
            json.dump(unfinished(args.scenario, args.seed, repr(e)), f, indent=1)
    finally:
        dog.cancel()
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(prog="scripts/faults", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenario", default="single",
                    help="comma-separated names, or single, multi, smoke, all")
    ap.add_argument("--duration", type=float, default=60.0, help="seconds of workload")
    ap.add_argument("--seed", type=int, default=1, help="seed of the fault schedule")
    ap.add_argument("--max-faults", type=int, default=100, help="at most this many faults")
    ap.add_argument("--out", default="target/faults", help="where history files go")
    ap.add_argument("--bin", default=None, help="kafka-rs binary (default target/debug)")
    ap.add_argument("--list", action="store_true", help="list the scenarios")
    ap.add_argument("--selftest", action="store_true", help="run the checker's own tests")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--ns-tag", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    if args.list:
        for n, s in SCENARIOS.items():
            print(f"{n:26} {s['about']}")
        return 0
    if args.selftest:
        return subprocess.call([python_exe(), "-m", "unittest", "-v", "faultlib.test_checker",
                                "faultlib.test_bounded"], cwd=os.path.join(repo, "scripts"))
    args.out = os.path.abspath(args.out)
    args.bin = os.path.abspath(args.bin or os.path.join(repo, "target", "debug", "kafka-rs"))
    if args.duration < 15:
        raise SystemExit("--duration must be at least 15 s (a fault needs room to heal)")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    dump_stacks_on_sigusr1()
    if args.child:
        return run_as_child(args)
    results = run_inner(args)
    report.table(results)
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump(results, f, indent=1)
    failed = [r for r in results
              if (r["violations"] and r.get("promises", True)) or r.get("expected_missing")]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
