// SPDX-License-Identifier: GPL-2.0-only
/*
 * The VMM's overhead is the Anonymous bytes of the VM's processes' mappings smaller than its
 * minimum (guest RAM is the large ones) plus the kernel memory charged to its cgroup
 * (user/overhead.c). These tests feed it /proc/PID/smaps text and memory.stat files:
 * tests/fixtures/overhead/qemu.smaps is a QEMU's, trimmed to eight mappings:
 *
 *   mapping                         size       Rss
 *   qemu-system-x86_64 text         2 MiB      1900 kB
 *   [heap]                          34112 kB   30128 kB
 *   guest RAM (anonymous)           2 GiB      1572864 kB (1.5 GiB)
 *   VGA vram (anonymous)            16 MiB     8192 kB
 *   thread arena (anonymous)        64 MiB     2112 kB
 *   libc.so.6, two mappings         160 kB + 1620 kB, 160 + 1104 kB
 *   [stack]                         132 kB     48 kB
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cmocka.h>
#include "overhead.h"

#define KiB (1ULL << 10)
#define MiB (1ULL << 20)
#define GiB (1ULL << 30)

#define GUEST_RSS (1572864 * KiB)
#define ARENA_RSS (2112 * KiB)
#define VRAM_RSS  (8192 * KiB)
#define HEAP_RSS  (30128 * KiB)
#define SMALL_RSS ((1900 + 160 + 1104 + 48) * KiB) /* text, libc, stack */
#define STACK_RSS (48 * KiB)
/* What QEMU holds of its own with guest RAM at 1 GiB and up: anonymous, not text or libc. */
#define OWN_ANON (HEAP_RSS + VRAM_RSS + ARENA_RSS + STACK_RSS)

static char fixtures[PATH_MAX];

/*
 * The fixtures live in the source tree: $DYNMEM_FIXTURES, ./tests/fixtures when run from the
 * top directory (make), else found from the binary's place in .output/tests/.
 */
static int find_fixtures(void **state)
{
	const char *env = getenv("DYNMEM_FIXTURES");
	char exe[PATH_MAX];
	struct stat st;
	ssize_t n;

	(void)state;
	if (env) {
		snprintf(fixtures, sizeof(fixtures), "%s/overhead", env);
	} else if (!stat("tests/fixtures/overhead", &st)) {
		snprintf(fixtures, sizeof(fixtures), "tests/fixtures/overhead");
	} else {
		n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
		if (n < 0)
			return -1;
		exe[n] = '\0';
		*strrchr(exe, '/') = '\0';
		if (snprintf(fixtures, sizeof(fixtures), "%s/../../tests/fixtures/overhead", exe) >=
		    (int)sizeof(fixtures))
			return -1;
	}
	if (stat(fixtures, &st) || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "test_overhead: no fixtures at %s (set DYNMEM_FIXTURES)\n",
			fixtures);
		return -1;
	}
	/* An absolute path: the cgroup tests symlink to it from a temp directory. */
	if (!realpath(fixtures, exe))
		return -1;
	snprintf(fixtures, sizeof(fixtures), "%s", exe);
	return 0;
}

static struct overhead_rss split_fixture(__u64 min_mapping_bytes)
{
	char path[PATH_MAX + 32];
	struct overhead_rss rss = { 0xdead, 0xdead, 0xdead };
	FILE *f;

	snprintf(path, sizeof(path), "%s/qemu.smaps", fixtures);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_int_equal(overhead_smaps_rss(f, min_mapping_bytes, &rss), 0);
	fclose(f);
	return rss;
}

static __u64 rss_of_fixture(__u64 min_mapping_bytes)
{
	return split_fixture(min_mapping_bytes).guest_bytes;
}

static struct overhead_rss split_text(const char *text, __u64 min_mapping_bytes)
{
	FILE *f = fmemopen((void *)text, strlen(text), "r");
	struct overhead_rss rss = { 0xdead, 0xdead, 0xdead };

