#!/usr/bin/env bash
# Builds tally (Release) and runs every test: unit, concurrency, end-to-end and crash tests,
# through ctest. Installs missing Debian packages first.
set -euo pipefail
source "$(dirname "$0")/env.sh"
bash "$TALLY_ROOT/scripts/build.sh"
cd "$TALLY_ROOT/build"
ctest --output-on-failure -j "$TALLY_JOBS" --timeout 600
