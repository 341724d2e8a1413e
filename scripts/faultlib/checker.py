"""The history checker: a verdict on every acknowledged record.

A history is a list of events (dicts with a "type" and a wall-clock "t").
The workload writes send/ack/error/read/commit/committed events, the
nemesis writes fault events, and after healing the harness appends the
final state: "final" records (everything below the high watermark, read
from the beginning) and "zk_final" znodes. The checker knows nothing about
processes or sockets, so its tests feed it hand-written histories.

What each check promises (and why it may legitimately not apply):
- lost: an acknowledged value missing from the final log. A torn segment
  tail destroys data on purpose: acks at or past the torn batch's base
  offset, given before the torn broker restarted, are excused and counted
  apart. On a replicated cluster an acks=1 ack says only that the leader
  wrote the record, and Kafka may lose it when leadership moves before a
  follower copied it: such a loss is counted (lost_acks1), not flagged.
- duplicated: a value present more than once. Only a violation for an
  idempotent producer (exactly once); otherwise counted (at least once).
- reordered: a producer's acknowledged values, in one partition, must sit
  at increasing offsets in increasing sequence order where its client and
  configuration promise that order (see `order_promised`); elsewhere a
  reordering is counted (reordered_unpromised) with its excerpt, not
  flagged.
- acked offset: the offset an ack named must hold that value.
- vanished read: a consumer read (partition, offset, value) that the final
  log does not hold there: it read above the high watermark.
- commit backwards: committed group offsets observed over time never shrink.
- zk lost: an acknowledged ZooKeeper write missing or different at the end.
- replicas: the harness compares segment bytes across brokers below the high
  watermark and records the first mismatch per replica; any mismatch is a
  violation. How many batches it compared is counted, so a comparison that
  saw nothing cannot pass unnoticed.
"""

from collections import defaultdict

# A gap this long between acknowledgements, while the workload runs, counts
# as an unavailability window.
UNAVAILABLE_AFTER_S = 1.0


def tp_key(ev):
    return (ev["topic"], ev["partition"])


def _excerpt(*events):
    return [e for e in events if e is not None]


class Verdict:
    def __init__(self):
        self.violations = []
        self.notes = []
        self.stats = defaultdict(int)

    def flag(self, kind, message, excerpt):
        self.violations.append({"kind": kind, "message": message, "excerpt": excerpt})

    def note(self, kind, message, excerpt):
        """What the configuration allows but a reader of the run should
        see: counted in the stats, shown with its excerpt, not a failure."""
        self.notes.append({"kind": kind, "message": message, "excerpt": excerpt})

    def to_dict(self):
        return {"stats": dict(self.stats), "violations": self.violations, "notes": self.notes}


def _tears(history):
    """Per partition, the tears as (time, base offset destroyed). The time
    is the restart that ended the fault, not the kill: a client may record
    an ack it received before the kill only after it, but nothing at the
    destroyed offsets is acknowledged between the kill and the restart."""
    tears = defaultdict(list)
    for ev in history:
        if ev["type"] == "fault" and ev.get("kind") == "torn-tail" and "from_offset" in ev:
            tears[(ev["topic"], ev["partition"])].append((ev.get("end", ev["t"]),
                                                          ev["from_offset"]))
    return tears


def _excused(tears, key, t, offset):
    return any(t < tt and offset >= off for tt, off in tears.get(key, ()))


def order_promised(producer):
    """Whether a producer's configuration promises that its records keep
    their send order within a partition, across retries and leader moves.

    - Idempotent (any client): yes. The broker accepts a producer's batches
      of a partition only in sequence order (Kafka's enable.idempotence
      doc: order is kept with up to five requests in flight; librdkafka's
      CONFIGURATION.md: "produced exactly once and in the original produce
      order").
    - Not idempotent, one request in flight, Java client or kafka-python:
      yes. Their sender mutes a partition while a batch of it is in flight
      to any broker (Java's Sender with guaranteeMessageOrder, set when
      max.in.flight.requests.per.connection is 1; kafka-python since
      dpkp/kafka-python#698, KAFKA-3197), so a retry cannot fall behind a
      later batch sent to a new leader.
    - Not idempotent, librdkafka (confluent-kafka): no. librdkafka counts
      max.in.flight per broker connection (CONFIGURATION.md: "Maximum
      number of in-flight requests per broker connection";
      confluentinc/librdkafka#1969, "max.in.flight should be enforced per
      partition, not connection", open). When a partition's leader moves,
      a request still in flight to the old leader and the next one, sent
      to the new leader, are in flight together; if the first fails it is
      retried after the second was written. On one connection too: the
      limit holds back sending, not building, so the next request of the
      partition is built while one is in flight, and when that one fails
      its records go back to the queue behind the request already built,
      which is sent first (faultlib.inflight finds both in librdkafka's
      debug log).
    - Not idempotent with more than one request in flight: no, in every
      client (Kafka's max.in.flight.requests.per.connection doc).
    A producer event that does not say (older histories) is held to order.
    """
    if producer.get("idempotent", False):
        return True
    client = producer.get("client")
    in_flight = producer.get("max_in_flight", 1)
    if in_flight is not None and in_flight > 1:
        return False
    return client != "confluent"


