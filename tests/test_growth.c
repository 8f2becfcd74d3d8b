// SPDX-License-Identifier: GPL-2.0-only
/* growth_limit_to_free(): growth waits for memory a shrinking balloon has not given back yet. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include "growth.h"

#define MiB (1ULL << 20)

static struct alloc_vm vm_at(__u64 assigned, int node)
{
	return (struct alloc_vm){ .minimum_bytes = 256 * MiB,
				  .maximum_bytes = 4096 * MiB,
				  .weight = 5000,
				  .buffer_pct = 20,
				  .assigned_bytes = assigned,
				  .node = node };
}

static struct alloc_host host(__u64 budget)
{
	struct alloc_host h;

	alloc_host_defaults(&h);
	h.budget_bytes = budget;
	return h;
}

/* Free memory is enough: the plan stands. */
static void growth_within_free_stands(void **state)
{
	struct alloc_host h = host(3072 * MiB);
	struct alloc_vm in[] = { vm_at(1024 * MiB, -1), vm_at(1024 * MiB, -1) };
	__u64 has[] = { 1024 * MiB, 1024 * MiB };
	struct alloc_target out[] = { { .target_bytes = 1536 * MiB },
				      { .target_bytes = 1024 * MiB } };

	(void)state;
	growth_limit_to_free(&h, in, has, out, 2);
	assert_int_equal(out[0].target_bytes, 1536 * MiB);
	assert_int_equal(out[1].target_bytes, 1024 * MiB);
}

/*
 * The plan shrinks B (target 1024) to grow A, but B's balloon still holds 1536: only what is
 * free now (2048 - 512 - 1536 = 0) may go to A.
 */
static void growth_waits_for_a_lagging_balloon(void **state)
{
	struct alloc_host h = host(2048 * MiB);
	struct alloc_vm in[] = { vm_at(512 * MiB, -1), vm_at(1024 * MiB, -1) };
	__u64 has[] = { 512 * MiB, 1536 * MiB };
	struct alloc_target out[] = { { .target_bytes = 1024 * MiB },
				      { .target_bytes = 1024 * MiB } };

	(void)state;
	growth_limit_to_free(&h, in, has, out, 2);
	assert_int_equal(out[0].target_bytes, 512 * MiB);
	assert_int_equal(out[1].target_bytes, 1024 * MiB); /* shrinking is not touched */

	has[1] = 1280 * MiB; /* half of it came back: half of the growth */
	out[0].target_bytes = 1024 * MiB;
	growth_limit_to_free(&h, in, has, out, 2);
	assert_int_equal(out[0].target_bytes, 768 * MiB);
}

/* Two VMs growing into too little: each gets its share of what is free, pro rata. */
static void growth_is_cut_pro_rata(void **state)
{
	struct alloc_host h = host(2048 * MiB);
	struct alloc_vm in[] = { vm_at(512 * MiB, -1), vm_at(512 * MiB, -1), vm_at(512 * MiB, -1) };
	__u64 has[] = { 512 * MiB, 512 * MiB, 768 * MiB }; /* the third still comes down */
	struct alloc_target out[] = { { .target_bytes = 1024 * MiB },
				      { .target_bytes = 768 * MiB },
				      { .target_bytes = 256 * MiB } };

	(void)state;
	/* free = 2048 - 512 - 512 - 768 = 256 for a growth of 512 + 256: a third of each. */
	growth_limit_to_free(&h, in, has, out, 3);
	assert_int_equal(out[0].target_bytes, 512 * MiB + 512 * MiB / 3 / 4096 * 4096);
	assert_int_equal(out[1].target_bytes, 512 * MiB + 256 * MiB / 3 / 4096 * 4096);
	assert_int_equal(out[2].target_bytes, 256 * MiB);
}

/*
 * Spanning off: memory free on node 0 does not feed growth on node 1, where the shrinking VM
 * has not given its memory back yet.
 */
static void each_node_is_its_own_pool(void **state)
{
	struct alloc_host h = host(6144 * MiB);
	struct alloc_vm in[] = { vm_at(512 * MiB, 0), vm_at(512 * MiB, 1), vm_at(1024 * MiB, 1) };
	__u64 has[] = { 512 * MiB, 512 * MiB, 2560 * MiB };
	struct alloc_target out[] = { { .target_bytes = 1024 * MiB },
				      { .target_bytes = 1024 * MiB },
				      { .target_bytes = 1024 * MiB } };

	(void)state;
	h.numa_spanning = false;
	h.nr_nodes = 2;
	h.node_budget_bytes[0] = 3072 * MiB;
	h.node_budget_bytes[1] = 3072 * MiB;
	growth_limit_to_free(&h, in, has, out, 3);
	assert_int_equal(out[0].target_bytes, 1024 * MiB); /* node 0: 2560 free */
	assert_int_equal(out[1].target_bytes, 512 * MiB);  /* node 1: 3072 - 512 - 2560 = 0 */
	assert_int_equal(out[2].target_bytes, 1024 * MiB);
}

/* A VM below its minimum counts at its minimum: what it gets back first is not free. */
static void a_vm_below_its_minimum_counts_at_it(void **state)
{
	struct alloc_host h = host(960 * MiB);
	struct alloc_vm in[] = { vm_at(512 * MiB, -1), vm_at(128 * MiB, -1) };
	__u64 has[] = { 512 * MiB, 128 * MiB };
	struct alloc_target out[] = { { .target_bytes = 768 * MiB },
				      { .target_bytes = 256 * MiB } };

	(void)state;
	/* held 512 + 256 (B's minimum): 192 free for A's 256 (at 128, 320 would be free). */
	growth_limit_to_free(&h, in, has, out, 2);
	assert_int_equal(out[0].target_bytes, 704 * MiB);
	assert_int_equal(out[1].target_bytes, 256 * MiB);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(growth_within_free_stands),
		cmocka_unit_test(growth_waits_for_a_lagging_balloon),
		cmocka_unit_test(growth_is_cut_pro_rata),
		cmocka_unit_test(each_node_is_its_own_pool),
		cmocka_unit_test(a_vm_below_its_minimum_counts_at_it),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
