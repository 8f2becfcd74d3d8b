// SPDX-License-Identifier: GPL-2.0-only
/*
 * The VMs on the host: finding each one's cgroup and QMP socket, keeping the QMP session
 * up, reading what the host and the guest say, and letting go of a VM cleanly. Anything
 * missing is retried with a back-off and shown in the VM's problem text; one VM's trouble
 * never stops the others.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include "cgroupfs.h"
#include "daemon.h"
#include "log.h"
#include "loop.h"
#include "observer.h"
#include "overhead.h"
#include "qmp.h"
#include "vm.h"

#define QMP_CONNECT_TIMEOUT_NS (5ULL * 1000000000ULL)
#define QMP_COMMAND_TIMEOUT_NS (2ULL * 1000000000ULL)
#define QMP_BACKOFF_MAX_S      30
#define BALLOON_DEVICE	       "balloon0" /* the qdev id QEMU users and libvirt give it */
#define OVERHEAD_EVERY_NS      (30ULL * 1000000000ULL)
#define ADOPT_SLICE	       "dynmem.slice"

/* Logs a VM's problem once when it appears or changes, and once when it clears. */
static void vm_problem(struct vm *vm, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void vm_problem(struct vm *vm, const char *fmt, ...)
{
	char now[sizeof(vm->problem)] = "";
	va_list ap;

	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(now, sizeof(now), fmt, ap);
		va_end(ap);
	}
	if (!strcmp(now, vm->problem))
		return;
	if (now[0])
		log_warn("vm %s: %s", vm->cfg.name, now);
	else
		log_info("vm %s: ok again (was: %s)", vm->cfg.name, vm->problem);
	strcpy(vm->problem, now);
}

/* ---- QMP ---------------------------------------------------------------------------- */

static void on_qmp_io(struct loop *l, int fd, uint32_t events, void *ctx);
static void qmp_after_io(struct vm *vm, __u64 now_ns);

/* The loop watches whatever fd the session has now, for what it wants now. */
static void qmp_rewatch(struct vm *vm)
{
	struct daemon *d = vm->daemon;
	int fd = qmp_fd(vm->qmp);
	bool out = qmp_want_write(vm->qmp);

	if (vm->qmp_watched_fd >= 0 && vm->qmp_watched_fd != fd) {
		loop_unwatch(d->loop, vm->qmp_watched_fd);
		vm->qmp_watched_fd = -1;
	}
	if (fd < 0 || (fd == vm->qmp_watched_fd && out == vm->qmp_watch_out))
		return;
	if (!loop_watch(d->loop, fd, EPOLLIN | (out ? EPOLLOUT : 0), on_qmp_io, vm)) {
		vm->qmp_watched_fd = fd;
		vm->qmp_watch_out = out;
	}
}

static void on_event(struct qmp *q, const char *event, json_object *data, __s64 ts_us, void *ctx)
{
	struct vm *vm = ctx;
	__u64 actual;

	(void)q;
	(void)ts_us;
	if (!strcmp(event, "BALLOON_CHANGE") && !qmp_parse_balloon_info(data, &actual))
		vm->balloon_actual_bytes = actual;
	else if (!strcmp(event, "SHUTDOWN"))
		log_info("vm %s: QEMU is shutting down", vm->cfg.name);
}

static void on_balloon_info(struct qmp *q, const struct qmp_reply *r, __u64 actual, void *ctx)
{
	struct vm *vm = ctx;

	(void)q;
	if (!r->err)
		vm->balloon_actual_bytes = actual;
	else
		log_warn("vm %s: query-balloon on %s: %s", vm->cfg.name, vm->cfg.qmp,
			 r->error_desc);
}

static void on_stats_interval(struct qmp *q, const struct qmp_reply *r, void *ctx)
{
	struct vm *vm = ctx;

	(void)q;
	if (r->err)
		log_warn("vm %s: cannot turn on guest memory stats (%s): %s; demand comes from "
			 "the host alone",
			 vm->cfg.name, vm->cfg.qmp, r->error_desc);
}

