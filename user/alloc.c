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
 * rounds: find a level just below the highest one whose granules all fit (the continuous
 * level by Newton's method, then passes that try two levels at once on the rounded sum,
 * narrowing a bracket around it and looking only at the VMs with a boundary inside), take
 * every granule up to it at once, hand out the few granules left in the bracket in key
 * order from a heap until one does not fit, drop the VMs that can't fit any more, and go
 * again with the rest. The VMs of a fill are packed into arrays (lanes), so that each pass
 * streams through memory.
 *
 * The transition limits then work as floors under the fill: the ideal (the same fill with
 * only the minimums as floors, to the continuous level) says which VMs would shrink, and
 * those held are fixed at what they have.
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
	__u64 held_bytes;	 /* assigned, clamped into [minimum, maximum] */
	__u64 used_bytes;	 /* demand in granules, at most held_bytes: what its guest uses */
	__u64 ideal_bytes;	 /* where the fill with only the minimums as floors put it */
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
	__u64 *x; /* so far; the result in the end */
	__u64 *cap;
	double *x_d; /* x and cap as doubles, for the passes */
	double *cap_d;
	__u64 *mask;	/* ~(granule - 1) */
	double *gran_d; /* the granule, as a double */
	__u64 *y;	/* at the highest level known to fit */
	__u64 *z;	/* at the lowest level known not to */
	__u64 *t;	/* at the lower level being tried */
	__u64 *t2;	/* at the higher one */
	double *scale;	/* level λ means λ·scale bytes: weight × cap */
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
	struct level ideal; /* the group's ideal level, lam 0 if none */
	bool ideal_tier1;
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
	[ALLOC_HOLD_IN_USE] = "hold_in_use",
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

/* The next double up and down, for positive finite ones. */
static double next_up(double d)
{
	__u64 u;

	memcpy(&u, &d, sizeof(u));
	u++;
	memcpy(&d, &u, sizeof(d));
	return d;
}

static double next_down(double d)
{
	__u64 u;

	memcpy(&u, &d, sizeof(u));
	u--;
	memcpy(&d, &u, sizeof(d));
	return d;
}

/*
 * The key of boundary b of lane k: the lowest level λ at which λ·scale, as the machine
 * multiplies it, reaches b. Defined by the product rather than by b / scale so that
 * amount_at(), which runs for every lane on every try, needs no division and agrees with
 * the heap's order to the last bit; the division only finds the key to an ulp or two.
 */
static double key_of(const struct lanes *l, size_t k, __u64 b)
{
	double bd = (double)b, sc = l->scale[k], lam = bd / sc;

	while (lam * sc < bd)
		lam = next_up(lam);
	while (lam > 0 && next_down(lam) * sc >= bd)
		lam = next_down(lam);
	return lam;
}

/*
 * Lane k's amount at level lam: its highest boundary with a key at most lam, which is the
 * highest one at or below lam·scale. Without branches on the data: this runs for every
 * lane on every try, and lanes at their cap, at x and in between come in no order a
 * predictor can learn.
 */
static __u64 amount_at(const struct lanes *l, size_t k, double lam)
{
	double v = lam * l->scale[k], w = v < l->cap_d[k] ? v : l->cap_d[k];
	__u64 b;

	w = w > l->x_d[k] ? w : l->x_d[k];
	b = (__u64)w & l->mask[k];
	b = b < l->x[k] ? l->x[k] : b;
	b = v >= l->cap_d[k] ? l->cap[k] : b;
	/* Only above 2^53, where the cap as a double may lie above the cap itself. */
	if (b > l->cap[k] || (b == l->cap[k] && v < l->cap_d[k]))
		b = prev_boundary(l, k, l->cap[k]);
	return b;
}

/* --- the level --------------------------------------------------------------------- */

/*
 * Σ (clamp(λ·scale, x, cap) − x) over every stride-th lane, without granules; ret_slope:
 * its slope there, ret_loss: half a granule for every lane on that slope, what rounding
 * down loses on average. Two sets of sums, so that each addition does not wait for the
 * last one.
 */
static double level_sum(const struct lanes *l, size_t stride, double lam, double *ret_slope,
			double *ret_loss)
{
	double f[2] = { 0 }, slope[2] = { 0 }, loss[2] = { 0 };

	for (size_t k = 0, j = 0; k < l->n; k += stride, j++) {
		double v = lam * l->scale[k], x = l->x_d[k], cap = l->cap_d[k];
		double w = v < cap ? v : cap, on = (v > x) * (v < cap);

		f[j & 1] += (w > x ? w : x) - x;
		slope[j & 1] += on * l->scale[k];
		loss[j & 1] += on * l->gran_d[k];
	}
	*ret_slope = slope[0] + slope[1];
	*ret_loss = (loss[0] + loss[1]) / 2;
	return f[0] + f[1];
}

