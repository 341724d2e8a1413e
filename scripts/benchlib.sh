# Helpers the benchmark scripts share; sourced, not run.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# Waits up to 20 s for something to accept on 127.0.0.1:$1.
wait_port() { for _ in $(seq 400); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.05; done; echo "port $1 never opened" >&2; exit 1; }
# CPU ticks (user + system) a process has used.
ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
# Starts broker $1 of a local cluster and waits for its port; further
# arguments are extra `--override key=value` settings. The caller declares
# the associative arrays port and broker_pid and sets WORK, BIN, ZK and
# SESSION_MS.
start_broker() {
  local id=$1; shift
  local extra=(); for o in "$@"; do extra+=(--override "$o"); done
  [ -n "${port[$id]:-}" ] || port[$id]=$(free_port)
  LOG_DIR="$WORK/logs$id" "$BIN" server-start --override broker.id="$id" \
    --override "listeners=PLAINTEXT://127.0.0.1:${port[$id]}" \
    --override "log.dirs=$WORK/b$id" --override "zookeeper.connect=127.0.0.1:$ZK" \
    --override "zookeeper.session.timeout.ms=$SESSION_MS" "${extra[@]}" \
    >>"$WORK/b$id.out" 2>&1 &
  broker_pid[$id]=$!
  wait_port "${port[$id]}"
}
# ROUNDS rounds of `run new "$BIN"`, each followed by `run old "$BEFORE_BIN"`
# when BEFORE_BIN is set, so the two builds alternate in one sitting; the
# load average before and after.
alternate_rounds() {
  echo "load: $(cat /proc/loadavg)"
  for r in $(seq "$ROUNDS"); do
    echo "== round $r"
    run new "$BIN"
    if [ -n "${BEFORE_BIN:-}" ]; then run old "$BEFORE_BIN"; fi
  done
  echo "load: $(cat /proc/loadavg)"
}
# Starts one broker (embedded ZooKeeper on a free port) of build $1 on log
# dir $2, listening on a free port PORT; its pid is in `pid`, its output
# goes to $WORK/broker.log.
start_one_broker() { # BIN DATA_DIR
  PORT=$(free_port)
  "$1" server-start --override "listeners=PLAINTEXT://127.0.0.1:$PORT" --override "log.dirs=$2" \
    --override embedded.zookeeper.port=0 --override offsets.topic.replication.factor=1 \
    >>"$WORK/broker.log" 2>&1 &
  pid=$!
}
