#!/usr/bin/env bash
# Builds tally's Debian package: a Release build installed under /usr (build-package/), packed
# by CPack with its dependencies read from the binaries. Prints the .deb's path.
#   scripts/package.sh
set -euo pipefail
source "$(dirname "$0")/env.sh"
bash "$TALLY_ROOT/scripts/install-deps.sh"
dir="$TALLY_ROOT/build-package"
tally_configure "$dir" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr \
  -DTALLY_BUILD_TESTS=OFF -DTALLY_BUILD_BENCHMARKS=OFF
cmake --build "$dir" -j "$TALLY_JOBS" >&2
(cd "$dir" && cpack --config CPackConfig.cmake >&2)
ls "$dir"/tally_*.deb
