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
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "alloc.h"

typedef unsigned __int128 u128;

/*
 * A sum of up to 2^32 byte counts, in two words. The loops over every VM add into these
 * rather than into u128: GCC 12 moves an __int128 through the stack in halves and reads it
 * back whole, and that store-forwarding stall cost more than the rest of those loops.
 */
struct sum128 {
	__u64 lo, hi;
};

static void sum_add(struct sum128 *s, __u64 x)
{
	s->lo += x;
	s->hi += s->lo < x;
}

/* s -= x; x at most s. */
static void sum_sub(struct sum128 *s, __u64 x)
{
	s->hi -= s->lo < x;
	s->lo -= x;
}

/* s += x, both sums. */
static void sum_merge(struct sum128 *s, struct sum128 x)
{
	sum_add(s, x.lo);
	s->hi += x.hi;
}

static u128 sum_value(struct sum128 s)
{
	return (u128)s.hi << 64 | s.lo;
}

/* No reason of its own: the VM's floor is its minimum. */
#define CAUSE_NONE ALLOC_NR_REASONS

/*
 * One VM's bounds for a fill, and what the fill gave it; with what a fill needs of the VM
 * besides, so that packing the lanes reads nothing else: 32 bytes, two VMs a cache line.
 */
struct slot {
	__u64 floor_bytes;
	__u64 cap_bytes;
	__u64 x_bytes;
	__u32 weight;
	__u8 gran_shift; /* its granule is 1 << gran_shift bytes: gran_of() */
};

static inline __u64 gran_of(const struct slot *s)
{
	return 1ULL << s->gran_shift;
}

/*
 * The rest of a VM's state during one plan, with what the plan needs of its input: after
 * prepare_vm() no pass reads the caller's struct alloc_vm again. One cache line per VM, where
 * the passes read two; and with spanning off, prepare_vm() writes it in node order, so the
 * VMs need no copy in that order.
 */
struct work {
	__u64 want_bytes;
	__u64 held_bytes; /* assigned, clamped into [minimum, maximum] */
	/* Its in-use floor (demand + margin) and its demand, in granules, at most held_bytes;
	 * once its floor is set, the bounds of its layers (set_layers()). */
	__u64 used_bytes;
	__u64 demand_floor_bytes;
	__u64 ideal_bytes; /* where the fill with only the minimums as floors put it */
	__u64 minimum_bytes;
	__u64 demand_bytes;
	__u8 cause;    /* enum alloc_reason: why its floor is above its minimum */
	bool capped;   /* want before clamping was above maximum */
	bool pressure; /* as given */
	bool rate;     /* shrunk less than shrink_interval ago: shrunk_recently() */
} __attribute__((aligned(64)));
_Static_assert(sizeof(struct work) == 64, "a VM's work is one cache line");

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
	struct slot *s;
	struct work *w;
	struct alloc_target *t; /* the caller's, once the inputs are known to be good */
	/* Spanning off, VM i is the caller's vms[from[i]]: s and w are in node order. NULL: i. */
	__u32 *from;
	struct lanes l;
	void *block; /* s, w, from and the lanes' arrays, from its first 64-byte boundary on */
	/* Each group's sums, from prepare_vm(): [0] when spanning, else [node + 1]. */
	struct group_sums {
		struct sum128 min; /* Σ minimum */
		/*
		 * What the VMs use, at the least: Σ demand, at most what each has and at least
		 * its minimum, and what it has for a VM under pressure. demand_floor() rounds the
		 * demands up to a granule: when this does not fit, its floors do not either.
		 */
		struct sum128 used;
	} sums[ALLOC_MAX_NODES + 1];
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
	double bd = (double)b, sc = l->scale[k], lam;

	/*
	 * Above 2^53 b may round down to a double below it, and a level whose product reaches
	 * only that does not reach b in amount_at(): the key would come before the amount, and
	 * a plan would depend on which way the search went. The next double up is above b.
	 * Not when b rounds to the cap as a double (b may be the cap itself): amount_at() gives
	 * the cap, so b too, as soon as the product reaches that. Below it, bd is below 2^64.
	 */
	if (bd < l->cap_d[k] && (__u64)bd < b)
		bd = next_up(bd);
	lam = bd / sc;

	while (lam * sc < bd)
		lam = next_up(lam);
	while (lam > 0 && next_down(lam) * sc >= bd)
		lam = next_down(lam);
	return lam;
}

/*
 * Whether boundary b of lane k has a key at most lam, and then *ret_key: a multiplication
 * rules most boundaries out, and only the few left need key_of()'s division.
 */
static inline bool key_at_most(const struct lanes *l, size_t k, __u64 b, double lam,
			       double *ret_key)
{
	if ((double)b > lam * l->scale[k] * (1 + 0x1p-40))
		return false;
	*ret_key = key_of(l, k, b);
	return *ret_key <= lam;
}

/*
 * Lane k's amount at level lam: its highest boundary with a key at most lam, which is the
 * highest one at or below lam·scale. Without branches on the data: this runs for every
 * lane on every try, and lanes at their cap, at x and in between come in no order a
 * predictor can learn. Inline: GCC 12 left it a call, made once or twice per lane a pass.
 */
static inline __u64 amount_at(const struct lanes *l, size_t k, double lam)
{
	double v = lam * l->scale[k], w = v < l->cap_d[k] ? v : l->cap_d[k];
	__u64 b;

	/*
	 * A cap within 1 KiB of 2^64 is 2^64 as a double, which has no __u64: the double below
	 * it instead, whose amount the return replaces with the cap, as it would have.
	 * Not raised to x as a double: above 2^53 that can lie a granule above x itself. Below
	 * the cap as a double, the product is below the cap (the cap rounds to the nearest
	 * double, so none lies between them): only the cap's own test gives the cap.
	 */
	w = w < 0x1.fffffffffffffp63 ? w : 0x1.fffffffffffffp63;
	b = (__u64)w & l->mask[k];
	b = b < l->x[k] ? l->x[k] : b;
	return v >= l->cap_d[k] ? l->cap[k] : b;
}

/* --- the level --------------------------------------------------------------------- */

/*
 * Two doubles at once, for the passes over every lane: GCC's vector extension, which is
 * SSE2 on x86-64 and NEON on arm64.
 */
typedef double v2d __attribute__((vector_size(16)));
typedef long long v2i __attribute__((vector_size(16)));

