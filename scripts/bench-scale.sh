#!/usr/bin/env bash
# One broker at scale (issue 13): TOPICS topics x PARTS partitions (default
# 1,000 x 10 = 10,000 partitions) and CONNS idle client connections.
#
#   - creation: one CreateTopics request for all topics, timed;
#   - Metadata for all topics: p50/p99 over 200 requests;
#   - RSS and open file descriptors, idle, before and after the topics;
#   - start-up after SIGTERM and after kill -9, until every partition is
#     online (Metadata shows a leader and ListOffsets answers without error);
#   - produce throughput over all partitions vs over one 10-partition topic,
#     alternating in the same run (confluent-kafka, 1 KiB records), and again
#     over one topic of as many partitions with each record named its
#     partition, with the client's and the broker's CPU per record;
#   - CONNS idle connections (each did ApiVersions): broker RSS per
#     connection, and kload e2e latency at 1,000 msg/s with and without them,
#     alternating.
#
# Each measurement is repeated ROUNDS times; BEFORE_BIN, if set, runs the same
# steps on its own fresh broker after ours in each round (e.g. main's build),
# so old and new alternate in one sitting.
#
# Usage: scripts/bench-scale.sh [ROUNDS]
# Env: TOPICS PARTS CONNS (0: skip that part) RECORDS (produce records per run) E2E_S (seconds)
#      KAFKA_RS_BIN (default target/release/kafka-rs) BEFORE_BIN
#      KAFKA_RS_PYTHON (with confluent-kafka; default target/test-venv/bin/python)
#      KLOAD (default /tmp/kload-target/release/kload)
set -euo pipefail
ROUNDS=${1:-3}
TOPICS=${TOPICS:-1000}
PARTS=${PARTS:-10}
CONNS=${CONNS:-10000}
RECORDS=${RECORDS:-500000}
E2E_S=${E2E_S:-10}
here="$(cd "$(dirname "$0")/.." && pwd)"
BIN=${KAFKA_RS_BIN:-$here/target/release/kafka-rs}
PY=${KAFKA_RS_PYTHON:-$here/target/test-venv/bin/python}
KLOAD=${KLOAD:-/tmp/kload-target/release/kload}
PROBE="$here/scripts/bench_scale.py"
TOTAL=$(( TOPICS * PARTS ))
WORK=$(mktemp -d /tmp/bench-scale.XXXXXX)
pid=
cleanup() {
  [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
  touch "$WORK/stop-idle"
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

. "$here/scripts/benchlib.sh"

# Each partition holds its log file open (its indexes are mapped, their
# descriptors closed) and each connection a socket: the usual 1,024 is far
# too few. The broker inherits this shell's limit.
need=$(( (TOTAL > CONNS ? TOTAL : CONNS) + 2048 ))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$need" ]; then
  ulimit -n "$need" 2>/dev/null || ulimit -n "$(ulimit -Hn)"
  echo "raised ulimit -n to $(ulimit -n) (need $need: one file per partition, one socket per connection)"
fi

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
fds() { ls "/proc/$1/fd" | wc -l; }
now_ns() { date +%s%N; }
TICKS=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

stop() { kill -TERM "$pid"; wait "$pid" || true; pid=; }
crash() { kill -9 "$pid"; wait "$pid" 2>/dev/null || true; pid=; }

run() { # LABEL BIN
  local label=$1 bin=$2 data="$WORK/data-$1"
  rm -rf "$data"
  start_one_broker "$bin" "$data"; wait_port "$PORT"
  sleep 2 # idle figures: let start-up settle
  echo "$label: idle broker RSS $(( $(rss_kb "$pid") / 1024 )) MiB, $(fds "$pid") fds"
  "$PY" "$PROBE" online "127.0.0.1:$PORT" 0 "$(now_ns)" >/dev/null
  local rss0 fd0
  rss0=$(rss_kb "$pid"); fd0=$(fds "$pid")
  echo "$label: $("$PY" "$PROBE" create "127.0.0.1:$PORT" s "$TOPICS" "$PARTS")"
  "$PY" "$PROBE" create "127.0.0.1:$PORT" ten 1 10 >/dev/null
  "$PY" "$PROBE" online "127.0.0.1:$PORT" $(( TOTAL + 10 )) "$(now_ns)" >/dev/null
  local rss1 fd1
  rss1=$(rss_kb "$pid"); fd1=$(fds "$pid")
  echo "$label: with $TOTAL partitions: RSS $(( rss1 / 1024 )) MiB ($(( (rss1 - rss0) * 1024 / TOTAL )) B per partition), $fd1 fds (+$(( fd1 - fd0 )))"
  echo "$label: $("$PY" "$PROBE" metadata "127.0.0.1:$PORT" 200)"
  for _ in 1 2; do
    echo "$label: 10 partitions: $("$PY" "$PROBE" produce "127.0.0.1:$PORT" ten 1 "$RECORDS" 1024)"
    echo "$label: $TOTAL partitions: $("$PY" "$PROBE" produce "127.0.0.1:$PORT" s "$TOPICS" "$RECORDS" 1024)"
  done
  echo "$label: after produce: RSS $(( $(rss_kb "$pid") / 1024 )) MiB, $(fds "$pid") fds"
  stop
  local t0
  t0=$(now_ns); start_one_broker "$bin" "$data"
  echo "$label: start-up after SIGTERM: $("$PY" "$PROBE" online "127.0.0.1:$PORT" $(( TOTAL + 10 )) "$t0") ms to $((TOTAL + 10)) partitions online"
  echo "$label: restarted: RSS $(( $(rss_kb "$pid") / 1024 )) MiB, $(fds "$pid") fds"
  crash
  t0=$(now_ns); start_one_broker "$bin" "$data"
  echo "$label: start-up after kill -9: $("$PY" "$PROBE" online "127.0.0.1:$PORT" $(( TOTAL + 10 )) "$t0") ms"
  stop

  # The same partition count in one topic, each record named its partition
  # (i % N), so every batch holds the records of one partition and no
  # partitioner or sticky batching decides: the broker's CPU per record
  # and the client's, over $TOTAL partitions against 10, on a fresh broker
  # (both topic sets at once would need twice the descriptors). Every
  # partition has had its first append before the runs.
  rm -rf "$data"
  start_one_broker "$bin" "$data"; wait_port "$PORT"
  local wide
  echo "request.timeout.ms=600000" > "$WORK/admin.properties"
  if ! "$bin" topics --bootstrap-server "127.0.0.1:$PORT" --command-config "$WORK/admin.properties" \
    --create --topic wide --partitions "$TOTAL" --replication-factor 1 >/dev/null; then
    echo "$label: cannot create one topic of $TOTAL partitions"
    wide=
  else
    wide=wide
    "$PY" "$PROBE" spread "127.0.0.1:$PORT" wide "$TOTAL" $(( TOTAL * 10 )) 100 >/dev/null
  fi
  "$bin" topics --bootstrap-server "127.0.0.1:$PORT" --create --topic ten --partitions 10 \
    --replication-factor 1 >/dev/null
  for _ in 1 2; do
    for topic in ten $wide; do
      local c0 c1 res parts=10
      [ "$topic" = wide ] && parts=$TOTAL
      c0=$(cpu_ticks "$pid")
      res=$("$PY" "$PROBE" spread "127.0.0.1:$PORT" "$topic" "$parts" "$RECORDS" 1024)
      c1=$(cpu_ticks "$pid")
      echo "$label: one topic, each record to its own partition of $parts: $res," \
        "broker CPU $(( (c1 - c0) * 1000000000 / TICKS / RECORDS )) ns/record"
    done
  done
  stop

  # Idle connections, on a broker with no partitions but the e2e topic.
  rm -rf "$data"
  [ "$CONNS" -gt 0 ] || return 0
  start_one_broker "$bin" "$data"; wait_port "$PORT"
  "$KLOAD" create-topic --bootstrap "127.0.0.1:$PORT" --topic e2e --partitions 1 >/dev/null
  e2e() { "$KLOAD" e2e --bootstrap "127.0.0.1:$PORT" --topic e2e --rate 1000 --duration-s "$E2E_S" \
      --record-size 100 --fetch-wait-ms 500 | grep -o 'e2e latency us.*produce-ack us p50=[0-9]* p99=[0-9]*'; }
  echo "$label: e2e without idle connections: $(e2e)"
  rss0=$(rss_kb "$pid")
  rm -f "$WORK/ready" "$WORK/stop-idle"
  "$PY" "$PROBE" idle "127.0.0.1:$PORT" "$CONNS" "$WORK/ready" "$WORK/stop-idle" &
  local idle_pid=$!
  for _ in $(seq 1200); do [ -s "$WORK/ready" ] && break; sleep 0.1; done
  [ -s "$WORK/ready" ] || { echo "idle connections never opened" >&2; exit 1; }
  sleep 1
  rss1=$(rss_kb "$pid")
  echo "$label: $CONNS idle connections: RSS +$(( (rss1 - rss0) / 1024 )) MiB ($(( (rss1 - rss0) * 1024 / CONNS )) B per connection), $(fds "$pid") fds"
  echo "$label: e2e with $CONNS idle connections: $(e2e)"
  touch "$WORK/stop-idle"; wait "$idle_pid"
  echo "$label: e2e after closing them: $(e2e)"
  stop
  rm -rf "$data"
}

alternate_rounds
