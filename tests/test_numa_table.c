// SPDX-License-Identifier: GPL-2.0-only
/*
 * Unit tests for user/numa_table.c against fixture trees shaped like /sys/devices/system
 * (tests/fixtures/sys-*). The parser only reads directory entry names and
 * memory/block_size_bytes, so the fixtures' memoryN entries are empty files: git keeps
 * those, where it would drop the empty directories or links sysfs has.
 *
 * Fixtures (page size 4096 unless a test says otherwise):
 *   sys-one-node    128 MiB blocks; node0 = blocks 0-5, 8-9
 *   sys-two-nodes   256 MiB blocks; node0 = 0 1 4 5 9, node1 = 2 3 6 10 11 (7, 8: hole)
 *   sys-memoryless  128 MiB blocks; node0 = 0-2, node1 has CPUs and no memory
 *   sys-no-hotplug  no memory/ directory; node0, node1
 */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cmocka.h>
#include "fixture.h"
#include "numa_table.h"

#define PAGE_4K 4096UL
/* pfns per memory block in each fixture: its block_size_bytes over the page size */
#define ONE_BLK (0x8000000ULL / PAGE_4K)
#define TWO_BLK (0x10000000ULL / PAGE_4K)

static char fixtures[PATH_MAX];
static char scratch[] = "/tmp/dynmem-numa-XXXXXX"; /* temp tree of too_many_ranges_is_e2big */

/*
 * The fixtures live in the source tree: $DYNMEM_FIXTURES, ./tests/fixtures when run from the
 * top directory (make), else found from the binary's place in .output/tests/.
 */
static int find_fixtures(void **state)
{
	(void)state;
	return fixture_dir("test_numa_table", "", fixtures, sizeof(fixtures));
}

static void load_fixture(const char *name, unsigned long page_size, struct numa_table *t)
{
	char root[PATH_MAX + 64];
	int err;

	snprintf(root, sizeof(root), "%s/%s", fixtures, name);
	err = numa_table_load(root, page_size, t);
	if (err)
		fail_msg("numa_table_load(%s): %s", root, strerror(-err));
}

static void assert_range(const struct numa_table *t, size_t i, __u64 start, __u64 end,
			 unsigned int node)
{
	const struct dm_node_range *r = &t->ranges[i];

	if (r->start_pfn != start || r->end_pfn != end || r->node != node)
		fail_msg("range %zu: [%llu, %llu) node %u, want [%llu, %llu) node %u", i,
			 (unsigned long long)r->start_pfn, (unsigned long long)r->end_pfn, r->node,
			 (unsigned long long)start, (unsigned long long)end, node);
}

/* The BPF program binary-searches the table: it must be sorted, disjoint and non-empty. */
static void assert_sorted_disjoint(const struct numa_table *t)
{
	for (size_t i = 0; i < t->nr_ranges; i++) {
		assert_true(t->ranges[i].start_pfn < t->ranges[i].end_pfn);
		if (i)
			assert_true(t->ranges[i - 1].end_pfn <= t->ranges[i].start_pfn);
	}
}

/* Consecutive blocks merge into one range; the hole between blocks 5 and 8 splits them. */
static void one_node(void **state)
{
	struct numa_table t;

	(void)state;
	load_fixture("sys-one-node", PAGE_4K, &t);
	assert_int_equal(t.nr_nodes, 1);
	assert_int_equal(t.nr_ranges, 2);
	assert_range(&t, 0, 0, 6 * ONE_BLK, 0);
	assert_range(&t, 1, 8 * ONE_BLK, 10 * ONE_BLK, 0);
	assert_int_equal(numa_table_node_of(&t, 0), 0);
	assert_int_equal(numa_table_node_of(&t, 6 * ONE_BLK - 1), 0);
	assert_int_equal(numa_table_node_of(&t, 6 * ONE_BLK), -1);
	assert_int_equal(numa_table_node_of(&t, 8 * ONE_BLK), 0);
	assert_int_equal(numa_table_node_of(&t, 10 * ONE_BLK), -1);
}

