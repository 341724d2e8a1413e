"""Reads librdkafka's debug log (contexts `msg,protocol,broker`, as the
workload writes with KAFKA_RS_FAULTS_RDKAFKA_DEBUG) and lists every moment
a producer sent a partition's ProduceRequest to one broker while another
request of the same partition was still in flight to a different broker.

That is how a producer without idempotence reorders its records with one
request in flight: librdkafka counts in-flight requests per connection,
so when a partition's leader moves, the request still waiting at the old
leader and the next one sent to the new leader are in flight together; if
the old leader refuses its request, the retry is written after the newer
records. The checker counts such reorderings (checker.order_promised);
this shows the requests behind one.

  python -m faultlib.inflight target/faults/leader-kill/workload.log
"""

import re
import sys
from collections import defaultdict

LINE = re.compile(r"^%\d\|(\d+\.\d+)\|(\w+)\|([^#|]+)#producer-\d+\| \[thrd:([^\]]+)\]: (.*)$")
PRODUCE = re.compile(r"(\S+) \[(\d+)\]: Produce MessageSet with (\d+) message\(s\)")
CORR = re.compile(r"CorrId (\d+)")


def overlaps(lines):
    """Yields one dict per request that overtook an earlier one of the same
    partition and was written: `kind` "other broker" when it was sent while
    a request of the partition was in flight to another broker, "built
    behind" when it was built while an earlier request of the partition was
    in flight and sent after that one failed, before its retry (librdkafka
    builds the next request while one is in flight, and a failed request's
    records go back to the partition's queue, behind the one already
    built). Each says when it was sent, which producer and partition, where
    it went and how many records, and the earlier requests."""
    pending = {}  # (client, thread) -> the next send: (topic, partition, count, built during)
    in_flight = defaultdict(dict)  # (client, topic, partition) -> {(thread, corr): (t, count)}
    sent = {}  # (client, thread, corr) -> (topic, partition)
    last_recv = {}  # (client, thread) -> corr of the last response read there
    failed = defaultdict(dict)  # (client, topic, partition) -> {(thread, corr): (t, count)}
    overtaking = {}  # (client, thread, corr) -> what to yield once it is written
    for line in lines:
        m = LINE.match(line)
        if not m:
            continue
        t, facility, client, thread, msg = float(m[1]), m[2], m[3], m[4], m[5]
        if facility == "PRODUCE":
            p = PRODUCE.search(msg)
            if p:
                key = (client, p[1], int(p[2]))
                # Built after a failure, a request starts with the retried records.
                failed[key].clear()
                pending[(client, thread)] = (p[1], int(p[2]), int(p[3]), dict(in_flight[key]))
        elif facility == "SEND" and "Sent ProduceRequest" in msg:
            what = pending.pop((client, thread), None)
            if what is None:
                continue
            topic, partition, count, built_during = what
            corr = int(CORR.search(msg)[1])
            key = (client, topic, partition)
            base = {"t": t, "producer": client, "topic": topic, "partition": partition,
                    "sent_to": thread, "records": count}
            elsewhere = [(th, since, n) for (th, c), (since, n) in in_flight[key].items()
                         if th != thread]
            behind = [(th, since, n) for (th, c), (since, n) in failed[key].items()
                      if (th, c) in built_during]
            for kind, earlier in (("other broker", elsewhere), ("built behind", behind)):
                if earlier:
                    overtaking[(client, thread, corr)] = dict(
                        base, kind=kind, earlier=[{"broker": th, "since": since, "records": n}
                                                  for th, since, n in earlier])
            in_flight[key][(thread, corr)] = (t, count)
            sent[(client, thread, corr)] = key
        elif facility == "RECV" and "ProduceResponse" in msg:
            corr = int(CORR.search(msg)[1])
            key = sent.pop((client, thread, corr), None)
            last_recv[(client, thread)] = None
            if key is not None:
                done = in_flight[key].pop((thread, corr), None)
                last_recv[(client, thread)] = (key, (thread, corr), done)
        elif facility == "MSGSET":
            last = last_recv.pop((client, thread), None)
            if last is None:
                continue
            key, (th, corr), done = last
            candidate = overtaking.pop((client, th, corr), None)
            if "encountered error" in msg and done is not None:
                failed[key][(th, corr)] = done
            elif "delivered" in msg and candidate is not None:
                yield candidate
        elif facility == "STATE" and "-> DOWN" in msg:
            # Requests on a closed connection (closed by the broker, or by
            # librdkafka when one timed out) are failed and retried.
            for key in [k for k in in_flight if k[0] == client]:
                for ident in [i for i in in_flight[key] if i[0] == thread]:
                    failed[key][ident] = in_flight[key].pop(ident)


def main(argv):
    found = 0
    for path in argv:
        with open(path, errors="replace") as f:
            for o in overlaps(f):
                found += 1
                earlier = ", ".join(f"{x['records']} records sent to {x['broker']} at "
                                    f"{x['since']:.3f}" for x in o["earlier"])
                how = ("still in flight" if o["kind"] == "other broker"
                       else "in flight when it was built, failed, retried after it")
                print(f"{o['t']:.3f} {o['producer']} {o['topic']}-{o['partition']}: sent "
                      f"{o['records']} records to {o['sent_to']} ahead of {earlier} ({how})")
    print(f"{found} requests written ahead of an earlier one of their partition")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
