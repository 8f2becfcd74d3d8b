// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "stat_args.h"
#include "hooks.h"

const char stat_usage[] =
	"usage: dynmem stat [--interval MS] [--count N] [--json] [--no-hook NAME]... CGROUP...\n"
	"  Watch the observer's per-VM counters for the given cgroup v2 groups.\n"
	"  CGROUP is a path under the cgroup2 mount, or relative to it (as /proc/PID/cgroup\n"
	"  shows it). Every interval prints each cgroup's counters with per-second rates, a\n"
	"  \"host\" row for everything else, lost events and the state of every hook.\n"
	"  --interval MS   time between frames, 10..3600000 (default 1000)\n"
	"  --count N       stop after N frames (default: until SIGINT/SIGTERM)\n"
	"  --json          one JSON object per frame, on one line\n"
	"  --no-hook NAME  do not attach this tracepoint (repeatable)\n";

static int parse_ulong(const char *s, unsigned long min, unsigned long max, unsigned long *ret)
{
	char *end;
	unsigned long v;

	if (!s || !*s || *s == '-')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*ret = v;
	return 0;
}

/* The value of "--opt VALUE" or "--opt=VALUE"; advances *i past what it used. */
static const char *option_value(int argc, char **argv, int *i, const char *opt)
{
	size_t n = strlen(opt);

	if (!strncmp(argv[*i], opt, n) && argv[*i][n] == '=')
		return argv[*i] + n + 1;
	if (!strcmp(argv[*i], opt) && *i + 1 < argc)
		return argv[++*i];
	return NULL;
}

static bool is_option(const char *arg, const char *opt)
{
	size_t n = strlen(opt);

	return !strncmp(arg, opt, n) && (arg[n] == '\0' || arg[n] == '=');
}

static int parse_one(int argc, char **argv, int *i, struct stat_args *a, size_t *nr_off,
		     char *err, size_t errlen)
{
	const char *arg = argv[*i], *v;
	unsigned long n;

	if (is_option(arg, "--interval")) {
		v = option_value(argc, argv, i, "--interval");
		if (parse_ulong(v, 10, 3600000, &n)) {
			snprintf(err, errlen, "--interval wants milliseconds from 10 to 3600000, got '%s'",
				 v ?: "");
			return -EINVAL;
		}
		a->interval_ms = (unsigned int)n;
	} else if (is_option(arg, "--count")) {
		v = option_value(argc, argv, i, "--count");
		if (parse_ulong(v, 1, 1UL << 40, &a->count)) {
			snprintf(err, errlen, "--count wants a number of frames >= 1, got '%s'", v ?: "");
			return -EINVAL;
		}
	} else if (!strcmp(arg, "--json")) {
		a->json = true;
	} else if (is_option(arg, "--no-hook")) {
		v = option_value(argc, argv, i, "--no-hook");
		if (!v || !hook_find(v)) {
			snprintf(err, errlen, "--no-hook: unknown hook '%s' (see the hooks line of any frame)",
				 v ?: "");
			return -EINVAL;
		}
		if (*nr_off == STAT_MAX_OFF) {
			snprintf(err, errlen, "--no-hook given more than %d times", STAT_MAX_OFF);
			return -EINVAL;
		}
		a->off[(*nr_off)++] = v;
	} else if (arg[0] == '-' && arg[1] != '\0') {
		snprintf(err, errlen, "unknown option '%s'", arg);
		return -EINVAL;
	} else if (a->nr_cgroups == STAT_MAX_CGROUPS) {
		snprintf(err, errlen, "at most %d cgroups", STAT_MAX_CGROUPS);
		return -EINVAL;
	} else {
		a->cgroups[a->nr_cgroups++] = arg;
	}
	return 0;
}

int stat_args_parse(int argc, char **argv, struct stat_args *ret, char *err, size_t errlen)
{
	struct stat_args a = { .interval_ms = 1000 };
	size_t nr_off = 0;
	int rc;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
			return 1;
		rc = parse_one(argc, argv, &i, &a, &nr_off, err, errlen);
		if (rc)
			return rc;
	}
	if (!a.nr_cgroups) {
		snprintf(err, errlen, "no cgroup given: name at least one VM's cgroup v2 group");
		return -EINVAL;
	}
	*ret = a;
	return 0;
}
