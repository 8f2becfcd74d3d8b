#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# The dynamic-memory scenario, inside the lab, shared by lab test 5 and the demo:
#   heavy   weight 8000, 192M..640M, demand 64M, then up to 400M in steps, then 96M
#   light   weight 2000, 192M..640M, demand 64M, then up to 256M in steps, then 64M
#   steady  weight 5000, 128M..384M, demand 96M throughout
# dynmemd (cgroup + balloon) manages them. Once it has measured the QEMUs' overhead, the
# reserve is set (by a reload) so that the VMs share BUDGET_MIB (default 1300 MiB): more
# than the guests need at their peak, less than they want with their buffers, so the host
# runs short and weight decides. Records `dynmem status --json` every second in
# $SCENARIO_DIR/samples.jsonl; with SCENARIO_TOP=1 prints a `dynmem top` frame every
# SCENARIO_TOP_EVERY seconds. Stops everything it started.
#
#   SCENARIO_DIR=DIR scenario.sh run
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
LAB_GUEST=$REPO/scripts/lab-guest.sh
DIR=${SCENARIO_DIR:?set SCENARIO_DIR}
SECONDS_RUN=${SCENARIO_SECONDS:-110}
BUDGET_MIB=${BUDGET_MIB:-1300}
NUMA_SPANNING=${NUMA_SPANNING:-yes}
GUESTS=(heavy light steady)
daemon=

declare -A WEIGHT=([heavy]=8000 [light]=2000 [steady]=5000)
declare -A MIN=([heavy]=192M [light]=192M [steady]=128M)
# Hyper-V's startup RAM: what dynmemd places a VM by. The guests boot with their maximum.
declare -A STARTUP_MIB=([heavy]=384 [light]=384 [steady]=256)
declare -A MAX_MIB=([heavy]=512 [light]=512 [steady]=384)
declare -A BUFFER=([heavy]=50 [light]=50 [steady]=20)
# Demand rises in steps of a few seconds, as real workloads ramp: a guest can only report
# what it has, so it climbs by its buffer each tick.
declare -A DEMAND=(
	[heavy]="64M:60,128M:3,192M:3,256M:3,320M:30,96M:0"
	[light]="64M:60,128M:3,192M:36,64M:0"
	[steady]="96M:0"
)

say() { echo "scenario: $*" >&2; }

cleanup() {
	local g
	if [[ -n $daemon ]]; then
		kill "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null
	fi
	for g in "${GUESTS[@]}"; do
		cp "$("$LAB_GUEST" log-path "$g")" "$DIR/$g.console.log" 2>/dev/null || true
		"$LAB_GUEST" stop "$g" 2>/dev/null || true
	done
}
trap cleanup EXIT
trap 'exit 143' INT TERM

write_config() { # write_config RESERVE
	{
		printf '[host]\nreserve = %s\ninterval = 1000\nnuma-spanning = %s\n' "$1" "$NUMA_SPANNING"
		printf 'control-socket = %s/dynmem.sock\nstate-dir = %s/state\n' "$DIR" "$DIR"
		printf '\n[export]\ntextfile = %s/dynmem.prom\n' "$DIR"
		for g in "${GUESTS[@]}"; do
			printf '\n[vm %s]\ncgroup = machine.slice/%s.scope\nqmp = %s\n' "$g" "$g" \
				"$("$LAB_GUEST" qmp-path "$g")"
			printf 'startup = %sM\nminimum = %s\nmaximum = %sM\n' "${STARTUP_MIB[$g]}" \
				"${MIN[$g]}" "${MAX_MIB[$g]}"
			printf 'buffer = %s\nweight = %s\nenforcers = %s\n' "${BUFFER[$g]}" \
				"${WEIGHT[$g]}" "cgroup, balloon$([[ $NUMA_SPANNING == no ]] && echo ', numa')"
		done
	} >"$DIR/dynmem.conf"
}

status() { DYNMEM_SOCKET=$DIR/dynmem.sock "$REPO/.output/dynmem" status --json; }

# Every guest's QEMU overhead measured: the reserve can then be set for BUDGET_MIB exactly.
overheads_known() {
	status 2>/dev/null | python3 -c '
import json, sys
vms = json.load(sys.stdin)["vms"]
sys.exit(0 if vms and all(v["overhead_bytes"] > 0 and v["qmp_state"] == "ready" for v in vms) else 1)'
}

set_budget() {
	local reserve
	reserve=$(status | python3 -c "
import json, sys
h = json.load(sys.stdin)['host']
print(max(0, (h['total_bytes'] - h['overhead_bytes']) // (1 << 20) - $BUDGET_MIB))")
	write_config "${reserve}M"
	kill -HUP "$daemon"
	say "reserve ${reserve} MiB: the VMs share about $BUDGET_MIB MiB"
}

run() {
	local g start t
	mkdir -p "$DIR"
	for g in "${GUESTS[@]}"; do
		"$LAB_GUEST" start "$g" --mem "${MAX_MIB[$g]}" --append "dynmem.demand=${DEMAND[$g]}"
	done
	# dynmemd watches from the start: the guests' schedules run from their boot.
	write_config 0
	"$REPO/.output/dynmemd" --config "$DIR/dynmem.conf" --foreground 2>"$DIR/dynmemd.log" &
	daemon=$!
	for g in "${GUESTS[@]}"; do
		"$LAB_GUEST" wait "$g" 180 || {
			say "guest $g did not come up; its console and QEMU's log:"
			tail -n 30 "$("$LAB_GUEST" log-path "$g")" /run/dynmem-lab/"$g".qemu.log >&2
			dmesg | tail -n 25 >&2
			free -m >&2
			exit 1
		}
	done
	say "3 guests up"
	for ((t = 0; t < 60; t++)); do
		overheads_known && break
		sleep 1
	done
	overheads_known || { say "dynmemd did not see the guests: read $DIR/dynmemd.log"; exit 1; }
	set_budget
	start=$SECONDS
	: >"$DIR/samples.jsonl"
	while ((SECONDS - start < SECONDS_RUN)); do
		printf '{"t": %d, "status": %s}\n' $((SECONDS - start)) "$(status)" >>"$DIR/samples.jsonl"
		if [[ -n ${SCENARIO_TOP:-} ]] && (((SECONDS - start) % ${SCENARIO_TOP_EVERY:-10} == 0)); then
			echo
			DYNMEM_SOCKET=$DIR/dynmem.sock "$REPO/.output/dynmem" top --once --width 150
		fi
		sleep 1
	done
	for g in "${GUESTS[@]}"; do
		cat "$("$LAB_GUEST" cgroup "$g")/memory.high" >"$DIR/$g.memory.high" || true
		cat "$("$LAB_GUEST" cgroup "$g")/memory.numa_stat" >"$DIR/$g.numa_stat" || true
	done
	kill -TERM "$daemon"
	wait "$daemon" || say "dynmemd exited with $?"
	daemon=
	for g in "${GUESTS[@]}"; do
		cat "$("$LAB_GUEST" cgroup "$g")/memory.high" >"$DIR/$g.memory.high.after-exit" || true
	done
}

case ${1:-} in
run) run ;;
*) echo "usage: SCENARIO_DIR=DIR $0 run" >&2; exit 2 ;;
esac
