// SPDX-License-Identifier: GPL-2.0-only
/*
 * Unit tests for user/alloc.c. Hand-written cases pin the edges and the exact numbers of
 * small plans; random_scenarios generates thousands of hosts and checks every property of
 * docs/allocator.md on each, recomputing what it checks from the inputs.
 *
 * ALLOC_TEST_SEED=N (default 1) and ALLOC_TEST_SCENARIOS=N (default 20000) steer the random
 * part; a failure prints the scenario's own seed, which reruns it alone with
 * ALLOC_TEST_SCENARIOS=1.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>
#include "alloc.h"
#include "rng.h"

#define KiB 1024ULL
#define MiB (1024 * KiB)
#define GiB (1024 * MiB)
#define SEC 1000000000ULL

typedef unsigned __int128 u128;

/* --- helpers ----------------------------------------------------------------------- */

/* Demand d and the core of its in-use margin, in 4K pages: what a lighter VM keeps. */
#define CORE(d) (((d) + (d) / 100 * ALLOC_IN_USE_CORE_PCT + 4 * KiB - 1) & ~(4 * KiB - 1))

/* buffer 100%: want is twice the demand, which keeps the arithmetic of the cases plain. */
static struct alloc_vm mkvm(__u64 min, __u64 max, __u64 demand, __u32 weight)
{
	return (struct alloc_vm){
		.minimum_bytes = min,
		.maximum_bytes = max,
		.buffer_pct = 100,
		.weight = weight,
		.demand_bytes = demand,
		.node = -1,
	};
}

static struct alloc_host mkhost(__u64 budget)
{
	struct alloc_host h;

	alloc_host_defaults(&h);
	h.budget_bytes = budget;
	h.now_ns = 1000 * SEC;
	return h;
}

static void plan(const struct alloc_host *h, const struct alloc_vm *vms, size_t n,
		 struct alloc_target *t, struct alloc_summary *s)
{
	int rc = alloc_plan(h, vms, n, t, s);

	if (rc)
		fail_msg("alloc_plan: %d", rc);
}

#define assert_target(t, bytes, why)                                                               \
	do {                                                                                       \
		if ((t).target_bytes != (bytes) || (t).reason != (why))                            \
			fail_msg("target %llu (%s), want %llu (%s)",                               \
				 (unsigned long long)(t).target_bytes,                             \
				 alloc_reason_name((t).reason), (unsigned long long)(bytes),       \
				 alloc_reason_name(why));                                          \
	} while (0)

/* --- hand-written cases ------------------------------------------------------------ */

static void enough_memory_gives_every_want(void **state)
{
	struct alloc_vm v[] = { mkvm(1 * GiB, 16 * GiB, 2 * GiB, 5000),
				mkvm(1 * GiB, 16 * GiB, 3 * GiB, 100) };
	struct alloc_host h = mkhost(32 * GiB);
	struct alloc_target t[2];
	struct alloc_summary s;

	(void)state;
	plan(&h, v, 2, t, &s);
	assert_target(t[0], 4 * GiB, ALLOC_WANT);
	assert_target(t[1], 6 * GiB, ALLOC_WANT);
	assert_int_equal(t[0].want_bytes, 4 * GiB);
	assert_int_equal(s.total_bytes, 10 * GiB);
	assert_int_equal(s.want_bytes, 10 * GiB);
	assert_false(s.overcommitted);
	assert_int_equal(s.nr_short, 0);
}

/* want 8G each, minimums 0, 6G to share at weights 2:1: λ·(2·8 + 1·8) = 6, λ = 1/4. */
static void short_memory_goes_by_weight(void **state)
{
	struct alloc_vm v[] = { mkvm(0, 16 * GiB, 4 * GiB, 2000),
				mkvm(0, 16 * GiB, 4 * GiB, 1000) };
	struct alloc_host h = mkhost(6 * GiB);
	struct alloc_target t[2];
	struct alloc_summary s;

	(void)state;
	plan(&h, v, 2, t, &s);
	assert_target(t[0], 4 * GiB, ALLOC_WEIGHT);
	assert_target(t[1], 2 * GiB, ALLOC_WEIGHT);
	assert_int_equal(s.nr_short, 2);
}

/* The light VM's minimum holds it up; the heavy one takes what is left, not less. */
static void minimum_holds_up_a_light_vm(void **state)
{
	struct alloc_vm v[] = { mkvm(0, 16 * GiB, 4 * GiB, 2000),
				mkvm(5 * GiB, 16 * GiB, 4 * GiB, 1000) };
	struct alloc_host h = mkhost(9 * GiB);
	struct alloc_target t[2];
	struct alloc_summary s;

	(void)state;
	plan(&h, v, 2, t, &s);
	assert_target(t[0], 4 * GiB, ALLOC_WEIGHT);
	assert_target(t[1], 5 * GiB, ALLOC_MINIMUM);
}

static void minimums_alone_exceed_the_budget(void **state)
{
	struct alloc_vm v[] = { mkvm(4 * GiB, 8 * GiB, 4 * GiB, 5000),
				mkvm(4 * GiB, 8 * GiB, 1 * GiB, 10000),
				mkvm(4 * GiB, 8 * GiB, 0, 0) };
	struct alloc_host h = mkhost(10 * GiB);
	struct alloc_target t[3];
	struct alloc_summary s;

	(void)state;
	v[0].pressure = true; /* even a VM in distress gets only its minimum: there is no more */
	v[0].assigned_bytes = 8 * GiB;
	plan(&h, v, 3, t, &s);
	for (int i = 0; i < 3; i++)
		assert_target(t[i], 4 * GiB, ALLOC_OVERCOMMIT);
	assert_true(s.overcommitted);
	assert_int_equal(s.total_bytes, 12 * GiB);
}

static void one_vm(void **state)
{
	struct alloc_vm v = mkvm(1 * GiB, 8 * GiB, 3 * GiB, 5000);
	struct alloc_host h = mkhost(7 * GiB);
	struct alloc_target t;
	struct alloc_summary s;

	(void)state;
	plan(&h, &v, 1, &t, &s);
	assert_target(t, 6 * GiB, ALLOC_WANT);
	h.budget_bytes = 5 * GiB + 123; /* short: all of it, to the granule */
	plan(&h, &v, 1, &t, &s);
	assert_target(t, 5 * GiB, ALLOC_WEIGHT);
	v.demand_bytes = 100 * GiB;
	h.budget_bytes = 100 * GiB;
	plan(&h, &v, 1, &t, &s);
	assert_target(t, 8 * GiB, ALLOC_CAPPED);
	h.budget_bytes = 512 * MiB;
	plan(&h, &v, 1, &t, &s);
	assert_target(t, 1 * GiB, ALLOC_OVERCOMMIT);
	assert_true(s.overcommitted);
}

static void weight_zero_gets_minimum_when_short(void **state)
{
	struct alloc_vm v[] = { mkvm(1 * GiB, 16 * GiB, 4 * GiB, 0),
				mkvm(1 * GiB, 16 * GiB, 4 * GiB, 1) };
	struct alloc_host h = mkhost(8 * GiB);
	struct alloc_target t[2];
	struct alloc_summary s;

	(void)state;
	plan(&h, v, 2, t, &s);
	assert_target(t[0], 1 * GiB, ALLOC_MINIMUM);
	assert_target(t[1], 7 * GiB, ALLOC_WEIGHT);
	/* Once the weighted VM has its want, weight 0 takes what is left: nothing idles. */
	h.budget_bytes = 12 * GiB;
	plan(&h, v, 2, t, &s);
	assert_target(t[0], 4 * GiB, ALLOC_WEIGHT);
	assert_target(t[1], 8 * GiB, ALLOC_WANT);
	h.budget_bytes = 20 * GiB;
	plan(&h, v, 2, t, &s);
	assert_target(t[0], 8 * GiB, ALLOC_WANT);
}

static void vm_at_its_minimum_under_pressure(void **state)
{
	struct alloc_vm v[] = { mkvm(2 * GiB, 16 * GiB, 8 * GiB, 1000),
				mkvm(2 * GiB, 16 * GiB, 8 * GiB, 9000) };
	struct alloc_host h = mkhost(10 * GiB);
	struct alloc_target t[2];
	struct alloc_summary s;

	(void)state;
	v[0].pressure = true;
	v[0].assigned_bytes = 2 * GiB;
	v[1].assigned_bytes = 8 * GiB;
	plan(&h, v, 2, t, &s);
	/* λ·(1000·16 + 9000·16) = 10 clamps the light one to 1.0G, below its floor. */
	assert_target(t[0], 2 * GiB, ALLOC_MINIMUM);
	assert_target(t[1], 8 * GiB, ALLOC_WEIGHT);
	/*
	 * Assigned above its ideal: pressure keeps it and the other one pays, beyond its 10%
	 * step and below the 8G its guest uses (8G to 7.2G would not leave 5G): the step and
	 * then the in-use floor are the limits that give way.
	 */
	v[0].assigned_bytes = 5 * GiB;
	plan(&h, v, 2, t, &s);
	assert_target(t[0], 5 * GiB, ALLOC_HOLD_PRESSURE);
	assert_target(t[1], 5 * GiB, ALLOC_WEIGHT);
	assert_int_equal(s.nr_held, 1);
	assert_true(s.holds_dropped);
	assert_int_equal(s.dropped_reasons, 1U << ALLOC_SHRINK_STEP | 1U << ALLOC_HOLD_HYSTERESIS |
						    1U << ALLOC_HOLD_RATE |
						    1U << ALLOC_HOLD_IN_USE);
	/* With room for the step, both limits hold. */
	h.budget_bytes = 13 * GiB;
	plan(&h, v, 2, t, &s);
	assert_target(t[0], 5 * GiB, ALLOC_HOLD_PRESSURE);
	assert_int_equal(t[1].target_bytes, 8 * GiB);
	assert_false(s.holds_dropped);
}

