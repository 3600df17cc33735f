#!/usr/bin/env bash
# Builds containers/Dockerfile for real and checks the image.
#
#   tests/container/build_test.sh
#
# No image registry is reachable from these machines, so the Debian 12 base
# is made here: debootstrap (minbase) from the host's own Debian mirror, then
# `podman import`. The base is cached twice: as an image in podman's store
# (reused while younger than QM_BASE_MAX_AGE_DAYS, default 30) and as a
# tarball under /var/cache/quobyte-mesos (so a wiped store costs an import,
# not a debootstrap). Package versions stay current anyway: both stages of
# the Dockerfile run apt-get update.
#
# The image is built with `podman build --pull=never` and BASE_IMAGE set to
# that base, then checked: image configuration (entry point, non-root user,
# exposed ports = the Marathon example's ports), the files (both binaries and
# the copy served to the Mesos fetcher, identical), no build tools in the
# runtime stage, and -- by running containers -- that every shared library
# resolves, that the prober and the coordinator run, and as whom.
#
# Needs root. Installs podman and debootstrap (and runc where crun cannot
# run containers, e.g. on hosts with cgroups in hybrid mode) from Debian if
# missing. Works on a bare CI machine: cgroupfs cgroup manager, file events
# backend, the vfs storage driver where overlay is unusable, host network
# for the build (RUN steps reach the mirror through the host), and ulimits
# at or below the caller's own (a runtime that may not raise them fails).
#
# Environment: QM_IMAGE (default localhost/quobyte-mesos:test),
# QM_BASE_IMAGE (default localhost/quobyte-mesos/debian-base:bookworm-r2),
# QM_CACHE_DIR (default /var/cache/quobyte-mesos), QM_BASE_MAX_AGE_DAYS,
# QM_PODMAN_VFS=1 forces the vfs store (what happens where overlay fails),
# QM_KEEP_IMAGE=1 keeps the built image (default: removed at the end; the
# layer cache stays), QM_CONTAINER_LOG (build log, default a temp file).
#
# Prints one line per check and ends with "container: N passed, N failed".
set -uo pipefail

top=$(cd "$(dirname "$0")/../.." && pwd)
here=$top/tests/container
image=${QM_IMAGE:-localhost/quobyte-mesos:test}
log=${QM_CONTAINER_LOG:-$(mktemp /tmp/qm-container-build.XXXXXX.log)}

