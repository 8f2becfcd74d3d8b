// SPDX-License-Identifier: GPL-2.0-only
/*
 * dynmemd's life: set up the loop and its sources (tick timer, signals, the observer's
 * ring buffer, the control socket), reload on SIGHUP, and on the way out relax every limit
 * it set. A crash relaxes memory.high too (crash_relax()).
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <bpf/libbpf.h>
#include "cgroupfs.h"
#include "ctl.h"
#include "daemon.h"
#include "ledger.h"
#include "log.h"
#include "loop.h"
#include "observer.h"
#include "overrides.h"
#include "qmp.h"
#include "vm.h"

#define EARLY_TICK_MIN_GAP_NS (200ULL * 1000000ULL)
#define EXIT_FLUSH_NS	      (1000ULL * 1000000ULL)

static struct daemon *crash_daemon;

/*
 * On a crash only async-signal-safe calls are allowed: openat() and write() are. Every VM
 * whose memory.high we lowered gets "max" back, then the signal takes its course.
 */
static void crash_relax(int sig)
{
	for (struct vm *vm = crash_daemon ? crash_daemon->vms : NULL; vm; vm = vm->next) {
		int fd;

		if (vm->cgroup_fd < 0 || !vm->cg_high_written)
			continue;
		fd = openat(vm->cgroup_fd, "memory.high", O_WRONLY | O_CLOEXEC);
		if (fd >= 0) {
			if (write(fd, "max", 3) < 0) {
				/* nothing more can be done from here */
			}
			close(fd);
		}
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

static void install_crash_handlers(struct daemon *d)
{
	static const int fatal[] = { SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL };

	crash_daemon = d;
	for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
		signal(fatal[i], crash_relax);
}

static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return level == LIBBPF_WARN && getenv("DYNMEM_DEBUG") ? vfprintf(stderr, fmt, ap) : 0;
}

static void on_tick(struct loop *l, int fd, uint32_t events, void *ctx)
{
	__u64 expirations;

	(void)l;
	(void)events;
	if (read(fd, &expirations, sizeof(expirations)) == sizeof(expirations))
		tick_run(ctx);
}

static int set_tick(struct daemon *d)
{
	__u64 ns = (__u64)d->cfg.host.interval_ms * 1000000ULL;
	struct itimerspec it = {
		.it_interval = { (time_t)(ns / 1000000000ULL), (long)(ns % 1000000000ULL) },
		.it_value = { 0, 1 }, /* the first tick at once */
	};

	return timerfd_settime(d->timer_fd, 0, &it, NULL) ? -errno : 0;
}

static void on_signal(struct loop *l, int fd, uint32_t events, void *ctx)
{
	struct signalfd_siginfo si;

	(void)events;
	if (read(fd, &si, sizeof(si)) != sizeof(si))
		return;
	if (si.ssi_signo == SIGHUP) {
		daemon_reload(ctx);
	} else {
		log_info("signal %d: relaxing limits and exiting", si.ssi_signo);
		loop_stop(l);
	}
}

/* A fault burst may mean a guest's demand jumped: decide now, not at the next tick. */
static int on_burst(void *ctx, const struct dm_event_burst *ev)
{
	struct daemon *d = ctx;

	for (struct vm *vm = d->vms; vm; vm = vm->next)
		if (vm->observed && vm->slot == ev->slot)
			vm->bursts++;
	return 0;
}

static void on_ring(struct loop *l, int fd, uint32_t events, void *ctx)
{
	struct daemon *d = ctx;
	int n;

	(void)l;
	(void)fd;
	(void)events;
	n = observer_drain(d->obs, on_burst, d);
	if (n > 0 && loop_now_ns() - d->last_tick_ns >= EARLY_TICK_MIN_GAP_NS)
		tick_run(d);
}

static char *on_request(void *ctx, const char *request)
{
	struct daemon *d = ctx;

	if (!strcmp(request, "status"))
		return status_json(d);
	if (!strncmp(request, "set ", 4)) {
		char *args = strdup(request + 4), *reply;

		reply = args ? set_request(d, args) : NULL;
		free(args);
		return reply;
	}
	return strdup("{\"error\":\"unknown request; dynmemd knows: status, set\"}");
}

static void open_observer(struct daemon *d)
{
	libbpf_set_print(libbpf_log);
	d->obs = observer_open(NULL);
	if (!d->obs) {
		snprintf(d->obs_error, sizeof(d->obs_error),
			 "the eBPF observer did not load (%s): demand comes from QMP and cgroups "
			 "alone", strerror(errno));
		log_warn("%s", d->obs_error);
		return;
	}
	if (loop_watch(d->loop, observer_event_fd(d->obs), EPOLLIN, on_ring, d))
		log_warn("cannot watch the observer's ring buffer: bursts wait for the next tick");
}

static int open_sources(struct daemon *d)
{
	sigset_t mask;
	char dir[4096], *slash;

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN); /* a QEMU or a client gone mid-write is an error code */
	d->signal_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	d->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (d->signal_fd < 0 || d->timer_fd < 0)
		return -errno;
	if (loop_watch(d->loop, d->signal_fd, EPOLLIN, on_signal, d) ||
	    loop_watch(d->loop, d->timer_fd, EPOLLIN, on_tick, d))
		return -EIO;
	snprintf(dir, sizeof(dir), "%s", d->cfg.host.control_socket);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		mkdir(dir, 0755);
	}
	d->ctl = ctl_open(d->loop, d->cfg.host.control_socket, on_request, d);
	if (!d->ctl) {
		log_err("cannot open the control socket %s: %s", d->cfg.host.control_socket,
			strerror(errno));
		return -errno;
	}
	return set_tick(d);
}

