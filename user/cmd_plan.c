// SPDX-License-Identifier: GPL-2.0-only
/*
 * `dynmem plan FILE [--json]`: the allocator on a scenario, touching nothing. For capacity
 * planning ("what would each VM get on this host?") and for tests. The scenario format is
 * in docs/allocator.md; user/plan_input.c reads it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "verbs.h"
#include "alloc.h"
#include "plan_input.h"
#include "size.h"

static const char plan_usage[] =
	"usage: dynmem plan [--json] FILE\n"
	"  Run the allocator on a scenario, a host and its VMs in JSON, and print what each\n"
	"  VM would get: target, want, availability, pressure and the reason. Nothing is\n"
	"  touched. FILE - reads standard input; docs/allocator.md has the format.\n"
	"  --json   one JSON object instead of the table\n";

struct plan_row {
	const char *name;
	const struct alloc_vm *vm;
	const struct alloc_target *t;
};

/* (target − demand) / demand × 100: how much room the guest has; none without demand. */
static int availability_pct(const struct plan_row *r, double *ret)
{
	if (!r->vm->demand_bytes)
		return -1;
	*ret = ((double)r->t->target_bytes - (double)r->vm->demand_bytes) /
	       (double)r->vm->demand_bytes * 100;
	return 0;
}

/* demand / target × 100: above 100 the guest needs more than it would get. */
static int pressure_pct(const struct plan_row *r, double *ret)
{
	if (!r->t->target_bytes)
		return -1;
	*ret = (double)r->vm->demand_bytes / (double)r->t->target_bytes * 100;
	return 0;
}

static const char *signed_size(char *buf, size_t len, __u64 from, __u64 to)
{
	char s[32];

	if (from == to)
		snprintf(buf, len, "0");
	else
		snprintf(buf, len, "%c%s", to > from ? '+' : '-',
			 size_format(s, sizeof(s), to > from ? to - from : from - to));
	return buf;
}

/* Each number as it will be printed, so that the columns can be sized first. */
struct cells {
	char node[16], demand[32], assigned[32], want[32], target[32], change[40];
	char avail[32], pressure[32];
};

static void row_cells(const struct plan_row *r, struct cells *c)
{
	double pct;

	snprintf(c->node, sizeof(c->node), r->vm->node < 0 ? "-" : "%d", r->vm->node);
	size_format(c->demand, sizeof(c->demand), r->vm->demand_bytes);
	size_format(c->assigned, sizeof(c->assigned), r->vm->assigned_bytes);
	size_format(c->want, sizeof(c->want), r->t->want_bytes);
	size_format(c->target, sizeof(c->target), r->t->target_bytes);
	signed_size(c->change, sizeof(c->change), r->vm->assigned_bytes, r->t->target_bytes);
	if (availability_pct(r, &pct))
		snprintf(c->avail, sizeof(c->avail), "-");
	else
		snprintf(c->avail, sizeof(c->avail), "%+.0f%%", pct);
	if (pressure_pct(r, &pct))
		snprintf(c->pressure, sizeof(c->pressure), "-");
	else
		snprintf(c->pressure, sizeof(c->pressure), "%.0f%%", pct);
}

static int max_int(int a, int b)
{
	return a > b ? a : b;
}

static void print_dropped(__u32 dropped)
{
	const char *sep = "";

	printf("limits given way (to fit the budget; an in-use margin or hysteresis also to a "
	       "heavier VM's need): ");
	for (int r = 0; r < ALLOC_NR_REASONS; r++)
		if (dropped & (1U << r)) {
			printf("%s%s", sep, alloc_reason_name((enum alloc_reason)r));
			sep = ", ";
		}
	printf("\n");
}

