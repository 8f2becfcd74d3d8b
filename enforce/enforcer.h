/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * How dynmem acts on a VM: one small interface, one file per backend, an explicit table
 * (enforcer.c). Each backend can be used alone or with the others, per VM.
 */
#ifndef DYNMEM_ENFORCER_H
#define DYNMEM_ENFORCER_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

struct vm;
struct enforcer;

/* What the daemon decided for a VM this tick. */
struct target {
	__u64 guest_bytes; /* memory the guest is given */
	int node;	   /* NUMA node to keep it on, -1: let it span */
};

struct enforcer_ops {
	const char *name;
	/* 0 if usable on this host; else -errno and why, for the operator. */
	int (*probe)(struct enforcer *e, char *why, size_t len);
	int (*attach)(struct enforcer *e, struct vm *vm);
	/* 1 changed something, 0 nothing to do, -errno (and vm's error text) on failure. */
	int (*apply)(struct enforcer *e, struct vm *vm, const struct target *t);
	/* Optional: relax what we set (exit, crash, VM removed from the config). */
	int (*reset)(struct enforcer *e, struct vm *vm);
	void (*detach)(struct enforcer *e, struct vm *vm);
};

enum enforcer_id { ENFORCER_CGROUP, ENFORCER_BALLOON, ENFORCER_NUMA, NR_ENFORCERS };

struct enforcer {
	const struct enforcer_ops *ops;
	enum enforcer_id id;
	bool usable;
	char why[256];		       /* why not usable */
	int cgroup_root_fd;	       /* the cgroup2 mount (cgroup, numa) */
	unsigned int write_timeout_ms; /* bound on a limit write's reclaim */
	const char *sysfs_node_dir;    /* /sys/devices/system/node (numa: cpus of a node) */
};

/* What an enforcer last did to one VM: shown by `dynmem status`. */
struct enforcer_vm_state {
	int last_rc;
	char action[128];
	char error[256];
	__u64 at_ns;
	__u64 actions, errors;
};

extern const struct enforcer_ops cgroup_enforcer_ops;
extern const struct enforcer_ops balloon_enforcer_ops;
extern const struct enforcer_ops numa_enforcer_ops;

/* The table, in the order they act: limits first, then the balloon, then placement. */
extern const struct enforcer_ops *const enforcer_table[NR_ENFORCERS];

/* Fills e[] from the table and probes each one; returns how many are usable. */
size_t enforcers_init(struct enforcer e[NR_ENFORCERS], int cgroup_root_fd,
		      unsigned int write_timeout_ms);
int enforcer_id_by_name(const char *name);

#endif