/* Ranges are in pfns: with 64 KiB pages (arm64) the same blocks hold 16x fewer pages. */
static void one_node_64k_pages(void **state)
{
	const __u64 blk = 0x8000000ULL / 65536;
	struct numa_table t;

	(void)state;
	load_fixture("sys-one-node", 65536, &t);
	assert_int_equal(t.nr_ranges, 2);
	assert_range(&t, 0, 0, 6 * blk, 0);
	assert_range(&t, 1, 8 * blk, 10 * blk, 0);
}

/*
 * Interleaved blocks, a hole and two-digit indices (readdir order and a string sort would
 * both put memory10 before memory2): the merged ranges must come out exactly, sorted.
 */
static void two_nodes_interleaved(void **state)
{
	struct numa_table t;

	(void)state;
	load_fixture("sys-two-nodes", PAGE_4K, &t);
	assert_int_equal(t.nr_nodes, 2);
	assert_int_equal(t.nr_ranges, 6);
	assert_range(&t, 0, 0 * TWO_BLK, 2 * TWO_BLK, 0);
	assert_range(&t, 1, 2 * TWO_BLK, 4 * TWO_BLK, 1);
	assert_range(&t, 2, 4 * TWO_BLK, 6 * TWO_BLK, 0);
	assert_range(&t, 3, 6 * TWO_BLK, 7 * TWO_BLK, 1);
	assert_range(&t, 4, 9 * TWO_BLK, 10 * TWO_BLK, 0);
	assert_range(&t, 5, 10 * TWO_BLK, 12 * TWO_BLK, 1);
	assert_sorted_disjoint(&t);
}

/* Lookups at every edge: first pfn, last pfn, one past the end, inside the hole. */
static void two_nodes_lookup_boundaries(void **state)
{
	/* Owner of each 256 MiB block in the fixture; -1 for the hole and past the end. */
	static const int owner[] = { 0, 0, 1, 1, 0, 0, 1, -1, -1, 0, 1, 1, -1, -1 };
	struct numa_table t;

	(void)state;
	load_fixture("sys-two-nodes", PAGE_4K, &t);
	for (size_t b = 0; b < sizeof(owner) / sizeof(owner[0]); b++) {
		__u64 first = b * TWO_BLK, last = first + TWO_BLK - 1;

		if (numa_table_node_of(&t, first) != owner[b] ||
		    numa_table_node_of(&t, last) != owner[b] ||
		    numa_table_node_of(&t, first + TWO_BLK / 2) != owner[b])
			fail_msg("block %zu: pfns %llu..%llu -> node %d, %d; want %d", b,
				 (unsigned long long)first, (unsigned long long)last,
				 numa_table_node_of(&t, first), numa_table_node_of(&t, last),
				 owner[b]);
	}
	/* The edges spelled out: end is exclusive, a hole is nobody's. */
	assert_int_equal(numa_table_node_of(&t, 0), 0);
	assert_int_equal(numa_table_node_of(&t, 2 * TWO_BLK - 1), 0);
	assert_int_equal(numa_table_node_of(&t, 2 * TWO_BLK), 1);
	assert_int_equal(numa_table_node_of(&t, 7 * TWO_BLK - 1), 1);
	assert_int_equal(numa_table_node_of(&t, 7 * TWO_BLK), -1);
	assert_int_equal(numa_table_node_of(&t, 9 * TWO_BLK - 1), -1);
	assert_int_equal(numa_table_node_of(&t, 12 * TWO_BLK - 1), 1);
	assert_int_equal(numa_table_node_of(&t, 12 * TWO_BLK), -1);
	assert_int_equal(numa_table_node_of(&t, ~0ULL), -1);
}

/* A node with CPUs and no memory is still a node: remote allocations can target it. */
static void memoryless_node_counted(void **state)
{
	struct numa_table t;

	(void)state;
	load_fixture("sys-memoryless", PAGE_4K, &t);
	assert_int_equal(t.nr_nodes, 2);
	assert_int_equal(t.nr_ranges, 1);
	assert_range(&t, 0, 0, 3 * ONE_BLK, 0);
	assert_int_equal(numa_table_node_of(&t, 3 * ONE_BLK), -1);
}

/*
 * No block_size_bytes (no memory hotplug): no ranges, and no guessed block size even though
 * node0 still lists a memory0 entry; the nodes are counted all the same.
 */
