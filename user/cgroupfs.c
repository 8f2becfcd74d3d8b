// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/time.h>
#include "cgroupfs.h"

/* mountinfo escapes blanks and backslashes as \ooo. */
static void unescape_octal(char *s)
{
	char *out = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*out++ = (char)((s[1] - '0') << 6 | (s[2] - '0') << 3 | (s[3] - '0'));
			s += 3;
		} else {
			*out++ = *s;
		}
	}
	*out = '\0';
}

/* Parses one mountinfo line into its mount point and filesystem type. */
static bool parse_mountinfo_line(char *line, char **ret_point, char **ret_fstype)
{
	char *save = NULL, *point = NULL, *tok;
	int field = 0;

	for (tok = strtok_r(line, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save), field++) {
		if (field == 4)
			point = tok;
		if (!strcmp(tok, "-") && field >= 6) {
			tok = strtok_r(NULL, " \n", &save);
			if (!point || !tok)
				return false;
			unescape_octal(point);
			*ret_point = point;
			*ret_fstype = tok;
			return true;
		}
	}
	return false;
}

static bool path_under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	if (n == 1 && dir[0] == '/')
		return true;
	return !strncmp(path, dir, n) && (path[n] == '/' || path[n] == '\0');
}

/*
 * The cgroup2 mount point, and whether `path` (may be NULL) falls in a cgroup v1 mount:
 * the longest mount point that contains it decides.
 */
static int scan_mounts(const char *mountinfo, const char *path, char *ret_mount, size_t len,
		       bool *ret_in_v1)
{
	char *line = NULL, *point, *fstype;
	size_t cap = 0, best = 0;
	bool found = false, in_v1 = false;
	FILE *f = fopen(mountinfo, "re");
	int err = 0;

	if (!f)
		return -errno;
	while (getline(&line, &cap, f) > 0) {
		if (!parse_mountinfo_line(line, &point, &fstype))
			continue;
		if (!strcmp(fstype, "cgroup2") && !found) {
			if (strlen(point) >= len) {
				err = -ENAMETOOLONG;
				break;
			}
			strcpy(ret_mount, point);
			found = true;
		}
		if (path && path_under(path, point) && strlen(point) >= best) {
			best = strlen(point);
			in_v1 = !strcmp(fstype, "cgroup");
		}
	}
	free(line);
	fclose(f);
	if (!err && !found)
		err = -ENODEV;
	if (!err && ret_in_v1)
		*ret_in_v1 = in_v1;
	return err;
}

int cgroupfs_find_mount(const char *mountinfo, char *ret_path, size_t len)
{
	return scan_mounts(mountinfo, NULL, ret_path, len, NULL);
}

int cgroupfs_resolve(const char *mountinfo, const char *name, char *ret_path, size_t len)
{
	char mount[4096], path[4096];
	bool in_v1 = false;
	struct stat st;
	int err, n;

	err = scan_mounts(mountinfo, name[0] == '/' ? name : NULL, mount, sizeof(mount), &in_v1);
	if (in_v1)
		return -EMEDIUMTYPE;
	if (err)
		return err;
	if (name[0] == '/' && path_under(name, mount))
		n = snprintf(path, sizeof(path), "%s", name);
	else
		n = snprintf(path, sizeof(path), "%s/%s", mount, name + (name[0] == '/'));
	if (n < 0 || (size_t)n >= sizeof(path) || (size_t)n >= len)
		return -ENAMETOOLONG;
	while (n > 1 && path[n - 1] == '/')
		path[--n] = '\0';
	if (stat(path, &st))
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	strcpy(ret_path, path);
	return 0;
}

int cgroupfs_id(const char *path, __u64 *ret_id)
{
	/* A cgroup2 file handle is its 64-bit id (what systemd and bpftool read too). */
	struct {
		struct file_handle fh;
		__u64 id;
	} h = { .fh.handle_bytes = sizeof(__u64) };
	int mount_id;

	if (name_to_handle_at(AT_FDCWD, path, &h.fh, &mount_id, 0))
		return -errno;
	if (h.fh.handle_bytes != sizeof(__u64))
		return -EINVAL;
	*ret_id = h.id;
	return 0;
}

