#!/usr/bin/env bash
# Instructions per vote of tallyd, counted by callgrind, as in docs/BENCHMARKS.md ("Batches:
# instructions per vote, and three changes not taken"; "Strict framing and real user agents:
# instructions per vote").
#
# Why instructions: on this host the same tallyd runs batches anywhere from 380k to 960k votes/s
# within minutes, so a change of a few percent cannot be seen in votes/s; the instructions
# tallyd executes for the same votes can.
#
# Each run: a fresh data dir; the build's tallyd --demo under
# `valgrind --tool=callgrind --instr-atstart=no`; tally-loadgen sends a warm-up (--seed 11),
# then `callgrind_control -i on`, the measured requests (--seed 12), `callgrind_control -i off`.
#   batch:  5 warm-up requests of 1,000 ballots, then 40 measured;
#           --mode batch --batch-size 1000 --connections 4 --pipeline 2
#   single: 2,000 warm-up votes, then 10,000 measured; --mode single --connections 16
#   both:   --agents 1000 --voters 500000000 --retry-fraction 0
# Figures per vote answered, from callgrind_annotate: all of tallyd's instructions, and those
# besides libcrypto (SHA-256, whose count under valgrind lacks SHA-NI and so outweighs its
# real share).
#
# What still varies between runs of one build is how the votes fall into commit batches
# (thread scheduling under valgrind, and the host's other load). Each commit batch costs its
# WAL write and sync, and in the batch case its own table of user agents: about 1.5M
# instructions a commit batch there, 25k in the single case. Runs of one build spread up to
# ±0.4 % (batch; ±0.8 % besides libcrypto) and ±0.5 % (single), in step with their commit
# batches, which are printed too. Hence several rounds: the means of five agree to about
# 0.2 % (0.4 % for batch besides libcrypto); below that, look at the commit batches as well.
# tallyd and the load generator run on two different CPUs, which narrows the spread.
#
# usage: bench/instructions_per_vote.sh --build DIR [--build DIR_B] [--case batch|single|both]
#                                       [--rounds N] [--out FILE]
#   DIR      a RelWithDebInfo build dir holding bin/tallyd and bin/tally-loadgen
#   DIR_B    a second build: runs alternate A, B, A, B, ... and the table gives B ÷ A
#   --case   default both; --rounds default 5; --out FILE also writes the Markdown table there
# A run takes 5-9 s. Exit status: 0 done, 1 a run failed, 2 bad usage or valgrind missing.
set -euo pipefail

usage() { sed -n '/^# usage:/,/^#   --case/s/^# \{0,1\}//p' "$0"; exit "${1:-2}"; }
die() { echo "$1" >&2; exit 2; }

builds=() case_arg=both rounds=5 out=""
while (($#)); do
  case "$1" in
    --build) builds+=("${2:?--build needs a dir}"); shift 2 ;;
    --case) case_arg="${2:?}"; shift 2 ;;
    --rounds) rounds="${2:?}"; shift 2 ;;
    --out) out="${2:?}"; shift 2 ;;
    -h | --help) usage 0 ;;
    *) echo "unknown argument: $1" >&2; usage >&2 ;;
  esac
done
case "$case_arg" in
  batch | single) cases=("$case_arg") ;;
  both) cases=(batch single) ;;
  *) usage >&2 ;;
