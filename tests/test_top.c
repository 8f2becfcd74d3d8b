// SPDX-License-Identifier: GPL-2.0-only
/*
 * `dynmem top` without a terminal: the daemon's status JSON (tests/fixtures/top/status.json,
 * shaped like user/status.c's output) into a model (top_model_parse), the memory status
 * thresholds, and the frame top_render() draws for a width, a sort order and a selection.
 *
 * The fixture's VMs:
 *   web    short of memory: assigned 2G, demand 2G+128M, availability -5.9 %   -> Low
 *   db     in distress (swapping) with a third to spare                       -> Warning
 *   batch  at its 4G maximum, 5.3 % to spare of a 20 % buffer                 -> Low
 *   idle   healthy (+100 %), and the observer does not watch it               -> OK
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cmocka.h>
#include "counters.h"
#include "top_model.h"

#define MiB (1ULL << 20)
#define GiB (1ULL << 30)

static char fixtures[PATH_MAX];
static struct top_model model; /* the fixture, parsed once for the group */

/*
 * The fixtures live in the source tree: $DYNMEM_FIXTURES, ./tests/fixtures when run from the
 * top directory (make), else found from the binary's place in .output/tests/.
 */
static int find_fixtures(void)
{
	const char *env = getenv("DYNMEM_FIXTURES");
	char exe[PATH_MAX];
	struct stat st;
	ssize_t n;

	if (env) {
		snprintf(fixtures, sizeof(fixtures), "%s/top", env);
	} else if (!stat("tests/fixtures/top", &st)) {
		snprintf(fixtures, sizeof(fixtures), "tests/fixtures/top");
	} else {
		n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
		if (n < 0)
			return -1;
		exe[n] = '\0';
		*strrchr(exe, '/') = '\0';
		if (snprintf(fixtures, sizeof(fixtures), "%s/../../tests/fixtures/top", exe) >=
		    (int)sizeof(fixtures))
			return -1;
	}
	if (stat(fixtures, &st) || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "test_top: no fixtures at %s (set DYNMEM_FIXTURES)\n", fixtures);
		return -1;
	}
	return 0;
}

static char *slurp(const char *name)
{
	char path[PATH_MAX + 64];
	char *text = NULL;
	size_t len = 0;
	FILE *f, *mem;
	int c;

	snprintf(path, sizeof(path), "%s/%s", fixtures, name);
	f = fopen(path, "r");
	if (!f)
		return NULL;
	mem = open_memstream(&text, &len);
	while ((c = fgetc(f)) != EOF)
		fputc(c, mem);
	fclose(mem);
	fclose(f);
	return text;
}

static int parse_fixture(void **state)
{
	char err[512] = "";
	char *json;
	int rc;

	(void)state;
	if (find_fixtures())
		return -1;
	json = slurp("status.json");
	if (!json)
		return -1;
	rc = top_model_parse(json, &model, err, sizeof(err));
	free(json);
	if (rc)
		fprintf(stderr, "test_top: status.json: %d %s\n", rc, err);
	return rc;
}

static int free_fixture(void **state)
{
	(void)state;
	top_model_free(&model);
	return 0;
}

static const struct top_vm *vm_named(const struct top_model *m, const char *name)
{
	for (size_t i = 0; i < m->nr_vms; i++)
		if (!strcmp(m->vms[i].name, name))
			return &m->vms[i];
	fail_msg("no VM %s in the model", name);
	return NULL;
}

static void render(const struct top_model *m, const struct top_view *v, int width,
		   struct top_frame *f)
{
	assert_int_equal(top_render(m, v, width, f), 0);
}

/* The column titles: the first line drawn as a header. */
static size_t title_index(const struct top_frame *f)
{
	for (size_t i = 0; i < f->nr_lines; i++)
		if (f->lines[i].attr == TOP_ATTR_HEADER)
			return i;
	fail_msg("no title line in the frame");
	return 0;
}

/* The VM rows follow the title, one per VM, in display order. */
static const struct top_line *row(const struct top_frame *f, const struct top_model *m, size_t i)
{
	size_t t = title_index(f);

	assert_true(i < m->nr_vms);
	assert_true(t + 1 + i < f->nr_lines);
	return &f->lines[t + 1 + i];
}

