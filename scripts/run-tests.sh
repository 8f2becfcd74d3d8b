#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Runs test binaries (cmocka) and test suites that end with an "N passed, M failed" line,
# adds up their results and ends with one such line of its own. Exits non-zero when any
# test failed or any runner died without saying how many passed.
#
#   run-tests.sh [--suite CMD]... [BINARY]...
set -uo pipefail

passed=0
failed=0
not_run=0 # tests the lab could not run (tests/lab/run-all.sh): said, not failed

# Reads a runner's output from stdin, echoing it, and adds its counts.
count() {
	local name=$1 line n
	local got_summary=0
	while IFS= read -r line; do
		printf '%s\n' "$line"
		# What failed, kept for the recap at the end.
		[[ ! $line =~ ^(not\ ok|FAIL|\[\ \ FAILED\ \ \]\ [a-z_]) ]] ||
			printf '%s: %s\n' "$name" "$line" >> "$tmp/failures"
		if [[ $line =~ \[\ \ PASSED\ \ \]\ ([0-9]+)\ test ]]; then
			passed=$((passed + BASH_REMATCH[1])); got_summary=1
		elif [[ $line =~ \[\ \ FAILED\ \ \]\ ([0-9]+)\ test ]]; then
			failed=$((failed + BASH_REMATCH[1])); got_summary=1
		elif [[ $line =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed ]]; then
			n=${BASH_REMATCH[1]}
			passed=$((passed + n)); failed=$((failed + BASH_REMATCH[2])); got_summary=1
			[[ ! $line =~ ,\ ([0-9]+)\ not\ run ]] || not_run=$((not_run + BASH_REMATCH[1]))
		fi
	done
	return $((1 - got_summary))
}

run() {
	local name=$1; shift
	local status before=$failed
	echo "== $name"
	# The runner's exit status travels through a file: count() runs in this shell.
	count "$name" < <("$@" 2>&1; echo $? > "$tmp/status") || {
		echo "run-tests: $name printed no test summary" >&2
		echo "$name: printed no test summary" >> "$tmp/failures"
		failed=$((failed + 1))
	}
	status=$(cat "$tmp/status")
	if [[ $status -ne 0 && $failed -eq $before ]]; then
		echo "run-tests: $name exited $status" >&2
		echo "$name: exited $status" >> "$tmp/failures"
		failed=$((failed + 1))
	fi
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
while [[ $# -gt 0 ]]; do
	case $1 in
	--suite) run "$2" bash -c "$2"; shift 2 ;;
	*) run "$(basename "$1")" "$1"; shift ;;
	esac
done
echo
# The end of a long output is what a reader (and CI's excerpt) sees: what failed, once more.
if [[ -s $tmp/failures ]]; then
	echo "what failed:"
	# cmocka names a failed test twice: each line once, in order.
	awk '!seen[$0]++' "$tmp/failures" > "$tmp/recap"
	head -n 30 "$tmp/recap"
	n=$(wc -l < "$tmp/recap")
	((n <= 30)) || echo "... and $((n - 30)) more above"
fi
echo "$passed passed, $failed failed$( ((not_run == 0)) || echo ", $not_run not run (the lab failed under them, or its suite ran out of time: see above)")"
[[ $failed -eq 0 ]]
