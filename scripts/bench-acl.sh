#!/usr/bin/env bash
# What authorization costs: two brokers side by side, both with a
# SASL_PLAINTEXT listener (PLAIN), one with Kafka's authorizer and 1,000
# ACLs for other principals (half literal topic ACLs, half prefixed) plus
# the few the benchmark user needs (prefixed on its topics), the other with
# no authorizer. Each round produces then consumes N 100-byte records with
# producer-perf-test and consumer-perf-test as that user on each broker in
# turn, on a fresh topic, and reads the broker's CPU from /proc/PID/stat.
# Prints records/s and broker CPU per record per run, then the ratio of
# CPU per record (authorizer / none) per round and its median.
#
# CPU read in 10 ms ticks, on a machine shared with the client, moves more
# between runs than authorization costs, so a last round also profiles the
# authorizing broker (perf, call graphs) through one produce and one
# consume and prints the share of its samples with authorization code on
# the stack: the authorizer's cost measured inside the one broker, with no
# second broker to compare against.
#
# Usage: scripts/bench-acl.sh [RECORDS] [ROUNDS]
# Needs a release build (target/release/kafka-rs); the profile needs perf
# (skipped with a note when it is missing or PROFILE=0).
set -euo pipefail
N=${1:-1000000}
ROUNDS=${2:-3}
here="$(cd "$(dirname "$0")/.." && pwd)"
BIN=${KAFKA_RS_BIN:-$here/target/release/kafka-rs}
WORK=$(mktemp -d /tmp/bench-acl.XXXXXX)
HZ=$(getconf CLK_TCK)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

. "$here/scripts/benchlib.sh"

JAAS='org.apache.kafka.common.security.plain.PlainLoginModule required user_bench="bench-secret" user_other="other-secret";'
cat >"$WORK/client.properties" <<EOF
security.protocol=SASL_PLAINTEXT
sasl.mechanism=PLAIN
sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="bench" password="bench-secret";
EOF

declare -A plain sasl pid
start() { # name, extra overrides...
  local name=$1; shift
  plain[$name]=$(free_port); sasl[$name]=$(free_port)
  "$BIN" server-start \
    --override "listeners=PLAINTEXT://127.0.0.1:${plain[$name]},SASL_PLAINTEXT://127.0.0.1:${sasl[$name]}" \
    --override "sasl.enabled.mechanisms=PLAIN" \
    --override "listener.name.sasl_plaintext.plain.sasl.jaas.config=$JAAS" \
    --override "log.dirs=$WORK/$name-logs" --override embedded.zookeeper.port=0 \
    --override offsets.topic.replication.factor=1 "$@" >"$WORK/$name.log" 2>&1 &
  pid[$name]=$!; pids+=("$!"); disown "$!"
  wait_port "${plain[$name]}"; wait_port "${sasl[$name]}"
}
# The admin tools connect over PLAINTEXT as ANONYMOUS, a super user.
start acl --override authorizer.class.name=kafka.security.authorizer.AclAuthorizer \
  --override super.users=User:ANONYMOUS
start none

A="127.0.0.1:${plain[acl]}"
literal=(); prefixed=()
for i in $(seq 0 499); do literal+=(--topic "orders-$i"); prefixed+=(--topic "audit-$i-"); done
"$BIN" acls --bootstrap-server "$A" --add --allow-principal User:other --operation Write \
  "${literal[@]}" >/dev/null
"$BIN" acls --bootstrap-server "$A" --add --allow-principal User:other --operation Read \
  --resource-pattern-type PREFIXED "${prefixed[@]}" >/dev/null
"$BIN" acls --bootstrap-server "$A" --add --allow-principal User:bench --producer --idempotent \
  --topic bench- --resource-pattern-type PREFIXED >/dev/null
"$BIN" acls --bootstrap-server "$A" --add --allow-principal User:bench --operation Read \
  --operation Describe --topic bench- --resource-pattern-type PREFIXED >/dev/null
count=$("$BIN" acls --bootstrap-server "$A" --list | grep -c '(principal=' || true)
echo "ACLs defined on the authorizing broker: $count"

