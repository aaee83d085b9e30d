#!/usr/bin/env bash
# Installs every Debian 12 package tally needs to build, test and benchmark.
# Idempotent: packages already present are skipped; safe to run on every build.
# Used by the README's two commands and by .ci/run.
#
#   scripts/install-deps.sh [--bench]
#
# --bench adds what bench/compare/compare.sh measures tallyd against (nginx, Redis, wrk):
# the build and the tests do not need them, so they are opt-in.
set -euo pipefail

bench=0
for arg in "$@"; do
  case "$arg" in
    --bench) bench=1 ;;
    *) echo "install-deps: unknown argument $arg" >&2; exit 2 ;;
  esac
done

packages=(
  # toolchain
  build-essential cmake ninja-build ccache pkg-config git clang-14 libclang-rt-14-dev
  clang-format-14
  # libraries
  libboost1.81-dev librocksdb-dev libxxhash-dev prometheus-cpp-dev libsimdjson-dev
  libssl-dev libspdlog-dev libfmt-dev
  # command lines (CLI11, header-only) and the man pages generated from their --help
  libcli11-dev help2man
  # sd_notify(3): tallyd tells systemd (Type=notify) when it serves
  libsystemd-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev libabsl-dev rocksdb-tools
  # bench/base_bench's baseline: RapidJSON's writer against base's
  rapidjson-dev
  # scripts and end-to-end tests
  curl python3 procps
  # metrics and dashboard tests: promtool and a Prometheus server, headless Chromium, a YAML
  # reader for the Grafana provisioning files
  prometheus chromium fonts-wqy-microhei python3-yaml
  # the replica group (DESIGN.md "Replication and failover"): JetStream servers and their C
  # client, the gateway in front of the nodes, chattr/lsattr for the store dirs, ip netns
  nats-server libnats-dev haproxy e2fsprogs iproute2
  # the Debian package's test: a fresh bookworm root booted under systemd
  debootstrap systemd-container
)
if [ "$bench" = 1 ]; then
  packages+=(nginx-light redis-server redis-tools wrk)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
