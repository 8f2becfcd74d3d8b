// SPDX-License-Identifier: GPL-2.0-only
/*
 * Unit tests for user/counters.c: summing the kernel's per-CPU copies, per-second rates,
 * and the counter names that become JSON keys and text rows.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "counters.h"

#define NCPUS 5

/* Distinct per CPU and per counter, so a wrong stride or a skipped CPU changes a sum. */
static __u64 cpu_value(int cpu, int counter)
{
	/* One counter near 2^40 proves the sums are not truncated to 32 bits. */
	if (counter == DM_UNMAPPED_BYTES)
		return (1ULL << 40) + (__u64)cpu * 4096;
	return (__u64)(counter + 1) * 1000 + (__u64)cpu * 7 + 1;
}

/*
 * The kernel copies one value per possible CPU, each rounded up to 8 bytes: the stride must
 * hold a whole struct and keep that rounding, or bpf_map_lookup_elem() overruns the buffer.
 */
static void stride_matches_kernel_layout(void **state)
{
	size_t stride = counters_percpu_stride();

	(void)state;
	assert_true(stride >= sizeof(struct dm_counters));
	assert_int_equal(stride % 8, 0);
	assert_true(stride < sizeof(struct dm_counters) + 8);
}

static void sums_every_counter_over_cpus(void **state)
{
	size_t stride = counters_percpu_stride();
	/* +1: start the copies at an odd address; the caller's buffer need not be aligned. */
	unsigned char *raw = malloc(NCPUS * stride + 1), *buf = raw + 1;
	struct dm_counters sum;

	(void)state;
	assert_non_null(raw);
	/* Garbage in any gap between copies must not be read as a counter. */
	memset(raw, 0xa5, NCPUS * stride + 1);
	for (int cpu = 0; cpu < NCPUS; cpu++) {
		struct dm_counters one;

		for (int i = 0; i < DM_NR_COUNTERS; i++)
			one.c[i] = cpu_value(cpu, i);
		memcpy(buf + cpu * stride, &one, sizeof(one));
	}
	memset(&sum, 0xff, sizeof(sum));
	counters_sum_percpu(buf, NCPUS, &sum);
	for (int i = 0; i < DM_NR_COUNTERS; i++) {
		__u64 want = 0;

		for (int cpu = 0; cpu < NCPUS; cpu++)
			want += cpu_value(cpu, i);
		if (sum.c[i] != want)
			fail_msg("counter %d (%s): sum %llu, want %llu", i, counter_names[i],
				 (unsigned long long)sum.c[i], (unsigned long long)want);
	}
	free(raw);
}

/* Only the first ncpus copies count: a map sized for more CPUs than are read stays ignored. */
static void sums_only_ncpus_copies(void **state)
{
	size_t stride = counters_percpu_stride();
	unsigned char *buf = calloc(3, stride);
	struct dm_counters one = { 0 }, sum;

	(void)state;
	assert_non_null(buf);
	one.c[DM_EPT_FAULTS] = 10;
	memcpy(buf, &one, sizeof(one));
	one.c[DM_EPT_FAULTS] = 20;
	memcpy(buf + stride, &one, sizeof(one));
	one.c[DM_EPT_FAULTS] = 400;
	memcpy(buf + 2 * stride, &one, sizeof(one));

	counters_sum_percpu(buf, 2, &sum);
	assert_int_equal(sum.c[DM_EPT_FAULTS], 30);

	/* No CPUs: the result is reset to zero, not left as the caller's stale value. */
	memset(&sum, 0xff, sizeof(sum));
	counters_sum_percpu(buf, 0, &sum);
	for (int i = 0; i < DM_NR_COUNTERS; i++)
		assert_int_equal(sum.c[i], 0);
	free(buf);
}

static void rates_per_second(void **state)
{
	struct dm_counters prev = { 0 }, cur = { 0 };
	double per_s[DM_NR_COUNTERS];

	(void)state;
	for (int i = 0; i < DM_NR_COUNTERS; i++) {
		prev.c[i] = 1000 * (__u64)i;
		cur.c[i] = prev.c[i] + 3 * (__u64)i + 1;
	}
	/* 2 s: half the delta per second. */
	counters_rates(&prev, &cur, 2000000000ULL, per_s);
	for (int i = 0; i < DM_NR_COUNTERS; i++)
		assert_float_equal(per_s[i], (3.0 * i + 1) / 2, 1e-9);

	/* An idle counter rates 0, not NaN or a stale value. */
	cur.c[DM_HUGE_SPLITS] = prev.c[DM_HUGE_SPLITS];
	counters_rates(&prev, &cur, 1000000000ULL, per_s);
	assert_float_equal(per_s[DM_HUGE_SPLITS], 0.0, 0.0);
	assert_float_equal(per_s[DM_HOST_FAULTS], 1.0, 1e-12);
}

