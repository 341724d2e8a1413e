#!/usr/bin/env bash
# Regenerates completions/ and man/ from the clap definitions.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q
bin=target/debug/kafka-rs
"$bin" completions bash > completions/kafka-rs.bash
"$bin" completions zsh > completions/_kafka-rs
"$bin" completions fish > completions/kafka-rs.fish
rm -f man/*.1
"$bin" man --out-dir man
