// SPDX-License-Identifier: GPL-2.0-only
/*
 * Unit tests for user/plan_input.c: `dynmem plan` scenarios, on the fixture files of
 * tests/fixtures/plan/ (good ones checked field by field, bad ones by the message they
 * give) and on a few strings. The good fixtures are also planned, as `dynmem plan` would.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include "fixture.h"
#include "plan_input.h"

#define MiB (1ULL << 20)
#define GiB (1ULL << 30)
#define SEC 1000000000ULL

static char fixtures[PATH_MAX];
static char err[512];

/*
 * The fixtures live in the source tree: $DYNMEM_FIXTURES/plan, ./tests/fixtures/plan when
 * run from the top directory (make), else found from the binary's place in .output/tests/.
 */
static int find_fixtures(void **state)
{
	(void)state;
	return fixture_dir("test_plan_input", "plan", fixtures, sizeof(fixtures));
}

static int load(const char *name, struct plan_input *in)
{
	char path[PATH_MAX + 64];

	snprintf(path, sizeof(path), "%s/%s", fixtures, name);
	memset(err, 0, sizeof(err));
	return plan_input_load(path, in, err, sizeof(err));
}

static void load_ok(const char *name, struct plan_input *in)
{
	int rc = load(name, in);

	if (rc)
		fail_msg("%s: %d, \"%s\"", name, rc, err);
}

static int find_vm(const struct plan_input *in, const char *name)
{
	for (size_t i = 0; i < in->nr_vms; i++)
		if (!strcmp(in->names[i], name))
			return (int)i;
	fail_msg("no VM \"%s\"", name);
	return -1;
}

static void basic(void **state)
{
	struct plan_input in;
	const struct alloc_vm *web, *db, *batch;

	(void)state;
	load_ok("basic.json", &in);
	assert_int_equal(in.nr_vms, 3);
	assert_int_equal(in.host.budget_bytes, 12 * GiB);
	assert_true(in.host.numa_spanning);
	assert_int_equal(in.host.now_ns, 100 * SEC);
	assert_int_equal(in.host.shrink_interval_ns, 5 * SEC);
	assert_int_equal(in.host.shrink_step_pct, 10);
	assert_int_equal(in.host.hysteresis_pct, 5);
	web = &in.vms[find_vm(&in, "web")];
	assert_int_equal(web->minimum_bytes, 1 * GiB);
	assert_int_equal(web->maximum_bytes, 8 * GiB);
	assert_int_equal(web->buffer_pct, 20);
	assert_int_equal(web->weight, 5000);
	assert_int_equal(web->demand_bytes, 3 * GiB);
	assert_int_equal(web->assigned_bytes, 2 * GiB);
	assert_int_equal(web->node, -1);
	assert_false(web->pressure);
	assert_int_equal(web->last_shrink_ns, 0);
	assert_int_equal(web->granule_bytes, 4096);
	/* minimum and assigned default to startup */
	db = &in.vms[find_vm(&in, "db")];
	assert_int_equal(db->minimum_bytes, 4 * GiB);
	assert_int_equal(db->assigned_bytes, 4 * GiB);
	assert_int_equal(db->granule_bytes, 2 * MiB);
	assert_int_equal(db->weight, 9000);
	/* a size as a plain number of bytes; seconds with a fraction */
	batch = &in.vms[find_vm(&in, "batch")];
	assert_int_equal(batch->minimum_bytes, 1 * GiB);
	assert_int_equal(batch->buffer_pct, 5);
	assert_int_equal(batch->last_shrink_ns, 98500000000ULL);
	assert_string_equal(in.names[0], "web");
	plan_input_free(&in);
}

static void defaults(void **state)
{
	struct plan_input in;
	const struct alloc_vm *s, *m;

	(void)state;
	load_ok("defaults.json", &in);
	assert_int_equal(in.host.shrink_interval_ns, 5 * SEC);
	assert_int_equal(in.host.shrink_step_pct, 10);
	assert_int_equal(in.host.hysteresis_pct, 5);
	assert_int_equal(in.host.now_ns, 0);
	assert_true(in.host.numa_spanning);
	s = &in.vms[find_vm(&in, "only-startup")];
	assert_int_equal(s->minimum_bytes, 2 * GiB);
	assert_int_equal(s->assigned_bytes, 2 * GiB);
	assert_int_equal(s->buffer_pct, 20);
	assert_int_equal(s->weight, 5000);
	assert_int_equal(s->node, -1);
	assert_int_equal(s->granule_bytes, 0); /* the allocator's default: 4K */
	m = &in.vms[find_vm(&in, "only-minimum")];
	assert_int_equal(m->assigned_bytes, 512 * MiB); /* no startup: the minimum */
	assert_int_equal(m->demand_bytes, 0);
	plan_input_free(&in);
}

