#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Lab test 3: a workload's pages start on NUMA node 0 and move to node 1 when its cgroup's
# cpuset.mems changes, as memory.numa_stat shows: the kernel mechanism the numa enforcer
# relies on. In cgroup v2 a cpuset always migrates memory on a mems change, and the write
# returns once the migration work is flushed, so no waiting should be needed.
set -euo pipefail
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/lib.sh"

HOLD_MIB=64
# The workload allocates all of its anon memory under this cpuset, so the other node should
# hold none; 1 MiB of slack for a page the kernel could not move at that instant, far below
# what a failed migration leaves behind.
STRAY=$((1 * MiB))

# anon bytes of the cgroup on node $1, from memory.numa_stat ("anon N0=123 N1=456").
numa_anon() {
	awk -v n="N$1=" '$1 == "anon" {
		for (i = 2; i <= NF; i++)
			if (index($i, n) == 1)
				print substr($i, length(n) + 1)
	}' "$CG/memory.numa_stat"
}

on_node() {
	local node=$1 other=$2 when=$3 here there
	here=$(numa_anon "$node")
	there=$(numa_anon "$other")
	measured "$when: anon N$node=$(mib "$here") MiB ($here B)," \
		"N$other=$(mib "$there") MiB ($there B)"
	((here >= HOLD_MIB * MiB)) ||
		fail "$when: only $(mib "$here") MiB of $HOLD_MIB MiB on node $node"
	((there <= STRAY)) || fail "$when: $there B still on node $other"
}

cpuset_moves_pages() {
	local out start
	[[ -d /sys/devices/system/node/node1 ]] || fail "the lab has no NUMA node 1"
	make_cgroup numa
	echo 0 >"$CG/cpuset.mems"
	out=/tmp/dynmem-lab-test.numa.out
	start_workload "$CG" "${HOLD_MIB}M:0" "$out"
	wait_for 30 grep -q "holding $HOLD_MIB MiB" "$out" ||
		fail "the workload did not take $HOLD_MIB MiB in 30 s: $(cat "$out")"
	on_node 0 1 "cpuset.mems=0"
	start=${EPOCHREALTIME/./}
	echo 1 >"$CG/cpuset.mems"
	measured "writing cpuset.mems=1 took $(((${EPOCHREALTIME/./} - start) / 1000)) ms"
	on_node 1 0 "cpuset.mems=1"
	kill -0 "$WORKLOAD" 2>/dev/null || fail "the workload died while moving: $(cat "$out")"
}

# The remote-NUMA counters (map_remote, alloc_remote) are tests/lab/6-numa-remote.sh.

require_lab
cpuset_moves_pages