/* p[0] and p[1] in one load; p need only be aligned for a double. */
static inline v2d v2d_load(const double *p)
{
	v2d v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/*
 * a < b ? a : b, a > b ? a : b and lo < v < hi ? a : +0, element by element. With SSE2 by
 * its own instructions, which do just that (MINPD and MAXPD give the second operand unless
 * the first is less, or greater, NaN included): GCC 12 takes the masks of the vector
 * extension's comparisons apart into scalar registers and conditional moves, which
 * doubled the instructions of a pass.
 */
#ifdef __SSE2__
static inline v2d v2d_min(v2d a, v2d b)
{
	return _mm_min_pd(a, b);
}

static inline v2d v2d_max(v2d a, v2d b)
{
	return _mm_max_pd(a, b);
}

static inline v2d v2d_within(v2d v, v2d lo, v2d hi, v2d a)
{
	return _mm_and_pd(_mm_and_pd(_mm_cmpgt_pd(v, lo), _mm_cmplt_pd(v, hi)), a);
}
#else
/* m ? a : b, element by element (the ?: of vectors is C++ only). */
static inline v2d v2d_pick(v2i m, v2d a, v2d b)
{
	return (v2d)((m & (v2i)a) | (~m & (v2i)b));
}

static inline v2d v2d_min(v2d a, v2d b)
{
	return v2d_pick(a < b, a, b);
}

static inline v2d v2d_max(v2d a, v2d b)
{
	return v2d_pick(a > b, a, b);
}

static inline v2d v2d_within(v2d v, v2d lo, v2d hi, v2d a)
{
	return (v2d)((v > lo) & (v < hi) & (v2i)a);
}
#endif

/*
 * The sums of level_sum(): element 0 over the even lanes, 1 over the odd ones. Two sums so
 * that each addition does not wait for the last one; paired in a vector they take one
 * instruction, and each adds the same terms in the same order as two scalar sums would,
 * so the level comes out the same to the last bit.
 */
struct level_acc {
	v2d f, slope, loss;
};

/* Two lanes' part: clamp(λ·scale, x, cap) − x, and scale and granule if on the slope. */
static inline void level_add(struct level_acc *a, double lam, v2d scale, v2d x, v2d cap, v2d gran)
{
	v2d v = lam * scale;

	a->f += v2d_max(v2d_min(v, cap), x) - x;
	a->slope += v2d_within(v, x, cap, scale);
	a->loss += v2d_within(v, x, cap, gran);
}

/*
 * Σ (clamp(λ·scale, x, cap) − x) over every stride-th lane, without granules; ret_slope:
 * its slope there, ret_loss: half a granule for every lane on that slope, what rounding
 * down loses on average.
 */
static double level_sum(const struct lanes *l, size_t stride, double lam, double *ret_slope,
			double *ret_loss)
{
	struct level_acc a = { 0 };
	size_t k = 0;

	/* Every lane: two neighbours in one load each. */
	if (stride == 1) {
		for (; k + 1 < l->n; k += 2)
			level_add(&a, lam, v2d_load(&l->scale[k]), v2d_load(&l->x_d[k]),
				  v2d_load(&l->cap_d[k]), v2d_load(&l->gran_d[k]));
	}
	for (; k + stride < l->n; k += 2 * stride) {
		size_t j = k + stride;

		level_add(&a, lam, (v2d){ l->scale[k], l->scale[j] }, (v2d){ l->x_d[k], l->x_d[j] },
			  (v2d){ l->cap_d[k], l->cap_d[j] }, (v2d){ l->gran_d[k], l->gran_d[j] });
	}
	/* The odd one out, paired with an empty lane, which adds +0 to every sum. */
	if (k < l->n)
		level_add(&a, lam, (v2d){ l->scale[k], 0 }, (v2d){ l->x_d[k], 0 },
			  (v2d){ l->cap_d[k], 0 }, (v2d){ l->gran_d[k], 0 });
	*ret_slope = a.slope[0] + a.slope[1];
	*ret_loss = (a.loss[0] + a.loss[1]) / 2;
	return a.f[0] + a.f[1];
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
	struct sum128 sum0 = { 0 }, sum1 = { 0 };

	for (size_t j = 0; j < n; j++) {
		size_t k = list ? list[j] : j;
		__u64 t = amount_at(l, k, p[0]), t2 = amount_at(l, k, p[1]);
		double on = (t2 < l->cap[k]) * (p[1] * l->scale[k] > l->x_d[k]) * l->scale[k];

		l->t[k] = t;
		l->t2[k] = t2;
		sum_add(&sum0, t - l->y[k]);
		sum_add(&sum1, t2 - l->y[k]);
		slope[j & 1] += on;
		gran[j & 1] += on * l->gran_d[k];
	}
	ret->sum[0] = sum_value(sum0);
	ret->sum[1] = sum_value(sum1);
	ret->slope = slope[0] + slope[1];
	ret->gran = ret->slope > 0 ? (gran[0] + gran[1]) / ret->slope : 0;
}

#define LEVEL_PASSES 64

/*
 * The listed lanes' values in *src become those of *dst; all of them, when list is NULL,
 * by swapping the two arrays rather than copying one.
 */
static void take(const __u32 *list, size_t n, __u64 **dst, __u64 **src)
{
	__u64 *d = *dst, *s = *src;

	if (!list) {
		*dst = s;
		*src = d;
		return;
	}
	for (size_t j = 0; j < n; j++)
		d[list[j]] = s[list[j]];
}

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

#define BIG_STEPS     64 /* at most this many big granules' boundaries to place a pair among */
#define BIG_GAP_SHARE 32 /* a granule of 1/32 of the gap or more is big */

/* The boundary of a big granule inside the bracket: its key, and the lane's step there. */
struct big_step {
	double key;
	__u64 bytes;
};

/*
 * Appends the boundaries of lane k above y, up to z, with keys up to reach to st[*n..];
 * false when they would make more than BIG_STEPS.
 */
static bool add_big_steps(const struct lanes *l, size_t k, double reach, struct big_step *st,
			  size_t *n)
{
	for (__u64 b = l->y[k], nb; b < l->z[k]; b = nb) {
		double key;

		nb = next_boundary(l, k, b);
		if (!key_at_most(l, k, nb, reach, &key))
			break;
		if (*n == BIG_STEPS)
			return false;
		st[(*n)++] = (struct big_step){ key, nb - b };
	}
	return true;
}

/*
 * The pair to try above lo when the big granules step at the keys of st[0..n) (sorted here,
 * in place) and the other lanes rise slope bytes per unit of level, their rounding
 * wandering by sd bytes: it straddles the level where the steps and the rest together take
 * gap bytes, by twice sd each way, and stays below the step that would take more. With
 * slope 0, just below that step.
 */
static void pair_among_steps(double lo, double hi, double gap, double slope, double sd,
			     struct big_step *st, size_t n, double p[2])
{
	double taken = 0, from = lo, to = hi;
	bool on_step = false;

	for (size_t i = 1; i < n; i++) {
		struct big_step e = st[i];
		size_t j = i;

		for (; j > 0 && st[j - 1].key > e.key; j--)
			st[j] = st[j - 1];
		st[j] = e;
	}
	for (size_t i = 0; i < n; i++) {
		double before = taken + slope * (st[i].key - lo);

		if (before >= gap || before + (double)st[i].bytes > gap) {
			to = st[i].key;
			on_step = before < gap;
			break;
		}
		taken += (double)st[i].bytes;
		from = st[i].key;
	}
	if (on_step || slope <= 0) {
		p[1] = next_down(to);
		p[0] = p[1] - (slope > 0 ? 2 * sd / slope : 0);
	} else {
		double at = lo + (gap - taken) / slope;

		p[0] = at - 2 * sd / slope;
		p[1] = at + 2 * sd / slope < to ? at + 2 * sd / slope : next_down(to);
	}
	p[0] = p[0] > from ? p[0] : from > lo ? from : lo + (p[1] - lo) / 2;
	p[0] = p[0] < p[1] ? p[0] : p[1];
}

enum guess {
	GUESS_PAIR,	 /* p holds the pair */
	GUESS_NO_CLOSER, /* no level between lo and the next step, which takes too much: stop */
	GUESS_NONE,	 /* too many big steps, or a pair outside the bracket */
};

/*
 * The next pair to try inside the bracket (lo, hi), with width bytes between its ends and
 * gap of them to take, over the lanes u[0..nu) that have a boundary inside; lo_slope: the
 * slope at lo when a pass just measured it there, else 0. The rounded sum is a staircase:
 * the lanes with granules big against the gap (a 1G page in a bracket of gigabytes, 2M in
 * one of megabytes) make steps of their own, at their keys, and the rest rise about in
 * proportion to the level. Those wander from that line by their rounding: a lane that
 * moves m bytes, its share of the gap, adds a variance of about m·granule while m is less
 * than a granule and granule²/6 (two independent roundings) once it is more. Placing the
 * pair between the big steps and within that wander brackets the level in a few passes
 * where a guess over a smooth sum took ten at 98% in the bench: the big steps bent every
 * guess. The lanes' t is scratch here, free until the next try_levels().
 */
static enum guess guess_in_bracket(struct lanes *l, const __u32 *u, size_t nu, double lo, double hi,
				   __u64 gap, double width, double lo_slope, double p[2])
{
	struct big_step st[BIG_STEPS];
	__u64 *big = l->t, big_gran = gap / BIG_GAP_SHARE;
	double gap_d = (double)gap, f = gap_d / width, var = 0, big_slope = 0, big_bytes = 0;
	double slope, reach;
	size_t nb = 0, nst = 0;

	for (size_t j = 0; j < nu; j++) {
		size_t k = u[j];
		__u64 in = l->z[k] - l->y[k];
		double g = l->gran_d[k], wander = f * (double)in * g, most = g * g / 6;

		if (~l->mask[k] + 1 >= big_gran) {
			big[nb++] = k;
			big_bytes += (double)in;
			/* On the slope at lo, as try_levels() counts it into lo_slope. */
			if (l->y[k] < l->cap[k] && lo * l->scale[k] > l->x_d[k])
				big_slope += l->scale[k];
		} else {
			var += wander < most ? wander : most;
		}
	}
	slope = lo_slope > 0 ? lo_slope - big_slope : (width - big_bytes) / (hi - lo);
	slope = slope > 0 ? slope : 0;
	/* Only the steps up to twice as far as the rest would take the gap alone. */
	reach = slope > 0 && lo + 2 * gap_d / slope < hi ? lo + 2 * gap_d / slope : hi;
	for (size_t j = 0; j < nb; j++) {
		if (!add_big_steps(l, big[j], reach, st, &nst))
			return GUESS_NONE;
	}
	pair_among_steps(lo, hi, gap_d, slope, sqrt(var), st, nst, p);
	if (p[0] > lo && p[1] < hi)
		return GUESS_PAIR;
	/*
	 * The pair is just below the next step, or hi, and that is lo already: no level lies in
	 * between, and that step alone takes more than the gap (the first in the bracket, so
	 * nothing before it), or hi is known to.
	 */
	return p[1] <= lo ? GUESS_NO_CLOSER : GUESS_NONE;
}

/*
 * Raises the lanes to a level whose granules all fit in spare, within close_bytes of the
 * highest such level (or as close as a level can get). Every pass tries two levels at
 * once. The first pair is the continuous level a hair low, which fits when it was solved
 * for these lanes, and the same plus twice the rounding loss. Once the level is bracketed,
 * only the lanes with a boundary inside the bracket are looked at again (y: amounts at lo,
 * z: at hi), there are fewer at every pass, and the pair comes from the lane that makes most
 * of the bracket, if one does (dominant_pair()), else from guess_in_bracket(); when neither
 * can place it, the secant inside the bracket or Newton's step without one, apart by a few
 * times how much rounding to granules makes the sum wander over the step (about
 * √(gap·granule)), or, after guesses that keep missing, the bracket cut in three. On
 * return the lanes' x are at ret->lam, ret->slope is the slope there, *ret_hi the level
 * that overshot (INFINITY if none) and l->todo[0..*ret_nu) the lanes with a boundary in
 * between. Returns the bytes taken.
 */
static __u64 raise_level(struct lanes *l, __u64 spare, __u64 close_bytes, const struct level *from,
			 struct level *ret, double *ret_hi, size_t *ret_nu)
{
	double lo = 0, hi = INFINITY, slope = from->slope, gran = 0, p[2];
	u128 at_lo = 0, at_hi = 0;
	__u32 *u = l->todo;
	size_t nu = 0;
	bool below = false; /* the last pass moved lo up, and measured the slope there */
	int poor = 0;	    /* passes in a row that did not cut the bracket to a third */
	struct tried tr;

	memcpy(l->y, l->x, l->n * sizeof(*l->y));
	p[0] = from->lam * (1 - 0x1p-30);
	/*
	 * Lanes move by whole granules, and after a plan most of them sit just below their
	 * next boundary: twice the average loss, a granule per lane on the slope, brackets
	 * the level in the first pass far more often than the loss alone, and every pass
	 * that does not is one more over all lanes.
	 */
	p[1] = slope > 0 ? from->lam + 2 * from->loss / slope : 2 * from->lam;
	for (int pass = 0; pass < LEVEL_PASSES && spare - at_lo > close_bytes; pass++) {
		const __u32 *list = hi < INFINITY ? u : NULL;
		size_t n = hi < INFINITY ? nu : l->n;
		u128 width = at_hi - at_lo;

		if (!(p[0] > lo && p[0] <= p[1] && p[1] < hi))
			break;
		try_levels(l, list, n, p, &tr);
		below = false;
		if (at_lo + tr.sum[0] > spare) {
			hi = p[0];
			at_hi = at_lo + tr.sum[0];
			take(list, n, &l->z, &l->t);
		} else if (at_lo + tr.sum[1] <= spare) {
			lo = p[1];
			at_lo += tr.sum[1];
			slope = tr.slope;
			gran = tr.gran;
			below = true;
			take(list, n, &l->y, &l->t2);
		} else {
			lo = p[0];
			hi = p[1];
			at_hi = at_lo + tr.sum[1];
			at_lo += tr.sum[0];
			take(list, n, &l->y, &l->t);
			take(list, n, &l->z, &l->t2);
		}
		/* Bracketed: from now on only the lanes with a boundary inside the bracket. */
		if (hi < INFINITY) {
			size_t m = 0, big = list ? list[0] : 0;
			/* In a local: z[big] - y[big] would be loaded again at every lane. */
			__u64 big_gap = l->z[big] - l->y[big];
			enum guess guess;

			for (size_t j = 0; j < n; j++) {
				size_t k = list ? list[j] : j;
				__u64 gap = l->z[k] - l->y[k];

				u[m] = (__u32)k;
				big = gap > big_gap ? k : big;
				big_gap = gap > big_gap ? gap : big_gap;
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
			if (at_hi - at_lo <= close_bytes || spare - at_lo <= close_bytes)
				break;
			/*
			 * Guesses can go on missing where lanes held up by their floors start to
			 * rise inside the bracket, which no line foresees (a review found plans
			 * that used every pass, a hundred times slower): after three passes in a
			 * row that did not cut the bracket to a third, cut it in three instead.
			 */
			poor = pass && 3 * (at_hi - at_lo) > width ? poor + 1 : 0;
			/*
			 * A pass that moved lo up and took nothing learned only that the sum is
			 * flat there: VMs held up by their floors, which no slope measured at lo
			 * shows.
			 */
			poor = below && !tr.sum[1] ? 3 : poor;
			guess = poor < 3
					? guess_in_bracket(l, u, nu, lo, hi, (__u64)(spare - at_lo),
							   (double)(at_hi - at_lo),
							   below ? slope : 0, p)
					: GUESS_NONE;
			if (guess == GUESS_PAIR)
				continue;
			if (guess == GUESS_NO_CLOSER)
				break;
			/* Guessing went badly (a bend, rounding, too many steps): cut in three. */
			if (pass && 3 * (at_hi - at_lo) > width) {
				p[0] = lo + (hi - lo) / 3;
				p[1] = lo + (hi - lo) / 3 * 2;
				continue;
			}
		}
		next_pair(lo, hi, (double)(spare - at_lo), (double)(at_hi - at_lo), slope, gran, p);
	}
	/* x_d goes stale here, as it does in hand_out(): keep_fitting() brings it up to date. */
	take(NULL, l->n, &l->x, &l->y);
	ret->lam = lo;
	ret->slope = slope;
	ret->loss = 0;
	ret->fits = false;
	*ret_hi = hi;
	*ret_nu = hi < INFINITY ? nu : 0;
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

/* Makes hp[0..n) a heap. */
static void heapify(const struct lanes *l, struct heap_ent *hp, size_t n)
{
	for (size_t i = n / 2; i-- > 0;)
		sift_down(l, hp, n, i);
}

/*
 * Keeps the heap's lanes whose next granule fits in left, as keep_fitting() keeps lanes:
 * their keys stay as they are, only the heap is built again. Returns how many are left.
 */
static size_t heap_keep_fitting(const struct lanes *l, struct heap_ent *hp, size_t n, __u64 left)
{
	size_t m = 0;

	for (size_t j = 0; j < n; j++) {
		size_t k = hp[j].lane;

		hp[m] = hp[j];
		m += next_boundary(l, k, l->x[k]) - l->x[k] <= left;
	}
	heapify(l, hp, m);
	return m;
}

enum hand_out_end {
	HAND_OUT_DONE,	 /* nothing left to give, or nobody left to take */
	HAND_OUT_STUCK,	 /* the next granule in key order does not fit */
	HAND_OUT_WINDOW, /* every granule with a key up to the window's end was given, and
			  * a granule beyond may still fit */
};

/*
 * Hands out granules with keys up to hi, in key order, until one does not fit. Only lanes
 * with a boundary that low go into the heap: a multiplication sorts them out, a division
 * gives the exact key of the few that are. list[0..n): the lanes to look at, when the
 * others are known to have none (NULL: all of them). *left: the bytes to give, and what
 * remains. *ret_key: the key of the granule that did not fit. When no granule beyond the
 * window fits in what is left, the fill is done: a wider window would only find that out
 * again, one pass over every lane each time. With no window (hi infinite) every lane that
 * can grow is in the heap, and a granule that does not fit drops its lane and those of the
 * others that no longer fit, as the next round would, but without their keys worked out
 * again: the fill ends here.
 */
static enum hand_out_end hand_out(struct lanes *l, const __u32 *list, size_t n, __u64 *left,
				  double hi, double *ret_key)
{
	struct heap_ent *hp = l->heap;
	/* The smallest granule past the window; the lanes not listed may have any. */
	__u64 beyond = list ? 0 : UINT64_MAX;
	size_t nh = 0;

	for (size_t j = 0; j < n; j++) {
		size_t k = list ? list[j] : j;
		__u64 nb;
		double key;

		if (l->x[k] >= l->cap[k])
			continue;
		nb = next_boundary(l, k, l->x[k]);
		if (!key_at_most(l, k, nb, hi, &key)) {
			beyond = nb - l->x[k] < beyond ? nb - l->x[k] : beyond;
			continue;
		}
		hp[nh++] = (struct heap_ent){ key, (__u32)k };
	}
	heapify(l, hp, nh);
	while (nh && *left) {
		size_t k = hp[0].lane;
		__u64 nb = next_boundary(l, k, l->x[k]);

		if (nb - l->x[k] > *left) {
			if (hi < INFINITY) {
				*ret_key = hp[0].key;
				return HAND_OUT_STUCK;
			}
			nh = heap_keep_fitting(l, hp, nh, *left);
			continue;
		}
		*left -= nb - l->x[k];
		l->x[k] = nb;
		if (nb < l->cap[k])
			hp[0].key = key_of(l, k, next_boundary(l, k, nb));
		if (nb >= l->cap[k] || hp[0].key > hi) {
			__u64 step = nb < l->cap[k] ? next_boundary(l, k, nb) - nb : UINT64_MAX;

			beyond = step < beyond ? step : beyond;
			hp[0] = hp[--nh];
		}
		sift_down(l, hp, nh, 0);
	}
	return *left && beyond <= *left ? HAND_OUT_WINDOW : HAND_OUT_DONE;
}

/*
 * Keeps the lanes that can still take a granule of left bytes: a lane whose next granule
 * does not fit now never will, since left only shrinks. The lanes move down in place, the
 * others' results go to their slots, and x_d is brought up to date. ret->slope loses the
 * slopes of the lanes dropped (0 when none is kept). Returns the smallest next granule of
 * those kept (UINT64_MAX when none is).
 */
static __u64 keep_fitting(struct ctx *c, __u64 left, struct level *ret)
{
	struct lanes *l = &c->l;
	__u64 smallest = UINT64_MAX;
	double slope = ret->slope;
	size_t m = 0, n = l->n;

	/*
	 * Mostly what is left is less than any lane's next granule, and every lane goes: then
	 * their results are all there is to write, and no lane or slope needs working out.
	 */
	for (size_t k = 0; k < n; k++) {
		__u64 x = l->x[k];

		c->s[l->id[k]].x_bytes = x;
		m += (x < l->cap[k]) & (next_boundary(l, k, x) - x <= left);
	}
	if (!m) {
		l->n = 0;
		ret->slope = 0;
		return UINT64_MAX;
	}
	m = 0;
	for (size_t k = 0; k < n; k++) {
		__u64 x = l->x[k], step = next_boundary(l, k, x) - x;
		double x_d = (double)x;

		if (x >= l->cap[k] || step > left) {
			slope -= ret->lam * l->scale[k] > x_d ? l->scale[k] : 0;
			continue;
		}
		smallest = step < smallest ? step : smallest;
		l->x[m] = x;
		l->x_d[m] = x_d;
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
	ret->slope = slope > 0 ? slope : 0;
	return smallest;
}

/*
 * The tests build the allocator a second time with ALLOC_HEAP_SHARE 16: the heap then hands
 * out sixteen times as much of each fill, in key order, where the level's passes took it by
 * amount_at(), and every plan must come out the same to the byte (test_alloc_path).
 */
#ifndef ALLOC_HEAP_SHARE
#define ALLOC_HEAP_SHARE 1
#endif

/* Close enough to the end of a fill when the heap is left about a granule for one lane in 30. */
static __u64 close_bytes(size_t n, __u64 step)
{
	return ALLOC_HEAP_SHARE * (n / 30 + 8) * step;
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
		__u64 close = close_bytes(l->n, step);
		enum hand_out_end end;
		double hi = INFINITY, key;
		size_t nu = 0; /* raise_level()'s bracket has the lanes l->todo[0..nu) */

		/*
		 * After a misfit little is often left: then the heap alone is cheaper. Else the
		 * level is solved again from the misfit's key: the lanes dropped took their
		 * slope with them, and lanes held up by their floors may have none yet.
		 */
		if (!lv.fits && spare > close)
			solve_level(l, (double)spare, &lv);
		if (lv.fits)
			spare -= raise_level(l, spare, close, &lv, &lv, &hi, &nu);
		for (int w = 0;; w++) {
			double to = lv.slope > 0 && w < 8
					    ? lv.lam + 2 * (double)spare / lv.slope * (1 << w)
					    : hi;

			to = to < hi ? to : hi;
			end = hand_out(l, hi < INFINITY ? l->todo : NULL, hi < INFINITY ? nu : l->n,
				       &spare, to, &key);
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

/* What pack() adds up on the way. */
struct pack_sums {
	struct sum128 cap;   /* Σ cap */
	struct sum128 tier1; /* Σ cap over VMs with a weight, Σ floor over those without */
	struct sum128 fixed; /* Σ of where the lanes start and of the others' results */
	__u64 step;	     /* the smallest granule in the lanes */
};

/*
 * Puts the VMs [first, end) that a fill moves into the lanes: those with a weight, or,
 * when tier1 fits, those without (every VM with a weight then has its cap). The others get
 * their result now: their floor, or their cap when tier1 fits and they have a weight. The
 * loop keeps its sums and count in locals: the compiler must assume that a store to a lane
 * could change anything reached through a pointer, and would store and load them again.
 */
static void pack(struct ctx *c, __u32 first, __u32 end, bool tier1_fits, struct pack_sums *ret)
{
	struct lanes *l = &c->l;
	struct pack_sums sums = { .step = UINT64_MAX };
	size_t n = 0;

	for (__u32 i = first; i < end; i++) {
		struct slot *s = &c->s[i];
		__u32 weight = s->weight;
		bool filled = tier1_fits ? !weight : weight;

		__u64 lo = s->floor_bytes, cap = s->cap_bytes, g = gran_of(s);
		bool lane = filled & (lo < cap);

		sum_add(&sums.cap, cap);
		sum_add(&sums.tier1, weight ? cap : lo);
		/* A lane starts at its floor; the fill writes its x again at the end. */
		s->x_bytes = filled || !tier1_fits ? lo : cap;
		sum_add(&sums.fixed, s->x_bytes);
		/* Stored always, kept when a lane: which VMs are is no pattern to predict. */
		l->x[n] = lo;
		l->x_d[n] = (double)lo;
		l->cap[n] = cap;
		l->cap_d[n] = (double)cap;
		l->mask[n] = ~(g - 1);
		l->gran_d[n] = (double)g;
		l->weight[n] = weight ? weight : 1;
		l->scale[n] = (double)l->weight[n] * l->cap_d[n];
		l->id[n] = i;
		sums.step = lane && g < sums.step ? g : sums.step;
		n += lane;
	}
	l->n = n;
	*ret = sums;
}

/*
 * Fills VMs [first, end) within budget: every VM between its floor and its cap, by weight
 * when short. Weight 0 is a tier below: it leaves its floor only once every weighted VM has its
 * cap, and then shares what is left by want. The caller checked Σ floor ≤ budget. With
 * exact false, only the granules below the continuous level are taken: the ideal that the
 * hysteresis looks at, which does not need the last granule. The exact fill looks for its
 * level from nothing, as the ideal does: where the search starts does not change what it
 * finds, the floors put the level far from the ideal's, and the sample gets close first.
 */
static void fill(struct ctx *c, __u32 first, __u32 end, __u64 budget, bool exact)
{
	struct lanes *l = &c->l;
	struct level lv = { 0 };
	struct pack_sums sums;
	__u64 spare;

	/* Short even for the weighted VMs is what a fill is for: pack for that, then see. */
	pack(c, first, end, false, &sums);
	if (sum_value(sums.cap) <= budget) {
		for (__u32 i = first; i < end; i++)
			c->s[i].x_bytes = c->s[i].cap_bytes;
		return;
	}
	if (sum_value(sums.tier1) <= budget)
		pack(c, first, end, true, &sums);
	if (!l->n)
		return;
	spare = budget - (__u64)sum_value(sums.fixed);
	/*
	 * A few granules to give, as when limits gave way to fit the budget: the lanes whose
	 * next granule does not fit go now, and the heap alone serves the rest, with no level
	 * to solve (a level would say little: the floors hold most lanes far above it).
	 */
	if (exact && spare <= close_bytes(l->n, sums.step)) {
		sums.step = keep_fitting(c, spare, &lv);
		level_fill(c, spare, sums.step, &lv);
		return;
	}
	solve_level(l, (double)spare, &lv);
	if (exact) {
		level_fill(c, spare, sums.step, &lv);
		return;
	}
	for (size_t k = 0; k < l->n; k++)
		c->s[l->id[k]].x_bytes = amount_at(l, k, lv.lam);
}

static __u64 granule_of(const struct alloc_vm *v)
{
	return v->granule_bytes ? v->granule_bytes : ALLOC_GRANULE_DEFAULT_BYTES;
}

/* --- one group: all VMs when spanning, else the VMs of one node ------------------------ */

/*
 * A group is a range of VMs, [first, end): all of them, or with spanning off one node's,
 * the plan's VMs being in node order then (place_vm()). Passes over it reach VM i directly,
 * not through an index (an index array cost 7-8% of a plan in loads and in the loops it kept
 * from being simple).
 */

struct group_result {
	__u64 total_bytes; /* Σ target */
	__u64 want_bytes;  /* Σ want */
	size_t nr_short, nr_held;
	__u32 dropped_reasons;
	bool overcommitted;
};

static bool is_held(enum alloc_reason r)
{
	return r == ALLOC_HOLD_PRESSURE || r == ALLOC_HOLD_RATE || r == ALLOC_HOLD_HYSTERESIS ||
	       r == ALLOC_SHRINK_STEP || r == ALLOC_HOLD_IN_USE;
}

/* VM i's target, straight into the caller's array, and what the summary counts of it. */
static inline void put_target(struct ctx *c, __u32 i, __u64 x, enum alloc_reason r,
			      struct group_result *ret)
{
	__u64 want = c->w[i].want_bytes;

	c->t[c->from ? c->from[i] : i] =
		(struct alloc_target){ .target_bytes = x, .want_bytes = want, .reason = r };
	ret->total_bytes += x;
	ret->want_bytes += want;
	ret->nr_short += x < want;
	ret->nr_held += is_held(r);
}

/*
 * The in-use margin: the part of the in-use floor above the bare demand, a kind of limit of
 * its own that gives way before the demand does. Internal: reported as ALLOC_HOLD_IN_USE.
 */
#define KIND_MARGIN (ALLOC_NR_REASONS + 1)
#define NR_KINDS    (ALLOC_NR_REASONS + 2)

/*
 * When the holds don't fit, the limits give way in this order: the step first (a faster
 * shrink harms least), then the in-use margins, then what the guests use (ballooning a guest
 * below that drives it to swap or to its OOM killer), pressure last (shrinking a VM in
 * distress is the failure dynmem is here to avoid). Dropping them all leaves the ideal.
 */
static const unsigned int drop_order[] = {
	ALLOC_SHRINK_STEP, ALLOC_HOLD_HYSTERESIS, ALLOC_HOLD_RATE,
	KIND_MARGIN,	   ALLOC_HOLD_IN_USE,	  ALLOC_HOLD_PRESSURE,
};

static bool shrunk_recently(const struct alloc_host *h, const struct alloc_vm *v)
{
	/* A clock that went back counts as recent: when in doubt, don't shrink. */
	return (v->last_shrink_ns != 0) & ((h->now_ns < v->last_shrink_ns) |
					   (h->now_ns - v->last_shrink_ns < h->shrink_interval_ns));
}

/*
 * The lowest target one shrink may reach from a: step% below it, rounded up to a granule;
 * one granule when step% is less than that (a VM on 1G pages gives back 1G or nothing).
 * Inline: GCC 12 left it a call, made for every VM (3% of a plan).
 */
static inline __u64 step_floor(const struct alloc_host *h, __u64 a, __u64 g)
{
	/* 128-bit division is a library call: only when 64 bits could overflow. */
	__u64 step = a <= UINT64_MAX / 100 ? a * h->shrink_step_pct / 100
					   : (__u64)((u128)a * h->shrink_step_pct / 100);
	__u64 to = a - step;
	__u64 down = to & ~(g - 1);

	/* to, rounded up, if below a; the test does not overflow where down + g would. */
	if (down == to ? to < a : a - down > g)
		return down == to ? to : down + g;
	return a ? (a - 1) & ~(g - 1) : 0;
}

/*
 * Sets VM i's floor (its minimum at least) and cap: its want (or the floor, if above), or
 * the floor itself when held.
 */
static inline void set_floor(struct ctx *c, __u32 i, __u64 f, enum alloc_reason cause, bool held)
{
	struct work *w = &c->w[i];
	struct slot *s = &c->s[i];
	__u64 min = w->minimum_bytes;

	w->cause = f <= min ? CAUSE_NONE : cause;
	f = f <= min ? min : f;
	s->floor_bytes = f;
	s->cap_bytes = (held | (f > w->want_bytes)) ? f : w->want_bytes;
}

/* x rounded up to a granule g, at most a (a itself when x lies within a granule of it). */
static inline __u64 up_to(__u64 x, __u64 g, __u64 a)
{
	return ((x >= a) | (a - x < g)) ? a : (x + g - 1) & ~(g - 1);
}

/* Demand d, at most a, rounded up to a granule g: what a guest uses, in whole granules. */
static inline __u64 demand_up_to(__u64 d, __u64 g, __u64 a)
{
	return up_to(d > a ? a : d, g, a);
}

/* Demand d and pct% more, rounded up to a granule g, at most cap. */
static inline __u64 with_margin(__u64 d, __u32 pct, __u64 g, __u64 cap)
{
	__u64 margin;

	d = d > cap ? cap : d;
	margin = d / 100 * pct;
	return up_to(margin > cap - d ? cap : d + margin, g, cap);
}

/*
 * What VM i's guest uses, as two floors, each rounded up to a granule and at most a: its
 * demand, and its in-use floor, the demand and ALLOC_IN_USE_MARGIN_PCT more. The margin is
 * room for the guest kernel's own free pages and for what it took since its report (in the
 * lab, a floor at the bare demand left a growing guest no room and it OOM-killed its
 * workload).
 */
static void in_use(struct ctx *c, __u32 i, __u64 a)
{
	struct work *w = &c->w[i];
	__u64 g = gran_of(&c->s[i]), d = w->demand_bytes;

	w->demand_floor_bytes = demand_up_to(d, g, a);
	w->used_bytes = with_margin(d, ALLOC_IN_USE_MARGIN_PCT, g, a);
}

/*
 * A hold that stops a shrink keeps the VM at exactly what it has: it must not also grow in
 * the same plan on what others leave over, or the next plan, starting from there, would
 * judge it anew and the plans would not settle.
 */
static inline void hold_floor(struct ctx *c, __u32 i, __u64 f, enum alloc_reason why, __u64 ideal)
{
	__u64 a = c->w[i].held_bytes;

	set_floor(c, i, f, why, (why != ALLOC_SHRINK_STEP) & (f == a) & (ideal < a));
}

/*
 * VM i's floor above its minimum, in layers that give way one kind at a time, from the
 * bottom: its demand (kind ALLOC_HOLD_IN_USE), the in-use margin (KIND_MARGIN) and what its
 * own limit adds above those (kind: its cause). A VM under pressure has the one layer, its
 * cause: it keeps what it has, all of it, until pressure gives way. Puts the layers' bounds
 * in used_bytes and demand_floor_bytes: min ≤ demand ≤ used ≤ floor.
 */
static inline void set_layers(struct ctx *c, __u32 i)
{
	struct work *w = &c->w[i];
	__u64 min = w->minimum_bytes, f = c->s[i].floor_bytes;
	bool one = (w->cause == ALLOC_HOLD_PRESSURE) | (w->cause == CAUSE_NONE);
	__u64 used = w->used_bytes < min ? min : w->used_bytes > f ? f : w->used_bytes;
	__u64 d = w->demand_floor_bytes;

	w->used_bytes = one ? min : used;
	w->demand_floor_bytes = one ? min : d < min ? min : d > used ? used : d;
}

/*
 * The floor that the transition limits put under VM i, given its ideal, and why. The
 * conditions come in no order a branch predictor could learn, so all are worked out (with
 * & and |, where && and || would each be a branch) and one is picked, the strongest last.
 */
static void transition_floor(struct ctx *c, __u32 i, __u64 ideal)
{
	const struct work *w = &c->w[i];
	__u64 a = w->held_bytes, step = step_floor(c->h, a, gran_of(&c->s[i])), used, f;
	bool hyst = (ideal < a) & ((u128)(a - ideal) * 100 < (u128)a * c->h->hysteresis_pct);
	enum alloc_reason why;

	in_use(c, i, a);
	used = w->used_bytes;
	why = used > step ? ALLOC_HOLD_IN_USE : ALLOC_SHRINK_STEP;
	why = hyst ? ALLOC_HOLD_HYSTERESIS : why;
	why = w->rate ? ALLOC_HOLD_RATE : why;
	why = w->pressure ? ALLOC_HOLD_PRESSURE : why;
	f = why == ALLOC_SHRINK_STEP ? step : why == ALLOC_HOLD_IN_USE ? used : a;
	c->w[i].ideal_bytes = ideal;
	hold_floor(c, i, f, why, ideal);
	set_layers(c, i);
}

/*
 * VM i's floor when what the guests use does not fit the budget: every step, hysteresis, rate
 * limit and margin would give way then, whatever transition_floor() made of them, so they are
 * not worked out. The floor is the VM's demand (up to a granule, at most what it has), or
 * what it has under pressure: the layers transition_floor() would have left once those gave
 * way, and set_limits() goes on from there as it would have.
 */
static void demand_floor(struct ctx *c, __u32 i, __u64 ideal)
{
	struct work *w = &c->w[i];
	__u64 a = w->held_bytes, d = w->demand_bytes;

	w->demand_floor_bytes = w->used_bytes = demand_up_to(d, gran_of(&c->s[i]), a);
	w->ideal_bytes = ideal;
	hold_floor(c, i, w->pressure ? a : w->used_bytes,
		   w->pressure ? ALLOC_HOLD_PRESSURE : ALLOC_HOLD_IN_USE, ideal);
	set_layers(c, i);
}

/* VM i's layers, as set_layers() left them. */
struct layers {
	__u64 min, demand, used, floor; /* min ≤ demand ≤ used ≤ floor */
};

static inline struct layers layers_of(const struct ctx *c, __u32 i)
{
	const struct work *w = &c->w[i];

	return (struct layers){ w->minimum_bytes, w->demand_floor_bytes, w->used_bytes,
				c->s[i].floor_bytes };
}

/* How many bytes VM i's layer of this kind holds. */
static inline __u64 layer_bytes(const struct ctx *c, __u32 i, unsigned int kind)
{
	struct layers y = layers_of(c, i);

	return kind == KIND_MARGIN	   ? y.used - y.demand
	       : kind == ALLOC_HOLD_IN_USE ? y.demand - y.min
	       : kind == c->w[i].cause	   ? y.floor - y.used
					   : 0;
}

/*
 * How far the kind that gives way last still lifts its floors, by weight, the heaviest
 * first: the VMs heavier than weight keep all of their part of that kind, those of this
 * weight keep the share keep/of of theirs (pro rata), the lighter ones nothing.
 */
struct give_way {
	unsigned int last; /* the last kind dropped */
	__u32 weight;
	u128 keep, of; /* keep < of */
	__u64 frac;    /* keep/of in 64-bit fixed point, rounded down; of < 2^64 */
};

/*
 * a * keep / of, rounded down. A 128-bit division is a library call around a divide
 * instruction of some 45 cycles, for every VM of the weight given way in part; instead a
 * multiplication by keep/of in fixed point, which falls short of the quotient by less
 * than a/2^64, so by less than one: what is left over says whether to add it.
 */
static __u64 scaled(__u64 a, const struct give_way *g)
{
	__u64 of = (__u64)g->of, q;
	u128 rest;

	q = (__u64)(((u128)a * g->frac) >> 64);
	rest = (u128)a * (__u64)g->keep - (u128)q * of;
	return q + (rest >= of);
}

/* x, the part of a VM of this weight that it keeps. */
static inline __u64 part_of(const struct give_way *g, __u64 x, __u32 weight)
{
	return weight > g->weight ? x : weight < g->weight ? 0 : scaled(x, g);
}

/*
 * lo + (hi - lo) × VM i's share, rounded down to the granule but not below lo: a layer given
 * way in part. Below lo it would take from the layers under it, which give_way() then could not
 * tell from ones left whole: a VM that has a size no whole number of granules (a balloon's
 * size, a maximum in bytes) kept its whole in-use floor, and the targets went over the budget.
 */
static inline __u64 kept(const struct ctx *c, __u32 i, __u64 lo, __u64 hi, const struct give_way *g)
{
	__u64 x = (lo + part_of(g, hi - lo, c->s[i].weight)) & ~(gran_of(&c->s[i]) - 1);

	return x < lo ? lo : x;
}

/* The weight given way in part: its VMs keep keep/of; keep < of. */
static void give_at(struct give_way *g, __u32 weight, u128 keep, u128 of)
{
	/* Both halved until of fits 64 bits (only past 2^64 bytes): keep/of only falls. */
	while (of > UINT64_MAX) {
		keep >>= 1;
		of = (of >> 1) + 1;
	}
	g->weight = weight;
	g->keep = keep;
	g->of = of;
	g->frac = (__u64)((keep << 64) / of);
}

/* Weights in buckets of 128 (ALLOC_WEIGHT_MAX / 128 + 1 of them), then one by one. */
#define WEIGHT_SHIFT 7
#define WEIGHT_FINE  (1U << WEIGHT_SHIFT)

/*
 * The kind that gives way last keeps keep bytes (less than it holds) over [first, end): the
 * heaviest VMs keep all of theirs, and the weight where keep runs out shares what is left
 * pro rata. Weights are small integers, so that weight is found by adding up each VM's part
 * of that kind by its weight, in two rounds: by buckets of 128 weights, then by each weight
 * of the bucket where keep runs out. Linear time, exact sums, and no branch on the data: the
 * quickselect this replaces mispredicted most of its steps. The lanes are scratch here: x =
 * the VM's part of that kind, weight.
 */
static void solve_give_way(struct ctx *c, __u32 first, __u32 end, u128 keep, struct give_way *g)
{
	struct sum128 coarse[ALLOC_WEIGHT_MAX / WEIGHT_FINE + 1] = { 0 }, fine[WEIGHT_FINE] = { 0 };
	struct lanes *l = &c->l;
	u128 above = 0; /* what the heavier buckets, then weights, keep */
	size_t n = 0, b = sizeof(coarse) / sizeof(coarse[0]) - 1, f = WEIGHT_FINE - 1;

	/* Every VM is stored, and kept when its layer is not empty: no branch to mispredict. */
	for (__u32 i = first; i < end; i++) {
		__u64 x = layer_bytes(c, i, g->last);
		__u32 weight = c->s[i].weight;

		sum_add(&coarse[weight >> WEIGHT_SHIFT], x);
		l->x[n] = x;
		l->weight[n] = weight;
		n += x != 0;
	}
	/* keep is less than all: the bounds only guard against sums that say otherwise. */
	for (; b > 0 && above + sum_value(coarse[b]) <= keep; b--)
		above += sum_value(coarse[b]);
	for (size_t k = 0; k < n; k++) {
		__u32 weight = l->weight[k];

		sum_add(&fine[weight & (WEIGHT_FINE - 1)],
			weight >> WEIGHT_SHIFT == b ? l->x[k] : 0);
	}
	for (; f > 0 && above + sum_value(fine[f]) <= keep; f--)
		above += sum_value(fine[f]);
	give_at(g, (__u32)(b << WEIGHT_SHIFT | f), keep - above, sum_value(fine[f]));
}

/*
 * VM i's floor once the kinds in dropped gave way, the last of them in part: from the top,
 * its own layer, then the margin, then its demand, each only once all above it is gone.
 */
static void give_way(struct ctx *c, __u32 i, __u32 dropped, const struct give_way *g)
{
	enum alloc_reason cause = c->w[i].cause;
	struct layers y = layers_of(c, i);
	__u64 to = y.floor;

	if (dropped & 1U << cause)
		to = cause == g->last ? kept(c, i, y.used, y.floor, g) : y.used;
	if (to == y.used && (dropped & 1U << KIND_MARGIN))
		to = g->last == KIND_MARGIN ? kept(c, i, y.demand, y.used, g) : y.demand;
	if (to == y.demand && (dropped & 1U << ALLOC_HOLD_IN_USE))
		to = g->last == ALLOC_HOLD_IN_USE ? kept(c, i, y.min, y.demand, g) : y.min;
	hold_floor(c, i, to,
		   to > y.used || cause == ALLOC_HOLD_PRESSURE ? cause : ALLOC_HOLD_IN_USE,
		   c->w[i].ideal_bytes);
}

/*
 * give_way() over VMs [first, end) when their floors are their demands (demand_floors()) and
 * the demands are the last kind to give way, in part or whole. demand_floors() left a VM held
 * by its demand with no layer above it (floor = in-use floor = demand) and no margin was
 * lowered (holds_give_way() does not run then); a VM under pressure or at its minimum is
 * not in the kinds given way. So each VM held by its demand keeps its share of that, and
 * nothing else is to be worked out. give_way(), layer by layer, made such a plan 6% slower;
 * the two gave the same plans on 188,076 random hosts. A change to give_way() or to those
 * layers must be made here too.
 */
static void demands_give_way(struct ctx *c, __u32 first, __u32 end, const struct give_way *g)
{
	for (__u32 i = first; i < end; i++) {
		const struct work *w = &c->w[i];

		if (w->cause == ALLOC_HOLD_IN_USE)
			hold_floor(c, i, kept(c, i, w->minimum_bytes, w->demand_floor_bytes, g),
				   ALLOC_HOLD_IN_USE, w->ideal_bytes);
	}
}

/*
 * VM i may be short of its need, the in-use floor it would have with its want: it grows in
 * this plan and its in-use floor is capped at what it has (were it not, its need would be
 * no more than what it has). Under pressure set_layers() left its minimum there: it may.
 */
static inline bool may_need(const struct ctx *c, __u32 i)
{
	const struct work *w = &c->w[i];

	return (c->s[i].cap_bytes > c->s[i].floor_bytes) & (w->want_bytes > w->held_bytes) &
	       ((w->used_bytes == w->held_bytes) | (w->cause == ALLOC_HOLD_PRESSURE));
}

/* VM i, which may_need(), has less than its need. */
static inline bool is_short_of_need(const struct ctx *c, __u32 i)
{
	const struct work *w = &c->w[i];

	return with_margin(w->demand_bytes, ALLOC_IN_USE_MARGIN_PCT, gran_of(&c->s[i]),
			   w->want_bytes) > w->held_bytes;
}

/* What VM i keeps of its margin against a heavier VM's need: its demand and the core. */
static inline __u64 core_of(const struct ctx *c, __u32 i)
{
	const struct work *w = &c->w[i];

	return with_margin(w->demand_bytes, ALLOC_IN_USE_CORE_PCT, gran_of(&c->s[i]),
			   w->held_bytes);
}

/*
 * Adds VM i's layers to the sums of set_limits(): its floor, its demand and margin layers, and
 * its own layer to the excess of its cause. Inline, the sums passed as locals stay in
 * registers; through excess[], they would go to memory.
 */
static inline void add_layers(const struct ctx *c, __u32 i, struct sum128 *floors,
			      struct sum128 *demand, struct sum128 *margin, struct sum128 *excess)
{
	struct layers y = layers_of(c, i);

	sum_add(floors, y.floor);
	sum_add(demand, y.demand - y.min);
	sum_add(margin, y.used - y.demand);
	sum_add(&excess[c->w[i].cause], y.floor - y.used);
}

/* Takes VM i's layers back out of the sums add_layers() added them to. */
static void sub_layers(const struct ctx *c, __u32 i, struct sum128 *floors, struct sum128 *demand,
		       struct sum128 *margin, struct sum128 *excess)
{
	struct layers y = layers_of(c, i);

	sum_sub(floors, y.floor);
	sum_sub(demand, y.demand - y.min);
	sum_sub(margin, y.used - y.demand);
	sum_sub(&excess[c->w[i].cause], y.floor - y.used);
}

/*
 * Neither a margin nor hysteresis holds against a heavier VM's need: a margin keeps its core,
 * hysteresis nothing (it only spares small moves, and a heavier VM's workload starved behind
 * it in the lab), both within the step. Of the VMs in need[0..nn) (those that may_need()) the
 * heaviest short of its need sets the weight; the VMs of held[0..nm) (whose floor is their
 * in-use floor above their demand, or what they have by hysteresis) lighter than that come
 * down to their step or their core, and the sums with them. A rate limit still holds: after
 * such a shrink it is what keeps the next plan the same. Where the memory goes is the fill's
 * to say, by weight. Returns the reasons that gave way, as bits.
 */
static __u32 holds_give_way(struct ctx *c, const __u32 *need, size_t nn, const __u32 *held,
			    size_t nm, struct sum128 *floors, struct sum128 *demand,
			    struct sum128 *margin, struct sum128 *excess)
{
	__u32 weight = 0, lowered = 0; /* weight: the heaviest need's weight + 1; 0: none */

	for (size_t k = 0; k < nn; k++) {
		__u32 w = c->s[need[k]].weight + 1;

		if (w > weight && is_short_of_need(c, need[k]))
			weight = w;
	}
	for (size_t k = 0; k < nm; k++) {
		__u32 i = held[k], cause = c->w[i].cause;
		__u64 core = core_of(c, i), step, to, used;

		if (c->s[i].weight + 1 >= weight)
			continue;
		/* Within its step: a shrink is no faster for being a heavier VM's need. */
		step = step_floor(c->h, c->w[i].held_bytes, gran_of(&c->s[i]));
		to = step > core ? step : core;
		if (c->s[i].floor_bytes <= to)
			continue;
		used = c->w[i].used_bytes;
		sub_layers(c, i, floors, demand, margin, excess);
		hold_floor(c, i, to, step > core ? ALLOC_SHRINK_STEP : ALLOC_HOLD_IN_USE,
			   c->w[i].ideal_bytes);
		set_layers(c, i);
		add_layers(c, i, floors, demand, margin, excess);
		/* Below its in-use floor (its minimum at least), its margin gave way too. */
		lowered |= 1U << cause | (__u32)(c->s[i].floor_bytes < used) << ALLOC_HOLD_IN_USE;
	}
	return lowered;
}

/*
 * The floors of VMs [first, end) by demand_floor(), added up as set_limits() does: what the
 * guests use does not fit, so the margins are not lowered for a heavier VM's need and no lists
 * are made for that.
 */
static void demand_floors(struct ctx *c, __u32 first, __u32 end, struct sum128 *ret_floors,
			  struct sum128 *ret_demand, struct sum128 *excess)
{
	struct sum128 floors = { 0 }, demand = { 0 }, margin = { 0 };

	for (__u32 i = first; i < end; i++) {
		demand_floor(c, i, c->s[i].x_bytes);
		add_layers(c, i, &floors, &demand, &margin, excess);
	}
	*ret_floors = floors;
	*ret_demand = demand;
}

/* The kinds in dropped as reasons: the margin is part of the in-use floor. */
static __u32 as_reasons(__u32 dropped)
{
	return (dropped & ~(1U << KIND_MARGIN)) | (dropped >> KIND_MARGIN & 1) << ALLOC_HOLD_IN_USE;
}

/*
 * Puts transition floors under VMs [first, end), given their ideal in x. When they don't fit the
 * budget, kinds of limits give way in drop_order until they do: all but the last entirely,
 * the last only as far as needed, lighter VMs first. With used_short, what the guests use
 * does not fit the budget: the floors are their demands (demand_floor()). Returns the kinds
 * that gave way, as reasons.
 */
static __u32 set_limits(struct ctx *c, __u32 first, __u32 end, __u64 budget, bool used_short)
{
	struct sum128 excess[NR_KINDS] = { 0 }, floors = { 0 }, demand = { 0 }, margin = { 0 };
	struct give_way g = { .last = CAUSE_NONE };
	__u32 dropped = 0, reasons, lowered = 0, *need = c->l.todo, *held = c->l.id;
	size_t nn = 0, nm = 0;
	u128 sum;

	if (used_short)
		demand_floors(c, first, end, &floors, &demand, excess);
	else
		for (__u32 i = first; i < end; i++) {
			const struct work *w = &c->w[i];

			transition_floor(c, i, c->s[i].x_bytes);
			add_layers(c, i, &floors, &demand, &margin, excess);
			/* Stored always, kept when so: no branch to mispredict (lanes free). */
			need[nn] = held[nm] = i;
			nn += may_need(c, i);
			nm += ((w->cause == ALLOC_HOLD_IN_USE) &
			       (w->used_bytes > w->demand_floor_bytes)) |
			      (w->cause == ALLOC_HOLD_HYSTERESIS);
		}
	if (nn && nm)
		lowered = holds_give_way(c, need, nn, held, nm, &floors, &demand, &margin, excess);
	sum_merge(&excess[ALLOC_HOLD_IN_USE], demand);
	excess[KIND_MARGIN] = margin;
	sum = sum_value(floors);
	give_at(&g, ALLOC_WEIGHT_MAX, 0, 1); /* the last kind keeps nothing, unless solved */
	/* Cumulative: with the rate limit gone, a VM that was held by hysteresis has no step. */
	for (size_t d = 0; sum > budget && d < sizeof(drop_order) / sizeof(drop_order[0]); d++) {
		u128 ex = sum_value(excess[drop_order[d]]);

		g.last = drop_order[d];
		dropped |= 1U << g.last;
		if (sum - ex < budget)
			solve_give_way(c, first, end, budget - (sum - ex), &g);
		sum -= ex;
	}
	reasons = as_reasons(dropped);
	if (used_short && g.last == ALLOC_HOLD_IN_USE) {
		demands_give_way(c, first, end, &g);
	} else {
		for (__u32 i = first; dropped && i < end; i++) {
			if (reasons & (1U << c->w[i].cause))
				give_way(c, i, dropped, &g);
		}
	}
	return reasons | lowered;
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
	if (x <= w->minimum_bytes)
		return ALLOC_MINIMUM;
	return ALLOC_WEIGHT;
}

/*
 * Plans VMs [first, end) against budget. Floors at the minimums, caps at the wants, and sums
 * their minimums and what they use added up: prepare_vm() left them so.
 */
static void plan_group(struct ctx *c, __u32 first, __u32 end, __u64 budget,
		       const struct group_sums *sums, struct group_result *ret)
{
	/* A local: through ret, every store to a target would make the compiler reload it. */
	struct group_result g = { 0 };

	if (sum_value(sums->min) > budget) {
		/* The budget can't be met: minimums win, and the caller raises the alarm. */
		g.overcommitted = true;
		for (__u32 i = first; i < end; i++)
			put_target(c, i, c->w[i].minimum_bytes, ALLOC_OVERCOMMIT, &g);
		*ret = g;
		return;
	}
	fill(c, first, end, budget, false);
	/* The host reserve is sacred: limits that don't fit give way. */
	g.dropped_reasons = set_limits(c, first, end, budget, sum_value(sums->used) > budget);
	fill(c, first, end, budget, true);
	for (__u32 i = first; i < end; i++)
		put_target(c, i, c->s[i].x_bytes, reason_of(c, i), &g);
	*ret = g;
}

/* --- the plan ---------------------------------------------------------------------- */

/*
 * demand × (1 + buffer/100), rounded up, into [minimum, maximum], up to a granule, never
 * above maximum; *ret_capped: whether it was above maximum before. In 64 bits unless the
 * demand is so large they could overflow: the 128-bit division is a library call.
 */
static __u64 want_of(const struct alloc_vm *v, __u64 g, bool *ret_capped)
{
	__u64 min = v->minimum_bytes, max = v->maximum_bytes, raw, up;
	u128 wide;

	if (v->demand_bytes > UINT64_MAX / 2100) {
		wide = ((u128)v->demand_bytes * (100 + v->buffer_pct) + 99) / 100;
		*ret_capped = wide > max;
		raw = wide > max ? max : (__u64)wide;
	} else {
		raw = (v->demand_bytes * (100 + v->buffer_pct) + 99) / 100;
		*ret_capped = raw > max;
	}
	raw = raw < min ? min : raw;
	raw = raw > max ? max : raw;
	/* Rounded up: the last byte of its granule and one more, but not past max (nor 2^64). */
	up = raw | (g - 1);
	up = up >= max ? max : up + 1;
	return raw & (g - 1) ? up : raw;
}

/*
 * Checks the caller's VM v and makes it VM i of the plan: works out its want = demand ×
 * (1 + buffer/100), into [minimum, maximum], up to a granule, never above maximum, and
 * takes what the passes need of the rest; its floor starts at the minimum, its cap at the
 * want. Returns -EINVAL on values outside the documented ranges (the node:
 * group_by_node()).
 */
static int prepare_vm(struct ctx *c, const struct alloc_vm *v, __u32 i)
{
	struct work *w = &c->w[i];
	struct slot *s = &c->s[i];
	__u64 g = granule_of(v), a = v->assigned_bytes, used;
	struct group_sums *sums;

	if (v->minimum_bytes > v->maximum_bytes || v->weight > ALLOC_WEIGHT_MAX ||
	    v->buffer_pct < ALLOC_BUFFER_MIN_PCT || v->buffer_pct > ALLOC_BUFFER_MAX_PCT ||
	    (g & (g - 1)))
		return -EINVAL;
	w->want_bytes = want_of(v, g, &w->capped);
	w->held_bytes = a < v->minimum_bytes   ? v->minimum_bytes
			: a > v->maximum_bytes ? v->maximum_bytes
					       : a;
	w->minimum_bytes = v->minimum_bytes;
	w->demand_bytes = v->demand_bytes;
	w->pressure = v->pressure;
	w->rate = shrunk_recently(c->h, v);
	w->cause = CAUSE_NONE;
	s->weight = v->weight;
	s->gran_shift = (__u8)__builtin_ctzll(g);
	s->floor_bytes = v->minimum_bytes;
	s->cap_bytes = w->want_bytes;
	sums = &c->sums[c->h->numa_spanning ? 0 : v->node + 1];
	used = v->demand_bytes < w->held_bytes ? v->demand_bytes : w->held_bytes;
	used = used < v->minimum_bytes ? v->minimum_bytes : used;
	sum_add(&sums->min, v->minimum_bytes);
	sum_add(&sums->used, v->pressure ? w->held_bytes : used);
	return 0;
}

/* Adds a group's counts to the summary. */
static void add_group(struct alloc_summary *sum, const struct group_result *g)
{
	sum->total_bytes += g->total_bytes;
	sum->want_bytes += g->want_bytes;
	sum->nr_short += g->nr_short;
	sum->nr_held += g->nr_held;
	sum->dropped_reasons |= g->dropped_reasons;
}

/*
 * Spanning off, the plan's VMs are in node order: the unplaced first, then node 0, node
 * 1, ..., each in the order given (so that ties in key order and the sums come out the
 * same). A node is then a range of adjacent slots, and its passes stream through memory:
 * through an index, a node's VMs were every fourth or so of all, and reaching them so made
 * those passes 10-60% slower. Sets start[k + 1] to where node k's VMs begin, start[0] (0)
 * to where the unplaced do; place_vm() takes the places. Returns -EINVAL on a node out of
 * range.
 */
static int group_by_node(const struct ctx *c, const struct alloc_vm *vms, size_t n, size_t *start)
{
	size_t nr = c->h->nr_nodes;

	for (size_t i = 0; i < n; i++) {
		if (vms[i].node < -1 || vms[i].node >= (int)nr)
			return -EINVAL;
		start[vms[i].node + 2]++;
	}
	for (size_t k = 1; k < nr + 2; k++)
		start[k] += start[k - 1];
	return 0;
}

/*
 * Where the caller's vms[i] goes in the plan: i, or with spanning off the next place of its
 * node, so that start[k + 1] ends as the end of node k's VMs, start[0] as that of the
 * unplaced.
 */
static __u32 place_vm(struct ctx *c, const struct alloc_vm *vms, __u32 i, size_t *start)
{
	__u32 at;

	if (!c->from)
		return i;
	at = (__u32)start[vms[i].node + 1]++;
	c->from[at] = i;
	return at;
}

/* Spanning off: node by node, over the groups that group_by_node() and place_vm() made. */
static void plan_nodes(struct ctx *c, const size_t *start, struct alloc_summary *sum)
{
	const struct alloc_host *h = c->h;
	struct group_result unplaced = { 0 };

	for (__u32 i = 0; i < start[0]; i++)
		put_target(c, i, c->w[i].minimum_bytes, ALLOC_NO_NODE, &unplaced);
	add_group(sum, &unplaced);
	sum->nr_unplaced = start[0];
	for (size_t node = 0; node < h->nr_nodes; node++) {
		size_t from = start[node], to = start[node + 1];
		struct group_result g;

		plan_group(c, (__u32)from, (__u32)to, h->node_budget_bytes[node],
			   &c->sums[node + 1], &g);
		add_group(sum, &g);
		sum->node_total_bytes[node] = g.total_bytes;
		if (g.overcommitted)
			sum->overcommitted_nodes |= 1ULL << node;
		if (g.dropped_reasons)
			sum->holds_dropped_nodes |= 1ULL << node;
	}
	sum->overcommitted = sum->overcommitted_nodes;
}

/*
 * Scratch for n VMs, in one block: freed and taken again at every plan, one block stays
 * in the heap, where separate arrays get trimmed and page-faulted back in each time. Taken
 * with malloc() and aligned here: glibc 2.36's aligned_alloc() of a block this size put
 * each of the next eight plans' block 2 MB further up the heap, page-faulting it in anew
 * (10,000 VMs: those plans took 1 ms, not 0.3, and the heap grew by 16 MB).
 */
static int ctx_alloc(struct ctx *c, size_t n, bool by_node)
{
	struct lanes *l = &c->l;
	size_t size = 0, at = 0, nb = by_node ? n : 0;
	char *p;

#define CARVE_N(ptr, count)                                                                        \
	do {                                                                                       \
		if (p)                                                                             \
			ptr = (void *)(p + at);                                                    \
		at += (count) * sizeof(*ptr);                                                      \
	} while (0)
#define CARVE(ptr) CARVE_N(ptr, n)
	/*
	 * Twice: sizes first, then pointers; largest alignment first, so all stay aligned. The
	 * work first, on a cache line, and the slots after it: each VM's work is one line, and
	 * two VMs' slots are one, not parts of two.
	 */
	for (int pass = 0; pass < 2; pass++) {
		c->block = pass ? malloc(size + 63) : NULL;
		if (pass && !c->block)
			return -ENOMEM;
		p = c->block ? (char *)(((uintptr_t)c->block + 63) & ~(uintptr_t)63) : NULL;
		at = 0;
		CARVE(c->w);
		CARVE(c->s);
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
		CARVE(l->id);
		CARVE(l->weight);
		CARVE(l->todo);
		CARVE_N(c->from, nb);
		size = at;
		c->from = by_node ? c->from : NULL;
	}
#undef CARVE
#undef CARVE_N
	return 0;
}

int alloc_plan(const struct alloc_host *h, const struct alloc_vm *vms, size_t n,
	       struct alloc_target *ret_targets, struct alloc_summary *ret_summary)
{
	struct alloc_summary sum = { 0 };
	struct ctx c = { .h = h };
	size_t start[ALLOC_MAX_NODES + 2] = { 0 };
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
	err = ctx_alloc(&c, n + 1, !h->numa_spanning); /* malloc(0) may return NULL */
	if (!err && !h->numa_spanning)
		err = group_by_node(&c, vms, n, start);
	if (err)
		goto out;
	for (__u32 i = 0; i < n && !err; i++)
		err = prepare_vm(&c, &vms[i], place_vm(&c, vms, i, start));
	if (err)
		goto out;
	/* The inputs are good: from here on the targets go straight where they belong. */
	c.t = ret_targets;
	if (h->numa_spanning) {
		struct group_result g;

		plan_group(&c, 0, (__u32)n, h->budget_bytes, &c.sums[0], &g);
		add_group(&sum, &g);
		sum.overcommitted = g.overcommitted;
	} else {
		plan_nodes(&c, start, &sum);
	}
	sum.holds_dropped = sum.dropped_reasons;
	*ret_summary = sum;
out:
	free(c.block);
	return err;
}
