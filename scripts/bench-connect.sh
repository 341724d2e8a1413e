#!/usr/bin/env bash
# FileStreamSource -> topic -> FileStreamSink against console-producer piping
# the same file into the same broker, in the same run (release build).
#   scripts/bench-connect.sh [LINES]    (default 1000000 lines of 100 bytes)
set -euo pipefail
cd "$(dirname "$0")/.."
lines="${1:-1000000}"
bin="${KAFKA_RS_BIN:-$PWD/target/release/kafka-rs}"
[ -x "$bin" ] || { echo "build first: cargo build --release" >&2; exit 1; }
work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
now() { date +%s.%N; }
bp="$(port)"; rp="$(port)"
LOG_DIR="$work/logs" "$bin" server-start --override "listeners=PLAINTEXT://127.0.0.1:$bp" \
  --override "log.dirs=$work/data" --override embedded.zookeeper.port=0 >/dev/null 2>&1 &
pids+=($!)
for _ in $(seq 200); do (echo > "/dev/tcp/127.0.0.1/$bp") 2>/dev/null && break; sleep 0.1; done
# 99 characters and a newline per line.
python3 - "$work/input.txt" "$lines" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    for i in range(int(sys.argv[2])):
        f.write(("%010d" % i) + "x" * 89 + "\n")
PY
"$bin" topics --bootstrap-server "127.0.0.1:$bp" --create --topic bench-producer --partitions 1 --replication-factor 1 >/dev/null
"$bin" topics --bootstrap-server "127.0.0.1:$bp" --create --topic bench-connect --partitions 1 --replication-factor 1 >/dev/null
# A running cluster already has __consumer_offsets; the first group lookup
# creates its 50 partitions (about a second), which is the broker's set-up,
# not Connect's rate. COLD=1 leaves it to the sink's first join.
if [ -z "${COLD:-}" ]; then
  "$bin" consumer-groups --bootstrap-server "127.0.0.1:$bp" --describe --group bench-warm-up >/dev/null 2>&1 || true
fi

t0="$(now)"
"$bin" console-producer --bootstrap-server "127.0.0.1:$bp" --topic bench-producer < "$work/input.txt"
t1="$(now)"

cat > "$work/worker.properties" <<EOF2
bootstrap.servers=127.0.0.1:$bp
key.converter=org.apache.kafka.connect.storage.StringConverter
value.converter=org.apache.kafka.connect.storage.StringConverter
offset.storage.file.filename=$work/connect.offsets
offset.flush.interval.ms=10000
listeners=http://127.0.0.1:$rp
EOF2
printf 'name=src\nconnector.class=FileStreamSource\nfile=%s\ntopic=bench-connect\n' "$work/input.txt" > "$work/source.properties"
printf 'name=snk\nconnector.class=FileStreamSink\nfile=%s\ntopics=bench-connect\n' "$work/sink.txt" > "$work/sink.properties"
t2="$(now)"
"$bin" connect-standalone "$work/worker.properties" "$work/source.properties" "$work/sink.properties" 2>"$work/connect.log" &
pids+=($!)
# The sink is done when it holds as many bytes as the input (checked
# line for line by cmp below): a stat every 10 ms, where counting the
# lines of 100 MB on each check took longer than the poll interval.
want="$(stat -c %s "$work/input.txt")"
deadline=$(( $(date +%s) + 600 ))
while [ "$(stat -c %s "$work/sink.txt" 2>/dev/null || echo 0)" -lt "$want" ]; do
  [ "$(date +%s)" -lt "$deadline" ] || { echo "timed out; sink has $(wc -l < "$work/sink.txt") lines" >&2; exit 1; }
  sleep 0.01
done
t3="$(now)"
cmp -s "$work/input.txt" "$work/sink.txt" && same=identical || same=DIFFERENT
python3 - "$lines" "$t0" "$t1" "$t2" "$t3" "$same" <<'PY'
import sys
n = int(sys.argv[1]); t0, t1, t2, t3 = map(float, sys.argv[2:6])
p, c = n / (t1 - t0), n / (t3 - t2)
print(f"console-producer file -> topic:                  {n} lines in {t1-t0:.2f} s = {p:,.0f} lines/s")
print(f"connect-standalone file -> topic -> file (e2e):  {n} lines in {t3-t2:.2f} s = {c:,.0f} lines/s (sink {sys.argv[6]} to the input)")
print(f"ratio connect / console-producer: {c/p:.2f}")
PY
