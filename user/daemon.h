/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * dynmemd's state and its parts: daemon.c (set up, reload, tear down), vms.c (finding VMs
 * on the host, their QMP sessions), tick.c (observe, decide, act), status.c (what
 * `dynmem status` shows). One thread, one loop.
 */
#ifndef DYNMEM_DAEMON_H
#define DYNMEM_DAEMON_H

#include <stdbool.h>
#include <linux/types.h>
#include "alloc.h"
#include "config.h"
#include "enforcer.h"

struct loop;
struct observer;
struct ctl;
struct vm;

struct daemon_opts {
	const char *config_path;
	bool dry_run;	 /* decide and log, change nothing */
	bool foreground; /* log to stderr with timestamps */
	bool debug;
};

struct host_memory {
	__u64 total_bytes;
	unsigned int nr_nodes;
	__u64 node_total_bytes[ALLOC_MAX_NODES];
	__u64 node_free_bytes[ALLOC_MAX_NODES];
};

struct daemon {
	struct daemon_opts opts;
	struct config cfg;
	struct loop *loop;
	struct observer *obs; /* NULL: the observer could not load (obs_error says why) */
	char obs_error[256];
	struct enforcer enf[NR_ENFORCERS];
	struct ctl *ctl;
	struct vm *vms;

	char cgroup_mount[4096];
	int cgroup_root_fd;
	int timer_fd, signal_fd;

	struct host_memory host;
	__u64 reserve_bytes, overhead_bytes, budget_bytes;
	__u64 node_budget_bytes[ALLOC_MAX_NODES]; /* each node's, what spanning off plans against */
	__u64 pending_bytes; /* held by VMs not planned yet (see vm_pending()) */
	struct alloc_summary summary;
	__u64 ticks, last_tick_ns, tick_cost_ns;
	__u64 started_ns;
	char alarm[256]; /* host-wide trouble now (overcommit...), empty when fine */
	int prom_error;	 /* the last textfile write's, to log a failure once */
	bool ledger_warned;
	int lock_fd; /* STATE_DIR/dynmemd.lock: one daemon per host */
};

/* daemon.c */
int daemon_open(struct daemon *d, const struct daemon_opts *opts);
int daemon_run(struct daemon *d);
void daemon_close(struct daemon *d);
/* Called on SIGHUP: a bad file is logged and the running config kept. */
void daemon_reload(struct daemon *d);

/* vms.c: make d->vms match d->cfg (new VMs found, removed ones relaxed and dropped). */
void vms_sync(struct daemon *d);
void vms_free_all(struct daemon *d, bool relax);
/* Finds what is not yet found (cgroup, QMP session), retrying with a back-off. */
void vms_connect(struct daemon *d, struct vm *vm, __u64 now_ns);
void vms_observe(struct daemon *d, struct vm *vm, __u64 now_ns);
/* Relax every enforcer's limits on one VM. */
void vms_relax(struct daemon *d, struct vm *vm);

/* tick.c */
void tick_run(struct daemon *d);
/* What the planned VMs have, summed: a pending VM is already taken out of the budget. */
__u64 tick_assigned_bytes(const struct daemon *d);
int host_memory_read(const char *sysfs_node_dir, struct host_memory *ret);

/* set.c: the reply to `dynmem set VM key=value...` (args is modified), JSON. */
char *set_request(struct daemon *d, char *args);

/* status.c: the reply to `dynmem status`, JSON. */
char *status_json(struct daemon *d);

#endif
