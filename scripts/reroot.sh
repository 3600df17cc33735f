#!/bin/sh
# Run by scripts/test.sh inside a new mount namespace when "/" is not a
# mount point (a plain chroot): gives the namespace what a machine has --
# a root that is a mount (bind of the same tree) and the host's cgroup
# mounts, rebuilt from PID 1's mount table (container runtimes need them) --
# then runs the suite again there. Never used on a normal machine.
#   reroot.sh PROJECT_DIR [test.sh arguments...]
set -eu
top=$1; shift
if [ -d /sys/fs/cgroup ] && ! mountpoint -q /sys/fs/cgroup && [ -r /proc/1/mountinfo ]; then
  # fields: id parent dev root mountpoint opts [optional...] - fstype source superopts
  awk '{ for (i = 7; $i != "-"; i++) ; print $5, $(i+1), $(i+3) }' /proc/1/mountinfo |
  while read -r mp fstype opts; do
    case "$mp" in /sys/fs/cgroup|/sys/fs/cgroup/*) ;; *) continue ;; esac
    mkdir -p "$mp" 2>/dev/null || true
    case "$fstype" in
      tmpfs) mount -t tmpfs -o mode=755 cgroup_root "$mp" ;;
      cgroup2) mount -t cgroup2 cgroup2 "$mp" ;;
      cgroup) mount -t cgroup -o "$(echo "$opts" | sed 's/^r[wo],//')" cgroup "$mp" ;;
    esac || echo "reroot: could not mount $fstype at $mp" >&2
  done
fi
mkdir -p /run/qm-root
mount --rbind / /run/qm-root
exec chroot /run/qm-root sh -c 'cd "$0" && exec ./scripts/test.sh "$@"' "$top" "$@"
