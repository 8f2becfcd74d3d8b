// SPDX-License-Identifier: GPL-2.0-only
/*
 * The allocator: weighted water-filling in granules, then transition limits.
 *
 * Every granule of every VM has a key: the level λ at which the VM reaches the granule's
 * upper boundary b, that is b / (weight × cap). A fill takes granules in key order (ties:
 * heavier first, then the lower VM index) and drops a VM whose next granule no longer fits,
 * so smaller granules of other VMs still use what is left. Defined this way the result does
 * not depend on how it is computed, and raising a VM's floor to anything up to what it got
 * changes nothing; that is what makes a re-plan with assigned = targets come out the same
 * (no flapping).
 *
 * Going granule by granule would take millions of steps for 10,000 VMs, so a fill runs in
 * rounds: find a level just below the highest one whose granules all fit (a continuous
 * solve, Newton steps on the rounded sum, then halving a bracket around it with only the
 * VMs that have a boundary inside), take every granule up to it at once, hand out the few
 * granules left in the bracket in key order from a heap until one does not fit, drop the
 * VMs that can't fit any more, and go again with the rest. The VMs of a fill are packed
 * into arrays (lanes) so that each pass streams through memory.
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

/* One VM's bounds for a fill, and what the fill gave it. */
struct slot {
	__u64 floor_bytes;
	__u64 cap_bytes;
	__u64 gran_bytes;
	__u64 x_bytes;
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
	__u32 lane;
};

/* The VMs a fill hands memory to, one array per field; lane k is one VM. */
struct lanes {
	size_t n;
	__u64 *x;	/* so far; the result in the end */
	__u64 *cap;
	double *x_d;	/* x and cap as doubles, for the passes */
	double *cap_d;
	__u64 *mask;	/* ~(granule - 1) */
	double *gran_d;	/* the granule, as a double */
	__u64 *y;	/* at the highest level known to fit */
	__u64 *z;	/* at the lowest level known not to */
	__u64 *t;	/* at the level being tried */
	double *scale;	/* level λ means λ·scale bytes: weight × cap */
	/* The level solve's copies of the lanes still undecided: */
	double *s_scale, *s_x, *s_cap, *s_gran;
	double *s_lo;	/* level at which it leaves x */
	double *s_hi;	/* level at which it reaches its cap */
	__u32 *id;	/* the VM */
	__u32 *weight;	/* effective: 1 for weight 0 once every weighted VM is satisfied */
	__u32 *todo;	/* lane numbers still undecided in a search */
	struct heap_ent *heap;
};

struct level {
	double lam;   /* the level */
	double slope; /* bytes per unit of level there, from the lanes between x and cap */
	double loss;  /* what rounding down to granules loses there, on average */
	bool fits;    /* a hair below lam, the granules fit: lam solved this very fill */
};

