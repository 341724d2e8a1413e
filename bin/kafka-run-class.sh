#!/usr/bin/env bash
# Runs one kafka-rs subcommand. The binary is taken from $KAFKA_RS_BIN, else
# from the release (then debug) build next to this bin/ directory, else PATH.
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bin="${KAFKA_RS_BIN:-}"
if [ -z "$bin" ]; then
  for candidate in "$here/../target/release/kafka-rs" "$here/../target/debug/kafka-rs"; do
    if [ -x "$candidate" ]; then bin="$candidate"; break; fi
  done
fi
if [ -z "$bin" ]; then
  bin="$(command -v kafka-rs || true)"
fi
if [ -z "$bin" ]; then
  echo "kafka-rs binary not found: run 'cargo build --release' in $(dirname "$here") or put kafka-rs on PATH" >&2
  exit 127
fi
exec "$bin" "$@"
