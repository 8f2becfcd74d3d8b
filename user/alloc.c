// SPDX-License-Identifier: GPL-2.0-only
/*
 * The allocator: weighted water-filling in granules, then transition limits.
 *
 * Every granule of every VM has a key: the level λ at which the VM reaches the granule's
 * upper boundary b, that is b / (weight × cap). A fill takes granules in key order (ties:
 * heavier first, then lower index) and drops a VM whose next granule no longer fits, so
 * smaller granules of other VMs still use what is left. Defined this way the result does
 * not depend on how it is computed, and raising a VM's floor to anything up to what it got
 * changes nothing; that is what makes a re-plan with assigned = targets come out the same
 * (no flapping).
 *
 * Going granule by granule would take millions of steps for 10,000 VMs, so a fill runs in
 * rounds: find the highest level whose granules all fit (a continuous solve, then a few
 * Newton steps on the rounded sum), take every granule below it at once, hand out the next
 * few in key order from a heap until one does not fit, drop the VMs that can't fit any
 * more, and go again with the rest.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "alloc.h"

typedef unsigned __int128 u128;

/* No reason of its own: the VM's floor is its minimum. */
#define CAUSE_NONE ALLOC_NR_REASONS

/* One VM as a fill sees it. */
struct slot {
	__u64 floor_bytes;
	__u64 cap_bytes;
	__u64 gran_bytes;
	__u64 x_bytes; /* so far; the result in the end */
	__u64 y_bytes; /* at the highest level known to fit */
	__u64 z_bytes; /* at the lowest level known not to */
	__u64 t_bytes; /* at the level being tried */
	double scale;  /* level λ means λ·scale bytes: weight × cap */
	double lo, hi; /* levels at which it leaves x and reaches its cap */
	__u32 weight;  /* effective: 1 for weight 0 once every weighted VM is satisfied */
};

/* The rest of a VM's state during one plan. */
struct work {
	__u64 want_bytes;
	__u64 held_bytes; /* assigned, clamped into [minimum, maximum] */
	__u64 ideal_bytes;
	enum alloc_reason cause; /* why its floor is above its minimum */
	bool capped;		 /* want before clamping was above maximum */
};

struct heap_ent {
	double key;
	__u32 i;
};

struct ctx {
	const struct alloc_host *h;
	const struct alloc_vm *vms;
	struct slot *s;
	struct work *w;
	struct alloc_target *t;
	__u32 *idx;  /* VMs grouped by node */
	__u32 *act;  /* the VMs a fill is distributing to */
	__u32 *todo; /* the level solve's unresolved VMs */
	struct heap_ent *heap;
};

static const char *const reason_names[ALLOC_NR_REASONS] = {
	[ALLOC_WANT] = "want",
	[ALLOC_CAPPED] = "capped",
	[ALLOC_WEIGHT] = "weight",
	[ALLOC_MINIMUM] = "minimum",
	[ALLOC_HOLD_PRESSURE] = "hold_pressure",
	[ALLOC_HOLD_RATE] = "hold_rate",
	[ALLOC_HOLD_HYSTERESIS] = "hold_hysteresis",
	[ALLOC_SHRINK_STEP] = "shrink_step",
	[ALLOC_NO_NODE] = "no_node",
	[ALLOC_OVERCOMMIT] = "overcommit",
};

const char *alloc_reason_name(enum alloc_reason r)
{
	return (unsigned int)r < ALLOC_NR_REASONS ? reason_names[r] : "?";
}

void alloc_host_defaults(struct alloc_host *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->numa_spanning = true;
	ret->shrink_interval_ns = ALLOC_SHRINK_INTERVAL_DEFAULT_NS;
	ret->shrink_step_pct = ALLOC_SHRINK_STEP_DEFAULT_PCT;
	ret->hysteresis_pct = ALLOC_HYSTERESIS_DEFAULT_PCT;
}

