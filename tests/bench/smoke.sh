#!/usr/bin/env bash
# A short run of every benchmark, to prove they still work (numbers from a
# smoke run mean nothing). Uses QM_BUILD_DIR like the benchmarks (the test
# script points it at the sanitizer build). Needs root.
#   tests/bench/smoke.sh [all|mounts|nomounts]
# mounts: the ones that mount marked disks (a prober of another test on
# this host sees those: scripts/test.sh runs them in its mount-making lane);
# nomounts: the rest. Default all.
# Last line: "bench-smoke: N passed, N failed".
set -u
cd "$(dirname "$0")"
part=${1:-all}
case $part in all|mounts|nomounts) ;; *) echo "usage: $0 [all|mounts|nomounts]" >&2; exit 2 ;; esac
passed=0; failed=0
run() {
	local kind=$1; shift
	[ "$part" = all ] || [ "$part" = "$kind" ] || return 0
	echo "-- $*"
	if python3 "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
}
run mounts hot_add.py --trials 5
run mounts new_mount.py --trials 3
run mounts footprint.py --devices 3 --idle 3
run mounts e2e_hot_add.py --trials 3
run nomounts offer_cycle.py --agents 50 --cycles 2 --no-heap
# the same with the state in ZooKeeper: its saves in the loop figures;
# every prober's launch a slice of its own (50 slices, each saved in
# ZooKeeper before its ACCEPT)
run nomounts offer_cycle.py --agents 50 --cycles 2 --no-heap --store zk --launch-slice 0
# CI-sized scale run (issue 11): prints the figures table, asserts no time.
# 2,000 probers launched against the strict emulator from events of 1,000
# offers and more: planned in two turns after their booking, carried out in
# slices saved in ZooKeeper; it fails when no event took that path, an
# agent ran two probers at once or the master rejected a call (45 s, ASan)
run nomounts offer_cycle.py --agents 2000 --cycles 1 --revive-interval 10s --no-heap --store zk --master emulator
run nomounts leader_change.py --rounds 2
run mounts churn.py --cycles 100 --sample 50
echo "bench-smoke: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
