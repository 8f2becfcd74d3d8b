// SPDX-License-Identifier: GPL-2.0-only
/*
 * Integer arithmetic only: a double cannot hold every byte count (2^64 - 1 rounds up to 2^64,
 * anything above 2^53 loses its low bits), and strtod()/printf("%f") follow LC_NUMERIC, so a
 * CLI that calls setlocale() would read and print "1,5G".
 */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "size.h"

static const char units[] = "KMGTPE";

#define SIZE_MAX_FRAC_DIGITS 9 /* more digits can't change a result below 2^60 by a byte */

static int suffix_shift(const char *s, unsigned int *ret_shift)
{
	const char *u;

	if (!*s) {
		*ret_shift = 0;
		return 0;
	}
	u = strchr(units, toupper((unsigned char)*s));
	if (!u)
		return -EINVAL;
	s++;
	if (*s && strcasecmp(s, "B") && strcasecmp(s, "iB"))
		return -EINVAL;
	*ret_shift = 10 * (unsigned int)(u - units + 1);
	return 0;
}

/* floor(0.DIGITS * 2^shift) for the first SIZE_MAX_FRAC_DIGITS digits. */
static __u64 fraction_bytes(const char *digits, size_t nr_digits, unsigned int shift)
{
	unsigned __int128 num = 0, den = 1;

	if (nr_digits > SIZE_MAX_FRAC_DIGITS)
		nr_digits = SIZE_MAX_FRAC_DIGITS;
	for (size_t i = 0; i < nr_digits; i++) {
		num = num * 10 + (unsigned int)(digits[i] - '0');
		den *= 10;
	}
	return (__u64)((num << shift) / den);
}

int size_parse(const char *s, __u64 *ret_bytes)
{
	const char *p, *frac = NULL;
	unsigned long long whole;
	size_t nr_frac = 0;
	unsigned int shift;
	__u64 bytes, extra;

	/* The syntax first, so that garbage is -EINVAL even when its digits would overflow. */
	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	for (p = s; isdigit((unsigned char)*p); p++)
		;
	if (*p == '.') {
		frac = ++p;
		for (; isdigit((unsigned char)*p); p++)
			;
		nr_frac = (size_t)(p - frac);
		if (!nr_frac)
			return -EINVAL;
	}
	if (suffix_shift(p, &shift))
		return -EINVAL;
	if (frac && !shift)
		return -EINVAL; /* a fraction of a byte */

	errno = 0;
	whole = strtoull(s, NULL, 10);
	if (errno == ERANGE)
		return -ERANGE;
	if (shift && whole > (~0ULL >> shift))
		return -ERANGE;
	bytes = (__u64)whole << shift;
	extra = frac ? fraction_bytes(frac, nr_frac, shift) : 0;
	if (bytes + extra < bytes)
		return -ERANGE;
	*ret_bytes = bytes + extra;
	return 0;
}

const char *size_format(char *buf, size_t len, __u64 bytes)
{
	unsigned int i = 0, shift;
	__u64 whole, rem, tenths;

	if (bytes < 1024) {
		snprintf(buf, len, "%llu", (unsigned long long)bytes);
		return buf;
	}
	while (i < sizeof(units) - 2 && bytes >> (10 * (i + 2)))
		i++;
	shift = 10 * (i + 1);
	whole = bytes >> shift;
	rem = bytes & ((1ULL << shift) - 1);
	if (!rem) {
		snprintf(buf, len, "%llu%c", (unsigned long long)whole, units[i]);
		return buf;
	}
	/* Rounded to the nearest tenth; rem * 10 + half stays below 2^64 even for shift 60. */
	tenths = (rem * 10 + (1ULL << (shift - 1))) >> shift;
	if (tenths == 10) {
		whole++;
		tenths = 0;
	}
	if (whole == 1024 && i < sizeof(units) - 2) {
		/* 1023.96M reads better as 1.0G than as 1024.0M */
		whole = 1;
		i++;
	}
	/* Not exact: the ".0" of "1.0G" says so. */
	snprintf(buf, len, "%llu.%llu%c", (unsigned long long)whole, (unsigned long long)tenths,
		 units[i]);
	return buf;
}
