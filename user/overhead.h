/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The VMM's own memory: what a VM's cgroup holds beyond guest RAM (QEMU's heap, device
 * state, page tables, I/O buffers). Measured, not guessed: guest RAM is the large mappings
 * of the VMM's processes (a memory backend is at least the VM's minimum), so
 *   overhead = memory.current - resident bytes of those mappings.
 */
#ifndef DYNMEM_OVERHEAD_H
#define DYNMEM_OVERHEAD_H

#include <stdio.h>
#include <linux/types.h>

/* Rss summed over the mappings in an smaps file whose size is at least min_mapping_bytes. */
int overhead_smaps_guest_rss(FILE *smaps, __u64 min_mapping_bytes, __u64 *ret_rss_bytes);

/*
 * Guest RAM resident in all processes of a cgroup (its cgroup.procs), read from
 * proc_dir/PID/smaps; proc_dir is normally "/proc". 0 or -errno.
 */
int overhead_cgroup_guest_rss(int cgroup_fd, const char *proc_dir, __u64 min_mapping_bytes,
			      __u64 *ret_rss_bytes);

#endif
