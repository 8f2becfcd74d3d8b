// SPDX-License-Identifier: GPL-2.0-only
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "observer.h" /* before the skeleton: it names the ABI's types */
#include "observer.skel.h"
#include "counters.h"
#include "numa_table.h"
#include "tracefs.h"

struct observer {
	struct observer_bpf *skel;
	struct ring_buffer *rb;
	struct hook_status *status; /* one per hooks[] entry */
	struct bpf_link **links;
	bool slot_used[DM_MAX_SLOTS];
	int ncpus;
	void *percpu; /* a lookup buffer: ncpus values of the largest per-CPU map */
	unsigned int nr_nodes;
	bool remote_counting;
	observer_event_fn fn;
	void *fn_ctx;
	__u64 bad_records;
};

static struct bpf_program *hook_prog(struct observer *o, const char *prefix, const char *name)
{
	char prog[128];

	snprintf(prog, sizeof(prog), "%s%s", prefix, name);
	return bpf_object__find_program_by_name(o->skel->obj, prog);
}

static bool hook_is_off(const struct observer_opts *opts, const char *name)
{
	for (const char *const *off = opts->off; off && *off; off++)
		if (!strcmp(*off, name))
			return true;
	return false;
}

/* Decides, before load, which programs load: none for a hook that is off or missing. */
static int plan_hooks(struct observer *o, const struct observer_opts *opts)
{
	struct btf **btfs = kernel_btfs_load(opts->btf_dir ?: "/sys/kernel/btf");

	if (!btfs)
		return -errno;
	for (size_t i = 0; i < nr_hooks; i++) {
		const struct hook *h = &hooks[i];
		struct bpf_program *raw = hook_prog(o, "raw_", h->name);
		struct bpf_program *tp = hook_prog(o, "tp_", h->name);

		o->status[i].hook = h;
		if (hook_is_off(opts, h->name))
			o->status[i].state = HOOK_OFF;
		else if (!hook_in_kernel(btfs, h->name))
			o->status[i].state = HOOK_MISSING;
		else
			o->status[i].state = HOOK_FAILED; /* until attach_hook() says otherwise */
		if (o->status[i].state == HOOK_FAILED)
			continue; /* both variants load; attach_hook() picks one */
		if (raw)
			bpf_program__set_autoload(raw, false);
		if (tp)
			bpf_program__set_autoload(tp, false);
	}
	kernel_btfs_free(btfs);
	return 0;
}

static void attach_hook(struct observer *o, size_t i)
{
	const struct hook *h = &hooks[i];
	bool raw = h->has_raw && !(h->raw_is_node_blind && o->remote_counting);
	struct bpf_program *prog = raw ? hook_prog(o, "raw_", h->name) : NULL;
	struct bpf_link *link = NULL;
	int err = -ENOENT;

	if (prog) {
		link = bpf_program__attach_raw_tracepoint(prog, h->name);
		err = link ? 0 : -errno;
		o->status[i].state = HOOK_RAW;
	}
	if (!link) {
		prog = hook_prog(o, "tp_", h->name);
		err = tracefs_ensure();
		if (!err && prog) {
			link = bpf_program__attach_tracepoint(prog, h->system, h->name);
			err = link ? 0 : -errno;
		}
		o->status[i].state = HOOK_TP;
	}
	if (!link) {
		o->status[i].state = HOOK_FAILED;
		o->status[i].err = err;
	}
	o->links[i] = link;
}

static void set_rodata(struct observer *o, const struct observer_opts *opts,
		       const struct numa_table *nodes)
{
	struct observer_bpf__rodata *ro = o->skel->rodata;

	o->nr_nodes = nodes->nr_nodes;
	o->remote_counting = nodes->nr_nodes > 1 && nodes->nr_ranges > 0;
	ro->multi_node = o->remote_counting;
	ro->nr_node_ranges = (__u32)nodes->nr_ranges;
	memcpy((void *)ro->node_ranges, nodes->ranges, sizeof(ro->node_ranges));
	for (int k = 0; k < DM_NR_BURSTS; k++) {
		if (opts->burst_threshold[k])
			ro->burst_threshold[k] = opts->burst_threshold[k];
		if (opts->burst_window_ns[k])
			ro->burst_window_ns[k] = opts->burst_window_ns[k];
	}
}

static int handle_record(void *ctx, void *data, size_t size)
{
	struct observer *o = ctx;
	const struct dm_event_burst *ev = data;

	if (size < sizeof(*ev) || ev->type != DM_EV_BURST) {
		o->bad_records++;
		return 0;
	}
	return o->fn ? o->fn(o->fn_ctx, ev) : 0;
}

static int observer_setup(struct observer *o, const struct observer_opts *opts)
{
	struct numa_table *nodes = calloc(1, sizeof(*nodes));
	size_t stride = counters_percpu_stride();
	int err;

	if (!nodes)
		return -ENOMEM;
	err = numa_table_load(opts->sysfs_system ?: "/sys/devices/system",
			      (unsigned long)sysconf(_SC_PAGESIZE), nodes);
	if (err)
		goto out;
	o->ncpus = libbpf_num_possible_cpus();
	o->status = calloc(nr_hooks, sizeof(*o->status));
	o->links = calloc(nr_hooks, sizeof(*o->links));
	if (sizeof(struct dm_burst_window) > stride)
		stride = sizeof(struct dm_burst_window);
	o->percpu = o->ncpus > 0 ? calloc((size_t)o->ncpus, stride) : NULL;
	o->skel = observer_bpf__open();
	if (!o->status || !o->links || !o->percpu || !o->skel) {
		err = o->ncpus < 0 ? o->ncpus : -ENOMEM;
		goto out;
	}
	set_rodata(o, opts, nodes);
	err = plan_hooks(o, opts);
	if (err)
		goto out;
	err = observer_bpf__load(o->skel);
	if (err)
		goto out;
	for (size_t i = 0; i < nr_hooks; i++)
		if (o->status[i].state == HOOK_FAILED)
			attach_hook(o, i);
	o->rb = ring_buffer__new(bpf_map__fd(o->skel->maps.events), handle_record, o, NULL);
	if (!o->rb) {
		err = -errno;
		goto out;
	}
	o->slot_used[DM_SLOT_HOST] = true;
out:
	free(nodes);
	return err;
}