static void numa(void **state)
{
	struct plan_input in;

	(void)state;
	load_ok("numa.json", &in);
	assert_false(in.host.numa_spanning);
	assert_int_equal(in.host.nr_nodes, 2);
	assert_int_equal(in.host.node_budget_bytes[0], 6 * GiB);
	assert_int_equal(in.host.node_budget_bytes[1], 3 * GiB);
	assert_int_equal(in.host.budget_bytes, 9 * GiB); /* no budget: the nodes' */
	assert_int_equal(in.vms[find_vm(&in, "c")].node, 1);
	assert_int_equal(in.vms[find_vm(&in, "lost")].node, -1);
	plan_input_free(&in);
}

static void empty(void **state)
{
	struct plan_input in;

	(void)state;
	load_ok("empty.json", &in);
	assert_int_equal(in.nr_vms, 0);
	assert_int_equal(in.host.budget_bytes, 0);
	plan_input_free(&in);
}

/* Each good fixture goes through the allocator, as `dynmem plan` does with it. */
static void good_fixtures_plan(void **state)
{
	static const char *const good[] = {
		"basic.json", "defaults.json", "numa.json", "empty.json", "off-granule.json",
	};
	struct alloc_target t[16];
	struct alloc_summary s;
	struct plan_input in;

	(void)state;
	for (size_t f = 0; f < sizeof(good) / sizeof(good[0]); f++) {
		load_ok(good[f], &in);
		assert_true(in.nr_vms <= 16);
		assert_int_equal(alloc_plan(&in.host, in.vms, in.nr_vms, t, &s), 0);
		plan_input_free(&in);
	}
	load_ok("numa.json", &in);
	assert_int_equal(alloc_plan(&in.host, in.vms, in.nr_vms, t, &s), 0);
	assert_int_equal(s.nr_unplaced, 1);
	assert_int_equal(t[find_vm(&in, "lost")].reason, ALLOC_NO_NODE);
	/* node 0: 6G between a (5000) and b (1000), both wanting 3.6G */
	assert_true(t[find_vm(&in, "a")].target_bytes > t[find_vm(&in, "b")].target_bytes);
	assert_true(s.node_total_bytes[0] <= 6 * GiB);
	assert_true(s.node_total_bytes[1] <= 3 * GiB);
	plan_input_free(&in);
	/*
	 * Two guests on 2M pages that use all they have, 11G and 1M each (a balloon's size, no
	 * whole number of pages), short of their demands: the budget holds, and the lighter one
	 * gives first. The allocator once kept both in-use floors: 24G planned on 19.5G.
	 */
	load_ok("off-granule.json", &in);
	assert_int_equal(alloc_plan(&in.host, in.vms, in.nr_vms, t, &s), 0);
	assert_int_equal(s.total_bytes, in.host.budget_bytes);
	assert_int_equal(t[find_vm(&in, "heavy")].target_bytes, 10 * GiB);
	assert_int_equal(t[find_vm(&in, "light")].target_bytes, 9 * GiB + 512 * MiB);
	plan_input_free(&in);
}

struct bad_case {
	const char *file;
	const char *message; /* must appear in the error */
};

