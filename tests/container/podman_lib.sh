# Shared podman setup for everything in the tests that runs containers: the
# image build test, the stand-in Quobyte server image, the emulator's Docker
# runtime and the local cluster. Source it (bash), or run it:
#
#   bash tests/container/podman_lib.sh env     sets podman up, makes sure the
#                                              base image exists, prints
#                                              KEY=VALUE lines (below)
#
# No image registry is reachable from these machines, so the Debian 12 base
# is made here: debootstrap (minbase) from the host's own Debian mirror, then
# `podman import`. The base is cached twice: as an image in podman's store
# (reused while younger than QM_BASE_MAX_AGE_DAYS, default 30) and as a
# tarball under QM_CACHE_DIR (so a wiped store costs an import, not a
# debootstrap).
#
# Works on a bare CI machine: installs podman and debootstrap (and runc
# where crun cannot run containers, e.g. cgroups in hybrid mode) from
# Debian; cgroupfs cgroup manager and file events (no systemd or journald);
# the vfs storage driver in a store of its own where overlay is unusable
# (QM_PODMAN_VFS=1 forces it); ulimits at or below the caller's own (a
# runtime that may not raise them fails every container).
#
# After qm_podman_setup (0 = usable; else QM_PODMAN_ERR says why):
#   QM_P      array: podman plus its global options (store, runtime)
#   QM_ULIM   array: --ulimit options for `run` and `build`
#   QM_BASE   the base image reference
#   QM_BASE_HOW  how the base was obtained (reused, imported, debootstrapped)
#   QM_PODMAN_DRIVER, QM_PODMAN_RUNTIME
# `env` prints QM_PODMAN_ARGS (the global options, space separated: none
# contains a space), QM_PODMAN_ULIMITS, QM_BASE_IMAGE, QM_BASE_HOW,
# QM_PODMAN_DRIVER and QM_PODMAN_RUNTIME.

qm_lib_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# Bump when the way the base is made changes: cached bases (tarball and
# image) of another recipe are then not reused.
qm_base_recipe=2
qm_suite=bookworm

qm_install_pkgs() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
			missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	echo "  installing ${missing[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null 2>&1
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

qm_now() { date +%s.%N; }
qm_since() { awk -v a="$1" -v b="$(qm_now)" 'BEGIN { printf "%.1f", b - a }'; }

# Lowering a limit is always allowed; raising one needs CAP_SYS_RESOURCE,
# which a sandboxed root may lack, and podman's defaults (1048576 files)
# would then make every container fail to start.
qm_lim() {
	local h; h=$(ulimit -H "$1")
	[ "$h" = unlimited ] && h=$2
	[ "$h" -gt "$2" ] && h=$2
	echo "$h"
}

qm_base_age_ok() { # UNIX-SECONDS
	[ -n "$1" ] && [ $(( $(date +%s) - ${1%.*} )) -lt $(( ${QM_BASE_MAX_AGE_DAYS:-30} * 86400 )) ]
}

# Makes sure QM_BASE exists in the store (see the header).
qm_base_image() {
	local cache=${QM_CACHE_DIR:-/var/cache/quobyte-mesos}
	local tarball=$cache/debian-$qm_suite-minbase-r$qm_base_recipe.tar.gz
	local log root mirror
	if "${QM_P[@]}" image exists "$QM_BASE" &&
		qm_base_age_ok "$("${QM_P[@]}" image inspect --format '{{.Created.Unix}}' "$QM_BASE" 2>/dev/null)"; then
		QM_BASE_HOW="reused from podman's store"
		return 0
	fi
	log=$(mktemp /tmp/qm-podman-base.XXXXXX.log)
	if ! { [ -f "$tarball" ] && qm_base_age_ok "$(stat -c %Y "$tarball")"; }; then
		mirror=$(python3 "$qm_lib_here/apt_mirror.py" mirror --suite "$qm_suite") || {
			QM_PODMAN_ERR="no Debian $qm_suite mirror in /etc/apt"; rm -f "$log"; return 1; }
		mkdir -p "$cache"
		root=$(mktemp -d "$cache/rootfs.XXXXXX")
		echo "  debootstrap --variant=minbase $qm_suite from $mirror" >&2
		if ! debootstrap --variant=minbase "$qm_suite" "$root" "$mirror" >"$log" 2>&1; then
			QM_PODMAN_ERR="debootstrap failed: $(tail -3 "$log")"
			rm -rf "$root" "$log"; return 1
		fi
		# the host's mirrors, updates and security included, keyed by
		# Debian's own keyring (in the image already)
		python3 "$qm_lib_here/apt_mirror.py" sources --suite "$qm_suite" >"$root/etc/apt/sources.list"
		rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
		# mktemp -d made it 0700: as the image's "/", that locks every
		# non-root user out (overlay hides this, vfs does not)
		chmod 0755 "$root"
		tar --numeric-owner --xattrs -C "$root" -czf "$tarball.tmp" . &&
			mv "$tarball.tmp" "$tarball"
		rm -rf "$root"
		QM_BASE_HOW="debootstrapped"
	else
		QM_BASE_HOW="imported from $tarball"
	fi
	"${QM_P[@]}" rmi -f "$QM_BASE" >/dev/null 2>&1
	if ! "${QM_P[@]}" import --change 'CMD ["/bin/bash"]' "$tarball" "$QM_BASE" >"$log" 2>&1; then
		QM_PODMAN_ERR="podman import failed: $(tail -3 "$log")"; rm -f "$log"; return 1
	fi
	rm -f "$log"
}

