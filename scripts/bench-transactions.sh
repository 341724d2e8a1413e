#!/usr/bin/env bash
# Transactions' cost on one broker in one sitting: confluent-kafka (librdkafka)
# producing N 100-byte records idempotently vs in transactions committed every
# 100 ms, alternating, ROUNDS rounds; the same with our own producer-perf-test
# (idempotent vs --transactional-id --transaction-duration-ms 100); then kcat
# reading the transactional topic (which holds the markers) with
# isolation.level read_committed vs read_uncommitted, alternating. Prints
# records/s of each run.
#
# Usage: scripts/bench-transactions.sh [RECORDS] [ROUNDS]
# Needs a release build (target/release/kafka-rs), kcat and the Python venv
# with confluent-kafka (scripts/test-all.sh; KAFKA_RS_PYTHON to point at it).
set -euo pipefail
N=${1:-1000000}
ROUNDS=${2:-3}
here="$(cd "$(dirname "$0")/.." && pwd)"
BIN=${KAFKA_RS_BIN:-$here/target/release/kafka-rs}
PY=${KAFKA_RS_PYTHON:-$here/target/test-venv/bin/python}
WORK=$(mktemp -d /tmp/bench-transactions.XXXXXX)
pid=
cleanup() { [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

. "$here/scripts/benchlib.sh"
PORT=$(free_port)
B=127.0.0.1:$PORT
"$BIN" server-start --override "listeners=PLAINTEXT://$B" --override "log.dirs=$WORK/data" \
  --override embedded.zookeeper.port=0 --override offsets.topic.replication.factor=1 \
  --override transaction.state.log.replication.factor=1 --override transaction.state.log.min.isr=1 \
  >"$WORK/broker.log" 2>&1 & pid=$!
wait_port "$PORT"

for r in $(seq "$ROUNDS"); do
  for mode in idempotent transactional; do
    "$BIN" topics --bootstrap-server "$B" --create --topic "$mode-$r" --partitions 1 --replication-factor 1 >/dev/null
    echo "round $r $("$PY" "$here/scripts/bench_txn_producer.py" "$B" "$mode-$r" "$N" "$mode" 100)"
  done
done
perf_rate() { sed -n 's/.* records sent, \([0-9.]*\) records\/sec.*/\1/p' | tail -1; }
for r in $(seq "$ROUNDS"); do
  for mode in idempotent transactional; do
    "$BIN" topics --bootstrap-server "$B" --create --topic "perf-$mode-$r" --partitions 1 --replication-factor 1 >/dev/null
    extra=()
    [ "$mode" = transactional ] && extra=(--transactional-id "bench-perf-$r" --transaction-duration-ms 100)
    rate=$("$BIN" producer-perf-test --topic "perf-$mode-$r" --num-records "$N" --record-size 100 --throughput -1 \
      --producer-props bootstrap.servers="$B" enable.idempotence=true acks=all "${extra[@]}" | perf_rate)
    echo "round $r producer-perf-test $mode: $rate records/s"
  done
done
for r in $(seq "$ROUNDS"); do
  for level in read_uncommitted read_committed; do
    t0=$(date +%s%N)
    got=$(kcat -b "$B" -C -t "transactional-$r" -o beginning -e -q -X "isolation.level=$level" -f '.\n' | wc -l)
    t1=$(date +%s%N)
    echo "round $r consume $level: $got records, $(( got * 1000000000 / (t1 - t0) )) records/s"
  done
done
