#!/usr/bin/env bash
# Cold reads next to hot clients: one broker holds GB gigabytes of 1 KiB
# records in topic `old`, dropped from the page cache (posix_fadvise
# DONTNEED on the partition's files); a producer/consumer pair at 1,000
# msg/s (kload e2e, long polls) is measured alone (baseline) and then while
# a catch-up consumer reads `old` from offset 0 off the disk. Prints the
# pair's e2e p99 with and without the catch-up, per round and binary, and
# how often a broker thread was seen blocked in sendfile(2) (state D with
# system call 40 in /proc/PID/task/*/syscall: only reactor threads call it).
#
# Rounds alternate the binaries on the same log dir (each broker is stopped
# before the next starts), so every figure comes from one sitting.
#
# Usage: scripts/bench-cold-read.sh [GB] [ROUNDS] [BIN...]
#   default BIN: target/release/kafka-rs, and $KAFKA_RS_OLD_BIN when set
# Needs kload (KLOAD, default /tmp/kload-target/release/kload) and
# GB x 1.1 GB free on the disk under TMPDIR; x86_64 (system call numbers).
set -euo pipefail
GB=${1:-4}
ROUNDS=${2:-3}
shift $(($# < 2 ? $# : 2))
here="$(cd "$(dirname "$0")/.." && pwd)"
KLOAD=${KLOAD:-/tmp/kload-target/release/kload}
if [ $# -gt 0 ]; then
  BINS=("$@")
else
  BINS=("$here/target/release/kafka-rs")
  [ -n "${KAFKA_RS_OLD_BIN:-}" ] && BINS=("$KAFKA_RS_OLD_BIN" "${BINS[@]}")
fi
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-cold-read.XXXXXX")
pid=
catchup=
sampler=
stop_broker() {
  [ -n "$pid" ] || return 0
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  pid=
}
cleanup() {
  for p in $catchup $sampler; do kill "$p" 2>/dev/null || true; done
  stop_broker
  rm -rf "$WORK"
}
trap cleanup EXIT

. "$here/scripts/benchlib.sh"

PORT=$(free_port)
B="127.0.0.1:$PORT"
start_broker() {
  "$1" server-start --override "listeners=PLAINTEXT://127.0.0.1:$PORT" --override "log.dirs=$WORK/logs" \
    --override embedded.zookeeper.port=0 \
    >>"$WORK/broker.log" 2>&1 &
  pid=$!
  wait_port "$PORT"
  "$KLOAD" meta --bootstrap "$B" >/dev/null
}
drop_cache() {
  python3 - "$WORK/logs/old-0" <<'PY'
import os, sys
d = sys.argv[1]
for name in os.listdir(d):
    if name.endswith(('.log', '.index', '.timeindex')):
        fd = os.open(os.path.join(d, name), os.O_RDONLY)
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)
PY
}
p99_of() { python3 -c "
import json, sys
line = [l for l in open('$1') if l.startswith('RESULT ')][-1]
r = json.loads(line[7:])
print(r['e2e_us']['p99'] / 1000 if 'e2e_us' in r else 'failed')"; }
e2e() {
  "$KLOAD" e2e --bootstrap "$B" --topic e2e --rate 1000 --duration-s 10 --record-size 100 \
    --fetch-wait-ms 500 >"$1" 2>&1
}
# Counts samples (every 10 ms) of broker threads in state D inside sendfile.
sample_sendfile_d() {
  local n=0 total=0
  while [ -e "$WORK/sampling" ]; do
    for t in /proc/"$pid"/task/*; do
      st=$(awk '{print $3}' "$t/stat" 2>/dev/null) || continue
      if [ "$st" = D ]; then
        total=$((total + 1))
        [ "$(cut -d' ' -f1 "$t/syscall" 2>/dev/null)" = 40 ] && n=$((n + 1))
      fi
    done
    sleep 0.01
  done
  echo "$n $total" >"$WORK/dstate"
}

records=$((GB * 1024 * 1024))
echo "writing $GB GB ($records x 1 KiB records) with ${BINS[0]}"
start_broker "${BINS[0]}"
"$KLOAD" create-topic --bootstrap "$B" --topic old --partitions 1 >/dev/null
"$KLOAD" create-topic --bootstrap "$B" --topic e2e --partitions 1 >/dev/null
"$KLOAD" produce --bootstrap "$B" --topic old --num-records "$records" --record-size 1024 --acks 1 \
  --linger-ms 5 --batch-size 1000000 | grep -v '^RESULT'
stop_broker

for round in $(seq "$ROUNDS"); do
  for bin in "${BINS[@]}"; do
    name=$(basename "$bin")
    start_broker "$bin"
    drop_cache
    e2e "$WORK/base.out"
    base=$(p99_of "$WORK/base.out")
    drop_cache
    "$KLOAD" consume --bootstrap "$B" --topic old --num-records "$records" --timeout-s 120 \
      >"$WORK/catchup.out" 2>&1 &
    catchup=$!
    touch "$WORK/sampling"
    sample_sendfile_d &
    sampler=$!
    e2e "$WORK/cold.out"
    rm -f "$WORK/sampling"
    wait "$sampler" || true
    sampler=
    cold=$(p99_of "$WORK/cold.out")
    kill "$catchup" 2>/dev/null || true
    wait "$catchup" 2>/dev/null || true
    catchup=
    read -r in_sendfile in_d <"$WORK/dstate"
    stop_broker
    echo "round $round $name: e2e p99 baseline $base ms, with cold catch-up $cold ms;" \
      "thread samples in D: $in_d, of them in sendfile: $in_sendfile; load $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "$round $name $base $cold $in_sendfile $in_d" >>"$WORK/results"
  done
done
python3 - "$WORK/results" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
for name in dict.fromkeys(r[1] for r in rows):
    mine = [r for r in rows if r[1] == name]
    def col(i):
        v = sorted(float(r[i]) for r in mine if r[i] != 'failed')
        return f"{statistics.median(v):.2f} ({v[0]:.2f}-{v[-1]:.2f})" if v else "failed"
    ratios = sorted(float(r[3]) / float(r[2]) for r in mine if 'failed' not in (r[2], r[3]))
    ratio = f"{statistics.median(ratios):.2f}x ({ratios[0]:.2f}-{ratios[-1]:.2f})" if ratios else "-"
    print(f"{name}: e2e p99 baseline {col(2)} ms, with cold catch-up {col(3)} ms, ratio {ratio};"
          f" sendfile-in-D samples {col(4)}, D samples {col(5)} (n={len(mine)})")
PY
