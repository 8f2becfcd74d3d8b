// SPDX-License-Identifier: GPL-2.0-only
/*
 * Unit tests for user/stat_format.c. The JSON frame is parsed back with json-c and checked
 * field by field against values the test computes itself; the text frame is written into
 * a memory stream and checked line by line.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <json-c/json.h>
#include "stat_format.h"
#include "counters.h"

#define INTERVAL_NS 400000000ULL /* 0.4 s: every delta becomes delta * 2.5 per second */
#define NR_ROWS	    2

static struct stat_row rows[NR_ROWS];
static struct hook_status hook_st[16];
static struct stat_frame frame;

/* The states as consumers of the JSON and text output see them: part of the output format. */
static const char *const state_text[] = {
	[HOOK_RAW] = "raw", [HOOK_TP] = "tp",	      [HOOK_MISSING] = "missing",
	[HOOK_OFF] = "off", [HOOK_FAILED] = "failed",
};

static int setup(void **state)
{
	struct stat_row *vm = &rows[0], *host = &rows[1];

	(void)state;
	memset(rows, 0, sizeof(rows));
	vm->cgroup = "/sys/fs/cgroup/machine.slice/vm-alpha";
	vm->id = 0x123456789aULL;
	vm->bursts = 3;
	vm->prev.c[DM_HOST_FAULTS] = 1000;
	vm->now.c[DM_HOST_FAULTS] = 1234567;
	vm->now.c[DM_EPT_FAULTS] = 42;
	vm->prev.c[DM_EPT_WRITES] = 10;
	vm->now.c[DM_EPT_WRITES] = 11; /* 2.5/s: a fractional rate */
	vm->now.c[DM_MAP_4K] = 99999;
	vm->now.c[DM_MAP_2M] = 100000;
	vm->now.c[DM_MAP_1G] = 39999990; /* ~1e8/s: the widest rate a column must hold */
	/* Above INT64_MAX: only a uint64 writer keeps it positive and exact. */
	vm->now.c[DM_UNMAPPED_BYTES] = (1ULL << 63) + 5;
	for (int i = DM_AGE_SCANS; i < DM_NR_COUNTERS; i++) {
		vm->prev.c[i] = 7 * (__u64)i;
		vm->now.c[i] = 7 * (__u64)i + (__u64)i;
	}

	host->cgroup = "host";
	host->id = 0;
	host->bursts = 0;
	for (int i = 0; i < DM_NR_COUNTERS; i++) {
		host->prev.c[i] = 100;
		host->now.c[i] = 100 + 4 * (__u64)i;
	}
	host->prev.c[DM_HOST_FAULTS] = 500; /* went backwards: the slot was reused */
	host->now.c[DM_HOST_FAULTS] = 400;

	/* Every state once, then cycling: the output must report each hook's own state. */
	assert_true(nr_hooks <= sizeof(hook_st) / sizeof(hook_st[0]));
	for (size_t i = 0; i < nr_hooks; i++) {
		hook_st[i].hook = &hooks[i];
		hook_st[i].state = (enum hook_state)(i % 5);
		hook_st[i].err = hook_st[i].state == HOOK_FAILED ? -EPERM : 0;
	}
	frame = (struct stat_frame){
		.interval_ns = INTERVAL_NS,
		.lost_events = 7,
		.rows = rows,
		.nr_rows = NR_ROWS,
		.hooks = hook_st,
		.nr_hooks = nr_hooks,
	};
	return 0;
}

static double want_rate(const struct stat_row *r, int i, __u64 interval_ns)
{
	if (!interval_ns || r->now.c[i] < r->prev.c[i])
		return 0.0;
	return (double)(r->now.c[i] - r->prev.c[i]) / ((double)interval_ns / 1e9);
}

static json_object *get(json_object *obj, const char *key, json_type type)
{
	json_object *v = NULL;

	if (!json_object_object_get_ex(obj, key, &v))
		fail_msg("no key \"%s\" in %s", key, json_object_to_json_string(obj));
	if (!json_object_is_type(v, type))
		fail_msg("\"%s\" is a %s, want a %s", key,
			 json_type_to_name(json_object_get_type(v)), json_type_to_name(type));
	return v;
}

static json_object *format_and_parse(const struct stat_frame *f, char **ret_line)
{
	char *line = stat_format_json(f);
	json_object *root;

	assert_non_null(line);
	/* One frame per line: a consumer reads the stream with a line reader. */
	assert_null(strchr(line, '\n'));
	root = json_tokener_parse(line);
	if (!root)
		fail_msg("not JSON: %s", line);
	*ret_line = line;
	return root;
}