def check(history, replicated=False):
    v = Verdict()
    producers = {e["producer"]: e for e in history if e["type"] == "producer"}
    final = defaultdict(dict)  # (topic, partition) -> offset -> value
    where = defaultdict(list)  # value -> [(topic, partition, offset)]
    final_events = {}
    for e in history:
        if e["type"] == "final":
            final[tp_key(e)][e["offset"]] = e["value"]
            where[e["value"]].append((e["topic"], e["partition"], e["offset"]))
            final_events[(e["topic"], e["partition"], e["offset"])] = e
    tears = _tears(history)
    sends = {}
    acks = defaultdict(dict)  # producer -> value -> ack event
    for e in history:
        if e["type"] == "send":
            sends[e["value"]] = e
        elif e["type"] == "ack":
            acks[e["producer"]][e["value"]] = e
    v.stats["faults"] = sum(1 for e in history if e["type"] == "fault")
    v.stats["sent"] = len(sends)
    v.stats["errors"] = sum(1 for e in history if e["type"] == "error")

    for pid, acked in acks.items():
        idempotent = producers.get(pid, {}).get("idempotent", False)
        per_tp = defaultdict(list)
        for value, ack in acked.items():
            v.stats["acknowledged"] += 1
            key = tp_key(ack)
            # A client may report an ack without an offset (librdkafka's
            # RD_KAFKA_OFFSET_INVALID): loss and duplicates are still
            # checked, offset order and placement cannot be. The broker
            # answers a retried batch with its original offsets, as
            # Kafka's log does for a batch among a producer's last five;
            # librdkafka itself acks without offset when a request's
            # response was lost but a later request of the same
            # idempotent producer succeeded (it infers the first was
            # written), and when a broker answers DUPLICATE_SEQUENCE_NUMBER.
            if ack.get("offset") is None:
                v.stats["acks_without_offset"] += 1
                if not where.get(value) and not (
                        replicated and str(producers.get(pid, {}).get("acks")) == "1"):
                    v.stats["lost"] += 1
                    v.flag("lost", f"{value} acknowledged (no offset) at {key[0]}-{key[1]} is "
                           f"not in the final log", _excerpt(sends.get(value), ack))
                elif len(where.get(value, [])) > 1 and idempotent:
                    v.stats["duplicated"] += 1
                    v.flag("duplicated", f"{value} from idempotent producer {pid} is in the "
                           f"log {len(where[value])} times", _excerpt(ack))
                continue
            if _excused(tears, key, ack["t"], ack["offset"]):
                v.stats["destroyed_by_tear"] += 1
                continue
            places = where.get(value, [])
            if not places and replicated and str(producers.get(pid, {}).get("acks")) == "1":
                v.stats["lost_acks1"] += 1
                continue
            if not places:
                v.stats["lost"] += 1
                near = [final_events.get((key[0], key[1], ack["offset"] + d)) for d in (-1, 0, 1)]
                v.flag("lost", f"{value} acknowledged at {key[0]}-{key[1]}@{ack['offset']} "
                       f"is not in the final log", _excerpt(sends.get(value), ack, *near))
                continue
            if len(places) > 1:
                v.stats["duplicated"] += 1
                if idempotent:
                    v.flag("duplicated", f"{value} from idempotent producer {pid} is in the "
                           f"log {len(places)} times",
                           _excerpt(ack, *[final_events[p] for p in places]))
            at = final[key].get(ack["offset"])
            if at != value:
                v.flag("acked-offset", f"{value} acknowledged at {key[0]}-{key[1]}@{ack['offset']}"
                       f" but that offset holds {at!r}",
                       _excerpt(ack, final_events.get((key[0], key[1], ack["offset"]))))
            per_tp[key].append(ack)
        promised = order_promised(producers.get(pid, {}))
        for key, tp_acks in per_tp.items():
            tp_acks.sort(key=lambda a: a["seq"])
            for prev, cur in zip(tp_acks, tp_acks[1:]):
                if cur["offset"] <= prev["offset"]:
                    message = (f"{pid} sequence {prev['seq']} < {cur['seq']} but offsets "
                               f"{prev['offset']} >= {cur['offset']} in {key[0]}-{key[1]}")
                    if promised:
                        v.stats["reordered"] += 1
                        v.flag("reordered", message, _excerpt(prev, cur))
                    else:
                        v.stats["reordered_unpromised"] += 1
                        v.note("reordered-unpromised", message, _excerpt(prev, cur))

    for e in history:
        if e["type"] != "read":
            continue
        v.stats["reads"] += 1
        key = tp_key(e)
        if _excused(tears, key, e["t"], e["offset"]):
            continue
        at = final[key].get(e["offset"])
        if at != e["value"]:
            v.stats["vanished_reads"] += 1
            v.flag("vanished-read", f"{e['consumer']} read {e['value']} at {key[0]}-{key[1]}@"
                   f"{e['offset']} but the final log holds {at!r} there",
                   _excerpt(e, final_events.get((key[0], key[1], e["offset"]))))

    by_key = defaultdict(list)
    for e in history:
        if e["type"] in ("commit", "committed") and e["offset"] >= 0:
            by_key[(e["group"], e["topic"], e["partition"])].append(e)
    for key, ops in by_key.items():
        _commits_never_go_backwards(v, ops, tears.get(key[1:], ()))

    zk_final = {e["path"]: e.get("value") for e in history if e["type"] == "zk_final"}
    for e in history:
        if e["type"] != "zk_ack":
            continue
        v.stats["acknowledged"] += 1
        if zk_final.get(e["path"]) != e["value"]:
            v.stats["lost"] += 1
            v.flag("zk-lost", f"znode {e['path']} acknowledged with {e['value']!r} holds "
                   f"{zk_final.get(e['path'], '<missing>')!r} at the end", _excerpt(e))

    for e in history:
        if e["type"] == "replica_compare":
            v.stats["replica_batches_compared"] += e["batches"]
            v.stats["replica_bytes_compared"] += e["bytes"]
        if e["type"] == "replica_mismatch":
            v.stats["replica_mismatches"] += 1
            v.flag("replicas-differ", e["message"], _excerpt(e))

    windows = unavailability(history)
    v.stats["unavailable_windows"] = len(windows)
    v.stats["longest_unavailable_s"] = round(max((w[3] for w in windows), default=0.0), 3)
    result = v.to_dict()
    result["windows"] = windows
    return result


