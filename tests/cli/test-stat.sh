#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# dynmem stat as an operator runs it: the real binary, real BPF, a real cgroup with a
# workload in it. Checks the JSON frames and the errors an operator can run into.
# Ends with "N passed, M failed".
set -uo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
dynmem=$repo/.output/dynmem
touch_pages=$repo/.output/touch-pages
mount=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
cg=$mount/dynmem-cli-test-$$
tmp=$(mktemp -d)
passed=0 failed=0 pids=()

cleanup() {
	local pid
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
	rmdir "$cg" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap "exit 143" INT TERM # run cleanup on a signal too

ok() { echo "ok   $1"; passed=$((passed + 1)); }
not_ok() { echo "FAIL $1: $2"; failed=$((failed + 1)); }

# expect_error NAME PATTERN ARGS...: dynmem stat fails (exit != 0) saying PATTERN.
expect_error() {
	local name=$1 pattern=$2 rc
	shift 2
	"$@" > "$tmp/out" 2> "$tmp/err"
	rc=$?
	if [[ $rc -ne 0 ]] && grep -q -- "$pattern" "$tmp/err"; then
		ok "$name (exit $rc: $(head -1 "$tmp/err"))"
	else
		not_ok "$name" "exit $rc, stderr: $(cat "$tmp/err")"
	fi
}

# A workload that faults 1024 pages every 50 ms (about 20k faults/s) in its own cgroup.
mkdir "$cg"
sh -c 'echo $$ > "$1/cgroup.procs" && exec "$2" --pages 1024 --rounds 0 --pause-ms 50' \
	sh "$cg" "$touch_pages" &
pids+=($!)

"$dynmem" stat --json --count 3 --interval 300 "$cg" > "$tmp/frames" 2> "$tmp/err"
rc=$?
python3 - "$tmp/frames" "$cg" <<'PY' > "$tmp/check" 2>&1
import json, sys
frames = [json.loads(l) for l in open(sys.argv[1])]
assert len(frames) == 3, f"{len(frames)} frames, wanted 3"
names = ["host_faults", "ept_faults", "ept_writes", "map_4k", "map_2m", "map_1g",
         "map_remote", "alloc_local", "alloc_remote", "huge_splits", "unmaps",
         "unmapped_bytes", "age_scans", "async_pf", "reclaims"]
for f in frames:
    assert 250e6 <= f["interval_ns"] <= 1e9, f["interval_ns"]
    assert f["lost_events"] == 0
    assert f["hooks"]["page_fault_user"] in ("raw", "tp"), f["hooks"]
    vm, host = f["cgroups"]
    assert vm["cgroup"] == sys.argv[2] and vm["id"] > 0 and host["cgroup"] == "host"
    for n in names:
        assert isinstance(vm[n], int) and n in vm["rates"], n
last = frames[-1]["cgroups"][0]
# 1024 faults per round of touching plus a 50 ms pause: thousands per second, not a trickle.
assert last["rates"]["host_faults"] > 2000, last["rates"]
assert last["host_faults"] >= frames[0]["cgroups"][0]["host_faults"]
assert last["ept_faults"] == 0  # no guest ran in this cgroup
print(f"host_faults {last['host_faults']}, {last['rates']['host_faults']:.0f}/s")
PY
py_rc=$?
if [[ $rc -eq 0 && $py_rc -eq 0 ]]; then
	ok "json frames: $(cat "$tmp/check")"
else
	not_ok "json frames" "exit $rc; $(cat "$tmp/check" "$tmp/err")"
fi

"$dynmem" stat --count 1 --interval 100 "$cg" > "$tmp/text" 2>/dev/null
if grep -q '^hooks: page_fault_user=' "$tmp/text" && grep -q '^host_faults ' "$tmp/text" &&
	grep -q "dynmem-cli-test-$$" "$tmp/text"; then
	ok "text frame has the hooks line, the counters and the cgroup"
else
	not_ok "text frame" "$(cat "$tmp/text")"
fi

expect_error "missing cgroup" "no cgroup 'dynmem-no-such-cgroup'" \
	"$dynmem" stat --count 1 dynmem-no-such-cgroup
v1=$(awk '$9 == "cgroup" { print $5; exit }' /proc/self/mountinfo)
if [[ -n $v1 ]]; then
	expect_error "cgroup v1 path refused" "cgroup v1 hierarchy" "$dynmem" stat --count 1 "$v1"
else
	ok "cgroup v1 path refused (no v1 hierarchy mounted on this host: nothing to refuse)"
fi
expect_error "not root" "needs root" setpriv --reuid=65534 --regid=65534 --clear-groups \
	"$dynmem" stat --count 1 "$cg"
expect_error "bad interval" "milliseconds from 10" "$dynmem" stat --interval 0 "$cg"
expect_error "unknown hook" "unknown hook 'nope'" "$dynmem" stat --no-hook nope "$cg"

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
