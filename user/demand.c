// SPDX-License-Identifier: GPL-2.0-only
#include "demand.h"

static __u64 max_u64(__u64 a, __u64 b)
{
	return a > b ? a : b;
}

bool demand_report_fresh(__u64 age_ns, __u32 interval_ms)
{
	__u64 window_ms = max_u64((__u64)DEMAND_FRESH_TICKS * interval_ms, DEMAND_FRESH_MIN_MS);

	return age_ns < window_ms * 1000000ULL;
}

/* Swapping, many major faults, or the host stalling on its memory: the VM is short. */
static bool in_distress(const struct demand_input *in)
{
	__u64 major_per_s = in->interval_ms ? in->guest_major_faults * 1000 / in->interval_ms : 0;

	if (in->guest_fresh &&
	    (in->guest_swap_in || in->guest_swap_out || major_per_s >= DEMAND_MAJOR_FAULTS_PER_S))
		return true;
	if (in->psi_some_avg10_pct >= DEMAND_PSI_DISTRESS_PCT)
		return true;
	/* Reclaim in its own cgroup means it pushes on its limit; bursts say it is growing. */
	return in->host_known && in->reclaims && in->ept_fault_bursts;
}

/*
 * A guest can only be using memory the host has backed at some point, so its claim is
 * bounded by what the host backs now plus a little slack (pages in flight, rounding).
 * A guest that says more is capped, not believed: it cannot talk itself into memory.
 */
static __u64 host_bound(const struct demand_input *in)
{
	__u64 slack = max_u64(DEMAND_HOST_SLACK_MIN_BYTES,
			      in->assigned_bytes / 100 * DEMAND_HOST_SLACK_PCT);

	return in->host_resident_bytes + slack;
}

void demand_estimate(const struct demand_input *in, struct demand *ret)
{
	struct demand d = { .source = DEMAND_NONE, .demand_bytes = in->assigned_bytes };

	if (in->guest_fresh && in->guest_total_bytes) {
		/* In the VM's own terms: what its kernel keeps outside MemTotal (its image, the
		 * memory map, reserved ranges) is used too, so a guest that uses all of MemTotal
		 * is full, not short by that much of its assigned memory. */
		__u64 kernel = in->assigned_bytes > in->guest_total_bytes
				       ? in->assigned_bytes - in->guest_total_bytes
				       : 0;

		d.source = DEMAND_GUEST;
		d.demand_bytes =
			kernel + (in->guest_available_bytes < in->guest_total_bytes
					  ? in->guest_total_bytes - in->guest_available_bytes
					  : 0);
		if (in->host_known && d.demand_bytes > host_bound(in)) {
			d.source = DEMAND_GUEST_CAPPED;
			d.demand_bytes = host_bound(in);
		}
	} else if (in->host_known) {
		d.source = DEMAND_HOST;
		d.demand_bytes = in->host_resident_bytes;
	}
	d.pressure = in_distress(in);
	if (d.pressure)
		d.demand_bytes =
			max_u64(d.demand_bytes,
				in->assigned_bytes / 100 * (100 + DEMAND_DISTRESS_GROWTH_PCT));
	*ret = d;
}

const char *demand_source_name(enum demand_source s)
{
	switch (s) {
	case DEMAND_GUEST:
		return "guest";
	case DEMAND_GUEST_CAPPED:
		return "guest-capped";
	case DEMAND_HOST:
		return "host";
	case DEMAND_NONE:
		return "none";
	}
	return "?";
}
