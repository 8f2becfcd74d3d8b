/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The observer's userspace side: loads bpf/observer.bpf.c, attaches what this kernel has,
 * maps cgroups to slots, reads counters and drains the ring buffer.
 */
#ifndef DYNMEM_USER_OBSERVER_H
#define DYNMEM_USER_OBSERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>
#include "../bpf/observer.h"
#include "hooks.h"

struct observer;

struct observer_opts {
	const char *btf_dir;	    /* default /sys/kernel/btf */
	const char *sysfs_system;   /* default /sys/devices/system (NUMA node table) */
	const char *const *off;	    /* hooks the operator switched off, NULL-terminated */
	__u32 burst_threshold[DM_NR_BURSTS]; /* 0: keep the default */
	__u64 burst_window_ns[DM_NR_BURSTS]; /* 0: keep the default */
};

/* Called for each ring buffer record; a non-zero return stops the drain and is returned. */
typedef int (*observer_event_fn)(void *ctx, const struct dm_event_burst *ev);

/* NULL and errno on failure: loading or attaching failed for reasons other than a hook. */
struct observer *observer_open(const struct observer_opts *opts);
void observer_close(struct observer *o);

/* The slot counts the cgroup's tasks from now on; adding a cgroup twice gives its slot. */
int observer_add_vm(struct observer *o, __u64 cgroup_id, __u32 *ret_slot);
int observer_remove_vm(struct observer *o, __u64 cgroup_id);

/* Summed over CPUs. DM_SLOT_HOST is "everything else". */
int observer_read(struct observer *o, __u32 slot, struct dm_counters *ret);

/* The ring buffer's epoll fd, for an outer loop; then observer_drain() when it is readable. */
int observer_event_fd(struct observer *o);
int observer_drain(struct observer *o, observer_event_fn fn, void *ctx);
/* Waits up to timeout_ms for events and drains them: events handled, or -errno. */
int observer_poll(struct observer *o, int timeout_ms, observer_event_fn fn, void *ctx);

__u64 observer_lost_events(struct observer *o);
/* Malformed records seen by the consumer (wrong type or size): never expected, but shown. */
__u64 observer_bad_records(struct observer *o);

const struct hook_status *observer_hooks(struct observer *o, size_t *ret_count);
/* How many nodes the node table knows, and whether map_remote/alloc_remote can count. */
unsigned int observer_nr_nodes(struct observer *o);
bool observer_remote_counting(struct observer *o);

#endif
