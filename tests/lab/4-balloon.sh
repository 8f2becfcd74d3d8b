#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Lab test 4: virtio-balloon over QMP, the balloon enforcer's mechanism. A 512 MiB guest is
# ballooned to 256 MiB: query-balloon's actual must reach the target and the guest's own
# MemTotal must fall by the ballooned amount (the guest driver takes the pages out of
# totalram), each within WAIT seconds; ballooning back to 512 MiB must give it all back. The
# balloon's guest-stats (polled every second) must report the same total as the guest.
set -euo pipefail
# shellcheck source=tests/lab/lib.sh
source "$(dirname "$0")/lib.sh"

NAME=lab-test-balloon
MAX_MIB=512
TARGET_MIB=256
# A bound for a balloon that does not move, not a performance target: inflating 256 MiB takes
# 22-43 s in the lab (each page is a discard in the lab's QEMU), over 60 s when the machine
# also runs another lab.
WAIT=180
# Without deflate-on-oom the guest driver takes every ballooned page out of totalram, so MemTotal
# moves by exactly the ballooned amount (seen: 468416 -> 206272 kB); 1 MiB of slack, no more.
SLACK_KB=1024

qmp() {
	"$LAB_GUEST" qmp "$NAME" "$@"
}

actual_is() {
	[[ $(qmp query-balloon -f actual) == "$1" ]]
}

# The guest's MemTotal in kB, the last one its init printed on the console.
memtotal_kb() {
	sed -n 's/^guest: MemTotal \([0-9]*\) kB.*/\1/p' "$LOG" | tail -n1
}

memtotal_at_most() {
	local kb
	kb=$(memtotal_kb)
	[[ -n $kb ]] && ((kb <= $1))
}

stats_total() {
	qmp qom-get '{"path": "/machine/peripheral/balloon0", "property": "guest-stats"}' \
		-f stats.stat-total-memory
}

stats_agree() {
	[[ $(stats_total) == $(($(memtotal_kb) * 1024)) ]]
}

memtotal_at_least() {
	local kb
	kb=$(memtotal_kb)
	[[ -n $kb ]] && ((kb >= $1))
}

# balloon_to MIB EXPECT_KB: ask for MIB, wait for actual, then for MemTotal to be near EXPECT_KB.
balloon_to() {
	local mib=$1 expect_kb=$2 start
	start=$SECONDS
	qmp balloon "{\"value\": $((mib * MiB))}" >/dev/null
	wait_for "$WAIT" actual_is $((mib * MiB)) ||
		fail "balloon $mib MiB: actual still $(qmp query-balloon -f actual) B after $WAIT s"
	measured "balloon $mib MiB: query-balloon actual $(qmp query-balloon -f actual) B after" \
		"$((SECONDS - start)) s"
	wait_for "$WAIT" memtotal_at_most $((expect_kb + SLACK_KB)) ||
		fail "balloon $mib MiB: guest MemTotal $(memtotal_kb) kB, want ~$expect_kb kB"
	wait_for "$WAIT" memtotal_at_least $((expect_kb - SLACK_KB)) ||
		fail "balloon $mib MiB: guest MemTotal $(memtotal_kb) kB, want ~$expect_kb kB"
	measured "balloon $mib MiB: guest MemTotal $(memtotal_kb) kB (want ~$expect_kb) after" \
		"$((SECONDS - start)) s"
	wait_for 15 stats_agree ||
		fail "balloon $mib MiB: guest-stats total $(stats_total) B," \
			"guest MemTotal $(memtotal_kb) kB"
	measured "balloon $mib MiB: guest-stats stat-total-memory $(stats_total) B (= MemTotal)"
}

balloon_inflates_and_deflates() {
	local start full_kb
	start=$SECONDS
	# On one node (one lab CPU), QEMU's discard of each ballooned page needs no TLB shootdown
	# IPI to the other CPU: under TCG that halves the time to inflate.
	"$LAB_GUEST" start "$NAME" --mem "$MAX_MIB" --node 0 --append "dynmem.demand=32M:0" ||
		fail "cannot start guest $NAME (lab-guest.sh said why, above)"
	at_exit "$LAB_GUEST stop $NAME"
	LOG=$("$LAB_GUEST" log-path "$NAME")
	"$LAB_GUEST" wait "$NAME" || fail "guest $NAME did not boot (lab-guest.sh said why, above)"
	wait_for 30 memtotal_at_least 1 || fail "the guest printed no MemTotal: read $LOG"
	measured "guest booted in $((SECONDS - start)) s"
	actual_is $((MAX_MIB * MiB)) ||
		fail "before ballooning, actual is $(qmp query-balloon -f actual) B," \
			"not $MAX_MIB MiB"
	full_kb=$(memtotal_kb)
	measured "before: actual $((MAX_MIB * MiB)) B, guest MemTotal $full_kb kB"
	balloon_to "$TARGET_MIB" $((full_kb - (MAX_MIB - TARGET_MIB) * 1024))
	balloon_to "$MAX_MIB" "$full_kb"
}

require_lab
balloon_inflates_and_deflates
