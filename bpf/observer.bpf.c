// SPDX-License-Identifier: GPL-2.0-only
/*
 * dynmem's observer: what every VM does to host memory, counted per VM in per-CPU arrays.
 *
 * A VM is a cgroup v2; userspace maps its id to a slot in vm_slots. Everything else counts
 * into slot 0, "host". Each hook exists twice: a raw tracepoint (cheapest, prototype
 * arguments) and a classic tracepoint (format fields through CO-RE) as the fallback.
 * mm_page_alloc's raw arguments carry a struct page *, and turning that into a pfn needs
 * the vmemmap base, which is not portable: the raw variant serves single-node hosts, where
 * every page is local, and the classic one, which has the pfn, serves NUMA hosts.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "observer.h"

char LICENSE[] SEC("license") = "GPL";

#define PFERR_WRITE_MASK (1ULL << 1)
#define SPTE_PFN_MASK	 0x000ffffffffff000ULL
#define NO_PFN		 (~0UL)

/* Set by userspace between open and load. */
const volatile bool multi_node = false;
const volatile __u32 nr_node_ranges = 0;
const volatile struct dm_node_range node_ranges[DM_MAX_NODE_RANGES] = {};
const volatile __u32 burst_threshold[DM_NR_BURSTS] = { 2048, 2048, 64, 64 };
const volatile __u64 burst_window_ns[DM_NR_BURSTS] = { 100000000, 100000000, 1000000000,
						       1000000000 };

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, DM_MAX_SLOTS);
	__type(key, __u64);   /* cgroup v2 id */
	__type(value, __u32); /* slot */
} vm_slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, DM_MAX_SLOTS);
	__type(key, __u32);
	__type(value, struct dm_counters);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, DM_MAX_SLOTS);
	__type(key, __u32);
	__type(value, struct dm_burst_window);
} burst_windows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} lost_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

/*
 * Userspace bumps this after every change to vm_slots: a per-CPU cache entry made under
 * another generation is not trusted.
 */
volatile __u64 slots_generation = 1;

/* Per CPU, the last cgroup seen and its slot: a fault storm hashes its cgroup id once. */
struct slot_cache {
	__u64 cgroup_id;
	__u64 generation;
	__u32 slot;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct slot_cache);
} slot_cache SEC(".maps");

static __always_inline __u32 current_slot(__u64 *ret_cgroup_id)
{
	__u64 id = bpf_get_current_cgroup_id(), generation = slots_generation;
	__u32 zero = 0, *slot, found;
	struct slot_cache *cache = bpf_map_lookup_elem(&slot_cache, &zero);

	*ret_cgroup_id = id;
	if (cache && cache->cgroup_id == id && cache->generation == generation)
		return cache->slot;
	slot = bpf_map_lookup_elem(&vm_slots, &id);
	found = slot ? *slot : DM_SLOT_HOST;
	if (cache) {
		cache->cgroup_id = id;
		cache->generation = generation;
		cache->slot = found;
	}
	return found;
}

static __always_inline struct dm_counters *slot_counters(__u32 slot)
{
	return bpf_map_lookup_elem(&counters, &slot);
}

/* The node that holds a page frame, or -1 when the table doesn't cover it. */
static __always_inline int pfn_to_node(__u64 pfn)
{
	__u32 lo = 0, hi = nr_node_ranges;

	/* 2^9 > DM_MAX_NODE_RANGES: the search ends within the bound. */
	for (int i = 0; i < 9 && lo < hi; i++) {
		__u32 mid = (lo + hi) / 2;

		if (mid >= DM_MAX_NODE_RANGES)
			break;
		if (pfn < node_ranges[mid].start_pfn)
			hi = mid;
		else if (pfn >= node_ranges[mid].end_pfn)
			lo = mid + 1;
		else
			return node_ranges[mid].node;
	}
	return -1;
}

static __always_inline bool pfn_is_remote(__u64 pfn)
{
	int node;

	if (!multi_node)
		return false;
	node = pfn_to_node(pfn);
	return node >= 0 && node != (int)bpf_get_numa_node_id();
}

static __always_inline void lost_event(void)
{
	__u32 zero = 0;
	__u64 *lost = bpf_map_lookup_elem(&lost_events, &zero);

	if (lost)
		*lost += 1;
}

