// SPDX-License-Identifier: GPL-2.0-only
/*
 * touch-pages: a workload that faults in exactly N fresh anonymous 4K pages per round.
 * THP is off for the process and the mapping, so one write is one fault and one page.
 *
 *   touch-pages --pages N [--rounds R] [--pause-ms MS]   R rounds (0 = forever)
 *   touch-pages --pages N --sync                          one round, driven over stdio:
 *       maps, prints "ready", waits for a line, touches, prints "done", waits for EOF
 *       or a line, exits. The tests count the faults between "ready" and "done".
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/prctl.h>

struct opts {
	unsigned long pages;
	unsigned long rounds;
	unsigned long pause_ms;
	bool sync;
};

static int usage(void)
{
	fputs("usage: touch-pages --pages N [--rounds R] [--pause-ms MS] [--sync]\n", stderr);
	return 2;
}

static int parse(int argc, char **argv, struct opts *o)
{
	*o = (struct opts){ .rounds = 1 };
	for (int i = 1; i < argc; i++) {
		unsigned long *v = NULL;

		if (!strcmp(argv[i], "--sync"))
			o->sync = true;
		else if (!strcmp(argv[i], "--pages"))
			v = &o->pages;
		else if (!strcmp(argv[i], "--rounds"))
			v = &o->rounds;
		else if (!strcmp(argv[i], "--pause-ms"))
			v = &o->pause_ms;
		else
			return -1;
		if (v && (++i == argc || sscanf(argv[i], "%lu", v) != 1))
			return -1;
	}
	return o->pages ? 0 : -1;
}

static void wait_line(void)
{
	char buf[64];

	if (!fgets(buf, sizeof(buf), stdin))
		return;
}

static int one_round(const struct opts *o, long page)
{
	size_t len = o->pages * (size_t)page;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		fprintf(stderr, "touch-pages: mmap of %zu bytes: %s\n", len, strerror(errno));
		return -1;
	}
	madvise(p, len, MADV_NOHUGEPAGE);
	if (o->sync) {
		puts("ready");
		fflush(stdout);
		wait_line();
	}
	for (size_t off = 0; off < len; off += (size_t)page)
		p[off] = 1;
	if (o->sync) {
		puts("done");
		fflush(stdout);
		wait_line();
	}
	munmap(p, len);
	return 0;
}

int main(int argc, char **argv)
{
	long page = sysconf(_SC_PAGESIZE);
	struct opts o;

	if (parse(argc, argv, &o))
		return usage();
	/* Unbuffered stdin: no heap growth inside the counted window of --sync. */
	setvbuf(stdin, NULL, _IONBF, 0);
	/* One fault per page: no transparent huge pages for this process. */
	prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0);
	for (unsigned long r = 0; o.sync ? r < 1 : (!o.rounds || r < o.rounds); r++) {
		struct timespec pause = { o.pause_ms / 1000, (long)(o.pause_ms % 1000) * 1000000 };

		if (one_round(&o, page))
			return 1;
		if (o.pause_ms)
			nanosleep(&pause, NULL);
	}
	return 0;
}