int alloc_place(const __u64 *node_free_bytes, size_t nr_nodes, __u64 vm_bytes, int *ret_node)
{
	int best = -1, err = 0;

	if ((!node_free_bytes && nr_nodes) || !ret_node || nr_nodes > ALLOC_MAX_NODES) {
		err = -EINVAL;
		goto out;
	}
	for (size_t i = 0; i < nr_nodes; i++)
		if (node_free_bytes[i] >= vm_bytes &&
		    (best < 0 || node_free_bytes[i] < node_free_bytes[best]))
			best = (int)i;
	if (best < 0) {
		err = -ENOSPC;
		goto out;
	}
	*ret_node = best;
out:
	return err;
}

/* --- granule arithmetic ------------------------------------------------------------- */

static __u64 granule_of(const struct alloc_vm *v)
{
	return v->granule_bytes ? v->granule_bytes : ALLOC_GRANULE_DEFAULT_BYTES;
}

/* The boundary after b: the next granule multiple, or the cap when that is closer. */
static __u64 next_boundary(const struct slot *s, __u64 b)
{
	__u64 down = b & ~(s->gran_bytes - 1);

	return s->cap_bytes - down <= s->gran_bytes ? s->cap_bytes : down + s->gran_bytes;
}

/* The boundary before b, not below x (x is one: fills only ever stop on boundaries). */
static __u64 prev_boundary(const struct slot *s, __u64 b)
{
	__u64 p = (b - 1) & ~(s->gran_bytes - 1);

	return p < s->x_bytes ? s->x_bytes : p;
}

static double key_of(const struct slot *s, __u64 b)
{
	return (double)b / s->scale;
}

/*
 * The highest boundary whose key is at most lam, from x on. The keys decide, so that this
 * agrees exactly with the heap's order; the product is only a guess, but one that the
 * keys can't contradict unless a boundary lies within 2^-40 of it, so the divisions run
 * only then.
 */
static __u64 amount_at(const struct slot *s, double lam)
{
	double v = lam * s->scale, margin = v * 0x1p-40;
	__u64 b;

	if (v >= (double)s->cap_bytes) {
		b = s->cap_bytes;
	} else if (v <= (double)s->x_bytes) {
		b = s->x_bytes;
	} else {
		b = (__u64)v & ~(s->gran_bytes - 1);
		if (b < s->x_bytes)
			b = s->x_bytes;
	}
	if (b < s->cap_bytes && (double)next_boundary(s, b) - v <= margin)
		while (b < s->cap_bytes && key_of(s, next_boundary(s, b)) <= lam)
			b = next_boundary(s, b);
	if (b > s->x_bytes && v - (double)b <= margin)
		while (b > s->x_bytes && key_of(s, b) > lam)
			b = prev_boundary(s, b);
	return b;
}

/* --- the level --------------------------------------------------------------------- */

/* A breakpoint of s strictly inside (l, r); the caller knows there is one. */
static double inner_breakpoint(const struct slot *s, double l, double r)
{
	return s->lo > l && s->lo < r ? s->lo : s->hi;
}

static double median3(double a, double b, double c)
{
	if (a > b) {
		double t = a;

		a = b;
		b = t;
	}
	return c <= a ? a : c >= b ? b : c;
}

/*
 * The level λ at which Σ (clamp(λ·scale, x, cap) − x) over act[0..na) equals spare, without
 * granules. The function is piecewise linear with two breakpoints per VM; instead of sorting
 * them, each pass evaluates it at a median-of-three breakpoint, halves the bracket and folds
 * the VMs with no breakpoint left inside into a constant and a slope. Expected O(n).
 */
