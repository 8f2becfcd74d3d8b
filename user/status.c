// SPDX-License-Identifier: GPL-2.0-only
/* The daemon's state as `dynmem status --json` shows it (and `top` reads it). */
#include <string.h>
#include <json-c/json.h>
#include "counters.h"
#include "daemon.h"
#include "demand.h"
#include "hooks.h"
#include "loop.h"
#include "observer.h"
#include "qmp.h"
#include "vm.h"

static void add_u64(json_object *o, const char *key, __u64 v)
{
	json_object_object_add(o, key, json_object_new_uint64(v));
}

static void add_str(json_object *o, const char *key, const char *v)
{
	json_object_object_add(o, key, json_object_new_string(v));
}

/* (assigned - demand) / demand, in percent; null when demand is 0. */
static json_object *availability(const struct vm *vm)
{
	double demand = (double)vm->demand.demand_bytes;

	if (!vm->demand.demand_bytes)
		return NULL;
	return json_object_new_double(((double)vm->assigned_bytes - demand) / demand * 100.0);
}

static json_object *pressure(const struct vm *vm)
{
	if (!vm->assigned_bytes)
		return NULL;
	return json_object_new_double((double)vm->demand.demand_bytes / (double)vm->assigned_bytes *
				      100.0);
}

static json_object *observer_json(const struct vm *vm, __u64 interval_ns)
{
	json_object *o = json_object_new_object(), *rates = json_object_new_object();
	double per_s[DM_NR_COUNTERS];

	counters_rates(&vm->counters_prev, &vm->counters, interval_ns, per_s);
	for (int i = 0; i < DM_NR_COUNTERS; i++) {
		add_u64(o, counter_names[i], vm->counters.c[i]);
		json_object_object_add(rates, counter_names[i], json_object_new_double(per_s[i]));
	}
	json_object_object_add(o, "rates", rates);
	return o;
}

static json_object *enforcers_json(struct daemon *d, const struct vm *vm)
{
	json_object *o = json_object_new_object();

	for (int i = 0; i < NR_ENFORCERS; i++) {
		const struct enforcer_vm_state *s = &vm->enf[i];
		json_object *e;

		if (!vm->enforce[i])
			continue;
		e = json_object_new_object();
		add_str(e, "last_action", s->action);
		add_str(e, "last_error", s->error);
		add_u64(e, "actions", s->actions);
		add_u64(e, "errors", s->errors);
		json_object_object_add(o, d->enf[i].ops->name, e);
	}
	return o;
}

static const char *vm_state(const struct vm *vm)
{
	if (vm->problem[0] || vm->qmp_error[0])
		return "degraded";
	if (vm->cgroup_fd < 0 && !vm->qmp_ready)
		return "absent";
	return "running";
}

static json_object *vm_json(struct daemon *d, const struct vm *vm)
{
	json_object *o = json_object_new_object();
	const struct config_vm *c = &vm->cfg;

	add_str(o, "name", c->name);
	add_str(o, "state", vm_state(vm));
	add_str(o, "problem", vm->problem[0] ? vm->problem : vm->qmp_error);
	add_str(o, "cgroup", vm->cgroup_path[0] ? vm->cgroup_path : c->cgroup);
	add_str(o, "qmp", c->qmp);
	add_str(o, "qmp_state", vm->qmp ? qmp_state_name(qmp_state(vm->qmp)) : "none");
	add_u64(o, "startup_bytes", c->startup_bytes);
	add_u64(o, "minimum_bytes", c->minimum_bytes);
	add_u64(o, "maximum_bytes", c->maximum_bytes);
	add_u64(o, "buffer_pct", c->buffer_pct);
	add_u64(o, "weight", c->weight);
	add_u64(o, "assigned_bytes", vm->assigned_bytes);
	add_u64(o, "target_bytes", vm->target_bytes);
	add_u64(o, "demand_bytes", vm->demand.demand_bytes);
	add_str(o, "demand_source", demand_source_name(vm->demand.source));
	json_object_object_add(o, "under_pressure", json_object_new_boolean(vm->demand.pressure));
	json_object_object_add(o, "availability_pct", availability(vm));
	json_object_object_add(o, "pressure_pct", pressure(vm));
	add_str(o, "reason",
		vm->pending ? "pending" : alloc_reason_name((enum alloc_reason)vm->reason));
	json_object_object_add(o, "node", json_object_new_int(vm->node));
	add_u64(o, "memory_current_bytes", vm->memory_current_bytes);
	add_u64(o, "overhead_bytes", vm->overhead_bytes);
	add_u64(o, "balloon_actual_bytes", vm->balloon_actual_bytes);
	if (vm->guest.valid) {
		add_u64(o, "guest_total_bytes", vm->guest.total_bytes);
		add_u64(o, "guest_available_bytes", vm->guest.available_bytes);
	}
	json_object_object_add(
		o, "observer",
		vm->observed ? observer_json(vm, vm->counters_prev_ns
							 ? vm->counters_ns - vm->counters_prev_ns
							 : 0)
			     : NULL);
	json_object_object_add(o, "enforcers", enforcers_json(d, vm));
	return o;
}

