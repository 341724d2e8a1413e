#!/usr/bin/env bash
# bench-consume-peers.sh [ROUNDS] [CONSUMES] [PEERS...]
#
# The consume path against the peer brokers, with finer CPU figures than
# ../shared/bench/compare.sh (whose broker CPU comes in 10 ms ticks): each
# round starts every broker fresh in turn, produces 2M x 100 B into one
# partition with kload, then reads them back CONSUMES times with a new
# kload consumer each time, timing the broker's CPU over each read with
# `perf stat -e task-clock` (every thread, to the microsecond).
# Prints one line per read and a summary per broker: records/s (first to
# last record) and broker CPU per record, median (min-max), and the share
# of that CPU spent in the kernel (/proc/PID/stat, all reads together).
# Needs ../shared/bench/install-peers.sh (peers and kload) and perf.
set -euo pipefail
ROUNDS=${1:-3}; CONSUMES=${2:-3}; shift 2 2>/dev/null || shift $#
PEERS=${*:-kafka-rs crabka tansu}
HERE=$(cd "$(dirname "$0")/.." && pwd)
BENCH=${BENCH:-$HERE/../shared/bench}
PEERS_DIR=${PEERS_DIR:-/tmp/bench-peers}
KLOAD=${KLOAD:-/tmp/kload-target/release/kload}
KAFKA_RS_BIN=${KAFKA_RS_BIN:-$HERE/target/release/kafka-rs}
N=${N:-2000000}
OUT=${OUT:-$(mktemp -d /tmp/bench-consume-XXXXXX)}
[ -x "$KLOAD" ] || (cd "$BENCH/kload" && cargo build --release --target-dir /tmp/kload-target) >&2
command -v perf >/dev/null || { echo "perf is needed (apt-get install linux-perf)" >&2; exit 1; }

BPID=
stop() {
  [ -n "$BPID" ] || return 0
  kill -TERM "$BPID" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$BPID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$BPID" 2>/dev/null || true
  wait "$BPID" 2>/dev/null || true
  BPID=
}
trap stop EXIT

start() { # PEER PORT DATA
  local peer=$1 port=$2 data=$3 b=127.0.0.1:$2
  rm -rf "$data"; mkdir -p "$data"
  case $peer in
    kafka-rs) cmd=("$KAFKA_RS_BIN" server-start --override "listeners=PLAINTEXT://$b" --override "log.dirs=$data") ;;
    tansu) cmd=("$PEERS_DIR/tansu/tansu" broker --listener-url "tcp://$b" --advertised-listener-url "tcp://$b"
                --storage-engine memory://tansu/) ;;
    crabka)
      "$PEERS_DIR/crabka/bin/crabka" format --log-dir "$data" --standalone --node-id 1 \
        --controller-listener 127.0.0.1:9093 >"$OUT/format.log" 2>&1
      cmd=("$PEERS_DIR/crabka/bin/crabka-broker" --listen-addr "$b" --advertised-listener "$b" --log-dir "$data"
           --metrics-listen-addr "127.0.0.1:$((port + 100))") ;;
  esac
  (cd "$data" && exec "${cmd[@]}") >"$OUT/$peer.log" 2>&1 &
  BPID=$!
  "$KLOAD" wait-port --addr "$b" --since-ns "$(date +%s%N)" --timeout-s 60 | grep -q '"ready":true'
}

for r in $(seq 1 "$ROUNDS"); do
  for peer in $PEERS; do
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    start "$peer" "$port" "/tmp/bench-consume-$peer-data"
    b=127.0.0.1:$port
    "$KLOAD" create-topic --bootstrap "$b" --topic c1 --partitions 1 >/dev/null
    "$KLOAD" produce --bootstrap "$b" --topic c1 --num-records "$N" --record-size 100 --acks 1 \
      --linger-ms 5 --batch-size 1000000 >/dev/null
    for c in $(seq 1 "$CONSUMES"); do
      read -r u0 s0 < <(awk '{print $14, $15}' "/proc/$BPID/stat")
      perf stat -e task-clock -x, -p "$BPID" -o "$OUT/perf.txt" &
      ppid=$!
      sleep 0.2 # perf attaches to every thread before the read starts
      res=$("$KLOAD" consume --bootstrap "$b" --topic c1 --num-records "$N" --timeout-s 60 | grep '^RESULT ' | sed 's/^RESULT //')
      kill -INT "$ppid"; wait "$ppid" || true
      read -r u1 s1 < <(awk '{print $14, $15}' "/proc/$BPID/stat")
      ms=$(awk -F, '/task-clock/{print $1}' "$OUT/perf.txt")
      python3 - "$peer" "$r" "$c" "$ms" "$res" "$N" $((u1 - u0)) $((s1 - s0)) <<'PY' | tee -a "$OUT/reads.jsonl"
import json, sys
peer, r, c, ms, res, n, user, system = sys.argv[1:]
res = json.loads(res)
print(json.dumps({"peer": peer, "round": int(r), "read": int(c),
                  "records_per_s": res.get("fetch_records_per_s"),
                  "first_record_ms": res.get("first_record_ms"),
                  "broker_cpu_ms": round(float(ms), 1),
                  "broker_ns_per_record": round(float(ms) * 1e6 / int(n), 1),
                  "broker_user_ticks": int(user), "broker_sys_ticks": int(system)}))
PY
    done
    stop
  done
done
python3 - "$OUT/reads.jsonl" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
for peer in dict.fromkeys(r["peer"] for r in rows):
    mine = [r for r in rows if r["peer"] == peer]
    def s(k, fmt):
        v = [r[k] for r in mine if r[k] is not None]
        return "%s (%s-%s)" % (fmt % statistics.median(v), fmt % min(v), fmt % max(v))
    user = sum(r["broker_user_ticks"] for r in mine)
    system = sum(r["broker_sys_ticks"] for r in mine)
    print("SUMMARY %-9s reads %2d  records/s %s  broker CPU ns/record %s  in the kernel %d%%" % (
        peer, len(mine), s("records_per_s", "%.0f"), s("broker_ns_per_record", "%.1f"),
        round(100 * system / max(user + system, 1))))
PY
echo "reads: $OUT/reads.jsonl" >&2
