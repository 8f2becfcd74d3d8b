#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# The observer's cost on the page-fault path, measured side by side in one run: the same
# fault microbenchmark (fresh anonymous 4K pages, THP off) in one cgroup, with
#   none      no BPF attached,
#   empty     empty programs on the same hooks (tests/bench/empty_hooks.bpf.c),
#   dynmem    dynmem's observer watching that cgroup (dynmem stat),
#   bpftrace  the one-liner that counts page_fault_user per cgroup.
# Modes take turns within each round, so drift on this noisy machine hits them alike;
# the median over ROUNDS is reported. Prints a Markdown table.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
out=$repo/.output
rounds=${ROUNDS:-7}
pages=${PAGES:-16384}
reps=${REPS:-20}
modes=(none empty dynmem bpftrace)
tool_pid=

die() { echo "fault-bench: $*" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || die "needs root"
command -v bpftrace >/dev/null || die "bpftrace missing (scripts/deps.sh installs it)"

mount=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
cg=$mount/dynmem-bench-$$
tmp=$(mktemp -d)
mkdir "$cg"

stop_tool() {
	if [[ -n $tool_pid ]]; then
		kill "$tool_pid" 2>/dev/null || true
		# bpftrace can sleep through its SIGTERM in epoll_wait, nothing left to wake it
		# (seen here: the bench hung 12 minutes): 5 s, then SIGKILL.
		for _ in $(seq 50); do kill -0 "$tool_pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$tool_pid" 2>/dev/null || true
		wait "$tool_pid" 2>/dev/null || true
	fi
	tool_pid=
}
cleanup() { stop_tool; rmdir "$cg" 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
trap "exit 143" INT TERM # run cleanup on a signal too

# start_tool MODE: attaches MODE's programs and returns once they are live.
start_tool() {
	local log=$tmp/tool.log ready
	: > "$log"
	case $1 in
	none) return ;;
	empty) "$out/bench/empty-hooks" > "$log" 2>&1 & ready=attached ;;
	dynmem) "$out/dynmem" stat --interval 3600000 --count 1 "$cg" > "$log" 2>&1 &
		ready="hooks live" ;;
	bpftrace) bpftrace -e 'tracepoint:exceptions:page_fault_user { @[cgroup] = count(); }' \
			> "$log" 2>&1 & ready=Attaching ;;
	esac
	tool_pid=$!
	for _ in $(seq 300); do
		grep -q "$ready" "$log" && { [[ $1 != bpftrace ]] || sleep 0.5; return; }
		kill -0 "$tool_pid" 2>/dev/null || die "$1 did not start: $(cat "$log")"
		sleep 0.1
	done
	die "$1 not attached after 30 s: $(cat "$log")"
}

# measure: one run of the microbenchmark inside the cgroup; prints faults/s.
measure() {
	sh -c 'echo $$ > "$1/cgroup.procs" && exec "$2" "$3" "$4"' sh "$cg" \
		"$out/bench/fault-bench" "$pages" "$reps" | sed -n 's/^faults_per_s=\([0-9]*\).*/\1/p'
}

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "fault-bench: $rounds rounds x ${#modes[@]} modes, $((pages * reps)) faults each" >&2
for r in $(seq "$rounds"); do
	for m in "${modes[@]}"; do
		start_tool "$m"
		measure >> "$tmp/$m"
		stop_tool
	done
	echo "  round $r: $(for m in "${modes[@]}"; do printf '%s=%s ' "$m" "$(tail -1 "$tmp/$m")"; done)" >&2
done

rate=()
for m in "${modes[@]}"; do
	rate+=("$(median < "$tmp/$m")")
done
none=${rate[0]} empty=${rate[1]}
printf '\n| mode | faults/s (median of %d) | vs none | ns/fault vs none | ns/fault vs empty |\n' "$rounds"
printf '|---|---:|---:|---:|---:|\n'
for i in "${!modes[@]}"; do
	awk -v m="${modes[$i]}" -v r="${rate[$i]}" -v n="$none" -v e="$empty" 'BEGIN {
		printf "| %s | %.0f | %.3f | %+.1f | %+.1f |\n", m, r, r / n, 1e9 / r - 1e9 / n, 1e9 / r - 1e9 / e }'
done