static void on_guest_stats(struct qmp *q, const struct qmp_reply *r,
			   const struct qmp_guest_stats *s, void *ctx)
{
	struct vm *vm = ctx;
	struct vm_guest_stats g = { 0 };

	(void)q;
	if (r->err || !s->has_total || !s->has_available || s->last_update_s <= 0)
		return; /* nothing usable yet: the guest has not reported */
	if (s->last_update_s == vm->guest.last_update)
		return; /* the same report again */
	g = (struct vm_guest_stats){
		.valid = true,
		.at_ns = loop_now_ns(),
		.last_update = s->last_update_s,
		.total_bytes = s->total_bytes,
		.available_bytes = s->available_bytes,
		.swap_in = s->has_swap_in ? s->swap_in_bytes : 0,
		.swap_out = s->has_swap_out ? s->swap_out_bytes : 0,
		.major_faults = s->has_major_faults ? s->major_faults : 0,
	};
	vm->guest_prev = vm->guest;
	vm->guest = g;
}

static void qmp_on_ready(struct vm *vm, __u64 now_ns)
{
	__u32 interval_s = vm->daemon->cfg.host.interval_ms / 1000;

	log_info("vm %s: QMP connected to %s (QEMU %s)", vm->cfg.name, vm->cfg.qmp,
		 qmp_qemu_version(vm->qmp));
	vm->qmp_error[0] = '\0';
	vm->qmp_ready = true;
	vm->qmp_ready_ns = now_ns;
	vm->qmp_backoff_s = 0;
	/* Maybe a new QEMU, whose guest boots again: only its own reports count. */
	memset(&vm->guest, 0, sizeof(vm->guest));
	memset(&vm->guest_prev, 0, sizeof(vm->guest_prev));
	qmp_set_stats_interval(vm->qmp, BALLOON_DEVICE, interval_s ?: 1, on_stats_interval, vm,
			       QMP_COMMAND_TIMEOUT_NS, now_ns);
	qmp_query_balloon(vm->qmp, on_balloon_info, vm, QMP_COMMAND_TIMEOUT_NS, now_ns);
}

static void qmp_on_down(struct vm *vm, __u64 now_ns)
{
	const char *why = qmp_last_error(vm->qmp);

	/* Said once per reason: a QEMU that stays away is not news every few seconds. */
	if (strcmp(why, vm->qmp_error)) {
		log_warn("vm %s: QMP: %s (retrying with a back-off)", vm->cfg.name, why);
		snprintf(vm->qmp_error, sizeof(vm->qmp_error), "%s", why);
	}
	vm->qmp_ready = false; /* its last known balloon size stands until a session says more */
	vm->qmp_backoff_s = vm->qmp_backoff_s ? vm->qmp_backoff_s * 2 : 1;
	if (vm->qmp_backoff_s > QMP_BACKOFF_MAX_S)
		vm->qmp_backoff_s = QMP_BACKOFF_MAX_S;
	vm->qmp_retry_ns = now_ns + (__u64)vm->qmp_backoff_s * 1000000000ULL;
}

static void qmp_after_io(struct vm *vm, __u64 now_ns)
{
	enum qmp_state s = qmp_state(vm->qmp);

	if (s == QMP_READY && !vm->qmp_ready)
		qmp_on_ready(vm, now_ns);
	else if ((s == QMP_DISCONNECTED || s == QMP_BROKEN) && (vm->qmp_ready || !vm->qmp_retry_ns))
		qmp_on_down(vm, now_ns); /* a session that ended, or a connect that failed */
	qmp_rewatch(vm);
}

static void on_qmp_io(struct loop *l, int fd, uint32_t events, void *ctx)
{
	struct vm *vm = ctx;
	__u64 now = loop_now_ns();

	(void)l;
	(void)fd;
	if (events & EPOLLOUT)
		qmp_on_writable(vm->qmp, now);
	if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
		qmp_on_readable(vm->qmp, now);
	qmp_after_io(vm, now);
}

