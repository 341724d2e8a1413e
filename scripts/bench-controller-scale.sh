#!/usr/bin/env bash
# The controller at scale (issue 13; Kafka 1.1's anchors: 3 s and 14 s),
# on three local brokers (release build) and a standalone
# `kafka-rs zookeeper-start`, ROUNDS times each:
#  (a) controlled shutdown: TOPICS_A topics x PARTS_A partitions (default
#      100 x 100 = 10,000), replication factor 2, every one with the same
#      broker (never the controller) as preferred leader and the others
#      taking turns as follower; SIGTERM that broker and measure from the
#      signal to the controller's answer (its log line), to a client's
#      Metadata showing none of them led by it, and to the process exit.
#      Between rounds the broker starts again and a preferred election
#      gives it its leaderships back. Before the first round, each
#      broker's CPU over IDLE_S seconds (default 10) with every follower
#      in sync and no client.
#  (b) controller failover: TOPICS_B topics x PARTS_B partitions (default
#      1,000 x 100 = 100,000), replication factor 2, assigned round-robin
#      to three more registered broker ids (101-103, held by a kazoo
#      session: no logs, since 100,000 logs on one machine's three
#      brokers would exhaust its memory maps), plus LEAD_B partitions
#      (default 1,000) on the real brokers led by the controller. kill -9
#      the controller and measure, from the new controller's election (its
#      log line), the time to read every partition (its log), and until a
#      client's Metadata shows the LEAD_B partitions on new leaders.
# Usage: [KAFKA_RS_BIN=...] [KEEP=1] scripts/bench-controller-scale.sh a|b|ab [ROUNDS]
# Needs target/release/kafka-rs and the test venv's python (confluent-kafka
# and kazoo, from scripts/test-all.sh).
set -euo pipefail
WHAT=${1:-ab}
ROUNDS=${2:-3}
TOPICS_A=${TOPICS_A:-100}; PARTS_A=${PARTS_A:-100}
TOPICS_B=${TOPICS_B:-1000}; PARTS_B=${PARTS_B:-100}; LEAD_B=${LEAD_B:-1000}
SESSION_MS=${SESSION_MS:-6000}
IDLE_S=${IDLE_S:-10}
here="$(cd "$(dirname "$0")/.." && pwd)"
BIN=${KAFKA_RS_BIN:-$here/target/release/kafka-rs}
PY=${KAFKA_RS_PYTHON:-$here/target/test-venv/bin/python}
HELP="$here/scripts/controller_scale.py"
. "$here/scripts/benchlib.sh"