/* A row starts with its VM's name, padded: the first word is the name. */
static bool row_is(const struct top_line *l, const char *name)
{
	size_t n = strlen(name);

	return !strncmp(l->text, name, n) && l->text[n] == ' ';
}

static const struct top_line *row_named(const struct top_frame *f, const struct top_model *m,
					const char *name)
{
	for (size_t i = 0; i < m->nr_vms; i++)
		if (row_is(row(f, m, i), name))
			return row(f, m, i);
	fail_msg("no row for %s", name);
	return NULL;
}

/* The AVAIL cell of a row: under " AVAIL" (right-aligned in 6) in the title. */
static const char *avail_cell(const struct top_frame *f, const struct top_line *l)
{
	const char *title = f->lines[title_index(f)].text, *at = strstr(title, " AVAIL");
	static char cell[8];

	assert_non_null(at);
	snprintf(cell, sizeof(cell), "%.6s", l->text + (at - title));
	return cell;
}

static bool title_has(const struct top_frame *f, enum top_column c)
{
	return strstr(f->lines[title_index(f)].text, top_column_name(c)) != NULL;
}

/* ---- the model ---- */

static void parse_reads_the_host(void **state)
{
	(void)state;
	assert_int_equal(model.total, 64 * GiB);
	assert_int_equal(model.reserve, 2 * GiB);
	assert_int_equal(model.budget, 64 * GiB - 2 * GiB - 512 * MiB);
	assert_int_equal(model.assigned, 19 * GiB);
	assert_int_equal(model.free, model.budget - 19 * GiB);
	assert_true(model.numa_spanning);
	assert_false(model.dry_run);
	assert_string_equal(model.alarm, "");
	assert_int_equal(model.lost_events, 3);
	/* "raw" and "tp" are live; "missing" is not, and is named. */
	assert_int_equal(model.nr_live, 8);
	assert_int_equal(model.nr_missing, 1);
	assert_string_equal(model.hooks_missing, "kvm_try_async_get_page");
	assert_non_null(strstr(model.hooks_live, "kvm_mmu_set_spte"));
	assert_null(strstr(model.hooks_live, "kvm_try_async_get_page"));
}

static void parse_reads_every_vm_in_order(void **state)
{
	static const char *const names[] = { "web", "db", "batch", "idle" };
	const struct top_vm *web, *db;

	(void)state;
	assert_int_equal(model.nr_vms, 4);
	for (size_t i = 0; i < 4; i++)
		assert_string_equal(model.vms[i].name, names[i]);

	web = vm_named(&model, "web");
	assert_string_equal(web->state, "running");
	assert_string_equal(web->reason, "capped");
	assert_string_equal(web->node, "any"); /* -1: spanning */
	assert_int_equal(web->startup, 2 * GiB);
	assert_int_equal(web->minimum, 1 * GiB);
	assert_int_equal(web->maximum, 8 * GiB);
	assert_int_equal(web->assigned, 2 * GiB);
	assert_int_equal(web->demand, 2 * GiB + 128 * MiB);
	assert_int_equal(web->weight, 8000);
	assert_int_equal(web->buffer_pct, 25);
	assert_true(web->has_availability);
	assert_true(web->availability_pct < -5.88 && web->availability_pct > -5.89);
	assert_true(web->pressure_pct == 106.25);
	assert_false(web->distress);
	assert_true(web->observed);
	assert_int_equal(web->counters[DM_MAP_2M], 3000);
	assert_int_equal(web->counters[DM_HOST_FAULTS], 52000);
	assert_true(web->rates[DM_EPT_FAULTS] == 15000);
	/* The balloon's action is the most telling one, ahead of the cgroup's. */
	assert_string_equal(web->action, "balloon=2G");

	db = vm_named(&model, "db");
	assert_string_equal(db->node, "1");
	assert_true(db->distress);
	/* An enforcer's error wins over its last action. */
	assert_string_equal(db->action, "cgroup: ERROR write memory.high: Device or resource busy");
}