	assert_non_null(f);
	assert_int_equal(overhead_smaps_rss(f, min_mapping_bytes, &rss), 0);
	fclose(f);
	return rss;
}

static __u64 rss_of_text(const char *text, __u64 min_mapping_bytes)
{
	return split_text(text, min_mapping_bytes).guest_bytes;
}

/* ---- one smaps file ---- */

/* The daemon passes the VM's minimum: with 1G, guest RAM alone counts. */
static void only_large_mappings_count(void **state)
{
	(void)state;
	assert_int_equal(rss_of_fixture(1 * GiB), GUEST_RSS);
	assert_int_equal(rss_of_fixture(512 * MiB), GUEST_RSS);
	/* Guest RAM here is anonymous: none of it is file-backed. */
	assert_int_equal(split_fixture(1 * GiB).guest_anon_bytes, GUEST_RSS);
}

/* QEMU's own: the Anonymous bytes of every smaller mapping; its text and libc are not. */
static void own_is_anonymous_of_the_small_mappings(void **state)
{
	(void)state;
	assert_int_equal(split_fixture(1 * GiB).own_bytes, OWN_ANON);
	assert_int_equal(split_fixture(64 * MiB).own_bytes, OWN_ANON - ARENA_RSS);
	assert_int_equal(split_fixture(0).own_bytes, 0); /* all of it is "guest" */
	assert_int_equal(split_fixture(2 * GiB + 1).own_bytes, OWN_ANON + GUEST_RSS);
}

/* At least min_mapping_bytes: a mapping of exactly that size counts, one byte more does not. */
static void threshold_boundary(void **state)
{
	(void)state;
	assert_int_equal(rss_of_fixture(2 * GiB), GUEST_RSS);
	assert_int_equal(rss_of_fixture(2 * GiB + 1), 0);
	assert_int_equal(rss_of_fixture(64 * MiB), GUEST_RSS + ARENA_RSS);
	assert_int_equal(rss_of_fixture(64 * MiB + 1), GUEST_RSS);
	assert_int_equal(rss_of_fixture(34112 * KiB), GUEST_RSS + ARENA_RSS + HEAP_RSS);
	assert_int_equal(rss_of_fixture(16 * MiB), GUEST_RSS + ARENA_RSS + HEAP_RSS + VRAM_RSS);
	/* 0: every mapping, the small ones too */
	assert_int_equal(rss_of_fixture(0),
			 GUEST_RSS + ARENA_RSS + HEAP_RSS + VRAM_RSS + SMALL_RSS);
}

/*
 * Only "START-END perms ..." opens a mapping. Field lines, hex-looking ones among them
 * (AnonHugePages:, FilePmdMapped:), and VmFlags: never do: were one taken for a header, the
 * Rss after it would be counted against the wrong size. Here they sit between the guest
 * RAM's header and its Rss, and between a small mapping's header and its Rss.
 */
static void field_lines_are_not_headers(void **state)
{
	static const char text[] =
		"7f3a40000000-7f3ac0000000 rw-p 00000000 00:00 0 \n"
		"Size:            2097152 kB\n"
		"AnonHugePages:    786432 kB\n"
		"FilePmdMapped:         0 kB\n"
		"VmFlags: rd wr mr mw me ac sd hg mg \n"
		"Rss:             1572864 kB\n"
		"55d0c4a2e000-55d0c6b7e000 rw-p 00000000 00:00 0                          [heap]\n"
		"Size:              34112 kB\n"
		"AnonHugePages:   2097152 kB\n"
		"VmFlags: rd wr mr mw me ac sd \n"
		"Rss:               30128 kB\n";

	(void)state;
	assert_int_equal(rss_of_text(text, 1 * GiB), GUEST_RSS);
	assert_int_equal(rss_of_text(text, 0), GUEST_RSS + HEAP_RSS);
}