struct ctx {
	const struct alloc_host *h;
	const struct alloc_vm *vms;
	struct slot *s;
	struct work *w;
	struct alloc_target *t;
	__u32 *idx; /* VMs grouped by node */
	struct lanes l;
	struct level warm; /* the ideal's level, to start the final fill from */
	bool warm_tier1;
	void *block; /* all of the above */
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

/* --- granules of a lane ------------------------------------------------------------ */

/* The boundary after b: the next granule multiple, or the cap when that is closer. */
static __u64 next_boundary(const struct lanes *l, size_t k, __u64 b)
{
	__u64 down = b & l->mask[k], g = ~l->mask[k] + 1;

	return l->cap[k] - down <= g ? l->cap[k] : down + g;
}

/* The boundary before b, not below x (x is one: fills only ever stop on boundaries). */
static __u64 prev_boundary(const struct lanes *l, size_t k, __u64 b)
{
	__u64 p = (b - 1) & l->mask[k];

	return p < l->x[k] ? l->x[k] : p;
}

static double key_of(const struct lanes *l, size_t k, __u64 b)
{
	return (double)b / l->scale[k];
}

/*
 * Lane k's amount at level lam, rounded down to its granule, between x and its cap.
 * Written without branches on the data: this runs for every lane on every try, and lanes
 * at their cap, at x and in between come in no order a predictor can learn.
 */
static __u64 amount_near(const struct lanes *l, size_t k, double lam)
{
	double v = lam * l->scale[k], w = v < l->cap_d[k] ? v : l->cap_d[k];
	__u64 b;

	w = w > l->x_d[k] ? w : l->x_d[k];
	b = (__u64)w & l->mask[k];
	b = b < l->x[k] ? l->x[k] : b;
	return v >= l->cap_d[k] ? l->cap[k] : b;
}

/*
 * The highest boundary of lane k whose key is at most lam, from x on. The keys decide, so
 * that this agrees exactly with the heap's order; amount_near() is only a guess, but one
 * the keys can't contradict unless a boundary lies within 2^-40 of it, and only then do
 * the divisions run.
 */
static __u64 amount_at(const struct lanes *l, size_t k, double lam)
{
	double v = lam * l->scale[k], margin = v * 0x1p-40, bd;
	__u64 x = l->x[k], cap = l->cap[k], b = amount_near(l, k, lam);

	bd = (double)b;
	if ((b < cap && (bd + l->gran_d[k] - v <= margin || l->cap_d[k] - v <= margin)) ||
	    (b > x && v - bd <= margin)) {
		while (b < cap && key_of(l, k, next_boundary(l, k, b)) <= lam)
			b = next_boundary(l, k, b);
		while (b > x && key_of(l, k, b) > lam)
			b = prev_boundary(l, k, b);
	}
	return b;
}

/* --- the level --------------------------------------------------------------------- */

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
 * The level at which Σ (clamp(λ·scale, x, cap) − x) equals spare, without granules. The
 * function is piecewise linear with two breakpoints per lane; instead of sorting them,
 * each pass evaluates it at a median-of-three breakpoint, halves the bracket and folds the
 * lanes with no breakpoint left inside into a constant and a slope. Expected O(n). The
 * lanes still undecided are copied to the front of the s_* arrays at each pass, so that
 * every pass reads memory in order.
 */
static void solve_level(struct lanes *l, double spare, struct level *ret)
{
	double lo = 0, hi = INFINITY, konst = 0, slope = 0, loss = 0;
	double *sc = l->s_scale, *sx = l->s_x, *scap = l->s_cap, *slo = l->s_lo, *shi = l->s_hi;
	double *sg = l->s_gran;
	size_t nu = l->n;

	for (size_t k = 0; k < nu; k++) {
		sc[k] = l->scale[k];
		sx[k] = l->x_d[k];
		scap[k] = l->cap_d[k];
		sg[k] = l->gran_d[k];
		slo[k] = sx[k] / sc[k];
		shi[k] = scap[k] / sc[k];
	}
	while (nu) {
		double p = median3(slo[0] > lo && slo[0] < hi ? slo[0] : shi[0],
				   slo[nu / 2] > lo && slo[nu / 2] < hi ? slo[nu / 2] : shi[nu / 2],
				   slo[nu - 1] > lo && slo[nu - 1] < hi ? slo[nu - 1] : shi[nu - 1]);
		double f = konst + slope * p;
		size_t m = 0;

		for (size_t k = 0; k < nu; k++) {
			double v = p * sc[k];

			v = v < scap[k] ? v : scap[k];
			f += (v > sx[k] ? v : sx[k]) - sx[k];
		}
		if (f <= spare)
			lo = p;
		else
			hi = p;
		/* Folding without branches: which way each lane goes is anyone's guess. */
		for (size_t k = 0; k < nu; k++) {
			bool full = shi[k] <= lo, none = slo[k] >= hi;
			bool linear = !full && !none && slo[k] <= lo && shi[k] >= hi;

			konst += full ? scap[k] - sx[k] : linear ? -sx[k] : 0;
			slope += linear ? sc[k] : 0;
			loss += linear ? sg[k] / 2 : 0;
			sc[m] = sc[k];
			sx[m] = sx[k];
			scap[m] = scap[k];
			sg[m] = sg[k];
			slo[m] = slo[k];
			shi[m] = shi[k];
			m += !full && !none && !linear;
		}
		nu = m;
	}
	ret->slope = slope;
	ret->loss = loss;
	ret->fits = true;
	ret->lam = slope > 0 ? (spare - konst) / slope : lo;
	ret->lam = ret->lam < lo ? lo : ret->lam > hi ? hi : ret->lam;
}

/*
 * Bytes that level lam adds over y for the lanes in list (all of them if NULL), each
 * lane's amount in t; ret_slope as in struct level.
 */
static u128 try_level(struct lanes *l, const __u32 *list, size_t n, double lam, double *ret_slope)
{
	double slope = 0;
	u128 sum = 0;

	for (size_t j = 0; j < n; j++) {
		size_t k = list ? list[j] : j;

		l->t[k] = amount_at(l, k, lam);
		sum += l->t[k] - l->y[k];
		slope += l->t[k] < l->cap[k] && lam * l->scale[k] > l->x_d[k] ? l->scale[k] : 0;
	}
	*ret_slope = slope;
	return sum;
}

#define NEWTON_TRIES 6

/* Where to try next inside (lo, hi): the secant, or halfway when that stalls. */
static double bracket_step(double lo, double hi, u128 at_lo, u128 at_hi, __u64 spare, bool halve)
{
	double lam = lo + (hi - lo) * (double)(spare - at_lo) / (double)(at_hi - at_lo);

	return halve || !(lam > lo && lam < hi) ? lo + (hi - lo) / 2 : lam;
}

/*
 * Raises the lanes to a level whose granules all fit in spare, close below the highest
 * such level. First over all lanes: a try aimed at from's level plus the rounding loss,
 * then the continuous level itself (rounding only loses, so that one fits), then Newton
 * steps on the rounded sum, the last ones aimed long so as to overshoot. Once a level
 * overshoots, only the lanes with a boundary between the two levels are tried again (y:
 * amounts at lo, z: at hi), and there are fewer at every step. On return the lanes' x are
 * at ret->lam, ret->slope is the slope there, *ret_hi the level that overshot or INFINITY.
 * Returns the bytes taken.
 */
static __u64 raise_level(struct lanes *l, __u64 spare, __u64 close_bytes,
			 const struct level *from, struct level *ret, double *ret_hi)
{
	double lo = 0, hi = INFINITY, slope = from->slope, s, lam;
	u128 at_lo = 0, at_hi = 0, got;
	__u32 *u = l->todo;
	size_t nu = 0;
	int last = 0; /* which end moved last: -1 lo, 1 hi */

	memcpy(l->y, l->x, l->n * sizeof(*l->y));
	lam = from->lam + (slope > 0 ? from->loss / slope : 0);
	for (int i = 0; i < NEWTON_TRIES && lam > lo; i++) {
		got = at_lo + try_level(l, NULL, l->n, lam, &s);
		if (got > spare) {
			hi = lam;
			at_hi = got;
			if (lo > 0)
				break;
			/* Nothing fits yet: this fill's own continuous level does, else aim low. */
			if (from->fits && lam > from->lam * (1 - 0x1p-30))
				lam = from->lam * (1 - 0x1p-30);
			else
				lam = s > 0 ? hi - 2 * (double)(got - spare) / s : 0;
			if (!(lam > 0 && lam < hi))
				lam = hi / 2;
			continue;
		}
		lo = lam;
		at_lo = got;
		slope = s;
		memcpy(l->y, l->t, l->n * sizeof(*l->y));
		if (spare - at_lo <= close_bytes || slope <= 0)
			break;
		lam = lo + (double)(spare - at_lo) / slope * (i >= 2 ? 2 : 1);
	}
	if (hi < INFINITY)
		for (size_t k = 0; k < l->n; k++) {
			l->z[k] = l->t[k];
			if (l->z[k] != l->y[k])
				u[nu++] = (__u32)k;
		}
	while (nu && spare - at_lo > close_bytes) {
		size_t m = 0;

		lam = bracket_step(lo, hi, at_lo, at_hi, spare, last != 0);
		if (!(lam > lo && lam < hi))
			break;
		got = at_lo + try_level(l, u, nu, lam, &s);
		if (got <= spare) {
			last = last == -1 ? 0 : -1;
			lo = lam;
			at_lo = got;
		} else {
			last = last == 1 ? 0 : 1;
			hi = lam;
			at_hi = got;
		}
		for (size_t j = 0; j < nu; j++) {
			size_t k = u[j];

			if (got <= spare)
				l->y[k] = l->t[k];
			else
				l->z[k] = l->t[k];
			u[m] = u[j];
			m += l->y[k] != l->z[k];
		}
		nu = m;
	}
	memcpy(l->x, l->y, l->n * sizeof(*l->x));
	for (size_t k = 0; k < l->n; k++)
		l->x_d[k] = (double)l->x[k];
	ret->lam = lo;
	ret->slope = slope;
	ret->loss = 0;
	ret->fits = false;
	*ret_hi = hi;
	return (__u64)at_lo;
}

/* --- the last granules, in key order ----------------------------------------------- */

static bool heap_before(const struct lanes *l, const struct heap_ent *a, const struct heap_ent *b)
{
	if (a->key != b->key)
		return a->key < b->key;
	if (l->weight[a->lane] != l->weight[b->lane])
		return l->weight[a->lane] > l->weight[b->lane];
	return l->id[a->lane] < l->id[b->lane];
}

static void sift_down(const struct lanes *l, struct heap_ent *hp, size_t n, size_t i)
{
	struct heap_ent e = hp[i];

	for (;;) {
		size_t m = 2 * i + 1;

		if (m >= n)
			break;
		if (m + 1 < n && heap_before(l, &hp[m + 1], &hp[m]))
			m++;
		if (!heap_before(l, &hp[m], &e))
			break;
		hp[i] = hp[m];
		i = m;
	}
	hp[i] = e;
}

enum hand_out_end {
	HAND_OUT_DONE,	  /* nothing left to give, or nobody left to take */
	HAND_OUT_STUCK,	  /* the next granule in key order does not fit */
	HAND_OUT_WINDOW,  /* every granule with a key up to the window's end was given */
};

/*
 * Hands out granules with keys up to hi, in key order, until one does not fit. Only lanes
 * with a boundary that low go into the heap: a multiplication sorts them out, a division
 * gives the exact key of the few that are. *left: the bytes to give, and what remains.
 * *ret_key: the key of the granule that did not fit.
 */
static enum hand_out_end hand_out(struct lanes *l, __u64 *left, double hi, double *ret_key)
{
	struct heap_ent *hp = l->heap;
	bool more = false;
	size_t nh = 0;

