// SPDX-License-Identifier: GPL-2.0-only
/*
 * What `dynmem set` keeps across restarts (user/overrides.c): Hyper-V's rule for a running
 * VM (overrides_check), the STATE_DIR/NAME.set files (overrides_save) and applying them over
 * a config loaded from a file (overrides_apply), one bad file spoiling only its own VM.
 * Everything happens in a temp directory: the config file, the state directory.
 */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cmocka.h>
#include "config.h"
#include "overrides.h"

#define MiB (1ULL << 20)
#define GiB (1ULL << 30)

struct fixture {
	char root[64];
	char state[128]; /* root/state: not there until something creates it */
	struct config cfg;
};

static void put(const char *dir, const char *file, const char *text)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static char *get(const char *dir, const char *file)
{
	static char buf[4096];
	char path[4096];
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	f = fopen(path, "r");
	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* Three VMs, in this order; web and db have a minimum below startup so it can go down. */
static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	char conf[8192], err[1024];
	int rc;

	strcpy(fx->root, "/tmp/dynmem-overrides-XXXXXX");
	assert_non_null(mkdtemp(fx->root));
	snprintf(fx->state, sizeof(fx->state), "%s/state", fx->root);
	snprintf(conf, sizeof(conf),
		 "[host]\n"
		 "state-dir = %s\n"
		 "\n"
		 "[vm web]\n"
		 "cgroup = machine.slice/web.scope\n"
		 "startup = 2G\n"
		 "minimum = 1G\n"
		 "maximum = 8G\n"
		 "\n"
		 "[vm db]\n"
		 "cgroup = machine.slice/db.scope\n"
		 "startup = 4G\n"
		 "minimum = 2G\n"
		 "maximum = 16G\n"
		 "buffer = 10\n"
		 "weight = 9000\n"
		 "\n"
		 "[vm idle]\n"
		 "cgroup = machine.slice/idle.scope\n"
		 "startup = 1G\n"
		 "maximum = 2G\n",
		 fx->state);
	put(fx->root, "dynmem.conf", conf);
	snprintf(conf, sizeof(conf), "%s/dynmem.conf", fx->root);
	rc = config_load(conf, &fx->cfg, err, sizeof(err));
	if (rc)
		fail_msg("config_load: %d %s", rc, err);
	assert_int_equal(fx->cfg.nr_vms, 3);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	char cmd[128];

	config_free(&fx->cfg);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", fx->root);
	assert_int_equal(system(cmd), 0);
	free(fx);
	return 0;
}

static struct config_vm *vm_named(struct fixture *fx, const char *name)
{
	for (size_t i = 0; i < fx->cfg.nr_vms; i++)
		if (!strcmp(fx->cfg.vms[i].name, name))
			return &fx->cfg.vms[i];
	fail_msg("no VM %s", name);
	return NULL;
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

/* ---- overrides_check: minimum down, maximum up, nothing else of the sizes ---- */

static void check_minimum_down_only(void **state)
{
	struct fixture *fx = *state;
	struct config_vm *now = vm_named(fx, "web"), wanted = *now;
	char err[512] = "";

	wanted.minimum_bytes = 512 * MiB;
	assert_int_equal(overrides_check(now, &wanted, "minimum", err, sizeof(err)), 0);
	wanted.minimum_bytes = now->minimum_bytes; /* unchanged is not up */
	assert_int_equal(overrides_check(now, &wanted, "minimum", err, sizeof(err)), 0);
	wanted.minimum_bytes = now->minimum_bytes + MiB;
	assert_int_equal(overrides_check(now, &wanted, "minimum", err, sizeof(err)), -EPERM);
	assert_non_null(strstr(err, "minimum can only go down"));
}

static void check_maximum_up_only(void **state)
{
	struct fixture *fx = *state;
	struct config_vm *now = vm_named(fx, "web"), wanted = *now;
	char err[512] = "";

	wanted.maximum_bytes = 16 * GiB;
	assert_int_equal(overrides_check(now, &wanted, "maximum", err, sizeof(err)), 0);
	wanted.maximum_bytes = now->maximum_bytes; /* unchanged is not down */
	assert_int_equal(overrides_check(now, &wanted, "maximum", err, sizeof(err)), 0);
	wanted.maximum_bytes = now->maximum_bytes - MiB;
	assert_int_equal(overrides_check(now, &wanted, "maximum", err, sizeof(err)), -EPERM);
	assert_non_null(strstr(err, "maximum can only go up"));
}

static void check_free_keys(void **state)
{
	static const char *const keys[] = { "buffer", "weight", "numa" };
	struct fixture *fx = *state;
	struct config_vm *now = vm_named(fx, "db"), wanted = *now;
	char err[512] = "";

	wanted.buffer_pct = 50;
	wanted.weight = 100;
	wanted.numa = 1;
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(overrides_check(now, &wanted, keys[i], err, sizeof(err)), 0);
}

/* Not settable while it runs, even with the very same value: the message names the key. */
static void check_other_keys_refused(void **state)
{
	static const char *const keys[] = { "startup", "cgroup", "qmp", "enforcers", "colour" };
	struct fixture *fx = *state;
	struct config_vm *now = vm_named(fx, "web");
	char err[512];

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		char want[64];

		err[0] = '\0';
		assert_int_equal(overrides_check(now, now, keys[i], err, sizeof(err)), -EPERM);
		snprintf(want, sizeof(want), "%s cannot change while the VM runs", keys[i]);
		if (strncmp(err, want, strlen(want)))
			fail_msg("%s refused with \"%s\"", keys[i], err);
	}
}