static void no_hotplug_nodes_without_ranges(void **state)
{
	struct numa_table t;

	(void)state;
	load_fixture("sys-no-hotplug", PAGE_4K, &t);
	assert_int_equal(t.nr_nodes, 2);
	assert_int_equal(t.nr_ranges, 0);
	assert_int_equal(numa_table_node_of(&t, 0), -1);
}

static void missing_root_is_enoent(void **state)
{
	char root[PATH_MAX + 64];
	struct numa_table t;

	(void)state;
	snprintf(root, sizeof(root), "%s/no-such-sys-%d", fixtures, getpid());
	assert_int_equal(numa_table_load(root, PAGE_4K, &t), -ENOENT);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void touch_block(const char *node_dir, unsigned long block)
{
	char path[PATH_MAX];
	FILE *f;

	if (snprintf(path, sizeof(path), "%s/memory%lu", node_dir, block) >= (int)sizeof(path))
		fail_msg("%s: path too long", node_dir);
	f = fopen(path, "w");
	if (!f)
		fail_msg("%s: %s", path, strerror(errno));
	fclose(f);
}

/* A two-node tree in a temp dir where blocks alternate nodes: nr_blocks ranges, unmergeable. */
static void make_alternating_tree(const char *root, unsigned long nr_blocks)
{
	char dir[PATH_MAX];
	FILE *f;

	snprintf(dir, sizeof(dir), "%s/memory", root);
	assert_int_equal(mkdir(dir, 0755), 0);
	snprintf(dir, sizeof(dir), "%s/memory/block_size_bytes", root);
	f = fopen(dir, "w");
	assert_non_null(f);
	fputs("8000000\n", f);
	fclose(f);
	snprintf(dir, sizeof(dir), "%s/node", root);
	assert_int_equal(mkdir(dir, 0755), 0);
	for (unsigned int node = 0; node < 2; node++) {
		snprintf(dir, sizeof(dir), "%s/node/node%u", root, node);
		assert_int_equal(mkdir(dir, 0755), 0);
		for (unsigned long b = node; b < nr_blocks; b += 2)
			touch_block(dir, b);
	}
}

static int scratch_create(void **state)
{
	(void)state;
	strcpy(scratch, "/tmp/dynmem-numa-XXXXXX");
	return mkdtemp(scratch) ? 0 : -1;
}

/* Runs whether the test passed or not: no temp tree is left behind. */
static int scratch_remove(void **state)
{
	(void)state;
	return nftw(scratch, remove_entry, 16, FTW_DEPTH | FTW_PHYS) ? -1 : 0;
}

/*
 * Exactly DM_MAX_NODE_RANGES ranges fit the BPF map; one more must fail with -E2BIG rather
 * than silently drop memory from the table.
 */
static void too_many_ranges_is_e2big(void **state)
{
	char node_dir[PATH_MAX];
	struct numa_table t;

	(void)state;
	make_alternating_tree(scratch, DM_MAX_NODE_RANGES);
	assert_int_equal(numa_table_load(scratch, PAGE_4K, &t), 0);
	assert_int_equal(t.nr_ranges, DM_MAX_NODE_RANGES);
	assert_int_equal(t.nr_nodes, 2);
	assert_sorted_disjoint(&t);
	assert_int_equal(numa_table_node_of(&t, (DM_MAX_NODE_RANGES - 1) * ONE_BLK),
			 (DM_MAX_NODE_RANGES - 1) % 2);

	/* One more block, on the other node than the last one: a range of its own. */
	snprintf(node_dir, sizeof(node_dir), "%s/node/node%d", scratch, DM_MAX_NODE_RANGES % 2);
	touch_block(node_dir, DM_MAX_NODE_RANGES);
	assert_int_equal(numa_table_load(scratch, PAGE_4K, &t), -E2BIG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(one_node),
		cmocka_unit_test(one_node_64k_pages),
		cmocka_unit_test(two_nodes_interleaved),
		cmocka_unit_test(two_nodes_lookup_boundaries),
		cmocka_unit_test(memoryless_node_counted),
		cmocka_unit_test(no_hotplug_nodes_without_ranges),
		cmocka_unit_test(missing_root_is_enoent),
		cmocka_unit_test_setup_teardown(too_many_ranges_is_e2big, scratch_create,
						scratch_remove),
	};

	return cmocka_run_group_tests_name("numa_table", tests, find_fixtures, NULL);
}