static void print_footer(const struct plan_input *in, const struct plan_row *rows,
			 const struct alloc_summary *s)
{
	const struct alloc_host *h = &in->host;
	__u64 unplaced = 0, planned;
	char a[32], b[32], c[32];

	/* The unplaced sit outside every node's budget: not part of what the budget holds. */
	for (size_t i = 0; i < in->nr_vms; i++)
		unplaced += rows[i].t->reason == ALLOC_NO_NODE ? rows[i].t->target_bytes : 0;
	planned = s->total_bytes - unplaced;
	printf("\nbudget %s: %s planned", size_format(a, sizeof(a), h->budget_bytes),
	       size_format(b, sizeof(b), planned));
	if (h->budget_bytes)
		printf(" (%.0f%%)", (double)planned / (double)h->budget_bytes * 100);
	if (unplaced)
		printf(" and %s for VMs with no node", size_format(c, sizeof(c), unplaced));
	printf(", %s wanted; %zu of %zu VMs short of their want, %zu held by a limit\n",
	       size_format(c, sizeof(c), s->want_bytes), s->nr_short, in->nr_vms, s->nr_held);
	for (size_t k = 0; !h->numa_spanning && k < h->nr_nodes; k++)
		printf("node %zu: budget %s, %s planned%s\n", k,
		       size_format(a, sizeof(a), h->node_budget_bytes[k]),
		       size_format(b, sizeof(b), s->node_total_bytes[k]),
		       (s->overcommitted_nodes >> k) & 1 ? ", OVERCOMMITTED" : "");
	if (s->nr_unplaced)
		printf("%zu VM%s with no node (numa_spanning is false, node is -1): at the "
		       "minimum, outside every node's budget\n",
		       s->nr_unplaced, s->nr_unplaced == 1 ? "" : "s");
	if (s->overcommitted)
		printf("OVERCOMMITTED: the minimums alone exceed the budget%s; every VM there "
		       "is at its minimum\n",
		       h->numa_spanning ? "" : " of a node");
	if (s->holds_dropped)
		print_dropped(s->dropped_reasons);
}

static void print_table(const struct plan_input *in, const struct plan_row *rows,
			const struct alloc_summary *s)
{
	struct cells *c = calloc(in->nr_vms + 1, sizeof(*c));
	int w_name = 2, w_num = 6, w_reason = 6;
	bool nodes = !in->host.numa_spanning;

	if (!c) {
		fprintf(stderr, "plan: out of memory\n");
		return;
	}
	for (size_t i = 0; i < in->nr_vms; i++) {
		row_cells(&rows[i], &c[i]);
		w_name = max_int(w_name, (int)strlen(rows[i].name));
		w_reason = max_int(w_reason, (int)strlen(alloc_reason_name(rows[i].t->reason)));
		w_num = max_int(w_num, (int)strlen(c[i].change));
		w_num = max_int(w_num, (int)strlen(c[i].assigned));
	}
	printf("%-*s ", w_name, "VM");
	if (nodes)
		printf("%4s ", "NODE");
	printf("%*s %*s %*s %*s %*s %6s %8s  %s\n", w_num, "DEMAND", w_num + 2, "ASSIGNED", w_num,
	       "WANT", w_num, "TARGET", w_num, "CHANGE", "AVAIL", "PRESSURE", "REASON");
	for (size_t i = 0; i < in->nr_vms; i++) {
		printf("%-*s ", w_name, rows[i].name);
		if (nodes)
			printf("%4s ", c[i].node);
		printf("%*s %*s %*s %*s %*s %6s %8s  %s\n", w_num, c[i].demand, w_num + 2,
		       c[i].assigned, w_num, c[i].want, w_num, c[i].target, w_num, c[i].change,
		       c[i].avail, c[i].pressure, alloc_reason_name(rows[i].t->reason));
	}
	free(c);
	print_footer(in, rows, s);
}

/* One decimal, written as such: json-c would print 33.299999999999997. */
static json_object *pct_json(double pct)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%.1f", pct);
	return json_object_new_double_s(strtod(buf, NULL), buf);
}

static json_object *row_json(const struct plan_row *r)
{
	json_object *o = json_object_new_object();
	double pct;

	json_object_object_add(o, "name", json_object_new_string(r->name));
	json_object_object_add(o, "node", json_object_new_int(r->vm->node));
	json_object_object_add(o, "minimum_bytes", json_object_new_uint64(r->vm->minimum_bytes));
	json_object_object_add(o, "maximum_bytes", json_object_new_uint64(r->vm->maximum_bytes));
	json_object_object_add(o, "demand_bytes", json_object_new_uint64(r->vm->demand_bytes));
	json_object_object_add(o, "assigned_bytes", json_object_new_uint64(r->vm->assigned_bytes));
	json_object_object_add(o, "want_bytes", json_object_new_uint64(r->t->want_bytes));
	json_object_object_add(o, "target_bytes", json_object_new_uint64(r->t->target_bytes));
	json_object_object_add(o, "availability_pct",
			       availability_pct(r, &pct) ? NULL : pct_json(pct));
	json_object_object_add(o, "pressure_pct", pressure_pct(r, &pct) ? NULL : pct_json(pct));
	json_object_object_add(o, "reason",
			       json_object_new_string(alloc_reason_name(r->t->reason)));
	return o;
}