WORK=$(mktemp -d /tmp/bench-ctlscale.XXXXXX)
declare -A broker_pid port
pids=()
cleanup() {
  touch "$WORK/stop"
  for p in "${broker_pid[@]}" "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "${KEEP:-}" ]; then echo "logs kept in $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap "exit 1" INT TERM
# Polls a condition (a shell command) every 0.2 s for up to 15 minutes.
wait_for() { local what=$1; shift; for _ in $(seq 4500); do "$@" && return 0; sleep 0.2; done; echo "timed out waiting for $what" >&2; exit 1; }
# Epoch seconds of a log line's leading RFC 3339 timestamp.
stamp() { date -d "$(echo "$1" | cut -d' ' -f1)" +%s.%N; }
ms() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.0f", (b-a)*1000}'; }

start_cluster() {
  ZK=$(free_port)
  printf 'dataDir=%s/zk\nclientPort=%s\n' "$WORK" "$ZK" > "$WORK/zk.properties"
  "$BIN" zookeeper-start "$WORK/zk.properties" >"$WORK/zk.log" 2>&1 & pids+=($!)
  wait_port "$ZK"
  for id in 1 2 3; do start_broker "$id" auto.leader.rebalance.enable=false; done
  wait_for "a controller" controller_is_known
}
bootstrap() { local b=(); for id in "${!broker_pid[@]}"; do b+=("127.0.0.1:${port[$id]}"); done; (IFS=,; echo "${b[*]}"); }
# The broker whose log last says it became the controller.
controller() {
  grep -H "is the controller (epoch" "$WORK"/logs*/server.log 2>/dev/null \
    | sed 's/.*logs\([0-9]*\)\/server.log:\([^ ]*\) .*/\2 \1/' | sort | tail -1 | cut -d' ' -f2
}
controller_is_known() { [ -n "$(controller)" ]; }
stop_broker() { kill "$2" "${broker_pid[$1]}"; wait "${broker_pid[$1]}" 2>/dev/null || true; unset "broker_pid[$1]"; }
spread() { python3 -c "import sys; v=sorted(float(x) for x in sys.argv[1:]); print('median %.0f ms, min %.0f, max %.0f' % (v[len(v)//2], v[0], v[-1]))" "$@"; }

bench_a() {
  local ctrl victim others assign t n
  ctrl=$(controller); victim=1; [ "$ctrl" = 1 ] && victim=2
  others=(); for id in 1 2 3; do [ "$id" != "$victim" ] && others+=("$id"); done
  echo "(a) controller: broker $ctrl; SIGTERM each round: broker $victim, leading $((TOPICS_A * PARTS_A)) partitions (RF 2)"
  for t in $(seq 0 $((TOPICS_A - 1))); do
    assign=$(python3 -c "print(','.join('$victim:%d' % [${others[0]},${others[1]}][p % 2] for p in range($PARTS_A)))")
    "$BIN" topics --bootstrap-server "$(bootstrap)" --create --topic "cs$t" --replica-assignment "$assign" >/dev/null
  done
  # Idle cost of following: every broker's CPU over IDLE_S seconds once
  # all followers are in sync, before any client polls.
  wait_for "followers in sync" all_in_sync_a
  local before=() id
  for id in 1 2 3; do before[$id]=$(ticks "${broker_pid[$id]}"); done
  sleep "$IDLE_S"
  echo "(a) idle, $((TOPICS_A * PARTS_A)) partitions in sync: CPU per broker $(for id in 1 2 3; do
    echo -n "$id: $(( ($(ticks "${broker_pid[$id]}") - before[id]) * 1000 / $(getconf CLK_TCK) / IDLE_S )) ms/s  "; done)"
  local res_ctl=() res_client=() res_exit=()
  for round in $(seq "$ROUNDS"); do
    local moved="$WORK/a$round.moved"
    "$PY" "$HELP" leaders "$(bootstrap)" cs $((TOPICS_A * PARTS_A)) "$victim" "$moved" 2>"$WORK/a$round.err" & pids+=($!)
    local probe=$!
    wait_for "broker $victim to lead every partition with two in sync" grep -qs ready "$moved"
    n=$(grep -c "controlled shutdown of broker $victim:" "$WORK/logs$ctrl/server.log" || true)
    local k e line answered client
    k=$(date +%s.%N); stop_broker "$victim" -TERM; e=$(date +%s.%N)
    wait "$probe"
    wait_for "the controller's log line" lines_above "controlled shutdown of broker $victim:" "$WORK/logs$ctrl/server.log" "$n"
    line=$(grep "controlled shutdown of broker $victim:" "$WORK/logs$ctrl/server.log" | tail -1)
    answered=$(stamp "$line")
    client=$(grep moved "$moved" | cut -d' ' -f2)
    echo "round $round (a) controller answered $(ms "$k" "$answered") ms after SIGTERM (${line#*controller: }); client Metadata: none led by $victim $(ms "$k" "$client") ms after; process exited $(ms "$k" "$e") ms after; load $(cut -d' ' -f1-3 /proc/loadavg)"
    res_ctl+=("$(ms "$k" "$answered")"); res_client+=("$(ms "$k" "$client")"); res_exit+=("$(ms "$k" "$e")")
    start_broker "$victim" auto.leader.rebalance.enable=false
    if [ "$round" -lt "$ROUNDS" ]; then
      # In sync again before the election, or it has no one to elect.
      wait_for "followers in sync" all_in_sync_a
      "$BIN" leader-election --bootstrap-server "$(bootstrap)" --election-type PREFERRED --all-topic-partitions >/dev/null 2>&1 || true
    fi
  done
  echo "summary (a) SIGTERM of a broker leading $((TOPICS_A * PARTS_A)): controller answered $(spread "${res_ctl[@]}"); client Metadata $(spread "${res_client[@]}"); process exit $(spread "${res_exit[@]}")"
}
create_topic() { "$BIN" topics --bootstrap-server "$(bootstrap)" --create --topic "$1" --replica-assignment "$2" >/dev/null 2>&1; }
# More than $3 lines match $1 in the files $2 (a glob).
lines_above() { [ "$(cat $2 | grep -c "$1")" -gt "$3" ]; }
states_written() { [ "$("$PY" "$HELP" states "127.0.0.1:$ZK" big "$TOPICS_B")" -eq "$1" ]; }
all_in_sync_a() {
  "$PY" - "$(bootstrap)" $((TOPICS_A * PARTS_A)) <<'EOF'
import sys
from confluent_kafka.admin import AdminClient
md = AdminClient({"bootstrap.servers": sys.argv[1]}).list_topics(timeout=30)
ps = [p for n, t in md.topics.items() if n.startswith("cs") for p in t.partitions.values()]
sys.exit(0 if len(ps) == int(sys.argv[2]) and all(len(p.isrs) == 2 for p in ps) else 1)
EOF
}