esac
((${#builds[@]} == 1 || ${#builds[@]} == 2)) || usage >&2
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || usage >&2
for tool in valgrind callgrind_control callgrind_annotate; do
  command -v "$tool" >/dev/null || die "$tool not found: install the Debian package valgrind"
done
for i in "${!builds[@]}"; do
  dir="$(cd "${builds[$i]}" 2>/dev/null && pwd)" || die "no such build dir: ${builds[$i]}"
  [[ -x "$dir/bin/tallyd" && -x "$dir/bin/tally-loadgen" ]] ||
    die "$dir: bin/tallyd or bin/tally-loadgen missing"
  grep -q '^CMAKE_BUILD_TYPE:STRING=RelWithDebInfo$' "$dir/CMakeCache.txt" 2>/dev/null ||
    echo "warning: $dir is not a RelWithDebInfo build" >&2
  builds[i]="$dir"
done
names=(A B)
# tallyd on one CPU, the load generator on another (if there are two): the votes' grouping
# into commit batches swings less from run to run.
read -r cpu_first cpu_last < <(awk '/^Cpus_allowed_list/ {
  n = split($2, c, /[-,]/); print c[1], c[n] }' /proc/self/status)
pin_tallyd=() pin_loadgen=()
if [[ -n "$cpu_last" && "$cpu_first" != "$cpu_last" ]]; then
  pin_tallyd=(taskset -c "$cpu_last") pin_loadgen=(taskset -c "$cpu_first")
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/tally-ipv.XXXXXX")"
run="$work/run"
tallyd_pid=""
stop_tallyd() {
  [[ -n "$tallyd_pid" ]] || return 0
  kill -TERM "$tallyd_pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$tallyd_pid" 2>/dev/null || break; sleep 0.2; done
  kill -KILL "$tallyd_pid" 2>/dev/null || true
  wait "$tallyd_pid" 2>/dev/null || true
  tallyd_pid=""
}
trap 'stop_tallyd; rm -rf "$work"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

fail() {
  echo "run failed: $*" >&2
  tail -n 5 "$run/tallyd.log" "$run/valgrind.log" "$run"/loadgen-*.json >&2 2>/dev/null || true
  exit 1
}
field() { grep -o "\"$1\":[0-9]*" "$2" | head -n 1 | cut -d: -f2; }
commas() { printf '%s' "$1" | sed -e ':a' -e 's/\([0-9]\)\([0-9]\{3\}\)\($\|,\)/\1,\2\3/' -e 'ta'; }
control() { timeout 60 callgrind_control "$@" "$tallyd_pid" >>"$run/control.log" 2>&1; }
# commit_batches PORT: tally_commit_batches_total from GET /metrics (bash's /dev/tcp).
commit_batches() {
  local n
  exec 3<>"/dev/tcp/127.0.0.1/$1" || return 1
  printf 'GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' >&3
  n="$(timeout 30 cat <&3 | tr -d '\r' | awk '$1 == "tally_commit_batches_total" { print $2 }')"
  exec 3<&-
  [[ -n "$n" ]] && echo "$n"
}

# measure BUILD_DIR CASE: sets per_vote_all, per_vote_rest, votes, accepted, commits.
measure() {
  local bin="$1/bin" port="" flags warmup measured expected after tokens
  rm -rf "$run" && mkdir -p "$run/data"
  flags=(--agents 1000 --voters 500000000 --retry-fraction 0 --json --drain-timeout 60)
  if [[ "$2" == batch ]]; then
    flags+=(--mode batch --batch-size 1000 --connections 4 --pipeline 2)
    warmup=5 measured=40 expected=40000
  else
    flags+=(--mode single --connections 16)
    warmup=2000 measured=10000 expected=10000
  fi
  "${pin_tallyd[@]}" valgrind --tool=callgrind --instr-atstart=no \
    --callgrind-out-file="$run/callgrind.out" --log-file="$run/valgrind.log" \
    "$bin/tallyd" --data-dir "$run/data" --listen 127.0.0.1:0 --demo >"$run/tallyd.log" 2>&1 &
  tallyd_pid=$!
  for _ in $(seq 600); do
    port="$(grep -so 'ready listen=127\.0\.0\.1:[0-9]*' "$run/tallyd.log" | cut -d: -f2)" || true
    [[ -n "$port" ]] && break
    kill -0 "$tallyd_pid" 2>/dev/null || fail "tallyd exited at start-up"
    sleep 0.2
  done
  [[ -n "$port" ]] || fail "tallyd not ready after 120 s"
  # Generated tokens are shown in tokens.generated; builds from before digests kept them in
  # tokens.json.
  tokens="$run/data/tokens.generated"
  [[ -f "$tokens" ]] || tokens="$run/data/tokens.json"
  flags+=(--target "127.0.0.1:$port" --token-file "$tokens")

  timeout --foreground 300 "${pin_loadgen[@]}" "$bin/tally-loadgen" "${flags[@]}" \
    --requests "$warmup" --seed 11 >"$run/loadgen-warmup.json" || fail "warm-up"
  commits="$(commit_batches "$port")" || fail "GET /metrics"
  control -i on || fail "callgrind_control -i on"
  timeout --foreground 600 "${pin_loadgen[@]}" "$bin/tally-loadgen" "${flags[@]}" \
    --requests "$measured" --seed 12 >"$run/loadgen-measured.json" || fail "measured requests"
  control -i off || fail "callgrind_control -i off"
  after="$(commit_batches "$port")" || fail "GET /metrics"
  commits=$((after - commits))
  control -d || fail "callgrind_control -d"
  for _ in $(seq 100); do [[ -s "$run/callgrind.out.1" ]] && break; sleep 0.2; done
  stop_tallyd

  votes="$(field votes "$run/loadgen-measured.json")"
  accepted="$(field accepted "$run/loadgen-measured.json")"
  [[ "$votes" == "$expected" ]] || fail "$votes votes answered, $expected expected"
  [[ "$(field transport_errors "$run/loadgen-measured.json")" == 0 ]] || fail "transport errors"
  # Self cost by function, each with its object in brackets; libcrypto's are summed apart.
  callgrind_annotate --auto=no --inclusive=no --threshold=100 "$run/callgrind.out.1" \
    >"$run/annotate.txt" || fail "callgrind_annotate"
  read -r per_vote_all per_vote_rest < <(awk -v votes="$votes" '
    / PROGRAM TOTALS$/ { gsub(",", "", $1); total = $1 }
    /\[[^]]*\/libcrypto\.so[^]]*\]$/ { gsub(",", "", $1); crypto += $1 }
    END { if (total > 0) printf "%.0f %.0f\n", total / votes, (total - crypto) / votes }
  ' "$run/annotate.txt")
  [[ -n "${per_vote_rest:-}" ]] || fail "no totals in callgrind_annotate output"
  rm -rf "$run"
}

for i in "${!builds[@]}"; do echo "${names[$i]}: ${builds[$i]}"; done
declare -A figures  # "all|rest|commits BUILD CASE" -> the runs' figures, space separated
for ((round = 1; round <= rounds; round++)); do
  for c in "${cases[@]}"; do
    for i in "${!builds[@]}"; do
      started=$SECONDS
      measure "${builds[$i]}" "$c"
      figures["all $i $c"]+="$per_vote_all "
      figures["rest $i $c"]+="$per_vote_rest "
      figures["commits $i $c"]+="$commits "
      printf 'round %d  %s  %-6s  %7s instructions per vote, %7s besides libcrypto; ' \
        "$round" "${names[$i]}" "$c" "$(commas "$per_vote_all")" "$(commas "$per_vote_rest")"
      printf '%s votes, %s accepted, %s commit batches (%d s)\n' "$(commas "$votes")" \
        "$(commas "$accepted")" "$(commas "$commits")" $((SECONDS - started))
    done
  done
done

# mean_of "n n n": the mean; runs_and_mean "n n n": "n · n · n (mean)"; ratio "A runs" "B runs".
mean_of() { echo "$1" | awk '{ for (i = 1; i <= NF; i++) s += $i; printf "%.0f\n", s / NF }'; }
runs_and_mean() {
  local runs="" n
  for n in $1; do runs+="${runs:+ · }$(commas "$n")"; done
  echo "$runs ($(commas "$(mean_of "$1")"))"
}
ratio() {
  printf '%s\n%s\n' "$1" "$2" | awk '{ s = 0; for (i = 1; i <= NF; i++) s += $i; m[NR] = s / NF }
    END { printf "%.3f×", m[2] / m[1] }'
}
table() {
  local c kind label row
  if ((${#builds[@]} == 2)); then
    echo "| case | A: runs (mean) | B: runs (mean) | B ÷ A |"
    echo "| --- | --- | --- | --- |"
  else
    echo "| case | runs (mean) |"
    echo "| --- | --- |"
  fi
  for c in "${cases[@]}"; do
    for kind in all rest commits; do
      label="${kind/rest/besides libcrypto}"
      row="| $c, ${label/commits/commit batches} | $(runs_and_mean "${figures["$kind 0 $c"]}") |"
      if ((${#builds[@]} == 2)); then
        row+=" $(runs_and_mean "${figures["$kind 1 $c"]}") |"
        row+=" $(ratio "${figures["$kind 0 $c"]}" "${figures["$kind 1 $c"]}") |"
      fi
      echo "$row"
    done
  done
}
echo
table
if [[ -n "$out" ]]; then
  { for i in "${!builds[@]}"; do echo "${names[$i]}: ${builds[$i]}  "; done; echo; table; } >"$out"
fi