/* ---- overrides_save ---- */

static void save_creates_the_file(void **state)
{
	struct fixture *fx = *state;
	struct stat st;

	assert_int_not_equal(stat(fx->state, &st), 0); /* the state dir is made on first use */
	assert_int_equal(overrides_save(fx->state, "web", "weight", "7000"), 0);
	assert_string_equal(listing(fx->state), "web.set");
	assert_string_equal(
		get(fx->state, "web.set"),
		"# dynmem set web: applied over the config file; delete to go back to it\n"
		"weight = 7000\n");
}

static void save_merges_keys(void **state)
{
	struct fixture *fx = *state;
	const char *text;

	assert_int_equal(overrides_save(fx->state, "web", "weight", "7000"), 0);
	assert_int_equal(overrides_save(fx->state, "web", "minimum", "512M"), 0);
	assert_int_equal(overrides_save(fx->state, "web", "buffer", "30"), 0);
	assert_int_equal(overrides_save(fx->state, "web", "weight", "100"), 0);
	text = get(fx->state, "web.set");
	/* The key set again replaces its line (moved last); the others stay as they were. */
	assert_string_equal(
		text, "# dynmem set web: applied over the config file; delete to go back to it\n"
		      "minimum = 512M\n"
		      "buffer = 30\n"
		      "weight = 100\n");
	/* Another VM has a file of its own. */
	assert_int_equal(overrides_save(fx->state, "db", "weight", "1"), 0);
	assert_string_equal(listing(fx->state), "db.set web.set");
	assert_null(strstr(get(fx->state, "web.set"), "weight = 1\n"));
}

/* A new file renamed over the old one: a reader sees one or the other, never a mix. */
static void save_is_atomic(void **state)
{
	struct fixture *fx = *state;
	char path[256], old[300];
	struct stat before, after, kept;

	assert_int_equal(overrides_save(fx->state, "web", "weight", "7000"), 0);
	snprintf(path, sizeof(path), "%s/web.set", fx->state);
	snprintf(old, sizeof(old), "%s/../old", fx->state);
	assert_int_equal(link(path, old), 0); /* keep the first file's inode in hand */
	assert_int_equal(stat(path, &before), 0);
	assert_int_equal(overrides_save(fx->state, "web", "weight", "100"), 0);
	assert_int_equal(stat(path, &after), 0);
	assert_int_equal(stat(old, &kept), 0);
	assert_int_not_equal(before.st_ino, after.st_ino);
	assert_int_equal(kept.st_ino, before.st_ino);
	assert_non_null(strstr(get(fx->root, "old"), "weight = 7000\n")); /* not rewritten */
	assert_string_equal(listing(fx->state), "web.set");		  /* no .tmp left */
}

static void save_fails_cleanly(void **state)
{
	struct fixture *fx = *state;
	char dir[256];

	/* The state dir's parent is missing: mkdir cannot make it, the write fails. */
	snprintf(dir, sizeof(dir), "%s/no/such/state", fx->root);
	assert_int_equal(overrides_save(dir, "web", "weight", "1"), -ENOENT);
	assert_string_equal(listing(fx->root), "dynmem.conf");
	/* The rename fails (a directory is in the way): the temp file goes too. */
	assert_int_equal(mkdir(fx->state, 0755), 0);
	snprintf(dir, sizeof(dir), "%s/web.set", fx->state);
	assert_int_equal(mkdir(dir, 0755), 0);
	assert_int_equal(overrides_save(fx->state, "web", "weight", "1"), -EISDIR);
	assert_string_equal(listing(fx->state), "web.set");
}

/* ---- overrides_apply ---- */

static void apply_without_files(void **state)
{
	struct fixture *fx = *state;
	struct config_vm before[3];
	char err[512] = "";

	memcpy(before, fx->cfg.vms, sizeof(before));
	/* No state dir at all, then an empty one: nothing to apply, nothing wrong. */
	assert_int_equal(overrides_apply(fx->state, &fx->cfg, err, sizeof(err)), 0);
	mkdir(fx->state, 0755);
	assert_int_equal(overrides_apply(fx->state, &fx->cfg, err, sizeof(err)), 0);
	assert_memory_equal(before, fx->cfg.vms, sizeof(before));
	assert_string_equal(err, "");
}

