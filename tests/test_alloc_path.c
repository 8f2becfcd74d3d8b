// SPDX-License-Identifier: GPL-2.0-only
/*
 * The allocator's plan does not depend on how it was found (docs/allocator.md): granules go
 * in key order, whether the level's passes take them at once or the heap one by one. This
 * plans random hosts with two builds of user/alloc.c, the real one and one whose heap hands
 * out sixteen times as much of each fill (ALLOC_HEAP_SHARE 16, names prefixed heap16_), and
 * wants the same targets, reasons and summary to the byte, tick after tick.
 *
 * The hosts' sizes span all 64 bits, with caps and budgets up to 2^64 - 1 and granules of
 * 1 byte to 1 GiB: above 2^53 a size has no exact double, and that is where the two ways
 * parted (a key below where amount_at() reached it, x rounded up a granule). test_alloc
 * checks the policy's properties on hosts of ordinary sizes.
 *
 * ALLOC_TEST_SEED=N (default 1) and ALLOC_TEST_SCENARIOS=N (default 20000), as in test_alloc.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "alloc.h"
#include "rng.h"

int heap16_alloc_plan(const struct alloc_host *h, const struct alloc_vm *vms, size_t n,
		      struct alloc_target *ret_targets, struct alloc_summary *ret_summary);

#define SEC	1000000000ULL
#define MAX_VMS 200
#define TICKS	5

/* Below 2^bits, bits drawn uniformly from 0..64: sizes of every magnitude. */
static __u64 rnd_bits(void)
{
	unsigned int bits = (unsigned int)rnd_range(0, 64);

	return bits == 64 ? rnd() : rnd() & ((1ULL << bits) - 1);
}

/* A size of any magnitude, or one within 1 TiB of 2^64 now and then. */
static __u64 rnd_size(void)
{
	return rnd_range(0, 3) ? rnd_bits() : UINT64_MAX - (rnd() >> 24);
}

static void random_vm(struct alloc_vm *v, const struct alloc_host *h, size_t n)
{
	__u64 a = rnd_size() / n, b = rnd_size(), span;

	memset(v, 0, sizeof(*v));
	v->granule_bytes = rnd_range(0, 3) ? 1ULL << rnd_range(0, 30) : 0;
	/* Some maximums alone take most of what a __u64 holds; their sums need 128 bits. */
	b = rnd_range(0, 1) ? b : b / n;
	v->minimum_bytes = a < b ? a : b;
	v->maximum_bytes = a < b ? b : a;
	v->demand_bytes = rnd_range(0, 4) ? rnd_bits() / n * rnd_range(1, 3)
					  : v->maximum_bytes / 100 * rnd_range(20, 120);
	v->buffer_pct = (__u32)rnd_range(ALLOC_BUFFER_MIN_PCT, rnd_range(0, 3) ? 100 : 2000);
	v->weight = rnd_range(0, 9) ? (__u32)rnd_range(1, ALLOC_WEIGHT_MAX) : 0;
	span = v->maximum_bytes - v->minimum_bytes;
	v->assigned_bytes =
		rnd_range(0, 2) ? v->minimum_bytes + span / 100 * rnd_range(0, 100) : rnd_bits();
	v->pressure = rnd_range(0, 19) == 0;
	v->last_shrink_ns = rnd_range(0, 9) < 3 ? h->now_ns - rnd_range(0, 10) * SEC : 0;
	v->node = (int)rnd_range(0, h->nr_nodes) - 1;
}

/* Budgets from the minimums to above the maximums, at most 2^64 - 1. */
static void random_host(struct alloc_host *h, struct alloc_vm *v, size_t n)
{
	unsigned __int128 min = 0, max = 0;

	alloc_host_defaults(h);
	h->now_ns = 1000000 * SEC;
	h->numa_spanning = rnd_range(0, 1);
	h->nr_nodes = h->numa_spanning ? 1 : rnd_range(1, 4);
	for (size_t i = 0; i < n; i++) {
		random_vm(&v[i], h, n);
		min += v[i].minimum_bytes;
		max += v[i].maximum_bytes;
	}
	for (size_t k = 0; k < h->nr_nodes; k++) {
		unsigned __int128 b = (min + (max - min) * rnd_range(0, 120) / 100) / h->nr_nodes;

		h->node_budget_bytes[k] = b > UINT64_MAX ? UINT64_MAX : (__u64)b;
	}
	h->budget_bytes = h->node_budget_bytes[0];
}