/*
 * Anonymous only for QEMU's own: not Rss (its file pages are shared and charged elsewhere),
 * not AnonHugePages (a part of Anonymous, not more of it).
 */
static void own_counts_anonymous_only(void **state)
{
	static const char text[] = "55d0c4a2e000-55d0c6b7e000 rw-p 00000000 00:00 0 [heap]\n"
				   "Size:              34112 kB\n"
				   "Rss:               30128 kB\n"
				   "Anonymous:         20000 kB\n"
				   "AnonHugePages:      2048 kB\n";
	struct overhead_rss rss = split_text(text, 1 * GiB);

	(void)state;
	assert_int_equal(rss.own_bytes, 20000 * KiB);
	assert_int_equal(rss.guest_bytes, 0);
}

/* Rss only: not Pss, not Swap, not the AnonHugePages part of it counted twice. */
static void rss_is_the_only_field_counted(void **state)
{
	static const char text[] = "7f3a40000000-7f3ac0000000 rw-p 00000000 00:00 0 \n"
				   "Size:            2097152 kB\n"
				   "Rss:                1024 kB\n"
				   "Pss:                 512 kB\n"
				   "SwapPss:            4096 kB\n"
				   "Swap:               4096 kB\n"
				   "AnonHugePages:      2048 kB\n";

	(void)state;
	assert_int_equal(rss_of_text(text, 1 * GiB), 1024 * KiB);
}

/*
 * Before any header, and in an empty file, there is nothing to count (with any threshold
 * above 0; the daemon's is the VM's minimum, at least 1M).
 */
static void nothing_before_a_header(void **state)
{
	(void)state;
	assert_int_equal(rss_of_text("Rss:  1024 kB\n", 1), 0);
	assert_int_equal(rss_of_text("", 0), 0);
}

/* ---- a cgroup's processes ---- */

