#!/usr/bin/env bash
# libFuzzer targets (tests/fuzz/fuzz_*.c), one per parser of untrusted
# input, built with clang into build-fuzz (-DQM_FUZZ=ON: libFuzzer + ASan +
# UBSan, every library instrumented).
#
#   tests/fuzz/run.sh                 every target for QM_FUZZ_SECONDS
#                                     (default 8; scripts/test.sh: 2) on its
#                                     seed corpus: the
#                                     test suite's CI-sized run
#   tests/fuzz/run.sh --campaign [N]  every target for N executions
#                                     (default 10000000), corpus kept in
#                                     build-fuzz/corpus/<target> between runs
#   QM_FUZZ_JOBS=J tests/fuzz/run.sh --campaign [N] ...
#                                     the N executions split over J
#                                     processes at once (libFuzzer -jobs,
#                                     one corpus): N/J each, summed
#   tests/fuzz/run.sh ... TARGET...   only these (marker, mountinfo, bus,
#                                     recordio, store, detector, config,
#                                     http, mesos_url, events)
#
# Seeds: tests/data/markers, tests/data/mountinfo, tests/data/masterinfo
# and tests/fuzz/seeds/<target> (events: master streams recorded from the
# emulator by tests/fuzz/record_stream.py). Prints one line per target (executions,
# coverage, corpus, crashes) and as its last line
#   fuzz: N passed, N failed
# A crash, leak, sanitizer report or broken contract fails the target; the
# input is kept under the log directory printed at the start.
set -uo pipefail
cd "$(dirname "$0")/../.."
top=$(pwd)
build=$(realpath -m "${QM_FUZZ_BUILD_DIR:-$top/build-fuzz}")
seconds=${QM_FUZZ_SECONDS:-8}
runs=
jobs=${QM_FUZZ_JOBS:-1}
if [ "${1:-}" = --campaign ]; then
  shift
  runs=10000000
  if [[ "${1:-}" =~ ^[0-9]+$ ]]; then runs=$1; shift; fi
fi
if ! [[ "$jobs" =~ ^[1-9][0-9]?$ ]] || { [ "$jobs" -gt 1 ] && [ -z "$runs" ]; }; then
  echo "fuzz: QM_FUZZ_JOBS must be 1..99, and more than 1 only with --campaign"
  echo "fuzz: 0 passed, 1 failed"
  exit 1
fi
all=(marker mountinfo bus recordio store detector config http mesos_url events)
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=("${all[@]}")

if ! command -v clang >/dev/null; then
  echo "fuzz: clang is not installed (scripts/install-deps.sh installs it)"
  echo "fuzz: 0 passed, 1 failed"
  exit 1
fi
CC=clang cmake -S "$top" -B "$build" -DQM_FUZZ=ON -DCMAKE_BUILD_TYPE=Debug \
  >/dev/null || { echo "fuzz: cmake failed"; echo "fuzz: 0 passed, 1 failed"; exit 1; }
for t in "${targets[@]}"; do
  if [[ " ${all[*]} " != *" $t "* ]]; then
    echo "fuzz: no target '$t' (targets: ${all[*]})"
    echo "fuzz: 0 passed, 1 failed"
    exit 1
  fi
done
# only the targets asked for (and the libraries they link): not the
# daemons and test tools, which the sanitizer build already covers
build_targets=()
for t in "${targets[@]}"; do build_targets+=(--target "fuzz_$t"); done
if ! cmake --build "$build" -j"$(nproc)" "${build_targets[@]}" \
    >"$build/build.log" 2>&1; then
  tail -30 "$build/build.log"
  echo "fuzz: build failed (log: $build/build.log)"
  echo "fuzz: 0 passed, 1 failed"
  exit 1
fi

logs=$(mktemp -d /tmp/qm-fuzz-logs.XXXXXX)
echo "fuzz: build $build, logs in $logs"
passed=0; failed=0

seed_dirs() {
  case $1 in
    marker) echo "$top/tests/data/markers" ;;
    mountinfo) echo "$top/tests/data/mountinfo" ;;
  esac
  [ -d "$top/tests/fuzz/seeds/$1" ] && echo "$top/tests/fuzz/seeds/$1"
}