static void shrink_is_rate_limited_and_stepped(void **state)
{
	struct alloc_vm v = mkvm(1 * GiB, 64 * GiB, 4 * GiB, 5000); /* want 8G */
	struct alloc_host h = mkhost(64 * GiB);
	struct alloc_target t;
	struct alloc_summary s;

	(void)state;
	v.assigned_bytes = 20 * GiB;
	plan(&h, &v, 1, &t, &s);
	assert_target(t, 18 * GiB, ALLOC_SHRINK_STEP); /* 10% of 20G per step */
	v.assigned_bytes = t.target_bytes;
	v.last_shrink_ns = h.now_ns;
	h.now_ns += 4 * SEC;
	plan(&h, &v, 1, &t, &s);
	assert_target(t, 18 * GiB, ALLOC_HOLD_RATE);
	h.now_ns += 1 * SEC;
	plan(&h, &v, 1, &t, &s);
	assert_int_equal(t.target_bytes, 18 * GiB - (18 * GiB / 10 - (18 * GiB / 10) % (4 * KiB)));
	assert_int_equal(t.target_bytes % (4 * KiB), 0);
	assert_int_equal(t.reason, ALLOC_SHRINK_STEP);
	/* The last step lands on the ideal itself. */
	v.assigned_bytes = 8 * GiB + 512 * MiB;
	v.last_shrink_ns = 0;
	plan(&h, &v, 1, &t, &s);
	assert_target(t, 8 * GiB, ALLOC_WANT);
	/* Growth is not limited at all. */
	v.assigned_bytes = 1 * GiB;
	v.last_shrink_ns = h.now_ns;
	plan(&h, &v, 1, &t, &s);
	assert_target(t, 8 * GiB, ALLOC_WANT);
}

static void hysteresis_stops_small_shrinks(void **state)
{
	struct alloc_vm v = mkvm(1 * GiB, 64 * GiB, 4 * GiB, 5000); /* want 8G */
	struct alloc_host h = mkhost(64 * GiB);
	struct alloc_target t;
	struct alloc_summary s;

	(void)state;
	v.assigned_bytes = 8 * GiB + 400 * MiB; /* 4.7% above: held */
	plan(&h, &v, 1, &t, &s);
	assert_target(t, 8 * GiB + 400 * MiB, ALLOC_HOLD_HYSTERESIS);
	v.assigned_bytes = 8 * GiB + 440 * MiB; /* 5.1% above: shrinks */
	plan(&h, &v, 1, &t, &s);
	assert_target(t, 8 * GiB, ALLOC_WANT);
}

static void max_lowered_caps_at_once(void **state)
{
	struct alloc_vm v = mkvm(1 * GiB, 4 * GiB, 8 * GiB, 5000);
	struct alloc_host h = mkhost(64 * GiB);
	struct alloc_target t;
	struct alloc_summary s;

	(void)state;
	v.assigned_bytes = 16 * GiB;
	v.pressure = true;
	v.last_shrink_ns = h.now_ns - 1;
	plan(&h, &v, 1, &t, &s);
	assert_target(t, 4 * GiB, ALLOC_CAPPED);
}

/* A VM on 1G pages can't give back 10% of 4G: it gives back one page per step. */
static void huge_granule_shrinks_by_one_page(void **state)
{
	struct alloc_vm v = mkvm(1 * GiB, 64 * GiB, 512 * MiB, 5000);
	struct alloc_host h = mkhost(64 * GiB);
	struct alloc_target t;
	struct alloc_summary s;

	(void)state;
	v.granule_bytes = 1 * GiB;
	v.assigned_bytes = 4 * GiB;
	plan(&h, &v, 1, &t, &s);
	assert_int_equal(t.want_bytes, 1 * GiB);
	assert_target(t, 3 * GiB, ALLOC_SHRINK_STEP);
}

static void want_rounds_up_to_granule_not_above_max(void **state)
{
	struct alloc_vm v = mkvm(0, 7 * GiB + 3 * MiB, 1 * GiB + 1, 5000);
	struct alloc_host h = mkhost(64 * GiB);
	struct alloc_target t;
	struct alloc_summary s;

	(void)state;
	v.granule_bytes = 2 * MiB;
	plan(&h, &v, 1, &t, &s);
	assert_target(t, 2 * GiB + 2 * MiB, ALLOC_WANT);
	v.demand_bytes = 3 * GiB + 512 * MiB + 3 * MiB / 2; /* 7G + 3M: max, not a granule */
	plan(&h, &v, 1, &t, &s);
	assert_target(t, 7 * GiB + 3 * MiB, ALLOC_WANT);
	v.demand_bytes = UINT64_MAX; /* × 2 overflows 64 bits */
	plan(&h, &v, 1, &t, &s);
	assert_target(t, 7 * GiB + 3 * MiB, ALLOC_CAPPED);
}

/* Leftover smaller than a 2M granule still reaches a 4K VM: no memory idles. */
static void leftover_goes_to_smaller_granules(void **state)
{
	struct alloc_vm v[] = { mkvm(0, 16 * GiB, 4 * GiB, 9000),
				mkvm(0, 16 * GiB, 4 * GiB, 1000) };
	struct alloc_host h = mkhost(4 * GiB + 1 * MiB);
	struct alloc_target t[2];
	struct alloc_summary s;

	(void)state;
	v[0].granule_bytes = 2 * MiB;
	plan(&h, v, 2, t, &s);
	assert_int_equal(t[0].target_bytes % (2 * MiB), 0);
	assert_int_equal(t[0].target_bytes + t[1].target_bytes, 4 * GiB + 1 * MiB);
}

static void demand_zero_wants_the_minimum(void **state)
{
	struct alloc_vm v[] = { mkvm(1 * GiB, 8 * GiB, 0, 5000), mkvm(0, 8 * GiB, 0, 5000) };
	struct alloc_host h = mkhost(64 * GiB);
	struct alloc_target t[2];
	struct alloc_summary s;

	(void)state;
	plan(&h, v, 2, t, &s);
	assert_target(t[0], 1 * GiB, ALLOC_WANT);
	assert_target(t[1], 0, ALLOC_WANT);
	assert_int_equal(t[1].want_bytes, 0);
}

static void max_equals_min(void **state)
{
	struct alloc_vm v[] = { mkvm(4 * GiB, 4 * GiB, 16 * GiB, 5000),
				mkvm(4 * GiB, 4 * GiB, 0, 5000),
				mkvm(0, 16 * GiB, 16 * GiB, 5000) };
	struct alloc_host h = mkhost(10 * GiB);
	struct alloc_target t[3];
	struct alloc_summary s;

	(void)state;
	v[0].assigned_bytes = 2 * GiB;
	v[1].assigned_bytes = 6 * GiB;
	v[1].pressure = true;
	plan(&h, v, 3, t, &s);
	assert_target(t[0], 4 * GiB, ALLOC_CAPPED);
	assert_target(t[1], 4 * GiB, ALLOC_WANT);
	assert_target(t[2], 2 * GiB, ALLOC_WEIGHT);
}

static void budget_zero(void **state)
{
	struct alloc_vm v[] = { mkvm(0, 8 * GiB, 1 * GiB, 5000), mkvm(0, 8 * GiB, 1 * GiB, 5000) };
	struct alloc_host h = mkhost(0);
	struct alloc_target t[2];
	struct alloc_summary s;

	(void)state;
	plan(&h, v, 2, t, &s);
	assert_target(t[0], 0, ALLOC_MINIMUM);
	assert_target(t[1], 0, ALLOC_MINIMUM);
	assert_false(s.overcommitted);
	v[1].minimum_bytes = 4 * KiB;
	plan(&h, v, 2, t, &s);
	assert_target(t[1], 4 * KiB, ALLOC_OVERCOMMIT);
	assert_true(s.overcommitted);
}

/*
 * Weight shares what is free or can be freed; it does not balloon a lighter VM below what its
 * guest uses (without swap in the guest, that is its OOM killer). Only the budget can.
 */
static void memory_in_use_is_not_taken_for_weight(void **state)
{
	struct alloc_vm v[] = { mkvm(1 * GiB, 16 * GiB, 6 * GiB, 9000),	  /* want 12G */
				mkvm(1 * GiB, 16 * GiB, 6 * GiB, 1000) }; /* uses all of it */
	struct alloc_host h = mkhost(12 * GiB);
	struct alloc_target t[2];
	struct alloc_summary s;

	(void)state;
	v[0].assigned_bytes = v[1].assigned_bytes = 6 * GiB;
	plan(&h, v, 2, t, &s);
	assert_target(t[0], 6 * GiB, ALLOC_WEIGHT);
	assert_target(t[1], 6 * GiB, ALLOC_HOLD_IN_USE);
	assert_false(s.holds_dropped);
	/* What it does not use, it gives, a step at a time: 4G in use, 6G -> 5.4G. */
	v[1].demand_bytes = 4 * GiB;
	plan(&h, v, 2, t, &s);
	assert_target(t[1], (6 * GiB - 6 * GiB / 10 + 4 * KiB - 1) & ~(4 * KiB - 1), /* to 4K */
		      ALLOC_SHRINK_STEP);
	/*
	 * ... and down to what it uses and 10% more, not below, once the step would go further,
	 * while the heavier VM has what its own guest uses and 10% more (5G of its 6G).
	 */
	v[0].demand_bytes = 5 * GiB;
	v[1].assigned_bytes = 4 * GiB + 512 * MiB;
	plan(&h, v, 2, t, &s);
	assert_target(t[1], (4 * GiB + 4 * GiB / 100 * 10 + 4 * KiB - 1) & ~(4 * KiB - 1),
		      ALLOC_HOLD_IN_USE);
	assert_false(s.holds_dropped);
	/*
	 * The heavier guest uses all it has: its need (6G and 10%) comes before the lighter VM's
	 * margin, which gives way down to its core, its demand and 5%.
	 */
	v[0].demand_bytes = 6 * GiB;
	plan(&h, v, 2, t, &s);
	assert_target(t[1], CORE(4 * GiB), ALLOC_HOLD_IN_USE);
	assert_target(t[0], 12 * GiB - CORE(4 * GiB), ALLOC_WEIGHT);
	assert_int_equal(s.dropped_reasons, 1U << ALLOC_HOLD_IN_USE);
	/* A budget that can't keep it gives way: the in-use floor is dropped, pressure is not. */
	h.budget_bytes = 7 * GiB;
	v[0].pressure = true;
	plan(&h, v, 2, t, &s);
	assert_target(t[0], 6 * GiB, ALLOC_HOLD_PRESSURE);
	assert_target(t[1], 1 * GiB, ALLOC_MINIMUM);
	assert_true(s.dropped_reasons & 1U << ALLOC_HOLD_IN_USE);
	assert_false(s.dropped_reasons & 1U << ALLOC_HOLD_PRESSURE);
}

