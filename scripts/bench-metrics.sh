#!/usr/bin/env bash
# What metrics.listener costs the produce and fetch paths: two brokers of one
# cluster, broker 1 with metrics.listener on (scraped every second, as
# Prometheus would) and broker 2 with it off, each leading one single-partition
# topic. Alternating rounds of one sitting produce N 100-byte records to each
# (kcat, acks=1) and consume them back (kcat -C -e), printing records/s and the
# broker's CPU per record (utime+stime of that broker over the run).
#
# Usage: scripts/bench-metrics.sh [RECORDS] [ROUNDS]
# Needs a release build (target/release/kafka-rs), kcat and curl.
set -euo pipefail
N=${1:-2000000}
ROUNDS=${2:-3}
here="$(cd "$(dirname "$0")/.." && pwd)"
BIN=${KAFKA_RS_BIN:-$here/target/release/kafka-rs}
WORK=$(mktemp -d /tmp/bench-metrics.XXXXXX)
HZ=$(getconf CLK_TCK)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

. "$here/scripts/benchlib.sh"

ZK=$(free_port)
printf 'dataDir=%s/zk\nclientPort=%s\n' "$WORK" "$ZK" > "$WORK/zk.properties"
"$BIN" zookeeper-start "$WORK/zk.properties" >"$WORK/zk.log" 2>&1 & pids+=($!)
wait_port "$ZK"
METRICS=$(free_port)
declare -A port pid
for id in 1 2; do
  port[$id]=$(free_port)
  extra=()
  [ "$id" = 1 ] && extra=(--override "metrics.listener=http://127.0.0.1:$METRICS")
  "$BIN" server-start --override broker.id=$id --override "listeners=PLAINTEXT://127.0.0.1:${port[$id]}" \
    --override "log.dirs=$WORK/b$id" --override "zookeeper.connect=127.0.0.1:$ZK" "${extra[@]}" \
    >"$WORK/b$id.log" 2>&1 & pids+=($!); pid[$id]=$!
  wait_port "${port[$id]}"
done
wait_port "$METRICS"
B="127.0.0.1:${port[1]},127.0.0.1:${port[2]}"
declare -A topic=([1]=metrics-on [2]=metrics-off)
for id in 1 2; do
  for _ in $(seq 50); do
    "$BIN" topics --bootstrap-server "$B" --create --topic "${topic[$id]}" --replica-assignment "$id" >/dev/null 2>&1 && break
    sleep 0.2
  done
done
sleep 2
"$BIN" topics --bootstrap-server "$B" --describe
( while sleep 1; do curl -s "http://127.0.0.1:$METRICS/metrics" >/dev/null || true; done ) & pids+=($!)
data="$WORK/records.txt"
python3 -c "open('$data','wb').write((b'A'*100+b'\n')*$N)"
KX=(-X socket.nagle.disable=true -X linger.ms=5 -X batch.size=1000000 -X queue.buffering.max.kbytes=32768
    -X queue.buffering.max.messages=10000000 -X enable.idempotence=false -X acks=1)
measure() { # label id command...
  local label=$1 id=$2; shift 2
  local c0 t0 t1 c1
  c0=$(ticks "${pid[$id]}"); t0=$(date +%s.%N)
  "$@"
  t1=$(date +%s.%N); c1=$(ticks "${pid[$id]}")
  python3 -c "
n=$N; el=$t1-$t0; cpu=($c1-$c0)/$HZ
print(f'$label {\"on \" if $id == 1 else \"off\"}: {n/el:,.0f} records/s, broker CPU {cpu:.2f} s = {cpu/n*1e6:.3f} us/record')
open('$WORK/results', 'a').write(f'{\"$label\".split()[2]} $id {n/el} {cpu}\\n')"
}
for round in $(seq "$ROUNDS"); do
  for id in 1 2; do
    measure "round $round produce metrics" "$id" kcat -P -b "$B" -t "${topic[$id]}" -p 0 "${KX[@]}" -l "$data"
  done
  for id in 1 2; do
    measure "round $round consume metrics" "$id" sh -c "kcat -C -b '$B' -t '${topic[$id]}' -p 0 -o -$N -e -q -X fetch.message.max.bytes=1048576 | wc -l >/dev/null"
  done
done
# Per round, on/off throughput (and CPU) ratios; then their mean and range.
python3 - "$WORK/results" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1])]
for kind in ("produce", "consume"):
    on = [(float(r), float(c)) for k, i, r, c in rows if k == kind and i == "1"]
    off = [(float(r), float(c)) for k, i, r, c in rows if k == kind and i == "2"]
    tput = [a[0] / b[0] for a, b in zip(on, off)]
    cpu = [a[1] / b[1] for a, b in zip(on, off) if b[1] > 0]
    print(f"{kind}: records/s on/off per round {', '.join(f'{x:.3f}' for x in tput)}; "
          f"mean {sum(tput)/len(tput):.3f}, range {min(tput):.3f}-{max(tput):.3f}")
    if cpu:
        print(f"{kind}: broker CPU on/off per round {', '.join(f'{x:.3f}' for x in cpu)}; "
              f"mean {sum(cpu)/len(cpu):.3f}")
PY
curl -s "http://127.0.0.1:$METRICS/metrics" | grep -E '^kafka_server_brokertopicmetrics_messagesin_total\{topic="metrics-on"\}'
