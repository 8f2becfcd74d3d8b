// SPDX-License-Identifier: GPL-2.0-only
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "fixture.h"

int fixture_dir(const char *test, const char *sub, char *buf, size_t len)
{
	const char *env = getenv("DYNMEM_FIXTURES");
	char exe[PATH_MAX], here[PATH_MAX];
	struct stat st;
	ssize_t n;
	int w;

	snprintf(here, sizeof(here), "tests/fixtures/%s", sub);
	if (env) {
		w = snprintf(buf, len, "%s/%s", env, sub);
	} else if (!stat(here, &st)) {
		w = snprintf(buf, len, "%s", here);
	} else {
		n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
		if (n < 0)
			return -1;
		exe[n] = '\0';
		*strrchr(exe, '/') = '\0';
		w = snprintf(buf, len, "%s/../../tests/fixtures/%s", exe, sub);
	}
	if (w < 0 || (size_t)w >= len || stat(buf, &st) || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "%s: no fixtures at %s (set DYNMEM_FIXTURES)\n", test, buf);
		return -1;
	}
	return 0;
}
