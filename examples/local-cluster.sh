#!/usr/bin/env bash
# A Quobyte-on-Mesos cluster on this one machine (run as root on Debian 12):
#
#   ./examples/local-cluster.sh [--version V] [--for SECONDS] [--port PORT]
#                               [--build-dir DIR] [--keep] [--simulate]
#   ./examples/local-cluster.sh add-disk AGENT TYPE[,TYPE] [--fs ext4|xfs]
#                               [--size SIZE] [--state DIR]
#   ./examples/local-cluster.sh inside AGENT SERVICE [--state DIR]
#
# Installs the build dependencies, builds (build-release/), then starts the
# Mesos master emulator (tests/emulator) with three agents agent1..agent3,
# creates loop-device disks (ext4/xfs), mounts them under each agent's device
# root and marks them (registry+bootstrap on agent1, metadata and data on
# agent2, data on agent3, an unmarked spare on agent3), starts
# quobyte-coordinator (file store, probers as Mesos command tasks from the
# built binary, REST API on 127.0.0.1:7000 or a free port) and sets the target
# version. It then prints the REST URL, what runs where, and every change as
# it happens, with commands to try (mark the spare disk, add a disk).
# Ctrl-C or SIGTERM stops everything and leaves nothing mounted or attached.
#
# The Quobyte services run as real containers (podman, set up by
# tests/container/podman_lib.sh) from a STAND-IN quobyte-server image built
# here (tests/standin: it answers health checks and reports what it sees,
# it stores nothing); each agent's device root is a shared mount, so a disk
# added later appears inside the running container. Where no container can
# run, the Docker tasks are simulated, with a warning; --simulate asks for
# that. Every container carries the emulator's label and is removed when
# the cluster stops.
#
#   --version V      target Quobyte version to deploy (default 3.0.1)
#   --for SECONDS    stop by itself this long after the cluster was started
#                    (exit status 0 only if everything came up running)
#   --port PORT      REST API port (default: 7000, or a free one if 7000 is taken)
#   --build-dir DIR  use the binaries in DIR instead of building build-release/
#   --keep           keep the state directory (logs, journal, coordinator
#                    state) after a clean exit; it is always kept on failure
#   --simulate       simulate the Docker tasks (no container runs)
#
# add-disk: creates, formats, mounts and marks one more disk on AGENT
# (agent1..agent3) of the running instance; TYPE is registry, metadata or
# data (several: metadata,data). --state names the instance's state
# directory when more than one runs; the disk is removed with the instance.
# With real containers it then shows the disks the running service
# container of that type on AGENT lists.
#
# inside: what the running SERVICE container (registry, metadata, data,
# client, api, webconsole) on AGENT sees: its devices (path, filesystem,
# free/total bytes), from the stand-in's /report.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)
self=$top/examples/local-cluster.sh

failed=0
die() { failed=1; echo "local-cluster: $*" >&2; exit 1; }
usage() { sed -n '2,/^set -euo/p' "$self" | sed '$d; s/^# \{0,1\}//'; }

# ---------------------------------------------------------------- disks
# mk_disk IMG MNT FS SIZE TYPES SERIAL [bootstrap]
# TYPES: comma list of registry/metadata/data, or "none" (mounted, unmarked).
mk_disk() {
  local img=$1 mnt=$2 fs=$3 size=$4 types=$5 serial=$6 boot=${7:-} dev t marker
  truncate -s "$size" "$img"
  dev=$(losetup -f --show "$img")
  case $fs in
    xfs) mkfs.xfs -q -f -L "${serial:0:12}" "$dev" ;;
    ext4) mkfs.ext4 -q -F -L "${serial:0:16}" "$dev" ;;
    *) echo "local-cluster: unknown filesystem '$fs' (ext4 or xfs)" >&2; return 1 ;;
  esac
  mkdir -p "$mnt"
  mount "$dev" "$mnt"
  [ "$types" = none ] && return 0
  marker="# Quobyte device identifier file (examples/local-cluster.sh)