static void holds_that_do_not_fit_are_dropped(void **state)
{
	struct alloc_vm v[] = { mkvm(1 * GiB, 16 * GiB, 1 * GiB, 5000),
				mkvm(1 * GiB, 16 * GiB, 1 * GiB, 5000) };
	struct alloc_host h = mkhost(6 * GiB); /* the budget shrank under two big VMs */
	struct alloc_target t[2];
	struct alloc_summary s;

	(void)state;
	v[0].assigned_bytes = v[1].assigned_bytes = 8 * GiB;
	v[0].pressure = true;
	v[1].last_shrink_ns = h.now_ns - 1;
	plan(&h, v, 2, t, &s);
	assert_true(s.holds_dropped);
	assert_int_equal(s.dropped_reasons, 1U << ALLOC_SHRINK_STEP | 1U << ALLOC_HOLD_HYSTERESIS |
						    1U << ALLOC_HOLD_RATE |
						    1U << ALLOC_HOLD_IN_USE |
						    1U << ALLOC_HOLD_PRESSURE);
	/*
	 * Every other limit gone, the VMs' floors still need 9G of 6G: pressure, the last to
	 * give way, gives only what the budget needs (8G to 5G), not all of it.
	 */
	assert_target(t[0], 5 * GiB, ALLOC_HOLD_PRESSURE);
	assert_target(t[1], 1 * GiB, ALLOC_MINIMUM);
	/* Room for the pressure hold only: the rate limit gives way first. */
	h.budget_bytes = 11 * GiB;
	plan(&h, v, 2, t, &s);
	assert_int_equal(s.dropped_reasons, 1U << ALLOC_SHRINK_STEP | 1U << ALLOC_HOLD_HYSTERESIS |
						    1U << ALLOC_HOLD_RATE);
	assert_target(t[0], 8 * GiB, ALLOC_HOLD_PRESSURE);
	assert_target(t[1], 3 * GiB, ALLOC_HOLD_RATE); /* as much of its hold as fits */
	h.budget_bytes = 16 * GiB;
	plan(&h, v, 2, t, &s);
	assert_false(s.holds_dropped);
	assert_target(t[0], 8 * GiB, ALLOC_HOLD_PRESSURE);
	assert_target(t[1], 8 * GiB, ALLOC_HOLD_RATE);
}

/*
 * When what the guests use does not fit, the lighter VM gives first: the in-use margins
 * (demand + 10%) before anyone's demand, and within each the heaviest keep theirs, VMs of one
 * weight pro rata. The lab's case: pro rata over all, a heavy and a light guest were squeezed
 * alike.
 */
static void in_use_gives_way_by_weight(void **state)
{
	struct alloc_vm v[] = { mkvm(1 * GiB, 32 * GiB, 10 * GiB, 8000),   /* uses 10G + 1G */
				mkvm(1 * GiB, 32 * GiB, 10 * GiB, 2000) }; /* the same */
	struct alloc_host h = mkhost(21 * GiB + 512 * MiB);		   /* 22G don't fit */
	struct alloc_target t[2];
	struct alloc_summary s;

	(void)state;
	v[0].assigned_bytes = v[1].assigned_bytes = 11 * GiB;
	h.shrink_step_pct = 100; /* no step: only what the guests use holds them */
	plan(&h, v, 2, t, &s);
	/* 1.5G of the 2G of margins fit: the heavy VM keeps all of its own. */
	assert_target(t[0], 11 * GiB, ALLOC_WEIGHT); /* its ideal lies above */
	assert_target(t[1], 10 * GiB + 512 * MiB, ALLOC_HOLD_IN_USE);
	assert_int_equal(s.dropped_reasons, 1U << ALLOC_SHRINK_STEP | 1U << ALLOC_HOLD_HYSTERESIS |
						    1U << ALLOC_HOLD_RATE |
						    1U << ALLOC_HOLD_IN_USE);
	/* 1G fits: all of it the heavy VM's (pro rata would keep half of each). */
	h.budget_bytes = 21 * GiB;
	plan(&h, v, 2, t, &s);
	assert_target(t[0], 11 * GiB, ALLOC_WEIGHT);
	assert_target(t[1], 10 * GiB, ALLOC_HOLD_IN_USE);
	/* One weight: pro rata, half of each. */
	v[1].weight = 8000;
	plan(&h, v, 2, t, &s);
	assert_target(t[0], 10 * GiB + 512 * MiB, ALLOC_WEIGHT); /* their ideal lies above */
	assert_target(t[1], 10 * GiB + 512 * MiB, ALLOC_WEIGHT);
	/* Short of the demands too: no margin is left, and the lighter guest gives first. */
	v[1].weight = 2000;
	h.budget_bytes = 19 * GiB + 512 * MiB;
	plan(&h, v, 2, t, &s);
	assert_target(t[0], 10 * GiB, ALLOC_WEIGHT);
	assert_target(t[1], 9 * GiB + 512 * MiB, ALLOC_HOLD_IN_USE);
}

/*
 * Guests that use all they have, on 2M pages, each with a size that is no whole number of
 * pages (a balloon's size): their in-use floor is that size. Short of the demands, the in-use
 * floors give way all the same, the lighter guest's demand first. Before, a floor given way
 * was rounded down to a page, no longer read as the in-use floor, and was kept: both guests
 * got their want, 24G on a budget of 19.5G.
 */
static void in_use_floor_off_the_granule_gives_way(void **state)
{
	struct alloc_vm v[] = { mkvm(1 * GiB, 32 * GiB, 10 * GiB, 8000),
				mkvm(1 * GiB, 32 * GiB, 10 * GiB, 2000) };
	struct alloc_host h = mkhost(19 * GiB + 512 * MiB);
	struct alloc_target t[2];
	struct alloc_summary s;

	(void)state;
	for (int i = 0; i < 2; i++) {
		v[i].granule_bytes = 2 * MiB;
		v[i].buffer_pct = 20;
		v[i].assigned_bytes = 11 * GiB + 1 * MiB; /* the demand and 10%, and 1M */
	}
	plan(&h, v, 2, t, &s);
	assert_int_equal(s.total_bytes, h.budget_bytes);
	assert_target(t[0], 10 * GiB, ALLOC_WEIGHT);
	assert_target(t[1], 9 * GiB + 512 * MiB, ALLOC_HOLD_IN_USE);
}

/*
 * The lab's case (test 7, node 1): both guests grew while the host had room and each uses
 * all it has; their in-use floors fit the budget with 1 MiB to spare. The heavy VM, short of
 * its need, gets the light VM's margin: the light one keeps its core, its demand and 5%.
 */
static void lighter_margin_gives_way_to_heavier_need(void **state)
{
	struct alloc_vm v[] = { mkvm(192 * MiB, 384 * MiB, 257 * MiB, 8000),
				mkvm(192 * MiB, 384 * MiB, 252 * MiB, 2000) };
	struct alloc_host h = mkhost(540 * MiB);
	struct alloc_target t[2];
	struct alloc_summary s;

	(void)state;
	v[0].buffer_pct = v[1].buffer_pct = 25;
	v[0].assigned_bytes = 270 * MiB; /* +5% */
	v[1].assigned_bytes = 269 * MiB; /* +7% */
	plan(&h, v, 2, t, &s);
	assert_target(t[1], CORE(252 * MiB), ALLOC_HOLD_IN_USE);	/* +5% */
	assert_target(t[0], 540 * MiB - CORE(252 * MiB), ALLOC_WEIGHT); /* +7% */
	assert_int_equal(s.dropped_reasons, 1U << ALLOC_HOLD_IN_USE);
	/* The next tick changes nothing: the light VM shrank, and its rate limit holds. */
	v[0].assigned_bytes = t[0].target_bytes;
	v[1].assigned_bytes = t[1].target_bytes;
	v[1].last_shrink_ns = h.now_ns;
	plan(&h, v, 2, t, &s);
	assert_target(t[0], 540 * MiB - CORE(252 * MiB), ALLOC_WEIGHT);
	assert_target(t[1], CORE(252 * MiB), ALLOC_HOLD_RATE);
	/* Weights the other way round, the other way round it goes. */
	v[0].weight = 2000;
	v[1].weight = 8000;
	v[0].assigned_bytes = 270 * MiB;
	v[1].assigned_bytes = 269 * MiB;
	v[1].last_shrink_ns = 0;
	plan(&h, v, 2, t, &s);
	assert_target(t[0], CORE(257 * MiB), ALLOC_HOLD_IN_USE);
	assert_target(t[1], 540 * MiB - CORE(257 * MiB), ALLOC_WEIGHT);
	/* Once the heavy VM has its need (252M and 10%), the light VM's margin holds again. */
	v[0].weight = 8000;
	v[1].weight = 2000;
	v[0].demand_bytes = 240 * MiB;
	v[0].assigned_bytes = 270 * MiB;
	v[1].assigned_bytes = 269 * MiB;
	plan(&h, v, 2, t, &s);
	assert_target(t[1], 269 * MiB, ALLOC_HOLD_IN_USE);
	assert_target(t[0], 271 * MiB, ALLOC_WEIGHT);
	assert_false(s.holds_dropped);
}

