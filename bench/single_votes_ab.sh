#!/usr/bin/env bash
# Two (or more) tallyd builds at single-vote load, in alternating rounds: for each round and
# build, a fresh data dir with the demo campaign, tallyd pinned to CPU 0 and tally-loadgen to
# CPU 1, 10 s of single votes on 64 connections. Prints one line per run:
#   BUILD_DIR ROUND requests/s p99_ms tallyd_cpu_us_per_request unauthorized
# The CPU per request (tallyd's utime + stime over the run, from /proc) moves less than the
# rate on a shared host. Reads the ingest token from tokens.generated, or from the tokens.json
# of builds from before digests.
#   bench/single_votes_ab.sh LOADGEN ROUNDS BIN_DIR_A BIN_DIR_B...
set -euo pipefail
loadgen=$1
rounds=$2
shift 2
ticks_per_s=$(getconf CLK_TCK)
for round in $(seq "$rounds"); do
  for bin in "$@"; do
    run=$(mktemp -d /tmp/tally-ab-XXXXXX)
    taskset -c 0 "$bin/tallyd" --data-dir "$run/data" --listen 127.0.0.1:0 --demo >"$run/log" 2>&1 &
    pid=$!
    port=""
    for _ in $(seq 300); do
      port=$(grep -o 'tallyd ready listen=127.0.0.1:[0-9]*' "$run/log" | sed 's/.*://' || true)
      [ -n "$port" ] && break
      sleep 0.1
    done
    [ -n "$port" ] || { cat "$run/log" >&2; kill "$pid"; exit 1; }
    tokens="$run/data/tokens.generated"
    [ -f "$tokens" ] || tokens="$run/data/tokens.json"
    read -r user0 system0 < <(awk '{print $14, $15}' "/proc/$pid/stat")
    taskset -c 1 "$loadgen" --target "127.0.0.1:$port" --token-file "$tokens" --connections 64 \
      --agents 1000 --retry-fraction 0 --fresh-passes --duration 10 --json >"$run/loadgen.json"
    read -r user1 system1 < <(awk '{print $14, $15}' "/proc/$pid/stat")
    kill -TERM "$pid"
    wait "$pid" || true
    python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
cpu_s = int(sys.argv[4]) / int(sys.argv[5])
print(sys.argv[2], sys.argv[3], round(r["requests_per_s"]), round(r["latency_ms"]["p99"], 2),
      round(cpu_s * 1e6 / r["requests"], 2), r["statuses"]["unauthorized"], flush=True)
' "$run/loadgen.json" "$bin" "$round" $((user1 + system1 - user0 - system0)) "$ticks_per_s"
    rm -rf "$run"
  done
done
