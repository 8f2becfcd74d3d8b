/* SPDX-License-Identifier: GPL-2.0-only */
/* One VM as the daemon knows it: its settings, where it lives, what was seen and decided. */
#ifndef DYNMEM_VM_H
#define DYNMEM_VM_H

#include <stdbool.h>
#include <linux/types.h>
#include "config.h"
#include "demand.h"
#include "enforcer.h"
#include "observer.h"

struct qmp;
struct daemon;

/* The guest's last balloon report, as QMP gave it. */
struct vm_guest_stats {
	bool valid;
	__u64 at_ns;	   /* when we received it */
	__s64 last_update; /* the guest's own timestamp: unchanged means stale */
	__u64 total_bytes, available_bytes;
	__u64 swap_in, swap_out, major_faults; /* cumulative */
};

struct vm {
	struct config_vm cfg;

	/* Where it lives on the host. */
	char cgroup_path[4096];
	int cgroup_fd; /* -1: no cgroup (yet) */
	__u64 cgroup_id;
	bool observed; /* has an observer slot */
	__u32 slot;
	struct qmp *qmp;
	bool qmp_ready;
	__u64 qmp_ready_ns; /* when this QMP session came up */
	bool no_report_warned;
	__u64 qmp_retry_ns; /* when to try connecting again */

	/* What was seen. */
	struct vm_guest_stats guest, guest_prev;
	__u64 balloon_actual_bytes; /* query-balloon / BALLOON_CHANGE; 0 unknown */
	__u64 memory_current_bytes;
	__u64 overhead_bytes; /* the VMM's own memory on top of guest RAM */
	int psi_some_avg10_pct;
	struct dm_counters counters, counters_prev;
	__u64 counters_ns, counters_prev_ns; /* when each was read: rates use the real interval */
	__u64 bursts;			     /* observer bursts since the last tick */

	/* What was decided. */
	bool pending; /* not planned: its size not known yet, or its guest still booting */
	struct demand demand;
	__u64 assigned_bytes; /* what the guest has now */
	__u64 target_bytes;
	int reason; /* enum alloc_reason */
	int node;   /* -1: spanning */
	__u64 last_shrink_ns;

	/* What was done, per enforcer. */
	bool enforce[NR_ENFORCERS]; /* configured for this VM and usable on this host */
	struct enforcer_vm_state enf[NR_ENFORCERS];
	__u64 cg_min_written, cg_high_written; /* 0: not written yet */
	__u64 balloon_requested_bytes;
	int numa_node_written; /* -1: none */

	/* Bookkeeping of the daemon that owns it. */
	struct daemon *daemon;
	int qmp_watched_fd; /* the fd the loop watches for this VM's QMP, -1 none */
	bool qmp_watch_out;
	__u32 qmp_backoff_s;
	__u64 overhead_measured_ns;
	char problem[256];   /* what is wrong with it now, for status; empty when fine */
	char qmp_error[256]; /* why its QMP session is down, empty when up */
	struct vm *next;
};

/* A VM not yet found on the host: no cgroup, no QMP, nothing written. */
void vm_init(struct vm *vm, const struct config_vm *cfg);

/* Record what an enforcer did (rc >= 0) or why it failed (rc < 0, msg says on what). */
void vm_enforcer_result(struct vm *vm, enum enforcer_id id, int rc, __u64 now_ns, const char *fmt,
			...) __attribute__((format(printf, 5, 6)));

#endif