/*
 * The lab's test 5 of 2026-11-27, as dynmemd saw it for five minutes: heavy's workload could
 * not grow (its guest used 267M of 283M) while steady, lighter, sat 3M above its want, held
 * there by hysteresis. Hysteresis spares small moves; it does not hold against a heavier VM's
 * need, and steady comes down within its step.
 */
static void lighter_hysteresis_gives_way_to_heavier_need(void **state)
{
	struct alloc_vm v[] = { mkvm(192 * MiB, 384 * MiB, 267 * MiB, 8000),
				mkvm(192 * MiB, 384 * MiB, 246 * MiB, 2000),
				mkvm(160 * MiB, 256 * MiB, 140 * MiB, 5000) };
	struct alloc_host h = mkhost(710 * MiB);
	struct alloc_target t[3];
	struct alloc_summary s;

	(void)state;
	v[0].buffer_pct = v[1].buffer_pct = 25;
	v[2].buffer_pct = 20;
	v[0].assigned_bytes = 283 * MiB;
	v[1].assigned_bytes = 256 * MiB;
	v[2].assigned_bytes = 171 * MiB;
	plan(&h, v, 3, t, &s);
	assert_target(t[0], 294 * MiB, ALLOC_WEIGHT); /* its demand and 10%: 293.7M */
	assert_target(t[1], 256 * MiB, ALLOC_HOLD_IN_USE);
	assert_target(t[2], 160 * MiB, ALLOC_MINIMUM); /* its step 153.9M, its minimum above */
	/* Its in-use floor, 154M, is below its minimum: no margin gave way. */
	assert_int_equal(s.dropped_reasons, 1U << ALLOC_HOLD_HYSTERESIS);
	/* The next tick changes nothing. */
	for (int i = 0; i < 3; i++) {
		v[i].last_shrink_ns = t[i].target_bytes < v[i].assigned_bytes ? h.now_ns : 0;
		v[i].assigned_bytes = t[i].target_bytes;
	}
	plan(&h, v, 3, t, &s);
	assert_target(t[0], 294 * MiB, ALLOC_WEIGHT);
	assert_target(t[1], 256 * MiB, ALLOC_HOLD_IN_USE);
	assert_target(t[2], 160 * MiB, ALLOC_MINIMUM);
}

static void per_node_budgets_when_spanning_off(void **state)
{
	struct alloc_vm v[] = { mkvm(1 * GiB, 16 * GiB, 2 * GiB, 5000),
				mkvm(1 * GiB, 16 * GiB, 2 * GiB, 5000),
				mkvm(3 * GiB, 16 * GiB, 2 * GiB, 5000),
				mkvm(3 * GiB, 16 * GiB, 2 * GiB, 5000),
				mkvm(1 * GiB, 16 * GiB, 2 * GiB, 5000) };
	struct alloc_host h = mkhost(100 * GiB);
	struct alloc_target t[5];
	struct alloc_summary s;

	(void)state;
	h.numa_spanning = false;
	h.nr_nodes = 3;
	h.node_budget_bytes[0] = 6 * GiB;
	h.node_budget_bytes[1] = 5 * GiB;
	h.node_budget_bytes[2] = 64 * GiB;
	v[0].node = 0;
	v[1].node = 0;
	v[2].node = 1;
	v[3].node = 1;
	v[4].node = -1;
	plan(&h, v, 5, t, &s);
	assert_target(t[0], 3 * GiB, ALLOC_WEIGHT);
	assert_target(t[1], 3 * GiB, ALLOC_WEIGHT);
	assert_target(t[2], 3 * GiB, ALLOC_OVERCOMMIT);
	assert_target(t[3], 3 * GiB, ALLOC_OVERCOMMIT);
	assert_target(t[4], 1 * GiB, ALLOC_NO_NODE);
	assert_true(s.overcommitted);
	assert_int_equal(s.overcommitted_nodes, 1 << 1);
	assert_int_equal(s.nr_unplaced, 1);
	assert_int_equal(s.node_total_bytes[0], 6 * GiB);
	assert_int_equal(s.node_total_bytes[1], 6 * GiB);
	assert_int_equal(s.node_total_bytes[2], 0);
	assert_int_equal(s.total_bytes, 13 * GiB);
	/* Spanning on: one budget, nodes ignored. */
	h.numa_spanning = true;
	h.budget_bytes = 20 * GiB;
	plan(&h, v, 5, t, &s);
	for (int i = 0; i < 5; i++)
		assert_target(t[i], 4 * GiB, ALLOC_WANT);
}

static void place_best_fit(void **state)
{
	__u64 free_bytes[] = { 10 * GiB, 5 * GiB, 6 * GiB, 5 * GiB };
	int node = -7;

	(void)state;
	assert_int_equal(alloc_place(free_bytes, 4, 5 * GiB, &node), 0);
	assert_int_equal(node, 1); /* 1 and 3 both fit exactly: the lower number */
	assert_int_equal(alloc_place(free_bytes, 4, 5 * GiB + 1, &node), 0);
	assert_int_equal(node, 2);
	assert_int_equal(alloc_place(free_bytes, 4, 7 * GiB, &node), 0);
	assert_int_equal(node, 0);
}

static void vm_too_big_for_any_node(void **state)
{
	__u64 free_bytes[] = { 10 * GiB, 5 * GiB };
	int node = -7;

	(void)state;
	assert_int_equal(alloc_place(free_bytes, 2, 12 * GiB, &node), -ENOSPC);
	assert_int_equal(node, -7);
	assert_int_equal(alloc_place(NULL, 0, 1, &node), -ENOSPC);
	assert_int_equal(alloc_place(NULL, 2, 1, &node), -EINVAL);
	assert_int_equal(alloc_place(free_bytes, ALLOC_MAX_NODES + 1, 1, &node), -EINVAL);
}

static void bad_inputs_are_refused(void **state)
{
	struct alloc_vm v = mkvm(1 * GiB, 8 * GiB, 1 * GiB, 5000), bad;
	struct alloc_host h = mkhost(64 * GiB), hb;
	struct alloc_target t, before;
	struct alloc_summary s, sbefore;

	(void)state;
	memset(&t, 0x5a, sizeof(t));
	memset(&s, 0x5a, sizeof(s));
	before = t;
	sbefore = s;
#define REFUSED(host, vm)                                                                          \
	do {                                                                                       \
		assert_int_equal(alloc_plan(&(host), &(vm), 1, &t, &s), -EINVAL);                  \
		assert_memory_equal(&t, &before, sizeof(t));                                       \
		assert_memory_equal(&s, &sbefore, sizeof(s));                                      \
	} while (0)
	bad = v, bad.minimum_bytes = 9 * GiB;
	REFUSED(h, bad);
	bad = v, bad.weight = 10001;
	REFUSED(h, bad);
	bad = v, bad.buffer_pct = 4;
	REFUSED(h, bad);
	bad = v, bad.buffer_pct = 2001;
	REFUSED(h, bad);
	bad = v, bad.granule_bytes = 3 * MiB;
	REFUSED(h, bad);
	hb = h, hb.numa_spanning = false, hb.nr_nodes = 2;
	bad = v, bad.node = 2;
	REFUSED(hb, bad);
	bad.node = -2;
	REFUSED(hb, bad);
	hb = h, hb.nr_nodes = ALLOC_MAX_NODES + 1;
	REFUSED(hb, v);
	hb = h, hb.shrink_step_pct = 0;
	REFUSED(hb, v);
	hb = h, hb.shrink_step_pct = 101;
	REFUSED(hb, v);
	hb = h, hb.hysteresis_pct = 101;
	REFUSED(hb, v);
#undef REFUSED
	assert_int_equal(alloc_plan(NULL, &v, 1, &t, &s), -EINVAL);
	assert_int_equal(alloc_plan(&h, NULL, 1, &t, &s), -EINVAL);
	assert_int_equal(alloc_plan(&h, &v, 1, NULL, &s), -EINVAL);
	assert_int_equal(alloc_plan(&h, &v, 1, &t, NULL), -EINVAL);
	/* Spanning on: a node number is not looked at. */
	bad = v, bad.node = 99;
	assert_int_equal(alloc_plan(&h, &bad, 1, &t, &s), 0);
	assert_int_equal(alloc_plan(&h, NULL, 0, NULL, &s), 0);
	assert_int_equal(s.total_bytes, 0);
}

static void reason_names(void **state)
{
	(void)state;
	for (int i = 0; i < ALLOC_NR_REASONS; i++) {
		const char *n = alloc_reason_name((enum alloc_reason)i);

		assert_non_null(n);
		assert_string_not_equal(n, "?");
		for (int j = 0; j < i; j++)
			assert_string_not_equal(n, alloc_reason_name((enum alloc_reason)j));
	}
	assert_string_equal(alloc_reason_name(ALLOC_HOLD_PRESSURE), "hold_pressure");
	assert_string_equal(alloc_reason_name(ALLOC_NR_REASONS), "?");
	assert_string_equal(alloc_reason_name((enum alloc_reason)(ALLOC_NR_REASONS + 7)), "?");
}

/* --- random scenarios -------------------------------------------------------------- */

#define MAX_VMS 400

struct scenario {
	struct alloc_host h;
	struct alloc_vm v[MAX_VMS];
	size_t n;
};

struct result {
	struct alloc_target t[MAX_VMS];
	struct alloc_summary s;
};

static bool chance(unsigned int pct)
{
	return rnd() % 100 < pct;
}

/* Log-uniform in [lo, hi] (lo > 0), so 4K and 256G are both common. */
static __u64 rnd_size(__u64 lo, __u64 hi)
{
	unsigned int blo = 63 - __builtin_clzll(lo), bhi = 63 - __builtin_clzll(hi);
	unsigned int b = (unsigned int)rnd_range(blo, bhi);
	__u64 from = 1ULL << b, to = b == 63 ? UINT64_MAX : (2ULL << b) - 1;

	return rnd_range(from < lo ? lo : from, to > hi ? hi : to);
}

static __u64 align_down(__u64 x, __u64 g)
{
	return x & ~(g - 1);
}