#define SOLVE_TRIES  64
#define SAMPLE_LANES 1024 /* from this many lanes on, a sample finds where to start */
#define SAMPLE_EVERY 16

/*
 * The level at which level_sum() over every stride-th lane equals spare: Newton steps from
 * lam, which land on it exactly once the set of lanes on the slope stops changing (a
 * handful of steps), kept inside the bracket seen so far and halving it when they stray.
 * The level returned sums to spare within rounding, or below.
 */
static void newton_level(const struct lanes *l, size_t stride, double spare, double lam,
			 struct level *ret)
{
	double lo = 0, hi = INFINITY, f = 0, slope = 0, loss = 0;
	struct level at_lo = { 0 };

	for (int i = 0; i < SOLVE_TRIES && lam > 0; i++) {
		double next;

		f = level_sum(l, stride, lam, &slope, &loss);
		if (f <= spare) {
			lo = lam;
			at_lo = (struct level){ lam, slope, loss, true };
		} else {
			hi = lam;
		}
		/* Within a byte is exact: rounding in sums of terabytes is about that. */
		if (f - spare <= spare * 0x1p-40 + 1 && spare - f <= spare * 0x1p-40 + 1)
			break;
		next = slope > 0 ? lam + (spare - f) / slope : 0;
		/*
		 * This close, the lanes on the slope won't change: the step lands on the level
		 * and another pass would only confirm it. raise_level() checks what it takes.
		 */
		if (f < spare && spare - f <= spare * 0x1p-20 + 4096 && next > lam && next < hi) {
			*ret = (struct level){ next, slope, loss, true };
			return;
		}
		if (!(next > lo && next < hi))
			next = hi < INFINITY ? lo + (hi - lo) / 2 : 2 * lam;
		if (next == lam)
			break;
		lam = next;
	}
	/* A hair over, from rounding, is as good: the caller backs off a hair anyway. */
	if (f > spare && f - spare <= spare * 0x1p-40 + 1)
		at_lo = (struct level){ lam, slope, loss, true };
	*ret = at_lo;
}

/*
 * The level at which level_sum() equals spare, from ret->lam if above 0. Otherwise the
 * first guess treats every lane as on its slope, and with many lanes a sample of them
 * (every 16th, given its share of the room) first finds the level to start from, so that
 * the passes over all lanes are one or two.
 */
static void solve_level(struct lanes *l, double spare, struct level *ret)
{
	double sum_x = 0, sum_scale = 0, room = 0, room_sample = 0, lam = ret->lam;
	struct level sample;

	if (lam <= 0) {
		for (size_t k = 0; k < l->n; k++) {
			sum_x += l->x_d[k];
			sum_scale += l->scale[k];
			room += l->cap_d[k] - l->x_d[k];
			room_sample += k % SAMPLE_EVERY ? 0 : l->cap_d[k] - l->x_d[k];
		}
		lam = (spare + sum_x) / sum_scale;
		if (l->n >= SAMPLE_LANES && room_sample > 0) {
			newton_level(l, SAMPLE_EVERY, spare * room_sample / room, lam, &sample);
			lam = sample.lam > 0 ? sample.lam : lam;
		}
	}
	newton_level(l, 1, spare, lam, ret);
}

/* What a pass over the lanes at two levels finds. */
struct tried {
	u128 sum[2];  /* bytes over y at each level */
	double slope; /* at the higher level, as in struct level */
	double gran;  /* the granule of the lanes on that slope, averaged by their scale */
};

/*
 * Tries levels p[0] <= p[1] over the lanes in list (all of them if NULL): each lane's
 * amount at p[0] goes to t, at p[1] to t2. Two levels for one pass over memory.
 */
static void try_levels(struct lanes *l, const __u32 *list, size_t n, const double p[2],
		       struct tried *ret)
{
	double slope[2] = { 0 }, gran[2] = { 0 };
	u128 sum0 = 0, sum1 = 0;

	for (size_t j = 0; j < n; j++) {
		size_t k = list ? list[j] : j;
		__u64 t = amount_at(l, k, p[0]), t2 = amount_at(l, k, p[1]);
		double on = (t2 < l->cap[k]) * (p[1] * l->scale[k] > l->x_d[k]) * l->scale[k];

		l->t[k] = t;
		l->t2[k] = t2;
		sum0 += t - l->y[k];
		sum1 += t2 - l->y[k];
		slope[j & 1] += on;
		gran[j & 1] += on * l->gran_d[k];
	}
	ret->sum[0] = sum0;
	ret->sum[1] = sum1;
	ret->slope = slope[0] + slope[1];
	ret->gran = ret->slope > 0 ? (gran[0] + gran[1]) / ret->slope : 0;
}