static double solve_level(struct ctx *c, size_t na, double spare)
{
	double l = 0, r = INFINITY, konst = 0, slope = 0, lam;
	__u32 *u = c->todo;
	size_t nu = na;

	memcpy(u, c->act, na * sizeof(*u));
	while (nu) {
		double p = median3(inner_breakpoint(&c->s[u[0]], l, r),
				   inner_breakpoint(&c->s[u[nu / 2]], l, r),
				   inner_breakpoint(&c->s[u[nu - 1]], l, r));
		double f = konst + slope * p;
		size_t k = 0;

		for (size_t j = 0; j < nu; j++) {
			const struct slot *s = &c->s[u[j]];
			double v = p * s->scale;

			if (v >= (double)s->cap_bytes)
				f += (double)s->cap_bytes - (double)s->x_bytes;
			else if (v > (double)s->x_bytes)
				f += v - (double)s->x_bytes;
		}
		if (f <= spare)
			l = p;
		else
			r = p;
		for (size_t j = 0; j < nu; j++) {
			const struct slot *s = &c->s[u[j]];

			if (s->hi <= l) {
				konst += (double)s->cap_bytes - (double)s->x_bytes;
			} else if (s->lo >= r) {
				/* at x all through the bracket: adds nothing */
			} else if (s->lo <= l && s->hi >= r) {
				slope += s->scale;
				konst -= (double)s->x_bytes;
			} else {
				u[k++] = u[j];
			}
		}
		nu = k;
	}
	if (slope <= 0)
		return l;
	lam = (spare - konst) / slope;
	return lam < l ? l : lam > r ? r : lam;
}

/*
 * Bytes that level lam adds to act[0..na), each VM's amount in t. ret_slope: how fast that
 * grows with the level, from the VMs between x and their cap.
 */
static u128 try_level(struct ctx *c, const __u32 *list, size_t n, double lam, double *ret_slope)
{
	double slope = 0;
	u128 sum = 0;

	for (size_t k = 0; k < n; k++) {
		struct slot *s = &c->s[list[k]];

		s->t_bytes = amount_at(s, lam);
		sum += s->t_bytes - s->y_bytes;
		if (s->t_bytes < s->cap_bytes && lam * s->scale > (double)s->x_bytes)
			slope += s->scale;
	}
	*ret_slope = slope;
	return sum;
}

#define NEWTON_TRIES 4

/*
 * Raises act[0..na) to a level whose granules all fit in spare, close enough below the
 * highest such level that the heap is left few granules: the continuous level first
 * (rounding only loses), Newton steps on the rounded sum until one overshoots, then
 * halving the bracket, with only the VMs that have a boundary inside it. y holds each
 * VM's amount at lo, z at hi. Returns the bytes taken, and in ret_hi the level that
 * overshot (INFINITY if none did).
 */
static __u64 raise_level(struct ctx *c, size_t na, __u64 spare, __u64 close_bytes, double *ret_hi)
{
	double lo = 0, hi = INFINITY, lam, slope;
	u128 at_lo = 0, at_hi = 0, got;
	__u32 *u = c->todo;
	size_t nu = 0;

	for (size_t k = 0; k < na; k++) {
		struct slot *s = &c->s[c->act[k]];

		s->lo = (double)s->x_bytes / s->scale;
		s->hi = (double)s->cap_bytes / s->scale;
		s->y_bytes = s->x_bytes;
	}
	lam = solve_level(c, na, (double)spare) * (1 - 0x1p-30);
	for (int i = 0; i < NEWTON_TRIES && lam > lo; i++) {
		got = at_lo + try_level(c, c->act, na, lam, &slope);
		if (got > spare) {
			hi = lam;
			at_hi = got;
			for (size_t k = 0; k < na; k++) {
				struct slot *s = &c->s[c->act[k]];

				s->z_bytes = s->t_bytes;
				if (s->z_bytes != s->y_bytes)
					u[nu++] = c->act[k];
			}
			break;
		}
		lo = lam;
		at_lo = got;
		for (size_t k = 0; k < na; k++)
			c->s[c->act[k]].y_bytes = c->s[c->act[k]].t_bytes;
		if (spare - at_lo <= close_bytes || slope <= 0)
			break;
		lam += (double)(spare - at_lo) / slope;
	}
	while (nu && at_hi - at_lo > close_bytes) {
		size_t k = 0;

		lam = lo + (hi - lo) / 2;
		if (!(lam > lo && lam < hi))
			break;
		got = at_lo + try_level(c, u, nu, lam, &slope);
		if (got <= spare) {
			lo = lam;
			at_lo = got;
		} else {
			hi = lam;
			at_hi = got;
		}
		for (size_t j = 0; j < nu; j++) {
			struct slot *s = &c->s[u[j]];

			if (got <= spare)
				s->y_bytes = s->t_bytes;
			else
				s->z_bytes = s->t_bytes;
			if (s->y_bytes != s->z_bytes)
				u[k++] = u[j];
		}
		nu = k;
	}
	for (size_t k = 0; k < na; k++)
		c->s[c->act[k]].x_bytes = c->s[c->act[k]].y_bytes;
	*ret_hi = hi;
	return (__u64)at_lo;
}