struct observer *observer_open(const struct observer_opts *opts)
{
	static const struct observer_opts defaults;
	struct observer *o = calloc(1, sizeof(*o));
	int err;

	if (!o)
		return NULL;
	err = observer_setup(o, opts ?: &defaults);
	if (err) {
		observer_close(o);
		errno = -err;
		return NULL;
	}
	return o;
}

void observer_close(struct observer *o)
{
	if (!o)
		return;
	ring_buffer__free(o->rb);
	for (size_t i = 0; o->links && i < nr_hooks; i++)
		bpf_link__destroy(o->links[i]);
	observer_bpf__destroy(o->skel);
	free(o->links);
	free(o->status);
	free(o->percpu);
	free(o);
}

/* A reused slot must not inherit the counts and burst state of the VM that had it. */
static int zero_slot(struct observer *o, __u32 slot)
{
	memset(o->percpu, 0, (size_t)o->ncpus * sizeof(struct dm_burst_window));
	if (bpf_map_update_elem(bpf_map__fd(o->skel->maps.counters), &slot, o->percpu, BPF_ANY) ||
	    bpf_map_update_elem(bpf_map__fd(o->skel->maps.burst_windows), &slot, o->percpu,
				BPF_ANY))
		return -errno;
	return 0;
}

/* Invalidates the per-CPU slot caches of the BPF side (see current_slot()). */
static void slots_changed(struct observer *o)
{
	__atomic_add_fetch(&o->skel->data->slots_generation, 1, __ATOMIC_SEQ_CST);
}

int observer_add_vm(struct observer *o, __u64 cgroup_id, __u32 *ret_slot)
{
	int slots_fd = bpf_map__fd(o->skel->maps.vm_slots);
	__u32 slot;
	int err;

	if (!bpf_map_lookup_elem(slots_fd, &cgroup_id, &slot)) {
		*ret_slot = slot;
		return 0;
	}
	for (slot = DM_SLOT_HOST + 1; slot < DM_MAX_SLOTS && o->slot_used[slot]; slot++)
		;
	if (slot == DM_MAX_SLOTS)
		return -ENOSPC;
	err = zero_slot(o, slot);
	if (err)
		return err;
	if (bpf_map_update_elem(slots_fd, &cgroup_id, &slot, BPF_NOEXIST))
		return -errno;
	slots_changed(o);
	o->slot_used[slot] = true;
	*ret_slot = slot;
	return 0;
}

int observer_remove_vm(struct observer *o, __u64 cgroup_id)
{
	int slots_fd = bpf_map__fd(o->skel->maps.vm_slots);
	__u32 slot;

	if (bpf_map_lookup_elem(slots_fd, &cgroup_id, &slot))
		return -ENOENT;
	if (bpf_map_delete_elem(slots_fd, &cgroup_id))
		return -errno;
	slots_changed(o);
	o->slot_used[slot] = false;
	return 0;
}

int observer_read(struct observer *o, __u32 slot, struct dm_counters *ret)
{
	if (slot >= DM_MAX_SLOTS)
		return -EINVAL;
	if (bpf_map_lookup_elem(bpf_map__fd(o->skel->maps.counters), &slot, o->percpu))
		return -errno;
	counters_sum_percpu(o->percpu, o->ncpus, ret);
	return 0;
}

int observer_event_fd(struct observer *o)
{
	return ring_buffer__epoll_fd(o->rb);
}

int observer_drain(struct observer *o, observer_event_fn fn, void *ctx)
{
	o->fn = fn;
	o->fn_ctx = ctx;
	return ring_buffer__consume(o->rb);
}

int observer_poll(struct observer *o, int timeout_ms, observer_event_fn fn, void *ctx)
{
	int woken, rest;

	o->fn = fn;
	o->fn_ctx = ctx;
	woken = ring_buffer__poll(o->rb, timeout_ms);
	if (woken < 0)
		return woken == -EINTR ? 0 : woken;
	/* Records submitted without a wake-up are read here too, not only on the next wake. */
	rest = ring_buffer__consume(o->rb);
	return rest < 0 ? rest : woken + rest;
}

__u64 observer_lost_events(struct observer *o)
{
	__u64 *per_cpu = o->percpu, sum = 0;
	__u32 zero = 0;

	if (bpf_map_lookup_elem(bpf_map__fd(o->skel->maps.lost_events), &zero, per_cpu))
		return 0;
	for (int cpu = 0; cpu < o->ncpus; cpu++)
		sum += per_cpu[cpu];
	return sum;
}

__u64 observer_bad_records(struct observer *o)
{
	return o->bad_records;
}

const struct hook_status *observer_hooks(struct observer *o, size_t *ret_count)
{
	*ret_count = nr_hooks;
	return o->status;
}

unsigned int observer_nr_nodes(struct observer *o)
{
	return o->nr_nodes;
}

bool observer_remote_counting(struct observer *o)
{
	return o->remote_counting;
}
