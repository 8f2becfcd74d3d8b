/* SPDX-License-Identifier: GPL-2.0-only */
/* The observer's counters: their names, per-CPU sums and rates. */
#ifndef DYNMEM_COUNTERS_H
#define DYNMEM_COUNTERS_H

#include <stddef.h>
#include <linux/types.h>
#include "../bpf/observer.h"

extern const char *const counter_names[DM_NR_COUNTERS];

/* The kernel lays per-CPU values out at this stride, one per possible CPU. */
size_t counters_percpu_stride(void);

/* Sums ncpus per-CPU copies laid out at counters_percpu_stride(). */
void counters_sum_percpu(const void *percpu, int ncpus, struct dm_counters *ret_sum);

/* Per-second rates between two reads; a counter that went backwards (slot reused) rates 0. */
void counters_rates(const struct dm_counters *prev, const struct dm_counters *cur,
		    __u64 interval_ns, double ret_per_s[DM_NR_COUNTERS]);

#endif
