// SPDX-License-Identifier: GPL-2.0-only
/*
 * One tick: observe (host memory, each VM's cgroup, guest and observer counters), decide
 * (demand per VM, then the allocator over all of them), act (each VM's enforcers).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "daemon.h"
#include "demand.h"
#include "growth.h"
#include "ledger.h"
#include "log.h"
#include "prom.h"
#include "loop.h"
#include "size.h"
#include "vm.h"

static int read_meminfo_kb(const char *path, const char *key, __u64 *ret_bytes)
{
	char line[256];
	unsigned long long kb;
	const char *k;
	FILE *f = fopen(path, "re");
	int err = -ENOENT;

	if (!f)
		return -errno;
	while (err && fgets(line, sizeof(line), f)) {
		/* /proc/meminfo: "MemTotal: N kB"; a node's: "Node 0 MemTotal: N kB" */
		k = strstr(line, key);
		if (k && k[strlen(key)] == ':' && sscanf(k + strlen(key) + 1, "%llu", &kb) == 1) {
			*ret_bytes = (__u64)kb << 10;
			err = 0;
		}
	}
	fclose(f);
	return err;
}

int host_memory_read(const char *sysfs_node_dir, struct host_memory *ret)
{
	struct host_memory h = { 0 };
	char path[4096];
	int err = read_meminfo_kb("/proc/meminfo", "MemTotal", &h.total_bytes);

	for (unsigned int n = 0; !err && n < ALLOC_MAX_NODES; n++) {
		snprintf(path, sizeof(path), "%s/node%u/meminfo", sysfs_node_dir, n);
		if (read_meminfo_kb(path, "MemTotal", &h.node_total_bytes[n]))
			break;
		read_meminfo_kb(path, "MemFree", &h.node_free_bytes[n]);
		h.nr_nodes = n + 1;
	}
	if (!err)
		*ret = h;
	return err;
}

/* What the guest has now: the balloon's word if it has one, else our last decision. */
static __u64 vm_assigned(const struct vm *vm)
{
	if (vm->enforce[ENFORCER_BALLOON] && vm->balloon_actual_bytes)
		return vm->balloon_actual_bytes;
	if (vm->target_bytes)
		return vm->target_bytes;
	return vm->cfg.maximum_bytes; /* unlimited so far: it can use all it was started with */
}

static void vm_demand(struct daemon *d, struct vm *vm)
{
	bool fresh = vm->guest.valid &&
		     demand_report_fresh(loop_now_ns() - vm->guest.at_ns, d->cfg.host.interval_ms);
	bool fresh_delta = fresh && vm->guest_prev.valid;
	struct demand_input in = {
		.guest_fresh = fresh,
		.guest_total_bytes = vm->guest.total_bytes,
		.guest_available_bytes = vm->guest.available_bytes,
		.guest_swap_in =
			fresh_delta ? (vm->guest.swap_in - vm->guest_prev.swap_in) >> 12 : 0,
		.guest_swap_out =
			fresh_delta ? (vm->guest.swap_out - vm->guest_prev.swap_out) >> 12 : 0,
		.guest_major_faults =
			fresh_delta ? vm->guest.major_faults - vm->guest_prev.major_faults : 0,
		.host_known = vm->cgroup_fd >= 0 && vm->memory_current_bytes,
		.host_resident_bytes = vm->memory_current_bytes > vm->overhead_bytes
					       ? vm->memory_current_bytes - vm->overhead_bytes
					       : 0,
		.assigned_bytes = vm->assigned_bytes,
		.psi_some_avg10_pct = vm->psi_some_avg10_pct,
		.reclaims = vm->counters.c[DM_RECLAIMS] - vm->counters_prev.c[DM_RECLAIMS],
		.ept_fault_bursts = vm->bursts,
		.interval_ms = d->cfg.host.interval_ms,
	};

	demand_estimate(&in, &vm->demand);
	vm->bursts = 0;
	/* Seen once: a later sample compares against this one, not an older one. */
	vm->guest_prev = vm->guest;
}

/*
 * What the allocator counts the VM as having: our last target while its balloon is on the way
 * there, so a shrink step is held as the step and not undone by a hold at the balloon's
 * lagging size next tick (the balloon would yo-yo). Before any target, what it has.
 */
static __u64 vm_committed(const struct vm *vm)
{
	return vm->target_bytes ? vm->target_bytes : vm->assigned_bytes;
}

/*
 * A ballooned VM is not planned until QEMU has said its balloon's size and its guest has
 * reported once (its balloon driver is up), or VM_BOOT_GRACE_NS have passed without a report:
 * acting blind could yank its memory, and a guest still booting keeps its balloon's size, as
 * Hyper-V leaves a booting VM its startup RAM (in the lab, a booting guest's few touched pages
 * read as its demand and it was ballooned mid-boot). It counts at what it may hold: its
 * balloon's size when known, else what the host backs for it when the cgroup says, else its
 * maximum. A guest that never reports (no balloon driver, no stats) is planned from the host's
 * view once the grace is over.
 */