static const struct bad_case bad_cases[] = {
	{ "bad-weight.json", "vms[2] \"db\": weight 12000 is outside 0..10000" },
	{ "bad-size.json", "vms[0] \"web\": maximum \"8X\" is not a size" },
	{ "bad-syntax.json", "bad-syntax.json: line 4, column" },
	{ "bad-truncated.json", "the JSON ends early" },
	{ "bad-unknown-key.json", "vms[1] \"api\": unknown key \"weigth\" (known: name," },
	{ "bad-host-key.json", "host: unknown key \"reserve\"" },
	{ "bad-min-above-max.json", "vms[0] \"web\": minimum 8G is above maximum 4G" },
	{ "bad-node.json", "vms[0] \"web\": node 2 is outside -1..1" },
	{ "bad-missing-name.json", "vms[1]: name is missing" },
	{ "bad-duplicate-name.json", "vms[2] \"web\": name already used by vms[0]" },
	{ "bad-type.json", "vms[0] \"web\": weight is a string; give a whole number in 0..10000" },
	{ "bad-no-budget.json", "host: budget is missing" },
	{ "bad-no-nodes.json", "host: numa_spanning is false: give the budget of each node" },
	{ "bad-buffer.json", "vms[0] \"web\": buffer 3 is outside 5..2000" },
	{ "bad-negative.json", "vms[0] \"web\": demand -1 is not a size" },
	{ "bad-granule.json", "vms[0] \"web\": granule 3M is not a page size" },
	{ "bad-last-shrink.json", "last_shrink_s 200.000 is after host.now_s 100.000" },
	{ "bad-startup.json", "vms[0] \"web\": startup 16G is outside minimum..maximum (1G..8G)" },
	{ "bad-top.json", "the scenario is an array" },
	{ "bad-trailing.json", "line 2, column 1: more text after the scenario" },
	{ "bad-step.json", "host: shrink_step_pct 0 is outside 1..100" },
};

static void bad_fixtures(void **state)
{
	struct plan_input in, before;

	(void)state;
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		int rc;

		memset(&in, 0x5a, sizeof(in));
		before = in;
		rc = load(bad_cases[i].file, &in);
		if (rc != -EINVAL)
			fail_msg("%s: %d, want -EINVAL (\"%s\")", bad_cases[i].file, rc, err);
		if (!strstr(err, bad_cases[i].message))
			fail_msg("%s: \"%s\" does not say \"%s\"", bad_cases[i].file, err,
				 bad_cases[i].message);
		/* Nothing written on failure. */
		assert_memory_equal(&in, &before, sizeof(in));
	}
}

static void missing_file(void **state)
{
	struct plan_input in;

	(void)state;
	assert_int_equal(load("no-such-scenario.json", &in), -ENOENT);
	assert_non_null(strstr(err, "cannot open"));
	assert_non_null(strstr(err, "no-such-scenario.json"));
}

static int parse(const char *json, struct plan_input *in)
{
	memset(err, 0, sizeof(err));
	return plan_input_parse(json, strlen(json), in, err, sizeof(err));
}

static void refused(const char *json, const char *message)
{
	struct plan_input in;
	int rc = parse(json, &in);

	if (rc != -EINVAL)
		fail_msg("%d for %s", rc, json);
	if (!strstr(err, message))
		fail_msg("\"%s\" does not say \"%s\"", err, message);
}

#define HOST "\"host\": { \"budget\": \"12G\" }, "

