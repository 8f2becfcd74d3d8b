#!/bin/busybox sh
# SPDX-License-Identifier: GPL-2.0-only
#
# /init of the lab VM (busybox sh; built into the initramfs by scripts/lab.sh).
#
# Turns the VM into a KVM host that runs the host's own binaries: loads the modules the Debian
# kernel does not build in, mounts the host's root (9p, read-only) at /host with the lab's own
# /proc, /sys, /dev, cgroup2, tracefs and writable tmpfs scratch on top, then runs the command
# that lab.sh left in its run directory, chrooted, and powers off.
#
# Serial ports: ttyS0 is the console (kept as console.log on the host), ttyS1 and ttyS2 carry
# the command's stdout and stderr, ttyS3 is the control line: "ready UPTIME", "exit STATUS".

/bin/busybox --install -s /bin
export PATH=/bin

# Anything unexpected powers off; lab.sh reports the missing exit status and the console log.
die() {
	echo "lab-init: $*"
	echo "error $*" >/dev/ttyS3
	poweroff -f
}

cmdline_arg() {
	sed -n "s/.*$1=\([^ ]*\).*/\1/p" /proc/cmdline
}

mount_basics() {
	mount -t proc proc /proc && mount -t sysfs sysfs /sys && mount -t devtmpfs dev /dev ||
		die "cannot mount proc/sys/dev"
	mkdir -p /dev/shm /dev/pts
	# What udev would add: bash's process substitution needs /dev/fd.
	ln -s /proc/self/fd /dev/fd
	ln -s fd/0 /dev/stdin
	ln -s fd/1 /dev/stdout
	ln -s fd/2 /dev/stderr
}

# MODULE.PARAM=VALUE words of the kernel command line for module $1, as modprobe passes them
# (insmod does not): DYNMEM_LAB_APPEND="kvm_amd.vgif=0" reaches kvm-amd.ko. In a module's
# name - and _ are the same.
module_args() {
	local name
	name=$(echo "$1" | sed 's/[-_]/[-_]/g')
	tr ' ' '\n' </proc/cmdline | sed -n "s/^$name\.//p"
}

load_modules() {
	set -f # a parameter's value is no glob
	for m in $(cat /lib/modules/load-order); do
		# shellcheck disable=SC2046 # one word per parameter
		insmod "/lib/modules/$m.ko" $(module_args "$m") || die "insmod $m failed"
	done
	set +f
}

# The host's root, read-only. cache=loose gives the lab a real, reclaimable page cache for
# host files (the memory.high test relies on it, and binaries load once); the host is not
# expected to change files under a running lab.
mount_host() {
	mkdir -p /host
	mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144,cache=loose host /host ||
		die "cannot mount the host's root over 9p"
}

# Writable and kernel filesystems inside the chroot; /tmp and /run hide the host's.
mount_chroot() {
	for d in proc sys dev; do
		mount --bind "/$d" "/host/$d" || die "cannot bind /$d"
	done
	mount -t devpts devpts /host/dev/pts
	mount -t tmpfs -o mode=1777 tmpfs /host/dev/shm
	mount -t tmpfs -o mode=1777 tmpfs /host/tmp || die "cannot mount /tmp"
	mount -t tmpfs -o mode=755 tmpfs /host/run || die "cannot mount /run"
	mount -t tracefs tracefs /host/sys/kernel/tracing || die "cannot mount tracefs"
	mount -t debugfs debugfs /host/sys/kernel/debug
	mount -t bpf bpf /host/sys/fs/bpf
	mount -t cgroup2 cgroup2 /host/sys/fs/cgroup || die "cannot mount cgroup2"
	echo "+memory +cpuset" >/host/sys/fs/cgroup/cgroup.subtree_control ||
		die "cannot enable the memory and cpuset controllers"
}

# CMD writes into pipes, as under any CI runner (a tty would bring colours and line editing);
# cat forwards them to raw ttys (no \n -> \r\n, no echo), so the bytes reach the host as
# written. Processes CMD left behind may hold the pipes open: they get 3 s, no more.
run_piped() {
	local out err guard rc
	stty -F /dev/ttyS1 raw -echo && stty -F /dev/ttyS2 raw -echo || die "cannot set up ttys"
	mkfifo /stdout /stderr
	cat /stdout >/dev/ttyS1 &
	out=$!
	cat /stderr >/dev/ttyS2 &
	err=$!
	chroot /host /bin/bash /run/dynmem-lab.cmd </dev/null >/stdout 2>/stderr
	rc=$?
	(
		sleep 3
		kill "$out" "$err"
	) 2>/dev/null &
	guard=$!
	wait "$out" "$err"
	kill "$guard" 2>/dev/null
	return $rc
}

# "shell" mode: ttyS1 is the user's terminal, and the shell's controlling tty for job control.
run_shell() {
	stty -F /dev/ttyS1 sane
	setsid -c chroot /host /bin/bash /run/dynmem-lab.cmd <>/dev/ttyS1 >&0 2>&0
}

# A repository under /tmp (a CI clone) stays visible through the tmpfs that hides the host's
# /tmp: held aside while the tmpfs goes on, then moved back to its own path.
hold_repo() {
	case $repo in /tmp/*) ;; *) return ;; esac
	mkdir -p /repo && mount --bind "/host$repo" /repo || die "cannot hold $repo"
}
restore_repo() {
	case $repo in /tmp/*) ;; *) return ;; esac
	mkdir -p "/host$repo" && mount --move /repo "/host$repo" || die "cannot restore $repo"
}

mount_basics
load_modules
mount_host
run=$(cmdline_arg dynmem.run)
repo=$(cmdline_arg dynmem.repo)
# Read the command before the tmpfs on /host/tmp could hide the run directory.
cp "/host$run/cmd" /cmd || die "cannot read $run/cmd"
hold_repo
mount_chroot
restore_repo
cp /cmd /host/run/dynmem-lab.cmd
stty -F /dev/ttyS3 raw -echo || die "cannot set up ttyS3"
echo "ready $(cut -d' ' -f1 /proc/uptime)" >/dev/ttyS3
if [ "$(cmdline_arg dynmem.mode)" = shell ]; then
	run_shell
else
	run_piped
fi
echo "exit $?" >/dev/ttyS3
# QEMU takes the UART's bytes only when its main loop gets to them, which may be behind on a
# busy host (a stream to a slow reader): a poweroff at once can lose the exit line.
sleep 1
poweroff -f
