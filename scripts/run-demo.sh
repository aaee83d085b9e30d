#!/usr/bin/env bash
# Builds tallyd and runs it with the demo campaign (the seed notice's vote, window opened now)
# on 127.0.0.1:8080, data in /var/tmp/tally-demo. Ctrl-C (SIGINT) or SIGTERM stops it cleanly.
# TALLY_LISTEN and TALLY_DATA_DIR override the defaults.
set -euo pipefail
source "$(dirname "$0")/env.sh"
bash "$TALLY_ROOT/scripts/build.sh"
data_dir="${TALLY_DATA_DIR:-/var/tmp/tally-demo}"
mkdir -p "$data_dir"
exec "$TALLY_ROOT/build/bin/tallyd" --data-dir "$data_dir" \
  --listen "${TALLY_LISTEN:-127.0.0.1:8080}" --demo
