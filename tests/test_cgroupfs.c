// SPDX-License-Identifier: GPL-2.0-only
/*
 * Unit tests for user/cgroupfs.c without touching the real cgroup tree: mountinfo files
 * are written at test time into a temp dir T, and their mount points point into T, so
 * cgroupfs_resolve() stats real (plain) directories:
 *
 *   T/            tmpfs in mountinfo, as /sys/fs/cgroup is on a hybrid host
 *   T/unified     cgroup2; holds a/b/ and a/file
 *   T/memory      cgroup (v1)
 *   T/cpu,cpuacct cgroup (v1)
 *   T/with space/cg2  cgroup2 in another mountinfo, escaped as \040; holds vm/
 */
#include <errno.h>
#include <ftw.h>
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
#include "cgroupfs.h"

static char tmp[] = "/tmp/dynmem-cgroupfs-XXXXXX";
static char mi_hybrid[PATH_MAX], mi_v1_only[PATH_MAX], mi_space[PATH_MAX];
static char unified[PATH_MAX]; /* T/unified, the cgroup2 mount of mi_hybrid */

/* T/<rel>; fails the test rather than quietly use a truncated path. */
static void tpath(char *buf, size_t len, const char *rel)
{
	if ((size_t)snprintf(buf, len, "%s/%s", tmp, rel) >= len)
		fail_msg("path too long: %s/%s", tmp, rel);
}

static int make_dir(const char *rel)
{
	char path[PATH_MAX];

	tpath(path, sizeof(path), rel);
	return mkdir(path, 0755);
}

static int write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -1;
	fputs(text, f);
	return fclose(f);
}

/*
 * A hybrid host: "/" and a tmpfs at T, v1 controllers listed before the cgroup2 mount (so
 * "first cgroup-ish line" is wrong), one line without optional fields (the "-" separator
 * right after the options) and one with two.
 */
static int write_mountinfo_hybrid(void)
{
	FILE *f = fopen(mi_hybrid, "w");

	if (!f)
		return -1;
	fprintf(f, "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw,errors=remount-ro\n");
	fprintf(f, "24 22 0:21 / %s ro,nosuid,nodev,noexec shared:4 - tmpfs tmpfs ro,mode=755\n",
		tmp);
	fprintf(f,
		"27 24 0:24 / %s/memory rw,nosuid,nodev,noexec,relatime shared:7 master:1 "
		"- cgroup cgroup rw,memory\n",
		tmp);
	fprintf(f,
		"28 24 0:25 / %s/cpu,cpuacct rw,nosuid,nodev,noexec,relatime - cgroup cgroup "
		"rw,cpu,cpuacct\n",
		tmp);
	fprintf(f,
		"25 24 0:22 / %s/unified rw,nosuid,nodev,noexec,relatime shared:5 - cgroup2 "
		"cgroup2 rw,nsdelegate\n",
		tmp);
	fprintf(f, "40 22 0:35 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw\n");
	return fclose(f);
}

/* A pure v1 host (old distributions): controllers only. */
static int write_mountinfo_v1_only(void)
{
	FILE *f = fopen(mi_v1_only, "w");

	if (!f)
		return -1;
	fprintf(f, "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n");
	fprintf(f, "24 22 0:21 / %s ro,nosuid shared:4 - tmpfs tmpfs ro,mode=755\n", tmp);
	fprintf(f, "27 24 0:24 / %s/memory rw,relatime shared:7 - cgroup cgroup rw,memory\n", tmp);
	return fclose(f);
}

/* The kernel writes a blank in a mount point as \040 (show_mountinfo() -> mangle()). */
static int write_mountinfo_space(void)
{
	FILE *f = fopen(mi_space, "w");

	if (!f)
		return -1;
	fprintf(f, "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n");
	fprintf(f, "31 22 0:26 / %s/with\\040space/cg2 rw,relatime shared:9 - cgroup2 cgroup2 rw\n",
		tmp);
	return fclose(f);
}

