#!/usr/bin/env bash
# Builds the quobyte-server STAND-IN image (tests only, not Quobyte):
#
#   tests/standin/build.sh [VERSION...]        default: 2.0
#
# For each VERSION, two images:
#   localhost/quobyte-server-standin:VERSION            healthy
#   localhost/quobyte-server-standin:VERSION-unhealthy  GET / answers 503
# QM_STANDIN_IMAGE overrides the repository name. The coordinator launches
# services as <image>:<version>, so point its image setting at the
# repository and use these versions (an upgrade test: build two versions).
#
# Podman comes from tests/container/podman_lib.sh (store, runtime, ulimits,
# the debootstrapped Debian base). The binary is compiled by compile.sh into
# a temporary build context; nothing is written to the source tree.
#
# Re-runs are fast: every image carries the label qm.standin.hash, a hash of
# the sources (.c, Containerfile, compile.sh) and the base image's id; an
# image whose label matches is kept, without compiling or building. A
# rebuilt tag's previous image is removed (unless a container still uses it).
#
# Prints one line per image; exits non-zero with one line on failure.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
repo=${QM_STANDIN_IMAGE:-localhost/quobyte-server-standin}

die() { echo "standin build: $*" >&2; exit 1; }

versions=("$@")
[ ${#versions[@]} -gt 0 ] || versions=(2.0)
for v in "${versions[@]}"; do
	# a Docker tag: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}; "-unhealthy" is appended
	[[ $v =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,117}$ ]] || die "'$v' is not a usable image tag"
done

# shellcheck source=tests/container/podman_lib.sh
. "$top/tests/container/podman_lib.sh"
qm_podman_setup || die "podman: $QM_PODMAN_ERR"

base_id=$("${QM_P[@]}" image inspect --format '{{.Id}}' "$QM_BASE" 2>/dev/null) ||
	die "cannot inspect the base image $QM_BASE"
hash=$({ cat "$here/quobyte_server_standin.c" "$here/Containerfile" "$here/compile.sh"
	echo "base=$base_id"; } | sha256sum | cut -c1-16)

ctx=
cleanup() { [ -n "$ctx" ] && rm -rf "$ctx"; }
trap cleanup EXIT

for v in "${versions[@]}"; do
	for variant in healthy unhealthy; do
		tag=$v; unhealthy=0
		[ $variant = unhealthy ] && { tag=$v-unhealthy; unhealthy=1; }
		ref=$repo:$tag
		t0=$(qm_now)
		old=$("${QM_P[@]}" image inspect --format '{{.Id}} {{index .Labels "qm.standin.hash"}}' "$ref" 2>/dev/null)
		if [ "${old#* }" = "$hash" ]; then
			echo "standin: $ref reused (hash $hash, id ${old:0:12})"
			continue
		fi
		if [ -z "$ctx" ]; then
			ctx=$(mktemp -d /tmp/qm-standin-ctx.XXXXXX)
			err=$("$here/compile.sh" "$ctx" 2>&1 >/dev/null) || die "${err#compile.sh: }"
			cp "$here/Containerfile" "$ctx/Containerfile"
		fi
		log=$ctx/build-$tag.log
		# --no-cache: podman 4.3's layer cache ignores build args (the
		# -unhealthy build reused the healthy image, ENV and all), and
		# there is nothing worth caching in a COPY of one file anyway
		if ! "${QM_P[@]}" build --pull=never --no-cache "${QM_ULIM[@]}" \
			--build-arg "BASE_IMAGE=$QM_BASE" --build-arg "VERSION=$v" \
			--build-arg "UNHEALTHY=$unhealthy" \
			--label "qm.standin.hash=$hash" \
			-t "$ref" -f "$ctx/Containerfile" "$ctx" >"$log" 2>&1; then
			die "podman build $ref failed: $(grep -v '^\s*$' "$log" | tail -1)"
		fi
		new=$("${QM_P[@]}" image inspect --format '{{.Id}}' "$ref")
		if [ -n "$old" ] && [ "${old%% *}" != "$new" ]; then
			"${QM_P[@]}" rmi "${old%% *}" >/dev/null 2>&1 || true
		fi
		echo "standin: $ref built in $(qm_since "$t0") s (hash $hash, id ${new:0:12})"
	done
done
