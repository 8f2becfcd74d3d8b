// SPDX-License-Identifier: GPL-2.0-only
#include <string.h>
#include "counters.h"

const char *const counter_names[DM_NR_COUNTERS] = {
	[DM_HOST_FAULTS] = "host_faults",
	[DM_EPT_FAULTS] = "ept_faults",
	[DM_EPT_WRITES] = "ept_writes",
	[DM_MAP_4K] = "map_4k",
	[DM_MAP_2M] = "map_2m",
	[DM_MAP_1G] = "map_1g",
	[DM_MAP_REMOTE] = "map_remote",
	[DM_ALLOC_LOCAL] = "alloc_local",
	[DM_ALLOC_REMOTE] = "alloc_remote",
	[DM_HUGE_SPLITS] = "huge_splits",
	[DM_UNMAPS] = "unmaps",
	[DM_UNMAPPED_BYTES] = "unmapped_bytes",
	[DM_AGE_SCANS] = "age_scans",
	[DM_ASYNC_PF] = "async_pf",
	[DM_RECLAIMS] = "reclaims",
};

size_t counters_percpu_stride(void)
{
	return (sizeof(struct dm_counters) + 7) & ~(size_t)7;
}

void counters_sum_percpu(const void *percpu, int ncpus, struct dm_counters *ret_sum)
{
	struct dm_counters sum = { 0 };

	for (int cpu = 0; cpu < ncpus; cpu++) {
		struct dm_counters one;

		/* memcpy: the stride need not keep the struct aligned in the caller's buffer. */
		memcpy(&one, (const char *)percpu + cpu * counters_percpu_stride(), sizeof(one));
		for (int i = 0; i < DM_NR_COUNTERS; i++)
			sum.c[i] += one.c[i];
	}
	*ret_sum = sum;
}

void counters_rates(const struct dm_counters *prev, const struct dm_counters *cur,
		    __u64 interval_ns, double ret_per_s[DM_NR_COUNTERS])
{
	for (int i = 0; i < DM_NR_COUNTERS; i++) {
		__u64 delta = cur->c[i] >= prev->c[i] ? cur->c[i] - prev->c[i] : 0;

		ret_per_s[i] = interval_ns ? (double)delta * 1e9 / (double)interval_ns : 0.0;
	}
}
