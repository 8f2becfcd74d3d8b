// SPDX-License-Identifier: GPL-2.0-only
/*
 * The Prometheus textfile (user/prom.c) of a small daemon built by hand: two VMs, the
 * enforcer table probed on a temp directory, no observer. The text must follow the
 * exposition format (HELP and TYPE before samples, names, counters in _total, escaped
 * labels), say the right numbers, leave out what is not known, pass promtool, and reach
 * the disk by rename with mode 0644.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <cmocka.h>
#include "counters.h"
#include "daemon.h"
#include "enforcer.h"
#include "prom.h"
#include "vm.h"

#define MiB (1ULL << 20)
#define GiB (1ULL << 30)

/* A VM name no config would accept, to see the label escaped: we"ird\vm */
#define ODD_NAME       "we\"ird\\vm"
#define ODD_NAME_LABEL "we\\\"ird\\\\vm"

struct fixture {
	char root[64];
	int root_fd;
	struct daemon d;
	struct vm vm[2];
	char *text; /* prom_format's output */
	size_t len;
};

static void format(struct fixture *fx)
{
	FILE *out;

	free(fx->text);
	fx->text = NULL;
	out = open_memstream(&fx->text, &fx->len);
	assert_non_null(out);
	assert_int_equal(prom_format(out, &fx->d), 0);
	assert_int_equal(fclose(out), 0);
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	struct config_vm web = { .name = "web",
				 .cgroup = "machine.slice/web.scope",
				 .startup_bytes = 2 * GiB,
				 .minimum_bytes = 1 * GiB,
				 .maximum_bytes = 8 * GiB,
				 .buffer_pct = 25,
				 .weight = 8000 };
	struct config_vm odd = { .name = ODD_NAME,
				 .cgroup = "machine.slice/odd.scope",
				 .startup_bytes = 1 * GiB,
				 .minimum_bytes = 512 * MiB,
				 .maximum_bytes = 2 * GiB,
				 .buffer_pct = 20,
				 .weight = 5000 };
	struct daemon *d = &fx->d;
	char path[128];
	FILE *f;

	strcpy(fx->root, "/tmp/dynmem-prom-XXXXXX");
	assert_non_null(mkdtemp(fx->root));
	snprintf(path, sizeof(path), "%s/cgroup.controllers", fx->root);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("cpuset cpu io memory pids\n", f);
	fclose(f);
	fx->root_fd = open(fx->root, O_RDONLY | O_DIRECTORY);
	assert_true(fx->root_fd >= 0);
	/* Only the names and the table matter here, not whether each one is usable. */
	enforcers_init(d->enf, fx->root_fd, 100);
	d->obs = NULL;
	d->host.total_bytes = 64 * GiB;
	d->reserve_bytes = 2 * GiB;
	d->budget_bytes = 61 * GiB;
	d->host.nr_nodes = 2;
	d->node_budget_bytes[0] = 30 * GiB;
	d->node_budget_bytes[1] = 31 * GiB;
	d->ticks = 5312;
	d->tick_cost_ns = 250000;

	/* web: observed, short of memory (assigned 2G for a demand of 2.5G) */
	vm_init(&fx->vm[0], &web);
	fx->vm[0].assigned_bytes = 2 * GiB;
	fx->vm[0].target_bytes = 2 * GiB + 512 * MiB;
	fx->vm[0].demand.demand_bytes = 2 * GiB + 512 * MiB;
	fx->vm[0].demand.pressure = true;
	fx->vm[0].overhead_bytes = 180 * MiB;
	fx->vm[0].observed = true;
	for (int i = 0; i < DM_NR_COUNTERS; i++)
		fx->vm[0].counters.c[i] = 1000 + (__u64)i;
	fx->vm[0].enforce[ENFORCER_CGROUP] = true;
	fx->vm[0].enforce[ENFORCER_BALLOON] = true;
	fx->vm[0].enf[ENFORCER_CGROUP].actions = 7;
	fx->vm[0].enf[ENFORCER_BALLOON].actions = 3;
	fx->vm[0].enf[ENFORCER_BALLOON].errors = 2;
	/* odd: not observed, no demand known yet */
	vm_init(&fx->vm[1], &odd);
	fx->vm[1].assigned_bytes = 1 * GiB;
	fx->vm[1].enforce[ENFORCER_CGROUP] = true;
	fx->vm[0].next = &fx->vm[1];
	d->vms = &fx->vm[0];
	format(fx);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	char cmd[128];

	close(fx->root_fd);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", fx->root);
	assert_int_equal(system(cmd), 0);
	free(fx->text);
	free(fx);
	return 0;
}