#define VM_BOOT_GRACE_NS (300ULL * 1000000000ULL)

static bool vm_pending(struct vm *vm, __u64 now_ns)
{
	bool booting;

	if (!vm->enforce[ENFORCER_BALLOON])
		return false;
	if (!vm->balloon_actual_bytes)
		return true;
	booting = !vm->guest.valid && now_ns - vm->qmp_ready_ns < VM_BOOT_GRACE_NS;
	if (!vm->guest.valid && !booting && !vm->no_report_warned)
		log_warn("vm %s: no balloon report from its guest %llu s after QMP came up (is its "
			 "virtio-balloon driver loaded?): planned from what the host sees",
			 vm->cfg.name, VM_BOOT_GRACE_NS / 1000000000ULL);
	vm->no_report_warned = !vm->guest.valid && !booting;
	return booting;
}

static __u64 vm_held_bytes(const struct vm *vm)
{
	if (vm->balloon_actual_bytes)
		return vm->balloon_actual_bytes;
	if (vm->memory_current_bytes > vm->overhead_bytes)
		return vm->memory_current_bytes - vm->overhead_bytes;
	/* Running (it has a cgroup) but its memory unknown: the worst. Not running: nothing. */
	return vm->cgroup_fd >= 0 ? vm->cfg.maximum_bytes : 0;
}

/* With spanning off, each VM lives on one node: its own, or the best fit, chosen once. */
static int vm_node(struct daemon *d, struct vm *vm)
{
	int node;

	if (d->cfg.host.numa_spanning || vm->cfg.numa == CONFIG_NUMA_SPAN)
		return -1;
	if (vm->cfg.numa >= 0)
		return vm->cfg.numa < (int)d->host.nr_nodes ? vm->cfg.numa : -1;
	if (vm->node >= 0)
		return vm->node;
	if (alloc_place(d->host.node_free_bytes, d->host.nr_nodes, vm->cfg.startup_bytes, &node)) {
		char a[32];

		snprintf(vm->problem, sizeof(vm->problem),
			 "too big for any NUMA node (startup %s): not placed, not squeezed",
			 size_format(a, sizeof(a), vm->cfg.startup_bytes));
		return -1;
	}
	log_info("vm %s: placed on NUMA node %d", vm->cfg.name, node);
	d->host.node_free_bytes[node] -= d->host.node_free_bytes[node] > vm->cfg.startup_bytes
						 ? vm->cfg.startup_bytes
						 : d->host.node_free_bytes[node];
	return node;
}

static void host_budget(struct daemon *d, struct alloc_host *h)
{
	__u64 total = d->host.total_bytes, used = 0;

	d->reserve_bytes = d->cfg.host.reserve_auto ? config_reserve_auto_bytes(total)
						    : d->cfg.host.reserve_bytes;
	d->overhead_bytes = d->pending_bytes = 0;
	for (struct vm *vm = d->vms; vm; vm = vm->next) {
		d->overhead_bytes += vm->overhead_bytes;
		d->pending_bytes += vm->pending ? vm_held_bytes(vm) : 0;
	}
	used = d->reserve_bytes + d->overhead_bytes + d->pending_bytes;
	d->budget_bytes = total > used ? total - used : 0;

	alloc_host_defaults(h);
	h->budget_bytes = d->budget_bytes;
	h->now_ns = loop_now_ns();
	h->numa_spanning = d->cfg.host.numa_spanning || d->host.nr_nodes < 2;
	h->nr_nodes = d->host.nr_nodes;
	for (unsigned int n = 0; n < d->host.nr_nodes && total; n++) {
		/* Each node carries its share of the reserve and its own VMs' overhead. */
		__u64 node_total = d->host.node_total_bytes[n];
		__u64 node_used =
			(__u64)((double)d->reserve_bytes * (double)node_total / (double)total);

		for (struct vm *vm = d->vms; vm; vm = vm->next)
			if (vm->node == (int)n)
				node_used +=
					vm->overhead_bytes + (vm->pending ? vm_held_bytes(vm) : 0);
		h->node_budget_bytes[n] = node_total > node_used ? node_total - node_used : 0;
		d->node_budget_bytes[n] = h->node_budget_bytes[n];
	}
}

