#!/usr/bin/env bash
# The ZooKeeper tests, against a real server: starts a private standalone
# ZooKeeper (tests/zk/zkserver.sh: temp dir, free loopback port), runs the
# zk_test_* Criterion binaries with QM_TEST_ZK=zk://127.0.0.1:<port> and
# QM_TEST_ZK_DIR=<server dir> (the leader and detector tests stop and
# restart the server through it), stops the server, and prints as its last
# line
#   zookeeper: N passed, N failed
#   tests/zk/run.sh           the tests
#   tests/zk/run.sh --bench [SAVES]
#                             also the store benchmark (zk_store_bench; use
#                             a Release build for meaningful figures:
#                             QM_BUILD_DIR=build-release)
# Binaries come from $QM_BUILD_DIR (default build-asan, as scripts/test.sh
# builds them). A sanitizer report in a binary's output counts as a failure.
set -uo pipefail
cd "$(dirname "$0")/../.."
top=$(pwd)
build=${QM_BUILD_DIR:-$top/build-asan}
bench=0
[ "${1:-}" = --bench ] && bench=1

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:exitcode=86}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# The ZooKeeper C client's own leak on close (ZOOKEEPER-3868): suppressed
# by its frame, which only the full unwinder sees (tests/zk/lsan.supp).
export LSAN_OPTIONS="suppressions=$top/tests/zk/lsan.supp:fast_unwind_on_malloc=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"

passed=0; failed=0
add() { passed=$((passed + $1)); failed=$((failed + $2)); }

dir=$(mktemp -d /tmp/qm-zk.XXXXXX)
cleanup() {
  tests/zk/zkserver.sh stop "$dir" >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== zookeeper server"
if ! addr=$(tests/zk/zkserver.sh start "$dir"); then
  echo "  could not start a ZooKeeper server (see above)"
  echo "zookeeper: 0 passed, 1 failed"
  exit 1
fi
echo "  listening on $addr (data in $dir)"
export QM_TEST_ZK="zk://$addr" QM_TEST_ZK_DIR="$dir"

for t in zk_test_store zk_test_store_zk zk_test_leader zk_test_detector; do
  bin=$build/$t
  if [ ! -x "$bin" ]; then
    echo "  $t: not built in $build"; add 0 1; continue
  fi
  echo "== $t"
  # one test at a time: the leader tests stop and restart the server
  out=$("$bin" --jobs 1 2>&1); rc=$?
  syn=$(printf '%s\n' "$out" | grep 'Synthesis:' | tail -1)
  if [ -z "$syn" ]; then
    printf '%s\n' "$out" | tail -30
    echo "  $t: no synthesis (rc=$rc)"; add 0 1; continue
  fi
  # measurements the tests print ("detector: leader change -> ...")
  printf '%s\n' "$out" | grep -E '^detector: ' | sed 's/^/  /'
  p=$(printf '%s' "$syn" | sed -n 's/.*Passing: \([0-9]*\).*/\1/p')
  f=$(printf '%s' "$syn" | sed -n 's/.*Failing: \([0-9]*\).*/\1/p')
  c=$(printf '%s' "$syn" | sed -n 's/.*Crashing: \([0-9]*\).*/\1/p')
  if [ "$rc" -ne 0 ] || [ "${f:-0}" -ne 0 ] || [ "${c:-0}" -ne 0 ]; then
    printf '%s\n' "$out" | grep -v '^\[----\]' | grep -v 'level=' | tail -40
  fi
  san=$(printf '%s\n' "$out" | grep -cE 'ERROR: (Leak|Address)Sanitizer|runtime error:')
  if [ "$san" -ne 0 ]; then
    printf '%s\n' "$out" | grep -E -A12 'ERROR: (Leak|Address)Sanitizer|runtime error:' | head -60
    echo "  $t: $san sanitizer report(s)"; add 0 1
  fi
  echo "  $t: ${p:-0} passed, $(( ${f:-0} + ${c:-0} )) failed"
  add "${p:-0}" $(( ${f:-0} + ${c:-0} ))
  [ "$rc" -ne 0 ] && [ "${f:-0}" -eq 0 ] && [ "${c:-0}" -eq 0 ] && add 0 1
  # a test that stopped the server restarts it; make sure it is up
  tests/zk/zkserver.sh start "$dir" >/dev/null || { echo "  server did not come back"; add 0 1; }
done

if [ "$bench" -eq 1 ]; then
  echo "== zk_store_bench"
  if [ -x "$build/zk_store_bench" ]; then
    "$build/zk_store_bench" "$QM_TEST_ZK/qm-bench" ${2:+"$2"} || add 0 1
  else
    echo "  zk_store_bench: not built in $build"; add 0 1
  fi
fi

echo "zookeeper: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