/* The metric name a line is about: after "# HELP "/"# TYPE ", or a sample's up to { or space. */
static void name_of(const char *line, char *buf, size_t len)
{
	if (!strncmp(line, "# HELP ", 7) || !strncmp(line, "# TYPE ", 7))
		line += 7;
	snprintf(buf, len, "%.*s", (int)strcspn(line, "{ \n"), line);
}

/* The value of the sample that starts with prefix (name and labels), or NAN if none. */
static double sample(const struct fixture *fx, const char *prefix)
{
	size_t n = strlen(prefix);

	for (const char *l = fx->text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
		if (!strncmp(l, prefix, n) && l[n] == ' ')
			return strtod(l + n + 1, NULL);
	return NAN;
}

static bool has_sample(const struct fixture *fx, const char *prefix)
{
	return !isnan(sample(fx, prefix));
}

/* Every sample's value is a finite number: no NaN, no Inf (Prometheus would take them). */
static bool values_are_finite(const struct fixture *fx)
{
	for (const char *l = fx->text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		const char *end = strchr(l, '\n') ?: l + strlen(l), *v = end;
		double x;

		while (v > l && v[-1] != ' ')
			v--;
		if (l[0] == '#')
			continue;
		x = strtod(v, NULL);
		if (isnan(x) || isinf(x)) {
			fprintf(stderr, "not finite: %.*s\n", (int)(end - l), l);
			return false;
		}
	}
	return true;
}

/*
 * Line by line: every family opens with HELP then TYPE, once; its samples follow, all of
 * them before the next family; every name is dynmem_[a-z0-9_]+; counters end in _total and
 * only counters do.
 */
static void format_follows_the_exposition_format(void **state)
{
	struct fixture *fx = *state;
	char *copy = strdup(fx->text), *save, *line, open[128] = "", type[16] = "";
	char seen[4096] = " ";
	bool after_help = false;
	size_t families = 0, samples = 0;
	regex_t re;

	assert_int_equal(regcomp(&re, "^dynmem_[a-z0-9_]+$", REG_EXTENDED | REG_NOSUB), 0);
	assert_true(fx->len > 0 && fx->text[fx->len - 1] == '\n');
	for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char name[128], key[140];

		name_of(line, name, sizeof(name));
		if (regexec(&re, name, 0, NULL, 0))
			fail_msg("bad metric name in \"%s\"", line);
		if (!strncmp(line, "# HELP ", 7)) {
			snprintf(key, sizeof(key), " %s ", name);
			if (strstr(seen, key))
				fail_msg("%s described twice", name);
			assert_true(strlen(seen) + strlen(key) < sizeof(seen));
			strcat(seen, name);
			strcat(seen, " ");
			snprintf(open, sizeof(open), "%s", name);
			assert_true(strlen(line) > 7 + strlen(name) + 1); /* some help text */
			after_help = true;
			families++;
		} else if (!strncmp(line, "# TYPE ", 7)) {
			if (!after_help || strcmp(name, open))
				fail_msg("TYPE without its HELP just before: \"%s\"", line);
			after_help = false;
			snprintf(type, sizeof(type), "%s", line + 7 + strlen(name) + 1);
			if (strcmp(type, "counter") && strcmp(type, "gauge"))
				fail_msg("unexpected type in \"%s\"", line);
			if (!strcmp(type, "counter") !=
			    (strlen(name) > 6 && !strcmp(name + strlen(name) - 6, "_total")))
				fail_msg("%s is a %s: counters and only counters end in _total",
					 name, type);
		} else {
			if (after_help || strcmp(name, open))
				fail_msg("sample outside its family (open: %s): \"%s\"", open,
					 line);
			samples++;
		}
	}
	regfree(&re);
	free(copy);
	/* 8 host, 13 per VM, one per counter, 2 enforcer families; no observer: no hooks */
	assert_int_equal(families, 8 + 13 + DM_NR_COUNTERS + 2);
	assert_true(samples > families);
	assert_null(strstr(fx->text, "observer_hook_live"));
	assert_null(strstr(fx->text, "observer_lost_events_total"));
}