static void parse_vm_without_observer(void **state)
{
	const struct top_vm *idle = vm_named(&model, "idle");

	(void)state;
	assert_false(idle->observed);
	for (int i = 0; i < DM_NR_COUNTERS; i++) {
		assert_int_equal(idle->counters[i], 0);
		assert_true(idle->rates[i] == 0);
	}
	assert_string_equal(idle->action, "memory.high=1.2G memory.min=512M");
}

/* Demand 0: status.c writes availability_pct as null, and that is not 0 %. */
static void parse_null_availability(void **state)
{
	static const char json[] =
		"{\"host\":{\"total_bytes\":1073741824},"
		"\"vms\":[{\"name\":\"new\",\"state\":\"running\","
		"\"assigned_bytes\":0,\"demand_bytes\":0,\"under_pressure\":false,"
		"\"availability_pct\":null,\"pressure_pct\":null,\"node\":-1,\"observer\":null,"
		"\"enforcers\":{}}]}";
	struct top_frame f = { 0 };
	struct top_view v = { .sort = TOP_COL_NAME, .selected = -1 };
	struct top_model m;
	char err[256];

	(void)state;
	assert_int_equal(top_model_parse(json, &m, err, sizeof(err)), 0);
	assert_int_equal(m.nr_vms, 1);
	assert_false(m.vms[0].has_availability);
	assert_false(m.vms[0].observed);
	assert_string_equal(m.vms[0].action, "");
	assert_int_equal(top_vm_status(&m.vms[0]), TOP_OK);
	render(&m, &v, 160, &f);
	assert_string_equal(avail_cell(&f, row(&f, &m, 0)), "     -");
	assert_int_equal(row(&f, &m, 0)->red_from, -1);
	top_frame_free(&f);
	top_model_free(&m);
}

static void parse_errors_are_eproto(void **state)
{
	struct top_model m = { .nr_vms = 12345 };
	char err[256];

	(void)state;
	err[0] = '\0';
	assert_int_equal(
		top_model_parse("{\"error\":\"unknown command: statsu\"}", &m, err, sizeof(err)),
		-EPROTO);
	assert_non_null(strstr(err, "unknown command: statsu"));

	err[0] = '\0';
	assert_int_equal(top_model_parse("<html>502 Bad Gateway</html>", &m, err, sizeof(err)),
			 -EPROTO);
	assert_true(strlen(err) > 0);

	err[0] = '\0';
	assert_int_equal(top_model_parse("{\"host\":{}}", &m, err, sizeof(err)), -EPROTO);
	assert_non_null(strstr(err, "lacks host or vms"));

	err[0] = '\0';
	assert_int_equal(top_model_parse("{\"host\":{},\"vms\":{}}", &m, err, sizeof(err)),
			 -EPROTO);
	assert_non_null(strstr(err, "lacks host or vms"));

	/* Nothing was handed back: a live view keeps its last good model. */
	assert_int_equal(m.nr_vms, 12345);
}

/* ---- memory status ---- */

static void status_of_the_fixture(void **state)
{
	(void)state;
	assert_int_equal(top_vm_status(vm_named(&model, "web")), TOP_LOW);
	assert_int_equal(top_vm_status(vm_named(&model, "db")), TOP_WARNING);
	assert_int_equal(top_vm_status(vm_named(&model, "batch")), TOP_LOW);
	assert_int_equal(top_vm_status(vm_named(&model, "idle")), TOP_OK);
	assert_string_equal(top_status_name(TOP_OK), "OK");
	assert_string_equal(top_status_name(TOP_LOW), "Low");
	assert_string_equal(top_status_name(TOP_WARNING), "Warning");
}

static struct top_vm vm_at(double availability_pct)
{
	return (struct top_vm){ .has_availability = true,
				.availability_pct = availability_pct,
				.assigned = 2 * GiB,
				.maximum = 8 * GiB,
				.buffer_pct = 20 };
}