device.serial=$serial
device.model=local-loop
"
  for t in ${types//,/ }; do
    case $t in
      registry) marker+="device.type=DIR_DEVICE"$'\n' ;;
      metadata) marker+="device.type=METADATA_DEVICE"$'\n' ;;
      data) marker+="device.type=DATA_DEVICE"$'\n' ;;
      *) echo "local-cluster: unknown device type '$t' (registry, metadata, data)" >&2; return 1 ;;
    esac
  done
  [ -n "$boot" ] && marker+="device.bootstrap=true"$'\n'
  # written beside and renamed, so the prober never sees half a marker
  printf '%s' "$marker" > "$mnt/.QUOBYTE_DEV_SETUP.tmp"
  mv "$mnt/.QUOBYTE_DEV_SETUP.tmp" "$mnt/QUOBYTE_DEV_SETUP"
}

# Kill what still runs in a task sandbox below $1/emulator (task processes
# whose emulator died), unmount everything below $1 (deepest first), detach
# every loop device backed by a file below it. Prints leftovers.
release_all() {
  local dir=${1%/}/ m l pid cwd left=0
  for pid in /proc/[0-9]*; do
    cwd=$(readlink "$pid/cwd" 2>/dev/null) || continue
    case $cwd/ in "${dir}emulator/"*) kill -KILL "${pid#/proc/}" 2>/dev/null && echo "local-cluster: killed leftover process ${pid#/proc/} ($(tr '\0' ' ' < "$pid/cmdline" 2>/dev/null | cut -c1-60))" ;; esac
  done
  for m in $(awk -v d="$dir" 'index($5 "/", d) == 1 { print $5 }' /proc/self/mountinfo | sort -r); do
    umount "$m" 2>/dev/null || { sleep 0.5; umount "$m" 2>/dev/null; } || { sleep 1; umount "$m"; } ||
      { echo "local-cluster: $m busy, detaching it lazily" >&2; umount -l "$m"; }
  done
  for l in $(our_loops "$dir"); do
    losetup -d "$l" 2>/dev/null || { sleep 0.5; losetup -d "$l"; } || true
  done
  # losetup -d on a loop device still in use only sets autoclear: the kernel
  # detaches it when the last user goes. Users we did not start: copies of
  # our mounts in mount namespaces created meanwhile (container builds...).
  local i
  for ((i = 0; i < 30; i++)); do [ -z "$(our_loops "$dir")" ] && break; sleep 0.5; done
  [ "$i" -ge 2 ] && echo "local-cluster: waited $((i / 2)).$((i % 2 * 5)) s for the kernel to release the loop devices" >&2
  if awk -v d="$dir" 'index($5 "/", d) == 1 { found = 1 } END { exit !found }' /proc/self/mountinfo; then
    echo "local-cluster: STILL MOUNTED:" >&2
    awk -v d="$dir" 'index($5 "/", d) == 1 { print "  " $5 }' /proc/self/mountinfo >&2
    left=1
  fi
  if [ -n "$(our_loops "$dir")" ]; then
    echo "local-cluster: STILL ATTACHED (autoclear set: detached by the kernel once unused):" >&2
    losetup -n -l -O NAME,BACK-FILE | awk -v d="$dir" 'index($2, d) == 1 { print "  " $0 }' >&2
    local me p ns seen=" "
    me=$(readlink /proc/self/ns/mnt)
    for p in /proc/[0-9]*; do
      ns=$(readlink "$p/ns/mnt" 2>/dev/null) || continue
      [ "$ns" = "$me" ] && continue
      case $seen in *" $ns "*) continue ;; esac
      grep -q " $dir" "$p/mountinfo" 2>/dev/null || continue
      seen+="$ns "
      echo "  held by a copy of our mounts in another mount namespace ($ns, pid ${p#/proc/}" \
        "$(cat "$p/comm" 2>/dev/null)), made by a program that started meanwhile (a container build?)" >&2
    done
    left=1
  fi
  return $left
}
our_loops() { # loop devices backed by a file below $1
  losetup -n -l -O NAME,BACK-FILE 2>/dev/null | awk -v d="$1" 'index($2, d) == 1 { print $1 }'
}

