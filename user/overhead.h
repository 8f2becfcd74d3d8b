/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The VMM's own memory: what a VM's cgroup holds for QEMU itself (its heap, device state,
 * I/O buffers, stacks) and for the kernel on its behalf (page tables, slab, sockets).
 * Measured directly, not as memory.current less guest RAM: after a balloon inflates into
 * guest RAM backed by transparent huge pages, the freed 4K pieces stay charged to the cgroup
 * until the kernel splits those huge pages, and "memory.current less guest RAM" swung by up to
 * 250 MiB per VM in the lab. Guest RAM is the large mappings (a memory backend is at least the
 * VM's minimum); everything smaller is QEMU's. And the files QEMU maps (its binary, libraries,
 * firmware) are charged to the first QEMU that touched them: 84 MiB in the lab. Left out,
 * memory.high squeezes that one QEMU into refaulting its own code:
 *   overhead = Anonymous bytes of the smaller mappings + memory.stat "kernel"
 *              + mapped files (memory.stat "file_mapped" less guest RAM in shmem or files).
 */
#ifndef DYNMEM_OVERHEAD_H
#define DYNMEM_OVERHEAD_H

#include <stdio.h>
#include <linux/types.h>

struct overhead_rss {
	__u64 guest_bytes;	/* Rss of the mappings of at least min_mapping_bytes: guest RAM */
	__u64 guest_anon_bytes; /* the Anonymous part of it; the rest is file-backed guest RAM */
	__u64 own_bytes;	/* Anonymous of the smaller ones: the VMM's own */
};

/* The sums over the mappings of one smaps file. 0 or -EIO. */
int overhead_smaps_rss(FILE *smaps, __u64 min_mapping_bytes, struct overhead_rss *ret);

/*
 * The sums over all processes of a cgroup (its cgroup.procs), read from
 * proc_dir/PID/smaps; proc_dir is normally "/proc". 0 or -errno.
 */
int overhead_cgroup_rss(int cgroup_fd, const char *proc_dir, __u64 min_mapping_bytes,
			struct overhead_rss *ret);

/*
 * Kernel memory charged to the cgroup: memory.stat "kernel", or on kernels without that key
 * the sum of its parts (slab, kernel_stack, pagetables, sec_pagetables, percpu, sock,
 * vmalloc). 0 or -errno.
 */
int overhead_cgroup_kernel(int cgroup_fd, __u64 *ret_bytes);

/*
 * Files mapped by the cgroup's processes and charged to it, guest RAM aside: memory.stat
 * "file_mapped" less the larger of "shmem" and guest_file_bytes, since guest RAM in shared
 * memory (memory-backend-memfd) or in a file (memory-backend-file) is mapped too and is guest
 * RAM, not overhead. 0 bytes on kernels without the keys. 0 or -errno.
 */
int overhead_cgroup_mapped_files(int cgroup_fd, __u64 guest_file_bytes, __u64 *ret_bytes);

#endif