#define LEVEL_PASSES 24

/*
 * The next two levels to try, inside (lo, hi): Newton's step from lo and the secant across
 * the bracket (the one undershoots where the other overshoots, whichever way the sum
 * bends), pushed apart by a few times how far rounding to granules makes the sum wander
 * over such a step: about √(gap·granule).
 */
static void next_pair(double lo, double hi, double gap, double width, double slope, double gran,
		      double p[2])
{
	double newton = slope > 0 ? lo + gap / slope : 2 * lo;
	double secant = hi < INFINITY ? lo + (hi - lo) * gap / width : newton;
	double d = slope > 0 ? 3 * sqrt(gap * (gran > 0 ? gran : 1)) / slope : 0;
	double a = newton < secant ? newton : secant, b = newton < secant ? secant : newton;

	p[0] = a - d > lo ? a - d : lo + (a - lo) / 2;
	p[1] = b + d < hi ? b + d : b + (hi - b) / 2;
	if (!(p[0] > lo))
		p[0] = p[1];
	if (p[1] > hi || !(p[1] > lo))
		p[1] = p[0] = lo + (hi - lo) / 2;
}

/*
 * Lane k, between y and z, alone takes gap bytes: it stops on the highest boundary b it can
 * reach. p[0]: the level where it reaches b, p[1]: just below its next boundary; just below
 * the next one when b is y itself. False when the lane would not stop inside the bracket.
 */
static bool dominant_pair(const struct lanes *l, size_t k, __u64 gap, double p[2])
{
	__u64 y = l->y[k], b = gap < l->z[k] - y ? (y + gap) & l->mask[k] : l->z[k];

	if (b >= l->z[k])
		return false;
	if (b <= y) {
		p[1] = next_down(key_of(l, k, next_boundary(l, k, y)));
		p[0] = p[1];
		return true;
	}
	p[0] = key_of(l, k, b);
	p[1] = next_down(key_of(l, k, next_boundary(l, k, b)));
	p[1] = p[1] > p[0] ? p[1] : p[0];
	return true;
}

/*
 * Raises the lanes to a level whose granules all fit in spare, within close_bytes of the
 * highest such level (or as close as a level can get). Every pass tries two levels that
 * straddle the best guess: the secant inside the bracket known so far, or Newton's step
 * without one; apart by a few times how much rounding to granules makes the sum wander
 * over the step (about √(gap·granule)). The first pair is the continuous level a hair low,
 * which fits when it was solved for these lanes, and the same plus the rounding loss.
 * Once the level is bracketed, only the lanes with a boundary inside the bracket are
 * looked at again (y: amounts at lo, z: at hi), and there are fewer at every pass. On
 * return the lanes' x are at ret->lam, ret->slope is the slope there, *ret_hi the level
 * that overshot (INFINITY if none). Returns the bytes taken.
 */
static __u64 raise_level(struct lanes *l, __u64 spare, __u64 close_bytes, const struct level *from,
			 struct level *ret, double *ret_hi)
{
	double lo = 0, hi = INFINITY, slope = from->slope, gran = 0, p[2];
	u128 at_lo = 0, at_hi = 0;
	__u32 *u = l->todo;
	size_t nu = 0;
	struct tried tr;