static void format_says_the_host(void **state)
{
	struct fixture *fx = *state;

	assert_true(sample(fx, "dynmem_host_memory_bytes") == 64.0 * GiB);
	assert_true(sample(fx, "dynmem_host_reserve_bytes") == 2.0 * GiB);
	assert_true(sample(fx, "dynmem_host_budget_bytes") == 61.0 * GiB);
	assert_true(sample(fx, "dynmem_node_budget_bytes{node=\"0\"}") == 30.0 * GiB);
	assert_true(sample(fx, "dynmem_node_budget_bytes{node=\"1\"}") == 31.0 * GiB);
	assert_true(sample(fx, "dynmem_host_overcommitted") == 0);
	assert_true(sample(fx, "dynmem_ticks_total") == 5312);
	assert_true(sample(fx, "dynmem_tick_duration_seconds") == 0.00025);
}

static void format_says_each_vm(void **state)
{
	struct fixture *fx = *state;

	assert_true(sample(fx, "dynmem_vm_assigned_bytes{vm=\"web\"}") == 2.0 * GiB);
	assert_true(sample(fx, "dynmem_vm_demand_bytes{vm=\"web\"}") == 2.5 * GiB);
	assert_true(sample(fx, "dynmem_vm_maximum_bytes{vm=\"web\"}") == 8.0 * GiB);
	assert_true(sample(fx, "dynmem_vm_weight{vm=\"web\"}") == 8000);
	assert_true(sample(fx, "dynmem_vm_buffer_ratio{vm=\"web\"}") == 0.25);
	assert_true(sample(fx, "dynmem_vm_overhead_bytes{vm=\"web\"}") == 180.0 * MiB);
	assert_true(sample(fx, "dynmem_vm_distress{vm=\"web\"}") == 1);
	assert_true(sample(fx, "dynmem_vm_pressure_ratio{vm=\"web\"}") == 1.25);
	assert_true(sample(fx, "dynmem_vm_distress{vm=\"" ODD_NAME_LABEL "\"}") == 0);
}

/* (assigned - demand) / demand: 2G for 2.5G is -0.2; with demand 0 there is no line at all. */
static void availability_ratio(void **state)
{
	struct fixture *fx = *state;
	double web = sample(fx, "dynmem_vm_availability_ratio{vm=\"web\"}");

	assert_false(isnan(web));
	assert_true(fabs(web - -0.2) < 1e-15);
	assert_false(has_sample(fx, "dynmem_vm_availability_ratio{vm=\"" ODD_NAME_LABEL "\"}"));
	/* ... while what is known of it is there (demand / assigned = 0). */
	assert_true(sample(fx, "dynmem_vm_pressure_ratio{vm=\"" ODD_NAME_LABEL "\"}") == 0);

	/*
	 * Nothing assigned yet but a demand: short by all of it (-1), and no pressure ratio
	 * (no division by zero: no Inf or NaN in the file).
	 */
	fx->vm[1].assigned_bytes = 0;
	fx->vm[1].demand.demand_bytes = 512 * MiB;
	format(fx);
	assert_true(sample(fx, "dynmem_vm_availability_ratio{vm=\"" ODD_NAME_LABEL "\"}") == -1);
	assert_false(has_sample(fx, "dynmem_vm_pressure_ratio{vm=\"" ODD_NAME_LABEL "\"}"));
	assert_true(values_are_finite(fx));
}

