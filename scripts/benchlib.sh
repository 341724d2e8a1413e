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
