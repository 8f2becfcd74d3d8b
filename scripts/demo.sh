#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# The demo: three small KVM guests with different weights and demand schedules, dynmemd
# giving each the memory it needs while demand rises and falls and the host runs short, with
# a `dynmem top` frame every few seconds, then a summary per VM. On a host that can run KVM
# guests and has a cgroup v2 memory controller it runs right here; anywhere else inside the
# lab (scripts/lab.sh). About ten minutes in the lab; DEMO_TOP_EVERY sets the seconds between
# two frames (default 10).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)

die() { echo "demo: $*" >&2; exit 1; }

# Real KVM (not a paravirtual stand-in) and cgroup v2 with memory: no lab needed.
host_can_run_guests() {
	local mount
	mount=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
	[[ -c /dev/kvm && (-d /sys/module/kvm_intel || -d /sys/module/kvm_amd) ]] &&
		[[ -n $mount ]] && grep -qw memory "$mount/cgroup.controllers"
}

inside() {
	local dir=/tmp/dynmem-demo
	rm -rf "$dir"
	mkdir -p "$dir"
	echo "demo: starting three guests (heavy: weight 8000, light: 2000, steady: 5000)"
	"$repo/tests/lab/scenario.py" "$dir" --top "${DEMO_TOP_EVERY:-10}"
	echo
	python3 "$repo/scripts/demo-summary.py" "$dir"
}

[[ $(id -u) -eq 0 ]] || die "needs root: dynmemd loads BPF programs and sets cgroup limits"
if [[ ${1:-} == --inside ]]; then
	inside
elif host_can_run_guests; then
	# The lab's Debian kernel and guest initramfs serve as the demo's guests here too.
	"$repo/scripts/lab.sh" prepare
	cache=${DYNMEM_LAB_CACHE:-$repo/.lab}
	DYNMEM_LAB_KERNEL=$(ls "$cache"/kernel/vmlinu* | head -n1) \
		DYNMEM_LAB_GUEST_INITRD=$cache/guest-initrd.cpio inside
else
	echo "demo: this host cannot boot KVM guests with cgroup v2 memory limits; running in the lab"
	# The scenario's phases are bounded (boot, settle, rise, fall): 25 minutes covers them all.
	DYNMEM_LAB_TIMEOUT=${DYNMEM_LAB_TIMEOUT:-1500} \
		"$repo/scripts/lab.sh" run scripts/demo.sh --inside # relative: lab.sh runs it in the repo
fi
