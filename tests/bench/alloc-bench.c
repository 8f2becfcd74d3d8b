// SPDX-License-Identifier: GPL-2.0-only
/*
 * alloc-bench: how long alloc_plan() takes for 100, 1,000 and 10,000 VMs on a host short of
 * memory (the water-filling runs), against the budget of DESIGN.md §6: 1 ms for 10,000 VMs.
 *
 *   alloc-bench [REPEATS] [SEED]     (default 200, 1)
 *
 * Scenarios: "first" plans VMs whose assigned memory is scattered around their wants, with
 * some under pressure and some shrunk recently (the transition limits and the second fill
 * run); "steady" is the next tick, assigned = the first plan's targets, as the daemon sees
 * it most of the time; "nodes" is "first" with spanning off over 4 nodes, and "nodes steady"
 * its next tick. Prints a Markdown table of median and p99 microseconds per plan.
 *
 * Then the same 10,000 VMs on budgets from short to ample (the minimums and 10% .. 110% of
 * demand + buffer above them; the table above is at 60%), a quarter of the plans each, with
 * the share of the wants above the minimums that each budget fits (wants as the allocator
 * makes them: into [minimum, maximum], rounded up to the granule, so smaller): where a budget
 * falls decides which limits give way and how much the second fill has left to hand out, and
 * so what a plan costs. The worst of these is the figure to hold against the budget.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "alloc.h"
#include "../rng.h"

#define MiB (1ULL << 20)
#define GiB (1ULL << 30)

static __u64 align_down(__u64 x, __u64 g)
{
	return x & ~(g - 1);
}

/* Mostly 4K-backed VMs, some on 2M pages, a few on 1G pages; wants 20..120% of maximum. */
static void make_vm(struct alloc_vm *v, const struct alloc_host *h)
{
	__u64 r = rnd_range(0, 99), g = r < 80 ? 4096 : r < 98 ? 2 * MiB : GiB, want;

	memset(v, 0, sizeof(*v));
	v->granule_bytes = g;
	v->minimum_bytes = align_down(rnd_range(512 * MiB, 8 * GiB), g > GiB / 2 ? GiB : g);
	if (!v->minimum_bytes)
		v->minimum_bytes = g;
	v->maximum_bytes = align_down(v->minimum_bytes * rnd_range(2, 8), g);
	v->demand_bytes = v->maximum_bytes / 100 * rnd_range(20, 120);
	v->buffer_pct = rnd_range(0, 9) < 7 ? 20 : (__u32)rnd_range(5, 100);
	v->weight = rnd_range(0, 99) < 3 ? 0
		    : rnd_range(0, 1)	 ? 5000
					 : (__u32)rnd_range(100, 10000);
	want = v->demand_bytes / 100 * (100 + v->buffer_pct);
	v->assigned_bytes = align_down(want / 100 * rnd_range(50, 150), g);
	v->pressure = rnd_range(0, 99) < 5;
	v->last_shrink_ns = rnd_range(0, 9) < 3 ? h->now_ns - rnd_range(0, 10) * 1000000000ULL : 0;
	v->node = (int)rnd_range(0, h->nr_nodes - 1);
}

/* Short: the minimums fit, and share_pct% of demand + buffer above them. */
static void make_scenario(struct alloc_host *h, struct alloc_vm *v, size_t n, bool spanning,
			  unsigned int share_pct)
{
	unsigned __int128 min[ALLOC_MAX_NODES] = { 0 }, want[ALLOC_MAX_NODES] = { 0 };

	alloc_host_defaults(h);
	h->now_ns = 1000000 * 1000000000ULL;
	h->numa_spanning = spanning;
	h->nr_nodes = spanning ? 1 : 4;
	for (size_t i = 0; i < n; i++) {
		unsigned int k;

		make_vm(&v[i], h);
		k = spanning ? 0 : (unsigned int)v[i].node;
		min[k] += v[i].minimum_bytes;
		want[k] += v[i].demand_bytes / 100 * (100 + v[i].buffer_pct);
	}
	for (size_t k = 0; k < h->nr_nodes; k++)
		h->node_budget_bytes[k] = (__u64)(min[k] + (want[k] - min[k]) * share_pct / 100);
	h->budget_bytes = h->node_budget_bytes[0];
}

/* CPU time of this thread: on a shared machine, time spent descheduled is not the plan's. */
static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The first table's budget: the minimums and this share of demand + buffer above them. */
#define SHARE_PCT 60

struct row {
	size_t n;
	unsigned int share_pct;
	const char *what;
	double median_us, p99_us;
	size_t nr_short, nr_held;
	double fits_pct; /* of the wants above the minimums, what the budget fits */
};

static int measure(const struct alloc_host *h, const struct alloc_vm *v, size_t n,
		   struct alloc_target *t, unsigned int repeats, struct row *ret)
{
	struct alloc_summary s;
	double *us = calloc(repeats, sizeof(*us));
	int err = 0;

	if (!us)
		return -ENOMEM;
	for (unsigned int r = 0; r < repeats; r++) {
		double t0 = now_us();

		err = alloc_plan(h, v, n, t, &s);
		us[r] = now_us() - t0;
		if (err)
			goto out;
	}
	qsort(us, repeats, sizeof(*us), cmp_double);
	ret->median_us = us[repeats / 2];
	ret->p99_us = us[(repeats * 99 + 99) / 100 - 1];
	ret->nr_short = s.nr_short;
	ret->nr_held = s.nr_held;
out:
	free(us);
	return err;
}