static void strings(void **state)
{
	struct plan_input in;

	(void)state;
	/* sizes: suffixes, fractions, numbers, whole doubles */
	assert_int_equal(parse("{" HOST "\"vms\": [ { \"name\": \"x\", \"minimum\": \"1.5G\", "
			       "\"maximum\": 8589934592, \"demand\": 1e9 } ] }",
			       &in),
			 0);
	assert_int_equal(in.vms[0].minimum_bytes, 3 * GiB / 2);
	assert_int_equal(in.vms[0].maximum_bytes, 8 * GiB);
	assert_int_equal(in.vms[0].demand_bytes, 1000000000);
	plan_input_free(&in);
	refused("{" HOST "\"vms\": [ { \"name\": \"x\", \"minimum\": 1.5, \"maximum\": \"8G\", "
		"\"demand\": 0 } ] }",
		"minimum 1.5 is not a size: give whole bytes");
	refused("{" HOST "\"vms\": [ { \"name\": \"\", \"minimum\": 0, \"maximum\": 0, "
		"\"demand\": 0 } ] }",
		"vms[0]: name must be 1..63 bytes");
	refused("{" HOST "\"vms\": [ { \"name\": \"x\", \"maximum\": 0, \"demand\": 0 } ] }",
		"vms[0] \"x\": minimum is missing");
	refused("{" HOST "\"vms\": [ { \"name\": \"x\", \"minimum\": 0, \"demand\": 0 } ] }",
		"vms[0] \"x\": maximum is missing");
	refused("{" HOST "\"vms\": [ { \"name\": \"x\", \"minimum\": 0, \"maximum\": 0 } ] }",
		"vms[0] \"x\": demand is missing");
	refused("{" HOST "\"vms\": [ { \"name\": \"x\", \"minimum\": 0, \"maximum\": 0, "
		"\"demand\": 0, \"pressure\": 1 } ] }",
		"pressure is a number; give true or false");
	refused("{" HOST "\"vms\": [ { \"name\": \"x\", \"minimum\": 0, \"maximum\": 0, "
		"\"demand\": 0, \"node\": 1 } ] }",
		"the host lists no nodes");
	refused("{" HOST "\"vms\": [ { \"name\": \"x\", \"minimum\": 0, \"maximum\": 0, "
		"\"demand\": 0, \"weight\": 50.5 } ] }",
		"weight is not a whole number");
	refused("{" HOST "\"vms\": [ 7 ] }", "vms[0]: is a number");
	refused("{" HOST "\"vms\": {} }", "\"vms\" is an object; give an array");
	refused("{ \"vms\": [] }", "\"host\" is missing");
	refused("{ \"host\": { \"budget\": \"1G\" } }", "\"vms\" is missing");
	refused("{ \"host\": { \"budget\": \"99999999T\" }, \"vms\": [] }",
		"budget \"99999999T\" is too large");
	refused("{ \"host\": { \"budget\": \"1G\", \"now_s\": -1 }, \"vms\": [] }",
		"host: now_s -1 is outside 0..");
	refused("{ \"host\": { \"numa_spanning\": false, \"nodes\": [] }, \"vms\": [] }",
		"host: nodes has 0 entries");
	refused("{ \"host\": { \"numa_spanning\": false, \"nodes\": [\"1G\", \"x\"] }, "
		"\"vms\": [] }",
		"host: nodes[1] \"x\" is not a size");
	refused("", "the JSON ends early");
	refused("{ \"host\": ", "line 1, column 11: the JSON ends early");
}

/* n VMs named vm0, vm1, ...; the last one named vm<dup> if dup < n. Caller frees. */
static char *many_json(size_t n, size_t dup, size_t *ret_len)
{
	size_t cap = n * 96 + 64, len = 0;
	char *json = malloc(cap);

	assert_non_null(json);
	len += (size_t)snprintf(json + len, cap - len, "{" HOST "\"vms\": [");
	for (size_t i = 0; i < n; i++) {
		size_t name = i == n - 1 && dup < n ? dup : i;

		len += (size_t)snprintf(json + len, cap - len,
					"%s{\"name\":\"vm%zu\",\"minimum\":\"1G\","
					"\"maximum\":\"4G\",\"demand\":\"2G\"}",
					i ? "," : "", name);
	}
	len += (size_t)snprintf(json + len, cap - len, "]}");
	assert_true(len < cap);
	*ret_len = len;
	return json;
}

/* Many VMs: the names are compared sorted, not pair by pair. */
static void many_vms(void **state)
{
	struct plan_input in;
	size_t len;
	char *json;

	(void)state;
	json = many_json(20000, SIZE_MAX, &len);
	assert_int_equal(plan_input_parse(json, len, &in, err, sizeof(err)), 0);
	assert_int_equal(in.nr_vms, 20000);
	assert_string_equal(in.names[19999], "vm19999");
	plan_input_free(&in);
	free(json);
	json = many_json(20000, 7, &len);
	assert_int_equal(plan_input_parse(json, len, &in, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "vms[19999] \"vm7\": name already used by vms[7]");
	free(json);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(basic),
		cmocka_unit_test(defaults),
		cmocka_unit_test(numa),
		cmocka_unit_test(empty),
		cmocka_unit_test(good_fixtures_plan),
		cmocka_unit_test(bad_fixtures),
		cmocka_unit_test(missing_file),
		cmocka_unit_test(strings),
		cmocka_unit_test(many_vms),
	};

	return cmocka_run_group_tests_name("plan_input", tests, find_fixtures, NULL);
}
