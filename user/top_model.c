// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "counters.h"
#include "top_model.h"

static json_object *get(json_object *o, const char *key)
{
	json_object *v = NULL;

	json_object_object_get_ex(o, key, &v);
	return v;
}

static __u64 u64_of(json_object *o, const char *key)
{
	return get(o, key) ? json_object_get_uint64(get(o, key)) : 0;
}

static void str_of(json_object *o, const char *key, char *buf, size_t len)
{
	const char *s = get(o, key) ? json_object_get_string(get(o, key)) : NULL;

	snprintf(buf, len, "%s", s ?: "");
}

/* The most telling enforcer's last action: the balloon's, else the cgroup's, else numa's. */
static void last_action(json_object *enforcers, char *buf, size_t len)
{
	static const char *const order[] = { "balloon", "cgroup", "numa" };

	buf[0] = '\0';
	for (size_t i = 0; i < 3 && !buf[0]; i++) {
		json_object *e = get(enforcers, order[i]);
		char error[128];

		if (!e)
			continue;
		str_of(e, "last_error", error, sizeof(error));
		if (error[0])
			snprintf(buf, len, "%s: ERROR %s", order[i], error);
		else
			str_of(e, "last_action", buf, len);
	}
}

static void parse_vm(json_object *o, struct top_vm *vm)
{
	json_object *obs = get(o, "observer"), *rates = obs ? get(obs, "rates") : NULL;
	json_object *avail = get(o, "availability_pct"), *press = get(o, "pressure_pct");
	int node = get(o, "node") ? json_object_get_int(get(o, "node")) : -1;

	str_of(o, "name", vm->name, sizeof(vm->name));
	str_of(o, "state", vm->state, sizeof(vm->state));
	str_of(o, "reason", vm->reason, sizeof(vm->reason));
	str_of(o, "problem", vm->problem, sizeof(vm->problem));
	last_action(get(o, "enforcers"), vm->action, sizeof(vm->action));
	snprintf(vm->node, sizeof(vm->node), node >= 0 ? "%d" : "any", node);
	vm->startup = u64_of(o, "startup_bytes");
	vm->minimum = u64_of(o, "minimum_bytes");
	vm->maximum = u64_of(o, "maximum_bytes");
	vm->assigned = u64_of(o, "assigned_bytes");
	vm->demand = u64_of(o, "demand_bytes");
	vm->weight = (unsigned int)u64_of(o, "weight");
	vm->buffer_pct = (unsigned int)u64_of(o, "buffer_pct");
	vm->distress = get(o, "under_pressure") && json_object_get_boolean(get(o, "under_pressure"));
	vm->has_availability = avail != NULL;
	vm->availability_pct = avail ? json_object_get_double(avail) : 0;
	vm->pressure_pct = press ? json_object_get_double(press) : 0;
	vm->observed = obs != NULL;
	for (int i = 0; obs && i < DM_NR_COUNTERS; i++) {
		vm->counters[i] = u64_of(obs, counter_names[i]);
		vm->rates[i] = rates && get(rates, counter_names[i]) ?
				       json_object_get_double(get(rates, counter_names[i])) : 0;
	}
}

static void parse_hooks(json_object *hooks, struct top_model *m)
{
	json_object_object_foreach(hooks, name, state)
	{
		bool live = !strcmp(json_object_get_string(state), "raw") ||
			    !strcmp(json_object_get_string(state), "tp");
		char *list = live ? m->hooks_live : m->hooks_missing;
		size_t len = strlen(list);

		snprintf(list + len, 512 - len, "%s%s", len ? " " : "", name);
		live ? m->nr_live++ : m->nr_missing++;
	}
}

int top_model_parse(const char *json, struct top_model *ret, char *err, size_t errlen)
{
	json_object *root = json_tokener_parse(json), *host, *vms, *e = NULL;
	struct top_model m = { 0 };
	int rc = 0;

	if (!root || (e = get(root, "error"))) {
		snprintf(err, errlen, "dynmemd answered: %.200s", e ? json_object_get_string(e) : json);
		rc = -EPROTO;
		goto out;
	}
	host = get(root, "host");
	vms = get(root, "vms");
	if (!host || !vms || !json_object_is_type(vms, json_type_array)) {
		snprintf(err, errlen, "dynmemd's status lacks host or vms");
		rc = -EPROTO;
		goto out;
	}
	m.total = u64_of(host, "total_bytes");
	m.reserve = u64_of(host, "reserve_bytes");
	m.budget = u64_of(host, "budget_bytes");
	m.assigned = u64_of(host, "assigned_bytes");
	m.free = u64_of(host, "free_bytes");
	m.lost_events = u64_of(host, "lost_events");
	m.numa_spanning = get(host, "numa_spanning") &&
			  json_object_get_boolean(get(host, "numa_spanning"));
	m.dry_run = get(host, "dry_run") && json_object_get_boolean(get(host, "dry_run"));
	str_of(host, "alarm", m.alarm, sizeof(m.alarm));
	if (get(host, "hooks"))
		parse_hooks(get(host, "hooks"), &m);
	m.nr_vms = json_object_array_length(vms);
	m.vms = calloc(m.nr_vms ?: 1, sizeof(*m.vms));
	if (!m.vms) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < m.nr_vms; i++)
		parse_vm(json_object_array_get_idx(vms, i), &m.vms[i]);
	*ret = m;
out:
	json_object_put(root);
	return rc;
}

void top_model_free(struct top_model *m)
{
	free(m->vms);
	m->vms = NULL;
	m->nr_vms = 0;
}

enum top_status top_vm_status(const struct top_vm *vm)
{
	/* Distress is Warning even with no availability to compute (demand 0). */
	if (vm->distress)
		return TOP_WARNING;
	if (!vm->has_availability)
		return TOP_OK;
	if (vm->availability_pct < TOP_WARNING_AVAILABILITY_PCT)
		return TOP_WARNING;
	/* Short of its demand, or at its maximum with less than half its buffer to spare. */
	if (vm->availability_pct < 0 ||
	    (vm->assigned >= vm->maximum && vm->availability_pct < vm->buffer_pct / 2.0))
		return TOP_LOW;
	return TOP_OK;
}

const char *top_status_name(enum top_status s)
{
	return s == TOP_WARNING ? "Warning" : s == TOP_LOW ? "Low" : "OK";
}

static __u64 maps(const struct top_vm *vm)
{
	return vm->counters[DM_MAP_4K] + vm->counters[DM_MAP_2M] + vm->counters[DM_MAP_1G];
}

double top_large_share(const struct top_vm *vm)
{
	__u64 all = maps(vm);

	return all ? (double)(vm->counters[DM_MAP_2M] + vm->counters[DM_MAP_1G]) / (double)all : -1;
}

double top_remote_share(const struct top_vm *vm)
{
	__u64 all = maps(vm);

	return all ? (double)vm->counters[DM_MAP_REMOTE] / (double)all : -1;
}