static json_object *summary_json(const struct plan_input *in, const struct alloc_summary *s)
{
	const struct alloc_host *h = &in->host;
	json_object *o = json_object_new_object(), *dropped = json_object_new_array();

	json_object_object_add(o, "budget_bytes", json_object_new_uint64(h->budget_bytes));
	json_object_object_add(o, "numa_spanning", json_object_new_boolean(h->numa_spanning));
	json_object_object_add(o, "total_bytes", json_object_new_uint64(s->total_bytes));
	json_object_object_add(o, "want_bytes", json_object_new_uint64(s->want_bytes));
	json_object_object_add(o, "overcommitted", json_object_new_boolean(s->overcommitted));
	json_object_object_add(o, "holds_dropped", json_object_new_boolean(s->holds_dropped));
	for (int r = 0; r < ALLOC_NR_REASONS; r++)
		if (s->dropped_reasons & (1U << r))
			json_object_array_add(dropped, json_object_new_string(alloc_reason_name(
							       (enum alloc_reason)r)));
	json_object_object_add(o, "dropped_limits", dropped);
	json_object_object_add(o, "nr_short", json_object_new_uint64(s->nr_short));
	json_object_object_add(o, "nr_held", json_object_new_uint64(s->nr_held));
	json_object_object_add(o, "nr_unplaced", json_object_new_uint64(s->nr_unplaced));
	if (!h->numa_spanning) {
		json_object *nodes = json_object_new_array();

		for (size_t k = 0; k < h->nr_nodes; k++) {
			json_object *n = json_object_new_object();

			json_object_object_add(n, "node", json_object_new_uint64(k));
			json_object_object_add(n, "budget_bytes",
					       json_object_new_uint64(h->node_budget_bytes[k]));
			json_object_object_add(n, "total_bytes",
					       json_object_new_uint64(s->node_total_bytes[k]));
			json_object_object_add(
				n, "overcommitted",
				json_object_new_boolean((s->overcommitted_nodes >> k) & 1));
			json_object_array_add(nodes, n);
		}
		json_object_object_add(o, "nodes", nodes);
	}
	return o;
}

static void print_json(const struct plan_input *in, const struct plan_row *rows,
		       const struct alloc_summary *s)
{
	json_object *o = summary_json(in, s), *vms = json_object_new_array();

	for (size_t i = 0; i < in->nr_vms; i++)
		json_object_array_add(vms, row_json(&rows[i]));
	json_object_object_add(o, "vms", vms);
	printf("%s\n",
	       json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
							 JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
}

/* argv[0] is "plan". Returns 0, 1 when --help was asked for, -EINVAL with a message. */
static int parse_args(int argc, char **argv, const char **ret_path, bool *ret_json)
{
	const char *path = NULL;
	bool json = false;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return 1;
		if (!strcmp(argv[i], "--json")) {
			json = true;
		} else if (argv[i][0] == '-' && argv[i][1]) {
			fprintf(stderr, "plan: unknown option '%s'\n\n%s", argv[i], plan_usage);
			return -EINVAL;
		} else if (path) {
			fprintf(stderr, "plan: one scenario at a time ('%s' and '%s')\n\n%s", path,
				argv[i], plan_usage);
			return -EINVAL;
		} else {
			path = argv[i];
		}
	}
	if (!path) {
		fprintf(stderr,
			"plan: which scenario? give a JSON file, or - for standard "
			"input\n\n%s",
			plan_usage);
		return -EINVAL;
	}
	*ret_path = path;
	*ret_json = json;
	return 0;
}

int cmd_plan(int argc, char **argv)
{
	struct plan_input in = { 0 };
	struct alloc_target *t = NULL;
	struct plan_row *rows = NULL;
	struct alloc_summary s;
	const char *path = NULL;
	bool json = false;
	char err[512];
	int rc;

	rc = parse_args(argc, argv, &path, &json);
	if (rc) {
		if (rc > 0)
			fputs(plan_usage, stdout);
		return rc > 0 ? 0 : 2;
	}
	rc = plan_input_load(path, &in, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "plan: %s\n", err);
		return rc == -ENOMEM ? 1 : 2;
	}
	t = calloc(in.nr_vms + 1, sizeof(*t));
	rows = calloc(in.nr_vms + 1, sizeof(*rows));
	rc = t && rows ? alloc_plan(&in.host, in.vms, in.nr_vms, t, &s) : -ENOMEM;
	if (rc) {
		/* plan_input checked every range the allocator does: this is a bug. */
		fprintf(stderr, "plan: the allocator refused the scenario: %s\n", strerror(-rc));
		rc = 1;
		goto out;
	}
	for (size_t i = 0; i < in.nr_vms; i++)
		rows[i] = (struct plan_row){ in.names[i], &in.vms[i], &t[i] };
	if (json)
		print_json(&in, rows, &s);
	else
		print_table(&in, rows, &s);
out:
	free(rows);
	free(t);
	plan_input_free(&in);
	return rc;
}
