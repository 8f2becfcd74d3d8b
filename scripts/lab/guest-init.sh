#!/bin/busybox sh
# SPDX-License-Identifier: GPL-2.0-only
#
# /init of a guest inside the lab (busybox sh; built into the guest initramfs by scripts/lab.sh).
#
# Loads virtio-balloon and 9p, mounts the host's control share (tag dynmemctl) on /ctl, starts
# the demand workload when the kernel command line has dynmem.demand= (a schedule, or "follow":
# the size in /ctl/demand, which the host changes with lab-guest.sh demand), and reports the guest's own MemTotal on the console whenever it
# changes, so a test can watch a balloon from outside: "guest: MemTotal 503284 kB".

/bin/busybox --install -s /bin
export PATH=/bin

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs dev /dev

for m in $(cat /lib/modules/load-order); do
	insmod "/lib/modules/$m.ko" || echo "guest: insmod $m failed"
done
mkdir -p /ctl
if grep -q 'dynmem\.demand=follow' /proc/cmdline; then
	mount -t 9p -o trans=virtio,version=9p2000.L,ro dynmemctl /ctl ||
		echo "guest: cannot mount the /ctl share"
fi
echo "guest: ready"

if grep -q 'dynmem\.demand=follow' /proc/cmdline; then
	set -- --follow /ctl/demand
fi
if grep -q 'dynmem\.demand=' /proc/cmdline; then
	(
		/bin/demand "$@"
		echo "guest: demand exited with status $?"
	) &
fi

# PID 1 must never exit; read /proc/meminfo with builtins so the loop forks nothing.
last=
while :; do
	read -r _ total _ </proc/meminfo
	if [ "$total" != "$last" ]; then
		echo "guest: MemTotal $total kB"
		last=$total
	fi
	sleep 1
done
