#!/usr/bin/env bash
# Builds tally (Release) into build/: build/bin/{tallyd,tallyctl,tally-loadgen}, the tests
# and the benchmarks. Installs missing Debian packages first.
set -euo pipefail
source "$(dirname "$0")/env.sh"
bash "$TALLY_ROOT/scripts/install-deps.sh"
tally_configure "$TALLY_ROOT/build" -DCMAKE_BUILD_TYPE=Release "$@"
cmake --build "$TALLY_ROOT/build" -j "$TALLY_JOBS"
