#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz) with clang, ASan and UBSan in build-fuzz/, generates
# their seed corpora, and runs each target for SECONDS (default 60) on one core, one after
# another. Prints libFuzzer's final statistics (executions, exec/s, peak RSS) and the last
# coverage line (cov: edges, ft: features, corp: corpus entries/bytes) for each target.
#
#   tools/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
#                  targets: wire config idx model checkpoint (default: all)
#
# Corpora grow in build-fuzz/corpus/<target>/ (kept between runs); crashes land in
# build-fuzz/crashes/<target>/, and a new one makes the script exit non-zero: turn each into a
# regression test in tests/test_fuzz_regressions.c. Environment: FUZZ_BUILD (build dir),
# FUZZ_ARGS (extra libFuzzer flags).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
shift || true
targets=("$@")
((${#targets[@]})) || targets=(wire config idx model checkpoint)
build=${FUZZ_BUILD:-build-fuzz}

command -v clang >/dev/null || {
  echo "tools/fuzz.sh: clang is missing: apt-get install -y clang libclang-rt-14-dev" >&2
  exit 1
}
CC=clang cmake -S . -B "$build" -DTQ_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)" --target make_seeds $(printf 'fuzz_%s ' "${targets[@]}") \
  >/dev/null
"$build/tests/fuzz/make_seeds" "$build/seeds" >/dev/null

status=0
for t in "${targets[@]}"; do
  corpus=$build/corpus/$t crashes=$build/crashes/$t log=$build/fuzz_$t.log
  mkdir -p "$corpus" "$crashes"
  echo "== fuzz_$t: $secs s (log: $log)"
  # One process on one core: libFuzzer's default (-jobs=1 would fork a worker that logs to
  # ./fuzz-0.log instead). New inputs go to the first corpus folder; the seeds are read only.
  # The leak checker stays on (these targets never touch OpenCL), with one narrow suppression
  # for libconfig (tests/fuzz/lsan.supp). Inputs up to 64 KiB reach the multi-bucket and
  # multi-block paths.
  before=$(ls "$crashes" | wc -l)
  rc=0
  LSAN_OPTIONS="suppressions=$PWD/tests/fuzz/lsan.supp:print_suppressions=0" \
  UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
  "$build/tests/fuzz/fuzz_$t" "$corpus" "$build/seeds/$t" -max_total_time="$secs" \
    -print_final_stats=1 -max_len=65536 -timeout=10 -rss_limit_mb=2560 \
    -artifact_prefix="$crashes/" ${FUZZ_ARGS:-} >"$log" 2>&1 || rc=$?
  grep -E '^#[0-9]+.*(DONE|pulse|NEW|REDUCE|INITED)' "$log" | tail -n 1 || true
  grep -E '^stat::' "$log" || true
  if ((rc)) || (($(ls "$crashes" | wc -l) > before)); then
    echo "fuzz_$t: FAILED (rc $rc); new artifacts in $crashes:" >&2
    ls -lt "$crashes" | head -n 4 >&2
    grep -E 'ERROR|SUMMARY|runtime error' "$log" | head -n 5 >&2 || true
    status=1
  fi
done
exit $status