passed=0; failed=0
ok()   { passed=$((passed + 1)); echo "  ok   $1"; }
bad()  { failed=$((failed + 1)); echo "  FAIL $1${2:+: $2}"; }
check() { # check NAME CONDITION-COMMAND... (reason on failure: the output)
	local name=$1; shift
	local out
	if out=$("$@" 2>&1); then ok "$name"; else bad "$name" "$(printf '%s' "$out" | tail -5)"; fi
}
finish() {
	echo "container: $passed passed, $failed failed"
	[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
	exit $?
}
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

t_start=$(now)

if [ "$(id -u)" -ne 0 ]; then
	bad prerequisites "needs root (podman build, debootstrap)"; finish
fi

# ------------------------------------------- podman and the base image ---
# tests/container/podman_lib.sh: packages, store, runtime, ulimits, and the
# debootstrapped Debian base (cached in the store and as a tarball)
. "$here/podman_lib.sh"
t_base=$(now)
if ! qm_podman_setup; then
	bad prerequisites "$QM_PODMAN_ERR"; finish
fi
P=("${QM_P[@]}"); R=(); ULIM=("${QM_ULIM[@]}"); base=$QM_BASE
ok "base_image ($base, $QM_BASE_HOW, $(since "$t_base") s)"
echo "  podman: storage $QM_PODMAN_DRIVER, runtime ${QM_PODMAN_RUNTIME:-?}, ${ULIM[*]}"

# --------------------------------------------------------------- build ---
t_build=$(now)
if ! "${P[@]}" "${R[@]}" build --pull=never --network=host "${ULIM[@]}" \
	--build-arg "BASE_IMAGE=$base" -f "$top/containers/Dockerfile" \
	-t "$image" "$top" >"$log" 2>&1; then
	tail -40 "$log"
	bad image_build "podman build failed (log: $log)"; finish
fi
ok "image_build ($(since "$t_build") s)"

# ------------------------------------------------------ image metadata ---
inspect() { "${P[@]}" image inspect --format "$1" "$image"; }
entry=$(inspect '{{json .Config.Entrypoint}}')
check entrypoint_is_coordinator test "$entry" = '["/usr/local/bin/quobyte-coordinator"]'

user=$(inspect '{{.Config.User}}')
uid=${user%%:*}
user_non_root() {
	[ -n "$uid" ] && [ "$uid" != 0 ] && [ "$uid" != root ] ||
		{ echo "image user '${user:-}' is root"; return 1; }
}
check config_user_non_root user_non_root

exposed=$(inspect '{{range $p, $_ := .Config.ExposedPorts}}{{$p}} {{end}}' | tr ' ' '\n' | sed -n 's,/tcp$,,p' | sort -n | xargs)
declared=$(python3 -c '
import json, sys
app = json.load(open(sys.argv[1]))
print(" ".join(str(p["port"]) for p in sorted(app["portDefinitions"], key=lambda p: p["port"])))
' "$top/examples/marathon.json" 2>&1)
check "exposed_ports_match_marathon ($exposed)" test -n "$exposed" -a "$exposed" = "$declared"

# ------------------------------------------------------------ the files ---
mnt=$("${P[@]}" image mount "$image" 2>"$log")
if [ -z "$mnt" ] || [ ! -d "$mnt" ]; then
	bad image_mount "$(tail -3 "$log")"
else
	files_ok() {
		local f d
		# the non-root coordinator must reach its binary and the copy
		for d in / /usr /usr/local /usr/local/bin /usr/share/quobyte-mesos; do
			[ $(( 0$(stat -c %a "$mnt$d") & 01 )) -eq 1 ] ||
				{ echo "$d mode $(stat -c %a "$mnt$d")"; return 1; }
		done
		for f in /usr/local/bin/quobyte-coordinator /usr/local/bin/quobyte-prober \
			/usr/share/quobyte-mesos/quobyte-prober; do
			[ -f "$mnt$f" ] || { echo "$f missing"; return 1; }
			# world-readable and executable: the coordinator (uid $uid)
			# serves the copy, Mesos runs it
			[ $(( 0$(stat -c %a "$mnt$f") & 05 )) -eq 5 ] ||
				{ echo "$f mode $(stat -c %a "$mnt$f")"; return 1; }
		done
		cmp "$mnt/usr/local/bin/quobyte-prober" "$mnt/usr/share/quobyte-mesos/quobyte-prober"
	}
	check binaries_present files_ok
	no_build_tools() {
		local dev
		[ ! -e "$mnt/usr/bin/gcc" ] && [ ! -e "$mnt/usr/bin/cmake" ] || { echo "compiler in runtime image"; return 1; }
		dev=$(sed -n 's/^Package: \(.*-dev\)$/\1/p' "$mnt/var/lib/dpkg/status" | xargs)
		[ -z "$dev" ] || { echo "-dev packages: $dev"; return 1; }
		[ ! -e "$mnt/src" ] && [ ! -e "$mnt/build" ] || { echo "sources or build tree in runtime image"; return 1; }
	}
	check runtime_stage_has_no_build_tools no_build_tools
	state_dir_owned() {
		[ "$(stat -c %u "$mnt/var/lib/quobyte-mesos")" = "$uid" ] ||
			{ echo "/var/lib/quobyte-mesos owned by uid $(stat -c %u "$mnt/var/lib/quobyte-mesos"), image user '${user:-}'"; return 1; }
	}
	check state_dir_owned_by_coordinator_user state_dir_owned
	"${P[@]}" image unmount "$image" >/dev/null 2>&1
fi

# ------------------------------------------------------ running it ---
RUN=("${P[@]}" "${R[@]}" run --rm --network=none "${ULIM[@]}")

libs_resolve() {
	local out
	out=$("${RUN[@]}" --entrypoint /usr/bin/ldd "$image" \
		/usr/local/bin/quobyte-coordinator /usr/local/bin/quobyte-prober 2>&1) ||
		{ echo "$out"; return 1; }
	! printf '%s\n' "$out" | grep -i 'not found'
}
check shared_libraries_resolve libs_resolve

prober_version() {
	local out
	# as a Docker prober task runs it: entry point overridden, root
	out=$("${RUN[@]}" --user 0 --entrypoint /usr/local/bin/quobyte-prober "$image" --version 2>&1) ||
		{ echo "$out"; return 1; }
	printf '%s\n' "$out" | grep -q '^quobyte-prober [0-9]' || { echo "unexpected: $out"; return 1; }
}
check prober_runs_version prober_version

prober_once() {
	local out
	# a real scan inside the container: libudev, libblkid and mountinfo
	# all work (the container has no marked device, so none is listed)
	out=$("${RUN[@]}" --user 0 --entrypoint /usr/local/bin/quobyte-prober "$image" \
		--once --json --udev-source none 2>&1) || { echo "$out"; return 1; }
	printf '%s\n' "$out" | grep -q '"devices"' || { echo "no inventory: $out"; return 1; }
}
check prober_runs_scan prober_once

coord_help() {
	local out v
	out=$("${RUN[@]}" "$image" --help 2>&1) || { echo "$out"; return 1; }
	printf '%s\n' "$out" | grep -q '^usage: quobyte-coordinator' || { echo "unexpected: $out" | head -3; return 1; }
	# every QUOBYTE_MESOS_ variable the image sets is one the binary knows
	for v in $(inspect '{{range .Config.Env}}{{println .}}{{end}}' | sed -n 's/^\(QUOBYTE_MESOS_[A-Z_]*\)=.*/\1/p'); do
		printf '%s\n' "$out" | grep -q "env: $v\b" || { echo "image sets $v, --help does not know it"; return 1; }
	done
}
check coordinator_runs_help coord_help

coord_check_config() {
	local out dir rc
	# the defaults listen on 0.0.0.0: without a token the image refuses
	out=$("${RUN[@]}" -e QUOBYTE_MESOS_MASTER=http://127.0.0.1:5050 "$image" --check-config 2>&1)
	rc=$?
	[ "$rc" -eq 2 ] && printf '%s\n' "$out" | grep -q -- '--api-token-file' ||
		{ echo "defaults without a token: exit $rc, $out"; return 1; }
	# with a token file as containers/README.md makes it (uid 10001, 0600)
	dir=$(mktemp -d); chmod 0755 "$dir"
	printf 'ops admin %s\n' "$(head -c 32 /dev/urandom | base64 | tr -d '=+/')" >"$dir/api.tokens"
	chown 10001:10001 "$dir/api.tokens"; chmod 0600 "$dir/api.tokens"
	out=$("${RUN[@]}" -v "$dir:/etc/quobyte-mesos:ro" -e QUOBYTE_MESOS_MASTER=http://127.0.0.1:5050 \
		-e QUOBYTE_MESOS_API_TOKEN_FILE=/etc/quobyte-mesos/api.tokens "$image" --check-config 2>&1)
	rc=$?
	rm -rf "$dir"
	[ "$rc" -eq 0 ] || { echo "$out"; return 1; }
	printf '%s\n' "$out" | grep -q 'configuration ok' || { echo "unexpected: $out"; return 1; }
}
check coordinator_check_config_defaults_need_a_token coord_check_config

coord_user() {
	local out
	# the entry point's process identity, as Marathon starts it
	out=$("${RUN[@]}" --entrypoint /usr/bin/id "$image" -u 2>&1) || { echo "$out"; return 1; }
	[ "$out" != 0 ] || { echo "coordinator would run as root"; return 1; }
	"${RUN[@]}" --entrypoint /usr/bin/test "$image" -w /var/lib/quobyte-mesos ||
		{ echo "uid $out cannot write /var/lib/quobyte-mesos"; return 1; }
}
check coordinator_runs_non_root coord_user

# ------------------------------------------------------------ cleanup ---
# The tagged test image goes; the layer cache (apt layers of both stages)
# stays for the next run. Dangling images older than three days (layers of
# earlier source trees) are pruned so repeated runs do not fill the disk.
[ "${QM_KEEP_IMAGE:-0}" = 1 ] || "${P[@]}" rmi "$image" >/dev/null 2>&1
"${P[@]}" image prune -f --filter until=72h >/dev/null 2>&1

echo "  total $(since "$t_start") s"
[ -n "${QM_CONTAINER_LOG:-}" ] || rm -f "$log"
finish
