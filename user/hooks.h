/* SPDX-License-Identifier: GPL-2.0-only */
/* The tracepoints the observer hooks, and how each one ended up attached. */
#ifndef DYNMEM_HOOKS_H
#define DYNMEM_HOOKS_H

#include <stdbool.h>
#include <stddef.h>

struct hook {
	const char *name;     /* tracepoint; programs are raw_<name> and tp_<name> */
	const char *system;   /* its tracefs system, for tp/<system>/<name> */
	bool has_raw;	      /* false: classic tracepoint only */
	bool raw_is_node_blind; /* the raw variant can't tell a page's node: single-node only */
};

enum hook_state {
	HOOK_RAW,	/* attached as a raw tracepoint */
	HOOK_TP,	/* attached as a classic tracepoint (fallback) */
	HOOK_MISSING,	/* this kernel has no such tracepoint */
	HOOK_OFF,	/* switched off by the operator */
	HOOK_FAILED,	/* present, but neither variant attached; see err */
};

struct hook_status {
	const struct hook *hook;
	enum hook_state state;
	int err; /* -errno of the last attach attempt, HOOK_FAILED only */
};

extern const struct hook hooks[];
extern const size_t nr_hooks;

const char *hook_state_name(enum hook_state state);
bool hook_state_live(enum hook_state state);
const struct hook *hook_find(const char *name);

struct btf;
/*
 * Whether the running kernel has the tracepoint: its btf_trace_<name> typedef is in
 * vmlinux BTF or in the BTF of a loaded module (KVM is often a module).
 * btfs is a NULL-terminated list.
 */
bool hook_in_kernel(struct btf *const *btfs, const char *name);

/* vmlinux BTF followed by every module's, NULL-terminated; free with kernel_btfs_free(). */
struct btf **kernel_btfs_load(const char *btf_dir);
void kernel_btfs_free(struct btf **btfs);

#endif