static void qmp_keep_up(struct vm *vm, __u64 now_ns)
{
	enum qmp_state s = qmp_state(vm->qmp);

	if ((s == QMP_DISCONNECTED || s == QMP_BROKEN) && now_ns >= vm->qmp_retry_ns) {
		vm->qmp_retry_ns = 0;
		if (qmp_connect(vm->qmp, QMP_CONNECT_TIMEOUT_NS, now_ns))
			qmp_on_down(vm, now_ns);
	} else {
		qmp_tick(vm->qmp, now_ns);
	}
	qmp_after_io(vm, now_ns);
}

/* ---- the cgroup ---------------------------------------------------------------------- */

static void attach_enforcers(struct daemon *d, struct vm *vm)
{
	for (int i = 0; i < NR_ENFORCERS; i++) {
		int err;

		if (!vm->enforce[i])
			continue;
		err = d->enf[i].ops->attach(&d->enf[i], vm);
		if (err == -ENODEV)
			vm_problem(vm,
				   "%s: %s lacks the controller's files; delegate it "
				   "(echo +memory +cpuset > PARENT/cgroup.subtree_control)",
				   d->enf[i].ops->name, vm->cgroup_path);
	}
}

static int open_cgroup(struct daemon *d, struct vm *vm)
{
	char path[4096];
	int err = cgroupfs_resolve(CGROUPFS_MOUNTINFO, vm->cfg.cgroup, path, sizeof(path));

	if (err) {
		vm_problem(vm, "cgroup %s: %s", vm->cfg.cgroup,
			   err == -ENOENT ? "not there (yet): is the VM running?" : strerror(-err));
		return err;
	}
	vm->cgroup_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (vm->cgroup_fd < 0 || cgroupfs_id(path, &vm->cgroup_id)) {
		err = -errno;
		vm_problem(vm, "cgroup %s: %s", path, strerror(errno));
		if (vm->cgroup_fd >= 0)
			close(vm->cgroup_fd);
		vm->cgroup_fd = -1;
		return err;
	}
	strcpy(vm->cgroup_path, path);
	if (d->obs && !observer_add_vm(d->obs, vm->cgroup_id, &vm->slot))
		vm->observed = true;
	log_info("vm %s: found cgroup %s (id %llu)", vm->cfg.name, path,
		 (unsigned long long)vm->cgroup_id);
	vm_problem(vm, NULL);
	attach_enforcers(d, vm);
	return 0;
}

static void close_cgroup(struct daemon *d, struct vm *vm)
{
	if (vm->observed && d->obs)
		observer_remove_vm(d->obs, vm->cgroup_id);
	vm->observed = false;
	if (vm->cgroup_fd >= 0)
		close(vm->cgroup_fd);
	vm->cgroup_fd = -1;
	for (int i = 0; i < NR_ENFORCERS; i++)
		if (vm->enforce[i])
			d->enf[i].ops->detach(&d->enf[i], vm);
}

/*
 * A VM given only a QMP socket: its QEMU is found from the socket's peer and moved into
 * dynmem.slice/NAME.scope, a cgroup of its own that the enforcers can work on.
 */
static void adopt(struct daemon *d, struct vm *vm)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	char slice[4200], scope[4300];
	int err;

	if (getsockopt(qmp_fd(vm->qmp), SOL_SOCKET, SO_PEERCRED, &cred, &len) || cred.pid <= 0) {
		vm_problem(vm, "cannot find QEMU's pid from %s: %s", vm->cfg.qmp, strerror(errno));
		return;
	}
	snprintf(slice, sizeof(slice), "%s/%s", d->cgroup_mount, ADOPT_SLICE);
	snprintf(scope, sizeof(scope), "%s/%s.scope", slice, vm->cfg.name);
	err = cgroupfs_create(slice);
	if (!err) {
		/* Delegation is best effort: the root may already do it, or may not allow it. */
		cgroupfs_write(d->cgroup_root_fd, "cgroup.subtree_control", "+memory", 0);
		cgroupfs_write(d->cgroup_root_fd, "cgroup.subtree_control", "+cpuset", 0);
		err = cgroupfs_create(scope);
	}
	if (!err) {
		int slice_fd = open(slice, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (slice_fd >= 0) {
			cgroupfs_write(slice_fd, "cgroup.subtree_control", "+memory", 0);
			cgroupfs_write(slice_fd, "cgroup.subtree_control", "+cpuset", 0);
			close(slice_fd);
		}
		err = cgroupfs_move_pid(scope, cred.pid);
	}
	if (err) {
		vm_problem(vm, "cannot adopt QEMU pid %d into %s: %s", cred.pid, scope,
			   strerror(-err));
		return;
	}
	log_info("vm %s: adopted QEMU pid %d into %s", vm->cfg.name, cred.pid, scope);
	snprintf(vm->cfg.cgroup, sizeof(vm->cfg.cgroup), "%s/%s.scope", ADOPT_SLICE, vm->cfg.name);
	open_cgroup(d, vm);
}

