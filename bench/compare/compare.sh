#!/usr/bin/env bash
# Side by side: nginx answering 204, tallyd (single votes sync/async, batches), and
# Redis 7 + Lua (the stack a campaign team would build instead), all on 127.0.0.1 with the
# same load settings, plus memory per deduplicated voter. Prints a Markdown table.
#
#   bench/compare/compare.sh [--out FILE] [--duration S] [--connections N] [--rounds N]
#                            [--build DIR] [--agents N] [--memory-only]
#
# --agents (default 1000) is tally-loadgen's: a crowd with as many distinct user agents as a
# real one, since tallyd's log keeps each agent once per commit batch. --memory-only runs the
# memory cases alone.
# Needs nginx, wrk, redis-server and redis-benchmark (Debian 12: nginx-light, wrk,
# redis-server, redis-tools; `bash scripts/install-deps.sh --bench` installs them).
# Everything it starts listens on 127.0.0.1 on free ports, with configs and data in a temp
# dir; everything it started is stopped on exit. Each run is bounded in time.
# Each measurement is one JSON line in results.jsonl; report.py makes the tables from them
# and from the targets in targets.json.
set -euo pipefail

dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$dir/../.." && pwd)"
report="$dir/report.py"

log() { echo "compare: $*" >&2; }
usage() {  # the comment block above, without its '#'
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
}

build="$root/build"
out=""
duration=10
conns=64
rounds=1
agents=1000
memory_only=0
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out="$2"; shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --connections) conns="$2"; shift 2 ;;
    --rounds) rounds="$2"; shift 2 ;;
    --build) build="$2"; shift 2 ;;
    --agents) agents="$2"; shift 2 ;;
    --memory-only) memory_only=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "compare: unknown argument $1" >&2; exit 2 ;;
  esac
done
tallyd="$build/bin/tallyd"
loadgen="$build/bin/tally-loadgen"
for b in "$tallyd" "$loadgen"; do
  [ -x "$b" ] || { echo "compare: $b missing; build first (scripts/build.sh)" >&2; exit 2; }
done

# --- the comparison's own programs: checked, not installed ------------------------------
missing=()
packages=()
need() {  # program package: note the program if it is missing, and the package that has it
  if command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; then return 0; fi
  missing+=("$1")
  case " ${packages[*]} " in *" $2 "*) ;; *) packages+=("$2") ;; esac
}
if [ "$memory_only" = 0 ]; then
  need nginx nginx-light
  need wrk wrk