def missing_findings(result, expected):
    """The kinds of violation in `expected` that `result` lacks. A scenario
    whose configuration allows a loss and whose schedule is built to cause
    one (unclean election after the ISR shrank to the leader) expects it:
    a run that reports none shows a blind checker or a fault that missed."""
    found = {v["kind"] for v in result["violations"]}
    return [k for k in expected if k not in found]


def _commits_never_go_backwards(v, ops, tears):
    """Commits and observations of one group partition in real-time order:
    an operation that started after another finished must not see or set
    a smaller offset. Overlapping operations have no order, so a commit
    still in flight while an observation answered is never a violation.
    Each event's "start" (when it was sent) defaults to its "t" (when it
    completed)."""
    by_end = sorted(ops, key=lambda e: e["t"])
    best, i = None, 0
    for b in sorted(ops, key=lambda e: e.get("start", e["t"])):
        start = b.get("start", b["t"])
        while i < len(by_end) and by_end[i]["t"] < start:
            if best is None or by_end[i]["offset"] > best["offset"]:
                best = by_end[i]
            i += 1
        if best is None or b["offset"] >= best["offset"]:
            continue
        if any(best["t"] < tt < start for tt, _ in tears):
            continue
        v.stats["commit_backwards"] += 1
        v.flag("commit-backwards", f"group {b['group']} offset for {b['topic']}-{b['partition']}"
               f" went from {best['offset']} to {b['offset']}", _excerpt(best, b))


def unavailability(history, gap=UNAVAILABLE_AFTER_S):
    """Windows longer than `gap` with no acknowledgement while the workload
    was running, per partition and acks level (a dead leader stops only the
    partitions it leads) and for ZooKeeper: [where, start, end, length]."""
    span = [e["t"] for e in history if e["type"] in ("workload_start", "workload_stop")]
    if len(span) < 2:
        return []
    start, stop = min(span), max(span)
    # acks=1 keeps flowing while acks=all waits for a shrinking ISR, so
    # each acks level has its own windows.
    level = {e["producer"]: e.get("acks", "?") for e in history if e["type"] == "producer"}
    acks = defaultdict(list)
    for e in history:
        if e["type"] == "ack":
            acks[f"{e['topic']}-{e['partition']} acks={level.get(e['producer'], '?')}"].append(
                e["t"])
        elif e["type"] == "zk_ack":
            acks["zookeeper"].append(e["t"])
    windows = []
    for where, times in sorted(acks.items()):
        points = [start] + sorted(t for t in times if start <= t <= stop) + [stop]
        windows += [[where, round(a, 3), round(b, 3), round(b - a, 3)]
                    for a, b in zip(points, points[1:]) if b - a > gap]
    return windows