void vms_connect(struct daemon *d, struct vm *vm, __u64 now_ns)
{
	if (vm->qmp)
		qmp_keep_up(vm, now_ns);
	if (vm->cgroup_fd >= 0) {
		char probe[8];

		/* A VM that stopped takes its cgroup along: let go and look again. */
		if (cgroupfs_read(vm->cgroup_fd, "cgroup.procs", probe, sizeof(probe)) < 0) {
			vm_problem(vm, "cgroup %s is gone: is the VM still running?",
				   vm->cgroup_path);
			close_cgroup(d, vm);
		}
		return;
	}
	if (vm->cfg.cgroup[0])
		open_cgroup(d, vm);
	else if (vm->qmp_ready)
		adopt(d, vm);
	else
		vm_problem(vm, "waiting for QMP on %s to find its QEMU", vm->cfg.qmp);
}

/* ---- what the host and the guest say ---------------------------------------------------- */

/* memory.pressure: "some avg10=1.23 avg60=..." → 1 (percent, rounded down); -1 unknown. */
static int read_psi_some_avg10(int cgroup_fd)
{
	char buf[256];
	double avg10;

	if (cgroupfs_read(cgroup_fd, "memory.pressure", buf, sizeof(buf)) < 0 ||
	    sscanf(buf, "some avg10=%lf", &avg10) != 1)
		return -1;
	return (int)avg10;
}

static void measure_overhead(struct vm *vm, __u64 now_ns)
{
	struct overhead_rss rss;
	__u64 kernel = 0, files = 0;

	if (now_ns - vm->overhead_measured_ns < OVERHEAD_EVERY_NS && vm->overhead_measured_ns)
		return;
	if (overhead_cgroup_rss(vm->cgroup_fd, "/proc", vm->cfg.minimum_bytes, &rss))
		return;
	/* Unreadable: without that part. */
	overhead_cgroup_kernel(vm->cgroup_fd, &kernel);
	overhead_cgroup_mapped_files(vm->cgroup_fd, rss.guest_bytes - rss.guest_anon_bytes, &files);
	vm->overhead_bytes = rss.own_bytes + kernel + files;
	vm->overhead_measured_ns = now_ns;
}

void vms_observe(struct daemon *d, struct vm *vm, __u64 now_ns)
{
	if (vm->qmp_ready)
		qmp_get_guest_stats(vm->qmp, BALLOON_DEVICE, on_guest_stats, vm,
				    QMP_COMMAND_TIMEOUT_NS, now_ns);
	if (vm->cgroup_fd < 0)
		return;
	cgroupfs_read_u64(vm->cgroup_fd, "memory.current", &vm->memory_current_bytes);
	vm->psi_some_avg10_pct = read_psi_some_avg10(vm->cgroup_fd);
	measure_overhead(vm, now_ns);
	if (vm->observed) {
		vm->counters_prev = vm->counters;
		vm->counters_prev_ns = vm->counters_ns;
		if (!observer_read(d->obs, vm->slot, &vm->counters))
			vm->counters_ns = now_ns;
	}
}

/* ---- the set of VMs ----------------------------------------------------------------- */

