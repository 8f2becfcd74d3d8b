#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# The lab test suite, run from the host:  tests/lab/run-all.sh [TEST...]  (default: all seven)
# Boots a fresh lab (scripts/lab.sh) for each test, in order, so one test cannot leave the next
# a broken host; prints one line per test followed by what it measured, then "N passed, M
# failed"; exits 1 if any failed. Each test is bounded by DYNMEM_LAB_TEST_TIMEOUT seconds when
# set, else 300 (the end-to-end scenarios 900), boot included. When the lab fails under a test
# (its kernel crashes or hangs, its QEMU dies, or it or a guest is reset or stopped by the
# emulation), lab.sh runs the test once more in a new lab; the summary counts those retries, and
# a test under which the lab failed twice as "not run", loudly: it says nothing about dynmem,
# and a real failure of the test still fails the suite. The suite keeps to
# DYNMEM_LAB_SUITE_BUDGET seconds (default 4200, so that CI ends well within its 90 minutes
# however often the lab fails): a test whose two tries could overrun it is not started, and
# counted as not run.
set -uo pipefail

DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LAB=$DIR/../../scripts/lab.sh
TESTS=(1-observer-kvm 2-cgroup-high 3-numa-move 4-balloon 5-dynamic-memory 6-numa-remote
	7-spanning-off)
# The end-to-end scenarios take 5 to 10 minutes each; their phases are bounded inside.
declare -A TIMEOUT_OF=([5-dynamic-memory]=900 [7-spanning-off]=900)
BUDGET=${DYNMEM_LAB_SUITE_BUDGET:-4200}
LAB_FAILED=75 # scripts/lab.sh: the lab failed twice, not the test

run_all() {
	local t start out rc status took timeout why passed=0 failed=0 retried=0 not_run=0 recap=()
	for t in "$@"; do
		start=${EPOCHREALTIME/./}
		timeout=${DYNMEM_LAB_TEST_TIMEOUT:-${TIMEOUT_OF[$t]:-300}}
		if [[ ! -x $DIR/$t.sh ]]; then
			out="FAIL: no test $DIR/$t.sh"
			rc=1
		elif ((SECONDS + 2 * timeout > BUDGET)); then
			out="not started: at ${SECONDS} s, two tries of up to $timeout s could overrun"
			out+=" the suite's $BUDGET s"
			rc=$LAB_FAILED
		else
			out=$(DYNMEM_LAB_TIMEOUT=$timeout "$LAB" run "tests/lab/$t.sh" 2>&1)
			rc=$?
		fi
		[[ $out != *"running it once more"* ]] || retried=$((retried + 1))
		if ((rc == 0)); then
			status=PASS
			passed=$((passed + 1))
		elif ((rc == LAB_FAILED)); then
			status="NOT RUN" # the lab failed twice under it, or no time left: nothing said about dynmem
			not_run=$((not_run + 1))
		else
			status=FAIL
			failed=$((failed + 1))
			# The last try's reason: a first try may have failed for the lab's.
			why=$(sed -n 's/.*FAIL: //p' <<<"${out##*running it once more}" | tail -n 1)
			recap+=("FAIL $t: ${why:-exit $rc}")
		fi
		took=$(((${EPOCHREALTIME/./} - start) / 100000))
		printf '%s %s (%d.%d s)\n' "$status" "$t" $((took / 10)) $((took % 10))
		printf '%s\n' "$out" | sed 's/^/    /'
	done
	((retried == 0)) || echo "the lab failed under $retried test(s): each ran once more"
	# Each failure's reason once more, where the end of a long output shows it.
	((failed == 0)) || printf '%s\n' "${recap[@]}"
	echo "$passed passed, $failed failed$( ((not_run == 0)) ||
		echo ", $not_run not run: the lab failed twice under them, or out of time (see above)")"
	((failed == 0))
}

if (($# == 0)); then
	set -- "${TESTS[@]}"
fi
# On one line: bash has read all of it before running, so editing this file meanwhile is safe.
run_all "$@"; exit