/* The first frame can have no elapsed time: no division by zero, every rate 0. */
static void rates_zero_interval(void **state)
{
	struct dm_counters prev = { 0 }, cur;
	double per_s[DM_NR_COUNTERS];

	(void)state;
	for (int i = 0; i < DM_NR_COUNTERS; i++)
		cur.c[i] = 100 + (__u64)i;
	memset(per_s, 0xff, sizeof(per_s));
	counters_rates(&prev, &cur, 0, per_s);
	for (int i = 0; i < DM_NR_COUNTERS; i++)
		assert_float_equal(per_s[i], 0.0, 0.0);
}

/*
 * A slot freed and reused for another VM restarts from zero: the unsigned delta would wrap
 * to ~1.8e19/s. That counter rates 0; the others in the same read are unaffected.
 */
static void rates_backwards_counter_is_zero(void **state)
{
	struct dm_counters prev = { 0 }, cur = { 0 };
	double per_s[DM_NR_COUNTERS];

	(void)state;
	prev.c[DM_EPT_FAULTS] = 5000;
	cur.c[DM_EPT_FAULTS] = 12;
	prev.c[DM_MAP_4K] = 100;
	cur.c[DM_MAP_4K] = 300;
	counters_rates(&prev, &cur, 1000000000ULL, per_s);
	assert_float_equal(per_s[DM_EPT_FAULTS], 0.0, 0.0);
	assert_float_equal(per_s[DM_MAP_4K], 200.0, 1e-9);
}

/* Intervals shorter than a second scale up; measured ones give fractional rates. */
static void rates_fractional_interval(void **state)
{
	struct dm_counters prev = { 0 }, cur = { 0 };
	double per_s[DM_NR_COUNTERS];

	(void)state;
	cur.c[DM_HOST_FAULTS] = 1;
	cur.c[DM_ALLOC_LOCAL] = 3;
	cur.c[DM_UNMAPPED_BYTES] = 2097152;
	counters_rates(&prev, &cur, 250000000ULL, per_s);
	assert_float_equal(per_s[DM_HOST_FAULTS], 4.0, 1e-9);
	assert_float_equal(per_s[DM_ALLOC_LOCAL], 12.0, 1e-9);
	assert_float_equal(per_s[DM_UNMAPPED_BYTES], 8388608.0, 1e-6);

	/* A frame that took 250.3 ms instead of 250: 3 / 0.2503 s, not rounded to an integer. */
	counters_rates(&prev, &cur, 250300000ULL, per_s);
	assert_float_equal(per_s[DM_ALLOC_LOCAL], 3 / 0.2503, 1e-9);
	assert_float_equal(per_s[DM_HOST_FAULTS], 1 / 0.2503, 1e-9);
	assert_true(per_s[DM_HOST_FAULTS] < 4.0);
}

static bool is_snake_case(const char *s)
{
	if (!(*s >= 'a' && *s <= 'z'))
		return false;
	for (; *s; s++) {
		bool ok = (*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_';

		if (!ok || (s[0] == '_' && (s[1] == '_' || s[1] == '\0')))
			return false;
	}
	return true;
}

/*
 * The names are JSON keys and text rows: a counter added to the enum without a name would
 * be NULL here, and a duplicate would make two JSON keys collide.
 */
static void names_complete_unique_snake_case(void **state)
{
	(void)state;
	for (int i = 0; i < DM_NR_COUNTERS; i++) {
		if (!counter_names[i])
			fail_msg("counter %d has no name", i);
		if (!is_snake_case(counter_names[i]))
			fail_msg("counter %d: '%s' is not snake_case", i, counter_names[i]);
		for (int j = 0; j < i; j++)
			if (!strcmp(counter_names[i], counter_names[j]))
				fail_msg("counters %d and %d are both '%s'", j, i,
					 counter_names[i]);
	}
	/* Spot-check that names follow the enum order, which is the BPF ABI. */
	assert_string_equal(counter_names[DM_HOST_FAULTS], "host_faults");
	assert_string_equal(counter_names[DM_RECLAIMS], "reclaims");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(stride_matches_kernel_layout),
		cmocka_unit_test(sums_every_counter_over_cpus),
		cmocka_unit_test(sums_only_ncpus_copies),
		cmocka_unit_test(rates_per_second),
		cmocka_unit_test(rates_zero_interval),
		cmocka_unit_test(rates_backwards_counter_is_zero),
		cmocka_unit_test(rates_fractional_interval),
		cmocka_unit_test(names_complete_unique_snake_case),
	};

	return cmocka_run_group_tests_name("counters", tests, NULL, NULL);
}
