#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# The demo, for now: the observer at work. Two workloads, each in a cgroup of its own
# under the cgroup2 mount (one faults memory in steadily, one in bursts), watched by
# `dynmem stat` for DEMO_SECONDS (default 8). Everything it starts, it stops by pid.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
out=$repo/.output
seconds=${DEMO_SECONDS:-8}
pids=()

die() { echo "demo: $*" >&2; exit 1; }

[[ $(id -u) -eq 0 ]] || die "needs root: dynmem stat loads BPF programs"
mount=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
[[ -n $mount ]] || die "no cgroup v2 mounted (mount -t cgroup2 none /sys/fs/cgroup)"
top=$mount/dynmem-demo-$$

cleanup() {
	local pid
	for pid in "${pids[@]}"; do
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	rmdir "$top"/steady "$top"/bursty "$top" 2>/dev/null || true
}
trap cleanup EXIT
trap "exit 143" INT TERM # run cleanup on a signal too

# start NAME ARGS...: runs touch-pages in $top/NAME.
start() {
	local name=$1; shift
	mkdir -p "$top/$name"
	sh -c 'echo $$ > "$1/cgroup.procs" && shift && exec "$@"' sh "$top/$name" \
		"$out/touch-pages" "$@" &
	pids+=($!)
}

# steady: 8 MiB of fresh pages every 100 ms; bursty: 400 MiB at once every 3 s.
start steady --pages 2048 --rounds 0 --pause-ms 100
start bursty --pages 102400 --rounds 0 --pause-ms 3000

echo "demo: workloads in $top/steady and $top/bursty; watching for $seconds s"
echo
"$out/dynmem" stat --interval 1000 --count "$seconds" "$top/steady" "$top/bursty"
echo "demo: done; stopping the workloads and removing $top"
