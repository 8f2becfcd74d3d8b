#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Lab test 6 (the other half of test 3): the observer's remote-NUMA counters. Guest "apart"
# runs its vCPU on node 0 while its memory must come from node 1 (its cgroup's cpuset.mems);
# guest "together" has both on node 0. `dynmem stat --json` watches both while they boot and
# take 128 MiB: nearly all of apart's new guest mappings and page allocations must count as
# remote, nearly none of together's.
set -euo pipefail
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/lib.sh"

APART=lab-test-apart
TOGETHER=lab-test-together
# Below these shares the counters would be wrong, not noisy: every page of apart is on
# node 1 and its vCPU on node 0 (the few pages allocated before cpuset.mems moved are the
# slack), and nothing of together leaves node 0.
MIN_REMOTE_PCT=80
MAX_LOCAL_REMOTE_PCT=5

shares() {
	python3 -c '
import json, sys
last = [json.loads(l) for l in open(sys.argv[1]) if l.strip()][-1]
for cg in sys.argv[2:]:
    r = [r for r in last["cgroups"] if r["cgroup"] == cg][0]
    maps = r["map_4k"] + r["map_2m"] + r["map_1g"]
    allocs = r["alloc_local"] + r["alloc_remote"]
    print(maps, r["map_remote"], r["map_remote"] * 100 // max(maps, 1),
          allocs, r["alloc_remote"], r["alloc_remote"] * 100 // max(allocs, 1))
' "$@"
}

# Each guest takes its 128 MiB 25 s after its workload starts: `dynmem stat` can only watch
# a guest's cgroup once the guest is started, and on a faster machine (2026-11-27, Zen 4)
# apart had taken all of it in the 15 s before together was started and the watch began: 0
# allocations seen. Since then 16 frames of 5 s, not 12, so that together's late pages count.
TAKE_LATE=dynmem.demand=8M:25,128M:0

remote_counted() {
	local out=/tmp/dynmem-lab-test.remote apart_cg together_cg
	[[ -d /sys/devices/system/node/node1 ]] || fail "the lab has no NUMA node 1"
	"$LAB_GUEST" start "$APART" --mem 256 --node 0 --append "$TAKE_LATE"
	at_exit "$LAB_GUEST stop $APART"
	apart_cg=$("$LAB_GUEST" cgroup "$APART")
	echo 1 >"$apart_cg/cpuset.mems" # the vCPU stays on node 0's CPUs
	"$LAB_GUEST" start "$TOGETHER" --mem 256 --node 0 --append "$TAKE_LATE"
	at_exit "$LAB_GUEST stop $TOGETHER"
	together_cg=$("$LAB_GUEST" cgroup "$TOGETHER")
	"$REPO/.output/dynmem" stat --json --interval 5000 --count 16 "$apart_cg" "$together_cg" \
		>"$out" 2>"$out.err" || fail "dynmem stat failed: $(cat "$out.err")"
	shares "$out" "$apart_cg" "$together_cg" >"$out.shares" || fail "unreadable frames"
	{ read -r a_maps a_rmaps a_mpct a_allocs a_ralloc a_apct
	  read -r t_maps t_rmaps t_mpct t_allocs t_ralloc t_apct; } <"$out.shares"
	measured "apart (vCPU node 0, memory node 1): map_remote $a_rmaps of $a_maps mappings" \
		"($a_mpct%), alloc_remote $a_ralloc of $a_allocs pages ($a_apct%)"
	measured "together (both node 0): map_remote $t_rmaps of $t_maps mappings ($t_mpct%)," \
		"alloc_remote $t_ralloc of $t_allocs pages ($t_apct%)"
	((a_maps > 0 && t_maps > 0)) || fail "no guest mappings counted"
	((a_mpct >= MIN_REMOTE_PCT)) || fail "apart: only $a_mpct% of mappings counted remote"
	((a_apct >= MIN_REMOTE_PCT)) || fail "apart: only $a_apct% of allocations counted remote"
	((t_mpct <= MAX_LOCAL_REMOTE_PCT)) || fail "together: $t_mpct% of mappings counted remote"
	((t_apct <= MAX_LOCAL_REMOTE_PCT)) || fail "together: $t_apct% of allocations counted remote"
}

require_lab
remote_counted