static struct vm *vm_create(struct daemon *d, const struct config_vm *cfg)
{
	struct vm *vm = malloc(sizeof(*vm));

	if (!vm)
		return NULL;
	vm_init(vm, cfg);
	vm->daemon = d;
	for (int i = 0; i < NR_ENFORCERS; i++)
		vm->enforce[i] = (cfg->enforcers & (1u << i)) && d->enf[i].usable;
	if (cfg->qmp[0]) {
		vm->qmp = qmp_new(cfg->qmp);
		if (!vm->qmp) {
			free(vm);
			return NULL;
		}
		qmp_set_event_fn(vm->qmp, on_event, vm);
	}
	return vm;
}

void vms_relax(struct daemon *d, struct vm *vm)
{
	for (int i = 0; i < NR_ENFORCERS; i++) {
		int err;

		if (!vm->enforce[i] || !d->enf[i].ops->reset)
			continue;
		err = d->enf[i].ops->reset(&d->enf[i], vm);
		if (err)
			log_warn("vm %s: could not relax %s limits: %s", vm->cfg.name,
				 d->enf[i].ops->name, strerror(-err));
	}
}

static void vm_destroy(struct daemon *d, struct vm *vm, bool relax)
{
	if (relax)
		vms_relax(d, vm);
	close_cgroup(d, vm);
	if (vm->qmp_watched_fd >= 0)
		loop_unwatch(d->loop, vm->qmp_watched_fd);
	qmp_free(vm->qmp);
	free(vm);
}

static const struct config_vm *config_find(const struct config *c, const char *name)
{
	for (size_t i = 0; i < c->nr_vms; i++)
		if (!strcmp(c->vms[i].name, name))
			return &c->vms[i];
	return NULL;
}

/* New settings for a VM we keep; an adopted VM keeps the cgroup we gave it. */
static void update_settings(struct daemon *d, struct vm *vm, const struct config_vm *cfg)
{
	char cgroup[sizeof(vm->cfg.cgroup)];

	(void)d;
	strcpy(cgroup, vm->cfg.cgroup);
	vm->cfg = *cfg;
	if (!cfg->cgroup[0])
		strcpy(vm->cfg.cgroup, cgroup);
}

/* Where it lives changed: it is a different VM to us. */
static bool moved(const struct vm *vm, const struct config_vm *cfg)
{
	return strcmp(vm->cfg.qmp, cfg->qmp) ||
	       (cfg->cgroup[0] && strcmp(vm->cfg.cgroup, cfg->cgroup));
}

void vms_sync(struct daemon *d)
{
	struct vm **p = &d->vms, *vm;

	/* Drop VMs the config no longer has, or that moved; update the others in place. */
	while ((vm = *p)) {
		const struct config_vm *cfg = config_find(&d->cfg, vm->cfg.name);

		if (!cfg || moved(vm, cfg)) {
			log_info("vm %s: %s; relaxing its limits", vm->cfg.name,
				 cfg ? "moved" : "no longer in the config");
			*p = vm->next;
			vm_destroy(d, vm, true);
			continue;
		}
		update_settings(d, vm, cfg);
		for (int i = 0; i < NR_ENFORCERS; i++)
			vm->enforce[i] = (cfg->enforcers & (1u << i)) && d->enf[i].usable;
		p = &vm->next;
	}
	for (size_t i = 0; i < d->cfg.nr_vms; i++) {
		bool known = false;

		for (vm = d->vms; vm && !known; vm = vm->next)
			known = !strcmp(vm->cfg.name, d->cfg.vms[i].name);
		if (known)
			continue;
		vm = vm_create(d, &d->cfg.vms[i]);
		if (!vm) {
			log_err("vm %s: out of memory", d->cfg.vms[i].name);
			continue;
		}
		*p = vm;
		p = &vm->next;
	}
}

void vms_free_all(struct daemon *d, bool relax)
{
	while (d->vms) {
		struct vm *vm = d->vms;

		d->vms = vm->next;
		vm_destroy(d, vm, relax);
	}
}
