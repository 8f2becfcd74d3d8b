// SPDX-License-Identifier: GPL-2.0-only
/*
 * NUMA placement with spanning off: the VM's cgroup gets cpuset.mems = its node, so the
 * kernel migrates its pages there, and cpuset.cpus = that node's CPUs, so its vCPUs fault
 * locally. On reset both are emptied: in cgroup v2 an empty cpuset inherits the parent's.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "cgroupfs.h"
#include "vm.h"

static int numa_probe(struct enforcer *e, char *why, size_t len)
{
	char controllers[256];
	int n = cgroupfs_read(e->cgroup_root_fd, "cgroup.controllers", controllers,
			      sizeof(controllers));

	if (n < 0) {
		snprintf(why, len, "cannot read cgroup.controllers of the cgroup2 mount: %s",
			 strerror(-n));
		return n;
	}
	if (!strstr(controllers, "cpuset")) {
		snprintf(why, len,
			 "cgroup v2 has no cpuset controller here; NUMA placement is off");
		return -ENODEV;
	}
	return 0;
}

static int numa_attach(struct enforcer *e, struct vm *vm)
{
	char mems[64];

	(void)e;
	if (vm->cgroup_fd < 0)
		return -ENOENT;
	return cgroupfs_read(vm->cgroup_fd, "cpuset.mems", mems, sizeof(mems)) == -ENOENT ? -ENODEV
											  : 0;
}

/* The CPUs of a node, as the kernel lists them ("0-3,8-11"). */
static int node_cpus(struct enforcer *e, int node, char *buf, size_t len)
{
	char path[4096];
	int dirfd, n;

	snprintf(path, sizeof(path), "%s/node%d", e->sysfs_node_dir, node);
	dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return -errno;
	n = cgroupfs_read(dirfd, "cpulist", buf, len);
	close(dirfd);
	return n < 0 ? n : 0;
}

static int numa_apply(struct enforcer *e, struct vm *vm, const struct target *t)
{
	char cpus[512], mems[16];
	int err;

	if (t->node < 0 || t->node == vm->numa_node_written)
		return 0;
	err = node_cpus(e, t->node, cpus, sizeof(cpus));
	if (err) {
		vm_enforcer_result(vm, ENFORCER_NUMA, err, 0, "CPUs of node %d: %s", t->node,
				   strerror(-err));
		return err;
	}
	snprintf(mems, sizeof(mems), "%d", t->node);
	/* mems first: the pages start moving before the vCPUs do. */
	err = cgroupfs_write(vm->cgroup_fd, "cpuset.mems", mems, 0);
	if (!err && cpus[0])
		err = cgroupfs_write(vm->cgroup_fd, "cpuset.cpus", cpus, 0);
	if (err) {
		vm_enforcer_result(vm, ENFORCER_NUMA, err, 0, "cpuset of %s to node %d: %s",
				   vm->cgroup_path, t->node, strerror(-err));
		return err;
	}
	vm->numa_node_written = t->node;
	vm_enforcer_result(vm, ENFORCER_NUMA, 1, 0, "cpuset.mems=%d cpuset.cpus=%s", t->node, cpus);
	return 1;
}

static int numa_reset(struct enforcer *e, struct vm *vm)
{
	int err;

	(void)e;
	if (vm->cgroup_fd < 0 || vm->numa_node_written < 0)
		return 0;
	err = cgroupfs_write(vm->cgroup_fd, "cpuset.cpus", "", 0);
	if (!err)
		err = cgroupfs_write(vm->cgroup_fd, "cpuset.mems", "", 0);
	vm->numa_node_written = -1;
	return err;
}

static void numa_detach(struct enforcer *e, struct vm *vm)
{
	(void)e;
	vm->numa_node_written = -1;
}

const struct enforcer_ops numa_enforcer_ops = {
	.name = "numa",
	.probe = numa_probe,
	.attach = numa_attach,
	.apply = numa_apply,
	.reset = numa_reset,
	.detach = numa_detach,
};
