// SPDX-License-Identifier: GPL-2.0-only
/* demand_estimate(): the guest's word first, bounded by what the host backs. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include "demand.h"

#define MiB (1ULL << 20)

static struct demand_input healthy_guest(void)
{
	return (struct demand_input){
		.guest_fresh = true,
		.guest_total_bytes = 2048 * MiB,
		.guest_available_bytes = 1536 * MiB,
		.host_known = true,
		.host_resident_bytes = 700 * MiB,
		.assigned_bytes = 2048 * MiB,
		.psi_some_avg10_pct = -1,
		.interval_ms = 1000,
	};
}

static void guest_report_is_total_minus_available(void **state)
{
	struct demand_input in = healthy_guest();
	struct demand d;

	(void)state;
	demand_estimate(&in, &d);
	assert_int_equal(d.source, DEMAND_GUEST);
	assert_int_equal(d.demand_bytes, 512 * MiB);
	assert_false(d.pressure);
}

static void memory_outside_memtotal_counts_as_used(void **state)
{
	struct demand_input in = healthy_guest();
	struct demand d;

	(void)state;
	/* Assigned 2 GiB, MemTotal 48 MiB less: the guest kernel's own, used like the rest. */
	in.guest_total_bytes = 2000 * MiB;
	in.guest_available_bytes = 1488 * MiB;
	demand_estimate(&in, &d);
	assert_int_equal(d.demand_bytes, 512 * MiB + 48 * MiB);
	/* A guest using all of MemTotal wants all it is assigned. */
	in.guest_available_bytes = 0;
	in.host_resident_bytes = 2048 * MiB;
	demand_estimate(&in, &d);
	assert_int_equal(d.demand_bytes, 2048 * MiB);
}

static void guest_claim_capped_by_host(void **state)
{
	struct demand_input in = healthy_guest();
	struct demand d;

	(void)state;
	in.guest_available_bytes = 0; /* "I use all 2 GiB" while the host backs 700 MiB */
	demand_estimate(&in, &d);
	assert_int_equal(d.source, DEMAND_GUEST_CAPPED);
	/* 700 MiB plus max(64 MiB, 5% of 2 GiB = 102.4 MiB) */
	assert_int_equal(d.demand_bytes, 700 * MiB + 2048 * MiB / 100 * 5);
}

static void claim_within_slack_is_believed(void **state)
{
	struct demand_input in = healthy_guest();
	struct demand d;

	(void)state;
	in.guest_available_bytes = in.guest_total_bytes - 760 * MiB; /* 60 MiB over backed */
	demand_estimate(&in, &d);
	assert_int_equal(d.source, DEMAND_GUEST);
	assert_int_equal(d.demand_bytes, 760 * MiB);
}

static void available_above_total_is_zero_not_wrapped(void **state)
{
	struct demand_input in = healthy_guest();
	struct demand d;

	(void)state;
	in.guest_available_bytes = in.guest_total_bytes + MiB;
	demand_estimate(&in, &d);
	assert_int_equal(d.demand_bytes, 0);
}

static void swapping_guest_is_in_distress(void **state)
{
	struct demand_input in = healthy_guest();
	struct demand d;

	(void)state;
	in.guest_swap_out = 12;
	demand_estimate(&in, &d);
	assert_true(d.pressure);
	assert_int_equal(d.demand_bytes, 2048 * MiB / 100 * 110);
}

static void major_fault_rate_threshold(void **state)
{
	struct demand_input in = healthy_guest();
	struct demand d;

	(void)state;
	in.interval_ms = 2000;
	in.guest_major_faults = 2 * DEMAND_MAJOR_FAULTS_PER_S - 1; /* just under the rate */
	demand_estimate(&in, &d);
	assert_false(d.pressure);
	in.guest_major_faults++;
	demand_estimate(&in, &d);
	assert_true(d.pressure);
}

static void silent_guest_gets_host_demand(void **state)
{
	struct demand_input in = healthy_guest();
	struct demand d;

	(void)state;
	in.guest_fresh = false;
	demand_estimate(&in, &d);
	assert_int_equal(d.source, DEMAND_HOST);
	assert_int_equal(d.demand_bytes, 700 * MiB);
	/* Stale guest stats say nothing, also about swapping. */
	in.guest_swap_in = 1000;
	demand_estimate(&in, &d);
	assert_false(d.pressure);
}

static void host_pressure_signals(void **state)
{
	struct demand_input in = healthy_guest();
	struct demand d;

	(void)state;
	in.guest_fresh = false;
	in.psi_some_avg10_pct = DEMAND_PSI_DISTRESS_PCT;
	demand_estimate(&in, &d);
	assert_true(d.pressure);
	assert_int_equal(d.demand_bytes, 2048 * MiB / 100 * 110);

	in.psi_some_avg10_pct = -1; /* PSI off: reclaim plus fault bursts say the same */
	in.reclaims = 3;
	demand_estimate(&in, &d);
	assert_false(d.pressure); /* reclaim alone: it may just be trimming cache */
	in.ept_fault_bursts = 1;
	demand_estimate(&in, &d);
	assert_true(d.pressure);
}

static void nothing_known_keeps_assigned(void **state)
{
	struct demand_input in = { .assigned_bytes = 1024 * MiB, .psi_some_avg10_pct = -1 };
	struct demand d;

	(void)state;
	demand_estimate(&in, &d);
	assert_int_equal(d.source, DEMAND_NONE);
	assert_int_equal(d.demand_bytes, 1024 * MiB);
	assert_false(d.pressure);
}

/* A late report still counts for three ticks or 10 s, whichever is longer. */
static void a_report_is_fresh_for_three_ticks_or_ten_seconds(void **state)
{
	const __u64 s = 1000000000ULL;

	(void)state;
	assert_true(demand_report_fresh(9 * s, 1000));
	assert_false(demand_report_fresh(10 * s, 1000));
	assert_true(demand_report_fresh(14 * s, 5000));
	assert_false(demand_report_fresh(15 * s, 5000));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(guest_report_is_total_minus_available),
		cmocka_unit_test(guest_claim_capped_by_host),
		cmocka_unit_test(claim_within_slack_is_believed),
		cmocka_unit_test(available_above_total_is_zero_not_wrapped),
		cmocka_unit_test(swapping_guest_is_in_distress),
		cmocka_unit_test(major_fault_rate_threshold),
		cmocka_unit_test(silent_guest_gets_host_demand),
		cmocka_unit_test(host_pressure_signals),
		cmocka_unit_test(nothing_known_keeps_assigned),
		cmocka_unit_test(memory_outside_memtotal_counts_as_used),
		cmocka_unit_test(a_report_is_fresh_for_three_ticks_or_ten_seconds),
	};

	return cmocka_run_group_tests_name("demand", tests, NULL, NULL);
}
