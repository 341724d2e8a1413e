#!/usr/bin/env bash
# Does a produce quota hold a client to its rate, and leave the others
# alone? One release broker; client id `throttled` gets
# producer_byte_rate=RATE (1 MiB/s by default) with kafka-configs' syntax.
# Each round:
#   1. client `free` alone: WARM + SECS seconds of 1 KiB records at a
#      fixed 5,000 records/s (5 MB/s), acks=1;
#   2. the same again, while `throttled` produces 1 KiB records as fast as
#      its quota lets it. Its rate is the growth of its partition's log
#      end offset from WARM seconds after it started to SECS seconds later
#      (value bytes; the quota also counts the requests' framing, about
#      1 % at this size). WARM (15 s) skips the start, where Kafka's rate,
#      measured over quota.window.num (11) windows and counted as at least
#      ten of them, lets a new client send up to ten seconds of its quota
#      at once before throttling it.
# It prints the throttled client's rate against the quota, and the free
# client's records/s and p99 latency (from producer-perf-test) alone and
# beside the throttled one.
#
# Usage: scripts/bench-quota.sh [SECS] [ROUNDS] [RATE]
# Needs a release build (target/release/kafka-rs).
set -euo pipefail
SECS=${1:-30}
ROUNDS=${2:-3}
RATE=${3:-1048576}
here="$(cd "$(dirname "$0")/.." && pwd)"
BIN=${KAFKA_RS_BIN:-$here/target/release/kafka-rs}
WORK=$(mktemp -d /tmp/bench-quota.XXXXXX)
pid=
cleanup() { [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
. "$here/scripts/benchlib.sh"

port=$(free_port)
"$BIN" server-start --override "listeners=PLAINTEXT://127.0.0.1:$port" \
  --override "log.dirs=$WORK/logs" --override embedded.zookeeper.port=0 \
  --override offsets.topic.replication.factor=1 >"$WORK/broker.log" 2>&1 &
pid=$!
disown "$pid"
wait_port "$port"
B="127.0.0.1:$port"
"$BIN" configs --bootstrap-server "$B" --alter --entity-type clients --entity-name throttled \
  --add-config "producer_byte_rate=$RATE" >/dev/null
"$BIN" configs --bootstrap-server "$B" --describe --entity-type clients --entity-name throttled

WARM=15
FREE_RATE=5000
free_records=$((FREE_RATE * (WARM + SECS)))
# Enough for the burst, the warm-up and the measured span with room to
# spare; the client is stopped once the span is measured.
throttled_records=$((RATE * (WARM + SECS + 20) / 1024))

# producer-perf-test's last line: "N records sent, R records/sec (M MB/sec),
# A ms avg latency, X ms max latency, P50 ms 50th, P95 ms 95th, P99 ms 99th, ..."
perf_test() { # client-id topic records throughput
  "$BIN" producer-perf-test --topic "$2" --num-records "$3" --record-size 1024 \
    --throughput "$4" --producer-props "bootstrap.servers=$B" "client.id=$1" acks=1 \
    linger.ms=5 2>/dev/null | tail -1
}
field() { # line, sed expression for one number
  echo "$1" | sed -n "s/$2/\1/p"
}
end_offset() { # topic -> "epoch-seconds offset"
  local o
  o=$("$BIN" get-offsets --bootstrap-server "$B" --topic "$1" | sed -n "s/^$1:0://p")
  echo "$(date +%s.%N) $o"
}

for round in $(seq "$ROUNDS"); do
  for t in "free$round" "alone$round" "throttled$round"; do
    "$BIN" topics --bootstrap-server "$B" --create --topic "$t" --partitions 1 >/dev/null
  done
  alone=$(perf_test free "alone$round" "$free_records" "$FREE_RATE")
  perf_test throttled "throttled$round" "$throttled_records" -1 >/dev/null &
  slow=$!
  perf_test free "free$round" "$free_records" "$FREE_RATE" >"$WORK/beside.out" &
  fast=$!
  # The spans are the measurement itself, not waits for a condition.
  sleep "$WARM"
  first=$(end_offset "throttled$round")
  sleep "$SECS"
  last=$(end_offset "throttled$round")
  wait "$fast"
  pkill -f -- "--topic throttled$round " || true
  wait "$slow" 2>/dev/null || true
  beside=$(cat "$WORK/beside.out")
  echo "round $round"
  echo "  free alone:  $alone"
  echo "  free beside: $beside"
  python3 -c '
import sys
rnd, rate, first, last, alone, beside, p99a, p99b = sys.argv[1:]
(t0, o0), (t1, o1) = (map(float, x.split()) for x in (first, last))
got = (o1 - o0) * 1024 / (t1 - t0)
print(rnd, got / float(rate), t1 - t0, float(beside) / float(alone), p99a, p99b)' \
    "$round" "$RATE" "$first" "$last" \
    "$(field "$alone" '.* records sent, \([0-9.]*\) records\/sec.*')" \
    "$(field "$beside" '.* records sent, \([0-9.]*\) records\/sec.*')" \
    "$(field "$alone" '.* \([0-9]*\) ms 99th.*')" \
    "$(field "$beside" '.* \([0-9]*\) ms 99th.*')" >>"$WORK/results"
  tail -1 "$WORK/results" | awk '{printf "  throttled client at %.3f of its quota over %.1f s; free client records/s beside / alone %.3f; free p99 %s ms alone, %s ms beside\n", $2, $3, $4, $5, $6}'
done
summary() { # column, label
  awk -v c="$1" '{print $c}' "$WORK/results" | sort -n |
    awk -v l="$2" '{a[NR] = $1} END {printf "%s: min %.3f, median %.3f, max %.3f\n", l, a[1], a[int((NR + 1) / 2)], a[NR]}'
}
summary 2 "throttled rate / quota"
summary 4 "free client records/s beside / alone"
