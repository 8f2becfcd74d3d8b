// SPDX-License-Identifier: GPL-2.0-only
/*
 * The cgroup and numa enforcers against a temp directory shaped like cgroupfs (and a
 * sysfs node directory): what they write, when they write nothing, how they relax.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cmocka.h>
#include "cgroupfs.h"
#include "enforcer.h"
#include "vm.h"

#define MiB (1ULL << 20)

struct fixture {
	char root[64];
	int root_fd;
	struct enforcer e[NR_ENFORCERS];
	struct vm vm;
};

static void put(const char *dir, const char *file, const char *text)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static const char *get(struct fixture *fx, const char *file)
{
	static char buf[256];

	assert_true(cgroupfs_read(fx->vm.cgroup_fd, file, buf, sizeof(buf)) >= 0);
	return buf;
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	struct config_vm cfg = { .name = "web",
				 .minimum_bytes = 512 * MiB,
				 .maximum_bytes = 4096 * MiB,
				 .startup_bytes = 1024 * MiB };
	char path[4096];

	strcpy(fx->root, "/tmp/dynmem-enforce-XXXXXX");
	assert_non_null(mkdtemp(fx->root));
	put(fx->root, "cgroup.controllers", "cpuset cpu io memory pids\n");
	snprintf(path, sizeof(path), "%s/node", fx->root);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/node/node1", fx->root);
	mkdir(path, 0755);
	put(path, "cpulist", "2-3\n");
	snprintf(path, sizeof(path), "%s/vm", fx->root);
	mkdir(path, 0755);
	put(path, "memory.high", "max\n");
	put(path, "memory.min", "0\n");
	put(path, "cpuset.mems", "\n");
	put(path, "cpuset.cpus", "\n");

	fx->root_fd = open(fx->root, O_RDONLY | O_DIRECTORY);
	assert_int_equal(enforcers_init(fx->e, fx->root_fd, 100), NR_ENFORCERS);
	snprintf(path, sizeof(path), "%s/node", fx->root);
	fx->e[ENFORCER_NUMA].sysfs_node_dir = strdup(path);
	vm_init(&fx->vm, &cfg);
	snprintf(fx->vm.cgroup_path, sizeof(fx->vm.cgroup_path), "%s/vm", fx->root);
	fx->vm.cgroup_fd = open(fx->vm.cgroup_path, O_RDONLY | O_DIRECTORY);
	fx->vm.overhead_bytes = 100 * MiB;
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	char cmd[128];

	close(fx->vm.cgroup_fd);
	close(fx->root_fd);
	free((char *)fx->e[ENFORCER_NUMA].sysfs_node_dir);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", fx->root);
	assert_int_equal(system(cmd), 0);
	free(fx);
	return 0;
}

static void cgroup_writes_min_and_high(void **state)
{
	struct fixture *fx = *state;
	struct enforcer *e = &fx->e[ENFORCER_CGROUP];
	struct target t = { .guest_bytes = 2048 * MiB, .node = -1 };

	assert_int_equal(e->ops->attach(e, &fx->vm), 0);
	assert_int_equal(e->ops->apply(e, &fx->vm, &t), 1);
	assert_string_equal(get(fx, "memory.min"), "536870912");
	/* target plus the VMM's overhead: 2048 + 100 MiB */
	assert_string_equal(get(fx, "memory.high"), "2252341248");
	assert_string_equal(fx->vm.enf[ENFORCER_CGROUP].action, "memory.high=2.1G memory.min=512M");
}

static void cgroup_same_target_writes_nothing(void **state)
{
	struct fixture *fx = *state;
	struct enforcer *e = &fx->e[ENFORCER_CGROUP];
	struct target t = { .guest_bytes = 2048 * MiB, .node = -1 };

	assert_int_equal(e->ops->apply(e, &fx->vm, &t), 1);
	put(fx->vm.cgroup_path, "memory.high", "sentinel\n");
	assert_int_equal(e->ops->apply(e, &fx->vm, &t), 0);
	assert_string_equal(get(fx, "memory.high"), "sentinel"); /* untouched */
	t.guest_bytes = 1024 * MiB;
	assert_int_equal(e->ops->apply(e, &fx->vm, &t), 1);
	assert_string_equal(get(fx, "memory.high"), "1178599424");
}

/*
 * With a balloon, memory.high follows the balloon down and never gets ahead of it, with
 * headroom: max(32 MiB, 2% of the target).
 */
static void cgroup_high_waits_for_the_balloon(void **state)
{
	struct fixture *fx = *state;
	struct enforcer *e = &fx->e[ENFORCER_CGROUP];
	struct target t = { .guest_bytes = 1024 * MiB, .node = -1 };

	fx->vm.enforce[ENFORCER_BALLOON] = true;
	fx->vm.balloon_actual_bytes = 1536 * MiB; /* still inflating toward 1 GiB */
	assert_int_equal(e->ops->apply(e, &fx->vm, &t), 1);
	assert_string_equal(get(fx, "memory.high"), "1749024768"); /* 1536 + 32 + 100 MiB */
	fx->vm.balloon_actual_bytes = 1024 * MiB;		   /* arrived */
	assert_int_equal(e->ops->apply(e, &fx->vm, &t), 1);
	assert_string_equal(get(fx, "memory.high"), "1212153856"); /* 1024 + 32 + 100 MiB */
	/* Growing: the target, ahead of the balloon, is what the guest may take. */
	t.guest_bytes = 4096 * MiB;
	assert_int_equal(e->ops->apply(e, &fx->vm, &t), 1);
	assert_string_equal(get(fx, "memory.high"), "4485724240"); /* 4G + 2% + 100 MiB */
	/* Without a balloon, memory.high is how memory comes back: the target, at once. */
	fx->vm.enforce[ENFORCER_BALLOON] = false;
	fx->vm.balloon_actual_bytes = 2048 * MiB;
	t.guest_bytes = 1024 * MiB;
	assert_int_equal(e->ops->apply(e, &fx->vm, &t), 1);
	assert_string_equal(get(fx, "memory.high"), "1178599424");
}

