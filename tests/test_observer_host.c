// SPDX-License-Identifier: GPL-2.0-only
/*
 * Host integration: the real observer loaded into the running kernel, real cgroups under
 * the cgroup2 mount, real workloads. Needs root and a kernel with BTF.
 *
 * Why the margins hold: touch-pages writes one byte to each of N fresh anonymous pages
 * with THP off, between two handshakes over pipes. That is N user faults and N order-0
 * page allocations. On top, inside the window: the page-table pages for N pages (one per
 * 512 pages, plus up to 2 upper levels), and the pipe buffer page of "done". The workload's
 * stdin is unbuffered, so its handshake does not grow the heap inside the window.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include "observer.h"
#include "host_cgroup.h"

#define PAGES_A 5000
#define PAGES_B 3000
#define FAULT_SLACK 4

static struct scratch_cgroup cg_a, cg_b;
static struct workload wl_a, wl_b;

static unsigned long alloc_slack(unsigned long pages)
{
	return pages / 512 + 1 + 2 + 1 + 4; /* PTE pages, upper levels, pipe page, spare */
}

static __u64 allocs(const struct dm_counters *c)
{
	return c->c[DM_ALLOC_LOCAL] + c->c[DM_ALLOC_REMOTE];
}

static int silent(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return level == LIBBPF_WARN ? vfprintf(stderr, fmt, ap) : 0;
}

static int setup(void **state)
{
	char name[64];

	(void)state;
	if (geteuid() != 0) {
		fprintf(stderr, "test_observer_host: needs root (it loads BPF programs)\n");
		return -1;
	}
	libbpf_set_print(silent);
	snprintf(name, sizeof(name), "dynmem-test-%d-a", getpid());
	if (scratch_cgroup_create(&cg_a, name))
		return -1;
	snprintf(name, sizeof(name), "dynmem-test-%d-b", getpid());
	return scratch_cgroup_create(&cg_b, name) ? -1 : 0;
}

/* Runs after every test, passed or failed: no workload outlives it. */
static int stop_workloads(void **state)
{
	(void)state;
	workload_stop(&wl_a);
	workload_stop(&wl_b);
	return 0;
}

static int teardown(void **state)
{
	stop_workloads(state);
	scratch_cgroup_remove(&cg_a);
	scratch_cgroup_remove(&cg_b);
	return 0;
}

static struct observer *open_or_fail(const struct observer_opts *opts)
{
	struct observer *o = observer_open(opts);

	if (!o)
		fail_msg("observer_open: %s", strerror(errno));
	return o;
}

static void assert_between(const char *what, __u64 got, __u64 lo, __u64 hi)
{
	printf("    %-28s %llu (expected %llu..%llu)\n", what, (unsigned long long)got,
	       (unsigned long long)lo, (unsigned long long)hi);
	if (got < lo || got > hi)
		fail_msg("%s: %llu outside %llu..%llu", what, (unsigned long long)got,
			 (unsigned long long)lo, (unsigned long long)hi);
}

