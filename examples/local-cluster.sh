#!/usr/bin/env bash
# The main job on one machine (run as root on Debian 12):
#   ./examples/local-cluster.sh [--for SECONDS] [--keep-state]
#
# Today (before the coordinator lands) this is the prober demo: it creates
# three loop-device disks (ext4, ext4, xfs), mounts them under a private
# root, marks them registry / metadata / data, starts a bus receiver in the
# coordinator's place and a quobyte-prober reporting to it, and prints the
# node's inventory and every change live. Mark, unmark or unmount a disk in
# another terminal and watch the change arrive (commands are printed).
# Ctrl-C (or --for SECONDS) stops everything and leaves nothing mounted or
# attached.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)
run_for=0
while [ $# -gt 0 ]; do
  case "$1" in
    --for) run_for=${2:?--for needs seconds}; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "local-cluster: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" -eq 0 ] || { echo "local-cluster: run as root (loop devices, mkfs, mount)" >&2; exit 1; }

scripts/install-deps.sh
build=$top/build-release
cmake -S "$top" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DQM_TESTS=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null

state=$(mktemp -d /var/tmp/quobyte-local.XXXXXX)
root=$state/node1
mkdir -p "$root"
loops=()
mounts=()
pids=()
cleanup() {
  set +e
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  for ((i=${#mounts[@]}-1; i>=0; i--)); do
    umount "${mounts[i]}" 2>/dev/null || umount -l "${mounts[i]}" 2>/dev/null
  done
  for l in "${loops[@]}"; do losetup -d "$l" 2>/dev/null; done
  rm -rf "$state"
  echo "local-cluster: stopped; nothing left mounted or attached"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

disk() { # name fstype size marker-type serial
  local name=$1 fs=$2 size=$3 type=$4 serial=$5 img dev mnt
  img=$state/$name.img; mnt=$root/$name
  truncate -s "$size" "$img"
  dev=$(losetup -f --show "$img"); loops+=("$dev")
  if [ "$fs" = xfs ]; then mkfs.xfs -q -f "$dev"; else mkfs.ext4 -q -F "$dev"; fi
  mkdir -p "$mnt"; mount "$dev" "$mnt"; mounts+=("$mnt")
  printf '# Quobyte device identifier file\ndevice.serial=%s\ndevice.model=local-loop\ndevice.type=%s\n' \
    "$serial" "$type" > "$mnt/QUOBYTE_DEV_SETUP"
  echo "  $mnt  ($dev, $fs, $type)"
}
echo "local-cluster: creating disks under $root"
disk registry ext4 64M DIR_DEVICE "LOCAL-REG-1"
printf 'device.bootstrap=true\n' >> "$root/registry/QUOBYTE_DEV_SETUP"
disk metadata ext4 64M METADATA_DEVICE "LOCAL-MD-1"
disk data xfs 320M DATA_DEVICE "LOCAL-DATA-1"
mkdir -p "$root/spare"

head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$state/secret"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
url=tcp://127.0.0.1:$port
"$build/bus_receiver" --derive node1 --secret-file "$state/secret" > "$state/node1.cred"

"$build/bus_receiver" --listen "$url" --secret-file "$state/secret" \
  > "$state/bus.jsonl" 2> "$state/receiver.log" &
pids+=($!)
QUOBYTE_PROBER_CREDENTIAL_FILE=$state/node1.cred \
  "$build/quobyte-prober" --coordinator "$url" --agent-id node1 \
  --hostname "$(hostname)" --device-roots "$root" 2> "$state/prober.log" &
pids+=($!)

cat <<MSG
local-cluster: prober (pid ${pids[1]}) reports node1 to $url
  logs: $state/prober.log  bus messages: $state/bus.jsonl
Try, in another terminal:
  sed -i 's/DATA_DEVICE/METADATA_DEVICE/' $root/data/QUOBYTE_DEV_SETUP   # retype a disk
  rm $root/metadata/QUOBYTE_DEV_SETUP                                    # unmark
  printf 'device.type=DATA_DEVICE\n' > $root/spare/QUOBYTE_DEV_SETUP     # not a mount: ignored
  umount $root/registry                                                  # disk goes away
Ctrl-C stops and cleans up.
MSG
python3 "$top/examples/inventory_view.py" "$state/bus.jsonl" &
pids+=($!)
if [ "$run_for" -gt 0 ]; then sleep "$run_for"; else wait "${pids[1]}"; fi