static __u64 ref_want(const struct alloc_vm *v);
static __u64 clamp_assigned(const struct alloc_vm *v);

static void random_vm(struct scenario *sc, size_t i)
{
	struct alloc_vm *v = &sc->v[i];
	__u64 g, a, want;

	memset(v, 0, sizeof(*v));
	if (i && chance(25)) {
		/* Same want as an earlier VM, another weight: what the weight property needs. */
		*v = sc->v[rnd_range(0, i - 1)];
	} else {
		g = chance(65)	 ? 4 * KiB
		    : chance(85) ? 2 * MiB
		    : chance(80) ? 1 * GiB
				 : 1ULL << rnd_range(0, 30);
		v->granule_bytes = g == 4 * KiB && chance(50) ? 0 : g;
		v->minimum_bytes = chance(10) ? 0 : align_down(rnd_size(g, 64 * GiB), g);
		v->maximum_bytes =
			v->minimum_bytes + (chance(10) ? 0 : align_down(rnd_size(g, 256 * GiB), g));
		v->demand_bytes = chance(5)   ? 0
				  : chance(3) ? rnd_range(UINT64_MAX / 4, UINT64_MAX)
					      : rnd_size(1 * MiB, 2 * v->maximum_bytes + 1 * GiB);
		v->buffer_pct = chance(60)   ? (__u32)rnd_range(5, 50)
				: chance(75) ? (__u32)rnd_range(5, 2000)
				: chance(50) ? 5
					     : 2000;
	}
	g = v->granule_bytes ? v->granule_bytes : 4 * KiB;
	v->weight = chance(10) ? 0 : chance(5) ? 10000 : (__u32)rnd_range(1, 10000);
	/* Mostly near its want, as a running VM's is; now and then anywhere, or above max. */
	want = ref_want(v);
	a = chance(15)	 ? 0
	    : chance(70) ? rnd_range(want / 2, want + want / 2)
	    : chance(70) ? rnd_range(0, v->maximum_bytes)
			 : v->maximum_bytes + rnd_size(g, 64 * GiB);
	v->assigned_bytes = align_down(a, g);
	v->pressure = chance(20);
	v->last_shrink_ns = chance(50)	 ? 0
			    : chance(95) ? sc->h.now_ns - rnd_range(0, 2 * sc->h.shrink_interval_ns)
					 : sc->h.now_ns + rnd_range(1, 10 * SEC);
	v->node = sc->h.nr_nodes && !chance(10) ? (int)rnd_range(0, sc->h.nr_nodes - 1) : -1;
}

static __u64 ref_want(const struct alloc_vm *v)
{
	__u64 g = v->granule_bytes ? v->granule_bytes : 4 * KiB;
	u128 w = ((u128)v->demand_bytes * (100 + v->buffer_pct) + 99) / 100;

	w = w < v->minimum_bytes ? v->minimum_bytes : w > v->maximum_bytes ? v->maximum_bytes : w;
	w = (w + g - 1) / g * g;
	return w > v->maximum_bytes ? v->maximum_bytes : (__u64)w;
}

/* A budget around the group's wants: short, plenty, zero or under its minimums. */
static __u64 random_budget(const struct scenario *sc, int group)
{
	u128 want = 0, min = 0;
	__u64 pct = chance(20) ? rnd_range(0, 30) : rnd_range(30, 130);

	for (size_t i = 0; i < sc->n; i++) {
		if (!sc->h.numa_spanning && sc->v[i].node != group)
			continue;
		want += ref_want(&sc->v[i]);
		min += sc->v[i].minimum_bytes;
	}
	if (chance(2))
		return 0;
	if (chance(5))
		return (__u64)(min * rnd_range(50, 100) / 100);
	/* Mostly between the minimums and the wants, where the water-filling runs. */
	want = want > min ? min + (want - min) * pct / 100 : min;
	want += rnd_range(0, 4 * MiB);
	return want > UINT64_MAX ? UINT64_MAX : (__u64)want;
}

/* Scales what group g's VMs have above their minimums to add up to 80..100% of budget. */
static void scale_assigned(struct scenario *sc, int g, __u64 budget)
{
	double min = 0, above = 0, room, f;

	for (size_t i = 0; i < sc->n; i++)
		if (sc->h.numa_spanning || sc->v[i].node == g) {
			min += (double)sc->v[i].minimum_bytes;
			above += (double)(clamp_assigned(&sc->v[i]) - sc->v[i].minimum_bytes);
		}
	room = (double)budget * (double)rnd_range(80, 100) / 100 - min;
	if (above <= 0 || room <= 0)
		return;
	f = room / above;
	for (size_t i = 0; i < sc->n; i++) {
		struct alloc_vm *v = &sc->v[i];
		__u64 gr = v->granule_bytes ? v->granule_bytes : 4 * KiB;
		double a = (double)v->minimum_bytes +
			   (double)(clamp_assigned(v) - v->minimum_bytes) * f;

		if (sc->h.numa_spanning || v->node == g)
			v->assigned_bytes =
				a >= 1.8e19 ? v->assigned_bytes : align_down((__u64)a, gr);
	}
}

static void random_scenario(struct scenario *sc)
{
	struct alloc_host *h = &sc->h;

	alloc_host_defaults(h);
	h->now_ns = rnd_range(1000 * SEC, 100000 * SEC);
	if (chance(30)) {
		h->shrink_interval_ns = chance(30) ? 0 : rnd_range(1, 120) * SEC;
		h->shrink_step_pct = (__u32)rnd_range(1, 100);
		h->hysteresis_pct = (__u32)rnd_range(0, 50);
	}
	h->numa_spanning = chance(50);
	h->nr_nodes = h->numa_spanning && chance(50) ? 0 : rnd_range(1, 4);
	sc->n = chance(95) ? rnd_range(1, 64) : rnd_range(65, MAX_VMS);
	for (size_t i = 0; i < sc->n; i++)
		random_vm(sc, i);
	h->budget_bytes = random_budget(sc, -1);
	for (size_t k = 0; k < h->nr_nodes; k++)
		h->node_budget_bytes[k] = random_budget(sc, (int)k);
	/* Half the time a steady host: what the VMs have adds up to the budget, about. */
	if (chance(50))
		for (int g = h->numa_spanning ? -1 : 0;
		     g < (h->numa_spanning ? 0 : (int)h->nr_nodes); g++)
			scale_assigned(sc, g,
				       h->numa_spanning ? h->budget_bytes
							: h->node_budget_bytes[g]);
}

/* The group a VM is planned in: 0 when spanning, its node, or -1 when it has none. */
static int group_of(const struct scenario *sc, size_t i)
{
	return sc->h.numa_spanning ? 0 : sc->v[i].node;
}

static __u64 group_budget(const struct scenario *sc, int g)
{
	return sc->h.numa_spanning ? sc->h.budget_bytes : sc->h.node_budget_bytes[g];
}

static size_t nr_groups(const struct scenario *sc)
{
	return sc->h.numa_spanning ? 1 : sc->h.nr_nodes;
}

static bool is_held(enum alloc_reason r)
{
	return r == ALLOC_HOLD_PRESSURE || r == ALLOC_HOLD_RATE || r == ALLOC_HOLD_HYSTERESIS ||
	       r == ALLOC_SHRINK_STEP || r == ALLOC_HOLD_IN_USE;
}

static __u64 clamp_assigned(const struct alloc_vm *v)
{
	__u64 a = v->assigned_bytes;

	return a < v->minimum_bytes   ? v->minimum_bytes
	       : a > v->maximum_bytes ? v->maximum_bytes
				      : a;
}

/* Where a check fails: the scenario's seed, to rerun it alone. */
static __u64 cur_seed;
static struct scenario *cur_sc;
static struct result *cur_r, *cur_r2;

/* ALLOC_TEST_DUMP=1: a failing scenario is printed in full, for a human to replay. */
static void dump_scenario(void)
{
	const struct scenario *sc = cur_sc;
	const struct alloc_host *h;

	if (!sc || !getenv("ALLOC_TEST_DUMP"))
		return;
	h = &sc->h;
	print_error(
		"host: budget %llu spanning %d nodes %zu now %llu interval %llu step %u hyst %u\n",
		(unsigned long long)h->budget_bytes, h->numa_spanning, h->nr_nodes,
		(unsigned long long)h->now_ns, (unsigned long long)h->shrink_interval_ns,
		h->shrink_step_pct, h->hysteresis_pct);
	for (size_t k = 0; k < h->nr_nodes; k++)
		print_error("  node %zu budget %llu\n", k,
			    (unsigned long long)h->node_budget_bytes[k]);
	for (size_t i = 0; i < sc->n; i++) {
		const struct alloc_vm *v = &sc->v[i];

		print_error(
			"vm %zu: min %llu max %llu buf %u w %u g %llu dem %llu asg %llu node %d "
			"pres %d last %llu | want %llu t1 %llu %s | t2 %llu %s\n",
			i, (unsigned long long)v->minimum_bytes,
			(unsigned long long)v->maximum_bytes, v->buffer_pct, v->weight,
			(unsigned long long)v->granule_bytes, (unsigned long long)v->demand_bytes,
			(unsigned long long)v->assigned_bytes, v->node, v->pressure,
			(unsigned long long)v->last_shrink_ns,
			(unsigned long long)cur_r->t[i].want_bytes,
			(unsigned long long)cur_r->t[i].target_bytes,
			alloc_reason_name(cur_r->t[i].reason),
			cur_r2 ? (unsigned long long)cur_r2->t[i].target_bytes : 0ULL,
			cur_r2 ? alloc_reason_name(cur_r2->t[i].reason) : "-");
	}
}

#define check(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			print_error("scenario seed %" PRIu64 " (rerun: ALLOC_TEST_SEED=%" PRIu64   \
				    " ALLOC_TEST_SCENARIOS=1): ",                                  \
				    (uint64_t)cur_seed, (uint64_t)cur_seed);                       \
			dump_scenario();                                                           \
			fail_msg(__VA_ARGS__);                                                     \
		}                                                                                  \
	} while (0)