static void check_row(json_object *row, const struct stat_row *r, __u64 interval_ns)
{
	json_object *rates = get(row, "rates", json_type_object);

	assert_string_equal(json_object_get_string(get(row, "cgroup", json_type_string)),
			    r->cgroup);
	assert_int_equal(json_object_get_uint64(get(row, "id", json_type_int)), r->id);
	assert_int_equal(json_object_get_uint64(get(row, "bursts", json_type_int)), r->bursts);
	for (int i = 0; i < DM_NR_COUNTERS; i++) {
		__u64 got = json_object_get_uint64(get(row, counter_names[i], json_type_int));
		json_object *rate = NULL;
		double want = want_rate(r, i, interval_ns);

		if (got != r->now.c[i])
			fail_msg("%s/%s: %llu, want %llu", r->cgroup, counter_names[i],
				 (unsigned long long)got, (unsigned long long)r->now.c[i]);
		if (!json_object_object_get_ex(rates, counter_names[i], &rate))
			fail_msg("%s: no rate for %s", r->cgroup, counter_names[i]);
		/* Relative tolerance: the text form of a double need not round-trip every bit. */
		if (json_object_get_double(rate) < want * (1 - 1e-12) ||
		    json_object_get_double(rate) > want * (1 + 1e-12))
			fail_msg("%s: rate of %s %.17g, want %.17g", r->cgroup, counter_names[i],
				 json_object_get_double(rate), want);
	}
	assert_int_equal(json_object_object_length(rates), DM_NR_COUNTERS);
}

static void json_frame_round_trips(void **state)
{
	json_object *root, *hooks_obj, *cgroups;
	char *line;

	(void)state;
	root = format_and_parse(&frame, &line);
	assert_true(json_object_is_type(root, json_type_object));
	assert_int_equal(json_object_get_uint64(get(root, "interval_ns", json_type_int)),
			 INTERVAL_NS);
	assert_int_equal(json_object_get_uint64(get(root, "lost_events", json_type_int)), 7);

	hooks_obj = get(root, "hooks", json_type_object);
	assert_int_equal(json_object_object_length(hooks_obj), nr_hooks);
	for (size_t i = 0; i < nr_hooks; i++) {
		json_object *s = get(hooks_obj, hooks[i].name, json_type_string);

		assert_string_equal(json_object_get_string(s), state_text[hook_st[i].state]);
	}

	cgroups = get(root, "cgroups", json_type_array);
	assert_int_equal(json_object_array_length(cgroups), NR_ROWS);
	for (size_t r = 0; r < NR_ROWS; r++)
		check_row(json_object_array_get_idx(cgroups, r), &rows[r], INTERVAL_NS);

	/* Spelled out: the values the shared checks above cover. */
	assert_true(json_object_get_uint64(get(json_object_array_get_idx(cgroups, 0),
					       "unmapped_bytes", json_type_int)) ==
		    (1ULL << 63) + 5);
	json_object_put(root);
	free(line);
}

/* The first frame has no interval yet: rates are 0, still numbers (JSON has no NaN). */
static void json_zero_interval(void **state)
{
	struct stat_frame f = frame;
	json_object *root, *cgroups;
	char *line;

	(void)state;
	f.interval_ns = 0;
	root = format_and_parse(&f, &line);
	cgroups = get(root, "cgroups", json_type_array);
	for (size_t r = 0; r < NR_ROWS; r++)
		check_row(json_object_array_get_idx(cgroups, r), &rows[r], 0);
	json_object_put(root);
	free(line);
}

/* Paths go through JSON escaping: quotes, backslashes, blanks come back unchanged. */
static void json_escapes_cgroup_names(void **state)
{
	struct stat_row odd = rows[0];
	struct stat_frame f = frame;
	json_object *root, *row;
	char *line;

	(void)state;
	odd.cgroup = "/sys/fs/cgroup/vm \"quoted\" \\back\tslash";
	f.rows = &odd;
	f.nr_rows = 1;
	f.nr_hooks = 0;
	root = format_and_parse(&f, &line);
	assert_int_equal(json_object_object_length(get(root, "hooks", json_type_object)), 0);
	row = json_object_array_get_idx(get(root, "cgroups", json_type_array), 0);
	assert_string_equal(json_object_get_string(get(row, "cgroup", json_type_string)),
			    odd.cgroup);
	json_object_put(root);
	free(line);
}

