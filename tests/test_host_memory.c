// SPDX-License-Identifier: GPL-2.0-only
/*
 * host_memory_read() (user/tick.c): the host's RAM from the real /proc/meminfo, each NUMA
 * node's total and free from SYSFS_NODE_DIR/nodeN/meminfo, here fixture directories
 * (tests/fixtures/host_memory/) shaped like /sys/devices/system/node:
 *   two-nodes/  node0 (1 GiB, 512 MiB free), node1 (2 GiB, 1.5 GiB free)
 *   gap/        node0 and node2, no node1
 */
#include <errno.h>
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
#include "daemon.h"

#define KiB (1ULL << 10)
#define MiB (1ULL << 20)
#define GiB (1ULL << 30)

static char fixtures[PATH_MAX];

/*
 * The fixtures live in the source tree: $DYNMEM_FIXTURES, ./tests/fixtures when run from the
 * top directory (make), else found from the binary's place in .output/tests/.
 */
static int find_fixtures(void **state)
{
	(void)state;
	return fixture_dir("test_host_memory", "host_memory", fixtures, sizeof(fixtures));
}

/* MemTotal of the real /proc/meminfo, in bytes, read here independently. */
static __u64 proc_mem_total(void)
{
	unsigned long long kb = 0;
	char line[256];
	FILE *f = fopen("/proc/meminfo", "r");

	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "MemTotal: %llu kB", &kb) == 1)
			break;
	fclose(f);
	assert_true(kb > 0);
	return (__u64)kb * KiB;
}

static void read_dir(const char *name, struct host_memory *h)
{
	char dir[PATH_MAX + 32];

	snprintf(dir, sizeof(dir), "%s/%s", fixtures, name);
	assert_int_equal(host_memory_read(dir, h), 0);
}

static void two_nodes(void **state)
{
	struct host_memory h;

	(void)state;
	/* What a previous read left (more nodes then) must not survive this one. */
	memset(&h, 0xff, sizeof(h));
	read_dir("two-nodes", &h);
	assert_int_equal(h.nr_nodes, 2);
	assert_int_equal(h.node_total_bytes[0], 1 * GiB);
	assert_int_equal(h.node_free_bytes[0], 512 * MiB);
	assert_int_equal(h.node_total_bytes[1], 2 * GiB);
	assert_int_equal(h.node_free_bytes[1], 1536 * MiB);
	for (unsigned int n = 2; n < ALLOC_MAX_NODES; n++) {
		assert_int_equal(h.node_total_bytes[n], 0);
		assert_int_equal(h.node_free_bytes[n], 0);
	}
}

/* The host's total is /proc/meminfo's MemTotal, in bytes, not the nodes' sum. */
static void host_total_from_proc(void **state)
{
	struct host_memory h;

	(void)state;
	read_dir("two-nodes", &h);
	assert_int_equal(h.total_bytes, proc_mem_total());
	assert_int_not_equal(h.total_bytes, 3 * GiB);
}

/*
 * Nodes are read from node0 up and the first missing one ends the list: with node0 and
 * node2 only, the host has one node and node2 is never read. (Node numbers with holes exist,
 * after memory hot-remove or on some NUMA firmware; the daemon then sees only the nodes
 * before the first hole.)
 */
static void gap_stops_the_list(void **state)
{
	struct host_memory h;

	(void)state;
	read_dir("gap", &h);
	assert_int_equal(h.nr_nodes, 1);
	assert_int_equal(h.node_total_bytes[0], 1 * GiB);
	assert_int_equal(h.node_free_bytes[0], 512 * MiB);
	assert_int_equal(h.node_total_bytes[2], 0);
	assert_int_equal(h.node_free_bytes[2], 0);
}

/* No node directory at all (no NUMA in sysfs): no nodes, and not an error. */
static void no_node_dir(void **state)
{
	struct host_memory h;

	(void)state;
	read_dir("no-such-dir", &h);
	assert_int_equal(h.nr_nodes, 0);
	assert_int_equal(h.total_bytes, proc_mem_total());
}

static void put(const char *dir, const char *text)
{
	char path[256];
	FILE *f;

	mkdir(dir, 0755);
	snprintf(path, sizeof(path), "%s/meminfo", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/*
 * A node's meminfo without MemFree still makes a node (free 0: HugePages_Free is not taken
 * for it); one without MemTotal ends the list like a missing one, even with nodes after it.
 */
static void partial_meminfo(void **state)
{
	const char *root = *state;
	char dir[128];
	struct host_memory h;

	snprintf(dir, sizeof(dir), "%s/node0", root);
	put(dir, "Node 0 MemTotal:        1048576 kB\n"
		 "Node 0 HugePages_Free:     12\n");
	snprintf(dir, sizeof(dir), "%s/node1", root);
	put(dir, "Node 1 MemFree:          524288 kB\n"
		 "Node 1 HugePages_Total:    64\n");
	snprintf(dir, sizeof(dir), "%s/node2", root);
	put(dir, "Node 2 MemTotal:        2097152 kB\n"
		 "Node 2 MemFree:         2097152 kB\n");
	assert_int_equal(host_memory_read(root, &h), 0);
	assert_int_equal(h.nr_nodes, 1);
	assert_int_equal(h.node_total_bytes[0], 1 * GiB);
	assert_int_equal(h.node_free_bytes[0], 0);
}

/* A temp node directory for the tests that write their own meminfo files. */
static int make_temp_dir(void **state)
{
	char *root = strdup("/tmp/dynmem-nodes-XXXXXX");

	if (!root || !mkdtemp(root)) {
		free(root);
		return -1;
	}
	*state = root;
	return 0;
}

static int remove_temp_dir(void **state)
{
	char cmd[128];
	int rc;

	snprintf(cmd, sizeof(cmd), "rm -rf %s", (char *)*state);
	rc = system(cmd);
	free(*state);
	return rc ? -1 : 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(two_nodes),
		cmocka_unit_test(host_total_from_proc),
		cmocka_unit_test(gap_stops_the_list),
		cmocka_unit_test(no_node_dir),
		cmocka_unit_test_setup_teardown(partial_meminfo, make_temp_dir, remove_temp_dir),
	};

	return cmocka_run_group_tests_name("host_memory_read", tests, find_fixtures, NULL);
}
