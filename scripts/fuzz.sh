#!/usr/bin/env bash
# fuzz.sh runs every fuzz target in the module for a fixed time each, one
# after another, and fails if any finds a crasher (the failing input is
# written to the package's testdata/fuzz/<Target>/ by go test: commit it as
# a regression seed once fixed).
#
# usage: scripts/fuzz.sh [-t SECONDS] [-p PARALLEL] [-m MINIMIZE] [TARGET_REGEXP]
#   -t  seconds per target (default 60, or $FUZZTIME)
#   -p  fuzz workers per target (default 1, or $FUZZPARALLEL; CI boxes are shared)
#   -m  -fuzzminimizetime (default 5s, or $FUZZMINIMIZE): go test spends it on
#       every new interesting input too, and the multi-argument targets
#       otherwise spend most of a short run minimizing instead of fuzzing
#   TARGET_REGEXP  only targets whose name matches (default: all)
#
# Prints one line per target with its exec count, and a summary.
set -uo pipefail

time_s=${FUZZTIME:-60}
par=${FUZZPARALLEL:-1}
minimize=${FUZZMINIMIZE:-5s}
while getopts "t:p:m:h" o; do
	case $o in
	t) time_s=$OPTARG ;;
	p) par=$OPTARG ;;
	m) minimize=$OPTARG ;;
	*) sed -n '2,15p' "$0"; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
filter=${1:-.}

cd "$(dirname "$0")/.."
unset AWS_CA_BUNDLE
logdir=$(mktemp -d "${TMPDIR:-/tmp}/excfuzz.XXXXXX")
fail=0
total=0
# package<TAB>target for every func FuzzX in a _test.go file.
targets=$(grep -rHo --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*(' . |
	sed -E 's#^\./(.*)/[^/]*_test\.go:func (Fuzz[A-Za-z0-9_]*)\($#\1\t\2#' | sort -u)

while IFS=$'\t' read -r pkg target; do
	[[ -z $target ]] && continue
	[[ $target =~ $filter ]] || continue
	log="$logdir/$target.log"
	start=$(date +%s)
	go test "./$pkg" -run '^$' -fuzz "^${target}\$" -fuzztime "${time_s}s" \
		-fuzzminimizetime "$minimize" -parallel "$par" >"$log" 2>&1
	rc=$?
	execs=$(grep -Eo 'execs: [0-9]+' "$log" | tail -1 | grep -Eo '[0-9]+')
	execs=${execs:-0}
	total=$((total + execs))
	took=$(($(date +%s) - start))
	if [[ $rc -ne 0 ]] && grep -q 'context deadline exceeded' "$log" && ! grep -q 'Failing input written' "$log"; then
		# Go 1.26's fuzz coordinator can report its own -fuzztime deadline
		# as a failure without any input (go.dev/issue/75804, fixed in
		# Go 1.27): not a crasher.
		printf 'ok   %-28s %-18s execs %10s  %3ss  (go.dev/issue/75804 deadline report, no crasher)\n' "$target" "$pkg" "$execs" "$took"
	elif [[ $rc -ne 0 ]]; then
		fail=1
		printf 'FAIL %-28s %-18s execs %10s  %3ss  (log %s)\n' "$target" "$pkg" "$execs" "$took" "$log"
		grep -E -- '--- FAIL|Failing input|\.go:[0-9]+:' "$log" | head -8 | sed 's/^/     /'
	else
		printf 'ok   %-28s %-18s execs %10s  %3ss\n' "$target" "$pkg" "$execs" "$took"
	fi
done <<<"$targets"

echo "total execs $total; logs in $logdir"
exit $fail