static int setup(void **state)
{
	static const char *const dirs[] = { "unified",	  "unified/a",	    "unified/a/b",
					    "memory",	  "memory/vm",	    "cpu,cpuacct",
					    "with space", "with space/cg2", "with space/cg2/vm",
					    "scratch" };
	char path[PATH_MAX];

	(void)state;
	if (!mkdtemp(tmp))
		return -1;
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		if (make_dir(dirs[i]))
			return -1;
	tpath(unified, sizeof(unified), "unified");
	tpath(path, sizeof(path), "unified/a/file");
	tpath(mi_hybrid, sizeof(mi_hybrid), "mountinfo-hybrid");
	tpath(mi_v1_only, sizeof(mi_v1_only), "mountinfo-v1");
	tpath(mi_space, sizeof(mi_space), "mountinfo-space");
	if (write_file(path, "not a cgroup\n") || write_mountinfo_hybrid() ||
	    write_mountinfo_v1_only() || write_mountinfo_space())
		return -1;
	return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int teardown(void **state)
{
	(void)state;
	return nftw(tmp, remove_entry, 16, FTW_DEPTH | FTW_PHYS) ? -1 : 0;
}

static void find_mount_cgroup2_among_v1(void **state)
{
	char mount[PATH_MAX];

	(void)state;
	assert_int_equal(cgroupfs_find_mount(mi_hybrid, mount, sizeof(mount)), 0);
	assert_string_equal(mount, unified);
}

/* A buffer one byte short must be refused, not overrun. */
static void find_mount_buffer_too_small(void **state)
{
	char mount[PATH_MAX];

	(void)state;
	memset(mount, 'x', sizeof(mount));
	assert_int_equal(cgroupfs_find_mount(mi_hybrid, mount, strlen(unified)), -ENAMETOOLONG);
	assert_int_equal(mount[strlen(unified)], 'x');
	assert_int_equal(cgroupfs_find_mount(mi_hybrid, mount, strlen(unified) + 1), 0);
	assert_string_equal(mount, unified);
}

static void no_cgroup2_is_enodev(void **state)
{
	char mount[PATH_MAX], path[PATH_MAX];

	(void)state;
	assert_int_equal(cgroupfs_find_mount(mi_v1_only, mount, sizeof(mount)), -ENODEV);
	assert_int_equal(cgroupfs_resolve(mi_v1_only, "vm", path, sizeof(path)), -ENODEV);
}

static void missing_mountinfo_is_enoent(void **state)
{
	char mount[PATH_MAX], mi[PATH_MAX];

	(void)state;
	tpath(mi, sizeof(mi), "no-such-mountinfo");
	assert_int_equal(cgroupfs_find_mount(mi, mount, sizeof(mount)), -ENOENT);
}

/*
 * T/memory/vm exists, but in a v1 hierarchy: say so instead of the misleading -ENOENT
 * of looking for it under the cgroup2 mount.
 */
static void v1_path_is_emediumtype(void **state)
{
	char name[PATH_MAX], path[PATH_MAX];

	(void)state;
	tpath(name, sizeof(name), "memory/vm");
	assert_int_equal(cgroupfs_resolve(mi_hybrid, name, path, sizeof(path)), -EMEDIUMTYPE);
	tpath(name, sizeof(name), "memory");
	assert_int_equal(cgroupfs_resolve(mi_hybrid, name, path, sizeof(path)), -EMEDIUMTYPE);
	tpath(name, sizeof(name), "cpu,cpuacct/");
	assert_int_equal(cgroupfs_resolve(mi_hybrid, name, path, sizeof(path)), -EMEDIUMTYPE);
}

/* "T/memoryX" shares a prefix with the v1 mount T/memory but is not under it. */
static void v1_match_stops_at_component(void **state)
{
	char name[PATH_MAX], path[PATH_MAX];

	(void)state;
	tpath(name, sizeof(name), "memoryX");
	assert_int_equal(cgroupfs_resolve(mi_hybrid, name, path, sizeof(path)), -ENOENT);
}

static void absolute_under_mount_as_is(void **state)
{
	char name[PATH_MAX], want[PATH_MAX], path[PATH_MAX];

	(void)state;
	tpath(want, sizeof(want), "unified/a/b");
	tpath(name, sizeof(name), "unified/a/b");
	assert_int_equal(cgroupfs_resolve(mi_hybrid, name, path, sizeof(path)), 0);
	assert_string_equal(path, want);

	/* Trailing slashes, as shell completion adds them, are stripped. */
	tpath(name, sizeof(name), "unified/a/b//");
	memset(path, 0, sizeof(path));
	assert_int_equal(cgroupfs_resolve(mi_hybrid, name, path, sizeof(path)), 0);
	assert_string_equal(path, want);

	/* The mount itself is the root cgroup. */
	tpath(name, sizeof(name), "unified/");
	assert_int_equal(cgroupfs_resolve(mi_hybrid, name, path, sizeof(path)), 0);
	assert_string_equal(path, unified);
}

/* "a/b" and "/a/b" (the form /proc/PID/cgroup shows) are relative to the cgroup2 mount. */
static void relative_joined_to_mount(void **state)
{
	char want[PATH_MAX], path[PATH_MAX];

	(void)state;
	tpath(want, sizeof(want), "unified/a/b");
	assert_int_equal(cgroupfs_resolve(mi_hybrid, "a/b", path, sizeof(path)), 0);
	assert_string_equal(path, want);
	memset(path, 0, sizeof(path));
	assert_int_equal(cgroupfs_resolve(mi_hybrid, "/a/b", path, sizeof(path)), 0);
	assert_string_equal(path, want);
	assert_int_equal(cgroupfs_resolve(mi_hybrid, "/a/b/", path, sizeof(path)), 0);
	assert_string_equal(path, want);
	/* "/" is the root cgroup, as /proc/PID/cgroup shows it for init. */
	assert_int_equal(cgroupfs_resolve(mi_hybrid, "/", path, sizeof(path)), 0);
	assert_string_equal(path, unified);
}

static void nonexistent_is_enoent(void **state)
{
	char name[PATH_MAX], path[PATH_MAX];

	(void)state;
	assert_int_equal(cgroupfs_resolve(mi_hybrid, "a/nope", path, sizeof(path)), -ENOENT);
	assert_int_equal(cgroupfs_resolve(mi_hybrid, "/nope", path, sizeof(path)), -ENOENT);
	tpath(name, sizeof(name), "unified/nope");
	assert_int_equal(cgroupfs_resolve(mi_hybrid, name, path, sizeof(path)), -ENOENT);
}

static void regular_file_is_enotdir(void **state)
{
	char name[PATH_MAX], path[PATH_MAX];

	(void)state;
	assert_int_equal(cgroupfs_resolve(mi_hybrid, "a/file", path, sizeof(path)), -ENOTDIR);
	tpath(name, sizeof(name), "unified/a/file");
	assert_int_equal(cgroupfs_resolve(mi_hybrid, name, path, sizeof(path)), -ENOTDIR);
}

/* The result must fit the caller's buffer, terminator included. */
static void resolve_buffer_too_small(void **state)
{
	char want[PATH_MAX], path[PATH_MAX];

	(void)state;
	tpath(want, sizeof(want), "unified/a/b");
	assert_int_equal(cgroupfs_resolve(mi_hybrid, "a/b", path, strlen(want)), -ENAMETOOLONG);
	assert_int_equal(cgroupfs_resolve(mi_hybrid, "a/b", path, strlen(want) + 1), 0);
	assert_string_equal(path, want);
}

static void mount_point_with_escaped_space(void **state)
{
	char want[PATH_MAX], path[PATH_MAX];

	(void)state;
	tpath(want, sizeof(want), "with space/cg2");
	assert_int_equal(cgroupfs_find_mount(mi_space, path, sizeof(path)), 0);
	assert_string_equal(path, want);

	tpath(want, sizeof(want), "with space/cg2/vm");
	assert_int_equal(cgroupfs_resolve(mi_space, "vm", path, sizeof(path)), 0);
	assert_string_equal(path, want);
	/* The unescaped absolute path is recognised as under the mount, not joined to it. */
	assert_int_equal(cgroupfs_resolve(mi_space, want, path, sizeof(path)), 0);
	assert_string_equal(path, want);
}

static int is_dir(const char *path)
{
	struct stat st;

	return !stat(path, &st) && S_ISDIR(st.st_mode);
}

/* Tests and scripts re-run after a crash: creating what exists, removing what is gone is fine. */
static void create_remove_idempotent(void **state)
{
	char path[PATH_MAX];

	(void)state;
	tpath(path, sizeof(path), "scratch/vm1");
	assert_int_equal(cgroupfs_create(path), 0);
	assert_true(is_dir(path));
	assert_int_equal(cgroupfs_create(path), 0);
	assert_true(is_dir(path));
	assert_int_equal(cgroupfs_remove(path), 0);
	assert_false(is_dir(path));
	assert_int_equal(cgroupfs_remove(path), 0);
}

/* Idempotence must not hide real failures. */
static void create_remove_real_errors(void **state)
{
	char path[PATH_MAX], child[PATH_MAX];

	(void)state;
	tpath(path, sizeof(path), "scratch/no-parent/vm");
	assert_int_equal(cgroupfs_create(path), -ENOENT);

	/* A cgroup with children (or tasks: EBUSY on cgroupfs) stays, and says why. */
	tpath(path, sizeof(path), "scratch/parent");
	tpath(child, sizeof(child), "scratch/parent/child");
	assert_int_equal(cgroupfs_create(path), 0);
	assert_int_equal(cgroupfs_create(child), 0);
	assert_int_equal(cgroupfs_remove(path), -ENOTEMPTY);
	assert_true(is_dir(path));
	assert_int_equal(cgroupfs_remove(child), 0);
	assert_int_equal(cgroupfs_remove(path), 0);
}

static void move_pid_writes_cgroup_procs(void **state)
{
	char dir[PATH_MAX], procs[PATH_MAX + 16], got[64] = "", want[32];
	pid_t pid = getpid();
	FILE *f;
	size_t n;

	(void)state;
	tpath(dir, sizeof(dir), "scratch/vm2");
	assert_int_equal(cgroupfs_create(dir), 0);
	snprintf(procs, sizeof(procs), "%s/cgroup.procs", dir);
	assert_int_equal(write_file(procs, ""), 0);

	assert_int_equal(cgroupfs_move_pid(dir, pid), 0);
	f = fopen(procs, "r");
	assert_non_null(f);
	n = fread(got, 1, sizeof(got) - 1, f);
	fclose(f);
	got[n] = '\0';
	/* One write of "PID\n": cgroupfs takes one pid per write, newline-terminated. */
	snprintf(want, sizeof(want), "%d\n", (int)pid);
	assert_string_equal(got, want);
}

/* cgroup.procs always exists in a cgroup: a directory without it is not one, don't create it. */
static void move_pid_needs_cgroup_procs(void **state)
{
	char dir[PATH_MAX], procs[PATH_MAX + 16];

	(void)state;
	tpath(dir, sizeof(dir), "scratch/vm3");
	assert_int_equal(cgroupfs_create(dir), 0);
	assert_int_equal(cgroupfs_move_pid(dir, getpid()), -ENOENT);
	snprintf(procs, sizeof(procs), "%s/cgroup.procs", dir);
	assert_int_equal(access(procs, F_OK), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(find_mount_cgroup2_among_v1),
		cmocka_unit_test(find_mount_buffer_too_small),
		cmocka_unit_test(no_cgroup2_is_enodev),
		cmocka_unit_test(missing_mountinfo_is_enoent),
		cmocka_unit_test(v1_path_is_emediumtype),
		cmocka_unit_test(v1_match_stops_at_component),
		cmocka_unit_test(absolute_under_mount_as_is),
		cmocka_unit_test(relative_joined_to_mount),
		cmocka_unit_test(nonexistent_is_enoent),
		cmocka_unit_test(regular_file_is_enotdir),
		cmocka_unit_test(resolve_buffer_too_small),
		cmocka_unit_test(mount_point_with_escaped_space),
		cmocka_unit_test(create_remove_idempotent),
		cmocka_unit_test(create_remove_real_errors),
		cmocka_unit_test(move_pid_writes_cgroup_procs),
		cmocka_unit_test(move_pid_needs_cgroup_procs),
	};

	return cmocka_run_group_tests_name("cgroupfs", tests, setup, teardown);
}
