#!/usr/bin/env bash
# What TLS costs: one broker with a PLAINTEXT and an SSL listener (no client
# auth, TLS 1.3), certificates made with openssl in a temp dir. Each round
# produces N records of 100 B and of 1 KiB with producer-perf-test (acks=1,
# linger.ms=5) over each listener, then reads each topic back with
# consumer-perf-test over the same listener. Prints records/s and the
# broker's CPU per record (from /proc) for every run, then per-round SSL /
# PLAINTEXT ratios and their medians.
#
# With KAFKA_RS_BIN_BEFORE set to another build, every round runs that
# build and then this one (broker and clients alike, a fresh broker each),
# so a change is measured before and after in the same sitting.
#
# Usage: scripts/bench-tls.sh [RECORDS] [ROUNDS]
# Needs a release build (target/release/kafka-rs) and openssl.
set -euo pipefail
N=${1:-1000000}
ROUNDS=${2:-3}
here="$(cd "$(dirname "$0")/.." && pwd)"
AFTER=${KAFKA_RS_BIN:-$here/target/release/kafka-rs}
BEFORE=${KAFKA_RS_BIN_BEFORE:-}
WORK=$(mktemp -d /tmp/bench-tls.XXXXXX)
HZ=$(getconf CLK_TCK)
pid=
cleanup() { [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

. "$here/scripts/benchlib.sh"

cd "$WORK"
echo "subjectAltName=DNS:localhost,IP:127.0.0.1" >server.ext
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=bench-ca -keyout ca.key -out ca.pem 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout broker.key -out broker.csr 2>/dev/null
openssl x509 -req -in broker.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
  -extfile server.ext -out broker.crt 2>/dev/null
cat broker.crt broker.key >broker.pem
printf 'security.protocol=SSL\nssl.truststore.type=PEM\nssl.truststore.location=%s/ca.pem\n' "$WORK" >SSL.properties
printf 'security.protocol=PLAINTEXT\n' >PLAINTEXT.properties

# One broker per build and round; prints each run as
# "<build> <round> <size> <op> <protocol> <records/s> <cpu seconds>".
run_build() {
  local build=$1 bin=$2 round=$3
  local plain ssl
  plain=$(free_port)
  ssl=$(free_port)
  rm -rf "$WORK/logs"
  "$bin" server-start --override "listeners=PLAINTEXT://127.0.0.1:$plain,SSL://127.0.0.1:$ssl" \
    --override "log.dirs=$WORK/logs" --override embedded.zookeeper.port=0 \
    --override offsets.topic.replication.factor=1 \
    --override ssl.keystore.type=PEM --override "ssl.keystore.location=$WORK/broker.pem" \
    >"$WORK/broker.log" 2>&1 &
  pid=$!
  wait_port "$plain"
  wait_port "$ssl"
  declare -A port=([PLAINTEXT]=$plain [SSL]=$ssl)
  for size in 100 1024; do
    for proto in PLAINTEXT SSL; do
      for _ in $(seq 50); do
        "$bin" topics --bootstrap-server "127.0.0.1:$plain" --create --topic "t$size$proto" \
          --partitions 1 >/dev/null 2>&1 && break
        sleep 0.2
      done
    done
  done
  # Not measured: the first connections, topic and segment of each listener.
  for proto in PLAINTEXT SSL; do
    "$bin" producer-perf-test --topic "warmup$proto" --num-records $((N / 10)) --record-size 1024 \
      --throughput -1 --producer.config "$WORK/$proto.properties" \
      --producer-props "bootstrap.servers=localhost:${port[$proto]}" acks=1 linger.ms=5 >/dev/null 2>&1
  done
  for size in 100 1024; do
    for proto in PLAINTEXT SSL; do
      local bs="localhost:${port[$proto]}" c0 c1 out rate
      c0=$(ticks "$pid")
      out=$("$bin" producer-perf-test --topic "t$size$proto" --num-records "$N" \
        --record-size "$size" --throughput -1 --producer.config "$WORK/$proto.properties" \
        --producer-props "bootstrap.servers=$bs" acks=1 linger.ms=5 2>/dev/null | tail -1)
      c1=$(ticks "$pid")
      rate=$(echo "$out" | sed -n 's/.* records sent, \([0-9.]*\) records\/sec.*/\1/p')
      [ -n "$rate" ] || { echo "producer-perf-test: $out" >&2; exit 1; }
      echo "$build $round $size produce $proto $rate $(((c1 - c0)))" >>"$WORK/results"
      c0=$(ticks "$pid")
      out=$("$bin" consumer-perf-test --bootstrap-server "$bs" --topic "t$size$proto" \
        --messages "$N" --consumer.config "$WORK/$proto.properties" --hide-header 2>/dev/null | tail -1)
      c1=$(ticks "$pid")
      # start.time, end.time, MB, MB.sec, nMsg, nMsg.sec, ...
      rate=$(echo "$out" | awk -F', ' '$5 == '"$N"' {print $6}')
      [ -n "$rate" ] || { echo "consumer-perf-test: $out" >&2; exit 1; }
      echo "$build $round $size consume $proto $rate $(((c1 - c0)))" >>"$WORK/results"
    done
  done
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  pid=
}

for round in $(seq "$ROUNDS"); do
  [ -n "$BEFORE" ] && run_build before "$BEFORE" "$round"
  run_build after "$AFTER" "$round"
  grep " $round " "$WORK/results" | awk -v n="$N" -v hz="$HZ" \
    '{printf "%s round %s %5s B %-7s %-9s %12.0f records/s  broker CPU %.3f us/record\n", $1, $2, $3, $4, $5, $6, $7 / hz / n * 1e6}'
done

python3 - "$WORK/results" "$N" "$HZ" <<'PY'
import sys
from statistics import median
n, hz = int(sys.argv[2]), int(sys.argv[3])
rows = [l.split() for l in open(sys.argv[1])]
by = {(b, r, s, op, p): (float(rate), int(t) / hz / n * 1e6) for b, r, s, op, p, rate, t in rows}
builds = [b for b in ("before", "after") if any(k[0] == b for k in by)]
rounds = sorted({k[1] for k in by}, key=int)
for b in builds:
    print(f"\n{b}: medians over {len(rounds)} rounds")
    print("| records | produce PLAINTEXT | produce SSL | ratio | consume PLAINTEXT | consume SSL | ratio |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for size in ("100", "1024"):
        cells = []
        for op in ("produce", "consume"):
            plain = [by[(b, r, size, op, "PLAINTEXT")] for r in rounds]
            ssl = [by[(b, r, size, op, "SSL")] for r in rounds]
            ratios = [s[0] / p[0] for p, s in zip(plain, ssl)]
            for runs in (plain, ssl):
                cells.append(f"{median(x[0] for x in runs):,.0f}/s, {median(x[1] for x in runs):.2f} us CPU")
            cells.append(f"{median(ratios):.2f} ({', '.join(f'{x:.2f}' for x in ratios)})")
        label = "100 B" if size == "100" else "1 KiB"
        print(f"| {label} | " + " | ".join(cells) + " |")
PY
