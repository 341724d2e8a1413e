#!/usr/bin/env bash
# scripts/bench-produce.sh [ROUNDS]
#
# The produce path against the peer brokers, in one sitting: each round runs
# ../shared/bench/peers.sh (kload suite, one fresh broker each) for kafka-rs
# after (KAFKA_RS_BIN), kafka-rs before (BEFORE_BIN, if set) and each peer in
# turn, then prints medians (min-max) of 100 B and 1 KiB produce records/s,
# broker CPU per record, and end-to-end latency at 1,000 msg/s with long polls
# (fetch.wait.max.ms=500) and without, with ratios to the best peer.
#
# Environment (all optional):
#   KAFKA_RS_BIN  the build to measure        (default target/release/kafka-rs)
#   BEFORE_BIN    an older build, alternated with it
#   PEERS         default "crabka tansu" (install them with ../shared/bench/install-peers.sh)
#   BENCH         the shared bench directory  (default ../shared/bench)
#   OUT           results                     (default /tmp/bench-produce, emptied first
#                 unless ROUNDS is 0, which only prints the table of what is there)
#   LOCK          a file to flock around each round (a shared machine's benchmark lock)
set -uo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
KAFKA_RS_BIN=$(realpath "${KAFKA_RS_BIN:-target/release/kafka-rs}")
BEFORE_BIN=${BEFORE_BIN:+$(realpath "$BEFORE_BIN")}
PEERS=${PEERS:-crabka tansu}
BENCH=$(realpath "${BENCH:-../shared/bench}" 2>/dev/null)
[ -x "$BENCH/peers.sh" ] || { echo "no peers.sh in ${BENCH:-../shared/bench} (set BENCH)" >&2; exit 1; }
[ -x "$KAFKA_RS_BIN" ] || { echo "no kafka-rs at $KAFKA_RS_BIN (cargo build --release)" >&2; exit 1; }
OUT=${OUT:-/tmp/bench-produce}
# ROUNDS=0 prints the table of the runs already in $OUT.
[ "$ROUNDS" -gt 0 ] && { rm -rf "$OUT"; mkdir -p "$OUT"; }

# One suite run: peers.sh names every kafka-rs build "kafka-rs", so each
# variant keeps its own output directory.
run() {
  local name=$1 port=$2; shift 2
  echo "=== $name load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
  env "$@" OUT_DIR="$OUT/$name" RUN_ID="$name" "$BENCH/peers.sh" "${PEER:-$name}" "$port" \
    2>>"$OUT/stderr.log" | tail -1 | cut -c1-160
}
round() {
  PEER=kafka-rs run after 19094 KAFKA_RS_BIN="$KAFKA_RS_BIN"
  [ -n "$BEFORE_BIN" ] && PEER=kafka-rs run before 19095 KAFKA_RS_BIN="$BEFORE_BIN"
  for p in $PEERS; do
    case $p in tansu) port=19092 ;; crabka) port=19093 ;; *) port=19096 ;; esac
    run "$p" "$port"
  done
}
for r in $(seq 1 "$ROUNDS"); do
  if [ -n "${LOCK:-}" ]; then
    export -f run round
    export OUT BENCH KAFKA_RS_BIN BEFORE_BIN PEERS
    flock -w 1800 "$LOCK" bash -c round
  else
    round
  fi
done

python3 - "$OUT" <<'EOF'
import json, statistics, sys, os
out = sys.argv[1]
variants = [d for d in ["after", "before", "crabka", "tansu"] + sorted(os.listdir(out))
            if os.path.isfile(f"{out}/{d}/summaries.jsonl")]
variants = list(dict.fromkeys(variants))
runs = {v: [json.loads(l) for l in open(f"{out}/{v}/summaries.jsonl")] for v in variants}

def get(d, path):
    for k in path.split("."):
        d = d.get(k) if isinstance(d, dict) else None
    return d

def per_record(phase, n):
    return lambda r: (get(r, f"phases.{phase}.broker_cpu_s") or 0) / n * 1e6

def at(path, scale=1.0):
    return lambda r: (get(r, path) * scale) if isinstance(get(r, path), (int, float)) else None

rows = [
    ("produce 2M x 100 B acks=1, records/s", at("phases.produce_100B_acks1.result.records_per_s"), 0, "max"),
    ("  broker CPU per record, us", per_record("produce_100B_acks1", 2_000_000), 3, "min"),
    ("produce 500k x 1 KiB acks=1, records/s", at("phases.produce_1KiB_acks1.result.records_per_s"), 0, "max"),
    ("  broker CPU per record, us", per_record("produce_1KiB_acks1", 500_000), 3, "min"),
    ("e2e 1,000 msg/s, fetch wait 500 ms: p50 ms", at("phases.e2e_longpoll.result.e2e_us.p50", 1e-3), 3, "min"),
    ("  p99 ms", at("phases.e2e_longpoll.result.e2e_us.p99", 1e-3), 3, "min"),
    ("  max ms", at("phases.e2e_longpoll.result.e2e_us.max", 1e-3), 3, "min"),
    ("  produce ack p50 / p99 ms", None, 3, None),
    ("e2e, fetch wait 0: p50 ms", at("phases.e2e_nowait.result.e2e_us.p50", 1e-3), 3, "min"),
    ("  p99 ms", at("phases.e2e_nowait.result.e2e_us.p99", 1e-3), 3, "min"),
]

def cell(vals, nd):
    vals = [v for v in vals if v is not None]
    if not vals:
        return "n/a", None
    m = statistics.median(vals)
    return f"{m:,.{nd}f} ({min(vals):,.{nd}f}-{max(vals):,.{nd}f})", m

print("| metric | " + " | ".join(f"{v} (n={len(runs[v])})" for v in variants) + " | after / best peer |")
print("|---" * (len(variants) + 2) + "|")
for label, f, nd, better in rows:
    if f is None:
        acks = []
        for v in variants:
            p50 = [get(r, "phases.e2e_longpoll.result.produce_ack_us.p50") for r in runs[v]]
            p99 = [get(r, "phases.e2e_longpoll.result.produce_ack_us.p99") for r in runs[v]]
            p50 = [x / 1e3 for x in p50 if isinstance(x, (int, float))]
            p99 = [x / 1e3 for x in p99 if isinstance(x, (int, float))]
            acks.append(f"{statistics.median(p50):.2f} / {statistics.median(p99):.2f}" if p50 and p99 else "n/a")
        print(f"| {label} | " + " | ".join(acks) + " | |")
        continue
    cells, meds = [], {}
    for v in variants:
        c, m = cell([f(r) for r in runs[v]], nd)
        cells.append(c)
        meds[v] = m
    peers = [meds[v] for v in variants if v not in ("after", "before") and meds[v]]
    ratio = ""
    if meds.get("after") and peers:
        best = max(peers) if better == "max" else min(peers)
        ratio = f"{meds['after'] / best:.2f}"
    print(f"| {label} | " + " | ".join(cells) + f" | {ratio} |")
print(f"\nload average at the end: {open('/proc/loadavg').read().strip()}")
EOF
