# SPDX-License-Identifier: GPL-2.0-only
# shellcheck shell=bash
#
# Helpers for the lab tests (sourced). A test prints what it measured with `measured`, stops at
# the first broken promise with `fail`, and cleans up what it started on exit (`at_exit`).

# shellcheck disable=SC2034 # these are for the tests that source this file
{
	REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
	DEMAND=$REPO/.output/guest/demand
	LAB_GUEST=$REPO/scripts/lab-guest.sh
	MiB=$((1 << 20))
}

fail() {
	echo "FAIL: $*"
	exit 1
}

measured() {
	echo "  $*"
}

# Cleanup commands run in reverse order on exit, whatever the outcome.
AT_EXIT=()
at_exit() {
	AT_EXIT=("$*" "${AT_EXIT[@]}")
}
run_at_exit() {
	local cmd
	for cmd in "${AT_EXIT[@]}"; do
		eval "$cmd" || true
	done
}
trap run_at_exit EXIT
# A timeout's SIGTERM must still run the cleanup.
trap 'exit 143' TERM INT

require_lab() {
	[[ -n ${DYNMEM_LAB:-} ]] || fail "run me inside the lab: scripts/lab.sh run $0"
	[[ -x $DEMAND ]] || fail "$DEMAND is missing: make .output/guest/demand"
}

cgroup_root() {
	"$LAB_GUEST" cgroup-root
}

# A fresh cgroup for this test in $CG, removed on exit. (Not a $(function): at_exit must run
# in the test's shell.)
make_cgroup() {
	CG=$(cgroup_root)/dynmem-lab-test.$1
	[[ ! -d $CG ]] || rmdir "$CG"
	mkdir "$CG" || fail "cannot create $CG"
	at_exit "rmdir $CG"
}

# Start the demand workload in cgroup $1 with schedule $2, its output in $3; its pid in
# $WORKLOAD. It joins the cgroup before exec, so all of its memory is charged there.
start_workload() {
	(
		echo "$BASHPID" >"$1/cgroup.procs"
		exec "$DEMAND" "$2"
	) </dev/null >"$3" 2>&1 &
	WORKLOAD=$!
	at_exit "kill $WORKLOAD; wait $WORKLOAD 2>/dev/null"
}

# wait_for SECONDS CMD...: poll CMD every 0.2 s until it succeeds; 1 on timeout.
wait_for() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@"; do
		((SECONDS < deadline)) || return 1
		sleep 0.2
	done
}

# One key of a flat keyed file such as memory.stat or memory.events.
stat_key() {
	awk -v k="$2" '$1 == k { print $2 }' "$1"
}

mib() {
	echo $(($1 / MiB))
}
