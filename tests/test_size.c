// SPDX-License-Identifier: GPL-2.0-only
/*
 * Unit tests for user/size.c: the sizes operators write in the config file and on the
 * command line (dynmem set web maximum=8G), and the way dynmem prints them back.
 */
#include <errno.h>
#include <locale.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>
#include "size.h"

#define KiB (1ULL << 10)
#define MiB (1ULL << 20)
#define GiB (1ULL << 30)
#define TiB (1ULL << 40)
#define PiB (1ULL << 50)
#define EiB (1ULL << 60)

static void assert_parses(const char *s, __u64 want)
{
	__u64 got = 0;
	int r = size_parse(s, &got);

	if (r)
		fail_msg("size_parse(\"%s\") = %d, want %llu", s, r, (unsigned long long)want);
	if (got != want)
		fail_msg("size_parse(\"%s\") = %llu, want %llu", s, (unsigned long long)got,
			 (unsigned long long)want);
}

/* The error, and *ret_bytes left alone: callers keep their old value on a typo. */
static void assert_refused(const char *s, int want)
{
	__u64 got = 12345;
	int r = size_parse(s, &got);

	if (r != want)
		fail_msg("size_parse(\"%s\") = %d, want %d", s, r, want);
	assert_int_equal(got, 12345);
}

static void assert_formats(__u64 bytes, const char *want)
{
	char buf[32];

	assert_ptr_equal(size_format(buf, sizeof(buf), bytes), buf);
	if (strcmp(buf, want))
		fail_msg("size_format(%llu) = \"%s\", want \"%s\"", (unsigned long long)bytes, buf,
			 want);
}

/* A number without a suffix is bytes, exactly, up to 2^64 - 1 (no double on the way). */
static void plain_bytes(void **state)
{
	(void)state;
	assert_parses("0", 0);
	assert_parses("1", 1);
	assert_parses("4096", 4096);
	assert_parses("1073741824", GiB);
	assert_parses("007", 7);
	assert_parses("9007199254740993", 9007199254740993ULL); /* 2^53 + 1 */
	assert_parses("18446744073709551615", ~0ULL);
}

/* K, M, G, T, P, E are powers of 1024. */
static void suffixes(void **state)
{
	(void)state;
	assert_parses("1K", KiB);
	assert_parses("512M", 512 * MiB);
	assert_parses("4G", 4 * GiB);
	assert_parses("2T", 2 * TiB);
	assert_parses("3P", 3 * PiB);
	assert_parses("15E", 15 * EiB);
	assert_parses("0G", 0);
	assert_parses("17179869183G", 17179869183ULL * GiB); /* the largest whole G */
}

/* Any case, with an optional B or iB: what people copy from free(1), lsblk or a datasheet. */
static void case_and_b_suffix(void **state)
{
	(void)state;
	assert_parses("4g", 4 * GiB);
	assert_parses("4G", 4 * GiB);
	assert_parses("4GB", 4 * GiB);
	assert_parses("4gb", 4 * GiB);
	assert_parses("4Gb", 4 * GiB);
	assert_parses("4GiB", 4 * GiB);
	assert_parses("4gib", 4 * GiB);
	assert_parses("4GIB", 4 * GiB);
	assert_parses("512kB", 512 * KiB);
	assert_parses("1TiB", TiB);
}

/* A fraction needs a suffix; the result is rounded down to a byte. */
static void fractions(void **state)
{
	(void)state;
	assert_parses("1.5G", 1536 * MiB);
	assert_parses("0.5K", 512);
	assert_parses("0.75g", 768 * MiB);
	assert_parses("2.25M", 2 * MiB + 256 * KiB);
	assert_parses("0.1K", 102); /* 102.4 */
	assert_parses("1.0G", GiB);
	assert_parses("1.500000000000G", 1536 * MiB); /* digits past the ninth change nothing */
	assert_parses("15.5E", 15 * EiB + EiB / 2);
	assert_parses("0.001T", 1099511627);
	/* only nine digits count, so just under 16E still fits */
	assert_parses("15.9999999999999999E", 18446744072556630111ULL);
}

/* Above 2^64 - 1 is -ERANGE, whichever way it gets there. */
static void overflow(void **state)
{
	(void)state;
	assert_refused("18446744073709551616", -ERANGE);
	assert_refused("99999999999999999999999999", -ERANGE);
	assert_refused("16E", -ERANGE);
	assert_refused("16384P", -ERANGE);
	assert_refused("17179869184G", -ERANGE);
}

