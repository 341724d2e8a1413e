#!/usr/bin/env bash
# What down-conversion costs: one broker holds N 1 KiB records written as v2
# batches by a current producer; alternating rounds of one sitting read them
# all back with kcat as a current consumer (Fetch v11, magic 2, served by
# sendfile) and as legacy consumers that the broker must down-convert for
# (api.version.request=false with broker.version.fallback 0.10.0.1: Fetch v2,
# magic 1; and 0.9.0.1: Fetch v1, magic 0). Prints records/s and the broker's
# CPU per record for each, then each legacy/current ratio per round.
#
# Usage: scripts/bench-downconvert.sh [RECORDS] [ROUNDS]
# Needs a release build (target/release/kafka-rs) and kcat.
set -euo pipefail
N=${1:-200000}
ROUNDS=${2:-3}
here="$(cd "$(dirname "$0")/.." && pwd)"
BIN=${KAFKA_RS_BIN:-$here/target/release/kafka-rs}
WORK=$(mktemp -d /tmp/bench-downconvert.XXXXXX)
HZ=$(getconf CLK_TCK)
pid=
cleanup() { [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

. "$here/scripts/benchlib.sh"

PORT=$(free_port)
"$BIN" server-start --override "listeners=PLAINTEXT://127.0.0.1:$PORT" --override "log.dirs=$WORK/logs" \
  --override embedded.zookeeper.port=0 >"$WORK/broker.log" 2>&1 &
pid=$!
wait_port "$PORT"
B="127.0.0.1:$PORT"
for _ in $(seq 50); do
  "$BIN" topics --bootstrap-server "$B" --create --topic dc --partitions 1 >/dev/null 2>&1 && break
  sleep 0.2
done
data="$WORK/records.txt"
python3 -c "open('$data','wb').write((b'A'*1023+b'\n')*$N)"
kcat -P -b "$B" -t dc -p 0 -X linger.ms=5 -X batch.size=1000000 -X queue.buffering.max.kbytes=65536 \
  -X queue.buffering.max.messages=10000000 -X acks=1 -l "$data"
rm -f "$data"

declare -A legacy=(
  [current]=""
  [magic1]="-X api.version.request=false -X broker.version.fallback=0.10.0.1"
  [magic0]="-X api.version.request=false -X broker.version.fallback=0.9.0.1"
)
for round in $(seq "$ROUNDS"); do
  for kind in current magic1 magic0; do
    c0=$(ticks "$pid"); t0=$(date +%s.%N)
    # shellcheck disable=SC2086
    got=$(kcat -C -b "$B" -t dc -p 0 -o beginning -e -q ${legacy[$kind]} \
      -X fetch.message.max.bytes=1048576 | wc -l)
    t1=$(date +%s.%N); c1=$(ticks "$pid")
    [ "$got" = "$N" ] || { echo "$kind read $got of $N records" >&2; exit 1; }
    python3 -c "
n=$N; el=$t1-$t0; cpu=($c1-$c0)/$HZ
print(f'round $round $kind: {n/el:,.0f} records/s, broker CPU {cpu:.2f} s = {cpu/n*1e6:.3f} us/record')
open('$WORK/results', 'a').write(f'$round $kind {n/el} {cpu}\\n')"
  done
done
python3 - "$WORK/results" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1])]
by = {(r, k): (float(t), float(c)) for r, k, t, c in rows}
rounds = sorted({r for r, _, _, _ in rows}, key=int)
for kind in ("magic1", "magic0"):
    ratios = [by[(r, kind)][0] / by[(r, "current")][0] for r in rounds]
    print(f"{kind}/current records/s per round {', '.join(f'{x:.2f}' for x in ratios)}; "
          f"median {sorted(ratios)[len(ratios) // 2]:.2f}")
PY
