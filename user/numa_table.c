// SPDX-License-Identifier: GPL-2.0-only
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "numa_table.h"

struct block {
	unsigned long index;
	unsigned int node;
};

static int read_block_size(const char *root, unsigned long long *ret_bytes)
{
	char path[4096];
	unsigned long long bytes;
	FILE *f;
	int n;

	snprintf(path, sizeof(path), "%s/memory/block_size_bytes", root);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	n = fscanf(f, "%llx", &bytes);
	fclose(f);
	if (n != 1 || !bytes)
		return -EINVAL;
	*ret_bytes = bytes;
	return 0;
}

static int blocks_append(struct block **blocks, size_t *n, size_t *cap, struct block b)
{
	if (*n == *cap) {
		size_t grown = *cap ? *cap * 2 : 64;
		struct block *p = realloc(*blocks, grown * sizeof(*p));

		if (!p)
			return -ENOMEM;
		*blocks = p;
		*cap = grown;
	}
	(*blocks)[(*n)++] = b;
	return 0;
}

/* Adds the memory<M> entries of one node<N> directory. */
static int scan_node(const char *root, unsigned int node, struct block **blocks, size_t *n,
		     size_t *cap)
{
	char path[4096];
	struct dirent *de;
	unsigned long index;
	char tail;
	DIR *dir;
	int err = 0;

	snprintf(path, sizeof(path), "%s/node/node%u", root, node);
	dir = opendir(path);
	if (!dir)
		return -errno;
	while (!err && (de = readdir(dir)))
		if (sscanf(de->d_name, "memory%lu%c", &index, &tail) == 1)
			err = blocks_append(blocks, n, cap, (struct block){ index, node });
	closedir(dir);
	return err;
}

static int by_index(const void *a, const void *b)
{
	const struct block *x = a, *y = b;

	return x->index < y->index ? -1 : x->index > y->index;
}

/* Sorted blocks → ranges, merging runs of consecutive blocks on the same node. */
static int merge_blocks(const struct block *blocks, size_t n, __u64 pfns_per_block,
			struct numa_table *t)
{
	for (size_t i = 0; i < n; i++) {
		__u64 start = blocks[i].index * pfns_per_block;
		struct dm_node_range *last = t->nr_ranges ? &t->ranges[t->nr_ranges - 1] : NULL;

		if (last && last->node == blocks[i].node && last->end_pfn == start) {
			last->end_pfn += pfns_per_block;
			continue;
		}
		if (t->nr_ranges == DM_MAX_NODE_RANGES)
			return -E2BIG;
		t->ranges[t->nr_ranges++] = (struct dm_node_range){
			.start_pfn = start,
			.end_pfn = start + pfns_per_block,
			.node = blocks[i].node,
		};
	}
	return 0;
}

int numa_table_load(const char *root, unsigned long page_size, struct numa_table *ret)
{
	struct numa_table *t = calloc(1, sizeof(*t));
	struct block *blocks = NULL;
	size_t n = 0, cap = 0;
	unsigned long long block_bytes = 0;
	char path[4096];
	struct dirent *de;
	unsigned int node;
	char tail;
	DIR *dir = NULL;
	int err;

	if (!t)
		return -ENOMEM;
	snprintf(path, sizeof(path), "%s/node", root);
	dir = opendir(path);
	if (!dir) {
		err = -errno;
		goto out;
	}
	err = read_block_size(root, &block_bytes);
	if (err == -ENOENT)
		block_bytes = 0; /* no memory hotplug: nodes without ranges */
	else if (err)
		goto out;
	err = 0;
	while (!err && (de = readdir(dir))) {
		if (sscanf(de->d_name, "node%u%c", &node, &tail) != 1)
			continue;
		t->nr_nodes++;
		if (block_bytes)
			err = scan_node(root, node, &blocks, &n, &cap);
	}
	if (err)
		goto out;
	qsort(blocks, n, sizeof(*blocks), by_index);
	err = merge_blocks(blocks, n, block_bytes / page_size, t);
	if (!err)
		*ret = *t;
out:
	if (dir)
		closedir(dir);
	free(blocks);
	free(t);
	return err;
}

int numa_table_node_of(const struct numa_table *t, __u64 pfn)
{
	size_t lo = 0, hi = t->nr_ranges;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (pfn < t->ranges[mid].start_pfn)
			hi = mid;
		else if (pfn >= t->ranges[mid].end_pfn)
			lo = mid + 1;
		else
			return (int)t->ranges[mid].node;
	}
	return -1;
}