	memcpy(l->y, l->x, l->n * sizeof(*l->y));
	p[0] = from->lam * (1 - 0x1p-30);
	p[1] = slope > 0 ? from->lam + from->loss / slope : 2 * from->lam;
	for (int pass = 0; pass < LEVEL_PASSES && spare - at_lo > close_bytes; pass++) {
		const __u32 *list = hi < INFINITY ? u : NULL;
		size_t n = hi < INFINITY ? nu : l->n;
		u128 width = at_hi - at_lo;

		if (!(p[0] > lo && p[0] <= p[1] && p[1] < hi))
			break;
		try_levels(l, list, n, p, &tr);
		if (at_lo + tr.sum[0] > spare) {
			hi = p[0];
			at_hi = at_lo + tr.sum[0];
			for (size_t j = 0; j < n; j++)
				l->z[list ? list[j] : j] = l->t[list ? list[j] : j];
		} else if (at_lo + tr.sum[1] <= spare) {
			lo = p[1];
			at_lo += tr.sum[1];
			slope = tr.slope;
			gran = tr.gran;
			for (size_t j = 0; j < n; j++)
				l->y[list ? list[j] : j] = l->t2[list ? list[j] : j];
		} else {
			lo = p[0];
			hi = p[1];
			at_hi = at_lo + tr.sum[1];
			at_lo += tr.sum[0];
			for (size_t j = 0; j < n; j++) {
				size_t k = list ? list[j] : j;

				l->y[k] = l->t[k];
				l->z[k] = l->t2[k];
			}
		}
		/* Bracketed: from now on only the lanes with a boundary inside the bracket. */
		if (hi < INFINITY) {
			size_t m = 0, big = list ? list[0] : 0;

			for (size_t j = 0; j < n; j++) {
				size_t k = list ? list[j] : j;

				u[m] = (__u32)k;
				big = l->z[k] - l->y[k] > l->z[big] - l->y[big] ? k : big;
				m += l->y[k] != l->z[k];
			}
			nu = m;
			if (!nu)
				break;
			/*
			 * One lane makes most of the bracket (a huge page, or a lane whose level
			 * climbs fast): the answer is about where that lane alone takes the gap,
			 * so try the two ends of the granule it would stop on.
			 */
			if (2 * (l->z[big] - l->y[big]) > at_hi - at_lo &&
			    dominant_pair(l, big, (__u64)(spare - at_lo), p) && p[0] > lo &&
			    p[1] < hi)
				continue;
			if (at_hi - at_lo <= close_bytes)
				break;
			/* Guessing went badly (a bend, rounding): cut the bracket in three. */
			if (pass && 3 * (at_hi - at_lo) > width) {
				p[0] = lo + (hi - lo) / 3;
				p[1] = lo + (hi - lo) / 3 * 2;
				continue;
			}
		}
		next_pair(lo, hi, (double)(spare - at_lo), (double)(at_hi - at_lo), slope, gran, p);
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
	HAND_OUT_DONE,	 /* nothing left to give, or nobody left to take */
	HAND_OUT_STUCK,	 /* the next granule in key order does not fit */
	HAND_OUT_WINDOW, /* every granule with a key up to the window's end was given */
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
		/* The product rules most lanes out; only the few left need the key's division. */
		if ((double)nb > hi * l->scale[k] * (1 + 0x1p-40) ||
		    (key = key_of(l, k, nb)) > hi) {
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
 * Returns the smallest next granule of those kept.
 */
static __u64 keep_fitting(struct ctx *c, __u64 left, struct level *ret)
{
	struct lanes *l = &c->l;
	__u64 smallest = UINT64_MAX;
	size_t m = 0;

	for (size_t k = 0; k < l->n; k++) {
		__u64 step = next_boundary(l, k, l->x[k]) - l->x[k];

		c->s[l->id[k]].x_bytes = l->x[k];
		if (l->x[k] >= l->cap[k] || step > left) {
			ret->slope -= ret->lam * l->scale[k] > l->x_d[k] ? l->scale[k] : 0;
			continue;
		}
		smallest = step < smallest ? step : smallest;
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
	ret->slope = ret->slope > 0 ? ret->slope : 0;
	return smallest;
}

/*
 * Distributes spare bytes above the lanes' x in key order, in rounds: raise the level
 * close to where the budget runs out, hand out the rest of the granules in a window above
 * it, and when one does not fit, drop the lanes that can't fit anything any more and go on
 * from there. The results go to the slots.
 */
static void level_fill(struct ctx *c, __u64 spare, __u64 step, const struct level *from)
{
	struct lanes *l = &c->l;
	struct level lv = *from;

	while (l->n && spare) {
		/* Close enough when the heap is left about a granule for one lane in 30. */
		__u64 close = (l->n / 30 + 8) * step;
		enum hand_out_end end;
		double hi = INFINITY, key;

		/*
		 * After a misfit little is often left: then the heap alone is cheaper. Else the
		 * level is solved again from the misfit's key: the lanes dropped took their
		 * slope with them, and lanes held up by their floors may have none yet.
		 */
		if (!lv.fits && spare > close)
			solve_level(l, (double)spare, &lv);
		if (lv.fits)
			spare -= raise_level(l, spare, close, &lv, &lv, &hi);
		for (int w = 0;; w++) {
			double to = lv.slope > 0 && w < 8
					    ? lv.lam + 2 * (double)spare / lv.slope * (1 << w)
					    : hi;

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
		step = keep_fitting(c, spare, &lv);
		lv.loss = 0;
	}
	for (size_t k = 0; k < l->n; k++)
		c->s[l->id[k]].x_bytes = l->x[k];
}

/* What a fill needs to know of its group beforehand; plan_group adds it up on the way. */
struct fill_sums {
	u128 cap;    /* Σ cap */
	u128 tier1;  /* Σ cap over VMs with a weight, Σ floor over those without */
	double lift; /* Σ of how far floors lie above the ideal */
};

/*
 * Fills idx[0..m) within budget: every VM between its floor and its cap, by weight when
 * short. Weight 0 is a tier below: it leaves its floor only once every weighted VM has its
 * cap, and then shares what is left by want. The caller checked Σ floor ≤ budget. With
 * exact false, only the granules below the continuous level are taken: the ideal that the
 * hysteresis looks at, which does not need the last granule; its level goes to c->ideal,
 * where the exact fill of the same group starts its search from.
 */
static void fill(struct ctx *c, const __u32 *idx, size_t m, __u64 budget,
		 const struct fill_sums *sums, bool exact)
{
	struct lanes *l = &c->l;
	__u64 step = UINT64_MAX;
	struct level lv = { 0 };
	bool tier1_fits;
	u128 fixed = 0;

	if (sums->cap <= budget) {
		for (size_t k = 0; k < m; k++)
			c->s[idx[k]].x_bytes = c->s[idx[k]].cap_bytes;
		c->ideal.lam = 0;
		return;
	}
	tier1_fits = sums->tier1 <= budget;
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
	if (!l->n)
		return;
	/*
	 * The exact fill starts looking where the ideal's level was, if the tiers agree, less
	 * what the floors lifted above it would take at the ideal's slope.
	 */
	if (exact && c->ideal.lam > 0 && c->ideal_tier1 == tier1_fits) {
		lv.lam = c->ideal.slope > 0 ? c->ideal.lam - sums->lift / c->ideal.slope : 0;
		lv.lam = lv.lam > 0 ? lv.lam : c->ideal.lam / 2;
	}
	solve_level(l, (double)(budget - (__u64)fixed), &lv);
	if (exact) {
		level_fill(c, budget - (__u64)fixed, step, &lv);
		return;
	}
	c->ideal = lv;
	c->ideal_tier1 = tier1_fits;
	for (size_t k = 0; k < l->n; k++)
		c->s[l->id[k]].x_bytes = amount_at(l, k, lv.lam);
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
 * shrink harms least), then what the guests use (ballooning a guest below that drives it to
 * swap or to its OOM killer), pressure last (shrinking a VM in distress is the failure dynmem
 * is here to avoid). Dropping them all leaves the ideal.
 */
static const enum alloc_reason drop_order[] = {
	ALLOC_SHRINK_STEP, ALLOC_HOLD_HYSTERESIS, ALLOC_HOLD_RATE,
	ALLOC_HOLD_IN_USE, ALLOC_HOLD_PRESSURE,
};

static bool shrunk_recently(const struct alloc_host *h, const struct alloc_vm *v)
{
	if (!v->last_shrink_ns)
		return false;
	/* A clock that went back counts as recent: when in doubt, don't shrink. */
	return h->now_ns < v->last_shrink_ns ||
	       h->now_ns - v->last_shrink_ns < h->shrink_interval_ns;
}

/*
 * The lowest target one shrink may reach from a: step% below it, rounded up to a granule;
 * one granule when step% is less than that (a VM on 1G pages gives back 1G or nothing).
 */
static __u64 step_floor(const struct alloc_host *h, __u64 a, __u64 g)
{
	/* 128-bit division is a library call: only when 64 bits could overflow. */
	__u64 step = a <= UINT64_MAX / 100 ? a * h->shrink_step_pct / 100
					   : (__u64)((u128)a * h->shrink_step_pct / 100);
	__u64 to = a - step;
	__u64 down = to & ~(g - 1);
	u128 up = down == to ? down : (u128)down + g;

	if (up < a)
		return (__u64)up;
	return a ? (a - 1) & ~(g - 1) : 0;
}

/*
 * Sets VM i's floor (its minimum at least) and cap: its want (or the floor, if above), or
 * the floor itself when held.
 */
static void set_floor(struct ctx *c, __u32 i, __u64 f, enum alloc_reason cause, bool held)
{
	struct work *w = &c->w[i];
	struct slot *s = &c->s[i];

	if (f <= c->vms[i].minimum_bytes) {
		f = c->vms[i].minimum_bytes;
		cause = CAUSE_NONE;
	}
	w->cause = cause;
	s->floor_bytes = f;
	s->cap_bytes = held || f > w->want_bytes ? f : w->want_bytes;
}

/*
 * The floor that the transition limits put under VM i, given its ideal, and why. The
 * conditions come in no order a branch predictor could learn, so all are worked out and
 * one is picked.
 */
/*
 * What VM i's guest uses, as a floor: its demand and ALLOC_IN_USE_MARGIN_PCT more, rounded
 * up to a granule, at most a. The margin is room for the guest kernel's own free pages and
 * for what it took since its report (in the lab, a floor at the bare demand left a growing
 * guest no room and it OOM-killed its workload).
 */
static __u64 in_use(const struct ctx *c, __u32 i, __u64 a)
{
	__u64 g = c->s[i].gran_bytes, d = c->vms[i].demand_bytes;

	d = d > a ? a : d + d / 100 * ALLOC_IN_USE_MARGIN_PCT;
	return d >= a || a - d < g ? a : (d + g - 1) & ~(g - 1);
}

/*
 * A hold that stops a shrink keeps the VM at exactly what it has: it must not also grow in
 * the same plan on what others leave over, or the next plan, starting from there, would
 * judge it anew and the plans would not settle.
 */
static void hold_floor(struct ctx *c, __u32 i, __u64 f, enum alloc_reason why, __u64 ideal)
{
	__u64 a = c->w[i].held_bytes;

	set_floor(c, i, f, why, why != ALLOC_SHRINK_STEP && f == a && ideal < a);
}

static void transition_floor(struct ctx *c, __u32 i, __u64 ideal)
{
	const struct alloc_vm *v = &c->vms[i];
	__u64 a = c->w[i].held_bytes, step = step_floor(c->h, a, c->s[i].gran_bytes);
	__u64 used = in_use(c, i, a);
	bool rate = shrunk_recently(c->h, v);
	bool hyst = ideal < a && (u128)(a - ideal) * 100 < (u128)a * c->h->hysteresis_pct;
	enum alloc_reason why = v->pressure   ? ALLOC_HOLD_PRESSURE
				: rate	      ? ALLOC_HOLD_RATE
				: hyst	      ? ALLOC_HOLD_HYSTERESIS
				: used > step ? ALLOC_HOLD_IN_USE
					      : ALLOC_SHRINK_STEP;

	c->w[i].used_bytes = used;
	c->w[i].ideal_bytes = ideal;
	hold_floor(c, i,
		   why == ALLOC_SHRINK_STEP   ? step
		   : why == ALLOC_HOLD_IN_USE ? used
					      : a,
		   why, ideal);
}

/*
 * How far VM i's floor lies above its minimum, by kind of limit: under a rate, hysteresis or
 * step floor lies the in-use floor, which stays when those give way.
 */
static void add_excess(const struct ctx *c, __u32 i, u128 *excess)
{
	const struct work *w = &c->w[i];
	__u64 f = c->s[i].floor_bytes, min = c->vms[i].minimum_bytes;
	__u64 used = w->used_bytes < f ? w->used_bytes : f;

	if (w->cause == ALLOC_HOLD_PRESSURE || w->cause == ALLOC_HOLD_IN_USE || used <= min) {
		excess[w->cause] += f - min;
		return;
	}
	excess[ALLOC_HOLD_IN_USE] += used - min;
	excess[w->cause] += f - used;
}

static void add_sums(const struct ctx *c, __u32 i, struct fill_sums *sums)
{
	sums->cap += c->s[i].cap_bytes;
	sums->tier1 += c->vms[i].weight ? c->s[i].cap_bytes : c->s[i].floor_bytes;
}

/* How far a kind that gives way only in part still lifts its floors: keep/of of it. */
struct give_way {
	enum alloc_reason last; /* the last kind dropped */
	u128 keep, of;
};

/* base + (f - base) * keep/of, rounded down to the granule: a floor lowered in part. */
static __u64 lowered(const struct ctx *c, __u32 i, __u64 base, __u64 f, const struct give_way *g)
{
	__u64 gran = c->s[i].gran_bytes;
	__u64 x = base + (__u64)((u128)(f - base) * g->keep / g->of);

	return x & ~(gran - 1);
}

/*
 * VM i's floor once the kinds in dropped gave way, the last of them only as far as the
 * budget needs. Pressure implies in use; the other kinds fall back to the in-use floor.
 */
static void give_way(struct ctx *c, __u32 i, __u32 dropped, const struct give_way *g)
{
	const struct work *w = &c->w[i];
	enum alloc_reason cause = w->cause;
	__u64 min = c->vms[i].minimum_bytes, f = c->s[i].floor_bytes, ideal = c->s[i].x_bytes;
	__u64 use = w->used_bytes > min ? (w->used_bytes < f ? w->used_bytes : f) : min;

	if (cause == ALLOC_HOLD_PRESSURE || cause == ALLOC_HOLD_IN_USE) {
		hold_floor(c, i, cause == g->last ? lowered(c, i, min, f, g) : 0, cause, ideal);
	} else if (cause == g->last) {
		hold_floor(c, i, lowered(c, i, use, f, g), cause, ideal);
	} else if (!(dropped & (1U << ALLOC_HOLD_IN_USE))) {
		hold_floor(c, i, use, ALLOC_HOLD_IN_USE, ideal);
	} else {
		hold_floor(c, i, g->last == ALLOC_HOLD_IN_USE ? lowered(c, i, min, use, g) : 0,
			   ALLOC_HOLD_IN_USE, ideal);
	}
}

/*
 * Puts transition floors under idx[0..m), given their ideal in x. When they don't fit the
 * budget, kinds of limits give way in drop_order until they do: all but the last entirely,
 * the last only as far as needed, pro rata over its VMs. Returns the kinds that gave way;
 * ret_sums: what the exact fill needs, and how far above their ideal the floors lift the
 * VMs (which moves the level the exact fill will find).
 */
static __u32 set_limits(struct ctx *c, const __u32 *idx, size_t m, __u64 budget,
			struct fill_sums *ret_sums)
{
	u128 excess[ALLOC_NR_REASONS + 1] = { 0 }, sum = 0, lift = 0;
	struct give_way g = { .last = CAUSE_NONE, .keep = 0, .of = 1 };
	__u32 dropped = 0;

	memset(ret_sums, 0, sizeof(*ret_sums));
	for (size_t k = 0; k < m; k++) {
		__u32 i = idx[k];
		__u64 ideal = c->s[i].x_bytes;

		transition_floor(c, i, ideal);
		sum += c->s[i].floor_bytes;
		add_excess(c, i, excess);
		lift += c->s[i].floor_bytes > ideal ? c->s[i].floor_bytes - ideal : 0;
		add_sums(c, i, ret_sums);
	}
	ret_sums->lift = (double)lift;
	/* Cumulative: with the rate limit gone, a VM that was held by hysteresis has no step. */
	for (size_t d = 0; sum > budget && d < sizeof(drop_order) / sizeof(drop_order[0]); d++) {
		g.last = drop_order[d];
		if (sum - excess[g.last] < budget) {
			g.keep = budget - (sum - excess[g.last]);
			g.of = excess[g.last];
		}
		sum -= excess[g.last];
		dropped |= 1U << g.last;
	}
	if (!dropped)
		return 0;
	memset(ret_sums, 0, sizeof(*ret_sums));
	lift = 0;
	for (size_t k = 0; k < m; k++) {
		__u32 i = idx[k];

		if (dropped & (1U << c->w[i].cause))
			give_way(c, i, dropped, &g);
		lift += c->s[i].floor_bytes > c->s[i].x_bytes
				? c->s[i].floor_bytes - c->s[i].x_bytes
				: 0;
		add_sums(c, i, ret_sums);
	}
	ret_sums->lift = (double)lift;
	return dropped;
}

static enum alloc_reason reason_of(const struct ctx *c, __u32 i)
{
	const struct work *w = &c->w[i];
	const struct slot *s = &c->s[i];
	__u64 x = s->x_bytes;

	/* In use names what stopped a shrink: a VM its ideal puts there anyway is not held. */
	if (w->cause != CAUSE_NONE && x == s->floor_bytes && x != w->want_bytes &&
	    (w->cause != ALLOC_HOLD_IN_USE || w->ideal_bytes < x))
		return w->cause;
	if (x == w->want_bytes)
		return w->capped ? ALLOC_CAPPED : ALLOC_WANT;
	if (x <= c->vms[i].minimum_bytes)
		return ALLOC_MINIMUM;
	return ALLOC_WEIGHT;
}

/* Floors at the minimums, caps at the wants: prepare_vm() left them so. */
static void plan_group(struct ctx *c, const __u32 *idx, size_t m, __u64 budget,
		       struct group_result *ret)
{
	struct fill_sums sums = { 0 };
	u128 sum_min = 0;

	memset(ret, 0, sizeof(*ret));
	for (size_t k = 0; k < m; k++) {
		sum_min += c->vms[idx[k]].minimum_bytes;
		add_sums(c, idx[k], &sums);
	}
	if (sum_min > budget) {
		/* The budget can't be met: minimums win, and the caller raises the alarm. */
		ret->overcommitted = true;
		for (size_t k = 0; k < m; k++) {
			c->t[idx[k]].target_bytes = c->vms[idx[k]].minimum_bytes;
			c->t[idx[k]].reason = ALLOC_OVERCOMMIT;
			ret->total_bytes += c->vms[idx[k]].minimum_bytes;
		}
		return;
	}
	c->ideal.lam = 0;
	fill(c, idx, m, budget, &sums, false);
	/* The host reserve is sacred: limits that don't fit give way. */
	ret->dropped_reasons = set_limits(c, idx, m, budget, &sums);
	fill(c, idx, m, budget, &sums, true);
	for (size_t k = 0; k < m; k++) {
		__u32 i = idx[k];

		c->t[i].target_bytes = c->s[i].x_bytes;
		c->t[i].reason = reason_of(c, i);
		ret->total_bytes += c->s[i].x_bytes;
	}
}

/* --- the plan ---------------------------------------------------------------------- */

/*
 * Checks VM i and works out its want = demand × (1 + buffer/100), into [minimum, maximum],
 * up to a granule, never above maximum; its floor starts at the minimum, its cap at the
 * want. Returns -EINVAL on values outside the documented ranges.
 */
static int prepare_vm(struct ctx *c, __u32 i)
{
	const struct alloc_vm *v = &c->vms[i];
	struct work *w = &c->w[i];
	struct slot *s = &c->s[i];
	__u64 g = granule_of(v), a = v->assigned_bytes;
	u128 raw, want;

	if (v->minimum_bytes > v->maximum_bytes || v->weight > ALLOC_WEIGHT_MAX ||
	    v->buffer_pct < ALLOC_BUFFER_MIN_PCT || v->buffer_pct > ALLOC_BUFFER_MAX_PCT ||
	    (g & (g - 1)))
		return -EINVAL;
	if (!c->h->numa_spanning && (v->node < -1 || v->node >= (int)c->h->nr_nodes))
		return -EINVAL;
	/* 128-bit division is a library call: only when 64 bits could overflow. */
	if (v->demand_bytes <= UINT64_MAX / 2100)
		raw = (v->demand_bytes * (100 + v->buffer_pct) + 99) / 100;
	else
		raw = ((u128)v->demand_bytes * (100 + v->buffer_pct) + 99) / 100;
	want = raw < v->minimum_bytes	? v->minimum_bytes
	       : raw > v->maximum_bytes ? v->maximum_bytes
					: raw;
	want = (want + g - 1) & ~(u128)(g - 1);
	w->want_bytes = want > v->maximum_bytes ? v->maximum_bytes : (__u64)want;
	w->capped = raw > v->maximum_bytes;
	w->held_bytes = a < v->minimum_bytes   ? v->minimum_bytes
			: a > v->maximum_bytes ? v->maximum_bytes
					       : a;
	w->cause = CAUSE_NONE;
	s->gran_bytes = g;
	s->floor_bytes = v->minimum_bytes;
	s->cap_bytes = w->want_bytes;
	c->t[i].want_bytes = w->want_bytes;
	c->idx[i] = i;
	return 0;
}

static void summarize(const struct ctx *c, size_t n, struct alloc_summary *sum)
{
	for (size_t i = 0; i < n; i++) {
		enum alloc_reason r = c->t[i].reason;

		sum->want_bytes += c->t[i].want_bytes;
		sum->nr_short += c->t[i].target_bytes < c->t[i].want_bytes;
		sum->nr_held += r == ALLOC_HOLD_PRESSURE || r == ALLOC_HOLD_RATE ||
				r == ALLOC_HOLD_HYSTERESIS || r == ALLOC_SHRINK_STEP ||
				r == ALLOC_HOLD_IN_USE;
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

#define CARVE(ptr)                                                                                 \
	do {                                                                                       \
		if (p)                                                                             \
			ptr = (void *)(p + at);                                                    \
		at += n * sizeof(*ptr);                                                            \
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
		CARVE(l->t2);
		CARVE(l->scale);
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
	if (h->nr_nodes > ALLOC_MAX_NODES || !h->shrink_step_pct || h->shrink_step_pct > 100 ||
	    h->hysteresis_pct > 100 || n > UINT32_MAX) {
		err = -EINVAL;
		goto out;
	}
	err = ctx_alloc(&c, n + 1); /* malloc(0) may return NULL */
	if (err)
		goto out;
	for (__u32 i = 0; i < n && !err; i++)
		err = prepare_vm(&c, i);
	if (err)
		goto out;
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
