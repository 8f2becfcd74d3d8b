#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# dynmemd on this host, as an operator runs it: the real daemon, real BPF, real cgroups
# under the cgroup2 mount, its real control socket and CLI. QEMU is played by
# tests/fakeqmp.py (this host cannot boot guests; the lab runs real QEMU). Proves: demand
# from guest reports, weight under shortage, shrinking rate-limited, a broken reload kept
# out, garbage and vanished QMP sockets survived, adoption of a QEMU with no cgroup, and
# relaxing on SIGTERM. Ends with "N passed, M failed".
set -uo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
out=$repo/.output
mount=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
tmp=$(mktemp -d /tmp/dynmem-daemon-test.XXXXXX)
cgtop=$mount/dynmem-daemon-test-$$
conf=$tmp/dynmem.conf
sock=$tmp/dynmem.sock
passed=0 failed=0
daemon_pid= fake_db= fake_rest= fake_adopt=
MiB=$((1 << 20))

cleanup() {
	local pid
	for pid in $daemon_pid $fake_db $fake_rest $fake_adopt; do
		kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	done
	tmux -L "dynmem-test-$$" kill-server 2>/dev/null
	tmux -L "dynmem-test-$$-narrow" kill-server 2>/dev/null
	rmdir "$cgtop"/*/ "$cgtop" "$mount/dynmem.slice/adopt.scope" "$mount/dynmem.slice" \
		2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap "exit 143" INT TERM # run cleanup on a signal too

ok() { echo "ok   $1"; passed=$((passed + 1)); }
not_ok() { echo "FAIL $1"; [[ -n ${2:-} ]] && echo "     $2"; failed=$((failed + 1)); }
check() { local name=$1; shift; if "$@"; then ok "$name"; else not_ok "$name"; fi; }

status() { DYNMEM_SOCKET=$sock "$out/dynmem" status --json; }
# vm NAME KEY: one field of one VM from the daemon's status; nothing (quietly: the checks poll
# it while the daemon starts) when there is none.
vm() { status 2>/dev/null | python3 -c "import json,sys; v=[v for v in json.load(sys.stdin)['vms'] if v['name']=='$1'][0]; print(v['$2'])" 2>/dev/null; }
# wait_for SECONDS CMD...: until CMD succeeds.
wait_for() {
	local deadline=$((SECONDS + $1)); shift
	until "$@"; do
		[[ $SECONDS -ge $deadline ]] && return 1
		sleep 0.2
	done
}

start_fake() { # start_fake VAR ARGS...: a fakeqmp process, its pid in VAR
	local var=$1; shift
	python3 "$repo/tests/fakeqmp.py" --log "$tmp/qmp.log" "$@" > "$tmp/fake.$var" 2>&1 &
	printf -v "$var" %s $!
	wait_for 5 grep -q ready "$tmp/fake.$var"
}

mkdir -p "$cgtop/db" "$cgtop/cache" "$cgtop/bad"
total_mb=$(awk '/^MemTotal:/ { print int($2 / 1024) }' /proc/meminfo)
# A host with 3 GiB for its VMs: everything else is the reserve.
write_config() {
	cat > "$conf" <<EOF
[host]
reserve = $((total_mb - 3072))M
interval = 500
control-socket = $sock
state-dir = $tmp/state

[export]
textfile = $tmp/dynmem.prom

[vm db]
cgroup = ${cgtop#$mount/}/db
qmp = $tmp/db.qmp
startup = 1G
minimum = 512M
maximum = 2G
weight = 8000

[vm cache]
cgroup = ${cgtop#$mount/}/cache
qmp = $tmp/cache.qmp
startup = 1G
minimum = 512M
maximum = 2G
weight = 2000

[vm bad]
cgroup = ${cgtop#$mount/}/bad
qmp = $tmp/bad.qmp
startup = 256M
maximum = 256M

[vm adopt]
qmp = $tmp/adopt.qmp
startup = 256M
maximum = 512M
EOF
}
write_config

# Guests of 2 GiB ballooned down to 1 GiB, each using 1800 MiB of it: both want their
# maximum (1800 * 1.2 > 2048), and 4 GiB of wants don't fit in 3.
start_fake fake_db --socket "$tmp/db.qmp:2048:1800:1024"
start_fake fake_rest --socket "$tmp/cache.qmp:2048:1800:1024" --garbage "$tmp/bad.qmp"
touch "$tmp/adopt.qmp.booting" # its guest's balloon driver has not reported yet
start_fake fake_adopt --socket "$tmp/adopt.qmp:512:128"

"$out/dynmemd" --config "$conf" --foreground > "$tmp/dynmemd.log" 2>&1 &
daemon_pid=$!

ready() { [[ $(vm db qmp_state) == ready && $(vm cache qmp_state) == ready ]]; }
if wait_for 10 ready; then ok "QMP sessions up with both fake QEMUs"; else
	not_ok "QMP sessions up" "$(status)"; fi

# Under shortage, weight decides: db (8000) ends with more than cache (2000).
settled() {
	local db cache
	db=$(vm db balloon_actual_bytes) cache=$(vm cache balloon_actual_bytes)
	[[ $db -gt $cache && $((db + cache)) -le $((3072 * MiB)) ]]
}
if wait_for 10 settled; then
	ok "short of memory: db $(($(vm db balloon_actual_bytes) / MiB)) MiB > cache $(($(vm cache balloon_actual_bytes) / MiB)) MiB, sum within the 3 GiB budget"
else
	not_ok "weight under shortage" "db $(vm db balloon_actual_bytes) cache $(vm cache balloon_actual_bytes)"
fi
check "demand comes from the guests' reports" [ "$(vm db demand_source)" = guest ]
avail_ok() {
	python3 -c "import sys; a, b = map(float, sys.argv[1:]); sys.exit(0 if a >= b else 1)" \
		"$(vm db availability_pct)" "$(vm cache availability_pct)"
}
check "the heavier VM has the better availability" avail_ok

# The guest's balloon really moved: fakeqmp got "balloon" with the target of each VM.
balloons() { grep -c "\"socket\": \"$tmp/$1.qmp\", \"execute\": \"balloon\"" "$tmp/qmp.log"; }
check "balloon requests reached QEMU" [ "$(balloons db)" -ge 1 ]

# Demand falls: cache now uses 200 MiB. It gives memory back, but at most 10% of what it
# has per step, not at once.
before=$(vm cache balloon_actual_bytes) db_before=$(vm db balloon_actual_bytes)
echo 200 > "$tmp/cache.qmp.used"
shrunk() { [[ $(vm cache balloon_actual_bytes) -lt $before ]]; }
if wait_for 10 shrunk; then
	after=$(vm cache balloon_actual_bytes)
	if [[ $((before - after)) -le $((before / 10 + MiB)) ]]; then
		ok "shrinking is rate-limited: $((before / MiB)) -> $((after / MiB)) MiB in one step ($(vm cache reason))"
	else
		not_ok "shrink step bounded" "$before -> $after"
	fi
else
	not_ok "cache gives memory back" "$(status)"
fi
# ... and db, heavier and short, takes what cache gave back.
db_grows() { [[ $(vm db balloon_actual_bytes) -gt $((db_before + 64 * MiB)) ]]; }
check "freed memory goes to the VM that wants it" wait_for 15 db_grows

# A balloon that lags behind its target (a busy guest inflates slowly): the shrink step is
# held where it was set, not pulled back up to the balloon's size on the next tick. Before
# this was fixed, the lab's guests had their targets go down and up every other second.
cache_targets() { sed -n 's/.*vm cache: target [^ ]* -> \([^ ]*\) .*/\1/p' "$tmp/dynmemd.log"; }
seen=$(cache_targets | wc -l)
touch "$tmp/cache.qmp.stuck"
echo 100 > "$tmp/cache.qmp.used"
stepped() { [[ $(cache_targets | wc -l) -gt $seen ]]; }
wait_for 10 stepped
sleep 3 # three ticks with the balloon stuck above the target
moves=$(cache_targets | tail -n +$((seen + 1)) | tr '\n' ' ')
never_up() { python3 -c "
import sys
unit = {'K': 1 << 10, 'M': 1 << 20, 'G': 1 << 30, 'T': 1 << 40}
m = [float(x[:-1]) * unit[x[-1]] if x[-1] in unit else float(x) for x in sys.argv[1:]]
sys.exit(0 if m and m == sorted(m, reverse=True) else 1)" $moves; }
check "a lagging balloon: the target only steps down ($moves)" never_up
rm -f "$tmp/cache.qmp.stuck"

# A QEMU answering garbage costs only its own session.
check "garbage on a QMP socket: that VM only" [ "$(vm bad qmp_state)" != ready ]
check "... and the daemon says what happened" grep -q "vm bad: QMP: .*garbage from QEMU" "$tmp/dynmemd.log"
check "... and counts it at its maximum until it is known" [ "$(vm bad reason)" = pending ]

# Adoption: the QEMU behind adopt.qmp had no cgroup; now it lives in dynmem.slice.
adopted() { grep -q "^0::/dynmem.slice/adopt.scope$" "/proc/$fake_adopt/cgroup"; }
check "a QEMU with only a QMP socket is adopted into dynmem.slice/adopt.scope" wait_for 5 adopted

# A guest still booting keeps what it booted with (Hyper-V's startup RAM) until it reports.
balloons_to() { grep -c "\"socket\": \"$tmp/$1.qmp\", \"execute\": \"balloon\"" "$tmp/qmp.log"; }
booting() { [[ $(vm adopt reason) == pending && $(vm adopt balloon_actual_bytes) -gt 0 ]]; }
check "a guest that has not reported yet is not planned (its balloon's size known)" wait_for 5 booting
check "... nor ballooned" [ "$(balloons_to adopt)" = 0 ]
rm "$tmp/adopt.qmp.booting"
planned() { [[ $(vm adopt reason) != pending ]]; }
check "... until its first report: then planned" wait_for 10 planned
check "... and ballooned ($(vm adopt target_bytes) B)" wait_for 10 test "$(balloons_to adopt)" -gt 0

# The Prometheus textfile: there, 0644, and valid for promtool.
# Each NUMA node's budget: within the node (its RAM less its share of the reserve).
node_budgets() {
	status | python3 -c "import json,sys; h=json.load(sys.stdin)['host']; n=h['numa_nodes']
sys.exit(not (0 < len(n) == h['nodes'] and all(0 < x['budget_bytes'] < x['total_bytes'] for x in n)))"
}
check "status says each NUMA node's budget" node_budgets
check "textfile written with mode 0644" [ "$(stat -c %a "$tmp/dynmem.prom")" = 644 ]
if promtool check metrics < "$tmp/dynmem.prom" > "$tmp/promtool.out" 2>&1; then
	ok "promtool check metrics accepts it ($(grep -c '^dynmem_' "$tmp/dynmem.prom") samples)"
else
	not_ok "promtool check metrics" "$(cat "$tmp/promtool.out")"
fi
check "... with each VM's assigned memory" grep -q '^dynmem_vm_assigned_bytes{vm="db"} [0-9]' "$tmp/dynmem.prom"
check "... and the observer's counters" grep -q '^dynmem_vm_host_faults_total{vm="adopt"} [0-9]' "$tmp/dynmem.prom"
check "no temp file left behind" [ -z "$(ls "$tmp" | grep 'dynmem.prom.tmp')" ]

# A broken reload keeps the running config.
echo "[vm db]" >> "$conf"
echo "weight = 12000" >> "$conf"
kill -HUP "$daemon_pid"
refused() { grep -q "reload refused" "$tmp/dynmemd.log"; }
check "a bad reload is refused with file:line" wait_for 5 refused
check "... and the running config is kept" [ "$(vm db weight)" = 8000 ]
write_config

# dynmem top, as a person uses it: in tmux, reading the screen and pressing keys.
export TMUX_SOCKET=dynmem-test-$$
tmx() { tmux -L "$TMUX_SOCKET" "$@"; }
screen() { tmx capture-pane -p -t top; }
on_screen() { screen | grep -q -- "$1"; }
tmx new-session -d -s top -x 160 -y 45 "bash --norc --noprofile"
tmx send-keys -t top "DYNMEM_SOCKET=$sock $out/dynmem top" Enter
check "top: the host header" wait_for 5 on_screen "dynmem top   host"
check "top: a row per VM" bash -c "$(declare -f tmx screen); for v in db cache bad adopt; do screen | grep -q \"^\$v \" || exit 1; done"
check "top: Hyper-V's columns and dynmem's" on_screen "ASSIGNED.*DEMAND.*AVAIL.*STATUS.*EPT/s.*HFLT/s.*LARGE.*REMOTE"
tmx send-keys -t top Down Enter
check "top: enter opens the detail pane of the selected VM" wait_for 3 on_screen "^-- .*: .*, reason"
check "top: ... with the observer's counters and rates" on_screen "host_faults .*/s"
tmx send-keys -t top s
check "top: s sorts by the next column" wait_for 3 on_screen "STATE *\^"
tmx send-keys -t top q
check "top: q quits and gives the terminal back" wait_for 3 bash -c "$(declare -f tmx screen); ! screen | grep -q 'dynmem top   host'"
tmx send-keys -t top "DYNMEM_SOCKET=$sock $out/dynmem top" Enter
wait_for 5 on_screen "dynmem top   host"
pkill -TERM -f "^$out/dynmem top" -P "$(tmx display -p -t top '#{pane_pid}')"
tmx send-keys -t top "stty -a | grep -o -- ' -\?icanon' | tr -d ' '" Enter
check "top: SIGTERM restores the terminal (cooked mode back)" wait_for 3 on_screen "^icanon$"
tmx kill-server
# A server of its own: a new session on a server still shutting down would die with it.
TMUX_SOCKET=$TMUX_SOCKET-narrow
tmx new-session -d -s top -x 80 -y 30 "DYNMEM_SOCKET=$sock $out/dynmem top"
narrow() { on_screen "NAME.*ASSIGNED.*DEMAND.*AVAIL.*STATUS" && ! on_screen "EPT/s" &&
	[[ $(screen | awk '{ if (length > m) m = length } END { print m }') -le 80 ]]; }
check "top: an 80-column terminal keeps the essential columns" wait_for 5 narrow
tmx kill-server
once=$(DYNMEM_SOCKET=$sock "$out/dynmem" top --once --width 120)
check "top --once prints one plain frame" grep -q "^db " <<< "$once"

# dynmem set: Hyper-V's rules for a running VM, validated like the file, persisted.
set_vm() { DYNMEM_SOCKET=$sock "$out/dynmem" set "$@" 2> "$tmp/set.err"; }
refused_with() { ! set_vm "${@:2}" && grep -q -- "$1" "$tmp/set.err"; }
check "set weight on a running VM" set_vm db weight=9000 buffer=30
applied() { [[ $(vm db weight) == 9000 && $(vm db buffer_pct) == 30 ]]; }
check "... applied" wait_for 3 applied
check "... and persisted" grep -q "^weight = 9000$" "$tmp/state/db.set"
check "set minimum down" set_vm db minimum=256M
check "raising the minimum is refused, saying why" refused_with "minimum can only go down" db minimum=768M
check "lowering the maximum is refused, saying why" refused_with "maximum can only go up" db maximum=1G
check "startup is refused while running" refused_with "startup cannot change" db startup=2G
check "a bad value is refused like in the file" refused_with "must be 0..10000" db weight=12000
check "an unknown VM is refused" refused_with "no such VM" nosuch weight=1
check "all or nothing: weight unchanged after a refused pair" \
	bash -c "! DYNMEM_SOCKET=$sock $out/dynmem set db weight=100 minimum=900M 2>/dev/null && [ \"\$(DYNMEM_SOCKET=$sock $out/dynmem status --json | python3 -c 'import json,sys; print([v for v in json.load(sys.stdin)[\"vms\"] if v[\"name\"]==\"db\"][0][\"weight\"])')\" = 9000 ]"

# QEMU goes away and comes back.
kill "$fake_db"; wait "$fake_db" 2>/dev/null; fake_db=
down() { [[ $(vm db qmp_state) != ready ]]; }
check "a vanished QMP socket is noticed" wait_for 5 down
check "... while the other VMs are still served" [ "$(vm cache qmp_state)" = ready ]
start_fake fake_db --socket "$tmp/db.qmp:2048:1800:1024"
up() { [[ $(vm db qmp_state) == ready ]]; }
check "... and reconnected when QEMU is back" wait_for 10 up

# SIGTERM: the daemon exits cleanly and asks each balloon to stay where it is.
actual=$(vm cache balloon_actual_bytes)
kill -TERM "$daemon_pid"
wait "$daemon_pid"; rc=$?; daemon_pid=
check "SIGTERM: exit 0" [ "$rc" -eq 0 ]
last_cache=$(grep "\"socket\": \"$tmp/cache.qmp\", \"execute\": \"balloon\"" "$tmp/qmp.log" | tail -1 |
	python3 -c "import json,sys; print(json.load(sys.stdin)['arguments']['value'])")
check "... and cache's balloon is held at its size at exit ($((actual / MiB)) MiB)" [ "$last_cache" = "$actual" ]
check "... and the socket is gone" [ ! -e "$sock" ]

# A restart keeps what dynmem set changed.
"$out/dynmemd" --config "$conf" --foreground > "$tmp/dynmemd2.log" 2>&1 &
daemon_pid=$!
persisted() { [[ $(vm db weight) == 9000 && $(vm db minimum_bytes) == $((256 * MiB)) ]] 2>/dev/null; }
check "after a restart the set values hold" wait_for 5 persisted
kill -TERM "$daemon_pid"; wait "$daemon_pid"; daemon_pid=

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]] || { echo "--- dynmemd log"; cat "$tmp/dynmemd.log"; exit 1; }