static void status_thresholds(void **state)
{
	struct top_vm vm;

	(void)state;
	/* Warning below -10 %; exactly -10 % is still only Low. */
	vm = vm_at(-10.0);
	assert_int_equal(top_vm_status(&vm), TOP_LOW);
	vm = vm_at(-10.001);
	assert_int_equal(top_vm_status(&vm), TOP_WARNING);
	/* Low below 0; exactly 0 (assigned == demand) is OK below the maximum. */
	vm = vm_at(0.0);
	assert_int_equal(top_vm_status(&vm), TOP_OK);
	vm = vm_at(-0.001);
	assert_int_equal(top_vm_status(&vm), TOP_LOW);
	/* Below the maximum, a thin margin is fine: it can still grow. */
	vm = vm_at(1.0);
	assert_int_equal(top_vm_status(&vm), TOP_OK);
	/* Distress is Warning however much it has. */
	vm = vm_at(500.0);
	vm.distress = true;
	assert_int_equal(top_vm_status(&vm), TOP_WARNING);
}

static void status_at_maximum_wants_half_its_buffer(void **state)
{
	struct top_vm vm = vm_at(10.0);

	(void)state;
	vm.assigned = vm.maximum;
	/* Buffer 20 %: half of it, 10 %, is enough; anything less is Low. */
	assert_int_equal(top_vm_status(&vm), TOP_OK);
	vm.availability_pct = 9.999;
	assert_int_equal(top_vm_status(&vm), TOP_LOW);
	/* An odd buffer halves to a fraction, not rounded down: 25 % wants 12.5 %. */
	vm.buffer_pct = 25;
	vm.availability_pct = 12.4;
	assert_int_equal(top_vm_status(&vm), TOP_LOW);
	vm.availability_pct = 12.5;
	assert_int_equal(top_vm_status(&vm), TOP_OK);
	/* Assigned above the maximum (it was just lowered) counts as at it. */
	vm.assigned = vm.maximum + GiB;
	vm.availability_pct = 1.0;
	assert_int_equal(top_vm_status(&vm), TOP_LOW);
}

/*
 * Demand 0 has no availability: OK, unless the guest says it is in distress, which
 * docs/top.md checks first ("whatever its availability").
 */
static void status_without_availability(void **state)
{
	struct top_vm vm = { .assigned = GiB, .maximum = GiB, .buffer_pct = 20 };

	(void)state;
	assert_int_equal(top_vm_status(&vm), TOP_OK);
	vm.distress = true;
	assert_int_equal(top_vm_status(&vm), TOP_WARNING);
}

static void large_and_remote_shares(void **state)
{
	struct top_vm vm = { 0 };

	(void)state;
	/* web: 1000 4K, 3000 2M, 400 of the 4000 remote */
	assert_true(top_large_share(vm_named(&model, "web")) == 0.75);
	assert_true(top_remote_share(vm_named(&model, "web")) == 0.1);
	/* batch is observed but mapped nothing since; idle is not observed: no share at all. */
	assert_true(top_large_share(vm_named(&model, "batch")) == -1);
	assert_true(top_remote_share(vm_named(&model, "batch")) == -1);
	assert_true(top_large_share(vm_named(&model, "idle")) == -1);
	assert_true(top_remote_share(vm_named(&model, "idle")) == -1);
	/* 1G mappings are large too. */
	vm.counters[DM_MAP_4K] = 1;
	vm.counters[DM_MAP_1G] = 3;
	assert_true(top_large_share(&vm) == 0.75);
	assert_true(top_remote_share(&vm) == 0);
}

/* ---- the frame ---- */

