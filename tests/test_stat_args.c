// SPDX-License-Identifier: GPL-2.0-only
/* Unit tests for user/stat_args.c: the `dynmem stat` command line. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "stat_args.h"

#define MAX_ARGS 32

static char err[256];

/*
 * Parses a NULL-terminated argument list after "stat". argv is copied into writable
 * storage: the parser takes char ** and keeps pointers into it, as it will into main's argv.
 */
static char argbuf[MAX_ARGS][64];
static char *argv_store[MAX_ARGS + 1];

static int parse(struct stat_args *a, const char *const *args)
{
	int argc = 0;

	snprintf(argbuf[argc], sizeof(argbuf[argc]), "stat");
	argv_store[argc] = argbuf[argc];
	for (argc = 1; args[argc - 1]; argc++) {
		assert_true(argc < MAX_ARGS);
		snprintf(argbuf[argc], sizeof(argbuf[argc]), "%s", args[argc - 1]);
		argv_store[argc] = argbuf[argc];
	}
	argv_store[argc] = NULL;
	/* Cleared, so that a refusal which writes no message is caught. */
	memset(err, 0, sizeof(err));
	return stat_args_parse(argc, argv_store, a, err, sizeof(err));
}

#define ARGS(...) ((const char *const[]){ __VA_ARGS__, NULL })

static int parse_ok(struct stat_args *a, const char *const *args)
{
	int rc = parse(a, args);

	if (rc)
		fail_msg("stat_args_parse: %d, \"%s\"", rc, err);
	return rc;
}

/* Refused with -EINVAL and a message naming `needle` (the offending option or value). */
static void assert_refused(const char *const *args, const char *needle)
{
	struct stat_args a;
	int rc = parse(&a, args);

	if (rc != -EINVAL)
		fail_msg("'%s ...' gave %d, want -EINVAL", args[0], rc);
	if (!err[0])
		fail_msg("'%s ...' refused without a message", args[0]);
	if (needle && !strstr(err, needle))
		fail_msg("message \"%s\" does not name '%s'", err, needle);
}

static void defaults(void **state)
{
	struct stat_args a;

	(void)state;
	memset(&a, 0xa5, sizeof(a));
	parse_ok(&a, ARGS("vm1"));
	assert_int_equal(a.interval_ms, 1000);
	assert_int_equal(a.count, 0);
	assert_false(a.json);
	assert_int_equal(a.nr_cgroups, 1);
	assert_string_equal(a.cgroups[0], "vm1");
	/* --no-hook list is empty and NULL-terminated, not the caller's garbage. */
	assert_null(a.off[0]);
}

static void interval_both_spellings(void **state)
{
	struct stat_args a;

	(void)state;
	parse_ok(&a, ARGS("--interval", "250", "vm1"));
	assert_int_equal(a.interval_ms, 250);
	assert_int_equal(a.nr_cgroups, 1);
	parse_ok(&a, ARGS("--interval=250", "vm1"));
	assert_int_equal(a.interval_ms, 250);
	/* The value is not also taken as a cgroup. */
	assert_int_equal(a.nr_cgroups, 1);
	assert_string_equal(a.cgroups[0], "vm1");
}

static void interval_bounds(void **state)
{
	struct stat_args a;

	(void)state;
	parse_ok(&a, ARGS("--interval", "10", "vm1"));
	assert_int_equal(a.interval_ms, 10);
	parse_ok(&a, ARGS("--interval", "3600000", "vm1"));
	assert_int_equal(a.interval_ms, 3600000);
	assert_refused(ARGS("--interval", "9", "vm1"), "'9'");
	assert_refused(ARGS("--interval", "3600001", "vm1"), "'3600001'");
	assert_refused(ARGS("--interval=0", "vm1"), "'0'");
}

/* Not numbers, negative, trailing junk, overflowing, missing: refused, never wrapped. */
static void interval_malformed(void **state)
{
	(void)state;
	assert_refused(ARGS("--interval", "abc", "vm1"), "'abc'");
	assert_refused(ARGS("--interval", "-250", "vm1"), "'-250'");
	assert_refused(ARGS("--interval", "250ms", "vm1"), "'250ms'");
	assert_refused(ARGS("--interval", "99999999999999999999999", "vm1"),
		       "'99999999999999999999999'");
	assert_refused(ARGS("--interval="), "--interval");
	assert_refused(ARGS("vm1", "--interval"), "--interval");
}

