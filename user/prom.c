// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "counters.h"
#include "daemon.h"
#include "hooks.h"
#include "observer.h"
#include "prom.h"
#include "vm.h"

/* Label values escape backslash, double quote and newline. */
static void label(FILE *out, const char *value)
{
	for (; *value; value++) {
		if (*value == '\\' || *value == '"')
			fputc('\\', out);
		if (*value == '\n')
			fputs("\\n", out);
		else
			fputc(*value, out);
	}
}

static void header(FILE *out, const char *name, const char *type, const char *help)
{
	fprintf(out, "# HELP dynmem_%s %s\n# TYPE dynmem_%s %s\n", name, help, name, type);
}

static void host_metric(FILE *out, const char *name, const char *type, const char *help, double v)
{
	header(out, name, type, help);
	fprintf(out, "dynmem_%s %.17g\n", name, v);
}

/* One metric, one line per VM; get() gives the value, or NAN to leave the VM out. */
static void vm_metric(FILE *out, struct daemon *d, const char *name, const char *type,
		      const char *help, double (*get)(const struct vm *vm))
{
	header(out, name, type, help);
	for (struct vm *vm = d->vms; vm; vm = vm->next) {
		double v = get(vm);

		if (v != v) /* NaN: not known for this VM */
			continue;
		fputs("dynmem_", out);
		fputs(name, out);
		fputs("{vm=\"", out);
		label(out, vm->cfg.name);
		fprintf(out, "\"} %.17g\n", v);
	}
}

#define NOT_KNOWN (0.0 / 0.0)
static double assigned(const struct vm *vm)
{
	return (double)vm->assigned_bytes;
}
static double target(const struct vm *vm)
{
	return (double)vm->target_bytes;
}
static double demand(const struct vm *vm)
{
	return (double)vm->demand.demand_bytes;
}
static double minimum(const struct vm *vm)
{
	return (double)vm->cfg.minimum_bytes;
}
static double maximum(const struct vm *vm)
{
	return (double)vm->cfg.maximum_bytes;
}
static double weight(const struct vm *vm)
{
	return (double)vm->cfg.weight;
}
static double buffer(const struct vm *vm)
{
	return vm->cfg.buffer_pct / 100.0;
}
static double overhead(const struct vm *vm)
{
	return (double)vm->overhead_bytes;
}
static double distress(const struct vm *vm)
{
	return vm->demand.pressure;
}
static double degraded(const struct vm *vm)
{
	return vm->problem[0] || vm->qmp_error[0];
}
static double pending(const struct vm *vm)
{
	return vm->pending;
}
static double availability(const struct vm *vm)
{
	double dm = (double)vm->demand.demand_bytes;

	return dm ? ((double)vm->assigned_bytes - dm) / dm : NOT_KNOWN;
}
static double pressure(const struct vm *vm)
{
	return vm->assigned_bytes ? (double)vm->demand.demand_bytes / (double)vm->assigned_bytes
				  : NOT_KNOWN;
}

static void observer_metrics(FILE *out, struct daemon *d)
{
	char name[64], help[160];

	for (int i = 0; i < DM_NR_COUNTERS; i++) {
		bool bytes = i == DM_UNMAPPED_BYTES,
		     pages = i == DM_ALLOC_LOCAL || i == DM_ALLOC_REMOTE;

		snprintf(name, sizeof(name), "vm_%s%s_total", counter_names[i],
			 pages ? "_pages" : "");
		snprintf(help, sizeof(help), "eBPF observer: %s of the VM's tasks (see README)%s",
			 counter_names[i],
			 bytes	 ? ", bytes"
			 : pages ? ", pages"
				 : ", events");
		header(out, name, "counter", help);
		for (struct vm *vm = d->vms; vm; vm = vm->next) {
			if (!vm->observed)
				continue;
			fprintf(out, "dynmem_%s{vm=\"", name);
			label(out, vm->cfg.name);
			fprintf(out, "\"} %llu\n", (unsigned long long)vm->counters.c[i]);
		}
	}
}

static void enforcer_metrics(FILE *out, struct daemon *d, bool errors)
{
	header(out, errors ? "vm_enforcer_errors_total" : "vm_enforcer_actions_total", "counter",
	       errors ? "Enforcement attempts that failed"
		      : "Enforcement actions that changed something");
	for (struct vm *vm = d->vms; vm; vm = vm->next)
		for (int i = 0; i < NR_ENFORCERS; i++) {
			if (!vm->enforce[i])
				continue;
			fprintf(out, "dynmem_vm_enforcer_%s_total{vm=\"",
				errors ? "errors" : "actions");
			label(out, vm->cfg.name);
			fprintf(out, "\",enforcer=\"%s\"} %llu\n", d->enf[i].ops->name,
				(unsigned long long)(errors ? vm->enf[i].errors
							    : vm->enf[i].actions));
		}
}