# ---------------------------------------------------------------- add-disk
undo_add_disk() {
  set +e
  mountpoint -q "$add_mnt" && umount "$add_mnt"
  for l in $(losetup -n -j "$add_img" -O NAME 2>/dev/null); do losetup -d "$l"; done
  rm -f "$add_img"
  rmdir "$add_mnt" 2>/dev/null
  echo "local-cluster: add-disk failed; undone" >&2
}
add_disk() {
  local agent=${1:-} types=${2:-} fs=ext4 size=64M state=""
  [ -n "$agent" ] && [ -n "$types" ] || die "usage: add-disk AGENT TYPE[,TYPE] [--fs ext4|xfs] [--size SIZE] [--state DIR]"
  shift 2
  while [ $# -gt 0 ]; do
    case "$1" in
      --fs) fs=${2:?--fs needs ext4 or xfs}; shift 2 ;;
      --size) size=${2:?--size needs a size}; shift 2 ;;
      --state) state=${2:?--state needs a directory}; shift 2 ;;
      *) die "add-disk: unknown argument '$1'" ;;
    esac
  done
  [[ $agent =~ ^[A-Za-z0-9_-]+$ ]] || die "add-disk: bad agent name '$agent'"
  [[ $types =~ ^(registry|metadata|data)(,(registry|metadata|data))*$ ]] ||
    die "add-disk: TYPE is registry, metadata or data, or several joined by commas"
  [[ $size =~ ^[1-9][0-9]*[KMG]?$ ]] || die "add-disk: bad --size '$size' (e.g. 64M)"
  [ "$(id -u)" -eq 0 ] || die "run as root (loop devices, mkfs, mount)"
  state=$(find_instance add-disk "$state") || exit 1
  [ -d "$state/agents/$agent" ] || die "add-disk: no agent '$agent' (have: $(ls "$state/agents" | paste -sd' '))"
  case $fs in ext4) ;; xfs) [ "$size" = 64M ] && size=320M ;; *) die "add-disk: --fs ext4 or xfs" ;; esac
  exec 9>>"$state/lock"
  flock -w 60 9 || die "add-disk: $state is busy"
  [ -e "$state/stopping" ] && die "add-disk: the instance is stopping"
  local n=1 serial
  while [ -e "$state/agents/$agent/${types//,/+}-$n" ] || [ -e "$state/disks/$agent-${types//,/+}-$n.img" ]; do n=$((n + 1)); done
  local name=${types//,/+}-$n
  # globals: the EXIT trap below needs them
  add_img=$state/disks/$agent-$name.img
  add_mnt=$state/agents/$agent/$name
  # undo our own half-made disk if anything fails or we are interrupted (the
  # instance's clean-up would also find it: it lives in the state directory)
  trap undo_add_disk EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  serial=LOCAL-$(tr a-z A-Z <<<"$agent")-$(tr a-z, A-Z- <<<"$types")-$n
  mk_disk "$add_img" "$add_mnt" "$fs" "$size" "$types" "$serial"
  trap - EXIT
  local img=$add_img mnt=$add_mnt
  echo "local-cluster: added $mnt ($(losetup -n -j "$img" -O NAME), $fs, $types, serial $serial)"
  echo "  the viewer of the running instance shows the device and its service arriving"
  # real containers: the running service container of that type sees it
  # (through the device root's shared mount), without a restart
  [ -f "$state/containers" ] || return 0
  local t svc
  for t in ${types//,/ }; do
    svc=$t
    local i shown=0 out
    for ((i = 0; i < 20; i++)); do
      if out=$(show_inside "$state" "$agent" "$svc" 2>/dev/null) && grep -qF "$mnt " <<<"$out"; then
        echo "  inside the running $svc container on $agent now:"
        sed 's/^/    /' <<<"$out"
        shown=1; break
      fi
      sleep 0.1
    done
    [ "$shown" -eq 1 ] ||
      echo "  (no running $svc container on $agent lists it yet: its service starts now; see: $self inside $agent $svc --state $state)"
  done
}

# find_instance WHAT [STATE]: the state directory of the running instance
find_instance() {
  local what=$1 state=${2:-} d live=()
  if [ -z "$state" ]; then
    for d in /var/tmp/quobyte-local.*; do
      [ -f "$d/pid" ] && kill -0 "$(cat "$d/pid")" 2>/dev/null && live+=("$d")
    done
    [ ${#live[@]} -gt 0 ] || { echo "local-cluster: $what: no running instance found (start $self first)" >&2; return 1; }
    [ ${#live[@]} -eq 1 ] || { echo "local-cluster: $what: ${#live[@]} running instances (${live[*]}); name one with --state DIR" >&2; return 1; }
    state=${live[0]}
  fi
  state=${state%/}
  [ -f "$state/pid" ] && kill -0 "$(cat "$state/pid")" 2>/dev/null ||
    { echo "local-cluster: $what: no running instance in $state" >&2; return 1; }
  echo "$state"
}

# show_inside STATE AGENT SERVICE: the devices the running SERVICE container
# on AGENT reports (the stand-in's /report), one per line
show_inside() {
  python3 - "$1/emulator.ready" "$2" "$3" <<'PYEOF'
import json, sys, urllib.request
ready, agent, service = sys.argv[1:4]
master = json.load(open(ready))["listen"][0]
with urllib.request.urlopen("http://%s/control/tasks" % master, timeout=5) as r:
    tasks = json.load(r)["tasks"]
live = [t for t in tasks if t.get("hostname") == agent and not t.get("completed")
        and t.get("state") == "TASK_RUNNING"
        and t["task_id"].startswith("quobyte-%s." % service)]
if not live:
    sys.exit("no running %s task on %s" % (service, agent))
t = live[0]
env = t.get("env") or {}
port = env.get("QUOBYTE_HTTP_PORT") or env.get("QUOBYTE_API_PORT") or \
    env.get("QUOBYTE_WEBCONSOLE_PORT")
if t.get("kind") != "docker" or not port:
    sys.exit("%s is not a container with a report port" % t["task_id"])
with urllib.request.urlopen("http://127.0.0.1:%s/report" % port, timeout=5) as r:
    rep = json.load(r)
print("%s (container mesos-%s, image %s)" % (t["task_id"], t.get("container_id"), t.get("image")))
for d in rep.get("devices") or []:
    print("%s %s %s free %d of %d MiB" % (d["path"], d.get("fstype"), d.get("type") or "-",
          d.get("bytes_free", 0) >> 20, d.get("bytes_total", 0) >> 20))
if not rep.get("devices"):
    print("(no devices)")
if "client" in rep:
    print("client mount %s: %s" % (rep["client"].get("mount_point"),
          "mounted" if rep["client"].get("mounted") else "not mounted"))
PYEOF
}

inside() {
  local agent=${1:-} svc=${2:-} state=""
  [ -n "$agent" ] && [ -n "$svc" ] || die "usage: inside AGENT SERVICE [--state DIR]"
  shift 2
  while [ $# -gt 0 ]; do
    case "$1" in
      --state) state=${2:?--state needs a directory}; shift 2 ;;
      *) die "inside: unknown argument '$1'" ;;
    esac
  done
  [[ $agent =~ ^[A-Za-z0-9_-]+$ ]] || die "inside: bad agent name '$agent'"
  [[ $svc =~ ^(registry|metadata|data|client|api|webconsole)$ ]] ||
    die "inside: SERVICE is registry, metadata, data, client, api or webconsole"
  state=$(find_instance inside "$state") || exit 1
  [ -f "$state/containers" ] || die "inside: this instance simulates its containers (nothing runs inside)"
  show_inside "$state" "$agent" "$svc" || die "inside: no answer from the $svc container on $agent"
}

if [ "${1:-}" = add-disk ]; then
  shift
  add_disk "$@"
  exit 0
fi
if [ "${1:-}" = inside ]; then
  shift
  inside "$@"
  exit 0
fi

# ---------------------------------------------------------------- options
version=3.0.1
run_for=0
port=""
build=""
keep=0
simulate=0
while [ $# -gt 0 ]; do
  case "$1" in
    --version) version=${2:?--version needs a version}; shift 2 ;;
    --for) run_for=${2:?--for needs seconds}; shift 2 ;;
    --port) port=${2:?--port needs a port}; shift 2 ;;
    --build-dir) build=${2:?--build-dir needs a directory}; shift 2 ;;
    --keep|--keep-state) keep=1; shift ;;
    --simulate) simulate=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "local-cluster: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[[ $run_for =~ ^[0-9]+$ ]] || die "--for needs a number of seconds"
