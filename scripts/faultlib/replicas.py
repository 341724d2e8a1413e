"""Replica logs compared byte for byte: after healing and convergence,
every broker holding a partition must hold the same RecordBatch bytes
below the high watermark (followers copy the leader's batches as they are,
base offset and leader epoch included), so any difference is a divergence.

  python -m faultlib.replicas --topic T [--high P=N ...] B0=DIR B1=DIR ...

exits 1 and names the first differing batch per replica when they differ.
"""

import argparse
import os
import sys
import time


def batches(path):
    """(position, base offset, last offset, bytes) of each whole batch."""
    with open(path, "rb") as f:
        data = f.read()
    pos, out = 0, []
    while pos + 61 <= len(data):
        base = int.from_bytes(data[pos:pos + 8], "big", signed=True)
        length = int.from_bytes(data[pos + 8:pos + 12], "big", signed=True)
        end = pos + 12 + length
        if length < 49 or end > len(data):
            break
        delta = int.from_bytes(data[pos + 23:pos + 27], "big", signed=True)
        out.append((pos, base, base + delta, data[pos:end]))
        pos = end
    return out


def segments(log_dir, topic, p):
    d = os.path.join(log_dir, f"{topic}-{p}")
    if not os.path.isdir(d):
        return []
    return sorted(os.path.join(d, n) for n in os.listdir(d) if n.endswith(".log"))


def compare_replicas(log_dirs, highs, topic):
    """Byte-compares every replica's batches below the high watermark.
    `log_dirs`: broker id -> log dir. Returns the mismatches (events for
    the history) and what was compared, so a run shows that the
    comparison saw real data rather than passing on empty logs."""
    found = []
    compared = {"partitions": 0, "batches": 0, "bytes": 0}
    if len(log_dirs) < 2:
        return found, compared
    for p, high in sorted(highs.items()):
        p = int(p)
        logs = {}
        for i, d in log_dirs.items():
            segs = segments(d, topic, p)
            if segs:
                logs[i] = [raw for seg in segs for _, _, last, raw in batches(seg) if last < high]
        if len(logs) < 2:
            continue
        compared["partitions"] += 1
        (ref_id, ref), *rest = sorted(logs.items())
        for i, other in rest:
            for n, (a, b) in enumerate(zip(ref, other)):
                compared["batches"] += 1
                compared["bytes"] += len(a)
                if a != b:
                    at = next(k for k in range(min(len(a), len(b)) + 1)
                              if k == min(len(a), len(b)) or a[k] != b[k])
                    found.append({"type": "replica_mismatch", "t": time.time(),
                                  "message": f"{topic}-{p} batch #{n} (base offset "
                                             f"{int.from_bytes(a[:8], 'big')}) differs between "
                                             f"broker {ref_id} and {i} at byte {at}",
                                  "offsets": [int.from_bytes(a[:8], "big"),
                                              int.from_bytes(b[:8], "big")]})
                    break
            else:
                if len(ref) != len(other):
                    found.append({"type": "replica_mismatch", "t": time.time(),
                                  "message": f"{topic}-{p} below HW {high}: broker {ref_id} has "
                                             f"{len(ref)} batches, broker {i} {len(other)}"})
    return found, compared


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m faultlib.replicas", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--high", action="append", default=[], metavar="P=N",
                    help="partition P's high watermark (default: every partition found, "
                         "compared whole)")
    ap.add_argument("dirs", nargs="+", metavar="ID=DIR", help="a broker id and its log dir")
    args = ap.parse_args(argv)
    log_dirs = {int(i): d for i, d in (a.split("=", 1) for a in args.dirs)}
    highs = {int(p): int(n) for p, n in (h.split("=", 1) for h in args.high)}
    if not highs:
        prefix = f"{args.topic}-"
        for d in log_dirs.values():
            for name in os.listdir(d):
                if name.startswith(prefix) and name[len(prefix):].isdigit():
                    highs[int(name[len(prefix):])] = 2 ** 63 - 1
    found, compared = compare_replicas(log_dirs, highs, args.topic)
    print(f"compared {compared['batches']} batches ({compared['bytes']} bytes) in "
          f"{compared['partitions']} partitions")
    for f in found:
        print(f"mismatch: {f['message']}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