/*
 * Burst detection costs one clock read every `threshold` events: when a CPU has counted
 * `threshold` events of a kind for a slot, it checks how long they took. Faster than the
 * window is a burst, reported at most once per window. Demand bursts wake the consumer at
 * once; the rest wait for its next tick.
 */
static __always_inline void burst_note(__u32 slot, __u64 cgroup_id, enum dm_burst_kind kind)
{
	struct dm_burst_window *w = bpf_map_lookup_elem(&burst_windows, &slot);
	struct dm_event_burst *ev;
	__u64 now, took, last;

	if (!w || !burst_threshold[kind] || ++w->count[kind] < burst_threshold[kind])
		return;
	now = bpf_ktime_get_ns();
	took = now - w->start_ns[kind];
	last = w->last_ns[kind];
	w->count[kind] = 0;
	w->start_ns[kind] = now;
	if (took > burst_window_ns[kind] || now - last < burst_window_ns[kind])
		return;
	w->last_ns[kind] = now;

	ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (!ev) {
		lost_event();
		return;
	}
	ev->type = DM_EV_BURST;
	ev->kind = kind;
	ev->slot = slot;
	ev->cpu = bpf_get_smp_processor_id();
	ev->cgroup_id = cgroup_id;
	ev->events = burst_threshold[kind];
	ev->window_ns = took;
	ev->ts_ns = now;
	bpf_ringbuf_submit(ev, kind == DM_BURST_EPT || kind == DM_BURST_HOST_FAULT
				       ? BPF_RB_FORCE_WAKEUP
				       : BPF_RB_NO_WAKEUP);
}

/* ---- the handlers, shared by the raw and the classic variant of each hook ---- */

#define NO_BURST (-1)

/* Adds n to the current VM's counter; returns its counters for the fields that follow. */
static __always_inline struct dm_counters *count_event(enum dm_counter counter, __u64 n, int burst)
{
	__u64 id;
	__u32 slot = current_slot(&id);
	struct dm_counters *c = slot_counters(slot);

	if (!c)
		return NULL;
	c->c[counter] += n;
	if (burst != NO_BURST)
		burst_note(slot, id, burst);
	return c;
}

static __always_inline void on_ept_fault(__u64 error_code)
{
	struct dm_counters *c = count_event(DM_EPT_FAULTS, 1, DM_BURST_EPT);

	if (c && (error_code & PFERR_WRITE_MASK))
		c->c[DM_EPT_WRITES]++;
}

static __always_inline void on_set_spte(int level, __u64 spte)
{
	enum dm_counter counter = level == 3 ? DM_MAP_1G : level == 2 ? DM_MAP_2M : DM_MAP_4K;
	struct dm_counters *c = count_event(counter, 1, NO_BURST);

	if (c && pfn_is_remote((spte & SPTE_PFN_MASK) >> 12))
		c->c[DM_MAP_REMOTE]++;
}

static __always_inline void on_page_alloc(__u64 pfn, __u32 order)
{
	if (pfn != NO_PFN)
		count_event(pfn_is_remote(pfn) ? DM_ALLOC_REMOTE : DM_ALLOC_LOCAL,
			    1ULL << (order & 31), NO_BURST);
}

static __always_inline void on_unmap(__u64 start, __u64 end)
{
	struct dm_counters *c = count_event(DM_UNMAPS, 1, DM_BURST_UNMAP);

	if (c && end > start)
		c->c[DM_UNMAPPED_BYTES] += end - start;
}

/* ---- raw tracepoints: ctx->args[] are the TP_PROTO arguments ---- */

SEC("raw_tp/page_fault_user")
int raw_page_fault_user(struct bpf_raw_tracepoint_args *ctx)
{
	count_event(DM_HOST_FAULTS, 1, DM_BURST_HOST_FAULT);
	return 0;
}

SEC("raw_tp/kvm_page_fault")
int raw_kvm_page_fault(struct bpf_raw_tracepoint_args *ctx)
{
	on_ept_fault(ctx->args[2]);
	return 0;
}