/* --- the last granules, in key order ----------------------------------------------- */

static bool heap_before(const struct ctx *c, const struct heap_ent *a, const struct heap_ent *b)
{
	if (a->key != b->key)
		return a->key < b->key;
	if (c->s[a->i].weight != c->s[b->i].weight)
		return c->s[a->i].weight > c->s[b->i].weight;
	return a->i < b->i;
}

static void sift_down(const struct ctx *c, struct heap_ent *hp, size_t n, size_t i)
{
	struct heap_ent e = hp[i];

	for (;;) {
		size_t m = 2 * i + 1;

		if (m >= n)
			break;
		if (m + 1 < n && heap_before(c, &hp[m + 1], &hp[m]))
			m++;
		if (!heap_before(c, &hp[m], &e))
			break;
		hp[i] = hp[m];
		i = m;
	}
	hp[i] = e;
}

static void heapify(const struct ctx *c, struct heap_ent *hp, size_t n)
{
	for (size_t i = n / 2; i-- > 0;)
		sift_down(c, hp, n, i);
}

static __u64 next_step(const struct slot *s)
{
	return next_boundary(s, s->x_bytes) - s->x_bytes;
}

/*
 * Hands out granules of act[0..na) in key order until the first that does not fit. Only
 * VMs with a boundary at or below hi can come before that one. Returns the bytes left;
 * *stuck tells whether a granule did not fit (rather than everyone reaching the cap).
 */
static __u64 hand_out(struct ctx *c, size_t na, __u64 left, double hi, bool *stuck)
{
	struct heap_ent *hp = c->heap;
	size_t nh = 0;

	for (size_t k = 0; k < na; k++) {
		struct slot *s = &c->s[c->act[k]];
		double key;

		if (s->x_bytes >= s->cap_bytes)
			continue;
		key = key_of(s, next_boundary(s, s->x_bytes));
		if (key <= hi)
			hp[nh++] = (struct heap_ent){ key, c->act[k] };
	}
	heapify(c, hp, nh);
	*stuck = false;
	while (nh && left) {
		struct slot *s = &c->s[hp[0].i];
		__u64 step = next_step(s);

		if (step > left) {
			*stuck = true;
			break;
		}
		left -= step;
		s->x_bytes += step;
		if (s->x_bytes < s->cap_bytes)
			hp[0].key = key_of(s, next_boundary(s, s->x_bytes));
		if (s->x_bytes >= s->cap_bytes || hp[0].key > hi)
			hp[0] = hp[--nh];
		sift_down(c, hp, nh, 0);
	}
	return left;
}

/*
 * Keeps in act the VMs that can still take a granule of left bytes; a VM whose next
 * granule does not fit now never will, since left only shrinks. Returns how many, and in
 * ret_step the smallest next granule among them.
 */
