// SPDX-License-Identifier: GPL-2.0-only
/* Growth held to what is really free while shrinking VMs' balloons catch up: see growth.h. */
#include "growth.h"

static __u64 held_floor(const struct alloc_vm *in, __u64 has_bytes)
{
	__u64 floor =
		in->assigned_bytes > in->minimum_bytes ? in->assigned_bytes : in->minimum_bytes;

	return floor > has_bytes ? floor : has_bytes;
}

/* The VM's pool: 0 (the host) with spanning on, else its node; -1 unplaced (not grown). */
static int pool_of(const struct alloc_host *h, const struct alloc_vm *in)
{
	return h->numa_spanning ? 0 : in->node;
}

void growth_limit_to_free(const struct alloc_host *h, const struct alloc_vm *in,
			  const __u64 *has_bytes, struct alloc_target *out, size_t n)
{
	__u64 held[ALLOC_MAX_NODES] = { 0 }, growth[ALLOC_MAX_NODES] = { 0 };
	__u64 free_bytes[ALLOC_MAX_NODES];

	for (size_t i = 0; i < n; i++) {
		__u64 floor = held_floor(&in[i], has_bytes[i]);
		int p = pool_of(h, &in[i]);

		if (p < 0)
			continue;
		held[p] += floor;
		growth[p] += out[i].target_bytes > floor ? out[i].target_bytes - floor : 0;
	}
	for (unsigned int p = 0; p < ALLOC_MAX_NODES; p++) {
		__u64 budget = h->numa_spanning ? h->budget_bytes : h->node_budget_bytes[p];

		free_bytes[p] = budget > held[p] ? budget - held[p] : 0;
	}
	for (size_t i = 0; i < n; i++) {
		__u64 floor = held_floor(&in[i], has_bytes[i]);
		__u64 t = out[i].target_bytes;
		int p = pool_of(h, &in[i]);

		if (p < 0 || t <= floor || growth[p] <= free_bytes[p])
			continue;
		out[i].target_bytes = floor + (__u64)((double)(t - floor) * (double)free_bytes[p] /
						      (double)growth[p]) /
						      4096 * 4096;
	}
}