static void apply_saved_overrides(void **state)
{
	struct fixture *fx = *state;
	char err[512] = "";

	assert_int_equal(overrides_save(fx->state, "web", "minimum", "512M"), 0);
	assert_int_equal(overrides_save(fx->state, "web", "buffer", "30"), 0);
	assert_int_equal(overrides_save(fx->state, "idle", "numa", "1"), 0);
	assert_int_equal(overrides_apply(fx->state, &fx->cfg, err, sizeof(err)), 0);
	assert_int_equal(vm_named(fx, "web")->minimum_bytes, 512 * MiB);
	assert_int_equal(vm_named(fx, "web")->buffer_pct, 30);
	assert_int_equal(vm_named(fx, "web")->maximum_bytes, 8 * GiB); /* untouched */
	/* Pinned to a node: the inherited enforcers are worked out again, numa added. */
	assert_int_equal(vm_named(fx, "idle")->numa, 1);
	assert_true(vm_named(fx, "idle")->enforcers & CONFIG_ENFORCE_NUMA);
	assert_int_equal(vm_named(fx, "db")->weight, 9000);
}

/*
 * db's file has a good line, then a bad one (line 3, counting the comment): the whole file
 * is skipped and said with FILE:LINE; web before it and idle after it still apply.
 */
static void apply_bad_file_spoils_only_its_vm(void **state)
{
	struct fixture *fx = *state;
	char err[1024] = "", want[256];

	mkdir(fx->state, 0755);
	put(fx->state, "web.set", "# dynmem set web\nweight = 7000\n");
	put(fx->state, "db.set", "# dynmem set db\nbuffer = 50\nweight = 12000\n");
	put(fx->state, "idle.set", "# dynmem set idle\nweight = 100\n");
	assert_int_equal(overrides_apply(fx->state, &fx->cfg, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s/db.set:3: ", fx->state);
	if (strncmp(err, want, strlen(want)))
		fail_msg("err \"%s\" does not start with \"%s\"", err, want);
	assert_non_null(strstr(err, "weight = 12000: must be 0..10000"));
	assert_int_equal(vm_named(fx, "db")->weight, 9000);
	assert_int_equal(vm_named(fx, "db")->buffer_pct, 10); /* its good line too */
	assert_int_equal(vm_named(fx, "web")->weight, 7000);
	assert_int_equal(vm_named(fx, "idle")->weight, 100);
}

/* Each line valid, the whole not (minimum above startup): said with the file, VM kept. */
static void apply_file_that_breaks_the_vm(void **state)
{
	struct fixture *fx = *state;
	char err[1024] = "", want[256];

	mkdir(fx->state, 0755);
	put(fx->state, "web.set", "minimum = 3G\n");
	assert_int_equal(overrides_apply(fx->state, &fx->cfg, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s/web.set: ", fx->state);
	if (strncmp(err, want, strlen(want)))
		fail_msg("err \"%s\" does not start with \"%s\"", err, want);
	assert_non_null(strstr(err, "must not exceed startup"));
	assert_int_equal(vm_named(fx, "web")->minimum_bytes, 1 * GiB);
}

/* Two bad files: both VMs keep their config, err names the first; the third still applies. */
static void apply_reports_the_first_error(void **state)
{
	struct fixture *fx = *state;
	char err[1024] = "";

	mkdir(fx->state, 0755);
	put(fx->state, "web.set", "buffer = 1\n");
	put(fx->state, "db.set", "weight = 12000\n");
	put(fx->state, "idle.set", "weight = 100\n");
	assert_int_equal(overrides_apply(fx->state, &fx->cfg, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "web.set:1: "));
	assert_null(strstr(err, "db.set"));
	assert_int_equal(vm_named(fx, "web")->buffer_pct, 20);
	assert_int_equal(vm_named(fx, "db")->weight, 9000);
	assert_int_equal(vm_named(fx, "idle")->weight, 100);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(check_minimum_down_only),
		T(check_maximum_up_only),
		T(check_free_keys),
		T(check_other_keys_refused),
		T(save_creates_the_file),
		T(save_merges_keys),
		T(save_is_atomic),
		T(save_fails_cleanly),
		T(apply_without_files),
		T(apply_saved_overrides),
		T(apply_bad_file_spoils_only_its_vm),
		T(apply_file_that_breaks_the_vm),
		T(apply_reports_the_first_error),
	};

	return cmocka_run_group_tests_name("overrides: dynmem set's rules and files", tests, NULL,
					   NULL);
}
