// SPDX-License-Identifier: GPL-2.0-only
/*
 * The allocator's keys against its amounts, from inside user/alloc.c (included here, its
 * public names prefixed so as not to clash with alloc.o): the level's passes take a lane's
 * granules by amount_at(), the heap by key_of(), and a plan is the same whichever way it
 * was found only if, for every boundary b, amount_at() reaches b exactly from b's key on:
 * amount_at(key) >= b and amount_at(the double below key) < b.
 *
 * Lanes of every magnitude up to 2^64 - 1, where sizes have no exact double: x and cap
 * rounding up or down, caps within 2 KiB of 2^64, granules of 1 byte to 1 GiB. Boundaries
 * are checked near x, near the cap and in between. ALLOC_TEST_SEED=N (default 1) and
 * ALLOC_TEST_SCENARIOS=N (default 100000 lanes).
 */
#define alloc_plan	    keys_alloc_plan
#define alloc_host_defaults keys_alloc_host_defaults
#define alloc_place	    keys_alloc_place
#define alloc_reason_name   keys_alloc_reason_name
#include "alloc.c"

#include <stdarg.h>
#include <setjmp.h>
#include <stdio.h>
#include <cmocka.h>
#include "rng.h"

#define BOUNDARIES 64 /* checked in each window */

/* One lane, in arrays of one. */
struct one_lane {
	struct lanes l;
	__u64 x, cap, mask;
	double x_d, cap_d, scale;
};

static void set_lane(struct one_lane *o, __u64 x, __u64 cap, __u64 gran, __u32 weight)
{
	o->x = x;
	o->cap = cap;
	o->mask = ~(gran - 1);
	o->x_d = (double)x;
	o->cap_d = (double)cap;
	o->scale = (double)weight * o->cap_d; /* as pack() makes it */
	o->l = (struct lanes){ .n = 1,
			       .x = &o->x,
			       .cap = &o->cap,
			       .mask = &o->mask,
			       .x_d = &o->x_d,
			       .cap_d = &o->cap_d,
			       .scale = &o->scale };
}

/*
 * A size below 2^bits, bits anything from 0 to 64 and half the time from 54, where doubles
 * are coarser than a byte; now and then within 2 KiB of 2^64.
 */
static __u64 rnd_magnitude(void)
{
	unsigned int bits = (unsigned int)rnd_range(rnd_range(0, 1) ? 0 : 54, 64);

	if (!rnd_range(0, 7))
		return UINT64_MAX - rnd_range(0, 2048);
	return bits == 64 ? rnd() : rnd() & ((1ULL << bits) - 1);
}

/* Checks up to BOUNDARIES boundaries of the lane from the one after b on; counts them. */
static size_t check_from(const struct one_lane *o, __u64 b, __u64 seed)
{
	const struct lanes *l = &o->l;
	size_t checked = 0;

	for (; b < o->cap && checked < BOUNDARIES; checked++) {
		__u64 nb = next_boundary(l, 0, b);
		double key = key_of(l, 0, nb);
		__u64 at = amount_at(l, 0, key), below = amount_at(l, 0, next_down(key));

		if (at < nb || below >= nb)
			fail_msg("lane seed %llu: x %llu cap %llu granule %llu scale %a: boundary "
				 "%llu "
				 "has key %a, where the amount is %llu, and %llu a double below",
				 (unsigned long long)seed, (unsigned long long)o->x,
				 (unsigned long long)o->cap, (unsigned long long)(~o->mask + 1),
				 o->scale, (unsigned long long)nb, key, (unsigned long long)at,
				 (unsigned long long)below);
		b = nb;
	}
	return checked;
}

static void amount_reaches_each_boundary_at_its_key(void **state)
{
	__u64 seed = env_u64("ALLOC_TEST_SEED", 1), count = env_u64("ALLOC_TEST_SCENARIOS", 100000);
	size_t checked = 0, above_2_53 = 0;

	(void)state;
	for (__u64 s = seed; s < seed + count; s++) {
		struct one_lane o;
		__u64 a, b, gran, mid;

		rng_state = s;
		a = rnd_magnitude();
		b = rnd_magnitude();
		if (a == b)
			continue;
		gran = 1ULL << rnd_range(0, 30);
		set_lane(&o, a < b ? a : b, a < b ? b : a, gran,
			 (__u32)rnd_range(1, ALLOC_WEIGHT_MAX));
		mid = o.x + rnd_range(0, o.cap - o.x - 1);
		checked += check_from(&o, o.x, s);
		checked += check_from(&o, mid, s);
		/* The last boundaries before the cap, the cap's own included. */
		checked += check_from(
			&o, o.cap - o.x > BOUNDARIES * gran ? o.cap - BOUNDARIES * gran : o.x, s);
		above_2_53 += o.cap > 1ULL << 53;
	}
	/* Most lanes must reach where sizes have no exact double, or this checks little. */
	if (above_2_53 * 2 < count)
		fail_msg("only %zu of %llu lanes above 2^53", above_2_53,
			 (unsigned long long)count);
	printf("%zu boundaries of %llu lanes (%zu above 2^53): each reached from its key on\n",
	       checked, (unsigned long long)count, above_2_53);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(amount_reaches_each_boundary_at_its_key),
	};

	return cmocka_run_group_tests_name("alloc_keys", tests, NULL, NULL);
}