/* Per node: what spanning off plans each node's VMs against. */
static json_object *nodes_json(struct daemon *d)
{
	json_object *a = json_object_new_array();

	for (unsigned int n = 0; n < d->host.nr_nodes; n++) {
		json_object *o = json_object_new_object();

		add_u64(o, "node", n);
		add_u64(o, "total_bytes", d->host.node_total_bytes[n]);
		add_u64(o, "budget_bytes", d->node_budget_bytes[n]);
		json_object_array_add(a, o);
	}
	return a;
}

static json_object *host_json(struct daemon *d)
{
	json_object *o = json_object_new_object(), *hooks_obj = json_object_new_object();
	json_object *enf = json_object_new_object();
	__u64 assigned = tick_assigned_bytes(d);

	add_u64(o, "total_bytes", d->host.total_bytes);
	add_u64(o, "reserve_bytes", d->reserve_bytes);
	add_u64(o, "overhead_bytes", d->overhead_bytes);
	add_u64(o, "budget_bytes", d->budget_bytes);
	add_u64(o, "pending_bytes", d->pending_bytes);
	add_u64(o, "assigned_bytes", assigned);
	add_u64(o, "free_bytes", d->budget_bytes > assigned ? d->budget_bytes - assigned : 0);
	add_u64(o, "nodes", d->host.nr_nodes);
	json_object_object_add(o, "numa_nodes", nodes_json(d));
	json_object_object_add(o, "numa_spanning",
			       json_object_new_boolean(d->cfg.host.numa_spanning));
	add_str(o, "alarm", d->alarm);
	add_u64(o, "ticks", d->ticks);
	add_u64(o, "interval_ms", d->cfg.host.interval_ms);
	add_u64(o, "tick_cost_ns", d->tick_cost_ns);
	json_object_object_add(o, "dry_run", json_object_new_boolean(d->opts.dry_run));
	if (d->obs) {
		size_t n;
		const struct hook_status *hs = observer_hooks(d->obs, &n);

		for (size_t i = 0; i < n; i++)
			add_str(hooks_obj, hs[i].hook->name, hook_state_name(hs[i].state));
		add_u64(o, "lost_events", observer_lost_events(d->obs));
	}
	json_object_object_add(o, "hooks", hooks_obj);
	add_str(o, "observer_error", d->obs_error);
	for (int i = 0; i < NR_ENFORCERS; i++)
		add_str(enf, d->enf[i].ops->name, d->enf[i].usable ? "usable" : d->enf[i].why);
	json_object_object_add(o, "enforcers", enf);
	return o;
}

char *status_json(struct daemon *d)
{
	json_object *root = json_object_new_object(), *vms = json_object_new_array();
	char *text;

	json_object_object_add(root, "host", host_json(d));
	for (struct vm *vm = d->vms; vm; vm = vm->next)
		json_object_array_add(vms, vm_json(d, vm));
	json_object_object_add(root, "vms", vms);
	text = strdup(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN));
	json_object_put(root);
	return text;
}
