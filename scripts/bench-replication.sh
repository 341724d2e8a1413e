#!/usr/bin/env bash
# Produce 100-byte records with acks=all to a replication-factor-3 topic and
# to a replication-factor-1 topic on the same three local brokers, in
# alternating runs of one sitting, and print records/s and the brokers' CPU
# per record (utime+stime of all three broker processes over the run).
#
# Usage: scripts/bench-replication.sh [RECORDS] [ROUNDS]
# Needs a release build (target/release/kafka-rs) and kcat.
set -euo pipefail
N=${1:-2000000}
ROUNDS=${2:-3}
here="$(cd "$(dirname "$0")/.." && pwd)"
BIN=${KAFKA_RS_BIN:-$here/target/release/kafka-rs}
WORK=$(mktemp -d /tmp/bench-replication.XXXXXX)
HZ=$(getconf CLK_TCK)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

. "$here/scripts/benchlib.sh"
cpu_all() { local t=0; for p in "${broker_pids[@]}"; do t=$((t + $(ticks "$p"))); done; echo "$t"; }

ZK=$(free_port)
printf 'dataDir=%s/zk\nclientPort=%s\n' "$WORK" "$ZK" > "$WORK/zk.properties"
"$BIN" zookeeper-start "$WORK/zk.properties" >"$WORK/zk.log" 2>&1 & pids+=($!)
wait_port "$ZK"
broker_pids=()
ports=()
for id in 1 2 3; do
  port=$(free_port); ports+=("$port")
  "$BIN" server-start --override broker.id=$id --override "listeners=PLAINTEXT://127.0.0.1:$port" \
    --override "log.dirs=$WORK/b$id" --override "zookeeper.connect=127.0.0.1:$ZK" \
    >"$WORK/b$id.log" 2>&1 & pids+=($!); broker_pids+=($!)
  wait_port "$port"
done
B="127.0.0.1:${ports[0]},127.0.0.1:${ports[1]},127.0.0.1:${ports[2]}"
sleep 2
for rf in 1 3; do
  for _ in $(seq 50); do
    "$BIN" topics --bootstrap-server "$B" --create --topic "rf$rf" --partitions 1 --replication-factor $rf >/dev/null 2>&1 && break
    sleep 0.2
  done
done
sleep 2
"$BIN" topics --bootstrap-server "$B" --describe
data="$WORK/records.txt"
python3 -c "open('$data','wb').write((b'A'*100+b'\n')*$N)"
KX=(-X socket.nagle.disable=true -X linger.ms=5 -X batch.size=1000000 -X queue.buffering.max.kbytes=32768
    -X queue.buffering.max.messages=10000000 -X enable.idempotence=false -X acks=all)
for round in $(seq "$ROUNDS"); do
  for rf in 1 3; do
    c0=$(cpu_all); t0=$(date +%s.%N)
    kcat -P -b "$B" -t "rf$rf" -p 0 "${KX[@]}" -l "$data"
    t1=$(date +%s.%N); c1=$(cpu_all)
    python3 -c "
n=$N; el=$t1-$t0; cpu=($c1-$c0)/$HZ
print(f'round $round rf=$rf acks=all: {n/el:,.0f} records/s, brokers CPU {cpu:.2f} s = {cpu/n*1e6:.3f} us/record')"
  done
done
