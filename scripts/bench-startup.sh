#!/usr/bin/env bash
# Start-up time against log size: one broker (embedded ZooKeeper) with a
# single-partition topic filled with MB megabytes by an idempotent producer
# (1 KB records), then restarted ROUNDS times after a clean shutdown
# (SIGTERM) and after kill -9, each time measuring from the process start
# until ListOffsets answers the partition's end offset (the partition is
# online with its producer state loaded). BEFORE_BIN, if set, is timed on
# the same data too (e.g. a build without producer snapshots), alternating.
#
# Usage: scripts/bench-startup.sh [MB] [ROUNDS] [SEGMENT_BYTES]
# Needs a release build (target/release/kafka-rs) and MB of free disk.
# DATA=DIR keeps the log in DIR: written on the first run, reused after
# (a 20 GB log is written once), removed by hand.
set -euo pipefail
MB=${1:-1000}
ROUNDS=${2:-3}
SEGMENT=${3:-1073741824}
here="$(cd "$(dirname "$0")/.." && pwd)"
BIN=${KAFKA_RS_BIN:-$here/target/release/kafka-rs}
WORK=${DATA:-$(mktemp -d /tmp/bench-startup.XXXXXX)}
mkdir -p "$WORK"
pid=
cleanup() { [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true; [ -n "${DATA:-}" ] || rm -rf "$WORK"; }
trap cleanup EXIT

. "$here/scripts/benchlib.sh"
PORT=$(free_port)
now_ms() { date +%s%3N; }

start() { # BIN
  "$1" server-start --override "listeners=PLAINTEXT://127.0.0.1:$PORT" --override "log.dirs=$WORK/data" \
    --override embedded.zookeeper.port=0 \
    --override offsets.topic.replication.factor=1 >>"$WORK/broker.log" 2>&1 &
  pid=$!
}
# Polls ListOffsets until it answers the end offset; prints ms since $1.
wait_online() { # START_MS END_OFFSET
  for _ in $(seq 6000); do
    if "$BIN" get-offsets --bootstrap-server "127.0.0.1:$PORT" --topic-partitions bench:0 2>/dev/null \
        | grep -qx "bench:0:$2"; then
      echo $(( $(now_ms) - $1 )); return 0
    fi
    sleep 0.02
  done
  echo "never online" >&2; exit 1
}

if [ -s "$WORK/end-offset" ]; then
  END=$(cat "$WORK/end-offset")
  start "$BIN"
  wait_online "$(now_ms)" "$END" >/dev/null
else
  start "$BIN"
  for _ in $(seq 400); do (exec 3<>/dev/tcp/127.0.0.1/"$PORT") 2>/dev/null && break; sleep 0.05; done
  "$BIN" topics --bootstrap-server "127.0.0.1:$PORT" --create --topic bench --partitions 1 \
    --replication-factor 1 --config "segment.bytes=$SEGMENT" >/dev/null
  N=$(( MB * 1000 ))
  "$BIN" producer-perf-test --topic bench --num-records "$N" --record-size 1000 --throughput -1 \
    --producer-props "bootstrap.servers=127.0.0.1:$PORT" acks=all enable.idempotence=true linger.ms=5 \
    batch.size=262144 | tail -1
  END=$("$BIN" get-offsets --bootstrap-server "127.0.0.1:$PORT" --topic-partitions bench:0 | cut -d: -f3)
  echo "$END" >"$WORK/end-offset"
fi
echo "log: $(du -sh "$WORK/data/bench-0" | cut -f1) in $(ls "$WORK/data/bench-0" | grep -c '\.log$') segments, end offset $END"

bins=("$BIN"); [ -n "${BEFORE_BIN:-}" ] && bins+=("$BEFORE_BIN")
for r in $(seq "$ROUNDS"); do
  for b in "${bins[@]}"; do
    kill -TERM "$pid"; wait "$pid" || true
    t0=$(now_ms); start "$b"; clean=$(wait_online "$t0" "$END")
    kill -9 "$pid"; wait "$pid" 2>/dev/null || true
    t0=$(now_ms); start "$b"; crash=$(wait_online "$t0" "$END")
    label=after; [ "$b" = "$BIN" ] || label=before
    echo "round $r $label: clean shutdown ${clean} ms, kill -9 ${crash} ms"
  done
done
kill -TERM "$pid"; wait "$pid" || true