[[ $version =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || die "--version '$version' is not a Docker tag"
[ -z "$port" ] || [[ $port =~ ^[0-9]+$ ]] || die "--port needs a number"
[ "$(id -u)" -eq 0 ] || die "run as root (loop devices, mkfs, mount)"

us() { local t=${EPOCHREALTIME//[.,]/}; echo "${t#0}"; }
t_start=$(us)
since() { local d=$(( $(us) - ${1:-$t0} )); printf '%d.%d' $((d / 1000000)) $((d / 100000 % 10)); }
say() { echo "[+$(printf '%5s' "$(since)")s] $*"; }

# ---------------------------------------------------------- containers
# podman (and the debootstrapped Debian base) from tests/container/
# podman_lib.sh, then the stand-in quobyte-server image of this version
containers=0
podman_args="" podman_ulimits="" image="" runtime=""
standin=localhost/quobyte-server-standin
if [ "$simulate" -eq 1 ]; then
  echo "local-cluster: Docker tasks SIMULATED (--simulate): no container runs"
else
  echo "local-cluster: setting up podman and the stand-in quobyte-server image $standin:$version"
  penv="" sout=""
  if penv=$(bash "$top/tests/container/podman_lib.sh" env 2>&1) &&
     sout=$(bash "$top/tests/standin/build.sh" "$version" 2>&1); then
    while IFS= read -r line; do
      case $line in
        QM_PODMAN_ARGS=*) podman_args=${line#*=} ;;
        QM_PODMAN_ULIMITS=*) podman_ulimits=${line#*=} ;;
        QM_PODMAN_RUNTIME=*) runtime=${line#*=} ;;
      esac
    done <<<"$penv"
    containers=1
    image=$standin
    echo "local-cluster: Docker tasks run as REAL CONTAINERS (podman, runtime ${runtime:-?}) from $standin:$version," \
      "a STAND-IN for quobyte-server (answers health checks, reports what it sees, stores nothing)"
  else
    echo "local-cluster: WARNING: no container can run here, Docker tasks are SIMULATED:" \
      "$(printf '%s\n%s\n' "$penv" "$sout" | grep -v '^QM_' | grep . | tail -1)" >&2
  fi
fi

# ---------------------------------------------------------------- build
scripts/install-deps.sh
if [ -z "$build" ]; then
  build=$top/build-release
  echo "local-cluster: building $build (log: $build/build.log)"
  mkdir -p "$build"
  if ! { cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DQM_TESTS=OFF &&
         cmake --build "$build" -j"$(nproc)"; } >"$build/build.log" 2>&1; then
    tail -25 "$build/build.log" >&2
    die "the build failed (full log: $build/build.log)"
  fi
  echo "local-cluster: built in $(since "$t_start")s"
fi
build=$(cd "$build" && pwd)
for b in quobyte-coordinator quobyte-prober; do
  [ -x "$build/$b" ] || die "$build/$b is missing (build first, or give --build-dir)"
done

# ---------------------------------------------------------------- state
free_port() { # free_port PREFERRED -> PREFERRED if free on 127.0.0.1, else any free port
  python3 - "$1" <<'EOF'
import socket, sys
for p in (int(sys.argv[1]), 0):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        continue
    print(s.getsockname()[1])
    break
EOF
}

emu_pid="" coord_pid="" view_pid=""

alive() { # a child that exited stays a zombie until reaped: look at its state
  local s
  s=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) || return 1
  [ "${s%% *}" != Z ]
}

stop_pid() { # stop_pid PID NAME GRACE: SIGTERM, SIGKILL after GRACE seconds, reap
  local pid=$1 name=$2 i
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null
  for ((i = 0; i < $3 * 10; i++)); do alive "$pid" || break; sleep 0.1; done
  [ "$i" -ge 30 ] && echo "local-cluster: $name took $((i / 10)).$((i % 10)) s to stop" >&2
  if alive "$pid"; then
    echo "local-cluster: $name did not stop in $3 s; killing it" >&2
    kill -KILL "$pid" 2>/dev/null
  fi
  wait "$pid" 2>/dev/null
  return 0
}

cleanup() {
  local rc=$? left=0 t_stop
  t_stop=$(us)
  set +e
  trap '' INT TERM HUP PIPE
  echo
  echo "local-cluster: stopping (viewer, coordinator, emulator and its tasks), then unmounting and detaching"
  flock -w 30 9 2>/dev/null
  : > "$state/stopping"
  stop_pid "$view_pid" viewer 3
  stop_pid "$coord_pid" coordinator 10
  stop_pid "$emu_pid" emulator 15
  # the emulator removes its containers; should it have died, they are
  # found by its label
  if [ "$containers" -eq 1 ] && [ -n "$emu_pid" ]; then
    # shellcheck disable=SC2086  # global options, none with a blank
    podman $podman_args rm -f -t 0 --filter "label=quobyte-mesos.emulator.pid=$emu_pid" >/dev/null 2>&1
    # shellcheck disable=SC2086
    left_c=$(podman $podman_args ps -a -q --filter "label=quobyte-mesos.emulator.pid=$emu_pid" 2>/dev/null)
    [ -z "$left_c" ] || { echo "local-cluster: CONTAINERS LEFT: $left_c" >&2; left=1; }
  fi
  release_all "$state" || left=1
  rm -f "$state"/disks/*.img
  [ "$left" -eq 0 ] && echo "local-cluster: stopped in $(since "$t_stop")s; nothing left mounted or attached"
  # a failure: start-up or a component failed, or everything never ran
  case $rc in 0|129|130|141|143) ;; *) failed=1 ;; esac
  [ -s "$state/ready" ] || failed=1
  if [ "$failed" -eq 0 ] && [ "$keep" -eq 0 ] && [ "$left" -eq 0 ]; then
    rm -rf "$state"
  else
    echo "local-cluster: logs kept in $logs (state directory $state)"
  fi
  exit "$rc"
}
if [ -n "$port" ]; then
  [ "$(free_port "$port")" = "$port" ] || die "--port $port: the port is taken"
else
  port=$(free_port 7000)
fi
[ -n "$port" ] || die "no free port for the REST API"
bus_port=$(free_port $((port + 1)))
[ "$bus_port" != "$port" ] || bus_port=$(free_port 0)
state=$(mktemp -d /var/tmp/quobyte-local.XXXXXX)
logs=$state/logs
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
# stdout closed under us (| head): clean up all the same
trap 'exit 141' PIPE
chmod 755 "$state"
t0=$(us)
mkdir -p "$logs" "$state/disks" "$state/agents" "$state/coordinator" "$state/emulator"
echo $$ > "$state/pid"
exec 9>>"$state/lock"

echo "local-cluster: state directory $state (logs in $logs)"

# ---------------------------------------------------------------- disks
say "creating loop-device disks"
for a in agent1 agent2 agent3; do
  mkdir -p "$state/agents/$a"
  # a shared mount: containers bind it rshared, so a disk mounted below it
  # later appears inside the running ones (and Docker refuses rshared on a
  # private source)
  if [ "$containers" -eq 1 ]; then
    mount --bind "$state/agents/$a" "$state/agents/$a"
    mount --make-shared "$state/agents/$a"
  fi
done
[ "$containers" -eq 0 ] || : > "$state/containers"
disk() { # disk AGENT NAME FS SIZE TYPES SERIAL [bootstrap]
  mk_disk "$state/disks/$1-$2.img" "$state/agents/$1/$2" "$3" "$4" "$5" "$6" "${7:-}"
  printf '  %-6s  %-8s  %-4s  %-4s  %-11s  %-18s  %s\n' "$1" "$2" "$3" "$4" \
    "$(losetup -n -j "$state/disks/$1-$2.img" -O NAME)" "$5${7:++bootstrap}" "$state/agents/$1/$2"
}
disk agent1 registry ext4 64M registry LOCAL-REG-1 bootstrap
disk agent2 metadata ext4 64M metadata LOCAL-MD-1
disk agent2 data xfs 320M data LOCAL-DATA-1
disk agent3 data ext4 128M data LOCAL-DATA-2
disk agent3 spare ext4 64M none LOCAL-SPARE-1

# ---------------------------------------------------------------- emulator
# Each agent its own ports: the three share this machine, and a real
# container binds its ports on it. agent1 offers Quobyte's own (7860-7873,
# 8080), the others a range each (the coordinator takes the lowest free).
agent_ports=("[7800-8999]" "[21000-21199]" "[21200-21399]")
{
  echo '{"agents": ['
  for i in 1 2 3; do
    printf '  {"hostname": "agent%d", "attributes": "quobyte_device_roots:%s", "resources": "cpus:8;mem:32768;disk:102400;ports:%s"}%s\n' \
      "$i" "$state/agents/agent$i" "${agent_ports[$((i - 1))]}" "$([ $i -lt 3 ] && echo ,)"
  done
  echo ']}'
} > "$state/agents.json"
emu_docker=()
if [ "$containers" -eq 1 ]; then
  emu_docker=(--docker-runtime podman --podman-args "$podman_args" --docker-ulimits "$podman_ulimits")
fi
say "starting the Mesos master emulator (3 agents; Docker tasks $([ "$containers" -eq 1 ] && echo "as real containers" || echo simulated))"
# own sessions: a Ctrl-C on the terminal reaches only this script, which
# then stops the pieces in order
setsid python3 "$top/tests/emulator/mesos_emulator.py" --listen 127.0.0.1:0 \
  --agent-spec "$state/agents.json" --heartbeat-interval 5 --health-time-scale 0.05 \
  --journal "$state/emulator/journal.jsonl" --work-dir "$state/emulator" \
  --ready-file "$state/emulator.ready" "${emu_docker[@]}" >"$logs/emulator.out" 2>"$logs/emulator.log" 9>&- &
emu_pid=$!
for _ in $(seq 100); do
  [ -s "$state/emulator.ready" ] && break
  alive "$emu_pid" || { tail -20 "$logs/emulator.log" >&2; die "the emulator exited (log: $logs/emulator.log)"; }
  sleep 0.1
done
[ -s "$state/emulator.ready" ] || die "the emulator did not get ready in 10 s (log: $logs/emulator.log)"
master=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["listen"][0])' "$state/emulator.ready")

# ---------------------------------------------------------------- coordinator
# an API token, as on a real cluster (containers/README.md): calls that
# change something carry it; the file is 0600
token_file=$state/api.tokens
( umask 077; printf 'local admin %s\n' "$(head -c 48 /dev/urandom | base64 | tr -d '=+/\n')" > "$token_file" )
token=$(awk '{ print $3 }' "$token_file")
rest=http://127.0.0.1:$port
bus=tcp://127.0.0.1:$bus_port
say "starting quobyte-coordinator (REST $rest, bus $bus)"
setsid "$build/quobyte-coordinator" \
  --master "http://$master" \
  --state-dir "$state/coordinator" \
  --http-listen "127.0.0.1:$port" \
  --bus-listen "$bus" --bus-advertise "$bus" \
  --prober-command "$build/quobyte-prober" \
  --api-token-file "$token_file" \
  ${image:+--image "$image"} \
  --revive-interval 3s --backoff-base 2s --removal-grace 30s \
  >"$logs/coordinator.out" 2>"$logs/coordinator.log" 9>&- &
coord_pid=$!
for _ in $(seq 150); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' "$rest/v1/health" 2>/dev/null)" = 200 ] && break
  alive "$coord_pid" || { tail -20 "$logs/coordinator.log" >&2; die "the coordinator exited (log: $logs/coordinator.log)"; }
  sleep 0.2
done
[ "$(curl -s -o /dev/null -w '%{http_code}' "$rest/v1/health")" = 200 ] ||
  die "the coordinator did not subscribe in 30 s (log: $logs/coordinator.log)"
say "coordinator subscribed to the emulator at http://$master"

answer=$(curl -s -w ' HTTP %{http_code}' -H "Authorization: Bearer $token" -XPOST \
  --data-binary "$version" "$rest/v1/version") || true
case $answer in *"HTTP 200") ;; *) die "POST /v1/version $version: $answer" ;; esac
t_version=$(us)
say "target version $version set (POST $rest/v1/version)"

cat > "$state/hints" <<EOF

Try, in another terminal (the lines above continue as things change):
  mark the spare disk on agent3 as metadata -> a metadata service starts there:
    printf 'device.serial=LOCAL-SPARE-1\ndevice.type=METADATA_DEVICE\n' > $state/agents/agent3/spare/QUOBYTE_DEV_SETUP
  create, mount and mark one more disk (here: data on agent1) -> a data service starts there:
    $self add-disk agent1 data --state $state
EOF
if [ "$containers" -eq 1 ]; then
  cat >> "$state/hints" <<EOF
  a second data disk on agent2 -> it appears inside the running data container (no restart):
    $self add-disk agent2 data --state $state
  what the data container on agent2 sees (its disks, filesystems, free space):
    $self inside agent2 data --state $state
  the containers:   podman $podman_args ps --filter label=quobyte-mesos.emulator.pid=$emu_pid
EOF
fi
cat >> "$state/hints" <<EOF
  unmark a disk -> its service is killed after the removal grace (30 s):
    rm $state/agents/agent3/data/QUOBYTE_DEV_SETUP
  the whole state as JSON:   curl -s $rest/v1/state | python3 -m json.tool
  stop Quobyte (probers keep running; calls that change something carry the API token):
    curl -H "Authorization: Bearer \$(awk '{print \$3}' $token_file)" -XPOST -d '' $rest/v1/version
  what was changed, and by which token (admin only):
    curl -s -H "Authorization: Bearer \$(awk '{print \$3}' $token_file)" $rest/v1/audit | python3 -m json.tool
Ctrl-C stops everything and detaches the disks.
EOF

cat <<EOF

local-cluster: running
  REST API      $rest/v1/state   (GET/POST $rest/v1/version, $rest/metrics)
  API token     $token_file   (admin: send it as "Authorization: Bearer TOKEN")
  status page   $rest/
  Mesos master  http://$master   (emulator; control API http://$master/control/state)
  logs          $logs/coordinator.log, $logs/emulator.log
                prober output: $state/emulator/slaves/*/frameworks/*/executors/quobyte-prober.*/runs/*/stderr
                emulator journal: $state/emulator/journal.jsonl
EOF
[ "$run_for" -gt 0 ] && echo "  stopping by itself ${run_for}s after start-up (--for)"
echo
say "following $rest/v1/state (one line per change):"
setsid python3 -u "$top/examples/cluster_view.py" "$rest" --t0 "${t0:0:-6}.${t0: -6}" \
  --ready-file "$state/ready" --hints-file "$state/hints" 2>"$logs/viewer.log" 9>&- &
view_pid=$!

# ---------------------------------------------------------------- run
while :; do
  sleep 1 &
  wait $! || true
  alive "$coord_pid" || die "the coordinator exited (log: $logs/coordinator.log)"
  alive "$emu_pid" || die "the emulator exited (log: $logs/emulator.log)"
  if [ "$run_for" -gt 0 ] && [ $(( $(us) - t0 )) -ge $(( run_for * 1000000 )) ]; then
    break
  fi
done
if [ -s "$state/ready" ]; then
  ready_s=$(cat "$state/ready")
  echo
  say "--for $run_for elapsed; everything first ran at +${ready_s}s" \
    "(target version set at +$(( (t_version - t0) / 1000000 )).$(( (t_version - t0) / 100000 % 10 ))s)"
else
  echo
  say "--for $run_for elapsed and the cluster never had everything running; the problems:"
  python3 "$top/examples/cluster_view.py" "$rest" --once | sed 's/^/  /' || true
  exit 1
fi
exit 0