static void header_shows_host_numbers(void **state)
{
	struct top_view v = { .sort = TOP_COL_NAME, .selected = -1 };
	struct top_frame f = { 0 };
	struct top_model m = model;

	(void)state;
	render(&model, &v, 160, &f);
	assert_non_null(strstr(f.lines[0].text, "host 64G"));
	assert_non_null(strstr(f.lines[0].text, "reserve 2G"));
	assert_non_null(strstr(f.lines[0].text, "budget 61.5G"));
	assert_non_null(strstr(f.lines[0].text, "assigned 19G"));
	assert_non_null(strstr(f.lines[0].text, "free 42.5G"));
	assert_non_null(strstr(f.lines[0].text, "NUMA spanning on"));
	assert_null(strstr(f.lines[0].text, "dry run"));
	assert_non_null(
		strstr(f.lines[1].text, "8 hooks live, 1 missing (kvm_try_async_get_page)"));
	assert_non_null(strstr(f.lines[1].text, "lost events 3"));
	assert_null(strstr(f.lines[1].text, "ALARM"));

	/* A dry run and an alarm are said on the header, where they cannot be missed. */
	m.dry_run = true;
	m.numa_spanning = false;
	snprintf(m.alarm, sizeof(m.alarm), "the minimums exceed the budget by 2G");
	render(&m, &v, 160, &f);
	assert_non_null(strstr(f.lines[0].text, "NUMA spanning off  [dry run]"));
	assert_non_null(strstr(f.lines[1].text, "ALARM: the minimums exceed the budget by 2G"));
	top_frame_free(&f);
}

static void one_row_per_vm(void **state)
{
	struct top_view v = { .sort = TOP_COL_NAME, .selected = -1 };
	struct top_frame f = { 0 };
	size_t rows = 0, t;
	bool seen[4] = { false };

	(void)state;
	render(&model, &v, 160, &f);
	t = title_index(&f);
	for (size_t i = t + 1; i < f.nr_lines; i++)
		for (size_t k = 0; k < model.nr_vms; k++)
			rows += row_is(&f.lines[i], model.vms[k].name);
	assert_int_equal(rows, model.nr_vms);
	/* order is a permutation of the model's VMs */
	for (size_t i = 0; i < model.nr_vms; i++) {
		assert_true(f.order[i] < model.nr_vms);
		assert_false(seen[f.order[i]]);
		seen[f.order[i]] = true;
	}
	/* The cells say what the model says. */
	assert_non_null(strstr(row_named(&f, &model, "web")->text, " Low "));
	assert_non_null(strstr(row_named(&f, &model, "db")->text, " Warning "));
	assert_non_null(strstr(row_named(&f, &model, "idle")->text, "  +100% "));
	assert_non_null(strstr(row_named(&f, &model, "web")->text, " 75% ")); /* LARGE */
	assert_non_null(strstr(row_named(&f, &model, "db")->text, " 2.5M ")); /* EPT/s */
	assert_non_null(strstr(row_named(&f, &model, "db")->text, "cgroup: ERROR"));
	top_frame_free(&f);
}

/* Renders sorted by col and checks the rows come in the order given. */
static void expect_order(enum top_column col, bool descending, const char *const names[4])
{
	struct top_view v = { .sort = col, .descending = descending, .selected = -1 };
	struct top_frame f = { 0 };
	const char *marked;

	render(&model, &v, 200, &f);
	for (size_t i = 0; i < 4; i++) {
		if (!row_is(row(&f, &model, i), names[i]))
			fail_msg("sort by %s%s: row %zu is \"%.20s\", want %s",
				 top_column_name(col), descending ? " descending" : "", i,
				 row(&f, &model, i)->text, names[i]);
		assert_string_equal(model.vms[f.order[i]].name, names[i]);
	}
	/* The sorted column's title carries the direction, after the title's padding. */
	marked = strstr(f.lines[title_index(&f)].text, top_column_name(col));
	assert_non_null(marked);
	marked += strlen(top_column_name(col));
	marked += strspn(marked, " ");
	assert_int_equal(*marked, descending ? 'v' : '^');
	assert_int_equal(strcspn(f.lines[title_index(&f)].text, "^v"),
			 marked - f.lines[title_index(&f)].text);
	top_frame_free(&f);
}

static void sort_by_name(void **state)
{
	(void)state;
	expect_order(TOP_COL_NAME, false, (const char *const[]){ "batch", "db", "idle", "web" });
	expect_order(TOP_COL_NAME, true, (const char *const[]){ "web", "idle", "db", "batch" });
}

