#!/usr/bin/env bash
# Installs everything the full test suite needs, then runs it.
#
#   scripts/test-all.sh            # as root on Debian: apt + pip + cargo test
#
# The interop tests talk to clients we did not write: kcat and Burrow (Debian), Apache
# ZooKeeper's server and zkCli.sh (Debian `zookeeper`), segmentio/kafka-go's
# test suite (Debian `golang-github-segmentio-kafka-go-dev`, built by Debian's
# `golang-go`), and the Python
# clients confluent-kafka, kafka-python and kazoo (PyPI, in a venv under
# target/). With KAFKA_RS_INTEROP=1 a missing client fails the suite instead
# of skipping, so this script never passes on a machine that lacks one.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v kcat >/dev/null 2>&1 || need_apt+=(kcat)
[ -x /usr/share/zookeeper/bin/zkCli.sh ] || need_apt+=(zookeeper)
command -v tmux >/dev/null 2>&1 || need_apt+=(tmux)
# The TLS tests make their CA and certificates with the openssl CLI.
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
# Burrow (consumer-lag monitor) reads offsets with ListOffsets v0.
command -v Burrow >/dev/null 2>&1 || need_apt+=(burrow)
command -v java >/dev/null 2>&1 || need_apt+=(default-jre-headless)
# scripts/faults builds its network partitions with ip(8) namespaces.
command -v ip >/dev/null 2>&1 || need_apt+=(iproute2)
# libfuzzer-sys compiles libFuzzer's C++ sources for scripts/fuzz.sh.
command -v g++ >/dev/null 2>&1 || need_apt+=(g++)
# segmentio/kafka-go's own test suite (v0.2.1, with its Go dependencies),
# built offline against /usr/share/gocode by Debian's Go.
command -v go >/dev/null 2>&1 || need_apt+=(golang-go)
[ -d /usr/share/gocode/src/github.com/segmentio/kafka-go ] || need_apt+=(golang-github-segmentio-kafka-go-dev)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "==> apt-get install ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
# Debian's zookeeper package enables a system service on some images; tests
# start their own servers on free ports, so it must not hold 2181.
if command -v systemctl >/dev/null 2>&1; then systemctl stop zookeeper >/dev/null 2>&1 || true; fi

VENV="$PWD/target/test-venv"
if [ ! -x "$VENV/bin/python" ]; then
  echo "==> python venv in $VENV"
  python3 -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c 'import confluent_kafka, kafka, kazoo, prometheus_client' >/dev/null 2>&1; then
  echo "==> pip install confluent-kafka kafka-python kazoo prometheus-client"
  "$VENV/bin/pip" install -q --disable-pip-version-check confluent-kafka kafka-python kazoo prometheus-client
fi

# Every fuzz target for a few seconds from its committed seeds: a decoder
# change that panics or allocates from a length field on a known input, or
# a fuzz crate that no longer builds, fails the suite here.
echo "==> fuzz smoke"
scripts/fuzz.sh smoke "${KAFKA_RS_FUZZ_SECS:-8}"

export KAFKA_RS_INTEROP=1
export KAFKA_RS_PYTHON="$VENV/bin/python"
export KAFKA_RS_ZOOKEEPER_HOME=/usr/share/zookeeper
echo "==> cargo test"
cargo test --all-targets "$@"