/* Anything else is -EINVAL, also when its digits alone would overflow. */
static void garbage(void **state)
{
	static const char *const bad[] = {
		"",	 "G",	  "12X",
		"-1",	 "1.5",	  "+1",
		" 1G",	 "1G ",	  "1 G",
		"1e3",	 "1e3G",  "0x10",
		"0x1G",	 ".5G",	  "1.G",
		"1..5G", "1.5.G", "1Gi",
		"1GiBs", "1GG",	  "1KM",
		"G1",	 "1,5G",  "inf",
		"nan",	 "1Z",	  "99999999999999999999999X",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_refused(bad[i], -EINVAL);
	assert_int_equal(size_parse(NULL, &(__u64){ 0 }), -EINVAL);
}

/* Exact multiples print whole; anything else to a tenth, and the ".0" says it is rounded. */
static void format(void **state)
{
	(void)state;
	assert_formats(0, "0");
	assert_formats(1023, "1023");
	assert_formats(KiB, "1K");
	assert_formats(1536, "1.5K");
	assert_formats(4 * GiB, "4G");
	assert_formats(1536 * MiB, "1.5G");
	assert_formats(1023 * MiB, "1023M");
	assert_formats(1024 * MiB, "1G");
	assert_formats(MiB + KiB, "1.0M");	       /* 1025K, shown approximately */
	assert_formats(GiB - 40 * MiB / 1024, "1.0G"); /* 1023.96M rounds up into the next unit */
	assert_formats(1280 * MiB, "1.3G");	       /* 1.25 rounds half up */
	assert_formats(15 * EiB, "15E");
	assert_formats(~0ULL, "16.0E");
}

/* A short buffer gets a terminated prefix, never an overrun. */
static void format_short_buffer(void **state)
{
	char buf[8];

	(void)state;
	memset(buf, 'x', sizeof(buf));
	size_format(buf, 3, 1536 * MiB);
	assert_string_equal(buf, "1.");
	assert_int_equal(buf[3], 'x');
}

/* What size_format() prints, size_parse() reads back to the same bytes, for every unit. */
static void round_trips(void **state)
{
	char buf[32];
	__u64 got;

	(void)state;
	for (unsigned int shift = 10; shift <= 60; shift += 10) {
		const __u64 unit = 1ULL << shift;
		const __u64 values[] = { unit, 3 * unit, unit + unit / 2, unit * 7 / 2,
					 (shift < 60 ? 1023 : 15) * unit };

		for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
			size_format(buf, sizeof(buf), values[i]);
			assert_int_equal(size_parse(buf, &got), 0);
			if (got != values[i])
				fail_msg("%llu -> \"%s\" -> %llu", (unsigned long long)values[i],
					 buf, (unsigned long long)got);
		}
	}
	/* and the other way: canonical text survives parse + format */
	static const char *const texts[] = { "0",  "1000", "1K", "1.5K", "512M",
					     "4G", "2.5T", "8P", "15E",	 "1023M" };
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		assert_int_equal(size_parse(texts[i], &got), 0);
		assert_string_equal(size_format(buf, sizeof(buf), got), texts[i]);
	}
}

/*
 * A program that calls setlocale(LC_ALL, "") (ncurses wants it) must still read and print
 * "1.5G", not "1,5G": checked with a comma locale when the host has one.
 */
static void locale_independent(void **state)
{
	static const char *const comma[] = { "de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8",
					     "fr_FR.utf8", "nl_NL.UTF-8" };
	const char *found = NULL;
	char buf[32];
	__u64 got;

	(void)state;
	for (size_t i = 0; i < sizeof(comma) / sizeof(comma[0]) && !found; i++)
		if (setlocale(LC_NUMERIC, comma[i]))
			found = comma[i];
	if (!found)
		skip(); /* no locale with a decimal comma on this host */
	assert_int_equal(size_parse("1.5G", &got), 0);
	assert_int_equal(got, 1536 * MiB);
	assert_string_equal(size_format(buf, sizeof(buf), 1536 * MiB), "1.5G");
	setlocale(LC_NUMERIC, "C");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(plain_bytes),
		cmocka_unit_test(suffixes),
		cmocka_unit_test(case_and_b_suffix),
		cmocka_unit_test(fractions),
		cmocka_unit_test(overflow),
		cmocka_unit_test(garbage),
		cmocka_unit_test(format),
		cmocka_unit_test(format_short_buffer),
		cmocka_unit_test(round_trips),
		cmocka_unit_test(locale_independent),
	};

	return cmocka_run_group_tests_name("size", tests, NULL, NULL);
}
