/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * A VM's memory demand from what its guest reports and what the host sees. Pure: samples
 * in, demand out. The rules are in docs/demand.md.
 */
#ifndef DYNMEM_DEMAND_H
#define DYNMEM_DEMAND_H

#include <stdbool.h>
#include <linux/types.h>

struct demand_input {
	/* The guest's word (virtio-balloon stats), when fresh. */
	bool guest_fresh;
	__u64 guest_total_bytes;
	__u64 guest_available_bytes;
	__u64 guest_swap_in;	  /* pages swapped in since the previous sample */
	__u64 guest_swap_out;	  /* pages swapped out since the previous sample */
	__u64 guest_major_faults; /* since the previous sample */

	/* What the host sees. */
	bool host_known;
	__u64 host_resident_bytes; /* guest RAM the host backs: cgroup memory less overhead */
	__u64 assigned_bytes;	   /* what the VM is given now */
	int psi_some_avg10_pct;	   /* memory.pressure "some avg10", -1 unknown */
	__u64 reclaims;		   /* memcg reclaim runs in the VM's cgroup since the last tick */
	__u64 ept_fault_bursts;	   /* observer bursts since the last tick */
	__u32 interval_ms;
};

enum demand_source {
	DEMAND_GUEST,	     /* the guest's report */
	DEMAND_GUEST_CAPPED, /* the guest claimed more than the host backs: capped */
	DEMAND_HOST,	     /* no fresh report: what the host sees */
	DEMAND_NONE,	     /* nothing known yet: keep what it has */
};

struct demand {
	__u64 demand_bytes;
	bool pressure; /* distress: the allocator must not shrink it, and it needs more */
	enum demand_source source;
};

/* Slack over what the host backs before a guest's claim counts as unverified. */
#define DEMAND_HOST_SLACK_MIN_BYTES (64ULL << 20)
#define DEMAND_HOST_SLACK_PCT	    5
/* Under distress a VM is taken to need this much more than it has. */
#define DEMAND_DISTRESS_GROWTH_PCT 10
#define DEMAND_PSI_DISTRESS_PCT	   10
#define DEMAND_MAJOR_FAULTS_PER_S  100

/*
 * A guest's report counts while younger than this many ticks or this many ms, whichever is
 * longer: a balloon driver under load can be seconds late, and a stale report makes demand
 * jump to the host's view (seen in the lab: 103 MiB from the guest, 223 MiB from the host
 * for one late report, and back the next second).
 */
#define DEMAND_FRESH_TICKS  3
#define DEMAND_FRESH_MIN_MS 10000

bool demand_report_fresh(__u64 age_ns, __u32 interval_ms);
void demand_estimate(const struct demand_input *in, struct demand *ret);
const char *demand_source_name(enum demand_source s);

#endif
