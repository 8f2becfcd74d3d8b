#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-only
#
# Real QEMU/KVM guests inside the lab, started and stopped by name, for the lab tests and the
# demo. Runs inside scripts/lab.sh, which provides the kernel and the guest initramfs.
#
#   lab-guest.sh start NAME --mem MAX_MB [--cpus N] [--node N | --cpu-node N] [--no-thp]
#                          [--follow] [--append "KERNEL ARGS"]
#   lab-guest.sh wait NAME [SECONDS]      until the guest's init runs (default 180 s)
#   lab-guest.sh stop NAME
#   lab-guest.sh demand NAME SIZE         what a dynmem.demand=follow workload wants now
#   lab-guest.sh qmp NAME COMMAND [ARGUMENTS-JSON] [-f FIELD]
#   lab-guest.sh qmp-path|log-path|pid|cgroup NAME
#   lab-guest.sh cgroup-root              the cgroup2 mount
#
# A guest is Debian's kernel with scripts/lab/guest-init.sh as init (the demand workload
# follows a dynmem.demand= schedule given with --append), -m MAX_MB as its maximum,
# virtio-balloon (id balloon0, stats every second), a QMP socket, its console in a log, and its
# own cgroup machine.slice/NAME.scope, pinned to NUMA node N with --node (its CPUs alone with
# --cpu-node: moving a running nested guest's vCPUs between the lab's CPUs can hang the lab's
# kernel under TCG, so a test that lets dynmemd pin guests starts them on the right CPUs).
# With --follow its workload wants what $STATE/NAME.ctl/demand says (the demand verb writes
# it), shared read-only over 9p on the guest's /ctl.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATE=${DYNMEM_LAB_GUEST_DIR:-/run/dynmem-lab}
# A bound for a QEMU that never comes up, not a performance target: QEMU starts in 3-12 s in
# the lab, and much slower when the machine also runs something else.
QMP_WAIT=${DYNMEM_LAB_QMP_WAIT:-120}

die() {
	echo "lab-guest: $*" >&2
	exit 1
}

usage() {
	sed -n '7,14s/^# \{0,3\}//p' "${BASH_SOURCE[0]}" >&2
	exit 2
}

valid_name() {
	[[ $1 =~ ^[A-Za-z0-9_-]+$ ]] || die "bad guest name '$1' (letters, digits, - and _)"
}

# The cgroup2 mount, from mountinfo: the field after " - " is the filesystem type.
cgroup_root() {
	local root
	root=$(awk '{
		for (i = 7; i < NF; i++)
			if ($i == "-") {
				if ($(i + 1) == "cgroup2")
					print $5
				break
			}
	}' /proc/self/mountinfo | head -n1)
	[[ -n $root ]] || die "no cgroup2 mount in /proc/self/mountinfo"
	echo "$root"
}

scope_dir() {
	local root
	root=$(cgroup_root)
	echo "$root/machine.slice/$1.scope"
}

# machine.slice/NAME.scope with memory and cpuset; --node pins its CPUs and memory there.
make_scope() {
	local scope=$1 node=$2 cpu_node=$3 slice
	slice=$(dirname "$scope")
	mkdir -p "$slice"
	echo "+memory +cpuset" >"$slice/cgroup.subtree_control" ||
		die "cannot enable memory and cpuset in $slice"
	mkdir -p "$scope"
	cpu_node=${node:-$cpu_node}
	if [[ -n $cpu_node ]]; then
		[[ -r /sys/devices/system/node/node$cpu_node/cpulist ]] || die "no NUMA node $cpu_node"
		cat "/sys/devices/system/node/node$cpu_node/cpulist" >"$scope/cpuset.cpus"
	fi
	[[ -z $node ]] || echo "$node" >"$scope/cpuset.mems"
}

alive() {
	local pid
	pid=$(cat "$STATE/$1.pid" 2>/dev/null) && kill -0 "$pid" 2>/dev/null
}

