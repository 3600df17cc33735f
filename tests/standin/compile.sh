#!/usr/bin/env bash
# Compiles the stand-in into a directory (never into the source tree):
#
#   tests/standin/compile.sh OUTDIR     prints OUTDIR/quobyte-server-standin
#
# Shared by build.sh (the image) and test_standin.py (the binary run on the
# host), so both test the same build. Static and libc only: the image is the
# bare Debian base and holds nothing else the binary could need.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [ $# -ne 1 ] || [ ! -d "$1" ]; then
	echo "usage: $0 OUTDIR (an existing directory)" >&2; exit 2
fi
out=$(cd "$1" && pwd)/quobyte-server-standin
log=$(mktemp /tmp/qm-standin-cc.XXXXXX.log)
rc=0
${CC:-gcc} -O2 -static -Wall -Wextra -Werror -o "$out" \
	"$here/quobyte_server_standin.c" >"$log" 2>&1 || rc=$?
if [ $rc -ne 0 ]; then
	why=$(grep -m1 -E 'error|undefined' "$log" || tail -1 "$log")
	echo "compile.sh: ${CC:-gcc} failed (exit $rc)${why:+: $why}" >&2
	rm -f "$log"; exit 1
fi
rm -f "$log"
echo "$out"
