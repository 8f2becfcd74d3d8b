// SPDX-License-Identifier: GPL-2.0-only
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "size.h"

static const char units[] = "KMGTPE";

static int suffix_shift(const char *s, unsigned int *ret_shift)
{
	const char *u = *s ? strchr(units, toupper((unsigned char)*s)) : NULL;

	if (!*s) {
		*ret_shift = 0;
		return 0;
	}
	if (!u)
		return -EINVAL;
	s++;
	if (*s && strcasecmp(s, "B") && strcasecmp(s, "iB"))
		return -EINVAL;
	*ret_shift = 10 * (unsigned int)(u - units + 1);
	return 0;
}

int size_parse(const char *s, __u64 *ret_bytes)
{
	unsigned int shift;
	char *end;
	double v;

	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || suffix_shift(end, &shift))
		return -EINVAL;
	if (!shift && strchr(s, '.'))
		return -EINVAL; /* a fraction of a byte */
	v = ldexp(v, (int)shift);
	if (v >= 18446744073709551616.0)
		return -ERANGE;
	*ret_bytes = (__u64)v;
	return 0;
}

const char *size_format(char *buf, size_t len, __u64 bytes)
{
	int i = -1;
	double v = (double)bytes;

	while (v >= 1024 && i < 5) {
		v /= 1024;
		i++;
	}
	if (i < 0)
		snprintf(buf, len, "%llu", (unsigned long long)bytes);
	else if (v == floor(v))
		snprintf(buf, len, "%.0f%c", v, units[i]);
	else
		snprintf(buf, len, "%.1f%c", v, units[i]);
	return buf;
}
