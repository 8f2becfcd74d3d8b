#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# The lab test suite. Runs inside the lab:  scripts/lab.sh run tests/lab/run-all.sh
# Runs the tests in order, each bounded by DYNMEM_LAB_TEST_TIMEOUT seconds (default 300); prints
# one line per test followed by what it measured, then "N passed, M failed"; exits 1 if any
# failed.
set -uo pipefail

DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TEST_TIMEOUT=${DYNMEM_LAB_TEST_TIMEOUT:-300}
# Test 5 (dynamic memory end to end) is not in the list yet: see tests/lab/5-dynamic-memory.sh.
TESTS=(1-observer-kvm 2-cgroup-high 3-numa-move 4-balloon 6-numa-remote)

if [[ -z ${DYNMEM_LAB:-} ]]; then
	echo "run-all: run me inside the lab: scripts/lab.sh run tests/lab/run-all.sh" >&2
	exit 2
fi

run_all() {
	local t start out rc status took passed=0 failed=0
	for t in "${TESTS[@]}"; do
		start=${EPOCHREALTIME/./}
		if out=$(timeout "$TEST_TIMEOUT" "$DIR/$t.sh" 2>&1); then
			status=PASS
			passed=$((passed + 1))
		else
			rc=$?
			status=FAIL
			failed=$((failed + 1))
			((rc != 124)) || out+=$'\n'"FAIL: timed out after $TEST_TIMEOUT s"
		fi
		took=$(((${EPOCHREALTIME/./} - start) / 100000))
		printf '%s %s (%d.%d s)\n' "$status" "$t" $((took / 10)) $((took % 10))
		printf '%s\n' "$out" | sed 's/^/    /'
	done
	echo "$passed passed, $failed failed"
	((failed == 0))
}

# On one line: bash has read all of it before running, so editing this file meanwhile is safe.
run_all; exit
