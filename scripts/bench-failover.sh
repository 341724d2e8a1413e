#!/usr/bin/env bash
# Failover as a client sees it, on three local brokers (release build) and a
# standalone `kafka-rs zookeeper-start`, ROUNDS times each:
#  (a) kill -9 of a partition leader: time from the kill to the first
#      acknowledged acks=all produce (one record at a time, through each
#      client of PROBE_CLIENTS in turn), against zookeeper.session.timeout.ms;
#  (b) SIGTERM (controlled shutdown) of the leader: the longest wait for an
#      ack after the signal and the produce errors the client (confluent-kafka)
#      saw;
#  (c) kill -9 of a broker leading 1,000 partitions (RF 3): the controller's
#      election (its log line: time after its watch fired, multis) and the
#      time until a client's Metadata shows all 1,000 on new leaders.
# The killed broker is never the controller: that is another measurement.
#
# Usage: [PROBE_CONFIG=key=value,...] [PROBE_CLIENTS="librdkafka ..."]
#        [TERM_ROUNDS=n] [BIG_ROUNDS=n] [BROKER_OVERRIDES="key=value ..."] [KEEP=1]
#        scripts/bench-failover.sh [ROUNDS] [SESSION_MS]
# (PROBE_CONFIG: librdkafka settings for the producer of (a) and (b), e.g.
# debug=metadata,broker,topic,msg to see when it asked whom, and with
# "debug" in it kafka-python's debug log too; PROBE_CLIENTS: the clients of
# (a), each ROUNDS times, of librdkafka (confluent-kafka), kafka-python and
# kafka-rs (this crate's producer, examples/failover_probe.rs), default
# librdkafka; TERM_ROUNDS and BIG_ROUNDS: rounds of (b) and (c), default
# ROUNDS; KEEP: keep the logs, which scripts/failover_breakdown.py then
# splits into the failover's steps.)
# Needs target/release/kafka-rs, target/release/examples/failover_probe for
# the kafka-rs client (`cargo build --release --example failover_probe`)
# and a python with confluent-kafka and kafka-python (KAFKA_RS_PYTHON,
# default target/test-venv/bin/python from scripts/test-all.sh).
set -euo pipefail
ROUNDS=${1:-3}
BIG_ROUNDS=${BIG_ROUNDS:-$ROUNDS}
TERM_ROUNDS=${TERM_ROUNDS:-$ROUNDS}
PROBE_CLIENTS=${PROBE_CLIENTS:-librdkafka}
SESSION_MS=${2:-6000}
here="$(cd "$(dirname "$0")/.." && pwd)"
BIN=${KAFKA_RS_BIN:-$here/target/release/kafka-rs}
PY=${KAFKA_RS_PYTHON:-$here/target/test-venv/bin/python}
PROBE="$here/scripts/failover_probe.py"
RS_PROBE=${KAFKA_RS_PROBE:-$here/target/release/examples/failover_probe}
WORK=$(mktemp -d /tmp/bench-failover.XXXXXX)
declare -A broker_pid port
pids=()
cleanup() {
  for p in "${pids[@]}" "${broker_pid[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "${KEEP:-}" ]; then echo "logs kept in $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

. "$here/scripts/benchlib.sh"
# Polls a condition (a shell command) every 0.1 s for up to 120 s.
wait_for() { local what=$1; shift; for _ in $(seq 1200); do "$@" && return 0; sleep 0.1; done; echo "timed out waiting for $what" >&2; exit 1; }

ZK=$(free_port)
printf 'dataDir=%s/zk\nclientPort=%s\n' "$WORK" "$ZK" > "$WORK/zk.properties"
"$BIN" zookeeper-start "$WORK/zk.properties" >"$WORK/zk.log" 2>&1 & pids+=($!)
wait_port "$ZK"
# BROKER_OVERRIDES: extra "key=value" broker settings, space-separated.
# shellcheck disable=SC2086
for id in 1 2 3; do start_broker "$id" ${BROKER_OVERRIDES:-}; done
bootstrap() { local b=(); for id in "${!broker_pid[@]}"; do b+=("127.0.0.1:${port[$id]}"); done; (IFS=,; echo "${b[*]}"); }
topics() { "$BIN" topics --bootstrap-server "$(bootstrap)" "$@"; }
controller() { grep -l "is the controller (epoch" "$WORK"/logs*/server.log 2>/dev/null | sed 's/.*logs\([0-9]*\).*/\1/' | tail -1; }
wait_for "a controller" test -n "$(controller)"
CTRL=$(controller)
# The broker a round kills: the first that is not the controller.
VICTIM=1; [ "$CTRL" = 1 ] && VICTIM=2
OTHERS=$(for id in 1 2 3; do [ "$id" != "$VICTIM" ] && echo -n "$id:"; done)
ASSIGN="$VICTIM:${OTHERS%:}"
echo "controller: broker $CTRL; killed each round: broker $VICTIM (leader by assignment $ASSIGN)"
echo "zookeeper.session.timeout.ms=$SESSION_MS"

# Every partition of $1 has its 3 replicas in the ISR.
all_in_sync() {
  local out; out=$(topics --describe --topic "$1" 2>/dev/null) || return 1
  echo "$out" | grep -q "Partition:" || return 1
  ! echo "$out" | grep "Partition:" | grep -vqE "Isr: [0-9]+,[0-9]+,[0-9]+$"
}
topic_gone() { ! topics --list 2>/dev/null | grep -qx "$1"; }
create() { wait_for "topic $1" topics --create --topic "$1" --replica-assignment "$2" >/dev/null 2>&1; wait_for "$1 in sync" all_in_sync "$1"; }
# shellcheck disable=SC2086
restart_victim() { start_broker "$VICTIM" ${BROKER_OVERRIDES:-}; }
# Signals the victim and reaps it without the shell's "Killed" notice.
signal_victim() { kill "$1" "${broker_pid[$VICTIM]}"; wait "${broker_pid[$VICTIM]}" 2>/dev/null || true; unset "broker_pid[$VICTIM]"; }
failover_lines_above() { [ "$(grep -c "failed; wrote" "$WORK/logs$CTRL/server.log")" -gt "$1" ]; }

# Starts the acks probe on topic $1 through client $2 (default librdkafka);
# sets probe_out/probe_stop.
start_probe() {
  probe_out="$WORK/$1.acks"; probe_stop="$WORK/$1.stop"
  local args=("$(bootstrap)" "$1" "$probe_out" "$probe_stop")
  echo "${2:-librdkafka}" > "$WORK/$1.client"
  case "${2:-librdkafka}" in
    librdkafka) "$PY" "$PROBE" acks "${args[@]}" 2>"$WORK/$1.probe.err" & pids+=($!) ;;
    kafka-python) "$PY" "$PROBE" acks-kafka-python "${args[@]}" 2>"$WORK/$1.probe.err" & pids+=($!) ;;
    kafka-rs) "$RS_PROBE" "${args[@]}" 2>"$WORK/$1.probe.err" & pids+=($!) ;;
    *) echo "unknown probe client $2" >&2; exit 1 ;;
  esac
  probe_pid=$!
  wait_for "probe acks on $1" acks_at_least 200
}
acks_at_least() { [ "$(grep -c ' ok$' "$probe_out" 2>/dev/null || true)" -ge "$1" ] 2>/dev/null; }
acked_after() { awk -v t="$1" '$3=="ok" && $2>t {n++} END {exit !(n>=50)}' "$probe_out"; }
stop_probe() { touch "$probe_stop"; wait "$probe_pid" || true; }