static void cgroup_reset_relaxes(void **state)
{
	struct fixture *fx = *state;
	struct enforcer *e = &fx->e[ENFORCER_CGROUP];
	struct target t = { .guest_bytes = 1024 * MiB, .node = -1 };

	assert_int_equal(e->ops->apply(e, &fx->vm, &t), 1);
	assert_int_equal(e->ops->reset(e, &fx->vm), 0);
	assert_string_equal(get(fx, "memory.high"), "max");
	assert_string_equal(get(fx, "memory.min"), "0");
}

static void cgroup_reset_leaves_unwritten_alone(void **state)
{
	struct fixture *fx = *state;
	struct enforcer *e = &fx->e[ENFORCER_CGROUP];

	put(fx->vm.cgroup_path, "memory.high", "3221225472\n"); /* the operator's own limit */
	assert_int_equal(e->ops->reset(e, &fx->vm), 0);
	assert_string_equal(get(fx, "memory.high"), "3221225472");
}

static void cgroup_vanished_is_an_error_with_the_path(void **state)
{
	struct fixture *fx = *state;
	struct enforcer *e = &fx->e[ENFORCER_CGROUP];
	struct target t = { .guest_bytes = 1024 * MiB, .node = -1 };
	char cmd[4200];
	int rc;

	snprintf(cmd, sizeof(cmd), "rm -rf %s", fx->vm.cgroup_path);
	assert_int_equal(system(cmd), 0);
	rc = e->ops->apply(e, &fx->vm, &t);
	assert_int_equal(rc, -ENOENT);
	assert_non_null(strstr(fx->vm.enf[ENFORCER_CGROUP].error, fx->vm.cgroup_path));
	assert_int_equal(fx->vm.enf[ENFORCER_CGROUP].errors, 1);
}

static void cgroup_probe_and_attach_explain(void **state)
{
	struct fixture *fx = *state;
	struct enforcer *e = &fx->e[ENFORCER_CGROUP];
	char why[256] = "";

	put(fx->root, "cgroup.controllers", "cpu io pids\n");
	assert_int_equal(e->ops->probe(e, why, sizeof(why)), -ENODEV);
	assert_non_null(strstr(why, "no memory controller"));
	unlink(strcat(strcpy(why, fx->vm.cgroup_path), "/memory.high"));
	assert_int_equal(e->ops->attach(e, &fx->vm), -ENODEV); /* not delegated to the VM */
}

static void numa_pins_mems_and_cpus(void **state)
{
	struct fixture *fx = *state;
	struct enforcer *e = &fx->e[ENFORCER_NUMA];
	struct target t = { .guest_bytes = 1024 * MiB, .node = 1 };

	assert_int_equal(e->ops->attach(e, &fx->vm), 0);
	assert_int_equal(e->ops->apply(e, &fx->vm, &t), 1);
	assert_string_equal(get(fx, "cpuset.mems"), "1");
	assert_string_equal(get(fx, "cpuset.cpus"), "2-3");
	assert_int_equal(e->ops->apply(e, &fx->vm, &t), 0); /* already there */
	assert_int_equal(e->ops->reset(e, &fx->vm), 0);
	assert_string_equal(get(fx, "cpuset.mems"), "");
	assert_string_equal(get(fx, "cpuset.cpus"), "");
}

static void numa_spanning_writes_nothing(void **state)
{
	struct fixture *fx = *state;
	struct enforcer *e = &fx->e[ENFORCER_NUMA];
	struct target t = { .guest_bytes = 1024 * MiB, .node = -1 };

	put(fx->vm.cgroup_path, "cpuset.mems", "sentinel\n");
	assert_int_equal(e->ops->apply(e, &fx->vm, &t), 0);
	assert_string_equal(get(fx, "cpuset.mems"), "sentinel");
}

static void numa_unknown_node_is_an_error(void **state)
{
	struct fixture *fx = *state;
	struct enforcer *e = &fx->e[ENFORCER_NUMA];
	struct target t = { .guest_bytes = 1024 * MiB, .node = 7 };

	assert_int_equal(e->ops->apply(e, &fx->vm, &t), -ENOENT);
	assert_non_null(strstr(fx->vm.enf[ENFORCER_NUMA].error, "node 7"));
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(cgroup_writes_min_and_high),
		T(cgroup_same_target_writes_nothing),
		T(cgroup_high_waits_for_the_balloon),
		T(cgroup_reset_relaxes),
		T(cgroup_reset_leaves_unwritten_alone),
		T(cgroup_vanished_is_an_error_with_the_path),
		T(cgroup_probe_and_attach_explain),
		T(numa_pins_mems_and_cpus),
		T(numa_spanning_writes_nothing),
		T(numa_unknown_node_is_an_error),
	};

	return cmocka_run_group_tests_name("enforcers (cgroup, numa) on a fake cgroupfs", tests,
					   NULL, NULL);
}