/* A quote and a backslash in a label value are escaped; the raw name never appears. */
static void label_values_are_escaped(void **state)
{
	struct fixture *fx = *state;

	assert_true(sample(fx, "dynmem_vm_assigned_bytes{vm=\"" ODD_NAME_LABEL "\"}") == 1.0 * GiB);
	assert_null(strstr(fx->text, "{vm=\"" ODD_NAME "\"}"));
	/* A newline too, as \n: the sample stays on one line. */
	snprintf(fx->vm[1].cfg.name, sizeof(fx->vm[1].cfg.name), "two\nlines");
	format(fx);
	assert_true(sample(fx, "dynmem_vm_assigned_bytes{vm=\"two\\nlines\"}") == 1.0 * GiB);
	assert_null(strstr(fx->text, "two\nlines"));
}

/* The observer's counters for the VMs it watches only, named and valued in counter order. */
static void observer_counters(void **state)
{
	struct fixture *fx = *state;

	assert_true(sample(fx, "dynmem_vm_host_faults_total{vm=\"web\"}") == 1000 + DM_HOST_FAULTS);
	assert_true(sample(fx, "dynmem_vm_map_2m_total{vm=\"web\"}") == 1000 + DM_MAP_2M);
	assert_true(sample(fx, "dynmem_vm_alloc_remote_pages_total{vm=\"web\"}") ==
		    1000 + DM_ALLOC_REMOTE);
	assert_true(sample(fx, "dynmem_vm_reclaims_total{vm=\"web\"}") == 1000 + DM_RECLAIMS);
	assert_false(has_sample(fx, "dynmem_vm_host_faults_total{vm=\"" ODD_NAME_LABEL "\"}"));
}

/* One line per VM and enforcer it uses, labelled with the enforcer's name from the table. */
static void enforcer_counters(void **state)
{
	struct fixture *fx = *state;

	assert_true(
		sample(fx, "dynmem_vm_enforcer_actions_total{vm=\"web\",enforcer=\"cgroup\"}") ==
		7);
	assert_true(
		sample(fx, "dynmem_vm_enforcer_actions_total{vm=\"web\",enforcer=\"balloon\"}") ==
		3);
	assert_true(
		sample(fx, "dynmem_vm_enforcer_errors_total{vm=\"web\",enforcer=\"balloon\"}") ==
		2);
	assert_true(sample(fx, "dynmem_vm_enforcer_errors_total{vm=\"web\",enforcer=\"cgroup\"}") ==
		    0);
	assert_false(
		has_sample(fx, "dynmem_vm_enforcer_actions_total{vm=\"web\",enforcer=\"numa\"}"));
	assert_true(sample(fx, "dynmem_vm_enforcer_actions_total{vm=\"" ODD_NAME_LABEL
			       "\",enforcer=\"cgroup\"}") == 0);
}

/* prom_format says when its stream failed. */
static void format_reports_a_failed_stream(void **state)
{
	struct fixture *fx = *state;
	FILE *ro = fopen("/dev/null", "r");

	assert_non_null(ro);
	assert_int_equal(prom_format(ro, &fx->d), -EIO);
	fclose(ro);
}

/* promtool, as node_exporter's users would check the file. Missing promtool is a failure. */
static void promtool_accepts_it(void **state)
{
	struct fixture *fx = *state;
	char cmd[256], out[128], report[4096] = "";
	int status;
	FILE *p, *r;
	size_t n;

	if (system("command -v promtool >/dev/null 2>&1"))
		fail_msg("promtool is not installed (Debian package prometheus): run "
			 "scripts/deps.sh");
	snprintf(out, sizeof(out), "%s/promtool.out", fx->root);
	snprintf(cmd, sizeof(cmd), "promtool check metrics >%s 2>&1", out);
	p = popen(cmd, "w");
	assert_non_null(p);
	assert_int_equal(fwrite(fx->text, 1, fx->len, p), fx->len);
	status = pclose(p);
	r = fopen(out, "r");
	assert_non_null(r);
	n = fread(report, 1, sizeof(report) - 1, r);
	report[n] = '\0';
	fclose(r);
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		fail_msg("promtool check metrics exited %d:\n%s", status, report);
}