fi
need redis-server redis-server
need redis-benchmark redis-tools
need redis-cli redis-tools
if [ ${#missing[@]} -gt 0 ]; then
  log "${missing[*]} missing (Debian 12 packages: ${packages[*]}); install them with"
  log "  bash scripts/install-deps.sh --bench"
  log "or apt-get install --no-install-recommends ${packages[*]}"
  exit 2
fi
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"

# --- bookkeeping: temp dir, started processes, cleanup ------------------------------------
work="$(mktemp -d "${TMPDIR:-/tmp}/tally-compare.XXXXXX")"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
results="$work/results.jsonl"
: >"$results"
free_port() { python3 "$report" free-port; }
stop() {  # stop one process we started
  local p="$1"
  kill "$p" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$p" 2>/dev/null || true
  wait "$p" 2>/dev/null || true
}
bound=$((duration + 60))   # hard time limit of one run
campaign=ordos-2023-zuimei
candidates=$(python3 "$report" candidates "$root/campaigns/demo.json")
# vote.lua reads these: the same ballots as tally-loadgen's
export COMPARE_CANDIDATES="$candidates" COMPARE_CAMPAIGN="$campaign"

run_wrk() {  # name url -> record
  local name="$1" url="$2" txt
  txt="$work/$name.wrk.txt"
  timeout "$bound" wrk -t2 -c"$conns" -d"${duration}s" --latency -s "$dir/vote.lua" "$url" \
    >"$txt" 2>&1 || true
  python3 "$report" wrk-record "$name" "$txt" >>"$results"
  log "$name: $(tail -n1 "$results")"
}

run_loadgen() {  # name target token extra... -> record
  local name="$1" target="$2" token="$3"; shift 3
  local js="$work/$name.json" rc=0
  timeout "$bound" "$loadgen" --target "$target" --token "$token" --candidates "$candidates" \
    --campaign "$campaign" --connections "$conns" --duration "$duration" --agents "$agents" \
    --json "$@" >"$js" || rc=$?
  python3 "$report" loadgen-record "$name" "$js" "$rc" >>"$results"
  log "$name: $(tail -n1 "$results")"
}

# --- 1. nginx answering 204 ----------------------------------------------------------------
measure_nginx() {
  local port pid
  port=$(free_port)
  mkdir -p "$work/nginx"
  cat >"$work/nginx/nginx.conf" <<EOF
worker_processes 2;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fastcgi;
  uwsgi_temp_path $work/nginx/uwsgi;
  scgi_temp_path $work/nginx/scgi;
  keepalive_requests 100000000;
  keepalive_timeout 120s;
  server {
    listen 127.0.0.1:$port;
    client_max_body_size 1m;
    client_body_buffer_size 64k;
    location / { return 204; }
  }
}
EOF
  "$NGINX" -p "$work/nginx" -c "$work/nginx/nginx.conf" &
  pid=$!; pids+=("$pid")
  for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
  log "nginx on 127.0.0.1:$port: $(curl -s -o /dev/null -w '%{http_code}' -X POST -d '{"a":1}' \
    "http://127.0.0.1:$port/v1/votes")"
  run_loadgen nginx204 "127.0.0.1:$port" x --voters 2000000 --retry-fraction 0
  COMPARE_TOKEN=x run_wrk nginx204-wrk "http://127.0.0.1:$port"
  stop "$pid"
}

# --- tallyd --------------------------------------------------------------------------------
start_tallyd() {  # name durability -> sets tport ttoken tpid
  local d="$work/$1.round${round:-0}"  # a fresh server per round
  mkdir -p "$d"
  "$tallyd" --data-dir "$d/data" --listen 127.0.0.1:0 --demo --durability "$2" >"$d/log" 2>&1 &
  tpid=$!; pids+=("$tpid")
  tport=""
  for _ in $(seq 300); do
    tport=$(grep -o 'tallyd ready listen=127.0.0.1:[0-9]*' "$d/log" | sed 's/.*://' || true)
    [ -n "$tport" ] && break
    sleep 0.1
  done
  [ -n "$tport" ] || { log "tallyd did not start:"; cat "$d/log" >&2; exit 1; }
  ttoken=$(python3 "$report" ingest-token "$d/data/tokens.generated")
}
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

measure_tallyd() {
  # 2. single votes, sync and async; 3. batches of 1,000 (sync)
  local dur half
  for dur in sync async; do
    start_tallyd "tallyd-$dur" "$dur"
    # --fresh-passes: a run faster than its prepared requests goes over them again with new
    # voters, instead of measuring duplicates.
    run_loadgen "tallyd-single-$dur" "127.0.0.1:$tport" "$ttoken" \
      --voters 50000000 --prepare 1000000 --retry-fraction 0 --fresh-passes --verify
    if [ "$dur" = sync ]; then
      # Latency at half the closed-loop rate, open loop: due times, not send times, so a
      # stall shows in the figures (no coordinated omission).
      half=$(python3 "$report" half-rate "$results" tallyd-single-sync)
      run_loadgen tallyd-single-sync-half "127.0.0.1:$tport" "$ttoken" \
        --voters 50000000 --prepare 1000000 --retry-fraction 0 --fresh-passes --seed 11 \
        --rate "$half"
      COMPARE_TOKEN="$ttoken" run_wrk tallyd-single-sync-wrk "http://127.0.0.1:$tport"
      run_loadgen tallyd-batch-sync "127.0.0.1:$tport" "$ttoken" --mode batch --batch-size 1000 \
        --connections 4 --pipeline 2 --voters 500000000 --prepare 4000 --retry-fraction 0 \
        --seed 7 --fresh-passes --verify
    fi
    stop "$tpid"
  done
}

measure_tallyd_memory() {
  # 5a. memory: tallyd RSS growth for 1M distinct voters posted in batches
  local rss0 rss1 rss2
  start_tallyd tallyd-mem sync
  sleep 1
  rss0=$(rss_kib "$tpid")
  curl -s "http://127.0.0.1:$tport/metrics" >"$work/metrics0.txt"
  run_loadgen tallyd-mem-fill "127.0.0.1:$tport" "$ttoken" --mode batch --batch-size 1000 \
    --connections 4 --pipeline 2 --requests 1000 --prepare 1000 --voters 1000000000 \
    --retry-fraction 0 --seed 11 --duration 120
  sleep 2
  rss1=$(rss_kib "$tpid")
  curl -s "http://127.0.0.1:$tport/metrics" >"$work/metrics1.txt"
  # A second million: the growth from 1M to 2M voters is the cost per voter without the
  # fixed part (fraud sketches, one memtable, allocator arenas) that the first million carries.
  run_loadgen tallyd-mem-fill2 "127.0.0.1:$tport" "$ttoken" --mode batch --batch-size 1000 \
    --connections 4 --pipeline 2 --requests 1000 --prepare 1000 --voters 1000000000 \
    --retry-fraction 0 --seed 12 --duration 120
  sleep 2
  rss2=$(rss_kib "$tpid")
  curl -s "http://127.0.0.1:$tport/metrics" >"$work/metrics2.txt"
  python3 "$report" tallyd-mem-record --rss "$rss0" "$rss1" "$rss2" \
    --metrics "$work/metrics0.txt" "$work/metrics1.txt" "$work/metrics2.txt" \
    --fills "$work/tallyd-mem-fill.json" "$work/tallyd-mem-fill2.json" >>"$results"
  log "tallyd-mem: $(tail -n1 "$results")"
  stop "$tpid"
}

# --- 4. Redis 7 + Lua ------------------------------------------------------------------------
start_redis() {  # name fsync -> rport rpid rsha
  local d="$work/$1.round${round:-0}"  # a fresh server per round
  mkdir -p "$d"
  rport=$(free_port)
  cat >"$d/redis.conf" <<EOF
bind 127.0.0.1
port $rport
dir $d
daemonize no
save ""
appendonly yes
appendfsync $2
logfile $d/redis.log
EOF
  redis-server "$d/redis.conf" &
  rpid=$!; pids+=("$rpid")
  for _ in $(seq 100); do redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.1; done
  rsha=$(redis-cli -p "$rport" SCRIPT LOAD "$(cat "$dir/vote_redis.lua")")
}

run_redis() {  # name fsync pipeline requests
  local name="$1" csv added
  start_redis "$name" "$2"
  csv="$work/$name.csv"
  timeout "$bound" redis-benchmark -h 127.0.0.1 -p "$rport" -c "$conns" -n "$4" -P "$3" \
    -r 1000000000 --csv EVALSHA "$rsha" 3 dedupe tally log "v:__rand_int__:c01:d1" c01 \
    >"$csv" 2>/dev/null || true
  added=$(redis-cli -p "$rport" SCARD dedupe)
  python3 "$report" redis-record "$name" "$csv" "$added" "$3" >>"$results"
  log "$name: $(tail -n1 "$results")"
  stop "$rpid"
}

measure_redis() {
  # requests sized for about --duration seconds at the rates seen on a 2-core machine
  run_redis redis-always-p1 always 1 $((40000 * duration))
  run_redis redis-always-p64 always 64 $((150000 * duration))
  run_redis redis-everysec-p1 everysec 1 $((50000 * duration))
  run_redis redis-everysec-p64 everysec 64 $((150000 * duration))
}

redis_used() { redis-cli -p "$rport" INFO memory | awk -F: '/^used_memory:/ {print $2+0}'; }
redis_fill() {  # 1M EVALSHA calls with (almost all) new voters
  timeout 300 redis-benchmark -h 127.0.0.1 -p "$rport" -c "$conns" -n 1000000 -P 64 \
    -r 1000000000 -q EVALSHA "$rsha" 3 dedupe tally log "v:__rand_int__:c01:d1" c01 \
    >/dev/null 2>&1 || true
}

measure_redis_memory() {
  # 5b. memory: Redis used_memory growth for 1M distinct members through the same Lua path,
  # then for a second million (the growth from N to 2N, as on tallyd's side)
  local m0 m1 m2 members members2 setbytes setbytes2 streambytes
  start_redis redis-mem everysec
  m0=$(redis_used)
  redis_fill
  m1=$(redis_used)
  members=$(redis-cli -p "$rport" SCARD dedupe)
  setbytes=$(redis-cli -p "$rport" MEMORY USAGE dedupe SAMPLES 0)
  streambytes=$(redis-cli -p "$rport" MEMORY USAGE log SAMPLES 0)
  redis_fill
  m2=$(redis_used)
  members2=$(redis-cli -p "$rport" SCARD dedupe)
  setbytes2=$(redis-cli -p "$rport" MEMORY USAGE dedupe SAMPLES 0)
  python3 "$report" redis-mem-record --used "$m0" "$m1" "$m2" --members "$members" "$members2" \
    --set-bytes "$setbytes" "$setbytes2" --stream-bytes "$streambytes" >>"$results"
  log "redis-mem: $(tail -n1 "$results")"
  stop "$rpid"
}

# Throughput cases in rounds (each round runs every case once, so that a noisy minute on a
# shared host spreads over cases instead of hitting one); the table takes each case's median.
[ "$memory_only" = 1 ] && rounds=0
for round in $(seq "$rounds"); do
  log "round $round of $rounds"
  measure_nginx
  measure_tallyd
  measure_redis
done
measure_tallyd_memory
measure_redis_memory

# --- the table -------------------------------------------------------------------------------
table="$work/table.md"
python3 "$report" table "$results" "$duration" "$conns" >"$table"
cat "$table"
if [ -n "$out" ]; then
  cp "$table" "$out"
  cp "$results" "${out%.md}.jsonl" 2>/dev/null || true
  log "table written to $out"
fi