results_b=(); results_c=(); results_cc=()
declare -A results_a
n=0
for round in $(seq "$ROUNDS"); do
 for client in $PROBE_CLIENTS; do
  # (a) kill -9 of the leader; topics are numbered across clients, and
  # killN.client names the client.
  n=$((n + 1)); t="kill$n"; create "$t" "$ASSIGN"; start_probe "$t" "$client"
  # Acks that arrive between k and the reaping of the broker may still be
  # the old leader's; any after dead is the new leader's.
  k=$(date +%s.%N); signal_victim -9; dead=$(date +%s.%N)
  echo "$k $dead" > "$WORK/$t.killed"
  wait_for "acks after the kill" acked_after "$dead"
  stop_probe
  wait_for "the controller's log line" grep -q "brokers \[$VICTIM\] failed; wrote [1-9]" "$WORK/logs$CTRL/server.log"
  elected=$(date -d "$(grep "brokers \[$VICTIM\] failed; wrote [1-9]" "$WORK/logs$CTRL/server.log" | tail -1 | cut -d' ' -f1)" +%s.%N)
  # The first ack after the election: one seen between the kill and the
  # election is the old leader's, read late by a busy client.
  r=$(awk -v k="$k" -v dead="$elected" -v s="$SESSION_MS" '
    $3=="ok" && $2>dead && !first {first=$2}
    $3!="ok" {err++}
    END {printf "%.0f ms to the first ack after kill -9 (session timeout %d ms, goal <= %d ms), %d delivery errors", (first-k)*1000, s, s+1000, err}' "$probe_out")
  r="$r; the controller elected $(awk -v k="$k" -v e="$elected" 'BEGIN {printf "%.0f", (e-k)*1000}') ms after the kill"
  echo "round $round (a) $client: $r"; results_a[$client]+=" $(echo "$r" | cut -d' ' -f1)"
  restart_victim; wait_for "$t back in sync" all_in_sync "$t"
 done
done

for round in $(seq "$TERM_ROUNDS"); do
  # (b) SIGTERM of the leader: controlled shutdown.
  t="term$round"; create "$t" "$ASSIGN"; start_probe "$t"
  k=$(date +%s.%N); signal_victim -TERM
  e=$(date +%s.%N)
  wait_for "acks after the shutdown" acked_after "$e"
  stop_probe
  r=$(awk -v k="$k" -v e="$e" '
    $2>k && $3=="ok" { if (prev) { gap=$2-prev; if (gap>max) max=gap } prev=$2 }
    $2<=k && $3=="ok" { if (p0 && $2>k-1) { g0=$2-p0; if (g0>base) base=g0 } p0=$2; prev=$2 }
    $3!="ok" && $2>k {err++}
    END {printf "%.0f ms longest wait for an ack after SIGTERM (in the second before: %.1f ms), %d produce errors, broker exited %.0f ms after the signal", max*1000, base*1000, err, (e-k)*1000}' "$probe_out")
  echo "round $round (b) $r"; results_b+=("$(echo "$r" | cut -d' ' -f1)")
  restart_victim; wait_for "$t back in sync" all_in_sync "$t"
done

# (c) a broker leading 1,000 partitions dies.
big_assign=$(python3 -c "print(','.join(['$ASSIGN'] * 1000))")
for round in $(seq "$BIG_ROUNDS"); do
  # A fresh topic each round, so the victim leads exactly these 1,000.
  create "big$round" "$big_assign"
  moved="$WORK/big$round.moved"
  "$PY" "$PROBE" leaders "$(bootstrap)" "big$round" 1000 "$VICTIM" "$moved" 2>"$WORK/big$round.err" & pids+=($!)
  leaders_pid=$!
  wait_for "broker $VICTIM to lead all 1000" grep -qs ready "$moved"
  lines_before=$(grep -c "failed; wrote" "$WORK/logs$CTRL/server.log" || true)
  signal_victim -9
  wait "$leaders_pid"
  wait_for "the controller's log line" failover_lines_above "$lines_before"
  line=$(grep "failed; wrote" "$WORK/logs$CTRL/server.log" | tail -1)
  r=$(python3 - "$line" "$(grep moved "$moved")" <<'EOF'
import re, sys, datetime
line, moved = sys.argv[1], sys.argv[2].split()
ts = datetime.datetime.strptime(line.split()[0], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc).timestamp()
m = re.search(r"wrote (\d+) partition states in (\d+) multi\(s\) in ([\d.]+) ms \((?:([\d.]+) ms after the watch fired|found by listing)", line)
writes, multis, took = m.group(1), m.group(2), float(m.group(3))
# A pass that was already running when the session expired finds the
# broker gone by its listing of /brokers/ids before the watch event is
# read: then the controller noticed when it began the writes.
since = float(m.group(4)) if m.group(4) else took
how = "from the watch" if m.group(4) else "from the listing that found it"
noticed = ts - since / 1000
print("controller: %s states in %s multi(s), %.1f ms %s to the last write; client Metadata: all 1000 moved %.0f ms after the controller noticed (%s polls)"
      % (writes, multis, since, how, (float(moved[1]) - noticed) * 1000, moved[2]))
EOF
)
  echo "round $round (c) $r"
  results_c+=("$(echo "$r" | sed 's/.*multi(s), \([0-9.]*\) ms.*/\1/')")
  results_cc+=("$(echo "$r" | sed 's/.*all 1000 moved \([0-9]*\) ms.*/\1/')")
  restart_victim
  wait_for "big$round back in sync" all_in_sync "big$round"
  # Gone before the next round, which then also moves exactly 1,000.
  # A 1,000-partition delete may outlast the tool's wait on a loaded
  # machine; the listing below is what counts.
  topics --delete --topic "big$round" >/dev/null || true
  # A delete still pending after 30 s does not stop the benchmark: the
  # next round's controller line counts the states it wrote.
  for _ in $(seq 300); do topic_gone "big$round" && break; sleep 0.1; done
  topic_gone "big$round" || echo "big$round not deleted after 30 s; continuing" >&2
done

spread() { python3 -c "import sys; v=sorted(float(x) for x in sys.argv[1:]); print('median %.1f ms, min %.1f, max %.1f' % (v[len(v)//2], v[0], v[-1]))" "$@"; }
within() { python3 -c "import sys; g=float(sys.argv[1]); v=[float(x) for x in sys.argv[2:]]; print('%d of %d within %d ms' % (sum(x <= g for x in v), len(v), g))" "$@"; }
for client in $PROBE_CLIENTS; do
  [ -n "${results_a[$client]:-}" ] || continue
  # shellcheck disable=SC2086 # the rounds are a space-separated list
  echo "summary (a) $client, kill -9 to first ack: $(spread ${results_a[$client]}), $(within $((SESSION_MS + 1000)) ${results_a[$client]}) [rounds:${results_a[$client]}; session timeout $SESSION_MS ms]"
done
[ "$TERM_ROUNDS" -gt 0 ] && echo "summary (b) SIGTERM, longest ack wait: $(spread "${results_b[@]}")"
[ "$BIG_ROUNDS" -gt 0 ] && echo "summary (c) 1000 elections, controller: $(spread "${results_c[@]}"); client Metadata: $(spread "${results_cc[@]}")"
