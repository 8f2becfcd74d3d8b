/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The ABI between bpf/observer.bpf.c and user/observer.c: data only, fixed-width types.
 * Both sides include this file; anything that changes here changes both.
 */
#ifndef DYNMEM_OBSERVER_H
#define DYNMEM_OBSERVER_H

/* Slot 0 collects everything that is not a watched VM: "host". */
#define DM_SLOT_HOST	  0
#define DM_MAX_SLOTS	  1024
#define DM_MAX_NODE_RANGES 256

/*
 * One counter per index. The order is the ABI; user/counters.c holds the names.
 * All counts are events except alloc_* (pages, order included) and unmapped_bytes.
 */
enum dm_counter {
	DM_HOST_FAULTS,	    /* exceptions:page_fault_user by the VM's host tasks */
	DM_EPT_FAULTS,	    /* kvm:kvm_page_fault */
	DM_EPT_WRITES,	    /* ... of which write faults */
	DM_MAP_4K,	    /* kvmmmu:kvm_mmu_set_spte, level 1 */
	DM_MAP_2M,	    /* ... level 2 */
	DM_MAP_1G,	    /* ... level 3 */
	DM_MAP_REMOTE,	    /* ... backing page on another node than the faulting vCPU */
	DM_ALLOC_LOCAL,	    /* kmem:mm_page_alloc on the current CPU's node, in pages */
	DM_ALLOC_REMOTE,    /* ... on another node, in pages */
	DM_HUGE_SPLITS,	    /* kvmmmu:kvm_mmu_split_huge_page */
	DM_UNMAPS,	    /* kvm:kvm_unmap_hva_range */
	DM_UNMAPPED_BYTES,  /* ... bytes covered */
	DM_AGE_SCANS,	    /* kvm:kvm_age_hva */
	DM_ASYNC_PF,	    /* kvm:kvm_try_async_get_page: host swap-ins of guest memory */
	DM_RECLAIMS,	    /* vmscan:mm_vmscan_memcg_reclaim_begin */
	DM_NR_COUNTERS,
};

struct dm_counters {
	__u64 c[DM_NR_COUNTERS];
};

/* Burst detection state, per CPU and slot (see burst_note() in observer.bpf.c). */
enum dm_burst_kind {
	DM_BURST_EPT,
	DM_BURST_HOST_FAULT,
	DM_BURST_SPLIT,
	DM_BURST_UNMAP,
	DM_NR_BURSTS,
};

struct dm_burst_window {
	__u64 start_ns[DM_NR_BURSTS]; /* when the current run of `threshold` events began */
	__u64 last_ns[DM_NR_BURSTS];  /* when the last burst was reported */
	__u32 count[DM_NR_BURSTS];
};

/* Ring buffer records. Every record starts with `type`. */
enum dm_event_type {
	DM_EV_BURST = 1,
};

struct dm_event_burst {
	__u32 type;	 /* DM_EV_BURST */
	__u32 kind;	 /* enum dm_burst_kind */
	__u32 slot;
	__u32 cpu;
	__u64 cgroup_id;
	__u64 events;	 /* events seen ... */
	__u64 window_ns; /* ... within this time, on one CPU */
	__u64 ts_ns;	 /* bpf_ktime_get_ns() when detected */
};

/* A contiguous range of page frames that belongs to one NUMA node; sorted by start. */
struct dm_node_range {
	__u64 start_pfn;
	__u64 end_pfn; /* exclusive */
	__u32 node;
	__u32 pad;
};

#endif /* DYNMEM_OBSERVER_H */