bench_b() {
  "$PY" "$HELP" brokers "127.0.0.1:$ZK" 101,102,103 "$WORK/stop" >"$WORK/phantoms.out" 2>&1 & pids+=($!)
  wait_for "brokers 101-103 registered" grep -qs registered "$WORK/phantoms.out"
  local started; started=$(date +%s.%N)
  "$PY" "$HELP" topics "127.0.0.1:$ZK" big "$TOPICS_B" "$PARTS_B" 101,102,103
  local total=$((TOPICS_B * PARTS_B))
  wait_for "$total partition states" states_written "$total"
  echo "(b) $total partitions (RF 2 on brokers 101-103) created and their states written by the controller in $(ms "$started" "$(date +%s.%N)") ms"
  local res_read=() res_client=() res_all=()
  for round in $(seq "$ROUNDS"); do
    local ctrl others assign
    ctrl=$(controller)
    others=(); for id in 1 2 3; do [ "$id" != "$ctrl" ] && others+=("$id"); done
    assign=$(python3 -c "print(','.join('$ctrl:%d' % [${others[0]},${others[1]}][p % 2] for p in range($LEAD_B)))")
    # Retried until the broker restarted in the previous round is registered.
    wait_for "lead$round created" create_topic "lead$round" "$assign"
    local moved="$WORK/b$round.moved"
    "$PY" "$HELP" leaders "$(bootstrap)" "lead$round" "$LEAD_B" "$ctrl" "$moved" exact 2>"$WORK/b$round.err" & pids+=($!)
    local probe=$!
    wait_for "broker $ctrl to lead lead$round" grep -qs ready "$moved"
    local before k
    before=$(cat "$WORK"/logs*/server.log | grep -c "took over as controller" || true)
    k=$(date +%s.%N); stop_broker "$ctrl" -9
    wait "$probe"
    wait_for "a new controller" lines_above "took over as controller" "$WORK/logs*/server.log" "$before"
    local new elected took client line
    new=$(controller)
    elected=$(stamp "$(grep "is the controller (epoch" "$WORK/logs$new/server.log" | tail -1)")
    line=$(grep "took over as controller" "$WORK/logs$new/server.log" | tail -1)
    took=$(stamp "$line")
    client=$(grep moved "$moved" | cut -d' ' -f2)
    echo "round $round (b) broker $new elected $(ms "$k" "$elected") ms after kill -9 of $ctrl; log: ${line#*INFO }; took over $(ms "$elected" "$took") ms after its election; client Metadata: lead$round's $LEAD_B partitions moved $(ms "$elected" "$client") ms after the election; load $(cut -d' ' -f1-3 /proc/loadavg)"
    res_read+=("$(ms "$elected" "$took")"); res_client+=("$(ms "$elected" "$client")")
    start_broker "$ctrl" auto.leader.rebalance.enable=false
  done
  echo "summary (b) failover over $((total + LEAD_B)) partitions: election -> took over (view read and decided) $(spread "${res_read[@]}"); election -> client Metadata shows the moves $(spread "${res_client[@]}")"
}

echo "binary: $BIN"
start_cluster
case "$WHAT" in *a*) bench_a ;; esac
case "$WHAT" in *b*) bench_b ;; esac