int cgroupfs_create(const char *path)
{
	if (mkdir(path, 0755) && errno != EEXIST)
		return -errno;
	return 0;
}

int cgroupfs_remove(const char *path)
{
	if (rmdir(path) && errno != ENOENT)
		return -errno;
	return 0;
}

int cgroupfs_move_pid(const char *path, pid_t pid)
{
	char file[4096], buf[32];
	int fd, n, err = 0;

	snprintf(file, sizeof(file), "%s/cgroup.procs", path);
	fd = open(file, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = snprintf(buf, sizeof(buf), "%d\n", (int)pid);
	if (write(fd, buf, (size_t)n) != n)
		err = -errno;
	close(fd);
	return err;
}

int cgroupfs_read(int dirfd, const char *file, char *buf, size_t len)
{
	int fd = openat(dirfd, file, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	if (n < 0)
		n = -errno;
	close(fd);
	if (n < 0)
		return (int)n;
	buf[n] = '\0';
	if (n && buf[n - 1] == '\n')
		buf[--n] = '\0';
	return (int)n;
}

static int parse_u64(const char *s, __u64 *ret)
{
	char *end;
	unsigned long long v;

	if (!strcmp(s, "max")) {
		*ret = CGROUPFS_MAX;
		return 0;
	}
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || (*end && *end != '\n' && *end != ' '))
		return -EINVAL;
	*ret = v;
	return 0;
}

int cgroupfs_read_u64(int dirfd, const char *file, __u64 *ret)
{
	char buf[64];
	int n = cgroupfs_read(dirfd, file, buf, sizeof(buf));

	return n < 0 ? n : parse_u64(buf, ret);
}

int cgroupfs_read_key(int dirfd, const char *file, const char *key, __u64 *ret)
{
	char buf[8192], *line, *save = NULL;
	size_t klen = strlen(key);
	int n = cgroupfs_read(dirfd, file, buf, sizeof(buf));

	if (n < 0)
		return n;
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		if (!strncmp(line, key, klen) && line[klen] == ' ')
			return parse_u64(line + klen + 1, ret);
	return -ENOENT;
}

static void on_alarm(int sig)
{
	(void)sig; /* only there to interrupt the kernel's reclaim loop */
}

int cgroupfs_write(int dirfd, const char *file, const char *value, unsigned int timeout_ms)
{
	struct sigaction sa = { .sa_handler = on_alarm }, old;
	struct itimerval bound = { .it_value = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 } };
	struct itimerval off = { 0 };
	size_t len = strlen(value);
	ssize_t n;
	/* O_TRUNC as a shell's ">" would: cgroupfs ignores it, a test's plain file needs it. */
	int fd = openat(dirfd, file, O_WRONLY | O_TRUNC | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (timeout_ms) {
		sigaction(SIGALRM, &sa, &old); /* no SA_RESTART: the write must return */
		setitimer(ITIMER_REAL, &bound, NULL);
	}
	n = write(fd, value, len);
	if (n < 0)
		n = -errno;
	if (timeout_ms) {
		setitimer(ITIMER_REAL, &off, NULL);
		sigaction(SIGALRM, &old, NULL);
	}
	close(fd);
	if (n == -EINTR)
		return 0; /* cut short in reclaim: the value is in place */
	if (n < 0)
		return (int)n;
	return (size_t)n == len ? 0 : -EIO;
}

int cgroupfs_write_u64(int dirfd, const char *file, __u64 value, unsigned int timeout_ms)
{
	char buf[32];

	if (value == CGROUPFS_MAX)
		snprintf(buf, sizeof(buf), "max");
	else
		snprintf(buf, sizeof(buf), "%llu", (unsigned long long)value);
	return cgroupfs_write(dirfd, file, buf, timeout_ms);
}