static void hook_metrics(FILE *out, struct daemon *d)
{
	const struct hook_status *hs;
	size_t n;

	if (!d->obs)
		return;
	hs = observer_hooks(d->obs, &n);
	header(out, "observer_hook_live", "gauge",
	       "1 when the tracepoint is hooked, 0 when missing, off or failed");
	for (size_t i = 0; i < n; i++)
		fprintf(out, "dynmem_observer_hook_live{hook=\"%s\",how=\"%s\"} %d\n",
			hs[i].hook->name, hook_state_name(hs[i].state),
			hook_state_live(hs[i].state));
	host_metric(out, "observer_lost_events_total", "counter",
		    "Ring buffer records the observer could not deliver",
		    (double)observer_lost_events(d->obs));
}

/* With spanning off each node's VMs share that node's budget: an operator watches each. */
static void node_metrics(FILE *out, struct daemon *d)
{
	header(out, "node_budget_bytes", "gauge",
	       "Memory a NUMA node's VMs share when spanning is off: its RAM less its share of the "
	       "reserve and its VMMs' overhead and pending memory");
	for (unsigned int n = 0; n < d->host.nr_nodes; n++)
		fprintf(out, "dynmem_node_budget_bytes{node=\"%u\"} %llu\n", n,
			(unsigned long long)d->node_budget_bytes[n]);
}

int prom_format(FILE *out, struct daemon *d)
{
	host_metric(out, "host_memory_bytes", "gauge", "The host's RAM",
		    (double)d->host.total_bytes);
	host_metric(out, "host_reserve_bytes", "gauge", "Memory never handed to VMs",
		    (double)d->reserve_bytes);
	host_metric(out, "host_budget_bytes", "gauge",
		    "Memory the VMs share: RAM less the reserve and the VMMs' overhead",
		    (double)d->budget_bytes);
	host_metric(out, "host_assigned_bytes", "gauge", "Memory the VMs have now, summed",
		    (double)tick_assigned_bytes(d));
	node_metrics(out, d);
	host_metric(out, "host_overcommitted", "gauge",
		    "1 when the minimums alone exceed the budget", d->summary.overcommitted);
	host_metric(out, "ticks_total", "counter", "Decisions made", (double)d->ticks);
	host_metric(out, "tick_duration_seconds", "gauge", "How long the last tick took",
		    (double)d->tick_cost_ns / 1e9);
	vm_metric(out, d, "vm_assigned_bytes", "gauge", "Memory the guest has now", assigned);
	vm_metric(out, d, "vm_target_bytes", "gauge", "Memory dynmem decided for the guest",
		  target);
	vm_metric(out, d, "vm_demand_bytes", "gauge", "Memory the guest needs now", demand);
	vm_metric(out, d, "vm_minimum_bytes", "gauge", "The VM's minimum", minimum);
	vm_metric(out, d, "vm_maximum_bytes", "gauge", "The VM's maximum", maximum);
	vm_metric(out, d, "vm_weight", "gauge", "The VM's memory weight (0-10000)", weight);
	vm_metric(out, d, "vm_buffer_ratio", "gauge", "Headroom over demand the VM asks for",
		  buffer);
	vm_metric(out, d, "vm_overhead_bytes", "gauge", "The VMM's own memory, measured", overhead);
	vm_metric(out, d, "vm_availability_ratio", "gauge",
		  "(assigned - demand) / demand: negative when the guest is short", availability);
	vm_metric(out, d, "vm_pressure_ratio", "gauge", "demand / assigned", pressure);
	vm_metric(out, d, "vm_distress", "gauge", "1 while the guest swaps or stalls on memory",
		  distress);
	vm_metric(out, d, "vm_degraded", "gauge",
		  "1 while something keeps dynmem from seeing or acting on the VM (see dynmem "
		  "status)",
		  degraded);
	vm_metric(out, d, "vm_pending", "gauge",
		  "1 while the VM is not planned: its size unknown or its guest booting", pending);
	observer_metrics(out, d);
	enforcer_metrics(out, d, false);
	enforcer_metrics(out, d, true);
	hook_metrics(out, d);
	return ferror(out) ? -EIO : 0;
}

int prom_write(const char *path, struct daemon *d)
{
	char tmp[4200];
	FILE *f;
	int err;

	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
	f = fopen(tmp, "we");
	if (!f)
		return -errno;
	err = prom_format(f, d);
	if (fchmod(fileno(f), 0644) && !err)
		err = -errno;
	if (fclose(f) && !err)
		err = -errno;
	/* rename() is atomic: a scraper sees the old file or the new one, never half of one. */
	if (!err && rename(tmp, path))
		err = -errno;
	if (err)
		unlink(tmp);
	return err;
}
