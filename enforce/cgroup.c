// SPDX-License-Identifier: GPL-2.0-only
/*
 * cgroup v2 memory limits: memory.min = the VM's minimum (host reclaim leaves it alone),
 * memory.high = target + the VMM's overhead (above it the kernel throttles and reclaims
 * the VM's memory). memory.max is left alone: a hard limit OOM-kills QEMU, which is never
 * what dynmem wants. On reset both relax: memory.high "max", memory.min 0.
 *
 * A VM with a balloon gives memory back itself, as fast as its guest can; memory.high follows
 * the balloon down and never gets ahead of it. Set below what the guest still holds, it could
 * not reclaim guest RAM (not without host swap) and would only throttle QEMU, its vCPUs and
 * its monitor with them: in the lab, QMP stopped answering and the guests froze. For such a
 * VM memory.high is a backstop, with headroom for QEMU's page cache and for the pieces of huge
 * pages the balloon freed, which stay charged until the kernel splits those pages.
 */

#define BALLOON_HEADROOM_MIN_BYTES (32ULL << 20)
#define BALLOON_HEADROOM_PCT	   2
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "cgroupfs.h"
#include "size.h"
#include "vm.h"

static int cgroup_probe(struct enforcer *e, char *why, size_t len)
{
	char controllers[256];
	int n = cgroupfs_read(e->cgroup_root_fd, "cgroup.controllers", controllers,
			      sizeof(controllers));

	if (n < 0) {
		snprintf(why, len, "cannot read cgroup.controllers of the cgroup2 mount: %s",
			 strerror(-n));
		return n;
	}
	for (char *save = NULL, *c = strtok_r(controllers, " ", &save); c;
	     c = strtok_r(NULL, " ", &save))
		if (!strcmp(c, "memory"))
			return 0;
	snprintf(why, len,
		 "cgroup v2 has no memory controller here (it may be bound to a "
		 "cgroup v1 hierarchy); memory limits are off");
	return -ENODEV;
}

static int cgroup_attach(struct enforcer *e, struct vm *vm)
{
	__u64 high;
	int err;

	(void)e;
	if (vm->cgroup_fd < 0)
		return -ENOENT;
	err = cgroupfs_read_u64(vm->cgroup_fd, "memory.high", &high);
	if (err == -ENOENT)
		return -ENODEV; /* the parent does not delegate +memory */
	return err;
}

static int write_limit(struct enforcer *e, struct vm *vm, const char *file, __u64 value,
		       __u64 *written)
{
	int err;

	if (*written == value)
		return 0;
	err = cgroupfs_write_u64(vm->cgroup_fd, file, value, e->write_timeout_ms);
	if (err)
		return err;
	*written = value;
	return 1;
}

static int cgroup_apply(struct enforcer *e, struct vm *vm, const struct target *t)
{
	__u64 guest = t->guest_bytes;
	__u64 high;
	char a[32], b[32];
	int min_rc, high_rc;

	if (vm->enforce[ENFORCER_BALLOON]) {
		__u64 headroom = guest / 100 * BALLOON_HEADROOM_PCT;

		if (vm->balloon_actual_bytes > guest)
			guest = vm->balloon_actual_bytes;
		guest += headroom > BALLOON_HEADROOM_MIN_BYTES ? headroom
							       : BALLOON_HEADROOM_MIN_BYTES;
	}
	high = guest + vm->overhead_bytes;
	min_rc = write_limit(e, vm, "memory.min", vm->cfg.minimum_bytes, &vm->cg_min_written);
	if (min_rc < 0) {
		vm_enforcer_result(vm, ENFORCER_CGROUP, min_rc, 0, "memory.min of %s: %s",
				   vm->cgroup_path, strerror(-min_rc));
		return min_rc;
	}
	high_rc = write_limit(e, vm, "memory.high", high, &vm->cg_high_written);
	if (high_rc < 0) {
		vm_enforcer_result(vm, ENFORCER_CGROUP, high_rc, 0, "memory.high of %s: %s",
				   vm->cgroup_path, strerror(-high_rc));
		return high_rc;
	}
	if (min_rc || high_rc)
		vm_enforcer_result(vm, ENFORCER_CGROUP, 1, 0, "memory.high=%s memory.min=%s",
				   size_format(a, sizeof(a), high),
				   size_format(b, sizeof(b), vm->cfg.minimum_bytes));
	return min_rc || high_rc;
}

static int cgroup_reset(struct enforcer *e, struct vm *vm)
{
	int err = 0;

	(void)e;
	if (vm->cgroup_fd < 0)
		return 0;
	/* Relax only what we tightened: a cgroup we never wrote keeps the operator's values. */
	if (vm->cg_high_written)
		err = cgroupfs_write_u64(vm->cgroup_fd, "memory.high", CGROUPFS_MAX, 0);
	if (vm->cg_min_written && !err)
		err = cgroupfs_write_u64(vm->cgroup_fd, "memory.min", 0, 0);
	vm->cg_high_written = vm->cg_min_written = 0;
	return err;
}

static void cgroup_detach(struct enforcer *e, struct vm *vm)
{
	(void)e;
	vm->cg_high_written = vm->cg_min_written = 0;
}

const struct enforcer_ops cgroup_enforcer_ops = {
	.name = "cgroup",
	.probe = cgroup_probe,
	.attach = cgroup_attach,
	.apply = cgroup_apply,
	.reset = cgroup_reset,
	.detach = cgroup_detach,
};
