// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include "host_cgroup.h"
#include "cgroupfs.h"

int scratch_cgroup_create(struct scratch_cgroup *cg, const char *name)
{
	char mount[4096];
	int err = cgroupfs_find_mount(CGROUPFS_MOUNTINFO, mount, sizeof(mount));

	if (err)
		return err;
	if (snprintf(cg->path, sizeof(cg->path), "%s/%s", mount, name) >= (int)sizeof(cg->path))
		return -ENAMETOOLONG;
	err = cgroupfs_create(cg->path);
	return err ?: cgroupfs_id(cg->path, &cg->id);
}

void scratch_cgroup_remove(struct scratch_cgroup *cg)
{
	if (cg->path[0])
		cgroupfs_remove(cg->path);
	cg->path[0] = '\0';
}

/* touch-pages sits next to the tests' directory: .output/tests/.. */
static void touch_pages_path(char *buf, size_t len)
{
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;

	self[n > 0 ? n : 0] = '\0';
	slash = strrchr(self, '/');
	if (slash)
		*slash = '\0';
	if (snprintf(buf, len, "%s/../touch-pages", self) >= (int)len)
		buf[0] = '\0';
}

static int expect_line(struct workload *w, const char *want)
{
	char line[64];

	if (!fgets(line, sizeof(line), w->from))
		return -EPIPE;
	return strncmp(line, want, strlen(want)) ? -EPROTO : 0;
}

int workload_start(struct workload *w, const struct scratch_cgroup *cg, unsigned long pages)
{
	int to[2], from[2];
	char exe[4096], n[32];

	touch_pages_path(exe, sizeof(exe));
	snprintf(n, sizeof(n), "%lu", pages);
	if (pipe2(to, O_CLOEXEC) || pipe2(from, O_CLOEXEC))
		return -errno;
	w->pid = fork();
	if (w->pid < 0)
		return -errno;
	if (w->pid == 0) {
		/* Into the cgroup before exec: every fault of the workload is the cgroup's. */
		if (cgroupfs_move_pid(cg->path, getpid()) || dup2(to[0], 0) < 0 ||
		    dup2(from[1], 1) < 0)
			_exit(127);
		execl(exe, "touch-pages", "--pages", n, "--sync", (char *)NULL);
		_exit(127);
	}
	close(to[0]);
	close(from[1]);
	w->to = fdopen(to[1], "w");
	w->from = fdopen(from[0], "r");
	if (!w->to || !w->from)
		return -ENOMEM;
	return expect_line(w, "ready");
}

int workload_touch(struct workload *w)
{
	if (fputs("go\n", w->to) < 0 || fflush(w->to))
		return -EPIPE;
	return expect_line(w, "done");
}

void workload_stop(struct workload *w)
{
	if (w->pid > 0) {
		kill(w->pid, SIGKILL);
		waitpid(w->pid, NULL, 0);
	}
	if (w->to)
		fclose(w->to);
	if (w->from)
		fclose(w->from);
	*w = (struct workload){ 0 };
}
