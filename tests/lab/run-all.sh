#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# The lab test suite, run from the host:  tests/lab/run-all.sh [TEST...]
# Boots a fresh lab (scripts/lab.sh) for each test, in order, so one test cannot leave the
# next a broken host; prints one line per test followed by what it measured, then
# "N passed, M failed"; exits 1 if any failed. Each test is bounded by DYNMEM_LAB_TEST_TIMEOUT
# seconds (default 300; the end-to-end scenarios 1200), boot included.
#
# When the lab's own kernel crashes (scripts/lab.sh exits 75: TCG emulating nested SVM is not
# always stable, about one long run in five here), the test is run once more in a new lab,
# and the crash is reported. A second crash fails the test.
set -uo pipefail

DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LAB=$DIR/../../scripts/lab.sh
TEST_TIMEOUT=${DYNMEM_LAB_TEST_TIMEOUT:-300}
TESTS=(1-observer-kvm 2-cgroup-high 3-numa-move 4-balloon 5-dynamic-memory 6-numa-remote
	7-spanning-off)
# The end-to-end scenarios take 8 to 11 minutes in the lab; their phases are bounded inside.
declare -A TIMEOUT_OF=([5-dynamic-memory]=1200 [7-spanning-off]=1200)
LAB_CRASHED=75

# run_one TEST: its output on stdout, its status as the lab's.
run_one() {
	DYNMEM_LAB_TIMEOUT=${TIMEOUT_OF[$1]:-$TEST_TIMEOUT} "$LAB" run "tests/lab/$1.sh" 2>&1
}

run_all() {
	local t start out rc status took passed=0 failed=0
	for t in "$@"; do
		start=${EPOCHREALTIME/./}
		out=$(run_one "$t")
		rc=$?
		if ((rc == LAB_CRASHED)); then
			out+=$'\n'"the lab's kernel crashed (not this test): running it once more"$'\n'
			out+=$(run_one "$t")
			rc=$?
		fi
		if ((rc == 0)); then
			status=PASS
			passed=$((passed + 1))
		else
			status=FAIL
			failed=$((failed + 1))
			((rc != 124)) || out+=$'\n'"FAIL: timed out"
		fi
		took=$(((${EPOCHREALTIME/./} - start) / 100000))
		printf '%s %s (%d.%d s)\n' "$status" "$t" $((took / 10)) $((took % 10))
		printf '%s\n' "$out" | sed 's/^/    /'
	done
	echo "$passed passed, $failed failed"
	((failed == 0))
}

if (($# == 0)); then
	set -- "${TESTS[@]}"
fi
# On one line: bash has read all of it before running, so editing this file meanwhile is safe.
run_all "$@"; exit