static size_t keep_fitting(struct ctx *c, size_t na, __u64 left, __u64 *ret_step)
{
	__u64 smallest = UINT64_MAX;
	size_t k = 0;

	for (size_t j = 0; j < na; j++) {
		const struct slot *s = &c->s[c->act[j]];
		__u64 step;

		if (s->x_bytes >= s->cap_bytes)
			continue;
		step = next_step(s);
		if (step > left)
			continue;
		smallest = step < smallest ? step : smallest;
		c->act[k++] = c->act[j];
	}
	*ret_step = smallest;
	return k;
}

/* Distributes spare bytes above the current amounts of act[0..na), in key order. */
static void level_fill(struct ctx *c, size_t na, __u64 spare)
{
	__u64 step = 0;

	for (size_t k = 0; k < na; k++) {
		struct slot *s = &c->s[c->act[k]];

		s->scale = (double)s->weight * (double)s->cap_bytes;
		s->x_bytes = s->floor_bytes;
		step = k && step < s->gran_bytes ? step : s->gran_bytes;
	}
	while (na && spare) {
		bool stuck;
		double hi;

		/* Close enough when the heap is left a few dozen granules. */
		spare -= raise_level(c, na, spare, 32 * step, &hi);
		spare = hand_out(c, na, spare, hi, &stuck);
		/* Past hi nothing should fit; should floating point disagree, look further. */
		if (!stuck && spare && hi < INFINITY)
			spare = hand_out(c, na, spare, INFINITY, &stuck);
		if (!stuck)
			break;
		na = keep_fitting(c, na, spare, &step);
	}
}

/*
 * Fills idx[0..m) within budget: every VM between its floor and its cap, by weight when
 * short. Weight 0 is a tier below: it leaves its floor only once every weighted VM has its
 * cap, and then shares what is left by want. The caller checked Σ floor ≤ budget.
 */
static void fill(struct ctx *c, const __u32 *idx, size_t m, __u64 budget)
{
	u128 sum_cap = 0, sum_tier1 = 0, fixed = 0;
	bool tier1_fits;
	size_t na = 0;

	for (size_t k = 0; k < m; k++) {
		const struct slot *s = &c->s[idx[k]];

		sum_cap += s->cap_bytes;
		sum_tier1 += c->vms[idx[k]].weight ? s->cap_bytes : s->floor_bytes;
	}
	if (sum_cap <= budget) {
		for (size_t k = 0; k < m; k++)
			c->s[idx[k]].x_bytes = c->s[idx[k]].cap_bytes;
		return;
	}
	tier1_fits = sum_tier1 <= budget;
	for (size_t k = 0; k < m; k++) {
		struct slot *s = &c->s[idx[k]];
		__u32 weight = c->vms[idx[k]].weight;
		bool filled = tier1_fits ? !weight : weight;

		if (!filled || s->floor_bytes >= s->cap_bytes) {
			s->x_bytes = filled || !tier1_fits ? s->floor_bytes : s->cap_bytes;
			fixed += s->x_bytes;
			continue;
		}
		s->weight = weight ? weight : 1;
		fixed += s->floor_bytes;
		c->act[na++] = idx[k];
	}
	level_fill(c, na, budget - (__u64)fixed);
}

/* --- one group: all VMs when spanning, else the VMs of one node ------------------------ */

struct group_result {
	__u64 total_bytes;
	__u32 dropped_reasons;
	bool overcommitted;
};

/*
 * When the holds don't fit, the limits give way in this order: the step first (a faster
 * shrink harms least), pressure last (shrinking a VM in distress is the failure dynmem is
 * here to avoid). Dropping them all leaves the ideal.
 */
static const enum alloc_reason drop_order[] = {
	ALLOC_SHRINK_STEP,
	ALLOC_HOLD_HYSTERESIS,
	ALLOC_HOLD_RATE,
	ALLOC_HOLD_PRESSURE,
};

static bool shrunk_recently(const struct alloc_host *h, const struct alloc_vm *v)
{
	return v->last_shrink_ns &&
	       (h->now_ns < v->last_shrink_ns || h->now_ns - v->last_shrink_ns < h->shrink_interval_ns);
}