static void act(struct daemon *d, struct vm *vm, const struct alloc_vm *in,
		const struct alloc_target *t)
{
	struct target target = { .guest_bytes = t->target_bytes, .node = vm->node };
	char a[32], b[32], c[32];

	if (t->target_bytes != vm->target_bytes)
		log_info("vm %s: target %s -> %s (%s; demand %s from %s%s)%s", vm->cfg.name,
			 size_format(a, sizeof(a), vm->target_bytes),
			 size_format(b, sizeof(b), t->target_bytes), alloc_reason_name(t->reason),
			 size_format(c, sizeof(c), vm->demand.demand_bytes),
			 demand_source_name(vm->demand.source),
			 vm->demand.pressure ? ", under pressure" : "",
			 d->opts.dry_run ? " [dry run]" : "");
	/* The allocator's contract: a target below what the VM has starts its shrink clock. */
	if (t->target_bytes < in->assigned_bytes)
		vm->last_shrink_ns = loop_now_ns();
	vm->target_bytes = t->target_bytes;
	vm->reason = (int)t->reason;
	if (d->opts.dry_run || t->reason == ALLOC_NO_NODE)
		return; /* an unplaced VM is reported, not squeezed */
	for (int i = 0; i < NR_ENFORCERS; i++) {
		int rc;

		if (!vm->enforce[i] || (i != ENFORCER_BALLOON && vm->cgroup_fd < 0))
			continue;
		rc = d->enf[i].ops->apply(&d->enf[i], vm, &target);
		if (rc < 0 && vm->enf[i].errors == 1)
			log_warn("vm %s: %s: %s", vm->cfg.name, d->enf[i].ops->name,
				 vm->enf[i].error);
		vm->enf[i].at_ns = rc ? loop_now_ns() : vm->enf[i].at_ns;
	}
}

static void decide_and_act(struct daemon *d)
{
	size_t n = 0, i = 0;
	struct alloc_host h;
	struct alloc_vm *in;
	struct alloc_target *out;
	__u64 *has;
	struct vm *vm;
	int err;

	for (vm = d->vms; vm; vm = vm->next)
		n++;
	in = calloc(n ?: 1, sizeof(*in));
	out = calloc(n ?: 1, sizeof(*out));
	has = calloc(n ?: 1, sizeof(*has));
	if (!in || !out || !has) {
		log_err("out of memory planning %zu VMs", n);
		goto out;
	}
	for (vm = d->vms; vm; vm = vm->next) {
		vm->assigned_bytes = vm_assigned(vm);
		vm->node = vm_node(d, vm);
		vm_demand(d, vm);
		vm->pending = vm_pending(vm, loop_now_ns());
		if (vm->pending)
			continue;
		has[i] = vm->assigned_bytes;
		in[i++] = (struct alloc_vm){
			.minimum_bytes = vm->cfg.minimum_bytes,
			.maximum_bytes = vm->cfg.maximum_bytes,
			.buffer_pct = vm->cfg.buffer_pct,
			.weight = vm->cfg.weight,
			.demand_bytes = vm->demand.demand_bytes,
			.assigned_bytes = vm_committed(vm),
			.node = vm->node,
			.pressure = vm->demand.pressure,
			.last_shrink_ns = vm->last_shrink_ns,
		};
	}
	n = i;
	host_budget(d, &h);
	err = alloc_plan(&h, in, n, out, &d->summary);
	if (err) {
		log_err("the allocator refused this tick's input: %s", strerror(-err));
		goto out;
	}
	if (d->summary.overcommitted && !d->alarm[0])
		log_err("the VMs' minimums alone exceed the host's budget: every VM is held at its "
			"minimum; lower minimums, the reserve, or move VMs away");
	snprintf(d->alarm, sizeof(d->alarm), "%s",
		 d->summary.overcommitted ? "overcommitted: the minimums exceed the budget" : "");
	growth_limit_to_free(&h, in, has, out, n);
	for (vm = d->vms, i = 0; vm; vm = vm->next) {
		if (!vm->pending) {
			act(d, vm, &in[i], &out[i]);
			i++;
		}
	}
out:
	free(has);
	free(in);
	free(out);
}

static void publish(struct daemon *d)
{
	int err;

	if (!d->cfg.host.textfile[0])
		return;
	err = prom_write(d->cfg.host.textfile, d);
	if (err && err != d->prom_error)
		log_warn("cannot write the metrics to %s: %s", d->cfg.host.textfile,
			 strerror(-err));
	d->prom_error = err;
}

__u64 tick_assigned_bytes(const struct daemon *d)
{
	__u64 sum = 0;

	for (const struct vm *vm = d->vms; vm; vm = vm->next)
		sum += vm->pending ? 0 : vm->assigned_bytes;
	return sum;
}

void tick_run(struct daemon *d)
{
	__u64 start = loop_now_ns();

	if (host_memory_read("/sys/devices/system/node", &d->host))
		log_warn("cannot read the host's memory sizes; keeping the last ones");
	for (struct vm *vm = d->vms; vm; vm = vm->next) {
		vms_connect(d, vm, start);
		vms_observe(d, vm, start);
	}
	decide_and_act(d);
	d->ticks++;
	d->last_tick_ns = start;
	d->tick_cost_ns = loop_now_ns() - start;
	if (!d->opts.dry_run && ledger_update(d->cfg.host.state_dir, d->vms) && !d->ledger_warned) {
		log_warn("cannot record the limits held in %s/limits: after a kill, dynmemd "
			 "--relax will not know them",
			 d->cfg.host.state_dir);
		d->ledger_warned = true;
	}
	publish(d);
}