struct fixture {
	char root[64];
	char proc[128];
	int cgroup_fd;
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

/* root/proc/PID/smaps -> the fixture; root/cgroup holds cgroup.procs (written by each test). */
static void add_process(struct fixture *fx, int pid, bool with_smaps)
{
	char dir[256], target[PATH_MAX + 32], link[300];

	snprintf(dir, sizeof(dir), "%s/%d", fx->proc, pid);
	assert_int_equal(mkdir(dir, 0755), 0);
	if (!with_smaps)
		return;
	snprintf(target, sizeof(target), "%s/qemu.smaps", fixtures);
	snprintf(link, sizeof(link), "%s/smaps", dir);
	assert_int_equal(symlink(target, link), 0);
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	char path[128];

	strcpy(fx->root, "/tmp/dynmem-overhead-XXXXXX");
	assert_non_null(mkdtemp(fx->root));
	snprintf(fx->proc, sizeof(fx->proc), "%s/proc", fx->root);
	assert_int_equal(mkdir(fx->proc, 0755), 0);
	snprintf(path, sizeof(path), "%s/cgroup", fx->root);
	assert_int_equal(mkdir(path, 0755), 0);
	fx->cgroup_fd = open(path, O_RDONLY | O_DIRECTORY);
	assert_true(fx->cgroup_fd >= 0);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	char cmd[128];

	close(fx->cgroup_fd);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", fx->root);
	assert_int_equal(system(cmd), 0);
	free(fx);
	return 0;
}

static void put_procs(struct fixture *fx, const char *text)
{
	char dir[128];

	snprintf(dir, sizeof(dir), "%s/cgroup", fx->root);
	put(dir, "cgroup.procs", text);
}

/* QEMU (4242) and a process that exited since cgroup.procs was read (4243): skipped. */
static void cgroup_skips_a_gone_process(void **state)
{
	struct fixture *fx = *state;
	struct overhead_rss rss;

	add_process(fx, 4242, true);
	add_process(fx, 4243, false);
	put_procs(fx, "4242\n4243\n");
	assert_int_equal(overhead_cgroup_rss(fx->cgroup_fd, fx->proc, 1 * GiB, &rss), 0);
	assert_int_equal(rss.guest_bytes, GUEST_RSS);
	assert_int_equal(rss.own_bytes, OWN_ANON);
	/* Not even a directory for it: the same. */
	put_procs(fx, "4243\n4242\n4999\n");
	rss.guest_bytes = 0xdead;
	assert_int_equal(overhead_cgroup_rss(fx->cgroup_fd, fx->proc, 1 * GiB, &rss), 0);
	assert_int_equal(rss.guest_bytes, GUEST_RSS);
}

/* Every process's large mappings add up (two QEMUs' worth here), with the threshold applied. */
static void cgroup_sums_its_processes(void **state)
{
	struct fixture *fx = *state;
	struct overhead_rss rss;

	add_process(fx, 4242, true);
	add_process(fx, 4250, true);
	put_procs(fx, "4242\n4250\n");
	assert_int_equal(overhead_cgroup_rss(fx->cgroup_fd, fx->proc, 1 * GiB, &rss), 0);
	assert_int_equal(rss.guest_bytes, 2 * GUEST_RSS);
	assert_int_equal(rss.own_bytes, 2 * OWN_ANON);
	assert_int_equal(overhead_cgroup_rss(fx->cgroup_fd, fx->proc, 64 * MiB, &rss), 0);
	assert_int_equal(rss.guest_bytes, 2 * (GUEST_RSS + ARENA_RSS));
}

static void cgroup_empty_is_zero(void **state)
{
	struct fixture *fx = *state;
	struct overhead_rss rss = { 0xdead, 0xdead, 0xdead };

	put_procs(fx, "");
	assert_int_equal(overhead_cgroup_rss(fx->cgroup_fd, fx->proc, 1 * GiB, &rss), 0);
	assert_int_equal(rss.guest_bytes, 0);
	assert_int_equal(rss.own_bytes, 0);
}

/* No cgroup.procs (the cgroup went away): the error, and the caller's value left alone. */
static void cgroup_without_procs_is_an_error(void **state)
{
	struct fixture *fx = *state;
	struct overhead_rss rss = { 0xdead, 0xdead, 0xdead };

	assert_int_equal(overhead_cgroup_rss(fx->cgroup_fd, fx->proc, 1 * GiB, &rss), -ENOENT);
	assert_int_equal(rss.guest_bytes, 0xdead);
}

/* An smaps that cannot be read (a directory here): an error, not a silently low sum. */
static void cgroup_unreadable_smaps_is_an_error(void **state)
{
	struct fixture *fx = *state;
	char dir[256];
	struct overhead_rss rss = { 0xdead, 0xdead, 0xdead };

	add_process(fx, 4242, true);
	add_process(fx, 4244, false);
	snprintf(dir, sizeof(dir), "%s/4244/smaps", fx->proc);
	assert_int_equal(mkdir(dir, 0755), 0);
	put_procs(fx, "4242\n4244\n");
	assert_int_equal(overhead_cgroup_rss(fx->cgroup_fd, fx->proc, 1 * GiB, &rss), -EIO);
	assert_int_equal(rss.guest_bytes, 0xdead);
}

/* The VM cgroup's memory.stat says text. */
static void put_memory_stat(struct fixture *fx, const char *text)
{
	char dir[128];

	snprintf(dir, sizeof(dir), "%s/cgroup", fx->root);
	put(dir, "memory.stat", text);
}

/* memory.stat "kernel" when the kernel has it (5.18 and later) ... */
static void kernel_memory_from_memory_stat(void **state)
{
	struct fixture *fx = *state;
	__u64 kernel = 0xdead;

	put_memory_stat(fx, "anon 1610612736\nfile 4096\nkernel 9437184\nkernel_stack 65536\n"
			    "pagetables 3145728\nslab 2097152\n");
	assert_int_equal(overhead_cgroup_kernel(fx->cgroup_fd, &kernel), 0);
	assert_int_equal(kernel, 9 * MiB);
}

/* ... else the sum of its parts; not anon or file, which are guest RAM and page cache. */
static void kernel_memory_from_its_parts(void **state)
{
	struct fixture *fx = *state;
	__u64 kernel = 0xdead;

	put_memory_stat(fx, "anon 1610612736\nfile 4096\nkernel_stack 65536\n"
			    "pagetables 3145728\npercpu 4096\nsock 0\nvmalloc 8192\n"
			    "slab 2097152\nslab_reclaimable 1048576\n");
	assert_int_equal(overhead_cgroup_kernel(fx->cgroup_fd, &kernel), 0);
	assert_int_equal(kernel, 65536 + 3145728 + 4096 + 8192 + 2097152);
}

/* QEMU's binary, libraries and firmware, mapped and charged to this cgroup (lab figures). */
static void mapped_files_count(void **state)
{
	struct fixture *fx = *state;
	__u64 files = 0xdead;

	put_memory_stat(fx, "anon 110592000\nfile 107532288\nkernel 2101248\nshmem 8192\n"
			    "file_mapped 84480000\n");
	assert_int_equal(overhead_cgroup_mapped_files(fx->cgroup_fd, 0, &files), 0);
	assert_int_equal(files, 84480000 - 8192);
}

/* Guest RAM in shared memory (memory-backend-memfd) is mapped too: it is not overhead. */
static void mapped_guest_ram_in_shmem_does_not(void **state)
{
	struct fixture *fx = *state;
	__u64 files = 0xdead;

	put_memory_stat(fx, "anon 8388608\nfile 1090519040\nshmem 1073741824\n"
			    "file_mapped 1094713344\n");
	assert_int_equal(overhead_cgroup_mapped_files(fx->cgroup_fd, 0, &files), 0);
	assert_int_equal(files, 20 * MiB);

	put_memory_stat(fx, "file_mapped 4096\nshmem 1073741824\n"); /* tmpfs, unmapped */
	assert_int_equal(overhead_cgroup_mapped_files(fx->cgroup_fd, 0, &files), 0);
	assert_int_equal(files, 0);

	/* Guest RAM in a file on a disk filesystem (memory-backend-file): smaps says how much. */
	put_memory_stat(fx, "file_mapped 1162084352\nshmem 0\n");
	assert_int_equal(overhead_cgroup_mapped_files(fx->cgroup_fd, 1024 * MiB, &files), 0);
	assert_int_equal(files, 1162084352 - 1024 * MiB);

	put_memory_stat(fx, "anon 4096\n"); /* a kernel without the keys */
	assert_int_equal(overhead_cgroup_mapped_files(fx->cgroup_fd, 0, &files), 0);
	assert_int_equal(files, 0);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(only_large_mappings_count),
		cmocka_unit_test(own_is_anonymous_of_the_small_mappings),
		cmocka_unit_test(own_counts_anonymous_only),
		cmocka_unit_test(threshold_boundary),
		cmocka_unit_test(field_lines_are_not_headers),
		cmocka_unit_test(rss_is_the_only_field_counted),
		cmocka_unit_test(nothing_before_a_header),
		T(cgroup_skips_a_gone_process),
		T(cgroup_sums_its_processes),
		T(cgroup_empty_is_zero),
		T(cgroup_without_procs_is_an_error),
		T(cgroup_unreadable_smaps_is_an_error),
		T(kernel_memory_from_memory_stat),
		T(kernel_memory_from_its_parts),
		T(mapped_files_count),
		T(mapped_guest_ram_in_shmem_does_not),
	};

	return cmocka_run_group_tests_name("overhead: guest RAM from smaps", tests, find_fixtures,
					   NULL);
}