/*
 * The lowest target one shrink may reach from a: step% below it, rounded up to a granule;
 * one granule when step% is less than that (a VM on 1G pages gives back 1G or nothing).
 */
static __u64 step_floor(const struct alloc_host *h, __u64 a, __u64 g)
{
	__u64 to = a - (__u64)((u128)a * h->shrink_step_pct / 100);
	__u64 down = to & ~(g - 1);
	u128 up = down == to ? down : (u128)down + g;

	if (up < a)
		return (__u64)up;
	return a ? (a - 1) & ~(g - 1) : 0;
}

static void set_floor(struct ctx *c, __u32 i, __u64 f, enum alloc_reason cause)
{
	struct work *w = &c->w[i];
	struct slot *s = &c->s[i];

	if (f <= c->vms[i].minimum_bytes) {
		f = c->vms[i].minimum_bytes;
		cause = CAUSE_NONE;
	}
	w->cause = cause;
	s->floor_bytes = f;
	s->cap_bytes = f > w->want_bytes ? f : w->want_bytes;
}

/* The floor that the transition limits put under VM i, and why. Needs its ideal. */
static void transition_floor(struct ctx *c, __u32 i)
{
	const struct alloc_vm *v = &c->vms[i];
	const struct work *w = &c->w[i];
	__u64 a = w->held_bytes;

	if (v->pressure)
		set_floor(c, i, a, ALLOC_HOLD_PRESSURE);
	else if (shrunk_recently(c->h, v))
		set_floor(c, i, a, ALLOC_HOLD_RATE);
	else if (w->ideal_bytes < a &&
		 (u128)(a - w->ideal_bytes) * 100 < (u128)a * c->h->hysteresis_pct)
		set_floor(c, i, a, ALLOC_HOLD_HYSTERESIS);
	else
		set_floor(c, i, step_floor(c->h, a, c->s[i].gran_bytes), ALLOC_SHRINK_STEP);
}

/* Drops kinds of limits in drop_order until the floors fit; returns the ones dropped. */
static __u32 drop_limits(struct ctx *c, const __u32 *idx, size_t m, __u64 budget)
{
	u128 excess[ALLOC_NR_REASONS + 1] = { 0 }, sum = 0;
	__u32 dropped = 0;

	for (size_t k = 0; k < m; k++) {
		const struct slot *s = &c->s[idx[k]];
		__u64 min = c->vms[idx[k]].minimum_bytes;

		sum += s->floor_bytes;
		excess[c->w[idx[k]].cause] += s->floor_bytes - min;
	}
	/* Cumulative: with the rate limit gone, a VM that was held by hysteresis has no step. */
	for (size_t d = 0; sum > budget && d < sizeof(drop_order) / sizeof(drop_order[0]); d++) {
		sum -= excess[drop_order[d]];
		dropped |= 1U << drop_order[d];
	}
	for (size_t k = 0; dropped && k < m; k++)
		if (dropped & (1U << c->w[idx[k]].cause))
			set_floor(c, idx[k], 0, CAUSE_NONE);
	return dropped;
}

static enum alloc_reason reason_of(const struct ctx *c, __u32 i)
{
	const struct work *w = &c->w[i];
	const struct slot *s = &c->s[i];
	__u64 x = s->x_bytes;

	if (w->cause != CAUSE_NONE && x == s->floor_bytes && x != w->want_bytes)
		return w->cause;
	if (x == w->want_bytes)
		return w->capped ? ALLOC_CAPPED : ALLOC_WANT;
	if (x <= c->vms[i].minimum_bytes)
		return ALLOC_MINIMUM;
	return ALLOC_WEIGHT;
}

static void plan_group(struct ctx *c, const __u32 *idx, size_t m, __u64 budget,
		       struct group_result *ret)
{
	u128 sum = 0;
	bool limited = false;