# Stop the guest's QEMU by its pid (TERM, then KILL after 10 s) and remove its cgroup.
stop_guest() {
	local name=$1 pid i scope
	pid=$(cat "$STATE/$name.pid" 2>/dev/null || true)
	if [[ -n $pid ]] && kill "$pid" 2>/dev/null; then
		for ((i = 0; i < 100; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$pid" 2>/dev/null || true
	fi
	# The cgroup can be removed once the killed QEMU has really exited.
	scope=$(scope_dir "$name")
	for ((i = 0; i < 50; i++)); do
		[[ -d $scope ]] || break
		rmdir "$scope" 2>/dev/null && break
		sleep 0.1
	done
	rm -f "$STATE/$name.pid" "$STATE/$name.qmp"
	rm -rf "$STATE/$name.ctl"
}

# Atomically, so the guest never reads half a size.
set_demand() {
	local name=$1 size=${2:-}
	[[ $size =~ ^[0-9]+[KMG]?$ ]] || die "demand $name: want a size like 300M, got '$size'"
	[[ -d $STATE/$name.ctl ]] || die "demand $name: no such guest"
	echo "$size" >"$STATE/$name.ctl/demand.tmp"
	mv "$STATE/$name.ctl/demand.tmp" "$STATE/$name.ctl/demand"
}

# exec QEMU with transparent huge pages off for it alone (prctl PR_SET_THP_DISABLE, inherited
# across exec), leaving the lab's setting to everything else.
exec_without_thp() {
	exec python3 -c 'import ctypes, os, sys
if ctypes.CDLL(None, use_errno=True).prctl(41, 1, 0, 0, 0):
    sys.exit(f"lab-guest: prctl(PR_SET_THP_DISABLE): {os.strerror(ctypes.get_errno())}")
os.execvp(sys.argv[1], sys.argv[1:])' "$@"
}

start_guest() {
	local name=$1 mem='' cpus=1 node='' cpu_node='' append='' why='' scope pid deadline
	local launch=exec
	local share=()
	shift
	while (($#)); do
		case $1 in
		--no-thp) launch=exec_without_thp; shift; continue ;;
		--follow)
			share=(-virtfs "local,path=$STATE/$name.ctl,mount_tag=dynmemctl,security_model=none,readonly=on,multidevs=remap")
			append+=" dynmem.demand=follow"
			shift
			continue
			;;
		--mem) mem=$2 ;;
		--cpus) cpus=$2 ;;
		--node) node=$2 ;;
		--cpu-node) cpu_node=$2 ;;
		--append) append="$2$append" ;;
		*) usage ;;
		esac
		shift 2 || usage
	done
	[[ $mem =~ ^[0-9]+$ ]] || die "start $name: --mem MAX_MB is required, in MiB"
	[[ -n ${DYNMEM_LAB_KERNEL:-} && -n ${DYNMEM_LAB_GUEST_INITRD:-} ]] ||
		die "start $name: run inside the lab (scripts/lab.sh run ...)"
	[[ -c /dev/kvm ]] || die "start $name: no /dev/kvm (kvm-amd not loaded?)"
	! alive "$name" || die "start $name: already running (pid $(cat "$STATE/$name.pid"))"
	mkdir -p "$STATE"
	rm -f "$STATE/$name".{qmp,log,qemu.log,resets,resets-at-start}
	rm -rf "$STATE/$name.ctl"
	mkdir "$STATE/$name.ctl"
	scope=$(scope_dir "$name")
	make_scope "$scope" "$node" "$cpu_node"
	# The subshell joins the cgroup first, then becomes QEMU: every page QEMU touches is
	# charged there, and $! is QEMU's pid. No -no-reboot: nested SVM under TCG very rarely
	# resets a guest early in its boot, and a reboot recovers (wait_guest reports it).
	(
		echo "$BASHPID" >"$scope/cgroup.procs"
		$launch qemu-system-x86_64 -name "$name" -enable-kvm -cpu host -smp "$cpus" -m "$mem" \
			-nodefaults -display none -d cpu_reset -D "$STATE/$name.resets" \
			-kernel "$DYNMEM_LAB_KERNEL" -initrd "$DYNMEM_LAB_GUEST_INITRD" \
			-append "console=ttyS0 quiet panic=-1 $append" \
			-device virtio-balloon-pci,id=balloon0,guest-stats-polling-interval=1 \
			"${share[@]}" \
			-qmp "unix:$STATE/$name.qmp,server=on,wait=off" \
			-serial "file:$STATE/$name.log"
	) </dev/null >"$STATE/$name.qemu.log" 2>&1 &
	pid=$!
	echo "$pid" >"$STATE/$name.pid"
	deadline=$((SECONDS + QMP_WAIT))
	while [[ ! -S $STATE/$name.qmp ]]; do
		if ! kill -0 "$pid" 2>/dev/null; then
			why="QEMU exited before its QMP socket appeared"
			break
		elif ((SECONDS >= deadline)); then
			why="no QMP socket after $QMP_WAIT s"
			break
		fi
		sleep 0.1
	done
	# The socket exists before QEMU has loaded the kernel; an answer means it got past that.
	if [[ -z $why ]] && ! "$REPO/scripts/lab/qmp.py" -t "$QMP_WAIT" "$STATE/$name.qmp" \
		query-status >/dev/null 2>&1; then
		why="QEMU did not answer on its QMP socket"
	fi
	if [[ -z $why ]]; then
		resets "$name" >"$STATE/$name.resets-at-start"
		return 0
	fi
	echo "lab-guest: start $name: $why; read $STATE/$name.qemu.log and $STATE/$name.log" >&2
	tail -n 5 "$STATE/$name.qemu.log" | sed 's/^/lab-guest:   /' >&2
	stop_guest "$name"
	exit 1
}