/* What share of the VMs' wants above their minimums the host's budget (or budgets) fits. */
static double fits_pct(const struct alloc_host *h, const struct alloc_vm *v, size_t n,
		       const struct alloc_target *t)
{
	double budget = 0, min = 0, want = 0;

	for (size_t k = 0; k < (h->numa_spanning ? 1 : h->nr_nodes); k++)
		budget += (double)(h->numa_spanning ? h->budget_bytes : h->node_budget_bytes[k]);
	for (size_t i = 0; i < n; i++) {
		min += (double)v[i].minimum_bytes;
		want += (double)t[i].want_bytes;
	}
	return want > min ? 100 * (budget - min) / (want - min) : 100;
}

/* The next tick: what it shrank is rate-limited now, the rest stays put. */
static void next_tick(const struct alloc_host *h, struct alloc_vm *v, size_t n,
		      const struct alloc_target *t)
{
	for (size_t i = 0; i < n; i++) {
		if (t[i].target_bytes < v[i].assigned_bytes)
			v[i].last_shrink_ns = h->now_ns;
		v[i].assigned_bytes = t[i].target_bytes;
	}
}

/*
 * The four scenarios of n VMs on a budget that fits share_pct% of their wants above their
 * minimums, their VMs drawn from the random state *state, which is left where they end: so
 * each size draws new VMs, and from a copy of the state each share plans the same ones.
 */
static int bench(size_t n, unsigned int share_pct, __u64 *state, unsigned int repeats,
		 struct row *rows, size_t *nr_rows)
{
	static const char *const what[] = { "first", "steady", "nodes", "nodes steady" };
	struct alloc_vm *v = calloc(n, sizeof(*v));
	struct alloc_target *t = calloc(n, sizeof(*t));
	struct alloc_host h;
	int err = -ENOMEM;

	if (!v || !t)
		goto out;
	rng_state = *state;
	for (int k = 0; k < 4; k++) {
		struct row *r = &rows[(*nr_rows)++];

		if (k % 2 == 0)
			make_scenario(&h, v, n, k == 0, share_pct);
		else
			next_tick(&h, v, n, t);
		*r = (struct row){ .n = n, .share_pct = share_pct, .what = what[k] };
		err = measure(&h, v, n, t, repeats, r);
		if (err)
			goto out;
		r->fits_pct = fits_pct(&h, v, n, t);
	}
	*state = rng_state;
out:
	free(v);
	free(t);
	return err;
}

#define SWEEP_VMS 10000
#define NR_SHARES 11 /* 10% .. 110% */

static void print_sweep(const struct row *rows)
{
	const struct row *worst = NULL;

	printf("\n%d VMs, budgets from short to ample: median µs per plan (of %s)\n\n", SWEEP_VMS,
	       "a quarter of the plans");
	printf("| budget: minimums + demand and buffer × | wants it fits above minimums | first "
	       "| steady | nodes | nodes steady |\n");
	printf("|---:|---:|---:|---:|---:|---:|\n");
	for (int s = 0; s < NR_SHARES; s++) {
		const struct row *r = &rows[4 * s];

		printf("| %u%% | %.0f%% | %.1f | %.1f | %.1f | %.1f |\n", r->share_pct, r->fits_pct,
		       r[0].median_us, r[1].median_us, r[2].median_us, r[3].median_us);
		for (int k = 0; k < 4; k++)
			worst = !worst || r[k].median_us > worst->median_us ? &r[k] : worst;
	}
	printf("\nworst: %.1f µs (%s, %u%%)\n", worst->median_us, worst->what, worst->share_pct);
}

int main(int argc, char **argv)
{
	static const size_t sizes[] = { 100, 1000, 10000 };
	unsigned int repeats = argc > 1 ? (unsigned int)strtoul(argv[1], NULL, 0) : 200;
	__u64 state = argc > 2 ? strtoull(argv[2], NULL, 0) : 1, seed = state, at_sweep = 0;
	struct row rows[4 * sizeof(sizes) / sizeof(sizes[0])], sweep[4 * NR_SHARES];
	size_t nr_rows = 0, nr_sweep = 0;
	int err = 0;

	if (!repeats) {
		fprintf(stderr, "usage: alloc-bench [REPEATS] [SEED]\n");
		return 2;
	}
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]) && !err; k++) {
		at_sweep = sizes[k] == SWEEP_VMS ? state : at_sweep;
		err = bench(sizes[k], SHARE_PCT, &state, repeats, rows, &nr_rows);
	}
	for (unsigned int s = 0; s < NR_SHARES && !err; s++) {
		state = at_sweep;
		err = bench(SWEEP_VMS, 10 * (s + 1), &state, (repeats + 3) / 4, sweep, &nr_sweep);
	}
	if (err) {
		fprintf(stderr, "alloc-bench: alloc_plan: %s\n", strerror(-err));
		return 1;
	}
	printf("alloc_plan, %u plans each, seed %llu\n\n", repeats, (unsigned long long)seed);
	printf("| VMs | scenario | short | held | median µs | p99 µs | ns per VM (median) |\n");
	printf("|---:|---|---:|---:|---:|---:|---:|\n");
	for (size_t r = 0; r < nr_rows; r++)
		printf("| %zu | %s | %zu | %zu | %.1f | %.1f | %.0f |\n", rows[r].n, rows[r].what,
		       rows[r].nr_short, rows[r].nr_held, rows[r].median_us, rows[r].p99_us,
		       rows[r].median_us * 1000 / (double)rows[r].n);
	print_sweep(sweep);
	return 0;
}
