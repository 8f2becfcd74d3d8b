// SPDX-License-Identifier: GPL-2.0-only
/*
 * demand: a guest workload whose memory demand lab scenarios raise and drop on cue.
 *
 *   dynmem.demand=64M:10,300M:20,100M:0     (on the kernel command line)
 *   demand 64M:10,300M:20,100M:0            (or as the only argument, for host-side tests)
 *   demand --follow FILE                    (dynmem.demand=follow: FILE is /ctl/demand)
 *
 * A schedule is SIZE:SECONDS steps: hold SIZE of anonymous memory for SECONDS, 0 meaning
 * forever. After the last step its size is held forever: a workload that vanished would look
 * like a demand drop.
 *
 * --follow reads the size it wants from FILE twice a second (the host writes it through a 9p
 * share), gives memory back at once and grows like a well-behaved service: by at most
 * GROW_CHUNK at a time and only while the guest keeps MIN_AVAILABLE available, so it waits for
 * the host to give the guest memory instead of driving it into the OOM killer. Its console
 * line "demand: holding N MiB of M MiB" is what the scenario reads as the workload's truth.
 *
 * Every page is written when taken and re-written every few seconds, so the memory is
 * resident and hot, not merely reserved.
 */
#include <ctype.h>
#include <stdbool.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define MAX_STEPS   32
#define PAGE_BYTES  4096UL
#define CMDLINE_KEY "dynmem.demand="
#define RETOUCH_NS  5000000000LL
#define FOLLOW_NS   500000000LL
#define MiB	    (1UL << 20)
#define GROW_CHUNK  (8 * MiB)
/* Free enough for the guest kernel and page cache to breathe, small enough that the guest's
 * report (total - available) shows the host it is full. */
#define MIN_AVAILABLE (16 * MiB)

struct step {
	size_t bytes;
	long seconds; /* 0: forever */
};

struct schedule {
	struct step steps[MAX_STEPS];
	int nr_steps;
};

/* "64M" -> bytes; a plain number is bytes. Returns 0 or -EINVAL. */
static int parse_size(const char *s, char **ret_end, size_t *ret_bytes)
{
	static const char units[] = "KMG";
	unsigned long long v;
	const char *unit;
	char *end;
	int shift = 0;

	if (!isdigit((unsigned char)*s)) /* strtoull would take "-1" */
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	unit = *end ? strchr(units, *end) : NULL;
	if (unit) {
		shift = 10 * (int)(unit - units + 1);
		end++;
	}
	if (v > (~0ULL >> shift))
		return -EINVAL;
	*ret_end = end;
	*ret_bytes = (size_t)(v << shift);
	return 0;
}

/* "SIZE:SECONDS,SIZE:SECONDS..." ending at '\0' or whitespace. Returns 0 or -EINVAL. */
static int parse_schedule(const char *s, struct schedule *ret)
{
	struct schedule sch = { .nr_steps = 0 };
	char *end;

	for (;;) {
		struct step *st;

		if (sch.nr_steps == MAX_STEPS)
			return -EINVAL;
		st = &sch.steps[sch.nr_steps];
		if (parse_size(s, &end, &st->bytes) || *end != ':' ||
		    !isdigit((unsigned char)end[1]))
			return -EINVAL;
		errno = 0;
		st->seconds = strtol(end + 1, &end, 10);
		if (errno)
			return -EINVAL;
		sch.nr_steps++;
		if (*end != ',')
			break;
		s = end + 1;
	}
	if (*end && *end != ' ' && *end != '\n')
		return -EINVAL;
	*ret = sch;
	return 0;
}

/* The schedule text from /proc/cmdline, copied into buf. Returns 0, -ENOENT or -errno. */
static int cmdline_schedule(char *buf, size_t len)
{
	char line[4096];
	const char *p;
	FILE *f;
	int r = 0;

	f = fopen("/proc/cmdline", "re");
	if (!f)
		return -errno;
	if (!fgets(line, sizeof(line), f)) {
		r = -EIO;
		goto out;
	}
	p = strstr(line, CMDLINE_KEY);
	if (!p || (p != line && p[-1] != ' ')) {
		r = -ENOENT;
		goto out;
	}
	p += strlen(CMDLINE_KEY);
	snprintf(buf, len, "%.*s", (int)strcspn(p, " \n"), p);
out:
	fclose(f);
	return r;
}

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Write one byte in every page: the first pass faults them in, later ones keep them hot. */
static void touch(char *mem, size_t bytes, unsigned int pass)
{
	for (size_t off = 0; off < bytes; off += PAGE_BYTES)
		mem[off] = (char)(off / PAGE_BYTES + pass);
}

/* Grow or shrink the held region to bytes; shrinking gives the tail back to the kernel. */
static int resize(char **mem, size_t *held, size_t bytes)
{
	void *p = NULL;

	if (bytes == *held)
		return 0;
	if (*held == 0)
		p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	else if (bytes > 0)
		p = mremap(*mem, *held, bytes, MREMAP_MAYMOVE);
	else if (munmap(*mem, *held))
		p = MAP_FAILED;
	if (p == MAP_FAILED)
		return -errno;
	*mem = p;
	*held = bytes;
	return 0;
}

