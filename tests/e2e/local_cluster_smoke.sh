#!/usr/bin/env bash
# Smoke test of the README's main command, examples/local-cluster.sh:
#
#   tests/e2e/local_cluster_smoke.sh   (root; QM_BUILD_DIR, default build-asan/;
#                                       QM_LOCAL_CLUSTER_FOR, default 600 s: a
#                                       safety net, the test stops it itself)
#
# Runs `./examples/local-cluster.sh --for 600 --build-dir "$QM_BUILD_DIR"`
# (reusing the test build instead of building build-release/), and while it
# runs pastes two of the commands it prints: the marker for the spare disk on
# agent3 (a metadata service must start there) and `add-disk agent1 data`
# (a data service must start on agent1), then adds a second data disk on
# agent2 (its running data service must keep going). Then checks the printed summary
# (probers, registry/metadata/data/api/webconsole where they belong, running
# and healthy), that the script stopped cleanly, and that nothing is left:
# no mount, no loop device, no process, no state directory.
#
# Prints one line per check, the script's output when a check failed, and
# ends with "local-cluster: N passed, N failed".
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
build=${QM_BUILD_DIR:-$top/build-asan}
run_for=${QM_LOCAL_CLUSTER_FOR:-600}
passed=0 failed=0
ok() { passed=$((passed + 1)); echo "  ok    $*"; }
bad() { failed=$((failed + 1)); echo "  FAIL  $*"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }

if [ "$(id -u)" -ne 0 ]; then
  echo "  FAIL  needs root (loop devices, mkfs, mount)"
  echo "local-cluster: 0 passed, 1 failed"; exit 1
fi
log=$(mktemp /tmp/qm-local-cluster-smoke.XXXXXX)
echo "== examples/local-cluster.sh --for $run_for --build-dir $build (output: $log)"
t_start=$(date +%s.%N)
"$top/examples/local-cluster.sh" --for "$run_for" --build-dir "$build" >"$log" 2>&1 9>&- &
pid=$!
on_exit() { kill -TERM "$pid" 2>/dev/null && wait "$pid"; }
trap on_exit EXIT
trap 'exit 130' INT TERM

wait_for() { # wait_for SECONDS PATTERN: a line of the log matching PATTERN (ERE)
  local i
  for ((i = 0; i < $1 * 5; i++)); do
    grep -qE "$2" "$log" && return 0
    kill -0 "$pid" 2>/dev/null || { grep -qE "$2" "$log"; return; }
    sleep 0.2
  done
  return 1
}

check "says how Docker tasks run, first" wait_for 120 '^local-cluster: Docker tasks run as REAL CONTAINERS|^local-cluster: WARNING: no container can run here'
real=0
grep -q '^local-cluster: Docker tasks run as REAL CONTAINERS' "$log" && real=1
check "Docker tasks run as real containers (podman can run them here)" test "$real" -eq 1
wait_for 30 'state directory'
state=$(grep -m1 -oE '/var/tmp/quobyte-local\.[A-Za-z0-9]+' "$log" | head -1)
check "state directory printed ($state)" test -n "$state"
check "REST URL printed" wait_for 60 '^  REST API +http://127\.0\.0\.1:[0-9]+/v1/state'
check "everything running (ALL RUNNING: 6 services, 3 probers)" \
  wait_for 60 'ALL RUNNING: 6 services \(6 healthy, 0 without a health check\) and 3 probers'
t_ready=$(date +%s.%N)

# the summary printed at the first ALL RUNNING
summary=$(sed -n '/^what runs where/,/^  problems:/p' "$log")
# host of each summary row (a row without a host belongs to the one above)
rows=$(awk '/^what runs where/ { next } /^  [a-z0-9]+  / { host = $1; print; next } { print "  " host $0 }' <<<"$summary")
has() { grep -qE "$1" <<<"$rows"; }
count() { grep -cE "$1" <<<"$rows"; }
check "summary: 3 probers RUNNING and reporting" test "$(count 'prober +quobyte-prober\.agent[123]\.[0-9a-f]+ +RUNNING, reporting')" -eq 3
check "summary: registry on agent1, running and healthy" has '^  agent1 +registry +quobyte-registry\.agent1\.[0-9a-f]+ +RUNNING healthy'
check "summary: metadata on agent2, running and healthy" has '^  agent2 +metadata +quobyte-metadata\.agent2\.[0-9a-f]+ +RUNNING healthy'
check "summary: data on agent2, running and healthy" has '^  agent2 +data +quobyte-data\.agent2\.[0-9a-f]+ +RUNNING healthy'
check "summary: data on agent3, running and healthy" has '^  agent3 +data +quobyte-data\.agent3\.[0-9a-f]+ +RUNNING healthy'
check "summary: one api, running and healthy" test "$(count ' api +quobyte-api\.agent[123]\.[0-9a-f]+ +RUNNING healthy')" -eq 1
check "summary: one webconsole, running and healthy" test "$(count ' webconsole +quobyte-webconsole\.agent[123]\.[0-9a-f]+ +RUNNING healthy')" -eq 1
check "summary: bootstrap registry device on agent1" has '^  agent1 +device +.*/agents/agent1/registry +ext4 registry\+bootstrap ok'
check "summary: no problems" grep -qx '  problems: none' <<<"$summary"

# paste the printed spare-disk marker command
mark=$(grep -m1 -E "^ +printf 'device\.serial=LOCAL-SPARE-1.*/agents/agent3/spare/QUOBYTE_DEV_SETUP$" "$log")
check "spare-disk marker command printed" test -n "$mark"
[ -n "$mark" ] && bash -c "$mark"
check "marking the spare disk starts metadata on agent3 (running, healthy)" \
  wait_for 20 'agent3: metadata service quobyte-metadata\.agent3\.[0-9a-f]+ TASK_RUNNING healthy'