# QEMU logs every CPU reset (-d cpu_reset); more than at power-on means a guest reset.
resets() {
	grep -c '^CPU Reset' "$STATE/$1.resets" 2>/dev/null || true
}

# Until the guest's init prints "guest: ready" on its console; notes a reset on the way.
wait_guest() {
	local name=$1 seconds=${2:-180} deadline extra
	deadline=$((SECONDS + seconds))
	while ((SECONDS < deadline)); do
		if grep -q '^guest: ready' "$STATE/$name.log" 2>/dev/null; then
			extra=$(($(resets "$name") - $(cat "$STATE/$name.resets-at-start")))
			((extra == 0)) || echo "lab-guest: note: $name was reset while booting" \
				"($extra more CPU resets than at power-on); see $STATE/$name.log" >&2
			return 0
		fi
		if ! alive "$name"; then
			tail -n 5 "$STATE/$name.qemu.log" "$STATE/$name.log" | sed 's/^/lab-guest:   /' >&2
			die "$name: QEMU is gone; read $STATE/$name.qemu.log and $STATE/$name.log"
		fi
		sleep 0.1
	done
	if [[ ! -s $STATE/$name.log ]]; then
		# Not a byte from its firmware or kernel: its vCPU never ran, which the lab's nested
		# SVM emulated by TCG does now and then (seen with no dynmemd at all): the lab's
		# failure, worth a new lab (scripts/lab.sh: 75).
		echo "lab-guest: $name: its console is empty after $seconds s: the lab's emulation" >&2
		exit 75
	fi
	tail -n 5 "$STATE/$name.log" | sed 's/^/lab-guest:   /' >&2
	die "$name: not booted after $seconds s; read its console log $STATE/$name.log"
}

main() {
	local verb=${1:-} name=${2:-}
	[[ $verb != cgroup-root ]] || { cgroup_root; return; }
	[[ -n $name ]] || usage
	valid_name "$name"
	shift 2
	case $verb in
	start) start_guest "$name" "$@" ;;
	wait) wait_guest "$name" "$@" ;;
	stop) stop_guest "$name" ;;
	demand) set_demand "$name" "$@" ;;
	qmp) "$REPO/scripts/lab/qmp.py" "$STATE/$name.qmp" "$@" ;;
	qmp-path) echo "$STATE/$name.qmp" ;;
	log-path) echo "$STATE/$name.log" ;;
	pid) cat "$STATE/$name.pid" ;;
	cgroup) scope_dir "$name" ;;
	*) usage ;;
	esac
}

# On one line: bash has read all of it before running, so editing this file meanwhile is safe.
main "$@"; exit