dict_of() {
  case $1 in
    marker) echo "$top/tests/fuzz/marker.dict" ;;
    store|detector|recordio) echo "$top/tests/fuzz/json.dict" ;;
    http) echo "$top/tests/fuzz/http.dict" ;;
    mesos_url) echo "$top/tests/fuzz/url.dict" ;;
    events) echo "$top/tests/fuzz/events.dict" ;;
  esac
}

# the detector's MasterInfo mode takes a leading mode byte (1)
prepare_detector_seeds() {
  local out=$1
  for f in "$top"/tests/data/masterinfo/*; do
    { printf '\001'; cat "$f"; } >"$out/masterinfo-$(basename "$f")"
  done
}

printf '%-10s %12s %8s %8s %9s  %s\n' target executions cov features corpus result
for t in "${targets[@]}"; do
  bin="$build/fuzz_$t"
  if [ -n "$runs" ]; then
    corpus="$build/corpus/$t"
  else
    corpus="$logs/corpus-$t"
  fi
  mkdir -p "$corpus"
  [ "$t" = detector ] && prepare_detector_seeds "$corpus"
  args=(-print_final_stats=1 -artifact_prefix="$logs/$t-" -timeout=10
        -rss_limit_mb=1024)
  d=$(dict_of "$t"); [ -n "$d" ] && args+=(-dict="$d")
  if [ -n "$runs" ]; then
    args+=(-runs="$(( (runs + jobs - 1) / jobs ))")
    # each job logs to fuzz-<job>.log in its working directory
    [ "$jobs" -gt 1 ] && args+=(-jobs="$jobs" -workers="$jobs")
  else
    args+=(-max_total_time="$seconds")
  fi
  # The http target makes thousands of loopback connections a second: in a
  # network namespace of its own (when root can make one) they neither
  # fill the host's connection-tracking table (its full table drops every
  # new connection on the machine) nor its TIME_WAIT buckets.
  wrap=()
  if [ "$t" = http ] && unshare -n true 2>/dev/null; then
    wrap=(unshare -n sh -c 'ip link set lo up && exec "$@"' sh)
  fi
  # shellcheck disable=SC2046
  mkdir -p "$logs/$t.jobs"
  (cd "$logs/$t.jobs" && exec "${wrap[@]}" "$bin" "${args[@]}" "$corpus" $(seed_dirs "$t")) \
    >"$logs/$t.log" 2>&1
  rc=$?
  # libFuzzer copies each job's log into its own as the job ends: every job
  # must have finished with its statistics
  if [ "$jobs" -gt 1 ] &&
     [ "$(grep -c '^stat::number_of_executed_units' "$logs/$t.log")" -ne "$jobs" ]; then
    rc=1
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$logs/$t.log" |
    awk '{ n += $1 } END { if (NR) print n }')
  # the status line with the most coverage (of the last job's, or the only one)
  last=$(grep -E '^#[0-9]+[[:space:]]+(DONE|pulse|NEW|REDUCE)' "$logs/$t.log" |
    awk '{ for (i = 1; i < NF; i++) if ($i == "cov:") print $(i + 1), $0 }' |
    sort -n -s -k1,1 | tail -1 | cut -d' ' -f2-)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corp=$(sed -n 's/.* corp: \([0-9]*\/[0-9a-zA-Z]*\).*/\1/p' <<<"$last")
  if [ $rc -eq 0 ] && ! grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|fuzz contract broken' "$logs/$t.log"; then
    result=ok; passed=$((passed + 1))
  else
    result="FAILED (exit $rc; $logs/$t.log)"; failed=$((failed + 1))
    grep -E 'ERROR|runtime error|contract|SUMMARY|artifact' "$logs/$t.log" | head -8 | sed 's/^/    /'
  fi
  printf '%-10s %12s %8s %8s %9s  %s\n' "$t" "${execs:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$result"
done
echo "fuzz: $passed passed, $failed failed"
[ $failed -eq 0 ]