	memset(ret, 0, sizeof(*ret));
	for (size_t k = 0; k < m; k++)
		sum += c->vms[idx[k]].minimum_bytes;
	if (sum > budget) {
		/* The budget can't be met: minimums win, and the caller raises the alarm. */
		ret->overcommitted = true;
		for (size_t k = 0; k < m; k++) {
			c->t[idx[k]].target_bytes = c->vms[idx[k]].minimum_bytes;
			c->t[idx[k]].reason = ALLOC_OVERCOMMIT;
			ret->total_bytes += c->vms[idx[k]].minimum_bytes;
		}
		return;
	}
	for (size_t k = 0; k < m; k++)
		set_floor(c, idx[k], 0, CAUSE_NONE);
	fill(c, idx, m, budget);
	for (size_t k = 0; k < m; k++) {
		c->w[idx[k]].ideal_bytes = c->s[idx[k]].x_bytes;
		transition_floor(c, idx[k]);
	}
	/* The host reserve is sacred: limits that don't fit give way. */
	ret->dropped_reasons = drop_limits(c, idx, m, budget);
	for (size_t k = 0; k < m; k++)
		limited |= c->w[idx[k]].cause != CAUSE_NONE;
	if (limited)
		fill(c, idx, m, budget);
	else
		for (size_t k = 0; k < m; k++)
			c->s[idx[k]].x_bytes = c->w[idx[k]].ideal_bytes;
	for (size_t k = 0; k < m; k++) {
		__u32 i = idx[k];

		c->t[i].target_bytes = c->s[i].x_bytes;
		c->t[i].reason = reason_of(c, i);
		ret->total_bytes += c->s[i].x_bytes;
	}
}

/* --- the plan ---------------------------------------------------------------------- */

static int check_inputs(const struct alloc_host *h, const struct alloc_vm *vms, size_t n)
{
	if (h->nr_nodes > ALLOC_MAX_NODES || !h->shrink_step_pct || h->shrink_step_pct > 100 ||
	    h->hysteresis_pct > 100 || n > UINT32_MAX)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		const struct alloc_vm *v = &vms[i];
		__u64 g = granule_of(v);

		if (v->minimum_bytes > v->maximum_bytes || v->weight > ALLOC_WEIGHT_MAX ||
		    v->buffer_pct < ALLOC_BUFFER_MIN_PCT || v->buffer_pct > ALLOC_BUFFER_MAX_PCT ||
		    (g & (g - 1)))
			return -EINVAL;
		if (!h->numa_spanning && (v->node < -1 || v->node >= (int)h->nr_nodes))
			return -EINVAL;
	}
	return 0;
}

/* want = demand × (1 + buffer/100), into [minimum, maximum], up to a granule, never above max. */
static void prepare_vm(struct ctx *c, __u32 i)
{
	const struct alloc_vm *v = &c->vms[i];
	struct work *w = &c->w[i];
	struct slot *s = &c->s[i];
	__u64 g = granule_of(v), a = v->assigned_bytes;
	u128 raw = ((u128)v->demand_bytes * (100 + v->buffer_pct) + 99) / 100, want = raw;

	if (want < v->minimum_bytes)
		want = v->minimum_bytes;
	if (want > v->maximum_bytes)
		want = v->maximum_bytes;
	want = (want + g - 1) & ~(u128)(g - 1);
	w->want_bytes = want > v->maximum_bytes ? v->maximum_bytes : (__u64)want;
	w->capped = raw > v->maximum_bytes;
	w->held_bytes = a < v->minimum_bytes ? v->minimum_bytes :
			a > v->maximum_bytes ? v->maximum_bytes : a;
	w->cause = CAUSE_NONE;
	s->gran_bytes = g;
	c->t[i].want_bytes = w->want_bytes;
}

static void summarize(const struct ctx *c, size_t n, struct alloc_summary *sum)
{
	for (size_t i = 0; i < n; i++) {
		enum alloc_reason r = c->t[i].reason;

		sum->want_bytes += c->t[i].want_bytes;
		sum->nr_short += c->t[i].target_bytes < c->t[i].want_bytes;
		sum->nr_held += r == ALLOC_HOLD_PRESSURE || r == ALLOC_HOLD_RATE ||
				r == ALLOC_HOLD_HYSTERESIS || r == ALLOC_SHRINK_STEP;
	}
}