# One set-up at a time (the suite's two lanes may both ask: apt-get and the
# base image import must not race); the lock goes with the function.
qm_podman_setup() {
	local lockfd rc
	exec {lockfd}>"${TMPDIR:-/tmp}/qm-podman-setup.lock"
	flock "$lockfd"
	qm_podman_setup_locked; rc=$?
	exec {lockfd}>&-
	return $rc
}

qm_podman_setup_locked() {
	local log first
	QM_PODMAN_ERR=
	if [ "$(id -u)" -ne 0 ]; then
		QM_PODMAN_ERR="needs root (podman, debootstrap)"; return 1
	fi
	if ! qm_install_pkgs podman debootstrap; then
		QM_PODMAN_ERR="apt-get install podman debootstrap failed"; return 1
	fi
	QM_BASE=${QM_BASE_IMAGE:-localhost/quobyte-mesos/debian-base:$qm_suite-r$qm_base_recipe}
	# cgroupfs + file events: no systemd or journald needed. The storage
	# driver is podman's own choice (overlay) when that works, else vfs in a
	# store of its own (one store cannot switch drivers).
	QM_P=(podman --cgroup-manager=cgroupfs --events-backend=file)
	log=$(mktemp /tmp/qm-podman.XXXXXX.log)
	if [ "${QM_PODMAN_VFS:-0}" = 1 ] || ! "${QM_P[@]}" info >/dev/null 2>&1; then
		QM_P+=(--storage-driver=vfs --root=/var/lib/quobyte-mesos/containers-vfs)
		if ! "${QM_P[@]}" info >"$log" 2>&1; then
			QM_PODMAN_ERR="podman does not work: $(tail -3 "$log")"; rm -f "$log"; return 1
		fi
	fi
	QM_PODMAN_DRIVER=$("${QM_P[@]}" info --format '{{.Store.GraphDriverName}}' 2>/dev/null)
	QM_ULIM=(--ulimit "nofile=$(qm_lim -n 4096):$(qm_lim -n 4096)"
		--ulimit "nproc=$(qm_lim -u 4096):$(qm_lim -u 4096)")
	qm_base_image || { rm -f "$log"; return 1; }
	# crun refuses hosts whose cgroups are in hybrid mode; runc copes. Try
	# the default runtime first, then runc.
	if ! "${QM_P[@]}" run --rm --network=none "${QM_ULIM[@]}" "$QM_BASE" /bin/true >"$log" 2>&1; then
		first=$(tail -1 "$log")
		if ! qm_install_pkgs runc ||
			! "${QM_P[@]}" --runtime=runc run --rm --network=none "${QM_ULIM[@]}" "$QM_BASE" /bin/true >"$log" 2>&1; then
			QM_PODMAN_ERR="cannot run a container: $first / runc: $(tail -1 "$log")"
			rm -f "$log"; return 1
		fi
		QM_P+=(--runtime=runc)
	fi
	QM_PODMAN_RUNTIME=$("${QM_P[@]}" info --format '{{.Host.OCIRuntime.Name}}' 2>/dev/null)
	rm -f "$log"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	case "${1:-}" in
	env)
		set -uo pipefail
		if ! qm_podman_setup; then
			echo "podman_lib: $QM_PODMAN_ERR" >&2; exit 1
		fi
		echo "QM_PODMAN_ARGS=${QM_P[*]:1}"
		echo "QM_PODMAN_ULIMITS=${QM_ULIM[*]}"
		echo "QM_BASE_IMAGE=$QM_BASE"
		echo "QM_BASE_HOW=$QM_BASE_HOW"
		echo "QM_PODMAN_DRIVER=$QM_PODMAN_DRIVER"
		echo "QM_PODMAN_RUNTIME=$QM_PODMAN_RUNTIME"
		;;
	*) echo "usage: $0 env" >&2; exit 2 ;;
	esac
fi
