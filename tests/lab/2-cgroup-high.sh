#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Lab test 2: memory.high holds a cgroup near its limit, the kernel mechanism the cgroup
# enforcer relies on. Two workloads each try to take 160 MiB under memory.high = 64 MiB:
#
# - Page cache: reading 160 MiB of a host file (9p, cache=loose). Clean page cache is
#   reclaimable, so the kernel reclaims at the limit: memory.peak must stay within high plus
#   PAGE_CACHE_SLACK, and memory.stat must show the rest was reclaimed (pgsteal).
# - Anonymous memory: the lab has no swap, so nothing can be reclaimed and the kernel throttles
#   the task instead. Each 64-page charge batch over high costs a sleep of 64 * r^2 seconds,
#   r = overage / high, capped at 2 s (mm/memcontrol.c: calculate_high_delay). Summed over the
#   batches, reaching overage r takes about 5461 * r^3 s with 4K pages: 8 s buys r = 11%, about
#   71 MiB. 2 MiB THP faults are charged 8 batches at once, which caps growth at one fault per
#   2 s past r = 6.25%: at most 64 + 4 + 5 * 2 = 78 MiB. So memory.peak must stay within high +
#   ANON_SLACK_PCT% (80 MiB) after ANON_SECONDS, while the workload still lacks most of what it
#   asked for.
set -euo pipefail
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/lib.sh"

HIGH=$((64 * MiB))
WANT_MIB=160
# Reclaim runs on the way back to user space after a charge, so one read's worth of pages (a
# 9p message is at most 256 KiB, readahead a few of them) can land above high first: 2 MiB.
PAGE_CACHE_SLACK=$((2 * MiB))
ANON_SLACK_PCT=25
ANON_SECONDS=8

require_lab
[[ -r ${DYNMEM_LAB_BIGFILE:-} ]] || fail "no DYNMEM_LAB_BIGFILE to read (scripts/lab.sh sets it)"

page_cache_held_at_high() {
	local got peak steal reclaimed
	make_cgroup high-file
	echo "$HIGH" >"$CG/memory.high"
	# Start cold: file pages cached earlier are charged elsewhere and would not be read again.
	echo 1 >/proc/sys/vm/drop_caches
	got=$(
		echo "$BASHPID" >"$CG/cgroup.procs"
		dd if="$DYNMEM_LAB_BIGFILE" of=/dev/null bs=1M count="$WANT_MIB" 2>&1 |
			sed -n 's/^\([0-9]*\) bytes.*/\1/p'
	)
	peak=$(cat "$CG/memory.peak")
	steal=$(stat_key "$CG/memory.stat" pgsteal)
	reclaimed=$((steal * 4096))
	measured "page cache: read $(mib "$got") MiB; memory.peak $(mib "$peak") MiB ($peak B)," \
		"high $(mib $HIGH) MiB ($HIGH B), reclaimed $(mib $reclaimed) MiB," \
		"memory.events high $(stat_key "$CG/memory.events" high)"
	((got == WANT_MIB * MiB)) || fail "page cache: read $got B of $WANT_MIB MiB"
	((peak <= HIGH + PAGE_CACHE_SLACK)) ||
		fail "page cache: memory.peak $peak B > high + $(mib $PAGE_CACHE_SLACK) MiB"
	((reclaimed >= (WANT_MIB * MiB - HIGH - PAGE_CACHE_SLACK))) ||
		fail "page cache: only $(mib $reclaimed) MiB reclaimed; did the read happen?"
}

anon_throttled_at_high() {
	local out peak current events limit
	make_cgroup high-anon
	echo "$HIGH" >"$CG/memory.high"
	out=/tmp/dynmem-lab-test.high-anon.out
	start_workload "$CG" "${WANT_MIB}M:0" "$out"
	sleep "$ANON_SECONDS"
	current=$(cat "$CG/memory.current")
	peak=$(cat "$CG/memory.peak") # after current: the workload keeps growing meanwhile
	events=$(stat_key "$CG/memory.events" high)
	limit=$((HIGH + HIGH * ANON_SLACK_PCT / 100))
	measured "anon: after $ANON_SECONDS s wanting $WANT_MIB MiB: memory.current" \
		"$(mib "$current") MiB, memory.peak $(mib "$peak") MiB ($peak B)," \
		"high $(mib $HIGH) MiB, memory.events high $events"
	kill -0 "$WORKLOAD" 2>/dev/null || fail "anon: the workload died: $(cat "$out")"
	! grep -q "holding $WANT_MIB MiB" "$out" ||
		fail "anon: the workload got all $WANT_MIB MiB: memory.high did not hold it"
	((events > 0)) || fail "anon: memory.events high is 0: the limit never bit"
	((current >= HIGH)) || fail "anon: memory.current $current B never reached high"
	((peak <= limit)) || fail "anon: memory.peak $peak B > high + $ANON_SLACK_PCT% ($limit B)"
}

page_cache_held_at_high
anon_throttled_at_high
