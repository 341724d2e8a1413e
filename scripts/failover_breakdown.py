"""Where one failover's time goes, from the logs `KEEP=1
PROBE_CONFIG=debug=metadata,broker,topic,msg scripts/bench-failover.sh` keeps.

  failover_breakdown.py WORKDIR

For every round (a) (topic killN, its kill time in killN.killed) prints, in
ms after the kill: the dead broker's ZooKeeper session expiry (zk.log), the
controller's watch firing and its last election write (the controller's
server.log), the new leader taking over and the other survivor following
it (their server.log), the client's Metadata answers (librdkafka's debug
log: time, leader, brokers listed), whether librdkafka handed the partition
back to "no leader" when it dropped the dead broker ("Reverting from
preferred replica"), and the first acknowledged produce; then the median of
each step over the rounds."""
import datetime
import glob
import os
import re
import statistics
import sys


def utc(stamp):
    return (
        datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ")
        .replace(tzinfo=datetime.timezone.utc)
        .timestamp()
    )


def server_lines(path):
    """(epoch seconds, text) of each line of a broker's or ZooKeeper's log."""
    out = []
    with open(path, errors="replace") as f:
        for line in f:
            parts = line.split(" ", 1)
            if len(parts) == 2 and parts[0].endswith("Z"):
                try:
                    out.append((utc(parts[0]), parts[1]))
                except ValueError:
                    pass
    return out


def first_after(lines, t, pattern):
    rx = re.compile(pattern)
    for ts, text in lines:
        if ts >= t:
            m = rx.search(text)
            if m:
                return ts, m
    return None, None


def client_view(path, topic, t):
    """librdkafka's Metadata answers for TOPIC partition 0 after t:
    [(ts, leader, brokers listed)], and the time of a revert to no leader."""
    answers, revert, brokers = [], None, None
    head = re.compile(r"^%\d\|([\d.]+)\|")
    # failover_probe.py's own line for kafka-python's Metadata answers.
    own = re.compile(r"^([\d.]+) metadata: leader (-?\d+|None), (\d+) brokers")
    with open(path, errors="replace") as f:
        for line in f:
            o = own.match(line)
            if o and float(o.group(1)) >= t:
                leader = -1 if o.group(2) == "None" else int(o.group(2))
                answers.append((float(o.group(1)), leader, int(o.group(3))))
                continue
            m = head.match(line)
            if not m or float(m.group(1)) < t:
                continue
            ts = float(m.group(1))
            b = re.search(r": (\d+) brokers, \d+ topics", line)
            if b:
                brokers = int(b.group(1))
            p = re.search(r"Topic %s \[0\] Leader (-?\d+) Epoch" % re.escape(topic), line)
            if p:
                answers.append((ts, int(p.group(1)), brokers))
            if revert is None and "Reverting from preferred replica" in line and topic in line:
                revert = ts
    return answers, revert


def first_ack(path, after):
    with open(path) as f:
        for line in f:
            sent, done, status = line.split()
            if status == "ok" and float(done) > after:
                return float(done)
    return None


def ms(a, b):
    return None if a is None or b is None else (b - a) * 1000


def main(work):
    zk = server_lines(os.path.join(work, "zk.log"))
    logs = {
        int(re.search(r"logs(\d+)", p).group(1)): server_lines(p)
        for p in glob.glob(os.path.join(work, "logs*", "server.log"))
    }
    steps = {}
    rounds = sorted(
        glob.glob(os.path.join(work, "kill*.killed")),
        key=lambda p: int(re.search(r"kill(\d+)", p).group(1)),
    )
    for killed in rounds:
        topic = os.path.basename(killed)[: -len(".killed")]
        k, dead = (float(x) for x in open(killed).read().split())
        row = {}
        expiry, _ = first_after(zk, k, r"session expired")
        row["session expired"] = ms(k, expiry)
        wrote, ctrl, watch = None, None, None
        for b, lines in logs.items():
            ts, m = first_after(
                lines, k, r"brokers \[\d+\] failed; wrote [1-9]\d* .*?\(([\d.]+) ms after the watch fired\)|"
                # A failure found by a listing, not a watch event (older
                # builds said "noticed by the periodic check").
                r"brokers \[\d+\] failed; wrote [1-9]\d* .*(?:found by listing|periodic check)"
            )
            if ts is not None and (wrote is None or ts < wrote):
                wrote, ctrl = ts, b
                watch = ts - float(m.group(1)) / 1000 if m.group(1) else None
        row["controller's watch fired"] = ms(k, watch)
        row["election written"] = ms(k, wrote)
        leader = None
        for b, lines in logs.items():
            ts, _ = first_after(lines, k, r"became leader .*partition=%s-0 " % re.escape(topic))
            if ts is not None:
                row["new leader took over"], leader = ms(k, ts), b
        # The dead broker, restarted, follows too; the survivor is first.
        follows = []
        for b, lines in logs.items():
            if b == leader:
                continue
            ts, _ = first_after(lines, k, r"became follower of broker %s partition=%s-0 " % (leader, re.escape(topic)))
            if ts is not None:
                follows.append(ts)
        row["other survivor follows it"] = ms(k, min(follows)) if follows else None
        answers, revert = client_view(os.path.join(work, topic + ".probe.err"), topic, k)
        seen = next((a for a in answers if a[1] == leader), None)
        row["client's Metadata names it"] = ms(k, seen[0]) if seen else None
        row["client reverted to no leader"] = ms(k, revert)
        # After the election: an ack read between the kill and the election
        # is the old leader's, seen late by a busy client.
        ack = first_ack(os.path.join(work, topic + ".acks"), wrote if wrote is not None else dead)
        row["first ack"] = ms(k, ack)
        client_file = os.path.join(work, topic + ".client")
        client = open(client_file).read().strip() if os.path.exists(client_file) else "librdkafka"
        print("%s, %s (controller %s, new leader %s):" % (topic, client, ctrl, leader))
        for name, v in row.items():
            print("  %-32s %s" % (name, "-" if v is None else "%.0f ms" % v))
            if v is not None:
                steps.setdefault(name, []).append(v)
        print("  client's Metadata answers (ms after the kill: leader, brokers listed):")
        print("    " + "; ".join("%.0f: %d, %s" % ((a[0] - k) * 1000, a[1], a[2]) for a in answers))
    if steps:
        print("median over %d round(s), ms after the kill:" % len(rounds))
        for name, v in steps.items():
            print("  %-32s %.0f (%s)" % (name, statistics.median(v), ", ".join("%.0f" % x for x in v)))


if __name__ == "__main__":
    main(sys.argv[1])