static void sleep_ns(long long ns)
{
	struct timespec ts = { .tv_sec = ns / 1000000000LL, .tv_nsec = ns % 1000000000LL };

	nanosleep(&ts, NULL);
}

/* Hold until deadline_ns (0: forever), re-touching every RETOUCH_NS. */
static void hold_until(char *mem, size_t bytes, long long deadline_ns)
{
	for (unsigned int pass = 1;; pass++) {
		long long left_ns = deadline_ns ? deadline_ns - now_ns() : RETOUCH_NS;

		if (left_ns <= 0)
			break;
		sleep_ns(left_ns < RETOUCH_NS ? left_ns : RETOUCH_NS);
		touch(mem, bytes, pass);
	}
}

static int run(const struct schedule *sch)
{
	size_t held = 0;
	char *mem = NULL;

	for (int i = 0; i < sch->nr_steps; i++) {
		const struct step *st = &sch->steps[i];
		long long start = now_ns();
		int r = resize(&mem, &held, st->bytes);

		if (r) {
			fprintf(stderr, "demand: cannot hold %zu MiB: %s\n", st->bytes >> 20,
				strerror(-r));
			return 1;
		}
		touch(mem, held, 0);
		printf("demand: holding %zu MiB (step %d/%d)\n", held >> 20, i + 1, sch->nr_steps);
		if (i + 1 == sch->nr_steps || st->seconds == 0)
			break;
		hold_until(mem, held, start + st->seconds * 1000000000LL);
	}
	hold_until(mem, held, 0);
	return 0;
}

/* MemAvailable from /proc/meminfo in bytes, or 0 if unreadable (then it waits, safely). */
static size_t mem_available(void)
{
	unsigned long long kb = 0;
	char line[256];
	FILE *f = fopen("/proc/meminfo", "re");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
			break;
	fclose(f);
	return (size_t)kb << 10;
}

/* The size FILE asks for; keeps *want when the file is missing or malformed (said once). */
static void read_want(const char *path, size_t *want)
{
	static bool complained;
	char text[64] = "", *end;
	size_t bytes;
	FILE *f = fopen(path, "re");

	if (!f)
		return;
	if (fgets(text, sizeof(text), f) && !parse_size(text, &end, &bytes) &&
	    (*end == '\0' || *end == '\n')) {
		*want = bytes & ~(PAGE_BYTES - 1);
		complained = false;
	} else if (!complained) {
		text[strcspn(text, "\n")] = '\0';
		fprintf(stderr, "demand: %s: want a size like 300M, got '%s'\n", path, text);
		complained = true;
	}
	fclose(f);
}

/* How much to take now, toward want: a chunk, and only out of what the guest has spare. */
static size_t grow_by(size_t held, size_t want)
{
	size_t avail = mem_available(), step = want - held;

	if (avail <= MIN_AVAILABLE)
		return 0;
	if (step > avail - MIN_AVAILABLE)
		step = avail - MIN_AVAILABLE;
	if (step > GROW_CHUNK)
		step = GROW_CHUNK;
	return step & ~(PAGE_BYTES - 1);
}

static int follow(const char *path)
{
	size_t held = 0, want = 0, said_held = 1, said_want = 0;
	long long last_touch = now_ns();
	char *mem = NULL;

	for (unsigned int pass = 1;; pass++) {
		size_t old = held, next = held;
		int r;

		read_want(path, &want);
		if (want < held)
			next = want;
		else if (want > held)
			next = held + grow_by(held, want);
		r = resize(&mem, &held, next);
		if (r)
			fprintf(stderr, "demand: cannot hold %zu MiB: %s\n", next / MiB,
				strerror(-r));
		if (held > old)
			touch(mem + old, held - old, 0);
		if (held != said_held || want != said_want) {
			printf("demand: holding %zu MiB of %zu MiB\n", held / MiB, want / MiB);
			said_held = held;
			said_want = want;
		}
		if (now_ns() - last_touch >= RETOUCH_NS) {
			touch(mem, held, pass);
			last_touch = now_ns();
		}
		sleep_ns(FOLLOW_NS);
	}
	return 0;
}

int main(int argc, char **argv)
{
	char text[4096];
	struct schedule sch;
	int r;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 3 && !strcmp(argv[1], "--follow"))
		return follow(argv[2]);
	if (argc > 2) {
		fprintf(stderr, "usage: demand [SIZE:SECONDS,...] | demand --follow FILE\n");
		return 2;
	}
	if (argc == 2) {
		snprintf(text, sizeof(text), "%s", argv[1]);
	} else {
		r = cmdline_schedule(text, sizeof(text));
		if (r) {
			fprintf(stderr, "demand: no %s on /proc/cmdline (%s)\n", CMDLINE_KEY,
				strerror(-r));
			return 2;
		}
	}
	if (parse_schedule(text, &sch)) {
		fprintf(stderr, "demand: bad schedule '%s': want SIZE:SECONDS[,...], e.g. 64M:10\n",
			text);
		return 2;
	}
	return run(&sch);
}