/* The names in dir, sorted, space-separated: to see what a write left behind. */
static const char *listing(const char *dir)
{
	static char buf[1024];
	struct dirent **names;
	int n = scandir(dir, &names, NULL, alphasort);

	buf[0] = '\0';
	assert_true(n >= 0);
	for (int i = 0; i < n; i++) {
		if (names[i]->d_name[0] != '.') {
			strcat(buf, buf[0] ? " " : "");
			strcat(buf, names[i]->d_name);
		}
		free(names[i]);
	}
	free(names);
	return buf;
}

static char *read_all(const char *path)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = fopen(path, "r"), *mem = open_memstream(&text, &len);
	int c;

	assert_non_null(f);
	while ((c = fgetc(f)) != EOF)
		fputc(c, mem);
	fclose(mem);
	fclose(f);
	return text;
}

/*
 * The file: 0644 whatever the umask, node_exporter must read it; a new inode renamed over
 * the old one, which a scraper still holding it sees unchanged; no temp file left.
 */
static void write_renames_0644(void **state)
{
	struct fixture *fx = *state;
	char path[128], old[128], *text;
	struct stat before, after;
	mode_t mask;

	snprintf(path, sizeof(path), "%s/dynmem.prom", fx->root);
	snprintf(old, sizeof(old), "%s/old", fx->root);
	mask = umask(077);
	assert_int_equal(prom_write(path, &fx->d), 0);
	assert_int_equal(stat(path, &before), 0);
	assert_int_equal(before.st_mode & 07777, 0644);
	text = read_all(path);
	assert_string_equal(text, fx->text);
	free(text);

	assert_int_equal(link(path, old), 0);
	fx->d.ticks = 5313;
	assert_int_equal(prom_write(path, &fx->d), 0);
	umask(mask);
	assert_int_equal(stat(path, &after), 0);
	assert_int_not_equal(after.st_ino, before.st_ino);
	assert_int_equal(after.st_mode & 07777, 0644);
	text = read_all(old);
	assert_non_null(strstr(text, "dynmem_ticks_total 5312\n"));
	free(text);
	text = read_all(path);
	assert_non_null(strstr(text, "dynmem_ticks_total 5313\n"));
	free(text);
	/* No temp file left: the enforcers' fixture, the file and the link, nothing else. */
	assert_string_equal(listing(fx->root), "cgroup.controllers dynmem.prom old");
}

static void write_fails_cleanly(void **state)
{
	struct fixture *fx = *state;
	char path[256], dir[128];
	struct stat st;

	snprintf(dir, sizeof(dir), "%s/no-such-dir", fx->root);
	snprintf(path, sizeof(path), "%s/dynmem.prom", dir);
	assert_int_equal(prom_write(path, &fx->d), -ENOENT);
	assert_int_not_equal(stat(dir, &st), 0);
	assert_string_equal(listing(fx->root), "cgroup.controllers");
	/* The rename fails (a directory is in the way): the temp file is removed. */
	snprintf(path, sizeof(path), "%s/dynmem.prom", fx->root);
	assert_int_equal(mkdir(path, 0755), 0);
	assert_int_equal(prom_write(path, &fx->d), -EISDIR);
	assert_string_equal(listing(fx->root), "cgroup.controllers dynmem.prom");
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(format_follows_the_exposition_format),
		T(format_says_the_host),
		T(format_says_each_vm),
		T(availability_ratio),
		T(label_values_are_escaped),
		T(observer_counters),
		T(enforcer_counters),
		T(format_reports_a_failed_stream),
		T(promtool_accepts_it),
		T(write_renames_0644),
		T(write_fails_cleanly),
	};

	return cmocka_run_group_tests_name("prom: the Prometheus textfile", tests, NULL, NULL);
}