struct group_facts {
	u128 sum_min, sum_target, sum_cap;
	u128 sum_uses;	     /* Σ demand_floor(), what the VMs under pressure have */
	bool weighted_short; /* some VM with a weight is below its want */
	bool overcommitted, holds_dropped;
};

/* x rounded up to a granule g, at most a (a itself when x lies within a granule of it). */
static __u64 up_to_granule(__u64 x, __u64 g, __u64 a)
{
	return x >= a || a - x < g ? a : (x + g - 1) & ~(g - 1);
}

/* What the guest uses, as the allocator keeps it: demand in granules, within [min, assigned]. */
static __u64 demand_floor(const struct alloc_vm *v)
{
	__u64 a = clamp_assigned(v), g = v->granule_bytes ? v->granule_bytes : 4 * KiB;
	__u64 d = up_to_granule(v->demand_bytes < a ? v->demand_bytes : a, g, a);

	return d < v->minimum_bytes ? v->minimum_bytes : d;
}

static void group_facts(const struct scenario *sc, const struct result *r, int g,
			struct group_facts *f)
{
	memset(f, 0, sizeof(*f));
	for (size_t i = 0; i < sc->n; i++) {
		const struct alloc_target *t = &r->t[i];

		if (group_of(sc, i) != g)
			continue;
		f->sum_min += sc->v[i].minimum_bytes;
		f->sum_uses +=
			sc->v[i].pressure ? clamp_assigned(&sc->v[i]) : demand_floor(&sc->v[i]);
		f->sum_target += t->target_bytes;
		f->sum_cap += is_held(t->reason) && t->target_bytes > t->want_bytes
				      ? t->target_bytes
				      : t->want_bytes;
		f->weighted_short |= sc->v[i].weight && t->target_bytes < t->want_bytes;
	}
	f->overcommitted = f->sum_min > group_budget(sc, g);
	f->holds_dropped =
		sc->h.numa_spanning ? r->s.holds_dropped : (r->s.holds_dropped_nodes >> g) & 1;
}

/* What every plan must satisfy, ideal or not. */
static void check_plan(const struct scenario *sc, const struct result *r)
{
	u128 total = 0, want = 0;
	size_t nr_short = 0, nr_held = 0, nr_unplaced = 0;
	bool any_over = false, any_dropped = false;

	for (size_t i = 0; i < sc->n; i++) {
		const struct alloc_vm *v = &sc->v[i];
		const struct alloc_target *t = &r->t[i];
		__u64 g = v->granule_bytes ? v->granule_bytes : 4 * KiB;

		check(t->want_bytes == ref_want(v), "vm %zu: want %llu, expected %llu", i,
		      (unsigned long long)t->want_bytes, (unsigned long long)ref_want(v));
		check(t->target_bytes >= v->minimum_bytes && t->target_bytes <= v->maximum_bytes,
		      "vm %zu: target %llu outside [%llu, %llu]", i,
		      (unsigned long long)t->target_bytes, (unsigned long long)v->minimum_bytes,
		      (unsigned long long)v->maximum_bytes);
		/* A hold keeps what the VM has, a whole number of granules or not; a VM at its
		 * minimum, or whose want is its maximum, has what that is. */
		check(t->target_bytes % g == 0 || t->target_bytes == clamp_assigned(v) ||
			      (t->target_bytes == v->minimum_bytes &&
			       (t->reason == ALLOC_MINIMUM || t->reason == ALLOC_OVERCOMMIT ||
				t->reason == ALLOC_NO_NODE || t->target_bytes == t->want_bytes)) ||
			      (t->target_bytes == v->maximum_bytes &&
			       t->target_bytes == t->want_bytes),
		      "vm %zu: target %llu not a multiple of %llu", i,
		      (unsigned long long)t->target_bytes, (unsigned long long)g);
		switch (t->reason) {
		case ALLOC_WANT:
		case ALLOC_CAPPED:
			check(t->target_bytes == t->want_bytes, "vm %zu: reason want, short", i);
			break;
		case ALLOC_WEIGHT:
			check(t->target_bytes > v->minimum_bytes && t->target_bytes < t->want_bytes,
			      "vm %zu: reason weight at %llu", i,
			      (unsigned long long)t->target_bytes);
			break;
		case ALLOC_MINIMUM:
		case ALLOC_OVERCOMMIT:
		case ALLOC_NO_NODE:
			check(t->target_bytes == v->minimum_bytes, "vm %zu: %s above minimum", i,
			      alloc_reason_name(t->reason));
			break;
		default:
			break;
		}
		if (group_of(sc, i) < 0) {
			check(t->reason == ALLOC_NO_NODE, "vm %zu: no node but %s", i,
			      alloc_reason_name(t->reason));
			nr_unplaced++;
		}
		total += t->target_bytes;
		want += t->want_bytes;
		nr_short += t->target_bytes < t->want_bytes;
		nr_held += is_held(t->reason);
	}
	check(r->s.total_bytes == total, "summary total %llu, targets add up to %llu",
	      (unsigned long long)r->s.total_bytes, (unsigned long long)total);
	check(r->s.want_bytes == want && r->s.nr_short == nr_short && r->s.nr_held == nr_held &&
		      r->s.nr_unplaced == nr_unplaced,
	      "summary counts");
	for (size_t g = 0; g < nr_groups(sc); g++) {
		struct group_facts f;
		__u64 budget = group_budget(sc, (int)g);

		group_facts(sc, r, (int)g, &f);
		any_over |= f.overcommitted;
		any_dropped |= f.holds_dropped;
		if (!sc->h.numa_spanning) {
			check(r->s.node_total_bytes[g] == f.sum_target, "node %zu total", g);
			check(((r->s.overcommitted_nodes >> g) & 1) == f.overcommitted,
			      "node %zu overcommit bit", g);
		}
		if (f.overcommitted) {
			for (size_t i = 0; i < sc->n; i++)
				check(group_of(sc, i) != (int)g ||
					      r->t[i].reason == ALLOC_OVERCOMMIT,
				      "vm %zu: overcommitted group, reason %s", i,
				      alloc_reason_name(r->t[i].reason));
			continue;
		}
		check(f.sum_target <= budget, "group %zu: targets %llu over budget %llu", g,
		      (unsigned long long)f.sum_target, (unsigned long long)budget);
		/* Enough for every cap (want, or a hold above it): every VM gets it. */
		if (f.sum_cap <= budget)
			for (size_t i = 0; i < sc->n; i++)
				check(group_of(sc, i) != (int)g ||
					      r->t[i].target_bytes >= r->t[i].want_bytes,
				      "vm %zu: enough memory, but %llu < want %llu", i,
				      (unsigned long long)r->t[i].target_bytes,
				      (unsigned long long)r->t[i].want_bytes);
		/*
		 * Work conservation: what is left is smaller than the next step of any VM below
		 * its want (weight 0 waits while a weighted VM is short). A VM held at what it
		 * has (its ideal is lower) doesn't take more: the holds explain that.
		 */
		for (size_t i = 0; i < sc->n; i++) {
			const struct alloc_target *t = &r->t[i];
			__u64 gr = sc->v[i].granule_bytes ? sc->v[i].granule_bytes : 4 * KiB;
			__u64 step = gr < t->want_bytes - t->target_bytes
					     ? gr
					     : t->want_bytes - t->target_bytes;
			bool held = t->reason == ALLOC_HOLD_PRESSURE ||
				    t->reason == ALLOC_HOLD_RATE ||
				    t->reason == ALLOC_HOLD_HYSTERESIS ||
				    (t->reason == ALLOC_HOLD_IN_USE &&
				     t->target_bytes == clamp_assigned(&sc->v[i]));

			/* A kind that gave way in part lowers its holds pro rata. */
			bool gave_way = f.holds_dropped && (r->s.dropped_reasons & 1U << t->reason);

			if (group_of(sc, i) != (int)g)
				continue;
			check(!held || gave_way || t->target_bytes == clamp_assigned(&sc->v[i]),
			      "vm %zu held (%s) at %llu, not at what it has (%llu)", i,
			      alloc_reason_name(t->reason), (unsigned long long)t->target_bytes,
			      (unsigned long long)clamp_assigned(&sc->v[i]));
			if (t->target_bytes >= t->want_bytes ||
			    (!sc->v[i].weight && f.weighted_short) || held)
				continue;
			check(budget - f.sum_target < step,
			      "vm %zu below its want (%llu < %llu) with %llu idle", i,
			      (unsigned long long)t->target_bytes,
			      (unsigned long long)t->want_bytes,
			      (unsigned long long)(budget - f.sum_target));
		}
	}
	check(r->s.overcommitted == any_over, "summary overcommitted");
	check(r->s.holds_dropped == any_dropped, "summary holds_dropped");
}

/* Fresh VMs (nothing assigned, no pressure, no history): the ideal. */
static void check_ideal(const struct scenario *sc, const struct result *r)
{
	for (size_t i = 0; i < sc->n; i++) {
		const struct alloc_target *ti = &r->t[i];

		check(!is_held(ti->reason), "vm %zu: fresh, yet %s", i,
		      alloc_reason_name(ti->reason));
		if (group_of(sc, i) < 0)
			continue;
		/* Same want and granule, heavier: never less, unless the lighter one sits on
		 * its own minimum. */
		for (size_t j = 0; j < sc->n; j++) {
			const struct alloc_target *tj = &r->t[j];

			if (group_of(sc, j) != group_of(sc, i) ||
			    ti->want_bytes != tj->want_bytes ||
			    sc->v[i].weight <= sc->v[j].weight ||
			    sc->v[i].granule_bytes != sc->v[j].granule_bytes)
				continue;
			check(ti->target_bytes >= tj->target_bytes ||
				      tj->target_bytes == sc->v[j].minimum_bytes,
			      "vm %zu (weight %u) got %llu, lighter vm %zu (weight %u) %llu", i,
			      sc->v[i].weight, (unsigned long long)ti->target_bytes, j,
			      sc->v[j].weight, (unsigned long long)tj->target_bytes);
		}
	}
}

