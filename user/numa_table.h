/* SPDX-License-Identifier: GPL-2.0-only */
/* Which NUMA node holds which page frames, read from sysfs memory blocks. */
#ifndef DYNMEM_NUMA_TABLE_H
#define DYNMEM_NUMA_TABLE_H

#include <stddef.h>
#include <linux/types.h>
#include "../bpf/observer.h"

struct numa_table {
	struct dm_node_range ranges[DM_MAX_NODE_RANGES];
	size_t nr_ranges; /* sorted by start_pfn, adjacent blocks of one node merged */
	unsigned int nr_nodes;
};

/*
 * sys_devices_system is normally "/sys/devices/system": node<N>/memory<M> links name the
 * memory blocks of each node, memory/block_size_bytes their size (hex). A host without
 * memory block files (no memory hotplug) yields nr_ranges 0 with nr_nodes still counted.
 * Returns 0 or -errno (-E2BIG when the merged ranges don't fit the table).
 */
int numa_table_load(const char *sys_devices_system, unsigned long page_size,
		    struct numa_table *ret);

/* The node of pfn, or -1. The same search the BPF program does, for tests and tools. */
int numa_table_node_of(const struct numa_table *t, __u64 pfn);

#endif
