// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "overhead.h"

/* "7f0000000000-7f0040000000 rw-p ..." starts a mapping; its size is end - start. */
static int mapping_size(const char *line, __u64 *ret_bytes)
{
	unsigned long long start, end;
	char dash;

	if (sscanf(line, "%llx%c%llx ", &start, &dash, &end) != 3 || dash != '-' || end < start)
		return -EINVAL;
	*ret_bytes = end - start;
	return 0;
}

int overhead_smaps_guest_rss(FILE *smaps, __u64 min_mapping_bytes, __u64 *ret_rss_bytes)
{
	char line[512];
	__u64 size = 0, rss_total = 0;
	unsigned long long kb;

	while (fgets(line, sizeof(line), smaps)) {
		if (!mapping_size(line, &size))
			continue;
		if (size >= min_mapping_bytes && sscanf(line, "Rss: %llu kB", &kb) == 1)
			rss_total += (__u64)kb << 10;
	}
	if (ferror(smaps))
		return -EIO;
	*ret_rss_bytes = rss_total;
	return 0;
}

int overhead_cgroup_guest_rss(int cgroup_fd, const char *proc_dir, __u64 min_mapping_bytes,
			      __u64 *ret_rss_bytes)
{
	char path[4096];
	__u64 total = 0, rss;
	FILE *procs, *smaps;
	int fd, pid, err = 0;

	fd = openat(cgroup_fd, "cgroup.procs", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	procs = fdopen(fd, "r");
	if (!procs) {
		close(fd);
		return -errno;
	}
	while (!err && fscanf(procs, "%d", &pid) == 1) {
		snprintf(path, sizeof(path), "%s/%d/smaps", proc_dir, pid);
		smaps = fopen(path, "re");
		if (!smaps)
			continue; /* exited since cgroup.procs was read */
		err = overhead_smaps_guest_rss(smaps, min_mapping_bytes, &rss);
		fclose(smaps);
		total += err ? 0 : rss;
	}
	fclose(procs);
	if (!err)
		*ret_rss_bytes = total;
	return err;
}