/* Two workloads run side by side; each cgroup sees exactly its own pages. */
static void counts_exact_pages_per_cgroup(void **state)
{
	struct dm_counters a0, a1, b0, b1;
	struct observer *o = open_or_fail(NULL);
	__u32 sa, sb;

	(void)state;
	assert_int_equal(observer_add_vm(o, cg_a.id, &sa), 0);
	assert_int_equal(observer_add_vm(o, cg_b.id, &sb), 0);
	assert_int_not_equal(sa, sb);
	assert_int_equal(workload_start(&wl_a, &cg_a, PAGES_A), 0);
	assert_int_equal(workload_start(&wl_b, &cg_b, PAGES_B), 0);
	assert_int_equal(observer_read(o, sa, &a0), 0);
	assert_int_equal(observer_read(o, sb, &b0), 0);
	assert_int_equal(workload_touch(&wl_a), 0);
	assert_int_equal(workload_touch(&wl_b), 0);
	assert_int_equal(observer_read(o, sa, &a1), 0);
	assert_int_equal(observer_read(o, sb, &b1), 0);

	assert_between("a: host_faults", a1.c[DM_HOST_FAULTS] - a0.c[DM_HOST_FAULTS], PAGES_A,
		       PAGES_A + FAULT_SLACK);
	assert_between("a: alloc pages", allocs(&a1) - allocs(&a0), PAGES_A,
		       PAGES_A + alloc_slack(PAGES_A));
	assert_between("b: host_faults", b1.c[DM_HOST_FAULTS] - b0.c[DM_HOST_FAULTS], PAGES_B,
		       PAGES_B + FAULT_SLACK);
	assert_between("b: alloc pages", allocs(&b1) - allocs(&b0), PAGES_B,
		       PAGES_B + alloc_slack(PAGES_B));
	/* One node here: nothing can be remote, and no KVM guest ran in these cgroups. */
	assert_int_equal(a1.c[DM_ALLOC_REMOTE], 0);
	assert_int_equal(a1.c[DM_EPT_FAULTS] + b1.c[DM_EPT_FAULTS], 0);
	assert_int_equal(observer_lost_events(o), 0);
	observer_close(o);
}

/* A cgroup nobody watches counts into "host"; a reused slot starts from zero. */
static void unwatched_counts_as_host(void **state)
{
	struct dm_counters h0, h1, b;
	struct observer *o = open_or_fail(NULL);
	__u32 sa, sb;

	(void)state;
	assert_int_equal(observer_add_vm(o, cg_a.id, &sa), 0);
	assert_int_equal(observer_remove_vm(o, cg_a.id), 0);
	assert_int_equal(observer_remove_vm(o, cg_a.id), -ENOENT);
	assert_int_equal(workload_start(&wl_a, &cg_a, PAGES_A), 0);
	assert_int_equal(observer_read(o, DM_SLOT_HOST, &h0), 0);
	assert_int_equal(workload_touch(&wl_a), 0);
	assert_int_equal(observer_read(o, DM_SLOT_HOST, &h1), 0);
	/* Other host tasks may fault too: at least the workload's pages. */
	assert_true(h1.c[DM_HOST_FAULTS] - h0.c[DM_HOST_FAULTS] >= PAGES_A);

	assert_int_equal(observer_add_vm(o, cg_b.id, &sb), 0);
	assert_int_equal(sb, sa); /* the freed slot is reused ... */
	assert_int_equal(observer_read(o, sb, &b), 0);
	assert_int_equal(b.c[DM_HOST_FAULTS], 0); /* ... and starts from zero */
	observer_close(o);
}

struct burst_seen {
	__u32 slot;
	__u64 cgroup_id;
	int host_fault_bursts;
	int other;
};

static int on_burst(void *ctx, const struct dm_event_burst *ev)
{
	struct burst_seen *seen = ctx;

	if (ev->kind == DM_BURST_HOST_FAULT && ev->slot == seen->slot &&
	    ev->cgroup_id == seen->cgroup_id && ev->window_ns <= 100000000ULL)
		seen->host_fault_bursts++;
	else if (ev->slot == seen->slot)
		seen->other++;
	return 0;
}

/* Faulting 5000 pages in a few ms is a burst (default: 2048 faults within 100 ms). */
static void fault_burst_reaches_ring_buffer(void **state)
{
	struct observer *o = open_or_fail(NULL);
	struct burst_seen seen = { .cgroup_id = cg_a.id };

	(void)state;
	assert_int_equal(observer_add_vm(o, cg_a.id, &seen.slot), 0);
	assert_int_equal(workload_start(&wl_a, &cg_a, PAGES_A), 0);
	assert_int_equal(workload_touch(&wl_a), 0);
	assert_true(observer_poll(o, 1000, on_burst, &seen) >= 1);
	printf("    host fault bursts seen: %d, other events: %d\n", seen.host_fault_bursts,
	       seen.other);
	assert_true(seen.host_fault_bursts >= 1);
	assert_int_equal(seen.other, 0);
	assert_int_equal(observer_bad_records(o), 0);
	observer_close(o);
}

