/* SPDX-License-Identifier: GPL-2.0-only */
/* cgroup v2: finding the mount, naming cgroups, their ids, and the few writes tests need. */
#ifndef DYNMEM_CGROUPFS_H
#define DYNMEM_CGROUPFS_H

#include <stddef.h>
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

int cgroupfs_create(const char *path);		/* 0, also when it exists */
int cgroupfs_remove(const char *path);		/* 0, also when it is gone */
int cgroupfs_move_pid(const char *path, pid_t pid);

#endif
