#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Lab test 5: dynamic memory end to end. Three real KVM guests with different weights, whose
# workloads rise and fall on cue, dynmemd enforcing with the cgroup and balloon backends (and
# numa with SPANNING=no) on a lab host made short of memory by its reserve; then, from what was
# recorded: no guest below its minimum; the VMs never above the budget; rising demand gets
# memory (and how fast); falling demand gives it back (balloon and memory.high); the heavier VM
# gets more and keeps the better availability while the host is short; no guest OOM kill; with
# spanning off, each guest's memory on its node. tests/lab/scenario.py is the scenario, shared
# with the demo; tests/lab/check-scenario.py the checks.
set -euo pipefail
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/lib.sh"

SPANNING=${SPANNING:-yes}

# What a failure needs to be understood: the lab's files are gone once it stops.
show_logs() {
	local f
	for f in "$1"/run.log "$1"/dynmemd.log "$1"/*.console.log; do
		[[ -f $f ]] || continue
		echo "--- $(basename "$f") (last 15 lines)"
		tail -n 15 "$f"
	done
}

# checked LOG STATUS: shows what the checker said in LOG; exits 75 when it found the lab's
# failure (STATUS 75: lab.sh runs the test again), fails with the broken promise it named.
checked() {
	local why
	cat "$1"
	(($2 != 75)) || exit 75
	why=$(sed -n 's/^FAIL: //p' "$1" | head -n 1)
	[[ -z $why ]] || fail "$why"
}

dynamic_memory() {
	local dir=/tmp/dynmem-lab-test.dm-$SPANNING
	rm -rf "$dir"
	mkdir -p "$dir"
	local rc=0
	"$REPO/tests/lab/scenario.py" "$dir" --spanning "$SPANNING" >"$dir/run.log" 2>&1 || rc=$?
	if ((rc != 0)); then
		show_logs "$dir"
		# What stopped it may be the lab's: a guest the emulation never ran (lab-guest.sh,
		# 75), or one it reset or stopped (the checker, 75).
		local early=0
		python3 "$REPO/tests/lab/check-scenario.py" --early "$dir" >"$dir/early.log" || early=$?
		checked "$dir/early.log" $((rc == 75 ? 75 : early))
		fail "the scenario did not run to its end: $(tail -n 1 "$dir/run.log")"
	fi
	python3 "$REPO/tests/lab/check-scenario.py" "$dir" >"$dir/check.log" || rc=$?
	# The logs first, the checks' figures and verdict last: the end of the output is what a
	# reader (and CI's excerpt) sees.
	((rc == 0)) || show_logs "$dir"
	checked "$dir/check.log" "$rc"
	((rc == 0)) || fail "the checks stopped (exit $rc): see above"
}

require_lab
dynamic_memory
