#!/usr/bin/env bash
# Clean shutdown of one broker holding TOPICS x PARTS partitions (issue 13;
# default 1,000 x 10 = 10,000, empty). Per round and per build, on a fresh
# data dir: create the topics, wait until all are online, SIGTERM and time
# until the process exits; start again and time until all are online
# (bench_scale.py online: a clean start needs no recovery scan); SIGTERM
# again, now with every file as the previous shutdown left it.
#
# Usage: scripts/bench-shutdown.sh [ROUNDS]
# Env: TOPICS PARTS KAFKA_RS_BIN (default target/release/kafka-rs) BEFORE_BIN
#      (another build, run after ours in each round) KAFKA_RS_PYTHON
set -euo pipefail
ROUNDS=${1:-3}
TOPICS=${TOPICS:-1000}
PARTS=${PARTS:-10}
here="$(cd "$(dirname "$0")/.." && pwd)"
BIN=${KAFKA_RS_BIN:-$here/target/release/kafka-rs}
PY=${KAFKA_RS_PYTHON:-python3}
PROBE="$here/scripts/bench_scale.py"
TOTAL=$(( TOPICS * PARTS ))
WORK=$(mktemp -d /tmp/bench-shutdown.XXXXXX)
pid=
cleanup() { [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
. "$here/scripts/benchlib.sh"
# One descriptor per partition's log, besides sockets.
ulimit -n "$(ulimit -Hn)"

now_ns() { date +%s%N; }
# Sets `ms` to the milliseconds from SIGTERM until the broker is gone. Not
# run in a subshell: only this shell can wait for its child.
term() { local t0; t0=$(now_ns); kill -TERM "$pid"; wait "$pid" || true; pid=; ms=$(( ($(now_ns) - t0) / 1000000 )); }

run() { # LABEL BIN
  local label=$1 bin=$2 data="$WORK/data-$1" t0
  rm -rf "$data"
  start_one_broker "$bin" "$data"; wait_port "$PORT"
  "$PY" "$PROBE" create "127.0.0.1:$PORT" s "$TOPICS" "$PARTS" >/dev/null
  "$PY" "$PROBE" online "127.0.0.1:$PORT" "$TOTAL" "$(now_ns)" >/dev/null
  term; local first=$ms
  t0=$(now_ns); start_one_broker "$bin" "$data"
  local up; up=$("$PY" "$PROBE" online "127.0.0.1:$PORT" "$TOTAL" "$t0")
  term; local second=$ms
  echo "$label: shutdown after create ${first} ms, start-up ${up} ms, shutdown after restart ${second} ms"
  rm -rf "$data"
}

alternate_rounds