/* Spanning off: idx becomes the VMs of node 0, then node 1, ...; the unplaced go first. */
static void plan_nodes(struct ctx *c, size_t n, struct alloc_summary *sum)
{
	size_t start[ALLOC_MAX_NODES + 2] = { 0 };
	const struct alloc_host *h = c->h;

	for (size_t i = 0; i < n; i++)
		start[c->vms[i].node + 2]++;
	for (size_t k = 1; k < h->nr_nodes + 2; k++)
		start[k] += start[k - 1];
	for (size_t i = 0; i < n; i++)
		c->idx[start[c->vms[i].node + 1]++] = (__u32)i;
	/* start[k + 1] is now the end of node k's VMs, start[0] that of the unplaced. */
	for (size_t k = 0; k < start[0]; k++) {
		__u32 i = c->idx[k];

		c->t[i].target_bytes = c->vms[i].minimum_bytes;
		c->t[i].reason = ALLOC_NO_NODE;
		sum->total_bytes += c->vms[i].minimum_bytes;
		sum->nr_unplaced++;
	}
	for (size_t node = 0; node < h->nr_nodes; node++) {
		size_t from = start[node], to = start[node + 1];
		struct group_result g;

		plan_group(c, c->idx + from, to - from, h->node_budget_bytes[node], &g);
		sum->node_total_bytes[node] = g.total_bytes;
		sum->total_bytes += g.total_bytes;
		if (g.overcommitted)
			sum->overcommitted_nodes |= 1ULL << node;
		if (g.dropped_reasons)
			sum->holds_dropped_nodes |= 1ULL << node;
		sum->dropped_reasons |= g.dropped_reasons;
	}
	sum->overcommitted = sum->overcommitted_nodes;
}

int alloc_plan(const struct alloc_host *h, const struct alloc_vm *vms, size_t n,
	       struct alloc_target *ret_targets, struct alloc_summary *ret_summary)
{
	struct alloc_summary sum = { 0 };
	struct ctx c = { .h = h, .vms = vms };
	int err;

	if (!h || !ret_summary || (n && (!vms || !ret_targets))) {
		err = -EINVAL;
		goto out;
	}
	err = check_inputs(h, vms, n);
	if (err)
		goto out;
	c.s = calloc(n + 1, sizeof(*c.s));
	c.w = calloc(n + 1, sizeof(*c.w));
	c.t = calloc(n + 1, sizeof(*c.t));
	c.idx = calloc(n + 1, sizeof(*c.idx));
	c.act = calloc(n + 1, sizeof(*c.act));
	c.todo = calloc(n + 1, sizeof(*c.todo));
	c.heap = calloc(n + 1, sizeof(*c.heap));
	if (!c.s || !c.w || !c.t || !c.idx || !c.act || !c.todo || !c.heap) {
		err = -ENOMEM;
		goto out;
	}
	for (__u32 i = 0; i < n; i++) {
		prepare_vm(&c, i);
		c.idx[i] = i;
	}
	if (h->numa_spanning) {
		struct group_result g;

		plan_group(&c, c.idx, n, h->budget_bytes, &g);
		sum.total_bytes = g.total_bytes;
		sum.overcommitted = g.overcommitted;
		sum.dropped_reasons = g.dropped_reasons;
	} else {
		plan_nodes(&c, n, &sum);
	}
	sum.holds_dropped = sum.dropped_reasons;
	summarize(&c, n, &sum);
	if (n)
		memcpy(ret_targets, c.t, n * sizeof(*c.t));
	*ret_summary = sum;
out:
	free(c.s);
	free(c.w);
	free(c.t);
	free(c.idx);
	free(c.act);
	free(c.todo);
	free(c.heap);
	return err;
}
