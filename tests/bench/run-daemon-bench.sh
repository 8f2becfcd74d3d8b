#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# dynmemd at scale and its reaction time, on this host:
#   1. NR_VMS VMs (default 100), each with a cgroup of its own and a QMP endpoint
#      (tests/fakeqmp.py serves them all), watched for SECONDS (default 30) at the
#      default 1 s tick: the daemon's RSS and CPU share, and the cost of a tick.
#   2. Reaction: a guest's demand jumps (its report says it uses 1.5 GiB, not 128 MiB);
#      the time until the balloon request carrying the new target reaches QEMU.
#      Repeated ROUNDS times (default 10), each time with another guest.
# Prints Markdown tables. The fake QEMU's own CPU is not counted: it is not dynmem.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
out=$repo/.output
nr_vms=${NR_VMS:-100}
seconds=${SECONDS_RUN:-30}
rounds=${ROUNDS:-10}
mount=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
tmp=$(mktemp -d /tmp/dynmem-bench.XXXXXX)
cgtop=$mount/dynmem-bench-$$
pids=()

cleanup() {
	local pid
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
	rmdir "$cgtop"/*/ "$cgtop" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap "exit 143" INT TERM # run cleanup on a signal too
[[ $(id -u) -eq 0 ]] || { echo "daemon-bench: needs root" >&2; exit 1; }

mkdir -p "$cgtop"
{
	echo "[host]"
	echo "reserve = 1G"
	echo "control-socket = $tmp/dynmem.sock"
	echo "state-dir = $tmp/state"
} > "$tmp/dynmem.conf"
fake_args=()
for i in $(seq "$nr_vms"); do
	mkdir -p "$cgtop/vm$i"
	fake_args+=(--socket "$tmp/vm$i.qmp:2048:128:1024")
	cat >> "$tmp/dynmem.conf" <<EOF

[vm vm$i]
cgroup = ${cgtop#$mount/}/vm$i
qmp = $tmp/vm$i.qmp
startup = 1G
minimum = 128M
maximum = 2G
EOF
done
python3 "$repo/tests/fakeqmp.py" --log "$tmp/qmp.log" "${fake_args[@]}" > "$tmp/fake.out" 2>&1 &
pids+=($!)
until grep -q ready "$tmp/fake.out"; do sleep 0.1; done

"$out/dynmemd" --config "$tmp/dynmem.conf" --foreground 2> "$tmp/dynmemd.log" &
daemon=$!
pids+=("$daemon")
status() { DYNMEM_SOCKET=$tmp/dynmem.sock "$out/dynmem" status --json; }
until status 2>/dev/null | grep -q '"qmp_state":"ready"'; do sleep 0.2; done
sleep 3 # every session up, the first plans made

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$daemon/stat"; }
hz=$(getconf CLK_TCK)
t0=$(cpu_ticks) s0=$(date +%s.%N)
sleep "$seconds"
t1=$(cpu_ticks) s1=$(date +%s.%N)
rss_kb=$(awk '/^VmRSS:/ { print $2 }' "/proc/$daemon/status")
hwm_kb=$(awk '/^VmHWM:/ { print $2 }' "/proc/$daemon/status")
tick_us=$(status | python3 -c "import json,sys; print(json.load(sys.stdin)['host']['tick_cost_ns'] / 1000)")
ready=$(status | grep -o '"qmp_state":"ready"' | wc -l)

echo "| VMs | QMP sessions up | RSS | peak RSS | CPU (share of one core) | last tick |"
echo "|---:|---:|---:|---:|---:|---:|"
awk -v n="$nr_vms" -v up="$ready" -v rss="$rss_kb" -v hwm="$hwm_kb" -v t0="$t0" -v t1="$t1" \
	-v s0="$s0" -v s1="$s1" -v hz="$hz" -v tick="$tick_us" 'BEGIN {
	printf "| %d | %d | %.1f MB | %.1f MB | %.2f%% | %.0f us |\n", n, up, rss / 1024, hwm / 1024,
		(t1 - t0) / hz / (s1 - s0) * 100, tick }'

# Reaction: a guest goes from using 128 MiB to 1.5 GiB; wait for "balloon" with a larger
# value. (A guest can only report what it has: a full guest grows by its buffer per tick.)
# Each round takes a guest of its own: one guest used again would start high, its shrink
# being rate-limited (10% per 5 s), and soon have what it needs before its demand jumped.
echo
echo "| round | demand jump to new target at QEMU |"
echo "|---:|---:|"
for r in $(seq "$rounds"); do
	vm=vm$(((r - 1) % nr_vms + 1))
	lines=$(wc -l < "$tmp/qmp.log")
	before=$(grep "$vm.qmp\", \"execute\": \"balloon\"" "$tmp/qmp.log" | tail -1 |
		python3 -c "import json,sys; l=sys.stdin.read().strip(); print(json.loads(l)['arguments']['value'] if l else 0)")
	start=$(date +%s%N) deadline=$((SECONDS + 30))
	echo 1500 > "$tmp/$vm.qmp.used"
	until [[ $SECONDS -ge $deadline ]] || tail -n +"$((lines + 1))" "$tmp/qmp.log" | grep "$vm.qmp\", \"execute\": \"balloon\"" |
		python3 -c "import json,sys; sys.exit(0 if any(json.loads(l)['arguments']['value'] > $before for l in sys.stdin) else 1)"; do
		sleep 0.02
	done
	echo "| $r | $((($(date +%s%N) - start) / 1000000)) ms |"
	echo 128 > "$tmp/$vm.qmp.used"
	sleep 2 # apart, so that each round starts at an arbitrary point of the tick
done
