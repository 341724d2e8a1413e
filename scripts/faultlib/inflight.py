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
    """Yields one dict per request sent while a request of the same
    partition was in flight to another broker: when, which producer and
    partition, the broker and record count of each."""
    pending = {}  # (client, broker thread) -> (topic, partition, count) of the next send
    in_flight = defaultdict(dict)  # (client, topic, partition) -> {(thread, corr): (t, count)}
    sent = {}  # (client, thread, corr) -> (topic, partition)
    for line in lines:
        m = LINE.match(line)
        if not m:
            continue
        t, facility, client, thread, msg = float(m[1]), m[2], m[3], m[4], m[5]
        if facility == "PRODUCE":
            p = PRODUCE.search(msg)
            if p:
                pending[(client, thread)] = (p[1], int(p[2]), int(p[3]))
        elif facility == "SEND" and "Sent ProduceRequest" in msg:
            what = pending.pop((client, thread), None)
            if what is None:
                continue
            topic, partition, count = what
            corr = int(CORR.search(msg)[1])
            key = (client, topic, partition)
            elsewhere = [(th, c, since, n) for (th, c), (since, n) in in_flight[key].items()
                         if th != thread]
            if elsewhere:
                yield {"t": t, "producer": client, "topic": topic, "partition": partition,
                       "sent_to": thread, "records": count,
                       "in_flight": [{"broker": th, "since": since, "records": n}
                                     for th, c, since, n in elsewhere]}
            in_flight[key][(thread, corr)] = (t, count)
            sent[(client, thread, corr)] = key
        elif facility == "RECV" and "ProduceResponse" in msg:
            key = sent.pop((client, thread, int(CORR.search(msg)[1])), None)
            if key is not None:
                in_flight[key] = {k: v for k, v in in_flight[key].items()
                                  if k[0] != thread or k[1] != int(CORR.search(msg)[1])}
        elif facility == "STATE" and "-> DOWN" in msg:
            # Requests on a closed connection (closed by the broker, or by
            # librdkafka when one timed out) are failed and retried.
            for key in [k for k in in_flight if k[0] == client]:
                in_flight[key] = {k: v for k, v in in_flight[key].items() if k[0] != thread}


def main(argv):
    found = 0
    for path in argv:
        with open(path, errors="replace") as f:
            for o in overlaps(f):
                found += 1
                others = ", ".join(f"{x['records']} records at {x['broker']} since "
                                   f"{x['since']:.3f}" for x in o["in_flight"])
                print(f"{o['t']:.3f} {o['producer']} {o['topic']}-{o['partition']}: sent "
                      f"{o['records']} records to {o['sent_to']} while {others} in flight")
    print(f"{found} requests sent while another of their partition was in flight elsewhere")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