/* A BTF directory whose "vmlinux" only knows two of our tracepoints. */
static void write_partial_btf(const char *dir)
{
	struct btf *btf = btf__new_empty();
	char path[4096];
	const void *raw;
	__u32 size;
	FILE *f;
	int u64 = btf__add_int(btf, "u64", 8, 0);

	btf__add_typedef(btf, "btf_trace_page_fault_user", u64);
	btf__add_typedef(btf, "btf_trace_mm_page_alloc", u64);
	raw = btf__raw_data(btf, &size);
	snprintf(path, sizeof(path), "%s/vmlinux", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(raw, 1, size, f), size);
	fclose(f);
	btf__free(btf);
}

/*
 * A kernel without KVM tracepoints (as seen through BTF) and a hook switched off: both are
 * reported, neither is fatal, and what is there still counts.
 */
static void missing_hooks_reported_not_fatal(void **state)
{
	char dir[] = "/tmp/dynmem-btf-XXXXXX", file[4096];
	const char *off[] = { "mm_page_alloc", NULL };
	struct observer_opts opts = { .btf_dir = dir, .off = off };
	const struct hook_status *hs;
	struct dm_counters c0, c1;
	struct observer *o;
	size_t n;
	__u32 slot;

	(void)state;
	assert_non_null(mkdtemp(dir));
	write_partial_btf(dir);
	o = observer_open(&opts);
	snprintf(file, sizeof(file), "%s/vmlinux", dir);
	unlink(file);
	rmdir(dir);
	if (!o)
		fail_msg("observer_open with missing hooks: %s", strerror(errno));
	hs = observer_hooks(o, &n);
	for (size_t i = 0; i < n; i++) {
		const char *name = hs[i].hook->name;
		enum hook_state want = !strcmp(name, "page_fault_user") ? HOOK_RAW :
				       !strcmp(name, "mm_page_alloc")   ? HOOK_OFF :
									  HOOK_MISSING;

		printf("    %-30s %s\n", name, hook_state_name(hs[i].state));
		assert_int_equal(hs[i].state, want);
	}
	assert_int_equal(observer_add_vm(o, cg_a.id, &slot), 0);
	assert_int_equal(workload_start(&wl_a, &cg_a, PAGES_A), 0);
	assert_int_equal(observer_read(o, slot, &c0), 0);
	assert_int_equal(workload_touch(&wl_a), 0);
	assert_int_equal(observer_read(o, slot, &c1), 0);
	assert_between("host_faults, partial kernel", c1.c[DM_HOST_FAULTS] - c0.c[DM_HOST_FAULTS],
		       PAGES_A, PAGES_A + FAULT_SLACK);
	assert_int_equal(allocs(&c1), 0); /* its hook is off */
	observer_close(o);
}

/* The real kernel: every hook is found through BTF, and a made-up one is not. */
static void hook_detection_on_real_btf(void **state)
{
	struct btf **btfs = kernel_btfs_load("/sys/kernel/btf");

	(void)state;
	assert_non_null(btfs);
	assert_true(hook_in_kernel(btfs, "page_fault_user"));
	assert_true(hook_in_kernel(btfs, "mm_page_alloc"));
	assert_false(hook_in_kernel(btfs, "dynmem_no_such_tracepoint"));
	kernel_btfs_free(btfs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(counts_exact_pages_per_cgroup, stop_workloads),
		cmocka_unit_test_teardown(unwatched_counts_as_host, stop_workloads),
		cmocka_unit_test_teardown(fault_burst_reaches_ring_buffer, stop_workloads),
		cmocka_unit_test_teardown(missing_hooks_reported_not_fatal, stop_workloads),
		cmocka_unit_test(hook_detection_on_real_btf),
	};

	return cmocka_run_group_tests_name("observer (host, real BPF)", tests, setup, teardown);
}
