// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <stdbool.h>
#include "cgroupfs.h"
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

int overhead_smaps_rss(FILE *smaps, __u64 min_mapping_bytes, struct overhead_rss *ret)
{
	struct overhead_rss sum = { 0 };
	char line[512];
	__u64 size = 0;
	bool guest = false;
	unsigned long long kb;

	while (fgets(line, sizeof(line), smaps)) {
		if (!mapping_size(line, &size)) {
			guest = size >= min_mapping_bytes;
			continue;
		}
		if (size && guest && sscanf(line, "Rss: %llu kB", &kb) == 1)
			sum.guest_bytes += (__u64)kb << 10;
		else if (size && guest && sscanf(line, "Anonymous: %llu kB", &kb) == 1)
			sum.guest_anon_bytes += (__u64)kb << 10;
		else if (size && !guest && sscanf(line, "Anonymous: %llu kB", &kb) == 1)
			sum.own_bytes += (__u64)kb << 10;
	}
	if (ferror(smaps))
		return -EIO;
	*ret = sum;
	return 0;
}

int overhead_cgroup_rss(int cgroup_fd, const char *proc_dir, __u64 min_mapping_bytes,
			struct overhead_rss *ret)
{
	struct overhead_rss total = { 0 }, one;
	char path[4096];
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
		err = overhead_smaps_rss(smaps, min_mapping_bytes, &one);
		fclose(smaps);
		if (!err) {
			total.guest_bytes += one.guest_bytes;
			total.guest_anon_bytes += one.guest_anon_bytes;
			total.own_bytes += one.own_bytes;
		}
	}
	fclose(procs);
	if (!err)
		*ret = total;
	return err;
}

int overhead_cgroup_kernel(int cgroup_fd, __u64 *ret_bytes)
{
	static const char *const parts[] = { "slab",	       "kernel_stack", "pagetables",
					     "sec_pagetables", "percpu",       "sock",
					     "vmalloc" };
	__u64 sum = 0, v;
	int err = cgroupfs_read_key(cgroup_fd, "memory.stat", "kernel", ret_bytes);

	if (err != -ENOENT)
		return err;
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		err = cgroupfs_read_key(cgroup_fd, "memory.stat", parts[i], &v);
		if (err && err != -ENOENT)
			return err;
		sum += err ? 0 : v;
	}
	*ret_bytes = sum;
	return 0;
}

int overhead_cgroup_mapped_files(int cgroup_fd, __u64 guest_file_bytes, __u64 *ret_bytes)
{
	__u64 mapped = 0, shmem = 0;
	int err = cgroupfs_read_key(cgroup_fd, "memory.stat", "file_mapped", &mapped);

	if (!err || err == -ENOENT)
		err = cgroupfs_read_key(cgroup_fd, "memory.stat", "shmem", &shmem);
	if (err && err != -ENOENT)
		return err;
	shmem = shmem > guest_file_bytes ? shmem : guest_file_bytes;
	*ret_bytes = mapped > shmem ? mapped - shmem : 0;
	return 0;
}
