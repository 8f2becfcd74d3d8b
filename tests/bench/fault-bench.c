// SPDX-License-Identifier: GPL-2.0-only
/*
 * fault-bench: how many page faults per second this process takes on fresh anonymous 4K
 * pages. THP off; each repetition maps, touches and unmaps --pages pages. Prints one line:
 *   faults_per_s=<rate> faults=<n> seconds=<t>
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/prctl.h>

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	unsigned long pages = argc > 1 ? strtoul(argv[1], NULL, 10) : 16384;
	unsigned long reps = argc > 2 ? strtoul(argv[2], NULL, 10) : 20;
	size_t page = (size_t)sysconf(_SC_PAGESIZE), len = pages * page;
	double start, took = 0;

	prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0);
	for (unsigned long r = 0; r < reps; r++) {
		char *p =
			mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED) {
			perror("fault-bench: mmap");
			return 1;
		}
		madvise(p, len, MADV_NOHUGEPAGE);
		/* Only the touching is timed: mmap and munmap cost the same in every mode. */
		start = now_s();
		for (size_t off = 0; off < len; off += page)
			p[off] = 1;
		took += now_s() - start;
		munmap(p, len);
	}
	printf("faults_per_s=%.0f faults=%lu seconds=%.4f\n", (double)(pages * reps) / took,
	       pages * reps, took);
	return 0;
}
