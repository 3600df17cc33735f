#!/usr/bin/env bash
# Banned calls (STYLE.md 12): the C library functions that have overflowed,
# raced or run a shell for someone before. Each has a bounded or safer twin
# used in this tree instead:
#   strcpy strcat sprintf vsprintf gets  -> snprintf / memcpy with a length
#   system popen                          -> posix_spawn / fork+exec, argv only
#   strtok                                -> strtok_r / memchr
#   alloca tmpnam mktemp                  -> heap with a cap / mkstemp
#   atoi atol                             -> strtol/strtoull with range checks
# Daemon code (common/ prober/ coordinator/) gets the whole list; test code
# and tools get all but atoi/atol (a test table may parse its own literals).
# Prints "banned-calls: N passed, N failed" like every suite of test.sh.
set -uo pipefail
cd "$(dirname "$0")/.."
strict='strcpy|strcat|sprintf|vsprintf|gets|system|popen|strtok|alloca|tmpnam|mktemp|atoi|atol'
tests='strcpy|strcat|sprintf|vsprintf|gets|system|popen|strtok|alloca|tmpnam|mktemp'
hits=0; files=0
scan() {  # pattern files...
	local pat=$1; shift
	local f
	for f in "$@"; do
		files=$((files + 1))
		# drop comment lines and string literals before looking for calls
		local out
		out=$(sed -E 's://.*$::; s:"([^"\\]|\\.)*":"":g' "$f" |
		      grep -nE "(^|[^A-Za-z0-9_.>])($pat)[[:space:]]*\(" |
		      grep -vE '^[0-9]+:[[:space:]]*(\*|/\*)' || true)
		if [ -n "$out" ]; then
			printf '%s\n' "$out" | sed "s|^|  $f:|"
			hits=$((hits + $(printf '%s\n' "$out" | wc -l)))
		fi
	done
}
mapfile -t daemon < <(git ls-files 'common/*.[ch]' 'prober/*.[ch]' 'coordinator/*.[ch]' 2>/dev/null ||
		      find common prober coordinator -name '*.[ch]')
mapfile -t testc < <(git ls-files 'tests/*.[ch]' 2>/dev/null || find tests -name '*.[ch]')
scan "$strict" "${daemon[@]}"
scan "$tests" "${testc[@]}"
if [ "$hits" -ne 0 ]; then
	echo "check-banned: $hits banned call(s) above; use the bounded twin named in scripts/check-banned.sh"
	echo "banned-calls: 0 passed, 1 failed"
	exit 1
fi
echo "check-banned: $files C files, no banned call"
echo "banned-calls: 1 passed, 0 failed"
