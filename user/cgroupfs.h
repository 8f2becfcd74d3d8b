/* SPDX-License-Identifier: GPL-2.0-only */
/* cgroup v2: finding the mount, naming cgroups, their ids, and the few writes tests need. */
#ifndef DYNMEM_CGROUPFS_H
#define DYNMEM_CGROUPFS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <linux/types.h>

#define CGROUPFS_MOUNTINFO "/proc/self/mountinfo"

/* The cgroup2 mount point; -ENODEV when cgroup v2 is not mounted. */
int cgroupfs_find_mount(const char *mountinfo, char *ret_path, size_t len);

/*
 * An operator's name for a cgroup → its absolute path under the cgroup2 mount:
 *   "/sys/fs/cgroup/unified/a/b"  a path under the cgroup2 mount, as is;
 *   "a/b" or "/a/b"               relative to the mount (the form /proc/PID/cgroup shows);
 * Errors: -EMEDIUMTYPE the path lies in a cgroup v1 hierarchy; -ENODEV no cgroup2 mount;
 * -ENOENT no such cgroup; -ENOTDIR not a directory; -ENAMETOOLONG.
 */
int cgroupfs_resolve(const char *mountinfo, const char *name, char *ret_path, size_t len);

/* The cgroup's 64-bit id, the one bpf_get_current_cgroup_id() returns. */
int cgroupfs_id(const char *path, __u64 *ret_id);

int cgroupfs_create(const char *path); /* 0, also when it exists */
int cgroupfs_remove(const char *path); /* 0, also when it is gone */
int cgroupfs_move_pid(const char *path, pid_t pid);

/*
 * I/O on one cgroup's files, relative to a directory fd of the cgroup: a cgroup removed
 * under us fails with -ENOENT/-ENODEV on its fd instead of touching a new one of the same
 * name. Tests point these at a temp dir shaped like cgroupfs.
 */
#define CGROUPFS_MAX UINT64_MAX /* "max" in memory.high / memory.max */

/* The file's text, NUL-terminated, trailing newline dropped; bytes read or -errno. */
int cgroupfs_read(int dirfd, const char *file, char *buf, size_t len);
/* A number or "max" (CGROUPFS_MAX). */
int cgroupfs_read_u64(int dirfd, const char *file, __u64 *ret);
/* One "key value" line of a flat-keyed file such as memory.stat; -ENOENT if absent. */
int cgroupfs_read_key(int dirfd, const char *file, const char *key, __u64 *ret);
/*
 * Writes a number (CGROUPFS_MAX as "max"). Lowering memory.high or memory.max makes the
 * writer reclaim; the kernel stops that early on a pending signal, after the new limit is
 * already in place. So the write is cut short by SIGALRM after timeout_ms (0: no bound),
 * and the limit still holds. The caller must not block SIGALRM.
 */
int cgroupfs_write_u64(int dirfd, const char *file, __u64 value, unsigned int timeout_ms);
int cgroupfs_write(int dirfd, const char *file, const char *value, unsigned int timeout_ms);

#endif