/* Sizes sort by value, not by their text: "12G" > "4G" > "2G" > "1G". */
static void sort_by_size(void **state)
{
	(void)state;
	expect_order(TOP_COL_ASSIGNED, false,
		     (const char *const[]){ "idle", "web", "batch", "db" });
	expect_order(TOP_COL_ASSIGNED, true, (const char *const[]){ "db", "batch", "web", "idle" });
	expect_order(TOP_COL_DEMAND, false, (const char *const[]){ "idle", "web", "batch", "db" });
	expect_order(TOP_COL_MAXIMUM, true, (const char *const[]){ "db", "web", "batch", "idle" });
}

static void sort_by_availability(void **state)
{
	(void)state;
	/* -5.9 %, +5.3 %, +33 %, +100 %: the negative one first, by value */
	expect_order(TOP_COL_AVAILABILITY, false,
		     (const char *const[]){ "web", "batch", "db", "idle" });
	expect_order(TOP_COL_AVAILABILITY, true,
		     (const char *const[]){ "idle", "db", "batch", "web" });
}

/* Equal keys fall back to the name, so rows do not swap places between refreshes. */
static void sort_ties_by_name(void **state)
{
	(void)state;
	/* Status: OK (idle), Low (batch, web), Warning (db) */
	expect_order(TOP_COL_STATUS, false, (const char *const[]){ "idle", "batch", "web", "db" });
	/* Startup: 1G (idle), 2G (batch, web), 12G (db) */
	expect_order(TOP_COL_STARTUP, false, (const char *const[]){ "idle", "batch", "web", "db" });
}

static void selected_row_is_marked(void **state)
{
	struct top_view v = { .sort = TOP_COL_NAME, .selected = 2 };
	struct top_frame f = { 0 };

	(void)state;
	render(&model, &v, 160, &f);
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(row(&f, &model, i)->attr,
				 i == 2 ? TOP_ATTR_SELECTED : TOP_ATTR_NONE);
	assert_true(row_is(row(&f, &model, 2), "idle"));
	/* The selection follows the sorted rows, not the model's order. */
	v.descending = true;
	render(&model, &v, 160, &f);
	assert_true(row_is(row(&f, &model, 2), "db"));
	assert_int_equal(row(&f, &model, 2)->attr, TOP_ATTR_SELECTED);
	/* None selected: no row stands out. */
	v.selected = -1;
	render(&model, &v, 160, &f);
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(row(&f, &model, i)->attr, TOP_ATTR_NONE);
	top_frame_free(&f);
}

static char *trim(char *s)
{
	char *end;

	while (*s == ' ')
		s++;
	for (end = s + strlen(s); end > s && end[-1] == ' '; end--)
		end[-1] = '\0';
	return s;
}

/* The red span is the AVAIL cell, exactly: under the AVAIL title, nothing of its neighbours. */
static void check_red_span(int width)
{
	struct top_view v = { .sort = TOP_COL_NAME, .selected = -1 };
	struct top_frame f = { 0 };
	const struct top_line *web, *title;
	char cell[64], head[64];
	int len;

	render(&model, &v, width, &f);
	web = row_named(&f, &model, "web");
	title = &f.lines[title_index(&f)];
	assert_true(web->red_from > 0);
	len = web->red_to - web->red_from;
	assert_int_equal(len, 6); /* the AVAIL column's width */
	assert_true(web->red_to <= (int)strlen(web->text));
	snprintf(cell, sizeof(cell), "%.*s", len, web->text + web->red_from);
	snprintf(head, sizeof(head), "%.*s", len, title->text + web->red_from);
	assert_string_equal(trim(cell), "-6%");
	assert_string_equal(trim(head), "AVAIL");
	/* Bounded by the column separators, not eating into DEMAND or STATUS. */
	assert_int_equal(web->text[web->red_from - 1], ' ');
	assert_int_equal(web->text[web->red_to], ' ');
	/* Only negative availability is red. */
	assert_int_equal(row_named(&f, &model, "db")->red_from, -1);
	assert_int_equal(row_named(&f, &model, "db")->red_to, -1);
	assert_int_equal(row_named(&f, &model, "batch")->red_from, -1);
	assert_int_equal(row_named(&f, &model, "idle")->red_from, -1);
	top_frame_free(&f);
}

