"""Rebalance benchmark: how long a 10-member consumer group (librdkafka via
confluent-kafka) takes to reach a stable new generation after one member
leaves with LeaveGroup, and after one is killed with kill -9.

The clock starts when the member is stopped and ends at the last
on_assign callback among the survivors once their assignments cover
every partition exactly once. Members run groups_rebalance.py's member
mode (session.timeout.ms=6000, heartbeat.interval.ms=500).

Usage: group_rebalance.py BOOTSTRAP [ROUNDS]
Prints one line per round and a JSON summary line last."""
import json
import os
import signal
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "interop"))
import groups_rebalance as g  # noqa: E402

MEMBERS = 10


def covered(members):
    for m in members:
        m.drain()
    got = [m.assigned for m in members]
    if any(a is None for a in got):
        return False
    flat = sorted(p for a in got for p in a)
    return flat == list(range(g.PARTITIONS))


def last_assign_time(members, since):
    return max((m.last_assign for m in members if m.last_assign and m.last_assign >= since), default=None)


def run_round(bootstrap, group, how):
    members = [g.Member(bootstrap, group, f"{how}-{i}") for i in range(MEMBERS)]
    deadline = time.time() + 120
    while not (covered(members) and sum(len(m.assigned) > 0 for m in members) == MEMBERS):
        assert time.time() < deadline, "initial group never stabilized"
        time.sleep(0.05)
    time.sleep(1)
    victim = members[0]
    for m in members:
        m.assigned = None
    start = time.time()
    if how == "leave":
        victim.proc.send_signal(signal.SIGTERM)
        victim.proc.wait(30)
    else:
        victim.kill9()
    survivors = members[1:]
    while not covered(survivors):
        assert time.time() < start + 120, f"{how}: no stable generation"
        time.sleep(0.01)
    done = last_assign_time(survivors, start) or time.time()
    for m in survivors:
        m.stop()
    return done - start


def main():
    bootstrap = sys.argv[1]
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    g.PARTITIONS = MEMBERS
    g.TOPIC = "rebalance-bench"
    from confluent_kafka.admin import AdminClient, NewTopic
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(g.TOPIC, g.PARTITIONS, 1)])[g.TOPIC].result(30)
    results = {"leave": [], "kill9": []}
    for r in range(rounds):
        for how in ("leave", "kill9"):
            t = run_round(bootstrap, f"bench-{how}-{r}", how)
            results[how].append(t)
            print(f"round {r} {how}: {t * 1000:.0f} ms", flush=True)
    summary = {k: {"median_ms": round(statistics.median(v) * 1000), "runs_ms": [round(x * 1000) for x in v]}
               for k, v in results.items()}
    print("SUMMARY " + json.dumps(summary))


if __name__ == "__main__":
    main()
