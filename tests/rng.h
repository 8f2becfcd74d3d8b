/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * splitmix64, for the tests and the benchmarks: small, good enough, and the same sequence
 * everywhere, so that a seed a run prints replays it. One generator per program. And the
 * variables that steer a random test (ALLOC_TEST_SEED, ALLOC_TEST_SCENARIOS, ...).
 */
#ifndef DYNMEM_TESTS_RNG_H
#define DYNMEM_TESTS_RNG_H

#include <stdint.h>
#include <stdlib.h>
#include <linux/types.h>

static __u64 rng_state;

static inline __u64 rnd(void)
{
	__u64 z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Uniform in [lo, hi], but for the modulo's slight bias. */
static inline __u64 rnd_range(__u64 lo, __u64 hi)
{
	return hi - lo == UINT64_MAX ? rnd() : lo + rnd() % (hi - lo + 1);
}

/* The number in environment variable name, or def when it is unset or empty. */
static inline __u64 env_u64(const char *name, __u64 def)
{
	const char *s = getenv(name);

	return s && *s ? strtoull(s, NULL, 0) : def;
}

#endif
