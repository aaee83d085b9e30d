#!/usr/bin/env bash
# Builds the libFuzzer targets (clang-14, ASan+UBSan) into build-fuzz/ and runs each for
# SECONDS (default 60) on a scratch copy of its seed corpus: the committed corpus in
# fuzz/corpus/ never grows from here. Exits non-zero when a fuzzer finds a crash, a leak, a
# timeout or an out-of-memory; the reproducer is left in build-fuzz/findings/<target>/.
# Usage: scripts/fuzz.sh [SECONDS]   (docs/INGEST.md "Fuzzing")
set -euo pipefail
seconds="${1:-60}"
source "$(dirname "$0")/env.sh"
bash "$TALLY_ROOT/scripts/install-deps.sh"

build="$TALLY_ROOT/build-fuzz"
targets=(vote_parser_fuzz request_fuzz record_fuzz)
tally_configure "$build" -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DTALLY_FUZZ=ON -DTALLY_BUILD_TESTS=OFF -DTALLY_BUILD_BENCHMARKS=OFF
cmake --build "$build" -j "$TALLY_JOBS" --target "${targets[@]}"

status=0
for target in "${targets[@]}"; do
  corpus_name="${target%_fuzz}"
  work="$build/fuzz-run/$corpus_name"
  findings="$build/findings/$target"
  rm -rf "$work"
  mkdir -p "$work" "$findings"
  cp "$TALLY_ROOT/fuzz/corpus/$corpus_name/"* "$work/"
  echo "fuzz: $target for ${seconds}s" >&2
  if ! "$build/bin/$target" "$work" -dict="$TALLY_ROOT/fuzz/tally.dict" \
      -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=32768 \
      -print_final_stats=1 -artifact_prefix="$findings/" >"$build/$target.log" 2>&1; then
    echo "fuzz: $target FAILED; reproducer(s) in $findings/, log in $build/$target.log" >&2
    tail -n 60 "$build/$target.log" >&2
    status=1
  else
    grep -E '^stat::(number_of_executed_units|peak_rss_mb)' "$build/$target.log" >&2 || true
  fi
done
exit "$status"