static void negative_availability_is_red(void **state)
{
	(void)state;
	check_red_span(200);
	check_red_span(60); /* fewer columns before AVAIL: the span moves with it */
}

static void detail_pane_lists_every_counter(void **state)
{
	struct top_view v = { .sort = TOP_COL_NAME, .selected = 3, .detail = true };
	struct top_frame f = { 0 };
	size_t first;

	(void)state;
	render(&model, &v, 160, &f);
	first = title_index(&f) + 1 + model.nr_vms; /* the pane comes after the rows */
	assert_true(row_is(row(&f, &model, 3), "web"));
	for (int c = 0; c < DM_NR_COUNTERS; c++) {
		bool found = false;

		for (size_t i = first; i < f.nr_lines && !found; i++)
			found = strstr(f.lines[i].text, counter_names[c]) != NULL;
		if (!found)
			fail_msg("detail pane lacks counter %s", counter_names[c]);
	}
	assert_int_equal(f.lines[first + 1].attr, TOP_ATTR_HEADER);
	assert_string_equal(f.lines[first + 1].text,
			    "-- web: running, reason capped, status Low --");
	assert_string_equal(f.lines[first + 3].text, "last action: balloon=2G");
	/* Each counter with its value: map_2m is 3000, right-aligned in 12 after its name. */
	for (size_t i = first; i < f.nr_lines; i++)
		if (strstr(f.lines[i].text, "map_2m "))
			assert_non_null(strstr(f.lines[i].text, "map_2m                  3000"));
	/* An unwatched VM says so instead of a wall of zeros. */
	v.selected = 2;
	render(&model, &v, 160, &f);
	first = title_index(&f) + 1 + model.nr_vms;
	assert_true(row_is(row(&f, &model, 2), "idle"));
	for (size_t i = first; i < f.nr_lines; i++)
		assert_null(strstr(f.lines[i].text, "ept_faults"));
	assert_true(f.nr_lines > first);
	{
		bool said = false;

		for (size_t i = first; i < f.nr_lines; i++)
			said |= !strcmp(f.lines[i].text, "observer: not watching this VM");
		assert_true(said);
	}
	top_frame_free(&f);
}

/* The drop rank of every column (top_render.c): 0 stays, the highest goes first. */
static const int drop_rank[TOP_NR_COLUMNS] = {
	[TOP_COL_NAME] = 0,	    [TOP_COL_STATE] = 2,       [TOP_COL_STARTUP] = 3,
	[TOP_COL_MINIMUM] = 2,	    [TOP_COL_MAXIMUM] = 2,     [TOP_COL_WEIGHT] = 3,
	[TOP_COL_BUFFER] = 3,	    [TOP_COL_ASSIGNED] = 0,    [TOP_COL_DEMAND] = 0,
	[TOP_COL_AVAILABILITY] = 0, [TOP_COL_PRESSURE] = 1,    [TOP_COL_STATUS] = 0,
	[TOP_COL_EPT] = 4,	    [TOP_COL_HOST_FAULTS] = 4, [TOP_COL_LARGE] = 5,
	[TOP_COL_REMOTE] = 5,	    [TOP_COL_NODE] = 5,	       [TOP_COL_ACTION] = 1,
};

static void check_fits(const struct top_frame *f, size_t from, size_t to, int width)
{
	for (size_t i = from; i < to; i++)
		if ((int)strlen(f->lines[i].text) > width)
			fail_msg("width %d: line %zu is %zu long: \"%s\"", width, i,
				 strlen(f->lines[i].text), f->lines[i].text);
}

/*
 * At width w, as --once renders it (no selection, no detail pane): every line fits but the
 * two header lines and the keys line, which docs/top.md says --once prints whole (the live
 * view cuts every line at the terminal's edge); NAME ASSIGNED DEMAND AVAIL STATUS are always
 * there; the columns shown are exactly those of rank <= max_rank, lower ranks dropped last.
 * The live view's detail pane fits from 100 columns up (its lines are 86 long).
 */