for round in $(seq "$ROUNDS"); do
  for kind in acl none; do
    topic="bench-$round"
    "$BIN" topics --bootstrap-server "127.0.0.1:${plain[$kind]}" --create --topic "$topic" \
      --partitions 1 >/dev/null
    S="127.0.0.1:${sasl[$kind]}"
    c0=$(ticks "${pid[$kind]}"); t0=$(date +%s.%N)
    "$BIN" producer-perf-test --topic "$topic" --num-records "$N" --record-size 100 \
      --throughput -1 --producer.config "$WORK/client.properties" \
      --producer-props "bootstrap.servers=$S" acks=1 linger.ms=5 >"$WORK/produce.out"
    t1=$(date +%s.%N); c1=$(ticks "${pid[$kind]}")
    "$BIN" consumer-perf-test --bootstrap-server "$S" --topic "$topic" --messages "$N" \
      --consumer.config "$WORK/client.properties" --timeout 60000 >"$WORK/consume.out"
    t2=$(date +%s.%N); c2=$(ticks "${pid[$kind]}")
    grep -q "^$N records sent" "$WORK/produce.out" || { cat "$WORK/produce.out" >&2; exit 1; }
    python3 -c "
n=$N; hz=$HZ
pe, ce = $t1-$t0, $t2-$t1
pc, cc = ($c1-$c0)/hz, ($c2-$c1)/hz
print(f'round $round $kind: produce {n/pe:,.0f} records/s, {pc/n*1e9:.0f} ns CPU/record; '
      f'consume {n/ce:,.0f} records/s, {cc/n*1e9:.0f} ns CPU/record')
open('$WORK/results', 'a').write(f'$round $kind {pc} {cc}\\n')"
  done
done
profile() {
  local topic=bench-profile S="127.0.0.1:${sasl[acl]}"
  "$BIN" topics --bootstrap-server "127.0.0.1:${plain[acl]}" --create --topic "$topic" \
    --partitions 1 >/dev/null
  perf record -q -F 4999 --call-graph dwarf,16384 -p "${pid[acl]}" -o "$WORK/acl.perf" \
    >/dev/null 2>&1 &
  local rec=$!
  # perf attaches asynchronously; its output file appears once it has.
  for _ in $(seq 100); do [ -s "$WORK/acl.perf" ] && break; sleep 0.05; done
  "$BIN" producer-perf-test --topic "$topic" --num-records "$N" --record-size 100 \
    --throughput -1 --producer.config "$WORK/client.properties" \
    --producer-props "bootstrap.servers=$S" acks=1 linger.ms=5 >/dev/null
  "$BIN" consumer-perf-test --bootstrap-server "$S" --topic "$topic" --messages "$N" \
    --consumer.config "$WORK/client.properties" --timeout 60000 >/dev/null
  kill -INT "$rec"; wait "$rec" 2>/dev/null || true
  # One blank-line-separated stack per sample.
  perf script -i "$WORK/acl.perf" -F ip,sym 2>/dev/null | awk 'BEGIN { RS = "" }
    { n++; if ($0 ~ /authoriz|Authz|::acl::/) a++ }
    END { printf "profile of the authorizing broker, produce + consume of %d records: %d samples, %d (%.2f%%) with authorization code on the stack\n", '"$N"', n, a, n ? 100 * a / n : 0 }'
}
if [ "${PROFILE:-1}" = 1 ] && command -v perf >/dev/null; then
  profile
else
  echo "profile skipped (PROFILE=0 or no perf)"
fi

python3 - "$WORK/results" "$N" <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1])]
n = int(sys.argv[2])
by = {(r, k): (float(p), float(c)) for r, k, p, c in rows}
rounds = sorted({r for r, *_ in rows}, key=int)
def ratio(a, b):
    return a / b if b > 0 else float("nan")
def median(xs):
    return sorted(xs)[len(xs) // 2]
for i, what in ((0, "produce"), (1, "consume")):
    ratios = [ratio(by[(r, "acl")][i], by[(r, "none")][i]) for r in rounds]
    print(f"{what}: broker CPU per record with 1,000 ACLs / without, per round "
          f"{', '.join(f'{x:.3f}' for x in ratios)}; median {median(ratios):.3f}")
both = [ratio(sum(by[(r, "acl")]), sum(by[(r, "none")])) for r in rounds]
print(f"produce+consume: per round {', '.join(f'{x:.3f}' for x in both)}; median {median(both):.3f}")
PY