/* Field by field: the padding of a struct written whole is anything. */
static bool same_target(const struct alloc_target *a, const struct alloc_target *b)
{
	return a->target_bytes == b->target_bytes && a->want_bytes == b->want_bytes &&
	       a->reason == b->reason;
}

static bool same_summary(const struct alloc_summary *a, const struct alloc_summary *b)
{
	return a->total_bytes == b->total_bytes && a->want_bytes == b->want_bytes &&
	       !memcmp(a->node_total_bytes, b->node_total_bytes, sizeof(a->node_total_bytes)) &&
	       a->overcommitted == b->overcommitted && a->holds_dropped == b->holds_dropped &&
	       a->dropped_reasons == b->dropped_reasons &&
	       a->overcommitted_nodes == b->overcommitted_nodes &&
	       a->holds_dropped_nodes == b->holds_dropped_nodes &&
	       a->nr_unplaced == b->nr_unplaced && a->nr_short == b->nr_short &&
	       a->nr_held == b->nr_held;
}

/* Where the builds part, if they do: the host's seed and tick, and the first VM. */
static void compare(__u64 seed, int tick, const struct alloc_vm *v, size_t n,
		    const struct alloc_target *a, const struct alloc_target *b)
{
	size_t i = 0;

	while (i < n && same_target(&a[i], &b[i]))
		i++;
	if (i == n)
		return;
	fail_msg("host seed %llu (ALLOC_TEST_SEED=%llu ALLOC_TEST_SCENARIOS=1), tick %d, %zu VMs: "
		 "vm%zu (min %llu max %llu granule %llu weight %u) gets %llu (%s) in one build, "
		 "%llu (%s) in the other",
		 (unsigned long long)seed, (unsigned long long)seed, tick, n, i,
		 (unsigned long long)v[i].minimum_bytes, (unsigned long long)v[i].maximum_bytes,
		 (unsigned long long)v[i].granule_bytes, v[i].weight,
		 (unsigned long long)a[i].target_bytes, alloc_reason_name(a[i].reason),
		 (unsigned long long)b[i].target_bytes, alloc_reason_name(b[i].reason));
}

static void same_plan_whichever_way_it_is_found(void **state)
{
	static struct alloc_vm v[MAX_VMS];
	static struct alloc_target a[MAX_VMS], b[MAX_VMS];
	__u64 seed = env_u64("ALLOC_TEST_SEED", 1), count = env_u64("ALLOC_TEST_SCENARIOS", 20000);
	size_t plans = 0, short_plans = 0;

	(void)state;
	for (__u64 s = seed; s < seed + count; s++) {
		struct alloc_host h;
		size_t n;

		rng_state = s;
		n = rnd_range(1, MAX_VMS);
		random_host(&h, v, n);
		for (int tick = 0; tick < TICKS; tick++) {
			struct alloc_summary sa, sb;
			int ra = alloc_plan(&h, v, n, a, &sa);
			int rb = heap16_alloc_plan(&h, v, n, b, &sb);

			if (ra || rb)
				fail_msg("host seed %llu: alloc_plan %d, the other build %d",
					 (unsigned long long)s, ra, rb);
			compare(s, tick, v, n, a, b);
			if (!same_summary(&sa, &sb))
				fail_msg("host seed %llu, tick %d: the summaries differ",
					 (unsigned long long)s, tick);
			plans++;
			short_plans += sa.nr_short > 0;
			/* The next tick: what each VM has is what it was given. */
			for (size_t i = 0; i < n; i++) {
				v[i].last_shrink_ns = a[i].target_bytes < v[i].assigned_bytes
							      ? h.now_ns
							      : v[i].last_shrink_ns;
				v[i].assigned_bytes = a[i].target_bytes;
			}
			h.now_ns += SEC;
		}
	}
	/* Hosts with nobody short would compare nothing but the wants. */
	if (short_plans * 2 < plans)
		fail_msg("only %zu of %zu plans had a VM short of its want", short_plans, plans);
	printf("%zu plans of %llu hosts the same in both builds, %zu of them short\n", plans,
	       (unsigned long long)count, short_plans);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(same_plan_whichever_way_it_is_found),
	};

	return cmocka_run_group_tests_name("alloc_path", tests, NULL, NULL);
}
