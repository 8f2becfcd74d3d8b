#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Lab test 1: the observer on real KVM. Two guests boot; then `dynmem stat --json` watches
# their cgroups while one of them grows from 32 to 320 MiB and the other holds 16 MiB. The
# busy guest's EPT faults and new mappings (4K/2M/1G, counted in bytes) must grow by most of
# what it touched, the idle one's must stay small, and neither's may show up in the other's
# row or in the host's.
set -euo pipefail
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/lib.sh"

BUSY=lab-test-busy
IDLE=lab-test-idle
GROW_MIB=288 # 32 -> 320 MiB
# Some of what the guest touches may reuse guest pages mapped during boot: ask for 2/3.
# (mapped counts mappings made, so a range mapped twice, say 4K then 2M, counts twice.)
WANT_MAPPED=$((GROW_MIB * 2 / 3))
# An idle guest's kernel still maps memory (its page cache, its console loop): seen 76 MiB
# in 40 s. Its row must stay well apart from the busy one's, never near it.
IDLE_MAX_MAPPED=128

stat_json() {
	python3 -c '
import json, sys
frames = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
first, last = frames[0], frames[-1]
row = lambda f, cg: [r for r in f["cgroups"] if r["cgroup"] == cg][0]
def mapped(r):
    return r["map_4k"] * 4096 + r["map_2m"] * (2 << 20) + r["map_1g"] * (1 << 30)
for name, cg in (("busy", sys.argv[2]), ("idle", sys.argv[3]), ("host", "host")):
    a, b = row(first, cg), row(last, cg)
    print(name, b["ept_faults"] - a["ept_faults"], b["ept_writes"] - a["ept_writes"],
          (mapped(b) - mapped(a)) >> 20, b["map_2m"] - a["map_2m"], len(frames))
print("hooks", " ".join(f"{k}={v}" for k, v in sorted(last["hooks"].items())))
' "$@"
}

observer_counts_kvm() {
	local out=/tmp/dynmem-lab-test.stat busy_cg idle_cg line busy idle host hooks
	"$LAB_GUEST" start "$BUSY" --mem 512 --append "dynmem.demand=32M:20,320M:0"
	at_exit "$LAB_GUEST stop $BUSY"
	"$LAB_GUEST" start "$IDLE" --mem 512 --append "dynmem.demand=16M:0"
	at_exit "$LAB_GUEST stop $IDLE"
	"$LAB_GUEST" wait "$BUSY" 120
	"$LAB_GUEST" wait "$IDLE" 120
	wait_for 60 grep -q "holding 32 MiB" "$("$LAB_GUEST" log-path "$BUSY")" ||
		fail "the busy guest's workload did not start: read $("$LAB_GUEST" log-path "$BUSY")"
	busy_cg=$("$LAB_GUEST" cgroup "$BUSY")
	idle_cg=$("$LAB_GUEST" cgroup "$IDLE")

	# 20 s at 32 MiB, then the jump: watch 40 s, one frame every 2 s.
	"$REPO/.output/dynmem" stat --json --interval 2000 --count 20 "$busy_cg" "$idle_cg" \
		>"$out" 2>/tmp/dynmem-lab-test.stat.err ||
		fail "dynmem stat failed: $(cat /tmp/dynmem-lab-test.stat.err)"
	grep -q "holding 320 MiB" "$("$LAB_GUEST" log-path "$BUSY")" ||
		fail "the busy guest never held 320 MiB within the window"

	# No process substitution: the lab's chroot has no /dev/fd.
	stat_json "$out" "$busy_cg" "$idle_cg" >"$out.sums" || fail "cannot read the frames: $(cat "$out.sums")"
	while read -r line; do
		case $line in
		busy*) busy=$line ;;
		idle*) idle=$line ;;
		host*) host=$line ;;
		hooks*) hooks=$line ;;
		esac
	done <"$out.sums"
	read -r _ busy_ept busy_writes busy_mib busy_2m frames <<<"$busy"
	read -r _ idle_ept _ idle_mib _ _ <<<"$idle"
	read -r _ host_ept _ host_mib _ _ <<<"$host"
	measured "$frames frames over 40 s; $hooks"
	measured "busy: ept_faults +$busy_ept (writes +$busy_writes), mapped +$busy_mib MiB ($busy_2m of it 2M)"
	measured "idle: ept_faults +$idle_ept, mapped +$idle_mib MiB"
	measured "host row: ept_faults +$host_ept, mapped +$host_mib MiB"
	[[ $hooks == *kvm_page_fault=raw* || $hooks == *kvm_page_fault=tp* ]] ||
		fail "kvm_page_fault is not hooked: $hooks"
	((busy_mib >= WANT_MAPPED)) ||
		fail "busy guest grew by $GROW_MIB MiB but only $busy_mib MiB of new mappings were counted"
	((busy_ept > 0 && busy_writes > 0)) || fail "no EPT faults counted for the busy guest"
	((idle_mib <= IDLE_MAX_MAPPED)) || fail "the idle guest shows $idle_mib MiB of new mappings"
	((busy_mib >= 4 * idle_mib)) || fail "busy mapped $busy_mib MiB vs idle $idle_mib MiB: rows mixed?"
	((busy_ept > 2 * idle_ept)) || fail "busy $busy_ept EPT faults vs idle $idle_ept: rows mixed?"
	((host_ept == 0)) || fail "$host_ept guest faults counted as host: no other guest runs"
}

require_lab
observer_counts_kvm