/*
 * The ideal that hysteresis is judged against: the water level without granules (found
 * here by bisection, independently of the allocator's solve), each VM rounded down to its
 * granule there. Computed a hair below and above the level, so that rounding in either
 * solve can't make the check flaky: ret_lo and ret_hi bracket the allocator's ideal.
 */
static void ref_ideal(const struct scenario *sc, int g, __u64 *ret_lo, __u64 *ret_hi)
{
	__u64 budget = group_budget(sc, g);
	u128 sum_cap = 0, sum_tier1 = 0, fixed = 0;
	double lo = 0, hi = 1, spare;
	bool tier1_fits;

	for (size_t i = 0; i < sc->n; i++) {
		__u64 w = ref_want(&sc->v[i]);

		if (group_of(sc, i) != g)
			continue;
		sum_cap += w;
		sum_tier1 += sc->v[i].weight ? w : sc->v[i].minimum_bytes;
		ret_lo[i] = ret_hi[i] = sc->v[i].minimum_bytes;
	}
	if (sum_cap <= budget) {
		for (size_t i = 0; i < sc->n; i++)
			if (group_of(sc, i) == g)
				ret_lo[i] = ret_hi[i] = ref_want(&sc->v[i]);
		return;
	}
	tier1_fits = sum_tier1 <= budget;
	for (size_t i = 0; i < sc->n; i++) {
		if (group_of(sc, i) != g)
			continue;
		if (tier1_fits && sc->v[i].weight)
			ret_lo[i] = ret_hi[i] = ref_want(&sc->v[i]);
		fixed += ret_lo[i];
	}
	spare = (double)(budget - (__u64)fixed);
	/* Σ (clamp(λ·w·want, min, want) − min) over the tier being filled, = spare. */
#define LEVEL_SUM(lam, sum)                                                                        \
	do {                                                                                       \
		sum = 0;                                                                           \
		for (size_t i = 0; i < sc->n; i++) {                                               \
			const struct alloc_vm *v = &sc->v[i];                                      \
			double want = (double)ref_want(v), min = (double)v->minimum_bytes;         \
			double w = v->weight ? v->weight : 1, x;                                   \
                                                                                                   \
			if (group_of(sc, i) != g || (tier1_fits ? v->weight : !v->weight))         \
				continue;                                                          \
			x = (lam)*w * want;                                                        \
			x = x < min ? min : x > want ? want : x;                                   \
			sum += x - min;                                                            \
		}                                                                                  \
	} while (0)
	for (double sum;;) {
		LEVEL_SUM(hi, sum);
		if (sum > spare || hi > 1e300)
			break;
		hi *= 2;
	}
	for (int it = 0; it < 2000 && hi - lo > hi * 1e-15; it++) {
		double mid = lo + (hi - lo) / 2, sum;

		LEVEL_SUM(mid, sum);
		if (sum <= spare)
			lo = mid;
		else
			hi = mid;
	}
#undef LEVEL_SUM
	for (size_t i = 0; i < sc->n; i++) {
		const struct alloc_vm *v = &sc->v[i];
		__u64 gr = v->granule_bytes ? v->granule_bytes : 4 * KiB, want = ref_want(v);
		double w = v->weight ? v->weight : 1;

		if (group_of(sc, i) != g || (tier1_fits ? v->weight : !v->weight) ||
		    v->minimum_bytes >= want)
			continue;
		for (int side = 0; side < 2; side++) {
			double x = lo * (side ? 1 + 1e-9 : 1 - 1e-9) * w * (double)want;
			__u64 b = x >= (double)want ? want : x <= 0 ? 0 : (__u64)x & ~(gr - 1);

			b = b < v->minimum_bytes ? v->minimum_bytes : b > want ? want : b;
			*(side ? &ret_hi[i] : &ret_lo[i]) = b;
		}
	}
}

/*
 * Whether the budget dropped limits in the group of f: it drops the step first (drop_order), and
 * a heavier VM's need, for which margins and hysteresis give way, never reports the step.
 */
static bool budget_dropped_limits(const struct group_facts *f, const struct result *r)
{
	return f->holds_dropped && (r->s.dropped_reasons & 1U << ALLOC_SHRINK_STEP);
}

/*
 * Per group, the weight + 1 of the heaviest VM that has less than its need, its demand and 10%
 * (at most its want) up to a granule, and that grows in the plan (when grown) or could (its
 * want is above what it has); 0 when none has.
 */
static void need_claims(const struct scenario *sc, const struct result *r, bool grown, __u32 *claim)
{
	for (size_t i = 0; i < sc->n; i++) {
		const struct alloc_vm *v = &sc->v[i];
		__u64 a = clamp_assigned(v), want = r->t[i].want_bytes;
		__u64 g = v->granule_bytes ? v->granule_bytes : 4 * KiB;
		__u64 d = v->demand_bytes < want ? v->demand_bytes : want;
		__u64 m = d / 100 * ALLOC_IN_USE_MARGIN_PCT;
		__u64 need = up_to_granule(m > want - d ? want : d + m, g, want);
		int gr = group_of(sc, i);

		if (gr >= 0 && (grown ? r->t[i].target_bytes > a : want > a) && a < need &&
		    v->weight + 1 > claim[gr])
			claim[gr] = v->weight + 1;
	}
}

/* Transition limits, against the ideal of the same scenario. */
static void check_limits(const struct scenario *sc, const struct result *r)
{
	const struct alloc_host *h = &sc->h;
	static __u64 ideal_lo[MAX_VMS], ideal_hi[MAX_VMS];

	__u32 claim[ALLOC_MAX_NODES + 1] = { 0 };

	for (size_t g = 0; g < nr_groups(sc); g++)
		ref_ideal(sc, (int)g, ideal_lo, ideal_hi);
	need_claims(sc, r, false, claim);
	for (size_t i = 0; i < sc->n; i++) {
		const struct alloc_vm *v = &sc->v[i];
		__u64 x = r->t[i].target_bytes, a = clamp_assigned(v);
		__u64 g = v->granule_bytes ? v->granule_bytes : 4 * KiB;
		u128 step = (u128)a * h->shrink_step_pct / 100;
		struct group_facts f;
		__u32 dropped;
		bool recent;

		if (group_of(sc, i) < 0)
			continue;
		group_facts(sc, r, group_of(sc, i), &f);
		if (f.overcommitted)
			continue;
		/* Limits the budget overrode, in this VM's group. */
		dropped = f.holds_dropped ? r->s.dropped_reasons : 0;
		recent = v->last_shrink_ns &&
			 (h->now_ns < v->last_shrink_ns ||
			  h->now_ns - v->last_shrink_ns < h->shrink_interval_ns);
		check(!v->pressure || x >= a || (dropped & 1U << ALLOC_HOLD_PRESSURE),
		      "vm %zu under pressure: %llu < assigned %llu", i, (unsigned long long)x,
		      (unsigned long long)a);
		check(!recent || x >= a || (dropped & 1U << ALLOC_HOLD_RATE),
		      "vm %zu shrunk again within the interval: %llu < %llu", i,
		      (unsigned long long)x, (unsigned long long)a);
		if (x >= a)
			continue;
		/* Margins give way first: while what the guests use fits, no guest loses any. */
		check(f.sum_uses > group_budget(sc, group_of(sc, i)) || x >= demand_floor(v),
		      "vm %zu shrunk to %llu, below its demand %llu, though every demand fits", i,
		      (unsigned long long)x, (unsigned long long)demand_floor(v));
		/* Never below what its guest uses (its demand and 10%, at most what it has). */
		check(x >= v->demand_bytes + v->demand_bytes / 100 * ALLOC_IN_USE_MARGIN_PCT ||
			      (dropped & 1U << ALLOC_HOLD_IN_USE),
		      "vm %zu shrunk to %llu, below the %llu its guest uses", i,
		      (unsigned long long)x, (unsigned long long)v->demand_bytes);
		check(a - x <= (step > g ? step : g) || (dropped & 1U << ALLOC_SHRINK_STEP),
		      "vm %zu shrunk by %llu from %llu, step %llu", i, (unsigned long long)(a - x),
		      (unsigned long long)a, (unsigned long long)step);
		/* Hysteresis gives way to the budget (after the step) or to a heavier VM's need. */
		check(ideal_hi[i] >= a ||
			      (u128)(a - ideal_lo[i]) * 100 >= (u128)a * h->hysteresis_pct ||
			      ((dropped & 1U << ALLOC_HOLD_HYSTERESIS) &&
			       ((dropped & 1U << ALLOC_SHRINK_STEP) ||
				v->weight + 1 < claim[group_of(sc, i)])),
		      "vm %zu shrunk though its ideal %llu is within hysteresis of %llu", i,
		      (unsigned long long)ideal_lo[i], (unsigned long long)a);
	}
}

/* The core of VM v's margin, as the allocator keeps it: demand and 5%, like demand_floor(). */
static __u64 core_floor(const struct alloc_vm *v)
{
	__u64 a = clamp_assigned(v), g = v->granule_bytes ? v->granule_bytes : 4 * KiB;
	__u64 d = v->demand_bytes < a ? v->demand_bytes : a, m = d / 100 * ALLOC_IN_USE_CORE_PCT;

	return up_to_granule(m > a - d ? a : d + m, g, a);
}

/*
 * A heavier VM's need comes before a lighter VM's margin and hysteresis: while a VM grows and
 * still has less than its demand and 10% (or its want), no lighter VM of its group is held
 * above its demand and 5% by its in-use floor or by hysteresis. Unless the budget dropped the
 * limits above some margins.
 */
