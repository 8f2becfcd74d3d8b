/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The allocator: host budget and per-VM settings and measurements in, a memory target and a
 * reason per VM out. Pure: no I/O, no clock, no globals; time comes in as an argument, so
 * the daemon, `dynmem plan` and the tests all run the same policy. docs/allocator.md has the
 * policy in prose.
 */
#ifndef DYNMEM_ALLOC_H
#define DYNMEM_ALLOC_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#define ALLOC_MAX_NODES			 64
#define ALLOC_WEIGHT_MAX		 10000
#define ALLOC_BUFFER_MIN_PCT		 5
#define ALLOC_BUFFER_MAX_PCT		 2000
#define ALLOC_GRANULE_DEFAULT_BYTES	 4096ULL
#define ALLOC_SHRINK_INTERVAL_DEFAULT_NS 5000000000ULL
#define ALLOC_SHRINK_STEP_DEFAULT_PCT	 10
#define ALLOC_HYSTERESIS_DEFAULT_PCT	 5
/* The in-use floor: demand and this much more (room for the guest kernel's free pages). */
#define ALLOC_IN_USE_MARGIN_PCT 10
/* Of that margin, what a VM keeps when a heavier VM short of its own needs the rest: in the
 * lab a guest lived at +5%, and one ballooned to +1.7% OOM-killed its workload. */
#define ALLOC_IN_USE_CORE_PCT 5

struct alloc_vm {
	__u64 minimum_bytes;
	__u64 maximum_bytes;
	__u32 buffer_pct;     /* 5..2000: want = demand * (1 + buffer/100) */
	__u32 weight;	      /* 0..10000; 0 = only what nobody with a weight wants */
	__u64 granule_bytes;  /* a power of two; targets move in these steps; 0 = 4096 */
	__u64 demand_bytes;   /* what the guest needs now */
	__u64 assigned_bytes; /* what it has now */
	int node;	      /* NUMA node it is bound to, -1 when spanning; ignored if spanning */
	bool pressure;	      /* in distress now: never shrink it */
	__u64 last_shrink_ns; /* when its target last went down; 0 = never */
};

struct alloc_host {
	__u64 budget_bytes; /* total - reserve - per-VM overheads; used when spanning */
	bool numa_spanning; /* false: each VM is planned against its node's budget */
	size_t nr_nodes;
	__u64 node_budget_bytes[ALLOC_MAX_NODES];
	__u64 now_ns;
	__u64 shrink_interval_ns; /* min time between two shrinks of one VM */
	__u32 shrink_step_pct;	  /* 1..100: a shrink takes at most this % of assigned */
	__u32 hysteresis_pct;	  /* 0..100: no shrink for less than this % of assigned */
};

enum alloc_reason {
	ALLOC_WANT,	       /* got its want */
	ALLOC_CAPPED,	       /* got its want, which hit its maximum */
	ALLOC_WEIGHT,	       /* short: cut by weight */
	ALLOC_MINIMUM,	       /* short: at its floor */
	ALLOC_HOLD_PRESSURE,   /* kept what it has: in distress */
	ALLOC_HOLD_RATE,       /* kept what it has: shrunk less than shrink_interval ago */
	ALLOC_HOLD_HYSTERESIS, /* kept what it has: the ideal is too close to bother */
	ALLOC_SHRINK_STEP,     /* shrinking, by at most shrink_step_pct this time */
	ALLOC_HOLD_IN_USE,     /* not below what its guest uses (its demand, at most assigned) */
	ALLOC_NO_NODE,	       /* spanning off and no node: at its minimum, not planned */
	ALLOC_OVERCOMMIT,      /* the minimums alone exceed the budget: at its minimum */
	ALLOC_NR_REASONS,
};

struct alloc_target {
	__u64 target_bytes;
	__u64 want_bytes;
	enum alloc_reason reason;
};

struct alloc_summary {
	__u64 total_bytes; /* sum of all targets, unplaced VMs included */
	__u64 want_bytes;  /* sum of all wants */
	/* Spanning off: the sum of the targets of each node. */
	__u64 node_total_bytes[ALLOC_MAX_NODES];
	/* The minimums alone exceed a budget: an alarm. */
	bool overcommitted;
	/* Some kinds of limits did not fit the budget and were not applied, or in-use margins
	 * gave way to a heavier VM's need: which ones, as bits 1 << ALLOC_SHRINK_STEP,
	 * 1 << ALLOC_HOLD_HYSTERESIS, ... */
	bool holds_dropped;
	__u32 dropped_reasons;
	/* Spanning off: bit N for node N. */
	__u64 overcommitted_nodes;
	__u64 holds_dropped_nodes;
	size_t nr_unplaced; /* reason ALLOC_NO_NODE */
	size_t nr_short;    /* target below want */
	size_t nr_held;	    /* held or stepped by a transition limit */
};

/* Zeroes *ret and sets the documented defaults: spanning on, 5 s, 10%, 5%. */
void alloc_host_defaults(struct alloc_host *ret);

/*
 * Plans targets for vms[0..n). ret_targets[i] belongs to vms[i]. Returns 0, -EINVAL on
 * inputs outside the documented ranges (min > max, weight, buffer, granule not a power of
 * two, node out of range, more than ALLOC_MAX_NODES nodes, step 0 or above 100, hysteresis
 * above 100) or -ENOMEM; out-params are written only on success.
 */
int alloc_plan(const struct alloc_host *h, const struct alloc_vm *vms, size_t n,
	       struct alloc_target *ret_targets, struct alloc_summary *ret_summary);

/*
 * Best fit for a VM of vm_bytes over nodes with node_free_bytes free: the node left with the
 * least to spare, the lowest number on a tie. -ENOSPC when it fits on no node: a VM too big
 * for any node is reported, not squeezed.
 */
int alloc_place(const __u64 *node_free_bytes, size_t nr_nodes, __u64 vm_bytes, int *ret_node);

/* "want", "capped", ..., "overcommit": stable, part of `dynmem plan --json`; "?" if unknown. */
const char *alloc_reason_name(enum alloc_reason r);

#endif