static void check_width(int width, int max_rank)
{
	struct top_view v = { .sort = TOP_COL_NAME, .selected = -1 };
	struct top_frame f = { 0 };

	render(&model, &v, width, &f);
	assert_true(f.nr_lines > 3);
	check_fits(&f, 2, f.nr_lines - 1, width);
	if (width >= 100) {
		check_fits(&f, 0, f.nr_lines, width);
		v.selected = 0;
		v.detail = true;
		render(&model, &v, width, &f);
		check_fits(&f, 0, f.nr_lines, width);
	}
	for (int c = 0; c < TOP_NR_COLUMNS; c++)
		if (title_has(&f, (enum top_column)c) != (drop_rank[c] <= max_rank))
			fail_msg("width %d: column %s (rank %d) %s", width,
				 top_column_name((enum top_column)c), drop_rank[c],
				 title_has(&f, (enum top_column)c) ? "shown" : "dropped");
	assert_true(title_has(&f, TOP_COL_NAME) && title_has(&f, TOP_COL_ASSIGNED) &&
		    title_has(&f, TOP_COL_DEMAND) && title_has(&f, TOP_COL_AVAILABILITY) &&
		    title_has(&f, TOP_COL_STATUS));
	top_frame_free(&f);
}

static void widths_drop_columns_by_rank(void **state)
{
	(void)state;
	/* all columns take 144; rank <= 2 takes 91, <= 1 takes 68, 0 takes 45 */
	check_width(200, 5);
	check_width(160, 5);
	check_width(100, 2);
	check_width(80, 1);
	check_width(60, 0);
}

/* The last column takes what is left of the line, up to the width and not one more. */
static void last_column_fills_the_width(void **state)
{
	static const int widths[] = { 200, 160, 100, 80 };
	struct top_view v = { .sort = TOP_COL_NAME, .selected = -1 };
	struct top_frame f = { 0 };

	(void)state;
	for (size_t k = 0; k < sizeof(widths) / sizeof(widths[0]); k++) {
		render(&model, &v, widths[k], &f);
		for (size_t i = 0; i < model.nr_vms; i++)
			assert_int_equal(strlen(row(&f, &model, i)->text), widths[k]);
	}
	top_frame_free(&f);
}

/*
 * Narrower than the essential columns (45): they stay anyway, and the rows are wider than
 * the width (docs/top.md, "Narrow terminals"); the live view cuts them at the edge.
 */
static void essentials_stay_below_their_width(void **state)
{
	struct top_view v = { .sort = TOP_COL_NAME, .selected = -1 };
	struct top_frame f = { 0 };

	(void)state;
	render(&model, &v, 40, &f);
	for (int c = 0; c < TOP_NR_COLUMNS; c++)
		assert_int_equal(title_has(&f, (enum top_column)c), drop_rank[c] == 0);
	assert_int_equal(strlen(row(&f, &model, 0)->text), 45);
	top_frame_free(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parse_reads_the_host),
		cmocka_unit_test(parse_reads_every_vm_in_order),
		cmocka_unit_test(parse_vm_without_observer),
		cmocka_unit_test(parse_null_availability),
		cmocka_unit_test(parse_errors_are_eproto),
		cmocka_unit_test(status_of_the_fixture),
		cmocka_unit_test(status_thresholds),
		cmocka_unit_test(status_at_maximum_wants_half_its_buffer),
		cmocka_unit_test(status_without_availability),
		cmocka_unit_test(large_and_remote_shares),
		cmocka_unit_test(header_shows_host_numbers),
		cmocka_unit_test(one_row_per_vm),
		cmocka_unit_test(sort_by_name),
		cmocka_unit_test(sort_by_size),
		cmocka_unit_test(sort_by_availability),
		cmocka_unit_test(sort_ties_by_name),
		cmocka_unit_test(selected_row_is_marked),
		cmocka_unit_test(negative_availability_is_red),
		cmocka_unit_test(detail_pane_lists_every_counter),
		cmocka_unit_test(widths_drop_columns_by_rank),
		cmocka_unit_test(last_column_fills_the_width),
		cmocka_unit_test(essentials_stay_below_their_width),
	};

	return cmocka_run_group_tests_name("top: model and frame", tests, parse_fixture,
					   free_fixture);
}