static void check_needs_first(const struct scenario *sc, const struct result *r)
{
	__u32 claim[ALLOC_MAX_NODES + 1] = { 0 };

	need_claims(sc, r, true, claim);
	for (size_t i = 0; i < sc->n; i++) {
		const struct alloc_vm *v = &sc->v[i];
		int g = group_of(sc, i);
		struct group_facts f;

		if (g < 0 || v->weight + 1 >= claim[g])
			continue;
		group_facts(sc, r, g, &f);
		if (r->t[i].reason != ALLOC_HOLD_IN_USE && r->t[i].reason != ALLOC_HOLD_HYSTERESIS)
			continue;
		check(r->t[i].target_bytes <= core_floor(v) || budget_dropped_limits(&f, r),
		      "vm %zu (weight %u) kept %llu (%s), above its demand and 5%% %llu, while a "
		      "VM "
		      "of weight %u grew short of its need",
		      i, v->weight, (unsigned long long)r->t[i].target_bytes,
		      alloc_reason_name(r->t[i].reason), (unsigned long long)core_floor(v),
		      claim[g] - 1);
	}
}

static void run_plan(const struct scenario *sc, struct result *r)
{
	int rc = alloc_plan(&sc->h, sc->v, sc->n, r->t, &r->s);

	check(rc == 0, "alloc_plan: %d", rc);
}

static void random_scenarios(void **state)
{
	static struct scenario sc, fresh, odd, again;
	static struct result r, ideal, r2;
	__u64 seed = env_u64("ALLOC_TEST_SEED", 1), count = env_u64("ALLOC_TEST_SCENARIOS", 20000);
	struct timespec t0, t1;
	size_t vms = 0, short_groups = 0, held = 0, dropped = 0, over = 0, ticks = 0;
	size_t by_class[ALLOC_NR_REASONS] = { 0 };

	(void)state;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (__u64 k = 0; k < count; k++) {
		cur_seed = seed + k;
		rng_state = cur_seed;
		random_scenario(&sc);
		vms += sc.n;

		/* The ideal: the same VMs fresh. */
		fresh = sc;
		for (size_t i = 0; i < fresh.n; i++) {
			fresh.v[i].assigned_bytes = 0;
			fresh.v[i].pressure = false;
			fresh.v[i].last_shrink_ns = 0;
		}
		cur_sc = &fresh;
		cur_r = &ideal;
		cur_r2 = NULL;
		run_plan(&fresh, &ideal);
		check_plan(&fresh, &ideal);
		check_ideal(&fresh, &ideal);

		cur_sc = &sc;
		cur_r = &r;
		cur_r2 = NULL;
		run_plan(&sc, &r);
		check_plan(&sc, &r);
		check_limits(&sc, &r);
		check_needs_first(&sc, &r);
		held += r.s.nr_held;
		dropped += r.s.holds_dropped;
		for (int b = 0; b < ALLOC_NR_REASONS; b++)
			by_class[b] += (r.s.dropped_reasons >> b) & 1;
		over += r.s.overcommitted;
		short_groups += r.s.nr_short > 0;

		/*
		 * Sizes that are no whole number of granules, as the daemon can see them (a
		 * balloon's size; a minimum or maximum given in bytes), one in ten of each: the
		 * rules of every plan hold all the same. Not idempotence: from there a plan may
		 * take such a VM to a granule's boundary, once.
		 */
		odd = sc;
		for (size_t i = 0; i < odd.n; i++) {
			struct alloc_vm *v = &odd.v[i];
			__u64 g = v->granule_bytes ? v->granule_bytes : 4 * KiB;
			__u64 room = v->maximum_bytes - v->minimum_bytes;

			room = room < g - 1 ? room : g - 1;
			if (g > 1 && chance(10))
				v->assigned_bytes += rnd_range(1, g - 1);
			if (chance(10))
				v->minimum_bytes += rnd_range(0, room);
			else if (chance(10))
				v->maximum_bytes -= rnd_range(0, room);
		}
		cur_sc = &odd;
		cur_r = &r2;
		run_plan(&odd, &r2);
		check_plan(&odd, &r2);
		check_limits(&odd, &r2);
		check_needs_first(&odd, &r2);

		/*
		 * Idempotence: the daemon's next tick, nothing else changed. Without a rate
		 * limit (interval 0) a stepped shrink goes on at the next tick: there the plan
		 * must reach a fixed point instead, within as many ticks as steps can take.
		 */
		again = sc;
		for (unsigned int tick = 0;; tick++) {
			bool moved = false;

			check(tick < 4000, "no fixed point after %u ticks", tick);
			for (size_t i = 0; i < sc.n; i++) {
				if (r.t[i].target_bytes < again.v[i].assigned_bytes)
					again.v[i].last_shrink_ns = sc.h.now_ns;
				again.v[i].assigned_bytes = r.t[i].target_bytes;
			}
			run_plan(&again, &r2);
			cur_r2 = &r2;
			for (size_t i = 0; i < sc.n; i++) {
				moved |= r2.t[i].target_bytes != r.t[i].target_bytes;
				check(sc.h.shrink_interval_ns == 0 ||
					      r2.t[i].target_bytes == r.t[i].target_bytes,
				      "vm %zu: re-plan moved %llu (%s) to %llu (%s)", i,
				      (unsigned long long)r.t[i].target_bytes,
				      alloc_reason_name(r.t[i].reason),
				      (unsigned long long)r2.t[i].target_bytes,
				      alloc_reason_name(r2.t[i].reason));
			}
			if (!moved)
				break;
			check_plan(&again, &r2);
			r = r2;
			ticks++;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	print_message("%" PRIu64 " scenarios from seed %" PRIu64 ", %zu VMs, %.2f s: %zu with "
		      "VMs short, %zu holds, %zu plans dropped limits, %zu overcommitted, %zu "
		      "extra ticks to a fixed point without a rate limit\n",
		      (uint64_t)count, (uint64_t)seed, vms,
		      (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
		      short_groups, held, dropped, over, ticks);
	print_message("limits dropped, by kind: shrink_step %zu, hold_hysteresis %zu, "
		      "hold_rate %zu, hold_in_use %zu, hold_pressure %zu\n",
		      by_class[ALLOC_SHRINK_STEP], by_class[ALLOC_HOLD_HYSTERESIS],
		      by_class[ALLOC_HOLD_RATE], by_class[ALLOC_HOLD_IN_USE],
		      by_class[ALLOC_HOLD_PRESSURE]);
}

/*
 * Clones, alike in all but weight, through every transition limit but hysteresis (which
 * holds a VM by how close its own ideal lies, so it can hold a light clone at what it has
 * while a heavy one, growing, gets less): a heavier clone never ends with less than a
 * lighter one, whichever limits give way. Pro rata, in the lab, it did.
 */
static void heavier_clones_never_get_less(void **state)
{
	static struct scenario sc;
	static struct result r;
	__u64 seed = env_u64("ALLOC_TEST_SEED", 1), count = env_u64("ALLOC_TEST_SCENARIOS", 20000);
	size_t gave_way = 0;

	(void)state;
	for (__u64 k = 0; k < count; k++) {
		cur_seed = seed + k;
		rng_state = cur_seed;
		random_scenario(&sc);
		sc.h.numa_spanning = true;
		sc.h.hysteresis_pct = 0;
		sc.n = rnd_range(2, 8);
		for (size_t i = 1; i < sc.n; i++) {
			sc.v[i] = sc.v[0];
			sc.v[i].weight = chance(20)   ? 0
					 : chance(20) ? sc.v[i - 1].weight
						      : (__u32)rnd_range(1, 10000);
		}
		sc.h.budget_bytes = random_budget(&sc, -1);
		cur_sc = &sc;
		cur_r = &r;
		cur_r2 = NULL;
		run_plan(&sc, &r);
		check_plan(&sc, &r);
		gave_way += r.s.holds_dropped;
		for (size_t i = 0; i < sc.n; i++)
			for (size_t j = 0; j < sc.n; j++)
				check(sc.v[i].weight <= sc.v[j].weight ||
					      r.t[i].target_bytes >= r.t[j].target_bytes,
				      "vm %zu (weight %u) got %llu, less than vm %zu (weight %u): "
				      "%llu",
				      i, sc.v[i].weight, (unsigned long long)r.t[i].target_bytes, j,
				      sc.v[j].weight, (unsigned long long)r.t[j].target_bytes);
	}
	print_message("%llu hosts of clones, %zu with limits given way\n",
		      (unsigned long long)count, gave_way);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(enough_memory_gives_every_want),
		cmocka_unit_test(short_memory_goes_by_weight),
		cmocka_unit_test(minimum_holds_up_a_light_vm),
		cmocka_unit_test(minimums_alone_exceed_the_budget),
		cmocka_unit_test(one_vm),
		cmocka_unit_test(weight_zero_gets_minimum_when_short),
		cmocka_unit_test(vm_at_its_minimum_under_pressure),
		cmocka_unit_test(shrink_is_rate_limited_and_stepped),
		cmocka_unit_test(hysteresis_stops_small_shrinks),
		cmocka_unit_test(max_lowered_caps_at_once),
		cmocka_unit_test(huge_granule_shrinks_by_one_page),
		cmocka_unit_test(want_rounds_up_to_granule_not_above_max),
		cmocka_unit_test(leftover_goes_to_smaller_granules),
		cmocka_unit_test(demand_zero_wants_the_minimum),
		cmocka_unit_test(max_equals_min),
		cmocka_unit_test(budget_zero),
		cmocka_unit_test(memory_in_use_is_not_taken_for_weight),
		cmocka_unit_test(holds_that_do_not_fit_are_dropped),
		cmocka_unit_test(in_use_gives_way_by_weight),
		cmocka_unit_test(in_use_floor_off_the_granule_gives_way),
		cmocka_unit_test(lighter_margin_gives_way_to_heavier_need),
		cmocka_unit_test(lighter_hysteresis_gives_way_to_heavier_need),
		cmocka_unit_test(per_node_budgets_when_spanning_off),
		cmocka_unit_test(place_best_fit),
		cmocka_unit_test(vm_too_big_for_any_node),
		cmocka_unit_test(bad_inputs_are_refused),
		cmocka_unit_test(reason_names),
		cmocka_unit_test(random_scenarios),
		cmocka_unit_test(heavier_clones_never_get_less),
	};

	return cmocka_run_group_tests_name("alloc", tests, NULL, NULL);
}