SEC("raw_tp/kvm_mmu_set_spte")
int raw_kvm_mmu_set_spte(struct bpf_raw_tracepoint_args *ctx)
{
	__u64 spte = 0;

	bpf_probe_read_kernel(&spte, sizeof(spte), (void *)ctx->args[2]);
	on_set_spte((int)ctx->args[0], spte);
	return 0;
}

SEC("raw_tp/kvm_mmu_split_huge_page")
int raw_kvm_mmu_split_huge_page(struct bpf_raw_tracepoint_args *ctx)
{
	count_event(DM_HUGE_SPLITS, 1, DM_BURST_SPLIT);
	return 0;
}

SEC("raw_tp/kvm_unmap_hva_range")
int raw_kvm_unmap_hva_range(struct bpf_raw_tracepoint_args *ctx)
{
	on_unmap(ctx->args[0], ctx->args[1]);
	return 0;
}

SEC("raw_tp/kvm_age_hva")
int raw_kvm_age_hva(struct bpf_raw_tracepoint_args *ctx)
{
	count_event(DM_AGE_SCANS, 1, NO_BURST);
	return 0;
}

SEC("raw_tp/kvm_try_async_get_page")
int raw_kvm_try_async_get_page(struct bpf_raw_tracepoint_args *ctx)
{
	count_event(DM_ASYNC_PF, 1, NO_BURST);
	return 0;
}

SEC("raw_tp/mm_page_alloc")
int raw_mm_page_alloc(struct bpf_raw_tracepoint_args *ctx)
{
	/* Attached on single-node hosts only (hooks.c): a page allocated there is local. */
	if (ctx->args[0])
		count_event(DM_ALLOC_LOCAL, 1ULL << (ctx->args[1] & 31), NO_BURST);
	return 0;
}

SEC("raw_tp/mm_vmscan_memcg_reclaim_begin")
int raw_mm_vmscan_memcg_reclaim_begin(struct bpf_raw_tracepoint_args *ctx)
{
	count_event(DM_RECLAIMS, 1, NO_BURST);
	return 0;
}

/* ---- classic tracepoints: format fields, relocated by CO-RE ---- */

SEC("tp/exceptions/page_fault_user")
int tp_page_fault_user(void *ctx)
{
	count_event(DM_HOST_FAULTS, 1, DM_BURST_HOST_FAULT);
	return 0;
}

SEC("tp/kvm/kvm_page_fault")
int tp_kvm_page_fault(struct trace_event_raw_kvm_page_fault *ctx)
{
	on_ept_fault(ctx->error_code);
	return 0;
}

SEC("tp/kvmmmu/kvm_mmu_set_spte")
int tp_kvm_mmu_set_spte(struct trace_event_raw_kvm_mmu_set_spte *ctx)
{
	on_set_spte(ctx->level, ctx->spte);
	return 0;
}

SEC("tp/kvmmmu/kvm_mmu_split_huge_page")
int tp_kvm_mmu_split_huge_page(void *ctx)
{
	count_event(DM_HUGE_SPLITS, 1, DM_BURST_SPLIT);
	return 0;
}

SEC("tp/kvm/kvm_unmap_hva_range")
int tp_kvm_unmap_hva_range(struct trace_event_raw_kvm_unmap_hva_range *ctx)
{
	on_unmap(ctx->start, ctx->end);
	return 0;
}

SEC("tp/kvm/kvm_age_hva")
int tp_kvm_age_hva(void *ctx)
{
	count_event(DM_AGE_SCANS, 1, NO_BURST);
	return 0;
}

SEC("tp/kvm/kvm_try_async_get_page")
int tp_kvm_try_async_get_page(void *ctx)
{
	count_event(DM_ASYNC_PF, 1, NO_BURST);
	return 0;
}

SEC("tp/vmscan/mm_vmscan_memcg_reclaim_begin")
int tp_mm_vmscan_memcg_reclaim_begin(void *ctx)
{
	count_event(DM_RECLAIMS, 1, NO_BURST);
	return 0;
}

SEC("tp/kmem/mm_page_alloc")
int tp_mm_page_alloc(struct trace_event_raw_mm_page_alloc *ctx)
{
	on_page_alloc(ctx->pfn, ctx->order);
	return 0;
}
