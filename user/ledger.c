// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "cgroupfs.h"
#include "ledger.h"
#include "vm.h"

static char last[65536]; /* what was written last: unchanged ledgers are not rewritten */

static void path_of(char *buf, size_t len, const char *state_dir)
{
	snprintf(buf, len, "%s/limits", state_dir);
}

/* "PATH high min numa": the flags say which files to relax. */
static size_t render(struct vm *vms, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (struct vm *vm = vms; vm; vm = vm->next) {
		int n;

		if (vm->cgroup_fd < 0 ||
		    !(vm->cg_high_written || vm->cg_min_written || vm->numa_node_written >= 0))
			continue;
		n = snprintf(buf + used, len - used, "%s %d %d %d\n", vm->cgroup_path,
			     vm->cg_high_written != 0, vm->cg_min_written != 0,
			     vm->numa_node_written >= 0);
		if (n < 0 || (size_t)n >= len - used)
			break;
		used += (size_t)n;
	}
	return used;
}

int ledger_update(const char *state_dir, struct vm *vms)
{
	char now[sizeof(last)], path[4096], tmp[4200];
	size_t len = render(vms, now, sizeof(now));
	int fd, err = 0;

	if (!strcmp(now, last))
		return 0;
	if (!len) {
		ledger_clear(state_dir);
		return 0;
	}
	mkdir(state_dir, 0755);
	path_of(path, sizeof(path), state_dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if (write(fd, now, len) != (ssize_t)len || fsync(fd))
		err = -errno ?: -EIO;
	close(fd);
	if (!err && rename(tmp, path))
		err = -errno;
	if (err)
		unlink(tmp);
	else
		strcpy(last, now);
	return err;
}

void ledger_clear(const char *state_dir)
{
	char path[4096];

	path_of(path, sizeof(path), state_dir);
	unlink(path);
	last[0] = '\0';
}

static int relax_one(const char *cgroup, int high, int min, int numa)
{
	int fd = open(cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC), err = 0;

	if (fd < 0)
		return errno == ENOENT ? 0 : -errno; /* the VM is gone, and its limits with it */
	if (high)
		err = cgroupfs_write_u64(fd, "memory.high", CGROUPFS_MAX, 0);
	if (min && !err)
		err = cgroupfs_write_u64(fd, "memory.min", 0, 0);
	if (numa && !err)
		err = cgroupfs_write(fd, "cpuset.cpus", "", 0) ?: cgroupfs_write(fd, "cpuset.mems", "", 0);
	close(fd);
	return err;
}

int ledger_relax(const char *state_dir, FILE *errors)
{
	char path[4096], line[4200], cgroup[4096];
	int high, min, numa, failed = 0;
	FILE *f;

	path_of(path, sizeof(path), state_dir);
	f = fopen(path, "re");
	if (!f)
		return errno == ENOENT ? 0 : -errno; /* nothing held */
	while (fgets(line, sizeof(line), f)) {
		int err;

		if (sscanf(line, "%4095s %d %d %d", cgroup, &high, &min, &numa) != 4)
			continue;
		err = relax_one(cgroup, high, min, numa);
		if (err) {
			fprintf(errors, "dynmemd: cannot relax %s: %s\n", cgroup, strerror(-err));
			failed = err;
		}
	}
	fclose(f);
	if (!failed)
		unlink(path);
	return failed;
}