static void log_enforcers(struct daemon *d)
{
	for (int i = 0; i < NR_ENFORCERS; i++)
		if (!d->enf[i].usable)
			log_warn("enforcer %s is off on this host: %s", d->enf[i].ops->name,
				 d->enf[i].why);
}

/* `dynmem set` changes outlive restarts; one that no longer validates is said and skipped. */
static void apply_overrides(struct config *cfg)
{
	char err[700];

	if (overrides_apply(cfg->host.state_dir, cfg, err, sizeof(err)))
		log_warn("ignoring a saved `dynmem set`: %s", err);
}

/* Two daemons would fight over the same limits: the second one refuses to start. */
static int take_lock(struct daemon *d)
{
	char path[4200];

	mkdir(d->cfg.host.state_dir, 0755);
	snprintf(path, sizeof(path), "%s/dynmemd.lock", d->cfg.host.state_dir);
	d->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (d->lock_fd < 0) {
		log_err("cannot open %s: %s", path, strerror(errno));
		return -errno;
	}
	if (flock(d->lock_fd, LOCK_EX | LOCK_NB)) {
		int err = -errno;

		log_err("another dynmemd runs with state dir %s (it holds %s)",
			d->cfg.host.state_dir, path);
		close(d->lock_fd);
		d->lock_fd = -1;
		return err;
	}
	return 0;
}

int daemon_open(struct daemon *d, const struct daemon_opts *opts)
{
	char err[512];
	int rc;

	memset(d, 0, sizeof(*d));
	d->opts = *opts;
	d->cgroup_root_fd = d->timer_fd = d->signal_fd = d->lock_fd = -1;
	log_setup(opts->foreground, opts->debug);
	rc = config_load(opts->config_path, &d->cfg, err, sizeof(err));
	if (rc) {
		log_err("%s", err);
		return rc;
	}
	apply_overrides(&d->cfg);
	rc = take_lock(d);
	if (rc)
		return rc;
	rc = cgroupfs_find_mount(CGROUPFS_MOUNTINFO, d->cgroup_mount, sizeof(d->cgroup_mount));
	if (rc) {
		log_err("no cgroup v2 mounted: dynmem works on cgroup v2 only");
		return rc;
	}
	d->cgroup_root_fd = open(d->cgroup_mount, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	d->loop = loop_new();
	if (d->cgroup_root_fd < 0 || !d->loop)
		return -errno;
	enforcers_init(d->enf, d->cgroup_root_fd, 200);
	log_enforcers(d);
	open_observer(d);
	rc = open_sources(d);
	if (rc)
		return rc;
	install_crash_handlers(d);
	/* Loading BPF parsed the kernel's BTF (megabytes); give that heap back for good. */
	malloc_trim(0);
	d->started_ns = loop_now_ns();
	vms_sync(d);
	log_info("watching %zu VM(s), tick %u ms%s", d->cfg.nr_vms, d->cfg.host.interval_ms,
		 opts->dry_run ? ", dry run: nothing is changed" : "");
	return 0;
}

int daemon_run(struct daemon *d)
{
	return loop_run(d->loop);
}

void daemon_reload(struct daemon *d)
{
	struct config fresh;
	char err[512];

	if (config_load(d->opts.config_path, &fresh, err, sizeof(err))) {
		log_err("reload refused, keeping the running config: %s", err);
		return;
	}
	apply_overrides(&fresh);
	config_free(&d->cfg);
	d->cfg = fresh;
	vms_sync(d);
	set_tick(d);
	log_info("reloaded %s: %zu VM(s)", d->opts.config_path, d->cfg.nr_vms);
}

/* Balloon requests made while relaxing must reach QEMU before we close the sockets. */
static void flush_qmp(struct daemon *d)
{
	__u64 until = loop_now_ns() + EXIT_FLUSH_NS;
	bool pending = true;

	while (pending && loop_now_ns() < until) {
		pending = false;
		for (struct vm *vm = d->vms; vm; vm = vm->next)
			pending |= vm->qmp && qmp_next_deadline_ns(vm->qmp) != 0;
		if (pending)
			loop_run_once(d->loop, 50);
	}
}

void daemon_close(struct daemon *d)
{
	if (!d->opts.dry_run)
		for (struct vm *vm = d->vms; vm; vm = vm->next)
			vms_relax(d, vm);
	flush_qmp(d);
	crash_daemon = NULL;
	if (!d->opts.dry_run && d->lock_fd >= 0)
		ledger_clear(d->cfg.host.state_dir); /* everything relaxed above */
	/* Stale metrics are worse than none: node_exporter stops serving them. */
	if (d->cfg.host.textfile[0] && d->lock_fd >= 0)
		unlink(d->cfg.host.textfile);
	vms_free_all(d, false);
	ctl_close(d->ctl);
	observer_close(d->obs);
	if (d->timer_fd >= 0)
		close(d->timer_fd);
	if (d->signal_fd >= 0)
		close(d->signal_fd);
	if (d->cgroup_root_fd >= 0)
		close(d->cgroup_root_fd);
	if (d->lock_fd >= 0)
		close(d->lock_fd);
	loop_free(d->loop);
	config_free(&d->cfg);
}