	for (size_t k = 0; k < l->n; k++) {
		__u64 nb;
		double key;

		if (l->x[k] >= l->cap[k])
			continue;
		nb = next_boundary(l, k, l->x[k]);
		if ((double)nb > hi * l->scale[k] * (1 + 0x1p-40) || (key = key_of(l, k, nb)) > hi) {
			more = true;
			continue;
		}
		hp[nh++] = (struct heap_ent){ key, (__u32)k };
	}
	for (size_t i = nh / 2; i-- > 0;)
		sift_down(l, hp, nh, i);
	while (nh && *left) {
		size_t k = hp[0].lane;
		__u64 nb = next_boundary(l, k, l->x[k]);

		if (nb - l->x[k] > *left) {
			*ret_key = hp[0].key;
			return HAND_OUT_STUCK;
		}
		*left -= nb - l->x[k];
		l->x[k] = nb;
		if (nb < l->cap[k])
			hp[0].key = key_of(l, k, next_boundary(l, k, nb));
		if (nb >= l->cap[k] || hp[0].key > hi) {
			more |= nb < l->cap[k];
			hp[0] = hp[--nh];
		}
		sift_down(l, hp, nh, 0);
	}
	return *left && more ? HAND_OUT_WINDOW : HAND_OUT_DONE;
}

/*
 * Keeps the lanes that can still take a granule of left bytes: a lane whose next granule
 * does not fit now never will, since left only shrinks. The lanes move down in place, the
 * others' results go to their slots. ret->slope loses the slopes of the lanes dropped.
 */
static void keep_fitting(struct ctx *c, __u64 left, struct level *ret)
{
	struct lanes *l = &c->l;
	size_t m = 0;

	for (size_t k = 0; k < l->n; k++) {
		bool keep = l->x[k] < l->cap[k] && next_boundary(l, k, l->x[k]) - l->x[k] <= left;

		c->s[l->id[k]].x_bytes = l->x[k];
		if (!keep) {
			ret->slope -= ret->lam * l->scale[k] > l->x_d[k] ? l->scale[k] : 0;
			continue;
		}
		l->x[m] = l->x[k];
		l->x_d[m] = l->x_d[k];
		l->cap[m] = l->cap[k];
		l->cap_d[m] = l->cap_d[k];
		l->mask[m] = l->mask[k];
		l->gran_d[m] = l->gran_d[k];
		l->scale[m] = l->scale[k];
		l->id[m] = l->id[k];
		l->weight[m] = l->weight[k];
		m++;
	}
	l->n = m;
}

/*
 * Distributes spare bytes above the lanes' x in key order, in rounds: raise the level
 * close to where the budget runs out, hand out the rest of the granules in a window above
 * it, and when one does not fit, drop the lanes that can't fit anything any more and go on
 * from there. The results go to the slots.
 */
static void level_fill(struct ctx *c, __u64 spare, __u64 step, const struct level *warm)
{
	struct lanes *l = &c->l;
	struct level lv;

	if (warm)
		lv = *warm;
	else
		solve_level(l, (double)spare, &lv);
	while (l->n && spare) {
		/* Close enough when the heap is left about a granule for one lane in 30. */
		__u64 close = (l->n / 30 + 8) * step;
		enum hand_out_end end;
		double hi, key;

		spare -= raise_level(l, spare, close, &lv, &lv, &hi);
		for (int w = 0;; w++) {
			double to = lv.slope > 0 && w < 8 ?
					    lv.lam + 2 * (double)spare / lv.slope * (1 << w) : hi;

			to = to < hi ? to : hi;
			end = hand_out(l, &spare, to, &key);
			if (end != HAND_OUT_WINDOW)
				break;
			/* Everything up to hi fit after all: floating point; look further. */
			if (to == hi)
				hi = INFINITY;
			lv.lam = to;
		}
		if (end == HAND_OUT_DONE)
			break;
		lv.lam = key;
		keep_fitting(c, spare, &lv);
		step = UINT64_MAX;
		for (size_t k = 0; k < l->n; k++) {
			__u64 s = next_boundary(l, k, l->x[k]) - l->x[k];

			step = s < step ? s : step;
		}
		lv.loss = 0;
	}
	for (size_t k = 0; k < l->n; k++)
		c->s[l->id[k]].x_bytes = l->x[k];
}

/*
 * Fills idx[0..m) within budget: every VM between its floor and its cap, by weight when
 * short. Weight 0 is a tier below: it leaves its floor only once every weighted VM has its
 * cap, and then shares what is left by want. The caller checked Σ floor ≤ budget. With
 * exact false, only the granules below the continuous level are taken: the ideal that the
 * hysteresis looks at, which does not need the last granule.
 */
static void fill(struct ctx *c, const __u32 *idx, size_t m, __u64 budget, bool exact)
{
	u128 sum_cap = 0, sum_tier1 = 0, fixed = 0;
	struct lanes *l = &c->l;
	__u64 step = UINT64_MAX;
	bool tier1_fits;

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
	l->n = 0;
	for (size_t k = 0; k < m; k++) {
		struct slot *s = &c->s[idx[k]];
		__u32 weight = c->vms[idx[k]].weight;
		bool filled = tier1_fits ? !weight : weight;
		size_t j = l->n;

		if (!filled || s->floor_bytes >= s->cap_bytes) {
			s->x_bytes = filled || !tier1_fits ? s->floor_bytes : s->cap_bytes;
			fixed += s->x_bytes;
			continue;
		}
		fixed += s->floor_bytes;
		l->x[j] = s->floor_bytes;
		l->x_d[j] = (double)s->floor_bytes;
		l->cap[j] = s->cap_bytes;
		l->cap_d[j] = (double)s->cap_bytes;
		l->mask[j] = ~(s->gran_bytes - 1);
		l->gran_d[j] = (double)s->gran_bytes;
		l->weight[j] = weight ? weight : 1;
		l->scale[j] = (double)l->weight[j] * l->cap_d[j];
		l->id[j] = idx[k];
		step = s->gran_bytes < step ? s->gran_bytes : step;
		l->n++;
	}
	if (exact) {
		/* The ideal's level is a good first guess, unless tiers differ. */
		bool warm = c->warm.lam > 0 && c->warm_tier1 == tier1_fits;

		level_fill(c, budget - (__u64)fixed, step, warm ? &c->warm : NULL);
		return;
	}
	if (l->n) {
		solve_level(l, (double)(budget - (__u64)fixed), &c->warm);
		c->warm.fits = false;
		c->warm_tier1 = tier1_fits;
		for (size_t k = 0; k < l->n; k++)
			c->s[l->id[k]].x_bytes = amount_near(l, k, c->warm.lam);
	}
}

static __u64 granule_of(const struct alloc_vm *v)
{
	return v->granule_bytes ? v->granule_bytes : ALLOC_GRANULE_DEFAULT_BYTES;
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
	/* 128-bit division is a library call: only when 64 bits could overflow. */
	__u64 step = a <= UINT64_MAX / 100 ? a * h->shrink_step_pct / 100 :
					      (__u64)((u128)a * h->shrink_step_pct / 100);
	__u64 to = a - step;
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
	c->warm.lam = 0;
	fill(c, idx, m, budget, false);
	for (size_t k = 0; k < m; k++) {
		c->w[idx[k]].ideal_bytes = c->s[idx[k]].x_bytes;
		transition_floor(c, idx[k]);
	}
	/* The host reserve is sacred: limits that don't fit give way. */
	ret->dropped_reasons = drop_limits(c, idx, m, budget);
	fill(c, idx, m, budget, true);
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
	u128 raw, want;

	/* 128-bit division is a library call: only when 64 bits could overflow. */
	if (v->demand_bytes <= UINT64_MAX / 2100)
		raw = (v->demand_bytes * (100 + v->buffer_pct) + 99) / 100;
	else
		raw = ((u128)v->demand_bytes * (100 + v->buffer_pct) + 99) / 100;
	want = raw;

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

/*
 * Scratch for n VMs, in one block: freed and taken again at every plan, one block stays
 * in the heap, where separate arrays get trimmed and page-faulted back in each time.
 */
static int ctx_alloc(struct ctx *c, size_t n)
{
	struct lanes *l = &c->l;
	size_t size = 0, at = 0;
	char *p;

#define CARVE(ptr)                                                         \
	do {                                                               \
		if (p)                                                     \
			ptr = (void *)(p + at);                            \
		at += n * sizeof(*ptr);                                    \
	} while (0)
	/* Twice: sizes first, then pointers; largest alignment first, so all stay aligned. */
	for (int pass = 0; pass < 2; pass++) {
		p = pass ? malloc(size) : NULL;
		if (pass && !p)
			return -ENOMEM;
		at = 0;
		CARVE(l->heap);
		CARVE(l->x);
		CARVE(l->cap);
		CARVE(l->x_d);
		CARVE(l->cap_d);
		CARVE(l->mask);
		CARVE(l->gran_d);
		CARVE(l->y);
		CARVE(l->z);
		CARVE(l->t);
		CARVE(l->scale);
		CARVE(l->s_scale);
		CARVE(l->s_x);
		CARVE(l->s_cap);
		CARVE(l->s_gran);
		CARVE(l->s_lo);
		CARVE(l->s_hi);
		CARVE(c->s);
		CARVE(c->w);
		CARVE(c->t);
		CARVE(l->id);
		CARVE(l->weight);
		CARVE(l->todo);
		CARVE(c->idx);
		size = at;
	}
#undef CARVE
	c->block = p;
	return 0;
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
	err = ctx_alloc(&c, n + 1); /* malloc(0) may return NULL */
	if (err)
		goto out;
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
	free(c.block);
	return err;
}
