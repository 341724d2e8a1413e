#!/usr/bin/env bash
# Offset commits and transactions on three local brokers with Kafka's
# built-in defaults for the internal topics (replication factor 3, min ISR
# 2 for the transaction log; config/server.properties, like Kafka's, sets
# 1 for a single-broker start): each commit is an acks=all append by a
# coordinator, so its latency is how soon the followers fetch it. ROUNDS rounds of COUNT commits and COUNT
# one-record transactions (scripts/bench_commit_latency.py), alternating
# with BEFORE_BIN when it is set.
#
# Usage: [BEFORE_BIN=...] scripts/bench-commit-latency.sh [COUNT] [ROUNDS]
# Needs a release build (target/release/kafka-rs) and the test venv's
# python with confluent-kafka (scripts/test-all.sh).
set -euo pipefail
COUNT=${1:-50}
ROUNDS=${2:-3}
SESSION_MS=6000
here="$(cd "$(dirname "$0")/.." && pwd)"
BIN=${KAFKA_RS_BIN:-$here/target/release/kafka-rs}
PY=${KAFKA_RS_PYTHON:-$here/target/test-venv/bin/python}
. "$here/scripts/benchlib.sh"
WORK=
pids=()
declare -A broker_pid=() port=()
stop_all() { for p in "${pids[@]}" "${broker_pid[@]}"; do kill -9 "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; pids=(); }
trap 'stop_all; [ -n "$WORK" ] && rm -rf "$WORK"' EXIT

run() { # LABEL BIN
  local label=$1 BIN=$2
  broker_pid=(); port=()
  WORK=$(mktemp -d /tmp/bench-commit.XXXXXX)
  ZK=$(free_port)
  printf 'dataDir=%s/zk\nclientPort=%s\n' "$WORK" "$ZK" > "$WORK/zk.properties"
  "$BIN" zookeeper-start "$WORK/zk.properties" >"$WORK/zk.log" 2>&1 & pids+=($!)
  wait_port "$ZK"
  for id in 1 2 3; do
    start_broker "$id" offsets.topic.replication.factor=3 transaction.state.log.replication.factor=3 \
      transaction.state.log.min.isr=2
  done
  local b="127.0.0.1:${port[1]},127.0.0.1:${port[2]},127.0.0.1:${port[3]}"
  "$BIN" topics --bootstrap-server "$b" --create --topic latency --partitions 1 --replication-factor 3 >/dev/null
  echo "$label: $("$PY" "$here/scripts/bench_commit_latency.py" "$b" latency "$COUNT" | paste -sd ';')"
  stop_all
  rm -rf "$WORK"; WORK=
}

echo "binary: $BIN${BEFORE_BIN:+, before: $BEFORE_BIN}"
alternate_rounds
