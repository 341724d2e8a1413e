#!/usr/bin/env bash
# Coverage-guided fuzzing of every decoder fed by a socket or a file, with
# libFuzzer (fuzz/, one target per file in fuzz/fuzz_targets).
#
#   scripts/fuzz.sh build                  # instrumented release build
#   scripts/fuzz.sh run TARGET [SECS] [libFuzzer flags...]
#   scripts/fuzz.sh smoke [SECS]           # every target for SECS (CI: 10)
#   scripts/fuzz.sh list
#
# The flags are the ones cargo-fuzz passes, without a sanitizer: stable rustc
# takes them as they are, so no nightly toolchain is needed. A run reads the
# committed seeds in fuzz/corpus/TARGET and keeps what it finds in
# target/fuzz-corpus/TARGET, so the repository only changes on purpose; a
# crash is saved under target/fuzz-artifacts/TARGET and fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."

host=$(rustc -vV | sed -n 's/^host: //p')
bin_dir="fuzz/target/$host/release"
targets() { for f in fuzz/fuzz_targets/*.rs; do basename "$f" .rs; done; }

build() {
  # --target keeps these flags off build scripts and proc macros.
  RUSTFLAGS="-Cpasses=sancov-module \
    -Cllvm-args=-sanitizer-coverage-level=4 \
    -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
    -Cllvm-args=-sanitizer-coverage-pc-table \
    -Cllvm-args=-sanitizer-coverage-trace-compares \
    --cfg fuzzing -Cdebug-assertions -Coverflow-checks" \
    cargo build --manifest-path fuzz/Cargo.toml --release --bins --target "$host"
}

run() {
  local target=$1 secs=${2:-60}
  shift $(( $# < 2 ? $# : 2 ))
  local corpus="target/fuzz-corpus/$target" artifacts="target/fuzz-artifacts/$target/"
  mkdir -p "$corpus" "$artifacts"
  # The storage targets write a log dir per input and fsync it: on tmpfs
  # that costs nothing, on a disk it caps a run at tens of inputs a second.
  if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then export TMPDIR=/dev/shm; fi
  # Inputs stay small so a run spends its time on structure, not on bulk;
  # rss_limit is above the largest bounded buffer (a 256 MiB decompression).
  "$bin_dir/$target" -max_total_time="$secs" -max_len=65536 -rss_limit_mb=2048 \
    -timeout=30 -artifact_prefix="$artifacts" -print_final_stats=1 "$@" \
    "$corpus" "fuzz/corpus/$target"
}

case "${1:-}" in
  build) build ;;
  list) targets ;;
  run)
    [ $# -ge 2 ] || { echo "usage: $0 run TARGET [SECS] [libFuzzer flags...]" >&2; exit 2; }
    shift
    run "$@"
    ;;
  smoke)
    secs=${2:-10}
    build
    for t in $(targets); do
      echo "==> fuzz $t for ${secs}s"
      run "$t" "$secs"
    done
    ;;
  *)
    sed -n '2,15p' "$0" >&2
    exit 2
    ;;
esac
