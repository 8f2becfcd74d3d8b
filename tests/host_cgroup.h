/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Test helpers for host integration tests: scratch cgroups under the real cgroup2 mount
 * and touch-pages workloads started in them, driven step by step over pipes.
 */
#ifndef DYNMEM_TEST_HOST_CGROUP_H
#define DYNMEM_TEST_HOST_CGROUP_H

#include <stdio.h>
#include <sys/types.h>
#include <linux/types.h>

struct scratch_cgroup {
	char path[4096];
	__u64 id;
};

struct workload {
	pid_t pid;
	FILE *to;   /* its stdin */
	FILE *from; /* its stdout */
};

/* Creates <cgroup2 mount>/<name>; 0 or -errno. */
int scratch_cgroup_create(struct scratch_cgroup *cg, const char *name);
void scratch_cgroup_remove(struct scratch_cgroup *cg);

/* Starts touch-pages --sync in the cgroup and waits for its "ready". */
int workload_start(struct workload *w, const struct scratch_cgroup *cg, unsigned long pages);
/* Lets it touch its pages and waits for "done". */
int workload_touch(struct workload *w);
/* Ends it (by its pid) and reaps it; safe to call twice. */
void workload_stop(struct workload *w);

#endif