# paste the printed add-disk command
add=$(grep -m1 -E '^ +/.*/examples/local-cluster\.sh add-disk agent1 data --state /var/tmp/quobyte-local\.[A-Za-z0-9]+$' "$log")
check "add-disk command printed" test -n "$add"
[ -n "$add" ] && { bash -c "$add" >>"$log.add" 2>&1 || cat "$log.add"; }
check "add-disk agent1 data starts data on agent1 (running, healthy)" \
  wait_for 20 'agent1: data service quobyte-data\.agent1\.[0-9a-f]+ TASK_RUNNING healthy'
check "everything running again (8 services)" wait_for 20 'ALL RUNNING: 8 services'
# a second data disk on agent2, whose data service is running: the disk
# reaches that service (its device root is shared into the container), so
# the service is neither killed nor relaunched
data2() { grep -oE 'agent2: data service quobyte-data\.agent2\.[0-9a-f]+' "$log" | sort -u; }
before=$(data2)
add2=$(grep -m1 -E '^ +/.*/examples/local-cluster\.sh add-disk agent2 data --state /var/tmp/quobyte-local\.[A-Za-z0-9]+$' "$log")
check "add-disk agent2 command printed" test -n "$add2"
out2=""
[ -n "$add2" ] && out2=$(bash -c "$add2" 2>&1)
printf '%s\n' "$out2" >>"$log.add"
check "add-disk agent2 data: the device reaches agent2" \
  wait_for 20 'agent2: device /var/tmp/quobyte-local\.[A-Za-z0-9]+/agents/agent2/data-1 .*data: ok'
# the add-disk command itself shows the disk inside the running container
check "add-disk shows the new disk inside agent2's running data container" \
  grep -qE "^    /var/tmp/quobyte-local\.[A-Za-z0-9]+/agents/agent2/data-1 ext4 DATA_DEVICE" <<<"$out2"
inside=$(grep -m1 -E '^ +/.*/examples/local-cluster\.sh inside agent2 data --state /var/tmp/quobyte-local\.[A-Za-z0-9]+$' "$log")
check "'inside agent2 data' command printed" test -n "$inside"
in_out=""
[ -n "$inside" ] && in_out=$(bash -c "$inside" 2>&1)
printf 'inside: %s\n' "$in_out" >>"$log.add"
check "'inside agent2 data' lists both data disks of agent2" \
  test "$(grep -cE '/agents/agent2/data(-1)? (xfs|ext4) DATA_DEVICE' <<<"$in_out")" -eq 2
sleep 2
check "... and agent2's running data service keeps going (same task)" \
  test "$(data2)" = "$before" -a -n "$before"

# stop it as an operator does (Ctrl-C; a background job ignores SIGINT, so
# SIGTERM, which the script treats the same); --for is only the safety net
kill -TERM "$pid" 2>/dev/null
wait "$pid"; rc=$?
trap - EXIT
check "stopped by SIGTERM: exit status 143 after its clean-up (was $rc)" test "$rc" -eq 143
check "stopped: nothing left mounted or attached (as printed)" grep -qE '^local-cluster: stopped in [0-9.]+s; nothing left mounted or attached$' "$log"
if [ -n "$state" ]; then
  check "nothing mounted below $state" bash -c "! grep -q ' $state/' /proc/self/mountinfo"
  # a loop device whose mount was copied into a mount namespace created
  # meanwhile (e.g. a container build) detaches once that namespace ends
  for _ in $(seq 60); do losetup -a | grep -q "$state/" || break; sleep 0.5; done
  check "no loop device backed by $state" bash -c "! losetup -a | grep -q '$state/'"
  check "no process left in $state" bash -c "! for p in /proc/[0-9]*; do readlink \$p/cwd; done 2>/dev/null | grep -q '^$state'"
  check "state directory removed after a clean run" test ! -e "$state"
fi
check "no quobyte-local mount at all" bash -c "! grep -q quobyte-local /proc/mounts"
if [ "$real" -eq 1 ]; then
  pargs=$(bash "$top/tests/container/podman_lib.sh" env 2>/dev/null | sed -n 's/^QM_PODMAN_ARGS=//p')
  # shellcheck disable=SC2086  # podman's global options, none with a blank
  # this instance's containers: those with a volume from its state
  # directory (the suite's other lane may run emulator containers of its own)
  ours() {
    local id
    for id in $(podman $pargs ps -a -q --filter label=quobyte-mesos.emulator 2>/dev/null); do
      podman $pargs inspect --format '{{range .Mounts}}{{.Source}}{{"\n"}}{{end}}' "$id" 2>/dev/null |
        grep -q "^${state:-/var/tmp/quobyte-local.}" && echo "$id"
    done
  }
  check "no container left" test -z "$(ours)"
fi

ready_line=$(grep -m1 -oE '^\[\+ *[0-9.]+s\] ALL RUNNING' "$log" | sed -E 's/^\[\+ *([0-9.]+)s\].*/everything first ran at +\1s/')
echo "  figures: ${ready_line:-no start-up figure printed} (counted from creating the disks);" \
  "$(awk -v a="$t_start" -v b="$t_ready" 'BEGIN { printf "%.1f s", b - a }') from launching the script" \
  "to the first ALL RUNNING line"
if [ "$failed" -ne 0 ]; then
  echo "  --- output of examples/local-cluster.sh:"
  sed 's/^/  | /' "$log"
  [ -s "$log.add" ] && sed 's/^/  | add-disk: /' "$log.add"
else
  rm -f "$log" "$log.add"
fi
echo "local-cluster: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