static void count(void **state)
{
	struct stat_args a;

	(void)state;
	parse_ok(&a, ARGS("--count", "5", "vm1"));
	assert_int_equal(a.count, 5);
	parse_ok(&a, ARGS("--count=1", "vm1"));
	assert_int_equal(a.count, 1);
	/* 0 would mean "forever", which is what leaving --count out means: refuse it. */
	assert_refused(ARGS("--count", "0", "vm1"), "'0'");
	assert_refused(ARGS("--count", "-1", "vm1"), "'-1'");
}

static void json(void **state)
{
	struct stat_args a;

	(void)state;
	parse_ok(&a, ARGS("vm1", "--json"));
	assert_true(a.json);
	assert_int_equal(a.nr_cgroups, 1);
}

static void no_hook(void **state)
{
	struct stat_args a;

	(void)state;
	parse_ok(&a, ARGS("--no-hook", "page_fault_user", "--no-hook=kvm_age_hva", "vm1"));
	assert_string_equal(a.off[0], "page_fault_user");
	assert_string_equal(a.off[1], "kvm_age_hva");
	assert_null(a.off[2]);
	assert_int_equal(a.nr_cgroups, 1);
	assert_refused(ARGS("--no-hook", "bogus", "vm1"), "'bogus'");
	assert_refused(ARGS("vm1", "--no-hook"), "--no-hook");
}

static void unknown_option(void **state)
{
	(void)state;
	assert_refused(ARGS("--frobnicate", "vm1"), "--frobnicate");
	assert_refused(ARGS("vm1", "-x"), "-x");
	/* A prefix of a known option is not that option. */
	assert_refused(ARGS("--intervals", "5", "vm1"), "--intervals");
	assert_refused(ARGS("--json=yes", "vm1"), "--json=yes");
}

static void no_cgroup(void **state)
{
	(void)state;
	assert_refused(ARGS("--json"), "cgroup");
	assert_refused(ARGS("--interval", "250"), "cgroup");
}

/* --help alone (no cgroup: otherwise an error) or after a cgroup asks for the usage text. */
static void help(void **state)
{
	struct stat_args a;

	(void)state;
	assert_int_equal(parse(&a, ARGS("--help")), 1);
	assert_int_equal(parse(&a, ARGS("vm1", "--help")), 1);
	assert_int_equal(parse(&a, ARGS("-h")), 1);
	/* The usage text names every option the parser takes. */
	assert_non_null(strstr(stat_usage, "--interval"));
	assert_non_null(strstr(stat_usage, "--count"));
	assert_non_null(strstr(stat_usage, "--json"));
	assert_non_null(strstr(stat_usage, "--no-hook"));
}

/* Rows are printed in the order given; options may sit between the cgroups. */
static void cgroups_in_order(void **state)
{
	struct stat_args a;

	(void)state;
	parse_ok(&a, ARGS("vm-b", "/machine/vm-a", "--json", "vm-c", "--interval", "100",
			  "/sys/fs/cgroup/vm-d"));
	assert_int_equal(a.nr_cgroups, 4);
	assert_string_equal(a.cgroups[0], "vm-b");
	assert_string_equal(a.cgroups[1], "/machine/vm-a");
	assert_string_equal(a.cgroups[2], "vm-c");
	assert_string_equal(a.cgroups[3], "/sys/fs/cgroup/vm-d");
	assert_true(a.json);
	assert_int_equal(a.interval_ms, 100);
}

/* A failed parse leaves the caller's struct alone: no half-applied options. */
static void error_leaves_result_untouched(void **state)
{
	struct stat_args a, before;

	(void)state;
	memset(&a, 0x5a, sizeof(a));
	before = a;
	assert_int_equal(parse(&a, ARGS("--json", "vm1", "--interval", "1")), -EINVAL);
	assert_memory_equal(&a, &before, sizeof(a));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(defaults),
		cmocka_unit_test(interval_both_spellings),
		cmocka_unit_test(interval_bounds),
		cmocka_unit_test(interval_malformed),
		cmocka_unit_test(count),
		cmocka_unit_test(json),
		cmocka_unit_test(no_hook),
		cmocka_unit_test(unknown_option),
		cmocka_unit_test(no_cgroup),
		cmocka_unit_test(help),
		cmocka_unit_test(cgroups_in_order),
		cmocka_unit_test(error_leaves_result_untouched),
	};

	return cmocka_run_group_tests_name("stat_args", tests, NULL, NULL);
}