/* The text frame split into lines; the caller frees lines[0] and the array. */
static size_t text_lines(const struct stat_frame *f, char ***ret_lines)
{
	char *buf = NULL, **lines = NULL, *save = NULL, *l;
	size_t len = 0, n = 0;
	FILE *out = open_memstream(&buf, &len);

	assert_non_null(out);
	stat_format_text(out, f);
	assert_int_equal(fclose(out), 0);
	assert_true(len > 0);
	lines = calloc(len + 1, sizeof(*lines));
	assert_non_null(lines);
	/* Keep buf itself as lines[0] so one free() releases the text. */
	for (l = strtok_r(buf, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		lines[n++] = l;
	assert_true(n > 0);
	assert_ptr_equal(lines[0], buf);
	*ret_lines = lines;
	return n;
}

/* The one line that starts with the word `name` followed by a blank or '='/':'. */
static const char *line_of(char **lines, size_t n, const char *name)
{
	const char *found = NULL;
	size_t len = strlen(name);

	for (size_t i = 0; i < n; i++) {
		if (strncmp(lines[i], name, len) || (lines[i][len] != ' ' && lines[i][len] != ':'))
			continue;
		if (found)
			fail_msg("two lines start with \"%s\"", name);
		found = lines[i];
	}
	if (!found)
		fail_msg("no line starts with \"%s\"", name);
	return found;
}

static void assert_contains(const char *line, const char *part)
{
	if (!strstr(line, part))
		fail_msg("\"%s\" not in \"%s\"", part, line);
}

static void text_hooks_and_counter_lines(void **state)
{
	const char *hooks_line, *header;
	char **lines, want[128];
	size_t n;

	(void)state;
	n = text_lines(&frame, &lines);
	hooks_line = line_of(lines, n, "hooks");
	for (size_t i = 0; i < nr_hooks; i++) {
		snprintf(want, sizeof(want), " %s=%s", hooks[i].name, state_text[hook_st[i].state]);
		assert_contains(hooks_line, want);
	}
	for (int i = 0; i < DM_NR_COUNTERS; i++)
		line_of(lines, n, counter_names[i]);
	assert_contains(line_of(lines, n, "interval"), "0.400 s");
	assert_contains(line_of(lines, n, "interval"), "lost events 7");
	assert_contains(line_of(lines, n, "bursts"), " 3 ");

	/* Column headers: the last path component, in row order, not the whole path. */
	header = line_of(lines, n, "counter");
	assert_contains(header, "vm-alpha");
	assert_contains(header, "host");
	assert_true(strstr(header, "vm-alpha") < strstr(header, "host"));
	assert_null(strstr(header, "machine.slice"));
	free(lines[0]);
	free(lines);
}

/* Totals and rates shorten with a suffix past 5 digits; smaller ones stay exact. */
static void text_numbers_shortened(void **state)
{
	const char *l;
	char **lines;
	size_t n;

	(void)state;
	n = text_lines(&frame, &lines);
	l = line_of(lines, n, "host_faults");
	assert_contains(l, "1.23M");   /* 1234567 */
	assert_contains(l, "3.08M/s"); /* 1233567 / 0.4 s */
	assert_contains(l, " 400 ");   /* host row */
	assert_contains(l, " 0/s");    /* host row went backwards */
	l = line_of(lines, n, "ept_faults");
	assert_contains(l, " 42 ");
	assert_contains(l, " 105/s");
	assert_contains(line_of(lines, n, "ept_writes"), " 2.5/s");
	l = line_of(lines, n, "map_4k");
	assert_contains(l, " 99999 ");
	assert_contains(l, "250.00k/s");
	l = line_of(lines, n, "map_2m");
	assert_contains(l, "100.00k");
	assert_contains(l, "250.00k/s");
	l = line_of(lines, n, "map_1g");
	assert_contains(l, "40.00M");
	assert_contains(l, "100.00M/s");
	assert_contains(line_of(lines, n, "unmapped_bytes"), "9.22E");
	free(lines[0]);
	free(lines);
}

/* Shortened numbers keep every column as wide as its header: the table stays aligned. */
static void text_columns_aligned(void **state)
{
	const char *header;
	char **lines;
	size_t n;

	(void)state;
	n = text_lines(&frame, &lines);
	header = line_of(lines, n, "counter");
	for (int i = 0; i < DM_NR_COUNTERS; i++) {
		const char *l = line_of(lines, n, counter_names[i]);

		if (strlen(l) != strlen(header))
			fail_msg("\"%s\" is %zu wide, header \"%s\" %zu", l, strlen(l), header,
				 strlen(header));
	}
	assert_int_equal(strlen(line_of(lines, n, "bursts")), strlen(header));
	free(lines[0]);
	free(lines);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(json_frame_round_trips),
		cmocka_unit_test(json_zero_interval),
		cmocka_unit_test(json_escapes_cgroup_names),
		cmocka_unit_test(text_hooks_and_counter_lines),
		cmocka_unit_test(text_numbers_shortened),
		cmocka_unit_test(text_columns_aligned),
	};

	return cmocka_run_group_tests_name("stat_format", tests, setup, NULL);
}
